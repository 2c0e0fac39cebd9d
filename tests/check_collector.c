/*
 * check_collector.c - Check suite of the collector's parser: libtlsrpt
 * datagrams exactly as Postfix >= 3.10 sends them, parser reuse, the
 * reduction of an EHLO reply to its host name, and the reject reasons'
 * names (the rejected datagrams are check_collector_reject.c's).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "core.h"
#include "util.h"
#include "collector_cases.h"

/* Expected outcomes; a NULL string means the key must be absent (NULL). */
struct want_failure {
    enum tr_result result;
    const char *sending_mta_ip, *receiving_mx_hostname, *receiving_mx_helo, *receiving_ip,
        *additional_information, *failure_reason_code;
};

struct want_policy {
    enum tr_policy_type type;
    const char *domain;
    size_t n_strings;
    const char *strings[4];
    size_t n_mx_hosts;
    const char *mx_hosts[2];
    bool failed;
    size_t n_failures;
    struct want_failure failures[4];
};

struct want_event {
    const char *domain;
    const char *record;
    size_t n_policies;
    struct want_policy policies[2];
};

static void assert_same(const char *got, const char *want, const char *where, const char *what)
{
    if (want == NULL) {
        ck_assert_msg(got == NULL, "%s: %s: expected absent, got \"%s\"", where, what, got);
        return;
    }
    ck_assert_msg(got != NULL, "%s: %s: expected \"%s\", got absent", where, what, want);
    ck_assert_msg(strcmp(got, want) == 0, "%s: %s: expected \"%s\", got \"%s\"", where, what, want,
                  got);
}

/* Compares every field of a parsed event with what the case expects. */
static void assert_event(const struct tr_event *event, const struct want_event *want,
                         const char *where)
{
    ck_assert_msg(event->time == WHEN, "%s: time", where);
    assert_same(event->domain, want->domain, where, "domain");
    assert_same(event->record, want->record, where, "record");
    ck_assert_msg(event->n_policies == want->n_policies, "%s: %zu policies, expected %zu", where,
                  event->n_policies, want->n_policies);
    for (size_t p = 0; p < want->n_policies; p++) {
        const struct tr_policy *got = &event->policies[p];
        const struct want_policy *wp = &want->policies[p];
        ck_assert_msg(got->type == wp->type, "%s: policy %zu: type %s, expected %s", where, p,
                      tr_policy_type_name(got->type), tr_policy_type_name(wp->type));
        assert_same(got->domain, wp->domain, where, "policy-domain");
        ck_assert_msg(got->n_strings == wp->n_strings, "%s: policy %zu: %zu policy strings", where,
                      p, got->n_strings);
        for (size_t i = 0; i < wp->n_strings; i++)
            assert_same(got->strings[i], wp->strings[i], where, "policy-string");
        ck_assert_msg(got->n_mx_hosts == wp->n_mx_hosts, "%s: policy %zu: %zu mx-hosts", where, p,
                      got->n_mx_hosts);
        for (size_t i = 0; i < wp->n_mx_hosts; i++)
            assert_same(got->mx_hosts[i], wp->mx_hosts[i], where, "mx-host");
        ck_assert_msg(got->failed == wp->failed, "%s: policy %zu: failed", where, p);
        ck_assert_msg(got->n_failures == wp->n_failures, "%s: policy %zu: %zu failures", where, p,
                      got->n_failures);
        for (size_t i = 0; i < wp->n_failures; i++) {
            const struct tr_failure *f = &got->failures[i];
            const struct want_failure *wf = &wp->failures[i];
            ck_assert_msg(f->result == wf->result, "%s: failure %zu: %s, expected %s", where, i,
                          tr_result_name(f->result), tr_result_name(wf->result));
            assert_same(f->sending_mta_ip, wf->sending_mta_ip, where, "sending-mta-ip");
            assert_same(f->receiving_mx_hostname, wf->receiving_mx_hostname, where,
                        "receiving-mx-hostname");
            assert_same(f->receiving_mx_helo, wf->receiving_mx_helo, where, "receiving-mx-helo");
            assert_same(f->receiving_ip, wf->receiving_ip, where, "receiving-ip");
            assert_same(f->additional_information, wf->additional_information, where,
                        "additional-information");
            assert_same(f->failure_reason_code, wf->failure_reason_code, where,
                        "failure-reason-code");
        }
    }
}

