/*
 * summary.c - a day's counters per recipient domain and per policy and result
 * type, from a snapshot: what `tlsrpt top`, the daemon's alerts and its
 * metrics show, computed in one place so that they agree.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "counters.h"
#include "util.h"

void ctr_summarize(const struct ctr_snapshot *snap, struct ctr_day_summary *summary)
{
    memset(summary, 0, sizeof(*summary));
    if (snap == NULL)
        return;
    summary->domains = xcalloc(snap->n_keys + 1, sizeof(*summary->domains));
    /* Snapshot keys are sorted by domain first: a domain's keys are adjacent. */
    for (size_t i = 0; i < snap->n_keys; i++) {
        const struct ctr_key *key = &snap->keys[i];
        struct ctr_domain_summary *domain =
            summary->n_domains > 0 ? &summary->domains[summary->n_domains - 1] : NULL;
        if (domain == NULL || strcmp(domain->domain, key->domain) != 0) {
            domain = &summary->domains[summary->n_domains++];
            domain->domain = key->domain;
        }
        domain->sessions += key->success + key->failure;
        domain->failures += key->failure;
        summary->success_by_policy[key->policy.type] += key->success;
        summary->failure_by_policy[key->policy.type] += key->failure;
        for (size_t j = 0; j < key->n_details; j++) {
            enum tr_result result = key->details[j].failure.result;
            domain->by_result[result] += key->details[j].count;
            summary->by_result[result] += key->details[j].count;
        }
    }
}

void ctr_summary_free(struct ctr_day_summary *summary)
{
    free(summary->domains);
    memset(summary, 0, sizeof(*summary));
}

int ctr_summary_top_result(const struct ctr_domain_summary *domain)
{
    int top = -1;

    for (int r = 0; r < TR_RESULT_COUNT; r++)
        if (domain->by_result[r] > 0 && (top < 0 || domain->by_result[r] > domain->by_result[top]))
            top = r;
    return top;
}

const struct ctr_domain_summary *ctr_summary_find(const struct ctr_day_summary *summary,
                                                  const char *domain)
{
    size_t low = 0, high = summary->n_domains;

    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int cmp = strcmp(summary->domains[mid].domain, domain);
        if (cmp == 0)
            return &summary->domains[mid];
        if (cmp < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return NULL;
}
