/*
 * follow_checkpoint.c - the follower's checkpoint file: for each source its
 * read position (file inode, offset and the bytes before it, or journal
 * cursor) and parser state, then the absolute values of the counters the
 * batch changed, closed by a checksum. Text, one record per line; every
 * byte string is hex so no value can break a line.
 *
 *   tlsrptd-logpos 1
 *   source SPEC KIND DEV INODE OFFSET FINGERPRINT CURSOR STATE
 *   cell DAY SLOT FIELD VALUE
 *   end CHECKSUM
 *
 * KIND is "file" (a known position), "start" (the file or journal is read
 * from its start when it appears) or "journal"; "-" is an empty string.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow_impl.h"

#define MAGIC "tlsrptd-logpos 1\n"
/* Fields of a source line, after the word "source". */
#define SOURCE_FIELDS 8
#define CELL_FIELDS 4
/* Days a batch can touch are recent; a checkpoint's cells stay plausible. */
#define MAX_CELLS (64u << 20)

static void put_hex(struct buf *out, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *bytes = data;

    if (len == 0) {
        buf_putc(out, '-');
        return;
    }
    buf_reserve(out, 2 * len);
    for (size_t i = 0; i < len; i++) {
        out->data[out->len++] = digits[bytes[i] >> 4];
        out->data[out->len++] = digits[bytes[i] & 15];
    }
    out->data[out->len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes a hex field ("-": empty) into a new allocation with a NUL after it. */
static bool get_hex(const char *text, size_t len, unsigned char **out_r, size_t *len_r)
{
    unsigned char *out;

    *out_r = NULL;
    *len_r = 0;
    if (len == 1 && text[0] == '-')
        return true;
    if (len == 0 || len % 2 != 0)
        return false;
    out = xmalloc(len / 2 + 1);
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return false;
        }
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    out[len / 2] = '\0';
    *out_r = out;
    *len_r = len / 2;
    return true;
}

static void encode_source(struct lf_source *source, struct buf *out)
{
    const struct lf_file_position *pos = &source->file.pos;
    const char *cursor = source->spec.journal ? lf_journal_cursor(source) : NULL;
    const char *kind;
    struct buf state;

    if (source->spec.journal)
        kind = cursor != NULL ? "journal" : "start";
    else
        kind = pos->known ? "file" : "start";
    buf_puts(out, "source ");
    put_hex(out, source->spec.text, strlen(source->spec.text));
    buf_printf(out, " %s %" PRIu64 " %" PRIu64 " %" PRIu64 " ", kind, pos->dev, pos->ino,
               pos->offset);
    put_hex(out, pos->fingerprint, pos->known ? pos->fingerprint_len : 0);
    buf_putc(out, ' ');
    put_hex(out, cursor, cursor != NULL ? strlen(cursor) : 0);
    buf_putc(out, ' ');
    buf_init(&state);
    lf_parser_save(source->parser, &state);
    put_hex(out, state.data, state.len);
    buf_free(&state);
    buf_putc(out, '\n');
}

void lf_checkpoint_encode(struct lf_follower *follower, struct buf *out)
{
    size_t start = out->len;

    buf_puts(out, MAGIC);
    for (size_t i = 0; i < follower->n_sources; i++)
        encode_source(&follower->sources[i], out);
    for (size_t i = 0; i < follower->batch.n; i++) {
        const struct lf_batch_cell *c = &follower->batch.cells[i];
        buf_printf(out, "cell %d %" PRIu32 " %" PRIu32 " %" PRIu64 "\n", c->day, c->cell.slot,
                   c->cell.field, c->value);
    }
    buf_printf(out, "end %016" PRIx64 "\n", hash64(out->data + start, out->len - start, 0));
}

/* Splits a line into at most max space-separated fields; returns how many. */
static size_t split(const char *line, size_t len, const char **fields, size_t *lens, size_t max)
{
    size_t n = 0, i = 0;

    while (i < len && n <= max) {
        size_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        if (n < max) {
            fields[n] = line + start;
            lens[n] = i - start;
        }
        n++;
        i++; /* the space */
    }
    return n;
}

static bool get_u64(const char *text, size_t len, uint64_t max, uint64_t *value_r)
{
    uint64_t value = 0;

    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9' || value > (UINT64_MAX - 9) / 10)
            return false;
        value = value * 10 + (uint64_t)(text[i] - '0');
    }
    *value_r = value;
    return value <= max;
}

