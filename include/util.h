/*
 * util.h - generic helpers with no knowledge of mail: the message ladder,
 * allocation that never fails, growable buffers, UTC day arithmetic, careful
 * file handling and a small poll(2) event loop.
 */
#ifndef TLSRPT_UTIL_H
#define TLSRPT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define UTIL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define UTIL_NORETURN __attribute__((noreturn))
#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Messages. The ladder (Postfix msg(3)): info, warn (odd input, carry on),
 * error (this unit of work fails), fatal (cannot run: exit 1), panic (a bug:
 * abort). Output goes to stderr and/or syslog as chosen by msg_setup().
 */
enum msg_dest { MSG_STDERR = 1, MSG_SYSLOG = 2 };
void msg_setup(const char *ident, int dest_mask, int syslog_facility);
/* Returns -1 for an unknown name ("mail", "daemon", "local0".."local7", "user"). */
int msg_facility_from_name(const char *name);
extern int msg_verbose;
void msg_debug(const char *fmt, ...) UTIL_PRINTF(1, 2); /* only if msg_verbose */
void msg_info(const char *fmt, ...) UTIL_PRINTF(1, 2);
void msg_warn(const char *fmt, ...) UTIL_PRINTF(1, 2);
void msg_error(const char *fmt, ...) UTIL_PRINTF(1, 2);
UTIL_NORETURN void msg_fatal(const char *fmt, ...) UTIL_PRINTF(1, 2);
UTIL_NORETURN void msg_panic(const char *fmt, ...) UTIL_PRINTF(1, 2);
/*
 * While into is not NULL, the warnings this thread emits are also appended
 * to it (separated by "; "), e.g. to report what a reload warned about.
 * Other threads' messages are not kept. NULL stops.
 */
struct buf;
void msg_keep_warnings(struct buf *into);
/*
 * A repeating warning (disk full, late events): the first is logged, then at
 * most one per interval, saying how many were held back. Zero-initialize.
 */
struct msg_rate {
    time_t last;         /* when one was last logged; 0 never */
    uint64_t held_back;  /* occurrences since then */
};
#define MSG_RATE_INTERVAL 60
/* True when this occurrence is to be logged; *held_back_r: how many were not since the last. */
bool msg_rate_allow(struct msg_rate *rate, time_t now, uint64_t *held_back_r);

/* Memory: these never return NULL; out of memory is fatal. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) UTIL_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) UTIL_PRINTF(1, 0);
/* Overflow-checked a*b; false when it would overflow. */
bool size_mul_ok(size_t a, size_t b, size_t *result);

/*
 * Growable byte buffer; data is always NUL-terminated after len bytes, so
 * buf_cstr() is free. A zeroed struct buf is a valid empty buffer.
 */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};
void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, int c);
void buf_printf(struct buf *b, const char *fmt, ...) UTIL_PRINTF(2, 3);
const char *buf_cstr(struct buf *b);
/* Hands the NUL-terminated data to the caller and leaves b empty. */
char *buf_steal(struct buf *b);

/*
 * UTC days. A day is a count of days since 1970-01-01 (UTC), which makes
 * arithmetic trivial; the text form is YYYY-MM-DD.
 */
#define DAY_TEXT_SIZE 11
int day_from_time(time_t t);
time_t day_start(int day);
void day_format(int day, char out[DAY_TEXT_SIZE]);
/* Strict YYYY-MM-DD (a real calendar date); -1 with *error_r on failure. */
int day_parse(const char *text, int *day, const char **error_r);
int day_today(void);
/* Monotonic clock in milliseconds, for timers and durations. */
int64_t clock_ms(void);

/*
 * Files. Errors come back as -1 and a message in *error_r that names the
 * path; the caller frees it with free().
 */
/* mkdir -p with this mode for directories it creates. */
int dir_make(const char *path, mode_t mode, char **error_r);
/* Write the whole file via tmp + fsync + rename (+ fsync of the directory). */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      char **error_r);
/*
 * Removes path and, when it is a directory, everything under it. Symlinks
 * are removed, never followed. A path that does not exist is fine (0).
 */
