/*
 * sm_save.c - checkpoints of the Sendmail log parser: its process table and
 * the queue ids of our own report mail, least recently used first, so that
 * a restored parser evicts and retires in the same order as the saved one.
 *
 *   uint count, then per process entry:
 *     key, time last used, uint rank of the pending reason (enum sm_rank),
 *     text pending reason, [v2: uint flags (1: connecting), text the queue
 *     id of the connection being made], uint count of sessions, uint the session a
 *     verifymsg= line belongs to (0: none, else its index + 1), then per
 *     session in log order:
 *       uint kind (enum sm_kind), uint ${verify} (enum sm_verify), time,
 *       uint flags (1: decided, 2: required, 4: CN mismatch), uint rank of
 *       its reason, text host, domain, queue id, reason
 *   uint count, then per report queue id: key, time last used
 */
#include "config.h"

#include <stdlib.h>

#include "lf_impl.h"
#include "sm_impl.h"
#include "util.h"

#define CONN_DECIDED 1u
#define CONN_REQUIRED 2u
#define CONN_CN_MISMATCH 4u
#define CONN_FLAGS 7u
#define PROC_CONNECTING 1u

static void save_conn(struct buf *out, const struct sm_conn *conn)
{
    lf_put_uint(out, (uint64_t)conn->kind);
    lf_put_uint(out, (uint64_t)conn->verify);
    lf_put_time(out, conn->time);
    lf_put_uint(out, (conn->decided ? CONN_DECIDED : 0) | (conn->required ? CONN_REQUIRED : 0) |
                         (conn->cn_mismatch ? CONN_CN_MISMATCH : 0));
    lf_put_uint(out, (uint64_t)conn->reason_rank);
    lf_put_text(out, conn->host);
    lf_put_text(out, conn->domain);
    lf_put_text(out, conn->queue_id);
    lf_put_text(out, conn->reason);
}

static void write_proc(struct buf *out, const void *data)
{
    const struct sm_proc *proc = data;
    size_t last_tls = 0;

    for (size_t i = 0; i < proc->n_conns; i++)
        if (proc->conns[i] == proc->last_tls)
            last_tls = i + 1;
    lf_put_uint(out, (uint64_t)proc->pending_rank);
    lf_put_text(out, proc->pending_reason);
    lf_put_uint(out, proc->connecting ? PROC_CONNECTING : 0);
    lf_put_text(out, proc->connect_queue_id);
    lf_put_uint(out, proc->n_conns);
    lf_put_uint(out, last_tls);
    for (size_t i = 0; i < proc->n_conns; i++)
        save_conn(out, proc->conns[i]);
}

void lf_sendmail_save(const struct lf_parser *parser, struct buf *out)
{
    struct sm_state *state = parser->format_state;

    lf_save_table(state->procs, out, write_proc);
    lf_save_table(state->reports, out, NULL);
}

static bool restore_conn(struct lf_reader *reader, struct sm_conn *conn)
{
    unsigned kind, verify, flags, rank;

    if (!lf_get_small(reader, "session kind", SM_PLAIN, &kind) ||
        !lf_get_small(reader, "session verify", SM_V_DANE_FAIL, &verify) ||
        !lf_get_time(reader, "session time", &conn->time) ||
        !lf_get_small(reader, "session flags", CONN_FLAGS, &flags) ||
        !lf_get_small(reader, "session reason rank", SM_RANK_FINAL, &rank) ||
        !lf_get_text(reader, "session host", conn->host, sizeof(conn->host)) ||
        !lf_get_text(reader, "session domain", conn->domain, sizeof(conn->domain)) ||
        !lf_get_text(reader, "session queue id", conn->queue_id, sizeof(conn->queue_id)) ||
        !lf_get_text(reader, "session reason", conn->reason, sizeof(conn->reason)))
        return false;
    conn->kind = (enum sm_kind)kind;
    conn->verify = (enum sm_verify)verify;
    conn->decided = (flags & CONN_DECIDED) != 0;
    conn->required = (flags & CONN_REQUIRED) != 0;
    conn->cn_mismatch = (flags & CONN_CN_MISMATCH) != 0;
    conn->reason_rank = (enum sm_rank)rank;
    return true;
}

/* The fields and sessions of one process entry into proc (freed by the caller on failure). */
static bool restore_proc(struct lf_reader *reader, struct sm_proc *proc)
{
    unsigned rank, flags = 0;
    uint64_t n, last_tls;

    if (!lf_get_small(reader, "pending reason rank", SM_RANK_FINAL, &rank) ||
        !lf_get_text(reader, "pending reason", proc->pending_reason,
                     sizeof(proc->pending_reason)) ||
        (reader->version >= 2 &&
         (!lf_get_small(reader, "process flags", PROC_CONNECTING, &flags) ||
          !lf_get_text(reader, "connection queue id", proc->connect_queue_id,
                       sizeof(proc->connect_queue_id)))) ||
        !lf_get_uint(reader, "session count", SM_MAX_CONNS, &n) ||
        !lf_get_uint(reader, "verifymsg session", n, &last_tls))
        return false;
    proc->pending_rank = (enum sm_rank)rank;
    proc->connecting = (flags & PROC_CONNECTING) != 0;
    for (uint64_t i = 0; i < n; i++) {
        proc->conns[proc->n_conns++] = xcalloc(1, sizeof(struct sm_conn));
        if (!restore_conn(reader, proc->conns[i]))
            return false;
    }
    proc->last_tls = last_tls > 0 ? proc->conns[last_tls - 1] : NULL;
    return true;
}

static void *read_proc(struct lf_reader *reader, void *context)
{
    struct sm_proc *proc = xcalloc(1, sizeof(*proc));

    (void)context;
    if (restore_proc(reader, proc))
        return proc;
    sm_proc_free(proc);
    return NULL;
}

bool lf_sendmail_restore(struct lf_parser *parser, struct lf_reader *reader)
{
    struct sm_state *state = parser->format_state;

    return lf_restore_table(reader, state->procs, "process", read_proc, NULL) &&
           lf_restore_table(reader, state->reports, "report queue id", NULL, state);
}
