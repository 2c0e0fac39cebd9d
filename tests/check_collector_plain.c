/*
 * check_collector_plain.c - Check suite of the collector's fast reader for
 * plain JSON: on every written-out case, the fuzz corpus, each prefix of it
 * and each byte of it replaced, the outcome (event, or reason and detail)
 * must be exactly json-c's; and the datagrams libtlsrpt writes go the fast way.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "core.h"
#include "util.h"
#include "collector_cases.h"

static struct collector_parser *fast, *json_c;

static void setup(void)
{
    fast = collector_parser_create(MAX_SIZE);
    json_c = collector_parser_create(MAX_SIZE);
    collector_parser_json_c_only(json_c, true);
}

static void teardown(void)
{
    collector_parser_destroy(fast);
    collector_parser_destroy(json_c);
}

static void put(struct buf *out, const char *name, const char *s)
{
    buf_printf(out, " %s=%s", name, s ? s : "(null)");
}

/* A parse's whole outcome as text. */
static void outcome(struct collector_parser *p, const char *data, size_t len, struct buf *out)
{
    const struct tr_event *e;
    enum collector_reject reason;
    const char *detail;

    buf_reset(out);
    if (collector_parse(p, data, len, WHEN, &e, &reason, &detail) < 0) {
        buf_printf(out, "rejected %s (%s)", collector_reject_name(reason), detail);
        return;
    }
    put(out, "d", e->domain);
    put(out, "pr", e->record);
    for (size_t i = 0; i < e->n_policies; i++) {
        const struct tr_policy *policy = &e->policies[i];
        buf_printf(out, " | type=%d failed=%d", (int)policy->type, (int)policy->failed);
        put(out, "domain", policy->domain);
        for (size_t j = 0; j < policy->n_strings; j++)
            put(out, "string", policy->strings[j]);
        for (size_t j = 0; j < policy->n_mx_hosts; j++)
            put(out, "mx", policy->mx_hosts[j]);
        for (size_t j = 0; j < policy->n_failures; j++) {
            const struct tr_failure *f = &policy->failures[j];
            buf_printf(out, " result=%d", (int)f->result);
            put(out, "s", f->sending_mta_ip);
            put(out, "n", f->receiving_mx_hostname);
            put(out, "h", f->receiving_mx_helo);
            put(out, "r", f->receiving_ip);
            put(out, "a", f->additional_information);
            put(out, "f", f->failure_reason_code);
        }
    }
}

/* Both readers give the same outcome; returns it (accepted or not). */
static bool same(const char *data, size_t len, const char *where)
{
    struct buf a, b;

    buf_init(&a);
    buf_init(&b);
    outcome(fast, data, len, &a);
    outcome(json_c, data, len, &b);
    ck_assert_msg(strcmp(buf_cstr(&a), buf_cstr(&b)) == 0,
                  "%s: the fast reader gives\n  %s\njson-c gives\n  %s\nfor %.*s", where,
                  buf_cstr(&a), buf_cstr(&b), (int)len, data);
    bool accepted = strncmp(buf_cstr(&a), "rejected", 8) != 0;
    buf_free(&a);
    buf_free(&b);
    return accepted;
}

START_TEST(test_cases_same)
{
    const struct reject_case *c = &reject_cases[_i];

    ck_assert(!same(c->datagram, case_len(c), c->name));
}
END_TEST

/* Bytes that change what JSON means, and some it must refuse. */
static const char replacements[] = {'"', '\\', '{', '}', '[', ']', ',', ':',    ' ',    '\n',  '0',
                                    '9', '-',  '.', 'e', 'x', 'u', 'n', '\x7f', '\x80', '\xc3'};

static void mutations_same(const char *data, size_t len, const char *where, size_t *accepted_r)
{
    char *copy = xmalloc(len + 1);

    for (size_t n = 0; n <= len; n++)
        *accepted_r += same(data, n, where);
    for (size_t i = 0; i < len; i++)
        for (size_t r = 0; r < sizeof(replacements); r++) {
            memcpy(copy, data, len);
            copy[i] = replacements[r];
            *accepted_r += same(copy, len, where);
        }
    free(copy);
}

