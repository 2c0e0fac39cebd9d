/*
 * check_config_values.c - Check suite of the config module's values: typed
 * values and bounds, lists, cfg_set() overrides and caches, postconf-style
 * printing and the generated tlsrptd.cf(5) page.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "util.h"
#include "config_capture.h"

/* Runs cfg_print into memory. */
static char *print_to_string(struct cfg *cfg, enum cfg_print_mode mode, bool expand,
                             const char *const *names, int *status)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    ck_assert_ptr_nonnull(out);
    *status = cfg_print(cfg, out, mode, expand, names);
    fclose(out);
    return text;
}

/* ---- typed values through the table ---- */

#define BAD_TIME "bad time value (use a number with an optional unit s, m, h, d or w)"
#define BAD_SIZE "bad size value (use a number with an optional unit k, m or g)"
#define BAD_INT "bad integer value (use decimal digits)"
#define RETENTION "counter_retention"
#define SPACE "counter_string_space"
#define ENTRIES "counter_table_entries"

/* A bad value is reported as "t.cf:2: NAME = VALUE: " and the reason given here. */
static const struct {
    const char *name;
    const char *value;
    long long number; /* expected value, when reason is NULL */
    const char *reason;
} typed_cases[] = {
    {RETENTION, "14d", 14 * 86400, NULL},
    {RETENTION, "2w", 14 * 86400, NULL},
    {RETENTION, "24h", 86400, NULL},
    {RETENTION, "1440M", 86400, NULL},
    {RETENTION, "86400s", 86400, NULL},
    {RETENTION, "86400", 86400, NULL},
    {RETENTION, "366D", 366 * 86400, NULL},
    {RETENTION, "0", 0, "out of range (1d..366d)"},
    {RETENTION, "367d", 0, "out of range (1d..366d)"},
    {RETENTION, "5x", 0, BAD_TIME},
    {RETENTION, "-1d", 0, BAD_TIME},
    {RETENTION, "1dd", 0, BAD_TIME},
    {RETENTION, "", 0, BAD_TIME},
    {RETENTION, "99999999999999999999", 0, BAD_TIME},
    {RETENTION, "99999999999999w", 0, BAD_TIME},
    {SPACE, "64m", 64LL << 20, NULL},
    {SPACE, "1M", 1LL << 20, NULL},
    {SPACE, "1024k", 1LL << 20, NULL},
    {SPACE, "4g", 4LL << 30, NULL},
    {SPACE, "2G", 2LL << 30, NULL},
    {SPACE, "1048576", 1LL << 20, NULL},
    {SPACE, "1023k", 0, "out of range (1m..4g)"},
    {SPACE, "5g", 0, "out of range (1m..4g)"},
    {SPACE, "64mb", 0, BAD_SIZE},
    {SPACE, "18446744073709551616", 0, BAD_SIZE},
    {SPACE, "17179869184g", 0, BAD_SIZE},
    {ENTRIES, "262144", 262144, NULL},
    {ENTRIES, "+2048", 2048, NULL},
    {ENTRIES, "16777216", 16777216, NULL},
    {ENTRIES, "12", 0, "out of range (1024..16777216)"},
    {ENTRIES, "16777217", 0, "out of range (1024..16777216)"},
    {ENTRIES, "1e3", 0, BAD_INT},
    {ENTRIES, " 2048 ", 2048, NULL}, /* blanks around the value are not part of it */
    {"verbose", "-1", 0, "out of range (0..3)"},
    {"verbose", "-9223372036854775808", 0, "out of range (0..3)"},
    {"verbose", "-9223372036854775809", 0, BAD_INT},
    {"verbose", "", 0, BAD_INT},
    {"delivery_directory", "", 0, NULL},
    {"delivery_directory", "/srv/reports", 0, NULL},
    {"delivery_directory", "./reports", 0, "not an absolute path"},
    /* values with a syntax of their own: refused at start, reload and by tlsrpt conf */
    {"relayhost", "[127.0.0.1]:25", 0, NULL},
    {"relayhost", "mail.example", 0, NULL},
    {"relayhost", "[mail.example]:587", 0, NULL},
    {"relayhost", "[2001:db8::1]:25", 0, NULL},
    {"relayhost", "", 0, NULL},
    {"relayhost", "mail.example:smtp", 0, "bad port (1 to 65535)"},
    {"relayhost", "[127.0.0.1]:0", 0, "bad port (1 to 65535)"},
    {"relayhost", "[127.0.0.1", 0, "missing ']'"},
    {"relayhost", "[127.0.0.1]25", 0, "unexpected text after ']'"},
    {"relayhost", "[2001:db8::g]", 0, "bad IPv6 address"},
    {"relayhost", "mail/example", 0, "bad character in host name"},
    {"dns_resolvers", "192.0.2.1, 192.0.2.2:99999", 0,
     "\"192.0.2.2:99999\": bad port (1 to 65535)"},
    {"dns_resolvers", "ns.example", 0, "\"ns.example\": not an IP address"},
    {"dns_resolvers", "[::1]:53 [::1", 0, "\"[::1\": missing ']'"},
    {"dns_resolvers", "2001:db8::1:53x", 0, "\"2001:db8::1:53x\": bad IPv6 address"},
};

