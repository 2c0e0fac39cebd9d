/*
 * push.c - a host's finished day into the fleet database: its keys, failure
 * details and overflow records replace what the host pushed for that day
 * before, in one transaction (COPY for volume), so a push repeated after a
 * crash or a timeout adds nothing twice.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "core.h"
#include "fleet_impl.h"
#include "util.h"

#define HASH_HEX 32 /* 128 bits of SHA-256: no collision among a day's keys */

/* A list of strings as a JSON array: the database keeps it as text, exactly. */
static char *json_list(const char *const *items, size_t n)
{
    json_object *array = json_object_new_array();

    for (size_t i = 0; i < n; i++)
        json_object_array_add(array, json_object_new_string(items[i]));
    char *text = xstrdup(json_object_to_json_string_ext(
        array, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(array);
    return text;
}

/* Length-prefixed, so that no two different field lists encode the same. */
static void hash_field(struct buf *in, const char *text)
{
    if (text == NULL) {
        buf_puts(in, "N|");
        return;
    }
    buf_printf(in, "%zu:", strlen(text));
    buf_puts(in, text);
}

static void hash_hex(struct buf *in, char out[HASH_HEX + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (EVP_Digest(in->data ? in->data : "", in->len, digest, &len, EVP_sha256(), NULL) != 1 ||
        len < HASH_HEX / 2)
        msg_panic("SHA-256 failed");
    for (int i = 0; i < HASH_HEX / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* A key's identity: everything but its counts. */
static void key_hash(const struct ctr_key *key, char out[HASH_HEX + 1])
{
    struct buf in = {0};

    hash_field(&in, key->domain);
    hash_field(&in, key->record);
    hash_field(&in, tr_policy_type_name(key->policy.type));
    hash_field(&in, key->policy.domain);
    buf_printf(&in, "%zu|", key->policy.n_strings);
    for (size_t i = 0; i < key->policy.n_strings; i++)
        hash_field(&in, key->policy.strings[i]);
    buf_printf(&in, "%zu|", key->policy.n_mx_hosts);
    for (size_t i = 0; i < key->policy.n_mx_hosts; i++)
        hash_field(&in, key->policy.mx_hosts[i]);
    hash_hex(&in, out);
    buf_free(&in);
}

static void detail_hash(const struct tr_failure *f, char out[HASH_HEX + 1])
{
    struct buf in = {0};

    hash_field(&in, tr_result_name(f->result));
    hash_field(&in, f->sending_mta_ip);
    hash_field(&in, f->receiving_mx_hostname);
    hash_field(&in, f->receiving_mx_helo);
    hash_field(&in, f->receiving_ip);
    hash_field(&in, f->additional_information);
    hash_field(&in, f->failure_reason_code);
    hash_hex(&in, out);
    buf_free(&in);
}

static bool copy_keys(struct fleet *fleet, const struct ctr_snapshot *snap, const char *day,
                      struct fleet_push_stats *stats, char **error_r)
{
    struct fleet_copy copy;

    if (!fleet_copy_begin(&copy, fleet,
                    "COPY tlsrpt_keys (domain, day, host_id, key_hash, record, policy_type,"
                    " policy_domain, policy_strings, mx_hosts, success, failure) FROM STDIN",
                    error_r))
        return false;
    for (size_t i = 0; i < snap->n_keys; i++) {
        const struct ctr_key *key = &snap->keys[i];
        char hash[HASH_HEX + 1];
        key_hash(key, hash);
        char *strings = json_list(key->policy.strings, key->policy.n_strings);
        char *mx = json_list(key->policy.mx_hosts, key->policy.n_mx_hosts);
        const char *fields[] = {key->domain, day, fleet->host_id, hash, key->record,
                                tr_policy_type_name(key->policy.type), key->policy.domain,
                                strings, mx};
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
            fleet_copy_field(&copy.rows, fields[f]);
        fleet_copy_number(&copy.rows, key->success, false);
        fleet_copy_number(&copy.rows, key->failure, true);
        free(strings);
        free(mx);
        stats->keys++;
        stats->sessions += key->success + key->failure;
        fleet_copy_flush(&copy, FLEET_COPY_BLOCK);
    }
    return fleet_copy_end(&copy, error_r);
}

static bool copy_details(struct fleet *fleet, const struct ctr_snapshot *snap, const char *day,
                         struct fleet_push_stats *stats, char **error_r)
{
    struct fleet_copy copy;

    if (!fleet_copy_begin(&copy, fleet,
                    "COPY tlsrpt_details (domain, day, host_id, key_hash, detail_hash,"
                    " result_type, sending_mta_ip, receiving_mx_hostname, receiving_mx_helo,"
                    " receiving_ip, additional_information, failure_reason_code, count)"
                    " FROM STDIN",
                    error_r))
        return false;
    for (size_t i = 0; i < snap->n_keys; i++) {
        const struct ctr_key *key = &snap->keys[i];
        char hash[HASH_HEX + 1];
        if (key->n_details > 0)
            key_hash(key, hash);
        for (size_t d = 0; d < key->n_details; d++) {
            const struct tr_failure *f = &key->details[d].failure;
            char dhash[HASH_HEX + 1];
            detail_hash(f, dhash);
            const char *row[] = {key->domain, day, fleet->host_id, hash, dhash,
                                 tr_result_name(f->result), f->sending_mta_ip,
                                 f->receiving_mx_hostname, f->receiving_mx_helo,
                                 f->receiving_ip, f->additional_information,
                                 f->failure_reason_code};
            for (size_t c = 0; c < sizeof(row) / sizeof(row[0]); c++)
                fleet_copy_field(&copy.rows, row[c]);
            fleet_copy_number(&copy.rows, key->details[d].count, true);
            stats->details++;
        }
        fleet_copy_flush(&copy, FLEET_COPY_BLOCK);
    }
    return fleet_copy_end(&copy, error_r);
}

static bool copy_overflow(struct fleet *fleet, const struct ctr_snapshot *snap, const char *day,
                          struct fleet_push_stats *stats, char **error_r)
{
    struct fleet_copy copy;

    if (!fleet_copy_begin(&copy, fleet, "COPY tlsrpt_overflow (domain, day, host_id, events) FROM STDIN",
                    error_r))
        return false;
    for (size_t i = 0; i < snap->n_overflow; i++) {
        fleet_copy_field(&copy.rows, snap->overflow[i].domain);
        fleet_copy_field(&copy.rows, day);
        fleet_copy_field(&copy.rows, fleet->host_id);
        fleet_copy_number(&copy.rows, snap->overflow[i].events, true);
        stats->overflow++;
        fleet_copy_flush(&copy, FLEET_COPY_BLOCK);
    }
    return fleet_copy_end(&copy, error_r);
}

/*
 * A day this host id pushed before from another counters directory: two
 * machines share one fleet_host_id, and each push would replace the
 * other's counts. Refused (-1): the day stays on this host.
 */
static bool same_machine(struct fleet *fleet, const char *day, const char *instance,
                         char **error_r)
{
    const char *params[] = {day, fleet->host_id};
    PGresult *result;
    char text[DAY_TEXT_SIZE];

    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, error_r,
                    "SELECT coalesce(instance, '') FROM tlsrpt_pushes"
                    " WHERE day = $1 AND host_id = $2 FOR UPDATE",
                    2, params))
        return false;
    const char *before = PQntuples(result) == 1 ? PQgetvalue(result, 0, 0) : "";
    bool same = before[0] == '\0' || strcmp(before, instance) == 0;
    if (!same) {
        day_format(atoi(day), text);
        *error_r = xasprintf("fleet_host_id %s pushed %s before from another machine (counters "
                             "instance %s, this one is %s): two hosts share this fleet_host_id; "
                             "give each its own",
                             fleet->host_id, text, before, instance);
    }
    PQclear(result);
    return same;
}

/* A push after the fleet's reports of the day were built: its counts are in none. */
static void warn_if_built(struct fleet *fleet, const char *day, uint64_t sessions)
{
    const char *params[] = {day};
    PGresult *result;
    char *error, text[DAY_TEXT_SIZE];

    if (!fleet_exec(fleet, PGRES_TUPLES_OK, &result, &error,
                    "SELECT builder FROM tlsrpt_days WHERE day = $1 AND stored_reports IS NOT NULL",
                    1, params)) {
        free(error);
        return;
    }
    day_format(atoi(day), text);
    if (PQntuples(result) == 1)
        msg_warn("fleet: %s pushed by %s after %s built the fleet's reports of that day: its %llu "
                 "sessions are in no report (fleet_push_deadline passed before it pushed)",
                 text, fleet->host_id, PQgetvalue(result, 0, 0), (unsigned long long)sessions);
    PQclear(result);
}

int fleet_push(struct fleet *fleet, const struct ctr_snapshot *snap, const char *instance,
               struct fleet_push_stats *stats, char **error_r)
{
    char day[16], counts[6][24];

    memset(stats, 0, sizeof(*stats));
    snprintf(day, sizeof(day), "%d", snap->day);
    const char *host_day[] = {day, fleet->host_id};
    if (!fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r, "BEGIN", 0, NULL))
        return -1;
    if (!same_machine(fleet, day, instance, error_r) ||
        !fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                    "DELETE FROM tlsrpt_keys WHERE day = $1 AND host_id = $2", 2, host_day) ||
        !fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                    "DELETE FROM tlsrpt_details WHERE day = $1 AND host_id = $2", 2, host_day) ||
        !fleet_exec(fleet, PGRES_COMMAND_OK, NULL, error_r,
                    "DELETE FROM tlsrpt_overflow WHERE day = $1 AND host_id = $2", 2, host_day) ||
        !copy_keys(fleet, snap, day, stats, error_r) ||
        !copy_details(fleet, snap, day, stats, error_r) ||
        !copy_overflow(fleet, snap, day, stats, error_r))
        goto rollback;
    uint64_t values[6] = {stats->keys,     stats->details,    stats->overflow,
                          stats->sessions, snap->lost_events, snap->late_events};
    for (int i = 0; i < 6; i++)
        snprintf(counts[i], sizeof(counts[i]), "%llu", (unsigned long long)values[i]);
    const char *push[] = {fleet->host_id, day,       counts[0], counts[1], counts[2],
                          counts[3],      counts[4], counts[5], instance};
    if (fleet_finish(fleet,
                     "INSERT INTO tlsrpt_pushes (host_id, day, keys, details, overflow,"
                     " sessions, lost_events, late_events, instance)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                     " ON CONFLICT (host_id, day) DO UPDATE SET keys = excluded.keys,"
                     " details = excluded.details, overflow = excluded.overflow,"
                     " sessions = excluded.sessions, lost_events = excluded.lost_events,"
                     " late_events = excluded.late_events, instance = excluded.instance,"
                     " pushed_at = now()",
                     9, push, error_r) < 0)
        return -1;
    warn_if_built(fleet, day, stats->sessions);
    return 0;
rollback:
    fleet_rollback(fleet);
    return -1;
}
