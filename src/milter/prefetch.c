/*
 * prefetch.c - recipient domains seen at RCPT TO, handed to tlsrptd's
 * policy service before the first delivery attempt: a bounded queue that
 * callbacks add to without waiting (full: dropped and counted), domains
 * asked for in the last minutes skipped, and one thread that sends them in
 * batches to policy_socket as "tlsrpt-prefetch DOMAIN" socketmap lookups
 * (the daemon answers each at once and looks up those it has not cached in
 * the background, concurrently, counting no failure for them).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "policy.h"
#include "socketmap.h"
#include "milter_impl.h"

#define PREFETCH_BATCH 64
#define RECENT_SLOTS 4096  /* domains remembered (direct-mapped by hash) */
#define RECENT_SECONDS 600 /* a domain asked for is not asked again for this long */
#define CONNECT_TIMEOUT_MS 2000
#define REPLY_TIMEOUT_MS 10000 /* the daemon answers prefetches at once, from memory */
#define STOP_CHECK_MS 200

typedef char domain_name[TR_MAX_DOMAIN + 1];

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stopping;
    domain_name *ring;
    size_t capacity, head, count;
    struct {
        uint64_t hash;
        time_t at;
    } recent[RECENT_SLOTS];
    const char *address; /* policy_socket */
    int fd;
    struct msg_rate failure_rate;
} pf = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .fd = -1};

