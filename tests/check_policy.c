/*
 * check_policy.c - Check suite of the policy module without a network: the
 * RFC 8461 TXT record and policy grammars and the mx pattern match as case
 * tables, and the cache file format read back after it was written.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_impl.h"
#include "policy.h"
#include "util.h"

static const struct {
    const char *text;
    const char *id;    /* NULL: must fail */
    const char *error; /* the exact error when it fails */
} record_cases[] = {
    {"v=STSv1; id=20160831085700Z;", "20160831085700Z", NULL},
    {"v=STSv1;id=abc", "abc", NULL},
    {"v=STSv1; id=abc ; ", "abc", NULL},
    {"v=STSv1;\tid=X1\t;\t", "X1", NULL},
    {"v=STSv1; id=12345678901234567890123456789012", "12345678901234567890123456789012", NULL},
    {"v=STSv1; ext-1=val.ue; id=abc; x_y=z", "abc", NULL},
    {"v=STSv1; id=123456789012345678901234567890123", NULL,
     "id must be 1-32 letters and digits: \"v=STSv1; id=123456789012345678901234567890123\""},
    {"v=STSv1; id=", NULL, "id must be 1-32 letters and digits: \"v=STSv1; id=\""},
    {"v=STSv1; id=ab-c", NULL, "id must be 1-32 letters and digits: \"v=STSv1; id=ab-c\""},
    {"v=STSv1; id=a; id=b", NULL, "more than one id field: \"v=STSv1; id=a; id=b\""},
    {"v=STSv1;", NULL, "no id field: \"v=STSv1;\""},
    {"v=STSv1", NULL, "no id field: \"v=STSv1\""},
    {"v=STSv2; id=abc", NULL,
     "not an MTA-STS record (must start with v=STSv1): \"v=STSv2; id=abc\""},
    {"v=STSv10; id=abc", NULL, "bad version field: \"v=STSv10; id=abc\""},
    {"v=stsv1; id=abc", NULL,
     "not an MTA-STS record (must start with v=STSv1): \"v=stsv1; id=abc\""},
    {" v=STSv1; id=abc", NULL,
     "not an MTA-STS record (must start with v=STSv1): \" v=STSv1; id=abc\""},
    {"v=STSv1 id=abc", NULL, "expected ';' between fields: \"v=STSv1 id=abc\""},
    {"v=STSv1; id", NULL, "field without '=': \"v=STSv1; id\""},
    {"v=STSv1; id=abc; x=a=b", NULL, "bad extension field: \"v=STSv1; id=abc; x=a=b\""},
    {"v=STSv1; id=abc; -x=1", NULL, "bad extension field: \"v=STSv1; id=abc; -x=1\""},
    {"v=STSv1; id=abc; x=\x01", NULL, "bad extension field: \"v=STSv1; id=abc; x=\\x01\""},
};

START_TEST(test_record)
{
    char id[POL_ID_MAX + 1] = "unchanged";
    char *error = NULL;
    const char *text = record_cases[_i].text;
    int status = pol_record_parse(text, strlen(text), id, &error);

    if (record_cases[_i].id) {
        ck_assert_msg(status == 0, "%s: %s", text, error);
        ck_assert_str_eq(id, record_cases[_i].id);
    } else {
        ck_assert_int_eq(status, -1);
        ck_assert_str_eq(error, record_cases[_i].error);
        free(error);
    }
}
END_TEST

#define ENFORCE_BODY "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n"

