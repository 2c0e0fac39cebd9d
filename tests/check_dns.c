/*
 * check_dns.c - Check suite of the dns module without a network: the
 * _smtp._tls record grammar (RFC 8460 §3) as a case table, the resolver's
 * server list and the domain names it refuses before asking anyone.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "util.h"

/*
 * One line per kept destination: "mailto URI TARGET" or "https URI" (the
 * target of https is the URI itself, checked separately); notes one per line.
 */
static char *render_rua(const struct dns_tlsrpt_record *record)
{
    struct buf out;

    buf_init(&out);
    for (size_t i = 0; i < record->n_rua; i++) {
        const struct dns_rua *rua = &record->rua[i];
        if (i > 0)
            buf_putc(&out, '\n');
        if (rua->scheme == DNS_RUA_MAILTO) {
            buf_printf(&out, "mailto %s %s", rua->uri, rua->target);
        } else {
            ck_assert_int_eq(rua->scheme, DNS_RUA_HTTPS);
            ck_assert_str_eq(rua->target, rua->uri);
            buf_printf(&out, "https %s", rua->uri);
        }
    }
    return buf_steal(&out);
}

static char *render_notes(const struct dns_tlsrpt_record *record)
{
    struct buf out;

    buf_init(&out);
    for (size_t i = 0; i < record->n_notes; i++)
        buf_printf(&out, "%s%s", i > 0 ? "\n" : "", record->notes[i]);
    return buf_steal(&out);
}

#define M(addr) "mailto mailto:" addr " " addr

