/*
 * parse.c - reads tlsrptd.cf (Postfix main.cf syntax) into definitions:
 * comments, continuation lines, "name = value", last definition wins; and
 * cfg_set(), a later definition. Values stay raw; lookup.c expands and checks them.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfg.h"
#include "cfg_impl.h"
#include "util.h"

#ifndef DEF_CONFIG_FILE
#define DEF_CONFIG_FILE "/etc/tlsrptd/tlsrptd.cf"
#endif

/* Blank as main.cf sees it; not isspace(), whose answer depends on the locale. */
static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

bool cfg_name_is_valid(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

const char *cfg_default_path(const char *explicit_path, bool *is_explicit)
{
    const char *from_environment = getenv("TLSRPTD_CONFIG");
    const char *path = DEF_CONFIG_FILE;
    bool chosen = true;

    /* Whoever names a file expects it to exist; only the built-in default may be absent. */
    if (explicit_path != NULL)
        path = explicit_path;
    else if (from_environment != NULL && *from_environment != '\0')
        path = from_environment;
    else
        chosen = false;
    if (is_explicit != NULL)
        *is_explicit = chosen;
    return path;
}

struct cfg *cfg_new(const char *path)
{
    struct cfg *cfg = xcalloc(1, sizeof(*cfg));

    cfg->path = xstrdup(path);
    cfg->declared = xcalloc(cfg_param_count, sizeof(*cfg->declared));
    for (size_t i = 0; i < cfg_param_count; i++)
        cfg->declared[i].param = &cfg_params[i];
    return cfg;
}

void cfg_free(struct cfg *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg_param_count; i++)
        cfg_slot_free(&cfg->declared[i]);
    for (size_t i = 0; i < cfg->unknown_count; i++)
        cfg_slot_free(&cfg->unknown[i]);
    for (size_t i = 0; i < cfg->retired_count; i++)
        free(cfg->retired[i]);
    free(cfg->retired);
    free(cfg->unknown);
    free(cfg->declared);
    free(cfg->path);
    free(cfg);
}

const char *cfg_path(const struct cfg *cfg)
{
    return cfg->path;
}

struct cfg_slot *cfg_unknown_append(struct cfg *cfg, const char *name, size_t len)
{
    struct cfg_slot *slot;

    if (cfg->unknown_count == cfg->unknown_capacity) {
        size_t capacity = cfg->unknown_capacity ? cfg->unknown_capacity : 8;
        if (cfg->unknown_capacity != 0 && !size_mul_ok(capacity, 2, &capacity))
            msg_fatal("cfg: too many parameter names");
        cfg->unknown = xreallocarray(cfg->unknown, capacity, sizeof(*cfg->unknown));
        cfg->unknown_capacity = capacity;
    }
    slot = &cfg->unknown[cfg->unknown_count++];
    memset(slot, 0, sizeof(*slot));
    slot->unknown_name = xstrndup(name, len);
    return slot;
}

/* Name order, and among definitions of one name the later one first. */
static int compare_unknown(const void *left, const void *right)
{
    const struct cfg_slot *a = left;
    const struct cfg_slot *b = right;
    int order = strcmp(a->unknown_name, b->unknown_name);

    if (order != 0)
        return order;
    return a->sequence > b->sequence ? -1 : a->sequence < b->sequence;
}

void cfg_unknown_sort(struct cfg *cfg)
{
    size_t kept = 0;

    if (cfg->unknown_count == 0)
        return;
    /* Sorting then keeping the first of each run is O(n log n) even for huge files. */
    qsort(cfg->unknown, cfg->unknown_count, sizeof(*cfg->unknown), compare_unknown);
    for (size_t i = 0; i < cfg->unknown_count; i++) {
        if (kept > 0 &&
            strcmp(cfg->unknown[kept - 1].unknown_name, cfg->unknown[i].unknown_name) == 0) {
            cfg_slot_free(&cfg->unknown[i]);
            continue;
        }
        cfg->unknown[kept++] = cfg->unknown[i];
    }
    cfg->unknown_count = kept;
}