static const struct {
    const char *text;
    const char *parsed; /* "MODE MAX_AGE mx,mx" or NULL */
    const char *error;
} policy_cases[] = {
    {ENFORCE_BODY, "enforce 86400 mail.example.com", NULL},
    {"version: STSv1\r\nmode: testing\r\nmx: a.example\r\nmx: *.b.example\r\nmax_age: 0\r\n",
     "testing 0 a.example,*.b.example", NULL},
    {"version: STSv1\nmode: none\nmax_age: 31557600", "none 31557600 ", NULL},
    {"version:STSv1\nmode:enforce\nmx:A.Example\nmax_age:5", "enforce 5 a.example", NULL},
    {"version: STSv1 \nmode:  enforce\t\nmx:\ta.example \nmax_age: 5\n\n", "enforce 5 a.example",
     NULL},
    /* the first occurrence of a repeated key wins; mx repeats */
    {"version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 5\nmax_age: 9\n"
     "mx: c.example\n",
     "testing 5 a.example,c.example", NULL},
    {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\nmode: bogus\n",
     "enforce 5 a.example", NULL},
    /* unknown keys ignored */
    {"version: STSv1\nx-ext: what ever\nmode: enforce\nmx: a.example\nmax_age: 5\n",
     "enforce 5 a.example", NULL},
    {"mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 5\n", NULL,
     "line 1: the first line must be \"version: STSv1\": \"mode: enforce\""},
    {"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 5\n", NULL,
     "line 1: the first line must be \"version: STSv1\": \"version: STSv2\""},
    {"", NULL, "empty policy"},
    {"version: STSv1\nmx: a.example\nmax_age: 5\n", NULL, "no mode field"},
    {"version: STSv1\nmode: enforce\nmx: a.example\n", NULL, "no max_age field"},
    {"version: STSv1\nmode: enforce\nmax_age: 5\n", NULL, "no mx field (required in mode enforce)"},
    {"version: STSv1\nmode: testing\nmax_age: 5\n", NULL, "no mx field (required in mode testing)"},
    {"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 5\n", NULL,
     "line 2: mode must be enforce, testing or none: \"Enforce\""},
    {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", NULL,
     "line 4: max_age must be 0 to 31557600: \"31557601\""},
    {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", NULL,
     "line 4: max_age must be 0 to 31557600: \"-1\""},
    {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1d\n", NULL,
     "line 4: max_age must be 0 to 31557600: \"1d\""},
    {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n", NULL,
     "line 4: max_age must be 0 to 31557600: \"99999999999\""},
    {"version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 5\n", NULL,
     "line 3: bad mx pattern: \"*.*.example\""},
    {"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 5\n", NULL,
     "line 3: bad mx pattern: \"a..example\""},
    {"version: STSv1\nmode: enforce\nmx: *example\nmax_age: 5\n", NULL,
     "line 3: bad mx pattern: \"*example\""},
    {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age 5\n", NULL,
     "line 4: not a \"key: value\" line: \"max_age 5\""},
    {"version: STSv1\nmode: enforce\rmx: a.example\nmax_age: 5\n", NULL,
     "line 2: stray CR or NUL: \"mode: enforce\\x0dmx: a.example\""},
};

static char *render_policy(const struct pol_policy *policy)
{
    struct buf out = {0};

    buf_printf(&out, "%s %ld ", pol_mode_name(policy->mode), policy->max_age);
    for (size_t i = 0; i < policy->n_mx; i++)
        buf_printf(&out, "%s%s", i ? "," : "", policy->mx[i]);
    return buf_steal(&out);
}

START_TEST(test_policy)
{
    struct pol_policy policy;
    char *error = NULL;
    const char *text = policy_cases[_i].text;
    int status = pol_policy_parse(text, strlen(text), &policy, &error);

    if (policy_cases[_i].parsed) {
        ck_assert_msg(status == 0, "case %d: %s", _i, error);
        char *parsed = render_policy(&policy);
        ck_assert_str_eq(parsed, policy_cases[_i].parsed);
        free(parsed);
        pol_policy_free(&policy);
    } else {
        ck_assert_int_eq(status, -1);
        ck_assert_str_eq(error, policy_cases[_i].error);
        ck_assert_int_eq(policy.n_mx, 0);
        free(error);
    }
}
END_TEST

