/*
 * cache.h - the collector's parse cache (private to the collector module):
 * identical datagrams (every successful session to the same domain under
 * the same policy is byte-identical) are parsed by json-c once.
 */
#ifndef TLSRPT_COLLECTOR_CACHE_H
#define TLSRPT_COLLECTOR_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

struct parse_cache;
struct parse_cache *parse_cache_create(void);
void parse_cache_destroy(struct parse_cache *cache);
/* The event parsed earlier from exactly these bytes, or NULL; *hash_r for the store. */
struct tr_event *parse_cache_lookup(struct parse_cache *cache, const char *data, size_t len,
                                    uint64_t *hash_r);
/*
 * Remembers a deep copy of event as the parse of these bytes, from their
 * second miss on: a datagram seen once (every one distinct) costs no copy.
 */
void parse_cache_store(struct parse_cache *cache, const char *data, size_t len, uint64_t hash,
                       const struct tr_event *event);

#endif
