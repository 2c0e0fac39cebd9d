/*
 * fill_counters.c - test helper: adds events described on stdin to a day's
 * counter table through the real counters API, so CLI tests can check
 * output against known contents. One event per line, tab-separated:
 *   DOMAIN RECORD POLICY-TYPE OUTCOME MX-HOSTNAME RECEIVING-IP REASON COUNT
 * OUTCOME is "success" or a result type; "-" stands for an unknown field.
 * Usage: fill_counters [-R] COUNTERS_DIR YYYY-MM-DD < events
 * -R marks the day as reported (its reports were built).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "counters.h"
#include "util.h"

static const char *field(char *text)
{
    return strcmp(text, "-") == 0 ? NULL : text;
}

int main(int argc, char **argv)
{
    struct ctr_limits limits = {.max_entries = 4096, .string_space = 1 << 20};
    char line[4096], *error;
    const char *reason;
    int day, lineno = 0;
    bool reported = argc > 1 && strcmp(argv[1], "-R") == 0;

    if (reported)
        argc--, argv++;
    if (argc != 3 || day_parse(argv[2], &day, &reason) < 0)
        msg_fatal("usage: fill_counters [-R] COUNTERS_DIR YYYY-MM-DD < events");
    struct ctr_table *table = ctr_open(argv[1], day, CTR_READ_WRITE, &limits, &error);
    if (table == NULL)
        msg_fatal("%s", error);
    while (fgets(line, sizeof(line), stdin)) {
        char *fields[8], *save = NULL, *p = line;
        int n = 0;
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        while (n < 8 && (fields[n] = strtok_r(p, "\t", &save)) != NULL)
            n++, p = NULL;
        if (n != 8)
            msg_fatal("line %d: expected 8 tab-separated fields", lineno);
        struct tr_failure failure = {
            .receiving_mx_hostname = field(fields[4]),
            .receiving_ip = field(fields[5]),
            .failure_reason_code = field(fields[6]),
        };
        struct tr_policy policy = {0};
        if (tr_policy_type_from_name(fields[2], &policy.type) < 0)
            msg_fatal("line %d: bad policy type %s", lineno, fields[2]);
        if (strcmp(fields[3], "success") != 0) {
            if (tr_result_from_name(fields[3], &failure.result) < 0)
                msg_fatal("line %d: bad result %s", lineno, fields[3]);
            policy.failed = true;
            policy.failures = &failure;
            policy.n_failures = 1;
        }
        struct tr_event event = {.domain = fields[0],
                                 .record = field(fields[1]),
                                 .policies = &policy,
                                 .n_policies = 1};
        if (tr_event_check(&event, &reason) < 0)
            msg_fatal("line %d: %s", lineno, reason);
        for (long i = atol(fields[7]); i > 0; i--)
            ctr_add(table, &event);
    }
    if (reported)
        ctr_set_reported(table);
    ctr_close(table);
    return 0;
}
