/*
 * counters.h - the per-UTC-day counter table: one file-backed shared mmap per
 * day under $state_directory/counters/, written by several processes at once
 * (daemon, offline ingest, milter), exact totals, and safe against kill -9 at
 * any instant: every event whose ctr_add() returned is in the file.
 */
#ifndef TLSRPT_COUNTERS_H
#define TLSRPT_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core.h"

struct ctr_table;

/*
 * The largest a new day's table may grow to (it takes disk only as it
 * fills); an existing file keeps the sizes it was made with. NULL: the
 * defaults, 16,777,216 entries and 3 GB of strings.
 */
struct ctr_limits {
    uint32_t max_entries;  /* policy keys + failure-detail rows */
    uint64_t string_space; /* bytes for key strings (at most 4 GB - 1 are used) */
};

enum ctr_open_mode {
    CTR_READ_ONLY,  /* for reports and the CLI; fails if the day has no table */
    CTR_READ_WRITE, /* for writers; creates the day's table if missing */
};

/*
 * Opens the table of `day` (days since the epoch, UTC) in directory `dir`
 * (normally $state_directory/counters, created by the caller). The file is
 * dir/YYYY-MM-DD.ctr. Returns NULL with *error_r (caller frees) naming the
 * file and the problem (not a table, wrong version, truncated, ...).
 */
struct ctr_table *ctr_open(const char *dir, int day, enum ctr_open_mode mode,
                           const struct ctr_limits *limits, char **error_r);
void ctr_close(struct ctr_table *table);
int ctr_day(const struct ctr_table *table);

/*
 * Counts one event under each of its policies. The event should have passed
 * tr_event_check(). Never fails silently: when the table is full, the event
 * is counted in the per-domain overflow record instead (returns 1), and when
 * even that is full, in the table-wide lost counter (returns 2). In a table
 * closed for its reports it is counted as late only (returns 3). Returns 0
 * when stored normally. Safe to call from several processes and threads.
 */
int ctr_add(struct ctr_table *table, const struct tr_event *event);

/*
 * Counts an event in its domain's overflow record only, as ctr_add() does
 * for an event that found the table full; returns 1, or 2 when it was
 * counted as lost.
 */
int ctr_count_overflow(struct ctr_table *table, const char *domain);

/*
 * The log follower's counters. It alone writes its keys (kept apart from
 * the collector's and merged with them in snapshots), so it can store
 * absolute values: its checkpoint holds (day, cell, value) triples written
 * before they are stored, and storing them twice after a crash is harmless.
 */
struct ctr_cell {
    uint32_t slot;
    uint32_t field; /* of a key: 0 success, 1 failure; of a detail row: 0 */
};
/*
 * The cells that counting `event` adds one to, made when new, into cells
 * (room for max: n_policies x (1 + n_failures) is enough). Returns how
 * many, or -1 when max is too small. *incomplete_r tells that part of the
 * event found the table full: the caller then counts it with
 * ctr_count_overflow() (not idempotent: an overflowing table is the one
 * case a crash can count twice).
 */
int ctr_log_cells(struct ctr_table *table, const struct tr_event *event, struct ctr_cell *cells,
                  size_t max, bool *incomplete_r);
/*
 * The same for the collector's parse thread: its own keys ('C'), so its
 * journal can redo a datagram's absolute values after a crash.
 */
int ctr_collector_cells(struct ctr_table *table, const struct tr_event *event,
                        struct ctr_cell *cells, size_t max, bool *incomplete_r);
/*
 * In a table closed for its reports (ctr_set_closed), both return one cell instead:
 * {CTR_SLOT_LATE, 1} (follower) or {CTR_SLOT_LATE, 2} (collector), the
 * writer's count of late events; the event goes into no key (a reported day
 * is not reported again, and the table stays what was reported).
 */
#define CTR_SLOT_LATE UINT32_MAX
/* false when cell is not one of the follower's or the collector's counters. */
bool ctr_cell_get(struct ctr_table *table, struct ctr_cell cell, uint64_t *value_r);
bool ctr_cell_set(struct ctr_table *table, struct ctr_cell cell, uint64_t value);

