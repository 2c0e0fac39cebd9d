/*
 * check_message.c - Check suite of the report message and the DKIM signer:
 * exact headers, the MIME structure parsed back, header injection refused,
 * and signatures verified by a real peer (dkimpy) with keys made by openssl.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "delivery.h"
#include "report.h"
#include "util.h"

#define SUBMITTER "mail.sender.example.com"
#define FILE_NAME SUBMITTER "!example.net!1726358400!1726444799!001.json.gz"
#define FIXED_DATE ((time_t)1726485433) /* Mon, 16 Sep 2024 11:17:13 +0000 */
#define SIGNED_HEADERS                                                                             \
    "From:To:Subject:Date:Message-ID:MIME-Version:Content-Type:TLS-Report-Domain:"                 \
    "TLS-Report-Submitter:TLS-Required:Auto-Submitted"

static char key_dir[] = "/tmp/check_message.XXXXXX";
static bool have_dkimpy;

static const struct dlv_failure_count top_failures[] = {
    {"certificate-expired", 2},
    {"starttls-not-supported", 1},
};
static const unsigned char fake_gzip[] = {0x1f, 0x8b, 0x08, 0x00, 'r', 'e', 'p', 'o', 'r', 't'};

static struct dlv_message sample(void)
{
    struct dlv_message m = {
        .from = "tlsrpt@" SUBMITTER,
        .to = "mts-sts-tlsrpt@example.net",
        .submitter = SUBMITTER,
        .policy_domain = "example.net",
        .report_id = "2024-09-15T00:00:00Z_example.net",
        .unique_id = "001",
        .file_name = FILE_NAME,
        .organization_name = "Example Sender Inc.",
        .day = 19981, /* 2024-09-15 */
        .successes = 120,
        .failures = 3,
        .top_failures = top_failures,
        .n_top_failures = UTIL_ARRAY_LEN(top_failures),
        .gzip = fake_gzip,
        .gzip_len = sizeof(fake_gzip),
        .date = FIXED_DATE,
        .message_id = "fixed.1@" SUBMITTER,
    };
    return m;
}

/* Runs argv (no shell); the exit status, or -1. */
static int run(const char *const argv[], bool quiet)
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (quiet) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static char *key_path(const char *name)
{
    return path_join(key_dir, name);
}

static void make_key(const char *name, const char *const *options)
{
    char *path = key_path(name);
    const char *argv[16] = {"openssl", "genpkey", "-out", path};
    size_t n = 4;

    for (; *options; options++)
        argv[n++] = *options;
    argv[n] = NULL;
    if (run(argv, true) != 0)
        msg_fatal("openssl genpkey %s failed", name);
    chmod(path, 0600);
    free(path);
}

static void keys_setup(void)
{
    if (mkdtemp(key_dir) == NULL)
        msg_fatal("mkdtemp %s: %m", key_dir);
    make_key("rsa.pem",
             (const char *[]){"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", NULL});
    make_key("ed25519.pem", (const char *[]){"-algorithm", "ED25519", NULL});
    make_key("rsa1024.pem",
             (const char *[]){"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", NULL});
    make_key("rsa512.pem",
             (const char *[]){"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512", NULL});
    make_key("ec.pem",
             (const char *[]){"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", NULL});
    make_key("encrypted.pem",
             (const char *[]){"-algorithm", "ED25519", "-aes256", "-pass", "pass:secret", NULL});
    const char *probe[] = {"/usr/bin/python3", "-c", "import dkim", NULL};
    have_dkimpy = run(probe, true) == 0;
    if (!have_dkimpy)
        printf("NOTE: /usr/bin/python3 cannot import dkim (apt-get install python3-dkim): "
               "DKIM verification checks skipped\n");
}

static void keys_teardown(void)
{
    const char *argv[] = {"rm", "-rf", key_dir, NULL};
    run(argv, false);
}

static void write_file(const char *path, const void *data, size_t len)
{
    char *error = NULL;
    if (file_write_atomic(path, data, len, 0600, &error) < 0)
        ck_abort_msg("%s", error);
}

