/*
 * dns_impl.h - what the files of the dns module share and nobody else
 * needs: one question asked of the configured servers in turn, and the
 * TTL cache every kind of lookup keeps its answers in.
 */
#ifndef TLSRPT_DNS_IMPL_H
#define TLSRPT_DNS_IMPL_H

#include <stdbool.h>
#include <time.h>

#include <ldns/ldns.h>

#include "dns.h"

/*
 * Asks each server in turn (name, type, class IN, RD) until one gives a
 * definite answer, NOERROR or NXDOMAIN, whose ID and question match the
 * query; 0 with *reply_r (caller frees with ldns_pkt_free), or -1 with
 * *error_r (caller frees) saying what the last server did.
 */
int dns_query_servers(struct dns_resolver *resolver, const ldns_rdf *name, ldns_rr_type type,
                      ldns_pkt **reply_r, char **error_r);

/*
 * A TLSRPT record is text: -1 with *error_r (caller frees) naming the first
 * NUL or control byte (HTAB, white space of the grammar, excepted) and
 * where it is, so that such a record is refused whole, never used.
 */
int dns_text_check(const char *text, size_t len, char **error_r);

/*
 * A TXT record's character-strings joined without spaces (RFC 7208 §3.3),
 * every byte kept (a NUL too: *len_r says where the text ends). Caller frees.
 */
char *dns_txt_join(const ldns_rr *rr, size_t *len_r);

/* The same with other header flags, e.g. LDNS_RD | LDNS_AD to learn whether
   the server validated the answer (RFC 6840 §5.7). */
int dns_query_servers_flags(struct dns_resolver *resolver, const ldns_rdf *name,
                            ldns_rr_type type, uint16_t flags, ldns_pkt **reply_r,
                            char **error_r);

/* The same with the given servers (each thread has its own: ldns is not thread-safe). */
int dns_query_with(ldns_resolver *const *servers, size_t n_servers, const ldns_rdf *name,
                   ldns_rr_type type, uint16_t flags, ldns_pkt **reply_r, char **error_r);
/* Resolvers for the resolver's servers, with its timeout, for another thread. */
ldns_resolver **dns_servers_clone(const struct dns_resolver *resolver, size_t *n_r);
void dns_servers_free(ldns_resolver **servers, size_t n);

/*
 * dns_lookup_tlsrpt in three steps, so that the middle one, the only one
 * that waits on the network and the only one that touches no shared
 * state, can run in a thread of its own. start answers from the cache (or
 * refuses a bad name) and returns true; else it returns false with
 * *query_r. ask asks the servers (any thread, with servers of its own).
 * finish (the resolver's thread) fills each of answers as
 * dns_lookup_tlsrpt would, caches the outcome and frees query.
 */
struct dns_tlsrpt_query;
bool dns_tlsrpt_start(struct dns_resolver *resolver, const char *domain, size_t max_rua,
                      struct dns_tlsrpt_answer *answer, struct dns_tlsrpt_query **query_r);
void dns_tlsrpt_ask(ldns_resolver *const *servers, size_t n_servers,
                    struct dns_tlsrpt_query *query);
void dns_tlsrpt_finish(struct dns_resolver *resolver, struct dns_tlsrpt_query *query,
                       size_t max_rua, struct dns_tlsrpt_answer *const *answers,
                       size_t n_answers);

/*
 * The TTL cache, shared by every lookup: key is the TXT qname for
 * dns_lookup_tlsrpt, "TYPE qname" for dns_lookup_records. dns_cache_get
 * points into the cache (valid until the next put); dns_cache_put takes
 * records over (and frees them when not kept).
 */
struct dns_cached {
    const char *negative; /* "NXDOMAIN", "NODATA" or NULL */
    char *const *records;
    size_t n_records;
    bool secure;
    time_t expires;
};
bool dns_cache_get(struct dns_resolver *resolver, const char *key, time_t now,
                   struct dns_cached *cached);
void dns_cache_put(struct dns_resolver *resolver, const char *key, const char *negative,
                   char **records, size_t n_records, bool secure, time_t expires);

#endif
