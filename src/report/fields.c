/*
 * fields.c - what a report field may hold: host names and mx patterns in the
 * strict schema's shape, RFC 5952 addresses, RFC 3986 URIs, MTA-STS policy
 * lines and TLSA RDATA as RFC 8460 §4.5 shows them. Pure string work.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "fields.h"

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* c is one of the characters of set (never the NUL). */
static bool in_set(unsigned char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

/*
 * One label: letters, digits, "-" inside; labels before the last may also
 * carry "_" anywhere but at the end (service labels like _mta-sts).
 */
static bool label_ok(const char *s, size_t len, bool last)
{
    if (len == 0 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool inside = i > 0 && i + 1 < len;

        if (is_alnum(c) || (c == '-' && inside) || (c == '_' && !last && (i + 1 < len || len == 1)))
            continue;
        return false;
    }
    return true;
}

bool rpt_host_normalize(const char *in, bool wildcard, char out[RPT_HOST_SIZE])
{
    size_t len = strlen(in), prefix = 0;

    if (wildcard && in[0] == '*' && in[1] == '.') {
        memcpy(out, "*.", 2);
        in += 2;
        len -= 2;
        prefix = 2;
    }
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0 || len > TR_MAX_DOMAIN)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        out[prefix + i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[prefix + len] = '\0';
    const char *label = out + prefix, *end = out + prefix + len;
    for (;;) {
        const char *dot = memchr(label, '.', (size_t)(end - label));
        if (dot == NULL)
            return label_ok(label, (size_t)(end - label), true);
        if (!label_ok(label, (size_t)(dot - label), false))
            return false;
        label = dot + 1;
    }
}

/* "a.b.c.d" of 4 bytes at out; returns the end. */
static char *put_ipv4(char *out, const unsigned char *address)
{
    for (int i = 0; i < 4; i++) {
        unsigned v = address[i];
        if (i > 0)
            *out++ = '.';
        if (v >= 100)
            *out++ = (char)('0' + v / 100);
        if (v >= 10)
            *out++ = (char)('0' + v / 10 % 10);
        *out++ = (char)('0' + v % 10);
    }
    *out = '\0';
    return out;
}

/*
 * RFC 5952 text of an IPv6 address, as glibc's inet_ntop writes it (lower
 * case hex without leading zeros, the longest run of two or more zero
 * fields as "::", the leftmost on a tie; ::a.b.c.d for ::/96 and
 * ::ffff:a.b.c.d for ::ffff:0:0/96) without a sprintf per field:
 * tests/check_report.c compares the two over many addresses.
 */
static void put_ipv6(char *out, const unsigned char *address)
{
    static const char hex[] = "0123456789abcdef";
    unsigned words[8];
    int best = -1, best_len = 0, run = -1, run_len = 0;

    for (int i = 0; i < 8; i++) {
        words[i] = (unsigned)address[2 * i] << 8 | address[2 * i + 1];
        if (words[i] == 0) {
            if (run < 0)
                run = i, run_len = 0;
            if (++run_len > best_len)
                best = run, best_len = run_len;
        } else {
            run = -1;
        }
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *out++ = ':';
            continue;
        }
        if (i > 0)
            *out++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
            out = put_ipv4(out, address + 12);
            return;
        }
        for (int shift = 12; shift >= 0; shift -= 4)
            if ((words[i] >> shift) != 0 || shift == 0)
                *out++ = hex[(words[i] >> shift) & 15];
    }
    if (best >= 0 && best + best_len == 8)
        *out++ = ':';
    *out = '\0';
}

void rpt_ipv6_text(const unsigned char address[16], char out[RPT_IP_SIZE])
{
    put_ipv6(out, address);
}

bool rpt_ip_normalize(const char *in, char out[RPT_IP_SIZE])
{
    /* RFC 2765's IPv4-translated prefix ::ffff:0:0:0/96 (RFC 5952 §5). */
    static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    unsigned char address[16];

    if (inet_pton(AF_INET, in, address) == 1) {
        put_ipv4(out, address);
        return true;
    }
    if (inet_pton(AF_INET6, in, address) != 1)
        return false;
    /*
     * RFC 5952 §4 text and §5 mixed notation for the RFC 4291 prefixes
     * ::ffff:0:0/96 and ::/96 as glibc writes them; only the RFC 2765
     * prefix that §5 also names is added here.
     */
    if (memcmp(address, translated, sizeof(translated)) == 0) {
        memcpy(out, "::ffff:0:", 9);
        put_ipv4(out + 9, address + 12);
        return true;
    }
    put_ipv6(out, address);
    return true;
}

/* Skips unreserved characters, sub-delims, percent-encodings and those of extra. */
static const char *skip_uri_chars(const char *s, const char *extra)
{
    for (;;) {
        unsigned char c = (unsigned char)*s;

        if (c == '%' && is_hex((unsigned char)s[1]) && is_hex((unsigned char)s[2]))
            s += 3;
        else if (is_alnum(c) || in_set(c, "-._~!$&'()*+,;=") || in_set(c, extra))
            s++;
        else
            return s;
    }
}

