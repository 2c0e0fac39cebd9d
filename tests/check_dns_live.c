/*
 * check_dns_live.c - Check suite of the dns module against a real DNS
 * server: ldns-testns on 127.0.0.1 serves a data file of cases, and the
 * lookups must give the exact status, detail, TXT records and rua list;
 * the cache is checked by stopping and restarting the server.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "dns.h"
#include "util.h"

#define TIMEOUT_MS 1000

static char *testns_path;
static char temp_dir[] = "/tmp/check_dns_live.XXXXXX";
static pid_t server_pid; /* the server of the case table, started by the fixture */
static int server_port;

/* One entry of ldns-testns's data file (see ldns-testns(1)). */
#define ENTRY(match, flags, question, sections)                                                    \
    "ENTRY_BEGIN\nMATCH opcode qtype qname\n" match "ADJUST copy_id\nREPLY QR RD RA " flags        \
    "\nSECTION QUESTION\n" question " IN TXT\n" sections "ENTRY_END\n"
#define TXT_ENTRY(name, records) ENTRY("", "NOERROR", name, "SECTION ANSWER\n" records)
#define SOA "example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 120\n"

/* One entry per paragraph reads better than what clang-format would make of it. */
/* clang-format off */
static const char cases_data[] =
    "$ORIGIN example.\n$TTL 600\n"
    TXT_ENTRY("_smtp._tls.valid.example.",
              "_smtp._tls.valid.example. IN TXT \"v=TLSRPTv1;rua=mailto:tlsrpt@valid.example\"\n")
    TXT_ENTRY("_smtp._tls.split.example.",
              "_smtp._tls.split.example. IN TXT \"v=TLSRPTv1;\" \"rua=mailto:tls\" "
              "\"rpt@split.example\"\n")
    TXT_ENTRY("_smtp._tls.two.example.",
              "_smtp._tls.two.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@two.example\"\n"
              "_smtp._tls.two.example. IN TXT \"v=TLSRPTv1;rua=mailto:b@two.example\"\n")
    TXT_ENTRY("_smtp._tls.ws.example.",
              "_smtp._tls.ws.example. IN TXT \"v=TLSRPTv1; rua=mailto:a@ws.example ,"
              "\t https://r.ws.example/v1 ;\"\n")
    TXT_ENTRY("_smtp._tls.ext.example.",
              "_smtp._tls.ext.example. IN TXT \"v=TLSRPTv1;x-ext=1;rua=mailto:a@ext.example;"
              "y.z=abc\"\n")
    TXT_ENTRY("_smtp._tls.rep.example.",
              "_smtp._tls.rep.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@rep.example;"
              "rua=https://r.rep.example/\"\n")
    TXT_ENTRY("_smtp._tls.pct.example.",
              "_smtp._tls.pct.example. IN TXT \"v=TLSRPTv1;rua=https://r.pct.example/"
              "a%2Cb%21c%3Bd%41\"\n")
    TXT_ENTRY("_smtp._tls.unk.example.",
              "_smtp._tls.unk.example. IN TXT \"v=TLSRPTv1;rua=ftp://x.unk.example/,"
              "mailto:a@unk.example\"\n")
    TXT_ENTRY("_smtp._tls.onlyunk.example.",
              "_smtp._tls.onlyunk.example. IN TXT \"v=TLSRPTv1;rua=http://r.onlyunk.example/\"\n")
    TXT_ENTRY("_smtp._tls.https.example.",
              "_smtp._tls.https.example. IN TXT \"v=TLSRPTv1; "
              "rua=https://reporting.https.example/v1/tlsrpt\"\n")
    TXT_ENTRY("_smtp._tls.mixed.example.",
              "_smtp._tls.mixed.example. IN TXT \"v=spf1 -all\"\n"
              "_smtp._tls.mixed.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@mixed.example\"\n")
    TXT_ENTRY("_smtp._tls.notls.example.", "_smtp._tls.notls.example. IN TXT \"v=spf1 -all\"\n")
    TXT_ENTRY("_smtp._tls.spaced.example.",
              "_smtp._tls.spaced.example. IN TXT \"v=TLSRPTv1 ;rua=mailto:a@spaced.example\"\n"
              "_smtp._tls.spaced.example. IN TXT \"v=TLSRPTv1;rua=mailto:b@spaced.example\"\n")
    TXT_ENTRY("_smtp._tls.invalid.example.",
              "_smtp._tls.invalid.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@invalid.example;"
              "bad field\"\n")
    TXT_ENTRY("_smtp._tls.nul.example.",
              "_smtp._tls.nul.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@nul.example\\000x\"\n")
    TXT_ENTRY("_smtp._tls.crlf.example.",
              "_smtp._tls.crlf.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@crlf.example\\013\\010"
              "Bcc: x@y,mailto:ok@crlf.example\"\n")
    TXT_ENTRY("_smtp._tls.ttl.example.",
              "_smtp._tls.ttl.example. 999999 IN TXT \"v=TLSRPTv1;rua=mailto:a@ttl.example\"\n")
    TXT_ENTRY("_smtp._tls.alias.example.",
              "_smtp._tls.alias.example. 300 IN CNAME _smtp._tls.target.example.\n"
              "_smtp._tls.target.example. 900 IN TXT \"v=TLSRPTv1;rua=mailto:a@target.example\"\n")
    ENTRY("", "NXDOMAIN", "_smtp._tls.nx.example.", "SECTION AUTHORITY\n" SOA)
    ENTRY("", "NXDOMAIN", "_smtp._tls.nxnosoa.example.", "")
    ENTRY("", "NOERROR", "_smtp._tls.nodata.example.",
          "SECTION AUTHORITY\n"
          "example. 7200 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 7200\n")
    ENTRY("", "SERVFAIL", "_smtp._tls.servfail.example.", "")
    ENTRY("", "REFUSED", "_smtp._tls.refused.example.", "")
    /* Truncated over UDP: ldns must ask again over TCP. */
    ENTRY("MATCH UDP\n", "TC NOERROR", "_smtp._tls.big.example.", "")
    ENTRY("MATCH TCP\n", "NOERROR", "_smtp._tls.big.example.",
          "SECTION ANSWER\n_smtp._tls.big.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@big.example\"\n")
    /* No ADJUST copy_id: the reply carries another ID than the query. */
    "ENTRY_BEGIN\nMATCH opcode qtype qname\nREPLY QR RD RA NOERROR\nSECTION QUESTION\n"
    "_smtp._tls.badid.example. IN TXT\nSECTION ANSWER\n"
    "_smtp._tls.badid.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@badid.example\"\nENTRY_END\n";
