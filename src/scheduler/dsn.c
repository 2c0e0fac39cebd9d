/*
 * dsn.c - a bounce of our report mail changes its outbox destination: the
 * VERP tag it came back to names the report and (by its MAC) the
 * destination; the DSN's verdict is written under the report's lock, and
 * counted in $state_directory/dsn.counters for `tlsrpt status`.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cfg.h"
#include "dsn.h"
#include "fleet.h"
#include "sched_impl.h"
#include "scheduler.h"
#include "spool.h"
#include "util.h"

#define COUNTERS_FILE "dsn.counters"
#define COUNTERS_MAX_SIZE 4096
/* A report in a delivery attempt stays locked for it: wait this long, then say "try again". */
#define LOCK_WAIT_MS 2000
#define LOCK_POLL_MS 50

void sched_dsn_result_free(struct sched_dsn_result *r)
{
    free(r->reason);
    free(r->report_id);
    free(r->destination);
    free(r->action);
    free(r->status);
    free(r->detail);
    memset(r, 0, sizeof(*r));
}

static int counters_parse(const char *path, const char *text, struct sched_dsn_counters *c,
                          char **error_r)
{
    int lineno = 0;

    memset(c, 0, sizeof(*c));
    for (const char *line = text; *line;) {
        char name[32];
        uint64_t value;
        int consumed = 0;
        lineno++;
        if (sscanf(line, "%31[a-z]=%" SCNu64 "%n", name, &value, &consumed) != 2 ||
            (line[consumed] != '\n' && line[consumed] != '\0')) {
            *error_r = xasprintf("%s:%d: malformed line", path, lineno);
            return -1;
        }
        if (strcmp(name, "matched") == 0)
            c->matched = value;
        else if (strcmp(name, "unmatched") == 0)
            c->unmatched = value;
        else if (strcmp(name, "suppressions") == 0)
            c->suppressions = value;
        line += consumed + (line[consumed] == '\n');
    }
    return 0;
}

static int counters_load(const char *path, struct sched_dsn_counters *c, char **error_r)
{
    struct buf text;

    memset(c, 0, sizeof(*c));
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    buf_init(&text);
    int result = file_read_all(path, COUNTERS_MAX_SIZE, &text, error_r);
    if (result == 0)
        result = counters_parse(path, buf_cstr(&text), c, error_r);
    buf_free(&text);
    return result;
}

int sched_dsn_counters_read(struct cfg *cfg, struct sched_dsn_counters *c, char **error_r)
{
    char *path = path_join(cfg_str(cfg, "state_directory"), COUNTERS_FILE);
    int result = counters_load(path, c, error_r);

    free(path);
    return result;
}

/* Adds one DSN to the counters: load, add, replace atomically, under a lock. */
static void counters_add(const char *state_dir, bool matched, bool suppressed)
{
    char *path = path_join(state_dir, COUNTERS_FILE);
    char *lock_path = xasprintf("%s.lock", path), *error = NULL;
    struct sched_dsn_counters c;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);

    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        error = xasprintf("lock %s: %s", lock_path, strerror(errno));
    } else if (counters_load(path, &c, &error) == 0) {
        c.matched += matched;
        c.unmatched += !matched;
        c.suppressions += suppressed;
        char *text =
            xasprintf("matched=%" PRIu64 "\nunmatched=%" PRIu64 "\nsuppressions=%" PRIu64 "\n",
                      c.matched, c.unmatched, c.suppressions);
        file_write_atomic(path, text, strlen(text), 0640, &error);
        free(text);
    }
    if (error) {
        msg_error("DSN counters: %s", error);
        free(error);
    }
    if (fd >= 0)
        close(fd);
    free(lock_path);
    free(path);
}

/* What the queue shows: the Diagnostic-Code without its type ("smtp;"), else the Status. */
static char *dsn_detail(const struct dsn_recipient *r)
{
    if (r->diagnostic == NULL)
        return xasprintf("status %s", r->status);
    const char *semi = strchr(r->diagnostic, ';');
    const char *text = semi ? semi + 1 + strspn(semi + 1, " \t") : r->diagnostic;
    return xstrdup(text[0] ? text : r->diagnostic);
}

