/*
 * fuzz_spool_state.c - libFuzzer target for the outbox's delivery state
 * reader (spool_state_parse): any text is refused with the file and line,
 * or gives an entry that writes out and reads back unchanged; and for the
 * framing of a day's state.log (spool_log_scan): any bytes give records
 * within the input, each parsed the same way, and an end within it.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/spool/spool_impl.h"
#include "spool.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_state(const uint8_t *data, size_t size);

static void scanned(char type, uint64_t offset, const unsigned char *payload, uint32_t len,
                    void *context)
{
    size_t size = *(size_t *)context;

    (void)payload;
    if (offset > size || size - offset < SPOOL_LOG_HEADER + (uint64_t)len)
        abort(); /* a record beyond the input */
    if (type == SPOOL_RECORD_STATE)
        check_state(payload, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The bytes as a log (a frame is easy to make: the corpus has some), then as one record. */
    if (spool_log_scan(data, 0, size, "fuzz.log", scanned, &size) > size)
        abort();
    return check_state(data, size);
}

static int check_state(const uint8_t *data, size_t size)
{
    struct spool_entry entry, again;
    struct buf first, second;
    char *text = xmalloc(size + 1), *error = NULL;

    memcpy(text, data, size);
    text[size] = '\0';
    if (spool_state_parse(text, "fuzz.state", &entry, &error) != 0) {
        if (error == NULL || strncmp(error, "fuzz.state", 10) != 0)
            abort();
        free(error);
        free(text);
        return 0;
    }
    buf_init(&first);
    buf_init(&second);
    spool_state_format(&entry, &first);
    /* Parsing works in place: the written text is compared before. */
    char *written = xstrdup(buf_cstr(&first));
    if (spool_state_parse((char *)buf_cstr(&first), "fuzz.state", &again, &error) != 0)
        abort(); /* what the spool writes, it reads */
    spool_state_format(&again, &second);
    if (strcmp(written, buf_cstr(&second)) != 0)
        abort();
    free(written);
    spool_entry_free(&entry);
    spool_entry_free(&again);
    buf_free(&first);
    buf_free(&second);
    free(text);
    return 0;
}
