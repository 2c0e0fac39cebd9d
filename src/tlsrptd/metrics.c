/*
 * metrics.c - Prometheus metrics (metrics_listen): GET /metrics in the text
 * exposition format 0.0.4, served by libmicrohttpd in a thread of its own.
 * The figures are `tlsrpt status`'s, asked of the control socket like any
 * client, so there is one source of truth and the event loop is never blocked.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"

#define METRICS_MAX_CONNECTIONS 16
#define METRICS_CONNECTION_TIMEOUT 10         /* seconds, a whole request */
#define METRICS_CONNECTION_MEMORY (16 * 1024) /* bounds a request's headers */
#define METRICS_STATUS_TIMEOUT_MS 5000

static int listen_fd = -1;
static struct MHD_Daemon *http_server;
static char *control_path;

static enum MHD_Result respond(struct MHD_Connection *connection, unsigned int code,
                               const char *content_type, const char *body, size_t len)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET");
    enum MHD_Result result = MHD_queue_response(connection, code, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result handle_request(void *context, struct MHD_Connection *connection,
                                      const char *url, const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **request_context)
{
    static const char text_plain[] = "text/plain; charset=utf-8";
    struct ctl_response status;
    char *error;
    (void)context, (void)version, (void)upload_data, (void)upload_data_size;
    (void)request_context;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED, text_plain, "only GET /metrics\n",
                       18);
    if (strcmp(url, "/metrics") != 0)
        return respond(connection, MHD_HTTP_NOT_FOUND, text_plain, "only GET /metrics\n", 18);
    if (ctl_call(control_path, "status", METRICS_STATUS_TIMEOUT_MS, &status, &error) < 0) {
        msg_warn("metrics: no status from the control socket: %s", error);
        free(error);
        return respond(connection, MHD_HTTP_SERVICE_UNAVAILABLE, text_plain,
                       "no status from tlsrptd\n", 23);
    }
    struct buf body;
    buf_init(&body);
    metrics_format(&status, &body);
    ctl_response_free(&status);
    enum MHD_Result result =
        respond(connection, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                body.len ? body.data : "", body.len);
    buf_free(&body);
    return result;
}

void metrics_open(struct daemon *d)
{
    const char *text = cfg_str(d->cfg, "metrics_listen");
    struct endpoint endpoint;
    const char *reason;
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } address;
    socklen_t address_len;
    int one = 1;

    if (text[0] == '\0')
        return;
    /* cfg_validate checked it; a port is there. */
    if (endpoint_parse(text, 0, true, &endpoint, &reason) < 0)
        msg_fatal("metrics_listen = %s: %s", text, reason);
    memset(&address, 0, sizeof(address));
    if (endpoint.ipv6) {
        address.v6.sin6_family = AF_INET6;
        address.v6.sin6_port = htons((uint16_t)endpoint.port);
        inet_pton(AF_INET6, endpoint.host, &address.v6.sin6_addr);
        address_len = sizeof(address.v6);
    } else {
        address.v4.sin_family = AF_INET;
        address.v4.sin_port = htons((uint16_t)endpoint.port);
        inet_pton(AF_INET, endpoint.host, &address.v4.sin_addr);
        address_len = sizeof(address.v4);
    }
    listen_fd = socket(endpoint.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0)
        msg_fatal("metrics_listen = %s: socket: %s", text, strerror(errno));
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listen_fd, (struct sockaddr *)&address, address_len) < 0 || listen(listen_fd, 64) < 0)
        msg_fatal("metrics_listen = %s: %s", text, strerror(errno));
    control_path = xstrdup(d->control_path);
}

void metrics_start(struct daemon *d)
{
    (void)d;
    if (listen_fd < 0)
        return;
    http_server = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, handle_request, NULL,
        MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)METRICS_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)METRICS_CONNECTION_TIMEOUT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)METRICS_CONNECTION_MEMORY, MHD_OPTION_END);
    if (http_server == NULL)
        msg_fatal("metrics_listen: the HTTP server (libmicrohttpd) did not start");
}

void metrics_stop(struct daemon *d)
{
    (void)d;
    if (http_server) {
        MHD_stop_daemon(http_server); /* waits for its thread, closes the socket */
        http_server = NULL;
        listen_fd = -1;
    }
    if (listen_fd >= 0) {
        close(listen_fd);
        listen_fd = -1;
    }
    free(control_path);
    control_path = NULL;
}
