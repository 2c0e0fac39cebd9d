/*
 * io.c - the socketmap server's event loops: one thread per CPU, each with
 * an epoll set of its own (level-triggered) holding the connections it was
 * given. A cached lookup costs its share of one epoll_wait, a recv and a
 * send: requests are answered in the loop by the fast handler; one that
 * would block goes to a worker (worker.c) and its connection leaves the
 * epoll set until the answer is there. Idle connections are closed here.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smap_impl.h"

#define READ_CHUNK 4096
#define LOG_INTERVAL_MS 10000
#define SWEEP_MAX_MS 1000
#define SWEEP_MIN_MS 10
#define EVENT_BATCH 64

void smap_count(uint64_t *counter, int64_t delta)
{
    __atomic_fetch_add(counter, (uint64_t)delta, __ATOMIC_RELAXED);
}

void smap_count_own(uint64_t *counter)
{
    __atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED);
}

bool smap_rate_log_allowed(struct smap_server *s, struct smap_rate_log *log, char note[64])
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
    smap_count(&c->loop->server->stats.connections_open, -1);
    free(c);
}

/* In the loop's thread: out of its list, closed (which takes it out of the epoll set). */
static void conn_close(struct smap_conn *c)
{
    struct smap_loop *loop = c->loop;

    pthread_mutex_lock(&loop->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        loop->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&loop->lock);
    smap_conn_free(c);
}

/* Watches the connection for these events (0: not at all); a system call only on a change. */
static void conn_watch(struct smap_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    int op = c->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;

    if (events == c->events)
        return;
    c->events = events;
    if (epoll_ctl(c->loop->epoll_fd, op, c->fd, &ev) < 0)
        msg_panic("%s: epoll_ctl: %s", c->loop->server->log_name, strerror(errno));
}

void smap_conn_give_back(struct smap_conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

    /*
     * EPOLLOUT fires at once: the loop sends the answer and reads on. In the
     * set before it is released, so the sweep never closes it under us; an
     * event that comes first is skipped by conn_work and seen again (LT).
     */
    c->events = ev.events;
    if (epoll_ctl(c->loop->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        msg_panic("socketmap: epoll_ctl: %s", strerror(errno));
    __atomic_store_n(&c->busy, false, __ATOMIC_RELEASE);
}

static void protocol_error(struct smap_conn *c, enum smap_error error)
{
    struct smap_server *s = c->loop->server;
    struct smap_loop_counts *counts = &c->loop->counts;
    char reply[160], note[64];

    smap_count_own(&counts->errors[error]);
    c->closing = true;
    if (error == SMAP_ERR_TRUNCATED)
        return;
    if (smap_rate_log_allowed(s, &s->error_log, note))
        msg_warn("%s: closing a client connection: protocol error (%s): %s%s", s->log_name,
                 smap_error_name(error), smap_error_text(error), note);
    int len = snprintf(reply, sizeof(reply), "PERM protocol error (%s): %s", smap_error_name(error),
                       smap_error_text(error));
    smap_count_own(&counts->replies[smap_reply_frame(&c->out, reply, (size_t)len)]);
}

/*
 * Answers the complete requests in the input with the fast handler; false
 * when one would block (it is in c->map, c->key for a worker).
 */
static bool answer_buffered(struct smap_conn *c)
{
    struct smap_server *s = c->loop->server;
    struct smap_loop_counts *counts = &c->loop->counts;

    while (!c->closing && c->in_pos < c->in.len) {
        size_t used;
        int status =
            smap_reader_feed(&c->reader, c->in.data + c->in_pos, c->in.len - c->in_pos, &used);
        c->in_pos += used;
        if (status == 0)
            break;
        if (status < 0) {
            protocol_error(c, c->reader.error);
            break;
        }
        enum smap_error error;
        smap_count_own(&counts->requests);
        if (smap_request_split(c->reader.data.data, c->reader.data.len, &c->map, &c->key, &error) <
            0) {
            protocol_error(c, error);
            break;
        }
        buf_reset(&c->reply);
        if (s->fast == NULL || !s->fast(s->context, c->map, c->key, &c->reply))
            return false;
        enum smap_reply_kind kind = smap_reply_frame(&c->out, buf_cstr(&c->reply), c->reply.len);
        smap_count_own(&counts->replies[kind]);
        smap_reader_next(&c->reader);
    }
    if (c->in_pos == c->in.len) {
        buf_reset(&c->in);
        c->in_pos = 0;
    }
    return true;
}

int smap_flush(struct smap_conn *c)
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

/* Reads what there is: 1 read, 0 nothing now, -1 end of file or error. */
static int conn_read(struct smap_conn *c)
{
    for (;;) {
        buf_reserve(&c->in, READ_CHUNK);
        ssize_t n = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0) {
            if (n == 0 && smap_reader_partial(&c->reader))
                protocol_error(c, SMAP_ERR_TRUNCATED);
            return -1;
        }
        c->in.len += (size_t)n;
        c->in.data[c->in.len] = '\0';
        c->last_active = c->loop->now_ms;
        return 1;
    }
}

/*
 * The loop's work on one ready connection: send what is pending, answer
 * what was read, read once more when that is all; then watch it for what it
 * waits on - more input, room to send, or (busy) nothing until a worker ends.
 */
static void conn_work(struct smap_conn *c, uint32_t events)
{
    /* Never busy here (out of the set meanwhile); the load pairs with the worker's release. */
    if (__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&c->loop->server->stopping, __ATOMIC_ACQUIRE))
        return; /* the stop closes it */
    /* Nothing more is read while replies wait for room to be sent. */
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->out_pos == c->out.len && !c->closing &&
        conn_read(c) < 0) {
        conn_close(c);
        return;
    }
    bool answered = answer_buffered(c);
    int sent = smap_flush(c);
    if (sent < 0) {
        conn_close(c);
        return;
    }
    if (sent > 0)
        c->last_active = c->loop->now_ms;
    if (!answered) {
        /* A worker answers; the loop forgets the connection meanwhile. */
        conn_watch(c, 0);
        __atomic_store_n(&c->busy, true, __ATOMIC_RELAXED);
        smap_worker_submit(c);
    } else if (sent == 0) {
        conn_watch(c, EPOLLOUT);
    } else if (c->closing) {
        discard_input(c);
        conn_close(c);
    } else {
        conn_watch(c, EPOLLIN);
    }
}

