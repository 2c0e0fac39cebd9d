/*
 * cmd_ingest.c - `tlsrpt ingest`: counts events from files offline with the
 * same parsers the daemon uses. --format libtlsrpt reads one datagram per
 * line (what a recorder of Postfix's TLSRPT socket writes), every rejected
 * line reported with its file, line number and reason; --format postfix or
 * sendmail reads mail logs, each event counted on the day of its own line.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collector.h"
#include "counters.h"
#include "logfollow.h"
#include "scheduler.h"

/* Events ctr_add() could not store normally: where they went. */
struct not_stored {
    unsigned long overflowed; /* only in the per-domain overflow record (returned 1) */
    unsigned long lost;       /* nowhere but the table's lost counter (returned 2) */
    unsigned long late;       /* the day was already reported: its late counter (returned 3) */
};

static void note_stored(struct not_stored *n, int result)
{
    if (result == 1)
        n->overflowed++;
    else if (result == 2)
        n->lost++;
    else if (result == 3)
        n->late++;
}

/* ", 3 only in the overflow record (table full), 2 stored nowhere (...)" */
static void print_not_stored(const struct not_stored *n, const char *separator)
{
    if (n->overflowed)
        printf("%s%lu only in the overflow record (table full)", separator, n->overflowed);
    if (n->lost)
        printf("%s%lu stored nowhere (table and overflow record full; counted as lost_events)",
               n->overflowed ? ", " : separator, n->lost);
    if (n->late)
        printf("%s%lu late (the day was already reported: counted as late only)",
               n->overflowed || n->lost ? ", " : separator, n->late);
}

struct ingest_totals {
    unsigned long lines, accepted, rejected;
    struct not_stored not_stored;
    uint64_t by_reason[COLLECTOR_REJECT_COUNT];
};

/* Input read in blocks and cut into lines (not a byte at a time: logs are big). */
#define READ_BLOCK (256 * 1024)
struct line_reader {
    FILE *in;
    char *block;
    size_t start, end;
};

static void reader_init(struct line_reader *r, FILE *in)
{
    r->in = in;
    r->block = xmalloc(READ_BLOCK);
    r->start = r->end = 0;
}

static void reader_free(struct line_reader *r)
{
    free(r->block);
}

/* Adds what fits of text to line (at most max bytes); the rest flags too_long. */
static void take(struct buf *line, const char *text, size_t len, size_t max, bool *too_long)
{
    size_t room = max - line->len;

    if (len > room) {
        *too_long = true;
        len = room;
    }
    buf_append(line, text, len);
}

/* Reads one line of at most max bytes; a longer one is consumed and flagged. */
static ssize_t read_line(struct line_reader *r, struct buf *line, size_t max, bool *too_long)
{
    bool any = false;

    buf_reset(line);
    *too_long = false;
    for (;;) {
        if (r->start == r->end) {
            r->start = 0;
            r->end = fread(r->block, 1, READ_BLOCK, r->in);
            if (r->end == 0) {
                if (!any)
                    return -1;
                break;
            }
        }
        const char *at = r->block + r->start;
        const char *nl = memchr(at, '\n', r->end - r->start);
        any = true;
        if (nl != NULL) {
            take(line, at, (size_t)(nl - at), max, too_long);
            r->start += (size_t)(nl - at) + 1;
            break;
        }
        take(line, at, r->end - r->start, max, too_long);
        r->start = r->end;
    }
    if (line->len > 0 && line->data[line->len - 1] == '\r')
        line->data[--line->len] = '\0';
    buf_cstr(line);
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

    struct line_reader reader;

    buf_init(&line);
    reader_init(&reader, in);
    while (read_line(&reader, &line, max_size, &too_long) >= 0) {
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
        note_stored(&file.not_stored, ctr_add(table, event));
        file.accepted++;
    }
    bool failed = ferror(in);
    if (failed)
        msg_error("read %s: %s", name, strerror(errno));
    printf("%s: %lu datagrams, %lu accepted, %lu rejected", name, file.lines, file.accepted,
           file.rejected);
    print_not_stored(&file.not_stored, ", ");
    printf("\n");
    reader_free(&reader);
    totals->lines += file.lines;
    totals->accepted += file.accepted;
    totals->rejected += file.rejected;
    totals->not_stored.overflowed += file.not_stored.overflowed;
    totals->not_stored.lost += file.not_stored.lost;
    totals->not_stored.late += file.not_stored.late;
    for (int i = 0; i < COLLECTOR_REJECT_COUNT; i++)
        totals->by_reason[i] += file.by_reason[i];
    buf_free(&line);
    return failed ? -1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: tlsrpt ingest --format libtlsrpt [--day YYYY-MM-DD] FILE...\n"
                    "       tlsrpt ingest --format postfix|sendmail [--year YYYY] FILE...\n"
                    "  FILE - reads standard input\n");
}

