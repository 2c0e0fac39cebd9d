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

static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct cli_command cli_command_help = {
    .name = "help",
    .run = cmd_help,
    .usage = "help [COMMAND]",
    .summary = "this list, or the usage of one command",
};

static const struct cli_command *const commands[] = {
    &cli_command_conf,   &cli_command_counters, &cli_command_dsn,
    &cli_command_fleet,  &cli_command_help,     &cli_command_ingest,
    &cli_command_lookup, &cli_command_queue,    &cli_command_report,
    &cli_command_run,    &cli_command_status,   &cli_command_sts,
    &cli_command_suppress, &cli_command_top,
};

static const struct cli_command *command_find(const char *name)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

void cli_usage_print(const struct cli_command *command, FILE *out, bool with_summary)
{
    const char *line = command->usage;

    for (int n = 0; *line != '\0'; n++) {
        size_t len = strcspn(line, "\n");
        fprintf(out, "%s tlsrpt %.*s\n", n == 0 ? "usage:" : "      ", (int)len, line);
        line += len + (line[len] == '\n');
    }
    if (with_summary)
        fprintf(out, "\n%s\n", command->summary);
}

int cli_usage_error(struct cli *cli)
{
    cli_usage_print(cli->command, stderr, false);
    return 2;
}

static void usage(FILE *out, int status)
{
    struct table *table = table_create(2);

    fprintf(out, "usage: tlsrpt [-c config_file] [-o name=value]... COMMAND [options]\n"
                 "       tlsrpt --help | --version | help COMMAND | COMMAND --help\n"
                 "commands:\n");
    for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++)
        table_row(table, commands[i]->name, commands[i]->summary);
    table_print(table, out, "  ");
    table_free(table);
    fprintf(out, "tlsrpt help COMMAND shows the options of one\n");
    exit(status);
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
    if (argc == 1)
        usage(stdout, 0);
    if (argc > 2)
        return cli_usage_error(cli);
    const struct cli_command *command = command_find(argv[1]);
    if (command == NULL) {
        msg_error("unknown command \"%s\"; try tlsrpt --help", argv[1]);
        return 2;
    }
    cli_usage_print(command, stdout, true);
    return 0;
}

/* --help or -h among a command's arguments (before "--") asks for its usage. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

struct cfg *cli_config(struct cli *cli)
{
    bool is_explicit;
    char *error;

    if (cli->cfg)
        return cli->cfg;
    const char *path = cfg_default_path(cli->config_option, &is_explicit);
    cli->cfg = cfg_load(path, is_explicit, &error);
    if (cli->cfg == NULL && cli->command != NULL && cli->command->broken_config_ok) {
        /* The lenient load warns about each refused line itself. */
        free(error);
        cli->cfg = cfg_load_lenient(path, is_explicit, &error);
    }
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
    const struct cli_command *command = command_find(argv[optind]);
    if (command != NULL) {
        optind++;
        /* The command sees its own argv starting at its name. */
        int sub_argc = argc - optind + 1;
        char **sub_argv = argv + optind - 1;
        optind = 0; /* glibc: a full restart, dropping the "+" mode of the call above */
        cli.command = command;
        if (wants_help(sub_argc, sub_argv)) {
            cli_usage_print(command, stdout, true);
            return 0;
        }
        status = command->run(&cli, sub_argc, sub_argv);
        if (cli.cfg)
            cfg_free(cli.cfg);
        free(cli.overrides);
        return status;
    }
    msg_error("unknown command \"%s\"; try tlsrpt --help", argv[optind]);
    return 2;
}
