/*
 * server.c - the socketmap server's life: bound at open (as root), threads
 * started with the handler, stopped cleanly (lookups in progress finish,
 * connections close), and its counters read while it runs.
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
    s->epoll_fd = s->wake_fd = -1;
    s->listen_fd = smap_listen(s, settings, error_r);
    if (s->listen_fd < 0) {
        free(s->listen_text);
        free(s->log_name);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    return s;
}

int smap_server_port(struct smap_server *s)
{
    return s->port;
}

static int start_fail(struct smap_server *s, char **error_r, const char *what, int err)
{
    *error_r = xasprintf("%s: %s: %s", s->log_name, what, strerror(err));
    smap_server_stop(s);
    return -1;
}

int smap_server_start(struct smap_server *s, smap_handler *handler, void *context, char **error_r)
{
    int err;

    s->handler = handler;
    s->context = context;
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epoll_fd < 0 || s->wake_fd < 0) {
        *error_r = xasprintf("%s: epoll/eventfd: %s", s->log_name, strerror(errno));
        return -1;
    }
    struct epoll_event listen_ev = {.events = EPOLLIN, .data.ptr = s};
    struct epoll_event wake_ev = {.events = EPOLLIN, .data.ptr = &s->wake_fd};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &listen_ev) < 0 ||
        epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wake_ev) < 0) {
        *error_r = xasprintf("%s: epoll_ctl: %s", s->log_name, strerror(errno));
        return -1;
    }
    s->started = true;
    s->workers = xcalloc(s->settings.threads, sizeof(pthread_t));
    for (unsigned i = 0; i < s->settings.threads; i++) {
        if ((err = pthread_create(&s->workers[i], NULL, smap_worker_main, s)) != 0)
            return start_fail(s, error_r, "starting a worker thread", err);
        s->n_workers++;
    }
    if ((err = pthread_create(&s->io_thread, NULL, smap_io_main, s)) != 0) {
        __atomic_store_n(&s->io_stop, true, __ATOMIC_RELEASE);
        return start_fail(s, error_r, "starting the I/O thread", err);
    }
    return 0;
}

static void free_list(struct smap_conn *c, bool idle_list)
{
    while (c) {
        struct smap_conn *next = idle_list ? c->idle_next : c->queue_next;
        smap_conn_free(c);
        c = next;
    }
}

void smap_server_stop(struct smap_server *s)
{
    uint64_t one = 1;

    if (!s->started)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    if (!__atomic_exchange_n(&s->io_stop, true, __ATOMIC_ACQ_REL)) {
        if (write(s->wake_fd, &one, sizeof(one)) < 0) {
            /* Already non-zero: the I/O thread wakes anyway. */
        }
        pthread_join(s->io_thread, NULL);
    }
    /* Workers finish the lookup in hand; queued requests are dropped with their connection. */
    for (unsigned i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
    /* Every connection is now idle, queued or done: all are closed. */
    free_list(s->idle_head, true);
    free_list(s->jobs_head, false);
    free_list(s->done_head, false);
    s->idle_head = s->idle_tail = s->jobs_head = s->jobs_tail = NULL;
    s->done_head = s->done_tail = NULL;
    __atomic_store_n(&s->stats.queue_length, 0, __ATOMIC_RELAXED);
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
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
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
}
