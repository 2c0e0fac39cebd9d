/*
 * parse.c - libtlsrpt datagrams (Postfix >= 3.10) into events, with json-c.
 * Strict: a datagram that breaks any rule or limit is rejected as a whole
 * with a named reason, so nothing a sender writes can corrupt the table.
 * Unknown keys are ignored, so a newer libtlsrpt does not break us.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "util.h"
#include "value.h"

/* Generous: libtlsrpt nests 4 levels (datagram, policies, policy, details). */
#define PARSE_MAX_DEPTH 8

static const char *const reject_names[COLLECTOR_REJECT_COUNT] = {
    [COLLECTOR_REJECT_TOO_LARGE] = "too-large",
    [COLLECTOR_REJECT_NUL_BYTE] = "nul-byte",
    [COLLECTOR_REJECT_BAD_JSON] = "bad-json",
    [COLLECTOR_REJECT_BAD_UTF8] = "bad-utf8",
    [COLLECTOR_REJECT_TOO_DEEP] = "too-deep",
    [COLLECTOR_REJECT_BAD_TYPE] = "bad-type",
    [COLLECTOR_REJECT_BAD_DPV] = "bad-dpv",
    [COLLECTOR_REJECT_UNKNOWN_DPV] = "unknown-dpv",
    [COLLECTOR_REJECT_MISSING_FIELD] = "missing-field",
    [COLLECTOR_REJECT_BAD_DOMAIN] = "bad-domain",
    [COLLECTOR_REJECT_BAD_POLICY_TYPE] = "bad-policy-type",
    [COLLECTOR_REJECT_BAD_CODE] = "bad-code",
    [COLLECTOR_REJECT_BAD_TEXT] = "bad-text",
    [COLLECTOR_REJECT_TOO_MANY] = "too-many",
    [COLLECTOR_REJECT_INCONSISTENT] = "inconsistent",
};

const char *collector_reject_name(enum collector_reject reason)
{
    if ((unsigned)reason >= COLLECTOR_REJECT_COUNT)
        msg_panic("collector_reject_name: bad reason %d", (int)reason);
    return reject_names[reason];
}

void collector_format_rejects(const uint64_t counts[COLLECTOR_REJECT_COUNT], struct buf *out)
{
    const char *separator = " (";

    for (int i = 0; i < COLLECTOR_REJECT_COUNT; i++) {
        if (counts[i] == 0)
            continue;
        buf_printf(out, "%s%s %llu", separator, reject_names[i], (unsigned long long)counts[i]);
        separator = ", ";
    }
    if (separator[0] == ',')
        buf_putc(out, ')');
}

/* libtlsrpt's failure codes (tlsrpt.h) and the RFC 8460 names they stand for. */
static const struct {
    int code;
    enum tr_result result;
} failure_codes[] = {
    {201, TR_RESULT_STARTTLS_NOT_SUPPORTED},
    {202, TR_RESULT_CERTIFICATE_HOST_MISMATCH},
    {203, TR_RESULT_CERTIFICATE_NOT_TRUSTED},
    {204, TR_RESULT_CERTIFICATE_EXPIRED},
    {205, TR_RESULT_VALIDATION_FAILURE},
    {301, TR_RESULT_STS_POLICY_FETCH_ERROR},
    {302, TR_RESULT_STS_POLICY_INVALID},
    {303, TR_RESULT_STS_WEBPKI_INVALID},
    {304, TR_RESULT_TLSA_INVALID},
    {305, TR_RESULT_DNSSEC_INVALID},
    {306, TR_RESULT_DANE_REQUIRED},
};

struct collector_parser {
    json_tokener *tokener;
    json_object *root;         /* of the last datagram json-c read; its strings back the event */
    struct value_arena values; /* the tree checked, copied from json-c's */
    size_t max_size;
    /* Copies that had to be changed (lower-cased domains, EHLO names). */
    char *scratch;
    size_t scratch_size, scratch_used;
    struct tr_event event;
    struct tr_policy policies[TR_MAX_POLICIES];
    const char *strings[TR_MAX_POLICIES][TR_MAX_POLICY_STRINGS];
    const char *mx_hosts[TR_MAX_POLICIES][TR_MAX_MX_HOSTS];
    struct tr_failure failures[TR_MAX_POLICIES][TR_MAX_FAILURES];
};

