/*
 * key.c - a counter key or failure-detail row taken from an event as the
 * fields of its canonical encoding, without copying: its hash (made once,
 * from the parts), its encoding (written only for a new key) and its
 * comparison in place with what a slot holds.
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

void ctr_item_init(struct ctr_item *item)
{
    item->fields = item->inline_fields;
    item->n = 0;
    item->cap = CTR_ITEM_INLINE_FIELDS;
}

static void item_reset(struct ctr_item *item, const struct ctr_table *table)
{
    item->n = 0;
    item->encoded_len = 0;
    item->hash_made = false;
    item->key = table->hash_seed ^ HASH_K1;
    item->strings = 0;
    item->numbers = 0;
}

void ctr_item_free(struct ctr_item *item)
{
    if (item->fields != item->inline_fields)
        free(item->fields);
}

static void item_grow(struct ctr_item *item)
{
    struct ctr_field *bigger = xreallocarray(NULL, 2 * item->cap, sizeof(*bigger));

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
static inline void item_add(struct ctr_item *item, uint8_t type, const char *text, uint32_t value,
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
    item->fields[item->n++] = (struct ctr_field){text, value, type};
    item->encoded_len += type == CTR_FIELD_U8    ? 1
                         : type == CTR_FIELD_U32 ? 4
                                                 : 4 + (uint64_t)(value > 0 ? value - 1 : 0);
}

/* Length + 1 in the encoding, so that NULL ("unknown") is 0 and "" is 1. Returns its hash. */
static inline uint64_t item_string(struct ctr_item *item, const char *text)
{
    size_t len = text != NULL ? strlen(text) : 0;

    /* Events passed tr_event_check(): strings are a few kilobytes at most. */
    if (len >= UINT32_MAX)
        msg_panic("counter key string of %zu bytes", len);
    uint64_t one_hash = text != NULL ? hash_string(item->key, text, len) : 0;

    item_add(item, CTR_FIELD_STRING, text, text != NULL ? (uint32_t)len + 1 : 0, one_hash);
    return one_hash;
}

/* The string of field `index` again (a key's domain as its policy domain): measured once. */
static void item_string_again(struct ctr_item *item, size_t index, uint64_t one_hash)
{
    item_add(item, CTR_FIELD_STRING, item->fields[index].text, item->fields[index].value, one_hash);
}

static void item_string_list(struct ctr_item *item, const char *const *list, size_t count)
{
    if (count > UINT32_MAX)
        msg_panic("counter key list of %zu strings", count);
    item_add(item, CTR_FIELD_U32, NULL, (uint32_t)count, 0);
    for (size_t i = 0; i < count; i++)
        (void)item_string(item, list[i]);
}

/* The canonical encoding of an item into out (item->encoded_len bytes). */
void ctr_item_encode(const struct ctr_item *item, unsigned char *out)
{
    for (size_t i = 0; i < item->n; i++) {
        const struct ctr_field *f = &item->fields[i];
        uint32_t value = f->value;

        if (f->type == CTR_FIELD_U8) {
            *out++ = (unsigned char)value;
            continue;
        }
        out[0] = (unsigned char)value;
        out[1] = (unsigned char)(value >> 8);
        out[2] = (unsigned char)(value >> 16);
        out[3] = (unsigned char)(value >> 24);
        out += 4;
        if (f->type == CTR_FIELD_STRING && value > 1) {
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
bool ctr_item_matches(const struct ctr_item *item, const unsigned char *at)
{
    for (size_t i = 0; i < item->n; i++) {
        const struct ctr_field *f = &item->fields[i];

        if (f->type == CTR_FIELD_U8) {
            if (*at++ != f->value)
                return false;
            continue;
        }
        if (ctr_get_u32(at) != f->value)
            return false;
        at += 4;
        if (f->type == CTR_FIELD_STRING && f->value > 1) {
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
void ctr_item_hash(const struct ctr_table *table, struct ctr_item *item)
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
    ctr_item_encode(item, bytes);
    item->hash = ctr_hash(table, bytes, item->encoded_len);
    if (bytes != inline_bytes)
        free(bytes);
}

/* The key a policy of an event counts under; NULLs resolved as documented. */
void ctr_item_key(const struct ctr_table *table, struct ctr_item *item, enum ctr_slot_kind kind,
                  const struct tr_event *event, const struct tr_policy *policy)
{
    uint64_t domain_hash;

    item_reset(item, table);
    item_add(item, CTR_FIELD_U8, NULL, kind, 0);
    domain_hash = item_string(item, event->domain);
    item_string(item, event->record != NULL ? event->record : "");
    item_add(item, CTR_FIELD_U8, NULL, (uint32_t)policy->type, 0);
    if (policy->domain != NULL)
        item_string(item, policy->domain);
    else
        item_string_again(item, 1, domain_hash);
    item_string_list(item, policy->strings, policy->n_strings);
    item_string_list(item, policy->mx_hosts, policy->n_mx_hosts);
}

/* A detail row names its key by slot index: slots never move. */
void ctr_item_detail(const struct ctr_table *table, struct ctr_item *item, uint32_t key_slot,
                     const struct tr_failure *failure)
{
    item_reset(item, table);
    item_add(item, CTR_FIELD_U8, NULL, CTR_KIND_DETAIL, 0);
    item_add(item, CTR_FIELD_U32, NULL, key_slot, 0);
    item_add(item, CTR_FIELD_U8, NULL, (uint32_t)failure->result, 0);
    item_string(item, failure->sending_mta_ip);
    item_string(item, failure->receiving_mx_hostname);
    item_string(item, failure->receiving_mx_helo);
    item_string(item, failure->receiving_ip);
    item_string(item, failure->additional_information);
    item_string(item, failure->failure_reason_code);
}