static bool decode_source(const char **f, const size_t *l, struct lf_checkpoint_source *s)
{
    unsigned char *fingerprint, *cursor;
    size_t fingerprint_len, spec_len, cursor_len;
    bool file = l[1] == 4 && memcmp(f[1], "file", 4) == 0;

    if (!get_hex(f[0], l[0], (unsigned char **)&s->spec, &spec_len) || s->spec == NULL ||
        strlen(s->spec) != spec_len)
        return false;
    if (!file && !(l[1] == 5 && memcmp(f[1], "start", 5) == 0) &&
        !(l[1] == 7 && memcmp(f[1], "journal", 7) == 0))
        return false;
    if (!get_u64(f[2], l[2], UINT64_MAX, &s->file.dev) ||
        !get_u64(f[3], l[3], UINT64_MAX, &s->file.ino) ||
        !get_u64(f[4], l[4], INT64_MAX, &s->file.offset))
        return false;
    if (!get_hex(f[5], l[5], &fingerprint, &fingerprint_len))
        return false;
    if (fingerprint_len > LF_FINGERPRINT_SIZE || fingerprint_len > s->file.offset) {
        free(fingerprint);
        return false;
    }
    if (fingerprint_len > 0)
        memcpy(s->file.fingerprint, fingerprint, fingerprint_len);
    free(fingerprint);
    s->file.fingerprint_len = fingerprint_len;
    s->file.known = file;
    s->from_start = l[1] == 5 && memcmp(f[1], "start", 5) == 0;
    if (!get_hex(f[6], l[6], &cursor, &cursor_len) ||
        (cursor != NULL && strlen((char *)cursor) != cursor_len)) {
        free(cursor);
        return false;
    }
    s->cursor = (char *)cursor;
    return get_hex(f[7], l[7], &s->state, &s->state_len);
}

static bool decode_cell(const char **f, const size_t *l, struct lf_batch_cell *cell)
{
    uint64_t day, slot, field, value;

    if (!get_u64(f[0], l[0], INT32_MAX, &day) || !get_u64(f[1], l[1], UINT32_MAX, &slot) ||
        !get_u64(f[2], l[2], 1, &field) || !get_u64(f[3], l[3], UINT64_MAX, &value))
        return false;
    *cell = (struct lf_batch_cell){(int)day, {(uint32_t)slot, (uint32_t)field}, value};
    return true;
}

int lf_checkpoint_decode(const char *path, const char *text, size_t len,
                         struct lf_checkpoint *cp, char **error_r)
{
    const char *at, *end = text + len, *nl, *f[SOURCE_FIELDS + 1];
    size_t l[SOURCE_FIELDS + 1], cells_cap = 0, line_no = 1;
    bool ended = false;

    memset(cp, 0, sizeof(*cp));
    if (len < strlen(MAGIC) || memcmp(text, MAGIC, strlen(MAGIC)) != 0) {
        *error_r = xasprintf("%s: not a tlsrptd log checkpoint (of this version)", path);
        return -1;
    }
    for (at = text + strlen(MAGIC); at < end && !ended; at = nl + 1) {
        size_t n;

        line_no++;
        if ((nl = memchr(at, '\n', (size_t)(end - at))) == NULL)
            break;
        n = split(at, (size_t)(nl - at), f, l, SOURCE_FIELDS + 1);
        if (n == SOURCE_FIELDS + 1 && l[0] == 6 && memcmp(f[0], "source", 6) == 0) {
            struct lf_checkpoint_source *s;
            if (cp->n_sources == LF_MAX_SOURCES)
                goto bad;
            cp->sources = xreallocarray(cp->sources, cp->n_sources + 1, sizeof(*cp->sources));
            s = &cp->sources[cp->n_sources++];
            memset(s, 0, sizeof(*s));
            if (!decode_source(f + 1, l + 1, s))
                goto bad;
        } else if (n == CELL_FIELDS + 1 && l[0] == 4 && memcmp(f[0], "cell", 4) == 0) {
            if (cp->n_cells == MAX_CELLS)
                goto bad;
            if (cp->n_cells == cells_cap) {
                cells_cap = cells_cap ? 2 * cells_cap : 64;
                cp->cells = xreallocarray(cp->cells, cells_cap, sizeof(*cp->cells));
            }
            if (!decode_cell(f + 1, l + 1, &cp->cells[cp->n_cells++]))
                goto bad;
        } else if (n == 2 && l[0] == 3 && memcmp(f[0], "end", 3) == 0) {
            char expected[17];
            snprintf(expected, sizeof(expected), "%016" PRIx64, hash64(text, (size_t)(at - text), 0));
            if (l[1] != 16 || memcmp(f[1], expected, 16) != 0 || nl + 1 != end) {
                *error_r = xasprintf("%s: damaged (checksum mismatch)", path);
                lf_checkpoint_free(cp);
                return -1;
            }
            ended = true;
        } else {
            goto bad;
        }
    }
    if (!ended) {
        *error_r = xasprintf("%s: damaged (cut short)", path);
        lf_checkpoint_free(cp);
        return -1;
    }
    return 0;
bad:
    *error_r = xasprintf("%s:%zu: damaged record", path, line_no);
    lf_checkpoint_free(cp);
    return -1;
}

void lf_checkpoint_free(struct lf_checkpoint *cp)
{
    for (size_t i = 0; i < cp->n_sources; i++) {
        free(cp->sources[i].spec);
        free(cp->sources[i].cursor);
        free(cp->sources[i].state);
    }
    free(cp->sources);
    free(cp->cells);
    memset(cp, 0, sizeof(*cp));
}
