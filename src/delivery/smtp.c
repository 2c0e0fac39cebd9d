/*
 * smtp.c - hands one report message to the mail system: SMTP to the
 * relayhost through libcurl (STARTTLS as configured, AUTH when a username
 * is set), or the local sendmail command run without a shell.
 */
#include "config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "core.h"
#include "delivery.h"

extern char **environ;

#define SMTP_DEFAULT_RELAYHOST "[127.0.0.1]:25"
#define SMTP_DEFAULT_TIMEOUT 60
#define SMTP_MAX_ADDRESS 254
#define SENDMAIL_MAX_OUTPUT 1024 /* of its stderr/stdout kept for the error text */

static void UTIL_PRINTF(4, 5)
    result_set(struct dlv_result *result, enum dlv_outcome outcome, int code, const char *fmt, ...)
{
    va_list ap;

    result->outcome = outcome;
    result->code = code;
    va_start(ap, fmt);
    vsnprintf(result->error, sizeof(result->error), fmt, ap);
    va_end(ap);
}

/* Appends peer-supplied text for a log line: controls become '?', spaces collapse. */
static void append_clean(struct buf *out, const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
            if (out->len > 0 && out->data[out->len - 1] != ' ')
                buf_putc(out, ' ');
        } else {
            buf_putc(out, c < 0x20 || c == 0x7f ? '?' : c);
        }
    }
    while (out->len > 0 && out->data[out->len - 1] == ' ')
        out->data[--out->len] = '\0';
}

/*
 * An envelope address goes on an SMTP command line or into argv: nothing
 * that could end the command, open a second one or confuse the path syntax.
 */
static const char *envelope_problem(const char *address, bool empty_ok)
{
    size_t len = strlen(address);
    const char *at = strrchr(address, '@');

    if (len == 0)
        return empty_ok ? NULL : "is empty";
    if (len > SMTP_MAX_ADDRESS)
        return "is too long";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)address[i];

        if (c == '\r' || c == '\n')
            return "contains a line break";
        if (c < 0x20 || c == 0x7f)
            return "contains a control character";
        if (c >= 0x80)
            return "is not ASCII (SMTPUTF8 is not supported)";
    }
    /* A space or "<" is harmless inside a quoted local part ("a b"@x), nowhere else. */
    if (tr_mailbox_ok(address))
        return NULL;
    if (strchr(address, ' '))
        return "contains a space";
    if (strpbrk(address, "<>"))
        return "contains '<' or '>'";
    if (at == NULL || at == address || at[1] == '\0')
        return "is not of the form local@domain";
    return NULL;
}

/* "[host]:port", "host:port", "[v6]:port", with or without the port, into an smtp:// URL. */
static char *relayhost_url(const char *relayhost, const char *helo, const char **error_r)
{
    struct endpoint endpoint;

    if (relayhost == NULL || relayhost[0] == '\0')
        relayhost = SMTP_DEFAULT_RELAYHOST;
    if (endpoint_parse(relayhost, 25, false, &endpoint, error_r) < 0)
        return NULL;
    return xasprintf(endpoint.ipv6 ? "smtp://[%s]:%d/%s" : "smtp://%s:%d/%s", endpoint.host,
                     endpoint.port, helo);
}

/* The EHLO name: this host's name when it looks like one, else "localhost". */
static void helo_name(char *name, size_t size)
{
    if (gethostname(name, size) != 0 || name[0] == '\0' || strnlen(name, size) == size)
        goto fallback;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            goto fallback;
    }
    return;
fallback:
    snprintf(name, size, "localhost");
}

/* SMTP through libcurl ---------------------------------------------------- */

struct upload {
    const char *data;
    size_t len, pos;
};

static size_t upload_read(char *dest, size_t size, size_t nitems, void *context)
{
    struct upload *up = context;
    size_t n = up->len - up->pos, room = size * nitems;

    if (n > room)
        n = room;
    memcpy(dest, up->data + up->pos, n);
    up->pos += n;
    return n;
}

