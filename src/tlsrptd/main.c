/*
 * main.c - tlsrptd, the daemon: reads tlsrptd.cf, creates its directories,
 * takes the single-instance lock, binds its sockets as root, becomes
 * tlsrptd_user and runs the event loop until SIGTERM (SIGHUP reloads).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cfg.h"
#include "counters.h"
#include "ctl.h"
#include "daemon.h"

static volatile sig_atomic_t got_stop, got_reload;
static int signal_pipe[2] = {-1, -1};

/* Signal handlers only note the signal; the loop acts on it. */
static void on_signal(int signo)
{
    int saved_errno = errno;

    if (signo == SIGHUP)
        got_reload = 1;
    else
        got_stop = 1;
    if (write(signal_pipe[1], "", 1) < 0) {
        /* The pipe is full: a wakeup is already pending. */
    }
    errno = saved_errno;
}

static void signals_setup(void)
{
    struct sigaction sa;

    if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        msg_fatal("pipe: %s", strerror(errno));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/*
 * Parameters that name sockets, paths or the user only change with a
 * restart; the daemon keeps using the values it started with.
 */
static const char *const restart_only[] = {
    "state_directory", "runtime_directory", "control_socket", "collector_socket",
    "tlsrptd_user",    "log_sources",       "log_supplement",   "policy_socket",
    "policy_threads",  "policy_max_connections", "policy_idle_timeout", "policy_socket_mode",
    "policy_socket_group", "policy_tlsrpt_attributes", "sts_ca_file", "sts_cache_entries",
    "sts_fetch_timeout", "sts_https_port", "sts_testing_level", "metrics_listen",
    "policy_prefetch_concurrency", "policy_prefetch_queue",
};

static void restart_only_save(struct daemon *d)
{
    d->started_with = xcalloc(UTIL_ARRAY_LEN(restart_only), sizeof(char *));
    for (size_t i = 0; i < UTIL_ARRAY_LEN(restart_only); i++)
        d->started_with[i] = xstrdup(cfg_str(d->cfg, restart_only[i]));
}

static void reload(struct daemon *d)
{
    struct buf warnings = {0};
    char *error;

    notify_reloading();
    /* What the file warns of (an unknown name, a typo) is shown by `tlsrpt status` too. */
    msg_keep_warnings(&warnings);
    struct cfg *fresh = process_config_read(d, &error);
    msg_keep_warnings(NULL);
    d->reload_time = time(NULL);
    free(d->reload_refused);
    free(d->reload_warnings);
    d->reload_refused = NULL;
    d->reload_warnings = warnings.len ? xstrdup(buf_cstr(&warnings)) : NULL;
    buf_free(&warnings);
    if (fresh == NULL) {
        msg_error("reload failed, keeping the running configuration: %s", error);
        notify_reloaded(d, error);
        d->reload_refused = error; /* `tlsrpt status` says why */
        return;
    }
    for (size_t i = 0; i < UTIL_ARRAY_LEN(restart_only); i++)
        if (strcmp(cfg_str(fresh, restart_only[i]), d->started_with[i]) != 0)
            msg_warn("%s changed: the new value takes effect after a restart; still using %s",
                     restart_only[i], d->started_with[i]);
    cfg_free(d->cfg);
    d->cfg = fresh;
    msg_verbose = (int)cfg_int(d->cfg, "verbose");
    d->reloads++;
    msg_info("configuration reloaded from %s", cfg_path(d->cfg));
    schedule_check(d);
    notify_reloaded(d, NULL);
}

static void signal_readable(int fd, void *context)
{
    struct daemon *d = context;
    char drain[64];

    while (read(fd, drain, sizeof(drain)) > 0)
        continue;
    if (got_reload) {
        got_reload = 0;
        reload(d);
    }
    if (got_stop)
        loop_stop(d->loop);
}

/* Hourly: counter tables past counter_retention go, once their reports were built. */
static void housekeeping(void *context)
{
    struct daemon *d = context;
    int retention_days = (int)(cfg_time(d->cfg, "counter_retention") / 86400);

    ctr_expire(d->counters_dir, day_today(), retention_days);
    loop_timer(d->loop, 3600 * 1000, housekeeping, d);
}

int main(int argc, char **argv)
{
    struct daemon daemon = {.lock_fd = -1, .control_fd = -1};
    struct daemon *d = &daemon;
    bool foreground = false;
    char *error;

    process_options(d, "tlsrptd", argc, argv, &foreground);
    d->cfg = process_config_read(d, &error);
    if (d->cfg == NULL)
        msg_fatal("%s", error);
    process_logging(d, NULL);
    privs_resolve(d);

    restart_only_save(d);
    const char *state_dir = d->state_dir = d->started_with[0];
    const char *runtime_dir = d->started_with[1];
    privs_make_dir(d, state_dir, 0750);
    d->counters_dir = path_join(state_dir, "counters");
    privs_make_dir(d, d->counters_dir, 0750);
    privs_make_dir(d, runtime_dir, 0755);
    /* Reports are written there by the unprivileged worker. */
    if (cfg_str(d->cfg, "delivery_directory")[0] != '\0')
        privs_make_dir(d, cfg_str(d->cfg, "delivery_directory"), 0750);

    follow_check(d);

    char *lock_path = path_join(state_dir, "tlsrptd.lock");
    d->lock_fd = file_lock(lock_path, &error);
    if (d->lock_fd < 0)
        msg_fatal("%s", error);
    free(lock_path);

    d->loop = loop_create();
    d->started = time(NULL);
    signals_setup();
    loop_add_fd(d->loop, signal_pipe[0], signal_readable, d);
    control_open(d);
    collect_open(d);
    policy_open(d);
    metrics_open(d);
    privs_drop(d);
    schedule_check(d);
    /* Under systemd (Type=notify) the process it started is the daemon. */
    if (!foreground && !notify_supervised())
        process_detach(d);
    /* Written by the daemon's user into its runtime directory, after the fork that sets the pid. */
    char *pid_path = path_join(runtime_dir, "tlsrptd.pid");
    process_pid_file(pid_path);
    collect_start(d);
    policy_start(d); /* before the follower, which asks the service about sessions */
    follow_start(d);
    metrics_start(d);

    msg_info("tlsrptd %s started: config %s, state %s, control %s, collector %s, log sources "
             "%s, policy %s",
             PACKAGE_VERSION, cfg_path(d->cfg), state_dir, d->control_path,
             d->collector ? d->started_with[3] : "disabled",
             d->follower ? d->started_with[5] : "none",
             d->policy_server ? d->started_with[7] : "disabled");

    housekeeping(d);
    schedule_start(d);
    alert_start(d);
    notify_ready(d);
    loop_run(d->loop);

    notify_stopping(d);
    msg_info("stopping: %lu control requests served, %lu refused, %lu reloads",
             d->control_requests, d->control_refused, d->reloads);
    alert_stop(d);
    schedule_stop(d);
    follow_stop(d);
    policy_stop(d);
    collect_close(d);
    control_close(d);
    metrics_stop(d); /* after the control socket: a scrape in flight fails at once */
    unlink(pid_path);
    free(pid_path);
    loop_destroy(d->loop);
    free(d->counters_dir);
    free(d->control_path);
    free((char *)d->user);
    free(d->overrides);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(restart_only); i++)
        free(d->started_with[i]);
    free(d->started_with);
    free(d->reload_refused);
    free(d->reload_warnings);
    cfg_free(d->cfg);
    msg_info("stopped");
    return 0;
}
