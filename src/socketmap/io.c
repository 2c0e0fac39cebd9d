/*
 * io.c - the socketmap server at work: every thread of the pool waits on one
 * epoll set, and the thread that gets a connection's event (EPOLLONESHOT)
 * reads, runs the lookup and writes the reply itself - no hand-over between
 * threads, so a cached lookup costs a few system calls. A lookup that blocks
 * holds one thread; the others go on answering the other connections. An
 * accept thread takes new connections and closes idle ones.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smap_impl.h"

#define READ_CHUNK 4096
#define LOG_INTERVAL_MS 10000
#define ACCEPT_PAUSE_MS 100
#define SWEEP_MAX_MS 1000
#define SWEEP_MIN_MS 10

void smap_count(uint64_t *counter, int64_t delta)
{
    __atomic_fetch_add(counter, (uint64_t)delta, __ATOMIC_RELAXED);
}

static void touch(struct smap_conn *c)
{
    __atomic_store_n(&c->last_active, clock_ms(), __ATOMIC_RELAXED);
}

/* True when a line may be logged now; note says how many were left out before it. */
static bool rate_log_allowed(struct smap_server *s, struct smap_rate_log *log, char note[64])
{
    int64_t now = clock_ms();
    bool allowed = false;

    pthread_mutex_lock(&s->lock);
    if (now < log->next_ms) {
        log->suppressed++;
    } else {
        log->next_ms = now + LOG_INTERVAL_MS;
        note[0] = '\0';
        if (log->suppressed > 0)
            snprintf(note, 64, " (and %llu more in the last %d s, not logged)", log->suppressed,
                     LOG_INTERVAL_MS / 1000);
        log->suppressed = 0;
        allowed = true;
    }
    pthread_mutex_unlock(&s->lock);
    return allowed;
}

void smap_conn_free(struct smap_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    smap_reader_free(&c->reader);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->reply);
    smap_count(&c->server->stats.connections_open, -1);
    free(c);
}

/* Only the owning thread closes: out of the list first, so the sweep never sees it closed. */
static void conn_close(struct smap_conn *c)
{
    struct smap_server *s = c->server;

    pthread_mutex_lock(&s->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->lock);
    if (__atomic_load_n(&c->idle_shutdown, __ATOMIC_ACQUIRE))
        smap_count(&s->stats.idle_closes, 1);
    smap_conn_free(c);
}

/*
 * Hands the connection back to epoll for the next event of these kinds. The
 * moment it is re-armed another thread may own it (and close it): nothing of
 * it is touched after the release below.
 */
static void conn_rearm(struct smap_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLONESHOT, .data.ptr = c};
    int epoll_fd = c->server->epoll_fd, fd = c->fd;

    __atomic_store_n(&c->owned, false, __ATOMIC_RELEASE);
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
        msg_panic("socketmap: epoll_ctl: %s", strerror(errno));
}

static void protocol_error(struct smap_conn *c, enum smap_error error)
{
    struct smap_server *s = c->server;
    char reply[160], note[64];

    smap_count(&s->stats.errors[error], 1);
    if (error == SMAP_ERR_TRUNCATED)
        return;
    if (rate_log_allowed(s, &s->error_log, note))
        msg_warn("%s: closing a client connection: protocol error (%s): %s%s", s->log_name,
                 smap_error_name(error), smap_error_text(error), note);
    int len = snprintf(reply, sizeof(reply), "PERM protocol error (%s): %s", smap_error_name(error),
                       smap_error_text(error));
    smap_count(&s->stats.replies[smap_reply_frame(&c->out, reply, (size_t)len)], 1);
    c->closing = true;
}

static void answer(struct smap_conn *c, const char *map, const char *key)
{
    struct smap_server *s = c->server;

    smap_count(&s->stats.in_progress, 1);
    buf_reset(&c->reply);
    s->handler(s->context, map, key, &c->reply);
    smap_count(&s->stats.in_progress, -1);
    enum smap_reply_kind kind = smap_reply_frame(&c->out, buf_cstr(&c->reply), c->reply.len);
    smap_count(&s->stats.replies[kind], 1);
}

