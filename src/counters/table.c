/*
 * table.c - a day's counter table as a file: layout, race-free creation,
 * validation on open, the insert lock, totals and the reported flag.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "core.h"
#include "counters.h"
#include "table_impl.h"

/* Hashed with the file's seed at creation and on every open (see hash_check). */
static const char hash_check_text[] = "tlsrptd counter table hash check";

char *ctr_day_path(const char *dir, int day)
{
    char text[DAY_TEXT_SIZE];
    char *name;
    char *path;

    day_format(day, text);
    name = xasprintf("%s%s", text, CTR_FILE_SUFFIX);
    path = path_join(dir, name);
    free(name);
    return path;
}

static uint32_t round_up_power_of_two(uint32_t value)
{
    uint32_t result = 1;

    while (result < value)
        result <<= 1;
    return result;
}

int ctr_layout_compute(uint32_t version, uint32_t max_entries, uint64_t string_space,
                       struct ctr_layout *layout, const char **error_r)
{
    uint32_t overflow_slots;

    if (max_entries < 1 || max_entries > CTR_MAX_ENTRIES_LIMIT) {
        *error_r = "max_entries out of range (1..268435456)";
        return -1;
    }
    if (string_space < 1 || string_space > CTR_STRING_SPACE_LIMIT) {
        *error_r = "string_space out of range (1..4294967295)";
        return -1;
    }
    /* At most half of the slots are ever used, which keeps probe runs short. */
    layout->max_entries = max_entries;
    layout->slot_count = round_up_power_of_two(2 * max_entries);
    layout->first_slots = layout->slot_count;
    layout->max_segments = 1;
    if (version != CTR_FORMAT_VERSION_FIXED) {
        /* A quarter of the whole at most: every table can grow (and the tests see it). */
        if (layout->first_slots > 4)
            layout->first_slots /= 4;
        if (layout->first_slots > CTR_FIRST_SLOTS)
            layout->first_slots = CTR_FIRST_SLOTS;
        while (layout->first_slots << (layout->max_segments - 1) < layout->slot_count)
            layout->max_segments++;
    }
    overflow_slots = layout->slot_count;
    if (overflow_slots < CTR_OVERFLOW_MIN_SLOTS)
        overflow_slots = CTR_OVERFLOW_MIN_SLOTS;
    if (overflow_slots > CTR_OVERFLOW_MAX_SLOTS)
        overflow_slots = CTR_OVERFLOW_MAX_SLOTS;
    layout->overflow_slot_count = overflow_slots;
    layout->string_space = string_space;

    /* With the bounds above every sum stays below 2^36: no overflow in 64 bits. */
    layout->slots_offset = CTR_HEADER_SIZE;
    layout->overflow_offset =
        layout->slots_offset + (uint64_t)layout->slot_count * sizeof(struct ctr_slot);
    layout->strings_offset =
        layout->overflow_offset + (uint64_t)overflow_slots * sizeof(struct ctr_overflow_slot);
    layout->file_size = layout->strings_offset + string_space;
    if (layout->file_size > SIZE_MAX || layout->file_size > (uint64_t)INT64_MAX) {
        *error_r = "table too large for this system";
        return -1;
    }
    return 0;
}

uint64_t ctr_hash(const struct ctr_table *table, const void *data, size_t len)
{
    uint64_t hash = hash64(data, len, table->hash_seed);

    return hash != 0 ? hash : 1;
}

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    struct timespec now;

    if (getentropy(&seed, sizeof(seed)) == 0 && seed != 0)
        return seed;
    /* No entropy source: unpredictable enough to stop accidental clustering. */
    clock_gettime(CLOCK_REALTIME, &now);
    seed = (uint64_t)now.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)now.tv_sec ^
           (uint64_t)getpid() << 32;
    return seed != 0 ? seed : 1;
}

