/*
 * lead.c - one host builds and sends a day's merged reports: the day's
 * builder holds a lease row (renewed by every worker run, taken over once
 * it has expired), and every delivery attempt is claimed in a ledger first,
 * so a host that takes over never sends a destination what it already got.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fleet_impl.h"
#include "util.h"

int fleet_day_candidates(struct fleet *fleet, int first_day, int last_day, int **days_r,
                         char **error_r)
{
    char first[16], last[16];
    const char *params[] = {first, last};
    PGresult *result;

    snprintf(first, sizeof(first), "%d", first_day);
    snprintf(last, sizeof(last), "%d", last_day);
    *days_r = NULL;
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT DISTINCT p.day FROM tlsrpt_pushes p"
                    " WHERE p.day BETWEEN $1 AND $2 AND NOT EXISTS"
                    " (SELECT 1 FROM tlsrpt_days d WHERE d.day = p.day AND d.done)"
                    " ORDER BY p.day",
                    2, params))
        return -1;
    int n = PQntuples(result);
    *days_r = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++)
        (*days_r)[i] = atoi(PQgetvalue(result, i, 0));
    PQclear(result);
    return n;
}

int fleet_day_missing(struct fleet *fleet, int day, int window_days, char **missing_r,
                      char **error_r)
{
    char day_text[16], since[16];
    const char *params[] = {day_text, since};
    PGresult *result;

    snprintf(day_text, sizeof(day_text), "%d", day);
    snprintf(since, sizeof(since), "%d", day - window_days);
    *missing_r = NULL;
    /* Known hosts: those that pushed any day of the window before it. */
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT DISTINCT k.host_id FROM tlsrpt_pushes k"
                    " WHERE k.day BETWEEN $2 AND $1 AND NOT EXISTS"
                    " (SELECT 1 FROM tlsrpt_pushes p WHERE p.host_id = k.host_id AND p.day = $1)"
                    " ORDER BY k.host_id",
                    2, params))
        return -1;
    int n = PQntuples(result);
    if (n > 0) {
        struct buf list = {0};
        for (int i = 0; i < n; i++) {
            if (i > 0)
                buf_puts(&list, ", ");
            buf_puts(&list, PQgetvalue(result, i, 0));
        }
        *missing_r = buf_steal(&list);
    }
    PQclear(result);
    return n;
}

int fleet_lead(struct fleet *fleet, int day, long lease_seconds, char **previous_r,
               char **error_r)
{
    char day_text[16], lease[24];
    const char *params[] = {day_text, fleet->host_id, lease};
    PGresult *result;

    snprintf(day_text, sizeof(day_text), "%d", day);
    snprintf(lease, sizeof(lease), "%ld", lease_seconds);
    *previous_r = NULL;
    /* Taken when free, renewed when ours, taken over when its builder let it expire. */
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "WITH old AS (SELECT builder FROM tlsrpt_days WHERE day = $1)"
                    " INSERT INTO tlsrpt_days AS d (day, builder, lease_until)"
                    " VALUES ($1, $2, now() + $3 * interval '1 second')"
                    " ON CONFLICT (day) DO UPDATE SET builder = excluded.builder,"
                    " lease_until = excluded.lease_until"
                    " WHERE NOT d.done AND (d.builder = excluded.builder OR d.lease_until < now())"
                    " RETURNING (SELECT builder FROM old)",
                    3, params))
        return -1;
    int lead = PQntuples(result) == 1;
    if (lead && !PQgetisnull(result, 0, 0) && strcmp(PQgetvalue(result, 0, 0), fleet->host_id) != 0)
        *previous_r = xstrdup(PQgetvalue(result, 0, 0));
    PQclear(result);
    return lead;
}

int fleet_day_finish(struct fleet *fleet, int day, char **error_r)
{
    char day_text[16];
    const char *params[] = {day_text, fleet->host_id};

    snprintf(day_text, sizeof(day_text), "%d", day);
    return fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                      "UPDATE tlsrpt_days SET done = true, lease_until = now()"
                      " WHERE day = $1 AND builder = $2",
                      2, params)
               ? 0
               : -1;
}

