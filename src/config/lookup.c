/*
 * lookup.c - what a parameter's value means: $name expansion at lookup time,
 * the typed parsers and bounds, validation, and the getters that cache
 * expanded and parsed values until a definition changes.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "cfg_impl.h"
#include "util.h"

/* How much of a value an expansion error quotes, to keep messages one line. */
#define QUOTE_MAX 40

/* ---- slots and their caches ---- */

const char *cfg_slot_name(const struct cfg_slot *slot)
{
    return slot->param ? slot->param->name : slot->unknown_name;
}

const char *cfg_slot_raw(const struct cfg_slot *slot)
{
    return slot->raw ? slot->raw : slot->param->default_value;
}

struct cfg_slot *cfg_slot_find(struct cfg *cfg, const char *name, size_t len)
{
    const struct cfg_param *param = cfg_param_find_len(name, len);
    size_t low = 0;
    size_t high = cfg->unknown_count;

    if (param != NULL)
        return &cfg->declared[param - cfg_params];
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        const char *candidate = cfg->unknown[middle].unknown_name;
        int order = strncmp(name, candidate, len);

        if (order == 0 && candidate[len] != '\0')
            order = -1;
        if (order == 0)
            return &cfg->unknown[middle];
        if (order < 0)
            high = middle;
        else
            low = middle + 1;
    }
    return NULL;
}

void cfg_retire(struct cfg *cfg, void *pointer)
{
    if (pointer == NULL)
        return;
    if (cfg->retired_count == cfg->retired_capacity) {
        size_t capacity = cfg->retired_capacity ? cfg->retired_capacity : 16;
        if (cfg->retired_capacity != 0 && !size_mul_ok(capacity, 2, &capacity))
            msg_fatal("cfg: too many replaced values");
        cfg->retired = xreallocarray(cfg->retired, capacity, sizeof(*cfg->retired));
        cfg->retired_capacity = capacity;
    }
    cfg->retired[cfg->retired_count++] = pointer;
}

static bool slot_has_items(const struct cfg_slot *slot)
{
    return slot->typed_ready && slot->param && slot->param->type == CFG_LIST;
}

/* Drops one slot's caches; retired ones stay valid for callers that hold them. */
static void slot_forget(struct cfg *cfg, struct cfg_slot *slot, bool retire)
{
    if (slot_has_items(slot)) {
        if (retire)
            cfg_retire(cfg, slot->typed.items);
        else
            free(slot->typed.items);
    }
    if (retire)
        cfg_retire(cfg, slot->expanded);
    else
        free(slot->expanded);
    slot->expanded = NULL;
    slot->expand_state = CFG_UNEXPANDED;
    slot->typed_ready = false;
}

void cfg_forget_caches(struct cfg *cfg, bool retire)
{
    /* Any value may refer to any other, so a change invalidates them all. */
    for (size_t i = 0; i < cfg_param_count; i++)
        slot_forget(cfg, &cfg->declared[i], retire);
    for (size_t i = 0; i < cfg->unknown_count; i++)
        slot_forget(cfg, &cfg->unknown[i], retire);
}

void cfg_slot_free(struct cfg_slot *slot)
{
    if (slot_has_items(slot))
        free(slot->typed.items);
    free(slot->expanded);
    free(slot->raw);
    free(slot->unknown_name);
}

/* ---- $name expansion ---- */

static bool is_name_char(char c)
{
    return cfg_name_is_valid(&c, 1);
}

static int append_limited(struct buf *out, const char *data, size_t len, char **error_r)
{
    if (len > CFG_MAX_EXPANDED_SIZE - out->len) {
        *error_r = xasprintf("expanded value too long (max %zu bytes)", CFG_MAX_EXPANDED_SIZE);
        return -1;
    }
    buf_append(out, data, len);
    return 0;
}

static int expand_text(struct cfg *cfg, const char *text, size_t len, int depth, struct buf *out,
                       char **error_r);

static int expand_reference(struct cfg *cfg, const char *name, size_t len, int depth,
                            const char **value, char **error_r);

