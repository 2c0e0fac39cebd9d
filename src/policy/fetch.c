/*
 * fetch.c - the HTTPS GET of an MTA-STS policy (RFC 8461 §3.3) with
 * libcurl: pinned addresses from our own resolver, WebPKI verification
 * (system store plus sts_ca_file), no redirects, 200 only, text/plain,
 * 64 KB cap, timeouts; failures sorted into fetch-error and webpki-invalid.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "policy.h"
#include "policy_impl.h"
#include "tlstrust.h"
#include "util.h"

#define WELL_KNOWN "/.well-known/mta-sts.txt"

struct transfer {
    struct tls_trust trust;
    struct buf *body;
    bool too_big;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        msg_fatal("curl_global_init failed");
}

void pol_fetch_init(void)
{
    pthread_once(&curl_once, curl_start);
}

static const char *const failure_names[POL_FAIL_COUNT] = {
    [POL_FAIL_NONE] = "none",
    [POL_FAIL_FETCH] = "sts-policy-fetch-error",
    [POL_FAIL_INVALID] = "sts-policy-invalid",
    [POL_FAIL_WEBPKI] = "sts-webpki-invalid",
};

const char *pol_failure_name(enum pol_failure failure)
{
    return failure < POL_FAIL_COUNT ? failure_names[failure] : "?";
}

int pol_failure_from_name(const char *name, enum pol_failure *failure)
{
    for (int i = 0; i < POL_FAIL_COUNT; i++)
        if (strcmp(name, failure_names[i]) == 0) {
            *failure = (enum pol_failure)i;
            return 0;
        }
    return -1;
}

static size_t keep_body(char *data, size_t size, size_t count, void *context)
{
    struct transfer *transfer = context;
    size_t len = size * count;

    if (transfer->body->len + len > POL_BODY_MAX) {
        transfer->too_big = true;
        return 0; /* curl aborts the transfer */
    }
    buf_append(transfer->body, data, len);
    return len;
}

/* "text/plain" with optional parameters (charset ...), case-insensitive. */
static bool media_type_ok(const char *type)
{
    if (type == NULL || strncasecmp(type, "text/plain", 10) != 0)
        return false;
    const char *rest = type + 10;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

static void address_text(const struct sockaddr_storage *address, char *out, size_t size)
{
    const void *raw = address->ss_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)address)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)address)->sin_addr;
    if (inet_ntop(address->ss_family, raw, out, (socklen_t)size) == NULL)
        snprintf(out, size, "?");
}

#define SETOPT(curl, option, value)                                                                \
    do {                                                                                           \
        if (curl_easy_setopt(curl, option, value) != CURLE_OK)                                     \
            msg_fatal("libcurl: cannot set " #option);                                             \
    } while (0)

static enum pol_failure transport_failure(CURLcode code, const char *detail,
                                          const struct transfer *transfer, char **error_r)
{
    const char *text = detail[0] ? detail : curl_easy_strerror(code);

    if (transfer->too_big) {
        *error_r = xasprintf("policy larger than %d bytes", POL_BODY_MAX);
        return POL_FAIL_FETCH;
    }
    if (transfer->trust.error[0]) {
        *error_r = xstrdup(transfer->trust.error);
        return POL_FAIL_FETCH;
    }
    switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
    case CURLE_SSL_CACERT:
#endif
        *error_r = xasprintf("certificate not valid for the policy host: %s", text);
        return POL_FAIL_WEBPKI;
    case CURLE_FILESIZE_EXCEEDED:
        *error_r = xasprintf("policy larger than %d bytes", POL_BODY_MAX);
        return POL_FAIL_FETCH;
    default:
        *error_r = xstrdup(text);
        return POL_FAIL_FETCH;
    }
}

enum pol_failure pol_fetch(const struct pol_fetch_settings *settings, const char *domain,
                           const struct sockaddr_storage *addresses, size_t n_addresses,
                           struct buf *body, char **error_r)
{
    struct transfer transfer = {
        .trust = {.ca_file = settings->ca_file, .parameter = "sts_ca_file"},
        .body = body,
    };
    char detail[CURL_ERROR_SIZE] = "";
    struct curl_slist *pins = NULL;
    struct buf pin = {0}, url = {0};
    enum pol_failure failure = POL_FAIL_NONE;

    pol_fetch_init();
    buf_reset(body);
    if (n_addresses == 0) {
        *error_r = xasprintf("mta-sts.%s has no address", domain);
        return POL_FAIL_FETCH;
    }
    buf_printf(&pin, "mta-sts.%s:%d:", domain, settings->port);
    for (size_t i = 0; i < n_addresses; i++) {
        char text[64];
        address_text(&addresses[i], text, sizeof(text));
        buf_printf(&pin, addresses[i].ss_family == AF_INET6 ? "%s[%s]" : "%s%s", i ? "," : "",
                   text);
    }
    pins = curl_slist_append(NULL, buf_cstr(&pin));
    if (pins == NULL)
        msg_fatal("curl_slist_append: out of memory");
    if (settings->port == 443)
        buf_printf(&url, "https://mta-sts.%s" WELL_KNOWN, domain);
    else
        buf_printf(&url, "https://mta-sts.%s:%d" WELL_KNOWN, domain, settings->port);

    CURL *curl = curl_easy_init();
    if (curl == NULL)
        msg_fatal("curl_easy_init failed");
    SETOPT(curl, CURLOPT_URL, buf_cstr(&url));
    SETOPT(curl, CURLOPT_RESOLVE, pins);
    SETOPT(curl, CURLOPT_PROTOCOLS_STR, "https");
    SETOPT(curl, CURLOPT_FOLLOWLOCATION, 0L); /* §3.3: no redirects */
    SETOPT(curl, CURLOPT_PROXY, "");
    SETOPT(curl, CURLOPT_NOSIGNAL, 1L);
    SETOPT(curl, CURLOPT_CONNECTTIMEOUT, (long)settings->timeout_seconds);
    SETOPT(curl, CURLOPT_TIMEOUT, (long)settings->timeout_seconds);
    SETOPT(curl, CURLOPT_MAXFILESIZE, (long)POL_BODY_MAX);
    SETOPT(curl, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
    SETOPT(curl, CURLOPT_WRITEFUNCTION, keep_body);
    SETOPT(curl, CURLOPT_WRITEDATA, &transfer);
    SETOPT(curl, CURLOPT_ERRORBUFFER, detail);
    if (tls_trust_setup(curl, &transfer.trust, error_r) < 0) {
        failure = POL_FAIL_FETCH;
        goto done;
    }
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    char *type = NULL;
    if (code != CURLE_OK) {
        failure = transport_failure(code, detail, &transfer, error_r);
    } else if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
               status != 200) {
        *error_r = xasprintf("HTTP status %ld (only 200 is a policy; redirects are not "
                             "followed)",
                             status);
        failure = POL_FAIL_FETCH;
    } else if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) != CURLE_OK ||
               !media_type_ok(type)) {
        *error_r = xasprintf("media type %s, not text/plain", type ? type : "(none)");
        failure = POL_FAIL_FETCH;
    }
done:
    curl_easy_cleanup(curl);
    curl_slist_free_all(pins);
    buf_free(&pin);
    buf_free(&url);
    if (failure != POL_FAIL_NONE)
        buf_reset(body);
    return failure;
}