/* Accepted datagrams ------------------------------------------------------ */

#define TLSA_SHA256 "3 1 1 ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"

static const struct accept_case {
    const char *name;
    const char *datagram;
    struct want_event want;
} accept_cases[] = {
    {"libtlsrpt example",
     "{\"dpv\": \"1\",\"d\": \"example.com\",\"pr\": \"v=TLSRPTv1;rua=mailto:r@example.com\","
     "\"policies\":[{\"policy-type\":2,\"policy-domain\": \"company-y.example\","
     "\"policy-string\":[\"version: STSv1\",\"mode: testing\",\"mx: *.mail.company-y.example\","
     "\"max_age: 86400\"],\"mx-host\":[\"*.mail.company-y.example\"],"
     "\"failure-details\":[{\"c\":302,\"s\": \"1.2.3.4\",\"n\": \"mailin.example.com\","
     "\"h\": \"test-ehlo.example.com\",\"r\": \"11.22.33.44\","
     "\"a\": \"This is additional information\",\"f\": \"999 TEST REASON CODE\"}],"
     "\"t\":1,\"f\":1}]}",
     {"example.com",
      "v=TLSRPTv1;rua=mailto:r@example.com",
      1,
      {{TR_POLICY_STS,
        "company-y.example",
        4,
        {"version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"},
        1,
        {"*.mail.company-y.example"},
        true,
        1,
        {{TR_RESULT_STS_POLICY_INVALID, "1.2.3.4", "mailin.example.com", "test-ehlo.example.com",
          "11.22.33.44", "This is additional information", "999 TEST REASON CODE"}}}}}},
    {"success without policy",
     "{\"dpv\": \"1\",\"d\": \"ok.example\","
     "\"pr\": \"v=TLSRPTv1; rua=mailto:tlsrpt@reports.example\","
     "\"policies\":[{\"policy-type\":9,\"policy-domain\": \"ok.example\",\"t\":0,\"f\":0}]}",
     {"ok.example",
      "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example",
      1,
      {{TR_POLICY_NONE, "ok.example", 0, {NULL}, 0, {NULL}, false, 0, {{0}}}}}},
    {"uneven spacing",
     " {\"dpv\" :\"1\" , \"d\":  \"example.org\"\t,\r\n"
     "\"pr\":\"v=TLSRPTv1;rua=mailto:r@example.org\" ,"
     " \"policies\" : [ { \"policy-type\" : 2 ,\"policy-string\" : [ \"version: STSv1\" ,"
     "\"mode: enforce\" ] , \"mx-host\":[\"mx1.example.org\" , \"mx2.example.org\"],"
     "\"failure-details\" :[ {\"c\" : 201 , \"r\" :\"192.0.2.1\" } ] ,\"t\": 1,\"f\" :1 } ] }\n",
     {"example.org",
      "v=TLSRPTv1;rua=mailto:r@example.org",
      1,
      {{TR_POLICY_STS,
        NULL,
        2,
        {"version: STSv1", "mode: enforce"},
        2,
        {"mx1.example.org", "mx2.example.org"},
        true,
        1,
        {{TR_RESULT_STARTTLS_NOT_SUPPORTED, NULL, NULL, NULL, "192.0.2.1", NULL, NULL}}}}}},
    {"every optional field missing",
     "{\"dpv\":\"1\",\"d\":\"min.example\",\"policies\":[{\"policy-type\":9,\"f\":0}]}",
     {"min.example", NULL, 1, {{TR_POLICY_NONE, NULL, 0, {NULL}, 0, {NULL}, false, 0, {{0}}}}}},
    {"failure detail with only its code",
     "{\"d\":\"min.example\",\"policies\":[{\"policy-type\":2,\"failure-details\":[{\"c\":301}],"
     "\"f\":1}]}",
     {"min.example",
      NULL,
      1,
      {{TR_POLICY_STS,
        NULL,
        0,
        {NULL},
        0,
        {NULL},
        true,
        1,
        {{TR_RESULT_STS_POLICY_FETCH_ERROR, NULL, NULL, NULL, NULL, NULL, NULL}}}}}},
    {"failure without details",
     "{\"dpv\": \"1\",\"d\": \"fail.example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":1}]}",
     {"fail.example", NULL, 1, {{TR_POLICY_NONE, NULL, 0, {NULL}, 0, {NULL}, true, 0, {{0}}}}}},
    {"tlsa and sts in one datagram",
     "{\"dpv\": \"1\",\"d\": \"multi.example\","
     "\"pr\": \"v=TLSRPTv1;rua=mailto:tlsrpt@multi.example\","
     "\"policies\":[{\"policy-type\":1,\"policy-domain\": \"mx1.multi.example\","
     "\"policy-string\":[\"" TLSA_SHA256 "\"],\"failure-details\":[{\"c\":304,"
     "\"s\": \"2001:db8::25\",\"n\": \"mx1.multi.example\",\"r\": \"2001:db8::1\"}],"
     "\"t\":1,\"f\":1},{\"policy-type\":2,\"policy-domain\": \"multi.example\","
     "\"policy-string\":[\"version: STSv1\","
     "\"mode: enforce\",\"mx: mx1.multi.example\",\"max_age: 604800\"],"
     "\"mx-host\":[\"mx1.multi.example\"],\"t\":0,\"f\":1}]}",
     {"multi.example",
      "v=TLSRPTv1;rua=mailto:tlsrpt@multi.example",
      2,
      {{TR_POLICY_TLSA,
        "mx1.multi.example",
        1,
        {TLSA_SHA256},
        0,
        {NULL},
        true,
        1,
        {{TR_RESULT_TLSA_INVALID, "2001:db8::25", "mx1.multi.example", NULL, "2001:db8::1", NULL,
          NULL}}},
       {TR_POLICY_STS,
        "multi.example",
        4,
        {"version: STSv1", "mode: enforce", "mx: mx1.multi.example", "max_age: 604800"},
        1,
        {"mx1.multi.example"},
        true,
        0,
        {{0}}}}}},
    {"tlsa policy of the mx host",
     "{\"dpv\": \"1\",\"d\": \"dane.example\","
     "\"pr\": \"v=TLSRPTv1;rua=mailto:tlsrpt@dane.example\","
     "\"policies\":[{\"policy-type\":1,\"policy-domain\": \"mx.dane.example\","
     "\"policy-string\":[\"" TLSA_SHA256 "\",\"2 0 1 0123456789abcdef\"],\"t\":0,\"f\":0}]}",
     {"dane.example",
      "v=TLSRPTv1;rua=mailto:tlsrpt@dane.example",
      1,
      {{TR_POLICY_TLSA,
        "mx.dane.example",
        2,
        {TLSA_SHA256, "2 0 1 0123456789abcdef"},
        0,
        {NULL},
        false,
        0,
        {{0}}}}}},
    {"upper-case domains with trailing dot",
     "{\"dpv\": \"1\",\"d\": \"Example.COM.\",\"pr\": \"v=TLSRPTv1;rua=mailto:R@Example.COM\","
     "\"policies\":[{\"policy-type\":2,\"policy-domain\": \"MX.Company-Y.Example.\","
     "\"mx-host\":[\"*.Mail.Example.COM\"],\"t\":0,\"f\":0}]}",
     {"example.com",
      "v=TLSRPTv1;rua=mailto:R@Example.COM",
      1,
      {{TR_POLICY_STS,
        "mx.company-y.example",
        0,
        {NULL},
        1,
        {"*.Mail.Example.COM"},
        false,
        0,
        {{0}}}}}},
    {"raw utf-8 in additional-information",
     "{\"dpv\": \"1\",\"d\": \"utf8.example\",\"policies\":[{\"policy-type\":9,"
     "\"failure-details\":[{\"c\":204,\"a\": \"Zertifikat f\xc3\xbcr mx abgelaufen \xe2\x80\x94 "
     "\xf0\x9f\x94\x92\",\"f\": \"certificate has expired\"}],\"t\":1,\"f\":1}]}",
     {"utf8.example",
      NULL,
      1,
      {{TR_POLICY_NONE,
        NULL,
        0,
        {NULL},
        0,
        {NULL},
        true,
        1,
        {{TR_RESULT_CERTIFICATE_EXPIRED, NULL, NULL, NULL, NULL,
          "Zertifikat f\xc3\xbcr mx abgelaufen \xe2\x80\x94 \xf0\x9f\x94\x92",
          "certificate has expired"}}}}}},
    {"escaped unicode in additional-information",
     "{\"d\":\"utf8.example\",\"policies\":[{\"policy-type\":9,\"failure-details\":[{\"c\":205,"
     "\"a\":\"caf\\u00e9 \\ud83d\\udd12 tab\\there \\\"quoted\\\" back\\\\slash\"}],\"t\":1,"
     "\"f\":1}]}",
     {"utf8.example",
      NULL,
      1,
      {{TR_POLICY_NONE,
        NULL,
        0,
        {NULL},
        0,
        {NULL},
        true,
        1,
        {{TR_RESULT_VALIDATION_FAILURE, NULL, NULL, NULL, NULL,
          "caf\xc3\xa9 \xf0\x9f\x94\x92 tab\there \"quoted\" back\\slash", NULL}}}}}},
    {"ehlo replies reduced to the host name",
     "{\"dpv\": \"1\",\"d\": \"helo.example\",\"policies\":[{\"policy-type\":2,"
     "\"failure-details\":["
     "{\"c\":202,\"h\": \"250-mx.example.net\\r\\n250-PIPELINING\\r\\n250-SIZE 10240000\\r\\n"
     "250 SMTPUTF8\"},"
     "{\"c\":203,\"h\": \"mx.example\"},"
     "{\"c\":204,\"h\": \"250 mx.example\"},"
     "{\"c\":205,\"h\": \"250-MX2.example.net Hello client [192.0.2.1]\\u000d\\u000a250 8BITMIME\"}"
     "],\"t\":4,\"f\":1}]}",
     {"helo.example",
      NULL,
      1,
      {{TR_POLICY_STS,
        NULL,
        0,
        {NULL},
        0,
        {NULL},
        true,
        4,
        {{TR_RESULT_CERTIFICATE_HOST_MISMATCH, NULL, NULL, "mx.example.net", NULL, NULL, NULL},
         {TR_RESULT_CERTIFICATE_NOT_TRUSTED, NULL, NULL, "mx.example", NULL, NULL, NULL},
         {TR_RESULT_CERTIFICATE_EXPIRED, NULL, NULL, "mx.example", NULL, NULL, NULL},
         {TR_RESULT_VALIDATION_FAILURE, NULL, NULL, "MX2.example.net", NULL, NULL, NULL}}}}}},
    {"ehlo reply without a name",
     "{\"d\":\"helo.example\",\"policies\":[{\"policy-type\":2,\"failure-details\":["
     "{\"c\":202,\"h\":\"250-\\r\\n250 SMTPUTF8\"},{\"c\":202,\"h\":\"\"}],\"t\":2,\"f\":1}]}",
     {"helo.example",
      NULL,
      1,
      {{TR_POLICY_STS,
        NULL,
        0,
        {NULL},
        0,
        {NULL},
        true,
        2,
        {{TR_RESULT_CERTIFICATE_HOST_MISMATCH, NULL, NULL, NULL, NULL, NULL, NULL},
         {TR_RESULT_CERTIFICATE_HOST_MISMATCH, NULL, NULL, NULL, NULL, NULL, NULL}}}}}},
    {"older libtlsrpt without dpv",
     "{\"d\": \"old.example\",\"pr\": \"v=TLSRPTv1;rua=mailto:r@old.example\","
     "\"policies\":[{\"policy-type\":2,\"policy-domain\": \"old.example\",\"t\":0,\"f\":0}]}",
     {"old.example",
      "v=TLSRPTv1;rua=mailto:r@old.example",
      1,
      {{TR_POLICY_STS, "old.example", 0, {NULL}, 0, {NULL}, false, 0, {{0}}}}}},
    {"unknown keys ignored",
     "{\"dpv\":\"1\",\"d\":\"new.example\",\"future\":{\"nested\":[1,2.5,{\"k\":null}],\"b\":true},"
     "\"policies\":[{\"policy-type\":2,\"x-new\":\"value\",\"failure-details\":[{\"c\":303,"
     "\"x\":[\"y\"],\"n\":\"mx.new.example\"}],\"t\":1,\"f\":1,\"extra\":[true,false,-1]}],"
     "\"zz\":null}",
     {"new.example",
      NULL,
      1,
      {{TR_POLICY_STS,
        NULL,
        0,
        {NULL},
        0,
        {NULL},
        true,
        1,
        {{TR_RESULT_STS_WEBPKI_INVALID, NULL, "mx.new.example", NULL, NULL, NULL, NULL}}}}}},
    {"pr missing",
     "{\"dpv\": \"1\",\"d\": \"norecord.example\",\"policies\":[{\"policy-type\":2,"
     "\"policy-domain\": \"norecord.example\",\"policy-string\":[\"version: STSv1\"],"
     "\"t\":0,\"f\":0}]}",
     {"norecord.example",
      NULL,
      1,
      {{TR_POLICY_STS, "norecord.example", 1, {"version: STSv1"}, 0, {NULL}, false, 0, {{0}}}}}},
    {"null values count as absent",
     "{\"dpv\":\"1\",\"d\":\"null.example\",\"pr\":null,\"policies\":[{\"policy-type\":2,"
     "\"policy-domain\":null,\"policy-string\":null,\"mx-host\":null,\"failure-details\":["
     "{\"c\":201,\"s\":null,\"h\":null}],\"t\":1,\"f\":1}]}",
     {"null.example",
      NULL,
      1,
      {{TR_POLICY_STS,
        NULL,
        0,
        {NULL},
        0,
        {NULL},
        true,
        1,
        {{TR_RESULT_STARTTLS_NOT_SUPPORTED, NULL, NULL, NULL, NULL, NULL, NULL}}}}}},
    {"empty strings and arrays",
     "{\"dpv\":\"1\",\"d\":\"empty.example\",\"pr\":\"\",\"policies\":[{\"policy-type\":2,"
     "\"policy-string\":[],\"mx-host\":[],\"failure-details\":[],\"t\":0,\"f\":0}]}",
     {"empty.example", "", 1, {{TR_POLICY_STS, NULL, 0, {NULL}, 0, {NULL}, false, 0, {{0}}}}}},
};

