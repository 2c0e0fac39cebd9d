/*
 * spool_impl.h - what the spool module's files share: the state file
 * format (state.c) used by the outbox code (outbox.c).
 */
#ifndef TLSRPT_SPOOL_IMPL_H
#define TLSRPT_SPOOL_IMPL_H

#include "spool.h"

/* The text of an entry's state file. */
void spool_state_format(const struct spool_entry *entry, struct buf *out);
/* Parses (and modifies) text; `name` is used in errors. */
int spool_state_parse(char *text, const char *name, struct spool_entry *entry, char **error_r);

#endif
