/*
 * check_dsn.c - the DSN parser on what MTAs really send (Postfix's and
 * Sendmail's formats, the RFC 3464 examples) and on what they must not
 * get past (no status part, broken MIME, 1000+ recipients, huge fields):
 * exact results or exact refusals. Also the VERP tag, address and key.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsn.h"
#include "util.h"

/* Everything a DSN holds, one line, for exact comparisons. */
static char *summary(const struct dsn *d)
{
    struct buf out;

    buf_init(&out);
    buf_printf(&out, "mta=%s envid=%s returned=%s to=%s truncated=%d", d->reporting_mta,
               d->original_envelope_id ? d->original_envelope_id : "-",
               d->returned_report_domain ? d->returned_report_domain : "-",
               d->addressed_to ? d->addressed_to : "-", d->truncated);
    for (size_t i = 0; i < d->n_recipients; i++) {
        const struct dsn_recipient *r = &d->recipients[i];
        buf_printf(&out, "\n%s|%s|%s|%s|%s|%s", r->final_recipient,
                   r->original_recipient ? r->original_recipient : "-", r->action, r->status,
                   r->diagnostic ? r->diagnostic : "-", r->remote_mta ? r->remote_mta : "-");
    }
    return buf_steal(&out);
}

static char *read_data(const char *name)
{
    char *path = xasprintf("%s/dsn/%s", TEST_DATA_DIR, name), *error;
    struct buf text;

    buf_init(&text);
    if (file_read_all(path, 1 << 22, &text, &error) < 0)
        ck_abort_msg("%s", error);
    free(path);
    buf_cstr(&text);
    return buf_steal(&text);
}

static const struct file_case {
    const char *file;
    const char *expected;
} file_cases[] = {
    {"postfix-failed.eml",
     "mta=relay.sender.example envid=- returned=mail.example "
     "to=noreply-tlsrpt+0123456789abcdef-0011223344556677@sender.example truncated=0\n"
     "tlsrpt@mail.example|tlsrpt@mail.example|failed|5.1.1|smtp; 550 5.1.1 "
     "<tlsrpt@mail.example>: Recipient address rejected: User unknown in virtual mailbox "
     "table|mx.mail.example"},
    {"sendmail-failed.eml",
     "mta=relay.sender.example envid=- returned=mail.example "
     "to=noreply-tlsrpt+0123456789abcdef-0011223344556677@sender.example truncated=0\n"
     "tlsrpt@mail.example|-|failed|5.1.1|SMTP; 550 5.1.1 <tlsrpt@mail.example>... User "
     "unknown|mx.mail.example"},
    {"sendmail-delayed.eml",
     "mta=relay.sender.example envid=- returned=slow.example "
     "to=noreply-tlsrpt+0123456789abcdef-0011223344556677@sender.example truncated=0\n"
     "tlsrpt@slow.example|-|delayed|4.4.7|SMTP; 451 4.4.0 mx.slow.example: Connection timed "
     "out|mx.slow.example"},
    {"rfc3464-multiple.eml",
     "mta=cs.utk.edu envid=4A8B9C2D returned=- to=owner-info-mime@cs.utk.edu truncated=0\n"
     "arathib@vnet.ibm.com|arathib@vnet.ibm.com|failed|5.0.0|smtp;  550 'arathib@vnet.IBM.COM' "
     "is not a registered gateway user|vnet.ibm.com\n"
     "johnh@hpnjld.njd.hp.com|johnh@hpnjld.njd.hp.com|delayed|4.0.0|-|-\n"
     "wsnell@sdcc13.ucsd.edu|wsnell@sdcc13.ucsd.edu|failed|5.0.0|smtp; 550 user "
     "unknown|sdcc13.ucsd.edu"},
    {"rfc3464-timeout.eml",
     "mta=cs.utk.edu envid=- returned=- to=owner-ietf-mta-filters@CS.UTK.EDU truncated=0\n"
     "louisl@larry.slip.umd.edu|louisl@larry.slip.umd.edu|failed|4.0.0|smtp; 426 connection "
     "timed out|-"},
    {"base64-status.eml",
     "mta=relay.example envid=- returned=- "
     "to=noreply-tlsrpt+0123456789abcdef-0011223344556677@sender.example truncated=0\n"
     "tlsrpt@mail.example|-|failed|5.7.1|smtp; 554 5.7.1 rejected by policy|-"},
};

