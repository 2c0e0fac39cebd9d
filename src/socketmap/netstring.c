/*
 * netstring.c - the socketmap wire format: an incremental, strict netstring
 * reader ("LEN:DATA,") with a size limit, the "NAME KEY" request split and
 * the reply framing with its kinds and size limit.
 */
#include "config.h"

#include <string.h>

#include "socketmap.h"

enum { READ_LENGTH_FIRST, READ_LENGTH, READ_DATA, READ_COMMA, READ_DONE, READ_FAILED };

static const char *const error_names[SMAP_ERR_COUNT] = {
    [SMAP_ERR_BAD_LENGTH] = "bad-length",       [SMAP_ERR_LEADING_ZERO] = "leading-zero",
    [SMAP_ERR_TOO_LARGE] = "too-large",         [SMAP_ERR_MISSING_COLON] = "missing-colon",
    [SMAP_ERR_MISSING_COMMA] = "missing-comma", [SMAP_ERR_NUL] = "nul-byte",
    [SMAP_ERR_BAD_REQUEST] = "bad-request",     [SMAP_ERR_TRUNCATED] = "truncated",
};

static const char *const error_texts[SMAP_ERR_COUNT] = {
    [SMAP_ERR_BAD_LENGTH] = "the netstring length is empty or not a number",
    [SMAP_ERR_LEADING_ZERO] = "the netstring length has a leading zero",
    [SMAP_ERR_TOO_LARGE] = "the request is longer than the limit",
    [SMAP_ERR_MISSING_COLON] = "the netstring length is not followed by ':'",
    [SMAP_ERR_MISSING_COMMA] = "the netstring data is not followed by ','",
    [SMAP_ERR_NUL] = "the request holds a NUL byte",
    [SMAP_ERR_BAD_REQUEST] = "the request is not \"NAME KEY\"",
    [SMAP_ERR_TRUNCATED] = "the connection closed in the middle of a request",
};

const char *smap_error_name(enum smap_error error)
{
    return (unsigned)error < SMAP_ERR_COUNT ? error_names[error] : "unknown";
}

const char *smap_error_text(enum smap_error error)
{
    return (unsigned)error < SMAP_ERR_COUNT ? error_texts[error] : "unknown error";
}

void smap_reader_init(struct smap_reader *r, size_t max_length)
{
    memset(r, 0, sizeof(*r));
    r->max_length = max_length ? max_length : SMAP_DEFAULT_MAX_REQUEST;
    buf_init(&r->data);
    r->state = READ_LENGTH_FIRST;
}

void smap_reader_free(struct smap_reader *r)
{
    buf_free(&r->data);
}

void smap_reader_next(struct smap_reader *r)
{
    if (r->state != READ_DONE)
        return;
    buf_reset(&r->data);
    r->length = 0;
    r->state = READ_LENGTH_FIRST;
}

bool smap_reader_partial(const struct smap_reader *r)
{
    return r->state != READ_LENGTH_FIRST && r->state != READ_DONE && r->state != READ_FAILED;
}

static int fail(struct smap_reader *r, enum smap_error error)
{
    r->state = READ_FAILED;
    r->error = error;
    return -1;
}

int smap_reader_feed(struct smap_reader *r, const char *input, size_t len, size_t *used)
{
    size_t i = 0;

    *used = 0;
    if (r->state == READ_FAILED)
        return -1;
    if (r->state == READ_DONE)
        return 1;
    while (i < len) {
        char c = input[i];
        switch (r->state) {
        case READ_LENGTH_FIRST:
            if (c < '0' || c > '9')
                return *used = i, fail(r, SMAP_ERR_BAD_LENGTH);
            r->length = (size_t)(c - '0');
            r->state = READ_LENGTH;
            i++;
            break;
        case READ_LENGTH:
            if (c == ':') {
                i++;
                if (r->length == 0) {
                    r->state = READ_COMMA;
                    break;
                }
                buf_reserve(&r->data, r->length);
                r->state = READ_DATA;
                break;
            }
            if (c < '0' || c > '9')
                return *used = i, fail(r, SMAP_ERR_MISSING_COLON);
            if (r->length == 0)
                return *used = i, fail(r, SMAP_ERR_LEADING_ZERO);
            /* The limit is far below SIZE_MAX / 10, so this cannot overflow. */
            r->length = r->length * 10 + (size_t)(c - '0');
            if (r->length > r->max_length)
                return *used = i, fail(r, SMAP_ERR_TOO_LARGE);
            i++;
            break;
        case READ_DATA: {
            size_t want = r->length - r->data.len;
            size_t take = len - i < want ? len - i : want;
            if (memchr(input + i, '\0', take) != NULL)
                return *used = i, fail(r, SMAP_ERR_NUL);
            buf_append(&r->data, input + i, take);
            i += take;
            if (r->data.len == r->length)
                r->state = READ_COMMA;
            break;
        }
        case READ_COMMA:
            if (c != ',')
                return *used = i, fail(r, SMAP_ERR_MISSING_COMMA);
            i++;
            r->state = READ_DONE;
            *used = i;
            return 1;
        }
    }
    *used = i;
    return 0;
}

