/*
 * deliver.c - one delivery pass over the outbox: for every due report and
 * every destination pending or due for a retry, make the payload (fitted
 * into max_report_size), send it (mail with DKIM, or HTTPS), and record the
 * outcome: delivered, retrying (backoff doubling from retry_initial, for at
 * most retry_window after the first attempt), or failed; repeated permanent
 * failures suppress a destination for suppress_time. The caller owns the
 * outbox (sched_own_outbox); each report is locked for its attempts, so a
 * report is never in two attempts at once and a crashed attempt is the only
 * one repeated.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "core.h"
#include "delivery.h"
#include "report.h"
#include "scheduler.h"
#include "sched_impl.h"
#include "spool.h"
#include "util.h"

#define TOP_FAILURES 5
#define RATE_DOMAINS 256

/* last_error while an attempt runs; seen by the report's next locker, its process is gone. */
static const char in_progress[] = "attempt in progress (interrupted if this stays)";
static const char interrupted[] = "attempt interrupted: the process making it died";

/* Set in a delivery child when its parent has died: stop after the attempt in flight. */
static volatile sig_atomic_t parent_gone;

/* What one report needs for all its destinations, made once. */
struct payload {
    bool ready;
    struct buf json, gzip;
    struct rpt_result_count top[TOP_FAILURES];
    int n_top;
};

/* Deliveries per destination domain in this pass, for destination_rate_limit. */
struct rate {
    char domain[256];
    int count;
};

static int payload_make(struct sched_context *ctx, struct spool_entry *entry, struct payload *p,
                        char **error_r)
{
    struct buf stored;
    size_t dropped;

    if (p->ready)
        return 0;
    buf_init(&stored);
    if (spool_read_report(ctx->spool, entry, &stored, error_r) < 0) {
        buf_free(&stored);
        return -1;
    }
    int result = rpt_fit(stored.data, stored.len, ctx->delivery.max_report_size, &p->json,
                         &p->gzip, &dropped, error_r);
    buf_free(&stored);
    if (result < 0)
        return -1;
    if (dropped > 0)
        msg_warn("report %s: %zu least frequent failure details dropped to fit "
                 "max_report_size (%zu bytes); the session totals are complete",
                 entry->report_id, dropped, ctx->delivery.max_report_size);
    char *error;
    p->n_top = rpt_top_failures(p->json.data, p->json.len, p->top, TOP_FAILURES, &error);
    if (p->n_top < 0) {
        free(error);
        p->n_top = 0;
    }
    p->ready = true;
    return 0;
}

/*
 * The Mailbox of a mailto: destination: the dns module stored it decoded
 * and without hfields, so it is used as it is (decoding again would turn a
 * literal "%41" into "A"). An outbox entry made by an older version may
 * still carry "?hfields": they are cut as they were then.
 */
static char *mailto_target(const char *uri)
{
    const char *address = uri + strlen("mailto:");

    if (tr_mailbox_ok(address))
        return xstrdup(address);
    return xstrndup(address, strcspn(address, "?"));
}

static void send_mail(struct sched_context *ctx, const struct spool_entry *entry,
                      const char *uri, struct payload *p, time_t now, struct dlv_result *result)
{
    struct sched_delivery *dl = &ctx->delivery;
    struct dlv_failure_count top[TOP_FAILURES];
    struct buf message, signed_message;
    char *error = NULL, *to = mailto_target(uri);
    char *submitter = rpt_submitter(ctx->settings.contact_info);

    if (dl->dkim_key == NULL) {
        /* RFC 8460 §3: report mail MUST be DKIM-signed; receivers drop it otherwise. */
        result->outcome = DLV_TEMPORARY;
        snprintf(result->error, sizeof(result->error),
                 "DKIM is not configured (dkim_key_file, dkim_selector): not sent");
        free(to);
        free(submitter);
        return;
    }
    for (int i = 0; i < p->n_top; i++)
        top[i] = (struct dlv_failure_count){p->top[i].result_type, p->top[i].count};
    struct dlv_message m = {
        .from = dl->from,
        .to = to,
        .submitter = submitter,
        .policy_domain = entry->policy_domain,
        .report_id = entry->report_id,
        .unique_id = entry->unique_id,
        .file_name = entry->file_name,
        .organization_name = ctx->settings.organization_name,
        .day = entry->day,
        .successes = entry->successes,
        .failures = entry->failures,
        .top_failures = top,
        .n_top_failures = (size_t)p->n_top,
        .gzip = p->gzip.data,
        .gzip_len = p->gzip.len,
        .date = now,
    };
    buf_init(&message);
    buf_init(&signed_message);
    if (dlv_message_build(&m, &message, &error) < 0 ||
        dlv_dkim_sign(dl->dkim_key, dl->dkim_domain, dl->dkim_selector, message.data,
                      message.len, now, &signed_message, &error) < 0) {
        result->outcome = DLV_REFUSED;
        snprintf(result->error, sizeof(result->error), "%s", error);
        free(error);
    } else {
        char verp_tag[DSN_VERP_TAG_MAX], *sender = NULL;
        if (dl->verp_delimiter[0]) {
            /* Checked to fit at start: only a bad outbox entry gets here with an error. */
            dsn_verp_tag(dl->verp_key, entry->unique_id, uri, verp_tag);
            if (dsn_verp_address(dl->envelope_sender, dl->verp_delimiter, verp_tag, &sender,
                                 &error) < 0) {
                msg_warn("report %s: %s: sent without a VERP tag", entry->report_id, error);
                free(error);
            }
        }
        dlv_smtp_send(&dl->smtp, sender ? sender : dl->envelope_sender, to, signed_message.data,
                      signed_message.len, result);
        free(sender);
    }
    buf_free(&message);
    buf_free(&signed_message);
    free(to);
    free(submitter);
}

