/*
 * cfg.h - tlsrptd.cf: Postfix main.cf syntax, a typed parameter table with
 * defaults, bounds and descriptions, $name expansion at lookup time, and the
 * printing behind `tlsrpt conf` (-n, -d, names) and the tlsrptd.cf(5) page.
 */
#ifndef TLSRPT_CFG_H
#define TLSRPT_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type {
    CFG_STRING,
    CFG_INT,  /* decimal integer within [min, max] */
    CFG_BOOL, /* yes/no (also true/false, 1/0, on/off on input) */
    CFG_TIME, /* seconds; units s m h d w, e.g. 15m, 24h; bare number = seconds */
    CFG_SIZE, /* bytes; units k m g (1024-based), e.g. 64m */
    CFG_LIST, /* items separated by commas and/or whitespace */
    CFG_PATH, /* a string that must be an absolute path when not empty */
    CFG_MODE, /* file permissions in octal, 0 to 0777, e.g. 0660 */
};

struct cfg_param {
    const char *name;
    enum cfg_type type;
    const char *default_value; /* raw text, may contain $name */
    long long min;             /* bounds for INT, TIME, SIZE (max 0 = none) */
    long long max;
    const char *description; /* one line, for -d listings and the man page */
};

/* The table, sorted by name; declared once in src/config/params.c. */
extern const struct cfg_param cfg_params[];
extern const size_t cfg_param_count;
const struct cfg_param *cfg_param_find(const char *name);

struct cfg;

/*
 * Where the configuration comes from: `explicit_path` (from -c) if not NULL,
 * else $TLSRPTD_CONFIG if set and not empty, else DEF_CONFIG_FILE. The default
 * file may be absent (all defaults); one named by -c or $TLSRPTD_CONFIG may
 * not, and for those *is_explicit (may be NULL) is set to true.
 */
const char *cfg_default_path(const char *explicit_path, bool *is_explicit);

/*
 * Reads and checks a file. Syntax errors, values of the wrong type or out of
 * bounds, bad expansions and over-long lines fail with "FILE:LINE: reason" in
 * *error_r (caller frees). Unknown names are reported with msg_warn() naming
 * the file and line, and kept (they may be used in $name expansions).
 */
struct cfg *cfg_load(const char *path, bool must_exist, char **error_r);
/*
 * For commands that must work with a broken file (`tlsrpt status` asking the
 * running daemon): as cfg_load(), but each line or value it would refuse is
 * reported with msg_warn() ("FILE:LINE: reason") and left out, its default
 * standing in. Fails only when the file cannot be read at all.
 */
struct cfg *cfg_load_lenient(const char *path, bool must_exist, char **error_r);
/* Parses text as if it were a file named `name` (for tests and -o). */
struct cfg *cfg_load_string(const char *text, const char *name, char **error_r);
void cfg_free(struct cfg *cfg);
const char *cfg_path(const struct cfg *cfg);

/*
 * Sets name = value as a later definition would (command-line -o name=value),
 * then checks the whole configuration: when that fails (message prefixed "-o:"
 * or by the location of the parameter it broke) the old value is kept. Cached
 * values are recomputed; strings handed out before stay valid.
 */
int cfg_set(struct cfg *cfg, const char *name, const char *value, char **error_r);
/* The same for a "name=value" assignment, as given to -o on a command line. */
int cfg_set_assignment(struct cfg *cfg, const char *assignment, char **error_r);
/* Checks every known parameter's expanded value; as cfg_load() errors. */
int cfg_validate(struct cfg *cfg, char **error_r);

/*
 * Lookups of declared parameters (an undeclared name is a bug: msg_panic).
 * Values are expanded at lookup time and were validated by cfg_load(), so
 * these cannot fail. Returned strings live as long as cfg.
 */
const char *cfg_str(struct cfg *cfg, const char *name);
long long cfg_int(struct cfg *cfg, const char *name);
bool cfg_bool(struct cfg *cfg, const char *name);
long long cfg_time(struct cfg *cfg, const char *name); /* seconds */
uint64_t cfg_size(struct cfg *cfg, const char *name);  /* bytes */
unsigned int cfg_mode(struct cfg *cfg, const char *name); /* permission bits */
/* NULL-terminated array of items; valid until cfg_free. */
const char *const *cfg_list(struct cfg *cfg, const char *name);
/*
 * The raw (unexpanded) value (the default when not set) and whether it was set;
 * also for undeclared names the file defines. NULL for names neither declares.
 */
const char *cfg_raw(struct cfg *cfg, const char *name, bool *is_set);

/* Expands $name, ${name}, $(name), ${name?text}, ${name:text}, $$; caller frees *result. */
int cfg_expand(struct cfg *cfg, const char *raw, char **result, char **error_r);

/* Typed value parsers, shared with command-line options. */
int cfg_parse_time(const char *text, long long *seconds, const char **error_r);
int cfg_parse_size(const char *text, uint64_t *bytes, const char **error_r);
int cfg_parse_bool(const char *text, bool *value, const char **error_r);

enum cfg_print_mode {
    CFG_PRINT_ALL,        /* every declared parameter, effective values */
    CFG_PRINT_NONDEFAULT, /* -n: those set in the file */
    CFG_PRINT_DEFAULTS,   /* -d: the defaults */
};
/*
 * Prints "name = value" lines (sorted by name), raw like postconf, or
 * expanded when `expand` is set. `names`, when not NULL, limits the output to
 * those names (NULL-terminated) in that order; an unknown name is reported
 * with msg_warn() ("NAME: unknown parameter") and makes the return value -1.
 * -n also lists undeclared names the file sets; -d expands defaults against
 * defaults only and accepts cfg == NULL.
 */
int cfg_print(struct cfg *cfg, FILE *out, enum cfg_print_mode mode, bool expand,
              const char *const *names);
/* The tlsrptd.cf(5) manual page in roff, generated from the table. */
void cfg_print_man(FILE *out);

#endif
