/*
 * outbox.c - the outbox directories: a day is built in .YYYY-MM-DD.tmp and
 * renamed to YYYY-MM-DD when complete (then fsynced), so the day's reports
 * appear all at once; listing, state updates, the owner and report locks,
 * and expiry. Anything that is not a plain directory or regular file is
 * refused (no symlinks).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

#define STATE_MAX_SIZE (1024 * 1024)
#define REPORT_MAX_SIZE (256 * 1024 * 1024)

struct spool {
    char *dir;
};

struct spool_day {
    struct spool *spool;
    int day;
    char *tmp_dir;
};

static char *day_dir(const struct spool *spool, int day, bool tmp)
{
    char text[DAY_TEXT_SIZE];

    day_format(day, text);
    return tmp ? xasprintf("%s/.%s.tmp", spool->dir, text) : xasprintf("%s/%s", spool->dir, text);
}

static bool is_dir_not_link(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Only plain file names of ours: no "/", no leading dot, no control characters. */
static bool safe_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || (unsigned char)*p < 0x20)
            return false;
    return true;
}

struct spool *spool_open(const char *dir, char **error_r)
{
    struct stat st;

    if (dir_make(dir, 0750, error_r) < 0)
        return NULL;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        *error_r = xasprintf("%s: not a directory (symlinks are refused)", dir);
        return NULL;
    }
    struct spool *spool = xcalloc(1, sizeof(*spool));
    spool->dir = xstrdup(dir);
    return spool;
}

void spool_close(struct spool *spool)
{
    if (spool == NULL)
        return;
    free(spool->dir);
    free(spool);
}

const char *spool_dir(const struct spool *spool)
{
    return spool->dir;
}

bool spool_day_done(struct spool *spool, int day)
{
    char *path = day_dir(spool, day, false);
    bool done = is_dir_not_link(path);

    free(path);
    return done;
}

struct spool_day *spool_day_begin(struct spool *spool, int day, char **error_r)
{
    struct spool_day *txn = xcalloc(1, sizeof(*txn));

    txn->spool = spool;
    txn->day = day;
    txn->tmp_dir = day_dir(spool, day, true);
    /* A temporary directory left by a crash is half a day: start again. */
    if (dir_remove_tree(txn->tmp_dir) < 0 || mkdir(txn->tmp_dir, 0750) < 0) {
        *error_r = xasprintf("create %s: %s", txn->tmp_dir, strerror(errno));
        free(txn->tmp_dir);
        free(txn);
        return NULL;
    }
    return txn;
}

int spool_day_add(struct spool_day *txn, const struct spool_entry *entry, const char *json,
                  size_t json_len, char **error_r)
{
    struct buf state;
    int result;

    if (!safe_name(entry->unique_id) || entry->day != txn->day) {
        *error_r = xasprintf("report %s: bad id or day", entry->report_id);
        return -1;
    }
    /* No fsync per file: the commit syncs the whole day once (a crash before leaves no day). */
    char *name = xasprintf("%s/%s.json", txn->tmp_dir, entry->unique_id);
    result = file_write_new(name, json, json_len, 0640, error_r);
    free(name);
    if (result < 0)
        return -1;
    buf_init(&state);
    spool_state_format(entry, &state);
    name = xasprintf("%s/%s.state", txn->tmp_dir, entry->unique_id);
    result = file_write_new(name, state.data, state.len, 0640, error_r);
    free(name);
    buf_free(&state);
    return result;
}

int spool_day_commit(struct spool_day *txn, char **error_r)
{
    char *final = day_dir(txn->spool, txn->day, false);
    int result = 0;

    /* The reports (their data and entries) on the disk first, then the rename. */
    if (dir_sync_all(txn->tmp_dir, error_r) < 0) {
        result = -1;
    } else if (rename(txn->tmp_dir, final) < 0) {
        *error_r = xasprintf("rename %s to %s: %s", txn->tmp_dir, final, strerror(errno));
        result = -1;
    } else if (dir_sync(txn->spool->dir, error_r) < 0) {
        /* The rename itself must reach the disk before the day counts as reported. */
        result = -1;
    }
    free(final);
    free(txn->tmp_dir);
    free(txn);
    return result;
}

void spool_day_abort(struct spool_day *txn)
{
    if (txn == NULL)
        return;
    dir_remove_tree(txn->tmp_dir);
    free(txn->tmp_dir);
    free(txn);
}

static int compare_entries(const void *a, const void *b)
{
    const struct spool_entry *x = a, *y = b;
    int order = (x->day > y->day) - (x->day < y->day);

    if (order == 0)
        order = strcmp(x->policy_domain, y->policy_domain);
    if (order == 0)
        order = strcmp(x->unique_id, y->unique_id);
    return order;
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
    int result = file_read_all(path, STATE_MAX_SIZE, &text, error_r);
    if (result == 0)
        result = spool_state_parse((char *)buf_cstr(&text), path, entry, error_r);
    buf_free(&text);
    return result;
}

