/*
 * check_postfix_log_time.c - Check suite of the Postfix log parser's
 * clock: syslog and RFC 3339 time stamps, time zones, the year of a line
 * and local times across DST changes, and idle entries retired by log time.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "logfollow.h"
#include "util.h"
#include "postfix_log_events.h"

/* ---- framing and time ---- */

static time_t one_event_time(const char *tz, int year, time_t now, const char *prefix)
{
    struct recorder rec = {.n = 0};
    struct lf_settings settings = {.format = LF_POSTFIX, .now = now, .year = year};
    struct lf_parser *parser;
    char line[1024];
    time_t t;

    setenv("TZ", tz, 1);
    tzset();
    parser = lf_parser_create(&settings, record, &rec);
    snprintf(line, sizeof(line),
             "%s postfix/smtp[9]: AC311A76096: to=<u@n.example>, relay=mx.n.example[192.0.2.1]:25, "
             "dsn=4.7.4, status=deferred (TLS is required, but was not offered by host "
             "mx.n.example[192.0.2.1])",
             prefix);
    feed(parser, line);
    ck_assert_msg(rec.n == 1, "no event for %s", prefix);
    t = rec.events[0]->time;
    recorder_free(&rec);
    lf_parser_destroy(parser);
    setenv("TZ", "UTC", 1);
    tzset();
    return t;
}

START_TEST(test_time)
{
    /* A December line read on 2 January belongs to last year. */
    ck_assert_int_eq(one_event_time("UTC", 0, 1798848000, "Dec 31 23:59:58 h"), 1798761598);
    ck_assert_int_eq(
        one_event_time("CET-1CEST,M3.5.0,M10.5.0/3", 0, 1798848000, "Dec 31 23:59:58 h"),
        1798757998);
    /* --year for old files. */
    ck_assert_int_eq(one_event_time("UTC", 2020, 1798848000, "Dec 31 23:59:58 h"), 1609459198);
    /* Space-padded day, summer time. */
    ck_assert_int_eq(
        one_event_time("CET-1CEST,M3.5.0,M10.5.0/3", 0, NOW_2026_11_23, "Jul  1 12:00:00 h"),
        1782900000);
    /* RFC 3339 with offsets and fractions, whatever TZ says. */
    ck_assert_int_eq(one_event_time("CET-1CEST,M3.5.0,M10.5.0/3", 0, NOW_2026_11_23,
                                    "2026-11-22T08:24:30.123456+01:00 h"),
                     1795332270);
    ck_assert_int_eq(one_event_time("UTC", 0, NOW_2026_11_23, "2026-11-22T02:54:30-04:30 h"),
                     1795332270);
    ck_assert_int_eq(one_event_time("UTC", 1999, NOW_2026_11_23, "2026-11-22T07:24:30Z h"),
                     1795332270);
}
END_TEST

