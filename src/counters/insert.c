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

/* Typical keys are a few hundred bytes: encode on the stack, spill to the heap. */
#define INLINE_ENCODING_SIZE 2048

struct encoding {
    unsigned char *bytes;
    size_t len;
    size_t cap;
    unsigned char inline_bytes[INLINE_ENCODING_SIZE];
};

/* What looking for an encoding among the slots found. */
enum probe_result {
    PROBE_FOUND,     /* *index is the slot holding the encoding */
    PROBE_EMPTY,     /* not present; *index is where it would go */
    PROBE_EXHAUSTED, /* no empty slot at all: only a damaged file does that */
};

/* Why a new slot could not be made. */
#define INSERT_FAILED UINT32_MAX

static void encoding_init(struct encoding *enc)
{
    enc->bytes = enc->inline_bytes;
    enc->len = 0;
    enc->cap = sizeof(enc->inline_bytes);
}

static void encoding_free(struct encoding *enc)
{
    if (enc->bytes != enc->inline_bytes)
        free(enc->bytes);
}

static unsigned char *encoding_extend(struct encoding *enc, size_t extra)
{
    unsigned char *at;
    size_t need;

    if (extra > SIZE_MAX - enc->len)
        msg_panic("counter key encoding size overflow");
    need = enc->len + extra;
    if (need > enc->cap) {
        size_t new_cap = enc->cap * 2 > need ? enc->cap * 2 : need;

        if (enc->bytes == enc->inline_bytes) {
            enc->bytes = xmalloc(new_cap);
            memcpy(enc->bytes, enc->inline_bytes, enc->len);
        } else {
            enc->bytes = xreallocarray(enc->bytes, new_cap, 1);
        }
        enc->cap = new_cap;
    }
    at = enc->bytes + enc->len;
    enc->len = need;
    return at;
}

static void encode_u8(struct encoding *enc, unsigned value)
{
    *encoding_extend(enc, 1) = (unsigned char)value;
}

static void encode_u32(struct encoding *enc, uint32_t value)
{
    unsigned char *at = encoding_extend(enc, 4);

    at[0] = (unsigned char)value;
    at[1] = (unsigned char)(value >> 8);
    at[2] = (unsigned char)(value >> 16);
    at[3] = (unsigned char)(value >> 24);
}

/* Length + 1, so that NULL ("unknown") encodes as 0 and "" as 1. */
static void encode_string(struct encoding *enc, const char *text)
{
    size_t len;

    if (text == NULL) {
        encode_u32(enc, 0);
        return;
    }
    len = strlen(text);
    /* Events passed tr_event_check(): strings are a few kilobytes at most. */
    if (len >= UINT32_MAX)
        msg_panic("counter key string of %zu bytes", len);
    encode_u32(enc, (uint32_t)len + 1);
    memcpy(encoding_extend(enc, len), text, len);
}

static void encode_string_list(struct encoding *enc, const char *const *list, size_t count)
{
    if (count > UINT32_MAX)
        msg_panic("counter key list of %zu strings", count);
    encode_u32(enc, (uint32_t)count);
    for (size_t i = 0; i < count; i++)
        encode_string(enc, list[i]);
}

/* The key a policy of an event counts under; NULLs resolved as documented. */
static void encode_key(struct encoding *enc, enum ctr_slot_kind kind, const struct tr_event *event,
                       const struct tr_policy *policy)
{
    enc->len = 0;
    encode_u8(enc, kind);
    encode_string(enc, event->domain);
    encode_string(enc, event->record != NULL ? event->record : "");
    encode_u8(enc, (unsigned)policy->type);
    encode_string(enc, policy->domain != NULL ? policy->domain : event->domain);
    encode_string_list(enc, policy->strings, policy->n_strings);
    encode_string_list(enc, policy->mx_hosts, policy->n_mx_hosts);
}

/* A detail row names its key by slot index: slots never move. */
static void encode_detail(struct encoding *enc, uint32_t key_slot, const struct tr_failure *failure)
{
    enc->len = 0;
    encode_u8(enc, CTR_KIND_DETAIL);
    encode_u32(enc, key_slot);
    encode_u8(enc, (unsigned)failure->result);
    encode_string(enc, failure->sending_mta_ip);
    encode_string(enc, failure->receiving_mx_hostname);
    encode_string(enc, failure->receiving_mx_helo);
    encode_string(enc, failure->receiving_ip);
    encode_string(enc, failure->additional_information);
    encode_string(enc, failure->failure_reason_code);
}

/*
 * Linear probing. Runs without the lock: a slot's fields are complete once
 * its hash is visible (acquire pairs with the inserter's release).
 */
