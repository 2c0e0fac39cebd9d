/*
 * check_postfix_log.c - Check suite of the Postfix log parser: tables of
 * real-shaped Postfix 3.7 lines (most captured from the TLS-fault lab) and
 * the exact events they must produce; bad input and limits (time stamps and
 * idle entries are check_postfix_log_time.c's).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "logfollow.h"
#include "util.h"
#include "postfix_log_events.h"

#define HUGE_LINE 20000
#define T_2026_11_22_094621 ((time_t)1795340781)

/* ---- the case table ---- */

static const struct {
    const char *name;
    const char *report_sender;
    const char *lines[10];
    struct expect events[4];
} cases[] = {
    {"trusted at may",
     NULL,
     {P1 "Trusted TLS connection established to mx.ok-may.lab[10.77.0.11]:25" CIPHER,
      P1 "F1660A76084: to=<user1@ok-may.lab>, relay=mx.ok-may.lab[10.77.0.11]:25, delay=0.17, "
         "delays=0.01/0.04/0.06/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as LAB781145)"},
     {OK("ok-may.lab", "mx.ok-may.lab", "10.77.0.11")}},
    {"verified",
     NULL,
     {P1 "Verified TLS connection established to mx.ok-verify.lab[10.77.0.11]:25" CIPHER,
      P1 "2A0A0A76084: to=<User1@OK-Verify.LAB>, relay=mx.ok-verify.lab[10.77.0.11]:25, delay=0.1, "
         "delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as LAB781273)"},
     {OK("ok-verify.lab", "mx.ok-verify.lab", "10.77.0.11")}},
    {"untrusted at may",
     NULL,
     {P1 "Untrusted TLS connection established to mx.expired-may.lab[10.77.0.12]:25" CIPHER,
      P1 "56CCAA7608A: to=<user1@expired-may.lab>, relay=mx.expired-may.lab[10.77.0.12]:25, "
         "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
         "LAB781454)"},
     {OK("expired-may.lab", "mx.expired-may.lab", "10.77.0.12")}},
    {"anonymous, IPv6",
     NULL,
     {P1 "Anonymous TLS connection established to mx.anon.example[2001:db8::25]:25: TLSv1.2 with "
         "cipher ADH-AES256-GCM-SHA384 (256/256 bits)",
      P1 "0A1B2C3D4E: to=<u@anon.example>, relay=mx.anon.example[2001:db8::25]:25, delay=0.1, "
         "delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)"},
     {OK("anon.example", "mx.anon.example", "2001:db8::25")}},
    {"expired",
     NULL,
     {P2 "server certificate verification failed for mx.expired.lab[10.77.0.12]:25: certificate "
         "has expired",
      P2 "Untrusted TLS connection established to mx.expired.lab[10.77.0.12]:25" CIPHER,
      P2 "4042BA76086: to=<user1@expired.lab>, relay=mx.expired.lab[10.77.0.12]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)"},
     {FAIL("expired.lab", TR_RESULT_CERTIFICATE_EXPIRED, "mx.expired.lab", "10.77.0.12",
           "certificate has expired")}},
    {"hostname mismatch",
     NULL,
     {P2 "server certificate verification failed for mx.wrongname.lab[10.77.0.13]:25: "
         "num=62:hostname mismatch",
      P2 "Untrusted TLS connection established to mx.wrongname.lab[10.77.0.13]:25" CIPHER,
      P2
      "6D45CA7604E: to=<user1@wrongname.lab>, relay=mx.wrongname.lab[10.77.0.13]:25, delay=0.01, "
      "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)"},
     {FAIL("wrongname.lab", TR_RESULT_CERTIFICATE_HOST_MISMATCH, "mx.wrongname.lab", "10.77.0.13",
           "num=62:hostname mismatch")}},
    {"self-signed",
     NULL,
     {P1 "certificate verification failed for mx.selfsigned.lab[10.77.0.14]:25: self-signed "
         "certificate",
      P1 "Untrusted TLS connection established to mx.selfsigned.lab[10.77.0.14]:25" CIPHER,
      P1
      "83D9EA7608E: to=<user1@selfsigned.lab>, relay=mx.selfsigned.lab[10.77.0.14]:25, delay=0.01, "
      "delays=0/0/0/0, dsn=4.7.5, status=deferred (Server certificate not verified)"},
     {FAIL("selfsigned.lab", TR_RESULT_CERTIFICATE_NOT_TRUSTED, "mx.selfsigned.lab", "10.77.0.14",
           "self-signed certificate")}},
    {"untrusted issuer",
     NULL,
     {P2 "certificate verification failed for mx.untrusted.lab[10.77.0.15]:25: untrusted issuer "
         "/O=Rogue Lab/CN=Rogue Untrusted CA",
      P2 "Untrusted TLS connection established to mx.untrusted.lab[10.77.0.15]:25" CIPHER,
      P2
      "998AAA76092: to=<user1@untrusted.lab>, relay=mx.untrusted.lab[10.77.0.15]:25, delay=0.01, "
      "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)"},
     {FAIL("untrusted.lab", TR_RESULT_CERTIFICATE_NOT_TRUSTED, "mx.untrusted.lab", "10.77.0.15",
           "untrusted issuer /O=Rogue Lab/CN=Rogue Untrusted CA")}},
    {"DANE tlsa-invalid",
     NULL,
     {P1 "server certificate verification failed for mx.dane-bad.lab[10.77.0.11]:25: num=65:no "
         "matching DANE TLSA records",
      P1 "Untrusted TLS connection established to mx.dane-bad.lab[10.77.0.11]:25" CIPHER,
      P1 "84504A760AB: to=<user1@dane-bad.lab>, relay=mx.dane-bad.lab[10.77.0.11]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)"},
     {DANE("dane-bad.lab", TR_RESULT_TLSA_INVALID, "mx.dane-bad.lab", "10.77.0.11",
           "num=65:no matching DANE TLSA records")}},
    {"sts external policy failure",
     NULL,
     {P1 "server certificate verification failed for mx.sts.example[192.0.2.5]:25: external policy "
         "failure (sts-webpki-invalid)",
      P1 "11AA22BB33: to=<u@sts.example>, relay=mx.sts.example[192.0.2.5]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)"},
     {FAIL("sts.example", TR_RESULT_STS_WEBPKI_INVALID, "mx.sts.example", "192.0.2.5",
           "external policy failure (sts-webpki-invalid)")}},
    {"starttls not offered",
     NULL,
     {P1 "AC311A76096: to=<user1@nostarttls.lab>, relay=mx.nostarttls.lab[10.77.0.16]:25, "
         "delay=0.01, delays=0/0/0.01/0, dsn=4.7.4, status=deferred (TLS is required, but was not "
         "offered by host mx.nostarttls.lab[10.77.0.16])"},
     {FAIL("nostarttls.lab", TR_RESULT_STARTTLS_NOT_SUPPORTED, "mx.nostarttls.lab", "10.77.0.16",
           NULL)}},
    {"starttls refused 454",
     NULL,
     {P2 "4A964A760A6: to=<user1@refuse454.lab>, relay=mx.refuse454.lab[10.77.0.19]:25, "
         "delay=0.01, delays=0/0/0/0, dsn=4.7.0, status=deferred (TLS is required, but host "
         "mx.refuse454.lab[10.77.0.19] refused to start TLS: 454 4.7.0 TLS not available due to "
         "temporary reason)"},
     {FAIL("refuse454.lab", TR_RESULT_STARTTLS_NOT_SUPPORTED, "mx.refuse454.lab", "10.77.0.19",
           NULL)}},
    {"starttls, two recipients: one session",
     NULL,
     {P1 "AC311A76096: to=<a@nostarttls.lab>, relay=mx.nostarttls.lab[10.77.0.16]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=4.7.4, status=deferred (TLS is required, but was not offered by "
         "host mx.nostarttls.lab[10.77.0.16])",
      P1 "AC311A76096: to=<b@nostarttls.lab>, relay=mx.nostarttls.lab[10.77.0.16]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=4.7.4, status=deferred (TLS is required, but was not offered by "
         "host mx.nostarttls.lab[10.77.0.16])"},
     {FAIL("nostarttls.lab", TR_RESULT_STARTTLS_NOT_SUPPORTED, "mx.nostarttls.lab", "10.77.0.16",
           NULL)}},
    {"handshake failure with library reason",
     NULL,
     {P1 "SSL_connect error to mx.tls10.lab[10.77.0.17]:25: -1",
      P1 "warning: TLS library problem: error:0A00042E:SSL routines::tlsv1 alert protocol "
         "version:../ssl/record/rec_layer_s3.c:1602:SSL alert number 70:",
      P1 "D83AFA7609A: to=<user1@tls10.lab>, relay=mx.tls10.lab[10.77.0.17]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)"},
     {FAIL("tls10.lab", TR_RESULT_VALIDATION_FAILURE, "mx.tls10.lab", "10.77.0.17",
           "tlsv1 alert protocol version")}},
    {"handshake failure, lost connection",
     NULL,
     {P2 "SSL_connect error to mx.garbage.lab[10.77.0.18]:25: lost connection",
      P2 "25055A7609E: to=<user1@garbage.lab>, relay=mx.garbage.lab[10.77.0.18]:25, delay=0.01, "
         "delays=0/0/0/0, dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)"},
     {FAIL("garbage.lab", TR_RESULT_VALIDATION_FAILURE, "mx.garbage.lab", "10.77.0.18", NULL)}},
    {"may-level handshake failure, plaintext retry",
     NULL,
     {P1 "SSL_connect error to mx.garbage-may.lab[10.77.0.18]:25: -1",
      P1 "warning: TLS library problem: error:0A00010B:SSL routines::wrong version "
         "number:../ssl/record/ssl3_record.c:350:",
      P1 "38253A760A2: Cannot start TLS: handshake failure",
      P1
      "38253A760A2: to=<user1@garbage-may.lab>, relay=mx.garbage-may.lab[10.77.0.18]:25, delay=22, "
      "delays=22/0/0.02/0.04, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as LAB804309)"},
     {FAIL("garbage-may.lab", TR_RESULT_VALIDATION_FAILURE, "mx.garbage-may.lab", "10.77.0.18",
           "wrong version number")}},
    {"reused connection: no new session",
     NULL,
     {P1 "Verified TLS connection reused to mx.ok-verify.lab[10.77.0.11]:25" CIPHER,
      P1 "2A0A0A76084: to=<user1@ok-verify.lab>, relay=mx.ok-verify.lab[10.77.0.11]:25, delay=0.1, "
         "delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok)"},
     {{NULL}}},
    {"plaintext at may: no event",
     NULL,
     {P2 "BE66EA7609A: to=<user1@nostarttls-may.lab>, relay=mx.nostarttls-may.lab[10.77.0.16]:25, "
         "delay=0.05, delays=0/0/0.01/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
         "LAB781832)"},
     {{NULL}}},
    {"first MX bad, second good",
     NULL,
     {P1 "server certificate verification failed for mx1.mixed.lab[10.77.0.12]:25: certificate has "
         "expired",
      P1 "Untrusted TLS connection established to mx1.mixed.lab[10.77.0.12]:25" CIPHER,
      P1 "5A771A760AB: Server certificate not verified",
      P1 "Verified TLS connection established to mx2.mixed.lab[10.77.0.11]:25" CIPHER,
      P1 "5A771A760AB: to=<user1@mixed.lab>, relay=mx2.mixed.lab[10.77.0.11]:25, delay=0.1, "
         "delays=0/0/0.06/0.04, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as LAB782474)"},
     {FAIL("mixed.lab", TR_RESULT_CERTIFICATE_EXPIRED, "mx1.mixed.lab", "10.77.0.12",
           "certificate has expired"),
      OK("mixed.lab", "mx2.mixed.lab", "10.77.0.11")}},
    {"dane-only without TLSA records",
     NULL,
     {P2 "warning: TLS policy lookup for dane-only.lab/mx.dane-only.lab: no TLSA records found",
      P2 "98FA3A760AD: to=<user1@dane-only.lab>, relay=none, delay=0.01, delays=0/0/0/0, "
         "dsn=4.7.5, status=deferred (no TLSA records found)"},
     {DANE("dane-only.lab", TR_RESULT_DANE_REQUIRED, "mx.dane-only.lab", NULL, NULL)}},
    {"TLSA lookup error",
     NULL,
     {P1 "warning: DANE TLSA lookup problem: Host or domain name not found. Name service error for "
         "name=_25._tcp.mx.dnssec-bogus.lab type=TLSA: Host not found, try again",
      P1 "warning: DANE TLSA lookup problem: Host or domain name not found. Name service error for "
         "name=_25._tcp.mx.dnssec-bogus.lab type=TLSA: Host not found, try again",
      P1 "warning: TLS policy lookup for dnssec-bogus.lab/mx.dnssec-bogus.lab: TLSA lookup error "
         "for mx.dnssec-bogus.lab:25",
      P1 "A98D0A760AF: to=<user1@dnssec-bogus.lab>, relay=none, delay=0.01, delays=0/0/0/0, "
         "dsn=4.7.5, status=deferred (TLSA lookup error for mx.dnssec-bogus.lab:25)"},
     {DANE("dnssec-bogus.lab", TR_RESULT_DNSSEC_INVALID, "mx.dnssec-bogus.lab", NULL, NULL)}},
    {"a policy lookup warning and its lookup error are one session",
     NULL,
     {P1 "warning: TLS policy lookup for dnssec-bogus.lab/mx.dnssec-bogus.lab: TLSA lookup error "
         "for mx.dnssec-bogus.lab:25",
      P1 "warning: TLS policy lookup error for mx.dnssec-bogus.lab/10.77.0.20: TLSA lookup error "
         "for mx.dnssec-bogus.lab:25",
      P1 "C98D0A760AF: to=<user1@dnssec-bogus.lab>, relay=none, delay=0.01, delays=0/0/0/0, "
         "dsn=4.7.5, status=deferred (TLSA lookup error for mx.dnssec-bogus.lab:25)"},
     {DANE("dnssec-bogus.lab", TR_RESULT_DNSSEC_INVALID, "mx.dnssec-bogus.lab", NULL, NULL)}},
    {"TLSA lookup error from the cache",
     NULL,
     {P1 "B98D0A760AF: to=<user1@dnssec-bogus.lab>, relay=none, delay=0.01, delays=0/0/0/0, "
         "dsn=4.7.5, status=deferred (TLSA lookup error for mx.dnssec-bogus.lab:25)"},
     {DANE("dnssec-bogus.lab", TR_RESULT_DNSSEC_INVALID, "mx.dnssec-bogus.lab", NULL, NULL)}},
    {"report mail excluded",
     "noreply-tlsrpt@sender.lab",
     {QM "AC311A76096: from=<noreply-tlsrpt@sender.lab>, size=511, nrcpt=1 (queue active)",
      P1 "Verified TLS connection established to mx.ok-verify.lab[10.77.0.11]:25" CIPHER,
      P1 "AC311A76096: to=<tlsrpt@ok-verify.lab>, relay=mx.ok-verify.lab[10.77.0.11]:25, "
         "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)",
      QM "AC311A76096: removed"},
     {{NULL}}},
    {"VERP-tagged report mail excluded",
     "noreply-tlsrpt@sender.lab",
     {QM "BC311A76096: from=<noreply-tlsrpt+0123456789abcdef-0011223344556677@Sender.lab>, "
         "size=511, nrcpt=1 (queue active)",
      P1 "Verified TLS connection established to mx.ok-verify.lab[10.77.0.11]:25" CIPHER,
      P1 "BC311A76096: to=<tlsrpt@ok-verify.lab>, relay=mx.ok-verify.lab[10.77.0.11]:25, "
         "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)",
      QM "BC311A76096: removed"},
     {{NULL}}},
    {"look-alikes of the VERP form counted",
     "noreply-tlsrpt@sender.lab",
     {QM "CC311A76096: from=<noreply-tlsrpt+@sender.lab>, size=511, nrcpt=1 (queue active)",
      QM "DC311A76096: from=<noreply-tlsrpt+x@other.lab>, size=511, nrcpt=1 (queue active)",
      P1 "Verified TLS connection established to mx.ok-verify.lab[10.77.0.11]:25" CIPHER,
      P1 "CC311A76096: to=<u@ok-verify.lab>, relay=mx.ok-verify.lab[10.77.0.11]:25, delay=0.1, "
         "delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)",
      P2 "Verified TLS connection established to mx.ok-verify.lab[10.77.0.11]:25" CIPHER,
      P2 "DC311A76096: to=<u@ok-verify.lab>, relay=mx.ok-verify.lab[10.77.0.11]:25, delay=0.1, "
         "delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)"},
     {OK("ok-verify.lab", "mx.ok-verify.lab", "10.77.0.11"),
      OK("ok-verify.lab", "mx.ok-verify.lab", "10.77.0.11")}},
    {"other sender counted",
     "noreply-tlsrpt@sender.lab",
     {QM "AC311A76096: from=<lab-sender@sender.lab>, size=511, nrcpt=1 (queue active)",
      P1 "Verified TLS connection established to mx.ok-verify.lab[10.77.0.11]:25" CIPHER,
      P1 "AC311A76096: to=<u@ok-verify.lab>, relay=mx.ok-verify.lab[10.77.0.11]:25, delay=0.1, "
         "delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)"},
     {OK("ok-verify.lab", "mx.ok-verify.lab", "10.77.0.11")}},
    {"TLSRPT: line wins",
     NULL,
     {P1
      "certificate verification failed for mx.example.net[192.0.2.7]:25: self-signed certificate",
      P1 "TLSRPT: status=failure, domain=example.net, receiving_mx=mx.example.net[192.0.2.7], "
         "failure_type=validation_failure, failure_reason=self-signed_certificate",
      P1 "Untrusted TLS connection established to mx.example.net[192.0.2.7]:25" CIPHER,
      P1 "ABCDEF1234: to=<u@example.net>, relay=mx.example.net[192.0.2.7]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)"},
     {FAIL("example.net", TR_RESULT_VALIDATION_FAILURE, "mx.example.net", "192.0.2.7",
           "self-signed_certificate")}},
    {"TLSRPT: success",
     NULL,
     {P1 "Verified TLS connection established to mx.example.org[192.0.2.8]:25" CIPHER,
      P1 "TLSRPT: status=success, domain=example.org, receiving_mx=mx.example.org[192.0.2.8]",
      P1 "ABCDEF1235: to=<u@example.org>, relay=mx.example.org[192.0.2.8]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=2.0.0, status=sent (250 ok)"},
     {OK("example.org", "mx.example.org", "192.0.2.8")}},
    {"postfix-instance/smtp",
     NULL,
     {"Nov 22 09:46:21 sender postfix-out/smtp[4242]: Verified TLS connection established to "
      "mx.i.example[192.0.2.9]:25" CIPHER,
      "Nov 22 09:46:21 sender postfix-out/smtp[4242]: 5F5F5F5F5F: to=<u@i.example>, "
      "relay=mx.i.example[192.0.2.9]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent "
      "(250 ok)"},
     {OK("i.example", "mx.i.example", "192.0.2.9")}},
    {"tlsproxy did the handshake",
     NULL,
     {"Nov 22 09:46:21 sender postfix/tlsproxy[300]: CONNECT to [192.0.2.3]:25",
      "Nov 22 09:46:21 sender postfix/tlsproxy[300]: server certificate verification failed for "
      "mx.p.example[192.0.2.3]:25: certificate has expired",
      "Nov 22 09:46:21 sender postfix/smtp[301]: 6A6A6A6A6A: to=<u@p.example>, "
      "relay=mx.p.example[192.0.2.3]:25, delay=0.01, delays=0/0/0.01/0, dsn=4.7.5, status=deferred "
      "(Server certificate not verified)"},
     {FAIL("p.example", TR_RESULT_CERTIFICATE_EXPIRED, "mx.p.example", "192.0.2.3",
           "certificate has expired")}},
    {"connection reuse: the smtp line of a tlsproxy handshake is the same session",
     NULL,
     {"Nov 22 09:46:21 sender postfix/tlsproxy[1824]: Verified TLS connection established to "
      "mx.reuse.lab[127.0.0.11]:25" CIPHER,
      "Nov 22 09:46:21 sender postfix/smtp[1802]: Verified TLS connection established to "
      "mx.reuse.lab[127.0.0.11]:25" CIPHER,
      "Nov 22 09:46:21 sender postfix/smtp[1802]: 71D7EA7619E: to=<user@reuse.lab>, "
      "relay=mx.reuse.lab[127.0.0.11]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, "
      "status=sent (250 ok)",
      "Nov 22 09:46:22 sender postfix/smtp[1811]: Verified TLS connection reused to "
      "mx.reuse.lab[127.0.0.11]:25" CIPHER,
      "Nov 22 09:46:22 sender postfix/smtp[1811]: 7B896A761A1: to=<user2@reuse.lab>, "
      "relay=mx.reuse.lab[127.0.0.11]:25, conn_use=2, delay=0.1, delays=0/0/0.05/0.05, "
      "dsn=2.0.0, status=sent (250 ok)"},
     {OK("reuse.lab", "mx.reuse.lab", "127.0.0.11")}},
    {"connection reuse: a certificate failure only tlsproxy logs",
     NULL,
     {"Nov 22 09:46:21 sender postfix/tlsproxy[1824]: server certificate verification failed for "
      "mx.reuse-expired.lab[127.0.0.12]:25: certificate has expired",
      "Nov 22 09:46:21 sender postfix/tlsproxy[1824]: Untrusted TLS connection established to "
      "mx.reuse-expired.lab[127.0.0.12]:25" CIPHER,
      "Nov 22 09:46:21 sender postfix/smtp[1811]: Untrusted TLS connection established to "
      "mx.reuse-expired.lab[127.0.0.12]:25" CIPHER,
      "Nov 22 09:46:21 sender postfix/smtp[1811]: 77250A761A0: to=<user@reuse-expired.lab>, "
      "relay=mx.reuse-expired.lab[127.0.0.12]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=4.7.5, "
      "status=deferred (Server certificate not verified)"},
     {FAIL("reuse-expired.lab", TR_RESULT_CERTIFICATE_EXPIRED, "mx.reuse-expired.lab", "127.0.0.12",
           "certificate has expired")}},
    {"interleaved sessions of two pids",
     NULL,
     {P1 "Verified TLS connection established to mx.ok-verify.lab[10.77.0.11]:25" CIPHER,
      P2 "server certificate verification failed for mx.expired.lab[10.77.0.12]:25: certificate "
         "has expired",
      P2 "Untrusted TLS connection established to mx.expired.lab[10.77.0.12]:25" CIPHER,
      P1 "2A0A0A76084: to=<user1@ok-verify.lab>, relay=mx.ok-verify.lab[10.77.0.11]:25, delay=0.1, "
         "delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)",
      P2 "4042BA76086: to=<user1@expired.lab>, relay=mx.expired.lab[10.77.0.12]:25, delay=0.01, "
         "delays=0/0/0.01/0, dsn=4.7.5, status=deferred (Server certificate not verified)"},
     {OK("ok-verify.lab", "mx.ok-verify.lab", "10.77.0.11"),
      FAIL("expired.lab", TR_RESULT_CERTIFICATE_EXPIRED, "mx.expired.lab", "10.77.0.12",
           "certificate has expired")}},
    {"failed MX never tied: dropped at flush",
     NULL,
     {P1 "server certificate verification failed for mx1.mixed.lab[10.77.0.12]:25: certificate has "
         "expired",
      P1 "5A771A760AB: Server certificate not verified"},
     {{NULL}}},
    {"other programs skipped",
     NULL,
     {"Nov 22 09:46:21 sender postfix/smtpd[77]: Verified TLS connection established from "
      "x[192.0.2.1]:25",
      "Nov 22 09:46:21 sender postfix/lmtp[78]: 5A771A760AB: to=<u@x.example>, "
      "relay=x[private/lmtp], status=sent (ok)"},
     {{NULL}}},
};

