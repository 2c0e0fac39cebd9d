/*
 * snapshot.c - ctr_snapshot(): a private, sorted copy of a day's table for
 * reports and the CLI. Everything read from the file is bounds-checked; a
 * damaged slot is skipped with a warning, never followed.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "table_impl.h"

/* Strings and string arrays of a snapshot live in a chain of blocks it owns. */
#define ARENA_BLOCK_SIZE 65536

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t size;
    max_align_t data[]; /* used as bytes; the type only aligns it */
};

/* What the public struct does not show; ctr_snapshot_free() casts back. */
struct snapshot_private {
    struct ctr_snapshot pub; /* first */
    struct arena_block *blocks;
    struct ctr_detail *details;
};

/* A key while it is collected: `original` lets details find it after sorting. */
struct collected_key {
    struct ctr_key key;
    size_t original;
};

struct collected_detail {
    struct ctr_detail detail;
    size_t key; /* index into the keys, before and then after sorting */
};

/* Per-slot state while scanning; key slots store their key index + SLOT_KEY_BASE. */
enum { SLOT_UNSEEN = 0, SLOT_SKIPPED = 1, SLOT_KEY_BASE = 2 };

struct collector {
    struct ctr_table *table;
    struct snapshot_private *snap;
    const char *domain_filter;
    uint32_t *slot_state;
    uint32_t n_slots; /* published when the scan began */
    struct collected_key *keys;
    size_t n_keys, keys_cap;
    struct collected_detail *details;
    size_t n_details, details_cap;
    size_t damaged;
};

/* Bounds-checked reading of one encoding. */
struct reader {
    const unsigned char *at;
    size_t left;
    bool ok;
};

/* align: a power of two, at most _Alignof(max_align_t). */
static void *arena_alloc(struct snapshot_private *snap, size_t size, size_t align)
{
    struct arena_block *block = snap->blocks;
    size_t start;

    if (block != NULL) {
        start = (block->used + align - 1) & ~(align - 1);
        if (start <= block->size && size <= block->size - start) {
            block->used = start + size;
            return (unsigned char *)block->data + start;
        }
    }
    if (size > SIZE_MAX - sizeof(*block) - ARENA_BLOCK_SIZE)
        msg_panic("ctr_snapshot: allocation of %zu bytes", size);
    block = xmalloc(sizeof(*block) + (size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE));
    block->size = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
    block->used = size;
    block->next = snap->blocks;
    snap->blocks = block;
    return block->data;
}

static unsigned read_u8(struct reader *r)
{
    if (!r->ok || r->left < 1) {
        r->ok = false;
        return 0;
    }
    r->left--;
    return *r->at++;
}

static uint32_t read_u32(struct reader *r)
{
    uint32_t value;

    if (!r->ok || r->left < 4) {
        r->ok = false;
        return 0;
    }
    value = ctr_get_u32(r->at);
    r->at += 4;
    r->left -= 4;
    return value;
}

/* A string of the encoding, copied NUL-terminated into the snapshot; NULL stays NULL. */
static const char *read_string(struct reader *r, struct snapshot_private *snap)
{
    uint32_t stored = read_u32(r);
    char *copy;

    if (!r->ok || stored == 0)
        return NULL;
    if (stored - 1 > r->left) {
        r->ok = false;
        return NULL;
    }
    copy = arena_alloc(snap, stored, 1);
    memcpy(copy, r->at, stored - 1);
    copy[stored - 1] = '\0';
    r->at += stored - 1;
    r->left -= stored - 1;
    return copy;
}

static const char *const *read_string_list(struct reader *r, struct snapshot_private *snap,
                                           size_t *count_r)
{
    uint32_t count = read_u32(r);
    const char **list;

    *count_r = 0;
    /* Each string takes at least its 4-byte length: no huge bogus counts. */
    if (!r->ok || count > r->left / 4) {
        r->ok = false;
        return NULL;
    }
    if (count == 0)
        return NULL;
    list = arena_alloc(snap, count * sizeof(*list), _Alignof(const char *));
    for (uint32_t i = 0; i < count; i++)
        list[i] = read_string(r, snap);
    *count_r = count;
    return list;
}

