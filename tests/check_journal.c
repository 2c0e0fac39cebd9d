/*
 * check_journal.c - Check suite of the collector's journal: datagrams sent
 * to a real collector socket wrap around a small journal; a full journal
 * (no counter table can be opened) counts what it could not keep, keeps
 * draining, and counts the kept ones once the table can be made (also when
 * posix_fallocate failed for want of space); a damaged record is skipped
 * alone; a kill at
 * every point of appending and counting (a torn record, after the intent,
 * half stored, stored but not released) ends, after a restart, with the
 * counts of one uninterrupted pass; a day already reported counts late only.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "collector.h"
#include "counters_text.h"

#define SAMPLE TEST_DATA_DIR "/libtlsrpt-sample.jsonl"
#define DEADLINE_MS 30000
#define SMALL_JOURNAL 8192

static char *dir, *counters_dir, *socket_path, *journal_path;
static char *lines[16];
static size_t n_lines;
static struct buf sample;

static void setup(void)
{
    char *error = NULL;

    dir = xstrdup("/tmp/check_journal.XXXXXX");
    if (mkdtemp(dir) == NULL)
        msg_fatal("mkdtemp: %s", strerror(errno));
    counters_dir = path_join(dir, "counters");
    socket_path = path_join(dir, "c.sock");
    journal_path = path_join(dir, "journal");
    ck_assert_int_eq(dir_make(counters_dir, 0755, &error), 0);
    buf_init(&sample);
    ck_assert_int_eq(file_read_all(SAMPLE, 1 << 20, &sample, &error), 0);
    n_lines = 0;
    for (char *line = sample.data, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        ck_assert_uint_lt(n_lines, UTIL_ARRAY_LEN(lines));
        lines[n_lines++] = line;
    }
    /* 7 good datagrams, then 3 the parser rejects. */
    ck_assert_uint_eq(n_lines, 10);
}

static void teardown(void)
{
    (void)dir_remove_tree(dir);
    free(dir);
    free(counters_dir);
    free(socket_path);
    free(journal_path);
    buf_free(&sample);
}

static struct collector *start(size_t journal_size, const char *counters,
                               enum collector_crash_point crash_at, uint64_t crash_after)
{
    struct collector_settings settings = {
        .socket_path = socket_path,
        .owner = getuid(),
        .group = getgid(),
        .mode = 0600,
        .max_datagram_size = 65536,
        .ring_size = journal_size,
        .journal_path = journal_path,
        .counters_dir = counters,
        .limits = {4096, 1 << 20},
        .log_interval = 3600,
        .crash_at = crash_at,
        .crash_after = crash_after,
    };
    char *error = NULL;
    struct collector *c = collector_open(&settings, &error);

    ck_assert_msg(c != NULL, "collector_open: %s", error ? error : "?");
    ck_assert_int_eq(collector_start(c, &error), 0);
    return c;
}

/* Datagram i of the endless sample: lines 0-6 good, 7-9 rejected. */
static const char *datagram(size_t i)
{
    return lines[i % n_lines];
}

static void send_range(size_t from, size_t to)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    ck_assert_int_ge(fd, 0);
    memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
    for (size_t i = from; i < to; i++) {
        const char *d = datagram(i);
        ck_assert_int_eq(sendto(fd, d, strlen(d), 0, (struct sockaddr *)&sun, sizeof(sun)),
                         (ssize_t)strlen(d));
    }
    close(fd);
}

typedef bool stats_test(const struct collector_stats *stats, uint64_t want);

static bool counted(const struct collector_stats *s, uint64_t want)
{
    return s->accepted + s->rejected == want && s->journal_pending == 0;
}

static bool drained(const struct collector_stats *s, uint64_t want)
{
    (void)want;
    return s->journal_pending == 0;
}

static bool received(const struct collector_stats *s, uint64_t want)
{
    return s->received == want;
}

static bool table_failed(const struct collector_stats *s, uint64_t want)
{
    return s->received == want && s->table_errors > 0;
}

