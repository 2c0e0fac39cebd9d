/*
 * check_spool.c - the readers of the spool's own files, which a crash, a
 * full disk or a hand edit may damage: the delivery state of a report, a
 * day's reports and state.log, the previous version's layout and the
 * suppression list. Damage is refused with the file and line or offset,
 * the rest still loads, nothing leaks, and what the spool writes it reads
 * back the same.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <inttypes.h>

#include "../src/spool/spool_impl.h"
#include "spool.h"
#include "spool_fixture.h"
#include "util.h"

#define STATE_HEAD                                                                             \
    "unique_id=a1b2\n"                                                                          \
    "report_id=2025-06-16T00:00:00Z_example.com@sender.example\n"                               \
    "policy_domain=example.com\n"                                                               \
    "day=2025-06-16\n"                                                                          \
    "file_name=sender.example!example.com!1750032000!1750118399.json.gz\n"

static int parse(const char *text, struct spool_entry *entry, char **error)
{
    char *copy = xstrdup(text);
    int status = spool_state_parse(copy, "a1b2.state", entry, error);

    free(copy);
    return status;
}

START_TEST(test_state_round_trip)
{
    struct spool_entry entry, again;
    struct buf first, second;
    char *error = NULL;

    ck_assert_int_eq(parse(STATE_HEAD "record=v=TLSRPTv1%3B rua=mailto:r@example.com\n"
                                      "destination=mailto:r@example.com\n"
                                      "state=retrying\nattempts=2\nlast_error=450 try%0Alater\n",
                           &entry, &error),
                     0);
    ck_assert_str_eq(entry.record, "v=TLSRPTv1; rua=mailto:r@example.com");
    ck_assert_uint_eq(entry.n_destinations, 1);
    ck_assert_str_eq(entry.destinations[0].last_error, "450 try\nlater");
    buf_init(&first);
    buf_init(&second);
    spool_state_format(&entry, &first);
    ck_assert_int_eq(parse(buf_cstr(&first), &again, &error), 0);
    spool_state_format(&again, &second);
    ck_assert_str_eq(buf_cstr(&first), buf_cstr(&second));
    spool_entry_free(&entry);
    spool_entry_free(&again);
    buf_free(&first);
    buf_free(&second);
}
END_TEST

/* What a bounce wrote (issue 13) is read back, and written again the same. */
START_TEST(test_state_dsn_round_trip)
{
    struct spool_entry entry;
    struct buf out;
    char *error = NULL;
    const char *text = STATE_HEAD "record=\n"
                                  "destination=mailto:r@example.com\n"
                                  "state=failed\nattempts=1\nfirst_try=1750000000\nnext_try=0\n"
                                  "last_error=bounced: 550 5.1.1 no%25such user\n"
                                  "dsn_action=failed\ndsn_detail=550 5.1.1 no%25such user\n"
                                  "dsn_time=1750003600\n"
                                  "destination=mailto:s@example.com\n"
                                  "state=delivered\nattempts=1\nfirst_try=1750000000\n"
                                  "next_try=0\n";

    ck_assert_int_eq(parse(text, &entry, &error), 0);
    ck_assert_str_eq(entry.destinations[0].dsn_action, "failed");
    ck_assert_str_eq(entry.destinations[0].dsn_detail, "550 5.1.1 no%such user");
    ck_assert_int_eq(entry.destinations[0].dsn_time, 1750003600);
    ck_assert_ptr_null(entry.destinations[1].dsn_action);
    buf_init(&out);
    spool_state_format(&entry, &out);
    ck_assert_str_eq(buf_cstr(&out), "unique_id=a1b2\n"
                                     "report_id=2025-06-16T00:00:00Z_example.com@sender.example\n"
                                     "policy_domain=example.com\n"
                                     "day=2025-06-16\n"
                                     "file_name=sender.example!example.com!1750032000!1750118399.json.gz\n"
                                     "record=\ncreated=0\nsend_after=0\nsuccesses=0\nfailures=0\n"
                                     "rua_pending=0\n"
                                     "destination=mailto:r@example.com\n"
                                     "state=failed\nattempts=1\nfirst_try=1750000000\nnext_try=0\n"
                                     "last_error=bounced: 550 5.1.1 no%25such user\n"
                                     "dsn_action=failed\ndsn_detail=550 5.1.1 no%25such user\n"
                                     "dsn_time=1750003600\n"
                                     "destination=mailto:s@example.com\n"
                                     "state=delivered\nattempts=1\nfirst_try=1750000000\n"
                                     "next_try=0\n");
    spool_entry_free(&entry);
    buf_free(&out);
}
END_TEST

