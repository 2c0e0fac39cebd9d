/*
 * check_socketmap_server.c - Check suite of the socketmap server over real
 * sockets with test handlers: answers, pipelining, hostile clients, idle
 * timeout, thousands of connections, max connections, concurrency, stop.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "socketmap.h"
#include "util.h"

/* Generous: the machine may be loaded. State is polled, never slept on. */
#define DEADLINE_MS 30000

static char temp_dir[] = "/tmp/check_socketmap.XXXXXX";
static char *socket_path;
static struct smap_server *server;

/* A gate the "block" key waits on, so a test decides when that lookup ends. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void gate_set(bool open)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* The test handler: what it answers depends on the key. */
static void test_handler(void *context, const char *map, const char *key, struct buf *reply)
{
    (void)context;
    if (strcmp(key, "notfound") == 0) {
        buf_puts(reply, "NOTFOUND ");
    } else if (strcmp(key, "temp") == 0) {
        buf_puts(reply, "TEMP try later");
    } else if (strcmp(key, "malformed") == 0) {
        buf_puts(reply, "MAYBE");
    } else if (strcmp(key, "huge") == 0) {
        while (reply->len <= SMAP_MAX_REPLY)
            buf_puts(reply, "OK ");
    } else if (strcmp(key, "block") == 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += DEADLINE_MS / 1000;
        pthread_mutex_lock(&gate_lock);
        while (!gate_open)
            if (pthread_cond_timedwait(&gate_cond, &gate_lock, &until) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&gate_lock);
        buf_puts(reply, "OK unblocked");
    } else {
        buf_printf(reply, "OK map=%s key=%s", map, key);
    }
}

/* The loop's handler: everything but "block" is answered without blocking. */
static bool test_fast_handler(void *context, const char *map, const char *key, struct buf *reply)
{
    if (strcmp(key, "block") == 0)
        return false;
    test_handler(context, map, key, reply);
    return true;
}

/* Whether the server gets test_fast_handler, or sends every request to a worker. */
static bool use_fast_handler = true;

static struct smap_settings default_settings(void)
{
    struct smap_settings settings = {
        .listen = socket_path,
        .owner = getuid(),
        .group = getgid(),
        .mode = 0600,
        .idle_timeout_ms = 300000,
        .max_connections = 100,
        .threads = 4,
        .log_name = "test",
    };
    return settings;
}

static void server_start(const struct smap_settings *settings)
{
    char *error = NULL;

    server = smap_server_open(settings, &error);
    ck_assert_msg(server != NULL, "open: %s", error);
    ck_assert_msg(smap_server_start(server, test_handler,
                                    use_fast_handler ? test_fast_handler : NULL, NULL, &error) == 0,
                  "start: %s", error);
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(temp_dir));
    socket_path = path_join(temp_dir, "map.sock");
    gate_set(false);
    struct smap_settings settings = default_settings();
    server_start(&settings);
}

static void setup_workers_only(void)
{
    use_fast_handler = false;
    setup();
}

static void teardown(void)
{
    gate_set(true);
    smap_server_close(server);
    server = NULL;
    use_fast_handler = true;
    dir_remove_tree(temp_dir);
    strcpy(temp_dir, "/tmp/check_socketmap.XXXXXX");
    free(socket_path);
}

static void restart_with(const struct smap_settings *settings)
{
    smap_server_close(server);
    server_start(settings);
}

static int client_connect(void);

/* Restarts with these settings and connects n clients. */
static void restart_with_clients(const struct smap_settings *settings, int *fds, int n)
{
    restart_with(settings);
    for (int i = 0; i < n; i++)
        fds[i] = client_connect();
}

/* Clients ------------------------------------------------------------------ */

