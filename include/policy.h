/*
 * policy.h - the MTA-STS (RFC 8461) policy service behind Postfix's
 * smtp_tls_policy_maps: discovery (TXT + HTTPS), the on-disk policy cache,
 * DANE-first answers in socketmap value syntax, and counting of the
 * failures that happen before any connection (fetch, invalid, webpki).
 */
#ifndef TLSRPT_POLICY_H
#define TLSRPT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cfg.h"
#include "core.h"
#include "util.h"

/* ---- Pure parsers (no I/O; used by the service, the CLI, tests and fuzzers) ---- */

#define POL_ID_MAX 32 /* RFC 8461 §3.1: id is 1-32 alphanumerics */
#define POL_MAX_AGE_MAX 31557600L
#define POL_BODY_MAX 65536 /* §3.2 "SHOULD NOT exceed 64 KB": we refuse more */
#define POL_MX_MAX 64      /* mx patterns kept per policy */

/*
 * Parses the text of one `_mta-sts` TXT record (strings joined): "v=STSv1"
 * first, fields separated by *WSP ";" *WSP, exactly one "id" of 1-32
 * alphanumerics (a second id is an error), extensions ignored, trailing ";"
 * allowed. id_r receives the id (NUL-terminated). -1 with *error_r (caller
 * frees) saying what is wrong.
 */
int pol_record_parse(const char *text, size_t len, char id_r[POL_ID_MAX + 1], char **error_r);

enum pol_mode {
    POL_MODE_NONE,
    POL_MODE_TESTING,
    POL_MODE_ENFORCE,
};
const char *pol_mode_name(enum pol_mode mode);

struct pol_policy {
    enum pol_mode mode;
    long max_age; /* seconds, 0..POL_MAX_AGE_MAX */
    char **mx;    /* patterns in policy order, lower case, e.g. "*.example.net" */
    size_t n_mx;
};

/*
 * Parses a policy body (§3.2): "version: STSv1" the first line, LF or CRLF
 * line ends, "key: value" (whitespace around the value ignored), the first
 * occurrence of a repeated key wins except mx (repeated), unknown keys
 * ignored. mode and max_age are required, mx too unless mode is none.
 * -1 with *error_r naming the line and the problem.
 */
int pol_policy_parse(const char *text, size_t len, struct pol_policy *policy, char **error_r);
void pol_policy_free(struct pol_policy *policy);
/*
 * The policy as RFC 8460 §4.4 policy-strings, one per line in a canonical
 * form: "version: STSv1", "mode: M", "mx: P"..., "max_age: N". An array of
 * *n_r strings; free each and the array.
 */
char **pol_policy_strings(const struct pol_policy *policy, size_t *n_r);

/*
 * §4.1: does host (an A-label name, case-insensitive, trailing dot ignored)
 * match pattern? "*." matches exactly one leftmost label.
 */
bool pol_mx_match(const char *pattern, const char *host);

/* ---- The service ---- */

struct pol_service;

/*
 * Reads the sts_* and policy_* parameters and opens the cache under
 * $state_directory/sts (created if missing). Failure counting: the service
 * opens the day's counter table itself ($state_directory/counters, with the
 * counter_* sizes) when it has a failure to count. Call it as the user the daemon runs as: it creates the cache
 * directory and files. DNS goes to dns_resolvers (dns_timeout per query).
 */
struct pol_service *pol_service_create(struct cfg *cfg, char **error_r);
void pol_service_destroy(struct pol_service *svc);
/* Off: failures are not counted (`tlsrpt sts DOMAIN` is not a delivery attempt). */
void pol_service_set_counting(struct pol_service *svc, bool count);

/*
 * One socketmap lookup for a next-hop domain (as Postfix sends it, may have
 * a trailing dot or upper case). Thread-safe: called from several worker
 * threads at once; may block on DNS/HTTPS within the configured timeouts.
 * Appends the reply without netstring framing: "OK <value>", "NOTFOUND ",
 * "TEMP <reason>" or "PERM <reason>".
 */
void pol_query(struct pol_service *svc, const char *domain, struct buf *reply);
/*
 * pol_query() that never blocks: answers from memory (the DNS and policy
 * caches) and returns true, or returns false, reply untouched, when the
 * answer needs DNS, a fetch, or waits for another thread's fetch.
 */
