/*
 * cmd_fleet.c - `tlsrpt fleet`: create or migrate the fleet database's
 * schema, push this host's finished days now, and show which hosts pushed
 * which days. Also the report worker's part in a fleet (fleet_worker):
 * push, lead a day, build its merged reports, deliver under the ledger.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "counters.h"
#include "dsn.h"
#include "fleet.h"
#include "scheduler.h"
#include "spool.h"


struct fleet *cli_fleet_connect(struct cli *cli)
{
    struct cfg *cfg = cli_config(cli);
    const char *conninfo = cfg_str(cfg, "fleet_database");
    char *error;

    if (conninfo[0] == '\0')
        msg_fatal("fleet_database is not set: this host is not part of a fleet");
    struct fleet *fleet = fleet_connect(conninfo, cfg_str(cfg, "fleet_host_id"), &error);
    if (fleet == NULL)
        msg_fatal("%s", error);
    return fleet;
}

/* ---- The fleet's merged days, for counters and top ---- */

static char *merged_dir;

/* The merged days' directory holds only what fleet_merge wrote into it. */
static void remove_merged_dir(void)
{
    DIR *dir = opendir(merged_dir);
    struct dirent *entry;

    while (dir && (entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char *path = path_join(merged_dir, entry->d_name);
        unlink(path);
        free(path);
    }
    if (dir)
        closedir(dir);
    rmdir(merged_dir);
    free(merged_dir);
}

char *cli_fleet_merged_dir(struct cli *cli, int last_day, int n_days)
{
    struct fleet *fleet = cli_fleet_connect(cli);
    char template[] = "/tmp/tlsrpt-fleet-XXXXXX", *error;
    struct ctr_limits limits = {
        .max_entries = (uint32_t)cfg_int(cli_config(cli), "counter_table_entries"),
        .string_space = cfg_size(cli_config(cli), "counter_string_space"),
    };

    if (mkdtemp(template) == NULL)
        msg_fatal("mkdtemp %s: %s", template, strerror(errno));
    merged_dir = xstrdup(template);
    atexit(remove_merged_dir);
    for (int day = last_day - n_days + 1; day <= last_day; day++)
        if (fleet_merge(fleet, day, merged_dir, &limits, &error) < 0)
            msg_fatal("%s", error);
    fleet_close(fleet);
    return xstrdup(merged_dir);
}

/* ---- The report worker in a fleet ---- */

/* The ledger as the delivery processes use it: each connects on its own. */
struct ledger {
    const char *conninfo, *host_id;
    struct fleet *fleet;
    pid_t pid;
};
static struct ledger ledger;
static struct sched_ledger sched_ledger;

static struct fleet *ledger_connection(struct ledger *l)
{
    char *error;

    if (l->fleet && l->pid == getpid())
        return l->fleet;
    /* A child leaves its parent's connection alone (closing it would end the parent's session). */
    l->fleet = fleet_connect(l->conninfo, l->host_id, &error);
    l->pid = getpid();
    if (l->fleet == NULL) {
        msg_error("%s: no delivery attempt without the fleet's ledger", error);
        free(error);
    }
    return l->fleet;
}

static int ledger_claim(void *context, const struct spool_entry *entry,
                        const struct spool_destination *d, enum spool_state *settled_r)
{
    struct fleet *fleet = ledger_connection(context);
    char state[FLEET_STATE_SIZE], *error;

    if (fleet == NULL)
        return 0;
    int claimed = fleet_claim(fleet, entry->day, entry->report_id, d->uri, state, &error);
    if (claimed < 0) {
        msg_error("report %s to %s: %s: not sent now", entry->report_id, d->uri, error);
        free(error);
        return 0;
    }
    enum spool_state settled;
    if (claimed == 0 && spool_state_from_name(state, &settled) == 0 &&
        (settled == SPOOL_DELIVERED || settled == SPOOL_FAILED))
        *settled_r = settled;
    else if (claimed == 0)
        msg_info("report %s to %s: not sent now: this host does not lead the day (or its "
                 "reports are not in the fleet's outbox yet)",
                 entry->report_id, d->uri);
    return claimed;
}

static void ledger_record(void *context, const struct spool_entry *entry,
                          const struct spool_destination *d)
{
    struct fleet *fleet = ledger_connection(context);
    char *error;

    if (fleet && fleet_record(fleet, entry->report_id, d, false, &error) < 0) {
        msg_error("report %s to %s: %s", entry->report_id, d->uri, error);
        free(error);
    }
}

/* Builds a led day's reports from the fleet's merged counts, once. */
static void build_merged_day(struct fleet *fleet, struct cfg *cfg, struct sched_context *ctx,
                             int day, const char *text)
{
    char *state_fleet = path_join(cfg_str(cfg, "state_directory"), "fleet");
    char *merged = path_join(state_fleet, "merged"), *error;
    char name[DAY_TEXT_SIZE + 8];
    struct ctr_limits limits = {
        .max_entries = (uint32_t)cfg_int(cfg, "counter_table_entries"),
        .string_space = cfg_size(cfg, "counter_string_space"),
    };

    snprintf(name, sizeof(name), "%s.ctr", text);
    char *table = path_join(merged, name);
    if (dir_make(state_fleet, 0750, &error) < 0 || dir_make(merged, 0750, &error) < 0 ||
        (unlink(table) < 0 && errno != ENOENT && (error = xasprintf("unlink %s: %s", table,
                                                                   strerror(errno))))) {
        msg_error("fleet: %s", error);
        free(error);
    } else if (fleet_merge(fleet, day, merged, &limits, &error) < 0) {
        msg_error("fleet: %s: %s", text, error);
        free(error);
    } else {
        char *own = ctx->counters_dir;
        ctx->counters_dir = merged;
        int count = sched_build_day(ctx, day, stdout, &error);
        ctx->counters_dir = own;
        if (count < 0) {
            msg_error("fleet: %s: %s", text, error);
            free(error);
        } else {
            printf("%s: %d reports of the fleet added to the outbox\n", text, count);
        }
    }
    free(table);
    free(merged);
    free(state_fleet);
}

/*
 * A led day in this host's outbox and in the fleet's: restored as stored
 * when a builder before us stored it, else built from the merged counts;
 * then stored, once, so that deliveries can be claimed.
 */
static void outbox_day(struct fleet *fleet, struct cfg *cfg, struct sched_context *ctx, int day,
                       const char *text)
{
    char *error;
    int stored = fleet_day_stored(fleet, day, &error), n;

    if (stored == -2) {
        msg_error("fleet: %s: %s", text, error);
        free(error);
        return;
    }
    if (!spool_day_done(ctx->spool, day)) {
        if (stored < 0) {
            build_merged_day(fleet, cfg, ctx, day, text);
        } else if ((n = fleet_restore_day(fleet, ctx->spool, day, &error)) < 0) {
            msg_error("fleet: %s: restoring its reports: %s", text, error);
            free(error);
            return;
        } else {
            msg_info("fleet: %s: %d reports restored from the fleet's outbox, each destination "
                     "in the state the ledger has", text, n);
        }
    }
    if (stored < 0 && spool_day_done(ctx->spool, day)) {
        int result = fleet_store_day(fleet, ctx->spool, day, &n, &error);
        if (result < 0) {
            msg_error("fleet: %s: storing its reports: %s; its deliveries wait", text, error);
            free(error);
        } else if (result == 1) {
            msg_info("fleet: %s: %d reports stored in the fleet's outbox", text, n);
        }
    }
}

/* Days this host leads now: built (once), their deliveries under the ledger. */
static int lead_days(struct fleet *fleet, struct cfg *cfg, struct sched_context *ctx,
                     time_t delay, int **led_r)
{
    int today = day_today(), retention = (int)(cfg_time(cfg, "counter_retention") / 86400);
    time_t now = time(NULL), deadline = (time_t)cfg_time(cfg, "fleet_push_deadline");
    int *days, n, n_led = 0;
    char *error, *missing, *previous, text[DAY_TEXT_SIZE];

    *led_r = NULL;
    if ((n = fleet_day_candidates(fleet, today - retention, today - 1, &days, &error)) < 0) {
        msg_error("%s", error);
        free(error);
        return 0;
    }
    *led_r = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        int day = days[i];
        time_t end = day_start(day + 1);
        if (now < end + delay)
            continue;
        day_format(day, text);
        int n_missing = fleet_day_missing(fleet, day, retention, &missing, &error);
        int lead = n_missing < 0 ? -1 : 0;
        if (n_missing == 0 || (n_missing > 0 && now >= end + deadline))
            lead = fleet_lead(fleet, day, (long)cfg_time(cfg, "fleet_lease"), &previous, &error);
        if (lead < 0) {
            msg_error("fleet: %s: %s", text, error);
            free(error);
        } else if (lead == 1) {
            if (previous)
                msg_warn("fleet: %s: taking over its reports from %s, whose lease expired", text,
                         previous);
            if (n_missing > 0)
                msg_warn("fleet: %s: reported without %s, which did not push it within "
                         "fleet_push_deadline", text, missing);
            outbox_day(fleet, cfg, ctx, day, text);
            (*led_r)[n_led++] = day;
            free(previous);
        }
        free(missing);
    }
    free(days);
    return n_led;
}

