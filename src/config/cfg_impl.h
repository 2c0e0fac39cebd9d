/*
 * cfg_impl.h - what the files of the config module share and nobody else may
 * see: the layout of the opaque struct cfg and the limits of the syntax.
 */
#ifndef TLSRPT_CFG_IMPL_H
#define TLSRPT_CFG_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/* Every input has a maximum: these bound the file and what expansion makes of it. */
#define CFG_MAX_FILE_SIZE ((size_t)4 * 1024 * 1024)
#define CFG_MAX_PHYSICAL_LINE 4096
#define CFG_MAX_LOGICAL_LINE 65536
#define CFG_MAX_EXPANSION_DEPTH 100
#define CFG_MAX_EXPANDED_SIZE ((size_t)1024 * 1024)

enum cfg_expand_state {
    CFG_UNEXPANDED,
    CFG_EXPANDING, /* on the current chain of $name references: seeing it again is a loop */
    CFG_EXPANDED,
};

/* One parameter: a declared one (param set) or a name only the file defines. */
struct cfg_slot {
    const struct cfg_param *param; /* NULL for a name the table does not declare */
    char *unknown_name;            /* owned copy of the name when param is NULL */
    char *raw;                     /* the winning definition; NULL: the default applies */
    int line;                      /* line of that definition; 0 when set by cfg_set() */
    size_t sequence;               /* definition order: the highest one wins */

    /* Caches, dropped whenever a definition changes (see cfg_forget_caches()). */
    enum cfg_expand_state expand_state;
    char *expanded;
    bool typed_ready;
    union {
        long long number; /* INT, TIME */
        uint64_t bytes;   /* SIZE */
        bool flag;        /* BOOL */
        char **items;     /* LIST: one allocation, pointers then the strings */
    } typed;
};

struct cfg {
    char *path;
    struct cfg_slot *declared; /* cfg_param_count slots, in table order */
    struct cfg_slot *unknown;  /* sorted by name once loading is done */
    size_t unknown_count;
    size_t unknown_capacity;
    size_t next_sequence;
    /*
     * Strings handed out by lookups must outlive later cfg_set() calls (the API
     * promises they live as long as cfg), so replaced values are parked here
     * and freed by cfg_free().
     */
    void **retired;
    size_t retired_count;
    size_t retired_capacity;
};

/* params.c */
const struct cfg_param *cfg_param_find_len(const char *name, size_t len);
const char *cfg_type_name(enum cfg_type type);

/* parse.c */
bool cfg_name_is_valid(const char *name, size_t len);
struct cfg *cfg_new(const char *path);
/* Appends a slot for an undeclared name; lookups need cfg_unknown_sort() after. */
struct cfg_slot *cfg_unknown_append(struct cfg *cfg, const char *name, size_t len);
/* Sorts the undeclared names and keeps only the last definition of each. */
void cfg_unknown_sort(struct cfg *cfg);

/* lookup.c */
const char *cfg_slot_name(const struct cfg_slot *slot);
const char *cfg_slot_raw(const struct cfg_slot *slot);
struct cfg_slot *cfg_slot_find(struct cfg *cfg, const char *name, size_t len);
int cfg_slot_expand(struct cfg *cfg, struct cfg_slot *slot, const char **value, char **error_r);
void cfg_forget_caches(struct cfg *cfg, bool retire);
void cfg_retire(struct cfg *cfg, void *pointer);
void cfg_slot_free(struct cfg_slot *slot);
/* cfg_validate() for a lenient load: a refused definition is warned about and dropped. */
int cfg_validate_lenient(struct cfg *cfg, char **error_r);
/* Formats a bound of an INT, TIME or SIZE parameter in the unit that reads best. */
char *cfg_format_bound(enum cfg_type type, long long value);

/*
 * The syntax check of a parameter whose values have a syntax of their own
 * (params.c, beside the table): NULL when value (one item of a LIST) is fine
 * or the parameter has none, else a static reason. It runs wherever values
 * are checked (start, reload, -o, tlsrpt conf), so a bad value is refused
 * with its file and line before anything uses it.
 */
const char *cfg_check_syntax(const struct cfg_param *param, const char *value);

/*
 * A default computed from another parameter (params.c, beside the table):
 * when `name` is not set, its value is derive(the expanded value of
 * `source`), or the table's default when that gives NULL. The table's text
 * stays what -d and the man page show; lookups and `tlsrpt conf -x` give
 * the value in use, and nobody above config computes it again.
 */
struct cfg_derived {
    const char *name;
    const char *source;
    char *(*derive)(const char *source_value); /* NULL: nothing to derive from */
};
const struct cfg_derived *cfg_derived_find(const struct cfg_param *param);

#endif