static int client_connect(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval timeout = {.tv_sec = DEADLINE_MS / 1000};

    ck_assert_int_ge(fd, 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socket_path);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0, "connect: %s",
                  strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

static void send_request(int fd, const char *request)
{
    struct buf framed = {0};

    buf_printf(&framed, "%zu:%s,", strlen(request), request);
    send_all(fd, framed.data, framed.len);
    buf_free(&framed);
}

/*
 * Reads one netstring reply (the module's own reader, with room for the
 * largest reply); "EOF" when the server closed the connection first.
 */
static char *read_reply(int fd)
{
    struct smap_reader reader;
    char byte;

    smap_reader_init(&reader, SMAP_MAX_REPLY + 64);
    for (;;) {
        ssize_t n = recv(fd, &byte, 1, 0);
        if (n == 0) {
            smap_reader_free(&reader);
            return xstrdup("EOF");
        }
        ck_assert_msg(n == 1, "recv: %s", n < 0 ? strerror(errno) : "?");
        size_t used;
        int status = smap_reader_feed(&reader, &byte, 1, &used);
        ck_assert_int_ge(status, 0);
        if (status == 1) {
            char *reply = buf_steal(&reader.data);
            smap_reader_free(&reader);
            return reply;
        }
    }
}

static void assert_reply(int fd, const char *expected)
{
    char *reply = read_reply(fd);
    ck_assert_str_eq(reply, expected);
    free(reply);
}

static void assert_query(int fd, const char *request, const char *expected)
{
    send_request(fd, request);
    assert_reply(fd, expected);
}

/*
 * After a protocol error or an idle timeout: nothing more, then end of file
 * (or a reset, when the client was still sending to a closed connection).
 */
static void assert_closed(int fd)
{
    char byte;
    ssize_t n;

    while ((n = recv(fd, &byte, 1, 0)) < 0 && errno == EINTR)
        continue;
    ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET), "expected end of file, got %zd (%s)", n,
                  n < 0 ? strerror(errno) : "data");
}

static struct smap_stats stats_now(void)
{
    struct smap_stats stats;
    smap_server_stats(server, &stats);
    return stats;
}

/* Polls a counter until it has the value (deadline DEADLINE_MS). */
#define WAIT_STAT(field, value)                                                                    \
    do {                                                                                           \
        int64_t deadline_ = clock_ms() + DEADLINE_MS;                                              \
        while (stats_now().field != (uint64_t)(value) && clock_ms() < deadline_)                   \
            poll(NULL, 0, 5);                                                                      \
        ck_assert_uint_eq(stats_now().field, (uint64_t)(value));                                   \
    } while (0)

/* Answers ------------------------------------------------------------------- */

START_TEST(test_answers_any_map_name)
{
    int fd = client_connect();

    assert_query(fd, "postfix example.com", "OK map=postfix key=example.com");
    assert_query(fd, "QUERY example.net", "OK map=QUERY key=example.net");
    assert_query(fd, "sts mx.example.org", "OK map=sts key=mx.example.org");
    assert_query(fd, "postfix notfound", "NOTFOUND ");
    assert_query(fd, "postfix temp", "TEMP try later");
    assert_query(fd, "postfix malformed", "TEMP lookup gave a malformed reply");
    assert_query(fd, "postfix huge", "TEMP lookup reply too large");
    close(fd);
    WAIT_STAT(connections_open, 0);
    struct smap_stats stats = stats_now();
    ck_assert_uint_eq(stats.connections_total, 1);
    ck_assert_uint_eq(stats.requests, 7);
    ck_assert_uint_eq(stats.replies[SMAP_REPLY_OK], 3);
    ck_assert_uint_eq(stats.replies[SMAP_REPLY_NOTFOUND], 1);
    ck_assert_uint_eq(stats.replies[SMAP_REPLY_TEMP], 3);
    ck_assert_uint_eq(stats.replies[SMAP_REPLY_PERM], 0);
    for (int e = 0; e < SMAP_ERR_COUNT; e++)
        ck_assert_uint_eq(stats.errors[e], 0);
}
END_TEST

/* One byte per send(): the server puts the request together. */
START_TEST(test_byte_by_byte)
{
    const char request[] = "31:postfix split.example.com again,";
    int fd = client_connect();

    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(request) - 1; i++) {
            send_all(fd, request + i, 1);
            if (i % 7 == 0)
                poll(NULL, 0, 1); /* let some bytes arrive alone */
        }
        assert_reply(fd, "OK map=postfix key=split.example.com again");
    }
    close(fd);
}
END_TEST

