/*
 * dns.h - rua discovery: the TXT record at _smtp._tls.<policy domain>
 * (RFC 8460 §3) looked up with ldns, its grammar, and the difference
 * between "this domain takes no reports" and "ask again later".
 */
#ifndef TLSRPT_DNS_H
#define TLSRPT_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum dns_rua_scheme {
    DNS_RUA_MAILTO,
    DNS_RUA_HTTPS,
};

struct dns_rua {
    enum dns_rua_scheme scheme;
    /*
     * The destination as outbox, suppression list and CLI show it. mailto:
     * "mailto:" and the target, e.g. "mailto:tlsrpt@example.com" for
     * "MAILTO:%74lsrpt@example.com?subject=x"; https: the URI with %2C %21
     * %3B decoded.
     */
    char *uri;
    char *target; /* mailto: the Mailbox, percent-decoded once; https: the whole URI */
};

/* A parsed TLSRPT record. */
struct dns_tlsrpt_record {
    char *text;              /* the record as found (strings joined) */
    struct dns_rua *rua;     /* supported destinations, in record order, deduplicated */
    size_t n_rua;
    char **notes;            /* what was skipped and why (unknown scheme, over the limit) */
    size_t n_notes;
};

/*
 * Parses record text per RFC 8460 §3: "v=TLSRPTv1" first, fields separated
 * by *WSP ";" *WSP, one or more "rua=" fields of URIs separated by
 * *WSP "," *WSP, extension fields ignored, a trailing ";" allowed; only
 * mailto: and https: kept (others noted), at most max_rua destinations
 * (the rest noted). -1 with *error_r (caller frees) when the text is not a
 * valid TLSRPT record, including one with no usable rua at all.
 */
int dns_tlsrpt_parse(const char *text, size_t max_rua, struct dns_tlsrpt_record *record,
                     char **error_r);
void dns_tlsrpt_record_free(struct dns_tlsrpt_record *record);

enum dns_status {
    DNS_FOUND,     /* exactly one valid TLSRPT record */
    DNS_NONE,      /* NXDOMAIN, NODATA, or not exactly one record starting "v=TLSRPTv1;" */
    DNS_TEMPFAIL,  /* SERVFAIL, timeout, no server reachable: try again later */
};
const char *dns_status_name(enum dns_status status);

/* Everything a lookup saw, for `tlsrpt lookup`. */
struct dns_tlsrpt_answer {
    enum dns_status status;
    char *qname;               /* _smtp._tls.<domain> */
    char *detail;              /* "NXDOMAIN", "2 TLSRPT records", "SERVFAIL", ... */
    char **txt;                /* every TXT record found, strings joined */
    size_t *txt_len;           /* the bytes of each (a NUL in a record included) */
    size_t n_txt;
    struct dns_tlsrpt_record record; /* when status == DNS_FOUND */
    time_t expires;            /* cache lifetime from the TTL */
};
void dns_tlsrpt_answer_free(struct dns_tlsrpt_answer *answer);

struct dns_resolver;
/*
 * servers: NULL or empty for /etc/resolv.conf, else "host[:port]" items
 * (IPv4 or IPv6 literals; [v6]:port). timeout_ms per query.
 */
struct dns_resolver *dns_resolver_create(const char *const *servers, int timeout_ms,
                                         char **error_r);
void dns_resolver_destroy(struct dns_resolver *resolver);

/*
 * Looks up _smtp._tls.<domain> (an A-label name; no parent fallback). The
 * answer is cached within its TTL (at most one day; negative answers per the
 * SOA minimum, at most one hour; temporary failures are not cached).
 * max_rua bounds the destinations kept.
 */
void dns_lookup_tlsrpt(struct dns_resolver *resolver, const char *domain, size_t max_rua,
                       struct dns_tlsrpt_answer *answer);

/*
 * dns_lookup_tlsrpt for n domains at once: answers[i] (caller frees each)
 * for domains[i]. Cached answers come from the cache; the rest are asked
 * by at most `concurrency` threads (each with ldns resolvers of its own;
 * only the calling thread touches the cache), one query per distinct
 * domain. 1 asks one after the other in the calling thread.
 */
void dns_lookup_tlsrpt_many(struct dns_resolver *resolver, const char *const *domains, size_t n,
                            size_t max_rua, unsigned concurrency,
                            struct dns_tlsrpt_answer *answers);

/*
 * The IPv4 and IPv6 addresses of host (A and AAAA, CNAMEs followed) into at
 * most max entries with port 0. Returns the count (0: the name has no
 * address), or -1 with *error_r (caller frees) on a temporary failure.
 */
struct sockaddr_storage;
int dns_lookup_addresses(struct dns_resolver *resolver, const char *host,
                         struct sockaddr_storage *addresses, size_t max, char **error_r);

/*
 * Other record types, for the MTA-STS policy service (RFC 8461): TXT at
 * _mta-sts.<domain>, MX of a domain, TLSA at _25._tcp.<host> (DANE first).
 */
enum dns_rr_kind {
    DNS_RR_TXT,  /* records: character-strings joined */
    DNS_RR_MX,   /* records: "PREFERENCE host" (lower case, no trailing dot) */
    DNS_RR_TLSA, /* records: "USAGE SELECTOR MTYPE hexdata" (hex lower case) */
};
struct dns_records {
    enum dns_status status; /* FOUND (n_records > 0), NONE (NXDOMAIN, NODATA), TEMPFAIL */
    char *detail;           /* "3 records", "NXDOMAIN", "SERVFAIL", ... */
    char **records;
    size_t n_records;
    bool secure;            /* the answer had the AD bit: DNSSEC-validated by the server */
    time_t expires;
};
/*
 * Looks up records of `kind` at name (an A-label name, CNAMEs in the answer
 * followed), asking with the AD bit set so a validating server says whether
 * it validated the answer. Cached within the TTL like dns_lookup_tlsrpt;
 * at most 64 records are kept. Not thread-safe (nor is the resolver).
 */
void dns_lookup_records(struct dns_resolver *resolver, const char *name, enum dns_rr_kind kind,
                        struct dns_records *answer);
/*
 * dns_lookup_records() from the cache only, never asking a server: false
 * (answer empty) when the cache holds no answer.
 */
bool dns_cached_records(struct dns_resolver *resolver, const char *name, enum dns_rr_kind kind,
                        struct dns_records *answer);
void dns_records_free(struct dns_records *answer);

#endif
