/*
 * alert.c - alert_command: every alert_check_interval the daemon's loop sums
 * today's counter table per recipient domain (ctr_summarize, as `tlsrpt top`
 * does) and runs the command, without a shell, for a domain whose failure rate
 * reached alert_threshold over at least alert_min_sessions sessions, at most
 * once per alert_interval per domain; children are reaped, hung ones killed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counters.h"
#include "ctl.h"
#include "daemon.h"

#define ALERT_TICK_MS 1000
#define ALERT_MAX_RUNNING 8    /* more wait for the next check */
#define ALERT_MAX_DOMAINS 4096 /* remembered for the rate limit; the oldest go first */
#define ALERT_MAX_ARGS 64

struct alert_sent {
    char *domain;
    time_t at;
};

struct alert_child {
    pid_t pid;
    time_t started;
    char *domain;
};

static struct alert_sent *sent;
static size_t n_sent;
static struct alert_child running[ALERT_MAX_RUNNING];
static time_t next_check;
static unsigned long alerts_run, alerts_failed, alerts_killed;

static struct alert_sent *sent_find(const char *domain)
{
    for (size_t i = 0; i < n_sent; i++)
        if (strcmp(sent[i].domain, domain) == 0)
            return &sent[i];
    return NULL;
}

static void sent_note(const char *domain, time_t now)
{
    struct alert_sent *entry = sent_find(domain);

    if (entry == NULL) {
        if (n_sent == ALERT_MAX_DOMAINS) {
            /* The entry alerted longest ago goes. */
            size_t oldest = 0;
            for (size_t i = 1; i < n_sent; i++)
                if (sent[i].at < sent[oldest].at)
                    oldest = i;
            free(sent[oldest].domain);
            sent[oldest] = sent[--n_sent];
        }
        sent = xreallocarray(sent, n_sent + 1, sizeof(*sent));
        entry = &sent[n_sent++];
        entry->domain = xstrdup(domain);
    }
    entry->at = now;
}

static struct alert_child *child_slot(void)
{
    for (int i = 0; i < ALERT_MAX_RUNNING; i++)
        if (running[i].pid == 0)
            return &running[i];
    return NULL;
}

static void spawn_alert(struct daemon *d, const struct ctr_domain_summary *domain, double rate,
                        int day, struct alert_child *slot)
{
    char *command = xstrdup(cfg_str(d->cfg, "alert_command"));
    char *argv[ALERT_MAX_ARGS], day_text[DAY_TEXT_SIZE], *env[8];
    const char *error;
    int top = ctr_summary_top_result(domain);

    if (argv_split(command, argv, ALERT_MAX_ARGS, &error) < 0) {
        msg_error("alert_command = %s: %s", cfg_str(d->cfg, "alert_command"), error);
        free(command);
        return;
    }
    day_format(day, day_text);
    /* A clean environment: the facts and a PATH, nothing of the daemon's. */
    env[0] = xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    env[1] = xasprintf("TLSRPT_DOMAIN=%s", domain->domain);
    env[2] = xasprintf("TLSRPT_SESSIONS=%llu", (unsigned long long)domain->sessions);
    env[3] = xasprintf("TLSRPT_FAILURES=%llu", (unsigned long long)domain->failures);
    env[4] = xasprintf("TLSRPT_FAILURE_RATE=%.4f", rate);
    env[5] = xasprintf("TLSRPT_TOP_FAILURE=%s", top >= 0 ? tr_result_name(top) : "");
    env[6] = xasprintf("TLSRPT_DAY=%s", day_text);
    env[7] = NULL;

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t defaults, empty;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addchdir_np(&actions, "/"); /* wherever the daemon started */
    posix_spawnattr_init(&attr);
    sigemptyset(&empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE); /* ignored by the daemon: not by the command */
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int err = posix_spawn(&pid, argv[0], &actions, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) {
        msg_error("alert_command: cannot run %s: %s", argv[0], strerror(err));
        alerts_failed++;
    } else {
        msg_info("alert: %s failed %llu of %llu sessions today (%.4f, alert_threshold %s), "
                 "top failure %s: started %s (pid %ld)",
                 domain->domain, (unsigned long long)domain->failures,
                 (unsigned long long)domain->sessions, rate, cfg_str(d->cfg, "alert_threshold"),
                 top >= 0 ? tr_result_name(top) : "none", argv[0], (long)pid);
        slot->pid = pid;
        slot->started = time(NULL);
        slot->domain = xstrdup(domain->domain);
        alerts_run++;
    }
    for (int i = 0; env[i]; i++)
        free(env[i]);
    free(command);
}

