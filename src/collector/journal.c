/*
 * journal.c - the collector's journal file: a fixed header (positions,
 * appended count, the parse thread's intent) and the records' ring, mapped
 * MAP_SHARED so that what a thread wrote survives the process being killed.
 * It is not msync'ed: a machine crash can lose what the kernel had not yet
 * written back (a damaged record is then detected by its checksum).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "util.h"

#define JOURNAL_MAGIC "TLSRPTJR"
#define JOURNAL_VERSION 1u
#define JOURNAL_HEADER_SIZE 8192u

struct journal_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint64_t data_size;
    uint64_t head;       /* atomic: bytes ever published (drain thread) */
    uint64_t tail;       /* atomic: bytes ever consumed (parse thread) */
    uint64_t appended;   /* atomic: records ever published */
    uint64_t intent_end; /* atomic, the commit mark: the intent is for the record ending here */
    int32_t intent_day;
    uint32_t intent_cells;
    struct journal_cell cells[JOURNAL_MAX_CELLS];
};
_Static_assert(sizeof(struct journal_header) <= JOURNAL_HEADER_SIZE, "header fits");

struct journal {
    char *path;
    int fd;
    unsigned char *map;
    size_t map_size;
    struct journal_header *header;
    struct ring *ring;
};

/* A new journal: made under a temporary name, so a half-made one is never found. */
static int journal_create(const char *path, size_t data_size, uid_t owner, char **error_r)
{
    char *temp = xasprintf("%s.new", path);
    struct journal_header header = {
        .version = JOURNAL_VERSION, .header_size = JOURNAL_HEADER_SIZE, .data_size = data_size};
    int fd, err;

    memcpy(header.magic, JOURNAL_MAGIC, sizeof(header.magic));
    (void)unlink(temp);
    fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        *error_r = xasprintf("%s: cannot create: %s", temp, strerror(errno));
        free(temp);
        return -1;
    }
    if (geteuid() == 0 && fchown(fd, owner, (gid_t)-1) < 0)
        msg_warn("%s: cannot give it to uid %ld: %s", temp, (long)owner, strerror(errno));
    /* Reserved now: a full disk cannot SIGBUS the drain thread later. */
    if ((err = posix_fallocate(fd, 0, (off_t)(JOURNAL_HEADER_SIZE + data_size))) != 0 ||
        pwrite(fd, &header, sizeof(header), 0) != (ssize_t)sizeof(header) ||
        rename(temp, path) < 0) {
        *error_r = xasprintf("%s: cannot make a journal of %zu bytes: %s", path, data_size,
                             strerror(err != 0 ? err : errno));
        (void)close(fd);
        (void)unlink(temp);
        free(temp);
        return -1;
    }
    free(temp);
    return fd;
}

/* Why an existing journal cannot be used as it is, or NULL. */
static const char *header_problem(const struct journal_header *h, off_t file_size)
{
    if (memcmp(h->magic, JOURNAL_MAGIC, sizeof(h->magic)) != 0)
        return "not a collector journal";
    if (h->version != JOURNAL_VERSION || h->header_size != JOURNAL_HEADER_SIZE)
        return "unknown journal version";
    if (h->data_size < 4096 || h->data_size % 8 != 0 ||
        (uint64_t)file_size != JOURNAL_HEADER_SIZE + h->data_size)
        return "size does not match its header";
    if (h->tail > h->head || h->head - h->tail > h->data_size || h->tail % 8 != 0 ||
        h->head % 8 != 0)
        return "positions out of range";
    if (h->intent_cells > JOURNAL_MAX_CELLS ||
        (h->intent_end > h->tail && (h->intent_end > h->head || h->intent_end % 8 != 0)))
        return "intent out of range";
    return NULL;
}

static bool journal_empty(const struct journal_header *h)
{
    return h->head == h->tail && h->intent_end <= h->tail;
}