/* The failure of one parse step: reason plus a short explanation. */
struct parse_error {
    enum collector_reject reason;
    const char *detail;
};

static json_tokener *tokener_new(void)
{
    json_tokener *tokener = json_tokener_new_ex(PARSE_MAX_DEPTH);

    if (tokener == NULL)
        msg_fatal("json_tokener_new_ex: out of memory");
    json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    return tokener;
}

struct collector_parser *collector_parser_create(size_t max_size)
{
    struct collector_parser *parser = xcalloc(1, sizeof(*parser));

    parser->tokener = tokener_new();
    parser->max_size = max_size;
    /* Every copy is a piece of the datagram, so its size bounds them all. */
    parser->scratch_size = max_size + 1024;
    parser->scratch = xmalloc(parser->scratch_size);
    value_arena_init(&parser->values, max_size);
    return parser;
}

void collector_parser_destroy(struct collector_parser *parser)
{
    if (parser == NULL)
        return;
    if (parser->root)
        json_object_put(parser->root);
    json_tokener_free(parser->tokener);
    value_arena_free(&parser->values);
    free(parser->scratch);
    free(parser);
}

static char *scratch_copy(struct collector_parser *parser, const char *s, size_t len)
{
    if (parser->scratch_size - parser->scratch_used < len + 1)
        return NULL;
    char *copy = parser->scratch + parser->scratch_used;
    memcpy(copy, s, len);
    copy[len] = '\0';
    parser->scratch_used += len + 1;
    return copy;
}

size_t collector_helo_name(const char *reply, size_t len, char *out, size_t out_size)
{
    size_t i = 0, n = 0;

    /* Only the first line matters: "250-name greeting" or "250 name" (a bare "250": none). */
    if (len >= 3 && reply[0] >= '0' && reply[0] <= '9' && reply[1] >= '0' && reply[1] <= '9' &&
        reply[2] >= '0' && reply[2] <= '9' &&
        (len == 3 || reply[3] == '-' || reply[3] == ' ' || reply[3] == '\r' || reply[3] == '\n'))
        i = len > 3 && (reply[3] == '-' || reply[3] == ' ') ? 4 : 3;
    while (i < len && reply[i] == ' ')
        i++;
    while (i < len && n + 1 < out_size) {
        char c = reply[i++];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            break;
        out[n++] = c;
    }
    if (out_size > 0)
        out[n] = '\0';
    return n;
}

/*
 * A string member: absent is fine unless required; present, it must be a
 * JSON string without NUL, within max bytes, of printable UTF-8.
 */
/* A member that is there and not null. */
static const struct value *present(const struct value *object, const char *key)
{
    const struct value *member = value_member(object, key);

    return member != NULL && member->type != VALUE_NULL ? member : NULL;
}

static int get_string(const struct value *object, const char *key, bool required, size_t max,
                      const char **value, size_t *len_out, struct parse_error *error)
{
    const struct value *member = present(object, key);

    *value = NULL;
    if (member == NULL) {
        if (!required)
            return 0;
        error->reason = COLLECTOR_REJECT_MISSING_FIELD;
        error->detail = key;
        return -1;
    }
    if (member->type != VALUE_STRING) {
        error->reason = COLLECTOR_REJECT_BAD_TYPE;
        error->detail = key;
        return -1;
    }
    const char *s = member->string;
    size_t len = member->len;
    if (len > max) {
        error->reason = COLLECTOR_REJECT_BAD_TEXT;
        error->detail = key;
        return -1;
    }
    if (memchr(s, '\0', len)) {
        error->reason = COLLECTOR_REJECT_NUL_BYTE;
        error->detail = key;
        return -1;
    }
    *value = s;
    if (len_out)
        *len_out = len;
    return 0;
}

static int get_int(const struct value *object, const char *key, bool required, int64_t *value,
                   bool *present_r, struct parse_error *error)
{
    const struct value *member = present(object, key);

    *present_r = member != NULL;
    if (!*present_r) {
        if (!required)
            return 0;
        error->reason = COLLECTOR_REJECT_MISSING_FIELD;
        error->detail = key;
        return -1;
    }
    if (member->type != VALUE_INT) {
        error->reason = COLLECTOR_REJECT_BAD_TYPE;
        error->detail = key;
        return -1;
    }
    *value = member->number;
    return 0;
}