/* clang-format on */

#define M(addr) "mailto mailto:" addr " " addr

static const struct {
    const char *domain;
    enum dns_status status;
    const char *detail;
    const char *txt; /* every TXT record, one per line */
    const char *rua; /* as check_dns.c renders it */
    const char *notes;
    long ttl; /* expected cache lifetime */
} lookup_cases[] = {
    {"valid.example", DNS_FOUND, "1 TLSRPT record", "v=TLSRPTv1;rua=mailto:tlsrpt@valid.example",
     M("tlsrpt@valid.example"), "", 600},
    {"VALID.Example.", DNS_FOUND, "1 TLSRPT record", "v=TLSRPTv1;rua=mailto:tlsrpt@valid.example",
     M("tlsrpt@valid.example"), "", 600},
    {"split.example", DNS_FOUND, "1 TLSRPT record", "v=TLSRPTv1;rua=mailto:tlsrpt@split.example",
     M("tlsrpt@split.example"), "", 600},
    {"two.example", DNS_NONE, "2 TLSRPT records",
     "v=TLSRPTv1;rua=mailto:a@two.example\nv=TLSRPTv1;rua=mailto:b@two.example", "", "", 600},
    {"ws.example", DNS_FOUND, "1 TLSRPT record",
     "v=TLSRPTv1; rua=mailto:a@ws.example ,\t https://r.ws.example/v1 ;",
     M("a@ws.example") "\nhttps https://r.ws.example/v1", "", 600},
    {"ext.example", DNS_FOUND, "1 TLSRPT record",
     "v=TLSRPTv1;x-ext=1;rua=mailto:a@ext.example;y.z=abc", M("a@ext.example"), "", 600},
    {"rep.example", DNS_FOUND, "1 TLSRPT record",
     "v=TLSRPTv1;rua=mailto:a@rep.example;rua=https://r.rep.example/",
     M("a@rep.example") "\nhttps https://r.rep.example/", "", 600},
    {"pct.example", DNS_FOUND, "1 TLSRPT record",
     "v=TLSRPTv1;rua=https://r.pct.example/a%2Cb%21c%3Bd%41",
     "https https://r.pct.example/a,b!c;d%41", "", 600},
    {"unk.example", DNS_FOUND, "1 TLSRPT record",
     "v=TLSRPTv1;rua=ftp://x.unk.example/,mailto:a@unk.example", M("a@unk.example"),
     "skipped \"ftp://x.unk.example/\": unsupported scheme \"ftp\"", 600},
    {"onlyunk.example", DNS_NONE,
     "invalid TLSRPT record: no usable rua destination: skipped \"http://r.onlyunk.example/\": "
     "unsupported scheme \"http\"",
     "v=TLSRPTv1;rua=http://r.onlyunk.example/", "", "", 600},
    {"https.example", DNS_FOUND, "1 TLSRPT record",
     "v=TLSRPTv1; rua=https://reporting.https.example/v1/tlsrpt",
     "https https://reporting.https.example/v1/tlsrpt", "", 600},
    {"mixed.example", DNS_FOUND, "1 TLSRPT record",
     "v=spf1 -all\nv=TLSRPTv1;rua=mailto:a@mixed.example", M("a@mixed.example"), "", 600},
    {"notls.example", DNS_NONE, "no TLSRPT record", "v=spf1 -all", "", "", 600},
    {"spaced.example", DNS_FOUND, "1 TLSRPT record",
     "v=TLSRPTv1 ;rua=mailto:a@spaced.example\nv=TLSRPTv1;rua=mailto:b@spaced.example",
     M("b@spaced.example"), "", 600},
    {"invalid.example", DNS_NONE, "invalid TLSRPT record: bad field \"bad field\"",
     "v=TLSRPTv1;rua=mailto:a@invalid.example;bad field", "", "", 600},
    /* A NUL or another control byte refuses the whole record; every byte is kept to be shown. */
    {"nul.example", DNS_NONE,
     "invalid TLSRPT record: control character 0x00 at byte 36: a record with a NUL or control "
     "character is refused whole",
     "v=TLSRPTv1;rua=mailto:a@nul.example\\x00x", "", "", 600},
    {"crlf.example", DNS_NONE,
     "invalid TLSRPT record: control character 0x0D at byte 37: a record with a NUL or control "
     "character is refused whole",
     "v=TLSRPTv1;rua=mailto:a@crlf.example\\x0D\\x0ABcc: x@y,mailto:ok@crlf.example", "", "", 600},
    {"ttl.example", DNS_FOUND, "1 TLSRPT record", "v=TLSRPTv1;rua=mailto:a@ttl.example",
     M("a@ttl.example"), "", 86400},
    {"alias.example", DNS_FOUND, "1 TLSRPT record", "v=TLSRPTv1;rua=mailto:a@target.example",
     M("a@target.example"), "", 300},
    {"nx.example", DNS_NONE, "NXDOMAIN", "", "", "", 120},
    {"nxnosoa.example", DNS_NONE, "NXDOMAIN", "", "", "", 300},
    {"nodata.example", DNS_NONE, "NODATA", "", "", "", 3600},
    {"servfail.example", DNS_TEMPFAIL, "SERVFAIL", "", "", "", 0},
    {"refused.example", DNS_TEMPFAIL, "REFUSED", "", "", "", 0},
    {"big.example", DNS_FOUND, "1 TLSRPT record", "v=TLSRPTv1;rua=mailto:a@big.example",
     M("a@big.example"), "", 600},
    {"badid.example", DNS_TEMPFAIL, "answer does not match the query", "", "", "", 0},
    /* ldns-testns does not answer names it has no entry for. */
    {"unanswered.example", DNS_TEMPFAIL, "timeout or network error", "", "", "", 0},
};

