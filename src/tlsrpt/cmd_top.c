/*
 * cmd_top.c - `tlsrpt top`: outbound TLS health per recipient domain, a day
 * (today by default) against the day before, read from the counter tables
 * directly as `tlsrpt counters` does; live, once as text, or as JSON.
 */
#include "config.h"

#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "counters.h"
#include "top.h"

#define TOP_SHOWN_FAILURES 3

static int load_day(const char *dir, int day, struct ctr_snapshot **snapshot, char **error_r)
{
    char day_text[DAY_TEXT_SIZE];

    day_format(day, day_text);
    char *name = xasprintf("%s/%s.ctr", dir, day_text);
    bool exists = access(name, F_OK) == 0;
    free(name);
    *snapshot = NULL;
    /* No table for the day is not an error: nothing was counted. */
    if (!exists)
        return 0;
    struct ctr_table *table = ctr_open(dir, day, CTR_READ_ONLY, NULL, error_r);
    if (table == NULL)
        return -1;
    *snapshot = ctr_snapshot(table, NULL);
    ctr_close(table);
    return 0;
}

int top_load(struct top_view *view, const char *counters_dir, int day, char **error_r)
{
    view->day = day;
    for (int i = 0; i < 2; i++) {
        if (load_day(counters_dir, day - i, &view->snapshots[i], error_r) < 0)
            return -1;
        ctr_summarize(view->snapshots[i], &view->summaries[i]);
    }
    const struct ctr_day_summary *today = &view->summaries[0], *before = &view->summaries[1];
    view->all = xcalloc(today->n_domains + before->n_domains + 1, sizeof(*view->all));
    view->rows = xcalloc(today->n_domains + before->n_domains + 1, sizeof(*view->rows));
    /* Both lists are in domain order: merge them. */
    size_t i = 0, j = 0;
    while (i < today->n_domains || j < before->n_domains) {
        int cmp = i == today->n_domains ? 1
                  : j == before->n_domains
                      ? -1
                      : strcmp(today->domains[i].domain, before->domains[j].domain);
        struct top_row *row = &view->all[view->n_all++];
        if (cmp <= 0) {
            row->today = &today->domains[i++];
            row->domain = row->today->domain;
            row->sessions = row->today->sessions;
            row->failures = row->today->failures;
        }
        if (cmp >= 0) {
            row->domain = before->domains[j].domain;
            row->previous_sessions = before->domains[j].sessions;
            row->previous_failures = before->domains[j++].failures;
        }
    }
    top_arrange(view);
    return 0;
}

void top_free(struct top_view *view)
{
    for (int i = 0; i < 2; i++) {
        ctr_summary_free(&view->summaries[i]);
        if (view->snapshots[i])
            ctr_snapshot_free(view->snapshots[i]);
        view->snapshots[i] = NULL;
    }
    free(view->all);
    free(view->rows);
    view->all = view->rows = NULL;
    view->n_all = view->n_rows = 0;
}

const char *top_sort_name(char sort)
{
    switch (sort) {
    case 'f':
        return "failures";
    case 'r':
        return "success rate";
    case 'd':
        return "domain";
    default:
        return "sessions";
    }
}

static bool row_matches(const struct top_row *row, const char *filter)
{
    if (filter[0] == '\0')
        return true;
    if (strpbrk(filter, "*?[") != NULL)
        return fnmatch(filter, row->domain, 0) == 0;
    return strstr(row->domain, filter) != NULL;
}

/* Failed sessions per thousand, for a sort that needs no floating point. */
static uint64_t success_permille(const struct top_row *row)
{
    return row->sessions ? (row->sessions - row->failures) * 1000 / row->sessions : 1001;
}

static char current_sort;

static int row_compare(const void *a, const void *b)
{
    const struct top_row *x = a, *y = b;
    int cmp = 0;

    switch (current_sort) {
    case 'f':
        cmp = (x->failures < y->failures) - (x->failures > y->failures);
        break;
    case 'r': /* worst first; domains without sessions on the day last */
        cmp = (success_permille(x) > success_permille(y)) -
              (success_permille(x) < success_permille(y));
        break;
    case 'd':
        break;
    default:
        cmp = (x->sessions < y->sessions) - (x->sessions > y->sessions);
    }
    return cmp ? cmp : strcmp(x->domain, y->domain);
}

void top_arrange(struct top_view *view)
{
    view->n_rows = 0;
    for (size_t i = 0; i < view->n_all; i++)
        if (row_matches(&view->all[i], view->filter))
            view->rows[view->n_rows++] = view->all[i];
    current_sort = view->sort;
    qsort(view->rows, view->n_rows, sizeof(*view->rows), row_compare);
}

