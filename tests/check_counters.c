/*
 * check_counters.c - Check suite of the counter table: exact totals and
 * order, concurrent writers (processes and threads), kill -9 at random
 * moments, overflow accounting, damaged files, day listing and expiry.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "counters_text.h"
/* White-box: the damaged-file tests write into the documented layout. */
#include "../src/counters/table_impl.h"

#define TEST_DAY 19800 /* 2024-03-18 */

/* Each test gets its own directory under one per run, which main() removes. */
static char *run_dir;
static char *test_dir;

static void dir_setup(void)
{
    test_dir = path_join(run_dir, "test.XXXXXX");
    if (mkdtemp(test_dir) == NULL)
        msg_fatal("mkdtemp %s: %m", test_dir);
}

static void dir_teardown(void)
{
    (void)dir_remove_tree(test_dir);
    free(test_dir);
}

static struct ctr_table *open_or_fail(int day, enum ctr_open_mode mode, uint32_t entries,
                                      uint64_t space)
{
    struct ctr_limits limits = {entries, space};
    char *error = NULL;
    struct ctr_table *table = ctr_open(test_dir, day, mode, &limits, &error);

    ck_assert_msg(table != NULL, "ctr_open: %s", error ? error : "?");
    return table;
}

/* Opening must fail with an error naming the file and containing `reason`. */
static void assert_open_fails(int day, enum ctr_open_mode mode, const char *reason)
{
    struct ctr_limits limits = {100, 4096};
    char *error = NULL;
    char *path = ctr_day_path(test_dir, day);

    ck_assert_ptr_null(ctr_open(test_dir, day, mode, &limits, &error));
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, path) != NULL, "error does not name %s: %s", path, error);
    ck_assert_msg(strstr(error, reason) != NULL, "expected \"%s\" in: %s", reason, error);
    free(error);
    free(path);
}

static void add_expect(struct ctr_table *table, const struct tr_event *event, int expected)
{
    const char *why;

    ck_assert_msg(tr_event_check(event, &why) == 0, "bad test event: %s", why);
    ck_assert_int_eq(ctr_add(table, event), expected);
}

/* --- single process: exact totals, order, NULL versus "" --------------- */

static const char *const sts_strings[] = {"version: STSv1", "mode: enforce", "mx: mx.b.example",
                                          "max_age: 86400"};
static const char *const sts_mx[] = {"mx.b.example"};
static const char *const tlsa_strings[] = {"3 1 1 abcd"};

static struct tr_policy sts_policy(const char *domain, bool failed,
                                   const struct tr_failure *failures, size_t n_failures)
{
    return (struct tr_policy){TR_POLICY_STS, domain,   sts_strings, 4, sts_mx, 1,
                              failed,        failures, n_failures};
}

static void add_failure(struct ctr_table *table, const char *domain,
                        const struct tr_failure *failure)
{
    struct tr_policy policy = sts_policy(NULL, true, failure, 1);
    struct tr_event event = {0, domain, "v=TLSRPTv1; rua=mailto:r@c.example", &policy, 1};

    add_expect(table, &event, 0);
}

