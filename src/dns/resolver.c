/*
 * resolver.c - looks up the TXT records at _smtp._tls.<domain> with ldns,
 * tells "this domain takes no reports" (NXDOMAIN, NODATA, not exactly one
 * TLSRPT record) from "ask again later" (SERVFAIL, timeouts), and caches
 * answers within their TTL.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "core.h"
#include "dns.h"
#include "dns_impl.h"
#include "util.h"

/* §3: only records beginning with this are TLSRPT records (tlsrpt.c checks it too). */
#define TLSRPT_PREFIX "v=TLSRPTv1;"
#define QNAME_PREFIX "_smtp._tls."
#define NAME_MAX_LENGTH 253
#define DEFAULT_TIMEOUT_MS 5000
#define CNAME_HOPS_MAX 8
#define TTL_MAX 86400         /* one day, whatever the zone says */
#define NEGATIVE_TTL_MAX 3600 /* one hour for NXDOMAIN and NODATA */
#define NEGATIVE_TTL_NO_SOA 300
#define CACHE_BUCKETS 4096 /* power of two */
#define CACHE_ENTRIES_MAX 10000
#define CACHE_BYTES_MAX (16u << 20) /* TXT answers can be large: bound the bytes too */

struct cache_entry {
    struct cache_entry *next_in_bucket;
    struct cache_entry *older, *newer; /* insertion order: the oldest is evicted first */
    uint64_t hash;
    char *qname;          /* lower case */
    const char *negative; /* "NXDOMAIN" or "NODATA"; NULL when there were TXT records */
    char **txt;
    size_t *txt_len; /* NUL bytes included */
    size_t n_txt;
    time_t expires;
    bool secure; /* the answer had the AD bit (dns_lookup_records) */
    size_t cost; /* bytes held, counted against CACHE_BYTES_MAX */
};

struct dns_resolver {
    /*
     * One ldns resolver per server: ldns has one port per resolver, and it
     * stops at the first server that answers, even with SERVFAIL.
     */
    ldns_resolver **servers;
    size_t n_servers;
    struct cache_entry *buckets[CACHE_BUCKETS];
    struct cache_entry *oldest, *newest;
    size_t n_cached;
    size_t bytes_cached;
};

/* What one successful exchange said, before the TLSRPT rules are applied. */
struct outcome {
    const char *negative;
    char **txt;
    size_t *txt_len;
    size_t n_txt;
    uint32_t ttl;
    bool secure;
};

const char *dns_status_name(enum dns_status status)
{
    switch (status) {
    case DNS_FOUND:
        return "found";
    case DNS_NONE:
        return "none";
    case DNS_TEMPFAIL:
        return "tempfail";
    }
    msg_panic("dns_status_name: bad status %d", (int)status);
}

static void free_strings(char **strings, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(strings[i]);
    free(strings);
}

static ldns_resolver *server_new(const ldns_rdf *address, uint16_t port, int timeout_ms)
{
    ldns_resolver *server = ldns_resolver_new();
    struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

    if (server == NULL)
        msg_fatal("ldns_resolver_new: out of memory");
    ldns_resolver_set_port(server, port);
    ldns_resolver_set_timeout(server, timeout);
    ldns_resolver_set_retry(server, 1); /* dns_timeout is the time of one query */
    ldns_resolver_set_random(server, false);
    ldns_resolver_set_recursive(server, true);
    if (ldns_resolver_push_nameserver(server, address) != LDNS_STATUS_OK)
        msg_fatal("ldns_resolver_push_nameserver: out of memory");
    return server;
}

static void add_server(struct dns_resolver *resolver, ldns_resolver *server)
{
    resolver->servers =
        xreallocarray(resolver->servers, resolver->n_servers + 1, sizeof(ldns_resolver *));
    resolver->servers[resolver->n_servers++] = server;
}

/* "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal: endpoint_parse(). */
static int parse_server(const char *item, ldns_rdf **address_r, uint16_t *port_r, char **error_r)
{
    struct endpoint endpoint;
    const char *problem;

    if (endpoint_parse(item, LDNS_PORT, true, &endpoint, &problem) < 0) {
        *error_r = xasprintf("DNS server \"%s\": %s; expected an IP address with an optional "
                             "port, as host, host:port or [IPv6]:port",
                             item, problem);
        return -1;
    }
    *port_r = (uint16_t)endpoint.port;
    *address_r =
        ldns_rdf_new_frm_str(endpoint.ipv6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, endpoint.host);
    if (*address_r == NULL)
        msg_panic("ldns refused the address %s that inet_pton took", endpoint.host);
    return 0;
}

