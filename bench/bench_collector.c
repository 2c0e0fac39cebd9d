/*
 * bench_collector.c - how fast the collector drains Postfix's datagrams,
 * beside the physical limit measured in the same run: a bare recvmmsg loop
 * that only discards. Two figures:
 *   throughput: a blocking sender (a busy Postfix) sends N datagrams of a
 *     realistic mix; datagrams/s until the receiver has counted them all;
 *   burst: 20,000 datagrams sent with MSG_DONTWAIT like libtlsrpt, with the
 *     kernel queue at this machine's net.unix.max_dgram_qlen; how many the
 *     kernel refused.
 * Usage: bench_collector [-u] [-p] [-n DATAGRAMS] [-b BURST] [-r ROUNDS]
 * (-u: every datagram distinct, the worst case for the parse cache;
 *  -p: sender pinned to CPU 0, receiver to CPU 1)
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "util.h"

/* Distinct datagrams in the mix; -u makes every datagram distinct (no parse cache hits). */
static size_t mix_size = 1000;
/* -p: sender on CPU 0, receiver (all its threads) on CPU 1, for repeatable figures. */
static bool pin;

static void pin_to(int cpu)
{
    cpu_set_t set;

    if (!pin)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        msg_warn("sched_setaffinity: %s", strerror(errno));
}

struct shared {
    volatile uint64_t counted;  /* by the receiver */
    volatile uint64_t cache_hits;
    volatile int ready;         /* receiver is waiting */
    volatile int64_t done_ns;   /* receiver saw all it expected */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* 80 % successes, 20 % failures over 1,000 domains, in libtlsrpt's shapes. */
static char *make_datagram(int i)
{
    if (i % 5 != 4)
        return xasprintf(
            "{\"dpv\": \"1\",\"d\": \"domain%d.example\",\"pr\": \"v=TLSRPTv1;"
            "rua=mailto:tlsrpt@domain%d.example\",\"policies\":[{\"policy-type\":2,"
            "\"policy-domain\": \"domain%d.example\",\"policy-string\":[\"version: STSv1\","
            "\"mode: enforce\",\"mx: mx.domain%d.example\",\"max_age: 604800\"],"
            "\"mx-host\":[\"mx.domain%d.example\"],\"t\":0,\"f\":0}]}",
            i, i, i, i, i);
    return xasprintf(
        "{\"dpv\": \"1\",\"d\": \"domain%d.example\",\"pr\": \"v=TLSRPTv1;"
        "rua=mailto:tlsrpt@domain%d.example\",\"policies\":[{\"policy-type\":9,"
        "\"policy-domain\": \"domain%d.example\",\"failure-details\":[{\"c\":205,"
        "\"s\": \"192.0.2.10\",\"n\": \"mx.domain%d.example\",\"h\": "
        "\"250-mx.domain%d.example\\r\\n250-PIPELINING\\r\\n250 SMTPUTF8\","
        "\"r\": \"198.51.100.%d\",\"f\": \"self-signed_certificate\"}],\"t\":1,\"f\":1}]}",
        i, i, i, i, i, i % 250);
}

/*
 * Variant `v` of a datagram: a blank after the k-th comma when bit k of v is
 * set. The meaning (and so the counter key) is unchanged, the bytes differ:
 * every parse is a real json-c parse.
 */
static char *make_variant(const char *datagram, size_t v)
{
    struct buf out;
    int comma = 0;

    buf_init(&out);
    for (const char *p = datagram; *p; p++) {
        buf_putc(&out, *p);
        if (*p == ',' && comma < 63 && ((v >> comma++) & 1))
            buf_putc(&out, ' ');
    }
    return buf_steal(&out);
}

static char **make_mix(void)
{
    char **mix = xcalloc(mix_size, sizeof(char *));

    for (size_t i = 0; i < mix_size; i++) {
        char *datagram = make_datagram((int)(i % 1000));
        mix[i] = i < 1000 ? datagram : make_variant(datagram, i / 1000);
        if (i >= 1000)
            free(datagram);
    }
    return mix;
}

/* The sender: returns how many the kernel refused (EAGAIN) when non-blocking. */
static uint64_t send_all(const char *path, char **mix, uint64_t n, int flags)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    uint64_t lost = 0;

    memcpy(sun.sun_path, path, strlen(path) + 1);
    for (uint64_t i = 0; i < n; i++) {
        const char *d = mix[i % mix_size];
        while (sendto(fd, d, strlen(d), flags, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                lost++;
                break;
            }
            if (errno != EINTR && errno != ENOBUFS) {
                perror("sendto");
                exit(1);
            }
        }
    }
    close(fd);
    return lost;
}

