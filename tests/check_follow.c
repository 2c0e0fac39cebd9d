/*
 * check_follow.c - Check suite of the log follower: the log_sources syntax,
 * a file read as it grows in pieces that cut lines, rename rotation with
 * late writes to the old file, copytruncate, a damaged checkpoint, and the
 * exactly-once property: killed at every commit point over a growing log
 * (and with a Postfix and a Sendmail log at once), it ends with the counts
 * of one uninterrupted pass.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "counters_text.h"
#include "logfollow.h"

#define LAB_LOG TEST_DATA_DIR "/postfix-3.7-lab.log"

static char *dir, *log_path, *counters_dir, *logpos_dir;
static struct buf lab;

static void setup(void)
{
    char *error = NULL;

    dir = xstrdup("/tmp/check_follow.XXXXXX");
    if (mkdtemp(dir) == NULL)
        msg_fatal("mkdtemp: %m");
    log_path = path_join(dir, "mail.log");
    counters_dir = path_join(dir, "counters");
    logpos_dir = path_join(dir, "logpos");
    ck_assert_int_eq(dir_make(counters_dir, 0755, &error), 0);
    ck_assert_int_eq(dir_make(logpos_dir, 0755, &error), 0);
    buf_init(&lab);
    ck_assert_int_eq(file_read_all(LAB_LOG, 1 << 24, &lab, &error), 0);
}

static void teardown(void)
{
    (void)dir_remove_tree(dir);
    free(dir);
    free(log_path);
    free(counters_dir);
    free(logpos_dir);
    buf_free(&lab);
}

static void append(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "a");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static struct lf_follow_settings settings_for(const char *sources)
{
    return (struct lf_follow_settings){
        .sources = sources,
        .checkpoint_dir = logpos_dir,
        .counters_dir = counters_dir,
        .limits = {4096, 1 << 20},
    };
}

static struct lf_follower *open_follower(const char *sources)
{
    struct lf_follow_settings settings = settings_for(sources);
    char *error = NULL;
    struct lf_follower *f = lf_follower_open(&settings, &error);

    ck_assert_msg(f != NULL, "lf_follower_open: %s", error ? error : "?");
    return f;
}

static char *file_source(void)
{
    return xasprintf("postfix:file:%s", log_path);
}

/* Polls until a round reads nothing. */
static long drain(struct lf_follower *f)
{
    long total = 0, n;

    while ((n = lf_follower_poll(f)) > 0)
        total += n;
    ck_assert_int_eq(n, 0);
    if (getenv("FOLLOW_DEBUG") != NULL) {
        struct lf_source_status st;
        lf_follower_status(f, &st, 1, NULL);
        fprintf(stderr, "drain %ld: %s | %s | lines %lu events %lu\n", total, st.state,
                st.position, (unsigned long)st.stats.lines, (unsigned long)st.stats.events);
    }
    return total;
}

/* Every day's table of a counters directory as text. */
static char *counters_text(const char *path)
{
    struct buf out;
    int *days = NULL;
    char *error = NULL;
    int n = ctr_list_days(path, &days, &error);

    buf_init(&out);
    ck_assert_int_ge(n, 0);
    for (int i = 0; i < n; i++) {
        struct ctr_table *table = ctr_open(path, days[i], CTR_READ_ONLY, NULL, &error);
        ck_assert_ptr_nonnull(table);
        struct ctr_snapshot *snap = ctr_snapshot(table, NULL);
        char *text = ctr_render(snap);
        char day[DAY_TEXT_SIZE];
        day_format(days[i], day);
        buf_printf(&out, "day %s\n%s", day, text);
        free(text);
        ctr_snapshot_free(snap);
        ctr_close(table);
    }
    free(days);
    return buf_steal(&out);
}

struct reference {
    const char *dir;
    struct ctr_table *table;
};

static void reference_event(const struct tr_event *event, void *context)
{
    struct reference *ref = context;
    struct ctr_limits limits = {4096, 1 << 20};
    char *error = NULL;
    int day = day_from_time(event->time);

    if (ref->table == NULL || ctr_day(ref->table) != day) {
        ctr_close(ref->table);
        ref->table = ctr_open(ref->dir, day, CTR_READ_WRITE, &limits, &error);
        ck_assert_ptr_nonnull(ref->table);
    }
    ck_assert_int_eq(ctr_add(ref->table, event), 0);
}

