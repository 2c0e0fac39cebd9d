/*
 * bench_outbox.c - the outbox at volume: a day of N reports built through
 * spool_day_begin/add/commit, listed, then M delivery-state updates, beside
 * the same-run baseline of writing the same report bytes into one file with
 * write() and one fsync (the physical limit of the build).
 * Usage: bench_outbox [N [M [DIR]]] (100,000 reports, 1,000 updates, in
 * $TMPDIR or /tmp by default). Figures on a loaded machine are indicative.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"

#define DEFAULT_REPORTS 100000
#define DEFAULT_UPDATES 1000
#define MAX_REPORTS 10000000
#define BENCH_DAY 19981  /* 2024-09-15 */
#define BUILD_TARGET 0.5 /* of the baseline's throughput */

/* A realistic report of ~1.5 KB: two policies, a few failure rows. */
static void report_json(size_t i, struct buf *out)
{
    buf_reset(out);
    buf_printf(out,
               "{\"organization-name\":\"Example Org\",\"date-range\":{\"start-datetime\":"
               "\"2024-09-15T00:00:00Z\",\"end-datetime\":\"2024-09-15T23:59:59Z\"},"
               "\"contact-info\":\"tlsrpt@reporter.example.net\",\"report-id\":"
               "\"2024-09-15T00:00:00Z_d%zu.example@reporter.example.net\",\"policies\":[",
               i);
    for (int p = 0; p < 2; p++) {
        buf_printf(out,
                   "%s{\"policy\":{\"policy-type\":\"%s\",\"policy-string\":[\"version: "
                   "STSv1\",\"mode: enforce\",\"mx: mx%d.d%zu.example\",\"max_age: 604800\"],"
                   "\"policy-domain\":\"d%zu.example\",\"mx-host\":[\"mx%d.d%zu.example\"]},"
                   "\"summary\":{\"total-successful-session-count\":%zu,"
                   "\"total-failure-session-count\":%d},\"failure-details\":[",
                   p ? "," : "", p ? "tlsa" : "sts", p, i, i, p, i, i % 9973, 3);
        for (int f = 0; f < 3; f++)
            buf_printf(out,
                       "%s{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":"
                       "\"192.0.2.%d\",\"receiving-mx-hostname\":\"mx%d.d%zu.example\","
                       "\"receiving-ip\":\"198.51.100.%d\",\"failed-session-count\":%d}",
                       f ? "," : "", f + 1, p, i, f + 10, f + 1);
        buf_puts(out, "]}");
    }
    buf_puts(out, "]}");
}

static void make_entry(size_t i, struct spool_entry *entry)
{
    memset(entry, 0, sizeof(*entry));
    entry->unique_id = xasprintf("%016zx", i * 2654435761u + 1);
    entry->report_id = xasprintf("2024-09-15T00:00:00Z_d%zu.example@reporter.example.net", i);
    entry->policy_domain = xasprintf("d%zu.example", i);
    entry->file_name = xasprintf("reporter.example.net!d%zu.example!1726358400!1726444799!%s"
                                 ".json.gz",
                                 i, entry->unique_id);
    entry->record = xasprintf("v=TLSRPTv1; rua=mailto:tlsrpt@d%zu.example", i);
    entry->day = BENCH_DAY;
    entry->created = 1726444800;
    entry->send_after = 1726444800 + (time_t)(i % 3600);
    entry->successes = i % 9973;
    entry->failures = 6;
    char *uri = xasprintf("mailto:tlsrpt@d%zu.example", i);
    spool_entry_add_destination(entry, uri);
    free(uri);
    if (i % 2) {
        uri = xasprintf("https://tlsrpt.d%zu.example/v1", i);
        spool_entry_add_destination(entry, uri);
        free(uri);
    }
}

static void show(const char *step, int64_t ms, size_t n, const char *unit)
{
    printf("%-34s %8lld ms %10.0f %s/s\n", step, (long long)ms,
           ms > 0 ? (double)n * 1000.0 / (double)ms : (double)n * 1000.0, unit);
}