/* Log events go to the table of their own day: a few tables open at once. */
#define LOG_TABLES 8

struct log_ingest {
    const char *counters_dir;
    struct ctr_limits limits;
    struct ctr_table *tables[LOG_TABLES];
    int days[LOG_TABLES];
    size_t n_tables;
    unsigned long events, table_errors;
    struct not_stored not_stored;
    int first_day, last_day;
};

static struct ctr_table *log_table(struct log_ingest *ingest, int day)
{
    char *error;

    for (size_t i = 0; i < ingest->n_tables; i++)
        if (ingest->days[i] == day)
            return ingest->tables[i];
    if (ingest->n_tables == LOG_TABLES) {
        ctr_close(ingest->tables[0]);
        memmove(ingest->tables, ingest->tables + 1, (LOG_TABLES - 1) * sizeof(ingest->tables[0]));
        memmove(ingest->days, ingest->days + 1, (LOG_TABLES - 1) * sizeof(ingest->days[0]));
        ingest->n_tables--;
    }
    struct ctr_table *table =
        ctr_open(ingest->counters_dir, day, CTR_READ_WRITE, &ingest->limits, &error);
    if (table == NULL) {
        msg_error("%s", error);
        free(error);
        return NULL;
    }
    ingest->tables[ingest->n_tables] = table;
    ingest->days[ingest->n_tables++] = day;
    return table;
}

static void log_event(const struct tr_event *event, void *context)
{
    struct log_ingest *ingest = context;
    int day = day_from_time(event->time);
    struct ctr_table *table = log_table(ingest, day);

    if (table == NULL) {
        ingest->table_errors++;
        return;
    }
    note_stored(&ingest->not_stored, ctr_add(table, event));
    ingest->events++;
    if (ingest->first_day < 0 || day < ingest->first_day)
        ingest->first_day = day;
    if (day > ingest->last_day)
        ingest->last_day = day;
}

/* On a terminal (show), big files say how far they are, twice a second. */
struct progress {
    int64_t started_ms, next_ms;
};

static void log_progress(const char *name, FILE *in, off_t size, const struct lf_stats *stats,
                         struct progress *p, bool done)
{
    if (!done && (stats->lines & 4095) != 0)
        return; /* the clock is read every 4096 lines */
    int64_t now = clock_ms();
    if (!done && now < p->next_ms)
        return;
    p->next_ms = now + 500;
    off_t at = done ? size : ftello(in);
    double seconds = (double)(now - p->started_ms) / 1000.0;
    double rate = seconds > 0 ? (double)at / seconds : 0; /* bytes/s */
    fprintf(stderr, "\r%s: %3d%%, %lld of %lld MB, %llu lines (%.0f/s), %llu events, ", name,
            (int)(size > 0 ? at * 100 / size : 100), (long long)(at >> 20),
            (long long)(size >> 20), (unsigned long long)stats->lines,
            seconds > 0 ? (double)stats->lines / seconds : 0.0,
            (unsigned long long)stats->events);
    if (done)
        fprintf(stderr, "done in %.1f s\n", seconds);
    else
        fprintf(stderr, "%.0f s to go  ", rate > 0 ? (double)(size - at) / rate : 0.0);
}

