/*
 * state.c - the delivery state of one report as text of "name=value" lines
 * (values percent-escaped for %, CR and LF), so an administrator can read
 * it: one record of a day's state.log (log.c frames it), or the ID.state
 * file of the previous version's layout.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"
#include "spool_impl.h"

static const char *const state_names[SPOOL_STATE_COUNT] = {
    [SPOOL_PENDING] = "pending",
    [SPOOL_DELIVERED] = "delivered",
    [SPOOL_RETRYING] = "retrying",
    [SPOOL_FAILED] = "failed",
};

const char *spool_state_name(enum spool_state state)
{
    if ((unsigned)state >= SPOOL_STATE_COUNT)
        msg_panic("spool_state_name: bad state %d", (int)state);
    return state_names[state];
}

int spool_state_from_name(const char *name, enum spool_state *state)
{
    for (int i = 0; i < SPOOL_STATE_COUNT; i++) {
        if (strcmp(state_names[i], name) == 0) {
            *state = (enum spool_state)i;
            return 0;
        }
    }
    return -1;
}

void spool_entry_free(struct spool_entry *entry)
{
    free(entry->unique_id);
    free(entry->report_id);
    free(entry->policy_domain);
    free(entry->file_name);
    free(entry->record);
    for (size_t i = 0; i < entry->n_destinations; i++) {
        free(entry->destinations[i].uri);
        free(entry->destinations[i].last_error);
        free(entry->destinations[i].dsn_action);
        free(entry->destinations[i].dsn_detail);
    }
    free(entry->destinations);
    memset(entry, 0, sizeof(*entry));
}

void spool_entry_add_destination(struct spool_entry *entry, const char *uri)
{
    for (size_t i = 0; i < entry->n_destinations; i++)
        if (strcmp(entry->destinations[i].uri, uri) == 0)
            return;
    entry->destinations = xreallocarray(entry->destinations, entry->n_destinations + 1,
                                        sizeof(struct spool_destination));
    entry->destinations[entry->n_destinations++] =
        (struct spool_destination){.uri = xstrdup(uri), .state = SPOOL_PENDING};
}

static void put(struct buf *out, const char *name, const char *value)
{
    buf_puts(out, name);
    buf_putc(out, '=');
    /* Runs of plain bytes at once: a day's build formats every report's state. */
    for (const char *p = value ? value : ""; *p;) {
        size_t run = strcspn(p, "%\n\r");
        buf_append(out, p, run);
        p += run;
        if (*p)
            buf_printf(out, "%%%02X", (unsigned char)*p++);
    }
    buf_putc(out, '\n');
}

static void put_number(struct buf *out, const char *name, int64_t value)
{
    char digits[24], *d = digits + sizeof(digits);
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;

    do
        *--d = (char)('0' + magnitude % 10);
    while ((magnitude /= 10) > 0);
    if (value < 0)
        *--d = '-';
    buf_puts(out, name);
    buf_putc(out, '=');
    buf_append(out, d, (size_t)(digits + sizeof(digits) - d));
    buf_putc(out, '\n');
}

void spool_state_format(const struct spool_entry *entry, struct buf *out)
{
    char day[DAY_TEXT_SIZE];

    day_format(entry->day, day);
    put(out, "unique_id", entry->unique_id);
    put(out, "report_id", entry->report_id);
    put(out, "policy_domain", entry->policy_domain);
    put(out, "day", day);
    put(out, "file_name", entry->file_name);
    put(out, "record", entry->record);
    put_number(out, "created", entry->created);
    put_number(out, "send_after", entry->send_after);
    put_number(out, "successes", (int64_t)entry->successes);
    put_number(out, "failures", (int64_t)entry->failures);
    put_number(out, "rua_pending", entry->rua_pending);
    if (entry->report_length > 0) {
        put_number(out, "report_offset", (int64_t)entry->report_offset);
        put_number(out, "report_length", (int64_t)entry->report_length);
        put_number(out, "report_crc", entry->report_crc);
    }
    for (size_t i = 0; i < entry->n_destinations; i++) {
        const struct spool_destination *d = &entry->destinations[i];
        put(out, "destination", d->uri);
        put(out, "state", spool_state_name(d->state));
        put_number(out, "attempts", d->attempts);
        put_number(out, "first_try", d->first_try);
        put_number(out, "next_try", d->next_try);
        if (d->last_error)
            put(out, "last_error", d->last_error);
        if (d->dsn_action) {
            put(out, "dsn_action", d->dsn_action);
            put(out, "dsn_detail", d->dsn_detail);
            put_number(out, "dsn_time", d->dsn_time);
        }
    }
}

