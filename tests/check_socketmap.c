/*
 * check_socketmap.c - Check suite of the socketmap wire format: the
 * netstring reader split at every byte, every kind of bad input with its
 * error, the request split and reply framing with their limits.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "socketmap.h"
#include "util.h"

/* The netstring reader -------------------------------------------------- */

static const struct {
    const char *stream;
    size_t len;
    const char *payloads[4];
} good_streams[] = {
    {"3:abc,", 6, {"abc"}},
    {"0:,", 3, {""}},
    {"3:abc,0:,12:hello world!,", 25, {"abc", "", "hello world!"}},
    {"19:postfix example.com,", 23, {"postfix example.com"}},
    {"4:a,b,,1:,,", 11, {"a,b,", ","}},
};

/* Feeds stream in pieces that end at the given offsets; collects payloads joined by '|'. */
static int feed_pieces(struct smap_reader *r, const char *stream, size_t len, const size_t *cuts,
                       size_t n_cuts, struct buf *got)
{
    size_t start = 0;

    for (size_t k = 0; k <= n_cuts; k++) {
        size_t end = k < n_cuts ? cuts[k] : len;
        while (start < end) {
            size_t used;
            int status = smap_reader_feed(r, stream + start, end - start, &used);
            start += used;
            if (status < 0)
                return -1;
            if (status == 1) {
                buf_append(got, r->data.data ? r->data.data : "", r->data.len);
                buf_putc(got, '|');
                smap_reader_next(r);
            } else {
                ck_assert_uint_eq(start, end);
            }
        }
    }
    return 0;
}

static void expected_payloads(int i, struct buf *want)
{
    for (int k = 0; k < 4 && good_streams[i].payloads[k]; k++) {
        buf_puts(want, good_streams[i].payloads[k]);
        buf_putc(want, '|');
    }
}

START_TEST(test_reader_split_everywhere)
{
    const char *stream = good_streams[_i].stream;
    size_t len = good_streams[_i].len;
    struct buf want = {0}, got = {0};

    expected_payloads(_i, &want);
    /* One cut at every offset, two cuts at every pair, and one byte at a time. */
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            struct smap_reader r;
            size_t cuts[2] = {a, b};
            smap_reader_init(&r, 100);
            buf_reset(&got);
            ck_assert_int_eq(feed_pieces(&r, stream, len, cuts, 2, &got), 0);
            ck_assert_str_eq(buf_cstr(&got), buf_cstr(&want));
            ck_assert(!smap_reader_partial(&r));
            smap_reader_free(&r);
        }
    }
    size_t every[64];
    for (size_t k = 0; k < len; k++)
        every[k] = k + 1;
    struct smap_reader r;
    smap_reader_init(&r, 100);
    buf_reset(&got);
    ck_assert_int_eq(feed_pieces(&r, stream, len, every, len, &got), 0);
    ck_assert_str_eq(buf_cstr(&got), buf_cstr(&want));
    smap_reader_free(&r);
    buf_free(&want);
    buf_free(&got);
}
END_TEST

static const struct {
    const char *input;
    size_t len;
    enum smap_error error;
} bad_streams[] = {
    {"x:abc,", 6, SMAP_ERR_BAD_LENGTH},
    {":abc,", 5, SMAP_ERR_BAD_LENGTH},
    {"-1:a,", 5, SMAP_ERR_BAD_LENGTH},
    {" 3:abc,", 7, SMAP_ERR_BAD_LENGTH},
    {"01:a,", 5, SMAP_ERR_LEADING_ZERO},
    {"00:,", 4, SMAP_ERR_LEADING_ZERO},
    {"101:", 4, SMAP_ERR_TOO_LARGE},
    {"99999999999999999999999999:", 27, SMAP_ERR_TOO_LARGE},
    {"3;abc,", 6, SMAP_ERR_MISSING_COLON},
    {"3 :abc,", 7, SMAP_ERR_MISSING_COLON},
    {"0,", 2, SMAP_ERR_MISSING_COLON},
    {"3:abcd", 6, SMAP_ERR_MISSING_COMMA},
    {"3:abc;", 6, SMAP_ERR_MISSING_COMMA},
    {"0:x", 3, SMAP_ERR_MISSING_COMMA},
    {"3:a\0c,", 6, SMAP_ERR_NUL},
    {"3:abc,x", 7, SMAP_ERR_BAD_LENGTH}, /* a good one, then a bad one */
};

/* The same error, wherever the input is cut, and the reader stays failed. */
START_TEST(test_reader_errors)
{
    const char *input = bad_streams[_i].input;
    size_t len = bad_streams[_i].len;

    for (size_t a = 0; a <= len; a++) {
        struct smap_reader r;
        struct buf got = {0};
        size_t cut = a;
        smap_reader_init(&r, 100);
        ck_assert_int_eq(feed_pieces(&r, input, len, &cut, 1, &got), -1);
        ck_assert_str_eq(smap_error_name(r.error), smap_error_name(bad_streams[_i].error));
        size_t used;
        ck_assert_int_eq(smap_reader_feed(&r, "1:a,", 4, &used), -1);
        smap_reader_free(&r);
        buf_free(&got);
    }
}
END_TEST

