/*
 * report_keys.h - test helper of the report suites: the day, record and
 * settings they build reports with, the macros that write counter keys and
 * detail rows as tables, and the STS keys both suites build from.
 */
#ifndef TLSRPT_TESTS_REPORT_KEYS_H
#define TLSRPT_TESTS_REPORT_KEYS_H

#include "core.h"
#include "counters.h"
#include "report.h"
#include "util.h"

#define DAY 19981 /* 2024-09-15 */
#define DAY_TEXT "2024-09-15"
#define SUBMITTER "reporter.example.net"
#define RECORD "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"

extern const struct rpt_settings settings;

#define LIST(array) array, UTIL_ARRAY_LEN(array)
#define NONE NULL, 0
/* The rows last and variadic: LIST() has expanded to two arguments by then. */
#define KEY(domain, record, type, policy_domain, strings, mx_hosts, success, failure, ...)         \
    {                                                                                              \
        domain, record, {type, policy_domain, strings, mx_hosts, false, NULL, 0}, success,         \
            failure, __VA_ARGS__                                                                   \
    }
#define STS_KEY(success, failure, ...)                                                             \
    KEY("example.com", RECORD, TR_POLICY_STS, NULL, LIST(sts_lines), LIST(sts_mx), success,        \
        failure, __VA_ARGS__)
#define ROW(result, sending_ip, mx_hostname, helo, receiving_ip, uri, reason, count)               \
    {                                                                                              \
        {TR_RESULT_##result, sending_ip, mx_hostname, helo, receiving_ip, uri, reason}, count      \
    }

/* The policy of STS_KEY, and its keys: successes only, and two failure detail rows. */
extern const char *const sts_lines[5];
extern const char *const sts_mx[2];
extern const struct ctr_key sts_success;
extern const struct ctr_key sts_two_rows;

#endif