START_TEST(test_real_formats)
{
    const struct file_case *c = &file_cases[_i];
    char *text = read_data(c->file), *error = NULL;
    struct dsn *dsn;

    if (dsn_parse(text, strlen(text), &dsn, &error) < 0)
        ck_abort_msg("%s: %s", c->file, error);
    char *got = summary(dsn);
    ck_assert_msg(strcmp(got, c->expected) == 0, "%s:\n%s\n--- expected\n%s", c->file, got,
                  c->expected);
    free(got);
    dsn_free(dsn);
    free(text);
}
END_TEST

#define HEAD                                                                                       \
    "From: MAILER-DAEMON@relay.example\n"                                                          \
    "To: bounces@sender.example\n"                                                                 \
    "MIME-Version: 1.0\n"
#define REPORT_TYPE                                                                                \
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
#define STATUS_PART "--b\nContent-Type: message/delivery-status\n\n"
#define PER_MESSAGE "Reporting-MTA: dns; relay.example\n\n"
#define FAILED "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.1\n"

static const struct refusal_case {
    const char *name;
    const char *message;
    const char *error;
} refusal_cases[] = {
    {"empty input", "", "not a mail message (no header could be read)"},
    {"plain text", HEAD "Subject: hi\n\nhello\n",
     "not a DSN: the message is text/plain, not multipart/report"},
    {"multipart/mixed",
     HEAD "Content-Type: multipart/mixed; boundary=\"b\"\n\n" STATUS_PART PER_MESSAGE FAILED
          "--b--\n",
     "not a DSN: the message is multipart/mixed, not multipart/report"},
    {"another report type",
     HEAD "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n"
          "--b\nContent-Type: message/disposition-notification\n\nx\n--b--\n",
     "not a DSN: a multipart/report of report-type disposition-notification"},
    {"no delivery-status part",
     HEAD REPORT_TYPE "--b\nContent-Type: text/plain\n\nIt failed.\n--b--\n",
     "not a DSN: the multipart/report has no message/delivery-status part"},
    {"broken MIME: no boundary parameter",
     HEAD "Content-Type: multipart/report; report-type=delivery-status\n\n" STATUS_PART PER_MESSAGE
         FAILED "--b--\n",
     "not a DSN: the multipart/report has no message/delivery-status part"},
    {"broken MIME: boundary never used",
     HEAD "Content-Type: multipart/report; report-type=delivery-status; boundary=zz\n\n" STATUS_PART
         PER_MESSAGE FAILED "--b--\n",
     "not a DSN: the multipart/report has no message/delivery-status part"},
    {"two status parts",
     HEAD REPORT_TYPE STATUS_PART PER_MESSAGE FAILED STATUS_PART PER_MESSAGE FAILED "--b--\n",
     "more than one delivery-status part"},
    {"empty status part", HEAD REPORT_TYPE STATUS_PART "--b--\n", "delivery-status: empty"},
    {"no per-recipient fields", HEAD REPORT_TYPE STATUS_PART PER_MESSAGE "--b--\n",
     "delivery-status: no per-recipient fields"},
    {"no Reporting-MTA", HEAD REPORT_TYPE STATUS_PART "Arrival-Date: today\n\n" FAILED "--b--\n",
     "delivery-status line 1: no Reporting-MTA: \"dns; host\" in the per-message fields"},
    {"no Status",
     HEAD REPORT_TYPE STATUS_PART PER_MESSAGE
     "Final-Recipient: rfc822; a@x.example\nAction: failed\n--b--\n",
     "delivery-status line 3 (recipient 1): no Status"},
    {"bad Status",
     HEAD REPORT_TYPE STATUS_PART PER_MESSAGE
     "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1\n--b--\n",
     "delivery-status line 3 (recipient 1): Status \"5.1\" is not class.subject.detail "
     "(RFC 3463)"},
    {"status class 3",
     HEAD REPORT_TYPE STATUS_PART PER_MESSAGE
     "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 3.1.1\n--b--\n",
     "delivery-status line 3 (recipient 1): Status \"3.1.1\" is not class.subject.detail "
     "(RFC 3463)"},
    {"unknown Action",
     HEAD REPORT_TYPE STATUS_PART PER_MESSAGE
     "Final-Recipient: rfc822; a@x.example\nAction: exploded\nStatus: 5.1.1\n--b--\n",
     "delivery-status line 3 (recipient 1): unknown Action \"exploded\""},
    {"Final-Recipient without a type",
     HEAD REPORT_TYPE STATUS_PART PER_MESSAGE
     "Final-Recipient: a@x.example\nAction: failed\nStatus: 5.1.1\n--b--\n",
     "delivery-status line 3 (recipient 1): Final-Recipient is not \"type; address\""},
    {"a field given twice",
     HEAD REPORT_TYPE STATUS_PART PER_MESSAGE FAILED "Status: 2.0.0\n--b--\n",
     "delivery-status line 3 (recipient 1): a field given twice"},
    {"not a field", HEAD REPORT_TYPE STATUS_PART PER_MESSAGE FAILED "garbage line\n--b--\n",
     "delivery-status line 6: not a \"Name: value\" field"},
    {"continuation first", HEAD REPORT_TYPE STATUS_PART " folded\n" PER_MESSAGE FAILED "--b--\n",
     "delivery-status line 1: a continuation line before any field"},
    {"control character",
     HEAD REPORT_TYPE STATUS_PART PER_MESSAGE FAILED "Diagnostic-Code: smtp; 550 \001x\n--b--\n",
     "delivery-status line 6: a control character (0x01)"},
};

