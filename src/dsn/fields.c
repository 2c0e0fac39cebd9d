/*
 * fields.c - a strict reader of the delivery-status fields (RFC 3464 §2.2,
 * §2.3): header-like groups separated by blank lines, folded lines joined,
 * every field and group bounded, unknown and extension fields skipped.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsn_impl.h"
#include "util.h"

struct field {
    char name[64];
    struct buf value;
};

struct group {
    struct field fields[DSN_MAX_FIELDS];
    size_t n;
    int first_line;
};

static void group_reset(struct group *g)
{
    for (size_t i = 0; i < g->n; i++)
        buf_free(&g->fields[i].value);
    g->n = 0;
}

/* The field's value (NUL-terminated, trimmed), or NULL; -1 when given twice. */
static int group_get(struct group *g, const char *name, const char **value_r)
{
    *value_r = NULL;
    for (size_t i = 0; i < g->n; i++) {
        if (strcasecmp(g->fields[i].name, name) != 0)
            continue;
        if (*value_r != NULL)
            return -1;
        *value_r = buf_cstr(&g->fields[i].value);
    }
    return 0;
}

/* "type; value" -> value, trimmed, without <> around an address. */
static char *typed_value(const char *raw)
{
    const char *semi = strchr(raw, ';');

    if (semi == NULL)
        return NULL;
    const char *v = semi + 1 + strspn(semi + 1, " \t");
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= 2 && v[0] == '<' && v[len - 1] == '>') {
        v++;
        len -= 2;
    }
    return len > 0 ? xstrndup(v, len) : NULL;
}

/* The first word (before blank or a comment). */
static char *first_word(const char *raw)
{
    size_t len = strcspn(raw, " \t(");

    return len > 0 ? xstrndup(raw, len) : NULL;
}