/* Totals of the whole table, for `tlsrpt status` and the daemon's log. */
struct ctr_stats {
    uint32_t entries_used;
    uint32_t max_entries;
    uint64_t string_used;
    uint64_t string_space;
    uint64_t sessions_success; /* sums over all policy keys */
    uint64_t sessions_failure;
    uint64_t overflow_events;  /* events counted only per domain: table full */
    uint64_t lost_events;      /* events counted nowhere but here */
    uint64_t late_events;      /* arrived after the reports were built: counted only here */
    uint32_t overflow_domains;
    bool reported;             /* the day's reports were built */
};
void ctr_stats(struct ctr_table *table, struct ctr_stats *stats);
/* Only the late events (cheap: ctr_stats walks every slot), for a status over all days. */
uint64_t ctr_late_events(const struct ctr_table *table);

/* One failure-detail row of a key, with its count. */
struct ctr_detail {
    struct tr_failure failure; /* strings point into the snapshot */
    uint64_t count;
};

/* One (policy domain, record, policy) key with its totals and detail rows. */
struct ctr_key {
    const char *domain;
    const char *record; /* "" when the capture path did not know it */
    struct tr_policy policy; /* failures/n_failures unused: see details */
    uint64_t success;
    uint64_t failure;
    struct ctr_detail *details;
    size_t n_details;
};

/* An overflow record: events of a domain that found the table full. */
struct ctr_overflow {
    const char *domain;
    uint64_t events;
};

/*
 * A consistent, private copy of a day's table, in a deterministic order:
 * keys sorted by (domain, record, policy type, policy domain, policy strings,
 * mx hosts); details by count descending, then by their fields.
 * domain_filter, when not NULL, keeps only that domain.
 */
struct ctr_snapshot {
    int day;
    struct ctr_key *keys;
    size_t n_keys;
    struct ctr_overflow *overflow;
    size_t n_overflow;
    uint64_t lost_events;
    uint64_t late_events; /* arrived after the day's reports: in no key */
};
struct ctr_snapshot *ctr_snapshot(struct ctr_table *table, const char *domain_filter);
void ctr_snapshot_free(struct ctr_snapshot *snapshot);

/*
 * A day per recipient domain, for `tlsrpt top`, alert_command and the
 * metrics: sessions and failures summed over the domain's keys, failure
 * details by result type; and the whole day by policy type and result type.
 * Overflow records count as sessions of unknown outcome: not in these sums.
 */
struct ctr_domain_summary {
    const char *domain; /* points into the snapshot */
    uint64_t sessions;  /* successes + failures */
    uint64_t failures;
    uint64_t by_result[TR_RESULT_COUNT]; /* failed sessions by result type (details) */
};
struct ctr_day_summary {
    struct ctr_domain_summary *domains; /* in domain order */
    size_t n_domains;
    uint64_t success_by_policy[TR_POLICY_TYPE_COUNT];
    uint64_t failure_by_policy[TR_POLICY_TYPE_COUNT];
    uint64_t by_result[TR_RESULT_COUNT];
};
/* snap may be NULL (no table: nothing counted). Free with ctr_summary_free. */
void ctr_summarize(const struct ctr_snapshot *snap, struct ctr_day_summary *summary);
void ctr_summary_free(struct ctr_day_summary *summary);
/* The domain's result type with most failed sessions (ties: the first), or -1. */
int ctr_summary_top_result(const struct ctr_domain_summary *domain);
/* The domain in a summary (binary search), or NULL. */
const struct ctr_domain_summary *ctr_summary_find(const struct ctr_day_summary *summary,
                                                  const char *domain);

/* The reported flag lets retention remove a day only after its reports. */
void ctr_set_reported(struct ctr_table *table);
/*
 * Closes a day for its reports, before the snapshot they are built from:
 * every event counted after this is late (in no key), so the snapshot holds
 * all the reports will ever say, also when a crash makes the build repeat.
 */
void ctr_set_closed(struct ctr_table *table);

/*
 * Days that have a table in dir, ascending; *days is allocated (caller
 * frees). Returns the count, or -1 with *error_r.
 */
int ctr_list_days(const char *dir, int **days, char **error_r);

/*
 * Removes tables older than retention_days before `today` whose reports were
 * built. Returns the number removed; problems are logged with msg_warn().
 */
int ctr_expire(const char *dir, int today, int retention_days);

#endif
