/*
 * pf_session.c - the session model of the Postfix log parser: process
 * entries and their TLS session attempts, and how attempts end (emitted
 * for a recipient domain, counted as our own report mail, or dropped).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lf_impl.h"
#include "pf_impl.h"
#include "util.h"

void pf_proc_free(struct pf_proc *proc)
{
    while (proc->attempts != NULL) {
        struct pf_attempt *next = proc->attempts->next;
        free(proc->attempts);
        proc->attempts = next;
    }
    free(proc);
}

/* A process with attempts still waiting for their outcome loses them. */
static bool proc_drop(struct lf_parser *parser, void *data, bool evicted)
{
    struct pf_proc *proc = data;
    bool pending = proc->n_attempts > 0;

    (void)parser;
    (void)evicted;
    pf_proc_free(proc);
    return pending;
}

void *lf_postfix_create(struct lf_parser *parser)
{
    struct pf_state *state = xcalloc(1, sizeof(*state));

    state->parser = parser;
    state->procs = lf_table_create(parser, LF_MAX_SESSIONS, LF_IDLE_SECONDS, proc_drop);
    /* qmgr logs from= again each time the message becomes active: an hour is enough. */
    state->reports = lf_table_create(parser, LF_MAX_SESSIONS, LF_IDLE_SECONDS, NULL);
    return state;
}

struct lf_table *lf_postfix_reports(struct lf_parser *parser)
{
    struct pf_state *state = parser->format_state;

    return state->reports;
}

void lf_postfix_destroy(void *data)
{
    struct pf_state *state = data;

    if (state == NULL)
        return;
    lf_table_destroy(state->procs);
    lf_table_destroy(state->reports);
    free(state);
}

struct pf_proc *pf_proc_get(struct pf_state *state, const char *key, size_t len)
{
    struct pf_proc *proc = lf_table_get(state->procs, key, len);

    if (proc == NULL) {
        proc = xcalloc(1, sizeof(*proc));
        lf_table_put(state->procs, key, len, proc);
    }
    return proc;
}

void pf_attempt_append(struct lf_parser *parser, struct pf_proc *proc, struct pf_attempt *attempt)
{
    struct pf_attempt **tail;

    if (proc->n_attempts >= PF_MAX_ATTEMPTS) {
        struct pf_attempt *oldest = proc->attempts;
        proc->attempts = oldest->next;
        proc->n_attempts--;
        free(oldest);
        lf_reject(parser, LF_REJECT_UNTIED);
    }
    attempt->next = NULL;
    for (tail = &proc->attempts; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = attempt;
    proc->n_attempts++;
    proc->done_qid[0] = '\0';
}

struct pf_attempt *pf_attempt_new(struct lf_parser *parser, struct pf_proc *proc,
                                  const struct lf_frame *frame, const char *host, const char *ip)
{
    struct pf_attempt *attempt = xcalloc(1, sizeof(*attempt));

    attempt->time = frame->time;
    attempt->tlsa = proc->tlsa_context;
    lf_copy(attempt->host, sizeof(attempt->host), host != NULL ? host : "");
    lf_copy(attempt->ip, sizeof(attempt->ip), ip != NULL ? ip : "");
    pf_attempt_append(parser, proc, attempt);
    return attempt;
}

struct pf_attempt *pf_attempt_take(struct pf_proc *proc, const char *host, const char *ip)
{
    for (struct pf_attempt **link = &proc->attempts; *link != NULL; link = &(*link)->next) {
        struct pf_attempt *attempt = *link;
        if (attempt->qid[0] == '\0' && strcmp(attempt->host, host) == 0 &&
            strcmp(attempt->ip, ip) == 0) {
            *link = attempt->next;
            proc->n_attempts--;
            attempt->next = NULL;
            return attempt;
        }
    }
    return NULL;
}

struct pf_attempt *pf_attempt_last(struct pf_proc *proc)
{
    struct pf_attempt *attempt = proc->attempts;

    while (attempt != NULL && attempt->next != NULL)
        attempt = attempt->next;
    return attempt;
}

void pf_attempt_fail(struct pf_attempt *attempt, enum tr_result result, const char *reason)
{
    attempt->failed = true;
    attempt->result = result;
    if (result == TR_RESULT_TLSA_INVALID || result == TR_RESULT_DANE_REQUIRED ||
        result == TR_RESULT_DNSSEC_INVALID)
        attempt->tlsa = true;
    if (reason != NULL)
        lf_printable(reason, strlen(reason), attempt->reason, sizeof(attempt->reason));
}

void pf_attempt_emit(struct lf_parser *parser, const struct pf_attempt *attempt, const char *domain)
{
    struct lf_outcome outcome;

    memset(&outcome, 0, sizeof(outcome));
    outcome.time = attempt->time;
    outcome.domain = domain;
    outcome.policy_type = attempt->tlsa ? TR_POLICY_TLSA : TR_POLICY_NONE;
    if (attempt->tlsa && attempt->host[0] != '\0')
        outcome.policy_domain = attempt->host;
    outcome.failed = attempt->failed;
    outcome.unverified = attempt->unverified;
    outcome.unverified_result = TR_RESULT_CERTIFICATE_NOT_TRUSTED;
    outcome.result = attempt->result;
    outcome.receiving_mx_hostname = attempt->host[0] != '\0' ? attempt->host : NULL;
    outcome.receiving_ip = attempt->ip[0] != '\0' ? attempt->ip : NULL;
    outcome.failure_reason_code = attempt->reason[0] != '\0' ? attempt->reason : NULL;
    lf_emit_outcome(parser, &outcome);
}

size_t pf_settle(struct lf_parser *parser, struct pf_proc *proc, const char *qid,
                 const char *domain, bool own)
{
    struct pf_attempt **link = &proc->attempts;
    size_t n = 0;

    while (*link != NULL) {
        struct pf_attempt *attempt = *link;
        if (attempt->qid[0] != '\0' && strcmp(attempt->qid, qid) != 0) {
            link = &attempt->next;
            continue;
        }
        *link = attempt->next;
        proc->n_attempts--;
        if (own)
            parser->stats.own_reports++;
        else
            pf_attempt_emit(parser, attempt, domain);
        free(attempt);
        n++;
    }
    return n;
}

/*
 * The end of a process entry: attempts whose domain a policy lookup named
 * are emitted for it, the others can no longer be tied to a delivery.
 */
static void proc_retire(struct lf_parser *parser, struct pf_proc *proc)
{
    for (struct pf_attempt *attempt = proc->attempts; attempt != NULL; attempt = attempt->next) {
        if (attempt->fallback_domain[0] != '\0')
            pf_attempt_emit(parser, attempt, attempt->fallback_domain);
        else
            lf_reject(parser, LF_REJECT_UNTIED);
    }
    pf_proc_free(proc);
}

void lf_postfix_expire(struct lf_parser *parser)
{
    struct pf_state *state = parser->format_state;
    struct pf_proc *proc;

    while ((proc = lf_table_take_idle(state->procs)) != NULL)
        proc_retire(parser, proc);
    while (lf_table_take_idle(state->reports) != NULL)
        ;
}

void lf_postfix_flush(struct lf_parser *parser)
{
    struct pf_state *state = parser->format_state;
    struct pf_proc *proc;

    while ((proc = lf_table_take_oldest(state->procs)) != NULL)
        proc_retire(parser, proc);
}
