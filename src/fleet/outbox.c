/*
 * outbox.c - the fleet's outbox: the reports a day's builder built, stored
 * in the database with a ledger row per destination, restored by a host
 * that takes the day over (the very reports, each destination in the
 * ledger's state), and listed for `tlsrpt queue --fleet`.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fleet_impl.h"
#include "util.h"

#define DESTINATION_MAX 64 /* per report in the ledger: more is a damaged row */

/* The day's reports, in COPY's rows: one per report, then one per destination. */
static bool copy_reports(struct fleet *fleet, struct spool *spool, const struct spool_entry *e,
                         size_t n, const char *day, char **error_r)
{
    struct fleet_copy copy;
    struct buf json = {0};
    char *read_error = NULL;

    if (!fleet_copy_begin(&copy, fleet,
                          "COPY tlsrpt_reports (day, report_id, unique_id, policy_domain,"
                          " file_name, record, created, send_after, successes, failures,"
                          " rua_pending, report) FROM STDIN",
                          error_r))
        return false;
    for (size_t i = 0; i < n && !copy.failed; i++) {
        buf_reset(&json);
        if (spool_read_report(spool, &e[i], &json, &read_error) < 0) {
            copy.failed = true; /* fleet_copy_end cancels the COPY */
            break;
        }
        const char *fields[] = {day, e[i].report_id, e[i].unique_id, e[i].policy_domain,
                                e[i].file_name, e[i].record};
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
            fleet_copy_field(&copy.rows, fields[f]);
        fleet_copy_number(&copy.rows, (uint64_t)e[i].created, false);
        fleet_copy_number(&copy.rows, (uint64_t)e[i].send_after, false);
        fleet_copy_number(&copy.rows, e[i].successes, false);
        fleet_copy_number(&copy.rows, e[i].failures, false);
        buf_puts(&copy.rows, e[i].rua_pending ? "t\t" : "f\t");
        fleet_copy_text(&copy.rows, buf_cstr(&json));
        buf_putc(&copy.rows, '\n');
        fleet_copy_flush(&copy, FLEET_COPY_BLOCK);
    }
    buf_free(&json);
    bool ok = fleet_copy_end(&copy, error_r);
    if (read_error) {
        if (!ok)
            free(*error_r);
        *error_r = read_error;
        ok = false;
    }
    return ok;
}

static bool copy_destinations(struct fleet *fleet, const struct spool_entry *e, size_t n,
                              char **error_r)
{
    struct fleet_copy copy;

    if (!fleet_copy_begin(&copy, fleet,
                          "COPY tlsrpt_new_deliveries (report_id, destination) FROM STDIN",
                          error_r))
        return false;
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < e[i].n_destinations; d++) {
            fleet_copy_field(&copy.rows, e[i].report_id);
            fleet_copy_text(&copy.rows, e[i].destinations[d].uri);
            buf_putc(&copy.rows, '\n');
        }
        fleet_copy_flush(&copy, FLEET_COPY_BLOCK);
    }
    return fleet_copy_end(&copy, error_r);
}

int fleet_store_day(struct fleet *fleet, struct spool *spool, int day, int *n_reports_r,
                    char **error_r)
{
    struct spool_entry *all;
    size_t n_all, first = 0, n = 0;
    char day_text[16], count[24];
    PGresult *result;

    *n_reports_r = 0;
    if (spool_list(spool, &all, &n_all, error_r) < 0)
        return -1;
    while (first < n_all && all[first].day < day)
        first++;
    while (first + n < n_all && all[first + n].day == day)
        n++;
    snprintf(day_text, sizeof(day_text), "%d", day);
    snprintf(count, sizeof(count), "%zu", n);
    const char *lease[] = {day_text, fleet->host_id};
    const char *stored[] = {day_text, count};
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, "BEGIN", 0, NULL))
        goto fail;
    /* Only the builder with a live lease, and only once: the row stays locked until COMMIT. */
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT 1 FROM tlsrpt_days WHERE day = $1 AND builder = $2"
                    " AND lease_until > now() AND stored_reports IS NULL FOR UPDATE",
                    2, lease))
        goto rollback;
    bool ours = PQntuples(result) == 1;
    PQclear(result);
    if (!ours) {
        fleet_rollback(fleet);
        spool_list_free(all, n_all);
        return 0;
    }
    /*
     * Ledger rows start pending; one a builder before us made stays as it
     * is (it may have delivered before it could store the day).
     */
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                    "CREATE TEMPORARY TABLE tlsrpt_new_deliveries"
                    " (report_id text NOT NULL, destination text NOT NULL) ON COMMIT DROP",
                    0, NULL) ||
        !copy_reports(fleet, spool, all + first, n, day_text, error_r) ||
        !copy_destinations(fleet, all + first, n, error_r) ||
        !fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                    "INSERT INTO tlsrpt_deliveries (report_id, destination, day, state, host,"
                    " attempts, updated_at) SELECT report_id, destination, $1, 'pending', $2, 0,"
                    " now() FROM tlsrpt_new_deliveries ON CONFLICT DO NOTHING",
                    2, lease))
        goto rollback;
    if (fleet_finish(fleet,
                     "UPDATE tlsrpt_days SET stored_reports = $2, stored_at = now() WHERE day = $1",
                     2, stored, error_r) < 0)
        goto fail;
    spool_list_free(all, n_all);
    *n_reports_r = (int)n;
    return 1;