static int add_system_servers(struct dns_resolver *resolver, int timeout_ms, char **error_r)
{
    ldns_resolver *system = NULL;
    ldns_status status = ldns_resolver_new_frm_file(&system, NULL);

    if (status != LDNS_STATUS_OK) {
        *error_r =
            xasprintf("DNS servers from %s: %s", LDNS_RESOLV_CONF, ldns_get_errorstr_by_id(status));
        return -1;
    }
    ldns_rdf **addresses = ldns_resolver_nameservers(system);
    for (size_t i = 0; i < ldns_resolver_nameserver_count(system); i++)
        add_server(resolver, server_new(addresses[i], ldns_resolver_port(system), timeout_ms));
    ldns_resolver_deep_free(system);
    if (resolver->n_servers == 0) {
        *error_r = xasprintf("no nameserver in %s", LDNS_RESOLV_CONF);
        return -1;
    }
    return 0;
}

struct dns_resolver *dns_resolver_create(const char *const *servers, int timeout_ms, char **error_r)
{
    struct dns_resolver *resolver = xcalloc(1, sizeof(*resolver));

    if (timeout_ms <= 0)
        timeout_ms = DEFAULT_TIMEOUT_MS;
    if (servers == NULL || servers[0] == NULL) {
        if (add_system_servers(resolver, timeout_ms, error_r) < 0)
            goto fail;
        return resolver;
    }
    for (size_t i = 0; servers[i]; i++) {
        ldns_rdf *address;
        uint16_t port;
        if (parse_server(servers[i], &address, &port, error_r) < 0)
            goto fail;
        add_server(resolver, server_new(address, port, timeout_ms));
        ldns_rdf_deep_free(address);
    }
    return resolver;
fail:
    dns_resolver_destroy(resolver);
    return NULL;
}

/* Cache: a hash map by query name with a list in insertion order. */

static void cache_unlink(struct dns_resolver *resolver, struct cache_entry *entry)
{
    struct cache_entry **link = &resolver->buckets[entry->hash & (CACHE_BUCKETS - 1)];

    while (*link != entry)
        link = &(*link)->next_in_bucket;
    *link = entry->next_in_bucket;
    if (entry->older)
        entry->older->newer = entry->newer;
    else
        resolver->oldest = entry->newer;
    if (entry->newer)
        entry->newer->older = entry->older;
    else
        resolver->newest = entry->older;
    resolver->n_cached--;
    resolver->bytes_cached -= entry->cost;
    free(entry->qname);
    free_strings(entry->txt, entry->n_txt);
    free(entry->txt_len);
    free(entry);
}

static struct cache_entry *cache_find(struct dns_resolver *resolver, const char *qname, time_t now)
{
    uint64_t hash = hash64(qname, strlen(qname), 0);
    struct cache_entry *entry = resolver->buckets[hash & (CACHE_BUCKETS - 1)];

    for (; entry; entry = entry->next_in_bucket) {
        if (entry->hash != hash || strcmp(entry->qname, qname) != 0)
            continue;
        if (now < entry->expires)
            return entry;
        cache_unlink(resolver, entry);
        return NULL;
    }
    return NULL;
}

/* Takes over outcome's TXT strings when it keeps them. */
static void cache_store(struct dns_resolver *resolver, const char *qname, struct outcome *outcome,
                        time_t expires)
{
    size_t cost = sizeof(struct cache_entry) + strlen(qname) + 1;

    for (size_t i = 0; i < outcome->n_txt; i++)
        cost += sizeof(char *) + sizeof(size_t) + outcome->txt_len[i] + 1;
    if (cost > CACHE_BYTES_MAX / 16)
        return; /* one answer may not push out a large part of the cache */
    while (resolver->oldest && (resolver->n_cached >= CACHE_ENTRIES_MAX ||
                                resolver->bytes_cached + cost > CACHE_BYTES_MAX))
        cache_unlink(resolver, resolver->oldest);
    struct cache_entry *entry = xcalloc(1, sizeof(*entry));
    entry->cost = cost;
    entry->hash = hash64(qname, strlen(qname), 0);
    entry->qname = xstrdup(qname);
    entry->negative = outcome->negative;
    entry->txt = outcome->txt;
    entry->txt_len = outcome->txt_len;
    entry->n_txt = outcome->n_txt;
    entry->expires = expires;
    entry->secure = outcome->secure;
    outcome->txt = NULL;
    outcome->txt_len = NULL;
    outcome->n_txt = 0;
    struct cache_entry **bucket = &resolver->buckets[entry->hash & (CACHE_BUCKETS - 1)];
    entry->next_in_bucket = *bucket;
    *bucket = entry;
    entry->older = resolver->newest;
    if (resolver->newest)
        resolver->newest->newer = entry;
    else
        resolver->oldest = entry;
    resolver->newest = entry;
    resolver->n_cached++;
    resolver->bytes_cached += cost;
}

