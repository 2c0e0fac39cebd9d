/*
 * records.c - TXT, MX and TLSA lookups for the MTA-STS policy service, with
 * the AD bit that tells a DNSSEC-validated answer (DANE comes first, RFC
 * 8461 §2), cached in the resolver's TTL cache.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "core.h"
#include "dns.h"
#include "dns_impl.h"
#include "util.h"

#define NAME_MAX_LENGTH 253
#define CNAME_HOPS_MAX 8
#define RECORDS_MAX 64
#define TTL_MAX 86400
#define NEGATIVE_TTL_MAX 3600
#define NEGATIVE_TTL_NO_SOA 300
#define TLSA_DATA_MAX 1024 /* bytes of certificate association data shown */

static const struct {
    ldns_rr_type type;
    const char *name;
} kinds[] = {
    [DNS_RR_TXT] = {LDNS_RR_TYPE_TXT, "TXT"},
    [DNS_RR_MX] = {LDNS_RR_TYPE_MX, "MX"},
    [DNS_RR_TLSA] = {LDNS_RR_TYPE_TLSA, "TLSA"},
};

static bool is_rr(const ldns_rr *rr, ldns_rr_type type, const ldns_rdf *owner)
{
    return ldns_rr_get_type(rr) == type && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
           (owner == NULL || ldns_dname_compare(ldns_rr_owner(rr), owner) == 0);
}

static uint32_t negative_ttl(const ldns_pkt *reply)
{
    const ldns_rr_list *authority = ldns_pkt_authority(reply);

    for (size_t i = 0; i < ldns_rr_list_rr_count(authority); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(authority, i);
        if (is_rr(rr, LDNS_RR_TYPE_SOA, NULL) && ldns_rr_rd_count(rr) == 7) {
            uint32_t ttl = ldns_rr_ttl(rr), minimum = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));
            ttl = ttl < minimum ? ttl : minimum;
            return ttl < NEGATIVE_TTL_MAX ? ttl : NEGATIVE_TTL_MAX;
        }
    }
    return NEGATIVE_TTL_NO_SOA;
}

/* A host name rdf as lower case without the trailing dot; NULL if unusable. */
static char *dname_text(const ldns_rdf *rdf)
{
    char *text = ldns_rdf2str(rdf);

    if (text == NULL)
        return NULL;
    size_t len = strlen(text);
    if (len > 1 && text[len - 1] == '.')
        text[--len] = '\0';
    for (char *p = text; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (!tr_hostname_ok(text, len) && strcmp(text, ".") != 0) {
        free(text);
        return NULL;
    }
    char *copy = xstrdup(text);
    free(text);
    return copy;
}

static char *record_text(const ldns_rr *rr, enum dns_rr_kind kind)
{
    struct buf b = {0};

    switch (kind) {
    case DNS_RR_TXT: {
        /* A NUL would cut the text short: it becomes DEL, which the grammars refuse. */
        size_t len;
        char *text = dns_txt_join(rr, &len);
        for (size_t j = 0; j < len; j++)
            if (text[j] == '\0')
                text[j] = 0x7f; /* DEL: no record grammar takes it */
        return text;
    }
    case DNS_RR_MX: {
        if (ldns_rr_rd_count(rr) != 2)
            return NULL;
        char *host = dname_text(ldns_rr_rdf(rr, 1));
        if (host == NULL)
            return NULL;
        buf_printf(&b, "%u %s", (unsigned)ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)), host);
        free(host);
        return buf_steal(&b);
    }
    case DNS_RR_TLSA: {
        if (ldns_rr_rd_count(rr) != 4)
            return NULL;
        const ldns_rdf *data = ldns_rr_rdf(rr, 3);
        size_t size = ldns_rdf_size(data);
        if (size > TLSA_DATA_MAX)
            size = TLSA_DATA_MAX;
        buf_printf(&b, "%u %u %u ", (unsigned)ldns_rdf2native_int8(ldns_rr_rdf(rr, 0)),
                   (unsigned)ldns_rdf2native_int8(ldns_rr_rdf(rr, 1)),
                   (unsigned)ldns_rdf2native_int8(ldns_rr_rdf(rr, 2)));
        for (size_t i = 0; i < size; i++)
            buf_printf(&b, "%02x", ldns_rdf_data(data)[i]);
        return buf_steal(&b);
    }
    }
    return NULL;
}

/* Reads the records of kind at name after the CNAME chain; returns the TTL. */
static uint32_t read_records(const ldns_pkt *reply, const ldns_rdf *name, enum dns_rr_kind kind,
                             struct dns_records *answer, const char **negative_r)
{
    const ldns_rr_list *rrs = ldns_pkt_answer(reply);
    size_t count = ldns_rr_list_rr_count(rrs);
    const ldns_rdf *owner = name;
    uint32_t ttl = TTL_MAX;

