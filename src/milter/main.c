/*
 * main.c - tlsrpt-milter: reads tlsrptd.cf, opens milter_socket as root,
 * becomes tlsrptd_user (privs.c of tlsrptd, reused), and lets libmilter run
 * the callbacks until SIGTERM; then logs what it did.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "daemon.h"
#include "milter_impl.h"
#include "scheduler.h"

/* libmilter's own read timeout on an MTA connection (its default is two hours). */
#define MILTER_MTA_TIMEOUT_S 300

struct milter_settings milter;

static enum milter_dsn_action dsn_action(const char *name)
{
    if (strcmp(name, "quarantine") == 0)
        return MILTER_DSN_QUARANTINE;
    if (strcmp(name, "accept") == 0)
        return MILTER_DSN_ACCEPT;
    return MILTER_DSN_DISCARD; /* the only other value cfg_validate lets through */
}

/* The path of a unix milter_socket, or NULL for inet. */
static const char *socket_path(const char *conn)
{
    if (strncmp(conn, "unix:", 5) == 0)
        return conn + 5;
    if (strncmp(conn, "local:", 6) == 0)
        return conn + 6;
    return NULL;
}

/* As root: libmilter binds; a unix socket then gets tlsrptd_user, milter_socket_group, mode. */
static void socket_open(struct daemon *d, const char *conn)
{
    const char *path = socket_path(conn);
    mode_t old_mask = umask(0077);

    if (smfi_setconn((char *)conn) != MI_SUCCESS)
        msg_fatal("%s: milter_socket = %s: not a socket libmilter understands", cfg_path(d->cfg),
                  conn);
    if (smfi_settimeout(MILTER_MTA_TIMEOUT_S) != MI_SUCCESS ||
        smfi_register(milter_callbacks) != MI_SUCCESS)
        msg_fatal("libmilter: registration failed");
    if (smfi_opensocket(true) != MI_SUCCESS)
        msg_fatal("milter_socket = %s: cannot listen there (in use, or no such directory?)", conn);
    umask(old_mask);
    if (path == NULL)
        return;
    gid_t group = privs_socket_group(d, "milter_socket_group", "milter socket");
    if (geteuid() == 0 && chown(path, d->uid, group) < 0)
        msg_fatal("chown %s: %s", path, strerror(errno));
    if (chmod(path, cfg_mode(d->cfg, "milter_socket_mode")) < 0)
        msg_fatal("chmod %s: %s", path, strerror(errno));
}

static void totals_log(void)
{
    struct milter_counts *c = &milter.counts;

#define N(field) (unsigned long long)atomic_load(&c->field)
    msg_info("stopping: %llu messages; report mail %llu (TLS-Required added %llu, queue id "
             "told %llu, not told %llu, without queue id %llu); bounces %llu (matched %llu, "
             "passed on %llu, too large %llu); prefetch: queued %llu, recent %llu, dropped "
             "%llu, sent %llu, failed %llu",
             N(messages), N(report_mail), N(headers_added), N(own_mail_told), N(own_mail_failed),
             N(no_queue_id), N(bounces), N(bounces_matched), N(bounces_unmatched),
             N(bounces_too_large), N(prefetch_queued), N(prefetch_recent), N(prefetch_dropped),
             N(prefetch_sent), N(prefetch_failed));
#undef N
}

int main(int argc, char **argv)
{
    struct daemon daemon = {.lock_fd = -1, .control_fd = -1};
    struct daemon *d = &daemon;
    bool foreground = false;
    char *error;

    process_options(d, "tlsrpt-milter", argc, argv, &foreground);
    d->cfg = milter.cfg = process_config_read(d, &error);
    if (d->cfg == NULL)
        msg_fatal("%s", error);
    process_logging(d, "tlsrpt-milter");
    privs_resolve(d);
    milter.report_sender = sched_report_sender(d->cfg);
    milter.control_socket = xstrdup(cfg_str(d->cfg, "control_socket"));
    milter.verp_delimiter = xstrdup(cfg_str(d->cfg, "report_verp_delimiter"));
    milter.dsn_action = dsn_action(cfg_str(d->cfg, "milter_dsn_action"));
    milter.max_message = (size_t)cfg_size(d->cfg, "milter_max_message_size");
    if (milter.report_sender == NULL)
        msg_warn("%s: no report sender (report_envelope_sender, report_from, contact_info): "
                 "only report mail with a TLS-Report-Domain header is recognised, and no bounce",
                 cfg_path(d->cfg));

    const char *runtime_dir = cfg_str(d->cfg, "runtime_directory");
    const char *conn = cfg_str(d->cfg, "milter_socket");
    privs_make_dir(d, runtime_dir, 0755);
    socket_open(d, conn);
    privs_drop(d);
    /* What can fail at start has been done: the terminal has seen it. */
    if (!foreground)
        process_detach(d);
    char *pid_path = path_join(runtime_dir, "tlsrpt-milter.pid");
    process_pid_file(pid_path); /* by tlsrptd_user, as tlsrptd's */
    prefetch_start();
    msg_info("tlsrpt-milter %s started: config %s, socket %s, report sender %s, bounces %s, "
             "prefetch %s",
             PACKAGE_VERSION, cfg_path(d->cfg), conn,
             milter.report_sender ? milter.report_sender : "(none)",
             cfg_str(d->cfg, "milter_dsn_action"),
             cfg_bool(d->cfg, "milter_prefetch") ? cfg_str(d->cfg, "policy_socket") : "off");

    int status = smfi_main(); /* until SIGTERM, SIGINT or SIGHUP */

    prefetch_stop();
    totals_log();
    if (socket_path(conn) != NULL)
        unlink(socket_path(conn));
    unlink(pid_path);
    free(pid_path);
    free(milter.report_sender);
    free(milter.control_socket);
    free(milter.verp_delimiter);
    free((char *)d->user);
    free(d->overrides);
    cfg_free(d->cfg);
    msg_info("stopped");
    return status == MI_SUCCESS ? 0 : 1;
}