/* RFC 3463: class "." subject "." detail, class 2, 4 or 5, 1-3 digits each. */
static bool status_ok(const char *s)
{
    if ((s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    s += 2;
    for (int part = 0; part < 2; part++) {
        size_t digits = strspn(s, "0123456789");
        if (digits < 1 || digits > 3)
            return false;
        s += digits;
        if (part == 0 && *s++ != '.')
            return false;
    }
    return *s == '\0';
}

static const char *const actions[] = {"failed", "delayed", "delivered", "relayed", "expanded"};

static int per_message(struct group *g, struct dsn *dsn, char **error_r)
{
    const char *mta, *envid;

    if (group_get(g, "Reporting-MTA", &mta) < 0 ||
        group_get(g, "Original-Envelope-Id", &envid) < 0) {
        *error_r =
            xasprintf("delivery-status line %d: a per-message field given twice", g->first_line);
        return -1;
    }
    if (mta == NULL || (dsn->reporting_mta = typed_value(mta)) == NULL) {
        *error_r = xasprintf("delivery-status line %d: no Reporting-MTA: \"dns; host\" in the "
                             "per-message fields",
                             g->first_line);
        return -1;
    }
    if (envid && envid[0])
        dsn->original_envelope_id = xstrdup(envid);
    return 0;
}

static int per_recipient(struct group *g, struct dsn_recipient *r, size_t number, char **error_r)
{
    const char *final, *original, *action, *status, *diagnostic, *remote;

    if (group_get(g, "Final-Recipient", &final) < 0 ||
        group_get(g, "Original-Recipient", &original) < 0 || group_get(g, "Action", &action) < 0 ||
        group_get(g, "Status", &status) < 0 || group_get(g, "Diagnostic-Code", &diagnostic) < 0 ||
        group_get(g, "Remote-MTA", &remote) < 0) {
        *error_r = xasprintf("delivery-status line %d (recipient %zu): a field given twice",
                             g->first_line, number);
        return -1;
    }
    const char *missing = final == NULL    ? "Final-Recipient"
                          : action == NULL ? "Action"
                          : status == NULL ? "Status"
                                           : NULL;
    if (missing) {
        *error_r = xasprintf("delivery-status line %d (recipient %zu): no %s", g->first_line,
                             number, missing);
        return -1;
    }
    if ((r->final_recipient = typed_value(final)) == NULL) {
        *error_r = xasprintf("delivery-status line %d (recipient %zu): Final-Recipient is not "
                             "\"type; address\"",
                             g->first_line, number);
        return -1;
    }
    r->action = first_word(action);
    for (char *p = r->action; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    bool known = false;
    for (size_t i = 0; r->action && i < UTIL_ARRAY_LEN(actions); i++)
        known |= strcmp(r->action, actions[i]) == 0;
    if (!known) {
        *error_r = xasprintf("delivery-status line %d (recipient %zu): unknown Action \"%.64s\"",
                             g->first_line, number, action);
        return -1;
    }
    r->status = first_word(status);
    if (r->status == NULL || !status_ok(r->status)) {
        *error_r = xasprintf("delivery-status line %d (recipient %zu): Status \"%.64s\" is not "
                             "class.subject.detail (RFC 3463)",
                             g->first_line, number, status);
        return -1;
    }
    if (original)
        r->original_recipient = typed_value(original);
    if (diagnostic && diagnostic[0])
        r->diagnostic = xstrdup(diagnostic);
    if (remote)
        r->remote_mta = typed_value(remote);
    return 0;
}

/* A group has ended: the first is per-message, the others per-recipient. */
static int group_end(struct group *g, struct dsn *dsn, bool *seen_message, char **error_r)
{
    int result;

    if (g->n == 0)
        return 0;
    if (!*seen_message) {
        *seen_message = true;
        result = per_message(g, dsn, error_r);
    } else if (dsn->n_recipients >= DSN_MAX_RECIPIENTS) {
        *error_r = xasprintf("delivery-status line %d: more than %d recipients", g->first_line,
                             DSN_MAX_RECIPIENTS);
        result = -1;
    } else {
        dsn->recipients =
            xreallocarray(dsn->recipients, dsn->n_recipients + 1, sizeof(*dsn->recipients));
        struct dsn_recipient *r = &dsn->recipients[dsn->n_recipients++];
        memset(r, 0, sizeof(*r));
        result = per_recipient(g, r, dsn->n_recipients, error_r);
    }
    group_reset(g);
    return result;
}

static bool blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            return false;
    return true;
}

/* One line of a group: a new field or the continuation of the last one. */
static int add_line(struct group *g, const char *line, size_t len, int lineno, char **error_r)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            *error_r =
                xasprintf("delivery-status line %d: a control character (0x%02x)", lineno, c);
            return -1;
        }
    }
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (line[0] == ' ' || line[0] == '\t') {
        if (g->n == 0) {
            *error_r = xasprintf("delivery-status line %d: a continuation line before any "
                                 "field",
                                 lineno);
            return -1;
        }
        size_t skip = 0;
        while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
            skip++;
        struct buf *value = &g->fields[g->n - 1].value;
        if (value->len + 1 + len - skip > DSN_MAX_FIELD) {
            *error_r = xasprintf("delivery-status line %d: field %s longer than %d bytes", lineno,
                                 g->fields[g->n - 1].name, DSN_MAX_FIELD);
            return -1;
        }
        if (value->len > 0)
            buf_putc(value, ' ');
        buf_append(value, line + skip, len - skip);
        return 0;
    }
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : 0;
    bool name_ok = name_len > 0 && name_len < sizeof(g->fields[0].name);
    for (size_t i = 0; name_ok && i < name_len; i++)
        name_ok = line[i] > ' ' && line[i] < 0x7f;
    if (!name_ok) {
        *error_r = xasprintf("delivery-status line %d: not a \"Name: value\" field", lineno);
        return -1;
    }
    if (g->n >= DSN_MAX_FIELDS) {
        *error_r = xasprintf("delivery-status line %d: more than %d fields in a group", lineno,
                             DSN_MAX_FIELDS);
        return -1;
    }
    const char *value = colon + 1;
    while (value < line + len && (*value == ' ' || *value == '\t'))
        value++;
    size_t value_len = len - (size_t)(value - line);
    if (value_len > DSN_MAX_FIELD) {
        *error_r = xasprintf("delivery-status line %d: field %.*s longer than %d bytes", lineno,
                             (int)name_len, line, DSN_MAX_FIELD);
        return -1;
    }
    struct field *f = &g->fields[g->n++];
    memcpy(f->name, line, name_len);
    f->name[name_len] = '\0';
    buf_init(&f->value);
    buf_append(&f->value, value, value_len);
    buf_cstr(&f->value);
    if (g->n == 1)
        g->first_line = lineno;
    return 0;
}

int dsn_fields_parse(const char *text, size_t len, struct dsn *dsn, char **error_r)
{
    struct group *g = xcalloc(1, sizeof(*g));
    bool seen_message = false;
    int lineno = 0, result = 0;

    for (size_t pos = 0; pos < len && result == 0;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;
        pos += line_len + (nl != NULL);
        lineno++;
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        if (blank(line, line_len))
            result = group_end(g, dsn, &seen_message, error_r);
        else
            result = add_line(g, line, line_len, lineno, error_r);
    }
    if (result == 0)
        result = group_end(g, dsn, &seen_message, error_r);
    group_reset(g);
    free(g);
    if (result == 0 && dsn->n_recipients == 0) {
        *error_r = xstrdup(seen_message ? "delivery-status: no per-recipient fields"
                                        : "delivery-status: empty");
        result = -1;
    }
    return result;
}

void dsn_recipient_free(struct dsn_recipient *r)
{
    free(r->final_recipient);
    free(r->original_recipient);
    free(r->action);
    free(r->status);
    free(r->diagnostic);
    free(r->remote_mta);
}
