/*
 * cmd_queue.c - `tlsrpt queue`: the outbox, one line per report and
 * destination for people (state, attempts, next try, last error), or a JSON
 * array for scripts with one object per report; `queue flush` delivers
 * everything due or waiting now (through the daemon when it runs: it owns
 * the outbox), `queue retry ID` gives failed destinations of a report a new
 * retry window, `queue delete ID` drops a report.
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ctl.h"
#include "fleet.h"
#include "scheduler.h"
#include "spool.h"

static json_object *json_time(time_t t)
{
    char text[32];
    struct tm tm;

    if (t <= 0)
        return json_object_new_null();
    gmtime_r(&t, &tm);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_object_new_string(text);
}

static void time_text(time_t t, char *out, size_t size)
{
    struct tm tm;

    if (t <= 0) {
        snprintf(out, size, "-");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%d %H:%M", &tm);
}

/*
 * What people are told of a destination: mail the relay took is "accepted
 * by relay" until a bounce (DSN) says more: "bounced", "delayed", or what
 * else it said; with a delivery_directory nothing is mailed from here.
 */
static const char *destination_status(const struct spool_destination *d, bool relayed)
{
    if (d->dsn_action && strcmp(d->dsn_action, "failed") == 0)
        return "bounced";
    if (d->state != SPOOL_DELIVERED)
        return spool_state_name(d->state);
    if (d->dsn_action)
        return d->dsn_action;
    return relayed && strncmp(d->uri, "mailto:", 7) == 0 ? "accepted by relay" : "delivered";
}

/* The last column: the bounce's or delay's remote reason, else the last error. */
static char *destination_detail(const struct spool_destination *d)
{
    if (d->dsn_action && strcmp(d->dsn_action, "failed") != 0)
        return xasprintf("%s: %s", d->dsn_action, d->dsn_detail ? d->dsn_detail : "");
    return xstrdup(d->last_error ? d->last_error : "");
}

static json_object *dsn_json(const struct spool_destination *d)
{
    if (d->dsn_action == NULL)
        return json_object_new_null();
    json_object *o = json_object_new_object();
    json_object_object_add(o, "action", json_object_new_string(d->dsn_action));
    json_object_object_add(o, "detail", json_object_new_string(d->dsn_detail ? d->dsn_detail : ""));
    json_object_object_add(o, "received", json_time(d->dsn_time));
    return o;
}

static json_object *entry_json(const struct spool_entry *e,
                               const struct spool_suppressions *suppressed, bool relayed,
                               time_t now)
{
    json_object *o = json_object_new_object(), *dests = json_object_new_array();
    char day[DAY_TEXT_SIZE];

    day_format(e->day, day);
    json_object_object_add(o, "report_id", json_object_new_string(e->report_id));
    json_object_object_add(o, "policy_domain", json_object_new_string(e->policy_domain));
    json_object_object_add(o, "day", json_object_new_string(day));
    json_object_object_add(o, "file", json_object_new_string(e->file_name));
    json_object_object_add(o, "send_after", json_time(e->send_after));
    json_object_object_add(o, "successful_sessions", json_object_new_int64((int64_t)e->successes));
    json_object_object_add(o, "failed_sessions", json_object_new_int64((int64_t)e->failures));
    json_object_object_add(o, "rua_pending", json_object_new_boolean(e->rua_pending));
    for (size_t i = 0; i < e->n_destinations; i++) {
        const struct spool_destination *d = &e->destinations[i];
        json_object *dj = json_object_new_object();
        json_object_object_add(dj, "uri", json_object_new_string(d->uri));
        json_object_object_add(dj, "state", json_object_new_string(spool_state_name(d->state)));
        json_object_object_add(dj, "status",
                               json_object_new_string(destination_status(d, relayed)));
        json_object_object_add(dj, "dsn", dsn_json(d));
        json_object_object_add(dj, "attempts", json_object_new_int(d->attempts));
        json_object_object_add(dj, "last_error", d->last_error
                                                     ? json_object_new_string(d->last_error)
                                                     : json_object_new_null());
        json_object_object_add(dj, "next_try", json_time(d->next_try));
        const struct spool_suppression *s =
            spool_suppression_find((struct spool_suppressions *)suppressed, d->uri, false);
        json_object_object_add(dj, "suppressed_until",
                               s && s->until > now ? json_time(s->until) : json_object_new_null());
        json_object_array_add(dests, dj);
    }
    json_object_object_add(o, "destinations", dests);
    return o;
}

