/*
 * notify.c - tells systemd (Type=notify, $NOTIFY_SOCKET) where the daemon is:
 * READY=1 once it serves, RELOADING=1 and READY=1 around a SIGHUP reload,
 * STOPPING=1 at SIGTERM, and a STATUS= line for `systemctl status` each minute.
 * Without $NOTIFY_SOCKET every call does nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "daemon.h"

#define NOTIFY_STATUS_INTERVAL_MS (60 * 1000)

bool notify_supervised(void)
{
    const char *socket = getenv("NOTIFY_SOCKET");

    return socket != NULL && socket[0] != '\0';
}

/* One line a human reads in `systemctl status tlsrptd`. */
static char *status_line(struct daemon *d)
{
    struct collector_stats stats;
    char collected[96];

    if (d->collector != NULL) {
        collector_stats(d->collector, &stats);
        snprintf(collected, sizeof(collected), "%llu datagrams accepted, %llu rejected",
                 (unsigned long long)stats.accepted, (unsigned long long)stats.rejected);
    } else {
        snprintf(collected, sizeof(collected), "collector socket disabled");
    }
    return xasprintf("collecting; %s; log sources %s; report worker ran %lu times, last exit %d",
                     collected, d->follower ? "followed" : "none", d->worker_runs,
                     d->worker_last_status);
}

/* STATUS= text must stay on one line: a newline would start another assignment. */
static void send_state(char *state)
{
    char *status = strstr(state, "STATUS=");
    int r;

    for (char *p = status; p != NULL && *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    r = sd_notify(0, state);

    if (r < 0)
        msg_warn("sd_notify to $NOTIFY_SOCKET: %s", strerror(-r));
}

static void status_tick(void *context)
{
    struct daemon *d = context;
    char *status = status_line(d);
    char *state = xasprintf("STATUS=%s", status);

    send_state(state);
    free(state);
    free(status);
    loop_timer(d->loop, NOTIFY_STATUS_INTERVAL_MS, status_tick, d);
}

void notify_ready(struct daemon *d)
{
    if (!notify_supervised())
        return;
    char *status = status_line(d);
    char *state = xasprintf("READY=1\nMAINPID=%ld\nSTATUS=%s", (long)getpid(), status);

    send_state(state);
    free(state);
    free(status);
    loop_timer(d->loop, NOTIFY_STATUS_INTERVAL_MS, status_tick, d);
}

void notify_reloading(void)
{
    struct timespec now;

    if (!notify_supervised())
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char *state = xasprintf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                            (unsigned long long)now.tv_sec * 1000000ULL +
                                (unsigned long long)now.tv_nsec / 1000ULL);
    send_state(state);
    free(state);
}

void notify_reloaded(struct daemon *d, const char *error)
{
    if (!notify_supervised())
        return;
    char *status = error != NULL ? xasprintf("reload refused, running configuration kept: %s",
                                             error)
                                 : status_line(d);
    char *state = xasprintf("READY=1\nSTATUS=%s", status);

    send_state(state);
    free(state);
    free(status);
}

void notify_stopping(struct daemon *d)
{
    if (!notify_supervised())
        return;
    loop_timer_cancel(d->loop, status_tick, d);
    char state[] = "STOPPING=1\nSTATUS=stopping";

    send_state(state);
}
