/*
 * bounce.c - a bounce (DSN) of our report mail, caught on its way to the
 * report sender's VERP address: parsed and applied to its outbox
 * destination. Until the DSN parser is in the build, every bounce is passed
 * on untouched.
 */
#include "config.h"

#include "milter_impl.h"

int bounce_apply(const char *recipient, const char *message, size_t len)
{
    (void)message;
    msg_debug("bounce to %s (%zu bytes): passed on, no DSN parser in this build", recipient,
              len);
    return 0;
}
