/*
 * file.c - careful file handling: mkdir -p, whole-file atomic replacement
 * (tmp + fsync + rename + directory fsync), bounded reads of regular files,
 * and single-instance locks.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

char *path_join(const char *dir, const char *name)
{
    size_t dlen = strlen(dir);

    if (dlen > 0 && dir[dlen - 1] == '/')
        return xasprintf("%s%s", dir, name);
    return xasprintf("%s/%s", dir, name);
}

int dir_make(const char *path, mode_t mode, char **error_r)
{
    char *copy = xstrdup(path);
    int result = 0;

    /* Create each missing ancestor in turn; existing directories are fine. */
    for (char *slash = copy + 1;; slash++) {
        char saved = *slash;
        if (saved != '/' && saved != '\0')
            continue;
        *slash = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST) {
            *error_r = xasprintf("create directory %s: %s", copy, strerror(errno));
            result = -1;
            break;
        }
        *slash = saved;
        if (saved == '\0')
            break;
    }
    if (result == 0) {
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
            *error_r = xasprintf("%s: not a directory", path);
            result = -1;
        }
    }
    free(copy);
    return result;
}


int dir_remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *dir = opendir(path);
    struct dirent *entry;
    int result = 0;
    if (dir == NULL)
        return -1;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char *child = path_join(path, entry->d_name);
        if (dir_remove_tree(child) < 0)
            result = -1;
        free(child);
    }
    closedir(dir);
    return rmdir(path) < 0 ? -1 : result;
}

int dir_sync(const char *dir, char **error_r)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0) {
        *error_r = xasprintf("fsync directory %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int file_write_new(const char *path, const void *data, size_t len, mode_t mode,
                   char **error_r)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

    if (fd < 0) {
        *error_r = xasprintf("create %s: %s", path, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, len) < 0) {
        *error_r = xasprintf("write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd) < 0) {
        *error_r = xasprintf("close %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int dir_sync_all(const char *dir, char **error_r)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || syncfs(fd) < 0 || fsync(fd) < 0) {
        *error_r = xasprintf("sync %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      char **error_r)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);

    if (fd < 0) {
        *error_r = xasprintf("create %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    if (write_all(fd, data, len) < 0) {
        *error_r = xasprintf("write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (fsync(fd) < 0) {
        *error_r = xasprintf("fsync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        *error_r = xasprintf("close %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        *error_r = xasprintf("rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    free(tmp);
    /* The rename must reach the disk too: fsync the directory it happened in. */
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    int result = dir_sync(slash ? dir : ".", error_r);
    free(dir);
    return result;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
}

int file_read_all(const char *path, size_t max_size, struct buf *out, char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    char chunk[65536];

    if (fd < 0) {
        *error_r = xasprintf("%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *error_r = xasprintf("%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > max_size) {
        *error_r = xasprintf("%s: file too large (%lld bytes, at most %zu)", path,
                             (long long)st.st_size, max_size);
        close(fd);
        return -1;
    }
    buf_reset(out);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error_r = xasprintf("read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > max_size) {
            *error_r = xasprintf("%s: file too large (at most %zu bytes)", path, max_size);
            close(fd);
            return -1;
        }
        buf_append(out, chunk, (size_t)n);
    }
    close(fd);
    buf_cstr(out);
    return 0;
}

int file_lock(const char *path, char **error_r)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

    if (fd < 0) {
        *error_r = xasprintf("open lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        *error_r = errno == EWOULDBLOCK
                       ? xasprintf("%s is locked: another instance is running", path)
                       : xasprintf("lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int file_random_hex_once(const char *path, size_t bytes, mode_t mode, char **error_r)
{
    unsigned char random[64];
    char text[2 * sizeof(random) + 2];
    int fd, result = -1;

    if (bytes > sizeof(random))
        msg_panic("file_random_hex_once: %zu bytes", bytes);
    if (access(path, F_OK) == 0)
        return 0;
    if (getrandom(random, bytes, 0) != (ssize_t)bytes) {
        *error_r = xasprintf("getrandom: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < bytes; i++)
        snprintf(text + 2 * i, 3, "%02x", random[i]);
    text[2 * bytes] = '\n';
    explicit_bzero(random, sizeof(random));
    char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 || write_all(fd, text, 2 * bytes + 1) < 0 || fsync(fd) < 0)
        *error_r = xasprintf("%s: %s", tmp, strerror(errno));
    else if (link(tmp, path) < 0 && errno != EEXIST)
        *error_r = xasprintf("link %s: %s", path, strerror(errno));
    else
        result = 0;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    explicit_bzero(text, sizeof(text));
    free(tmp);
    return result;
}
