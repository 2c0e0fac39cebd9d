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
    s->epoll_fd = s->wake_fd = s->accept_epoll_fd = -1;
    s->listen_fd = smap_listen(s, settings, error_r);
    if (s->listen_fd < 0) {
        free(s->listen_text);
        free(s->log_name);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

int smap_server_port(struct smap_server *s)
{
    return s->port;
}

int smap_server_start(struct smap_server *s, smap_handler *handler, void *context, char **error_r)
{
    int err;

    s->handler = handler;
    s->context = context;
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->accept_epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epoll_fd < 0 || s->accept_epoll_fd < 0 || s->wake_fd < 0) {
        *error_r = xasprintf("%s: epoll/eventfd: %s", s->log_name, strerror(errno));
        return -1;
    }
    /* The wake-up is level-triggered and never read: once written, every thread sees it. */
    struct epoll_event listen_ev = {.events = EPOLLIN, .data.ptr = s};
    struct epoll_event wake_ev = {.events = EPOLLIN, .data.ptr = &s->wake_fd};
    if (epoll_ctl(s->accept_epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &listen_ev) < 0 ||
        epoll_ctl(s->accept_epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wake_ev) < 0 ||
        epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wake_ev) < 0) {
        *error_r = xasprintf("%s: epoll_ctl: %s", s->log_name, strerror(errno));
        return -1;
    }
    s->started = true;
    s->threads = xcalloc(s->settings.threads, sizeof(pthread_t));
    for (unsigned i = 0; i < s->settings.threads; i++) {
        if ((err = pthread_create(&s->threads[i], NULL, smap_thread_main, s)) != 0) {
            *error_r = xasprintf("%s: starting a thread: %s", s->log_name, strerror(err));
            smap_server_stop(s);
            return -1;
        }
        s->n_threads++;
    }
    if ((err = pthread_create(&s->accept_thread, NULL, smap_accept_main, s)) != 0) {
        *error_r = xasprintf("%s: starting a thread: %s", s->log_name, strerror(err));
        smap_server_stop(s);
        return -1;
    }
    s->accept_started = true;
    return 0;
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
    if (s->accept_started)
        pthread_join(s->accept_thread, NULL);
    s->accept_started = false;
    /* Threads finish the lookup in hand, then close that connection. */
    for (unsigned i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    free(s->threads);
    s->threads = NULL;
    s->n_threads = 0;
    while (s->conns) {
        struct smap_conn *next = s->conns->next;
        smap_conn_free(s->conns);
        s->conns = next;
    }
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
    if (s->accept_epoll_fd >= 0)
        close(s->accept_epoll_fd);
    pthread_mutex_destroy(&s->lock);
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
    stats->queue_length = s->started ? smap_waiting_requests(s) : 0;
}
