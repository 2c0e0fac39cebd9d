/*
 * trust.c - the certificate checks shared by the MTA-STS policy fetch and
 * the HTTPS report delivery: peer and host verified, TLS 1.2 or later, and
 * an extra CA file loaded into the store curl filled from the system bundle.
 */
#include "config.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tlstrust.h"
#include "util.h"

/*
 * Adds ca_file to the SSL_CTX's store. curl loads its CA bundle (the system
 * store) into the same store, so ca_file adds trust and replaces none;
 * CURLOPT_CAINFO (and CAINFO_BLOB) would replace the bundle, and real hosts
 * must still verify against it.
 */
static CURLcode add_ca_file(CURL *curl, void *ssl_ctx, void *context)
{
    struct tls_trust *trust = context;
    X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);

    (void)curl;
    ERR_clear_error();
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    int loaded = X509_STORE_load_file(store, trust->ca_file);
#else
    int loaded = X509_STORE_load_locations(store, trust->ca_file, NULL);
#endif
    if (loaded == 1)
        return CURLE_OK;
    char reason[200];
    ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
    ERR_clear_error();
    snprintf(trust->error, sizeof(trust->error), "cannot load %s %s: %s", trust->parameter,
             trust->ca_file, reason);
    return CURLE_SSL_CACERT_BADFILE;
}

static void set(CURL *curl, CURLoption option, long value, const char *name)
{
    if (curl_easy_setopt(curl, option, value) != CURLE_OK)
        msg_fatal("libcurl: cannot set %s", name);
}

int tls_trust_setup(CURL *curl, struct tls_trust *trust, char **error_r)
{
    trust->error[0] = '\0';
    set(curl, CURLOPT_SSL_VERIFYPEER, 1L, "CURLOPT_SSL_VERIFYPEER");
    set(curl, CURLOPT_SSL_VERIFYHOST, 2L, "CURLOPT_SSL_VERIFYHOST");
    set(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2, "CURLOPT_SSLVERSION");
    if (trust->ca_file == NULL || trust->ca_file[0] == '\0')
        return 0;
#if LIBCURL_VERSION_NUM >= 0x075700
    /* A cached store could be put in place after the callback has added to it. */
    set(curl, CURLOPT_CA_CACHE_TIMEOUT, 0L, "CURLOPT_CA_CACHE_TIMEOUT");
#endif
    if (curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, add_ca_file) != CURLE_OK) {
        *error_r = xasprintf("%s needs libcurl built with OpenSSL (it is %s)", trust->parameter,
                             curl_version_info(CURLVERSION_NOW)->ssl_version);
        return -1;
    }
    if (curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, trust) != CURLE_OK)
        msg_fatal("libcurl: cannot set CURLOPT_SSL_CTX_DATA");
    return 0;
}