static char *render_lines(char *const *lines, size_t n)
{
    struct buf out;

    buf_init(&out);
    for (size_t i = 0; i < n; i++)
        buf_printf(&out, "%s%s", i > 0 ? "\n" : "", lines[i]);
    return buf_steal(&out);
}

/* The TXT records one a line, every byte of each (NUL included), control bytes but HTAB as \xNN. */
static char *render_txt(const struct dns_tlsrpt_answer *answer)
{
    struct buf out;

    buf_init(&out);
    for (size_t i = 0; i < answer->n_txt; i++) {
        if (i > 0)
            buf_putc(&out, '\n');
        for (size_t j = 0; j < answer->txt_len[i]; j++) {
            unsigned char c = (unsigned char)answer->txt[i][j];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                buf_printf(&out, "\\x%02X", c);
            else
                buf_putc(&out, (char)c);
        }
    }
    return buf_steal(&out);
}

static char *render_rua(const struct dns_tlsrpt_record *record)
{
    struct buf out;

    buf_init(&out);
    for (size_t i = 0; i < record->n_rua; i++) {
        const struct dns_rua *rua = &record->rua[i];
        if (rua->scheme == DNS_RUA_MAILTO)
            buf_printf(&out, "%smailto %s %s", i > 0 ? "\n" : "", rua->uri, rua->target);
        else
            buf_printf(&out, "%shttps %s", i > 0 ? "\n" : "", rua->uri);
    }
    return buf_steal(&out);
}

