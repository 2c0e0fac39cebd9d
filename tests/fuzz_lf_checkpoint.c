/*
 * fuzz_lf_checkpoint.c - libFuzzer target for the log parser's checkpoint
 * reader (lf_parser_restore): the input is a checkpoint's body, closed here
 * with a valid envelope so the fuzzer gets past the checksum. A damaged one
 * is refused with a reason and leaves the parser empty; one that restores
 * saves a checkpoint that restores and saves back to the same bytes.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/logfollow/lf_impl.h"
#include "core.h"
#include "logfollow.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_event(const struct tr_event *event, void *context)
{
    const char *why;

    (void)context;
    if (tr_event_check(event, &why) != 0 || event->n_policies < 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lf_settings settings = {.now = 1700000000, .report_sender = "r@sender.example"};
    struct buf in, out;
    struct lf_parser *parser;
    char *error = NULL;
    uint64_t sum;

    msg_setup("fuzz", 0, 0);
    if (size == 0)
        return 0;
    settings.format = (data[0] & 1) ? LF_SENDMAIL : LF_POSTFIX;
    buf_init(&in);
    buf_append(&in, "LFCP\1", 5);
    buf_putc(&in, (data[0] & 2) ? 'x' : settings.format == LF_POSTFIX ? 'p' : 's');
    buf_append(&in, data + 1, size - 1);
    sum = lf_checkpoint_checksum((const unsigned char *)in.data, in.len);
    for (int i = 0; i < 8; i++)
        buf_putc(&in, (int)(unsigned char)(sum >> (8 * i)));

    parser = lf_parser_create(&settings, check_event, NULL);
    buf_init(&out);
    if (lf_parser_restore(parser, in.data, in.len, &error) == 0) {
        /* Saved again it may be shorter (numbers written in fewer bytes), and is then stable. */
        struct lf_parser *again = lf_parser_create(&settings, check_event, NULL);
        lf_parser_save(parser, &out);
        if (lf_parser_restore(again, out.data, out.len, &error) != 0)
            abort();
        buf_reset(&in);
        lf_parser_save(again, &in);
        lf_parser_destroy(again);
        if (out.len != in.len || memcmp(out.data, in.data, in.len) != 0)
            abort();
    } else {
        if (error == NULL || error[0] == '\0')
            abort();
        free(error);
        /* Left empty: it saves what a new parser saves. */
        lf_parser_save(parser, &out);
        buf_reset(&in);
        struct lf_parser *fresh = lf_parser_create(&settings, check_event, NULL);
        lf_parser_save(fresh, &in);
        lf_parser_destroy(fresh);
        if (out.len != in.len || memcmp(out.data, in.data, in.len) != 0)
            abort();
    }
    lf_parser_flush(parser);
    lf_parser_destroy(parser);
    buf_free(&in);
    buf_free(&out);
    return 0;
}