/* A report named by its report-id or the unique id in its file name. */
static bool entry_named(const struct spool_entry *e, const char *id)
{
    return strcmp(e->report_id, id) == 0 || strcmp(e->unique_id, id) == 0;
}

/*
 * Deliver what waits now, as postqueue -f asks Postfix's qmgr: when tlsrptd
 * runs it owns the outbox and its worker delivers; without it, or with -o
 * settings the worker would not see, this process becomes the owner
 * (waiting for one still at work) and delivers itself.
 */
static void deliver_now(struct cli *cli, struct sched_context *ctx, time_t now)
{
    const char *directory = cfg_str(cli_config(cli), "delivery_directory");
    struct ctl_response response;
    char *error;

    if (cli->n_overrides > 0) {
        msg_info("-o given: delivering here rather than through tlsrptd");
    } else if (ctl_call(cfg_str(cli_config(cli), "control_socket"), "flush", 5000, &response,
                        &error) == 0) {
        const char *worker = ctl_response_get(&response, "worker");
        bool asked = response.ok && worker != NULL;
        if (asked)
            printf("flush requested: tlsrptd's report worker %s\n",
                   strcmp(worker, "started") == 0 ? "delivers now"
                                                  : "delivers again when the running one ends");
        else
            msg_warn("tlsrptd did not take the flush request (%s): delivering here",
                     response.ok ? "no worker in the reply" : response.error);
        ctl_response_free(&response);
        if (asked)
            return;
    } else {
        free(error); /* no daemon: this process delivers */
    }
    int owner = sched_own_outbox(ctx, &error);
    if (owner < 0)
        msg_fatal("%s", error);
    /* In a fleet, as in the worker: no attempt the ledger does not grant. */
    struct fleet *fleet = NULL;
    if (cfg_str(cli_config(cli), "fleet_database")[0] != '\0') {
        fleet = cli_fleet_connect(cli);
        fleet_ledger_use(cli_config(cli), ctx, fleet);
    }
    int done = directory[0] ? sched_deliver_to_directory(ctx->spool, directory, now)
                            : sched_deliver(ctx, now);
    ctx->ledger = NULL;
    fleet_close(fleet);
    close(owner);
    printf("%d %s\n", done, directory[0] ? "reports written" : "delivery attempts made");
}

/*
 * retry and flush: what waits becomes due now; retry also gives failures a
 * new window. Returns whether anything changes; with `apply` false only
 * says so (a report with nothing to change is neither locked nor written).
 */
static bool make_due(struct spool_entry *e, bool retry, time_t now, bool apply)
{
    bool changed = false;

    for (size_t d = 0; d < e->n_destinations; d++) {
        struct spool_destination *dest = &e->destinations[d];
        bool renew = retry && dest->state == SPOOL_FAILED;
        bool waiting = renew || dest->state == SPOOL_PENDING || dest->state == SPOOL_RETRYING;
        changed |= renew || (waiting && dest->next_try != 0);
        if (apply && renew) {
            /* A new retry window, as if never tried. */
            dest->state = SPOOL_PENDING;
            dest->first_try = 0;
        }
        if (apply && waiting)
            dest->next_try = 0;
    }
    changed |= e->send_after > now;
    if (apply && e->send_after > now)
        e->send_after = now;
    return changed;
}

/* In a fleet, a failed destination retried here is retried in the ledger too. */
static void fleet_renew(struct cli *cli, struct fleet **fleet, const struct spool_entry *e)
{
    char *error;

    if (cfg_str(cli_config(cli), "fleet_database")[0] == '\0')
        return;
    for (size_t d = 0; d < e->n_destinations; d++) {
        if (e->destinations[d].state != SPOOL_FAILED)
            continue;
        if (*fleet == NULL)
            *fleet = cli_fleet_connect(cli);
        if (fleet_retry(*fleet, e->report_id, e->destinations[d].uri,
                        (long)cfg_time(cli_config(cli), "fleet_lease"), &error) < 0)
            msg_fatal("%s", error);
    }
}

