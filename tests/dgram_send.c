/*
 * dgram_send.c - plays Postfix's libtlsrpt for tests and the demo: sends
 * each line of a file as one datagram to a unix datagram socket, blocking
 * (a busy Postfix) or with MSG_DONTWAIT like libtlsrpt, and says how many
 * the kernel refused.
 * Usage: dgram_send [-n] [-r REPEAT] SOCKET FILE|-
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

int main(int argc, char **argv)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int flags = 0, ch;
    long repeat = 1;
    struct buf all;
    char *error;

    msg_setup("dgram_send", MSG_STDERR, 0);
    while ((ch = getopt(argc, argv, "nr:")) != -1) {
        if (ch == 'n')
            flags = MSG_DONTWAIT;
        else if (ch == 'r')
            repeat = atol(optarg);
        else
            msg_fatal("usage: dgram_send [-n] [-r REPEAT] SOCKET FILE|-");
    }
    if (argc - optind != 2 || strlen(argv[optind]) >= sizeof(sun.sun_path))
        msg_fatal("usage: dgram_send [-n] [-r REPEAT] SOCKET FILE|-");
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
            if (len > 0) {
                if (sendto(fd, p, len, flags, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK)
                        msg_fatal("sendto %s: %s", sun.sun_path, strerror(errno));
                    lost++;
                } else {
                    sent++;
                }
            }
            p += len + 1;
        }
    }
    printf("sent %lu, lost %lu\n", sent, lost);
    buf_free(&all);
    close(fd);
    return 0;
}
