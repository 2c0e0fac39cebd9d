/*
 * collector_cases.c - test helper of the collector parser suites: one parser
 * per test, assertions on a parse's outcome, and the table of written-out
 * datagrams that must be rejected, with the reason each is given.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "core.h"
#include "util.h"
#include "collector_cases.h"

struct collector_parser *parser;

void parser_setup(void)
{
    parser = collector_parser_create(MAX_SIZE);
}

void parser_teardown(void)
{
    collector_parser_destroy(parser);
    parser = NULL;
}

const struct tr_event *parse_ok(struct collector_parser *p, const char *data, size_t len,
                                const char *where)
{
    const struct tr_event *event = NULL;
    enum collector_reject reason = COLLECTOR_REJECT_COUNT;
    const char *detail = NULL;

    int status = collector_parse(p, data, len, WHEN, &event, &reason, &detail);
    ck_assert_msg(status == 0, "%s: rejected: %s (%s)", where,
                  status == 0 ? "" : collector_reject_name(reason), detail ? detail : "");
    ck_assert_ptr_nonnull(event);
    return event;
}

/* Rejected datagrams, written out ----------------------------------------- */

/* A NUL byte in the middle of the domain. */
#define RAW_NUL "{\"dpv\":\"1\",\"d\":\"x.ex\0ample\",\"policies\":[{\"policy-type\":9,\"f\":0}]}"