static int slot_expand_at(struct cfg *cfg, struct cfg_slot *slot, int depth, const char **value,
                          char **error_r)
{
    struct buf result = {0};
    const char *raw;

    if (slot->expand_state == CFG_EXPANDED) {
        *value = slot->expanded;
        return 0;
    }
    if (slot->expand_state == CFG_EXPANDING) {
        *error_r = xasprintf("expansion loop via $%s", cfg_slot_name(slot));
        return -1;
    }
    /* Caching each parameter's expansion also keeps $a$a chains from growing exponentially. */
    slot->expand_state = CFG_EXPANDING;
    raw = cfg_slot_raw(slot);
    if (expand_text(cfg, raw, strlen(raw), depth + 1, &result, error_r) < 0) {
        slot->expand_state = CFG_UNEXPANDED;
        buf_free(&result);
        return -1;
    }
    const struct cfg_derived *derived =
        slot->raw == NULL && slot->param != NULL ? cfg_derived_find(slot->param) : NULL;
    if (derived != NULL) {
        const char *source;
        char *computed;
        if (expand_reference(cfg, derived->source, strlen(derived->source), depth + 1, &source,
                             error_r) < 0) {
            slot->expand_state = CFG_UNEXPANDED;
            buf_free(&result);
            return -1;
        }
        if ((computed = derived->derive(source)) != NULL) {
            buf_reset(&result);
            buf_puts(&result, computed);
            free(computed);
        }
    }
    slot->expanded = buf_steal(&result);
    slot->expand_state = CFG_EXPANDED;
    *value = slot->expanded;
    return 0;
}

int cfg_slot_expand(struct cfg *cfg, struct cfg_slot *slot, const char **value, char **error_r)
{
    return slot_expand_at(cfg, slot, 0, value, error_r);
}

static int expand_reference(struct cfg *cfg, const char *name, size_t len, int depth,
                            const char **value, char **error_r)
{
    struct cfg_slot *slot = cfg_slot_find(cfg, name, len);

    if (slot == NULL) {
        *error_r = xasprintf("undefined parameter $%.*s", (int)len, name);
        return -1;
    }
    return slot_expand_at(cfg, slot, depth, value, error_r);
}

/*
 * ${name}, $(name), ${name?text}, ${name:text} (and with parentheses): *position
 * is at the opening bracket and ends after the closing one. The text part may
 * hold further brackets of the same kind as long as they balance.
 */
static int expand_bracketed(struct cfg *cfg, const char *text, size_t len, size_t *position,
                            int depth, struct buf *out, char **error_r)
{
    size_t dollar = *position - 1;
    char open = text[*position];
    char close = open == '{' ? '}' : ')';
    size_t name_start = *position + 1;
    size_t cursor = name_start;
    size_t name_len, text_start;
    char selector; /* '}' or ')' closing the name, or '?' or ':' */
    int level = 1;
    const char *value;
    size_t quoted = len - dollar < QUOTE_MAX ? len - dollar : QUOTE_MAX;

    while (cursor < len && is_name_char(text[cursor]))
        cursor++;
    name_len = cursor - name_start;
    if (cursor == len)
        goto unbalanced;
    if (name_len == 0) {
        *error_r = xasprintf("missing parameter name after \"$%c\"", open);
        return -1;
    }
    selector = text[cursor];
    if (selector == close) {
        *position = cursor + 1;
        if (expand_reference(cfg, text + name_start, name_len, depth, &value, error_r) < 0)
            return -1;
        return append_limited(out, value, strlen(value), error_r);
    }
    if (selector != '?' && selector != ':') {
        *error_r = xasprintf("unexpected '%c' after \"$%c%.*s\" (expected '%c', '?' or ':')",
                             selector, open, (int)name_len, text + name_start, close);
        return -1;
    }
    text_start = ++cursor;
    for (; cursor < len; cursor++) {
        if (text[cursor] == open)
            level++;
        else if (text[cursor] == close && --level == 0)
            break;
    }
    if (cursor == len)
        goto unbalanced;
    *position = cursor + 1;
    if (expand_reference(cfg, text + name_start, name_len, depth, &value, error_r) < 0)
        return -1;
    /* '?' wants a non-empty value, ':' an empty one; the other case expands to nothing. */
    if ((selector == '?') == (*value != '\0'))
        return expand_text(cfg, text + text_start, cursor - text_start, depth + 1, out, error_r);
    return 0;

unbalanced:
    *error_r = xasprintf("unbalanced '%c' in \"%.*s\"", open, (int)quoted, text + dollar);
    return -1;
}