/*
 * flush, retry ID, delete ID: change the outbox as the daemon's user, each
 * report under its lock and from its state read under it (a delivery may
 * have changed it since the listing), then deliver.
 */
static int queue_action(struct cli *cli, const char *action, const char *id)
{
    struct sched_context ctx;
    struct spool_entry *entries;
    size_t n;
    char *error;
    int matched = 0, status = 0;
    struct fleet *fleet = NULL;
    bool delete = strcmp(action, "delete") == 0, retry = strcmp(action, "retry") == 0;
    time_t now = time(NULL);

    char *counters = cli_counters_dir(cli);
    cli_become_daemon_user(cli, counters);
    free(counters);
    if (sched_context_init(&ctx, cli_config(cli), true, true, &error) < 0 ||
        spool_list(ctx.spool, &entries, &n, &error) < 0)
        msg_fatal("%s", error);
    for (size_t i = 0; i < n; i++) {
        struct spool_entry *e = &entries[i];
        bool busy;
        if (id && !entry_named(e, id))
            continue;
        matched++;
        if (!delete && !make_due(e, retry, now, false))
            continue;
        int lock = spool_lock_entry(ctx.spool, e, true, &busy, &error);
        if (lock < 0) {
            msg_error("%s", error);
            free(error);
            status = 1;
            continue;
        }
        if (delete) {
            if (spool_delete(ctx.spool, e, &error) < 0)
                msg_fatal("%s", error);
            printf("%s: deleted\n", e->report_id);
        } else {
            if (retry)
                fleet_renew(cli, &fleet, e);
            if (make_due(e, retry, now, true) && spool_update(ctx.spool, e, &error) < 0)
                msg_fatal("%s", error);
        }
        close(lock);
    }
    spool_list_free(entries, n);
    fleet_close(fleet);
    if (id && matched == 0) {
        msg_error("no report %s in the outbox", id);
        status = 1;
    } else if (!delete) {
        deliver_now(cli, &ctx, now);
    }
    sched_context_free(&ctx);
    return status;
}

/* ---- The listing ---- */

struct queue_view {
    struct table *table;  /* for people, or */
    json_object *array;   /* for scripts */
    struct spool_suppressions suppressed;
    bool relayed, fleet;
    time_t now;
    size_t n_reports;
};

/* A table row; HOST only in the fleet's view. */
static void view_row(struct queue_view *v, const char *day, const char *domain,
                     const char *send_after, const char *destination, const char *state,
                     const char *host, const char *tries, const char *next, const char *detail)
{
    if (v->table == NULL)
        return;
    if (v->fleet)
        table_row(v->table, day, domain, send_after, destination, state, host, tries, next,
                  detail);
    else
        table_row(v->table, day, domain, send_after, destination, state, tries, next, detail);
}

static void view_add(struct queue_view *v, const struct spool_entry *e, const char *const *hosts)
{
    char day[DAY_TEXT_SIZE], send_after[32], next[32], tries[16];

    v->n_reports++;
    if (v->array) {
        json_object *o = entry_json(e, &v->suppressed, v->relayed, v->now);
        json_object *dests = json_object_object_get(o, "destinations");
        for (size_t d = 0; hosts && d < e->n_destinations; d++)
            json_object_object_add(json_object_array_get_idx(dests, d), "host",
                                   json_object_new_string(hosts[d]));
        json_object_array_add(v->array, o);
        return;
    }
    day_format(e->day, day);
    time_text(e->send_after, send_after, sizeof(send_after));
    if (e->n_destinations == 0)
        view_row(v, day, e->policy_domain, send_after,
                 e->rua_pending ? "(DNS failed: looked up again later)" : "(none)", "-", "-", "-",
                 "-", "-");
    for (size_t d = 0; d < e->n_destinations; d++) {
        const struct spool_destination *dest = &e->destinations[d];
        snprintf(tries, sizeof(tries), "%d", dest->attempts);
        time_text(dest->next_try, next, sizeof(next));
        bool held = spool_suppressed(&v->suppressed, dest->uri, v->now) &&
                    (dest->state == SPOOL_PENDING || dest->state == SPOOL_RETRYING);
        char *detail = destination_detail(dest);
        view_row(v, d == 0 ? day : "", d == 0 ? e->policy_domain : "", d == 0 ? send_after : "",
                 dest->uri, held ? "suppressed" : destination_status(dest, v->relayed),
                 hosts ? hosts[d] : "", tries, next, detail);
        free(detail);
    }
}

