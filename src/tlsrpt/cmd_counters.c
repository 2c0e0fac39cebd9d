/*
 * cmd_counters.c - `tlsrpt counters`: reads a day's counter table directly
 * (no daemon needed) and prints every (domain, record, policy) key with its
 * totals and failure details: a table for people, JSON for scripts.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "counters.h"

static json_object *json_strings(const char *const *items, size_t n)
{
    json_object *array = json_object_new_array();

    for (size_t i = 0; i < n; i++)
        json_object_array_add(array, json_object_new_string(items[i]));
    return array;
}

static void json_add_optional(json_object *object, const char *key, const char *value)
{
    if (value)
        json_object_object_add(object, key, json_object_new_string(value));
}

/* Key names follow RFC 8460 §4.4 so scripts can reuse them. */
static json_object *key_to_json(const struct ctr_key *key)
{
    json_object *entry = json_object_new_object(), *policy = json_object_new_object();
    json_object *details = json_object_new_array();

    json_object_object_add(entry, "domain", json_object_new_string(key->domain));
    json_object_object_add(entry, "record", json_object_new_string(key->record));
    json_object_object_add(policy, "policy-type",
                           json_object_new_string(tr_policy_type_name(key->policy.type)));
    json_object_object_add(policy, "policy-string",
                           json_strings(key->policy.strings, key->policy.n_strings));
    json_object_object_add(policy, "policy-domain",
                           json_object_new_string(key->policy.domain ? key->policy.domain
                                                                     : key->domain));
    json_object_object_add(policy, "mx-host",
                           json_strings(key->policy.mx_hosts, key->policy.n_mx_hosts));
    json_object_object_add(entry, "policy", policy);
    json_object_object_add(entry, "total-successful-session-count",
                           json_object_new_int64((int64_t)key->success));
    json_object_object_add(entry, "total-failure-session-count",
                           json_object_new_int64((int64_t)key->failure));
    for (size_t i = 0; i < key->n_details; i++) {
        const struct tr_failure *f = &key->details[i].failure;
        json_object *detail = json_object_new_object();
        json_object_object_add(detail, "result-type",
                               json_object_new_string(tr_result_name(f->result)));
        json_add_optional(detail, "sending-mta-ip", f->sending_mta_ip);
        json_add_optional(detail, "receiving-mx-hostname", f->receiving_mx_hostname);
        json_add_optional(detail, "receiving-mx-helo", f->receiving_mx_helo);
        json_add_optional(detail, "receiving-ip", f->receiving_ip);
        json_add_optional(detail, "additional-information", f->additional_information);
        json_add_optional(detail, "failure-reason-code", f->failure_reason_code);
        json_object_object_add(detail, "failed-session-count",
                               json_object_new_int64((int64_t)key->details[i].count));
        json_object_array_add(details, detail);
    }
    json_object_object_add(entry, "failure-details", details);
    return entry;
}

static void print_json(int day, const struct ctr_snapshot *snap, const struct ctr_stats *stats)
{
    char day_text[DAY_TEXT_SIZE];
    json_object *root = json_object_new_object(), *keys = json_object_new_array();
    json_object *overflow = json_object_new_array();

    day_format(day, day_text);
    json_object_object_add(root, "day", json_object_new_string(day_text));
    for (size_t i = 0; snap && i < snap->n_keys; i++)
        json_object_array_add(keys, key_to_json(&snap->keys[i]));
    json_object_object_add(root, "policies", keys);
    for (size_t i = 0; snap && i < snap->n_overflow; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "domain", json_object_new_string(snap->overflow[i].domain));
        json_object_object_add(o, "events", json_object_new_int64((int64_t)snap->overflow[i].events));
        json_object_array_add(overflow, o);
    }
    json_object_object_add(root, "overflow", overflow);
    json_object_object_add(root, "lost_events",
                           json_object_new_int64(snap ? (int64_t)snap->lost_events : 0));
    json_object_object_add(root, "late_events",
                           json_object_new_int64(snap ? (int64_t)snap->late_events : 0));
    json_object_object_add(root, "entries_used",
                           json_object_new_int64(stats ? stats->entries_used : 0));
    json_object_object_add(root, "max_entries",
                           json_object_new_int64(stats ? stats->max_entries : 0));
    json_object_object_add(root, "reported", json_object_new_boolean(stats && stats->reported));
    json_print(root, stdout);
}

/* The detail's known fields, e.g. "mx=mx.example.net ip=192.0.2.1". */
static char *detail_text(const struct tr_failure *f)
{
    struct buf text;

    buf_init(&text);
    if (f->receiving_mx_hostname)
        buf_printf(&text, " mx=%s", f->receiving_mx_hostname);
    if (f->receiving_ip)
        buf_printf(&text, " ip=%s", f->receiving_ip);
    if (f->receiving_mx_helo)
        buf_printf(&text, " helo=%s", f->receiving_mx_helo);
    if (f->sending_mta_ip)
        buf_printf(&text, " from=%s", f->sending_mta_ip);
    if (f->failure_reason_code)
        buf_printf(&text, " reason=\"%s\"", f->failure_reason_code);
    if (f->additional_information)
        buf_printf(&text, " info=%s", f->additional_information);
    char *result = xstrdup(text.len ? buf_cstr(&text) + 1 : "");
    buf_free(&text);
    return result;
}

