/*
 * receiver.c - the collector socket. Postfix's libtlsrpt sends without
 * blocking, so a datagram not read in time is lost in the kernel. Two
 * threads: the drain thread only moves datagrams from the socket into a
 * lock-free memory ring (recvmmsg, one syscall per batch); the parse
 * thread, at idle priority, parses and counts them. Parsing can never
 * delay draining.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache.h"
#include "collector.h"
#include "ring.h"
#include "util.h"

#define DRAIN_BATCH 64
#define RECORD_TOO_LARGE 1u /* ring_record.flags: the datagram did not fit; no bytes */

struct collector {
    struct collector_settings settings;
    char *socket_path;
    char *counters_dir;
    int fd;
    struct ring *ring;
    pthread_t drain_thread, parse_thread;
    bool started;
    bool stopping; /* atomic: collector_stop() has shut the socket down */
    /* Drain side: receive buffers for one batch. */
    struct mmsghdr msgs[DRAIN_BATCH];
    struct iovec iov[DRAIN_BATCH];
    char *recv_buffers;
    /* Parse side. */
    struct collector_parser *parser;
    struct parse_cache *cache;
    struct ctr_table *table;
    int table_day;
    time_t last_logged[COLLECTOR_REJECT_COUNT];
    time_t last_table_error;
    struct collector_stats stats; /* updated with atomics */
};

#define STAT_ADD(c, field, n) __atomic_fetch_add(&(c)->stats.field, (n), __ATOMIC_RELAXED)

/* Copies one batch into the ring. A full ring makes the drain wait, never drop. */
static void drain_store(struct collector *c, int count, time_t now)
{
    for (int i = 0; i < count; i++) {
        size_t len = c->msgs[i].msg_len;
        bool too_large = len > c->settings.max_datagram_size ||
                         (c->msgs[i].msg_hdr.msg_flags & MSG_TRUNC);
        struct ring_record *record;
        bool counted_wait = false;
        while ((record = ring_reserve(c->ring, too_large ? 0 : len)) == NULL) {
            if (!counted_wait) {
                STAT_ADD(c, ring_waits, 1);
                counted_wait = true;
            }
            ring_publish(c->ring);
            struct timespec pause = {0, 100000};
            nanosleep(&pause, NULL);
        }
        record->flags = too_large ? RECORD_TOO_LARGE : 0;
        record->received = now;
        if (!too_large)
            memcpy(record + 1, c->iov[i].iov_base, len);
    }
    ring_publish(c->ring);
    size_t used = ring_used(c->ring);
    if (used > c->stats.ring_high_water)
        __atomic_store_n(&c->stats.ring_high_water, used, __ATOMIC_RELAXED);
}

static void *drain_main(void *context)
{
    struct collector *c = context;
    size_t slot = c->settings.max_datagram_size + 1;

    for (int i = 0; i < DRAIN_BATCH; i++) {
        c->iov[i].iov_base = c->recv_buffers + (size_t)i * slot;
        c->iov[i].iov_len = slot;
        memset(&c->msgs[i].msg_hdr, 0, sizeof(c->msgs[i].msg_hdr));
        c->msgs[i].msg_hdr.msg_iov = &c->iov[i];
        c->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        /*
         * MSG_WAITFORONE: block for the first, then take what is queued.
         * After collector_stop()'s shutdown() it returns what is still
         * queued, then 0.
         */
        int n = recvmmsg(c->fd, c->msgs, DRAIN_BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            msg_error("collector: recvmmsg on %s: %s", c->socket_path, strerror(errno));
            sleep(1);
            continue;
        }
        if (n == 0)
            break;
        /*
         * A shut-down unix datagram socket keeps returning one empty
         * message: once stopping, an empty message marks the end of what
         * was queued.
         */
        bool at_end = false;
        if (__atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE)) {
            for (int i = 0; i < n; i++) {
                if (c->msgs[i].msg_len == 0) {
                    n = i;
                    at_end = true;
                    break;
                }
            }
        }
        uint64_t bytes = 0;
        for (int i = 0; i < n; i++)
            bytes += c->msgs[i].msg_len;
        STAT_ADD(c, received, (uint64_t)n);
        STAT_ADD(c, bytes, bytes);
        if (n > 0)
            drain_store(c, n, time(NULL));
        if (at_end)
            break;
    }
    ring_close(c->ring);
    return NULL;
}

/* Printable excerpt of a rejected datagram for the log: bytes escaped. */
static void log_sample(const char *data, size_t len, struct buf *out)
{
    size_t shown = len < 200 ? len : 200;

    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = (unsigned char)data[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            buf_putc(out, ch);
        else
            buf_printf(out, "\\x%02x", ch);
    }
    if (shown < len)
        buf_printf(out, "... (%zu bytes)", len);
}

static void count_reject(struct collector *c, enum collector_reject reason, const char *detail,
                         const char *data, size_t len, time_t now)
{
    STAT_ADD(c, rejected, 1);
    uint64_t so_far = STAT_ADD(c, rejected_by[reason], 1) + 1;
    /* At most one sample per reason per interval: a flood must not flood the log. */
    if (now - c->last_logged[reason] < c->settings.log_interval)
        return;
    c->last_logged[reason] = now;
    struct buf sample;
    buf_init(&sample);
    log_sample(data, len, &sample);
    msg_warn("collector: rejected datagram: %s (%s); %llu so far for this reason; sample: %s",
             collector_reject_name(reason), detail, (unsigned long long)so_far,
             buf_cstr(&sample));
    buf_free(&sample);
}

