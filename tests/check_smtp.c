/*
 * check_smtp.c - Check suite of report mail transport: dlv_smtp_send against
 * a real SMTP peer (a small Python sink on 127.0.0.1) and a recording
 * sendmail script; the delivery through a real Postfix is check_smtp_postfix.c.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
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

static pid_t sink_pid;
static int sink_port, sink_tls_port; /* plain ESMTP; ESMTP with STARTTLS */

/* The SMTP sink: saves each accepted message with its envelope as msg-N.eml. */
static const char sink_py[] =
    "import base64, os, socketserver, ssl, sys, threading\n"
    "out, cert, key = sys.argv[1:4]\n"
    "lock, count = threading.Lock(), [0]\n"
    "tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "tls.load_cert_chain(cert, key)\n"
    "REFUSE = {'reject': '550 5.1.1 <%s>: Recipient address rejected: User unknown',\n"
    "          'busy': '450 4.2.1 <%s>: Recipient address rejected: Mailbox busy',\n"
    "          'multi': '550-5.7.1 <%s>: first line\\r\\n550 5.7.1 second line'}\n"
    "class Session(socketserver.StreamRequestHandler):\n"
    "    starttls = False\n"
    "    def send(self, text):\n"
    "        self.connection.sendall(text.encode() + b'\\r\\n')\n"
    "    def handle(self):\n"
    "        with lock, open(os.path.join(out, 'connections'), 'a') as f: f.write('c\\n')\n"
    "        secure, user, sender, rcpts = False, '', '', []\n"
    "        self.send('220 sink.test ESMTP test sink')\n"
    "        while line := self.rfile.readline(4096):\n"
    "            verb, _, arg = line.decode('latin-1').rstrip('\\r\\n').partition(' ')\n"
    "            verb = verb.upper()\n"
    "            if verb == 'EHLO':\n"
    "                starttls = ['250-STARTTLS'] if self.starttls and not secure else []\n"
    "                self.send('\\r\\n'.join(['250-sink.test'] + starttls + ['250 AUTH PLAIN']))\n"
    "            elif verb == 'STARTTLS' and self.starttls and not secure:\n"
    "                self.send('220 2.0.0 Ready to start TLS')\n"
    "                self.connection = tls.wrap_socket(self.connection, server_side=True)\n"
    "                self.rfile = self.connection.makefile('rb')\n"
    "                secure, user, sender, rcpts = True, '', '', []\n"
    "            elif verb == 'AUTH' and arg.upper().startswith('PLAIN'):\n"
    "                response = arg[6:] or self.send('334 ') or "
    "self.rfile.readline(4096).decode()\n"
    "                fields = base64.b64decode(response).decode('latin-1').split('\\0')\n"
    "                if fields[-1] == 'secret':\n"
    "                    user = fields[1]\n"
    "                    self.send('235 2.7.0 Authentication successful')\n"
    "                else: self.send('535 5.7.8 Error: authentication failed')\n"
    "            elif verb == 'MAIL' and arg.upper().startswith('FROM:'):\n"
    "                sender, rcpts = arg[5:].split(' ')[0].strip('<>'), []\n"
    "                self.send('250 2.1.0 Ok')\n"
    "            elif verb == 'RCPT' and arg.upper().startswith('TO:'):\n"
    "                rcpt = arg[3:].split(' ')[0].strip('<>')\n"
    "                if rcpt.split('@')[0] in REFUSE: self.send(REFUSE[rcpt.split('@')[0]] % "
    "rcpt)\n"
    "                else:\n"
    "                    rcpts.append(rcpt)\n"
    "                    self.send('250 2.1.5 Ok')\n"
    "            elif verb == 'DATA' and rcpts:\n"
    "                self.send('354 End data with <CR><LF>.<CR><LF>')\n"
    "                data = []\n"
    "                while (l := self.rfile.readline()) not in (b'.\\r\\n', b'.\\n', b''):\n"
    "                    data.append(l[1:] if l.startswith(b'.') else l)\n"
    "                if any(r.startswith('later@') for r in rcpts):\n"
    "                    self.send('451 4.3.0 Error: queue file write error')\n"
    "                else:\n"
    "                    with lock:\n"
    "                        count[0] += 1\n"
    "                        name = os.path.join(out, 'msg-%s' % ','.join(rcpts))\n"
    "                        with open(name + '.tmp', 'wb') as f:\n"
    "                            f.write(('from=%s\\nto=%s\\ntls=%s\\nauth=%s\\n\\n' % (sender,\n"
    "                                ','.join(rcpts), 'yes' if secure else 'no', user)).encode())\n"
    "                            f.write(b''.join(data))\n"
    "                        os.rename(name + '.tmp', name + '.eml')\n"
    "                        with open(os.path.join(out, 'messages'), 'a') as f: f.write('m\\n')\n"
    "                        self.send('250 2.0.0 Ok: queued as %d' % count[0])\n"
    "                sender, rcpts = '', []\n"
    "            elif verb == 'DATA': self.send('554 5.5.1 Error: no valid recipients')\n"
    "            elif verb in ('HELO', 'RSET', 'NOOP'):\n"
    "                sender, rcpts = ('', []) if verb == 'RSET' else (sender, rcpts)\n"
    "                self.send('250 2.0.0 Ok')\n"
    "            elif verb == 'QUIT': return self.send('221 2.0.0 Bye')\n"
    "            else: self.send('502 5.5.2 Error: command not recognized')\n"
    "class Secure(Session):\n"
    "    starttls = True\n"
    "socketserver.ThreadingTCPServer.allow_reuse_address = True\n"
    "socketserver.ThreadingTCPServer.daemon_threads = True\n"
    "plain = socketserver.ThreadingTCPServer(('127.0.0.1', 0), Session)\n"
    "secure = socketserver.ThreadingTCPServer(('127.0.0.1', 0), Secure)\n"
    "with open(os.path.join(out, 'ports.tmp'), 'w') as f:\n"
    "    f.write('%d %d\\n' % (plain.server_address[1], secure.server_address[1]))\n"
    "os.rename(os.path.join(out, 'ports.tmp'), os.path.join(out, 'ports'))\n"
    "threading.Thread(target=secure.serve_forever, daemon=True).start()\n"
    "plain.serve_forever()\n";

