/*
 * check_policy_live.c - Check suite of the MTA-STS policy service against
 * real peers on 127.0.0.1 (tests/policy_fixture.c): ldns-testns serving
 * _mta-sts TXT, MX, A and TLSA records, and tests/peers/https_sink.py
 * serving policies over HTTPS with a test CA. Exact socketmap answers,
 * server request counts, counter rows.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "policy.h"
#include "policy_fixture.h"
#include "util.h"

/* ---- cases ---- */

START_TEST(test_enforce)
{
    struct pol_service *svc = service(false);

    policy("enforce", "enforce", "mx: mx1.enforce.example\r\nmx: *.other.example\r\n", 86400);
    assert_answer(svc, "Enforce.Example.",
                  "OK secure match=mx1.enforce.example servername=hostname");
    assert_answer(svc, "enforce.example",
                  "OK secure match=mx1.enforce.example servername=hostname");
    ck_assert_int_eq(requests("enforce"), 1); /* the second answer came from the cache */
    pol_service_destroy(svc);
}
END_TEST

/* No MX host satisfies "*.deep.example" (one label): the pattern is given, ".deep.example". */
START_TEST(test_enforce_no_matching_mx)
{
    struct pol_service *svc = service(false);

    policy("deep", "enforce", "mx: *.deep.example\r\n", 86400);
    assert_answer(svc, "deep.example", "OK secure match=.deep.example servername=hostname");
    pol_service_destroy(svc);
}
END_TEST

START_TEST(test_testing_and_none)
{
    struct pol_service *svc = service(false);

    policy("testing", "testing", "mx: *.testing.example\r\n", 86400);
    policy("none", "none", "", 86400);
    assert_answer(svc, "testing.example", "NOTFOUND ");
    assert_answer(svc, "none.example", "NOTFOUND ");
    assert_answer(svc, "norecord.example", "NOTFOUND ");
    ck_assert_int_eq(requests("testing"), 1);
    ck_assert_int_eq(requests("none"), 1);
    ck_assert_int_eq(requests("norecord"), 0);
    pol_service_destroy(svc);
}
END_TEST

START_TEST(test_attributes)
{
    struct pol_service *svc = service(true);

    policy("attrs", "testing", "mx: *.attrs.example\r\nmx: backup.example\r\n", 600);
    assert_answer(svc, "attrs.example",
                  "OK may policy_type=sts policy_domain=attrs.example "
                  "{ policy_string = version: STSv1 } { policy_string = mode: testing } "
                  "{ policy_string = mx: *.attrs.example } { policy_string = mx: backup.example } "
                  "{ policy_string = max_age: 600 } mx_host_pattern=*.attrs.example "
                  "mx_host_pattern=backup.example");
    policy("enforce", "enforce", "mx: mx1.enforce.example\r\n", 900);
    assert_answer(svc, "enforce.example",
                  "OK secure match=mx1.enforce.example servername=hostname policy_type=sts "
                  "policy_domain=enforce.example { policy_string = version: STSv1 } "
                  "{ policy_string = mode: enforce } { policy_string = mx: mx1.enforce.example } "
                  "{ policy_string = max_age: 900 } mx_host_pattern=mx1.enforce.example");
    /* A testing-mode answer never lowers the site's own level. */
    struct pol_service *encrypt = service_with(true, "sts_testing_level = encrypt\n");
    struct buf reply = {0};
    pol_query(encrypt, "attrs.example", &reply);
    ck_assert_str_eq(buf_cstr(&reply), "OK encrypt policy_type=sts policy_domain=attrs.example "
                                       "{ policy_string = version: STSv1 } "
                                       "{ policy_string = mode: testing } "
                                       "{ policy_string = mx: *.attrs.example } "
                                       "{ policy_string = mx: backup.example } "
                                       "{ policy_string = max_age: 600 } "
                                       "mx_host_pattern=*.attrs.example "
                                       "mx_host_pattern=backup.example");
    buf_free(&reply);
    pol_service_destroy(encrypt);
    /*
     * With attributes too the failure is counted here: the answer is no
     * policy_failure, so Postfix >= 3.10 reports the session as no-policy-found.
     */
    serve("redirect", "301 text/plain", "");
    assert_answer(svc, "redirect.example", "NOTFOUND ");
    assert_counted("redirect.example",
                   "redirect.example sts redirect.example S=0 F=1\n  1 sts-policy-fetch-error " URL(
                       "redirect") " | HTTP status 301 (only 200 is a policy; redirects are not followed)\n");
    pol_service_destroy(svc);
}
END_TEST