/* An optional array member with at most `max` elements; *array NULL if absent. */
static int get_array(const struct value *object, const char *key, size_t max,
                     const struct value **array, struct parse_error *error)
{
    *array = present(object, key);
    if (*array == NULL)
        return 0;
    if ((*array)->type != VALUE_ARRAY) {
        error->reason = COLLECTOR_REJECT_BAD_TYPE;
        error->detail = key;
        return -1;
    }
    if ((*array)->len > max) {
        error->reason = COLLECTOR_REJECT_TOO_MANY;
        error->detail = key;
        return -1;
    }
    return 0;
}

/* A domain as a key: lower-cased, one trailing dot removed, A-labels only. */
static int normalize_domain(struct collector_parser *parser, const char *name, size_t len,
                            const char **result, const char *key, struct parse_error *error)
{
    const char *why;
    char *copy = scratch_copy(parser, name, len);

    if (copy == NULL) {
        error->reason = COLLECTOR_REJECT_TOO_LARGE;
        error->detail = key;
        return -1;
    }
    if (tr_domain_normalize(copy, &why) < 0) {
        error->reason = COLLECTOR_REJECT_BAD_DOMAIN;
        error->detail = key;
        return -1;
    }
    *result = copy;
    return 0;
}

static int parse_string_array(const struct value *policy, const char *key, size_t max,
                              const char **items, size_t *n_items, size_t item_max,
                              struct parse_error *error)
{
    const struct value *array;

    *n_items = 0;
    if (get_array(policy, key, max, &array, error) < 0)
        return -1;
    if (array == NULL)
        return 0;
    size_t i = 0;
    for (const struct value *item = array->first; item != NULL; item = item->next, i++) {
        size_t len;
        if (item->type != VALUE_STRING) {
            error->reason = COLLECTOR_REJECT_BAD_TYPE;
            error->detail = key;
            return -1;
        }
        items[i] = item->string;
        len = item->len;
        if (len > item_max || memchr(items[i], '\0', len)) {
            error->reason = len > item_max ? COLLECTOR_REJECT_BAD_TEXT : COLLECTOR_REJECT_NUL_BYTE;
            error->detail = key;
            return -1;
        }
    }
    *n_items = array->len;
    return 0;
}

static int parse_failure(struct collector_parser *parser, const struct value *detail,
                         struct tr_failure *failure, struct parse_error *error)
{
    int64_t code;
    bool present;
    const char *helo;
    size_t helo_len;

    if (detail->type != VALUE_OBJECT) {
        error->reason = COLLECTOR_REJECT_BAD_TYPE;
        error->detail = "failure-details";
        return -1;
    }
    if (get_int(detail, "c", true, &code, &present, error) < 0)
        return -1;
    size_t i;
    for (i = 0; i < UTIL_ARRAY_LEN(failure_codes); i++)
        if (failure_codes[i].code == code)
            break;
    if (i == UTIL_ARRAY_LEN(failure_codes)) {
        error->reason = COLLECTOR_REJECT_BAD_CODE;
        error->detail = "c";
        return -1;
    }
    failure->result = failure_codes[i].result;
    if (get_string(detail, "s", false, TR_MAX_STRING, &failure->sending_mta_ip, NULL, error) < 0 ||
        get_string(detail, "n", false, TR_MAX_STRING, &failure->receiving_mx_hostname, NULL,
                   error) < 0 ||
        get_string(detail, "h", false, 65536, &helo, &helo_len, error) < 0 ||
        get_string(detail, "r", false, TR_MAX_STRING, &failure->receiving_ip, NULL, error) < 0 ||
        get_string(detail, "a", false, TR_MAX_STRING, &failure->additional_information, NULL,
                   error) < 0 ||
        get_string(detail, "f", false, TR_MAX_STRING, &failure->failure_reason_code, NULL, error) <
            0)
        return -1;
    failure->receiving_mx_helo = NULL;
    if (helo) {
        /* Room for one byte more than allowed, so a longer name is seen, not cut. */
        char name[TR_MAX_STRING + 2];
        size_t n = collector_helo_name(helo, helo_len, name, sizeof(name));
        if (n > TR_MAX_STRING) {
            error->reason = COLLECTOR_REJECT_BAD_TEXT;
            error->detail = "h";
            return -1;
        }
        if (n > 0 && (failure->receiving_mx_helo = scratch_copy(parser, name, n)) == NULL) {
            error->reason = COLLECTOR_REJECT_TOO_LARGE;
            error->detail = "h";
            return -1;
        }
    }
    return 0;
}

