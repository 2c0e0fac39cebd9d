/*
 * suppress.c - the suppression list: one line per destination,
 * "until<TAB>failures<TAB>manual<TAB>uri", in a file replaced whole on
 * every change. A destination is suppressed while `until` is in the future.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "spool.h"

#define SUPPRESS_MAX_FILE (4 * 1024 * 1024)

void spool_suppressions_free(struct spool_suppressions *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i].uri);
    free(list->items);
    free(list->path);
    memset(list, 0, sizeof(*list));
}

struct spool_suppression *spool_suppression_find(struct spool_suppressions *list,
                                                 const char *uri, bool create)
{
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->items[i].uri, uri) == 0)
            return &list->items[i];
    if (!create)
        return NULL;
    list->items = xreallocarray(list->items, list->n + 1, sizeof(*list->items));
    list->items[list->n] = (struct spool_suppression){.uri = xstrdup(uri)};
    return &list->items[list->n++];
}

bool spool_suppressed(const struct spool_suppressions *list, const char *uri, time_t now)
{
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->items[i].uri, uri) == 0)
            return list->items[i].until > now;
    return false;
}

int spool_suppressions_load(const char *path, struct spool_suppressions *list, char **error_r)
{
    struct buf text;
    char *error;
    int lineno = 0;

    memset(list, 0, sizeof(*list));
    list->path = xstrdup(path);
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0; /* no list yet: nothing suppressed */
    buf_init(&text);
    if (file_read_all(path, SUPPRESS_MAX_FILE, &text, &error) < 0) {
        *error_r = error;
        buf_free(&text);
        return -1;
    }
    for (char *line = (char *)buf_cstr(&text), *next; *line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        else
            next = line + strlen(line);
        int64_t until;
        int failures, manual, consumed = 0;
        if (sscanf(line, "%" SCNd64 "\t%d\t%d\t%n", &until, &failures, &manual, &consumed) != 3 ||
            consumed == 0 || line[consumed] == '\0') {
            *error_r = xasprintf("%s:%d: malformed suppression line", path, lineno);
            buf_free(&text);
            spool_suppressions_free(list);
            return -1;
        }
        struct spool_suppression *s = spool_suppression_find(list, line + consumed, true);
        s->until = (time_t)until;
        s->failures_in_a_row = failures;
        s->manual = manual != 0;
    }
    buf_free(&text);
    return 0;
}

int spool_suppressions_save(struct spool_suppressions *list, char **error_r)
{
    struct buf text;

    buf_init(&text);
    for (size_t i = 0; i < list->n; i++) {
        const struct spool_suppression *s = &list->items[i];
        /* Forgotten once nothing is left to remember. */
        if (s->until == 0 && s->failures_in_a_row == 0)
            continue;
        buf_printf(&text, "%" PRId64 "\t%d\t%d\t%s\n", (int64_t)s->until, s->failures_in_a_row,
                   s->manual ? 1 : 0, s->uri);
    }
    int result = file_write_atomic(list->path, text.data ? text.data : "", text.len, 0640,
                                   error_r);
    buf_free(&text);
    return result;
}

int spool_suppression_update(const char *path, const char *uri,
                             spool_suppression_change_fn *change, void *context, char **error_r)
{
    struct spool_suppressions list;
    char *lock_path = xasprintf("%s.lock", path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640), result = -1;

    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        *error_r = xasprintf("lock %s: %s", lock_path, strerror(errno));
    } else if (spool_suppressions_load(path, &list, error_r) == 0) {
        change(spool_suppression_find(&list, uri, true), context);
        result = spool_suppressions_save(&list, error_r);
        spool_suppressions_free(&list);
    }
    if (fd >= 0)
        close(fd); /* releases the lock */
    free(lock_path);
    return result;
}
