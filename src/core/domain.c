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

static bool atext_ok(unsigned char c)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* The length of an RFC 5321 Quoted-string at s, or 0 when there is none. */
static size_t quoted_string_length(const char *s)
{
    size_t i = 1;

    if (s[0] != '"')
        return 0;
    for (;; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            c = (unsigned char)s[++i]; /* quoted-pairSMTP: "\" %d32-126 */
            if (c < 32 || c > 126)
                return 0;
        } else if (c < 32 || c > 126) { /* qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
            return 0;
        }
    }
}

bool tr_mailbox_ok(const char *address)
{
    size_t local = quoted_string_length(address);

    if (local == 0) {
        /* Dot-string: atoms separated by single dots. */
        local = strcspn(address, "@");
        if (local == 0 || address[0] == '.' || address[local - 1] == '.')
            return false;
        for (size_t i = 0; i < local; i++)
            if (address[i] == '.' ? address[i + 1] == '.' : !atext_ok((unsigned char)address[i]))
                return false;
    }
    if (local > TR_MAX_LOCAL_PART || address[local] != '@')
        return false;
    /* The domain: LDH labels, as report destinations need no address literals. */
    const char *domain = address + local + 1;
    size_t len = strlen(domain);
    return tr_hostname_ok(domain, len) && strchr(domain, '_') == NULL;
}
