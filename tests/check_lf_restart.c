/*
 * check_lf_restart.c - Check suite of the log parsers' checkpoints: a parser
 * saved after any line and restored into a new one gives exactly the events
 * and counts of one uninterrupted pass (no session lost, none counted twice);
 * damaged checkpoints fail cleanly and leave an empty, usable parser.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "logfollow.h"
#include "util.h"

#ifndef LF_SOURCE_DIR
#define LF_SOURCE_DIR "."
#endif
#define NOW_2026_11_23 ((time_t)1795392000)
#define CHECKSUM_LEN 8

/* ---- the logs ---- */

struct log {
    struct buf text;
    const char **lines;
    size_t n;
};

static void log_add(struct log *log, const char *line)
{
    log->lines = xreallocarray(log->lines, log->n + 1, sizeof(*log->lines));
    log->lines[log->n++] = line;
}

/* The lines of a file under tests/data (kept in log->text). */
static void log_load(struct log *log, const char *name)
{
    const char *top = getenv("top_srcdir");
    char *path = xasprintf("%s/tests/data/%s", top != NULL && *top ? top : LF_SOURCE_DIR, name);
    char *error, *line, *end;

    memset(log, 0, sizeof(*log));
    if (file_read_all(path, 1 << 20, &log->text, &error) < 0)
        ck_abort_msg("%s", error);
    free(path);
    for (line = log->text.data; *line != '\0'; line = end + 1) {
        end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        log_add(log, line);
        if (*end == '\0')
            break;
        *end = '\0';
    }
}

static void log_free(struct log *log)
{
    buf_free(&log->text);
    free(log->lines);
}

/* Postfix 3.10 shapes the lab log lacks: TLSRPT: lines, tlsproxy, a library reason waiting. */
#define SMTP(pid) "Nov 22 14:00:01 sender postfix/smtp[" pid "]: "
#define PROXY "Nov 22 14:00:01 sender postfix/tlsproxy[300]: "
static const char *const postfix_3_10[] = {
    SMTP("501") "certificate verification failed for mx.example.net[192.0.2.7]:25: self-signed "
                "certificate",
    SMTP("502") "warning: TLS library problem: error:0A000410:SSL routines::sslv3 alert handshake "
                "failure:../ssl/record/rec_layer_s3.c:1584:SSL alert number 40:",
    SMTP("501") "TLSRPT: status=failure, domain=example.net, "
                "receiving_mx=mx.example.net[192.0.2.7], "
                "failure_type=validation_failure, failure_reason=self-signed_certificate",
    PROXY "CONNECT to [192.0.2.3]:25",
    SMTP("501") "Untrusted TLS connection established to mx.example.net[192.0.2.7]:25: TLSv1.3 "
                "with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
    PROXY "server certificate verification failed for mx.p.example[192.0.2.3]:25: certificate "
          "has expired",
    SMTP("502") "1A2B3C4D5E: to=<u@hs.example>, relay=mx.hs.example[192.0.2.50]:25, delay=0.1, "
                "delays=0/0/0.1/0, dsn=4.7.5, status=deferred (Cannot start TLS: handshake "
                "failure)",
    SMTP("501") "ABCDEF1234: to=<u@example.net>, relay=mx.example.net[192.0.2.7]:25, delay=0.01, "
                "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)",
    SMTP("503") "6A6A6A6A6A: to=<u@p.example>, relay=mx.p.example[192.0.2.3]:25, delay=0.01, "
                "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)",
};

/*
 * The lab log, then the lab log again two hours later (every process of
 * the first pass idle by then, pids reused) with its messages sent by our
 * report address: retirement by log time and the report queue ids; then
 * Postfix 3.10 shapes.
 */
static char *postfix_twice(struct log *log)
{
    struct buf second = {0};
    size_t n, offset;

    log_load(log, "postfix-3.7-lab.log");
    n = log->n;
    for (size_t i = 0; i < n; i++) {
        const char *line = log->lines[i], *from = strstr(line, "from=<lab-sender@");
        int hour = atoi(line + 7);
        if (from != NULL)
            buf_printf(&second, "%.7s%02d%.*sfrom=<noreply-tlsrpt@%s", line, hour + 2,
                       (int)(from - line - 9), line + 9, from + 17);
        else
            buf_printf(&second, "%.7s%02d%s", line, hour + 2, line + 9);
        buf_putc(&second, '\0');
    }
    for (offset = 0; offset < second.len; offset += strlen(second.data + offset) + 1)
        log_add(log, second.data + offset);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(postfix_3_10); i++)
        log_add(log, postfix_3_10[i]);
    return buf_steal(&second);
}

