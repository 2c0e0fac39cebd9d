/*
 * spool.h - the outbox: built reports waiting for delivery, under
 * $state_directory/outbox/YYYY-MM-DD/. A day's reports are written into a
 * temporary directory and renamed into place in one step, so a crash
 * leaves either all of a day's reports or none. A day is two files, however
 * many reports it has: `reports` (every report's JSON, one after the other)
 * and `state.log` (an append-only log of checksummed records, each a
 * report's whole delivery state or its deletion; the last one of a report
 * wins, and every change is durable when the call returns). Days of the
 * previous layout (ID.json + ID.state) are converted by the outbox's owner.
 * Symlinks are refused everywhere.
 */
#ifndef TLSRPT_SPOOL_H
#define TLSRPT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

enum spool_state {
    SPOOL_PENDING,   /* not tried yet */
    SPOOL_DELIVERED,
    SPOOL_RETRYING,
    SPOOL_FAILED,
};
#define SPOOL_STATE_COUNT 4
const char *spool_state_name(enum spool_state state);
/* The state a name of spool_state_name() stands for: 0, or -1 for another word. */
int spool_state_from_name(const char *name, enum spool_state *state);

struct spool_destination {
    char *uri;
    enum spool_state state;
    int attempts;
    time_t first_try; /* the retry window (RFC 8460 §5.5) runs from here */
    time_t next_try;
    char *last_error; /* NULL when none */
    /* What a DSN for it said (mailto: with VERP): "failed", "delayed", ... or NULL. */
    char *dsn_action;
    char *dsn_detail; /* its Diagnostic-Code (without "smtp;"), else its Status */
    time_t dsn_time;  /* when it came */
};

struct spool_entry {
    char *unique_id;      /* file name stem: 1*(ALPHA/DIGIT) */
    char *report_id;
    char *policy_domain;
    char *file_name;      /* RFC 8460 §5.1 name of the gzip file */
    char *record;         /* the TLSRPT record the destinations came from ("" if none yet) */
    int day;
    time_t created;
    time_t send_after;    /* random moment within report_spread */
    uint64_t successes;
    uint64_t failures;
    bool rua_pending;     /* DNS failed temporarily: look the record up again */
    /* Where its JSON is in the day's reports file, and its crc32 (set by the spool). */
    uint64_t report_offset;
    uint64_t report_length;
    uint32_t report_crc;
    struct spool_destination *destinations;
    size_t n_destinations;
};
void spool_entry_free(struct spool_entry *entry);
/* Adds a destination (pending) unless the same URI is already there. */
void spool_entry_add_destination(struct spool_entry *entry, const char *uri);

struct spool;
/* Opens (creating it 0750) the outbox directory. */
struct spool *spool_open(const char *dir, char **error_r);
void spool_close(struct spool *spool);
const char *spool_dir(const struct spool *spool);

/* True when the reports of `day` are in the outbox (the day was built). */
bool spool_day_done(struct spool *spool, int day);

/* Building one day: begin, add each report, then commit (or abort). */
struct spool_day;
struct spool_day *spool_day_begin(struct spool *spool, int day, char **error_r);
int spool_day_add(struct spool_day *txn, const struct spool_entry *entry, const char *json,
                  size_t json_len, char **error_r);
int spool_day_commit(struct spool_day *txn, char **error_r);
void spool_day_abort(struct spool_day *txn);

/* Every report in the outbox, oldest day first, then by policy domain. */
int spool_list(struct spool *spool, struct spool_entry **entries, size_t *n_entries,
               char **error_r);
void spool_list_free(struct spool_entry *entries, size_t n_entries);
/*
 * Appends the entry's whole state to its day's log (one write, then
 * fdatasync): durable when it returns. The entry must come from spool_list
 * or spool_lock_entry (it carries where its JSON is).
 */
int spool_update(struct spool *spool, const struct spool_entry *entry, char **error_r);
/* The report's JSON, appended to json (its checksum checked). */
int spool_read_report(struct spool *spool, const struct spool_entry *entry, struct buf *json,
                      char **error_r);
/*
 * Locks. The outbox has one owner at a time, the process that builds into
 * it and delivers from it (`tlsrpt run`, the daemon's worker, `tlsrpt queue
 * flush` without a daemon): it holds an flock on outbox/.lock, and its
 * delivery children share that lock, so it is free only when all of them
 * are gone. Each report has a lock of its own (an OFD lock on one byte of
 * its day's reports file, at the report's offset, taken on an open file
 * description of its own), held by the process that changes its state, for
 * the whole of a delivery attempt; the kernel releases both when their
 * holder dies.
 *
 * spool_lock_outbox returns the lock's fd (close it to release); with
 * `wait` it waits for the owner to finish, else a held lock is -1 with
 * *busy_r set. -1 with *error_r when the lock cannot be taken at all.
 * Taking it does the owner's upkeep first: days of the previous layout are
 * converted, logs holding far more dead records than live ones compacted.
 */
int spool_lock_outbox(struct spool *spool, bool wait, bool *busy_r, char **error_r);
/*
 * Locks one report and reads its state again under the lock into *entry
 * (a listed copy may be stale). Returns the lock fd (close it to unlock);
 * a report locked by another process is -1 with *busy_r set (no wait); a
 * report gone or unreadable is -1 with *error_r.
 */
int spool_lock_entry(struct spool *spool, struct spool_entry *entry, bool wait, bool *busy_r,
                     char **error_r);
/* Removes one report (a deletion record, durable on return); -1 when there is no such report. */
int spool_delete(struct spool *spool, const struct spool_entry *entry, char **error_r);
/* Removes the directories of days before `before_day` (retention). */
int spool_expire(struct spool *spool, int before_day);

/*
 * Suppression: destinations that get no reports for a while, set by hand
 * (`tlsrpt suppress add`) or automatically after repeated permanent
 * failures. Kept in one small text file in the state directory, replaced
 * atomically on every change.
 */
struct spool_suppression {
    char *uri;
    time_t until;          /* 0: not suppressed */
    int failures_in_a_row; /* permanent failures since the last success */
    bool manual;
};
struct spool_suppressions {
    char *path;
    struct spool_suppression *items;
    size_t n;
};
int spool_suppressions_load(const char *path, struct spool_suppressions *list, char **error_r);
int spool_suppressions_save(struct spool_suppressions *list, char **error_r);
void spool_suppressions_free(struct spool_suppressions *list);
/* The record for uri, created (not suppressed) when missing and `create`. */
struct spool_suppression *spool_suppression_find(struct spool_suppressions *list,
                                                 const char *uri, bool create);
bool spool_suppressed(const struct spool_suppressions *list, const char *uri, time_t now);

/*
 * One change to the list on disk, made under an exclusive lock (load,
 * change, save), so concurrent delivery processes and `tlsrpt suppress`
 * never lose each other's updates. `change` edits the destination's record.
 */
typedef void spool_suppression_change_fn(struct spool_suppression *record, void *context);
int spool_suppression_update(const char *path, const char *uri,
                             spool_suppression_change_fn *change, void *context, char **error_r);

#endif
