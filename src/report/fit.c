/*
 * fit.c - working on a built report: the failure counts per result type
 * for the human-readable part of the report mail, and making a report fit
 * max_report_size by dropping its least frequent failure details (the
 * summary counts stay: receivers see every session, with fewer details).
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static json_object *parse(const char *json, size_t len, char **error_r)
{
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);

    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        *error_r = xstrdup("not a report (JSON object expected)");
        json_object_put(root);
        root = NULL;
    }
    json_tokener_free(tok);
    return root;
}

static json_object *member(json_object *object, const char *key)
{
    json_object *value = NULL;

    return json_object_object_get_ex(object, key, &value) ? value : NULL;
}

int rpt_top_failures(const char *json, size_t len, struct rpt_result_count *out, size_t max,
                     char **error_r)
{
    json_object *root = parse(json, len, error_r);
    size_t n = 0;

    if (root == NULL)
        return -1;
    json_object *policies = member(root, "policies");
    for (size_t p = 0; policies && p < json_object_array_length(policies); p++) {
        json_object *details = member(json_object_array_get_idx(policies, p), "failure-details");
        for (size_t d = 0; details && d < json_object_array_length(details); d++) {
            json_object *detail = json_object_array_get_idx(details, d);
            const char *type = json_object_get_string(member(detail, "result-type"));
            uint64_t count = (uint64_t)json_object_get_int64(member(detail, "failed-session-count"));
            if (type == NULL)
                continue;
            size_t i;
            for (i = 0; i < n && strcmp(out[i].result_type, type) != 0; i++)
                continue;
            if (i == n) {
                if (n == max)
                    continue;
                snprintf(out[n].result_type, sizeof(out[n].result_type), "%s", type);
                out[n++].count = 0;
            }
            out[i].count += count;
        }
    }
    json_object_put(root);
    /* Most first; few entries, so a simple insertion sort. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && out[j].count > out[j - 1].count; j--) {
            struct rpt_result_count t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return (int)n;
}

struct detail_ref {
    json_object *details;
    size_t index;
    int64_t count;
};

static int compare_count(const void *a, const void *b)
{
    const struct detail_ref *x = a, *y = b;
    return (x->count > y->count) - (x->count < y->count);
}

static int serialize(json_object *root, struct buf *json_out, struct buf *gzip_out,
                     char **error_r)
{
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    buf_reset(json_out);
    buf_puts(json_out, text);
    return rpt_gzip(json_out->data, json_out->len, gzip_out, error_r);
}

int rpt_fit(const char *json, size_t len, size_t max_gzip, struct buf *json_out,
            struct buf *gzip_out, size_t *dropped, char **error_r)
{
    *dropped = 0;
    buf_reset(json_out);
    buf_append(json_out, json, len);
    if (rpt_gzip(json, len, gzip_out, error_r) < 0)
        return -1;
    if (gzip_out->len <= max_gzip)
        return 0;
    json_object *root = parse(json, len, error_r);
    if (root == NULL)
        return -1;
    struct detail_ref *refs = NULL;
    size_t n = 0;
    json_object *policies = member(root, "policies");
    for (size_t p = 0; policies && p < json_object_array_length(policies); p++) {
        json_object *details = member(json_object_array_get_idx(policies, p), "failure-details");
        for (size_t d = 0; details && d < json_object_array_length(details); d++) {
            refs = xreallocarray(refs, n + 1, sizeof(*refs));
            refs[n++] = (struct detail_ref){
                details, d,
                json_object_get_int64(
                    member(json_object_array_get_idx(details, d), "failed-session-count"))};
        }
    }
    qsort(refs, n, sizeof(*refs), compare_count);
    if (n == 0) {
        *error_r = xasprintf("the report does not fit in %zu bytes and has no failure details "
                             "to drop",
                             max_gzip);
        json_object_put(root);
        return -1;
    }
    /* Drop ever more of the least frequent, a tenth of them at a time. */
    int result = -1;
    for (size_t drop = n / 10 > 0 ? n / 10 : 1; drop <= n; drop += n / 10 > 0 ? n / 10 : 1) {
        for (size_t i = *dropped; i < drop; i++)
            json_object_array_put_idx(refs[i].details, refs[i].index, NULL);
        *dropped = drop;
        /* The nulls left behind are removed before serializing. */
        for (size_t p = 0; policies && p < json_object_array_length(policies); p++) {
            json_object *details = member(json_object_array_get_idx(policies, p), "failure-details");
            for (size_t d = json_object_array_length(details); details && d > 0; d--)
                if (json_object_array_get_idx(details, d - 1) == NULL)
                    json_object_array_del_idx(details, d - 1, 1);
        }
        /* Indexes moved: recompute the references of what is left. */
        size_t kept = 0;
        for (size_t p = 0; policies && p < json_object_array_length(policies); p++) {
            json_object *details = member(json_object_array_get_idx(policies, p), "failure-details");
            for (size_t d = 0; details && d < json_object_array_length(details); d++)
                refs[drop + kept++] = (struct detail_ref){
                    details, d,
                    json_object_get_int64(
                        member(json_object_array_get_idx(details, d), "failed-session-count"))};
        }
        qsort(refs + drop, kept, sizeof(*refs), compare_count);
        if (serialize(root, json_out, gzip_out, error_r) < 0)
            break;
        if (gzip_out->len <= max_gzip) {
            result = 0;
            break;
        }
        if (drop == n) {
            *error_r = xasprintf("the report does not fit in %zu bytes even without failure "
                                 "details",
                                 max_gzip);
            break;
        }
        if (drop + (n / 10 > 0 ? n / 10 : 1) > n)
            drop = n - (n / 10 > 0 ? n / 10 : 1);
    }
    free(refs);
    json_object_put(root);
    return result;
}
