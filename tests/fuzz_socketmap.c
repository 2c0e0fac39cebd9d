/*
 * fuzz_socketmap.c - libFuzzer target for the socketmap netstring reader:
 * any bytes a client sends give the same requests and the same error whether
 * they arrive at once or in pieces, and every reply framed is read back whole.
 * Built with configure --enable-fuzzing CC=clang.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socketmap.h"

#define FUZZ_MAX_REQUEST 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Reads the whole input in pieces of the given size (0: at once); out gets
 * each request as "len:map|key;" and the result is the error or -1 for none.
 */
static int read_all(const char *input, size_t len, size_t piece, struct buf *out)
{
    struct smap_reader r;
    size_t pos = 0;
    int result = -1;

    smap_reader_init(&r, FUZZ_MAX_REQUEST);
    while (pos < len && result < 0) {
        size_t end = piece == 0 || len - pos < piece ? len : pos + piece;
        while (pos < end) {
            size_t used;
            int status = smap_reader_feed(&r, input + pos, end - pos, &used);
            pos += used;
            if (r.data.len > FUZZ_MAX_REQUEST)
                abort();
            if (status < 0) {
                result = (int)r.error;
                break;
            }
            if (status == 0)
                continue;
            const char *map, *key;
            enum smap_error error;
            buf_printf(out, "%zu:", r.data.len);
            if (smap_request_split(r.data.data, r.data.len, &map, &key, &error) == 0)
                buf_printf(out, "%s|%s;", map, key);
            else
                buf_printf(out, "error %d;", (int)error);
            smap_reader_next(&r);
        }
    }
    smap_reader_free(&r);
    return result;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf whole = {0}, pieces = {0}, framed = {0};
    const char *input = (const char *)data;

    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] % 7 + 1;
    int error_whole = read_all(input + 1, size - 1, 0, &whole);
    int error_pieces = read_all(input + 1, size - 1, piece, &pieces);
    if (error_whole != error_pieces || whole.len != pieces.len ||
        (whole.len && memcmp(whole.data, pieces.data, whole.len) != 0))
        abort();

    /* A reply framed and read back: the same bytes, or the replacement TEMP. */
    enum smap_reply_kind kind = smap_reply_frame(&framed, input + 1, size - 1);
    struct smap_reader r;
    size_t used;
    smap_reader_init(&r, SMAP_MAX_REPLY + 64);
    if (smap_reader_feed(&r, framed.data, framed.len, &used) != 1 || used != framed.len)
        abort();
    if ((unsigned)kind >= SMAP_REPLY_KIND_COUNT)
        abort();
    if (!(r.data.len == size - 1 && memcmp(r.data.data, input + 1, size - 1) == 0) &&
        strncmp(buf_cstr(&r.data), "TEMP lookup", 11) != 0)
        abort();
    smap_reader_free(&r);
    buf_free(&whole);
    buf_free(&pieces);
    buf_free(&framed);
    return 0;
}