/* Many requests in one write are answered in order, one reply each. */
START_TEST(test_pipelining)
{
    struct buf batch = {0};
    int fd = client_connect();

    for (int i = 0; i < 300; i++) {
        char request[64];
        int len = snprintf(request, sizeof(request), "m%d key%d", i % 3, i);
        buf_printf(&batch, "%d:%s,", len, request);
    }
    send_all(fd, batch.data, batch.len);
    for (int i = 0; i < 300; i++) {
        char expected[64];
        snprintf(expected, sizeof(expected), "OK map=m%d key=key%d", i % 3, i);
        assert_reply(fd, expected);
    }
    ck_assert_uint_eq(stats_now().requests, 300);
    buf_free(&batch);
    close(fd);
}
END_TEST

/* Hostile input ---------------------------------------------------------- */

static const struct {
    const char *input;
    size_t len;
    enum smap_error error;
} hostile_cases[] = {
    {"99999999999999999999:", 21, SMAP_ERR_TOO_LARGE},
    {"10001:", 6, SMAP_ERR_TOO_LARGE},
    {"GET / HTTP/1.0\r\n\r\n", 18, SMAP_ERR_BAD_LENGTH},
    {"11:postfix a.b;", 15, SMAP_ERR_MISSING_COMMA},
    {"5:x\0y z,", 8, SMAP_ERR_NUL},
    {"15:postfix a\0b.com,", 19, SMAP_ERR_NUL},
    {"007:abcdefg,", 12, SMAP_ERR_LEADING_ZERO},
    {"7=postfix,", 10, SMAP_ERR_MISSING_COLON},
    {"7:postfix,", 10, SMAP_ERR_BAD_REQUEST},
    {"0:,", 3, SMAP_ERR_BAD_REQUEST},
    {"8:postfix ,", 11, SMAP_ERR_BAD_REQUEST},
};

/* A good request, then the bad one: the answer, a PERM naming the error, EOF. */
START_TEST(test_hostile_input)
{
    int fd = client_connect();
    char expected[200];

    assert_query(fd, "postfix before.example", "OK map=postfix key=before.example");
    send_all(fd, hostile_cases[_i].input, hostile_cases[_i].len);
    snprintf(expected, sizeof(expected), "PERM protocol error (%s): %s",
             smap_error_name(hostile_cases[_i].error), smap_error_text(hostile_cases[_i].error));
    assert_reply(fd, expected);
    assert_closed(fd);
    close(fd);
    WAIT_STAT(connections_open, 0);
    struct smap_stats stats = stats_now();
    for (int e = 0; e < SMAP_ERR_COUNT; e++)
        ck_assert_uint_eq(stats.errors[e], e == (int)hostile_cases[_i].error ? 1 : 0);
    ck_assert_uint_eq(stats.replies[SMAP_REPLY_PERM], 1);
    /* The server goes on. */
    fd = client_connect();
    assert_query(fd, "postfix after.example", "OK map=postfix key=after.example");
    close(fd);
}
END_TEST

/* A request cut off by the client's close is counted as truncated. */
START_TEST(test_truncated)
{
    int fd = client_connect();

    send_all(fd, "20:postfix exa", 14);
    WAIT_STAT(connections_total, 1);
    close(fd);
    WAIT_STAT(errors[SMAP_ERR_TRUNCATED], 1);
    WAIT_STAT(connections_open, 0);
}
END_TEST

struct flood {
    int fd;
    size_t sent;
};