/* An existing journal: its fd, or -1 when a new one is to be made (*data_size may change). */
static int journal_reopen(const char *path, size_t *data_size, char **error_r)
{
    struct journal_header header;
    const char *problem;
    struct stat st;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        if (errno != ENOENT)
            *error_r = xasprintf("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    ssize_t got = pread(fd, &header, sizeof(header), 0);
    if (fstat(fd, &st) < 0 || got != (ssize_t)sizeof(header))
        problem = "shorter than its header";
    else
        problem = header_problem(&header, st.st_size);
    if (problem != NULL) {
        char *aside = xasprintf("%s.damaged", path);
        msg_error("%s: %s; moved to %s, a new journal is made", path, problem, aside);
        if (rename(path, aside) < 0)
            msg_warn("%s: cannot rename: %s", path, strerror(errno));
        free(aside);
        (void)close(fd);
        return -1;
    }
    if (header.data_size != *data_size) {
        if (journal_empty(&header)) {
            (void)close(fd);
            return -1; /* made again in the configured size */
        }
        msg_warn("%s: holds datagrams not yet counted: keeps its size of %llu bytes until they "
                 "are (collector_buffer_size is %zu)",
                 path, (unsigned long long)header.data_size, *data_size);
        *data_size = header.data_size;
    }
    return fd;
}

struct journal *journal_open(const char *path, size_t data_size, uid_t owner, char **error_r)
{
    char *error = NULL;
    int fd;

    data_size &= ~(size_t)7;
    fd = journal_reopen(path, &data_size, &error);
    if (fd < 0 && error == NULL)
        fd = journal_create(path, data_size, owner, &error);
    if (fd < 0) {
        /* Better counted without the crash guarantee than not at all. */
        msg_error("collector: %s: received datagrams are kept in memory only until a restart "
                  "can make the journal (a crash loses them)",
                  error);
        free(error);
    }

    struct journal *journal = xcalloc(1, sizeof(*journal));
    journal->path = xstrdup(path);
    journal->fd = fd;
    journal->map_size = JOURNAL_HEADER_SIZE + data_size;
    /* Populated now: a page fault in the drain thread during a burst costs time. */
    journal->map = mmap(NULL, journal->map_size, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_POPULATE | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
    if (journal->map == MAP_FAILED) {
        *error_r =
            xasprintf("%s: cannot map %zu bytes: %s", path, journal->map_size, strerror(errno));
        if (fd >= 0)
            (void)close(fd);
        free(journal->path);
        free(journal);
        return NULL;
    }
    journal->header = (struct journal_header *)journal->map;
    /*
     * Records up to the journal's size are sound: one longer than the
     * configured maximum (lowered since it was written) is the parser's to reject.
     */
    journal->ring = ring_attach(journal->map + JOURNAL_HEADER_SIZE, data_size,
                                &journal->header->head, &journal->header->tail, data_size);
    return journal;
}

void journal_close(struct journal *journal)
{
    if (journal == NULL)
        return;
    ring_destroy(journal->ring);
    if (munmap(journal->map, journal->map_size) < 0)
        msg_warn("%s: munmap: %s", journal->path, strerror(errno));
    if (journal->fd >= 0)
        (void)close(journal->fd);
    free(journal->path);
    free(journal);
}

struct ring *journal_ring(struct journal *journal)
{
    return journal->ring;
}

size_t journal_size(const struct journal *journal)
{
    return journal->map_size - JOURNAL_HEADER_SIZE;
}

uint64_t journal_appended(const struct journal *journal)
{
    return __atomic_load_n(&journal->header->appended, __ATOMIC_ACQUIRE);
}

void journal_add_appended(struct journal *journal, uint64_t count)
{
    __atomic_fetch_add(&journal->header->appended, count, __ATOMIC_RELEASE);
}

void journal_intent(struct journal *journal, int day, const struct journal_cell *cells, size_t n,
                    uint64_t end)
{
    struct journal_header *h = journal->header;

    if (n > JOURNAL_MAX_CELLS)
        msg_panic("journal_intent: %zu cells", n);
    /* Cells first, the commit mark last: a kill before the mark leaves no intent. */
    memcpy(h->cells, cells, n * sizeof(*cells));
    h->intent_day = day;
    h->intent_cells = (uint32_t)n;
    __atomic_store_n(&h->intent_end, end, __ATOMIC_RELEASE);
}

bool journal_intent_pending(const struct journal *journal, int *day_r,
                            const struct journal_cell **cells_r, size_t *n_r, uint64_t *end_r)
{
    const struct journal_header *h = journal->header;
    uint64_t end = __atomic_load_n(&h->intent_end, __ATOMIC_ACQUIRE);

    if (end <= __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE))
        return false;
    *day_r = h->intent_day;
    *cells_r = h->cells;
    *n_r = h->intent_cells;
    *end_r = end;
    return true;
}
