/*
 * check_metrics.c - the daemon's status lines in the Prometheus text format
 * (src/tlsrptd/metrics_format.c): exact output per case, label values
 * escaped, metrics grouped under one HELP/TYPE, what is no number left out.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"

static const struct {
    const char *lines; /* "name=value" separated by "|" */
    const char *expected;
} cases[] = {
    {"collector.received=5",
     "# HELP tlsrpt_datagrams_received_total libtlsrpt datagrams received on the collector "
     "socket.\n# TYPE tlsrpt_datagrams_received_total counter\n"
     "tlsrpt_datagrams_received_total 5\n"},
    /* not a number, a negative one, an unknown name: nothing */
    {"collector.received=yes|collector.accepted=-1|collector.nothing=3|pid=77", ""},
    /* the log source's spec is the label: quote, backslash and newline escaped */
    {"logfollow.1.source=a\"b\\c\nd|logfollow.1.lines=3",
     "# HELP tlsrpt_log_lines_total Log lines read, by log source.\n"
     "# TYPE tlsrpt_log_lines_total counter\n"
     "tlsrpt_log_lines_total{source=\"a\\\"b\\\\c\\nd\"} 3\n"},
    /* two captured labels, and a reason with a dash */
    {"logfollow.2.source=x|logfollow.2.rejected_by.bad-time=4",
     "# HELP tlsrpt_log_lines_rejected_total Log lines not understood, by log source and "
     "reason.\n# TYPE tlsrpt_log_lines_rejected_total counter\n"
     "tlsrpt_log_lines_rejected_total{source=\"x\",reason=\"bad-time\"} 4\n"},
    /* one metric from two rows, under one header, the help from its first row */
    {"counters.failure_by_policy.sts=4|counters.success_by_policy.sts=6",
     "# HELP tlsrpt_today_sessions Sessions in today's (UTC) counter table, by policy type and "
     "outcome.\n# TYPE tlsrpt_today_sessions gauge\n"
     "tlsrpt_today_sessions{policy_type=\"sts\",outcome=\"success\"} 6\n"
     "tlsrpt_today_sessions{policy_type=\"sts\",outcome=\"failure\"} 4\n"},
    {"counters.failure_by_policy.tlsa=1",
     "# HELP tlsrpt_today_sessions Sessions in today's (UTC) counter table, by policy type and "
     "outcome.\n# TYPE tlsrpt_today_sessions gauge\n"
     "tlsrpt_today_sessions{policy_type=\"tlsa\",outcome=\"failure\"} 1\n"},
    {"outbox.by_transport.https.failed=2|outbox.by_transport.https=9",
     "# HELP tlsrpt_outbox_destinations Report destinations in the outbox, by transport and "
     "delivery state.\n# TYPE tlsrpt_outbox_destinations gauge\n"
     "tlsrpt_outbox_destinations{transport=\"https\",state=\"failed\"} 2\n"},
    /* the hook for DSN counting: the metric shows once the status line exists */
    {"dsn.matched=12",
     "# HELP tlsrpt_dsn_matched_total Delivery status notifications matched to a report.\n"
     "# TYPE tlsrpt_dsn_matched_total counter\ntlsrpt_dsn_matched_total 12\n"},
};

START_TEST(test_format)
{
    struct ctl_response status = {.ok = true};
    char *lines = strdup(cases[_i].lines), *save = NULL;
    struct buf out;

    status.attrs = calloc(16, sizeof(*status.attrs));
    for (char *line = strtok_r(lines, "|", &save); line; line = strtok_r(NULL, "|", &save)) {
        char *equals = strchr(line, '=');
        ck_assert_ptr_nonnull(equals);
        *equals = '\0';
        status.attrs[status.n_attrs].name = strdup(line);
        status.attrs[status.n_attrs++].value = strdup(equals + 1);
    }
    buf_init(&out);
    metrics_format(&status, &out);
    ck_assert_str_eq(buf_cstr(&out), cases[_i].expected);
    buf_free(&out);
    ctl_response_free(&status);
    free(lines);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("metrics");
    TCase *tcase = tcase_create("format");
    tcase_add_loop_test(tcase, test_format, 0, (int)UTIL_ARRAY_LEN(cases));
    suite_add_tcase(suite, tcase);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
