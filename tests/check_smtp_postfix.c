/*
 * check_smtp_postfix.c - Check suite of report mail transport through a
 * real Postfix: one delivery by dlv_smtp_send to a private instance on
 * 127.0.0.1, run by tests/postfix.sh (as root, TLSRPT_TEST_POSTFIX=1).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "delivery.h"
#include "util.h"
#include "smtp_fixture.h"

extern char **environ;

/* A private Postfix ------------------------------------------------------- */

static const char *postfix_program(void)
{
    static char found[512];
    const char *path = getenv("PATH");
    char *dirs = xasprintf("/usr/sbin:/usr/local/sbin:%s", path ? path : ""), *save = NULL;

    found[0] = '\0';
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(found, sizeof(found), "%s/postfix", dir);
        if (dir[0] == '/' && access(found, X_OK) == 0)
            break;
        found[0] = '\0';
    }
    free(dirs);
    return found[0] ? found : NULL;
}

static const char *postfix_missing(void)
{
    if (postfix_program() == NULL)
        return "no postfix command (apt-get install postfix)";
    if (geteuid() != 0)
        return "a private Postfix instance needs root";
    if (getpwnam("postfix") == NULL || getgrnam("postdrop") == NULL)
        return "no postfix user or postdrop group";
    return NULL;
}

/*
 * Runs a postfix command (no shell), its output appended to pf/commands.log,
 * its pid in pf/command.pid while it runs; returns its exit status.
 */
