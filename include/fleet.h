/*
 * fleet.h - many MTAs, one report per domain per day: each host pushes its
 * finished days' counters to a PostgreSQL database (libpq), idempotently,
 * and the fleet's merged counts are read back from it.
 */
#ifndef TLSRPT_FLEET_H
#define TLSRPT_FLEET_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "counters.h"
#include "spool.h"

/* The schema version this program creates and expects (tlsrpt_meta). */
#define FLEET_SCHEMA_VERSION 3
#define FLEET_HOST_ID_MAX 255

struct fleet;

/*
 * Connects to conninfo (a libpq URI or key=value string) as host_id (empty:
 * this machine's host name). A password in conninfo is refused: it belongs
 * in a passfile (libpq's ~/.pgpass, PGPASSFILE or passfile=) or a service
 * file. NULL with *error_r (caller frees) naming what failed.
 */
struct fleet *fleet_connect(const char *conninfo, const char *host_id, char **error_r);
void fleet_close(struct fleet *fleet);
const char *fleet_host_id(const struct fleet *fleet);

/*
 * Creates the schema, or migrates it to FLEET_SCHEMA_VERSION, in one
 * transaction; *from_r is the version found (0: none). -1 with *error_r.
 */
int fleet_init(struct fleet *fleet, int *from_r, char **error_r);

/* What one push stored. */
struct fleet_push_stats {
    uint64_t keys, details, overflow;
    uint64_t sessions; /* success + failure over all keys */
};

/*
 * Stores a finished day's snapshot as this host's counts for snap->day, in
 * one transaction that first removes what the host pushed for that day
 * before: pushing the same day again, after a crash or a timeout, changes
 * nothing. `instance` names the counters directory pushed from (its
 * .fleet-instance): a day the same host id pushed from another one is
 * refused (two machines share a fleet_host_id). A push after the day's
 * reports were built is warned about (its counts are in no report). -1
 * with *error_r (the transaction is rolled back).
 */
int fleet_push(struct fleet *fleet, const struct ctr_snapshot *snap, const char *instance,
               struct fleet_push_stats *stats, char **error_r);

/*
 * Pushes one day of counters_dir, pushed before or not: closes it, pushes
 * its snapshot, and once the database acknowledged it marks it reported.
 */
int fleet_push_day(struct fleet *fleet, const char *counters_dir, int day,
                   struct fleet_push_stats *stats, char **error_r);

/*
 * The daemon's worker: every finished day in counters_dir (past
 * report_delay after its end) that is not pushed yet is closed, pushed, and
 * then marked reported, which lets counter_retention remove it; a day whose
 * push fails is kept and tried again next time. Returns how many days were
 * pushed, or -1 (with messages logged) when a push failed.
 */
int fleet_push_due(struct fleet *fleet, const char *counters_dir, time_t now,
                   time_t report_delay);

/*
 * Writes the fleet's merged counts of `day` (every host's pushed counts
 * summed) into the day's table in dir, which must not hold that day yet
 * (the caller gives a directory of its own). Returns the number of hosts
 * merged, -1 with *error_r.
 */
int fleet_merge(struct fleet *fleet, int day, const char *dir, const struct ctr_limits *limits,
                char **error_r);

/*
 * Days some host pushed, between first_day and last_day, whose reports are
 * not all settled yet; *days_r is allocated. The count, or -1.
 */
int fleet_day_candidates(struct fleet *fleet, int first_day, int last_day, int **days_r,
                         char **error_r);
/*
 * Hosts that pushed some day of the window_days before `day` but not `day`
 * itself: how many, and their names in *missing_r ("a, b"; NULL: none).
 */
int fleet_day_missing(struct fleet *fleet, int day, int window_days, char **missing_r,
                      char **error_r);
/*
 * Makes this host the builder of `day` for lease_seconds: when nobody is,
 * when it already is (renewed), or when the builder's lease expired (taken
 * over: *previous_r names it). 1 when this host builds the day, 0 when
 * another host does (or the day is done), -1 with *error_r.
 */
int fleet_lead(struct fleet *fleet, int day, long lease_seconds, char **previous_r,
               char **error_r);
/* Every report of the day is settled: nobody needs to lead it again. */
int fleet_day_finish(struct fleet *fleet, int day, char **error_r);

/*
 * The delivery ledger. Before an attempt, its builder claims it: 1 go
 * ahead; 0 do not, with state_r the ledger's word ("delivered", "failed":
 * settled by a host of the fleet; "" or another: this host is no longer the
 * day's builder, or the day's reports are not stored yet); -1 with
 * *error_r. After the attempt, fleet_record() writes its outcome: the
 * destination's state, last error, and first and next try (for a host that
 * takes the day over) and what a bounce said of it; only the host that
 * claimed it, unless any_host (a bounce can reach any host).
 */
#define FLEET_STATE_SIZE 16
int fleet_claim(struct fleet *fleet, int day, const char *report_id, const char *destination,
                char state_r[FLEET_STATE_SIZE], char **error_r);
