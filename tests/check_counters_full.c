/*
 * check_counters_full.c - Check suite of a counter table that cannot grow
 * because its disk is full: a 20 MB tmpfs of its own (a mount namespace;
 * skipped, exit 77, where one cannot be made). Keys already there go on
 * counting, new ones go to the overflow records, nothing is lost silently.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "counters_fixture.h"
/* White-box: how many segments the table has. */
#include "../src/counters/table_impl.h"

#define DISK_SIZE "20m"
/*
 * Segments 0 and 1 of a default table hold 131,072 entries: 8 MiB of slots,
 * 0.5 MiB of overflow records and ~7 MB of arena fit in 20 MB; segment 2
 * (8 MiB more) does not.
 */
#define FITTING_KEYS 131072L

static void domain_name(long i, char name[32])
{
    snprintf(name, 32, "d%07ld.example", i);
}

START_TEST(test_disk_full_growth)
{
    struct ctr_table *table;
    struct ctr_stats stats;
    struct ctr_snapshot *snap;
    char *error = NULL;
    char name[32];

    ck_assert_int_eq(mount("tmpfs", test_dir, "tmpfs", 0, "size=" DISK_SIZE), 0);
    table = ctr_open(test_dir, TEST_DAY, CTR_READ_WRITE, NULL, &error);
    ck_assert_msg(table != NULL, "ctr_open: %s", error ? error : "?");
    for (long i = 0; i < FITTING_KEYS; i++) {
        domain_name(i, name);
        ck_assert_int_eq(add_plain(table, name, false, NULL), 0);
    }
    ck_assert_uint_eq(ctr_segments(table), 2);
    /* The next key needs segment 2: no room on the disk, so it is counted per domain. */
    ck_assert_int_eq(add_plain(table, "new.example", false, NULL), 1);
    ck_assert_int_eq(add_plain(table, "new.example", false, NULL), 1);
    ck_assert_uint_eq(ctr_segments(table), 2);
    /* Known keys still count, in every segment. */
    ck_assert_int_eq(add_plain(table, "d0000000.example", false, NULL), 0);
    ck_assert_int_eq(add_plain(table, "d0131071.example", false, NULL), 0);
    ctr_stats(table, &stats);
    ck_assert_uint_eq(stats.entries_used, FITTING_KEYS);
    ck_assert_uint_eq(stats.sessions_success, FITTING_KEYS + 2);
    ck_assert_uint_eq(stats.overflow_events, 2);
    ck_assert_uint_eq(stats.overflow_domains, 1);
    ck_assert_uint_eq(stats.lost_events, 0);
    ctr_close(table);

    /* The file is whole: a reader sees the same. */
    table = open_or_fail(TEST_DAY, CTR_READ_ONLY, 0, 0);
    snap = ctr_snapshot(table, "new.example");
    ck_assert_uint_eq(snap->n_keys, 0);
    ck_assert_uint_eq(snap->n_overflow, 1);
    ck_assert_uint_eq(snap->overflow[0].events, 2);
    ctr_snapshot_free(snap);
    snap = ctr_snapshot(table, "d0131071.example");
    ck_assert_uint_eq(snap->n_keys, 1);
    ck_assert_uint_eq(snap->keys[0].success, 2);
    ctr_snapshot_free(snap);
    ctr_close(table);
    ck_assert_int_eq(umount(test_dir), 0);
}
END_TEST

/* Whether a tmpfs can be mounted here (a container may forbid it): the reason if not. */
static const char *try_mount(char *reason, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/check_counters_full.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    const char *result = NULL;

    if (mkdtemp(dir) == NULL) {
        snprintf(reason, size, "mkdtemp %s: %s", dir, strerror(errno));
        result = reason;
    } else {
        if (mount("tmpfs", dir, "tmpfs", 0, "size=" DISK_SIZE) < 0) {
            snprintf(reason, size, "cannot mount a tmpfs: %s", strerror(errno));
            result = reason;
        } else if (umount(dir) < 0) {
            msg_fatal("umount %s: %m", dir);
        }
        (void)rmdir(dir);
    }
    free(dir);
    return result;
}

/* A mount namespace of our own: as root, or as the root of a user namespace. */
static const char *private_mounts(void)
{
    static char reason[160];
    uid_t uid = getuid();
    gid_t gid = getgid();
    char map[64];
    int fd;

    if (unshare(CLONE_NEWNS) == 0)
        goto made;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
        snprintf(reason, sizeof(reason), "cannot make a mount namespace: %s", strerror(errno));
        return reason;
    }
    /* Map ourselves to root in it: "deny" setgroups first, as the kernel wants. */
    if ((fd = open("/proc/self/setgroups", O_WRONLY)) >= 0) {
        (void)!write(fd, "deny", 4);
        close(fd);
    }
    snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
    if ((fd = open("/proc/self/uid_map", O_WRONLY)) < 0 || write(fd, map, strlen(map)) < 0) {
        snprintf(reason, sizeof(reason), "cannot map the user namespace: %s", strerror(errno));
        return reason;
    }
    close(fd);
    snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
    if ((fd = open("/proc/self/gid_map", O_WRONLY)) >= 0) {
        (void)!write(fd, map, strlen(map));
        close(fd);
    }
made:
    /* Our mounts must not propagate to the rest of the system. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        snprintf(reason, sizeof(reason), "cannot make mounts private: %s", strerror(errno));
        return reason;
    }
    return try_mount(reason, sizeof(reason));
}

int main(void)
{
    const char *why = private_mounts();
    Suite *suite;

    if (why != NULL) {
        printf("SKIP: a disk-full table needs a small tmpfs: %s\n", why);
        return 77;
    }
    suite = suite_create("counters_full");
    tcase_add_test(counters_tcase(suite, "full", 60), test_disk_full_growth);
    return counters_run_suite(suite, "check_counters_full");
}
