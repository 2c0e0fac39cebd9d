/*
 * event.c - the RFC 8460 registry names of policy and result types, and the
 * checks an event must pass before it is counted: bounded sizes, registered
 * types, valid UTF-8 text (reports are I-JSON, RFC 7493).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "core.h"
#include "util.h"

static const char *const policy_type_names[TR_POLICY_TYPE_COUNT] = {
    [TR_POLICY_TLSA] = "tlsa",
    [TR_POLICY_STS] = "sts",
    [TR_POLICY_NONE] = "no-policy-found",
};

/* Exactly the IANA "STARTTLS Validation Result Types" registry (RFC 8460 §6.6). */
static const char *const result_names[TR_RESULT_COUNT] = {
    [TR_RESULT_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
    [TR_RESULT_CERTIFICATE_HOST_MISMATCH] = "certificate-host-mismatch",
    [TR_RESULT_CERTIFICATE_EXPIRED] = "certificate-expired",
    [TR_RESULT_CERTIFICATE_NOT_TRUSTED] = "certificate-not-trusted",
    [TR_RESULT_VALIDATION_FAILURE] = "validation-failure",
    [TR_RESULT_TLSA_INVALID] = "tlsa-invalid",
    [TR_RESULT_DNSSEC_INVALID] = "dnssec-invalid",
    [TR_RESULT_DANE_REQUIRED] = "dane-required",
    [TR_RESULT_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
    [TR_RESULT_STS_POLICY_INVALID] = "sts-policy-invalid",
    [TR_RESULT_STS_WEBPKI_INVALID] = "sts-webpki-invalid",
};

const char *tr_policy_type_name(enum tr_policy_type type)
{
    if ((unsigned)type >= TR_POLICY_TYPE_COUNT)
        msg_panic("tr_policy_type_name: bad type %d", (int)type);
    return policy_type_names[type];
}

int tr_policy_type_from_name(const char *name, enum tr_policy_type *type)
{
    for (int i = 0; i < TR_POLICY_TYPE_COUNT; i++) {
        if (strcmp(policy_type_names[i], name) == 0) {
            *type = (enum tr_policy_type)i;
            return 0;
        }
    }
    return -1;
}

const char *tr_result_name(enum tr_result result)
{
    if ((unsigned)result >= TR_RESULT_COUNT)
        msg_panic("tr_result_name: bad result %d", (int)result);
    return result_names[result];
}

int tr_result_from_name(const char *name, enum tr_result *result)
{
    for (int i = 0; i < TR_RESULT_COUNT; i++) {
        if (strcmp(result_names[i], name) == 0) {
            *result = (enum tr_result)i;
            return 0;
        }
    }
    return -1;
}

/*
 * True when all 8 bytes are printable ASCII (0x20 to 0x7e): no byte with the
 * high bit, none below 0x20, no DEL. Most log and datagram text is, and
 * checking a word at a time is several times faster than byte by byte.
 */
static bool word_printable_ascii(uint64_t w)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    uint64_t below_space = (w - ones * 0x20) & ~w & highs;
    uint64_t del = w ^ (ones * 0x7f);

    return (w & highs) == 0 && below_space == 0 && ((del - ones) & ~del & highs) == 0;
}

bool tr_text_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        uint64_t word;
        if (end - p >= 8 && (memcpy(&word, p, 8), word_printable_ascii(word))) {
            p += 8;
            continue;
        }
        unsigned char c = *p;
        if (c < 0x80) {
            /* Tab is the one control character a log text may keep. */
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return false;
            p++;
            continue;
        }
        size_t extra;
        unsigned int cp;
        if (c >= 0xc2 && c <= 0xdf)
            extra = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            extra = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            extra = 3, cp = c & 0x07;
        else
            return false;
        if ((size_t)(end - p) <= extra)
            return false;
        for (size_t i = 1; i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += extra + 1;
    }
    return true;
}

static int check_string(const char *s, size_t max, const char *what, const char **error_r)
{
    if (s == NULL)
        return 0;
    size_t len = strnlen(s, max + 1);
    if (len > max) {
        *error_r = what;
        return -1;
    }
    if (!tr_text_ok(s, len)) {
        *error_r = what;
        return -1;
    }
    return 0;
}

static int check_policy(const struct tr_policy *policy, const char **error_r)
{
    if ((unsigned)policy->type >= TR_POLICY_TYPE_COUNT) {
        *error_r = "unknown policy type";
        return -1;
    }
    if (check_string(policy->domain, TR_MAX_DOMAIN, "bad policy domain", error_r) < 0)
        return -1;
    if (policy->n_strings > TR_MAX_POLICY_STRINGS) {
        *error_r = "too many policy strings";
        return -1;
    }
    for (size_t i = 0; i < policy->n_strings; i++)
        if (policy->strings[i] == NULL ||
            check_string(policy->strings[i], TR_MAX_STRING, "bad policy string", error_r) < 0)
            return *error_r = "bad policy string", -1;
    if (policy->n_mx_hosts > TR_MAX_MX_HOSTS) {
        *error_r = "too many mx-host patterns";
        return -1;
    }
    for (size_t i = 0; i < policy->n_mx_hosts; i++)
        if (policy->mx_hosts[i] == NULL ||
            check_string(policy->mx_hosts[i], TR_MAX_DOMAIN + 2, "bad mx-host", error_r) < 0)
            return *error_r = "bad mx-host pattern", -1;
    if (policy->n_failures > TR_MAX_FAILURES) {
        *error_r = "too many failure details";
        return -1;
    }
    for (size_t i = 0; i < policy->n_failures; i++) {
        const struct tr_failure *f = &policy->failures[i];
        if ((unsigned)f->result >= TR_RESULT_COUNT) {
            *error_r = "unknown result type";
            return -1;
        }
        if (check_string(f->sending_mta_ip, TR_MAX_STRING, "bad sending-mta-ip", error_r) < 0 ||
            check_string(f->receiving_mx_hostname, TR_MAX_STRING, "bad receiving-mx-hostname",
                         error_r) < 0 ||
            check_string(f->receiving_mx_helo, TR_MAX_STRING, "bad receiving-mx-helo",
                         error_r) < 0 ||
            check_string(f->receiving_ip, TR_MAX_STRING, "bad receiving-ip", error_r) < 0 ||
            check_string(f->additional_information, TR_MAX_STRING,
                         "bad additional-information", error_r) < 0 ||
            check_string(f->failure_reason_code, TR_MAX_STRING, "bad failure-reason-code",
                         error_r) < 0)
            return -1;
    }
    if (policy->n_failures > 0 && !policy->failed) {
        *error_r = "failure details on a successful session";
        return -1;
    }
    return 0;
}

int tr_event_check(const struct tr_event *event, const char **error_r)
{
    if (event->domain == NULL || event->domain[0] == '\0') {
        *error_r = "no policy domain";
        return -1;
    }
    if (check_string(event->domain, TR_MAX_DOMAIN, "bad policy domain", error_r) < 0 ||
        check_string(event->record, TR_MAX_RECORD, "bad TLSRPT record", error_r) < 0)
        return -1;
    if (event->n_policies == 0) {
        *error_r = "no policy";
        return -1;
    }
    if (event->n_policies > TR_MAX_POLICIES) {
        *error_r = "too many policies";
        return -1;
    }
    for (size_t i = 0; i < event->n_policies; i++)
        if (check_policy(&event->policies[i], error_r) < 0)
            return -1;
    return 0;
}