/* Starts ldns-testns on `port` (0: a random one); returns its pid, sets *port_r. */
static pid_t testns_start(const char *data, int port, int *port_r)
{
    static int serial;
    /* Unique names: tests run in forked children that share the directory. */
    char *data_path = xasprintf("%s/data.%ld.%d", temp_dir, (long)getpid(), serial);
    char *log_path = xasprintf("%s/log.%ld.%d", temp_dir, (long)getpid(), serial++);
    char *error = NULL;
    char port_text[16];

    if (file_write_atomic(data_path, data, strlen(data), 0600, &error) < 0)
        ck_abort_msg("%s", error);
    snprintf(port_text, sizeof(port_text), "%d", port);
    /* A random port (-r) may be taken by another test: then it exits, and another try. */
    for (int attempt = 0; attempt < (port ? 1 : 8); attempt++) {
        unlink(log_path);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
#ifdef __linux__
            /* Whatever happens to the test, the server does not outlive it. */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
            int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                _exit(127);
            if (port)
                execl(testns_path, "ldns-testns", "-p", port_text, data_path, (char *)NULL);
            else
                execl(testns_path, "ldns-testns", "-r", data_path, (char *)NULL);
            _exit(127);
        }
        /* It says "Listening on port N" once both sockets are bound. */
        for (int64_t deadline = clock_ms() + 60000; clock_ms() < deadline;) {
            struct buf log;
            buf_init(&log);
            if (file_read_all(log_path, 1 << 20, &log, &error) < 0)
                free(error);
            const char *line = strstr(buf_cstr(&log), "Listening on port ");
            if (line && strchr(line, '\n')) {
                *port_r = atoi(line + strlen("Listening on port "));
                buf_free(&log);
                free(data_path);
                free(log_path);
                return pid;
            }
            buf_free(&log);
            if (waitpid(pid, NULL, WNOHANG) == pid)
                break;
            usleep(10000);
        }
    }
    ck_abort_msg("ldns-testns did not start (port %d)", port);
    return -1;
}

static void testns_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static struct dns_resolver *resolver_for(int port)
{
    char *server = xasprintf("127.0.0.1:%d", port);
    const char *servers[] = {server, NULL};
    char *error = NULL;
    struct dns_resolver *resolver = dns_resolver_create(servers, TIMEOUT_MS, &error);

    if (resolver == NULL)
        ck_abort_msg("%s", error);
    free(server);
    return resolver;
}