rollback:
    fleet_rollback(fleet);
fail:
    spool_list_free(all, n_all);
    return -1;
}

int fleet_day_stored(struct fleet *fleet, int day, char **error_r)
{
    char day_text[16];
    const char *params[] = {day_text};
    PGresult *result;

    snprintf(day_text, sizeof(day_text), "%d", day);
    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT coalesce(stored_reports, -1) FROM tlsrpt_days WHERE day = $1", 1,
                    params))
        return -2;
    int stored = PQntuples(result) == 1 ? atoi(PQgetvalue(result, 0, 0)) : -1;
    PQclear(result);
    return stored;
}

/* ---- Reading the stored reports back ---- */

/* The ledger's words are the outbox's, and "sending": an attempt in flight. */
static enum spool_state ledger_state(const char *state, bool *in_flight_r)
{
    enum spool_state known;

    *in_flight_r = strcmp(state, "sending") == 0;
    if (*in_flight_r)
        return SPOOL_RETRYING;
    return spool_state_from_name(state, &known) == 0 ? known : SPOOL_PENDING;
}

static const char *json_text(json_object *o, const char *name)
{
    json_object *v;

    return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int64_t json_number(json_object *o, const char *name)
{
    json_object *v;

    return json_object_object_get_ex(o, name, &v) ? json_object_get_int64(v) : 0;
}

/*
 * The destinations column (json_agg of the ledger rows) into the entry;
 * hosts[] gets who had each in hand. false when it is not what we wrote.
 */
static bool parse_destinations(const char *text, struct spool_entry *e, char ***hosts_r)
{
    json_object *list = text[0] ? json_tokener_parse(text) : json_object_new_array();
    bool ok = list != NULL && json_object_is_type(list, json_type_array) &&
              json_object_array_length(list) <= DESTINATION_MAX;
    size_t n = ok ? json_object_array_length(list) : 0;

    *hosts_r = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n && ok; i++) {
        json_object *row = json_object_array_get_idx(list, i);
        const char *uri = json_text(row, "uri"), *state = json_text(row, "state");
        const char *error = json_text(row, "last_error"), *host = json_text(row, "host");
        if (uri == NULL || state == NULL) {
            ok = false;
            break;
        }
        spool_entry_add_destination(e, uri);
        struct spool_destination *d = &e->destinations[e->n_destinations - 1];
        bool in_flight;
        d->state = ledger_state(state, &in_flight);
        d->attempts = (int)json_number(row, "attempts");
        d->first_try = (time_t)json_number(row, "first_try");
        /* The attempt in flight when its host died is made again, at once. */
        d->next_try = in_flight ? 0 : (time_t)json_number(row, "next_try");
        if (in_flight && d->first_try == 0)
            d->first_try = time(NULL);
        d->last_error = error && error[0] ? xstrdup(error)
                        : in_flight     ? xasprintf("in flight at %s when it stopped", host)
                                        : NULL;
        const char *dsn_action = json_text(row, "dsn_action");
        if (dsn_action) {
            const char *dsn_detail = json_text(row, "dsn_detail");
            d->dsn_action = xstrdup(dsn_action);
            d->dsn_detail = xstrdup(dsn_detail ? dsn_detail : "");
            d->dsn_time = (time_t)json_number(row, "dsn_time");
        }
        (*hosts_r)[i] = xstrdup(host ? host : "");
    }
    json_object_put(list);
    return ok;
}

static void free_hosts(char **hosts)
{
    for (size_t i = 0; hosts && hosts[i]; i++)
        free(hosts[i]);
    free(hosts);
}

typedef int report_row_fn(struct spool_entry *entry, char **hosts, const char *json,
                          size_t json_len, void *context, char **error_r);

/* One row of the query in read_reports into an outbox entry. */
static bool row_entry(PGresult *r, struct spool_entry *e, char ***hosts_r)
{
    memset(e, 0, sizeof(*e));
    e->report_id = xstrdup(PQgetvalue(r, 0, 0));
    e->unique_id = xstrdup(PQgetvalue(r, 0, 1));
    e->policy_domain = xstrdup(PQgetvalue(r, 0, 2));
    e->file_name = xstrdup(PQgetvalue(r, 0, 3));
    e->record = xstrdup(PQgetvalue(r, 0, 4));
    e->created = (time_t)strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    e->send_after = (time_t)strtoll(PQgetvalue(r, 0, 6), NULL, 10);
    e->successes = strtoull(PQgetvalue(r, 0, 7), NULL, 10);
    e->failures = strtoull(PQgetvalue(r, 0, 8), NULL, 10);
    e->rua_pending = strcmp(PQgetvalue(r, 0, 9), "t") == 0;
    e->day = atoi(PQgetvalue(r, 0, 10));
    return parse_destinations(PQgetvalue(r, 0, 11), e, hosts_r);
}