/* A follower that runs over new year: January's lines are of the next year. */
START_TEST(test_new_year)
{
    static const char *const stamps[] = {
        "Dec 31 23:59:58", "Jan  1 00:00:02", "Dec 31 23:59:59",
        "Jan  1 00:00:03", "Feb  1 00:00:00",
    };
    static const time_t want[] = {1798761598, 1798761602, 1798761599, 1798761603, 1801440000};
    struct recorder rec = {.n = 0};
    /* Started on 2026-12-15. */
    struct lf_settings settings = {.format = LF_POSTFIX, .now = 1797292800};
    struct lf_parser *parser = lf_parser_create(&settings, record, &rec);
    char line[1024];

    for (size_t i = 0; i < UTIL_ARRAY_LEN(stamps); i++) {
        snprintf(line, sizeof(line),
                 "%s h postfix/smtp[9]: AC311A7609%zu: to=<u@n.example>, "
                 "relay=mx.n.example[192.0.2.1]:25, dsn=4.7.4, status=deferred (TLS is required, "
                 "but was not offered by host mx.n.example[192.0.2.1])",
                 stamps[i], i);
        feed(parser, line);
        ck_assert_uint_eq(rec.n, i + 1);
        ck_assert_int_eq(rec.events[i]->time, want[i]);
    }
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

/* Whether a UTC time shows as that local wall-clock time (false for times a DST change skips). */
static bool shows_as(time_t t, int month, int day, int hour, int minute, int second)
{
    struct tm tm;

    return localtime_r(&t, &tm) != NULL && tm.tm_mon + 1 == month && tm.tm_mday == day &&
           tm.tm_hour == hour && tm.tm_min == minute && tm.tm_sec == second;
}

/* Local times around DST changes (whole and half hours): each line's time is its own. */
START_TEST(test_local_time_across_dst)
{
    static const struct {
        const char *tz;
        int month, day;
    } changes[] = {
        {"CET-1CEST,M3.5.0,M10.5.0/3", 3, 29},
        {"CET-1CEST,M3.5.0,M10.5.0/3", 10, 25},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 10, 4},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 4, 5},
    };
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

    for (size_t c = 0; c < UTIL_ARRAY_LEN(changes); c++) {
        struct recorder rec = {.n = 0};
        struct lf_settings settings = {.format = LF_POSTFIX, .year = 2026};
        struct lf_parser *parser;
        size_t checked = 0;
        char line[512];

        setenv("TZ", changes[c].tz, 1);
        tzset();
        parser = lf_parser_create(&settings, record, &rec);
        for (int minutes = 0; minutes < 5 * 60; minutes += 7) {
            int hour = minutes / 60, minute = minutes % 60, second = minutes % 59;
            struct tm tm = {.tm_year = 126,
                            .tm_mon = changes[c].month - 1,
                            .tm_mday = changes[c].day,
                            .tm_hour = hour,
                            .tm_min = minute,
                            .tm_sec = second,
                            .tm_isdst = -1};
            if (!shows_as(mktime(&tm), changes[c].month, changes[c].day, hour, minute, second))
                continue; /* skipped by the change: no such local time */
            snprintf(line, sizeof(line),
                     "%.3s %2d %02d:%02d:%02d h postfix/smtp[9]: AC311A%04d: to=<u@n.example>, "
                     "relay=mx.n.example[192.0.2.1]:25, dsn=4.7.4, status=deferred (TLS is "
                     "required, but was not offered by host mx.n.example[192.0.2.1])",
                     months + 3 * (changes[c].month - 1), changes[c].day, hour, minute, second,
                     minutes);
            feed(parser, line);
            ck_assert_uint_eq(rec.n, 1);
            ck_assert_msg(shows_as(rec.events[0]->time, changes[c].month, changes[c].day, hour,
                                   minute, second),
                          "%s: %s", changes[c].tz, line);
            recorder_free(&rec);
            checked++;
        }
        ck_assert_uint_gt(checked, 30);
        lf_parser_destroy(parser);
    }
    setenv("TZ", "UTC", 1);
    tzset();
}
END_TEST

/* ---- idle entries retired by log time ---- */

static void feed_at(struct lf_parser *parser, const char *hms, const char *program, const char *msg)
{
    char line[1024];

    snprintf(line, sizeof(line), "Nov 22 %s sender %s: %s", hms, program, msg);
    feed(parser, line);
}

