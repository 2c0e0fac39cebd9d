/*
 * output.c - output helpers of the tlsrpt command: aligned text tables for
 * people, JSON (json-c) for scripts, and day arguments.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core.h"

struct table {
    size_t columns;
    char **cells; /* rows * columns */
    size_t rows, cap_rows;
};

struct table *table_create(size_t columns)
{
    struct table *table = xcalloc(1, sizeof(*table));

    table->columns = columns;
    return table;
}

void table_row(struct table *table, ...)
{
    va_list ap;

    if (table->rows == table->cap_rows) {
        table->cap_rows = table->cap_rows ? table->cap_rows * 2 : 16;
        table->cells =
            xreallocarray(table->cells, table->cap_rows * table->columns, sizeof(char *));
    }
    va_start(ap, table);
    for (size_t c = 0; c < table->columns; c++) {
        const char *cell = va_arg(ap, const char *);
        table->cells[table->rows * table->columns + c] = xstrdup(cell ? cell : "");
    }
    va_end(ap);
    table->rows++;
}

void table_print(struct table *table, FILE *out, const char *indent)
{
    size_t *width = xcalloc(table->columns, sizeof(size_t));

    for (size_t r = 0; r < table->rows; r++)
        for (size_t c = 0; c < table->columns; c++) {
            size_t len = strlen(table->cells[r * table->columns + c]);
            if (len > width[c])
                width[c] = len;
        }
    for (size_t r = 0; r < table->rows; r++) {
        fputs(indent, out);
        for (size_t c = 0; c < table->columns; c++) {
            const char *cell = table->cells[r * table->columns + c];
            if (c + 1 == table->columns)
                fprintf(out, "%s\n", cell);
            else
                fprintf(out, "%-*s  ", (int)width[c], cell);
        }
    }
    free(width);
}

void table_free(struct table *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < table->rows * table->columns; i++)
        free(table->cells[i]);
    free(table->cells);
    free(table);
}

void json_print(json_object *value, FILE *out)
{
    fprintf(out, "%s\n",
            json_object_to_json_string_ext(value, JSON_C_TO_STRING_PRETTY |
                                                      JSON_C_TO_STRING_SPACED |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(value);
}

int cli_parse_day(const char *text)
{
    const char *error;
    int day;

    if (strcmp(text, "today") == 0)
        return day_today();
    if (strcmp(text, "yesterday") == 0)
        return day_today() - 1;
    if (day_parse(text, &day, &error) < 0)
        msg_fatal("--day %s: %s", text, error);
    return day;
}

char *cli_parse_domain(const char *text)
{
    const char *why;
    char *domain = xstrdup(text);

    if (tr_domain_normalize(domain, &why) < 0)
        msg_fatal("--domain %s: %s", text, why);
    return domain;
}
