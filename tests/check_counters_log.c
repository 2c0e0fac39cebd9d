/*
 * check_counters_log.c - Check suite of the log follower's counters: cells
 * under keys of their own, absolute stores that may be repeated, refusal
 * of cells that are not the follower's, and snapshots that merge the
 * follower's keys and detail rows with the collector's.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "counters_text.h"

#define TEST_DAY 20414 /* 2025-11-22 */

static char *test_dir;
static struct ctr_table *table;

static void setup(void)
{
    struct ctr_limits limits = {1000, 1 << 20};
    char *error = NULL;

    test_dir = xstrdup("/tmp/check_counters_log.XXXXXX");
    if (mkdtemp(test_dir) == NULL)
        msg_fatal("mkdtemp %s: %m", test_dir);
    table = ctr_open(test_dir, TEST_DAY, CTR_READ_WRITE, &limits, &error);
    ck_assert_msg(table != NULL, "ctr_open: %s", error ? error : "?");
}

static void teardown(void)
{
    ctr_close(table);
    (void)dir_remove_tree(test_dir);
    free(test_dir);
}

static const struct tr_failure expired = {TR_RESULT_CERTIFICATE_EXPIRED, "192.0.2.1",
                                          "mx.b.example", NULL, "198.51.100.7", NULL, NULL};
static const struct tr_failure mismatch = {TR_RESULT_CERTIFICATE_HOST_MISMATCH, "192.0.2.1",
                                           "mx.b.example", NULL, "198.51.100.7", NULL, NULL};

/* One no-policy-found event of b.example, successful or with one failure detail. */
static struct tr_event event_of(struct tr_policy *policy, const struct tr_failure *failure)
{
    *policy = (struct tr_policy){TR_POLICY_NONE, NULL, NULL, 0, NULL, 0, failure != NULL,
                                 failure, failure != NULL ? 1 : 0};
    return (struct tr_event){0, "b.example", NULL, policy, 1};
}

/* Adds n to the follower's cells of an event, as a committed batch does. */
static void log_add(const struct tr_event *event, uint64_t n)
{
    struct ctr_cell cells[4];
    bool incomplete;
    int count = ctr_log_cells(table, event, cells, 4, &incomplete);

    ck_assert_int_ge(count, 1);
    ck_assert(!incomplete);
    for (int i = 0; i < count; i++) {
        uint64_t value = 99;
        ck_assert(ctr_cell_get(table, cells[i], &value));
        ck_assert(ctr_cell_set(table, cells[i], value + n));
    }
}

static char *snapshot_text(void)
{
    struct ctr_snapshot *snap = ctr_snapshot(table, NULL);
    char *text = ctr_render(snap);

    ctr_snapshot_free(snap);
    return text;
}

START_TEST(test_merged_with_collector)
{
    struct tr_policy policy;
    struct tr_event ok = event_of(&policy, NULL);
    struct ctr_stats stats;
    char *text;

    ck_assert_int_eq(ctr_add(table, &ok), 0);
    ck_assert_int_eq(ctr_add(table, &ok), 0);
    log_add(&ok, 3);
    struct tr_policy failed_policy;
    struct tr_event failed = event_of(&failed_policy, &expired);
    ck_assert_int_eq(ctr_add(table, &failed), 0);
    log_add(&failed, 2);
    struct tr_policy other_policy;
    struct tr_event other = event_of(&other_policy, &mismatch);
    log_add(&other, 4);

    text = snapshot_text();
    ck_assert_str_eq(text, "\"b.example\" \"\" no-policy-found \"b.example\" [] [] S=5 F=7\n"
                           "  4 certificate-host-mismatch \"192.0.2.1\" \"mx.b.example\" - "
                           "\"198.51.100.7\" - -\n"
                           "  3 certificate-expired \"192.0.2.1\" \"mx.b.example\" - "
                           "\"198.51.100.7\" - -\n"
                           "lost 0\n");
    free(text);
    ctr_stats(table, &stats);
    ck_assert_uint_eq(stats.sessions_success, 5);
    ck_assert_uint_eq(stats.sessions_failure, 7);
}
END_TEST

START_TEST(test_absolute_store_repeats)
{
    struct tr_policy policy;
    struct tr_event failed = event_of(&policy, &expired);
    struct ctr_cell cells[4];
    bool incomplete;
    char *text;
    int n = ctr_log_cells(table, &failed, cells, 4, &incomplete);

    /* A replayed checkpoint stores the same values again: nothing changes. */
    ck_assert_int_eq(n, 2);
    for (int round = 0; round < 3; round++) {
        ck_assert(ctr_cell_set(table, cells[0], 6));
        ck_assert(ctr_cell_set(table, cells[1], 6));
    }
    /* The same event gives the same cells. */
    struct ctr_cell again[4];
    ck_assert_int_eq(ctr_log_cells(table, &failed, again, 4, &incomplete), 2);
    ck_assert_mem_eq(cells, again, sizeof(cells[0]) * 2);
    text = snapshot_text();
    ck_assert_str_eq(text, "\"b.example\" \"\" no-policy-found \"b.example\" [] [] S=0 F=6\n"
                           "  6 certificate-expired \"192.0.2.1\" \"mx.b.example\" - "
                           "\"198.51.100.7\" - -\n"
                           "lost 0\n");
    free(text);
}
END_TEST