static int expand_text(struct cfg *cfg, const char *text, size_t len, int depth, struct buf *out,
                       char **error_r)
{
    size_t position = 0;

    if (depth > CFG_MAX_EXPANSION_DEPTH) {
        *error_r = xasprintf("expansion too deep (more than %d levels)", CFG_MAX_EXPANSION_DEPTH);
        return -1;
    }
    while (position < len) {
        const char *dollar = memchr(text + position, '$', len - position);
        size_t literal = dollar ? (size_t)(dollar - (text + position)) : len - position;
        size_t name_start;
        const char *value;

        if (append_limited(out, text + position, literal, error_r) < 0)
            return -1;
        if (dollar == NULL)
            break;
        position += literal + 1; /* past the '$' */
        if (position == len) {
            *error_r = xstrdup("'$' at the end of a value (write $$ for a literal '$')");
            return -1;
        }
        if (text[position] == '$') {
            if (append_limited(out, "$", 1, error_r) < 0)
                return -1;
            position++;
        } else if (text[position] == '{' || text[position] == '(') {
            if (expand_bracketed(cfg, text, len, &position, depth, out, error_r) < 0)
                return -1;
        } else if (is_name_char(text[position])) {
            name_start = position;
            while (position < len && is_name_char(text[position]))
                position++;
            if (expand_reference(cfg, text + name_start, position - name_start, depth, &value,
                                 error_r) < 0 ||
                append_limited(out, value, strlen(value), error_r) < 0)
                return -1;
        } else {
            *error_r =
                xasprintf("'$' must be followed by a name, '{', '(' or '$' in \"%.*s\"",
                          (int)(len - position + 1 < QUOTE_MAX ? len - position + 1 : QUOTE_MAX),
                          text + position - 1);
            return -1;
        }
    }
    return 0;
}

int cfg_expand(struct cfg *cfg, const char *raw, char **result, char **error_r)
{
    struct buf out = {0};

    *result = NULL;
    if (expand_text(cfg, raw, strlen(raw), 0, &out, error_r) < 0) {
        buf_free(&out);
        return -1;
    }
    *result = buf_steal(&out);
    return 0;
}

/* ---- typed values ---- */

/* Decimal digits only, stopping at the first non-digit; false on overflow of limit. */
static bool parse_digits(const char **text, unsigned long long limit, unsigned long long *value)
{
    const char *p = *text;
    unsigned long long number = 0;

    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (number > (limit - digit) / 10)
            return false;
        number = number * 10 + digit;
    }
    *text = p;
    *value = number;
    return true;
}

/* A number, one optional unit letter from units[] (case-insensitive), nothing else. */
static int parse_with_unit(const char *text, const char *units,
                           const unsigned long long *multipliers, unsigned long long limit,
                           unsigned long long *value)
{
    unsigned long long number, multiplier = 1;
    const char *unit;

    if (!parse_digits(&text, limit, &number))
        return -1;
    if (*text != '\0') {
        char lower = (char)(*text >= 'A' && *text <= 'Z' ? *text - 'A' + 'a' : *text);
        unit = strchr(units, lower);
        if (unit == NULL || text[1] != '\0')
            return -1;
        multiplier = multipliers[unit - units];
    }
    if (number > limit / multiplier)
        return -1;
    *value = number * multiplier;
    return 0;
}

int cfg_parse_time(const char *text, long long *seconds, const char **error_r)
{
    static const unsigned long long multipliers[] = {1, 60, 3600, 86400, 604800};
    unsigned long long value;

    if (parse_with_unit(text, "smhdw", multipliers, LLONG_MAX, &value) < 0) {
        *error_r = "bad time value (use a number with an optional unit s, m, h, d or w)";
        return -1;
    }
    *seconds = (long long)value;
    return 0;
}

int cfg_parse_size(const char *text, uint64_t *bytes, const char **error_r)
{
    static const unsigned long long multipliers[] = {1ULL << 10, 1ULL << 20, 1ULL << 30};
    unsigned long long value;

    if (parse_with_unit(text, "kmg", multipliers, UINT64_MAX, &value) < 0) {
        *error_r = "bad size value (use a number with an optional unit k, m or g)";
        return -1;
    }
    *bytes = value;
    return 0;
}

int cfg_parse_bool(const char *text, bool *value, const char **error_r)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < UTIL_ARRAY_LEN(yes); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *value = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *value = false;
            return 0;
        }
    }
    *error_r = "bad boolean value (use yes or no)";
    return -1;
}

static int parse_integer(const char *text, long long *value, const char **error_r)
{
    bool negative = *text == '-';
    unsigned long long magnitude;

    if (*text == '-' || *text == '+')
        text++;
    /* The magnitude of LLONG_MIN is one more than LLONG_MAX. */
    if (!parse_digits(&text, negative ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX,
                      &magnitude) ||
        *text != '\0') {
        *error_r = "bad integer value (use decimal digits)";
        return -1;
    }
    if (negative)
        *value = magnitude == 0 ? 0 : -(long long)(magnitude - 1) - 1;
    else
        *value = (long long)magnitude;
    return 0;
}

