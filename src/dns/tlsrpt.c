/*
 * tlsrpt.c - the grammar of the _smtp._tls TXT record (RFC 8460 §3): its
 * fields, rua lists and extensions, and which destinations are safe to put
 * later into mail headers and HTTP requests.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "dns.h"
#include "dns_impl.h"
#include "util.h"

#define TLSRPT_VERSION "v=TLSRPTv1"
#define TLSRPT_PREFIX TLSRPT_VERSION ";"
#define EXT_NAME_MAX 32 /* (ALPHA / DIGIT) *31(...) */
#define MAX_NOTES 16    /* a hostile record cannot make the notes grow unbounded */
#define QUOTE_MAX 120   /* bytes of a URI or field shown in a note or an error */

struct parser {
    struct dns_tlsrpt_record *record;
    size_t max_rua;
    size_t n_rua_fields;
    size_t notes_dropped; /* notes beyond MAX_NOTES, summarized at the end */
};

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Appends text for people: quoted, with control, non-ASCII, quote and
 * backslash bytes escaped, so that a record crafted to carry CR LF cannot
 * break a log line or a terminal; long text is cut.
 */
static void put_quoted(struct buf *out, const char *text, size_t len)
{
    buf_putc(out, '"');
    for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c >= 0x7f)
            buf_printf(out, "\\x%02X", c);
        else if (c == '"' || c == '\\')
            buf_printf(out, "\\%c", c);
        else
            buf_putc(out, (char)c);
    }
    buf_puts(out, len > QUOTE_MAX ? "\"..." : "\"");
}

static char *quoted_message(const char *prefix, const char *text, size_t len, const char *suffix)
{
    struct buf message;

    buf_init(&message);
    buf_puts(&message, prefix);
    put_quoted(&message, text, len);
    buf_puts(&message, suffix);
    return buf_steal(&message);
}

static void append_note(struct dns_tlsrpt_record *record, char *note)
{
    record->notes = xreallocarray(record->notes, record->n_notes + 1, sizeof(char *));
    record->notes[record->n_notes++] = note;
}

static void add_note(struct parser *parser, char *note)
{
    if (parser->record->n_notes >= MAX_NOTES) {
        parser->notes_dropped++;
        free(note);
        return;
    }
    append_note(parser->record, note);
}

static void note_skipped(struct parser *parser, const char *uri, const char *why)
{
    add_note(parser, quoted_message("skipped ", uri, strlen(uri), why));
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes exactly %2C, %21 and %3B. RFC 8460 makes publishers encode these
 * three because they delimit the record; any other %XX belongs to the URI
 * itself and keeps its meaning only while encoded (%3F in a mailbox is not
 * the start of hfields, %2F in a path is not a separator, %0D%0A must not
 * become a line break), so it is left for the scheme's own decoding.
 */
static char *decode_delimiters(const char *text, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (text[i] == '%' && i + 2 < len && hex_value(text[i + 1]) >= 0 &&
            hex_value(text[i + 2]) >= 0) {
            int c = hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]);
            if (c == ',' || c == '!' || c == ';') {
                out[n++] = (char)c;
                i += 2;
                continue;
            }
        }
        out[n++] = text[i];
    }
    out[n] = '\0';
    return out;
}

/* NULL when every byte may appear in a URI (RFC 3986), else why not. */
static const char *uri_chars_error(const char *uri)
{
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f)
            return ": control, space or non-ASCII character in the URI";
        if (strchr("\"<>\\^`{|}", *p))
            return ": character not allowed in a URI";
    }
    return NULL;
}

/* The length of "scheme" in "scheme:..." (RFC 3986 §3.1), or 0. */
static size_t scheme_length(const char *uri)
{
    size_t i = 0;

    if (!isalpha((unsigned char)uri[0]))
        return 0;
    while (isalnum((unsigned char)uri[i]) || uri[i] == '+' || uri[i] == '-' || uri[i] == '.')
        i++;
    return uri[i] == ':' ? i : 0;
}

/*
 * The mailbox of a mailto: URI (RFC 6068): the part before any "?"
 * percent-decoded once, which must be one RFC 5321 Mailbox (a quoted local
 * part such as %22a%2Cb%22 included). Decoding first means an encoded
 * CR LF, NUL or "<" is seen and refused here. NULL when unusable.
 */
static char *mailto_target(const char *uri)
{
    const char *to = uri + strlen("mailto:");
    size_t len = strcspn(to, "?");
    char *address = xmalloc(len + 1);
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (to[i] == '%') {
            if (i + 2 >= len || hex_value(to[i + 1]) < 0 || hex_value(to[i + 2]) < 0)
                goto bad;
            address[n++] = (char)(hex_value(to[i + 1]) * 16 + hex_value(to[i + 2]));
            i += 2;
        } else {
            address[n++] = to[i];
        }
    }
    address[n] = '\0';
    if (strlen(address) == n && tr_mailbox_ok(address))
        return address;
