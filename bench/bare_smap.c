/*
 * bare_smap.c - the physical limit for bench/policy.sh: a socketmap server
 * that does nothing but frame one fixed reply for every request, with the
 * same shape as tlsrptd's (an accept thread, one epoll loop per CPU, read,
 * write). What it costs per lookup is what the kernel costs; no server can
 * answer cheaper on this machine, so it bounds the ratio any server can reach.
 *
 * usage: bare_smap ADDRESS REPLY   (ADDRESS: a unix socket path or inet:127.0.0.1:PORT)
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

#define MAX_LOOPS 64
#define IN_SIZE 4096

struct conn {
    int fd;
    size_t have;
    char in[IN_SIZE];
};

static char reply[1024];
static size_t reply_len;

/* "inet:IPV4:PORT" or a unix socket path; exits with a message when it is neither. */
static void bench_address(const char *text, struct sockaddr_storage *address, socklen_t *len)
{
    memset(address, 0, sizeof(*address));
    if (strncmp(text, "inet:", 5) == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)address;
        const char *colon = strrchr(text + 5, ':');
        char host[64];
        if (colon == NULL || (size_t)(colon - text - 5) >= sizeof(host))
            msg_fatal("%s: expected inet:HOST:PORT", text);
        memcpy(host, text + 5, (size_t)(colon - text - 5));
        host[colon - text - 5] = '\0';
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            msg_fatal("%s: not an IPv4 address", text);
        *len = sizeof(*sin);
    } else {
        struct sockaddr_un *sun = (struct sockaddr_un *)address;
        sun->sun_family = AF_UNIX;
        if (strlen(text) >= sizeof(sun->sun_path))
            msg_fatal("%s: socket path too long", text);
        snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", text);
        *len = sizeof(*sun);
    }
}

static int listen_on(const char *address)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;

    bench_address(address, &ss, &len);
    if (ss.ss_family == AF_UNIX)
        unlink(address);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ss.ss_family == AF_INET)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0)
        msg_fatal("listen on %s: %s", address, strerror(errno));
    return fd;
}

/* Answers every complete "LEN:DATA," in the buffer; false: close the connection. */
static bool serve(struct conn *c)
{
    ssize_t n = read(c->fd, c->in + c->have, sizeof(c->in) - c->have);
    if (n <= 0)
        return false;
    c->have += (size_t)n;
    size_t at = 0;
    for (;;) {
        size_t len = 0, i = at;
        while (i < c->have && c->in[i] >= '0' && c->in[i] <= '9' && len < IN_SIZE)
            len = len * 10 + (size_t)(c->in[i++] - '0');
        if (i >= c->have || c->in[i] != ':' || i + 1 + len >= c->have)
            break; /* incomplete */
        if (c->in[i + 1 + len] != ',')
            return false;
        at = i + 2 + len;
        if (write(c->fd, reply, reply_len) != (ssize_t)reply_len)
            return false;
    }
    memmove(c->in, c->in + at, c->have - at);
    c->have -= at;
    return c->have < sizeof(c->in);
}

static void *loop_main(void *arg)
{
    int ep = (int)(intptr_t)arg;
    struct epoll_event events[64];

    for (;;) {
        int n = epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!serve(c)) {
                close(c->fd);
                free(c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    msg_setup("bare_smap", MSG_STDERR, 0);
    if (argc != 3) {
        fprintf(stderr, "usage: bare_smap ADDRESS REPLY\n");
        return 2;
    }
    int len = snprintf(reply, sizeof(reply), "%zu:%s,", strlen(argv[2]), argv[2]);
    if (len < 0 || (size_t)len >= sizeof(reply))
        msg_fatal("reply too long");
    reply_len = (size_t)len;

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int loops = cpus < 1 ? 1 : cpus > MAX_LOOPS ? MAX_LOOPS : (int)cpus;
    int eps[MAX_LOOPS];
    for (int i = 0; i < loops; i++) {
        pthread_t thread;
        if ((eps[i] = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
            pthread_create(&thread, NULL, loop_main, (void *)(intptr_t)eps[i]) != 0)
            msg_fatal("cannot start loop %d", i);
    }
    int listener = listen_on(argv[1]);
    for (unsigned next = 0;; next++) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct conn *c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(eps[next % (unsigned)loops], EPOLL_CTL_ADD, fd, &ev) < 0)
            msg_fatal("epoll_ctl: %s", strerror(errno));
    }
}
