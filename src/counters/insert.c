/*
 * insert.c - ctr_add(): the lock-free lookup (per-thread slot cache, probe
 * of each segment) and atomic increment of existing keys, the locked insert
 * of new ones (growing the table), and the per-domain overflow records used
 * when the table is full; and the log follower's and the collector's cells
 * (their own keys, stored as absolute values). Keys themselves: key.c.
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

/* What looking for an item among the slots found. */
enum probe_result {
    PROBE_FOUND,     /* *index is the slot holding the item */
    PROBE_EMPTY,     /* not present; *index is where it would go */
    PROBE_EXHAUSTED, /* no empty slot at all: only a damaged file does that */
};

/* Why a new slot could not be made. */
#define INSERT_FAILED UINT32_MAX

/* Whether the slot at index, published (hash read with acquire), holds the item. */
static bool slot_holds(const struct ctr_table *table, uint32_t index, const struct ctr_item *item)
{
    struct ctr_slot *slot = &table->slots[index];
    const unsigned char *stored;
    uint32_t stored_len;

    return (stored = ctr_slot_encoding(table, slot, &stored_len)) != NULL &&
           stored_len == item->encoded_len && ctr_item_matches(item, stored);
}

/*
 * Linear probing in each published segment, the newest first (it holds
 * half of the keys; the other half at most one step further on average);
 * an empty slot ends a segment's run. Runs without the lock: a slot's
 * fields are complete once its hash is visible (acquire pairs with the
 * inserter's release). When not found, *index_r is where the item would go
 * in the newest segment.
 */
static enum probe_result probe(const struct ctr_table *table, const struct ctr_item *item,
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

static struct slot_cache_entry *slot_cache_entry(const struct ctr_item *item)
{
    return &slot_cache[(item->hash >> 40) & (SLOT_CACHE_SIZE - 1)];
}

static bool slot_cache_find(const struct ctr_table *table, const struct ctr_item *item,
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

static void slot_cache_store(const struct ctr_table *table, const struct ctr_item *item,
                             uint32_t index)
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
static uint32_t make_room(struct ctr_table *table, const struct ctr_item *item, uint32_t index)
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
static uint32_t find_or_insert(struct ctr_table *table, struct ctr_item *item)
{
    struct ctr_file_header *header = table->header;
    struct ctr_slot *slot;
    uint64_t offset;
    uint32_t index;
    enum probe_result found;

    ctr_item_hash(table, item);
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
    ctr_item_encode(item, table->strings + offset);
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
    struct ctr_item item;
    bool go_on = true;

    *incomplete_r = false;
    ctr_item_init(&item);
    for (size_t p = 0; p < event->n_policies && go_on; p++) {
        const struct tr_policy *policy = &event->policies[p];
        uint32_t key_slot;

        ctr_item_key(table, &item, kind, event, policy);
        if ((key_slot = find_or_insert(table, &item)) == INSERT_FAILED) {
            *incomplete_r = true;
            continue;
        }
        go_on = fn(table, (struct ctr_cell){key_slot, policy->failed ? 1 : 0}, context);
        for (size_t f = 0; policy->failed && f < policy->n_failures && go_on; f++) {
            uint32_t detail_slot;

            ctr_item_detail(table, &item, key_slot, &policy->failures[f]);
            if ((detail_slot = find_or_insert(table, &item)) == INSERT_FAILED)
                *incomplete_r = true;
            else
                go_on = fn(table, (struct ctr_cell){detail_slot, 0}, context);
        }
    }
    ctr_item_free(&item);
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
