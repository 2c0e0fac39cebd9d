/*
 * addresses.c - the IPv4 and IPv6 addresses of a host (A and AAAA with
 * ldns, CNAMEs followed), so HTTPS delivery connects to exactly the
 * addresses it checked, asked of the same servers as the TLSRPT records.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "core.h"
#include "dns.h"
#include "dns_impl.h"
#include "util.h"

#define NAME_MAX_LENGTH 253
#define CNAME_HOPS_MAX 8

/* A host name ldns can take as is: LDH labels (and "_"), no escapes. */
static bool host_name_ok(const char *host, size_t len)
{
    return len <= NAME_MAX_LENGTH && tr_hostname_ok(host, len);
}

static bool is_rr(const ldns_rr *rr, ldns_rr_type type, const ldns_rdf *owner)
{
    return ldns_rr_get_type(rr) == type && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
           ldns_dname_compare(ldns_rr_owner(rr), owner) == 0;
}

static bool already_have(const struct sockaddr_storage *addresses, size_t n,
                         const struct sockaddr_storage *candidate)
{
    for (size_t i = 0; i < n; i++) {
        if (addresses[i].ss_family != candidate->ss_family)
            continue;
        if (candidate->ss_family == AF_INET &&
            memcmp(&((const struct sockaddr_in *)&addresses[i])->sin_addr,
                   &((const struct sockaddr_in *)candidate)->sin_addr, sizeof(struct in_addr)) == 0)
            return true;
        if (candidate->ss_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)&addresses[i])->sin6_addr,
                   &((const struct sockaddr_in6 *)candidate)->sin6_addr,
                   sizeof(struct in6_addr)) == 0)
            return true;
    }
    return false;
}

/* Fills *out from an A or AAAA record's data; false when it is malformed. */
static bool address_from_rr(const ldns_rr *rr, struct sockaddr_storage *out)
{
    const ldns_rdf *rdf = ldns_rr_rd_count(rr) == 1 ? ldns_rr_rdf(rr, 0) : NULL;

    memset(out, 0, sizeof(*out));
    if (rdf == NULL)
        return false;
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && ldns_rdf_size(rdf) == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, ldns_rdf_data(rdf), 4);
        return true;
    }
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA && ldns_rdf_size(rdf) == 16) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, ldns_rdf_data(rdf), 16);
        return true;
    }
    return false;
}

/*
 * Appends the records of `type` at name, after the CNAME chain in the
 * answer section (a recursive server gives the whole chain). Sets *nxdomain
 * when the server said the name (or the end of its chain) does not exist.
 */
static void collect(const ldns_pkt *reply, const ldns_rdf *name, ldns_rr_type type,
                    struct sockaddr_storage *addresses, size_t max, size_t *n, bool *nxdomain)
{
    const ldns_rr_list *answers = ldns_pkt_answer(reply);
    size_t count = ldns_rr_list_rr_count(answers);
    const ldns_rdf *owner = name;

    *nxdomain = ldns_pkt_get_rcode(reply) == LDNS_RCODE_NXDOMAIN;
    for (int hop = 0; hop < CNAME_HOPS_MAX; hop++) {
        size_t i = 0;
        while (i < count && !is_rr(ldns_rr_list_rr(answers, i), LDNS_RR_TYPE_CNAME, owner))
            i++;
        if (i == count || ldns_rr_rd_count(ldns_rr_list_rr(answers, i)) != 1)
            break;
        owner = ldns_rr_rdf(ldns_rr_list_rr(answers, i), 0);
    }
    for (size_t i = 0; i < count && *n < max; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(answers, i);
        struct sockaddr_storage address;
        if (is_rr(rr, type, owner) && address_from_rr(rr, &address) &&
            !already_have(addresses, *n, &address))
            addresses[(*n)++] = address;
    }
}

/* A literal IPv4 or IPv6 address needs no lookup. */
static bool literal_address(const char *host, struct sockaddr_storage *out)
{
    struct sockaddr_in *in = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return true;
    }
    memset(out, 0, sizeof(*out));
    return false;
}

int dns_lookup_addresses(struct dns_resolver *resolver, const char *host,
                         struct sockaddr_storage *addresses, size_t max, char **error_r)
{
    static const ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};
    size_t len = strlen(host), n = 0;
    char *error = NULL;
    struct sockaddr_storage literal;

    if (max == 0)
        return 0;
    if (max > INT_MAX)
        max = INT_MAX;
    if (literal_address(host, &literal)) {
        addresses[0] = literal;
        return 1;
    }
    if (len > 0 && host[len - 1] == '.')
        len--;
    /* Not a name at all: it has no address, and asking again will not give one. */
    if (!host_name_ok(host, len))
        return 0;
    char *absolute = xasprintf("%.*s.", (int)len, host);
    ldns_rdf *name = ldns_dname_new_frm_str(absolute);
    free(absolute);
    if (name == NULL)
        msg_fatal("ldns_dname_new_frm_str: out of memory");
    for (size_t t = 0; t < UTIL_ARRAY_LEN(types); t++) {
        ldns_pkt *reply;
        char *query_error;
        bool nxdomain;
        if (dns_query_servers(resolver, name, types[t], &reply, &query_error) < 0) {
            free(error);
            error = xasprintf("%s %s: %s", host, t == 0 ? "A" : "AAAA", query_error);
            free(query_error);
            continue;
        }
        collect(reply, name, types[t], addresses, max, &n, &nxdomain);
        ldns_pkt_free(reply);
        /* The name does not exist: there is no AAAA record to ask for either. */
        if (nxdomain && n == 0 && error == NULL)
            break;
    }
    ldns_rdf_deep_free(name);
    /* Addresses of one family are enough when the other could not be asked. */
    if (n == 0 && error) {
        *error_r = error;
        return -1;
    }
    free(error);
    return (int)n;
}
