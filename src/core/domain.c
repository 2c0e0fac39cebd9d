/*
 * domain.c - policy domains as reports need them: lower-case A-labels
 * (RFC 8460 §4.4), one trailing dot removed, checked label by label so a
 * malformed name never becomes a counter key or a report file name.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "core.h"
#include "util.h"

static bool label_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int tr_domain_normalize(char *name, const char **error_r)
{
    size_t len = strlen(name);

    if (len > 0 && name[len - 1] == '.')
        name[--len] = '\0';
    if (len == 0) {
        *error_r = "empty domain name";
        return -1;
    }
    if (len > TR_MAX_DOMAIN) {
        *error_r = "domain name longer than 253 octets";
        return -1;
    }
    size_t label_len = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.' || c == '\0') {
            if (label_len == 0) {
                *error_r = "empty label in domain name";
                return -1;
            }
            if (name[i - 1] == '-' || name[i - label_len] == '-') {
                *error_r = "label starts or ends with a hyphen";
                return -1;
            }
            label_len = 0;
            continue;
        }
        if (c >= 'A' && c <= 'Z')
            name[i] = (char)(c - 'A' + 'a');
        else if (c >= 0x80) {
            *error_r = "domain name is not in A-label (ASCII) form";
            return -1;
        } else if (!label_char_ok(c)) {
            *error_r = "invalid character in domain name";
            return -1;
        }
        if (++label_len > 63) {
            *error_r = "label longer than 63 octets";
            return -1;
        }
    }
    return 0;
}

bool tr_hostname_ok(const char *name, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > TR_MAX_DOMAIN)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '.') {
            if (label == 0 || label > 63)
                return false;
            label = 0;
        } else if (isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_') {
            label++;
        } else {
            return false;
        }
    }
    return true;
}