/* The physical limit: receive in batches and throw away. */
static void bare_receiver(const char *path, struct shared *sh, uint64_t expect)
{
    char *error;
    int fd = unix_socket_bind(path, SOCK_DGRAM, 0, 0, 0666, &error);
    static char buffers[64][65537];
    struct mmsghdr msgs[64];
    struct iovec iov[64];

    if (fd < 0)
        msg_fatal("%s", error);
    /* Blocking, exactly as the collector's drain thread reads. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
        msg_fatal("fcntl: %s", strerror(errno));
    for (int i = 0; i < 64; i++) {
        iov[i] = (struct iovec){buffers[i], sizeof(buffers[i])};
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    sh->ready = 1;
    while (sh->counted < expect) {
        int n = recvmmsg(fd, msgs, 64, MSG_WAITFORONE, NULL);
        if (n > 0)
            sh->counted += (uint64_t)n;
    }
    sh->done_ns = now_ns();
    close(fd);
    unlink(path);
}

/* Our collector, threads and counter table and all. */
static void collector_receiver(const char *path, const char *dir, struct shared *sh,
                               uint64_t expect)
{
    char *journal = path_join(dir, "journal");
    struct collector_settings settings = {
        .socket_path = path,
        .journal_path = journal,
        .owner = getuid(),
        .group = getgid(),
        .mode = 0666,
        .max_datagram_size = 65536,
        /*
         * Room for every datagram of the round: a blocking sender outruns the
         * idle-priority parser, and a full journal drops (a busy Postfix sends
         * far fewer); the figure is then the parser's end-to-end rate.
         */
        .ring_size = expect * 640 > (16 << 20) ? expect * 640 : 16 << 20,
        .counters_dir = dir,
        .limits = {.max_entries = 262144, .string_space = 64 << 20},
        .log_interval = 3600,
    };
    struct collector_stats stats;
    char *error;
    /* A fresh journal: what a killed burst round left must not count in this one. */
    (void)unlink(journal);
    struct collector *c = collector_open(&settings, &error);

    if (c == NULL || collector_start(c, &error) < 0)
        msg_fatal("%s", error);
    sh->ready = 1;
    for (;;) {
        collector_stats(c, &stats);
        sh->counted = stats.accepted + stats.rejected + stats.dropped_full;
        if (sh->counted >= expect)
            break;
        struct timespec pause = {0, 5000000}; /* rarely: the real daemon is idle here */
        nanosleep(&pause, NULL);
    }
    sh->done_ns = now_ns();
    sh->cache_hits = stats.parse_cache_hits;
    if (stats.rejected)
        msg_warn("collector rejected %llu datagrams of the mix", (unsigned long long)stats.rejected);
    if (stats.dropped_full)
        msg_warn("collector journal full: %llu datagrams not kept",
                 (unsigned long long)stats.dropped_full);
    collector_close(c);
    free(journal);
}

struct result {
    double per_second;
    uint64_t lost;
    double cache_hit_rate;
};

/*
 * One round: start the receiver, wait until it listens, run the sender,
 * then wait for the receiver to have counted everything that got through.
 */
static struct result run(bool ours, const char *dir, char **mix, uint64_t n, int flags)
{
    char *path = path_join(dir, "bench.sock");
    struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int lost_pipe[2];
    struct result result = {0, 0, 0};

    memset(sh, 0, sizeof(*sh));
    if (pipe(lost_pipe) < 0)
        msg_fatal("pipe: %s", strerror(errno));
    pid_t receiver = fork();
    if (receiver == 0) {
        pin_to(1);
        if (ours)
            collector_receiver(path, dir, sh, n);
        else
            bare_receiver(path, sh, n);
        _exit(0);
    }
    while (!sh->ready)
        usleep(1000);
    usleep(20000);
    int64_t start = now_ns();
    pid_t sender = fork();
    if (sender == 0) {
        pin_to(0);
        uint64_t lost = send_all(path, mix, n, flags);
        if (write(lost_pipe[1], &lost, sizeof(lost)) != sizeof(lost))
            _exit(1);
        _exit(0);
    }
    waitpid(sender, NULL, 0);
    if (read(lost_pipe[0], &result.lost, sizeof(result.lost)) != sizeof(result.lost))
        msg_fatal("sender died");
    /* The receiver waits for all n: after losses, wait for the rest, then stop it. */
    if (result.lost) {
        uint64_t deadline = (uint64_t)now_ns() + 10000000000ULL;
        while (sh->counted < n - result.lost && (uint64_t)now_ns() < deadline)
            usleep(1000);
        kill(receiver, SIGKILL);
        unlink(path);
    }
    waitpid(receiver, NULL, 0);
    int64_t end = sh->done_ns ? sh->done_ns : now_ns();
    result.per_second = (double)(n - result.lost) / ((double)(end - start) / 1e9);
    result.cache_hit_rate = (double)sh->cache_hits / (double)(n - result.lost);
    munmap(sh, sizeof(*sh));
    close(lost_pipe[0]);
    close(lost_pipe[1]);
    free(path);
    return result;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uint64_t n = 500000, burst = 20000;
    int rounds = 3, ch;
    char template[] = "/tmp/bench_collector.XXXXXX";

    msg_setup("bench_collector", MSG_STDERR, 0);
    bool unique = false;
    while ((ch = getopt(argc, argv, "n:b:r:up")) != -1) {
        if (ch == 'p')
            pin = true;
        else if (ch == 'u')
            unique = true;
        else if (ch == 'n')
            n = strtoull(optarg, NULL, 10);
        else if (ch == 'b')
            burst = strtoull(optarg, NULL, 10);
        else if (ch == 'r')
            rounds = atoi(optarg);
        else
            msg_fatal("usage: bench_collector [-u] [-p] [-n DATAGRAMS] [-b BURST] [-r ROUNDS]");
    }
    if (rounds < 1 || rounds > 15)
        rounds = 3;
    char *dir = mkdtemp(template);
    if (unique)
        mix_size = n > burst ? n : burst;
    char **mix = make_mix();
    double bare[15], ours[15], hit_rate = 0;
    uint64_t bare_lost[15], ours_lost[15];

    printf("collector: %s, %zu distinct datagrams (80%% success, 20%% failure), "
           "net.unix.max_dgram_qlen = %d, %d rounds, median shown%s\n",
           unique ? "worst case for the parse cache: every datagram distinct, 1000 domains"
                  : "realistic mix", mix_size,
           collector_max_dgram_qlen(), rounds,
           pin ? ", sender on CPU 0, receiver on CPU 1" : "");
    for (int r = 0; r < rounds; r++) {
        bare[r] = run(false, dir, mix, n, 0).per_second;
        struct result counted = run(true, dir, mix, n, 0);
        ours[r] = counted.per_second;
        hit_rate = counted.cache_hit_rate;
    }
    qsort(bare, (size_t)rounds, sizeof(double), compare_double);
    qsort(ours, (size_t)rounds, sizeof(double), compare_double);
    printf("throughput, blocking sender, %llu datagrams:\n", (unsigned long long)n);
    printf("  bare recvmmsg loop (discard):  %9.0f datagrams/s\n", bare[rounds / 2]);
    printf("  tlsrptd collector (counted):   %9.0f datagrams/s  = %.0f %% of the bare loop\n",
           ours[rounds / 2], 100.0 * ours[rounds / 2] / bare[rounds / 2]);
    printf("  (parse cache hits: %.1f %% of the datagrams)\n", 100.0 * hit_rate);
    for (int r = 0; r < rounds; r++) {
        bare_lost[r] = run(false, dir, mix, burst, MSG_DONTWAIT).lost;
        ours_lost[r] = run(true, dir, mix, burst, MSG_DONTWAIT).lost;
    }
    printf("burst of %llu datagrams sent with MSG_DONTWAIT (lost per round):\n",
           (unsigned long long)burst);
    printf("  bare recvmmsg loop:  ");
    for (int r = 0; r < rounds; r++)
        printf(" %5.1f %%", 100.0 * (double)bare_lost[r] / (double)burst);
    printf("\n  tlsrptd collector:   ");
    for (int r = 0; r < rounds; r++)
        printf(" %5.1f %%", 100.0 * (double)ours_lost[r] / (double)burst);
    uint64_t bare_total = 0, ours_total = 0;
    for (int r = 0; r < rounds; r++)
        bare_total += bare_lost[r], ours_total += ours_lost[r];
    printf("\n  mean loss: bare %.1f %%, collector %.1f %% (ratio %.2f)\n",
           100.0 * (double)bare_total / (double)(burst * (uint64_t)rounds),
           100.0 * (double)ours_total / (double)(burst * (uint64_t)rounds),
           bare_total ? (double)ours_total / (double)bare_total : 0.0);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        msg_warn("could not remove %s", dir);
    free(cmd);
    return 0;
}
