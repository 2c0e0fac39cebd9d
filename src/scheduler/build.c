/*
 * build.c - building one day's reports: group the counter keys per
 * (policy domain, TLSRPT record), find where each group's report goes (the
 * record Postfix saw, else DNS), add DANE results to the MX host's own
 * record without sending any rua the same data twice, build, enqueue.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "counters.h"
#include "dns.h"
#include "report.h"
#include "scheduler.h"
#include "spool.h"
#include "util.h"

/* One report to be: a policy domain, a record and the keys it covers. */
struct group {
    char *domain;
    char *record;      /* as captured ("" unknown) or as found in DNS */
    const struct ctr_key **keys;
    size_t n_keys, keys_cap;
    bool dane_extra;   /* TLSA keys reported to the MX host's own record */
    bool rua_pending;
    struct dns_tlsrpt_record rua;
    bool have_rua;
};

struct groups {
    struct group *items;
    size_t n, cap;
};

static struct group *group_add(struct groups *groups, const char *domain, const char *record)
{
    if (groups->n == groups->cap) {
        groups->cap = groups->cap ? groups->cap * 2 : 64;
        groups->items = xreallocarray(groups->items, groups->cap, sizeof(struct group));
    }
    struct group *g = &groups->items[groups->n++];
    memset(g, 0, sizeof(*g));
    g->domain = xstrdup(domain);
    g->record = xstrdup(record);
    return g;
}

static void group_add_key(struct group *g, const struct ctr_key *key)
{
    if (g->n_keys == g->keys_cap) {
        g->keys_cap = g->keys_cap ? 2 * g->keys_cap : 4;
        g->keys = xreallocarray(g->keys, g->keys_cap, sizeof(*g->keys));
    }
    g->keys[g->n_keys++] = key;
}

static void groups_free(struct groups *groups)
{
    for (size_t i = 0; i < groups->n; i++) {
        free(groups->items[i].domain);
        free(groups->items[i].record);
        free(groups->items[i].keys);
        if (groups->items[i].have_rua)
            dns_tlsrpt_record_free(&groups->items[i].rua);
    }
    free(groups->items);
}

/* The snapshot is sorted by (domain, record): consecutive keys form a group. */
static void group_snapshot(const struct ctr_snapshot *snap, const char *filter,
                           struct groups *groups)
{
    struct group *current = NULL;

    for (size_t i = 0; i < snap->n_keys; i++) {
        const struct ctr_key *key = &snap->keys[i];
        if (filter && strcmp(filter, key->domain) != 0)
            continue;
        if (current == NULL || strcmp(current->domain, key->domain) != 0 ||
            strcmp(current->record, key->record) != 0)
            current = group_add(groups, key->domain, key->record);
        group_add_key(current, key);
    }
}

/* What DNS said of the group's domain (the answer is taken over). */
static void take_answer(struct group *g, struct dns_tlsrpt_answer *answer)
{
    if (answer->status == DNS_FOUND) {
        free(g->record);
        g->record = xstrdup(answer->record.text);
        g->rua = answer->record;
        memset(&answer->record, 0, sizeof(answer->record));
        g->have_rua = true;
    } else if (answer->status == DNS_TEMPFAIL) {
        msg_warn("report for %s: DNS lookup of %s failed for now (%s): the report is kept "
                 "and its destinations are looked up again later",
                 g->domain, answer->qname, answer->detail);
        g->rua_pending = true;
    } else {
        msg_info("report for %s: %s has no TLSRPT record (%s): no report", g->domain,
                 answer->qname, answer->detail);
    }
    dns_tlsrpt_answer_free(answer);
}

/*
 * Where the reports of groups[from..] go: the captured record, parsed, else
 * DNS, dns_concurrency lookups at a time (a day can have 65,536 domains).
 */
