/*
 * receiver.c - the collector socket. Postfix's libtlsrpt sends without
 * blocking, so a datagram not read in time is lost in the kernel. Two
 * threads: the drain thread only moves datagrams from the socket into the
 * journal, a lock-free ring in a mapped file (recvmmsg, one syscall per
 * batch); the parse thread, at idle priority, parses and counts them,
 * exactly once across kills (see count_record). Parsing never delays
 * draining, and a crash loses nothing the drain thread had appended.
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
#include "journal.h"
#include "ring.h"
#include "util.h"

#define DRAIN_BATCH 64
#define RECORD_TOO_LARGE 1u /* ring_record.flags: the datagram did not fit; no bytes */
/* While no table can be opened, counting is tried again after 1 s, doubling to 60 s. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 60000

struct collector {
    struct collector_settings settings;
    char *socket_path;
    char *counters_dir;
    char *journal_path;
    int fd;
    struct journal *journal;
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
    struct msg_rate table_rate;
    int retry_ms;
    uint64_t records_done; /* this run, for the crash hooks */
    struct journal_cell cells[JOURNAL_MAX_CELLS];
    struct ctr_cell ctr_cells[JOURNAL_MAX_CELLS];
    /* Drain side: journal full warnings. */
    struct msg_rate full_rate;
    uint64_t full_reported;
    struct collector_stats stats; /* updated with atomics */
};

#define STAT_ADD(c, field, n) __atomic_fetch_add(&(c)->stats.field, (n), __ATOMIC_RELAXED)

static void crash_point(struct collector *c, enum collector_crash_point point)
{
    if (c->settings.crash_at == point && c->records_done == c->settings.crash_after)
        _exit(0);
}

/* One warning when the journal fills, then a summary at most once a minute. */
static void warn_full(struct collector *c, time_t now)
{
    uint64_t dropped = __atomic_load_n(&c->stats.dropped_full, __ATOMIC_RELAXED);
    uint64_t held_back;

    if (dropped == c->full_reported || !msg_rate_allow(&c->full_rate, now, &held_back))
        return;
    msg_warn("collector: journal %s full (%zu bytes not yet counted): %llu datagrams could "
             "not be kept so far (%llu since the last warning); the parser is behind or "
             "cannot count",
             c->journal_path, ring_used(c->ring), (unsigned long long)dropped,
             (unsigned long long)(dropped - c->full_reported));
    c->full_reported = dropped;
}

/*
 * Copies one batch into the journal and publishes it. A full journal never
 * makes the drain stop reading: what does not fit is counted and dropped.
 */
static void drain_store(struct collector *c, int count, time_t now)
{
    uint64_t dropped = 0;

    for (int i = 0; i < count; i++) {
        size_t len = c->msgs[i].msg_len;
        bool too_large = len > c->settings.max_datagram_size ||
                         (c->msgs[i].msg_hdr.msg_flags & MSG_TRUNC);
        struct ring_record *record = ring_reserve(c->ring, too_large ? 0 : len);
        if (record == NULL) {
            dropped++;
            continue;
        }
        record->flags = too_large ? RECORD_TOO_LARGE : 0;
        record->received = now;
        if (c->settings.crash_at == COLLECTOR_CRASH_TORN_APPEND &&
            journal_appended(c->journal) == c->settings.crash_after) {
            memcpy(record + 1, c->iov[i].iov_base, too_large ? 0 : len / 2);
            _exit(0);
        }
        if (!too_large)
            memcpy(record + 1, c->iov[i].iov_base, len);
        ring_seal(record);
        /* Each record published at once: a kill loses at most the one being copied. */
        ring_publish(c->ring);
        journal_add_appended(c->journal, 1);
    }
    ring_publish_done(c->ring);
    if (dropped > 0) {
        STAT_ADD(c, dropped_full, dropped);
        warn_full(c, now);
    }
    size_t used = ring_used(c->ring);
    if (used > c->stats.ring_high_water)
        __atomic_store_n(&c->stats.ring_high_water, used, __ATOMIC_RELAXED);
}

