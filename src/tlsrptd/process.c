/*
 * process.c - what the tlsrptd and tlsrpt-milter processes do alike: read
 * tlsrptd.cf with the -o overrides, set up logging, leave the terminal
 * and write a pid file.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"

static void usage(const char *program)
{
    fprintf(stderr,
            "usage: %s [-f] [-v] [-c config_file] [-o name=value]...\n"
            "  -f  stay in the foreground and log to stderr too\n"
            "  -v  more verbose logging (repeat for more)\n"
            "  -c  configuration file (default: $TLSRPTD_CONFIG or %s)\n"
            "  -o  override a parameter, as a last line of the file would\n",
            program, DEF_CONFIG_FILE);
    exit(2);
}

void process_options(struct daemon *d, const char *program, int argc, char **argv, bool *foreground)
{
    const char *config_option = NULL;
    int ch;

    msg_setup(program, MSG_STDERR, LOG_MAIL);
    while ((ch = getopt(argc, argv, "c:fo:vV")) != -1) {
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
        default:
            usage(program);
        }
    }
    if (optind != argc)
        usage(program);
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

void process_logging(struct daemon *d, const char *ident, bool foreground)
{
    const char *facility_name = cfg_str(d->cfg, "syslog_facility");
    int facility = msg_facility_from_name(facility_name);

    if (facility < 0)
        msg_fatal("%s: syslog_facility = %s: unknown facility", cfg_path(d->cfg), facility_name);
    msg_setup(ident ? ident : cfg_str(d->cfg, "syslog_name"),
              MSG_SYSLOG | (foreground ? MSG_STDERR : 0), facility);
    msg_verbose = (int)cfg_int(d->cfg, "verbose") > msg_verbose ? (int)cfg_int(d->cfg, "verbose")
                                                                : msg_verbose;
}

void process_detach(void)
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