/* Found by fuzz_spool_state: a field given twice leaked its first value. */
static const char *const twice_cases[] = {"unique_id", "report_id", "policy_domain", "file_name",
                                          "record"};

START_TEST(test_state_field_twice_is_damage)
{
    char text[1024], expected[64];
    struct spool_entry entry;
    char *error = NULL;

    snprintf(text, sizeof(text), STATE_HEAD "record=\n%s=again\n", twice_cases[_i]);
    ck_assert_int_eq(parse(text, &entry, &error), -1);
    snprintf(expected, sizeof(expected), "a1b2.state:7: malformed delivery state line");
    ck_assert_str_eq(error, expected);
    free(error);
}
END_TEST

START_TEST(test_state_incomplete)
{
    struct spool_entry entry;
    char *error = NULL;

    ck_assert_int_eq(parse("unique_id=a1b2\n", &entry, &error), -1);
    ck_assert_str_eq(error, "a1b2.state: incomplete delivery state");
    free(error);
}
END_TEST

START_TEST(test_suppressions_damaged_line)
{
    char dir[] = "/tmp/check_spool.XXXXXX", *path, *error = NULL;
    struct spool_suppressions list;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    path = xasprintf("%s/suppressed", dir);
    static const char text[] = "0\t3\t0\tmailto:a@x.example\n1750119000\t0\tmailto:b@x.example\n";
    ck_assert_int_eq(file_write_atomic(path, text, strlen(text), 0600, &error), 0);
    ck_assert_int_eq(spool_suppressions_load(path, &list, &error), -1);
    char *expected = xasprintf("%s:2: malformed suppression line", path);
    ck_assert_str_eq(error, expected);
    free(expected);
    free(error);
    ck_assert_uint_eq(list.n, 0);
    dir_remove_tree(dir);
    free(path);
}
END_TEST

/* The outbox on disk: each test has a temporary outbox with a day of reports. */
static struct spool *outbox;

static void outbox_setup(void)
{
    fixture_setup();
    outbox = fixture_open();
}

static void outbox_teardown(void)
{
    spool_close(outbox);
    fixture_teardown();
}

static void assert_records(const char *expected)
{
    char *records = fixture_records();

    ck_assert_str_eq(records, expected);
    free(records);
}

/* A new spool: nothing of what this process read before. */
static void reload(struct spool_entry **entries, size_t *n)
{
    char *error = NULL;

    spool_close(outbox);
    outbox = fixture_open();
    ck_assert_int_eq(spool_list(outbox, entries, n, &error), 0);
}

static void assert_json(const struct spool_entry *entry, int i)
{
    struct buf json = {0};
    char *error = NULL, *expected = fixture_json(i);

    ck_assert_msg(spool_read_report(outbox, entry, &json, &error) == 0, "%s", error);
    ck_assert_str_eq(buf_cstr(&json), expected);
    free(expected);
    buf_free(&json);
}

START_TEST(test_outbox_build_update_delete_reload)
{
    struct spool_entry *entries, expected;
    size_t n;
    char *error = NULL;

    fixture_build(outbox, 3);
    assert_records("1 3 0");
    reload(&entries, &n);
    ck_assert_uint_eq(n, 3);
    for (int i = 0; i < 3; i++) {
        fixture_entry(i, &expected);
        fixture_assert_same(&expected, &entries[i]);
        assert_json(&entries[i], i);
        spool_entry_free(&expected);
    }
    /* Report 0 delivered, report 1 deleted. */
    entries[0].destinations[0].state = SPOOL_DELIVERED;
    entries[0].destinations[0].attempts = 1;
    entries[0].destinations[0].last_error = xstrdup("250 2.0.0 ok\r\nqueued");
    ck_assert_int_eq(spool_update(outbox, &entries[0], &error), 0);
    ck_assert_int_eq(spool_delete(outbox, &entries[1], &error), 0);
    ck_assert_int_eq(spool_delete(outbox, &entries[1], &error), -1);
    ck_assert_str_eq(error, "report 0000000000000002: not in the outbox (deleted)");
    free(error);
    assert_records("1 4 1");
    struct spool_entry *again;
    size_t n_again;
    reload(&again, &n_again);
    ck_assert_uint_eq(n_again, 2);
    fixture_assert_same(&entries[0], &again[0]);
    fixture_assert_same(&entries[2], &again[1]);
    ck_assert_str_eq(again[0].destinations[0].last_error, "250 2.0.0 ok\r\nqueued");
    assert_json(&again[0], 0);
    assert_json(&again[1], 2);
    /* A deleted report cannot be locked: an error, not "busy". */
    bool busy;
    ck_assert_int_eq(spool_lock_entry(outbox, &entries[1], false, &busy, &error), -1);
    ck_assert(!busy);
    ck_assert_str_eq(error, "report 0000000000000002: not in the outbox (deleted)");
    free(error);
    spool_list_free(entries, n);
    spool_list_free(again, n_again);
}
END_TEST

