/*
 * merge.c - the fleet's merged day: every host's pushed counts summed in the
 * database and written into a counter table of the caller's (absolute
 * values, through the counters' own cells), so that everything that reads
 * a day - `tlsrpt counters`, the report builder - reads the fleet's day.
 * Also the worker's push of finished days.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core.h"
#include "fleet_impl.h"
#include "util.h"

#define INSTANCE_HEX 32

/* Keys with their summed counts and each of their summed detail rows (NULL: none). */
static const char merge_sql[] =
    "SELECT k.domain, k.key_hash, k.record, k.policy_type, k.policy_domain, k.policy_strings,"
    " k.mx_hosts, k.success, k.failure, d.result_type, d.sending_mta_ip,"
    " d.receiving_mx_hostname, d.receiving_mx_helo, d.receiving_ip,"
    " d.additional_information, d.failure_reason_code, d.count, k.hosts"
    " FROM (SELECT domain, key_hash, record, policy_type, policy_domain, policy_strings,"
    "   mx_hosts, sum(success) AS success, sum(failure) AS failure,"
    "   count(DISTINCT host_id) AS hosts"
    "   FROM tlsrpt_keys WHERE day = $1"
    "   GROUP BY domain, key_hash, record, policy_type, policy_domain, policy_strings, mx_hosts) k"
    " LEFT JOIN (SELECT domain, key_hash, detail_hash, result_type, sending_mta_ip,"
    "   receiving_mx_hostname, receiving_mx_helo, receiving_ip, additional_information,"
    "   failure_reason_code, sum(count) AS count"
    "   FROM tlsrpt_details WHERE day = $1"
    "   GROUP BY domain, key_hash, detail_hash, result_type, sending_mta_ip,"
    "   receiving_mx_hostname, receiving_mx_helo, receiving_ip, additional_information,"
    "   failure_reason_code) d USING (domain, key_hash)"
    " ORDER BY k.domain, k.key_hash";

enum { C_DOMAIN, C_HASH, C_RECORD, C_TYPE, C_POLICY_DOMAIN, C_STRINGS, C_MX, C_SUCCESS,
       C_FAILURE, C_RESULT, C_SENDING_IP, C_MX_HOSTNAME, C_MX_HELO, C_RECEIVING_IP,
       C_ADDITIONAL, C_REASON, C_COUNT, C_HOSTS, C_COLUMNS };

static const char *value(PGresult *row, int column)
{
    return PQgetisnull(row, 0, column) ? NULL : PQgetvalue(row, 0, column);
}

/* A JSON array of strings from the database; false when it is not one. */
static bool string_list(const char *text, json_object **array_r, const char ***items_r,
                        size_t *n_r)
{
    json_object *array = json_tokener_parse(text);
    size_t n;

    if (array == NULL || !json_object_is_type(array, json_type_array) ||
        (n = json_object_array_length(array)) > TR_MAX_POLICY_STRINGS) {
        json_object_put(array);
        return false;
    }
    const char **items = xcalloc(n + 1, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(array, i);
        if (!json_object_is_type(item, json_type_string)) {
            free(items);
            json_object_put(array);
            return false;
        }
        items[i] = json_object_get_string(item);
    }
    *array_r = array;
    *items_r = items;
    *n_r = n;
    return true;
}

/* The key being written: its failure cell is set once all its detail rows are. */
struct current {
    char *domain, *hash;
    uint64_t failure;
    struct ctr_cell failure_cell;
    bool have_failure_cell;
};

static bool set_cells(struct ctr_table *table, const struct tr_event *event, size_t index,
                      uint64_t count, struct current *cur, char **error_r)
{
    struct ctr_cell cells[2];
    bool incomplete;
    int n = ctr_log_cells(table, event, cells, 2, &incomplete);

    if (n < 0 || incomplete || (size_t)n <= index) {
        *error_r = xasprintf("merged table full at %s (raise counter_table_entries or "
                             "counter_string_space)", event->domain);
        return false;
    }
    if (event->policies[0].failed) {
        cur->failure_cell = cells[0];
        cur->have_failure_cell = true;
    }
    if (index > 0 || !event->policies[0].failed)
        ctr_cell_set(table, cells[index], count);
    return true;
}

