/*
 * dsn_impl.h - what the dsn module's files share: the strict reader of the
 * delivery-status fields (fields.c) that the MIME walk (parse.c) calls.
 */
#ifndef TLSRPT_DSN_IMPL_H
#define TLSRPT_DSN_IMPL_H

#include "dsn.h"

/*
 * Reads the body of a message/delivery-status part (RFC 3464 §2.1: a
 * per-message group, then per-recipient groups, separated by blank lines)
 * into dsn. -1 with *error_r naming the line or recipient at fault.
 */
int dsn_fields_parse(const char *text, size_t len, struct dsn *dsn, char **error_r);
void dsn_recipient_free(struct dsn_recipient *recipient);

#endif
