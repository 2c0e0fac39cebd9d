/*
 * check_policy_live.c - Check suite of the MTA-STS policy service against
 * real peers on 127.0.0.1: ldns-testns serving _mta-sts TXT, MX, A and TLSA
 * records, and tests/peers/https_sink.py serving policies over HTTPS with a
 * test CA. Exact socketmap answers, server request counts, counter rows.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cfg.h"
#include "counters.h"
#include "policy.h"
#include "util.h"

#define DEADLINE_TRIES 1500 /* x 10 ms: a loaded machine is slow to start peers */

static char temp_dir[] = "/tmp/check_policy_live.XXXXXX";
static char *web_dir; /* the server's policy files and request log */
static pid_t web_pid, dns_pid;
static int web_port, dns_port;

static const char certificates_script[] =
    "set -e\n"
    "KEY='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
    "openssl req -x509 $KEY -days 2 -subj '/CN=tlsrptd sts test CA' -keyout ca.key -out ca.pem "
    "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign\n"
    "names='enforce testing none redirect big badtype invalid short change restart dane "
    "attrs deep refresh'\n"
    "san=''\n"
    "for n in $names; do san=\"$san${san:+, }DNS:mta-sts.$n.example\"; done\n"
    "printf 'subjectAltName = %s\\nextendedKeyUsage = serverAuth\\n' \"$san\" > srv.ext\n"
    "openssl req -new $KEY -subj '/CN=mta-sts test' -keyout srv.key -out srv.csr\n"
    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
    "-extfile srv.ext -out srv.pem\n";

/* ---- peers ---- */

static char *read_text(const char *path)
{
    char *error = NULL;
    struct buf text = {0};

    if (file_read_all(path, 1 << 24, &text, &error) < 0)
        free(error);
    return buf_steal(&text);
}

static void write_text(const char *path, const char *text)
{
    char *error = NULL;

    if (file_write_atomic(path, text, strlen(text), 0644, &error) < 0)
        msg_fatal("%s", error);
}