/* The value of a header field in a header block, unfolded (caller frees), or NULL. */
static char *header_value(const char *block, const char *name)
{
    size_t name_len = strlen(name);
    for (const char *line = block; *line && strncmp(line, "\r\n", 2) != 0;) {
        const char *end = strstr(line, "\r\n");
        while (end && (end[2] == ' ' || end[2] == '\t'))
            end = strstr(end + 2, "\r\n");
        ck_assert_ptr_nonnull(end);
        if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            struct buf value = {0};
            for (const char *p = line + name_len + 1; p < end; p++)
                if (*p != '\r' && *p != '\n')
                    buf_putc(&value, *p);
            char *text = xstrdup(buf_cstr(&value) + strspn(buf_cstr(&value), " \t"));
            buf_free(&value);
            return text;
        }
        line = end + 2;
    }
    return NULL;
}

/* Every line of the header block (up to the empty line) is at most max long. */
static void assert_header_lines(const char *message, size_t max)
{
    for (const char *line = message; strncmp(line, "\r\n", 2) != 0;) {
        const char *eol = strstr(line, "\r\n");
        ck_assert_uint_le((size_t)(eol - line), max);
        line = eol + 2;
    }
}

static void strip_whitespace(char *s)
{
    char *to = s;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t')
            *to++ = *s;
    *to = '\0';
}

START_TEST(test_outcome_names)
{
    ck_assert_str_eq(dlv_outcome_name(DLV_DELIVERED), "delivered");
    ck_assert_str_eq(dlv_outcome_name(DLV_TEMPORARY), "temporary");
    ck_assert_str_eq(dlv_outcome_name(DLV_PERMANENT), "permanent");
    ck_assert_str_eq(dlv_outcome_name(DLV_REFUSED), "refused");
}
END_TEST

START_TEST(test_headers_exact)
{
    struct dlv_message m = sample();
    struct buf out = {0}, expect = {0};
    char *error = NULL;

    ck_assert_int_eq(dlv_message_build(&m, &out, &error), 0);
    const char *b = strstr(out.data, "boundary=\"");
    ck_assert_ptr_nonnull(b);
    char boundary[64];
    ck_assert_int_eq(sscanf(b, "boundary=\"%63[^\"]\"", boundary), 1);
    ck_assert_uint_eq(strlen(boundary), 9 + 32);
    ck_assert_int_eq(strncmp(boundary, "=_tlsrpt_", 9), 0);
    ck_assert_uint_eq(strspn(boundary + 9, "0123456789abcdef"), 32);
    buf_printf(&expect,
               "From: tlsrpt@mail.sender.example.com\r\n"
               "To: mts-sts-tlsrpt@example.net\r\n"
               "Subject: Report Domain: example.net Submitter: mail.sender.example.com\r\n"
               " Report-ID: <001@mail.sender.example.com>\r\n"
               "Date: Mon, 16 Sep 2024 11:17:13 +0000\r\n"
               "Message-ID: <fixed.1@mail.sender.example.com>\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
               " boundary=\"%s\"\r\n"
               "TLS-Report-Domain: example.net\r\n"
               "TLS-Report-Submitter: mail.sender.example.com\r\n"
               "TLS-Required: No\r\n"
               "Auto-Submitted: auto-generated\r\n"
               "\r\n",
               boundary);
    ck_assert_int_eq(strncmp(out.data, expect.data, expect.len), 0);

    /* Without a message_id: made from unique_id, date and submitter. */
    m.message_id = NULL;
    ck_assert_int_eq(dlv_message_build(&m, &out, &error), 0);
    char *value = header_value(out.data, "Message-ID");
    ck_assert_str_eq(value, "<tlsrpt.001.1726485433@mail.sender.example.com>");
    free(value);

    /* A long Subject folds at its spaces: lines of at most 78, the same text unfolded. */
    m.policy_domain = "a-rather-long-policy-domain-name.subdomain.example.org";
    m.submitter = "reports.a-long-submitter-name.example.com";
    ck_assert_int_eq(dlv_message_build(&m, &out, &error), 0);
    assert_header_lines(out.data, 78);
    value = header_value(out.data, "Subject");
    ck_assert_str_eq(value, "Report Domain: a-rather-long-policy-domain-name.subdomain.example.org"
                            " Submitter: reports.a-long-submitter-name.example.com"
                            " Report-ID: <001@reports.a-long-submitter-name.example.com>");
    free(value);
    buf_free(&out);
    buf_free(&expect);
}
END_TEST

