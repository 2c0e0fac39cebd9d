/*
 * check_lf_own_mail.c - Check suite of the own-mail hand-over from
 * tlsrpt-milter: a queue id marked with lf_parser_own_mail (the milter saw
 * the message first) makes that message's TLS session uncounted, in
 * Postfix's and Sendmail's logs alike; ids that are not queue ids are
 * refused; and many threads handing ids to a follower lose none.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logfollow.h"
#include "util.h"

#define SENDER "noreply-tlsrpt@sender.example"

struct own_case {
    const char *name;
    enum lf_format format;
    const char *report_sender;
    const char *mark; /* queue id handed over first, or NULL */
    bool mark_taken;  /* what lf_parser_own_mail answers */
    const char *lines[3];
    uint64_t events;
    uint64_t own_reports;
};

#define PF_TLS                                                                                     \
    "Nov 22 09:46:21 sender postfix/smtp[700]: Trusted TLS connection established to "             \
    "mx.a.example[192.0.2.9]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
#define PF_SENT                                                                                    \
    "Nov 22 09:46:21 sender postfix/smtp[700]: 4ABC123DEF: to=<tlsrpt@a.example>, "                \
    "relay=mx.a.example[192.0.2.9]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, "               \
    "status=sent (250 2.0.0 Ok)"
#define SM_TLS                                                                                     \
    "Nov 22 06:25:02 mail sm-mta[2102]: STARTTLS=client, relay=mx1.example.com., "                 \
    "version=TLSv1.3, verify=OK, cipher=TLS_AES_256_GCM_SHA384, bits=256/256"
#define SM_SENT                                                                                    \
    "Nov 22 06:25:03 mail sm-mta[2102]: 5AMBK01002101: to=<tlsrpt@example.com>, "                  \
    "delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=121523, "                                  \
    "relay=mx1.example.com. [192.0.2.10], dsn=2.0.0, stat=Sent (Ok: queued as 4XyZ1a)"

static const struct own_case cases[] = {
    {"postfix, not marked: counted", LF_POSTFIX, SENDER, NULL, false, {PF_TLS, PF_SENT}, 1, 0},
    {"postfix, marked: own report",
     LF_POSTFIX,
     SENDER,
     "4ABC123DEF",
     true,
     {PF_TLS, PF_SENT},
     0,
     1},
    {"postfix, no report sender, marked: own report",
     LF_POSTFIX,
     NULL,
     "4ABC123DEF",
     true,
     {PF_TLS, PF_SENT},
     0,
     1},
    {"postfix, another id marked: counted",
     LF_POSTFIX,
     SENDER,
     "4ABC123DEE",
     true,
     {PF_TLS, PF_SENT},
     1,
     0},
    {"postfix, not a queue id: refused",
     LF_POSTFIX,
     SENDER,
     "4ABC-123",
     false,
     {PF_TLS, PF_SENT},
     1,
     0},
    {"postfix, empty id: refused", LF_POSTFIX, SENDER, "", false, {PF_TLS, PF_SENT}, 1, 0},
    {"postfix, 32 characters: refused",
     LF_POSTFIX,
     SENDER,
     "0123456789abcdef0123456789abcdef",
     false,
     {PF_TLS, PF_SENT},
     1,
     0},
    {"sendmail, not marked: counted", LF_SENDMAIL, SENDER, NULL, false, {SM_TLS, SM_SENT}, 1, 0},
    {"sendmail, marked: own report",
     LF_SENDMAIL,
     SENDER,
     "5AMBK01002101",
     true,
     {SM_TLS, SM_SENT},
     0,
     1},
    {"sendmail, no report sender, marked: own report",
     LF_SENDMAIL,
     NULL,
     "5AMBK01002101",
     true,
     {SM_TLS, SM_SENT},
     0,
     1},
};

static uint64_t emitted;

static void on_event(const struct tr_event *event, void *context)
{
    (void)event;
    (void)context;
    emitted++;
}

START_TEST(test_own_mail)
{
    const struct own_case *c = &cases[_i];
    struct lf_settings settings = {
        .format = c->format, .year = 2025, .now = 1764000000, .report_sender = c->report_sender};
    struct lf_parser *parser = lf_parser_create(&settings, on_event, NULL);

    emitted = 0;
    if (c->mark)
        ck_assert_msg(lf_parser_own_mail(parser, c->mark) == c->mark_taken, "%s: mark", c->name);
    for (size_t i = 0; i < 3 && c->lines[i]; i++)
        lf_parser_line(parser, c->lines[i], strlen(c->lines[i]));
    lf_parser_flush(parser);
    ck_assert_msg(emitted == c->events, "%s: %llu events", c->name, (unsigned long long)emitted);
    ck_assert_msg(lf_parser_stats(parser)->own_reports == c->own_reports, "%s: %llu own reports",
                  c->name, (unsigned long long)lf_parser_stats(parser)->own_reports);
    lf_parser_destroy(parser);
}
END_TEST

/* The daemon's control thread and the follower's thread at once: every id arrives once. */
#define THREADS 8
#define IDS_PER_THREAD 100

static void *hand_over(void *arg)
{
    struct lf_follower *follower = arg;
    static int next;
    static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;
    const char *error;

    for (int i = 0; i < IDS_PER_THREAD; i++) {
        char qid[32];
        pthread_mutex_lock(&next_lock);
        snprintf(qid, sizeof(qid), "Q%06d", next++);
        pthread_mutex_unlock(&next_lock);
        ck_assert_int_eq(lf_follower_own_mail(follower, qid, &error), 0);
    }
    return NULL;
}

START_TEST(test_follower_threads)
{
    char dir[] = "/tmp/check_lf_own_mail.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *log = path_join(dir, "mail.log"), *counters = path_join(dir, "counters");
    char *sources = xasprintf("postfix:file:%s", log);
    char *error = NULL;
    const char *refusal;
    FILE *f = fopen(log, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(dir_make(counters, 0750, &error), 0);
    struct lf_follow_settings settings = {
        .sources = sources,
        .checkpoint_dir = dir,
        .counters_dir = counters,
        .limits = {.max_entries = 1024, .string_space = 1 << 20},
        .report_sender = SENDER,
    };
    struct lf_follower *follower = lf_follower_open(&settings, &error);
    ck_assert_msg(follower != NULL, "%s", error ? error : "");
    ck_assert_int_eq(lf_follower_start(follower, &error), 0);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, hand_over, follower), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    ck_assert_int_eq(lf_follower_own_mail(follower, "not-a-qid", &refusal), -1);
    ck_assert_str_eq(refusal, "not a queue id (letters and digits, at most 31)");
    lf_follower_stop(follower);
    lf_follower_poll(follower); /* takes what came after the thread's last round */
    struct lf_follower_totals totals;
    struct lf_source_status status[1];
    lf_follower_status(follower, status, 1, &totals);
    ck_assert_uint_eq(totals.own_mail, THREADS * IDS_PER_THREAD);
    ck_assert_uint_eq(totals.own_mail_dropped, 0);
    lf_follower_close(follower);
    dir_remove_tree(dir);
    free(log);
    free(counters);
    free(sources);
}
END_TEST

static Suite *own_mail_suite(void)
{
    Suite *s = suite_create("lf_own_mail");
    TCase *parser = tcase_create("parser");
    tcase_add_loop_test(parser, test_own_mail, 0, (int)UTIL_ARRAY_LEN(cases));
    suite_add_tcase(s, parser);
    TCase *follower = tcase_create("follower");
    tcase_add_test(follower, test_follower_threads);
    suite_add_tcase(s, follower);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(own_mail_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
