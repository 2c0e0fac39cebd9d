#!/bin/sh
# dsn.sh - a bounce of report mail finds its destination: reports are built
# and delivered to the SMTP sink on 127.0.0.1 with a VERP envelope sender
# (checked exactly, the MAC recomputed here from verp.key), then DSNs for
# them go through `tlsrpt dsn`: a 550 bounce fails the destination with the
# remote reason, a delay is only shown, a repeated DSN changes nothing, a
# forged tag and a non-DSN are refused; the second bounce in a row (over two
# days, the relay accepting in between) suppresses the destination; the
# counters are in `tlsrpt status` without a daemon.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
DAY1=2025-07-01
DAY2=2025-07-02
USER_NAME=$(test_user)
start_sinks
dns_localhost >"$T/dns.data"
start_dns "$T/dns.data"
make_dkim_key
write_config "tlsrptd_user = $USER_NAME" "report_spread = 0" \
    "relayhost = [127.0.0.1]:$SMTP_PORT" "dkim_selector = tlsrpt1" "dkim_key_file = $T/dkim.key" \
    "dns_resolvers = 127.0.0.1:$DNS_PORT" "dns_timeout = 2s" "delivery_timeout = 10s" \
    "suppress_after_failures = 2" "control_socket = $T/run/none.sock"

datagram() { # DOMAIN RUA
    printf '{"dpv": "1","d": "%s","pr": "v=TLSRPTv1;rua=%s","policies":[{"policy-type":9,"t":0,"f":0}]}\n' "$1" "$2"
}
{
    datagram bounce.example mailto:tlsrpt@bounce.example
    datagram slow.example mailto:tlsrpt@slow.example
} >"$T/day1.jsonl"
datagram bounce.example mailto:tlsrpt@bounce.example >"$T/day2.jsonl"
"$TLSRPT" ingest --format libtlsrpt --day "$DAY1" "$T/day1.jsonl" >/dev/null 2>&1
"$TLSRPT" ingest --format libtlsrpt --day "$DAY2" "$T/day2.jsonl" >/dev/null 2>&1
assert_eq "the default is VERP with +" "report_verp_delimiter = +" \
    "$("$TLSRPT" conf report_verp_delimiter)"

"$TLSRPT" run --day "$DAY1" >"$T/run1.out" 2>"$T/run1.err"
assert_eq "the day is enqueued and delivered" "$DAY1: 2 reports added to the outbox
2 delivery attempts made" "$(cat "$T/run1.out")" || cat "$T/run1.err"
assert_eq "the VERP key is made on first use, 0600" "600 65" \
    "$(stat -c %a "$T/state/verp.key") $(wc -c <"$T/state/verp.key")"

# vars DAY DOMAIN: "UNIQUE_ID REPORT_ID TAG" of the day's report for DOMAIN, the tag recomputed.
vars() {
    "$TLSRPT" queue --json | python3 -c 'import hashlib, hmac, json, sys
day, domain, keyfile = sys.argv[1:]
key = bytes.fromhex(open(keyfile).read().strip())
for e in json.load(sys.stdin):
    if e["day"] == day and e["policy_domain"] == domain:
        unique = e["file"].rsplit("!", 1)[1].split(".")[0]
        uri = e["destinations"][0]["uri"]
        mac = hmac.new(key, unique.encode() + b"\0" + uri.encode(), hashlib.sha256).hexdigest()[:16]
        print(unique, e["report_id"], unique + "-" + mac)' "$1" "$2" "$T/state/verp.key"
}
set -- $(vars "$DAY1" bounce.example); B_ID=$1 B_REPORT=$2 B_TAG=$3
set -- $(vars "$DAY1" slow.example); S_REPORT=$2 S_TAG=$3
B_VERP="noreply-tlsrpt+$B_TAG@sender.example"
S_VERP="noreply-tlsrpt+$S_TAG@sender.example"
assert_match "the tag is the report's unique id and 16 hex digits of MAC" \
    "^[0-9a-f]{16}-[0-9a-f]{16}\$" "$B_TAG"