START_TEST(test_refusals)
{
    const struct refusal_case *c = &refusal_cases[_i];
    struct dsn *dsn = NULL;
    char *error = NULL;

    ck_assert_msg(dsn_parse(c->message, strlen(c->message), &dsn, &error) == -1, "%s: accepted",
                  c->name);
    ck_assert_ptr_null(dsn);
    ck_assert_msg(strcmp(error, c->error) == 0, "%s: \"%s\", expected \"%s\"", c->name, error,
                  c->error);
    free(error);
}
END_TEST

/* A DSN with n recipients, each with a diagnostic of diag_len bytes (folded when fold). */
static char *many(size_t n, size_t diag_len, bool fold)
{
    struct buf out;

    buf_init(&out);
    buf_puts(&out, HEAD REPORT_TYPE STATUS_PART PER_MESSAGE);
    for (size_t i = 0; i < n; i++) {
        buf_printf(&out,
                   "Final-Recipient: rfc822; r%zu@x.example\nAction: failed\n"
                   "Status: 5.1.1\nDiagnostic-Code: smtp; ",
                   i);
        for (size_t k = 0; k < diag_len; k++)
            buf_puts(&out, fold && k > 0 && k % 70 == 0 ? "\n x" : "x");
        buf_puts(&out, "\n\n");
    }
    buf_puts(&out, "--b--\n");
    return buf_steal(&out);
}

START_TEST(test_recipient_limit)
{
    char *ok = many(DSN_MAX_RECIPIENTS, 10, false), *over = many(DSN_MAX_RECIPIENTS + 1, 10, false);
    struct dsn *dsn;
    char *error = NULL;

    ck_assert_int_eq(dsn_parse(ok, strlen(ok), &dsn, &error), 0);
    ck_assert_uint_eq(dsn->n_recipients, 1000);
    ck_assert_str_eq(dsn->recipients[999].final_recipient, "r999@x.example");
    dsn_free(dsn);
    ck_assert_int_eq(dsn_parse(over, strlen(over), &dsn, &error), -1);
    /* 2 lines of per-message group, 5 lines a recipient: the 1001st starts at 5003. */
    ck_assert_str_eq(error, "delivery-status line 5003: more than 1000 recipients");
    free(error);
    free(ok);
    free(over);
}
END_TEST

START_TEST(test_field_limit)
{
    /* "smtp; " and 2042 bytes is 2048: accepted; one more is refused, folded or not. */
    char *ok = many(1, DSN_MAX_FIELD - 6, false), *over = many(1, DSN_MAX_FIELD - 5, false);
    char *folded = many(1, 4000, true);
    struct dsn *dsn;
    char *error = NULL;

    ck_assert_int_eq(dsn_parse(ok, strlen(ok), &dsn, &error), 0);
    ck_assert_uint_eq(strlen(dsn->recipients[0].diagnostic), DSN_MAX_FIELD);
    dsn_free(dsn);
    ck_assert_int_eq(dsn_parse(over, strlen(over), &dsn, &error), -1);
    ck_assert_str_eq(error, "delivery-status line 6: field Diagnostic-Code longer than 2048 bytes");
    free(error);
    ck_assert_int_eq(dsn_parse(folded, strlen(folded), &dsn, &error), -1);
    ck_assert_str_eq(error,
                     "delivery-status line 34: field Diagnostic-Code longer than 2048 bytes");
    free(error);
    free(ok);
    free(over);
    free(folded);
}
END_TEST

