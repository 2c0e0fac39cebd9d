/*
 * report_keys.c - test helper of the report suites: the settings they build
 * reports with, and the STS keys both suites build from.
 */
#include "config.h"

#include "core.h"
#include "counters.h"
#include "report.h"
#include "util.h"
#include "report_keys.h"

const struct rpt_settings settings = {"Example Org", "tlsrpt@" SUBMITTER};

const char *const sts_lines[5] = {"version: STSv1", "mode: enforce", "mx: mx1.example.com",
                                  "mx: *.mx.example.com", "max_age: 604800"};
const char *const sts_mx[2] = {"mx1.example.com", "*.mx.example.com"};
const struct ctr_key sts_success = STS_KEY(10, 0, NONE);

static struct ctr_detail two_rows[] = {
    ROW(CERTIFICATE_EXPIRED, "192.0.2.25", "mx1.example.com", "mx1.example.com ESMTP",
        "198.51.100.7", NULL, NULL, 7),
    ROW(VALIDATION_FAILURE, "192.0.2.25", "mx1.example.com", NULL, "198.51.100.7",
        "https://tlsrpt.reporter.example.net/chain/42",
        "X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION", 2),
};
const struct ctr_key sts_two_rows = STS_KEY(90, 9, LIST(two_rows));