static int ingest_log(struct cli *cli, enum lf_format format, int year, char **files, int n_files)
{
    struct cfg *cfg = cli_config(cli);
    struct log_ingest ingest = {
        .limits = {.max_entries = (uint32_t)cfg_int(cfg, "counter_table_entries"),
                   .string_space = cfg_size(cfg, "counter_string_space")},
        .first_day = -1,
        .last_day = -1,
    };
    char *own = sched_report_sender(cfg);
    const char *sending_ip = cfg_str(cfg, "sending_mta_ip");
    struct lf_settings settings = {
        .format = format,
        .year = year,
        .now = time(NULL),
        .report_sender = own,
        .report_verp_delimiter = cfg_str(cfg, "report_verp_delimiter"),
        .sending_mta_ip = sending_ip[0] ? sending_ip : NULL,
    };
    char *dir = cli_counters_dir(cli);
    int status = 0;

    cli_become_daemon_user(cli, dir);
    ingest.counters_dir = dir;
    struct lf_parser *parser = lf_parser_create(&settings, log_event, &ingest);
    struct buf line;
    buf_init(&line);
    for (int i = 0; i < n_files; i++) {
        bool is_stdin = strcmp(files[i], "-") == 0;
        const char *name = is_stdin ? "(stdin)" : files[i];
        FILE *in = is_stdin ? stdin : fopen(files[i], "r");
        struct stat st;
        struct progress progress = {.started_ms = clock_ms(), .next_ms = 0};
        bool too_long;
        if (in == NULL) {
            msg_error("%s: %s", files[i], strerror(errno));
            status = 2;
            continue;
        }
        off_t size = fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
        bool show = size >= 16 * 1024 * 1024 && isatty(STDERR_FILENO); /* asked once */
        struct line_reader reader;
        reader_init(&reader, in);
        /* Longer log lines are not Postfix's or Sendmail's: cut, the parser rejects them. */
        while (read_line(&reader, &line, 16384, &too_long) >= 0) {
            lf_parser_line(parser, buf_cstr(&line), line.len);
            if (show)
                log_progress(name, in, size, lf_parser_stats(parser), &progress, false);
        }
        reader_free(&reader);
        if (show)
            log_progress(name, in, size, lf_parser_stats(parser), &progress, true);
        if (ferror(in)) {
            msg_error("read %s: %s", name, strerror(errno));
            status = 2;
        }
        if (!is_stdin)
            fclose(in);
    }
    lf_parser_flush(parser);
    const struct lf_stats *stats = lf_parser_stats(parser);
    printf("%llu lines, %llu from the MTA's delivery agents: %llu TLS sessions counted",
           (unsigned long long)stats->lines, (unsigned long long)stats->relevant,
           (unsigned long long)ingest.events);
    if (ingest.first_day >= 0) {
        char first[DAY_TEXT_SIZE], last[DAY_TEXT_SIZE];
        day_format(ingest.first_day, first);
        day_format(ingest.last_day, last);
        printf(" (%s%s%s)", first, ingest.first_day == ingest.last_day ? "" : " to ",
               ingest.first_day == ingest.last_day ? "" : last);
    }
    printf("\n");
    if (stats->own_reports)
        printf("%llu sessions of our own report mail not counted\n",
               (unsigned long long)stats->own_reports);
    if (stats->rejected) {
        printf("%llu lines not understood:", (unsigned long long)stats->rejected);
        for (int r = 0; r < LF_REJECT_COUNT; r++)
            if (stats->rejected_by[r])
                printf(" %s %llu", lf_reject_name((enum lf_reject)r),
                       (unsigned long long)stats->rejected_by[r]);
        printf("\n");
    }
    if (ingest.not_stored.overflowed || ingest.not_stored.lost || ingest.not_stored.late) {
        printf("events");
        print_not_stored(&ingest.not_stored, ": ");
        printf("\n");
    }
    if (ingest.table_errors) {
        printf("%lu events not counted: no counter table could be opened\n", ingest.table_errors);
        status = 2;
    }
    lf_parser_destroy(parser);
    for (size_t i = 0; i < ingest.n_tables; i++)
        ctr_close(ingest.tables[i]);
    buf_free(&line);
    free(dir);
    free(own);
    return status;
}

int cmd_ingest(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, 'F'},
        {"day", required_argument, NULL, 'D'},
        {"year", required_argument, NULL, 'Y'},
        {NULL, 0, NULL, 0},
    };
    const char *format = NULL;
    int day = day_today(), ch, status = 0, year = 0;
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
        case 'Y':
            year = atoi(optarg);
            if (year < 1970 || year > 9999)
                msg_fatal("--year %s: a year from 1970 to 9999", optarg);
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
    enum lf_format log_format;
    if (lf_format_from_name(format, &log_format) == 0)
        return ingest_log(cli, log_format, year, argv + optind, argc - optind);
    if (strcmp(format, "libtlsrpt") != 0) {
        msg_error("--format %s: not supported (libtlsrpt, postfix, sendmail)", format);
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