static pid_t spawn(const char *log_name, char *const argv[])
{
    pid_t pid = fork();

    if (pid < 0)
        msg_fatal("fork: %s", strerror(errno));
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
        if (chdir(temp_dir) < 0 || !freopen(log_name, "w", stdout) || !freopen(log_name, "a", stderr))
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static bool have(const char *program)
{
    char *command = xasprintf("command -v %s >/dev/null 2>&1", program);
    int status = system(command);

    free(command);
    return status == 0;
}

/* Polls until `path` holds text containing marker followed by a number. */
static bool wait_number(pid_t pid, const char *path, const char *marker, int *value)
{
    for (int tries = 0; tries < DEADLINE_TRIES; tries++) {
        char *text = read_text(path);
        const char *found = strstr(text, marker);
        bool ok = found && sscanf(found + strlen(marker), "%d", value) == 1 && *value > 0;
        free(text);
        if (ok)
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return false;
        usleep(10000);
    }
    return false;
}

static void dns_entry(struct buf *b, const char *rcode, const char *qname, const char *type,
                      const char *answer)
{
    buf_printf(b,
               "ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\nREPLY QR RD RA %s\n"
               "SECTION QUESTION\n%s IN %s\nSECTION ANSWER\n%sENTRY_END\n",
               rcode, qname, type, answer);
}

/* An MTA-STS domain: TXT with id (TTL 0: never cached), policy host, one MX. */
static void sts_domain(struct buf *b, const char *name, const char *id, const char *mx)
{
    char *q = xasprintf("_mta-sts.%s.example.", name);
    char *rr = xasprintf("%s 0 IN TXT \"v=STSv1; id=%s;\"\n", q, id);
    dns_entry(b, "NOERROR", q, "TXT", rr);
    free(q);
    free(rr);
    q = xasprintf("mta-sts.%s.example.", name);
    rr = xasprintf("%s 0 IN A 127.0.0.1\n", q);
    dns_entry(b, "NOERROR", q, "A", rr);
    dns_entry(b, "NOERROR", q, "AAAA", "");
    free(q);
    free(rr);
    q = xasprintf("%s.example.", name);
    rr = xasprintf("%s 0 IN MX 10 %s.\n", q, mx);
    dns_entry(b, "NOERROR", q, "MX", rr);
    free(q);
    free(rr);
}

/* The zone of every case; `change_id` is the id of change.example, which tests vary. */
static char *dns_data(const char *change_id)
{
    struct buf b = {0};

    sts_domain(&b, "enforce", "e1", "mx1.enforce.example");
    sts_domain(&b, "testing", "t1", "mx.testing.example");
    sts_domain(&b, "attrs", "a1", "mx.attrs.example");
    sts_domain(&b, "none", "n1", "mx.none.example");
    sts_domain(&b, "redirect", "r1", "mx.redirect.example");
    sts_domain(&b, "big", "b1", "mx.big.example");
    sts_domain(&b, "badtype", "bt1", "mx.badtype.example");
    sts_domain(&b, "invalid", "i1", "mx.invalid.example");
    sts_domain(&b, "wrongcert", "w1", "mx.wrongcert.example");
    sts_domain(&b, "short", "s1", "mx.short.example");
    sts_domain(&b, "restart", "rs1", "mx.restart.example");
    sts_domain(&b, "deep", "d1", "a.b.deep.example");
    sts_domain(&b, "refresh", "rf1", "mx.refresh.example");
    sts_domain(&b, "change", change_id, "mx.change.example");
    dns_entry(&b, "NXDOMAIN", "_mta-sts.norecord.example.", "TXT", "");
    dns_entry(&b, "SERVFAIL", "_mta-sts.servfail.example.", "TXT", "");
    /* DANE: validated MX and TLSA (AD set); its STS record must not be used. */
    dns_entry(&b, "AD NOERROR", "dane.example.", "MX", "dane.example. 0 IN MX 10 mx.dane.example.\n");
    dns_entry(&b, "AD NOERROR", "_25._tcp.mx.dane.example.", "TLSA",
              "_25._tcp.mx.dane.example. 0 IN TLSA 3 1 1 "
              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
    dns_entry(&b, "NOERROR", "_mta-sts.dane.example.", "TXT",
              "_mta-sts.dane.example. 0 IN TXT \"v=STSv1; id=x1\"\n");
    /* Anything else: SERVFAIL at once (ldns-testns would not answer at all). */
    buf_puts(&b, "ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id\nREPLY QR RD RA SERVFAIL\nENTRY_END\n");
    return buf_steal(&b);
}

/* (Re)starts ldns-testns with the zone, on dns_port when it is set. */
static bool start_dns(const char *change_id)
{
    char *data = dns_data(change_id), *path = path_join(temp_dir, "dns.data");
    char *log = path_join(temp_dir, "dns.log"), port[16];

    write_text(path, data);
    free(data);
    unlink(log);
    if (dns_pid > 0)
        stop(dns_pid);
    snprintf(port, sizeof(port), "%d", dns_port);
    char *with_port[] = {"ldns-testns", "-p", port, "dns.data", NULL};
    char *random_port[] = {"ldns-testns", "-r", "dns.data", NULL};
    dns_pid = spawn("dns.log", dns_port ? with_port : random_port);
    bool ok = wait_number(dns_pid, log, "Listening on port ", &dns_port);
    free(path);
    free(log);
    return ok;
}

static bool start_peers(void)
{
    char *certificates[] = {"sh", "certificates.sh", NULL};
    char *script = path_join(temp_dir, "certificates.sh");
    int status;

    write_text(script, certificates_script);
    free(script);
    pid_t pid = spawn("openssl.log", certificates);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "could not make the test certificates (see %s/openssl.log)\n", temp_dir);
        return false;
    }
    web_dir = path_join(temp_dir, "web");
    mkdir(web_dir, 0755);
    char *server_path = xasprintf("%s/tests/peers/https_sink.py", POLICY_SOURCE_DIR);
    char *port_file = path_join(temp_dir, "web.port");
    char *server[] = {"python3", server_path, "--dir", web_dir, "--port-file", port_file,
                      "--cert", "srv.pem", "--key", "srv.key", NULL};
    web_pid = spawn("web.log", server);
    bool ok = wait_number(web_pid, port_file, "", &web_port);
    free(server_path);
    free(port_file);
    if (!ok) {
        fprintf(stderr, "the MTA-STS test server did not start (see %s/web.log)\n", temp_dir);
        return false;
    }
    return start_dns("c1");
}

/* ---- helpers for the cases ---- */

static void serve(const char *name, const char *head, const char *body)
{
    char *file = xasprintf("%s/mta-sts.%s.example", web_dir, name);
    char *text = xasprintf("%s\n%s", head, body);
    write_text(file, text);
    free(file);
    free(text);
}

static void policy(const char *name, const char *mode, const char *mx, long max_age)
{
    char *body = xasprintf("version: STSv1\r\nmode: %s\r\n%smax_age: %ld\r\n", mode, mx, max_age);
    serve(name, "200 text/plain; charset=utf-8", body);
    free(body);
}