START_TEST(test_cases)
{
    struct recorder rec = {.n = 0};
    struct lf_parser *parser = parser_new(&rec, cases[_i].report_sender);
    size_t n_want = 0;

    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases[_i].lines) && cases[_i].lines[i] != NULL; i++)
        feed(parser, cases[_i].lines[i]);
    lf_parser_flush(parser);
    while (n_want < UTIL_ARRAY_LEN(cases[_i].events) && cases[_i].events[n_want].domain != NULL)
        n_want++;
    ck_assert_msg(rec.n == n_want, "%s: %zu events, want %zu", cases[_i].name, rec.n, n_want);
    for (size_t i = 0; i < n_want; i++) {
        expect_event(rec.events[i], &cases[_i].events[i]);
        ck_assert_int_eq(rec.events[i]->time, T_2026_11_22_094621);
    }
    ck_assert_uint_eq(lf_parser_stats(parser)->events, n_want);
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

START_TEST(test_own_reports_and_untied_counted)
{
    struct recorder rec = {.n = 0};
    struct lf_parser *parser = parser_new(&rec, "noreply-tlsrpt@sender.lab");
    const struct lf_stats *stats = lf_parser_stats(parser);

    feed(parser,
         QM "AC311A76096: from=<NoReply-TLSRPT@sender.lab>, size=511, nrcpt=1 (queue active)");
    feed(parser, P1 "AC311A76096: to=<t@nostarttls.lab>, relay=mx.nostarttls.lab[10.77.0.16]:25, "
                    "dsn=4.7.4, status=deferred (TLS is required, but was not offered by host "
                    "mx.nostarttls.lab[10.77.0.16])");
    ck_assert_uint_eq(stats->own_reports, 1);
    feed(parser, P2 "server certificate verification failed for mx1.mixed.lab[10.77.0.12]:25: "
                    "certificate has expired");
    lf_parser_flush(parser);
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_UNTIED], 1);
    ck_assert_uint_eq(stats->events, 0);
    ck_assert_uint_eq(stats->relevant, 3);
    ck_assert_uint_eq(rec.n, 0);
    lf_parser_destroy(parser);
}
END_TEST