START_TEST(test_accept)
{
    const struct accept_case *c = &accept_cases[_i];
    const struct tr_event *event = parse_ok(parser, c->datagram, strlen(c->datagram), c->name);

    assert_event(event, &c->want, c->name);
}
END_TEST

/* Every libtlsrpt failure code gives exactly the RFC 8460 result name. */
static const struct {
    int code;
    const char *name;
} code_cases[] = {
    {201, "starttls-not-supported"},
    {202, "certificate-host-mismatch"},
    {203, "certificate-not-trusted"},
    {204, "certificate-expired"},
    {205, "validation-failure"},
    {301, "sts-policy-fetch-error"},
    {302, "sts-policy-invalid"},
    {303, "sts-webpki-invalid"},
    {304, "tlsa-invalid"},
    {305, "dnssec-invalid"},
    {306, "dane-required"},
};

START_TEST(test_failure_code)
{
    char *datagram = xasprintf("{\"dpv\": \"1\",\"d\": \"code.example\",\"policies\":"
                               "[{\"policy-type\":2,\"failure-details\":[{\"c\":%d,"
                               "\"n\": \"mx.code.example\"}],\"t\":1,\"f\":1}]}",
                               code_cases[_i].code);
    const struct tr_event *event = parse_ok(parser, datagram, strlen(datagram), "code");

    ck_assert_uint_eq(event->n_policies, 1);
    ck_assert_uint_eq(event->policies[0].n_failures, 1);
    ck_assert_str_eq(tr_result_name(event->policies[0].failures[0].result), code_cases[_i].name);
    ck_assert_str_eq(event->policies[0].failures[0].receiving_mx_hostname, "mx.code.example");
    free(datagram);
}
END_TEST