START_TEST(test_typed)
{
    char *text = xasprintf("\n%s = %s\n", typed_cases[_i].name, typed_cases[_i].value);
    char *error;
    struct cfg *cfg = load(text, &error);
    const struct cfg_param *param = cfg_param_find(typed_cases[_i].name);

    if (typed_cases[_i].reason != NULL) {
        char *expected = xasprintf("t.cf:2: %s = %s: %s", typed_cases[_i].name,
                                   typed_cases[_i].value, typed_cases[_i].reason);
        ck_assert_ptr_null(cfg);
        ck_assert_str_eq(error, expected);
        free(expected);
        free(error);
    } else {
        ck_assert_msg(cfg != NULL, "%s", error);
        if (param->type == CFG_TIME)
            ck_assert_int_eq(cfg_time(cfg, param->name), typed_cases[_i].number);
        else if (param->type == CFG_SIZE)
            ck_assert_uint_eq(cfg_size(cfg, param->name), (uint64_t)typed_cases[_i].number);
        else if (param->type == CFG_INT)
            ck_assert_int_eq(cfg_int(cfg, param->name), typed_cases[_i].number);
        else
            ck_assert_str_eq(cfg_str(cfg, param->name), typed_cases[_i].value);
        cfg_free(cfg);
    }
    free(text);
}
END_TEST

START_TEST(test_parsers)
{
    static const struct {
        const char *text;
        int value; /* -1: error */
    } bools[] = {{"yes", 1}, {"YES", 1},   {"true", 1},  {"On", 1},   {"1", 1},
                 {"no", 0},  {"False", 0}, {"off", 0},   {"0", 0},    {"", -1},
                 {"y", -1},  {"2", -1},    {"yes ", -1}, {"nope", -1}};
    const char *error = NULL;
    long long seconds = 0;
    uint64_t bytes = 0;
    bool flag;

    for (size_t i = 0; i < UTIL_ARRAY_LEN(bools); i++) {
        int status = cfg_parse_bool(bools[i].text, &flag, &error);
        ck_assert_msg(status == (bools[i].value < 0 ? -1 : 0), "%s", bools[i].text);
        if (status == 0)
            ck_assert_int_eq(flag, bools[i].value);
        else
            ck_assert_str_eq(error, "bad boolean value (use yes or no)");
    }
    ck_assert_int_eq(cfg_parse_time("9223372036854775807", &seconds, &error), 0);
    ck_assert_int_eq(seconds, 9223372036854775807LL);
    ck_assert_int_eq(cfg_parse_time("9223372036854775808", &seconds, &error), -1);
    ck_assert_int_eq(cfg_parse_time("15250284452471w", &seconds, &error), 0);
    ck_assert_int_eq(cfg_parse_time("15250284452472w", &seconds, &error), -1);
    ck_assert_int_eq(cfg_parse_size("18446744073709551615", &bytes, &error), 0);
    ck_assert_uint_eq(bytes, UINT64_MAX);
    ck_assert_int_eq(cfg_parse_size("17179869183g", &bytes, &error), 0);
    ck_assert_uint_eq(bytes, 17179869183ULL << 30);
    ck_assert_int_eq(cfg_parse_size(" 1k", &bytes, &error), -1);
    ck_assert_int_eq(cfg_parse_size("k", &bytes, &error), -1);
}
END_TEST

