/*
 * address.c - envelope addresses as tlsrpt-milter sees them: stripped of
 * their angle brackets, and recognised as our report sender, plain or in
 * its VERP form (local part, report_verp_delimiter, tag, at the same
 * domain), which is where bounces of report mail come back to.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsn.h"
#include "milter_impl.h"

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
 * A VERP form of the report sender ("local" report_verp_delimiter TAG
 * "@domain", the tag shaped as ours): where bounces of report mail come
 * back to. Whether the tag is really ours, sched_dsn_apply checks.
 */
static bool is_verp(const char *address)
{
    const char *sender = milter.report_sender, *sender_at, *at;
    char tag[DSN_VERP_TAG_MAX], *unique_id, *error;

    if (sender == NULL || (sender_at = strrchr(sender, '@')) == NULL ||
        (at = strrchr(address, '@')) == NULL || strcasecmp(at, sender_at) != 0)
        return false;
    if (dsn_verp_parse(address, sender, milter.verp_delimiter, tag, &unique_id, &error) < 0) {
        free(error);
        return false;
    }
    free(unique_id);
    return true;
}

bool milter_is_own_sender(const char *address)
{
    if (milter.report_sender == NULL || address[0] == '\0')
        return false;
    return strcasecmp(address, milter.report_sender) == 0 || is_verp(address);
}

bool milter_is_bounce_address(const char *address)
{
    return is_verp(address);
}