/* The inside of "[...]" in a URI host: an IPv6 address or IPvFuture. */
static bool ip_literal_ok(const char *s, const char *end)
{
    size_t len = (size_t)(end - s);
    char copy[64];
    unsigned char address[16];

    if (len > 0 && (s[0] == 'v' || s[0] == 'V')) {
        const char *p = s + 1;
        while (p < end && is_hex((unsigned char)*p))
            p++;
        if (p == s + 1 || p >= end || *p != '.' || p + 1 >= end)
            return false;
        for (p++; p < end; p++)
            if (!is_alnum((unsigned char)*p) && !in_set((unsigned char)*p, "-._~!$&'()*+,;=:"))
                return false;
        return true;
    }
    if (len == 0 || len >= sizeof(copy))
        return false;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return inet_pton(AF_INET6, copy, address) == 1;
}

/* authority = [userinfo "@"] host [":" port]; returns where it ends, NULL if malformed. */
static const char *skip_authority(const char *s)
{
    const char *p = skip_uri_chars(s, ":");

    if (*p == '@')
        s = p + 1;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || !ip_literal_ok(s + 1, close))
            return NULL;
        s = close + 1;
    } else {
        s = skip_uri_chars(s, "");
    }
    if (*s == ':')
        for (s++; is_digit((unsigned char)*s); s++)
            ;
    return s;
}

bool rpt_uri_ok(const char *s)
{
    if (!is_alpha((unsigned char)*s))
        return false;
    while (is_alnum((unsigned char)*s) || in_set((unsigned char)*s, "+-."))
        s++;
    if (*s++ != ':')
        return false;
    if (s[0] == '/' && s[1] == '/') {
        if ((s = skip_authority(s + 2)) == NULL)
            return false;
        while (*s == '/')
            s = skip_uri_chars(s + 1, ":@");
    } else {
        /* path-absolute or path-rootless; an empty path is not useful here */
        const char *start = s;
        s = skip_uri_chars(s, ":@/");
        if (s == start)
            return false;
    }
    if (*s == '?')
        s = skip_uri_chars(s + 1, ":@/?");
    if (*s == '#')
        s = skip_uri_chars(s + 1, ":@/?");
    return *s == '\0';
}

bool rpt_text_ok(const char *s)
{
    return s != NULL && *s != '\0' && tr_text_ok(s, strlen(s));
}

bool rpt_sts_line_normalize(const char *in, char *out)
{
    size_t len = strlen(in), name = 0, value, blanks;

    if (!rpt_text_ok(in))
        return false;
    while (name < len &&
           (is_alnum((unsigned char)in[name]) || in_set((unsigned char)in[name], "_.-")))
        name++;
    if (name == 0 || name > 32 || !is_alnum((unsigned char)in[0]) || in[name] != ':')
        return false;
    for (value = name + 1; in[value] == ' ' || in[value] == '\t'; value++)
        ;
    blanks = value - name - 1;
    /* The value starts with a visible character; U+2028 and U+2029 end lines. */
    if ((unsigned char)in[value] <= 0x20 || (unsigned char)in[value] >= 0x7f ||
        strstr(in, "\xe2\x80\xa8") != NULL || strstr(in, "\xe2\x80\xa9") != NULL)
        return false;
    if (blanks == 0 || (blanks == 1 && in[name + 1] == ' ')) {
        memcpy(out, in, len + 1);
    } else {
        memcpy(out, in, name);
        memcpy(out + name, ": ", 2);
        memcpy(out + name + 2, in + value, len - value + 1);
    }
    return true;
}

bool rpt_tlsa_normalize(const char *in, char *out)
{
    const char *p = in;
    char *o = out;
    int field = 0;

    if (!rpt_text_ok(in))
        return false;
    for (;;) {
        while (in_set((unsigned char)*p, " \t()"))
            p++;
        if (*p == '\0')
            break;
        const char *token = p;
        while (*p != '\0' && !in_set((unsigned char)*p, " \t()"))
            p++;
        size_t len = (size_t)(p - token);
        for (size_t i = 0; i < len; i++)
            if (field < 3 ? !is_digit((unsigned char)token[i]) : !is_hex((unsigned char)token[i]))
                return false;
        if (field < 3 && len > 3)
            return false;
        memcpy(o, token, len);
        o += len;
        if (field < 3)
            *o++ = ' ';
        field++;
    }
    *o = '\0';
    return field >= 4;
}

bool rpt_local_part_ok(const char *s, size_t len)
{
    if (len == 0 || len > 64 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' ? s[i + 1] == '.' : !(is_alnum(c) || in_set(c, "!#$%&'*+-/=?^_`{|}~")))
            return false;
    }
    return true;
}

bool rpt_mail_domain_ok(const char *s, size_t len)
{
    size_t labels = 0, start = 0;

    if (len == 0 || len > TR_MAX_DOMAIN)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (!is_alnum(c) && c != '-')
                return false;
            continue;
        }
        size_t label = i - start;
        if (label == 0 || label > 63 || s[start] == '-' || s[i - 1] == '-')
            return false;
        labels++;
        start = i + 1;
    }
    return labels >= 2;
}
