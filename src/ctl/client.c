/*
 * client.c - the tlsrpt side of the control socket: connect, send one
 * request line, read the bounded reply and split it into attributes.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int64_t left = deadline - clock_ms();

    if (left <= 0)
        return -1;
    int n = poll(&pfd, 1, (int)left);
    return n > 0 ? 0 : -1;
}

static int parse_reply(char *text, struct ctl_response *response, char **error_r)
{
    char *line = text, *next;

    next = strchr(line, '\n');
    if (next == NULL) {
        *error_r = xstrdup("malformed reply from the daemon (no status line)");
        return -1;
    }
    *next++ = '\0';
    if (strcmp(line, "ok") == 0) {
        response->ok = true;
    } else if (strncmp(line, "error: ", 7) == 0) {
        response->ok = false;
        response->error = xstrdup(line + 7);
    } else {
        *error_r = xasprintf("malformed reply from the daemon: \"%.80s\"", line);
        return -1;
    }
    size_t cap = 0;
    for (line = next; *line; line = next) {
        next = strchr(line, '\n');
        if (next == NULL) {
            *error_r = xstrdup("malformed reply from the daemon (truncated)");
            return -1;
        }
        *next++ = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            *error_r = xasprintf("malformed reply line from the daemon: \"%.80s\"", line);
            return -1;
        }
        *eq = '\0';
        if (response->n_attrs == cap) {
            cap = cap ? cap * 2 : 32;
            response->attrs = xreallocarray(response->attrs, cap, sizeof(struct ctl_attr));
        }
        response->attrs[response->n_attrs].name = xstrdup(line);
        response->attrs[response->n_attrs].value = xstrdup(eq + 1);
        response->n_attrs++;
    }
    return 0;
}

int ctl_call(const char *socket_path, const char *request, int timeout_ms,
             struct ctl_response *response, char **error_r)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int64_t deadline = clock_ms() + timeout_ms;
    struct buf out, in;
    int fd, result = -1;

    memset(response, 0, sizeof(*response));
    if (strlen(socket_path) >= sizeof(sun.sun_path)) {
        *error_r = xasprintf("%s: socket path too long", socket_path);
        return -1;
    }
    memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error_r = xasprintf("socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        *error_r = xasprintf("connect to %s: %s (is tlsrptd running?)", socket_path,
                             strerror(errno));
        close(fd);
        return -1;
    }
    buf_init(&out);
    buf_init(&in);
    buf_printf(&out, "%s\n", request);
    if (wait_fd(fd, POLLOUT, deadline) < 0 ||
        send(fd, out.data, out.len, MSG_NOSIGNAL) != (ssize_t)out.len) {
        *error_r = xasprintf("send request to %s: %s", socket_path,
                             errno ? strerror(errno) : "timed out");
        goto done;
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        char chunk[4096];
        if (wait_fd(fd, POLLIN, deadline) < 0) {
            *error_r = xasprintf("no reply from %s within %d ms", socket_path, timeout_ms);
            goto done;
        }
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error_r = xasprintf("read reply from %s: %s", socket_path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        if (in.len + (size_t)n > CTL_MAX_REPLY) {
            *error_r = xasprintf("reply from %s too large", socket_path);
            goto done;
        }
        buf_append(&in, chunk, (size_t)n);
    }
    if (in.len == 0) {
        *error_r = xasprintf("%s closed the connection without a reply (permission denied?)",
                             socket_path);
        goto done;
    }
    result = parse_reply((char *)buf_cstr(&in), response, error_r);
    if (result < 0)
        ctl_response_free(response);
done:
    close(fd);
    buf_free(&out);
    buf_free(&in);
    return result;
}

const char *ctl_response_get(const struct ctl_response *response, const char *name)
{
    for (size_t i = 0; i < response->n_attrs; i++)
        if (strcmp(response->attrs[i].name, name) == 0)
            return response->attrs[i].value;
    return NULL;
}

void ctl_response_free(struct ctl_response *response)
{
    for (size_t i = 0; i < response->n_attrs; i++) {
        free(response->attrs[i].name);
        free(response->attrs[i].value);
    }
    free(response->attrs);
    free(response->error);
    memset(response, 0, sizeof(*response));
}
