/*
 * follow.c - the log follower inside the daemon: settings from the
 * configuration (log_sources, log_supplement, our own report sender), its
 * thread, its lines in `tlsrpt status` and its totals in the log at shutdown.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"
#include "logfollow.h"
#include "policy.h"
#include "scheduler.h"

/*
 * With the policy service on, a session gets the policy the service knows
 * for its domain and MX host. The follower has one thread: the strings of
 * the last answer live here until the next lookup.
 */
static struct pol_session last_session;

static bool session_policy(void *context, const char *domain, const char *mx_host,
                           enum tr_policy_type logged, struct lf_policy *policy)
{
    struct daemon *d = context;

    (void)logged;
    pol_session_free(&last_session);
    pol_session_policy(d->policy_service, domain, mx_host, &last_session);
    if (last_session.type == TR_POLICY_NONE)
        return false;
    policy->type = last_session.type;
    policy->domain = last_session.policy_domain;
    policy->strings = (const char *const *)last_session.strings;
    policy->n_strings = last_session.n_strings;
    policy->mx_hosts = (const char *const *)last_session.mx_patterns;
    policy->n_mx_hosts = last_session.n_mx_patterns;
    return true;
}

void follow_check(struct daemon *d)
{
    struct lf_source_spec *specs;
    char *error;
    size_t n;

    if (lf_sources_parse(cfg_str(d->cfg, "log_sources"), &specs, &n, &error) < 0)
        msg_fatal("%s: log_sources: %s", cfg_path(d->cfg), error);
    lf_sources_free(specs, n);
    if (n > 0) {
        d->logpos_dir = path_join(d->state_dir, "logpos");
        privs_make_dir(d, d->logpos_dir, 0750);
    }
}

void follow_start(struct daemon *d)
{
    const char *sending_ip = cfg_str(d->cfg, "sending_mta_ip");
    char *sender;
    struct lf_follow_settings settings = {
        .sources = d->started_with[5],
        .checkpoint_dir = d->logpos_dir,
        .counters_dir = d->counters_dir,
        .limits = {.max_entries = (uint32_t)cfg_int(d->cfg, "counter_table_entries"),
                   .string_space = cfg_size(d->cfg, "counter_string_space")},
        .report_sender = NULL, /* set below, when there is something to follow */
        .report_verp_delimiter = cfg_str(d->cfg, "report_verp_delimiter"),
        .sending_mta_ip = sending_ip[0] ? sending_ip : NULL,
        .supplement = strcmp(d->started_with[6], "yes") == 0,
        .policy_lookup = d->policy_service != NULL ? session_policy : NULL,
        .policy_context = d,
    };
    char *error;

    if (d->logpos_dir == NULL)
        return;
    settings.report_sender = sender = sched_report_sender(d->cfg);
    d->follower = lf_follower_open(&settings, &error);
    free(sender);
    if (d->follower == NULL || lf_follower_start(d->follower, &error) < 0)
        msg_fatal("log follower: %s", error);
}

void follow_status(struct daemon *d, struct ctl_reply *reply)
{
    struct lf_source_status status[LF_MAX_SOURCES];
    struct lf_follower_totals totals;
    size_t n;

    if (d->follower == NULL) {
        ctl_reply_add(reply, "logfollow.sources", "none");
        return;
    }
    n = lf_follower_status(d->follower, status, LF_MAX_SOURCES, &totals);
    ctl_reply_add(reply, "logfollow.sources", "%zu", n);
    ctl_reply_add(reply, "logfollow.mode", "%s",
                  strcmp(d->started_with[6], "yes") == 0 ? "supplement" : "full");
    ctl_reply_add(reply, "logfollow.commits", "%llu", (unsigned long long)totals.commits);
    ctl_reply_add(reply, "logfollow.rollbacks", "%llu", (unsigned long long)totals.rollbacks);
    ctl_reply_add(reply, "logfollow.table_full_events", "%llu",
                  (unsigned long long)totals.table_full_events);
    ctl_reply_add(reply, "logfollow.own_mail", "%llu", (unsigned long long)totals.own_mail);
    ctl_reply_add(reply, "logfollow.own_mail_dropped", "%llu",
                  (unsigned long long)totals.own_mail_dropped);
    for (size_t i = 0; i < n; i++) {
        const struct lf_stats *stats = &status[i].stats;
        char name[96];

#define SOURCE_LINE(field, ...)                                                                  \
    do {                                                                                         \
        snprintf(name, sizeof(name), "logfollow.%zu.%s", i + 1, field);                          \
        ctl_reply_add(reply, name, __VA_ARGS__);                                                 \
    } while (0)
        SOURCE_LINE("source", "%s", status[i].spec);
        SOURCE_LINE("state", "%s", status[i].state);
        SOURCE_LINE("position", "%s", status[i].position);
        SOURCE_LINE("lines", "%llu", (unsigned long long)stats->lines);
        SOURCE_LINE("mta_lines", "%llu", (unsigned long long)stats->relevant);
        SOURCE_LINE("sessions", "%llu", (unsigned long long)stats->events);
        SOURCE_LINE("own_reports", "%llu", (unsigned long long)stats->own_reports);
        SOURCE_LINE("rejected", "%llu", (unsigned long long)stats->rejected);
        for (int r = 0; r < LF_REJECT_COUNT; r++) {
            char field[64];
            snprintf(field, sizeof(field), "rejected_by.%s", lf_reject_name((enum lf_reject)r));
            SOURCE_LINE(field, "%llu", (unsigned long long)stats->rejected_by[r]);
        }
#undef SOURCE_LINE
    }
}

void follow_own_mail(struct daemon *d, const char *queue_id, struct ctl_reply *reply)
{
    const char *error;

    if (d->follower == NULL) {
        ctl_reply_fail(reply, "no log follower (log_sources is empty)");
        return;
    }
    if (lf_follower_own_mail(d->follower, queue_id, &error) < 0) {
        ctl_reply_fail(reply, "own-mail %.40s: %s", queue_id, error);
        return;
    }
    ctl_reply_add(reply, "queued", "1");
}

void follow_stop(struct daemon *d)
{
    struct lf_source_status status[LF_MAX_SOURCES];
    size_t n;

    if (d->follower == NULL)
        return;
    /* The thread ends after its current round, which it commits. */
    lf_follower_stop(d->follower);
    n = lf_follower_status(d->follower, status, LF_MAX_SOURCES, NULL);
    for (size_t i = 0; i < n && i < LF_MAX_SOURCES; i++)
        msg_info("log follower: %s: %llu lines, %llu TLS sessions counted, %llu lines rejected; "
                 "position: %s",
                 status[i].spec, (unsigned long long)status[i].stats.lines,
                 (unsigned long long)status[i].stats.events,
                 (unsigned long long)status[i].stats.rejected, status[i].position);
    lf_follower_close(d->follower);
    d->follower = NULL;
    pol_session_free(&last_session);
    free(d->logpos_dir);
    d->logpos_dir = NULL;
}
