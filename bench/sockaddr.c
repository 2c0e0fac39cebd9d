/*
 * sockaddr.c - parses the benchmarks' "inet:IPV4:PORT" or unix-path
 * socket addresses (sockaddr.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "sockaddr.h"
#include "util.h"

void bench_address(const char *text, struct sockaddr_storage *address, socklen_t *len)
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
