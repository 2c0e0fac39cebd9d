/*
 * cmd_report.c - the reports from the command line: `tlsrpt report` prints
 * (or writes as RFC 8460 §5.1 files) the reports a day's counters give,
 * without the daemon or DNS; `tlsrpt run` builds finished days into the
 * outbox on demand, as the daemon does after midnight (--dry-run: only say
 * what would be enqueued).
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "counters.h"
#include "scheduler.h"

struct print_options {
    bool pretty;
    const char *out_dir;
    int failures;
};

static void print_report(const struct rpt_report *report, void *context)
{
    struct print_options *options = context;
    char *error;

    if (options->out_dir) {
        struct buf gz;
        buf_init(&gz);
        char *path = path_join(options->out_dir, report->file_name);
        if (rpt_gzip(report->json, report->json_len, &gz, &error) < 0 ||
            file_write_atomic(path, gz.data, gz.len, 0644, &error) < 0) {
            msg_error("%s", error);
            free(error);
            options->failures++;
        } else {
            printf("%s\n", path);
        }
        free(path);
        buf_free(&gz);
        return;
    }
    if (!options->pretty) {
        printf("%.*s\n", (int)report->json_len, report->json);
        return;
    }
    json_object *parsed = json_tokener_parse(report->json);
    if (parsed == NULL)
        msg_panic("report %s: the builder made JSON json-c cannot read", report->report_id);
    json_print(parsed, stdout);
}

/* Sessions counted on day so far (0 when it has no table), for the hint of an empty report. */
static uint64_t sessions_counted(struct cli *cli, int day)
{
    char *dir = cli_counters_dir(cli);
    char day_text[DAY_TEXT_SIZE];
    uint64_t sessions = 0;

    day_format(day, day_text);
    char *file_name = xasprintf("%s.ctr", day_text);
    char *file = path_join(dir, file_name);
    if (access(file, F_OK) == 0) {
        char *error = NULL;
        struct ctr_table *table = ctr_open(dir, day, CTR_READ_ONLY, NULL, &error);
        free(error); /* only a hint: a table that cannot be read counts as none */
        if (table != NULL) {
            struct ctr_stats stats;
            ctr_stats(table, &stats);
            sessions = stats.sessions_success + stats.sessions_failure;
            ctr_close(table);
        }
    }
    free(file);
    free(file_name);
    free(dir);
    return sessions;
}

/*
 * Says on stderr which day was used (stdout stays the reports): by default
 * yesterday, the last finished day, which is easy to mistake for today.
 */
static void say_day(struct cli *cli, int day, bool day_given, const char *domain, int count)
{
    char text[DAY_TEXT_SIZE];
    const char *which = day == day_today() ? " (today, so far)"
                        : !day_given       ? " (yesterday, the default)"
                                           : "";

    day_format(day, text);
    if (count > 0) {
        fprintf(stderr, "tlsrpt: %d report%s for %s%s\n", count, count == 1 ? "" : "s", text,
                which);
        return;
    }
    fprintf(stderr, "tlsrpt: no report for %s%s%s%s: no sessions counted\n", text, which,
            domain ? " and " : "", domain ? domain : "");
    uint64_t today = day == day_today() ? 0 : sessions_counted(cli, day_today());
    if (today > 0)
        fprintf(stderr, "tlsrpt: today has %llu sessions so far: tlsrpt report --day today\n",
                (unsigned long long)today);
}

