/*
 * callbacks.c - tlsrpt-milter's libmilter callbacks: prefetch of recipient
 * domains at RCPT TO, the loop guard for report mail (TLS-Required: No, and
 * its queue id to the daemon's log follower) and bounces of our report mail
 * collected for the outbox. Every callback answers at once or within a
 * bounded time, and none ever rejects or delays mail by its answer.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libmilter/mfapi.h>

#include "ctl.h"
#include "milter_impl.h"

/* One connection's message in progress (libmilter gives each connection one thread). */
struct message {
    char sender[MILTER_MAX_ADDRESS];
    char bounce_recipient[MILTER_MAX_ADDRESS];
    bool own_sender;        /* the envelope sender is our report sender */
    bool bounce;            /* a recipient is a VERP address of ours */
    bool too_large;         /* the bounce was larger than milter_max_message_size */
    bool has_tls_required;  /* a TLS-Required header is there already */
    bool has_report_domain; /* TLS-Report-Domain */
    bool tlsrpt_type;       /* Content-Type: multipart/report; report-type="tlsrpt" */
    struct buf text;        /* the bounce: headers and body, bounded */
};

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;

/* A warning that can repeat with every message: the first, then at most one a minute. */
static void warn_rated(struct msg_rate *rate, const char *what, const char *detail)
{
    uint64_t held_back;
    bool allow;

    pthread_mutex_lock(&warn_lock);
    allow = msg_rate_allow(rate, time(NULL), &held_back);
    pthread_mutex_unlock(&warn_lock);
    if (allow)
        msg_warn("%s%s (%llu more since the last warning)", what, detail,
                 (unsigned long long)held_back);
}

static void message_reset(struct message *m)
{
    struct buf text = m->text;

    buf_free(&text);
    memset(m, 0, sizeof(*m));
}

static struct message *message_of(SMFICTX *ctx)
{
    return smfi_getpriv(ctx);
}

/*
 * Content-Type: multipart/report; report-type="tlsrpt" (RFC 8460 §5.3),
 * parameters in any order and case, quoted or not. Only the start of a
 * (possibly huge, hostile) value is looked at.
 */
static bool is_tlsrpt_type(const char *value)
{
    char lower[1024];
    size_t n = 0;
    const char *p;

    while (*value == ' ' || *value == '\t')
        value++;
    for (; value[n] != '\0' && n < sizeof(lower) - 1; n++)
        lower[n] = (char)tolower((unsigned char)value[n]);
    lower[n] = '\0';
    if (strncmp(lower, "multipart/report", 16) != 0)
        return false;
    for (p = lower; (p = strstr(p, "report-type")) != NULL; p++) {
        const char *v = p + 11;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v++ != '=')
            continue;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v == '"')
            v++;
        if (strncmp(v, "tlsrpt", 6) == 0 && strchr("\"; \t", v[6]) != NULL)
            return true;
    }
    return false;
}

/* A bounce is kept up to milter_max_message_size; beyond, it goes on untouched. */
static void bounce_append(struct message *m, const char *data, size_t len)
{
    if (!m->bounce || m->too_large)
        return;
    if (m->text.len + len > milter.max_message) {
        m->too_large = true;
        buf_free(&m->text);
        return;
    }
    buf_append(&m->text, data, len);
}

static sfsistat on_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *address)
{
    (void)host;
    (void)address;
    smfi_setpriv(ctx, xcalloc(1, sizeof(struct message)));
    return SMFIS_CONTINUE;
}

static sfsistat on_envfrom(SMFICTX *ctx, char **argv)
{
    struct message *m = message_of(ctx);

    if (m == NULL)
        return SMFIS_ACCEPT;
    message_reset(m);
    atomic_fetch_add(&milter.counts.messages, 1);
    if (milter_address(argv[0], m->sender))
        m->own_sender = milter_is_own_sender(m->sender);
    return SMFIS_CONTINUE;
}

static sfsistat on_envrcpt(SMFICTX *ctx, char **argv)
{
    struct message *m = message_of(ctx);
    char recipient[MILTER_MAX_ADDRESS];
    const char *at;

    if (m == NULL || !milter_address(argv[0], recipient))
        return SMFIS_CONTINUE;
    if (milter_is_bounce_address(recipient)) {
        if (!m->bounce)
            memcpy(m->bounce_recipient, recipient, sizeof(recipient));
        m->bounce = true;
        return SMFIS_CONTINUE;
    }
    /* Our own report mail needs no prefetch: tlsrptd looked its rua up itself. */
    if (!m->own_sender && (at = strrchr(recipient, '@')) != NULL && at[1] != '\0')
        prefetch_domain(at + 1);
    return SMFIS_CONTINUE;
}

static sfsistat on_header(SMFICTX *ctx, char *name, char *value)
{
    struct message *m = message_of(ctx);

    if (m == NULL)
        return SMFIS_CONTINUE;
    if (strcasecmp(name, "TLS-Required") == 0)
        m->has_tls_required = true;
    else if (strcasecmp(name, "TLS-Report-Domain") == 0)
        m->has_report_domain = true;
    else if (strcasecmp(name, "Content-Type") == 0 && !m->tlsrpt_type)
        m->tlsrpt_type = is_tlsrpt_type(value);
    if (m->bounce) {
        bounce_append(m, name, strlen(name));
        bounce_append(m, ": ", 2);
        bounce_append(m, value, strlen(value));
        bounce_append(m, "\r\n", 2);
    }
    return SMFIS_CONTINUE;
}