/* Children that ended are reaped; one past alert_timeout is killed. */
static void reap(struct daemon *d, bool stopping)
{
    time_t now = time(NULL);
    int status;

    for (int i = 0; i < ALERT_MAX_RUNNING; i++) {
        struct alert_child *child = &running[i];
        if (child->pid == 0)
            continue;
        if (stopping || now - child->started >= (time_t)cfg_time(d->cfg, "alert_timeout")) {
            if (kill(child->pid, SIGKILL) == 0 && !stopping) {
                msg_warn("alert_command for %s still running after alert_timeout (%lld s): "
                         "killed",
                         child->domain, (long long)cfg_time(d->cfg, "alert_timeout"));
                alerts_killed++;
            }
            waitpid(child->pid, &status, 0); /* SIGKILL: it goes at once */
        } else if (waitpid(child->pid, &status, WNOHANG) != child->pid)
            continue;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            msg_warn("alert_command for %s exited with status %d", child->domain,
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            alerts_failed++;
        }
        free(child->domain);
        memset(child, 0, sizeof(*child));
    }
}

static void check(struct daemon *d)
{
    const char *threshold_text = cfg_str(d->cfg, "alert_threshold");
    double threshold = strtod(threshold_text, NULL); /* cfg_validate checked it */
    uint64_t min_sessions = (uint64_t)cfg_int(d->cfg, "alert_min_sessions");
    time_t interval = (time_t)cfg_time(d->cfg, "alert_interval"), now = time(NULL);
    int today = day_today();
    char *error = NULL;

    struct ctr_table *table = ctr_open(d->counters_dir, today, CTR_READ_ONLY, NULL, &error);
    if (table == NULL) { /* no table: no session today */
        free(error);
        return;
    }
    struct ctr_snapshot *snap = ctr_snapshot(table, NULL);
    ctr_close(table);
    struct ctr_day_summary summary;
    ctr_summarize(snap, &summary);
    for (size_t i = 0; i < summary.n_domains; i++) {
        const struct ctr_domain_summary *domain = &summary.domains[i];
        if (domain->sessions < min_sessions || domain->failures == 0)
            continue;
        double rate = (double)domain->failures / (double)domain->sessions;
        if (rate < threshold)
            continue;
        const struct alert_sent *last = sent_find(domain->domain);
        if (last && now - last->at < interval)
            continue;
        struct alert_child *slot = child_slot();
        if (slot == NULL)
            break; /* the rest at the next check */
        sent_note(domain->domain, now);
        spawn_alert(d, domain, rate, today, slot);
    }
    ctr_summary_free(&summary);
    ctr_snapshot_free(snap);
}

static void alert_tick(void *context)
{
    struct daemon *d = context;
    time_t now = time(NULL);

    reap(d, false);
    if (cfg_str(d->cfg, "alert_command")[0] != '\0' && now >= next_check) {
        check(d);
        next_check = now + (time_t)cfg_time(d->cfg, "alert_check_interval");
    }
    loop_timer(d->loop, ALERT_TICK_MS, alert_tick, d);
}

void alert_start(struct daemon *d)
{
    next_check = 0;
    loop_timer(d->loop, ALERT_TICK_MS, alert_tick, d);
}

void alert_status(struct daemon *d, struct ctl_reply *reply)
{
    int n_running = 0;

    (void)d;
    for (int i = 0; i < ALERT_MAX_RUNNING; i++)
        n_running += running[i].pid != 0;
    ctl_reply_add(reply, "alerts.run", "%lu", alerts_run);
    ctl_reply_add(reply, "alerts.failed", "%lu", alerts_failed);
    ctl_reply_add(reply, "alerts.killed", "%lu", alerts_killed);
    ctl_reply_add(reply, "alerts.running", "%d", n_running);
}

void alert_stop(struct daemon *d)
{
    loop_timer_cancel(d->loop, alert_tick, d);
    reap(d, true);
    for (size_t i = 0; i < n_sent; i++)
        free(sent[i].domain);
    free(sent);
    sent = NULL;
    n_sent = 0;
}
