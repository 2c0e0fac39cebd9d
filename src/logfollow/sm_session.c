/*
 * sm_session.c - the session model of the Sendmail log parser: sm-mta
 * processes and their TLS sessions in log order, how a session's ${verify},
 * rejects and reasons become an RFC 8460 outcome, and how sessions end.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "lf_impl.h"
#include "sm_impl.h"
#include "util.h"

void sm_proc_free(struct sm_proc *proc)
{
    for (size_t i = 0; i < proc->n_conns; i++)
        free(proc->conns[i]);
    free(proc);
}

/* A process with connections still waiting for their outcome loses them. */
static bool proc_drop(struct lf_parser *parser, void *data, bool evicted)
{
    struct sm_proc *proc = data;
    bool pending = proc->n_conns > 0;

    (void)parser;
    (void)evicted;
    sm_proc_free(proc);
    return pending;
}

/* Forgetting which queue id is our own report mail could count it. */
static bool marker_drop(struct lf_parser *parser, void *data, bool evicted)
{
    (void)parser;
    (void)data;
    (void)evicted;
    return true;
}

struct sm_proc *sm_proc_get(struct lf_parser *parser, const struct lf_frame *frame, bool create)
{
    struct sm_state *state = parser->format_state;
    struct sm_proc *proc = lf_table_get(state->procs, frame->session_key, frame->session_key_len);

    if (proc || !create)
        return proc;
    proc = xcalloc(1, sizeof(*proc));
    lf_table_put(state->procs, frame->session_key, frame->session_key_len, proc);
    return proc;
}

static void conn_remove(struct sm_proc *proc, size_t index)
{
    if (proc->last_tls == proc->conns[index])
        proc->last_tls = NULL;
    free(proc->conns[index]);
    memmove(&proc->conns[index], &proc->conns[index + 1],
            (proc->n_conns - index - 1) * sizeof(proc->conns[0]));
    proc->n_conns--;
}

struct sm_conn *sm_conn_new(struct lf_parser *parser, struct sm_proc *proc, enum sm_kind kind,
                            enum sm_verify verify, const char *host, time_t time)
{
    struct sm_conn *conn = xcalloc(1, sizeof(*conn));

    if (proc->n_conns == SM_MAX_CONNS) {
        conn_remove(proc, 0);
        lf_reject(parser, LF_REJECT_TOO_MANY);
    }
    conn->kind = kind;
    conn->verify = verify;
    conn->time = time;
    lf_copy(conn->host, sizeof(conn->host), host);
    lf_copy(conn->queue_id, sizeof(conn->queue_id), proc->connect_queue_id);
    proc->conns[proc->n_conns++] = conn;
    return conn;
}

void sm_proc_connected(struct sm_proc *proc, const char *host)
{
    if (!proc->connecting)
        return;
    proc->connecting = false;
    for (size_t i = proc->n_conns; i-- > 0;)
        if (proc->conns[i]->decided && strcmp(proc->conns[i]->host, host) == 0)
            conn_remove(proc, i);
}

bool sm_conn_other_message(const struct sm_conn *conn, const char *queue_id)
{
    return conn->queue_id[0] != '\0' && strcmp(conn->queue_id, queue_id) != 0;
}

/* The newest session with this host (decided ones too: connection reuse). */
struct sm_conn *sm_conn_latest(struct sm_proc *proc, const char *host, bool undecided_only)
{
    for (size_t i = proc->n_conns; i-- > 0;) {
        struct sm_conn *conn = proc->conns[i];

        if (strcmp(conn->host, host) == 0 && (!undecided_only || !conn->decided))
            return conn;
    }
    return NULL;
}

/* The newest handshake error that has not learnt its host yet. */
static struct sm_conn *conn_hostless(struct sm_proc *proc)
{
    for (size_t i = proc->n_conns; i-- > 0;)
        if (proc->conns[i]->host[0] == '\0' && !proc->conns[i]->decided)
            return proc->conns[i];
    return NULL;
}

void sm_conn_set_reason(struct sm_conn *conn, enum sm_rank rank, const char *s, size_t len)
{
    if (rank < conn->reason_rank || len == 0)
        return;
    conn->reason_rank = rank;
    lf_printable(s, len, conn->reason, sizeof(conn->reason));
}

