/*
 * value.c - the datagram's JSON tree, as json-c parsed it, copied into a
 * parser-owned arena of nodes (no allocation per datagram) that parse.c
 * checks member by member.
 */
#include "config.h"

#include <string.h>

#include "util.h"
#include "value.h"

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