static size_t count(const char *haystack, size_t len, const char *needle)
{
    size_t n = 0;
    for (const char *p = haystack;
         (p = memmem(p, len - (size_t)(p - haystack), needle, strlen(needle))) != NULL; p++)
        n++;
    return n;
}

static const size_t attachment_sizes[] = {0, 2, 55, 56, 57, 58, 114, 1000, 65537};

/* The message parsed back: two parts, their types, the file name, the bytes exactly. */
START_TEST(test_mime_structure)
{
    struct dlv_message m = sample();
    struct buf out = {0}, gzip = {0}, json = {0};
    char *error = NULL;

    /* Real gzip of a JSON text of the given size (0: the fake bytes of sample()). */
    if (attachment_sizes[_i] > 0) {
        uint32_t x = 12345;
        buf_puts(&json, "{\"report-id\":\"");
        while (json.len < attachment_sizes[_i]) {
            x = x * 1103515245 + 12345;
            buf_putc(&json, 'a' + (int)((x >> 16) % 26));
        }
        buf_puts(&json, "\"}");
        ck_assert_int_eq(rpt_gzip(json.data, json.len, &gzip, &error), 0);
        m.gzip = gzip.data;
        m.gzip_len = gzip.len;
    }
    ck_assert_int_eq(dlv_message_build(&m, &out, &error), 0);

    /* CRLF everywhere, no line over 998. */
    for (size_t i = 0, start = 0; i < out.len; i++) {
        if (out.data[i] == '\n') {
            ck_assert(i > 0 && out.data[i - 1] == '\r');
            ck_assert_uint_le(i - 1 - start, 998);
            start = i + 1;
        }
    }
    ck_assert_int_eq(memcmp(out.data + out.len - 2, "\r\n", 2), 0);

    char *type = header_value(out.data, "Content-Type"), boundary[64], delimiter[80];
    ck_assert_int_eq(
        sscanf(type, "multipart/report; report-type=\"tlsrpt\"; boundary=\"%63[^\"]\"", boundary),
        1);
    free(type);
    /* The boundary appears in the header and in the three delimiter lines only. */
    ck_assert_uint_eq(count(out.data, out.len, boundary), 4);
    snprintf(delimiter, sizeof(delimiter), "\r\n--%s", boundary);
    char *body = strstr(out.data, "\r\n\r\n") + 2;
    char *part1 = strstr(body, delimiter);
    ck_assert_ptr_nonnull(part1);
    part1 += strlen(delimiter) + 2;
    char *part2 = strstr(part1, delimiter);
    ck_assert_ptr_nonnull(part2);
    *part2 = '\0';
    part2 += strlen(delimiter);
    ck_assert_int_eq(strncmp(part2, "\r\n", 2), 0);
    part2 += 2;
    char *close = strstr(part2, delimiter);
    ck_assert_ptr_nonnull(close);
    ck_assert_str_eq(close + strlen(delimiter), "--\r\n");
    *close = '\0';

    /* Part 1: the summary. */
    type = header_value(part1, "Content-Type");
    ck_assert_str_eq(type, "text/plain; charset=\"us-ascii\"");
    free(type);
    ck_assert_str_eq(strstr(part1, "\r\n\r\n") + 4,
                     "This is an aggregate SMTP TLS report (RFC 8460).\r\n\r\n"
                     "Policy domain:       example.net\r\n"
                     "Submitter:           " SUBMITTER "\r\n"
                     "Organization:        Example Sender Inc.\r\n"
                     "Day:                 2024-09-15 (00:00:00 to 23:59:59 UTC)\r\n"
                     "Report ID:           2024-09-15T00:00:00Z_example.net\r\n"
                     "Successful sessions: 120\r\n"
                     "Failed sessions:     3\r\n"
                     "Top failure types:\r\n"
                     "  certificate-expired: 2\r\n"
                     "  starttls-not-supported: 1\r\n\r\n"
                     "The report itself is the attachment (gzip-compressed JSON,\r\n"
                     "application/tlsrpt+gzip):\r\n" FILE_NAME "\r\n");

    /* Part 2: the report. */
    type = header_value(part2, "Content-Type");
    ck_assert_str_eq(type, "application/tlsrpt+gzip; name=\"" FILE_NAME "\"");
    free(type);
    type = header_value(part2, "Content-Disposition");
    ck_assert_str_eq(type, "attachment; filename=\"" FILE_NAME "\"");
    free(type);
    type = header_value(part2, "Content-Transfer-Encoding");
    ck_assert_str_eq(type, "base64");
    free(type);
    struct buf encoded = {0};
    char *line = strstr(part2, "\r\n\r\n") + 4;
    /* The CRLF before the closing delimiter belongs to it (RFC 2046 §5.1.1). */
    for (bool last = false; !last;) {
        char *eol = strstr(line, "\r\n");
        last = eol == NULL;
        size_t len = last ? strlen(line) : (size_t)(eol - line);
        ck_assert_uint_le(len, 76);
        if (!last)
            ck_assert_uint_eq(len, 76); /* all but the last line are full */
        buf_append(&encoded, line, len);
        line = last ? line : eol + 2;
    }
    unsigned char *decoded = xmalloc(encoded.len);
    int n = EVP_DecodeBlock(decoded, (unsigned char *)encoded.data, (int)encoded.len);
    ck_assert_int_ge(n, 0);
    n -= encoded.len > 0 && encoded.data[encoded.len - 1] == '=';
    n -= encoded.len > 1 && encoded.data[encoded.len - 2] == '=';
    ck_assert_uint_eq((size_t)n, m.gzip_len);
    ck_assert_int_eq(memcmp(decoded, m.gzip, m.gzip_len), 0);
    ck_assert(decoded[0] == 0x1f && decoded[1] == 0x8b);
    free(decoded);
    buf_free(&encoded);
    buf_free(&out);
    buf_free(&gzip);
    buf_free(&json);
}
END_TEST

