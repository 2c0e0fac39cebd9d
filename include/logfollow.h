/*
 * logfollow.h - TLS session outcomes from mail logs, for MTAs without a
 * TLSRPT client library (Postfix < 3.10, Sendmail): a streaming parser per
 * log format that ties the lines of one SMTP session together (by process
 * id and relay host) and emits one event per TLS session attempt. Used by
 * `tlsrpt ingest --format postfix|sendmail`, and by the follower below,
 * which reads log files (across rotation) and the journal as they grow and
 * counts every session exactly once, even across kill -9.
 */
#ifndef TLSRPT_LOGFOLLOW_H
#define TLSRPT_LOGFOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core.h"
#include "counters.h"

enum lf_format {
    LF_POSTFIX,
    LF_SENDMAIL,
};
/* 0 and *format for "postfix" or "sendmail", -1 otherwise. */
int lf_format_from_name(const char *name, enum lf_format *format);

/* Why a line that looked like ours was not understood; counted, never fatal. */
enum lf_reject {
    LF_REJECT_BAD_TIMESTAMP,
    LF_REJECT_BAD_ADDRESS, /* relay host, IP or recipient that does not parse */
    LF_REJECT_BAD_TEXT,    /* not UTF-8, too long, control characters */
    LF_REJECT_UNTIED,      /* a session line with no session to belong to */
    LF_REJECT_TOO_MANY,    /* too many open sessions: the oldest was dropped */
};
#define LF_REJECT_COUNT 5
const char *lf_reject_name(enum lf_reject reason);

/*
 * The policy that really applied to a session, for logs that do not say it
 * (Postfix before 3.10, Sendmail): MTA-STS from the policy service's cache,
 * or DANE with the MX host's TLSA RRset. Filled by the caller's lookup; the
 * strings stay valid until the lookup is called again.
 */
struct lf_policy {
    enum tr_policy_type type; /* TR_POLICY_STS or TR_POLICY_TLSA */
    const char *domain;       /* policy-domain; NULL: the session's domain */
    const char *const *strings;
    size_t n_strings;
    const char *const *mx_hosts; /* sts: the policy's mx patterns */
    size_t n_mx_hosts;
};
/*
 * Asked once per session with its recipient domain, the MX host it reached
 * (NULL when unknown) and the policy type its log lines showed (TLSA for
 * DANE lines, else TR_POLICY_NONE). Returns true with *policy filled, or
 * false to keep what the log showed. Called from the parser's thread; it
 * must not block on the network (a cache answers).
 */
typedef bool lf_policy_fn(void *context, const char *domain, const char *mx_host,
                          enum tr_policy_type logged, struct lf_policy *policy);

struct lf_settings {
    enum lf_format format;
    /*
     * RFC 3164 lines have no year: the first one's is the year of `now` (or
     * the one before when its month lies ahead), later ones follow the log
     * (December to January is a new year), unless year is set (--year for
     * old files). Their local time is converted to UTC with the TZ of the
     * process.
     */
    int year;
    time_t now;
    /* Deliveries from this envelope sender are our own report mail: not counted. */
    const char *report_sender;
    /* And from its VERP form, LOCAL DELIMITER anything @DOMAIN (NULL or "": none). */
    const char *report_verp_delimiter;
    /* Sendmail does not log the sending address: taken from here (may be NULL). */
    const char *sending_mta_ip;
    /*
     * With the libtlsrpt collector also active, only what datagrams never
     * carry (dane-required, dnssec-invalid) is counted, so nothing counts twice.
     */
    bool supplement;
    /*
     * Optional (NULL: the log alone decides). A session whose real policy is
     * sts and that the log shows as an unverified TLS connection (Postfix's
     * "Untrusted TLS connection", e.g. under a testing-mode policy answered
     * as `may`) is counted as certificate-not-trusted under that policy.
     */
    lf_policy_fn *policy_lookup;
    void *policy_context;
};

struct lf_stats {
    uint64_t lines;       /* lines read */
    uint64_t relevant;    /* lines of the MTA's delivery agents */
    uint64_t events;      /* events emitted */
    uint64_t own_reports; /* sessions of our own report mail, not counted */
    uint64_t rejected;
    uint64_t rejected_by[LF_REJECT_COUNT];
};

/* Called for each event; the event is valid only during the call. */
typedef void lf_event_fn(const struct tr_event *event, void *context);

struct lf_parser;
struct lf_parser *lf_parser_create(const struct lf_settings *settings, lf_event_fn *emit,
                                   void *context);
void lf_parser_destroy(struct lf_parser *parser);
/* One log line, without its newline. Lines of other programs are skipped. */
void lf_parser_line(struct lf_parser *parser, const char *line, size_t len);
/*
 * End of input: emits the sessions whose outcome is known but whose
 * delivery line has not come (e.g. a failed MX that was not the last), and
 * drops sessions that can no longer complete. Sessions idle for more than
 * an hour of log time (line timestamps) are retired so before each line. A
 * follower that goes on later saves a checkpoint instead of flushing.
 */
void lf_parser_flush(struct lf_parser *parser);
const struct lf_stats *lf_parser_stats(const struct lf_parser *parser);