/* ---- events as text, all their fields ---- */

static void put_string(struct buf *out, const char *name, const char *value)
{
    buf_printf(out, " %s=%s", name, value != NULL ? value : "(none)");
}

static void event_text(const struct tr_event *event, struct buf *out)
{
    buf_printf(out, "%lld %s", (long long)event->time, event->domain);
    put_string(out, "record", event->record);
    for (size_t i = 0; i < event->n_policies; i++) {
        const struct tr_policy *policy = &event->policies[i];
        buf_printf(out, " | %s failed=%d", tr_policy_type_name(policy->type), policy->failed);
        put_string(out, "policy-domain", policy->domain);
        for (size_t j = 0; j < policy->n_strings; j++)
            put_string(out, "string", policy->strings[j]);
        for (size_t j = 0; j < policy->n_mx_hosts; j++)
            put_string(out, "mx-host", policy->mx_hosts[j]);
        for (size_t j = 0; j < policy->n_failures; j++) {
            const struct tr_failure *failure = &policy->failures[j];
            buf_printf(out, " ; %s", tr_result_name(failure->result));
            put_string(out, "sending-mta-ip", failure->sending_mta_ip);
            put_string(out, "receiving-mx-hostname", failure->receiving_mx_hostname);
            put_string(out, "receiving-mx-helo", failure->receiving_mx_helo);
            put_string(out, "receiving-ip", failure->receiving_ip);
            put_string(out, "additional-information", failure->additional_information);
            put_string(out, "failure-reason-code", failure->failure_reason_code);
        }
    }
    buf_putc(out, '\n');
}

static void record(const struct tr_event *event, void *context)
{
    event_text(event, context);
}

/* ---- the parsers under test ---- */

struct setup {
    const char *name;
    enum lf_format format;
    const char *report_sender;
    const char *sending_mta_ip;
};

static const struct setup setups[] = {
    {"postfix", LF_POSTFIX, NULL, NULL},
    {"postfix, report sender", LF_POSTFIX, "noreply-tlsrpt@sender.lab", NULL},
    {"sendmail", LF_SENDMAIL, "noreply-tlsrpt@example.net", "198.51.100.7"},
    {"sendmail, no report sender", LF_SENDMAIL, NULL, NULL},
};

static struct lf_parser *parser_new(const struct setup *setup, struct buf *events)
{
    struct lf_settings settings = {.format = setup->format,
                                   .now = NOW_2026_11_23,
                                   .report_sender = setup->report_sender,
                                   .sending_mta_ip = setup->sending_mta_ip};

    return lf_parser_create(&settings, record, events);
}

static void setup_log(const struct setup *setup, struct log *log, char **extra)
{
    *extra = NULL;
    if (setup->format == LF_POSTFIX)
        *extra = postfix_twice(log);
    else
        log_load(log, "sendmail-8.17-sample.log");
}

static void feed(struct lf_parser *parser, const struct log *log, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        lf_parser_line(parser, log->lines[i], strlen(log->lines[i]));
}

/* A's counts plus B's are those of one pass (stats are not in a checkpoint). */
static void stats_add(struct lf_stats *sum, const struct lf_stats *add)
{
    sum->lines += add->lines;
    sum->relevant += add->relevant;
    sum->events += add->events;
    sum->own_reports += add->own_reports;
    sum->rejected += add->rejected;
    for (int i = 0; i < LF_REJECT_COUNT; i++)
        sum->rejected_by[i] += add->rejected_by[i];
}

static void stats_check(const struct lf_stats *got, const struct lf_stats *want, size_t k)
{
    ck_assert_msg(got->lines == want->lines && got->relevant == want->relevant &&
                      got->events == want->events && got->own_reports == want->own_reports &&
                      got->rejected == want->rejected,
                  "restart after line %zu: counts differ", k);
    for (int i = 0; i < LF_REJECT_COUNT; i++)
        ck_assert_msg(got->rejected_by[i] == want->rejected_by[i],
                      "restart after line %zu: %s %llu, one pass %llu", k, lf_reject_name(i),
                      (unsigned long long)got->rejected_by[i],
                      (unsigned long long)want->rejected_by[i]);
}