void fleet_ledger_use(struct cfg *cfg, struct sched_context *ctx, struct fleet *fleet)
{
    ledger = (struct ledger){cfg_str(cfg, "fleet_database"), fleet_host_id(fleet), fleet,
                             getpid()};
    sched_ledger = (struct sched_ledger){ledger_claim, ledger_record, &ledger};
    ctx->ledger = &sched_ledger;
}

/*
 * Every host of a fleet tags its report mail with the fleet's VERP key, so
 * that a bounce reaching any of them can be matched: the first host's key
 * becomes the fleet's (tlsrpt_meta), the others adopt it into their
 * $state_directory/verp.key.
 */
static void share_verp_key(struct cfg *cfg, struct fleet *fleet, struct sched_context *ctx)
{
    char *path = path_join(cfg_str(cfg, "state_directory"), "verp.key"), *error = NULL, *fleet_key;
    unsigned char key[DSN_VERP_KEY_SIZE];
    char hex[2 * DSN_VERP_KEY_SIZE + 2];

    if (dsn_verp_key_load(path, true, key, &error) == 0) {
        for (size_t i = 0; i < sizeof(key); i++)
            snprintf(hex + 2 * i, 3, "%02x", key[i]);
        OPENSSL_cleanse(key, sizeof(key));
        if (fleet_shared_value(fleet, "verp_key", hex, &fleet_key, &error) == 0) {
            if (strcmp(fleet_key, hex) != 0) {
                char *line = xasprintf("%s\n", fleet_key);
                if (file_write_atomic(path, line, strlen(line), 0600, &error) == 0) {
                    msg_info("%s: the fleet's VERP key adopted (report mail tagged before "
                             "with this host's own key is no longer matched)", path);
                    /* This run's deliveries tag with it already. */
                    if (ctx->delivery.ready)
                        dsn_verp_key_load(path, false, ctx->delivery.verp_key, &error);
                }
                OPENSSL_cleanse(line, strlen(line));
                free(line);
            }
            OPENSSL_cleanse(fleet_key, strlen(fleet_key));
            free(fleet_key);
        }
        OPENSSL_cleanse(hex, sizeof(hex));
    }
    if (error) {
        msg_error("fleet: VERP key: %s", error);
        free(error);
    }
    free(path);
}