/* By OpenSSL's X509_verify_cert_error_string() texts. */
static enum tr_result result_of_reason(const char *reason)
{
    if (strstr(reason, "has expired") || strstr(reason, "not yet valid"))
        return strstr(reason, "CRL") ? TR_RESULT_VALIDATION_FAILURE : TR_RESULT_CERTIFICATE_EXPIRED;
    if (strcmp(reason, "hostname mismatch") == 0)
        return TR_RESULT_CERTIFICATE_HOST_MISMATCH;
    static const char *const untrusted[] = {
        "self signed", "self-signed",          "issuer certificate",  "first certificate",
        "not trusted", "certificate rejected", "certificate revoked", "invalid CA",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(untrusted); i++)
        if (strstr(reason, untrusted[i]))
            return TR_RESULT_CERTIFICATE_NOT_TRUSTED;
    return TR_RESULT_VALIDATION_FAILURE;
}

/*
 * The RFC 8460 outcome of a finished session; false when it is no TLS
 * session to report (plain text without a policy, CLEAR, CONFIG).
 */
static bool conn_outcome(const struct sm_conn *conn, struct lf_outcome *out)
{
    out->policy_type = TR_POLICY_NONE;
    out->failed = true;
    if (conn->kind == SM_PLAIN) {
        out->result = TR_RESULT_STARTTLS_NOT_SUPPORTED;
        return true;
    }
    if (conn->kind == SM_HANDSHAKE) {
        out->result = TR_RESULT_VALIDATION_FAILURE;
        return true;
    }
    switch (conn->verify) {
    case SM_V_OK:
        out->failed = conn->cn_mismatch;
        out->result = TR_RESULT_CERTIFICATE_HOST_MISMATCH;
        return true;
    case SM_V_TRUSTED:
        out->policy_type = TR_POLICY_TLSA;
        out->failed = false;
        return true;
    case SM_V_DANE_FAIL:
        out->policy_type = TR_POLICY_TLSA;
        out->result = TR_RESULT_TLSA_INVALID;
        return true;
    case SM_V_FAIL:
    case SM_V_NO:
        /*
         * Opportunistic TLS, as Postfix's "may": nothing required the
         * certificate to verify (no tls_server / tls_rcpt reject followed),
         * the mail went over TLS, so the session succeeded under
         * no-policy-found. With a requirement it failed.
         */
        out->failed = conn->required;
        out->result = conn->verify == SM_V_NO             ? TR_RESULT_CERTIFICATE_NOT_TRUSTED
                      : conn->reason_rank != SM_RANK_NONE ? result_of_reason(conn->reason)
                                                          : TR_RESULT_CERTIFICATE_NOT_TRUSTED;
        /* Under an MTA-STS policy (the policy service knows) it is a failure all the same. */
        out->unverified = !conn->required;
        out->unverified_result = out->result;
        return true;
    case SM_V_NONE:
        out->result = TR_RESULT_STARTTLS_NOT_SUPPORTED;
        return conn->required;
    case SM_V_TEMP:
        out->result = TR_RESULT_STARTTLS_NOT_SUPPORTED;
        return true;
    case SM_V_PROTOCOL:
    case SM_V_SOFTWARE:
    case SM_V_FAILURE:
        out->result = TR_RESULT_VALIDATION_FAILURE;
        return true;
    case SM_V_CLEAR:
    case SM_V_CONFIG:
    case SM_V_UNKNOWN:
        break;
    }
    return false;
}

bool sm_is_own_report(struct lf_parser *parser, const char *queue_id)
{
    struct sm_state *state = parser->format_state;

    return state->reports && queue_id[0] &&
           lf_table_get(state->reports, queue_id, strlen(queue_id)) != NULL;
}