    *negative_r = NULL;
    if (ldns_pkt_get_rcode(reply) == LDNS_RCODE_NXDOMAIN) {
        *negative_r = "NXDOMAIN";
        return negative_ttl(reply);
    }
    for (int hop = 0; hop < CNAME_HOPS_MAX; hop++) {
        size_t i = 0;
        while (i < count && !is_rr(ldns_rr_list_rr(rrs, i), LDNS_RR_TYPE_CNAME, owner))
            i++;
        if (i == count || ldns_rr_rd_count(ldns_rr_list_rr(rrs, i)) != 1)
            break;
        if (ldns_rr_ttl(ldns_rr_list_rr(rrs, i)) < ttl)
            ttl = ldns_rr_ttl(ldns_rr_list_rr(rrs, i));
        owner = ldns_rr_rdf(ldns_rr_list_rr(rrs, i), 0);
    }
    for (size_t i = 0; i < count && answer->n_records < RECORDS_MAX; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        if (!is_rr(rr, kinds[kind].type, owner))
            continue;
        char *text = record_text(rr, kind);
        if (text == NULL)
            continue;
        answer->records =
            xreallocarray(answer->records, answer->n_records + 1, sizeof(*answer->records));
        answer->records[answer->n_records++] = text;
        if (ldns_rr_ttl(rr) < ttl)
            ttl = ldns_rr_ttl(rr);
    }
    if (answer->n_records == 0) {
        *negative_r = "NODATA";
        return negative_ttl(reply);
    }
    return ttl;
}

static void settle(struct dns_records *answer, const char *negative)
{
    if (negative) {
        answer->status = DNS_NONE;
        answer->detail = xstrdup(negative);
    } else {
        answer->status = DNS_FOUND;
        answer->detail =
            xasprintf("%zu record%s", answer->n_records, answer->n_records == 1 ? "" : "s");
    }
}

/*
 * The cache key "TYPE name" (lower case, no final dot) into key; false, and
 * the answer settled as invalid, for a name that is not a host name.
 */
static bool cache_key(const char *name, enum dns_rr_kind kind, struct dns_records *answer,
                      char key[NAME_MAX_LENGTH + 16], size_t *len_r)
{
    size_t len = strlen(name);

    memset(answer, 0, sizeof(*answer));
    answer->expires = time(NULL);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len > NAME_MAX_LENGTH || !tr_hostname_ok(name, len)) {
        answer->status = DNS_NONE;
        answer->detail = xstrdup("invalid domain name");
        return false;
    }
    snprintf(key, NAME_MAX_LENGTH + 16, "%s %.*s", kinds[kind].name, (int)len, name);
    for (char *p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    *len_r = len;
    return true;
}

/* The answer from the cache: false when it holds none (answer then empty). */
static bool from_cache(struct dns_resolver *resolver, const char *key, struct dns_records *answer)
{
    struct dns_cached cached;

    if (!dns_cache_get(resolver, key, answer->expires, &cached))
        return false;
    if (cached.n_records > 0)
        answer->records = xcalloc(cached.n_records, sizeof(*answer->records));
    for (size_t i = 0; i < cached.n_records; i++)
        answer->records[answer->n_records++] = xstrdup(cached.records[i]);
    answer->secure = cached.secure;
    answer->expires = cached.expires;
    settle(answer, cached.negative);
    return true;
}

bool dns_cached_records(struct dns_resolver *resolver, const char *name, enum dns_rr_kind kind,
                        struct dns_records *answer)
{
    char key[NAME_MAX_LENGTH + 16];
    size_t len;

    return !cache_key(name, kind, answer, key, &len) || from_cache(resolver, key, answer);
}

void dns_lookup_records(struct dns_resolver *resolver, const char *name, enum dns_rr_kind kind,
                        struct dns_records *answer)
{
    char key[NAME_MAX_LENGTH + 16];
    size_t len;
    time_t now;
    char *error;
    ldns_pkt *reply;

    if (!cache_key(name, kind, answer, key, &len) || from_cache(resolver, key, answer))
        return;
    now = answer->expires;
    char *absolute = xasprintf("%.*s.", (int)len, name);
    ldns_rdf *dname = ldns_dname_new_frm_str(absolute);
    free(absolute);
    if (dname == NULL)
        msg_fatal("ldns_dname_new_frm_str: out of memory");
    if (dns_query_servers_flags(resolver, dname, kinds[kind].type, LDNS_RD | LDNS_AD, &reply,
                                &error) < 0) {
        answer->status = DNS_TEMPFAIL;
        answer->detail = error;
        ldns_rdf_deep_free(dname);
        return;
    }
    const char *negative;
    uint32_t ttl = read_records(reply, dname, kind, answer, &negative);
    answer->secure = ldns_pkt_ad(reply);
    ldns_pkt_free(reply);
    ldns_rdf_deep_free(dname);
    settle(answer, negative);
    answer->expires = now + (time_t)ttl;
    if (ttl > 0) {
        char **copy = answer->n_records ? xcalloc(answer->n_records, sizeof(char *)) : NULL;
        for (size_t i = 0; i < answer->n_records; i++)
            copy[i] = xstrdup(answer->records[i]);
        dns_cache_put(resolver, key, negative, copy, answer->n_records, answer->secure,
                      answer->expires);
    }
}

void dns_records_free(struct dns_records *answer)
{
    if (answer == NULL)
        return;
    for (size_t i = 0; i < answer->n_records; i++)
        free(answer->records[i]);
    free(answer->records);
    free(answer->detail);
    memset(answer, 0, sizeof(*answer));
}
