/*
 * worker.c - the socketmap server's worker threads: they run the lookups
 * that may block (the handler, for requests the fast handler could not
 * answer), one at a time each, so a slow lookup never holds up the event
 * loops; the answer goes back to the connection's loop, which sends it.
 */
#include "config.h"

#include "smap_impl.h"

void smap_worker_submit(struct smap_conn *c)
{
    struct smap_server *s = c->loop->server;

    c->queue_next = NULL;
    pthread_mutex_lock(&s->queue_lock);
    if (s->queue_tail)
        s->queue_tail->queue_next = c;
    else
        s->queue_head = c;
    s->queue_tail = c;
    pthread_cond_signal(&s->queue_wake);
    pthread_mutex_unlock(&s->queue_lock);
}

uint64_t smap_worker_queue_length(struct smap_server *s)
{
    uint64_t length = 0;

    pthread_mutex_lock(&s->queue_lock);
    for (struct smap_conn *c = s->queue_head; c; c = c->queue_next)
        length++;
    pthread_mutex_unlock(&s->queue_lock);
    return length;
}

/* The next connection to answer, or NULL when the server stops (the queue is left). */
static struct smap_conn *next_job(struct smap_server *s)
{
    struct smap_conn *c = NULL;

    pthread_mutex_lock(&s->queue_lock);
    while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE) && s->queue_head == NULL)
        pthread_cond_wait(&s->queue_wake, &s->queue_lock);
    if (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
        c = s->queue_head;
        s->queue_head = c->queue_next;
        if (s->queue_head == NULL)
            s->queue_tail = NULL;
    }
    pthread_mutex_unlock(&s->queue_lock);
    return c;
}

void *smap_worker_main(void *arg)
{
    struct smap_server *s = arg;
    struct smap_conn *c;

    while ((c = next_job(s)) != NULL) {
        smap_count(&s->stats.in_progress, 1);
        buf_reset(&c->reply);
        s->handler(s->context, c->map, c->key, &c->reply);
        smap_count(&s->stats.in_progress, -1);
        enum smap_reply_kind kind = smap_reply_frame(&c->out, buf_cstr(&c->reply), c->reply.len);
        smap_count(&s->stats.replies[kind], 1);
        smap_reader_next(&c->reader);
        /* Not idle: the lookup may have taken longer than the idle timeout. */
        c->last_active = clock_ms();
        smap_conn_give_back(c);
    }
    return NULL;
}
