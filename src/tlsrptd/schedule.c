/*
 * schedule.c - the daemon's daily cycle: once a minute, unless one is still
 * running, it starts a worker, `tlsrpt run --due` (a fresh process from
 * posix_spawn, never a shell), that builds the finished days past
 * report_delay into the outbox and delivers the due reports; a flush
 * request (`tlsrpt queue flush`) starts one at once, or right after the
 * running one.
 * A worker in its own process keeps slow DNS out of the event loop and
 * leaves nothing half done when it dies: the next one starts again.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "delivery.h"
#include "scheduler.h"
#include "spool.h"

#define SCHEDULE_INTERVAL_MS (60 * 1000)
#define FLUSH_POLL_MS 200

void schedule_check(struct daemon *d)
{
    const char *path = cfg_path(d->cfg);
    const char *key_file = cfg_str(d->cfg, "dkim_key_file");
    struct dlv_dkim_key *key;
    char *error;

    if (cfg_str(d->cfg, "organization_name")[0] == '\0' ||
        cfg_str(d->cfg, "contact_info")[0] == '\0')
        msg_warn("%s: organization_name and contact_info are not both set: events are "
                 "counted, but no report can be built until they are",
                 path);
    if (cfg_str(d->cfg, "delivery_directory")[0] != '\0')
        return; /* reports are handed on as files, not mailed */
    if (key_file[0] == '\0') {
        msg_warn("%s: dkim_key_file and dkim_selector are not set: report mail must be "
                 "DKIM-signed (RFC 8460 section 3), so reports to mailto: destinations are not "
                 "sent until they are (https: ones are)",
                 path);
    } else if (cfg_str(d->cfg, "dkim_selector")[0] == '\0') {
        msg_warn("%s: dkim_key_file is set but dkim_selector is empty: report mail is not sent",
                 path);
    } else if ((key = dlv_dkim_key_load(key_file, &error)) == NULL) {
        /* Loaded as tlsrptd_user, as the report worker will. */
        msg_warn("%s: %s: report mail is not sent until the key can be used", path, error);
        free(error);
    } else {
        dlv_dkim_key_free(key);
    }
}

extern char **environ;

/* tlsrpt is installed beside tlsrptd (both in sbin, or both in the build tree). */
static char *worker_path(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0)
        return xstrdup("tlsrpt");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    return xasprintf("%s/tlsrpt", self);
}

static void worker_reap(struct daemon *d)
{
    int status;

    if (d->worker_pid <= 0 || waitpid(d->worker_pid, &status, WNOHANG) != d->worker_pid)
        return;
    d->worker_pid = 0;
    d->worker_runs++;
    d->worker_last_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (d->worker_last_status != 0)
        msg_warn("report worker exited with status %d (it is started again in a minute)",
                 d->worker_last_status);
}

static void worker_start(struct daemon *d)
{
    char *path = worker_path();
    char **argv = xcalloc(2 * d->n_overrides + 8, sizeof(char *));
    size_t n = 0;
    posix_spawn_file_actions_t actions;

    argv[n++] = path;
    argv[n++] = "-c";
    argv[n++] = (char *)cfg_path(d->cfg);
    for (size_t i = 0; i < d->n_overrides; i++) {
        argv[n++] = "-o";
        argv[n++] = d->overrides[i];
    }
    argv[n++] = "run";
    argv[n++] = "--due";
    argv[n] = NULL;
    /* Its chatter is not wanted; its warnings go to stderr and syslog. */
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    setenv("TLSRPT_SYSLOG_FACILITY", cfg_str(d->cfg, "syslog_facility"), 1);
    int err = posix_spawn(&d->worker_pid, path, &actions, NULL, argv, environ);
    if (err != 0) {
        msg_error("cannot start the report worker %s: %s", path, strerror(err));
        d->worker_pid = 0;
    }
    d->worker_started = time(NULL);
    posix_spawn_file_actions_destroy(&actions);
    free(argv);
    free(path);
}

static void schedule_tick(void *context)
{
    struct daemon *d = context;

    worker_reap(d);
    if (d->worker_pid == 0)
        worker_start(d);
    loop_timer(d->loop, SCHEDULE_INTERVAL_MS, schedule_tick, d);
}

/* A flush waits for the running worker to end, then gets one of its own at once. */
static void flush_tick(void *context)
{
    struct daemon *d = context;

    worker_reap(d);
    if (d->worker_pid != 0) {
        loop_timer(d->loop, FLUSH_POLL_MS, flush_tick, d);
        return;
    }
    worker_start(d);
}

