/*
 * hash.c - a fast 64-bit non-cryptographic hash for in-memory and on-disk
 * hash tables (FNV-1a over 8-byte words with a final avalanche mix). Slots
 * are always confirmed by a full compare, so only speed and spread matter.
 */
#include "config.h"

#include <string.h>

#include "util.h"

static uint64_t hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

uint64_t hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed ^ (uint64_t)len;
    const uint64_t prime = UINT64_C(0x100000001b3);

    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        h = (h ^ word) * prime;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h = (h ^ tail) * prime;
    return hash_mix(h);
}
