/*
 * build.c - the RFC 8460 §4 report of one UTC day for one policy domain,
 * written from counter keys, with its report-id and §5.1 file name;
 * and the checks of organization_name and contact_info it depends on.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "counters.h"
#include "fields.h"
#include "report.h"
#include "util.h"

#define MAX_ORGANIZATION_NAME 1024
#define LAST_DAY 2932896 /* 9999-12-31: four-digit years only */
#define SECONDS_PER_DAY 86400

/* Everything one report needs besides the snapshot lives here, freed at once. */
#define ARENA_BLOCK_SIZE 16384

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t size;
    max_align_t data[]; /* used as bytes */
};

struct arena {
    struct arena_block *blocks;
};

/* One failure-details entry as it will be written; NULL fields are omitted. */
struct out_detail {
    struct tr_failure fields;
    uint64_t count;
    size_t order; /* position in the input, for a stable order */
};

/* One policies entry as it will be written. */
struct out_policy {
    enum tr_policy_type type;
    const char *domain;
    const char **strings;
    size_t n_strings;
    const char **mx_hosts;
    size_t n_mx_hosts;
    uint64_t success;
    uint64_t failure;
    struct out_detail *details;
    size_t n_details;
    size_t order;
    bool absorbed; /* merged into an earlier entry with the same policy */
};

/* count objects of size bytes each */
static void *arena_alloc(struct arena *arena, size_t count, size_t size)
{
    struct arena_block *block = arena->blocks;
    size_t align = alignof(max_align_t);

    if (!size_mul_ok(count, size, &size) || size > SIZE_MAX / 2)
        msg_panic("arena_alloc: size overflow");
    size = (size + align - 1) & ~(align - 1);
    if (block == NULL || block->size - block->used < size) {
        size_t data_size = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
        block = xmalloc(sizeof(*block) + data_size);
        block->next = arena->blocks;
        block->used = 0;
        block->size = data_size;
        arena->blocks = block;
    }
    void *result = (unsigned char *)block->data + block->used;
    block->used += size;
    return result;
}

static char *arena_strdup(struct arena *arena, const char *s)
{
    size_t len = strlen(s);
    char *copy = arena_alloc(arena, len + 1, 1);

    memcpy(copy, s, len + 1);
    return copy;
}

static void arena_free(struct arena *arena)
{
    while (arena->blocks != NULL) {
        struct arena_block *next = arena->blocks->next;
        free(arena->blocks);
        arena->blocks = next;
    }
}

