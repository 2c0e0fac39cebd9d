/*
 * gzip.c - reports travel gzip-compressed (RFC 8460 §5.2, application/
 * tlsrpt+gzip): one RFC 1952 member made by zlib at level 6.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "report.h"
#include "util.h"

#define GZIP_LEVEL 6
#define GZIP_WINDOW_BITS (15 + 16) /* a 32 KiB window, gzip wrapper */
#define GZIP_MEM_LEVEL 8

int rpt_gzip(const void *data, size_t len, struct buf *out, char **error_r)
{
    const unsigned char *in = data;
    z_stream stream;
    int status;

    memset(&stream, 0, sizeof(stream));
    status = deflateInit2(&stream, GZIP_LEVEL, Z_DEFLATED, GZIP_WINDOW_BITS, GZIP_MEM_LEVEL,
                          Z_DEFAULT_STRATEGY);
    if (status != Z_OK) {
        *error_r = xasprintf("gzip: deflateInit2: %s", stream.msg ? stream.msg : zError(status));
        return -1;
    }
    buf_reset(out);
    /* Usually one deflate() call: the bound holds all of the output. */
    buf_reserve(out, len <= UINT_MAX ? deflateBound(&stream, (uLong)len) : 65536);
    do {
        if (stream.avail_in == 0 && len > 0) {
            stream.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
            stream.next_in = in;
            in += stream.avail_in;
            len -= stream.avail_in;
        }
        if (out->cap - out->len - 1 == 0)
            buf_reserve(out, 65536);
        size_t room = out->cap - out->len - 1;
        stream.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        stream.next_out = (unsigned char *)out->data + out->len;
        status = deflate(&stream, len == 0 ? Z_FINISH : Z_NO_FLUSH);
        out->len += room > UINT_MAX ? UINT_MAX - stream.avail_out : room - stream.avail_out;
        if (status == Z_STREAM_ERROR) {
            deflateEnd(&stream);
            out->data[out->len] = '\0';
            *error_r = xasprintf("gzip: deflate: %s", stream.msg ? stream.msg : zError(status));
            return -1;
        }
    } while (status != Z_STREAM_END);
    out->data[out->len] = '\0';
    deflateEnd(&stream);
    return 0;
}