static void cases_setup(void)
{
    server_pid = testns_start(cases_data, 0, &server_port);
}

static void cases_teardown(void)
{
    testns_stop(server_pid);
}

START_TEST(test_lookup)
{
    struct dns_resolver *resolver = resolver_for(server_port);
    struct dns_tlsrpt_answer answer;
    time_t before = time(NULL);

    dns_lookup_tlsrpt(resolver, lookup_cases[_i].domain, 5, &answer);
    ck_assert_str_eq(dns_status_name(answer.status), dns_status_name(lookup_cases[_i].status));
    ck_assert_str_eq(answer.detail, lookup_cases[_i].detail);
    char *expect_qname = xasprintf("_smtp._tls.%s", lookup_cases[_i].domain);
    for (char *p = expect_qname; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    if (expect_qname[strlen(expect_qname) - 1] == '.')
        expect_qname[strlen(expect_qname) - 1] = '\0';
    ck_assert_str_eq(answer.qname, expect_qname);
    char *txt = render_txt(&answer);
    char *rua = render_rua(&answer.record);
    char *notes = render_lines(answer.record.notes, answer.record.n_notes);
    ck_assert_str_eq(txt, lookup_cases[_i].txt);
    ck_assert_str_eq(rua, lookup_cases[_i].rua);
    ck_assert_str_eq(notes, lookup_cases[_i].notes);
    long ttl = (long)(answer.expires - before);
    ck_assert_msg(ttl >= lookup_cases[_i].ttl - 2 && ttl <= lookup_cases[_i].ttl,
                  "cache lifetime %ld, expected %ld", ttl, lookup_cases[_i].ttl);
    if (answer.status == DNS_FOUND)
        ck_assert_str_eq(answer.record.text, answer.txt[answer.n_txt - 1]);
    free(expect_qname);
    free(txt);
    free(rua);
    free(notes);
    dns_tlsrpt_answer_free(&answer);
    dns_resolver_destroy(resolver);
}
END_TEST

/* clang-format off */
static const char restart_data[] =
    "$ORIGIN example.\n$TTL 600\n"
    TXT_ENTRY("_smtp._tls.cached.example.",
              "_smtp._tls.cached.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@cached.example\"\n")
    TXT_ENTRY("_smtp._tls.uncached.example.",
              "_smtp._tls.uncached.example. IN TXT \"v=TLSRPTv1;rua=mailto:a@uncached.example\"\n")
    TXT_ENTRY("_smtp._tls.zero.example.",
              "_smtp._tls.zero.example. 0 IN TXT \"v=TLSRPTv1;rua=mailto:a@zero.example\"\n")
    ENTRY("", "NXDOMAIN", "_smtp._tls.nx.example.", "SECTION AUTHORITY\n" SOA)
    ENTRY("", "SERVFAIL", "_smtp._tls.flaky.example.", "");

static const char restart_data_later[] =
    "$ORIGIN example.\n"
    TXT_ENTRY("_smtp._tls.flaky.example.",
              "_smtp._tls.flaky.example. 600 IN TXT \"v=TLSRPTv1;rua=mailto:a@flaky.example\"\n");
/* clang-format on */

static void expect(struct dns_resolver *resolver, const char *domain, enum dns_status status,
                   const char *detail, size_t max_rua)
{
    struct dns_tlsrpt_answer answer;

    dns_lookup_tlsrpt(resolver, domain, max_rua, &answer);
    ck_assert_msg(answer.status == status && strcmp(answer.detail, detail) == 0,
                  "%s: %s (%s), expected %s (%s)", domain, dns_status_name(answer.status),
                  answer.detail, dns_status_name(status), detail);
    if (status == DNS_FOUND)
        ck_assert_int_eq(answer.record.n_rua, 1);
    dns_tlsrpt_answer_free(&answer);
}

/*
 * Answers are served from the cache within their TTL once the server is
 * gone; temporary failures and TTL 0 are not cached.
 */
START_TEST(test_cache)
{
    int port;
    pid_t pid = testns_start(restart_data, 0, &port);
    struct dns_resolver *resolver = resolver_for(port);

    expect(resolver, "cached.example", DNS_FOUND, "1 TLSRPT record", 5);
    expect(resolver, "zero.example", DNS_FOUND, "1 TLSRPT record", 5);
    expect(resolver, "nx.example", DNS_NONE, "NXDOMAIN", 5);
    expect(resolver, "flaky.example", DNS_TEMPFAIL, "SERVFAIL", 5);
    testns_stop(pid);

    expect(resolver, "cached.example", DNS_FOUND, "1 TLSRPT record", 5);
    expect(resolver, "Cached.Example.", DNS_FOUND, "1 TLSRPT record", 5);
    expect(resolver, "nx.example", DNS_NONE, "NXDOMAIN", 5);
    expect(resolver, "zero.example", DNS_TEMPFAIL, "timeout or network error", 5);
    expect(resolver, "uncached.example", DNS_TEMPFAIL, "timeout or network error", 5);

    /* The same port, now answering what failed before: it is asked again. */
    int same_port;
    pid = testns_start(restart_data_later, port, &same_port);
    ck_assert_int_eq(same_port, port);
    expect(resolver, "flaky.example", DNS_FOUND, "1 TLSRPT record", 5);
    testns_stop(pid);
    expect(resolver, "flaky.example", DNS_FOUND, "1 TLSRPT record", 5);
    dns_resolver_destroy(resolver);
}
END_TEST

static void expect_many(struct dns_resolver *resolver, const char *const *domains, size_t n,
                        const char *const *expected)
{
    struct dns_tlsrpt_answer *answers = xcalloc(n, sizeof(*answers));

    dns_lookup_tlsrpt_many(resolver, domains, n, 5, 4, answers);
    for (size_t i = 0; i < n; i++) {
        char *got = xasprintf("%s %s %s", answers[i].qname, dns_status_name(answers[i].status),
                              answers[i].detail);
        ck_assert_msg(strcmp(got, expected[i]) == 0, "%s: %s, expected %s", domains[i], got,
                      expected[i]);
        if (answers[i].status == DNS_FOUND)
            ck_assert_int_eq(answers[i].record.n_rua, 1);
        free(got);
        dns_tlsrpt_answer_free(&answers[i]);
    }
    free(answers);
}

/*
 * Many at once (4 threads): each answer as dns_lookup_tlsrpt gives it, in
 * the caller's order, repeated names included; cached the same way (a
 * temporary failure and TTL 0 are not).
 */
START_TEST(test_many)
{
    int port;
    pid_t pid = testns_start(restart_data, 0, &port);
    struct dns_resolver *resolver = resolver_for(port);
    const char *const domains[] = {"cached.example", "nx.example",     "flaky.example",
                                   "zero.example",   "cached.example", "Cached.Example.",
                                   "bad..example",   "nx.example"};
    const char *const first[] = {
        "_smtp._tls.cached.example found 1 TLSRPT record",
        "_smtp._tls.nx.example none NXDOMAIN",
        "_smtp._tls.flaky.example tempfail SERVFAIL",
        "_smtp._tls.zero.example found 1 TLSRPT record",
        "_smtp._tls.cached.example found 1 TLSRPT record",
        "_smtp._tls.cached.example found 1 TLSRPT record",
        "_smtp._tls.bad..example none invalid domain name",
        "_smtp._tls.nx.example none NXDOMAIN",
    };
    const char *const server_gone[] = {
        "_smtp._tls.cached.example found 1 TLSRPT record",
        "_smtp._tls.nx.example none NXDOMAIN",
        "_smtp._tls.flaky.example tempfail timeout or network error",
        "_smtp._tls.zero.example tempfail timeout or network error",
    };

    expect_many(resolver, domains, UTIL_ARRAY_LEN(domains), first);
    testns_stop(pid);
    expect_many(resolver, domains, UTIL_ARRAY_LEN(server_gone), server_gone);
    expect_many(resolver, domains, 0, NULL);
    dns_resolver_destroy(resolver);
}
END_TEST

/* Every name is NXDOMAIN: the question is copied from the query. */
static const char any_name_data[] =
    "$ORIGIN example.\nENTRY_BEGIN\nMATCH opcode qtype\nADJUST copy_id copy_query\n"
    "REPLY QR RD RA NXDOMAIN\nSECTION QUESTION\nexample. IN TXT\nSECTION AUTHORITY\n" SOA
    "ENTRY_END\n";

/* The cache holds at most 10,000 names: the oldest go first. */
START_TEST(test_cache_bounded)
{
    int port;
    pid_t pid = testns_start(any_name_data, 0, &port);
    struct dns_resolver *resolver = resolver_for(port);
    char name[64];

    for (int i = 0; i < 10050; i++) {
        snprintf(name, sizeof(name), "n%d.example", i);
        expect(resolver, name, DNS_NONE, "NXDOMAIN", 5);
    }
    testns_stop(pid);
    expect(resolver, "n10049.example", DNS_NONE, "NXDOMAIN", 5);
    expect(resolver, "n50.example", DNS_NONE, "NXDOMAIN", 5);
    expect(resolver, "n49.example", DNS_TEMPFAIL, "timeout or network error", 5);
    expect(resolver, "n0.example", DNS_TEMPFAIL, "timeout or network error", 5);
    dns_resolver_destroy(resolver);
}
END_TEST

/* The second server is asked when the first fails or answers SERVFAIL. */
START_TEST(test_next_server)
{
    int port_a, port_b;
    pid_t pid_a = testns_start(restart_data, 0, &port_a);
    pid_t pid_b = testns_start(restart_data_later, 0, &port_b);
    char *a = xasprintf("127.0.0.1:%d", port_a), *b = xasprintf("127.0.0.1:%d", port_b);
    const char *servers[] = {a, b, NULL};
    char *error = NULL;
    struct dns_resolver *resolver = dns_resolver_create(servers, TIMEOUT_MS, &error);

    ck_assert_ptr_nonnull(resolver);
    expect(resolver, "flaky.example", DNS_FOUND, "1 TLSRPT record", 5);
    expect(resolver, "cached.example", DNS_FOUND, "1 TLSRPT record", 5);
    testns_stop(pid_b);
    /* Neither answers for this name: the last failure is reported. */
    expect(resolver, "uncached-nowhere.example", DNS_TEMPFAIL, "timeout or network error", 5);
    testns_stop(pid_a);
    dns_resolver_destroy(resolver);
    free(a);
    free(b);
}
END_TEST

static char *find_testns(void)
{
    const char *path = getenv("PATH");
    char *copy = xstrdup(path ? path : "/usr/bin:/bin");
    char *found = NULL;

    for (char *dir = strtok(copy, ":"); dir && !found; dir = strtok(NULL, ":")) {
        char *candidate = path_join(dir, "ldns-testns");
        if (access(candidate, X_OK) == 0)
            found = candidate;
        else
            free(candidate);
    }
    free(copy);
    return found;
}

static Suite *dns_live_suite(void)
{
    Suite *s = suite_create("dns_live");
    TCase *tc = tcase_create("lookups");
    TCase *cache = tcase_create("cache");

    tcase_add_unchecked_fixture(tc, cases_setup, cases_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_lookup, 0, (int)UTIL_ARRAY_LEN(lookup_cases));
    suite_add_tcase(s, tc);
    tcase_set_timeout(cache, 60);
    tcase_add_test(cache, test_cache);
    tcase_add_test(cache, test_many);
    tcase_add_test(cache, test_next_server);
    tcase_add_test(cache, test_cache_bounded);
    suite_add_tcase(s, cache);
    return s;
}

int main(void)
{
    testns_path = find_testns();
    if (testns_path == NULL) {
        printf("SKIP: ldns-testns not found in PATH (Debian package ldnsutils): "
               "no live DNS tests\n");
        return 77;
    }
    if (mkdtemp(temp_dir) == NULL) {
        perror(temp_dir);
        return EXIT_FAILURE;
    }
    SRunner *runner = srunner_create(dns_live_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    char *command = xasprintf("rm -rf '%s'", temp_dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", temp_dir);
    free(command);
    free(testns_path);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
