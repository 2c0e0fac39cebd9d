/*
 * sm_fields.c - the field syntax of sm-mta log lines: "name=value" fields,
 * ${verify} names, relay hosts and addresses, recipients and queue ids.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "sm_impl.h"
#include "util.h"

/* Indexed by enum sm_verify. */
static const char *const verify_names[] = {
    "",         "OK",      "FAIL",  "NO",     "NONE",    "TEMP",      "PROTOCOL",
    "SOFTWARE", "FAILURE", "CLEAR", "CONFIG", "TRUSTED", "DANE_FAIL",
};

enum sm_verify sm_verify_from_name(const char *s, size_t len)
{
    for (size_t i = 1; i < UTIL_ARRAY_LEN(verify_names); i++)
        if (strlen(verify_names[i]) == len && memcmp(verify_names[i], s, len) == 0)
            return (enum sm_verify)i;
    return SM_V_UNKNOWN;
}

bool sm_has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && memcmp(s, prefix, n) == 0;
}

/* First occurrence of needle in s[0..len), or NULL. */
const char *sm_find(const char *s, size_t len, const char *needle)
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
bool sm_field(const char *msg, size_t len, const char *name, bool to_end, const char **value,
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
        const char *end = to_end ? NULL : sm_find(start, rest, ", ");

        *value = start;
        *value_len = end ? (size_t)(end - start) : rest;
        return true;
    }
    return false;
}

/* A relay host as logged ("mx.example.com.", "MX.example.com", "[192.0.2.1]"). */
int sm_host_parse(const char *s, size_t len, char *out, size_t size)
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
int sm_ip_parse(const char *s, size_t len, char *out, size_t size)
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
int sm_recipient_domain(const char *s, size_t len, char *out, size_t size)
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
    return sm_host_parse(at + 1, (size_t)(end - at - 1), out, size);
}

/* The queue id before ": " (sendmail ids are letters and digits). */
size_t sm_queue_id_len(const char *msg, size_t len)
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
