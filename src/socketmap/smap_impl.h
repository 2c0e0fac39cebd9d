/*
 * smap_impl.h - what the socketmap server's files share: the server, its
 * event loops, its workers and the connection structures (private to
 * src/socketmap/).
 */
#ifndef TLSRPT_SMAP_IMPL_H
#define TLSRPT_SMAP_IMPL_H

#include <pthread.h>

#include "socketmap.h"

/* At most this many event loops, whatever the number of CPUs. */
#define SMAP_MAX_LOOPS 16

/*
 * A client connection. It belongs to one event loop, whose thread alone
 * reads, answers and writes it - except while `busy`: then a worker thread
 * runs its blocking lookup and the loop does not watch it (taken out of the
 * epoll set), so one connection's requests are answered in order.
 */
struct smap_conn {
    struct smap_loop *loop;
    int fd;
    struct smap_reader reader;
    struct buf in; /* read but not yet parsed (pipelined requests) */
    size_t in_pos;
    struct buf out; /* framed replies not yet sent */
    size_t out_pos;
    struct buf reply;
    const char *map, *key;         /* the request a worker answers (in reader.data) */
    uint32_t events;               /* what the epoll set watches; 0: not in it */
    bool closing;                  /* close once out is sent (after a protocol error) */
    bool busy;                     /* atomic: handed to a worker */
    int64_t last_active;           /* the loop's clock at the last read or write */
    struct smap_conn *prev, *next; /* the loop's connections, under its lock */
    struct smap_conn *queue_next;  /* waiting for a worker */
};

/* Counters only one thread writes (no locked instruction), summed for the stats. */
struct smap_loop_counts {
    uint64_t requests;
    uint64_t replies[SMAP_REPLY_KIND_COUNT];
    uint64_t errors[SMAP_ERR_COUNT];
    uint64_t idle_closes;
};

/* An event loop: a thread with an epoll set of its own, level-triggered. */
struct smap_loop {
    struct smap_server *server;
    int epoll_fd;
    pthread_t thread;
    bool started;
    int64_t now_ms;       /* clock_ms() when the last epoll_wait returned */
    pthread_mutex_t lock; /* conns: the accept thread adds, the loop removes */
    struct smap_conn *conns;
    struct smap_loop_counts counts;
} __attribute__((aligned(64)));

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
    int wake_fd;         /* the stop wake-up, in every epoll set */
    int accept_epoll_fd; /* the accept thread's: the listening socket, the wake-up */
    pthread_t accept_thread;
    bool accept_started;
    smap_handler *handler;
    smap_fast_handler *fast;
    void *context;
    struct smap_loop *loops;
    unsigned n_loops, next_loop;
    pthread_t *workers;
    unsigned n_workers;
    pthread_mutex_t queue_lock; /* the workers' queue */
    pthread_cond_t queue_wake;
    struct smap_conn *queue_head, *queue_tail;
    bool started;
    bool stopping;                  /* atomic */
    pthread_mutex_t lock;           /* the rate logs */
    int64_t accept_paused_until_ms; /* the accept thread's; 0: accepting */
    struct smap_stats stats;        /* shared counters, updated with atomics */
    struct smap_rate_log refused_log, error_log, accept_log;
};

/* listen.c: parses settings->listen and returns the listening fd, or -1. */
int smap_listen(struct smap_server *server, const struct smap_settings *settings, char **error_r);

/* io.c: the event loops, and closing what is left at stop. */
void *smap_loop_main(void *arg);
void smap_conn_free(struct smap_conn *conn);
void smap_count(uint64_t *counter, int64_t delta);
/* Bumps a counter only the calling thread writes (read elsewhere with atomic loads). */
void smap_count_own(uint64_t *counter);
/* After a worker: the loop watches the connection again (sends, reads on). */
void smap_conn_give_back(struct smap_conn *conn);
/* Sends what is buffered without waiting: 1 all sent, 0 the socket is full, -1 gone. */
int smap_flush(struct smap_conn *conn);
/* True when a line may be logged now; note says how many were left out before it. */
bool smap_rate_log_allowed(struct smap_server *server, struct smap_rate_log *log, char note[64]);

/* accept.c: the accept thread (new connections go to the loops in turn). */
void *smap_accept_main(void *arg);

/* worker.c: the blocking lookups. */
void smap_worker_submit(struct smap_conn *conn);
void *smap_worker_main(void *arg);
uint64_t smap_worker_queue_length(struct smap_server *server);

#endif
