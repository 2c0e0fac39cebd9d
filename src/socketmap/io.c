/*
 * io.c - the socketmap server at work: one I/O thread (epoll) accepts, reads
 * and writes every connection without blocking; worker threads run the
 * lookups; one request per connection is in a worker at a time, so
 * pipelined requests are answered in order.
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
#define ACCEPT_PAUSE_MS 100
#define MAX_EVENTS 64

void smap_count(uint64_t *counter, int64_t delta)
{
    __atomic_fetch_add(counter, (uint64_t)delta, __ATOMIC_RELAXED);
}

/* True when a line may be logged now; note says how many were left out before it. */
static bool rate_log_allowed(struct smap_rate_log *log, char note[64])
{
    int64_t now = clock_ms();

    if (now < log->next_ms) {
        log->suppressed++;
        return false;
    }
    log->next_ms = now + LOG_INTERVAL_MS;
    note[0] = '\0';
    if (log->suppressed > 0)
        snprintf(note, 64, " (and %llu more in the last %d s, not logged)", log->suppressed,
                 LOG_INTERVAL_MS / 1000);
    log->suppressed = 0;
    return true;
}

/* The idle list: connections not busy, least recently active first. */
static void idle_remove(struct smap_server *s, struct smap_conn *c)
{
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else if (s->idle_head == c)
        s->idle_head = c->idle_next;
    else
        return; /* not in the list */
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    else
        s->idle_tail = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
}

static void idle_touch(struct smap_server *s, struct smap_conn *c)
{
    idle_remove(s, c);
    c->last_active_ms = clock_ms();
    c->idle_prev = s->idle_tail;
    if (s->idle_tail)
        s->idle_tail->idle_next = c;
    else
        s->idle_head = c;
    s->idle_tail = c;
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

/* A busy connection stays allocated until its worker hands it back. */
static void conn_close(struct smap_conn *c)
{
    struct smap_server *s = c->server;

    idle_remove(s, c);
    if (!c->busy) {
        smap_conn_free(c);
        return;
    }
    close(c->fd);
    c->fd = -1;
    c->dead = true;
}

static void set_interest(struct smap_conn *c, uint32_t events)
{
    if (events == c->events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(c->server->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

static void protocol_error(struct smap_conn *c, enum smap_error error)
{
    struct smap_server *s = c->server;
    char note[64];
    char reply[160];

    smap_count(&s->stats.errors[error], 1);
    if (error == SMAP_ERR_TRUNCATED)
        return;
    if (rate_log_allowed(&s->error_log, note))
        msg_warn("%s: closing a client connection: protocol error (%s): %s%s", s->log_name,
                 smap_error_name(error), smap_error_text(error), note);
    int len = snprintf(reply, sizeof(reply), "PERM protocol error (%s): %s", smap_error_name(error),
                       smap_error_text(error));
    smap_count(&s->stats.replies[smap_reply_frame(&c->out, reply, (size_t)len)], 1);
    c->closing = true;
}

static void submit(struct smap_conn *c, const char *map, const char *key)
{
    struct smap_server *s = c->server;

    c->busy = true;
    c->map = map;
    c->key = key;
    buf_reset(&c->reply);
    idle_remove(s, c);
    pthread_mutex_lock(&s->lock);
    c->queue_next = NULL;
    if (s->jobs_tail)
        s->jobs_tail->queue_next = c;
    else
        s->jobs_head = c;
    s->jobs_tail = c;
    smap_count(&s->stats.queue_length, 1);
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
}

/* Parses buffered input until a request goes to a worker or input runs out. */
static void parse_input(struct smap_conn *c)
{
    while (!c->busy && !c->closing && c->in_pos < c->in.len) {
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
        const char *map, *key;
        enum smap_error error;
        smap_count(&c->server->stats.requests, 1);
        if (smap_request_split(c->reader.data.data, c->reader.data.len, &map, &key, &error) < 0) {
            protocol_error(c, error);
            break;
        }
        submit(c, map, key);
    }
    if (c->in_pos == c->in.len) {
        buf_reset(&c->in);
        c->in_pos = 0;
    }
}

/*
 * Sends what is buffered, then decides what to wait for: nothing while a
 * worker has the request, writability while output is pending, else input.
 * Returns false when the connection was closed.
 */
static bool conn_progress(struct smap_conn *c)
{
    for (;;) {
        while (c->out_pos < c->out.len) {
            ssize_t n = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_interest(c, EPOLLOUT);
                return true;
            }
            if (n <= 0) {
                conn_close(c);
                return false;
            }
            c->out_pos += (size_t)n;
            idle_touch(c->server, c);
        }
        buf_reset(&c->out);
        c->out_pos = 0;
        if (c->closing) {
            conn_close(c);
            return false;
        }
        if (c->busy) {
            set_interest(c, 0);
            return true;
        }
        size_t before = c->out.len;
        parse_input(c);
        if (c->out.len == before) /* no protocol error reply to send */
            break;
    }
    set_interest(c, c->busy ? 0 : EPOLLIN);
    return true;
}

static void conn_readable(struct smap_conn *c)
{
    buf_reserve(&c->in, READ_CHUNK);
    ssize_t n = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        if (n == 0 && (smap_reader_partial(&c->reader) || c->in_pos < c->in.len))
            protocol_error(c, SMAP_ERR_TRUNCATED);
        conn_close(c);
        return;
    }
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = '\0';
    idle_touch(c->server, c);
    conn_progress(c);
}

static void conn_event(struct smap_conn *c, uint32_t events)
{
    if (c->busy) {
        /* Only a hangup or an error is reported while a worker has the request. */
        if (events & (EPOLLHUP | EPOLLERR))
            conn_close(c);
        return;
    }
    if (events & EPOLLOUT) {
        conn_progress(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        conn_readable(c);
}

static void accept_all(struct smap_server *s)
{
    char note[64];

    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Level-triggered: without a pause this would spin. */
                if (rate_log_allowed(&s->accept_log, note))
                    msg_warn("%s: accept: %s: not accepting for %d ms%s", s->log_name,
                             strerror(errno), ACCEPT_PAUSE_MS, note);
                s->accept_paused_until_ms = clock_ms() + ACCEPT_PAUSE_MS;
                struct epoll_event ev = {.events = 0, .data.ptr = s};
                epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
            }
            return;
        }
        uint64_t open_now = __atomic_load_n(&s->stats.connections_open, __ATOMIC_RELAXED);
        if (open_now >= s->settings.max_connections) {
            smap_count(&s->stats.connections_refused, 1);
            close(fd);
            if (rate_log_allowed(&s->refused_log, note))
                msg_warn("%s: refused a client connection: %llu connections are open, the "
                         "limit%s",
                         s->log_name, (unsigned long long)open_now, note);
            continue;
        }
        struct smap_conn *c = xcalloc(1, sizeof(*c));
        c->server = s;
        c->fd = fd;
        c->events = EPOLLIN;
        smap_reader_init(&c->reader, s->settings.max_request);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            msg_warn("%s: epoll_ctl: %s", s->log_name, strerror(errno));
            close(fd);
            smap_reader_free(&c->reader);
            free(c);
            continue;
        }
        smap_count(&s->stats.connections_open, 1);
        smap_count(&s->stats.connections_total, 1);
        idle_touch(s, c);
    }
}