/*
 * The server's replies as they arrive (curl hands them to the debug
 * function line by line): the last complete reply before QUIT is what the
 * result reports, with its code and text.
 */
struct replies {
    struct buf partial; /* an incomplete line */
    struct buf pending; /* the text of a multi-line reply so far */
    struct buf last;    /* the last complete reply, "550 5.1.1 text" */
    int last_code;
    bool quitting;
};

static void replies_line(struct replies *r, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
        line[2] < '0' || line[2] > '9')
        return;
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->pending.len == 0)
        buf_printf(&r->pending, "%d", code);
    if (len > 4) {
        buf_putc(&r->pending, ' ');
        append_clean(&r->pending, line + 4, len - 4);
    }
    if (len > 3 && line[3] == '-')
        return; /* more lines follow */
    buf_reset(&r->last);
    buf_append(&r->last, r->pending.data, r->pending.len);
    buf_reset(&r->pending);
    r->last_code = code;
}

static int replies_debug(CURL *curl, curl_infotype type, char *data, size_t size, void *context)
{
    struct replies *r = context;

    (void)curl;
    if (type == CURLINFO_HEADER_OUT && size >= 4 && strncmp(data, "QUIT", 4) == 0)
        r->quitting = true;
    if (type != CURLINFO_HEADER_IN || r->quitting)
        return 0;
    for (size_t i = 0; i < size; i++) {
        buf_putc(&r->partial, data[i]);
        if (data[i] == '\n' || r->partial.len > 4096) {
            replies_line(r, r->partial.data, r->partial.len);
            buf_reset(&r->partial);
        }
    }
    return 0;
}

/* Trust added to the system store for STARTTLS (tests, private CAs). */
struct trust {
    const char *ca_file;
    bool failed;
};

static CURLcode add_trust(CURL *curl, void *ssl_ctx, void *context)
{
    struct trust *trust = context;

    (void)curl;
    if (SSL_CTX_load_verify_locations(ssl_ctx, trust->ca_file, NULL) != 1) {
        trust->failed = true;
        return CURLE_SSL_CACERT_BADFILE;
    }
    return CURLE_OK;
}

/* The message with every line ending in CRLF, as SMTP wants it. */
static void to_crlf(const char *message, size_t len, struct buf *out)
{
    buf_reserve(out, len + len / 32 + 2);
    for (size_t i = 0; i < len; i++) {
        if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r'))
            buf_putc(out, '\r');
        buf_putc(out, message[i]);
    }
}

static void smtp_send(const struct dlv_smtp_settings *settings, const char *sender,
                      const char *recipient, const char *message, size_t len,
                      struct dlv_result *result)
{
    const char *tls = settings->tls_level ? settings->tls_level : "may", *problem = NULL;
    long use_ssl;
    char helo[256], curl_error[CURL_ERROR_SIZE] = "";

    if (strcmp(tls, "none") == 0)
        use_ssl = CURLUSESSL_NONE;
    else if (strcmp(tls, "may") == 0 || tls[0] == '\0')
        use_ssl = CURLUSESSL_TRY;
    else if (strcmp(tls, "encrypt") == 0)
        use_ssl = CURLUSESSL_ALL;
    else {
        result_set(result, DLV_REFUSED, 0, "unknown TLS level \"%.40s\"", tls);
        return;
    }
    helo_name(helo, sizeof(helo));
    char *url = relayhost_url(settings->relayhost, helo, &problem);
    if (url == NULL) {
        result_set(result, DLV_REFUSED, 0, "bad relayhost \"%.200s\": %s",
                   settings->relayhost ? settings->relayhost : "", problem);
        return;
    }
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        result_set(result, DLV_TEMPORARY, 0, "cannot initialize libcurl");
        free(url);
        return;
    }

    struct buf body = {0};
    to_crlf(message, len, &body);
    struct upload up = {.data = body.data, .len = body.len};
    struct replies replies = {0};
    struct trust trust = {.ca_file = settings->ca_file};
    struct curl_slist *rcpt = curl_slist_append(NULL, recipient);
    int timeout = settings->timeout_seconds > 0 ? settings->timeout_seconds : SMTP_DEFAULT_TIMEOUT;

    curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)CURLPROTO_SMTP);
