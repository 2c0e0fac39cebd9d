/*
 * dkim.c - the DKIM signature RFC 8460 §3 requires on report mail: relaxed/
 * relaxed canonicalization (RFC 6376 §3.4) done here, rsa-sha256 and
 * ed25519-sha256 (RFC 8463) signatures and base64 done by OpenSSL.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "delivery.h"
#include "util.h"

#define KEY_FILE_MAX 65536
#define RSA_BITS_MIN 1024
#define RSA_BITS_WARN 2048
#define SHA256_LEN 32
#define LINE_SOFT_MAX 78
#define NAME_MAX_LEN 253

/* The header fields signed, in h= order, when present (RFC 8460 §5.3 wants the TLS-Report-*). */
static const char *const signed_headers[] = {
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "TLS-Report-Domain",
    "TLS-Report-Submitter",
    "TLS-Required",
    "Auto-Submitted",
};

struct dlv_dkim_key {
    EVP_PKEY *pkey;
    bool ed25519;
};

/* The first OpenSSL error as text (and the queue emptied), for messages. */
static const char *openssl_error(char *text, size_t size)
{
    unsigned long code = ERR_get_error();

    if (code == 0)
        snprintf(text, size, "unknown OpenSSL error");
    else
        ERR_error_string_n(code, text, size);
    ERR_clear_error();
    return text;
}

static int refuse_passphrase(char *buf, int size, int rwflag, void *context)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(bool *)context = true;
    return -1;
}

