/*
 * check_report.c - Check suite of the report module: the exact JSON of a
 * table of cases, addresses (RFC 5952), host names and URIs, the settings,
 * report-id and file name (gzip and fitting are check_report_gzip.c's).
 * Every report built here is also checked by the strict schema validator
 * in ../shared when node is installed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "counters.h"
#include "report.h"
#include "util.h"
#include "report_keys.h"
#include "report_validator.h"
#include "../src/report/fields.h"

/*
 * Expected JSON is written with ' for " (none of it holds a '); @STS@ stands
 * for the policy object of sts_lines and sts_mx.
 */
#define STS_POLICY                                                                                 \
    "{'policy-type':'sts','policy-string':['version: STSv1','mode: enforce','mx: "                 \
    "mx1.example.com',"                                                                            \
    "'mx: *.mx.example.com','max_age: 604800'],'policy-domain':'example.com','mx-host':"           \
    "['mx1.example.com','*.mx.example.com']}"

static void json_expand(struct buf *out, const char *pattern)
{
    for (const char *p = pattern; *p != '\0'; p++) {
        if (strncmp(p, "@STS@", 5) == 0) {
            json_expand(out, STS_POLICY);
            p += 4;
        } else {
            buf_putc(out, *p == '\'' ? '"' : *p);
        }
    }
}

/* Builds, compares the whole compact JSON and the names, saves for the validator. */
static void check_report(const char *label, const char *domain, const char *record,
                         const struct ctr_key *const *keys, size_t n_keys, const char *policies)
{
    struct buf key = {NULL, 0, 0}, expect = {NULL, 0, 0};
    struct rpt_report report;
    char *error = NULL;

    /* The unique id as documented: hash64 of submitter, day, domain and record. */
    buf_append(&key, SUBMITTER, sizeof(SUBMITTER));
    buf_append(&key, DAY_TEXT, sizeof(DAY_TEXT));
    buf_append(&key, domain, strlen(domain) + 1);
    buf_puts(&key, record);
    char *id = xasprintf("%016llx", (unsigned long long)hash64(key.data, key.len, 0));
    char *file_name = xasprintf(SUBMITTER "!%s!1726358400!1726444799!%s.json.gz", domain, id);
    json_expand(&expect,
                "{'organization-name':'Example Org','date-range':{'start-datetime':'" DAY_TEXT
                "T00:00:00Z','end-datetime':'" DAY_TEXT "T23:59:59Z'},'contact-info':"
                "'tlsrpt@" SUBMITTER "','report-id':'" DAY_TEXT "_");
    buf_printf(&expect, "%s_%s\",\"policies\":", domain, id);
    json_expand(&expect, policies);
    buf_putc(&expect, '}');

    if (rpt_build(&settings, DAY, domain, record, keys, n_keys, &report, &error) != 0)
        ck_abort_msg("%s: rpt_build failed: %s", label, error);
    ck_assert_msg(strcmp(report.json, expect.data) == 0, "%s:\n got    %s\n expect %s", label,
                  report.json, expect.data);
    ck_assert_uint_eq(report.json_len, expect.len);
    ck_assert_str_eq(report.file_name, file_name);
    ck_assert_str_eq(report.unique_id, id);
    ck_assert_str_eq(report.policy_domain, domain);
    ck_assert_int_eq(report.day, DAY);
    save_for_validator(&report);
    rpt_report_free(&report);
    buf_free(&key);
    buf_free(&expect);
    free(file_name);
    free(id);
}

/* The table of whole reports */

static const char *const stray_strings[] = {"version: STSv1"};
static const struct ctr_key none_key =
    KEY("example.org", "v=TLSRPTv1;rua=mailto:tls@example.org", TR_POLICY_NONE, NULL,
        LIST(stray_strings), NONE, 48, 0, NONE);

