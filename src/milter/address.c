/*
 * address.c - envelope addresses as tlsrpt-milter sees them: stripped of
 * their angle brackets, and recognised as our report sender, plain or in
 * its VERP form (local part, delimiter, tag, at the same domain), which is
 * where bounces of report mail come back to.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "milter_impl.h"

/* recipient_delimiter style: Postfix's usual choices. */
#define VERP_DELIMITERS "+-="

bool milter_address(const char *arg, char out[MILTER_MAX_ADDRESS])
{
    size_t len;

    if (arg == NULL)
        arg = "";
    while (*arg == ' ')
        arg++;
    if (*arg == '<')
        arg++;
    len = strcspn(arg, ">");
    if (len >= MILTER_MAX_ADDRESS)
        return false;
    memcpy(out, arg, len);
    out[len] = '\0';
    return true;
}

/*
 * The tag of a VERP form of the report sender ("local" DELIM TAG "@domain"),
 * or NULL when address is not one. The plain sender has no tag.
 */
static const char *verp_tag(const char *address, size_t *tag_len)
{
    const char *sender = milter.report_sender, *sender_at, *at;
    size_t local_len;

    if (sender == NULL || (sender_at = strrchr(sender, '@')) == NULL ||
        (at = strrchr(address, '@')) == NULL || strcasecmp(at, sender_at) != 0)
        return NULL;
    local_len = (size_t)(sender_at - sender);
    if ((size_t)(at - address) < local_len + 2 || strncasecmp(address, sender, local_len) != 0 ||
        strchr(VERP_DELIMITERS, address[local_len]) == NULL)
        return NULL;
    *tag_len = (size_t)(at - address) - local_len - 1;
    return address + local_len + 1;
}

bool milter_is_own_sender(const char *address)
{
    size_t tag_len;

    if (milter.report_sender == NULL || address[0] == '\0')
        return false;
    return strcasecmp(address, milter.report_sender) == 0 || verp_tag(address, &tag_len) != NULL;
}

bool milter_is_bounce_address(const char *address)
{
    size_t tag_len;

    return verp_tag(address, &tag_len) != NULL;
}