/* max_size is inclusive. */
START_TEST(test_max_size)
{
    const char *datagram = accept_cases[0].datagram;
    size_t len = strlen(datagram);
    struct collector_parser *exact = collector_parser_create(len);
    struct collector_parser *small = collector_parser_create(len - 1);

    assert_event(parse_ok(exact, datagram, len, "max_size = length"), &accept_cases[0].want,
                 "max_size = length");
    assert_rejected(small, datagram, len, COLLECTOR_REJECT_TOO_LARGE, "max_size = length - 1");
    collector_parser_destroy(exact);
    collector_parser_destroy(small);
}
END_TEST

/* Reuse ------------------------------------------------------------------- */

/* One parser, good and bad in turn: nothing of one datagram shows in the next. */
/*
 * A datagram cut off right after a \u high surrogate must not change how
 * the next one reads: json-c's tokener keeps that surrogate across a reset
 * (found by the fuzzer), so a valid datagram after it was once rejected.
 */
START_TEST(test_no_carry_over_after_truncation)
{
    static const char good[] = "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":9,"
                               "\"policy-domain\":\"\\u0061b.example\",\"t\":0,\"f\":0}]}";
    static const char *const cut[] = {
        "{\"dpv\":\"1\",\"d\":\"\\ud83d",
        "{\"dpv\":\"1\",\"d\":\"\\ud83d\\u",
        "{\"dpv\":\"1\",\"d\":\"\\u00",
        "{\"dpv\":\"1\",\"d\":\"\\",
    };

    for (size_t i = 0; i < UTIL_ARRAY_LEN(cut); i++) {
        assert_rejected(parser, cut[i], strlen(cut[i]), COLLECTOR_REJECT_BAD_JSON, cut[i]);
        const struct tr_event *event = parse_ok(parser, good, strlen(good), "after a cut datagram");
        ck_assert_str_eq(event->policies[0].domain, "ab.example");
    }
}
END_TEST

