/*
 * check_collector_reject.c - Check suite of the collector's parser on bad
 * datagrams: every way a datagram is rejected and the reason it is given,
 * written out and generated one past each limit, and the limits themselves.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "core.h"
#include "util.h"
#include "collector_cases.h"

START_TEST(test_reject)
{
    const struct reject_case *c = &reject_cases[_i];

    assert_rejected(parser, c->datagram, case_len(c), c->reason, c->name);
}
END_TEST

/* The undamaged datagram the damaged ones above are made from is accepted. */
START_TEST(test_reject_baselines)
{
    const char *good[] = {GOOD, "{\"dpv\": \"1\"," GOOD_BODY "} \n", WITH_DETAIL("\"c\":205"),
                          WITH_POLICY("\"policy-type\":9,\"t\":0,\"f\":0")};

    for (size_t i = 0; i < UTIL_ARRAY_LEN(good); i++)
        parse_ok(parser, good[i], strlen(good[i]), good[i]);
}
END_TEST

/* Rejected datagrams, generated ------------------------------------------- */

static void repeat(struct buf *b, const char *s, size_t times)
{
    for (size_t i = 0; i < times; i++)
        buf_puts(b, s);
}

/* n_labels labels of 49 letters and a dot: 50 * n_labels bytes, a valid name. */
static void long_domain(struct buf *b, size_t n_labels)
{
    repeat(b, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.", n_labels);
}

static void build_deep_root(struct buf *b)
{
    repeat(b, "[", 100);
    repeat(b, "]", 100);
}

static void build_deep_in_ignored_key(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"zz\":");
    repeat(b, "[", 100);
    repeat(b, "]", 100);
    buf_puts(b, ",\"policies\":[{\"policy-type\":9,\"f\":0}]}");
}

static void build_many_policy_strings(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,"
                "\"policy-string\":[");
    for (int i = 0; i < 1000; i++)
        buf_printf(b, "%s\"mx: mx%d.example\"", i ? "," : "", i);
    buf_puts(b, "],\"t\":0,\"f\":0}]}");
}

static void build_policies(struct buf *b, int n)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[");
    for (int i = 0; i < n; i++)
        buf_printf(b, "%s{\"policy-type\":9,\"t\":0,\"f\":0}", i ? "," : "");
    buf_puts(b, "]}");
}

static void build_failures(struct buf *b, int n)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,"
                "\"failure-details\":[");
    for (int i = 0; i < n; i++)
        buf_printf(b, "%s{\"c\":205,\"r\":\"192.0.2.%d\"}", i ? "," : "", i);
    buf_printf(b, "],\"t\":%d,\"f\":1}]}", n);
}

static void build_mx_hosts(struct buf *b, int n)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,"
                "\"mx-host\":[");
    for (int i = 0; i < n; i++)
        buf_printf(b, "%s\"mx%d.example\"", i ? "," : "", i);
    buf_puts(b, "],\"t\":0,\"f\":0}]}");
}

static void build_9_policies(struct buf *b)
{
    build_policies(b, TR_MAX_POLICIES + 1);
}

static void build_33_failures(struct buf *b)
{
    build_failures(b, TR_MAX_FAILURES + 1);
}

static void build_33_mx_hosts(struct buf *b)
{
    build_mx_hosts(b, TR_MAX_MX_HOSTS + 1);
}

static void build_65_policy_strings(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,"
                "\"policy-string\":[");
    for (int i = 0; i <= TR_MAX_POLICY_STRINGS; i++)
        buf_printf(b, "%s\"s%d\"", i ? "," : "", i);
    buf_puts(b, "],\"t\":0,\"f\":0}]}");
}

static void build_200k(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,"
                "\"failure-details\":[{\"c\":205,\"a\":\"");
    repeat(b, "0123456789", 20000);
    buf_puts(b, "\"}],\"t\":1,\"f\":1}]}");
}

static void build_long_additional_information(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,"
                "\"failure-details\":[{\"c\":205,\"a\":\"");
    repeat(b, "a", TR_MAX_STRING + 1);
    buf_puts(b, "\"}],\"t\":1,\"f\":1}]}");
}

static void build_long_policy_string(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,"
                "\"policy-string\":[\"");
    repeat(b, "a", TR_MAX_STRING + 1);
    buf_puts(b, "\"],\"t\":0,\"f\":0}]}");
}

static void build_long_record(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"pr\":\"v=TLSRPTv1;rua=mailto:");
    repeat(b, "r", TR_MAX_RECORD);
    buf_puts(b, "@x.example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
}

static void build_long_helo(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,"
                "\"failure-details\":[{\"c\":205,\"h\":\"250-");
    repeat(b, "h", TR_MAX_STRING + 1);
    buf_puts(b, "\\r\\n250 SMTPUTF8\"}],\"t\":1,\"f\":1}]}");
}

static void build_300_char_domain(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"");
    long_domain(b, 6);
    buf_puts(b, "example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
}

/* 254 octets without a trailing dot: short enough to read, too long as a name. */
static void build_254_char_domain(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"");
    long_domain(b, 5);
    buf_puts(b, "abcd\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
}

static void build_300_char_policy_domain(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":1,"
                "\"policy-domain\":\"");
    long_domain(b, 6);
    buf_puts(b, "example\",\"t\":0,\"f\":0}]}");
}

