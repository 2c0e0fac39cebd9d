/*
 * service.c - the policy service behind the socketmap: one lookup per
 * next-hop domain (DANE first, then the MTA-STS TXT record, the cache and a
 * fetch when needed), the Postfix answer, failure counting, refresh, stats.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cfg.h"
#include "core.h"
#include "counters.h"
#include "dns.h"
#include "policy.h"
#include "policy_impl.h"
#include "util.h"

#define DANE_HOSTS_MAX 8 /* MX hosts whose TLSA records are looked up */
#define ADDRESSES_MAX 8  /* of mta-sts.DOMAIN */
#define RETRY_FIRST 300  /* a failed fetch is tried again after 5 min, */
#define RETRY_MAX 3600   /* doubling up to 1 h */
#define REFRESH_BATCH 64 /* domains refreshed per pol_refresh_due call */
#define ERROR_TEXT_MAX 300

/* Everything one lookup learns, for the answer and for `tlsrpt sts DOMAIN`. */
struct lookup {
    char domain[TR_MAX_DOMAIN + 1];
    struct dns_records mx;
    char **hosts; /* MX host names in preference order (or the domain itself) */
    size_t n_hosts;
    char *txt_error; /* what the TXT lookup said when it failed */
    struct buf *why;
    bool cache_only;  /* answer from memory or not at all (pol_query_cached) */
    bool would_block; /* cache_only, and something is not in memory */
    bool no_count;    /* a prefetch: not a delivery attempt, no failure is counted */
    bool no_wait;     /* a background prefetch: another thread's fetch is left to it */
};

static void why(struct lookup *l, const char *fmt, ...) UTIL_PRINTF(2, 3);
static void why(struct lookup *l, const char *fmt, ...)
{
    va_list ap;

    if (l->why == NULL)
        return;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    buf_puts(l->why, text);
    buf_putc(l->why, '\n');
    free(text);
}

/* The policy text on one line: CR and LF shown as \r and \n. */
static void why_policy(struct lookup *l, const char *text)
{
    struct buf line = {0};

    if (l->why == NULL)
        return;
    for (const char *p = text; *p; p++)
        if (*p == '\r')
            buf_puts(&line, "\\r");
        else if (*p == '\n')
            buf_puts(&line, "\\n");
        else
            buf_putc(&line, *p);
    why(l, "policy text: %s", line.data ? line.data : "");
    buf_free(&line);
}

/* Errors go into files, answers and counters: one line of printable ASCII. */
static char *clean_error(const char *text)
{
    char *out = xstrndup(text, ERROR_TEXT_MAX);

    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = ' ';
    return out;
}

struct pol_service *pol_service_create(struct cfg *cfg, char **error_r)
{
    struct pol_service *svc = xcalloc(1, sizeof(*svc));
    const char *state = cfg_str(cfg, "state_directory");
    char *dir = path_join(state, "sts");

    size_t concurrency = (size_t)cfg_int(cfg, "policy_prefetch_concurrency");

