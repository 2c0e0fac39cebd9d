/*
 * copy.c - deep copies of events in one allocation, for code that keeps an
 * event beyond the life of the buffers it was parsed from (the collector's
 * parse cache). One free() releases the copy.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "util.h"

/* Bytes a string needs in the copy (0 for NULL: NULL stays NULL). */
static size_t string_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static size_t failure_strings_size(const struct tr_failure *f)
{
    return string_size(f->sending_mta_ip) + string_size(f->receiving_mx_hostname) +
           string_size(f->receiving_mx_helo) + string_size(f->receiving_ip) +
           string_size(f->additional_information) + string_size(f->failure_reason_code);
}

/* Copies s into the string area; the area was sized by the first pass. */
static const char *put_string(char **area, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t len = strlen(s) + 1;
    char *copy = *area;
    memcpy(copy, s, len);
    *area += len;
    return copy;
}

struct tr_event *tr_event_copy(const struct tr_event *event, size_t *size_r)
{
    size_t pointers = 0, failures = 0, strings = 0;

    /* First pass: sizes of the arrays and of all the strings. */
    strings += string_size(event->domain) + string_size(event->record);
    for (size_t i = 0; i < event->n_policies; i++) {
        const struct tr_policy *p = &event->policies[i];
        pointers += p->n_strings + p->n_mx_hosts;
        failures += p->n_failures;
        strings += string_size(p->domain);
        for (size_t j = 0; j < p->n_strings; j++)
            strings += string_size(p->strings[j]);
        for (size_t j = 0; j < p->n_mx_hosts; j++)
            strings += string_size(p->mx_hosts[j]);
        for (size_t j = 0; j < p->n_failures; j++)
            strings += failure_strings_size(&p->failures[j]);
    }
    /* Layout: event, policies, failures, string pointers, then the strings. */
    size_t size = sizeof(struct tr_event) + event->n_policies * sizeof(struct tr_policy) +
                  failures * sizeof(struct tr_failure) + pointers * sizeof(char *) + strings;
    char *block = xmalloc(size);
    *size_r = size;
    struct tr_event *copy = (struct tr_event *)block;
    struct tr_policy *policies = (struct tr_policy *)(copy + 1);
    struct tr_failure *failure_area = (struct tr_failure *)(policies + event->n_policies);
    const char **pointer_area = (const char **)(failure_area + failures);
    char *string_area = (char *)(pointer_area + pointers);

    *copy = *event;
    copy->domain = put_string(&string_area, event->domain);
    copy->record = put_string(&string_area, event->record);
    copy->policies = policies;
    for (size_t i = 0; i < event->n_policies; i++) {
        const struct tr_policy *from = &event->policies[i];
        struct tr_policy *to = &policies[i];
        *to = *from;
        to->domain = put_string(&string_area, from->domain);
        to->strings = pointer_area;
        for (size_t j = 0; j < from->n_strings; j++)
            *pointer_area++ = put_string(&string_area, from->strings[j]);
        to->mx_hosts = pointer_area;
        for (size_t j = 0; j < from->n_mx_hosts; j++)
            *pointer_area++ = put_string(&string_area, from->mx_hosts[j]);
        to->failures = failure_area;
        for (size_t j = 0; j < from->n_failures; j++) {
            const struct tr_failure *f = &from->failures[j];
            struct tr_failure *g = failure_area++;
            g->result = f->result;
            g->sending_mta_ip = put_string(&string_area, f->sending_mta_ip);
            g->receiving_mx_hostname = put_string(&string_area, f->receiving_mx_hostname);
            g->receiving_mx_helo = put_string(&string_area, f->receiving_mx_helo);
            g->receiving_ip = put_string(&string_area, f->receiving_ip);
            g->additional_information = put_string(&string_area, f->additional_information);
            g->failure_reason_code = put_string(&string_area, f->failure_reason_code);
        }
    }
    return copy;
}