/* Records its arguments and standard input, says something, exits as told. */
static const char sendmail_sh[] =
    "#!/bin/sh\n"
    "d=\"$(dirname \"$0\")\"\n"
    "for a in \"$@\"; do printf '%s\\n' \"$a\"; done >\"$d/sm-argv\"\n"
    "cat >\"$d/sm-stdin\"\n"
    "status=$(cat \"$d/sm-status\")\n"
    "echo \"sendmail: told to exit $status\" >&2\n"
    "exit \"$status\"\n";

static size_t count_lines(const char *name)
{
    char *text = read_text(name);
    size_t n = 0;

    for (const char *p = text; p && *p; p++)
        n += *p == '\n';
    free(text);
    return n;
}

/* What the sink saved for to=recipient: its envelope lines and the data. */
static char *sink_message(const char *recipient, char **envelope_r)
{
    char *name = xasprintf("msg-%s.eml", recipient), *text = read_text(name);
    char *end = text ? strstr(text, "\n\n") : NULL, *data = NULL;

    if (end != NULL) {
        *envelope_r = xstrndup(text, (size_t)(end - text) + 1);
        data = xstrdup(end + 2);
    }
    free(text);
    free(name);
    return data;
}

/* A self-signed certificate for 127.0.0.1, which the client must be told to trust. */
static void write_certificate(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509V3_CTX ctx;

    ck_assert_ptr_nonnull(key);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    ck_assert_ptr_nonnull(san);
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    char *cert_path = tmp_path("cert.pem"), *key_path = tmp_path("key.pem");
    FILE *cert_file = fopen(cert_path, "w"), *key_file = fopen(key_path, "w");
    ck_assert(cert_file && key_file);
    ck_assert(PEM_write_X509(cert_file, x) == 1);
    ck_assert(PEM_write_PrivateKey(key_file, key, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(cert_file);
    fclose(key_file);
    free(cert_path);
    free(key_path);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void sink_start(void)
{
    char *script = tmp_path("sink.py"), *cert = tmp_path("cert.pem"), *key = tmp_path("key.pem");
    char *log = tmp_path("sink.log");
    char *argv[] = {"python3", script, tmp, cert, key, NULL};
    posix_spawn_file_actions_t actions;

    write_certificate();
    write_text("sink.py", sink_py, 0644);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int err = posix_spawnp(&sink_pid, "python3", &actions, NULL, argv, environ);
    ck_assert_msg(err == 0, "cannot run python3: %s", strerror(err));
    posix_spawn_file_actions_destroy(&actions);
    for (int64_t deadline = clock_ms() + 60000; clock_ms() < deadline;) {
        char *ports = read_text("ports");
        if (ports != NULL) {
            ck_assert_int_eq(sscanf(ports, "%d %d", &sink_port, &sink_tls_port), 2);
            free(ports);
            break;
        }
        ck_assert_msg(waitpid(sink_pid, NULL, WNOHANG) == 0, "the SMTP sink died, see %s", log);
        usleep(50 * 1000);
    }
    ck_assert_msg(sink_port > 0, "the SMTP sink did not start, see %s", log);
    free(script);
    free(cert);
    free(key);
    free(log);
}

static void sink_stop(void)
{
    if (sink_pid > 0) {
        kill(sink_pid, SIGTERM);
        waitpid(sink_pid, NULL, 0);
        sink_pid = 0;
    }
}

/* One attempt with a one-line message. */
static struct dlv_result attempt(const struct dlv_smtp_settings *settings, const char *sender,
                                 const char *recipient)
{
    struct dlv_result result;

    dlv_smtp_send(settings, sender, recipient, "x\r\n", 3, &result);
    return result;
}

/* Sends the report and returns the envelope the sink saw (and the data, if asked). */
static char *send_ok(const struct dlv_smtp_settings *settings, const char *recipient,
                     const char *message, char **data_r)
{
    struct dlv_result result;
    char *envelope = NULL, *data;

    dlv_smtp_send(settings, "tlsrpt-noreply@sender.example", recipient, message, strlen(message),
                  &result);
    ck_assert_msg(result.outcome == DLV_DELIVERED, "outcome %d: %s", result.outcome, result.error);
    ck_assert_int_eq(result.code, 250);
    ck_assert_msg(strncmp(result.error, "250 2.0.0 Ok: queued as ", 24) == 0, "%s", result.error);
    data = sink_message(recipient, &envelope);
    ck_assert_msg(data != NULL, "the sink has no message for %s", recipient);
    if (data_r != NULL)
        *data_r = data;
    else
        free(data);
    return envelope;
}

START_TEST(test_delivered_intact)
{
    struct dlv_smtp_settings settings = plain_settings(sink_port);
    char *data, *want = lf_only(report_message), *got;
    char *envelope = send_ok(&settings, "t-intact@example.net", report_message, &data);

    ck_assert_str_eq(envelope, "from=tlsrpt-noreply@sender.example\nto=t-intact@example.net\n"
                               "tls=no\nauth=\n");
    ck_assert_str_eq(got = lf_only(data), want);
    free(got);
    free(data);
    free(envelope);
    /* Bare LF line ends go out as CRLF and arrive as the same lines. */
    settings.relayhost = xasprintf("127.0.0.1:%d", sink_port);
    free(send_ok(&settings, "t-lf@example.net", want, &data));
    for (const char *p = strchr(data, '\n'); p; p = strchr(p + 1, '\n'))
        ck_assert_msg(p[-1] == '\r', "bare LF at offset %td", p - data);
    ck_assert_str_eq(got = lf_only(data), want);
    free((char *)settings.relayhost);
    free(got);
    free(data);
    free(want);
}
END_TEST

static const struct {
    const char *recipient;
    enum dlv_outcome outcome;
    int code;
    const char *error;
} reply_cases[] = {
    {"reject@example.net", DLV_PERMANENT, 550,
     "550 5.1.1 <reject@example.net>: Recipient address rejected: User unknown"},
    {"busy@example.net", DLV_TEMPORARY, 450,
     "450 4.2.1 <busy@example.net>: Recipient address rejected: Mailbox busy"},
    {"later@example.net", DLV_TEMPORARY, 451, "451 4.3.0 Error: queue file write error"},
    {"multi@example.net", DLV_PERMANENT, 550,
     "550 5.7.1 <multi@example.net>: first line 5.7.1 second line"},
};

START_TEST(test_reply_outcomes)
{
    struct dlv_smtp_settings settings = plain_settings(sink_port);
    struct dlv_result result;
    size_t before = count_lines("messages");

    dlv_smtp_send(&settings, "tlsrpt-noreply@sender.example", reply_cases[_i].recipient,
                  report_message, strlen(report_message), &result);
    ck_assert_int_eq(result.outcome, reply_cases[_i].outcome);
    ck_assert_int_eq(result.code, reply_cases[_i].code);
    ck_assert_str_eq(result.error, reply_cases[_i].error);
    ck_assert_uint_eq(count_lines("messages"), before);
}
END_TEST

START_TEST(test_unreachable)
{
    int port, closed = bound_socket(false, &port);
    struct dlv_smtp_settings settings = plain_settings(port);
    struct dlv_result result = attempt(&settings, "a@example.org", "b@example.net");

    ck_assert_int_eq(result.outcome, DLV_TEMPORARY);
    ck_assert_int_eq(result.code, 0);
    ck_assert_msg(strstr(result.error, "onnect") != NULL, "%s", result.error);
    close(closed);

    /* A peer that accepts the connection and never says a word. */
    int silent = bound_socket(true, &port);
    settings = plain_settings(port);
    settings.timeout_seconds = 1;
    int64_t start = clock_ms();
    result = attempt(&settings, "a@example.org", "b@example.net");
    ck_assert_int_eq(result.outcome, DLV_TEMPORARY);
    /* Cut at the 1 s timeout, not waiting forever: generous for a loaded machine. */
    ck_assert_int_lt(clock_ms() - start, 15000);
    ck_assert_msg(strstr(result.error, "imeout") || strstr(result.error, "timed out"), "%s",
                  result.error);
    close(silent);
}
END_TEST

static const struct {
    const char *sender, *recipient;
} injection_cases[] = {
    {"a@example.org\r\nRCPT TO:<evil@example.net>", "ok@example.net"},
    {"a@example.org", "ok@example.net\r\nDATA"},
    {"a@example.org", "ok@example.net\n"},
    {"a@example.org", "ok@example.net>"},
    {"<a@example.org", "ok@example.net"},
    {"a b@example.org", "ok@example.net"},
    {"a@example.org", "ok@example.net SIZE=1"},
    {"a\x01@example.org", "ok@example.net"},
    {"a@example.org", "\x7f@example.net"},
    {"a@example.org", "ok@example.net\tx"},
    {"a@example.org", ""},
    {"a@example.org", "no-at-sign"},
    {"b\xc3\xbc@example.org", "ok@example.net"},
    {"'; rm -rf / #'@example.org", "ok@example.net"},
};

START_TEST(test_injection_refused)
{
    struct dlv_smtp_settings settings = plain_settings(sink_port);
    size_t connections = count_lines("connections"), messages = count_lines("messages");
    struct dlv_result result =
        attempt(&settings, injection_cases[_i].sender, injection_cases[_i].recipient);

    ck_assert_int_eq(result.outcome, DLV_REFUSED);
    ck_assert_int_eq(result.code, 0);
    ck_assert_uint_eq(count_lines("connections"), connections);
    ck_assert_uint_eq(count_lines("messages"), messages);

    char *argv_path = tmp_path("sm-argv");
    unlink(argv_path);
    settings.sendmail_path = path_join(tmp, "sendmail");
    result = attempt(&settings, injection_cases[_i].sender, injection_cases[_i].recipient);
    ck_assert_int_eq(result.outcome, DLV_REFUSED);
    ck_assert_int_eq(access(argv_path, F_OK), -1);
    free((char *)settings.sendmail_path);
    free(argv_path);
}
END_TEST

static const char *const bad_relayhosts[] = {
    "[127.0.0.1", "[127.0.0.1]x", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x",   "127.0.0.1:",
    "[::zz]:25",  "a b:25",       "[]:25",       "host/x:25",       "127.0.0.1:+25",
};

START_TEST(test_bad_settings_refused)
{
    struct dlv_smtp_settings settings = {.relayhost = bad_relayhosts[_i], .tls_level = "none"};
    struct dlv_result result = attempt(&settings, "a@example.org", "b@example.net");

    ck_assert_int_eq(result.outcome, DLV_REFUSED);
    ck_assert_msg(strstr(result.error, "relayhost") != NULL, "%s", result.error);
    settings = plain_settings(sink_port);
    settings.tls_level = "dane";
    ck_assert_int_eq(attempt(&settings, "a@example.org", "b@example.net").outcome, DLV_REFUSED);
}
END_TEST

START_TEST(test_starttls)
{
    struct dlv_smtp_settings settings = plain_settings(sink_tls_port);
    size_t messages = count_lines("messages");
    struct dlv_result result;
    char *envelope;

    /* The sink's certificate is trusted by nobody, and "may" is not "any certificate". */
    settings.tls_level = "encrypt";
    ck_assert_int_eq(attempt(&settings, "a@example.org", "t@example.net").outcome, DLV_TEMPORARY);
    settings.tls_level = "may";
    ck_assert_int_eq(attempt(&settings, "a@example.org", "t@example.net").outcome, DLV_TEMPORARY);
    ck_assert_uint_eq(count_lines("messages"), messages);
    settings.ca_file = "/nonexistent/ca.pem";
    result = attempt(&settings, "a@example.org", "t@example.net");
    ck_assert_int_eq(result.outcome, DLV_TEMPORARY);
    ck_assert_str_eq(result.error, "cannot load the certificates in /nonexistent/ca.pem");

    static const char *const levels[] = {"may", "encrypt", "none"};
    settings.ca_file = tmp_path("cert.pem");
    for (size_t i = 0; i < UTIL_ARRAY_LEN(levels); i++) {
        char *recipient = xasprintf("t-%s@example.net", levels[i]);
        settings.tls_level = levels[i];
        envelope = send_ok(&settings, recipient, report_message, NULL);
        ck_assert_ptr_nonnull(strstr(envelope, i < 2 ? "\ntls=yes\n" : "\ntls=no\n"));
        free(envelope);
        free(recipient);
    }
    free((char *)settings.ca_file);

    /* encrypt with a peer that offers no STARTTLS: nothing is sent. */
    settings = plain_settings(sink_port);
    settings.tls_level = "encrypt";
    result = attempt(&settings, "a@example.org", "t-nostarttls@example.net");
    ck_assert_int_eq(result.outcome, DLV_TEMPORARY);
    ck_assert_ptr_null(sink_message("t-nostarttls@example.net", &envelope));
}
END_TEST

START_TEST(test_auth)
{
    struct dlv_smtp_settings settings = plain_settings(sink_port);
    struct dlv_result result;

    settings.username = "reporter";
    settings.password = "secret";
    char *envelope = send_ok(&settings, "t-auth@example.net", report_message, NULL);
    ck_assert_ptr_nonnull(strstr(envelope, "\nauth=reporter\n"));
    free(envelope);
    settings.password = "wrong";
    result = attempt(&settings, "a@example.org", "t-badauth@example.net");
    ck_assert_int_eq(result.outcome, DLV_PERMANENT);
    ck_assert_int_eq(result.code, 535);
    ck_assert_str_eq(result.error, "535 5.7.8 Error: authentication failed");
}
END_TEST

/* sendmail ---------------------------------------------------------------- */

static const struct {
    const char *status;
    enum dlv_outcome outcome;
    const char *error;
} sendmail_cases[] = {
    {"0", DLV_DELIVERED, "sendmail: told to exit 0"},
    {"75", DLV_TEMPORARY, "exit status 75: sendmail: told to exit 75"},
    {"1", DLV_PERMANENT, "exit status 1: sendmail: told to exit 1"},
};

START_TEST(test_sendmail_status)
{
    struct dlv_smtp_settings settings = {.sendmail_path = path_join(tmp, "sendmail"),
                                         .timeout_seconds = 10};
    const char *sender = "$(touch${IFS}pwned);rm${IFS}-rf${IFS}/`id`|x@sender.example";
    struct dlv_result result;

    write_text("sm-status", sendmail_cases[_i].status, 0644);
    dlv_smtp_send(&settings, sender, "-reports@example.net", report_message, strlen(report_message),
                  &result);
    ck_assert_int_eq(result.outcome, sendmail_cases[_i].outcome);
    ck_assert_int_eq(result.code, 0);
    ck_assert_msg(strstr(result.error, sendmail_cases[_i].error) != NULL, "%s", result.error);

    /* Every argument arrives as one literal word, and the message with LF line ends. */
    char *argv = read_text("sm-argv"), *input = read_text("sm-stdin");
    char *want_argv = xasprintf("-i\n-f\n%s\n--\n-reports@example.net\n", sender);
    char *want_input = lf_only(report_message);
    ck_assert_ptr_nonnull(argv);
    ck_assert_str_eq(argv, want_argv);
    ck_assert_str_eq(input, want_input);
    ck_assert_int_eq(access("pwned", F_OK), -1);
    free(argv);
    free(input);
    free(want_argv);
    free(want_input);
    free((char *)settings.sendmail_path);
}
END_TEST

static const struct {
    const char *script, *error;
    enum dlv_outcome outcome;
} sendmail_failures[] = {
    /* Killed by a signal: try again later. */
    {"#!/bin/sh\ncat >/dev/null\nkill -TERM $$\n", "killed by signal 15", DLV_TEMPORARY},
    /* Hangs: killed at the timeout (1 s), with what it said. */
    {"#!/bin/sh\necho hanging >&2\nsleep 30\n", "timed out after 1 s: hanging", DLV_TEMPORARY},
    /* Exits without reading a large message: no SIGPIPE here, and its status counts. */
    {"#!/bin/sh\nexit 0\n", "", DLV_DELIVERED},
    {NULL, "cannot run", DLV_TEMPORARY},
};

START_TEST(test_sendmail_failures)
{
    struct dlv_smtp_settings settings = {.timeout_seconds = 1,
                                         .sendmail_path = "/nonexistent/sendmail"};
    struct dlv_result result;
    struct buf big = {0};

    if (sendmail_failures[_i].script != NULL) {
        write_text("sm-failing", sendmail_failures[_i].script, 0755);
        settings.sendmail_path = tmp_path("sm-failing");
    }
    for (int i = 0; i < 40000; i++)
        buf_puts(&big, "a line of a large report message, to fill the pipe\r\n");
    int64_t start = clock_ms();
    dlv_smtp_send(&settings, "a@example.org", "b@example.net", big.data, big.len, &result);
    ck_assert_int_lt(clock_ms() - start, 15000); /* the hanging one sleeps 30 s */
    ck_assert_int_eq(result.outcome, sendmail_failures[_i].outcome);
    ck_assert_msg(strstr(result.error, sendmail_failures[_i].error) != NULL, "%s", result.error);
    if (sendmail_failures[_i].script != NULL)
        free((char *)settings.sendmail_path);
    buf_free(&big);
}
END_TEST

static Suite *smtp_suite(void)
{
    Suite *s = suite_create("smtp");
    TCase *tc = tcase_create("smtp");

    tcase_add_unchecked_fixture(tc, sink_start, sink_stop);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_delivered_intact);
    tcase_add_loop_test(tc, test_reply_outcomes, 0, (int)UTIL_ARRAY_LEN(reply_cases));
    tcase_add_test(tc, test_unreachable);
    tcase_add_loop_test(tc, test_injection_refused, 0, (int)UTIL_ARRAY_LEN(injection_cases));
    tcase_add_loop_test(tc, test_bad_settings_refused, 0, (int)UTIL_ARRAY_LEN(bad_relayhosts));
    tcase_add_test(tc, test_starttls);
    tcase_add_test(tc, test_auth);
    suite_add_tcase(s, tc);

    tc = tcase_create("sendmail");
    tcase_set_timeout(tc, 90);
    tcase_add_loop_test(tc, test_sendmail_status, 0, (int)UTIL_ARRAY_LEN(sendmail_cases));
    tcase_add_loop_test(tc, test_sendmail_failures, 0, (int)UTIL_ARRAY_LEN(sendmail_failures));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (tmp_create("check_smtp") < 0)
        return EXIT_FAILURE;
    /* The recording sendmail of the sendmail cases and of test_injection_refused. */
    char *path = path_join(tmp, "sendmail"), *error = NULL;
    if (file_write_atomic(path, sendmail_sh, strlen(sendmail_sh), 0755, &error) < 0) {
        fprintf(stderr, "check_smtp: %s\n", error);
        return EXIT_FAILURE;
    }
    free(path);

    SRunner *runner = srunner_create(smtp_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    sink_stop();
    tmp_remove();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
