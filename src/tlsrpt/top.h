/*
 * top.h - `tlsrpt top` inside the tlsrpt program: the view of a day against
 * the day before per recipient domain (cmd_top.c) and the live terminal
 * that shows it (top_live.c).
 */
#ifndef TLSRPT_TOP_H
#define TLSRPT_TOP_H

#include <stdint.h>
#include <stdio.h>

#include "counters.h"

#define TOP_MAX_FILTER 256

/* One recipient domain: the day and the day before. */
struct top_row {
    const char *domain;
    uint64_t sessions, failures;
    uint64_t previous_sessions, previous_failures;
    const struct ctr_domain_summary *today; /* NULL: no sessions on the day */
};

struct top_view {
    int day;                           /* the day shown; compared with day - 1 */
    struct ctr_snapshot *snapshots[2]; /* the day, the day before (NULL: no table) */
    struct ctr_day_summary summaries[2];
    struct top_row *all; /* every domain of both days */
    size_t n_all;
    struct top_row *rows; /* filtered and sorted: what is shown */
    size_t n_rows;
    char sort;                   /* 's' sessions, 'f' failures, 'r' rate, 'd' domain */
    char filter[TOP_MAX_FILTER]; /* "" none; a glob with * ? [ ], else a substring */
};

/* Reads both days' tables; -1 with *error_r when one cannot be read. */
int top_load(struct top_view *view, const char *counters_dir, int day, char **error_r);
/* Applies view->filter and view->sort to the loaded rows. */
void top_arrange(struct top_view *view);
void top_free(struct top_view *view);
const char *top_sort_name(char sort);
/* The header line and the table, for --once and the live view. */
void top_print_text(const struct top_view *view, FILE *out);
void top_print_json(const struct top_view *view, FILE *out);

/* The live view until q, SIGINT or SIGTERM; the terminal is restored on every exit. */
int top_live(struct top_view *view, const char *counters_dir, int interval_ms);

#endif