#endif
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* the relayhost and nothing else */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)timeout);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)timeout);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, sender);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body.len);
    curl_easy_setopt(curl, CURLOPT_USE_SSL, use_ssl);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (settings->ca_file != NULL && settings->ca_file[0] != '\0' &&
        (curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, add_trust) != CURLE_OK ||
         curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &trust) != CURLE_OK)) {
        /* A TLS library without the callback: the file replaces the system store. */
        curl_easy_setopt(curl, CURLOPT_CAINFO, settings->ca_file);
    }
    if (settings->username != NULL && settings->username[0] != '\0') {
        curl_easy_setopt(curl, CURLOPT_USERNAME, settings->username);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, settings->password ? settings->password : "");
    }
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, replies_debug);
    curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &replies);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);

    CURLcode status = curl_easy_perform(curl);
    replies.quitting = true; /* the reply to QUIT in cleanup says nothing about the message */

    if (status == CURLE_OK) {
        result_set(result, DLV_DELIVERED, replies.last_code, "%s", buf_cstr(&replies.last));
    } else if (trust.failed) {
        result_set(result, DLV_TEMPORARY, 0, "cannot load the certificates in %s", trust.ca_file);
    } else if (replies.last_code >= 400) {
        result_set(result, replies.last_code < 500 ? DLV_TEMPORARY : DLV_PERMANENT,
                   replies.last_code, "%s", buf_cstr(&replies.last));
    } else {
        struct buf text = {0};

        append_clean(&text, curl_error, strlen(curl_error));
        bool configured = settings->relayhost != NULL && settings->relayhost[0] != '\0';
        result_set(result, DLV_TEMPORARY, 0, "%s: %s",
                   configured ? settings->relayhost : SMTP_DEFAULT_RELAYHOST,
                   text.len ? text.data : curl_easy_strerror(status));
        buf_free(&text);
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(rcpt);
    buf_free(&replies.partial);
    buf_free(&replies.pending);
    buf_free(&replies.last);
    buf_free(&body);
    free(url);
}

/* The sendmail command ---------------------------------------------------- */

/* The message with LF line ends, as the local sendmail interface wants it. */
static void to_lf(const char *message, size_t len, struct buf *out)
{
    buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        if (!(message[i] == '\r' && i + 1 < len && message[i + 1] == '\n'))
            buf_putc(out, message[i]);
    }
}

/* A pipe whose ends are close-on-exec and not among 0, 1 and 2. */
static int safe_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (fds[i] <= 2) {
            int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

            if (moved < 0) {
                close(fds[0]);
                close(fds[1]);
                return -1;
            }
            close(fds[i]);
            fds[i] = moved;
        }
    }
    return 0;
}