START_TEST(test_single_exact)
{
    const char *record = "v=TLSRPTv1; rua=mailto:r@b.example";
    struct tr_failure helo_null = {TR_RESULT_CERTIFICATE_EXPIRED,
                                   "192.0.2.1",
                                   "mx.b.example",
                                   NULL,
                                   "198.51.100.1",
                                   NULL,
                                   NULL};
    struct tr_failure helo_empty = helo_null;
    struct tr_failure bare = {TR_RESULT_STARTTLS_NOT_SUPPORTED, NULL, NULL, NULL, NULL, NULL, NULL};
    struct tr_failure both[2];
    struct tr_policy policies[2];
    struct tr_event event = {0, "b.example", record, policies, 1};
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_WRITE, 1000, 65536);
    struct ctr_snapshot *snap;
    struct ctr_stats stats;
    char *text;

    helo_empty.receiving_mx_helo = "";
    both[0] = helo_null;
    both[1] = helo_empty;
    /* STS success x3, then policy domain given explicitly: the same key. */
    policies[0] = sts_policy(NULL, false, NULL, 0);
    for (int i = 0; i < 3; i++)
        add_expect(table, &event, 0);
    policies[0] = sts_policy("b.example", false, NULL, 0);
    add_expect(table, &event, 0);
    /* Failures with two details that differ only in NULL versus "" helo. */
    policies[0] = sts_policy(NULL, true, both, 2);
    add_expect(table, &event, 0);
    add_expect(table, &event, 0);
    /* Two policies: counts under both. */
    policies[0] = sts_policy(NULL, false, NULL, 0);
    policies[1] =
        (struct tr_policy){TR_POLICY_TLSA, "b.example", tlsa_strings, 1, NULL, 0, false, NULL, 0};
    event.n_policies = 2;
    add_expect(table, &event, 0);
    /* a.example: record NULL and "" are the same key; a failure without details. */
    policies[0] = (struct tr_policy){TR_POLICY_NONE, NULL, NULL, 0, NULL, 0, true, &bare, 1};
    event = (struct tr_event){0, "a.example", NULL, policies, 1};
    add_expect(table, &event, 0);
    policies[0].n_failures = 0;
    add_expect(table, &event, 0);
    policies[0].failed = false;
    event.record = "";
    add_expect(table, &event, 0);
    /* c.example: detail order is count desc, result name, then the fields. */
    struct tr_failure x = {TR_RESULT_VALIDATION_FAILURE, NULL, NULL, NULL, NULL, NULL, NULL};
    struct tr_failure y = {TR_RESULT_CERTIFICATE_EXPIRED, "1", NULL, NULL, NULL, NULL, NULL};
    struct tr_failure z = {TR_RESULT_CERTIFICATE_EXPIRED, "2", NULL, NULL, NULL, NULL, NULL};
    struct tr_failure w = {TR_RESULT_CERTIFICATE_NOT_TRUSTED, NULL, NULL, NULL, NULL, NULL, "c"};
    const struct tr_failure *order[] = {&x, &z, &z, &z, &w, &y, &y, &y};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(order); i++)
        add_failure(table, "c.example", order[i]);
    ctr_stats(table, &stats);
    ck_assert_uint_eq(stats.sessions_success, 7);
    ck_assert_uint_eq(stats.sessions_failure, 12);
    ck_assert_uint_eq(stats.entries_used, 4 + 1 + 2 + 4);
    ck_assert_uint_eq(stats.max_entries, 1000);
    ck_assert_uint_eq(stats.overflow_events + stats.lost_events + stats.overflow_domains, 0);
    ck_assert(!stats.reported);
    ctr_close(table);

    /* Everything is in the file: read it back through a fresh read-only handle. */
    table = open_or_fail(TEST_DAY, CTR_READ_ONLY, 0, 0);
    snap = ctr_snapshot(table, NULL);
    ck_assert_int_eq(snap->day, TEST_DAY);
    text = ctr_render(snap);
    /* TLSA (0) sorts before STS (1); NULL (-) before "". */
    ck_assert_str_eq(text,
                     "\"a.example\" \"\" no-policy-found \"a.example\" [] [] S=1 F=2\n"
                     "  1 starttls-not-supported - - - - - -\n"
                     "\"b.example\" \"v=TLSRPTv1; rua=mailto:r@b.example\" tlsa \"b.example\" "
                     "[\"3 1 1 abcd\"] [] S=1 F=0\n"
                     "\"b.example\" \"v=TLSRPTv1; rua=mailto:r@b.example\" sts \"b.example\" "
                     "[\"version: STSv1\" \"mode: enforce\" \"mx: mx.b.example\" "
                     "\"max_age: 86400\"] [\"mx.b.example\"] S=5 F=2\n"
                     "  2 certificate-expired \"192.0.2.1\" \"mx.b.example\" - "
                     "\"198.51.100.1\" - -\n"
                     "  2 certificate-expired \"192.0.2.1\" \"mx.b.example\" \"\" "
                     "\"198.51.100.1\" - -\n"
                     "\"c.example\" \"v=TLSRPTv1; rua=mailto:r@c.example\" sts \"c.example\" "
                     "[\"version: STSv1\" \"mode: enforce\" \"mx: mx.b.example\" "
                     "\"max_age: 86400\"] [\"mx.b.example\"] S=0 F=8\n"
                     "  3 certificate-expired \"1\" - - - - -\n"
                     "  3 certificate-expired \"2\" - - - - -\n"
                     "  1 certificate-not-trusted - - - - - \"c\"\n"
                     "  1 validation-failure - - - - - -\n"
                     "lost 0\n");
    free(text);
    ctr_snapshot_free(snap);

    snap = ctr_snapshot(table, "b.example");
    ck_assert_uint_eq(snap->n_keys, 2);
    ck_assert_uint_eq(snap->keys[0].n_details + snap->keys[1].n_details, 2);
    ctr_snapshot_free(snap);
    snap = ctr_snapshot(table, "nowhere.example");
    ck_assert_uint_eq(snap->n_keys, 0);
    ctr_snapshot_free(snap);
    ctr_close(table);
}
END_TEST

