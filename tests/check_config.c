/*
 * check_config.c - Check suite of the config module: main.cf syntax, $name
 * expansion, limits and files (typed values, cfg_set() overrides and
 * printing are check_config_values.c's).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "util.h"
#include "config_capture.h"

/* ---- helpers ---- */

static void assert_load_error(const char *text, const char *expected)
{
    char *error;
    struct cfg *cfg = load(text, &error);

    ck_assert_msg(cfg == NULL, "loaded without error: %s", text);
    ck_assert_str_eq(error, expected);
    free(error);
}

static char *temp_file(const void *data, size_t len)
{
    char template[] = "/tmp/check_config.XXXXXX";
    int fd = mkstemp(template);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return xstrdup(template);
}

/* ---- the table ---- */

START_TEST(test_table_sorted_and_findable)
{
    for (size_t i = 0; i < cfg_param_count; i++) {
        if (i > 0)
            ck_assert_msg(strcmp(cfg_params[i - 1].name, cfg_params[i].name) < 0,
                          "%s is out of order", cfg_params[i].name);
        ck_assert_ptr_eq(cfg_param_find(cfg_params[i].name), &cfg_params[i]);
        ck_assert_msg(cfg_params[i].description[0] != '\0', "%s", cfg_params[i].name);
    }
    ck_assert_ptr_null(cfg_param_find("verbos"));
    ck_assert_ptr_null(cfg_param_find("verbosee"));
    ck_assert_ptr_null(cfg_param_find(""));
}
END_TEST

START_TEST(test_default_path)
{
    bool is_explicit = false;

    unsetenv("TLSRPTD_CONFIG");
    /* $(sysconfdir)/tlsrptd/tlsrptd.cf, from configure --sysconfdir (tests/install.sh). */
    ck_assert_str_eq(cfg_default_path(NULL, &is_explicit), DEF_CONFIG_FILE);
    ck_assert(!is_explicit);
    setenv("TLSRPTD_CONFIG", "", 1);
    ck_assert_str_eq(cfg_default_path(NULL, &is_explicit), DEF_CONFIG_FILE);
    ck_assert(!is_explicit);
    setenv("TLSRPTD_CONFIG", "/env.cf", 1);
    ck_assert_str_eq(cfg_default_path(NULL, &is_explicit), "/env.cf");
    ck_assert(is_explicit);
    ck_assert_str_eq(cfg_default_path("/x.cf", &is_explicit), "/x.cf");
    ck_assert(is_explicit);
    unsetenv("TLSRPTD_CONFIG");
}
END_TEST

/* ---- syntax and expansion: text, parameter, expected expanded value ---- */

