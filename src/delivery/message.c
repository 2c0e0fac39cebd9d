/*
 * message.c - the RFC 8460 §5.3 report message: multipart/report with a
 * text/plain summary and the gzip report as a base64 attachment, built with
 * CRLF line ends and header values checked so nothing can be injected.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>

#include "core.h"
#include "delivery.h"
#include "util.h"

/* Values longer than this have no business in a header or in the summary. */
#define FIELD_MAX 512
/* RFC 5322 §2.1.1: lines SHOULD be at most 78 characters, MUST be at most 998. */
#define LINE_SOFT_MAX 78
#define LINE_HARD_MAX 998
/* 57 input bytes make one 76-character base64 line (RFC 2045 §6.8). */
#define BASE64_LINE_INPUT 57
#define BOUNDARY_TRIES 4

const char *dlv_outcome_name(enum dlv_outcome outcome)
{
    switch (outcome) {
    case DLV_DELIVERED:
        return "delivered";
    case DLV_TEMPORARY:
        return "temporary";
    case DLV_PERMANENT:
        return "permanent";
    case DLV_REFUSED:
        return "refused";
    }
    return "unknown";
}

/* What else a value may not contain, beyond control and non-ASCII bytes. */
enum field_kind {
    FIELD_TEXT,    /* printable ASCII and spaces: summary text */
    FIELD_ADDRESS, /* addr-spec: local@domain, no spaces or specials */
    FIELD_DOMAIN,  /* letters, digits, '-', '.', '_' */
    FIELD_ATOMS,   /* dot-atom-text (RFC 5322 §3.2.3): id-left of a msg-id */
    FIELD_MSGID,   /* id-left@id-right, without the angle brackets */
    FIELD_FILE,    /* a quoted-string parameter value: no space, '"', '\\', '/' */
};

static bool is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_dot_atoms(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' ? s[i + 1] == '.' : !is_atext(c))
            return false;
    }
    return true;
}

/* Checks one value that goes into the message; the error names the field. */
static int check_field(const char *field, const char *value, enum field_kind kind, char **error_r)
{
    if (value == NULL || value[0] == '\0') {
        *error_r = xasprintf("report message: %s is empty", field);
        return -1;
    }
    size_t len = strlen(value);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '\r' || c == '\n') {
            *error_r =
                xasprintf("report message: %s contains a CR or LF (header injection)", field);
            return -1;
        }
        if (c < 0x20 || c == 0x7f) {
            *error_r =
                xasprintf("report message: %s contains the control character 0x%02x", field, c);
            return -1;
        }
        if (c >= 0x80) {
            *error_r = xasprintf("report message: %s contains a non-ASCII byte (0x%02x)", field, c);
            return -1;
        }
    }
    if (len > FIELD_MAX) {
        *error_r = xasprintf("report message: %s is longer than %d bytes", field, FIELD_MAX);
        return -1;
    }
    const char *at = strchr(value, '@');
    bool ok = true;
    switch (kind) {
    case FIELD_TEXT:
        break;
    case FIELD_ADDRESS:
        /* A quoted local part ("a,b"@x) is an RFC 5322 addr-spec as it stands. */
        ok = tr_mailbox_ok(value);
        break;
    case FIELD_DOMAIN:
        ok = strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") ==
             len;
        break;
    case FIELD_ATOMS:
        ok = is_dot_atoms(value, len);
        break;
    case FIELD_MSGID:
        ok = at != NULL && is_dot_atoms(value, (size_t)(at - value)) &&
             is_dot_atoms(at + 1, strlen(at + 1));
        break;
    case FIELD_FILE:
        ok = strpbrk(value, " \"\\/") == NULL;
        break;
    }
    if (!ok) {
        *error_r = xasprintf("report message: %s is not valid: \"%s\"", field, value);
        return -1;
    }
    return 0;
}

/*
 * Writes "Name: value" folded at the spaces of value (which has single
 * spaces between its words), so lines stay within 78 characters where the
 * words allow and never exceed 998.
 */
static int put_header(struct buf *out, const char *name, const char *value, char **error_r)
{
    size_t column = strlen(name) + 1;
    bool first = true;

    buf_puts(out, name);
    buf_putc(out, ':');
    for (const char *p = value; *p != '\0';) {
        size_t word = strcspn(p, " ");
        if (first || column + 1 + word <= LINE_SOFT_MAX) {
            buf_putc(out, ' ');
            column += 1;
        } else {
            buf_puts(out, "\r\n "); /* the space is the folding whitespace */
            column = 1;
        }
        buf_append(out, p, word);
        column += word;
        if (column > LINE_HARD_MAX) {
            *error_r =
                xasprintf("report message: a word of the %s header is too long to fold", name);
            return -1;
        }
        first = false;
        p += word;
        if (*p == ' ')
            p++;
    }
    buf_puts(out, "\r\n");
    return 0;
}

