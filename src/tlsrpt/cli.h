/*
 * cli.h - what the parts of the tlsrpt command share: the loaded
 * configuration, the command table entries, and output helpers that print
 * aligned tables for people and JSON for scripts.
 */
#ifndef TLSRPT_CLI_H
#define TLSRPT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "cfg.h"
#include "util.h"

struct cli {
    const char *program;
    const char *config_option; /* -c, or NULL */
    char **overrides;          /* -o name=value */
    size_t n_overrides;
    struct cfg *cfg;           /* loaded on first use by cli_config() */
};

/* Loads the configuration once (fatal with file:line on errors). */
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
