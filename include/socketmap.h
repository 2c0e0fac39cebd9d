/*
 * socketmap.h - a generic Postfix socketmap_table(5) server (Sendmail's
 * socketmap speaks the same): netstring requests "NAME KEY", replies "OK
 * value", "NOTFOUND ", "TEMP/TIMEOUT/PERM reason"; knows nothing of what is looked up.
 */
#ifndef TLSRPT_SOCKETMAP_H
#define TLSRPT_SOCKETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Postfix sends a few hundred bytes at most; its own reply limit is 100,000. */
#define SMAP_DEFAULT_MAX_REQUEST 10000
#define SMAP_MAX_REPLY 100000

/* Kinds of bad input; each is counted and named in the PERM reply. */
enum smap_error {
    SMAP_ERR_BAD_LENGTH,    /* the length is empty or does not start with a digit */
    SMAP_ERR_LEADING_ZERO,  /* "01:" - netstrings have no leading zeros */
    SMAP_ERR_TOO_LARGE,     /* longer than the request size limit */
    SMAP_ERR_MISSING_COLON, /* the digits are followed by something else than ':' */
    SMAP_ERR_MISSING_COMMA, /* the data is not followed by ',' */
    SMAP_ERR_NUL,           /* a NUL byte in the request */
    SMAP_ERR_BAD_REQUEST,   /* not "NAME KEY" with a non-empty name and key */
    SMAP_ERR_TRUNCATED,     /* the client closed the connection mid-request */
    SMAP_ERR_COUNT
};
/* "bad-length", "leading-zero", ...: names for logs and `tlsrpt status`. */
const char *smap_error_name(enum smap_error error);
/* What was wrong, in a sentence for the PERM reply and the log. */
const char *smap_error_text(enum smap_error error);

/*
 * Incremental netstring reader: input may come in pieces of any size. After
 * an error it stays failed; after a complete netstring its payload is in
 * `data` until smap_reader_next().
 */
struct smap_reader {
    int state;
    size_t length;     /* announced length */
    size_t max_length; /* the request size limit */
    struct buf data;
    enum smap_error error;
};
void smap_reader_init(struct smap_reader *r, size_t max_length);
void smap_reader_free(struct smap_reader *r);
/*
 * Consumes bytes of input and stores in *used how many: returns 1 when a
 * netstring is complete (its payload, NUL-terminated, in r->data), 0 when all
 * input was used and more is needed, -1 on a syntax error (r->error).
 */
int smap_reader_feed(struct smap_reader *r, const char *input, size_t len, size_t *used);
/* Forgets the completed netstring, to read the next one. */
void smap_reader_next(struct smap_reader *r);
/* True when the reader holds part of a netstring (for SMAP_ERR_TRUNCATED at EOF). */
bool smap_reader_partial(const struct smap_reader *r);

/*
 * Splits a request payload "NAME KEY" at its first space (the name may be
 * anything but empty; the key runs to the end and may hold spaces). The
 * payload is modified in place. -1 and *error_r on a bad request.
 */
int smap_request_split(char *payload, size_t len, const char **name_r, const char **key_r,
                       enum smap_error *error_r);

/* Reply kinds, counted per kind. */
enum smap_reply_kind {
    SMAP_REPLY_OK,
    SMAP_REPLY_NOTFOUND,
    SMAP_REPLY_TEMP,
    SMAP_REPLY_TIMEOUT,
    SMAP_REPLY_PERM,
    SMAP_REPLY_KIND_COUNT
};
const char *smap_reply_kind_name(enum smap_reply_kind kind); /* "ok", "notfound", ... */
/*
 * Frames a reply as a netstring onto out and returns its kind. A reply that
 * is not one of the five kinds, or longer than SMAP_MAX_REPLY, is sent as
 * "TEMP ..." saying so (the lookup is retried later rather than trusted).
 */
enum smap_reply_kind smap_reply_frame(struct buf *out, const char *reply, size_t len);

/*
 * The lookup that may block (DNS, HTTPS): run in a worker thread; appends
 * the reply without framing ("OK value", "NOTFOUND ", "TEMP reason", ...).
 */
typedef void smap_handler(void *context, const char *map, const char *key, struct buf *reply);
/*
 * The lookup that never blocks (an answer from memory): run in the thread
 * that reads the connection. Appends the reply and returns true, or returns
 * false, reply untouched, when answering would block: the request is then
 * given to the smap_handler in a worker thread. Optional.
 */
typedef bool smap_fast_handler(void *context, const char *map, const char *key, struct buf *reply);

struct smap_settings {
    /* An absolute path (unix stream socket) or inet:HOST:PORT, inet:[V6]:PORT. */
    const char *listen;
    uid_t owner; /* unix socket owner, group and mode (owner/group only as root) */
    gid_t group;
    mode_t mode;
    size_t max_request;       /* 0: SMAP_DEFAULT_MAX_REQUEST */
    int64_t idle_timeout_ms;  /* idle client connections are closed after this */
    unsigned max_connections; /* more are accepted and closed at once */
    unsigned threads;         /* worker threads, each runs one blocking lookup at a time */
    const char *log_name;     /* prefix of log lines, e.g. "policy" */
};

struct smap_stats {
    uint64_t connections_open;
    uint64_t connections_total; /* accepted and served */
    uint64_t connections_refused;
    uint64_t requests;
    uint64_t replies[SMAP_REPLY_KIND_COUNT]; /* the PERM of a protocol error included */
    uint64_t errors[SMAP_ERR_COUNT];
    uint64_t idle_closes;
    uint64_t queue_length; /* requests waiting for a worker thread */
    uint64_t in_progress;  /* blocking lookups running now (at most one per worker) */
};

struct smap_server;
/* Parses the address and binds the socket (call as root): NULL and *error_r. */
struct smap_server *smap_server_open(const struct smap_settings *settings, char **error_r);
/* The port an inet socket is bound to (for port 0), or 0 for a unix socket. */
int smap_server_port(struct smap_server *server);
/*
 * Starts the threads: one per CPU reading connections and answering with
 * fast (when not NULL), settings->threads workers answering with handler.
 */
int smap_server_start(struct smap_server *server, smap_handler *handler, smap_fast_handler *fast,
                      void *context, char **error_r);
/* Stops taking requests, waits for lookups in progress, closes every connection. */
void smap_server_stop(struct smap_server *server);
/* Stops if needed, closes the socket (a unix socket file is removed) and frees. */
void smap_server_close(struct smap_server *server);
void smap_server_stats(struct smap_server *server, struct smap_stats *stats);

/*
 * Client side: connects to a socketmap server at an address written as
 * smap_settings.listen (numeric, never a name lookup) within timeout_ms.
 * A non-blocking socket, or -1 with *error_r.
 */
int smap_connect(const char *address, int timeout_ms, char **error_r);

#endif
