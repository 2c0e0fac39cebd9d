/*
 * postfix_log_events.h - test helper of the Postfix log parser suites: the
 * line prefixes of the lab's log, a parser whose events are recorded, and
 * the expected event one is compared with.
 */
#ifndef TLSRPT_TESTS_POSTFIX_LOG_EVENTS_H
#define TLSRPT_TESTS_POSTFIX_LOG_EVENTS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core.h"
#include "logfollow.h"

/* "Now" of parser_new(), and the prefixes of lines of two smtp processes and of qmgr. */
#define NOW_2026_11_23 ((time_t)1795392000)
#define P1 "Nov 22 09:46:21 sender postfix/smtp[11161]: "
#define P2 "Nov 22 09:46:21 sender postfix/smtp[11178]: "
#define QM "Nov 22 09:46:21 sender postfix/qmgr[10649]: "
#define CIPHER                                                                                     \
    ": TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "             \
    "server-signature RSA-PSS (2048 bits) server-digest SHA256"

/* Runs the suite with TZ=UTC, which tests that change TZ put back; the exit status. */
int postfix_log_run_suite(Suite *suite);

/* The events a parser emitted, in order. */
#define MAX_RECORDED 16
struct recorder {
    struct tr_event *events[MAX_RECORDED];
    size_t n;
};

/* The lf_event_fn that records each event (a copy) in the recorder given as context. */
void record(const struct tr_event *event, void *context);
void recorder_free(struct recorder *rec);
/* A Postfix parser at NOW_2026_11_23 that records in rec. */
struct lf_parser *parser_new(struct recorder *rec, const char *report_sender);
void feed(struct lf_parser *parser, const char *line);

/* One expected event: one policy, and one failure detail when failed. */
struct expect {
    const char *domain; /* NULL ends the list */
    enum tr_policy_type type;
    const char *policy_domain;
    bool failed;
    enum tr_result result;
    const char *mx, *ip, *reason;
};

#define OK(d, mx, ip)                                                                              \
    {                                                                                              \
        d, TR_POLICY_NONE, NULL, false, 0, mx, ip, NULL                                            \
    }
#define FAIL(d, r, mx, ip, reason)                                                                 \
    {                                                                                              \
        d, TR_POLICY_NONE, NULL, true, r, mx, ip, reason                                           \
    }
#define DANE(d, r, mx, ip, reason)                                                                 \
    {                                                                                              \
        d, TR_POLICY_TLSA, mx, true, r, mx, ip, reason                                             \
    }

/* Fails the test unless the event has one policy and at most one failure as expected. */
void expect_event(const struct tr_event *event, const struct expect *want);

#endif