    pthread_mutex_init(&svc->lock, NULL);
    pol_prefetch_queue_init(&svc->prefetch, concurrency,
                            (size_t)cfg_int(cfg, "policy_prefetch_queue"));
    /* Each prefetch fetcher can have a DNS query of its own out. */
    svc->n_resolvers = POL_RESOLVERS + concurrency;
    svc->resolvers = xcalloc(svc->n_resolvers, sizeof(*svc->resolvers));
    svc->dns_locks = xcalloc(svc->n_resolvers, sizeof(*svc->dns_locks));
    for (size_t i = 0; i < svc->n_resolvers; i++)
        pthread_mutex_init(&svc->dns_locks[i], NULL);
    pthread_cond_init(&svc->fetch_done, NULL);
    svc->counters_dir = path_join(state, "counters");
    svc->limits.max_entries = (uint32_t)cfg_int(cfg, "counter_table_entries");
    svc->limits.string_space = cfg_size(cfg, "counter_string_space");
    svc->attributes = cfg_bool(cfg, "policy_tlsrpt_attributes");
    svc->testing_level = xstrdup(cfg_str(cfg, "sts_testing_level"));
    svc->ca_file = xstrdup(cfg_str(cfg, "sts_ca_file"));
    svc->fetch.ca_file = svc->ca_file;
    svc->fetch.port = (int)cfg_int(cfg, "sts_https_port");
    svc->fetch.timeout_seconds = (int)cfg_time(cfg, "sts_fetch_timeout");
    if (dir_make(dir, 0750, error_r) < 0) {
        free(dir);
        pol_service_destroy(svc);
        return NULL;
    }
    for (size_t i = 0; i < svc->n_resolvers; i++) {
        svc->resolvers[i] = dns_resolver_create(cfg_list(cfg, "dns_resolvers"),
                                                (int)cfg_time(cfg, "dns_timeout") * 1000, error_r);
        if (svc->resolvers[i] == NULL) {
            free(dir);
            pol_service_destroy(svc);
            return NULL;
        }
    }
    pol_fetch_init();
    pol_cache_open(&svc->cache, dir, (size_t)cfg_int(cfg, "sts_cache_entries"));
    free(dir);
    return svc;
}

void pol_service_destroy(struct pol_service *svc)
{
    if (svc == NULL)
        return;
    pol_prefetch_queue_free(svc); /* its fetchers use all below */
    if (svc->cache.buckets)
        pol_cache_close(&svc->cache);
    for (size_t i = 0; i < svc->n_resolvers; i++)
        if (svc->resolvers[i])
            dns_resolver_destroy(svc->resolvers[i]);
    if (svc->table)
        ctr_close(svc->table);
    pthread_mutex_destroy(&svc->lock);
    for (size_t i = 0; i < svc->n_resolvers; i++)
        pthread_mutex_destroy(&svc->dns_locks[i]);
    free(svc->resolvers);
    free(svc->dns_locks);
    pthread_cond_destroy(&svc->fetch_done);
    free(svc->counters_dir);
    free(svc->ca_file);
    free(svc->testing_level);
    free(svc);
}

bool pol_domain_normalize(const char *domain, char out[TR_MAX_DOMAIN + 1])
{
    size_t len = strlen(domain);

    if (len > 0 && domain[len - 1] == '.')
        len--;
    if (len == 0 || len > TR_MAX_DOMAIN || !tr_hostname_ok(domain, len))
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)domain[i]);
    out[len] = '\0';
    return true;
}

void pol_service_set_counting(struct pol_service *svc, bool count)
{
    svc->no_counting = !count;
}

/* A resolver nobody uses, else the next in turn; release with resolver_release. */
static size_t resolver_acquire(struct pol_service *svc)
{
    static _Atomic unsigned int turn;

    for (size_t i = 0; i < svc->n_resolvers; i++)
        if (pthread_mutex_trylock(&svc->dns_locks[i]) == 0)
            return i;
    size_t slot = turn++ % svc->n_resolvers;
    pthread_mutex_lock(&svc->dns_locks[slot]);
    return slot;
}

static void resolver_release(struct pol_service *svc, size_t slot)
{
    pthread_mutex_unlock(&svc->dns_locks[slot]);
}

void pol_dns_records(struct pol_service *svc, const char *name, enum dns_rr_kind kind,
                     struct dns_records *answer)
{
    size_t slot = resolver_acquire(svc);
    dns_lookup_records(svc->resolvers[slot], name, kind, answer);
    resolver_release(svc, slot);
}

bool pol_dns_cached(struct pol_service *svc, const char *name, enum dns_rr_kind kind,
                    struct dns_records *answer)
{
    for (size_t i = 0; i < svc->n_resolvers; i++) {
        if (pthread_mutex_trylock(&svc->dns_locks[i]) != 0)
            continue;
        bool cached = dns_cached_records(svc->resolvers[i], name, kind, answer);
        resolver_release(svc, i);
        if (cached)
            return true;
        dns_records_free(answer);
    }
    memset(answer, 0, sizeof(*answer));
    return false;
}