START_TEST(test_servfail_is_temp)
{
    struct pol_service *svc = service(false);

    assert_answer(svc, "servfail.example",
                  "TEMP _mta-sts.servfail.example TXT lookup failed: SERVFAIL");
    assert_answer(svc, "bad..name", "NOTFOUND ");
    pol_service_destroy(svc);
}
END_TEST

/* DANE first: validated TLSA at the MX host, so no policy is fetched at all. */
START_TEST(test_dane_first)
{
    struct pol_service *svc = service(false);

    policy("dane", "enforce", "mx: mx.dane.example\r\n", 86400);
    assert_answer(svc, "dane.example", "NOTFOUND ");
    ck_assert_int_eq(requests("dane"), 0);
    pol_service_destroy(svc);
}
END_TEST

static const struct {
    const char *name;
    const char *head; /* NULL: no file, 404 */
    const char *body;
    const char *counted;
} failure_cases[] = {
    {"redirect", "301 text/plain", "",
     "redirect.example sts redirect.example S=0 F=3\n  3 sts-policy-fetch-error " URL(
         "redirect") " | HTTP status 301 (only 200 is a policy; redirects are not followed)\n"},
    {"big", "200 text/plain", "BIG",
     "big.example sts big.example S=0 F=3\n  3 sts-policy-fetch-error " URL(
         "big") " | policy larger than 65536 bytes\n"},
    /* no Content-Length: the transfer is aborted once past 64 KB */
    {"stream", "200 text/plain", "BIGSTREAM",
     "stream.example sts stream.example S=0 F=3\n  3 sts-policy-fetch-error " URL(
         "stream") " | policy larger than 65536 bytes\n"},
    {"badtype", "200 text/html", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n",
     "badtype.example sts badtype.example S=0 F=3\n  3 sts-policy-fetch-error " URL(
         "badtype") " | media type text/html, not text/plain\n"},
    {"invalid", "200 text/plain", "version: STSv1\nmode: enforce\nmax_age: 5\n",
     "invalid.example sts invalid.example S=0 F=3\n  3 sts-policy-invalid " URL(
         "invalid") " | invalid policy: no mx field (required in mode enforce)\n"},
};

struct retry_check {
    const char *domain;
    time_t now;
    int seen;
};

static void check_retry(void *ctx, const struct pol_cache_info *info)
{
    struct retry_check *c = ctx;

    ck_assert_str_eq(info->domain, c->domain);
    ck_assert_msg(info->next_retry >= c->now + 295 && info->next_retry <= c->now + 300,
                  "next_retry %lld, now %lld", (long long)info->next_retry, (long long)c->now);
    ck_assert_str_eq(info->id, "");
    c->seen++;
}

/*
 * Each failure gives NOTFOUND (mail goes out, §3.3), is counted once per
 * lookup, and the fetch is not repeated on the next lookups (backoff).
 */
START_TEST(test_failures_counted_and_rate_limited)
{
    struct pol_service *svc = service(false);
    const char *name = failure_cases[_i].name;
    char *domain = xasprintf("%s.example", name);

    serve(name, failure_cases[_i].head, failure_cases[_i].body);
    for (int i = 0; i < 3; i++)
        assert_answer(svc, domain, "NOTFOUND ");
    ck_assert_int_eq(requests(name), 1);
    assert_counted(domain, failure_cases[_i].counted);
    /* the next try is 5 minutes away, and so the cache says */
    struct retry_check check = {.domain = domain, .now = time(NULL)};
    pol_cache_list(svc, check_retry, &check);
    ck_assert_int_eq(check.seen, 1);
    free(domain);
    pol_service_destroy(svc);
}
END_TEST