/* A suppression the fleet holds, into this host's list (only when it differs). */
static void take_suppression(struct spool_suppression *record, void *context)
{
    const struct fleet_suppression *fs = context;

    if (fs->until > 0) {
        record->manual = true;
        record->until = fs->until;
    } else if (record->manual) { /* lifted by hand on some host */
        record->manual = false;
        record->until = 0;
        record->failures_in_a_row = 0;
    }
}

static void take_suppressions(struct cfg *cfg, struct fleet *fleet)
{
    char *path = path_join(cfg_str(cfg, "state_directory"), "suppressed"), *error = NULL;
    struct fleet_suppression *list;
    struct spool_suppressions local;
    size_t n;

    if (fleet_suppressions(fleet, &list, &n, &error) < 0) {
        list = NULL;
        n = 0;
    } else if (spool_suppressions_load(path, &local, &error) == 0) {
        for (size_t i = 0; i < n && error == NULL; i++) {
            const struct spool_suppression *have = spool_suppression_find(&local, list[i].uri, false);
            bool same = list[i].until > 0 ? have && have->manual && have->until == list[i].until
                                          : have == NULL || !have->manual;
            if (!same &&
                spool_suppression_update(path, list[i].uri, take_suppression, &list[i], &error) == 0)
                msg_info("%s: %s by hand on %s, for the whole fleet", list[i].uri,
                         list[i].until > 0 ? "suppressed" : "no longer suppressed",
                         list[i].set_by);
        }
        spool_suppressions_free(&local);
    }
    fleet_suppressions_free(list, n);
    if (error) {
        msg_error("fleet: suppressions: %s", error);
        free(error);
    }
    free(path);
}