/* Every corpus file, each prefix, each byte replaced by each of the bytes above. */
START_TEST(test_corpus_same)
{
    DIR *dir = opendir(FUZZ_CORPUS_DIR);
    struct dirent *entry;
    size_t files = 0, accepted = 0;

    ck_assert_msg(dir != NULL, "%s: cannot open", FUZZ_CORPUS_DIR);
    while ((entry = readdir(dir)) != NULL) {
        struct buf data;
        char *error, *path;
        if (entry->d_name[0] == '.')
            continue;
        path = path_join(FUZZ_CORPUS_DIR, entry->d_name);
        buf_init(&data);
        ck_assert_msg(file_read_all(path, MAX_SIZE, &data, &error) == 0, "%s", path);
        mutations_same(data.data, data.len, path, &accepted);
        buf_free(&data);
        free(path);
        files++;
    }
    closedir(dir);
    ck_assert_uint_ge(files, 20);
    /* Not every variant is a rejection: the comparison covered accepted events too. */
    ck_assert_uint_ge(accepted, 100);
}
END_TEST

/* The baseline datagram, mutated the same way. */
START_TEST(test_good_mutations_same)
{
    size_t accepted = 0;

    mutations_same(GOOD, strlen(GOOD), "GOOD", &accepted);
    ck_assert_uint_ge(accepted, 10);
}
END_TEST

/*
 * What libtlsrpt writes (spaces after colons, \r\n in the EHLO reply) is
 * read without json-c: a broken datagram of the same text still reaches it.
 */
START_TEST(test_libtlsrpt_shape_is_plain)
{
    const char *shape =
        "{\"dpv\": \"1\",\"d\": \"Example.COM.\",\"pr\": \"v=TLSRPTv1;rua=mailto:r@example.com\","
        "\"policies\":[{\"policy-type\":9,\"policy-domain\": \"example.com\","
        "\"failure-details\":[{\"c\":205,\"s\": \"192.0.2.10\",\"n\": \"mx.example.com\","
        "\"h\": \"250-mx.example.com\\r\\n250 SMTPUTF8\",\"r\": \"198.51.100.1\","
        "\"f\": \"self-signed_certificate\"}],\"t\":1,\"f\":1}]}";
    struct buf out;

    buf_init(&out);
    ck_assert(same(shape, strlen(shape), "shape"));
    ck_assert_uint_eq(collector_parser_json_c_reads(fast), 0);
    ck_assert_uint_eq(collector_parser_json_c_reads(json_c), 1);
    outcome(fast, shape, strlen(shape) - 1, &out);
    ck_assert_str_eq(buf_cstr(&out), "rejected bad-json (truncated)");
    ck_assert_uint_eq(collector_parser_json_c_reads(fast), 1);
    outcome(fast, shape, strlen(shape), &out);
    ck_assert_uint_eq(collector_parser_json_c_reads(fast), 1);
    ck_assert_str_eq(buf_cstr(&out),
                     " d=example.com pr=v=TLSRPTv1;rua=mailto:r@example.com | type=2 failed=1 "
                     "domain=example.com result=4 s=192.0.2.10 n=mx.example.com "
                     "h=mx.example.com r=198.51.100.1 a=(null) f=self-signed_certificate");
    buf_free(&out);
}
END_TEST

static Suite *collector_plain_suite(void)
{
    Suite *s = suite_create("collector_plain");
    TCase *tc = tcase_create("plain");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_cases_same, 0, (int)n_reject_cases);
    tcase_add_test(tc, test_corpus_same);
    tcase_add_test(tc, test_good_mutations_same);
    tcase_add_test(tc, test_libtlsrpt_shape_is_plain);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(collector_plain_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