START_TEST(test_lists)
{
    static const struct {
        const char *value;
        const char *joined; /* items joined with '|' */
    } cases[] = {
        {"", ""},
        {" , ,", ""},
        {"::1", "::1"},
        {"192.0.2.1, 192.0.2.2,,::1\t[::1]", "192.0.2.1|192.0.2.2|::1|[::1]"},
        {"192.0.2.1:53,[2001:db8::1]:53", "192.0.2.1:53|[2001:db8::1]:53"},
    };

    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        char *text = xasprintf("dns_resolvers = %s\n", cases[i].value);
        char *error;
        struct cfg *cfg = load(text, &error);
        struct buf joined = {0};

        ck_assert_ptr_nonnull(cfg);
        for (const char *const *item = cfg_list(cfg, "dns_resolvers"); *item; item++)
            buf_printf(&joined, "%s%s", joined.len ? "|" : "", *item);
        ck_assert_str_eq(buf_cstr(&joined), cases[i].joined);
        /* cached: the same array again */
        ck_assert_ptr_eq(cfg_list(cfg, "dns_resolvers"), cfg_list(cfg, "dns_resolvers"));
        buf_free(&joined);
        cfg_free(cfg);
        free(text);
    }
}
END_TEST

/* ---- cfg_set and caches ---- */

START_TEST(test_set_overrides_and_invalidates)
{
    char *error;
    struct cfg *cfg = load("runtime_directory = /a\nsyslog_name = $x\nx = one\n", &error);
    const char *before = cfg_str(cfg, "control_socket");
    const char *const *list_before;
    bool is_set = true;

    ck_assert_str_eq(before, "/a/control.sock");
    ck_assert_int_eq(cfg_set(cfg, "runtime_directory", " /b ", &error), 0);
    ck_assert_str_eq(cfg_str(cfg, "control_socket"), "/b/control.sock");
    ck_assert_str_eq(before, "/a/control.sock"); /* still valid: lives as long as cfg */
    ck_assert_str_eq(cfg_raw(cfg, "runtime_directory", &is_set), "/b");
    ck_assert(is_set);
    ck_assert_str_eq(cfg_raw(cfg, "control_socket", &is_set), "$runtime_directory/control.sock");
    ck_assert(!is_set);
    ck_assert_ptr_null(cfg_raw(cfg, "nosuch", &is_set));
    ck_assert(!is_set);

    /* an undeclared name used by a declared one */
    ck_assert_int_eq(cfg_set(cfg, "x", "two", &error), 0);
    ck_assert_str_eq(cfg_str(cfg, "syslog_name"), "two");

    /* a bad value is refused and the old one kept */
    ck_assert_int_eq(cfg_set(cfg, "verbose", "9", &error), -1);
    ck_assert_str_eq(error, "-o: verbose = 9: out of range (0..3)");
    free(error);
    ck_assert_int_eq(cfg_int(cfg, "verbose"), 0);
    /* so is a change that breaks another parameter */
    ck_assert_int_eq(cfg_set(cfg, "x", "$syslog_name", &error), -1);
    ck_assert_str_eq(error, "t.cf:2: parameter syslog_name: expansion loop via $syslog_name");
    free(error);
    ck_assert_str_eq(cfg_str(cfg, "syslog_name"), "two");
    ck_assert_int_eq(cfg_set(cfg, "a-b", "1", &error), -1);
    ck_assert_str_eq(error, "bad parameter name \"a-b\" (use letters, digits and _)");
    free(error);

    /* new undeclared names become usable; lists are rebuilt */
    list_before = cfg_list(cfg, "dns_resolvers");
    ck_assert_ptr_null(list_before[0]);
    capture_begin();
    ck_assert_int_eq(cfg_set(cfg, "resolver", "192.0.2.53", &error), 0);
    free(capture_end());
    ck_assert_int_eq(cfg_set(cfg, "dns_resolvers", "$resolver, 192.0.2.54", &error), 0);
    ck_assert_str_eq(cfg_list(cfg, "dns_resolvers")[0], "192.0.2.53");
    ck_assert_str_eq(cfg_list(cfg, "dns_resolvers")[1], "192.0.2.54");
    ck_assert_int_eq(cfg_set(cfg, "verbose", "3", &error), 0);
    ck_assert_int_eq(cfg_int(cfg, "verbose"), 3);
    ck_assert_int_eq(cfg_validate(cfg, &error), 0);
    cfg_free(cfg);
}
END_TEST