int dir_remove_tree(const char *path);
/* fsync(2) of a directory, so renames in it reach the disk; -1 and *error_r. */
int dir_sync(const char *dir, char **error_r);
/*
 * A new file (never an existing one, never through a symlink), written
 * without fsync: for a directory of many files made durable at once with
 * dir_sync_all() before it is renamed into place.
 */
int file_write_new(const char *path, const void *data, size_t len, mode_t mode,
                   char **error_r);
/* Everything written to dir's file system reaches the disk (syncfs(2)), then dir itself. */
int dir_sync_all(const char *dir, char **error_r);
/* The whole buffer into fd (again after short writes); -1 and errno on failure. */
int write_all(int fd, const void *data, size_t len);
/* Read a whole regular file of at most max_size bytes (symlinks are followed). */
int file_read_all(const char *path, size_t max_size, struct buf *out, char **error_r);
/*
 * Makes path hold `bytes` random bytes as lower-case hex and a newline,
 * unless it exists already: written to a temporary file, synced, and
 * linked into place, so that when another process made it first, its
 * content wins (a key, an instance id). 0, or -1 and *error_r.
 */
int file_random_hex_once(const char *path, size_t bytes, mode_t mode, char **error_r);
/* Exclusive non-blocking flock on path (created 0644); the fd, or -1. */
int file_lock(const char *path, char **error_r);
/* Joins a directory and a name into a newly allocated path. */
char *path_join(const char *dir, const char *name);

/*
 * Binds a unix socket of `type` (SOCK_STREAM, SOCK_DGRAM; non-blocking and
 * close-on-exec) at path: a stale socket there is replaced, any other kind
 * of file is an error. When running as root the socket file is given to
 * owner:group; its mode is set exactly. Returns the fd, or -1 and *error_r.
 */
int unix_socket_bind(const char *path, int type, uid_t owner, gid_t group, mode_t mode,
                     char **error_r);

/*
 * Splits a command line as Postfix does (argv_splitq): words separated by
 * white space; "{ two words }" is one argument. At most max - 1 words, then
 * a NULL. Returns the count, or -1 with a static *error_r. The strings point
 * into `text`, which is changed.
 */
int argv_split(char *text, char **argv, int max, const char **error_r);

/*
 * A network endpoint as configurations write it: "host", "host:port",
 * "[host]" or "[host]:port" (brackets for IPv6, or to mean "this host, no
 * MX lookup" as Postfix's relayhost does), or a bare IPv6 literal without a
 * port. With ip_only the host must be an IPv4 or IPv6 literal; otherwise a
 * name of letters, digits, "-", "_" and "." is also taken. The port is
 * default_port when none is given. -1 with a static *error_r otherwise.
 */
struct endpoint {
    char host[256];
    int port;
    bool ipv6;      /* host is an IPv6 literal */
    bool bracketed; /* written as [host] */
};
int endpoint_parse(const char *text, int default_port, bool ip_only, struct endpoint *out,
                   const char **error_r);

/*
 * A small poll(2) event loop for single-threaded daemons: file descriptors
 * with a read callback, and one-shot timers.
 */
struct loop;
typedef void loop_fd_fn(int fd, void *context);
typedef void loop_timer_fn(void *context);
struct loop *loop_create(void);
void loop_destroy(struct loop *loop);
void loop_add_fd(struct loop *loop, int fd, loop_fd_fn *callback, void *context);
void loop_remove_fd(struct loop *loop, int fd);
/* One-shot timer after delay_ms; re-arming the same (callback, context) replaces it. */
void loop_timer(struct loop *loop, int64_t delay_ms, loop_timer_fn *callback, void *context);
void loop_timer_cancel(struct loop *loop, loop_timer_fn *callback, void *context);
/* Runs until loop_stop(); EINTR is handled so signals can set flags. */
void loop_run(struct loop *loop);
void loop_stop(struct loop *loop);
/* Called by loop_run() after every wakeup, e.g. to look at signal flags. */
void loop_set_idle(struct loop *loop, loop_timer_fn *callback, void *context);

/* 64-bit hash of bytes (not cryptographic; for hash tables). */
uint64_t hash64(const void *data, size_t len, uint64_t seed);

#endif
