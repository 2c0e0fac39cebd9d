/*
 * cmd_fleet.c - `tlsrpt fleet`: create or migrate the fleet database's
 * schema, push this host's finished days now, and show which hosts pushed
 * which days.
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "counters.h"
#include "fleet.h"

#define FLEET_USAGE "usage: tlsrpt fleet init | status [--json] | push [--day YYYY-MM-DD]\n"

struct fleet *cli_fleet_connect(struct cli *cli)
{
    struct cfg *cfg = cli_config(cli);
    const char *conninfo = cfg_str(cfg, "fleet_database");
    char *error;

    if (conninfo[0] == '\0')
        msg_fatal("fleet_database is not set: this host is not part of a fleet");
    struct fleet *fleet = fleet_connect(conninfo, cfg_str(cfg, "fleet_host_id"), &error);
    if (fleet == NULL)
        msg_fatal("%s", error);
    return fleet;
}

static int fleet_init_command(struct fleet *fleet)
{
    int from;
    char *error;

    if (fleet_init(fleet, &from, &error) < 0) {
        msg_error("%s", error);
        free(error);
        return 1;
    }
    if (from == FLEET_SCHEMA_VERSION)
        printf("fleet database: schema version %d, nothing to do\n", from);
    else if (from == 0)
        printf("fleet database: schema version %d created\n", FLEET_SCHEMA_VERSION);
    else
        printf("fleet database: schema migrated from version %d to %d\n", from,
               FLEET_SCHEMA_VERSION);
    return 0;
}

static int fleet_status_command(struct fleet *fleet, bool json)
{
    struct fleet_status status;
    char *error;
    time_t now = time(NULL);

    if (fleet_status(fleet, &status, &error) < 0) {
        msg_error("%s", error);
        free(error);
        return 1;
    }
    if (json) {
        json_object *top = json_object_new_object(), *hosts = json_object_new_array();
        json_object_object_add(top, "this-host", json_object_new_string(fleet_host_id(fleet)));
        json_object_object_add(top, "schema-version", json_object_new_int(status.schema_version));
        for (size_t i = 0; i < status.n_hosts; i++) {
            const struct fleet_host *h = &status.hosts[i];
            json_object *host = json_object_new_object();
            char day[DAY_TEXT_SIZE];
            day_format(h->last_day, day);
            json_object_object_add(host, "host-id", json_object_new_string(h->host_id));
            json_object_object_add(host, "last-day", json_object_new_string(day));
            json_object_object_add(host, "last-push", json_object_new_int64(h->last_push));
            json_object_object_add(host, "days-pushed", json_object_new_int64((int64_t)h->days));
            json_object_object_add(host, "sessions-last-day",
                                   json_object_new_int64((int64_t)h->sessions));
            json_object_object_add(host, "lag-days",
                                   json_object_new_int(day_from_time(now) - 1 - h->last_day));
            json_object_array_add(hosts, host);
        }
        json_object_object_add(top, "hosts", hosts);
        json_print(top, stdout);
    } else if (status.schema_version == 0) {
        printf("fleet database: no schema yet (run tlsrpt fleet init)\n");
    } else {
        printf("fleet database: schema version %d, this host is %s\n", status.schema_version,
               fleet_host_id(fleet));
        struct table *table = table_create(5);
        table_row(table, "HOST", "LAST DAY", "PUSHED", "DAYS", "LAG");
        for (size_t i = 0; i < status.n_hosts; i++) {
            const struct fleet_host *h = &status.hosts[i];
            char day[DAY_TEXT_SIZE], when[32], days[24], lag[24];
            struct tm tm;
            day_format(h->last_day, day);
            gmtime_r(&h->last_push, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            snprintf(days, sizeof(days), "%llu", (unsigned long long)h->days);
            /* Yesterday is the latest day a host can have pushed: lag 0. */
            int behind = day_from_time(now) - 1 - h->last_day;
            snprintf(lag, sizeof(lag), "%d day%s", behind, behind == 1 ? "" : "s");
            table_row(table, h->host_id, day, when, days, lag);
        }
        table_print(table, stdout, "  ");
        table_free(table);
        if (status.n_hosts == 0)
            printf("  no host has pushed a day yet\n");
    }
    fleet_status_free(&status);
    return 0;
}

/*
 * Every finished day not pushed yet, without waiting for report_delay; or
 * one day, again if it was pushed before (the database keeps one copy).
 */
static int push_command(struct fleet *fleet, const char *counters, int day)
{
    struct fleet_push_stats stats;
    char *error, text[DAY_TEXT_SIZE];

    if (day < 0) {
        int pushed = fleet_push_due(fleet, counters, time(NULL), 0);
        if (pushed >= 0)
            printf("%d days pushed as %s\n", pushed, fleet_host_id(fleet));
        return pushed < 0 ? 1 : 0;
    }
    day_format(day, text);
    if (day >= day_today())
        msg_fatal("--day: only finished days (before today, UTC) are pushed");
    if (fleet_push_day(fleet, counters, day, &stats, &error) < 0) {
        msg_error("fleet push of %s: %s", text, error);
        free(error);
        return 1;
    }
    printf("%s pushed as %s: %llu keys, %llu failure details, %llu sessions\n", text,
           fleet_host_id(fleet), (unsigned long long)stats.keys,
           (unsigned long long)stats.details, (unsigned long long)stats.sessions);
    return 0;
}

int cmd_fleet(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"day", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int ch, status, day = -1;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'D':
            day = cli_parse_day(optarg);
            break;
        case 'j':
            json = true;
            break;
        default:
            fputs(FLEET_USAGE, stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fputs(FLEET_USAGE, stderr);
        return 2;
    }
    const char *what = argv[optind];
    if (strcmp(what, "init") != 0 && strcmp(what, "status") != 0 && strcmp(what, "push") != 0) {
        fputs(FLEET_USAGE, stderr);
        return 2;
    }
    struct fleet *fleet = cli_fleet_connect(cli);
    if (strcmp(what, "init") == 0) {
        status = fleet_init_command(fleet);
    } else if (strcmp(what, "status") == 0) {
        status = fleet_status_command(fleet, json);
    } else {
        char *counters = cli_counters_dir(cli);
        cli_become_daemon_user(cli, counters);
        status = push_command(fleet, counters, day);
        free(counters);
    }
    fleet_close(fleet);
    return status;
}
