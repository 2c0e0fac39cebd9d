/*
 * bench_counters.c - ctr_add() throughput with a realistic key mix, for one
 * writer process and for two at once, beside same-run baselines: plain
 * in-memory increments (the physical floor) and a private hash table; then
 * a scale run with 10k to 5M distinct domains in a default-sized table.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"

#define DOMAINS 1000
#define VARIANTS 4           /* failure details per domain */
#define EVENTS 65536         /* pre-built, replayed in a loop */
#define PHASE_NS 800000000LL /* each measurement runs ~0.8 s */
#define BENCH_DAY 20000

/* The event mix: built once, so the loops measure counting only. */
struct mix {
    char domain[DOMAINS][32];
    char record[DOMAINS][80];
    char mx_line[DOMAINS][48];
    char mx_host[DOMAINS][40];
    char receiving_ip[VARIANTS][24];
    const char *strings[DOMAINS][4];
    const char *mx_hosts[DOMAINS][1];
    struct tr_failure failure[DOMAINS][VARIANTS];
    struct tr_policy policy[EVENTS];
    struct tr_event event[EVENTS];
    /* For the plain-increment floor: the counters each event touches. */
    uint32_t key_index[EVENTS];
    uint32_t detail_index[EVENTS]; /* UINT32_MAX: success, no detail */
    uint32_t increments;           /* counters one pass over the events adds one to */
};

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static struct mix *mix_build(void)
{
    struct mix *mix = xcalloc(1, sizeof(*mix));
    uint64_t state = 0x9e3779b97f4a7c15u;

    for (int v = 0; v < VARIANTS; v++)
        snprintf(mix->receiving_ip[v], sizeof(mix->receiving_ip[v]), "198.51.100.%d", v + 10);
    for (int d = 0; d < DOMAINS; d++) {
        snprintf(mix->domain[d], sizeof(mix->domain[d]), "customer%03d.example.com", d);
        snprintf(mix->record[d], sizeof(mix->record[d]),
                 "v=TLSRPTv1; rua=mailto:tlsrpt@customer%03d.example.com", d);
        snprintf(mix->mx_host[d], sizeof(mix->mx_host[d]), "mx.customer%03d.example.com", d);
        snprintf(mix->mx_line[d], sizeof(mix->mx_line[d]), "mx: %s", mix->mx_host[d]);
        mix->strings[d][0] = "version: STSv1";
        mix->strings[d][1] = "mode: enforce";
        mix->strings[d][2] = mix->mx_line[d];
        mix->strings[d][3] = "max_age: 604800";
        mix->mx_hosts[d][0] = mix->mx_host[d];
        for (int v = 0; v < VARIANTS; v++)
            mix->failure[d][v] = (struct tr_failure){TR_RESULT_CERTIFICATE_EXPIRED,
                                                     "192.0.2.25",
                                                     mix->mx_host[d],
                                                     NULL,
                                                     mix->receiving_ip[v],
                                                     NULL,
                                                     NULL};
    }
    for (int e = 0; e < EVENTS; e++) {
        /* xorshift: a fixed, repeatable sequence */
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        int d = (int)(state % DOMAINS);
        int failed = (state >> 20) % 5 == 0; /* 20% failures, one detail each */
        int v = (int)((state >> 32) % VARIANTS);

        mix->policy[e] = (struct tr_policy){
            TR_POLICY_STS,       NULL,          mix->strings[d], 4, mix->mx_hosts[d], 1, failed,
            &mix->failure[d][v], (size_t)failed};
        mix->event[e] = (struct tr_event){0, mix->domain[d], mix->record[d], &mix->policy[e], 1};
        mix->key_index[e] = (uint32_t)d;
        mix->detail_index[e] = failed ? (uint32_t)(DOMAINS + d * VARIANTS + v) : UINT32_MAX;
        mix->increments += 1 + (uint32_t)failed;
    }
    return mix;
}

/* The floor: one private increment per counter an event touches. */
static double bench_plain(const struct mix *mix)
{
    uint64_t *counts = xcalloc(DOMAINS * (VARIANTS + 1), sizeof(*counts));
    uint64_t adds = 0;
    uint64_t sum = 0;
    int64_t start = now_ns();
    int64_t elapsed;

    do {
        for (int e = 0; e < EVENTS; e++) {
            counts[mix->key_index[e]]++;
            if (mix->detail_index[e] != UINT32_MAX)
                counts[mix->detail_index[e]]++;
        }
        adds += EVENTS;
    } while ((elapsed = now_ns() - start) < PHASE_NS / 2);
    for (int i = 0; i < DOMAINS * (VARIANTS + 1); i++)
        sum += counts[i];
    free(counts);
    if (sum < adds) /* keeps the loop from being optimised away */
        printf("counters: impossible sum\n");
    return (double)adds / ((double)elapsed / 1e9);
}

