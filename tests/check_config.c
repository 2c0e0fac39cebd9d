/*
 * check_config.c - Check suite of the config module: main.cf syntax, $name
 * expansion, typed values and bounds, cfg_set() overrides, postconf-style
 * printing and the generated tlsrptd.cf(5) page.
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

/* ---- helpers ---- */

/*
 * stderr is sent to a temporary file around calls that warn, so tests can
 * check warnings and the output of the run stays readable.
 */
static int saved_stderr = -1;
static FILE *capture_file;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    ck_assert_ptr_nonnull(capture_file);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_stderr, 0);
    ck_assert_int_ge(dup2(fileno(capture_file), STDERR_FILENO), 0);
}

static char *capture_end(void)
{
    struct buf text = {0};
    char chunk[4096];
    size_t n;

    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    rewind(capture_file);
    while ((n = fread(chunk, 1, sizeof(chunk), capture_file)) > 0)
        buf_append(&text, chunk, n);
    fclose(capture_file);
    return buf_steal(&text);
}

/* Loads text as "t.cf"; warnings are swallowed. */
static struct cfg *load(const char *text, char **error)
{
    struct cfg *cfg;

    *error = NULL;
    capture_begin();
    cfg = cfg_load_string(text, "t.cf", error);
    free(capture_end());
    return cfg;
}

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
    ck_assert_str_eq(cfg_default_path(NULL, &is_explicit), "/etc/tlsrptd/tlsrptd.cf");
    ck_assert(!is_explicit);
    setenv("TLSRPTD_CONFIG", "", 1);
    ck_assert_str_eq(cfg_default_path(NULL, &is_explicit), "/etc/tlsrptd/tlsrptd.cf");
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
    {"dns_resolvers = a,\n    b  \n\t\tc\n", "dns_resolvers", "a, b c"},
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
        {"a", "a"},
        {"a, b,,c\td", "a|b|c|d"},
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
        strstr(text, "(integer; default: \\fB65536\\fR; range: 1024..16777216)"));
    ck_assert_ptr_nonnull(strstr(text, "(path; default: \\fB/run/tlsrptd\\fR)"));
    ck_assert_ptr_nonnull(strstr(text, "(string; default: empty)"));
    ck_assert_ptr_nonnull(strstr(text, "(time; default: \\fB14d\\fR; range: 1d..366d)"));
    ck_assert_ptr_nonnull(strstr(text, "\n.SH SEE ALSO\n.BR tlsrpt (1),\n.BR tlsrptd (8)\n"));
    free(text);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *suite = suite_create("config");
    TCase *syntax = tcase_create("syntax");
    TCase *types = tcase_create("types");
    TCase *set = tcase_create("set");
    TCase *print = tcase_create("print");

    tcase_add_test(syntax, test_table_sorted_and_findable);
    tcase_add_test(syntax, test_default_path);
    tcase_add_loop_test(syntax, test_values, 0, (int)UTIL_ARRAY_LEN(value_cases));
    tcase_add_loop_test(syntax, test_errors, 0, (int)UTIL_ARRAY_LEN(error_cases));
    tcase_add_test(syntax, test_unknown_names_warn);
    tcase_add_test(syntax, test_many_unknown_definitions_last_wins);
    tcase_add_test(syntax, test_line_limits);
    tcase_add_test(syntax, test_expansion_limits);
    tcase_add_test(syntax, test_files);
    tcase_set_timeout(syntax, 30);
    suite_add_tcase(suite, syntax);

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
    SRunner *runner = srunner_create(config_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
