/*
 * check_counters.c - Check suite of the counter table: exact totals and
 * order, overflow accounting, damaged files, day listing and expiry (the
 * concurrent writers are check_counters_concurrency.c's).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "counters_fixture.h"
#include "counters_text.h"
/* White-box: the damaged-file tests write into the documented layout. */
#include "../src/counters/table_impl.h"

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
    for (uint32_t i = 0; i < ctr_slots_published(table) && damaged < 2; i++) {
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

/* Per domain and per type sums: what tlsrpt top, alerts and metrics show. */
START_TEST(test_summary)
{
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_WRITE, 1024, 1 << 20);
    struct tr_failure expired = {.result = TR_RESULT_CERTIFICATE_EXPIRED};
    struct tr_failure mismatch = {.result = TR_RESULT_CERTIFICATE_HOST_MISMATCH};
    struct tr_policy none = {.type = TR_POLICY_NONE, .failed = true, .failures = &expired,
                             .n_failures = 1};
    struct tr_event none_event = {0, "a.example", NULL, &none, 1};

    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(add_plain(table, "b.example", false, NULL), 0);
    ck_assert_int_eq(add_plain(table, "b.example", true, &mismatch), 0);
    ck_assert_int_eq(add_plain(table, "b.example", true, &expired), 0);
    ck_assert_int_eq(add_plain(table, "b.example", true, &expired), 0);
    ck_assert_int_eq(add_plain(table, "a.example", true, &mismatch), 0);
    ck_assert_int_eq(ctr_add(table, &none_event), 0);
    struct ctr_snapshot *snap = ctr_snapshot(table, NULL);
    struct ctr_day_summary summary;
    ctr_summarize(snap, &summary);
    ck_assert_uint_eq(summary.n_domains, 2);
    ck_assert_str_eq(summary.domains[0].domain, "a.example");
    ck_assert_uint_eq(summary.domains[0].sessions, 2);
    ck_assert_uint_eq(summary.domains[0].failures, 2);
    /* a tie: the result type first in the registry wins */
    ck_assert_int_eq(ctr_summary_top_result(&summary.domains[0]),
                     TR_RESULT_CERTIFICATE_HOST_MISMATCH);
    const struct ctr_domain_summary *b = ctr_summary_find(&summary, "b.example");
    ck_assert_ptr_eq(b, &summary.domains[1]);
    ck_assert_uint_eq(b->sessions, 6);
    ck_assert_uint_eq(b->failures, 3);
    ck_assert_uint_eq(b->by_result[TR_RESULT_CERTIFICATE_EXPIRED], 2);
    ck_assert_int_eq(ctr_summary_top_result(b), TR_RESULT_CERTIFICATE_EXPIRED);
    ck_assert_ptr_null(ctr_summary_find(&summary, "c.example"));
    ck_assert_uint_eq(summary.success_by_policy[TR_POLICY_STS], 3);
    ck_assert_uint_eq(summary.failure_by_policy[TR_POLICY_STS], 4);
    ck_assert_uint_eq(summary.failure_by_policy[TR_POLICY_NONE], 1);
    ck_assert_uint_eq(summary.by_result[TR_RESULT_CERTIFICATE_EXPIRED], 3);
    ck_assert_uint_eq(summary.by_result[TR_RESULT_CERTIFICATE_HOST_MISMATCH], 2);
    ctr_summary_free(&summary);
    ctr_snapshot_free(snap);
    ctr_close(table);
    /* No table: nothing counted. */
    ctr_summarize(NULL, &summary);
    ck_assert_uint_eq(summary.n_domains, 0);
    ck_assert_int_eq(ctr_summary_top_result(&(struct ctr_domain_summary){0}), -1);
    ctr_summary_free(&summary);
}
END_TEST

static Suite *counters_suite(void)
{
    Suite *suite = suite_create("counters");
    TCase *single = counters_tcase(suite, "single", 10);
    TCase *overflow = counters_tcase(suite, "overflow", 10);
    TCase *files = counters_tcase(suite, "files", 10);

    tcase_add_test(single, test_single_exact);
    tcase_add_test(single, test_summary);
    tcase_add_test(overflow, test_overflow);
    tcase_add_loop_test(files, test_damaged_header, 0, (int)UTIL_ARRAY_LEN(damage_cases));
    tcase_add_test(files, test_damaged_slots);
    tcase_add_test(files, test_open_errors);
    tcase_add_test(files, test_list_and_expire);
    return suite;
}

int main(void)
{
    return counters_run_suite(counters_suite(), "check_counters");
}
