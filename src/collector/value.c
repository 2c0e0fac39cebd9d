/*
 * value.c - the datagram's tree without json-c's cost (an allocation per
 * value and member, a locale switch per parse) for the plain JSON libtlsrpt
 * writes. Anything unusual (escapes beyond the simple ones, non-ASCII,
 * floats, deep nesting, duplicate keys, trailing bytes, any syntax error) is
 * left to json-c, so every accepted or rejected datagram reads as before.
 */
#include "config.h"

#include <string.h>

#include "util.h"
#include "value.h"

/* Shallower than json-c's limit (8): anything deeper is json-c's to judge. */
#define PLAIN_MAX_DEPTH 6
#define PLAIN_MAX_DIGITS 18

void value_arena_init(struct value_arena *arena, size_t max_size)
{
    /* Every value takes at least one byte of the datagram; strings at most their bytes + NUL. */
    arena->max_nodes = max_size + 2;
    arena->nodes = xcalloc(arena->max_nodes, sizeof(struct value));
    arena->strings_size = 2 * max_size + 2;
    arena->strings = xmalloc(arena->strings_size);
    arena->n_nodes = 0;
    arena->strings_used = 0;
}

void value_arena_free(struct value_arena *arena)
{
    free(arena->nodes);
    free(arena->strings);
}

static struct value *new_node(struct value_arena *arena, enum value_type type)
{
    if (arena->n_nodes == arena->max_nodes)
        return NULL;
    struct value *node = &arena->nodes[arena->n_nodes++];
    memset(node, 0, sizeof(*node));
    node->type = type;
    return node;
}

struct reader {
    struct value_arena *arena;
    const char *p, *end;
};

static void skip_space(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* A string after its opening quote, copied into the arena; NULL when not plain. */
static const char *read_string(struct reader *r, size_t *len_r)
{
    struct value_arena *arena = r->arena;
    char *out = arena->strings + arena->strings_used;
    size_t n = 0, room = arena->strings_size - arena->strings_used;

    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p++;
        if (c == '"') {
            if (n >= room)
                return NULL;
            out[n] = '\0';
            arena->strings_used += n + 1;
            *len_r = n;
            return out;
        }
        if (c < 0x20 || c >= 0x80)
            return NULL; /* control characters and UTF-8: json-c checks them */
        if (c == '\\') {
            if (r->p == r->end)
                return NULL;
            switch (*r->p++) {
            case '"':
                c = '"';
                break;
            case '\\':
                c = '\\';
                break;
            case '/':
                c = '/';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            default:
                return NULL; /* \u and anything else */
            }
        }
        if (n + 1 >= room)
            return NULL;
        out[n++] = (char)c;
    }
    return NULL;
}

static struct value *read_value(struct reader *r, int depth);

/* Members or elements up to the closing bracket; keys must differ. */
static struct value *read_container(struct reader *r, int depth, bool object)
{
    struct value *container = new_node(r->arena, object ? VALUE_OBJECT : VALUE_ARRAY), **link;
    char close = object ? '}' : ']';

    if (container == NULL || depth > PLAIN_MAX_DEPTH)
        return NULL;
    link = &container->first;
    skip_space(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return container;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len; /* no NUL in it: \u is json-c's */
        if (object) {
            if (r->p == r->end || *r->p++ != '"' || (key = read_string(r, &key_len)) == NULL)
                return NULL;
            for (struct value *m = container->first; m != NULL; m = m->next)
                if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
                    return NULL; /* json-c keeps the last one: let it */
            skip_space(r);
            if (r->p == r->end || *r->p++ != ':')
                return NULL;
        }
        struct value *item = read_value(r, depth + 1);
        if (item == NULL)
            return NULL;
        item->key = key;
        item->key_len = object ? key_len : 0;
        *link = item;
        link = &item->next;
        container->len++;
        skip_space(r);
        if (r->p == r->end)
            return NULL;
        char c = *r->p++;
        if (c == close)
            return container;
        if (c != ',')
            return NULL;
        skip_space(r);
    }
}

static struct value *read_value(struct reader *r, int depth)
{
    struct value *node;