/* One uninterrupted pass: its events (text) and counts. */
static void one_pass(const struct setup *setup, const struct log *log, struct buf *events,
                     struct lf_stats *stats)
{
    struct lf_parser *parser = parser_new(setup, events);

    feed(parser, log, 0, log->n);
    lf_parser_flush(parser);
    *stats = *lf_parser_stats(parser);
    lf_parser_destroy(parser);
}

/* The state after lines [0, k) of log. */
static void state_after(const struct setup *setup, const struct log *log, size_t k,
                        struct buf *state)
{
    struct buf events = {0};
    struct lf_parser *parser = parser_new(setup, &events);

    feed(parser, log, 0, k);
    lf_parser_save(parser, state);
    lf_parser_destroy(parser);
    buf_free(&events);
}

/* ---- restart at every line ---- */

START_TEST(test_restart_at_every_line)
{
    const struct setup *setup = &setups[_i];
    struct buf want = {0}, events = {0}, state = {0}, again = {0};
    struct lf_stats want_stats, stats;
    struct log log;
    char *extra, *error = NULL;
    size_t largest = 0;

    setup_log(setup, &log, &extra);
    one_pass(setup, &log, &want, &want_stats);
    ck_assert_msg(want_stats.events >= 15, "%s: only %llu events", setup->name,
                  (unsigned long long)want_stats.events);
    for (size_t k = 0; k <= log.n; k++) {
        struct lf_parser *a = parser_new(setup, &events), *b;

        buf_reset(&events);
        buf_reset(&state);
        buf_reset(&again);
        feed(a, &log, 0, k);
        lf_parser_save(a, &state);
        stats = *lf_parser_stats(a);
        lf_parser_destroy(a);
        if (state.len > largest)
            largest = state.len;

        b = parser_new(setup, &events);
        ck_assert_msg(lf_parser_restore(b, state.data, state.len, &error) == 0, "line %zu: %s", k,
                      error);
        lf_parser_save(b, &again);
        ck_assert_msg(again.len == state.len && memcmp(again.data, state.data, state.len) == 0,
                      "%s: save, restore, save after line %zu: other bytes", setup->name, k);
        feed(b, &log, k, log.n);
        lf_parser_flush(b);
        stats_add(&stats, lf_parser_stats(b));
        lf_parser_destroy(b);
        ck_assert_msg(strcmp(buf_cstr(&events), buf_cstr(&want)) == 0,
                      "%s: restart after line %zu:\n%s\none pass:\n%s", setup->name, k,
                      buf_cstr(&events), buf_cstr(&want));
        stats_check(&stats, &want_stats, k);
    }
    /* Idle entries retired: the state stays small. */
    ck_assert_msg(largest < 8192, "%s: a checkpoint of %zu bytes", setup->name, largest);
    buf_free(&want);
    buf_free(&events);
    buf_free(&state);
    buf_free(&again);
    free(extra);
    log_free(&log);
}
END_TEST

/* ---- damaged checkpoints ---- */

/* The checksum of the documented format (FNV-1a 64, little-endian, at the end). */
static void reseal(unsigned char *data, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (size_t i = 0; i < len - CHECKSUM_LEN; i++)
        h = (h ^ data[i]) * UINT64_C(0x100000001b3);
    for (int i = 0; i < CHECKSUM_LEN; i++)
        data[len - CHECKSUM_LEN + i] = (unsigned char)(h >> (8 * i));
}

/*
 * Restores data into a new parser. A failure must say why and leave an
 * empty parser that reads the whole log as a fresh one does; a success
 * must leave a parser that reads on, flushes and frees without fault.
 */
