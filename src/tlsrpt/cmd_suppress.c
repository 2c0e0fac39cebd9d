/*
 * cmd_suppress.c - `tlsrpt suppress`: destinations that get no reports for
 * a while. `list` shows them (also the automatic ones, after repeated
 * permanent failures), `add RUA [--until YYYY-MM-DD]` suppresses by hand
 * (default: for suppress_time), `del RUA` lifts it. A mailto: RUA is taken
 * as a record publishes it (percent-encoded) or as tlsrpt shows it (decoded).
 * In a fleet, add and del hold for every host (fleet_suppression_set).
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "core.h"
#include "dns.h"
#include "fleet.h"
#include "spool.h"

struct manual_change {
    bool add;
    time_t until;
};

static void change_by_hand(struct spool_suppression *record, void *context)
{
    struct manual_change *change = context;

    record->until = change->add ? change->until : 0;
    record->manual = change->add;
    if (!change->add)
        record->failures_in_a_row = 0;
}

/*
 * The destination as the outbox and the suppression list hold it, or NULL.
 * mailto: as published ("mailto:%74lsrpt@x") is decoded by the rua parser,
 * as the outbox got it; as shown ("mailto:\"a,b\"@x") it must be a Mailbox.
 */
static char *destination_of(const char *uri)
{
    if (strncmp(uri, "https://", 8) == 0) {
        for (const char *p = uri; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                return NULL;
        return xstrdup(uri);
    }
    if (strncasecmp(uri, "mailto:", 7) != 0)
        return NULL;
    char *text = xasprintf("v=TLSRPTv1;rua=%s", uri), *error = NULL, *destination = NULL;
    struct dns_tlsrpt_record record;
    if (dns_tlsrpt_parse(text, 1, &record, &error) == 0) {
        if (record.n_rua == 1 && record.n_notes == 0 && record.rua[0].scheme == DNS_RUA_MAILTO)
            destination = xstrdup(record.rua[0].uri);
        dns_tlsrpt_record_free(&record);
    }
    free(error);
    free(text);
    if (destination == NULL && tr_mailbox_ok(uri + 7))
        destination = xasprintf("mailto:%s", uri + 7);
    return destination;
}

int cmd_suppress(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"until", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    time_t until = 0;
    int ch;
    char *error;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'u':
            until = day_start(cli_parse_day(optarg));
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    if (optind >= argc) {
        return cli_usage_error(cli);
    }
    const char *action = argv[optind];
    struct cfg *cfg = cli_config(cli);
    char *path = path_join(cfg_str(cfg, "state_directory"), "suppressed");
    struct spool_suppressions list;
    time_t now = time(NULL);

    if (strcmp(action, "list") == 0 && argc - optind == 1) {
        if (spool_suppressions_load(path, &list, &error) < 0)
            msg_fatal("%s", error);
        struct table *table = table_create(4);
        table_row(table, "DESTINATION", "SUPPRESSED UNTIL", "FAILURES IN A ROW", "HOW");
        for (size_t i = 0; i < list.n; i++) {
            const struct spool_suppression *s = &list.items[i];
            char when[32] = "-", failures[16];
            if (s->until > now) {
                struct tm tm;
                gmtime_r(&s->until, &tm);
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
            }
            snprintf(failures, sizeof(failures), "%d", s->failures_in_a_row);
            table_row(table, s->uri, when, failures, s->manual ? "by hand" : "automatic");
        }
        if (list.n)
            table_print(table, stdout, "");
        else
            printf("no destination is suppressed\n");
        table_free(table);
    } else if ((strcmp(action, "add") == 0 || strcmp(action, "del") == 0) && argc - optind == 2) {
        char *uri = destination_of(argv[optind + 1]);
        if (uri == NULL)
            msg_fatal("%s: not a mailto: or https:// destination", argv[optind + 1]);
        char *counters = cli_counters_dir(cli);
        cli_become_daemon_user(cli, counters);
        free(counters);
        struct manual_change change = {
            .add = strcmp(action, "add") == 0,
            .until = until ? until : now + (time_t)cfg_time(cfg, "suppress_time"),
        };
        if (spool_suppression_update(path, uri, change_by_hand, &change, &error) < 0)
            msg_fatal("%s", error);
        printf("%s: %s\n", uri, change.add ? "suppressed" : "no longer suppressed");
        /* In a fleet, for every host: their report workers take it over. */
        if (cfg_str(cfg, "fleet_database")[0] != '\0') {
            struct fleet *fleet = cli_fleet_connect(cli);
            if (fleet_suppression_set(fleet, uri, change.add ? change.until : 0, &error) < 0)
                msg_fatal("%s: changed on this host only: %s", uri, error);
            printf("%s: %s for every host of the fleet\n", uri,
                   change.add ? "suppressed" : "no longer suppressed");
            fleet_close(fleet);
        }
        free(uri);
        free(path);
        return 0;
    } else {
        free(path);
        return cli_usage_error(cli);
    }
    spool_suppressions_free(&list);
    free(path);
    return 0;
}

const struct cli_command cli_command_suppress = {
    .name = "suppress",
    .run = cmd_suppress,
    .usage = "suppress list | add RUA [--until YYYY-MM-DD] | del RUA",
    .summary = "destinations that get no reports",
};
