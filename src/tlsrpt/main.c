/*
 * main.c - tlsrpt, the control command (postconf/postqueue in spirit): a
 * table of subcommands; offline ones work on the state directory directly,
 * the others ask the daemon over the control socket.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"

struct command {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
    const char *synopsis; /* "arguments   what it does" */
};

static const struct command commands[] = {
    {"conf", cmd_conf, "conf [-n|-d] [-x] [NAME...]   print the configuration"},
    {"counters", cmd_counters,
     "counters [--day D] [--domain X] [--json]   show a day's counters"},
    {"dsn", cmd_dsn,
     "dsn [--recipient ADDR] < MESSAGE   apply a bounce of report mail to its destination"},
    {"ingest", cmd_ingest,
     "ingest --format libtlsrpt|postfix|sendmail FILE...   count events from files offline"},
    {"lookup", cmd_lookup, "lookup DOMAIN   show the TLSRPT record and rua of a domain"},
    {"queue", cmd_queue,
     "queue [--json] | flush | retry ID | delete ID   the outbox and what to do with it"},
    {"report", cmd_report,
     "report [--day D] [--domain X] [--pretty] [--out DIR]   the reports a day gives"},
    {"run", cmd_run, "run [--day D] [--dry-run]   build finished days into the outbox now"},
    {"status", cmd_status, "status [--json]   ask the daemon how it is doing"},
    {"sts", cmd_sts,
     "sts DOMAIN | sts cache [--json] | sts flush DOMAIN   the MTA-STS policy service's view"},
    {"suppress", cmd_suppress,
     "suppress list | add RUA [--until D] | del RUA   destinations that get no reports"},
};

static void usage(FILE *out, int status)
{
    struct table *table = table_create(2);

    fprintf(out, "usage: tlsrpt [-c config_file] [-o name=value]... COMMAND [options]\n"
                 "commands:\n");
    /* The synopsis is "usage   description": two aligned columns. */
    for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++) {
        const char *gap = strstr(commands[i].synopsis, "   ");
        char *usage_text = xstrndup(commands[i].synopsis, (size_t)(gap - commands[i].synopsis));
        table_row(table, usage_text, gap + strspn(gap, " "));
        free(usage_text);
    }
    table_print(table, out, "  ");
    table_free(table);
    exit(status);
}

struct cfg *cli_config(struct cli *cli)
{
    bool is_explicit;
    char *error;

    if (cli->cfg)
        return cli->cfg;
    const char *path = cfg_default_path(cli->config_option, &is_explicit);
    cli->cfg = cfg_load(path, is_explicit, &error);
    if (cli->cfg == NULL)
        msg_fatal("%s", error);
    for (size_t i = 0; i < cli->n_overrides; i++)
        if (cfg_set_assignment(cli->cfg, cli->overrides[i], &error) < 0)
            msg_fatal("%s", error);
    if (cfg_validate(cli->cfg, &error) < 0)
        msg_fatal("%s", error);
    return cli->cfg;
}

void cli_become_daemon_user(struct cli *cli, const char *dir)
{
    const char *user = cfg_str(cli_config(cli), "tlsrptd_user");
    struct passwd *pw = geteuid() == 0 ? getpwnam(user) : NULL;
    char *error;

    if (dir_make(dir, 0750, &error) < 0)
        msg_fatal("%s", error);
    if (geteuid() != 0)
        return;
    if (pw == NULL) {
        msg_warn("tlsrptd_user %s does not exist: files are created as root", user);
        return;
    }
    if (pw->pw_uid == 0) {
        /* tlsrptd refuses such a user; files made here would be root's, not the daemon's. */
        msg_warn("tlsrptd_user %s is a root account (uid 0), which tlsrptd refuses: "
                 "files are created as root; set tlsrptd_user to the daemon's own user",
                 user);
        return;
    }
    /* The state directory, this day's files and the delivery directory stay the daemon's. */
    const char *state = cfg_str(cli->cfg, "state_directory");
    const char *delivery = cfg_str(cli->cfg, "delivery_directory");
    if (delivery[0] != '\0' && dir_make(delivery, 0750, &error) < 0)
        msg_fatal("%s", error);
    const char *owned[] = {state, dir, delivery};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(owned); i++)
        if (owned[i][0] != '\0' && chown(owned[i], pw->pw_uid, pw->pw_gid) < 0)
            msg_fatal("chown %s: %s", owned[i], strerror(errno));
    if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        msg_fatal("become %s: %s", user, strerror(errno));
}

char *cli_counters_dir(struct cli *cli)
{
    return path_join(cfg_str(cli_config(cli), "state_directory"), "counters");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli cli = {.program = "tlsrpt"};
    int ch, status;

    /* A worker the daemon started also logs where the daemon does. */
    const char *facility = getenv("TLSRPT_SYSLOG_FACILITY");
    if (facility && msg_facility_from_name(facility) >= 0)
        msg_setup("tlsrpt", MSG_STDERR | MSG_SYSLOG, msg_facility_from_name(facility));
    else
        msg_setup("tlsrpt", MSG_STDERR, LOG_MAIL);
    /* "+": stop at the command name; the command parses its own options. */
    while ((ch = getopt_long(argc, argv, "+c:o:hvV", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli.config_option = optarg;
            break;
        case 'o':
            if (strchr(optarg, '=') == NULL)
                msg_fatal("-o %s: expected name=value", optarg);
            cli.overrides = xreallocarray(cli.overrides, cli.n_overrides + 1, sizeof(char *));
            cli.overrides[cli.n_overrides++] = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'V':
            printf("tlsrpt %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout, 0);
            break;
        default:
            usage(stderr, 2);
        }
    }
    if (optind >= argc)
        usage(stderr, 2);
    const char *name = argv[optind];
    for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            optind++;
            /* The command sees its own argv starting at its name. */
            int sub_argc = argc - optind + 1;
            char **sub_argv = argv + optind - 1;
            optind = 0; /* glibc: a full restart, dropping the "+" mode of the call above */
            status = commands[i].run(&cli, sub_argc, sub_argv);
            if (cli.cfg)
                cfg_free(cli.cfg);
            free(cli.overrides);
            return status;
        }
    }
    msg_error("unknown command \"%s\"; try tlsrpt --help", name);
    return 2;
}