START_TEST(test_dane_only_flush_uses_lookup_domain)
{
    struct recorder rec = {.n = 0};
    struct lf_parser *parser = parser_new(&rec, NULL);

    feed(parser,
         P2 "warning: TLS policy lookup for dane-only.lab/mx.dane-only.lab: no TLSA records found");
    ck_assert_uint_eq(rec.n, 0);
    lf_parser_flush(parser);
    ck_assert_uint_eq(rec.n, 1);
    expect_event(rec.events[0], &(struct expect)DANE("dane-only.lab", TR_RESULT_DANE_REQUIRED,
                                                     "mx.dane-only.lab", NULL, NULL));
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

START_TEST(test_supplement)
{
    struct recorder rec = {.n = 0};
    struct lf_settings settings = {.format = LF_POSTFIX, .now = NOW_2026_11_23, .supplement = true};
    struct lf_parser *parser = lf_parser_create(&settings, record, &rec);

    for (size_t c = 0; c < UTIL_ARRAY_LEN(cases); c++)
        for (size_t i = 0; i < UTIL_ARRAY_LEN(cases[c].lines) && cases[c].lines[i] != NULL; i++)
            feed(parser, cases[c].lines[i]);
    lf_parser_flush(parser);
    /* Only dane-required and dnssec-invalid: datagrams never carry those. */
    ck_assert_uint_eq(rec.n, 4);
    for (size_t i = 0; i < rec.n; i++) {
        enum tr_result result = rec.events[i]->policies[0].failures[0].result;
        ck_assert(result == TR_RESULT_DANE_REQUIRED || result == TR_RESULT_DNSSEC_INVALID);
    }
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

/* ---- bad input ---- */

START_TEST(test_malformed)
{
    struct recorder rec = {.n = 0};
    struct lf_parser *parser = parser_new(&rec, NULL);
    const struct lf_stats *stats = lf_parser_stats(parser);
    char *huge = xmalloc(HUGE_LINE + 100);

    feed(parser, "garbage without any shape");
    feed(parser, "Nov 31 09:46:21 sender postfix/smtp[1]: Verified TLS connection established to "
                 "a[192.0.2.1]:25");
    feed(parser, "2026-13-01T00:00:00Z sender postfix/smtp[1]: x");
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_BAD_TIMESTAMP], 3);
    feed(parser, P1 "Verified TLS connection established to mx.a.example[192.0.2.300]:25" CIPHER);
    feed(parser, P1 "Verified TLS connection established to mx..a.example[192.0.2.1]:25" CIPHER);
    feed(parser, P1 "AC311A76096: to=<user-without-domain>, relay=mx.a.example[192.0.2.1]:25, "
                    "status=sent (ok)");
    feed(parser,
         P1 "AC311A76096: to=<u@[192.0.2.1]>, relay=mx.a.example[192.0.2.1]:25, status=sent (ok)");
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_BAD_ADDRESS], 4);
    memcpy(huge, P1, strlen(P1));
    memset(huge + strlen(P1), 'x', HUGE_LINE + 99 - strlen(P1));
    huge[HUGE_LINE + 99] = '\0';
    feed(parser, huge);
    feed(parser, P1 "Verified TLS connection established to mx.\xff\xfe.example[192.0.2.1]:25");
    feed(parser, P1 "Verified TLS connection established to mx.a.example[192.0.2.1]:25\x01");
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_BAD_TEXT], 3);
    feed(parser, "Nov 22 09:46:21 sender kernel: \xff not ours");
    ck_assert_uint_eq(stats->rejected, 10);
    ck_assert_uint_eq(stats->lines, 11);
    /* The parser carries on. */
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases[0].lines) && cases[0].lines[i] != NULL; i++)
        feed(parser, cases[0].lines[i]);
    ck_assert_uint_eq(rec.n, 1);
    free(huge);
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