static const struct {
    const char *text;
    size_t max_rua;    /* 0: 5 */
    const char *error; /* NULL: valid */
    const char *rua;   /* render_rua() of a valid record */
    const char *notes;
} parse_cases[] = {
    /* valid records */
    {"v=TLSRPTv1;rua=mailto:reports@example.com", 0, NULL, M("reports@example.com"), ""},
    {"v=TLSRPTv1;rua=mailto:a@b", 0, NULL, M("a@b"), ""},
    {"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", 0, NULL,
     "https https://reporting.example.com/v1/tlsrpt", ""},
    /* strings of a split TXT record, as the resolver joins them: no space added */
    {"v=TLSRPTv1;rua=mailto:tls"
     "rpt@split.example",
     0, NULL, M("tlsrpt@split.example"), ""},
    /* white space around ";" and "," */
    {"v=TLSRPTv1; rua=mailto:a@ws.example , https://r.ws.example/v1 ;", 0, NULL,
     M("a@ws.example") "\nhttps https://r.ws.example/v1", ""},
    {"v=TLSRPTv1;\trua=mailto:a@ws.example\t,\thttps://r.ws.example/\t;\t", 0, NULL,
     M("a@ws.example") "\nhttps https://r.ws.example/", ""},
    {"v=TLSRPTv1;rua=mailto:a@ws.example;  ", 0, NULL, M("a@ws.example"), ""},
    /* trailing ";" */
    {"v=TLSRPTv1;rua=mailto:a@b.example;", 0, NULL, M("a@b.example"), ""},
    /* extensions are ignored when they are well formed, wherever they are */
    {"v=TLSRPTv1;ext.1=val;rua=mailto:a@b.example;x_y-z=1:2<3>4", 0, NULL, M("a@b.example"), ""},
    {"v=TLSRPTv1;v=TLSRPTv2;rua=mailto:a@b.example", 0, NULL, M("a@b.example"), ""},
    {"v=TLSRPTv1;rua=mailto:a@b.example;abcdefghijklmnopqrstuvwxyz012345=1", 0, NULL,
     M("a@b.example"), ""},
    /* rua may be repeated */
    {"v=TLSRPTv1;rua=mailto:a@rep.example;rua=https://r.rep.example/", 0, NULL,
     M("a@rep.example") "\nhttps https://r.rep.example/", ""},
    /* percent-encoding: exactly %2C %21 %3B decoded in the URI */
    {"v=TLSRPTv1;rua=https://r.example/a%2Cb%21c%3Bd%3be%2cf%41", 0, NULL,
     "https https://r.example/a,b!c;d;e,f%41", ""},
    {"v=TLSRPTv1;rua=mailto:tls%2Breports@example.com", 0, NULL, M("tls+reports@example.com"), ""},
    {"v=TLSRPTv1;rua=mailto:reports@example.com?subject=a%2Cb", 0, NULL, M("reports@example.com"),
     ""},
    /* a scheme in any case, kept in lower case: delivery tells mail from HTTPS by it (fuzz) */
    {"v=TLSRPTv1;rua=MAILTO:r@example.com,HTTPS://R.example:8443/x", 0, NULL,
     M("r@example.com") "\nhttps https://R.example:8443/x", ""},
    {"v=TLSRPTv1;rua=mailTo:a@x.example", 0, NULL, M("a@x.example"), ""},
    /* mailto: is decoded once (RFC 3986, 6068) and the decoded Mailbox is the destination */
    {"v=TLSRPTv1;rua=mailto:%74lsrpt@pct.example", 0, NULL, M("tlsrpt@pct.example"), ""},
    {"v=TLSRPTv1;rua=mailto:a%2541@pct.example", 0, NULL, M("a%41@pct.example"), ""},
    {"v=TLSRPTv1;rua=mailto:%22a%2Cb%22@x.example", 0, NULL, M("\"a,b\"@x.example"), ""},
    {"v=TLSRPTv1;rua=mailto:%22a%20b%5C%22c%22@x.example?subject=x", 0, NULL,
     M("\"a b\\\"c\"@x.example"), ""},
    {"v=TLSRPTv1;rua=mailto:%22a%0Db%22@x.example,mailto:%22a%00b%22@x.example,"
     "mailto:%22ab@x.example,mailto:%22a%22b@x.example,mailto:ok@x.example",
     0, NULL, M("ok@x.example"),
     "skipped \"mailto:%22a%0Db%22@x.example\": not one address local@domain\n"
     "skipped \"mailto:%22a%00b%22@x.example\": not one address local@domain\n"
     "skipped \"mailto:%22ab@x.example\": not one address local@domain\n"
     "skipped \"mailto:%22a%22b@x.example\": not one address local@domain"},
    {"v=TLSRPTv1;rua=mailto:%22a%2Cb%22@x.example,mailto:%22a%2cb%22@x.example", 0, NULL,
     M("\"a,b\"@x.example"), "skipped \"mailto:%22a,b%22@x.example\": duplicate"},
    {"v=TLSRPTv1;rua=https://[2001:db8::1]:443/r", 0, NULL, "https https://[2001:db8::1]:443/r",
     ""},
    /* unknown schemes and unusable URIs are skipped and noted */
    {"v=TLSRPTv1;rua=ftp://x.example/r,mailto:a@b.example", 0, NULL, M("a@b.example"),
     "skipped \"ftp://x.example/r\": unsupported scheme \"ftp\""},
    {"v=TLSRPTv1;rua=a@b.example,mailto:c@b.example", 0, NULL, M("c@b.example"),
     "skipped \"a@b.example\": not a URI"},
    {"v=TLSRPTv1;rua=https:///path,https://user@:443/,https:r.example,https://r.example/", 0, NULL,
     "https https://r.example/",
     "skipped \"https:///path\": no host\nskipped \"https://user@:443/\": no host\n"
     "skipped \"https:r.example\": no host"},
    {"v=TLSRPTv1;rua=mailto:,mailto:?to=a@b.example,mailto:a@b@c,mailto:a@b.example", 0, NULL,
     M("a@b.example"),
     "skipped \"mailto:\": not one address local@domain\n"
     "skipped \"mailto:?to=a@b.example\": not one address local@domain\n"
     "skipped \"mailto:a@b@c\": not one address local@domain"},
    /* duplicates are kept once, before the limit is applied */
    {"v=TLSRPTv1;rua=mailto:a@b.example,mailto:a@b.example;rua=mailto:c@b.example", 2, NULL,
     M("a@b.example") "\n" M("c@b.example"), "skipped \"mailto:a@b.example\": duplicate"},
    {"v=TLSRPTv1;rua=mailto:a@b.example,mailto:a%40b.example", 0, NULL, M("a@b.example"),
     "skipped \"mailto:a%40b.example\": duplicate"},
    /* at most max_rua destinations */
    {"v=TLSRPTv1;rua=mailto:a@b.example,mailto:b@b.example,https://c.example/", 2, NULL,
     M("a@b.example") "\n" M("b@b.example"),
     "skipped \"https://c.example/\": more than 2 destinations"},
    /* header injection: the URI is skipped, never decoded into a header */
    {"v=TLSRPTv1;rua=mailto:a@b.example%0D%0ABcc:x@y,mailto:ok@b.example", 0, NULL,
     M("ok@b.example"),
     "skipped \"mailto:a@b.example%0D%0ABcc:x@y\": not one address local@domain"},
    /* a raw CR LF (or any control byte, DEL included) refuses the whole record */
    {"v=TLSRPTv1;rua=mailto:a@b.example\r\nBcc: x@y,mailto:ok@b.example", 0,
     "control character 0x0D at byte 34: a record with a NUL or control character is refused whole",
     NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:ok@b.example,https://r.example/\x7f", 0,
     "control character 0x7F at byte 54: a record with a NUL or control character is refused whole",
     NULL, NULL},
    {"v=TLSRPTv1;\trua=mailto:ok@b.example", 0, NULL, M("ok@b.example"), ""}, /* HTAB is WSP */
    {"v=TLSRPTv1;rua=mailto:<a@b.example>,mailto:%3Ca@b.example%3E,mailto:a%00@b.example,"
     "mailto:ok@b.example",
     0, NULL, M("ok@b.example"),
     "skipped \"mailto:<a@b.example>\": character not allowed in a URI\n"
     "skipped \"mailto:%3Ca@b.example%3E\": not one address local@domain\n"
     "skipped \"mailto:a%00@b.example\": not one address local@domain"},
    {"v=TLSRPTv1;rua=mailto:b\xc3\xbc@b.example,mailto:ok@b.example", 0, NULL, M("ok@b.example"),
     "skipped \"mailto:b\\xC3\\xBC@b.example\": control, space or non-ASCII character in the URI"},
    {"v=TLSRPTv1;rua=mailto:a@b.example c@d.example,mailto:ok@b.example", 0, NULL,
     M("ok@b.example"),
     "skipped \"mailto:a@b.example c@d.example\": control, space or non-ASCII character in the "
     "URI"},
    /* records §3 discards or the grammar refuses */
    {"v=TLSRPTv1 ;rua=mailto:a@b.example", 0, "does not begin with \"v=TLSRPTv1;\"", NULL, NULL},
    {"v=tlsrptv1;rua=mailto:a@b.example", 0, "does not begin with \"v=TLSRPTv1;\"", NULL, NULL},
    {"v=TLSRPTv1", 0, "does not begin with \"v=TLSRPTv1;\"", NULL, NULL},
    {"rua=mailto:a@b.example;v=TLSRPTv1", 0, "does not begin with \"v=TLSRPTv1;\"", NULL, NULL},
    {"", 0, "does not begin with \"v=TLSRPTv1;\"", NULL, NULL},
    {"v=TLSRPTv1;", 0, "no field after v=TLSRPTv1", NULL, NULL},
    {"v=TLSRPTv1; ; ", 0, "empty field", NULL, NULL},
    {"v=TLSRPTv1;;rua=mailto:a@b.example", 0, "empty field", NULL, NULL},
    {"v=TLSRPTv1;rua =mailto:a@b.example", 0, "bad field \"rua =mailto:a@b.example\"", NULL, NULL},
    {"v=TLSRPTv1;rua= mailto:a@b.example", 0, "\"rua=\" must be followed directly by a URI", NULL,
     NULL},
    {"v=TLSRPTv1;rua=", 0, "\"rua=\" must be followed directly by a URI", NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example,", 0, "empty URI in \"rua=mailto:a@b.example,\"", NULL,
     NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example, ,mailto:c@b.example", 0,
     "empty URI in \"rua=mailto:a@b.example, ,mailto:c@b.example\"", NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example ", 0, "white space after the last field", NULL, NULL},
    {"v=TLSRPTv1;x=y", 0, "no rua field", NULL, NULL},
    {"v=TLSRPTv1;RUA=mailto:a@b.example", 0, "no rua field", NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example;x=a b", 0, "bad field \"x=a b\"", NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example;x=", 0, "bad field \"x=\"", NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example;x==y", 0, "bad field \"x==y\"", NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example;_x=y", 0, "bad field \"_x=y\"", NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example;x", 0, "bad field \"x\"", NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example;x=\r\n", 0,
     "control character 0x0D at byte 37: a record with a NUL or control character is refused whole",
     NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example;x=\x7f", 0,
     "control character 0x7F at byte 37: a record with a NUL or control character is refused whole",
     NULL, NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example;abcdefghijklmnopqrstuvwxyz0123456=1", 0,
     "bad field \"abcdefghijklmnopqrstuvwxyz0123456=1\"", NULL, NULL},
    /* no usable destination at all */
    {"v=TLSRPTv1;rua=http://r.example/", 0,
     "no usable rua destination: skipped \"http://r.example/\": unsupported scheme \"http\"", NULL,
     NULL},
    {"v=TLSRPTv1;rua=mailto:a@b.example%0D%0ABcc:x@y", 0,
     "no usable rua destination: skipped \"mailto:a@b.example%0D%0ABcc:x@y\": not one address "
     "local@domain",
     NULL, NULL},
};

START_TEST(test_parse)
{
    struct dns_tlsrpt_record record;
    char *error = NULL;
    size_t max_rua = parse_cases[_i].max_rua ? parse_cases[_i].max_rua : 5;
    int status = dns_tlsrpt_parse(parse_cases[_i].text, max_rua, &record, &error);

    if (parse_cases[_i].error) {
        ck_assert_int_eq(status, -1);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, parse_cases[_i].error);
        ck_assert_ptr_null(record.rua);
        ck_assert_ptr_null(record.text);
        free(error);
        dns_tlsrpt_record_free(&record);
        return;
    }
    if (status != 0)
        ck_abort_msg("unexpected error: %s", error);
    ck_assert_str_eq(record.text, parse_cases[_i].text);
    char *rua = render_rua(&record), *notes = render_notes(&record);
    ck_assert_str_eq(rua, parse_cases[_i].rua);
    ck_assert_str_eq(notes, parse_cases[_i].notes);
    free(rua);
    free(notes);
    dns_tlsrpt_record_free(&record);
    ck_assert_ptr_null(record.rua);
    dns_tlsrpt_record_free(&record); /* twice is harmless */
}
END_TEST