static int add_plain(struct ctr_table *table, const char *domain, bool failed,
                     const struct tr_failure *failure)
{
    struct tr_policy policy = {TR_POLICY_STS, NULL,    NULL,           0, NULL, 0,
                               failed,        failure, failure != NULL};
    struct tr_event event = {0, domain, NULL, &policy, 1};

    return ctr_add(table, &event);
}

/* --- concurrency: processes and threads -------------------------------- */

#define WORK_DOMAINS 50
#define WORK_VARIANTS 3
#define WORK_UNIQUE_EVERY 100 /* one event in 100 makes a brand-new key */
#define WORK_ENTRIES 50000    /* 2 x 10,000 new keys + 250 rows */
#define WORK_SPACE (4 << 20)

static const struct tr_failure work_variants[WORK_VARIANTS] = {
    {TR_RESULT_CERTIFICATE_EXPIRED, "192.0.2.1", "mx1.example.net", NULL, NULL, NULL, NULL},
    {TR_RESULT_STS_POLICY_INVALID, "192.0.2.1", NULL, NULL, NULL, "bad", NULL},
    {TR_RESULT_VALIDATION_FAILURE, NULL, "mx2.example.net", "", "203.0.113.9", NULL, NULL},
};

struct work_expect {
    uint64_t sts_success, sts_failure, tlsa_success, variant[WORK_VARIANTS];
};

/* Event number i of a writer; `name` is scratch for its domain. */
static void work_event(int writer, long i, char name[64], struct tr_event *event,
                       struct tr_policy policies[2])
{
    /* Every domain sees failures, in every detail variant. */
    int failed = (i / WORK_DOMAINS) % 4 == 0;
    const struct tr_failure *variant = &work_variants[(i / (4 * WORK_DOMAINS)) % WORK_VARIANTS];

    policies[0] = sts_policy(NULL, failed, variant, (size_t)failed);
    policies[1] =
        (struct tr_policy){TR_POLICY_TLSA, NULL, tlsa_strings, 1, NULL, 0, false, NULL, 0};
    snprintf(name, 64, "d%02ld.example", i % WORK_DOMAINS);
    *event = (struct tr_event){0, name, NULL, policies, 2};
    if (i % WORK_UNIQUE_EVERY == WORK_UNIQUE_EVERY - 1) {
        snprintf(name, 64, "w%d-%ld.example", writer, i);
        policies[0] = (struct tr_policy){TR_POLICY_STS, NULL, NULL, 0, NULL, 0, false, NULL, 0};
        event->n_policies = 1;
    }
}

/* Runs one writer's share; returns how many adds did not return 0. */
static long work_run(struct ctr_table *table, int writer, long count)
{
    struct tr_policy policies[2];
    struct tr_event event;
    char name[64];
    long bad = 0;

    for (long i = 0; i < count; i++) {
        work_event(writer, i, name, &event, policies);
        bad += ctr_add(table, &event) != 0;
    }
    return bad;
}