static int restore_then_read(const struct setup *setup, const struct log *log, size_t k,
                             const void *data, size_t len, const char *want_events)
{
    struct buf events = {0};
    struct lf_parser *parser = parser_new(setup, &events);
    char *error = NULL;
    int status = lf_parser_restore(parser, data, len, &error);

    if (status < 0) {
        ck_assert_ptr_nonnull(error);
        ck_assert_uint_gt(strlen(error), 10);
        free(error);
        feed(parser, log, 0, log->n);
        lf_parser_flush(parser);
        ck_assert_str_eq(buf_cstr(&events), want_events);
    } else {
        feed(parser, log, k, log->n);
        lf_parser_flush(parser);
    }
    lf_parser_destroy(parser);
    buf_free(&events);
    return status;
}

/* Where the state is largest: most sessions open. */
static size_t busiest_line(const struct setup *setup, const struct log *log)
{
    struct buf state = {0};
    size_t best = 0, best_len = 0;

    for (size_t k = 0; k <= log->n; k++) {
        buf_reset(&state);
        state_after(setup, log, k, &state);
        if (state.len > best_len) {
            best_len = state.len;
            best = k;
        }
    }
    buf_free(&state);
    return best;
}

START_TEST(test_damaged_checkpoints)
{
    static const unsigned char flips[] = {0x01, 0x80, 0xff};
    const struct setup *setup = &setups[_i];
    struct buf want = {0}, state = {0};
    struct lf_stats want_stats;
    struct log log;
    char *extra;
    unsigned char *copy;
    size_t k, restored = 0, refused = 0;

    setup_log(setup, &log, &extra);
    one_pass(setup, &log, &want, &want_stats);
    k = busiest_line(setup, &log);
    state_after(setup, &log, k, &state);
    copy = xmalloc(state.len);
    /* Every truncation fails, with or without a checksum that fits. */
    for (size_t len = 0; len < state.len; len++) {
        memcpy(copy, state.data, len);
        ck_assert_int_eq(restore_then_read(setup, &log, k, copy, len, buf_cstr(&want)), -1);
        if (len >= CHECKSUM_LEN + 6) {
            memcpy(copy, state.data, len - CHECKSUM_LEN);
            reseal(copy, len);
            ck_assert_int_eq(restore_then_read(setup, &log, k, copy, len, buf_cstr(&want)), -1);
        }
    }
    /*
     * Every single-byte change: the checksum refuses it; resealed, the
     * reader's own checks refuse it or it restores some valid state.
     */
    for (size_t i = 0; i < state.len; i++)
        for (size_t f = 0; f < sizeof(flips); f++) {
            memcpy(copy, state.data, state.len);
            copy[i] ^= flips[f];
            ck_assert_int_eq(restore_then_read(setup, &log, k, copy, state.len, buf_cstr(&want)),
                             -1);
            if (i >= state.len - CHECKSUM_LEN)
                continue;
            reseal(copy, state.len);
            if (restore_then_read(setup, &log, k, copy, state.len, buf_cstr(&want)) == 0)
                restored++;
            else
                refused++;
        }
    ck_assert_uint_gt(refused, 0);
    ck_assert_uint_gt(restored, 0);
    free(copy);
    buf_free(&want);
    buf_free(&state);
    free(extra);
    log_free(&log);
}
END_TEST

/* ---- versions, formats, settings ---- */

/* The error of restoring data, or NULL when it restores. */
static char *restore_error_or_null(const struct setup *setup, const void *data, size_t len)
{
    struct buf events = {0};
    struct lf_parser *parser = parser_new(setup, &events);
    char *error = NULL;

    if (lf_parser_restore(parser, data, len, &error) == 0)
        error = NULL;
    else
        ck_assert_ptr_nonnull(error);
    lf_parser_destroy(parser);
    buf_free(&events);
    return error;
}

static char *restore_error(const struct setup *setup, const void *data, size_t len)
{
    char *error = restore_error_or_null(setup, data, len);

    ck_assert_ptr_nonnull(error);
    return error;
}

