/*
 * batch.c - many `_smtp._tls` lookups at once for a day's reports: the
 * cache answers what it can, the rest are asked by a bounded pool of
 * threads, each with ldns resolvers of its own, so that 65,536 domains take
 * the time of 65,536 / concurrency queries instead of all of them in a row.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "dns_impl.h"
#include "util.h"

/* ldns reads a reply into a heap buffer: a small stack is plenty. */
#define WORKER_STACK_SIZE (256u << 10)

/* One distinct domain to ask the servers about, and the answers waiting for it. */
struct job {
    struct dns_tlsrpt_query *query;
    size_t first; /* its domains: order[first .. first + count) */
    size_t count;
};

struct pool {
    const struct dns_resolver *resolver; /* read only here: its servers' settings */
    struct job *jobs;
    size_t n_jobs;
    size_t next; /* the next job to take (atomic) */
};

static void *worker(void *context)
{
    struct pool *pool = context;
    size_t n_servers;
    ldns_resolver **servers = dns_servers_clone(pool->resolver, &n_servers);
    size_t i;

    while ((i = __atomic_fetch_add(&pool->next, 1, __ATOMIC_RELAXED)) < pool->n_jobs)
        dns_tlsrpt_ask(servers, n_servers, pool->jobs[i].query);
    dns_servers_free(servers, n_servers);
    return NULL;
}

/* Asks every job's query, with at most `concurrency` threads (none for 1). */
static void run_pool(struct pool *pool, unsigned concurrency)
{
    size_t n_threads = concurrency < pool->n_jobs ? concurrency : pool->n_jobs;
    pthread_t *threads;
    pthread_attr_t attr;
    size_t started = 0;

    if (n_threads <= 1) {
        worker(pool);
        return;
    }
    threads = xcalloc(n_threads, sizeof(*threads));
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
    for (; started < n_threads; started++) {
        int error = pthread_create(&threads[started], &attr, worker, pool);
        if (error != 0) {
            /* Fewer threads only make it slower; this thread works too. */
            msg_warn("DNS lookups: %zu threads instead of %zu (%s)", started, n_threads,
                     strerror(error));
            break;
        }
    }
    pthread_attr_destroy(&attr);
    if (started == 0)
        worker(pool);
    for (size_t t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    free(threads);
}

struct item {
    const char *domain;
    size_t index; /* into domains and answers */
};

static int by_domain(const void *left, const void *right)
{
    const struct item *a = left, *b = right;
    int cmp = strcmp(a->domain, b->domain);

    return cmp != 0 ? cmp : (a->index > b->index) - (a->index < b->index);
}

void dns_lookup_tlsrpt_many(struct dns_resolver *resolver, const char *const *domains, size_t n,
                            size_t max_rua, unsigned concurrency,
                            struct dns_tlsrpt_answer *answers)
{
    struct item *order = xcalloc(n + 1, sizeof(*order));
    struct dns_tlsrpt_answer **waiting;
    struct pool pool = {resolver, NULL, 0, 0};

    /* Equal domains side by side: each is asked once. */
    for (size_t i = 0; i < n; i++)
        order[i] = (struct item){domains[i], i};
    qsort(order, n, sizeof(*order), by_domain);
    pool.jobs = xcalloc(n + 1, sizeof(*pool.jobs));
    for (size_t i = 0, j; i < n; i = j) {
        struct dns_tlsrpt_query *query;
        for (j = i + 1; j < n && strcmp(order[i].domain, order[j].domain) == 0; j++)
            ;
        if (dns_tlsrpt_start(resolver, order[i].domain, max_rua, &answers[order[i].index],
                             &query)) {
            /* Cached, or not a name: the others are answered the same way, at once. */
            for (size_t k = i + 1; k < j; k++)
                dns_lookup_tlsrpt(resolver, order[k].domain, max_rua, &answers[order[k].index]);
            continue;
        }
        pool.jobs[pool.n_jobs++] = (struct job){query, i, j - i};
    }
    if (pool.n_jobs > 0)
        run_pool(&pool, concurrency > 0 ? concurrency : 1);
    waiting = xcalloc(n + 1, sizeof(*waiting));
    for (size_t q = 0; q < pool.n_jobs; q++) {
        struct job *job = &pool.jobs[q];
        for (size_t k = 0; k < job->count; k++)
            waiting[k] = &answers[order[job->first + k].index];
        dns_tlsrpt_finish(resolver, job->query, max_rua, waiting, job->count);
    }
    free(waiting);
    free(pool.jobs);
    free(order);
}
