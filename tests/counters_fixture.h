/*
 * counters_fixture.h - test helper of the counter-table suites: a directory
 * per test under one per run, tables opened or the test fails, and the STS
 * and TLSA policies their events carry.
 */
#ifndef TLSRPT_TESTS_COUNTERS_FIXTURE_H
#define TLSRPT_TESTS_COUNTERS_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "counters.h"

#define TEST_DAY 19800 /* 2024-03-18 */

/* The running test's own directory, made and removed around each test. */
extern char *test_dir;

/* A test case of the suite whose tests each get a test_dir, and its timeout in seconds. */
TCase *counters_tcase(Suite *suite, const char *name, int timeout);

/* Runs the suite with a run directory under $TMPDIR for the tests' own; the exit status. */
int counters_run_suite(Suite *suite, const char *program);

struct ctr_table *open_or_fail(int day, enum ctr_open_mode mode, uint32_t entries, uint64_t space);

extern const char *const tlsa_strings[1];

/* An STS policy of mx.b.example, of `domain` (NULL: the event's). */
struct tr_policy sts_policy(const char *domain, bool failed, const struct tr_failure *failures,
                            size_t n_failures);

/* ctr_add of one STS event without record or policy strings, one detail at most. */
int add_plain(struct ctr_table *table, const char *domain, bool failed,
              const struct tr_failure *failure);

#endif
