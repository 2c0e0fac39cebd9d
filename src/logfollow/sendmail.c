/*
 * sendmail.c - the lines of the Sendmail (8.17) log parser: the STARTTLS=client,
 * handshake-error and tls_server / tls_rcpt lines of one sm-mta process open
 * sessions (sm_session.c) that the to= line which follows ties to a recipient.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "core.h"
#include "lf_impl.h"
#include "logfollow.h"
#include "sm_impl.h"
#include "util.h"

/* The host of the relay= field (up to a space); false, and the line rejected, otherwise. */
static bool relay_host(struct lf_parser *parser, const char *msg, size_t len, char *host)
{
    const char *relay, *space;
    size_t relay_len;

    if (!sm_field(msg, len, "relay=", false, &relay, &relay_len)) {
        lf_reject(parser, LF_REJECT_UNTIED);
        return false;
    }
    if ((space = memchr(relay, ' ', relay_len)) != NULL)
        relay_len = (size_t)(space - relay);
    if (sm_host_parse(relay, relay_len, host, TR_MAX_DOMAIN + 1) != 0) {
        lf_reject(parser, LF_REJECT_BAD_ADDRESS);
        return false;
    }
    return true;
}

/* A ${verify} value in field `name`; SM_V_UNKNOWN, and the line rejected, otherwise. */
static enum sm_verify verify_field(struct lf_parser *parser, const char *msg, size_t len,
                                   const char *name)
{
    const char *value;
    size_t value_len;
    enum sm_verify verify = SM_V_UNKNOWN;

    if (sm_field(msg, len, name, false, &value, &value_len))
        verify = sm_verify_from_name(value, value_len);
    if (verify == SM_V_UNKNOWN)
        lf_reject(parser, LF_REJECT_BAD_TEXT);
    return verify;
}

/* "STARTTLS=client, relay=mx.example.com., version=TLSv1.3, verify=OK, ..." */
static void on_starttls(struct lf_parser *parser, const struct lf_frame *frame, const char *msg,
                        size_t len)
{
    char host[TR_MAX_DOMAIN + 1];
    enum sm_verify verify;

    if (!relay_host(parser, msg, len, host) ||
        (verify = verify_field(parser, msg, len, "verify=")) == SM_V_UNKNOWN)
        return;
    struct sm_proc *proc = sm_proc_get(parser, frame, true);
    sm_proc_connected(proc, host);
    if (verify == SM_V_CLEAR) /* the clear-text retry is no TLS session: the failure before it is */
        sm_conn_adopt_hostless(proc, host);
    if (verify == SM_V_CLEAR || verify == SM_V_CONFIG)
        return;
    struct sm_conn *conn = sm_conn_new(parser, proc, SM_TLS, verify, host, frame->time);
    if (proc->pending_rank != SM_RANK_NONE)
        sm_conn_set_reason(conn, proc->pending_rank, proc->pending_reason,
                           strlen(proc->pending_reason));
    proc->pending_rank = SM_RANK_NONE;
    proc->last_tls = conn;
}

/* "STARTTLS=client, error: connect failed=-1, reason=wrong version number, ..." */
static void on_handshake_error(struct lf_parser *parser, const struct lf_frame *frame,
                               const char *msg, size_t len)
{
    const char *reason;
    size_t reason_len;
    struct sm_proc *proc = sm_proc_get(parser, frame, true);
    struct sm_conn *conn = sm_conn_new(parser, proc, SM_HANDSHAKE, SM_V_SOFTWARE, "", frame->time);

    if (sm_field(msg, len, "reason=", false, &reason, &reason_len))
        sm_conn_set_reason(conn, SM_RANK_FINAL, reason, reason_len);
    proc->pending_rank = SM_RANK_NONE;
}

