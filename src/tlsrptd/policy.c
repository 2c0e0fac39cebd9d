/*
 * policy.c - the MTA-STS policy service inside the daemon: the socketmap
 * server on policy_socket (bound as root) answering with the policy
 * module's pol_query, the minute refresh (a thread of its own: refreshing
 * fetches over HTTPS, which the event loop must never wait for), and the
 * `tlsrpt status` policy.* lines.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ctl.h"
#include "daemon.h"
#include "policy.h"
#include "socketmap.h"

/* Descriptors beyond the client connections: logs, counters, DNS, HTTPS. */
#define FD_RESERVE 256
#define REFRESH_INTERVAL_S 60

/* The refresh thread: every minute, until policy_stop. */
static pthread_t refresh_thread;
static bool refresh_running;
static bool refresh_stopping;
static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t refresh_wake = PTHREAD_COND_INITIALIZER;

/* Every smtp process keeps a connection open: make room for them all. */
static void fd_limit_raise(struct daemon *d, unsigned max_connections)
{
    struct rlimit limit;
    rlim_t wanted = (rlim_t)max_connections + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur >= wanted)
        return;
    limit.rlim_cur =
        limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= wanted ? wanted : limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur < wanted)
        msg_warn("%s: policy_max_connections = %u needs %llu file descriptors, but the limit "
                 "is %llu: raise LimitNOFILE (systemd) or ulimit -n",
                 cfg_path(d->cfg), max_connections, (unsigned long long)wanted,
                 (unsigned long long)limit.rlim_cur);
}

void policy_open(struct daemon *d)
{
    struct smap_settings settings = {
        .listen = d->started_with[7],
        .owner = d->uid,
        .mode = cfg_mode(d->cfg, "policy_socket_mode"),
        .idle_timeout_ms = cfg_time(d->cfg, "policy_idle_timeout") * 1000,
        .max_connections = (unsigned)cfg_int(d->cfg, "policy_max_connections"),
        .threads = (unsigned)cfg_int(d->cfg, "policy_threads"),
        .log_name = "policy",
    };
    char *error;

    if (settings.listen[0] == '\0')
        return;
    if (settings.listen[0] == '/' || strncmp(settings.listen, "unix:", 5) == 0)
        settings.group = privs_socket_group(d, "policy_socket_group", "policy socket");
    fd_limit_raise(d, settings.max_connections);
    d->policy_server = smap_server_open(&settings, &error);
    if (d->policy_server == NULL)
        msg_fatal("%s: policy_socket: %s", cfg_path(d->cfg), error);
}

/*
 * Whatever else the client calls the map, it asks for an MTA-STS policy.
 * tlsrpt-milter's prefetch asks under POL_PREFETCH_MAP: answered NOTFOUND
 * at once in the event loop (a Postfix configured with that name by
 * mistake gets no policy rather than a wrong one), the lookup left to the
 * service's background fetchers, so one slow domain never holds up the
 * replies behind it on the milter's connection.
 */
static bool is_prefetch(const char *map)
{
    return strcmp(map, POL_PREFETCH_MAP) == 0;
}

static void policy_lookup(void *context, const char *map, const char *key, struct buf *reply)
{
    if (is_prefetch(map)) { /* not reached: answered in the event loop */
        pol_prefetch(context, key);
        buf_puts(reply, "NOTFOUND ");
        return;
    }
    pol_query(context, key, reply);
}

/* In the socketmap server's event loops: false sends the lookup to a worker thread. */
static bool policy_lookup_cached(void *context, const char *map, const char *key, struct buf *reply)
{
    if (is_prefetch(map)) {
        pol_prefetch(context, key);
        buf_puts(reply, "NOTFOUND ");
        return true;
    }
    return pol_query_cached(context, key, reply);
}

static void *policy_refresh(void *context)
{
    struct pol_service *svc = context;

    pthread_mutex_lock(&refresh_lock);
    while (!refresh_stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += REFRESH_INTERVAL_S;
        while (!refresh_stopping &&
               pthread_cond_timedwait(&refresh_wake, &refresh_lock, &until) != ETIMEDOUT)
            ;
        if (refresh_stopping)
            break;
        pthread_mutex_unlock(&refresh_lock);
        pol_refresh_due(svc, time(NULL));
        pthread_mutex_lock(&refresh_lock);
    }
    pthread_mutex_unlock(&refresh_lock);
    return NULL;
}

/* After the drop: the service's cache belongs to tlsrptd_user. */
void policy_start(struct daemon *d)
{
    char *error;

    if (d->policy_server == NULL)
        return;
    d->policy_service = pol_service_create(d->cfg, &error);
    if (d->policy_service == NULL)
        msg_fatal("policy service: %s", error);
    if (pol_prefetch_start(d->policy_service, &error) < 0)
        msg_fatal("policy service: %s", error);
    if (smap_server_start(d->policy_server, policy_lookup, policy_lookup_cached, d->policy_service,
                          &error) < 0)
        msg_fatal("%s", error);
    refresh_stopping = false;
    int err = pthread_create(&refresh_thread, NULL, policy_refresh, d->policy_service);
    if (err != 0)
        msg_fatal("policy service: cannot start the refresh thread: %s", strerror(err));
    refresh_running = true;
}