/* Records one logical line, "name = value", as the newest definition of name. */
static int define(struct cfg *cfg, const char *text, size_t len, int line, char **error_r)
{
    size_t name_end = 0;
    size_t position;
    const struct cfg_param *param;
    struct cfg_slot *slot;

    while (name_end < len && text[name_end] != '=' && !is_blank(text[name_end]))
        name_end++;
    if (name_end == 0) {
        *error_r = xasprintf("%s:%d: missing parameter name before '='", cfg->path, line);
        return -1;
    }
    if (!cfg_name_is_valid(text, name_end)) {
        *error_r = xasprintf("%s:%d: bad parameter name \"%.*s\" (use letters, digits and _)",
                             cfg->path, line, (int)name_end, text);
        return -1;
    }
    position = name_end;
    while (position < len && is_blank(text[position]))
        position++;
    if (position == len || text[position] != '=') {
        *error_r = xasprintf("%s:%d: missing '=' after parameter name", cfg->path, line);
        return -1;
    }
    position++;
    while (position < len && is_blank(text[position]))
        position++;
    /* Trailing blanks were stripped from each physical line already. */

    param = cfg_param_find_len(text, name_end);
    if (param != NULL) {
        slot = &cfg->declared[param - cfg_params];
        /* Nothing was handed out yet while loading, so the old value can go. */
        free(slot->raw);
    } else {
        msg_warn("%s:%d: unknown parameter name \"%.*s\"", cfg->path, line, (int)name_end, text);
        slot = cfg_unknown_append(cfg, text, name_end);
    }
    slot->raw = xstrndup(text + position, len - position);
    slot->line = line;
    slot->sequence = ++cfg->next_sequence;
    return 0;
}

/*
 * A line that cannot be read: an error, or for a lenient load (a broken file
 * that must still be read) a warning, the line left out.
 */
static int line_refused(bool lenient, char *message, char **error_r)
{
    if (!lenient) {
        *error_r = message;
        return -1;
    }
    msg_warn("%s; line ignored", message);
    free(message);
    return 0;
}

/*
 * Splits text into physical lines and those into logical lines: blank lines
 * and comment lines are skipped (they do not end a logical line, as in
 * Postfix), a line that starts with blanks continues the previous one.
 */
static int parse_text(struct cfg *cfg, const char *text, size_t len, bool lenient, char **error_r)
{
    struct buf logical = {0};
    int logical_start = 0;        /* line where the open logical line began; 0: none */
    bool logical_dropped = false; /* lenient: the open logical line was refused */
    int line = 0;
    size_t position = 0;
    int status = 0;
    char *error;

    while (position < len && status == 0) {
        const char *start = text + position;
        const char *newline = memchr(start, '\n', len - position);
        size_t line_len = newline ? (size_t)(newline - start) : len - position;
        size_t first = 0;
        size_t end = line_len;

        position += line_len + (newline ? 1 : 0);
        line++;
        if (line_len > CFG_MAX_PHYSICAL_LINE) {
            status = line_refused(lenient,
                                  xasprintf("%s:%d: line too long (max %d bytes)", cfg->path, line,
                                            CFG_MAX_PHYSICAL_LINE),
                                  error_r);
            continue;
        }
        if (memchr(start, '\0', line_len) != NULL) {
            status = line_refused(lenient, xasprintf("%s:%d: NUL byte in line", cfg->path, line),
                                  error_r);
            continue;
        }
        while (first < line_len && is_blank(start[first]))
            first++;
        if (first == line_len || start[first] == '#')
            continue;
        while (end > first && is_blank(start[end - 1]))
            end--;

        if (first > 0) {
            if (logical_dropped)
                continue;
            if (logical_start == 0) {
                status =
                    line_refused(lenient,
                                 xasprintf("%s:%d: continuation line before the first definition "
                                           "(a definition must start at the beginning of a line)",
                                           cfg->path, line),
                                 error_r);
                continue;
            }
            if (logical.len + 1 + (end - first) > CFG_MAX_LOGICAL_LINE) {
                status = line_refused(lenient,
                                      xasprintf("%s:%d: logical line too long (max %d bytes)",
                                                cfg->path, logical_start, CFG_MAX_LOGICAL_LINE),
                                      error_r);
                logical_dropped = true;
                continue;
            }
            buf_putc(&logical, ' ');
            buf_append(&logical, start + first, end - first);
            continue;
        }
        if (logical_start != 0 && !logical_dropped &&
            define(cfg, logical.data, logical.len, logical_start, &error) < 0)
            status = line_refused(lenient, error, error_r);
        buf_reset(&logical);
        buf_append(&logical, start, end);
        logical_start = line;
        logical_dropped = false;
    }
    if (status == 0 && logical_start != 0 && !logical_dropped &&
        define(cfg, logical.data, logical.len, logical_start, &error) < 0)
        status = line_refused(lenient, error, error_r);
    buf_free(&logical);
    return status;
}

