/*
 * outbox.c - the outbox: its day directories (YYYY-MM-DD, each one
 * `reports` file and one `state.log`), listing, state updates and
 * deletions (records appended to the log), the owner's lock and the
 * per-report locks, the owner's upkeep (conversion of old days, compaction)
 * and expiry. Anything that is not a plain directory or regular file is
 * refused (no symlinks).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"
#include "spool_impl.h"

char *spool_day_path(const struct spool *spool, int day, const char *prefix, const char *suffix)
{
    char text[DAY_TEXT_SIZE];

    day_format(day, text);
    return xasprintf("%s/%s%s%s", spool->dir, prefix, text, suffix);
}

bool spool_is_dir(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Only plain file names of ours: no "/", no leading dot, no control characters. */
bool spool_safe_name(const char *name)
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
    spool_log_forget(spool);
    free(spool->dir);
    free(spool);
}

const char *spool_dir(const struct spool *spool)
{
    return spool->dir;
}

bool spool_day_done(struct spool *spool, int day)
{
    char *path = spool_day_path(spool, day, "", "");
    bool done = spool_is_dir(path);

    free(path);
    return done;
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

/* Every live report of a day: the last state record of each unique_id. */
static void list_day(struct spool *spool, int day, struct spool_entry **entries, size_t *n,
                     size_t *cap)
{
    struct spool_log_view view;
    char *error;

    if (spool_log_open(spool, day, &view, &error) < 0) {
        msg_warn("outbox: %s", error);
        free(error);
        return;
    }
    const struct spool_log *log = view.log;
    for (size_t i = 0; i < log->n_items; i++) {
        if (log->items[i].type != SPOOL_RECORD_STATE)
            continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *entries = xreallocarray(*entries, *cap, sizeof(struct spool_entry));
        }
        if (spool_log_entry(&view, &log->items[i], &(*entries)[*n], &error) == 0) {
            (*n)++;
        } else {
            msg_warn("outbox: %s", error);
            free(error);
        }
    }
    spool_log_close(&view);
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
        if (!spool_is_dir(path))
            ;
        else if (spool_legacy_day(path))
            spool_legacy_list(path, entries, n_entries, &cap);
        else
            list_day(spool, day, entries, n_entries, &cap);
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

/* The day's directory of a report that may change: in the current layout. */
static char *changeable_day(struct spool *spool, const struct spool_entry *entry, char **error_r)
{
    char *dir = spool_day_path(spool, entry->day, "", "");

    if (!spool_safe_name(entry->unique_id)) {
        *error_r = xasprintf("report %s: bad id", entry->report_id);
    } else if (!spool_is_dir(dir)) {
        *error_r = xasprintf("report %s: %s: no such day in the outbox", entry->unique_id, dir);
    } else if (spool_legacy_day(dir)) {
        *error_r = xasprintf("report %s: %s is in the previous version's layout until the "
                             "outbox's owner (tlsrptd, tlsrpt run) converts it",
                             entry->unique_id, dir);
    } else {
        return dir;
    }
    free(dir);
    return NULL;
}

static int append_record(struct spool *spool, const struct spool_entry *entry, char type,
                         const char *payload, size_t len, char **error_r)
{
    struct buf frame;

    if (len > SPOOL_STATE_MAX_SIZE) {
        *error_r = xasprintf("report %s: its state is over %d bytes", entry->unique_id,
                             SPOOL_STATE_MAX_SIZE);
        return -1;
    }
    char *path = spool_day_path(spool, entry->day, "", "/" SPOOL_LOG_FILE);
    buf_init(&frame);
    spool_log_frame(&frame, type, payload, len);
    int result = spool_log_append(path, &frame, error_r);
    buf_free(&frame);
    free(path);
    return result;
}

int spool_update(struct spool *spool, const struct spool_entry *entry, char **error_r)
{
    struct buf state;
    char *dir = changeable_day(spool, entry, error_r);

    if (dir == NULL)
        return -1;
    free(dir);
    if (entry->report_length == 0) {
        *error_r = xasprintf("report %s: where its JSON is unknown (not listed from the outbox)",
                             entry->unique_id);
        return -1;
    }
    buf_init(&state);
    spool_state_format(entry, &state);
    int result = append_record(spool, entry, SPOOL_RECORD_STATE, state.data, state.len, error_r);
    buf_free(&state);
    return result;
}

int spool_read_report(struct spool *spool, const struct spool_entry *entry, struct buf *json,
                      char **error_r)
{
    char *dir = spool_day_path(spool, entry->day, "", "");
    char *path = path_join(dir, SPOOL_REPORTS_FILE);
    struct stat st;
    int result = -1, fd = -1;

    if (!spool_safe_name(entry->unique_id)) {
        *error_r = xasprintf("report %s: bad id", entry->report_id);
    } else if (spool_is_dir(dir) && spool_legacy_day(dir)) {
        result = spool_legacy_read_report(dir, entry, json, error_r);
    } else if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 ||
               !S_ISREG(st.st_mode)) {
        *error_r = xasprintf("%s: missing or not a regular file", path);
    } else if (entry->report_length == 0 || entry->report_length > SPOOL_REPORT_MAX_SIZE ||
               entry->report_offset > (uint64_t)st.st_size ||
               (uint64_t)st.st_size - entry->report_offset < entry->report_length) {
        *error_r = xasprintf("%s: offset %" PRIu64 ": the report %s (%" PRIu64
                             " bytes) is not within the file (damaged)",
                             path, entry->report_offset, entry->unique_id, entry->report_length);
    } else {
        size_t start = json->len;
        buf_reserve(json, (size_t)entry->report_length);
        ssize_t done = pread(fd, json->data + start, (size_t)entry->report_length,
                             (off_t)entry->report_offset);
        if (done != (ssize_t)entry->report_length) {
            *error_r = xasprintf("%s: offset %" PRIu64 ": read: %s", path, entry->report_offset,
                                 done < 0 ? strerror(errno) : "short read");
        } else if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)json->data + start,
                                   (uInt)entry->report_length) != entry->report_crc) {
            *error_r = xasprintf("%s: offset %" PRIu64 ": the report %s is damaged (checksum)",
                                 path, entry->report_offset, entry->unique_id);
        } else {
            json->len = start + (size_t)entry->report_length;
            json->data[json->len] = '\0';
            result = 0;
        }
    }
    if (fd >= 0)
        close(fd);
    free(path);
    free(dir);
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

