/*
 * sched_impl.h - what the scheduler's files share: the one way a
 * permanent failure or a success changes the suppression list, used by a
 * delivery attempt (deliver.c) and by a bounce (dsn.c).
 */
#ifndef TLSRPT_SCHED_IMPL_H
#define TLSRPT_SCHED_IMPL_H

#include <stdbool.h>
#include <time.h>

/*
 * A permanent failure (failed) adds one to the destination's failures in
 * a row and suppresses it for suppress_time at suppress_after; a success
 * resets the count. Returns whether this call suppressed it.
 */
bool sched_suppression_note(const char *suppress_path, const char *uri, bool failed,
                            int suppress_after, time_t suppress_time, time_t now);

#endif