/* Over the destination domain's limit for this pass? Counts the attempt if not. */
static bool rate_exceeded(struct rate *rates, size_t *n_rates, const char *uri, int limit)
{
    const char *at = strncmp(uri, "mailto:", 7) == 0 ? strrchr(uri, '@') : NULL;
    const char *host = at ? at + 1 : strstr(uri, "://") ? strstr(uri, "://") + 3 : uri;
    size_t len = strcspn(host, "/?:");

    for (size_t i = 0; i < *n_rates; i++) {
        if (strlen(rates[i].domain) == len && strncmp(rates[i].domain, host, len) == 0)
            return ++rates[i].count > limit;
    }
    if (*n_rates < RATE_DOMAINS && len < sizeof(rates[0].domain)) {
        memcpy(rates[*n_rates].domain, host, len);
        rates[*n_rates].domain[len] = '\0';
        rates[(*n_rates)++].count = 1;
    }
    return 1 > limit;
}

static void set_error(struct spool_destination *d, const char *text)
{
    free(d->last_error);
    d->last_error = text ? xstrdup(text) : NULL;
}

/* What a permanent failure or a success changes in the suppression list. */
struct suppression_change {
    bool failed;
    int suppress_after;
    time_t suppress_time;
    time_t now;
    bool suppressed; /* out: this change suppressed it */
};

static void change_suppression(struct spool_suppression *record, void *context)
{
    struct suppression_change *change = context;

    if (!change->failed) {
        record->failures_in_a_row = 0;
        return;
    }
    record->failures_in_a_row++;
    if (record->failures_in_a_row >= change->suppress_after && !record->manual &&
        record->until <= change->now) {
        record->until = change->now + change->suppress_time;
        change->suppressed = true;
        msg_warn("%s failed permanently %d times in a row: suppressed for %lld s", record->uri,
                 record->failures_in_a_row, (long long)change->suppress_time);
    }
}

bool sched_suppression_note(const char *suppress_path, const char *uri, bool failed,
                            int suppress_after, time_t suppress_time, time_t now)
{
    struct suppression_change change = {failed, suppress_after, suppress_time, now, false};
    char *error;

    if (spool_suppression_update(suppress_path, uri, change_suppression, &change, &error) < 0) {
        msg_error("%s", error);
        free(error);
    }
    return change.suppressed;
}

static void update_suppression(struct sched_context *ctx, const char *uri, bool failed,
                               time_t now)
{
    sched_suppression_note(ctx->delivery.suppress_path, uri, failed, ctx->delivery.suppress_after,
                           ctx->delivery.suppress_time, now);
}

