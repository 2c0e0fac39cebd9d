/*
 * check_https.c - Check suite of HTTPS delivery against a real server: a
 * Python HTTPS server on 127.0.0.1 with a test CA, the outcome of each HTTP
 * answer, certificate checks, and the refusal of private destinations.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../src/delivery/address.h"
#include "delivery.h"
#include "dns.h"
#include "peer_process.h"
#include "util.h"

#define DNS_TIMEOUT_MS 1000
#define PRIVATE_HINT "; set https_allow_private_destinations = yes to allow"

static char temp_dir[] = "/tmp/check_https.XXXXXX";
static char *ca_path;
static int good_port, wrong_port; /* certificates for localhost, and for wrong.example */
static pid_t server_pid;
static bool have_testns;
static pid_t testns_pid;
static int testns_port;
static unsigned char body[3000]; /* the "gzip" report POSTed */

/* The HTTPS server, run in the temp directory: answers by path and records each request. */
static const char server_script[] =
    "import http.server, os, ssl, threading, time\n"
    "ANSWERS = {\n"
    "    '/ok': (200, '', 'thanks\\n'), '/created': (201, '', ''), '/accepted': (202, '', ''),\n"
    "    '/fail': (500, '', 'internal\\ttrouble\\n\\n'), '/busy': (429, '', 'slow down\\n'),\n"
    "    '/gone': (404, '', 'no such\\x01endpoint ' + 'x' * 200),\n"
    "    '/redirect': (302, 'https://elsewhere.example/tlsrpt', 'moved'),\n"
    "}\n"
    "lock = threading.Lock()\n"
    "class Handler(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *args):\n"
    "        pass\n"
    "    def do_POST(self):\n"
    "        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))\n"
    "        with lock, open('requests.log', 'a') as log:\n"
    "            log.write('\\n' + '\\t'.join((self.command, self.path,\n"
    "                      self.headers.get('Content-Type', '-'), body.hex())))\n"
    "        if self.path == '/slow':\n"
    "            time.sleep(4)\n"
    "        if self.path.startswith('/endless'):\n"
    "            self.endless()\n"
    "            return\n"
    "        status, location, text = ANSWERS.get(self.path, (200, '', ''))\n"
    "        self.send_response(status)\n"
    "        if location:\n"
    "            self.send_header('Location', location)\n"
    "        self.send_header('Content-Length', str(len(text)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(text.encode())\n"
    "    def endless(self):\n"
    "        # A hostile rua: a status, then headers or a body that never end.\n"
    "        self.send_response(500 if self.path.endswith('fail') else 200)\n"
    "        self.send_header('Connection', 'close')\n"
    "        self.flush_headers()\n"
    "        try:\n"
    "            if self.path.startswith('/endless-headers'):\n"
    "                while True:\n"
    "                    self.wfile.write(b'X-Junk: ' + b'j' * 1000 + b'\\r\\n')\n"
    "            self.end_headers()\n"
    "            while True:\n"
    "                self.wfile.write(b'overloaded ' * 6000)\n"
    "        except OSError:\n"
    "            self.close_connection = True\n"
    "def serve(name):\n"
    "    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "    context.load_cert_chain(name + '.pem', name + '.key')\n"
    "    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)\n"
    "    server.socket = context.wrap_socket(server.socket, server_side=True)\n"
    "    threading.Thread(target=server.serve_forever, daemon=True).start()\n"
    "    return server.server_address[1]\n"
    "ports = '%d %d\\n' % (serve('good'), serve('wrong'))\n"
    "with open('ports.tmp', 'w') as f:\n"
    "    f.write(ports)\n"
    "os.rename('ports.tmp', 'ports')\n"
    "threading.Event().wait()\n";

/* A test CA, a certificate from it for localhost (and 127.0.0.1), one for another name. */
static const char certificates_script[] =
    "set -e\n"
    "KEY='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
    "openssl req -x509 $KEY -days 2 -subj '/CN=tlsrptd test CA' -keyout ca.key -out ca.pem "
    "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign\n"
    "echo 'subjectAltName = DNS:localhost, DNS:reports.example, IP:127.0.0.1' > good.ext\n"
    "echo 'subjectAltName = DNS:wrong.example' > wrong.ext\n"
    "for name in good wrong; do\n"
    "  echo 'extendedKeyUsage = serverAuth' >> $name.ext\n"
    "  openssl req -new $KEY -subj \"/CN=$name\" -keyout $name.key -out $name.csr\n"
    "  openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
    "-extfile $name.ext -out $name.pem\n"
    "done\n";