static void work_verify(int writers, long count, size_t extra_keys)
{
    struct work_expect expect[WORK_DOMAINS];
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_ONLY, 0, 0);
    struct ctr_snapshot *snap = ctr_snapshot(table, NULL);
    long unique_per_writer = count / WORK_UNIQUE_EVERY;
    char name[32];

    memset(expect, 0, sizeof(expect));
    for (long i = 0; i < count; i++) {
        struct work_expect *e = &expect[i % WORK_DOMAINS];

        if (i % WORK_UNIQUE_EVERY == WORK_UNIQUE_EVERY - 1)
            continue;
        e->tlsa_success += writers;
        if ((i / WORK_DOMAINS) % 4 != 0) {
            e->sts_success += writers;
        } else {
            e->sts_failure += writers;
            e->variant[(i / (4 * WORK_DOMAINS)) % WORK_VARIANTS] += writers;
        }
    }
    ck_assert_uint_eq(snap->n_keys, 2 * WORK_DOMAINS + writers * unique_per_writer + extra_keys);
    ck_assert_uint_eq(snap->n_overflow + snap->lost_events, 0);
    for (int d = 0; d < WORK_DOMAINS; d++) {
        /* Sorted by domain, and TLSA (0) before STS (1). */
        const struct ctr_key *tlsa = &snap->keys[2 * d], *sts = &snap->keys[2 * d + 1];

        snprintf(name, sizeof(name), "d%02d.example", d);
        ck_assert_str_eq(tlsa->domain, name);
        ck_assert_str_eq(sts->domain, name);
        ck_assert_int_eq(tlsa->policy.type, TR_POLICY_TLSA);
        ck_assert_int_eq(sts->policy.type, TR_POLICY_STS);
        ck_assert_uint_eq(sts->success, expect[d].sts_success);
        ck_assert_uint_eq(sts->failure, expect[d].sts_failure);
        ck_assert_uint_eq(tlsa->success, expect[d].tlsa_success);
        ck_assert_uint_eq(tlsa->failure, 0);
        ck_assert_uint_eq(sts->n_details, WORK_VARIANTS);
        for (size_t v = 0; v < sts->n_details; v++) {
            const struct tr_failure *f = &sts->details[v].failure;
            size_t which = f->result == TR_RESULT_CERTIFICATE_EXPIRED  ? 0
                           : f->result == TR_RESULT_STS_POLICY_INVALID ? 1
                                                                       : 2;
            ck_assert_uint_eq(sts->details[v].count, expect[d].variant[which]);
        }
    }
    for (size_t k = 0; k < snap->n_keys; k++)
        if (snap->keys[k].domain[0] == 'w')
            ck_assert_uint_eq(snap->keys[k].success + 10 * snap->keys[k].failure, 1);
    ctr_snapshot_free(snap);
    ctr_close(table);
}

#define WORK_PROCESS_ADDS 1000000L
#define WORK_THREAD_ADDS 500000L

START_TEST(test_two_processes)
{
    int go[2];
    pid_t children[2];
    int status;
    char byte;

    ck_assert_int_eq(pipe(go), 0);
    for (int w = 0; w < 2; w++) {
        ck_assert_int_ne(children[w] = fork(), -1);
        if (children[w] == 0) {
            /* Both wait for the pipe to close, then race to create the file. */
            struct ctr_limits limits = {WORK_ENTRIES, WORK_SPACE};
            struct ctr_table *table;
            char *error;

            close(go[1]);
            if (read(go[0], &byte, 1) != 0)
                _exit(3);
            if ((table = ctr_open(test_dir, TEST_DAY, CTR_READ_WRITE, &limits, &error)) == NULL)
                _exit(2);
            long bad = work_run(table, w, WORK_PROCESS_ADDS);
            ctr_close(table);
            _exit(bad == 0 ? 0 : 1);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int w = 0; w < 2; w++) {
        ck_assert_int_eq(waitpid(children[w], &status, 0), children[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d: status %d", w,
                      status);
    }
    work_verify(2, WORK_PROCESS_ADDS, 0);
}
END_TEST

struct thread_work {
    struct ctr_table *table;
    int writer;
    long bad;
};

static void *thread_main(void *arg)
{
    struct thread_work *work = arg;

    work->bad = work_run(work->table, work->writer, WORK_THREAD_ADDS);
    return NULL;
}

START_TEST(test_two_threads)
{
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_WRITE, WORK_ENTRIES, WORK_SPACE);
    struct thread_work work[2] = {{table, 0, 0}, {table, 1, 0}};
    pthread_t threads[2];

    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_create(&threads[t], NULL, thread_main, &work[t]), 0);
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    ck_assert_int_eq(work[0].bad + work[1].bad, 0);
    ctr_close(table);
    work_verify(2, WORK_THREAD_ADDS, 0);
}
END_TEST

/* A forked child shares the parent's open file: it must take its own for flock. */
START_TEST(test_inherited_handle)
{
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_WRITE, WORK_ENTRIES, WORK_SPACE);
    int *added = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int status;
    pid_t child;

    /* Hold the file lock as another inserter would: a child's new key must wait. */
    ck_assert_ptr_ne(added, MAP_FAILED);
    ck_assert_int_eq(flock(table->fd, LOCK_EX), 0);
    ck_assert_int_ne(child = fork(), -1);
    if (child == 0) {
        __atomic_store_n(added, add_plain(table, "new.example", false, NULL) == 0,
                         __ATOMIC_SEQ_CST);
        _exit(work_run(table, 1, WORK_THREAD_ADDS) == 0 ? 0 : 1);
    }
    usleep(100000);
    ck_assert_msg(__atomic_load_n(added, __ATOMIC_SEQ_CST) == 0, "child inserted under our lock");
    ck_assert_int_eq(flock(table->fd, LOCK_UN), 0);
    /* Then both write at once through the same handle. */
    ck_assert_int_eq(work_run(table, 0, WORK_THREAD_ADDS), 0);
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
    ck_assert_int_eq(*added, 1);
    ctr_close(table);
    munmap(added, sizeof(int));
    work_verify(2, WORK_THREAD_ADDS, 1);
}
END_TEST