/* Answers the next complete request in the input; false when there is none. */
static bool answer_buffered(struct smap_conn *c)
{
    while (c->in_pos < c->in.len) {
        size_t used;
        int status =
            smap_reader_feed(&c->reader, c->in.data + c->in_pos, c->in.len - c->in_pos, &used);
        c->in_pos += used;
        if (status == 0)
            break;
        if (status < 0) {
            protocol_error(c, c->reader.error);
            return true;
        }
        const char *map, *key;
        enum smap_error error;
        smap_count(&c->server->stats.requests, 1);
        if (smap_request_split(c->reader.data.data, c->reader.data.len, &map, &key, &error) < 0)
            protocol_error(c, error);
        else
            answer(c, map, key);
        smap_reader_next(&c->reader);
        return true;
    }
    buf_reset(&c->in);
    c->in_pos = 0;
    return false;
}

/* Sends what is buffered: 1 all sent, 0 the socket is full, -1 the connection is gone. */
static int flush(struct smap_conn *c)
{
    while (c->out_pos < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        c->out_pos += (size_t)n;
        touch(c);
    }
    buf_reset(&c->out);
    c->out_pos = 0;
    return 1;
}

/*
 * After a protocol error: the client gets the PERM reply and an orderly end,
 * not a reset that may destroy the reply, unless it keeps sending (64 KB).
 */
static void discard_input(struct smap_conn *c)
{
    char sink[4096];

    shutdown(c->fd, SHUT_WR);
    for (int i = 0; i < 16; i++)
        if (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
            break;
}

/*
 * The owning thread's work on one event: answer what was read, read more
 * when the input has no complete request, until the socket has nothing more
 * or is full; then re-arm (or close).
 */
static void conn_work(struct smap_conn *c, uint32_t events)
{
    struct smap_server *s = c->server;
    bool may_read = (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;

    /* Acquire what the thread before us released when it re-armed (epoll orders it too). */
    (void)__atomic_exchange_n(&c->owned, true, __ATOMIC_ACQ_REL);
    for (;;) {
        int sent = flush(c);
        if (sent < 0)
            break;
        if (sent == 0) {
            conn_rearm(c, EPOLLOUT);
            return;
        }
        if (c->closing) {
            discard_input(c);
            break;
        }
        if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
            break;
        if (answer_buffered(c))
            continue;
        if (!may_read) {
            /* A client waits for each answer before it asks again: no recv() in vain. */
            conn_rearm(c, EPOLLIN);
            return;
        }
        buf_reserve(&c->in, READ_CHUNK);
        ssize_t n = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_rearm(c, EPOLLIN);
            return;
        }
        if (n <= 0) {
            if (n == 0 && smap_reader_partial(&c->reader))
                protocol_error(c, SMAP_ERR_TRUNCATED);
            break;
        }
        c->in.len += (size_t)n;
        c->in.data[c->in.len] = '\0';
        touch(c);
        /* Read again only after the answers: a short read usually means that was all. */
        may_read = (size_t)n == READ_CHUNK;
    }
    conn_close(c);
}

/* Out of descriptors: the level-triggered listening socket would wake us without end. */
static void accept_pause(struct smap_server *s)
{
    struct epoll_event ev = {.events = 0, .data.ptr = s};

    s->accept_paused_until_ms = clock_ms() + ACCEPT_PAUSE_MS;
    epoll_ctl(s->accept_epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
}

/* In the accept thread: everything waiting is accepted. */
static void accept_all(struct smap_server *s)
{
    char note[64];

    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (rate_log_allowed(s, &s->accept_log, note))
                    msg_warn("%s: accept: %s: not accepting for %d ms%s", s->log_name,
                             strerror(errno), ACCEPT_PAUSE_MS, note);
                accept_pause(s); /* the sweep re-arms it */
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
            if (rate_log_allowed(s, &s->refused_log, note))
                msg_warn("%s: refused a client connection: %llu connections are open, the "
                         "limit%s",
                         s->log_name, (unsigned long long)open_now, note);
            continue;
        }
        struct smap_conn *c = xcalloc(1, sizeof(*c));
        c->server = s;
        c->fd = fd;
        smap_reader_init(&c->reader, s->settings.max_request);
        touch(c);
        smap_count(&s->stats.connections_open, 1);
        smap_count(&s->stats.connections_total, 1);
        pthread_mutex_lock(&s->lock);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->lock);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = c};
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            msg_warn("%s: epoll_ctl: %s", s->log_name, strerror(errno));
            conn_close(c);
        }
    }
}

