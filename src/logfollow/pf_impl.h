/*
 * pf_impl.h - what the files of the Postfix log parser share: its state (one
 * entry per smtp process or tlsproxy relay, each with the TLS session
 * attempts that wait for their recipient domain) and the session model.
 */
#ifndef TLSRPT_PF_IMPL_H
#define TLSRPT_PF_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core.h"
#include "lf_impl.h"

#define PF_MAX_ATTEMPTS 16 /* open attempts per process */
#define PF_REASON_SIZE 256
#define PF_QID_SIZE 32
#define PF_IP_SIZE LF_IP_SIZE
#define PF_HOST_SIZE LF_HOST_SIZE

/* One TLS session attempt (or DANE policy failure) awaiting its recipient domain. */
struct pf_attempt {
    struct pf_attempt *next;
    time_t time;
    bool failed;
    bool tlsa;
    bool need_reason; /* handshake failure awaiting the TLS library reason */
    bool unverified;  /* "Untrusted TLS connection established": chain not verified */
    enum tr_result result;
    char qid[PF_QID_SIZE]; /* queue id it was tied to; "" not yet */
    char host[PF_HOST_SIZE];
    char ip[PF_IP_SIZE];
    char reason[PF_REASON_SIZE];
    char fallback_domain[PF_HOST_SIZE]; /* from a policy lookup warning */
};

/* One smtp process (or tlsproxy relay): its open attempts and line context. */
struct pf_proc {
    struct pf_attempt *attempts; /* oldest first */
    size_t n_attempts;
    bool tlsa_context;
    char lib_reason[PF_REASON_SIZE];
    char tlsrpt_host[PF_HOST_SIZE]; /* a TLSRPT: line covered this host's session */
    char done_qid[PF_QID_SIZE];     /* last delivery line with a status-text event */
    time_t done_time;
};

struct pf_state {
    struct lf_parser *parser;
    struct lf_table *procs;
    struct lf_table *reports; /* queue ids of our own report mail */
};

/* The process entry under key, created empty when there is none. */
struct pf_proc *pf_proc_get(struct pf_state *state, const char *key, size_t len);
void pf_proc_free(struct pf_proc *proc);

/* A new attempt at the end of proc's list (the oldest is dropped beyond PF_MAX_ATTEMPTS). */
struct pf_attempt *pf_attempt_new(struct lf_parser *parser, struct pf_proc *proc,
                                  const struct lf_frame *frame, const char *host, const char *ip);
/* Links an attempt in at the end of proc's list (with the same limit). */
void pf_attempt_append(struct lf_parser *parser, struct pf_proc *proc, struct pf_attempt *attempt);
/* Unlinks and returns proc's oldest attempt on host[ip] not tied to a queue id, or NULL. */
struct pf_attempt *pf_attempt_take(struct pf_proc *proc, const char *host, const char *ip);
/* The newest attempt of proc, or NULL. */
struct pf_attempt *pf_attempt_last(struct pf_proc *proc);
/* Marks the attempt failed with result (and the reason text, if any). */
void pf_attempt_fail(struct pf_attempt *attempt, enum tr_result result, const char *reason);
/* Emits the attempt's outcome for the recipient domain. */
void pf_attempt_emit(struct lf_parser *parser, const struct pf_attempt *attempt,
                     const char *domain);
/*
 * Takes the attempts of proc tied to qid (or to none yet): emits them for
 * domain, or counts them as our own report mail. Returns how many.
 */
size_t pf_settle(struct lf_parser *parser, struct pf_proc *proc, const char *qid,
                 const char *domain, bool own);

#endif