env=$(grep -lxF "to=tlsrpt@bounce.example" "$T/smtp/"*.env)
assert_eq "the exact MAIL FROM carries the VERP tag" "MAIL FROM:<$B_VERP>" \
    "$(grep '^MAIL' "${env%.env}.cmd" | cut -d' ' -f1,2)"
env=$(grep -lxF "to=tlsrpt@slow.example" "$T/smtp/"*.env)
assert_eq "each destination its own tag" "MAIL FROM:<$S_VERP>" "$(grep '^MAIL' "${env%.env}.cmd" | cut -d' ' -f1,2)"
assert_eq "the From: header stays report_from" "From: noreply-tlsrpt@sender.example" \
    "$(sed '/^\r\?$/q' "${env%.env}.eml" | tr -d '\r' | grep '^From:')"
assert_match "tlsrpt queue: accepted by relay, not delivered" \
    "mailto:tlsrpt@bounce\\.example +accepted by relay +1 +- *\$" "$("$TLSRPT" queue)"

# postfix_dsn TO ACTION STATUS DIAGNOSTIC: a DSN as Postfix's bounce(8) writes it.
postfix_dsn() {
    cat <<EOF
Return-Path: <>
Date: Thu,  3 Jul 2025 10:00:05 +0000 (UTC)
From: MAILER-DAEMON@relay.sender.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: $1
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4bXyZ12345.1751536805/relay.sender.example"

This is a MIME-encapsulated message.

--4bXyZ12345.1751536805/relay.sender.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host relay.sender.example.

--4bXyZ12345.1751536805/relay.sender.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.sender.example
X-Postfix-Queue-ID: 4bXyZ12345
Arrival-Date: Thu,  3 Jul 2025 10:00:01 +0000 (UTC)

Final-Recipient: rfc822; tlsrpt@bounce.example
Original-Recipient: rfc822;tlsrpt@bounce.example
Action: $2
Status: $3
Remote-MTA: dns; mx.bounce.example
Diagnostic-Code: smtp; $4

--4bXyZ12345.1751536805/relay.sender.example
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: noreply-tlsrpt@sender.example
TLS-Report-Domain: bounce.example

--4bXyZ12345.1751536805/relay.sender.example--
EOF
}
REASON='550 5.1.1 <tlsrpt@bounce.example>: Recipient address rejected: User unknown'
postfix_dsn "$B_VERP" failed 5.1.1 "$REASON" >"$T/bounce1.eml"
out=$("$TLSRPT" dsn <"$T/bounce1.eml" 2>"$T/dsn1.err"); status=$?
assert_eq "a 550 bounce (recipient from its To: header) is matched" "0 matched=yes
report_id=$B_REPORT
destination=mailto:tlsrpt@bounce.example
action=failed
status=5.1.1
detail=$REASON
state=failed
changed=yes
suppressed=no" "$status $out" || cat "$T/dsn1.err"
state_of() { # DAY DOMAIN -> "state status attempts last_error | dsn action detail"
    "$TLSRPT" queue --json | python3 -c 'import json,sys
for e in json.load(sys.stdin):
    if e["day"] == sys.argv[1] and e["policy_domain"] == sys.argv[2]:
        d = e["destinations"][0]
        dsn = d["dsn"] or {}
        print(d["state"], d["status"], d["attempts"], d["last_error"], "|",
              dsn.get("action"), dsn.get("detail"))' "$1" "$2"
}
assert_eq "the destination is failed with the remote reason" \
    "failed bounced 1 bounced: $REASON | failed $REASON" "$(state_of "$DAY1" bounce.example)"
assert_match "tlsrpt queue shows the bounce" \
    "mailto:tlsrpt@bounce\\.example +bounced +1 +- +bounced: 550 5\\.1\\.1 <tlsrpt@bounce\\.example>: Recipient address rejected: User unknown\$" \
    "$("$TLSRPT" queue)"
