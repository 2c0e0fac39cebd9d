/*
 * listen.c - the socketmap server's listening socket: an absolute path (a
 * unix stream socket, bound with owner and mode) or inet:HOST:PORT with a
 * numeric address (never a name lookup), IPv6 as inet:[ADDR]:PORT.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "smap_impl.h"

static int port_parse(const char *text, char **error_r, const char *listen)
{
    long port = 0;

    if (text[0] == '\0')
        goto bad;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        port = port * 10 + (*p - '0');
        if (port > 65535)
            goto bad;
    }
    return (int)port;
bad:
    *error_r = xasprintf("%s: the port must be a number from 0 to 65535", listen);
    return -1;
}

/* inet:HOST:PORT or inet:[V6]:PORT, numeric only: for bind (passive) and connect. */
static int inet_address(const char *listen, bool passive, struct addrinfo **ai_r, char **error_r)
{
    const char *rest = listen + strlen("inet:");
    char *host;
    const char *port_text;

    if (rest[0] == '[') {
        const char *close_bracket = strchr(rest, ']');
        if (close_bracket == NULL || close_bracket[1] != ':') {
            *error_r = xasprintf("%s: expected inet:[IPV6-ADDRESS]:PORT", listen);
            return -1;
        }
        host = xstrndup(rest + 1, (size_t)(close_bracket - rest - 1));
        port_text = close_bracket + 2;
    } else {
        const char *colon = strchr(rest, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL) {
            *error_r = xasprintf("%s: expected inet:HOST:PORT (IPv6: inet:[ADDRESS]:PORT)", listen);
            return -1;
        }
        host = xstrndup(rest, (size_t)(colon - rest));
        port_text = colon + 1;
    }
    int port = port_parse(port_text, error_r, listen);
    if (port < 0) {
        free(host);
        return -1;
    }
    /* Numeric only: the socket is bound before any resolver is set up. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags =
                                 AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    int gai = getaddrinfo(host, port_text, &hints, ai_r);
    free(host);
    if (gai != 0) {
        *error_r = xasprintf("%s: the host must be a numeric IPv4 or IPv6 address: %s", listen,
                             gai_strerror(gai));
        return -1;
    }
    return 0;
}

static int inet_bind(const char *listen, int *port_r, char **error_r)
{
    struct addrinfo *ai;

    if (inet_address(listen, true, &ai, error_r) < 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        *error_r = xasprintf("bind %s: %s", listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0)
        *port_r = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

int smap_listen(struct smap_server *server, const struct smap_settings *settings, char **error_r)
{
    const char *listen_at = settings->listen;
    int fd;

    if (strncmp(listen_at, "unix:", 5) == 0)
        listen_at += 5;
    if (listen_at[0] == '/') {
        fd = unix_socket_bind(listen_at, SOCK_STREAM, settings->owner, settings->group,
                              settings->mode, error_r);
        if (fd >= 0)
            server->unix_path = xstrdup(listen_at);
    } else if (strncmp(listen_at, "inet:", 5) == 0) {
        fd = inet_bind(listen_at, &server->port, error_r);
    } else {
        *error_r =
            xasprintf("%s: expected an absolute path, unix:PATH or inet:HOST:PORT", listen_at);
        return -1;
    }
    if (fd < 0)
        return -1;
    if (listen(fd, SOMAXCONN) < 0) {
        *error_r = xasprintf("listen %s: %s", listen_at, strerror(errno));
        close(fd);
        if (server->unix_path)
            unlink(server->unix_path);
        return -1;
    }
    return fd;
}

int smap_connect(const char *address, int timeout_ms, char **error_r)
{
    struct sockaddr_storage storage;
    struct sockaddr *sa = (struct sockaddr *)&storage;
    struct addrinfo *ai = NULL;
    socklen_t sa_len;
    int fd;

    if (strncmp(address, "unix:", 5) == 0)
        address += 5;
    if (address[0] == '/') {
        struct sockaddr_un *sun = (struct sockaddr_un *)&storage;
        if (strlen(address) >= sizeof(sun->sun_path)) {
            *error_r = xasprintf("%s: path too long for a unix socket", address);
            return -1;
        }
        memset(sun, 0, sizeof(*sun));
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, address, strlen(address));
        sa_len = sizeof(*sun);
    } else if (strncmp(address, "inet:", 5) == 0) {
        if (inet_address(address, false, &ai, error_r) < 0)
            return -1;
        memcpy(&storage, ai->ai_addr, ai->ai_addrlen);
        sa_len = ai->ai_addrlen;
        freeaddrinfo(ai);
    } else {
        *error_r = xasprintf("%s: expected an absolute path, unix:PATH or inet:HOST:PORT", address);
        return -1;
    }
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error_r = xasprintf("socket: %s", strerror(errno));
        return -1;
    }
    int err = connect(fd, sa, sa_len) == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        socklen_t err_len = sizeof(err);
        if (poll(&pfd, 1, timeout_ms) != 1)
            err = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0)
            err = errno;
    }
    if (err != 0) {
        *error_r = xasprintf("connect %s: %s", address, strerror(err));
        close(fd);
        return -1;
    }
    return fd;
}
