/*
 * check_lf_policy.c - the log parsers with the policy service's answers:
 * sessions to MTA-STS domains are counted under sts with the policy's
 * strings and mx patterns, DANE sessions under tlsa with the TLSA RRset,
 * and an unverified session under an sts policy is a failure.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "logfollow.h"
#include "postfix_log_events.h"
#include "util.h"

static const char *const sts_strings[] = {"version: STSv1", "mode: testing",
                                          "mx: *.sts.example", "max_age: 86400"};
static const char *const sts_mx[] = {"*.sts.example"};
static const char *const tlsa_strings[] = {"3 1 1 0123456789abcdef"};

/* The lookups the parser made, to check what it asked. */
struct lookups {
    unsigned n;
    char domain[64], mx[64];
    enum tr_policy_type logged;
};

/* sts.example has an MTA-STS policy; mx.dane.example has a TLSA RRset; nothing else. */
static bool policy_lookup(void *context, const char *domain, const char *mx_host,
                          enum tr_policy_type logged, struct lf_policy *policy)
{
    struct lookups *seen = context;

    seen->n++;
    snprintf(seen->domain, sizeof(seen->domain), "%s", domain);
    snprintf(seen->mx, sizeof(seen->mx), "%s", mx_host != NULL ? mx_host : "(none)");
    seen->logged = logged;
    if (mx_host != NULL && strcmp(mx_host, "mx.dane.example") == 0) {
        policy->type = TR_POLICY_TLSA;
        policy->domain = "mx.dane.example";
        policy->strings = tlsa_strings;
        policy->n_strings = UTIL_ARRAY_LEN(tlsa_strings);
        return true;
    }
    if (strcmp(domain, "sts.example") == 0) {
        policy->type = TR_POLICY_STS;
        policy->strings = sts_strings;
        policy->n_strings = UTIL_ARRAY_LEN(sts_strings);
        policy->mx_hosts = sts_mx;
        policy->n_mx_hosts = UTIL_ARRAY_LEN(sts_mx);
        return true;
    }
    return false;
}

static struct lf_parser *policy_parser(enum lf_format format, struct recorder *rec,
                                       struct lookups *seen)
{
    struct lf_settings settings = {.format = format,
                                   .now = NOW_2026_11_23,
                                   .policy_lookup = policy_lookup,
                                   .policy_context = seen};
    return lf_parser_create(&settings, record, rec);
}