static bool have(const char *program)
{
    char *command = xasprintf("command -v %s >/dev/null 2>&1", program);
    int status = system(command);

    free(command);
    return status == 0;
}

/* The text of a file in the temp directory; "" when there is none. */
static char *read_text(const char *name)
{
    char *path = path_join(temp_dir, name), *error = NULL;
    struct buf text;

    buf_init(&text);
    if (file_read_all(path, 1 << 24, &text, &error) < 0)
        free(error);
    free(path);
    return buf_steal(&text);
}

static void write_text(const char *name, const char *text)
{
    char *path = path_join(temp_dir, name), *error = NULL;

    if (file_write_atomic(path, text, strlen(text), 0600, &error) < 0)
        msg_fatal("%s", error);
    free(path);
}

/* A peer in the temp directory, output to a log file there; it dies with the test. */
static pid_t spawn(const char *log_name, char *const argv[])
{
    return peer_spawn(temp_dir, log_name, argv);
}

/* Waits until file `name` has a line with `marker` followed by `count` numbers. */
static bool wait_for(pid_t pid, const char *name, const char *marker, int count, int *a, int *b)
{
    int unused;

    /* A generous deadline: a loaded machine starts python slowly. */
    for (int64_t deadline = clock_ms() + 60000; clock_ms() < deadline;) {
        char *text = read_text(name);
        const char *found = strstr(text, marker);
        bool ok = found && strchr(found, '\n') &&
                  sscanf(found + strlen(marker), "%d %d", a, b ? b : &unused) >= count;
        free(text);
        if (ok)
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return false;
        usleep(10000);
    }
    return false;
}

/* Requests seen by the server, each after a newline: method, path, Content-Type, body in hex. */
static size_t request_count(void)
{
    char *log = read_text("requests.log");
    size_t n = 0;

    for (const char *p = log; *p; p++)
        n += *p == '\n';
    free(log);
    return n;
}

/* The last request was a POST of exactly the body, with the report's Content-Type. */
static void assert_last_request(const char *path)
{
    char *log = read_text("requests.log");
    struct buf expected;

    buf_init(&expected);
    buf_printf(&expected, "\nPOST\t%s\tapplication/tlsrpt+gzip\t", path);
    for (size_t i = 0; i < sizeof(body); i++)
        buf_printf(&expected, "%02x", body[i]);
    size_t len = strlen(log);
    ck_assert_str_eq(len >= expected.len ? log + len - expected.len : log, buf_cstr(&expected));
    buf_free(&expected);
    free(log);
}

static struct dlv_https_settings trusting(bool allow_private)
{
    struct dlv_https_settings settings = {
        .ca_file = ca_path, .allow_private = allow_private, .timeout_seconds = 10};
    return settings;
}

/* POSTs the body to url_format, with %d the port of the server with the good certificate. */
static struct dlv_result post(const struct dlv_https_settings *settings, const char *url_format)
{
    char *url = xasprintf(url_format, good_port);
    struct dlv_result result;

    dlv_https_post(settings, url, body, sizeof(body), &result);
    free(url);
    return result;
}

#define ASSERT_RESULT(result, expect_outcome, expect_code, expect_error)                           \
    do {                                                                                           \
        ck_assert_str_eq(dlv_outcome_name((result).outcome), dlv_outcome_name(expect_outcome));    \
        ck_assert_int_eq((result).code, expect_code);                                              \
        ck_assert_str_eq((result).error, expect_error);                                            \
    } while (0)
#define ASSERT_PREFIX(result, expect_outcome, prefix)                                              \
    do {                                                                                           \
        ck_assert_str_eq(dlv_outcome_name((result).outcome), dlv_outcome_name(expect_outcome));    \
        ck_assert_msg(strncmp((result).error, prefix, strlen(prefix)) == 0, "error: %s",           \
                      (result).error);                                                             \
    } while (0)

