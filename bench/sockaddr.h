/*
 * sockaddr.h - the socket addresses the policy benchmarks take on their
 * command lines: "inet:IPV4:PORT" or a unix socket path.
 */
#ifndef BENCH_SOCKADDR_H
#define BENCH_SOCKADDR_H

#include <sys/socket.h>

/* Fills *address and *len for text; exits with a message when text is not one. */
void bench_address(const char *text, struct sockaddr_storage *address, socklen_t *len);

#endif
