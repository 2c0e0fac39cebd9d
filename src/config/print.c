/*
 * print.c - shows the configuration as postconf does (all, -n non-defaults,
 * -d defaults, selected names) and generates the tlsrptd.cf(5) manual page
 * from the parameter table, so the documentation cannot drift from the code.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_impl.h"
#include "util.h"

#ifndef DEF_CONFIG_FILE
#define DEF_CONFIG_FILE "/etc/tlsrptd/tlsrptd.cf"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION ""
#endif

char *cfg_format_bound(enum cfg_type type, long long value)
{
    static const struct {
        enum cfg_type type;
        char unit;
        long long size;
    } units[] = {
        {CFG_TIME, 'd', 86400},     {CFG_TIME, 'h', 3600},      {CFG_TIME, 'm', 60},
        {CFG_SIZE, 'g', 1LL << 30}, {CFG_SIZE, 'm', 1LL << 20}, {CFG_SIZE, 'k', 1LL << 10},
    };

    for (size_t i = 0; i < UTIL_ARRAY_LEN(units); i++)
        if (units[i].type == type && value != 0 && value % units[i].size == 0)
            return xasprintf("%lld%c", value / units[i].size, units[i].unit);
    return xasprintf("%lld%s", value, type == CFG_TIME ? "s" : "");
}

/* One "name = value" line; postconf writes "name =" for an empty value. */
static int print_slot(struct cfg *source, FILE *out, struct cfg_slot *slot, bool expand)
{
    const char *value = cfg_slot_raw(slot);
    char *error = NULL;
    int status = 0;

    /* Declared parameters were validated; names only the file uses may still be broken. */
    if (expand && cfg_slot_expand(source, slot, &value, &error) < 0) {
        msg_warn("%s: %s", cfg_slot_name(slot), error);
        free(error);
        value = cfg_slot_raw(slot);
        status = -1;
    }
    if (*value == '\0')
        fprintf(out, "%s =\n", cfg_slot_name(slot));
    else
        fprintf(out, "%s = %s\n", cfg_slot_name(slot), value);
    return status;
}

/* Declared and file-only definitions merged in name order, as postconf -n lists them. */
static int print_nondefault(struct cfg *source, FILE *out, bool expand)
{
    size_t declared = 0;
    size_t unknown = 0;
    int status = 0;

    while (declared < cfg_param_count || unknown < source->unknown_count) {
        struct cfg_slot *next;

        if (declared < cfg_param_count && source->declared[declared].raw == NULL) {
            declared++;
            continue;
        }
        if (declared < cfg_param_count &&
            (unknown == source->unknown_count ||
             strcmp(cfg_params[declared].name, source->unknown[unknown].unknown_name) < 0))
            next = &source->declared[declared++];
        else
            next = &source->unknown[unknown++];
        if (print_slot(source, out, next, expand) < 0)
            status = -1;
    }
    return status;
}

static int print_names(struct cfg *source, FILE *out, enum cfg_print_mode mode, bool expand,
                       const char *const *names)
{
    int status = 0;

    /* Like postconf, the names are shown in the order they were asked for. */
    for (; *names != NULL; names++) {
        struct cfg_slot *slot = cfg_slot_find(source, *names, strlen(*names));

        /* The defaults-only source holds no undeclared names, so -d rejects them here. */
        if (slot == NULL) {
            msg_warn("%s: unknown parameter", *names);
            status = -1;
            continue;
        }
        if (mode == CFG_PRINT_NONDEFAULT && slot->raw == NULL)
            continue;
        if (print_slot(source, out, slot, expand) < 0)
            status = -1;
    }
    return status;
}

int cfg_print(struct cfg *cfg, FILE *out, enum cfg_print_mode mode, bool expand,
              const char *const *names)
{
    struct cfg *defaults = NULL;
    struct cfg *source = cfg;
    char *error = NULL;
    int status = 0;

    /* Defaults are expanded against defaults only, whatever the file says. */
    if (mode == CFG_PRINT_DEFAULTS) {
        defaults = cfg_load_string("", "defaults", &error);
        if (defaults == NULL)
            msg_panic("cfg_print: the built-in defaults are invalid: %s", error);
        source = defaults;
    }
    if (source == NULL)
        msg_panic("cfg_print: no configuration");

    if (names != NULL)
        status = print_names(source, out, mode, expand, names);
    else if (mode == CFG_PRINT_NONDEFAULT)
        status = print_nondefault(source, out, expand);
    else
        for (size_t i = 0; i < cfg_param_count; i++)
            if (print_slot(source, out, &source->declared[i], expand) < 0)
                status = -1;
    cfg_free(defaults);
    return status;
}

/*
 * Text for roff: backslashes and hyphens escaped (so values copy and paste as
 * ASCII), and a leading '.' or '\'' kept from being read as a request.
 */
static void roff_text(FILE *out, const char *text, bool at_line_start)
{
    if (at_line_start && (*text == '.' || *text == '\''))
        fputs("\\&", out);
    for (; *text != '\0'; text++) {
        if (*text == '\\')
            fputs("\\e", out);
        else if (*text == '-')
            fputs("\\-", out);
        else
            fputc(*text, out);
    }
}

