/*
 * smap_impl.h - what the socketmap server's files share: the server and
 * connection structures (private to src/socketmap/).
 */
#ifndef TLSRPT_SMAP_IMPL_H
#define TLSRPT_SMAP_IMPL_H

#include <pthread.h>

#include "socketmap.h"

struct smap_conn {
    struct smap_server *server;
    int fd;
    uint32_t events; /* the epoll interest now registered */
    struct smap_reader reader;
    struct buf in; /* read but not yet parsed (pipelined requests) */
    size_t in_pos;
    struct buf out; /* framed replies not yet sent */
    size_t out_pos;
    /* The request a worker answers: set by the I/O thread, then the worker's alone. */
    const char *map, *key;
    struct buf reply;
    bool busy;    /* a worker has the request */
    bool closing; /* close once out is sent (after a protocol error) */
    bool dead;    /* closed while busy: freed when the worker is done */
    int64_t last_active_ms;
    struct smap_conn *idle_prev, *idle_next; /* not busy, oldest activity first */
    struct smap_conn *queue_next;            /* in the job queue or the done list */
};

/* A log line at most every few seconds, with the count of those left out. */
struct smap_rate_log {
    int64_t next_ms;
    unsigned long long suppressed;
};

struct smap_server {
    struct smap_settings settings;
    char *listen_text, *log_name;
    int listen_fd;
    char *unix_path; /* removed at close */
    int port;
    int epoll_fd, wake_fd;
    smap_handler *handler;
    void *context;
    pthread_t io_thread;
    pthread_t *workers;
    unsigned n_workers;
    bool started;
    bool io_stop; /* atomic */
    int64_t accept_paused_until_ms;
    pthread_mutex_t lock; /* jobs, done, stopping */
    pthread_cond_t work;
    struct smap_conn *jobs_head, *jobs_tail, *done_head, *done_tail;
    bool stopping;
    struct smap_conn *idle_head, *idle_tail; /* the I/O thread's */
    struct smap_stats stats;                 /* updated with atomics */
    struct smap_rate_log refused_log, error_log, accept_log;
};

/* listen.c: parses settings->listen and returns the listening fd, or -1. */
int smap_listen(struct smap_server *server, const struct smap_settings *settings, char **error_r);

/* io.c: the I/O thread and the workers. */
void *smap_io_main(void *arg);
void *smap_worker_main(void *arg);
void smap_conn_free(struct smap_conn *conn);
void smap_count(uint64_t *counter, int64_t delta);

#endif
