/*
 * process.c - what the tlsrptd and tlsrpt-milter processes do alike: read
 * tlsrptd.cf with the -o overrides, set up logging, leave the terminal
 * and write a pid file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"

/* --help prints this on stdout and exits 0; a usage error on stderr with 2. */
static void usage(const char *program, FILE *out, int status)
{
    fprintf(out,
            "usage: %s [-f] [-v] [-c config_file] [-o name=value]...\n"
            "       %s -h|--help | -V|--version\n"
            "  -f  stay in the foreground and log to stderr too\n"
            "  -v  more verbose logging (repeat for more)\n"
            "  -c  configuration file (default: $TLSRPTD_CONFIG or %s)\n"
            "  -o  override a parameter, as a last line of the file would\n",
            program, program, DEF_CONFIG_FILE);
    exit(status);
}

void process_options(struct daemon *d, const char *program, int argc, char **argv, bool *foreground)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_option = NULL;
    int ch;

    msg_setup(program, MSG_STDERR, LOG_MAIL);
    while ((ch = getopt_long(argc, argv, "c:fho:vV", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_option = optarg;
            break;
        case 'f':
            *foreground = true;
            break;
        case 'o':
            if (strchr(optarg, '=') == NULL)
                msg_fatal("-o %s: expected name=value", optarg);
            d->overrides = xreallocarray(d->overrides, d->n_overrides + 1, sizeof(char *));
            d->overrides[d->n_overrides++] = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'V':
            printf("%s %s\n", program, PACKAGE_VERSION);
            exit(0);
        case 'h':
            usage(program, stdout, 0);
            break;
        default:
            usage(program, stderr, 2);
        }
    }
    if (optind != argc)
        usage(program, stderr, 2);
    d->config_path = cfg_default_path(config_option, &d->config_explicit);
}

struct cfg *process_config_read(struct daemon *d, char **error_r)
{
    struct cfg *cfg = cfg_load(d->config_path, d->config_explicit, error_r);

    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; i < d->n_overrides; i++) {
        if (cfg_set_assignment(cfg, d->overrides[i], error_r) < 0) {
            cfg_free(cfg);
            return NULL;
        }
    }
    if (cfg_validate(cfg, error_r) < 0) {
        cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

static const char *process_ident;

void process_logging(struct daemon *d, const char *ident)
{
    const char *facility_name = cfg_str(d->cfg, "syslog_facility");
    int facility = msg_facility_from_name(facility_name);

    if (facility < 0)
        msg_fatal("%s: syslog_facility = %s: unknown facility", cfg_path(d->cfg), facility_name);
    process_ident = ident ? ident : cfg_str(d->cfg, "syslog_name");
    /* Until the process detaches, whoever started it sees every message (a fatal one too). */
    msg_setup(process_ident, MSG_SYSLOG | MSG_STDERR, facility);
    msg_verbose = (int)cfg_int(d->cfg, "verbose") > msg_verbose ? (int)cfg_int(d->cfg, "verbose")
                                                                : msg_verbose;
}

/*
 * Detaches from the terminal; from then on messages go to syslog only. Called
 * once everything that can fail at start has been done, so those failures
 * reach the terminal (and the exit status) of whoever started the process.
 */
void process_detach(struct daemon *d)
{
    pid_t pid = fork();

    if (pid < 0)
        msg_fatal("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        msg_fatal("setsid: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        msg_fatal("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
        dup2(null_fd, 0);
        dup2(null_fd, 1);
        dup2(null_fd, 2);
        if (null_fd > 2)
            close(null_fd);
    }
    msg_setup(process_ident, MSG_SYSLOG, msg_facility_from_name(cfg_str(d->cfg, "syslog_facility")));
}

void process_pid_file(const char *path)
{
    char *text = xasprintf("%ld\n", (long)getpid());
    char *error;

    if (file_write_atomic(path, text, strlen(text), 0644, &error) < 0) {
        msg_warn("pid file: %s", error);
        free(error);
    }
    free(text);
}
