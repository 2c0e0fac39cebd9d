/*
 * peer_process.h - test helper of the suites that start real peers (DNS,
 * HTTPS servers, openssl): a program run in a directory with its output in a
 * log file there, which dies with the test, and its stop.
 */
#ifndef TLSRPT_TESTS_PEER_PROCESS_H
#define TLSRPT_TESTS_PEER_PROCESS_H

#include <sys/types.h>

/* Runs argv in dir, stdout and stderr to dir/log_name; the pid (msg_fatal on fork failure). */
pid_t peer_spawn(const char *dir, const char *log_name, char *const argv[]);
/* SIGTERM, then waits for it. */
void peer_stop(pid_t pid);

#endif