START_TEST(test_huge_message_read_in_part)
{
    /* The returned message makes it 3 MB; the status part, before it, is read. */
    char *base = read_data("postfix-failed.eml");
    char *end = strstr(base, "--4bXyZ12345.1751536805/relay.sender.example--");
    struct buf message;
    struct dsn *dsn;
    char *error = NULL;

    ck_assert_ptr_nonnull(end);
    buf_init(&message);
    buf_append(&message, base, (size_t)(end - base));
    buf_puts(&message, "--4bXyZ12345.1751536805/relay.sender.example\n"
                       "Content-Type: message/rfc822\n\nSubject: big\n\n");
    for (int i = 0; i < 3 * 1024 * 16; i++)
        buf_printf(&message, "%063d\n", i);
    buf_puts(&message, "--4bXyZ12345.1751536805/relay.sender.example--\n");
    ck_assert_int_eq(dsn_parse(message.data, message.len, &dsn, &error), 0);
    ck_assert(dsn->truncated);
    ck_assert_str_eq(dsn->recipients[0].status, "5.1.1");
    dsn_free(dsn);
    buf_free(&message);
    free(base);
}
END_TEST

START_TEST(test_status_part_limit)
{
    /* 1000 recipients of 600 bytes each: over the 512 KB status part. */
    char *text = many(1000, 600, true), *error = NULL;
    struct dsn *dsn;

    ck_assert_int_eq(dsn_parse(text, strlen(text), &dsn, &error), -1);
    ck_assert_str_eq(error, "the delivery-status part is larger than 524288 bytes");
    free(error);
    free(text);
}
END_TEST

START_TEST(test_decisive)
{
    char *text = read_data("rfc3464-multiple.eml"), *error;
    struct dsn *dsn;

    ck_assert_int_eq(dsn_parse(text, strlen(text), &dsn, &error), 0);
    /* Named: that recipient, whatever it says. */
    ck_assert_str_eq(dsn_decisive(dsn, "JOHNH@hpnjld.njd.hp.com")->action, "delayed");
    ck_assert_str_eq(dsn_decisive(dsn, "wsnell@sdcc13.ucsd.edu")->final_recipient,
                     "wsnell@sdcc13.ucsd.edu");
    /* Not named (or no mailbox): the first failure. */
    ck_assert_str_eq(dsn_decisive(dsn, "other@x.example")->final_recipient, "arathib@vnet.ibm.com");
    ck_assert_str_eq(dsn_decisive(dsn, NULL)->final_recipient, "arathib@vnet.ibm.com");
    ck_assert(dsn_permanent(dsn_decisive(dsn, NULL)));
    ck_assert(!dsn_permanent(dsn_decisive(dsn, "johnh@hpnjld.njd.hp.com")));
    dsn_free(dsn);
    free(text);
}
END_TEST

/*
 * The key 00 01 02 ... 1f. The MAC is what Python gives:
 * hmac.new(bytes(range(32)), b"0123456789abcdef\0mailto:tlsrpt@mail.example",
 *          hashlib.sha256).hexdigest()[:16]
 */
#define VERP_EXPECTED_MAC "c2092515667e4fb3"
START_TEST(test_verp_tag)
{
    unsigned char key[DSN_VERP_KEY_SIZE];
    char tag[DSN_VERP_TAG_MAX], parsed[DSN_VERP_TAG_MAX], *address, *error, *id;

    for (int i = 0; i < DSN_VERP_KEY_SIZE; i++)
        key[i] = (unsigned char)i;
    dsn_verp_tag(key, "0123456789abcdef", "mailto:tlsrpt@mail.example", tag);
    ck_assert_str_eq(tag, "0123456789abcdef-" VERP_EXPECTED_MAC);
    ck_assert_uint_eq(strlen(tag), DSN_VERP_TAG_LEN);
    dsn_verp_tag(key, "0123456789abcdef", "mailto:other@mail.example", parsed);
    ck_assert_str_ne(tag, parsed);

    ck_assert_int_eq(dsn_verp_address("noreply-tlsrpt@sender.example", "+", tag, &address, &error),
                     0);
    ck_assert_str_eq(address,
                     "noreply-tlsrpt+0123456789abcdef-" VERP_EXPECTED_MAC "@sender.example");
    ck_assert_int_eq(
        dsn_verp_parse(address, "noreply-tlsrpt@sender.example", "+", parsed, &id, &error), 0);
    ck_assert_str_eq(parsed, tag);
    ck_assert_str_eq(id, "0123456789abcdef");
    free(id);
    /* An MTA may change the case of the local part; <> around it is fine too. */
    char *upper =
        xasprintf("<NOREPLY-TLSRPT+0123456789ABCDEF-%s@sender.example>", VERP_EXPECTED_MAC);
    ck_assert_int_eq(
        dsn_verp_parse(upper, "noreply-tlsrpt@sender.example", "+", parsed, &id, &error), 0);
    ck_assert_str_eq(parsed, tag);
    free(id);
    free(upper);
    free(address);

    /* 31 bytes of local part and 34 of delimiter and tag: 65, one too many. */
    ck_assert_int_eq(
        dsn_verp_address("a234567890123456789012345678901@x.example", "+", tag, &address, &error),
        -1);
    ck_assert_str_eq(error, "envelope sender a234567890123456789012345678901@x.example: with "
                            "report_verp_delimiter and the 33-byte tag its local part is 65 "
                            "bytes, more than 64 (RFC 5321)");
    free(error);
    ck_assert_int_eq(
        dsn_verp_address("a23456789012345678901234567890@x.example", "+", tag, &address, &error),
        0);
    free(address);
}
END_TEST