/* --- kill -9 at random moments ----------------------------------------- */

#define CRASH_ROUNDS 20
/* Room for every new row a child makes before it is killed (~1,250 at most). */
#define CRASH_ENTRIES 4096
#define CRASH_SPACE (256 << 10)

/* Counts forever; every returned ctr_add is published in *progress afterwards. */
static UTIL_NORETURN void crash_child(int day, volatile uint64_t *progress)
{
    struct ctr_limits limits = {CRASH_ENTRIES, CRASH_SPACE};
    struct tr_failure failure = {
        TR_RESULT_DANE_REQUIRED, "192.0.2.7", NULL, NULL, NULL, NULL, NULL};
    struct tr_policy policy = sts_policy(NULL, true, &failure, 1);
    struct tr_event event = {0, "crash.example", NULL, &policy, 1};
    struct ctr_table *table;
    char info[32];
    char *error;

    if ((table = ctr_open(test_dir, day, CTR_READ_WRITE, &limits, &error)) == NULL)
        _exit(2);
    for (uint64_t i = 0;; i++) {
        /* Every 4th add makes a new detail row: kills also land inside inserts. */
        snprintf(info, sizeof(info), "n%llu", (unsigned long long)(i % 4 == 1 ? i : 0));
        failure.additional_information = info;
        if (ctr_add(table, &event) != 0)
            _exit(1);
        __atomic_store_n(progress, i + 1, __ATOMIC_SEQ_CST);
    }
}

START_TEST(test_kill_nine)
{
    uint64_t *progress =
        mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int rounds_with_adds = 0;

    ck_assert_ptr_ne(progress, MAP_FAILED);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        int day = TEST_DAY + round;
        struct ctr_table *table;
        struct ctr_snapshot *snap;
        uint64_t done, detail_sum = 0, total;
        struct ctr_stats stats;
        size_t rows;
        int status;
        pid_t child;

        *progress = 0;
        ck_assert_int_ne(child = fork(), -1);
        if (child == 0)
            crash_child(day, progress);
        /*
         * Kill at a moment tied to the child's progress, not to the clock, so
         * a loaded machine still gets kills at every stage: the first rounds
         * during creation, the others after 1..5,000 adds plus some jitter.
         */
        if (round >= 2) {
            uint64_t target = 1 + (uint64_t)rand() % 5000;
            int64_t deadline = clock_ms() + 20000;

            while (__atomic_load_n(progress, __ATOMIC_SEQ_CST) < target)
                ck_assert_msg(waitpid(child, &status, WNOHANG) == 0 && clock_ms() < deadline,
                              "round %d: the child stopped counting", round);
            usleep((useconds_t)(rand() % 300));
        }
        ck_assert_int_eq(kill(child, SIGKILL), 0);
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(WIFSIGNALED(status), "child ended by itself: %d", status);
        done = __atomic_load_n(progress, __ATOMIC_SEQ_CST);
        rounds_with_adds += done > 0;

        /* Read-write: a kill before the link leaves no table, which this creates. */
        table = open_or_fail(day, CTR_READ_WRITE, CRASH_ENTRIES, CRASH_SPACE);
        snap = ctr_snapshot(table, NULL);
        ck_assert_uint_le(snap->n_keys, 1);
        total = snap->n_keys ? snap->keys[0].failure : 0;
        for (size_t d = 0; snap->n_keys && d < snap->keys[0].n_details; d++)
            detail_sum += snap->keys[0].details[d].count;
        ck_assert_msg(total >= done && total <= done + 1, "round %d: %llu counted, %llu returned",
                      round, (unsigned long long)total, (unsigned long long)done);
        ck_assert_msg(detail_sum >= done && detail_sum <= done + 1,
                      "round %d: %llu in details, %llu returned", round,
                      (unsigned long long)detail_sum, (unsigned long long)done);
        /* At most the one insert in flight is left reserved but unpublished. */
        ctr_stats(table, &stats);
        rows = snap->n_keys ? 1 + snap->keys[0].n_details : 0;
        ck_assert_msg(stats.entries_used == rows || stats.entries_used == rows + 1,
                      "round %d: %u entries reserved, %zu published", round,
                      (unsigned)stats.entries_used, rows);
        ctr_snapshot_free(snap);
        ctr_close(table);
    }
    ck_assert_int_ge(rounds_with_adds, CRASH_ROUNDS - 2);
    munmap(progress, sizeof(*progress));
}
END_TEST

