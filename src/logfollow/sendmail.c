/*
 * sendmail.c - the Sendmail (8.17) log parser of the logfollow module: ties the
 * STARTTLS=client, handshake-error and tls_server / tls_rcpt lines of one sm-mta
 * process to the to= line that follows, and maps ${verify} to RFC 8460 results.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "lf_impl.h"
#include "logfollow.h"
#include "util.h"

/* Sessions kept per process; a process holds one connection at a time, so few. */
#define SM_MAX_CONNS 16
#define SM_MAX_REASON 256
#define SM_MAX_QUEUE_ID 32

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
    char *key;
    struct sm_conn *conns[SM_MAX_CONNS];
    size_t n_conns;
    struct sm_conn *last_tls;  /* the session a verifymsg= line belongs to */
    enum sm_rank pending_rank; /* "cert verify" lines come before their session */
    char pending_reason[SM_MAX_REASON];
};

struct sm_state {
    struct lf_table *procs;
    struct lf_table *reports; /* queue ids of messages from settings.report_sender */
};

/* Indexed by enum sm_verify. */
static const char *const verify_names[] = {
    "",         "OK",      "FAIL",  "NO",     "NONE",    "TEMP",      "PROTOCOL",
    "SOFTWARE", "FAILURE", "CLEAR", "CONFIG", "TRUSTED", "DANE_FAIL",
};

static enum sm_verify verify_from_name(const char *s, size_t len)
{
    for (size_t i = 1; i < UTIL_ARRAY_LEN(verify_names); i++)
        if (strlen(verify_names[i]) == len && memcmp(verify_names[i], s, len) == 0)
            return (enum sm_verify)i;
    return SM_V_UNKNOWN;
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && memcmp(s, prefix, n) == 0;
}

/* First occurrence of needle in s[0..len), or NULL. */
static const char *find(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(s + i, needle, n) == 0)
            return s + i;
    return NULL;
}

/*
 * The value of a "name=value" field: at the start of the message or after
 * ", ", up to the next ", " (or the end when to_end).
 */
static bool field(const char *msg, size_t len, const char *name, bool to_end, const char **value,
                  size_t *value_len)
{
    size_t n = strlen(name);

    for (size_t i = 0; i + n <= len; i++) {
        if (i != 0 && (i < 2 || msg[i - 2] != ',' || msg[i - 1] != ' '))
            continue;
        if (memcmp(msg + i, name, n) != 0)
            continue;
        const char *start = msg + i + n;
        size_t rest = len - i - n;
        const char *end = to_end ? NULL : find(start, rest, ", ");

        *value = start;
        *value_len = end ? (size_t)(end - start) : rest;
        return true;
    }
    return false;
}

