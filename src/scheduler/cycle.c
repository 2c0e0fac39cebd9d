/*
 * cycle.c - when reports are built (finished days, report_delay after UTC
 * midnight, catching up after downtime within retention) and the
 * delivery_directory hand-off, which writes each due report as its
 * RFC 8460 §5.1 .json.gz file instead of sending it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "dns.h"
#include "report.h"
#include "scheduler.h"
#include "spool.h"
#include "util.h"

int sched_due_days(const char *counters_dir, time_t now, time_t report_delay,
                   int retention_days, int **days)
{
    int *all, n, due = 0;
    char *error;

    *days = NULL;
    n = ctr_list_days(counters_dir, &all, &error);
    if (n < 0) {
        msg_warn("%s", error);
        free(error);
        return 0;
    }
    int today = day_from_time(now);
    *days = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        int day = all[i];
        if (day >= today || day < today - retention_days ||
            now < day_start(day + 1) + report_delay)
            continue;
        struct ctr_table *table = ctr_open(counters_dir, day, CTR_READ_ONLY, NULL, &error);
        if (table == NULL) {
            msg_warn("%s", error);
            free(error);
            continue;
        }
        struct ctr_stats stats;
        ctr_stats(table, &stats);
        ctr_close(table);
        if (!stats.reported)
            (*days)[due++] = day;
    }
    free(all);
    return due;
}

static bool entry_pending(const struct spool_entry *entry)
{
    for (size_t i = 0; i < entry->n_destinations; i++)
        if (entry->destinations[i].state == SPOOL_PENDING ||
            entry->destinations[i].state == SPOOL_RETRYING)
            return true;
    return false;
}

int sched_resolve_pending(struct sched_context *ctx)
{
    struct spool_entry *entries;
    size_t n;
    char *error;
    int resolved = 0;

    if (ctx->resolver == NULL || spool_list(ctx->spool, &entries, &n, &error) < 0) {
        if (ctx->resolver != NULL) {
            msg_error("%s", error);
            free(error);
        }
        return 0;
    }
    /* Every pending report's domain at once, dns_concurrency lookups at a time. */
    const char **domains = xcalloc(n + 1, sizeof(*domains));
    struct dns_tlsrpt_answer *answers = xcalloc(n + 1, sizeof(*answers));
    size_t *which = xcalloc(n + 1, sizeof(*which)), n_pending = 0;
    for (size_t i = 0; i < n; i++)
        if (entries[i].rua_pending) {
            domains[n_pending] = entries[i].policy_domain;
            which[n_pending++] = i;
        }
    dns_lookup_tlsrpt_many(ctx->resolver, domains, n_pending, ctx->max_rua, ctx->dns_concurrency,
                           answers);
    for (size_t p = 0; p < n_pending; p++) {
        struct spool_entry *entry = &entries[which[p]];
        struct dns_tlsrpt_answer answer = answers[p];
        time_t window = ctx->delivery.ready ? ctx->delivery.retry_window : 86400;
        if (answer.status == DNS_TEMPFAIL && time(NULL) - entry->created < window) {
            dns_tlsrpt_answer_free(&answer);
            continue;
        }
        /* The lookup took time: the report's state as it is now, under its lock. */
        bool busy;
        int lock = spool_lock_entry(ctx->spool, entry, false, &busy, &error);
        if (lock < 0 || !entry->rua_pending) {
            if (lock < 0) {
                msg_info("report %s: %s: looked up again later", entry->report_id, error);
                free(error);
            } else {
                close(lock);
            }
            dns_tlsrpt_answer_free(&answer);
            continue;
        }
        entry->rua_pending = false;
        if (answer.status == DNS_TEMPFAIL) {
            /* As for deliveries (RFC 8460 §5.5): after retry_window, give up. */
            msg_warn("report %s: %s still failed after retry_window (%s): not sent",
                     entry->report_id, answer.qname, answer.detail);
        } else if (answer.status == DNS_FOUND) {
            free(entry->record);
            entry->record = xstrdup(answer.record.text);
            for (size_t r = 0; r < answer.record.n_rua; r++)
                spool_entry_add_destination(entry, answer.record.rua[r].uri);
            msg_info("report %s: %s now found, %zu destinations", entry->report_id,
                     answer.qname, entry->n_destinations);
        } else if (answer.status == DNS_NONE) {
            msg_info("report %s: %s has no TLSRPT record (%s): nothing to send",
                     entry->report_id, answer.qname, answer.detail);
        }
        if (spool_update(ctx->spool, entry, &error) < 0) {
            msg_error("outbox: %s", error);
            free(error);
        } else {
            resolved++;
        }
        close(lock);
        dns_tlsrpt_answer_free(&answer);
    }
    free(domains);
    free(answers);
    free(which);
    spool_list_free(entries, n);
    return resolved;
}

int sched_deliver_to_directory(struct spool *spool, const char *dir, time_t now)
{
    struct spool_entry *entries;
    size_t n;
    char *error;
    int written = 0;

    if (dir_make(dir, 0750, &error) < 0 || spool_list(spool, &entries, &n, &error) < 0) {
        msg_error("delivery directory: %s", error);
        free(error);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct spool_entry *entry = &entries[i];
        struct buf json, gz;
        bool busy;
        if (entry->send_after > now || !entry_pending(entry))
            continue;
        /* Under the report's lock, from its state as it is now (see sched_deliver). */
        int lock = spool_lock_entry(spool, entry, false, &busy, &error);
        if (lock < 0) {
            msg_info("delivery directory: %s: left for the next pass", error);
            free(error);
            continue;
        }
        if (entry->send_after > now || !entry_pending(entry)) {
            close(lock);
            continue;
        }
        buf_init(&json);
        buf_init(&gz);
        char *path = path_join(dir, entry->file_name);
        if (spool_read_report(spool, entry, &json, &error) < 0 ||
            rpt_gzip(json.data, json.len, &gz, &error) < 0 ||
            file_write_atomic(path, gz.data, gz.len, 0640, &error) < 0) {
            msg_error("delivery directory: report %s: %s", entry->report_id, error);
            free(error);
        } else {
            /* Written instead of sent: every destination counts as served. */
            for (size_t d = 0; d < entry->n_destinations; d++) {
                entry->destinations[d].state = SPOOL_DELIVERED;
                entry->destinations[d].attempts++;
                entry->destinations[d].next_try = 0;
            }
            if (spool_update(spool, entry, &error) < 0) {
                msg_error("outbox: %s", error);
                free(error);
            } else {
                msg_info("report %s for %s written to %s", entry->report_id,
                         entry->policy_domain, path);
                written++;
            }
        }
        close(lock);
        free(path);
        buf_free(&json);
        buf_free(&gz);
    }
    spool_list_free(entries, n);
    return written;
}