START_TEST(test_expand)
{
    char *error = NULL;
    char *result;
    struct cfg *cfg = load("", &error);

    ck_assert_int_eq(cfg_expand(cfg, "${syslog_name}-$$-${verbose:x}", &result, &error), 0);
    ck_assert_str_eq(result, "tlsrptd-$-");
    free(result);
    ck_assert_int_eq(cfg_expand(cfg, "$nothing", &result, &error), -1);
    ck_assert_ptr_null(result);
    ck_assert_str_eq(error, "undefined parameter $nothing");
    free(error);
    cfg_free(cfg);
}
END_TEST

/* ---- printing ---- */

static const char print_text[] = "verbose = 2\n"
                                 "zzz = 1\n"
                                 "syslog_name = $contact_info x\n"
                                 "contact_info = c\n"
                                 "aaa = $$\n"
                                 "runtime_directory = /r\n";

START_TEST(test_print_nondefault)
{
    char *error;
    struct cfg *cfg = load(print_text, &error);
    int status;
    char *text = print_to_string(cfg, CFG_PRINT_NONDEFAULT, false, NULL, &status);

    ck_assert_int_eq(status, 0);
    ck_assert_str_eq(text, "aaa = $$\ncontact_info = c\nruntime_directory = /r\n"
                           "syslog_name = $contact_info x\nverbose = 2\nzzz = 1\n");
    free(text);
    text = print_to_string(cfg, CFG_PRINT_NONDEFAULT, true, NULL, &status);
    ck_assert_str_eq(text, "aaa = $\ncontact_info = c\nruntime_directory = /r\n"
                           "syslog_name = c x\nverbose = 2\nzzz = 1\n");
    free(text);
    cfg_free(cfg);
}
END_TEST

START_TEST(test_print_all_and_defaults)
{
    char *error;
    struct cfg *cfg = load(print_text, &error);
    struct buf expected = {0};
    int status;
    char *text;

    for (size_t i = 0; i < cfg_param_count; i++) {
        const char *value = cfg_params[i].default_value;
        buf_printf(&expected, "%s =%s%s\n", cfg_params[i].name, *value ? " " : "", value);
    }
    text = print_to_string(cfg, CFG_PRINT_DEFAULTS, false, NULL, &status);
    ck_assert_int_eq(status, 0);
    ck_assert_str_eq(text, buf_cstr(&expected));
    free(text);
    text = print_to_string(NULL, CFG_PRINT_DEFAULTS, false, NULL, &status);
    ck_assert_str_eq(text, buf_cstr(&expected));
    free(text);

    text = print_to_string(cfg, CFG_PRINT_ALL, true, NULL, &status);
    ck_assert_int_eq(status, 0);
    ck_assert_ptr_nonnull(strstr(text, "\ncontrol_socket = /r/control.sock\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nverbose = 2\n"));
    ck_assert_ptr_null(strstr(text, "zzz"));
    free(text);

    text = print_to_string(cfg, CFG_PRINT_ALL, false, NULL, &status);
    ck_assert_ptr_nonnull(strstr(text, "control_socket = $runtime_directory/control.sock\n"));
    free(text);
    buf_free(&expected);
    cfg_free(cfg);
}
END_TEST