static void header_init(struct ctr_file_header *header, int day, const struct ctr_layout *layout)
{
    memset(header, 0, sizeof(*header));
    memcpy(header->magic, CTR_MAGIC, CTR_MAGIC_SIZE);
    header->version = CTR_FORMAT_VERSION;
    header->header_size = CTR_HEADER_SIZE;
    header->byte_order = CTR_BYTE_ORDER_MARK;
    header->day = day;
    header->max_entries = layout->max_entries;
    header->slot_count = layout->slot_count;
    header->overflow_slot_count = layout->overflow_slot_count;
    header->first_slots = layout->first_slots;
    header->string_space = layout->string_space;
    header->slots_offset = layout->slots_offset;
    header->overflow_offset = layout->overflow_offset;
    header->strings_offset = layout->strings_offset;
    header->file_size = layout->file_size;
    header->hash_seed = random_seed();
    header->hash_check = hash64(hash_check_text, sizeof(hash_check_text) - 1, header->hash_seed);
    header->created = (int64_t)time(NULL);
    header->segments = 1;
    header->string_reserved = layout->string_space < CTR_STRING_RESERVE_MIN
                                  ? layout->string_space
                                  : CTR_STRING_RESERVE_MIN;
}

/* Disk blocks for [offset, offset + len): errno value, 0 when reserved or not possible here. */
static int reserve_blocks(int fd, uint64_t offset, uint64_t len)
{
    int err = posix_fallocate(fd, (off_t)offset, (off_t)len);

    /* Where the file system cannot reserve, the table stays sparse. */
    return err == EOPNOTSUPP || err == EINVAL || err == ENOSYS ? 0 : err;
}

/*
 * Builds a complete table under a temporary name and links it into place, so
 * nobody ever sees a half-initialised file. Losing the race to another
 * creator is success: the caller opens whatever file won.
 */
static int table_create(const char *dir, const char *path, int day, const struct ctr_limits *limits,
                        char **error_r)
{
    struct ctr_limits defaults = {CTR_DEFAULT_MAX_ENTRIES, CTR_DEFAULT_STRING_SPACE};
    struct ctr_layout layout;
    uint32_t max_entries;
    uint64_t string_space;
    struct ctr_file_header header;
    const char *reason;
    char text[DAY_TEXT_SIZE];
    char *temp_name;
    char *temp_path;
    int fd;
    int err;
    int result = -1;

    if (limits == NULL)
        limits = &defaults;
    max_entries = limits->max_entries;
    /* 4g (the configuration's largest) is one byte more than offsets address. */
    string_space = limits->string_space == CTR_STRING_SPACE_LIMIT + 1ull ? CTR_STRING_SPACE_LIMIT
                                                                         : limits->string_space;
#if SIZE_MAX <= UINT32_MAX
    /* The whole file is mapped: on a 32-bit system, 512 MB of address space at most. */
    if (max_entries > CTR_SMALL_SYSTEM_ENTRIES)
        max_entries = CTR_SMALL_SYSTEM_ENTRIES;
    if (string_space > CTR_SMALL_SYSTEM_STRING_SPACE)
        string_space = CTR_SMALL_SYSTEM_STRING_SPACE;
#endif
    if (ctr_layout_compute(CTR_FORMAT_VERSION, max_entries, string_space, &layout, &reason) < 0) {
        *error_r = xasprintf("%s: cannot create: %s", path, reason);
        return -1;
    }
    day_format(day, text);
    /* The leading dot keeps ctr_list_days() from taking it for a table. */
    temp_name = xasprintf(".%s%s.XXXXXX", text, CTR_FILE_SUFFIX);
    temp_path = path_join(dir, temp_name);
    free(temp_name);
    if ((fd = mkostemp(temp_path, O_CLOEXEC)) < 0) {
        *error_r = xasprintf("%s: cannot create: %s", path, strerror(errno));
        free(temp_path);
        return -1;
    }
    header_init(&header, day, &layout);
    if (fchmod(fd, 0640) < 0 || ftruncate(fd, (off_t)layout.file_size) < 0) {
        *error_r = xasprintf("%s: cannot size the table: %s", temp_path, strerror(errno));
        goto out;
    }
    /*
     * Reserve the blocks of what is used from the start (header, segment 0,
     * overflow records, the arena's first bytes): a store into a hole of a
     * MAP_SHARED mapping on a full file system kills the writer with SIGBUS,
     * much later. The rest stays a hole until the table grows into it.
     */
    if ((err = reserve_blocks(fd, 0,
                              layout.slots_offset +
                                  (uint64_t)layout.first_slots * sizeof(struct ctr_slot))) != 0 ||
        (err = reserve_blocks(fd, layout.overflow_offset,
                              layout.strings_offset - layout.overflow_offset +
                                  header.string_reserved)) != 0) {
        *error_r =
            xasprintf("%s: cannot allocate the table's first blocks: %s", temp_path, strerror(err));
        goto out;
    }
    if (pwrite(fd, &header, sizeof(header), 0) != (ssize_t)sizeof(header)) {
        *error_r = xasprintf("%s: cannot write the header: %s", temp_path,
                             errno != 0 ? strerror(errno) : "short write");
        goto out;
    }
    if (link(temp_path, path) < 0 && errno != EEXIST) {
        *error_r = xasprintf("%s: cannot link %s into place: %s", path, temp_path, strerror(errno));
        goto out;
    }
    result = 0;
out:
    (void)close(fd);
    if (unlink(temp_path) < 0 && result == 0)
        msg_warn("%s: cannot remove: %s", temp_path, strerror(errno));
    free(temp_path);
    return result;
}