/* A record made of many unusable URIs keeps its notes bounded. */
START_TEST(test_parse_notes_bounded)
{
    struct buf text;
    struct dns_tlsrpt_record record;
    char *error = NULL;

    buf_init(&text);
    buf_puts(&text, "v=TLSRPTv1;rua=mailto:ok@b.example");
    for (int i = 0; i < 100; i++)
        buf_printf(&text, ",x%d:y", i);
    ck_assert_int_eq(dns_tlsrpt_parse(buf_cstr(&text), 5, &record, &error), 0);
    ck_assert_int_eq(record.n_rua, 1);
    ck_assert_int_eq(record.n_notes, 17);
    ck_assert_str_eq(record.notes[0], "skipped \"x0:y\": unsupported scheme \"x0\"");
    ck_assert_str_eq(record.notes[16], "84 more skipped");
    dns_tlsrpt_record_free(&record);
    buf_free(&text);
}
END_TEST

START_TEST(test_status_names)
{
    ck_assert_str_eq(dns_status_name(DNS_FOUND), "found");
    ck_assert_str_eq(dns_status_name(DNS_NONE), "none");
    ck_assert_str_eq(dns_status_name(DNS_TEMPFAIL), "tempfail");
}
END_TEST

static const struct {
    const char *server;
    const char *reason; /* NULL: taken */
} server_cases[] = {
    {"127.0.0.1", NULL},
    {"127.0.0.1:5353", NULL},
    {"::1", NULL},
    {"[::1]", NULL},
    {"[::1]:5353", NULL},
    {"2001:db8::53", NULL},
    {"127.0.0.1:", "bad port (1 to 65535)"},
    {"127.0.0.1:0", "bad port (1 to 65535)"},
    {"127.0.0.1:65536", "bad port (1 to 65535)"},
    {"127.0.0.1:53x", "bad port (1 to 65535)"},
    {"localhost", "not an IP address"},
    {"localhost:53", "not an IP address"},
    {"[::1", "missing ']'"},
    {"[::1]53", "unexpected text after ']'"},
    {"[127.0.0.1.5]:53", "not an IP address"},
    {"", "bad host length"},
};