static void *drain_main(void *context)
{
    struct collector *c = context;
    size_t slot = c->settings.max_datagram_size + 1;

    /* Named, for top -H and perf. */
    pthread_setname_np(pthread_self(), "tlsrptd-drain");
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
        if (n > 0)
            drain_store(c, n, time(NULL));
        /* After the store: a datagram counted as received is in the journal or dropped. */
        STAT_ADD(c, received, (uint64_t)n);
        STAT_ADD(c, bytes, bytes);
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
        uint64_t held_back;
        STAT_ADD(c, table_errors, 1);
        if (msg_rate_allow(&c->table_rate, now, &held_back))
            msg_error("collector: cannot count events: %s; datagrams wait in the journal and "
                      "are counted once it can be opened (%llu more failures in the last minute)",
                      error, (unsigned long long)held_back);
        free(error);
    } else if (c->table_rate.last != 0) {
        msg_info("collector: counting again in %s", c->counters_dir);
        c->table_rate = (struct msg_rate){0};
    }
    return c->table;
}

/*
 * Stores a record's counts exactly once. The counts are absolute values of
 * the collector's own cells (nobody else writes them), written first into
 * the journal's intent with the record's end as the commit mark; then they
 * are stored, then the record is released (the tail moves past it). A kill
 * before the mark: nothing was stored and the record is counted after the
 * restart. After the mark: the restart stores the same values again
 * (harmless) and moves the tail. Only the table-full overflow count is an
 * increment, so an overflowing table can count one event twice per kill.
 */
static void count_record(struct collector *c, struct ctr_table *table, int day,
                         const struct tr_event *event)
{
    bool incomplete;
    int n = ctr_collector_cells(table, event, c->ctr_cells, JOURNAL_MAX_CELLS, &incomplete);

    if (n < 0)
        msg_panic("collector: an event of more than %d counters", JOURNAL_MAX_CELLS);
    for (int i = 0; i < n; i++) {
        struct ctr_cell cell = c->ctr_cells[i];
        uint64_t value = 0;
        int j;
        /* An event can name one counter twice (two equal policies): add, do not reset. */
        for (j = i - 1; j >= 0; j--)
            if (c->cells[j].slot == cell.slot && c->cells[j].field == cell.field)
                break;
        if (j >= 0)
            value = c->cells[j].value;
        else if (!ctr_cell_get(table, cell, &value))
            msg_panic("collector: counter %u/%u is not the collector's", cell.slot, cell.field);
        c->cells[i] = (struct journal_cell){cell.slot, cell.field, value + 1};
    }
    journal_intent(c->journal, day, c->cells, (size_t)n, ring_record_end(c->ring));
    crash_point(c, COLLECTOR_CRASH_AFTER_INTENT);
    for (int i = 0; i < n; i++) {
        if (i == n / 2)
            crash_point(c, COLLECTOR_CRASH_HALF_STORED);
        (void)ctr_cell_set(table, (struct ctr_cell){c->cells[i].slot, c->cells[i].field},
                           c->cells[i].value);
    }
    if (n == 1 && c->cells[0].slot == CTR_SLOT_LATE)
        STAT_ADD(c, events_late, 1);
    if (incomplete) {
        (void)ctr_count_overflow(table, event->domain);
        STAT_ADD(c, events_overflowed, 1);
    }
    STAT_ADD(c, accepted, 1);
    crash_point(c, COLLECTOR_CRASH_STORED);
}

/* At start: stores the counts of an intent a kill interrupted. false: no table yet. */
static bool finish_intent(struct collector *c)
{
    const struct journal_cell *cells;
    size_t n;
    uint64_t end;
    int day;

    if (!journal_intent_pending(c->journal, &day, &cells, &n, &end))
        return true;
    struct ctr_table *table = table_for(c, day, time(NULL));
    if (table == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ctr_cell_set(table, (struct ctr_cell){cells[i].slot, cells[i].field}, cells[i].value))
            msg_warn("%s: counter %u/%u of the interrupted datagram is not the collector's: "
                     "not stored",
                     c->journal_path, cells[i].slot, cells[i].field);
    ring_skip_to(c->ring, end);
    msg_info("collector: finished counting the datagram a kill interrupted");
    return true;
}

