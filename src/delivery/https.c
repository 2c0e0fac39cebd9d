/*
 * https.c - POSTs a gzip report to an https: rua (RFC 8460 §5.4) with
 * libcurl: certificates always verified, no redirects, and only to the
 * global unicast addresses that were checked (pinned for curl).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "address.h"
#include "delivery.h"
#include "tlstrust.h"
#include "util.h"

#define CONTENT_TYPE "application/tlsrpt+gzip"
#define ADDRESSES_MAX 16
#define DEFAULT_TIMEOUT_SECONDS 60
#define RESPONSE_KEPT 512 /* of the body, for the error text */
/*
 * What is read of a response at most: a status and a reason fit easily, and
 * a hostile rua cannot stream gigabytes at us; the transfer is cut there
 * and the answer judged by its status code.
 */
#define RESPONSE_READ_MAX 4096
#define HEADERS_READ_MAX 16384
#define RESPONSE_SHOWN 120 /* characters of it in the error text */
#define PRIVATE_HINT "set https_allow_private_destinations = yes to allow"

/* What the callbacks of one transfer share. */
struct transfer {
    const struct dlv_https_settings *settings;
    const char *host;
    const struct sockaddr_storage *checked; /* the only addresses curl may connect to */
    size_t n_checked;
    char refused[512]; /* set when a connection was refused */
    struct tls_trust trust;
    struct buf response; /* the start of the response body */
    size_t body_read, headers_read;
    bool cut; /* the transfer was ended at RESPONSE_READ_MAX or HEADERS_READ_MAX */
};

static void set_result(struct dlv_result *result, enum dlv_outcome outcome, int code,
                       const char *fmt, ...) UTIL_PRINTF(4, 5);

static void set_result(struct dlv_result *result, enum dlv_outcome outcome, int code,
                       const char *fmt, ...)
{
    va_list ap;

    result->outcome = outcome;
    result->code = code;
    va_start(ap, fmt);
    vsnprintf(result->error, sizeof(result->error), fmt, ap);
    va_end(ap);
}

static int resolve_with_getaddrinfo(const char *host, struct sockaddr_storage *addresses,
                                    size_t max, char **error_r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    size_t n = 0;
    int status = getaddrinfo(host, NULL, &hints, &list);

    if (status == EAI_NONAME
#ifdef EAI_NODATA
        || status == EAI_NODATA
#endif
    )
        return 0;
    if (status != 0) {
        *error_r = xasprintf("%s: %s", host, gai_strerror(status));
        return -1;
    }
    for (const struct addrinfo *ai = list; ai && n < max; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(addresses[0]))
            continue;
        memset(&addresses[n], 0, sizeof(addresses[n]));
        memcpy(&addresses[n], ai->ai_addr, ai->ai_addrlen);
        n++;
    }
    freeaddrinfo(list);
    return (int)n;
}

/*
 * The addresses to connect to, every one checked: 0, or -1 with *result
 * set (no such host, DNS failure, a refused address).
 */
static int resolve_and_check(const struct dlv_https_settings *settings,
                             const struct dlv_https_target *target,
                             struct sockaddr_storage *addresses, size_t *n_r,
                             struct dlv_result *result)
{
    char *error = NULL;
    int n;