START_TEST(test_idle_sessions_retired)
{
    struct recorder rec = {.n = 0};
    struct lf_parser *parser = parser_new(&rec, NULL);
    const struct lf_stats *stats = lf_parser_stats(parser);

    feed_at(parser, "09:00:00", "postfix/smtp[1]",
            "warning: TLS policy lookup for dane-only.lab/mx.dane-only.lab: no TLSA records found");
    feed_at(parser, "09:00:00", "postfix/smtp[2]",
            "certificate verification failed for mx1.mixed.lab[10.77.0.12]:25: certificate has "
            "expired");
    feed_at(parser, "09:00:00", "postfix/smtp[3]",
            "Verified TLS connection established to mx.ok.lab[10.77.0.11]:25" CIPHER);
    feed_at(parser, "09:00:00", "postfix/smtp[3]",
            "AC311A76096: to=<u@ok.lab>, relay=mx.ok.lab[10.77.0.11]:25, status=sent (ok)");
    feed_at(parser, "09:00:00", "postfix/smtp[4]",
            "SSL_connect error to mx.tls10.lab[10.77.0.17]:25: -1");
    /* A line of the same process keeps its entry alive. */
    feed_at(parser, "09:30:00", "postfix/smtp[4]",
            "warning: TLS library problem: error:0A00042E:SSL routines::tlsv1 alert protocol "
            "version:../ssl/record/rec_layer_s3.c:1602:SSL alert number 70:");
    ck_assert_uint_eq(rec.n, 1);
    /* One hour exactly is not more than an hour: nothing yet. */
    feed_at(parser, "10:00:00", "kernel", "any line's time moves the log clock");
    ck_assert_uint_eq(rec.n, 1);
    ck_assert_uint_eq(stats->rejected, 0);
    feed_at(parser, "10:00:01", "kernel", "any line's time moves the log clock");
    /* The DANE failure with its lookup domain is emitted, the untied one counted. */
    ck_assert_uint_eq(rec.n, 2);
    expect_event(rec.events[1], &(struct expect)DANE("dane-only.lab", TR_RESULT_DANE_REQUIRED,
                                                     "mx.dane-only.lab", NULL, NULL));
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_UNTIED], 1);
    ck_assert_uint_eq(stats->rejected, 1);
    feed_at(parser, "10:20:00", "postfix/smtp[4]",
            "D83AFA7609A: to=<user1@tls10.lab>, relay=mx.tls10.lab[10.77.0.17]:25, "
            "status=deferred (Cannot start TLS: handshake failure)");
    ck_assert_uint_eq(rec.n, 3);
    expect_event(rec.events[2],
                 &(struct expect)FAIL("tls10.lab", TR_RESULT_VALIDATION_FAILURE, "mx.tls10.lab",
                                      "10.77.0.17", "tlsv1 alert protocol version"));
    lf_parser_flush(parser);
    ck_assert_uint_eq(rec.n, 3);
    ck_assert_uint_eq(stats->rejected, 1);
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

/* Entries of processes that are long gone leave before the table is full. */
START_TEST(test_idle_processes_make_room)
{
    struct recorder rec = {.n = 0};
    struct lf_parser *parser = parser_new(&rec, NULL);
    const struct lf_stats *stats = lf_parser_stats(parser);
    char program[32];

    for (int round = 0; round < 3; round++)
        for (int pid = 1; pid <= 4096; pid++) {
            snprintf(program, sizeof(program), "postfix/smtp[%d]", round * 10000 + pid);
            feed_at(parser,
                    round == 0   ? "09:00:00"
                    : round == 1 ? "10:30:00"
                                 : "12:00:00",
                    program, "Verified TLS connection established to mx.a.example[192.0.2.1]:25");
        }
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_TOO_MANY], 0);
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_UNTIED], 2 * 4096);
    lf_parser_flush(parser);
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_UNTIED], 3 * 4096);
    ck_assert_uint_eq(rec.n, 0);
    lf_parser_destroy(parser);
}
END_TEST

/* A report mail's queue id lives while deliveries use it, then goes. */
START_TEST(test_idle_report_queue_id)
{
    struct recorder rec = {.n = 0};
    struct lf_parser *parser = parser_new(&rec, "noreply-tlsrpt@sender.lab");
    const char *delivery = "AC311A76096: to=<t@nostarttls.lab>, "
                           "relay=mx.nostarttls.lab[10.77.0.16]:25, dsn=4.7.4, status=deferred "
                           "(TLS is required, but was not offered by host "
                           "mx.nostarttls.lab[10.77.0.16])";

    feed_at(parser, "09:00:00", "postfix/qmgr[9]",
            "AC311A76096: from=<noreply-tlsrpt@sender.lab>, size=511, nrcpt=1 (queue active)");
    feed_at(parser, "09:50:00", "postfix/smtp[1]", delivery);
    feed_at(parser, "10:45:00", "postfix/smtp[2]", delivery);
    ck_assert_uint_eq(lf_parser_stats(parser)->own_reports, 2);
    feed_at(parser, "11:46:00", "postfix/smtp[3]", delivery);
    ck_assert_uint_eq(lf_parser_stats(parser)->own_reports, 2);
    ck_assert_uint_eq(rec.n, 1);
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

static Suite *postfix_log_time_suite(void)
{
    Suite *s = suite_create("postfix_log_time");
    TCase *tc = tcase_create("postfix_log_time");

    tcase_add_test(tc, test_time);
    tcase_add_test(tc, test_new_year);
    tcase_add_test(tc, test_local_time_across_dst);
    tcase_add_test(tc, test_idle_sessions_retired);
    tcase_add_test(tc, test_idle_processes_make_room);
    tcase_add_test(tc, test_idle_report_queue_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return postfix_log_run_suite(postfix_log_time_suite());
}
