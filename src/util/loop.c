/*
 * loop.c - a small poll(2) event loop for single-threaded daemons: read
 * callbacks on file descriptors and one-shot timers. Callbacks may add or
 * remove descriptors and timers while the loop dispatches.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct loop_fd {
    int fd;
    loop_fd_fn *callback;
    void *context;
};

struct loop_timer {
    int64_t deadline_ms;
    loop_timer_fn *callback;
    void *context;
};

struct loop {
    struct loop_fd *fds;
    size_t n_fds, cap_fds;
    struct loop_timer *timers;
    size_t n_timers, cap_timers;
    loop_timer_fn *idle;
    void *idle_context;
    bool stopping;
};

struct loop *loop_create(void)
{
    return xcalloc(1, sizeof(struct loop));
}

void loop_destroy(struct loop *loop)
{
    if (loop == NULL)
        return;
    free(loop->fds);
    free(loop->timers);
    free(loop);
}

void loop_add_fd(struct loop *loop, int fd, loop_fd_fn *callback, void *context)
{
    loop_remove_fd(loop, fd);
    if (loop->n_fds == loop->cap_fds) {
        loop->cap_fds = loop->cap_fds ? loop->cap_fds * 2 : 8;
        loop->fds = xreallocarray(loop->fds, loop->cap_fds, sizeof(*loop->fds));
    }
    loop->fds[loop->n_fds++] = (struct loop_fd){fd, callback, context};
}

void loop_remove_fd(struct loop *loop, int fd)
{
    for (size_t i = 0; i < loop->n_fds; i++) {
        if (loop->fds[i].fd == fd) {
            loop->fds[i] = loop->fds[--loop->n_fds];
            return;
        }
    }
}

void loop_timer_cancel(struct loop *loop, loop_timer_fn *callback, void *context)
{
    for (size_t i = 0; i < loop->n_timers; i++) {
        if (loop->timers[i].callback == callback && loop->timers[i].context == context) {
            loop->timers[i] = loop->timers[--loop->n_timers];
            return;
        }
    }
}

void loop_timer(struct loop *loop, int64_t delay_ms, loop_timer_fn *callback, void *context)
{
    loop_timer_cancel(loop, callback, context);
    if (loop->n_timers == loop->cap_timers) {
        loop->cap_timers = loop->cap_timers ? loop->cap_timers * 2 : 8;
        loop->timers = xreallocarray(loop->timers, loop->cap_timers, sizeof(*loop->timers));
    }
    loop->timers[loop->n_timers++] =
        (struct loop_timer){clock_ms() + (delay_ms > 0 ? delay_ms : 0), callback, context};
}

void loop_set_idle(struct loop *loop, loop_timer_fn *callback, void *context)
{
    loop->idle = callback;
    loop->idle_context = context;
}

void loop_stop(struct loop *loop)
{
    loop->stopping = true;
}

static int loop_timeout(struct loop *loop)
{
    int64_t now = clock_ms(), next = -1;

    for (size_t i = 0; i < loop->n_timers; i++) {
        int64_t left = loop->timers[i].deadline_ms - now;
        if (left < 0)
            left = 0;
        if (next < 0 || left < next)
            next = left;
    }
    return next > 86400000 ? 86400000 : (int)next;
}

/* Runs every expired timer once; a callback may re-arm itself. */
static void loop_run_timers(struct loop *loop)
{
    int64_t now = clock_ms();

    for (size_t i = 0; i < loop->n_timers;) {
        if (loop->timers[i].deadline_ms > now) {
            i++;
            continue;
        }
        struct loop_timer expired = loop->timers[i];
        loop->timers[i] = loop->timers[--loop->n_timers];
        expired.callback(expired.context);
        i = 0; /* the array may have changed under us */
        now = clock_ms();
    }
}

static bool loop_has_fd(struct loop *loop, int fd, loop_fd_fn *callback)
{
    for (size_t i = 0; i < loop->n_fds; i++)
        if (loop->fds[i].fd == fd && loop->fds[i].callback == callback)
            return true;
    return false;
}

void loop_run(struct loop *loop)
{
    struct pollfd *pfds = NULL;
    struct loop_fd *snapshot = NULL;
    size_t cap = 0;

    loop->stopping = false;
    while (!loop->stopping) {
        size_t n = loop->n_fds;
        if (n > cap) {
            cap = n;
            pfds = xreallocarray(pfds, cap, sizeof(*pfds));
            snapshot = xreallocarray(snapshot, cap, sizeof(*snapshot));
        }
        for (size_t i = 0; i < n; i++) {
            snapshot[i] = loop->fds[i];
            pfds[i] = (struct pollfd){.fd = loop->fds[i].fd, .events = POLLIN};
        }
        int ready = poll(pfds, n, loop_timeout(loop));
        if (ready < 0 && errno != EINTR)
            msg_fatal("poll: %s", strerror(errno));
        for (size_t i = 0; ready > 0 && i < n && !loop->stopping; i++) {
            if (pfds[i].revents == 0)
                continue;
            /* A previous callback may have removed this descriptor. */
            if (loop_has_fd(loop, snapshot[i].fd, snapshot[i].callback))
                snapshot[i].callback(snapshot[i].fd, snapshot[i].context);
        }
        if (!loop->stopping)
            loop_run_timers(loop);
        if (loop->idle)
            loop->idle(loop->idle_context);
    }
    free(pfds);
    free(snapshot);
}