/* What only the owner does: old days converted, logs compacted, leftovers removed. */
static void owner_upkeep(struct spool *spool)
{
    DIR *top = opendir(spool->dir);
    struct dirent *de;
    char *error;

    while (top && (de = readdir(top)) != NULL) {
        int day;
        const char *reason;
        size_t len = strlen(de->d_name);
        char *path = path_join(spool->dir, de->d_name);
        if (de->d_name[0] == '.' && len > 8 && strcmp(de->d_name + len - 8, ".convert") == 0) {
            dir_remove_tree(path); /* a conversion a crash interrupted: done again */
        } else if (day_parse(de->d_name, &day, &reason) == 0 && spool_is_dir(path)) {
            if (!spool_legacy_day(path))
                spool_log_maybe_compact(spool, day);
            else if (spool_legacy_convert(spool, day, &error) < 0) {
                msg_error("outbox: %s", error);
                free(error);
            }
        }
        free(path);
    }
    if (top)
        closedir(top);
}

int spool_lock_outbox(struct spool *spool, bool wait, bool *busy_r, char **error_r)
{
    char *path = path_join(spool->dir, ".lock");
    int fd = lock_path(path, O_RDWR | O_CREAT, wait, busy_r, error_r);

    free(path);
    if (fd >= 0)
        owner_upkeep(spool);
    return fd;
}

/* An OFD lock on one byte: this open file description's, gone with its last close. */
static int lock_byte(int fd, uint64_t offset, short type, bool wait)
{
    struct flock lock = {.l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)offset,
                         .l_len = 1};
    int result;

    while ((result = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock)) < 0 && errno == EINTR)
        ;
    return result;
}

/* The report's last state in its day's log: 1 found, 0 gone, -1 error. */
static int find_state(struct spool *spool, const struct spool_entry *entry,
                      struct spool_entry *fresh, char **error_r)
{
    struct spool_log_view view;

    if (spool_log_open(spool, entry->day, &view, error_r) < 0)
        return -1;
    const struct spool_log_record *record = spool_log_find(view.log, entry->unique_id);
    int result = record && record->type == SPOOL_RECORD_STATE ? 1 : 0;
    if (result == 1 && spool_log_entry(&view, record, fresh, error_r) < 0)
        result = -1;
    spool_log_close(&view);
    if (result == 0)
        *error_r = xasprintf("report %s: not in the outbox (deleted)", entry->unique_id);
    return result;
}

int spool_lock_entry(struct spool *spool, struct spool_entry *entry, bool wait, bool *busy_r,
                     char **error_r)
{
    struct spool_entry fresh;
    char *dir = changeable_day(spool, entry, error_r);
    uint64_t offset = entry->report_offset;

    *busy_r = false;
    if (dir == NULL)
        return -1;
    char *path = path_join(dir, SPOOL_REPORTS_FILE);
    /* A fresh open file description per lock: closing the fd releases it. */
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        *error_r = xasprintf("open %s: %s", path, strerror(errno));
    for (int tries = 0; fd >= 0; tries++) {
        if (lock_byte(fd, offset, F_WRLCK, wait) < 0) {
            *busy_r = errno == EAGAIN || errno == EACCES;
            *error_r = *busy_r ? xasprintf("report %s is locked by another process (%s byte "
                                           "%" PRIu64 ")",
                                           entry->unique_id, path, offset)
                               : xasprintf("lock %s: %s", path, strerror(errno));
        } else if (find_state(spool, entry, &fresh, error_r) == 1) {
            if (fresh.report_offset == offset || tries > 0) {
                spool_entry_free(entry);
                *entry = fresh;
                break;
            }
            /* The caller's copy did not say where the report is: lock the right byte. */
            lock_byte(fd, offset, F_UNLCK, false);
            offset = fresh.report_offset;
            spool_entry_free(&fresh);
            continue;
        }
        close(fd);
        fd = -1;
    }
    free(path);
    free(dir);
    return fd;
}

int spool_delete(struct spool *spool, const struct spool_entry *entry, char **error_r)
{
    struct spool_entry fresh;
    char *dir = changeable_day(spool, entry, error_r);

    if (dir == NULL)
        return -1;
    free(dir);
    if (find_state(spool, entry, &fresh, error_r) != 1)
        return -1;
    spool_entry_free(&fresh);
    return append_record(spool, entry, SPOOL_RECORD_GONE, entry->unique_id,
                         strlen(entry->unique_id), error_r);
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
        if (spool_is_dir(path) && dir_remove_tree(path) == 0) {
            msg_info("outbox: removed the reports of %s (past retention)", de->d_name);
            removed++;
        }
        free(path);
    }
    closedir(top);
    return removed;
}