assert_match "one failure in a row, not yet suppressed (after 2)" \
    "^mailto:tlsrpt@bounce\\.example +- +1 +automatic\$" "$("$TLSRPT" suppress list)"

out=$("$TLSRPT" dsn --recipient "$B_VERP" <"$T/bounce1.eml" 2>&1); status=$?
assert_eq "the same DSN again is matched but changes nothing" "0 changed=no (seen before)" \
    "$status $(echo "$out" | grep '^changed=')"

# Sendmail's delayed DSN, the recipient as Postfix's local(8) exports it to a command.
cat >"$T/delay.eml" <<EOF
Return-Path: <MAILER-DAEMON@relay.sender.example>
Date: Thu, 3 Jul 2025 14:00:05 GMT
From: Mail Delivery Subsystem <MAILER-DAEMON@relay.sender.example>
To: <someone-else@sender.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="563E05Xa012345.1751551205/relay.sender.example"
Subject: Warning: could not send message for past 4 hours
Auto-Submitted: auto-generated (warning-timeout)

This is a MIME-encapsulated message

--563E05Xa012345.1751551205/relay.sender.example

    **********************************************
    **      THIS IS A WARNING MESSAGE ONLY      **
    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **
    **********************************************

--563E05Xa012345.1751551205/relay.sender.example
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.sender.example
Arrival-Date: Thu, 3 Jul 2025 10:00:01 GMT

Final-Recipient: RFC822; tlsrpt@slow.example
Action: delayed
Status: 4.4.7
Remote-MTA: DNS; mx.slow.example
Diagnostic-Code: SMTP; 451 4.4.0 mx.slow.example: Connection timed out
Last-Attempt-Date: Thu, 3 Jul 2025 14:00:05 GMT
Will-Retry-Until: Thu, 8 Jul 2025 10:00:01 GMT

--563E05Xa012345.1751551205/relay.sender.example
Content-Type: text/rfc822-headers

From: noreply-tlsrpt@sender.example
TLS-Report-Domain: slow.example

--563E05Xa012345.1751551205/relay.sender.example--
EOF
out=$(ORIGINAL_RECIPIENT="$S_VERP" "$TLSRPT" dsn <"$T/delay.eml" 2>&1); status=$?
assert_eq "a delayed DSN is matched, the state stays" "0 action=delayed state=delivered" \
    "$status $(echo "$out" | grep -E '^(action|state)=' | tr '\n' ' ' | sed 's/ $//')"
assert_eq "and shown" \
    "delivered delayed 1 None | delayed 451 4.4.0 mx.slow.example: Connection timed out" \
    "$(state_of "$DAY1" slow.example)"
assert_match "tlsrpt queue shows the delay" \
    "mailto:tlsrpt@slow\\.example +delayed +1 +- +delayed: 451 4\\.4\\.0 mx\\.slow\\.example: Connection timed out\$" \
    "$("$TLSRPT" queue)"