bool dns_cache_get(struct dns_resolver *resolver, const char *key, time_t now,
                   struct dns_cached *cached)
{
    const struct cache_entry *entry = cache_find(resolver, key, now);

    if (entry == NULL)
        return false;
    cached->negative = entry->negative;
    cached->records = entry->txt;
    cached->n_records = entry->n_txt;
    cached->secure = entry->secure;
    cached->expires = entry->expires;
    return true;
}

void dns_cache_put(struct dns_resolver *resolver, const char *key, const char *negative,
                   char **records, size_t n_records, bool secure, time_t expires)
{
    struct outcome outcome = {.negative = negative, .txt = records, .n_txt = n_records,
                              .secure = secure};

    /* These records are text without NUL (dns_lookup_records refuses the others). */
    outcome.txt_len = n_records ? xcalloc(n_records, sizeof(size_t)) : NULL;
    for (size_t i = 0; i < n_records; i++)
        outcome.txt_len[i] = strlen(records[i]);
    cache_store(resolver, key, &outcome, expires);
    free_strings(outcome.txt, outcome.n_txt);
    free(outcome.txt_len);
}

void dns_resolver_destroy(struct dns_resolver *resolver)
{
    if (resolver == NULL)
        return;
    while (resolver->oldest)
        cache_unlink(resolver, resolver->oldest);
    for (size_t i = 0; i < resolver->n_servers; i++)
        ldns_resolver_deep_free(resolver->servers[i]);
    free(resolver->servers);
    free(resolver);
}

/* Reading a reply. */

static bool is_rr(const ldns_rr *rr, ldns_rr_type type, const ldns_rdf *owner)
{
    return ldns_rr_get_type(rr) == type && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
           (owner == NULL || ldns_dname_compare(ldns_rr_owner(rr), owner) == 0);
}

static uint32_t min_ttl(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* RFC 2308 §5: the smaller of the SOA's TTL and its MINIMUM field. */
static uint32_t negative_ttl(const ldns_pkt *reply)
{
    const ldns_rr_list *authority = ldns_pkt_authority(reply);

    for (size_t i = 0; i < ldns_rr_list_rr_count(authority); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(authority, i);
        if (is_rr(rr, LDNS_RR_TYPE_SOA, NULL) && ldns_rr_rd_count(rr) == 7)
            return min_ttl(min_ttl(ldns_rr_ttl(rr), ldns_rdf2native_int32(ldns_rr_rdf(rr, 6))),
                           NEGATIVE_TTL_MAX);
    }
    return NEGATIVE_TTL_NO_SOA;
}

/*
 * A TXT record's character-strings joined without spaces (RFC 7208 §3.3),
 * every byte kept (a NUL too: *len says where the text ends), so that a
 * record with a NUL is refused and shown as it is.
 */
char *dns_txt_join(const ldns_rr *rr, size_t *len_r)
{
    struct buf text;

    buf_init(&text);
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
        const uint8_t *data = ldns_rdf_data(rdf);
        size_t size = ldns_rdf_size(rdf);
        if (ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_STR || size == 0)
            continue;
        size_t len = data[0] < size ? data[0] : size - 1;
        buf_append(&text, data + 1, len);
    }
    *len_r = text.len;
    return text.data ? buf_steal(&text) : xstrdup("");
}