START_TEST(test_uncommitted_keys_left_out)
{
    struct tr_policy policy;
    struct tr_event failed = event_of(&policy, &expired);
    struct ctr_cell cells[4];
    bool incomplete;
    char *text;

    /* Cells made by a batch that was never committed count nothing. */
    ck_assert_int_eq(ctr_log_cells(table, &failed, cells, 4, &incomplete), 2);
    text = snapshot_text();
    ck_assert_str_eq(text, "lost 0\n");
    free(text);
    /* Too little room is an error, not a silent cut. */
    ck_assert_int_eq(ctr_log_cells(table, &failed, cells, 1, &incomplete), -1);
}
END_TEST

START_TEST(test_foreign_cells_refused)
{
    struct tr_policy policy;
    struct tr_event failed = event_of(&policy, &expired);
    struct ctr_cell log_cells[4], cell;
    bool incomplete;
    uint64_t value;

    ck_assert_int_eq(ctr_add(table, &failed), 0);
    ck_assert_int_eq(ctr_log_cells(table, &failed, log_cells, 4, &incomplete), 2);
    /* Of all slots, only the follower's two are accepted as its cells. */
    int accepted = 0;
    for (uint32_t slot = 0; slot < (1u << 16); slot++) {
        cell = (struct ctr_cell){slot, 0};
        if (!ctr_cell_get(table, cell, &value))
            continue;
        ck_assert(slot == log_cells[0].slot || slot == log_cells[1].slot);
        accepted++;
    }
    ck_assert_int_eq(accepted, 2);
    /* Out of range, wrong field of a detail row, field 2. */
    ck_assert(!ctr_cell_set(table, (struct ctr_cell){UINT32_MAX, 0}, 1));
    ck_assert(!ctr_cell_set(table, (struct ctr_cell){log_cells[1].slot, 1}, 1));
    ck_assert(!ctr_cell_set(table, (struct ctr_cell){log_cells[0].slot, 2}, 1));
    ck_assert(ctr_cell_set(table, log_cells[0], 1));
    /* The collector's counts are untouched by every refused store. */
    struct ctr_stats stats;
    ctr_stats(table, &stats);
    ck_assert_uint_eq(stats.sessions_failure, 2);
}
END_TEST

START_TEST(test_overflow_counted)
{
    ck_assert_int_eq(ctr_count_overflow(table, "c.example"), 1);
    ck_assert_int_eq(ctr_count_overflow(table, "c.example"), 1);
    char *text = snapshot_text();
    ck_assert_str_eq(text, "overflow c.example 2\nlost 0\n");
    free(text);
}
END_TEST

/*
 * A day whose reports were built: every writer counts a late event in its
 * own late counter (the follower and the collector as absolute cells), no
 * key changes, and the snapshot shows the sum.
 */
START_TEST(test_late_after_report)
{
    struct tr_policy policy;
    struct tr_event ok = event_of(&policy, NULL);
    struct ctr_cell cells[4];
    bool incomplete = true;
    uint64_t value = 99;

    ck_assert_int_eq(ctr_add(table, &ok), 0);
    char *reported = snapshot_text();
    ctr_set_reported(table);
    ck_assert_int_eq(ctr_add(table, &ok), 3);
    ck_assert_int_eq(ctr_log_cells(table, &ok, cells, 4, &incomplete), 1);
    ck_assert(!incomplete);
    ck_assert_uint_eq(cells[0].slot, CTR_SLOT_LATE);
    ck_assert_uint_eq(cells[0].field, 1);
    ck_assert(ctr_cell_get(table, cells[0], &value));
    ck_assert_uint_eq(value, 0);
    ck_assert(ctr_cell_set(table, cells[0], 2));
    ck_assert(ctr_cell_set(table, cells[0], 2)); /* repeated after a crash: harmless */
    ck_assert_int_eq(ctr_collector_cells(table, &ok, cells, 4, &incomplete), 1);
    ck_assert_uint_eq(cells[0].field, 2);
    ck_assert(ctr_cell_set(table, cells[0], 4));
    ck_assert(!ctr_cell_set(table, (struct ctr_cell){CTR_SLOT_LATE, 0}, 9));
    ck_assert(!ctr_cell_set(table, (struct ctr_cell){CTR_SLOT_LATE, 3}, 9));

    char *text = snapshot_text();
    char *expected = xasprintf("%slate 7\n", reported);
    ck_assert_str_eq(text, expected);
    ck_assert_uint_eq(ctr_late_events(table), 7);
    free(text);
    free(expected);
    free(reported);
}
END_TEST

/* Closed for its reports (their snapshot is being taken): late already, not yet reported. */
START_TEST(test_late_once_closed)
{
    struct tr_policy policy;
    struct tr_event ok = event_of(&policy, NULL);
    struct ctr_stats stats;

    ck_assert_int_eq(ctr_add(table, &ok), 0);
    ctr_set_closed(table);
    ck_assert_int_eq(ctr_add(table, &ok), 3);
    ctr_stats(table, &stats);
    ck_assert(!stats.reported);
    ck_assert_uint_eq(stats.sessions_success, 1);
    ck_assert_uint_eq(stats.late_events, 1);
}
END_TEST

static Suite *counters_log_suite(void)
{
    Suite *s = suite_create("counters_log");
    TCase *tc = tcase_create("cells");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_merged_with_collector);
    tcase_add_test(tc, test_absolute_store_repeats);
    tcase_add_test(tc, test_uncommitted_keys_left_out);
    tcase_add_test(tc, test_foreign_cells_refused);
    tcase_add_test(tc, test_overflow_counted);
    tcase_add_test(tc, test_late_after_report);
    tcase_add_test(tc, test_late_once_closed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(counters_log_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