/* Checks a header read from a file of file_size bytes; the reason on failure. */
static const char *header_problem(const struct ctr_file_header *header, off_t file_size, int day,
                                  char **detail_r)
{
    struct ctr_layout layout;
    const char *reason;
    char want[DAY_TEXT_SIZE];
    char have[DAY_TEXT_SIZE];

    *detail_r = NULL;
    if (file_size < (off_t)CTR_HEADER_SIZE) {
        *detail_r = xasprintf("truncated or not a counter table (%jd bytes)", (intmax_t)file_size);
        return *detail_r;
    }
    if (memcmp(header->magic, CTR_MAGIC, CTR_MAGIC_SIZE) != 0)
        return "not a counter table (bad magic)";
    if (header->byte_order != CTR_BYTE_ORDER_MARK)
        return "made on a host of another byte order";
    if (header->version != CTR_FORMAT_VERSION && header->version != CTR_FORMAT_VERSION_FIXED) {
        *detail_r = xasprintf("format version %" PRIu32 ", this program reads versions %u and %u",
                              header->version, CTR_FORMAT_VERSION_FIXED, CTR_FORMAT_VERSION);
        return *detail_r;
    }
    if (header->header_size != CTR_HEADER_SIZE)
        return "inconsistent header (header size)";
    if (header->day != day) {
        day_format(day, want);
        day_format(header->day, have);
        *detail_r = xasprintf("holds the counters of %s, not of %s", have, want);
        return *detail_r;
    }
    if (ctr_layout_compute(header->version, header->max_entries, header->string_space, &layout,
                           &reason) < 0) {
        *detail_r = xasprintf("inconsistent header (%s)", reason);
        return *detail_r;
    }
    if (layout.slot_count != header->slot_count ||
        layout.overflow_slot_count != header->overflow_slot_count ||
        layout.slots_offset != header->slots_offset ||
        layout.overflow_offset != header->overflow_offset ||
        layout.strings_offset != header->strings_offset || layout.file_size != header->file_size)
        return "inconsistent header (layout)";
    if (header->version != CTR_FORMAT_VERSION_FIXED &&
        (header->first_slots != layout.first_slots || header->segments < 1 ||
         header->segments > layout.max_segments || header->string_reserved > header->string_space))
        return "inconsistent header (segments)";
    if ((uint64_t)file_size != header->file_size) {
        *detail_r = xasprintf("%s: %jd bytes, the header says %" PRIu64,
                              (uint64_t)file_size < header->file_size ? "truncated" : "wrong size",
                              (intmax_t)file_size, header->file_size);
        return *detail_r;
    }
    if (hash64(hash_check_text, sizeof(hash_check_text) - 1, header->hash_seed) !=
        header->hash_check)
        return "made with another hash function (format change without version change)";
    return NULL;
}

/* Handle ids start at 1: 0 marks an empty entry of a thread's slot cache. */
static uint64_t next_table_id;

/* Validates the file open on fd and maps it; takes ownership of fd and path. */
static struct ctr_table *table_attach(char *path, int fd, int day, bool writable, char **error_r)
{
    struct ctr_file_header header;
    struct ctr_layout layout;
    struct ctr_table *table;
    struct stat st;
    const char *problem;
    char *detail;
    ssize_t got;
    void *map;