/* The domain's most frequent result types, up to TOP_SHOWN_FAILURES; returns how many. */
static size_t top_failures(const struct top_row *row, int results[TOP_SHOWN_FAILURES])
{
    size_t n = 0;
    bool taken[TR_RESULT_COUNT] = {false};

    while (row->today && n < TOP_SHOWN_FAILURES) {
        int best = -1;
        for (int r = 0; r < TR_RESULT_COUNT; r++)
            if (!taken[r] && row->today->by_result[r] > 0 &&
                (best < 0 || row->today->by_result[r] > row->today->by_result[best]))
                best = r;
        if (best < 0)
            break;
        taken[best] = true;
        results[n++] = best;
    }
    return n;
}

/* Successful / all sessions; callers check for no sessions first. */
static double success_rate(uint64_t sessions, uint64_t failures)
{
    return (double)(sessions - failures) / (double)sessions;
}

static double rate_change(const struct top_row *row)
{
    return success_rate(row->sessions, row->failures) -
           success_rate(row->previous_sessions, row->previous_failures);
}

static void rate_text(char *out, size_t size, uint64_t sessions, uint64_t failures)
{
    if (sessions == 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%.1f%%", 100.0 * success_rate(sessions, failures));
}

/* The success rate's change in percentage points; "new" without sessions the day before. */
static void change_text(char *out, size_t size, const struct top_row *row)
{
    if (row->sessions == 0)
        snprintf(out, size, "-");
    else if (row->previous_sessions == 0)
        snprintf(out, size, "new");
    else
        snprintf(out, size, "%+.1f", 100.0 * rate_change(row));
}

void top_print_text(const struct top_view *view, FILE *out)
{
    char day[DAY_TEXT_SIZE], before[DAY_TEXT_SIZE];
    char sessions[24], failures[24], rate[16], previous[24], previous_rate[16], change[16];
    struct table *table = table_create(8);

    day_format(view->day, day);
    day_format(view->day - 1, before);
    fprintf(out, "%s (UTC) against %s: %zu of %zu domains%s%s%s, by %s\n", day, before,
            view->n_rows, view->n_all, view->filter[0] ? " matching \"" : "", view->filter,
            view->filter[0] ? "\"" : "", top_sort_name(view->sort));
    table_row(table, "DOMAIN", "SESSIONS", "FAILED", "SUCCESS", "BEFORE", "SUCCESS-BEFORE",
              "CHANGE", "TOP FAILURES");
    for (size_t i = 0; i < view->n_rows; i++) {
        const struct top_row *row = &view->rows[i];
        int results[TOP_SHOWN_FAILURES];
        size_t n = top_failures(row, results);
        struct buf top;
        buf_init(&top);
        for (size_t k = 0; k < n; k++)
            buf_printf(&top, "%s%s %" PRIu64, k ? ", " : "", tr_result_name(results[k]),
                       row->today->by_result[results[k]]);
        snprintf(sessions, sizeof(sessions), "%" PRIu64, row->sessions);
        snprintf(failures, sizeof(failures), "%" PRIu64, row->failures);
        snprintf(previous, sizeof(previous), "%" PRIu64, row->previous_sessions);
        rate_text(rate, sizeof(rate), row->sessions, row->failures);
        rate_text(previous_rate, sizeof(previous_rate), row->previous_sessions,
                  row->previous_failures);
        change_text(change, sizeof(change), row);
        table_row(table, row->domain, sessions, failures, rate, previous, previous_rate, change,
                  n ? buf_cstr(&top) : "-");
        buf_free(&top);
    }
    table_print(table, out, "");
    table_free(table);
}

/* A JSON number printed with 4 decimals. */
static json_object *json_fraction(double value)
{
    char text[32];

    snprintf(text, sizeof(text), "%.4f", value);
    return json_object_new_double_s(strtod(text, NULL), text);
}

/* A rate, or null without sessions. */
static json_object *json_rate(uint64_t sessions, uint64_t failures)
{
    return sessions ? json_fraction(success_rate(sessions, failures)) : NULL;
}

/* The change of the success rate (today's minus the day before's), or null. */
static json_object *json_change(const struct top_row *row)
{
    return row->sessions && row->previous_sessions ? json_fraction(rate_change(row)) : NULL;
}

void top_print_json(const struct top_view *view, FILE *out)
{
    char day[DAY_TEXT_SIZE], before[DAY_TEXT_SIZE];
    json_object *root = json_object_new_object(), *domains = json_object_new_array();

    day_format(view->day, day);
    day_format(view->day - 1, before);
    json_object_object_add(root, "day", json_object_new_string(day));
    json_object_object_add(root, "previous_day", json_object_new_string(before));
    json_object_object_add(root, "sort", json_object_new_string(top_sort_name(view->sort)));
    json_object_object_add(root, "filter",
                           view->filter[0] ? json_object_new_string(view->filter) : NULL);
    for (size_t i = 0; i < view->n_rows; i++) {
        const struct top_row *row = &view->rows[i];
        json_object *entry = json_object_new_object(), *top = json_object_new_array();
        int results[TOP_SHOWN_FAILURES];
        size_t n = top_failures(row, results);
        json_object_object_add(entry, "domain", json_object_new_string(row->domain));
        json_object_object_add(entry, "sessions", json_object_new_int64((int64_t)row->sessions));
        json_object_object_add(entry, "failures", json_object_new_int64((int64_t)row->failures));
        json_object_object_add(entry, "success_rate", json_rate(row->sessions, row->failures));
        json_object_object_add(entry, "previous_sessions",
                               json_object_new_int64((int64_t)row->previous_sessions));
        json_object_object_add(entry, "previous_failures",
                               json_object_new_int64((int64_t)row->previous_failures));
        json_object_object_add(entry, "previous_success_rate",
                               json_rate(row->previous_sessions, row->previous_failures));
        json_object_object_add(entry, "change", json_change(row));
        for (size_t k = 0; k < n; k++) {
            json_object *failure = json_object_new_object();
            json_object_object_add(failure, "result-type",
                                   json_object_new_string(tr_result_name(results[k])));
            json_object_object_add(
                failure, "count",
                json_object_new_int64((int64_t)row->today->by_result[results[k]]));
            json_object_array_add(top, failure);
        }
        json_object_object_add(entry, "top_failures", top);
        json_object_array_add(domains, entry);
    }
    json_object_object_add(root, "domains", domains);
    json_print(root, out);
}

int cmd_top(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"once", no_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        {"day", required_argument, NULL, 'D'},
        {"sort", required_argument, NULL, 's'},
        {"filter", required_argument, NULL, 'f'},
        {"interval", required_argument, NULL, 'i'},
        {"fleet", no_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    struct top_view view = {.sort = 's'};
    bool once = false, json = false, fleet = false, day_given = false;
    int day = day_today(), interval = 2, ch;
    char *error, *end;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'o':
            once = true;
            break;
        case 'j':
            json = true;
            break;
        case 'D':
            day = cli_parse_day(optarg);
            day_given = true;
            break;
        case 'F':
            fleet = true;
            break;
        case 's':
            if (strlen(optarg) != 1 || strchr("sfrd", optarg[0]) == NULL)
                msg_fatal("--sort %s: use s (sessions), f (failures), r (rate) or d (domain)",
                          optarg);
            view.sort = optarg[0];
            break;
        case 'f':
            if (strlen(optarg) >= sizeof(view.filter))
                msg_fatal("--filter: longer than %zu bytes", sizeof(view.filter) - 1);
            snprintf(view.filter, sizeof(view.filter), "%s", optarg);
            break;
        case 'i':
            interval = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || interval < 1 || interval > 3600)
                msg_fatal("--interval %s: seconds from 1 to 3600", optarg);
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    if (optind != argc || (once && json))
        return cli_usage_error(cli);
    /* The fleet's days are in the database once finished: by default, yesterday's. */
    if (fleet && !day_given)
        day = day_today() - 1;
    char *dir = fleet ? cli_fleet_merged_dir(cli, day, 2) : cli_counters_dir(cli);
    int status = 0;
    if (!once && !json) {
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
            msg_fatal("top: the live view needs a terminal; use --once or --json in scripts");
        view.day = day;
        status = top_live(&view, dir, interval * 1000);
    } else if (top_load(&view, dir, day, &error) < 0) {
        msg_error("%s", error);
        free(error);
        status = 1;
    } else if (json)
        top_print_json(&view, stdout);
    else
        top_print_text(&view, stdout);
    top_free(&view);
    free(dir);
    return status;
}

const struct cli_command cli_command_top = {
    .name = "top",
    .run = cmd_top,
    .usage = "top [--once | --json] [--day D] [--sort s|f|r|d] [--filter PATTERN] "
             "[--interval SECONDS] [--fleet]",
    .summary = "outbound TLS health per recipient domain, today against yesterday, live",
};
