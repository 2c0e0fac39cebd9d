/*
 * server.c - the socketmap server's life: bound at open (as root), event
 * loops, workers and the accept thread started with the handlers, stopped
 * cleanly (lookups in progress finish, connections close), and its
 * counters read while it runs.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "smap_impl.h"

struct smap_server *smap_server_open(const struct smap_settings *settings, char **error_r)
{
    struct smap_server *s = xcalloc(1, sizeof(*s));

    s->settings = *settings;
    s->listen_text = xstrdup(settings->listen);
    s->settings.listen = s->listen_text;
    s->log_name = xstrdup(settings->log_name ? settings->log_name : "socketmap");
    s->settings.log_name = s->log_name;
    if (s->settings.max_request == 0)
        s->settings.max_request = SMAP_DEFAULT_MAX_REQUEST;
    if (s->settings.threads == 0)
        s->settings.threads = 1;
    s->wake_fd = s->accept_epoll_fd = -1;
    s->listen_fd = smap_listen(s, settings, error_r);
    if (s->listen_fd < 0) {
        free(s->listen_text);
        free(s->log_name);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->queue_lock, NULL);
    pthread_cond_init(&s->queue_wake, NULL);
    return s;
}

int smap_server_port(struct smap_server *s)
{
    return s->port;
}

/* One event loop per CPU: more would only take turns on the same CPUs. */
static unsigned loop_count(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    return cpus < 1 ? 1 : cpus > SMAP_MAX_LOOPS ? SMAP_MAX_LOOPS : (unsigned)cpus;
}

/* The epoll sets; the wake-up is level-triggered and never read: every thread sees it. */
static int epoll_sets_create(struct smap_server *s, char **error_r)
{
    struct epoll_event listen_ev = {.events = EPOLLIN, .data.ptr = s};
    struct epoll_event wake_ev = {.events = EPOLLIN, .data.ptr = &s->wake_fd};

    s->accept_epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->accept_epoll_fd < 0 || s->wake_fd < 0 ||
        epoll_ctl(s->accept_epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &listen_ev) < 0 ||
        epoll_ctl(s->accept_epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wake_ev) < 0)
        goto failed;
    s->n_loops = loop_count();
    s->loops = aligned_alloc(64, sizeof(struct smap_loop) * s->n_loops);
    if (s->loops == NULL)
        msg_fatal("out of memory");
    memset(s->loops, 0, sizeof(struct smap_loop) * s->n_loops);
    for (unsigned i = 0; i < s->n_loops; i++) {
        struct smap_loop *loop = &s->loops[i];
        loop->server = s;
        pthread_mutex_init(&loop->lock, NULL);
        loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (loop->epoll_fd < 0 ||
            epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wake_ev) < 0)
            goto failed;
    }
    return 0;
failed:
    *error_r = xasprintf("%s: epoll/eventfd: %s", s->log_name, strerror(errno));
    return -1;
}

int smap_server_start(struct smap_server *s, smap_handler *handler, smap_fast_handler *fast,
                      void *context, char **error_r)
{
    int err;

    s->handler = handler;
    s->fast = fast;
    s->context = context;
    if (epoll_sets_create(s, error_r) < 0)
        return -1;
    s->started = true;
    for (unsigned i = 0; i < s->n_loops; i++) {
        if ((err = pthread_create(&s->loops[i].thread, NULL, smap_loop_main, &s->loops[i])) != 0)
            goto failed;
        s->loops[i].started = true;
    }
    s->workers = xcalloc(s->settings.threads, sizeof(pthread_t));
    for (unsigned i = 0; i < s->settings.threads; i++) {
        if ((err = pthread_create(&s->workers[i], NULL, smap_worker_main, s)) != 0)
            goto failed;
        s->n_workers++;
    }
    if ((err = pthread_create(&s->accept_thread, NULL, smap_accept_main, s)) != 0)
        goto failed;
    s->accept_started = true;
    return 0;
failed:
    *error_r = xasprintf("%s: starting a thread: %s", s->log_name, strerror(err));
    smap_server_stop(s);
    return -1;
}

/* Every connection left: a reply a worker finished is sent if there is room, then closed. */
static void close_all(struct smap_server *s)
{
    for (unsigned i = 0; i < s->n_loops; i++) {
        struct smap_loop *loop = &s->loops[i];
        while (loop->conns) {
            struct smap_conn *next = loop->conns->next;
            (void)smap_flush(loop->conns);
            smap_conn_free(loop->conns);
            loop->conns = next;
        }
    }
    s->queue_head = s->queue_tail = NULL;
}

void smap_server_stop(struct smap_server *s)
{
    uint64_t one = 1;

    if (!s->started)
        return;
    __atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
    if (write(s->wake_fd, &one, sizeof(one)) < 0) {
        /* Already non-zero: the threads wake anyway. */
    }
    pthread_mutex_lock(&s->queue_lock);
    pthread_cond_broadcast(&s->queue_wake);
    pthread_mutex_unlock(&s->queue_lock);
    if (s->accept_started)
        pthread_join(s->accept_thread, NULL);
    s->accept_started = false;
    /* Workers finish the lookup in hand; requests still queued are dropped. */
    for (unsigned i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
    for (unsigned i = 0; i < s->n_loops; i++)
        if (s->loops[i].started)
            pthread_join(s->loops[i].thread, NULL);
    close_all(s);
    s->started = false;
}

void smap_server_close(struct smap_server *s)
{
    if (s == NULL)
        return;
    smap_server_stop(s);
    close(s->listen_fd);
    if (s->unix_path) {
        unlink(s->unix_path);
        free(s->unix_path);
    }
    for (unsigned i = 0; i < s->n_loops; i++) {
        if (s->loops[i].epoll_fd > 0)
            close(s->loops[i].epoll_fd);
        pthread_mutex_destroy(&s->loops[i].lock);
    }
    free(s->loops);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    if (s->accept_epoll_fd >= 0)
        close(s->accept_epoll_fd);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->queue_lock);
    pthread_cond_destroy(&s->queue_wake);
    free(s->listen_text);
    free(s->log_name);
    free(s);
}

void smap_server_stats(struct smap_server *s, struct smap_stats *stats)
{
    const uint64_t *from = (const uint64_t *)&s->stats;
    uint64_t *to = (uint64_t *)stats;

    _Static_assert(sizeof(struct smap_stats) % sizeof(uint64_t) == 0,
                   "struct smap_stats holds only uint64_t counters");
    for (size_t i = 0; i < sizeof(*stats) / sizeof(uint64_t); i++)
        to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
    /* The loops' own counters. */
    for (unsigned l = 0; l < s->n_loops; l++) {
        const struct smap_loop_counts *counts = &s->loops[l].counts;
        stats->requests += __atomic_load_n(&counts->requests, __ATOMIC_RELAXED);
        stats->idle_closes += __atomic_load_n(&counts->idle_closes, __ATOMIC_RELAXED);
        for (int i = 0; i < SMAP_REPLY_KIND_COUNT; i++)
            stats->replies[i] += __atomic_load_n(&counts->replies[i], __ATOMIC_RELAXED);
        for (int i = 0; i < SMAP_ERR_COUNT; i++)
            stats->errors[i] += __atomic_load_n(&counts->errors[i], __ATOMIC_RELAXED);
    }
    stats->queue_length = s->started ? smap_worker_queue_length(s) : 0;
}
