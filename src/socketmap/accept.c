/*
 * accept.c - the socketmap server's accept thread: new connections (over
 * max_connections accepted and closed at once), each given to the next
 * event loop in turn; out of descriptors, accepting pauses a moment.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smap_impl.h"

#define ACCEPT_PAUSE_MS 100

/* Out of descriptors: the level-triggered listening socket would wake us without end. */
static void accept_pause(struct smap_server *s)
{
    struct epoll_event ev = {.events = 0, .data.ptr = s};

    s->accept_paused_until_ms = clock_ms() + ACCEPT_PAUSE_MS;
    epoll_ctl(s->accept_epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
}

static void accept_resume(struct smap_server *s)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};

    s->accept_paused_until_ms = 0;
    epoll_ctl(s->accept_epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
}

/* The connection joins the next loop's list, then its epoll set. */
static void conn_add(struct smap_server *s, int fd)
{
    struct smap_loop *loop = &s->loops[s->next_loop++ % s->n_loops];
    struct smap_conn *c = xcalloc(1, sizeof(*c));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

    c->loop = loop;
    c->fd = fd;
    c->events = EPOLLIN;
    smap_reader_init(&c->reader, s->settings.max_request);
    c->last_active = clock_ms();
    smap_count(&s->stats.connections_open, 1);
    smap_count(&s->stats.connections_total, 1);
    pthread_mutex_lock(&loop->lock);
    c->next = loop->conns;
    if (loop->conns)
        loop->conns->prev = c;
    loop->conns = c;
    /* Under the lock: the loop's sweep cannot close it before it is in the set. */
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        msg_warn("%s: epoll_ctl: %s", s->log_name, strerror(errno));
        loop->conns = c->next;
        if (c->next)
            c->next->prev = NULL;
        pthread_mutex_unlock(&loop->lock);
        smap_conn_free(c);
        return;
    }
    pthread_mutex_unlock(&loop->lock);
}

/* Everything waiting is accepted. */
static void accept_all(struct smap_server *s)
{
    char note[64];

    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (smap_rate_log_allowed(s, &s->accept_log, note))
                    msg_warn("%s: accept: %s: not accepting for %d ms%s", s->log_name,
                             strerror(errno), ACCEPT_PAUSE_MS, note);
                accept_pause(s);
                return;
            }
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        uint64_t open_now = __atomic_load_n(&s->stats.connections_open, __ATOMIC_RELAXED);
        if (open_now >= s->settings.max_connections) {
            smap_count(&s->stats.connections_refused, 1);
            close(fd);
            if (smap_rate_log_allowed(s, &s->refused_log, note))
                msg_warn("%s: refused a client connection: %llu connections are open, the "
                         "limit%s",
                         s->log_name, (unsigned long long)open_now, note);
            continue;
        }
        conn_add(s, fd);
    }
}

/* New connections, even while every worker waits on a slow lookup. */
void *smap_accept_main(void *arg)
{
    struct smap_server *s = arg;
    struct epoll_event events[2];

    while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
        int64_t wait = -1; /* paused: until it is time to accept again */
        if (s->accept_paused_until_ms) {
            wait = s->accept_paused_until_ms - clock_ms();
            wait = wait < 0 ? 0 : wait;
        }
        int n = epoll_wait(s->accept_epoll_fd, events, 2, (int)wait);
        if (n < 0 && errno != EINTR)
            msg_fatal("%s: epoll_wait: %s", s->log_name, strerror(errno));
        for (int i = 0; i < n; i++)
            if (events[i].data.ptr == s)
                accept_all(s);
        if (s->accept_paused_until_ms && clock_ms() >= s->accept_paused_until_ms)
            accept_resume(s);
    }
    return NULL;
}
