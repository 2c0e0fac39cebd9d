/*
 * check_ctl.c - the control socket's request reader on a real non-blocking
 * socket pair: one line per request, its length bounded wherever the
 * newline falls, and replies that stay one line per attribute.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

static int fds[2];
static struct buf line;

static void setup(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ck_assert_int_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    buf_init(&line);
}

static void teardown(void)
{
    buf_free(&line);
    close(fds[0]);
    close(fds[1]);
}

/* The client sends `len` bytes of `c`, then `tail`; the reader reads what is there. */
static int send_and_read(size_t len, int c, const char *tail)
{
    char *data = xmalloc(len + strlen(tail) + 1);

    memset(data, c, len);
    strcpy(data + len, tail);
    ck_assert_int_eq(write(fds[1], data, strlen(data)), (ssize_t)strlen(data));
    free(data);
    return ctl_read_request(fds[0], &line);
}

START_TEST(test_request_in_pieces)
{
    ck_assert_int_eq(send_and_read(0, 0, "sta"), 0);
    ck_assert_int_eq(send_and_read(0, 0, "tus\r\n"), 1);
    ck_assert_str_eq(line.data, "status");
    ck_assert_uint_eq(line.len, 6);
}
END_TEST

START_TEST(test_request_at_the_limit)
{
    ck_assert_int_eq(send_and_read(CTL_MAX_REQUEST, 'a', "\n"), 1);
    ck_assert_uint_eq(line.len, CTL_MAX_REQUEST);
}
END_TEST

/* Found by fuzz_ctl_request: the newline in the piece after the limit was accepted. */
START_TEST(test_request_over_the_limit_newline_later)
{
    ck_assert_int_eq(send_and_read(CTL_MAX_REQUEST - 4, 'a', ""), 0);
    ck_assert_int_eq(send_and_read(100, 'b', "\n"), -1);
}
END_TEST

START_TEST(test_request_over_the_limit_without_newline)
{
    ck_assert_int_eq(send_and_read(CTL_MAX_REQUEST + 1, 'a', ""), -1);
}
END_TEST

START_TEST(test_request_with_nul)
{
    ck_assert_int_eq(write(fds[1], "ping\0x\n", 7), 7);
    ck_assert_int_eq(ctl_read_request(fds[0], &line), -1);
}
END_TEST

START_TEST(test_request_cut_short)
{
    ck_assert_int_eq(send_and_read(0, 0, "status"), 0);
    close(fds[1]);
    fds[1] = open("/dev/null", O_WRONLY); /* for teardown */
    ck_assert_int_eq(ctl_read_request(fds[0], &line), -1);
}
END_TEST

START_TEST(test_reply_failure_is_one_line)
{
    struct ctl_reply reply;
    size_t len;

    ctl_reply_init(&reply);
    ctl_reply_fail(&reply, "unknown request \"%s\"", "a\rb");
    ck_assert_str_eq(ctl_reply_text(&reply, &len), "error: unknown request \"a b\"\n");
    ck_assert_uint_eq(len, strlen("error: unknown request \"a b\"\n"));
    ctl_reply_free(&reply);
}
END_TEST

static Suite *ctl_suite(void)
{
    Suite *s = suite_create("ctl");
    TCase *tc = tcase_create("request");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_request_in_pieces);
    tcase_add_test(tc, test_request_at_the_limit);
    tcase_add_test(tc, test_request_over_the_limit_newline_later);
    tcase_add_test(tc, test_request_over_the_limit_without_newline);
    tcase_add_test(tc, test_request_with_nul);
    tcase_add_test(tc, test_request_cut_short);
    tcase_add_test(tc, test_reply_failure_is_one_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(ctl_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