/* One result row: the key's success on its first row, then one detail row. */
static bool merge_row(struct ctr_table *table, PGresult *row, struct current *cur,
                      char **error_r)
{
    const char *domain = value(row, C_DOMAIN), *hash = value(row, C_HASH);
    json_object *strings_json = NULL, *mx_json = NULL;
    const char **strings = NULL, **mx = NULL;
    size_t n_strings = 0, n_mx = 0;
    struct tr_policy policy = {0};
    bool ok = false;

    bool first = cur->domain == NULL || strcmp(cur->domain, domain) != 0 ||
                 strcmp(cur->hash, hash) != 0;
    if (first) {
        if (cur->domain && cur->failure > 0)
            ctr_cell_set(table, cur->failure_cell, cur->failure);
        free(cur->domain);
        free(cur->hash);
        *cur = (struct current){.domain = xstrdup(domain), .hash = xstrdup(hash)};
        cur->failure = strtoull(value(row, C_FAILURE), NULL, 10);
    }
    if (tr_policy_type_from_name(value(row, C_TYPE), &policy.type) < 0 ||
        !string_list(value(row, C_STRINGS), &strings_json, &strings, &n_strings) ||
        !string_list(value(row, C_MX), &mx_json, &mx, &n_mx)) {
        *error_r = xasprintf("fleet database: %s: a key the database holds is not valid", domain);
        goto done;
    }
    policy.domain = value(row, C_POLICY_DOMAIN);
    policy.strings = strings;
    policy.n_strings = n_strings;
    policy.mx_hosts = mx;
    policy.n_mx_hosts = n_mx;
    struct tr_event event = {.domain = domain, .record = value(row, C_RECORD),
                             .policies = &policy, .n_policies = 1};
    uint64_t success = strtoull(value(row, C_SUCCESS), NULL, 10);
    if (first && success > 0 && !set_cells(table, &event, 0, success, cur, error_r))
        goto done;
    policy.failed = true;
    if (value(row, C_RESULT) == NULL) {
        /* failures without detail rows: the key's failure cell alone */
        ok = cur->failure == 0 || set_cells(table, &event, 0, 0, cur, error_r);
        goto done;
    }
    struct tr_failure failure = {
        .sending_mta_ip = value(row, C_SENDING_IP),
        .receiving_mx_hostname = value(row, C_MX_HOSTNAME),
        .receiving_mx_helo = value(row, C_MX_HELO),
        .receiving_ip = value(row, C_RECEIVING_IP),
        .additional_information = value(row, C_ADDITIONAL),
        .failure_reason_code = value(row, C_REASON),
    };
    if (tr_result_from_name(value(row, C_RESULT), &failure.result) < 0) {
        *error_r = xasprintf("fleet database: %s: unknown result type \"%s\"", domain,
                             value(row, C_RESULT));
        goto done;
    }
    policy.failures = &failure;
    policy.n_failures = 1;
    ok = set_cells(table, &event, 1, strtoull(value(row, C_COUNT), NULL, 10), cur, error_r);
done:
    free(strings);
    free(mx);
    json_object_put(strings_json);
    json_object_put(mx_json);
    return ok;
}

