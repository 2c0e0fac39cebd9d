/*
 * msg.c - the message ladder (info, warn, error, fatal, panic) shared by all
 * programs. Messages go to stderr, syslog or both, as msg_setup() chose.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util.h"

int msg_verbose;

static const char *msg_ident = "tlsrpt";
static char *msg_ident_copy;
static int msg_dest = MSG_STDERR;
static int msg_syslog_open;
#define MSG_KEEP_MAX 4096
static _Thread_local struct buf *msg_kept_warnings;

void msg_keep_warnings(struct buf *into)
{
    msg_kept_warnings = into;
}

void msg_setup(const char *ident, int dest_mask, int syslog_facility)
{
    /* Our own copy: openlog() keeps the pointer, callers may free theirs. */
    char *old_copy = msg_ident_copy;
    size_t len = strlen(ident);

    msg_ident_copy = malloc(len + 1);
    if (msg_ident_copy == NULL)
        abort();
    memcpy(msg_ident_copy, ident, len + 1);
    msg_ident = msg_ident_copy;
    msg_dest = dest_mask;
    if (dest_mask & MSG_SYSLOG) {
        if (msg_syslog_open)
            closelog();
        openlog(msg_ident, LOG_PID | LOG_NDELAY, syslog_facility);
        msg_syslog_open = 1;
    }
    free(old_copy);
}

int msg_facility_from_name(const char *name)
{
    static const struct {
        const char *name;
        int facility;
    } facilities[] = {
        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
        {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(facilities); i++)
        if (strcmp(facilities[i].name, name) == 0)
            return facilities[i].facility;
    return -1;
}

/* Formats once and sends to every destination; errno is preserved for %m users. */
static void msg_vemit(int priority, const char *label, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char text[2048];

    vsnprintf(text, sizeof(text), fmt, ap);
    /* Bounded: a file of thousands of unknown names keeps the first few kilobytes. */
    if (priority == LOG_WARNING && msg_kept_warnings != NULL &&
        msg_kept_warnings->len < MSG_KEEP_MAX)
        buf_printf(msg_kept_warnings, "%s%s", msg_kept_warnings->len ? "; " : "", text);
    if (msg_dest & MSG_STDERR) {
        if (label)
            fprintf(stderr, "%s: %s: %s\n", msg_ident, label, text);
        else
            fprintf(stderr, "%s: %s\n", msg_ident, text);
    }
    if (msg_dest & MSG_SYSLOG) {
        if (label)
            syslog(priority, "%s: %s", label, text);
        else
            syslog(priority, "%s", text);
    }
    errno = saved_errno;
}

#define MSG_BODY(priority, label)                                                        \
    va_list ap;                                                                          \
    va_start(ap, fmt);                                                                   \
    msg_vemit(priority, label, fmt, ap);                                                 \
    va_end(ap)

void msg_debug(const char *fmt, ...)
{
    if (!msg_verbose)
        return;
    MSG_BODY(LOG_DEBUG, "debug");
}

void msg_info(const char *fmt, ...)
{
    MSG_BODY(LOG_INFO, NULL);
}

void msg_warn(const char *fmt, ...)
{
    MSG_BODY(LOG_WARNING, "warning");
}

void msg_error(const char *fmt, ...)
{
    MSG_BODY(LOG_ERR, "error");
}

void msg_fatal(const char *fmt, ...)
{
    MSG_BODY(LOG_CRIT, "fatal");
    exit(1);
}

void msg_panic(const char *fmt, ...)
{
    MSG_BODY(LOG_CRIT, "panic");
    abort();
}

bool msg_rate_allow(struct msg_rate *rate, time_t now, uint64_t *held_back_r)
{
    if (rate->last != 0 && now >= rate->last && now - rate->last < MSG_RATE_INTERVAL) {
        rate->held_back++;
        return false;
    }
    *held_back_r = rate->held_back;
    rate->held_back = 0;
    rate->last = now != 0 ? now : 1;
    return true;
}
