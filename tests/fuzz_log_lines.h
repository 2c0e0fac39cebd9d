/*
 * fuzz_log_lines.h - the body of the Postfix and Sendmail log fuzz targets:
 * any bytes, split into lines, go through lf_parser_line; every event must
 * pass the checks the counter table relies on, and a parser restored from a
 * checkpoint taken half-way must go on exactly as the one that saved it.
 */
#ifndef TLSRPT_FUZZ_LOG_LINES_H
#define TLSRPT_FUZZ_LOG_LINES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "logfollow.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a parser emitted: how many events and a digest of their fields. */
struct fuzz_log_seen {
    uint64_t events;
    uint64_t digest;
};

static uint64_t fuzz_log_mix(uint64_t h, const char *text)
{
    return text ? hash64(text, strlen(text), h) : hash64("-", 1, h ^ 1);
}

static void fuzz_log_event(const struct tr_event *event, void *context)
{
    struct fuzz_log_seen *seen = context;
    const char *why;
    uint64_t h = seen->digest ^ (uint64_t)event->time;

    if (tr_event_check(event, &why) != 0 || event->n_policies < 1)
        abort();
    h = fuzz_log_mix(h, event->domain);
    for (size_t p = 0; p < event->n_policies; p++) {
        const struct tr_policy *policy = &event->policies[p];
        h = fuzz_log_mix(h ^ (uint64_t)policy->type ^ ((uint64_t)policy->failed << 8),
                         policy->domain);
        for (size_t i = 0; i < policy->n_failures; i++)
            h = fuzz_log_mix(h + i + (uint64_t)policy->failures[i].result,
                             policy->failures[i].receiving_mx_hostname);
    }
    seen->digest = h;
    seen->events++;
}

static void fuzz_log_feed(struct lf_parser *parser, const char *text, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(text, '\n', len);
        size_t n = nl ? (size_t)(nl - text) : len;
        lf_parser_line(parser, text, n);
        n += nl != NULL;
        text += n;
        len -= n;
    }
}

/* Cuts at the first newline after the middle: both halves are whole lines. */
static size_t fuzz_log_middle(const char *text, size_t len)
{
    const char *nl = memchr(text + len / 2, '\n', len - len / 2);
    return nl ? (size_t)(nl - text) + 1 : len;
}

static int fuzz_log_lines(enum lf_format format, const uint8_t *data, size_t size)
{
    struct lf_settings settings = {
        .format = format,
        .now = 1700000000,
        .report_sender = "tlsrpt-noreply@sender.example",
        .sending_mta_ip = "192.0.2.25",
    };
    struct fuzz_log_seen a = {0, 0}, b = {0, 0};
    struct lf_parser *first, *second;
    const char *text = (const char *)data;
    struct buf saved;
    char *error = NULL;
    size_t half;
    uint64_t before;

    msg_setup("fuzz", 0, 0);
    if (size > 0) {
        /* The first byte picks the settings a deployment may choose. */
        settings.supplement = (data[0] & 1) != 0;
        settings.year = (data[0] & 2) ? 2024 : 0;
        text++;
        size--;
    }
    half = fuzz_log_middle(text, size);
    first = lf_parser_create(&settings, fuzz_log_event, &a);
    second = lf_parser_create(&settings, fuzz_log_event, &b);
    fuzz_log_feed(first, text, half);
    buf_init(&saved);
    lf_parser_save(first, &saved);
    if (lf_parser_restore(second, saved.data, saved.len, &error) != 0)
        abort(); /* a checkpoint the parser wrote itself must restore */
    /* From here on the two see the same lines and must say the same. */
    b.digest = a.digest;
    before = a.events;
    fuzz_log_feed(first, text + half, size - half);
    fuzz_log_feed(second, text + half, size - half);
    lf_parser_flush(first);
    lf_parser_flush(second);
    if (a.digest != b.digest || a.events - before != b.events ||
        lf_parser_stats(first)->events != a.events)
        abort();
    buf_free(&saved);
    lf_parser_destroy(first);
    lf_parser_destroy(second);
    return 0;
}

#endif