/* A private open-addressing table with the same kind of key work per event. */
#define PRIVATE_SLOTS 8192

struct private_slot {
    uint64_t hash;
    char *key;
    size_t len;
    uint64_t count;
};

static void private_count(struct private_slot *slots, struct buf *key)
{
    uint64_t hash = hash64(key->data, key->len, 42) | 1;
    size_t i = hash & (PRIVATE_SLOTS - 1);

    /* The mix has 5,000 distinct rows: the table never fills. */
    while (slots[i].hash != 0 && (slots[i].hash != hash || slots[i].len != key->len ||
                                  memcmp(slots[i].key, key->data, key->len) != 0))
        i = (i + 1) & (PRIVATE_SLOTS - 1);
    if (slots[i].hash == 0) {
        slots[i].hash = hash;
        slots[i].key = xmalloc(key->len); /* binary: lengths hold NUL bytes */
        memcpy(slots[i].key, key->data, key->len);
        slots[i].len = key->len;
    }
    slots[i].count++;
}

static void private_put(struct buf *key, const char *text)
{
    uint32_t len = text != NULL ? (uint32_t)strlen(text) + 1 : 0;

    buf_append(key, &len, sizeof(len));
    if (text != NULL)
        buf_append(key, text, len - 1);
}

static double bench_private_table(const struct mix *mix)
{
    struct private_slot *slots = xcalloc(PRIVATE_SLOTS, sizeof(*slots));
    struct buf key;
    uint64_t adds = 0;
    int64_t start = now_ns();
    int64_t elapsed;

    buf_init(&key);
    do {
        for (int e = 0; e < EVENTS; e++) {
            const struct tr_event *event = &mix->event[e];
            const struct tr_policy *policy = event->policies;

            buf_reset(&key);
            private_put(&key, event->domain);
            private_put(&key, event->record);
            buf_putc(&key, policy->type);
            private_put(&key, event->domain);
            for (size_t s = 0; s < policy->n_strings; s++)
                private_put(&key, policy->strings[s]);
            for (size_t m = 0; m < policy->n_mx_hosts; m++)
                private_put(&key, policy->mx_hosts[m]);
            private_count(slots, &key);
            if (policy->failed) {
                const struct tr_failure *f = policy->failures;

                buf_putc(&key, f->result);
                private_put(&key, f->sending_mta_ip);
                private_put(&key, f->receiving_mx_hostname);
                private_put(&key, f->receiving_mx_helo);
                private_put(&key, f->receiving_ip);
                private_put(&key, f->additional_information);
                private_put(&key, f->failure_reason_code);
                private_count(slots, &key);
            }
        }
        adds += EVENTS;
    } while ((elapsed = now_ns() - start) < PHASE_NS / 2);
    for (int i = 0; i < PRIVATE_SLOTS; i++)
        free(slots[i].key);
    free(slots);
    buf_free(&key);
    return (double)adds / ((double)elapsed / 1e9);
}

/* CPU time too: on a shared machine, wall-clock rates say little about scaling. */
struct writer_result {
    uint64_t adds;
    int64_t elapsed_ns;
    int64_t cpu_ns;
};

/* One writer: its own handle on the day's table, counting for one phase. */
static struct writer_result run_writer(const char *dir, const struct mix *mix)
{
    struct writer_result result = {0, 0, 0};
    struct ctr_table *table;
    char *error;
    int64_t start, cpu_start;

    if ((table = ctr_open(dir, BENCH_DAY, CTR_READ_WRITE, NULL, &error)) == NULL)
        msg_fatal("%s", error);
    start = now_ns();
    cpu_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    do {
        for (int e = 0; e < EVENTS; e++)
            if (ctr_add(table, &mix->event[e]) != 0)
                msg_fatal("ctr_add: table full during the benchmark");
        result.adds += EVENTS;
    } while ((result.elapsed_ns = now_ns() - start) < PHASE_NS);
    result.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    ctr_close(table);
    return result;
}

/*
 * Two writer processes at once; returns the summed wall-clock rate, the adds
 * made and the rate per CPU-second of each writer (averaged).
 */