static const struct verp_refusal {
    const char *address;
    const char *error;
} verp_refusals[] = {
    {"postmaster@sender.example",
     "postmaster@sender.example is not a VERP address of noreply-tlsrpt@sender.example"},
    {"noreply-tlsrpt-0123456789abcdef-0011223344556677@sender.example",
     "noreply-tlsrpt-0123456789abcdef-0011223344556677@sender.example is not a VERP address of "
     "noreply-tlsrpt@sender.example"},
    {"noreply-tlsrpt+0123456789abcdef-001122334455667@sender.example",
     "noreply-tlsrpt+0123456789abcdef-001122334455667@sender.example: the VERP tag is not ours "
     "(ID-MAC, 33 characters)"},
    {"noreply-tlsrpt+0123456789abcdefx0011223344556677@sender.example",
     "noreply-tlsrpt+0123456789abcdefx0011223344556677@sender.example: the VERP tag is not ours "
     "(ID-MAC, 33 characters)"},
    {"noreply-tlsrpt+0123456789abcdeg-0011223344556677@sender.example",
     "noreply-tlsrpt+0123456789abcdeg-0011223344556677@sender.example: the VERP tag is not ours "
     "(ID-MAC, 33 characters)"},
    {"noreply-tlsrpt+0123456789abcdef-0011223344556677",
     "noreply-tlsrpt+0123456789abcdef-"
     "0011223344556677 is not a VERP address of "
     "noreply-tlsrpt@sender.example"},
};

START_TEST(test_verp_refusals)
{
    const struct verp_refusal *c = &verp_refusals[_i];
    char tag[DSN_VERP_TAG_MAX], *id = NULL, *error = NULL;

    ck_assert_int_eq(
        dsn_verp_parse(c->address, "noreply-tlsrpt@sender.example", "+", tag, &id, &error), -1);
    ck_assert_ptr_null(id);
    ck_assert_str_eq(error, c->error);
    free(error);
}
END_TEST

START_TEST(test_verp_key)
{
    char dir[] = "/tmp/check_dsn.XXXXXX";
    unsigned char key[DSN_VERP_KEY_SIZE], again[DSN_VERP_KEY_SIZE];
    char *error = NULL;
    struct stat st;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *path = path_join(dir, "verp.key");
    ck_assert_int_eq(dsn_verp_key_load(path, false, key, &error), -1);
    ck_assert_ptr_nonnull(strstr(error, "verp.key"));
    free(error);
    ck_assert_int_eq(dsn_verp_key_load(path, true, key, &error), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, 65);
    ck_assert_int_eq(dsn_verp_key_load(path, true, again, &error), 0);
    ck_assert_mem_eq(key, again, sizeof(key));
    ck_assert_int_eq(file_write_atomic(path, "00ff\n", 5, 0600, &error), 0);
    ck_assert_int_eq(dsn_verp_key_load(path, true, key, &error), -1);
    char *expected = xasprintf("%s: not a VERP key (64 hex digits)", path);
    ck_assert_str_eq(error, expected);
    free(expected);
    free(error);
    unlink(path);
    rmdir(dir);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dsn");
    TCase *tc = tcase_create("dsn");

    tcase_add_loop_test(tc, test_real_formats, 0, (int)UTIL_ARRAY_LEN(file_cases));
    tcase_add_loop_test(tc, test_refusals, 0, (int)UTIL_ARRAY_LEN(refusal_cases));
    tcase_add_test(tc, test_recipient_limit);
    tcase_add_test(tc, test_field_limit);
    tcase_add_test(tc, test_huge_message_read_in_part);
    tcase_add_test(tc, test_status_part_limit);
    tcase_add_test(tc, test_decisive);
    tcase_add_test(tc, test_verp_tag);
    tcase_add_loop_test(tc, test_verp_refusals, 0, (int)UTIL_ARRAY_LEN(verp_refusals));
    tcase_add_test(tc, test_verp_key);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