/* This host's outbox. */
static void local_view(struct cli *cli, struct queue_view *v)
{
    char *outbox = path_join(cfg_str(cli_config(cli), "state_directory"), "outbox"), *error;
    struct spool *spool = spool_open(outbox, &error);
    struct spool_entry *entries;
    size_t n;

    if (spool == NULL || spool_list(spool, &entries, &n, &error) < 0)
        msg_fatal("%s", error);
    for (size_t i = 0; i < n; i++)
        view_add(v, &entries[i], NULL);
    spool_list_free(entries, n);
    spool_close(spool);
    free(outbox);
}

static void fleet_view_add(const struct spool_entry *entry, const char *const *hosts,
                           void *context)
{
    view_add(context, entry, hosts);
}

/* The fleet's outbox: the reports of the counter_retention window, from the database. */
static void fleet_view(struct cli *cli, struct queue_view *v)
{
    struct fleet *fleet = cli_fleet_connect(cli);
    int today = day_today(), retention = (int)(cfg_time(cli_config(cli), "counter_retention") / 86400);
    char *error;

    if (fleet_outbox_each(fleet, today - retention, today, fleet_view_add, v, &error) < 0)
        msg_fatal("%s", error);
    fleet_close(fleet);
}

int cmd_queue(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"fleet", no_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, fleet = false;
    int ch;
    char *error;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'F':
            fleet = true;
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    if (optind < argc && fleet)
        return cli_usage_error(cli);
    if (optind < argc) {
        const char *action = argv[optind];
        bool needs_id = strcmp(action, "retry") == 0 || strcmp(action, "delete") == 0;
        if ((strcmp(action, "flush") != 0 && !needs_id) || argc - optind != (needs_id ? 2 : 1)) {
            return cli_usage_error(cli);
        }
        return queue_action(cli, action, needs_id ? argv[optind + 1] : NULL);
    }
    char *suppress_path = path_join(cfg_str(cli_config(cli), "state_directory"), "suppressed");
    struct queue_view view = {
        .now = time(NULL),
        .relayed = cfg_str(cli_config(cli), "delivery_directory")[0] == '\0',
        .fleet = fleet,
    };
    if (spool_suppressions_load(suppress_path, &view.suppressed, &error) < 0)
        msg_fatal("%s", error);
    if (json)
        view.array = json_object_new_array();
    else
        view.table = table_create(fleet ? 9 : 8);
    view_row(&view, "DAY", "POLICY DOMAIN", "SEND AFTER", "DESTINATION", "STATE", "HOST", "TRIES",
             "NEXT TRY", "LAST ERROR");
    if (fleet)
        fleet_view(cli, &view);
    else
        local_view(cli, &view);
    if (json) {
        json_print(view.array, stdout);
    } else if (view.n_reports == 0) {
        printf(fleet ? "the fleet's outbox is empty\n" : "the outbox is empty\n");
    } else {
        table_print(view.table, stdout, "");
    }
    table_free(view.table);
    spool_suppressions_free(&view.suppressed);
    free(suppress_path);
    return 0;
}

const struct cli_command cli_command_queue = {
    .name = "queue",
    .run = cmd_queue,
    .usage = "queue [--json] [--fleet] | flush | retry ID | delete ID",
    .summary = "the outbox and what to do with it",
    .broken_config_ok = true,
};
