/*
 * cmd_ingest.c - `tlsrpt ingest`: counts events from files offline with the
 * same parsers the daemon uses. --format libtlsrpt reads one datagram per
 * line (what a recorder of Postfix's TLSRPT socket writes). Every rejected
 * line is reported with its file, line number and reason.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collector.h"
#include "counters.h"

struct ingest_totals {
    unsigned long lines, accepted, rejected, overflowed;
    uint64_t by_reason[COLLECTOR_REJECT_COUNT];
};

/* Reads one line of at most max bytes; a longer one is consumed and flagged. */
static ssize_t read_line(FILE *in, struct buf *line, size_t max, bool *too_long)
{
    int ch;

    buf_reset(line);
    *too_long = false;
    while ((ch = getc(in)) != EOF && ch != '\n') {
        if (line->len < max)
            buf_putc(line, ch);
        else
            *too_long = true;
    }
    if (ch == EOF && line->len == 0 && !*too_long)
        return -1;
    if (line->len > 0 && line->data[line->len - 1] == '\r')
        line->data[--line->len] = '\0';
    return (ssize_t)line->len;
}

static int ingest_file(const char *name, FILE *in, struct collector_parser *parser,
                       struct ctr_table *table, time_t when, size_t max_size,
                       struct ingest_totals *totals)
{
    struct buf line;
    struct ingest_totals file = {0};
    unsigned long lineno = 0;
    bool too_long;

    buf_init(&line);
    while (read_line(in, &line, max_size, &too_long) >= 0) {
        const struct tr_event *event;
        enum collector_reject reason;
        const char *detail;
        lineno++;
        if (line.len == 0 && !too_long)
            continue;
        file.lines++;
        int status = too_long ? -1
                              : collector_parse(parser, buf_cstr(&line), line.len, when, &event,
                                                &reason, &detail);
        if (too_long) {
            reason = COLLECTOR_REJECT_TOO_LARGE;
            detail = "line longer than collector_max_datagram_size";
        }
        if (status < 0) {
            file.rejected++;
            file.by_reason[reason]++;
            printf("%s:%lu: rejected: %s (%s)\n", name, lineno, collector_reject_name(reason),
                   detail);
            continue;
        }
        if (ctr_add(table, event) != 0)
            file.overflowed++;
        file.accepted++;
    }
    bool failed = ferror(in);
    if (failed)
        msg_error("read %s: %s", name, strerror(errno));
    printf("%s: %lu datagrams, %lu accepted, %lu rejected", name, file.lines, file.accepted,
           file.rejected);
    if (file.overflowed)
        printf(", %lu only in the overflow record (table full)", file.overflowed);
    printf("\n");
    totals->lines += file.lines;
    totals->accepted += file.accepted;
    totals->rejected += file.rejected;
    totals->overflowed += file.overflowed;
    for (int i = 0; i < COLLECTOR_REJECT_COUNT; i++)
        totals->by_reason[i] += file.by_reason[i];
    buf_free(&line);
    return failed ? -1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: tlsrpt ingest --format libtlsrpt [--day YYYY-MM-DD] FILE...\n"
                    "  FILE - reads standard input; one datagram per line\n");
}

int cmd_ingest(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, 'F'},
        {"day", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    const char *format = NULL;
    int day = day_today(), ch, status = 0;
    struct ingest_totals totals = {0};
    char *error;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'F':
            format = optarg;
            break;
        case 'D':
            day = cli_parse_day(optarg);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (format == NULL || optind == argc) {
        usage();
        return 2;
    }
    if (strcmp(format, "libtlsrpt") != 0) {
        msg_error("--format %s: not supported (supported: libtlsrpt)", format);
        return 2;
    }
    struct cfg *cfg = cli_config(cli);
    size_t max_size = cfg_size(cfg, "collector_max_datagram_size");
    struct ctr_limits limits = {.max_entries = (uint32_t)cfg_int(cfg, "counter_table_entries"),
                                .string_space = cfg_size(cfg, "counter_string_space")};
    char *dir = cli_counters_dir(cli);
    cli_become_daemon_user(cli, dir);
    struct ctr_table *table = ctr_open(dir, day, CTR_READ_WRITE, &limits, &error);
    if (table == NULL)
        msg_fatal("%s", error);
    struct collector_parser *parser = collector_parser_create(max_size);
    for (int i = optind; i < argc; i++) {
        bool is_stdin = strcmp(argv[i], "-") == 0;
        FILE *in = is_stdin ? stdin : fopen(argv[i], "r");
        if (in == NULL) {
            msg_error("%s: %s", argv[i], strerror(errno));
            status = 2;
            continue;
        }
        if (ingest_file(is_stdin ? "(stdin)" : argv[i], in, parser, table, day_start(day),
                        max_size, &totals) < 0)
            status = 2;
        if (!is_stdin)
            fclose(in);
    }
    char day_text[DAY_TEXT_SIZE];
    day_format(day, day_text);
    struct buf reasons;
    buf_init(&reasons);
    collector_format_rejects(totals.by_reason, &reasons);
    printf("total: %lu datagrams counted for %s, %lu rejected%s\n", totals.accepted, day_text,
           totals.rejected, buf_cstr(&reasons));
    buf_free(&reasons);
    collector_parser_destroy(parser);
    ctr_close(table);
    free(dir);
    if (status == 0 && totals.rejected > 0)
        status = 1;
    return status;
}
