/*
 * insert.c - ctr_add(): canonical key encodings, the lock-free lookup and
 * atomic increment of existing keys, the locked insert of new ones, and the
 * per-domain overflow records used when the table is full; and the log
 * follower's cells (its own keys, stored as absolute values).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "table_impl.h"

/*
 * A key or detail row as the fields of its encoding, taken from the event
 * without copying: hashed once from them and compared in place with what a
 * slot holds, so counting under an existing key encodes nothing.
 */
enum field_type { FIELD_U8, FIELD_U32, FIELD_STRING };

struct field {
    const char *text; /* FIELD_STRING: NULL stays NULL */
    uint32_t value;   /* as encoded; FIELD_STRING: its length + 1, 0 for NULL */
    uint8_t type;
};

/* Enough for any event that passed tr_event_check(); more go to the heap. */
#define INLINE_FIELDS (6 + TR_MAX_POLICY_STRINGS + TR_MAX_MX_HOSTS)

struct item {
    struct field *fields;
    size_t n, cap;
    uint64_t encoded_len;
    uint64_t hash; /* the table's hash of it, made once (hash_made) */
    bool hash_made;
    /* The version 2 hash as the fields are added (item_add): its key and two sums. */
    uint64_t key, strings, numbers;
    struct field inline_fields[INLINE_FIELDS];
};

/* What looking for an item among the slots found. */
enum probe_result {
    PROBE_FOUND,     /* *index is the slot holding the item */
    PROBE_EMPTY,     /* not present; *index is where it would go */
    PROBE_EXHAUSTED, /* no empty slot at all: only a damaged file does that */
};

/* Why a new slot could not be made. */
#define INSERT_FAILED UINT32_MAX