/* The certificate does not name mta-sts.wrongcert.example: sts-webpki-invalid. */
START_TEST(test_webpki_invalid)
{
    struct pol_service *svc = service(false);
    struct buf reply = {0};

    policy("wrongcert", "enforce", "mx: mx.wrongcert.example\r\n", 86400);
    pol_query(svc, "wrongcert.example", &reply);
    ck_assert_str_eq(reply.data, "NOTFOUND ");
    char *got = counted("wrongcert.example");
    ck_assert_msg(
        strncmp(got,
                "wrongcert.example sts wrongcert.example S=0 F=1\n"
                "  1 sts-webpki-invalid " URL(
                    "wrongcert") " | certificate not valid for the policy host: ",
                strlen("wrongcert.example sts wrongcert.example S=0 F=1\n"
                       "  1 sts-webpki-invalid " URL(
                           "wrongcert") " | certificate not valid for the policy host: ")) == 0,
        "%s", got);
    free(got);
    buf_free(&reply);
    pol_service_destroy(svc);
}
END_TEST

/* max_age 1: the policy expires and is fetched again. */
START_TEST(test_expiry)
{
    struct pol_service *svc = service(false);

    policy("short", "enforce", "mx: mx.short.example\r\n", 1);
    assert_answer(svc, "short.example", "OK secure match=mx.short.example servername=hostname");
    ck_assert_int_eq(requests("short"), 1);
    sleep(2); /* time itself must pass: the policy lives one second */
    assert_answer(svc, "short.example", "OK secure match=mx.short.example servername=hostname");
    ck_assert_int_eq(requests("short"), 2);
    pol_service_destroy(svc);
}
END_TEST

/*
 * A new TXT id makes a fetch; a failed fetch for the next id keeps the
 * cached policy (§3.3) and is not retried on every lookup.
 */
START_TEST(test_id_change_and_failed_refresh)
{
    struct pol_service *svc = service(false);

    policy("change", "enforce", "mx: mx.change.example\r\n", 86400);
    ck_assert(start_dns("c1"));
    assert_answer(svc, "change.example", "OK secure match=mx.change.example servername=hostname");
    assert_answer(svc, "change.example", "OK secure match=mx.change.example servername=hostname");
    ck_assert_int_eq(requests("change"), 1);
    policy("change", "enforce", "mx: mx.change.example\r\nmx: mx2.change.example\r\n", 86400);
    ck_assert(start_dns("c2"));
    assert_answer(svc, "change.example", "OK secure match=mx.change.example servername=hostname");
    ck_assert_int_eq(requests("change"), 2);
    struct buf why = {0}, reply = {0};
    pol_query_explain(svc, "change.example", &reply, &why);
    ck_assert_msg(strstr(why.data, "policy text: version: STSv1\\r\\nmode: enforce\\r\\n"
                                   "mx: mx.change.example\\r\\nmx: mx2.change.example\\r\\n"
                                   "max_age: 86400\\r\\n\n") != NULL,
                  "%s", why.data);
    buf_free(&why);
    buf_free(&reply);
    serve("change", "500 text/plain", "down\n");
    ck_assert(start_dns("c3"));
    for (int i = 0; i < 3; i++)
        assert_answer(svc, "change.example",
                      "OK secure match=mx.change.example servername=hostname");
    ck_assert_int_eq(requests("change"), 3);
    assert_counted("change.example", ""); /* a policy applied: nothing failed before connecting */
    /* The TXT lookup fails (SERVFAIL): the cached policy still applies (§5.1), no TEMP. */
    ck_assert(start_dns(NULL));
    assert_answer(svc, "change.example", "OK secure match=mx.change.example servername=hostname");
    ck_assert_int_eq(requests("change"), 3);
    ck_assert(start_dns("c1"));
    pol_service_destroy(svc);
}
END_TEST

struct listing {
    struct buf text;
};

static void list_one(void *ctx, const struct pol_cache_info *info)
{
    struct listing *l = ctx;
    buf_printf(&l->text, "%s id=%s max_age=%ld error=%s\n", info->domain, info->id, info->max_age,
               info->last_error);
}

