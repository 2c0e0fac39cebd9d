/*
 * cache.c - the MTA-STS policy cache: a hash map by domain with a list by
 * last use (least recently used evicted past sts_cache_entries), mirrored
 * one file per domain in $state_directory/sts so it survives a restart.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "policy.h"
#include "policy_impl.h"
#include "util.h"

#define SUFFIX ".sts"
#define FILE_MAX (POL_BODY_MAX + 4096)

static char *entry_path(const struct pol_cache *cache, const char *domain)
{
    char *name = xasprintf("%s" SUFFIX, domain);
    char *path = path_join(cache->dir, name);
    free(name);
    return path;
}

static void unlink_lists(struct pol_cache *cache, struct pol_entry *entry)
{
    struct pol_entry **link = &cache->buckets[entry->hash & (cache->n_buckets - 1)];

    while (*link != entry)
        link = &(*link)->next_in_bucket;
    *link = entry->next_in_bucket;
    if (entry->older)
        entry->older->newer = entry->newer;
    else
        cache->oldest = entry->newer;
    if (entry->newer)
        entry->newer->older = entry->older;
    else
        cache->newest = entry->older;
    cache->n_entries--;
}

static void link_newest(struct pol_cache *cache, struct pol_entry *entry)
{
    entry->newer = NULL;
    entry->older = cache->newest;
    if (cache->newest)
        cache->newest->newer = entry;
    else
        cache->oldest = entry;
    cache->newest = entry;
}

static void insert(struct pol_cache *cache, struct pol_entry *entry)
{
    struct pol_entry **bucket;

    entry->hash = hash64(entry->domain, strlen(entry->domain), 0);
    bucket = &cache->buckets[entry->hash & (cache->n_buckets - 1)];
    entry->next_in_bucket = *bucket;
    *bucket = entry;
    link_newest(cache, entry);
    cache->n_entries++;
}

struct pol_entry *pol_cache_find(struct pol_cache *cache, const char *domain)
{
    uint64_t hash = hash64(domain, strlen(domain), 0);

    for (struct pol_entry *e = cache->buckets[hash & (cache->n_buckets - 1)]; e;
         e = e->next_in_bucket)
        if (e->hash == hash && strcmp(e->domain, domain) == 0)
            return e;
    return NULL;
}

int pol_cache_remove(struct pol_cache *cache, struct pol_entry *entry, char **error_r)
{
    char *path = entry_path(cache, entry->domain);
    int status = 0;

    if (unlink(path) < 0 && errno != ENOENT) {
        *error_r = xasprintf("unlink %s: %s", path, strerror(errno));
        status = -1;
    }
    free(path);
    unlink_lists(cache, entry);
    pol_entry_clear(entry);
    free(entry);
    return status;
}

/* Removes the least recently used entry nobody is fetching; false when there is none. */
static bool evict(struct pol_cache *cache)
{
    struct pol_entry *victim = cache->oldest;
    char *error;

    while (victim && victim->fetching)
        victim = victim->newer;
    if (victim == NULL)
        return false;
    if (pol_cache_remove(cache, victim, &error) < 0) {
        msg_warn("MTA-STS cache: %s", error);
        free(error);
    }
    return true;
}

struct pol_entry *pol_cache_add(struct pol_cache *cache, const char *domain)
{
    /* Entries being fetched stay: the cache may then briefly hold more. */
    while (cache->n_entries >= cache->max_entries && evict(cache))
        ;
    struct pol_entry *entry = xcalloc(1, sizeof(*entry));
    entry->domain = xstrdup(domain);
    insert(cache, entry);
    return entry;
}

void pol_cache_touch(struct pol_cache *cache, struct pol_entry *entry, time_t now)
{
    entry->last_used = now;
    if (cache->newest == entry)
        return;
    if (entry->older)
        entry->older->newer = entry->newer;
    else
        cache->oldest = entry->newer;
    entry->newer->older = entry->older;
    link_newest(cache, entry);
}

void pol_cache_file_make(const struct pol_cache *cache, const struct pol_entry *entry,
                         struct pol_cache_file *file)
{
    file->path = entry_path(cache, entry->domain);
    buf_init(&file->text);
    pol_entry_format(entry, &file->text);
}