bool pol_query_cached(struct pol_service *svc, const char *domain, struct buf *reply);

/*
 * Warms the caches for a domain mail is about to go to (tlsrpt-milter's
 * prefetch) without an answer and without counting a failure (no mail was
 * sent; the delivery's own lookup counts). Never blocks: what memory
 * answers is done at once; the rest goes to the background fetchers'
 * queue, once per domain (a domain queued or being looked up is not
 * queued again; a policy another thread is fetching is left to it); a full
 * queue (policy_prefetch_queue) drops it. Counted in pol_stats.
 */
void pol_prefetch(struct pol_service *svc, const char *domain);
/*
 * Starts policy_prefetch_concurrency fetcher threads (the daemon; without
 * them every prefetch that misses memory is dropped). -1 with *error_r.
 */
int pol_prefetch_start(struct pol_service *svc, char **error_r);
/*
 * Stops them: what waits is dropped, lookups under way end after the DNS
 * query (dns_timeout) or the policy fetch (its address lookup and
 * sts_fetch_timeout) in hand. pol_service_destroy does it too.
 */
void pol_prefetch_stop(struct pol_service *svc);
/* The socketmap name under which tlsrpt-milter asks the daemon for pol_prefetch. */
#define POL_PREFETCH_MAP "tlsrpt-prefetch"

/*
 * pol_query() that also appends to `why` "name: value" lines saying how the
 * answer came about (TXT record, policy, cache age, errors), for
 * `tlsrpt sts DOMAIN`. why may be NULL.
 */
void pol_query_explain(struct pol_service *svc, const char *domain, struct buf *reply,
                       struct buf *why);

/*
 * Refreshes cached policies that are in use and due (call every minute):
 * those looked up within their max_age once 3/4 of it has passed, at most
 * 64 per call, not while a failed fetch backs off. It fetches, so it may
 * block for several sts_fetch_timeout: call it from a thread of its own,
 * never from the event loop.
 */
void pol_refresh_due(struct pol_service *svc, time_t now);

/* name=value status lines (lookups, cache hits, fetches, errors by kind, entries). */
void pol_stats(struct pol_service *svc,
               void (*emit)(void *ctx, const char *name, const char *value), void *ctx);

/* One cache entry as `tlsrpt sts cache` shows it. */
struct pol_cache_info {
    const char *domain;
    const char *id;          /* "" when no policy was ever fetched */
    const char *policy_text; /* "" when none */
    time_t fetched;          /* 0 when none */
    long max_age;
    time_t last_used;
    const char *last_error; /* "" when the last fetch worked */
    time_t next_retry;      /* 0 when no retry is pending */
};
/* Calls fn for each cached domain, sorted by domain. */
void pol_cache_list(struct pol_service *svc,
                    void (*fn)(void *ctx, const struct pol_cache_info *info), void *ctx);
/* Forgets domain (memory and disk). 1 when it was cached, 0 when not, -1 with *error_r. */
int pol_cache_flush(struct pol_service *svc, const char *domain, char **error_r);

/*
 * For log capture: the policy that applied to a session of `domain` with
 * MX host `mx_host` (NULL when unknown), from what the service knows,
 * without fetching: tlsa when the domain's MX RRset and the host's TLSA
 * RRset are DNSSEC-validated (policy domain: the MX host, strings: the
 * TLSA records "USAGE SELECTOR MTYPE HEX"); else sts when a cached policy
 * within its max_age is in mode enforce or testing (policy domain: domain,
 * strings: the policy's lines, mx_patterns: its mx values); else
 * TR_POLICY_NONE. Thread-safe; the DNS answers mostly come from what the
 * service cached when Postfix asked it about the domain, else DNS is asked.
 */
struct pol_session {
    enum tr_policy_type type;
    char *policy_domain;
    char **strings;
    size_t n_strings;
    char **mx_patterns;
    size_t n_mx_patterns;
};
void pol_session_policy(struct pol_service *svc, const char *domain, const char *mx_host,
                        struct pol_session *session);
void pol_session_free(struct pol_session *session);

#endif