/* The TXT records at name, after CNAMEs in the answer section. */
static void read_reply(const ldns_pkt *reply, const ldns_rdf *name, struct outcome *outcome)
{
    const ldns_rr_list *answers = ldns_pkt_answer(reply);
    size_t count = ldns_rr_list_rr_count(answers);
    const ldns_rdf *owner = name;
    uint32_t ttl = TTL_MAX;

    memset(outcome, 0, sizeof(*outcome));
    if (ldns_pkt_get_rcode(reply) == LDNS_RCODE_NXDOMAIN) {
        outcome->negative = "NXDOMAIN";
        outcome->ttl = negative_ttl(reply);
        return;
    }
    for (int hop = 0; hop < CNAME_HOPS_MAX; hop++) {
        size_t i = 0;
        while (i < count && !is_rr(ldns_rr_list_rr(answers, i), LDNS_RR_TYPE_CNAME, owner))
            i++;
        if (i == count || ldns_rr_rd_count(ldns_rr_list_rr(answers, i)) != 1)
            break;
        ttl = min_ttl(ttl, ldns_rr_ttl(ldns_rr_list_rr(answers, i)));
        owner = ldns_rr_rdf(ldns_rr_list_rr(answers, i), 0);
    }
    for (size_t i = 0; i < count; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(answers, i);
        if (!is_rr(rr, LDNS_RR_TYPE_TXT, owner))
            continue;
        outcome->txt = xreallocarray(outcome->txt, outcome->n_txt + 1, sizeof(char *));
        outcome->txt_len =
            xreallocarray(outcome->txt_len, outcome->n_txt + 1, sizeof(*outcome->txt_len));
        outcome->txt[outcome->n_txt] = dns_txt_join(rr, &outcome->txt_len[outcome->n_txt]);
        outcome->n_txt++;
        ttl = min_ttl(ttl, ldns_rr_ttl(rr));
    }
    if (outcome->n_txt == 0) {
        outcome->negative = "NODATA";
        ttl = negative_ttl(reply);
    }
    outcome->ttl = ttl;
}

/*
 * ldns does not compare the reply's ID and question with the query: without
 * this, any datagram reaching the socket would be taken as the answer.
 */
static bool reply_matches(const ldns_pkt *query, const ldns_pkt *reply)
{
    const ldns_rr_list *question = ldns_pkt_question(reply);
    ldns_pkt_rcode rcode = ldns_pkt_get_rcode(reply);

    if (ldns_pkt_id(reply) != ldns_pkt_id(query) || !ldns_pkt_qr(reply))
        return false;
    if (ldns_rr_list_rr_count(question) == 0)
        return rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN;
    const ldns_rr *asked = ldns_rr_list_rr(ldns_pkt_question(query), 0);
    const ldns_rr *echoed = ldns_rr_list_rr(question, 0);
    return ldns_rr_list_rr_count(question) == 1 &&
           ldns_rr_get_type(echoed) == ldns_rr_get_type(asked) &&
           ldns_rr_get_class(echoed) == ldns_rr_get_class(asked) &&
           ldns_dname_compare(ldns_rr_owner(echoed), ldns_rr_owner(asked)) == 0;
}

static char *send_error(ldns_status status)
{
    if (status == LDNS_STATUS_NETWORK_ERR)
        return xstrdup("timeout or network error");
    const char *text = ldns_get_errorstr_by_id(status);
    return xstrdup(text ? text : "unknown ldns error");
}

static char *rcode_error(ldns_pkt_rcode rcode)
{
    const ldns_lookup_table *entry = ldns_lookup_by_id(ldns_rcodes, (int)rcode);

    return entry ? xstrdup(entry->name) : xasprintf("RCODE %d", (int)rcode);
}

/*
 * Asks each server in turn until one gives a definite answer (NOERROR or
 * NXDOMAIN); 0 with the reply (caller frees), or -1 with what the last
 * server did.
 */
int dns_query_servers(struct dns_resolver *resolver, const ldns_rdf *name, ldns_rr_type type,
                      ldns_pkt **reply_r, char **error_r)
{
    return dns_query_servers_flags(resolver, name, type, LDNS_RD, reply_r, error_r);
}

int dns_query_servers_flags(struct dns_resolver *resolver, const ldns_rdf *name,
                            ldns_rr_type type, uint16_t flags, ldns_pkt **reply_r,
                            char **error_r)
{
    return dns_query_with(resolver->servers, resolver->n_servers, name, type, flags, reply_r,
                          error_r);
}