START_TEST(test_parser_reuse)
{
    const size_t n_good = UTIL_ARRAY_LEN(accept_cases), n_bad = n_reject_cases;
    const struct accept_case *last = NULL;
    const struct tr_event *event = NULL;

    for (size_t i = 0; i < 10000; i++) {
        if (i % 2 == 0) {
            last = &accept_cases[(i / 2) % n_good];
            event = parse_ok(parser, last->datagram, strlen(last->datagram), last->name);
            assert_event(event, &last->want, last->name);
        } else {
            const struct reject_case *c = &reject_cases[(i / 2) % n_bad];
            assert_rejected(parser, c->datagram, case_len(c), c->reason, c->name);
        }
    }
    /* The last good event was checked right after its parse; check the final one again. */
    last = &accept_cases[n_good - 1];
    event = parse_ok(parser, last->datagram, strlen(last->datagram), last->name);
    assert_event(event, &last->want, last->name);
}
END_TEST

/* collector_helo_name ----------------------------------------------------- */

static const struct {
    const char *reply;
    size_t len;      /* 0: strlen(reply) */
    size_t out_size; /* 0: the whole buffer */
    const char *expect;
} helo_cases[] = {
    {"", 0, 0, ""},
    {"250-", 0, 0, ""},
    {"250 ", 0, 0, ""},
    {"250", 0, 0, ""},
    {"250\r\n", 0, 0, ""},
    {"250-\r\n250 SMTPUTF8", 0, 0, ""},
    {"\r\n", 0, 0, ""},
    {"\n", 0, 0, ""},
    {" ", 0, 0, ""},
    {"mx.example", 0, 0, "mx.example"},
    {"mx.example\r\n", 0, 0, "mx.example"},
    {"250 mx.example", 0, 0, "mx.example"},
    {"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 SMTPUTF8", 0, 0,
     "mx.example.net"},
    {"250-mx.example.net Hello client.example [192.0.2.1]\r\n250 8BITMIME", 0, 0, "mx.example.net"},
    {"250-  mx.example", 0, 0, "mx.example"},
    {"250-[192.0.2.1]\r\n250 8BITMIME", 0, 0, "[192.0.2.1]"},
    {"25-mx.example", 0, 0, "25-mx.example"},
    {"2500 mx.example", 0, 0, "2500"},
    {"abc-mx.example", 0, 0, "abc-mx.example"},
    {"123.example", 0, 0, "123.example"},
    {"250-mx.example.net", 9, 0, "mx.ex"},
    {"250-mx.example.net", 2, 0, "25"},
    {"250-mx.example.net", 0, 6, "mx.ex"},
    {"250-mx.example.net\r\n", 0, 15, "mx.example.net"},
    {"250-mx.example.net\r\n", 0, 14, "mx.example.ne"},
    {"250-mx.example.net", 0, 2, "m"},
    {"250-mx.example.net", 0, 1, ""},
};