/* A background prefetch asks nothing more once the daemon stops. */
static bool prefetch_stopping(struct pol_service *svc, const struct lookup *l)
{
    return l->no_wait && svc->prefetch.stopping;
}

/*
 * The lookup's DNS records: with cache_only, from the cache of a resolver
 * nobody uses, and a miss (or every resolver busy) sets would_block, as
 * does a background prefetch's once the daemon stops.
 */
static void lookup_records(struct pol_service *svc, struct lookup *l, const char *name,
                           enum dns_rr_kind kind, struct dns_records *answer)
{
    bool stopping = prefetch_stopping(svc, l);

    if (!l->cache_only && !stopping) {
        pol_dns_records(svc, name, kind, answer);
        return;
    }
    if (!stopping && pol_dns_cached(svc, name, kind, answer))
        return;
    memset(answer, 0, sizeof(*answer));
    answer->status = DNS_TEMPFAIL;
    answer->detail = xstrdup(stopping ? "stopping" : "not cached");
    l->would_block = true;
}

/* ---- DANE first (RFC 8461 §2) ---- */

static int by_preference(const void *a, const void *b)
{
    long x = strtol(*(char *const *)a, NULL, 10), y = strtol(*(char *const *)b, NULL, 10);
    return (x > y) - (x < y);
}

/* The MX hosts of the domain, kept for DANE and for the match= list. */
static void find_hosts(struct pol_service *svc, struct lookup *l)
{
    lookup_records(svc, l, l->domain, DNS_RR_MX, &l->mx);
    if (l->would_block)
        return;
    why(l, "mx: %s%s", l->mx.detail, l->mx.secure ? " (DNSSEC-validated)" : "");
    if (l->mx.status == DNS_NONE && strcmp(l->mx.detail, "NODATA") == 0) {
        l->hosts = xcalloc(1, sizeof(char *));
        l->hosts[l->n_hosts++] = xstrdup(l->domain); /* RFC 5321 §5.1 implicit MX */
        return;
    }
    if (l->mx.status != DNS_FOUND)
        return;
    qsort(l->mx.records, l->mx.n_records, sizeof(char *), by_preference);
    l->hosts = xcalloc(l->mx.n_records, sizeof(char *));
    for (size_t i = 0; i < l->mx.n_records; i++) {
        const char *host = strchr(l->mx.records[i], ' ');
        if (host && strcmp(host + 1, ".") != 0)
            l->hosts[l->n_hosts++] = xstrdup(host + 1);
        why(l, "mx record: %s", l->mx.records[i]);
    }
}

/*
 * Postfix's dane level uses TLSA records only behind a DNSSEC-validated MX
 * RRset (RFC 7672 §2.2): then a host with a validated TLSA RRset makes the
 * domain a DANE domain, and MTA-STS steps aside.
 */
static bool dane_applies(struct pol_service *svc, struct lookup *l)
{
    if (!l->mx.secure)
        return false;
    for (size_t i = 0; i < l->n_hosts && i < DANE_HOSTS_MAX; i++) {
        struct dns_records tlsa;
        char *name = xasprintf("_25._tcp.%s", l->hosts[i]);
        lookup_records(svc, l, name, DNS_RR_TLSA, &tlsa);
        bool secure = tlsa.status == DNS_FOUND && tlsa.secure;
        why(l, "tlsa %s: %s%s", name, tlsa.detail, tlsa.secure ? " (DNSSEC-validated)" : "");
        free(name);
        dns_records_free(&tlsa);
        if (secure || l->would_block)
            return secure;
    }
    return false;
}

/* ---- The answer ---- */

static void policy_attributes(const struct lookup *l, const struct pol_policy *policy,
                              struct buf *reply)
{
    size_t n;
    char **lines = pol_policy_strings(policy, &n);