/* The cache survives a restart: no second fetch; flush forgets it. */
START_TEST(test_restart_and_flush)
{
    struct pol_service *svc = service(false);
    struct listing listing = {0};
    char *error = NULL;

    policy("restart", "enforce", "mx: mx.restart.example\r\n", 86400);
    assert_answer(svc, "restart.example", "OK secure match=mx.restart.example servername=hostname");
    pol_service_destroy(svc);
    char *file = xasprintf("%s/sts/restart.example.sts", state_dir);
    ck_assert_int_eq(access(file, R_OK), 0);
    svc = service(false);
    assert_answer(svc, "restart.example", "OK secure match=mx.restart.example servername=hostname");
    ck_assert_int_eq(requests("restart"), 1);
    pol_cache_list(svc, list_one, &listing);
    ck_assert_str_eq(listing.text.data, "restart.example id=rs1 max_age=86400 error=\n");
    ck_assert_int_eq(pol_cache_flush(svc, "Restart.Example.", &error), 1);
    ck_assert_int_eq(pol_cache_flush(svc, "restart.example", &error), 0);
    ck_assert_int_eq(access(file, F_OK), -1);
    assert_answer(svc, "restart.example", "OK secure match=mx.restart.example servername=hostname");
    ck_assert_int_eq(requests("restart"), 2);
    free(file);
    buf_free(&listing.text);
    pol_service_destroy(svc);
}
END_TEST

/* pol_refresh_due fetches a policy in use before it expires. */
START_TEST(test_refresh_due)
{
    struct pol_service *svc = service(false);

    policy("refresh", "enforce", "mx: mx.refresh.example\r\n", 1000);
    assert_answer(svc, "refresh.example", "OK secure match=mx.refresh.example servername=hostname");
    pol_refresh_due(svc, time(NULL) + 10); /* not due yet */
    ck_assert_int_eq(requests("refresh"), 1);
    pol_refresh_due(svc, time(NULL) + 800); /* past 3/4 of max_age, still in use */
    ck_assert_int_eq(requests("refresh"), 2);
    pol_service_destroy(svc);
}
END_TEST

struct worker {
    struct pol_service *svc;
    const char *domain;
    char reply[256];
};

static void *work(void *context)
{
    struct worker *w = context;
    struct buf reply = {0};

    pol_query(w->svc, w->domain, &reply);
    snprintf(w->reply, sizeof(w->reply), "%s", reply.data);
    buf_free(&reply);
    return NULL;
}

/* Threads asking at once: one fetch per domain, the others wait for it. */
START_TEST(test_concurrent_lookups)
{
    struct pol_service *svc = service(false);
    struct worker workers[16];
    pthread_t threads[16];

    policy("enforce", "enforce", "mx: mx1.enforce.example\r\n", 86400);
    serve("redirect", "302 text/plain", "");
    for (size_t i = 0; i < 16; i++) {
        workers[i] =
            (struct worker){.svc = svc, .domain = i % 2 ? "enforce.example" : "redirect.example"};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
    }
    for (size_t i = 0; i < 16; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_str_eq(workers[i].reply, i % 2 ? "OK secure match=mx1.enforce.example "
                                                   "servername=hostname"
                                                 : "NOTFOUND ");
    }
    ck_assert_int_eq(requests("enforce"), 1);
    ck_assert_int_eq(requests("redirect"), 1);
    assert_counted("redirect.example",
                   "redirect.example sts redirect.example S=0 F=8\n  8 sts-policy-fetch-error " URL(
                       "redirect") " | HTTP status 302 (only 200 is a policy; redirects are not "
                                   "followed)\n");
    pol_service_destroy(svc);
}
END_TEST

START_TEST(test_cname_record)
{
    struct pol_service *svc = service(false);
    struct buf reply = {0}, why = {0};

    policy("alias", "enforce", "mx: mx.alias.example\r\n", 86400);
    pol_query_explain(svc, "alias.example", &reply, &why);
    ck_assert_str_eq(reply.data, "OK secure match=mx.alias.example servername=hostname");
    ck_assert_msg(strstr(why.data, "\nrecord: id cn1\n") != NULL, "%s", why.data);
    buf_free(&reply);
    buf_free(&why);
    pol_service_destroy(svc);
}
END_TEST

