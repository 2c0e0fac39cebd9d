/*
 * check_spool_lock.c - Check suite of the outbox locks: a report's lock is held
 * by one process at a time and released by the kernel when its holder ends
 * (exit or kill -9); taking it reads the report's state as it is now; the
 * owner's lock is shared by its children until the last of them is gone.
 * Appenders in many processes never lose each other's records, not even to
 * a compaction running meanwhile.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spool.h"
#include "spool_fixture.h"
#include "util.h"

#define DAY 20000

static char dir[] = "/tmp/check_spool.XXXXXX";
static struct spool *spool;

static void setup(void)
{
    char *error = NULL;
    struct spool_entry entry = {
        .unique_id = "0123456789abcdef",
        .report_id = "2024-10-04_example.com_0123456789abcdef",
        .policy_domain = "example.com",
        .file_name = "sender.example!example.com!1!2!0123456789abcdef.json.gz",
        .record = "v=TLSRPTv1;rua=mailto:a@example.com",
        .day = DAY,
    };

    strcpy(dir, "/tmp/check_spool.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *outbox = path_join(dir, "outbox");
    spool = spool_open(outbox, &error);
    ck_assert_ptr_nonnull(spool);
    free(outbox);
    spool_entry_add_destination(&entry, "mailto:a@example.com");
    struct spool_day *txn = spool_day_begin(spool, DAY, &error);
    ck_assert_ptr_nonnull(txn);
    ck_assert_int_eq(spool_day_add(txn, &entry, "{}", 2, &error), 0);
    ck_assert_int_eq(spool_day_commit(txn, &error), 0);
    free(entry.destinations[0].uri);
    free(entry.destinations);
}

static void teardown(void)
{
    spool_close(spool);
    dir_remove_tree(dir);
}

static void list_one(struct spool_entry **entries)
{
    size_t n;
    char *error = NULL;

    ck_assert_int_eq(spool_list(spool, entries, &n, &error), 0);
    ck_assert_uint_eq(n, 1);
}

/* A child that takes a lock (the report's or, with `owner`, the outbox's) and waits. */
static pid_t holder_start(bool owner, int *release)
{
    int ready[2], go[2];
    char byte = 0;

    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct spool_entry *entries;
        bool busy;
        char *error;
        close(ready[0]);
        close(go[1]);
        list_one(&entries);
        int fd = owner ? spool_lock_outbox(spool, false, &busy, &error)
                       : spool_lock_entry(spool, &entries[0], false, &busy, &error);
        if (fd < 0 || write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) < 0)
            _exit(1);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    ck_assert_int_eq(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    *release = go[1];
    return pid;
}

