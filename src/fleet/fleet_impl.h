/*
 * fleet_impl.h - what the fleet module's files share: the connection and
 * small helpers around libpq results.
 */
#ifndef TLSRPT_FLEET_IMPL_H
#define TLSRPT_FLEET_IMPL_H

#include <libpq-fe.h>

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

#endif