static const struct {
    const char *text;
    const char *name;
    const char *value;
} value_cases[] = {
    /* defaults, and defaults that refer to other parameters */
    {"", "syslog_name", "tlsrptd"},
    {"", "control_socket", "/run/tlsrptd/control.sock"},
    {"runtime_directory = /tmp/r\n", "collector_socket", "/tmp/r/collector.sock"},
    /* comments and blank lines */
    {"# comment\n   # indented comment\n\n \t \nsyslog_name = a\n", "syslog_name", "a"},
    {"syslog_name = b # c\n", "syslog_name", "b # c"},
    /* whitespace around '=' and at the end */
    {"syslog_name=x", "syslog_name", "x"},
    {"syslog_name \t=  x y \t \n", "syslog_name", "x y"},
    {"syslog_name =\n", "syslog_name", ""},
    {"syslog_name = a\r\n", "syslog_name", "a"},
    /* continuation lines, also across comments */
    {"dns_resolvers = 192.0.2.1,\n    192.0.2.2  \n\t\t::1\n", "dns_resolvers",
     "192.0.2.1, 192.0.2.2 ::1"},
    {"syslog_name = a\n# note\n\n  b\n", "syslog_name", "a b"},
    {"syslog_name =\n  b\n", "syslog_name", "b"},
    /* last definition wins */
    {"syslog_name = a\nsyslog_name = b\n", "syslog_name", "b"},
    {"verbose = 7\nverbose = 1\n", "verbose", "1"},
    /* every expansion form */
    {"contact_info = c\nsyslog_name = $contact_info/x\n", "syslog_name", "c/x"},
    {"contact_info = c\nsyslog_name = ${contact_info}x\n", "syslog_name", "cx"},
    {"contact_info = c\nsyslog_name = $(contact_info)x\n", "syslog_name", "cx"},
    {"contact_info = c\nsyslog_name = <${contact_info?yes}>\n", "syslog_name", "<yes>"},
    {"syslog_name = <${contact_info?yes}>\n", "syslog_name", "<>"},
    {"syslog_name = <${contact_info:no}>\n", "syslog_name", "<no>"},
    {"contact_info = c\nsyslog_name = <${contact_info:no}>\n", "syslog_name", "<>"},
    {"contact_info = c\nsyslog_name = <$(contact_info?yes)>\n", "syslog_name", "<yes>"},
    {"syslog_name = <$(contact_info:no)>\n", "syslog_name", "<no>"},
    {"syslog_name = ${contact_info:{a}}\n", "syslog_name", "{a}"},
    /* the text part is expanded itself */
    {"organization_name = o\ncontact_info = c\n"
     "syslog_name = ${contact_info?$organization_name-${contact_info}}\n",
     "syslog_name", "o-c"},
    {"syslog_name = a$$b$$\n", "syslog_name", "a$b$"},
    {"syslog_name = $$contact_info\n", "syslog_name", "$contact_info"},
    /* expansion happens at lookup: later and undeclared definitions count */
    {"syslog_name = $later\nlater = x\n", "syslog_name", "x"},
    {"x_1 = v\nsyslog_name = ${x_1}\nx_1 = w\n", "syslog_name", "w"},
    {"syslog_name = $a$a\na = $b$b\nb = x\n", "syslog_name", "xxxx"},
};

START_TEST(test_values)
{
    char *error;
    struct cfg *cfg = load(value_cases[_i].text, &error);

    ck_assert_msg(cfg != NULL, "case %d: %s", _i, error ? error : "");
    ck_assert_str_eq(cfg_str(cfg, value_cases[_i].name), value_cases[_i].value);
    cfg_free(cfg);
}
END_TEST

static const struct {
    const char *text;
    const char *error;
} error_cases[] = {
    {"syslog_name x\n", "t.cf:1: missing '=' after parameter name"},
    {"\nsyslog_name\n", "t.cf:2: missing '=' after parameter name"},
    {"\nsys-log = x\n", "t.cf:2: bad parameter name \"sys-log\" (use letters, digits and _)"},
    {"x.y=1\n", "t.cf:1: bad parameter name \"x.y\" (use letters, digits and _)"},
    {"= x\n", "t.cf:1: missing parameter name before '='"},
    {"  syslog_name = x\n", "t.cf:1: continuation line before the first definition "
                            "(a definition must start at the beginning of a line)"},
    {"# c\n\n\tx\n", "t.cf:3: continuation line before the first definition "
                     "(a definition must start at the beginning of a line)"},
    {"syslog_name = $a\na = $syslog_name\n",
     "t.cf:1: parameter syslog_name: expansion loop via $syslog_name"},
    {"a = $syslog_name\n\nsyslog_name = x$a\n",
     "t.cf:3: parameter syslog_name: expansion loop via $syslog_name"},
    {"syslog_name = $nothere\n", "t.cf:1: parameter syslog_name: undefined parameter $nothere"},
    {"syslog_name = ${contact_info?$nothere}\ncontact_info = c\n",
     "t.cf:1: parameter syslog_name: undefined parameter $nothere"},
    {"syslog_name = ${contact_info\n",
     "t.cf:1: parameter syslog_name: unbalanced '{' in \"${contact_info\""},
    {"syslog_name = $(contact_info?(x)\n",
     "t.cf:1: parameter syslog_name: unbalanced '(' in \"$(contact_info?(x)\""},
    {"syslog_name = ${}\n", "t.cf:1: parameter syslog_name: missing parameter name after \"${\""},
    {"syslog_name = ${contact_info!x}\n",
     "t.cf:1: parameter syslog_name: unexpected '!' after \"${contact_info\" (expected '}', "
     "'?' or ':')"},
    {"syslog_name = a$\n", "t.cf:1: parameter syslog_name: '$' at the end of a value "
                           "(write $$ for a literal '$')"},
    {"syslog_name = a$ b\n", "t.cf:1: parameter syslog_name: '$' must be followed by a name, "
                             "'{', '(' or '$' in \"$ b\""},
    /* messages name the line of the winning definition */
    {"verbose = 1\n#\nverbose = 7\n", "t.cf:3: verbose = 7: out of range (0..3)"},
    {"state_directory = var/lib\n", "t.cf:1: state_directory = var/lib: not an absolute path"},
    /* the user's mistake is reported at its line, not through a default using it */
    {"runtime_directory = run\n", "t.cf:1: runtime_directory = run: not an absolute path"},
};

