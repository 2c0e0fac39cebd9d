/*
 * tlstrust.h - how every HTTPS transfer of tlsrptd trusts its peer: libcurl
 * set to verify the certificate and the host name with TLS 1.2 or later,
 * and an extra CA file added to (never replacing) the system store.
 */
#ifndef TLSRPT_TLSTRUST_H
#define TLSRPT_TLSTRUST_H

#include <curl/curl.h>

struct tls_trust {
    const char *ca_file;   /* added to the system store; NULL or "" for none */
    const char *parameter; /* what messages call it: "sts_ca_file", "ca_file" */
    char error[512];       /* set when ca_file could not be loaded during the transfer */
};

/*
 * Sets curl up to verify its peer as above. trust must live until the
 * transfer ends; when curl_easy_perform() fails with CURLE_SSL_CACERT_BADFILE,
 * trust->error says which file could not be loaded and why. Fails (-1,
 * *error_r, caller frees) only when ca_file is set and libcurl is not built
 * with OpenSSL, which the extra file needs.
 */
int tls_trust_setup(CURL *curl, struct tls_trust *trust, char **error_r);

#endif