static void set_text(char **field, const char *text)
{
    free(*field);
    *field = text ? xstrdup(text) : NULL;
}

struct apply_settings {
    const char *suppress_path;
    int suppress_after;
    time_t suppress_time;
    time_t now;
};

/* The DSN's verdict on one destination (locked by the caller). */
static void apply_verdict(const struct apply_settings *s, struct spool_destination *d,
                          const struct dsn_recipient *r, struct sched_dsn_result *result)
{
    char *detail = dsn_detail(r);
    bool was_bounced = d->dsn_action && strcmp(d->dsn_action, "failed") == 0;

    result->action = xstrdup(r->action);
    result->status = xstrdup(r->status);
    result->detail = xstrdup(detail);
    if (strcmp(r->action, "failed") == 0) {
        result->changed = !was_bounced;
        if (!was_bounced) {
            char *text = xasprintf("bounced: %s", detail);
            d->state = SPOOL_FAILED;
            d->next_try = 0;
            set_text(&d->last_error, text);
            free(text);
            set_text(&d->dsn_action, "failed");
            set_text(&d->dsn_detail, detail);
            d->dsn_time = s->now;
            if (dsn_permanent(r))
                result->suppressed = sched_suppression_note(
                    s->suppress_path, d->uri, true, s->suppress_after, s->suppress_time, s->now);
        }
    } else if (!was_bounced) {
        /* delayed: shown, nothing else; delivered: a real success forgets failures. */
        result->changed = true;
        set_text(&d->dsn_action, r->action);
        set_text(&d->dsn_detail, detail);
        d->dsn_time = s->now;
        if (strcmp(r->action, "delivered") == 0)
            sched_suppression_note(s->suppress_path, d->uri, false, s->suppress_after,
                                   s->suppress_time, s->now);
    }
    result->state = d->state;
    free(detail);
}

/*
 * The report's lock, waited for at most LOCK_WAIT_MS: a milter callback and
 * a pipe alias must not hang for a whole delivery attempt (delivery_timeout).
 */
