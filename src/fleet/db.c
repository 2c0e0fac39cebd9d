/*
 * db.c - the fleet database: connecting (never with a password in the
 * connection string), the versioned schema and its migrations, and the
 * per-host status `tlsrpt fleet status` shows.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet_impl.h"
#include "util.h"

/*
 * Schema version 1. The counts tables lead with the policy domain so that a
 * Citus cluster can distribute them by it (doc/FLEET.md); a host's day is
 * replaced as a whole, through the (day, host_id) indexes.
 */
static const char *const schema_v1[] = {
    "CREATE TABLE tlsrpt_meta (name text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE tlsrpt_pushes ("
    " host_id text NOT NULL, day integer NOT NULL,"
    " keys bigint NOT NULL, details bigint NOT NULL, overflow bigint NOT NULL,"
    " sessions bigint NOT NULL, lost_events bigint NOT NULL, late_events bigint NOT NULL,"
    " pushed_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (host_id, day))",
    "CREATE TABLE tlsrpt_keys ("
    " domain text NOT NULL, day integer NOT NULL, host_id text NOT NULL, key_hash text NOT NULL,"
    " record text, policy_type text NOT NULL, policy_domain text,"
    " policy_strings text NOT NULL, mx_hosts text NOT NULL,"
    " success bigint NOT NULL, failure bigint NOT NULL,"
    " PRIMARY KEY (domain, day, host_id, key_hash))",
    "CREATE INDEX tlsrpt_keys_host_day ON tlsrpt_keys (day, host_id)",
    "CREATE TABLE tlsrpt_details ("
    " domain text NOT NULL, day integer NOT NULL, host_id text NOT NULL, key_hash text NOT NULL,"
    " detail_hash text NOT NULL, result_type text NOT NULL, sending_mta_ip text,"
    " receiving_mx_hostname text, receiving_mx_helo text, receiving_ip text,"
    " additional_information text, failure_reason_code text, count bigint NOT NULL,"
    " PRIMARY KEY (domain, day, host_id, key_hash, detail_hash))",
    "CREATE INDEX tlsrpt_details_host_day ON tlsrpt_details (day, host_id)",
    "CREATE TABLE tlsrpt_overflow ("
    " domain text NOT NULL, day integer NOT NULL, host_id text NOT NULL, events bigint NOT NULL,"
    " PRIMARY KEY (domain, day, host_id))",
    "CREATE INDEX tlsrpt_overflow_host_day ON tlsrpt_overflow (day, host_id)",
    NULL,
};

/* Version 2: the day's builder with its lease, and the delivery ledger. */
static const char *const schema_v2[] = {
    "CREATE TABLE tlsrpt_days ("
    " day integer PRIMARY KEY, builder text NOT NULL, lease_until timestamptz NOT NULL,"
    " done boolean NOT NULL DEFAULT false)",
    "CREATE TABLE tlsrpt_deliveries ("
    " report_id text NOT NULL, destination text NOT NULL, day integer NOT NULL,"
    " state text NOT NULL, host text NOT NULL, attempts integer NOT NULL,"
    " last_error text, updated_at timestamptz NOT NULL,"
    " PRIMARY KEY (report_id, destination))",
    NULL,
};

/*
 * Version 3: the fleet's outbox. A day's builder stores the reports it built
 * (tlsrpt_reports) with a ledger row per destination, so a host that takes
 * over sends the very reports the first one built, and carries on each
 * destination's retries from the ledger's first and next try; a bounce that
 * reaches any host of the fleet is written to its ledger row. Suppressions
 * made by hand hold for the whole fleet (until 0: lifted).
 */
static const char *const schema_v3[] = {
    "CREATE TABLE tlsrpt_reports ("
    " day integer NOT NULL, report_id text NOT NULL, unique_id text NOT NULL,"
    " policy_domain text NOT NULL, file_name text NOT NULL, record text NOT NULL,"
    " created bigint NOT NULL, send_after bigint NOT NULL,"
    " successes bigint NOT NULL, failures bigint NOT NULL, rua_pending boolean NOT NULL,"
    " report text NOT NULL,"
    " PRIMARY KEY (day, report_id))",
    "ALTER TABLE tlsrpt_days ADD COLUMN stored_reports integer,"
    " ADD COLUMN stored_at timestamptz",
    "ALTER TABLE tlsrpt_deliveries ADD COLUMN first_try bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN next_try bigint NOT NULL DEFAULT 0, ADD COLUMN dsn_action text,"
    " ADD COLUMN dsn_detail text, ADD COLUMN dsn_time bigint NOT NULL DEFAULT 0",
    "CREATE INDEX tlsrpt_deliveries_day ON tlsrpt_deliveries (day)",
    "ALTER TABLE tlsrpt_pushes ADD COLUMN instance text",
    "CREATE TABLE tlsrpt_suppressions ("
    " uri text PRIMARY KEY, until bigint NOT NULL, set_by text NOT NULL,"
    " set_at timestamptz NOT NULL)",
    NULL,
};