int spool_list(struct spool *spool, struct spool_entry **entries, size_t *n_entries,
               char **error_r)
{
    DIR *top = opendir(spool->dir);
    struct dirent *de;
    size_t cap = 0;

    *entries = NULL;
    *n_entries = 0;
    if (top == NULL) {
        *error_r = xasprintf("open %s: %s", spool->dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(top)) != NULL) {
        int day;
        const char *reason;
        if (day_parse(de->d_name, &day, &reason) < 0)
            continue;
        char *path = path_join(spool->dir, de->d_name);
        DIR *sub = is_dir_not_link(path) ? opendir(path) : NULL;
        struct dirent *file;
        while (sub && (file = readdir(sub)) != NULL) {
            size_t len = strlen(file->d_name);
            if (len < 7 || strcmp(file->d_name + len - 6, ".state") != 0 || !safe_name(file->d_name))
                continue;
            char *state_path = path_join(path, file->d_name);
            char *error;
            if (*n_entries == cap) {
                cap = cap ? cap * 2 : 64;
                *entries = xreallocarray(*entries, cap, sizeof(struct spool_entry));
            }
            if (read_state(state_path, &(*entries)[*n_entries], &error) == 0)
                (*n_entries)++;
            else {
                msg_warn("outbox: %s", error);
                free(error);
            }
            free(state_path);
        }
        if (sub)
            closedir(sub);
        free(path);
    }
    closedir(top);
    if (*n_entries > 1)
        qsort(*entries, *n_entries, sizeof(struct spool_entry), compare_entries);
    return 0;
}

void spool_list_free(struct spool_entry *entries, size_t n_entries)
{
    for (size_t i = 0; i < n_entries; i++)
        spool_entry_free(&entries[i]);
    free(entries);
}

static char *entry_path(struct spool *spool, const struct spool_entry *entry, const char *suffix)
{
    char *dir = day_dir(spool, entry->day, false);
    char *path = xasprintf("%s/%s%s", dir, entry->unique_id, suffix);

    free(dir);
    return path;
}

int spool_update(struct spool *spool, const struct spool_entry *entry, char **error_r)
{
    struct buf state;

    if (!safe_name(entry->unique_id)) {
        *error_r = xasprintf("report %s: bad id", entry->report_id);
        return -1;
    }
    char *path = entry_path(spool, entry, ".state");
    buf_init(&state);
    spool_state_format(entry, &state);
    int result = file_write_atomic(path, state.data, state.len, 0640, error_r);
    buf_free(&state);
    free(path);
    return result;
}

int spool_read_report(struct spool *spool, const struct spool_entry *entry, struct buf *json,
                      char **error_r)
{
    struct stat st;
    char *path = entry_path(spool, entry, ".json");
    int result = -1;

    if (!safe_name(entry->unique_id) || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        *error_r = xasprintf("%s: missing or not a regular file", path);
    else
        result = file_read_all(path, REPORT_MAX_SIZE, json, error_r);
    free(path);
    return result;
}

/* flock on path, opened without following links; -1 and *busy_r when held (no wait). */
static int lock_path(const char *path, int open_flags, bool wait, bool *busy_r, char **error_r)
{
    int fd = open(path, open_flags | O_NOFOLLOW | O_CLOEXEC, 0640);

    *busy_r = false;
    if (fd < 0) {
        *error_r = xasprintf("open %s: %s", path, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
        if (errno == EINTR)
            continue;
        *busy_r = errno == EWOULDBLOCK;
        *error_r = *busy_r ? xasprintf("%s is locked by another process", path)
                           : xasprintf("lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int spool_lock_outbox(struct spool *spool, bool wait, bool *busy_r, char **error_r)
{
    char *path = path_join(spool->dir, ".lock");
    int fd = lock_path(path, O_RDWR | O_CREAT, wait, busy_r, error_r);

    free(path);
    return fd;
}

int spool_lock_entry(struct spool *spool, struct spool_entry *entry, bool wait, bool *busy_r,
                     char **error_r)
{
    struct spool_entry fresh;

    *busy_r = false;
    if (!safe_name(entry->unique_id)) {
        *error_r = xasprintf("report %s: bad id", entry->report_id);
        return -1;
    }
    char *json = entry_path(spool, entry, ".json");
    char *state = entry_path(spool, entry, ".state");
    int fd = lock_path(json, O_RDONLY, wait, busy_r, error_r);
    if (fd >= 0 && read_state(state, &fresh, error_r) < 0) {
        close(fd);
        fd = -1;
    } else if (fd >= 0) {
        spool_entry_free(entry);
        *entry = fresh;
    }
    free(json);
    free(state);
    return fd;
}

int spool_delete(struct spool *spool, const struct spool_entry *entry, char **error_r)
{
    char *state = entry_path(spool, entry, ".state");
    char *json = entry_path(spool, entry, ".json");
    int result = 0;

    if (!safe_name(entry->unique_id) || unlink(state) < 0) {
        *error_r = xasprintf("%s: %s", state, strerror(errno));
        result = -1;
    } else {
        unlink(json);
    }
    free(state);
    free(json);
    return result;
}

int spool_expire(struct spool *spool, int before_day)
{
    DIR *top = opendir(spool->dir);
    struct dirent *de;
    int removed = 0;

    if (top == NULL)
        return 0;
    while ((de = readdir(top)) != NULL) {
        int day;
        const char *reason;
        if (day_parse(de->d_name, &day, &reason) < 0 || day >= before_day)
            continue;
        char *path = path_join(spool->dir, de->d_name);
        if (is_dir_not_link(path) && dir_remove_tree(path) == 0) {
            msg_info("outbox: removed the reports of %s (past retention)", de->d_name);
            removed++;
        }
        free(path);
    }
    closedir(top);
    return removed;
}