/* Parses and counts one record; false when no table can be opened (try again later). */
static bool process_record(struct collector *c, const struct ring_record *header)
{
    const char *data = (const char *)(header + 1);
    const struct tr_event *event;
    enum collector_reject reason;
    const char *detail;
    time_t when = (time_t)header->received;

    if (header->flags & RECORD_TOO_LARGE) {
        count_reject(c, COLLECTOR_REJECT_TOO_LARGE, "datagram", "", 0, when);
        return true;
    }
    /* The table first: a datagram that waits for it is parsed again, not counted twice. */
    int day = day_from_time(when);
    struct ctr_table *table = table_for(c, day, time(NULL));
    if (table == NULL)
        return false;
    uint64_t hash;
    struct tr_event *cached = parse_cache_lookup(c->cache, data, header->len, &hash);
    if (cached) {
        cached->time = when;
        event = cached;
        STAT_ADD(c, parse_cache_hits, 1);
    } else if (collector_parse(c->parser, data, header->len, when, &event, &reason, &detail) <
               0) {
        count_reject(c, reason, detail, data, header->len, when);
        return true;
    } else {
        parse_cache_store(c->cache, data, header->len, hash, event);
    }
    count_record(c, table, day, event);
    return true;
}

/*
 * Waits before trying a table again: 1 s, doubling to a minute. false when
 * the collector is stopping: the rest stays in the journal for the next start.
 */
static bool retry_wait(struct collector *c)
{
    int waited = 0;

    if (c->table) {
        ctr_close(c->table);
        c->table = NULL;
    }
    c->table_day = -1;
    if (c->retry_ms == 0)
        c->retry_ms = RETRY_MIN_MS;
    else if ((c->retry_ms *= 2) > RETRY_MAX_MS)
        c->retry_ms = RETRY_MAX_MS;
    while (waited < c->retry_ms) {
        if (__atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE)) {
            msg_warn("collector: stopping while no counter table can be opened: %zu bytes of "
                     "datagrams stay in %s and are counted at the next start",
                     ring_pending(c->ring), c->journal_path);
            return false;
        }
        struct timespec pause = {0, 50 * 1000000};
        nanosleep(&pause, NULL);
        waited += 50;
    }
    return true;
}

static void *parse_main(void *context)
{
    struct collector *c = context;
    struct sched_param param = {0};
    const struct ring_record *record;
    uint64_t damaged = 0;

    pthread_setname_np(pthread_self(), "tlsrptd-parse");
    /* Idle priority: the drain thread and the MTA always come first. */
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
    while (!finish_intent(c))
        if (!retry_wait(c))
            return NULL;
    while ((record = ring_next(c->ring, &damaged)) != NULL) {
        while (!process_record(c, record))
            if (!retry_wait(c))
                return NULL;
        c->retry_ms = 0;
        c->records_done++;
        ring_release(c->ring, record);
        STAT_ADD(c, dropped_damaged, damaged);
        damaged = 0;
    }
    STAT_ADD(c, dropped_damaged, damaged);
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
    c->journal_path = xstrdup(settings->journal_path);
    c->settings.socket_path = c->socket_path;
    c->settings.counters_dir = c->counters_dir;
    c->settings.journal_path = c->journal_path;
    c->journal = journal_open(c->journal_path, settings->ring_size, settings->owner, error_r);
    if (c->journal != NULL)
        c->fd = unix_socket_bind(c->socket_path, SOCK_DGRAM, settings->owner, settings->group,
                                 settings->mode, error_r);
    if (c->journal == NULL || c->fd < 0) {
        journal_close(c->journal);
        free(c->socket_path);
        free(c->counters_dir);
        free(c->journal_path);
        free(c);
        return NULL;
    }
    /* Bigger than the default, for bursts; the root-only FORCE variant first. */
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer_size, sizeof(buffer_size)) < 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &buffer_size, sizeof(buffer_size));
    c->ring = journal_ring(c->journal);
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
    stats->journal_appended = journal_appended(c->journal);
    stats->journal_pending = ring_pending(c->ring);
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
    journal_close(c->journal);
    free(c->recv_buffers);
    free(c->socket_path);
    free(c->counters_dir);
    free(c->journal_path);
    free(c);
}