START_TEST(test_resolver_servers)
{
    const char *servers[] = {"127.0.0.1:9", server_cases[_i].server, NULL};
    char *error = NULL;
    struct dns_resolver *resolver = dns_resolver_create(servers, 1000, &error);

    if (server_cases[_i].reason == NULL) {
        ck_assert_ptr_nonnull(resolver);
        dns_resolver_destroy(resolver);
        return;
    }
    ck_assert_ptr_null(resolver);
    char *expect = xasprintf("DNS server \"%s\": %s; expected an IP address with an optional "
                             "port, as host, host:port or [IPv6]:port",
                             server_cases[_i].server, server_cases[_i].reason);
    ck_assert_str_eq(error, expect);
    free(expect);
    free(error);
}
END_TEST

/* No servers: those of /etc/resolv.conf (read only; nothing is sent). */
START_TEST(test_resolver_system)
{
    const char *none[] = {NULL};
    char *error = NULL;
    struct dns_resolver *resolver = dns_resolver_create(none, 0, &error);

    if (resolver == NULL) {
        ck_assert_msg(strncmp(error, "DNS servers from ", 17) == 0 ||
                          strncmp(error, "no nameserver in ", 17) == 0,
                      "unexpected error: %s", error);
        free(error);
        return;
    }
    dns_resolver_destroy(resolver);
}
END_TEST

