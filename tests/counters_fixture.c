/*
 * counters_fixture.c - test helper of the counter-table suites: a directory
 * per test under one per run, tables opened or the test fails, and the STS
 * and TLSA policies their events carry.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "counters_fixture.h"

/* Each test gets its own directory under one per run, which the runner removes. */
static char *run_dir;
char *test_dir;

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

TCase *counters_tcase(Suite *suite, const char *name, int timeout)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, timeout);
    suite_add_tcase(suite, tc);
    return tc;
}

int counters_run_suite(Suite *suite, const char *program)
{
    const char *tmp = getenv("TMPDIR");
    SRunner *runner = srunner_create(suite);
    int failed;

    /* A failed test exits before its teardown: clean up here, whatever happened. */
    run_dir = xasprintf("%s/%s.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp", program);
    if (mkdtemp(run_dir) == NULL)
        msg_fatal("mkdtemp %s: %m", run_dir);
    srunner_run_all(runner, CK_NORMAL);
    (void)dir_remove_tree(run_dir);
    free(run_dir);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

struct ctr_table *open_or_fail(int day, enum ctr_open_mode mode, uint32_t entries, uint64_t space)
{
    struct ctr_limits limits = {entries, space};
    char *error = NULL;
    struct ctr_table *table = ctr_open(test_dir, day, mode, &limits, &error);

    ck_assert_msg(table != NULL, "ctr_open: %s", error ? error : "?");
    return table;
}

static const char *const sts_strings[] = {"version: STSv1", "mode: enforce", "mx: mx.b.example",
                                          "max_age: 86400"};
static const char *const sts_mx[] = {"mx.b.example"};
const char *const tlsa_strings[1] = {"3 1 1 abcd"};

struct tr_policy sts_policy(const char *domain, bool failed, const struct tr_failure *failures,
                            size_t n_failures)
{
    return (struct tr_policy){TR_POLICY_STS, domain,   sts_strings, 4, sts_mx, 1,
                              failed,        failures, n_failures};
}

int add_plain(struct ctr_table *table, const char *domain, bool failed,
              const struct tr_failure *failure)
{
    struct tr_policy policy = {TR_POLICY_STS, NULL,    NULL,           0, NULL, 0,
                               failed,        failure, failure != NULL};
    struct tr_event event = {0, domain, NULL, &policy, 1};

    return ctr_add(table, &event);
}
