/*
 * policy_fixture.h - test helper for check_policy_live: real DNS and HTTPS
 * peers on 127.0.0.1 for the MTA-STS policy service, and checks of what it
 * answered, fetched and counted.
 */
#ifndef TLSRPT_TESTS_POLICY_FIXTURE_H
#define TLSRPT_TESTS_POLICY_FIXTURE_H

#include <check.h>
#include <stdbool.h>

#include "policy.h"

#define URL(d) "https://mta-sts." d ".example/.well-known/mta-sts.txt"

extern char temp_dir[];
extern char *state_dir; /* of the current case */

/* Starts the peers, runs the suite (no fork), stops them; the exit status (77: skipped). */
int policy_fixture_run(Suite *suite);
/* A checked fixture: a new state directory and an empty request log per case. */
void fresh_state(void);
/* Restarts ldns-testns on its port with change.example's TXT id set to change_id
   (NULL: no TXT entry, so the lookup gets SERVFAIL). */
bool start_dns(const char *change_id);

/* The server's answer for mta-sts.NAME.example: "STATUS TYPE" and the body. */
void serve(const char *name, const char *head, const char *body);
/* A 200 text/plain policy with CRLF lines; mx is "mx: ...\r\n" lines. */
void policy(const char *name, const char *mode, const char *mx, long max_age);
/* GETs of mta-sts.NAME.example's policy the server has seen. */
int requests(const char *name);

/* A service on the case's state directory, pointed at the peers. */
struct pol_service *service(bool attributes);
/* The same with more configuration lines. */
struct pol_service *service_with(bool attributes, const char *more);
void assert_answer(struct pol_service *svc, const char *domain, const char *expected);
/* Today's counter rows for domain: a key line, then "  COUNT RESULT INFO | REASON" lines. */
char *counted(const char *domain);
void assert_counted(const char *domain, const char *expected);

#endif
