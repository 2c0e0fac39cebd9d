/*
 * verp.c - the VERP tag of report mail: UNIQUE_ID "-" MAC, the MAC being
 * HMAC-SHA256 with a key only this host has, so a bounce can name a report's
 * destination and nobody else can forge one that marks it failed.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dsn.h"
#include "util.h"

#define KEY_HEX (2 * DSN_VERP_KEY_SIZE)
#define ID_LEN 16
#define MAC_LEN 16

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int key_read(const char *path, unsigned char key[DSN_VERP_KEY_SIZE], char **error_r)
{
    struct buf text;
    char *error;

    buf_init(&text);
    if (file_read_all(path, 4096, &text, &error) < 0) {
        *error_r = error;
        buf_free(&text);
        return -1;
    }
    const char *hex = buf_cstr(&text);
    size_t len = strcspn(hex, "\r\n");
    bool ok = len == KEY_HEX;
    for (size_t i = 0; ok && i < DSN_VERP_KEY_SIZE; i++) {
        int hi = hex_value((unsigned char)hex[2 * i]),
            lo = hex_value((unsigned char)hex[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        key[i] = (unsigned char)(hi << 4 | lo);
    }
    buf_free(&text);
    if (!ok) {
        *error_r = xasprintf("%s: not a VERP key (%d hex digits)", path, KEY_HEX);
        return -1;
    }
    return 0;
}

int dsn_verp_key_load(const char *path, bool create, unsigned char key[DSN_VERP_KEY_SIZE],
                      char **error_r)
{
    /* A new random key, linked into place: when another process made one first, its key wins. */
    if (create && file_random_hex_once(path, DSN_VERP_KEY_SIZE, 0600, error_r) < 0)
        return -1;
    return key_read(path, key, error_r);
}

void dsn_verp_tag(const unsigned char key[DSN_VERP_KEY_SIZE], const char *unique_id,
                  const char *uri, char out[DSN_VERP_TAG_MAX])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    struct buf data;

    buf_init(&data);
    buf_puts(&data, unique_id);
    buf_putc(&data, '\0');
    buf_puts(&data, uri);
    if (HMAC(EVP_sha256(), key, DSN_VERP_KEY_SIZE, (const unsigned char *)data.data, data.len, mac,
             &mac_len) == NULL)
        msg_panic("HMAC-SHA256 failed");
    buf_free(&data);
    int n = snprintf(out, DSN_VERP_TAG_MAX, "%.*s-", ID_LEN, unique_id);
    for (int i = 0; i < MAC_LEN / 2; i++)
        snprintf(out + n + 2 * i, 3, "%02x", mac[i]);
}

int dsn_verp_address(const char *sender, const char *delimiter, const char *tag, char **address_r,
                     char **error_r)
{
    const char *at = strrchr(sender, '@');

    if (at == NULL) {
        *error_r = xasprintf("envelope sender %s has no domain: no VERP address", sender);
        return -1;
    }
    size_t local = (size_t)(at - sender) + strlen(delimiter) + strlen(tag);
    if (local > 64) {
        *error_r = xasprintf("envelope sender %s: with report_verp_delimiter and the %zu-byte tag "
                             "its local part is %zu bytes, more than 64 (RFC 5321)",
                             sender, strlen(tag), local);
        return -1;
    }
    *address_r = xasprintf("%.*s%s%s%s", (int)(at - sender), sender, delimiter, tag, at);
    return 0;
}

int dsn_verp_parse(const char *address, const char *sender, const char *delimiter,
                   char tag_r[DSN_VERP_TAG_MAX], char **unique_id_r, char **error_r)
{
    const char *sender_at = strrchr(sender, '@'), *at = strrchr(address, '@');
    size_t local = sender_at ? (size_t)(sender_at - sender) : strlen(sender);
    size_t dlen = strlen(delimiter);

    if (address[0] == '<')
        address++;
    if (at == NULL || dlen == 0 || strncasecmp(address, sender, local) != 0 ||
        strncmp(address + local, delimiter, dlen) != 0) {
        *error_r = xasprintf("%.256s is not a VERP address of %s", address, sender);
        return -1;
    }
    const char *tag = address + local + dlen;
    size_t len = (size_t)(at - tag);
    bool ok = len == DSN_VERP_TAG_LEN && tag[ID_LEN] == '-';
    for (size_t i = 0; ok && i < len; i++)
        ok = i == ID_LEN || isxdigit((unsigned char)tag[i]);
    if (!ok) {
        *error_r = xasprintf("%.256s: the VERP tag is not ours (ID-MAC, %d characters)", address,
                             DSN_VERP_TAG_LEN);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        tag_r[i] = (char)tolower((unsigned char)tag[i]);
    tag_r[len] = '\0';
    *unique_id_r = xstrndup(tag_r, ID_LEN);
    return 0;
}
