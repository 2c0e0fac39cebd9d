/*
 * address.c - where an HTTPS report may go: the https: URL taken apart
 * with curl's URL API, and the addresses that are not global unicast
 * (IANA special-purpose registries), which a report must not be POSTed to.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "address.h"
#include "core.h"
#include "delivery.h"
#include "util.h"

#define HOST_NAME_MAX_LENGTH 253

/*
 * Refused ranges, from the IANA IPv4 and IPv6 Special-Purpose Address
 * Registries (the entries not "globally reachable"), plus multicast,
 * broadcast and the reserved 240.0.0.0/4. Order matters only where ranges
 * nest: the first match names the reason.
 */
struct range {
    const char *prefix;
    unsigned bits;
    const char *kind;
};

static const struct range ipv4_ranges[] = {
    {"0.0.0.0", 8, "unspecified"},
    {"10.0.0.0", 8, "private"},
    {"100.64.0.0", 10, "shared (CGNAT)"},
    {"127.0.0.0", 8, "loopback"},
    {"169.254.0.0", 16, "link-local"},
    {"172.16.0.0", 12, "private"},
    {"192.0.0.0", 24, "IETF protocol assignments"},
    {"192.0.2.0", 24, "documentation"},
    {"192.88.99.0", 24, "6to4 relay anycast (deprecated)"},
    {"192.168.0.0", 16, "private"},
    {"198.18.0.0", 15, "benchmarking"},
    {"198.51.100.0", 24, "documentation"},
    {"203.0.113.0", 24, "documentation"},
    {"224.0.0.0", 4, "multicast"},
    {"255.255.255.255", 32, "broadcast"},
    {"240.0.0.0", 4, "reserved"},
};

/* IPv6 forms that carry an IPv4 address are judged by that address first. */
static const struct range ipv6_ranges[] = {
    {"::", 128, "unspecified"},
    {"::1", 128, "loopback"},
    {"::", 96, "IPv4-compatible (deprecated)"},
    {"64:ff9b:1::", 48, "NAT64 local use"},
    {"100::", 64, "discard-only"},
    {"2001::", 23, "IETF protocol assignments"},
    {"2001:db8::", 32, "documentation"},
    {"3fff::", 20, "documentation"},
    {"5f00::", 16, "SRv6 SIDs"},
    {"fc00::", 7, "unique local"},
    {"fe80::", 10, "link-local"},
    {"fec0::", 10, "site-local (deprecated)"},
    {"ff00::", 8, "multicast"},
};

