/*
 * dgram_send.c - plays Postfix's libtlsrpt for tests and the demo: sends
 * each line of a file as one datagram to a unix datagram socket, blocking
 * (a busy Postfix) or with MSG_DONTWAIT like libtlsrpt, and says how many
 * the kernel refused.
 * Usage: dgram_send [-n] [-r REPEAT] [-i USEC] [-k COUNTFILE] SOCKET FILE|-
 * -i: pause between datagrams. -k (for crash tests): while the socket has
 * no reader (the daemon restarts) keep trying the same datagram; on SIGUSR1
 * write the number sent so far to COUNTFILE and stop (SIGSTOP) until SIGCONT.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define USAGE "usage: dgram_send [-n] [-r REPEAT] [-i USEC] [-k COUNTFILE] SOCKET FILE|-"

static volatile sig_atomic_t pause_asked;

static void on_usr1(int sig)
{
    (void)sig;
    pause_asked = 1;
}

/* -k: the count is written before the stop, so the test reads it while we are stopped. */
static void pause_if_asked(const char *count_file, unsigned long sent)
{
    char text[32], *error;

    if (!pause_asked)
        return;
    pause_asked = 0;
    int len = snprintf(text, sizeof(text), "%lu\n", sent);
    if (file_write_atomic(count_file, text, (size_t)len, 0644, &error) < 0)
        msg_fatal("%s", error);
    raise(SIGSTOP);
}

static void pause_us(long usec)
{
    struct timespec ts = {usec / 1000000, (usec % 1000000) * 1000};

    if (usec > 0)
        nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int flags = 0, ch;
    long repeat = 1, interval = 0;
    const char *count_file = NULL;
    struct buf all;
    char *error;

    msg_setup("dgram_send", MSG_STDERR, 0);
    while ((ch = getopt(argc, argv, "nr:i:k:")) != -1) {
        if (ch == 'n')
            flags = MSG_DONTWAIT;
        else if (ch == 'r')
            repeat = atol(optarg);
        else if (ch == 'i')
            interval = atol(optarg);
        else if (ch == 'k')
            count_file = optarg;
        else
            msg_fatal(USAGE);
    }
    if (argc - optind != 2 || strlen(argv[optind]) >= sizeof(sun.sun_path))
        msg_fatal(USAGE);
    if (count_file != NULL)
        signal(SIGUSR1, on_usr1);
    memcpy(sun.sun_path, argv[optind], strlen(argv[optind]) + 1);
    buf_init(&all);
    if (strcmp(argv[optind + 1], "-") == 0) {
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
            buf_append(&all, chunk, n);
    } else if (file_read_all(argv[optind + 1], 1 << 30, &all, &error) < 0) {
        msg_fatal("%s", error);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0)
        msg_fatal("socket: %s", strerror(errno));
    unsigned long sent = 0, lost = 0;
    for (long r = 0; r < repeat; r++) {
        const char *p = buf_cstr(&all), *end = p + all.len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            while (len > 0) {
                if (count_file != NULL)
                    pause_if_asked(count_file, sent);
                ssize_t done = sendto(fd, p, len, flags, (struct sockaddr *)&sun, sizeof(sun));
                if (done == (ssize_t)len) {
                    sent++;
                    break;
                }
                if (count_file != NULL &&
                    (errno == ECONNREFUSED || errno == ENOENT || errno == EINTR)) {
                    pause_us(10000); /* no reader now: the daemon is restarting */
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    msg_fatal("sendto %s: %s", sun.sun_path, strerror(errno));
                lost++;
                break;
            }
            pause_us(interval);
            p += len + 1;
        }
    }
    printf("sent %lu, lost %lu\n", sent, lost);
    buf_free(&all);
    close(fd);
    return 0;
}