static void record_outcome(struct sched_context *ctx, const struct spool_suppressions *known,
                           struct spool_destination *d, const struct dlv_result *result,
                           time_t now)
{
    struct sched_delivery *dl = &ctx->delivery;
    const struct spool_suppression *s =
        spool_suppression_find((struct spool_suppressions *)known, d->uri, false);

    switch (result->outcome) {
    case DLV_DELIVERED:
        d->state = SPOOL_DELIVERED;
        d->next_try = 0;
        set_error(d, NULL);
        free(d->dsn_action); /* a bounce of an earlier attempt is past */
        free(d->dsn_detail);
        d->dsn_action = d->dsn_detail = NULL;
        d->dsn_time = 0;
        /*
         * The list is written only when there is something to forget. Mail with
         * a VERP tag is only accepted by the relay: a bounce may still come, so
         * it forgets nothing (a DSN saying "delivered" does).
         */
        if (s && s->failures_in_a_row > 0 &&
            !(dl->verp_delimiter[0] && strncmp(d->uri, "mailto:", 7) == 0))
            update_suppression(ctx, d->uri, false, now);
        return;
    case DLV_TEMPORARY: {
        set_error(d, result->error);
        if (now - d->first_try >= dl->retry_window) {
            d->state = SPOOL_FAILED;
            d->next_try = 0;
            return;
        }
        /* retry_initial, then twice as long each time, never past the window. */
        time_t wait = dl->retry_initial;
        for (int i = 1; i < d->attempts && wait < dl->retry_window; i++)
            wait *= 2;
        d->state = SPOOL_RETRYING;
        d->next_try = now + (wait < dl->retry_window ? wait : dl->retry_window);
        if (d->next_try > d->first_try + dl->retry_window)
            d->next_try = d->first_try + dl->retry_window;
        return;
    }
    case DLV_PERMANENT:
        update_suppression(ctx, d->uri, true, now);
        d->state = SPOOL_FAILED;
        d->next_try = 0;
        set_error(d, result->error);
        return;
    case DLV_REFUSED: {
        /* The outcome is not in the error text: said once here, once in the log line. */
        char *text = xasprintf("refused: %s", result->error);
        d->state = SPOOL_FAILED;
        d->next_try = 0;
        set_error(d, text);
        free(text);
        return;
    }
    }
}

/* Delivers the due destinations of one report; returns the attempts made. */
static int deliver_entry(struct sched_context *ctx, const struct spool_suppressions *known,
                         struct spool_entry *entry, struct rate *rates, size_t *n_rates,
                         int rate_limit, time_t now)
{
    struct payload payload = {0};
    char *error;
    int attempts = 0;

    for (size_t k = 0; k < entry->n_destinations; k++) {
        struct spool_destination *d = &entry->destinations[k];
        struct dlv_result result = {DLV_TEMPORARY, 0, ""};
        if (parent_gone)
            break; /* a child whose parent died makes no new attempt */
        if ((d->state != SPOOL_PENDING && d->state != SPOOL_RETRYING) || d->next_try > now)
            continue;
        if (spool_suppressed(known, d->uri, now)) {
            d->state = SPOOL_FAILED;
            set_error(d, "destination suppressed");
        } else if (rate_exceeded(rates, n_rates, d->uri, rate_limit)) {
            continue; /* the next pass, a minute later */
        } else if (payload_make(ctx, entry, &payload, &error) < 0) {
            d->state = SPOOL_FAILED;
            set_error(d, error);
            free(error);
        } else {
            /* Written first: a crash now repeats this attempt, never loses it. */
            d->attempts++;
            if (d->first_try == 0)
                d->first_try = now;
            d->next_try = now + ctx->delivery.retry_initial;
            set_error(d, in_progress);
            if (spool_update(ctx->spool, entry, &error) < 0) {
                msg_error("outbox: %s", error);
                free(error);
                continue;
            }
            if (strncmp(d->uri, "mailto:", 7) == 0)
                send_mail(ctx, entry, d->uri, &payload, now, &result);
            else
                dlv_https_post(&ctx->delivery.https, d->uri, payload.gzip.data,
                               payload.gzip.len, &result);
            attempts++;
            record_outcome(ctx, known, d, &result, now);
            msg_info("report %s to %s: %s%s%s", entry->report_id, d->uri,
                     dlv_outcome_name(result.outcome), result.error[0] ? ": " : "",
                     result.error);
        }
        if (spool_update(ctx->spool, entry, &error) < 0) {
            msg_error("outbox: %s", error);
            free(error);
        }
    }
    buf_free(&payload.json);
    buf_free(&payload.gzip);
    return attempts;
}

/* A destination whose attempt was cut short by its process's death. */
static bool entry_interrupted(const struct spool_entry *entry)
{
    for (size_t k = 0; k < entry->n_destinations; k++)
        if (entry->destinations[k].last_error &&
            strcmp(entry->destinations[k].last_error, in_progress) == 0)
            return true;
    return false;
}

static bool entry_due(const struct spool_entry *entry, time_t now)
{
    if (entry->send_after > now || entry->rua_pending)
        return false;
    for (size_t k = 0; k < entry->n_destinations; k++)
        if ((entry->destinations[k].state == SPOOL_PENDING ||
             entry->destinations[k].state == SPOOL_RETRYING) &&
            entry->destinations[k].next_try <= now)
            return true;
    return false;
}

/*
 * One report under its lock: its state read again (another process may have
 * delivered it since the listing), an interrupted attempt noted, then the
 * due destinations delivered. A report locked elsewhere is skipped.
 */
