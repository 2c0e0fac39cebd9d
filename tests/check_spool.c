/*
 * check_spool.c - the readers of the spool's own files, which a crash, a
 * full disk or a hand edit may damage: the delivery state of a report and
 * the suppression list. Damage is refused with the file and line, nothing
 * leaks, and what the spool writes it reads back the same.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/spool/spool_impl.h"
#include "spool.h"
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
