/*
 * check_report_gzip.c - Check suite of the report module's compression:
 * gzip round trips of reports and of incompressible data, and the fitting
 * of a report to max_report_size by dropping its least frequent details.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core.h"
#include "counters.h"
#include "report.h"
#include "util.h"
#include "report_keys.h"

/* gzip */

static void check_gzip_round_trip(const void *data, size_t len)
{
    struct buf gz = {NULL, 0, 0};
    char *error = NULL;
    unsigned char *back = xmalloc(len + 1);
    z_stream stream;

    ck_assert_int_eq(rpt_gzip(data, len, &gz, &error), 0);
    ck_assert_uint_ge(gz.len, 18);
    ck_assert_int_eq((unsigned char)gz.data[0], 0x1f);
    ck_assert_int_eq((unsigned char)gz.data[1], 0x8b);
    ck_assert_int_eq((unsigned char)gz.data[2], 8); /* deflate */
    memset(&stream, 0, sizeof(stream));
    ck_assert_int_eq(inflateInit2(&stream, 15 + 16), Z_OK);
    stream.next_in = (unsigned char *)gz.data;
    stream.avail_in = (uInt)gz.len;
    stream.next_out = back;
    stream.avail_out = (uInt)len + 1;
    ck_assert_int_eq(inflate(&stream, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(stream.total_out, len);
    ck_assert_uint_eq(stream.avail_in, 0);
    ck_assert(memcmp(back, data, len) == 0);
    inflateEnd(&stream);
    free(back);
    buf_free(&gz);
}

START_TEST(test_gzip)
{
    const struct ctr_key *keys[] = {&sts_two_rows};
    struct rpt_report report;
    char *error = NULL;
    size_t big_len = 3 * 1024 * 1024;
    unsigned char *big = xmalloc(big_len);
    uint64_t state = 42;
    struct buf reused = {NULL, 0, 0};

    ck_assert_int_eq(rpt_build(&settings, DAY, "example.com", RECORD, keys, 1, &report, &error), 0);
    check_gzip_round_trip(report.json, report.json_len);
    check_gzip_round_trip("", 0);
    for (size_t i = 0; i < big_len; i++) { /* incompressible: output beyond the input */
        state = state * 6364136223846793005u + 1442695040888963407u;
        big[i] = (unsigned char)(state >> 56);
    }
    check_gzip_round_trip(big, big_len);
    /* out is replaced, not appended to */
    buf_puts(&reused, "old contents");
    ck_assert_int_eq(rpt_gzip(report.json, report.json_len, &reused, &error), 0);
    ck_assert_int_eq((unsigned char)reused.data[0], 0x1f);
    buf_free(&reused);
    free(big);
    rpt_report_free(&report);
}
END_TEST

/* A report with `details` failure rows, counts 1..details, IPs that do not compress away. */
static char *big_report(int details)
{
    struct buf json;

    buf_init(&json);
    buf_puts(&json, "{\"organization-name\":\"O\",\"date-range\":{\"start-datetime\":"
                    "\"2024-01-01T00:00:00Z\",\"end-datetime\":\"2024-01-01T23:59:59Z\"},"
                    "\"contact-info\":\"a@b.example\",\"report-id\":\"r\",\"policies\":[{"
                    "\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-string\":[],"
                    "\"policy-domain\":\"x.example\",\"mx-host\":[]},\"summary\":{"
                    "\"total-successful-session-count\":7,\"total-failure-session-count\":"
                    "123456},\"failure-details\":[");
    for (int i = details; i >= 1; i--)
        buf_printf(&json,
                   "%s{\"result-type\":\"validation-failure\",\"receiving-ip\":\"198.51.%d.%d\","
                   "\"failure-reason-code\":\"r%08x\",\"failed-session-count\":%d}",
                   i == details ? "" : ",", (i * 37) % 250, (i * 91) % 250,
                   (unsigned)hash64(&i, sizeof(i), 1), i);
    buf_puts(&json, "]}]}");
    return buf_steal(&json);
}

/* max_report_size: the least frequent details go, the summary stays. */
START_TEST(test_fit_drops_least_frequent)
{
    char *json = big_report(400), *error = NULL;
    struct buf fitted, gz, full;
    size_t dropped;

    buf_init(&fitted);
    buf_init(&gz);
    buf_init(&full);
    ck_assert_int_eq(rpt_gzip(json, strlen(json), &full, &error), 0);
    /* Fits already: unchanged. */
    ck_assert_int_eq(rpt_fit(json, strlen(json), full.len, &fitted, &gz, &dropped, &error), 0);
    ck_assert_uint_eq(dropped, 0);
    ck_assert_str_eq(buf_cstr(&fitted), json);
    /* Half the size: details go, smallest counts first. */
    ck_assert_int_eq(rpt_fit(json, strlen(json), full.len / 2, &fitted, &gz, &dropped, &error), 0);
    ck_assert_uint_gt(dropped, 0);
    ck_assert_uint_le(gz.len, full.len / 2);
    const char *text = buf_cstr(&fitted);
    ck_assert_ptr_nonnull(strstr(text, "\"total-failure-session-count\":123456"));
    ck_assert_ptr_nonnull(strstr(text, "\"failed-session-count\":400}"));
    char kept[48];
    snprintf(kept, sizeof(kept), "\"failed-session-count\":%zu}", dropped + 1);
    ck_assert_ptr_nonnull(strstr(text, kept));
    snprintf(kept, sizeof(kept), "\"failed-session-count\":%zu}", dropped);
    ck_assert_ptr_null(strstr(text, kept));
    /* Too small even without details: an error, never a cut summary. */
    ck_assert_int_eq(rpt_fit(json, strlen(json), 20, &fitted, &gz, &dropped, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "does not fit"));
    free(error);
    free(json);
    buf_free(&fitted);
    buf_free(&gz);
    buf_free(&full);
}
END_TEST

static Suite *report_gzip_suite(void)
{
    Suite *s = suite_create("report_gzip");
    TCase *tc = tcase_create("report_gzip");

    tcase_add_test(tc, test_gzip);
    tcase_add_test(tc, test_fit_drops_least_frequent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(report_gzip_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