    buf_printf(reply, " policy_type=sts policy_domain=%s", l->domain);
    for (size_t i = 0; i < n; i++) {
        buf_printf(reply, " { policy_string = %s }", lines[i]);
        free(lines[i]);
    }
    free(lines);
    for (size_t i = 0; i < policy->n_mx; i++)
        buf_printf(reply, " mx_host_pattern=%s", policy->mx[i]);
}

/*
 * Postfix's match= takes certificate names, and ".example.net" there means
 * any depth below example.net (postconf(5) smtp_tls_verify_cert_match: "a
 * non-zero number of labels followed by a .example.net suffix"), while an
 * MTA-STS "*.example.net" allows one label only. So the answer names the MX hosts themselves that
 * satisfy the policy (one-label rule applied here); the certificate must then be valid for one of
 * them. Only when the MX hosts are unknown (MX lookup failed) or none of them matches are the
 * patterns given, "*.x" as ".x": wider than the RFC by the depth of the name. The names come from
 * an unauthenticated MX lookup, but only those the policy allows are listed. Residual difference:
 * Postfix accepts a certificate for any listed name on any MX host it connects to, not only for the
 * host it connected to.
 */
static void match_list(const struct lookup *l, const struct pol_policy *policy, struct buf *out)
{
    size_t matched = 0;

    for (size_t i = 0; i < l->n_hosts; i++)
        for (size_t j = 0; j < policy->n_mx; j++)
            if (pol_mx_match(policy->mx[j], l->hosts[i])) {
                buf_printf(out, "%s%s", matched++ ? ":" : "", l->hosts[i]);
                break;
            }
    if (matched > 0)
        return;
    for (size_t j = 0; j < policy->n_mx; j++) {
        const char *p = policy->mx[j];
        buf_printf(out, "%s%s", j ? ":" : "", p[0] == '*' ? p + 1 : p);
    }
}

/* The caller holds svc->lock. */
static void answer_policy(struct pol_service *svc, struct lookup *l,
                          const struct pol_policy *policy, struct buf *reply)
{
    uint64_t *counter;

    switch (policy->mode) {
    case POL_MODE_ENFORCE:
        buf_puts(reply, "OK secure match=");
        match_list(l, policy, reply);
        buf_puts(reply, " servername=hostname");
        if (svc->attributes)
            policy_attributes(l, policy, reply);
        counter = &svc->stats.answered_enforce;
        break;
    case POL_MODE_TESTING:
        /*
         * Not enforced: without attributes there is nothing to tell Postfix
         * (its own smtp_tls_security_level applies); with them, the level of
         * sts_testing_level (the site's own, "may" by default) and the
         * policy, so its TLSRPT datagram reports the session under sts.
         */
        if (svc->attributes) {
            buf_printf(reply, "OK %s", svc->testing_level);
            policy_attributes(l, policy, reply);
        } else {
            buf_puts(reply, "NOTFOUND ");
        }
        counter = &svc->stats.answered_testing;
        break;
    case POL_MODE_NONE:
    default:
        buf_puts(reply, "NOTFOUND ");
        counter = &svc->stats.answered_notfound;
        break;
    }
    (*counter)++; /* the caller holds svc->lock */
}

/* ---- Counting failures before any connection (RFC 8460 §4.3.2) ---- */