/* Adds one uninterrupted pass over data (without the end-of-input flush) to the reference. */
static void reference_add(enum lf_format format, const char *data, size_t len)
{
    char *ref_dir = path_join(dir, "reference");
    struct reference ref = {ref_dir, NULL};
    struct lf_settings settings = {.format = format, .now = time(NULL)};
    struct lf_parser *parser = lf_parser_create(&settings, reference_event, &ref);
    const char *at = data, *end = data + len, *nl;
    char *error = NULL;

    ck_assert_int_eq(dir_make(ref_dir, 0755, &error), 0);
    while (at < end && (nl = memchr(at, '\n', (size_t)(end - at))) != NULL) {
        lf_parser_line(parser, at, (size_t)(nl - at));
        at = nl + 1;
    }
    lf_parser_destroy(parser);
    ctr_close(ref.table);
    free(ref_dir);
}

/* The follower's counts must be the reference's (made by reference_add). */
static void assert_counts_equal_references(void)
{
    char *ref_dir = path_join(dir, "reference");
    char *expected = counters_text(ref_dir);
    char *actual = counters_text(counters_dir);

    free(ref_dir);

    ck_assert_msg(strstr(expected, " F=") != NULL, "the reference counted nothing");
    if (strcmp(actual, expected) != 0)
        fprintf(stderr, "--- expected\n%s--- actual\n%s", expected, actual);
    ck_assert_msg(strcmp(actual, expected) == 0, "counts differ from one pass (see above)");
    free(expected);
    free(actual);
}

static void assert_counts_equal_reference(const char *data, size_t len)
{
    reference_add(LF_POSTFIX, data, len);
    assert_counts_equal_references();
}

