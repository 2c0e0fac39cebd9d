/*
 * follow_file.c - a log file followed as it grows: complete lines only,
 * across rename rotation (the old file is read to its end first) and
 * copytruncate (the rest is read from the copy when one is found), and
 * resumed after a restart at a position recognised by its inode and the
 * bytes just before it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "follow_impl.h"

#define READ_CHUNK 65536
/* Rotated siblings looked at (mail.log.1, mail.log-20261122, ...). */
#define MAX_SIBLINGS 256

void lf_file_init(struct lf_source *source)
{
    memset(&source->file, 0, sizeof(source->file));
    source->file.fd = -1;
    buf_init(&source->file.pending);
}

void lf_file_close(struct lf_source *source)
{
    if (source->file.fd >= 0)
        (void)close(source->file.fd);
    source->file.fd = -1;
    buf_free(&source->file.pending);
}

void lf_file_describe(const struct lf_source *source, char *out, size_t size)
{
    const struct lf_file_source *file = &source->file;

    if (!file->pos.known)
        snprintf(out, size, "not opened yet");
    else
        snprintf(out, size, "inode %llu offset %llu%s", (unsigned long long)file->pos.ino,
                 (unsigned long long)file->pos.offset,
                 file->old_file ? " (the rotated file)" : "");
}

/* Whether fd holds, just before pos->offset, the bytes pos remembers. */
static bool fingerprint_matches(int fd, const struct lf_file_position *pos)
{
    unsigned char bytes[LF_FINGERPRINT_SIZE];
    struct stat st;

    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < pos->offset ||
        pos->offset < pos->fingerprint_len)
        return false;
    if (pos->fingerprint_len == 0)
        return true;
    return pread(fd, bytes, pos->fingerprint_len,
                 (off_t)(pos->offset - pos->fingerprint_len)) == (ssize_t)pos->fingerprint_len &&
           memcmp(bytes, pos->fingerprint, pos->fingerprint_len) == 0;
}

static void position_at(struct lf_file_position *pos, int fd, uint64_t offset)
{
    struct stat st;

    memset(pos, 0, sizeof(*pos));
    if (fstat(fd, &st) == 0) {
        pos->dev = st.st_dev;
        pos->ino = st.st_ino;
    }
    pos->known = true;
    pos->offset = offset;
    pos->fingerprint_len = offset < LF_FINGERPRINT_SIZE ? offset : LF_FINGERPRINT_SIZE;
    if (pos->fingerprint_len > 0 &&
        pread(fd, pos->fingerprint, pos->fingerprint_len,
              (off_t)(offset - pos->fingerprint_len)) != (ssize_t)pos->fingerprint_len)
        pos->fingerprint_len = 0;
}

static bool compressed(const char *name)
{
    static const char *const suffixes[] = {".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z"};
    size_t len = strlen(name);

    for (size_t i = 0; i < UTIL_ARRAY_LEN(suffixes); i++) {
        size_t n = strlen(suffixes[i]);
        if (len > n && strcmp(name + len - n, suffixes[i]) == 0)
            return true;
    }
    return false;
}

/*
 * A rotated sibling of path (mail.log.1, mail.log-20261122) that holds the
 * bytes pos remembers: the renamed file, or a copytruncate copy. Returns an
 * open fd and its name in *name_r, or -1.
 */
static int find_sibling(const char *path, const struct lf_file_position *pos, char **name_r)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL ? xstrdup(".") : xstrndup(path, (size_t)(slash - path) + 1);
    const char *base = slash == NULL ? path : slash + 1;
    size_t base_len = strlen(base);
    struct dirent *entry;
    int found = -1, seen = 0;
    DIR *d;

    if (pos->fingerprint_len == 0 || (d = opendir(dir)) == NULL) {
        free(dir);
        return -1;
    }
    while (found < 0 && seen < MAX_SIBLINGS && (entry = readdir(d)) != NULL) {
        const char *name = entry->d_name;
        struct stat st;
        char *sibling;
        int fd;

        if (strncmp(name, base, base_len) != 0 || (name[base_len] != '.' && name[base_len] != '-') ||
            compressed(name))
            continue;
        seen++;
        sibling = path_join(dir, name);
        fd = open(sibling, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fingerprint_matches(fd, pos)) {
            found = fd;
            *name_r = sibling;
            continue;
        }
        if (fd >= 0)
            (void)close(fd);
        free(sibling);
    }
    closedir(d);
    free(dir);
    return found;
}