static void count_failure(struct pol_service *svc, const char *domain, enum pol_failure failure,
                          const char *error)
{
    static const enum tr_result results[POL_FAIL_COUNT] = {
        [POL_FAIL_FETCH] = TR_RESULT_STS_POLICY_FETCH_ERROR,
        [POL_FAIL_INVALID] = TR_RESULT_STS_POLICY_INVALID,
        [POL_FAIL_WEBPKI] = TR_RESULT_STS_WEBPKI_INVALID,
    };
    /*
     * Counted here with attributes on too: the answer is NOTFOUND, never a
     * policy_failure (RFC 8461 lets the mail go out), so Postfix >= 3.10
     * reports the session under no-policy-found and nobody else this.
     */
    if (svc->no_counting || failure == POL_FAIL_NONE)
        return;
    char *url = xasprintf("https://mta-sts.%s/.well-known/mta-sts.txt", domain);
    struct tr_failure detail = {
        .result = results[failure], .additional_information = url, .failure_reason_code = error};
    struct tr_policy policy = {.type = TR_POLICY_STS,
                               .domain = domain,
                               .failed = true,
                               .failures = &detail,
                               .n_failures = 1};
    struct tr_event event = {
        .time = time(NULL), .domain = domain, .policies = &policy, .n_policies = 1};
    const char *bad;
    if (tr_event_check(&event, &bad) < 0) {
        msg_warn("MTA-STS: %s: failure not counted: %s", domain, bad);
        free(url);
        return;
    }
    int today = day_from_time(event.time);
    pthread_mutex_lock(&svc->lock);
    if (svc->table && ctr_day(svc->table) != today) {
        ctr_close(svc->table);
        svc->table = NULL;
    }
    char *error_open = NULL;
    if (svc->table == NULL && dir_make(svc->counters_dir, 0750, &error_open) == 0)
        svc->table = ctr_open(svc->counters_dir, today, CTR_READ_WRITE, &svc->limits, &error_open);
    if (svc->table) {
        ctr_add(svc->table, &event);
        svc->stats.counted++;
    } else {
        msg_error("MTA-STS: %s: failure not counted: %s", domain, error_open);
    }
    pthread_mutex_unlock(&svc->lock);
    free(error_open);
    free(url);
}

/* ---- Fetching ---- */

/* Resolves mta-sts.DOMAIN with our resolver, fetches and parses; no lock held. */
static enum pol_failure fetch_policy(struct pol_service *svc, const char *domain, struct buf *body,
                                     struct pol_policy *policy, char **error_r)
{
    struct sockaddr_storage addresses[ADDRESSES_MAX];
    char *host = xasprintf("mta-sts.%s", domain), *error = NULL;
    enum pol_failure failure;

    size_t slot = resolver_acquire(svc);
    int n = dns_lookup_addresses(svc->resolvers[slot], host, addresses, ADDRESSES_MAX, &error);
    resolver_release(svc, slot);
    if (n <= 0) {
        *error_r = n < 0 ? xasprintf("%s: %s", host, error) : xasprintf("%s has no address", host);
        free(error);
        free(host);
        return POL_FAIL_FETCH;
    }
    free(host);
    failure = pol_fetch(&svc->fetch, domain, addresses, (size_t)n, body, error_r);
    if (failure != POL_FAIL_NONE)
        return failure;
    if (pol_policy_parse(body->data, body->len, policy, &error) < 0) {
        *error_r = xasprintf("invalid policy: %s", error);
        free(error);
        return POL_FAIL_INVALID;
    }
    return POL_FAIL_NONE;
}

/*
 * Fetches the policy of entry (marked fetching, so nobody evicts, flushes or
 * fetches it meanwhile) for TXT id and records the outcome. Called with
 * svc->lock held; releases it during the fetch and the file's write (two
 * fsyncs: every lookup, cached ones too, would wait for them).
 */
static enum pol_failure fetch_into(struct pol_service *svc, struct pol_entry *entry, const char *id,
                                   struct lookup *l)
{
    struct buf body = {0};
    struct pol_policy policy;
    char *error = NULL, *domain = xstrdup(entry->domain);