/* One POST and the outcome it must give. */
struct status_case {
    const char *url;
    enum dlv_outcome outcome;
    int code;
    const char *error;
};

/* clang-format off */
static const struct status_case status_cases[] = {
    {"https://localhost:%d/ok", DLV_DELIVERED, 200, "HTTP 200"},
    {"https://localhost:%d/created", DLV_DELIVERED, 201, "HTTP 201"},
    {"https://127.0.0.1:%d/ok", DLV_DELIVERED, 200, "HTTP 200"}, /* the certificate's IP SAN */
    {"https://localhost:%d/accepted", DLV_TEMPORARY, 202, "HTTP 202"},
    {"https://localhost:%d/fail", DLV_TEMPORARY, 500, "HTTP 500: internal trouble"},
    {"https://localhost:%d/busy", DLV_TEMPORARY, 429, "HTTP 429: slow down"},
    {"https://localhost:%d/gone", DLV_PERMANENT, 404, "HTTP 404: no such?endpoint "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxx..."},
    {"https://localhost:%d/redirect", DLV_PERMANENT, 302,
     "HTTP 302: redirect not followed (Location: https://elsewhere.example/tlsrpt)"},
};
/* clang-format on */

/* Each answer gives its outcome; the server got exactly the bytes and the Content-Type. */
START_TEST(test_status)
{
    struct dlv_https_settings settings = trusting(true);
    struct dlv_result result = post(&settings, status_cases[_i].url);

    ASSERT_RESULT(result, status_cases[_i].outcome, status_cases[_i].code, status_cases[_i].error);
    assert_last_request(strrchr(status_cases[_i].url, '/'));
}
END_TEST

START_TEST(test_timeout)
{
    struct dlv_https_settings settings = trusting(true);
    int64_t start = clock_ms();

    settings.timeout_seconds = 1;
    struct dlv_result result = post(&settings, "https://localhost:%d/slow");
    int64_t took = clock_ms() - start;
    ASSERT_PREFIX(result, DLV_TEMPORARY, "timeout: ");
    ck_assert_int_eq(result.code, 0);
    ck_assert_msg(took >= 900 && took < 3000, "took %lld ms", (long long)took);
}
END_TEST

/*
 * A response that never ends is cut after a few KB and judged by its
 * status, well before the timeout (the old code read until the timeout).
 */
static const struct status_case endless_cases[] = {
    {"https://localhost:%d/endless-ok", DLV_DELIVERED, 200, "HTTP 200"},
    {"https://localhost:%d/endless-fail", DLV_TEMPORARY, 500,
     "HTTP 500: overloaded overloaded overloaded overloaded overloaded overloaded overloaded "
     "overloaded overloaded overloaded overloaded..."},
    {"https://localhost:%d/endless-headers-fail", DLV_TEMPORARY, 500, "HTTP 500"},
};

START_TEST(test_endless_response)
{
    struct dlv_https_settings settings = trusting(true);
    int64_t start = clock_ms();

    settings.timeout_seconds = 20;
    struct dlv_result result = post(&settings, endless_cases[_i].url);
    int64_t took = clock_ms() - start;
    ASSERT_RESULT(result, endless_cases[_i].outcome, endless_cases[_i].code,
                  endless_cases[_i].error);
    ck_assert_msg(took < 10000, "took %lld ms: the response was not cut", (long long)took);
    assert_last_request(strrchr(endless_cases[_i].url, '/'));
}
END_TEST

/* TLS failures: nothing reaches the server. */
static const struct {
    bool wrong_name;     /* the server whose certificate is for wrong.example */
    const char *ca_file; /* "CA": the test CA */
    const char *prefix;
    const char *detail;
} tls_cases[] = {
    {true, "CA", "TLS: certificate verification failed: ", "'localhost'"},
    {false, NULL, "TLS: certificate verification failed: ", "unable to get local issuer"},
    {false, "/nonexistent/ca.pem", "TLS: cannot load ca_file /nonexistent/ca.pem: ", ""},
};

START_TEST(test_tls_failure)
{
    struct dlv_https_settings settings = trusting(true);
    char *url =
        xasprintf("https://localhost:%d/ok", tls_cases[_i].wrong_name ? wrong_port : good_port);
    struct dlv_result result;
    size_t before = request_count();

    if (tls_cases[_i].ca_file == NULL || strcmp(tls_cases[_i].ca_file, "CA") != 0)
        settings.ca_file = tls_cases[_i].ca_file;
    dlv_https_post(&settings, url, body, sizeof(body), &result);
    ASSERT_PREFIX(result, DLV_TEMPORARY, tls_cases[_i].prefix);
    ck_assert_msg(strstr(result.error, tls_cases[_i].detail), "error: %s", result.error);
    ck_assert_int_eq(result.code, 0);
    ck_assert_int_eq(request_count(), before);
    free(url);
}
END_TEST

/* clang-format off */
/* Refused before any connection; %d is the port of the running server. */
static const struct {
    const char *url;
    const char *error;
} refused_cases[] = {
    {"https://127.0.0.1:%d/ok",
     "127.0.0.1 is not a public address (loopback 127.0.0.0/8)" PRIVATE_HINT},
    {"https://10.1.2.3/?%d",
     "10.1.2.3 is not a public address (private 10.0.0.0/8)" PRIVATE_HINT},
    {"https://[::1]:%d/ok", "::1 is not a public address (loopback ::1/128)" PRIVATE_HINT},
    {"https://[::ffff:127.0.0.1]:%d/ok", "::ffff:127.0.0.1 is not a public address "
     "(IPv4-mapped, loopback 127.0.0.0/8)" PRIVATE_HINT},
    {"https://0x7f.1:%d/ok",
     "127.0.0.1 is not a public address (loopback 127.0.0.0/8)" PRIVATE_HINT},
    {"https://169.254.169.254/?%d",
     "169.254.169.254 is not a public address (link-local 169.254.0.0/16)" PRIVATE_HINT},
    {"http://localhost:%d/ok", "bad URI \"http://localhost:%d/ok\": only https: is used"},
    {"ftp://localhost:%d/", "bad URI \"ftp://localhost:%d/\": only https: is used"},
    {"https://tilde~host.example:%d/", "bad URI \"https://tilde~host.example:%d/\": the host is "
     "neither an IP address nor a DNS name"},
    {"https://[fe80::1%%25eth0]:%d/",
     "bad URI \"https://[fe80::1%%25eth0]:%d/\": an IPv6 zone ID is not allowed"},
};
/* clang-format on */

START_TEST(test_refused)
{
    struct dlv_https_settings settings = trusting(false);
    char *error = xasprintf(refused_cases[_i].error, good_port);
    size_t before = request_count();
    struct dlv_result result = post(&settings, refused_cases[_i].url);

    ASSERT_RESULT(result, DLV_REFUSED, 0, error);
    ck_assert_int_eq(request_count(), before);
    if (_i == 0) {
        /* localhost through getaddrinfo() is loopback too. */
        result = post(&settings, "https://localhost:%d/ok");
        ASSERT_PREFIX(result, DLV_REFUSED, "localhost resolves to ");
    }
    free(error);
}
END_TEST

/* A resolver of fixed answers; records the name it was asked. */
struct fixed_answers {
    const char *addresses[4];
    int count; /* -1: temporary failure */
    char asked[64];
};

static int fixed_resolve(void *context, const char *host, struct sockaddr_storage *addresses,
                         size_t max, char **error_r)
{
    struct fixed_answers *answers = context;

    snprintf(answers->asked, sizeof(answers->asked), "%s", host);
    if (answers->count < 0) {
        *error_r = xstrdup("SERVFAIL");
        return -1;
    }
    for (int i = 0; i < answers->count && (size_t)i < max; i++) {
        struct sockaddr_in *in = (struct sockaddr_in *)&addresses[i];
        memset(&addresses[i], 0, sizeof(addresses[i]));
        in->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, answers->addresses[i], &in->sin_addr), 1);
    }
    return answers->count;
}

