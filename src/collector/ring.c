/*
 * ring.c - a single-producer single-consumer byte ring over the journal's
 * mapped file. head and tail count bytes ever published and consumed and
 * live in the file; records never wrap (a marker sends the consumer back to
 * offset 0). The consumer takes what is there, then sleeps, longer while
 * idle; only a long sleep costs the producer a wakeup.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring.h"
#include "util.h"

#define RECORD_ALIGN 8
#define RECORD_WRAP UINT32_MAX
#define SLEEP_MIN_MS 1
#define SLEEP_MAX_MS 1000
/* A consumer sleeping at least this long is woken by the producer. */
#define SLEEP_WAKE_MS 8
/*
 * After the last record the consumer looks again for a moment (a few
 * microseconds), then sleeps a millisecond: the journal holds what comes
 * meanwhile, and it counts that as one batch. It used to spin for 2 ms,
 * which at a steady trickle kept a CPU busy (4-5x the bare drain's CPU per
 * datagram in bench_collector) for no gain in what is counted.
 */
#define SPIN_ROUNDS 256

struct ring {
    char *data;
    size_t size;
    size_t max_len;
    uint64_t *head;       /* atomic: bytes published (producer), in the file */
    uint64_t *tail;       /* atomic: bytes released (consumer), in the file */
    uint64_t reserved;    /* producer only: head plus unpublished records */
    uint64_t next;        /* consumer only: position after the record handed out */
    int sleep_ms;         /* atomic: how long the consumer is sleeping, 0 awake */
    int idle_ms;          /* consumer only: the next sleep */
    bool closed;          /* atomic */
    pthread_mutex_t lock; /* only for sleeping and waking */
    pthread_cond_t wake;
};

static size_t record_space(size_t len)
{
    size_t total = sizeof(struct ring_record) + len;
    return (total + RECORD_ALIGN - 1) & ~(size_t)(RECORD_ALIGN - 1);
}

struct ring *ring_attach(void *data, size_t size, uint64_t *head, uint64_t *tail, size_t max_len)
{
    struct ring *ring = xcalloc(1, sizeof(*ring));

    ring->data = data;
    ring->size = size & ~(size_t)(RECORD_ALIGN - 1);
    ring->max_len = max_len;
    ring->head = head;
    ring->tail = tail;
    ring->reserved = __atomic_load_n(head, __ATOMIC_ACQUIRE);
    ring->next = __atomic_load_n(tail, __ATOMIC_ACQUIRE);
    ring->idle_ms = SLEEP_MIN_MS;
    pthread_mutex_init(&ring->lock, NULL);
    pthread_cond_init(&ring->wake, NULL);
    return ring;
}

void ring_destroy(struct ring *ring)
{
    if (ring == NULL)
        return;
    pthread_mutex_destroy(&ring->lock);
    pthread_cond_destroy(&ring->wake);
    free(ring);
}

struct ring_record *ring_reserve(struct ring *ring, size_t len)
{
    size_t need = record_space(len);
    uint64_t tail = __atomic_load_n(ring->tail, __ATOMIC_ACQUIRE);
    size_t position = ring->reserved % ring->size;
    size_t at_end = ring->size - position;
    size_t total = at_end < need ? at_end + need : need;

    if (need > ring->size || ring->size - (ring->reserved - tail) < total)
        return NULL;
    if (at_end < need) {
        /* The rest of the ring is skipped; at_end >= 8, so the marker fits. */
        *(uint32_t *)(ring->data + position) = RECORD_WRAP;
        ring->reserved += at_end;
        position = 0;
    }
    ring->reserved += need;
    struct ring_record *record = (struct ring_record *)(ring->data + position);
    record->len = (uint32_t)len;
    return record;
}

static uint64_t record_check(const struct ring_record *record)
{
    uint64_t fields[2] = {(uint64_t)record->len << 32 | record->flags, (uint64_t)record->received};

    return hash64(record + 1, record->len, hash64(fields, sizeof(fields), 0));
}

void ring_seal(struct ring_record *record)
{
    record->check = record_check(record);
}

static void ring_wake(struct ring *ring)
{
    pthread_mutex_lock(&ring->lock);
    pthread_cond_signal(&ring->wake);
    pthread_mutex_unlock(&ring->lock);
}

void ring_publish(struct ring *ring)
{
    __atomic_store_n(ring->head, ring->reserved, __ATOMIC_RELEASE);
}

