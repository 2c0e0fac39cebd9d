/*
 * cache.c - a two-way set-associative cache from datagram bytes to the
 * event parsed from them. A hit is confirmed by comparing every byte, so
 * the result is exactly what parsing would give; only successful parses are
 * kept, and only from their second sighting (a table of hashes seen once),
 * so distinct datagrams cost no copies. Memory is bounded by a budget.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "util.h"

#define CACHE_SETS 4096               /* power of two; two entries each */
#define CACHE_MAX_DATAGRAM 2048       /* bigger ones are rare: not worth the memory */
#define CACHE_BUDGET (16u << 20)      /* bytes of datagrams and event copies */
#define SEEN_SLOTS 16384              /* power of two: hashes of datagrams missed once */

struct cache_entry {
    uint64_t hash;
    size_t len;
    size_t cost; /* bytes this entry holds */
    char *bytes;
    struct tr_event *event;
};

struct parse_cache {
    struct cache_entry sets[CACHE_SETS][2]; /* [0] is the more recently used */
    size_t used;
    uint64_t seen[SEEN_SLOTS];
};

struct parse_cache *parse_cache_create(void)
{
    return xcalloc(1, sizeof(struct parse_cache));
}

static void entry_clear(struct parse_cache *cache, struct cache_entry *entry)
{
    free(entry->bytes);
    free(entry->event);
    cache->used -= entry->cost;
    memset(entry, 0, sizeof(*entry));
}

void parse_cache_destroy(struct parse_cache *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < CACHE_SETS; i++) {
        entry_clear(cache, &cache->sets[i][0]);
        entry_clear(cache, &cache->sets[i][1]);
    }
    free(cache);
}

static bool entry_matches(const struct cache_entry *entry, uint64_t hash, const char *data,
                          size_t len)
{
    return entry->event && entry->hash == hash && entry->len == len &&
           memcmp(entry->bytes, data, len) == 0;
}

struct tr_event *parse_cache_lookup(struct parse_cache *cache, const char *data, size_t len,
                                    uint64_t *hash_r)
{
    *hash_r = 0;
    if (len > CACHE_MAX_DATAGRAM)
        return NULL;
    uint64_t hash = *hash_r = hash64(data, len, 0);
    struct cache_entry *set = cache->sets[hash & (CACHE_SETS - 1)];
    if (entry_matches(&set[0], hash, data, len))
        return set[0].event;
    if (entry_matches(&set[1], hash, data, len)) {
        struct cache_entry hit = set[1];
        set[1] = set[0];
        set[0] = hit;
        return set[0].event;
    }
    return NULL;
}

void parse_cache_store(struct parse_cache *cache, const char *data, size_t len, uint64_t hash,
                       const struct tr_event *event)
{
    if (len > CACHE_MAX_DATAGRAM)
        return;
    /* First sighting: only noted. A hash of 0 is never noted, so it is never taken as seen. */
    uint64_t *seen = &cache->seen[(hash >> 32) & (SEEN_SLOTS - 1)];
    if (*seen != hash || hash == 0) {
        *seen = hash;
        return;
    }
    struct cache_entry *set = cache->sets[hash & (CACHE_SETS - 1)];
    /* The least recently used entry of the set makes room. */
    entry_clear(cache, &set[1]);
    set[1] = set[0];
    memset(&set[0], 0, sizeof(set[0]));
    size_t event_size;
    struct tr_event *copy = tr_event_copy(event, &event_size);
    size_t cost = len + event_size;
    if (cache->used + cost > CACHE_BUDGET) {
        free(copy);
        return;
    }
    set[0].hash = hash;
    set[0].len = len;
    set[0].cost = cost;
    set[0].bytes = xmalloc(len ? len : 1);
    memcpy(set[0].bytes, data, len);
    set[0].event = copy;
    cache->used += cost;
}
