/*
 * bench_dsn.c - DSNs parsed per second (dsn_parse on the Postfix and
 * Sendmail bounces of tests/data/dsn), beside a same-run baseline: GMime
 * alone parsing the same bytes into a message, which dsn_parse cannot beat.
 * Figures are indicative on a shared machine.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <gmime/gmime.h>

#include "dsn.h"
#include "util.h"

#define RUNS 5000

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void gmime_only(const struct buf *message)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(message->data, message->len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *parsed = g_mime_parser_construct_message(parser, NULL);

    if (parsed == NULL)
        abort();
    g_object_unref(parsed);
    g_object_unref(parser);
    g_object_unref(stream);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/data/dsn";
    const char *const files[] = {"postfix-failed.eml", "sendmail-failed.eml"};

    for (size_t f = 0; f < UTIL_ARRAY_LEN(files); f++) {
        char *path = path_join(dir, files[f]), *error;
        struct buf message;
        struct dsn *dsn;

        buf_init(&message);
        if (file_read_all(path, 1 << 20, &message, &error) < 0)
            msg_fatal("%s", error);
        if (dsn_parse(message.data, message.len, &dsn, &error) < 0) /* also initializes GMime */
            msg_fatal("%s: %s", path, error);
        dsn_free(dsn);
        double start = now_seconds();
        for (int i = 0; i < RUNS; i++)
            gmime_only(&message);
        double middle = now_seconds();
        for (int i = 0; i < RUNS; i++) {
            if (dsn_parse(message.data, message.len, &dsn, &error) < 0)
                msg_fatal("%s: %s", path, error);
            dsn_free(dsn);
        }
        double end = now_seconds();
        printf("bench_dsn: %s (%zu bytes): dsn_parse %.0f/s (%.0f us each); "
               "baseline, GMime alone: %.0f/s\n",
               files[f], message.len, RUNS / (end - middle), (end - middle) / RUNS * 1e6,
               RUNS / (middle - start));
        buf_free(&message);
        free(path);
    }
    return 0;
}