START_TEST(test_sources_syntax)
{
    struct lf_source_spec *specs;
    size_t n;
    char *error = NULL;

    ck_assert_int_eq(lf_sources_parse("postfix:file:/var/log/mail.log, sendmail:file:/var/log/"
                                      "maillog postfix:journal,postfix:journal:/run/log/journal",
                                      &specs, &n, &error),
                     0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(specs[0].format, LF_POSTFIX);
    ck_assert_str_eq(specs[0].path, "/var/log/mail.log");
    ck_assert(!specs[0].journal);
    ck_assert_int_eq(specs[1].format, LF_SENDMAIL);
    ck_assert(specs[2].journal);
    ck_assert_ptr_null(specs[2].path);
    ck_assert_str_eq(specs[3].path, "/run/log/journal");
    ck_assert_str_eq(specs[3].text, "postfix:journal:/run/log/journal");
    lf_sources_free(specs, n);
    ck_assert_int_eq(lf_sources_parse("", &specs, &n, &error), 0);
    ck_assert_uint_eq(n, 0);

    static const char *const bad[][2] = {
        {"exim:file:/var/log/exim", "start with postfix: or sendmail:"},
        {"postfix:file:mail.log", "FORMAT:file:/absolute/path"},
        {"postfix", "start with postfix: or sendmail:"},
        {"postfix:syslog", "FORMAT:journal"},
        {"postfix:file:/a postfix:file:/a", "listed twice"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        error = NULL;
        ck_assert_int_eq(lf_sources_parse(bad[i][0], &specs, &n, &error), -1);
        ck_assert_msg(strstr(error, bad[i][1]) != NULL, "%s: %s", bad[i][0], error);
        free(error);
    }
}
END_TEST

START_TEST(test_grows_in_pieces)
{
    char *source = file_source();
    struct lf_follower *f = open_follower(source);

    /* The file appears after the follower started: read from its start. */
    for (size_t at = 0; at < lab.len;) {
        size_t piece = 1 + (at * 7919) % 997;
        if (piece > lab.len - at)
            piece = lab.len - at;
        append(log_path, lab.data + at, piece);
        at += piece;
        (void)drain(f);
    }
    assert_counts_equal_reference(lab.data, lab.len);
    lf_follower_close(f);
    free(source);
}
END_TEST

START_TEST(test_new_source_starts_at_end)
{
    char *source = file_source();
    const char *half = memchr(lab.data + lab.len / 2, '\n', lab.len / 2);
    size_t first = (size_t)(half + 1 - lab.data);

    /* What was there before the source was configured is the past. */
    append(log_path, lab.data, first);
    struct lf_follower *f = open_follower(source);
    append(log_path, lab.data + first, lab.len - first);
    ck_assert_int_gt(drain(f), 0);
    lf_follower_close(f);
    assert_counts_equal_reference(lab.data + first, lab.len - first);
    free(source);
}
END_TEST

/* Lines of stderr (where msg_warn writes) containing `what` while fn(arg) runs. */
static int warnings_during(void (*fn)(void *), void *arg, const char *what)
{
    char *path = path_join(dir, "stderr");
    struct buf text;
    char *error = NULL;
    int saved = dup(STDERR_FILENO), count = 0;
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
    fn(arg);
    ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
    close(saved);
    fclose(f);
    buf_init(&text);
    ck_assert_int_eq(file_read_all(path, 1 << 24, &text, &error), 0);
    for (const char *p = buf_cstr(&text); (p = strstr(p, what)) != NULL; p += strlen(what))
        count++;
    buf_free(&text);
    free(path);
    return count;
}

static void poll_many(void *arg)
{
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(lf_follower_poll(arg), -1);
}

/*
 * No table can be made (as on a full disk): every round is rolled back and
 * read again, but the warning comes once, not once per round or event.
 */
START_TEST(test_disk_full_warned_once)
{
    char *source = file_source();
    struct lf_follow_settings settings = settings_for(source);
    char *error = NULL;

    settings.counters_dir = path_join(dir, "missing");
    struct lf_follower *f = lf_follower_open(&settings, &error);
    ck_assert_msg(f != NULL, "lf_follower_open: %s", error ? error : "?");
    append(log_path, lab.data, lab.len);
    ck_assert_int_eq(warnings_during(poll_many, f, "log follower:"), 1);
    lf_follower_close(f);
    free((char *)settings.counters_dir);
    free(source);
}
END_TEST

/* Where the line boundary nearest to a fraction of the lab log is. */
static size_t line_end_near(double fraction)
{
    const char *nl = memchr(lab.data + (size_t)((double)lab.len * fraction), '\n',
                            lab.len - (size_t)((double)lab.len * fraction));

    return (size_t)(nl + 1 - lab.data);
}

START_TEST(test_rename_rotation)
{
    char *source = file_source();
    char *rotated = xasprintf("%s.1", log_path);
    size_t a = line_end_near(0.3), b = line_end_near(0.5) - 17, c = line_end_near(0.7);
    struct lf_follower *f = open_follower(source);

    append(log_path, lab.data, a);
    (void)drain(f);
    /* Rotated; the writer still appends to the old file (cutting a line) until it reopens. */
    ck_assert_int_eq(rename(log_path, rotated), 0);
    append(rotated, lab.data + a, b - a);
    (void)drain(f);
    append(rotated, lab.data + b, c - b);
    append(log_path, lab.data + c, lab.len - c);
    (void)drain(f);
    usleep(1100 * 1000); /* the rotated file has been quiet for the grace time */
    (void)drain(f);
    assert_counts_equal_reference(lab.data, lab.len);
    lf_follower_close(f);
    free(rotated);
    free(source);
}
END_TEST

START_TEST(test_copytruncate)
{
    char *source = file_source();
    char *copy = xasprintf("%s.1", log_path);
    size_t a = line_end_near(0.4), b = line_end_near(0.6);
    struct lf_follower *f = open_follower(source);
    struct buf whole;
    char *error = NULL;

    append(log_path, lab.data, a);
    (void)drain(f);
    /* Lines logged after the last read reach only the copy. */
    append(log_path, lab.data + a, b - a);
    buf_init(&whole);
    ck_assert_int_eq(file_read_all(log_path, 1 << 24, &whole, &error), 0);
    append(copy, whole.data, whole.len);
    ck_assert_int_eq(truncate(log_path, 0), 0);
    append(log_path, lab.data + b, lab.len - b);
    (void)drain(f);
    usleep(1100 * 1000);
    (void)drain(f);
    assert_counts_equal_reference(lab.data, lab.len);
    lf_follower_close(f);
    buf_free(&whole);
    free(copy);
    free(source);
}
END_TEST

START_TEST(test_damaged_checkpoint_moved_aside)
{
    char *source = file_source();
    char *checkpoint = path_join(logpos_dir, "checkpoint");
    char *aside = xasprintf("%s.damaged", checkpoint);
    char *error = NULL;
    struct stat st;

    lf_follower_close(open_follower(source));
    ck_assert_int_eq(file_write_atomic(checkpoint, "tlsrptd-logpos 1\nsource zz\n", 27, 0600,
                                       &error),
                     0);
    struct lf_follower *f = open_follower(source);
    ck_assert_int_eq(stat(aside, &st), 0);
    ck_assert_int_eq(stat(checkpoint, &st), 0); /* a fresh one */
    append(log_path, lab.data, lab.len);
    (void)drain(f);
    lf_follower_close(f);
    assert_counts_equal_reference(lab.data, lab.len);
    free(aside);
    free(checkpoint);
    free(source);
}
END_TEST

/*
 * The log grows in pieces that cut lines; after each piece a process
 * follows it and is killed at one of the commit points (before the
 * checkpoint, after it, with half of the counters stored), or ends
 * cleanly. Restarted each time, the follower must end with exactly the
 * counts of one pass.
 */
START_TEST(test_exactly_once_under_kill)
{
    static const enum lf_crash_point points[] = {LF_CRASH_NONE, LF_CRASH_BEFORE_CHECKPOINT,
                                                 LF_CRASH_AFTER_CHECKPOINT, LF_CRASH_HALF_STORED};
    char *source = file_source();
    unsigned round = 0;

    lf_follower_close(open_follower(source)); /* the file is new: read from its start */
    for (size_t at = 0; at < lab.len; round++) {
        size_t piece = 1 + (round * 2654435761u) % 600;
        if (piece > lab.len - at)
            piece = lab.len - at;
        append(log_path, lab.data + at, piece);
        at += piece;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            struct lf_follow_settings settings = settings_for(source);
            settings.crash_at = points[round % UTIL_ARRAY_LEN(points)];
            settings.crash_after = (round / UTIL_ARRAY_LEN(points)) % 2;
            char *error = NULL;
            struct lf_follower *f = lf_follower_open(&settings, &error);
            if (f == NULL)
                _exit(3);
            while (lf_follower_poll(f) > 0) {
            }
            lf_follower_close(f);
            _exit(0);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %u: child status %d",
                      round, status);
    }
    struct lf_follower *f = open_follower(source);
    (void)drain(f);
    lf_follower_close(f);
    assert_counts_equal_reference(lab.data, lab.len);
    free(source);
}
END_TEST

/*
 * A Postfix log and a Sendmail log at once, each growing in pieces, with a
 * kill after the checkpoint of some rounds: one checkpoint holds both.
 */
START_TEST(test_two_sources_killed)
{
    char *sendmail_path = path_join(dir, "maillog");
    char *sources = xasprintf("postfix:file:%s, sendmail:file:%s", log_path, sendmail_path);
    struct buf sm;
    char *error = NULL;
    size_t pf_at = 0, sm_at = 0;

    buf_init(&sm);
    ck_assert_int_eq(file_read_all(TEST_DATA_DIR "/sendmail-8.17-lab.log", 1 << 24, &sm, &error),
                     0);
    lf_follower_close(open_follower(sources));
    for (unsigned round = 0; pf_at < lab.len || sm_at < sm.len; round++) {
        size_t pf_piece = 1 + (round * 40503u) % 1500, sm_piece = 1 + (round * 9973u) % 1500;
        pf_piece = pf_piece > lab.len - pf_at ? lab.len - pf_at : pf_piece;
        sm_piece = sm_piece > sm.len - sm_at ? sm.len - sm_at : sm_piece;
        append(log_path, lab.data + pf_at, pf_piece);
        append(sendmail_path, sm.data + sm_at, sm_piece);
        pf_at += pf_piece;
        sm_at += sm_piece;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            struct lf_follow_settings settings = settings_for(sources);
            settings.crash_at = round % 2 ? LF_CRASH_AFTER_CHECKPOINT : LF_CRASH_NONE;
            struct lf_follower *f = lf_follower_open(&settings, &error);
            if (f == NULL)
                _exit(3);
            while (lf_follower_poll(f) > 0) {
            }
            lf_follower_close(f);
            _exit(0);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_int_eq(status, 0);
    }
    struct lf_follower *f = open_follower(sources);
    (void)drain(f);
    struct lf_source_status status[2];
    ck_assert_uint_eq(lf_follower_status(f, status, 2, NULL), 2);
    ck_assert_str_eq(status[1].spec + strlen(status[1].spec) - 7, "maillog");
    lf_follower_close(f);
    reference_add(LF_POSTFIX, lab.data, lab.len);
    reference_add(LF_SENDMAIL, sm.data, sm.len);
    assert_counts_equal_references();
    buf_free(&sm);
    free(sources);
    free(sendmail_path);
}
END_TEST

static Suite *follow_suite(void)
{
    Suite *s = suite_create("follow");
    TCase *tc = tcase_create("follow");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sources_syntax);
    tcase_add_test(tc, test_grows_in_pieces);
    tcase_add_test(tc, test_new_source_starts_at_end);
    tcase_add_test(tc, test_rename_rotation);
    tcase_add_test(tc, test_copytruncate);
    tcase_add_test(tc, test_disk_full_warned_once);
    tcase_add_test(tc, test_damaged_checkpoint_moved_aside);
    tcase_add_test(tc, test_exactly_once_under_kill);
    tcase_add_test(tc, test_two_sources_killed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(follow_suite());
    int failed;

    setenv("TZ", "UTC", 1);
    tzset();
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
