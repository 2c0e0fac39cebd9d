/*
 * fleet_impl.h - what the fleet module's files share: the connection and
 * small helpers around libpq results.
 */
#ifndef TLSRPT_FLEET_IMPL_H
#define TLSRPT_FLEET_IMPL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "util.h"

#include "fleet.h"

struct fleet {
    PGconn *conn;
    char host_id[FLEET_HOST_ID_MAX + 1];
};

/*
 * Runs a statement with text parameters; true when its result has status
 * `expect`. Otherwise *error_r says what (caller frees) and the result is
 * cleared. *result_r (may be NULL) gets the result on success.
 */
bool fleet_exec(struct fleet *fleet, ExecStatusType expect, PGresult **result_r, char **error_r,
                const char *sql, int n_params, const char *const *params);
/* Rolls a failed transaction back, keeping the first error. */
void fleet_rollback(struct fleet *fleet);
/* Runs the last statement of a transaction, then COMMIT; rolls back on failure (-1). */
int fleet_finish(struct fleet *fleet, const char *sql, int n_params, const char *const *params,
                 char **error_r);

/* One COPY ... FROM STDIN in progress: rows are sent FLEET_COPY_BLOCK bytes at a time. */
struct fleet_copy {
    struct fleet *fleet;
    struct buf rows;
    bool failed;
};
#define FLEET_COPY_BLOCK (256 * 1024)
bool fleet_copy_begin(struct fleet_copy *copy, struct fleet *fleet, const char *sql,
                      char **error_r);
/* Text in COPY's text format: backslash, tab, newline and carriage return escaped. */
void fleet_copy_text(struct buf *line, const char *text);
/* A field and its tab; NULL is COPY's \N (apart from ""). */
void fleet_copy_field(struct buf *line, const char *text);
/* A number, then a tab, or the row's newline when last. */
void fleet_copy_number(struct buf *line, uint64_t value, bool last);
/* Sends what is buffered once it is more than `above` bytes. */
void fleet_copy_flush(struct fleet_copy *copy, size_t above);
/* Ends the COPY: false with *error_r when any row or the statement failed. */
bool fleet_copy_end(struct fleet_copy *copy, char **error_r);

#endif