/* A crash in the middle of an append: the torn record is ignored, the state before it kept. */
START_TEST(test_outbox_torn_last_record)
{
    struct spool_entry *entries;
    size_t n;
    char *error = NULL;
    struct buf kept = {0};

    fixture_build(outbox, 2);
    reload(&entries, &n);
    entries[0].destinations[0].attempts = 1;
    ck_assert_int_eq(spool_update(outbox, &entries[0], &error), 0);
    off_t good = fixture_size(SPOOL_LOG_FILE);
    entries[0].destinations[0].attempts = 2;
    ck_assert_int_eq(spool_update(outbox, &entries[0], &error), 0);
    off_t full = fixture_size(SPOOL_LOG_FILE);
    char *path = fixture_path(SPOOL_LOG_FILE);
    ck_assert_int_eq(truncate(path, full - 5), 0);
    spool_list_free(entries, n);

    msg_keep_warnings(&kept);
    reload(&entries, &n);
    msg_keep_warnings(NULL);
    char *expected = xasprintf("%s: offset %lld: the last record is torn (%lld bytes; a crash "
                               "while it was written): ignored",
                               path, (long long)good, (long long)(full - 5 - good));
    ck_assert_str_eq(buf_cstr(&kept), expected);
    free(expected);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(entries[0].destinations[0].attempts, 1);
    ck_assert_int_eq(entries[1].destinations[0].attempts, 0);

    /* The next append lands after the torn bytes: skipped as damage, the new state read. */
    entries[0].destinations[0].attempts = 3;
    ck_assert_int_eq(spool_update(outbox, &entries[0], &error), 0);
    spool_list_free(entries, n);
    buf_reset(&kept);
    msg_keep_warnings(&kept);
    reload(&entries, &n);
    msg_keep_warnings(NULL);
    expected = xasprintf("%s: offset %lld: a damaged record (%lld bytes) skipped", path,
                         (long long)good, (long long)(full - 5 - good));
    ck_assert_str_eq(buf_cstr(&kept), expected);
    free(expected);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(entries[0].destinations[0].attempts, 3);
    spool_list_free(entries, n);
    buf_free(&kept);
    free(path);
}
END_TEST

static void flip_byte(const char *name, off_t offset)
{
    char *path = fixture_path(name);
    int fd = open(path, O_RDWR);
    unsigned char byte;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &byte, 1, offset), 1);
    byte ^= 0x20;
    ck_assert_int_eq(pwrite(fd, &byte, 1, offset), 1);
    close(fd);
    free(path);
}

/* A damaged record in the middle, a damaged report: named with file and offset, the rest loads. */
START_TEST(test_outbox_damaged_records)
{
    struct spool_entry *entries;
    size_t n;
    char *error = NULL;
    struct buf kept = {0}, json = {0};

    fixture_build(outbox, 3);
    reload(&entries, &n);
    off_t first = fixture_size(SPOOL_LOG_FILE);
    entries[1].destinations[0].attempts = 1;
    ck_assert_int_eq(spool_update(outbox, &entries[1], &error), 0);
    off_t second = fixture_size(SPOOL_LOG_FILE);
    entries[1].destinations[0].attempts = 2;
    entries[1].destinations[0].state = SPOOL_RETRYING;
    ck_assert_int_eq(spool_update(outbox, &entries[1], &error), 0);
    flip_byte(SPOOL_LOG_FILE, first + 40);
    flip_byte(SPOOL_REPORTS_FILE, (off_t)entries[2].report_offset + 3);
    spool_list_free(entries, n);

    msg_keep_warnings(&kept);
    reload(&entries, &n);
    msg_keep_warnings(NULL);
    char *path = fixture_path(SPOOL_LOG_FILE);
    char *expected = xasprintf("%s: offset %lld: a damaged record (%lld bytes) skipped", path,
                               (long long)first, (long long)(second - first));
    ck_assert_str_eq(buf_cstr(&kept), expected);
    free(expected);
    free(path);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(entries[1].destinations[0].attempts, 2);
    ck_assert_int_eq(entries[1].destinations[0].state, SPOOL_RETRYING);
    assert_json(&entries[0], 0);
    ck_assert_int_eq(spool_read_report(outbox, &entries[2], &json, &error), -1);
    path = fixture_path(SPOOL_REPORTS_FILE);
    expected = xasprintf("%s: offset %" PRIu64 ": the report 0000000000000003 is damaged "
                         "(checksum)",
                         path, entries[2].report_offset);
    ck_assert_str_eq(error, expected);
    free(expected);
    free(error);
    /* A report said to lie beyond the file's end. */
    entries[2].report_offset = (uint64_t)fixture_size(SPOOL_REPORTS_FILE);
    ck_assert_int_eq(spool_read_report(outbox, &entries[2], &json, &error), -1);
    expected = xasprintf("%s: offset %" PRIu64 ": the report 0000000000000003 (%" PRIu64
                         " bytes) is not within the file (damaged)",
                         path, entries[2].report_offset, entries[2].report_length);
    ck_assert_str_eq(error, expected);
    free(expected);
    free(error);
    free(path);
    spool_list_free(entries, n);
    buf_free(&kept);
    buf_free(&json);
}
END_TEST

