/*
 * table_impl.h - private to src/counters: the on-disk layout of a day's
 * counter table, the in-process handle, and the helpers the table, key,
 * insert, snapshot and days files share. Nothing outside src/counters
 * includes it.
 */
#ifndef TLSRPT_COUNTERS_TABLE_IMPL_H
#define TLSRPT_COUNTERS_TABLE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "counters.h"
#include "util.h"

/*
 * File layout (all integers in host byte order; the file never leaves the
 * host, and byte_order refuses one that did):
 *
 *   [0, 4096)              struct ctr_file_header
 *   [slots_offset, ...)    slot_count x struct ctr_slot, in segments
 *   [overflow_offset, ...) overflow_slot_count x struct ctr_overflow_slot
 *   [strings_offset, ...)  string_space bytes of arena: key encodings
 *
 * Version 2 files are sparse: they are made at their largest size, but only
 * what is in use has disk blocks (reserved with posix_fallocate, so a store
 * never meets a hole on a full disk). The slots come in segments, each its
 * own open-addressing table of a power-of-two size: segment 0 has
 * first_slots, segment k >= 1 has first_slots << (k - 1) and starts there,
 * so the published segments are always the slots [0, first_slots << (n-1))
 * and a slot's index never changes. A segment is added (blocks reserved,
 * then `segments` stored with release) when the ones before hold half their
 * slots in entries; new keys go into the last one. The arena likewise has
 * blocks up to string_reserved. A version 1 file is one segment with every
 * block reserved, and its keys hashed as their encoding (ctr_hash).
 *
 * The counters live in shared memory and are updated with 64-bit atomics;
 * a slot becomes visible when its hash is stored (release) after all of its
 * other fields, so a writer killed at any instant leaves either a complete
 * slot or an invisible one.
 */
#define CTR_MAGIC "TLSRPTCT"
#define CTR_MAGIC_SIZE 8
#define CTR_FORMAT_VERSION 2u
#define CTR_FORMAT_VERSION_FIXED 1u /* one segment, read and written still */
#define CTR_BYTE_ORDER_MARK 0x01020304u
#define CTR_HEADER_SIZE 4096u
#define CTR_FILE_SUFFIX ".ctr"

/* Bounds on the configured sizes: keep every offset far from overflowing. */
#define CTR_MAX_ENTRIES_LIMIT (1u << 28)
#define CTR_STRING_SPACE_LIMIT UINT32_MAX /* slot offsets are 32-bit */
#define CTR_DEFAULT_MAX_ENTRIES (1u << 24)
#define CTR_DEFAULT_STRING_SPACE (3ull << 30)
#define CTR_SMALL_SYSTEM_ENTRIES (1u << 22)          /* 256 MiB of slots */
#define CTR_SMALL_SYSTEM_STRING_SPACE (256ull << 20) /* on 32-bit systems */
/*
 * Segment 0: what a day gets at once (4 MiB of slots, or a quarter of the
 * whole when that is less), and the arena's first blocks.
 */
#define CTR_FIRST_SLOTS (1u << 17)
#define CTR_STRING_RESERVE_MIN (1u << 20)
#define CTR_MAX_SEGMENTS 32u

/* Overflow records: one per domain, at most half of the slots are used. */
#define CTR_OVERFLOW_MIN_SLOTS 32u
#define CTR_OVERFLOW_MAX_SLOTS 2048u /* 1024 domains */
#define CTR_OVERFLOW_DOMAIN_SIZE 256 /* TR_MAX_DOMAIN + NUL, rounded */

struct ctr_file_header {
    char magic[CTR_MAGIC_SIZE];
    uint32_t version;
    uint32_t header_size;
    uint32_t byte_order;
    int32_t day;
    /* Sizes fixed at creation; the layout is recomputed and compared on open. */
    uint32_t max_entries;
    uint32_t slot_count;
    uint32_t overflow_slot_count;
    uint32_t first_slots; /* of segment 0 (version 2; 0 in version 1) */
    uint64_t string_space;
    uint64_t slots_offset;
    uint64_t overflow_offset;
    uint64_t strings_offset;
    uint64_t file_size;
    /* Per-file hash seed, so crafted domains cannot force long probe runs. */
    uint64_t hash_seed;
    /* hash64 of a fixed text with hash_seed: refuses files from another hash64. */
    uint64_t hash_check;
    int64_t created; /* time(), informative */