static void status_emit(void *context, const char *name, const char *value)
{
    char line_name[128];

    snprintf(line_name, sizeof(line_name), "policy.%s", name);
    ctl_reply_add(context, line_name, "%s", value);
}

/* name.suffix = count, for the counters kept per kind. */
static void status_count(struct ctl_reply *reply, const char *name, const char *suffix,
                         uint64_t count)
{
    char line_name[128];

    snprintf(line_name, sizeof(line_name), "policy.%s.%s", name, suffix);
    ctl_reply_add(reply, line_name, "%llu", (unsigned long long)count);
}

void policy_status(struct daemon *d, struct ctl_reply *reply)
{
    struct smap_stats stats;

    if (d->policy_server == NULL) {
        ctl_reply_add(reply, "policy.socket", "disabled");
        return;
    }
    smap_server_stats(d->policy_server, &stats);
    ctl_reply_add(reply, "policy.socket", "%s", d->started_with[7]);
    ctl_reply_add(reply, "policy.connections_open", "%llu",
                  (unsigned long long)stats.connections_open);
    ctl_reply_add(reply, "policy.connections_total", "%llu",
                  (unsigned long long)stats.connections_total);
    ctl_reply_add(reply, "policy.connections_refused", "%llu",
                  (unsigned long long)stats.connections_refused);
    ctl_reply_add(reply, "policy.idle_closes", "%llu", (unsigned long long)stats.idle_closes);
    ctl_reply_add(reply, "policy.requests", "%llu", (unsigned long long)stats.requests);
    for (int kind = 0; kind < SMAP_REPLY_KIND_COUNT; kind++)
        status_count(reply, "replies", smap_reply_kind_name(kind), stats.replies[kind]);
    for (int error = 0; error < SMAP_ERR_COUNT; error++)
        status_count(reply, "protocol_errors", smap_error_name(error), stats.errors[error]);
    ctl_reply_add(reply, "policy.queue_length", "%llu", (unsigned long long)stats.queue_length);
    ctl_reply_add(reply, "policy.in_progress", "%llu", (unsigned long long)stats.in_progress);
    if (d->policy_service)
        pol_stats(d->policy_service, status_emit, reply);
}

void policy_flush(struct daemon *d, const char *domain, struct ctl_reply *reply)
{
    char *error;
    int found;

    if (d->policy_service == NULL) {
        ctl_reply_fail(reply, "the policy service is off (policy_socket is empty)");
        return;
    }
    found = pol_cache_flush(d->policy_service, domain, &error);
    if (found < 0) {
        ctl_reply_fail(reply, "%s", error);
        free(error);
        return;
    }
    ctl_reply_add(reply, "flushed", "%d", found);
}

void policy_stop(struct daemon *d)
{
    struct smap_stats stats;
    uint64_t errors = 0;

    if (d->policy_server == NULL)
        return;
    if (refresh_running) { /* a refresh under way finishes first */
        pthread_mutex_lock(&refresh_lock);
        refresh_stopping = true;
        pthread_cond_signal(&refresh_wake);
        pthread_mutex_unlock(&refresh_lock);
        pthread_join(refresh_thread, NULL);
        refresh_running = false;
    }
    /* Prefetches under way finish, the queued ones are dropped; no new ones are queued. */
    if (d->policy_service)
        pol_prefetch_stop(d->policy_service);
    /* Lookups in progress finish first: the service is still there for them. */
    smap_server_stop(d->policy_server);
    smap_server_stats(d->policy_server, &stats);
    for (int error = 0; error < SMAP_ERR_COUNT; error++)
        errors += stats.errors[error];
    msg_info("policy: %llu connections, %llu refused, %llu requests: %llu OK, %llu NOTFOUND, "
             "%llu TEMP, %llu TIMEOUT, %llu PERM; %llu protocol errors",
             (unsigned long long)stats.connections_total,
             (unsigned long long)stats.connections_refused, (unsigned long long)stats.requests,
             (unsigned long long)stats.replies[SMAP_REPLY_OK],
             (unsigned long long)stats.replies[SMAP_REPLY_NOTFOUND],
             (unsigned long long)stats.replies[SMAP_REPLY_TEMP],
             (unsigned long long)stats.replies[SMAP_REPLY_TIMEOUT],
             (unsigned long long)stats.replies[SMAP_REPLY_PERM], (unsigned long long)errors);
    smap_server_close(d->policy_server);
    d->policy_server = NULL;
    pol_service_destroy(d->policy_service);
    d->policy_service = NULL;
}