/* --- overflow ---------------------------------------------------------- */

START_TEST(test_overflow)
{
    /* 4 entries: 4 keys fit; the overflow region then holds 16 domains. */
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_WRITE, 4, 4096);
    struct tr_failure detail = {TR_RESULT_TLSA_INVALID, NULL, NULL, NULL, NULL, NULL, NULL};
    struct ctr_snapshot *snap;
    struct ctr_stats stats;
    char name[32];

    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof(name), "k%d.example", k);
        ck_assert_int_eq(add_plain(table, name, false, NULL), 0);
    }
    ck_assert_int_eq(add_plain(table, "k0.example", false, NULL), 0);
    /* The key counts the failure, but its detail row finds no room. */
    ck_assert_int_eq(add_plain(table, "k0.example", true, &detail), 1);
    for (int o = 0; o < 15; o++) {
        snprintf(name, sizeof(name), "o%d.example", o);
        ck_assert_int_eq(add_plain(table, name, false, NULL), 1);
    }
    ck_assert_int_eq(add_plain(table, "o0.example", true, &detail), 1);
    ck_assert_int_eq(add_plain(table, "o0.example", false, NULL), 1);
    /* 16 overflow domains used: new domains are only lost, known ones still count. */
    ck_assert_int_eq(add_plain(table, "lost1.example", false, NULL), 2);
    ck_assert_int_eq(add_plain(table, "lost2.example", true, &detail), 2);
    ck_assert_int_eq(add_plain(table, "o0.example", false, NULL), 1);

    ctr_stats(table, &stats);
    ck_assert_uint_eq(stats.entries_used, 4);
    ck_assert_uint_eq(stats.sessions_success, 5);
    ck_assert_uint_eq(stats.sessions_failure, 1);
    ck_assert_uint_eq(stats.overflow_domains, 16);
    ck_assert_uint_eq(stats.overflow_events, 1 + 15 + 3);
    ck_assert_uint_eq(stats.lost_events, 2);

    snap = ctr_snapshot(table, NULL);
    ck_assert_uint_eq(snap->n_keys, 4);
    ck_assert_str_eq(snap->keys[0].domain, "k0.example");
    ck_assert_uint_eq(snap->keys[0].success, 2);
    ck_assert_uint_eq(snap->keys[0].failure, 1);
    ck_assert_uint_eq(snap->keys[0].n_details, 0);
    ck_assert_uint_eq(snap->n_overflow, 16);
    ck_assert_uint_eq(snap->lost_events, 2);
    ck_assert_str_eq(snap->overflow[0].domain, "k0.example");
    ck_assert_uint_eq(snap->overflow[0].events, 1);
    ck_assert_str_eq(snap->overflow[1].domain, "o0.example");
    ck_assert_uint_eq(snap->overflow[1].events, 4);
    for (size_t i = 2; i < snap->n_overflow; i++) {
        ck_assert_uint_eq(snap->overflow[i].events, 1);
        ck_assert_int_lt(strcmp(snap->overflow[i - 1].domain, snap->overflow[i].domain), 0);
    }
    ctr_snapshot_free(snap);
    snap = ctr_snapshot(table, "o0.example");
    ck_assert_uint_eq(snap->n_keys + snap->n_overflow, 1);
    ctr_snapshot_free(snap);
    ctr_close(table);

    /* Strings run out first: one 40-byte key fits in 64 bytes, a second does not. */
    table = open_or_fail(TEST_DAY + 1, CTR_READ_WRITE, 100, 64);
    ck_assert_int_eq(add_plain(table, "a.example", false, NULL), 0);
    ck_assert_int_eq(add_plain(table, "b.example", false, NULL), 1);
    ck_assert_int_eq(add_plain(table, "a.example", false, NULL), 0);
    ctr_stats(table, &stats);
    ck_assert_uint_eq(stats.entries_used, 1);
    ck_assert_uint_eq(stats.string_used, 40);
    ck_assert_uint_eq(stats.sessions_success, 2);
    ck_assert_uint_eq(stats.overflow_events, 1);
    ctr_close(table);
}
END_TEST

