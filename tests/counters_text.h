/*
 * counters_text.h - test helper: ctr_render() writes a snapshot as text,
 * "-" for an unknown (NULL) string, quoted strings otherwise.
 */
#ifndef TLSRPT_TESTS_COUNTERS_TEXT_H
#define TLSRPT_TESTS_COUNTERS_TEXT_H

#include "counters.h"

/* One line per key, per detail row and per overflow record, then "lost N"; caller frees. */
char *ctr_render(const struct ctr_snapshot *snap);

#endif