/* The name of a user or group, or its number (thread-safe lookups: the follower has a thread). */
static void owner_names(const struct stat *st, char *user, char *group, size_t size)
{
    char scratch[4096];
    struct passwd pw, *pw_found = NULL;
    struct group gr, *gr_found = NULL;

    if (getpwuid_r(st->st_uid, &pw, scratch, sizeof(scratch), &pw_found) == 0 && pw_found)
        snprintf(user, size, "%s", pw_found->pw_name);
    else
        snprintf(user, size, "%lu", (unsigned long)st->st_uid);
    if (getgrgid_r(st->st_gid, &gr, scratch, sizeof(scratch), &gr_found) == 0 && gr_found)
        snprintf(group, size, "%s", gr_found->gr_name);
    else
        snprintf(group, size, "%lu", (unsigned long)st->st_gid);
}

static bool in_group(gid_t gid)
{
    gid_t groups[256];
    int n = getgroups((int)UTIL_ARRAY_LEN(groups), groups);

    if (getegid() == gid)
        return true;
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

/*
 * Why the daemon's user may not read path, and the fix that works: a log
 * that only its owner may read (what `postfix logrotate` or a syslog daemon
 * may create after rotation: 0600 root) needs its mode and group changed
 * where it is created; joining a group helps only when the group may read.
 */
static void explain_access(const char *path, char *out, size_t size)
{
    struct stat st;
    char user[64], group[64];

    if (stat(path, &st) < 0) {
        snprintf(out, size, " (a directory above it is closed to the daemon's user)");
        return;
    }
    owner_names(&st, user, group, sizeof(user));
    if ((st.st_mode & (S_IRGRP | S_IROTH)) == 0) {
        snprintf(out, size,
                 " (it is mode %04o, owner %s, group %s: only its owner may read it; make it "
                 "readable by a group of the daemon's user, e.g. chgrp adm and chmod 0640, and "
                 "have it created so after rotation: logrotate \"create 0640 root adm\", rsyslog "
                 "$FileCreateMode and $FileGroup, Postfix maillog_file_permissions)",
                 (unsigned)(st.st_mode & 07777), user, group);
    } else if ((st.st_mode & S_IRGRP) != 0 && !in_group(st.st_gid)) {
        snprintf(out, size,
                 " (it is mode %04o, group %s, and the daemon's user is not in group %s: "
                 "usermod -a -G %s USER, then restart tlsrptd)",
                 (unsigned)(st.st_mode & 07777), group, group, group);
    } else {
        snprintf(out, size, " (give the daemon's user read access to it)");
    }
}

/* Opens path as a regular file; -1 and the source's state says why. */
static int open_path(struct lf_source *source)
{
    const char *path = source->spec.path;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        if (errno == ENOENT) {
            lf_source_state(source, "waiting for %s to appear", path);
        } else {
            int open_errno = errno;
            char fix[512] = "";
            if (open_errno == EACCES)
                explain_access(path, fix, sizeof(fix));
            lf_source_state(source, "error: cannot read %s: %s%s", path, strerror(open_errno), fix);
            if (!source->file.warned_access)
                msg_error("%s: %s", source->spec.text, source->state);
            source->file.warned_access = true;
        }
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        lf_source_state(source, "error: %s is not a regular file", path);
        (void)close(fd);
        return -1;
    }
    source->file.warned_access = false;
    lf_source_state(source, "following");
    return fd;
}

/* The offset just after the last complete line of fd (its end, for a new source). */
static uint64_t end_of_last_line(int fd)
{
    char tail[LF_READ_LINE_MAX];
    struct stat st;
    uint64_t size;
    ssize_t n;

    if (fstat(fd, &st) < 0 || st.st_size <= 0)
        return 0;
    size = (uint64_t)st.st_size;
    n = pread(fd, tail, size < sizeof(tail) ? size : sizeof(tail),
              (off_t)(size - (size < sizeof(tail) ? size : sizeof(tail))));
    for (ssize_t i = n - 1; i >= 0; i--)
        if (tail[i] == '\n')
            return size - (uint64_t)(n - 1 - i);
    return n == (ssize_t)size ? 0 : size; /* no newline at all: the line is ours to skip */
}