/* --- damaged files, listing, expiry ------------------------------------ */

enum damage_kind { WRITE_U32, TRUNCATE_TO, RESIZE_BY };

struct damage_case {
    enum damage_kind kind;
    off_t where;    /* offset for WRITE_U32, size for TRUNCATE_TO, delta for RESIZE_BY */
    uint32_t value; /* for WRITE_U32 */
    const char *reason;
};

static const struct damage_case damage_cases[] = {
    {TRUNCATE_TO, 100, 0, "truncated"},
    {TRUNCATE_TO, 0, 0, "truncated"},
    {RESIZE_BY, -1, 0, "truncated"},
    {RESIZE_BY, 1, 0, "wrong size"},
    {WRITE_U32, 0, 0x58585858, "not a counter table"},
    {WRITE_U32, offsetof(struct ctr_file_header, version), 99, "format version 99"},
    {WRITE_U32, offsetof(struct ctr_file_header, day), TEST_DAY + 1, "holds the counters of"},
    {WRITE_U32, offsetof(struct ctr_file_header, max_entries), 7, "inconsistent header"},
    {WRITE_U32, offsetof(struct ctr_file_header, hash_seed), 12345, "hash function"},
};

START_TEST(test_damaged_header)
{
    const struct damage_case *dc = &damage_cases[_i];
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_WRITE, 100, 4096);
    char *path = ctr_day_path(test_dir, TEST_DAY);
    struct stat st;
    int fd;

    add_plain(table, "a.example", false, NULL);
    ctr_close(table);
    ck_assert_int_ge(fd = open(path, O_RDWR), 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    if (dc->kind == WRITE_U32)
        ck_assert_int_eq(pwrite(fd, &dc->value, sizeof(dc->value), dc->where), 4);
    else
        ck_assert_int_eq(
            ftruncate(fd, dc->kind == TRUNCATE_TO ? dc->where : st.st_size + dc->where), 0);
    close(fd);
    /* Neither mode may use, or "repair", a damaged file. */
    assert_open_fails(TEST_DAY, CTR_READ_ONLY, dc->reason);
    assert_open_fails(TEST_DAY, CTR_READ_WRITE, dc->reason);
    free(path);
}
END_TEST

START_TEST(test_damaged_slots)
{
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_WRITE, 100, 4096);
    struct ctr_snapshot *snap;
    struct ctr_slot *slot;
    int damaged = 0;

    add_plain(table, "a.example", false, NULL);
    add_plain(table, "b.example", false, NULL);
    add_plain(table, "c.example", false, NULL);
    /* Point one published slot outside the arena, give another a bogus length. */
    for (uint32_t i = 0; i <= table->slot_mask && damaged < 2; i++) {
        slot = &table->slots[i];
        if (slot->hash == 0 || table->strings[slot->offset + 5] == 'b')
            continue;
        if (damaged++ == 0)
            slot->offset = UINT32_MAX - 8;
        else
            table->strings[slot->offset + 1] = 0xff; /* domain length */
    }
    ck_assert_int_eq(damaged, 2);
    snap = ctr_snapshot(table, NULL);
    ck_assert_uint_eq(snap->n_keys, 1);
    ck_assert_str_eq(snap->keys[0].domain, "b.example");
    ctr_snapshot_free(snap);
    /* Writers carry on: a damaged key is simply made again. */
    ck_assert_int_eq(add_plain(table, "a.example", false, NULL), 0);
    snap = ctr_snapshot(table, NULL);
    ck_assert_uint_eq(snap->n_keys, 2);
    ctr_snapshot_free(snap);
    ctr_close(table);
}
END_TEST

START_TEST(test_open_errors)
{
    struct ctr_limits bad = {0, 4096};
    char *error = NULL;

    assert_open_fails(TEST_DAY, CTR_READ_ONLY, "No such file");
    ck_assert_ptr_null(ctr_open(test_dir, TEST_DAY, CTR_READ_WRITE, &bad, &error));
    ck_assert_ptr_nonnull(strstr(error, "max_entries"));
    free(error);
    ck_assert_ptr_null(ctr_open(test_dir, -1000000, CTR_READ_WRITE, NULL, &error));
    ck_assert_ptr_nonnull(strstr(error, "out of range"));
    free(error);
}
END_TEST

