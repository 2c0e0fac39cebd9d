/*
 * check_core.c - Check suite of the core module: the registry names of
 * policy and result types, domain normalization, UTF-8 checks and the
 * limits an event must respect.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "util.h"

START_TEST(test_result_names_exact)
{
    static const char *const registry[] = {
        "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
        "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
        "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
    };
    enum tr_result result;

    ck_assert_int_eq(UTIL_ARRAY_LEN(registry), TR_RESULT_COUNT);
    for (int i = 0; i < TR_RESULT_COUNT; i++) {
        ck_assert_str_eq(tr_result_name((enum tr_result)i), registry[i]);
        ck_assert_int_eq(tr_result_from_name(registry[i], &result), 0);
        ck_assert_int_eq(result, i);
    }
    ck_assert_int_eq(tr_result_from_name("certificate_expired", &result), -1);
    ck_assert_int_eq(tr_result_from_name("", &result), -1);
}
END_TEST

START_TEST(test_policy_type_names)
{
    enum tr_policy_type type;

    ck_assert_str_eq(tr_policy_type_name(TR_POLICY_TLSA), "tlsa");
    ck_assert_str_eq(tr_policy_type_name(TR_POLICY_STS), "sts");
    ck_assert_str_eq(tr_policy_type_name(TR_POLICY_NONE), "no-policy-found");
    ck_assert_int_eq(tr_policy_type_from_name("no-policy-found", &type), 0);
    ck_assert_int_eq(type, TR_POLICY_NONE);
    ck_assert_int_eq(tr_policy_type_from_name("STS", &type), -1);
}
END_TEST

static const struct {
    const char *input;
    const char *expect; /* NULL: rejected */
} domain_cases[] = {
    {"Example.COM", "example.com"},
    {"example.com.", "example.com"},
    {"_smtp._tls.example.com", "_smtp._tls.example.com"},
    {"xn--bcher-kva.example", "xn--bcher-kva.example"},
    {"a", "a"},
    {"example..com", NULL},
    {".example.com", NULL},
    {"example.com..", NULL},
    {"", NULL},
    {".", NULL},
    {"-bad.example", NULL},
    {"bad-.example", NULL},
    {"exa mple.com", NULL},
    {"b\xc3\xbc" "cher.example", NULL},
    {"example.com/x", NULL},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", NULL},
};

START_TEST(test_domain_normalize)
{
    char *name = xstrdup(domain_cases[_i].input);
    const char *error = NULL;
    int status = tr_domain_normalize(name, &error);

    if (domain_cases[_i].expect) {
        ck_assert_int_eq(status, 0);
        ck_assert_str_eq(name, domain_cases[_i].expect);
    } else {
        ck_assert_int_eq(status, -1);
        ck_assert_ptr_nonnull(error);
    }
    free(name);
}
END_TEST

static const struct {
    const char *text;
    bool ok;
} utf8_cases[] = {
    {"plain ascii", true},
    {"caf\xc3\xa9", true},
    {"\xe2\x82\xac", true},
    {"\xf0\x9f\x98\x80", true},
    {"tab\there", true},
    {"\xc3", false},           /* truncated */
    {"\xc0\xaf", false},       /* overlong */
    {"\xed\xa0\x80", false},   /* surrogate */
    {"\xf4\x90\x80\x80", false}, /* > U+10FFFF */
    {"\xff", false},
    {"line\nbreak", false},
    {"cr\r", false},
    {"del\x7f", false},
    /* Longer than a word: the 8-byte fast path and its fall-backs. */
    {"printable ascii text of some length, as in logs", true},
    {"sixteen bytes ok\tthen a tab, allowed", true},
    {"eight ok" "\x7f" "DEL in the second word", false},
    {"0123456789ab" "\x01" "cdef", false},
    {"0123456789abcde\n", false},
    {"abcdefgh" "caf\xc3\xa9" " and more ascii after", true},
    {"abcdefgh" "\xc3\x28" " invalid continuation", false},
    {"abcdefghabcdefgh" "\xf0\x9f\x98\x80", true},
    {"abcdefghabcdefg" "\xe2\x82", false},
};

START_TEST(test_text_ok)
{
    const char *s = utf8_cases[_i].text;

    ck_assert_int_eq(tr_text_ok(s, strlen(s)), utf8_cases[_i].ok);
}
END_TEST

START_TEST(test_event_check)
{
    struct tr_failure failure = {.result = TR_RESULT_CERTIFICATE_EXPIRED,
                                 .receiving_mx_hostname = "mx.example.com"};
    const char *strings[] = {"version: STSv1", "mode: enforce"};
    struct tr_policy policy = {.type = TR_POLICY_STS,
                               .strings = strings,
                               .n_strings = 2,
                               .failed = true,
                               .failures = &failure,
                               .n_failures = 1};
    struct tr_event event = {.domain = "example.com",
                             .record = "v=TLSRPTv1;rua=mailto:r@example.com",
                             .policies = &policy,
                             .n_policies = 1};
    const char *error = NULL;

    ck_assert_int_eq(tr_event_check(&event, &error), 0);
    /* Details on a success contradict themselves. */
    policy.failed = false;
    ck_assert_int_eq(tr_event_check(&event, &error), -1);
    ck_assert_str_eq(error, "failure details on a successful session");
    policy.failed = true;
    failure.receiving_ip = "192.0.2.1\n";
    ck_assert_int_eq(tr_event_check(&event, &error), -1);
    ck_assert_str_eq(error, "bad receiving-ip");
    failure.receiving_ip = NULL;
    event.n_policies = 0;
    ck_assert_int_eq(tr_event_check(&event, &error), -1);
    ck_assert_str_eq(error, "no policy");
    event.n_policies = 1;
    event.domain = "";
    ck_assert_int_eq(tr_event_check(&event, &error), -1);
    ck_assert_str_eq(error, "no policy domain");
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_result_names_exact);
    tcase_add_test(tc, test_policy_type_names);
    tcase_add_loop_test(tc, test_domain_normalize, 0, (int)UTIL_ARRAY_LEN(domain_cases));
    tcase_add_loop_test(tc, test_text_ok, 0, (int)UTIL_ARRAY_LEN(utf8_cases));
    tcase_add_test(tc, test_event_check);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(core_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
