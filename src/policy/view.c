/*
 * view.c - what the policy service tells others about its state: status
 * counters for `tlsrpt status`, the cache listing and flush for `tlsrpt
 * sts`, and the policy that applied to a session for log capture.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "dns.h"
#include "policy.h"
#include "policy_impl.h"
#include "util.h"

void pol_stats(struct pol_service *svc,
               void (*emit)(void *ctx, const char *name, const char *value), void *ctx)
{
    struct pol_stats_counts s;
    struct pol_prefetch_queue *q = &svc->prefetch;
    uint64_t queued, duplicates, dropped, fetched, skipped, queue_length, in_flight;
    size_t entries;
    char value[32];

    pthread_mutex_lock(&svc->lock);
    s = svc->stats;
    entries = svc->cache.n_entries;
    pthread_mutex_unlock(&svc->lock);
    pthread_mutex_lock(&q->lock);
    queued = q->queued, duplicates = q->duplicates, dropped = q->dropped;
    fetched = q->fetched, skipped = q->skipped;
    queue_length = q->length, in_flight = q->in_flight;
    pthread_mutex_unlock(&q->lock);
    const struct {
        const char *name;
        uint64_t value;
    } rows[] = {
        {"sts.lookups", s.lookups},
        {"sts.cache_hits", s.cache_hits},
        {"sts.prefetches", s.prefetches},
        {"sts.prefetch.queued", queued},
        {"sts.prefetch.duplicates", duplicates},
        {"sts.prefetch.dropped", dropped},
        {"sts.prefetch.fetched", fetched},
        {"sts.prefetch.skipped", skipped},
        {"sts.prefetch.queue_length", queue_length},
        {"sts.prefetch.in_flight", in_flight},
        {"sts.fetches", s.fetches},
        {"sts.fetches_ok", s.fetch_ok},
        {"sts.errors.fetch", s.failures[POL_FAIL_FETCH]},
        {"sts.errors.invalid", s.failures[POL_FAIL_INVALID]},
        {"sts.errors.webpki", s.failures[POL_FAIL_WEBPKI]},
        {"sts.answers.dane", s.answered_dane},
        {"sts.answers.enforce", s.answered_enforce},
        {"sts.answers.testing", s.answered_testing},
        {"sts.answers.notfound", s.answered_notfound},
        {"sts.answers.temp", s.answered_temp},
        {"sts.failures_counted", s.counted},
        {"sts.cache_entries", entries},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(rows); i++) {
        snprintf(value, sizeof(value), "%" PRIu64, rows[i].value);
        emit(ctx, rows[i].name, value);
    }
}

static int by_domain(const void *a, const void *b)
{
    return strcmp((*(struct pol_entry *const *)a)->domain, (*(struct pol_entry *const *)b)->domain);
}

void pol_cache_list(struct pol_service *svc,
                    void (*fn)(void *ctx, const struct pol_cache_info *info), void *ctx)
{
    pthread_mutex_lock(&svc->lock);
    size_t n = 0;
    struct pol_entry **all = xcalloc(svc->cache.n_entries + 1, sizeof(*all));
    for (struct pol_entry *e = svc->cache.oldest; e; e = e->newer)
        all[n++] = e;
    qsort(all, n, sizeof(*all), by_domain);
    for (size_t i = 0; i < n; i++) {
        const struct pol_entry *e = all[i];
        struct pol_cache_info info = {
            .domain = e->domain,
            .id = e->id,
            .policy_text = e->policy_text ? e->policy_text : "",
            .fetched = e->fetched,
            .max_age = e->policy_text ? e->policy.max_age : 0,
            .last_used = e->last_used,
            .last_error = e->last_error ? e->last_error : "",
            .next_retry = e->failure != POL_FAIL_NONE ? e->next_retry : 0,
        };
        fn(ctx, &info);
    }
    free(all);
    pthread_mutex_unlock(&svc->lock);
}

int pol_cache_flush(struct pol_service *svc, const char *domain, char **error_r)
{
    char name[TR_MAX_DOMAIN + 1];
    int status = 0;

    if (!pol_domain_normalize(domain, name)) {
        *error_r = xasprintf("%s: not a domain name", domain);
        return -1;
    }
    pthread_mutex_lock(&svc->lock);
    struct pol_entry *entry;
    while ((entry = pol_cache_find(&svc->cache, name)) != NULL && entry->fetching)
        pthread_cond_wait(&svc->fetch_done, &svc->lock);
    if (entry)
        status = pol_cache_remove(&svc->cache, entry, error_r) < 0 ? -1 : 1;
    pthread_mutex_unlock(&svc->lock);
    return status;
}

static void add_string(char ***list, size_t *n, char *text)
{
    *list = xreallocarray(*list, *n + 1, sizeof(**list));
    (*list)[(*n)++] = text;
}

/*
 * A DNS answer for log capture: from any resolver's cache (mostly what the
 * service looked up when Postfix asked it about the domain), else asked
 * anew, unless that failed for now within the last few minutes.
 */