START_TEST(test_list_and_expire)
{
    const char *junk[] = {"notes.txt", "2024-13-01.ctr", "2024-01-01.ctr.bak", "2024-1-01.ctr",
                          ".2024-01-01.ctr.Ab3dEf"};
    int today = TEST_DAY + 30;
    int offsets[] = {-10, 0, -3, -8, -9}; /* created out of order */
    bool reported[] = {true, true, true, true, false};
    struct ctr_table *table;
    struct ctr_stats stats;
    int *days;
    char *error;

    for (size_t j = 0; j < UTIL_ARRAY_LEN(junk); j++) {
        char *path = path_join(test_dir, junk[j]);
        int fd = open(path, O_CREAT | O_WRONLY, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        free(path);
    }
    for (size_t d = 0; d < UTIL_ARRAY_LEN(offsets); d++) {
        table = open_or_fail(today + offsets[d], CTR_READ_WRITE, 10, 1024);
        ctr_close(table);
        /* Through a read-only handle too: that path writes the flag with pwrite. */
        table = open_or_fail(today + offsets[d], CTR_READ_ONLY, 0, 0);
        if (reported[d])
            ctr_set_reported(table);
        ctr_close(table);
    }
    ck_assert_int_eq(ctr_list_days(test_dir, &days, &error), 5);
    ck_assert_int_eq(days[0], today - 10);
    ck_assert_int_eq(days[1], today - 9);
    ck_assert_int_eq(days[2], today - 8);
    ck_assert_int_eq(days[3], today - 3);
    ck_assert_int_eq(days[4], today);
    free(days);
    table = open_or_fail(today - 8, CTR_READ_WRITE, 0, 0);
    ctr_stats(table, &stats);
    ck_assert(stats.reported);
    ctr_close(table);

    /* Retention 7: before today-7 and reported are -10 and -8; -9 lacks its reports. */
    ck_assert_int_eq(ctr_expire(test_dir, today, 7), 2);
    ck_assert_int_eq(ctr_list_days(test_dir, &days, &error), 3);
    ck_assert_int_eq(days[0], today - 9);
    ck_assert_int_eq(days[1], today - 3);
    ck_assert_int_eq(days[2], today);
    free(days);
    ck_assert_int_eq(ctr_expire(test_dir, today, 7), 0);
    ck_assert_int_eq(ctr_expire(test_dir, today, 0), 1);
    ck_assert_int_eq(ctr_list_days(test_dir, &days, &error), 2);
    ck_assert_int_eq(days[0], today - 9);
    ck_assert_int_eq(days[1], today);
    free(days);
    ck_assert_int_eq(ctr_list_days("/nonexistent/dir", &days, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "/nonexistent/dir"));
    free(error);
}
END_TEST

static Suite *counters_suite(void)
{
    Suite *suite = suite_create("counters");
    struct {
        const char *name;
        int timeout;
    } cases[] = {
        {"single", 10}, {"concurrency", 60}, {"crash", 60}, {"overflow", 10}, {"files", 10}};
    TCase *tc[UTIL_ARRAY_LEN(cases)];

    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        tc[i] = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc[i], dir_setup, dir_teardown);
        tcase_set_timeout(tc[i], cases[i].timeout);
        suite_add_tcase(suite, tc[i]);
    }
    tcase_add_test(tc[0], test_single_exact);
    tcase_add_test(tc[1], test_two_processes);
    tcase_add_test(tc[1], test_two_threads);
    tcase_add_test(tc[1], test_inherited_handle);
    tcase_add_test(tc[2], test_kill_nine);
    tcase_add_test(tc[3], test_overflow);
    tcase_add_loop_test(tc[4], test_damaged_header, 0, (int)UTIL_ARRAY_LEN(damage_cases));
    tcase_add_test(tc[4], test_damaged_slots);
    tcase_add_test(tc[4], test_open_errors);
    tcase_add_test(tc[4], test_list_and_expire);
    return suite;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    SRunner *runner = srunner_create(counters_suite());
    int failed;

    /* A failed test exits before its teardown: clean up here, whatever happened. */
    run_dir = xasprintf("%s/check_counters.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(run_dir) == NULL)
        msg_fatal("mkdtemp %s: %m", run_dir);
    srunner_run_all(runner, CK_NORMAL);
    (void)dir_remove_tree(run_dir);
    free(run_dir);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
