/*
 * core.h - the normalized TLS session event every capture path produces, the
 * RFC 8460 policy and result types with their registry names, and checks of
 * domain names (A-labels only) and of the strings an event carries.
 */
#ifndef TLSRPT_CORE_H
#define TLSRPT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* RFC 8460 §4.4 policy-type. */
enum tr_policy_type {
    TR_POLICY_TLSA = 0,
    TR_POLICY_STS = 1,
    TR_POLICY_NONE = 2, /* "no-policy-found" */
};
#define TR_POLICY_TYPE_COUNT 3

/* RFC 8460 §4.3 / IANA "STARTTLS Validation Result Types": exactly these 11. */
enum tr_result {
    TR_RESULT_STARTTLS_NOT_SUPPORTED = 0,
    TR_RESULT_CERTIFICATE_HOST_MISMATCH,
    TR_RESULT_CERTIFICATE_EXPIRED,
    TR_RESULT_CERTIFICATE_NOT_TRUSTED,
    TR_RESULT_VALIDATION_FAILURE,
    TR_RESULT_TLSA_INVALID,
    TR_RESULT_DNSSEC_INVALID,
    TR_RESULT_DANE_REQUIRED,
    TR_RESULT_STS_POLICY_FETCH_ERROR,
    TR_RESULT_STS_POLICY_INVALID,
    TR_RESULT_STS_WEBPKI_INVALID,
};
#define TR_RESULT_COUNT 11

const char *tr_policy_type_name(enum tr_policy_type type);
/* 0 and *type on a known name, -1 otherwise. */
int tr_policy_type_from_name(const char *name, enum tr_policy_type *type);
const char *tr_result_name(enum tr_result result);
int tr_result_from_name(const char *name, enum tr_result *result);

/*
 * One failure detail (RFC 8460 §4.4 failure-details entry, without the count).
 * A NULL string means "unknown": the report omits that key.
 */
struct tr_failure {
    enum tr_result result;
    const char *sending_mta_ip;
    const char *receiving_mx_hostname;
    const char *receiving_mx_helo;
    const char *receiving_ip;
    const char *additional_information;
    const char *failure_reason_code;
};

/* One policy that applied to the session, and the session's outcome under it. */
struct tr_policy {
    enum tr_policy_type type;
    const char *domain; /* policy-domain; NULL means the event's domain */
    const char *const *strings;
    size_t n_strings;
    const char *const *mx_hosts;
    size_t n_mx_hosts;
    bool failed;
    const struct tr_failure *failures;
    size_t n_failures;
};

/*
 * One TLS session outcome. `domain` is the policy domain whose TLSRPT record
 * receives the report; `record` is that record's text when the capture path
 * knew it (NULL or "" when it did not). A session under both STS and DANE
 * carries both policies and counts under each.
 */
struct tr_event {
    time_t time;
    const char *domain;
    const char *record;
    const struct tr_policy *policies;
    size_t n_policies;
};

/* Limits every capture path enforces before an event reaches the table. */
#define TR_MAX_DOMAIN 253
#define TR_MAX_LOCAL_PART 64 /* RFC 5321 §4.5.3.1.1 */
#define TR_MAX_RECORD 2048
#define TR_MAX_STRING 1024      /* any single detail or policy string */
#define TR_MAX_POLICY_STRINGS 64
#define TR_MAX_MX_HOSTS 32
#define TR_MAX_FAILURES 32
#define TR_MAX_POLICIES 8

/*
 * Normalizes a domain name in place: lower-case, one trailing dot removed.
 * Returns 0 when the result is a syntactically valid A-label name (LDH labels
 * of 1..63 octets, total <= 253, no empty label; "_" allowed for service
 * labels), -1 with *error_r otherwise.
 */
int tr_domain_normalize(char *name, const char **error_r);
/*
 * Host-name syntax as DNS libraries take it: labels of 1 to 63 letters,
 * digits, "-" or "_", at most 253 octets, no empty label (the caller strips
 * a final dot). Case is not changed or checked.
 */
bool tr_hostname_ok(const char *name, size_t len);
/*
 * An RFC 5321 Mailbox as a report destination: a Dot-string or a
 * Quoted-string local part of at most 64 octets (printable ASCII only, so
 * no CR, LF or NUL), "@", a host name of letters, digits and "-". Both forms
 * are also valid RFC 5322 addr-specs, so the address can go into a header.
 */
bool tr_mailbox_ok(const char *address);
/* True when s is valid UTF-8 without NUL or C0/DEL control characters. */
bool tr_text_ok(const char *s, size_t len);
/* Checks the event against the limits and types above; -1 and a reason otherwise. */
int tr_event_check(const struct tr_event *event, const char **error_r);
/* A deep copy in one allocation of *size bytes: free() releases it. */
struct tr_event *tr_event_copy(const struct tr_event *event, size_t *size);

#endif