static pid_t sendmail_spawn(const char *path, char *const argv[], int stdin_fd, int output_fd,
                            int *error_r)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid = -1;

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, output_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, output_fd, 2);
    posix_spawnattr_init(&attr);
    /* A clean start whatever this process ignores or blocks; its own group for the timeout. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    *error_r = posix_spawn(&pid, path, &actions, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return *error_r == 0 ? pid : -1;
}

static void sendmail_send(const struct dlv_smtp_settings *settings, const char *sender,
                          const char *recipient, const char *message, size_t len,
                          struct dlv_result *result)
{
    const char *path = settings->sendmail_path;
    char *argv[] = {(char *)path, "-i", "-f", (char *)sender, "--", (char *)recipient, NULL};
    int in[2], out[2], err = 0, status = 0;
    int timeout = settings->timeout_seconds > 0 ? settings->timeout_seconds : SMTP_DEFAULT_TIMEOUT;

    /* Said here rather than by the spawn: some systems only report it as exit status 127. */
    if (access(path, X_OK) < 0) {
        result_set(result, DLV_TEMPORARY, 0, "cannot run %s: %s", path, strerror(errno));
        return;
    }
    if (safe_pipe(in) < 0) {
        result_set(result, DLV_TEMPORARY, 0, "pipe: %s", strerror(errno));
        return;
    }
    if (safe_pipe(out) < 0) {
        result_set(result, DLV_TEMPORARY, 0, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return;
    }
    pid_t pid = sendmail_spawn(path, argv, in[0], out[1], &err);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        result_set(result, DLV_TEMPORARY, 0, "cannot run %s: %s", path, strerror(err));
        close(in[1]);
        close(out[0]);
        return;
    }

    /* A sendmail that stops reading must not kill this process with SIGPIPE. */
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool pipe_was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

    struct buf input = {0}, output = {0};
    size_t written = 0;
    int64_t deadline = clock_ms() + (int64_t)timeout * 1000;
    bool exited = false, timed_out = false;
    int in_fd = in[1], out_fd = out[0];

    to_lf(message, len, &input);
    fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
    fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
    while (!exited) {
        struct pollfd fds[2];
        nfds_t n = 0;
        int64_t left = deadline - clock_ms();

        if (left <= 0) {
            timed_out = true;
            if (kill(-pid, SIGKILL) < 0)
                kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        if (in_fd >= 0)
            fds[n++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
        if (out_fd >= 0)
            fds[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
        poll(fds, n, left < 100 ? (int)left : 100);
        if (in_fd >= 0) {
            ssize_t w = write(in_fd, input.data + written, input.len - written);

            if (w > 0)
                written += (size_t)w;
            if (written == input.len || (w < 0 && errno != EAGAIN && errno != EINTR)) {
                close(in_fd); /* all of it, or sendmail stopped reading */
                in_fd = -1;
            }
        }
        pid_t done = waitpid(pid, &status, WNOHANG);
        exited = done == pid;
        while (out_fd >= 0) {
            char chunk[512];
            ssize_t r = read(out_fd, chunk, sizeof(chunk));

            if (r > 0) {
                if (output.len < SENDMAIL_MAX_OUTPUT)
                    buf_append(&output, chunk, (size_t)r);
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(out_fd);
                out_fd = -1;
            }
            break;
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    sigpending(&pending);
    if (!pipe_was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

    struct buf said = {0};
    append_clean(&said, output.data ? output.data : "",
                 output.len < SENDMAIL_MAX_OUTPUT ? output.len : SENDMAIL_MAX_OUTPUT);
    const char *sep = said.len ? ": " : "", *text = said.len ? said.data : "";
    if (timed_out)
        result_set(result, DLV_TEMPORARY, 0, "%s timed out after %d s%s%s", path, timeout, sep,
                   text);
    else if (WIFSIGNALED(status))
        result_set(result, DLV_TEMPORARY, 0, "%s killed by signal %d%s%s", path, WTERMSIG(status),
                   sep, text);
    else if (WEXITSTATUS(status) == 0)
        result_set(result, DLV_DELIVERED, 0, "%s", text);
    else
        result_set(result, WEXITSTATUS(status) == EX_TEMPFAIL ? DLV_TEMPORARY : DLV_PERMANENT, 0,
                   "%s exit status %d%s%s", path, WEXITSTATUS(status), sep, text);
    buf_free(&said);
    buf_free(&output);
    buf_free(&input);
}

void dlv_smtp_send(const struct dlv_smtp_settings *settings, const char *envelope_sender,
                   const char *recipient, const char *message, size_t len,
                   struct dlv_result *result)
{
    const char *problem;

    if (envelope_sender == NULL)
        envelope_sender = "";
    if ((problem = envelope_problem(envelope_sender, true)) != NULL) {
        result_set(result, DLV_REFUSED, 0, "envelope sender %s", problem);
        return;
    }
    if (recipient == NULL || (problem = envelope_problem(recipient, false)) != NULL) {
        result_set(result, DLV_REFUSED, 0, "recipient %s", recipient ? problem : "is missing");
        return;
    }
    if (settings->sendmail_path != NULL && settings->sendmail_path[0] != '\0')
        sendmail_send(settings, envelope_sender, recipient, message, len, result);
    else
        smtp_send(settings, envelope_sender, recipient, message, len, result);
}
