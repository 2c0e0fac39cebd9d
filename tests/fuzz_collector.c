/*
 * fuzz_collector.c - libFuzzer target for the collector's datagram parser:
 * any bytes a sender can put in a datagram must either be rejected with a
 * named reason or become an event that passes every check the table relies on,
 * and the fast plain-JSON reader must give exactly json-c's outcome.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "core.h"

#define FUZZ_MAX_SIZE 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A domain in an event is already normalized: normalizing again changes nothing. */
static void check_domain(const char *domain)
{
    char copy[TR_MAX_DOMAIN + 2];
    const char *why;
    size_t len;

    if (domain == NULL || (len = strnlen(domain, sizeof(copy))) == sizeof(copy))
        abort();
    memcpy(copy, domain, len + 1);
    if (tr_domain_normalize(copy, &why) != 0 || strcmp(copy, domain) != 0)
        abort();
}

static void check_event(const struct tr_event *event)
{
    const char *why;

    if (tr_event_check(event, &why) != 0 || event->n_policies < 1)
        abort();
    check_domain(event->domain);
    for (size_t p = 0; p < event->n_policies; p++) {
        const struct tr_policy *policy = &event->policies[p];
        if (policy->domain)
            check_domain(policy->domain);
        for (size_t i = 0; i < policy->n_failures; i++) {
            /* An EHLO name is one word: present means non-empty. */
            const char *helo = policy->failures[i].receiving_mx_helo;
            if (helo && (helo[0] == '\0' || strpbrk(helo, " \r\n") != NULL))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct collector_parser *parser;
    const struct tr_event *event;
    enum collector_reject reason, first_reason;
    const char *detail;

    if (parser == NULL)
        parser = collector_parser_create(FUZZ_MAX_SIZE);
    int status =
        collector_parse(parser, (const char *)data, size, 1700000000, &event, &reason, &detail);
    if (status == 0) {
        /* Nothing bigger than max_size, and no NUL byte, is ever accepted. */
        if (size > FUZZ_MAX_SIZE || memchr(data, '\0', size) != NULL)
            abort();
        check_event(event);
    } else if (status != -1 || (unsigned)reason >= COLLECTOR_REJECT_COUNT || detail == NULL ||
               collector_reject_name(reason)[0] == '\0') {
        abort();
    }
    /* The same bytes again give the same answer: no state survives a datagram. */
    first_reason = reason;
    if (collector_parse(parser, (const char *)data, size, 1700000000, &event, &reason, &detail) !=
            status ||
        (status != 0 && reason != first_reason))
        abort();
    if (status == 0)
        check_event(event);
    return 0;
}
