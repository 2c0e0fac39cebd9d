/*
 * policy_impl.h - what the files of the policy module share: the HTTPS
 * fetch of a policy body and the on-disk cache entry format.
 */
#ifndef TLSRPT_POLICY_IMPL_H
#define TLSRPT_POLICY_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include <pthread.h>
#include <stdint.h>

#include "core.h"
#include "counters.h"
#include "dns.h"
#include "policy.h"
#include "util.h"

/* How a fetch failed, as RFC 8460 §4.3.2 names the result. */
enum pol_failure {
    POL_FAIL_NONE = 0,
    POL_FAIL_FETCH,   /* sts-policy-fetch-error */
    POL_FAIL_INVALID, /* sts-policy-invalid */
    POL_FAIL_WEBPKI,  /* sts-webpki-invalid */
};
#define POL_FAIL_COUNT 4
const char *pol_failure_name(enum pol_failure failure);
int pol_failure_from_name(const char *name, enum pol_failure *failure);

struct pol_fetch_settings {
    const char *ca_file; /* extra trust, "" for none */
    int port;            /* 443 but in tests */
    int timeout_seconds;
};

/*
 * GETs https://mta-sts.DOMAIN/.well-known/mta-sts.txt from the given
 * addresses only (pinned with CURLOPT_RESOLVE; curl never resolves names):
 * certificate verified against the system store plus ca_file, SNI, no
 * redirects, 200 only, text/plain, at most POL_BODY_MAX bytes. The body in
 * *body, or the failure kind with *error_r (caller frees). Thread-safe.
 */
enum pol_failure pol_fetch(const struct pol_fetch_settings *settings, const char *domain,
                           const struct sockaddr_storage *addresses, size_t n_addresses,
                           struct buf *body, char **error_r);
/* curl_global_init, once per process; called by pol_service_create. */
void pol_fetch_init(void);

/* One cached domain, as kept in memory and written to $state_directory/sts/DOMAIN. */
struct pol_entry {
    struct pol_entry *next_in_bucket;
    struct pol_entry *older, *newer; /* by last use: the oldest is evicted first */
    uint64_t hash;
    char *domain;
    char id[POL_ID_MAX + 1]; /* of the policy held; "" when none */
    char *policy_text;       /* NULL when none */
    struct pol_policy policy;
    time_t fetched;
    time_t last_used;
    enum pol_failure failure;       /* of the last fetch; NONE when it worked */
    char *last_error;               /* NULL when the last fetch worked */
    char failed_id[POL_ID_MAX + 1]; /* the TXT id the failed fetch was for */
    time_t next_retry;
    long retry_delay;
    bool fetching; /* a thread is fetching it now */
};

/* The file text of an entry, and back; -1 with *error_r for a damaged file. */
void pol_entry_format(const struct pol_entry *entry, struct buf *out);
int pol_entry_parse(const char *text, size_t len, struct pol_entry *entry, char **error_r);
void pol_entry_clear(struct pol_entry *entry);

/*
 * The in-memory cache (cache.c): a hash map by domain with a list by last
 * use, mirrored in dir/DOMAIN.sts. The caller holds the service's lock.
 */
struct pol_cache {
    char *dir;
    size_t max_entries;
    struct pol_entry **buckets;
    size_t n_buckets; /* power of two */
    struct pol_entry *oldest, *newest;
    size_t n_entries;
};
/* Reads every DOMAIN.sts of dir (damaged files are moved aside with a warning). */
void pol_cache_open(struct pol_cache *cache, const char *dir, size_t max_entries);
void pol_cache_close(struct pol_cache *cache);
struct pol_entry *pol_cache_find(struct pol_cache *cache, const char *domain);
/* A new empty entry for domain, evicting the least recently used beyond max_entries. */
struct pol_entry *pol_cache_add(struct pol_cache *cache, const char *domain);
/* Marks entry used now (the newest). */
void pol_cache_touch(struct pol_cache *cache, struct pol_entry *entry, time_t now);
/* Writes entry's file; a failure is logged (the memory copy still serves). */
void pol_cache_save(struct pol_cache *cache, const struct pol_entry *entry);
/*
 * The same in two steps, so the lock is not held across the write and its
 * fsyncs: the file's path and text made under the lock, written (and
 * freed) after it, with the entry kept `fetching` meanwhile.
 */