/* Which member of struct dlv_message a case sets; two need more than a string. */
#define FIELD(member) offsetof(struct dlv_message, member)
static const struct {
    size_t field;
    const char *value;
    const char *expect; /* in the error, after "report message: " */
} injection_cases[] = {
    {FIELD(to), "victim@example.net\r\nBcc: other@example.org", "to contains a CR or LF"},
    {FIELD(to), "victim@example.net\n", "to contains a CR or LF"},
    {FIELD(to), "Victim <victim@example.net>", "to is not valid"},
    {FIELD(to), "", "to is empty"},
    {FIELD(to),
     "v\xc3\xaf"
     "ctim@example.net",
     "to contains a non-ASCII byte"},
    {FIELD(to), "\"a,b@example.net", "to is not valid"},  /* an unclosed quoted local part */
    {FIELD(to), "\"a\"b@example.net", "to is not valid"}, /* text after the closing quote */
    {FIELD(to), "a\"b\"@example.net", "to is not valid"},
    {FIELD(from), "tlsrpt@example.com\rX", "from contains a CR or LF"},
    {FIELD(policy_domain), "example.net\r\nX-Injected: yes", "policy_domain contains a CR"},
    {FIELD(policy_domain),
     "b\xc3\xbc"
     "cher.example",
     "policy_domain contains a non-ASCII"},
    {FIELD(policy_domain), "example.net X-Injected", "policy_domain is not valid"},
    {FIELD(submitter), "mail.example\t", "submitter contains the control character 0x09"},
    {FIELD(organization_name), "Org\r\n\r\n--boundary",
     "organization_name is not printable UTF-8 text"},
    {FIELD(organization_name), "M\xfcller GmbH", "organization_name is not printable UTF-8 text"},
    {FIELD(organization_name), "Org\x1b[31m", "organization_name is not printable UTF-8 text"},
    {FIELD(unique_id), "001>\r\nX: y", "unique_id contains a CR or LF"},
    {FIELD(unique_id), "a b", "unique_id is not valid"},
    {FIELD(file_name), "x.json.gz\"; evil=\"1", "file_name is not valid"},
    {FIELD(file_name), "r\xc3\xa9port.json.gz", "file_name contains a non-ASCII"},
    {FIELD(report_id), "id\x7f", "report_id contains the control character 0x7f"},
    {FIELD(message_id), "no-at-sign", "message_id is not valid"},
    {FIELD(message_id), "a@b\r\nX: y", "message_id contains a CR or LF"},
    {FIELD(top_failures), "x\r\ny", "top_failures result_type contains a CR"},
    {FIELD(gzip), "not gzip", "the attachment is not gzip data"},
};