static void man_parameter(FILE *out, const struct cfg_param *param)
{
    fputs(".TP\n.B ", out);
    roff_text(out, param->name, false);
    fprintf(out, "\n(%s; default: ", cfg_type_name(param->type));
    if (*param->default_value == '\0') {
        fputs("empty", out);
    } else {
        fputs("\\fB", out);
        roff_text(out, param->default_value, false);
        fputs("\\fR", out);
    }
    if (param->type == CFG_INT || param->type == CFG_TIME || param->type == CFG_SIZE) {
        char *low = cfg_format_bound(param->type, param->min);
        char *high = param->max ? cfg_format_bound(param->type, param->max) : NULL;

        fputs(high ? "; range: " : "; at least ", out);
        roff_text(out, low, false);
        if (high) {
            fputs("..", out);
            roff_text(out, high, false);
        }
        free(low);
        free(high);
    }
    fputs(")\n.br\n", out);
    roff_text(out, param->description, true);
    fputs(".\n", out);
}

void cfg_print_man(FILE *out)
{
    fprintf(out, ".TH TLSRPTD.CF 5 \"%s\" \"tlsrptd %s\" \"File Formats\"\n", RELEASE_DATE,
            PACKAGE_VERSION);
    /* No hyphenation: parameter names must stay whole to be found and copied. */
    fputs(".nh\n"
          ".SH NAME\n"
          "tlsrptd.cf \\- configuration of the tlsrptd SMTP TLS Reporting daemon\n"
          ".SH SYNOPSIS\n"
          ".B ",
          out);
    roff_text(out, DEF_CONFIG_FILE, false);
    fputs("\n.PP\n"
          ".B tlsrpt conf\n"
          "[\\fB\\-n\\fR | \\fB\\-d\\fR] [\\fIname\\fR ...]\n"
          ".SH DESCRIPTION\n"
          "This file configures\n"
          ".BR tlsrptd (8)\n"
          "and\n"
          ".BR tlsrpt (1).\n"
          "Its syntax is that of the Postfix main.cf file.\n"
          "When the default file is absent, every parameter has its default value.\n"
          "A file named with \\fB\\-c\\fR or in \\fBTLSRPTD_CONFIG\\fR must exist.\n"
          ".IP \\(bu 2\n"
          "Each logical line has the form \\fIname\\fR \\fB=\\fR \\fIvalue\\fR.\n"
          "Whitespace around the \"=\" and at the end of the value is ignored.\n"
          "A name consists of letters, digits and underscores.\n"
          ".IP \\(bu 2\n"
          "Blank lines and lines whose first non-blank character is \"#\" are ignored.\n"
          "A \"#\" anywhere else is part of the value.\n"
          ".IP \\(bu 2\n"
          "A line that starts with whitespace continues the previous logical line;\n"
          "the two are joined with one space.\n"
          ".IP \\(bu 2\n"
          "When a parameter is defined more than once, the last definition wins.\n"
          ".IP \\(bu 2\n"
          "\\fB$\\fIname\\fR, \\fB${\\fIname\\fB}\\fR and \\fB$(\\fIname\\fB)\\fR are replaced\n"
          "with the value of the parameter \\fIname\\fR;\n"
          "\\fB${\\fIname\\fB?\\fItext\\fB}\\fR with \\fItext\\fR when that value is not empty,\n"
          "\\fB${\\fIname\\fB:\\fItext\\fB}\\fR with \\fItext\\fR when it is empty\n"
          "(both also with parentheses; \\fItext\\fR is expanded in turn);\n"
          "\\fB$$\\fR stands for a literal \"$\".\n"
          "Values are expanded when they are used, so the order of definitions does\n"
          "not matter.\n"
          "Referring to a name that is neither a parameter below nor defined in\n"
          "the file is an error, and so is a loop of references.\n"
          ".IP \\(bu 2\n"
          "Names that are not parameters are reported as warnings; they may still be\n"
          "used in expansions.\n"
          ".PP\n"
          "A \\fItime\\fR is a number with an optional unit s (seconds, the default),\n"
          "m, h, d or w.\n"
          "A \\fIsize\\fR is a number of bytes with an optional unit k, m or g\n"
          "(powers of 1024).\n"
          "A \\fIboolean\\fR is yes or no (also true/false, on/off, 1/0).\n"
          "The items of a \\fIlist\\fR are separated by commas and/or whitespace.\n"
          "A \\fIpath\\fR is empty or absolute.\n"
          "Every value is checked when the file is read.\n"
          ".PP\n"
          "Physical lines are limited to 4096 bytes, logical lines to 65536 bytes\n"
          "and the file to 4 MB.\n"
          ".SH PARAMETERS\n",
          out);
    for (size_t i = 0; i < cfg_param_count; i++)
        man_parameter(out, &cfg_params[i]);
    fputs(".SH FILES\n.TP\n", out);
    roff_text(out, DEF_CONFIG_FILE, true);
    fputs("\nthe default configuration file\n"
          ".SH ENVIRONMENT\n"
          ".TP\n"
          ".B TLSRPTD_CONFIG\n"
          "the configuration file to use instead of the default one\n"
          ".SH SEE ALSO\n"
          ".BR tlsrpt (1),\n"
          ".BR tlsrptd (8)\n",
          out);
}