static char *render_session(const struct pol_session *s)
{
    struct buf out = {0};

    buf_printf(&out, "%s %s [", tr_policy_type_name(s->type),
               s->policy_domain ? s->policy_domain : "-");
    for (size_t i = 0; i < s->n_strings; i++)
        buf_printf(&out, "%s%s", i ? "|" : "", s->strings[i]);
    buf_puts(&out, "] [");
    for (size_t i = 0; i < s->n_mx_patterns; i++)
        buf_printf(&out, "%s%s", i ? "|" : "", s->mx_patterns[i]);
    buf_puts(&out, "]");
    return buf_steal(&out);
}

/* What log capture learns: sts from the cache, tlsa from validated DNS, else none. */
START_TEST(test_session_policy)
{
    struct pol_service *svc = service(false);
    static const struct {
        const char *domain, *mx, *expected;
    } cases[] = {
        {"enforce.example", "mx1.enforce.example",
         "sts enforce.example [version: STSv1|mode: enforce|mx: mx1.enforce.example|"
         "mx: *.other.example|max_age: 86400] [mx1.enforce.example|*.other.example]"},
        {"Enforce.Example.", NULL,
         "sts enforce.example [version: STSv1|mode: enforce|mx: mx1.enforce.example|"
         "mx: *.other.example|max_age: 86400] [mx1.enforce.example|*.other.example]"},
        {"dane.example", "MX.dane.example.",
         "tlsa mx.dane.example [3 1 1 "
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef] []"},
        {"dane.example", NULL, "no-policy-found - [] []"},
        {"norecord.example", "mx.norecord.example", "no-policy-found - [] []"},
        {"testing.example", "mx.testing.example", "no-policy-found - [] []"}, /* not cached */
    };

    policy("enforce", "enforce", "mx: mx1.enforce.example\r\nmx: *.other.example\r\n", 86400);
    assert_answer(svc, "enforce.example",
                  "OK secure match=mx1.enforce.example servername=hostname");
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct pol_session session;
        pol_session_policy(svc, cases[i].domain, cases[i].mx, &session);
        char *got = render_session(&session);
        ck_assert_str_eq(got, cases[i].expected);
        free(got);
        pol_session_free(&session);
    }
    ck_assert_int_eq(requests("testing"), 0); /* never fetches */
    pol_service_destroy(svc);
}
END_TEST

/* Datagrams waiting on a socket nobody answers from. */
static int queries_waiting(int fd)
{
    char packet[512];
    int n = 0;

    while (recv(fd, packet, sizeof(packet), MSG_DONTWAIT) > 0)
        n++;
    return n;
}

/*
 * A DNS server that never answers costs the log follower one timeout per
 * name, then nothing for a while: the next sessions are not held up.
 */
START_TEST(test_session_policy_silent_dns)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char *more = xasprintf("dns_resolvers = 127.0.0.1:%d\ndns_timeout = 1s\n", ntohs(sin.sin_port));
    struct pol_service *svc = service_with(false, more);
    struct pol_session session;

    pol_session_policy(svc, "slow.example", "mx.slow.example", &session);
    ck_assert_int_eq(session.type, TR_POLICY_NONE);
    pol_session_free(&session);
    ck_assert_int_gt(queries_waiting(fd), 0);
    for (int i = 0; i < 3; i++) {
        pol_session_policy(svc, "slow.example", "mx.slow.example", &session);
        ck_assert_int_eq(session.type, TR_POLICY_NONE);
        pol_session_free(&session);
    }
    ck_assert_int_eq(queries_waiting(fd), 0);
    pol_service_destroy(svc);
    free(more);
    close(fd);
}
END_TEST

static void emit(void *ctx, const char *name, const char *value)
{
    buf_printf(ctx, "%s=%s\n", name, value);
}