/* The published encoding of a slot, or NULL when the slot is empty or damaged. */
static const unsigned char *slot_bytes(struct collector *c, uint32_t index, uint32_t *length_r)
{
    struct ctr_slot *slot = &c->table->slots[index];

    if (__atomic_load_n(&slot->hash, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    return ctr_slot_encoding(c->table, slot, length_r);
}

/*
 * The key of a key slot, decoded once. A detail can be published after the
 * scan went past its key's slot, so keys are also collected on demand.
 */
static uint32_t collect_key(struct collector *c, uint32_t index)
{
    struct ctr_slot *slot = &c->table->slots[index];
    const unsigned char *bytes;
    struct collected_key *entry;
    struct reader r;
    unsigned type;
    uint32_t length;

    if (c->slot_state[index] != SLOT_UNSEEN)
        return c->slot_state[index];
    c->slot_state[index] = SLOT_SKIPPED;
    if ((bytes = slot_bytes(c, index, &length)) == NULL || !ctr_kind_is_key(bytes[0])) {
        c->damaged++;
        return SLOT_SKIPPED;
    }
    if (c->n_keys == c->keys_cap) {
        c->keys_cap = c->keys_cap ? 2 * c->keys_cap : 64;
        c->keys = xreallocarray(c->keys, c->keys_cap, sizeof(*c->keys));
    }
    entry = &c->keys[c->n_keys];
    memset(entry, 0, sizeof(*entry));
    r = (struct reader){bytes + 1, length - 1, true};
    entry->key.domain = read_string(&r, c->snap);
    if (r.ok && entry->key.domain != NULL && c->domain_filter != NULL &&
        strcmp(entry->key.domain, c->domain_filter) != 0)
        return SLOT_SKIPPED; /* not wanted: decode no further */
    entry->key.record = read_string(&r, c->snap);
    type = read_u8(&r);
    entry->key.policy.type = (enum tr_policy_type)type;
    entry->key.policy.domain = read_string(&r, c->snap);
    entry->key.policy.strings = read_string_list(&r, c->snap, &entry->key.policy.n_strings);
    entry->key.policy.mx_hosts = read_string_list(&r, c->snap, &entry->key.policy.n_mx_hosts);
    if (!r.ok || r.left != 0 || type >= TR_POLICY_TYPE_COUNT || entry->key.domain == NULL ||
        entry->key.record == NULL || entry->key.policy.domain == NULL) {
        c->damaged++;
        return SLOT_SKIPPED;
    }
    entry->key.success = __atomic_load_n(&slot->count[0], __ATOMIC_RELAXED);
    entry->key.failure = __atomic_load_n(&slot->count[1], __ATOMIC_RELAXED);
    entry->original = c->n_keys;
    c->slot_state[index] = (uint32_t)(SLOT_KEY_BASE + c->n_keys);
    return (uint32_t)(SLOT_KEY_BASE + c->n_keys++);
}

static void collect_detail(struct collector *c, uint32_t index, const unsigned char *bytes,
                           uint32_t length)
{
    struct collected_detail *entry;
    struct tr_failure *failure;
    struct reader r = {bytes + 1, length - 1, true};
    uint32_t key_slot = read_u32(&r);
    unsigned result = read_u8(&r);
    uint32_t key_state;

    if (!r.ok || key_slot >= c->n_slots || key_slot == index || result >= TR_RESULT_COUNT) {
        c->damaged++;
        return;
    }
    key_state = collect_key(c, key_slot);
    if (key_state < SLOT_KEY_BASE)
        return; /* filtered out, or its key is damaged (counted there) */
    if (c->n_details == c->details_cap) {
        c->details_cap = c->details_cap ? 2 * c->details_cap : 64;
        c->details = xreallocarray(c->details, c->details_cap, sizeof(*c->details));
    }
    entry = &c->details[c->n_details];
    memset(entry, 0, sizeof(*entry));
    failure = &entry->detail.failure;
    failure->result = (enum tr_result)result;
    failure->sending_mta_ip = read_string(&r, c->snap);
    failure->receiving_mx_hostname = read_string(&r, c->snap);
    failure->receiving_mx_helo = read_string(&r, c->snap);
    failure->receiving_ip = read_string(&r, c->snap);
    failure->additional_information = read_string(&r, c->snap);
    failure->failure_reason_code = read_string(&r, c->snap);
    if (!r.ok || r.left != 0) {
        c->damaged++;
        return;
    }
    entry->detail.count = __atomic_load_n(&c->table->slots[index].count[0], __ATOMIC_RELAXED);
    entry->key = key_state - SLOT_KEY_BASE;
    c->n_details++;
}

/* NULL ("unknown") sorts before every string, "" included. */
static int compare_strings(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int compare_lists(const char *const *a, size_t n_a, const char *const *b, size_t n_b)
{
    int cmp;

    for (size_t i = 0; i < n_a && i < n_b; i++)
        if ((cmp = compare_strings(a[i], b[i])) != 0)
            return cmp;
    return (n_a > n_b) - (n_a < n_b);
}

static int compare_keys(const void *left, const void *right)
{
    const struct ctr_key *a = &((const struct collected_key *)left)->key;
    const struct ctr_key *b = &((const struct collected_key *)right)->key;
    int cmp;

    if ((cmp = compare_strings(a->domain, b->domain)) != 0 ||
        (cmp = compare_strings(a->record, b->record)) != 0)
        return cmp;
    if (a->policy.type != b->policy.type)
        return a->policy.type < b->policy.type ? -1 : 1;
    if ((cmp = compare_strings(a->policy.domain, b->policy.domain)) != 0 ||
        (cmp = compare_lists(a->policy.strings, a->policy.n_strings, b->policy.strings,
                             b->policy.n_strings)) != 0)
        return cmp;
    return compare_lists(a->policy.mx_hosts, a->policy.n_mx_hosts, b->policy.mx_hosts,
                         b->policy.n_mx_hosts);
}

static int compare_failures(const struct tr_failure *fa, const struct tr_failure *fb)
{
    int cmp;

    if ((cmp = strcmp(tr_result_name(fa->result), tr_result_name(fb->result))) != 0 ||
        (cmp = compare_strings(fa->sending_mta_ip, fb->sending_mta_ip)) != 0 ||
        (cmp = compare_strings(fa->receiving_mx_hostname, fb->receiving_mx_hostname)) != 0 ||
        (cmp = compare_strings(fa->receiving_mx_helo, fb->receiving_mx_helo)) != 0 ||
        (cmp = compare_strings(fa->receiving_ip, fb->receiving_ip)) != 0 ||
        (cmp = compare_strings(fa->additional_information, fb->additional_information)) != 0)
        return cmp;
    return compare_strings(fa->failure_reason_code, fb->failure_reason_code);
}

/* A key's rows by their fields: equal rows become neighbours. */
static int compare_detail_rows(const void *left, const void *right)
{
    const struct collected_detail *a = left;
    const struct collected_detail *b = right;

    return compare_failures(&a->detail.failure, &b->detail.failure);
}

/* Details: grouped by key, then count descending, result name, the other fields. */
static int compare_details(const void *left, const void *right)
{
    const struct collected_detail *a = left;
    const struct collected_detail *b = right;

    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->detail.count != b->detail.count)
        return a->detail.count > b->detail.count ? -1 : 1;
    return compare_failures(&a->detail.failure, &b->detail.failure);
}

static int compare_overflow(const void *left, const void *right)
{
    return strcmp(((const struct ctr_overflow *)left)->domain,
                  ((const struct ctr_overflow *)right)->domain);
}

static void collect_overflow(struct collector *c)
{
    struct ctr_table *table = c->table;
    struct ctr_snapshot *pub = &c->snap->pub;
    size_t cap = 0;

    for (uint32_t index = 0; index <= table->overflow_mask; index++) {
        struct ctr_overflow_slot *slot = &table->overflow[index];
        size_t len;
        char *domain;

        if (__atomic_load_n(&slot->hash, __ATOMIC_ACQUIRE) == 0)
            continue;
        len = strnlen(slot->domain, sizeof(slot->domain));
        if (len == 0 || len == sizeof(slot->domain)) {
            c->damaged++;
            continue;
        }
        if (c->domain_filter != NULL &&
            (strlen(c->domain_filter) != len || memcmp(slot->domain, c->domain_filter, len) != 0))
            continue;
        if (pub->n_overflow == cap) {
            cap = cap ? 2 * cap : 16;
            pub->overflow = xreallocarray(pub->overflow, cap, sizeof(*pub->overflow));
        }
        domain = arena_alloc(c->snap, len + 1, 1);
        memcpy(domain, slot->domain, len);
        domain[len] = '\0';
        pub->overflow[pub->n_overflow].domain = domain;
        pub->overflow[pub->n_overflow].events = __atomic_load_n(&slot->events, __ATOMIC_RELAXED);
        pub->n_overflow++;
    }
    if (pub->n_overflow > 1)
        qsort(pub->overflow, pub->n_overflow, sizeof(*pub->overflow), compare_overflow);
}

/*
 * Sorts the keys and merges equal ones: the collector's ('K') and the log
 * follower's ('L') key of one policy are one key of the report. Keys that
 * count nothing (made by a writer killed before its first increment, or by
 * a follower batch that was never committed) are left out. Returns, for
 * each original key index, its final index or SIZE_MAX (caller frees).
 */
static size_t *merge_keys(struct collector *c)
{
    size_t *position = xcalloc(c->n_keys, sizeof(*position));
    size_t *final;
    size_t n = 0, kept = 0;

    qsort(c->keys, c->n_keys, sizeof(*c->keys), compare_keys);
    for (size_t i = 0; i < c->n_keys; i++) {
        size_t original = c->keys[i].original;

        if (n > 0 && compare_keys(&c->keys[n - 1], &c->keys[i]) == 0) {
            c->keys[n - 1].key.success += c->keys[i].key.success;
            c->keys[n - 1].key.failure += c->keys[i].key.failure;
        } else {
            c->keys[n++] = c->keys[i];
        }
        position[original] = n - 1;
    }
    final = xcalloc(n, sizeof(*final));
    for (size_t k = 0; k < n; k++) {
        if (c->keys[k].key.success == 0 && c->keys[k].key.failure == 0) {
            final[k] = SIZE_MAX;
        } else {
            c->keys[kept] = c->keys[k];
            final[k] = kept++;
        }
    }
    for (size_t i = 0; i < c->n_keys; i++)
        position[i] = final[position[i]];
    free(final);
    c->n_keys = kept;
    return position;
}

/*
 * The rows of each merged key, in the snapshot's order, straight into the
 * snapshot: equal rows of a key added up, then by count descending. Rows are
 * found per key through a counting sort of their indices (sequential, 4
 * bytes a row) and each is read once, instead of sorting them all by (key,
 * fields): with 100,000 keys that sort was most of a snapshot. first[k] ..
 * first[k + 1] are then key k's rows in snap->details.
 */
static size_t *merge_details(struct collector *c, const size_t *position)
{
    size_t *first = xcalloc(c->n_keys + 1, sizeof(*first));
    size_t *next = xcalloc(c->n_keys + 1, sizeof(*next));
    uint32_t *order = xcalloc(c->n_details + 1, sizeof(*order));
    struct collected_detail *rows = NULL;
    size_t rows_cap = 0, merged = 0;

    for (size_t i = 0; i < c->n_details; i++) {
        size_t key = position[c->details[i].key];
        c->details[i].key = key;
        if (key != SIZE_MAX && c->details[i].detail.count > 0)
            next[key + 1]++;
    }
    for (size_t k = 0; k < c->n_keys; k++)
        next[k + 1] += next[k];
    for (size_t i = 0; i < c->n_details; i++)
        if (c->details[i].key != SIZE_MAX && c->details[i].detail.count > 0)
            order[next[c->details[i].key]++] = (uint32_t)i;
    if (c->n_details > 0)
        c->snap->details = xcalloc(c->n_details, sizeof(*c->snap->details));
    for (size_t k = 0, at = 0; k < c->n_keys; k++) {
        size_t n_rows = next[k] - at, kept = 0;

        if (n_rows > rows_cap) {
            rows_cap = n_rows > 2 * rows_cap ? n_rows : 2 * rows_cap;
            rows = xreallocarray(rows, rows_cap, sizeof(*rows));
        }
        for (size_t i = 0; i < n_rows; i++)
            rows[i] = c->details[order[at + i]];
        at = next[k];
        if (n_rows > 1)
            qsort(rows, n_rows, sizeof(*rows), compare_detail_rows);
        for (size_t i = 0; i < n_rows; i++) {
            if (kept > 0 && compare_detail_rows(&rows[kept - 1], &rows[i]) == 0)
                rows[kept - 1].detail.count += rows[i].detail.count;
            else
                rows[kept++] = rows[i];
        }
        if (kept > 1)
            qsort(rows, kept, sizeof(*rows), compare_details);
        first[k] = merged;
        for (size_t i = 0; i < kept; i++)
            c->snap->details[merged++] = rows[i].detail;
    }
    first[c->n_keys] = merged;
    free(rows);
    free(order);
    free(next);
    return first;
}

/* Sorts and merges keys and details and hands them to the public struct. */
static void assemble(struct collector *c)
{
    struct ctr_snapshot *pub = &c->snap->pub;
    size_t *position, *first;

    if (c->n_keys == 0)
        return;
    position = merge_keys(c);
    if (c->n_keys == 0) {
        free(position);
        return;
    }
    first = merge_details(c, position);
    free(position);
    pub->keys = xcalloc(c->n_keys, sizeof(*pub->keys));
    pub->n_keys = c->n_keys;
    for (size_t k = 0; k < c->n_keys; k++) {
        pub->keys[k] = c->keys[k].key;
        pub->keys[k].n_details = first[k + 1] - first[k];
        pub->keys[k].details = pub->keys[k].n_details > 0 ? &c->snap->details[first[k]] : NULL;
    }
    free(first);
}

/* Slots scanned between two releases of table pages (a power of two). */
#define SNAPSHOT_DROP_SLOTS 65536

/*
 * Unmaps the whole pages between from and to from this process. On a shared
 * file mapping this loses nothing: the data stays in the page cache and a
 * later access maps it again. It keeps a snapshot's peak memory near the
 * size of the copy instead of the copy plus the table.
 */
static void drop_pages(const void *from, const void *to)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)from + page - 1) & ~(page - 1);
    uintptr_t end = (uintptr_t)to & ~(page - 1);

    if (end > start)
        madvise((void *)start, end - start, MADV_DONTNEED);
}