static void *flood_main(void *arg)
{
    struct flood *flood = arg;
    static char chunk[65536];

    memset(chunk, 'x', sizeof(chunk));
    while (flood->sent < 10 * 1024 * 1024) {
        ssize_t n = send(flood->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server closed: EPIPE or ECONNRESET */
        flood->sent += (size_t)n;
    }
    shutdown(flood->fd, SHUT_WR);
    return NULL;
}

/* 10 MB announced and sent: refused at the length, never buffered. */
START_TEST(test_ten_megabyte_stream)
{
    int fd = client_connect();
    struct flood flood = {.fd = fd};
    pthread_t thread;

    send_all(fd, "10485760:", 9);
    ck_assert_int_eq(pthread_create(&thread, NULL, flood_main, &flood), 0);
    assert_reply(fd, "PERM protocol error (too-large): the request is longer than the limit");
    assert_closed(fd);
    pthread_join(thread, NULL);
    close(fd);
    ck_assert_uint_eq(stats_now().errors[SMAP_ERR_TOO_LARGE], 1);
}
END_TEST

/* Connections ------------------------------------------------------------ */

START_TEST(test_idle_timeout)
{
    struct smap_settings settings = default_settings();
    int fds[3];

    settings.idle_timeout_ms = 300;
    restart_with_clients(&settings, fds, 3);
    assert_query(fds[1], "postfix busy.example", "OK map=postfix key=busy.example");
    WAIT_STAT(idle_closes, 3);
    WAIT_STAT(connections_open, 0);
    for (int i = 0; i < 3; i++) {
        assert_closed(fds[i]);
        close(fds[i]);
    }
    ck_assert_uint_eq(stats_now().connections_total, 3);
}
END_TEST

/* A lookup in progress is not idle, however long it takes. */
START_TEST(test_idle_timeout_spares_busy)
{
    struct smap_settings settings = default_settings();

    settings.idle_timeout_ms = 200;
    restart_with(&settings);
    int fd = client_connect();
    send_request(fd, "postfix block");
    WAIT_STAT(in_progress, 1);
    /* Twice the idle timeout while the lookup blocks, measured by another idle client. */
    int other = client_connect();
    WAIT_STAT(idle_closes, 1);
    gate_set(true);
    assert_reply(fd, "OK unblocked");
    close(fd);
    close(other);
}
END_TEST

/* Each end of a connection is a file descriptor of this process. */
static int raise_fd_limit(int wanted)
{
    struct rlimit limit;

    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < (rlim_t)wanted) {
        limit.rlim_cur = limit.rlim_max < (rlim_t)wanted ? limit.rlim_max : (rlim_t)wanted;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    getrlimit(RLIMIT_NOFILE, &limit);
    return (int)limit.rlim_cur;
}

START_TEST(test_thousands_idle)
{
    struct smap_settings settings = default_settings();
    int want = 3000;
    int limit = raise_fd_limit(2 * want + 100);

    if (limit < 2 * want + 100)
        want = (limit - 100) / 2;
    ck_assert_msg(want >= 400, "RLIMIT_NOFILE %d is too low for this test", limit);
    settings.max_connections = (unsigned)want + 1;
    restart_with(&settings);
    int *fds = xcalloc((size_t)want, sizeof(int));
    for (int i = 0; i < want; i++)
        fds[i] = client_connect();
    WAIT_STAT(connections_open, want);
    /* Among thousands of idle connections, one more is answered at once. */
    int fd = client_connect();
    assert_query(fd, "postfix one-more.example", "OK map=postfix key=one-more.example");
    assert_query(fds[want / 2], "postfix middle.example", "OK map=postfix key=middle.example");
    close(fd);
    for (int i = 0; i < want; i++)
        close(fds[i]);
    WAIT_STAT(connections_open, 0);
    ck_assert_uint_eq(stats_now().connections_total, (uint64_t)want + 1);
    ck_assert_uint_eq(stats_now().connections_refused, 0);
    free(fds);
}
END_TEST

START_TEST(test_max_connections)
{
    struct smap_settings settings = default_settings();
    int fds[3];

    settings.max_connections = 3;
    restart_with_clients(&settings, fds, 3);
    WAIT_STAT(connections_open, 3);
    int extra = client_connect();
    assert_closed(extra);
    close(extra);
    ck_assert_uint_eq(stats_now().connections_refused, 1);
    for (int i = 0; i < 3; i++)
        assert_query(fds[i], "postfix still.example", "OK map=postfix key=still.example");
    close(fds[0]);
    WAIT_STAT(connections_open, 2);
    extra = client_connect();
    assert_query(extra, "postfix room.example", "OK map=postfix key=room.example");
    close(extra);
    for (int i = 1; i < 3; i++)
        close(fds[i]);
}
END_TEST

/* A lookup that blocks on one connection does not hold up another. */
START_TEST(test_concurrency)
{
    int slow = client_connect();
    int fast = client_connect();
    struct pollfd pfd = {.fd = slow, .events = POLLIN};

    send_request(slow, "postfix block");
    WAIT_STAT(in_progress, 1);
    assert_query(fast, "postfix fast.example", "OK map=postfix key=fast.example");
    assert_query(fast, "postfix notfound", "NOTFOUND ");
    ck_assert_int_eq(poll(&pfd, 1, 0), 0); /* the slow one is still waiting */
    ck_assert_uint_eq(stats_now().in_progress, 1);
    gate_set(true);
    assert_reply(slow, "OK unblocked");
    close(slow);
    close(fast);
}
END_TEST

/* A request behind one that blocks, in the same write, is answered after it, in order. */
START_TEST(test_order_behind_blocking)
{
    int fd = client_connect();
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    send_all(fd, "13:postfix block,14:postfix after1,", 35);
    WAIT_STAT(in_progress, 1);
    ck_assert_int_eq(poll(&pfd, 1, 0), 0); /* nothing overtakes the blocked lookup */
    gate_set(true);
    assert_reply(fd, "OK unblocked");
    assert_reply(fd, "OK map=postfix key=after1");
    assert_query(fd, "postfix after2", "OK map=postfix key=after2");
    close(fd);
}
END_TEST

/*
 * With every worker blocked, further blocking requests wait (counted) and are
 * answered later; the ones the fast handler answers do not wait.
 */
START_TEST(test_queue)
{
    struct smap_settings settings = default_settings();
    int fds[3];

    settings.threads = 2;
    restart_with_clients(&settings, fds, 3);
    /* All accepted before the requests, so the counts below are of the requests alone. */
    WAIT_STAT(connections_open, 3);
    for (int i = 0; i < 3; i++)
        send_request(fds[i], "postfix block");
    WAIT_STAT(in_progress, 2);
    WAIT_STAT(queue_length, 1);
    if (use_fast_handler) { /* what needs no worker is answered meanwhile */
        int other = client_connect();
        assert_query(other, "postfix cached.example", "OK map=postfix key=cached.example");
        close(other);
    }
    gate_set(true);
    for (int i = 0; i < 3; i++) {
        assert_reply(fds[i], "OK unblocked");
        close(fds[i]);
    }
    WAIT_STAT(queue_length, 0);
    WAIT_STAT(in_progress, 0);
}
END_TEST

static void *release_later(void *arg)
{
    (void)arg;
    WAIT_STAT(in_progress, 1);
    poll(NULL, 0, 100);
    gate_set(true);
    return NULL;
}

/* Stop waits for the lookup in hand, closes every connection, removes the socket. */
START_TEST(test_clean_stop)
{
    int idle = client_connect();
    int busy = client_connect();
    int pipelined = client_connect();
    pthread_t thread;

    send_request(busy, "postfix block");
    send_all(pipelined, "3:a b,3:c d,5:e", 15);
    WAIT_STAT(connections_open, 3);
    ck_assert_int_eq(pthread_create(&thread, NULL, release_later, NULL), 0);
    WAIT_STAT(in_progress, 1);
    smap_server_stop(server);
    pthread_join(thread, NULL);
    struct smap_stats stats = stats_now();
    ck_assert_uint_eq(stats.connections_open, 0);
    ck_assert_uint_eq(stats.in_progress, 0);
    assert_closed(idle);
    /* The pipelined client had its answers, or the end: never a half reply. */
    char *reply;
    while (strcmp(reply = read_reply(pipelined), "EOF") != 0) {
        ck_assert(strcmp(reply, "OK map=a key=b") == 0 || strcmp(reply, "OK map=c key=d") == 0);
        free(reply);
    }
    free(reply);
    smap_server_close(server);
    server = NULL;
    ck_assert_int_eq(access(socket_path, F_OK), -1);
    close(idle);
    close(busy);
    close(pipelined);
    struct smap_settings settings = default_settings();
    server_start(&settings); /* for the teardown */
}
END_TEST

/* Addresses ----------------------------------------------------------------- */

static void inet_query(int family, int port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;

    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, "::1", &sin6->sin6_addr);
        len = sizeof(*sin6);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(connect(fd, (struct sockaddr *)&ss, len) == 0, "connect: %s", strerror(errno));
    assert_query(fd, "postfix inet.example", "OK map=postfix key=inet.example");
    close(fd);
}

