/*
 * fields.h - inside the report module: the rules a single report field must
 * meet before it is written (the strict schema's shapes, RFC 5952, RFC 3986).
 */
#ifndef TLSRPT_REPORT_FIELDS_H
#define TLSRPT_REPORT_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#define RPT_HOST_SIZE 256 /* "*." + 253 octets + NUL */
#define RPT_IP_SIZE 46    /* INET6_ADDRSTRLEN */

/*
 * A host name as the schema allows it: lower-cased into out, one trailing
 * dot removed, LDH labels of 1..63 octets ("_" also inside labels other than
 * the last), at most 253 octets; with `wildcard`, a leading "*." is kept.
 */
bool rpt_host_normalize(const char *in, bool wildcard, char out[RPT_HOST_SIZE]);
/* An IPv4 or IPv6 address in RFC 5952 text form; false when it does not parse. */
bool rpt_ip_normalize(const char *in, char out[RPT_IP_SIZE]);
/* The RFC 5952 text of 16 bytes, as inet_ntop(AF_INET6) writes it (for the tests). */
void rpt_ipv6_text(const unsigned char address[16], char out[RPT_IP_SIZE]);
/* An absolute URI by the RFC 3986 grammar, with a non-empty hierarchical part. */
bool rpt_uri_ok(const char *s);
/* Non-empty, valid UTF-8 without NUL or control characters other than tab. */
bool rpt_text_ok(const char *s);
/*
 * An MTA-STS policy line in the "name: value" shape; out (at least
 * strlen(in) + 1 bytes) gets the line, with a run of blanks after the colon
 * made one space. False for a line that has no such shape.
 */
bool rpt_sts_line_normalize(const char *in, char *out);
/*
 * TLSA RDATA in presentation form as "U S M HEX" with single spaces (RFC 8460
 * §4.5): blanks inside the data and grouping parentheses are removed. out
 * needs strlen(in) + 1 bytes. False for anything else.
 */
bool rpt_tlsa_normalize(const char *in, char *out);
/* RFC 5322 dot-atom local part, ASCII, at most 64 octets. */
bool rpt_local_part_ok(const char *s, size_t len);
/* A mail domain: at least two LDH labels (no "_"), at most 253 octets, no final dot. */
bool rpt_mail_domain_ok(const char *s, size_t len);

#endif