/* Days past fleet_retention (and counter_retention) leave the database. */
static void expire_days(struct cfg *cfg, struct fleet *fleet)
{
    time_t keep = (time_t)cfg_time(cfg, "fleet_retention");
    char *error, text[DAY_TEXT_SIZE];

    if (keep < (time_t)cfg_time(cfg, "counter_retention"))
        keep = (time_t)cfg_time(cfg, "counter_retention");
    int before = day_today() - (int)(keep / 86400);
    int removed = fleet_expire(fleet, before, &error);
    day_format(before, text);
    if (removed < 0) {
        msg_error("fleet: removing days before %s: %s", text, error);
        free(error);
    } else if (removed > 0) {
        msg_info("fleet: the days before %s removed from the database (fleet_retention)", text);
    }
}

static struct fleet *worker_fleet;
static int *worker_days, worker_n_days;

void fleet_worker_begin(struct cfg *cfg, struct sched_context *ctx, time_t delay, bool quiet)
{
    char *error;
    struct fleet *fleet =
        fleet_connect(cfg_str(cfg, "fleet_database"), cfg_str(cfg, "fleet_host_id"), &error);

    if (fleet == NULL) {
        msg_error("%s; finished days are kept and pushed later", error);
        free(error);
        return;
    }
    share_verp_key(cfg, fleet, ctx);
    take_suppressions(cfg, fleet);
    expire_days(cfg, fleet);
    int pushed = fleet_push_due(fleet, ctx->counters_dir, time(NULL), delay);
    if (pushed > 0 || (!quiet && pushed == 0))
        printf("%d days pushed to the fleet database as %s\n", pushed, fleet_host_id(fleet));
    if (ctx->spool)
        worker_n_days = lead_days(fleet, cfg, ctx, delay, &worker_days);
    fleet_ledger_use(cfg, ctx, fleet);
    worker_fleet = fleet;
}

/* After the deliveries: a led day whose reports are all settled is done for the fleet. */
void fleet_worker_end(struct sched_context *ctx)
{
    struct spool_entry *entries;
    size_t n;
    char *error;

    if (worker_fleet == NULL)
        return;
    if (worker_n_days > 0 && spool_list(ctx->spool, &entries, &n, &error) == 0) {
        for (int i = 0; i < worker_n_days; i++) {
            bool open = false;
            for (size_t e = 0; e < n && !open; e++) {
                open = entries[e].day == worker_days[i] && entries[e].rua_pending;
                for (size_t k = 0; k < entries[e].n_destinations && entries[e].day == worker_days[i];
                     k++)
                    open |= entries[e].destinations[k].state == SPOOL_PENDING ||
                            entries[e].destinations[k].state == SPOOL_RETRYING;
            }
            if (!open && fleet_day_finish(worker_fleet, worker_days[i], &error) < 0) {
                msg_error("%s", error);
                free(error);
            }
        }
        spool_list_free(entries, n);
    }
    free(worker_days);
    ctx->ledger = NULL;
    fleet_close(worker_fleet);
    worker_fleet = NULL;
}

static int fleet_init_command(struct fleet *fleet)
{
    int from;
    char *error;

    if (fleet_init(fleet, &from, &error) < 0) {
        msg_error("%s", error);
        free(error);
        return 1;
    }
    if (from == FLEET_SCHEMA_VERSION)
        printf("fleet database: schema version %d, nothing to do\n", from);
    else if (from == 0)
        printf("fleet database: schema version %d created\n", FLEET_SCHEMA_VERSION);
    else
        printf("fleet database: schema migrated from version %d to %d\n", from,
               FLEET_SCHEMA_VERSION);
    return 0;
}