int dns_query_with(ldns_resolver *const *servers, size_t n_servers, const ldns_rdf *name,
                   ldns_rr_type type, uint16_t flags, ldns_pkt **reply_r, char **error_r)
{
    char *error = NULL;

    for (size_t i = 0; i < n_servers; i++) {
        ldns_resolver *server = servers[i];
        ldns_pkt *query = NULL, *reply = NULL;
        /* ldns marks a server that failed once as unreachable for good. */
        ldns_resolver_set_nameserver_rtt(server, 0, LDNS_RESOLV_RTT_MIN);
        ldns_status status =
            ldns_resolver_prepare_query_pkt(&query, server, name, type, LDNS_RR_CLASS_IN, flags);
        if (status == LDNS_STATUS_OK)
            status = ldns_resolver_send_pkt(&reply, server, query);
        free(error);
        if (status != LDNS_STATUS_OK || reply == NULL) {
            error = send_error(status);
        } else if (!reply_matches(query, reply)) {
            error = xstrdup("answer does not match the query");
        } else if (ldns_pkt_get_rcode(reply) != LDNS_RCODE_NOERROR &&
                   ldns_pkt_get_rcode(reply) != LDNS_RCODE_NXDOMAIN) {
            error = rcode_error(ldns_pkt_get_rcode(reply));
        } else if (ldns_pkt_tc(reply)) {
            error = xstrdup("truncated answer");
        } else {
            *reply_r = reply;
            reply = NULL;
            error = NULL;
        }
        ldns_pkt_free(query);
        ldns_pkt_free(reply);
        if (error == NULL)
            return 0;
    }
    *error_r = error ? error : xstrdup("no DNS server");
    return -1;
}

/* Resolvers of the same servers, for a thread of its own (ldns resolvers are not thread-safe). */
ldns_resolver **dns_servers_clone(const struct dns_resolver *resolver, size_t *n_r)
{
    ldns_resolver **servers = xcalloc(resolver->n_servers + 1, sizeof(*servers));

    for (size_t i = 0; i < resolver->n_servers; i++) {
        ldns_resolver *from = resolver->servers[i];
        struct timeval timeout = ldns_resolver_timeout(from);
        servers[i] = server_new(ldns_resolver_nameservers(from)[0], ldns_resolver_port(from),
                                (int)(timeout.tv_sec * 1000 + timeout.tv_usec / 1000));
    }
    *n_r = resolver->n_servers;
    return servers;
}

void dns_servers_free(ldns_resolver **servers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ldns_resolver_deep_free(servers[i]);
    free(servers);
}

/* Applies §3 to the TXT records: exactly one beginning "v=TLSRPTv1;", and valid. */
static void decide(struct dns_tlsrpt_answer *answer, const char *negative, char *const *txt,
                   const size_t *txt_len, size_t n_txt, size_t max_rua)
{
    size_t candidates = 0, chosen = 0;
    char *error;

    answer->txt = n_txt ? xcalloc(n_txt, sizeof(char *)) : NULL;
    answer->txt_len = n_txt ? xcalloc(n_txt, sizeof(size_t)) : NULL;
    answer->n_txt = n_txt;
    for (size_t i = 0; i < n_txt; i++) {
        answer->txt[i] = xmalloc(txt_len[i] + 1);
        memcpy(answer->txt[i], txt[i], txt_len[i] + 1);
        answer->txt_len[i] = txt_len[i];
        if (strncmp(txt[i], TLSRPT_PREFIX, strlen(TLSRPT_PREFIX)) == 0) {
            candidates++;
            chosen = i;
        }
    }
    answer->status = DNS_NONE;
    if (negative)
        answer->detail = xstrdup(negative);
    else if (candidates == 0)
        answer->detail = xstrdup("no TLSRPT record");
    else if (candidates > 1)
        answer->detail = xasprintf("%zu TLSRPT records", candidates);
    else if (dns_text_check(txt[chosen], txt_len[chosen], &error) < 0 ||
             dns_tlsrpt_parse(txt[chosen], max_rua, &answer->record, &error) < 0) {
        answer->detail = xasprintf("invalid TLSRPT record: %s", error);
        free(error);
    } else {
        answer->status = DNS_FOUND;
        answer->detail = xstrdup("1 TLSRPT record");
    }
}

/* An A-label name: LDH labels (and "_"), nothing ldns would read as an escape. */
static bool domain_ok(const char *domain, size_t len)
{
    return len + strlen(QNAME_PREFIX) <= NAME_MAX_LENGTH && tr_hostname_ok(domain, len);
}