    /*
     * Mutable state, only through __atomic builtins. entries_used and
     * string_used count reservations: an insert interrupted by kill -9 leaks
     * its reservation rather than letting the slots fill up.
     */
    uint64_t string_used;
    uint64_t overflow_events;
    uint64_t lost_events;
    uint32_t entries_used;
    uint32_t overflow_domains;
    uint32_t reported;
    /*
     * Set by the report builder before its snapshot: from then on events
     * are late, so the snapshot is all the report will ever hold, also when
     * the build is repeated after a crash (0 in older files: was reserved).
     */
    uint32_t closed;
    /*
     * Events that arrived after the reports were built, counted here only:
     * [0] by ctr_add (atomic adds), [1] the log follower and [2] the
     * collector (absolute values, cells {CTR_SLOT_LATE, 1 or 2}). Zero in
     * files made before these fields existed.
     */
    uint64_t late_events[3];
    /*
     * Version 2: segments published (release, after their blocks were
     * reserved) and arena bytes with blocks; changed under the insert lock.
     */
    uint32_t segments;
    uint32_t reserved1;
    uint64_t string_reserved;
};

/* The first byte of every encoding in the arena says what the slot holds. */
enum ctr_slot_kind {
    CTR_KIND_KEY = 'K',    /* policy key: count[0] success, count[1] failure */
    CTR_KIND_LOG_KEY = 'L', /* the same, written only by the log follower (ctr_log_cells) */
    CTR_KIND_COLLECTOR_KEY = 'C', /* the same, written only by the collector's parse thread */
    CTR_KIND_DETAIL = 'D', /* failure detail row of a key slot: count[0] */
};

struct ctr_slot {
    uint64_t hash;   /* 0: empty; stored last, with release */
    uint32_t offset; /* of the encoding in the string arena */
    uint32_t length; /* of the encoding */
    uint64_t count[2];
};

struct ctr_overflow_slot {
    uint64_t hash; /* 0: empty; stored last, with release */
    uint64_t events;
    char domain[CTR_OVERFLOW_DOMAIN_SIZE]; /* NUL-terminated */
};

_Static_assert(sizeof(struct ctr_file_header) <= CTR_HEADER_SIZE, "header fits its page");
_Static_assert(sizeof(struct ctr_slot) == 32, "slot layout is part of the file format");
_Static_assert(sizeof(struct ctr_overflow_slot) % 8 == 0, "overflow slots stay aligned");
/* Counters shared between processes must not fall back to libatomic's locks. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "lock-free 64-bit atomics");

/* The sizes and offsets that follow from (version, max_entries, string_space). */
struct ctr_layout {
    uint32_t max_entries;
    uint32_t slot_count;
    uint32_t first_slots;
    uint32_t max_segments;
    uint32_t overflow_slot_count;
    uint64_t string_space;
    uint64_t slots_offset;
    uint64_t overflow_offset;
    uint64_t strings_offset;
    uint64_t file_size;
};

/*
 * The in-process handle. The layout is copied from the validated header at
 * open and never re-read from the file, so a damaged file cannot move the
 * bounds the code checks against.
 */
struct ctr_table {
    char *path;
    int day;
    bool writable;
    int fd;
    pid_t fd_owner; /* flock is per open file: a forked child reopens */
    unsigned char *map;
    size_t map_size;
    struct ctr_file_header *header;
    struct ctr_slot *slots;
    uint32_t first_slots;
    uint32_t max_segments;
    bool fixed;  /* version 1: one segment, keys hashed as their encoding */
    uint64_t id; /* unique per handle in the process: thread caches check it */
    uint64_t slots_offset, strings_offset; /* in the file, to reserve blocks */
    time_t grow_retry; /* no new blocks before then: the last reservation failed */
    int warned_grow;
    uint32_t max_entries;
    struct ctr_overflow_slot *overflow;
    uint32_t overflow_mask;
    uint32_t overflow_capacity;
    unsigned char *strings;
    uint64_t string_space;
    uint64_t hash_seed;
    /* Threads share fd, and flock does not exclude them from each other. */
    pthread_mutex_t insert_mutex;
    /* Log "table full" / "events lost" once per handle, not per event. */
    int warned_full;
    int warned_lost;
    /* Late events: one warning, then a summary at most once a minute. */
    pthread_mutex_t late_mutex;
    struct msg_rate late_rate;
};

/* A policy key of either kind; snapshots merge equal keys of the two. */
static inline bool ctr_kind_is_key(unsigned char kind)
{
    return kind == CTR_KIND_KEY || kind == CTR_KIND_LOG_KEY || kind == CTR_KIND_COLLECTOR_KEY;
}

/* Segments in use; slots below ctr_slots_published() may be read. */
static inline uint32_t ctr_segments(const struct ctr_table *table)
{
    uint32_t n;

    if (table->fixed)
        return 1;
    n = __atomic_load_n(&table->header->segments, __ATOMIC_ACQUIRE);
    /* Checked at open; a damaged header must not move the bounds. */
    return n < 1 ? 1 : n > table->max_segments ? table->max_segments : n;
}

static inline uint32_t ctr_segment_base(const struct ctr_table *table, uint32_t segment)
{
    return segment == 0 ? 0 : table->first_slots << (segment - 1);
}

