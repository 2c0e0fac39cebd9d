/*
 * value.h - a datagram's JSON as a small tree in a parser-owned arena,
 * copied from json-c's tree (json-c parses every datagram). parse.c checks
 * the datagram on it.
 */
#ifndef COLLECTOR_VALUE_H
#define COLLECTOR_VALUE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

enum value_type {
    VALUE_NULL,
    VALUE_BOOL,
    VALUE_INT,
    VALUE_DOUBLE,
    VALUE_STRING,
    VALUE_ARRAY,
    VALUE_OBJECT
};

struct value {
    enum value_type type;
    const char *key; /* of an object member */
    size_t key_len;
    const char *string;  /* VALUE_STRING: NUL-terminated; may hold NULs before len */
    size_t len;          /* string bytes, or array/object members */
    int64_t number;      /* VALUE_INT, as json_object_get_int64 gives it */
    struct value *first; /* array elements / object members, in order */
    struct value *next;
};

/* Room for the tree of any datagram of up to max_size bytes. */
struct value_arena {
    struct value *nodes;
    size_t n_nodes, max_nodes;
    char *strings;
    size_t strings_used, strings_size;
};

void value_arena_init(struct value_arena *arena, size_t max_size);
void value_arena_free(struct value_arena *arena);

/* json-c's tree, copied (its strings stay json-c's). */
const struct value *value_from_json(struct value_arena *arena, json_object *object);

/* A member: NULL when absent; a JSON null is a VALUE_NULL member. */
const struct value *value_member(const struct value *object, const char *key);

#endif