START_TEST(test_session_overflow)
{
    struct recorder rec = {.n = 0};
    struct lf_parser *parser = parser_new(&rec, NULL);
    const struct lf_stats *stats = lf_parser_stats(parser);
    char line[512];

    for (int pid = 1; pid <= 4096 + 10; pid++) {
        snprintf(line, sizeof(line),
                 "Nov 22 09:46:21 sender postfix/smtp[%d]: Verified TLS connection established to "
                 "mx.a.example[192.0.2.1]:25" CIPHER,
                 pid);
        feed(parser, line);
    }
    ck_assert_uint_eq(stats->rejected_by[LF_REJECT_TOO_MANY], 10);
    /* The oldest session was dropped; a recent one still completes. */
    feed(parser, "Nov 22 09:46:21 sender postfix/smtp[1]: AC311A76096: to=<u@a.example>, "
                 "relay=mx.a.example[192.0.2.1]:25, status=sent (ok)");
    ck_assert_uint_eq(rec.n, 0);
    feed(parser, "Nov 22 09:46:21 sender postfix/smtp[4106]: AC311A76096: to=<u@a.example>, "
                 "relay=mx.a.example[192.0.2.1]:25, status=sent (ok)");
    ck_assert_uint_eq(rec.n, 1);
    recorder_free(&rec);
    lf_parser_destroy(parser);
}
END_TEST

START_TEST(test_names)
{
    enum lf_format format;

    ck_assert_int_eq(lf_format_from_name("postfix", &format), 0);
    ck_assert_int_eq(format, LF_POSTFIX);
    ck_assert_int_eq(lf_format_from_name("sendmail", &format), 0);
    ck_assert_int_eq(format, LF_SENDMAIL);
    ck_assert_int_eq(lf_format_from_name("exim", &format), -1);
    ck_assert_str_eq(lf_reject_name(LF_REJECT_BAD_TIMESTAMP), "bad-timestamp");
    ck_assert_str_eq(lf_reject_name(LF_REJECT_TOO_MANY), "too-many");
}
END_TEST

static Suite *postfix_log_suite(void)
{
    Suite *s = suite_create("postfix_log");
    TCase *tc = tcase_create("postfix_log");

    tcase_add_loop_test(tc, test_cases, 0, (int)UTIL_ARRAY_LEN(cases));
    tcase_add_test(tc, test_own_reports_and_untied_counted);
    tcase_add_test(tc, test_dane_only_flush_uses_lookup_domain);
    tcase_add_test(tc, test_supplement);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_session_overflow);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return postfix_log_run_suite(postfix_log_suite());
}