/* Splits at commas and blanks into one allocation: NULL-terminated pointers, then text. */
static char **split_list(const char *value)
{
    size_t len = strlen(value);
    size_t count = 0;
    size_t pointer_bytes, total;
    const char *separators = ", \t\r\n\f\v";
    char **items;
    char *storage;

    for (const char *p = value + strspn(value, separators); *p != '\0';
         p += strspn(p, separators)) {
        count++;
        p += strcspn(p, separators);
    }
    if (!size_mul_ok(count + 1, sizeof(*items), &pointer_bytes) ||
        pointer_bytes > SIZE_MAX - len - 1)
        msg_fatal("cfg: list too long");
    total = pointer_bytes + len + 1;
    items = xmalloc(total);
    storage = (char *)(items + count + 1);
    memcpy(storage, value, len + 1);
    count = 0;
    for (char *p = storage + strspn(storage, separators); *p != '\0'; p += strspn(p, separators)) {
        items[count++] = p;
        p += strcspn(p, separators);
        if (*p != '\0')
            *p++ = '\0';
    }
    items[count] = NULL;
    return items;
}

/* Parses value as slot's type into its cache; NULL on success, else the reason. */
static char *convert(struct cfg_slot *slot, const char *value)
{
    const struct cfg_param *param = slot->param;
    const char *reason = NULL;
    long long number = 0;
    uint64_t bytes = 0;
    bool in_range = true;
    char *low, *high, *message;

    switch (param->type) {
    case CFG_STRING:
        break;
    case CFG_PATH:
        if (*value != '\0' && *value != '/')
            reason = "not an absolute path";
        break;
    case CFG_BOOL:
        (void)cfg_parse_bool(value, &slot->typed.flag, &reason);
        break;
    case CFG_INT:
    case CFG_TIME:
        if ((param->type == CFG_INT ? parse_integer(value, &number, &reason)
                                    : cfg_parse_time(value, &number, &reason)) == 0) {
            in_range = number >= param->min && (param->max == 0 || number <= param->max);
            slot->typed.number = number;
        }
        break;
    case CFG_SIZE:
        if (cfg_parse_size(value, &bytes, &reason) == 0) {
            /* Size bounds are never negative; see the table. */
            in_range =
                bytes >= (uint64_t)param->min && (param->max == 0 || bytes <= (uint64_t)param->max);
            slot->typed.bytes = bytes;
        }
        break;
    case CFG_LIST:
        slot->typed.items = split_list(value);
        break;
    case CFG_MODE:
        /* Octal like chmod: 1 to 4 digits, only permission bits. */
        number = 0;
        if (*value == '\0' || strlen(value) > 4 || strspn(value, "01234567") != strlen(value))
            reason = "bad mode (use octal permissions such as 0660)";
        else if ((number = strtoll(value, NULL, 8)) > 0777)
            reason = "mode out of range (0 to 0777)";
        slot->typed.number = number;
        break;
    }
    if (reason == NULL && param->type == CFG_LIST) {
        for (char **item = slot->typed.items; *item; item++) {
            if ((reason = cfg_check_syntax(param, *item)) != NULL) {
                message = xasprintf("\"%s\": %s", *item, reason);
                free(slot->typed.items);
                slot->typed.items = NULL;
                return message;
            }
        }
    } else if (reason == NULL) {
        reason = cfg_check_syntax(param, value);
    }
    if (reason != NULL)
        return xstrdup(reason);
    if (!in_range) {
        low = cfg_format_bound(param->type, param->min);
        high = param->max ? cfg_format_bound(param->type, param->max) : NULL;
        message = high ? xasprintf("out of range (%s..%s)", low, high)
                       : xasprintf("out of range (min %s)", low);
        free(low);
        free(high);
        return message;
    }
    slot->typed_ready = true;
    return NULL;
}

/* Where a value came from, for messages: "FILE:LINE", "-o" or "default value of NAME". */
static char *slot_location(const struct cfg *cfg, const struct cfg_slot *slot)
{
    if (slot->raw == NULL)
        return xasprintf("default value of %s", cfg_slot_name(slot));
    if (slot->line == 0)
        return xstrdup("-o");
    return xasprintf("%s:%d", cfg->path, slot->line);
}

static int validate_slot(struct cfg *cfg, struct cfg_slot *slot, char **error_r)
{
    const char *value;
    char *problem = NULL;
    char *location;

    if (slot->typed_ready)
        return 0;
    if (cfg_slot_expand(cfg, slot, &value, &problem) < 0) {
        location = slot_location(cfg, slot);
        *error_r = xasprintf("%s: parameter %s: %s", location, cfg_slot_name(slot), problem);
        free(location);
    } else if ((problem = convert(slot, value)) != NULL) {
        location = slot_location(cfg, slot);
        *error_r = xasprintf("%s: %s = %s: %s", location, cfg_slot_name(slot), value, problem);
        free(location);
    } else {
        return 0;
    }
    free(problem);
    return -1;
}