static const char *const tlsa_rrs[] = {
    "3 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D",
    "3 0 1 12350A337E6DB9C6 123522D136A475638CC43E1ED424F8EEC8513D747D1D1234",
    "( 2 1 1 abcdef01 )",
    "[\"3 1 1 AB\"]", /* double-encoded (pitfall 3): not RDATA */
    "3 1 1",
    "3 1 1 XYZ",
};
static const char *const tlsa_mx[] = {"mx.example.net."};
static struct ctr_detail tlsa_rows[] = {ROW(TLSA_INVALID, "2001:db8::25", "mx.example.net", NULL,
                                            "2001:db8:1::7", NULL, "no-usable-tlsa-record", 3)};
static const struct ctr_key tlsa_key =
    KEY("example.net", "v=TLSRPTv1; rua=mailto:tlsrpt@mx.example.net", TR_POLICY_TLSA,
        "mx.example.net", LIST(tlsa_rrs), LIST(tlsa_mx), 5, 3, LIST(tlsa_rows));

/* One domain's day under STS, DANE at its MX and no policy; one unusable key. */
static const char *const mx1_rr[] = {"3 1 1 AABB"};
static const char *const mx1_host[] = {"mx1.example.com"};
static const struct ctr_key mx1_tlsa = KEY("example.com", RECORD, TR_POLICY_TLSA, "mx1.example.com",
                                           LIST(mx1_rr), LIST(mx1_host), 10, 0, NONE);
static const struct ctr_key example_com_none =
    KEY("example.com", RECORD, TR_POLICY_NONE, NULL, NONE, NONE, 2, 0, NONE);
static const struct ctr_key bad_policy_domain =
    KEY("example.com", RECORD, TR_POLICY_NONE, "bad_domain", NONE, NONE, 1, 0, NONE);

static struct ctr_detail unknown_rows[] = {
    ROW(STS_WEBPKI_INVALID, NULL, NULL, NULL, NULL, NULL, NULL, 4),
    ROW(STARTTLS_NOT_SUPPORTED, "", "", "", "", "", "", 1),
    ROW(CERTIFICATE_EXPIRED, "192.0.2.1", NULL, NULL, NULL, NULL, NULL, 0),
};
static const struct ctr_key sts_unknown_fields = STS_KEY(0, 5, LIST(unknown_rows));

static struct ctr_detail fetch_rows[] = {
    ROW(STS_POLICY_FETCH_ERROR, "192.0.2.25", NULL, NULL, NULL, NULL, "https-timeout", 3)};
static const struct ctr_key sts_fetch_error =
    KEY("example.com", RECORD, TR_POLICY_STS, NULL, NONE, NONE, 0, 3, LIST(fetch_rows));

static const char *const untidy_lines[] = {
    "version: STSv1", "mode:testing",  "mx:   mx1.example.com", "mx:\t*.example.com",
    "max_age: 86400", "no colon here", " mode: leading-blank",  "max_age:"};
static const struct ctr_key sts_untidy =
    KEY("example.com", RECORD, TR_POLICY_STS, NULL, LIST(untidy_lines), NONE, 1, 0, NONE);

/* Rows and keys that differ only in spelling: merged, counts summed, re-sorted. */
static const char *const mx_spelled[] = {"MX1.example.com.", "*.mx.example.com"};
static struct ctr_detail spelled_rows_a[] = {
    ROW(CERTIFICATE_EXPIRED, "2001:DB8::1", "MX1.example.com.", NULL, "192.0.2.1", NULL, NULL, 5),
    ROW(STARTTLS_NOT_SUPPORTED, "192.0.2.9", NULL, NULL, NULL, NULL, NULL, 6),
    ROW(CERTIFICATE_EXPIRED, "2001:db8:0:0:0:0:0:1", "mx1.example.com", NULL, "192.0.2.1", NULL,
        NULL, 4),
};
static struct ctr_detail spelled_rows_b[] = {
    ROW(CERTIFICATE_EXPIRED, "2001:db8::1", "mx1.example.com", NULL, "192.0.2.1", NULL, NULL, 1)};
static const struct ctr_key spelled_a = STS_KEY(3, 9, LIST(spelled_rows_a));
static const struct ctr_key spelled_b =
    KEY("example.com", RECORD, TR_POLICY_STS, NULL, LIST(sts_lines), LIST(mx_spelled), 2, 1,
        LIST(spelled_rows_b));