static void find_rua(struct sched_context *ctx, struct groups *groups, size_t from)
{
    const char **domains = xcalloc(groups->n - from + 1, sizeof(*domains));
    size_t *asking = xcalloc(groups->n - from + 1, sizeof(*asking));
    size_t n = 0;
    char *error;

    for (size_t i = from; i < groups->n; i++) {
        struct group *g = &groups->items[i];
        if (g->record[0] == '\0' && ctx->resolver == NULL) {
            g->rua_pending = true;
        } else if (g->record[0] == '\0') {
            domains[n] = g->domain;
            asking[n++] = i;
        } else if (dns_tlsrpt_parse(g->record, ctx->max_rua, &g->rua, &error) < 0) {
            msg_warn("report for %s: the TLSRPT record the MTA used is not valid (%s): "
                     "no report is sent for it",
                     g->domain, error);
            free(error);
        } else {
            g->have_rua = true;
        }
    }
    if (n > 0) {
        struct dns_tlsrpt_answer *answers = xcalloc(n, sizeof(*answers));
        dns_lookup_tlsrpt_many(ctx->resolver, domains, n, ctx->max_rua, ctx->dns_concurrency,
                               answers);
        for (size_t k = 0; k < n; k++)
            take_answer(&groups->items[asking[k]], &answers[k]);
        free(answers);
    }
    free(domains);
    free(asking);
}

static bool group_has_uri(const struct group *g, const char *uri)
{
    for (size_t i = 0; g->have_rua && i < g->rua.n_rua; i++)
        if (strcmp(g->rua.rua[i].uri, uri) == 0)
            return true;
    return false;
}

/* A name with where it was seen, sorted by name, then by that order. */
struct name_ref {
    const char *name;
    size_t order;                /* first seen first */
    const struct ctr_key *key;   /* the key it comes from */
};

static int compare_refs(const void *left, const void *right)
{
    const struct name_ref *a = left, *b = right;
    int cmp = strcmp(a->name, b->name);

    return cmp != 0 ? cmp : (a->order > b->order) - (a->order < b->order);
}

static int compare_ref_order(const void *left, const void *right)
{
    const struct name_ref *a = left, *b = right;

    return (a->order > b->order) - (a->order < b->order);
}

/* The first of refs[0..n) named name (refs sorted by name), or n. */
static size_t refs_find(const struct name_ref *refs, size_t n, const char *name)
{
    size_t low = 0, high = n;

    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (strcmp(refs[mid].name, name) < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return low < n && strcmp(refs[low].name, name) == 0 ? low : n;
}

static void add_ref(struct name_ref **refs, size_t *n, size_t *cap, struct name_ref ref)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *refs = xreallocarray(*refs, *cap, sizeof(**refs));
    }
    (*refs)[(*n)++] = ref;
}

/*
 * The MX hosts' own groups, in the order their first TLSA key comes, each
 * with its keys in order: sorted by name, not searched one by one (a day
 * can have tens of thousands of MX hosts).
 */
static void make_dane_groups(struct groups *groups, size_t original)
{
    struct name_ref *refs = NULL, *firsts;
    size_t n = 0, cap = 0, n_firsts = 0;

    for (size_t i = 0; i < original; i++) {
        for (size_t k = 0; k < groups->items[i].n_keys; k++) {
            const struct ctr_key *key = groups->items[i].keys[k];
            const char *mx = key->policy.domain;
            if (key->policy.type == TR_POLICY_TLSA && mx != NULL && strcmp(mx, key->domain) != 0)
                add_ref(&refs, &n, &cap, (struct name_ref){mx, n, key});
        }
    }
    if (n > 1)
        qsort(refs, n, sizeof(*refs), compare_refs);
    firsts = xcalloc(n + 1, sizeof(*firsts));
    for (size_t r = 0; r < n; r++)
        if (r == 0 || strcmp(refs[r - 1].name, refs[r].name) != 0)
            firsts[n_firsts++] = (struct name_ref){refs[r].name, refs[r].order, NULL};
    qsort(firsts, n_firsts, sizeof(*firsts), compare_ref_order);
    for (size_t f = 0; f < n_firsts; f++) {
        struct group *target = group_add(groups, firsts[f].name, "");
        target->dane_extra = true;
        for (size_t r = refs_find(refs, n, firsts[f].name);
             r < n && strcmp(refs[r].name, firsts[f].name) == 0; r++)
            group_add_key(target, refs[r].key);
    }
    free(firsts);
    free(refs);
}

/*
 * DANE results belong to the TLSA base domain (RFC 8460 §3, RFC 7672): a
 * TLSA key whose policy domain (the MX host) differs from its report's
 * domain is also reported to the MX host's own record, minus every rua
 * that already receives it through the recipient domain's report.
 */
