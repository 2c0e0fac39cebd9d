/*
 * config_capture.c - test helper of the config suites: stderr captured
 * around calls that warn, and configuration text loaded as "t.cf".
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cfg.h"
#include "util.h"
#include "config_capture.h"

/*
 * stderr is sent to a temporary file around calls that warn, so tests can
 * check warnings and the output of the run stays readable.
 */
static int saved_stderr = -1;
static FILE *capture_file;

void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    ck_assert_ptr_nonnull(capture_file);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_stderr, 0);
    ck_assert_int_ge(dup2(fileno(capture_file), STDERR_FILENO), 0);
}

char *capture_end(void)
{
    struct buf text = {0};
    char chunk[4096];
    size_t n;

    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    rewind(capture_file);
    while ((n = fread(chunk, 1, sizeof(chunk), capture_file)) > 0)
        buf_append(&text, chunk, n);
    fclose(capture_file);
    return buf_steal(&text);
}

/* Loads text as "t.cf"; warnings are swallowed. */
struct cfg *load(const char *text, char **error)
{
    struct cfg *cfg;

    *error = NULL;
    capture_begin();
    cfg = cfg_load_string(text, "t.cf", error);
    free(capture_end());
    return cfg;
}
