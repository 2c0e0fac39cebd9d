/*
 * follow.c - the log follower: reads its sources in rounds, counts each
 * session under the follower's own counters and commits every round
 * exactly once: the checkpoint (read positions, parser states and the
 * absolute values of the changed counters) is written atomically first,
 * then the counters are stored. After a kill -9 the checkpoint is stored
 * again and reading resumes where it says, so no session is lost or
 * counted twice. A round that cannot be committed is rolled back.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "follow_impl.h"

#define CHECKPOINT_NAME "checkpoint"
#define IDLE_WAIT_MS 200

/* ---- sources ---- */

void lf_sources_free(struct lf_source_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(specs[i].path);
        free(specs[i].text);
    }
    free(specs);
}

static int parse_spec(const char *text, struct lf_source_spec *spec, char **error_r)
{
    const char *colon = strchr(text, ':'), *kind, *rest;
    char *format = colon ? xstrndup(text, (size_t)(colon - text)) : xstrdup(text);
    int r;

    *spec = (struct lf_source_spec){0};
    r = lf_format_from_name(format, &spec->format);
    free(format);
    if (r < 0 || colon == NULL) {
        *error_r = xasprintf("log source \"%s\": start with postfix: or sendmail:", text);
        return -1;
    }
    kind = colon + 1;
    rest = strchr(kind, ':');
    if (strncmp(kind, "file:", 5) == 0 && rest[1] == '/') {
        spec->path = xstrdup(rest + 1);
    } else if (strcmp(kind, "journal") == 0) {
        spec->journal = true;
    } else if (strncmp(kind, "journal:", 8) == 0 && rest[1] == '/') {
        spec->journal = true;
        spec->path = xstrdup(rest + 1);
    } else {
        *error_r = xasprintf("log source \"%s\": use FORMAT:file:/absolute/path, FORMAT:journal "
                             "or FORMAT:journal:/journal/directory",
                             text);
        return -1;
    }
    spec->text = xstrdup(text);
    return 0;
}

int lf_sources_parse(const char *value, struct lf_source_spec **specs_r, size_t *n_r,
                     char **error_r)
{
    struct lf_source_spec *specs = NULL;
    const char *at = value;
    size_t n = 0;

    while (*at != '\0') {
        size_t len;
        char *text;

        at += strspn(at, ", \t\n");
        if ((len = strcspn(at, ", \t\n")) == 0)
            break;
        if (n == LF_MAX_SOURCES) {
            *error_r = xasprintf("more than %d log sources", LF_MAX_SOURCES);
            lf_sources_free(specs, n);
            return -1;
        }
        text = xstrndup(at, len);
        at += len;
        specs = xreallocarray(specs, n + 1, sizeof(*specs));
        if (parse_spec(text, &specs[n], error_r) < 0) {
            free(text);
            lf_sources_free(specs, n);
            return -1;
        }
        free(text);
        for (size_t i = 0; i < n; i++)
            if (strcmp(specs[i].text, specs[n].text) == 0) {
                *error_r = xasprintf("log source \"%s\" is listed twice", specs[n].text);
                lf_sources_free(specs, n + 1);
                return -1;
            }
        n++;
    }
    *specs_r = specs;
    *n_r = n;
    return 0;
}

void lf_source_state(struct lf_source *source, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(source->state, sizeof(source->state), fmt, ap);
    va_end(ap);
}

/* ---- the batch: counters changed since the last commit ---- */

static uint64_t cell_hash(int day, struct ctr_cell cell)
{
    uint64_t key[2] = {(uint64_t)(uint32_t)day << 32 | cell.field, cell.slot};

    return hash64(key, sizeof(key), 0);
}

static void batch_reindex(struct lf_batch *batch)
{
    free(batch->index);
    batch->index_size = batch->cap * 2;
    batch->index = xcalloc(batch->index_size, sizeof(*batch->index));
    for (size_t i = 0; i < batch->n; i++) {
        size_t at = cell_hash(batch->cells[i].day, batch->cells[i].cell) & (batch->index_size - 1);
        while (batch->index[at] != 0)
            at = (at + 1) & (batch->index_size - 1);
        batch->index[at] = (uint32_t)(i + 1);
    }
}

static void batch_clear(struct lf_batch *batch)
{
    batch->n = 0;
    if (batch->index != NULL)
        memset(batch->index, 0, batch->index_size * sizeof(*batch->index));
}