static double run_two_writers(const char *dir, const struct mix *mix, uint64_t *adds_r,
                              double *cpu_rate_r)
{
    int go[2];
    int results[2];
    pid_t children[2];
    double rate = 0;
    char byte;

    if (pipe(go) < 0 || pipe(results) < 0)
        msg_fatal("pipe: %m");
    for (int w = 0; w < 2; w++) {
        if ((children[w] = fork()) < 0)
            msg_fatal("fork: %m");
        if (children[w] == 0) {
            close(go[1]);
            close(results[0]);
            if (read(go[0], &byte, 1) != 0) /* start together when the pipe closes */
                _exit(1);
            struct writer_result result = run_writer(dir, mix);
            _exit(write(results[1], &result, sizeof(result)) == (ssize_t)sizeof(result) ? 0 : 1);
        }
    }
    close(go[0]);
    close(go[1]);
    close(results[1]);
    *adds_r = 0;
    *cpu_rate_r = 0;
    for (int w = 0; w < 2; w++) {
        struct writer_result result;
        int status;

        if (read(results[0], &result, sizeof(result)) != (ssize_t)sizeof(result))
            msg_fatal("a writer process failed");
        rate += (double)result.adds / ((double)result.elapsed_ns / 1e9);
        *cpu_rate_r += (double)result.adds / ((double)result.cpu_ns / 1e9) / 2;
        *adds_r += result.adds;
        if (waitpid(children[w], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            msg_fatal("a writer process failed");
    }
    close(results[0]);
    return rate;
}

/* Every add of the mix counts once under its key: the table must agree exactly. */
static void check_totals(const char *dir, uint64_t adds, const char *what)
{
    struct ctr_stats stats;
    struct ctr_table *table;
    char *error;

    if ((table = ctr_open(dir, BENCH_DAY, CTR_READ_ONLY, NULL, &error)) == NULL)
        msg_fatal("%s", error);
    ctr_stats(table, &stats);
    ctr_close(table);
    printf("counters: %s: %llu adds made, %llu in the table: %s\n", what, (unsigned long long)adds,
           (unsigned long long)(stats.sessions_success + stats.sessions_failure),
           stats.sessions_success + stats.sessions_failure == adds ? "exact" : "MISMATCH");
    if (stats.sessions_success + stats.sessions_failure != adds)
        exit(EXIT_FAILURE);
}

/*
 * Scale: n distinct domains, each one key like the mix's (about 190 bytes
 * encoded), in a table of the default sizes (no tuning). Domain names are
 * made on the fly without printf, so the loops measure counting.
 */
static void scale_domain(char name[32], long i)
{
    static const char prefix[] = "customer";
    char *p = name + sizeof(prefix) - 1;

    memcpy(name, prefix, sizeof(prefix) - 1);
    for (int digit = 6; digit >= 0; digit--, i /= 10)
        p[digit] = (char)('0' + i % 10);
    memcpy(p + 7, ".example.com", sizeof(".example.com"));
}

static void scale_run(const char *dir, int day, long n)
{
    static const char *const strings[4] = {"version: STSv1", "mode: enforce",
                                           "mx: mx.customer.example.com", "max_age: 604800"};
    static const char *const mx_hosts[1] = {"mx.customer.example.com"};
    struct tr_policy policy = {TR_POLICY_STS, NULL, strings, 4, mx_hosts, 1, false, NULL, 0};
    struct tr_event event = {0, NULL, "v=TLSRPTv1; rua=mailto:tlsrpt@customer.example.com", &policy,
                             1};
    struct ctr_table *table;
    struct ctr_stats stats;
    struct stat st;
    uint64_t state = 0x9e3779b97f4a7c15u;
    uint64_t adds = 0;
    char name[32];
    char text[DAY_TEXT_SIZE];
    char *error;
    char *path;
    int64_t start, elapsed, cpu_start, cpu;

    if ((table = ctr_open(dir, day, CTR_READ_WRITE, NULL, &error)) == NULL)
        msg_fatal("%s", error);
    event.domain = name;
    start = now_ns();
    for (long i = 0; i < n; i++) {
        scale_domain(name, i);
        if (ctr_add(table, &event) != 0)
            msg_fatal("scale: %ld domains: the default table did not count them all", n);
    }
    elapsed = now_ns() - start;
    printf("counters: scale %ld domains: new keys %.2f M/s", n,
           (double)n / ((double)elapsed / 1e9) / 1e6);
    start = now_ns();
    cpu_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    do {
        for (int e = 0; e < 4096; e++) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            scale_domain(name, (long)(state % (uint64_t)n));
            ctr_add(table, &event);
        }
        adds += 4096;
    } while ((elapsed = now_ns() - start) < PHASE_NS);
    cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    ctr_stats(table, &stats);
    ctr_close(table);
    day_format(day, text);
    path = xasprintf("%s/%s.ctr", dir, text);
    if (stat(path, &st) < 0)
        msg_fatal("stat %s: %m", path);
    printf(", increments of existing keys %.1f M/s (%.1f M per CPU-second), "
           "disk %.0f bytes a domain (%.0f MB; file %.1f GB sparse)%s\n",
           (double)adds / ((double)elapsed / 1e9) / 1e6, (double)adds / ((double)cpu / 1e9) / 1e6,
           (double)st.st_blocks * 512 / (double)n, (double)st.st_blocks * 512 / 1e6,
           (double)st.st_size / 1e9,
           stats.sessions_success == (uint64_t)n + adds && stats.overflow_events == 0
               ? ""
               : " MISMATCH");
    if (stats.sessions_success != (uint64_t)n + adds || stats.overflow_events != 0)
        exit(EXIT_FAILURE);
    if (unlink(path) < 0)
        msg_warn("unlink %s: %m", path);
    free(path);
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/bench_counters.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    struct mix *mix = mix_build();
    struct writer_result one;
    double plain, private_table, two, two_cpu_rate;
    uint64_t two_adds;

    if (mkdtemp(dir) == NULL)
        msg_fatal("mkdtemp %s: %m", dir);
    printf("counters: key mix: %d domains, 1 STS policy per event, 80%% success / 20%% failure "
           "with one detail (%d variants per domain)\n",
           DOMAINS, VARIANTS);
    plain = bench_plain(mix);
    private_table = bench_private_table(mix);
    printf("counters: baseline plain in-memory increments: %.0f M/s\n", plain / 1e6);
    printf("counters: baseline private in-memory hash table, same key work: %.1f M/s\n",
           private_table / 1e6);

    one = run_writer(dir, mix);
    printf("counters: 1 writer: %.1f M adds/s (%.1f M per CPU-second; baseline plain in-memory "
           "increments: %.0f M/s, private hash table: %.1f M/s)\n",
           (double)one.adds / ((double)one.elapsed_ns / 1e9) / 1e6,
           (double)one.adds / ((double)one.cpu_ns / 1e9) / 1e6, plain / 1e6, private_table / 1e6);
    /* An add of a failure also counts its detail row: increments are what the table does. */
    printf("counters: 1 writer: %.1f M increments of existing keys/s (%.2f a ctr_add)\n",
           (double)one.adds * mix->increments / EVENTS / ((double)one.elapsed_ns / 1e9) / 1e6,
           (double)mix->increments / EVENTS);
    check_totals(dir, one.adds, "1 writer");

    two = run_two_writers(dir, mix, &two_adds, &two_cpu_rate);
    printf("counters: 2 writers: %.1f M adds/s total (each %.1f M per CPU-second; baseline plain "
           "in-memory increments: %.0f M/s)\n",
           two / 1e6, two_cpu_rate / 1e6, plain / 1e6);
    if (sysconf(_SC_NPROCESSORS_ONLN) < 3)
        printf("counters: note: %ld CPUs online; other load makes wall-clock rates of 2 writers "
               "pessimistic, the per-CPU-second rate is the one to compare\n",
               sysconf(_SC_NPROCESSORS_ONLN));
    check_totals(dir, one.adds + two_adds, "1 + 2 writers");

    /* bench_counters [DOMAINS...]: the scale run's sizes (default 10k 100k 1M 5M). */
    if (argc > 1) {
        for (int a = 1; a < argc; a++)
            scale_run(dir, BENCH_DAY + a, strtol(argv[a], NULL, 10));
    } else {
        static const long scales[] = {10000, 100000, 1000000, 5000000};

        for (size_t a = 0; a < UTIL_ARRAY_LEN(scales); a++)
            scale_run(dir, BENCH_DAY + 1 + (int)a, scales[a]);
    }

    if (dir_remove_tree(dir) < 0)
        msg_warn("could not remove %s", dir);
    free(dir);
    free(mix);
    return EXIT_SUCCESS;
}