/* A quoted local part (RFC 5321, from a mailto: rua) is an RFC 5322 addr-spec as it is. */
START_TEST(test_quoted_local_part)
{
    struct dlv_message m = sample();
    struct buf out = {0};
    char *error = NULL;

    m.to = "\"a,b \\\"c\"@example.net";
    int status = dlv_message_build(&m, &out, &error);
    ck_assert_msg(status == 0, "%s", error);
    ck_assert_ptr_nonnull(strstr(buf_cstr(&out), "\r\nTo: \"a,b \\\"c\"@example.net\r\n"));
    buf_free(&out);
}
END_TEST

/* A UTF-8 organization name travels in a quoted-printable text part. */
START_TEST(test_utf8_organization)
{
    struct dlv_message m = sample();
    struct buf out;
    char *error = NULL;

    m.organization_name = "M\xc3\xbcller & S\xc3\xb6hne GmbH = gut";
    buf_init(&out);
    ck_assert_int_eq(dlv_message_build(&m, &out, &error), 0);
    const char *text = buf_cstr(&out);
    ck_assert_ptr_nonnull(strstr(text, "Content-Type: text/plain; charset=\"utf-8\"\r\n"
                                       "Content-Transfer-Encoding: quoted-printable\r\n"));
    ck_assert_ptr_nonnull(strstr(text, "Organization:        M=C3=BCller & S=C3=B6hne GmbH =3D "
                                       "gut\r\n"));
    /* 7-bit clean, and no line longer than 78 characters plus CRLF. */
    size_t line = 0;
    for (const char *p = text; *p; p++) {
        ck_assert_int_lt((unsigned char)*p, 0x80);
        line = *p == '\n' ? 0 : line + 1;
        ck_assert_uint_le(line, 998);
    }
    buf_free(&out);
}
END_TEST

START_TEST(test_injection_refused)
{
    struct dlv_message m = sample();
    const char *value = injection_cases[_i].value;
    struct dlv_failure_count failure = {value, 1};
    struct buf out = {0};
    char *error = NULL;

    if (injection_cases[_i].field == FIELD(top_failures)) {
        m.top_failures = &failure;
        m.n_top_failures = 1;
    } else if (injection_cases[_i].field == FIELD(gzip)) {
        m.gzip = value;
        m.gzip_len = strlen(value);
    } else {
        memcpy((char *)&m + injection_cases[_i].field, &value, sizeof(value));
    }
    buf_puts(&out, "stale");
    ck_assert_int_eq(dlv_message_build(&m, &out, &error), -1);
    ck_assert_msg(strncmp(error, "report message: ", 16) == 0 &&
                      strstr(error, injection_cases[_i].expect) == error + 16,
                  "error \"%s\", want \"%s\"", error, injection_cases[_i].expect);
    ck_assert_uint_eq(out.len, 0);
    free(error);
    buf_free(&out);
}
END_TEST

/* The DNS TXT record of a key: p= is the DER SubjectPublicKeyInfo (RSA) or the raw key (Ed25519).
 */