static struct dlv_result post_resolved(dlv_resolve_fn *resolve, void *context, bool allow_private,
                                       const char *url_format)
{
    struct dlv_https_settings settings = trusting(allow_private);

    settings.resolve = resolve;
    settings.resolve_context = context;
    return post(&settings, url_format);
}

/* reports.example exists only in the resolver: curl must connect to the pinned address. */
START_TEST(test_pinned)
{
    struct fixed_answers answers = {{"127.0.0.1"}, 1, ""};
    struct dlv_result result =
        post_resolved(fixed_resolve, &answers, true, "https://Reports.EXAMPLE:%d/ok");

    ASSERT_RESULT(result, DLV_DELIVERED, 200, "HTTP 200");
    ck_assert_str_eq(answers.asked, "reports.example");
    assert_last_request("/ok");
    result = post_resolved(fixed_resolve, &answers, true, "https://reports.example.:%d/created");
    ASSERT_RESULT(result, DLV_DELIVERED, 201, "HTTP 201");
    assert_last_request("/created");
}
END_TEST

START_TEST(test_resolve_outcomes)
{
    struct fixed_answers none = {{NULL}, 0, ""}, failing = {{NULL}, -1, ""};
    struct fixed_answers mixed = {{"93.184.215.14", "10.0.0.1"}, 2, ""};
    struct dlv_result result;

    result = post_resolved(fixed_resolve, &none, true, "https://nowhere.example:%d/ok");
    ASSERT_RESULT(result, DLV_PERMANENT, 0,
                  "no such host: nowhere.example has no IPv4 or IPv6 address");
    result = post_resolved(fixed_resolve, &failing, true, "https://flaky.example:%d/ok");
    ASSERT_RESULT(result, DLV_TEMPORARY, 0, "cannot resolve flaky.example: SERVFAIL");
    result = post_resolved(fixed_resolve, &mixed, false, "https://mixed.example:%d/ok");
    ASSERT_RESULT(result, DLV_REFUSED, 0,
                  "mixed.example resolves to 10.0.0.1 (private 10.0.0.0/8)" PRIVATE_HINT);
}
END_TEST

