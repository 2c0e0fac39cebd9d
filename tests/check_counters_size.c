/*
 * check_counters_size.c - Check suite of the counter table's size: a day
 * with the default sizes counts a million distinct domains exactly (the
 * table grows by segments), stays small on disk while small, and files of
 * the fixed-size format (version 1) are still read and written.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "counters_fixture.h"
/* White-box: segments, and a version 1 file made from a new one. */
#include "../src/counters/table_impl.h"

/*
 * A million domains take ~3 s of CPU, ~11 s under the address sanitizer,
 * which therefore counts 300,000 (still 4 segments) unless
 * TLSRPT_TEST_DOMAINS says otherwise (never below 100,000).
 */
#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_DOMAINS 300000L
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_DOMAINS 300000L
#endif
#endif
#ifndef DEFAULT_DOMAINS
#define DEFAULT_DOMAINS 1000000L
#endif
#define MIN_DOMAINS 100000L

static long test_domains(void)
{
    const char *text = getenv("TLSRPT_TEST_DOMAINS");
    long n = text != NULL ? strtol(text, NULL, 10) : DEFAULT_DOMAINS;

    return n < MIN_DOMAINS ? MIN_DOMAINS : n;
}

static const struct tr_failure detail = {
    TR_RESULT_CERTIFICATE_EXPIRED, "192.0.2.1", "mx.example.net", NULL, NULL, NULL, NULL};

static void domain_name(long i, char name[32])
{
    snprintf(name, 32, "d%07ld.example", i);
}

/* The snapshot of one domain: its key, with the expected counts. */
static void assert_domain(struct ctr_table *table, long i, uint64_t success, uint64_t failure)
{
    char name[32];
    struct ctr_snapshot *snap;

    domain_name(i, name);
    snap = ctr_snapshot(table, name);
    ck_assert_uint_eq(snap->n_keys, 1);
    ck_assert_str_eq(snap->keys[0].domain, name);
    ck_assert_uint_eq(snap->keys[0].success, success);
    ck_assert_uint_eq(snap->keys[0].failure, failure);
    ck_assert_uint_eq(snap->keys[0].n_details, failure > 0);
    ck_assert_uint_eq(snap->n_overflow, 0);
    ctr_snapshot_free(snap);
}

/*
 * No sizes given (as the daemon with the default configuration): every
 * domain gets its key, each tenth a failure detail too, then each seventh
 * is counted again (found in whatever segment holds it). A reader that
 * opened the table while it was small sees every key.
 */
START_TEST(test_default_size_counts_exactly)
{
    long n = test_domains();
    uint64_t successes = 0, failures = 0;
    struct ctr_table *table;
    struct ctr_table *reader;
    struct ctr_stats stats;
    char *error = NULL;
    char name[32];

    table = ctr_open(test_dir, TEST_DAY, CTR_READ_WRITE, NULL, &error);
    ck_assert_msg(table != NULL, "ctr_open: %s", error ? error : "?");
    reader = open_or_fail(TEST_DAY, CTR_READ_ONLY, 0, 0);
    ck_assert_uint_eq(ctr_segments(table), 1);
    for (int round = 0; round < 2; round++) {
        for (long i = 0; i < n; i += round == 0 ? 1 : 7) {
            domain_name(i, name);
            ck_assert_int_eq(add_plain(table, name, i % 10 == 0, i % 10 == 0 ? &detail : NULL), 0);
            if (i % 10 == 0)
                failures++;
            else
                successes++;
        }
    }
    ctr_stats(table, &stats);
    ck_assert_uint_eq(stats.entries_used, (uint64_t)n + (uint64_t)(n + 9) / 10);
    ck_assert_uint_eq(stats.sessions_success, successes);
    ck_assert_uint_eq(stats.sessions_failure, failures);
    ck_assert_uint_eq(successes + failures, (uint64_t)n + (uint64_t)(n + 6) / 7);
    ck_assert_uint_eq(stats.overflow_events + stats.lost_events + stats.overflow_domains, 0);
    /* Well beyond what one segment of the default table holds (65,536 entries). */
    ck_assert_uint_gt(ctr_segments(table), 2);
    ck_assert_uint_eq(ctr_segments(reader), ctr_segments(table));
    /* Failures (each tenth) and successes, counted once or (each seventh) twice. */
    long samples[] = {0, 1, 7, 70, n / 2, n - 2, n - 1};
    for (size_t k = 0; k < UTIL_ARRAY_LEN(samples); k++) {
        long i = samples[k];
        uint64_t times = i % 7 == 0 ? 2 : 1;

        assert_domain(reader, i, i % 10 == 0 ? 0 : times, i % 10 == 0 ? times : 0);
    }
    ctr_close(reader);
    ctr_close(table);
}
END_TEST

