/*
 * ring.h - the byte ring between the collector's drain thread (the only
 * producer) and its parse thread (the only consumer). Lock-free: the
 * producer never takes a lock or makes a system call on the fast path, so
 * draining the socket never waits for the parser.
 */
#ifndef TLSRPT_COLLECTOR_RING_H
#define TLSRPT_COLLECTOR_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each record: this header, then `len` bytes, padded to 8. */
struct ring_record {
    uint32_t len;
    uint32_t flags;
    int64_t received;
};

struct ring;
struct ring *ring_create(size_t size);
void ring_destroy(struct ring *ring);

/* Producer ------------------------------------------------------------- */
/* Space for one record of len bytes, or NULL while the ring is full. */
struct ring_record *ring_reserve(struct ring *ring, size_t len);
/* Makes every reserved record visible; wakes a consumer in a long sleep. */
void ring_publish(struct ring *ring);
/* No more records will come; the consumer drains and then stops. */
void ring_close(struct ring *ring);
/* Bytes in use, for the high-water mark. */
size_t ring_used(struct ring *ring);

/* Consumer ------------------------------------------------------------- */
/*
 * The next record, waiting for one when the ring is empty (polling with a
 * sleep that doubles from 1 ms to 1 s while idle). NULL once the ring is
 * closed and empty.
 */
const struct ring_record *ring_next(struct ring *ring);
/* Releases the record ring_next() returned. */
void ring_release(struct ring *ring, const struct ring_record *record);

#endif