bad:
    free(address);
    return NULL;
}

/* An https: URI needs "//" and a host (RFC 3986 §3.2). */
static bool https_has_host(const char *uri)
{
    const char *authority = uri + strlen("https:");

    if (strncmp(authority, "//", 2) != 0)
        return false;
    authority += 2;
    size_t len = strcspn(authority, "/?#");
    const char *host = authority;
    for (size_t i = 0; i < len; i++)
        if (authority[i] == '@')
            host = authority + i + 1;
    size_t host_len = (size_t)(authority + len - host);
    if (host_len > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', host_len);
        if (close == NULL || close == host + 1)
            return false;
        return close + 1 == host + host_len || close[1] == ':';
    }
    const char *colon = memchr(host, ':', host_len);
    if (colon) {
        for (const char *p = colon + 1; p < host + host_len; p++)
            if (!isdigit((unsigned char)*p))
                return false;
        host_len = (size_t)(colon - host);
    }
    return host_len > 0;
}

static bool already_kept(const struct dns_tlsrpt_record *record, enum dns_rua_scheme scheme,
                         const char *uri, const char *target)
{
    for (size_t i = 0; i < record->n_rua; i++) {
        const struct dns_rua *rua = &record->rua[i];
        if (strcmp(rua->uri, uri) == 0 ||
            (rua->scheme == scheme && strcmp(rua->target, target) == 0))
            return true;
    }
    return false;
}

/* One URI of a rua list: kept, or noted with the reason it was skipped. */
static void handle_uri(struct parser *parser, const char *text, size_t len)
{
    struct dns_tlsrpt_record *record = parser->record;
    char *uri = decode_delimiters(text, len);
    char *target = NULL;
    enum dns_rua_scheme scheme = DNS_RUA_MAILTO;
    const char *error = uri_chars_error(uri);
    size_t scheme_len = error ? 0 : scheme_length(uri);

    /* Schemes are case-insensitive (RFC 3986 §3.1): kept in the canonical lower case. */
    for (size_t i = 0; i < scheme_len; i++)
        uri[i] = (char)tolower((unsigned char)uri[i]);
    if (error) {
        note_skipped(parser, uri, error);
    } else if (scheme_len == 0) {
        note_skipped(parser, uri, ": not a URI");
    } else if (scheme_len == 6 && strncasecmp(uri, "mailto", 6) == 0) {
        scheme = DNS_RUA_MAILTO;
        target = mailto_target(uri);
        if (target == NULL)
            note_skipped(parser, uri, ": not one address local@domain");
    } else if (scheme_len == 5 && strncasecmp(uri, "https", 5) == 0) {
        scheme = DNS_RUA_HTTPS;
        if (https_has_host(uri))
            target = xstrdup(uri);
        else
            note_skipped(parser, uri, ": no host");
    } else {
        char *why = quoted_message(": unsupported scheme ", uri, scheme_len, "");
        note_skipped(parser, uri, why);
        free(why);
    }
    if (target == NULL) {
        free(uri);
        return;
    }
    if (already_kept(record, scheme, uri, target)) {
        note_skipped(parser, uri, ": duplicate");
    } else if (record->n_rua >= parser->max_rua) {
        char *why = xasprintf(": more than %zu destination%s", parser->max_rua,
                              parser->max_rua == 1 ? "" : "s");
        note_skipped(parser, uri, why);
        free(why);
    } else {
        if (scheme == DNS_RUA_MAILTO) {
            /* The destination from now on: what mail goes to, decoded once. */
            free(uri);
            uri = xasprintf("mailto:%s", target);
        }
        record->rua = xreallocarray(record->rua, record->n_rua + 1, sizeof(struct dns_rua));
        record->rua[record->n_rua++] = (struct dns_rua){scheme, uri, target};
        return;
    }
    free(uri);
    free(target);
}

/* tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri) */
static int parse_rua(struct parser *parser, const char *value, size_t len, char **error_r)
{
    parser->n_rua_fields++;
    if (len == 0 || is_wsp(value[0])) {
        *error_r = xstrdup("\"rua=\" must be followed directly by a URI");
        return -1;
    }
    size_t start = 0;
    while (start <= len) {
        const char *comma = memchr(value + start, ',', len - start);
        size_t end = comma ? (size_t)(comma - value) : len;
        size_t first = start, last = end;
        while (first < last && is_wsp(value[first]))
            first++;
        while (last > first && is_wsp(value[last - 1]))
            last--;
        if (first == last) {
            *error_r = quoted_message("empty URI in ", value - 4, len + 4, "");
            return -1;
        }
        handle_uri(parser, value + first, last - first);
        start = end + 1;
    }
    return 0;
}

/* tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value */
static bool extension_ok(const char *field, size_t len)
{
    const char *equals = memchr(field, '=', len);

    if (equals == NULL || equals == field || (size_t)(equals - field) > EXT_NAME_MAX ||
        !isalnum((unsigned char)field[0]))
        return false;
    for (const char *p = field; p < equals; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    if (equals + 1 == field + len)
        return false;
    for (const char *p = equals + 1; p < field + len; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x21 || c > 0x7e || c == '=' || c == ';')
            return false;
    }
    return true;
}

static int parse_field(struct parser *parser, const char *field, size_t len, char **error_r)
{
    if (len >= 4 && strncmp(field, "rua=", 4) == 0)
        return parse_rua(parser, field + 4, len - 4, error_r);
    /* Unknown fields are ignored (§3), but only when they are well formed. */
    if (extension_ok(field, len))
        return 0;
    *error_r = quoted_message("bad field ", field, len, "");
    return -1;
}

static char *no_usable_rua(const struct dns_tlsrpt_record *record)
{
    struct buf message;

    buf_init(&message);
    buf_puts(&message, "no usable rua destination");
    for (size_t i = 0; i < record->n_notes; i++)
        buf_printf(&message, "%s%s", i == 0 ? ": " : "; ", record->notes[i]);
    return buf_steal(&message);
}

static int parse_fields(struct parser *parser, const char *text, char **error_r)
{
    /* The version was checked; text is at the ";" after it. */
    const char *pos = text + strlen(TLSRPT_VERSION);
    size_t n_fields = 0;

    for (;;) {
        /* field-delim = *WSP ";" *WSP; the last one is optional. */
        while (is_wsp(*pos))
            pos++;
        if (*pos == '\0') {
            *error_r = xstrdup("white space after the last field");
            return -1;
        }
        pos++; /* the ";": fields end only at one or at the end */
        while (is_wsp(*pos))
            pos++;
        if (*pos == '\0')
            break;
        size_t len = strcspn(pos, ";");
        while (len > 0 && is_wsp(pos[len - 1]))
            len--;
        if (len == 0) {
            *error_r = xstrdup("empty field");
            return -1;
        }
        if (parse_field(parser, pos, len, error_r) < 0)
            return -1;
        n_fields++;
        pos += len;
        if (*pos == '\0')
            break;
    }
    if (n_fields == 0) {
        *error_r = xstrdup("no field after " TLSRPT_VERSION);
        return -1;
    }
    if (parser->n_rua_fields == 0) {
        *error_r = xstrdup("no rua field");
        return -1;
    }
    if (parser->notes_dropped > 0)
        append_note(parser->record, xasprintf("%zu more skipped", parser->notes_dropped));
    if (parser->record->n_rua == 0) {
        *error_r = no_usable_rua(parser->record);
        return -1;
    }
    return 0;
}

int dns_text_check(const char *text, size_t len, char **error_r)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            *error_r = xasprintf("control character 0x%02X at byte %zu: a record with a NUL or "
                                 "control character is refused whole",
                                 c, i + 1);
            return -1;
        }
    }
    return 0;
}

int dns_tlsrpt_parse(const char *text, size_t max_rua, struct dns_tlsrpt_record *record,
                     char **error_r)
{
    struct parser parser = {.record = record, .max_rua = max_rua};

    memset(record, 0, sizeof(*record));
    /*
     * The grammar allows white space before the first ";", but §3 discards
     * records that do not begin with exactly "v=TLSRPTv1;", so such a record
     * can never be the one used: refuse it here too.
     */
    if (strncmp(text, TLSRPT_PREFIX, strlen(TLSRPT_PREFIX)) != 0) {
        *error_r = xstrdup("does not begin with \"" TLSRPT_PREFIX "\"");
        return -1;
    }
    if (dns_text_check(text, strlen(text), error_r) < 0)
        return -1;
    record->text = xstrdup(text);
    if (parse_fields(&parser, text, error_r) < 0) {
        dns_tlsrpt_record_free(record);
        return -1;
    }
    return 0;
}

void dns_tlsrpt_record_free(struct dns_tlsrpt_record *record)
{
    if (record == NULL)
        return;
    free(record->text);
    for (size_t i = 0; i < record->n_rua; i++) {
        free(record->rua[i].uri);
        free(record->rua[i].target);
    }
    free(record->rua);
    for (size_t i = 0; i < record->n_notes; i++)
        free(record->notes[i]);
    free(record->notes);
    memset(record, 0, sizeof(*record));
}