/* Waits (polling, generous deadline) until test holds; fails the test otherwise. */
static void wait_for(struct collector *c, stats_test *test, uint64_t want, const char *what)
{
    struct collector_stats stats;
    int64_t until = clock_ms() + DEADLINE_MS;

    for (;;) {
        collector_stats(c, &stats);
        if (test(&stats, want))
            return;
        ck_assert_msg(clock_ms() < until,
                      "%s %llu: received %llu accepted %llu rejected %llu pending %llu", what,
                      (unsigned long long)want, (unsigned long long)stats.received,
                      (unsigned long long)stats.accepted, (unsigned long long)stats.rejected,
                      (unsigned long long)stats.journal_pending);
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL);
    }
}

/* Stops the collector, checking how many damaged records it skipped. */
static void close_expecting_damaged(struct collector *c, uint64_t damaged)
{
    struct collector_stats stats;

    collector_stop(c);
    collector_stats(c, &stats);
    ck_assert_uint_eq(stats.dropped_damaged, damaged);
    collector_close(c);
}

/* Made when missing: a collector killed before its first count made no table. */
static char *today_text(const char *counters)
{
    struct ctr_limits limits = {4096, 1 << 20};
    char *error = NULL;
    struct ctr_table *table = ctr_open(counters, day_today(), CTR_READ_WRITE, &limits, &error);

    ck_assert_msg(table != NULL, "%s", error ? error : "?");
    struct ctr_snapshot *snap = ctr_snapshot(table, NULL);
    char *text = ctr_render(snap);
    ctr_snapshot_free(snap);
    ctr_close(table);
    return text;
}

/* The counts of datagrams [0, n) but `except`, by plain ctr_add in a directory of their own. */
static char *reference_text(size_t n, size_t except)
{
    char *ref = path_join(dir, "reference");
    char *error = NULL;
    struct collector_parser *parser = collector_parser_create(65536);

    (void)dir_remove_tree(ref);
    ck_assert_int_eq(dir_make(ref, 0755, &error), 0);
    struct ctr_limits limits = {4096, 1 << 20};
    struct ctr_table *table = ctr_open(ref, day_today(), CTR_READ_WRITE, &limits, &error);
    ck_assert_ptr_nonnull(table);
    for (size_t i = 0; i < n; i++) {
        const struct tr_event *event;
        enum collector_reject reason;
        const char *detail;
        if (i != except && collector_parse(parser, datagram(i), strlen(datagram(i)), time(NULL),
                                           &event, &reason, &detail) == 0)
            ck_assert_int_eq(ctr_add(table, event), 0);
    }
    ctr_close(table);
    collector_parser_destroy(parser);
    char *text = today_text(ref);
    free(ref);
    return text;
}

static void assert_counts_except(size_t n, size_t except)
{
    char *expected = reference_text(n, except);
    char *actual = today_text(counters_dir);

    ck_assert_str_eq(actual, expected);
    free(expected);
    free(actual);
}

static void assert_counts_of(size_t n)
{
    assert_counts_except(n, SIZE_MAX);
}

/* 300 datagrams through an 8 KB journal: it wraps around ~25 times, nothing lost. */
START_TEST(test_wrap_around)
{
    struct collector *c = start(SMALL_JOURNAL, counters_dir, COLLECTOR_CRASH_NONE, 0);
    struct collector_stats stats;

    for (size_t sent = 0; sent < 300; sent += 10) {
        send_range(sent, sent + 10);
        wait_for(c, counted, sent + 10, "counted");
    }
    collector_stop(c);
    collector_stats(c, &stats);
    ck_assert_uint_eq(stats.journal_appended, 300);
    ck_assert_uint_eq(stats.accepted, 210);
    ck_assert_uint_eq(stats.rejected, 90);
    ck_assert_uint_eq(stats.dropped_full + stats.dropped_damaged, 0);
    collector_close(c);
    assert_counts_of(300);
}
END_TEST

/*
 * No counter table can be made (its directory is missing, as when the disk
 * is full): the datagrams stay in the journal; once it is full the rest is
 * counted as dropped while the drain keeps reading; when the table can be
 * made, exactly the kept ones are counted.
 */
