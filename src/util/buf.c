/*
 * buf.c - growable, always NUL-terminated byte buffers (Postfix VSTRING in
 * spirit): every append checks for size overflow and grows geometrically.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_reserve(struct buf *b, size_t extra)
{
    size_t need;

    if (__builtin_add_overflow(b->len, extra, &need) || need == SIZE_MAX)
        msg_panic("buf_reserve: size overflow");
    need += 1; /* the terminating NUL */
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = xreallocarray(b->data, cap, 1);
    b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, int c)
{
    char ch = (char)c;

    buf_append(b, &ch, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int need;

    va_start(ap, fmt);
    need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        msg_panic("buf_printf: bad format");
    buf_reserve(b, (size_t)need);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

const char *buf_cstr(struct buf *b)
{
    if (b->data == NULL)
        buf_reserve(b, 0), b->data[0] = '\0';
    return b->data;
}

char *buf_steal(struct buf *b)
{
    char *data;

    buf_cstr(b);
    data = b->data;
    buf_init(b);
    return data;
}
