/*
 * postfix_log_events.c - test helper of the Postfix log parser suites: a
 * parser whose events are recorded, and the expected event one is compared
 * with.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "logfollow.h"
#include "util.h"
#include "postfix_log_events.h"

int postfix_log_run_suite(Suite *suite)
{
    SRunner *runner = srunner_create(suite);

    setenv("TZ", "UTC", 1);
    tzset();
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void record(const struct tr_event *event, void *context)
{
    struct recorder *rec = context;
    size_t size;

    ck_assert_uint_lt(rec->n, MAX_RECORDED);
    rec->events[rec->n++] = tr_event_copy(event, &size);
}

void recorder_free(struct recorder *rec)
{
    for (size_t i = 0; i < rec->n; i++)
        free(rec->events[i]);
    rec->n = 0;
}

struct lf_parser *parser_new(struct recorder *rec, const char *report_sender)
{
    struct lf_settings settings = {
        .format = LF_POSTFIX, .now = NOW_2026_11_23, .report_sender = report_sender,
        .report_verp_delimiter = "+"};
    return lf_parser_create(&settings, record, rec);
}

void feed(struct lf_parser *parser, const char *line)
{
    lf_parser_line(parser, line, strlen(line));
}

void expect_event(const struct tr_event *event, const struct expect *want)
{
    const struct tr_policy *policy;

    ck_assert_str_eq(event->domain, want->domain);
    ck_assert_uint_eq(event->n_policies, 1);
    policy = &event->policies[0];
    ck_assert_int_eq(policy->type, want->type);
    if (want->policy_domain != NULL)
        ck_assert_pstr_eq(policy->domain, want->policy_domain);
    else
        ck_assert_ptr_null(policy->domain);
    ck_assert_int_eq(policy->failed, want->failed);
    if (!want->failed) {
        ck_assert_uint_eq(policy->n_failures, 0);
        return;
    }
    ck_assert_uint_eq(policy->n_failures, 1);
    ck_assert_str_eq(tr_result_name(policy->failures[0].result), tr_result_name(want->result));
    ck_assert_pstr_eq(policy->failures[0].receiving_mx_hostname, want->mx);
    ck_assert_pstr_eq(policy->failures[0].receiving_ip, want->ip);
    ck_assert_pstr_eq(policy->failures[0].failure_reason_code, want->reason);
    ck_assert_ptr_null(policy->failures[0].sending_mta_ip);
}