/* 64 KB is the cap; 65 mx lines are one too many. */
START_TEST(test_policy_limits)
{
    struct buf text = {0};
    struct pol_policy policy;
    char *error = NULL;

    buf_puts(&text, "version: STSv1\nmode: enforce\nmax_age: 5\n");
    for (int i = 0; i < 64; i++)
        buf_printf(&text, "mx: m%d.example\n", i);
    ck_assert_int_eq(pol_policy_parse(text.data, text.len, &policy, &error), 0);
    ck_assert_int_eq(policy.n_mx, 64);
    pol_policy_free(&policy);
    buf_puts(&text, "mx: m64.example\n");
    ck_assert_int_eq(pol_policy_parse(text.data, text.len, &policy, &error), -1);
    ck_assert_str_eq(error, "line 68: more than 64 mx patterns: \"m64.example\"");
    free(error);
    buf_reset(&text);
    buf_puts(&text, ENFORCE_BODY);
    while (text.len <= POL_BODY_MAX)
        buf_puts(&text, "x-padding: 0123456789012345678901234567890123456789\n");
    ck_assert_int_eq(pol_policy_parse(text.data, text.len, &policy, &error), -1);
    char *expected = xasprintf("policy is %zu bytes, more than 65536", text.len);
    ck_assert_str_eq(error, expected);
    free(expected);
    free(error);
    buf_free(&text);
}
END_TEST

static const struct {
    const char *pattern;
    const char *host;
    bool match;
} mx_cases[] = {
    {"mail.example.com", "mail.example.com", true},
    {"mail.example.com", "MAIL.Example.COM.", true},
    {"mail.example.com", "mail2.example.com", false},
    {"*.example.net", "mx1.example.net", true},
    {"*.example.net", "MX1.EXAMPLE.NET.", true},
    {"*.example.net", "a.b.example.net", false}, /* exactly one label */
    {"*.example.net", "example.net", false},
    {"*.example.net", ".example.net", false},
    {"*.example.net", "mx1.example.network", false},
    {"*.example.net", "mx1xexample.net", false},
    {"example.net", "mx.example.net", false},
};

START_TEST(test_mx_match)
{
    ck_assert_msg(pol_mx_match(mx_cases[_i].pattern, mx_cases[_i].host) == mx_cases[_i].match,
                  "%s vs %s", mx_cases[_i].pattern, mx_cases[_i].host);
}
END_TEST

/* What the cache writes, it reads back; a damaged file is refused with its line. */
START_TEST(test_entry_round_trip)
{
    struct pol_entry entry = {0}, back;
    struct buf text = {0};
    char *error = NULL;

    entry.domain = xstrdup("example.com");
    snprintf(entry.id, sizeof(entry.id), "abc1");
    entry.policy_text = xstrdup(ENFORCE_BODY);
    ck_assert_int_eq(pol_policy_parse(ENFORCE_BODY, strlen(ENFORCE_BODY), &entry.policy, &error),
                     0);
    entry.fetched = 1700000000;
    entry.last_used = 1700000100;
    entry.failure = POL_FAIL_WEBPKI;
    entry.last_error = xstrdup("certificate not valid");
    snprintf(entry.failed_id, sizeof(entry.failed_id), "abc2");
    entry.next_retry = 1700000400;
    entry.retry_delay = 300;
    pol_entry_format(&entry, &text);
    ck_assert_str_eq(text.data, "tlsrptd-sts 1\ndomain example.com\nid abc1\nfetched 1700000000\n"
                                "last_used 1700000100\nfailure sts-webpki-invalid\n"
                                "failed_id abc2\nnext_retry 1700000400\nretry_delay 300\n"
                                "error certificate not valid\npolicy 65\n" ENFORCE_BODY);
    ck_assert_int_eq(pol_entry_parse(text.data, text.len, &back, &error), 0);
    ck_assert_str_eq(back.domain, "example.com");
    ck_assert_str_eq(back.id, "abc1");
    ck_assert_str_eq(back.failed_id, "abc2");
    ck_assert_str_eq(back.policy_text, ENFORCE_BODY);
    ck_assert_str_eq(back.last_error, "certificate not valid");
    ck_assert_int_eq(back.failure, POL_FAIL_WEBPKI);
    ck_assert_int_eq(back.fetched, 1700000000);
    ck_assert_int_eq(back.next_retry, 1700000400);
    ck_assert_int_eq(back.policy.max_age, 86400);
    pol_entry_clear(&back);
    /* cut inside the policy: refused */
    ck_assert_int_eq(pol_entry_parse(text.data, text.len - 3, &back, &error), -1);
    ck_assert_str_eq(error, "line 11: truncated or damaged");
    free(error);
    ck_assert_int_eq(pol_entry_parse("something else\n", 15, &back, &error), -1);
    ck_assert_str_eq(error, "not a policy cache file (first line)");
    free(error);
    pol_entry_clear(&entry);
    buf_free(&text);
}
END_TEST

