/*
 * sm_impl.h - what the files of the Sendmail log parser share: its state (one
 * entry per sm-mta process with its sessions in log order), the session
 * model and the field syntax of sm-mta log lines.
 */
#ifndef TLSRPT_SM_IMPL_H
#define TLSRPT_SM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core.h"
#include "lf_impl.h"

/* Sessions kept per process; a process holds one connection at a time, so few. */
#define SM_MAX_CONNS 16
#define SM_MAX_REASON 256
#define SM_MAX_QUEUE_ID 32
/*
 * Sendmail logs from= once, when a message is queued, and not again on the
 * queue runs that retry it: our report mail is known by its queue id for as
 * long as sendmail keeps a message (Timeout.queuereturn, 5 days by default).
 */
#define SM_REPORT_IDLE_SECONDS (5 * 24 * 3600)

/* ${verify} values (sendmail's tls.c and DANE builds). */
enum sm_verify {
    SM_V_UNKNOWN,
    SM_V_OK,
    SM_V_FAIL,
    SM_V_NO,
    SM_V_NONE,
    SM_V_TEMP,
    SM_V_PROTOCOL,
    SM_V_SOFTWARE,
    SM_V_FAILURE,
    SM_V_CLEAR,
    SM_V_CONFIG,
    SM_V_TRUSTED,
    SM_V_DANE_FAIL,
};

enum sm_kind {
    SM_TLS,       /* a STARTTLS=client, relay=..., verify=... line */
    SM_HANDSHAKE, /* "error: connect failed", or a tls_server SOFTWARE-like reject */
    SM_PLAIN,     /* no STARTTLS line, but a TLS policy rejected the connection */
};

/* How much a logged verification reason is worth: later, better ones replace it. */
enum sm_rank { SM_RANK_NONE, SM_RANK_X509, SM_RANK_TLS, SM_RANK_FINAL };

struct sm_conn {
    enum sm_kind kind;
    enum sm_verify verify;
    time_t time;
    bool decided;     /* its to= line came (or it was emitted): later lines are reuse */
    bool required;    /* a tls_server / tls_rcpt reject followed */
    bool cn_mismatch; /* a "CN ... does not match" reject followed */
    enum sm_rank reason_rank;
    char host[TR_MAX_DOMAIN + 1];   /* normalized; "" until known (handshake errors) */
    char domain[TR_MAX_DOMAIN + 1]; /* from a tls_rcpt arg1, for flush */
    char queue_id[SM_MAX_QUEUE_ID];
    char reason[SM_MAX_REASON];
};

/* One sm-mta process (program[pid]): its sessions in log order. */
struct sm_proc {
    struct sm_conn *conns[SM_MAX_CONNS];
    size_t n_conns;
    struct sm_conn *last_tls;  /* the session a verifymsg= line belongs to */
    enum sm_rank pending_rank; /* "cert verify" lines come before their session */
    char pending_reason[SM_MAX_REASON];
    /*
     * "QUEUEID: SMTP outgoing connect on [IP]" (LogLevel >= 14) starts a new
     * connection: until a line names its relay host, connecting is set (then
     * that host's earlier sessions are no longer open for reuse), and until
     * that message's to= line, the sessions made belong to connect_queue_id.
     */
    bool connecting;
    char connect_queue_id[SM_MAX_QUEUE_ID];
};

struct sm_state {
    struct lf_table *procs;
    struct lf_table *reports; /* queue ids of messages from settings.report_sender */
};

/* ---- field syntax (sm_fields.c) ---- */

/* A ${verify} value by name; SM_V_UNKNOWN for others. */
enum sm_verify sm_verify_from_name(const char *s, size_t len);
bool sm_has_prefix(const char *s, size_t len, const char *prefix);
/* First occurrence of needle in s[0..len), or NULL. */
const char *sm_find(const char *s, size_t len, const char *needle);
/*
 * The value of a "name=value" field: at the start of the message or after
 * ", ", up to the next ", " (or the end when to_end).
 */
bool sm_field(const char *msg, size_t len, const char *name, bool to_end, const char **value,
              size_t *value_len);
/* A relay host as logged ("mx.example.com.", "MX.example.com", "[192.0.2.1]"): 0 or -1. */
int sm_host_parse(const char *s, size_t len, char *out, size_t size);
/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" into its canonical text: 0 or -1. */
int sm_ip_parse(const char *s, size_t len, char *out, size_t size);
/* The domain of the first recipient of "to=<a@example.com>,<b@example.com>": 0 or -1. */
int sm_recipient_domain(const char *s, size_t len, char *out, size_t size);
/* The length of the queue id before ": " (letters and digits), or 0. */
size_t sm_queue_id_len(const char *msg, size_t len);

/* ---- session model (sm_session.c) ---- */

/* The process entry of the frame's program[pid]; created when create, else NULL. */
struct sm_proc *sm_proc_get(struct lf_parser *parser, const struct lf_frame *frame, bool create);
void sm_proc_free(struct sm_proc *proc);
/* A new session at the end of proc's list (the oldest is dropped beyond SM_MAX_CONNS). */
struct sm_conn *sm_conn_new(struct lf_parser *parser, struct sm_proc *proc, enum sm_kind kind,
                            enum sm_verify verify, const char *host, time_t time);
/* The newest session with this host (decided ones too, for connection reuse). */
struct sm_conn *sm_conn_latest(struct sm_proc *proc, const char *host, bool undecided_only);
/* The newest handshake error without a host learns it from a later line. */
struct sm_conn *sm_conn_adopt_hostless(struct sm_proc *proc, const char *host);
/* Keeps the reason when it ranks at least as high as the one the session has. */
void sm_conn_set_reason(struct sm_conn *conn, enum sm_rank rank, const char *s, size_t len);
/* Whether queue_id is a message of our own report mail. */
bool sm_is_own_report(struct lf_parser *parser, const char *queue_id);
/* Ends a session: emits its outcome for `domain` (NULL ip: unknown). */
void sm_conn_decide(struct lf_parser *parser, struct sm_conn *conn, const char *domain,
                    const char *ip, bool own);
/* Keeps only the newest decided session per host (for reuse), drops the rest. */
void sm_proc_prune(struct sm_proc *proc);
/*
 * A line names the relay host of the connection being made, if one is: the
 * decided sessions with that host belong to an earlier connection, so what
 * follows is a new session and never a reuse of theirs.
 */
void sm_proc_connected(struct sm_proc *proc, const char *host);
/* The session belongs to another message's connection than the to= line of queue_id. */
bool sm_conn_other_message(const struct sm_conn *conn, const char *queue_id);

#endif