struct ctr_snapshot *ctr_snapshot(struct ctr_table *table, const char *domain_filter)
{
    struct collector c;
    const unsigned char *bytes;
    uint32_t length;

    memset(&c, 0, sizeof(c));
    c.table = table;
    c.domain_filter = domain_filter;
    c.snap = xcalloc(1, sizeof(*c.snap));
    c.snap->pub.day = table->day;
    c.n_slots = ctr_slots_published(table);
    c.slot_state = xcalloc(c.n_slots, sizeof(*c.slot_state));

    for (uint32_t index = 0; index < c.n_slots; index++) {
        struct ctr_slot *slot = &table->slots[index];

        /* Slots already scanned need not stay in memory beside the copy. */
        if ((index & (SNAPSHOT_DROP_SLOTS - 1)) == 0 && index > 0)
            drop_pages(&table->slots[index - SNAPSHOT_DROP_SLOTS], slot);
        if (__atomic_load_n(&slot->hash, __ATOMIC_ACQUIRE) == 0)
            continue;
        if ((bytes = ctr_slot_encoding(table, slot, &length)) == NULL)
            c.damaged++;
        else if (ctr_kind_is_key(bytes[0]))
            (void)collect_key(&c, index);
        else if (bytes[0] == CTR_KIND_DETAIL)
            collect_detail(&c, index, bytes, length);
        else
            c.damaged++;
    }
    collect_overflow(&c);
    c.snap->pub.lost_events = __atomic_load_n(&table->header->lost_events, __ATOMIC_RELAXED);
    c.snap->pub.late_events = ctr_late_events(table);
    /* Everything needed is copied: let the table's pages go before sorting. */
    drop_pages(table->slots, table->map + table->map_size);
    if (c.damaged > 0)
        msg_warn("%s: skipped %zu damaged entries of the counter table", table->path, c.damaged);
    assemble(&c);
    free(c.slot_state);
    free(c.keys);
    free(c.details);
    return &c.snap->pub;
}

void ctr_snapshot_free(struct ctr_snapshot *snapshot)
{
    struct snapshot_private *snap = (struct snapshot_private *)snapshot;
    struct arena_block *block;

    if (snapshot == NULL)
        return;
    while ((block = snap->blocks) != NULL) {
        snap->blocks = block->next;
        free(block);
    }
    free(snap->details);
    free(snap->pub.keys);
    free(snap->pub.overflow);
    free(snap);
}
