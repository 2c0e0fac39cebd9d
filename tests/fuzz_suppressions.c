/*
 * fuzz_suppressions.c - libFuzzer target for the suppression list reader
 * (spool_suppressions_load): any file is refused with its name and line,
 * or gives a list that saves and loads back the same.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* In memory where there is /dev/shm: every load and save writes and syncs the file. */
static char dir[] = "/dev/shm/fuzz-suppressions.XXXXXX";
static char fallback[] = "/tmp/fuzz-suppressions.XXXXXX";
static const char *dir_made;
static char *path;

static void remove_dir(void)
{
    dir_remove_tree(dir_made);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spool_suppressions list, again;
    char *error = NULL;

    if (path == NULL) {
        if ((dir_made = mkdtemp(dir)) == NULL && (dir_made = mkdtemp(fallback)) == NULL)
            abort();
        atexit(remove_dir);
        path = xasprintf("%s/suppressed", dir_made);
    }
    if (file_write_atomic(path, data, size, 0600, &error) != 0)
        abort();
    if (spool_suppressions_load(path, &list, &error) != 0) {
        if (error == NULL || strncmp(error, path, strlen(path)) != 0)
            abort();
        free(error);
        spool_suppressions_free(&list);
        return 0;
    }
    if (spool_suppressions_save(&list, &error) != 0 ||
        spool_suppressions_load(path, &again, &error) != 0)
        abort();
    /* Saved: every destination with something to remember, once. */
    size_t kept = 0;
    for (size_t i = 0; i < list.n; i++) {
        const struct spool_suppression *s = &list.items[i], *t;
        if (s->until == 0 && s->failures_in_a_row == 0)
            continue;
        kept++;
        t = spool_suppression_find(&again, s->uri, false);
        if (t == NULL || t->until != s->until || t->failures_in_a_row != s->failures_in_a_row ||
            t->manual != s->manual)
            abort();
    }
    if (again.n != kept)
        abort();
    spool_suppressions_free(&list);
    spool_suppressions_free(&again);
    return 0;
}