int fleet_merge(struct fleet *fleet, int day, const char *dir, const struct ctr_limits *limits,
                char **error_r)
{
    char day_text[16];
    const char *params[] = {day_text};
    struct current cur = {0};
    long hosts = 0;
    bool ok = true;

    snprintf(day_text, sizeof(day_text), "%d", day);
    struct ctr_table *table = ctr_open(dir, day, CTR_READ_WRITE, limits, error_r);
    if (table == NULL)
        return -1;
    if (!PQsendQueryParams(fleet->conn, merge_sql, 1, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(fleet->conn)) {
        const char *message = PQerrorMessage(fleet->conn);
        *error_r = xasprintf("fleet database: %.*s", (int)strcspn(message, "\n"), message);
        ctr_close(table);
        return -1;
    }
    PGresult *row;
    while ((row = PQgetResult(fleet->conn)) != NULL) {
        ExecStatusType status = PQresultStatus(row);
        if (status == PGRES_SINGLE_TUPLE && ok) {
            ok = PQnfields(row) == C_COLUMNS && merge_row(table, row, &cur, error_r);
            long row_hosts = atol(value(row, C_HOSTS));
            hosts = row_hosts > hosts ? row_hosts : hosts;
        } else if (status != PGRES_SINGLE_TUPLE && status != PGRES_TUPLES_OK && ok) {
            const char *message = PQresultErrorMessage(row);
            *error_r = xasprintf("fleet database: %.*s", (int)strcspn(message, "\n"), message);
            ok = false;
        }
        PQclear(row);
    }
    if (ok && cur.domain && cur.failure > 0)
        ctr_cell_set(table, cur.failure_cell, cur.failure);
    free(cur.domain);
    free(cur.hash);
    ctr_close(table);
    return ok ? (int)hosts : -1;
}

/* Closes the day, pushes its snapshot, marks it reported once the database has it. */
/*
 * The counters directory's instance: 128 random bits made once, linked into
 * place (when another process made it first, its id wins), so the database
 * can tell two machines that share a fleet_host_id apart.
 */
static int instance_id(const char *counters_dir, char out[INSTANCE_HEX + 1], char **error_r)
{
    char *path = path_join(counters_dir, ".fleet-instance");
    struct buf text = {0};
    int result = -1;

    if (file_random_hex_once(path, INSTANCE_HEX / 2, 0640, error_r) == 0 &&
        file_read_all(path, 256, &text, error_r) == 0) {
        const char *hex = buf_cstr(&text);
        if (strspn(hex, "0123456789abcdef") != INSTANCE_HEX) {
            *error_r = xasprintf("%s: not an instance id (%d hex digits)", path, INSTANCE_HEX);
        } else {
            memcpy(out, hex, INSTANCE_HEX);
            out[INSTANCE_HEX] = '\0';
            result = 0;
        }
    }
    buf_free(&text);
    free(path);
    return result;
}

static int push_table(struct fleet *fleet, const char *counters_dir, struct ctr_table *table,
                      struct fleet_push_stats *stats, char **error_r)
{
    char instance[INSTANCE_HEX + 1];

    if (instance_id(counters_dir, instance, error_r) < 0)
        return -1;
    /* Closed first: the counts pushed are all the day will ever have (later ones are late). */
    ctr_set_closed(table);
    struct ctr_snapshot *snap = ctr_snapshot(table, NULL);
    int status = fleet_push(fleet, snap, instance, stats, error_r);
    if (status == 0)
        ctr_set_reported(table); /* acknowledged: counter_retention may remove the day now */
    ctr_snapshot_free(snap);
    return status;
}

int fleet_push_day(struct fleet *fleet, const char *counters_dir, int day,
                   struct fleet_push_stats *stats, char **error_r)
{
    /* Read-only first: a day without a table is an error, not a new empty table. */
    struct ctr_table *table = ctr_open(counters_dir, day, CTR_READ_ONLY, NULL, error_r);

    if (table == NULL)
        return -1;
    ctr_close(table);
    if ((table = ctr_open(counters_dir, day, CTR_READ_WRITE, NULL, error_r)) == NULL)
        return -1;
    int status = push_table(fleet, counters_dir, table, stats, error_r);
    ctr_close(table);
    return status;
}

int fleet_push_due(struct fleet *fleet, const char *counters_dir, time_t now,
                   time_t report_delay)
{
    int *days, n, pushed = 0, today = day_from_time(now);
    char *error;

    if ((n = ctr_list_days(counters_dir, &days, &error)) < 0) {
        msg_error("fleet push: %s", error);
        free(error);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char text[DAY_TEXT_SIZE];
        struct ctr_stats stats;
        struct fleet_push_stats pushed_stats;
        if (days[i] >= today || now < day_start(days[i] + 1) + report_delay)
            continue;
        day_format(days[i], text);
        /* The day is listed, so it has a table: opened for writing only when it waits. */
        struct ctr_table *table = ctr_open(counters_dir, days[i], CTR_READ_ONLY, NULL, &error);
        if (table != NULL) {
            ctr_stats(table, &stats);
            ctr_close(table);
            if (stats.reported)
                continue;
            table = ctr_open(counters_dir, days[i], CTR_READ_WRITE, NULL, &error);
        }
        int status = table ? push_table(fleet, counters_dir, table, &pushed_stats, &error) : -1;
        if (table)
            ctr_close(table);
        if (status < 0) {
            msg_error("fleet push of %s: %s; the day is kept and pushed again later", text,
                      error);
            free(error);
            pushed = -1;
            continue;
        }
        msg_info("fleet push of %s as %s: %llu keys, %llu failure details, %llu sessions", text,
                 fleet->host_id, (unsigned long long)pushed_stats.keys,
                 (unsigned long long)pushed_stats.details,
                 (unsigned long long)pushed_stats.sessions);
        if (pushed >= 0)
            pushed++;
    }
    free(days);
    return pushed;
}