/* Reads the whole key file, insisting on a private regular file. */
static int read_key_file(const char *path, struct buf *data, char **error_r)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0) {
        *error_r = xasprintf("DKIM key %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        *error_r = xasprintf("DKIM key %s: fstat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *error_r = xasprintf("DKIM key %s is not a regular file", path);
        close(fd);
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        *error_r = xasprintf("DKIM key %s is open to group or others (mode %04o): "
                             "chmod 600 %s (and make the daemon's user its owner)",
                             path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    if (st.st_size >= KEY_FILE_MAX) {
        *error_r = xasprintf("DKIM key %s is larger than %d bytes", path, KEY_FILE_MAX);
        close(fd);
        return -1;
    }
    buf_reserve(data, KEY_FILE_MAX);
    for (;;) {
        ssize_t n = read(fd, data->data + data->len, KEY_FILE_MAX - data->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error_r = xasprintf("DKIM key %s: read: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        data->len += (size_t)n;
        if (data->len == KEY_FILE_MAX) {
            *error_r = xasprintf("DKIM key %s is larger than %d bytes", path, KEY_FILE_MAX);
            close(fd);
            return -1;
        }
    }
    data->data[data->len] = '\0';
    close(fd);
    return 0;
}

struct dlv_dkim_key *dlv_dkim_key_load(const char *path, char **error_r)
{
    struct buf data = {0};
    char text[256];
    bool asked_passphrase = false;
    EVP_PKEY *pkey = NULL;

    if (read_key_file(path, &data, error_r) < 0) {
        OPENSSL_cleanse(data.data, data.cap);
        buf_free(&data);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(data.data, (int)data.len);
    if (bio != NULL) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, &asked_passphrase);
        BIO_free(bio);
    }
    OPENSSL_cleanse(data.data, data.cap);
    buf_free(&data);
    if (pkey == NULL) {
        if (asked_passphrase) {
            ERR_clear_error();
            *error_r = xasprintf("DKIM key %s is encrypted: store it without a passphrase", path);
        } else {
            *error_r = xasprintf("DKIM key %s: no PEM private key: %s", path,
                                 openssl_error(text, sizeof(text)));
        }
        return NULL;
    }
    ERR_clear_error(); /* decoders tried in vain leave errors even on success */

    struct dlv_dkim_key *key = xcalloc(1, sizeof(*key));
    key->pkey = pkey;
    switch (EVP_PKEY_base_id(pkey)) {
    case EVP_PKEY_ED25519:
        key->ed25519 = true;
        break;
    case EVP_PKEY_RSA: {
        int bits = EVP_PKEY_bits(pkey);
        if (bits < RSA_BITS_MIN) {
            *error_r = xasprintf("DKIM key %s: RSA key of %d bits; at least %d are needed "
                                 "(RFC 8301), 2048 recommended",
                                 path, bits, RSA_BITS_MIN);
            dlv_dkim_key_free(key);
            return NULL;
        }
        if (bits < RSA_BITS_WARN)
            msg_warn("DKIM key %s: RSA key of only %d bits; use 2048 or more (or Ed25519)", path,
                     bits);
        break;
    }
    default:
        *error_r = xasprintf("DKIM key %s: a %s key; DKIM signs with RSA or Ed25519 keys only",
                             path, OBJ_nid2sn(EVP_PKEY_base_id(pkey)));
        dlv_dkim_key_free(key);
        return NULL;
    }
    return key;
}

void dlv_dkim_key_free(struct dlv_dkim_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

const char *dlv_dkim_algorithm(const struct dlv_dkim_key *key)
{
    return key->ed25519 ? "ed25519-sha256" : "rsa-sha256";
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* One header field as it stands in the message, folds included, without the final CRLF. */
struct field {
    const char *start;
    size_t len;
    size_t name_len; /* up to the colon, trailing WSP excluded */
};

/*
 * Splits the header block into fields and finds where the body starts.
 * Every line must end in CRLF: a bare CR or LF would be rewritten on the
 * way and break the signature, so the message is refused instead.
 */
static int parse_message(const char *message, size_t len, struct field **fields_r,
                         size_t *n_fields_r, size_t *body_r, char **error_r)
{
    struct field *fields = NULL;
    size_t n_fields = 0, pos = 0;

    for (size_t i = 0; i < len; i++) {
        if ((message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) ||
            (message[i] == '\r' && (i + 1 == len || message[i + 1] != '\n'))) {
            *error_r = xasprintf("DKIM: the message has a bare CR or LF at byte %zu", i);
            return -1;
        }
    }
    for (;;) {
        const char *eol = memmem(message + pos, len - pos, "\r\n", 2);
        if (eol == NULL) {
            *error_r = xstrdup("DKIM: the message has no empty line after its header");
            free(fields);
            return -1;
        }
        size_t line_len = (size_t)(eol - (message + pos));
        if (line_len == 0) {
            pos += 2;
            break;
        }
        if (is_wsp(message[pos])) {
            if (n_fields == 0) {
                *error_r = xstrdup("DKIM: the message starts with a continuation line");
                free(fields);
                return -1;
            }
            fields[n_fields - 1].len = (size_t)(eol - fields[n_fields - 1].start);
        } else {
            const char *colon = memchr(message + pos, ':', line_len);
            if (colon == NULL) {
                *error_r = xasprintf("DKIM: header line without a colon: %.*s",
                                     (int)(line_len > 60 ? 60 : line_len), message + pos);
                free(fields);
                return -1;
            }
            fields = xreallocarray(fields, n_fields + 1, sizeof(*fields));
            struct field *f = &fields[n_fields++];
            f->start = message + pos;
            f->len = line_len;
            f->name_len = (size_t)(colon - f->start);
            while (f->name_len > 0 && is_wsp(f->start[f->name_len - 1]))
                f->name_len--;
        }
        pos += line_len + 2;
    }
    *fields_r = fields;
    *n_fields_r = n_fields;
    *body_r = pos;
    return 0;
}

/*
 * RFC 6376 §3.4.2 relaxed header canonicalization: name in lowercase, the
 * value unfolded, WSP runs made one SP, WSP around the colon and at the end
 * deleted. The CRLF is added by the caller where it belongs.
 */
static void canonicalize_header(struct buf *out, const char *field, size_t len, size_t name_len)
{
    const char *colon = memchr(field, ':', len);
    bool space = false, started = false;

    for (size_t i = 0; i < name_len; i++) {
        char c = field[i];
        buf_putc(out, c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    buf_putc(out, ':');
    for (const char *p = colon + 1; p < field + len; p++) {
        if (*p == '\r' || *p == '\n')
            continue; /* always a CRLF followed by WSP here: unfolding */
        if (is_wsp(*p)) {
            space = true;
            continue;
        }
        if (space && started)
            buf_putc(out, ' ');
        space = false;
        started = true;
        buf_putc(out, *p);
    }
}

/*
 * RFC 6376 §3.4.4 relaxed body canonicalization, hashed as it goes: WSP
 * runs made one SP, WSP at line ends deleted, empty lines at the end
 * ignored, a CRLF added to a last line without one; an empty body hashes
 * as nothing.
 */
static int hash_body(const char *body, size_t len, unsigned char digest[SHA256_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    struct buf line = {0};
    size_t empty_lines = 0;
    const char *p = body, *end = body + len;
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

    while (ok && p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *stop = eol ? eol : end;
        bool space = false;

        buf_reset(&line);
        for (; p < stop; p++) {
            if (is_wsp(*p)) {
                space = true;
                continue;
            }
            if (space)
                buf_putc(&line, ' ');
            space = false;
            buf_putc(&line, *p);
        }
        p = eol ? eol + 2 : end;
        if (line.len == 0) {
            empty_lines++;
            continue;
        }
        for (; ok && empty_lines > 0; empty_lines--)
            ok = EVP_DigestUpdate(ctx, "\r\n", 2);
        buf_puts(&line, "\r\n");
        ok = ok && EVP_DigestUpdate(ctx, line.data, line.len);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, digest, NULL);
    EVP_MD_CTX_free(ctx);
    buf_free(&line);
    return ok ? 0 : -1;
}

static bool is_dns_name(const char *s)
{
    size_t len = strlen(s);

    return len > 0 && len <= NAME_MAX_LEN && s[0] != '.' && s[len - 1] != '.' &&
           strstr(s, "..") == NULL &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == len;
}

static char *base64(const unsigned char *data, size_t len)
{
    char *text = xmalloc(4 * ((len + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)text, data, (int)len);
    return text;
}

/* Appends a tag-spec, folding before it when the line would pass 78 characters. */
static void put_tag(struct buf *out, size_t *column, const char *text, bool space)
{
    size_t len = strlen(text);

    if (*column + (space ? 1 : 0) + len > LINE_SOFT_MAX) {
        buf_puts(out, "\r\n ");
        *column = 1;
    } else if (space) {
        buf_putc(out, ' ');
        (*column)++;
    }
    buf_puts(out, text);
    *column += len;
}

/* Signs data (the canonical headers): RSA over it, Ed25519 over its SHA-256 (RFC 8463 §3). */
static int sign_data(const struct dlv_dkim_key *key, const struct buf *data, char **signature_r,
                     char **error_r)
{
    unsigned char hash[SHA256_LEN];
    const unsigned char *input = (const unsigned char *)data->data;
    size_t input_len = data->len, sig_len = 0;
    unsigned char *sig = NULL;
    char text[256];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL;

    if (ok && key->ed25519) {
        ok = EVP_Digest(data->data, data->len, hash, NULL, EVP_sha256(), NULL);
        input = hash;
        input_len = sizeof(hash);
    }
    ok = ok &&
         EVP_DigestSignInit(ctx, NULL, key->ed25519 ? NULL : EVP_sha256(), NULL, key->pkey) == 1;
    ok = ok && EVP_DigestSign(ctx, NULL, &sig_len, input, input_len) == 1;
    if (ok) {
        sig = xmalloc(sig_len);
        ok = EVP_DigestSign(ctx, sig, &sig_len, input, input_len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        *error_r = xasprintf("DKIM: signing failed: %s", openssl_error(text, sizeof(text)));
        free(sig);
        return -1;
    }
    *signature_r = base64(sig, sig_len);
    free(sig);
    return 0;
}

int dlv_dkim_sign(const struct dlv_dkim_key *key, const char *domain, const char *selector,
                  const char *message, size_t len, time_t now, struct buf *out, char **error_r)
{
    unsigned char body_hash[SHA256_LEN];
    struct field *fields = NULL;
    size_t n_fields = 0, body = 0, column = 0;
    struct buf header = {0}, data = {0}, tag = {0};
    char *signature = NULL, *bh = NULL;
    int status = -1;

    buf_reset(out);
    if (!is_dns_name(domain)) {
        *error_r = xasprintf("DKIM: the signing domain \"%s\" is not a domain name", domain);
        return -1;
    }
    if (!is_dns_name(selector)) {
        *error_r = xasprintf("DKIM: the selector \"%s\" is not a DNS name", selector);
        return -1;
    }
    if (parse_message(message, len, &fields, &n_fields, &body, error_r) < 0)
        return -1;
    if (hash_body(message + body, len - body, body_hash) < 0) {
        *error_r = xstrdup("DKIM: SHA-256 of the body failed");
        goto done;
    }
    bh = base64(body_hash, sizeof(body_hash));

    /* The signed fields, canonical, in h= order; of repeated fields the last (RFC 6376 §5.4.2). */
    buf_puts(&tag, "h=");
    for (size_t h = 0; h < UTIL_ARRAY_LEN(signed_headers); h++) {
        const char *name = signed_headers[h];
        size_t name_len = strlen(name);
        for (size_t i = n_fields; i-- > 0;) {
            if (fields[i].name_len != name_len || strncasecmp(fields[i].start, name, name_len))
                continue;
            canonicalize_header(&data, fields[i].start, fields[i].len, fields[i].name_len);
            buf_puts(&data, "\r\n");
            buf_printf(&tag, "%s%s", tag.len > 2 ? ":" : "", name);
            break;
        }
    }
    if (tag.len == 2) {
        *error_r = xstrdup("DKIM: the message has none of the header fields to sign");
        goto done;
    }

    /* The DKIM-Signature field, folded, b= empty for now (RFC 6376 §3.7). */
    buf_printf(&header, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed;", dlv_dkim_algorithm(key));
    column = header.len;
    char *value = xasprintf("d=%s;", domain);
    put_tag(&header, &column, value, true);
    free(value);
    value = xasprintf("s=%s;", selector);
    put_tag(&header, &column, value, true);
    free(value);
    value = xasprintf("t=%lld;", (long long)now);
    put_tag(&header, &column, value, true);
    free(value);
    buf_putc(&tag, ';');
    /* h= folds after its colons (RFC 6376 §3.5 allows FWS around them). */
    bool first = true;
    for (char *piece = tag.data; *piece != '\0';) {
        size_t piece_len = strcspn(piece, ":");
        if (piece[piece_len] == ':')
            piece_len++;
        char saved = piece[piece_len];
        piece[piece_len] = '\0';
        put_tag(&header, &column, piece, first);
        piece[piece_len] = saved;
        piece += piece_len;
        first = false;
    }
    value = xasprintf("bh=%s;", bh);
    put_tag(&header, &column, value, true);
    free(value);
    put_tag(&header, &column, "b=", true);

    canonicalize_header(&data, header.data, header.len, strlen("DKIM-Signature"));
    if (sign_data(key, &data, &signature, error_r) < 0)
        goto done;

    /* The signature itself, folded to the line length. */
    for (const char *s = signature; *s != '\0';) {
        size_t room = column < LINE_SOFT_MAX ? LINE_SOFT_MAX - column : 0;
        size_t n = strlen(s);
        if (room == 0) {
            buf_puts(&header, "\r\n ");
            column = 1;
            continue;
        }
        if (n > room)
            n = room;
        buf_append(&header, s, n);
        column += n;
        s += n;
    }
    buf_reserve(out, header.len + 2 + len);
    buf_append(out, header.data, header.len);
    buf_puts(out, "\r\n");
    buf_append(out, message, len);
    status = 0;
done:
    free(fields);
    free(signature);
    free(bh);
    buf_free(&header);
    buf_free(&data);
    buf_free(&tag);
    return status;
}