static void build_long_label(struct buf *b)
{
    buf_puts(b, "{\"dpv\":\"1\",\"d\":\"");
    repeat(b, "a", 64);
    buf_puts(b, ".example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
}

static const struct generated_case {
    const char *name;
    void (*build)(struct buf *b);
    enum collector_reject reason;
} generated_rejects[] = {
    {"100 nested arrays", build_deep_root, COLLECTOR_REJECT_TOO_DEEP},
    {"100 nested arrays in an ignored key", build_deep_in_ignored_key, COLLECTOR_REJECT_TOO_DEEP},
    {"1000 policy strings", build_many_policy_strings, COLLECTOR_REJECT_TOO_MANY},
    {"65 policy strings", build_65_policy_strings, COLLECTOR_REJECT_TOO_MANY},
    {"9 policies", build_9_policies, COLLECTOR_REJECT_TOO_MANY},
    {"33 failure details", build_33_failures, COLLECTOR_REJECT_TOO_MANY},
    {"33 mx-hosts", build_33_mx_hosts, COLLECTOR_REJECT_TOO_MANY},
    {"200 KB datagram", build_200k, COLLECTOR_REJECT_TOO_LARGE},
    {"additional-information too long", build_long_additional_information,
     COLLECTOR_REJECT_BAD_TEXT},
    {"policy string too long", build_long_policy_string, COLLECTOR_REJECT_BAD_TEXT},
    {"pr too long", build_long_record, COLLECTOR_REJECT_BAD_TEXT},
    {"ehlo name too long", build_long_helo, COLLECTOR_REJECT_BAD_TEXT},
    {"300-char d", build_300_char_domain, COLLECTOR_REJECT_BAD_TEXT},
    {"254-char d", build_254_char_domain, COLLECTOR_REJECT_BAD_DOMAIN},
    {"300-char policy-domain", build_300_char_policy_domain, COLLECTOR_REJECT_BAD_TEXT},
    {"64-char label", build_long_label, COLLECTOR_REJECT_BAD_DOMAIN},
};

START_TEST(test_reject_generated)
{
    const struct generated_case *c = &generated_rejects[_i];
    struct buf b = {0};

    c->build(&b);
    assert_rejected(parser, b.data, b.len, c->reason, c->name);
    buf_free(&b);
}
END_TEST

/* The limits themselves are allowed: the rejections above are exactly one past them. */
START_TEST(test_limits_accepted)
{
    struct buf b = {0};
    const struct tr_event *event;

    build_policies(&b, TR_MAX_POLICIES);
    event = parse_ok(parser, b.data, b.len, "8 policies");
    ck_assert_uint_eq(event->n_policies, TR_MAX_POLICIES);
    buf_reset(&b);

    build_failures(&b, TR_MAX_FAILURES);
    event = parse_ok(parser, b.data, b.len, "32 failures");
    ck_assert_uint_eq(event->policies[0].n_failures, TR_MAX_FAILURES);
    ck_assert_str_eq(event->policies[0].failures[31].receiving_ip, "192.0.2.31");
    buf_reset(&b);

    build_mx_hosts(&b, TR_MAX_MX_HOSTS);
    event = parse_ok(parser, b.data, b.len, "32 mx-hosts");
    ck_assert_uint_eq(event->policies[0].n_mx_hosts, TR_MAX_MX_HOSTS);
    ck_assert_str_eq(event->policies[0].mx_hosts[31], "mx31.example");
    buf_reset(&b);

    buf_puts(&b, "{\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,\"policy-string\":[");
    for (int i = 0; i < TR_MAX_POLICY_STRINGS; i++)
        buf_printf(&b, "%s\"s%d\"", i ? "," : "", i);
    buf_puts(&b, "],\"f\":0}]}");
    event = parse_ok(parser, b.data, b.len, "64 policy strings");
    ck_assert_uint_eq(event->policies[0].n_strings, TR_MAX_POLICY_STRINGS);
    ck_assert_str_eq(event->policies[0].strings[63], "s63");
    buf_reset(&b);

    /* 253 octets and the trailing dot: the longest name there is. */
    buf_puts(&b, "{\"d\":\"");
    long_domain(&b, 5);
    buf_puts(&b, "abc.\",\"policies\":[{\"policy-type\":9,\"f\":0}]}");
    event = parse_ok(parser, b.data, b.len, "253-octet domain");
    ck_assert_uint_eq(strlen(event->domain), TR_MAX_DOMAIN);
    ck_assert_str_eq(event->domain + 250, "abc");
    buf_reset(&b);

    buf_puts(&b, "{\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,\"failure-details\":"
                 "[{\"c\":205,\"a\":\"");
    repeat(&b, "a", TR_MAX_STRING);
    buf_puts(&b, "\",\"h\":\"250-");
    /* An EHLO name longer than any host name is kept whole, never cut. */
    repeat(&b, "h", 300);
    buf_puts(&b, "\\r\\n250 SMTPUTF8\"}],\"t\":1,\"f\":1}]}");
    event = parse_ok(parser, b.data, b.len, "1024-byte string, 300-byte ehlo name");
    ck_assert_uint_eq(strlen(event->policies[0].failures[0].additional_information), TR_MAX_STRING);
    ck_assert_uint_eq(strlen(event->policies[0].failures[0].receiving_mx_helo), 300);
    buf_free(&b);
}
END_TEST

static Suite *collector_reject_suite(void)
{
    Suite *s = suite_create("collector_reject");
    TCase *tc = tcase_create("reject");

    tcase_add_checked_fixture(tc, parser_setup, parser_teardown);
    tcase_add_loop_test(tc, test_reject, 0, (int)n_reject_cases);
    tcase_add_test(tc, test_reject_baselines);
    tcase_add_loop_test(tc, test_reject_generated, 0, (int)UTIL_ARRAY_LEN(generated_rejects));
    tcase_add_test(tc, test_limits_accepted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(collector_reject_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