int fleet_claim(struct fleet *fleet, int day, const char *report_id, const char *destination,
                char state_r[FLEET_STATE_SIZE], char **error_r)
{
    char day_text[16];
    const char *params[] = {report_id, destination, day_text, fleet->host_id};
    PGresult *result;

    snprintf(day_text, sizeof(day_text), "%d", day);
    state_r[0] = '\0';
    /* Only the day's builder, with its lease, and only what is not settled yet. */
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "INSERT INTO tlsrpt_deliveries AS l (report_id, destination, day, state, host,"
                    " attempts, updated_at)"
                    " SELECT $1, $2, $3, 'sending', $4, 1, now() WHERE EXISTS"
                    " (SELECT 1 FROM tlsrpt_days WHERE day = $3 AND builder = $4"
                    "  AND lease_until > now() AND stored_reports IS NOT NULL)"
                    " ON CONFLICT (report_id, destination) DO UPDATE SET state = 'sending',"
                    " host = excluded.host, attempts = l.attempts + 1, updated_at = now()"
                    " WHERE l.state NOT IN ('delivered', 'failed')"
                    " RETURNING l.state",
                    4, params))
        return -1;
    int claimed = PQntuples(result) == 1;
    PQclear(result);
    if (claimed)
        return 1;
    const char *which[] = {report_id, destination};
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT state FROM tlsrpt_deliveries WHERE report_id = $1 AND destination = $2",
                    2, which))
        return -1;
    if (PQntuples(result) == 1)
        snprintf(state_r, FLEET_STATE_SIZE, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return 0;
}

int fleet_record(struct fleet *fleet, const char *report_id, const struct spool_destination *d,
                 bool any_host, char **error_r)
{
    char first[24], next[24], dsn_time[24];
    const char *params[] = {report_id, d->uri, spool_state_name(d->state),
                            d->last_error ? d->last_error : "", any_host ? NULL : fleet->host_id,
                            first, next, d->dsn_action, d->dsn_detail, dsn_time};

    snprintf(first, sizeof(first), "%lld", (long long)d->first_try);
    snprintf(next, sizeof(next), "%lld", (long long)d->next_try);
    snprintf(dsn_time, sizeof(dsn_time), "%lld", (long long)d->dsn_time);
    return fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                      "UPDATE tlsrpt_deliveries SET state = $3, last_error = $4, first_try = $6,"
                      " next_try = $7, dsn_action = $8, dsn_detail = $9, dsn_time = $10,"
                      " updated_at = now()"
                      " WHERE report_id = $1 AND destination = $2"
                      " AND ($5::text IS NULL OR host = $5)",
                      10, params)
               ? 0
               : -1;
}

int fleet_retry(struct fleet *fleet, const char *report_id, const char *destination,
                long lease_seconds, char **error_r)
{
    char lease[24];
    const char *params[] = {report_id, destination};
    const char *reopen[] = {report_id, fleet->host_id, lease};
    PGresult *result;

    snprintf(lease, sizeof(lease), "%ld", lease_seconds);
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, "BEGIN", 0, NULL))
        return -1;
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, &result, error_r,
                    "UPDATE tlsrpt_deliveries SET state = 'pending', first_try = 0, next_try = 0,"
                    " updated_at = now() WHERE report_id = $1 AND destination = $2"
                    " AND state = 'failed'",
                    2, params)) {
        fleet_rollback(fleet);
        return -1;
    }
    int renewed = atoi(PQcmdTuples(result)) > 0;
    PQclear(result);
    /*
     * The day is open again; this host leads it unless another one holds a
     * live lease (that one then sends it).
     */
    if (renewed &&
        !fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                    "UPDATE tlsrpt_days d SET done = false,"
                    " builder = CASE WHEN d.done OR d.lease_until < now() THEN $2 ELSE d.builder END,"
                    " lease_until = CASE WHEN d.done OR d.lease_until < now() OR d.builder = $2"
                    "  THEN now() + $3 * interval '1 second' ELSE d.lease_until END"
                    " FROM tlsrpt_reports r WHERE r.report_id = $1 AND d.day = r.day",
                    3, reopen)) {
        fleet_rollback(fleet);
        return -1;
    }
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, "COMMIT", 0, NULL)) {
        fleet_rollback(fleet);
        return -1;
    }
    return renewed;
}