    if (target->literal) {
        addresses[0] = target->address;
        n = 1;
    } else if (settings->resolve) {
        n = settings->resolve(settings->resolve_context, target->host, addresses, ADDRESSES_MAX,
                              &error);
    } else {
        n = resolve_with_getaddrinfo(target->host, addresses, ADDRESSES_MAX, &error);
    }
    if (n < 0) {
        set_result(result, DLV_TEMPORARY, 0, "cannot resolve %s: %s", target->host,
                   error ? error : "unknown error");
        free(error);
        return -1;
    }
    if (n == 0) {
        set_result(result, DLV_PERMANENT, 0, "no such host: %s has no IPv4 or IPv6 address",
                   target->host);
        return -1;
    }
    for (int i = 0; i < n && !settings->allow_private; i++) {
        char text[DLV_ADDRESS_TEXT_SIZE], reason[DLV_ADDRESS_TEXT_SIZE];
        if (dlv_address_refusal((const struct sockaddr *)&addresses[i], reason, sizeof(reason)) ==
            NULL)
            continue;
        dlv_address_text((const struct sockaddr *)&addresses[i], text, sizeof(text));
        if (target->literal)
            set_result(result, DLV_REFUSED, 0, "%s is not a public address (%s); %s", text, reason,
                       PRIVATE_HINT);
        else
            set_result(result, DLV_REFUSED, 0, "%s resolves to %s (%s); %s", target->host, text,
                       reason, PRIVATE_HINT);
        return -1;
    }
    *n_r = (size_t)n;
    return 0;
}

/* "host:port:addr1,[v6addr2]" for CURLOPT_RESOLVE. */
static char *pin_entry(const char *host, int port, const struct sockaddr_storage *addresses,
                       size_t n)
{
    struct buf entry;

    buf_init(&entry);
    buf_printf(&entry, "%s:%d:", host, port);
    for (size_t i = 0; i < n; i++) {
        char text[DLV_ADDRESS_TEXT_SIZE];
        dlv_address_text((const struct sockaddr *)&addresses[i], text, sizeof(text));
        buf_printf(&entry, addresses[i].ss_family == AF_INET6 ? "%s[%s]" : "%s%s", i > 0 ? "," : "",
                   text);
    }
    return buf_steal(&entry);
}

/*
 * Called for every connection curl makes: the address must be one that was
 * checked, and is checked again, so no other path (a cache, a rebinding
 * DNS answer) leads anywhere else.
 */
static curl_socket_t open_socket(void *context, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct transfer *transfer = context;
    const struct sockaddr *to = &address->addr;
    char text[DLV_ADDRESS_TEXT_SIZE], reason[DLV_ADDRESS_TEXT_SIZE];
    bool known = false;

    dlv_address_text(to, text, sizeof(text));
    for (size_t i = 0; i < transfer->n_checked && !known; i++)
        known = dlv_address_equal(to, (const struct sockaddr *)&transfer->checked[i]);
    if (purpose != CURLSOCKTYPE_IPCXN || !known) {
        snprintf(transfer->refused, sizeof(transfer->refused),
                 "connection to %s, which was not checked for %s", text, transfer->host);
        return CURL_SOCKET_BAD;
    }
    if (!transfer->settings->allow_private && dlv_address_refusal(to, reason, sizeof(reason))) {
        snprintf(transfer->refused, sizeof(transfer->refused), "connection to %s (%s); %s", text,
                 reason, PRIVATE_HINT);
        return CURL_SOCKET_BAD;
    }
    int fd = socket(address->family, address->socktype, address->protocol);
    if (fd >= 0)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC); /* not inherited by a sendmail child */
    return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