/* A lookup between its start and its end: what the servers said, or why they did not. */
struct dns_tlsrpt_query {
    char *qname;          /* _smtp._tls.<domain>, lower case */
    int status;           /* of dns_tlsrpt_ask: 0, or -1 with error */
    char *error;
    struct outcome outcome;
    time_t asked; /* lifetimes count from the start, as for a cached answer */
};

bool dns_tlsrpt_start(struct dns_resolver *resolver, const char *domain, size_t max_rua,
                      struct dns_tlsrpt_answer *answer, struct dns_tlsrpt_query **query_r)
{
    time_t now = time(NULL);
    size_t len = strlen(domain);

    *query_r = NULL;
    memset(answer, 0, sizeof(*answer));
    answer->expires = now;
    if (len > 0 && domain[len - 1] == '.')
        len--;
    answer->qname = xasprintf(QNAME_PREFIX "%.*s", (int)len, domain);
    for (char *p = answer->qname; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (!domain_ok(domain, len)) {
        answer->status = DNS_NONE;
        answer->detail = xstrdup("invalid domain name");
        return true;
    }
    const struct cache_entry *cached = cache_find(resolver, answer->qname, now);
    if (cached) {
        decide(answer, cached->negative, cached->txt, cached->txt_len, cached->n_txt, max_rua);
        answer->expires = cached->expires;
        return true;
    }
    struct dns_tlsrpt_query *query = xcalloc(1, sizeof(*query));
    query->qname = answer->qname;
    query->asked = now;
    answer->qname = NULL;
    dns_tlsrpt_answer_free(answer);
    *query_r = query;
    return false;
}

void dns_tlsrpt_ask(ldns_resolver *const *servers, size_t n_servers,
                    struct dns_tlsrpt_query *query)
{
    char *absolute = xasprintf("%s.", query->qname);
    ldns_rdf *name = ldns_dname_new_frm_str(absolute);
    ldns_pkt *reply;

    free(absolute);
    if (name == NULL)
        msg_fatal("ldns_dname_new_frm_str: out of memory");
    query->status = dns_query_with(servers, n_servers, name, LDNS_RR_TYPE_TXT, LDNS_RD, &reply,
                                   &query->error);
    if (query->status == 0) {
        read_reply(reply, name, &query->outcome);
        ldns_pkt_free(reply);
    }
    ldns_rdf_deep_free(name);
}

void dns_tlsrpt_finish(struct dns_resolver *resolver, struct dns_tlsrpt_query *query,
                       size_t max_rua, struct dns_tlsrpt_answer *const *answers, size_t n_answers)
{
    struct outcome *outcome = &query->outcome;
    time_t now = query->asked;

    for (size_t i = 0; i < n_answers; i++) {
        struct dns_tlsrpt_answer *answer = answers[i];
        memset(answer, 0, sizeof(*answer));
        answer->qname = xstrdup(query->qname);
        answer->expires = now;
        if (query->status < 0) {
            /* Not cached: the next lookup asks again. */
            answer->status = DNS_TEMPFAIL;
            answer->detail = xstrdup(query->error);
            continue;
        }
        decide(answer, outcome->negative, outcome->txt, outcome->txt_len, outcome->n_txt,
               max_rua);
        answer->expires = now + (time_t)outcome->ttl;
    }
    if (query->status == 0 && outcome->ttl > 0)
        cache_store(resolver, query->qname, outcome, now + (time_t)outcome->ttl);
    free_strings(outcome->txt, outcome->n_txt);
    free(outcome->txt_len);
    free(query->error);
    free(query->qname);
    free(query);
}

void dns_lookup_tlsrpt(struct dns_resolver *resolver, const char *domain, size_t max_rua,
                       struct dns_tlsrpt_answer *answer)
{
    struct dns_tlsrpt_query *query;

    if (dns_tlsrpt_start(resolver, domain, max_rua, answer, &query))
        return;
    dns_tlsrpt_ask(resolver->servers, resolver->n_servers, query);
    dns_tlsrpt_finish(resolver, query, max_rua, &answer, 1);
}

void dns_tlsrpt_answer_free(struct dns_tlsrpt_answer *answer)
{
    if (answer == NULL)
        return;
    free(answer->qname);
    free(answer->detail);
    free_strings(answer->txt, answer->n_txt);
    free(answer->txt_len);
    dns_tlsrpt_record_free(&answer->record);
    memset(answer, 0, sizeof(*answer));
}
