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

static void same_string(const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
        abort();
}

/* The fast reader's event and json-c's are the same in every field. */
static void same_event(const struct tr_event *a, const struct tr_event *b)
{
    same_string(a->domain, b->domain);
    same_string(a->record, b->record);
    if (a->n_policies != b->n_policies)
        abort();
    for (size_t p = 0; p < a->n_policies; p++) {
        const struct tr_policy *x = &a->policies[p], *y = &b->policies[p];
        if (x->type != y->type || x->failed != y->failed || x->n_strings != y->n_strings ||
            x->n_mx_hosts != y->n_mx_hosts || x->n_failures != y->n_failures)
            abort();
        same_string(x->domain, y->domain);
        for (size_t i = 0; i < x->n_strings; i++)
            same_string(x->strings[i], y->strings[i]);
        for (size_t i = 0; i < x->n_mx_hosts; i++)
            same_string(x->mx_hosts[i], y->mx_hosts[i]);
        for (size_t i = 0; i < x->n_failures; i++) {
            const struct tr_failure *f = &x->failures[i], *g = &y->failures[i];
            if (f->result != g->result)
                abort();
            same_string(f->sending_mta_ip, g->sending_mta_ip);
            same_string(f->receiving_mx_hostname, g->receiving_mx_hostname);
            same_string(f->receiving_mx_helo, g->receiving_mx_helo);
            same_string(f->receiving_ip, g->receiving_ip);
            same_string(f->additional_information, g->additional_information);
            same_string(f->failure_reason_code, g->failure_reason_code);
        }
    }
}

/* json-c alone on the same bytes: the same status, reason, detail and event. */
static void same_as_json_c(const uint8_t *data, size_t size, int status,
                           const struct tr_event *event, enum collector_reject reason,
                           const char *detail)
{
    static struct collector_parser *json_c;
    const struct tr_event *other;
    enum collector_reject other_reason;
    const char *other_detail;

    if (json_c == NULL) {
        json_c = collector_parser_create(FUZZ_MAX_SIZE);
        collector_parser_json_c_only(json_c, true);
    }
    if (collector_parse(json_c, (const char *)data, size, 1700000000, &other, &other_reason,
                        &other_detail) != status)
        abort();
    if (status == 0)
        same_event(event, other);
    else if (other_reason != reason || strcmp(other_detail, detail) != 0)
        abort();
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
    same_as_json_c(data, size, status, event, reason, detail);
    return 0;
}
