/*
 * collect.c - the collector socket inside the daemon: settings from the
 * configuration, the socket's group for Postfix, the kernel queue warning,
 * its lines in `tlsrpt status` and its totals in the log at shutdown.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "ctl.h"
#include "daemon.h"

/* Below this many queued datagrams, a burst from Postfix overflows the kernel queue. */
#define QLEN_WARN_BELOW 512

void collect_open(struct daemon *d)
{
    char *journal_dir = path_join(d->state_dir, "collector");
    char *journal_path = path_join(journal_dir, "journal");
    struct collector_settings settings = {
        .socket_path = cfg_str(d->cfg, "collector_socket"),
        .owner = d->uid,
        .group = privs_socket_group(d, "collector_socket_group", "collector socket"),
        .mode = cfg_mode(d->cfg, "collector_socket_mode"),
        .max_datagram_size = cfg_size(d->cfg, "collector_max_datagram_size"),
        .ring_size = cfg_size(d->cfg, "collector_buffer_size"),
        .journal_path = journal_path,
        .counters_dir = d->counters_dir,
        .limits = {.max_entries = (uint32_t)cfg_int(d->cfg, "counter_table_entries"),
                   .string_space = cfg_size(d->cfg, "counter_string_space")},
        .log_interval = (int)cfg_time(d->cfg, "collector_log_interval"),
    };
    char *error;

    if (settings.socket_path[0] == '\0') {
        free(journal_path);
        free(journal_dir);
        return;
    }
    privs_make_dir(d, journal_dir, 0750);
    d->collector = collector_open(&settings, &error);
    if (d->collector == NULL)
        msg_fatal("collector socket: %s", error);
    free(journal_path);
    free(journal_dir);
    /*
     * The socket is there by default; it is in use when set on purpose, or
     * when no log_sources make it the only way TLS results come in. A site
     * that only follows its log has no bursts to lose here.
     */
    bool socket_set;
    cfg_raw(d->cfg, "collector_socket", &socket_set);
    bool in_use = socket_set || cfg_str(d->cfg, "log_sources")[0] == '\0';
    int qlen = collector_max_dgram_qlen();
    if (in_use && qlen >= 0 && qlen < QLEN_WARN_BELOW)
        msg_warn("net.unix.max_dgram_qlen is %d: a burst of more than %d TLS sessions at once "
                 "is lost in the kernel before tlsrptd can read it; raise it with "
                 "\"sysctl -w net.unix.max_dgram_qlen=1024\" and in /etc/sysctl.d/",
                 qlen, qlen);
}

void collect_start(struct daemon *d)
{
    char *error;

    if (d->collector && collector_start(d->collector, &error) < 0)
        msg_fatal("%s", error);
}

static void stats_line(struct collector_stats *stats, struct buf *out)
{
    buf_printf(out, "received %llu datagrams (%llu bytes), accepted %llu, rejected %llu",
               (unsigned long long)stats->received, (unsigned long long)stats->bytes,
               (unsigned long long)stats->accepted, (unsigned long long)stats->rejected);
    collector_format_rejects(stats->rejected_by, out);
    if (stats->dropped_full + stats->dropped_damaged > 0)
        buf_printf(out, ", not kept %llu (journal-full %llu, journal-damaged %llu)",
                   (unsigned long long)(stats->dropped_full + stats->dropped_damaged),
                   (unsigned long long)stats->dropped_full,
                   (unsigned long long)stats->dropped_damaged);
    if (stats->journal_pending > 0)
        buf_printf(out, ", %llu bytes left in the journal for the next start",
                   (unsigned long long)stats->journal_pending);
}

void collect_status(struct daemon *d, struct ctl_reply *reply)
{
    struct collector_stats stats;

    if (d->collector == NULL) {
        ctl_reply_add(reply, "collector.socket", "disabled");
        return;
    }
    collector_stats(d->collector, &stats);
    ctl_reply_add(reply, "collector.socket", "%s", d->started_with[3]);
    ctl_reply_add(reply, "collector.received", "%llu", (unsigned long long)stats.received);
    ctl_reply_add(reply, "collector.bytes", "%llu", (unsigned long long)stats.bytes);
    ctl_reply_add(reply, "collector.accepted", "%llu", (unsigned long long)stats.accepted);
    ctl_reply_add(reply, "collector.rejected", "%llu", (unsigned long long)stats.rejected);
    for (int i = 0; i < COLLECTOR_REJECT_COUNT; i++) {
        char name[64];
        snprintf(name, sizeof(name), "collector.rejected_by.%s",
                 collector_reject_name((enum collector_reject)i));
        ctl_reply_add(reply, name, "%llu", (unsigned long long)stats.rejected_by[i]);
    }
    const struct {
        const char *name;
        uint64_t value;
    } rows[] = {
        {"collector.table_full_events", stats.events_overflowed},
        {"collector.late_events", stats.events_late},
        {"collector.table_errors", stats.table_errors},
        {"collector.dropped_by.journal-full", stats.dropped_full},
        {"collector.dropped_by.journal-damaged", stats.dropped_damaged},
        {"collector.journal_appended", stats.journal_appended},
        {"collector.journal_pending_bytes", stats.journal_pending},
        {"collector.buffer_high_water", stats.ring_high_water},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(rows); i++)
        ctl_reply_add(reply, rows[i].name, "%llu", (unsigned long long)rows[i].value);
}

void collect_close(struct daemon *d)
{
    struct collector_stats stats;
    struct buf line;

    if (d->collector == NULL)
        return;
    /* Closing counts everything still buffered, so the totals are final. */
    collector_stop(d->collector);
    collector_stats(d->collector, &stats);
    buf_init(&line);
    stats_line(&stats, &line);
    msg_info("collector: %s", buf_cstr(&line));
    buf_free(&line);
    collector_close(d->collector);
    d->collector = NULL;
}