static struct ctr_table *table_for(struct collector *c, int day, time_t now)
{
    char *error;

    if (c->table && c->table_day == day)
        return c->table;
    if (c->table)
        ctr_close(c->table);
    c->table = ctr_open(c->counters_dir, day, CTR_READ_WRITE, &c->settings.limits, &error);
    c->table_day = day;
    if (c->table == NULL) {
        if (now - c->last_table_error >= c->settings.log_interval) {
            msg_error("collector: cannot count events: %s", error);
            c->last_table_error = now;
        }
        free(error);
    }
    return c->table;
}

static void process_record(struct collector *c, const struct ring_record *header)
{
    const char *data = (const char *)(header + 1);
    const struct tr_event *event;
    enum collector_reject reason;
    const char *detail;
    time_t when = (time_t)header->received;

    if (header->flags & RECORD_TOO_LARGE) {
        count_reject(c, COLLECTOR_REJECT_TOO_LARGE, "datagram", "", 0, when);
        return;
    }
    struct tr_event *cached = parse_cache_lookup(c->cache, data, header->len);
    if (cached) {
        cached->time = when;
        event = cached;
        STAT_ADD(c, parse_cache_hits, 1);
    } else if (collector_parse(c->parser, data, header->len, when, &event, &reason, &detail) <
               0) {
        count_reject(c, reason, detail, data, header->len, when);
        return;
    } else {
        parse_cache_store(c->cache, data, header->len, event);
    }
    struct ctr_table *table = table_for(c, day_from_time(when), when);
    if (table == NULL) {
        STAT_ADD(c, table_errors, 1);
        return;
    }
    if (ctr_add(table, event) != 0)
        STAT_ADD(c, events_overflowed, 1);
    STAT_ADD(c, accepted, 1);
}

static void *parse_main(void *context)
{
    struct collector *c = context;
    struct sched_param param = {0};
    const struct ring_record *record;

    /* Idle priority: the drain thread and the MTA always come first. */
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
    while ((record = ring_next(c->ring)) != NULL) {
        process_record(c, record);
        ring_release(c->ring, record);
    }
    return NULL;
}

int collector_max_dgram_qlen(void)
{
    FILE *f = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
    int value = -1;

    if (f) {
        if (fscanf(f, "%d", &value) != 1)
            value = -1;
        fclose(f);
    }
    return value;
}

struct collector *collector_open(const struct collector_settings *settings, char **error_r)
{
    struct collector *c = xcalloc(1, sizeof(*c));
    int buffer_size = 8 * 1024 * 1024;

    c->settings = *settings;
    c->socket_path = xstrdup(settings->socket_path);
    c->counters_dir = xstrdup(settings->counters_dir);
    c->settings.socket_path = c->socket_path;
    c->settings.counters_dir = c->counters_dir;
    c->fd = unix_socket_bind(c->socket_path, SOCK_DGRAM, settings->owner, settings->group,
                             settings->mode, error_r);
    if (c->fd < 0) {
        free(c->socket_path);
        free(c->counters_dir);
        free(c);
        return NULL;
    }
    /* Bigger than the default, for bursts; the root-only FORCE variant first. */
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer_size, sizeof(buffer_size)) < 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &buffer_size, sizeof(buffer_size));
    c->ring = ring_create(settings->ring_size);
    c->recv_buffers = xcalloc(DRAIN_BATCH, settings->max_datagram_size + 1);
    c->parser = collector_parser_create(settings->max_datagram_size);
    c->cache = parse_cache_create();
    c->table_day = -1;
    return c;
}

int collector_start(struct collector *c, char **error_r)
{
    int err;

    /* The drain thread blocks in recvmmsg: make the socket blocking. */
    int flags = fcntl(c->fd, F_GETFL);
    if (flags < 0 || fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        *error_r = xasprintf("%s: cannot make the socket blocking: %s", c->socket_path,
                             strerror(errno));
        return -1;
    }
    if ((err = pthread_create(&c->parse_thread, NULL, parse_main, c)) != 0 ||
        (err = pthread_create(&c->drain_thread, NULL, drain_main, c)) != 0) {
        *error_r = xasprintf("collector: cannot start threads: %s", strerror(err));
        return -1;
    }
    c->started = true;
    return 0;
}

void collector_stats(struct collector *c, struct collector_stats *stats)
{
    const uint64_t *from = (const uint64_t *)&c->stats;
    uint64_t *to = (uint64_t *)stats;

    for (size_t i = 0; i < sizeof(*stats) / sizeof(uint64_t); i++)
        to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
}

void collector_stop(struct collector *c)
{
    if (c->started) {
        /*
         * shutdown() wakes the blocked recvmmsg, which still hands over what
         * is queued; the parser then counts everything left in the ring.
         */
        __atomic_store_n(&c->stopping, true, __ATOMIC_RELEASE);
        shutdown(c->fd, SHUT_RDWR);
        pthread_join(c->drain_thread, NULL);
        pthread_join(c->parse_thread, NULL);
        c->started = false;
    }
}

void collector_close(struct collector *c)
{
    if (c == NULL)
        return;
    collector_stop(c);
    close(c->fd);
    unlink(c->socket_path);
    if (c->table)
        ctr_close(c->table);
    collector_parser_destroy(c->parser);
    parse_cache_destroy(c->cache);
    ring_destroy(c->ring);
    free(c->recv_buffers);
    free(c->socket_path);
    free(c->counters_dir);
    free(c);
}