/* RFC 5322 §3.3 date-time in UTC; English names whatever the locale. */
static void format_date(time_t t, char *out, size_t size)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int check_message(const struct dlv_message *m, char **error_r)
{
    if (check_field("from", m->from, FIELD_ADDRESS, error_r) < 0 ||
        check_field("to", m->to, FIELD_ADDRESS, error_r) < 0 ||
        check_field("submitter", m->submitter, FIELD_DOMAIN, error_r) < 0 ||
        check_field("policy_domain", m->policy_domain, FIELD_DOMAIN, error_r) < 0 ||
        check_field("unique_id", m->unique_id, FIELD_ATOMS, error_r) < 0 ||
        check_field("file_name", m->file_name, FIELD_FILE, error_r) < 0)
        return -1;
    if (m->report_id && check_field("report_id", m->report_id, FIELD_TEXT, error_r) < 0)
        return -1;
    /* Only in the text part, which carries UTF-8 safely (quoted-printable). */
    if (m->organization_name &&
        (strlen(m->organization_name) > 512 ||
         !tr_text_ok(m->organization_name, strlen(m->organization_name)))) {
        *error_r = xstrdup("report message: organization_name is not printable UTF-8 text");
        return -1;
    }
    if (m->message_id && check_field("message_id", m->message_id, FIELD_MSGID, error_r) < 0)
        return -1;
    for (size_t i = 0; i < m->n_top_failures; i++) {
        if (check_field("top_failures result_type", m->top_failures[i].result_type, FIELD_DOMAIN,
                        error_r) < 0)
            return -1;
    }
    const unsigned char *gzip = m->gzip;
    if (gzip == NULL || m->gzip_len < 2 || gzip[0] != 0x1f || gzip[1] != 0x8b) {
        *error_r = xstrdup("report message: the attachment is not gzip data");
        return -1;
    }
    return 0;
}

/* The human-readable first part (RFC 8460 §5.3): what the report covers. */
static void put_summary(struct buf *out, const struct dlv_message *m)
{
    char day[DAY_TEXT_SIZE];

    day_format(m->day, day);
    buf_puts(out, "This is an aggregate SMTP TLS report (RFC 8460).\r\n\r\n");
    buf_printf(out, "Policy domain:       %s\r\n", m->policy_domain);
    buf_printf(out, "Submitter:           %s\r\n", m->submitter);
    if (m->organization_name)
        buf_printf(out, "Organization:        %s\r\n", m->organization_name);
    buf_printf(out, "Day:                 %s (00:00:00 to 23:59:59 UTC)\r\n", day);
    if (m->report_id)
        buf_printf(out, "Report ID:           %s\r\n", m->report_id);
    buf_printf(out, "Successful sessions: %llu\r\n", (unsigned long long)m->successes);
    buf_printf(out, "Failed sessions:     %llu\r\n", (unsigned long long)m->failures);
    if (m->n_top_failures > 0) {
        buf_puts(out, "Top failure types:\r\n");
        for (size_t i = 0; i < m->n_top_failures; i++)
            buf_printf(out, "  %s: %llu\r\n", m->top_failures[i].result_type,
                       (unsigned long long)m->top_failures[i].count);
    }
    buf_printf(out,
               "\r\nThe report itself is the attachment (gzip-compressed JSON,\r\n"
               "application/tlsrpt+gzip):\r\n%s\r\n",
               m->file_name);
}

/*
 * Quoted-printable (RFC 2045 §6.7) for a text part with UTF-8 in it: 7-bit
 * clean, so no relay rewrites it and breaks the DKIM signature. Lines end
 * in CRLF already; soft breaks keep every line within 76 characters.
 */
static void put_quoted_printable(struct buf *out, const char *text, size_t len)
{
    size_t column = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\r' && i + 1 < len && text[i + 1] == '\n') {
            buf_puts(out, "\r\n");
            column = 0;
            i++;
            continue;
        }
        bool plain = (c >= 33 && c <= 126 && c != '=') ||
                     (c == ' ' && i + 1 < len && text[i + 1] != '\r');
        size_t width = plain ? 1 : 3;
        if (column + width > 75) {
            buf_puts(out, "=\r\n");
            column = 0;
        }
        if (plain)
            buf_putc(out, c);
        else
            buf_printf(out, "=%02X", c);
        column += width;
    }
}

static bool has_8bit(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] >= 0x80)
            return true;
    return false;
}

