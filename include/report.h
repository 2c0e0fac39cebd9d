/*
 * report.h - the RFC 8460 §4 report: a pure function from a day's counter
 * keys for one (policy domain, TLSRPT record) to the exact JSON bytes, the
 * report-id and the §5.1 file name, plus gzip (§5.2). No I/O.
 */
#ifndef TLSRPT_REPORT_H
#define TLSRPT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "util.h"

struct rpt_settings {
    const char *organization_name; /* organization-name */
    const char *contact_info;      /* contact-info: an addr-spec */
};

/*
 * Checks organization_name (non-empty, printable UTF-8, no control
 * characters) and contact_info (local@domain, the domain an A-label name).
 * -1 with *error_r (caller frees) naming the parameter otherwise.
 */
int rpt_check_settings(const struct rpt_settings *settings, char **error_r);

/* The submitter: the domain part of contact_info, lower-cased (caller frees). */
char *rpt_submitter(const char *contact_info);

struct rpt_report {
    char *policy_domain;
    char *report_id;      /* JSON report-id, stable for (submitter, day, domain, record) */
    char *unique_id;      /* 1*(ALPHA/DIGIT) part of the file name */
    char *file_name;      /* submitter!policy-domain!begin!end!unique-id.json.gz */
    char *json;           /* compact JSON, UTF-8 */
    size_t json_len;
    uint64_t successes;   /* sums of the summaries */
    uint64_t failures;
    int day;
};

/*
 * Builds the report of `day` for policy_domain from the given keys (each one
 * policy entry; normally every key of one (domain, record) of a snapshot,
 * for DANE also TLSA keys whose policy domain is policy_domain). `record`
 * only feeds the report-id. Policy entries are in key order, failure details
 * by count (the snapshot's order). Never a null, policy-domain always
 * present, mx-host always an array, policy-string [] for no-policy-found,
 * unknown or unusable detail fields omitted (IP addresses that do not parse,
 * additional-information that is not a URI), IPs in RFC 5952 form.
 * -1 with *error_r when settings are invalid or there are no keys.
 */
int rpt_build(const struct rpt_settings *settings, int day, const char *policy_domain,
              const char *record, const struct ctr_key *const *keys, size_t n_keys,
              struct rpt_report *report, char **error_r);
void rpt_report_free(struct rpt_report *report);

/* gzip (RFC 1952) of data into out; -1 with *error_r on a zlib failure. */
int rpt_gzip(const void *data, size_t len, struct buf *out, char **error_r);

/* Failed sessions per result type over a whole report, most first. */
struct rpt_result_count {
    char result_type[32];
    uint64_t count;
};
/* Fills at most max entries; returns how many, or -1 with *error_r. */
int rpt_top_failures(const char *json, size_t len, struct rpt_result_count *out, size_t max,
                     char **error_r);

/*
 * The gzip of a report within max_gzip bytes (max_report_size): when it is
 * bigger, the least frequent failure-details entries are dropped until it
 * fits. Summaries are never changed, so no session goes uncounted.
 * *dropped tells how many entries went. -1 with *error_r if even a report
 * without any failure details does not fit.
 */
int rpt_fit(const char *json, size_t len, size_t max_gzip, struct buf *json_out,
            struct buf *gzip_out, size_t *dropped, char **error_r);

#endif