/* "STARTTLS=client, cert-subject=..., cert-issuer=..., verifymsg=..." (LogLevel >= 12) */
static void on_verifymsg(struct lf_parser *parser, const struct lf_frame *frame, const char *msg,
                         size_t len)
{
    const char *found = NULL, *p = msg;
    struct sm_proc *proc = sm_proc_get(parser, frame, false);

    /* The last one: subjects may themselves contain ", verifymsg=". */
    while ((p = sm_find(p, len - (size_t)(p - msg), ", verifymsg=")) != NULL)
        found = p++;
    if (!proc || !proc->last_tls || proc->last_tls->decided || !found) {
        lf_reject(parser, LF_REJECT_UNTIED);
        return;
    }
    found += strlen(", verifymsg=");
    size_t value_len = len - (size_t)(found - msg);
    if (!(value_len == 2 && memcmp(found, "ok", 2) == 0))
        sm_conn_set_reason(proc->last_tls, SM_RANK_FINAL, found, value_len);
}

/* "STARTTLS: TLS cert verify: depth=0 /CN=..., state=0, reason=..." (LogLevel >= 14) */
static void on_cert_verify(struct lf_parser *parser, const struct lf_frame *frame, const char *msg,
                           size_t len)
{
    const char *state_text = sm_find(msg, len, ", state=");
    const char *reason = sm_find(msg, len, ", reason=");
    enum sm_rank rank = sm_find(msg, len, "X509 cert verify:") ? SM_RANK_X509 : SM_RANK_TLS;

    if (!state_text || !reason || reason < state_text)
        return;
    if (state_text[strlen(", state=")] == '1')
        return; /* a certificate that verified (LogLevel >= 15) */
    reason += strlen(", reason=");
    size_t reason_len = len - (size_t)(reason - msg);
    if (reason_len == 0 || sm_has_prefix(reason, reason_len, "unable to get certificate CRL"))
        return; /* overridden by sendmail unless CRLs are required */
    struct sm_proc *proc = sm_proc_get(parser, frame, true);
    if (rank < proc->pending_rank)
        return;
    proc->pending_rank = rank;
    lf_printable(reason, reason_len, proc->pending_reason, sizeof(proc->pending_reason));
}

/* A tls_server/tls_rcpt rejection for a name mismatch: "reject=... CN x does not match y". */
static void note_cn_mismatch(struct sm_conn *conn, const char *msg, size_t len)
{
    const char *reject;
    size_t reject_len;

    if (sm_field(msg, len, "reject=", true, &reject, &reject_len) &&
        sm_find(reject, reject_len, "CN ") && sm_find(reject, reject_len, " does not match"))
        conn->cn_mismatch = true;
}

/* "ruleset=tls_server, arg1=SOFTWARE, relay=mx.example.com, reject=454 4.7.0 ..." */
static void on_tls_server(struct lf_parser *parser, const struct lf_frame *frame, const char *msg,
                          size_t len)
{
    char host[TR_MAX_DOMAIN + 1];
    enum sm_verify verify;

    if (!relay_host(parser, msg, len, host) ||
        (verify = verify_field(parser, msg, len, "arg1=")) == SM_V_UNKNOWN || verify == SM_V_CONFIG)
        return;
    struct sm_proc *proc = sm_proc_get(parser, frame, true);
    sm_proc_connected(proc, host);
    bool handshake = verify == SM_V_PROTOCOL || verify == SM_V_SOFTWARE || verify == SM_V_FAILURE;
    struct sm_conn *conn = NULL;
    if (handshake || verify == SM_V_CLEAR)
        conn = sm_conn_adopt_hostless(proc, host);
    if (verify == SM_V_CLEAR)
        return;
    if (!conn)
        conn = sm_conn_latest(proc, host, true);
    /* tls_server runs once per connection: a decided session here is an older one. */
    if (!conn) {
        enum sm_kind kind = verify == SM_V_NONE || verify == SM_V_TEMP ? SM_PLAIN
                            : handshake                                ? SM_HANDSHAKE
                                                                       : SM_TLS;
        conn = sm_conn_new(parser, proc, kind, verify, host, frame->time);
    }
    conn->required = true;
    note_cn_mismatch(conn, msg, len);
}