static size_t keep_response(char *data, size_t size, size_t count, void *context)
{
    struct transfer *transfer = context;
    size_t len = size * count;

    if (transfer->response.len < RESPONSE_KEPT) {
        size_t room = RESPONSE_KEPT - transfer->response.len;
        buf_append(&transfer->response, data, len < room ? len : room);
    }
    transfer->body_read += len;
    if (transfer->body_read > RESPONSE_READ_MAX) {
        transfer->cut = true;
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

static size_t count_headers(char *data, size_t size, size_t count, void *context)
{
    struct transfer *transfer = context;
    size_t len = size * count;

    (void)data;
    transfer->headers_read += len;
    if (transfer->headers_read > HEADERS_READ_MAX) {
        transfer->cut = true;
        return 0;
    }
    return len;
}

/* Printable ASCII only, runs of white space as one space, at most max characters. */
static void append_printable(struct buf *out, const char *text, size_t len, size_t max)
{
    size_t shown = 0;
    bool space = false;

    for (size_t i = 0; i < len && shown < max; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = shown > 0;
            continue;
        }
        if (space && shown + 1 < max) {
            buf_putc(out, ' ');
            shown++;
        }
        space = false;
        buf_putc(out, c > 0x20 && c < 0x7f ? (char)c : '?');
        shown++;
    }
    if (shown == max)
        buf_puts(out, "...");
}

static void status_result(CURL *curl, long status, struct transfer *transfer,
                          struct dlv_result *result)
{
    struct buf text;
    enum dlv_outcome outcome;
    char *location = NULL;

    buf_init(&text);
    buf_printf(&text, "HTTP %ld", status);
    if (status == 200 || status == 201) {
        outcome = DLV_DELIVERED;
    } else if (status >= 300 && status < 400) {
        /* Following could lead past the address checks; the rua must name the real place. */
        outcome = DLV_PERMANENT;
        buf_puts(&text, ": redirect not followed");
        if (curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location) {
            buf_puts(&text, " (Location: ");
            append_printable(&text, location, strlen(location), RESPONSE_SHOWN);
            buf_puts(&text, ")");
        }
    } else if (status >= 400 && status < 500 && status != 429) {
        outcome = DLV_PERMANENT;
    } else {
        outcome = DLV_TEMPORARY;
    }
    if (outcome != DLV_DELIVERED && transfer->response.len > 0 &&
        !(status >= 300 && status < 400)) {
        buf_puts(&text, ": ");
        append_printable(&text, transfer->response.data, transfer->response.len, RESPONSE_SHOWN);
    }
    set_result(result, outcome, (int)status, "%s", buf_cstr(&text));
    buf_free(&text);
}

static void transport_result(CURLcode code, const char *detail, const struct transfer *transfer,
                             struct dlv_result *result)
{
    const char *what = detail[0] ? detail : curl_easy_strerror(code);

    switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        set_result(result, DLV_TEMPORARY, 0, "TLS: certificate verification failed: %s", what);
        return;
    case CURLE_SSL_CACERT_BADFILE:
        if (transfer->trust.error[0])
            set_result(result, DLV_TEMPORARY, 0, "TLS: %s", transfer->trust.error);
        else
            set_result(result, DLV_TEMPORARY, 0, "%s", what);
        return;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CLIENTCERT:
        set_result(result, DLV_TEMPORARY, 0, "TLS: %s", what);
        return;
    case CURLE_OPERATION_TIMEDOUT:
        set_result(result, DLV_TEMPORARY, 0, "timeout: %s", what);
        return;
    case CURLE_COULDNT_CONNECT:
        if (transfer->refused[0])
            set_result(result, DLV_REFUSED, 0, "%s", transfer->refused);
        else
            set_result(result, DLV_TEMPORARY, 0, "connect: %s", what);
        return;
    default:
        set_result(result, DLV_TEMPORARY, 0, "%s", what);
        return;
    }
}

static bool curl_ready;

