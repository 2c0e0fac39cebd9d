/*
 * counters_text.c - test helper: a counter snapshot as text, one line per
 * key, per detail row and per overflow record, so suites compare exactly.
 */
#include "config.h"

#include "util.h"
#include "counters.h"
#include "counters_text.h"

/* A snapshot as text: one line per key, per detail and per overflow record. */
static void render_string(struct buf *out, const char *separator, const char *text)
{
    buf_puts(out, separator);
    if (text == NULL)
        buf_putc(out, '-'); /* unknown, as opposed to "" */
    else
        buf_printf(out, "\"%s\"", text);
}

static void render_list(struct buf *out, const char *const *list, size_t count)
{
    buf_puts(out, " [");
    for (size_t i = 0; i < count; i++)
        render_string(out, i > 0 ? " " : "", list[i]);
    buf_putc(out, ']');
}

char *ctr_render(const struct ctr_snapshot *snap)
{
    struct buf out;

    buf_init(&out);
    for (size_t k = 0; k < snap->n_keys; k++) {
        const struct ctr_key *key = &snap->keys[k];

        render_string(&out, "", key->domain);
        render_string(&out, " ", key->record);
        buf_printf(&out, " %s", tr_policy_type_name(key->policy.type));
        render_string(&out, " ", key->policy.domain);
        render_list(&out, key->policy.strings, key->policy.n_strings);
        render_list(&out, key->policy.mx_hosts, key->policy.n_mx_hosts);
        buf_printf(&out, " S=%llu F=%llu\n", (unsigned long long)key->success,
                   (unsigned long long)key->failure);
        for (size_t d = 0; d < key->n_details; d++) {
            const struct tr_failure *f = &key->details[d].failure;

            buf_printf(&out, "  %llu %s", (unsigned long long)key->details[d].count,
                       tr_result_name(f->result));
            render_string(&out, " ", f->sending_mta_ip);
            render_string(&out, " ", f->receiving_mx_hostname);
            render_string(&out, " ", f->receiving_mx_helo);
            render_string(&out, " ", f->receiving_ip);
            render_string(&out, " ", f->additional_information);
            render_string(&out, " ", f->failure_reason_code);
            buf_putc(&out, '\n');
        }
    }
    for (size_t o = 0; o < snap->n_overflow; o++)
        buf_printf(&out, "overflow %s %llu\n", snap->overflow[o].domain,
                   (unsigned long long)snap->overflow[o].events);
    buf_printf(&out, "lost %llu\n", (unsigned long long)snap->lost_events);
    if (snap->late_events > 0)
        buf_printf(&out, "late %llu\n", (unsigned long long)snap->late_events);
    return buf_steal(&out);
}