/* Ends a session: emits its outcome for `domain` (NULL ip: unknown). */
void sm_conn_decide(struct lf_parser *parser, struct sm_conn *conn, const char *domain,
                    const char *ip, bool own)
{
    struct lf_outcome outcome = {0};

    conn->decided = true;
    if (!conn_outcome(conn, &outcome))
        return;
    if (own) {
        parser->stats.own_reports++;
        return;
    }
    outcome.time = conn->time;
    outcome.domain = domain;
    outcome.sending_mta_ip = parser->settings.sending_mta_ip;
    outcome.receiving_mx_hostname = conn->host[0] && conn->host[0] != '[' ? conn->host : NULL;
    outcome.receiving_ip = ip;
    outcome.failure_reason_code = conn->reason_rank != SM_RANK_NONE ? conn->reason : NULL;
    lf_emit_outcome(parser, &outcome);
}

/* Keeps only the newest decided session per host (for reuse), drops the rest. */
void sm_proc_prune(struct sm_proc *proc)
{
    for (size_t i = proc->n_conns; i-- > 0;) {
        struct sm_conn *conn = proc->conns[i];

        if (!conn->decided)
            continue;
        for (size_t j = i + 1; j < proc->n_conns; j++)
            if (proc->conns[j]->decided && strcmp(proc->conns[j]->host, conn->host) == 0) {
                conn_remove(proc, i);
                break;
            }
    }
}

/* The newest handshake error without a host learns it from a later line. */
struct sm_conn *sm_conn_adopt_hostless(struct sm_proc *proc, const char *host)
{
    struct sm_conn *conn = conn_hostless(proc);

    if (conn)
        lf_copy(conn->host, sizeof(conn->host), host);
    return conn;
}

void *lf_sendmail_create(struct lf_parser *parser)
{
    struct sm_state *state = xcalloc(1, sizeof(*state));

    state->procs = lf_table_create(parser, LF_MAX_SESSIONS, LF_IDLE_SECONDS, proc_drop);
    /* Always: tlsrpt-milter may hand over queue ids without a report sender (lf_parser_own_mail). */
    state->reports = lf_table_create(parser, LF_MAX_SESSIONS, SM_REPORT_IDLE_SECONDS, marker_drop);
    return state;
}

/*
 * Sessions still waiting for their to= line: those whose recipient domain
 * is known (from a tls_rcpt reject) are emitted, the others dropped (and
 * counted as untied when they would have been reported). The decided ones
 * stay, so that a reused connection is not counted again.
 */
static void proc_retire_pending(struct lf_parser *parser, struct sm_proc *proc)
{
    for (size_t i = proc->n_conns; i-- > 0;) {
        struct sm_conn *conn = proc->conns[i];
        struct lf_outcome outcome = {0};

        if (conn->decided)
            continue;
        if (conn->domain[0] && conn->host[0]) {
            sm_conn_decide(parser, conn, conn->domain, NULL,
                           sm_is_own_report(parser, conn->queue_id));
        } else {
            if (conn_outcome(conn, &outcome))
                lf_reject(parser, LF_REJECT_UNTIED);
            conn_remove(proc, i);
        }
    }
    proc->pending_rank = SM_RANK_NONE;
}

void lf_sendmail_expire(struct lf_parser *parser)
{
    struct sm_state *state = parser->format_state;
    struct sm_proc *proc;

    while ((proc = lf_table_take_idle(state->procs)) != NULL) {
        proc_retire_pending(parser, proc);
        sm_proc_free(proc);
    }
    while (state->reports && lf_table_take_idle(state->reports) != NULL)
        ;
}

/* Keeps the process only while it has decided sessions to recognize reuse by. */
static bool flush_proc(const char *key, size_t key_len, time_t touched, void *data, void *context)
{
    struct sm_proc *proc = data;

    (void)key;
    (void)key_len;
    (void)touched;
    proc_retire_pending(context, proc);
    sm_proc_prune(proc);
    if (proc->n_conns > 0)
        return true;
    sm_proc_free(proc);
    return false;
}

void lf_sendmail_flush(struct lf_parser *parser)
{
    struct sm_state *state = parser->format_state;

    lf_table_visit(state->procs, flush_proc, parser);
}

struct lf_table *lf_sendmail_reports(struct lf_parser *parser)
{
    struct sm_state *state = parser->format_state;

    return state->reports;
}

void lf_sendmail_destroy(void *data)
{
    struct sm_state *state = data;

    if (!state)
        return;
    lf_table_destroy(state->procs);
    if (state->reports)
        lf_table_destroy(state->reports);
    free(state);
}