static bool prefix_matches(const uint8_t *address, const uint8_t *prefix, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(address, prefix, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (address[whole] & mask) == (prefix[whole] & mask);
}

/* The first range of the table that holds address, or NULL. */
static const struct range *find_range(int family, const uint8_t *address,
                                      const struct range *ranges, size_t n)
{
    uint8_t prefix[16];

    for (size_t i = 0; i < n; i++) {
        if (inet_pton(family, ranges[i].prefix, prefix) != 1)
            msg_panic("address: bad prefix %s", ranges[i].prefix);
        if (prefix_matches(address, prefix, ranges[i].bits))
            return &ranges[i];
    }
    return NULL;
}

static const char *ipv4_refusal(const uint8_t *ipv4, const char *form, char *out, size_t size)
{
    const struct range *range = find_range(AF_INET, ipv4, ipv4_ranges, UTIL_ARRAY_LEN(ipv4_ranges));

    if (range == NULL)
        return NULL;
    snprintf(out, size, "%s%s%s %s/%u", form, form[0] ? ", " : "", range->kind, range->prefix,
             range->bits);
    return out;
}

const char *dlv_address_refusal(const struct sockaddr *address, char *out, size_t size)
{
    if (address != NULL && address->sa_family == AF_INET)
        return ipv4_refusal((const uint8_t *)&((const struct sockaddr_in *)address)->sin_addr, "",
                            out, size);
    if (address == NULL || address->sa_family != AF_INET6) {
        snprintf(out, size, "not an IP address");
        return out;
    }
    const uint8_t *ipv6 = ((const struct sockaddr_in6 *)address)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const uint8_t six_to_four[2] = {0x20, 0x02};
    /* The IPv4 address is what the packets end up going to. */
    if (memcmp(ipv6, mapped, 12) == 0)
        return ipv4_refusal(ipv6 + 12, "IPv4-mapped", out, size);
    if (memcmp(ipv6, nat64, 12) == 0)
        return ipv4_refusal(ipv6 + 12, "NAT64 64:ff9b::/96", out, size);
    if (memcmp(ipv6, six_to_four, 2) == 0)
        return ipv4_refusal(ipv6 + 2, "6to4 2002::/16", out, size);
    const struct range *range =
        find_range(AF_INET6, ipv6, ipv6_ranges, UTIL_ARRAY_LEN(ipv6_ranges));
    if (range) {
        snprintf(out, size, "%s %s/%u", range->kind, range->prefix, range->bits);
        return out;
    }
    /* Only 2000::/3 is allocated for global unicast. */
    if ((ipv6[0] & 0xe0) != 0x20) {
        snprintf(out, size, "not global unicast (outside 2000::/3)");
        return out;
    }
    return NULL;
}

bool dlv_address_is_private(const struct sockaddr *address)
{
    char reason[DLV_ADDRESS_TEXT_SIZE];

    return dlv_address_refusal(address, reason, sizeof(reason)) != NULL;
}

void dlv_address_text(const struct sockaddr *address, char *out, size_t size)
{
    const void *bytes = NULL;

    if (address->sa_family == AF_INET)
        bytes = &((const struct sockaddr_in *)address)->sin_addr;
    else if (address->sa_family == AF_INET6)
        bytes = &((const struct sockaddr_in6 *)address)->sin6_addr;
    if (bytes == NULL || inet_ntop(address->sa_family, bytes, out, (socklen_t)size) == NULL)
        snprintf(out, size, "(address family %d)", (int)address->sa_family);
}

bool dlv_address_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

/* Letters, digits, "-" and "_" in labels of 1 to 63; one final dot allowed. */
static bool host_name_ok(const char *host)
{
    size_t len = strlen(host);

    if (len > 0 && host[len - 1] == '.')
        len--;
    return len <= HOST_NAME_MAX_LENGTH && tr_hostname_ok(host, len);
}

/* Sets target->literal and target->address when host is an IP address. */
static bool take_host(struct dlv_https_target *target, const char *host)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&target->address;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&target->address;
    size_t len = strlen(host);

    if (host[0] == '[') {
        if (len < 3 || host[len - 1] != ']')
            return false;
        target->host = xstrndup(host + 1, len - 2);
        if (inet_pton(AF_INET6, target->host, &in6->sin6_addr) != 1)
            return false;
        in6->sin6_family = AF_INET6;
        target->literal = true;
        return true;
    }
    target->host = xstrdup(host);
    for (char *p = target->host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (inet_pton(AF_INET, target->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        target->literal = true;
        return true;
    }
    return host_name_ok(target->host);
}

int dlv_https_target_parse(const char *url, struct dlv_https_target *target, char **error_r)
{
    CURLU *handle = curl_url();
    char *scheme = NULL, *host = NULL, *zone = NULL, *port = NULL, *full = NULL;
    CURLUcode code;

    memset(target, 0, sizeof(*target));
    if (handle == NULL)
        msg_fatal("curl_url: out of memory");
    /* Any scheme is parsed so that the error can say which one it was. */
    code = curl_url_set(handle, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (code != CURLUE_OK) {
        *error_r = xasprintf("bad URI \"%s\": %s", url, curl_url_strerror(code));
        goto fail;
    }
    if (curl_url_get(handle, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        strcasecmp(scheme, "https") != 0) {
        *error_r = xasprintf("bad URI \"%s\": only https: is used", url);
        goto fail;
    }
    if (curl_url_get(handle, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
        *error_r = xasprintf("bad URI \"%s\": an IPv6 zone ID is not allowed", url);
        goto fail;
    }
    code = curl_url_get(handle, CURLUPART_HOST, &host, 0);
    if (code != CURLUE_OK || !take_host(target, host)) {
        *error_r =
            xasprintf("bad URI \"%s\": the host is neither an IP address nor a DNS name", url);
        goto fail;
    }
    code = curl_url_get(handle, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (code != CURLUE_OK) {
        *error_r = xasprintf("bad URI \"%s\": %s", url, curl_url_strerror(code));
        goto fail;
    }
    target->port = atoi(port);
    /* Normalized here, so that curl connects to exactly the name that was checked. */
    if (!target->literal && curl_url_set(handle, CURLUPART_HOST, target->host, 0) != CURLUE_OK)
        msg_panic("curl_url_set: host name \"%s\" refused after checking", target->host);
    if (curl_url_set(handle, CURLUPART_SCHEME, "https", 0) != CURLUE_OK ||
        curl_url_get(handle, CURLUPART_URL, &full, 0) != CURLUE_OK)
        msg_fatal("curl_url: cannot rebuild \"%s\"", url);
    target->url = xstrdup(full);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(full);
    curl_url_cleanup(handle);
    return 0;
fail:
    curl_free(scheme);
    curl_free(host);
    curl_free(zone);
    curl_free(port);
    curl_url_cleanup(handle);
    dlv_https_target_free(target);
    return -1;
}

void dlv_https_target_free(struct dlv_https_target *target)
{
    free(target->url);
    free(target->host);
    memset(target, 0, sizeof(*target));
}
