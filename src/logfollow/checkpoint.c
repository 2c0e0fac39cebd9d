/*
 * checkpoint.c - the log parser's state as bytes, so that a follower killed
 * at any moment resumes where its last checkpoint was taken: the envelope
 * (magic, version, format, checksum), the parser's own fields and the
 * encoding of numbers and texts the formats' save/restore code uses.
 *
 * A checkpoint is:
 *   "LFCP"            magic
 *   byte              version (2; 1 is read too: it lacks what sm_save.c marks as v2)
 *   byte              format: 'p' Postfix, 's' Sendmail
 *   time              log time of the last line read
 *   uint, uint        year and month of the last RFC 3164 line (0, 0: none)
 *   ...               the format's tables (pf_save.c, sm_save.c)
 *   8 bytes           FNV-1a 64 of all the bytes before, little-endian
 * uint is unsigned LEB128; time is a zigzag LEB128 of seconds since 1970;
 * key and text are a uint length and that many bytes, without NUL.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_impl.h"
#include "logfollow.h"
#include "util.h"

#define MAGIC "LFCP"
#define MAGIC_LEN 4
#define CHECKPOINT_VERSION 2
#define CHECKPOINT_OLDEST_VERSION 1
#define HEADER_LEN (MAGIC_LEN + 2)
#define CHECKSUM_LEN 8
/* Times beyond this many seconds from 1970 are damage (and could overflow a difference). */
#define TIME_LIMIT ((int64_t)1 << 40)
#define MAX_YEAR 9999

/* ---- writing ---- */

void lf_put_uint(struct buf *out, uint64_t value)
{
    unsigned char bytes[10];
    size_t n = 0;

    do {
        bytes[n] = (unsigned char)(value & 0x7f);
        value >>= 7;
        if (value != 0)
            bytes[n] |= 0x80;
        n++;
    } while (value != 0);
    buf_append(out, bytes, n);
}

void lf_put_time(struct buf *out, time_t value)
{
    int64_t t = (int64_t)value;

    lf_put_uint(out, t < 0 ? (((uint64_t) - (t + 1)) << 1) | 1 : (uint64_t)t << 1);
}

void lf_put_key(struct buf *out, const char *key, size_t len)
{
    lf_put_uint(out, len);
    buf_append(out, key, len);
}

void lf_put_text(struct buf *out, const char *text)
{
    lf_put_key(out, text, strlen(text));
}

/* ---- reading ---- */

bool lf_reader_fail(struct lf_reader *reader, const char *what, const char *problem)
{
    if (reader->error == NULL)
        reader->error = xasprintf("damaged at byte %zu: %s %s", (size_t)(reader->p - reader->start),
                                  what, problem);
    return false;
}

/* Fails at the item that began at start (the error names where it is). */
static bool fail_at(struct lf_reader *reader, const unsigned char *start, const char *what,
                    const char *problem)
{
    reader->p = start;
    return lf_reader_fail(reader, what, problem);
}

bool lf_get_uint(struct lf_reader *reader, const char *what, uint64_t max, uint64_t *value)
{
    const unsigned char *start = reader->p;
    uint64_t v = 0;

    if (reader->error != NULL)
        return false;
    for (unsigned shift = 0;; shift += 7) {
        if (reader->p >= reader->end)
            return fail_at(reader, start, what, "cut short");
        unsigned byte = *reader->p;
        /* The tenth byte holds bit 63 only. */
        if (shift == 63 && byte > 1)
            return fail_at(reader, start, what, "too large");
        reader->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0)
            break;
    }
    if (v > max)
        return fail_at(reader, start, what, "out of range");
    *value = v;
    return true;
}

bool lf_get_small(struct lf_reader *reader, const char *what, unsigned max, unsigned *value)
{
    uint64_t v;

    if (!lf_get_uint(reader, what, max, &v))
        return false;
    *value = (unsigned)v;
    return true;
}

bool lf_get_time(struct lf_reader *reader, const char *what, time_t *value)
{
    uint64_t zigzag;

    if (!lf_get_uint(reader, what, (uint64_t)TIME_LIMIT << 1, &zigzag))
        return false;
    *value = (zigzag & 1) ? (time_t)(-(int64_t)(zigzag >> 1) - 1) : (time_t)(zigzag >> 1);
    return true;
}