START_TEST(test_inet)
{
    struct smap_settings settings = default_settings();

    settings.listen = "inet:127.0.0.1:0";
    restart_with(&settings);
    ck_assert_int_gt(smap_server_port(server), 0);
    inet_query(AF_INET, smap_server_port(server));

    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 lo6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&lo6, sizeof(lo6)) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6) {
        printf("check_socketmap_server: no IPv6 loopback here: inet:[::1] not tested\n");
        return;
    }
    settings.listen = "inet:[::1]:0";
    restart_with(&settings);
    inet_query(AF_INET6, smap_server_port(server));
}
END_TEST

static const struct {
    const char *listen;
    const char *error;
} listen_errors[] = {
    {"map.sock", "map.sock: expected an absolute path, unix:PATH or inet:HOST:PORT"},
    {"", ": expected an absolute path, unix:PATH or inet:HOST:PORT"},
    {"inet:127.0.0.1", "inet:127.0.0.1: expected inet:HOST:PORT (IPv6: inet:[ADDRESS]:PORT)"},
    {"inet:::1:25", "inet:::1:25: expected inet:HOST:PORT (IPv6: inet:[ADDRESS]:PORT)"},
    {"inet:[::1:25", "inet:[::1:25: expected inet:[IPV6-ADDRESS]:PORT"},
    {"inet:127.0.0.1:65536", "inet:127.0.0.1:65536: the port must be a number from 0 to 65535"},
    {"inet:127.0.0.1:", "inet:127.0.0.1:: the port must be a number from 0 to 65535"},
    {"inet:127.0.0.1:8x", "inet:127.0.0.1:8x: the port must be a number from 0 to 65535"},
    {"inet:localhost:8461", "inet:localhost:8461: the host must be a numeric IPv4 or IPv6 "
                            "address: Name or service not known"},
    {"/nonexistent-dir/map.sock", "bind /nonexistent-dir/map.sock: No such file or directory"},
};