static int lock_bounded(struct spool *spool, struct spool_entry *entry, char **error_r)
{
    bool busy = false;

    for (int64_t deadline = clock_ms() + LOCK_WAIT_MS;;) {
        int lock = spool_lock_entry(spool, entry, false, &busy, error_r);
        if (lock >= 0 || !busy)
            return lock;
        free(*error_r);
        if (clock_ms() >= deadline) {
            *error_r = xasprintf("report %s is locked by a delivery attempt (waited %d ms): "
                                 "try again later",
                                 entry->report_id, LOCK_WAIT_MS);
            return -1;
        }
        struct timespec pause = {0, LOCK_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* The destination of entry whose VERP tag is `tag`: true with *index_r. */
static bool tagged_destination(const unsigned char *key, const struct spool_entry *entry,
                               const char *tag, size_t *index_r)
{
    for (size_t k = 0; k < entry->n_destinations; k++) {
        char expected[DSN_VERP_TAG_MAX];
        dsn_verp_tag(key, entry->unique_id, entry->destinations[k].uri, expected);
        if (strlen(expected) == strlen(tag) && CRYPTO_memcmp(expected, tag, strlen(tag)) == 0) {
            *index_r = k;
            return true;
        }
    }
    return false;
}

/*
 * The report with this unique id, locked, and its destination whose tag is
 * `tag`: 1 when found (the lock fd in *lock_r), 0 when not (reason set),
 * -1 on errors.
 */
static int find_destination(struct spool *spool, const unsigned char *key, const char *unique_id,
                            const char *tag, struct spool_entry *found, size_t *index_r,
                            int *lock_r, struct sched_dsn_result *result, char **error_r)
{
    struct spool_entry *entries;
    size_t n;
    int status = 0;

    if (spool_list(spool, &entries, &n, error_r) < 0)
        return -1;
    for (size_t i = 0; i < n && status == 0; i++) {
        if (strcasecmp(entries[i].unique_id, unique_id) != 0)
            continue;
        int lock = lock_bounded(spool, &entries[i], error_r);
        if (lock < 0) {
            status = -1;
            break;
        }
        if (tagged_destination(key, &entries[i], tag, index_r)) {
            *found = entries[i];
            memset(&entries[i], 0, sizeof(entries[i]));
            *lock_r = lock;
            status = 1;
        } else {
            close(lock);
            result->reason = xasprintf("the VERP tag names report %s but none of its destinations "
                                       "(forged, or from another host's key)",
                                       entries[i].report_id);
            status = 2;
        }
    }
    spool_list_free(entries, n);
    if (status == 0)
        result->reason = xasprintf("no report %s in the outbox (expired or deleted)", unique_id);
    return status == 2 ? 0 : status;
}

/* The Mailbox of a mailto: destination, for choosing the DSN's recipient. */
static const char *mailbox_of(const char *uri)
{
    return strncmp(uri, "mailto:", 7) == 0 ? uri + 7 : NULL;
}

/* The DSN's verdict on entry's destination `index`, into it and result. */
static void apply_found(struct cfg *cfg, const struct dsn *dsn, struct spool_entry *entry,
                        size_t index, struct sched_dsn_result *result)
{
    struct spool_destination *d = &entry->destinations[index];
    char *suppress_path = path_join(cfg_str(cfg, "state_directory"), "suppressed");
    struct apply_settings settings = {
        .suppress_path = suppress_path,
        .suppress_after = (int)cfg_int(cfg, "suppress_after_failures"),
        .suppress_time = (time_t)cfg_time(cfg, "suppress_time"),
        .now = time(NULL),
    };

    result->matched = true;
    result->report_id = xstrdup(entry->report_id);
    result->destination = xstrdup(d->uri);
    const struct dsn_recipient *r = dsn_decisive(dsn, mailbox_of(d->uri));
    if (r == NULL) {
        /* dsn_parse never gives one without recipients; a caller's own might. */
        result->matched = false;
        result->reason = xstrdup("the DSN has no per-recipient fields");
    } else {
        apply_verdict(&settings, d, r, result);
    }
    free(suppress_path);
}

static bool fleet_wanted(struct cfg *cfg)
{
    return cfg_str(cfg, "fleet_database")[0] != '\0';
}

/*
 * Writes a destination's state after a bounce into the fleet's ledger, on
 * `fleet` or a connection of its own. -1 (logged) when it could not.
 */
static int fleet_bounce(struct cfg *cfg, const struct spool_entry *entry, size_t index,
                        struct fleet *fleet)
{
    char *error;
    struct fleet *own = fleet ? NULL
                              : fleet_connect(cfg_str(cfg, "fleet_database"),
                                              cfg_str(cfg, "fleet_host_id"), &error);
    int status = -1;

    if (fleet || own)
        status = fleet_record(fleet ? fleet : own, entry->report_id,
                              &entry->destinations[index], true, &error);
    if (status < 0) {
        msg_warn("DSN for report %s to %s: not written to the fleet's ledger: %s",
                 entry->report_id, entry->destinations[index].uri, error);
        free(error);
    }
    fleet_close(own);
    return status;
}

/*
 * A bounce for a report this host's outbox does not hold: another host of
 * the fleet built or sends it. Looked up in the fleet's outbox (the VERP
 * key is the fleet's: `tlsrpt fleet init` and the worker share it) and
 * written to its ledger row. 0 (result says whether it matched), -1.
 */
static int fleet_apply(struct cfg *cfg, const struct dsn *dsn, const unsigned char *key,
                       const char *unique_id, const char *tag, struct sched_dsn_result *result,
                       char **error_r)
{
    struct spool_entry entry;
    size_t index;
    struct fleet *fleet =
        fleet_connect(cfg_str(cfg, "fleet_database"), cfg_str(cfg, "fleet_host_id"), error_r);

    if (fleet == NULL)
        return -1;
    int found = fleet_find_report(fleet, unique_id, &entry, error_r);
    if (found == 1 && tagged_destination(key, &entry, tag, &index)) {
        free(result->reason);
        result->reason = NULL;
        apply_found(cfg, dsn, &entry, index, result);
        if (result->changed && fleet_bounce(cfg, &entry, index, fleet) < 0) {
            *error_r = xasprintf("report %s: the fleet's ledger could not be updated",
                                 entry.report_id);
            found = -1;
        }
    } else if (found == 1) {
        free(result->reason);
        result->reason = xasprintf("the VERP tag names report %s of the fleet but none of its "
                                   "destinations (forged, or made with another key)",
                                   entry.report_id);
    } else if (found == 0) {
        free(result->reason);
        result->reason = xasprintf("no report %s in the outbox nor in the fleet's (expired or "
                                   "deleted)", unique_id);
    }
    if (found >= 0)
        spool_entry_free(&entry);
    fleet_close(fleet);
    return found < 0 ? -1 : 0;
}

int sched_dsn_apply(struct cfg *cfg, const char *envelope_recipient, const struct dsn *dsn,
                    struct sched_dsn_result *result, char **error_r)
{
    const char *state_dir = cfg_str(cfg, "state_directory");
    const char *delimiter = cfg_str(cfg, "report_verp_delimiter");
    char *sender = sched_report_sender(cfg), *unique_id = NULL, *error;
    char tag[DSN_VERP_TAG_MAX];
    unsigned char key[DSN_VERP_KEY_SIZE];
    struct spool *spool = NULL;
    int status = 0;

    memset(result, 0, sizeof(*result));
    if (delimiter[0] == '\0') {
        result->reason = xstrdup("report_verp_delimiter is empty: report mail has no VERP tag");
    } else if (sender == NULL) {
        result->reason = xstrdup("no report sender is configured (contact_info, report_from)");
    } else if (envelope_recipient == NULL || envelope_recipient[0] == '\0') {
        result->reason = xstrdup("no envelope recipient: the VERP tag is unknown");
    } else if (dsn_verp_parse(envelope_recipient, sender, delimiter, tag, &unique_id, &error) < 0) {
        result->reason = error;
    } else {
        char *key_path = path_join(state_dir, "verp.key");
        if (access(key_path, F_OK) < 0 && errno == ENOENT)
            result->reason =
                xasprintf("%s does not exist: no report mail was tagged here", key_path);
        else if (dsn_verp_key_load(key_path, false, key, error_r) < 0)
            status = -1;
        free(key_path);
    }
    if (status == 0 && result->reason == NULL) {
        char *outbox = path_join(state_dir, "outbox");
        spool = spool_open(outbox, error_r);
        free(outbox);
        status = spool ? 0 : -1;
    }
    if (status == 0 && result->reason == NULL) {
        struct spool_entry entry;
        size_t index;
        int lock;
        status =
            find_destination(spool, key, unique_id, tag, &entry, &index, &lock, result, error_r);
        if (status == 1) {
            apply_found(cfg, dsn, &entry, index, result);
            status = result->changed ? spool_update(spool, &entry, error_r) : 0;
            close(lock);
            /* In a fleet, its ledger row shows it too (tlsrpt queue --fleet). */
            if (status == 0 && result->changed && fleet_wanted(cfg))
                fleet_bounce(cfg, &entry, index, NULL);
            spool_entry_free(&entry);
        } else if (status == 0 && fleet_wanted(cfg)) {
            status = fleet_apply(cfg, dsn, key, unique_id, tag, result, error_r);
        }
    }
    OPENSSL_cleanse(key, sizeof(key));
    spool_close(spool);
    free(unique_id);
    free(sender);
    if (status < 0) {
        sched_dsn_result_free(result);
        return -1;
    }
    counters_add(state_dir, result->matched, result->suppressed);
    if (result->matched)
        msg_info("DSN for report %s to %s: %s %s: %s%s", result->report_id, result->destination,
                 result->action, result->status, result->detail,
                 result->suppressed ? " (now suppressed)" : "");
    return 0;
}