#define SETOPT(curl, option, value)                                                                \
    do {                                                                                           \
        if (curl_easy_setopt(curl, option, value) != CURLE_OK)                                     \
            msg_fatal("libcurl: cannot set " #option);                                             \
    } while (0)

void dlv_https_post(const struct dlv_https_settings *settings, const char *url, const void *body,
                    size_t len, struct dlv_result *result)
{
    struct dlv_https_target target;
    struct sockaddr_storage addresses[ADDRESSES_MAX];
    size_t n_addresses = 0;
    struct transfer transfer = {
        .settings = settings,
        .trust = {.ca_file = settings->ca_file, .parameter = "ca_file"},
    };
    struct curl_slist *headers = NULL, *pins = NULL;
    char detail[CURL_ERROR_SIZE] = "";
    char *error;
    int timeout =
        settings->timeout_seconds > 0 ? settings->timeout_seconds : DEFAULT_TIMEOUT_SECONDS;

    memset(result, 0, sizeof(*result));
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            msg_fatal("curl_global_init failed");
        curl_ready = true;
    }
    if (dlv_https_target_parse(url, &target, &error) < 0) {
        set_result(result, DLV_REFUSED, 0, "%s", error);
        free(error);
        return;
    }
    if (resolve_and_check(settings, &target, addresses, &n_addresses, result) < 0) {
        dlv_https_target_free(&target);
        return;
    }
    transfer.host = target.host;
    transfer.checked = addresses;
    transfer.n_checked = n_addresses;
    buf_init(&transfer.response);

    CURL *curl = curl_easy_init();
    if (curl == NULL)
        msg_fatal("curl_easy_init failed");
    if (!target.literal) {
        /* curl would otherwise ask DNS again, and might get another answer. */
        char *pin = pin_entry(target.host, target.port, addresses, n_addresses);
        pins = curl_slist_append(pins, pin);
        free(pin);
        size_t host_len = strlen(target.host);
        if (target.host[host_len - 1] == '.') {
            char *bare = xstrndup(target.host, host_len - 1);
            pin = pin_entry(bare, target.port, addresses, n_addresses);
            pins = curl_slist_append(pins, pin);
            free(pin);
            free(bare);
        }
        if (pins == NULL)
            msg_fatal("curl_slist_append: out of memory");
        SETOPT(curl, CURLOPT_RESOLVE, pins);
    }
    headers = curl_slist_append(headers, "Content-Type: " CONTENT_TYPE);
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    if (headers == NULL)
        msg_fatal("curl_slist_append: out of memory");

    SETOPT(curl, CURLOPT_URL, target.url);
    SETOPT(curl, CURLOPT_PROTOCOLS_STR, "https");
    SETOPT(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SETOPT(curl, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(curl, CURLOPT_PROXY, ""); /* no proxy from the environment: it would bypass the checks */
    SETOPT(curl, CURLOPT_NOSIGNAL, 1L);
    SETOPT(curl, CURLOPT_CONNECTTIMEOUT, (long)timeout);
    SETOPT(curl, CURLOPT_TIMEOUT, (long)timeout);
    SETOPT(curl, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
    SETOPT(curl, CURLOPT_HTTPHEADER, headers);
    SETOPT(curl, CURLOPT_POST, 1L);
    SETOPT(curl, CURLOPT_POSTFIELDS, body);
    SETOPT(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SETOPT(curl, CURLOPT_WRITEFUNCTION, keep_response);
    SETOPT(curl, CURLOPT_WRITEDATA, &transfer);
    SETOPT(curl, CURLOPT_HEADERFUNCTION, count_headers);
    SETOPT(curl, CURLOPT_HEADERDATA, &transfer);
    SETOPT(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SETOPT(curl, CURLOPT_OPENSOCKETDATA, &transfer);
    SETOPT(curl, CURLOPT_ERRORBUFFER, detail);
    if (tls_trust_setup(curl, &transfer.trust, &error) < 0) {
        set_result(result, DLV_TEMPORARY, 0, "TLS: %s", error);
        free(error);
        goto done;
    }

    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    /* A response cut short still has its status line: that decides. */
    if ((code == CURLE_OK || (code == CURLE_WRITE_ERROR && transfer.cut)) &&
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status > 0)
        status_result(curl, status, &transfer, result);
    else if (code == CURLE_WRITE_ERROR && transfer.cut)
        set_result(result, DLV_TEMPORARY, 0,
                   "response without a status over %d bytes of headers: not read further",
                   HEADERS_READ_MAX);
    else
        transport_result(code, detail, &transfer, result);
done:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    curl_slist_free_all(pins);
    buf_free(&transfer.response);
    dlv_https_target_free(&target);
}