    entry->fetching = true;
    svc->stats.fetches++;
    pthread_mutex_unlock(&svc->lock);
    enum pol_failure failure = fetch_policy(svc, domain, &body, &policy, &error);
    time_t now = time(NULL);
    pthread_mutex_lock(&svc->lock);
    if (failure == POL_FAIL_NONE) {
        free(entry->policy_text);
        pol_policy_free(&entry->policy);
        entry->policy_text = buf_steal(&body);
        entry->policy = policy;
        snprintf(entry->id, sizeof(entry->id), "%s", id);
        entry->fetched = now;
        entry->failure = POL_FAIL_NONE;
        free(entry->last_error);
        entry->last_error = NULL;
        entry->failed_id[0] = '\0';
        entry->next_retry = 0;
        entry->retry_delay = 0;
        svc->stats.fetch_ok++;
        if (l)
            why(l, "fetched: policy id %s", id);
    } else {
        free(entry->last_error);
        entry->last_error = clean_error(error);
        entry->failure = failure;
        snprintf(entry->failed_id, sizeof(entry->failed_id), "%s", id);
        entry->retry_delay = entry->retry_delay ? entry->retry_delay * 2 : RETRY_FIRST;
        if (entry->retry_delay > RETRY_MAX)
            entry->retry_delay = RETRY_MAX;
        entry->next_retry = now + entry->retry_delay;
        svc->stats.failures[failure]++;
        if (l)
            why(l, "fetch failed: %s: %s (next try in %lds)", pol_failure_name(failure),
                entry->last_error, entry->retry_delay);
    }
    struct pol_cache_file file;
    pol_cache_file_make(&svc->cache, entry, &file);
    pthread_mutex_unlock(&svc->lock);
    pol_cache_file_write(&file);
    pthread_mutex_lock(&svc->lock);
    entry->fetching = false;
    pthread_cond_broadcast(&svc->fetch_done);
    buf_free(&body);
    free(error);
    free(domain);
    return failure;
}

/* ---- One lookup ---- */

enum record_state { RECORD_VALID, RECORD_NONE, RECORD_TEMP };

/* §3.1: exactly one TXT record starting "v=STSv1", and it must parse. */
static enum record_state read_record(struct pol_service *svc, struct lookup *l,
                                     char id[POL_ID_MAX + 1])
{
    struct dns_records txt;
    char *name = xasprintf("_mta-sts.%s", l->domain), *error;
    size_t found = 0, chosen = 0;
    enum record_state state = RECORD_NONE;

    lookup_records(svc, l, name, DNS_RR_TXT, &txt);
    why(l, "txt %s: %s", name, txt.detail);
    if (l->would_block)
        goto done;
    if (txt.status == DNS_TEMPFAIL) {
        state = RECORD_TEMP;
        l->txt_error = clean_error(txt.detail);
        goto done;
    }
    for (size_t i = 0; i < txt.n_records; i++) {
        const char *t = txt.records[i];
        why(l, "txt record: %s", t);
        if (strncmp(t, "v=STSv1", 7) == 0 &&
            (t[7] == '\0' || t[7] == ';' || t[7] == ' ' || t[7] == '\t')) {
            found++;
            chosen = i;
        }
    }
    if (found != 1) {
        if (txt.status == DNS_FOUND)
            why(l, "record: %zu STSv1 records (exactly one makes a policy)", found);
        goto done;
    }
    const char *text = txt.records[chosen];
    if (pol_record_parse(text, strlen(text), id, &error) < 0) {
        why(l, "record: invalid: %s", error);
        free(error);
        goto done;
    }
    why(l, "record: id %s", id);
    state = RECORD_VALID;
done:
    dns_records_free(&txt);
    free(name);
    return state;
}

static void lookup_free(struct lookup *l)
{
    free(l->txt_error);
    for (size_t i = 0; i < l->n_hosts; i++)
        free(l->hosts[i]);
    free(l->hosts);
    dns_records_free(&l->mx);
}

static bool usable(const struct pol_entry *entry, time_t now)
{
    return entry && entry->policy_text && now < entry->fetched + entry->policy.max_age;
}