int cmd_report(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"day", required_argument, NULL, 'D'},
        {"domain", required_argument, NULL, 'd'},
        {"pretty", no_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    struct print_options print = {0};
    struct sched_context ctx;
    int day = day_today() - 1, ch;
    bool day_given = false;
    char *domain = NULL, *error;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'D':
            day = cli_parse_day(optarg);
            day_given = true;
            break;
        case 'd':
            free(domain);
            domain = cli_parse_domain(optarg);
            break;
        case 'p':
            print.pretty = true;
            break;
        case 'o':
            print.out_dir = optarg;
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    if (sched_context_init(&ctx, cli_config(cli), false, false, &error) < 0)
        msg_fatal("%s", error);
    if (print.out_dir && dir_make(print.out_dir, 0755, &error) < 0)
        msg_fatal("%s", error);
    ctx.domain_filter = domain;
    int count = sched_each_report(&ctx, day, print_report, &print, &error);
    if (count < 0)
        msg_fatal("%s", error);
    say_day(cli, day, day_given, domain, count);
    sched_context_free(&ctx);
    free(domain);
    return print.failures ? 1 : 0;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"day", required_argument, NULL, 'D'},
        {"dry-run", no_argument, NULL, 'n'},
        {"due", no_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    struct sched_context ctx;
    int day = -1, ch, status = 0;
    bool dry_run = false, quiet = false;
    time_t delay = 0;
    char *error;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'D':
            day = cli_parse_day(optarg);
            break;
        case 'n':
            dry_run = true;
            break;
        case 'u':
            /* The daemon's worker: only days past report_delay, no chatter. */
            delay = -1;
            quiet = true;
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    struct cfg *cfg = cli_config(cli);
    if (day >= day_today())
        msg_fatal("--day: only finished days (before today, UTC) are reported");
    char *counters = cli_counters_dir(cli);
    if (!dry_run)
        cli_become_daemon_user(cli, counters);
    if (sched_context_init(&ctx, cfg, !dry_run, true, &error) < 0)
        msg_fatal("%s", error);
    /* One owner builds into and delivers from the outbox: a run beside another waits. */
    int owner = dry_run ? -1 : sched_own_outbox(&ctx, &error);
    if (!dry_run && owner < 0)
        msg_fatal("%s", error);
    int *days = NULL, n = 0;
    if (cfg_str(cfg, "fleet_database")[0] != '\0') {
        /* In a fleet, days go to the fleet database; no host reports its own counts. */
        if (day >= 0 || dry_run)
            msg_fatal("fleet_database is set: this host's days are pushed to the fleet "
                      "database, not reported alone (tlsrpt fleet push)");
        fleet_worker_begin(cfg, &ctx, delay < 0 ? (time_t)cfg_time(cfg, "report_delay") : 0,
                           quiet);
    } else if (day >= 0) {
        days = xcalloc(1, sizeof(int));
        days[n++] = day;
    } else {
        /* On demand: every finished, unreported day, without waiting for report_delay. */
        if (delay < 0)
            delay = (time_t)cfg_time(cfg, "report_delay");
        n = sched_due_days(ctx.counters_dir, time(NULL), delay,
                           (int)(cfg_time(cfg, "counter_retention") / 86400), &days);
    }
    for (int i = 0; i < n; i++) {
        char text[DAY_TEXT_SIZE];
        day_format(days[i], text);
        if (ctx.spool && spool_day_done(ctx.spool, days[i]))
            printf("%s: already in the outbox\n", text);
        int count = sched_build_day(&ctx, days[i], stdout, &error);
        if (count < 0) {
            msg_error("%s: %s", text, error);
            free(error);
            status = 1;
        } else if (!dry_run) {
            printf("%s: %d reports added to the outbox\n", text, count);
        }
    }
    if (n == 0 && !quiet && cfg_str(cfg, "fleet_database")[0] == '\0')
        printf("nothing to do: no finished day waits for its reports\n");
    if (!dry_run)
        sched_resolve_pending(&ctx);
    const char *directory = cfg_str(cfg, "delivery_directory");
    if (!dry_run && directory[0] != '\0') {
        int written = sched_deliver_to_directory(ctx.spool, directory, time(NULL));
        if (!quiet || written > 0)
            printf("%d reports written to %s\n", written, directory);
    } else if (!dry_run) {
        int attempts = sched_deliver(&ctx, time(NULL));
        if (!quiet || attempts > 0)
            printf("%d delivery attempts made\n", attempts);
    }
    fleet_worker_end(&ctx);
    free(days);
    free(counters);
    sched_context_free(&ctx);
    if (owner >= 0)
        close(owner);
    return status;
}

const struct cli_command cli_command_report = {
    .name = "report",
    .run = cmd_report,
    .usage = "report [--day YYYY-MM-DD|today|yesterday] [--domain DOMAIN] [--pretty] [--out DIR]",
    .summary = "the reports a day gives (default: yesterday)",
};

const struct cli_command cli_command_run = {
    .name = "run",
    .run = cmd_run,
    .usage = "run [--day YYYY-MM-DD] [--dry-run]",
    .summary = "build finished days into the outbox now",
};
