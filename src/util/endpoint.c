/*
 * endpoint.c - "host", "host:port", "[host]:port" and bare IPv6 literals, as
 * dns_resolvers and relayhost are written: one parser, so that the
 * configuration check at start and reload accepts exactly what is used later.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool is_ip_literal(const char *host)
{
    struct in6_addr address;

    return inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1;
}

/* Letters, digits, "-", "_" and ".", as host names in configurations are written. */
static bool host_name_chars_ok(const char *host)
{
    for (const char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return true;
}

int endpoint_parse(const char *text, int default_port, bool ip_only, struct endpoint *out,
                   const char **error_r)
{
    const char *port = NULL;
    size_t len;

    memset(out, 0, sizeof(*out));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL) {
            *error_r = "missing ']'";
            return -1;
        }
        if (close[1] != '\0' && close[1] != ':') {
            *error_r = "unexpected text after ']'";
            return -1;
        }
        len = (size_t)(close - text - 1);
        port = close[1] == ':' ? close + 2 : NULL;
        text++;
        out->bracketed = true;
    } else if (strchr(text, ':') != strrchr(text, ':')) {
        len = strlen(text); /* two colons or more: a bare IPv6 literal, no port */
    } else {
        const char *colon = strchr(text, ':');
        len = colon ? (size_t)(colon - text) : strlen(text);
        port = colon ? colon + 1 : NULL;
    }
    if (len == 0 || len >= sizeof(out->host)) {
        *error_r = "bad host length";
        return -1;
    }
    memcpy(out->host, text, len);
    out->host[len] = '\0';
    out->ipv6 = strchr(out->host, ':') != NULL;
    if ((ip_only || out->ipv6) && !is_ip_literal(out->host)) {
        *error_r = out->ipv6 ? "bad IPv6 address" : "not an IP address";
        return -1;
    }
    if (!host_name_chars_ok(out->host) && !out->ipv6) {
        *error_r = "bad character in host name";
        return -1;
    }
    out->port = default_port;
    if (port != NULL) {
        char *stop;
        long value = strtol(port, &stop, 10);
        if (!isdigit((unsigned char)port[0]) || *stop != '\0' || value < 1 || value > 65535) {
            *error_r = "bad port (1 to 65535)";
            return -1;
        }
        out->port = (int)value;
    }
    return 0;
}
