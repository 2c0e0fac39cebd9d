/*
 * parse.c - the two MTA-STS grammars of RFC 8461: the `_mta-sts` TXT record
 * (§3.1) and the policy body (§3.2), plus the mx pattern match of §4.1.
 * Pure functions: no I/O, bounded by POL_BODY_MAX and POL_MX_MAX.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "util.h"

#define MX_PATTERN_MAX 253

const char *pol_mode_name(enum pol_mode mode)
{
    switch (mode) {
    case POL_MODE_NONE:
        return "none";
    case POL_MODE_TESTING:
        return "testing";
    case POL_MODE_ENFORCE:
        return "enforce";
    }
    msg_panic("pol_mode_name: bad mode %d", (int)mode);
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* §3.1 sts-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static bool ext_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > 32 || !is_alnum(name[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!is_alnum(name[i]) && name[i] != '_' && name[i] != '-' && name[i] != '.')
            return false;
    return true;
}

/* §3.1 sts-ext-value: 1*(%x21-3A / %x3C / %x3E-7E), i.e. no ";", "=", space. */
static bool ext_value_ok(const char *value, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
            return false;
    }
    return true;
}

static char *quoted(const char *text, size_t len)
{
    struct buf b = {0};
    size_t shown = len > 64 ? 64 : len;

    buf_putc(&b, '"');
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            buf_printf(&b, "\\x%02x", c);
        else
            buf_putc(&b, (char)c);
    }
    buf_puts(&b, len > shown ? "\"..." : "\"");
    return buf_steal(&b);
}

static int record_error(char **error_r, const char *what, const char *text, size_t len)
{
    char *q = quoted(text, len);
    *error_r = xasprintf("%s: %s", what, q);
    free(q);
    return -1;
}

int pol_record_parse(const char *text, size_t len, char id_r[POL_ID_MAX + 1], char **error_r)
{
    static const char version[] = "v=STSv1";
    size_t pos = sizeof(version) - 1;
    bool have_id = false;

    if (len < pos || memcmp(text, version, pos) != 0)
        return record_error(error_r, "not an MTA-STS record (must start with v=STSv1)", text, len);
    if (pos < len && !is_wsp(text[pos]) && text[pos] != ';')
        return record_error(error_r, "bad version field", text, len);
    for (;;) {
        while (pos < len && is_wsp(text[pos]))
            pos++;
        if (pos == len)
            break;
        if (text[pos] != ';')
            return record_error(error_r, "expected ';' between fields", text, len);
        pos++;
        while (pos < len && is_wsp(text[pos]))
            pos++;
        if (pos == len)
            break; /* a trailing ";" */
        size_t start = pos;
        while (pos < len && text[pos] != '=' && text[pos] != ';' && !is_wsp(text[pos]))
            pos++;
        size_t name_len = pos - start;
        if (pos == len || text[pos] != '=')
            return record_error(error_r, "field without '='", text, len);
        size_t value_start = ++pos;
        while (pos < len && text[pos] != ';' && !is_wsp(text[pos]))
            pos++;
        size_t value_len = pos - value_start;
        if (name_len == 2 && memcmp(text + start, "id", 2) == 0) {
            if (have_id)
                return record_error(error_r, "more than one id field", text, len);
            if (value_len == 0 || value_len > POL_ID_MAX)
                return record_error(error_r, "id must be 1-32 letters and digits", text, len);
            for (size_t i = 0; i < value_len; i++)
                if (!is_alnum(text[value_start + i]))
                    return record_error(error_r, "id must be 1-32 letters and digits", text, len);
            memcpy(id_r, text + value_start, value_len);
            id_r[value_len] = '\0';
            have_id = true;
        } else if (!ext_name_ok(text + start, name_len) ||
                   !ext_value_ok(text + value_start, value_len)) {
            return record_error(error_r, "bad extension field", text, len);
        }
    }
    if (!have_id)
        return record_error(error_r, "no id field", text, len);
    return 0;
}