static int deliver_locked(struct sched_context *ctx, const struct spool_suppressions *known,
                          struct spool_entry *entry, struct rate *rates, size_t *n_rates,
                          int rate_limit, time_t now)
{
    bool busy;
    char *error;
    int attempts = 0;
    int lock = spool_lock_entry(ctx->spool, entry, false, &busy, &error);

    if (lock < 0) {
        if (busy)
            msg_info("report %s: locked by another process: left to it", entry->report_id);
        else
            msg_warn("outbox: %s", error);
        free(error);
        return 0;
    }
    if (entry_interrupted(entry)) {
        /* Locked by us, so the process that wrote "in progress" is gone. */
        for (size_t k = 0; k < entry->n_destinations; k++) {
            struct spool_destination *d = &entry->destinations[k];
            if (d->last_error && strcmp(d->last_error, in_progress) == 0) {
                msg_warn("report %s to %s: %s; tried again when due", entry->report_id,
                         d->uri, interrupted);
                set_error(d, interrupted);
            }
        }
        if (spool_update(ctx->spool, entry, &error) < 0) {
            msg_error("outbox: %s", error);
            free(error);
        }
    }
    if (entry_due(entry, now))
        attempts = deliver_entry(ctx, known, entry, rates, n_rates, rate_limit, now);
    close(lock);
    return attempts;
}

/* Due, or holding a mark of an attempt whose process may be gone. */
static bool entry_wanted(const struct spool_entry *entry, time_t now)
{
    return entry_due(entry, now) || entry_interrupted(entry);
}

/*
 * One share of the wanted reports: the k-th of every `share` of them. A
 * child whose parent dies stops after its attempt in flight (it holds the
 * outbox and report locks until then, so nobody repeats that attempt).
 */
static int deliver_share(struct sched_context *ctx, const struct spool_suppressions *known,
                         struct spool_entry *entries, size_t n, int k, int share, time_t now)
{
    struct rate rates[RATE_DOMAINS];
    size_t n_rates = 0, wanted = 0;
    int attempts = 0;
    int rate_limit = ctx->delivery.rate_limit / share > 0 ? ctx->delivery.rate_limit / share : 1;

    for (size_t i = 0; i < n && !parent_gone; i++) {
        if (!entry_wanted(&entries[i], now))
            continue;
        if ((int)(wanted++ % (size_t)share) == k)
            attempts +=
                deliver_locked(ctx, known, &entries[i], rates, &n_rates, rate_limit, now);
    }
    if (parent_gone)
        msg_warn("delivery share %d: the delivering parent died: stopped after the attempt in "
                 "flight, the rest is left to the next pass",
                 k);
    return attempts;
}

static void note_parent_death(int signo)
{
    (void)signo;
    parent_gone = 1;
}

/* In a delivery child: the parent's death (SIGTERM here) ends the share after the attempt. */
static void watch_parent(pid_t parent)
{
    struct sigaction action = {.sa_handler = note_parent_death, .sa_flags = SA_RESTART};

    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    signal(SIGPIPE, SIG_IGN); /* the count for a dead parent is simply lost */
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    if (getppid() != parent)
        parent_gone = 1;
}

int sched_deliver(struct sched_context *ctx, time_t now)
{
    struct spool_suppressions known;
    struct spool_entry *entries;
    size_t n, due = 0;
    char *error;
    int attempts = 0;

    if (!ctx->delivery.ready)
        return 0;
    if (spool_list(ctx->spool, &entries, &n, &error) < 0) {
        msg_error("delivery: %s", error);
        free(error);
        return 0;
    }
    if (spool_suppressions_load(ctx->delivery.suppress_path, &known, &error) < 0) {
        msg_error("delivery: %s", error);
        free(error);
        spool_list_free(entries, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        due += entry_wanted(&entries[i], now);
    int workers = ctx->delivery.concurrency < (int)due ? ctx->delivery.concurrency : (int)due;
    if (workers <= 1) {
        attempts = deliver_share(ctx, &known, entries, n, 0, 1, now);
    } else {
        /* delivery_concurrency processes, each with its share; counts come back by pipe. */
        int counts[2];
        if (pipe(counts) < 0)
            msg_fatal("pipe: %s", strerror(errno));
        fflush(NULL);
        int started = 0;
        pid_t parent = getpid();
        for (int k = 0; k < workers; k++) {
            pid_t pid = fork();
            if (pid == 0) {
                watch_parent(parent);
                close(counts[0]);
                int made = deliver_share(ctx, &known, entries, n, k, workers, now);
                if (write(counts[1], &made, sizeof(made)) != sizeof(made))
                    _exit(1);
                _exit(0);
            }
            if (pid < 0)
                msg_error("fork: %s: delivery share %d waits for the next pass", strerror(errno), k);
            else
                started++;
        }
        close(counts[1]);
        int made;
        while (read(counts[0], &made, sizeof(made)) == sizeof(made))
            attempts += made;
        close(counts[0]);
        for (int k = 0; k < started; k++)
            wait(NULL);
    }
    spool_suppressions_free(&known);
    spool_list_free(entries, n);
    return attempts;
}
