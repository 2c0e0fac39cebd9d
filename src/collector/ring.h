/*
 * ring.h - the byte ring between the collector's drain thread (the only
 * producer) and its parse thread (the only consumer), laid over the
 * journal's mapped file (journal.h). Lock-free: the producer never takes a
 * lock or makes a system call on the fast path, so draining the socket
 * never waits for the parser.
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
    uint64_t check; /* ring_seal(): hash64 of the fields above and the bytes */
};

struct ring;
/*
 * A ring over size bytes at data (a multiple of 8). *head (bytes ever
 * published) and *tail (bytes ever consumed) live with the data, so a ring
 * laid over the same memory again carries on where the last one stopped.
 * max_len: longer records are taken for damage.
 */
struct ring *ring_attach(void *data, size_t size, uint64_t *head, uint64_t *tail, size_t max_len);
void ring_destroy(struct ring *ring);

/* Producer ------------------------------------------------------------- */
/* Space for one record of len bytes, or NULL while the ring is full. */
struct ring_record *ring_reserve(struct ring *ring, size_t len);
/* Sets the checksum of a filled record, before ring_publish(). */
void ring_seal(struct ring_record *record);
/* Makes every reserved record visible (a release store: cheap, once per record). */
void ring_publish(struct ring *ring);
/* After a batch of ring_publish(): wakes a consumer in a long sleep (one fence per batch). */
void ring_publish_done(struct ring *ring);
/* No more records will come; the consumer drains and then stops. */
void ring_close(struct ring *ring);
/* Bytes in use, for the high-water mark. */
size_t ring_used(struct ring *ring);
/* Bytes published and not yet consumed; from any thread. */
size_t ring_pending(struct ring *ring);

/* Consumer ------------------------------------------------------------- */
/*
 * The next record, waiting for one when the ring is empty (polling with a
 * sleep that doubles from 1 ms to 1 s while idle). NULL once the ring is
 * closed and empty. A damaged record (a machine crash wrote back part of a
 * page) is logged, skipped and counted in *damaged_r: alone when only its
 * checksum is wrong, with everything up to the write position when its
 * length is impossible.
 */
const struct ring_record *ring_next(struct ring *ring, uint64_t *damaged_r);
/* Where the record ring_next() returned ends: the tail once it is released. */
uint64_t ring_record_end(const struct ring *ring);
/* Releases the record ring_next() returned. */
void ring_release(struct ring *ring, const struct ring_record *record);
/* Moves the consumer to `end` (a crash recovery finished a record there). */
void ring_skip_to(struct ring *ring, uint64_t end);

#endif
