/*
 * metrics_format.c - the Prometheus text exposition format (0.0.4) of the
 * daemon's status lines: one table maps status names to metrics and labels,
 * so the metrics are `tlsrpt status`'s figures and nothing else.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"

/*
 * Status lines -> metrics. A pattern's "*" matches one name segment and
 * becomes the value of the next label in `labels`; a label "source" takes the
 * log source's spec (logfollow.N.source) instead of its number. Rows of one
 * metric are adjacent. DSNs matched: the line the DSN counting adds to
 * `tlsrpt status` ("dsn.matched") is already mapped; it shows once it exists.
 */
struct metric_rule {
    const char *pattern;
    const char *metric;
    const char *type;
    const char *labels;       /* comma-separated, one per "*" (NULL: none) */
    const char *fixed_labels; /* added as is (NULL: none) */
    const char *help;
};

static const struct metric_rule rules[] = {
    {"uptime_seconds", "tlsrpt_uptime_seconds", "gauge", NULL, NULL,
     "Seconds since tlsrptd started."},
    {"reloads", "tlsrpt_reloads_total", "counter", NULL, NULL, "Configuration reloads."},
    {"collector.received", "tlsrpt_datagrams_received_total", "counter", NULL, NULL,
     "libtlsrpt datagrams received on the collector socket."},
    {"collector.bytes", "tlsrpt_datagram_bytes_received_total", "counter", NULL, NULL,
     "Bytes of libtlsrpt datagrams received."},
    {"collector.accepted", "tlsrpt_datagrams_accepted_total", "counter", NULL, NULL,
     "Datagrams accepted and counted."},
    {"collector.rejected_by.*", "tlsrpt_datagrams_rejected_total", "counter", "reason", NULL,
     "Datagrams rejected, by reason."},
    {"collector.dropped_by.*", "tlsrpt_datagrams_dropped_total", "counter", "reason", NULL,
     "Datagrams not kept (journal full or damaged)."},
    {"collector.late_events", "tlsrpt_collector_late_events_total", "counter", NULL, NULL,
     "Datagram sessions that arrived after their day's reports were built."},
    {"logfollow.*.lines", "tlsrpt_log_lines_total", "counter", "source", NULL,
     "Log lines read, by log source."},
    {"logfollow.*.mta_lines", "tlsrpt_log_mta_lines_total", "counter", "source", NULL,
     "Log lines of the MTA's delivery agents, by log source."},
    {"logfollow.*.sessions", "tlsrpt_log_sessions_total", "counter", "source", NULL,
     "TLS sessions counted from the log, by log source."},
    {"logfollow.*.rejected_by.*", "tlsrpt_log_lines_rejected_total", "counter", "source,reason",
     NULL, "Log lines not understood, by log source and reason."},
    {"counters.success_by_policy.*", "tlsrpt_today_sessions", "gauge", "policy_type",
     "outcome=\"success\"", "Sessions in today's (UTC) counter table, by policy type and outcome."},
    {"counters.failure_by_policy.*", "tlsrpt_today_sessions", "gauge", "policy_type",
     "outcome=\"failure\"", NULL},
    {"counters.failure_by_result.*", "tlsrpt_today_failed_sessions", "gauge", "result_type", NULL,
     "Failed sessions in today's (UTC) counter table, by result type."},
    {"counters.late_events", "tlsrpt_today_late_events", "gauge", NULL, NULL,
     "Events of today counted after today's reports were built."},
    {"reports.worker_runs", "tlsrpt_report_worker_runs_total", "counter", NULL, NULL,
     "Runs of the report worker (build and delivery)."},
    {"outbox.reports", "tlsrpt_outbox_reports", "gauge", NULL, NULL,
     "Reports built and kept in the outbox."},
    {"outbox.by_transport.*.*", "tlsrpt_outbox_destinations", "gauge", "transport,state", NULL,
     "Report destinations in the outbox, by transport and delivery state."},
    {"outbox.rua_pending", "tlsrpt_outbox_rua_pending", "gauge", NULL, NULL,
     "Reports whose TLSRPT record is still to be looked up."},
    {"alerts.run", "tlsrpt_alerts_run_total", "counter", NULL, NULL, "alert_command runs started."},
    {"alerts.failed", "tlsrpt_alerts_failed_total", "counter", NULL, NULL,
     "alert_command runs that could not start or exited with a failure."},
    {"alerts.killed", "tlsrpt_alerts_killed_total", "counter", NULL, NULL,
     "alert_command runs killed after alert_timeout."},
    {"dsn.matched", "tlsrpt_dsn_matched_total", "counter", NULL, NULL,
     "Delivery status notifications matched to a report."},
    {"dsn.unmatched", "tlsrpt_dsn_unmatched_total", "counter", NULL, NULL,
     "Delivery status notifications that matched no report (passed on)."},
    {"dsn.suppressions", "tlsrpt_dsn_suppressions_total", "counter", NULL, NULL,
     "Destinations suppressed because of bounces."},
    {"policy.connections_open", "tlsrpt_policy_connections", "gauge", NULL, NULL,
     "Policy socket connections open."},
    {"policy.requests", "tlsrpt_policy_requests_total", "counter", NULL, NULL,
     "Socketmap requests on the policy socket."},
    {"policy.replies.*", "tlsrpt_policy_replies_total", "counter", "kind", NULL,
     "Socketmap replies, by kind."},
    {"policy.sts.lookups", "tlsrpt_policy_lookups_total", "counter", NULL, NULL,
     "MTA-STS policy lookups."},
    {"policy.sts.answers.*", "tlsrpt_policy_answers_total", "counter", "answer", NULL,
     "MTA-STS policy lookups, by answer."},
    {"policy.sts.cache_hits", "tlsrpt_policy_cache_hits_total", "counter", NULL, NULL,
     "MTA-STS lookups answered from the policy cache."},
    {"policy.sts.fetches", "tlsrpt_policy_fetches_total", "counter", NULL, NULL,
     "MTA-STS policy fetches over HTTPS."},
    {"policy.sts.errors.*", "tlsrpt_policy_fetch_errors_total", "counter", "error", NULL,
     "MTA-STS policy fetches that failed, by error."},
    {"policy.sts.cache_entries", "tlsrpt_policy_cache_entries", "gauge", NULL, NULL,
     "MTA-STS policies in the cache."},
    {"policy.sts.prefetches", "tlsrpt_policy_prefetches_total", "counter", NULL, NULL,
     "tlsrpt-milter prefetches done, from memory or by a background fetcher."},
    {"policy.sts.prefetch.queued", "tlsrpt_policy_prefetch_requests_total", "counter", NULL,
     "outcome=\"queued\"", "tlsrpt-milter prefetches not in memory, by what became of them."},
    {"policy.sts.prefetch.duplicates", "tlsrpt_policy_prefetch_requests_total", "counter", NULL,
     "outcome=\"duplicate\"", NULL},
    {"policy.sts.prefetch.dropped", "tlsrpt_policy_prefetch_requests_total", "counter", NULL,
     "outcome=\"dropped\"", NULL},
    {"policy.sts.prefetch.fetched", "tlsrpt_policy_prefetch_lookups_total", "counter", NULL,
     "outcome=\"done\"", "Background prefetch lookups, by outcome."},
    {"policy.sts.prefetch.skipped", "tlsrpt_policy_prefetch_lookups_total", "counter", NULL,
     "outcome=\"left_to_another_fetch\"", NULL},
    {"policy.sts.prefetch.queue_length", "tlsrpt_policy_prefetch_queue_length", "gauge", NULL,
     NULL, "tlsrpt-milter prefetches waiting for a background fetcher."},
    {"policy.sts.prefetch.in_flight", "tlsrpt_policy_prefetch_in_flight", "gauge", NULL, NULL,
     "Background prefetch lookups under way."},
};

