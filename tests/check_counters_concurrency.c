/*
 * check_counters_concurrency.c - Check suite of the counter table under
 * concurrent writers: exact totals from two processes, two threads and a
 * forked child sharing its parent's handle, and kill -9 at random moments.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "counters_fixture.h"
/* White-box: a forked child's writes must wait for the lock on the shared file. */
#include "../src/counters/table_impl.h"

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
    /* 20,000 new keys: the table grew a segment while both wrote. */
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_ONLY, 0, 0);
    ck_assert_uint_eq(ctr_segments(table), 2);
    ctr_close(table);
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
#define CRASH_MAX_ADDS 10000 /* 2,500 detail rows: the table never fills */

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
        /*
         * A parent delayed on a loaded machine must not find the table full:
         * past the last kill target (5,000 adds), the child waits to be killed.
         */
        while (i >= CRASH_MAX_ADDS)
            pause();
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

static Suite *counters_concurrency_suite(void)
{
    Suite *suite = suite_create("counters_concurrency");
    TCase *concurrency = counters_tcase(suite, "concurrency", 60);
    TCase *crash = counters_tcase(suite, "crash", 60);

    tcase_add_test(concurrency, test_two_processes);
    tcase_add_test(concurrency, test_two_threads);
    tcase_add_test(concurrency, test_inherited_handle);
    tcase_add_test(crash, test_kill_nine);
    return suite;
}

int main(void)
{
    return counters_run_suite(counters_concurrency_suite(), "check_counters_concurrency");
}
