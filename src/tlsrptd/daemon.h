/*
 * daemon.h - what the parts of the tlsrptd program share: its runtime state
 * (configuration, event loop, identity after the privilege drop, sockets)
 * and the functions each source file provides to main.c.
 */
#ifndef TLSRPTD_DAEMON_H
#define TLSRPTD_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "cfg.h"
#include "util.h"

struct daemon {
    struct cfg *cfg;
    const char *config_path;
    bool config_explicit;
    char **overrides; /* -o name=value, re-applied on reload */
    size_t n_overrides;
    char **started_with; /* values of the restart-only parameters */
    const char *state_dir;
    struct loop *loop;
    time_t started;
    uid_t uid; /* identity after the drop (or the caller's when not root) */
    gid_t gid;
    const char *user;
    int lock_fd;
    int control_fd;
    char *control_path;
    char *counters_dir;
    struct collector *collector;
    struct lf_follower *follower;
    struct smap_server *policy_server; /* policy_socket, when set */
    struct pol_service *policy_service;
    char *logpos_dir; /* $state_directory/logpos, when log_sources is set */
    pid_t worker_pid; /* the running report worker, 0 when none */
    time_t worker_started;
    unsigned long worker_runs;
    int worker_last_status;
    unsigned long control_requests;
    unsigned long control_refused;
    unsigned long reloads;
    /* The last SIGHUP: when, why it was refused (NULL: it was taken), what it warned of. */
    time_t reload_time;
    char *reload_refused;
    char *reload_warnings; /* NULL: none */
};

/* process.c: shared with tlsrpt-milter */
/* -f, -v, -c, -o, -V (prints the version and exits); bad usage exits 2. */
void process_options(struct daemon *d, const char *program, int argc, char **argv,
                     bool *foreground);
/* The configuration file with the -o overrides, checked; NULL and *error_r. */
struct cfg *process_config_read(struct daemon *d, char **error_r);
/* syslog and stderr as ident, or syslog_name when NULL: stderr until process_detach(). */
void process_logging(struct daemon *d, const char *ident);
/* Forks twice, a new session, stdio to /dev/null; then messages go to syslog only. */
void process_detach(struct daemon *d);
/* Writes our pid to path (a warning when it cannot). */
void process_pid_file(const char *path);

/* privs.c */
/* Resolves tlsrptd_user into d->uid/gid (or the current user when not root). */
void privs_resolve(struct daemon *d);
/* Creates a directory owned by the daemon user with this mode. */
void privs_make_dir(struct daemon *d, const char *path, mode_t mode);
/* Permanently gives up root: groups, gid, uid; verified afterwards. */
void privs_drop(struct daemon *d);
/*
 * The gid of the group named by a *_socket_group parameter (empty: the
 * daemon user's group; unknown: that too, with a warning about `what`).
 */
gid_t privs_socket_group(struct daemon *d, const char *parameter, const char *what);

/* collect.c: the libtlsrpt collector socket as part of the daemon */
struct ctl_reply;
void collect_open(struct daemon *d); /* as root, before the drop */
void collect_start(struct daemon *d);
void collect_status(struct daemon *d, struct ctl_reply *reply);
void collect_close(struct daemon *d);

/* follow.c: the log follower (log_sources) as part of the daemon */
void follow_check(struct daemon *d); /* as root: checks log_sources, makes logpos/ */
void follow_start(struct daemon *d); /* after the drop: files are read as tlsrptd_user */
void follow_status(struct daemon *d, struct ctl_reply *reply);
/* `own-mail QUEUEID` from tlsrpt-milter: that message's deliveries are not counted. */
void follow_own_mail(struct daemon *d, const char *queue_id, struct ctl_reply *reply);
void follow_stop(struct daemon *d);

/* policy.c: the MTA-STS socketmap (policy_socket) as part of the daemon */
void policy_open(struct daemon *d);  /* as root, before the drop: binds the socket */
void policy_start(struct daemon *d); /* after the drop: the service and its threads */
void policy_status(struct daemon *d, struct ctl_reply *reply);
/* `tlsrpt sts flush DOMAIN`: the running service forgets it (memory and disk). */
void policy_flush(struct daemon *d, const char *domain, struct ctl_reply *reply);
void policy_stop(struct daemon *d);

/* schedule.c: the report worker, once a minute */
/*
 * At start (before detaching, so on the terminal too) and after a reload, as
 * tlsrptd_user: warns of what will keep reports from being built or sent
 * (organization_name, contact_info, the DKIM key mail needs), instead of
 * the first delivery finding out.
 */
void schedule_check(struct daemon *d);
void schedule_start(struct daemon *d);
void schedule_status(struct daemon *d, struct ctl_reply *reply);
void schedule_flush(struct daemon *d, struct ctl_reply *reply); /* the `flush` request */
void schedule_stop(struct daemon *d);

/* alert.c: alert_command when a domain's failure rate today reaches alert_threshold */
void alert_start(struct daemon *d);
void alert_status(struct daemon *d, struct ctl_reply *reply);
void alert_stop(struct daemon *d);

/* metrics.c: Prometheus metrics (metrics_listen), the status lines over HTTP */
void metrics_open(struct daemon *d);  /* as root, before the drop: binds the socket */
void metrics_start(struct daemon *d); /* after the drop: the HTTP server's thread */
void metrics_stop(struct daemon *d);
/* metrics_format.c: the status reply in the text exposition format (non-numbers left out) */
struct ctl_response;
void metrics_format(const struct ctl_response *status, struct buf *out);

/* notify.c: systemd's Type=notify protocol; does nothing without $NOTIFY_SOCKET */
bool notify_supervised(void); /* started by systemd: stay in the foreground */
void notify_ready(struct daemon *d);
void notify_reloading(void);
void notify_reloaded(struct daemon *d, const char *error); /* error: why it was refused */
void notify_stopping(struct daemon *d);

/* control.c */
void control_open(struct daemon *d);
void control_close(struct daemon *d);

#endif