static int64_t sweep_interval(struct smap_server *s)
{
    int64_t interval = s->settings.idle_timeout_ms / 4;

    return interval < SWEEP_MIN_MS   ? SWEEP_MIN_MS
           : interval > SWEEP_MAX_MS ? SWEEP_MAX_MS
                                     : interval;
}

/*
 * In the accept thread, every quarter of the timeout (at most 1 s): idle
 * connections (no thread on them, quiet for idle_timeout) are shut down; the
 * thread that gets the resulting event closes and counts them.
 */
static void sweep(struct smap_server *s)
{
    int64_t now = clock_ms();

    pthread_mutex_lock(&s->lock);
    for (struct smap_conn *c = s->conns; c; c = c->next) {
        if (__atomic_load_n(&c->owned, __ATOMIC_ACQUIRE) ||
            __atomic_load_n(&c->idle_shutdown, __ATOMIC_RELAXED) ||
            now - __atomic_load_n(&c->last_active, __ATOMIC_RELAXED) < s->settings.idle_timeout_ms)
            continue;
        __atomic_store_n(&c->idle_shutdown, true, __ATOMIC_RELEASE);
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->lock);
    if (s->accept_paused_until_ms && now >= s->accept_paused_until_ms) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        s->accept_paused_until_ms = 0;
        epoll_ctl(s->accept_epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
    }
}

uint64_t smap_waiting_requests(struct smap_server *s)
{
    uint64_t waiting = 0;
    int pending;

    pthread_mutex_lock(&s->lock);
    for (struct smap_conn *c = s->conns; c; c = c->next)
        if (!__atomic_load_n(&c->owned, __ATOMIC_ACQUIRE) &&
            ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0)
            waiting++;
    pthread_mutex_unlock(&s->lock);
    return waiting;
}

/* A thread of the pool: connections only, so accepting never waits for a lookup. */
void *smap_thread_main(void *arg)
{
    struct smap_server *s = arg;
    struct epoll_event ev;

    while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
        int n = epoll_wait(s->epoll_fd, &ev, 1, -1);
        if (n < 0 && errno != EINTR)
            msg_fatal("%s: epoll_wait: %s", s->log_name, strerror(errno));
        if (n == 1 && ev.data.ptr != &s->wake_fd)
            conn_work(ev.data.ptr, ev.events);
    }
    return NULL;
}

/*
 * The accept thread: new connections and the idle sweep, even while every
 * thread of the pool waits on a slow lookup.
 */
void *smap_accept_main(void *arg)
{
    struct smap_server *s = arg;
    struct epoll_event events[2];
    int64_t next_sweep = clock_ms() + sweep_interval(s);

    while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
        int64_t wait = next_sweep - clock_ms();
        int n = epoll_wait(s->accept_epoll_fd, events, 2, wait < 0 ? 0 : (int)wait);
        if (n < 0 && errno != EINTR)
            msg_fatal("%s: epoll_wait: %s", s->log_name, strerror(errno));
        for (int i = 0; i < n; i++)
            if (events[i].data.ptr == s)
                accept_all(s);
        if (clock_ms() >= next_sweep) {
            sweep(s);
            next_sweep = clock_ms() + sweep_interval(s);
        }
    }
    return NULL;
}