/* Unaligned little loads for the hash below. */
static inline uint64_t load64(const char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t load32(const char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* 64 x 64 -> 128-bit multiply, halves folded: the mixing step of wyhash. */
static inline uint64_t mum(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
    __uint128_t r = (__uint128_t)a * b;

    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    uint64_t r = (a ^ (a >> 29)) * (b | 1);

    return r ^ (r >> 32) ^ b;
#endif
}

#define HASH_K1 UINT64_C(0xe7037ed1a0b428db)
#define HASH_K2 UINT64_C(0x8ebc6af09c88c6e3)

/*
 * The hash of one string with the table's key k (its seed mixed with a
 * constant, so no input can cancel a multiplier it does not know). Whole
 * 16-byte blocks, then the last bytes with overlapping loads: no byte loop,
 * no call. The strings of an item are hashed independently of each other,
 * so the processor overlaps them.
 */
static inline uint64_t hash_string(uint64_t k, const char *p, size_t len)
{
    uint64_t h = k ^ HASH_K2;
    uint64_t a = 0, b = 0;

    if (len <= 16) {
        if (len >= 8) {
            a = load64(p);
            b = load64(p + len - 8);
        } else if (len >= 4) {
            a = load32(p);
            b = load32(p + len - 4);
        } else if (len > 0) {
            a = (uint64_t)(unsigned char)p[0] << 16 | (uint64_t)(unsigned char)p[len >> 1] << 8 |
                (unsigned char)p[len - 1];
        }
    } else {
        size_t left = len;

        while (left > 16) {
            h = mum(load64(p) ^ k, load64(p + 8) ^ h);
            p += 16;
            left -= 16;
        }
        a = load64(p + left - 16);
        b = load64(p + left - 8);
    }
    /* len times the key: no two lengths cancel a difference the input can choose. */
    return mum(a ^ k, b ^ h ^ (uint64_t)len * (k | 1));
}

static void item_init(struct item *item)
{
    item->fields = item->inline_fields;
    item->n = 0;
    item->cap = INLINE_FIELDS;
}

static void item_reset(struct item *item, const struct ctr_table *table)
{
    item->n = 0;
    item->encoded_len = 0;
    item->hash_made = false;
    item->key = table->hash_seed ^ HASH_K1;
    item->strings = 0;
    item->numbers = 0;
}

static void item_free(struct item *item)
{
    if (item->fields != item->inline_fields)
        free(item->fields);
}

static void item_grow(struct item *item)
{
    struct field *bigger = xreallocarray(NULL, 2 * item->cap, sizeof(*bigger));

    memcpy(bigger, item->fields, item->n * sizeof(*bigger));
    if (item->fields != item->inline_fields)
        free(item->fields);
    item->fields = bigger;
    item->cap *= 2;
}

/*
 * Adds a field and its part of the version 2 hash: a string's own hash
 * (one_hash, from hash_string) rotated by its position and added, so equal
 * strings in two places do not cancel; a number (or NULL, 0) multiplied in
 * by an odd key, so no two sequences of numbers collide.
 */
static inline void item_add(struct item *item, uint8_t type, const char *text, uint32_t value,
                            uint64_t one_hash)
{
    uint64_t i = item->n;

    if (item->n == item->cap)
        item_grow(item);
    if (text != NULL) {
        item->strings += one_hash << (i & 63) | one_hash >> (-i & 63);
    } else {
        item->numbers =
            (item->numbers ^ ((uint64_t)type << 32 | value | i << 40)) * (item->key | 1);
        item->numbers ^= item->numbers >> 32;
    }
    item->fields[item->n++] = (struct field){text, value, type};
    item->encoded_len += type == FIELD_U8    ? 1
                         : type == FIELD_U32 ? 4
                                             : 4 + (uint64_t)(value > 0 ? value - 1 : 0);
}

/* Length + 1 in the encoding, so that NULL ("unknown") is 0 and "" is 1. Returns its hash. */
static inline uint64_t item_string(struct item *item, const char *text)
{
    size_t len = text != NULL ? strlen(text) : 0;

    /* Events passed tr_event_check(): strings are a few kilobytes at most. */
    if (len >= UINT32_MAX)
        msg_panic("counter key string of %zu bytes", len);
    uint64_t one_hash = text != NULL ? hash_string(item->key, text, len) : 0;

    item_add(item, FIELD_STRING, text, text != NULL ? (uint32_t)len + 1 : 0, one_hash);
    return one_hash;
}

/* The string of field `index` again (a key's domain as its policy domain): measured once. */
static void item_string_again(struct item *item, size_t index, uint64_t one_hash)
{
    item_add(item, FIELD_STRING, item->fields[index].text, item->fields[index].value, one_hash);
}

static void item_string_list(struct item *item, const char *const *list, size_t count)
{
    if (count > UINT32_MAX)
        msg_panic("counter key list of %zu strings", count);
    item_add(item, FIELD_U32, NULL, (uint32_t)count, 0);
    for (size_t i = 0; i < count; i++)
        (void)item_string(item, list[i]);
}

/* The canonical encoding of an item into out (item->encoded_len bytes). */
static void item_encode(const struct item *item, unsigned char *out)
{
    for (size_t i = 0; i < item->n; i++) {
        const struct field *f = &item->fields[i];
        uint32_t value = f->value;

        if (f->type == FIELD_U8) {
            *out++ = (unsigned char)value;
            continue;
        }
        out[0] = (unsigned char)value;
        out[1] = (unsigned char)(value >> 8);
        out[2] = (unsigned char)(value >> 16);
        out[3] = (unsigned char)(value >> 24);
        out += 4;
        if (f->type == FIELD_STRING && value > 1) {
            memcpy(out, f->text, value - 1);
            out += value - 1;
        }
    }
}

/* memcmp() == 0 without a call for the short strings keys are made of. */
static inline bool bytes_equal(const unsigned char *a, const char *b, uint32_t len)
{
    const char *x = (const char *)a;

    if (len > 32)
        return memcmp(a, b, len) == 0;
    if (len > 16)
        return load64(x) == load64(b) && load64(x + 8) == load64(b + 8) &&
               load64(x + len - 16) == load64(b + len - 16) &&
               load64(x + len - 8) == load64(b + len - 8);
    if (len >= 8)
        return load64(x) == load64(b) && load64(x + len - 8) == load64(b + len - 8);
    if (len >= 4)
        return load32(x) == load32(b) && load32(x + len - 4) == load32(b + len - 4);
    return x[0] == b[0] && x[len >> 1] == b[len >> 1] && x[len - 1] == b[len - 1];
}

/* Whether a slot's encoding (length already checked equal) is this item. */
static bool item_matches(const struct item *item, const unsigned char *at)
{
    for (size_t i = 0; i < item->n; i++) {
        const struct field *f = &item->fields[i];

        if (f->type == FIELD_U8) {
            if (*at++ != f->value)
                return false;
            continue;
        }
        if (ctr_get_u32(at) != f->value)
            return false;
        at += 4;
        if (f->type == FIELD_STRING && f->value > 1) {
            if (!bytes_equal(at, f->text, f->value - 1))
                return false;
            at += f->value - 1;
        }
    }
    return true;
}

/*
 * The hash of an item. Version 2: the two sums item_add() made, mixed
 * once. A version 1 table filed its keys under the hash of the whole
 * encoding: that one is made the old way (slowly, but such tables are only
 * the ones of the days before an upgrade).
 */
static void item_hash(const struct ctr_table *table, struct item *item)
{
    unsigned char inline_bytes[2048];
    unsigned char *bytes = inline_bytes;

    if (item->hash_made)
        return;
    item->hash_made = true;
    if (!table->fixed) {
        item->hash = mum(item->strings ^ HASH_K2, item->numbers ^ item->key ^ item->encoded_len);
        if (item->hash == 0)
            item->hash = 1;
        return;
    }
    if (item->encoded_len > sizeof(inline_bytes))
        bytes = xmalloc(item->encoded_len);
    item_encode(item, bytes);
    item->hash = ctr_hash(table, bytes, item->encoded_len);
    if (bytes != inline_bytes)
        free(bytes);
}

/* The key a policy of an event counts under; NULLs resolved as documented. */
static void item_key(const struct ctr_table *table, struct item *item, enum ctr_slot_kind kind,
                     const struct tr_event *event, const struct tr_policy *policy)
{
    uint64_t domain_hash;

    item_reset(item, table);
    item_add(item, FIELD_U8, NULL, kind, 0);
    domain_hash = item_string(item, event->domain);
    item_string(item, event->record != NULL ? event->record : "");
    item_add(item, FIELD_U8, NULL, (uint32_t)policy->type, 0);
    if (policy->domain != NULL)
        item_string(item, policy->domain);
    else
        item_string_again(item, 1, domain_hash);
    item_string_list(item, policy->strings, policy->n_strings);
    item_string_list(item, policy->mx_hosts, policy->n_mx_hosts);
}

/* A detail row names its key by slot index: slots never move. */
static void item_detail(const struct ctr_table *table, struct item *item, uint32_t key_slot,
                        const struct tr_failure *failure)
{
    item_reset(item, table);
    item_add(item, FIELD_U8, NULL, CTR_KIND_DETAIL, 0);
    item_add(item, FIELD_U32, NULL, key_slot, 0);
    item_add(item, FIELD_U8, NULL, (uint32_t)failure->result, 0);
    item_string(item, failure->sending_mta_ip);
    item_string(item, failure->receiving_mx_hostname);
    item_string(item, failure->receiving_mx_helo);
    item_string(item, failure->receiving_ip);
    item_string(item, failure->additional_information);
    item_string(item, failure->failure_reason_code);
}

/* Whether the slot at index, published (hash read with acquire), holds the item. */
static bool slot_holds(const struct ctr_table *table, uint32_t index, const struct item *item)
{
    struct ctr_slot *slot = &table->slots[index];
    const unsigned char *stored;
    uint32_t stored_len;

    return (stored = ctr_slot_encoding(table, slot, &stored_len)) != NULL &&
           stored_len == item->encoded_len && item_matches(item, stored);
}

/*
 * Linear probing in each published segment, the newest first (it holds
 * half of the keys; the other half at most one step further on average);
 * an empty slot ends a segment's run. Runs without the lock: a slot's
 * fields are complete once its hash is visible (acquire pairs with the
 * inserter's release). When not found, *index_r is where the item would go
 * in the newest segment.
 */
static enum probe_result probe(const struct ctr_table *table, const struct item *item,
                               uint32_t *index_r)
{
    uint32_t segments = ctr_segments(table);
    enum probe_result result = PROBE_EXHAUSTED;

    for (uint32_t s = segments; s-- > 0;) {
        uint32_t base = ctr_segment_base(table, s);
        uint32_t mask = ctr_segment_slots(table, s) - 1;
        uint32_t local = (uint32_t)item->hash & mask;

        for (uint64_t step = 0; step <= mask; step++) {
            struct ctr_slot *slot = &table->slots[base + local];
            uint64_t slot_hash = __atomic_load_n(&slot->hash, __ATOMIC_ACQUIRE);

            if (slot_hash == 0) {
                if (s == segments - 1) {
                    *index_r = base + local;
                    result = PROBE_EMPTY;
                }
                break;
            }
            if (slot_hash == item->hash && slot_holds(table, base + local, item)) {
                *index_r = base + local;
                return PROBE_FOUND;
            }
            local = (local + 1) & mask;
        }
    }
    return result;
}

/*
 * Each thread remembers the slots of the items it counted last, by hash:
 * an item found there costs no probe (with many segments, one probe per
 * segment, each a cache miss in a big table). An entry is only a hint, used after
 * checking that the published slot holds the item, and it names the handle
 * it came from (a closed table's handle address can come back).
 */
#define SLOT_CACHE_SIZE 4096 /* a power of two; 16 bytes an entry, 64 KB a thread */

struct slot_cache_entry {
    uint64_t hash;
    uint32_t table_id;
    uint32_t slot;
};

static _Thread_local struct slot_cache_entry slot_cache[SLOT_CACHE_SIZE];

static struct slot_cache_entry *slot_cache_entry(const struct item *item)
{
    return &slot_cache[(item->hash >> 40) & (SLOT_CACHE_SIZE - 1)];
}

static bool slot_cache_find(const struct ctr_table *table, const struct item *item,
                            uint32_t *index_r)
{
    const struct slot_cache_entry *entry = slot_cache_entry(item);

    if (entry->table_id != (uint32_t)table->id || entry->hash != item->hash ||
        entry->slot >= ctr_slots_published(table) ||
        __atomic_load_n(&table->slots[entry->slot].hash, __ATOMIC_ACQUIRE) != item->hash ||
        !slot_holds(table, entry->slot, item))
        return false;
    *index_r = entry->slot;
    return true;
}

static void slot_cache_store(const struct ctr_table *table, const struct item *item, uint32_t index)
{
    *slot_cache_entry(item) = (struct slot_cache_entry){item->hash, (uint32_t)table->id, index};
}

static void warn_full_once(struct ctr_table *table)
{
    if (__atomic_exchange_n(&table->warned_full, 1, __ATOMIC_RELAXED) == 0)
        msg_warn("%s: counter table full (%u entries, %llu bytes of strings): "
                 "counting per domain only; raise the table size",
                 table->path, (unsigned)table->max_entries,
                 (unsigned long long)table->string_space);
}

/* Within the table's configured size, one more slot of len bytes? */
static bool has_room(const struct ctr_table *table, uint64_t len)
{
    uint32_t entries = __atomic_load_n(&table->header->entries_used, __ATOMIC_RELAXED);
    uint64_t used = __atomic_load_n(&table->header->string_used, __ATOMIC_RELAXED);

    return entries < table->max_entries && len <= table->string_space &&
           used <= table->string_space - len;
}

/*
 * Under the lock, with the item not found: the slot it goes into, growing
 * the table (a new segment, more arena blocks) when needed; INSERT_FAILED
 * when the disk has no room.
 */
static uint32_t make_room(struct ctr_table *table, const struct item *item, uint32_t index)
{
    uint32_t entries = __atomic_load_n(&table->header->entries_used, __ATOMIC_RELAXED);
    uint64_t used = __atomic_load_n(&table->header->string_used, __ATOMIC_RELAXED);

    /* Half of the published slots in use: the last segment is full. */
    if (entries >= ctr_slots_published(table) / 2) {
        if (!ctr_grow_slots(table) || probe(table, item, &index) != PROBE_EMPTY)
            return INSERT_FAILED;
    }
    if (!ctr_reserve_strings(table, used + item->encoded_len))
        return INSERT_FAILED;
    return index;
}

/*
 * The slot of an item, made if it is new: INSERT_FAILED when the table is
 * full (or the lock cannot be had). Existing items cost no syscall.
 */
static uint32_t find_or_insert(struct ctr_table *table, struct item *item)
{
    struct ctr_file_header *header = table->header;
    struct ctr_slot *slot;
    uint64_t offset;
    uint32_t index;
    enum probe_result found;

    item_hash(table, item);
    /* In one segment the probe is one step, mostly: the cache would only add a miss. */
    if (ctr_segments(table) > 1 && slot_cache_find(table, item, &index))
        return index;
    found = probe(table, item, &index);
    if (found == PROBE_FOUND) {
        if (ctr_segments(table) > 1)
            slot_cache_store(table, item, index);
        return index;
    }
    /* A full table stays full: spare the lock and its syscalls. */
    if (!has_room(table, item->encoded_len)) {
        warn_full_once(table);
        return INSERT_FAILED;
    }
    if (!ctr_insert_lock(table))
        return INSERT_FAILED;
    /* Someone may have inserted it, taken our empty slot or grown the table meanwhile. */
    found = probe(table, item, &index);
    if (found == PROBE_FOUND) {
        ctr_insert_unlock(table);
        slot_cache_store(table, item, index);
        return index;
    }
    if (found != PROBE_EMPTY || !has_room(table, item->encoded_len)) {
        ctr_insert_unlock(table);
        warn_full_once(table);
        return INSERT_FAILED;
    }
    /* No room on the disk: ctr_grow_slots() or ctr_reserve_strings() said so. */
    if ((index = make_room(table, item, index)) == INSERT_FAILED) {
        ctr_insert_unlock(table);
        return INSERT_FAILED;
    }
    /*
     * Reserve first, write, then publish: a writer killed before the publish
     * leaves a slot that is still empty and a few leaked arena bytes, never a
     * half-written key; the next inserter overwrites the slot's fields.
     */
    offset = __atomic_load_n(&header->string_used, __ATOMIC_RELAXED);
    __atomic_store_n(&header->string_used, offset + item->encoded_len, __ATOMIC_RELAXED);
    __atomic_store_n(&header->entries_used,
                     __atomic_load_n(&header->entries_used, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELAXED);
    item_encode(item, table->strings + offset);
    slot = &table->slots[index];
    slot->offset = (uint32_t)offset;
    slot->length = (uint32_t)item->encoded_len;
    slot->count[0] = 0;
    slot->count[1] = 0;
    __atomic_store_n(&slot->hash, item->hash, __ATOMIC_RELEASE);
    ctr_insert_unlock(table);
    slot_cache_store(table, item, index);
    return index;
}

static enum probe_result probe_overflow(const struct ctr_table *table, uint64_t hash,
                                        const char *domain, size_t len, uint32_t *index_r)
{
    uint32_t index = (uint32_t)hash & table->overflow_mask;

    for (uint32_t step = 0; step <= table->overflow_mask; step++) {
        struct ctr_overflow_slot *slot = &table->overflow[index];
        uint64_t slot_hash = __atomic_load_n(&slot->hash, __ATOMIC_ACQUIRE);

        if (slot_hash == 0) {
            *index_r = index;
            return PROBE_EMPTY;
        }
        if (slot_hash == hash && memcmp(slot->domain, domain, len) == 0 &&
            slot->domain[len] == '\0') {
            *index_r = index;
            return PROBE_FOUND;
        }
        index = (index + 1) & table->overflow_mask;
    }
    return PROBE_EXHAUSTED;
}

static int count_lost(struct ctr_table *table)
{
    __atomic_fetch_add(&table->header->lost_events, 1, __ATOMIC_RELAXED);
    if (__atomic_exchange_n(&table->warned_lost, 1, __ATOMIC_RELAXED) == 0)
        msg_warn("%s: counter table and its %u overflow records are full: "
                 "events are counted as lost only",
                 table->path, (unsigned)table->overflow_capacity);
    return 2;
}

/* The table had no room for (part of) an event: count it under its domain. */
int ctr_count_overflow(struct ctr_table *table, const char *domain)
{
    struct ctr_file_header *header = table->header;
    struct ctr_overflow_slot *slot;
    enum probe_result found;
    uint64_t hash;
    uint32_t index;
    size_t len;

    if (domain == NULL || (len = strlen(domain)) >= CTR_OVERFLOW_DOMAIN_SIZE)
        return count_lost(table);
    hash = ctr_hash(table, domain, len);
    found = probe_overflow(table, hash, domain, len, &index);
    if (found != PROBE_FOUND) {
        if (__atomic_load_n(&header->overflow_domains, __ATOMIC_RELAXED) >=
                table->overflow_capacity ||
            !ctr_insert_lock(table))
            return count_lost(table);
        found = probe_overflow(table, hash, domain, len, &index);
        if (found == PROBE_EMPTY && __atomic_load_n(&header->overflow_domains, __ATOMIC_RELAXED) <
                                        table->overflow_capacity) {
            slot = &table->overflow[index];
            __atomic_store_n(&header->overflow_domains,
                             __atomic_load_n(&header->overflow_domains, __ATOMIC_RELAXED) + 1,
                             __ATOMIC_RELAXED);
            /* Zero the rest: a killed writer may have left bytes behind. */
            memset(slot->domain, 0, sizeof(slot->domain));
            memcpy(slot->domain, domain, len);
            slot->events = 0;
            __atomic_store_n(&slot->hash, hash, __ATOMIC_RELEASE);
            found = PROBE_FOUND;
        }
        ctr_insert_unlock(table);
        if (found != PROBE_FOUND)
            return count_lost(table);
    }
    __atomic_fetch_add(&table->overflow[index].events, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&header->overflow_events, 1, __ATOMIC_RELAXED);
    return 1;
}

/* Called with each counter an event adds one to; false stops the walk. */
typedef bool cell_fn(struct ctr_table *table, struct ctr_cell cell, void *context);

/*
 * Each policy counts under its own key; a failed policy also counts each of
 * its failure details once. Keys and rows are made when new; *incomplete_r
 * tells that part of the event found no room. Returns false when fn stopped.
 */
static bool event_cells(struct ctr_table *table, enum ctr_slot_kind kind,
                        const struct tr_event *event, cell_fn *fn, void *context,
                        bool *incomplete_r)
{
    struct item item;
    bool go_on = true;

    *incomplete_r = false;
    item_init(&item);
    for (size_t p = 0; p < event->n_policies && go_on; p++) {
        const struct tr_policy *policy = &event->policies[p];
        uint32_t key_slot;

        item_key(table, &item, kind, event, policy);
        if ((key_slot = find_or_insert(table, &item)) == INSERT_FAILED) {
            *incomplete_r = true;
            continue;
        }
        go_on = fn(table, (struct ctr_cell){key_slot, policy->failed ? 1 : 0}, context);
        for (size_t f = 0; policy->failed && f < policy->n_failures && go_on; f++) {
            uint32_t detail_slot;

            item_detail(table, &item, key_slot, &policy->failures[f]);
            if ((detail_slot = find_or_insert(table, &item)) == INSERT_FAILED)
                *incomplete_r = true;
            else
                go_on = fn(table, (struct ctr_cell){detail_slot, 0}, context);
        }
    }
    item_free(&item);
    return go_on;
}

static bool increment(struct ctr_table *table, struct ctr_cell cell, void *context)
{
    (void)context;
    __atomic_fetch_add(&table->slots[cell.slot].count[cell.field], 1, __ATOMIC_RELAXED);
    return true;
}

/*
 * Whatever part of an event does not fit is not dropped: the event is then
 * also counted once in its domain's overflow record, so an overflowed
 * event may be partly visible in the keys.
 */
int ctr_add(struct ctr_table *table, const struct tr_event *event)
{
    bool incomplete;

    if (!table->writable)
        msg_panic("ctr_add: %s is open read-only", table->path);
    if (ctr_table_closed(table)) {
        __atomic_fetch_add(&table->header->late_events[0], 1, __ATOMIC_RELAXED);
        ctr_warn_late(table);
        return 3;
    }
    (void)event_cells(table, CTR_KIND_KEY, event, increment, NULL, &incomplete);
    return incomplete ? ctr_count_overflow(table, event->domain) : 0;
}

struct cell_list {
    struct ctr_cell *cells;
    size_t n, max;
};

static bool collect_cell(struct ctr_table *table, struct ctr_cell cell, void *context)
{
    struct cell_list *list = context;

    (void)table;
    if (list->n == list->max)
        return false;
    list->cells[list->n++] = cell;
    return true;
}

/* The cells of an owned kind: a late event has only its writer's late count. */
static int owned_cells(struct ctr_table *table, enum ctr_slot_kind kind, uint32_t late_field,
                       const struct tr_event *event, struct ctr_cell *cells, size_t max,
                       bool *incomplete_r)
{
    struct cell_list list = {cells, 0, max};

    if (!table->writable)
        msg_panic("counting cells: %s is open read-only", table->path);
    if (ctr_table_closed(table)) {
        *incomplete_r = false;
        if (max == 0)
            return -1;
        cells[0] = (struct ctr_cell){CTR_SLOT_LATE, late_field};
        ctr_warn_late(table);
        return 1;
    }
    if (!event_cells(table, kind, event, collect_cell, &list, incomplete_r))
        return -1;
    return (int)list.n;
}

int ctr_log_cells(struct ctr_table *table, const struct tr_event *event, struct ctr_cell *cells,
                  size_t max, bool *incomplete_r)
{
    return owned_cells(table, CTR_KIND_LOG_KEY, 1, event, cells, max, incomplete_r);
}

int ctr_collector_cells(struct ctr_table *table, const struct tr_event *event,
                        struct ctr_cell *cells, size_t max, bool *incomplete_r)
{
    return owned_cells(table, CTR_KIND_COLLECTOR_KEY, 2, event, cells, max, incomplete_r);
}

static bool owned_kind(unsigned char kind)
{
    return kind == CTR_KIND_LOG_KEY || kind == CTR_KIND_COLLECTOR_KEY;
}

/*
 * Whether cell names a counter of the log follower or the collector: a
 * published 'L' or 'C' key (field 0 or 1), a detail row (field 0) of one,
 * or a late count. A damaged checkpoint must not write into shared counters.
 */
static bool log_cell_ok(const struct ctr_table *table, struct ctr_cell cell)
{
    const unsigned char *bytes;
    uint32_t length;

    if (cell.slot == CTR_SLOT_LATE)
        return cell.field == 1 || cell.field == 2;
    if (cell.slot >= ctr_slots_published(table) || cell.field > 1 ||
        __atomic_load_n(&table->slots[cell.slot].hash, __ATOMIC_ACQUIRE) == 0 ||
        (bytes = ctr_slot_encoding(table, &table->slots[cell.slot], &length)) == NULL)
        return false;
    if (owned_kind(bytes[0]))
        return true;
    if (bytes[0] != CTR_KIND_DETAIL || cell.field != 0 || length < 5)
        return false;
    uint32_t key_slot = ctr_get_u32(bytes + 1);
    if (key_slot >= ctr_slots_published(table) ||
        __atomic_load_n(&table->slots[key_slot].hash, __ATOMIC_ACQUIRE) == 0 ||
        (bytes = ctr_slot_encoding(table, &table->slots[key_slot], &length)) == NULL)
        return false;
    return owned_kind(bytes[0]);
}

static uint64_t *cell_counter(struct ctr_table *table, struct ctr_cell cell)
{
    if (cell.slot == CTR_SLOT_LATE)
        return &table->header->late_events[cell.field];
    return &table->slots[cell.slot].count[cell.field];
}

bool ctr_cell_get(struct ctr_table *table, struct ctr_cell cell, uint64_t *value_r)
{
    if (!log_cell_ok(table, cell))
        return false;
    *value_r = __atomic_load_n(cell_counter(table, cell), __ATOMIC_RELAXED);
    return true;
}

bool ctr_cell_set(struct ctr_table *table, struct ctr_cell cell, uint64_t value)
{
    if (!table->writable)
        msg_panic("ctr_cell_set: %s is open read-only", table->path);
    if (!log_cell_ok(table, cell))
        return false;
    __atomic_store_n(cell_counter(table, cell), value, __ATOMIC_RELAXED);
    return true;
}
