/*
 * scheduler.h - the daily cycle: which finished days are due, and building
 * a day: group its counters per (policy domain, TLSRPT record), find each
 * group's rua, build the reports and put the whole day into the outbox at
 * once, then mark the day reported. Also hands due reports to the
 * delivery directory when one is configured.
 */
#ifndef TLSRPT_SCHEDULER_H
#define TLSRPT_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "delivery.h"
#include "dns.h"
#include "dsn.h"
#include "report.h"
#include "spool.h"

struct cfg;

/* How reports leave: transports, signature, retries, suppression (issue: delivery). */
struct sched_delivery {
    bool ready;                     /* set up (not for dry runs) */
    struct dlv_smtp_settings smtp;
    struct dlv_https_settings https;
    struct dlv_dkim_key *dkim_key;  /* NULL: not configured */
    char *dkim_domain;
    const char *dkim_selector;
    char *from;                     /* From: */
    char *envelope_sender;
    const char *verp_delimiter;     /* "": report mail carries no VERP tag */
    unsigned char verp_key[DSN_VERP_KEY_SIZE];
    time_t retry_initial;
    time_t retry_window;
    int suppress_after;
    time_t suppress_time;
    size_t max_report_size;
    int rate_limit;                 /* per destination domain and minute */
    int concurrency;                /* delivery processes in one pass */
    char *suppress_path;
};

struct sched_context {
    char *counters_dir;
    struct spool *spool;             /* NULL for a dry run */
    struct dns_resolver *resolver;
    struct rpt_settings settings;
    bool send_all_success_reports;
    size_t max_rua;
    time_t report_spread;            /* send times are spread over this many seconds */
    const char *domain_filter;       /* only this policy domain (tlsrpt run/report --domain) */
    struct sched_delivery delivery;
};

/*
 * Fills ctx from the configuration: organization_name and contact_info
 * (checked: -1 with *error_r naming them), the counters directory, the
 * outbox (opened when open_spool), a resolver for dns_resolvers when
 * with_dns, and the report parameters.
 */
/*
 * The envelope sender of our report mail (report_envelope_sender, else the
 * From: address): the log follower leaves deliveries from it uncounted.
 * NULL when nothing names it (no contact_info).
 */
char *sched_report_sender(struct cfg *cfg);

int sched_context_init(struct sched_context *ctx, struct cfg *cfg, bool open_spool, bool with_dns,
                       char **error_r);
void sched_context_free(struct sched_context *ctx);

/*
 * Makes this process the outbox's owner (spool_lock_outbox), waiting with a
 * message while another owner works. Building into the outbox and
 * delivering from it need it. The lock's fd (kept open while owning), or -1
 * with *error_r.
 */
int sched_own_outbox(struct sched_context *ctx, char **error_r);

/*
 * Days with a counter table that are finished (before today, UTC), not yet
 * reported, at least report_delay past their end and within retention.
 * *days is allocated (caller frees); returns the count.
 */
int sched_due_days(const char *counters_dir, time_t now, time_t report_delay,
                   int retention_days, int **days);

/*
 * Builds the reports of `day`. With a spool: writes them into the outbox in
 * one step and marks the day reported (a day already in the outbox is only
 * marked). Without (dry run): prints to `out` what would be enqueued.
 * Returns the number of reports, -1 with *error_r.
 */
int sched_build_day(struct sched_context *ctx, int day, FILE *out, char **error_r);

/*
 * Calls `each` for every report of the day that would be sent (no DNS, no
 * outbox): for `tlsrpt report`. Returns the count or -1 with *error_r.
 */
typedef void sched_report_fn(const struct rpt_report *report, void *context);
int sched_each_report(struct sched_context *ctx, int day, sched_report_fn *each, void *context,
                      char **error_r);

/*
 * Looks up again the TLSRPT record of every outbox report whose lookup
 * failed temporarily: found, its destinations are added; none, the report
 * has nowhere to go (kept, visible in the queue); still failing, it waits
 * for the next run. Returns the number resolved.
 */
int sched_resolve_pending(struct sched_context *ctx);

/*
 * Writes every due report (send_after passed, a destination still pending)
 * as its RFC 8460 §5.1 .json.gz file into dir and marks its destinations
 * delivered. Returns the number written.
 */
int sched_deliver_to_directory(struct spool *spool, const char *dir, time_t now);

/*
 * Delivers every due report to each of its destinations that is pending or
 * due for a retry: mail (message, DKIM, SMTP or sendmail) or HTTPS. State
 * is written before each attempt (a crash repeats at most that attempt)
 * and after it: delivered, retrying with exponential backoff from
 * retry_initial within retry_window of the first attempt, or failed;
 * permanent failures in a row suppress the destination. The caller owns
 * the outbox; each report is locked (spool_lock_entry) for its attempts and
 * skipped when another process holds it. Returns the number of attempts
 * made.
 */
int sched_deliver(struct sched_context *ctx, time_t now);

/*
 * Bounces. A DSN that came back to the VERP address envelope_recipient is
 * matched to its outbox destination (the tag's report, the MAC naming one
 * of its destinations) and, under the report's lock, changes it: action
 * failed marks it failed ("bounced: " the remote reason), and with a 5.x.x
 * status counts toward suppress_after_failures; delayed is recorded and
 * shown, nothing else; delivered resets the failure count. A DSN that
 * matches nothing is result->matched false with the reason (the caller
 * passes it on untouched). The counters in $state_directory/dsn.counters
 * are updated either way. -1 with *error_r when the outbox or state cannot
 * be read or written, or a delivery attempt holds the report's lock for
 * more than 2 s (a milter callback must not wait longer): try again later.
 */
struct sched_dsn_result {
    bool matched;
    char *reason;          /* unmatched: why */
    char *report_id;       /* matched: the report and destination */
    char *destination;
    char *action;          /* of the recipient that decided */
    char *status;
    char *detail;          /* the remote reason, as the queue shows it */
    enum spool_state state; /* the destination's state after */
    bool changed;          /* false: this DSN was applied before */
    bool suppressed;       /* it made the destination suppressed */
};
int sched_dsn_apply(struct cfg *cfg, const char *envelope_recipient, const struct dsn *dsn,
                    struct sched_dsn_result *result, char **error_r);
void sched_dsn_result_free(struct sched_dsn_result *result);

/* DSNs seen so far ($state_directory/dsn.counters; all 0 when there is none). */
struct sched_dsn_counters {
    uint64_t matched, unmatched, suppressions;
};
int sched_dsn_counters_read(struct cfg *cfg, struct sched_dsn_counters *counters,
                            char **error_r);

#endif