/* The common tail of both loaders: parse, index, check; frees cfg on failure. */
static struct cfg *load_text(struct cfg *cfg, const char *text, size_t len, bool lenient,
                             char **error_r)
{
    if (len > CFG_MAX_FILE_SIZE) {
        *error_r =
            xasprintf("%s: file too large (at most %zu bytes)", cfg->path, CFG_MAX_FILE_SIZE);
        cfg_free(cfg);
        return NULL;
    }
    if (parse_text(cfg, text, len, lenient, error_r) < 0) {
        cfg_free(cfg);
        return NULL;
    }
    cfg_unknown_sort(cfg);
    if ((lenient ? cfg_validate_lenient(cfg, error_r) : cfg_validate(cfg, error_r)) < 0) {
        cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

static struct cfg *load_file(const char *path, bool must_exist, bool lenient, char **error_r)
{
    struct cfg *cfg = cfg_new(path);
    struct buf contents = {0};
    struct stat st;

    /* The built-in default file may be absent: then every parameter has its default. */
    if (!must_exist && stat(path, &st) < 0 && errno == ENOENT)
        return load_text(cfg, "", 0, lenient, error_r);
    if (file_read_all(path, CFG_MAX_FILE_SIZE, &contents, error_r) < 0) {
        buf_free(&contents);
        cfg_free(cfg);
        return NULL;
    }
    cfg = load_text(cfg, buf_cstr(&contents), contents.len, lenient, error_r);
    buf_free(&contents);
    return cfg;
}

struct cfg *cfg_load(const char *path, bool must_exist, char **error_r)
{
    return load_file(path, must_exist, false, error_r);
}

struct cfg *cfg_load_lenient(const char *path, bool must_exist, char **error_r)
{
    return load_file(path, must_exist, true, error_r);
}

struct cfg *cfg_load_string(const char *text, const char *name, char **error_r)
{
    return load_text(cfg_new(name), text, strlen(text), false, error_r);
}

int cfg_set(struct cfg *cfg, const char *name, const char *value, char **error_r)
{
    size_t name_len = strlen(name);
    struct cfg_slot *slot;
    bool created = false;
    char *previous_raw;
    int previous_line;
    size_t previous_sequence;
    size_t value_len;

    if (!cfg_name_is_valid(name, name_len)) {
        *error_r = xasprintf("bad parameter name \"%s\" (use letters, digits and _)", name);
        return -1;
    }
    if (strchr(value, '\n') != NULL) {
        *error_r = xasprintf("%s: value must be a single line", name);
        return -1;
    }
    slot = cfg_slot_find(cfg, name, name_len);
    if (slot == NULL) {
        msg_warn("-o: unknown parameter name \"%s\"", name);
        cfg_unknown_append(cfg, name, name_len);
        cfg_unknown_sort(cfg);
        slot = cfg_slot_find(cfg, name, name_len);
        created = true;
    }
    /* As in the file: blanks around the value do not belong to it. */
    while (is_blank(*value))
        value++;
    value_len = strlen(value);
    while (value_len > 0 && is_blank(value[value_len - 1]))
        value_len--;

    previous_raw = slot->raw;
    previous_line = slot->line;
    previous_sequence = slot->sequence;
    slot->raw = xstrndup(value, value_len);
    slot->line = 0;
    slot->sequence = ++cfg->next_sequence;
    cfg_forget_caches(cfg, true);

    /* Each change must leave a valid configuration: the getters cannot fail. */
    if (cfg_validate(cfg, error_r) == 0) {
        cfg_retire(cfg, previous_raw);
        return 0;
    }
    cfg_forget_caches(cfg, false);
    if (created) {
        size_t index = (size_t)(slot - cfg->unknown);
        cfg_slot_free(slot);
        memmove(slot, slot + 1, (cfg->unknown_count - index - 1) * sizeof(*slot));
        cfg->unknown_count--;
        return -1;
    }
    free(slot->raw);
    slot->raw = previous_raw;
    slot->line = previous_line;
    slot->sequence = previous_sequence;
    return -1;
}

int cfg_set_assignment(struct cfg *cfg, const char *assignment, char **error_r)
{
    const char *eq = strchr(assignment, '=');

    if (eq == NULL) {
        *error_r = xasprintf("-o %s: expected name=value", assignment);
        return -1;
    }
    char *name = xstrndup(assignment, (size_t)(eq - assignment));
    /* "name = value" is as natural on a command line as in the file. */
    size_t len = strlen(name);
    while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
        name[--len] = '\0';
    const char *value = eq + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    int status = cfg_set(cfg, name, value, error_r);
    free(name);
    return status;
}