bool lf_get_key(struct lf_reader *reader, const char *what, const char **key, size_t *len)
{
    const unsigned char *start = reader->p;
    uint64_t n;

    if (!lf_get_uint(reader, what, LF_MAX_KEY, &n))
        return false;
    if (n == 0)
        return fail_at(reader, start, what, "empty");
    if (n > (uint64_t)(reader->end - reader->p))
        return fail_at(reader, start, what, "cut short");
    *key = (const char *)reader->p;
    *len = (size_t)n;
    reader->p += n;
    return true;
}

bool lf_get_text(struct lf_reader *reader, const char *what, char *out, size_t size)
{
    const unsigned char *start = reader->p;
    uint64_t n;

    if (!lf_get_uint(reader, what, size - 1, &n))
        return false;
    if (n > (uint64_t)(reader->end - reader->p))
        return fail_at(reader, start, what, "cut short");
    for (size_t i = 0; i < n; i++)
        if (reader->p[i] < 0x20 || reader->p[i] > 0x7e)
            return fail_at(reader, start, what, "not printable ASCII");
    memcpy(out, reader->p, n);
    out[n] = '\0';
    reader->p += n;
    return true;
}

/* ---- tables ---- */

struct save_context {
    struct buf *out;
    lf_write_entry_fn *write;
};

static bool save_entry(const char *key, size_t key_len, time_t touched, void *data, void *context)
{
    struct save_context *save = context;

    lf_put_key(save->out, key, key_len);
    lf_put_time(save->out, touched);
    if (save->write != NULL)
        save->write(save->out, data);
    return true;
}

void lf_save_table(struct lf_table *table, struct buf *out, lf_write_entry_fn *write)
{
    struct save_context save = {out, write};

    lf_put_uint(out, table != NULL ? lf_table_count(table) : 0);
    if (table != NULL)
        lf_table_visit(table, save_entry, &save);
}

bool lf_restore_table(struct lf_reader *reader, struct lf_table *table, const char *what,
                      lf_read_entry_fn *read, void *context)
{
    char count_name[64], key_name[64], use_name[64];
    const char *key;
    size_t len;
    time_t touched;
    uint64_t n;
    void *data;

    snprintf(count_name, sizeof(count_name), "%s count", what);
    snprintf(key_name, sizeof(key_name), "%s key", what);
    snprintf(use_name, sizeof(use_name), "%s last use", what);
    if (!lf_get_uint(reader, count_name, LF_MAX_SESSIONS, &n))
        return false;
    for (uint64_t i = 0; i < n; i++) {
        if (!lf_get_key(reader, key_name, &key, &len))
            return false;
        if (table != NULL && lf_table_get(table, key, len) != NULL)
            return lf_reader_fail(reader, key_name, "repeated");
        if (!lf_get_time(reader, use_name, &touched))
            return false;
        data = read != NULL ? read(reader, context) : context;
        if (data == NULL)
            return false;
        if (table != NULL)
            lf_table_put_touched(table, key, len, data, touched);
    }
    return true;
}

/* ---- the envelope ---- */

uint64_t lf_checkpoint_checksum(const unsigned char *data, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (size_t i = 0; i < len; i++)
        h = (h ^ data[i]) * UINT64_C(0x100000001b3);
    return h;
}

static char format_code(enum lf_format format)
{
    return format == LF_POSTFIX ? 'p' : 's';
}

static const char *format_name(char code)
{
    return code == 'p' ? "Postfix" : code == 's' ? "Sendmail" : NULL;
}

void lf_parser_save(const struct lf_parser *parser, struct buf *out)
{
    size_t start = out->len;
    unsigned char sum[CHECKSUM_LEN];
    uint64_t h;

    buf_append(out, MAGIC, MAGIC_LEN);
    buf_putc(out, CHECKPOINT_VERSION);
    buf_putc(out, format_code(parser->settings.format));
    lf_put_time(out, parser->log_time);
    lf_put_uint(out, (uint64_t)parser->rfc3164_year);
    lf_put_uint(out, (uint64_t)parser->rfc3164_month);
    switch (parser->settings.format) {
    case LF_POSTFIX:
        lf_postfix_save(parser, out);
        break;
    case LF_SENDMAIL:
        lf_sendmail_save(parser, out);
        break;
    }
    h = lf_checkpoint_checksum((const unsigned char *)out->data + start, out->len - start);
    for (int i = 0; i < CHECKSUM_LEN; i++)
        sum[i] = (unsigned char)(h >> (8 * i));
    buf_append(out, sum, sizeof(sum));
}