/* Requests the server saw for mta-sts.NAME.example. */
static int requests(const char *name)
{
    char *log_path = path_join(web_dir, "requests.log"), *log = read_text(log_path);
    char *line = xasprintf("mta-sts.%s.example /.well-known/mta-sts.txt\n", name);
    int n = 0;

    for (const char *p = log; (p = strstr(p, line)) != NULL; p += strlen(line))
        if (p == log || p[-1] == '\n')
            n++;
    free(line);
    free(log);
    free(log_path);
    return n;
}

static char *state_dir;

static struct pol_service *service(bool attributes)
{
    char *dir_template = path_join(temp_dir, "state.XXXXXX");
    if (state_dir == NULL)
        state_dir = mkdtemp(dir_template) ? dir_template : NULL;
    else
        free(dir_template);
    ck_assert_ptr_nonnull(state_dir);
    char *text = xasprintf("state_directory = %s\ndns_resolvers = 127.0.0.1:%d\n"
                           "dns_timeout = 3s\nsts_ca_file = %s/ca.pem\nsts_https_port = %d\n"
                           "sts_fetch_timeout = 20s\npolicy_tlsrpt_attributes = %s\n",
                           state_dir, dns_port, temp_dir, web_port, attributes ? "yes" : "no");
    char *error = NULL;
    struct cfg *cfg = cfg_load_string(text, "test.cf", &error);
    ck_assert_msg(cfg != NULL, "%s", error);
    struct pol_service *svc = pol_service_create(cfg, &error);
    ck_assert_msg(svc != NULL, "%s", error);
    cfg_free(cfg);
    free(text);
    return svc;
}

static void assert_answer(struct pol_service *svc, const char *domain, const char *expected)
{
    struct buf reply = {0}, why = {0};

    pol_query_explain(svc, domain, &reply, &why);
    ck_assert_msg(strcmp(reply.data, expected) == 0, "%s: got \"%s\", expected \"%s\"\n%s",
                  domain, reply.data, expected, why.data ? why.data : "");
    buf_free(&reply);
    buf_free(&why);
}

/* Today's counter rows for domain, rendered "RESULT COUNT INFO | REASON" per detail. */
static char *counted(const char *domain)
{
    char *dir = path_join(state_dir, "counters"), *error = NULL;
    struct buf out = {0};
    struct ctr_table *table = ctr_open(dir, day_today(), CTR_READ_ONLY, NULL, &error);

    free(dir);
    if (table == NULL) {
        free(error);
        return xstrdup(""); /* nothing was ever counted today */
    }
    struct ctr_snapshot *snap = ctr_snapshot(table, domain);
    for (size_t k = 0; k < snap->n_keys; k++) {
        const struct ctr_key *key = &snap->keys[k];
        buf_printf(&out, "%s %s %s S=%llu F=%llu\n", key->domain,
                   tr_policy_type_name(key->policy.type),
                   key->policy.domain ? key->policy.domain : "-",
                   (unsigned long long)key->success, (unsigned long long)key->failure);
        for (size_t d = 0; d < key->n_details; d++) {
            const struct tr_failure *f = &key->details[d].failure;
            buf_printf(&out, "  %llu %s %s | %s\n", (unsigned long long)key->details[d].count,
                       tr_result_name(f->result),
                       f->additional_information ? f->additional_information : "-",
                       f->failure_reason_code ? f->failure_reason_code : "-");
        }
    }
    ctr_snapshot_free(snap);
    ctr_close(table);
    return out.data ? buf_steal(&out) : xstrdup("");
}

static void assert_counted(const char *domain, const char *expected)
{
    char *got = counted(domain);
    ck_assert_str_eq(got, expected);
    free(got);
}

/* ---- cases ---- */

START_TEST(test_enforce)
{
    struct pol_service *svc = service(false);

    policy("enforce", "enforce", "mx: mx1.enforce.example\r\nmx: *.other.example\r\n", 86400);
    assert_answer(svc, "Enforce.Example.", "OK secure match=mx1.enforce.example servername=hostname");
    assert_answer(svc, "enforce.example", "OK secure match=mx1.enforce.example servername=hostname");
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
    /* With attributes Postfix >= 3.10 reports failures itself: nothing counted here. */
    serve("redirect", "301 text/plain", "");
    assert_answer(svc, "redirect.example", "NOTFOUND ");
    assert_counted("redirect.example", "");
    pol_service_destroy(svc);
}
END_TEST