static int compare_sequence(const void *left, const void *right)
{
    const struct cfg_slot *a = *(const struct cfg_slot *const *)left;
    const struct cfg_slot *b = *(const struct cfg_slot *const *)right;

    return a->sequence < b->sequence ? -1 : a->sequence > b->sequence;
}

int cfg_validate(struct cfg *cfg, char **error_r)
{
    struct cfg_slot **order = xcalloc(cfg_param_count, sizeof(*order));
    size_t count = 0;
    int status = 0;

    /*
     * The user's own definitions first, in file order, then the defaults: a
     * bad runtime_directory should be reported at its line, not through the
     * default of control_socket that refers to it.
     */
    for (size_t i = 0; i < cfg_param_count; i++)
        if (cfg->declared[i].raw != NULL)
            order[count++] = &cfg->declared[i];
    qsort(order, count, sizeof(*order), compare_sequence);
    for (size_t i = 0; i < cfg_param_count; i++)
        if (cfg->declared[i].raw == NULL)
            order[count++] = &cfg->declared[i];
    for (size_t i = 0; i < count && status == 0; i++)
        status = validate_slot(cfg, order[i], error_r);
    free(order);
    return status;
}

int cfg_validate_lenient(struct cfg *cfg, char **error_r)
{
    /* Each round drops one definition, so there are at most as many rounds as parameters. */
    for (size_t round = 0; round < cfg_param_count; round++) {
        struct cfg_slot *refused = NULL;
        char *error = NULL;

        /* The first refused definition in file order, so warnings come in line order. */
        for (size_t i = 0; i < cfg_param_count; i++) {
            struct cfg_slot *slot = &cfg->declared[i];
            char *problem;
            if (slot->raw == NULL || (refused != NULL && slot->sequence > refused->sequence) ||
                validate_slot(cfg, slot, &problem) == 0)
                continue;
            free(error);
            error = problem;
            refused = slot;
        }
        if (refused == NULL)
            break;
        msg_warn("%s; the default is used instead", error);
        free(error);
        free(refused->raw);
        refused->raw = NULL;
        refused->line = 0;
        cfg_forget_caches(cfg, false);
    }
    return cfg_validate(cfg, error_r);
}

/* ---- getters: declared parameters only, already validated ---- */

static struct cfg_slot *checked_slot(struct cfg *cfg, const char *name, int wanted_type)
{
    const struct cfg_param *param = cfg_param_find(name);
    struct cfg_slot *slot;
    char *error = NULL;

    if (param == NULL)
        msg_panic("cfg: lookup of undeclared parameter \"%s\"", name);
    if (wanted_type >= 0 && param->type != (enum cfg_type)wanted_type)
        msg_panic("cfg: parameter %s is of type %s, not %s", name, cfg_type_name(param->type),
                  cfg_type_name((enum cfg_type)wanted_type));
    slot = &cfg->declared[param - cfg_params];
    if (validate_slot(cfg, slot, &error) < 0)
        msg_panic("cfg: %s (not validated?)", error);
    return slot;
}

const char *cfg_str(struct cfg *cfg, const char *name)
{
    return checked_slot(cfg, name, -1)->expanded;
}

unsigned int cfg_mode(struct cfg *cfg, const char *name)
{
    return (unsigned int)checked_slot(cfg, name, CFG_MODE)->typed.number;
}

long long cfg_int(struct cfg *cfg, const char *name)
{
    return checked_slot(cfg, name, CFG_INT)->typed.number;
}

bool cfg_bool(struct cfg *cfg, const char *name)
{
    return checked_slot(cfg, name, CFG_BOOL)->typed.flag;
}

long long cfg_time(struct cfg *cfg, const char *name)
{
    return checked_slot(cfg, name, CFG_TIME)->typed.number;
}

uint64_t cfg_size(struct cfg *cfg, const char *name)
{
    return checked_slot(cfg, name, CFG_SIZE)->typed.bytes;
}

const char *const *cfg_list(struct cfg *cfg, const char *name)
{
    return (const char *const *)checked_slot(cfg, name, CFG_LIST)->typed.items;
}

const char *cfg_raw(struct cfg *cfg, const char *name, bool *is_set)
{
    struct cfg_slot *slot = cfg_slot_find(cfg, name, strlen(name));

    if (is_set != NULL)
        *is_set = slot != NULL && slot->raw != NULL;
    return slot ? cfg_slot_raw(slot) : NULL;
}