static uint64_t add_saturating(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Settings */

int rpt_check_settings(const struct rpt_settings *settings, char **error_r)
{
    const char *name = settings->organization_name, *contact = settings->contact_info;

    if (name == NULL || *name == '\0') {
        *error_r = xstrdup("organization_name is not set: RFC 8460 reports need it");
        return -1;
    }
    if (!tr_text_ok(name, strlen(name)) || strchr(name, '\t') != NULL) {
        *error_r = xstrdup("organization_name must be UTF-8 text without control characters");
        return -1;
    }
    if (strlen(name) > MAX_ORGANIZATION_NAME) {
        *error_r = xasprintf("organization_name is longer than %d bytes", MAX_ORGANIZATION_NAME);
        return -1;
    }
    if (strspn(name, " ") == strlen(name)) {
        *error_r = xstrdup("organization_name is only spaces");
        return -1;
    }
    if (contact == NULL || *contact == '\0') {
        *error_r = xstrdup("contact_info is not set: RFC 8460 reports need an addr-spec");
        return -1;
    }
    const char *at = strrchr(contact, '@');
    if (!tr_text_ok(contact, strlen(contact)) || at == NULL ||
        !rpt_local_part_ok(contact, (size_t)(at - contact))) {
        *error_r = xasprintf("contact_info \"%s\" is not an addr-spec local-part@domain",
                             tr_text_ok(contact, strlen(contact)) ? contact : "(not text)");
        return -1;
    }
    if (!rpt_mail_domain_ok(at + 1, strlen(at + 1))) {
        *error_r = xasprintf("contact_info \"%s\": the domain is not an A-label name with at "
                             "least two labels",
                             contact);
        return -1;
    }
    return 0;
}

char *rpt_submitter(const char *contact_info)
{
    const char *at = contact_info != NULL ? strrchr(contact_info, '@') : NULL;

    if (at == NULL || at[1] == '\0')
        return NULL;
    char *submitter = xstrdup(at + 1);
    for (char *p = submitter; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return submitter;
}

/* From counter keys to entries */

static void add_mx_host(struct arena *arena, struct out_policy *policy, const char *pattern)
{
    char host[RPT_HOST_SIZE];

    if (pattern == NULL || !rpt_host_normalize(pattern, true, host))
        return;
    for (size_t i = 0; i < policy->n_mx_hosts; i++)
        if (strcmp(policy->mx_hosts[i], host) == 0)
            return;
    policy->mx_hosts[policy->n_mx_hosts++] = arena_strdup(arena, host);
}

/* The mx patterns of a policy's "mx:" lines, for keys that carry none. */
static void mx_from_policy_lines(struct arena *arena, struct out_policy *policy)
{
    for (size_t i = 0; i < policy->n_strings; i++) {
        const char *line = policy->strings[i];
        if (strncmp(line, "mx:", 3) != 0)
            continue;
        line += 3 + strspn(line + 3, " \t");
        char *value = arena_strdup(arena, line);
        value[strcspn(value, " \t")] = '\0';
        add_mx_host(arena, policy, value);
    }
}

/* The policy object: §4.4 shapes for each type, or no-policy-found when none fits. */
static void policy_from_key(struct arena *arena, const struct ctr_key *key, struct out_policy *out)
{
    const struct tr_policy *policy = &key->policy;

    /* Counts are bounded by the table (TR_MAX_POLICY_STRINGS, TR_MAX_MX_HOSTS). */
    out->strings = arena_alloc(arena, policy->n_strings + 1, sizeof(char *));
    out->mx_hosts = arena_alloc(arena, policy->n_mx_hosts + policy->n_strings + 1, sizeof(char *));
    for (size_t i = 0; out->type != TR_POLICY_NONE && i < policy->n_strings; i++) {
        const char *in = policy->strings[i];
        char *normal;
        if (in == NULL)
            continue;
        normal = arena_alloc(arena, strlen(in) + 1, 1);
        if (out->type == TR_POLICY_STS ? rpt_sts_line_normalize(in, normal)
                                       : rpt_tlsa_normalize(in, normal))
            out->strings[out->n_strings++] = normal;
    }
    for (size_t i = 0; i < policy->n_mx_hosts; i++)
        add_mx_host(arena, out, policy->mx_hosts[i]);
    if (out->type == TR_POLICY_STS && out->n_mx_hosts == 0)
        mx_from_policy_lines(arena, out);
    /*
     * The strict profile needs the lines and mx patterns of an STS policy and
     * the RRs of a TLSA one. Without them no policy was found in the sense of
     * RFC 8460 §4 (a fetch error without a cached policy, an STS "mode: none"
     * policy, a bogus TLSA RRset): the failure details still say what failed.
     */
    if ((out->type == TR_POLICY_STS && (out->n_strings == 0 || out->n_mx_hosts == 0)) ||
        (out->type == TR_POLICY_TLSA && out->n_strings == 0)) {
        out->type = TR_POLICY_NONE;
        out->n_strings = 0;
    }
}

static bool detail_from_row(struct arena *arena, const struct ctr_detail *row,
                            struct out_detail *out)
{
    const struct tr_failure *in = &row->failure;
    char text[RPT_HOST_SIZE];

    if (row->count == 0 || (unsigned)in->result >= TR_RESULT_COUNT)
        return false;
    memset(&out->fields, 0, sizeof(out->fields));
    out->fields.result = in->result;
    out->count = row->count;
    if (in->sending_mta_ip != NULL && rpt_ip_normalize(in->sending_mta_ip, text))
        out->fields.sending_mta_ip = arena_strdup(arena, text);
    if (in->receiving_mx_hostname != NULL &&
        rpt_host_normalize(in->receiving_mx_hostname, false, text))
        out->fields.receiving_mx_hostname = arena_strdup(arena, text);
    if (rpt_text_ok(in->receiving_mx_helo))
        out->fields.receiving_mx_helo = in->receiving_mx_helo;
    if (in->receiving_ip != NULL && rpt_ip_normalize(in->receiving_ip, text))
        out->fields.receiving_ip = arena_strdup(arena, text);
    if (rpt_text_ok(in->additional_information) && rpt_uri_ok(in->additional_information))
        out->fields.additional_information = in->additional_information;
    if (rpt_text_ok(in->failure_reason_code))
        out->fields.failure_reason_code = in->failure_reason_code;
    return true;
}

/* false when the key's policy domain is not a name a report can carry. */
static bool entry_from_key(struct arena *arena, const struct ctr_key *key, struct out_policy *out)
{
    const char *domain = key->policy.domain != NULL ? key->policy.domain : key->domain;
    char host[RPT_HOST_SIZE];

    memset(out, 0, sizeof(*out));
    if (domain == NULL || (unsigned)key->policy.type >= TR_POLICY_TYPE_COUNT ||
        !rpt_host_normalize(domain, false, host))
        return false;
    out->type = key->policy.type;
    out->domain = arena_strdup(arena, host);
    policy_from_key(arena, key, out);
    out->success = key->success;
    out->failure = key->failure;
    out->details = arena_alloc(arena, key->n_details + 1, sizeof(*out->details));
    for (size_t i = 0; i < key->n_details; i++) {
        if (detail_from_row(arena, &key->details[i], &out->details[out->n_details])) {
            out->details[out->n_details].order = out->n_details;
            out->n_details++;
        }
    }
    return true;
}

/* Merging what became identical (address spellings, trailing dots, relabelling) */

static int compare_optional(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int compare_detail_fields(const struct out_detail *a, const struct out_detail *b)
{
    const struct tr_failure *x = &a->fields, *y = &b->fields;
    int order;

    if (x->result != y->result)
        return x->result < y->result ? -1 : 1;
    if ((order = compare_optional(x->sending_mta_ip, y->sending_mta_ip)) != 0 ||
        (order = compare_optional(x->receiving_mx_hostname, y->receiving_mx_hostname)) != 0 ||
        (order = compare_optional(x->receiving_mx_helo, y->receiving_mx_helo)) != 0 ||
        (order = compare_optional(x->receiving_ip, y->receiving_ip)) != 0 ||
        (order = compare_optional(x->additional_information, y->additional_information)) != 0)
        return order;
    return compare_optional(x->failure_reason_code, y->failure_reason_code);
}

static int sort_details_by_fields(const void *a, const void *b)
{
    const struct out_detail *x = a, *y = b;
    int order = compare_detail_fields(x, y);

    return order != 0 ? order : (x->order > y->order) - (x->order < y->order);
}

static int sort_details_by_count(const void *a, const void *b)
{
    const struct out_detail *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* Sums rows that read the same and orders them by count, then input order. */
static void details_finish(struct out_policy *policy)
{
    struct out_detail *details = policy->details;
    size_t kept = 0;

    if (policy->n_details < 2)
        return;
    qsort(details, policy->n_details, sizeof(*details), sort_details_by_fields);
    for (size_t i = 0; i < policy->n_details; i++) {
        if (kept > 0 && compare_detail_fields(&details[kept - 1], &details[i]) == 0)
            details[kept - 1].count = add_saturating(details[kept - 1].count, details[i].count);
        else
            details[kept++] = details[i];
    }
    policy->n_details = kept;
    qsort(details, kept, sizeof(*details), sort_details_by_count);
}

static int compare_lists(const char *const *a, size_t n_a, const char *const *b, size_t n_b)
{
    for (size_t i = 0; i < n_a && i < n_b; i++) {
        int order = strcmp(a[i], b[i]);
        if (order != 0)
            return order;
    }
    return (n_a > n_b) - (n_a < n_b);
}

static int compare_policies(const struct out_policy *x, const struct out_policy *y)
{
    int order;

    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if ((order = strcmp(x->domain, y->domain)) != 0 ||
        (order = compare_lists(x->strings, x->n_strings, y->strings, y->n_strings)) != 0)
        return order;
    return compare_lists(x->mx_hosts, x->n_mx_hosts, y->mx_hosts, y->n_mx_hosts);
}

static int sort_policies(const void *a, const void *b)
{
    const struct out_policy *x = *(const struct out_policy *const *)a;
    const struct out_policy *y = *(const struct out_policy *const *)b;
    int order = compare_policies(x, y);

    return order != 0 ? order : (x->order > y->order) - (x->order < y->order);
}

/* Entries with the same policy become the first of them: one entry per policy. */
static void merge_same_policies(struct arena *arena, struct out_policy *entries, size_t n)
{
    struct out_policy **sorted;

    if (n < 2)
        return;
    sorted = xcalloc(n, sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = &entries[i];
    qsort(sorted, n, sizeof(*sorted), sort_policies);
    for (size_t i = 0, j; i < n; i = j) {
        struct out_policy *first = sorted[i];
        size_t n_details = first->n_details;

        for (j = i + 1; j < n && compare_policies(first, sorted[j]) == 0; j++)
            n_details += sorted[j]->n_details;
        if (j == i + 1)
            continue;
        struct out_detail *details = arena_alloc(arena, n_details, sizeof(*details));
        size_t at = 0;
        for (size_t k = i; k < j; k++) {
            struct out_policy *entry = sorted[k];
            for (size_t d = 0; d < entry->n_details; d++, at++) {
                details[at] = entry->details[d];
                details[at].order = at;
            }
            if (k > i) {
                first->success = add_saturating(first->success, entry->success);
                first->failure = add_saturating(first->failure, entry->failure);
                entry->absorbed = true;
            }
        }
        first->details = details;
        first->n_details = n_details;
    }
    free(sorted);
}

/* JSON */

static void add(json_object *object, const char *key, json_object *value)
{
    json_object_object_add_ex(object, key, value,
                              JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

static void add_string(json_object *object, const char *key, const char *value)
{
    if (value != NULL)
        add(object, key, json_object_new_string(value));
}

/* I-JSON integers: counts are exact; beyond INT64_MAX they are capped. */
static json_object *json_count(uint64_t count)
{
    return json_object_new_int64(count > INT64_MAX ? INT64_MAX : (int64_t)count);
}

static json_object *json_strings(const char *const *items, size_t n)
{
    json_object *array = json_object_new_array_ext((int)n);

    for (size_t i = 0; i < n; i++)
        json_object_array_add(array, json_object_new_string(items[i]));
    return array;
}

static json_object *json_detail(const struct out_detail *detail)
{
    const struct tr_failure *f = &detail->fields;
    json_object *object = json_object_new_object();

    add_string(object, "result-type", tr_result_name(f->result));
    add_string(object, "sending-mta-ip", f->sending_mta_ip);
    add_string(object, "receiving-mx-hostname", f->receiving_mx_hostname);
    add_string(object, "receiving-mx-helo", f->receiving_mx_helo);
    add_string(object, "receiving-ip", f->receiving_ip);
    add(object, "failed-session-count", json_count(detail->count));
    add_string(object, "additional-information", f->additional_information);
    add_string(object, "failure-reason-code", f->failure_reason_code);
    return object;
}

static json_object *json_policy_entry(const struct out_policy *entry)
{
    json_object *object = json_object_new_object();
    json_object *policy = json_object_new_object();
    json_object *summary = json_object_new_object();
    json_object *details = json_object_new_array_ext((int)entry->n_details);

    add_string(policy, "policy-type", tr_policy_type_name(entry->type));
    add(policy, "policy-string", json_strings(entry->strings, entry->n_strings));
    add_string(policy, "policy-domain", entry->domain);
    add(policy, "mx-host", json_strings(entry->mx_hosts, entry->n_mx_hosts));
    add(object, "policy", policy);
    add(summary, "total-successful-session-count", json_count(entry->success));
    add(summary, "total-failure-session-count", json_count(entry->failure));
    add(object, "summary", summary);
    for (size_t i = 0; i < entry->n_details; i++)
        json_object_array_add(details, json_detail(&entry->details[i]));
    add(object, "failure-details", details);
    return object;
}

static char *report_json(const struct rpt_settings *settings, const char *day_text,
                         const char *report_id, const struct out_policy *entries, size_t n,
                         size_t *len_r)
{
    json_object *root = json_object_new_object();
    json_object *range = json_object_new_object();
    json_object *policies = json_object_new_array_ext((int)n);
    char start[32], end[32];
    size_t len;

    snprintf(start, sizeof(start), "%sT00:00:00Z", day_text);
    snprintf(end, sizeof(end), "%sT23:59:59Z", day_text);
    add_string(root, "organization-name", settings->organization_name);
    add_string(range, "start-datetime", start);
    add_string(range, "end-datetime", end);
    add(root, "date-range", range);
    add_string(root, "contact-info", settings->contact_info);
    add_string(root, "report-id", report_id);
    for (size_t i = 0; i < n; i++)
        if (!entries[i].absorbed)
            json_object_array_add(policies, json_policy_entry(&entries[i]));
    add(root, "policies", policies);

    const char *text = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len + 1);
    json_object_put(root);
    *len_r = len;
    return copy;
}

/* The report */

/* 16 hex digits, stable for (submitter, day, policy domain, record). */
static char *unique_id(const char *submitter, const char *day_text, const char *policy_domain,
                       const char *record)
{
    struct buf key;

    buf_init(&key);
    buf_puts(&key, submitter);
    buf_putc(&key, '\0');
    buf_puts(&key, day_text);
    buf_putc(&key, '\0');
    buf_puts(&key, policy_domain);
    buf_putc(&key, '\0');
    buf_puts(&key, record != NULL ? record : "");
    uint64_t hash = hash64(key.data, key.len, 0);
    buf_free(&key);
    return xasprintf("%016llx", (unsigned long long)hash);
}

int rpt_build(const struct rpt_settings *settings, int day, const char *policy_domain,
              const char *record, const struct ctr_key *const *keys, size_t n_keys,
              struct rpt_report *report, char **error_r)
{
    char domain[RPT_HOST_SIZE], day_text[DAY_TEXT_SIZE];
    struct arena arena = {NULL};
    struct out_policy *entries;
    size_t n_entries = 0;

    memset(report, 0, sizeof(*report));
    if (rpt_check_settings(settings, error_r) < 0)
        return -1;
    if (day < 0 || day > LAST_DAY) {
        *error_r = xasprintf("report day %d is outside 1970-01-01..9999-12-31", day);
        return -1;
    }
    if (policy_domain == NULL || !rpt_host_normalize(policy_domain, false, domain)) {
        *error_r = xstrdup("the policy domain of a report must be an A-label domain name");
        return -1;
    }
    if (n_keys == 0) {
        *error_r = xasprintf("no counter keys for %s", domain);
        return -1;
    }
    entries = xcalloc(n_keys, sizeof(*entries));
    for (size_t i = 0; i < n_keys; i++) {
        if (keys[i] != NULL && entry_from_key(&arena, keys[i], &entries[n_entries])) {
            entries[n_entries].order = n_entries;
            n_entries++;
        }
    }
    if (n_entries == 0) {
        free(entries);
        arena_free(&arena);
        *error_r =
            xasprintf("no counter key for %s has a policy domain a report can carry", domain);
        return -1;
    }
    merge_same_policies(&arena, entries, n_entries);
    for (size_t i = 0; i < n_entries; i++) {
        if (entries[i].absorbed)
            continue;
        details_finish(&entries[i]);
        report->successes = add_saturating(report->successes, entries[i].success);
        report->failures = add_saturating(report->failures, entries[i].failure);
    }

    char *submitter = rpt_submitter(settings->contact_info);
    long long begin = (long long)day * SECONDS_PER_DAY;
    day_format(day, day_text);
    report->day = day;
    report->policy_domain = xstrdup(domain);
    report->unique_id = unique_id(submitter, day_text, domain, record);
    report->report_id = xasprintf("%s_%s_%s", day_text, domain, report->unique_id);
    report->file_name = xasprintf("%s!%s!%lld!%lld!%s.json.gz", submitter, domain, begin,
                                  begin + SECONDS_PER_DAY - 1, report->unique_id);
    report->json =
        report_json(settings, day_text, report->report_id, entries, n_entries, &report->json_len);
    free(submitter);
    free(entries);
    arena_free(&arena);
    return 0;
}

void rpt_report_free(struct rpt_report *report)
{
    free(report->policy_domain);
    free(report->report_id);
    free(report->unique_id);
    free(report->file_name);
    free(report->json);
    memset(report, 0, sizeof(*report));
}
