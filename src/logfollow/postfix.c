/*
 * postfix.c - the lines of the Postfix log parser: recognizes what each line
 * of postfix/smtp (or postfix-INSTANCE/smtp, postfix/tlsproxy, qmgr) says
 * about a TLS session and feeds the session model of pf_session.c.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lf_impl.h"
#include "pf_impl.h"
#include "util.h"

enum pf_service { PF_OTHER, PF_SMTP, PF_TLSPROXY, PF_QMGR };

#define PROXY_KEY_SIZE (sizeof("tlsproxy []") + PF_HOST_SIZE + PF_IP_SIZE)

/* tlsproxy serves many smtp processes: its sessions are keyed "tlsproxy HOST[IP]". */
static size_t proxy_key(const char *host, const char *ip, char key[PROXY_KEY_SIZE])
{
    size_t host_len = strlen(host), ip_len = strlen(ip);

    memcpy(key, "tlsproxy ", 9);
    memcpy(key + 9, host, host_len);
    key[9 + host_len] = '[';
    memcpy(key + 10 + host_len, ip, ip_len);
    key[10 + host_len + ip_len] = ']';
    return 11 + host_len + ip_len;
}

/* postfix[-instance]/smtp, /tlsproxy or /qmgr. */
static enum pf_service service_of(const struct lf_frame *frame)
{
    const char *p = frame->program, *slash;
    size_t len = frame->program_len, rest;

    if (len < 8 || memcmp(p, "postfix", 7) != 0 || (p[7] != '/' && p[7] != '-'))
        return PF_OTHER;
    slash = memchr(p + 7, '/', len - 7);
    if (slash == NULL)
        return PF_OTHER;
    rest = len - (size_t)(slash + 1 - p);
    if (rest == 4 && memcmp(slash + 1, "smtp", 4) == 0)
        return PF_SMTP;
    if (rest == 8 && memcmp(slash + 1, "tlsproxy", 8) == 0)
        return PF_TLSPROXY;
    if (rest == 4 && memcmp(slash + 1, "qmgr", 4) == 0)
        return PF_QMGR;
    return PF_OTHER;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "QUEUEID: " at the start of msg: copies the id and returns the rest, or NULL. */
static const char *queue_id(const char *msg, char qid[PF_QID_SIZE])
{
    bool marked = false; /* a digit or capital: "warning:" is no queue id */
    size_t n = 0;

    while ((msg[n] >= '0' && msg[n] <= '9') || (msg[n] >= 'A' && msg[n] <= 'Z') ||
           (msg[n] >= 'a' && msg[n] <= 'z'))
        n++;
    for (size_t i = 0; i < n && !marked; i++)
        marked = (msg[i] >= '0' && msg[i] <= '9') || (msg[i] >= 'A' && msg[i] <= 'Z');
    if (!marked || n < 5 || n >= PF_QID_SIZE || msg[n] != ':' || msg[n + 1] != ' ')
        return NULL;
    memcpy(qid, msg, n);
    qid[n] = '\0';
    return msg + n + 2;
}

/* The cause text of a certificate verification failure → result type. */
static enum tr_result certificate_cause(const char *cause)
{
    const char *sts = strstr(cause, "external policy failure (");
    enum tr_result result;

