/*
 * socket.c - binding unix-domain sockets the way daemons must: never over
 * a file that is not a stale socket, never reachable before owner and mode
 * are what the administrator asked for.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

int unix_socket_bind(const char *path, int type, uid_t owner, gid_t group, mode_t mode,
                     char **error_r)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        *error_r = xasprintf("%s: socket path too long (at most %zu bytes)", path,
                             sizeof(sun.sun_path) - 1);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *error_r = xasprintf("%s: exists and is not a socket", path);
            return -1;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error_r = xasprintf("socket: %s", strerror(errno));
        return -1;
    }
    /* Create it unreachable, then open it up to exactly the mode asked for. */
    mode_t old_mask = umask(0177);
    int bound = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_mask);
    if (bound < 0) {
        *error_r = xasprintf("bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if ((geteuid() == 0 && chown(path, owner, group) < 0) || chmod(path, mode) < 0) {
        *error_r = xasprintf("set owner/mode of %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}