START_TEST(test_outbox_thousand_round_trip)
{
    struct spool_entry *entries, expected;
    size_t n;

    fixture_build(outbox, 1000);
    reload(&entries, &n);
    ck_assert_uint_eq(n, 1000);
    for (int i = 0; i < 1000; i++) {
        struct spool_entry *got = fixture_find(entries, n, i);
        ck_assert_ptr_nonnull(got);
        fixture_entry(i, &expected);
        fixture_assert_same(&expected, got);
        spool_entry_free(&expected);
        assert_json(got, i);
    }
    assert_records("1 1000 0");
    spool_list_free(entries, n);
}
END_TEST

/* The previous version's day: listed as it is, converted once by the owner, nothing lost. */
START_TEST(test_outbox_legacy_converted)
{
    struct spool_entry *entries, expected;
    size_t n;
    char *error = NULL;
    bool busy;
    struct buf kept = {0};

    char *day = xasprintf("%s/outbox/2024-10-04", fixture_dir);
    ck_assert_int_eq(mkdir(day, 0750), 0);
    for (int i = 0; i < 3; i++) {
        struct buf state = {0};
        fixture_entry(i, &expected);
        spool_state_format(&expected, &state);
        char *json = fixture_json(i);
        char *name = xasprintf("%s/%s.state", day, expected.unique_id);
        ck_assert_int_eq(file_write_atomic(name, state.data, state.len, 0640, &error), 0);
        free(name);
        name = xasprintf("%s/%s.json", day, expected.unique_id);
        ck_assert_int_eq(file_write_atomic(name, json, strlen(json), 0640, &error), 0);
        free(name);
        free(json);
        buf_free(&state);
        spool_entry_free(&expected);
    }
    char *bad = xasprintf("%s/ffff.state", day);
    ck_assert_int_eq(file_write_atomic(bad, "unique_id=ffff\n", 15, 0640, &error), 0);

    /* Before the owner comes: listed and read, but not changed. */
    msg_keep_warnings(&kept);
    reload(&entries, &n);
    ck_assert_uint_eq(n, 3);
    assert_json(&entries[1], 1);
    ck_assert_int_eq(spool_update(outbox, &entries[1], &error), -1);
    char *want = xasprintf("report 0000000000000002: %s is in the previous version's layout "
                           "until the outbox's owner (tlsrptd, tlsrpt run) converts it",
                           day);
    ck_assert_str_eq(error, want);
    free(want);
    free(error);
    spool_list_free(entries, n);

    int lock = spool_lock_outbox(outbox, false, &busy, &error);
    ck_assert_int_ge(lock, 0);
    close(lock);
    msg_keep_warnings(NULL);
    ck_assert_ptr_nonnull(strstr(buf_cstr(&kept), "ffff.state: incomplete delivery state: kept "
                                                  "as it is, not converted"));
    assert_records("1 3 0");
    char *old = xasprintf("%s/0000000000000001.state", day);
    ck_assert_int_eq(access(old, F_OK), -1);
    ck_assert_int_eq(access(bad, F_OK), 0); /* damaged: kept for a person to look at */
    char *convert = xasprintf("%s/outbox/.2024-10-04.convert", fixture_dir);
    ck_assert_int_eq(access(convert, F_OK), -1);
    reload(&entries, &n);
    ck_assert_uint_eq(n, 3);
    for (int i = 0; i < 3; i++) {
        fixture_entry(i, &expected);
        fixture_assert_same(&expected, &entries[i]);
        spool_entry_free(&expected);
        assert_json(&entries[i], i);
    }
    entries[1].destinations[0].attempts = 5;
    ck_assert_int_eq(spool_update(outbox, &entries[1], &error), 0);
    spool_list_free(entries, n);
    reload(&entries, &n);
    ck_assert_int_eq(entries[1].destinations[0].attempts, 5);
    spool_list_free(entries, n);
    free(old);
    free(bad);
    free(convert);
    free(day);
    buf_free(&kept);
}
END_TEST

