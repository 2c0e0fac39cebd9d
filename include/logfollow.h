/*
 * logfollow.h - TLS session outcomes from mail logs, for MTAs without a
 * TLSRPT client library (Postfix < 3.10, Sendmail): a streaming parser per
 * log format that ties the lines of one SMTP session together (by process
 * id and relay host) and emits one event per TLS session attempt. Used by
 * `tlsrpt ingest --format postfix|sendmail` and, later, the log follower.
 */
#ifndef TLSRPT_LOGFOLLOW_H
#define TLSRPT_LOGFOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core.h"

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
    /* Sendmail does not log the sending address: taken from here (may be NULL). */
    const char *sending_mta_ip;
    /*
     * With the libtlsrpt collector also active, only what datagrams never
     * carry (dane-required, dnssec-invalid) is counted, so nothing counts twice.
     */
    bool supplement;
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

#endif