void pol_cache_file_write(struct pol_cache_file *file)
{
    char *error;

    if (file_write_atomic(file->path, file->text.data, file->text.len, 0640, &error) < 0) {
        msg_error("MTA-STS cache: %s", error);
        free(error);
    }
    buf_free(&file->text);
    free(file->path);
    file->path = NULL;
}

void pol_cache_save(struct pol_cache *cache, const struct pol_entry *entry)
{
    struct pol_cache_file file;

    pol_cache_file_make(cache, entry, &file);
    pol_cache_file_write(&file);
}

static void load_file(struct pol_cache *cache, const char *name)
{
    size_t len = strlen(name), domain_len = len - strlen(SUFFIX);
    char *path = path_join(cache->dir, name), *error = NULL;
    struct buf text = {0};
    struct pol_entry loaded;

    if (len <= strlen(SUFFIX) || strcmp(name + domain_len, SUFFIX) != 0 ||
        !tr_hostname_ok(name, domain_len))
        goto done; /* not ours (or a temporary file of an interrupted write) */
    if (file_read_all(path, FILE_MAX, &text, &error) < 0 ||
        pol_entry_parse(text.data, text.len, &loaded, &error) < 0) {
        char *aside = xasprintf("%s.damaged", path);
        msg_warn("MTA-STS cache: %s: %s; moved aside to %s", path, error, aside);
        (void)rename(path, aside);
        free(aside);
        goto done;
    }
    if (strlen(loaded.domain) != domain_len || strncmp(loaded.domain, name, domain_len) != 0 ||
        pol_cache_find(cache, loaded.domain) != NULL) {
        msg_warn("MTA-STS cache: %s: holds domain %s; ignored", path, loaded.domain);
        pol_entry_clear(&loaded);
        goto done;
    }
    if (cache->n_entries >= cache->max_entries) {
        pol_entry_clear(&loaded);
        goto done;
    }
    struct pol_entry *entry = xmalloc(sizeof(*entry));
    *entry = loaded;
    insert(cache, entry);
done:
    free(error);
    buf_free(&text);
    free(path);
}

static int by_last_use(const void *a, const void *b)
{
    const struct pol_entry *x = *(struct pol_entry *const *)a, *y = *(struct pol_entry *const *)b;
    return (x->last_used > y->last_used) - (x->last_used < y->last_used);
}

void pol_cache_open(struct pol_cache *cache, const char *dir, size_t max_entries)
{
    DIR *handle;
    struct dirent *d;

    memset(cache, 0, sizeof(*cache));
    cache->dir = xstrdup(dir);
    cache->max_entries = max_entries;
    cache->n_buckets = 64;
    while (cache->n_buckets < max_entries && cache->n_buckets < (1u << 20))
        cache->n_buckets <<= 1;
    cache->buckets = xcalloc(cache->n_buckets, sizeof(*cache->buckets));
    if ((handle = opendir(dir)) == NULL) {
        msg_warn("MTA-STS cache: opendir %s: %s", dir, strerror(errno));
        return;
    }
    while ((d = readdir(handle)) != NULL)
        load_file(cache, d->d_name);
    closedir(handle);
    /* The use list in the order of last use, as it was before the restart. */
    if (cache->n_entries < 2)
        return;
    struct pol_entry **all = xcalloc(cache->n_entries, sizeof(*all));
    size_t n = 0;
    for (struct pol_entry *e = cache->oldest; e; e = e->newer)
        all[n++] = e;
    qsort(all, n, sizeof(*all), by_last_use);
    cache->oldest = cache->newest = NULL;
    for (size_t i = 0; i < n; i++)
        link_newest(cache, all[i]);
    free(all);
}

void pol_cache_close(struct pol_cache *cache)
{
    while (cache->oldest) {
        struct pol_entry *entry = cache->oldest;
        unlink_lists(cache, entry);
        pol_entry_clear(entry);
        free(entry);
    }
    free(cache->buckets);
    free(cache->dir);
    memset(cache, 0, sizeof(*cache));
}
