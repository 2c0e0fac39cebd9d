/*
 * smtp_fixture.c - test helper of the report mail transport suites: the
 * directory a run writes in and its files, loopback sockets on free ports,
 * and the report message the suites send.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delivery.h"
#include "util.h"
#include "smtp_fixture.h"

char *tmp;

int tmp_create(const char *program)
{
    const char *base = getenv("TMPDIR");
    char *template = xasprintf("%s/%s.XXXXXX", base && base[0] ? base : "/tmp", program);

    tmp = mkdtemp(template);
    if (tmp == NULL || chmod(tmp, 0755) < 0) { /* the Postfix delivery agent runs as nobody */
        fprintf(stderr, "%s: temporary directory: %s\n", program, strerror(errno));
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void tmp_remove(void)
{
    if (getenv("TLSRPT_KEEP_TMP") == NULL)
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmp);
}

char *tmp_path(const char *name)
{
    return path_join(tmp, name);
}

void write_text(const char *name, const char *text, mode_t mode)
{
    char *path = tmp_path(name), *error = NULL;

    ck_assert_msg(file_write_atomic(path, text, strlen(text), mode, &error) == 0, "%s", error);
    free(path);
}

char *read_text(const char *name)
{
    char *path = tmp_path(name), *error = NULL;
    struct buf b = {0};

    if (file_read_all(path, 64 << 20, &b, &error) < 0) {
        free(error);
        free(path);
        buf_free(&b);
        return NULL;
    }
    free(path);
    buf_cstr(&b);
    return buf_steal(&b);
}

char *lf_only(const char *text)
{
    struct buf b = {0};

    for (; *text; text++) {
        if (!(text[0] == '\r' && text[1] == '\n'))
            buf_putc(&b, *text);
    }
    buf_cstr(&b);
    return buf_steal(&b);
}

static char *relay(int port)
{
    static char text[64];

    snprintf(text, sizeof(text), "[127.0.0.1]:%d", port);
    return text;
}

int bound_socket(bool listening, int *port_r)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t len = sizeof(address);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    if (listening)
        ck_assert_int_eq(listen(fd, 8), 0);
    getsockname(fd, (struct sockaddr *)&address, &len);
    *port_r = ntohs(address.sin_port);
    return fd;
}

const char report_message[] =
    "From: TLS reporting <tlsrpt-noreply@sender.example>\r\n"
    "To: reports@example.net\r\n"
    "Subject: Report Domain: example.com Submitter: sender.example Report-ID: "
    "<r1@sender.example>\r\n"
    "Date: Mon, 01 Jan 2024 00:05:00 +0000\r\n"
    "Message-ID: <r1.1704067500@sender.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
    "\tboundary=\"=_b1\"\r\n"
    "TLS-Report-Domain: example.com\r\n"
    "TLS-Report-Submitter: sender.example\r\n"
    "TLS-Required: No\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "\r\n"
    "--=_b1\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "This is a TLS report.\r\n"
    ".a line that starts with a dot\r\n"
    ".\r\n"
    "..\r\n"
    "\r\n"
    "--=_b1\r\n"
    "Content-Type: application/tlsrpt+gzip\r\n"
    "Content-Disposition: attachment; filename=\"sender.example!example.com!1!2!r1.json.gz\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "H4sIAAAAAAAAA6tWSs7PS8tMVyhILCrJTM8rSixJTVGyUqrJzMtWqs0FAGNfQ2gbAAAA\r\n"
    "--=_b1--\r\n";

struct dlv_smtp_settings plain_settings(int port)
{
    return (struct dlv_smtp_settings){
        .relayhost = relay(port), .tls_level = "none", .timeout_seconds = 10};
}