START_TEST(test_servfail_is_temp)
{
    struct pol_service *svc = service(false);

    assert_answer(svc, "servfail.example", "TEMP _mta-sts.servfail.example: DNS lookup failed");
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

#define URL(d) "https://mta-sts." d ".example/.well-known/mta-sts.txt"

static const struct {
    const char *name;
    const char *head; /* NULL: no file, 404 */
    const char *body;
    const char *counted;
} failure_cases[] = {
    {"redirect", "301 text/plain", "",
     "redirect.example sts redirect.example S=0 F=3\n  3 sts-policy-fetch-error " URL("redirect")
     " | HTTP status 301 (only 200 is a policy; redirects are not followed)\n"},
    {"big", "200 text/plain", "BIG",
     "big.example sts big.example S=0 F=3\n  3 sts-policy-fetch-error " URL("big")
     " | policy larger than 65536 bytes\n"},
    {"badtype", "200 text/html", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n",
     "badtype.example sts badtype.example S=0 F=3\n  3 sts-policy-fetch-error " URL("badtype")
     " | media type text/html, not text/plain\n"},
    {"invalid", "200 text/plain", "version: STSv1\nmode: enforce\nmax_age: 5\n",
     "invalid.example sts invalid.example S=0 F=3\n  3 sts-policy-invalid " URL("invalid")
     " | invalid policy: no mx field (required in mode enforce)\n"},
};

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
    ck_assert_msg(strncmp(got,
                          "wrongcert.example sts wrongcert.example S=0 F=1\n"
                          "  1 sts-webpki-invalid " URL("wrongcert")
                          " | certificate not valid for the policy host: ",
                          strlen("wrongcert.example sts wrongcert.example S=0 F=1\n"
                                 "  1 sts-webpki-invalid " URL("wrongcert")
                                 " | certificate not valid for the policy host: ")) == 0,
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
        assert_answer(svc, "change.example", "OK secure match=mx.change.example servername=hostname");
    ck_assert_int_eq(requests("change"), 3);
    assert_counted("change.example", ""); /* a policy applied: nothing failed before connecting */
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
        workers[i] = (struct worker){.svc = svc, .domain = i % 2 ? "enforce.example" : "redirect.example"};
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
                   "redirect.example sts redirect.example S=0 F=8\n  8 sts-policy-fetch-error "
                   URL("redirect") " | HTTP status 302 (only 200 is a policy; redirects are not "
                   "followed)\n");
    pol_service_destroy(svc);
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
    assert_answer(svc, "enforce.example", "OK secure match=mx1.enforce.example servername=hostname");
    assert_answer(svc, "enforce.example", "OK secure match=mx1.enforce.example servername=hostname");
    assert_answer(svc, "norecord.example", "NOTFOUND ");
    pol_stats(svc, emit, &text);
    ck_assert_str_eq(text.data, "sts.lookups=3\nsts.cache_hits=1\nsts.fetches=1\nsts.fetches_ok=1\n"
                                "sts.errors.fetch=0\nsts.errors.invalid=0\nsts.errors.webpki=0\n"
                                "sts.answers.dane=0\nsts.answers.enforce=2\n"
                                "sts.answers.testing=0\nsts.answers.notfound=1\n"
                                "sts.answers.temp=0\nsts.failures_counted=0\n"
                                "sts.cache_entries=1\n");
    buf_free(&text);
    pol_service_destroy(svc);
}
END_TEST

static void fresh_state(void)
{
    free(state_dir);
    state_dir = NULL;
    char *log = path_join(web_dir, "requests.log");
    unlink(log);
    free(log);
}

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
    tcase_add_test(tc, test_concurrent_lookups);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!have("python3") || !have("openssl") || !have("ldns-testns")) {
        printf("SKIP: python3, openssl or ldns-testns (ldnsutils) not found in PATH\n");
        return 77;
    }
    if (mkdtemp(temp_dir) == NULL)
        msg_fatal("mkdtemp %s: %s", temp_dir, strerror(errno));
    int failed = 1;
    if (start_peers()) {
        SRunner *runner = srunner_create(policy_live_suite());
        /* The id-change case restarts the DNS server: no forks that would lose its pid. */
        srunner_set_fork_status(runner, CK_NOFORK);
        srunner_run_all(runner, CK_NORMAL);
        failed = srunner_ntests_failed(runner);
        srunner_free(runner);
    }
    if (web_pid > 0)
        stop(web_pid);
    if (dns_pid > 0)
        stop(dns_pid);
    if (failed == 0) {
        char *command = xasprintf("rm -rf '%s'", temp_dir);
        if (system(command) != 0)
            fprintf(stderr, "could not remove %s\n", temp_dir);
        free(command);
    } else {
        fprintf(stderr, "kept %s for a look\n", temp_dir);
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
