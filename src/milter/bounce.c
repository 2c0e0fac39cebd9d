/*
 * bounce.c - a bounce (DSN) of our report mail, caught on its way to the
 * report sender's VERP address: parsed (dsn_parse: GMime and a strict
 * field reader) and applied to its outbox destination (sched_dsn_apply,
 * under the report's lock). Anything that is not a DSN of ours, or that
 * cannot be applied now, is passed on untouched: the mailbox still gets it.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>

#include "dsn.h"
#include "scheduler.h"
#include "milter_impl.h"

/* The configuration is not thread-safe, and bounces are rare: one at a time. */
static pthread_mutex_t apply_lock = PTHREAD_MUTEX_INITIALIZER;

int bounce_apply(const char *recipient, const char *message, size_t len)
{
    struct sched_dsn_result result;
    struct dsn *dsn;
    char *error = NULL;
    int status;

    if (dsn_parse(message, len, &dsn, &error) < 0) {
        msg_info("bounce to %s: passed on: %s", recipient, error);
        free(error);
        return 0;
    }
    pthread_mutex_lock(&apply_lock);
    status = sched_dsn_apply(milter.cfg, recipient, dsn, &result, &error);
    pthread_mutex_unlock(&apply_lock);
    dsn_free(dsn);
    if (status < 0) {
        msg_warn("bounce to %s: passed on, the outbox could not be updated: %s", recipient, error);
        free(error);
        return 0;
    }
    if (!result.matched) {
        msg_info("bounce to %s: passed on: %s", recipient, result.reason);
        sched_dsn_result_free(&result);
        return 0;
    }
    msg_info("bounce to %s: report %s, destination %s: %s %s (%s) -> %s%s%s", recipient,
             result.report_id, result.destination, result.action, result.status, result.detail,
             spool_state_name(result.state), result.changed ? "" : ", seen before",
             result.suppressed ? ", now suppressed" : "");
    sched_dsn_result_free(&result);
    return 1;
}
