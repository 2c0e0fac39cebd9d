/*
 * lf_impl.h - what the log parsers of the logfollow module share: the parser
 * itself, syslog line framing, a bounded LRU table for sessions and queue ids,
 * event emission and reject counting, and the hooks of each log format.
 */
#ifndef TLSRPT_LF_IMPL_H
#define TLSRPT_LF_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core.h"
#include "logfollow.h"

/* Longer lines are rejected (LF_REJECT_BAD_TEXT) before framing. */
#define LF_MAX_LINE 8192
/* Open sessions / queue ids per table; beyond, the least recently used is dropped. */
#define LF_MAX_SESSIONS 4096
/*
 * Sessions and processes not touched for longer than this much log time
 * (line timestamps, never the wall clock: a replay gives the same result)
 * are retired as at the end of input. No SMTP session lasts that long, and
 * processes that exited would otherwise keep their entries until evicted.
 */
#define LF_IDLE_SECONDS 3600

/*
 * One framed syslog line. All pointers point into the line (not
 * NUL-terminated: use the lengths). `session_key` is "host program[pid]" (or
 * just "host program" when there is no pid), the natural key of a session
 * table: it keeps two hosts apart in a central server's log.
 */
struct lf_frame {
    time_t time; /* UTC */
    const char *host;
    size_t host_len;
    const char *program;
    size_t program_len;
    long pid; /* -1 when the line has none */
    const char *session_key;
    size_t session_key_len;
    const char *message; /* after "prog[pid]: " */
    size_t message_len;
    const char *line; /* the whole line, for lf_frame_text_ok() */
    size_t line_len;
};

/*
 * A bounded table from a byte-string key to a format's data, least recently
 * used first out. When full, lf_table_put drops the oldest entry: it calls
 * drop(parser, data, true) and counts LF_REJECT_TOO_MANY when that lost
 * pending work (a finished process is forgotten silently; no drop hook
 * counts every eviction). Each entry remembers the log time (parser's
 * log_time) of its last get or put, so that idle entries can be retired.
 */
/* Frees data; returns true when it held work that is lost if the entry was evicted. */
typedef bool lf_drop_fn(struct lf_parser *parser, void *data, bool evicted);
struct lf_table;
/* idle: seconds of log time after which lf_table_take_idle returns an untouched entry. */
struct lf_table *lf_table_create(struct lf_parser *parser, size_t max, time_t idle,
                                 lf_drop_fn *drop);
/* Calls drop(parser, data, false) for each remaining entry, then frees the table. */
void lf_table_destroy(struct lf_table *table);
/* The data under key (and marks it most recently used), or NULL. */
void *lf_table_get(struct lf_table *table, const char *key, size_t key_len);
/* Adds data under key (which must not be present yet), evicting the oldest when full. */
void lf_table_put(struct lf_table *table, const char *key, size_t key_len, void *data);
/* The same with the time of its last use given (restoring a checkpoint). */
void lf_table_put_touched(struct lf_table *table, const char *key, size_t key_len, void *data,
                          time_t touched);
/* Removes the entry and returns its data (drop is not called), or NULL. */
void *lf_table_take(struct lf_table *table, const char *key, size_t key_len);
/* Removes the least recently used entry and returns its data, or NULL when empty. */
void *lf_table_take_oldest(struct lf_table *table);
/*
 * Removes the least recently used entry when the current line's log time is
 * more than the table's idle seconds after its last use, and returns its data
 * (drop is not called); NULL otherwise. Lines out of time order may leave
 * an idle entry behind a fresher one until that one goes too.
 */
void *lf_table_take_idle(struct lf_table *table);
/*
 * Calls visit for each entry, oldest first; an entry for which it returns
 * false is removed (drop is not called: visit has taken care of data).
 */
typedef bool lf_visit_fn(const char *key, size_t key_len, time_t touched, void *data,
                         void *context);
void lf_table_visit(struct lf_table *table, lf_visit_fn *visit, void *context);
size_t lf_table_count(const struct lf_table *table);