/* A metric's help is on its first row. */
static const char *rule_help(const struct metric_rule *rule)
{
    for (size_t r = 0; r < UTIL_ARRAY_LEN(rules); r++)
        if (strcmp(rules[r].metric, rule->metric) == 0 && rules[r].help)
            return rules[r].help;
    return "";
}

/* "*" matches one segment; the matched segments are stored in `captures`. */
static bool pattern_match(const char *pattern, const char *name, const char *captures[2],
                          size_t capture_len[2])
{
    int n = 0;

    while (*pattern && *name) {
        if (*pattern == '*') {
            size_t len = strcspn(name, ".");
            if (len == 0 || n == 2)
                return false;
            captures[n] = name;
            capture_len[n++] = len;
            name += len;
            pattern++;
        } else if (*pattern++ != *name++)
            return false;
    }
    return *pattern == '\0' && *name == '\0';
}

/* Label values escaped as the format wants: backslash, double quote, newline. */
static void label_value(struct buf *out, const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (value[i] == '\\' || value[i] == '"')
            buf_printf(out, "\\%c", value[i]);
        else if (value[i] == '\n')
            buf_append(out, "\\n", 2);
        else
            buf_append(out, &value[i], 1);
    }
}

static const char *source_spec(const struct ctl_response *status, const char *index, size_t len)
{
    char name[64];

    snprintf(name, sizeof(name), "logfollow.%.*s.source", (int)len, index);
    const char *spec = ctl_response_get(status, name);
    return spec ? spec : "";
}

static void sample(struct buf *out, const struct metric_rule *rule,
                   const struct ctl_response *status, const char *captures[2],
                   const size_t capture_len[2], unsigned long long value)
{
    const char *label = rule->labels;
    bool any = false;

    buf_printf(out, "%s", rule->metric);
    for (int i = 0; label && i < 2 && captures[i]; i++) {
        size_t name_len = strcspn(label, ",");
        buf_printf(out, "%s%.*s=\"", any ? "," : "{", (int)name_len, label);
        if (name_len == 6 && strncmp(label, "source", 6) == 0) {
            const char *spec = source_spec(status, captures[i], capture_len[i]);
            label_value(out, spec, strlen(spec));
        } else
            label_value(out, captures[i], capture_len[i]);
        buf_printf(out, "\"");
        any = true;
        label += name_len + (label[name_len] == ',');
    }
    if (rule->fixed_labels) {
        buf_printf(out, "%s%s", any ? "," : "{", rule->fixed_labels);
        any = true;
    }
    buf_printf(out, "%s %llu\n", any ? "}" : "", value);
}

void metrics_format(const struct ctl_response *status, struct buf *out)
{
    const char *header_done = NULL;

    for (size_t r = 0; r < UTIL_ARRAY_LEN(rules); r++) {
        const struct metric_rule *rule = &rules[r];
        for (size_t i = 0; i < status->n_attrs; i++) {
            const char *captures[2] = {NULL, NULL};
            size_t capture_len[2] = {0, 0};
            char *end;
            const char *text = status->attrs[i].value;
            if (!pattern_match(rule->pattern, status->attrs[i].name, captures, capture_len))
                continue;
            errno = 0;
            unsigned long long value = strtoull(text, &end, 10);
            if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0)
                continue;
            if (header_done == NULL || strcmp(header_done, rule->metric) != 0) {
                buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", rule->metric, rule_help(rule),
                           rule->metric, rule->type);
                header_done = rule->metric;
            }
            sample(out, rule, status, captures, capture_len, value);
        }
    }
}
