/*
 * bench_policy.c - the load side of bench/bench_policy.sh: N client
 * connections each ask a socketmap server for one domain over and over (as
 * Postfix's smtp processes do); prints lookups/s and the server's CPU time
 * per lookup, the scheduler's account of all its threads before and after.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "socketmap.h"
#include "util.h"

#define MAX_CONNECTIONS 256

struct client {
    const char *address;
    const char *request; /* framed */
    const char *expected;
    int64_t stop_ms;
    unsigned long lookups;
    bool failed;
    pthread_t thread;
};

/* A blocking connection, as Postfix's client has (smap_connect's is non-blocking). */
static int connect_to(const char *address)
{
    char *error;
    int fd = smap_connect(address, 10000, &error);

    if (fd < 0)
        msg_fatal("%s", error);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
        msg_fatal("fcntl %s: %s", address, strerror(errno));
    return fd;
}

/* One request, one reply; false (and a message) when the reply is not the expected one. */
static bool lookup(int fd, const char *request, const char *expected, struct smap_reader *reader)
{
    char in[4096];
    size_t len = strlen(request);

    if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t)len) {
        msg_error("send: %s", strerror(errno));
        return false;
    }
    for (;;) {
        /* Postfix's client waits in poll() with its timeout, then reads. */
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100000) != 1) {
            msg_error("no reply within 100 s");
            return false;
        }
        ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0) {
            msg_error("recv: %s", n == 0 ? "the server closed the connection" : strerror(errno));
            return false;
        }
        size_t used;
        int status = smap_reader_feed(reader, in, (size_t)n, &used);
        if (status < 0 || (status == 1 && used != (size_t)n)) {
            msg_error("bad reply from the server");
            return false;
        }
        if (status == 1)
            break;
    }
    bool same = strcmp(buf_cstr(&reader->data), expected) == 0;
    if (!same)
        msg_error("reply \"%s\", expected \"%s\"", buf_cstr(&reader->data), expected);
    smap_reader_next(reader);
    return same;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct smap_reader reader;
    int fd = connect_to(c->address);

    smap_reader_init(&reader, SMAP_MAX_REPLY);
    while (clock_ms() < c->stop_ms) {
        /* Check the clock every 64 lookups only. */
        for (int i = 0; i < 64; i++) {
            if (!lookup(fd, c->request, c->expected, &reader)) {
                c->failed = true;
                goto out;
            }
            c->lookups++;
        }
    }
out:
    smap_reader_free(&reader);
    close(fd);
    return NULL;
}

/*
 * CPU time of a process, all its threads, in nanoseconds: the scheduler's own
 * account (/proc/PID/task/TID/schedstat, first field), not the tick-sampled
 * utime + stime of /proc/PID/stat, which a server that runs for microseconds
 * between sleeps is charged for by chance.
 */
static unsigned long long cpu_ns(long pid)
{
    char path[320];
    unsigned long long total = 0;

    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        msg_fatal("%s: %s", path, strerror(errno));
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        unsigned long long ns;
        if (entry->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/task/%s/schedstat", pid, entry->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* the thread ended meanwhile */
        if (fscanf(f, "%llu", &ns) == 1)
            total += ns;
        fclose(f);
    }
    closedir(dir);
    if (total == 0)
        msg_fatal("/proc/%ld/task/*/schedstat: no CPU time found (no schedstats?)", pid);
    return total;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: bench_policy LABEL ADDRESS SERVER-PID CONNECTIONS SECONDS "
                        "DOMAIN EXPECTED-REPLY\n"
                        "  ADDRESS: a unix socket path or inet:127.0.0.1:PORT\n");
        return 2;
    }
    const char *label = argv[1];
    long pid = atol(argv[3]);
    int connections = atoi(argv[4]);
    int seconds = atoi(argv[5]);
    char *request = xasprintf("%zu:postfix %s,", strlen("postfix ") + strlen(argv[6]), argv[6]);
    struct client clients[MAX_CONNECTIONS];

    msg_setup("bench_policy", MSG_STDERR, 0);
    if (connections < 1 || connections > MAX_CONNECTIONS || seconds < 1)
        msg_fatal("1 to %d connections, at least 1 second", MAX_CONNECTIONS);
    unsigned long long cpu_before = cpu_ns(pid);
    int64_t start = clock_ms();
    for (int i = 0; i < connections; i++) {
        clients[i] = (struct client){.address = argv[2],
                                     .request = request,
                                     .expected = argv[7],
                                     .stop_ms = start + seconds * 1000LL};
        if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0)
            msg_fatal("pthread_create failed");
    }
    unsigned long long lookups = 0;
    bool failed = false;
    for (int i = 0; i < connections; i++) {
        pthread_join(clients[i].thread, NULL);
        lookups += clients[i].lookups;
        failed |= clients[i].failed;
    }
    double elapsed = (double)(clock_ms() - start) / 1000.0;
    unsigned long long cpu = cpu_ns(pid) - cpu_before;
    if (failed || lookups == 0)
        msg_fatal("%s: lookups failed", label);
    double cpu_us = (double)cpu / 1e3 / (double)lookups;
    printf("%-30s connections=%-3d lookups=%-8llu lookups/s=%-9.0f server_cpu_us/lookup=%.1f\n",
           label, connections, lookups, (double)lookups / elapsed, cpu_us);
    free(request);
    return 0;
}
