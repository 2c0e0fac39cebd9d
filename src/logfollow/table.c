/*
 * table.c - the bounded LRU table of the log parsers: a hash table from a
 * byte-string key (a process, a relay, a queue id) to a format's data, whose
 * least recently used entry is dropped when it is full, and whose entries
 * idle for too long in log time can be taken out.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lf_impl.h"
#include "util.h"

struct lf_entry {
    struct lf_entry *hash_next;
    struct lf_entry *older, *newer;
    void *data;
    time_t touched; /* log time of the last get or put */
    uint64_t hash;
    size_t key_len;
    char key[];
};

struct lf_table {
    struct lf_parser *parser;
    size_t max, count, n_buckets;
    time_t idle;
    lf_drop_fn *drop;
    struct lf_entry **buckets;
    struct lf_entry *oldest, *newest;
};

struct lf_table *lf_table_create(struct lf_parser *parser, size_t max, time_t idle,
                                 lf_drop_fn *drop)
{
    struct lf_table *table = xcalloc(1, sizeof(*table));

    table->parser = parser;
    table->max = max > 0 ? max : 1;
    table->idle = idle;
    table->drop = drop;
    table->n_buckets = 64;
    while (table->n_buckets < table->max && table->n_buckets < ((size_t)1 << 20))
        table->n_buckets <<= 1;
    table->buckets = xcalloc(table->n_buckets, sizeof(*table->buckets));
    return table;
}

static void lru_unlink(struct lf_table *table, struct lf_entry *entry)
{
    if (entry->older != NULL)
        entry->older->newer = entry->newer;
    else
        table->oldest = entry->newer;
    if (entry->newer != NULL)
        entry->newer->older = entry->older;
    else
        table->newest = entry->older;
    entry->older = entry->newer = NULL;
}

static void lru_push(struct lf_table *table, struct lf_entry *entry)
{
    entry->older = table->newest;
    entry->newer = NULL;
    if (table->newest != NULL)
        table->newest->newer = entry;
    else
        table->oldest = entry;
    table->newest = entry;
}

static struct lf_entry **table_slot(struct lf_table *table, const char *key, size_t key_len,
                                    uint64_t hash)
{
    struct lf_entry **slot = &table->buckets[hash & (table->n_buckets - 1)];

    while (*slot != NULL && ((*slot)->hash != hash || (*slot)->key_len != key_len ||
                             memcmp((*slot)->key, key, key_len) != 0))
        slot = &(*slot)->hash_next;
    return slot;
}

static void *table_remove(struct lf_table *table, struct lf_entry *entry)
{
    struct lf_entry **slot = table_slot(table, entry->key, entry->key_len, entry->hash);
    void *data = entry->data;

    *slot = entry->hash_next;
    lru_unlink(table, entry);
    table->count--;
    free(entry);
    return data;
}

void lf_table_destroy(struct lf_table *table)
{
    void *data;

    if (table == NULL)
        return;
    while (table->oldest != NULL) {
        data = table_remove(table, table->oldest);
        if (table->drop != NULL)
            table->drop(table->parser, data, false);
    }
    free(table->buckets);
    free(table);
}

void *lf_table_get(struct lf_table *table, const char *key, size_t key_len)
{
    struct lf_entry *entry = *table_slot(table, key, key_len, hash64(key, key_len, 0));

    if (entry == NULL)
        return NULL;
    lru_unlink(table, entry);
    lru_push(table, entry);
    entry->touched = table->parser->log_time;
    return entry->data;
}

void lf_table_put(struct lf_table *table, const char *key, size_t key_len, void *data)
{
    lf_table_put_touched(table, key, key_len, data, table->parser->log_time);
}

void lf_table_put_touched(struct lf_table *table, const char *key, size_t key_len, void *data,
                          time_t touched)
{
    uint64_t hash = hash64(key, key_len, 0);
    struct lf_entry *entry;
    void *old;

    if (table->count >= table->max) {
        old = table_remove(table, table->oldest);
        if (table->drop == NULL || table->drop(table->parser, old, true))
            lf_reject(table->parser, LF_REJECT_TOO_MANY);
    }
    entry = xmalloc(sizeof(*entry) + key_len);
    memcpy(entry->key, key, key_len);
    entry->key_len = key_len;
    entry->hash = hash;
    entry->data = data;
    entry->touched = touched;
    entry->hash_next = table->buckets[hash & (table->n_buckets - 1)];
    table->buckets[hash & (table->n_buckets - 1)] = entry;
    lru_push(table, entry);
    table->count++;
}

void *lf_table_take(struct lf_table *table, const char *key, size_t key_len)
{
    struct lf_entry *entry = *table_slot(table, key, key_len, hash64(key, key_len, 0));

    return entry == NULL ? NULL : table_remove(table, entry);
}

void *lf_table_take_oldest(struct lf_table *table)
{
    return table->oldest == NULL ? NULL : table_remove(table, table->oldest);
}

void *lf_table_take_idle(struct lf_table *table)
{
    const struct lf_entry *oldest = table->oldest;

    /* Written so that it cannot overflow whatever times a log holds. */
    if (oldest == NULL || table->parser->log_time <= oldest->touched ||
        table->parser->log_time - oldest->touched <= table->idle)
        return NULL;
    return table_remove(table, table->oldest);
}

void lf_table_visit(struct lf_table *table, lf_visit_fn *visit, void *context)
{
    struct lf_entry *entry = table->oldest, *newer;

    while (entry != NULL) {
        newer = entry->newer;
        if (!visit(entry->key, entry->key_len, entry->touched, entry->data, context))
            (void)table_remove(table, entry);
        entry = newer;
    }
}

size_t lf_table_count(const struct lf_table *table)
{
    return table->count;
}