static void add_dane_groups(struct sched_context *ctx, struct groups *groups)
{
    size_t original = groups->n, n = 0, cap = 0;
    struct name_ref *holders = NULL;

    make_dane_groups(groups, original);
    if (groups->n == original)
        return;
    find_rua(ctx, groups, original);
    /* Which recipient domains' groups hold keys of each policy domain (order: the group). */
    for (size_t i = 0; i < original; i++)
        for (size_t k = 0; k < groups->items[i].n_keys; k++)
            if (groups->items[i].keys[k]->policy.domain != NULL)
                add_ref(&holders, &n, &cap,
                        (struct name_ref){groups->items[i].keys[k]->policy.domain, i, NULL});
    if (n > 1)
        qsort(holders, n, sizeof(*holders), compare_refs);
    /* Drop the rua that already get these keys through the recipient domain's report. */
    for (size_t j = original; j < groups->n; j++) {
        struct group *extra = &groups->items[j];
        size_t first = refs_find(holders, n, extra->domain);
        for (size_t r = 0; extra->have_rua && r < extra->rua.n_rua;) {
            bool seen = false;
            for (size_t h = first; h < n && !seen && strcmp(holders[h].name, extra->domain) == 0;
                 h++)
                seen = group_has_uri(&groups->items[holders[h].order], extra->rua.rua[r].uri);
            if (!seen) {
                r++;
                continue;
            }
            free(extra->rua.rua[r].uri);
            free(extra->rua.rua[r].target);
            extra->rua.rua[r] = extra->rua.rua[--extra->rua.n_rua];
        }
        if (extra->have_rua && extra->rua.n_rua == 0) {
            dns_tlsrpt_record_free(&extra->rua);
            extra->have_rua = false; /* nothing new to send: no report */
        }
    }
    free(holders);
}

static time_t random_delay(time_t spread)
{
    uint64_t r = 0;

    if (spread <= 0)
        return 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint64_t)clock_ms();
    return (time_t)(r % (uint64_t)spread);
}

static uint64_t group_failures(const struct group *g)
{
    uint64_t failures = 0;

    for (size_t k = 0; k < g->n_keys; k++)
        failures += g->keys[k]->failure;
    return failures;
}

/*
 * Opens a day's table: NULL (and 0) when the day has none, -1 with
 * *error_r when it cannot be opened.
 */
static int day_open(const char *counters_dir, int day, struct ctr_table **table_r, char **error_r)
{
    char text[DAY_TEXT_SIZE];

    *table_r = NULL;
    day_format(day, text);
    char *name = xasprintf("%s/%s.ctr", counters_dir, text);
    bool exists = access(name, F_OK) == 0;
    free(name);
    if (!exists)
        return 0;
    *table_r = ctr_open(counters_dir, day, CTR_READ_ONLY, NULL, error_r);
    return *table_r != NULL ? 0 : -1;
}

/*
 * Snapshots a day; NULL snapshot (and 0) when the day has no table.
 * close_first: for a build, the day is closed first (later events are late).
 */
static int day_snapshot(const char *counters_dir, int day, bool close_first,
                        struct ctr_snapshot **snap, char **error_r)
{
    struct ctr_table *table;

    *snap = NULL;
    if (day_open(counters_dir, day, &table, error_r) < 0)
        return -1;
    if (table == NULL)
        return 0;
    if (close_first)
        ctr_set_closed(table);
    *snap = ctr_snapshot(table, NULL);
    ctr_close(table);
    return 0;
}

/* Marks a day reported (its reports are in the outbox): no snapshot needed for that. */
static int day_set_reported(const char *counters_dir, int day, char **error_r)
{
    struct ctr_table *table;

    if (day_open(counters_dir, day, &table, error_r) < 0)
        return -1;
    if (table != NULL) {
        ctr_set_reported(table);
        ctr_close(table);
    }
    return 0;
}