/* migrations[v] takes a database from version v to v + 1. */
static const char *const *const migrations[FLEET_SCHEMA_VERSION] = {schema_v1, schema_v2,
                                                                      schema_v3};

bool fleet_exec(struct fleet *fleet, ExecStatusType expect, PGresult **result_r, char **error_r,
                const char *sql, int n_params, const char *const *params)
{
    PGresult *result = PQexecParams(fleet->conn, sql, n_params, NULL, params, NULL, NULL, 0);

    if (result_r)
        *result_r = NULL;
    if (PQresultStatus(result) != expect) {
        const char *message = PQresultErrorMessage(result);
        if (message[0] == '\0')
            message = PQerrorMessage(fleet->conn);
        *error_r = xasprintf("fleet database: %.*s", (int)strcspn(message, "\n"), message);
        PQclear(result);
        return false;
    }
    if (result_r)
        *result_r = result;
    else
        PQclear(result);
    return true;
}

void fleet_rollback(struct fleet *fleet)
{
    PQclear(PQexec(fleet->conn, "ROLLBACK"));
}

int fleet_finish(struct fleet *fleet, const char *sql, int n_params, const char *const *params,
                 char **error_r)
{
    if (fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, sql, n_params, params) &&
        fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, "COMMIT", 0, NULL))
        return 0;
    fleet_rollback(fleet);
    return -1;
}

struct fleet *fleet_connect(const char *conninfo, const char *host_id, char **error_r)
{
    char *parse_error = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &parse_error);

    if (options == NULL) {
        const char *why = parse_error ? parse_error : "out of memory";
        *error_r = xasprintf("fleet_database: %.*s", (int)strcspn(why, "\n"), why);
        PQfreemem(parse_error);
        return NULL;
    }
    for (PQconninfoOption *o = options; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0]) {
            PQconninfoFree(options);
            *error_r = xstrdup("fleet_database: holds a password; put it in a passfile "
                               "(~/.pgpass, or passfile=FILE in fleet_database) instead");
            return NULL;
        }
    PQconninfoFree(options);

    struct fleet *fleet = xcalloc(1, sizeof(*fleet));
    if (host_id && host_id[0]) {
        if (strlen(host_id) > FLEET_HOST_ID_MAX) {
            free(fleet);
            *error_r = xasprintf("fleet_host_id: longer than %d characters", FLEET_HOST_ID_MAX);
            return NULL;
        }
        snprintf(fleet->host_id, sizeof(fleet->host_id), "%s", host_id);
    } else if (gethostname(fleet->host_id, sizeof(fleet->host_id) - 1) < 0) {
        free(fleet);
        *error_r = xstrdup("fleet_host_id: empty, and this machine has no host name");
        return NULL;
    }
    fleet->conn = PQconnectdb(conninfo);
    if (PQstatus(fleet->conn) != CONNECTION_OK) {
        const char *message = PQerrorMessage(fleet->conn);
        *error_r = xasprintf("fleet database: %.*s", (int)strcspn(message, "\n"), message);
        fleet_close(fleet);
        return NULL;
    }
    PQclear(PQexec(fleet->conn, "SET client_min_messages = warning"));
    return fleet;
}

void fleet_close(struct fleet *fleet)
{
    if (fleet == NULL)
        return;
    PQfinish(fleet->conn);
    free(fleet);
}

const char *fleet_host_id(const struct fleet *fleet)
{
    return fleet->host_id;
}

/* The schema version in the database: 0 when it has none. */
static int schema_version(struct fleet *fleet, int *version_r, char **error_r)
{
    PGresult *result;

    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT to_regclass('tlsrpt_meta') IS NOT NULL", 0, NULL))
        return -1;
    bool exists = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
    *version_r = 0;
    if (!exists)
        return 0;
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT value FROM tlsrpt_meta WHERE name = 'schema_version'", 0, NULL))
        return -1;
    if (PQntuples(result) == 1)
        *version_r = atoi(PQgetvalue(result, 0, 0));
    PQclear(result);
    return 0;
}

int fleet_init(struct fleet *fleet, int *from_r, char **error_r)
{
    int version;

    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, "BEGIN", 0, NULL))
        return -1;
    /* Two hosts running `fleet init` at once: the second waits, then finds it done. */
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, NULL, error_r,
                    "SELECT pg_advisory_xact_lock(8460, 1)", 0, NULL) ||
        schema_version(fleet, &version, error_r) < 0)
        goto fail;
    *from_r = version;
    if (version > FLEET_SCHEMA_VERSION) {
        *error_r = xasprintf("fleet database: schema version %d is newer than this program's %d",
                             version, FLEET_SCHEMA_VERSION);
        goto fail;
    }
    for (int v = version; v < FLEET_SCHEMA_VERSION; v++)
        for (const char *const *sql = migrations[v]; *sql; sql++)
            if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, *sql, 0, NULL))
                goto fail;
    char text[16];
    snprintf(text, sizeof(text), "%d", FLEET_SCHEMA_VERSION);
    const char *params[] = {text};
    return fleet_finish(fleet,
                        "INSERT INTO tlsrpt_meta VALUES ('schema_version', $1) "
                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        1, params, error_r);