# Refusals: a forged tag, an address that is not ours, a message that is not a DSN.
FORGED="noreply-tlsrpt+$B_ID-0000000000000000@sender.example"
out=$("$TLSRPT" dsn --recipient "$FORGED" <"$T/bounce1.eml" 2>&1); status=$?
assert_eq "a forged MAC matches nothing (exit 1)" "1 matched=no
reason=the VERP tag names report $B_REPORT but none of its destinations (forged, or from another host's key)" \
    "$status $out"
out=$("$TLSRPT" dsn --recipient "postmaster@sender.example" <"$T/bounce1.eml" 2>&1); status=$?
assert_eq "a bounce to another address is not ours (exit 1)" "1 matched=no
reason=postmaster@sender.example is not a VERP address of noreply-tlsrpt@sender.example" \
    "$status $out"
out=$("$TLSRPT" dsn --recipient "noreply-tlsrpt+00000000000000ff-0011223344556677@sender.example" \
    <"$T/bounce1.eml" 2>&1); status=$?
assert_eq "a report no longer in the outbox (exit 1)" "1 matched=no
reason=no report 00000000000000ff in the outbox (expired or deleted)" "$status $out"
out=$("$TLSRPT" -o report_verp_delimiter= dsn --recipient "$B_VERP" <"$T/bounce1.eml" 2>&1)
status=$?
assert_eq "VERP turned off: nothing can match (exit 1)" "1 matched=no
reason=report_verp_delimiter is empty: report mail has no VERP tag" "$status $out"
printf 'From: a@b.example\nSubject: hello\n\nnot a bounce\n' >"$T/plain.eml"
out=$("$TLSRPT" dsn --recipient "$B_VERP" <"$T/plain.eml" 2>&1); status=$?
assert_eq "a message that is not a DSN (exit 3)" \
    "3 tlsrpt: error: standard input: not a DSN: the message is text/plain, not multipart/report" \
    "$status $out"
assert_eq "the refusals changed nothing" \
    "failed bounced 1 bounced: $REASON | failed $REASON" "$(state_of "$DAY1" bounce.example)"

# A delivery attempt holds the report's lock: after 2 s, "try again" (75), nothing lost.
"$top_builddir/tests/outbox_edit" "$T/state/outbox" "$DAY1" bounce.example hold \
    "$T/held" "$T/release" &
HOLDER=$!
wait_for "the lock holder" 60 test -e "$T/held"
out=$("$TLSRPT" dsn --recipient "$B_VERP" <"$T/bounce1.eml" 2>&1); status=$?
touch "$T/release"; wait "$HOLDER"
assert_eq "a report locked by a delivery attempt: exit 75, try again" \
    "75 tlsrpt: error: report $B_REPORT is locked by a delivery attempt (waited 2000 ms): try again later" \
    "$status $out"

# Day 2: the relay accepts again (that is no success), then the second bounce in a row.
"$TLSRPT" run --day "$DAY2" >"$T/run2.out" 2>"$T/run2.err"
assert_eq "day 2 goes out" "$DAY2: 1 reports added to the outbox
1 delivery attempts made" "$(cat "$T/run2.out")" || cat "$T/run2.err"
set -- $(vars "$DAY2" bounce.example); B2_TAG=$3
postfix_dsn "noreply-tlsrpt+$B2_TAG@sender.example" failed 5.1.1 "$REASON" >"$T/bounce2.eml"
out=$("$TLSRPT" dsn <"$T/bounce2.eml" 2>&1); status=$?
assert_eq "the second bounce in a row suppresses the destination" "0 suppressed=yes" \
    "$status $(echo "$out" | grep '^suppressed=')"
assert_match "tlsrpt suppress list: automatic, 2 failures" \
    "^mailto:tlsrpt@bounce\\.example +[0-9-]+ [0-9:]+ +2 +automatic\$" "$("$TLSRPT" suppress list)"

# Eight at once: the counters file is changed under its lock, none is lost.
pids=
for i in 1 2 3 4 5 6 7 8; do
    "$TLSRPT" dsn --recipient "other$i@sender.example" <"$T/bounce1.eml" >/dev/null 2>&1 &
    pids="$pids $!"
done
for pid in $pids; do wait "$pid"; done

out=$("$TLSRPT" status 2>"$T/status.err"); status=$?
assert_eq "tlsrpt status without a daemon: the DSN counters, then exit 1" "1
dsn.matched       4
dsn.unmatched     12
dsn.suppressions  1" "$status
$out"
assert_match "and it says the daemon is not there" "none\\.sock" "$(cat "$T/status.err")"
out=$("$TLSRPT" status --json 2>/dev/null)
assert_eq "status --json nests them" '{"matched": 4, "unmatched": 12, "suppressions": 1}' \
    "$(echo "$out" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["dsn"]))')"
finish