/* clang-format off */
static const struct {
    const char *address;
    const char *refusal; /* NULL: a destination reports may go to */
} address_cases[] = {
    {"8.8.8.8", NULL}, {"93.184.215.14", NULL}, {"100.63.255.255", NULL}, {"100.128.0.0", NULL},
    {"172.15.255.255", NULL}, {"172.32.0.0", NULL}, {"192.169.0.1", NULL},
    {"223.255.255.255", NULL}, {"::ffff:8.8.8.8", NULL}, {"64:ff9b::808:808", NULL},
    {"2002:808:808::1", NULL}, {"2606:4700:4700::1111", NULL}, {"2a00:1450:4001:80b::200e", NULL},
    {"0.0.0.0", "unspecified 0.0.0.0/8"}, {"0.1.2.3", "unspecified 0.0.0.0/8"},
    {"10.255.255.255", "private 10.0.0.0/8"}, {"100.64.0.1", "shared (CGNAT) 100.64.0.0/10"},
    {"127.255.255.254", "loopback 127.0.0.0/8"}, {"169.254.169.254", "link-local 169.254.0.0/16"},
    {"172.31.255.255", "private 172.16.0.0/12"},
    {"192.0.0.8", "IETF protocol assignments 192.0.0.0/24"},
    {"192.0.2.1", "documentation 192.0.2.0/24"},
    {"192.88.99.1", "6to4 relay anycast (deprecated) 192.88.99.0/24"},
    {"192.168.1.10", "private 192.168.0.0/16"}, {"198.19.255.255", "benchmarking 198.18.0.0/15"},
    {"198.51.100.7", "documentation 198.51.100.0/24"},
    {"203.0.113.9", "documentation 203.0.113.0/24"},
    {"239.255.255.250", "multicast 224.0.0.0/4"}, {"240.0.0.1", "reserved 240.0.0.0/4"},
    {"255.255.255.255", "broadcast 255.255.255.255/32"},
    {"::", "unspecified ::/128"}, {"::1", "loopback ::1/128"},
    {"::10.0.0.1", "IPv4-compatible (deprecated) ::/96"},
    {"::ffff:10.0.0.1", "IPv4-mapped, private 10.0.0.0/8"},
    {"64:ff9b::a00:1", "NAT64 64:ff9b::/96, private 10.0.0.0/8"},
    {"64:ff9b:1::1", "NAT64 local use 64:ff9b:1::/48"}, {"100::1", "discard-only 100::/64"},
    {"2001::1", "IETF protocol assignments 2001::/23"},
    {"2001:db8::1", "documentation 2001:db8::/32"},
    {"2002:a9fe:a9fe::1", "6to4 2002::/16, link-local 169.254.0.0/16"},
    {"3fff::1", "documentation 3fff::/20"}, {"fd12:3456::1", "unique local fc00::/7"},
    {"fe80::1", "link-local fe80::/10"}, {"fec0::1", "site-local (deprecated) fec0::/10"},
    {"ff02::1", "multicast ff00::/8"}, {"4000::1", "not global unicast (outside 2000::/3)"},
};
/* clang-format on */