static void serve_cached(struct pol_service *svc, struct lookup *l, struct pol_entry *entry,
                         time_t now, const char *reason, struct buf *reply)
{
    why(l, "policy: cached, id %s, fetched %llds ago, max_age %ld (%s)", entry->id,
        (long long)(now - entry->fetched), entry->policy.max_age, reason);
    why_policy(l, entry->policy_text);
    pol_cache_touch(&svc->cache, entry, now);
    answer_policy(svc, l, &entry->policy, reply);
}

/* Decides with svc->lock held; a failure to count goes to *failure_r / *error_r. */
static void decide(struct pol_service *svc, struct lookup *l, enum record_state record,
                   const char *id, struct buf *reply, enum pol_failure *failure_r, char **error_r)
{
    struct pol_entry *entry;
    time_t now;

    for (;;) {
        entry = pol_cache_find(&svc->cache, l->domain);
        if (entry == NULL || !entry->fetching)
            break;
        if (l->cache_only || l->no_wait) {
            l->would_block = true;
            return;
        }
        pthread_cond_wait(&svc->fetch_done, &svc->lock); /* another thread fetches it */
    }
    now = time(NULL);
    if (record == RECORD_TEMP || record == RECORD_NONE) {
        /* §5.1: no live policy, but an unexpired cached one still applies. */
        if (usable(entry, now)) {
            serve_cached(svc, l, entry, now, "no valid TXT record now", reply);
        } else if (record == RECORD_TEMP) {
            why(l, "answer: TEMP, the TXT lookup failed and nothing is cached");
            buf_printf(reply, "TEMP _mta-sts.%s TXT lookup failed: %s", l->domain,
                       l->txt_error ? l->txt_error : "");
            svc->stats.answered_temp++;
        } else {
            why(l, "answer: no MTA-STS policy");
            buf_puts(reply, "NOTFOUND ");
            svc->stats.answered_notfound++;
        }
        return;
    }
    if (usable(entry, now) && strcmp(entry->id, id) == 0) {
        svc->stats.cache_hits++;
        serve_cached(svc, l, entry, now, "id unchanged", reply);
        return;
    }
    if (entry && entry->failure != POL_FAIL_NONE && strcmp(entry->failed_id, id) == 0 &&
        now < entry->next_retry) {
        why(l, "fetch: not retried before %llds from now; last error %s: %s",
            (long long)(entry->next_retry - now), pol_failure_name(entry->failure),
            entry->last_error ? entry->last_error : "");
    } else {
        if (l->cache_only || prefetch_stopping(svc, l)) {
            l->would_block = true;
            return;
        }
        if (entry == NULL)
            entry = pol_cache_add(&svc->cache, l->domain);
        fetch_into(svc, entry, id, l);
        now = time(NULL);
        if (entry->failure == POL_FAIL_NONE) {
            pol_cache_touch(&svc->cache, entry, now);
            why_policy(l, entry->policy_text);
            answer_policy(svc, l, &entry->policy, reply);
            return;
        }
    }
    pol_cache_touch(&svc->cache, entry, now);
    if (usable(entry, now)) {
        /* §3.3: a failed refresh keeps the cached policy within its max_age. */
        serve_cached(svc, l, entry, now, "the new policy could not be fetched", reply);
        return;
    }
    /* §3.3: no policy could be fetched and none is cached: mail goes out as without STS. */
    why(l, "answer: no usable policy (%s), mail goes out without MTA-STS",
        pol_failure_name(entry->failure));
    buf_puts(reply, "NOTFOUND ");
    svc->stats.answered_notfound++;
    *failure_r = entry->failure;
    *error_r = xstrdup(entry->last_error ? entry->last_error : "");
}

/*
 * One lookup; with cache_only it answers from memory or returns false with
 * reply untouched. Counted once: a lookup that would block is counted by
 * the pol_query that then answers it.
 */
