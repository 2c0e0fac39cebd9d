/*
 * spool_fixture.h - what the outbox's Check suites share: a temporary
 * outbox, a day of reports made from their numbers, and the records of a
 * day's state.log counted by type.
 */
#ifndef TLSRPT_SPOOL_FIXTURE_H
#define TLSRPT_SPOOL_FIXTURE_H

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/spool/spool_impl.h"
#include "spool.h"
#include "util.h"

#define FIXTURE_DAY 20000 /* 2024-10-04 */

static char fixture_dir[] = "/tmp/check_outbox.XXXXXX";

static inline struct spool *fixture_open(void)
{
    char *error = NULL;
    char *outbox = path_join(fixture_dir, "outbox");
    struct spool *spool = spool_open(outbox, &error);

    ck_assert_msg(spool != NULL, "%s", error);
    free(outbox);
    return spool;
}

static inline void fixture_setup(void)
{
    strcpy(fixture_dir, "/tmp/check_outbox.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fixture_dir));
}

static inline void fixture_teardown(void)
{
    dir_remove_tree(fixture_dir);
}

/* Report i of the day: one destination, two when i is odd. */
static inline void fixture_entry(int i, struct spool_entry *entry)
{
    memset(entry, 0, sizeof(*entry));
    entry->unique_id = xasprintf("%016x", i + 1);
    entry->report_id = xasprintf("2024-10-04T00:00:00Z_d%d.example", i);
    entry->policy_domain = xasprintf("d%d.example", i);
    entry->file_name = xasprintf("sender.example!d%d.example!1727999999!%016x.json.gz", i, i + 1);
    entry->record = xasprintf("v=TLSRPTv1; rua=mailto:r@d%d.example", i);
    entry->day = FIXTURE_DAY;
    entry->created = 1728086400 + i;
    entry->send_after = 1728090000 + i;
    entry->successes = (uint64_t)i * 3;
    entry->failures = (uint64_t)i % 7;
    char *uri = xasprintf("mailto:r@d%d.example", i);
    spool_entry_add_destination(entry, uri);
    free(uri);
    if (i % 2) {
        uri = xasprintf("https://d%d.example/tlsrpt", i);
        spool_entry_add_destination(entry, uri);
        free(uri);
    }
}

static inline char *fixture_json(int i)
{
    return xasprintf("{\"report\": %d, \"policy-domain\": \"d%d.example\", \"pad\": \"%0*d\"}", i,
                     i, 10 + i % 50, i);
}

static inline void fixture_build(struct spool *spool, int n)
{
    char *error = NULL;
    struct spool_day *txn = spool_day_begin(spool, FIXTURE_DAY, &error);

    ck_assert_msg(txn != NULL, "%s", error);
    for (int i = 0; i < n; i++) {
        struct spool_entry entry;
        fixture_entry(i, &entry);
        char *json = fixture_json(i);
        ck_assert_int_eq(spool_day_add(txn, &entry, json, strlen(json), &error), 0);
        free(json);
        spool_entry_free(&entry);
    }
    ck_assert_msg(spool_day_commit(txn, &error) == 0, "%s", error);
}

static inline char *fixture_path(const char *name)
{
    return xasprintf("%s/outbox/2024-10-04/%s", fixture_dir, name);
}

/* The listed entry of report i ("d<i>.example"), or NULL. */
static inline struct spool_entry *fixture_find(struct spool_entry *entries, size_t n, int i)
{
    char domain[64];

    snprintf(domain, sizeof(domain), "d%d.example", i);
    for (size_t k = 0; k < n; k++)
        if (strcmp(entries[k].policy_domain, domain) == 0)
            return &entries[k];
    return NULL;
}

/* Both entries' state texts, without where the JSON is (the spool sets that). */
static inline void fixture_assert_same(const struct spool_entry *expected,
                                       const struct spool_entry *got)
{
    struct spool_entry a = *expected, b = *got;
    struct buf x = {0}, y = {0};

    a.report_offset = b.report_offset = a.report_length = b.report_length = 0;
    a.report_crc = b.report_crc = 0;
    spool_state_format(&a, &x);
    spool_state_format(&b, &y);
    ck_assert_str_eq(buf_cstr(&x), buf_cstr(&y));
    buf_free(&x);
    buf_free(&y);
}

struct fixture_counts {
    int base, state, gone;
};

static inline void fixture_count(char type, uint64_t offset, const unsigned char *payload,
                                 uint32_t len, void *context)
{
    struct fixture_counts *counts = context;

    (void)offset;
    (void)payload;
    (void)len;
    counts->base += type == SPOOL_RECORD_BASE;
    counts->state += type == SPOOL_RECORD_STATE;
    counts->gone += type == SPOOL_RECORD_GONE;
}

/* The good records of the day's state.log, by type, as "H S D". */
static inline char *fixture_records(void)
{
    char *path = fixture_path(SPOOL_LOG_FILE), *error = NULL;
    struct buf text = {0};
    struct fixture_counts counts = {0};

    ck_assert_msg(file_read_all(path, 1024 * 1024 * 1024, &text, &error) == 0, "%s", error);
    spool_log_scan((const unsigned char *)text.data, 0, text.len, path, fixture_count, &counts);
    buf_free(&text);
    free(path);
    return xasprintf("%d %d %d", counts.base, counts.state, counts.gone);
}

static inline off_t fixture_size(const char *name)
{
    char *path = fixture_path(name);
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    free(path);
    return st.st_size;
}

#endif
