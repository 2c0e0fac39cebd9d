/*
 * log.c - a day's state.log: an append-only log of framed state records
 * (length and crc32, so a torn or damaged record is found and skipped), the
 * index this process keeps of it (unique_id -> last record, read on from
 * where it stopped), appends under a shared flock, compaction under an
 * exclusive one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"
#include "spool_impl.h"

static const unsigned char log_magic[4] = {'T', 'L', 'R', 0x01};
/* The size after build or compaction, and a nonce: a new file is never taken for the old. */
#define BASE_PAYLOAD "base=%020" PRIu64 " id=%016" PRIx64 "\n"
#define BASE_PAYLOAD_SIZE 46
#define COMPACT_MIN_GROWTH (1024 * 1024) /* never for less */
#define COMPACT_DEAD_PER_LIVE 4          /* "far more dead records than live ones" */

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* magic[4] type[1] zero[3] length[4] crc32[4] payload; the crc covers type..length and payload. */
void spool_log_frame(struct buf *out, char type, const void *payload, size_t len)
{
    unsigned char header[SPOOL_LOG_HEADER] = {0};

    memcpy(header, log_magic, 4);
    header[4] = (unsigned char)type;
    put_le32(header + 8, (uint32_t)len);
    uLong crc = crc32(0L, header + 4, 8);
    crc = crc32(crc, payload, (uInt)len);
    put_le32(header + 12, (uint32_t)crc);
    buf_append(out, header, sizeof(header));
    buf_append(out, payload, len);
}

/* A whole, intact record at pos: its payload length, else -1. */
void spool_log_base_frame(struct buf *out, uint64_t size)
{
    static uint64_t counter;
    struct {
        struct timespec now;
        pid_t pid;
        uint64_t counter;
    } seed = {.pid = getpid(), .counter = counter++};
    char text[BASE_PAYLOAD_SIZE + 1];
    uint64_t nonce;

    clock_gettime(CLOCK_REALTIME, &seed.now);
    if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != sizeof(nonce))
        nonce = hash64(&seed, sizeof(seed), 0);
    snprintf(text, sizeof(text), BASE_PAYLOAD, size, nonce);
    spool_log_frame(out, SPOOL_RECORD_BASE, text, BASE_PAYLOAD_SIZE);
}

static int64_t frame_at(const unsigned char *data, uint64_t pos, uint64_t size)
{
    if (size - pos < SPOOL_LOG_HEADER || memcmp(data + pos, log_magic, 4) != 0)
        return -1;
    const unsigned char *h = data + pos;
    uint32_t len = get_le32(h + 8);
    if ((h[4] != SPOOL_RECORD_BASE && h[4] != SPOOL_RECORD_STATE && h[4] != SPOOL_RECORD_GONE) ||
        h[5] || h[6] || h[7] || len > SPOOL_STATE_MAX_SIZE || size - pos - SPOOL_LOG_HEADER < len)
        return -1;
    uLong crc = crc32(0L, h + 4, 8);
    crc = crc32(crc, h + SPOOL_LOG_HEADER, len);
    return (uint32_t)crc == get_le32(h + 12) ? (int64_t)len : -1;
}

uint64_t spool_log_scan(const unsigned char *data, uint64_t from, uint64_t size, const char *name,
                        spool_log_record_fn *record, void *context)
{
    uint64_t pos = from;

    while (pos < size) {
        int64_t len = frame_at(data, pos, size);
        if (len >= 0) {
            record((char)data[pos + 4], pos, data + pos + SPOOL_LOG_HEADER, (uint32_t)len, context);
            pos += SPOOL_LOG_HEADER + (uint64_t)len;
            continue;
        }
        /* Damaged, or the last record still incomplete: is there a good one after it? */
        uint64_t next = pos + 1;
        for (;;) {
            const unsigned char *hit = memmem(data + next, size - next, log_magic, 4);
            if (hit == NULL) {
                next = size;
                break;
            }
            next = (uint64_t)(hit - data);
            if (frame_at(data, next, size) >= 0)
                break;
            next++;
        }
        if (next >= size)
            break;
        msg_warn("%s: offset %" PRIu64 ": a damaged record (%" PRIu64 " bytes) skipped", name, pos,
                 next - pos);
        pos = next;
    }
    return pos;
}

static void index_reset(struct spool_log *log)
{
    for (size_t i = 0; i < log->n_items; i++)
        free(log->items[i].unique_id);
    free(log->items);
    free(log->slots);
    log->items = NULL;
    log->slots = NULL;
    log->n_items = log->cap_items = log->n_slots = 0;
    log->read_pos = log->base = log->records = log->torn_warned = 0;
}