static bool query(struct pol_service *svc, const char *domain, struct buf *reply,
                  struct buf *why_out, bool cache_only, bool count)
{
    /* A prefetch that may block runs in a background fetcher: it never waits for another. */
    struct lookup l = {
        .why = why_out, .cache_only = cache_only, .no_count = !count, .no_wait = !count};
    char id[POL_ID_MAX + 1] = "";
    enum pol_failure failure = POL_FAIL_NONE;
    char *error = NULL;
    bool answered = false;

    if (!pol_domain_normalize(domain, l.domain)) {
        why(&l, "answer: not a domain name");
        buf_puts(reply, "NOTFOUND ");
        pthread_mutex_lock(&svc->lock);
        svc->stats.lookups++;
        pthread_mutex_unlock(&svc->lock);
        return true;
    }
    find_hosts(svc, &l);
    bool dane = !l.would_block && dane_applies(svc, &l);
    if (l.would_block)
        goto out;
    if (dane) {
        why(&l, "answer: DANE applies (validated TLSA records): left to Postfix's dane level");
        buf_puts(reply, "NOTFOUND ");
        pthread_mutex_lock(&svc->lock);
        svc->stats.lookups++;
        svc->stats.answered_dane++;
        pthread_mutex_unlock(&svc->lock);
        answered = true;
        goto out;
    }
    enum record_state record = read_record(svc, &l, id);
    if (l.would_block)
        goto out;
    pthread_mutex_lock(&svc->lock);
    decide(svc, &l, record, id, reply, &failure, &error);
    if (!l.would_block)
        svc->stats.lookups++;
    pthread_mutex_unlock(&svc->lock);
    if (failure != POL_FAIL_NONE && !l.no_count)
        count_failure(svc, l.domain, failure, error);
    free(error);
    answered = !l.would_block;
out:
    lookup_free(&l);
    return answered;
}

void pol_query_explain(struct pol_service *svc, const char *domain, struct buf *reply,
                       struct buf *why_out)
{
    (void)query(svc, domain, reply, why_out, false, true);
}

void pol_query(struct pol_service *svc, const char *domain, struct buf *reply)
{
    (void)query(svc, domain, reply, NULL, false, true);
}

bool pol_query_cached(struct pol_service *svc, const char *domain, struct buf *reply)
{
    return query(svc, domain, reply, NULL, true, true);
}

bool pol_prefetch_lookup(struct pol_service *svc, const char *domain, bool cache_only)
{
    struct buf reply = {0};
    bool answered = query(svc, domain, &reply, NULL, cache_only, false);

    pthread_mutex_lock(&svc->lock);
    if (answered)
        svc->stats.prefetches++;
    pthread_mutex_unlock(&svc->lock);
    buf_free(&reply);
    return answered;
}

/* ---- Refresh ---- */

void pol_refresh_due(struct pol_service *svc, time_t now)
{
    char *due[REFRESH_BATCH];
    size_t n = 0;

    pthread_mutex_lock(&svc->lock);
    for (struct pol_entry *e = svc->cache.newest; e && n < REFRESH_BATCH; e = e->older) {
        long age = e->policy.max_age;
        /* in use (looked up within its lifetime), past 3/4 of it, not backing off */
        if (e->policy_text && !e->fetching && e->last_used + age > now &&
            now >= e->fetched + age - age / 4 && now >= e->next_retry)
            due[n++] = xstrdup(e->domain);
    }
    pthread_mutex_unlock(&svc->lock);
    for (size_t i = 0; i < n; i++) {
        struct lookup l = {0};
        char id[POL_ID_MAX + 1];
        snprintf(l.domain, sizeof(l.domain), "%s", due[i]);
        if (read_record(svc, &l, id) == RECORD_VALID) {
            pthread_mutex_lock(&svc->lock);
            struct pol_entry *entry = pol_cache_find(&svc->cache, due[i]);
            if (entry && !entry->fetching)
                fetch_into(svc, entry, id, NULL);
            pthread_mutex_unlock(&svc->lock);
        }
        lookup_free(&l);
        free(due[i]);
    }
}