static int64_t baseline(const char *dir, size_t n, struct buf *json, size_t *bytes)
{
    char *path = path_join(dir, "baseline");
    int64_t start = clock_ms();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    *bytes = 0;
    if (fd < 0)
        msg_fatal("create %s: %m", path);
    for (size_t i = 0; i < n; i++) {
        report_json(i, json);
        if (write(fd, json->data, json->len) != (ssize_t)json->len)
            msg_fatal("write %s: %m", path);
        *bytes += json->len;
    }
    if (fsync(fd) < 0)
        msg_fatal("fsync %s: %m", path);
    close(fd);
    int64_t ms = clock_ms() - start;
    unlink(path);
    free(path);
    return ms;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : DEFAULT_REPORTS;
    size_t m = argc > 2 ? strtoul(argv[2], NULL, 10) : DEFAULT_UPDATES;
    const char *tmp = argc > 3 ? argv[3] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *error = NULL, *top = path_join(tmp, "bench_outbox.XXXXXX");
    struct buf json;
    size_t bytes;

    msg_setup("bench_outbox", 0, 0);
    if (n == 0 || n > MAX_REPORTS)
        msg_fatal("usage: bench_outbox [REPORTS (1..%d) [UPDATES [DIR]]]", MAX_REPORTS);
    if (mkdtemp(top) == NULL)
        msg_fatal("mkdtemp %s: %m", top);
    buf_init(&json);
    printf("outbox of %zu reports, %zu updates, in %s (figures on a loaded machine are "
           "indicative)\n",
           n, m, top);
    int64_t base_ms = baseline(top, n, &json, &bytes);
    printf("report bytes: %zu (%.0f per report)\n", bytes, (double)bytes / (double)n);
    show("baseline: write() + 1 fsync", base_ms, n, "reports");

    char *outbox = path_join(top, "outbox");
    struct spool *spool = spool_open(outbox, &error);
    if (spool == NULL)
        msg_fatal("%s", error);
    int64_t start = clock_ms();
    struct spool_day *txn = spool_day_begin(spool, BENCH_DAY, &error);
    if (txn == NULL)
        msg_fatal("%s", error);
    for (size_t i = 0; i < n; i++) {
        struct spool_entry entry;
        make_entry(i, &entry);
        report_json(i, &json);
        if (spool_day_add(txn, &entry, json.data, json.len, &error) < 0)
            msg_fatal("%s", error);
        spool_entry_free(&entry);
    }
    if (spool_day_commit(txn, &error) < 0)
        msg_fatal("%s", error);
    int64_t build_ms = clock_ms() - start;
    show("build (day_begin/add/commit)", build_ms, n, "reports");

    struct spool_entry *entries;
    size_t n_entries;
    start = clock_ms();
    if (spool_list(spool, &entries, &n_entries, &error) < 0)
        msg_fatal("%s", error);
    show("spool_list", clock_ms() - start, n_entries, "reports");
    if (n_entries != n)
        msg_fatal("listed %zu reports of %zu", n_entries, n);

    start = clock_ms();
    for (size_t i = 0; i < m; i++) {
        struct spool_entry *entry = &entries[(i * 7919) % n_entries];
        entry->destinations[0].attempts++;
        entry->destinations[0].state = SPOOL_RETRYING;
        if (spool_update(spool, entry, &error) < 0)
            msg_fatal("%s", error);
    }
    show("spool_update (each durable)", clock_ms() - start, m, "updates");
    spool_list_free(entries, n_entries);

    double ratio = build_ms > 0 ? (double)base_ms / (double)build_ms : 1.0;
    printf("build throughput: %.0f %% of the baseline (goal >= %.0f %%)\n", ratio * 100,
           BUILD_TARGET * 100);
    spool_close(spool);
    free(outbox);
    dir_remove_tree(top);
    free(top);
    buf_free(&json);
    return 0;
}