START_TEST(test_helo_name)
{
    char out[64];
    const char *reply = helo_cases[_i].reply;
    size_t len = helo_cases[_i].len ? helo_cases[_i].len : strlen(reply);
    size_t out_size = helo_cases[_i].out_size ? helo_cases[_i].out_size : sizeof(out);

    memset(out, 'X', sizeof(out));
    size_t n = collector_helo_name(reply, len, out, out_size);
    ck_assert_str_eq(out, helo_cases[_i].expect);
    ck_assert_uint_eq(n, strlen(helo_cases[_i].expect));
    /* Nothing written past out_size. */
    for (size_t i = out_size; i < sizeof(out); i++)
        ck_assert_int_eq(out[i], 'X');
}
END_TEST

START_TEST(test_helo_name_no_room)
{
    char out[1] = {'X'};

    ck_assert_uint_eq(collector_helo_name("250 mx.example", 14, out, 0), 0);
    ck_assert_int_eq(out[0], 'X');
    ck_assert_uint_eq(collector_helo_name("", 0, out, 0), 0);
    ck_assert_int_eq(out[0], 'X');
}
END_TEST

/* Reject names ------------------------------------------------------------ */

START_TEST(test_reject_names)
{
    static const char *const expect[COLLECTOR_REJECT_COUNT] = {
        "too-large",       "nul-byte", "bad-json",    "bad-utf8",      "too-deep",
        "bad-type",        "bad-dpv",  "unknown-dpv", "missing-field", "bad-domain",
        "bad-policy-type", "bad-code", "bad-text",    "too-many",      "inconsistent",
    };

    for (int i = 0; i < COLLECTOR_REJECT_COUNT; i++) {
        const char *name = collector_reject_name((enum collector_reject)i);
        ck_assert_ptr_nonnull(name);
        ck_assert_uint_gt(strlen(name), 0);
        ck_assert_str_eq(name, expect[i]);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(name, collector_reject_name((enum collector_reject)j));
    }
    ck_assert_int_eq(COLLECTOR_REJECT_INCONSISTENT + 1, COLLECTOR_REJECT_COUNT);
}
END_TEST

static Suite *collector_suite(void)
{
    Suite *s = suite_create("collector");
    TCase *tc = tcase_create("parse");

    tcase_add_checked_fixture(tc, parser_setup, parser_teardown);
    tcase_add_loop_test(tc, test_accept, 0, (int)UTIL_ARRAY_LEN(accept_cases));
    tcase_add_loop_test(tc, test_failure_code, 0, (int)UTIL_ARRAY_LEN(code_cases));
    tcase_add_test(tc, test_max_size);
    tcase_add_test(tc, test_parser_reuse);
    tcase_add_test(tc, test_no_carry_over_after_truncation);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_loop_test(tc, test_helo_name, 0, (int)UTIL_ARRAY_LEN(helo_cases));
    tcase_add_test(tc, test_helo_name_no_room);
    tcase_add_test(tc, test_reject_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(collector_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