struct lf_parser {
    struct lf_settings settings; /* strings are owned copies */
    lf_event_fn *emit;
    void *context;
    struct lf_stats stats;
    void *format_state; /* lf_postfix_create / lf_sendmail_create result */
    time_t log_time;    /* of the line being read: the clock of idle entries */
    /*
     * RFC 3164 times: mktime() is slow (with TZ unset glibc checks
     * /etc/localtime on every call) and consecutive lines share their
     * second, so the last stamp and its UTC time are kept.
     */
    char last_stamp[15];
    time_t last_time;
    bool last_valid;
    /*
     * And mktime() only twice an hour: the start of the last stamp's local
     * hour, and whether the hour is even (no change of UTC offset in it).
     */
    bool hour_known, hour_even;
    int hour_key;
    time_t hour_start;
    /* Year and month of the last RFC 3164 line (0: none yet): the year of the next. */
    int rfc3164_year, rfc3164_month;
};

/*
 * Frames an RFC 3164 ("Nov 22 08:24:30 host prog[pid]: msg") or RFC 3339
 * ("2026-11-22T08:24:30.123456+01:00 host prog[pid]: msg") line.
 * Returns 0, or -1 when the line does not have that shape.
 */
int lf_frame(struct lf_parser *parser, const char *line, size_t len, struct lf_frame *out);

/*
 * Whether the whole line is printable UTF-8 (tr_text_ok). Asked only for
 * the lines a parser reads: most of a mail log belongs to other programs.
 */
bool lf_frame_text_ok(const struct lf_frame *frame);

/* Counts a rejected line. */
void lf_reject(struct lf_parser *parser, enum lf_reject reason);
/* An envelope sender of our own report mail: report_sender or its VERP form. */
bool lf_own_sender(const struct lf_parser *parser, const char *address, size_t len);

/*
 * Emits an event: checks it (tr_event_check; a bad one counts as
 * LF_REJECT_BAD_TEXT), honours supplement mode (only dane-required and
 * dnssec-invalid failures pass), counts it and calls the callback.
 */
void lf_emit(struct lf_parser *parser, const struct tr_event *event);

/* A session outcome under one policy with at most one failure detail. */
struct lf_outcome {
    time_t time;
    const char *domain; /* the recipient / policy domain */
    enum tr_policy_type policy_type;
    const char *policy_domain; /* NULL: domain */
    bool failed;
    bool unverified;       /* a TLS session whose certificate was not verified... */
    enum tr_result unverified_result; /* ...and why, when the log says (else not-trusted) */
    enum tr_result result; /* when failed */
    /* Failure details (NULL: unknown, omitted); only used when failed. */
    const char *sending_mta_ip;
    const char *receiving_mx_hostname;
    const char *receiving_mx_helo;
    const char *receiving_ip;
    const char *additional_information;
    const char *failure_reason_code;
};
/* Builds the tr_event of an outcome and lf_emit()s it. */
void lf_emit_outcome(struct lf_parser *parser, const struct lf_outcome *outcome);

/*
 * Copies text into out (size > 0) with NUL, bounded, replacing bytes that
 * are not printable ASCII by '?'; returns out. For reason codes from logs.
 */
char *lf_printable(const char *text, size_t len, char *out, size_t size);
/* Copies text into out (size > 0), cut to fit, with NUL: snprintf's "%s" without its cost. */
void lf_copy(char *out, size_t size, const char *text);

/* Buffer sizes of a host name (normalized, NUL) and of an IP address text. */
#define LF_HOST_SIZE (TR_MAX_DOMAIN + 1)
#define LF_IP_SIZE 64
/* A host name into host, normalized (tr_domain_normalize); false when invalid. */
bool lf_host_name(const char *s, size_t len, char host[LF_HOST_SIZE]);
/* An IPv4/IPv6 address (an "IPv6:" prefix is dropped) into ip; false when invalid. */
bool lf_ip_address(const char *s, size_t len, char ip[LF_IP_SIZE]);
/* "HOST[IP]" with an optional ":PORT" at s: fills both, returns the end, or NULL. */
const char *lf_host_address(const char *s, char host[LF_HOST_SIZE], char ip[LF_IP_SIZE]);

/*
 * Checkpoint encoding (checkpoint.c): unsigned LEB128 integers, times as
 * zigzag LEB128, texts and keys as a length and their bytes (no NUL).
 */