/* "QUEUEID: ruleset=tls_rcpt, arg1=user@example.com, relay=mx.example.com., reject=..." */
static void on_tls_rcpt(struct lf_parser *parser, const struct lf_frame *frame, const char *qid,
                        size_t qid_len, const char *msg, size_t len)
{
    const char *arg, *reject;
    size_t arg_len, reject_len;
    char host[TR_MAX_DOMAIN + 1];

    if (!relay_host(parser, msg, len, host))
        return;
    if (!sm_field(msg, len, "reject=", true, &reject, &reject_len)) {
        lf_reject(parser, LF_REJECT_UNTIED);
        return;
    }
    struct sm_proc *proc = sm_proc_get(parser, frame, true);
    sm_proc_connected(proc, host);
    struct sm_conn *conn = sm_conn_latest(proc, host, false);
    if (conn && conn->decided)
        return; /* a reused connection: the session was counted once already */
    if (!conn)  /* a hostless one: the clear-text retry after a failed handshake */
        conn = sm_conn_adopt_hostless(proc, host);
    if (!conn)
        conn = sm_conn_new(parser, proc, SM_PLAIN, SM_V_NONE, host, frame->time);
    conn->required = true;
    note_cn_mismatch(conn, msg, len);
    if (!conn->queue_id[0])
        lf_printable(qid, qid_len, conn->queue_id, sizeof(conn->queue_id));
    if (!conn->domain[0] && sm_field(msg, len, "arg1=", false, &arg, &arg_len) &&
        sm_recipient_domain(arg, arg_len, conn->domain, sizeof(conn->domain)) != 0)
        conn->domain[0] = '\0';
}

/* "QUEUEID: from=<sender>, size=..., class=..., nrcpts=..." */
static void on_from(struct lf_parser *parser, const char *qid, size_t qid_len, const char *msg,
                    size_t len)
{
    struct sm_state *state = parser->format_state;
    const char *from;
    size_t from_len;

    if (!state->reports || !sm_field(msg, len, "from=", false, &from, &from_len))
        return;
    if (from_len >= 2 && from[0] == '<' && from[from_len - 1] == '>') {
        from++;
        from_len -= 2;
    }
    if (!lf_own_sender(parser, from, from_len))
        return;
    if (!lf_table_get(state->reports, qid, qid_len))
        lf_table_put(state->reports, qid, qid_len, state); /* any non-NULL marker */
}

/* "QUEUEID: to=<user@example.com>, ..., relay=mx.example.com. [192.0.2.1], ..., stat=..." */
static void on_to(struct lf_parser *parser, const struct lf_frame *frame, const char *qid,
                  size_t qid_len, const char *msg, size_t len)
{
    const char *relay, *to;
    size_t relay_len, to_len;
    char host[TR_MAX_DOMAIN + 1], domain[TR_MAX_DOMAIN + 1], ip[64], queue_id[SM_MAX_QUEUE_ID];

    if (!sm_field(msg, len, "relay=", false, &relay, &relay_len))
        return; /* local delivery */
    const char *space = memchr(relay, ' ', relay_len);
    if (!space)
        return; /* no [IP]: deferred from the host-status cache without connecting */
    const char *address = space + 1;
    size_t address_len = relay_len - (size_t)(address - relay);
    const char *after = memchr(address, ' ', address_len); /* "(may be forged)" */
    if (after)
        address_len = (size_t)(after - address);
    if (sm_host_parse(relay, (size_t)(space - relay), host, sizeof(host)) != 0 ||
        sm_ip_parse(address, address_len, ip, sizeof(ip)) != 0 ||
        !sm_field(msg, len, "to=", false, &to, &to_len) ||
        sm_recipient_domain(to, to_len, domain, sizeof(domain)) != 0) {
        lf_reject(parser, LF_REJECT_BAD_ADDRESS);
        return;
    }
    struct sm_proc *proc = sm_proc_get(parser, frame, false);
    if (!proc)
        return;
    sm_proc_connected(proc, host);
    lf_printable(qid, qid_len, queue_id, sizeof(queue_id));
    if (strcmp(proc->connect_queue_id, queue_id) == 0)
        proc->connect_queue_id[0] = '\0'; /* later sessions are not this message's */
    size_t main_index = proc->n_conns;
    for (size_t i = proc->n_conns; i-- > 0;) {
        struct sm_conn *conn = proc->conns[i];
        if (!conn->decided && !sm_conn_other_message(conn, queue_id) &&
            (conn->host[0] == '\0' || strcmp(conn->host, host) == 0)) {
            main_index = i;
            break;
        }
    }
    if (main_index == proc->n_conns)
        return; /* a reused connection, or clear text without a policy */
    bool own = sm_is_own_report(parser, queue_id);
    /* Earlier sessions of this delivery (other MX hosts or addresses) end here too. */
    for (size_t i = 0; i <= main_index; i++) {
        struct sm_conn *conn = proc->conns[i];
        if (conn->decided || sm_conn_other_message(conn, queue_id))
            continue;
        if (conn->host[0] == '\0')
            lf_copy(conn->host, sizeof(conn->host), host);
        sm_conn_decide(parser, conn, domain, i == main_index ? ip : NULL, own);
    }
    sm_proc_prune(proc);
}

