/*
 * check_sendmail_log.c - Check suite of the Sendmail log parser: tables of
 * real-shaped sm-mta lines and the exact TLS session events they must give.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "logfollow.h"
#include "util.h"

#define H "Nov 22 08:24:30 mail "
#define STLS(pid, host, verify)                                                                    \
    H "sm-mta[" pid "]: STARTTLS=client, relay=" host ", version=TLSv1.3, verify=" verify          \
      ", cipher=TLS_AES_256_GCM_SHA384, bits=256/256"
#define TO(pid, qid, rcpt, relay, stat)                                                            \
    H "sm-mta[" pid "]: " qid ": to=<" rcpt ">, delay=00:00:01, xdelay=00:00:01, "                 \
      "mailer=esmtp, pri=120321, relay=" relay ", dsn=" stat
/* A tls_rcpt reject of a connection without STARTTLS when TLS is required. */
#define TOO_WEAK(pid, qid, rcpt)                                                                   \
    H "sm-mta[" pid "]: " qid ": ruleset=tls_rcpt, arg1=" rcpt ", relay=mx.example.com., "         \
      "reject=454 4.7.0 encryption too weak 0 less than 128"
#define CONNECT(pid, qid) H "sm-mta[" pid "]: " qid ": SMTP outgoing connect on [10.0.0.2]"
#define SENT "2.0.0, stat=Sent (Ok: queued as 4XyZ)"
#define DEFERRED "4.7.0, stat=Deferred: 454 4.7.0 TLS handshake failed."
#define RCPT_DEFERRED "4.2.0, stat=Deferred"
#define MX "mx.example.com. [192.0.2.1]"
#define IP "192.0.2.1"
#define SENDER_IP "198.51.100.7"

struct expected_event {
    const char *domain;
    const char *policy;
    bool failed;
    const char *result; /* when failed */
    const char *mx;
    const char *ip;
    const char *reason;
};

struct sm_case {
    const char *name;
    const char *lines[14];
    struct expected_event events[3];
    int n_events;
    int rejected;
    int own_reports;
};