/* One more for (day, cell), starting from the value it has in the table. */
static void batch_add(struct lf_batch *batch, struct ctr_table *table, int day,
                      struct ctr_cell cell)
{
    size_t at;

    if (batch->n == batch->cap) {
        batch->cap = batch->cap ? 2 * batch->cap : 256;
        batch->cells = xreallocarray(batch->cells, batch->cap, sizeof(*batch->cells));
        batch_reindex(batch);
    }
    at = cell_hash(day, cell) & (batch->index_size - 1);
    while (batch->index[at] != 0) {
        struct lf_batch_cell *c = &batch->cells[batch->index[at] - 1];
        if (c->day == day && c->cell.slot == cell.slot && c->cell.field == cell.field) {
            c->value++;
            return;
        }
        at = (at + 1) & (batch->index_size - 1);
    }
    struct lf_batch_cell *c = &batch->cells[batch->n];
    c->day = day;
    c->cell = cell;
    c->value = 0;
    (void)ctr_cell_get(table, cell, &c->value);
    c->value++;
    batch->index[at] = (uint32_t)(++batch->n);
}

/* ---- counter tables, a few days open at a time ---- */

static void tables_close(struct lf_follower *f)
{
    for (size_t i = 0; i < LF_TABLE_CACHE; i++) {
        ctr_close(f->tables[i]);
        f->tables[i] = NULL;
    }
}

/*
 * A round that cannot be committed is read again a moment later, and fails
 * the same way while the disk is full: one warning, then at most one a
 * minute saying how many were held back.
 */
static void warn_disk(struct lf_follower *f, const char *error, const char *consequence)
{
    uint64_t held_back;

    if (msg_rate_allow(&f->disk_rate, time(NULL), &held_back))
        msg_warn("log follower: %s%s (%llu more like it in the last minute)", error, consequence,
                 (unsigned long long)held_back);
}

static struct ctr_table *table_of(struct lf_follower *f, int day)
{
    char *error = NULL;
    size_t i;

    for (i = 0; i < LF_TABLE_CACHE; i++)
        if (f->tables[i] != NULL && f->table_days[i] == day)
            return f->tables[i];
    ctr_close(f->tables[LF_TABLE_CACHE - 1]);
    memmove(f->tables + 1, f->tables, (LF_TABLE_CACHE - 1) * sizeof(f->tables[0]));
    memmove(f->table_days + 1, f->table_days, (LF_TABLE_CACHE - 1) * sizeof(f->table_days[0]));
    f->tables[0] = ctr_open(f->settings.counters_dir, day, CTR_READ_WRITE, &f->settings.limits,
                            &error);
    f->table_days[0] = day;
    if (f->tables[0] == NULL) {
        warn_disk(f, error, ": reading again from the last checkpoint");
        free(error);
    }
    return f->tables[0];
}

static void on_event(const struct tr_event *event, void *context)
{
    struct lf_source *source = context;
    struct lf_follower *f = source->follower;
    int day = day_from_time(event->time);
    struct ctr_table *table = table_of(f, day);
    /* A log event has one policy and at most one failure: no allocation per event. */
    struct ctr_cell local[8], *cells = local;
    size_t max = 0;
    bool incomplete;
    int n;

    if (table == NULL) {
        f->batch_failed = true; /* rolled back and read again later */
        return;
    }
    for (size_t p = 0; p < event->n_policies; p++)
        max += 1 + event->policies[p].n_failures;
    if (max > UTIL_ARRAY_LEN(local))
        cells = xcalloc(max, sizeof(*cells));
    n = ctr_log_cells(table, event, cells, max, &incomplete);
    for (int i = 0; i < n; i++)
        batch_add(&f->batch, table, day, cells[i]);
    if (cells != local)
        free(cells);
    if (incomplete) {
        (void)ctr_count_overflow(table, event->domain);
        f->totals.table_full_events++;
    }
}

/* ---- opening, resuming, rolling back ---- */

static void sources_close(struct lf_follower *f)
{
    for (size_t i = 0; i < f->n_sources; i++) {
        struct lf_source *source = &f->sources[i];
        lf_file_close(source);
        lf_journal_close(source);
        lf_parser_destroy(source->parser);
        source->parser = NULL;
    }
}

