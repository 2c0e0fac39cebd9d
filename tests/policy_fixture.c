/*
 * policy_fixture.c - the peers of check_policy_live: a test CA and a
 * certificate for the mta-sts.* names, tests/peers/https_sink.py serving
 * policy files, ldns-testns serving the zone of every case, and helpers
 * that make a service on a fresh state directory and check what it did.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "counters.h"
#include "policy.h"
#include "policy_fixture.h"
#include "peer_process.h"
#include "util.h"

#define DEADLINE_TRIES 1500 /* x 10 ms: a loaded machine is slow to start peers */

char temp_dir[] = "/tmp/check_policy_live.XXXXXX";
static char *web_dir; /* the server's policy files and request log */
static pid_t web_pid, dns_pid;
static int web_port, dns_port;

static const char certificates_script[] =
    "set -e\n"
    "KEY='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
    "openssl req -x509 $KEY -days 2 -subj '/CN=tlsrptd sts test CA' -keyout ca.key -out ca.pem "
    "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign\n"
    "names='enforce testing none redirect big badtype invalid short change restart dane "
    "attrs deep refresh alias stream cached'\n"
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

/* A peer in the temp directory, output to a log file there; it dies with the test. */
static pid_t spawn(const char *log_name, char *const argv[])
{
    return peer_spawn(temp_dir, log_name, argv);
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

/* An MTA-STS domain: TXT with id (TTL 0: never cached; none for NULL), policy host, one MX. */
static void sts_domain(struct buf *b, const char *name, const char *id, const char *mx)
{
    char *q = xasprintf("_mta-sts.%s.example.", name), *rr = NULL;
    if (id) { /* NULL: the case writes its own TXT entry */
        rr = xasprintf("%s 0 IN TXT \"v=STSv1; id=%s;\"\n", q, id);
        dns_entry(b, "NOERROR", q, "TXT", rr);
    }
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
    sts_domain(&b, "stream", "st1", "mx.stream.example");
    sts_domain(&b, "invalid", "i1", "mx.invalid.example");
    sts_domain(&b, "wrongcert", "w1", "mx.wrongcert.example");
    sts_domain(&b, "short", "s1", "mx.short.example");
    sts_domain(&b, "restart", "rs1", "mx.restart.example");
    sts_domain(&b, "deep", "d1", "a.b.deep.example");
    sts_domain(&b, "refresh", "rf1", "mx.refresh.example");
    sts_domain(&b, "change", change_id, "mx.change.example");
    dns_entry(&b, "NXDOMAIN", "_mta-sts.norecord.example.", "TXT", "");
    /* The record behind a CNAME (RFC 8461 §3.1 allows it); the policy host stays mta-sts.alias. */
    sts_domain(&b, "alias", NULL, "mx.alias.example");
    dns_entry(&b, "NOERROR", "_mta-sts.alias.example.", "TXT",
              "_mta-sts.alias.example. 0 IN CNAME _mta-sts.target.example.\n"
              "_mta-sts.target.example. 0 IN TXT \"v=STSv1; id=cn1\"\n");
    dns_entry(&b, "SERVFAIL", "_mta-sts.servfail.example.", "TXT", "");
    /* TXT and MX with a TTL, so lookups can be answered from the DNS cache. */
    dns_entry(&b, "NOERROR", "_mta-sts.cached.example.", "TXT",
              "_mta-sts.cached.example. 3600 IN TXT \"v=STSv1; id=c1;\"\n");
    dns_entry(&b, "NOERROR", "mta-sts.cached.example.", "A",
              "mta-sts.cached.example. 0 IN A 127.0.0.1\n");
    dns_entry(&b, "NOERROR", "mta-sts.cached.example.", "AAAA", "");
    dns_entry(&b, "NOERROR", "cached.example.", "MX",
              "cached.example. 3600 IN MX 10 mx1.cached.example.\n");
    /* DANE: validated MX and TLSA (AD set); its STS record must not be used. */
    dns_entry(&b, "AD NOERROR", "dane.example.", "MX",
              "dane.example. 0 IN MX 10 mx.dane.example.\n");
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
bool start_dns(const char *change_id)
{
    char *data = dns_data(change_id), *path = path_join(temp_dir, "dns.data");
    char *log = path_join(temp_dir, "dns.log"), port[16];

    write_text(path, data);
    free(data);
    unlink(log);
    if (dns_pid > 0)
        peer_stop(dns_pid);
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
    char *server[] = {"python3", server_path, "--dir", web_dir,   "--port-file", port_file,
                      "--cert",  "srv.pem",   "--key", "srv.key", NULL};
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

void serve(const char *name, const char *head, const char *body)
{
    char *file = xasprintf("%s/mta-sts.%s.example", web_dir, name);
    char *text = xasprintf("%s\n%s", head, body);
    write_text(file, text);
    free(file);
    free(text);
}

void policy(const char *name, const char *mode, const char *mx, long max_age)
{
    char *body = xasprintf("version: STSv1\r\nmode: %s\r\n%smax_age: %ld\r\n", mode, mx, max_age);
    serve(name, "200 text/plain; charset=utf-8", body);
    free(body);
}

/* Requests the server saw for mta-sts.NAME.example. */
int requests(const char *name)
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

char *state_dir;

struct pol_service *service(bool attributes)
{
    return service_with(attributes, "");
}

struct pol_service *service_with(bool attributes, const char *more)
{
    char *dir_template = path_join(temp_dir, "state.XXXXXX");
    if (state_dir == NULL)
        state_dir = mkdtemp(dir_template) ? dir_template : NULL;
    else
        free(dir_template);
    ck_assert_ptr_nonnull(state_dir);
    char *text = xasprintf("state_directory = %s\ndns_resolvers = 127.0.0.1:%d\n"
                           "dns_timeout = 3s\nsts_ca_file = %s/ca.pem\nsts_https_port = %d\n"
                           "sts_fetch_timeout = 20s\npolicy_tlsrpt_attributes = %s\n%s",
                           state_dir, dns_port, temp_dir, web_port, attributes ? "yes" : "no",
                           more);
    char *error = NULL;
    struct cfg *cfg = cfg_load_string(text, "test.cf", &error);
    ck_assert_msg(cfg != NULL, "%s", error);
    struct pol_service *svc = pol_service_create(cfg, &error);
    ck_assert_msg(svc != NULL, "%s", error);
    cfg_free(cfg);
    free(text);
    return svc;
}

void assert_answer(struct pol_service *svc, const char *domain, const char *expected)
{
    struct buf reply = {0}, why = {0};

    pol_query_explain(svc, domain, &reply, &why);
    ck_assert_msg(strcmp(reply.data, expected) == 0, "%s: got \"%s\", expected \"%s\"\n%s", domain,
                  reply.data, expected, why.data ? why.data : "");
    buf_free(&reply);
    buf_free(&why);
}

/* Today's counter rows for domain, rendered "RESULT COUNT INFO | REASON" per detail. */
char *counted(const char *domain)
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
                   key->policy.domain ? key->policy.domain : "-", (unsigned long long)key->success,
                   (unsigned long long)key->failure);
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

void assert_counted(const char *domain, const char *expected)
{
    char *got = counted(domain);
    ck_assert_str_eq(got, expected);
    free(got);
}

void fresh_state(void)
{
    free(state_dir);
    state_dir = NULL;
    char *log = path_join(web_dir, "requests.log");
    unlink(log);
    free(log);
}

int policy_fixture_run(Suite *suite)
{
    if (!have("python3") || !have("openssl") || !have("ldns-testns")) {
        printf("SKIP: python3, openssl or ldns-testns (ldnsutils) not found in PATH\n");
        return 77;
    }
    if (mkdtemp(temp_dir) == NULL)
        msg_fatal("mkdtemp %s: %s", temp_dir, strerror(errno));
    int failed = 1;
    if (start_peers()) {
        SRunner *runner = srunner_create(suite);
        /* The id-change case restarts the DNS server: no forks that would lose its pid. */
        srunner_set_fork_status(runner, CK_NOFORK);
        srunner_run_all(runner, CK_NORMAL);
        failed = srunner_ntests_failed(runner);
        srunner_free(runner);
    }
    if (web_pid > 0)
        peer_stop(web_pid);
    if (dns_pid > 0)
        peer_stop(dns_pid);
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