static char *key_record(const char *name, const char *extra)
{
    char *path = key_path(name);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    EVP_PKEY *pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    free(path);
    ck_assert_ptr_nonnull(pkey);
    unsigned char raw[4096], *p = raw, text[6000];
    size_t len = sizeof(raw);
    bool ed25519 = EVP_PKEY_base_id(pkey) == EVP_PKEY_ED25519;
    if (ed25519)
        ck_assert_int_eq(EVP_PKEY_get_raw_public_key(pkey, raw, &len), 1);
    else
        len = (size_t)i2d_PUBKEY(pkey, &p);
    EVP_PKEY_free(pkey);
    EVP_EncodeBlock(text, raw, (int)len);
    return xasprintf("v=DKIM1; k=%s;%s p=%s", ed25519 ? "ed25519" : "rsa", extra, text);
}

static const char verify_script[] =
    "import sys, dkim\n"
    "message = open(sys.argv[1], 'rb').read()\n"
    "record = open(sys.argv[2], 'rb').read()\n"
    "def dns(name, timeout=5):\n"
    "    name = name.decode() if isinstance(name, bytes) else name\n"
    "    return record if name.rstrip('.') == sys.argv[3] else None\n"
    "try:\n"
    "    ok = dkim.verify(message, dnsfunc=dns, tlsrpt=sys.argv[4] if sys.argv[4] else False)\n"
    "except Exception as e:\n"
    "    print('dkimpy:', e)\n"
    "    sys.exit(2)\n"
    "sys.exit(0 if ok else 1)\n";

/* dkimpy's verdict on message: 0 valid, 1 invalid, other: the verifier broke. */
static int dkimpy_verify(const struct buf *message, const char *record, const char *tlsrpt)
{
    char *message_path = key_path("message.eml"), *record_path = key_path("record.txt");
    write_file(message_path, message->data, message->len);
    write_file(record_path, record, strlen(record));
    const char *argv[] = {"/usr/bin/python3",
                          "-c",
                          verify_script,
                          message_path,
                          record_path,
                          "tlsrpt._domainkey." SUBMITTER,
                          tlsrpt,
                          NULL};
    int status = run(argv, false);
    free(message_path);
    free(record_path);
    return status;
}

static struct dlv_dkim_key *load(const char *name)
{
    char *path = key_path(name), *error = NULL;
    struct dlv_dkim_key *key = dlv_dkim_key_load(path, &error);
    ck_assert_msg(key != NULL, "%s", error ? error : "");
    free(path);
    return key;
}

static const struct {
    const char *key;
    const char *algorithm;
} sign_cases[] = {{"rsa.pem", "rsa-sha256"}, {"ed25519.pem", "ed25519-sha256"}};

START_TEST(test_dkim_sign_verify)
{
    struct dlv_message m = sample();
    struct buf message = {0}, signed_message = {0};
    struct dlv_dkim_key *key = load(sign_cases[_i].key);
    char *error = NULL;
    time_t now = time(NULL);

    ck_assert_str_eq(dlv_dkim_algorithm(key), sign_cases[_i].algorithm);
    m.date = now;
    ck_assert_int_eq(dlv_message_build(&m, &message, &error), 0);
    ck_assert_int_eq(dlv_dkim_sign(key, SUBMITTER, "tlsrpt", message.data, message.len, now,
                                   &signed_message, &error),
                     0);
    char *sig = header_value(signed_message.data, "DKIM-Signature");
    printf("%s: DKIM-Signature: %s\n", sign_cases[_i].algorithm, sig);
    /* The signature field first, then the message exactly as it was. */
    ck_assert_int_eq(strncmp(signed_message.data, "DKIM-Signature: ", 16), 0);
    ck_assert_uint_gt(signed_message.len, message.len);
    const char *rest = signed_message.data + signed_message.len - message.len;
    ck_assert(memcmp(rest - 2, "\r\n", 2) == 0 && memcmp(rest, message.data, message.len) == 0);

    /* The tags, whitespace removed: exactly these, in this order, never l=. */
    struct buf tags = {0};
    buf_puts(&tags, sig);
    strip_whitespace(tags.data);
    char *want = xasprintf("v=1;a=%s;c=relaxed/relaxed;d=" SUBMITTER
                           ";s=tlsrpt;t=%lld;h=" SIGNED_HEADERS ";bh=",
                           sign_cases[_i].algorithm, (long long)now);
    ck_assert_msg(strncmp(tags.data, want, strlen(want)) == 0, "%s", tags.data);
    ck_assert_ptr_null(strstr(tags.data, ";l="));
    ck_assert_ptr_nonnull(strstr(tags.data, ";b="));
    free(want);
    buf_free(&tags);
    free(sig);
    assert_header_lines(signed_message.data, 78);

    if (have_dkimpy) {
        char *record = key_record(sign_cases[_i].key, "");
        ck_assert_int_eq(dkimpy_verify(&signed_message, record, ""), 0);
        ck_assert_int_eq(dkimpy_verify(&signed_message, record, "True"), 0);
        free(record);
        record = key_record(sign_cases[_i].key, " s=tlsrpt;");
        ck_assert_int_eq(dkimpy_verify(&signed_message, record, "strict"), 0);

        /* One byte of the body changed; then the Subject. */
        char *byte = strstr(signed_message.data, "Successful sessions: 120");
        byte[strlen("Successful sessions: 1")] = '3';
        ck_assert_int_eq(dkimpy_verify(&signed_message, record, "strict"), 1);
        byte[strlen("Successful sessions: 1")] = '2';
        ck_assert_int_eq(dkimpy_verify(&signed_message, record, "strict"), 0);
        byte = strstr(signed_message.data, "Report Domain: example.net");
        byte[strlen("Report Domain: example.")] = 'o';
        ck_assert_int_eq(dkimpy_verify(&signed_message, record, "strict"), 1);
        free(record);
    }
    dlv_dkim_key_free(key);
    buf_free(&message);
    buf_free(&signed_message);
}
END_TEST