START_TEST(test_errors)
{
    assert_load_error(error_cases[_i].text, error_cases[_i].error);
}
END_TEST

START_TEST(test_unknown_names_warn)
{
    char *error = NULL;
    char *warnings;
    struct cfg *cfg;

    capture_begin();
    cfg = cfg_load_string("syslog_name = $my_name\n\nmy_name = x\n", "t.cf", &error);
    warnings = capture_end();
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(warnings, "tlsrpt: warning: t.cf:3: unknown parameter name \"my_name\"\n");
    ck_assert_str_eq(cfg_str(cfg, "syslog_name"), "x");
    free(warnings);
    cfg_free(cfg);
}
END_TEST

START_TEST(test_many_unknown_definitions_last_wins)
{
    struct buf text = {0};
    char *error;
    struct cfg *cfg;
    bool is_set;

    for (int i = 0; i < 3000; i++)
        buf_printf(&text, "u%d = %d\nu = %d\n", i % 100, i, i);
    buf_puts(&text, "syslog_name = $u-$u7\n");
    cfg = load(buf_cstr(&text), &error);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(cfg_str(cfg, "syslog_name"), "2999-2907");
    ck_assert_str_eq(cfg_raw(cfg, "u42", &is_set), "2942");
    ck_assert(is_set);
    cfg_free(cfg);
    buf_free(&text);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_line_limits)
{
    struct buf text = {0};
    char *error;
    struct cfg *cfg;

    /* exactly 4096 bytes is fine */
    buf_puts(&text, "syslog_name = ");
    while (text.len < 4096)
        buf_putc(&text, 'x');
    cfg = load(buf_cstr(&text), &error);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_uint_eq(strlen(cfg_str(cfg, "syslog_name")), 4096 - 14);
    cfg_free(cfg);

    buf_puts(&text, "x\n");
    assert_load_error(buf_cstr(&text), "t.cf:1: line too long (max 4096 bytes)");

    buf_reset(&text);
    buf_puts(&text, "#\nsyslog_name = a\n");
    for (int i = 0; i < 20; i++) {
        buf_putc(&text, ' ');
        for (int j = 0; j < 4000; j++)
            buf_putc(&text, 'y');
        buf_putc(&text, '\n');
    }
    assert_load_error(buf_cstr(&text), "t.cf:2: logical line too long (max 65536 bytes)");
    buf_free(&text);
}
END_TEST

START_TEST(test_expansion_limits)
{
    struct buf text = {0};

    /* a chain deeper than the limit */
    buf_puts(&text, "syslog_name = $a150\na0 = x\n");
    for (int i = 1; i <= 150; i++)
        buf_printf(&text, "a%d = $a%d\n", i, i - 1);
    assert_load_error(buf_cstr(&text),
                      "t.cf:1: parameter syslog_name: expansion too deep (more than 100 levels)");

    /* doubling at each level: cached, so fast, but the result is too long */
    buf_reset(&text);
    buf_puts(&text, "syslog_name = $b30\nb0 = x\n");
    for (int i = 1; i <= 30; i++)
        buf_printf(&text, "b%d = $b%d$b%d\n", i, i - 1, i - 1);
    assert_load_error(buf_cstr(&text), "t.cf:1: parameter syslog_name: expanded value too long "
                                       "(max 1048576 bytes)");
    buf_free(&text);
}
END_TEST

