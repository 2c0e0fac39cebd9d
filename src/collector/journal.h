/*
 * journal.h - the collector's journal: a memory-mapped file under
 * $state_directory/collector/ that holds each datagram from the moment the
 * drain thread received it until the parse thread has counted it, and the
 * parse thread's intent record that makes counting exactly once across a
 * kill. Private to src/collector.
 */
#ifndef TLSRPT_COLLECTOR_JOURNAL_H
#define TLSRPT_COLLECTOR_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"
#include "ring.h"

/* A counter the parse thread sets: a cell of the day's table and its new value. */
struct journal_cell {
    uint32_t slot;
    uint32_t field;
    uint64_t value;
};
/* Every policy's key and each of its failure details. */
#define JOURNAL_MAX_CELLS (TR_MAX_POLICIES * (1 + TR_MAX_FAILURES))

struct journal;
/*
 * Opens (or creates, owned by owner when run as root) the journal at path
 * with data_size bytes for records, space reserved with posix_fallocate.
 * An existing journal keeps its size until it is empty; a damaged one is
 * moved aside to path.damaged. When no file can be used, an error is logged
 * and the journal lives in memory (no crash guarantee); NULL only when even
 * the memory cannot be mapped.
 */
struct journal *journal_open(const char *path, size_t data_size, uid_t owner, char **error_r);
void journal_close(struct journal *journal);
struct ring *journal_ring(struct journal *journal);
size_t journal_size(const struct journal *journal);

/* Records ever appended (kept across restarts), for `tlsrpt status` and tests. */
uint64_t journal_appended(const struct journal *journal);
void journal_add_appended(struct journal *journal, uint64_t count);

/*
 * The intent: before the parse thread stores a record's counts it writes
 * their new absolute values here, then `end` (where the record ends) as
 * the commit mark. An intent whose end is past the tail was not finished.
 */
void journal_intent(struct journal *journal, int day, const struct journal_cell *cells, size_t n,
                    uint64_t end);
/* The unfinished intent, if any: its day, cells and end. */
bool journal_intent_pending(const struct journal *journal, int *day_r,
                            const struct journal_cell **cells_r, size_t *n_r, uint64_t *end_r);

#endif