START_TEST(test_address_table)
{
    struct sockaddr_storage storage = {0};
    struct sockaddr_in *in = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&storage;
    const char *text = address_cases[_i].address;
    char reason[DLV_ADDRESS_TEXT_SIZE];
    bool v6 = strchr(text, ':') != NULL;

    storage.ss_family = v6 ? AF_INET6 : AF_INET;
    ck_assert_int_eq(
        inet_pton(storage.ss_family, text, v6 ? (void *)&in6->sin6_addr : (void *)&in->sin_addr),
        1);
    const struct sockaddr *address = (const struct sockaddr *)&storage;
    ck_assert_pstr_eq(dlv_address_refusal(address, reason, sizeof(reason)),
                      address_cases[_i].refusal);
    ck_assert_int_eq(dlv_address_is_private(address), address_cases[_i].refusal != NULL);
    if (_i == 0) {
        struct sockaddr_un local = {.sun_family = AF_UNIX};
        ck_assert(dlv_address_is_private((const struct sockaddr *)&local));
        ck_assert(dlv_address_is_private(NULL));
    }
}
END_TEST

/* DNS through ldns-testns: A and AAAA for each name (it does not answer what it lacks). */
#define ENTRY(flags, qname, qtype, sections)                                                       \
    "ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\nREPLY QR RD RA " flags                 \
    "\nSECTION QUESTION\n" qname " IN " qtype "\n" sections "ENTRY_END\n"
#define SOA "SECTION AUTHORITY\nexample. 60 IN SOA ns.example. h.example. 1 60 60 60 60\n"
#define ANSWER(qname, qtype, records) ENTRY("NOERROR", qname, qtype, "SECTION ANSWER\n" records)
#define NODATA(qname, qtype) ENTRY("NOERROR", qname, qtype, SOA)
#define ONLY_A(qname, address)                                                                     \
    ANSWER(qname, "A", qname " 60 IN A " address "\n") NODATA(qname, "AAAA")

/* clang-format off */
static const char dns_data[] =
    ONLY_A("private.example.", "192.168.1.10")
    ONLY_A("reports.example.", "127.0.0.1")
    ANSWER("alias.example.", "A", "alias.example. 60 IN CNAME reports.example.\n"
                                  "reports.example. 60 IN A 127.0.0.1\n")
    ANSWER("alias.example.", "AAAA", "alias.example. 60 IN CNAME reports.example.\n")
    NODATA("v6.example.", "A")
    ANSWER("v6.example.", "AAAA", "v6.example. 60 IN AAAA ::1\n"
                                  "v6.example. 60 IN AAAA 2001:db8::5\n")
    ANSWER("both.example.", "A", "both.example. 60 IN A 192.0.2.1\nboth.example. 60 IN A 192.0.2.1\n"
                                 "both.example. 60 IN A 192.0.2.2\n")
    ANSWER("both.example.", "AAAA", "both.example. 60 IN AAAA 2001:db8::1\n")
    ENTRY("NXDOMAIN", "nx.example.", "A", SOA)
    ENTRY("SERVFAIL", "servfail.example.", "A", "")
    ENTRY("SERVFAIL", "servfail.example.", "AAAA", "")
    ANSWER("half.example.", "A", "half.example. 60 IN A 192.0.2.7\n")
    ENTRY("SERVFAIL", "half.example.", "AAAA", "");
