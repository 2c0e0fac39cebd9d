/*
 * milter_impl.h - what the parts of tlsrpt-milter share: its settings from
 * tlsrptd.cf, its counters, the per-connection message state, and the
 * prefetch queue and bounce handling each source file provides.
 */
#ifndef TLSRPT_MILTER_IMPL_H
#define TLSRPT_MILTER_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "util.h"

/* RFC 5321 §4.5.3.1: 256 octets of path; a longer address is not ours. */
#define MILTER_MAX_ADDRESS 320
/* A control request that is not answered in this time is given up (the mail goes on). */
#define MILTER_CONTROL_TIMEOUT_MS 500

enum milter_dsn_action { MILTER_DSN_DISCARD, MILTER_DSN_QUARANTINE, MILTER_DSN_ACCEPT };

/* Counted from every libmilter thread; logged at the end and asked by tests. */
struct milter_counts {
    atomic_uint_fast64_t messages;
    atomic_uint_fast64_t report_mail;       /* ours or any TLSRPT report (loop guard) */
    atomic_uint_fast64_t headers_added;     /* TLS-Required: No added */
    atomic_uint_fast64_t own_mail_told;     /* queue ids the daemon took */
    atomic_uint_fast64_t own_mail_failed;   /* the daemon did not take them */
    atomic_uint_fast64_t no_queue_id;       /* report mail without the {i} macro */
    atomic_uint_fast64_t bounces;           /* to a VERP address of ours */
    atomic_uint_fast64_t bounces_matched;   /* applied to the outbox */
    atomic_uint_fast64_t bounces_unmatched; /* not a DSN, or no destination: passed on */
    atomic_uint_fast64_t bounces_too_large; /* over milter_max_message_size: passed on */
    atomic_uint_fast64_t prefetch_queued;
    atomic_uint_fast64_t prefetch_recent;  /* asked for recently: not again */
    atomic_uint_fast64_t prefetch_dropped; /* the queue was full */
    atomic_uint_fast64_t prefetch_sent;    /* answered by the daemon */
    atomic_uint_fast64_t prefetch_failed;  /* the daemon could not be asked */
};

struct milter_settings {
    struct cfg *cfg;
    char *report_sender; /* envelope sender of our report mail (NULL: none configured) */
    char *control_socket;
    char *verp_delimiter; /* report_verp_delimiter; "": report mail has no VERP form */
    enum milter_dsn_action dsn_action;
    size_t max_message; /* bytes of a bounce kept for the parser */
    struct milter_counts counts;
};
extern struct milter_settings milter;

/* callbacks.c: the libmilter callbacks (struct smfiDesc) */
struct smfiDesc;
extern struct smfiDesc milter_callbacks;

/* address.c: envelope addresses */
/* Copies an envelope address without <> and ESMTP junk into out; false when too long. */
bool milter_address(const char *arg, char out[MILTER_MAX_ADDRESS]);
/* The sender of our own report mail: report_sender itself or a VERP form of it. */
bool milter_is_own_sender(const char *address);
/* A recipient that is a VERP address of our report sender: a bounce coming back. */
bool milter_is_bounce_address(const char *address);

/* prefetch.c: recipient domains to the daemon's policy service */
/* Starts the thread (after the privilege drop); no-op with milter_prefetch = no. */
void prefetch_start(void);
/* Never blocks for more than a short lock: queued, seen recently, or dropped. */
void prefetch_domain(const char *domain);
void prefetch_stop(void);

/* bounce.c: a DSN to a VERP address of ours */
/*
 * The collected message (headers and body) of a bounce to `recipient`:
 * 1 when it was matched to an outbox destination and applied, 0 when it is
 * passed on untouched (not a DSN of ours, nothing matched).
 */
int bounce_apply(const char *recipient, const char *message, size_t len);

#endif