static struct ctr_detail big_rows[] = {
    ROW(DANE_REQUIRED, NULL, NULL, NULL, NULL, NULL, NULL, UINT64_MAX),
    ROW(DNSSEC_INVALID, NULL, NULL, NULL, NULL, NULL, NULL, UINT64_C(4294967296)),
};
static const struct ctr_key big_counts =
    STS_KEY(UINT64_C(5000000000), UINT64_C(4294967297), LIST(big_rows));

#define KEYS(...) ((const struct ctr_key *const[]){__VA_ARGS__})
#define N_KEYS(...) (sizeof(KEYS(__VA_ARGS__)) / sizeof(struct ctr_key *))
#define CASE(label, domain, record, policies, ...)                                                 \
    {                                                                                              \
        label, domain, record, KEYS(__VA_ARGS__), N_KEYS(__VA_ARGS__), policies                    \
    }

static const struct {
    const char *label;
    const char *domain;
    const char *record;
    const struct ctr_key *const *keys;
    size_t n_keys;
    const char *policies;
} json_cases[] = {
    CASE("sts, successes only", "example.com", RECORD,
         "[{'policy':@STS@,'summary':{'total-successful-session-count':10,'total-failure-session-"
         "count':0},'failure-details':[]}]",
         &sts_success),
    CASE("sts, two failure details", "example.com", RECORD,
         "[{'policy':@STS@,'summary':{'total-successful-session-count':90,'total-failure-session-"
         "count':9},'failure-details':[{'result-type':'certificate-expired','sending-mta-ip':'192."
         "0.2.25','receiving-mx-hostname':'mx1.example.com','receiving-mx-helo':'mx1.example.com "
         "ESMTP','receiving-ip':'198.51.100.7','failed-session-count':7},{'result-type':'"
         "validation-failure','sending-mta-ip':'192.0.2.25','receiving-mx-hostname':'mx1.example."
         "com','receiving-ip':'198.51.100.7','failed-session-count':2,'additional-information':'"
         "https://tlsrpt.reporter.example.net/chain/42','failure-reason-code':'X509_V_ERR_"
         "UNHANDLED_CRITICAL_CRL_EXTENSION'}]}]",
         &sts_two_rows),
    CASE("no-policy-found", "example.org", "v=TLSRPTv1;rua=mailto:tls@example.org",
         "[{'policy':{'policy-type':'no-policy-found','policy-string':[],'policy-domain':'example."
         "org','mx-host':[]},'summary':{'total-successful-session-count':48,'total-failure-"
         "session-count':0},'failure-details':[]}]",
         &none_key),
    CASE("tlsa RDATA at the MX host", "mx.example.net",
         "v=TLSRPTv1; rua=mailto:tlsrpt@mx.example.net",
         "[{'policy':{'policy-type':'tlsa','policy-string':['3 1 1 "
         "1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D','3 0 1 "
         "12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234','2 1 1 abcdef01'],"
         "'policy-domain':'mx.example.net','mx-host':['mx.example.net']},'summary':{'total-"
         "successful-session-count':5,'total-failure-session-count':3},'failure-details':[{'"
         "result-type':'tlsa-invalid','sending-mta-ip':'2001:db8::25','receiving-mx-hostname':'"
         "mx.example.net','receiving-ip':'2001:db8:1::7','failed-session-count':3,'failure-"
         "reason-code':'no-usable-tlsa-record'}]}]",
         &tlsa_key),
    CASE("several keys in key order, an unusable one skipped", "example.com", RECORD,
         "[{'policy':@STS@,'summary':{'total-successful-session-count':10,'total-failure-session-"
         "count':0},'failure-details':[]},{'policy':{'policy-type':'tlsa','policy-string':['3 1 "
         "1 AABB'],'policy-domain':'mx1.example.com','mx-host':['mx1.example.com']},'summary':{'"
         "total-successful-session-count':10,'total-failure-session-count':0},'failure-details':["
         "]},{'policy':{'policy-type':'no-policy-found','policy-string':[],'policy-domain':'"
         "example.com','mx-host':[]},'summary':{'total-successful-session-count':2,'total-"
         "failure-session-count':0},'failure-details':[]}]",
         &sts_success, &bad_policy_domain, &mx1_tlsa, &example_com_none),
    CASE("unknown detail fields omitted, count 0 skipped", "example.com", RECORD,
         "[{'policy':@STS@,'summary':{'total-successful-session-count':0,'total-failure-session-"
         "count':5},'failure-details':[{'result-type':'sts-webpki-invalid','failed-session-count'"
         ":4},{'result-type':'starttls-not-supported','failed-session-count':1}]}]",
         &sts_unknown_fields),
    CASE("sts fetch error without a policy is no-policy-found", "example.com", RECORD,
         "[{'policy':{'policy-type':'no-policy-found','policy-string':[],'policy-domain':'example."
         "com','mx-host':[]},'summary':{'total-successful-session-count':0,'total-failure-session-"
         "count':3},'failure-details':[{'result-type':'sts-policy-fetch-error','sending-mta-ip':'"
         "192.0.2.25','failed-session-count':3,'failure-reason-code':'https-timeout'}]}]",
         &sts_fetch_error),
    CASE("sts lines tidied, mx-host from the mx lines", "example.com", RECORD,
         "[{'policy':{'policy-type':'sts','policy-string':['version: STSv1','mode:testing','mx: "
         "mx1.example.com','mx: *.example.com','max_age: 86400'],'policy-domain':'example.com','"
         "mx-host':['mx1.example.com','*.example.com']},'summary':{'total-successful-session-"
         "count':1,'total-failure-session-count':0},'failure-details':[]}]",
         &sts_untidy),
    CASE("same policy and rows in other spellings merged", "example.com", RECORD,
         "[{'policy':@STS@,'summary':{'total-successful-session-count':5,'total-failure-session-"
         "count':10},'failure-details':[{'result-type':'certificate-expired','sending-mta-ip':'"
         "2001:db8::1','receiving-mx-hostname':'mx1.example.com','receiving-ip':'192.0.2.1','"
         "failed-session-count':10},{'result-type':'starttls-not-supported','sending-mta-ip':'"
         "192.0.2.9','failed-session-count':6}]}]",
         &spelled_a, &spelled_b),
    CASE("counts beyond 2^32, capped at INT64_MAX", "example.com", RECORD,
         "[{'policy':@STS@,'summary':{'total-successful-session-count':5000000000,'total-failure-"
         "session-count':4294967297},'failure-details':[{'result-type':'dane-required','failed-"
         "session-count':9223372036854775807},{'result-type':'dnssec-invalid','failed-session-"
         "count':4294967296}]}]",
         &big_counts),
};