/* What a day of the status is at: waiting for hosts, building, delivering, done. */
static void day_state(const struct fleet_day *d, time_t now, time_t deadline, int window,
                      char *out, size_t size)
{
    time_t until = day_start(d->day + 1) + deadline;
    struct tm tm;
    char when[32];

    gmtime_r(&until, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
    if (d->done)
        snprintf(out, size, "done: %d reports, %llu of %llu destinations delivered, %llu failed",
                 d->stored_reports, (unsigned long long)d->delivered,
                 (unsigned long long)d->destinations, (unsigned long long)d->failed);
    else if (d->builder[0] && d->lease_until > now && d->stored_reports >= 0)
        snprintf(out, size,
                 "delivering %d reports: %llu of %llu destinations delivered, %llu failed; "
                 "lease for %lld s",
                 d->stored_reports, (unsigned long long)d->delivered,
                 (unsigned long long)d->destinations, (unsigned long long)d->failed,
                 (long long)(d->lease_until - now));
    else if (d->builder[0] && d->lease_until > now)
        snprintf(out, size, "building, lease for %lld s", (long long)(d->lease_until - now));
    else if (d->builder[0])
        snprintf(out, size, "lease expired: the next host takes over");
    else if (d->day < day_from_time(now) - window)
        snprintf(out, size, "older than counter_retention: not reported");
    else if (d->missing[0] && now < until)
        snprintf(out, size, "waiting for %s until %s (fleet_push_deadline)", d->missing, when);
    else if (d->missing[0])
        snprintf(out, size, "the next report worker builds it without %s", d->missing);
    else
        snprintf(out, size, "every host pushed it: the next report worker builds it");
}

static int fleet_status_command(struct fleet *fleet, struct cfg *cfg, bool json)
{
    struct fleet_status status;
    char *error;
    time_t now = time(NULL), deadline = (time_t)cfg_time(cfg, "fleet_push_deadline");
    int window = (int)(cfg_time(cfg, "counter_retention") / 86400);

    if (fleet_status(fleet, window, &status, &error) < 0) {
        msg_error("%s", error);
        free(error);
        return 1;
    }
    if (json) {
        json_object *top = json_object_new_object(), *hosts = json_object_new_array();
        json_object_object_add(top, "this-host", json_object_new_string(fleet_host_id(fleet)));
        json_object_object_add(top, "schema-version", json_object_new_int(status.schema_version));
        for (size_t i = 0; i < status.n_hosts; i++) {
            const struct fleet_host *h = &status.hosts[i];
            json_object *host = json_object_new_object();
            char day[DAY_TEXT_SIZE];
            day_format(h->last_day, day);
            json_object_object_add(host, "host-id", json_object_new_string(h->host_id));
            json_object_object_add(host, "last-day", json_object_new_string(day));
            json_object_object_add(host, "last-push", json_object_new_int64(h->last_push));
            json_object_object_add(host, "days-pushed", json_object_new_int64((int64_t)h->days));
            json_object_object_add(host, "sessions-last-day",
                                   json_object_new_int64((int64_t)h->sessions));
            json_object_object_add(host, "lag-days",
                                   json_object_new_int(day_from_time(now) - 1 - h->last_day));
            json_object_array_add(hosts, host);
        }
        json_object_object_add(top, "hosts", hosts);
        json_object *days = json_object_new_array();
        for (size_t i = 0; i < status.n_days; i++) {
            const struct fleet_day *d = &status.days[i];
            json_object *entry = json_object_new_object();
            char day[DAY_TEXT_SIZE];
            day_format(d->day, day);
            json_object_object_add(entry, "day", json_object_new_string(day));
            json_object_object_add(entry, "pushed-by", json_object_new_string(d->pushed));
            json_object_object_add(entry, "missing", json_object_new_string(d->missing));
            json_object_object_add(entry, "builder", json_object_new_string(d->builder));
            json_object_object_add(entry, "done", json_object_new_boolean(d->done));
            json_object_object_add(entry, "lease-until", json_object_new_int64(d->lease_until));
            json_object_object_add(entry, "stored-reports",
                                   d->stored_reports < 0 ? json_object_new_null()
                                                         : json_object_new_int(d->stored_reports));
            json_object_object_add(entry, "destinations",
                                   json_object_new_int64((int64_t)d->destinations));
            json_object_object_add(entry, "delivered", json_object_new_int64((int64_t)d->delivered));
            json_object_object_add(entry, "failed", json_object_new_int64((int64_t)d->failed));
            json_object_array_add(days, entry);
        }
        json_object_object_add(top, "days", days);
        json_print(top, stdout);
    } else if (status.schema_version == 0) {
        printf("fleet database: no schema yet (run tlsrpt fleet init)\n");
    } else {
        printf("fleet database: schema version %d, this host is %s\n", status.schema_version,
               fleet_host_id(fleet));
        struct table *table = table_create(5);
        table_row(table, "HOST", "LAST DAY", "PUSHED", "DAYS", "LAG");
        for (size_t i = 0; i < status.n_hosts; i++) {
            const struct fleet_host *h = &status.hosts[i];
            char day[DAY_TEXT_SIZE], when[32], days[24], lag[24];
            struct tm tm;
            day_format(h->last_day, day);
            gmtime_r(&h->last_push, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            snprintf(days, sizeof(days), "%llu", (unsigned long long)h->days);
            /* Yesterday is the latest day a host can have pushed: lag 0. */
            int behind = day_from_time(now) - 1 - h->last_day;
            snprintf(lag, sizeof(lag), "%d day%s", behind, behind == 1 ? "" : "s");
            table_row(table, h->host_id, day, when, days, lag);
        }
        table_print(table, stdout, "  ");
        table_free(table);
        if (status.n_hosts == 0)
            printf("  no host has pushed a day yet\n");
        if (status.n_days > 0) {
            struct table *days = table_create(4);
            table_row(days, "DAY", "PUSHED BY", "BUILDER", "STATE");
            for (size_t i = 0; i < status.n_days; i++) {
                const struct fleet_day *d = &status.days[i];
                char day[DAY_TEXT_SIZE], state[200];
                day_format(d->day, day);
                day_state(d, now, deadline, window, state, sizeof(state));
                table_row(days, day, d->pushed, d->builder[0] ? d->builder : "-", state);
            }
            printf("days:\n");
            table_print(days, stdout, "  ");
            table_free(days);
        }
    }
    fleet_status_free(&status);
    return 0;
}

/*
 * Every finished day not pushed yet, without waiting for report_delay; or
 * one day, again if it was pushed before (the database keeps one copy).
 */
static int push_command(struct fleet *fleet, const char *counters, int day)
{
    struct fleet_push_stats stats;
    char *error, text[DAY_TEXT_SIZE];

    if (day < 0) {
        int pushed = fleet_push_due(fleet, counters, time(NULL), 0);
        if (pushed >= 0)
            printf("%d days pushed as %s\n", pushed, fleet_host_id(fleet));
        return pushed < 0 ? 1 : 0;
    }
    day_format(day, text);
    if (day >= day_today())
        msg_fatal("--day: only finished days (before today, UTC) are pushed");
    if (fleet_push_day(fleet, counters, day, &stats, &error) < 0) {
        msg_error("fleet push of %s: %s", text, error);
        free(error);
        return 1;
    }
    printf("%s pushed as %s: %llu keys, %llu failure details, %llu sessions\n", text,
           fleet_host_id(fleet), (unsigned long long)stats.keys,
           (unsigned long long)stats.details, (unsigned long long)stats.sessions);
    return 0;
}

static int cmd_fleet(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"day", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int ch, status, day = -1;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'D':
            day = cli_parse_day(optarg);
            break;
        case 'j':
            json = true;
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(cli);
    const char *what = argv[optind];
    if (strcmp(what, "init") != 0 && strcmp(what, "status") != 0 && strcmp(what, "push") != 0)
        return cli_usage_error(cli);
    struct fleet *fleet = cli_fleet_connect(cli);
    if (strcmp(what, "init") == 0) {
        status = fleet_init_command(fleet);
    } else if (strcmp(what, "status") == 0) {
        status = fleet_status_command(fleet, cli_config(cli), json);
    } else {
        char *counters = cli_counters_dir(cli);
        cli_become_daemon_user(cli, counters);
        status = push_command(fleet, counters, day);
        free(counters);
    }
    fleet_close(fleet);
    return status;
}

const struct cli_command cli_command_fleet = {
    .name = "fleet",
    .run = cmd_fleet,
    .usage = "fleet init\nfleet status [--json]\nfleet push [--day D]",
    .summary = "the fleet database (fleet_database): create or migrate its schema, the hosts "
               "and their pushes, push this host's finished days now",
};
