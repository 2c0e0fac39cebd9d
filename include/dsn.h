/*
 * dsn.h - RFC 3464 delivery status notifications for our report mail: the
 * parser (GMime does the MIME, a strict reader with limits the fields) and
 * the VERP tag that names a report's destination in the envelope sender.
 */
#ifndef TLSRPT_DSN_H
#define TLSRPT_DSN_H

#include <stdbool.h>
#include <stddef.h>

/* Limits: larger input is refused (the message itself: only its start is read). */
#define DSN_MAX_MESSAGE (1024 * 1024)    /* bytes of the message parsed */
#define DSN_MAX_STATUS_PART (512 * 1024) /* bytes of the delivery-status part */
#define DSN_MAX_RECIPIENTS 1000
#define DSN_MAX_FIELD 2048 /* bytes of one field, unfolded */
#define DSN_MAX_FIELDS 64  /* fields in one group */

struct dsn_recipient {
    char *final_recipient;    /* the address, without "rfc822;" */
    char *original_recipient; /* NULL when absent */
    char *action;             /* failed|delayed|delivered|relayed|expanded (lower case) */
    char *status;             /* "5.1.1" */
    char *diagnostic;         /* "smtp; 550 5.1.1 ..." or NULL */
    char *remote_mta;         /* "mx.example.net" (without "dns;") or NULL */
};

struct dsn {
    char *reporting_mta; /* without "dns;" */
    struct dsn_recipient *recipients;
    size_t n_recipients;
    char *original_envelope_id; /* NULL when absent */
    /* Added: what the returned content (text/rfc822-headers, message/rfc822) says. */
    char *returned_report_domain; /* its TLS-Report-Domain, or NULL */
    bool truncated;               /* the message was longer than DSN_MAX_MESSAGE */
    /* Whom the DSN itself was for: X-Original-To, else Delivered-To, else To:; or NULL. */
    char *addressed_to;
};

/*
 * Parses a DSN: a multipart/report; report-type=delivery-status message
 * with a message/delivery-status (or message/global-delivery-status) part.
 * -1 with *error_r saying why when it is not a DSN or is malformed or over
 * a limit. Thread-safe (GMime is initialized once).
 */
int dsn_parse(const char *message, size_t len, struct dsn **dsn_r, char **error_r);
void dsn_free(struct dsn *dsn);

/*
 * The recipient that decides what happened: of those whose Final- or
 * Original-Recipient is `mailbox` (case-insensitive; all when none is),
 * the first failed, else delayed, else any. NULL when there is none.
 */
const struct dsn_recipient *dsn_decisive(const struct dsn *dsn, const char *mailbox);
/* Action failed with a 5.x.x status: the mail is refused for good. */
bool dsn_permanent(const struct dsn_recipient *recipient);

/*
 * VERP. The envelope sender of a report to one destination is
 * LOCAL DELIMITER TAG @DOMAIN, TAG = UNIQUE_ID "-" MAC: the report's
 * unique id (16 hex digits) and 16 hex digits of HMAC-SHA256 over (unique
 * id, destination URI) with a secret key kept in $state_directory/verp.key,
 * so only we can make a tag that marks a destination failed.
 */
#define DSN_VERP_KEY_SIZE 32
#define DSN_VERP_TAG_MAX 64 /* 16 + 1 + 16, and room */
#define DSN_VERP_TAG_LEN 33

/*
 * Loads the key (64 hex digits); with `create`, a missing one is made
 * (mode 0600, random, written atomically; a concurrent maker's wins).
 */
int dsn_verp_key_load(const char *path, bool create, unsigned char key[DSN_VERP_KEY_SIZE],
                      char **error_r);
/* The tag of (unique_id, uri) into out (DSN_VERP_TAG_MAX bytes). */
void dsn_verp_tag(const unsigned char key[DSN_VERP_KEY_SIZE], const char *unique_id,
                  const char *uri, char out[DSN_VERP_TAG_MAX]);
/*
 * The address for a tag: sender "local@domain" becomes
 * "local" delimiter tag "@domain". -1 with *error_r when the local part
 * would exceed 64 octets (RFC 5321 §4.5.3.1.1) or sender has no '@'.
 */
int dsn_verp_address(const char *sender, const char *delimiter, const char *tag, char **address_r,
                     char **error_r);
/*
 * The tag in a VERP address made from sender: the part after
 * "local" delimiter, up to the '@' (local part compared case-insensitively).
 * -1 with *error_r when address is not of that form or the tag is not
 * UNIQUE_ID-MAC shaped. *unique_id_r is allocated.
 */
int dsn_verp_parse(const char *address, const char *sender, const char *delimiter,
                   char tag_r[DSN_VERP_TAG_MAX], char **unique_id_r, char **error_r);

#endif