START_TEST(test_json_cases)
{
    check_report(json_cases[_i].label, json_cases[_i].domain, json_cases[_i].record,
                 json_cases[_i].keys, json_cases[_i].n_keys, json_cases[_i].policies);
}
END_TEST

/* One detail row in a plain STS report: how its fields come out. */
static void check_one_row(const struct tr_failure *failure, const char *detail_format, ...)
{
    struct ctr_detail rows[] = {{*failure, 1}};
    const struct ctr_key key = STS_KEY(0, 1, LIST(rows));
    const struct ctr_key *keys[] = {&key};
    va_list ap;

    va_start(ap, detail_format);
    char *detail = xvasprintf(detail_format, ap);
    va_end(ap);
    char *policies = xasprintf("[{'policy':@STS@,'summary':{'total-successful-session-count':0,"
                               "'total-failure-session-count':1},'failure-details':[%s]}]",
                               detail);
    check_report(detail, "example.com", RECORD, keys, 1, policies);
    free(policies);
    free(detail);
}

static const struct {
    const char *input;
    const char *expect; /* NULL: omitted */
} ip_cases[] = {
    {"192.0.2.1", "192.0.2.1"},
    {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},          /* lower case, compressed */
    {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"}, /* one zero field stays */
    {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},          /* the longest run */
    {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},    /* the leftmost of equal runs */
    {"2001:db8::0:1", "2001:db8::1"},
    {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"}, /* no leading zeros */
    {"2001:db8::1:0:0:0:1", "2001:db8:0:1::1"},
    {"::ffff:192.0.2.1", "::ffff:192.0.2.1"}, /* RFC 5952 §5 mixed */
    {"::FFFF:C000:0201", "::ffff:192.0.2.1"},
    {"::ffff:0:c000:201", "::ffff:0:192.0.2.1"}, /* RFC 2765 translated */
    {"::c000:201", "::192.0.2.1"},               /* RFC 4291 ::/96, §5 mixed */
    {"::1", "::1"},
    {"1:0::", "1::"},
    {"fe80::1%eth0", NULL},
    {"2001:db8::g", NULL},
    {"192.0.2.256", NULL},
    {"192.0.2", NULL},
    {"192.0.02.1", NULL},
    {" 192.0.2.1", NULL},
    {"[2001:db8::1]", NULL},
    {"1:2:3:4:5:6:7:8:9", NULL},
    {"", NULL},
};

START_TEST(test_ip_addresses)
{
    const char *in = ip_cases[_i].input, *expect = ip_cases[_i].expect;
    struct tr_failure failure = {TR_RESULT_CERTIFICATE_EXPIRED, in, NULL, NULL, in, NULL, NULL};

    if (expect != NULL)
        check_one_row(&failure,
                      "{'result-type':'certificate-expired','sending-mta-ip':'%s','receiving-ip':"
                      "'%s','failed-session-count':1}",
                      expect, expect);
    else
        check_one_row(&failure, "{'result-type':'certificate-expired','failed-session-count':1}");
}
END_TEST

static const struct {
    const char *input;
    const char *expect; /* NULL: omitted */
} host_cases[] = {
    {"mx1.example.com.", "mx1.example.com"},
    {"MX1.Example.COM", "mx1.example.com"},
    {"xn--bcher-kva.example", "xn--bcher-kva.example"},
    {"_25._tcp.mx.example.com", "_25._tcp.mx.example.com"},
    {"localhost", "localhost"},
    {"mx1.example.com..", NULL},
    {"mx..example.com", NULL},
    {"-mx.example.com", NULL},
    {"mx-.example.com", NULL},
    {"mx.example_com", NULL},
    {"b\xc3\xbc"
     "cher.example",
     NULL},
    {"*.example.com", NULL},
    {"mx1.example.com:25", NULL},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", NULL},
    {"", NULL},
};

/*
 * The report module writes IPv6 text itself: the same as inet_ntop for every
 * pattern of zero and non-zero fields (each field 0, 1-digit, 4-digit, or
 * 0xffff), the mixed forms included, and for pseudo-random addresses.
 */
START_TEST(test_ipv6_text)
{
    static const unsigned values[4] = {0, 0x7, 0xabcd, 0xffff};
    unsigned char address[16];
    char ours[RPT_IP_SIZE], libc[INET6_ADDRSTRLEN];
    uint64_t state = 0x9e3779b97f4a7c15ULL;

    for (unsigned pattern = 0; pattern < (1u << 16) + 20000; pattern++) {
        for (int i = 0; i < 8; i++) {
            unsigned v;
            if (pattern < (1u << 16)) {
                v = values[(pattern >> (2 * i)) & 3];
            } else {
                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                v = (unsigned)(state >> 48) & ((state >> 20) & 1 ? 0xffff : 0);
            }
            address[2 * i] = (unsigned char)(v >> 8);
            address[2 * i + 1] = (unsigned char)v;
        }
        rpt_ipv6_text(address, ours);
        ck_assert_ptr_nonnull(inet_ntop(AF_INET6, address, libc, sizeof(libc)));
        ck_assert_str_eq(ours, libc);
    }
}
END_TEST

START_TEST(test_mx_hostnames)
{
    const char *in = host_cases[_i].input, *expect = host_cases[_i].expect;
    struct tr_failure failure = {
        TR_RESULT_CERTIFICATE_HOST_MISMATCH, NULL, in, NULL, NULL, NULL, NULL};

    if (expect != NULL)
        check_one_row(&failure,
                      "{'result-type':'certificate-host-mismatch','receiving-mx-hostname':'%s',"
                      "'failed-session-count':1}",
                      expect);
    else
        check_one_row(&failure,
                      "{'result-type':'certificate-host-mismatch','failed-session-count':1}");
}
END_TEST

static const struct {
    const char *input;
    bool kept;
} uri_cases[] = {
    {"https://tlsrpt.example.com/chain/123", true},
    {"mailto:postmaster@example.com", true},
    {"urn:ietf:rfc:8460", true},
    {"http://[2001:db8::1]:8080/x?y=1#z", true},
    {"https://user:pw@example.com:443/p/%41?q=a/b?c#f", true},
    {"https://example.com", true},
    {"x:/absolute/path", true},
    {"https://example.com/a b", false},
    {"https://exa mple.com/", false},
    {"not a uri", false},
    {"example.com/path", false},
    {"1https://example.com/", false},
    {"https://example.com/<x>", false},
    {"https://example.com/%zz", false},
    {"https://example.com:44a/", false},
    {"http://[zz]/", false},
    {"https://a@b@example.com/", false},
    {"x:", false},
    {"x:?query", false},
    {"https://example.com/\xc3\xa4", false},
    {"", false},
};

START_TEST(test_additional_information)
{
    const char *in = uri_cases[_i].input;
    struct tr_failure failure = {TR_RESULT_VALIDATION_FAILURE, NULL, NULL, NULL, NULL, in, "x"};

    if (uri_cases[_i].kept)
        check_one_row(&failure,
                      "{'result-type':'validation-failure','failed-session-count':1,'additional-"
                      "information':'%s','failure-reason-code':'x'}",
                      in);
    else
        check_one_row(&failure, "{'result-type':'validation-failure','failed-session-count':1,"
                                "'failure-reason-code':'x'}");
}
END_TEST

/* JSON escapes, and text that is not UTF-8 is left out. */
START_TEST(test_text_fields)
{
    struct tr_failure escaped = {TR_RESULT_VALIDATION_FAILURE,
                                 NULL,
                                 NULL,
                                 "mx \"one\"\\ caf\xc3\xa9",
                                 NULL,
                                 NULL,
                                 "tab\there/slash"};
    struct tr_failure bad_utf8 = {
        TR_RESULT_VALIDATION_FAILURE, NULL, NULL, "\xff\xfe", NULL, NULL, "x\x01y"};

    check_one_row(&escaped, "{'result-type':'validation-failure','receiving-mx-helo':'mx "
                            "\\\"one\\\"\\\\ caf\xc3\xa9','failed-session-count':1,"
                            "'failure-reason-code':'tab\\there/slash'}");
    check_one_row(&bad_utf8, "{'result-type':'validation-failure','failed-session-count':1}");
}
END_TEST

/* Settings, names and errors */

static const struct {
    const char *organization_name;
    const char *contact_info;
    const char *error_names; /* NULL: accepted */
} settings_cases[] = {
    {"Example Org", "tlsrpt@reporter.example.net", NULL},
    {"Ex\xc3\xa4mple \xc3\x96rg, Inc.", "TLS-Reports+daily@Reporter.Example.NET", NULL},
    {NULL, "tlsrpt@example.com", "organization_name"},
    {"", "tlsrpt@example.com", "organization_name"},
    {"   ", "tlsrpt@example.com", "organization_name"},
    {"Example\nOrg", "tlsrpt@example.com", "organization_name"},
    {"Example\tOrg", "tlsrpt@example.com", "organization_name"},
    {"\xff", "tlsrpt@example.com", "organization_name"},
    {"Example Org", NULL, "contact_info"},
    {"Example Org", "", "contact_info"},
    {"Example Org", "tlsrpt", "contact_info"},
    {"Example Org", "@example.com", "contact_info"},
    {"Example Org", "tlsrpt@", "contact_info"},
    {"Example Org", "tlsrpt@localhost", "contact_info"},
    {"Example Org", "tlsrpt@-bad.example", "contact_info"},
    {"Example Org", "tlsrpt@exa_mple.com", "contact_info"},
    {"Example Org", "tlsrpt@example.com.", "contact_info"},
    {"Example Org", "tls rpt@example.com", "contact_info"},
    {"Example Org", "a..b@example.com", "contact_info"},
    {"Example Org", ".a@example.com", "contact_info"},
    {"Example Org", "\"quoted\"@example.com", "contact_info"},
    {"Example Org",
     "tlsrpt@b\xc3\xbc"
     "cher.example",
     "contact_info"},
};

START_TEST(test_settings)
{
    struct rpt_settings s = {settings_cases[_i].organization_name, settings_cases[_i].contact_info};
    const char *names = settings_cases[_i].error_names;
    const struct ctr_key *keys[] = {&sts_success};
    struct rpt_report report;
    char *error = NULL;

    if (names == NULL) {
        ck_assert_int_eq(rpt_check_settings(&s, &error), 0);
        ck_assert_int_eq(rpt_build(&s, DAY, "example.com", RECORD, keys, 1, &report, &error), 0);
        save_for_validator(&report);
        rpt_report_free(&report);
        return;
    }
    ck_assert_int_eq(rpt_check_settings(&s, &error), -1);
    ck_assert_msg(strstr(error, names) != NULL, "error \"%s\" does not name %s", error, names);
    free(error);
    error = NULL;
    ck_assert_int_eq(rpt_build(&s, DAY, "example.com", RECORD, keys, 1, &report, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, names));
    ck_assert_ptr_null(report.json);
    free(error);
}
END_TEST

START_TEST(test_submitter)
{
    static const struct {
        const char *contact_info;
        const char *expect;
    } cases[] = {
        {"tlsrpt@reporter.example.net", "reporter.example.net"},
        {"TLSRPT@Reporter.Example.NET", "reporter.example.net"},
        {"a@b.example", "b.example"},
        {"no-at-sign", NULL},
        {"trailing@", NULL},
        {NULL, NULL},
    };

    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        char *submitter = rpt_submitter(cases[i].contact_info);
        if (cases[i].expect == NULL)
            ck_assert_ptr_null(submitter);
        else
            ck_assert_str_eq(submitter, cases[i].expect);
        free(submitter);
    }
}
END_TEST

/* Pinned: report-ids must not change between versions for the same inputs. */
START_TEST(test_report_id_and_file_name)
{
    struct rpt_settings upper = {"Example Org", "TLSRPT@Reporter.Example.NET"};
    const struct ctr_key *keys[] = {&sts_success};
    struct rpt_report report, again, other_record, other_day;
    char *error = NULL;

    ck_assert_int_eq(rpt_build(&upper, DAY, "Example.COM.", RECORD, keys, 1, &report, &error), 0);
    ck_assert_str_eq(report.unique_id, "929ce876d18b25aa");
    ck_assert_str_eq(report.report_id, "2024-09-15_example.com_929ce876d18b25aa");
    ck_assert_str_eq(
        report.file_name,
        "reporter.example.net!example.com!1726358400!1726444799!929ce876d18b25aa.json.gz");
    ck_assert_str_eq(report.policy_domain, "example.com");
    ck_assert_uint_eq(report.successes, 10);
    ck_assert_uint_eq(report.failures, 0);
    ck_assert_ptr_nonnull(strstr(report.json, "\"contact-info\":\"TLSRPT@Reporter.Example.NET\""));
    save_for_validator(&report);

    ck_assert_int_eq(rpt_build(&upper, DAY, "example.com", RECORD, keys, 1, &again, &error), 0);
    ck_assert_str_eq(again.json, report.json);
    ck_assert_int_eq(rpt_build(&upper, DAY, "example.com", "v=TLSRPTv1; rua=mailto:x@example.com",
                               keys, 1, &other_record, &error),
                     0);
    ck_assert_str_ne(other_record.unique_id, report.unique_id);
    ck_assert_int_eq(rpt_build(&upper, DAY + 1, "example.com", RECORD, keys, 1, &other_day, &error),
                     0);
    ck_assert_str_ne(other_day.unique_id, report.unique_id);
    ck_assert_ptr_nonnull(strstr(other_day.file_name, "!1726444800!1726531199!"));
    ck_assert_ptr_nonnull(strstr(other_day.json, "\"start-datetime\":\"2024-09-16T00:00:00Z\","
                                                 "\"end-datetime\":\"2024-09-16T23:59:59Z\""));
    save_for_validator(&other_day);
    rpt_report_free(&report);
    rpt_report_free(&again);
    rpt_report_free(&other_record);
    rpt_report_free(&other_day);
}
END_TEST

START_TEST(test_build_errors)
{
    const struct ctr_key *keys[] = {&sts_success};
    const struct ctr_key *unusable[] = {&bad_policy_domain, NULL};
    struct rpt_report report;
    char *error = NULL;

    ck_assert_int_eq(rpt_build(&settings, DAY, "example.com", RECORD, keys, 0, &report, &error),
                     -1);
    ck_assert_ptr_nonnull(strstr(error, "no counter keys"));
    free(error);
    ck_assert_int_eq(rpt_build(&settings, DAY, "bad..domain", RECORD, keys, 1, &report, &error),
                     -1);
    ck_assert_ptr_nonnull(strstr(error, "policy domain"));
    free(error);
    ck_assert_int_eq(rpt_build(&settings, DAY, NULL, RECORD, keys, 1, &report, &error), -1);
    free(error);
    ck_assert_int_eq(rpt_build(&settings, -1, "example.com", RECORD, keys, 1, &report, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "outside"));
    free(error);
    ck_assert_int_eq(rpt_build(&settings, 2932897, "example.com", RECORD, keys, 1, &report, &error),
                     -1);
    free(error);
    ck_assert_int_eq(rpt_build(&settings, DAY, "example.com", RECORD, unusable, 2, &report, &error),
                     -1);
    ck_assert_ptr_nonnull(strstr(error, "example.com"));
    free(error);
    /* The first and last days the formats can carry. */
    ck_assert_int_eq(rpt_build(&settings, 0, "example.com", NULL, keys, 1, &report, &error), 0);
    ck_assert_ptr_nonnull(strstr(report.file_name, "!0!86399!"));
    save_for_validator(&report);
    rpt_report_free(&report);
    ck_assert_int_eq(rpt_build(&settings, 2932896, "example.com", RECORD, keys, 1, &report, &error),
                     0);
    ck_assert_ptr_nonnull(strstr(report.json, "\"end-datetime\":\"9999-12-31T23:59:59Z\""));
    save_for_validator(&report);
    rpt_report_free(&report);
}
END_TEST

/* The strict validator over every report saved above */
START_TEST(test_strict_validator)
{
    validator_run();
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    TCase *validator = tcase_create("validator");

    tcase_add_loop_test(tc, test_json_cases, 0, (int)UTIL_ARRAY_LEN(json_cases));
    tcase_add_loop_test(tc, test_ip_addresses, 0, (int)UTIL_ARRAY_LEN(ip_cases));
    tcase_add_test(tc, test_ipv6_text);
    tcase_add_loop_test(tc, test_mx_hostnames, 0, (int)UTIL_ARRAY_LEN(host_cases));
    tcase_add_loop_test(tc, test_additional_information, 0, (int)UTIL_ARRAY_LEN(uri_cases));
    tcase_add_test(tc, test_text_fields);
    tcase_add_loop_test(tc, test_settings, 0, (int)UTIL_ARRAY_LEN(settings_cases));
    tcase_add_test(tc, test_submitter);
    tcase_add_test(tc, test_report_id_and_file_name);
    tcase_add_test(tc, test_build_errors);
    suite_add_tcase(s, tc);
    /* Last: it reads what the tests above saved. */
    tcase_add_test(validator, test_strict_validator);
    tcase_set_timeout(validator, 60);
    suite_add_tcase(s, validator);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(report_suite());

    validator_setup();
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    validator_cleanup(failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
