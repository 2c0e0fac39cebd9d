/*
 * cmd_dsn.c - `tlsrpt dsn`: a bounce of our report mail on standard input
 * (from a Postfix pipe alias or procmail, for sites without the milter) is
 * matched to its outbox destination, which it marks bounced or delayed.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dsn.h"
#include "scheduler.h"

/* Exit codes (tlsrpt(8)): what a procmail recipe or an alias can act on. */
enum {
    EXIT_MATCHED = 0,   /* applied to its destination */
    EXIT_UNMATCHED = 1, /* a DSN, not for our report mail (or forged): left alone */
    EXIT_USAGE = 2,
    EXIT_NOT_DSN = 3,   /* not a DSN, or malformed / over a limit */
    EXIT_TEMPFAIL = 75, /* the outbox could not be read or written: try again */
};

/* At most DSN_MAX_MESSAGE + 1 bytes are kept; the rest is read and dropped. */
static void read_message(struct buf *message)
{
    char block[65536];
    ssize_t n;

    while ((n = read(STDIN_FILENO, block, sizeof(block))) != 0) {
        if (n < 0)
            msg_fatal("read standard input: %s", strerror(errno));
        size_t room = DSN_MAX_MESSAGE + 1 > message->len ? DSN_MAX_MESSAGE + 1 - message->len : 0;
        buf_append(message, block, (size_t)n < room ? (size_t)n : room);
    }
}

/* --recipient, else what Postfix's local(8) exports to a command, else the DSN's headers. */
static const char *envelope_recipient(const char *option, const struct dsn *dsn)
{
    static const char *const variables[] = {"ORIGINAL_RECIPIENT", "RECIPIENT"};

    if (option)
        return option;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(variables); i++) {
        const char *value = getenv(variables[i]);
        if (value && value[0])
            return value;
    }
    return dsn->addressed_to;
}

int cmd_dsn(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"recipient", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *recipient = NULL;
    struct sched_dsn_result result;
    struct buf message;
    struct dsn *dsn;
    char *error;
    int ch;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'r':
            recipient = optarg;
            break;
        default:
            fprintf(stderr, "usage: tlsrpt dsn [--recipient ADDRESS] < message\n");
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "usage: tlsrpt dsn [--recipient ADDRESS] < message\n");
        return EXIT_USAGE;
    }
    buf_init(&message);
    read_message(&message);
    if (dsn_parse(message.data ? message.data : "", message.len, &dsn, &error) < 0) {
        msg_error("standard input: %s", error);
        free(error);
        buf_free(&message);
        return EXIT_NOT_DSN;
    }
    buf_free(&message);
    char *counters = cli_counters_dir(cli);
    cli_become_daemon_user(cli, counters);
    free(counters);
    if (sched_dsn_apply(cli_config(cli), envelope_recipient(recipient, dsn), dsn, &result, &error) <
        0) {
        msg_error("%s", error);
        free(error);
        dsn_free(dsn);
        return EXIT_TEMPFAIL;
    }
    dsn_free(dsn);
    printf("matched=%s\n", result.matched ? "yes" : "no");
    if (!result.matched) {
        printf("reason=%s\n", result.reason);
        sched_dsn_result_free(&result);
        return EXIT_UNMATCHED;
    }
    printf("report_id=%s\ndestination=%s\naction=%s\nstatus=%s\ndetail=%s\nstate=%s\n"
           "changed=%s\nsuppressed=%s\n",
           result.report_id, result.destination, result.action, result.status, result.detail,
           spool_state_name(result.state), result.changed ? "yes" : "no (seen before)",
           result.suppressed ? "yes" : "no");
    sched_dsn_result_free(&result);
    return EXIT_MATCHED;
}
