/*
 * prefetch.c - tlsrpt-milter's prefetches that miss the caches: a bounded
 * queue (full: dropped and counted) served by policy_prefetch_concurrency
 * fetcher threads, each domain queued or looked up once at a time.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_impl.h"
#include "util.h"

struct pol_prefetch_item {
    struct pol_prefetch_item *next_in_bucket;
    struct pol_prefetch_item *next_in_queue;
    uint64_t hash;
    char domain[TR_MAX_DOMAIN + 1];
};

void pol_prefetch_queue_init(struct pol_prefetch_queue *queue, size_t concurrency, size_t capacity)
{
    memset(queue, 0, sizeof(*queue));
    pthread_mutex_init(&queue->lock, NULL);
    pthread_cond_init(&queue->wake, NULL);
    queue->concurrency = concurrency;
    queue->capacity = capacity;
    /* Queued plus in flight, at most half full. */
    queue->n_buckets = 16;
    while (queue->n_buckets < 2 * (capacity + concurrency))
        queue->n_buckets *= 2;
    queue->buckets = xcalloc(queue->n_buckets, sizeof(*queue->buckets));
}

static struct pol_prefetch_item **bucket_link(struct pol_prefetch_queue *queue, uint64_t hash,
                                              const char *domain)
{
    struct pol_prefetch_item **link = &queue->buckets[hash & (queue->n_buckets - 1)];

    while (*link && ((*link)->hash != hash || strcmp((*link)->domain, domain) != 0))
        link = &(*link)->next_in_bucket;
    return link;
}

/* The caller holds queue->lock. */
static void item_forget(struct pol_prefetch_queue *queue, struct pol_prefetch_item *item)
{
    struct pol_prefetch_item **link = bucket_link(queue, item->hash, item->domain);

    *link = item->next_in_bucket;
    free(item);
}

static void *fetcher(void *context)
{
    struct pol_service *svc = context;
    struct pol_prefetch_queue *queue = &svc->prefetch;

    pthread_mutex_lock(&queue->lock);
    while (!queue->stopping) {
        struct pol_prefetch_item *item = queue->head;
        if (item == NULL) {
            pthread_cond_wait(&queue->wake, &queue->lock);
            continue;
        }
        queue->head = item->next_in_queue;
        if (queue->head == NULL)
            queue->tail = NULL;
        queue->length--;
        queue->in_flight++;
        pthread_mutex_unlock(&queue->lock);
        bool done = pol_prefetch_lookup(svc, item->domain, false);
        pthread_mutex_lock(&queue->lock);
        queue->in_flight--;
        if (done)
            queue->fetched++;
        else if (queue->stopping)
            queue->dropped++; /* given up between two of its queries */
        else
            queue->skipped++; /* another thread was fetching its policy */
        item_forget(queue, item);
    }
    pthread_mutex_unlock(&queue->lock);
    return NULL;
}

int pol_prefetch_start(struct pol_service *svc, char **error_r)
{
    struct pol_prefetch_queue *queue = &svc->prefetch;

    queue->threads = xcalloc(queue->concurrency, sizeof(*queue->threads));
    for (size_t i = 0; i < queue->concurrency; i++) {
        int err = pthread_create(&queue->threads[i], NULL, fetcher, svc);
        if (err != 0) {
            *error_r = xasprintf("cannot start prefetch fetcher %zu of %zu: %s", i + 1,
                                 queue->concurrency, strerror(err));
            pol_prefetch_stop(svc);
            return -1;
        }
        queue->n_threads++;
    }
    return 0;
}

void pol_prefetch_stop(struct pol_service *svc)
{
    struct pol_prefetch_queue *queue = &svc->prefetch;

    pthread_mutex_lock(&queue->lock);
    queue->stopping = true;
    pthread_cond_broadcast(&queue->wake);
    /* What waits is dropped now; lookups under way end after the query or fetch in hand. */
    while (queue->head) {
        struct pol_prefetch_item *item = queue->head;
        queue->head = item->next_in_queue;
        queue->length--;
        queue->dropped++;
        item_forget(queue, item);
    }
    queue->tail = NULL;
    pthread_mutex_unlock(&queue->lock);
    for (size_t i = 0; i < queue->n_threads; i++)
        pthread_join(queue->threads[i], NULL);
    queue->n_threads = 0;
    free(queue->threads);
    queue->threads = NULL;
}

void pol_prefetch_queue_free(struct pol_service *svc)
{
    struct pol_prefetch_queue *queue = &svc->prefetch;

    if (queue->buckets == NULL)
        return;
    pol_prefetch_stop(svc);
    free(queue->buckets);
    queue->buckets = NULL;
    pthread_mutex_destroy(&queue->lock);
    pthread_cond_destroy(&queue->wake);
}

/* Never blocks: called in the socketmap server's event loops. */
void pol_prefetch(struct pol_service *svc, const char *domain)
{
    struct pol_prefetch_queue *queue = &svc->prefetch;
    char name[TR_MAX_DOMAIN + 1];

    if (pol_prefetch_lookup(svc, domain, true) || !pol_domain_normalize(domain, name))
        return; /* answered from memory (a name that is no domain is too) */
    uint64_t hash = hash64(name, strlen(name), 0);
    pthread_mutex_lock(&queue->lock);
    struct pol_prefetch_item **link = bucket_link(queue, hash, name);
    if (*link) {
        queue->duplicates++;
    } else if (queue->stopping || queue->n_threads == 0 || queue->length >= queue->capacity) {
        queue->dropped++;
    } else {
        struct pol_prefetch_item *item = xcalloc(1, sizeof(*item));
        item->hash = hash;
        memcpy(item->domain, name, sizeof(name));
        *link = item;
        if (queue->tail)
            queue->tail->next_in_queue = item;
        else
            queue->head = item;
        queue->tail = item;
        queue->length++;
        queue->queued++;
        pthread_cond_signal(&queue->wake);
    }
    pthread_mutex_unlock(&queue->lock);
}
