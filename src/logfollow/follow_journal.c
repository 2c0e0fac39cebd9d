/*
 * follow_journal.c - the systemd journal as a log source (libsystemd's
 * sd_journal): mail-facility entries turned into RFC 3339 syslog lines for
 * the parsers, the position kept as a journal cursor.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "follow_impl.h"

/* Fields copied into a line are cut at this length (the parser rejects long lines anyway). */
#define FIELD_MAX 8192

struct lf_journal_source {
    sd_journal *journal;
    char *cursor; /* of the last entry read */
    struct buf line;
};

const char *lf_journal_cursor(const struct lf_source *source)
{
    return source->journal != NULL ? source->journal->cursor : NULL;
}

/* The value of FIELD in the current entry (not NUL-terminated), or NULL. */
static const char *field(sd_journal *journal, const char *name, size_t *len_r)
{
    const void *data;
    size_t len, name_len = strlen(name);

    if (sd_journal_get_data(journal, name, &data, &len) < 0 || len <= name_len ||
        ((const char *)data)[name_len] != '=')
        return NULL;
    *len_r = len - name_len - 1 > FIELD_MAX ? FIELD_MAX : len - name_len - 1;
    return (const char *)data + name_len + 1;
}

static void append_field(struct buf *line, sd_journal *journal, const char *name,
                         const char *fallback)
{
    size_t len;
    const char *value = field(journal, name, &len);

    if (value != NULL)
        buf_append(line, value, len);
    else
        buf_puts(line, fallback);
}

/* "2026-11-22T08:24:30.123456+00:00 HOST IDENT[PID]: MESSAGE" of the current entry. */
static bool entry_line(struct lf_journal_source *js)
{
    uint64_t usec;
    time_t seconds;
    struct tm tm;
    size_t len;
    const char *pid;

    if (sd_journal_get_realtime_usec(js->journal, &usec) < 0)
        return false;
    seconds = (time_t)(usec / 1000000);
    if (gmtime_r(&seconds, &tm) == NULL)
        return false;
    buf_reset(&js->line);
    buf_printf(&js->line, "%04d-%02d-%02dT%02d:%02d:%02d.%06u+00:00 ", tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
               (unsigned)(usec % 1000000));
    append_field(&js->line, js->journal, "_HOSTNAME", "localhost");
    buf_putc(&js->line, ' ');
    append_field(&js->line, js->journal, "SYSLOG_IDENTIFIER", "-");
    if ((pid = field(js->journal, "SYSLOG_PID", &len)) != NULL ||
        (pid = field(js->journal, "_PID", &len)) != NULL) {
        buf_putc(&js->line, '[');
        buf_append(&js->line, pid, len);
        buf_putc(&js->line, ']');
    }
    buf_puts(&js->line, ": ");
    append_field(&js->line, js->journal, "MESSAGE", "");
    return true;
}

static int journal_error(struct lf_source *source, const char *what, int r, char **error_r)
{
    *error_r = xasprintf("%s: %s: %s%s", source->spec.text, what, strerror(-r),
                         r == -EACCES ? " (give the daemon's user the group systemd-journal)"
                                      : "");
    return -1;
}

int lf_journal_open(struct lf_source *source, const char *cursor, bool from_start,
                    char **error_r)
{
    struct lf_journal_source *js = xcalloc(1, sizeof(*js));
    int r;

    buf_init(&js->line);
    source->journal = js;
    r = source->spec.path != NULL ? sd_journal_open_directory(&js->journal, source->spec.path, 0)
                                  : sd_journal_open(&js->journal, SD_JOURNAL_LOCAL_ONLY);
    if (r < 0)
        return journal_error(source, "cannot open the journal", r, error_r);
    /* Sets up the inotify watch through which sd_journal_process() sees new files. */
    (void)sd_journal_get_fd(js->journal);
    /* Postfix and Sendmail log to the mail facility. */
    if ((r = sd_journal_add_match(js->journal, "SYSLOG_FACILITY=2", 0)) < 0)
        return journal_error(source, "journal match", r, error_r);
    if (cursor != NULL) {
        js->cursor = xstrdup(cursor);
        if ((r = sd_journal_seek_cursor(js->journal, cursor)) < 0)
            return journal_error(source, "cannot seek to the checkpoint's cursor", r, error_r);
        /* The entry of the cursor was read already; when it is gone, the next one was not. */
        if (sd_journal_next(js->journal) > 0 && sd_journal_test_cursor(js->journal, cursor) <= 0) {
            msg_warn("%s: the checkpoint's journal entry is gone (vacuumed?): continuing "
                     "with the next one there is",
                     source->spec.text);
            (void)sd_journal_previous(js->journal);
        }
    } else if (from_start) {
        if ((r = sd_journal_seek_head(js->journal)) < 0)
            return journal_error(source, "cannot seek to the journal's start", r, error_r);
    } else {
        /* New to us: what is there already is the past. */
        if ((r = sd_journal_seek_tail(js->journal)) < 0)
            return journal_error(source, "cannot seek to the journal's end", r, error_r);
        if (sd_journal_previous(js->journal) > 0)
            (void)sd_journal_get_cursor(js->journal, &js->cursor);
        msg_info("%s: following from the journal's end (earlier entries are not counted)",
                 source->spec.text);
    }
    lf_source_state(source, "following");
    return 0;
}

long lf_journal_poll(struct lf_source *source)
{
    struct lf_journal_source *js = source->journal;
    long lines = 0;
    char *cursor;
    int r = 0;

    if (js == NULL || js->journal == NULL)
        return 0;
    /* Notices new entries and journal files (non-blocking). */
    (void)sd_journal_process(js->journal);
    while (lines < LF_ROUND_ENTRIES && (r = sd_journal_next(js->journal)) > 0) {
        if (entry_line(js))
            lf_parser_line(source->parser, js->line.data, js->line.len);
        lines++;
    }
    if (r < 0)
        lf_source_state(source, "error: reading the journal: %s", strerror(-r));
    if (lines > 0 && sd_journal_get_cursor(js->journal, &cursor) >= 0) {
        free(js->cursor);
        js->cursor = cursor;
    }
    return lines;
}

void lf_journal_close(struct lf_source *source)
{
    struct lf_journal_source *js = source->journal;

    if (js == NULL)
        return;
    if (js->journal != NULL)
        sd_journal_close(js->journal);
    free(js->cursor);
    buf_free(&js->line);
    free(js);
    source->journal = NULL;
}