void lf_file_resume(struct lf_source *source, const struct lf_file_position *pos,
                    bool from_start)
{
    struct lf_file_source *file = &source->file;
    char *sibling = NULL;
    int fd = open_path(source);
    struct stat st;

    /* A file that is not there yet is read from its start when it appears (lf_file_poll). */
    file->fd = fd;
    if (from_start) {
        if (fd >= 0)
            position_at(&file->pos, fd, 0);
        return;
    }
    if (pos == NULL || !pos->known) {
        /* New to us: what is there already is the past. */
        if (fd >= 0) {
            position_at(&file->pos, fd, end_of_last_line(fd));
            msg_info("%s: following from offset %llu, the end of its last line (earlier lines "
                     "are for `tlsrpt ingest`)",
                     source->spec.text, (unsigned long long)file->pos.offset);
        }
        return;
    }
    if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == pos->dev &&
        (uint64_t)st.st_ino == pos->ino && fingerprint_matches(fd, pos)) {
        file->pos = *pos;
        return;
    }
    int old = find_sibling(source->spec.path, pos, &sibling);
    if (old >= 0) {
        msg_info("%s: rotated while tlsrptd was stopped: reading the rest of %s first",
                 source->spec.text, sibling);
        free(sibling);
        if (fd >= 0)
            (void)close(fd);
        file->fd = old;
        position_at(&file->pos, old, pos->offset);
        file->old_file = true;
        file->quiet_since_ms = clock_ms() - LF_ROTATE_GRACE_MS;
        return;
    }
    msg_warn("%s: the file at offset %llu of the checkpoint is gone (rotated or truncated, and "
             "no rotated copy holds it): lines logged after that offset before the rotation "
             "are not counted; reading %s from its start",
             source->spec.text, (unsigned long long)pos->offset, source->spec.path);
    if (fd >= 0)
        position_at(&file->pos, fd, 0);
}

/* Lets the parser have the line's bytes, cut to a length it can judge. */
static void feed(struct lf_source *source, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    lf_parser_line(source->parser, line, len < LF_READ_LINE_MAX ? len : LF_READ_LINE_MAX);
}

/* Remembers the last bytes before the new offset. */
static void fingerprint_advance(struct lf_file_position *pos, const char *consumed, size_t n)
{
    size_t keep;

    if (n >= LF_FINGERPRINT_SIZE) {
        memcpy(pos->fingerprint, consumed + n - LF_FINGERPRINT_SIZE, LF_FINGERPRINT_SIZE);
        pos->fingerprint_len = LF_FINGERPRINT_SIZE;
    } else if (n > 0) {
        keep = pos->fingerprint_len + n > LF_FINGERPRINT_SIZE ? LF_FINGERPRINT_SIZE - n
                                                              : pos->fingerprint_len;
        memmove(pos->fingerprint, pos->fingerprint + pos->fingerprint_len - keep, keep);
        memcpy(pos->fingerprint + keep, consumed, n);
        pos->fingerprint_len = keep + n;
    }
    pos->offset += n;
}

/* Parses the complete lines of the pending bytes; returns how many. */
static long consume_lines(struct lf_source *source)
{
    struct lf_file_source *file = &source->file;
    char *data = file->pending.data, *start = data, *end = data + file->pending.len, *nl;
    long lines = 0;

    while ((nl = memchr(start, '\n', (size_t)(end - start))) != NULL) {
        if (!file->skipping)
            feed(source, start, (size_t)(nl - start));
        file->skipping = false;
        lines++;
        start = nl + 1;
    }
    if (!file->skipping && (size_t)(end - start) > LF_READ_LINE_MAX) {
        /* No end in sight: give the parser the start (it rejects it), skip the rest. */
        feed(source, start, (size_t)(end - start));
        file->skipping = true;
        lines++;
    }
    if (file->skipping)
        start = end;
    fingerprint_advance(&file->pos, data, (size_t)(start - data));
    memmove(data, start, (size_t)(end - start));
    file->pending.len = (size_t)(end - start);
    data[file->pending.len] = '\0';
    return lines;
}