static void expect_strings(const struct tr_policy *policy, const char *const *strings, size_t n,
                           const char *const *mx, size_t n_mx)
{
    ck_assert_uint_eq(policy->n_strings, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(policy->strings[i], strings[i]);
    ck_assert_uint_eq(policy->n_mx_hosts, n_mx);
    for (size_t i = 0; i < n_mx; i++)
        ck_assert_str_eq(policy->mx_hosts[i], mx[i]);
}

START_TEST(test_sts_success_and_unverified)
{
    struct recorder rec = {.n = 0};
    struct lookups seen = {.n = 0};
    struct lf_parser *parser = policy_parser(LF_POSTFIX, &rec, &seen);

    feed(parser, P1 "Verified TLS connection established to mx1.sts.example[192.0.2.1]:25" CIPHER);
    feed(parser, P1 "1A1A1A1A1A: to=<u@sts.example>, relay=mx1.sts.example[192.0.2.1]:25, "
                    "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)");
    ck_assert_uint_eq(seen.n, 1);
    ck_assert_str_eq(seen.domain, "sts.example");
    ck_assert_str_eq(seen.mx, "mx1.sts.example");
    ck_assert_int_eq(seen.logged, TR_POLICY_NONE);
    /* A testing-mode policy is answered as `may`: Postfix delivers over an unverified chain. */
    feed(parser, P2 "Untrusted TLS connection established to mx2.sts.example[192.0.2.2]:25" CIPHER);
    feed(parser, P2 "2B2B2B2B2B: to=<u@sts.example>, relay=mx2.sts.example[192.0.2.2]:25, "
                    "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)");
    /* The same under no policy is a successful session, as before. */
    feed(parser, P1 "Untrusted TLS connection established to mx.other.example[192.0.2.3]:25" CIPHER);
    feed(parser, P1 "3C3C3C3C3C: to=<u@other.example>, relay=mx.other.example[192.0.2.3]:25, "
                    "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)");
    ck_assert_uint_eq(rec.n, 3);

    expect_event(rec.events[0], &(struct expect){"sts.example", TR_POLICY_STS, NULL, false, 0,
                                                 NULL, NULL, NULL});
    expect_strings(&rec.events[0]->policies[0], sts_strings, UTIL_ARRAY_LEN(sts_strings), sts_mx,
                   UTIL_ARRAY_LEN(sts_mx));
    expect_event(rec.events[1],
                 &(struct expect){"sts.example", TR_POLICY_STS, NULL, true,
                                  TR_RESULT_CERTIFICATE_NOT_TRUSTED, "mx2.sts.example",
                                  "192.0.2.2", NULL});
    expect_strings(&rec.events[1]->policies[0], sts_strings, UTIL_ARRAY_LEN(sts_strings), sts_mx,
                   UTIL_ARRAY_LEN(sts_mx));
    expect_event(rec.events[2], &(struct expect)OK("other.example", "mx.other.example",
                                                   "192.0.2.3"));
    ck_assert_uint_eq(rec.events[2]->policies[0].n_strings, 0);
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

START_TEST(test_sts_failure_keeps_its_result)
{
    struct recorder rec = {.n = 0};
    struct lookups seen = {.n = 0};
    struct lf_parser *parser = policy_parser(LF_POSTFIX, &rec, &seen);

    feed(parser, P1 "server certificate verification failed for mx1.sts.example[192.0.2.1]:25: "
                    "num=62:hostname mismatch");
    feed(parser, P1 "Untrusted TLS connection established to mx1.sts.example[192.0.2.1]:25" CIPHER);
    feed(parser, P1 "4D4D4D4D4D: to=<u@sts.example>, relay=mx1.sts.example[192.0.2.1]:25, "
                    "delay=0.01, delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server "
                    "certificate not verified)");
    ck_assert_uint_eq(rec.n, 1);
    expect_event(rec.events[0],
                 &(struct expect){"sts.example", TR_POLICY_STS, NULL, true,
                                  TR_RESULT_CERTIFICATE_HOST_MISMATCH, "mx1.sts.example",
                                  "192.0.2.1", "num=62:hostname mismatch"});
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

START_TEST(test_dane_success_gets_its_rrset)
{
    struct recorder rec = {.n = 0};
    struct lookups seen = {.n = 0};
    struct lf_parser *parser = policy_parser(LF_POSTFIX, &rec, &seen);

    /* At Postfix's default log level a DANE success looks like any verified session. */
    feed(parser, P1 "Verified TLS connection established to mx.dane.example[192.0.2.5]:25" CIPHER);
    feed(parser, P1 "5E5E5E5E5E: to=<u@dane.example>, relay=mx.dane.example[192.0.2.5]:25, "
                    "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)");
    ck_assert_uint_eq(rec.n, 1);
    expect_event(rec.events[0], &(struct expect){"dane.example", TR_POLICY_TLSA,
                                                 "mx.dane.example", false, 0, NULL, NULL, NULL});
    expect_strings(&rec.events[0]->policies[0], tlsa_strings, UTIL_ARRAY_LEN(tlsa_strings), NULL,
                   0);
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

START_TEST(test_sendmail_sts)
{
    struct recorder rec = {.n = 0};
    struct lookups seen = {.n = 0};
    struct lf_parser *parser = policy_parser(LF_SENDMAIL, &rec, &seen);

    feed(parser, "Nov 22 09:46:21 sender sm-mta[700]: STARTTLS=client, relay=mx1.sts.example., "
                 "version=TLSv1.3, verify=OK, cipher=TLS_AES_256_GCM_SHA384, bits=256/256");
    feed(parser, "Nov 22 09:46:21 sender sm-mta[700]: 5AMqL1a1000700: to=<u@sts.example>, "
                 "delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120000, "
                 "relay=mx1.sts.example. [192.0.2.1], dsn=2.0.0, stat=Sent (ok)");
    /* Opportunistic TLS over a certificate that failed: a failure under sts only. */
    feed(parser, "Nov 22 09:46:22 sender sm-mta[701]: STARTTLS=client, relay=mx2.sts.example., "
                 "version=TLSv1.3, verify=FAIL, cipher=TLS_AES_256_GCM_SHA384, bits=256/256");
    feed(parser, "Nov 22 09:46:22 sender sm-mta[701]: 5AMqL1a1000701: to=<u@sts.example>, "
                 "delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120000, "
                 "relay=mx2.sts.example. [192.0.2.2], dsn=2.0.0, stat=Sent (ok)");
    feed(parser, "Nov 22 09:46:23 sender sm-mta[702]: STARTTLS=client, relay=mx.other.example., "
                 "version=TLSv1.3, verify=FAIL, cipher=TLS_AES_256_GCM_SHA384, bits=256/256");
    feed(parser, "Nov 22 09:46:23 sender sm-mta[702]: 5AMqL1a1000702: to=<u@other.example>, "
                 "delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120000, "
                 "relay=mx.other.example. [192.0.2.3], dsn=2.0.0, stat=Sent (ok)");
    ck_assert_uint_eq(rec.n, 3);
    ck_assert_int_eq(rec.events[0]->policies[0].type, TR_POLICY_STS);
    ck_assert(!rec.events[0]->policies[0].failed);
    expect_strings(&rec.events[0]->policies[0], sts_strings, UTIL_ARRAY_LEN(sts_strings), sts_mx,
                   UTIL_ARRAY_LEN(sts_mx));
    expect_event(rec.events[1],
                 &(struct expect){"sts.example", TR_POLICY_STS, NULL, true,
                                  TR_RESULT_CERTIFICATE_NOT_TRUSTED, "mx2.sts.example",
                                  "192.0.2.2", NULL});
    ck_assert_int_eq(rec.events[2]->policies[0].type, TR_POLICY_NONE);
    ck_assert(!rec.events[2]->policies[0].failed);
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

/* The flag behind "unverified" survives a checkpoint between its two lines. */
START_TEST(test_unverified_survives_checkpoint)
{
    struct recorder rec = {.n = 0};
    struct lookups seen = {.n = 0};
    struct lf_parser *parser = policy_parser(LF_POSTFIX, &rec, &seen), *restored;
    struct buf saved;
    char *error = NULL;

    buf_init(&saved);
    feed(parser, P2 "Untrusted TLS connection established to mx2.sts.example[192.0.2.2]:25" CIPHER);
    lf_parser_save(parser, &saved);
    lf_parser_destroy(parser);
    restored = policy_parser(LF_POSTFIX, &rec, &seen);
    ck_assert_int_eq(lf_parser_restore(restored, saved.data, saved.len, &error), 0);
    feed(restored, P2 "2B2B2B2B2B: to=<u@sts.example>, relay=mx2.sts.example[192.0.2.2]:25, "
                      "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)");
    ck_assert_uint_eq(rec.n, 1);
    ck_assert_int_eq(rec.events[0]->policies[0].failed, true);
    ck_assert_int_eq(rec.events[0]->policies[0].failures[0].result,
                     TR_RESULT_CERTIFICATE_NOT_TRUSTED);
    buf_free(&saved);
    recorder_free(&rec);
    lf_parser_destroy(restored);
}
END_TEST

static Suite *lf_policy_suite(void)
{
    Suite *s = suite_create("lf_policy");
    TCase *tc = tcase_create("lf_policy");

    tcase_add_test(tc, test_sts_success_and_unverified);
    tcase_add_test(tc, test_sts_failure_keeps_its_result);
    tcase_add_test(tc, test_dane_success_gets_its_rrset);
    tcase_add_test(tc, test_sendmail_sts);
    tcase_add_test(tc, test_unverified_survives_checkpoint);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return postfix_log_run_suite(lf_policy_suite());
}
