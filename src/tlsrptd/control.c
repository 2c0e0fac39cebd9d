/*
 * control.c - the daemon's end of the control socket: accept, refuse peers
 * that are not root, the daemon user or its group, read one request line
 * without ever blocking the event loop, and answer it (`status`, `flush`).
 * Idle or slow clients cannot lock an administrator out (short timeouts,
 * and the oldest waiting client gives up its slot to a new one).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "ctl.h"
#include "daemon.h"

#define CONTROL_MAX_CLIENTS 128
/* tlsrpt writes its request as soon as it is connected: nobody needs long. */
#define CONTROL_SILENT_MS 2000 /* connected, nothing sent (slots are not held: see eviction) */
#define CONTROL_STARTED_MS 250 /* the rest of a request line after its first bytes */

struct control_client {
    struct daemon *daemon;
    int fd;
    struct buf request;
    struct control_client *newer, *older;
};

static int control_clients;
/* The clients in order of arrival: when all slots are taken the oldest goes. */
static struct control_client *oldest_client, *newest_client;

static void client_timeout(void *context);

static void client_close(struct control_client *client)
{
    loop_remove_fd(client->daemon->loop, client->fd);
    loop_timer_cancel(client->daemon->loop, client_timeout, client);
    close(client->fd);
    buf_free(&client->request);
    if (client->older)
        client->older->newer = client->newer;
    else
        oldest_client = client->newer;
    if (client->newer)
        client->newer->older = client->older;
    else
        newest_client = client->older;
    free(client);
    control_clients--;
}

/* A client that has not sent its request in time is dropped. */
static void client_timeout(void *context)
{
    client_close(context);
}

/* Today's sessions by policy type and failed sessions by result type (also for metrics). */
static void status_by_type(struct ctr_table *table, struct ctl_reply *reply)
{
    struct ctr_snapshot *snap = ctr_snapshot(table, NULL);
    struct ctr_day_summary summary;
    char name[96];

    ctr_summarize(snap, &summary);
    for (int type = 0; type < TR_POLICY_TYPE_COUNT; type++) {
        const char *type_name = tr_policy_type_name((enum tr_policy_type)type);
        snprintf(name, sizeof(name), "counters.success_by_policy.%s", type_name);
        ctl_reply_add(reply, name, "%llu", (unsigned long long)summary.success_by_policy[type]);
        snprintf(name, sizeof(name), "counters.failure_by_policy.%s", type_name);
        ctl_reply_add(reply, name, "%llu", (unsigned long long)summary.failure_by_policy[type]);
    }
    for (int result = 0; result < TR_RESULT_COUNT; result++) {
        snprintf(name, sizeof(name), "counters.failure_by_result.%s",
                 tr_result_name((enum tr_result)result));
        ctl_reply_add(reply, name, "%llu", (unsigned long long)summary.by_result[result]);
    }
    ctr_summary_free(&summary);
    ctr_snapshot_free(snap);
}

static void status_counters(struct daemon *d, struct ctl_reply *reply)
{
    int today = day_today();
    char day_text[DAY_TEXT_SIZE];
    char *error = NULL;
    struct ctr_stats stats;

    day_format(today, day_text);
    ctl_reply_add(reply, "counters.day", "%s", day_text);
    struct ctr_table *table = ctr_open(d->counters_dir, today, CTR_READ_ONLY, NULL, &error);
    if (table == NULL) {
        /* No table yet simply means no event today. */
        ctl_reply_add(reply, "counters.table", "none");
        free(error);
        return;
    }
    ctr_stats(table, &stats);
    ctl_reply_add(reply, "counters.sessions_success", "%llu",
                  (unsigned long long)stats.sessions_success);
    ctl_reply_add(reply, "counters.sessions_failure", "%llu",
                  (unsigned long long)stats.sessions_failure);
    ctl_reply_add(reply, "counters.entries_used", "%lu", (unsigned long)stats.entries_used);
    ctl_reply_add(reply, "counters.max_entries", "%lu", (unsigned long)stats.max_entries);
    ctl_reply_add(reply, "counters.string_used", "%llu", (unsigned long long)stats.string_used);
    ctl_reply_add(reply, "counters.string_space", "%llu",
                  (unsigned long long)stats.string_space);
    ctl_reply_add(reply, "counters.overflow_events", "%llu",
                  (unsigned long long)stats.overflow_events);
    ctl_reply_add(reply, "counters.overflow_domains", "%lu",
                  (unsigned long)stats.overflow_domains);
    ctl_reply_add(reply, "counters.lost_events", "%llu", (unsigned long long)stats.lost_events);
    ctl_reply_add(reply, "counters.late_events", "%llu", (unsigned long long)stats.late_events);
    status_by_type(table, reply);
    ctr_close(table);
}

/* Days whose events kept coming after their reports were built: they missed the report. */
static void status_late(struct daemon *d, struct ctl_reply *reply)
{
    int *days = NULL;
    char *error = NULL;
    int n = ctr_list_days(d->counters_dir, &days, &error);

    if (n < 0) {
        free(error);
        return;
    }
    for (int i = 0; i < n; i++) {
        struct ctr_table *table = ctr_open(d->counters_dir, days[i], CTR_READ_ONLY, NULL, &error);
        char day_text[DAY_TEXT_SIZE], name[64];
        if (table == NULL) {
            free(error);
            continue;
        }
        uint64_t late = ctr_late_events(table);
        ctr_close(table);
        if (late == 0)
            continue;
        day_format(days[i], day_text);
        snprintf(name, sizeof(name), "counters.late_events.%s", day_text);
        ctl_reply_add(reply, name, "%llu", (unsigned long long)late);
    }
    free(days);
}

