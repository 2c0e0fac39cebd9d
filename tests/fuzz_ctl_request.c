/*
 * fuzz_ctl_request.c - libFuzzer target for the control socket's request
 * reader (ctl_read_request) on a real non-blocking socket: the input is
 * what a client sends, in the pieces the byte 0xff separates. A complete
 * request is one line without NUL or newline, of bounded length; anything
 * else closes the connection. The reply to an unknown request is one line.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 with a complete line, 0 when more is needed, -1: the server would close. */
static int read_piece(int server, int client, const uint8_t *piece, size_t len,
                      struct buf *line)
{
    if (len > 0 && write(client, piece, len) != (ssize_t)len)
        abort(); /* the pieces fit in the socket buffer */
    return ctl_read_request(server, line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds[2], status = 0;
    struct buf line;
    size_t at = 0;

    if (size > 16 * CTL_MAX_REQUEST)
        return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0)
        abort();
    buf_init(&line);
    while (status == 0 && at <= size) {
        const uint8_t *end = memchr(data + at, 0xff, size - at);
        size_t len = end ? (size_t)(end - (data + at)) : size - at;
        status = read_piece(fds[0], fds[1], data + at, len, &line);
        at += len + 1;
    }
    if (status == 0) { /* the client hangs up */
        close(fds[1]);
        fds[1] = -1;
        status = ctl_read_request(fds[0], &line);
        if (status != -1)
            abort();
    }
    if (status == 1) {
        struct ctl_reply reply;
        const char *text;
        size_t len;

        if (line.len > CTL_MAX_REQUEST || strlen(line.data) != line.len ||
            strchr(line.data, '\n') != NULL)
            abort();
        ctl_reply_init(&reply);
        ctl_reply_fail(&reply, "unknown request \"%.64s\"", line.data);
        text = ctl_reply_text(&reply, &len);
        if (len == 0 || text[len - 1] != '\n' || memchr(text, '\n', len) != text + len - 1)
            abort();
        ctl_reply_free(&reply);
    }
    buf_free(&line);
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return 0;
}