/* "QUEUEID: SMTP outgoing connect on [10.0.0.2]": a new connection for that message. */
static void on_connect(struct lf_parser *parser, const struct lf_frame *frame, const char *qid,
                       size_t qid_len)
{
    struct sm_proc *proc = sm_proc_get(parser, frame, true);

    proc->connecting = true;
    lf_printable(qid, qid_len, proc->connect_queue_id, sizeof(proc->connect_queue_id));
}

/* "tls_clt_features=..., relay=mx.example.com [192.0.2.1]": the host of that connection. */
static void on_client_features(struct lf_parser *parser, const struct lf_frame *frame,
                               const char *msg, size_t len)
{
    const char *relay;
    size_t relay_len;
    char host[TR_MAX_DOMAIN + 1];
    struct sm_proc *proc = sm_proc_get(parser, frame, false);

    if (!proc || !sm_field(msg, len, "relay=", false, &relay, &relay_len))
        return;
    const char *space = memchr(relay, ' ', relay_len);
    if (space)
        relay_len = (size_t)(space - relay);
    if (sm_host_parse(relay, relay_len, host, sizeof(host)) == 0)
        sm_proc_connected(proc, host);
}

void lf_sendmail_line(struct lf_parser *parser, const struct lf_frame *frame)
{
    const char *msg = frame->message;
    size_t len = frame->message_len;

    if (!((frame->program_len == 6 && memcmp(frame->program, "sm-mta", 6) == 0) ||
          (frame->program_len == 8 && memcmp(frame->program, "sendmail", 8) == 0)))
        return;
    parser->stats.relevant++;
    if (!lf_frame_text_ok(frame)) {
        lf_reject(parser, LF_REJECT_BAD_TEXT);
        return;
    }
    if (sm_has_prefix(msg, len, "STARTTLS=client, relay=")) {
        on_starttls(parser, frame, msg, len);
    } else if (sm_has_prefix(msg, len, "STARTTLS=client, error: connect failed")) {
        on_handshake_error(parser, frame, msg, len);
    } else if (sm_has_prefix(msg, len, "STARTTLS=client, cert-subject=")) {
        on_verifymsg(parser, frame, msg, len);
    } else if ((sm_has_prefix(msg, len, "STARTTLS: ") ||
                sm_has_prefix(msg, len, "TLS cert verify:")) &&
               sm_find(msg, len, "cert verify: ")) {
        on_cert_verify(parser, frame, msg, len);
    } else if (sm_has_prefix(msg, len, "ruleset=tls_server, ")) {
        on_tls_server(parser, frame, msg, len);
    } else if (sm_has_prefix(msg, len, "tls_clt_features=")) {
        on_client_features(parser, frame, msg, len);
    } else {
        size_t qid_len = sm_queue_id_len(msg, len);
        if (qid_len == 0)
            return; /* another line of sm-mta: daemon start, server side, ... */
        const char *rest = msg + qid_len + 2;
        size_t rest_len = len - qid_len - 2;
        if (sm_has_prefix(rest, rest_len, "ruleset=tls_rcpt, "))
            on_tls_rcpt(parser, frame, msg, qid_len, rest, rest_len);
        else if (sm_has_prefix(rest, rest_len, "ruleset=tls_server, "))
            on_tls_server(parser, frame, rest, rest_len);
        else if (sm_has_prefix(rest, rest_len, "from="))
            on_from(parser, msg, qid_len, rest, rest_len);
        else if (sm_has_prefix(rest, rest_len, "to="))
            on_to(parser, frame, msg, qid_len, rest, rest_len);
        else if (sm_has_prefix(rest, rest_len, "SMTP outgoing connect on "))
            on_connect(parser, frame, msg, qid_len);
    }
}