/* Relaxed canonicalization against dkimpy, and body hashes known from RFC 6376 §3.4.4. */
static const struct {
    const char *body;
    const char *canonical; /* what bh= is the SHA-256 of */
} body_cases[] = {
    {"", ""},
    {"\r\n\r\n", ""},
    {" \t \r\n\r\n", ""},
    {"abc", "abc\r\n"},
    {" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"},
    {"line  with   spaces \t\r\n\r\n\tleading tab\r\n \r\n\r\n",
     "line with spaces\r\n\r\n leading tab\r\n"},
};

START_TEST(test_dkim_canonicalization)
{
    struct dlv_dkim_key *key = load(_i % 2 ? "ed25519.pem" : "rsa.pem");
    struct buf message = {0}, signed_message = {0};
    unsigned char digest[32], text[64];
    char *error = NULL;

    buf_printf(&message,
               "From: tlsrpt@" SUBMITTER "\r\n"
               "To:   mts-sts-tlsrpt@example.net  \r\n"
               "SUBJECT: Report   Domain:\r\n\t example.net \t\r\n"
               "tls-report-domain:example.net\r\n"
               "X-Not-Signed: x\r\n"
               "\r\n%s",
               body_cases[_i].body);
    ck_assert_int_eq(dlv_dkim_sign(key, SUBMITTER, "tlsrpt", message.data, message.len, time(NULL),
                                   &signed_message, &error),
                     0);
    EVP_Digest(body_cases[_i].canonical, strlen(body_cases[_i].canonical), digest, NULL,
               EVP_sha256(), NULL);
    EVP_EncodeBlock(text, digest, sizeof(digest));
    char *sig = header_value(signed_message.data, "DKIM-Signature");
    char *bh = xasprintf("bh=%s;", text);
    strip_whitespace(sig);
    ck_assert_msg(strstr(sig, bh) != NULL, "%s lacks %s", sig, bh);
    ck_assert_ptr_nonnull(strstr(sig, "h=From:To:Subject:TLS-Report-Domain;"));
    if (_i == 0)
        ck_assert_ptr_nonnull(strstr(sig, "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"));
    if (have_dkimpy) {
        char *record = key_record(_i % 2 ? "ed25519.pem" : "rsa.pem", "");
        ck_assert_int_eq(dkimpy_verify(&signed_message, record, ""), 0);
        free(record);
    }
    free(bh);
    free(sig);
    dlv_dkim_key_free(key);
    buf_free(&message);
    buf_free(&signed_message);
}
END_TEST