START_TEST(test_stats)
{
    struct pol_service *svc = service(false);
    struct buf text = {0};

    policy("enforce", "enforce", "mx: mx1.enforce.example\r\n", 86400);
    assert_answer(svc, "enforce.example",
                  "OK secure match=mx1.enforce.example servername=hostname");
    assert_answer(svc, "enforce.example",
                  "OK secure match=mx1.enforce.example servername=hostname");
    assert_answer(svc, "norecord.example", "NOTFOUND ");
    pol_stats(svc, emit, &text);
    ck_assert_str_eq(text.data, "sts.lookups=3\nsts.cache_hits=1\nsts.prefetches=0\n"
                                "sts.prefetch.queued=0\nsts.prefetch.duplicates=0\n"
                                "sts.prefetch.dropped=0\nsts.prefetch.fetched=0\n"
                                "sts.prefetch.skipped=0\nsts.prefetch.queue_length=0\n"
                                "sts.prefetch.in_flight=0\n"
                                "sts.fetches=1\nsts.fetches_ok=1\n"
                                "sts.errors.fetch=0\nsts.errors.invalid=0\nsts.errors.webpki=0\n"
                                "sts.answers.dane=0\nsts.answers.enforce=2\n"
                                "sts.answers.testing=0\nsts.answers.notfound=1\n"
                                "sts.answers.temp=0\nsts.failures_counted=0\n"
                                "sts.cache_entries=1\n");
    buf_free(&text);
    pol_service_destroy(svc);
}
END_TEST

/* pol_query_cached answers from memory only: nothing before a lookup, never a TEMP. */
START_TEST(test_cached_only)
{
    struct pol_service *svc = service(false);
    struct buf reply = {0}, text = {0};
    const char *cached = "OK secure match=mx1.cached.example servername=hostname";

    policy("cached", "enforce", "mx: mx1.cached.example\r\n", 86400);
    policy("enforce", "enforce", "mx: mx1.enforce.example\r\n", 86400);
    ck_assert(!pol_query_cached(svc, "cached.example", &reply));
    ck_assert_uint_eq(reply.len, 0);
    ck_assert_int_eq(requests("cached"), 0); /* nothing asked, nothing fetched */
    assert_answer(svc, "cached.example", cached);
    ck_assert(pol_query_cached(svc, "Cached.Example.", &reply));
    ck_assert_str_eq(buf_cstr(&reply), cached);
    ck_assert_int_eq(requests("cached"), 1);
    buf_reset(&reply);
    /* Records with TTL 0 are asked for every time: never from memory. */
    assert_answer(svc, "enforce.example",
                  "OK secure match=mx1.enforce.example servername=hostname");
    ck_assert(!pol_query_cached(svc, "enforce.example", &reply));
    ck_assert(pol_query_cached(svc, "bad..name", &reply));
    ck_assert_str_eq(buf_cstr(&reply), "NOTFOUND ");
    buf_reset(&reply);
    assert_answer(svc, "servfail.example",
                  "TEMP _mta-sts.servfail.example TXT lookup failed: SERVFAIL");
    ck_assert(!pol_query_cached(svc, "servfail.example", &reply)); /* failures are not cached */
    ck_assert_uint_eq(reply.len, 0);
    /* A lookup that would block is counted once, by the pol_query that answers it. */
    pol_stats(svc, emit, &text);
    ck_assert_msg(strstr(text.data, "sts.lookups=5\nsts.cache_hits=1\n") != NULL, "%s", text.data);
    buf_free(&text);
    buf_free(&reply);
    pol_service_destroy(svc);
}
END_TEST

static Suite *policy_live_suite(void)
{
    Suite *s = suite_create("policy_live");
    TCase *tc = tcase_create("sts");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, fresh_state, NULL);
    tcase_add_test(tc, test_enforce);
    tcase_add_test(tc, test_enforce_no_matching_mx);
    tcase_add_test(tc, test_testing_and_none);
    tcase_add_test(tc, test_attributes);
    tcase_add_test(tc, test_servfail_is_temp);
    tcase_add_test(tc, test_dane_first);
    tcase_add_loop_test(tc, test_failures_counted_and_rate_limited, 0,
                        (int)UTIL_ARRAY_LEN(failure_cases));
    tcase_add_test(tc, test_webpki_invalid);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_id_change_and_failed_refresh);
    tcase_add_test(tc, test_restart_and_flush);
    tcase_add_test(tc, test_refresh_due);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_cached_only);
    tcase_add_test(tc, test_concurrent_lookups);
    tcase_add_test(tc, test_cname_record);
    tcase_add_test(tc, test_session_policy);
    tcase_add_test(tc, test_session_policy_silent_dns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return policy_fixture_run(policy_live_suite());
}
