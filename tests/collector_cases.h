/*
 * collector_cases.h - test helper of the collector parser suites: one parser
 * per test, assertions on a parse's outcome, and the table of written-out
 * datagrams that must be rejected, with the reason each is given.
 */
#ifndef TLSRPT_TESTS_COLLECTOR_CASES_H
#define TLSRPT_TESTS_COLLECTOR_CASES_H

#include <stddef.h>
#include <time.h>

#include "collector.h"
#include "core.h"

#define MAX_SIZE 65536
#define WHEN ((time_t)1700000000)

/* An accepted datagram, the baseline the damaged ones of reject_cases are made from. */
#define GOOD_BODY                                                                                  \
    "\"d\": \"example.com\",\"pr\": \"v=TLSRPTv1;rua=mailto:r@example.com\",\"policies\":"         \
    "[{\"policy-type\":2,\"policy-domain\": \"company-y.example\",\"policy-string\":"              \
    "[\"version: STSv1\",\"mode: testing\"],\"mx-host\":[\"*.mail.company-y.example\"],"           \
    "\"failure-details\":[{\"c\":302,\"s\": \"1.2.3.4\",\"n\": \"mailin.example.com\","            \
    "\"h\": \"test-ehlo.example.com\",\"r\": \"11.22.33.44\",\"a\": \"extra\",\"f\": \"999\"}],"   \
    "\"t\":1,\"f\":1}]"
#define GOOD "{\"dpv\": \"1\"," GOOD_BODY "}"

/* One policy around a failure detail's members. */
#define WITH_DETAIL(members)                                                                       \
    "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{\"policy-type\":2,\"failure-details\":"     \
    "[{" members "}],\"t\":1,\"f\":1}]}"
/* One policy with these members. */
#define WITH_POLICY(members) "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{" members "}]}"

struct reject_case {
    const char *name;
    const char *datagram;
    size_t len; /* 0: strlen(datagram) */
    enum collector_reject reason;
};

extern const struct reject_case reject_cases[];
extern const size_t n_reject_cases;

/* The parser of the running test (MAX_SIZE), made and destroyed around each test. */
extern struct collector_parser *parser;
void parser_setup(void);
void parser_teardown(void);

/* Parses data; fails the test unless it is accepted. */
const struct tr_event *parse_ok(struct collector_parser *p, const char *data, size_t len,
                                const char *where);
/* Fails the test unless data is rejected for the reason expected, with a detail. */
void assert_rejected(struct collector_parser *p, const char *data, size_t len,
                     enum collector_reject expect, const char *where);
size_t case_len(const struct reject_case *c);

#endif
