/*
 * check_util.c - Check suite of the util module: buffers, UTC days, atomic
 * file writes and bounded reads, locks, the event loop, and the hash.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char *make_temp_dir(void)
{
    char template[] = "/tmp/check_util.XXXXXX";
    char *dir = mkdtemp(template);

    ck_assert_ptr_nonnull(dir);
    return xstrdup(dir);
}

START_TEST(test_buf_grows_and_terminates)
{
    struct buf b;

    buf_init(&b);
    ck_assert_str_eq(buf_cstr(&b), "");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i % 10);
    ck_assert_uint_eq(b.len, 2000);
    ck_assert_int_eq(b.data[b.len], '\0');
    buf_reset(&b);
    buf_append(&b, "a\0b", 3);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_int_eq(memcmp(b.data, "a\0b", 4), 0);
    char *stolen = buf_steal(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(stolen[2], 'b');
    free(stolen);
}
END_TEST

static const struct {
    const char *text;
    int day; /* -1: invalid */
} day_cases[] = {
    {"1970-01-01", 0},  {"1970-01-02", 1},   {"2024-02-29", 19782}, {"2026-11-22", 20779},
    {"2023-02-29", -1}, {"2026-13-01", -1},  {"2026-1-01", -1},     {"2026-01-01x", -1},
    {"", -1},           {"abcd-ef-gh", -1},  {"2026-04-31", -1},    {"+026-01-01", -1},
};

START_TEST(test_day_parse_format)
{
    const char *error;
    int day = -2;
    int status = day_parse(day_cases[_i].text, &day, &error);

    if (day_cases[_i].day < 0) {
        ck_assert_int_eq(status, -1);
    } else {
        char text[DAY_TEXT_SIZE];
        ck_assert_int_eq(status, 0);
        ck_assert_int_eq(day, day_cases[_i].day);
        day_format(day, text);
        ck_assert_str_eq(text, day_cases[_i].text);
    }
}
END_TEST

START_TEST(test_day_from_time)
{
    ck_assert_int_eq(day_from_time(0), 0);
    ck_assert_int_eq(day_from_time(86399), 0);
    ck_assert_int_eq(day_from_time(86400), 1);
    ck_assert_int_eq(day_from_time(-1), -1);
    ck_assert_int_eq((long)day_start(20779), 20779L * 86400);
}
END_TEST