static sfsistat on_eoh(SMFICTX *ctx)
{
    struct message *m = message_of(ctx);

    if (m != NULL)
        bounce_append(m, "\r\n", 2);
    return SMFIS_CONTINUE;
}

static sfsistat on_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct message *m = message_of(ctx);

    if (m != NULL)
        bounce_append(m, (const char *)chunk, len);
    return SMFIS_CONTINUE;
}

/*
 * The log follower must know report mail by its queue id before the MTA
 * logs its deliveries: a control request, answered from memory by the daemon.
 */
static void tell_own_mail(const char *queue_id)
{
    static struct msg_rate no_id_rate, failed_rate;
    struct ctl_response response = {0};
    char *request, *error = NULL;

    if (queue_id == NULL || queue_id[0] == '\0') {
        atomic_fetch_add(&milter.counts.no_queue_id, 1);
        warn_rated(&no_id_rate, "report mail without a queue id: the MTA sends no {i} macro",
                   " at end of message; its deliveries may be counted as TLS sessions");
        return;
    }
    request = xasprintf("own-mail %s", queue_id);
    if (ctl_call(milter.control_socket, request, MILTER_CONTROL_TIMEOUT_MS, &response, &error) <
            0 ||
        !response.ok) {
        atomic_fetch_add(&milter.counts.own_mail_failed, 1);
        char *detail = xasprintf(": %s", error ? error : response.error);
        warn_rated(&failed_rate, "tlsrptd was not told of report mail", detail);
        free(detail);
    } else {
        atomic_fetch_add(&milter.counts.own_mail_told, 1);
        msg_debug("report mail %s: told the log follower", queue_id);
    }
    free(error);
    free(request);
    ctl_response_free(&response);
}

static sfsistat bounce_end(SMFICTX *ctx, struct message *m)
{
    static struct msg_rate large_rate;

    atomic_fetch_add(&milter.counts.bounces, 1);
    if (m->too_large) {
        atomic_fetch_add(&milter.counts.bounces_too_large, 1);
        char *detail = xasprintf(" to %s: passed on untouched", m->bounce_recipient);
        warn_rated(&large_rate, "bounce larger than milter_max_message_size", detail);
        free(detail);
        return SMFIS_CONTINUE;
    }
    if (bounce_apply(m->bounce_recipient, m->text.data ? m->text.data : "", m->text.len) <= 0) {
        atomic_fetch_add(&milter.counts.bounces_unmatched, 1);
        return SMFIS_CONTINUE;
    }
    atomic_fetch_add(&milter.counts.bounces_matched, 1);
    switch (milter.dsn_action) {
    case MILTER_DSN_DISCARD:
        return SMFIS_DISCARD;
    case MILTER_DSN_QUARANTINE:
        smfi_quarantine(ctx, "tlsrpt-milter: bounce of report mail, applied to the outbox");
        return SMFIS_ACCEPT;
    case MILTER_DSN_ACCEPT:
        break;
    }
    return SMFIS_ACCEPT;
}

static sfsistat on_eom(SMFICTX *ctx)
{
    struct message *m = message_of(ctx);
    sfsistat result = SMFIS_CONTINUE;

    if (m == NULL)
        return SMFIS_CONTINUE;
    if (m->own_sender || (m->has_report_domain && m->tlsrpt_type)) {
        atomic_fetch_add(&milter.counts.report_mail, 1);
        /* RFC 8460 §4.1 / RFC 8689: a report must get through even where TLS fails. */
        if (!m->has_tls_required && smfi_addheader(ctx, "TLS-Required", "No") == MI_SUCCESS)
            atomic_fetch_add(&milter.counts.headers_added, 1);
        tell_own_mail(smfi_getsymval(ctx, "i"));
    }
    if (m->bounce)
        result = bounce_end(ctx, m);
    message_reset(m);
    return result;
}

static sfsistat on_abort(SMFICTX *ctx)
{
    struct message *m = message_of(ctx);

    if (m != NULL)
        message_reset(m);
    return SMFIS_CONTINUE;
}

static sfsistat on_close(SMFICTX *ctx)
{
    struct message *m = message_of(ctx);

    if (m != NULL) {
        message_reset(m);
        free(m);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

struct smfiDesc milter_callbacks = {
    .xxfi_name = "tlsrpt-milter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_QUARANTINE,
    .xxfi_connect = on_connect,
    .xxfi_envfrom = on_envfrom,
    .xxfi_envrcpt = on_envrcpt,
    .xxfi_header = on_header,
    .xxfi_eoh = on_eoh,
    .xxfi_body = on_body,
    .xxfi_eom = on_eom,
    .xxfi_abort = on_abort,
    .xxfi_close = on_close,
};