void ring_publish_done(struct ring *ring)
{
    /*
     * The fence orders the head stores before the sleep_ms load against the
     * consumer's sequentially consistent sleep_ms store and head load: either
     * it sees the new head, or this sees it asleep and wakes it.
     */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ring->sleep_ms, __ATOMIC_RELAXED) >= SLEEP_WAKE_MS)
        ring_wake(ring);
}

void ring_close(struct ring *ring)
{
    __atomic_store_n(&ring->closed, true, __ATOMIC_SEQ_CST);
    ring_wake(ring);
}

size_t ring_pending(struct ring *ring)
{
    return (size_t)(__atomic_load_n(ring->head, __ATOMIC_ACQUIRE) -
                    __atomic_load_n(ring->tail, __ATOMIC_ACQUIRE));
}

size_t ring_used(struct ring *ring)
{
    return (size_t)(ring->reserved - __atomic_load_n(ring->tail, __ATOMIC_ACQUIRE));
}

static void ring_sleep(struct ring *ring, int ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)ms * 1000000;
    until.tv_sec += until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    pthread_mutex_lock(&ring->lock);
    pthread_cond_timedwait(&ring->wake, &ring->lock, &until);
    pthread_mutex_unlock(&ring->lock);
}

/* True when a record was published while spinning right after the last one. */
static bool ring_spin(struct ring *ring)
{
    if (ring->idle_ms != SLEEP_MIN_MS)
        return false; /* idle for a while already: sleep */
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (__atomic_load_n(ring->head, __ATOMIC_ACQUIRE) != ring->next)
            return true;
        __builtin_ia32_pause();
    }
    return false;
}

/*
 * A record the producer wrote completely? Only a machine crash that wrote
 * back part of a page makes one that is not. Returns 0 when sound, else the
 * bytes to skip: the record alone when its length still fits (its bytes are
 * bad), everything up to head when even the length cannot be trusted.
 */
static uint64_t record_damage(const struct ring *ring, const struct ring_record *record,
                              size_t position, uint64_t head)
{
    size_t space = record->len <= ring->max_len ? record_space(record->len) : SIZE_MAX;

    if (space > ring->size - position || space > head - ring->next)
        return head - ring->next;
    return record->check == record_check(record) ? 0 : space;
}

const struct ring_record *ring_next(struct ring *ring, uint64_t *damaged_r)
{
    for (;;) {
        uint64_t head = __atomic_load_n(ring->head, __ATOMIC_ACQUIRE);
        while (ring->next < head) {
            size_t position = ring->next % ring->size;
            const struct ring_record *record =
                (const struct ring_record *)(ring->data + position);
            if (ring->size - position < sizeof(struct ring_record) ||
                record->len == RECORD_WRAP) {
                ring->next += ring->size - position;
                continue;
            }
            uint64_t skip = record_damage(ring, record, position, head);
            if (skip > 0) {
                msg_error("collector journal: damaged record at byte %llu: skipping %llu bytes%s",
                          (unsigned long long)ring->next, (unsigned long long)skip,
                          ring->next + skip == head ? ", up to the write position" : "");
                *damaged_r += 1;
                ring->next += skip;
                continue;
            }
            ring->idle_ms = SLEEP_MIN_MS;
            ring->next += record_space(record->len);
            return record;
        }
        /* Everything before next is done with, markers included. */
        __atomic_store_n(ring->tail, ring->next, __ATOMIC_RELEASE);
        if (ring_spin(ring))
            continue;
        if (__atomic_load_n(&ring->closed, __ATOMIC_SEQ_CST) &&
            ring->next == __atomic_load_n(ring->head, __ATOMIC_SEQ_CST))
            return NULL;
        /* Announce the sleep, then look again, so a publish cannot slip by. */
        __atomic_store_n(&ring->sleep_ms, ring->idle_ms, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(ring->head, __ATOMIC_SEQ_CST) == ring->next &&
            !__atomic_load_n(&ring->closed, __ATOMIC_SEQ_CST))
            ring_sleep(ring, ring->idle_ms);
        __atomic_store_n(&ring->sleep_ms, 0, __ATOMIC_SEQ_CST);
        if (ring->idle_ms < SLEEP_MAX_MS)
            ring->idle_ms *= 2;
    }
}

uint64_t ring_record_end(const struct ring *ring)
{
    return ring->next;
}

void ring_release(struct ring *ring, const struct ring_record *record)
{
    (void)record;
    /* Records are released in order: everything before next is free. */
    __atomic_store_n(ring->tail, ring->next, __ATOMIC_RELEASE);
}

void ring_skip_to(struct ring *ring, uint64_t end)
{
    ring->next = end;
    __atomic_store_n(ring->tail, end, __ATOMIC_RELEASE);
}