/* A parser as just created: empty format state, no time read yet. */
static void parser_reset(struct lf_parser *parser)
{
    switch (parser->settings.format) {
    case LF_POSTFIX:
        lf_postfix_destroy(parser->format_state);
        parser->format_state = lf_postfix_create(parser);
        break;
    case LF_SENDMAIL:
        lf_sendmail_destroy(parser->format_state);
        parser->format_state = lf_sendmail_create(parser);
        break;
    }
    parser->log_time = 0;
    parser->rfc3164_year = parser->rfc3164_month = 0;
    parser->last_valid = parser->hour_known = false;
}

static bool restore_body(struct lf_parser *parser, struct lf_reader *reader)
{
    unsigned year, month;
    bool ok;

    if (!lf_get_time(reader, "log time", &parser->log_time) ||
        !lf_get_small(reader, "RFC 3164 year", MAX_YEAR, &year) ||
        !lf_get_small(reader, "RFC 3164 month", 12, &month))
        return false;
    if ((year == 0) != (month == 0))
        return lf_reader_fail(reader, "RFC 3164 year", "without its month");
    parser->rfc3164_year = (int)year;
    parser->rfc3164_month = (int)month;
    ok = parser->settings.format == LF_POSTFIX ? lf_postfix_restore(parser, reader)
                                               : lf_sendmail_restore(parser, reader);
    if (!ok)
        return lf_reader_fail(reader, "format state", "invalid"); /* keeps a first error */
    if (reader->p != reader->end)
        return lf_reader_fail(reader, "the end", "expected");
    return true;
}

int lf_parser_restore(struct lf_parser *parser, const void *data, size_t len, char **error_r)
{
    const unsigned char *bytes = data;
    struct lf_reader reader = {bytes, bytes, bytes, NULL, 0};
    char expected = format_code(parser->settings.format);
    char *error = NULL;
    uint64_t sum = 0;

    parser_reset(parser);
    if (len < HEADER_LEN + CHECKSUM_LEN || memcmp(bytes, MAGIC, MAGIC_LEN) != 0) {
        error = xstrdup("not a log parser checkpoint");
    } else if (bytes[MAGIC_LEN] < CHECKPOINT_OLDEST_VERSION ||
               bytes[MAGIC_LEN] > CHECKPOINT_VERSION) {
        error = xasprintf("checkpoint version %u, this build reads versions %u to %u",
                          bytes[MAGIC_LEN], CHECKPOINT_OLDEST_VERSION, CHECKPOINT_VERSION);
    } else {
        for (int i = 0; i < CHECKSUM_LEN; i++)
            sum |= (uint64_t)bytes[len - CHECKSUM_LEN + i] << (8 * i);
        if (sum != lf_checkpoint_checksum(bytes, len - CHECKSUM_LEN))
            error = xstrdup("damaged checkpoint (checksum mismatch; cut short?)");
        else if (format_name((char)bytes[MAGIC_LEN + 1]) == NULL)
            error = xasprintf("damaged checkpoint: unknown format %u", bytes[MAGIC_LEN + 1]);
        else if (bytes[MAGIC_LEN + 1] != (unsigned char)expected)
            error = xasprintf("a checkpoint of the %s parser, this one reads %s logs",
                              format_name((char)bytes[MAGIC_LEN + 1]), format_name(expected));
    }
    if (error == NULL) {
        reader.p = bytes + HEADER_LEN;
        reader.version = bytes[MAGIC_LEN];
        reader.end = bytes + len - CHECKSUM_LEN;
        if (!restore_body(parser, &reader)) {
            error = xasprintf("checkpoint %s", reader.error);
            free(reader.error);
        }
    }
    if (error == NULL)
        return 0;
    parser_reset(parser);
    *error_r = error;
    return -1;
}