static enum probe_result probe(const struct ctr_table *table, uint64_t hash,
                               const unsigned char *bytes, size_t len, uint32_t *index_r)
{
    uint32_t index = (uint32_t)hash & table->slot_mask;

    for (uint64_t step = 0; step <= table->slot_mask; step++) {
        struct ctr_slot *slot = &table->slots[index];
        uint64_t slot_hash = __atomic_load_n(&slot->hash, __ATOMIC_ACQUIRE);
        const unsigned char *stored;
        uint32_t stored_len;

        if (slot_hash == 0) {
            *index_r = index;
            return PROBE_EMPTY;
        }
        if (slot_hash == hash && (stored = ctr_slot_encoding(table, slot, &stored_len)) != NULL &&
            stored_len == len && memcmp(stored, bytes, len) == 0) {
            *index_r = index;
            return PROBE_FOUND;
        }
        index = (index + 1) & table->slot_mask;
    }
    return PROBE_EXHAUSTED;
}

static void warn_full_once(struct ctr_table *table)
{
    if (__atomic_exchange_n(&table->warned_full, 1, __ATOMIC_RELAXED) == 0)
        msg_warn("%s: counter table full (%u entries, %llu bytes of strings): "
                 "counting per domain only; raise the table size",
                 table->path, (unsigned)table->max_entries,
                 (unsigned long long)table->string_space);
}

/* Room for one more slot whose encoding takes len bytes? */
static bool has_room(const struct ctr_table *table, size_t len)
{
    uint32_t entries = __atomic_load_n(&table->header->entries_used, __ATOMIC_RELAXED);
    uint64_t used = __atomic_load_n(&table->header->string_used, __ATOMIC_RELAXED);

    return entries < table->max_entries && len <= table->string_space &&
           used <= table->string_space - len;
}

/*
 * The slot of an encoding, made if it is new: INSERT_FAILED when the table
 * is full (or the lock cannot be had). Existing keys cost no syscall.
 */
static uint32_t find_or_insert(struct ctr_table *table, const struct encoding *enc)
{
    struct ctr_file_header *header = table->header;
    uint64_t hash = ctr_hash(table, enc->bytes, enc->len);
    struct ctr_slot *slot;
    uint64_t offset;
    uint32_t index;
    enum probe_result found;

    found = probe(table, hash, enc->bytes, enc->len, &index);
    if (found == PROBE_FOUND)
        return index;
    /* A full table stays full: spare the lock and its syscalls. */
    if (found == PROBE_EXHAUSTED || !has_room(table, enc->len)) {
        warn_full_once(table);
        return INSERT_FAILED;
    }
    if (!ctr_insert_lock(table))
        return INSERT_FAILED;
    /* Someone may have inserted it, or taken our empty slot, meanwhile. */
    found = probe(table, hash, enc->bytes, enc->len, &index);
    if (found != PROBE_EMPTY || !has_room(table, enc->len)) {
        ctr_insert_unlock(table);
        if (found == PROBE_FOUND)
            return index;
        warn_full_once(table);
        return INSERT_FAILED;
    }
    /*
     * Reserve first, write, then publish: a writer killed before the publish
     * leaves a slot that is still empty and a few leaked arena bytes, never a
     * half-written key; the next inserter overwrites the slot's fields.
     */
    offset = __atomic_load_n(&header->string_used, __ATOMIC_RELAXED);
    __atomic_store_n(&header->string_used, offset + enc->len, __ATOMIC_RELAXED);
    __atomic_store_n(&header->entries_used,
                     __atomic_load_n(&header->entries_used, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELAXED);
    memcpy(table->strings + offset, enc->bytes, enc->len);
    slot = &table->slots[index];
    slot->offset = (uint32_t)offset;
    slot->length = (uint32_t)enc->len;
    slot->count[0] = 0;
    slot->count[1] = 0;
    __atomic_store_n(&slot->hash, hash, __ATOMIC_RELEASE);
    ctr_insert_unlock(table);
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
    struct encoding enc;
    bool go_on = true;

    *incomplete_r = false;
    encoding_init(&enc);
    for (size_t p = 0; p < event->n_policies && go_on; p++) {
        const struct tr_policy *policy = &event->policies[p];
        uint32_t key_slot;

        encode_key(&enc, kind, event, policy);
        if ((key_slot = find_or_insert(table, &enc)) == INSERT_FAILED) {
            *incomplete_r = true;
            continue;
        }
        go_on = fn(table, (struct ctr_cell){key_slot, policy->failed ? 1 : 0}, context);
        for (size_t f = 0; policy->failed && f < policy->n_failures && go_on; f++) {
            uint32_t detail_slot;

            encode_detail(&enc, key_slot, &policy->failures[f]);
            if ((detail_slot = find_or_insert(table, &enc)) == INSERT_FAILED)
                *incomplete_r = true;
            else
                go_on = fn(table, (struct ctr_cell){detail_slot, 0}, context);
        }
    }
    encoding_free(&enc);
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
    if (cell.slot > table->slot_mask || cell.field > 1 ||
        __atomic_load_n(&table->slots[cell.slot].hash, __ATOMIC_ACQUIRE) == 0 ||
        (bytes = ctr_slot_encoding(table, &table->slots[cell.slot], &length)) == NULL)
        return false;
    if (owned_kind(bytes[0]))
        return true;
    if (bytes[0] != CTR_KIND_DETAIL || cell.field != 0 || length < 5)
        return false;
    uint32_t key_slot = ctr_get_u32(bytes + 1);
    if (key_slot > table->slot_mask ||
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