    skip_space(r);
    if (r->p == r->end)
        return NULL;
    char c = *r->p;
    if (c == '{' || c == '[') {
        r->p++;
        return read_container(r, depth, c == '{');
    }
    if (c == '"') {
        r->p++;
        if ((node = new_node(r->arena, VALUE_STRING)) == NULL ||
            (node->string = read_string(r, &node->len)) == NULL)
            return NULL;
        return node;
    }
    if (c >= '0' && c <= '9') {
        int64_t number = 0;
        int digits = 0;
        /* At most 18 digits: no overflow (found by fuzz_collector). */
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9' && digits < PLAIN_MAX_DIGITS) {
            number = number * 10 + (*r->p++ - '0');
            digits++;
        }
        /* Leading zeros, fractions, exponents and longer numbers are json-c's. */
        if ((c == '0' && digits > 1) ||
            (r->p < r->end &&
             ((*r->p >= '0' && *r->p <= '9') || *r->p == '.' || *r->p == 'e' || *r->p == 'E')))
            return NULL;
        if ((node = new_node(r->arena, VALUE_INT)) == NULL)
            return NULL;
        node->number = number;
        return node;
    }
    static const struct {
        const char *word;
        enum value_type type;
        int64_t number;
    } words[] = {{"true", VALUE_BOOL, 1}, {"false", VALUE_BOOL, 0}, {"null", VALUE_NULL, 0}};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(words); i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(r->end - r->p) >= n && memcmp(r->p, words[i].word, n) == 0) {
            r->p += n;
            if ((node = new_node(r->arena, words[i].type)) == NULL)
                return NULL;
            node->number = words[i].number;
            return node;
        }
    }
    return NULL;
}

const struct value *value_read_plain(struct value_arena *arena, const char *data, size_t len)
{
    struct reader r = {arena, data, data + len};

    arena->n_nodes = 0;
    arena->strings_used = 0;
    skip_space(&r);
    if (r.p == r.end || *r.p != '{')
        return NULL;
    const struct value *root = read_value(&r, 1);
    skip_space(&r);
    return root != NULL && r.p == r.end ? root : NULL;
}

static struct value *copy_json(struct value_arena *arena, json_object *object)
{
    struct value *node, **link;

    switch (json_object_get_type(object)) {
    case json_type_null:
        return new_node(arena, VALUE_NULL);
    case json_type_boolean:
        if ((node = new_node(arena, VALUE_BOOL)) != NULL)
            node->number = json_object_get_boolean(object);
        return node;
    case json_type_int:
        if ((node = new_node(arena, VALUE_INT)) != NULL)
            node->number = json_object_get_int64(object);
        return node;
    case json_type_double:
        return new_node(arena, VALUE_DOUBLE);
    case json_type_string:
        if ((node = new_node(arena, VALUE_STRING)) != NULL) {
            node->string = json_object_get_string(object);
            node->len = (size_t)json_object_get_string_len(object);
        }
        return node;
    case json_type_array:
        if ((node = new_node(arena, VALUE_ARRAY)) == NULL)
            return NULL;
        link = &node->first;
        for (size_t i = 0; i < json_object_array_length(object); i++) {
            struct value *item = copy_json(arena, json_object_array_get_idx(object, i));
            if (item == NULL)
                return NULL;
            *link = item;
            link = &item->next;
            node->len++;
        }
        return node;
    case json_type_object:
        if ((node = new_node(arena, VALUE_OBJECT)) == NULL)
            return NULL;
        link = &node->first;
        json_object_object_foreach(object, key, member)
        {
            struct value *item = copy_json(arena, member);
            if (item == NULL)
                return NULL;
            item->key = key;
            item->key_len = strlen(key);
            *link = item;
            link = &item->next;
            node->len++;
        }
        return node;
    }
    return NULL;
}

const struct value *value_from_json(struct value_arena *arena, json_object *object)
{
    arena->n_nodes = 0;
    arena->strings_used = 0;
    return copy_json(arena, object);
}

const struct value *value_member(const struct value *object, const char *key)
{
    size_t len = strlen(key);

    /* The length first: most keys differ in it. */
    for (const struct value *m = object->first; m != NULL; m = m->next)
        if (m->key_len == len && memcmp(m->key, key, len) == 0)
            return m;
    return NULL;
}