START_TEST(test_files)
{
    static const char with_nul[] = "syslog_name = a\nb\0c = d\n";
    char *path = temp_file(with_nul, sizeof(with_nul) - 1);
    char *expected = xasprintf("%s:2: NUL byte in line", path);
    char *error = NULL;
    struct cfg *cfg = cfg_load(path, true, &error);
    struct buf big = {0};

    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(error, expected);
    free(error);
    free(expected);
    unlink(path);
    free(path);

    /* a real file, and the path as given in messages */
    path = temp_file("verbose = 2\nverbose = 9\n", 24);
    expected = xasprintf("%s:2: verbose = 9: out of range (0..3)", path);
    ck_assert_ptr_null(cfg_load(path, false, &error));
    ck_assert_str_eq(error, expected);
    free(error);
    free(expected);
    unlink(path);

    /* missing: defaults, unless it must exist */
    cfg = cfg_load(path, false, &error);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(cfg_path(cfg), path);
    ck_assert_int_eq(cfg_int(cfg, "verbose"), 0);
    cfg_free(cfg);
    expected = xasprintf("%s: No such file or directory", path);
    ck_assert_ptr_null(cfg_load(path, true, &error));
    ck_assert_str_eq(error, expected);
    free(error);
    free(expected);
    free(path);

    /* larger than 4 MB */
    while (big.len <= 4 * 1024 * 1024)
        buf_puts(&big, "# padding padding padding padding padding padding padding\n");
    path = temp_file(big.data, big.len);
    ck_assert_ptr_null(cfg_load(path, true, &error));
    ck_assert_msg(strncmp(error, path, strlen(path)) == 0 && strstr(error, "too large"), "%s",
                  error);
    free(error);
    ck_assert_ptr_null(cfg_load_string(big.data, "big.cf", &error));
    ck_assert_str_eq(error, "big.cf: file too large (at most 4194304 bytes)");
    free(error);
    unlink(path);
    free(path);
    buf_free(&big);
}
END_TEST

/* A lenient load (tlsrpt status with a broken file): each refused line or value is a warning. */
START_TEST(test_lenient_load)
{
    static const char text[] = "state_directory = /srv/tlsrpt\n"
                               "this line is broken\n"
                               "verbose = 9\n"
                               "   continued\n"
                               "runtime_directory = /run/x\n"
                               "counter_retention = soon\n";
    char *path = temp_file(text, sizeof(text) - 1);
    char *error = NULL;
    char *warnings;
    struct cfg *cfg;

    ck_assert_ptr_null(cfg_load(path, true, &error));
    free(error);
    capture_begin();
    cfg = cfg_load_lenient(path, true, &error);
    warnings = capture_end();
    ck_assert_ptr_nonnull(cfg);
    char *expected = xasprintf(
        "tlsrpt: warning: %s:2: missing '=' after parameter name; line ignored\n"
        "tlsrpt: warning: %s:3: verbose = 9 continued: bad integer value (use decimal digits); "
        "the default is used instead\n"
        "tlsrpt: warning: %s:6: counter_retention = soon: bad time value (use a number with an "
        "optional unit s, m, h, d or w); the default is used instead\n",
        path, path, path);
    ck_assert_str_eq(warnings, expected);
    ck_assert_str_eq(cfg_str(cfg, "state_directory"), "/srv/tlsrpt");
    ck_assert_str_eq(cfg_str(cfg, "control_socket"), "/run/x/control.sock");
    ck_assert_int_eq(cfg_int(cfg, "verbose"), 0);
    ck_assert_int_eq(cfg_time(cfg, "counter_retention"), 14 * 86400);
    cfg_free(cfg);
    free(expected);
    free(warnings);
    unlink(path);
    free(path);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *suite = suite_create("config");
    TCase *syntax = tcase_create("syntax");

    tcase_add_test(syntax, test_table_sorted_and_findable);
    tcase_add_test(syntax, test_default_path);
    tcase_add_loop_test(syntax, test_values, 0, (int)UTIL_ARRAY_LEN(value_cases));
    tcase_add_loop_test(syntax, test_errors, 0, (int)UTIL_ARRAY_LEN(error_cases));
    tcase_add_test(syntax, test_unknown_names_warn);
    tcase_add_test(syntax, test_many_unknown_definitions_last_wins);
    tcase_add_test(syntax, test_line_limits);
    tcase_add_test(syntax, test_expansion_limits);
    tcase_add_test(syntax, test_files);
    tcase_add_test(syntax, test_lenient_load);
    tcase_set_timeout(syntax, 30);
    suite_add_tcase(suite, syntax);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(config_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
