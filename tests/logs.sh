#!/bin/sh
# logs.sh - `tlsrpt ingest` of mail logs: a real Postfix 3.7 log and a real
# Sendmail 8.17 log, captured in the reference TLS-fault lab (one message per
# domain plus one retry), give exactly the sessions and failure types each
# fault must produce.
. "$(dirname "$0")/lib.sh"
export TZ=UTC
write_config

# table: the lab day's counters (counter_table of lib.sh).
table() {
    counter_table "$TLSRPTD_CONFIG" 2026-11-22
}

out=$("$TLSRPT" ingest --format postfix --year 2026 "$top_srcdir/tests/data/postfix-3.7-lab.log" 2>/dev/null)
assert_eq "ingest of the lab log: what was counted" \
    "264 lines, 157 from the MTA's delivery agents: 40 TLS sessions counted (2026-11-22)" "$out"

summary=$(table)
assert_eq "every lab domain: policy, successes, failures, result types" \
"dane-bad.lab tlsa/mx.dane-bad.lab 0 2 tlsa-invalid=2
dane-ok.lab no-policy-found 1 0 
dane-only.lab tlsa/mx.dane-only.lab 0 2 dane-required=2
dnssec-bogus.lab tlsa/mx.dnssec-bogus.lab 0 2 dnssec-invalid=2
expired-may.lab no-policy-found 1 0 
expired.lab no-policy-found 0 2 certificate-expired=2
garbage-may.lab no-policy-found 0 2 validation-failure=2
garbage.lab no-policy-found 0 2 validation-failure=1,validation-failure=1
mixed.lab no-policy-found 1 1 certificate-expired=1
nostarttls.lab no-policy-found 0 2 starttls-not-supported=2
ok-encrypt.lab no-policy-found 1 0 
ok-may.lab no-policy-found 1 0 
ok-verify.lab no-policy-found 1 0 
refuse454.lab no-policy-found 0 2 starttls-not-supported=2
selfsigned.lab no-policy-found 0 2 certificate-not-trusted=2
sts-badcert.lab no-policy-found 0 2 certificate-host-mismatch=2
sts-fetcherr.lab no-policy-found 1 0 
sts-invalid.lab no-policy-found 1 0 
sts-ok.lab no-policy-found 1 0 
sts-webpki.lab no-policy-found 1 0 
tls10-legacy.lab no-policy-found 1 0 
tls10-may.lab no-policy-found 0 2 validation-failure=2
tls10.lab no-policy-found 0 2 validation-failure=2
untrusted.lab no-policy-found 0 2 certificate-not-trusted=2
wrongname.lab no-policy-found 0 2 certificate-host-mismatch=2" "$summary"
assert_match "plaintext at level may is not a TLS session" '^$' \
    "$(echo "$summary" | grep -E '^nostarttls-may.lab ')"

# The same log again is counted again (the follower's checkpoints are what prevent that).
"$TLSRPT" ingest --format postfix --year 2026 "$top_srcdir/tests/data/postfix-3.7-lab.log" >/dev/null 2>&1
assert_match "a second ingest adds to the counts" '"total-failure-session-count": 4,' \
    "$("$TLSRPT" counters --day 2026-11-22 --domain expired.lab --json)"
out=$("$TLSRPT" ingest --format exim "$T/none" 2>&1); status=$?
assert_eq "an unknown format is refused" 2 "$status"
assert_match "naming the ones there are" "libtlsrpt, postfix, sendmail" "$out"

# A central log server: two hosts with the same pids, their lines interleaved
# one by one, count twice what one host counts (sessions keyed by host too).
rm -rf "$T/state"
"$TLSRPT" ingest --format postfix --year 2026 "$top_srcdir/tests/data/postfix-3.7-lab.log" >/dev/null 2>&1
once=$(table | awk '{ $3 *= 2; $4 *= 2; n = split($5, r, ","); out = "";
    for (i = 1; i <= n; i++) { split(r[i], kv, "="); out = out (i > 1 ? "," : "") kv[1] "=" kv[2] * 2 }
    $5 = out; print }' | sed 's/ $//')
rm -rf "$T/state"
sed 's/^\(.\{15\}\) sender /\1 sender2 /' "$top_srcdir/tests/data/postfix-3.7-lab.log" |
    paste -d '\n' "$top_srcdir/tests/data/postfix-3.7-lab.log" - >"$T/central.log"
"$TLSRPT" ingest --format postfix --year 2026 "$T/central.log" >/dev/null 2>&1
assert_eq "two hosts, same pids, lines interleaved: each session counted for its host" \
    "$once" "$(table | sed 's/ $//')"

# A real Sendmail 8.17 log from the reference lab (LogLevel 14; one message per
# domain and one queue run). Debian's Sendmail has no DANE: the dane domains,
# whose MX certificates are valid, are plain successes. verify=FAIL without
# a TLS requirement (expired-may) is opportunistic TLS that worked: a success,
# as Postfix's "may" (doc/SENDMAIL.md).
rm -rf "$T/state"
out=$("$TLSRPT" ingest --format sendmail --year 2026 "$top_srcdir/tests/data/sendmail-8.17-lab.log" 2>/dev/null)
assert_eq "ingest of the Sendmail lab log: what was counted" \
    "484 lines, 483 from the MTA's delivery agents: 32 TLS sessions counted (2026-11-22)" "$out"
assert_eq "every Sendmail lab domain: policy, successes, failures, result types" \
"dane-bad.lab no-policy-found 1 0 
dane-ok.lab no-policy-found 1 0 
dane-only.lab no-policy-found 1 0 
dnssec-bogus.lab no-policy-found 1 0 
expired-may.lab no-policy-found 1 0 
expired.lab no-policy-found 0 2 certificate-expired=2
garbage-may.lab no-policy-found 0 1 validation-failure=1
garbage.lab no-policy-found 0 2 validation-failure=2
mixed.lab no-policy-found 1 1 certificate-expired=1
nostarttls.lab no-policy-found 0 2 starttls-not-supported=2
ok-encrypt.lab no-policy-found 1 0 
ok-may.lab no-policy-found 1 0 
ok-verify.lab no-policy-found 1 0 
refuse454.lab no-policy-found 0 2 starttls-not-supported=2
selfsigned.lab no-policy-found 0 2 certificate-not-trusted=2
sts-badcert.lab no-policy-found 0 2 certificate-host-mismatch=2
sts-ok.lab no-policy-found 1 0 
tls10-legacy.lab no-policy-found 1 0 
tls10-may.lab no-policy-found 0 1 validation-failure=1
tls10.lab no-policy-found 0 2 validation-failure=2
untrusted.lab no-policy-found 0 2 certificate-not-trusted=2
wrongname.lab no-policy-found 0 2 certificate-host-mismatch=2" "$(table)"
assert_match "plaintext without a TLS requirement is no session" '^$' \
    "$(table | grep -E '^nostarttls-may.lab ')"
finish
