/*
 * write.c - building a day of the outbox: every report's JSON appended to
 * one `reports` file and its state to one `state.log`, in .YYYY-MM-DD.tmp,
 * made durable with one fsync per file and renamed to YYYY-MM-DD in one
 * step, so a crash leaves all of a day's reports or none.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"
#include "spool_impl.h"

#define FLUSH_SIZE (8 * 1024 * 1024)

struct spool_file {
    char *path;
    int fd;
    struct buf pending;
    uint64_t size; /* written and pending */
};

struct spool_writer {
    char *dir;
    int day;
    struct spool_file reports, log;
    char **ids; /* open addressing: a day's unique_ids are unique */
    size_t n_ids, n_slots;
};

static int file_open(struct spool_file *file, const char *dir, const char *name, char **error_r)
{
    file->path = path_join(dir, name);
    buf_init(&file->pending);
    file->fd = open(file->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (file->fd < 0) {
        *error_r = xasprintf("create %s: %s", file->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int file_flush(struct spool_file *file, char **error_r)
{
    if (file->pending.len > 0 && write_all(file->fd, file->pending.data, file->pending.len) < 0) {
        *error_r = xasprintf("write %s: %s", file->path, strerror(errno));
        return -1;
    }
    buf_reset(&file->pending);
    return 0;
}

static int file_put(struct spool_file *file, const void *data, size_t len, char **error_r)
{
    buf_append(&file->pending, data, len);
    file->size += len;
    return file->pending.len >= FLUSH_SIZE ? file_flush(file, error_r) : 0;
}

static void file_close(struct spool_file *file)
{
    if (file->fd >= 0)
        close(file->fd);
    file->fd = -1;
    free(file->path);
    buf_free(&file->pending);
}

struct spool_writer *spool_writer_open(const char *dir, int day, char **error_r)
{
    struct spool_writer *writer = xcalloc(1, sizeof(*writer));
    struct buf head;

    writer->dir = xstrdup(dir);
    writer->day = day;
    writer->reports.fd = writer->log.fd = -1;
    if (file_open(&writer->reports, dir, SPOOL_REPORTS_FILE, error_r) < 0 ||
        file_open(&writer->log, dir, SPOOL_LOG_FILE, error_r) < 0) {
        spool_writer_free(writer);
        return NULL;
    }
    /* Its size after the build goes in the first record at the end (compaction's yardstick). */
    buf_init(&head);
    spool_log_base_frame(&head, 0);
    file_put(&writer->log, head.data, head.len, error_r);
    buf_free(&head);
    return writer;
}

/* false when the id was added before. */
static bool id_new(struct spool_writer *writer, const char *id)
{
    if ((writer->n_ids + 1) * 2 > writer->n_slots) {
        size_t n = writer->n_slots ? writer->n_slots * 2 : 1024;
        char **slots = xcalloc(n, sizeof(*slots));
        for (size_t i = 0; i < writer->n_slots; i++) {
            char *old = writer->ids[i];
            size_t k = old ? (size_t)hash64(old, strlen(old), 0) & (n - 1) : 0;
            while (old && slots[k])
                k = (k + 1) & (n - 1);
            if (old)
                slots[k] = old;
        }
        free(writer->ids);
        writer->ids = slots;
        writer->n_slots = n;
    }
    size_t mask = writer->n_slots - 1, k = (size_t)hash64(id, strlen(id), 0) & mask;
    for (; writer->ids[k]; k = (k + 1) & mask)
        if (strcmp(writer->ids[k], id) == 0)
            return false;
    writer->ids[k] = xstrdup(id);
    writer->n_ids++;
    return true;
}

int spool_writer_add(struct spool_writer *writer, const struct spool_entry *entry, const char *json,
                     size_t json_len, char **error_r)
{
    struct spool_entry placed = *entry;
    struct buf state, frame;
    int result = -1;

    if (!spool_safe_name(entry->unique_id) || entry->day != writer->day) {
        *error_r = xasprintf("report %s: bad id or day", entry->report_id);
        return -1;
    }
    if (json_len == 0 || json_len > SPOOL_REPORT_MAX_SIZE) {
        *error_r = xasprintf("report %s: %zu bytes (1 to %d)", entry->report_id, json_len,
                             SPOOL_REPORT_MAX_SIZE);
        return -1;
    }
    if (!id_new(writer, entry->unique_id)) {
        *error_r =
            xasprintf("report %s: unique id %s twice in a day", entry->report_id, entry->unique_id);
        return -1;
    }
    placed.report_offset = writer->reports.size;
    placed.report_length = json_len;
    placed.report_crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)json, (uInt)json_len);
    buf_init(&state);
    buf_init(&frame);
    spool_state_format(&placed, &state);
    if (state.len > SPOOL_STATE_MAX_SIZE) {
        *error_r = xasprintf("report %s: its state is over %d bytes", entry->report_id,
                             SPOOL_STATE_MAX_SIZE);
    } else {
        spool_log_frame(&frame, SPOOL_RECORD_STATE, state.data, state.len);
        /* No fsync per report: finish syncs the day once (a crash before leaves no day). */
        if (file_put(&writer->reports, json, json_len, error_r) == 0 &&
            file_put(&writer->log, frame.data, frame.len, error_r) == 0)
            result = 0;
    }
    buf_free(&state);
    buf_free(&frame);
    return result;
}

int spool_writer_finish(struct spool_writer *writer, char **error_r)
{
    struct buf head;

    if (file_flush(&writer->reports, error_r) < 0 || file_flush(&writer->log, error_r) < 0)
        return -1;
    buf_init(&head);
    spool_log_base_frame(&head, writer->log.size);
    ssize_t done = pwrite(writer->log.fd, head.data, head.len, 0);
    bool whole = done == (ssize_t)head.len;
    buf_free(&head);
    if (!whole) {
        *error_r = xasprintf("write %s: %s", writer->log.path, strerror(errno));
        return -1;
    }
    /* The data and the directory's entries on the disk before the caller's rename. */
    if (fsync(writer->reports.fd) < 0 || fsync(writer->log.fd) < 0) {
        *error_r = xasprintf("fsync %s: %s", writer->dir, strerror(errno));
        return -1;
    }
    return dir_sync(writer->dir, error_r);
}

void spool_writer_free(struct spool_writer *writer)
{
    if (writer == NULL)
        return;
    file_close(&writer->reports);
    file_close(&writer->log);
    for (size_t i = 0; i < writer->n_slots; i++)
        free(writer->ids[i]);
    free(writer->ids);
    free(writer->dir);
    free(writer);
}

struct spool_day {
    struct spool *spool;
    int day;
    char *tmp_dir;
    struct spool_writer *writer;
};

struct spool_day *spool_day_begin(struct spool *spool, int day, char **error_r)
{
    struct spool_day *txn = xcalloc(1, sizeof(*txn));

    txn->spool = spool;
    txn->day = day;
    txn->tmp_dir = spool_day_path(spool, day, ".", ".tmp");
    /* A temporary directory left by a crash is half a day: start again. */
    if (dir_remove_tree(txn->tmp_dir) < 0 || mkdir(txn->tmp_dir, 0750) < 0) {
        *error_r = xasprintf("create %s: %s", txn->tmp_dir, strerror(errno));
        spool_day_abort(txn);
        return NULL;
    }
    txn->writer = spool_writer_open(txn->tmp_dir, day, error_r);
    if (txn->writer == NULL) {
        spool_day_abort(txn);
        return NULL;
    }
    return txn;
}

int spool_day_add(struct spool_day *txn, const struct spool_entry *entry, const char *json,
                  size_t json_len, char **error_r)
{
    return spool_writer_add(txn->writer, entry, json, json_len, error_r);
}

int spool_day_commit(struct spool_day *txn, char **error_r)
{
    char *final = spool_day_path(txn->spool, txn->day, "", "");
    int result = -1;

    if (spool_writer_finish(txn->writer, error_r) < 0)
        ;
    else if (rename(txn->tmp_dir, final) < 0)
        *error_r = xasprintf("rename %s to %s: %s", txn->tmp_dir, final, strerror(errno));
    else if (dir_sync(txn->spool->dir, error_r) == 0)
        result = 0; /* the rename itself on the disk before the day counts as reported */
    free(final);
    if (result == 0) {
        spool_writer_free(txn->writer);
        free(txn->tmp_dir);
        free(txn);
    } else {
        spool_day_abort(txn);
    }
    return result;
}

void spool_day_abort(struct spool_day *txn)
{
    if (txn == NULL)
        return;
    spool_writer_free(txn->writer);
    dir_remove_tree(txn->tmp_dir);
    free(txn->tmp_dir);
    free(txn);
}