/* The last reload: an admin who sent SIGHUP sees here whether it was taken, and why not. */
static void status_reload(struct daemon *d, struct ctl_reply *reply)
{
    char when[32];
    struct tm tm;

    if (d->reload_time == 0) {
        ctl_reply_add(reply, "reload.last", "none");
        return;
    }
    gmtime_r(&d->reload_time, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (d->reload_refused)
        ctl_reply_add(reply, "reload.last", "refused: %s", d->reload_refused);
    else
        ctl_reply_add(reply, "reload.last", "done");
    ctl_reply_add(reply, "reload.last_time", "%s", when);
    if (d->reload_warnings)
        ctl_reply_add(reply, "reload.last_warnings", "%s", d->reload_warnings);
}

static void handle_status(struct daemon *d, struct ctl_reply *reply)
{
    ctl_reply_add(reply, "version", "%s", PACKAGE_VERSION);
    ctl_reply_add(reply, "pid", "%ld", (long)getpid());
    ctl_reply_add(reply, "uptime_seconds", "%lld", (long long)(time(NULL) - d->started));
    ctl_reply_add(reply, "user", "%s", d->user);
    ctl_reply_add(reply, "config_file", "%s", cfg_path(d->cfg));
    ctl_reply_add(reply, "state_directory", "%s", d->state_dir);
    ctl_reply_add(reply, "reloads", "%lu", d->reloads);
    status_reload(d, reply);
    ctl_reply_add(reply, "control.requests", "%lu", d->control_requests);
    ctl_reply_add(reply, "control.refused", "%lu", d->control_refused);
    collect_status(d, reply);
    follow_status(d, reply);
    policy_status(d, reply);
    schedule_status(d, reply);
    alert_status(d, reply);
    status_counters(d, reply);
    status_late(d, reply);
}

static void dispatch(struct daemon *d, const char *request, struct ctl_reply *reply)
{
    if (strcmp(request, "status") == 0)
        handle_status(d, reply);
    else if (strcmp(request, "flush") == 0)
        schedule_flush(d, reply);
    else if (strncmp(request, "sts-flush ", 10) == 0)
        policy_flush(d, request + 10, reply);
    else if (strncmp(request, "own-mail ", 9) == 0)
        follow_own_mail(d, request + 9, reply);
    else if (strcmp(request, "ping") == 0)
        ctl_reply_add(reply, "pong", "1");
    else
        ctl_reply_fail(reply, "unknown request \"%.64s\"", request);
}

static void client_readable(int fd, void *context)
{
    struct control_client *client = context;
    struct ctl_reply reply;
    size_t len;

    bool started = client->request.len > 0;
    int status = ctl_read_request(fd, &client->request);
    if (status == 0) {
        if (!started && client->request.len > 0)
            loop_timer(client->daemon->loop, CONTROL_STARTED_MS, client_timeout, client);
        return;
    }
    if (status < 0) {
        client_close(client);
        return;
    }
    client->daemon->control_requests++;
    ctl_reply_init(&reply);
    dispatch(client->daemon, client->request.data, &reply);
    const char *text = ctl_reply_text(&reply, &len);
    /* Replies are small; a client that does not read them loses them. */
    if (send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len)
        msg_warn("control: reply not sent in full: %s", strerror(errno));
    ctl_reply_free(&reply);
    client_close(client);
}

static void control_acceptable(int listen_fd, void *context)
{
    struct daemon *d = context;
    struct ctl_peer peer;

    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                msg_warn("control: accept: %s", strerror(errno));
            return;
        }
        if (ctl_peer_get(fd, &peer) < 0 || !ctl_peer_allowed(&peer, d->uid, d->gid)) {
            d->control_refused++;
            msg_warn("control: refused connection from uid %ld pid %ld: not root, %s, or in "
                     "its group",
                     (long)peer.uid, (long)peer.pid, d->user);
            close(fd);
            continue;
        }
        if (control_clients >= CONTROL_MAX_CLIENTS) {
            /* Counted always, said at most once a minute: a flood must not flood the log. */
            static time_t last_warning;
            static unsigned long evicted;
            evicted++;
            if (time(NULL) - last_warning >= 60) {
                msg_warn("control: %d clients waiting; closed the one waiting longest "
                         "(%lu so far)",
                         control_clients, evicted);
                last_warning = time(NULL);
            }
            client_close(oldest_client);
        }
        struct control_client *client = xcalloc(1, sizeof(*client));
        client->daemon = d;
        client->fd = fd;
        client->older = newest_client;
        if (newest_client)
            newest_client->newer = client;
        else
            oldest_client = client;
        newest_client = client;
        control_clients++;
        loop_add_fd(d->loop, fd, client_readable, client);
        loop_timer(d->loop, CONTROL_SILENT_MS, client_timeout, client);
    }
}

void control_open(struct daemon *d)
{
    const char *path = d->control_path = xstrdup(cfg_str(d->cfg, "control_socket"));
    char *error;

    d->control_fd = ctl_listen(path, d->uid, d->gid, 0660, &error);
    if (d->control_fd < 0)
        msg_fatal("control socket: %s", error);
    loop_add_fd(d->loop, d->control_fd, control_acceptable, d);
}

void control_close(struct daemon *d)
{
    if (d->control_fd < 0)
        return;
    loop_remove_fd(d->loop, d->control_fd);
    close(d->control_fd);
    unlink(d->control_path);
    d->control_fd = -1;
}