/* Disk blocks of a file, in bytes. */
static uint64_t disk_use(const char *path)
{
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    return (uint64_t)st.st_blocks * 512;
}

/*
 * The default table is made at its largest size, but a day with little in
 * it takes a few megabytes of disk; blocks are reserved as it grows.
 */
START_TEST(test_default_size_is_sparse)
{
    char *path = ctr_day_path(test_dir, TEST_DAY);
    struct ctr_table *table;
    struct stat st;
    char *error = NULL;
    char name[32];
    uint64_t small;

    table = ctr_open(test_dir, TEST_DAY, CTR_READ_WRITE, NULL, &error);
    ck_assert_msg(table != NULL, "ctr_open: %s", error ? error : "?");
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_ge((uint64_t)st.st_size, (uint64_t)1 << 30);
    small = disk_use(path);
    ck_assert_msg(small <= (uint64_t)8 << 20, "a new table takes %llu bytes",
                  (unsigned long long)small);
    for (long i = 0; i < 70000; i++) {
        domain_name(i, name);
        ck_assert_int_eq(add_plain(table, name, false, NULL), 0);
    }
    /* One more segment (4 MiB of slots) and more arena: reserved, not a hole. */
    ck_assert_uint_eq(ctr_segments(table), 2);
    ck_assert_uint_ge(disk_use(path), small + ((uint64_t)4 << 20));
    ck_assert_uint_le(disk_use(path), (uint64_t)24 << 20);
    ctr_close(table);
    free(path);
}
END_TEST

/*
 * A version 1 file (one fixed segment, keys hashed as their encoding, as
 * made before the table grew): still opened, found and counted. It is made
 * here from a new empty table of the same sizes, whose layout is the same.
 */
START_TEST(test_version1_file)
{
    char *path = ctr_day_path(test_dir, TEST_DAY);
    struct ctr_table *table = open_or_fail(TEST_DAY, CTR_READ_WRITE, 100, 4096);
    struct ctr_file_header header;
    struct ctr_snapshot *snap;
    struct ctr_stats stats;
    int fd;

    ctr_close(table);
    ck_assert_int_ge(fd = open(path, O_RDWR), 0);
    ck_assert_int_eq(pread(fd, &header, sizeof(header), 0), sizeof(header));
    header.version = CTR_FORMAT_VERSION_FIXED;
    header.first_slots = 0;
    header.segments = 0;
    header.string_reserved = 0;
    ck_assert_int_eq(pwrite(fd, &header, sizeof(header), 0), sizeof(header));
    close(fd);

    table = open_or_fail(TEST_DAY, CTR_READ_WRITE, 0, 0);
    ck_assert(table->fixed);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(add_plain(table, "a.example", false, NULL), 0);
        ck_assert_int_eq(add_plain(table, "b.example", true, &detail), 0);
    }
    /* Filed under the hash of the encoding, as the old code looks them up. */
    for (uint32_t i = 0; i < ctr_slots_published(table); i++) {
        const unsigned char *bytes;
        uint32_t length;

        if (table->slots[i].hash == 0)
            continue;
        ck_assert_ptr_nonnull(bytes = ctr_slot_encoding(table, &table->slots[i], &length));
        ck_assert_uint_eq(table->slots[i].hash, ctr_hash(table, bytes, length));
    }
    ctr_stats(table, &stats);
    ck_assert_uint_eq(stats.entries_used, 3);
    ck_assert_uint_eq(stats.sessions_success, 3);
    ck_assert_uint_eq(stats.sessions_failure, 3);
    snap = ctr_snapshot(table, "b.example");
    ck_assert_uint_eq(snap->n_keys, 1);
    ck_assert_uint_eq(snap->keys[0].n_details, 1);
    ck_assert_uint_eq(snap->keys[0].details[0].count, 3);
    ctr_snapshot_free(snap);
    ctr_close(table);
    free(path);
}
END_TEST

static Suite *counters_size_suite(void)
{
    Suite *suite = suite_create("counters_size");
    /* Generous: a loaded machine stretches the wall-clock time several-fold. */
    TCase *big = counters_tcase(suite, "big", 300);
    TCase *files = counters_tcase(suite, "files", 20);

    tcase_add_test(big, test_default_size_counts_exactly);
    tcase_add_test(files, test_default_size_is_sparse);
    tcase_add_test(files, test_version1_file);
    return suite;
}

int main(void)
{
    return counters_run_suite(counters_size_suite(), "check_counters_size");
}