static void put_base64(struct buf *out, const unsigned char *data, size_t len)
{
    unsigned char line[4 * BASE64_LINE_INPUT / 3 + 1];

    buf_reserve(out, len / BASE64_LINE_INPUT * (sizeof(line) + 1) + sizeof(line) + 2);
    for (size_t done = 0; done < len; done += BASE64_LINE_INPUT) {
        size_t n = len - done < BASE64_LINE_INPUT ? len - done : BASE64_LINE_INPUT;
        int written = EVP_EncodeBlock(line, data + done, (int)n);
        buf_append(out, line, (size_t)written);
        buf_puts(out, "\r\n");
    }
}

/* A random boundary; '_' is not in the base64 alphabet, and the caller checks the text. */
static int make_boundary(char *out, size_t size, char **error_r)
{
    unsigned char random[16];

    if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random)) {
        *error_r = xstrdup("report message: getrandom failed for the MIME boundary");
        return -1;
    }
    int n = snprintf(out, size, "=_tlsrpt_");
    for (size_t i = 0; i < sizeof(random); i++)
        n += snprintf(out + n, size - (size_t)n, "%02x", random[i]);
    return 0;
}

int dlv_message_build(const struct dlv_message *m, struct buf *out, char **error_r)
{
    struct buf text = {0}, attachment = {0}, value = {0};
    char date[160], boundary[64];
    int status = -1;

    buf_reset(out);
    if (check_message(m, error_r) < 0)
        return -1;
    put_summary(&text, m);
    put_base64(&attachment, m->gzip, m->gzip_len);
    for (int tries = 0;; tries++) {
        if (tries == BOUNDARY_TRIES) {
            *error_r = xstrdup("report message: no MIME boundary absent from the content");
            goto done;
        }
        if (make_boundary(boundary, sizeof(boundary), error_r) < 0)
            goto done;
        if (!memmem(text.data, text.len, boundary, strlen(boundary)) &&
            !memmem(attachment.data, attachment.len, boundary, strlen(boundary)))
            break;
    }

    time_t when = m->date > 0 ? m->date : time(NULL);
    format_date(when, date, sizeof(date));
    if (put_header(out, "From", m->from, error_r) < 0 || put_header(out, "To", m->to, error_r) < 0)
        goto done;
    buf_printf(&value, "Report Domain: %s Submitter: %s Report-ID: <%s@%s>", m->policy_domain,
               m->submitter, m->unique_id, m->submitter);
    if (put_header(out, "Subject", buf_cstr(&value), error_r) < 0 ||
        put_header(out, "Date", date, error_r) < 0)
        goto done;
    buf_reset(&value);
    if (m->message_id)
        buf_printf(&value, "<%s>", m->message_id);
    else
        buf_printf(&value, "<tlsrpt.%s.%lld@%s>", m->unique_id, (long long)when, m->submitter);
    if (put_header(out, "Message-ID", buf_cstr(&value), error_r) < 0 ||
        put_header(out, "MIME-Version", "1.0", error_r) < 0)
        goto done;
    buf_reset(&value);
    buf_printf(&value, "multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"", boundary);
    if (put_header(out, "Content-Type", buf_cstr(&value), error_r) < 0 ||
        put_header(out, "TLS-Report-Domain", m->policy_domain, error_r) < 0 ||
        put_header(out, "TLS-Report-Submitter", m->submitter, error_r) < 0 ||
        put_header(out, "TLS-Required", "No", error_r) < 0 ||
        put_header(out, "Auto-Submitted", "auto-generated", error_r) < 0)
        goto done;

    buf_printf(out, "\r\nThis is a multipart message in MIME format.\r\n\r\n--%s\r\n", boundary);
    if (has_8bit(text.data, text.len)) {
        buf_puts(out, "Content-Type: text/plain; charset=\"utf-8\"\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        put_quoted_printable(out, text.data, text.len);
    } else {
        buf_puts(out, "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
                      "Content-Transfer-Encoding: 7bit\r\n\r\n");
        buf_append(out, text.data, text.len);
    }
    buf_printf(out, "\r\n--%s\r\n", boundary);
    buf_reset(&value);
    buf_printf(&value, "application/tlsrpt+gzip; name=\"%s\"", m->file_name);
    if (put_header(out, "Content-Type", buf_cstr(&value), error_r) < 0)
        goto done;
    buf_reset(&value);
    buf_printf(&value, "attachment; filename=\"%s\"", m->file_name);
    if (put_header(out, "Content-Disposition", buf_cstr(&value), error_r) < 0 ||
        put_header(out, "Content-Transfer-Encoding", "base64", error_r) < 0)
        goto done;
    buf_puts(out, "\r\n");
    buf_append(out, attachment.data, attachment.len);
    buf_printf(out, "--%s--\r\n", boundary);
    status = 0;
done:
    if (status < 0)
        buf_reset(out);
    buf_free(&text);
    buf_free(&attachment);
    buf_free(&value);
    return status;
}
