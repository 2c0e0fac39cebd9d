/*
 * server.c - the daemon side of the control socket: create it with the
 * right owner and mode, check who connects (SO_PEERCRED, like OpenSMTPD's
 * getpeereid check), read one bounded request line, format the reply.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"

int ctl_listen(const char *path, uid_t owner, gid_t group, mode_t mode, char **error_r)
{
    int fd = unix_socket_bind(path, SOCK_STREAM, owner, group, mode, error_r);

    if (fd >= 0 && listen(fd, 64) < 0) {
        *error_r = xasprintf("listen on %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

int ctl_peer_get(int fd, struct ctl_peer *peer)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
        return -1;
    peer->pid = cred.pid;
    peer->uid = cred.uid;
    peer->gid = cred.gid;
    return 0;
}

bool ctl_peer_allowed(const struct ctl_peer *peer, uid_t daemon_uid, gid_t daemon_gid)
{
    if (peer->uid == 0 || peer->uid == daemon_uid || peer->gid == daemon_gid)
        return true;
    /* Supplementary groups are not in SO_PEERCRED: ask the user database. */
    struct passwd *pw = getpwuid(peer->uid);
    if (pw == NULL)
        return false;
    gid_t groups[256];
    int n = (int)UTIL_ARRAY_LEN(groups);
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
        return false;
    for (int i = 0; i < n; i++)
        if (groups[i] == daemon_gid)
            return true;
    return false;
}

void ctl_reply_init(struct ctl_reply *reply)
{
    buf_init(&reply->text);
    reply->failed = false;
}

void ctl_reply_free(struct ctl_reply *reply)
{
    buf_free(&reply->text);
}

void ctl_reply_add(struct ctl_reply *reply, const char *name, const char *fmt, ...)
{
    va_list ap;
    size_t start;

    buf_puts(&reply->text, name);
    buf_putc(&reply->text, '=');
    start = reply->text.len;
    va_start(ap, fmt);
    char *value = xvasprintf(fmt, ap);
    va_end(ap);
    buf_puts(&reply->text, value);
    free(value);
    for (size_t i = start; i < reply->text.len; i++)
        if (reply->text.data[i] == '\n' || reply->text.data[i] == '\r')
            reply->text.data[i] = ' ';
    buf_putc(&reply->text, '\n');
}

void ctl_reply_fail(struct ctl_reply *reply, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    char *reason = xvasprintf(fmt, ap);
    va_end(ap);
    for (char *p = reason; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    buf_reset(&reply->text);
    buf_printf(&reply->text, "%s\n", reason);
    free(reason);
    reply->failed = true;
}

const char *ctl_reply_text(struct ctl_reply *reply, size_t *len)
{
    struct buf out;

    buf_init(&out);
    buf_puts(&out, reply->failed ? "error: " : "ok\n");
    buf_append(&out, reply->text.data ? reply->text.data : "", reply->text.len);
    buf_free(&reply->text);
    reply->text = out;
    reply->failed = false; /* the text is final now */
    *len = reply->text.len;
    return buf_cstr(&reply->text);
}

int ctl_read_request(int fd, struct buf *line)
{
    char chunk[256];

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        buf_append(line, chunk, (size_t)n);
        char *newline = memchr(line->data, '\n', line->len);
        if (newline) {
            *newline = '\0';
            line->len = (size_t)(newline - line->data);
            if (line->len > 0 && line->data[line->len - 1] == '\r')
                line->data[--line->len] = '\0';
            if (line->len > CTL_MAX_REQUEST)
                return -1; /* the newline came in the chunk after the limit */
            return memchr(line->data, '\0', line->len) ? -1 : 1;
        }
        if (line->len > CTL_MAX_REQUEST)
            return -1;
    }
}
