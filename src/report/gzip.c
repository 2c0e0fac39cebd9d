/*
 * gzip.c - reports travel gzip-compressed (RFC 8460 §5.2, application/
 * tlsrpt+gzip): one RFC 1952 member made by zlib at level 6. Each thread
 * keeps its deflate state (~270 KB) and resets it for the next report:
 * setting it up anew for every report of a big day cost more than the
 * compression itself (allocation, page faults).
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "report.h"
#include "util.h"

#define GZIP_LEVEL 6
#define GZIP_WINDOW_BITS (15 + 16) /* a 32 KiB window, gzip wrapper */
#define GZIP_MEM_LEVEL 8

/* This thread's deflate state, made once; deflateReset gives the same output as a new one. */
static _Thread_local z_stream thread_stream;
static _Thread_local bool thread_stream_ready;

static z_stream *stream_get(char **error_r)
{
    int status;

    if (thread_stream_ready) {
        if ((status = deflateReset(&thread_stream)) == Z_OK)
            return &thread_stream;
        deflateEnd(&thread_stream);
        thread_stream_ready = false;
    }
    memset(&thread_stream, 0, sizeof(thread_stream));
    status = deflateInit2(&thread_stream, GZIP_LEVEL, Z_DEFLATED, GZIP_WINDOW_BITS,
                          GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY);
    if (status != Z_OK) {
        *error_r = xasprintf("gzip: deflateInit2: %s",
                             thread_stream.msg ? thread_stream.msg : zError(status));
        return NULL;
    }
    thread_stream_ready = true;
    return &thread_stream;
}

int rpt_gzip(const void *data, size_t len, struct buf *out, char **error_r)
{
    const unsigned char *in = data;
    z_stream *stream = stream_get(error_r);
    int status;

    if (stream == NULL)
        return -1;
    buf_reset(out);
    /* Usually one deflate() call: the bound holds all of the output. */
    buf_reserve(out, len <= UINT_MAX ? deflateBound(stream, (uLong)len) : 65536);
    do {
        if (stream->avail_in == 0 && len > 0) {
            stream->avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
            stream->next_in = in;
            in += stream->avail_in;
            len -= stream->avail_in;
        }
        if (out->cap - out->len - 1 == 0)
            buf_reserve(out, 65536);
        size_t room = out->cap - out->len - 1;
        stream->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        stream->next_out = (unsigned char *)out->data + out->len;
        status = deflate(stream, len == 0 ? Z_FINISH : Z_NO_FLUSH);
        out->len += room > UINT_MAX ? UINT_MAX - stream->avail_out : room - stream->avail_out;
        if (status == Z_STREAM_ERROR) {
            *error_r = xasprintf("gzip: deflate: %s", stream->msg ? stream->msg : zError(status));
            deflateEnd(stream);
            thread_stream_ready = false;
            out->data[out->len] = '\0';
            return -1;
        }
    } while (status != Z_STREAM_END);
    out->data[out->len] = '\0';
    return 0;
}