START_TEST(test_print_names)
{
    static const char *const names[] = {"control_socket", "zzz", "contact_info", "verbose", NULL};
    static const char *const with_unknown[] = {"verbose", "nosuch", "syslog_name", NULL};
    char *error;
    struct cfg *cfg = load(print_text, &error);
    int status;
    char *text, *warnings;

    text = print_to_string(cfg, CFG_PRINT_ALL, true, names, &status);
    ck_assert_int_eq(status, 0);
    ck_assert_str_eq(text, "control_socket = /r/control.sock\nzzz = 1\ncontact_info = c\n"
                           "verbose = 2\n");
    free(text);

    /* -n skips names that are not set; -d knows only declared ones */
    text = print_to_string(cfg, CFG_PRINT_NONDEFAULT, false, names, &status);
    ck_assert_int_eq(status, 0);
    ck_assert_str_eq(text, "zzz = 1\ncontact_info = c\nverbose = 2\n");
    free(text);
    capture_begin();
    text = print_to_string(cfg, CFG_PRINT_DEFAULTS, true, names, &status);
    warnings = capture_end();
    ck_assert_int_eq(status, -1);
    ck_assert_str_eq(text, "control_socket = /run/tlsrptd/control.sock\ncontact_info =\n"
                           "verbose = 0\n");
    ck_assert_str_eq(warnings, "tlsrpt: warning: zzz: unknown parameter\n");
    free(text);
    free(warnings);

    capture_begin();
    text = print_to_string(cfg, CFG_PRINT_ALL, false, with_unknown, &status);
    warnings = capture_end();
    ck_assert_int_eq(status, -1);
    ck_assert_str_eq(text, "verbose = 2\nsyslog_name = $contact_info x\n");
    ck_assert_str_eq(warnings, "tlsrpt: warning: nosuch: unknown parameter\n");
    free(text);
    free(warnings);
    cfg_free(cfg);
}
END_TEST

START_TEST(test_print_broken_undeclared)
{
    char *error;
    struct cfg *cfg = load("zzz = ${oops\n", &error);
    int status;
    char *text, *warnings;

    /* only declared parameters are validated; showing a broken unused one warns */
    ck_assert_ptr_nonnull(cfg);
    capture_begin();
    text = print_to_string(cfg, CFG_PRINT_NONDEFAULT, true, NULL, &status);
    warnings = capture_end();
    ck_assert_int_eq(status, -1);
    ck_assert_str_eq(text, "zzz = ${oops\n");
    ck_assert_str_eq(warnings, "tlsrpt: warning: zzz: unbalanced '{' in \"${oops\"\n");
    free(text);
    free(warnings);
    cfg_free(cfg);
}
END_TEST

START_TEST(test_man_page)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    cfg_print_man(out);
    fclose(out);
    ck_assert_int_eq(strncmp(text, ".TH TLSRPTD.CF 5 ", 17), 0);
    for (size_t i = 0; i < cfg_param_count; i++) {
        char *entry = xasprintf("\n.TP\n.B %s\n(", cfg_params[i].name);
        ck_assert_msg(strstr(text, entry) != NULL, "no entry for %s", cfg_params[i].name);
        free(entry);
    }
    ck_assert_ptr_nonnull(strstr(text, "\n.SH SYNOPSIS\n"));
    ck_assert_ptr_nonnull(strstr(text, "\n.SH DESCRIPTION\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "(integer; default: \\fB16777216\\fR; range: 1024..16777216)"));
    ck_assert_ptr_nonnull(strstr(text, "(path; default: \\fB/run/tlsrptd\\fR)"));
    ck_assert_ptr_nonnull(strstr(text, "(string; default: empty)"));
    ck_assert_ptr_nonnull(strstr(text, "(time; default: \\fB14d\\fR; range: 1d..366d)"));
    ck_assert_ptr_nonnull(strstr(text, "\n.SH SEE ALSO\n.BR tlsrpt (1),\n.BR tlsrptd (8)\n"));
    free(text);
}
END_TEST

static Suite *config_values_suite(void)
{
    Suite *suite = suite_create("config_values");
    TCase *types = tcase_create("types");
    TCase *set = tcase_create("set");
    TCase *print = tcase_create("print");

    tcase_add_loop_test(types, test_typed, 0, (int)UTIL_ARRAY_LEN(typed_cases));
    tcase_add_test(types, test_parsers);
    tcase_add_test(types, test_lists);
    suite_add_tcase(suite, types);

    tcase_add_test(set, test_set_overrides_and_invalidates);
    tcase_add_test(set, test_expand);
    suite_add_tcase(suite, set);

    tcase_add_test(print, test_print_nondefault);
    tcase_add_test(print, test_print_all_and_defaults);
    tcase_add_test(print, test_print_names);
    tcase_add_test(print, test_print_broken_undeclared);
    tcase_add_test(print, test_man_page);
    suite_add_tcase(suite, print);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(config_values_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