static void print_text(int day, const struct ctr_snapshot *snap, const struct ctr_stats *stats)
{
    char day_text[DAY_TEXT_SIZE], success[24], failure[24];
    struct table *table;

    day_format(day, day_text);
    if (snap == NULL || (snap->n_keys == 0 && snap->n_overflow == 0 && snap->lost_events == 0 &&
                         snap->late_events == 0)) {
        printf("%s: no sessions counted\n", day_text);
        return;
    }
    table = table_create(5);
    printf("%s: %" PRIu64 " successful and %" PRIu64 " failed sessions, table %u of %u "
           "entries used%s\n\n",
           day_text, stats->sessions_success, stats->sessions_failure, stats->entries_used,
           stats->max_entries, stats->reported ? ", reports built" : "");
    table_row(table, "DOMAIN", "POLICY", "SUCCESS", "FAILURE", "RECORD");
    for (size_t i = 0; i < snap->n_keys; i++) {
        const struct ctr_key *key = &snap->keys[i];
        char *policy = key->policy.domain && strcmp(key->policy.domain, key->domain) != 0
                           ? xasprintf("%s %s", tr_policy_type_name(key->policy.type),
                                       key->policy.domain)
                           : xstrdup(tr_policy_type_name(key->policy.type));
        snprintf(success, sizeof(success), "%" PRIu64, key->success);
        snprintf(failure, sizeof(failure), "%" PRIu64, key->failure);
        table_row(table, key->domain, policy, success, failure,
                  key->record[0] ? key->record : "(not known)");
        free(policy);
        for (size_t j = 0; j < key->n_details; j++) {
            char *result = xasprintf("  %s", tr_result_name(key->details[j].failure.result));
            char *text = detail_text(&key->details[j].failure);
            snprintf(failure, sizeof(failure), "%" PRIu64, key->details[j].count);
            table_row(table, "", result, "", failure, text);
            free(result);
            free(text);
        }
    }
    table_print(table, stdout, "");
    table_free(table);
    for (size_t i = 0; i < snap->n_overflow; i++)
        printf("table full: %" PRIu64 " events of %s counted only in the overflow record\n",
               snap->overflow[i].events, snap->overflow[i].domain);
    if (snap->lost_events)
        printf("table full: %" PRIu64 " events of other domains could not be stored at all\n",
               snap->lost_events);
    if (snap->late_events)
        printf("late: %" PRIu64 " events arrived after the day's reports were built; they are "
               "in no report and counted only here\n",
               snap->late_events);
}

int cmd_counters(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"day", required_argument, NULL, 'D'},
        {"domain", required_argument, NULL, 'd'},
        {"fleet", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int day = day_today(), ch;
    bool json = false, fleet = false;
    char *domain = NULL, *error;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'D':
            day = cli_parse_day(optarg);
            break;
        case 'd':
            free(domain);
            domain = cli_parse_domain(optarg);
            break;
        case 'f':
            fleet = true;
            break;
        case 'j':
            json = true;
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    if (optind != argc) {
        return cli_usage_error(cli);
    }
    char *dir = fleet ? cli_fleet_merged_dir(cli, day, 1) : cli_counters_dir(cli);
    char day_text[DAY_TEXT_SIZE];
    day_format(day, day_text);
    char *file_name = xasprintf("%s.ctr", day_text);
    char *file = path_join(dir, file_name);
    struct ctr_snapshot *snap = NULL;
    struct ctr_stats stats;
    int status = 0;

    /* No table for the day is not an error: nothing was counted. */
    if (access(file, F_OK) == 0) {
        struct ctr_table *table = ctr_open(dir, day, CTR_READ_ONLY, NULL, &error);
        if (table == NULL) {
            msg_error("%s", error);
            free(error);
            status = 1;
            goto done;
        }
        ctr_stats(table, &stats);
        snap = ctr_snapshot(table, domain);
        ctr_close(table);
    }
    if (json)
        print_json(day, snap, snap ? &stats : NULL);
    else
        print_text(day, snap, &stats);
done:
    if (snap)
        ctr_snapshot_free(snap);
    free(file_name);
    free(file);
    free(dir);
    free(domain);
    return status;
}

const struct cli_command cli_command_counters = {
    .name = "counters",
    .run = cmd_counters,
    .usage = "counters [--day YYYY-MM-DD|today|yesterday] [--domain DOMAIN] [--fleet] [--json]",
    .summary = "show a day's counters (default: today)",
    .broken_config_ok = true,
};
