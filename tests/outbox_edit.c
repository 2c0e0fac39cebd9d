/*
 * outbox_edit.c - test helper: changes or holds one report of the outbox
 * through the real spool API, as a crash-free stand-in for time passing or
 * for a delivery attempt in flight.
 * Usage: outbox_edit OUTBOX DAY DOMAIN created SECONDS   (sets its creation time)
 *        outbox_edit OUTBOX DAY DOMAIN hold HELD RELEASE (locks it, creates HELD,
 *                                                        waits up to 120 s for RELEASE)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"

int main(int argc, char **argv)
{
    struct spool_entry *entries, *entry = NULL;
    size_t n;
    char *error = NULL;
    const char *reason;
    int day;
    bool busy;

    msg_setup("outbox_edit", 1, 0);
    if (argc != 6 && !(argc == 7 && strcmp(argv[4], "hold") == 0))
        msg_fatal("usage: outbox_edit OUTBOX DAY DOMAIN created SECONDS | hold HELD RELEASE");
    if (day_parse(argv[2], &day, &reason) < 0)
        msg_fatal("%s: %s", argv[2], reason);
    struct spool *spool = spool_open(argv[1], &error);
    if (spool == NULL || spool_list(spool, &entries, &n, &error) < 0)
        msg_fatal("%s", error);
    for (size_t i = 0; i < n && entry == NULL; i++)
        if (entries[i].day == day && strcmp(entries[i].policy_domain, argv[3]) == 0)
            entry = &entries[i];
    if (entry == NULL)
        msg_fatal("no report of %s for %s", argv[2], argv[3]);
    int lock = spool_lock_entry(spool, entry, true, &busy, &error);
    if (lock < 0)
        msg_fatal("%s", error);
    if (strcmp(argv[4], "created") == 0) {
        entry->created = (time_t)strtoll(argv[5], NULL, 10);
        if (spool_update(spool, entry, &error) < 0)
            msg_fatal("%s", error);
    } else if (strcmp(argv[4], "hold") == 0) {
        if (file_write_atomic(argv[5], "", 0, 0600, &error) < 0)
            msg_fatal("%s", error);
        for (int64_t deadline = clock_ms() + 120000; access(argv[6], F_OK) < 0;) {
            if (clock_ms() > deadline)
                msg_fatal("%s did not come within 120 s", argv[6]);
            usleep(20000);
        }
    } else {
        msg_fatal("%s: neither created nor hold", argv[4]);
    }
    close(lock);
    spool_list_free(entries, n);
    spool_close(spool);
    return 0;
}