    if (sts != NULL) {
        char name[64];
        size_t n = strcspn(sts + 25, ")");
        if (n < sizeof(name)) {
            memcpy(name, sts + 25, n);
            name[n] = '\0';
            if (strncmp(name, "sts-", 4) == 0 && tr_result_from_name(name, &result) == 0)
                return result;
        }
        return TR_RESULT_VALIDATION_FAILURE;
    }
    if (strstr(cause, "num=65:") != NULL || strstr(cause, "TLSA") != NULL)
        return TR_RESULT_TLSA_INVALID;
    if (strstr(cause, "num=62:") != NULL || strstr(cause, "hostname mismatch") != NULL)
        return TR_RESULT_CERTIFICATE_HOST_MISMATCH;
    if (strstr(cause, "not yet valid") != NULL)
        return TR_RESULT_VALIDATION_FAILURE;
    if (strstr(cause, "expired") != NULL)
        return TR_RESULT_CERTIFICATE_EXPIRED;
    return TR_RESULT_CERTIFICATE_NOT_TRUSTED;
}

/* "error:0A00042E:SSL routines::tlsv1 alert protocol version:file:..." → the reason field. */
static void library_reason(const char *text, char out[PF_REASON_SIZE])
{
    const char *p = text;

    for (int field = 0; field < 4 && p != NULL; field++) {
        p = strchr(p, ':');
        if (p != NULL)
            p++;
    }
    if (p == NULL || *p == '\0' || *p == ':')
        p = text;
    lf_printable(p, strcspn(p, ":"), out, PF_REASON_SIZE);
}

/* A TLS line names a host a TLSRPT: line of this session already covered. */
static bool covered(const struct pf_proc *proc, const char *host)
{
    return proc->tlsrpt_host[0] != '\0' && strcmp(proc->tlsrpt_host, host) == 0;
}

/* "TLS policy lookup [error ]for DOMAIN/MX: cause" (DANE/DNSSEC, no connection). */
static void policy_lookup(struct lf_parser *parser, struct pf_proc *proc,
                          const struct lf_frame *frame, const char *text, bool lookup_error)
{
    const char *slash = strchr(text, '/'), *cause;
    char domain[PF_HOST_SIZE], host[PF_HOST_SIZE];
    struct pf_attempt *attempt;
    bool no_tlsa;

    cause = slash != NULL ? slash + strcspn(slash, ": ") : NULL;
    if (cause == NULL || !lf_host_name(text, (size_t)(slash - text), domain) ||
        !lf_host_name(slash + 1, (size_t)(cause - slash - 1), host)) {
        lf_reject(parser, LF_REJECT_BAD_ADDRESS);
        return;
    }
    no_tlsa = strstr(cause, "no TLSA records found") != NULL;
    if (!no_tlsa && !lookup_error && strstr(cause, "TLSA lookup error") == NULL)
        return;
    /*
     * Postfix's smtp logs "TLS policy lookup error for MX/ADDRESS" after the
     * "TLS policy lookup for DOMAIN/MX" warning of a policy it has just
     * made (and alone when the policy came from its cache): one attempt.
     */
    if (lookup_error && (attempt = pf_attempt_last(proc)) != NULL && attempt->qid[0] == '\0' &&
        attempt->fallback_domain[0] != '\0' && attempt->ip[0] == '\0' &&
        strcmp(attempt->host, domain) == 0)
        return;
    attempt = pf_attempt_new(parser, proc, frame, host, NULL);
    pf_attempt_fail(attempt, no_tlsa ? TR_RESULT_DANE_REQUIRED : TR_RESULT_DNSSEC_INVALID, NULL);
    lf_copy(attempt->fallback_domain, sizeof(attempt->fallback_domain), domain);
}

/* "TLSRPT: status=..., domain=..., receiving_mx=H[IP], failure_type=..., failure_reason=..." */
static void tlsrpt_line(struct lf_parser *parser, struct pf_proc *proc,
                        const struct lf_frame *frame, char *text)
{
    char *status = NULL, *domain = NULL, *mx = NULL, *type = NULL, *reason = NULL;
    char host[PF_HOST_SIZE], ip[PF_IP_SIZE];
    struct pf_attempt attempt, **link;
    const char *error;

    for (char *save = NULL, *field = strtok_r(text, ",", &save); field != NULL;
         field = strtok_r(NULL, ",", &save)) {
        char *eq;
        while (*field == ' ')
            field++;
        eq = strchr(field, '=');
        if (eq == NULL)
            continue;
        *eq++ = '\0';
        if (strcmp(field, "status") == 0)
            status = eq;
        else if (strcmp(field, "domain") == 0)
            domain = eq;
        else if (strcmp(field, "receiving_mx") == 0)
            mx = eq;
        else if (strcmp(field, "failure_type") == 0)
            type = eq;
        else if (strcmp(field, "failure_reason") == 0)
            reason = eq;
    }
    memset(&attempt, 0, sizeof(attempt));
    attempt.time = frame->time;
    attempt.tlsa = proc->tlsa_context;
    if (status == NULL || domain == NULL || tr_domain_normalize(domain, &error) < 0 ||
        (mx != NULL && lf_host_address(mx, host, ip) == NULL)) {
        lf_reject(parser, LF_REJECT_BAD_ADDRESS);
        return;
    }
    if (mx != NULL) {
        lf_copy(attempt.host, sizeof(attempt.host), host);
        lf_copy(attempt.ip, sizeof(attempt.ip), ip);
    }
    if (strcmp(status, "failure") == 0) {
        enum tr_result result;
        for (char *p = type; p != NULL && *p != '\0'; p++)
            if (*p == '_')
                *p = '-';
        if (type == NULL || tr_result_from_name(type, &result) < 0) {
            lf_reject(parser, LF_REJECT_BAD_TEXT);
            return;
        }
        pf_attempt_fail(&attempt, result, reason);
    } else if (strcmp(status, "success") != 0) {
        lf_reject(parser, LF_REJECT_BAD_TEXT);
        return;
    }
    pf_attempt_emit(parser, &attempt, domain);
    /* The other lines of this session must not count it again. */
    lf_copy(proc->tlsrpt_host, sizeof(proc->tlsrpt_host), attempt.host);
    for (link = &proc->attempts; *link != NULL;) {
        struct pf_attempt *open = *link;
        if (open->qid[0] == '\0' && strcmp(open->host, attempt.host) == 0) {
            *link = open->next;
            proc->n_attempts--;
            free(open);
        } else {
            link = &open->next;
        }
    }
}

/* "TLS is required, but was not offered by host H[IP]" or "... but host H[IP] refused". */
static bool starttls_text(const char *text, char host[PF_HOST_SIZE], char ip[PF_IP_SIZE])
{
    const char *p = strstr(text, "TLS is required, but ");

    host[0] = ip[0] = '\0';
    if (p == NULL || (p = strstr(p, "host ")) == NULL)
        return false;
    if (lf_host_address(p + 5, host, ip) == NULL)
        host[0] = ip[0] = '\0';
    return true;
}

/* The text after "status=WORD " of a delivery line, naming a TLS outcome. */
static void status_outcome(struct lf_parser *parser, struct pf_proc *proc,
                           const struct lf_frame *frame, const char *qid, const char *status,
                           const char *relay_host, const char *relay_ip, const char *domain)
{
    char host[PF_HOST_SIZE], ip[PF_IP_SIZE];
    enum tr_result result;
    const char *reason = NULL, *tlsa = NULL;
    struct pf_attempt attempt;

    if (starttls_text(status, host, ip)) {
        result = TR_RESULT_STARTTLS_NOT_SUPPORTED;
        if (host[0] == '\0') {
            lf_copy(host, sizeof(host), relay_host);
            lf_copy(ip, sizeof(ip), relay_ip);
        }
    } else if (strstr(status, "Cannot start TLS: handshake failure") != NULL) {
        result = TR_RESULT_VALIDATION_FAILURE;
        reason = proc->lib_reason[0] != '\0' ? proc->lib_reason : NULL;
        lf_copy(host, sizeof(host), relay_host);
        lf_copy(ip, sizeof(ip), relay_ip);
    } else if ((tlsa = strstr(status, "TLSA lookup error for ")) != NULL ||
               strstr(status, "no TLSA records found") != NULL) {
        result = tlsa != NULL ? TR_RESULT_DNSSEC_INVALID : TR_RESULT_DANE_REQUIRED;
        if (tlsa == NULL || !lf_host_name(tlsa + 22, strcspn(tlsa + 22, ":) "), host))
            host[0] = '\0';
        ip[0] = '\0';
    } else {
        return;
    }
    /* Each recipient of one delivery repeats the status: one session. */
    if (strcmp(proc->done_qid, qid) == 0 && frame->time - proc->done_time <= 1 &&
        frame->time >= proc->done_time)
        return;
    lf_copy(proc->done_qid, sizeof(proc->done_qid), qid);
    proc->done_time = frame->time;
    memset(&attempt, 0, sizeof(attempt));
    attempt.time = frame->time;
    memcpy(attempt.host, host, sizeof(host));
    memcpy(attempt.ip, ip, sizeof(ip));
    pf_attempt_fail(&attempt, result, reason);
    pf_attempt_emit(parser, &attempt, domain);
}

/* "QUEUEID: to=<user@domain>, relay=HOST[IP]:PORT, ..., status=... (text)" */
static void delivery_line(struct pf_state *state, struct pf_proc *proc,
                          const struct lf_frame *frame, const char *qid, const char *rest)
{
    struct lf_parser *parser = state->parser;
    char domain[PF_HOST_SIZE], host[PF_HOST_SIZE] = "", ip[PF_IP_SIZE] = "";
    const char *end = strchr(rest + 4, '>'), *at, *relay, *status;
    size_t settled;
    bool own;

    at = NULL;
    for (const char *p = rest + 4; end != NULL && p < end; p++)
        if (*p == '@')
            at = p;
    if (at == NULL || !lf_host_name(at + 1, (size_t)(end - at - 1), domain)) {
        lf_reject(parser, LF_REJECT_BAD_ADDRESS);
        return;
    }
    relay = strstr(end, ", relay=");
    if (relay != NULL && strncmp(relay + 8, "none", 4) != 0 &&
        relay[8 + strcspn(relay + 8, "[,")] == '[' &&
        lf_host_address(relay + 8, host, ip) == NULL) {
        lf_reject(parser, LF_REJECT_BAD_ADDRESS);
        return;
    }
    status = strstr(end, ", status=");
    own = lf_table_get(state->reports, qid, strlen(qid)) != NULL;
    settled = pf_settle(parser, proc, qid, domain, own);
    if (settled == 0 && host[0] != '\0') {
        /* tlsproxy did the handshake: its attempts are keyed by relay. */
        char key[PROXY_KEY_SIZE];
        struct pf_proc *proxy = lf_table_get(state->procs, key, proxy_key(host, ip, key));
        if (proxy != NULL)
            settled = pf_settle(parser, proxy, "", domain, own);
    }
    if (settled > 0) {
        /* Further recipients of this delivery repeat its status: same session. */
        lf_copy(proc->done_qid, sizeof(proc->done_qid), qid);
        proc->done_time = frame->time;
    } else if (status != NULL) {
        if (own) {
            if (strstr(status, "TLS is required") != NULL)
                parser->stats.own_reports++;
        } else {
            status_outcome(parser, proc, frame, qid, status, host, ip, domain);
        }
    }
    proc->tlsa_context = false;
    proc->lib_reason[0] = '\0';
    proc->tlsrpt_host[0] = '\0';
}

/* "QUEUEID: text" without to=: ties this process's open attempts to that queue id. */
static void queue_line(struct lf_parser *parser, struct pf_proc *proc, const struct lf_frame *frame,
                       const char *qid, const char *text)
{
    char host[PF_HOST_SIZE], ip[PF_IP_SIZE];
    size_t tied = 0;

    for (struct pf_attempt *attempt = proc->attempts; attempt != NULL; attempt = attempt->next)
        if (attempt->qid[0] == '\0') {
            lf_copy(attempt->qid, sizeof(attempt->qid), qid);
            tied++;
        }
    if (tied > 0)
        return;
    if (starttls_text(text, host, ip)) {
        struct pf_attempt *attempt;
        if (host[0] == '\0') {
            lf_reject(parser, LF_REJECT_BAD_ADDRESS);
            return;
        }
        attempt = pf_attempt_new(parser, proc, frame, host, ip);
        pf_attempt_fail(attempt, TR_RESULT_STARTTLS_NOT_SUPPORTED, NULL);
        lf_copy(attempt->qid, sizeof(attempt->qid), qid);
    } else if (strstr(text, "Cannot start TLS: handshake failure") != NULL) {
        struct pf_attempt *attempt = pf_attempt_new(parser, proc, frame, NULL, NULL);
        pf_attempt_fail(attempt, TR_RESULT_VALIDATION_FAILURE,
                        proc->lib_reason[0] != '\0' ? proc->lib_reason : NULL);
        lf_copy(attempt->qid, sizeof(attempt->qid), qid);
        proc->lib_reason[0] = '\0';
    }
}

static void qmgr_line(struct pf_state *state, const char *msg)
{
    const char *sender = state->parser->settings.report_sender, *rest;
    char qid[PF_QID_SIZE];
    size_t n;

    if (sender == NULL || sender[0] == '\0' || (rest = queue_id(msg, qid)) == NULL)
        return;
    if (strcmp(rest, "removed") == 0) {
        lf_table_take(state->reports, qid, strlen(qid));
        return;
    }
    if (!starts(rest, "from=<"))
        return;
    n = strcspn(rest + 6, ">");
    if (rest[6 + n] == '>' && lf_own_sender(state->parser, rest + 6, n) &&
        lf_table_get(state->reports, qid, strlen(qid)) == NULL)
        lf_table_put(state->reports, qid, strlen(qid), state);
}

/*
 * With connection reuse, tlsproxy makes the handshake and logs it (and any
 * certificate failure, which only it logs); the smtp process then logs
 * "... TLS connection established to HOST[IP]" for that same handshake.
 * That line adopts tlsproxy's attempt rather than making a second one.
 */
static bool adopt_proxy_attempt(struct pf_state *state, struct pf_proc *proc, const char *host,
                                const char *ip)
{
    char key[PROXY_KEY_SIZE];
    struct pf_proc *proxy = lf_table_get(state->procs, key, proxy_key(host, ip, key));
    struct pf_attempt *attempt = proxy != NULL ? pf_attempt_take(proxy, host, ip) : NULL;

    if (attempt == NULL)
        return false;
    pf_attempt_append(state->parser, proc, attempt);
    return true;
}

/* The lines that start or fail a TLS session on a named host; false for others. */
static bool tls_line(struct pf_state *state, struct pf_proc *proc, bool is_proxy,
                     const struct lf_frame *frame, const char *msg)
{
    struct lf_parser *parser = state->parser;
    char host[PF_HOST_SIZE], ip[PF_IP_SIZE];
    struct pf_attempt *attempt, *last;
    const char *p, *end;

    if ((p = strstr(msg, " TLS connection established to ")) != NULL) {
        if ((end = lf_host_address(p + 31, host, ip)) == NULL) {
            lf_reject(parser, LF_REJECT_BAD_ADDRESS);
            return true;
        }
        if (!is_proxy && adopt_proxy_attempt(state, proc, host, ip))
            return true;
        last = pf_attempt_last(proc);
        if (covered(proc, host) ||
            (last != NULL && last->qid[0] == '\0' && strcmp(last->host, host) == 0 &&
             strcmp(last->ip, ip) == 0 && last->failed))
            return true; /* the Untrusted line after a verification failure */
        attempt = pf_attempt_new(parser, proc, frame, host, ip);
        attempt->unverified = p - msg == 9 && memcmp(msg, "Untrusted", 9) == 0;
    } else if ((p = strstr(msg, "certificate verification failed for ")) != NULL) {
        if ((end = lf_host_address(p + 36, host, ip)) == NULL) {
            lf_reject(parser, LF_REJECT_BAD_ADDRESS);
            return true;
        }
        if (covered(proc, host))
            return true;
        if (*end == ':')
            end++;
        while (*end == ' ')
            end++;
        attempt = pf_attempt_new(parser, proc, frame, host, ip);
        pf_attempt_fail(attempt, certificate_cause(end), end);
    } else if (starts(msg, "SSL_connect error to ")) {
        if (lf_host_address(msg + 21, host, ip) == NULL) {
            lf_reject(parser, LF_REJECT_BAD_ADDRESS);
            return true;
        }
        if (covered(proc, host))
            return true;
        attempt = pf_attempt_new(parser, proc, frame, host, ip);
        pf_attempt_fail(attempt, TR_RESULT_VALIDATION_FAILURE,
                        proc->lib_reason[0] != '\0' ? proc->lib_reason : NULL);
        attempt->need_reason = proc->lib_reason[0] == '\0';
        proc->lib_reason[0] = '\0';
    } else {
        return false;
    }
    return true;
}

static void smtp_line(struct pf_state *state, const struct lf_frame *frame, char *msg)
{
    struct lf_parser *parser = state->parser;
    char qid[PF_QID_SIZE], key[PROXY_KEY_SIZE];
    struct pf_proc *proc;
    const char *rest;

    if (strstr(msg, "TLS connection reused") != NULL)
        return;
    if (service_of(frame) == PF_TLSPROXY) {
        /* tlsproxy serves many smtp processes: key its sessions by the relay. */
        char host[PF_HOST_SIZE], ip[PF_IP_SIZE];
        const char *to = strstr(msg, " to ");
        const char *for_ = strstr(msg, " for ");
        const char *at = to != NULL ? to + 4 : for_ != NULL ? for_ + 5 : NULL;
        if (at == NULL || lf_host_address(at, host, ip) == NULL)
            return;
        (void)tls_line(state, pf_proc_get(state, key, proxy_key(host, ip, key)), true, frame, msg);
        return;
    }
    proc = pf_proc_get(state, frame->session_key, frame->session_key_len);
    if (starts(msg, "warning: TLS library problem: ")) {
        struct pf_attempt *last = pf_attempt_last(proc);
        char reason[PF_REASON_SIZE];
        library_reason(msg + 30, reason);
        if (last != NULL && last->need_reason) {
            memcpy(last->reason, reason, sizeof(reason));
            last->need_reason = false;
        } else if (proc->lib_reason[0] == '\0') {
            memcpy(proc->lib_reason, reason, sizeof(reason));
        }
    } else if (starts(msg, "warning: TLS policy lookup for ")) {
        policy_lookup(parser, proc, frame, msg + 31, false);
    } else if (starts(msg, "warning: TLS policy lookup error for ")) {
        policy_lookup(parser, proc, frame, msg + 37, true);
    } else if (starts(msg, "TLSRPT: ")) {
        tlsrpt_line(parser, proc, frame, msg + 8);
    } else if ((rest = queue_id(msg, qid)) != NULL) {
        if (starts(rest, "to=<"))
            delivery_line(state, proc, frame, qid, rest);
        else
            queue_line(parser, proc, frame, qid, rest);
    } else if (!tls_line(state, proc, false, frame, msg) &&
               (strstr(msg, "TLSA") != NULL || strstr(msg, "DANE") != NULL)) {
        proc->tlsa_context = true;
    }
}

void lf_postfix_line(struct lf_parser *parser, const struct lf_frame *frame)
{
    struct pf_state *state = parser->format_state;
    enum pf_service service = service_of(frame);
    char msg[LF_MAX_LINE + 1];

    if (service == PF_OTHER)
        return;
    parser->stats.relevant++;
    if (!lf_frame_text_ok(frame) || frame->message_len > LF_MAX_LINE) {
        lf_reject(parser, LF_REJECT_BAD_TEXT);
        return;
    }
    memcpy(msg, frame->message, frame->message_len);
    msg[frame->message_len] = '\0';
    if (service == PF_QMGR)
        qmgr_line(state, msg);
    else
        smtp_line(state, frame, msg);
}