    if (fstat(fd, &st) < 0) {
        *error_r = xasprintf("%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        *error_r = xasprintf("%s: not a regular file", path);
        goto fail;
    }
    memset(&header, 0, sizeof(header));
    if (st.st_size >= (off_t)CTR_HEADER_SIZE) {
        got = pread(fd, &header, sizeof(header), 0);
        if (got != (ssize_t)sizeof(header)) {
            *error_r = xasprintf("%s: cannot read the header: %s", path,
                                 got < 0 ? strerror(errno) : "short read");
            goto fail;
        }
    }
    if ((problem = header_problem(&header, st.st_size, day, &detail)) != NULL) {
        *error_r = xasprintf("%s: %s", path, problem);
        free(detail);
        goto fail;
    }
    /* Checked by header_problem(): the same sizes give the same layout. */
    (void)ctr_layout_compute(header.version, header.max_entries, header.string_space, &layout,
                             &problem);
    map = mmap(NULL, (size_t)header.file_size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
               MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        *error_r = xasprintf("%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    table = xcalloc(1, sizeof(*table));
    table->path = path;
    table->day = day;
    table->writable = writable;
    table->fd = fd;
    table->fd_owner = getpid();
    table->map = map;
    table->map_size = (size_t)header.file_size;
    table->header = map;
    table->slots = (struct ctr_slot *)(table->map + header.slots_offset);
    table->fixed = header.version == CTR_FORMAT_VERSION_FIXED;
    table->first_slots = layout.first_slots;
    table->max_segments = layout.max_segments;
    table->id = __atomic_add_fetch(&next_table_id, 1, __ATOMIC_RELAXED);
    table->slots_offset = header.slots_offset;
    table->strings_offset = header.strings_offset;
    table->max_entries = header.max_entries;
    table->overflow = (struct ctr_overflow_slot *)(table->map + header.overflow_offset);
    table->overflow_mask = header.overflow_slot_count - 1;
    table->overflow_capacity = header.overflow_slot_count / 2;
    table->strings = table->map + header.strings_offset;
    table->string_space = header.string_space;
    table->hash_seed = header.hash_seed;
    if (pthread_mutex_init(&table->insert_mutex, NULL) != 0 ||
        pthread_mutex_init(&table->late_mutex, NULL) != 0)
        msg_fatal("%s: cannot initialise a mutex", path);
    return table;

fail:
    (void)close(fd);
    free(path);
    return NULL;
}

struct ctr_table *ctr_open(const char *dir, int day, enum ctr_open_mode mode,
                           const struct ctr_limits *limits, char **error_r)
{
    char text[DAY_TEXT_SIZE];
    const char *reason;
    char *path;
    int attempts = 0;
    int parsed;
    int fd;

    /* A day without a YYYY-MM-DD name would make a file ctr_list_days() never sees. */
    day_format(day, text);
    if (day_parse(text, &parsed, &reason) < 0 || parsed != day) {
        *error_r = xasprintf("%s: day %d out of range", dir, day);
        return NULL;
    }
    path = ctr_day_path(dir, day);
    if (mode == CTR_READ_ONLY) {
        if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
            *error_r = xasprintf("%s: cannot open: %s", path, strerror(errno));
            free(path);
            return NULL;
        }
        return table_attach(path, fd, day, false, error_r);
    }
    /* Retry a few times: a table can vanish (expiry) between link and open. */
    while ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        if (errno != ENOENT || ++attempts > 3) {
            *error_r = xasprintf("%s: cannot open: %s", path, strerror(errno));
            free(path);
            return NULL;
        }
        if (table_create(dir, path, day, limits, error_r) < 0) {
            free(path);
            return NULL;
        }
    }
    return table_attach(path, fd, day, true, error_r);
}

void ctr_close(struct ctr_table *table)
{
    if (table == NULL)
        return;
    if (munmap(table->map, table->map_size) < 0)
        msg_warn("%s: munmap: %s", table->path, strerror(errno));
    (void)close(table->fd);
    pthread_mutex_destroy(&table->insert_mutex);
    pthread_mutex_destroy(&table->late_mutex);
    free(table->path);
    free(table);
}

int ctr_day(const struct ctr_table *table)
{
    return table->day;
}

/*
 * A forked child shares its parent's open file, and flock() does not
 * exclude two holders of the same open file: the child takes its own.
 */
static bool reopen_after_fork(struct ctr_table *table)
{
    struct stat old_st;
    struct stat new_st;
    int fd;

    fd = open(table->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        msg_warn("%s: cannot reopen after fork: %s", table->path, strerror(errno));
        return false;
    }
    if (fstat(fd, &new_st) < 0 || fstat(table->fd, &old_st) < 0 || new_st.st_dev != old_st.st_dev ||
        new_st.st_ino != old_st.st_ino) {
        msg_warn("%s: replaced by another file while open", table->path);
        (void)close(fd);
        return false;
    }
    (void)close(table->fd);
    table->fd = fd;
    table->fd_owner = getpid();
    return true;
}

bool ctr_insert_lock(struct ctr_table *table)
{
    int err;

    if ((err = pthread_mutex_lock(&table->insert_mutex)) != 0)
        msg_panic("%s: pthread_mutex_lock: %s", table->path, strerror(err));
    if (table->fd_owner != getpid() && !reopen_after_fork(table))
        goto fail;
    /* The kernel drops the lock of a process that dies: kill -9 cannot wedge it. */
    while (flock(table->fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            msg_warn("%s: flock: %s", table->path, strerror(errno));
            goto fail;
        }
    }
    return true;
fail:
    pthread_mutex_unlock(&table->insert_mutex);
    return false;
}

void ctr_insert_unlock(struct ctr_table *table)
{
    if (flock(table->fd, LOCK_UN) < 0)
        msg_warn("%s: flock unlock: %s", table->path, strerror(errno));
    pthread_mutex_unlock(&table->insert_mutex);
}

/* Seconds without a new reservation after one failed (each try costs syscalls). */
#define GROW_RETRY_SECONDS 10

static bool reserve_or_warn(struct ctr_table *table, uint64_t offset, uint64_t len,
                            const char *what)
{
    int err;

    if (time(NULL) < table->grow_retry)
        return false;
    if ((err = reserve_blocks(table->fd, offset, len)) == 0)
        return true;
    table->grow_retry = time(NULL) + GROW_RETRY_SECONDS;
    if (!table->warned_grow++)
        msg_warn("%s: cannot grow the counter table by %" PRIu64 " bytes of %s: %s; "
                 "new keys are counted per domain only until there is room",
                 table->path, len, what, strerror(err));
    return false;
}

bool ctr_grow_slots(struct ctr_table *table)
{
    struct ctr_file_header *header = table->header;
    uint32_t n = ctr_segments(table);

    if (n >= table->max_segments)
        return false;
    /* The new segment was never written: its slots are the file's zeros. */
    if (!reserve_or_warn(table,
                         table->slots_offset +
                             (uint64_t)ctr_segment_base(table, n) * sizeof(struct ctr_slot),
                         (uint64_t)ctr_segment_slots(table, n) * sizeof(struct ctr_slot), "slots"))
        return false;
    __atomic_store_n(&header->segments, n + 1, __ATOMIC_RELEASE);
    return true;
}

bool ctr_reserve_strings(struct ctr_table *table, uint64_t end)
{
    struct ctr_file_header *header = table->header;
    uint64_t reserved = __atomic_load_n(&header->string_reserved, __ATOMIC_RELAXED);
    uint64_t want;

    if (table->fixed || end <= reserved)
        return true;
    if (end > table->string_space)
        return false;
    /* Half as much again each time: few reservations, little reserved unused. */
    want =
        reserved + (reserved / 2 > CTR_STRING_RESERVE_MIN ? reserved / 2 : CTR_STRING_RESERVE_MIN);
    if (want < end)
        want = end;
    if (want > table->string_space)
        want = table->string_space;
    if (reserved > table->string_space ||
        !reserve_or_warn(table, table->strings_offset + reserved, want - reserved, "strings"))
        return false;
    __atomic_store_n(&header->string_reserved, want, __ATOMIC_RELAXED);
    return true;
}

bool ctr_table_reported(const struct ctr_table *table)
{
    return __atomic_load_n(&table->header->reported, __ATOMIC_ACQUIRE) != 0;
}

bool ctr_table_closed(const struct ctr_table *table)
{
    return ctr_table_reported(table) ||
           __atomic_load_n(&table->header->closed, __ATOMIC_ACQUIRE) != 0;
}

uint64_t ctr_late_events(const struct ctr_table *table)
{
    uint64_t total = 0;

    for (size_t i = 0; i < UTIL_ARRAY_LEN(table->header->late_events); i++)
        total += __atomic_load_n(&table->header->late_events[i], __ATOMIC_RELAXED);
    return total;
}

void ctr_warn_late(struct ctr_table *table)
{
    uint64_t held_back;
    bool log;

    pthread_mutex_lock(&table->late_mutex);
    log = msg_rate_allow(&table->late_rate, time(NULL), &held_back);
    pthread_mutex_unlock(&table->late_mutex);
    if (log)
        msg_warn("%s: events arrive for a day whose reports were already built: %llu so far "
                 "missed the report (counted as late only)",
                 table->path, (unsigned long long)ctr_late_events(table) + 1);
}

void ctr_stats(struct ctr_table *table, struct ctr_stats *stats)
{
    const struct ctr_file_header *header = table->header;
    const unsigned char *encoding;
    uint32_t length;
    uint32_t index;
    uint32_t published;

    memset(stats, 0, sizeof(*stats));
    stats->entries_used = __atomic_load_n(&header->entries_used, __ATOMIC_RELAXED);
    stats->max_entries = table->max_entries;
    stats->string_used = __atomic_load_n(&header->string_used, __ATOMIC_RELAXED);
    stats->string_space = table->string_space;
    stats->overflow_events = __atomic_load_n(&header->overflow_events, __ATOMIC_RELAXED);
    stats->lost_events = __atomic_load_n(&header->lost_events, __ATOMIC_RELAXED);
    stats->late_events = ctr_late_events(table);
    stats->overflow_domains = __atomic_load_n(&header->overflow_domains, __ATOMIC_RELAXED);
    stats->reported = ctr_table_reported(table);
    for (index = 0, published = ctr_slots_published(table); index < published; index++) {
        struct ctr_slot *slot = &table->slots[index];

        if (__atomic_load_n(&slot->hash, __ATOMIC_ACQUIRE) == 0)
            continue;
        encoding = ctr_slot_encoding(table, slot, &length);
        if (encoding == NULL || !ctr_kind_is_key(encoding[0]))
            continue;
        stats->sessions_success += __atomic_load_n(&slot->count[0], __ATOMIC_RELAXED);
        stats->sessions_failure += __atomic_load_n(&slot->count[1], __ATOMIC_RELAXED);
    }
}

/*
 * The report builder may hold the table read-only (mapped PROT_READ): then
 * the flag is written through a short-lived writable descriptor instead.
 */
/* Sets a flag of the header to 1, through a writable descriptor if need be. */
static void set_flag(struct ctr_table *table, uint32_t *flag, const char *what)
{
    const uint32_t one = 1;
    struct stat old_st;
    struct stat new_st;
    ssize_t wrote;
    int fd;

    if (table->writable) {
        __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
        return;
    }
    if ((fd = open(table->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        msg_warn("%s: cannot mark %s: %s", table->path, what, strerror(errno));
        return;
    }
    if (fstat(fd, &new_st) < 0 || fstat(table->fd, &old_st) < 0 || new_st.st_dev != old_st.st_dev ||
        new_st.st_ino != old_st.st_ino) {
        msg_warn("%s: cannot mark %s: replaced by another file", table->path, what);
    } else {
        wrote = pwrite(fd, &one, sizeof(one), (off_t)((unsigned char *)flag - table->map));
        if (wrote != (ssize_t)sizeof(one))
            msg_warn("%s: cannot mark %s: %s", table->path, what,
                     wrote < 0 ? strerror(errno) : "short write");
    }
    (void)close(fd);
}

void ctr_set_reported(struct ctr_table *table)
{
    set_flag(table, &table->header->reported, "reported");
}

void ctr_set_closed(struct ctr_table *table)
{
    set_flag(table, &table->header->closed, "closed");
}