int fleet_record(struct fleet *fleet, const char *report_id, const struct spool_destination *d,
                 bool any_host, char **error_r);
/*
 * `tlsrpt queue retry` in a fleet: a destination the ledger has as failed
 * gets a new retry window there too (else no host would claim it again),
 * and its day is open again: led by this host for lease_seconds, unless
 * another host holds a live lease on it. 1 renewed, 0 it was not failed,
 * -1 with *error_r.
 */
int fleet_retry(struct fleet *fleet, const char *report_id, const char *destination,
                long lease_seconds, char **error_r);

/*
 * The fleet's outbox. The day's builder builds the merged reports into its
 * own outbox, then stores them in the database (fleet_store_day): every
 * report's JSON and fields, and a ledger row per destination, in one
 * transaction made only while it holds the day's lease and only once; no
 * delivery of the day is claimed before. 1 stored (*n_reports_r: how
 * many), 0 not (the lease is not ours, or the day is stored already), -1.
 */
int fleet_store_day(struct fleet *fleet, struct spool *spool, int day, int *n_reports_r,
                    char **error_r);
/* How many reports of the day are stored, -1 when none are yet; -2 with *error_r. */
int fleet_day_stored(struct fleet *fleet, int day, char **error_r);
/*
 * A host that takes a stored day over writes its reports into its outbox
 * (which must not hold the day) exactly as stored, each destination in the
 * ledger's state: settled ones stay settled, retries keep their window, the
 * one in flight when the builder died is due again. The count, or -1.
 */
int fleet_restore_day(struct fleet *fleet, struct spool *spool, int day, char **error_r);
/*
 * Every stored report of days first_day..last_day with its ledger state,
 * oldest day first, then by policy domain (`tlsrpt queue --fleet`); hosts[i]
 * is the host that last had destination i in hand. The count, or -1.
 */
typedef void fleet_report_fn(const struct spool_entry *entry, const char *const *hosts,
                             void *context);
int fleet_outbox_each(struct fleet *fleet, int first_day, int last_day, fleet_report_fn *each,
                      void *context, char **error_r);

/*
 * A value every host of the fleet shares (tlsrpt_meta): the first host to
 * propose one sets it; *value_r (caller frees) is the fleet's. 0, or -1.
 */
int fleet_shared_value(struct fleet *fleet, const char *name, const char *proposed,
                       char **value_r, char **error_r);

/*
 * A bounce in a fleet. fleet_find_report: the stored report with this
 * unique id (case apart), each destination in the ledger's state: 1 found
 * (*entry filled, caller frees), 0 none, -1 with *error_r. The verdict
 * goes back with fleet_record(..., any_host = true).
 */
int fleet_find_report(struct fleet *fleet, const char *unique_id, struct spool_entry *entry,
                      char **error_r);

/*
 * Suppressions made by hand (`tlsrpt suppress add|del`) hold for the whole
 * fleet: each is written to the database (until 0: lifted), and every
 * host's report worker takes them into its own list.
 */
struct fleet_suppression {
    char *uri;
    time_t until; /* 0: lifted */
    char *set_by; /* the host it was set on */
};
int fleet_suppression_set(struct fleet *fleet, const char *uri, time_t until, char **error_r);
int fleet_suppressions(struct fleet *fleet, struct fleet_suppression **list_r, size_t *n_r,
                       char **error_r);
void fleet_suppressions_free(struct fleet_suppression *list, size_t n);

/*
 * fleet_retention: every day before before_day leaves the database (its
 * counts, stored reports, ledger and lease rows; the pushes stay, small,
 * for the status). 1 when something was removed, 0 when nothing, -1.
 */
int fleet_expire(struct fleet *fleet, int before_day, char **error_r);

/* One host as the database knows it. */
struct fleet_host {
    char *host_id;
    int last_day;      /* the latest day it pushed, -1: none */
    time_t last_push;  /* when it pushed last */
    uint64_t days;     /* days it has pushed */
    uint64_t sessions; /* sessions in its last pushed day */
};
/* One of the latest days hosts pushed: who did, and its reports (if led). */
struct fleet_day {
    int day;
    char *pushed;       /* the hosts that pushed it: "h1, h2" */
    char *missing;      /* known hosts (pushed a day of the window before) that did not */
    char *builder;      /* "": nobody leads it yet */
    time_t lease_until;
    bool done;
    int stored_reports; /* reports in the fleet's outbox, -1: not stored yet */
    uint64_t destinations, delivered, failed; /* the day's ledger rows */
};
#define FLEET_STATUS_DAYS 7 /* the LIMIT in db.c */
struct fleet_status {
    int schema_version; /* 0: no schema */
    struct fleet_host *hosts;
    size_t n_hosts;
    struct fleet_day *days; /* newest first, at most FLEET_STATUS_DAYS */
    size_t n_days;
};
/* The hosts, and the latest days pushed; a host is known for window_days after it pushed. */
int fleet_status(struct fleet *fleet, int window_days, struct fleet_status *status,
                 char **error_r);
void fleet_status_free(struct fleet_status *status);

#endif