static int parse_policy(struct collector_parser *parser, size_t index, const struct value *object,
                        struct parse_error *error)
{
    struct tr_policy *policy = &parser->policies[index];
    int64_t type, final_result, count = 0;
    bool present, count_present;
    const char *domain;
    size_t domain_len;
    const struct value *details;

    memset(policy, 0, sizeof(*policy));
    if (object->type != VALUE_OBJECT) {
        error->reason = COLLECTOR_REJECT_BAD_TYPE;
        error->detail = "policies";
        return -1;
    }
    if (get_int(object, "policy-type", true, &type, &present, error) < 0)
        return -1;
    switch (type) {
    case 1:
        policy->type = TR_POLICY_TLSA;
        break;
    case 2:
        policy->type = TR_POLICY_STS;
        break;
    case 9:
        policy->type = TR_POLICY_NONE;
        break;
    default:
        error->reason = COLLECTOR_REJECT_BAD_POLICY_TYPE;
        error->detail = "policy-type";
        return -1;
    }
    if (get_string(object, "policy-domain", false, TR_MAX_DOMAIN + 1, &domain, &domain_len, error) <
        0)
        return -1;
    if (domain &&
        normalize_domain(parser, domain, domain_len, &policy->domain, "policy-domain", error) < 0)
        return -1;
    if (parse_string_array(object, "policy-string", TR_MAX_POLICY_STRINGS, parser->strings[index],
                           &policy->n_strings, TR_MAX_STRING, error) < 0 ||
        parse_string_array(object, "mx-host", TR_MAX_MX_HOSTS, parser->mx_hosts[index],
                           &policy->n_mx_hosts, TR_MAX_DOMAIN + 2, error) < 0)
        return -1;
    policy->strings = parser->strings[index];
    policy->mx_hosts = parser->mx_hosts[index];
    if (get_array(object, "failure-details", TR_MAX_FAILURES, &details, error) < 0)
        return -1;
    size_t n_details = details ? details->len : 0, i = 0;
    for (const struct value *detail = details ? details->first : NULL; detail != NULL;
         detail = detail->next)
        if (parse_failure(parser, detail, &parser->failures[index][i++], error) < 0)
            return -1;
    policy->failures = parser->failures[index];
    policy->n_failures = n_details;
    if (get_int(object, "t", false, &count, &count_present, error) < 0 ||
        get_int(object, "f", true, &final_result, &present, error) < 0)
        return -1;
    if (final_result != 0 && final_result != 1) {
        error->reason = COLLECTOR_REJECT_BAD_TYPE;
        error->detail = "f";
        return -1;
    }
    policy->failed = final_result == 1;
    /* "t" counts the details libtlsrpt wrote; a mismatch means a damaged datagram. */
    if ((count_present && count != (int64_t)n_details) || (n_details > 0 && !policy->failed)) {
        error->reason = COLLECTOR_REJECT_INCONSISTENT;
        error->detail = count_present && count != (int64_t)n_details ? "t" : "f";
        return -1;
    }
    return 0;
}

static int parse_root(struct collector_parser *parser, const struct value *root, time_t when,
                      struct parse_error *error)
{
    const char *domain, *record;
    size_t domain_len;
    const struct value *policies;