START_TEST(test_dkim_bad_input)
{
    struct dlv_dkim_key *key = load("ed25519.pem");
    struct buf out = {0};
    char *error = NULL;
    static const char good[] = "From: a@example.com\r\n\r\nbody\r\n";
    static const struct {
        const char *domain, *selector, *message, *expect;
    } cases[] = {
        {"example.com\r\nX: y", "s", good, "signing domain"},
        {"example.com", "s;b=", good, "selector"},
        {"example.com", "s", "From: a@example.com\n\nbody\n", "bare CR or LF"},
        {"example.com", "s", "From: a@example.com\r\nbody\r\n", "header line without a colon"},
        {"example.com", "s", "From: a@example.com\r\n", "no empty line"},
        {"example.com", "s", "X-Other: 1\r\n\r\n", "none of the header fields"},
        {"example.com", "s", " From: a\r\n\r\n", "continuation"},
    };

    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        ck_assert_int_eq(dlv_dkim_sign(key, cases[i].domain, cases[i].selector, cases[i].message,
                                       strlen(cases[i].message), 1, &out, &error),
                         -1);
        ck_assert_msg(strstr(error, cases[i].expect) != NULL, "%s", error);
        free(error);
        error = NULL;
    }
    dlv_dkim_key_free(key);
    buf_free(&out);
}
END_TEST

static const struct {
    const char *file;
    mode_t mode;
    const char *expect; /* NULL: loads */
} key_cases[] = {
    {"rsa.pem", 0644, "is open to group or others (mode 0644): chmod 600 "},
    {"ed25519.pem", 0640, "is open to group or others (mode 0640): chmod 600 "},
    {"ed25519.pem", 0604, "chmod 600"},
    {"ed25519.pem", 0400, NULL},
    {"rsa1024.pem", 0600, NULL},
    {"rsa512.pem", 0600, "RSA key of 512 bits; at least 1024"},
    {"ec.pem", 0600, "RSA or Ed25519 keys only"},
    {"encrypted.pem", 0600, "is encrypted"},
    {"missing.pem", 0600, "No such file"},
    {"message.d", 0700, "is not a regular file"},
    {"garbage.pem", 0600, "no PEM private key"},
};

START_TEST(test_key_load)
{
    char *path = key_path(key_cases[_i].file), *error = NULL;

    if (strcmp(key_cases[_i].file, "message.d") == 0)
        mkdir(path, 0700);
    if (strcmp(key_cases[_i].file, "garbage.pem") == 0)
        write_file(path, "-----BEGIN PRIVATE KEY-----\nxyz\n", 32);
    chmod(path, key_cases[_i].mode);
    struct dlv_dkim_key *key = dlv_dkim_key_load(path, &error);
    chmod(path, 0600);
    if (key_cases[_i].expect == NULL) {
        ck_assert_msg(key != NULL, "%s", error);
        dlv_dkim_key_free(key);
    } else {
        ck_assert_ptr_null(key);
        ck_assert_msg(strstr(error, key_cases[_i].expect) && strstr(error, path), "%s", error);
        free(error);
    }
    free(path);
}
END_TEST

static Suite *message_suite(void)
{
    Suite *s = suite_create("message");
    TCase *tc = tcase_create("message");

    tcase_add_test(tc, test_outcome_names);
    tcase_add_test(tc, test_headers_exact);
    tcase_add_loop_test(tc, test_mime_structure, 0, (int)UTIL_ARRAY_LEN(attachment_sizes));
    tcase_add_test(tc, test_utf8_organization);
    tcase_add_test(tc, test_quoted_local_part);
    tcase_add_loop_test(tc, test_injection_refused, 0, (int)UTIL_ARRAY_LEN(injection_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("dkim");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_loop_test(tc, test_dkim_sign_verify, 0, (int)UTIL_ARRAY_LEN(sign_cases));
    tcase_add_loop_test(tc, test_dkim_canonicalization, 0, (int)UTIL_ARRAY_LEN(body_cases));
    tcase_add_test(tc, test_dkim_bad_input);
    tcase_add_loop_test(tc, test_key_load, 0, (int)UTIL_ARRAY_LEN(key_cases));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(message_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