void pol_policy_free(struct pol_policy *policy)
{
    for (size_t i = 0; i < policy->n_mx; i++)
        free(policy->mx[i]);
    free(policy->mx);
    memset(policy, 0, sizeof(*policy));
}

/* §3.2 mx value: a domain name, optionally "*." then a domain name; A-labels only. */
static bool mx_pattern_ok(const char *value, size_t len)
{
    size_t start = 0;

    if (len >= 2 && value[0] == '*' && value[1] == '.')
        start = 2;
    if (len - start == 0 || len > MX_PATTERN_MAX)
        return false;
    size_t label = 0;
    for (size_t i = start; i < len; i++) {
        char c = value[i];
        if (c == '.') {
            if (label == 0 || value[i - 1] == '-')
                return false;
            label = 0;
        } else if (is_alnum(c) || c == '-' || c == '_') {
            if (label == 0 && c == '-')
                return false;
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && value[len - 1] != '-';
}

static int policy_error(char **error_r, size_t line, const char *what, const char *text, size_t len)
{
    char *q = quoted(text, len);
    *error_r = xasprintf("line %zu: %s: %s", line, what, q);
    free(q);
    return -1;
}

static int parse_max_age(const char *value, size_t len, long *max_age_r)
{
    long v = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        v = v * 10 + (value[i] - '0');
    }
    if (v > POL_MAX_AGE_MAX)
        return -1;
    *max_age_r = v;
    return 0;
}

/* One "key: value" line; the key has been checked for ':'. */
static int policy_field(struct pol_policy *policy, bool *have_mode, bool *have_max_age, size_t line,
                        const char *key, size_t key_len, const char *value, size_t value_len,
                        char **error_r)
{
    if (key_len == 4 && memcmp(key, "mode", 4) == 0) {
        if (*have_mode)
            return 0; /* the first occurrence wins */
        if (value_len == 7 && memcmp(value, "enforce", 7) == 0)
            policy->mode = POL_MODE_ENFORCE;
        else if (value_len == 7 && memcmp(value, "testing", 7) == 0)
            policy->mode = POL_MODE_TESTING;
        else if (value_len == 4 && memcmp(value, "none", 4) == 0)
            policy->mode = POL_MODE_NONE;
        else
            return policy_error(error_r, line, "mode must be enforce, testing or none", value,
                                value_len);
        *have_mode = true;
    } else if (key_len == 7 && memcmp(key, "max_age", 7) == 0) {
        if (*have_max_age)
            return 0;
        if (parse_max_age(value, value_len, &policy->max_age) < 0)
            return policy_error(error_r, line, "max_age must be 0 to 31557600", value, value_len);
        *have_max_age = true;
    } else if (key_len == 2 && memcmp(key, "mx", 2) == 0) {
        if (!mx_pattern_ok(value, value_len))
            return policy_error(error_r, line, "bad mx pattern", value, value_len);
        if (policy->n_mx == POL_MX_MAX)
            return policy_error(error_r, line, "more than 64 mx patterns", value, value_len);
        policy->mx = xreallocarray(policy->mx, policy->n_mx + 1, sizeof(*policy->mx));
        char *mx = xstrndup(value, value_len);
        for (char *p = mx; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        policy->mx[policy->n_mx++] = mx;
    } else if (key_len == 7 && memcmp(key, "version", 7) == 0) {
        /* a repeated version: the first one (line 1) wins */
    }
    /* other keys are extensions: ignored (§3.2) */
    return 0;
}

int pol_policy_parse(const char *text, size_t len, struct pol_policy *policy, char **error_r)
{
    bool have_mode = false, have_max_age = false;
    size_t pos = 0, line = 0;

    memset(policy, 0, sizeof(*policy));
    if (len > POL_BODY_MAX) {
        *error_r = xasprintf("policy is %zu bytes, more than %d", len, POL_BODY_MAX);
        return -1;
    }
    while (pos < len) {
        size_t start = pos, end;
        while (pos < len && text[pos] != '\n')
            pos++;
        end = pos;
        if (pos < len)
            pos++; /* the LF */
        if (end > start && text[end - 1] == '\r')
            end--;
        line++;
        const char *l = text + start;
        size_t l_len = end - start;
        if (memchr(l, '\r', l_len) != NULL || memchr(l, '\0', l_len) != NULL) {
            policy_error(error_r, line, "stray CR or NUL", l, l_len);
            goto fail;
        }
        if (line == 1) {
            /* sts-version-field = "version" *WSP ":" *WSP "STSv1" */
            const char *colon = memchr(l, ':', l_len);
            size_t k = colon ? (size_t)(colon - l) : 0;
            while (k > 0 && is_wsp(l[k - 1]))
                k--;
            size_t v = colon ? (size_t)(colon - l) + 1 : l_len, v_end = l_len;
            while (v < v_end && is_wsp(l[v]))
                v++;
            while (v_end > v && is_wsp(l[v_end - 1]))
                v_end--;
            if (colon == NULL || k != 7 || memcmp(l, "version", 7) != 0 || v_end - v != 5 ||
                memcmp(l + v, "STSv1", 5) != 0) {
                policy_error(error_r, line, "the first line must be \"version: STSv1\"", l, l_len);
                goto fail;
            }
            continue;
        }
        if (l_len == 0)
            continue; /* an empty line (the last LF of the body, or a blank one) */
        const char *colon = memchr(l, ':', l_len);
        if (colon == NULL) {
            policy_error(error_r, line, "not a \"key: value\" line", l, l_len);
            goto fail;
        }
        size_t key_len = (size_t)(colon - l);
        while (key_len > 0 && is_wsp(l[key_len - 1]))
            key_len--;
        const char *value = colon + 1;
        size_t value_len = (size_t)(l + l_len - value);
        while (value_len > 0 && is_wsp(*value)) {
            value++;
            value_len--;
        }
        while (value_len > 0 && is_wsp(value[value_len - 1]))
            value_len--;
        if (!ext_name_ok(l, key_len)) {
            policy_error(error_r, line, "bad key", l, l_len);
            goto fail;
        }
        if (policy_field(policy, &have_mode, &have_max_age, line, l, key_len, value, value_len,
                         error_r) < 0)
            goto fail;
    }
    if (line == 0) {
        *error_r = xstrdup("empty policy");
        goto fail;
    }
    if (!have_mode) {
        *error_r = xstrdup("no mode field");
        goto fail;
    }
    if (!have_max_age) {
        *error_r = xstrdup("no max_age field");
        goto fail;
    }
    if (policy->n_mx == 0 && policy->mode != POL_MODE_NONE) {
        *error_r = xasprintf("no mx field (required in mode %s)", pol_mode_name(policy->mode));
        goto fail;
    }
    return 0;
fail:
    pol_policy_free(policy);
    return -1;
}

char **pol_policy_strings(const struct pol_policy *policy, size_t *n_r)
{
    char **lines = xcalloc(policy->n_mx + 3, sizeof(*lines));
    size_t n = 0;

    lines[n++] = xstrdup("version: STSv1");
    lines[n++] = xasprintf("mode: %s", pol_mode_name(policy->mode));
    for (size_t i = 0; i < policy->n_mx; i++)
        lines[n++] = xasprintf("mx: %s", policy->mx[i]);
    lines[n++] = xasprintf("max_age: %ld", policy->max_age);
    *n_r = n;
    return lines;
}

bool pol_mx_match(const char *pattern, const char *host)
{
    size_t host_len = strlen(host), pattern_len = strlen(pattern);

    if (host_len > 0 && host[host_len - 1] == '.')
        host_len--;
    if (pattern_len > 0 && pattern[pattern_len - 1] == '.')
        pattern_len--;
    if (pattern_len >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        /* exactly one label, not empty, before the rest */
        const char *dot = memchr(host, '.', host_len);
        if (dot == NULL || dot == host)
            return false;
        size_t rest = host_len - (size_t)(dot - host) - 1;
        return rest == pattern_len - 2 && strncasecmp(dot + 1, pattern + 2, rest) == 0;
    }
    return host_len == pattern_len && strncasecmp(host, pattern, host_len) == 0;
}