/* A relay host as logged ("mx.example.com.", "MX.example.com", "[192.0.2.1]"). */
static int host_parse(const char *s, size_t len, char *out, size_t size)
{
    const char *error;

    if (len == 0 || len >= size)
        return -1;
    memcpy(out, s, len);
    out[len] = '\0';
    if (out[0] == '[') {
        unsigned char addr[16];
        const char *body = out + 1;

        if (out[len - 1] != ']')
            return -1;
        out[len - 1] = '\0';
        if (strncasecmp(body, "IPv6:", 5) == 0)
            body += 5;
        int ok = inet_pton(strchr(body, ':') ? AF_INET6 : AF_INET, body, addr);
        out[len - 1] = ']';
        return ok == 1 ? 0 : -1;
    }
    return tr_domain_normalize(out, &error);
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" into its canonical text. */
static int ip_parse(const char *s, size_t len, char *out, size_t size)
{
    char text[64];
    unsigned char addr[16];

    if (len < 3 || s[0] != '[' || s[len - 1] != ']' || len - 2 >= sizeof(text))
        return -1;
    memcpy(text, s + 1, len - 2);
    text[len - 2] = '\0';
    const char *body = strncasecmp(text, "IPv6:", 5) == 0 ? text + 5 : text;
    int family = strchr(body, ':') ? AF_INET6 : AF_INET;

    if (inet_pton(family, body, addr) != 1 || !inet_ntop(family, addr, out, (socklen_t)size))
        return -1;
    return 0;
}

/* The domain of the first recipient of "to=<a@example.com>,<b@example.com>". */
static int recipient_domain(const char *s, size_t len, char *out, size_t size)
{
    const char *end = s + len;
    const char *stop = memchr(s, ',', len);
    const char *close = memchr(s, '>', len);
    const char *at = NULL;

    if (stop)
        end = stop;
    if (close && close < end)
        end = close;
    for (const char *p = s; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return -1;
    return host_parse(at + 1, (size_t)(end - at - 1), out, size);
}

/* The queue id before ": " (sendmail ids are letters and digits). */
static size_t queue_id_len(const char *msg, size_t len)
{
    size_t i = 0;

    while (i < len && i < SM_MAX_QUEUE_ID - 1 &&
           ((msg[i] >= '0' && msg[i] <= '9') || (msg[i] >= 'A' && msg[i] <= 'Z') ||
            (msg[i] >= 'a' && msg[i] <= 'z')))
        i++;
    if (i < 6 || i + 2 > len || msg[i] != ':' || msg[i + 1] != ' ')
        return 0;
    return i;
}

static void proc_free(struct sm_proc *proc)
{
    for (size_t i = 0; i < proc->n_conns; i++)
        free(proc->conns[i]);
    free(proc->key);
    free(proc);
}

/* A process with connections still waiting for their outcome loses them. */
static bool proc_drop(struct lf_parser *parser, void *data, bool evicted)
{
    struct sm_proc *proc = data;
    bool pending = proc->n_conns > 0;

    (void)parser;
    (void)evicted;
    proc_free(proc);
    return pending;
}

/* Forgetting which queue id is our own report mail could count it. */
static bool marker_drop(struct lf_parser *parser, void *data, bool evicted)
{
    (void)parser;
    (void)evicted;
    free(data);
    return true;
}

static struct sm_proc *proc_get(struct lf_parser *parser, const struct lf_frame *frame, bool create)
{
    struct sm_state *state = parser->format_state;
    struct sm_proc *proc = lf_table_get(state->procs, frame->session_key, frame->session_key_len);

    if (proc || !create)
        return proc;
    proc = xcalloc(1, sizeof(*proc));
    proc->key = xstrndup(frame->session_key, frame->session_key_len);
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

static struct sm_conn *conn_new(struct lf_parser *parser, struct sm_proc *proc, enum sm_kind kind,
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
    snprintf(conn->host, sizeof(conn->host), "%s", host);
    proc->conns[proc->n_conns++] = conn;
    return conn;
}

/* The newest session with this host (decided ones too: connection reuse). */
static struct sm_conn *conn_latest(struct sm_proc *proc, const char *host, bool undecided_only)
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

static void conn_set_reason(struct sm_conn *conn, enum sm_rank rank, const char *s, size_t len)
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
        out->result = conn->reason_rank != SM_RANK_NONE ? result_of_reason(conn->reason)
                                                        : TR_RESULT_CERTIFICATE_NOT_TRUSTED;
        return true;
    case SM_V_NO:
        out->result = TR_RESULT_CERTIFICATE_NOT_TRUSTED;
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

static bool is_own_report(struct lf_parser *parser, const char *queue_id)
{
    struct sm_state *state = parser->format_state;

    return state->reports && queue_id[0] &&
           lf_table_get(state->reports, queue_id, strlen(queue_id)) != NULL;
}

/* Ends a session: emits its outcome for `domain` (NULL ip: unknown). */
static void conn_decide(struct lf_parser *parser, struct sm_conn *conn, const char *domain,
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
static void proc_prune(struct sm_proc *proc)
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

/* The host of the relay= field (up to a space); false, and the line rejected, otherwise. */
static bool relay_host(struct lf_parser *parser, const char *msg, size_t len, char *host)
{
    const char *relay, *space;
    size_t relay_len;

    if (!field(msg, len, "relay=", false, &relay, &relay_len)) {
        lf_reject(parser, LF_REJECT_UNTIED);
        return false;
    }
    if ((space = memchr(relay, ' ', relay_len)) != NULL)
        relay_len = (size_t)(space - relay);
    if (host_parse(relay, relay_len, host, TR_MAX_DOMAIN + 1) != 0) {
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

    if (field(msg, len, name, false, &value, &value_len))
        verify = verify_from_name(value, value_len);
    if (verify == SM_V_UNKNOWN)
        lf_reject(parser, LF_REJECT_BAD_TEXT);
    return verify;
}

/* The newest handshake error without a host learns it from a later line. */
static struct sm_conn *conn_adopt_hostless(struct sm_proc *proc, const char *host)
{
    struct sm_conn *conn = conn_hostless(proc);

    if (conn)
        snprintf(conn->host, sizeof(conn->host), "%s", host);
    return conn;
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
    struct sm_proc *proc = proc_get(parser, frame, true);
    if (verify == SM_V_CLEAR) /* the clear-text retry is no TLS session: the failure before it is */
        conn_adopt_hostless(proc, host);
    if (verify == SM_V_CLEAR || verify == SM_V_CONFIG)
        return;
    struct sm_conn *conn = conn_new(parser, proc, SM_TLS, verify, host, frame->time);
    if (proc->pending_rank != SM_RANK_NONE)
        conn_set_reason(conn, proc->pending_rank, proc->pending_reason,
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
    struct sm_proc *proc = proc_get(parser, frame, true);
    struct sm_conn *conn = conn_new(parser, proc, SM_HANDSHAKE, SM_V_SOFTWARE, "", frame->time);

    if (field(msg, len, "reason=", false, &reason, &reason_len))
        conn_set_reason(conn, SM_RANK_FINAL, reason, reason_len);
    proc->pending_rank = SM_RANK_NONE;
}

/* "STARTTLS=client, cert-subject=..., cert-issuer=..., verifymsg=..." (LogLevel >= 12) */
static void on_verifymsg(struct lf_parser *parser, const struct lf_frame *frame, const char *msg,
                         size_t len)
{
    const char *found = NULL, *p = msg;
    struct sm_proc *proc = proc_get(parser, frame, false);

    /* The last one: subjects may themselves contain ", verifymsg=". */
    while ((p = find(p, len - (size_t)(p - msg), ", verifymsg=")) != NULL)
        found = p++;
    if (!proc || !proc->last_tls || proc->last_tls->decided || !found) {
        lf_reject(parser, LF_REJECT_UNTIED);
        return;
    }
    found += strlen(", verifymsg=");
    size_t value_len = len - (size_t)(found - msg);
    if (!(value_len == 2 && memcmp(found, "ok", 2) == 0))
        conn_set_reason(proc->last_tls, SM_RANK_FINAL, found, value_len);
}

/* "STARTTLS: TLS cert verify: depth=0 /CN=..., state=0, reason=..." (LogLevel >= 14) */
static void on_cert_verify(struct lf_parser *parser, const struct lf_frame *frame, const char *msg,
                           size_t len)
{
    const char *state_text = find(msg, len, ", state=");
    const char *reason = find(msg, len, ", reason=");
    enum sm_rank rank = find(msg, len, "X509 cert verify:") ? SM_RANK_X509 : SM_RANK_TLS;

    if (!state_text || !reason || reason < state_text)
        return;
    if (state_text[strlen(", state=")] == '1')
        return; /* a certificate that verified (LogLevel >= 15) */
    reason += strlen(", reason=");
    size_t reason_len = len - (size_t)(reason - msg);
    if (reason_len == 0 || has_prefix(reason, reason_len, "unable to get certificate CRL"))
        return; /* overridden by sendmail unless CRLs are required */
    struct sm_proc *proc = proc_get(parser, frame, true);
    if (rank < proc->pending_rank)
        return;
    proc->pending_rank = rank;
    lf_printable(reason, reason_len, proc->pending_reason, sizeof(proc->pending_reason));
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
    struct sm_proc *proc = proc_get(parser, frame, true);
    bool handshake = verify == SM_V_PROTOCOL || verify == SM_V_SOFTWARE || verify == SM_V_FAILURE;
    struct sm_conn *conn = NULL;
    if (handshake || verify == SM_V_CLEAR)
        conn = conn_adopt_hostless(proc, host);
    if (verify == SM_V_CLEAR)
        return;
    if (!conn)
        conn = conn_latest(proc, host, true);
    /* tls_server runs once per connection: a decided session here is an older one. */
    if (!conn) {
        enum sm_kind kind = verify == SM_V_NONE || verify == SM_V_TEMP ? SM_PLAIN
                            : handshake                                ? SM_HANDSHAKE
                                                                       : SM_TLS;
        conn = conn_new(parser, proc, kind, verify, host, frame->time);
    }
    conn->required = true;
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
    if (!field(msg, len, "reject=", true, &reject, &reject_len)) {
        lf_reject(parser, LF_REJECT_UNTIED);
        return;
    }
    struct sm_proc *proc = proc_get(parser, frame, true);
    struct sm_conn *conn = conn_latest(proc, host, false);
    if (conn && conn->decided)
        return; /* a reused connection: the session was counted once already */
    if (!conn)  /* a hostless one: the clear-text retry after a failed handshake */
        conn = conn_adopt_hostless(proc, host);
    if (!conn)
        conn = conn_new(parser, proc, SM_PLAIN, SM_V_NONE, host, frame->time);
    conn->required = true;
    if (find(reject, reject_len, "CN ") && find(reject, reject_len, " does not match"))
        conn->cn_mismatch = true;
    if (!conn->queue_id[0])
        lf_printable(qid, qid_len, conn->queue_id, sizeof(conn->queue_id));
    if (!conn->domain[0] && field(msg, len, "arg1=", false, &arg, &arg_len) &&
        recipient_domain(arg, arg_len, conn->domain, sizeof(conn->domain)) != 0)
        conn->domain[0] = '\0';
}

/* "QUEUEID: from=<sender>, size=..., class=..., nrcpts=..." */
static void on_from(struct lf_parser *parser, const char *qid, size_t qid_len, const char *msg,
                    size_t len)
{
    struct sm_state *state = parser->format_state;
    const char *sender = parser->settings.report_sender;
    const char *from;
    size_t from_len;

    if (!state->reports || !field(msg, len, "from=", false, &from, &from_len))
        return;
    if (from_len >= 2 && from[0] == '<' && from[from_len - 1] == '>') {
        from++;
        from_len -= 2;
    }
    if (sender[0] == '<')
        sender++;
    size_t sender_len = strcspn(sender, ">");
    if (from_len != sender_len || strncasecmp(from, sender, from_len) != 0)
        return;
    if (!lf_table_get(state->reports, qid, qid_len))
        lf_table_put(state->reports, qid, qid_len, xmalloc(1));
}

/* "QUEUEID: to=<user@example.com>, ..., relay=mx.example.com. [192.0.2.1], ..., stat=..." */
static void on_to(struct lf_parser *parser, const struct lf_frame *frame, const char *qid,
                  size_t qid_len, const char *msg, size_t len)
{
    const char *relay, *to;
    size_t relay_len, to_len;
    char host[TR_MAX_DOMAIN + 1], domain[TR_MAX_DOMAIN + 1], ip[64], queue_id[SM_MAX_QUEUE_ID];

    if (!field(msg, len, "relay=", false, &relay, &relay_len))
        return; /* local delivery */
    const char *space = memchr(relay, ' ', relay_len);
    if (!space)
        return; /* no [IP]: deferred from the host-status cache without connecting */
    const char *address = space + 1;
    size_t address_len = relay_len - (size_t)(address - relay);
    const char *after = memchr(address, ' ', address_len); /* "(may be forged)" */
    if (after)
        address_len = (size_t)(after - address);
    if (host_parse(relay, (size_t)(space - relay), host, sizeof(host)) != 0 ||
        ip_parse(address, address_len, ip, sizeof(ip)) != 0 ||
        !field(msg, len, "to=", false, &to, &to_len) ||
        recipient_domain(to, to_len, domain, sizeof(domain)) != 0) {
        lf_reject(parser, LF_REJECT_BAD_ADDRESS);
        return;
    }
    struct sm_proc *proc = proc_get(parser, frame, false);
    if (!proc)
        return;
    size_t main_index = proc->n_conns;
    for (size_t i = proc->n_conns; i-- > 0;) {
        struct sm_conn *conn = proc->conns[i];
        if (!conn->decided && (conn->host[0] == '\0' || strcmp(conn->host, host) == 0)) {
            main_index = i;
            break;
        }
    }
    if (main_index == proc->n_conns)
        return; /* a reused connection, or clear text without a policy */
    lf_printable(qid, qid_len, queue_id, sizeof(queue_id));
    bool own = is_own_report(parser, queue_id);
    /* Earlier sessions of this delivery (other MX hosts or addresses) end here too. */
    for (size_t i = 0; i <= main_index; i++) {
        struct sm_conn *conn = proc->conns[i];
        if (conn->decided)
            continue;
        if (conn->host[0] == '\0')
            snprintf(conn->host, sizeof(conn->host), "%s", host);
        conn_decide(parser, conn, domain, i == main_index ? ip : NULL, own);
    }
    proc_prune(proc);
}

void *lf_sendmail_create(struct lf_parser *parser)
{
    struct sm_state *state = xcalloc(1, sizeof(*state));

    state->procs = lf_table_create(parser, LF_MAX_SESSIONS, proc_drop);
    if (parser->settings.report_sender && parser->settings.report_sender[0])
        state->reports = lf_table_create(parser, LF_MAX_SESSIONS, marker_drop);
    return state;
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
    if (has_prefix(msg, len, "STARTTLS=client, relay=")) {
        on_starttls(parser, frame, msg, len);
    } else if (has_prefix(msg, len, "STARTTLS=client, error: connect failed")) {
        on_handshake_error(parser, frame, msg, len);
    } else if (has_prefix(msg, len, "STARTTLS=client, cert-subject=")) {
        on_verifymsg(parser, frame, msg, len);
    } else if ((has_prefix(msg, len, "STARTTLS: ") || has_prefix(msg, len, "TLS cert verify:")) &&
               find(msg, len, "cert verify: ")) {
        on_cert_verify(parser, frame, msg, len);
    } else if (has_prefix(msg, len, "ruleset=tls_server, ")) {
        on_tls_server(parser, frame, msg, len);
    } else {
        size_t qid_len = queue_id_len(msg, len);
        if (qid_len == 0)
            return; /* another line of sm-mta: daemon start, server side, ... */
        const char *rest = msg + qid_len + 2;
        size_t rest_len = len - qid_len - 2;
        if (has_prefix(rest, rest_len, "ruleset=tls_rcpt, "))
            on_tls_rcpt(parser, frame, msg, qid_len, rest, rest_len);
        else if (has_prefix(rest, rest_len, "ruleset=tls_server, "))
            on_tls_server(parser, frame, rest, rest_len);
        else if (has_prefix(rest, rest_len, "from="))
            on_from(parser, msg, qid_len, rest, rest_len);
        else if (has_prefix(rest, rest_len, "to="))
            on_to(parser, frame, msg, qid_len, rest, rest_len);
    }
}

/*
 * Sessions still waiting for their to= line: those whose recipient domain
 * is known (from a tls_rcpt reject) are emitted, the others dropped; the
 * decided ones stay so that a reused connection is not counted again.
 */
void lf_sendmail_flush(struct lf_parser *parser)
{
    struct sm_state *state = parser->format_state;
    size_t count = lf_table_count(state->procs);

    for (size_t n = 0; n < count; n++) {
        struct sm_proc *proc = lf_table_take_oldest(state->procs);
        if (!proc)
            break;
        for (size_t i = proc->n_conns; i-- > 0;) {
            struct sm_conn *conn = proc->conns[i];
            if (conn->decided)
                continue;
            if (conn->domain[0] && conn->host[0])
                conn_decide(parser, conn, conn->domain, NULL,
                            is_own_report(parser, conn->queue_id));
            else
                conn_remove(proc, i);
        }
        proc_prune(proc);
        proc->pending_rank = SM_RANK_NONE;
        if (proc->n_conns == 0)
            proc_free(proc);
        else
            lf_table_put(state->procs, proc->key, strlen(proc->key), proc);
    }
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