static size_t slot_of(const struct spool_log *log, const char *id, size_t len)
{
    size_t mask = log->n_slots - 1, i = (size_t)hash64(id, len, 0) & mask;

    while (log->slots[i] != 0) {
        const char *other = log->items[log->slots[i] - 1].unique_id;
        if (strncmp(other, id, len) == 0 && other[len] == '\0')
            break;
        i = (i + 1) & mask;
    }
    return i;
}

static void index_grow(struct spool_log *log)
{
    size_t n = log->n_slots ? log->n_slots * 2 : 1024;

    free(log->slots);
    log->slots = xcalloc(n, sizeof(*log->slots));
    log->n_slots = n;
    for (size_t k = 0; k < log->n_items; k++) {
        const char *id = log->items[k].unique_id;
        log->slots[slot_of(log, id, strlen(id))] = (uint32_t)(k + 1);
    }
}

const struct spool_log_record *spool_log_find(const struct spool_log *log, const char *unique_id)
{
    if (log->n_slots == 0)
        return NULL;
    size_t i = slot_of(log, unique_id, strlen(unique_id));
    return log->slots[i] ? &log->items[log->slots[i] - 1] : NULL;
}

/* The unique_id a record is about: a state record's first line, a deletion's payload. */
static bool record_id(char type, const unsigned char *payload, uint32_t len, const char **id,
                      size_t *id_len)
{
    static const char key[] = "unique_id=";
    const char *p = (const char *)payload, *end = p + len;

    if (type == SPOOL_RECORD_STATE) {
        if (len < sizeof(key) || memcmp(p, key, sizeof(key) - 1) != 0)
            return false;
        p += sizeof(key) - 1;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        end = nl ? nl : end;
    }
    *id = p;
    *id_len = (size_t)(end - p);
    for (const char *c = p; c < end; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return false;
    return *id_len > 0 && *id_len < 256;
}

static void index_record(char type, uint64_t offset, const unsigned char *payload, uint32_t len,
                         void *context)
{
    struct spool_log *log = context;
    const char *id;
    size_t id_len;

    if (type == SPOOL_RECORD_BASE) {
        char text[BASE_PAYLOAD_SIZE + 1] = "";
        memcpy(text, payload, len < BASE_PAYLOAD_SIZE ? len : BASE_PAYLOAD_SIZE);
        if (offset == 0 && sscanf(text, "base=%" SCNu64, &log->base) != 1)
            log->base = 0;
        return;
    }
    if (!record_id(type, payload, len, &id, &id_len)) {
        msg_warn("%s: offset %" PRIu64 ": a record without a unique_id skipped", log->path, offset);
        return;
    }
    log->records++;
    if ((log->n_items + 1) * 2 > log->n_slots)
        index_grow(log);
    size_t i = slot_of(log, id, id_len);
    if (log->slots[i] == 0) {
        if (log->n_items == log->cap_items) {
            log->cap_items = log->cap_items ? log->cap_items * 2 : 256;
            log->items = xreallocarray(log->items, log->cap_items, sizeof(*log->items));
        }
        log->items[log->n_items] = (struct spool_log_record){.unique_id = xstrndup(id, id_len)};
        log->slots[i] = (uint32_t)++log->n_items;
    }
    struct spool_log_record *item = &log->items[log->slots[i] - 1];
    item->offset = offset;
    item->length = len;
    item->type = type;
}

static struct spool_log *log_of(struct spool *spool, int day)
{
    for (size_t i = 0; i < spool->n_logs; i++)
        if (spool->logs[i]->day == day)
            return spool->logs[i];
    struct spool_log *log = xcalloc(1, sizeof(*log));
    log->day = day;
    log->path = spool_day_path(spool, day, "", "/" SPOOL_LOG_FILE);
    spool->logs = xreallocarray(spool->logs, spool->n_logs + 1, sizeof(*spool->logs));
    spool->logs[spool->n_logs++] = log;
    return log;
}

void spool_log_forget(struct spool *spool)
{
    for (size_t i = 0; i < spool->n_logs; i++) {
        index_reset(spool->logs[i]);
        free(spool->logs[i]->path);
        free(spool->logs[i]);
    }
    free(spool->logs);
    spool->logs = NULL;
    spool->n_logs = 0;
}

/* Reads the view's log on from where this process stopped; `exclusive`: its flock is held. */
static void view_read(struct spool_log_view *view, bool exclusive)
{
    struct spool_log *log = view->log;

    log->read_pos =
        spool_log_scan(view->map, log->read_pos, view->size, log->path, index_record, log);
    if (log->read_pos == view->size || log->torn_warned == log->read_pos + 1)
        return;
    /* An incomplete last record: an appender's write in flight, unless none holds the lock. */
    if (exclusive || flock(view->fd, LOCK_EX | LOCK_NB) == 0) {
        msg_warn("%s: offset %" PRIu64 ": the last record is torn (%" PRIu64
                 " bytes; a crash while it was written): ignored",
                 log->path, log->read_pos, view->size - log->read_pos);
        log->torn_warned = log->read_pos + 1;
        if (!exclusive)
            flock(view->fd, LOCK_UN);
    }
}

static int view_map(struct spool_log_view *view, char **error_r)
{
    struct stat st;

    if (fstat(view->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *error_r = xasprintf("%s: not a regular file", view->log->path);
        return -1;
    }
    /* The first record's crc: an inode number can come again for the next compaction's file. */
    uint32_t identity = 0;
    if (st.st_size >= SPOOL_LOG_HEADER &&
        pread(view->fd, &identity, sizeof(identity), 12) != sizeof(identity))
        identity = 0;
    if (st.st_dev != view->log->dev || st.st_ino != view->log->ino ||
        identity != view->log->identity) {
        /* New to this process, or compacted since: read it all. */
        index_reset(view->log);
        view->log->dev = st.st_dev;
        view->log->ino = st.st_ino;
        view->log->identity = identity;
    }
    view->size = (uint64_t)st.st_size;
    view->map = NULL;
    if (view->size > 0) {
        void *map = mmap(NULL, (size_t)view->size, PROT_READ, MAP_SHARED, view->fd, 0);
        if (map == MAP_FAILED) {
            *error_r = xasprintf("mmap %s: %s", view->log->path, strerror(errno));
            return -1;
        }
        view->map = map;
    }
    return 0;
}

int spool_log_open(struct spool *spool, int day, struct spool_log_view *view, char **error_r)
{
    memset(view, 0, sizeof(*view));
    view->log = log_of(spool, day);
    view->fd = open(view->log->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (view->fd < 0) {
        *error_r = xasprintf("open %s: %s", view->log->path, strerror(errno));
        return -1;
    }
    if (view_map(view, error_r) < 0) {
        spool_log_close(view);
        return -1;
    }
    view_read(view, false);
    return 0;
}

void spool_log_close(struct spool_log_view *view)
{
    if (view->map)
        munmap((void *)view->map, (size_t)view->size);
    if (view->fd >= 0)
        close(view->fd);
    view->map = NULL;
    view->fd = -1;
}

int spool_log_entry(const struct spool_log_view *view, const struct spool_log_record *record,
                    struct spool_entry *entry, char **error_r)
{
    char name[512];
    char *text = xmalloc((size_t)record->length + 1);

    memcpy(text, view->map + record->offset + SPOOL_LOG_HEADER, record->length);
    text[record->length] = '\0';
    snprintf(name, sizeof(name), "%s: offset %" PRIu64, view->log->path, record->offset);
    int result = spool_state_parse(text, name, entry, error_r);
    free(text);
    return result;
}

int spool_log_append(const char *path, const struct buf *frame, char **error_r)
{
    struct stat opened, now;

    for (;;) {
        int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            *error_r = xasprintf("open %s: %s", path, strerror(errno));
            return -1;
        }
        /* Shared with other appenders; a compaction (exclusive) replaces the file. */
        while (flock(fd, LOCK_SH) < 0 && errno == EINTR)
            ;
        if (fstat(fd, &opened) < 0 || lstat(path, &now) < 0) {
            *error_r = xasprintf("stat %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (opened.st_ino != now.st_ino || opened.st_dev != now.st_dev) {
            close(fd); /* compacted since we opened it: append to the new one */
            continue;
        }
        ssize_t done = write(fd, frame->data, frame->len);
        int saved = errno;
        if (done == (ssize_t)frame->len && fdatasync(fd) == 0) {
            close(fd);
            return 0;
        }
        if (done == (ssize_t)frame->len)
            saved = errno;
        *error_r =
            done >= 0 && done < (ssize_t)frame->len
                ? xasprintf("write %s: short write (%zd of %zu bytes)", path, done, frame->len)
                : xasprintf("write %s: %s", path, strerror(saved));
        close(fd);
        return -1;
    }
}

/* The live records, in the order of the log. */
static int compare_offsets(const void *a, const void *b)
{
    const struct spool_log_record *const *x = a, *const *y = b;

    return ((*x)->offset > (*y)->offset) - ((*x)->offset < (*y)->offset);
}

static int compact_write(struct spool_log_view *view, const char *tmp, char **error_r)
{
    struct spool_log *log = view->log;
    const struct spool_log_record **live = xcalloc(log->n_items + 1, sizeof(*live));
    size_t n_live = 0;
    uint64_t size = SPOOL_LOG_HEADER + BASE_PAYLOAD_SIZE;
    struct buf out;
    int result = -1;

    for (size_t i = 0; i < log->n_items; i++)
        if (log->items[i].type == SPOOL_RECORD_STATE) {
            live[n_live++] = &log->items[i];
            size += SPOOL_LOG_HEADER + log->items[i].length;
        }
    qsort(live, n_live, sizeof(*live), compare_offsets);
    buf_init(&out);
    spool_log_base_frame(&out, size);

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) {
        *error_r = xasprintf("create %s: %s", tmp, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i <= n_live; i++) {
        if (i < n_live)
            buf_append(&out, view->map + live[i]->offset,
                       SPOOL_LOG_HEADER + (size_t)live[i]->length);
        if ((i == n_live || out.len >= 4 * 1024 * 1024) && write_all(fd, out.data, out.len) < 0) {
            *error_r = xasprintf("write %s: %s", tmp, strerror(errno));
            goto done;
        }
        if (out.len >= 4 * 1024 * 1024)
            buf_reset(&out);
    }
    if (fsync(fd) < 0)
        *error_r = xasprintf("fsync %s: %s", tmp, strerror(errno));
    else
        result = 0;
done:
    if (fd >= 0)
        close(fd);
    buf_free(&out);
    free(live);
    return result;
}

int spool_log_compact(struct spool *spool, int day, bool force, char **error_r)
{
    struct spool_log_view view = {.log = log_of(spool, day), .fd = -1};
    struct stat now;
    int result = -1;

    view.fd = open(view.log->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (view.fd < 0) {
        *error_r = xasprintf("open %s: %s", view.log->path, strerror(errno));
        return -1;
    }
    /* Appenders hold it shared: none writes while the live records are copied. */
    while (flock(view.fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            *error_r = xasprintf("lock %s: %s", view.log->path, strerror(errno));
            close(view.fd);
            return -1;
        }
    }
    if (lstat(view.log->path, &now) < 0 || view_map(&view, error_r) < 0)
        goto done;
    if (now.st_ino != view.log->ino) {
        result = 0; /* compacted by another process meanwhile */
        goto done;
    }
    view_read(&view, true);
    uint64_t live = 0;
    for (size_t i = 0; i < view.log->n_items; i++)
        live += view.log->items[i].type == SPOOL_RECORD_STATE;
    uint64_t dead = view.log->records - live;
    if (!force && dead <= COMPACT_DEAD_PER_LIVE * live) {
        result = 0;
        goto done;
    }
    char *tmp = xasprintf("%s.tmp", view.log->path);
    char *dir = spool_day_path(spool, day, "", "");
    if (compact_write(&view, tmp, error_r) == 0) {
        if (rename(tmp, view.log->path) < 0)
            *error_r = xasprintf("rename %s: %s", tmp, strerror(errno));
        else if (dir_sync(dir, error_r) == 0)
            result = 1;
    }
    if (result < 0)
        unlink(tmp);
    else
        msg_info("outbox: compacted %s: %" PRIu64 " live records kept, %" PRIu64
                 " dead ones dropped",
                 view.log->path, live, dead);
    free(tmp);
    free(dir);
done:
    spool_log_close(&view); /* releases the lock: waiting appenders find the new file */
    return result < 0 ? -1 : 0;
}

void spool_log_maybe_compact(struct spool *spool, int day)
{
    char *path = spool_day_path(spool, day, "", "/" SPOOL_LOG_FILE), *error;
    unsigned char head[SPOOL_LOG_HEADER + BASE_PAYLOAD_SIZE];
    struct stat st;
    uint64_t base = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0 && fstat(fd, &st) == 0 && pread(fd, head, sizeof(head), 0) == sizeof(head) &&
        frame_at(head, 0, sizeof(head)) == BASE_PAYLOAD_SIZE) {
        char text[BASE_PAYLOAD_SIZE + 1];
        memcpy(text, head + SPOOL_LOG_HEADER, BASE_PAYLOAD_SIZE);
        text[BASE_PAYLOAD_SIZE] = '\0';
        if (sscanf(text, "base=%" SCNu64, &base) != 1)
            base = 0;
    }
    if (fd >= 0)
        close(fd);
    /* Grown by far more than it held after build: worth a full look. */
    if (fd >= 0 && (uint64_t)st.st_size > base + COMPACT_MIN_GROWTH &&
        (uint64_t)st.st_size - base > COMPACT_DEAD_PER_LIVE * base &&
        spool_log_compact(spool, day, false, &error) < 0) {
        msg_error("outbox: %s", error);
        free(error);
    }
    free(path);
}