const struct reject_case reject_cases[] = {
    /* The same datagram, accepted whole, is the baseline for the damaged ones. */
    {"truncated in a key", "{\"dpv\": \"1\",\"d\": \"example.com\",\"policies\":[{\"policy-ty", 0,
     COLLECTOR_REJECT_BAD_JSON},
    {"truncated before the last brace", "{\"dpv\": \"1\"," GOOD_BODY, 0, COLLECTOR_REJECT_BAD_JSON},
    {"empty datagram", "", 0, COLLECTOR_REJECT_BAD_JSON},
    {"only whitespace", " \r\n", 0, COLLECTOR_REJECT_BAD_JSON},
    {"trailing garbage", GOOD "x", 0, COLLECTOR_REJECT_BAD_JSON},
    {"two objects", GOOD "{}", 0, COLLECTOR_REJECT_BAD_JSON},
    {"trailing bracket", GOOD "]", 0, COLLECTOR_REJECT_BAD_JSON},
    {"trailing comma in object", WITH_POLICY("\"policy-type\":9,\"f\":0,"), 0,
     COLLECTOR_REJECT_BAD_JSON},
    {"comment", WITH_POLICY("\"policy-type\":9,\"f\":0 /* c */"), 0, COLLECTOR_REJECT_BAD_JSON},
    {"leading zero", WITH_POLICY("\"policy-type\":09,\"f\":0"), 0, COLLECTOR_REJECT_BAD_JSON},
    {"bad escape", WITH_POLICY("\"policy-type\":9,\"f\":0,\"x\":\"\\x41\""), 0,
     COLLECTOR_REJECT_BAD_JSON},
    {"upper-case literal", WITH_POLICY("\"policy-type\":9,\"f\":0,\"x\":TRUE"), 0,
     COLLECTOR_REJECT_BAD_JSON},
    {"array", "[" GOOD "]", 0, COLLECTOR_REJECT_BAD_TYPE},
    {"string", "\"example.com\"", 0, COLLECTOR_REJECT_BAD_TYPE},
    /* json-c cannot tell a bare literal from the start of a longer one: truncated. */
    {"bare null", "null", 0, COLLECTOR_REJECT_BAD_JSON},
    {"null", "null ", 0, COLLECTOR_REJECT_BAD_TYPE},
    {"boolean", "true\n", 0, COLLECTOR_REJECT_BAD_TYPE},
    {"number", "42 ", 0, COLLECTOR_REJECT_BAD_TYPE},
    {"dpv 2", "{\"dpv\": \"2\"," GOOD_BODY "}", 0, COLLECTOR_REJECT_UNKNOWN_DPV},
    {"dpv empty", "{\"dpv\": \"\"," GOOD_BODY "}", 0, COLLECTOR_REJECT_UNKNOWN_DPV},
    {"dpv 1.0", "{\"dpv\": \"1.0\"," GOOD_BODY "}", 0, COLLECTOR_REJECT_UNKNOWN_DPV},
    {"dpv with nul", "{\"dpv\": \"1\\u0000\"," GOOD_BODY "}", 0, COLLECTOR_REJECT_UNKNOWN_DPV},
    {"dpv a number", "{\"dpv\": 1," GOOD_BODY "}", 0, COLLECTOR_REJECT_BAD_DPV},
    {"dpv null", "{\"dpv\": null," GOOD_BODY "}", 0, COLLECTOR_REJECT_BAD_DPV},
    {"dpv an array", "{\"dpv\": [\"1\"]," GOOD_BODY "}", 0, COLLECTOR_REJECT_BAD_DPV},
    {"d missing", "{\"dpv\":\"1\",\"policies\":[{\"policy-type\":9,\"f\":0}]}", 0,
     COLLECTOR_REJECT_MISSING_FIELD},
    {"d null", "{\"dpv\":\"1\",\"d\":null,\"policies\":[{\"policy-type\":9,\"f\":0}]}", 0,
     COLLECTOR_REJECT_MISSING_FIELD},
    {"d empty", "{\"dpv\":\"1\",\"d\":\"\",\"policies\":[{\"policy-type\":9,\"f\":0}]}", 0,
     COLLECTOR_REJECT_BAD_DOMAIN},
    {"d only a dot", "{\"dpv\":\"1\",\"d\":\".\",\"policies\":[{\"policy-type\":9,\"f\":0}]}", 0,
     COLLECTOR_REJECT_BAD_DOMAIN},
    {"d with a space",
     "{\"dpv\":\"1\",\"d\":\"exa mple.com\",\"policies\":[{\"policy-type\":9,\"f\":0}]}", 0,
     COLLECTOR_REJECT_BAD_DOMAIN},
    {"d a u-label",
     "{\"dpv\":\"1\",\"d\":\"b\xc3\xbc"
     "cher.example\",\"policies\":[{\"policy-type\":9,\"f\":0}]}",
     0, COLLECTOR_REJECT_BAD_DOMAIN},
    {"d with two trailing dots",
     "{\"dpv\":\"1\",\"d\":\"example.com..\",\"policies\":[{\"policy-type\":9,\"f\":0}]}", 0,
     COLLECTOR_REJECT_BAD_DOMAIN},
    {"d a mail address",
     "{\"dpv\":\"1\",\"d\":\"r@example.com\",\"policies\":[{\"policy-type\":9,\"f\":0}]}", 0,
     COLLECTOR_REJECT_BAD_DOMAIN},
    {"d a number", "{\"dpv\":\"1\",\"d\":42,\"policies\":[{\"policy-type\":9,\"f\":0}]}", 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy-domain bad", WITH_POLICY("\"policy-type\":2,\"policy-domain\":\"a..b\",\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_DOMAIN},
    {"policy-domain empty", WITH_POLICY("\"policy-type\":2,\"policy-domain\":\"\",\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_DOMAIN},
    {"policies missing", "{\"dpv\":\"1\",\"d\":\"x.example\"}", 0, COLLECTOR_REJECT_MISSING_FIELD},
    {"policies empty", "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[]}", 0,
     COLLECTOR_REJECT_MISSING_FIELD},
    {"policies null", "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":null}", 0,
     COLLECTOR_REJECT_MISSING_FIELD},
    {"policy-type 3", WITH_POLICY("\"policy-type\":3,\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_POLICY_TYPE},
    {"policy-type 0", WITH_POLICY("\"policy-type\":0,\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_POLICY_TYPE},
    {"policy-type -1", WITH_POLICY("\"policy-type\":-1,\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_POLICY_TYPE},
    {"policy-type huge", WITH_POLICY("\"policy-type\":4294967298,\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_POLICY_TYPE},
    {"policy-type a string", WITH_POLICY("\"policy-type\":\"2\",\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy-type a name", WITH_POLICY("\"policy-type\":\"sts\",\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy-type a double", WITH_POLICY("\"policy-type\":2.0,\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy-type missing", WITH_POLICY("\"f\":0"), 0, COLLECTOR_REJECT_MISSING_FIELD},
    {"code 999", WITH_DETAIL("\"c\":999"), 0, COLLECTOR_REJECT_BAD_CODE},
    {"code 0", WITH_DETAIL("\"c\":0"), 0, COLLECTOR_REJECT_BAD_CODE},
    {"code 206", WITH_DETAIL("\"c\":206"), 0, COLLECTOR_REJECT_BAD_CODE},
    {"code 300", WITH_DETAIL("\"c\":300"), 0, COLLECTOR_REJECT_BAD_CODE},
    {"code 307", WITH_DETAIL("\"c\":307"), 0, COLLECTOR_REJECT_BAD_CODE},
    {"code beyond 32 bits", WITH_DETAIL("\"c\":4294967497"), 0, COLLECTOR_REJECT_BAD_CODE},
    {"code a string", WITH_DETAIL("\"c\":\"302\""), 0, COLLECTOR_REJECT_BAD_TYPE},
    {"code missing", WITH_DETAIL("\"n\":\"mx.example\""), 0, COLLECTOR_REJECT_MISSING_FIELD},
    {"f 2", WITH_POLICY("\"policy-type\":9,\"t\":0,\"f\":2"), 0, COLLECTOR_REJECT_BAD_TYPE},
    {"f -1", WITH_POLICY("\"policy-type\":9,\"t\":0,\"f\":-1"), 0, COLLECTOR_REJECT_BAD_TYPE},
    {"f true", WITH_POLICY("\"policy-type\":9,\"t\":0,\"f\":true"), 0, COLLECTOR_REJECT_BAD_TYPE},
    {"f a string", WITH_POLICY("\"policy-type\":9,\"t\":0,\"f\":\"1\""), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"f missing", WITH_POLICY("\"policy-type\":9,\"t\":0"), 0, COLLECTOR_REJECT_MISSING_FIELD},
    {"t a string", WITH_POLICY("\"policy-type\":9,\"t\":\"0\",\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"t 2 with one detail",
     WITH_POLICY("\"policy-type\":2,\"failure-details\":[{\"c\":202}],\"t\":2,\"f\":1"), 0,
     COLLECTOR_REJECT_INCONSISTENT},
    {"t 0 with one detail",
     WITH_POLICY("\"policy-type\":2,\"failure-details\":[{\"c\":202}],\"t\":0,\"f\":1"), 0,
     COLLECTOR_REJECT_INCONSISTENT},
    {"t 1 without details", WITH_POLICY("\"policy-type\":2,\"t\":1,\"f\":1"), 0,
     COLLECTOR_REJECT_INCONSISTENT},
    {"t negative", WITH_POLICY("\"policy-type\":2,\"t\":-1,\"f\":1"), 0,
     COLLECTOR_REJECT_INCONSISTENT},
    {"details on a success",
     WITH_POLICY("\"policy-type\":2,\"failure-details\":[{\"c\":202}],\"t\":1,\"f\":0"), 0,
     COLLECTOR_REJECT_INCONSISTENT},
    {"invalid utf-8 bytes", WITH_DETAIL("\"c\":205,\"a\":\"bad \xff\xfe bytes\""), 0,
     COLLECTOR_REJECT_BAD_UTF8},
    {"truncated utf-8 sequence", WITH_DETAIL("\"c\":205,\"a\":\"cut \xc3\""), 0,
     COLLECTOR_REJECT_BAD_UTF8},
    {"invalid utf-8 in an ignored key", WITH_DETAIL("\"c\":205,\"zz\":\"\xfe\""), 0,
     COLLECTOR_REJECT_BAD_UTF8},
    /* json-c checks only the shape of sequences; the event check catches the rest. */
    {"overlong utf-8", WITH_DETAIL("\"c\":205,\"a\":\"\xc0\xaf\""), 0, COLLECTOR_REJECT_BAD_TEXT},
    {"utf-8 surrogate", WITH_DETAIL("\"c\":205,\"a\":\"\xed\xa0\x80\""), 0,
     COLLECTOR_REJECT_BAD_TEXT},
    {"nul escape in additional-information", WITH_DETAIL("\"c\":205,\"a\":\"a\\u0000b\""), 0,
     COLLECTOR_REJECT_NUL_BYTE},
    {"nul escape in d",
     "{\"dpv\":\"1\",\"d\":\"x.example\\u0000.evil\",\"policies\":[{\"policy-type\":9,\"f\":0}]}",
     0, COLLECTOR_REJECT_NUL_BYTE},
    {"nul escape in pr",
     "{\"dpv\":\"1\",\"d\":\"x.example\",\"pr\":\"v=TLSRPTv1\\u0000\",\"policies\":"
     "[{\"policy-type\":9,\"f\":0}]}",
     0, COLLECTOR_REJECT_NUL_BYTE},
    {"nul escape in a policy string",
     WITH_POLICY("\"policy-type\":2,\"policy-string\":[\"mode: enforce\\u0000\"],\"f\":0"), 0,
     COLLECTOR_REJECT_NUL_BYTE},
    {"nul escape in an mx-host", WITH_POLICY("\"policy-type\":2,\"mx-host\":[\"\\u0000\"],\"f\":0"),
     0, COLLECTOR_REJECT_NUL_BYTE},
    {"nul escape in the ehlo reply", WITH_DETAIL("\"c\":205,\"h\":\"250-mx\\u0000\""), 0,
     COLLECTOR_REJECT_NUL_BYTE},
    {"raw nul byte", RAW_NUL, sizeof(RAW_NUL) - 1, COLLECTOR_REJECT_NUL_BYTE},
    {"raw nul byte after the object", GOOD "\0", sizeof(GOOD), COLLECTOR_REJECT_NUL_BYTE},
    {"newline escape in additional-information", WITH_DETAIL("\"c\":205,\"a\":\"two\\nlines\""), 0,
     COLLECTOR_REJECT_BAD_TEXT},
    {"escape character in receiving-mx-hostname",
     WITH_DETAIL("\"c\":205,\"n\":\"mx\\u001b[31m.example\""), 0, COLLECTOR_REJECT_BAD_TEXT},
    {"carriage return in pr",
     "{\"dpv\":\"1\",\"d\":\"x.example\",\"pr\":\"v=TLSRPTv1;\\r\",\"policies\":"
     "[{\"policy-type\":9,\"f\":0}]}",
     0, COLLECTOR_REJECT_BAD_TEXT},
    {"delete in failure-reason-code", WITH_DETAIL("\"c\":205,\"f\":\"x\\u007f\""), 0,
     COLLECTOR_REJECT_BAD_TEXT},
    {"control character in the ehlo name", WITH_DETAIL("\"c\":205,\"h\":\"250-mx\\u0001x\""), 0,
     COLLECTOR_REJECT_BAD_TEXT},
    {"newline in a policy string",
     WITH_POLICY("\"policy-type\":2,\"policy-string\":[\"a\\nb\"],\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TEXT},
    {"policies an object", "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":{\"policy-type\":9}}",
     0, COLLECTOR_REJECT_BAD_TYPE},
    {"policies a string", "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":\"sts\"}", 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy a string", "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[\"sts\"]}", 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy null", "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[null]}", 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"mx-host a string", WITH_POLICY("\"policy-type\":2,\"mx-host\":\"mx.example\",\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"mx-host containing null", WITH_POLICY("\"policy-type\":2,\"mx-host\":[null],\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"failure-details an object",
     WITH_POLICY("\"policy-type\":2,\"failure-details\":{\"c\":202},\"t\":1,\"f\":1"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"failure detail a number",
     WITH_POLICY("\"policy-type\":2,\"failure-details\":[202],\"t\":1,\"f\":1"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy-string containing a number",
     WITH_POLICY("\"policy-type\":2,\"policy-string\":[\"version: STSv1\",86400],\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy-string a string",
     WITH_POLICY("\"policy-type\":2,\"policy-string\":\"version: STSv1\",\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"policy-domain a number", WITH_POLICY("\"policy-type\":2,\"policy-domain\":7,\"f\":0"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"pr an array",
     "{\"dpv\":\"1\",\"d\":\"x.example\",\"pr\":[\"v=TLSRPTv1\"],\"policies\":"
     "[{\"policy-type\":9,\"f\":0}]}",
     0, COLLECTOR_REJECT_BAD_TYPE},
    {"sending-mta-ip a number", WITH_DETAIL("\"c\":205,\"s\":1234"), 0, COLLECTOR_REJECT_BAD_TYPE},
    {"receiving-mx-helo an array", WITH_DETAIL("\"c\":205,\"h\":[\"250 mx\"]"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"additional-information an object", WITH_DETAIL("\"c\":205,\"a\":{}"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
    {"failure-reason-code a number", WITH_DETAIL("\"c\":205,\"f\":999"), 0,
     COLLECTOR_REJECT_BAD_TYPE},
};

const size_t n_reject_cases = UTIL_ARRAY_LEN(reject_cases);

void assert_rejected(struct collector_parser *p, const char *data, size_t len,
                     enum collector_reject expect, const char *where)
{
    const struct tr_event *event = NULL;
    enum collector_reject reason = COLLECTOR_REJECT_COUNT;
    const char *detail = NULL;

    int status = collector_parse(p, data, len, WHEN, &event, &reason, &detail);
    ck_assert_msg(status == -1, "%s: accepted", where);
    ck_assert_msg(reason == expect, "%s: rejected as %s (%s), expected %s", where,
                  (unsigned)reason < COLLECTOR_REJECT_COUNT ? collector_reject_name(reason) : "?",
                  detail ? detail : "", collector_reject_name(expect));
    ck_assert_msg(detail != NULL && detail[0] != '\0', "%s: no detail", where);
    ck_assert_msg(event == NULL, "%s: event set on rejection", where);
}

size_t case_len(const struct reject_case *c)
{
    return c->len ? c->len : strlen(c->datagram);
}
