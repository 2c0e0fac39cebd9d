/*
 * address.h - inside the delivery module: an https: rua taken apart with
 * curl's URL API, and which addresses a report may not be POSTed to.
 */
#ifndef TLSRPT_DELIVERY_ADDRESS_H
#define TLSRPT_DELIVERY_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Long enough for any refusal reason and any IPv6 address text. */
#define DLV_ADDRESS_TEXT_SIZE 128

struct dlv_https_target {
    char *url;    /* what curl is given: scheme and host normalized */
    char *host;   /* lower case; an IPv6 literal without its brackets */
    int port;     /* 443 unless the URL says otherwise */
    bool literal; /* host is an IP address, in `address` (port 0) */
    struct sockaddr_storage address;
};

/*
 * Takes an https: URL apart with curl_url(): -1 with *error_r (caller
 * frees) for another scheme, a zone ID, or a host that is neither an IP
 * address nor a DNS name (letters, digits, "-", "_", dots).
 */
int dlv_https_target_parse(const char *url, struct dlv_https_target *target, char **error_r);
void dlv_https_target_free(struct dlv_https_target *target);

/*
 * Why address must not be connected to, e.g. "loopback 127.0.0.0/8" or
 * "IPv4-mapped, private 10.0.0.0/8", written to out (DLV_ADDRESS_TEXT_SIZE);
 * NULL for a global unicast address.
 */
const char *dlv_address_refusal(const struct sockaddr *address, char *out, size_t size);

/* The address as text, without port or brackets. */
void dlv_address_text(const struct sockaddr *address, char *out, size_t size);

/* Same family and address (ports and scope are not compared). */
bool dlv_address_equal(const struct sockaddr *a, const struct sockaddr *b);

#endif
