/*
 * smtp_fixture.h - test helper of the report mail transport suites: the
 * directory a run writes in and its files, loopback sockets on free ports,
 * and the report message the suites send.
 */
#ifndef TLSRPT_TESTS_SMTP_FIXTURE_H
#define TLSRPT_TESTS_SMTP_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

#include "delivery.h"

extern char *tmp; /* everything the suite writes lives here */

/* Makes tmp, $TMPDIR/<program>.XXXXXX, mode 0755; -1, said on stderr, when it cannot. */
int tmp_create(const char *program);
/* Removes tmp and all in it, unless TLSRPT_KEEP_TMP is set. */
void tmp_remove(void);

char *tmp_path(const char *name);
void write_text(const char *name, const char *text, mode_t mode);
/* The file's contents, or NULL when it does not exist. */
char *read_text(const char *name);
/* The text with each CRLF made LF. */
char *lf_only(const char *text);

/* A TCP socket on 127.0.0.1 bound to a free port; listening if asked. */
int bound_socket(bool listening, int *port_r);

/* A TLS report as a whole MIME message, with lines that start with a dot. */
extern const char report_message[];

/* Plain SMTP (no TLS) to [127.0.0.1]:port, 10 seconds at most. */
struct dlv_smtp_settings plain_settings(int port);

#endif