static inline uint32_t ctr_segment_slots(const struct ctr_table *table, uint32_t segment)
{
    return segment == 0 ? table->first_slots : table->first_slots << (segment - 1);
}

static inline uint32_t ctr_slots_published(const struct ctr_table *table)
{
    return table->first_slots << (ctr_segments(table) - 1);
}

/* table.c */
int ctr_layout_compute(uint32_t version, uint32_t max_entries, uint64_t string_space,
                       struct ctr_layout *layout, const char **error_r);
/*
 * Under the insert lock: adds a segment, or reserves arena blocks up to
 * `end`; false (logged) when the disk has no room or the table is at its size.
 */
bool ctr_grow_slots(struct ctr_table *table);
bool ctr_reserve_strings(struct ctr_table *table, uint64_t end);
/* Exclusive insert lock (mutex + flock); false when it cannot be taken. */
bool ctr_insert_lock(struct ctr_table *table);
void ctr_insert_unlock(struct ctr_table *table);
bool ctr_table_reported(const struct ctr_table *table);
/* Closed for its reports (being built or built): events are late. */
bool ctr_table_closed(const struct ctr_table *table);
/* Warns (rate-limited) that events arrive for a day already reported. */
void ctr_warn_late(struct ctr_table *table);
char *ctr_day_path(const char *dir, int day);

/*
 * The hash of an encoding with the file's seed, never 0 (which marks an empty
 * slot): what version 1 files filed their slots under (version 2 hashes a
 * key from its parts, insert.c).
 */
uint64_t ctr_hash(const struct ctr_table *table, const void *data, size_t len);

/*
 * The encoding a published slot points to, bounds-checked against the
 * arena; NULL when the slot is damaged.
 */
static inline const unsigned char *
ctr_slot_encoding(const struct ctr_table *table, const struct ctr_slot *slot, uint32_t *length_r)
{
    uint64_t offset = slot->offset;
    uint32_t length = slot->length;

    if (length == 0 || offset > table->string_space || length > table->string_space - offset)
        return NULL;
    *length_r = length;
    return table->strings + offset;
}

/* key.c */
/*
 * A key or detail row as the fields of its encoding, taken from the event
 * without copying: hashed once from them and compared in place with what a
 * slot holds, so counting under an existing key encodes nothing.
 */
enum ctr_field_type { CTR_FIELD_U8, CTR_FIELD_U32, CTR_FIELD_STRING };

struct ctr_field {
    const char *text; /* CTR_FIELD_STRING: NULL stays NULL */
    uint32_t value;   /* as encoded; CTR_FIELD_STRING: its length + 1, 0 for NULL */
    uint8_t type;
};

/* Enough for any event that passed tr_event_check(); more go to the heap. */
#define CTR_ITEM_INLINE_FIELDS (6 + TR_MAX_POLICY_STRINGS + TR_MAX_MX_HOSTS)

struct ctr_item {
    struct ctr_field *fields;
    size_t n, cap;
    uint64_t encoded_len;
    uint64_t hash; /* the table's hash of it, made once (hash_made) */
    bool hash_made;
    /* The version 2 hash as the fields are added (item_add): its key and two sums. */
    uint64_t key, strings, numbers;
    struct ctr_field inline_fields[CTR_ITEM_INLINE_FIELDS];
};

void ctr_item_init(struct ctr_item *item);
void ctr_item_free(struct ctr_item *item);
/* The key a policy of an event counts under; NULLs resolved as documented below. */
void ctr_item_key(const struct ctr_table *table, struct ctr_item *item, enum ctr_slot_kind kind,
                  const struct tr_event *event, const struct tr_policy *policy);
/* A failure-detail row of the key in slot key_slot. */
void ctr_item_detail(const struct ctr_table *table, struct ctr_item *item, uint32_t key_slot,
                     const struct tr_failure *failure);
/* item->hash: the hash the table files the item under (once; never 0). */
void ctr_item_hash(const struct ctr_table *table, struct ctr_item *item);
/* The canonical encoding into out (item->encoded_len bytes). */
void ctr_item_encode(const struct ctr_item *item, unsigned char *out);
/* Whether an encoding of item->encoded_len bytes is this item. */
bool ctr_item_matches(const struct ctr_item *item, const unsigned char *encoding);

/*
 * Canonical encodings. A string is a 4-byte little-endian (length + 1) then
 * its bytes, so NULL ("unknown", 0) and "" (1) stay distinct. A key is
 * 'K' (or 'L') str(domain) str(record) u8(policy type) str(policy domain)
 * u32(n strings) str... u32(n mx hosts) str...; a detail is
 * 'D' u32(key slot index) u8(result) and its six strings in struct order.
 */
#define CTR_DETAIL_STRINGS 6

static inline uint32_t ctr_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
