/*
 * mem.c - allocation that never returns NULL (running out of memory is
 * fatal, as in Postfix's mymalloc), and overflow-checked size arithmetic.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void *mem_check(void *ptr, size_t size)
{
    if (ptr == NULL && size != 0)
        msg_fatal("out of memory allocating %zu bytes", size);
    return ptr;
}

bool size_mul_ok(size_t a, size_t b, size_t *result)
{
    return !__builtin_mul_overflow(a, b, result);
}

void *xmalloc(size_t size)
{
    return mem_check(malloc(size ? size : 1), size ? size : 1);
}

void *xcalloc(size_t count, size_t size)
{
    size_t total;

    if (!size_mul_ok(count, size, &total))
        msg_panic("xcalloc: %zu * %zu overflows", count, size);
    return mem_check(calloc(count ? count : 1, size ? size : 1), 1);
}

void *xreallocarray(void *ptr, size_t count, size_t size)
{
    size_t total;

    if (!size_mul_ok(count, size, &total))
        msg_panic("xreallocarray: %zu * %zu overflows", count, size);
    if (total == 0)
        total = 1;
    return mem_check(realloc(ptr, total), total);
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = xmalloc(len + 1);

    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    char *result;

    if (vasprintf(&result, fmt, ap) < 0)
        msg_fatal("out of memory formatting a string");
    return result;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *result;

    va_start(ap, fmt);
    result = xvasprintf(fmt, ap);
    va_end(ap);
    return result;
}