static int run(char *const argv[])
{
    char *log = tmp_path("pf/commands.log");
    posix_spawn_file_actions_t actions;
    pid_t pid;
    int status;

    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int err = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    free(log);
    if (err != 0)
        return -1;
    char *pid_text = xasprintf("%ld\n", (long)pid);
    write_text("pf/command.pid", pid_text, 0644);
    free(pid_text);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void postfix_write_config(int port)
{
    struct passwd *nobody = getpwnam("nobody");
    char *mail = tmp_path("pf/mail"), *main_cf, *master_cf;
    uid_t uid = nobody ? nobody->pw_uid : 65534;
    gid_t gid = nobody ? nobody->pw_gid : 65534;

    ck_assert_int_eq(mkdir(mail, 0755), 0);
    ck_assert_int_eq(chown(mail, uid, gid), 0);
    main_cf = xasprintf("compatibility_level = 3.6\n"
                        "queue_directory = %1$s/pf/queue\n"
                        "data_directory = %1$s/pf/data\n"
                        "mail_owner = postfix\n"
                        "setgid_group = postdrop\n"
                        "inet_interfaces = 127.0.0.1\n"
                        "inet_protocols = ipv4\n"
                        "myhostname = tlsrpt-test.localdomain\n"
                        "mydomain = localdomain\n"
                        "mydestination =\n"
                        "mynetworks = 127.0.0.0/8\n"
                        "relayhost =\n"
                        "default_transport = error:no external mail in tests\n"
                        "relay_transport = error:no external mail in tests\n"
                        "local_transport = error:no local mail in tests\n"
                        "virtual_mailbox_domains = localhost\n"
                        "virtual_mailbox_base = %1$s/pf/mail\n"
                        "virtual_mailbox_maps = inline:{ u@localhost=u }\n"
                        "virtual_uid_maps = static:%2$u\n"
                        "virtual_gid_maps = static:%3$u\n"
                        "alias_maps =\n"
                        "alias_database =\n"
                        "smtpd_peername_lookup = no\n"
                        "biff = no\n"
                        "maillog_file_prefixes = %1$s/pf\n"
                        "maillog_file = %1$s/pf/maillog\n",
                        tmp, (unsigned)uid, (unsigned)gid);
    /* Only what one local delivery needs; nothing chrooted, no smtp client at all. */
    master_cf = xasprintf("127.0.0.1:%d inet n - n - - smtpd\n"
                          "cleanup unix n - n - 0 cleanup\n"
                          "qmgr unix n - n 300 1 qmgr\n"
                          "rewrite unix - - n - - trivial-rewrite\n"
                          "bounce unix - - n - 0 bounce\n"
                          "defer unix - - n - 0 bounce\n"
                          "trace unix - - n - 0 bounce\n"
                          "error unix - - n - - error\n"
                          "retry unix - - n - - error\n"
                          "virtual unix - n n - - virtual\n"
                          "proxymap unix - - n - - proxymap\n"
                          "anvil unix - - n - 1 anvil\n"
                          "postlog unix-dgram n - n - 1 postlogd\n",
                          port);
    write_text("pf/etc/main.cf", main_cf, 0644);
    write_text("pf/etc/master.cf", master_cf, 0644);
    free(main_cf);
    free(master_cf);
    free(mail);
}

static void postfix_show_logs(void)
{
    char *commands = read_text("pf/commands.log"), *maillog = read_text("pf/maillog");

    printf("--- postfix commands\n%s--- maillog\n%s---\n", commands ? commands : "",
           maillog ? maillog : "");
    fflush(stdout); /* a failing check ends this process with _exit() */
    free(commands);
    free(maillog);
}

START_TEST(test_postfix_delivery)
{
    const char *required = getenv("TLSRPT_TEST_POSTFIX");
    /* tests/postfix.sh runs this case (TLSRPT_TEST_POSTFIX=1); elsewhere it is left out. */
    const char *missing = required && strcmp(required, "1") == 0
                              ? postfix_missing()
                              : "run by tests/postfix.sh (TLSRPT_TEST_POSTFIX=1)";
    char *etc = tmp_path("pf/etc"), *queue = tmp_path("pf/queue"), *mailbox = NULL;
    struct dlv_result result;
    int port;

    if (missing != NULL) {
        ck_assert_msg(required == NULL || strcmp(required, "1") != 0, "%s", missing);
        printf("check_smtp_postfix: the Postfix case is skipped: %s\n", missing);
        fflush(stdout);
        free(etc);
        free(queue);
        return;
    }
    ck_assert_int_eq(dir_make(etc, 0755, &(char *){NULL}), 0);
    ck_assert_int_eq(mkdir(queue, 0755), 0);
    close(bound_socket(false, &port));
    postfix_write_config(port);
    int status = run((char *[]){(char *)postfix_program(), "-c", etc, "start", NULL});
    if (status != 0)
        postfix_show_logs();
    ck_assert_msg(status == 0, "postfix start: exit status %d", status);

    struct dlv_smtp_settings settings = plain_settings(port);
    dlv_smtp_send(&settings, "tlsrpt-noreply@sender.example", "u@localhost", report_message,
                  strlen(report_message), &result);
    if (result.outcome != DLV_DELIVERED)
        postfix_show_logs();
    ck_assert_msg(result.outcome == DLV_DELIVERED, "%s", result.error);
    ck_assert_int_eq(result.code, 250);
    for (int64_t deadline = clock_ms() + 60000; clock_ms() < deadline;) {
        free(mailbox);
        mailbox = read_text("pf/mail/u");
        if (mailbox != NULL && strstr(mailbox, "--=_b1--\n") != NULL)
            break;
        usleep(100 * 1000);
    }
    if (mailbox == NULL || strstr(mailbox, "--=_b1--\n") == NULL)
        postfix_show_logs();
    ck_assert_msg(mailbox != NULL, "nothing delivered to the mailbox within 60 s");
    char *want = lf_only(report_message);
    ck_assert_msg(strstr(mailbox, want) != NULL, "the message changed on the way:\n%s", mailbox);
    ck_assert_ptr_nonnull(strstr(mailbox, "\nReturn-Path: <tlsrpt-noreply@sender.example>\n"));
    ck_assert_ptr_nonnull(strstr(mailbox, "\nDelivered-To: u@localhost\n"));
    free(want);
    free(mailbox);
    free(etc);
    free(queue);
}
END_TEST

/* Alive and not a zombie. */
static bool process_running(long pid)
{
    char path[64], *error = NULL;
    struct buf stat = {0};

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    bool running = pid > 1 && file_read_all(path, 4096, &stat, &error) == 0 &&
                   strrchr(buf_cstr(&stat), ')') && strrchr(stat.data, ')')[1] == ' ' &&
                   strrchr(stat.data, ')')[2] != 'Z';
    buf_free(&stat);
    free(error);
    return running;
}

/*
 * Runs in the runner process even when the test failed or timed out (maybe
 * in the middle of `postfix start`, which then finishes first). The master
 * is a session leader, so its group is the whole instance: what the orderly
 * stop leaves behind is killed with it.
 */
static void postfix_stop(void)
{
    char *etc = tmp_path("pf/etc"), *command = read_text("pf/command.pid"), *pid;

    for (int i = 0; i < 300 && command && process_running(atol(command)); i++)
        usleep(100 * 1000);
    pid = read_text("pf/queue/pid/master.pid");
    long master = pid ? atol(pid) : 0;
    if (master > 1) {
        run((char *[]){(char *)postfix_program(), "-c", etc, "stop", NULL});
        kill((pid_t)-master, SIGKILL);
    }
    free(command);
    free(pid);
    free(etc);
}

static Suite *smtp_postfix_suite(void)
{
    Suite *s = suite_create("smtp_postfix");
    TCase *tc = tcase_create("postfix");

    tcase_add_unchecked_fixture(tc, NULL, postfix_stop);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_postfix_delivery);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (tmp_create("check_smtp_postfix") < 0)
        return EXIT_FAILURE;

    SRunner *runner = srunner_create(smtp_postfix_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    tmp_remove();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