int smap_request_split(char *payload, size_t len, const char **name_r, const char **key_r,
                       enum smap_error *error_r)
{
    char *space;

    /* "0:," leaves no payload at all (NULL): nothing may look into it. */
    if (payload == NULL || len == 0) {
        *error_r = SMAP_ERR_BAD_REQUEST;
        return -1;
    }
    space = memchr(payload, ' ', len);
    if (memchr(payload, '\0', len) != NULL) {
        *error_r = SMAP_ERR_NUL;
        return -1;
    }
    if (space == NULL || space == payload || space + 1 == payload + len) {
        *error_r = SMAP_ERR_BAD_REQUEST;
        return -1;
    }
    *space = '\0';
    *name_r = payload;
    *key_r = space + 1;
    return 0;
}

static const struct {
    const char *prefix;
    size_t len;
} reply_prefixes[SMAP_REPLY_KIND_COUNT] = {
    [SMAP_REPLY_OK] = {"OK ", 3},     [SMAP_REPLY_NOTFOUND] = {"NOTFOUND ", 9},
    [SMAP_REPLY_TEMP] = {"TEMP ", 5}, [SMAP_REPLY_TIMEOUT] = {"TIMEOUT ", 8},
    [SMAP_REPLY_PERM] = {"PERM ", 5},
};

static const char *const reply_kind_names[SMAP_REPLY_KIND_COUNT] = {"ok", "notfound", "temp",
                                                                    "timeout", "perm"};

const char *smap_reply_kind_name(enum smap_reply_kind kind)
{
    return (unsigned)kind < SMAP_REPLY_KIND_COUNT ? reply_kind_names[kind] : "unknown";
}

static void frame(struct buf *out, const char *data, size_t len)
{
    char digits[24];
    size_t n = sizeof(digits), rest = len;

    /* By hand: this runs for every reply, printf's machinery is not needed. */
    digits[--n] = ':';
    do
        digits[--n] = (char)('0' + rest % 10);
    while ((rest /= 10) > 0 && n > 0);
    buf_append(out, digits + n, sizeof(digits) - n);
    buf_append(out, data, len);
    buf_putc(out, ',');
}

enum smap_reply_kind smap_reply_frame(struct buf *out, const char *reply, size_t len)
{
    static const char too_large[] = "TEMP lookup reply too large";
    static const char malformed[] = "TEMP lookup gave a malformed reply";

    if (len > SMAP_MAX_REPLY) {
        frame(out, too_large, sizeof(too_large) - 1);
        return SMAP_REPLY_TEMP;
    }
    for (int kind = 0; kind < SMAP_REPLY_KIND_COUNT; kind++) {
        /* The kind word alone ("NOTFOUND") is what Postfix accepts too. */
        size_t plen = reply_prefixes[kind].len;
        bool word_alone = len == plen - 1;
        if ((len >= plen || word_alone) &&
            memcmp(reply, reply_prefixes[kind].prefix, word_alone ? plen - 1 : plen) == 0 &&
            memchr(reply, '\0', len) == NULL) {
            frame(out, reply, len);
            return (enum smap_reply_kind)kind;
        }
    }
    frame(out, malformed, sizeof(malformed) - 1);
    return SMAP_REPLY_TEMP;
}