/*
 * The stored reports of days first..last, one row at a time (a day may
 * hold a million), each with its ledger rows; with_json also their JSON.
 */
static int read_reports(struct fleet *fleet, int first_day, int last_day, const char *unique_id,
                        bool with_json, report_row_fn *each, void *context, char **error_r)
{
    char first[16], last[16];
    const char *params[] = {first, last, unique_id};
    PGresult *r;
    int count = 0, status = 0;
    char *sql = xasprintf(
        "SELECT r.report_id, r.unique_id, r.policy_domain, r.file_name, r.record, r.created,"
        " r.send_after, r.successes, r.failures, r.rua_pending, r.day,"
        " coalesce((SELECT json_agg(json_build_object('uri', d.destination, 'state', d.state,"
        "  'attempts', d.attempts, 'first_try', d.first_try, 'next_try', d.next_try,"
        "  'last_error', d.last_error, 'host', d.host, 'dsn_action', d.dsn_action,"
        "  'dsn_detail', d.dsn_detail, 'dsn_time', d.dsn_time) ORDER BY d.destination)"
        "  FROM tlsrpt_deliveries d WHERE d.report_id = r.report_id)::text, '')%s"
        " FROM tlsrpt_reports r WHERE r.day BETWEEN $1 AND $2"
        " AND ($3::text IS NULL OR lower(r.unique_id) = lower($3))"
        " ORDER BY r.day, r.policy_domain, r.unique_id",
        with_json ? ", r.report" : "");

    snprintf(first, sizeof(first), "%d", first_day);
    snprintf(last, sizeof(last), "%d", last_day);
    if (!PQsendQueryParams(fleet->conn, sql, 3, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(fleet->conn)) {
        const char *message = PQerrorMessage(fleet->conn);
        *error_r = xasprintf("fleet database: %.*s", (int)strcspn(message, "\n"), message);
        free(sql);
        return -1;
    }
    free(sql);
    while ((r = PQgetResult(fleet->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && status == 0) {
            struct spool_entry e;
            char **hosts;
            if (!row_entry(r, &e, &hosts)) {
                *error_r = xasprintf("fleet database: report %s: its ledger rows are damaged",
                                     e.report_id);
                status = -1;
            } else if (each(&e, hosts, with_json ? PQgetvalue(r, 0, 12) : NULL,
                            with_json ? (size_t)PQgetlength(r, 0, 12) : 0, context,
                            error_r) < 0) {
                status = -1;
            } else {
                count++;
            }
            spool_entry_free(&e);
            free_hosts(hosts);
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && status == 0) {
            const char *message = PQresultErrorMessage(r);
            *error_r = xasprintf("fleet database: %.*s", (int)strcspn(message, "\n"), message);
            status = -1;
        }
        PQclear(r);
    }
    return status < 0 ? -1 : count;
}

static int restore_one(struct spool_entry *entry, char **hosts, const char *json, size_t json_len,
                       void *context, char **error_r)
{
    (void)hosts;
    return spool_day_add(context, entry, json, json_len, error_r);
}

int fleet_restore_day(struct fleet *fleet, struct spool *spool, int day, char **error_r)
{
    struct spool_day *txn = spool_day_begin(spool, day, error_r);

    if (txn == NULL)
        return -1;
    int count = read_reports(fleet, day, day, NULL, true, restore_one, txn, error_r);
    if (count < 0) {
        spool_day_abort(txn);
        return -1;
    }
    return spool_day_commit(txn, error_r) < 0 ? -1 : count;
}

struct list_context {
    fleet_report_fn *each;
    void *context;
};

static int list_one(struct spool_entry *entry, char **hosts, const char *json, size_t json_len,
                    void *context, char **error_r)
{
    struct list_context *list = context;

    (void)json;
    (void)json_len;
    (void)error_r;
    list->each(entry, (const char *const *)hosts, list->context);
    return 0;
}

int fleet_outbox_each(struct fleet *fleet, int first_day, int last_day, fleet_report_fn *each,
                      void *context, char **error_r)
{
    struct list_context list = {each, context};

    return read_reports(fleet, first_day, last_day, NULL, false, list_one, &list, error_r);
}

static int find_one(struct spool_entry *entry, char **hosts, const char *json, size_t json_len,
                    void *context, char **error_r)
{
    struct spool_entry *found = context;

    (void)hosts;
    (void)json;
    (void)json_len;
    (void)error_r;
    if (found->report_id == NULL) { /* the first of its name: unique ids are random */
        *found = *entry;
        memset(entry, 0, sizeof(*entry));
    }
    return 0;
}

int fleet_find_report(struct fleet *fleet, const char *unique_id, struct spool_entry *entry,
                      char **error_r)
{
    memset(entry, 0, sizeof(*entry));
    if (read_reports(fleet, INT32_MIN, INT32_MAX, unique_id, false, find_one, entry, error_r) < 0) {
        spool_entry_free(entry);
        return -1;
    }
    return entry->report_id != NULL;
}