    if (root == NULL || root->type != VALUE_OBJECT) {
        error->reason = COLLECTOR_REJECT_BAD_TYPE;
        error->detail = "datagram";
        return -1;
    }
    /* Older libtlsrpt releases sent no "dpv"; they speak version 1. */
    const struct value *dpv = value_member(root, "dpv");
    if (dpv != NULL) {
        if (dpv->type != VALUE_STRING) {
            error->reason = COLLECTOR_REJECT_BAD_DPV;
            error->detail = "dpv";
            return -1;
        }
        if (dpv->len != 1 || strcmp(dpv->string, "1") != 0) {
            error->reason = COLLECTOR_REJECT_UNKNOWN_DPV;
            error->detail = "dpv";
            return -1;
        }
    }
    if (get_string(root, "d", true, TR_MAX_DOMAIN + 1, &domain, &domain_len, error) < 0 ||
        normalize_domain(parser, domain, domain_len, &parser->event.domain, "d", error) < 0 ||
        get_string(root, "pr", false, TR_MAX_RECORD, &record, NULL, error) < 0)
        return -1;
    parser->event.record = record;
    if (present(root, "policies") == NULL) {
        error->reason = COLLECTOR_REJECT_MISSING_FIELD;
        error->detail = "policies";
        return -1;
    }
    if (get_array(root, "policies", TR_MAX_POLICIES, &policies, error) < 0)
        return -1;
    size_t n = policies->len, i = 0;
    if (n == 0) {
        error->reason = COLLECTOR_REJECT_MISSING_FIELD;
        error->detail = "policies";
        return -1;
    }
    for (const struct value *policy = policies->first; policy != NULL; policy = policy->next)
        if (parse_policy(parser, i++, policy, error) < 0)
            return -1;
    parser->event.time = when;
    parser->event.policies = parser->policies;
    parser->event.n_policies = n;
    return 0;
}

/* json-c's strict parse, its tree copied into the parser's arena. */
static int read_json_c(struct collector_parser *parser, const char *data, size_t len,
                       const struct value **root, enum collector_reject *reason,
                       const char **detail)
{
    json_tokener_reset(parser->tokener);
    parser->root = json_tokener_parse_ex(parser->tokener, data, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(parser->tokener);
    /* A successful parse may still give NULL (the datagram "null"): parse_root says bad-type. */
    if (jerr != json_tokener_success) {
        *reason = jerr == json_tokener_error_parse_utf8_string ? COLLECTOR_REJECT_BAD_UTF8
                  : jerr == json_tokener_error_depth           ? COLLECTOR_REJECT_TOO_DEEP
                                                               : COLLECTOR_REJECT_BAD_JSON;
        *detail = jerr == json_tokener_continue ? "truncated" : json_tokener_error_desc(jerr);
        /*
         * json_tokener_reset() keeps some state of a parse cut short (json-c
         * 0.16: a pending \u high surrogate), which would change how the next
         * datagram reads. A fresh tokener after every failure: failures are rare.
         */
        json_tokener_free(parser->tokener);
        parser->tokener = tokener_new();
        if (parser->root) {
            json_object_put(parser->root);
            parser->root = NULL;
        }
        return -1;
    }
    /* The arena has room for a value per byte: only a bug makes this fail. */
    if ((*root = value_from_json(&parser->values, parser->root)) == NULL)
        msg_panic("collector_parse: the tree of a %zu-byte datagram does not fit", len);
    return 0;
}

int collector_parse(struct collector_parser *parser, const char *data, size_t len, time_t when,
                    const struct tr_event **event, enum collector_reject *reason,
                    const char **detail)
{
    struct parse_error error = {COLLECTOR_REJECT_BAD_JSON, "syntax"};

    if (parser->root) {
        json_object_put(parser->root);
        parser->root = NULL;
    }
    parser->scratch_used = 0;
    if (len > parser->max_size) {
        *reason = COLLECTOR_REJECT_TOO_LARGE;
        *detail = "datagram";
        return -1;
    }
    if (memchr(data, '\0', len)) {
        *reason = COLLECTOR_REJECT_NUL_BYTE;
        *detail = "datagram";
        return -1;
    }
    const struct value *root;
    if (read_json_c(parser, data, len, &root, reason, detail) < 0)
        return -1;
    if (parse_root(parser, root, when, &error) < 0) {
        *reason = error.reason;
        *detail = error.detail;
        return -1;
    }
    /* Last line of defence: the same checks every capture path passes. */
    const char *why;
    if (tr_event_check(&parser->event, &why) < 0) {
        *reason = COLLECTOR_REJECT_BAD_TEXT;
        *detail = why;
        return -1;
    }
    *event = &parser->event;
    return 0;
}