fail:
    fleet_rollback(fleet);
    return -1;
}

int fleet_status(struct fleet *fleet, int window_days, struct fleet_status *status,
                 char **error_r)
{
    PGresult *result;

    memset(status, 0, sizeof(*status));
    if (schema_version(fleet, &status->schema_version, error_r) < 0)
        return -1;
    if (status->schema_version == 0)
        return 0;
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT p.host_id, max(p.day), extract(epoch FROM max(p.pushed_at))::bigint,"
                    " count(*), (SELECT l.sessions FROM tlsrpt_pushes l WHERE l.host_id = p.host_id"
                    " ORDER BY l.day DESC LIMIT 1)"
                    " FROM tlsrpt_pushes p GROUP BY p.host_id ORDER BY p.host_id",
                    0, NULL))
        return -1;
    status->n_hosts = (size_t)PQntuples(result);
    status->hosts = xcalloc(status->n_hosts + 1, sizeof(*status->hosts));
    for (size_t i = 0; i < status->n_hosts; i++) {
        struct fleet_host *h = &status->hosts[i];
        h->host_id = xstrdup(PQgetvalue(result, (int)i, 0));
        h->last_day = atoi(PQgetvalue(result, (int)i, 1));
        h->last_push = (time_t)strtoll(PQgetvalue(result, (int)i, 2), NULL, 10);
        h->days = strtoull(PQgetvalue(result, (int)i, 3), NULL, 10);
        h->sessions = strtoull(PQgetvalue(result, (int)i, 4), NULL, 10);
    }
    PQclear(result);
    char window[16];
    snprintf(window, sizeof(window), "%d", window_days);
    const char *params[] = {window};
    /*
     * The latest days any host pushed: who pushed them, who did not (a host
     * that pushed another day of the window before), and their reports.
     */
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "WITH days AS (SELECT day, string_agg(host_id, ', ' ORDER BY host_id) AS pushed"
                    "  FROM tlsrpt_pushes GROUP BY day ORDER BY day DESC LIMIT 7)"
                    " SELECT p.day, coalesce(d.builder, ''),"
                    " coalesce(extract(epoch FROM d.lease_until)::bigint, 0),"
                    " coalesce(d.done, false), coalesce(d.stored_reports, -1),"
                    " (SELECT count(*) FROM tlsrpt_deliveries l WHERE l.day = p.day),"
                    " (SELECT count(*) FROM tlsrpt_deliveries l WHERE l.day = p.day"
                    "  AND l.state = 'delivered'),"
                    " (SELECT count(*) FROM tlsrpt_deliveries l WHERE l.day = p.day"
                    "  AND l.state = 'failed'),"
                    " p.pushed,"
                    " coalesce((SELECT string_agg(DISTINCT k.host_id, ', ') FROM tlsrpt_pushes k"
                    "  WHERE k.day BETWEEN p.day - $1::integer AND p.day AND NOT EXISTS"
                    "  (SELECT 1 FROM tlsrpt_pushes q WHERE q.host_id = k.host_id AND q.day = p.day)),"
                    "  '')"
                    " FROM days p LEFT JOIN tlsrpt_days d ON d.day = p.day ORDER BY p.day DESC",
                    1, params)) {
        fleet_status_free(status);
        return -1;
    }
    status->n_days = (size_t)PQntuples(result);
    status->days = xcalloc(status->n_days + 1, sizeof(*status->days));
    for (size_t i = 0; i < status->n_days; i++) {
        struct fleet_day *d = &status->days[i];
        d->day = atoi(PQgetvalue(result, (int)i, 0));
        d->builder = xstrdup(PQgetvalue(result, (int)i, 1));
        d->lease_until = (time_t)strtoll(PQgetvalue(result, (int)i, 2), NULL, 10);
        d->done = strcmp(PQgetvalue(result, (int)i, 3), "t") == 0;
        d->stored_reports = atoi(PQgetvalue(result, (int)i, 4));
        d->destinations = strtoull(PQgetvalue(result, (int)i, 5), NULL, 10);
        d->delivered = strtoull(PQgetvalue(result, (int)i, 6), NULL, 10);
        d->failed = strtoull(PQgetvalue(result, (int)i, 7), NULL, 10);
        d->pushed = xstrdup(PQgetvalue(result, (int)i, 8));
        d->missing = xstrdup(PQgetvalue(result, (int)i, 9));
    }
    PQclear(result);
    return 0;
}

void fleet_status_free(struct fleet_status *status)
{
    for (size_t i = 0; i < status->n_hosts; i++)
        free(status->hosts[i].host_id);
    free(status->hosts);
    for (size_t i = 0; i < status->n_days; i++) {
        free(status->days[i].builder);
        free(status->days[i].pushed);
        free(status->days[i].missing);
    }
    free(status->days);
    memset(status, 0, sizeof(*status));
}
