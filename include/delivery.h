/*
 * delivery.h - getting a report to a rua: the RFC 8460 §5.3 report message
 * (MIME, base64 gzip attachment) with a native DKIM signature (OpenSSL:
 * rsa-sha256, ed25519-sha256), SMTP through libcurl or the sendmail
 * command, HTTPS POST through libcurl with certificates always verified
 * and private addresses refused. Each attempt gives an outcome; the retry
 * schedule lives in the scheduler.
 */
#ifndef TLSRPT_DELIVERY_H
#define TLSRPT_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "util.h"

/* What one attempt came to. */
enum dlv_outcome {
    DLV_DELIVERED,  /* accepted: SMTP 2xx for the message, HTTP 200/201 */
    DLV_TEMPORARY,  /* try again later: SMTP 4xx, HTTP 429/5xx/other, timeouts, connect errors */
    DLV_PERMANENT,  /* will not work as is: SMTP 5xx, HTTP 4xx but 429, NXDOMAIN of the host */
    DLV_REFUSED,    /* not attempted: unsafe destination (private address) or bad URI */
};
const char *dlv_outcome_name(enum dlv_outcome outcome);

struct dlv_result {
    enum dlv_outcome outcome;
    int code;          /* SMTP reply code or HTTP status, 0 if none */
    char error[512];   /* for the queue and the log: "HTTP 500", "550 5.1.1 no such user", ... */
};

/* The report message (mailto:) ---------------------------------------- */

struct dlv_failure_count {
    const char *result_type;
    uint64_t count;
};

struct dlv_message {
    const char *from;           /* addr-spec */
    const char *to;             /* addr-spec (the rua target) */
    const char *submitter;      /* contact-info domain */
    const char *policy_domain;
    const char *report_id;      /* JSON report-id */
    const char *unique_id;      /* Subject Report-ID: <unique_id@submitter> */
    const char *file_name;      /* §5.1 attachment name (.json.gz) */
    const char *organization_name;
    int day;
    uint64_t successes, failures;
    const struct dlv_failure_count *top_failures; /* for the text part, most first */
    size_t n_top_failures;
    const void *gzip;           /* the attachment */
    size_t gzip_len;
    time_t date;                /* Date: header */
    const char *message_id;     /* without <>; NULL: made from unique_id, date and submitter */
};

/*
 * Builds the whole message (CRLF line ends): From, To, Subject "Report
 * Domain: D Submitter: S Report-ID: <ID@S>", Date, Message-ID,
 * MIME-Version, Content-Type multipart/report; report-type="tlsrpt",
 * TLS-Report-Domain, TLS-Report-Submitter, TLS-Required: No,
 * Auto-Submitted: auto-generated; a text/plain part saying what the report
 * covers; the application/tlsrpt+gzip part in base64 with
 * Content-Disposition: attachment; filename="...". Refuses (-1, *error_r)
 * any header value with CR, LF, NUL, other control or non-ASCII bytes.
 */
int dlv_message_build(const struct dlv_message *message, struct buf *out, char **error_r);

/* DKIM (RFC 6376, RFC 8463) ------------------------------------------ */

struct dlv_dkim_key;
/*
 * Loads a PEM private key (RSA >= 1024 bits, or Ed25519). Refuses a file
 * that group or others may read, or that is not a regular file.
 */
struct dlv_dkim_key *dlv_dkim_key_load(const char *path, char **error_r);
void dlv_dkim_key_free(struct dlv_dkim_key *key);
/* "rsa-sha256" or "ed25519-sha256". */
const char *dlv_dkim_algorithm(const struct dlv_dkim_key *key);

/*
 * Signs message (CRLF line ends, as built above) with relaxed/relaxed
 * canonicalization, no l= tag, h= covering From, To, Subject, Date,
 * Message-ID, MIME-Version, Content-Type, TLS-Report-Domain,
 * TLS-Report-Submitter, TLS-Required, Auto-Submitted; writes the signed
 * message (DKIM-Signature header first) to out.
 */
int dlv_dkim_sign(const struct dlv_dkim_key *key, const char *domain, const char *selector,
                  const char *message, size_t len, time_t now, struct buf *out, char **error_r);

/* SMTP and sendmail -------------------------------------------------- */

struct dlv_smtp_settings {
    const char *relayhost;        /* "[host]:port", "host:port", "[v6]:port" */
    const char *tls_level;        /* "none", "may", "encrypt" (STARTTLS) */
    const char *username;         /* AUTH, NULL or "" for none */
    const char *password;
    const char *ca_file;          /* extra trust for STARTTLS, NULL for system */
    const char *sendmail_path;    /* when set: run it instead of SMTP (no shell) */
    int timeout_seconds;
};

/* Sends one message to one recipient; the outcome from the SMTP replies or exit status. */
void dlv_smtp_send(const struct dlv_smtp_settings *settings, const char *envelope_sender,
                   const char *recipient, const char *message, size_t len,
                   struct dlv_result *result);

/* HTTPS ---------------------------------------------------------------- */

/*
 * Resolves host into at most max addresses (port 0); returns how many, or
 * -1 with *error_r. The caller (the scheduler) passes one built on the
 * dns module so the addresses checked are the addresses connected to and
 * tests can use their own DNS server; NULL means getaddrinfo().
 */
typedef int dlv_resolve_fn(void *context, const char *host, struct sockaddr_storage *addresses,
                           size_t max, char **error_r);

struct dlv_https_settings {
    const char *ca_file;          /* adds trust (tests); the system store is always used */
    bool allow_private;           /* https_allow_private_destinations */
    int timeout_seconds;
    dlv_resolve_fn *resolve;
    void *resolve_context;
};

/*
 * POSTs the gzip bytes with Content-Type: application/tlsrpt+gzip. Never
 * follows redirects; certificates are always verified. A host that resolves
 * to a loopback, private, link-local, CGNAT, multicast, unspecified or
 * otherwise reserved address is refused (unless allow_private), checked
 * again on the address actually connected to.
 */
void dlv_https_post(const struct dlv_https_settings *settings, const char *url,
                    const void *body, size_t len, struct dlv_result *result);

/* True for the addresses a report must not be POSTed to (see above). */
bool dlv_address_is_private(const struct sockaddr *address);

#endif