/* How the holder ends: it exits, or it is killed with -9 (the kernel releases both ways). */
static void holder_end(pid_t pid, int release, int how)
{
    if (how == 1)
        kill(pid, SIGKILL);
    close(release);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

START_TEST(test_entry_lock_held_then_released)
{
    struct spool_entry *entries;
    bool busy;
    char *error = NULL;
    int release;

    list_one(&entries);
    pid_t pid = holder_start(false, &release);
    ck_assert_int_eq(spool_lock_entry(spool, &entries[0], false, &busy, &error), -1);
    ck_assert(busy);
    ck_assert_ptr_nonnull(strstr(error, "report 0123456789abcdef is locked by another process"));
    free(error);
    holder_end(pid, release, _i);
    int fd = spool_lock_entry(spool, &entries[0], false, &busy, &error);
    ck_assert_int_ge(fd, 0);
    ck_assert(!busy);
    close(fd);
    spool_list_free(entries, 1);
}
END_TEST

START_TEST(test_entry_lock_reads_the_state_again)
{
    struct spool_entry *stale, *other;
    bool busy;
    char *error = NULL;

    list_one(&stale);
    list_one(&other);
    /* Another process delivers the report after our listing. */
    other[0].destinations[0].state = SPOOL_DELIVERED;
    other[0].destinations[0].attempts = 1;
    ck_assert_int_eq(spool_update(spool, &other[0], &error), 0);
    int fd = spool_lock_entry(spool, &stale[0], true, &busy, &error);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(stale[0].n_destinations, 1);
    ck_assert_int_eq(stale[0].destinations[0].state, SPOOL_DELIVERED);
    ck_assert_int_eq(stale[0].destinations[0].attempts, 1);
    close(fd);
    /* A report deleted meanwhile cannot be locked: an error, not "busy". */
    ck_assert_int_eq(spool_delete(spool, &other[0], &error), 0);
    ck_assert_int_eq(spool_lock_entry(spool, &stale[0], false, &busy, &error), -1);
    ck_assert(!busy);
    ck_assert_ptr_nonnull(strstr(error, "0123456789abcdef"));
    free(error);
    spool_list_free(stale, 1);
    spool_list_free(other, 1);
}
END_TEST

START_TEST(test_outbox_owner_shared_with_children)
{
    bool busy;
    char *error = NULL;
    int release;

    pid_t pid = holder_start(true, &release);
    ck_assert_int_eq(spool_lock_outbox(spool, false, &busy, &error), -1);
    ck_assert(busy);
    free(error);
    holder_end(pid, release, _i);

    /* An owner's forked child keeps the outbox owned after the owner lets go. */
    int fd = spool_lock_outbox(spool, false, &busy, &error);
    ck_assert_int_ge(fd, 0);
    int go[2];
    char byte;
    ck_assert_int_eq(pipe(go), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(go[1]);
        _exit(read(go[0], &byte, 1) < 0);
    }
    close(go[0]);
    close(fd);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int other = spool_lock_outbox(spool, false, &busy, &error);
        _exit(other < 0 && busy ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    holder_end(child, go[1], _i);
    fd = spool_lock_outbox(spool, false, &busy, &error);
    ck_assert_int_ge(fd, 0);
    close(fd);
}
END_TEST

#define APPENDERS 8
#define UPDATES 200

/* Process k updates report k (and report APPENDERS, every one's) UPDATES times. */
static void appender(struct spool *outbox, int k)
{
    struct spool_entry *entries;
    size_t n;
    char *error = NULL;

    if (spool_list(outbox, &entries, &n, &error) < 0)
        _exit(2);
    struct spool_entry *mine = fixture_find(entries, n, k);
    struct spool_entry *shared = fixture_find(entries, n, APPENDERS);
    for (int i = 1; i <= UPDATES; i++) {
        mine->destinations[0].attempts = i;
        mine->destinations[0].next_try = 1728090000 + i;
        if (spool_update(outbox, mine, &error) < 0) {
            fprintf(stderr, "appender %d: %s\n", k, error);
            _exit(3);
        }
        /* The shared report under its lock: read, add one, write (a lost record loses one). */
        bool busy;
        int lock = spool_lock_entry(outbox, shared, true, &busy, &error);
        if (lock < 0) {
            fprintf(stderr, "appender %d: %s\n", k, error);
            _exit(4);
        }
        shared->destinations[0].attempts++;
        if (spool_update(outbox, shared, &error) < 0)
            _exit(5);
        close(lock);
    }
    _exit(0);
}

static pid_t appenders_start(struct spool *outbox, pid_t *pids)
{
    for (int k = 0; k < APPENDERS; k++) {
        pids[k] = fork();
        ck_assert_int_ge(pids[k], 0);
        if (pids[k] == 0)
            appender(outbox, k);
    }
    return pids[0];
}

static void appenders_wait(pid_t *pids)
{
    for (int k = 0; k < APPENDERS; k++) {
        int status;
        ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
}

static void assert_final(struct spool *outbox)
{
    struct spool_entry *entries, expected;
    size_t n;
    char *error = NULL;

    ck_assert_int_eq(spool_list(outbox, &entries, &n, &error), 0);
    ck_assert_uint_eq(n, APPENDERS + 2);
    for (int k = 0; k < APPENDERS + 2; k++) {
        fixture_entry(k, &expected);
        if (k < APPENDERS) {
            expected.destinations[0].attempts = UPDATES;
            expected.destinations[0].next_try = 1728090000 + UPDATES;
        } else if (k == APPENDERS) {
            expected.destinations[0].attempts = APPENDERS * UPDATES;
        }
        fixture_assert_same(&expected, fixture_find(entries, n, k));
        spool_entry_free(&expected);
    }
    spool_list_free(entries, n);
}

/* 8 processes x 200 updates of their own report and of a shared one: every state exact. */
START_TEST(test_concurrent_appenders)
{
    pid_t pids[APPENDERS];

    fixture_setup();
    struct spool *outbox = fixture_open();
    fixture_build(outbox, APPENDERS + 2);
    appenders_start(outbox, pids);
    appenders_wait(pids);
    assert_final(outbox);
    char *records = fixture_records();
    ck_assert_str_eq(records, "1 3210 0"); /* 10 built + 8 x 200 x 2: none lost, none torn */
    free(records);
    spool_close(outbox);
    fixture_teardown();
}
END_TEST

/* Compactions while the 8 append: no record made meanwhile is lost. */
START_TEST(test_compaction_with_appenders)
{
    pid_t pids[APPENDERS];
    char *error = NULL;
    int compactions = 0;

    fixture_setup();
    struct spool *outbox = fixture_open();
    fixture_build(outbox, APPENDERS + 2);
    appenders_start(outbox, pids);
    for (int k = 0, status; k < APPENDERS;) {
        ck_assert_msg(spool_log_compact(outbox, FIXTURE_DAY, true, &error) == 0, "%s", error);
        compactions++;
        pid_t done = waitpid(-1, &status, WNOHANG);
        if (done > 0) {
            ck_assert_int_eq(WEXITSTATUS(status), 0);
            k++;
        }
    }
    ck_assert_int_ge(compactions, 2);
    assert_final(outbox);
    ck_assert_int_eq(spool_log_compact(outbox, FIXTURE_DAY, true, &error), 0);
    char *records = fixture_records();
    ck_assert_str_eq(records, "1 10 0");
    free(records);
    assert_final(outbox);
    spool_close(outbox);
    fixture_teardown();
}
END_TEST

static Suite *spool_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("locks");

    tcase_add_checked_fixture(tc, setup, teardown);
    /* _i: 0 the holder exits, 1 it is killed with -9. */
    tcase_add_loop_test(tc, test_entry_lock_held_then_released, 0, 2);
    tcase_add_test(tc, test_entry_lock_reads_the_state_again);
    tcase_add_loop_test(tc, test_outbox_owner_shared_with_children, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("appenders");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_concurrent_appenders);
    tcase_add_test(tc, test_compaction_with_appenders);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(spool_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
