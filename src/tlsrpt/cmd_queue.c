/*
 * cmd_queue.c - `tlsrpt queue`: the outbox, one line per report and
 * destination for people (state, attempts, next try, last error), or a JSON
 * array for scripts with one object per report.
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spool.h"

static json_object *json_time(time_t t)
{
    char text[32];
    struct tm tm;

    if (t <= 0)
        return json_object_new_null();
    gmtime_r(&t, &tm);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_object_new_string(text);
}

static void time_text(time_t t, char *out, size_t size)
{
    struct tm tm;

    if (t <= 0) {
        snprintf(out, size, "-");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%d %H:%M", &tm);
}

static json_object *entry_json(const struct spool_entry *e)
{
    json_object *o = json_object_new_object(), *dests = json_object_new_array();
    char day[DAY_TEXT_SIZE];

    day_format(e->day, day);
    json_object_object_add(o, "report_id", json_object_new_string(e->report_id));
    json_object_object_add(o, "policy_domain", json_object_new_string(e->policy_domain));
    json_object_object_add(o, "day", json_object_new_string(day));
    json_object_object_add(o, "file", json_object_new_string(e->file_name));
    json_object_object_add(o, "send_after", json_time(e->send_after));
    json_object_object_add(o, "successful_sessions", json_object_new_int64((int64_t)e->successes));
    json_object_object_add(o, "failed_sessions", json_object_new_int64((int64_t)e->failures));
    json_object_object_add(o, "rua_pending", json_object_new_boolean(e->rua_pending));
    for (size_t i = 0; i < e->n_destinations; i++) {
        const struct spool_destination *d = &e->destinations[i];
        json_object *dj = json_object_new_object();
        json_object_object_add(dj, "uri", json_object_new_string(d->uri));
        json_object_object_add(dj, "state", json_object_new_string(spool_state_name(d->state)));
        json_object_object_add(dj, "attempts", json_object_new_int(d->attempts));
        json_object_object_add(dj, "last_error", d->last_error
                                                     ? json_object_new_string(d->last_error)
                                                     : json_object_new_null());
        json_object_object_add(dj, "next_try", json_time(d->next_try));
        json_object_array_add(dests, dj);
    }
    json_object_object_add(o, "destinations", dests);
    return o;
}

int cmd_queue(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int ch;
    char *error;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'j':
            json = true;
            break;
        default:
            fprintf(stderr, "usage: tlsrpt queue [--json]\n");
            return 2;
        }
    }
    char *outbox = path_join(cfg_str(cli_config(cli), "state_directory"), "outbox");
    struct spool *spool = spool_open(outbox, &error);
    struct spool_entry *entries;
    size_t n;
    if (spool == NULL || spool_list(spool, &entries, &n, &error) < 0)
        msg_fatal("%s", error);
    if (json) {
        json_object *array = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(array, entry_json(&entries[i]));
        json_print(array, stdout);
    } else if (n == 0) {
        printf("the outbox is empty\n");
    } else {
        struct table *table = table_create(8);
        table_row(table, "DAY", "POLICY DOMAIN", "SEND AFTER", "DESTINATION", "STATE", "TRIES",
                  "NEXT TRY", "LAST ERROR");
        for (size_t i = 0; i < n; i++) {
            const struct spool_entry *e = &entries[i];
            char day[DAY_TEXT_SIZE], send_after[32], next[32], tries[16];
            day_format(e->day, day);
            time_text(e->send_after, send_after, sizeof(send_after));
            if (e->n_destinations == 0)
                table_row(table, day, e->policy_domain, send_after,
                          e->rua_pending ? "(DNS failed: looked up again later)" : "(none)",
                          "-", "-", "-", "-");
            for (size_t d = 0; d < e->n_destinations; d++) {
                const struct spool_destination *dest = &e->destinations[d];
                snprintf(tries, sizeof(tries), "%d", dest->attempts);
                time_text(dest->next_try, next, sizeof(next));
                table_row(table, d == 0 ? day : "", d == 0 ? e->policy_domain : "",
                          d == 0 ? send_after : "", dest->uri, spool_state_name(dest->state),
                          tries, next, dest->last_error ? dest->last_error : "");
            }
        }
        table_print(table, stdout, "");
        table_free(table);
    }
    spool_list_free(entries, n);
    spool_close(spool);
    free(outbox);
    return 0;
}