static void session_records(struct pol_service *svc, const char *name, enum dns_rr_kind kind,
                            struct dns_records *answer)
{
    uint64_t hash = hash64(name, strlen(name), kind);
    size_t slot = hash % POL_TEMP_MEMO;
    time_t now = time(NULL);

    if (pol_dns_cached(svc, name, kind, answer))
        return;
    pthread_mutex_lock(&svc->lock);
    bool failed_lately = svc->temp_failed[slot].hash == hash && now < svc->temp_failed[slot].until;
    pthread_mutex_unlock(&svc->lock);
    if (failed_lately) {
        answer->status = DNS_TEMPFAIL;
        answer->detail = xstrdup("failed a moment ago");
        return;
    }
    pol_dns_records(svc, name, kind, answer);
    if (answer->status != DNS_TEMPFAIL)
        return;
    pthread_mutex_lock(&svc->lock);
    svc->temp_failed[slot].hash = hash;
    svc->temp_failed[slot].until = now + POL_TEMP_MEMO_SECONDS;
    pthread_mutex_unlock(&svc->lock);
}

/* DANE: a validated MX RRset (or NODATA: the domain is its own MX) and TLSA RRset. */
static bool session_tlsa(struct pol_service *svc, const char *domain, const char *mx_host,
                         struct pol_session *session)
{
    char host[TR_MAX_DOMAIN + 1];
    struct dns_records mx, tlsa;
    bool found = false;

    if (mx_host == NULL || !pol_domain_normalize(mx_host, host))
        return false;
    session_records(svc, domain, DNS_RR_MX, &mx);
    bool mx_secure = mx.secure && (mx.status == DNS_FOUND ||
                                   (mx.detail != NULL && strcmp(mx.detail, "NODATA") == 0));
    dns_records_free(&mx);
    if (!mx_secure)
        return false;
    char *name = xasprintf("_25._tcp.%s", host);
    session_records(svc, name, DNS_RR_TLSA, &tlsa);
    free(name);
    if (tlsa.status == DNS_FOUND && tlsa.secure) {
        session->type = TR_POLICY_TLSA;
        session->policy_domain = xstrdup(host);
        for (size_t i = 0; i < tlsa.n_records && i < TR_MAX_POLICY_STRINGS; i++)
            add_string(&session->strings, &session->n_strings, xstrdup(tlsa.records[i]));
        found = true;
    }
    dns_records_free(&tlsa);
    return found;
}

void pol_session_policy(struct pol_service *svc, const char *domain, const char *mx_host,
                        struct pol_session *session)
{
    char name[TR_MAX_DOMAIN + 1];

    memset(session, 0, sizeof(*session));
    session->type = TR_POLICY_NONE;
    if (!pol_domain_normalize(domain, name) || session_tlsa(svc, name, mx_host, session))
        return;
    pthread_mutex_lock(&svc->lock);
    const struct pol_entry *e = pol_cache_find(&svc->cache, name);
    if (e && e->policy_text && time(NULL) < e->fetched + e->policy.max_age &&
        e->policy.mode != POL_MODE_NONE) {
        const struct pol_policy *p = &e->policy;
        session->type = TR_POLICY_STS;
        session->policy_domain = xstrdup(name);
        session->strings = pol_policy_strings(p, &session->n_strings);
        while (session->n_strings > TR_MAX_POLICY_STRINGS) /* 64 mx lines + 3: the event's cap */
            free(session->strings[--session->n_strings]);
        for (size_t i = 0; i < p->n_mx && i < TR_MAX_MX_HOSTS; i++)
            add_string(&session->mx_patterns, &session->n_mx_patterns, xstrdup(p->mx[i]));
    }
    pthread_mutex_unlock(&svc->lock);
}

void pol_session_free(struct pol_session *session)
{
    for (size_t i = 0; i < session->n_strings; i++)
        free(session->strings[i]);
    for (size_t i = 0; i < session->n_mx_patterns; i++)
        free(session->mx_patterns[i]);
    free(session->strings);
    free(session->mx_patterns);
    free(session->policy_domain);
    memset(session, 0, sizeof(*session));
}