struct buf;
void lf_put_uint(struct buf *out, uint64_t value);
void lf_put_time(struct buf *out, time_t value);
void lf_put_key(struct buf *out, const char *key, size_t len);
void lf_put_text(struct buf *out, const char *text);

/* The FNV-1a 64 that closes a checkpoint (also for the fuzz target that makes them). */
uint64_t lf_checkpoint_checksum(const unsigned char *data, size_t len);

/* Longest table key in a checkpoint. */
#define LF_MAX_KEY LF_MAX_LINE
/*
 * Reading a checkpoint: each lf_get_ returns false on damaged data (past
 * the end, out of its range, too long for its field) and keeps the first
 * error, saying what was read where; later calls then fail too.
 */
struct lf_reader {
    const unsigned char *start, *p, *end;
    char *error;
    unsigned version; /* of the checkpoint: formats read older ones too */
};
bool lf_get_uint(struct lf_reader *reader, const char *what, uint64_t max, uint64_t *value);
/* An enum or flag set of at most max. */
bool lf_get_small(struct lf_reader *reader, const char *what, unsigned max, unsigned *value);
bool lf_get_time(struct lf_reader *reader, const char *what, time_t *value);
/* A key of 1 to LF_MAX_KEY bytes, pointing into the data. */
bool lf_get_key(struct lf_reader *reader, const char *what, const char **key, size_t *len);
/* Printable ASCII shorter than size, copied into out with its NUL. */
bool lf_get_text(struct lf_reader *reader, const char *what, char *out, size_t size);
/* Records an error that is not about the encoding (e.g. a duplicate key); returns false. */
bool lf_reader_fail(struct lf_reader *reader, const char *what, const char *problem);
/*
 * A table in a checkpoint: a count, then per entry, oldest first, its key,
 * the time of its last use and what write puts (nothing for a NULL write: a
 * table of markers such as queue ids). Restored in that order, the LRU
 * order and the idle times are those of the saved table. read returns the
 * data of an entry, or NULL when it failed; without read every entry gets
 * context. Into a NULL table, the entries of markers are checked and
 * skipped (the settings no longer ask for that table).
 */
typedef void lf_write_entry_fn(struct buf *out, const void *data);
void lf_save_table(struct lf_table *table, struct buf *out, lf_write_entry_fn *write);
typedef void *lf_read_entry_fn(struct lf_reader *reader, void *context);
bool lf_restore_table(struct lf_reader *reader, struct lf_table *table, const char *what,
                      lf_read_entry_fn *read, void *context);

/*
 * Format hooks. create returns format_state; line gets every framed line and
 * itself counts stats.relevant for the lines of its programs (rejecting
 * those with !lf_frame_text_ok(frame) as LF_REJECT_BAD_TEXT); expire is
 * called before each framed line, with parser->log_time set to its time, to
 * retire idle entries as flush would; flush is lf_parser_flush; destroy
 * frees format_state (the parser is still valid); save appends the state
 * of a checkpoint and restore reads it into a fresh format_state.
 */
void *lf_postfix_create(struct lf_parser *parser);
void lf_postfix_line(struct lf_parser *parser, const struct lf_frame *frame);
void lf_postfix_expire(struct lf_parser *parser);
void lf_postfix_flush(struct lf_parser *parser);
void lf_postfix_destroy(void *state);
void lf_postfix_save(const struct lf_parser *parser, struct buf *out);
bool lf_postfix_restore(struct lf_parser *parser, struct lf_reader *reader);
/* The format's table of own report mail queue ids (NULL when it keeps none). */
struct lf_table *lf_postfix_reports(struct lf_parser *parser);

void *lf_sendmail_create(struct lf_parser *parser);
void lf_sendmail_line(struct lf_parser *parser, const struct lf_frame *frame);
void lf_sendmail_expire(struct lf_parser *parser);
void lf_sendmail_flush(struct lf_parser *parser);
void lf_sendmail_destroy(void *state);
void lf_sendmail_save(const struct lf_parser *parser, struct buf *out);
bool lf_sendmail_restore(struct lf_parser *parser, struct lf_reader *reader);
struct lf_table *lf_sendmail_reports(struct lf_parser *parser);

#endif
