/*
 * cmd_conf.c - `tlsrpt conf`: the effective configuration like postconf:
 * all parameters, -n only those set in the file, -d the defaults, -x with
 * $name expanded, NAME... single values; --man prints tlsrptd.cf(5).
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>

#include "cli.h"

int cmd_conf(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"man", no_argument, NULL, 'M'},
        {NULL, 0, NULL, 0},
    };
    enum cfg_print_mode mode = CFG_PRINT_ALL;
    bool expand = false, man = false;
    int ch;

    while ((ch = getopt_long(argc, argv, "c:ndx", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'n':
            mode = CFG_PRINT_NONDEFAULT;
            break;
        case 'd':
            mode = CFG_PRINT_DEFAULTS;
            break;
        case 'x':
            expand = true;
            break;
        case 'M':
            man = true;
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    if (man) {
        cfg_print_man(stdout);
        return 0;
    }
    const char *const *names = optind < argc ? (const char *const *)&argv[optind] : NULL;
    /* The defaults need no file: -d works even when the file is broken. */
    if (mode == CFG_PRINT_DEFAULTS) {
        char *error;
        struct cfg *defaults = cfg_load_string("", "(defaults)", &error);
        if (defaults == NULL)
            msg_fatal("%s", error);
        int status = cfg_print(defaults, stdout, mode, expand, names);
        cfg_free(defaults);
        return status < 0 ? 1 : 0;
    }
    return cfg_print(cli_config(cli), stdout, mode, expand, names) < 0 ? 1 : 0;
}

const struct cli_command cli_command_conf = {
    .name = "conf",
    .run = cmd_conf,
    .usage = "conf [-n|-d] [-x] [--man] [NAME...]",
    .summary = "print the configuration like postconf: -n as set, -d defaults, -x expanded",
};
