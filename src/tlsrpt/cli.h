/*
 * cli.h - what the parts of the tlsrpt command share: the loaded
 * configuration, the command table entries, and output helpers that print
 * aligned tables for people and JSON for scripts.
 */
#ifndef TLSRPT_CLI_H
#define TLSRPT_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "cfg.h"
#include "util.h"

struct cli {
    const char *program;
    const char *config_option; /* -c, or NULL */
    char **overrides;          /* -o name=value */
    size_t n_overrides;
    struct cfg *cfg;                   /* loaded on first use by cli_config() */
    const struct cli_command *command; /* the one running */
};

/*
 * A subcommand. Its usage text is written once, beside the command, and
 * serves `tlsrpt --help`, `tlsrpt help NAME`, `tlsrpt NAME --help` and the
 * usage errors of the command.
 */
struct cli_command {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
    const char *usage; /* lines (joined by '\n') after "usage: tlsrpt ", each naming the command */
    const char *summary; /* one line: what the command does */
    /*
     * Works with a broken config file (it needs only the control socket and
     * paths): refused lines are warned about and their defaults used, so the
     * running daemon can still be asked after a refused reload.
     */
    bool broken_config_ok;
};

extern const struct cli_command cli_command_conf, cli_command_counters, cli_command_dsn,
    cli_command_fleet, cli_command_ingest,
    cli_command_lookup, cli_command_queue, cli_command_report, cli_command_run, cli_command_status,
    cli_command_sts, cli_command_suppress, cli_command_top;

/* Prints the usage lines of command, then (for --help) a blank line and its summary. */
void cli_usage_print(const struct cli_command *command, FILE *out, bool with_summary);
/* A usage error of the running command: its usage lines on stderr; returns 2. */
int cli_usage_error(struct cli *cli);

/*
 * Loads the configuration once (fatal with file:line on errors, or for a
 * command with broken_config_ok warnings with file:line).
 */
struct cfg *cli_config(struct cli *cli);
/* The counters directory of the configured state directory (caller frees). */
char *cli_counters_dir(struct cli *cli);

/*
 * Before writing state offline: creates dir (the counters directory) and,
 * when run as root, hands it to tlsrptd_user and becomes that user, so the
 * daemon can keep writing what this command creates.
 */
void cli_become_daemon_user(struct cli *cli, const char *dir);

/* Each command gets argv[0] = its name; returns the exit status. */
int cmd_conf(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_counters(struct cli *cli, int argc, char **argv);
int cmd_dsn(struct cli *cli, int argc, char **argv);
int cmd_ingest(struct cli *cli, int argc, char **argv);
int cmd_lookup(struct cli *cli, int argc, char **argv);
int cmd_queue(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_suppress(struct cli *cli, int argc, char **argv);
int cmd_sts(struct cli *cli, int argc, char **argv);
int cmd_top(struct cli *cli, int argc, char **argv);

/* The fleet database of fleet_database as fleet_host_id (fatal when unset or unreachable). */
struct fleet *cli_fleet_connect(struct cli *cli);
/*
 * The fleet's merged counts of the n_days days up to last_day, written into
 * a temporary counters directory (removed at exit) the caller reads like its
 * own (caller frees the path).
 */
char *cli_fleet_merged_dir(struct cli *cli, int last_day, int n_days);
/*
 * The report worker in a fleet: fleet_worker_begin() pushes finished days,
 * builds the merged reports of the days this host leads and puts the
 * fleet's ledger in ctx; fleet_worker_end() (after the deliveries) marks
 * settled days done and lets go. The database unreachable stops nothing.
 */
struct sched_context;
void fleet_worker_begin(struct cfg *cfg, struct sched_context *ctx, time_t delay, bool quiet);
void fleet_worker_end(struct sched_context *ctx);
/* Deliveries from ctx's outbox claim each attempt in the fleet's ledger (connected as fleet). */
void fleet_ledger_use(struct cfg *cfg, struct sched_context *ctx, struct fleet *fleet);

/*
 * A text table: rows of cells printed with columns padded to the widest
 * cell; the last column is not padded. Cells are copied.
 */
struct table;
struct table *table_create(size_t columns);
void table_row(struct table *table, ...); /* exactly `columns` const char * */
void table_print(struct table *table, FILE *out, const char *indent);
void table_free(struct table *table);

/* Prints a JSON value, pretty, followed by a newline; frees it. */
void json_print(json_object *value, FILE *out);

/* Parses --day YYYY-MM-DD, or the words "today" and "yesterday". Fatal when bad. */
int cli_parse_day(const char *text);
/* Parses --domain: a normalized A-label name (caller frees). Fatal when bad. */
char *cli_parse_domain(const char *text);

#endif