static int64_t sweep_interval(struct smap_server *s)
{
    int64_t interval = s->settings.idle_timeout_ms / 4;

    return interval < SWEEP_MIN_MS   ? SWEEP_MIN_MS
           : interval > SWEEP_MAX_MS ? SWEEP_MAX_MS
                                     : interval;
}

/* Every quarter of the timeout (at most 1 s): the loop's quiet connections are closed. */
static void sweep(struct smap_loop *loop)
{
    struct smap_server *s = loop->server;
    struct smap_conn *idle = NULL;

    pthread_mutex_lock(&loop->lock);
    for (struct smap_conn *c = loop->conns, *next; c; c = next) {
        next = c->next;
        if (__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE) ||
            loop->now_ms - c->last_active < s->settings.idle_timeout_ms)
            continue;
        if (c->prev)
            c->prev->next = c->next;
        else
            loop->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->next = idle;
        idle = c;
    }
    pthread_mutex_unlock(&loop->lock);
    while (idle) {
        struct smap_conn *next = idle->next;
        smap_count_own(&loop->counts.idle_closes);
        shutdown(idle->fd, SHUT_RDWR);
        smap_conn_free(idle);
        idle = next;
    }
}

/* An event loop's thread: its connections' events in batches, the sweep between them. */
void *smap_loop_main(void *arg)
{
    struct smap_loop *loop = arg;
    struct smap_server *s = loop->server;
    struct epoll_event events[EVENT_BATCH];
    int64_t interval = sweep_interval(s);
    int64_t next_sweep;

    loop->now_ms = clock_ms();
    next_sweep = loop->now_ms + interval;

    while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
        int64_t wait = next_sweep - loop->now_ms;
        int n = epoll_wait(loop->epoll_fd, events, EVENT_BATCH, wait < 0 ? 0 : (int)wait);
        if (n < 0 && errno != EINTR)
            msg_fatal("%s: epoll_wait: %s", s->log_name, strerror(errno));
        /* One clock reading per batch: the idle timeout needs no finer time. */
        loop->now_ms = clock_ms();
        for (int i = 0; i < n; i++)
            if (events[i].data.ptr != &s->wake_fd)
                conn_work(events[i].data.ptr, events[i].events);
        if (loop->now_ms >= next_sweep) {
            sweep(loop);
            next_sweep = loop->now_ms + interval;
        }
    }
    return NULL;
}