/* Stores the checkpoint's counters again: they are absolute, so that is harmless. */
static void store_cells(struct lf_follower *f, const struct lf_batch_cell *cells, size_t n,
                        size_t stop_after)
{
    size_t refused = 0;

    for (size_t i = 0; i < n && i < stop_after; i++) {
        struct ctr_table *table = table_of(f, cells[i].day);
        if (table == NULL || !ctr_cell_set(table, cells[i].cell, cells[i].value))
            refused++;
    }
    if (refused > 0)
        msg_warn("log follower: %zu counters of the checkpoint could not be stored "
                 "(their day's table is gone or damaged)",
                 refused);
}

/* Each source at the checkpoint's position with its parser state (cp may be empty). */
static int sources_resume(struct lf_follower *f, const struct lf_checkpoint *cp, char **error_r)
{
    for (size_t i = 0; i < f->n_sources; i++) {
        struct lf_source *source = &f->sources[i];
        const struct lf_checkpoint_source *saved = NULL;
        struct lf_settings settings = {
            .format = source->spec.format,
            .now = time(NULL),
            .report_sender = f->settings.report_sender,
            .report_verp_delimiter = f->settings.report_verp_delimiter,
            .sending_mta_ip = f->settings.sending_mta_ip,
            .supplement = f->settings.supplement,
            .policy_lookup = f->settings.policy_lookup,
            .policy_context = f->settings.policy_context,
        };
        char *error = NULL;

        for (size_t s = 0; s < cp->n_sources && saved == NULL; s++)
            if (strcmp(cp->sources[s].spec, source->spec.text) == 0)
                saved = &cp->sources[s];
        source->follower = f;
        source->parser = lf_parser_create(&settings, on_event, source);
        if (saved != NULL && saved->state != NULL &&
            lf_parser_restore(source->parser, saved->state, saved->state_len, &error) < 0) {
            msg_warn("%s: parser state of the checkpoint not restored (%s): sessions open at "
                     "the checkpoint may not be counted",
                     source->spec.text, error);
            free(error);
        }
        lf_file_init(source);
        if (source->spec.journal) {
            if (lf_journal_open(source, saved ? saved->cursor : NULL,
                                saved != NULL && saved->from_start, error_r) < 0)
                return -1;
        } else {
            lf_file_resume(source, saved ? &saved->file : NULL, saved != NULL && saved->from_start);
        }
    }
    return 0;
}

/* Back to the last checkpoint: what was read since is read again. */
static void rollback(struct lf_follower *f)
{
    struct lf_checkpoint cp;
    char *error = NULL;

    f->totals.rollbacks++;
    sources_close(f);
    tables_close(f);
    batch_clear(&f->batch);
    f->batch_failed = false;
    if (lf_checkpoint_decode(f->checkpoint_path, f->committed.data, f->committed.len, &cp,
                             &error) < 0)
        msg_panic("log follower: own checkpoint unreadable: %s", error);
    if (sources_resume(f, &cp, &error) < 0) {
        msg_warn("log follower: %s", error);
        free(error);
    }
    lf_checkpoint_free(&cp);
}

static void crash_point(struct lf_follower *f, enum lf_crash_point point)
{
    if (f->settings.crash_at == point && f->commits_this_run == f->settings.crash_after)
        _exit(0);
}