START_TEST(test_full_journal)
{
    char *missing = path_join(dir, "later");
    struct collector *c = start(SMALL_JOURNAL, missing, COLLECTOR_CRASH_NONE, 0);
    struct collector_stats stats;
    char *error = NULL;

    send_range(0, 100);
    wait_for(c, table_failed, 100, "received, table creation failed");
    collector_stats(c, &stats);
    ck_assert_uint_gt(stats.journal_appended, 10);
    ck_assert_uint_gt(stats.dropped_full, 10);
    ck_assert_uint_eq(stats.journal_appended + stats.dropped_full, 100);
    ck_assert_uint_eq(stats.accepted + stats.rejected, 0);
    uint64_t kept = stats.journal_appended;

    ck_assert_int_eq(dir_make(missing, 0755, &error), 0);
    wait_for(c, counted, kept, "counted once the table can be made");
    collector_stop(c);
    collector_close(c);
    free(counters_dir);
    counters_dir = missing;
    assert_counts_of(kept);
}
END_TEST

/*
 * posix_fallocate of the day's table fails (a file size limit plays the
 * full disk): the datagrams wait in the journal and are counted once,
 * when space returns.
 */
START_TEST(test_no_space_then_space)
{
    struct rlimit limit;

    signal(SIGXFSZ, SIG_IGN);
    struct collector *c = start(1 << 20, counters_dir, COLLECTOR_CRASH_NONE, 0);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &limit), 0);
    rlim_t was = limit.rlim_cur;
    limit.rlim_cur = 256 * 1024; /* the journal exists; a table needs more */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    send_range(0, 25);
    wait_for(c, table_failed, 25, "table creation failed");
    struct collector_stats stats;
    collector_stats(c, &stats);
    ck_assert_uint_eq(stats.accepted + stats.rejected, 0);
    limit.rlim_cur = was;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    wait_for(c, counted, 25, "counted once space returned");
    collector_close(c);
    assert_counts_of(25);
}
END_TEST

/* Stopped while no table can be opened: the journal keeps them for the next start. */
START_TEST(test_kept_across_stop)
{
    char *missing = path_join(dir, "later");
    struct collector *c = start(1 << 20, missing, COLLECTOR_CRASH_NONE, 0);
    char *error = NULL;

    send_range(0, 25);
    wait_for(c, received, 25, "received");
    collector_close(c);
    ck_assert_int_eq(dir_make(missing, 0755, &error), 0);
    c = start(1 << 20, missing, COLLECTOR_CRASH_NONE, 0);
    wait_for(c, counted, 25, "counted after the restart");
    collector_close(c);
    free(counters_dir);
    counters_dir = missing;
    assert_counts_of(25);
}
END_TEST

/*
 * A machine crash wrote back part of a page: a record whose bytes do not
 * match its checksum is skipped alone, with an error, and counted as damaged.
 */
START_TEST(test_damaged_record)
{
    char *missing = path_join(dir, "later");
    struct collector *c = start(1 << 20, missing, COLLECTOR_CRASH_NONE, 0);
    char *error = NULL;
    off_t at = 8192; /* the journal's header */

    send_range(0, 10);
    wait_for(c, received, 10, "received");
    collector_close(c);
    /* Records: 24 bytes of header, the datagram, padded to 8. */
    for (size_t i = 0; i < 3; i++)
        at += (off_t)((24 + strlen(datagram(i)) + 7) & ~(size_t)7);
    int fd = open(journal_path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "X", 1, at + 24 + 20), 1);
    close(fd);
    ck_assert_int_eq(dir_make(missing, 0755, &error), 0);
    c = start(1 << 20, missing, COLLECTOR_CRASH_NONE, 0);
    wait_for(c, counted, 9, "counted but the damaged one");
    close_expecting_damaged(c, 1);
    free(counters_dir);
    counters_dir = missing;
    assert_counts_except(10, 3);
}
END_TEST

/* No journal file can be made (here: no directory): counted all the same, from memory. */
START_TEST(test_journal_in_memory)
{
    free(journal_path);
    journal_path = path_join(dir, "missing/journal");
    struct collector *c = start(SMALL_JOURNAL, counters_dir, COLLECTOR_CRASH_NONE, 0);

    for (size_t sent = 0; sent < 40; sent += 10) {
        send_range(sent, sent + 10);
        wait_for(c, counted, sent + 10, "counted");
    }
    collector_close(c);
    assert_counts_of(40);
}
END_TEST