START_TEST(test_refused_checkpoints)
{
    struct buf state = {0};
    struct log log;
    char *extra, *error;

    setup_log(&setups[0], &log, &extra);
    state_after(&setups[0], &log, 100, &state);
    error = restore_error(&setups[2], state.data, state.len);
    ck_assert_str_eq(error, "a checkpoint of the Postfix parser, this one reads Sendmail logs");
    free(error);
    error = restore_error(&setups[0], "", 0);
    ck_assert_str_eq(error, "not a log parser checkpoint");
    free(error);
    error = restore_error(&setups[0], "{\"lines\": 100}\n", 15);
    ck_assert_str_eq(error, "not a log parser checkpoint");
    free(error);
    state.data[4] = 3;
    error = restore_error(&setups[0], state.data, state.len);
    ck_assert_str_eq(error, "checkpoint version 3, this build reads versions 1 to 2");
    free(error);
    state.data[4] = 0;
    error = restore_error(&setups[0], state.data, state.len);
    ck_assert_str_eq(error, "checkpoint version 0, this build reads versions 1 to 2");
    free(error);
    state.data[4] = 2;
    state.data[state.len / 2] ^= 0x20;
    error = restore_error(&setups[0], state.data, state.len);
    ck_assert_str_eq(error, "damaged checkpoint (checksum mismatch; cut short?)");
    free(error);
    /* A count beyond the table's bound, told where: 4097 processes. */
    buf_reset(&state);
    buf_append(&state,
               "LFCP\001p\000\000\000\201\040\000"
               "01234567",
               12 + CHECKSUM_LEN);
    reseal((unsigned char *)state.data, state.len);
    error = restore_error(&setups[0], state.data, state.len);
    ck_assert_str_eq(error, "checkpoint damaged at byte 9: process count out of range");
    free(error);
    /* The smallest valid one, as a fresh parser saves it. */
    buf_reset(&state);
    buf_append(&state,
               "LFCP\001p\000\000\000\000\000"
               "01234567",
               11 + CHECKSUM_LEN);
    reseal((unsigned char *)state.data, state.len);
    ck_assert_ptr_null(restore_error_or_null(&setups[0], state.data, state.len));
    buf_free(&state);
    free(extra);
    log_free(&log);
}
END_TEST

/*
 * A version 1 Sendmail checkpoint (before each process had its connection
 * fields) is still read; the same bytes called version 2 are not.
 */
START_TEST(test_sendmail_version_1)
{
    /* header, log time, year, month, 1 process ("sm-mta[7]", used at 0): pending reason
     * rank and text, 0 sessions, no verifymsg session; 0 report queue ids */
    static const char v1[] = "LFCP\001s\000\000\000"
                             "\001\011sm-mta[7]\000"
                             "\000\000\000\000"
                             "\000"
                             "01234567";
    unsigned char data[sizeof(v1) - 1];
    char *error;

    memcpy(data, v1, sizeof(data));
    reseal(data, sizeof(data));
    error = restore_error_or_null(&setups[3], data, sizeof(data));
    ck_assert_msg(error == NULL, "%s", error);
    data[4] = 2;
    reseal(data, sizeof(data));
    error = restore_error(&setups[3], data, sizeof(data));
    ck_assert_ptr_nonnull(strstr(error, "checkpoint damaged at byte"));
    free(error);
}
END_TEST

/* Sessions idle for hours are retired: the checkpoint shrinks to its header. */
START_TEST(test_idle_state_leaves_checkpoint)
{
    const char *later = "Nov 22 12:00:00 sender kernel: hours later";
    struct buf events = {0}, state = {0};
    struct log log;
    struct lf_parser *parser;

    log_load(&log, "postfix-3.7-lab.log");
    parser = parser_new(&setups[0], &events);
    feed(parser, &log, 0, log.n);
    lf_parser_save(parser, &state);
    ck_assert_uint_gt(state.len, 200);
    lf_parser_line(parser, later, strlen(later));
    buf_reset(&state);
    lf_parser_save(parser, &state);
    ck_assert_uint_lt(state.len, 32);
    lf_parser_destroy(parser);
    buf_free(&events);
    buf_free(&state);
    log_free(&log);
}
END_TEST

static Suite *lf_restart_suite(void)
{
    Suite *s = suite_create("lf_restart");
    TCase *tc = tcase_create("lf_restart");

    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_restart_at_every_line, 0, (int)UTIL_ARRAY_LEN(setups));
    tcase_add_loop_test(tc, test_damaged_checkpoints, 0, (int)UTIL_ARRAY_LEN(setups));
    tcase_add_test(tc, test_refused_checkpoints);
    tcase_add_test(tc, test_sendmail_version_1);
    tcase_add_test(tc, test_idle_state_leaves_checkpoint);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(lf_restart_suite());

    setenv("TZ", "UTC", 1);
    tzset();
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
