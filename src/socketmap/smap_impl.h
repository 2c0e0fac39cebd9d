/*
 * smap_impl.h - what the socketmap server's files share: the server and
 * connection structures (private to src/socketmap/).
 */
#ifndef TLSRPT_SMAP_IMPL_H
#define TLSRPT_SMAP_IMPL_H

#include <pthread.h>

#include "socketmap.h"

/*
 * A client connection. It is registered EPOLLONESHOT: the thread that gets
 * its event owns it (reads, answers, writes) until it re-arms it, so one
 * connection's requests are answered in order by one thread at a time.
 */
struct smap_conn {
    struct smap_server *server;
    int fd;
    struct smap_reader reader;
    struct buf in; /* read but not yet parsed (pipelined requests) */
    size_t in_pos;
    struct buf out; /* framed replies not yet sent */
    size_t out_pos;
    struct buf reply;
    bool closing;                  /* close once out is sent (after a protocol error) */
    bool owned;                    /* atomic: a thread is working on it */
    bool idle_shutdown;            /* atomic: shut down by the idle sweep */
    int64_t last_active;           /* atomic: clock_ms() of the last read or write */
    struct smap_conn *prev, *next; /* all connections, under the server's lock */
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
    int epoll_fd, wake_fd; /* the pool's epoll set: connections (and the stop wake-up) */
    int accept_epoll_fd;   /* the accept thread's: the listening socket, the wake-up */
    pthread_t accept_thread;
    bool accept_started;
    smap_handler *handler;
    void *context;
    pthread_t *threads;
    unsigned n_threads;
    bool started;
    bool stopping;        /* atomic */
    pthread_mutex_t lock; /* conns, the rate logs */
    struct smap_conn *conns;
    int64_t accept_paused_until_ms; /* the accept thread's; 0: accepting */
    struct smap_stats stats;        /* updated with atomics; queue_length computed */
    struct smap_rate_log refused_log, error_log, accept_log;
};

/* listen.c: parses settings->listen and returns the listening fd, or -1. */
int smap_listen(struct smap_server *server, const struct smap_settings *settings, char **error_r);

/* io.c: the threads' loops, and closing what is left at stop. */
void *smap_thread_main(void *arg);
void *smap_accept_main(void *arg);
void smap_conn_free(struct smap_conn *conn);
void smap_count(uint64_t *counter, int64_t delta);
/* Requests that arrived on connections no thread works on (for the stats). */
uint64_t smap_waiting_requests(struct smap_server *server);

#endif