/* Lower case, no trailing dot, host name characters only; false for literals and junk. */
static bool domain_normalize(const char *domain, domain_name out)
{
    size_t len = strlen(domain);

    if (len > 0 && domain[len - 1] == '.')
        len--;
    if (len == 0 || len > TR_MAX_DOMAIN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = domain[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
            return false;
        out[i] = c;
    }
    out[len] = '\0';
    return true;
}

void prefetch_domain(const char *domain)
{
    domain_name name;
    uint64_t hash;
    time_t now = time(NULL);

    if (!pf.running || !domain_normalize(domain, name))
        return;
    hash = hash64(name, strlen(name), 0);
    pthread_mutex_lock(&pf.lock);
    size_t slot = hash % RECENT_SLOTS;
    if (pf.recent[slot].hash == hash && now - pf.recent[slot].at < RECENT_SECONDS) {
        atomic_fetch_add(&milter.counts.prefetch_recent, 1);
    } else if (pf.count == pf.capacity) {
        atomic_fetch_add(&milter.counts.prefetch_dropped, 1);
    } else {
        memcpy(pf.ring[(pf.head + pf.count) % pf.capacity], name, sizeof(name));
        pf.count++;
        pf.recent[slot].hash = hash;
        pf.recent[slot].at = now;
        atomic_fetch_add(&milter.counts.prefetch_queued, 1);
        pthread_cond_signal(&pf.wake);
    }
    pthread_mutex_unlock(&pf.lock);
}

static bool stopping(void)
{
    pthread_mutex_lock(&pf.lock);
    bool stop = pf.stopping;
    pthread_mutex_unlock(&pf.lock);
    return stop;
}

/* Waits for the socket in short slices, so that a stop is not held up: 0, or -1. */
static int wait_io(short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = pf.fd, .events = events};

    for (;;) {
        int64_t left = deadline - clock_ms();
        if (left <= 0 || stopping())
            return -1;
        int n = poll(&pfd, 1, left < STOP_CHECK_MS ? (int)left : STOP_CHECK_MS);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int send_all(const char *data, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(pf.fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        } else if (wait_io(POLLOUT, deadline) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Reads n replies (their content does not matter); how many came. */
static size_t read_replies(size_t n, int64_t deadline)
{
    struct smap_reader reader;
    char input[4096];
    size_t got = 0;

    smap_reader_init(&reader, SMAP_MAX_REPLY + 16);
    while (got < n) {
        ssize_t len = recv(pf.fd, input, sizeof(input), 0);
        if (len == 0 || (len < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (len < 0) {
            if (wait_io(POLLIN, deadline) < 0)
                break;
            continue;
        }
        for (size_t off = 0, used; off < (size_t)len && got < n; off += used) {
            int r = smap_reader_feed(&reader, input + off, (size_t)len - off, &used);
            if (r < 0)
                goto out;
            if (r == 1) {
                got++;
                smap_reader_next(&reader);
            }
        }
    }
out:
    smap_reader_free(&reader);
    return got;
}

static void batch_failed(size_t n, const char *error)
{
    uint64_t held_back;

    atomic_fetch_add(&milter.counts.prefetch_failed, n);
    if (msg_rate_allow(&pf.failure_rate, time(NULL), &held_back))
        msg_warn("prefetch: %zu domains not handed to tlsrptd (%s): %s (%llu more failures "
                 "since the last warning)",
                 n, pf.address, error, (unsigned long long)held_back);
    if (pf.fd >= 0)
        close(pf.fd);
    pf.fd = -1;
}

static void batch_send(domain_name *names, size_t n)
{
    int64_t deadline = clock_ms() + REPLY_TIMEOUT_MS;
    struct buf out = {0};
    char *error = NULL;
    size_t got;

    if (pf.fd < 0 && (pf.fd = smap_connect(pf.address, CONNECT_TIMEOUT_MS, &error)) < 0) {
        batch_failed(n, error);
        free(error);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(POL_PREFETCH_MAP) + 1 + strlen(names[i]);
        buf_printf(&out, "%zu:%s %s,", len, POL_PREFETCH_MAP, names[i]);
    }
    if (send_all(out.data, out.len, deadline) < 0) {
        batch_failed(n, stopping() ? "stopping" : "the connection failed");
    } else if ((got = read_replies(n, deadline)) < n) {
        atomic_fetch_add(&milter.counts.prefetch_sent, got);
        batch_failed(n - got, stopping() ? "stopping" : "no answer in time");
    } else {
        atomic_fetch_add(&milter.counts.prefetch_sent, n);
    }
    buf_free(&out);
}

static void *prefetch_thread(void *unused)
{
    static domain_name batch[PREFETCH_BATCH];

    (void)unused;
    pthread_mutex_lock(&pf.lock);
    for (;;) {
        while (pf.count == 0 && !pf.stopping)
            pthread_cond_wait(&pf.wake, &pf.lock);
        if (pf.stopping)
            break;
        size_t n = 0;
        for (; n < PREFETCH_BATCH && pf.count > 0; n++, pf.count--) {
            memcpy(batch[n], pf.ring[pf.head], sizeof(batch[n]));
            pf.head = (pf.head + 1) % pf.capacity;
        }
        pthread_mutex_unlock(&pf.lock);
        batch_send(batch, n);
        pthread_mutex_lock(&pf.lock);
    }
    pthread_mutex_unlock(&pf.lock);
    return NULL;
}

void prefetch_start(void)
{
    pf.address = cfg_str(milter.cfg, "policy_socket");
    if (!cfg_bool(milter.cfg, "milter_prefetch"))
        return;
    if (pf.address[0] == '\0') {
        msg_info("prefetch off: tlsrptd has no policy_socket to ask");
        return;
    }
    pf.capacity = (size_t)cfg_int(milter.cfg, "milter_prefetch_queue");
    pf.ring = xcalloc(pf.capacity, sizeof(*pf.ring));
    /* libmilter's own thread takes SIGTERM, SIGINT and SIGHUP; this one must not. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int err = pthread_create(&pf.thread, NULL, prefetch_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        msg_fatal("prefetch: cannot start its thread: %s", strerror(err));
    pf.running = true;
}

void prefetch_stop(void)
{
    if (!pf.running)
        return;
    pthread_mutex_lock(&pf.lock);
    pf.stopping = true;
    pthread_cond_signal(&pf.wake);
    pthread_mutex_unlock(&pf.lock);
    pthread_join(pf.thread, NULL);
    pf.running = false;
    if (pf.fd >= 0)
        close(pf.fd);
    pf.fd = -1;
    free(pf.ring);
    pf.ring = NULL;
}
