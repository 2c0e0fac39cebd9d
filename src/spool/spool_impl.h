/*
 * spool_impl.h - what the spool module's files share: the state text
 * (state.c), a day's state.log and its index (log.c), a day's writer and the
 * previous version's layout (legacy.c), used by the outbox code (outbox.c).
 */
#ifndef TLSRPT_SPOOL_IMPL_H
#define TLSRPT_SPOOL_IMPL_H

#include <sys/types.h>

#include "spool.h"

#define SPOOL_STATE_MAX_SIZE (1024 * 1024)        /* one state record */
#define SPOOL_REPORT_MAX_SIZE (256 * 1024 * 1024) /* one report's JSON */
#define SPOOL_REPORTS_FILE "reports"
#define SPOOL_LOG_FILE "state.log"

/* The text of an entry's state record. */
void spool_state_format(const struct spool_entry *entry, struct buf *out);
/* Parses (and modifies) text; `name` is used in errors. */
int spool_state_parse(char *text, const char *name, struct spool_entry *entry, char **error_r);

/* The log's records: framed with their length and a crc32 (log.c). */
#define SPOOL_LOG_HEADER 16
#define SPOOL_RECORD_BASE 'H'  /* first record: the log's size after build or compaction */
#define SPOOL_RECORD_STATE 'S' /* a report's whole state (spool_state_format) */
#define SPOOL_RECORD_GONE 'D'  /* a deletion: the payload is the unique_id */
void spool_log_frame(struct buf *out, char type, const void *payload, size_t len);
/* The first record: the log's size then, and a nonce of its own. */
void spool_log_base_frame(struct buf *out, uint64_t size);
/*
 * Reads the framed records of data[from, size) and calls `record` for each
 * good one. A damaged record is warned about (name, offset) and skipped; the
 * return is where reading stopped: size, or the start of an incomplete last
 * record (being written, or torn by a crash).
 */
typedef void spool_log_record_fn(char type, uint64_t offset, const unsigned char *payload,
                                 uint32_t len, void *context);
uint64_t spool_log_scan(const unsigned char *data, uint64_t from, uint64_t size, const char *name,
                        spool_log_record_fn *record, void *context);

/* One day's state.log as this process last read it: unique_id -> last record. */
struct spool_log_record {
    char *unique_id;
    uint64_t offset; /* of its last record */
    uint32_t length;
    char type; /* SPOOL_RECORD_STATE or SPOOL_RECORD_GONE */
};
struct spool_log {
    int day;
    char *path;
    dev_t dev;
    ino_t ino;
    uint32_t identity;    /* the crc of its first record */
    uint64_t read_pos;    /* everything before was read */
    uint64_t base;        /* the size after build or compaction */
    uint64_t records;     /* state and deletion records read, dead ones included */
    uint64_t torn_warned; /* +1: the offset of a torn record already warned about */
    struct spool_log_record *items;
    size_t n_items, cap_items;
    uint32_t *slots; /* open addressing: index + 1 into items, 0 free */
    size_t n_slots;
};

/* A view of a day's log read up to its end: map[0, size) of the open inode. */
struct spool_log_view {
    struct spool_log *log;
    int fd;
    const unsigned char *map;
    uint64_t size;
};
struct spool;
/* Brings the day's index up to date (the whole log again after a compaction). */
int spool_log_open(struct spool *spool, int day, struct spool_log_view *view, char **error_r);
void spool_log_close(struct spool_log_view *view);
const struct spool_log_record *spool_log_find(const struct spool_log *log, const char *unique_id);
/* Parses a report's state record from the view. */
int spool_log_entry(const struct spool_log_view *view, const struct spool_log_record *record,
                    struct spool_entry *entry, char **error_r);
/* One record, one write() on an O_APPEND fd under a shared flock, then fdatasync. */
int spool_log_append(const char *path, const struct buf *frame, char **error_r);
/* Rewrites the log with its live records only (exclusive flock); `force` or when worth it. */
int spool_log_compact(struct spool *spool, int day, bool force, char **error_r);
/* Compacts when the log grew far beyond its base (cheap check: its first record). */
void spool_log_maybe_compact(struct spool *spool, int day);
void spool_log_forget(struct spool *spool);

struct spool {
    char *dir;
    struct spool_log **logs;
    size_t n_logs;
};
char *spool_day_path(const struct spool *spool, int day, const char *prefix, const char *suffix);
bool spool_safe_name(const char *name);
bool spool_is_dir(const char *path);

/* Writes a day in a directory: reports + state.log, synced by finish (outbox.c). */
struct spool_writer;
struct spool_writer *spool_writer_open(const char *dir, int day, char **error_r);
int spool_writer_add(struct spool_writer *writer, const struct spool_entry *entry, const char *json,
                     size_t json_len, char **error_r);
int spool_writer_finish(struct spool_writer *writer, char **error_r);
void spool_writer_free(struct spool_writer *writer);

/* The previous version's layout, ID.json + ID.state per report (legacy.c). */
bool spool_legacy_day(const char *day_dir);
void spool_legacy_list(const char *day_dir, struct spool_entry **entries, size_t *n_entries,
                       size_t *cap);
int spool_legacy_read_report(const char *day_dir, const struct spool_entry *entry, struct buf *json,
                             char **error_r);
/* Converts one day to reports + state.log (the owner only), swapping directories. */
int spool_legacy_convert(struct spool *spool, int day, char **error_r);

#endif
