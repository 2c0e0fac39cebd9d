/*
 * copy.c - COPY FROM STDIN for the fleet's bulk writes: rows in COPY's text
 * format, sent a block at a time, and the statement's outcome.
 */
#include "config.h"

#include <string.h>

#include "fleet_impl.h"
#include "util.h"

/* COPY's text format: backslash, tab, newline and carriage return escaped. */
void fleet_copy_text(struct buf *line, const char *text)
{
    for (const char *p = text; *p;) {
        size_t plain = strcspn(p, "\\\t\n\r");
        buf_append(line, p, plain);
        p += plain;
        if (*p == '\0')
            break;
        buf_putc(line, '\\');
        buf_putc(line, *p == '\t' ? 't' : *p == '\n' ? 'n' : *p == '\r' ? 'r' : '\\');
        p++;
    }
}

/* NULL (a field the capture path did not have) is COPY's \N, apart from "". */
void fleet_copy_field(struct buf *line, const char *text)
{
    if (text == NULL)
        buf_puts(line, "\\N");
    else
        fleet_copy_text(line, text);
    buf_putc(line, '\t');
}

void fleet_copy_number(struct buf *line, uint64_t value, bool last)
{
    buf_printf(line, "%llu%c", (unsigned long long)value, last ? '\n' : '\t');
}

bool fleet_copy_begin(struct fleet_copy *copy, struct fleet *fleet, const char *sql, char **error_r)
{
    PGresult *result;

    memset(copy, 0, sizeof(*copy));
    copy->fleet = fleet;
    if (!fleet_exec(fleet, PGRES_COPY_IN, &result, error_r, sql, 0, NULL))
        return false;
    PQclear(result);
    return true;
}

void fleet_copy_flush(struct fleet_copy *copy, size_t above)
{
    if (copy->rows.len <= above || copy->failed)
        return;
    if (PQputCopyData(copy->fleet->conn, copy->rows.data, (int)copy->rows.len) != 1)
        copy->failed = true;
    buf_reset(&copy->rows);
}

bool fleet_copy_end(struct fleet_copy *copy, char **error_r)
{
    PGconn *conn = copy->fleet->conn;
    PGresult *result;

    fleet_copy_flush(copy, 0);
    buf_free(&copy->rows);
    bool ok = !copy->failed &&
              PQputCopyEnd(conn, NULL) == 1;
    if (!ok)
        PQputCopyEnd(conn, "the client could not send every row");
    result = PQgetResult(conn);
    if (!ok || PQresultStatus(result) != PGRES_COMMAND_OK) {
        const char *message = PQresultErrorMessage(result);
        if (message == NULL || message[0] == '\0')
            message = PQerrorMessage(conn);
        *error_r = xasprintf("fleet database: COPY: %.*s", (int)strcspn(message, "\n"), message);
        ok = false;
    }
    PQclear(result);
    while ((result = PQgetResult(conn)) != NULL)
        PQclear(result);
    return ok;
}