static bool file_exists(const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    bool exists = access(path, F_OK) == 0;
    free(path);
    return exists;
}

/* Least recently used out first, but never one being fetched; files follow. */
START_TEST(test_cache_lru)
{
    char dir[] = "/tmp/check_policy.XXXXXX";
    struct pol_cache cache;
    struct pol_entry *a, *b, *c, *d;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    pol_cache_open(&cache, dir, 2);
    a = pol_cache_add(&cache, "a.example");
    pol_cache_save(&cache, a);
    b = pol_cache_add(&cache, "b.example");
    pol_cache_save(&cache, b);
    pol_cache_touch(&cache, a, 100);
    c = pol_cache_add(&cache, "c.example"); /* b is the least recently used */
    pol_cache_save(&cache, c);
    ck_assert_ptr_null(pol_cache_find(&cache, "b.example"));
    ck_assert(!file_exists(dir, "b.example.sts"));
    ck_assert_ptr_eq(pol_cache_find(&cache, "a.example"), a);
    ck_assert(file_exists(dir, "a.example.sts") && file_exists(dir, "c.example.sts"));
    a->fetching = true; /* a is now the oldest, but busy: c goes */
    d = pol_cache_add(&cache, "d.example");
    pol_cache_save(&cache, d);
    ck_assert_ptr_null(pol_cache_find(&cache, "c.example"));
    ck_assert_int_eq(cache.n_entries, 2);
    a->fetching = false;
    pol_cache_close(&cache);

    /* Read back at start-up; a damaged file is moved aside, foreign names ignored. */
    char *damaged = path_join(dir, "x.example.sts"), *foreign = path_join(dir, "notes.txt");
    char *error = NULL;
    ck_assert_int_eq(file_write_atomic(damaged, "garbage\n", 8, 0600, &error), 0);
    ck_assert_int_eq(file_write_atomic(foreign, "hello\n", 6, 0600, &error), 0);
    pol_cache_open(&cache, dir, 16);
    ck_assert_int_eq(cache.n_entries, 2);
    ck_assert_ptr_nonnull(pol_cache_find(&cache, "a.example"));
    ck_assert_ptr_nonnull(pol_cache_find(&cache, "d.example"));
    ck_assert(file_exists(dir, "x.example.sts.damaged") && !file_exists(dir, "x.example.sts"));
    ck_assert(file_exists(dir, "notes.txt"));
    pol_cache_close(&cache);
    free(damaged);
    free(foreign);
    ck_assert_int_eq(dir_remove_tree(dir), 0);
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("grammar");

    tcase_add_loop_test(tc, test_record, 0, (int)UTIL_ARRAY_LEN(record_cases));
    tcase_add_loop_test(tc, test_policy, 0, (int)UTIL_ARRAY_LEN(policy_cases));
    tcase_add_test(tc, test_policy_limits);
    tcase_add_loop_test(tc, test_mx_match, 0, (int)UTIL_ARRAY_LEN(mx_cases));
    tcase_add_test(tc, test_entry_round_trip);
    tcase_add_test(tc, test_cache_lru);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(policy_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