struct pol_cache_file {
    char *path;
    struct buf text;
};
void pol_cache_file_make(const struct pol_cache *cache, const struct pol_entry *entry,
                         struct pol_cache_file *file);
void pol_cache_file_write(struct pol_cache_file *file);
/* Removes entry from memory and disk. */
int pol_cache_remove(struct pol_cache *cache, struct pol_entry *entry, char **error_r);

#define POL_RESOLVERS 4 /* for delivery lookups; each prefetch fetcher adds one */
#define POL_TEMP_MEMO 256        /* names whose session lookup failed for now */
#define POL_TEMP_MEMO_SECONDS 300

/* The service object, shared by service.c (lookups) and view.c (stats, cache, sessions). */
struct pol_stats_counts {
    uint64_t lookups, cache_hits, fetches, fetch_ok, answered_dane, answered_enforce,
        answered_testing, answered_notfound, answered_temp, counted, prefetches;
    uint64_t failures[POL_FAIL_COUNT];
};

/*
 * The prefetches that cannot be answered from memory (prefetch.c): a FIFO
 * of at most `capacity` domains served by `concurrency` fetcher threads,
 * and a hash set of the domains queued or being looked up, so a domain is
 * in it once. Its own lock: the event loops add to it and must not wait
 * for the service's.
 */
struct pol_prefetch_item;
struct pol_prefetch_queue {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t *threads;
    size_t concurrency, n_threads, capacity;
    struct pol_prefetch_item **buckets; /* queued and in flight, by domain */
    size_t n_buckets;                   /* power of two */
    struct pol_prefetch_item *head, *tail;
    size_t length, in_flight;
    _Atomic bool stopping; /* also read, without the lock, by the fetchers' lookups */
    uint64_t queued, duplicates, dropped, fetched, skipped;
};
void pol_prefetch_queue_init(struct pol_prefetch_queue *queue, size_t concurrency,
                             size_t capacity);
/* Stops the fetchers (pol_prefetch_stop) and frees the queue. */
struct pol_service;
void pol_prefetch_queue_free(struct pol_service *svc);

struct pol_service {
    char *counters_dir;
    struct ctr_limits limits;
    bool attributes;
    char *testing_level; /* answered for testing mode with attributes on */
    bool no_counting;
    struct pol_fetch_settings fetch;
    char *ca_file;
    /*
     * A resolver (and its cache) is not thread-safe: a few, each under its
     * own lock, so one slow DNS answer does not hold up every lookup.
     */
    /*
     * Names whose DNS lookup for log capture failed for now (timeouts are not
     * cached): not asked again for a while, so a slow DNS server cannot
     * hold up the log follower for every session. Under `lock`.
     */
    struct {
        uint64_t hash;
        time_t until;
    } temp_failed[POL_TEMP_MEMO];
    struct dns_resolver **resolvers;
    pthread_mutex_t *dns_locks;
    size_t n_resolvers; /* POL_RESOLVERS + policy_prefetch_concurrency */
    pthread_mutex_t lock; /* the cache, the stats, the counter table */
    pthread_cond_t fetch_done;
    struct pol_cache cache;
    struct ctr_table *table;
    struct pol_stats_counts stats;
    struct pol_prefetch_queue prefetch;
};

/* A DNS lookup through a free resolver of the service (or the next one to be free). */
void pol_dns_records(struct pol_service *svc, const char *name, enum dns_rr_kind kind,
                     struct dns_records *answer);
/*
 * The same from the caches of the resolvers nobody is using, never asking
 * a server: false (answer empty) when none of them holds it.
 */
bool pol_dns_cached(struct pol_service *svc, const char *name, enum dns_rr_kind kind,
                    struct dns_records *answer);
/*
 * The lookup of a prefetch (no answer, no failure counted): with
 * cache_only from memory or not at all, else one that may block on DNS and
 * HTTPS but never waits for another thread's fetch of the same policy.
 * True when done; false when it would block (cache_only) or another thread
 * is fetching the policy (left to it).
 */
bool pol_prefetch_lookup(struct pol_service *svc, const char *domain, bool cache_only);
/* Lower case without a trailing dot into out; false when not a host name. */
bool pol_domain_normalize(const char *domain, char out[TR_MAX_DOMAIN + 1]);

#endif