/* clang-format on */

static void testns_setup(void)
{
    char *argv[] = {"ldns-testns", "-r", "dns.data", NULL};

    write_text("dns.data", dns_data);
    testns_pid = spawn("dns.log", argv);
    /* It says "Listening on port N" once both sockets are bound. */
    if (!wait_for(testns_pid, "dns.log", "Listening on port ", 1, &testns_port, NULL))
        ck_abort_msg("ldns-testns did not start");
}

static void testns_teardown(void)
{
    peer_stop(testns_pid);
}

static struct dns_resolver *test_resolver(void)
{
    char *server = xasprintf("127.0.0.1:%d", testns_port);
    const char *servers[] = {server, NULL};
    char *error = NULL;
    struct dns_resolver *resolver = dns_resolver_create(servers, DNS_TIMEOUT_MS, &error);

    if (resolver == NULL)
        ck_abort_msg("%s", error);
    free(server);
    return resolver;
}

static const struct {
    const char *host;
    int count;
    const char *rendered; /* addresses, or the error */
} lookup_cases[] = {
    {"private.example", 1, "192.168.1.10"},
    {"Reports.Example.", 1, "127.0.0.1"},
    {"alias.example", 1, "127.0.0.1"},
    {"v6.example", 2, "::1 2001:db8::5"},
    {"both.example", 3, "192.0.2.1 192.0.2.2 2001:db8::1"},
    {"half.example", 1, "192.0.2.7"},
    {"nx.example", 0, ""},
    {"servfail.example", -1, "servfail.example AAAA: SERVFAIL"},
    {"bad name.example", 0, ""},
    {"192.0.2.9", 1, "192.0.2.9"},
    {"2001:db8::9", 1, "2001:db8::9"},
};

START_TEST(test_lookup_addresses)
{
    struct dns_resolver *resolver = test_resolver();
    struct sockaddr_storage addresses[4];
    char *error = NULL;
    struct buf rendered;

    buf_init(&rendered);
    int n = dns_lookup_addresses(resolver, lookup_cases[_i].host, addresses, 4, &error);
    ck_assert_int_eq(n, lookup_cases[_i].count);
    if (n < 0)
        buf_puts(&rendered, error);
    for (int i = 0; i < n; i++) {
        char text[DLV_ADDRESS_TEXT_SIZE];
        dlv_address_text((const struct sockaddr *)&addresses[i], text, sizeof(text));
        buf_printf(&rendered, "%s%s", i > 0 ? " " : "", text);
    }
    ck_assert_str_eq(buf_cstr(&rendered), lookup_cases[_i].rendered);
    buf_free(&rendered);
    free(error);
    dns_resolver_destroy(resolver);
}
END_TEST

static int dns_resolve(void *context, const char *host, struct sockaddr_storage *addresses,
                       size_t max, char **error_r)
{
    return dns_lookup_addresses(context, host, addresses, max, error_r);
}

START_TEST(test_dns_destinations)
{
    struct dns_resolver *resolver = test_resolver();
    struct dlv_result result;
    size_t before = request_count();

    result = post_resolved(dns_resolve, resolver, false, "https://private.example:%d/ok");
    ASSERT_RESULT(result, DLV_REFUSED, 0,
                  "private.example resolves to 192.168.1.10 (private 192.168.0.0/16)" PRIVATE_HINT);
    result = post_resolved(dns_resolve, resolver, false, "https://reports.example:%d/ok");
    ASSERT_RESULT(result, DLV_REFUSED, 0,
                  "reports.example resolves to 127.0.0.1 (loopback 127.0.0.0/8)" PRIVATE_HINT);
    result = post_resolved(dns_resolve, resolver, true, "https://nx.example:%d/ok");
    ASSERT_RESULT(result, DLV_PERMANENT, 0, "no such host: nx.example has no IPv4 or IPv6 address");
    result = post_resolved(dns_resolve, resolver, true, "https://servfail.example:%d/ok");
    ASSERT_RESULT(result, DLV_TEMPORARY, 0,
                  "cannot resolve servfail.example: servfail.example AAAA: SERVFAIL");
    ck_assert_int_eq(request_count(), before);
    /* Allowed, and delivered to the address the test DNS gave. */
    result = post_resolved(dns_resolve, resolver, true, "https://reports.example:%d/ok");
    ASSERT_RESULT(result, DLV_DELIVERED, 200, "HTTP 200");
    assert_last_request("/ok");
    dns_resolver_destroy(resolver);
}
END_TEST

