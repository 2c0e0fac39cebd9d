#!/bin/sh
# milter_dsn.sh - bounces of report mail caught by tlsrpt-milter: a report
# is delivered to the SMTP sink on 127.0.0.1 with a VERP envelope sender
# (taken from what the sink received), then Postfix-style DSNs to that
# address go through the milter (miltertest plays the MTA): Postfix's 550 bounce is
# discarded and fails and suppresses the destination, the same bounce again
# is quarantined (milter_dsn_action) and changes nothing, Sendmail's delay is
# accepted and shown, a forged tag is passed on untouched.
. "$(dirname "$0")/lib.sh"
command -v miltertest >/dev/null 2>&1 || skip "miltertest not found (apt-get install miltertest)"
SCRIPTS="$top_srcdir/tests/milter"
DAY=2025-07-01
start_sinks
dns_localhost >"$T/dns.data"
start_dns "$T/dns.data"
make_dkim_key
PORT=$(free_port)
write_config "tlsrptd_user = $(test_user)" "report_spread = 0" \
    "relayhost = [127.0.0.1]:$SMTP_PORT" "dkim_selector = tlsrpt1" "dkim_key_file = $T/dkim.key" \
    "dns_resolvers = 127.0.0.1:$DNS_PORT" "dns_timeout = 2s" "delivery_timeout = 10s" \
    "suppress_after_failures = 1" "control_socket = $T/run/none.sock" \
    "milter_socket = inet:$PORT@127.0.0.1" "milter_prefetch = no"

printf '{"dpv": "1","d": "mail.example","pr": "v=TLSRPTv1;rua=mailto:tlsrpt@mail.example","policies":[{"policy-type":9,"t":0,"f":0}]}\n' \
    >"$T/day.jsonl"
"$TLSRPT" ingest --format libtlsrpt --day "$DAY" "$T/day.jsonl" >/dev/null 2>&1
"$TLSRPT" run --day "$DAY" >"$T/run.out" 2>"$T/run.err"
assert_eq "the report is delivered to the sink" "$DAY: 1 reports added to the outbox
1 delivery attempts made" "$(cat "$T/run.out")"
VERP=$(sed -n 's/^MAIL FROM:<\([^>]*\)>.*/\1/p' "$T/smtp/"*.cmd)
assert_match "its envelope sender is a VERP address" \
    '^noreply-tlsrpt\+[0-9a-f]{16}-[0-9a-f]{16}@sender\.example$' "$VERP"

dsn_through_milter() { # NAME RECIPIENT FILE
    out=$(miltertest -D "SOCK=inet:$PORT@127.0.0.1" -D "DIR=$SCRIPTS" -D "NAME=$1" -D "RCPT=$2" \
        -D "FILE=$3" -s "$SCRIPTS/dsn_file.lua" 2>&1)
    echo "$out (exit $?)"
}
# Real DSNs (tests/data/dsn: Postfix's bounce(8), Sendmail's delay) readdressed to our VERP.
DATA="$top_srcdir/tests/data/dsn"
sed "s/noreply-tlsrpt+[0-9a-f-]*@sender.example/$VERP/" "$DATA/postfix-failed.eml" >"$T/bounce.eml"
sed -e "s/noreply-tlsrpt+[0-9a-f-]*@sender.example/$VERP/" -e 's/slow\.example/mail.example/g' \
    "$DATA/sendmail-delayed.eml" >"$T/delay.eml"

start_milter
assert_eq "a 550 bounce: discarded (milter_dsn_action = discard)" \
    "bounce: eom=discard tls-required=no quarantine=no (exit 0)" \
    "$(dsn_through_milter bounce "$VERP" "$T/bounce.eml")"
assert_match "tlsrpt queue: bounced with the remote reason" \
    "mailto:tlsrpt@mail\\.example +bounced +1 +- +bounced: 550 5\\.1\\.1 <tlsrpt@mail\\.example>: Recipient address rejected: User unknown in virtual mailbox table\$" \
    "$("$TLSRPT" queue)"
assert_match "the destination is suppressed (suppress_after_failures = 1)" \
    "^mailto:tlsrpt@mail\\.example +[0-9-]+ [0-9:]+ +1 +automatic\$" "$("$TLSRPT" suppress list)"
FORGED=$(echo "$VERP" | sed 's/-[0-9a-f]\{16\}@/-0000000000000000@/')
assert_eq "a forged tag: passed on untouched" \
    "forged: eom=continue tls-required=no quarantine=no (exit 0)" \
    "$(dsn_through_milter forged "$FORGED" "$T/bounce.eml")"
stop_milter

start_milter -o milter_dsn_action=quarantine
assert_eq "the same bounce again: matched, quarantined" \
    "again: eom=accept tls-required=no quarantine=yes (exit 0)" \
    "$(dsn_through_milter again "$VERP" "$T/bounce.eml")"
stop_milter
assert_match "logged: seen before, changes nothing" \
    "bounce to $(printf '%s' "$VERP" | sed 's/[+.]/\\&/g'): report .*, destination mailto:tlsrpt@mail.example: failed 5.1.1 .* -> failed, seen before" \
    "$(cat "$T/milter.log")"

start_milter -o milter_dsn_action=accept
assert_eq "a delay: matched, accepted (delivered to the report sender too)" \
    "delay: eom=accept tls-required=no quarantine=no (exit 0)" \
    "$(dsn_through_milter delay "$VERP" "$T/delay.eml")"
stop_milter
assert_eq "the milter's totals" \
    "tlsrpt-milter: stopping: 1 messages; report mail 0 (TLS-Required added 0, queue id told 0, not told 0, without queue id 0); bounces 1 (matched 1, passed on 0, too large 0); prefetch: queued 0, recent 0, dropped 0, sent 0, failed 0" \
    "$(grep stopping: "$T/milter.log")"
out=$("$TLSRPT" status 2>/dev/null)
assert_eq "tlsrpt status: the DSN counters" "dsn.matched       3
dsn.unmatched     1
dsn.suppressions  1" "$out"
finish
