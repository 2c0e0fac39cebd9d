/*
 * fuzz_follow_checkpoint.c - libFuzzer target for the follower's checkpoint
 * file reader (lf_checkpoint_decode), as read raw and with its closing
 * "end CHECKSUM" line made valid so the fuzzer reaches the records; each
 * source's parser state then goes through lf_parser_restore.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/logfollow/follow_impl.h"
#include "logfollow.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore_event(const struct tr_event *event, void *context)
{
    (void)event;
    (void)context;
}

static void decode(const char *text, size_t len)
{
    static const enum lf_format formats[] = {LF_POSTFIX, LF_SENDMAIL};
    struct lf_checkpoint cp;
    char *error = NULL;

    if (lf_checkpoint_decode("fuzz.pos", text, len, &cp, &error) != 0) {
        if (error == NULL || strncmp(error, "fuzz.pos", 8) != 0)
            abort();
        free(error);
        return;
    }
    if (cp.n_sources > LF_MAX_SOURCES)
        abort();
    for (size_t i = 0; i < cp.n_sources; i++) {
        for (size_t f = 0; f < UTIL_ARRAY_LEN(formats); f++) {
            struct lf_settings settings = {.format = formats[f], .now = 1700000000};
            struct lf_parser *parser = lf_parser_create(&settings, ignore_event, NULL);
            if (lf_parser_restore(parser, cp.sources[i].state, cp.sources[i].state_len,
                                  &error) != 0)
                free(error);
            lf_parser_flush(parser);
            lf_parser_destroy(parser);
        }
    }
    lf_checkpoint_free(&cp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *end_line = NULL;
    struct buf sealed;
    char line[32];

    msg_setup("fuzz", 0, 0);
    decode(text, size);
    /* The same records sealed with the right checksum in place of the last "end" line. */
    for (size_t i = 0; i + 4 <= size; i++)
        if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "end ", 4) == 0)
            end_line = text + i;
    buf_init(&sealed);
    buf_append(&sealed, text, end_line ? (size_t)(end_line - text) : size);
    if (sealed.len > 0 && sealed.data[sealed.len - 1] != '\n')
        buf_putc(&sealed, '\n');
    snprintf(line, sizeof(line), "end %016" PRIx64 "\n", hash64(sealed.data, sealed.len, 0));
    buf_puts(&sealed, line);
    decode(sealed.data, sealed.len);
    buf_free(&sealed);
    return 0;
}