int sched_each_report(struct sched_context *ctx, int day, sched_report_fn *each, void *context,
                      char **error_r)
{
    struct ctr_snapshot *snap;
    struct groups groups = {0};
    int count = 0;

    if (day_snapshot(ctx->counters_dir, day, false, &snap, error_r) < 0)
        return -1;
    if (snap == NULL)
        return 0;
    group_snapshot(snap, ctx->domain_filter, &groups);
    for (size_t i = 0; i < groups.n; i++) {
        struct group *g = &groups.items[i];
        struct rpt_report report;
        if (!ctx->send_all_success_reports && group_failures(g) == 0)
            continue;
        if (rpt_build(&ctx->settings, day, g->domain, g->record, g->keys, g->n_keys, &report,
                      error_r) < 0) {
            count = -1;
            break;
        }
        each(&report, context);
        rpt_report_free(&report);
        count++;
    }
    groups_free(&groups);
    ctr_snapshot_free(snap);
    return count;
}

static void entry_from(const struct group *g, const struct rpt_report *report, time_t now,
                       time_t spread, struct spool_entry *entry)
{
    memset(entry, 0, sizeof(*entry));
    entry->unique_id = xstrdup(report->unique_id);
    entry->report_id = xstrdup(report->report_id);
    entry->policy_domain = xstrdup(report->policy_domain);
    entry->file_name = xstrdup(report->file_name);
    entry->record = xstrdup(g->record);
    entry->day = report->day;
    entry->created = now;
    entry->send_after = now + random_delay(spread);
    entry->successes = report->successes;
    entry->failures = report->failures;
    entry->rua_pending = g->rua_pending;
    for (size_t r = 0; g->have_rua && r < g->rua.n_rua; r++)
        spool_entry_add_destination(entry, g->rua.rua[r].uri);
}

static void print_planned(FILE *out, const struct spool_entry *entry)
{
    fprintf(out, "%s %s: %llu successful, %llu failed sessions ->", entry->report_id,
            entry->file_name, (unsigned long long)entry->successes,
            (unsigned long long)entry->failures);
    if (entry->rua_pending)
        fprintf(out, " (rua to be looked up again: DNS failed)");
    for (size_t i = 0; i < entry->n_destinations; i++)
        fprintf(out, " %s", entry->destinations[i].uri);
    fprintf(out, "\n");
}

int sched_build_day(struct sched_context *ctx, int day, FILE *out, char **error_r)
{
    struct ctr_snapshot *snap;
    struct groups groups = {0};
    struct spool_day *txn = NULL;
    time_t now = time(NULL);
    int count = 0;

    if (ctx->spool && spool_day_done(ctx->spool, day)) {
        /* Built before a crash that came before the table was marked: mark it now. */
        return day_set_reported(ctx->counters_dir, day, error_r) < 0 ? -1 : 0;
    }
    if (day_snapshot(ctx->counters_dir, day, ctx->spool != NULL, &snap, error_r) < 0)
        return -1;
    if (snap == NULL)
        return 0;
    group_snapshot(snap, ctx->domain_filter, &groups);
    find_rua(ctx, &groups, 0);
    add_dane_groups(ctx, &groups);
    if (ctx->spool && (txn = spool_day_begin(ctx->spool, day, error_r)) == NULL)
        count = -1;
    for (size_t i = 0; count >= 0 && i < groups.n; i++) {
        struct group *g = &groups.items[i];
        struct rpt_report report;
        struct spool_entry entry;
        if (!g->have_rua && !g->rua_pending)
            continue;
        if (!ctx->send_all_success_reports && group_failures(g) == 0)
            continue;
        if (rpt_build(&ctx->settings, day, g->domain, g->record, g->keys, g->n_keys, &report,
                      error_r) < 0) {
            count = -1;
            break;
        }
        entry_from(g, &report, now, ctx->report_spread, &entry);
        if (txn && spool_day_add(txn, &entry, report.json, report.json_len, error_r) < 0)
            count = -1;
        else if (txn == NULL)
            print_planned(out, &entry);
        else
            count++;
        spool_entry_free(&entry);
        rpt_report_free(&report);
    }
    groups_free(&groups);
    ctr_snapshot_free(snap);
    if (txn && count < 0) {
        spool_day_abort(txn);
        return -1;
    }
    if (txn) {
        if (spool_day_commit(txn, error_r) < 0)
            return -1;
        /* Only now, with the day's reports safely in the outbox. */
        if (day_set_reported(ctx->counters_dir, day, error_r) < 0)
            return -1;
        char text[DAY_TEXT_SIZE];
        day_format(day, text);
        msg_info("reports of %s: %d in the outbox", text, count);
    }
    return count;
}