static const char *const bad_domains[] = {
    "",
    ".",
    "exa mple.com",
    "example..com",
    ".example.com",
    "b\xc3\xbc"
    "cher.example",
    "x\\046.example",
    "x\".example",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
};

/* Names that cannot be asked are "no record" at once: no packet is sent. */
START_TEST(test_lookup_bad_domain)
{
    /* The discard port: were a packet sent, there would be no answer and no NONE. */
    const char *servers[] = {"127.0.0.1:9", NULL};
    char *error = NULL;
    struct dns_resolver *resolver = dns_resolver_create(servers, 1000, &error);
    struct dns_tlsrpt_answer answer;

    ck_assert_ptr_nonnull(resolver);
    dns_lookup_tlsrpt(resolver, bad_domains[_i], 5, &answer);
    ck_assert_int_eq(answer.status, DNS_NONE);
    ck_assert_str_eq(answer.detail, "invalid domain name");
    ck_assert_int_eq(answer.n_txt, 0);
    ck_assert_int_eq(answer.record.n_rua, 0);
    dns_tlsrpt_answer_free(&answer);
    dns_resolver_destroy(resolver);
}
END_TEST

/* _smtp._tls.<domain> must fit in 253 characters: a 243-character domain does not. */
START_TEST(test_lookup_long_domain)
{
    const char *servers[] = {"127.0.0.1:9", NULL};
    char *error = NULL;
    struct dns_resolver *resolver = dns_resolver_create(servers, 1000, &error);
    struct dns_tlsrpt_answer answer;
    char domain[244];

    memset(domain, 'a', 243);
    domain[243] = '\0';
    for (size_t i = 60; i < 243; i += 61)
        domain[i] = '.';
    dns_lookup_tlsrpt(resolver, domain, 5, &answer);
    ck_assert_int_eq(answer.status, DNS_NONE);
    ck_assert_str_eq(answer.detail, "invalid domain name");
    ck_assert_int_eq(strlen(answer.qname), 254);
    dns_tlsrpt_answer_free(&answer);
    dns_resolver_destroy(resolver);
}
END_TEST

static Suite *dns_suite(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("dns");

    tcase_add_loop_test(tc, test_parse, 0, (int)UTIL_ARRAY_LEN(parse_cases));
    tcase_add_test(tc, test_parse_notes_bounded);
    tcase_add_test(tc, test_status_names);
    tcase_add_loop_test(tc, test_resolver_servers, 0, (int)UTIL_ARRAY_LEN(server_cases));
    tcase_add_test(tc, test_resolver_system);
    tcase_add_loop_test(tc, test_lookup_bad_domain, 0, (int)UTIL_ARRAY_LEN(bad_domains));
    tcase_add_test(tc, test_lookup_long_domain);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(dns_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
