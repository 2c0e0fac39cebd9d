/*
 * legacy.c - days written by the previous version (ID.json + ID.state per
 * report): listed and read as they are until the outbox's owner converts
 * each into reports + state.log, once, built aside and swapped in by one
 * rename so a crash leaves the old day or the new one.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

bool spool_legacy_day(const char *day_dir)
{
    struct stat st;
    char *path = path_join(day_dir, SPOOL_LOG_FILE);
    bool legacy = lstat(path, &st) < 0 && errno == ENOENT;

    free(path);
    return legacy;
}

static int read_state(const char *path, struct spool_entry *entry, char **error_r)
{
    struct stat st;
    struct buf text;

    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        *error_r = xasprintf("%s: not a regular file", path);
        return -1;
    }
    buf_init(&text);
    int result = file_read_all(path, SPOOL_STATE_MAX_SIZE, &text, error_r);
    if (result == 0)
        result = spool_state_parse((char *)buf_cstr(&text), path, entry, error_r);
    buf_free(&text);
    return result;
}

/* Calls `each` for every ID.state of the day; its path, or with the entry read. */
typedef void legacy_fn(const char *dir, const char *name, struct spool_entry *entry,
                       const char *error, void *context);

static void each_state(const char *dir, legacy_fn *each, void *context)
{
    DIR *sub = opendir(dir);
    struct dirent *file;

    while (sub && (file = readdir(sub)) != NULL) {
        size_t len = strlen(file->d_name);
        if (len < 7 || strcmp(file->d_name + len - 6, ".state") != 0 ||
            !spool_safe_name(file->d_name))
            continue;
        char *path = path_join(dir, file->d_name), *error = NULL;
        struct spool_entry entry;
        if (read_state(path, &entry, &error) == 0) {
            each(dir, file->d_name, &entry, NULL, context);
        } else {
            each(dir, file->d_name, NULL, error, context);
            free(error);
        }
        free(path);
    }
    if (sub)
        closedir(sub);
}

struct list_context {
    struct spool_entry **entries;
    size_t *n, *cap;
};

static void list_one(const char *dir, const char *name, struct spool_entry *entry,
                     const char *error, void *context)
{
    struct list_context *list = context;

    (void)dir;
    (void)name;
    if (entry == NULL) {
        msg_warn("outbox: %s", error);
        return;
    }
    if (*list->n == *list->cap) {
        *list->cap = *list->cap ? *list->cap * 2 : 64;
        *list->entries = xreallocarray(*list->entries, *list->cap, sizeof(struct spool_entry));
    }
    (*list->entries)[(*list->n)++] = *entry;
}

void spool_legacy_list(const char *day_dir, struct spool_entry **entries, size_t *n_entries,
                       size_t *cap)
{
    struct list_context list = {entries, n_entries, cap};

    each_state(day_dir, list_one, &list);
}

int spool_legacy_read_report(const char *day_dir, const struct spool_entry *entry, struct buf *json,
                             char **error_r)
{
    struct stat st;
    char *name = xasprintf("%s.json", entry->unique_id);
    char *path = path_join(day_dir, name);
    int result = -1;

    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        *error_r = xasprintf("%s: missing or not a regular file", path);
    else
        result = file_read_all(path, SPOOL_REPORT_MAX_SIZE, json, error_r);
    free(name);
    free(path);
    return result;
}

struct convert_context {
    struct spool_writer *writer;
    const char *to;
    size_t converted, kept;
    char *error; /* the first write error: the conversion fails */
};

/* A report that cannot be converted keeps its files (hard links) beside the new layout. */
static void keep_files(struct convert_context *convert, const char *dir, const char *name)
{
    size_t stem = strlen(name) - strlen(".state");

    for (int k = 0; k < 2; k++) {
        char *file = xasprintf("%.*s%s", (int)stem, name, k ? ".json" : ".state");
        char *from = path_join(dir, file), *to = path_join(convert->to, file);
        if (link(from, to) < 0 && errno != ENOENT && convert->error == NULL)
            convert->error = xasprintf("link %s to %s: %s", from, to, strerror(errno));
        free(from);
        free(to);
        free(file);
    }
    convert->kept++;
}

static void convert_one(const char *dir, const char *name, struct spool_entry *entry,
                        const char *error, void *context)
{
    struct convert_context *convert = context;
    struct buf json;
    char *why = NULL;

    if (convert->error)
        ;
    else if (entry == NULL) {
        msg_warn("outbox: %s: kept as it is, not converted", error);
        keep_files(convert, dir, name);
    } else {
        buf_init(&json);
        if (spool_legacy_read_report(dir, entry, &json, &why) < 0) {
            msg_warn("outbox: %s: kept as it is, not converted", why);
            free(why);
            keep_files(convert, dir, name);
        } else if (spool_writer_add(convert->writer, entry, json.data, json.len, &why) < 0) {
            convert->error = why;
        } else {
            convert->converted++;
        }
        buf_free(&json);
    }
    if (entry)
        spool_entry_free(entry);
}

int spool_legacy_convert(struct spool *spool, int day, char **error_r)
{
    char *dir = spool_day_path(spool, day, "", "");
    char *tmp = spool_day_path(spool, day, ".", ".convert");
    struct convert_context convert = {.to = tmp};
    int result = -1;

    if (dir_remove_tree(tmp) < 0 || mkdir(tmp, 0750) < 0) {
        *error_r = xasprintf("create %s: %s", tmp, strerror(errno));
        goto done;
    }
    convert.writer = spool_writer_open(tmp, day, error_r);
    if (convert.writer == NULL)
        goto done;
    each_state(dir, convert_one, &convert);
    if (convert.error) {
        *error_r = convert.error;
        goto done;
    }
    if (spool_writer_finish(convert.writer, error_r) < 0)
        goto done;
    /* One step: the new day takes the old one's place (the old one is then at tmp). */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) < 0) {
        *error_r = xasprintf("exchange %s and %s: %s", tmp, dir, strerror(errno));
        goto done;
    }
    if (dir_sync(spool->dir, error_r) < 0)
        goto done;
    msg_info("outbox: converted %s from one file pair per report to reports + state.log "
             "(%zu reports converted, %zu damaged ones kept as they were)",
             dir, convert.converted, convert.kept);
    result = 0;
done:
    spool_writer_free(convert.writer);
    dir_remove_tree(tmp);
    free(tmp);
    free(dir);
    return result;
}
