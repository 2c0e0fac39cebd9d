/*
 * pf_save.c - checkpoints of the Postfix log parser: its process table and
 * the queue ids of our own report mail, least recently used first, so that
 * a restored parser evicts and retires in the same order as the saved one.
 *
 *   uint count, then per process entry:
 *     key, time last used, uint flags (1: TLSA context),
 *     text TLS library reason, text host of a TLSRPT: line,
 *     text queue id of the last delivery with a status text, time of it,
 *     uint count, then per attempt, oldest first:
 *       time, uint flags (1: failed, 2: TLSA, 4: awaits its library reason,
 *       8: certificate not verified),
 *       uint result (enum tr_result), text queue id, host, IP, reason,
 *       fallback domain
 *   uint count, then per report queue id: key, time last used
 */
#include "config.h"

#include <stdlib.h>

#include "lf_impl.h"
#include "pf_impl.h"
#include "util.h"

#define PROC_TLSA_CONTEXT 1u
#define PROC_FLAGS 1u
#define ATTEMPT_FAILED 1u
#define ATTEMPT_TLSA 2u
#define ATTEMPT_NEED_REASON 4u
#define ATTEMPT_UNVERIFIED 8u
#define ATTEMPT_FLAGS 15u

static void save_attempt(struct buf *out, const struct pf_attempt *attempt)
{
    lf_put_time(out, attempt->time);
    lf_put_uint(out, (attempt->failed ? ATTEMPT_FAILED : 0) | (attempt->tlsa ? ATTEMPT_TLSA : 0) |
                         (attempt->need_reason ? ATTEMPT_NEED_REASON : 0) |
                         (attempt->unverified ? ATTEMPT_UNVERIFIED : 0));
    lf_put_uint(out, (uint64_t)attempt->result);
    lf_put_text(out, attempt->qid);
    lf_put_text(out, attempt->host);
    lf_put_text(out, attempt->ip);
    lf_put_text(out, attempt->reason);
    lf_put_text(out, attempt->fallback_domain);
}

static void write_proc(struct buf *out, const void *data)
{
    const struct pf_proc *proc = data;

    lf_put_uint(out, proc->tlsa_context ? PROC_TLSA_CONTEXT : 0);
    lf_put_text(out, proc->lib_reason);
    lf_put_text(out, proc->tlsrpt_host);
    lf_put_text(out, proc->done_qid);
    lf_put_time(out, proc->done_time);
    lf_put_uint(out, proc->n_attempts);
    for (const struct pf_attempt *attempt = proc->attempts; attempt != NULL;
         attempt = attempt->next)
        save_attempt(out, attempt);
}

void lf_postfix_save(const struct lf_parser *parser, struct buf *out)
{
    struct pf_state *state = parser->format_state;

    lf_save_table(state->procs, out, write_proc);
    lf_save_table(state->reports, out, NULL);
}

static bool restore_attempt(struct lf_reader *reader, struct pf_attempt *attempt)
{
    unsigned flags, result;

    if (!lf_get_time(reader, "attempt time", &attempt->time) ||
        !lf_get_small(reader, "attempt flags", ATTEMPT_FLAGS, &flags) ||
        !lf_get_small(reader, "attempt result", TR_RESULT_COUNT - 1, &result) ||
        !lf_get_text(reader, "attempt queue id", attempt->qid, sizeof(attempt->qid)) ||
        !lf_get_text(reader, "attempt host", attempt->host, sizeof(attempt->host)) ||
        !lf_get_text(reader, "attempt IP", attempt->ip, sizeof(attempt->ip)) ||
        !lf_get_text(reader, "attempt reason", attempt->reason, sizeof(attempt->reason)) ||
        !lf_get_text(reader, "attempt fallback domain", attempt->fallback_domain,
                     sizeof(attempt->fallback_domain)))
        return false;
    attempt->failed = (flags & ATTEMPT_FAILED) != 0;
    attempt->tlsa = (flags & ATTEMPT_TLSA) != 0;
    attempt->need_reason = (flags & ATTEMPT_NEED_REASON) != 0;
    attempt->unverified = (flags & ATTEMPT_UNVERIFIED) != 0;
    attempt->result = (enum tr_result)result;
    return true;
}

/* The fields and attempts of one process entry into proc (freed by the caller on failure). */
static bool restore_proc(struct lf_reader *reader, struct pf_proc *proc)
{
    struct pf_attempt **tail = &proc->attempts;
    unsigned flags;
    uint64_t n;

    if (!lf_get_small(reader, "process flags", PROC_FLAGS, &flags) ||
        !lf_get_text(reader, "library reason", proc->lib_reason, sizeof(proc->lib_reason)) ||
        !lf_get_text(reader, "TLSRPT host", proc->tlsrpt_host, sizeof(proc->tlsrpt_host)) ||
        !lf_get_text(reader, "delivered queue id", proc->done_qid, sizeof(proc->done_qid)) ||
        !lf_get_time(reader, "delivery time", &proc->done_time) ||
        !lf_get_uint(reader, "attempt count", PF_MAX_ATTEMPTS, &n))
        return false;
    proc->tlsa_context = (flags & PROC_TLSA_CONTEXT) != 0;
    for (uint64_t i = 0; i < n; i++) {
        *tail = xcalloc(1, sizeof(**tail));
        proc->n_attempts++;
        if (!restore_attempt(reader, *tail))
            return false;
        tail = &(*tail)->next;
    }
    return true;
}

static void *read_proc(struct lf_reader *reader, void *context)
{
    struct pf_proc *proc = xcalloc(1, sizeof(*proc));

    (void)context;
    if (restore_proc(reader, proc))
        return proc;
    pf_proc_free(proc);
    return NULL;
}

bool lf_postfix_restore(struct lf_parser *parser, struct lf_reader *reader)
{
    struct pf_state *state = parser->format_state;

    return lf_restore_table(reader, state->procs, "process", read_proc, NULL) &&
           lf_restore_table(reader, state->reports, "report queue id", NULL, state);
}