/* Moves on to the file now at path, from its start. */
static void switch_to_path(struct lf_source *source, int fd)
{
    struct lf_file_source *file = &source->file;

    if (file->pending.len > 0 && !file->skipping) /* its writer is gone: a last line */
        feed(source, file->pending.data, file->pending.len);
    buf_reset(&file->pending);
    file->skipping = false;
    (void)close(file->fd);
    file->fd = fd;
    file->old_file = false;
    position_at(&file->pos, fd, 0);
    msg_info("%s: rotated: now reading the new %s", source->spec.text, source->spec.path);
}

static void truncated(struct lf_source *source)
{
    struct lf_file_source *file = &source->file;
    char *copy = NULL;
    int fd = find_sibling(source->spec.path, &file->pos, &copy);

    buf_reset(&file->pending);
    file->skipping = false;
    if (fd >= 0) {
        msg_info("%s: truncated (copytruncate): reading the rest of its lines from %s first",
                 source->spec.text, copy);
        free(copy);
        (void)close(file->fd);
        file->fd = fd;
        position_at(&file->pos, fd, file->pos.offset);
        file->old_file = true;
        file->quiet_since_ms = clock_ms() - LF_ROTATE_GRACE_MS;
        return;
    }
    msg_warn("%s: truncated, and no copy holding offset %llu was found: lines logged after it "
             "before the truncation are not counted; reading from the start",
             source->spec.text, (unsigned long long)file->pos.offset);
    position_at(&file->pos, file->fd, 0);
}

/*
 * At the end of what fd has: rotated or truncated? Returns true when the
 * source moved on to another file (to be read at once).
 */
static bool check_rotation(struct lf_source *source, bool read_something)
{
    struct lf_file_source *file = &source->file;
    struct stat st, own;
    int fd;

    if (read_something)
        file->quiet_since_ms = clock_ms();
    if (stat(source->spec.path, &st) < 0) {
        if (!file->old_file)
            file->quiet_since_ms = clock_ms();
        file->old_file = true; /* renamed away, the new one not created yet */
        return false;
    }
    if ((uint64_t)st.st_dev == file->pos.dev && (uint64_t)st.st_ino == file->pos.ino) {
        file->old_file = false;
        if (fstat(file->fd, &own) == 0 &&
            (uint64_t)own.st_size < file->pos.offset + file->pending.len) {
            truncated(source);
            return true;
        }
        return false;
    }
    if (!file->old_file) {
        file->old_file = true;
        file->quiet_since_ms = clock_ms();
        return false;
    }
    if (clock_ms() - file->quiet_since_ms < LF_ROTATE_GRACE_MS || (fd = open_path(source)) < 0)
        return false;
    switch_to_path(source, fd);
    return true;
}

long lf_file_poll(struct lf_source *source)
{
    struct lf_file_source *file = &source->file;
    size_t budget = LF_ROUND_BYTES;
    long lines = 0;
    ssize_t n = 0;

    if (file->fd < 0) {
        if ((file->fd = open_path(source)) < 0)
            return 0;
        position_at(&file->pos, file->fd, 0);
    }
    /* A rotation or truncation found at the end moves on to the next file once. */
    for (int file_no = 0; file_no < 2 && budget > 0; file_no++) {
        long before = lines;
        while (budget > 0) {
            buf_reserve(&file->pending, READ_CHUNK);
            n = pread(file->fd, file->pending.data + file->pending.len, READ_CHUNK,
                      (off_t)(file->pos.offset + file->pending.len));
            if (n <= 0)
                break;
            file->pending.len += (size_t)n;
            file->pending.data[file->pending.len] = '\0';
            budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
            lines += consume_lines(source);
        }
        if (n < 0) {
            lf_source_state(source, "error: read %s: %s", source->spec.path, strerror(errno));
            return lines;
        }
        if (n > 0 || !check_rotation(source, lines > before))
            break;
        lines++; /* the position moved: worth a commit even without a line */
    }
    return lines;
}