/* The limit itself is accepted; one more byte is not. */
START_TEST(test_reader_limit)
{
    struct buf stream = {0};
    struct smap_reader r;
    size_t used;

    buf_printf(&stream, "%d:", SMAP_DEFAULT_MAX_REQUEST);
    for (int i = 0; i < SMAP_DEFAULT_MAX_REQUEST; i++)
        buf_putc(&stream, 'k');
    buf_putc(&stream, ',');
    smap_reader_init(&r, 0);
    ck_assert_int_eq(smap_reader_feed(&r, stream.data, stream.len, &used), 1);
    ck_assert_uint_eq(used, stream.len);
    ck_assert_uint_eq(r.data.len, SMAP_DEFAULT_MAX_REQUEST);
    smap_reader_next(&r);
    buf_reset(&stream);
    buf_printf(&stream, "%d:", SMAP_DEFAULT_MAX_REQUEST + 1);
    ck_assert_int_eq(smap_reader_feed(&r, stream.data, stream.len, &used), -1);
    ck_assert_int_eq(r.error, SMAP_ERR_TOO_LARGE);
    ck_assert_uint_eq(used, 4); /* failed at the digit that made it too large */
    smap_reader_free(&r);
    buf_free(&stream);
}
END_TEST

static const struct {
    const char *payload;
    const char *map, *key; /* NULL: bad request */
} request_cases[] = {
    {"postfix example.com", "postfix", "example.com"},
    {"anything-at-all EXAMPLE.COM", "anything-at-all", "EXAMPLE.COM"},
    {"m key with spaces", "m", "key with spaces"},
    {"nospace", NULL, NULL},
    {" example.com", NULL, NULL},
    {"postfix ", NULL, NULL},
    {"", NULL, NULL},
};

START_TEST(test_request_split)
{
    char *payload = xstrdup(request_cases[_i].payload);
    const char *map, *key;
    enum smap_error error = SMAP_ERR_COUNT;

    int status = smap_request_split(payload, strlen(payload), &map, &key, &error);
    if (request_cases[_i].map == NULL) {
        ck_assert_int_eq(status, -1);
        ck_assert_int_eq(error, SMAP_ERR_BAD_REQUEST);
    } else {
        ck_assert_int_eq(status, 0);
        ck_assert_str_eq(map, request_cases[_i].map);
        ck_assert_str_eq(key, request_cases[_i].key);
    }
    free(payload);
}
END_TEST

/* "0:," read by the reader leaves no payload buffer at all (found by fuzz_socketmap under UBSan). */
START_TEST(test_empty_request_has_no_buffer)
{
    const char *map, *key;
    enum smap_error error = SMAP_ERR_COUNT;

    ck_assert_int_eq(smap_request_split(NULL, 0, &map, &key, &error), -1);
    ck_assert_int_eq(error, SMAP_ERR_BAD_REQUEST);
}
END_TEST

static const struct {
    const char *reply;
    const char *framed;
    enum smap_reply_kind kind;
} reply_cases[] = {
    {"OK secure match=mx.example", "26:OK secure match=mx.example,", SMAP_REPLY_OK},
    {"NOTFOUND ", "9:NOTFOUND ,", SMAP_REPLY_NOTFOUND},
    {"NOTFOUND", "8:NOTFOUND,", SMAP_REPLY_NOTFOUND},
    {"TEMP dns failure", "16:TEMP dns failure,", SMAP_REPLY_TEMP},
    {"TIMEOUT slow", "12:TIMEOUT slow,", SMAP_REPLY_TIMEOUT},
    {"PERM no", "7:PERM no,", SMAP_REPLY_PERM},
    {"OKAY", "34:TEMP lookup gave a malformed reply,", SMAP_REPLY_TEMP},
    {"", "34:TEMP lookup gave a malformed reply,", SMAP_REPLY_TEMP},
    {"ok lower", "34:TEMP lookup gave a malformed reply,", SMAP_REPLY_TEMP},
};

START_TEST(test_reply_frame)
{
    struct buf out = {0};

    buf_puts(&out, "before;");
    enum smap_reply_kind kind =
        smap_reply_frame(&out, reply_cases[_i].reply, strlen(reply_cases[_i].reply));
    ck_assert_int_eq(kind, reply_cases[_i].kind);
    ck_assert_str_eq(buf_cstr(&out) + 7, reply_cases[_i].framed);
    buf_free(&out);
}
END_TEST

START_TEST(test_reply_limit)
{
    struct buf reply = {0}, out = {0};

    buf_puts(&reply, "OK ");
    while (reply.len < SMAP_MAX_REPLY)
        buf_putc(&reply, 'v');
    ck_assert_int_eq(smap_reply_frame(&out, reply.data, reply.len), SMAP_REPLY_OK);
    ck_assert_uint_eq(out.len, strlen("100000:") + SMAP_MAX_REPLY + 1);
    buf_reset(&out);
    buf_putc(&reply, 'v');
    ck_assert_int_eq(smap_reply_frame(&out, reply.data, reply.len), SMAP_REPLY_TEMP);
    ck_assert_str_eq(buf_cstr(&out), "27:TEMP lookup reply too large,");
    buf_free(&reply);
    buf_free(&out);
}
END_TEST

static Suite *socketmap_suite(void)
{
    Suite *s = suite_create("socketmap");
    TCase *tc = tcase_create("netstrings");

    tcase_add_loop_test(tc, test_reader_split_everywhere, 0, (int)UTIL_ARRAY_LEN(good_streams));
    tcase_add_loop_test(tc, test_reader_errors, 0, (int)UTIL_ARRAY_LEN(bad_streams));
    tcase_add_test(tc, test_reader_limit);
    tcase_add_loop_test(tc, test_request_split, 0, (int)UTIL_ARRAY_LEN(request_cases));
    tcase_add_test(tc, test_empty_request_has_no_buffer);
    tcase_add_loop_test(tc, test_reply_frame, 0, (int)UTIL_ARRAY_LEN(reply_cases));
    tcase_add_test(tc, test_reply_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(socketmap_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