static const struct {
    enum collector_crash_point point;
    uint64_t after;
} crashes[] = {
    {COLLECTOR_CRASH_TORN_APPEND, 0},  {COLLECTOR_CRASH_TORN_APPEND, 5},
    {COLLECTOR_CRASH_TORN_APPEND, 17}, {COLLECTOR_CRASH_AFTER_INTENT, 0},
    {COLLECTOR_CRASH_AFTER_INTENT, 2}, {COLLECTOR_CRASH_AFTER_INTENT, 16},
    {COLLECTOR_CRASH_HALF_STORED, 2},  {COLLECTOR_CRASH_HALF_STORED, 5},
    {COLLECTOR_CRASH_HALF_STORED, 12}, {COLLECTOR_CRASH_STORED, 0},
    {COLLECTOR_CRASH_STORED, 2},       {COLLECTOR_CRASH_STORED, 16},
};
#define CRASH_SENT 20

/*
 * Killed at a point: a restart counts what the journal holds exactly once
 * (the counts of its first `appended` datagrams), then the rest is sent and
 * the total is that of one uninterrupted pass.
 */
START_TEST(test_crash_point)
{
    struct collector_stats stats;
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        (void)start(1 << 20, counters_dir, crashes[_i].point, crashes[_i].after);
        send_range(0, CRASH_SENT);
        sleep(30);
        _exit(3); /* the crash point was never reached */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

    struct collector *c = start(1 << 20, counters_dir, COLLECTOR_CRASH_NONE, 0);
    collector_stats(c, &stats);
    uint64_t appended = stats.journal_appended;
    if (crashes[_i].point == COLLECTOR_CRASH_TORN_APPEND)
        ck_assert_uint_eq(appended, crashes[_i].after);
    else
        ck_assert_uint_gt(appended, crashes[_i].after);
    /* Every record not released before the kill is counted now, and only those. */
    wait_for(c, drained, 0, "journal drained");
    close_expecting_damaged(c, 0);
    assert_counts_of(appended);

    c = start(1 << 20, counters_dir, COLLECTOR_CRASH_NONE, 0);
    send_range(appended, CRASH_SENT);
    wait_for(c, counted, CRASH_SENT - appended, "counted");
    collector_close(c);
    assert_counts_of(CRASH_SENT);
}
END_TEST

/* A day whose reports were built: datagrams count as late only, the keys stay as reported. */
START_TEST(test_late_day)
{
    struct collector *c = start(1 << 20, counters_dir, COLLECTOR_CRASH_NONE, 0);
    struct collector_stats stats;
    char *error = NULL;

    send_range(0, 10);
    wait_for(c, counted, 10, "counted");
    char *before = today_text(counters_dir);
    struct ctr_table *table = ctr_open(counters_dir, day_today(), CTR_READ_ONLY, NULL, &error);
    ck_assert_ptr_nonnull(table);
    ctr_set_reported(table);
    ctr_close(table);

    send_range(10, 30);
    wait_for(c, counted, 30, "counted");
    collector_stats(c, &stats);
    ck_assert_uint_eq(stats.events_late, 14);
    collector_close(c);
    char *expected = xasprintf("%slate 14\n", before);
    char *after = today_text(counters_dir);
    ck_assert_str_eq(after, expected);
    free(before);
    free(after);
    free(expected);
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("journal");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_wrap_around);
    tcase_add_test(tc, test_full_journal);
    tcase_add_test(tc, test_kept_across_stop);
    tcase_add_test(tc, test_no_space_then_space);
    tcase_add_test(tc, test_damaged_record);
    tcase_add_test(tc, test_journal_in_memory);
    tcase_add_loop_test(tc, test_crash_point, 0, (int)UTIL_ARRAY_LEN(crashes));
    tcase_add_test(tc, test_late_day);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(journal_suite());

    msg_setup("check_journal", MSG_STDERR, 0);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