static char *unescape(const char *value)
{
    char *out = xmalloc(strlen(value) + 1), *o = out;

    for (const char *p = value; *p; p++) {
        unsigned int byte;
        if (p[0] == '%' && p[1] && p[2] && sscanf(p + 1, "%2X", &byte) == 1) {
            *o++ = (char)byte;
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* A text field: given twice, the file is damaged (the writer puts each once). */
static int set_once(char **field, const char *raw)
{
    if (*field != NULL)
        return -1;
    *field = unescape(raw);
    return 0;
}

static int parse_number(const char *value, int64_t *number)
{
    char *end;

    *number = strtoll(value, &end, 10);
    return *value != '\0' && *end == '\0' ? 0 : -1;
}

int spool_state_parse(char *text, const char *name, struct spool_entry *entry, char **error_r)
{
    struct spool_destination *d = NULL;
    int lineno = 0;

    memset(entry, 0, sizeof(*entry));
    entry->day = -1;
    for (char *line = text, *next; line && *line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL)
            goto bad;
        *eq = '\0';
        const char *key = line, *raw = eq + 1;
        int64_t number = 0;
        bool numeric = parse_number(raw, &number) == 0;
        if (strcmp(key, "destination") == 0) {
            spool_entry_add_destination(entry, "");
            d = &entry->destinations[entry->n_destinations - 1];
            free(d->uri);
            d->uri = unescape(raw);
        } else if (d && strcmp(key, "state") == 0) {
            if (spool_state_from_name(raw, &d->state) < 0)
                goto bad;
        } else if (d && strcmp(key, "attempts") == 0 && numeric) {
            d->attempts = (int)number;
        } else if (d && strcmp(key, "first_try") == 0 && numeric) {
            d->first_try = (time_t)number;
        } else if (d && strcmp(key, "next_try") == 0 && numeric) {
            d->next_try = (time_t)number;
        } else if (d && strcmp(key, "last_error") == 0) {
            free(d->last_error);
            d->last_error = unescape(raw);
        } else if (d && strcmp(key, "dsn_action") == 0) {
            free(d->dsn_action);
            d->dsn_action = unescape(raw);
        } else if (d && strcmp(key, "dsn_detail") == 0) {
            free(d->dsn_detail);
            d->dsn_detail = unescape(raw);
        } else if (d && strcmp(key, "dsn_time") == 0 && numeric) {
            d->dsn_time = (time_t)number;
        } else if (strcmp(key, "unique_id") == 0) {
            if (set_once(&entry->unique_id, raw) < 0)
                goto bad;
        } else if (strcmp(key, "report_id") == 0) {
            if (set_once(&entry->report_id, raw) < 0)
                goto bad;
        } else if (strcmp(key, "policy_domain") == 0) {
            if (set_once(&entry->policy_domain, raw) < 0)
                goto bad;
        } else if (strcmp(key, "file_name") == 0) {
            if (set_once(&entry->file_name, raw) < 0)
                goto bad;
        } else if (strcmp(key, "record") == 0) {
            if (set_once(&entry->record, raw) < 0)
                goto bad;
        } else if (strcmp(key, "day") == 0) {
            const char *reason;
            if (day_parse(raw, &entry->day, &reason) < 0)
                goto bad;
        } else if (strcmp(key, "created") == 0 && numeric) {
            entry->created = (time_t)number;
        } else if (strcmp(key, "send_after") == 0 && numeric) {
            entry->send_after = (time_t)number;
        } else if (strcmp(key, "successes") == 0 && numeric) {
            entry->successes = (uint64_t)number;
        } else if (strcmp(key, "failures") == 0 && numeric) {
            entry->failures = (uint64_t)number;
        } else if (strcmp(key, "rua_pending") == 0 && numeric) {
            entry->rua_pending = number != 0;
        } else if (strcmp(key, "report_offset") == 0 && numeric && number >= 0) {
            entry->report_offset = (uint64_t)number;
        } else if (strcmp(key, "report_length") == 0 && numeric && number > 0) {
            entry->report_length = (uint64_t)number;
        } else if (strcmp(key, "report_crc") == 0 && numeric && number >= 0 &&
                   number <= UINT32_MAX) {
            entry->report_crc = (uint32_t)number;
        } else {
            goto bad;
        }
    }
    if (!entry->unique_id || !entry->report_id || !entry->policy_domain || !entry->file_name ||
        entry->day < 0) {
        *error_r = xasprintf("%s: incomplete delivery state", name);
        spool_entry_free(entry);
        return -1;
    }
    if (entry->record == NULL)
        entry->record = xstrdup("");
    return 0;
bad:
    *error_r = xasprintf("%s:%d: malformed delivery state line", name, lineno);
    spool_entry_free(entry);
    return -1;
}