/* Checkpoint first, then the counters. */
static int commit(struct lf_follower *f)
{
    struct buf text;
    char *error = NULL;

    crash_point(f, LF_CRASH_BEFORE_CHECKPOINT);
    if (f->batch_failed) {
        rollback(f);
        return -1;
    }
    buf_init(&text);
    lf_checkpoint_encode(f, &text);
    if (file_write_atomic(f->checkpoint_path, text.data, text.len, 0600, &error) < 0) {
        warn_disk(f, error, f->committed.len > 0 ? ": reading again from the last checkpoint" : "");
        free(error);
        buf_free(&text);
        if (f->committed.len > 0)
            rollback(f);
        return -1;
    }
    crash_point(f, LF_CRASH_AFTER_CHECKPOINT);
    if (f->settings.crash_at == LF_CRASH_HALF_STORED &&
        f->commits_this_run == f->settings.crash_after) {
        store_cells(f, f->batch.cells, f->batch.n, f->batch.n / 2);
        _exit(0);
    }
    store_cells(f, f->batch.cells, f->batch.n, SIZE_MAX);
    batch_clear(&f->batch);
    buf_free(&f->committed);
    f->committed = text;
    f->totals.commits++;
    f->commits_this_run++;
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

struct lf_follower *lf_follower_open(const struct lf_follow_settings *settings, char **error_r)
{
    struct lf_follower *f = xcalloc(1, sizeof(*f));
    struct lf_source_spec *specs;
    struct lf_checkpoint cp = {0};
    struct buf text;
    struct stat st;
    size_t n;

    if (lf_sources_parse(settings->sources, &specs, &n, error_r) < 0) {
        free(f);
        return NULL;
    }
    f->settings = *settings;
    f->settings.sources = xstrdup(settings->sources);
    f->settings.checkpoint_dir = xstrdup(settings->checkpoint_dir);
    f->settings.counters_dir = xstrdup(settings->counters_dir);
    f->settings.report_sender = dup_or_null(settings->report_sender);
    f->settings.report_verp_delimiter = dup_or_null(settings->report_verp_delimiter);
    f->settings.sending_mta_ip = dup_or_null(settings->sending_mta_ip);
    f->checkpoint_path = path_join(settings->checkpoint_dir, CHECKPOINT_NAME);
    f->sources = xcalloc(n, sizeof(*f->sources));
    f->n_sources = n;
    for (size_t i = 0; i < n; i++)
        f->sources[i].spec = specs[i];
    free(specs); /* the strings now belong to the sources */
    pthread_mutex_init(&f->mutex, NULL);
    pthread_mutex_init(&f->own_mutex, NULL);
    f->own_pending = xcalloc(LF_MAX_OWN_PENDING, sizeof(*f->own_pending));
    pthread_mutex_init(&f->stop_mutex, NULL);
    pthread_cond_init(&f->stop_cond, NULL);
    buf_init(&f->committed);

    buf_init(&text);
    if (stat(f->checkpoint_path, &st) == 0 || errno != ENOENT) {
        if (file_read_all(f->checkpoint_path, LF_CHECKPOINT_MAX, &text, error_r) < 0 ||
            lf_checkpoint_decode(f->checkpoint_path, text.data, text.len, &cp, error_r) < 0) {
            /* Local damage: keep it for a look, count on from the sources' ends. */
            char *aside = xasprintf("%s.damaged", f->checkpoint_path);
            msg_error("log follower: %s; moved to %s: every source starts anew at its end, "
                      "so what was logged since that checkpoint is not counted",
                      *error_r, aside);
            (void)rename(f->checkpoint_path, aside);
            free(aside);
            free(*error_r);
            *error_r = NULL;
            lf_checkpoint_free(&cp);
        }
        for (size_t s = 0; s < cp.n_sources; s++) {
            bool configured = false;
            for (size_t i = 0; i < n; i++)
                configured = configured || strcmp(cp.sources[s].spec, f->sources[i].spec.text) == 0;
            if (!configured)
                msg_info("log source %s of the checkpoint is no longer configured: forgotten",
                         cp.sources[s].spec);
        }
        store_cells(f, cp.cells, cp.n_cells, SIZE_MAX);
    }
    buf_free(&text);
    if (sources_resume(f, &cp, error_r) < 0) {
        lf_checkpoint_free(&cp);
        lf_follower_close(f);
        return NULL;
    }
    lf_checkpoint_free(&cp);
    /* The starting positions are a checkpoint too: a rollback needs one. */
    if (commit(f) < 0 && f->committed.len == 0) {
        *error_r = xasprintf("cannot write %s", f->checkpoint_path);
        lf_follower_close(f);
        return NULL;
    }
    f->commits_this_run = 0;
    return f;
}

int lf_follower_own_mail(struct lf_follower *f, const char *queue_id, const char **error_r)
{
    int status = 0;

    if (!lf_queue_id_ok(queue_id)) {
        *error_r = "not a queue id (letters and digits, at most 31)";
        return -1;
    }
    pthread_mutex_lock(&f->own_mutex);
    if (f->n_own_pending >= LF_MAX_OWN_PENDING) {
        f->own_mail_dropped++;
        *error_r = "too many queue ids waiting for the follower";
        status = -1;
    } else {
        snprintf(f->own_pending[f->n_own_pending++], LF_MAX_QUEUE_ID + 1, "%s", queue_id);
        f->own_mail++;
    }
    pthread_mutex_unlock(&f->own_mutex);
    return status;
}

/* Before a round: every parser learns the own report mail announced since the last. */
static void own_mail_take(struct lf_follower *f)
{
    pthread_mutex_lock(&f->own_mutex);
    for (size_t k = 0; k < f->n_own_pending; k++)
        for (size_t i = 0; i < f->n_sources; i++)
            (void)lf_parser_own_mail(f->sources[i].parser, f->own_pending[k]);
    f->n_own_pending = 0;
    f->totals.own_mail = f->own_mail;
    f->totals.own_mail_dropped = f->own_mail_dropped;
    pthread_mutex_unlock(&f->own_mutex);
}

long lf_follower_poll(struct lf_follower *f)
{
    long lines = 0;

    pthread_mutex_lock(&f->mutex);
    own_mail_take(f);
    for (size_t i = 0; i < f->n_sources; i++) {
        struct lf_source *source = &f->sources[i];
        lines += source->spec.journal ? lf_journal_poll(source) : lf_file_poll(source);
    }
    if (lines > 0 && commit(f) < 0)
        lines = -1;
    pthread_mutex_unlock(&f->mutex);
    return lines;
}

static void *follow_thread(void *arg)
{
    struct lf_follower *f = arg;

    for (;;) {
        long lines = lf_follower_poll(f);
        pthread_mutex_lock(&f->stop_mutex);
        if (!f->stopping && lines <= 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += IDLE_WAIT_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            (void)pthread_cond_timedwait(&f->stop_cond, &f->stop_mutex, &until);
        }
        bool stop = f->stopping;
        pthread_mutex_unlock(&f->stop_mutex);
        if (stop)
            return NULL;
    }
}

int lf_follower_start(struct lf_follower *f, char **error_r)
{
    int r = pthread_create(&f->thread, NULL, follow_thread, f);

    if (r != 0) {
        *error_r = xasprintf("log follower thread: %s", strerror(r));
        return -1;
    }
    f->running = true;
    return 0;
}

void lf_follower_stop(struct lf_follower *f)
{
    if (!f->running)
        return;
    pthread_mutex_lock(&f->stop_mutex);
    f->stopping = true;
    pthread_cond_signal(&f->stop_cond);
    pthread_mutex_unlock(&f->stop_mutex);
    pthread_join(f->thread, NULL);
    f->running = false;
}

void lf_follower_close(struct lf_follower *f)
{
    if (f == NULL)
        return;
    lf_follower_stop(f);
    sources_close(f);
    tables_close(f);
    for (size_t i = 0; i < f->n_sources; i++) {
        free(f->sources[i].spec.path);
        free(f->sources[i].spec.text);
    }
    free(f->sources);
    free(f->batch.cells);
    free(f->batch.index);
    buf_free(&f->committed);
    free(f->checkpoint_path);
    free((char *)f->settings.sources);
    free((char *)f->settings.checkpoint_dir);
    free((char *)f->settings.counters_dir);
    free((char *)f->settings.report_sender);
    free((char *)f->settings.report_verp_delimiter);
    free((char *)f->settings.sending_mta_ip);
    pthread_mutex_destroy(&f->mutex);
    pthread_mutex_destroy(&f->own_mutex);
    free(f->own_pending);
    pthread_mutex_destroy(&f->stop_mutex);
    pthread_cond_destroy(&f->stop_cond);
    free(f);
}

size_t lf_follower_status(struct lf_follower *f, struct lf_source_status *out, size_t max,
                          struct lf_follower_totals *totals)
{
    pthread_mutex_lock(&f->mutex);
    for (size_t i = 0; i < f->n_sources && i < max; i++) {
        const struct lf_source *source = &f->sources[i];
        const char *cursor;

        snprintf(out[i].spec, sizeof(out[i].spec), "%s", source->spec.text);
        snprintf(out[i].state, sizeof(out[i].state), "%s", source->state);
        if (source->spec.journal)
            snprintf(out[i].position, sizeof(out[i].position), "cursor %s",
                     (cursor = lf_journal_cursor(source)) != NULL ? cursor : "(none yet)");
        else
            lf_file_describe(source, out[i].position, sizeof(out[i].position));
        out[i].stats = *lf_parser_stats(source->parser);
    }
    if (totals != NULL)
        *totals = f->totals;
    pthread_mutex_unlock(&f->mutex);
    return f->n_sources;
}