static Suite *https_suite(void)
{
    Suite *s = suite_create("https");
    TCase *server = tcase_create("server");
    TCase *addresses = tcase_create("addresses");

    tcase_set_timeout(server, 60);
    tcase_add_loop_test(server, test_status, 0, (int)UTIL_ARRAY_LEN(status_cases));
    tcase_add_test(server, test_timeout);
    tcase_add_loop_test(server, test_endless_response, 0, (int)UTIL_ARRAY_LEN(endless_cases));
    tcase_add_loop_test(server, test_tls_failure, 0, (int)UTIL_ARRAY_LEN(tls_cases));
    tcase_add_loop_test(server, test_refused, 0, (int)UTIL_ARRAY_LEN(refused_cases));
    tcase_add_test(server, test_pinned);
    tcase_add_test(server, test_resolve_outcomes);
    suite_add_tcase(s, server);
    tcase_add_loop_test(addresses, test_address_table, 0, (int)UTIL_ARRAY_LEN(address_cases));
    suite_add_tcase(s, addresses);
    if (have_testns) {
        TCase *dns = tcase_create("dns");
        tcase_add_unchecked_fixture(dns, testns_setup, testns_teardown);
        tcase_set_timeout(dns, 60);
        tcase_add_loop_test(dns, test_lookup_addresses, 0, (int)UTIL_ARRAY_LEN(lookup_cases));
        tcase_add_test(dns, test_dns_destinations);
        suite_add_tcase(s, dns);
    } else {
        printf("NOTE: ldns-testns not found in PATH (Debian package ldnsutils): "
               "the DNS cases are not run\n");
    }
    return s;
}

/* Certificates, then the server; false with what went wrong on stderr. */
static bool start_peers(void)
{
    char *certificates[] = {"sh", "certificates.sh", NULL};
    char *server[] = {"python3", "server.py", NULL};
    int status;

    write_text("certificates.sh", certificates_script);
    write_text("server.py", server_script);
    pid_t pid = spawn("openssl.log", certificates);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *log = read_text("openssl.log");
        fprintf(stderr, "could not make the test certificates:\n%s\n", log);
        free(log);
        return false;
    }
    server_pid = spawn("server.log", server);
    if (wait_for(server_pid, "ports", "", 2, &good_port, &wrong_port))
        return true;
    char *log = read_text("server.log");
    fprintf(stderr, "the HTTPS test server did not start:\n%s\n", log);
    free(log);
    return false;
}

int main(void)
{
    if (!have("python3") || !have("openssl")) {
        printf("SKIP: python3 or openssl not found in PATH: no HTTPS tests\n");
        return 77;
    }
    if (mkdtemp(temp_dir) == NULL)
        msg_fatal("mkdtemp %s: %s", temp_dir, strerror(errno));
    int failed = 1;
    if (start_peers()) {
        ca_path = path_join(temp_dir, "ca.pem");
        /* A gzip header, then bytes of every value, NUL included. */
        memcpy(body, "\x1f\x8b\x08", 3);
        for (size_t i = 3; i < sizeof(body); i++)
            body[i] = (unsigned char)((i * 7919u) >> 3);
        have_testns = have("ldns-testns");
        SRunner *runner = srunner_create(https_suite());
        srunner_run_all(runner, CK_NORMAL);
        failed = srunner_ntests_failed(runner);
        srunner_free(runner);
    }
    if (server_pid > 0)
        peer_stop(server_pid);
    char *command = xasprintf("rm -rf '%s'", temp_dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", temp_dir);
    free(command);
    free(ca_path);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