/* Replies the workers finished go out; the next pipelined request follows. */
static void take_done(struct smap_server *s)
{
    uint64_t wakeups;

    if (read(s->wake_fd, &wakeups, sizeof(wakeups)) < 0) {
        /* Nothing pending (EAGAIN): a spurious wakeup. */
    }
    pthread_mutex_lock(&s->lock);
    struct smap_conn *c = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (c) {
        struct smap_conn *next = c->queue_next;
        c->busy = false;
        if (c->dead) {
            smap_conn_free(c);
        } else {
            enum smap_reply_kind kind =
                smap_reply_frame(&c->out, c->reply.data ? c->reply.data : "", c->reply.len);
            smap_count(&s->stats.replies[kind], 1);
            smap_reader_next(&c->reader);
            idle_touch(s, c);
            conn_progress(c);
        }
        c = next;
    }
}

static int next_timeout(struct smap_server *s, int64_t now)
{
    int64_t wait = -1;

    if (s->idle_head)
        wait = s->idle_head->last_active_ms + s->settings.idle_timeout_ms - now;
    if (s->accept_paused_until_ms) {
        int64_t resume = s->accept_paused_until_ms - now;
        if (wait < 0 || resume < wait)
            wait = resume;
    }
    if (wait < 0)
        return s->idle_head || s->accept_paused_until_ms ? 0 : -1;
    return wait > 60000 ? 60000 : (int)wait;
}

static void housekeeping(struct smap_server *s)
{
    int64_t now = clock_ms();

    while (s->idle_head && now - s->idle_head->last_active_ms >= s->settings.idle_timeout_ms) {
        smap_count(&s->stats.idle_closes, 1);
        conn_close(s->idle_head);
    }
    if (s->accept_paused_until_ms && now >= s->accept_paused_until_ms) {
        s->accept_paused_until_ms = 0;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
    }
}

void *smap_io_main(void *arg)
{
    struct smap_server *s = arg;
    struct epoll_event events[MAX_EVENTS];

    while (!__atomic_load_n(&s->io_stop, __ATOMIC_ACQUIRE)) {
        int n = epoll_wait(s->epoll_fd, events, MAX_EVENTS, next_timeout(s, clock_ms()));
        if (n < 0 && errno != EINTR)
            msg_fatal("%s: epoll_wait: %s", s->log_name, strerror(errno));
        /*
         * Finished lookups last: handing a reply back may free its connection,
         * and an event of this batch may still point at it.
         */
        bool woken = false;
        for (int i = 0; i < n; i++) {
            void *ptr = events[i].data.ptr;
            if (ptr == &s->wake_fd)
                woken = true;
            else if (ptr == s)
                accept_all(s);
            else
                conn_event(ptr, events[i].events);
        }
        if (woken)
            take_done(s);
        housekeeping(s);
    }
    return NULL;
}

void *smap_worker_main(void *arg)
{
    struct smap_server *s = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stopping && s->jobs_head == NULL)
            pthread_cond_wait(&s->work, &s->lock);
        if (s->stopping)
            break;
        struct smap_conn *c = s->jobs_head;
        s->jobs_head = c->queue_next;
        if (s->jobs_head == NULL)
            s->jobs_tail = NULL;
        smap_count(&s->stats.queue_length, -1);
        smap_count(&s->stats.in_progress, 1);
        pthread_mutex_unlock(&s->lock);

        s->handler(s->context, c->map, c->key, &c->reply);

        pthread_mutex_lock(&s->lock);
        smap_count(&s->stats.in_progress, -1);
        c->queue_next = NULL;
        if (s->done_tail)
            s->done_tail->queue_next = c;
        else
            s->done_head = c;
        s->done_tail = c;
        if (write(s->wake_fd, &one, sizeof(one)) < 0) {
            /* The eventfd counter is already non-zero: the I/O thread will wake. */
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}