static const struct sm_case cases[] = {
    {"verify=OK, Sent",
     {STLS("101", "mx.example.com.", "OK"),
      TO("101", "4AMN8Ut0000101", "user@example.com", MX, SENT)},
     {{"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL}},
     1,
     0,
     0},
    {"verify=FAIL without a reason",
     {STLS("102", "mx.example.com.", "FAIL"),
      H "sm-mta[102]: ruleset=tls_server, arg1=FAIL, relay=mx.example.com, reject=454 4.7.0 "
        "authentication failed",
      TO("102", "4AMN8Ut0000102", "user@Example.COM", MX, DEFERRED)},
     {{"example.com", "no-policy-found", true, "certificate-not-trusted", "mx.example.com", IP,
       NULL}},
     1,
     0,
     0},
    {"verify=FAIL, verifymsg expired (LogLevel 12)",
     {STLS("103", "mx.example.com.", "FAIL"),
      H "sm-mta[103]: STARTTLS=client, cert-subject=/CN=mx.example.com, cert-issuer=/O=Lab/CN=Lab "
        "CA, verifymsg=certificate has expired",
      H "sm-mta[103]: 4AMN8Ut0000103: ruleset=tls_rcpt, arg1=user@example.com, "
        "relay=mx.example.com., reject=454 4.7.0 authentication failed",
      TO("103", "4AMN8Ut0000103", "user@example.com", MX, RCPT_DEFERRED)},
     {{"example.com", "no-policy-found", true, "certificate-expired", "mx.example.com", IP,
       "certificate has expired"}},
     1,
     0,
     0},
    {"verify=FAIL, cert verify reasons (LogLevel 14)",
     {H "sm-mta[104]: STARTTLS: X509 cert verify: depth=0 /CN=mx.example.com, state=0, "
        "reason=unable to get local issuer certificate",
      H "sm-mta[104]: STARTTLS: TLS cert verify: depth=0 /CN=mx.example.com, state=0, "
        "reason=self-signed certificate",
      STLS("104", "mx.example.com.", "FAIL"),
      H "sm-mta[104]: ruleset=tls_server, arg1=FAIL, relay=mx.example.com, reject=454 4.7.0 "
        "authentication failed",
      TO("104", "4AMN8Ut0000104", "user@example.com", MX, DEFERRED)},
     {{"example.com", "no-policy-found", true, "certificate-not-trusted", "mx.example.com", IP,
       "self-signed certificate"}},
     1,
     0,
     0},
    {"verify=FAIL, other reason",
     {STLS("105", "mx.example.com.", "FAIL"),
      H "sm-mta[105]: STARTTLS=client, cert-subject=/CN=mx.example.com, cert-issuer=/CN=x, "
        "verifymsg=certificate signature failure",
      H "sm-mta[105]: 4AMN8Ut0000105: ruleset=tls_rcpt, arg1=user@example.com, "
        "relay=mx.example.com., reject=454 4.7.0 authentication failed",
      TO("105", "4AMN8Ut0000105", "user@example.com", MX, RCPT_DEFERRED)},
     {{"example.com", "no-policy-found", true, "validation-failure", "mx.example.com", IP,
       "certificate signature failure"}},
     1,
     0,
     0},
    {"verify=OK, CN mismatch reject",
     {STLS("106", "mx.example.com.", "OK"),
      H "sm-mta[106]: 4AMN8Ut0000106: ruleset=tls_rcpt, arg1=user@example.com, "
        "relay=mx.example.com., reject=454 4.7.0 CN wrong.example.net does not match "
        "mx.example.com",
      TO("106", "4AMN8Ut0000106", "user@example.com", MX, RCPT_DEFERRED)},
     {{"example.com", "no-policy-found", true, "certificate-host-mismatch", "mx.example.com", IP,
       NULL}},
     1,
     0,
     0},
    {"verify=NO, verification required",
     {STLS("107", "mx.example.com.", "NO"),
      H "sm-mta[107]: ruleset=tls_server, arg1=NO, relay=mx.example.com, reject=454 4.7.0 "
        "authentication failed",
      TO("107", "4AMN8Ut0000107", "user@example.com", MX, DEFERRED)},
     {{"example.com", "no-policy-found", true, "certificate-not-trusted", "mx.example.com", IP,
       NULL}},
     1,
     0,
     0},
    /* Opportunistic TLS, as Postfix's "may": nothing required verification, so it succeeded. */
    {"verify=FAIL and verify=NO, nothing required: successful sessions",
     {H "sm-mta[140]: STARTTLS: TLS cert verify: depth=0 /CN=mx.example.com, state=0, "
        "reason=certificate has expired",
      STLS("140", "mx.example.com.", "FAIL"),
      H "sm-mta[140]: STARTTLS=client, cert-subject=/CN=mx.example.com, cert-issuer=/CN=x, "
        "verifymsg=certificate has expired",
      TO("140", "4AMN8Ut0000140", "user@example.com", MX, SENT),
      STLS("140", "mx.example.org.", "NO"),
      TO("140", "4AMN8Ut0000141", "user@example.org", "mx.example.org. [192.0.2.2]", SENT)},
     {{"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL},
      {"example.org", "no-policy-found", false, NULL, NULL, NULL, NULL}},
     2,
     0,
     0},
    {"verify=NONE, nothing required: no TLS session",
     {STLS("108", "mx.example.com.", "NONE"),
      TO("108", "4AMN8Ut0000108", "user@example.com", MX, SENT)},
     {{NULL}},
     0,
     0,
     0},
    {"verify=NONE, TLS required",
     {STLS("109", "mx.example.com.", "NONE"),
      H "sm-mta[109]: 4AMN8Ut0000109: ruleset=tls_rcpt, arg1=user@example.com, "
        "relay=mx.example.com., reject=454 4.7.0 encryption too weak 0 less than 128",
      TO("109", "4AMN8Ut0000109", "user@example.com", MX, RCPT_DEFERRED)},
     {{"example.com", "no-policy-found", true, "starttls-not-supported", "mx.example.com", IP,
       NULL}},
     1,
     0,
     0},
    {"tls_server arg1=TEMP (454 to STARTTLS)",
     {H "sm-mta[110]: ruleset=tls_server, arg1=TEMP, relay=mx.example.com, reject=454 4.7.0 "
        "encryption too weak 0 less than 128",
      TO("110", "4AMN8Ut0000110", "user@example.com", MX, DEFERRED)},
     {{"example.com", "no-policy-found", true, "starttls-not-supported", "mx.example.com", IP,
       NULL}},
     1,
     0,
     0},
    {"verify=TEMP",
     {STLS("111", "mx.example.com.", "TEMP"),
      TO("111", "4AMN8Ut0000111", "user@example.com", MX, SENT)},
     {{"example.com", "no-policy-found", true, "starttls-not-supported", "mx.example.com", IP,
       NULL}},
     1,
     0,
     0},
    {"verify=PROTOCOL, SOFTWARE, FAILURE",
     {STLS("112", "mx1.example.com.", "PROTOCOL"),
      TO("112", "4AMN8Ut0000112", "a@example.com", "mx1.example.com. [192.0.2.11]", SENT),
      STLS("112", "mx2.example.com.", "SOFTWARE"),
      TO("112", "4AMN8Ut0000113", "b@example.org", "mx2.example.com. [192.0.2.12]", SENT),
      STLS("112", "mx3.example.com.", "FAILURE"),
      TO("112", "4AMN8Ut0000114", "c@example.net", "mx3.example.com. [192.0.2.13]", SENT)},
     {{"example.com", "no-policy-found", true, "validation-failure", "mx1.example.com",
       "192.0.2.11", NULL},
      {"example.org", "no-policy-found", true, "validation-failure", "mx2.example.com",
       "192.0.2.12", NULL},
      {"example.net", "no-policy-found", true, "validation-failure", "mx3.example.com",
       "192.0.2.13", NULL}},
     3,
     0,
     0},
    {"CLEAR: handshake failed, clear-text retry Sent",
     {H "sm-mta[113]: STARTTLS=client, error: connect failed=-1, reason=wrong version number, "
        "SSL_error=1, errno=0, retry=-1",
      H "sm-mta[113]: STARTTLS=client: 113:error:0A00010B:SSL routines::wrong version number:"
        "ssl/record/ssl3_record.c:354:",
      STLS("113", "mx.example.com.", "CLEAR"),
      TO("113", "4AMN8Ut0000115", "user@example.com", MX, SENT)},
     {{"example.com", "no-policy-found", true, "validation-failure", "mx.example.com", IP,
       "wrong version number"}},
     1,
     0,
     0},
    {"verify=CONFIG: not reported",
     {STLS("114", "mx.example.com.", "CONFIG"),
      TO("114", "4AMN8Ut0000116", "user@example.com", MX, SENT)},
     {{NULL}},
     0,
     0,
     0},
    {"DANE builds: TRUSTED and DANE_FAIL",
     {STLS("115", "mx.example.com.", "TRUSTED"),
      TO("115", "4AMN8Ut0000117", "user@example.com", MX, SENT),
      STLS("115", "mx.example.org.", "DANE_FAIL"),
      TO("115", "4AMN8Ut0000118", "user@example.org", "mx.example.org. [192.0.2.2]", SENT)},
     {{"example.com", "tlsa", false, NULL, NULL, NULL, NULL},
      {"example.org", "tlsa", true, "tlsa-invalid", "mx.example.org", "192.0.2.2", NULL}},
     2,
     0,
     0},
    {"encryption too weak 0 with no STARTTLS line",
     {H "sm-mta[116]: 4AMN8Ut0000119: ruleset=tls_rcpt, arg1=user@example.com, "
        "relay=mx.example.com., reject=454 4.7.0 encryption too weak 0 less than 128",
      TO("116", "4AMN8Ut0000119", "user@example.com", MX, RCPT_DEFERRED)},
     {{"example.com", "no-policy-found", true, "starttls-not-supported", "mx.example.com", IP,
       NULL}},
     1,
     0,
     0},
    {"connect failed, tls_server SOFTWARE, Deferred; then host-status cache",
     {H "sm-mta[117]: STARTTLS=client, error: connect failed=-1, reason=wrong version number, "
        "SSL_error=1, errno=0, retry=-1",
      H "sm-mta[117]: ruleset=tls_server, arg1=SOFTWARE, relay=mx.example.com, reject=454 4.7.0 "
        "TLS handshake failed.",
      TO("117", "4AMN8Ut0000120", "user@example.com", MX, DEFERRED),
      TO("117", "4AMN8Ut0000121", "user2@example.com", "mx.example.com.", DEFERRED),
      TO("117", "4AMN8Ut0000122", "user3@example.com", "mx.example.com.", DEFERRED)},
     {{"example.com", "no-policy-found", true, "validation-failure", "mx.example.com", IP,
       "wrong version number"}},
     1,
     0,
     0},
    {"reused connection, two tls_rcpt rejects: one session",
     {STLS("118", "mx.example.com.", "FAIL"),
      H "sm-mta[118]: 4AMN8Ut0000123: ruleset=tls_rcpt, arg1=a@example.com, "
        "relay=mx.example.com., reject=454 4.7.0 authentication failed",
      TO("118", "4AMN8Ut0000123", "a@example.com", MX, RCPT_DEFERRED),
      H "sm-mta[118]: 4AMN8Ut0000124: ruleset=tls_rcpt, arg1=b@example.com, "
        "relay=mx.example.com., reject=454 4.7.0 authentication failed",
      TO("118", "4AMN8Ut0000124", "b@example.com", MX, RCPT_DEFERRED)},
     {{"example.com", "no-policy-found", true, "certificate-not-trusted", "mx.example.com", IP,
       NULL}},
     1,
     0,
     0},
    {"host names with and without the trailing dot, in any case",
     {STLS("119", "MX.Example.COM", "OK"),
      TO("119", "4AMN8Ut0000125", "user@EXAMPLE.com", "mx.example.com. [192.0.2.1]", SENT),
      H "sm-mta[119]: ruleset=tls_server, arg1=NONE, relay=mx.example.org., reject=454 4.7.0 "
        "encryption too weak 0 less than 128",
      TO("119", "4AMN8Ut0000126", "user@example.org", "mx.example.org [IPv6:2001:DB8::1]",
         DEFERRED)},
     {{"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL},
      {"example.org", "no-policy-found", true, "starttls-not-supported", "mx.example.org",
       "2001:db8::1", NULL}},
     2,
     0,
     0},
    {"report mail is not counted",
     {H "sm-mta[200]: 4AMN8Ut0000127: from=<noreply-tlsrpt@example.net>, size=2048, class=0, "
        "nrcpts=1, msgid=<r1@example.net>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
      STLS("120", "mx.example.com.", "FAIL"),
      TO("120", "4AMN8Ut0000127", "tlsrpt@example.com", MX, SENT),
      H "sm-mta[200]: 4AMN8Ut0000128: from=<someone@example.net>, size=2048, class=0, nrcpts=1",
      STLS("120", "mx.example.com.", "FAIL"),
      TO("120", "4AMN8Ut0000128", "user@example.com", MX, SENT)},
     {{"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL}},
     1,
     0,
     1},
    {"VERP-tagged report mail is not counted",
     {H "sm-mta[200]: 4AMN8Ut0000137: from=<noreply-tlsrpt+0123456789abcdef-0011223344556677"
        "@example.net>, size=2048, class=0, nrcpts=1, msgid=<r2@example.net>, proto=ESMTP",
      STLS("120", "mx.example.com.", "FAIL"),
      TO("120", "4AMN8Ut0000137", "tlsrpt@example.com", MX, SENT),
      H "sm-mta[200]: 4AMN8Ut0000138: from=<noreply-tlsrpt+x@example.org>, size=2048, class=0, "
        "nrcpts=1",
      STLS("120", "mx.example.com.", "FAIL"),
      TO("120", "4AMN8Ut0000138", "user@example.com", MX, SENT)},
     {{"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL}},
     1,
     0,
     1},
    {"interleaved processes",
     {STLS("121", "mx.example.com.", "FAIL"), STLS("122", "mx.example.org.", "OK"),
      H "sm-mta[121]: STARTTLS=client, cert-subject=/CN=mx.example.com, cert-issuer=/CN=x, "
        "verifymsg=certificate has expired",
      TO("122", "4AMN8Ut0000129", "user@example.org", "mx.example.org. [192.0.2.2]", SENT),
      H "sm-mta[121]: ruleset=tls_server, arg1=FAIL, relay=mx.example.com, reject=454 4.7.0 "
        "authentication failed",
      TO("121", "4AMN8Ut0000130", "user@example.com", MX, DEFERRED)},
     {{"example.org", "no-policy-found", false, NULL, NULL, NULL, NULL},
      {"example.com", "no-policy-found", true, "certificate-expired", "mx.example.com", IP,
       "certificate has expired"}},
     2,
     0,
     0},
    {"a failed MX that was not the last, then a second MX",
     {STLS("123", "mx1.example.com.", "FAIL"),
      H "sm-mta[123]: ruleset=tls_server, arg1=FAIL, relay=mx1.example.com, reject=454 4.7.0 "
        "authentication failed",
      STLS("123", "mx2.example.com.", "OK"),
      TO("123", "4AMN8Ut0000131", "user@example.com", "mx2.example.com. [192.0.2.12]", SENT)},
     {{"example.com", "no-policy-found", true, "certificate-not-trusted", "mx1.example.com", NULL,
       NULL},
      {"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL}},
     2,
     0,
     0},
    {"a tls_rcpt failure with no to= line is emitted at flush",
     {STLS("124", "mx.example.com.", "NO"),
      H "sm-mta[124]: 4AMN8Ut0000132: ruleset=tls_rcpt, arg1=<user@example.com>, "
        "relay=mx.example.com., reject=454 4.7.0 authentication failed"},
     {{"example.com", "no-policy-found", true, "certificate-not-trusted", "mx.example.com", NULL,
       NULL}},
     1,
     0,
     0},
    {"garbage lines are counted and skipped",
     {STLS("125", "bad_host!.example.", "OK"),
      H "sm-mta[125]: STARTTLS=client, cert-subject=/CN=x, cert-issuer=/CN=y, verifymsg=ok",
      H "sm-mta[125]: ruleset=tls_server, arg1=WEIRD, relay=mx.example.com, reject=454 x",
      H "sm-mta[125]: STARTTLS=client, relay=mx.example.com., version=TLSv1.3, cipher=x",
      STLS("125", "mx.example.com.", "FAIL"),
      TO("125", "4AMN8Ut0000133", "user@example.com", "mx.example.com. [192.0.2.300]", SENT),
      TO("125", "4AMN8Ut0000133", "nobody", MX, SENT),
      H "sm-mta[125]: 4AMN8Ut0000133: to=<user@example.com>, relay=mx.example.com. [192.0.2.1], "
        "stat=Sent \xff\xfe",
      H "sm-mta[125]: starting daemon (8.17.1.9): SMTP+queueing@00:10:00",
      H "postfix/smtp[125]: 4AMN8Ut0000133: to=<user@example.com>, "
        "relay=mx.example.com[192.0.2.1]:25",
      H "sm-msp-queue[125]: 4AMN8Ut0000133: to=root, relay=[127.0.0.1] [127.0.0.1], stat=Sent",
      TO("125", "4AMN8Ut0000133", "user@example.com", MX, SENT)},
     {{"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL}},
     1,
     7,
     0},
    /* LogLevel 14 logs each outgoing connection: a queue run reconnecting is a new session. */
    {"a queue run: a new connection to the same MX is a new session",
     {CONNECT("141", "4AMN8Ut0000142"), TOO_WEAK("141", "4AMN8Ut0000142", "a@one.example"),
      TO("141", "4AMN8Ut0000142", "a@one.example", MX, RCPT_DEFERRED),
      CONNECT("141", "4AMN8Ut0000143"), TOO_WEAK("141", "4AMN8Ut0000143", "b@two.example"),
      TO("141", "4AMN8Ut0000143", "b@two.example", MX, RCPT_DEFERRED),
      /* no connect line: one more message over the connection just counted */
      TOO_WEAK("141", "4AMN8Ut0000144", "c@three.example"),
      TO("141", "4AMN8Ut0000144", "c@three.example", MX, RCPT_DEFERRED)},
     {{"one.example", "no-policy-found", true, "starttls-not-supported", "mx.example.com", IP,
       NULL},
      {"two.example", "no-policy-found", true, "starttls-not-supported", "mx.example.com", IP,
       NULL}},
     2,
     0,
     0},
    {"a queue run: several domains in turn, one without STARTTLS, each its own session",
     {CONNECT("142", "4AMN8Ut0000145"),
      H "sm-mta[142]: tls_clt_features=\"\", relay=mx.example.com [192.0.2.1]",
      STLS("142", "mx.example.com.", "OK"), TO("142", "4AMN8Ut0000145", "a@example.com", MX, SENT),
      CONNECT("142", "4AMN8Ut0000146"),
      H "sm-mta[142]: STARTTLS=client, error: connect failed=-1, reason=wrong version number, "
        "SSL_error=1, errno=0, retry=-1",
      TO("142", "4AMN8Ut0000146", "b@example.net", "mx.example.net.", DEFERRED),
      CONNECT("142", "4AMN8Ut0000147"),
      TO("142", "4AMN8Ut0000147", "c@example.org", "mx.example.org. [192.0.2.2]", SENT),
      CONNECT("142", "4AMN8Ut0000148"),
      H "sm-mta[142]: tls_clt_features=\"\", relay=mx.example.com [192.0.2.1]",
      STLS("142", "mx.example.com.", "OK"), TO("142", "4AMN8Ut0000148", "d@example.com", MX, SENT)},
     {{"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL},
      {"example.com", "no-policy-found", false, NULL, NULL, NULL, NULL}},
     2,
     1,
     0},
};

struct recorder {
    struct tr_event *events[32];
    int n;
};

static void record(const struct tr_event *event, void *context)
{
    struct recorder *recorder = context;
    size_t size;

    ck_assert_int_lt(recorder->n, (int)UTIL_ARRAY_LEN(recorder->events));
    recorder->events[recorder->n++] = tr_event_copy(event, &size);
}

static void recorder_free(struct recorder *recorder)
{
    for (int i = 0; i < recorder->n; i++)
        free(recorder->events[i]);
    recorder->n = 0;
}

static struct lf_parser *parser_new(struct recorder *recorder)
{
    struct lf_settings settings = {.format = LF_SENDMAIL,
                                   .year = 2026,
                                   .report_sender = "noreply-tlsrpt@example.net",
                                   .report_verp_delimiter = "+",
                                   .sending_mta_ip = SENDER_IP};

    return lf_parser_create(&settings, record, recorder);
}

static void ck_assert_str_or_null(const char *got, const char *expected, const char *what)
{
    if (expected == NULL)
        ck_assert_msg(got == NULL, "%s: expected none, got \"%s\"", what, got);
    else
        ck_assert_msg(got != NULL && strcmp(got, expected) == 0, "%s: expected \"%s\", got \"%s\"",
                      what, expected, got ? got : "(null)");
}

START_TEST(test_cases)
{
    const struct sm_case *c = &cases[_i];
    struct recorder recorder = {0};
    struct lf_parser *parser = parser_new(&recorder);

    for (size_t i = 0; i < UTIL_ARRAY_LEN(c->lines) && c->lines[i]; i++)
        lf_parser_line(parser, c->lines[i], strlen(c->lines[i]));
    lf_parser_flush(parser);

    const struct lf_stats *stats = lf_parser_stats(parser);
    ck_assert_msg(recorder.n == c->n_events, "%s: %d events, expected %d", c->name, recorder.n,
                  c->n_events);
    ck_assert_msg(stats->rejected == (uint64_t)c->rejected, "%s: %d rejected, expected %d", c->name,
                  (int)stats->rejected, c->rejected);
    ck_assert_int_eq(stats->own_reports, c->own_reports);
    ck_assert_int_eq(stats->events, c->n_events);
    for (int i = 0; i < c->n_events; i++) {
        const struct expected_event *want = &c->events[i];
        const struct tr_event *event = recorder.events[i];
        const char *error = NULL;

        ck_assert_int_eq(tr_event_check(event, &error), 0);
        ck_assert_str_eq(event->domain, want->domain);
        ck_assert_int_eq(event->n_policies, 1);
        const struct tr_policy *policy = &event->policies[0];
        ck_assert_str_eq(tr_policy_type_name(policy->type), want->policy);
        ck_assert_msg(policy->failed == want->failed, "%s: event %d failed=%d", c->name, i,
                      policy->failed);
        if (!want->failed) {
            ck_assert_int_eq(policy->n_failures, 0);
            continue;
        }
        ck_assert_int_eq(policy->n_failures, 1);
        const struct tr_failure *failure = &policy->failures[0];
        ck_assert_str_eq(tr_result_name(failure->result), want->result);
        ck_assert_str_or_null(failure->receiving_mx_hostname, want->mx, "receiving-mx-hostname");
        ck_assert_str_or_null(failure->receiving_ip, want->ip, "receiving-ip");
        ck_assert_str_or_null(failure->failure_reason_code, want->reason, "failure-reason-code");
        ck_assert_str_or_null(failure->sending_mta_ip, SENDER_IP, "sending-mta-ip");
        ck_assert_ptr_null(failure->receiving_mx_helo);
    }
    recorder_free(&recorder);
    lf_parser_destroy(parser);
}
END_TEST

/* Without sending_mta_ip configured the key is omitted; the session time is the STARTTLS line's. */
START_TEST(test_no_sending_ip_and_time)
{
    static const char *const lines[] = {
        "Nov 22 08:24:30 mail sm-mta[300]: STARTTLS=client, relay=mx.example.com., "
        "version=TLSv1.3, verify=NO, cipher=x, bits=256/256",
        "Nov 22 08:24:33 mail sm-mta[300]: ruleset=tls_server, arg1=NO, relay=mx.example.com, "
        "reject=454 4.7.0 authentication failed",
        "Nov 22 08:24:35 mail sm-mta[300]: 4AMN8Ut0000300: to=<u@example.com>, "
        "mailer=esmtp, relay=mx.example.com. [192.0.2.1], dsn=4.7.0, stat=Deferred",
    };
    struct recorder recorder = {0};
    struct lf_settings settings = {.format = LF_SENDMAIL, .year = 2026};
    struct lf_parser *parser = lf_parser_create(&settings, record, &recorder);

    for (size_t i = 0; i < UTIL_ARRAY_LEN(lines); i++)
        lf_parser_line(parser, lines[i], strlen(lines[i]));
    ck_assert_int_eq(recorder.n, 1);
    ck_assert_ptr_null(recorder.events[0]->policies[0].failures[0].sending_mta_ip);
    struct tm tm = {.tm_year = 126,
                    .tm_mon = 10,
                    .tm_mday = 22,
                    .tm_hour = 8,
                    .tm_min = 24,
                    .tm_sec = 30,
                    .tm_isdst = -1};
    ck_assert_int_eq(recorder.events[0]->time, mktime(&tm));
    ck_assert_int_eq(lf_parser_stats(parser)->relevant, 3);
    recorder_free(&recorder);
    lf_parser_destroy(parser);
}
END_TEST

/* Many processes and sessions that never finish: bounded, and nothing breaks. */
START_TEST(test_many_open_sessions)
{
    struct recorder recorder = {0};
    struct lf_parser *parser = parser_new(&recorder);
    char line[256];

    for (int pid = 1; pid <= 5000; pid++) {
        int n = snprintf(line, sizeof(line),
                         H "sm-mta[%d]: STARTTLS=client, relay=mx.example.com., version=TLSv1.3, "
                           "verify=FAIL, cipher=x, bits=256/256",
                         pid);
        lf_parser_line(parser, line, (size_t)n);
    }
    for (int i = 0; i < 40; i++) {
        int n = snprintf(line, sizeof(line), "%s", STLS("7", "mx.example.com.", "OK"));
        lf_parser_line(parser, line, (size_t)n);
    }
    int n =
        snprintf(line, sizeof(line), "%s", TO("7", "4AMN8Ut0000400", "user@example.com", MX, SENT));
    lf_parser_line(parser, line, (size_t)n);
    lf_parser_flush(parser);
    /* The 16 newest of the 40 sessions (the per-process bound) end at the to= line. */
    ck_assert_int_eq(recorder.n, 16);
    ck_assert_int_gt(lf_parser_stats(parser)->rejected_by[LF_REJECT_TOO_MANY], 0);
    recorder_free(&recorder);
    lf_parser_destroy(parser);
}
END_TEST

/* Sessions idle for more than an hour of log time end as at the end of input. */
START_TEST(test_idle_sessions_retired)
{
    static const char *const lines[] = {
        "Nov 22 08:00:00 mail sm-mta[500]: STARTTLS=client, relay=mx.example.com., "
        "version=TLSv1.3, verify=NO, cipher=x, bits=256/256",
        "Nov 22 08:00:00 mail sm-mta[500]: 4AMN8Ut0000500: ruleset=tls_rcpt, "
        "arg1=<user@example.com>, relay=mx.example.com., reject=454 4.7.0 authentication failed",
        /* Never tied to a recipient: counted as untied. */
        "Nov 22 08:00:00 mail sm-mta[501]: STARTTLS=client, relay=mx.example.org., "
        "version=TLSv1.3, verify=OK, cipher=x, bits=256/256",
        /* No TLS required: nothing to report, nothing lost. */
        "Nov 22 08:00:00 mail sm-mta[502]: STARTTLS=client, relay=mx.example.net., "
        "version=TLSv1.3, verify=NONE, cipher=x, bits=256/256",
        "Nov 22 09:00:00 mail kernel: exactly one hour later",
    };
    struct recorder recorder = {0};
    struct lf_parser *parser = parser_new(&recorder);
    const struct lf_stats *stats = lf_parser_stats(parser);
    const char *later = "Nov 22 09:00:01 mail kernel: more than an hour later";

    for (size_t i = 0; i < UTIL_ARRAY_LEN(lines); i++)
        lf_parser_line(parser, lines[i], strlen(lines[i]));
    ck_assert_int_eq(recorder.n, 0);
    lf_parser_line(parser, later, strlen(later));
    ck_assert_int_eq(recorder.n, 1);
    ck_assert_str_eq(recorder.events[0]->domain, "example.com");
    ck_assert_str_eq(tr_result_name(recorder.events[0]->policies[0].failures[0].result),
                     "certificate-not-trusted");
    ck_assert_int_eq(stats->rejected_by[LF_REJECT_UNTIED], 1);
    ck_assert_int_eq(stats->rejected, 1);
    lf_parser_flush(parser);
    ck_assert_int_eq(recorder.n, 1);
    ck_assert_int_eq(stats->rejected, 1);
    recorder_free(&recorder);
    lf_parser_destroy(parser);
}
END_TEST

/* Queue runs retry a report mail hours later without a new from= line. */
START_TEST(test_report_queue_id_kept_for_retries)
{
    static const char *const lines[] = {
        "Nov 22 08:00:00 mail sm-mta[200]: 4AMN8Ut0000600: from=<noreply-tlsrpt@example.net>, "
        "size=2048, class=0, nrcpts=1",
        "Nov 22 11:00:00 mail sm-mta[601]: STARTTLS=client, relay=mx.example.com., "
        "version=TLSv1.3, verify=FAIL, cipher=x, bits=256/256",
        "Nov 22 11:00:00 mail sm-mta[601]: 4AMN8Ut0000600: to=<tlsrpt@example.com>, "
        "relay=mx.example.com. [192.0.2.1], dsn=4.0.0, stat=Deferred",
        "Nov 26 11:00:00 mail sm-mta[602]: STARTTLS=client, relay=mx.example.com., "
        "version=TLSv1.3, verify=FAIL, cipher=x, bits=256/256",
        "Nov 26 11:00:00 mail sm-mta[602]: 4AMN8Ut0000600: to=<tlsrpt@example.com>, "
        "relay=mx.example.com. [192.0.2.1], dsn=4.0.0, stat=Deferred",
    };
    static const char *const six_days_later[] = {
        "Dec  2 11:00:01 mail sm-mta[603]: STARTTLS=client, relay=mx.example.com., "
        "version=TLSv1.3, verify=FAIL, cipher=x, bits=256/256",
        "Dec  2 11:00:01 mail sm-mta[603]: 4AMN8Ut0000600: to=<user@example.com>, "
        "relay=mx.example.com. [192.0.2.1], dsn=2.0.0, stat=Sent",
    };
    struct recorder recorder = {0};
    struct lf_parser *parser = parser_new(&recorder);

    for (size_t i = 0; i < UTIL_ARRAY_LEN(lines); i++)
        lf_parser_line(parser, lines[i], strlen(lines[i]));
    ck_assert_int_eq(lf_parser_stats(parser)->own_reports, 2);
    ck_assert_int_eq(recorder.n, 0);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(six_days_later); i++)
        lf_parser_line(parser, six_days_later[i], strlen(six_days_later[i]));
    ck_assert_int_eq(lf_parser_stats(parser)->own_reports, 2);
    ck_assert_int_eq(recorder.n, 1);
    recorder_free(&recorder);
    lf_parser_destroy(parser);
}
END_TEST

static Suite *sendmail_log_suite(void)
{
    Suite *s = suite_create("sendmail_log");
    TCase *tc = tcase_create("sendmail_log");

    tcase_add_loop_test(tc, test_cases, 0, (int)UTIL_ARRAY_LEN(cases));
    tcase_add_test(tc, test_no_sending_ip_and_time);
    tcase_add_test(tc, test_many_open_sessions);
    tcase_add_test(tc, test_idle_sessions_retired);
    tcase_add_test(tc, test_report_queue_id_kept_for_retries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(sendmail_log_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