/* A new file is never an old one, nor reached through a symlink; the whole directory syncs. */
START_TEST(test_file_write_new)
{
    char *dir = make_temp_dir(), *error = NULL;
    char *file = path_join(dir, "new"), *link_path = path_join(dir, "link");
    struct buf content = {0};

    ck_assert_int_eq(file_write_new(file, "first", 5, 0640, &error), 0);
    ck_assert_int_eq(file_write_new(file, "second", 6, 0640, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "File exists"));
    free(error);
    ck_assert_int_eq(file_read_all(file, 100, &content, &error), 0);
    ck_assert_str_eq(buf_cstr(&content), "first");
    ck_assert_int_eq(symlink(file, link_path), 0);
    ck_assert_int_eq(file_write_new(link_path, "x", 1, 0640, &error), -1);
    free(error);
    ck_assert_int_eq(dir_sync_all(dir, &error), 0);
    ck_assert_int_eq(dir_sync_all(file, &error), -1); /* not a directory */
    ck_assert_ptr_nonnull(strstr(error, file));
    free(error);
    buf_free(&content);
    char *cmd = xasprintf("rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(link_path);
    free(file);
    free(dir);
}
END_TEST

START_TEST(test_file_atomic_write_and_read)
{
    char *dir = make_temp_dir(), *error = NULL;
    char *sub = path_join(dir, "a/b/c");
    char *file = path_join(sub, "data");
    struct buf content;

    ck_assert_int_eq(dir_make(sub, 0750, &error), 0);
    ck_assert_int_eq(file_write_atomic(file, "hello", 5, 0600, &error), 0);
    buf_init(&content);
    ck_assert_int_eq(file_read_all(file, 100, &content, &error), 0);
    ck_assert_str_eq(buf_cstr(&content), "hello");
    /* Too large for the limit. */
    ck_assert_int_eq(file_read_all(file, 4, &content, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "too large"));
    free(error);
    /* A directory is not a file to read. */
    char *link_path = path_join(dir, "link");
    ck_assert_int_eq(symlink(sub, link_path), 0);
    ck_assert_int_eq(file_read_all(link_path, 100, &content, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "not a regular file"));
    free(error);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    buf_free(&content);
    char *cmd = xasprintf("rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(link_path);
    free(file);
    free(sub);
    free(dir);
}
END_TEST

START_TEST(test_file_lock_excludes)
{
    char *dir = make_temp_dir(), *error = NULL;
    char *path = path_join(dir, "lock");
    int fd = file_lock(path, &error);

    ck_assert_int_ge(fd, 0);
    /* flock locks belong to the open file description: a second open conflicts. */
    ck_assert_int_eq(file_lock(path, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "another instance"));
    free(error);
    close(fd);
    fd = file_lock(path, &error);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}
END_TEST

struct loop_test {
    struct loop *loop;
    int fired;
    int pipe_read;
    char got;
};

static void on_timer(void *context)
{
    struct loop_test *t = context;

    t->fired++;
    loop_stop(t->loop);
}

static void on_readable(int fd, void *context)
{
    struct loop_test *t = context;

    ck_assert_int_eq(read(fd, &t->got, 1), 1);
    loop_remove_fd(t->loop, fd);
    loop_timer(t->loop, 10, on_timer, t);
}

START_TEST(test_loop_fd_then_timer)
{
    struct loop_test t = {0};
    int fds[2];

    ck_assert_int_eq(pipe(fds), 0);
    t.loop = loop_create();
    loop_add_fd(t.loop, fds[0], on_readable, &t);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    int64_t start = clock_ms();
    loop_run(t.loop);
    ck_assert_int_eq(t.got, 'x');
    ck_assert_int_eq(t.fired, 1);
    ck_assert_int_ge(clock_ms() - start, 10);
    loop_destroy(t.loop);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_hash_spreads)
{
    ck_assert_uint_ne(hash64("a", 1, 0), hash64("b", 1, 0));
    ck_assert_uint_ne(hash64("a", 1, 0), hash64("a", 1, 1));
    ck_assert_uint_eq(hash64("example.com", 11, 7), hash64("example.com", 11, 7));
    ck_assert_uint_ne(hash64("", 0, 0), hash64("\0", 1, 0));
}
END_TEST

/* A repeating warning: the first, then one a minute saying how many were held back. */
START_TEST(test_msg_rate)
{
    struct msg_rate rate = {0};
    uint64_t held_back = 99;

    ck_assert(msg_rate_allow(&rate, 1000, &held_back));
    ck_assert_uint_eq(held_back, 0);
    ck_assert(!msg_rate_allow(&rate, 1000, &held_back));
    ck_assert(!msg_rate_allow(&rate, 1059, &held_back));
    ck_assert(msg_rate_allow(&rate, 1060, &held_back));
    ck_assert_uint_eq(held_back, 2);
    ck_assert(!msg_rate_allow(&rate, 1061, &held_back));
    ck_assert(msg_rate_allow(&rate, 990, &held_back)); /* the clock stepped back */
    ck_assert_uint_eq(held_back, 1);
}
END_TEST

static void *warn_elsewhere(void *unused)
{
    (void)unused;
    msg_warn("from another thread");
    return NULL;
}

/* Kept warnings: this thread's only, warnings only, "; " between, bounded. */
START_TEST(test_msg_keep_warnings)
{
    struct buf kept = {0};
    pthread_t thread;

    msg_setup("check_util", 0, 0); /* kept only: this test's thousand warnings go nowhere else */
    msg_keep_warnings(&kept);
    msg_info("not a warning");
    msg_warn("first %d", 1);
    ck_assert_int_eq(pthread_create(&thread, NULL, warn_elsewhere, NULL), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    msg_warn("second");
    msg_keep_warnings(NULL);
    msg_warn("after");
    ck_assert_str_eq(buf_cstr(&kept), "first 1; second");

    buf_reset(&kept);
    msg_keep_warnings(&kept);
    for (int i = 0; i < 1000; i++)
        msg_warn("%0100d", i);
    msg_keep_warnings(NULL);
    ck_assert_uint_ge(kept.len, 4096);
    ck_assert_uint_lt(kept.len, 4096 + 102);
    buf_free(&kept);
}
END_TEST

/* Command lines split as Postfix splits them: words, "{ grouped words }". */
static const struct {
    const char *text;
    int count; /* -1: refused */
    const char *joined; /* the words joined by "|" */
} argv_cases[] = {
    {"/bin/alert", 1, "/bin/alert"},
    {"  /bin/alert  -x\tfile  ", 3, "/bin/alert|-x|file"},
    {"/bin/alert { two words } last", 3, "/bin/alert|two words|last"},
    {"/bin/alert {} x", 3, "/bin/alert||x"},
    {"/bin/alert { open", -1, NULL},
    {"   ", -1, NULL},
    {"a b c d e f g h", -1, NULL}, /* over max - 1 = 7 words */
};

START_TEST(test_argv_split)
{
    char text[64], *argv[8], joined[128] = "";
    const char *error = NULL;

    snprintf(text, sizeof(text), "%s", argv_cases[_i].text);
    int n = argv_split(text, argv, 8, &error);
    ck_assert_int_eq(n, argv_cases[_i].count);
    if (n < 0) {
        ck_assert_ptr_nonnull(error);
        return;
    }
    ck_assert_ptr_null(argv[n]);
    for (int i = 0; i < n; i++)
        snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s", i ? "|" : "",
                 argv[i]);
    ck_assert_str_eq(joined, argv_cases[_i].joined);
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_buf_grows_and_terminates);
    tcase_add_loop_test(tc, test_day_parse_format, 0, (int)UTIL_ARRAY_LEN(day_cases));
    tcase_add_test(tc, test_day_from_time);
    tcase_add_test(tc, test_file_atomic_write_and_read);
    tcase_add_test(tc, test_file_write_new);
    tcase_add_test(tc, test_file_lock_excludes);
    tcase_add_test(tc, test_loop_fd_then_timer);
    tcase_add_test(tc, test_hash_spreads);
    tcase_add_test(tc, test_msg_rate);
    tcase_add_test(tc, test_msg_keep_warnings);
    tcase_add_loop_test(tc, test_argv_split, 0, (int)UTIL_ARRAY_LEN(argv_cases));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(util_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
