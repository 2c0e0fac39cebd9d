/*
 * privs.c - least privilege: tlsrptd starts as root only to create its
 * directories and bind its sockets, then becomes tlsrptd_user for good
 * (Postfix and OpenSMTPD do the same). Run by an ordinary user, it stays
 * that user, which is how tests and the demo run it.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

void privs_resolve(struct daemon *d)
{
    const char *user = cfg_str(d->cfg, "tlsrptd_user");
    struct passwd *pw;

    if (geteuid() != 0) {
        d->uid = geteuid();
        d->gid = getegid();
        pw = getpwuid(d->uid);
        d->user = xstrdup(pw ? pw->pw_name : "?");
        return;
    }
    pw = getpwnam(user);
    if (pw == NULL)
        msg_fatal("%s: tlsrptd_user = %s: no such user (create it: "
                  "adduser --system --group --no-create-home %s)",
                  cfg_path(d->cfg), user, user);
    if (pw->pw_uid == 0)
        msg_fatal("%s: tlsrptd_user = %s: must not be a root account", cfg_path(d->cfg), user);
    d->uid = pw->pw_uid;
    d->gid = pw->pw_gid;
    d->user = xstrdup(pw->pw_name);
}

gid_t privs_socket_group(struct daemon *d, const char *parameter, const char *what)
{
    const char *name = cfg_str(d->cfg, parameter);
    struct group *gr;

    if (name[0] == '\0')
        return d->gid;
    if ((gr = getgrnam(name)) == NULL) {
        msg_warn("%s: %s = %s: no such group; the %s gets the group of %s instead (Postfix "
                 "may not be able to reach it)",
                 cfg_path(d->cfg), parameter, name, what, d->user);
        return d->gid;
    }
    return gr->gr_gid;
}

void privs_make_dir(struct daemon *d, const char *path, mode_t mode)
{
    char *error;
    struct stat st;

    if (dir_make(path, mode, &error) < 0)
        msg_fatal("%s", error);
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        msg_fatal("%s: not a directory", path);
    if (geteuid() == 0 && (st.st_uid != d->uid || st.st_gid != d->gid)) {
        if (chown(path, d->uid, d->gid) < 0)
            msg_fatal("chown %s: %s", path, strerror(errno));
    }
    if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
        msg_fatal("chmod %s: %s", path, strerror(errno));
}

void privs_drop(struct daemon *d)
{
    if (geteuid() != 0)
        return;
    /* Its groups from /etc/group too: adm or systemd-journal is how it reads the mail log. */
    if (initgroups(d->user, d->gid) < 0 || setgid(d->gid) < 0 || setuid(d->uid) < 0)
        msg_fatal("drop privileges to %s: %s", d->user, strerror(errno));
    /* Paranoia as in Postfix's set_ugid(): getting root back must fail. */
    if (setuid(0) == 0 || geteuid() == 0)
        msg_fatal("privileges were not dropped: still able to become root");
    msg_info("running as user %s (uid %ld)", d->user, (long)d->uid);
}
