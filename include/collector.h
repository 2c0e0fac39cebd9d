/*
 * collector.h - the libtlsrpt-compatible receiver: Postfix >= 3.10 sends
 * one JSON datagram per TLS handshake to a unix datagram socket. A drain
 * thread empties the socket into a memory-mapped journal file with
 * recvmmsg() and nothing else, so parsing never delays draining and a crash
 * loses nothing received; a parse thread turns datagrams into events and
 * counts them exactly once. The parser is also used offline by
 * `tlsrpt ingest --format libtlsrpt`.
 */
#ifndef TLSRPT_COLLECTOR_H
#define TLSRPT_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core.h"
#include "counters.h"
#include "util.h"

/* Why a datagram was rejected; each has a stable name for status and logs. */
enum collector_reject {
    COLLECTOR_REJECT_TOO_LARGE,
    COLLECTOR_REJECT_NUL_BYTE,
    COLLECTOR_REJECT_BAD_JSON,
    COLLECTOR_REJECT_BAD_UTF8,
    COLLECTOR_REJECT_TOO_DEEP,
    COLLECTOR_REJECT_BAD_TYPE,
    COLLECTOR_REJECT_BAD_DPV,
    COLLECTOR_REJECT_UNKNOWN_DPV,
    COLLECTOR_REJECT_MISSING_FIELD,
    COLLECTOR_REJECT_BAD_DOMAIN,
    COLLECTOR_REJECT_BAD_POLICY_TYPE,
    COLLECTOR_REJECT_BAD_CODE,
    COLLECTOR_REJECT_BAD_TEXT,
    COLLECTOR_REJECT_TOO_MANY,
    COLLECTOR_REJECT_INCONSISTENT,
};
#define COLLECTOR_REJECT_COUNT 15
const char *collector_reject_name(enum collector_reject reason);
/* Appends " (bad-json 3, too-large 1)" for the non-zero counts; nothing if none. */
void collector_format_rejects(const uint64_t counts[COLLECTOR_REJECT_COUNT], struct buf *out);

/* Parser ------------------------------------------------------------------ */

struct collector_parser;
/* max_size bounds the datagrams it accepts (collector_max_datagram_size). */
struct collector_parser *collector_parser_create(size_t max_size);
void collector_parser_destroy(struct collector_parser *parser);
/*
 * Parses one datagram into *event (valid until the next call or destroy),
 * dated `when`. Returns 0, or -1 with the reason and a short explanation
 * (static or owned by the parser) for logs.
 */
int collector_parse(struct collector_parser *parser, const char *data, size_t len, time_t when,
                    const struct tr_event **event, enum collector_reject *reason,
                    const char **detail);
/*
 * Reduces a receiving-mx-helo value to the EHLO host name: libtlsrpt sends
 * the MX's whole multi-line EHLO reply ("250-mx.example.net\r\n250-...").
 * Writes at most out_size-1 bytes; returns the length (0: no name in it).
 */
size_t collector_helo_name(const char *reply, size_t len, char *out, size_t out_size);

/* Receiver ---------------------------------------------------------------- */

/* Test hooks: the process exits (as if killed) at this point of the crash_after-th record. */
enum collector_crash_point {
    COLLECTOR_CRASH_NONE,
    COLLECTOR_CRASH_TORN_APPEND,  /* half a record written, not published */
    COLLECTOR_CRASH_AFTER_INTENT, /* intent written, no count stored */
    COLLECTOR_CRASH_HALF_STORED,  /* half of the counts stored */
    COLLECTOR_CRASH_STORED,       /* all counts stored, the record not released */
};

struct collector_settings {
    const char *socket_path;
    uid_t owner;
    gid_t group;
    mode_t mode;
    size_t max_datagram_size;
    size_t ring_size;          /* bytes of datagrams the journal holds */
    const char *journal_path;  /* $state_directory/collector/journal */
    const char *counters_dir;
    struct ctr_limits limits;  /* for new day tables */
    int log_interval;          /* seconds between logged samples per reason */
    enum collector_crash_point crash_at;
    uint64_t crash_after;
};

/* Statistics; read at any time from any thread. */
struct collector_stats {
    uint64_t received;
    uint64_t bytes;
    uint64_t accepted;
    uint64_t rejected;
    uint64_t rejected_by[COLLECTOR_REJECT_COUNT];
    uint64_t events_overflowed; /* counted only in the table's overflow record */
    uint64_t events_late;       /* for a day already reported: counted as late only */
    uint64_t table_errors;      /* times no table could be opened: counting waits */
    uint64_t dropped_full;      /* not kept: the journal was full */
    uint64_t dropped_damaged;   /* journal records found damaged after a machine crash */
    uint64_t ring_high_water;   /* most bytes ever queued */
    uint64_t parse_cache_hits;  /* datagrams identical to one parsed before */
    uint64_t journal_appended;  /* records ever appended to the journal (all runs) */
    uint64_t journal_pending;   /* bytes in the journal not yet counted */
};

struct collector;
/* Binds the socket (as root: then owned owner:group with mode). */
struct collector *collector_open(const struct collector_settings *settings, char **error_r);
/* Starts the drain and parse threads (after the privilege drop). */
int collector_start(struct collector *collector, char **error_r);
void collector_stats(struct collector *collector, struct collector_stats *stats);
/*
 * Stops receiving (senders now get an error), counts everything already
 * received (or leaves it in the journal for the next start while no table
 * can be opened), and ends the threads; afterwards the statistics are final.
 */
void collector_stop(struct collector *collector);
/* Stops if needed, closes and removes the socket, frees everything. */
void collector_close(struct collector *collector);

/* The kernel's per-socket datagram queue limit, or -1 when unknown. */
int collector_max_dgram_qlen(void);

#endif