/* Far more dead records than live ones: rewritten with the live ones, exactly. */
START_TEST(test_outbox_compaction)
{
    struct spool_entry *entries, *after;
    size_t n, n_after;
    char *error = NULL;

    fixture_build(outbox, 10);
    reload(&entries, &n);
    for (int k = 1; k <= 200; k++) {
        entries[k % 2].destinations[0].attempts = k;
        ck_assert_int_eq(spool_update(outbox, &entries[k % 2], &error), 0);
    }
    ck_assert_int_eq(spool_delete(outbox, &entries[9], &error), 0);
    assert_records("1 210 1");
    ck_assert_int_eq(spool_log_compact(outbox, FIXTURE_DAY, false, &error), 0);
    assert_records("1 9 0");
    reload(&after, &n_after);
    ck_assert_uint_eq(n_after, 9);
    for (size_t i = 0; i < 9; i++)
        fixture_assert_same(&entries[i], &after[i]);
    ck_assert_int_eq(after[0].destinations[0].attempts, 200);
    ck_assert_int_eq(after[1].destinations[0].attempts, 199);
    /* A few dead records: not worth it. */
    ck_assert_int_eq(spool_update(outbox, &after[3], &error), 0);
    ck_assert_int_eq(spool_log_compact(outbox, FIXTURE_DAY, false, &error), 0);
    assert_records("1 10 0");
    spool_list_free(entries, n);
    spool_list_free(after, n_after);
}
END_TEST

START_TEST(test_outbox_limits)
{
    struct spool_entry entry;
    char *error = NULL;
    struct spool_day *txn = spool_day_begin(outbox, FIXTURE_DAY, &error);

    fixture_entry(0, &entry);
    ck_assert_int_eq(spool_day_add(txn, &entry, "", 0, &error), -1);
    ck_assert_str_eq(error, "report 2024-10-04T00:00:00Z_d0.example: 0 bytes (1 to 268435456)");
    free(error);
    ck_assert_int_eq(spool_day_add(txn, &entry, "{}", 2, &error), 0);
    ck_assert_int_eq(spool_day_add(txn, &entry, "{}", 2, &error), -1);
    ck_assert_str_eq(error, "report 2024-10-04T00:00:00Z_d0.example: unique id "
                            "0000000000000001 twice in a day");
    free(error);
    ck_assert_int_eq(spool_day_commit(txn, &error), 0);
    struct spool_entry *entries;
    size_t n;
    reload(&entries, &n);
    entries[0].destinations[0].last_error = xmalloc(SPOOL_STATE_MAX_SIZE + 1);
    memset(entries[0].destinations[0].last_error, 'x', SPOOL_STATE_MAX_SIZE);
    entries[0].destinations[0].last_error[SPOOL_STATE_MAX_SIZE] = '\0';
    ck_assert_int_eq(spool_update(outbox, &entries[0], &error), -1);
    ck_assert_str_eq(error, "report 0000000000000001: its state is over 1048576 bytes");
    free(error);
    assert_records("1 1 0");
    spool_list_free(entries, n);
    spool_entry_free(&entry);
}
END_TEST

static Suite *spool_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("files");

    tcase_add_test(tc, test_state_round_trip);
    tcase_add_test(tc, test_state_dsn_round_trip);
    tcase_add_loop_test(tc, test_state_field_twice_is_damage, 0,
                        (int)UTIL_ARRAY_LEN(twice_cases));
    tcase_add_test(tc, test_state_incomplete);
    tcase_add_test(tc, test_suppressions_damaged_line);
    suite_add_tcase(s, tc);
    tc = tcase_create("outbox");
    tcase_add_checked_fixture(tc, outbox_setup, outbox_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_outbox_build_update_delete_reload);
    tcase_add_test(tc, test_outbox_torn_last_record);
    tcase_add_test(tc, test_outbox_damaged_records);
    tcase_add_test(tc, test_outbox_thousand_round_trip);
    tcase_add_test(tc, test_outbox_legacy_converted);
    tcase_add_test(tc, test_outbox_compaction);
    tcase_add_test(tc, test_outbox_limits);
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