/* Queue ids are letters and digits (Postfix short and long ids, Sendmail's). */
#define LF_MAX_QUEUE_ID 31
bool lf_queue_id_ok(const char *queue_id);
/*
 * Marks queue_id as our own report mail (tlsrpt-milter recognised it before
 * the MTA logged its deliveries): its sessions are never counted. False when
 * the id is not a queue id.
 */
bool lf_parser_own_mail(struct lf_parser *parser, const char *queue_id);

struct buf;
/*
 * Checkpoints: the parser's state between two lines (open sessions, queue
 * ids, pending context) as opaque bytes appended to out. Restored into a
 * freshly created parser with the same settings, it continues exactly as
 * the saved one would have: the same events for the same following lines.
 * (Stats are not part of it.)
 */
void lf_parser_save(const struct lf_parser *parser, struct buf *out);
/* 0, or -1 with *error_r (caller frees) when data is damaged or of another
 * version/format; the parser is then left empty and usable. */
int lf_parser_restore(struct lf_parser *parser, const void *data, size_t len, char **error_r);

/* ---- The follower ---- */

#define LF_MAX_SOURCES 16

/*
 * One configured source, FORMAT:file:PATH or FORMAT:journal[:DIRECTORY]
 * (a directory of journal files; without it, the local system journal).
 */
struct lf_source_spec {
    enum lf_format format;
    bool journal;
    char *path; /* the file, the journal directory, or NULL */
    char *text; /* as written: for messages and the checkpoint */
};
/*
 * Parses a log_sources value: specs separated by commas and/or white space.
 * Returns 0, or -1 with *error_r (caller frees) naming the bad spec.
 */
int lf_sources_parse(const char *value, struct lf_source_spec **specs_r, size_t *n_r,
                     char **error_r);
void lf_sources_free(struct lf_source_spec *specs, size_t n);

/* Tests only: where a commit stops dead (_exit), as a kill -9 would. */
enum lf_crash_point {
    LF_CRASH_NONE,
    LF_CRASH_BEFORE_CHECKPOINT, /* events parsed, nothing written */
    LF_CRASH_AFTER_CHECKPOINT,  /* checkpoint on disk, counters not yet stored */
    LF_CRASH_HALF_STORED,       /* half of the batch's counters stored */
};

struct lf_follow_settings {
    const char *sources;        /* the log_sources value */
    const char *checkpoint_dir; /* $state_directory/logpos, created by the caller */
    const char *counters_dir;
    struct ctr_limits limits;
    const char *report_sender;  /* as in struct lf_settings */
    const char *report_verp_delimiter;
    const char *sending_mta_ip;
    bool supplement;
    lf_policy_fn *policy_lookup; /* as in struct lf_settings */
    void *policy_context;
    enum lf_crash_point crash_at;
    unsigned crash_after;       /* ...of the commit after this many (tests) */
};

struct lf_follower;
/*
 * Parses the sources and resumes from the checkpoint: stores its counters
 * again (harmless: they are absolute) and restores each source's read
 * position and parser state. A source without a checkpoint starts at the
 * end of its file (or journal): what was logged before is for `tlsrpt
 * ingest`; a file that does not exist yet is read from its start once it
 * appears. NULL with *error_r for bad sources or a damaged checkpoint.
 */
struct lf_follower *lf_follower_open(const struct lf_follow_settings *settings, char **error_r);
/*
 * One round: reads what each source has (bounded), counts its sessions and
 * commits: checkpoint first, then the counters. Returns the number of
 * lines read, or -1 when the commit failed (then everything since the last
 * checkpoint is rolled back and read again next time: nothing is lost).
 */
long lf_follower_poll(struct lf_follower *follower);
/* Polls in a thread of its own, every 200 ms when the sources are idle. */
int lf_follower_start(struct lf_follower *follower, char **error_r);
/*
 * Thread-safe and quick (never waits for a round): queue_id is our own
 * report mail; its parsers learn it before their next round. 0, or -1 with
 * a static *error_r (not a queue id, or LF_MAX_OWN_PENDING are waiting).
 */
#define LF_MAX_OWN_PENDING 1024
int lf_follower_own_mail(struct lf_follower *follower, const char *queue_id, const char **error_r);
/* Stops the thread after its current round (its work is committed). */
void lf_follower_stop(struct lf_follower *follower);
void lf_follower_close(struct lf_follower *follower);

struct lf_source_status {
    char spec[256];
    char state[1024];   /* "following", "waiting for the file", "error: ..." */
    char position[256]; /* "inode N offset M" or "cursor ..." */
    struct lf_stats stats;
};
struct lf_follower_totals {
    uint64_t own_mail;         /* queue ids of own report mail handed over (milter) */
    uint64_t own_mail_dropped; /* not taken: the list of pending ones was full */
    uint64_t commits;
    uint64_t rollbacks;
    uint64_t table_full_events; /* counted in overflow records only */
};
/* Copies the status of up to max sources; returns how many there are. */
size_t lf_follower_status(struct lf_follower *follower, struct lf_source_status *out, size_t max,
                          struct lf_follower_totals *totals);

#endif