void schedule_flush(struct daemon *d, struct ctl_reply *reply)
{
    worker_reap(d);
    loop_timer_cancel(d->loop, flush_tick, d);
    if (d->worker_pid > 0) {
        /* It may have listed the outbox before the flush made reports due. */
        loop_timer(d->loop, FLUSH_POLL_MS, flush_tick, d);
        ctl_reply_add(reply, "worker", "queued");
        return;
    }
    worker_start(d);
    if (d->worker_pid > 0)
        ctl_reply_add(reply, "worker", "started");
    else
        ctl_reply_fail(reply, "the report worker could not be started (see the daemon's log)");
}

void schedule_start(struct daemon *d)
{
    if (cfg_str(d->cfg, "organization_name")[0] == '\0' ||
        cfg_str(d->cfg, "contact_info")[0] == '\0')
        return; /* main() has warned: no report can be built */
    loop_timer(d->loop, 1000, schedule_tick, d);
}

/* Reports in the outbox by the state of their destinations. */
static void outbox_status(struct daemon *d, struct ctl_reply *reply)
{
    char *dir = path_join(d->state_dir, "outbox"), *error;
    struct spool *spool = spool_open(dir, &error);
    struct spool_entry *entries;
    size_t n, by_state[SPOOL_STATE_COUNT] = {0}, rua_pending = 0;
    /* Destinations by transport too: mailto, https (what delivered and failed where). */
    static const char *const transports[] = {"mailto", "https"};
    size_t by_transport[2][SPOOL_STATE_COUNT] = {{0}};

    if (spool == NULL || spool_list(spool, &entries, &n, &error) < 0) {
        ctl_reply_add(reply, "outbox.error", "%s", error);
        free(error);
        spool_close(spool);
        free(dir);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rua_pending += entries[i].rua_pending;
        for (size_t j = 0; j < entries[i].n_destinations; j++) {
            const struct spool_destination *dest = &entries[i].destinations[j];
            by_state[dest->state]++;
            for (size_t t = 0; t < UTIL_ARRAY_LEN(transports); t++)
                if (strncmp(dest->uri, transports[t], strlen(transports[t])) == 0 &&
                    dest->uri[strlen(transports[t])] == ':')
                    by_transport[t][dest->state]++;
        }
    }
    ctl_reply_add(reply, "outbox.reports", "%zu", n);
    for (int s = 0; s < SPOOL_STATE_COUNT; s++) {
        char name[64];
        snprintf(name, sizeof(name), "outbox.destinations_%s",
                 spool_state_name((enum spool_state)s));
        ctl_reply_add(reply, name, "%zu", by_state[s]);
    }
    for (size_t t = 0; t < UTIL_ARRAY_LEN(transports); t++)
        for (int s = 0; s < SPOOL_STATE_COUNT; s++) {
            char name[64];
            snprintf(name, sizeof(name), "outbox.by_transport.%s.%s", transports[t],
                     spool_state_name((enum spool_state)s));
            ctl_reply_add(reply, name, "%zu", by_transport[t][s]);
        }
    ctl_reply_add(reply, "outbox.rua_pending", "%zu", rua_pending);
    spool_list_free(entries, n);
    spool_close(spool);
    free(dir);
}

void schedule_status(struct daemon *d, struct ctl_reply *reply)
{
    worker_reap(d);
    ctl_reply_add(reply, "reports.worker_runs", "%lu", d->worker_runs);
    ctl_reply_add(reply, "reports.worker_running", "%s", d->worker_pid > 0 ? "yes" : "no");
    ctl_reply_add(reply, "reports.worker_last_status", "%d", d->worker_last_status);
    outbox_status(d, reply);
    /* Bounces of report mail (`tlsrpt dsn`, the milter) are counted in a state file. */
    struct sched_dsn_counters dsn;
    char *error;
    if (sched_dsn_counters_read(d->cfg, &dsn, &error) < 0) {
        msg_warn("%s", error);
        free(error);
        return;
    }
    ctl_reply_add(reply, "dsn.matched", "%llu", (unsigned long long)dsn.matched);
    ctl_reply_add(reply, "dsn.unmatched", "%llu", (unsigned long long)dsn.unmatched);
    ctl_reply_add(reply, "dsn.suppressions", "%llu", (unsigned long long)dsn.suppressions);
}

void schedule_stop(struct daemon *d)
{
    /* The worker finishes or is cut short safely: the outbox is transactional. */
    loop_timer_cancel(d->loop, flush_tick, d);
    if (d->worker_pid > 0) {
        kill(d->worker_pid, SIGTERM);
        waitpid(d->worker_pid, NULL, 0);
        d->worker_pid = 0;
    }
}
