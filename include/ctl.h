/*
 * ctl.h - the control socket between tlsrptd and the tlsrpt command: a unix
 * stream socket (mode 0660, peer credentials checked with SO_PEERCRED), one
 * request line per connection, a reply of "name=value" lines, then close.
 *
 * Reply format: the first line is "ok" or "error: <reason>"; each further
 * line is one attribute "name=value" (names are [a-z0-9_.-], values contain
 * no newline). The order of attributes is kept.
 */
#ifndef TLSRPT_CTL_H
#define TLSRPT_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util.h"

#define CTL_MAX_REQUEST 1024
#define CTL_MAX_REPLY (1024 * 1024)

/* Server side ----------------------------------------------------------- */

/*
 * Creates the listening socket at path (a stale socket file is replaced,
 * anything else there is an error), owned by owner:group with this mode.
 */
int ctl_listen(const char *path, uid_t owner, gid_t group, mode_t mode, char **error_r);

/* Who is on the other end of an accepted connection. */
struct ctl_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};
int ctl_peer_get(int fd, struct ctl_peer *peer);
/*
 * Root, the daemon's own user, and members of the daemon's group (primary
 * or supplementary) may talk to the daemon; nobody else.
 */
bool ctl_peer_allowed(const struct ctl_peer *peer, uid_t daemon_uid, gid_t daemon_gid);

/* A reply being built by a request handler. */
struct ctl_reply {
    struct buf text;
    bool failed;
};
void ctl_reply_init(struct ctl_reply *reply);
void ctl_reply_free(struct ctl_reply *reply);
/* Adds name=value; newlines in the value are replaced by spaces. */
void ctl_reply_add(struct ctl_reply *reply, const char *name, const char *fmt, ...)
    UTIL_PRINTF(3, 4);
void ctl_reply_fail(struct ctl_reply *reply, const char *fmt, ...) UTIL_PRINTF(2, 3);
/* The bytes to send: status line then attributes. */
const char *ctl_reply_text(struct ctl_reply *reply, size_t *len);

/*
 * Accumulates one request line on a non-blocking connection. Returns 1 with
 * the NUL-terminated line in `line` (no newline) once complete, 0 when more
 * bytes are needed, -1 on EOF, error or an over-long request.
 */
int ctl_read_request(int fd, struct buf *line);

/* Client side ----------------------------------------------------------- */

struct ctl_attr {
    char *name;
    char *value;
};
struct ctl_response {
    bool ok;
    char *error; /* when !ok */
    struct ctl_attr *attrs;
    size_t n_attrs;
};
/*
 * Sends `request` to the daemon at socket_path and reads the whole reply
 * (timeout_ms for connect + reply). -1 with *error_r when the daemon cannot
 * be reached or the reply is malformed; a daemon-side error is ok=false.
 */
int ctl_call(const char *socket_path, const char *request, int timeout_ms,
             struct ctl_response *response, char **error_r);
const char *ctl_response_get(const struct ctl_response *response, const char *name);
void ctl_response_free(struct ctl_response *response);

#endif
