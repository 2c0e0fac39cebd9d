/*
 * follow_impl.h - what the follower's files share: a source (a log file
 * followed across rotation, or the journal), its read position, the batch
 * of counters not yet committed, and the checkpoint that holds positions,
 * parser states and counters together.
 */
#ifndef TLSRPT_FOLLOW_IMPL_H
#define TLSRPT_FOLLOW_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "counters.h"
#include "logfollow.h"
#include "util.h"

/* Longest line handed to the parser; longer ones are cut (and rejected by it). */
#define LF_READ_LINE_MAX 16384
/* Bytes (or journal entries) one source reads per round, so rounds commit often. */
#define LF_ROUND_BYTES (8u << 20)
#define LF_ROUND_ENTRIES 50000
/* Bytes before the read position kept to recognise the file again. */
#define LF_FINGERPRINT_SIZE 64
/* A rotated file is read on until it has been quiet this long. */
#define LF_ROTATE_GRACE_MS 1000
/* Largest checkpoint file read back. */
#define LF_CHECKPOINT_MAX (256u << 20)

/* Where a file source is: enough to find the same bytes again after a restart. */
struct lf_file_position {
    bool known;
    uint64_t dev, ino;
    uint64_t offset; /* just after the last line read */
    unsigned char fingerprint[LF_FINGERPRINT_SIZE]; /* the bytes before offset */
    size_t fingerprint_len;
};

struct lf_file_source {
    int fd; /* -1 while the file does not exist */
    struct lf_file_position pos;
    struct buf pending; /* bytes after pos.offset that do not end a line yet */
    bool skipping;      /* inside an over-long line, until its newline */
    bool old_file;      /* fd is no longer at path (rotated): drain it, then switch */
    int64_t quiet_since_ms;
    bool warned_access;
};

struct lf_journal_source; /* follow_journal.c */

struct lf_source {
    struct lf_follower *follower;
    struct lf_source_spec spec;
    struct lf_parser *parser;
    struct lf_file_source file;
    struct lf_journal_source *journal;
    char state[1024];
};

/* A counter the current batch sets: (day, cell) and its new absolute value. */
struct lf_batch_cell {
    int day;
    struct ctr_cell cell;
    uint64_t value;
};

struct lf_batch {
    struct lf_batch_cell *cells;
    size_t n, cap;
    uint32_t *index; /* open addressing over cells, 0 = empty, else position + 1 */
    size_t index_size;
};

#define LF_TABLE_CACHE 4

struct lf_follower {
    struct lf_follow_settings settings; /* strings are owned copies */
    char *checkpoint_path;
    struct lf_source *sources;
    size_t n_sources;
    struct lf_batch batch;
    bool batch_failed; /* an event could not be counted: do not commit */
    struct ctr_table *tables[LF_TABLE_CACHE];
    int table_days[LF_TABLE_CACHE];
    struct buf committed; /* the last checkpoint written, for rollback */
    /* Disk trouble (full, table not writable) repeats every round: warnings rate-limited. */
    struct msg_rate disk_rate;
    struct lf_follower_totals totals;
    unsigned commits_this_run;
    pthread_mutex_t mutex; /* status, taken by lf_follower_status() and each round */
    /* Own report mail queue ids from the milter, for the next round (own_mutex). */
    pthread_mutex_t own_mutex;
    char (*own_pending)[LF_MAX_QUEUE_ID + 1];
    size_t n_own_pending;
    uint64_t own_mail, own_mail_dropped;
    pthread_mutex_t stop_mutex;
    pthread_cond_t stop_cond;
    pthread_t thread;
    bool running, stopping;
};

/* follow_file.c */
void lf_file_init(struct lf_source *source);
/*
 * Resumes at a checkpointed position; without one, at the start of the file
 * (from_start: it appeared after the follower began) or at its end (a
 * source new to the follower).
 */
void lf_file_resume(struct lf_source *source, const struct lf_file_position *pos,
                    bool from_start);
/* Reads and parses what the file has; returns lines read. */
long lf_file_poll(struct lf_source *source);
void lf_file_close(struct lf_source *source);
void lf_file_describe(const struct lf_source *source, char *out, size_t size);

/* follow_journal.c */
/* Like lf_file_resume; 0, or -1 with *error_r (the journal cannot be opened). */
int lf_journal_open(struct lf_source *source, const char *cursor, bool from_start,
                    char **error_r);
long lf_journal_poll(struct lf_source *source);
/* The cursor of the last entry read (NULL before the first); owned by the source. */
const char *lf_journal_cursor(const struct lf_source *source);
void lf_journal_close(struct lf_source *source);

/* follow_checkpoint.c */
struct lf_checkpoint_source {
    char *spec;
    bool from_start; /* kind "start" */
    struct lf_file_position file;
    char *cursor;
    unsigned char *state;
    size_t state_len;
};
struct lf_checkpoint {
    struct lf_checkpoint_source *sources;
    size_t n_sources;
    struct lf_batch_cell *cells;
    size_t n_cells;
};
/* Appends the checkpoint of the follower's current positions, states and batch. */
void lf_checkpoint_encode(struct lf_follower *follower, struct buf *out);
/* 0, or -1 with *error_r naming what is wrong (path is for messages). */
int lf_checkpoint_decode(const char *path, const char *text, size_t len,
                         struct lf_checkpoint *checkpoint, char **error_r);
void lf_checkpoint_free(struct lf_checkpoint *checkpoint);

/* follow.c: a source sets its state text. */
void lf_source_state(struct lf_source *source, const char *fmt, ...) UTIL_PRINTF(2, 3);

#endif
