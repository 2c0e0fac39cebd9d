/*
 * upkeep.c - what the fleet's hosts share besides counts and reports: values
 * in tlsrpt_meta (the VERP key), suppressions made by hand, and the
 * removal of days past fleet_retention.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fleet_impl.h"
#include "util.h"

int fleet_shared_value(struct fleet *fleet, const char *name, const char *proposed,
                       char **value_r, char **error_r)
{
    const char *params[] = {name, proposed};
    PGresult *result;

    *value_r = NULL;
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                    "INSERT INTO tlsrpt_meta VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", 2,
                    params) ||
        !fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT value FROM tlsrpt_meta WHERE name = $1", 1, params))
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        *error_r = xasprintf("fleet database: tlsrpt_meta has no %s", name);
        return -1;
    }
    *value_r = xstrdup(PQgetvalue(result, 0, 0));
    PQclear(result);
    return 0;
}

int fleet_suppression_set(struct fleet *fleet, const char *uri, time_t until, char **error_r)
{
    char until_text[24];
    const char *params[] = {uri, until_text, fleet->host_id};

    snprintf(until_text, sizeof(until_text), "%lld", (long long)until);
    return fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                      "INSERT INTO tlsrpt_suppressions VALUES ($1, $2, $3, now())"
                      " ON CONFLICT (uri) DO UPDATE SET until = excluded.until,"
                      " set_by = excluded.set_by, set_at = excluded.set_at",
                      3, params)
               ? 0
               : -1;
}

int fleet_suppressions(struct fleet *fleet, struct fleet_suppression **list_r, size_t *n_r,
                       char **error_r)
{
    PGresult *result;

    *list_r = NULL;
    *n_r = 0;
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT uri, until, set_by FROM tlsrpt_suppressions ORDER BY uri", 0, NULL))
        return -1;
    *n_r = (size_t)PQntuples(result);
    *list_r = xcalloc(*n_r + 1, sizeof(**list_r));
    for (size_t i = 0; i < *n_r; i++) {
        (*list_r)[i].uri = xstrdup(PQgetvalue(result, (int)i, 0));
        (*list_r)[i].until = (time_t)strtoll(PQgetvalue(result, (int)i, 1), NULL, 10);
        (*list_r)[i].set_by = xstrdup(PQgetvalue(result, (int)i, 2));
    }
    PQclear(result);
    return 0;
}

void fleet_suppressions_free(struct fleet_suppression *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].uri);
        free(list[i].set_by);
    }
    free(list);
}

int fleet_expire(struct fleet *fleet, int before_day, char **error_r)
{
    static const char *const tables[] = {"tlsrpt_keys",    "tlsrpt_details",    "tlsrpt_overflow",
                                         "tlsrpt_reports", "tlsrpt_deliveries", "tlsrpt_days"};
    char day[16];
    const char *params[] = {day};
    PGresult *result;
    long removed = 0;

    snprintf(day, sizeof(day), "%d", before_day);
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, "BEGIN", 0, NULL))
        return -1;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char *sql = xasprintf("DELETE FROM %s WHERE day < $1", tables[i]);
        bool ok = fleet_exec(fleet, PGRES_COMMAND_OK, &result, error_r, sql, 1, params);
        free(sql);
        if (!ok) {
            fleet_rollback(fleet);
            return -1;
        }
        removed += atol(PQcmdTuples(result));
        PQclear(result);
    }
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, "COMMIT", 0, NULL)) {
        fleet_rollback(fleet);
        return -1;
    }
    return removed > 0;
}
