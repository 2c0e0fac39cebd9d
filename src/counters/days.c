/*
 * days.c - the days that have a counter table in the directory, and their
 * removal after retention once the day's reports were built.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "table_impl.h"

/* "YYYY-MM-DD" + ".ctr" */
#define DAY_NAME_LEN (DAY_TEXT_SIZE - 1)
#define TABLE_NAME_LEN (DAY_NAME_LEN + sizeof(CTR_FILE_SUFFIX) - 1)
/* ".YYYY-MM-DD.ctr.XXXXXX": a creation that was interrupted (see table.c) */
#define TEMP_NAME_LEN (1 + TABLE_NAME_LEN + 7)

/* The day a name of the form YYYY-MM-DD<suffix> stands for, or -1. */
static int day_of_name(const char *name)
{
    char text[DAY_TEXT_SIZE];
    const char *error;
    int day;

    memcpy(text, name, DAY_NAME_LEN);
    text[DAY_NAME_LEN] = '\0';
    if (day_parse(text, &day, &error) < 0)
        return -1;
    return day;
}

/* The day of a table's file name "YYYY-MM-DD.ctr", or -1 for any other name. */
static int table_name_day(const char *name)
{
    if (strlen(name) != TABLE_NAME_LEN ||
        memcmp(name + DAY_NAME_LEN, CTR_FILE_SUFFIX, sizeof(CTR_FILE_SUFFIX) - 1) != 0)
        return -1;
    return day_of_name(name);
}

static int temp_name_day(const char *name)
{
    if (strlen(name) != TEMP_NAME_LEN || name[0] != '.' ||
        memcmp(name + 1 + DAY_NAME_LEN, CTR_FILE_SUFFIX ".", sizeof(CTR_FILE_SUFFIX)) != 0)
        return -1;
    return day_of_name(name + 1);
}

static int compare_days(const void *left, const void *right)
{
    int a = *(const int *)left;
    int b = *(const int *)right;

    return (a > b) - (a < b);
}

int ctr_list_days(const char *dir, int **days, char **error_r)
{
    struct dirent *entry;
    DIR *handle;
    int *list = NULL;
    size_t count = 0;
    size_t cap = 0;
    int day;

    if ((handle = opendir(dir)) == NULL) {
        *error_r = xasprintf("%s: cannot list counter tables: %s", dir, strerror(errno));
        return -1;
    }
    errno = 0;
    while ((entry = readdir(handle)) != NULL) {
        if ((day = table_name_day(entry->d_name)) < 0)
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 32;
            list = xreallocarray(list, cap, sizeof(*list));
        }
        list[count++] = day;
        errno = 0;
    }
    if (errno != 0 || count > INT_MAX) {
        *error_r = xasprintf("%s: cannot list counter tables: %s", dir,
                             errno != 0 ? strerror(errno) : "too many");
        (void)closedir(handle);
        free(list);
        return -1;
    }
    (void)closedir(handle);
    if (count > 1)
        qsort(list, count, sizeof(*list), compare_days);
    *days = list;
    return (int)count;
}

/* An interrupted creation leaves a temporary file; old ones are never finished. */
static void remove_stale_temp_files(const char *dir, int oldest_kept)
{
    struct dirent *entry;
    DIR *handle;
    char *path;
    int day;

    if ((handle = opendir(dir)) == NULL)
        return; /* ctr_list_days() already said why */
    while ((entry = readdir(handle)) != NULL) {
        if ((day = temp_name_day(entry->d_name)) < 0 || day >= oldest_kept)
            continue;
        path = path_join(dir, entry->d_name);
        if (unlink(path) < 0 && errno != ENOENT)
            msg_warn("%s: cannot remove: %s", path, strerror(errno));
        else
            msg_info("removed %s: unfinished counter table", path);
        free(path);
    }
    (void)closedir(handle);
}

int ctr_expire(const char *dir, int today, int retention_days)
{
    struct ctr_table *table;
    char text[DAY_TEXT_SIZE];
    char *error;
    char *path;
    int *days;
    int n_days;
    int oldest_kept;
    int removed = 0;
    bool reported;

    if (retention_days < 0) {
        msg_warn("ctr_expire: negative retention %d: nothing removed", retention_days);
        return 0;
    }
    oldest_kept = today - retention_days;
    if ((n_days = ctr_list_days(dir, &days, &error)) < 0) {
        msg_warn("%s", error);
        free(error);
        return 0;
    }
    for (int i = 0; i < n_days && days[i] < oldest_kept; i++) {
        if ((table = ctr_open(dir, days[i], CTR_READ_ONLY, NULL, &error)) == NULL) {
            msg_warn("%s; not removed", error);
            free(error);
            continue;
        }
        reported = ctr_table_reported(table);
        ctr_close(table);
        day_format(days[i], text);
        if (!reported) {
            msg_warn("counter table of %s is past retention but its reports were "
                     "never built: kept",
                     text);
            continue;
        }
        path = ctr_day_path(dir, days[i]);
        if (unlink(path) < 0) {
            msg_warn("%s: cannot remove: %s", path, strerror(errno));
        } else {
            msg_info("removed counter table %s (day %s, reported, older than %d days)", path, text,
                     retention_days);
            removed++;
        }
        free(path);
    }
    free(days);
    remove_stale_temp_files(dir, oldest_kept);
    return removed;
}