START_TEST(test_listen_errors)
{
    struct smap_settings settings = default_settings();
    char *error = NULL;

    settings.listen = listen_errors[_i].listen;
    ck_assert_ptr_null(smap_server_open(&settings, &error));
    ck_assert_str_eq(error, listen_errors[_i].error);
    free(error);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("socketmap_server");
    TCase *tc = tcase_create("server");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_answers_any_map_name);
    tcase_add_test(tc, test_byte_by_byte);
    tcase_add_test(tc, test_pipelining);
    tcase_add_loop_test(tc, test_hostile_input, 0, (int)UTIL_ARRAY_LEN(hostile_cases));
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_ten_megabyte_stream);
    tcase_add_test(tc, test_idle_timeout);
    tcase_add_test(tc, test_idle_timeout_spares_busy);
    tcase_add_test(tc, test_thousands_idle);
    tcase_add_test(tc, test_max_connections);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_order_behind_blocking);
    tcase_add_test(tc, test_queue);
    tcase_add_test(tc, test_clean_stop);
    tcase_add_test(tc, test_inet);
    tcase_add_loop_test(tc, test_listen_errors, 0, (int)UTIL_ARRAY_LEN(listen_errors));
    suite_add_tcase(s, tc);

    /* Without a fast handler every request goes to a worker thread. */
    TCase *workers = tcase_create("workers only");
    tcase_add_checked_fixture(workers, setup_workers_only, teardown);
    tcase_set_timeout(workers, 120);
    tcase_add_test(workers, test_answers_any_map_name);
    tcase_add_test(workers, test_pipelining);
    tcase_add_loop_test(workers, test_hostile_input, 0, (int)UTIL_ARRAY_LEN(hostile_cases));
    tcase_add_test(workers, test_idle_timeout_spares_busy);
    tcase_add_test(workers, test_concurrency);
    tcase_add_test(workers, test_order_behind_blocking);
    tcase_add_test(workers, test_queue);
    tcase_add_test(workers, test_clean_stop);
    suite_add_tcase(s, workers);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(server_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
