#!/bin/sh
# delivery.sh - reports leave for real peers started here on 127.0.0.1: an
# SMTP sink receives the DKIM-signed report mail (every header, the MIME
# parts, the gzip attachment checked against the strict schema, the
# signature verified with dkimpy), an HTTPS server with a test CA receives
# POSTs (200 delivered, 500 retried later), and destinations on private
# addresses are refused without a connection; header injection through a
# rua never reaches a message.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
/usr/bin/python3 -c 'import dkim' 2>/dev/null || skip "dkimpy not found (apt-get install python3-dkim)"
DAY=2025-07-01
USER_NAME=$(test_user)
start_sinks

# DNS: localhost for the https rua, a name on a private address for the SSRF case.
{ dns_localhost; cat <<DNS
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
intranet.example. IN A
SECTION ANSWER
intranet.example. 600 IN A 192.168.1.10
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
intranet.example. IN AAAA
SECTION AUTHORITY
example. 600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300
ENTRY_END
DNS
} >"$T/dns.data"
start_dns "$T/dns.data"

make_dkim_key
# VERP off here, on purpose: this test checks the exact untagged envelope; tests/dsn.sh the tag.
write_config "tlsrptd_user = $USER_NAME" "report_spread = 0" "report_verp_delimiter =" \
    "relayhost = [127.0.0.1]:$SMTP_PORT" "dkim_selector = tlsrpt1" "dkim_key_file = $T/dkim.key" \
    "https_ca_file = $T/ca.crt" "dns_resolvers = 127.0.0.1:$DNS_PORT" "dns_timeout = 2s" \
    "delivery_timeout = 10s" "suppress_after_failures = 1"

datagram() { # DOMAIN RUA
    printf '{"dpv": "1","d": "%s","pr": "v=TLSRPTv1;rua=%s","policies":[{"policy-type":9,"failure-details":[{"c":205,"s": "192.0.2.10","n": "mx.%s","r": "198.51.100.7","f": "self-signed_certificate"}],"t":1,"f":1}]}\n' "$1" "$2" "$1"
}
{
    datagram mail.example mailto:tlsrpt@mail.example
    datagram mail2.example mailto:tlsrpt@mail2.example
    datagram reject.example mailto:reject@reject.example
    datagram web.example "https://localhost:$HTTPS_PORT/ok"
    datagram fail.example "https://localhost:$HTTPS_PORT/fail"
    datagram intranet.example https://intranet.example/tlsrpt
    datagram literal.example https://10.1.2.3/tlsrpt
    datagram inject.example 'mailto:a@b.example%0D%0ABcc:x@evil.example'
    datagram pct.example 'mailto:%74lsrpt@pct.example'
    datagram quoted.example 'mailto:%22a%2Cb%22@quoted.example'
} >"$T/day.jsonl"
"$TLSRPT" ingest --format libtlsrpt --day "$DAY" "$T/day.jsonl" >/dev/null 2>&1

# First pass, private destinations not allowed: mail goes, https to 127.0.0.1 does not.
"$TLSRPT" run --day "$DAY" >"$T/run1.out" 2>"$T/run1.err"
assert_eq "the day is enqueued and every destination tried" \
"$DAY: 9 reports added to the outbox
9 delivery attempts made" "$(cat "$T/run1.out")"
assert_match "a rua with an encoded CR LF makes its record invalid: no report" \
    "report for inject.example: the TLSRPT record the MTA used is not valid" "$(cat "$T/run1.err")"
assert_match "the log line says refused once, then why" \
    "report [^ ]+ to https://intranet\\.example/tlsrpt: refused: intranet\\.example resolves to 192\\.168\\.1\\.10" \
    "$(cat "$T/run1.err")"
assert_eq "never refused: refused:" 0 "$(grep -c 'refused: refused' "$T/run1.err")"
json=$("$TLSRPT" queue --json)
state_of() { # DOMAIN -> "state attempts last_error" of its first destination
    echo "$json" | python3 -c 'import json,sys
for e in json.load(sys.stdin):
    if e["policy_domain"] == sys.argv[1]:
        d = e["destinations"][0]
        print(d["state"], d["attempts"], d["last_error"] or "")' "$1"
}
assert_eq "mail to a good rua is delivered" "delivered 1 " "$(state_of mail.example)"
assert_match "a 550 fails the destination with the server's words" \
    "^failed 1 .*550 5\\.1\\.1 <reject@reject\\.example>: Recipient address rejected" \
    "$(state_of reject.example)"
assert_match "https to a name on a private address is refused" \
    "^failed 1 refused: intranet\\.example resolves to 192\\.168\\.1\\.10" "$(state_of intranet.example)"
assert_match "https to a private address literal is refused" "^failed 1 refused: 10\\.1\\.2\\.3" \
    "$(state_of literal.example)"
assert_match "https to loopback is refused unless allowed" "^failed 1 refused: localhost resolves to 127\\.0\\.0\\.1" \
    "$(state_of web.example)"
assert_eq "no HTTPS request reached anyone" 0 "$(ls "$T/https" | grep -c body)"

# The message the SMTP sink received.
assert_eq "the four messages, delivered at the same time, reached the SMTP sink" \
"from=noreply-tlsrpt@sender.example
from=noreply-tlsrpt@sender.example
from=noreply-tlsrpt@sender.example
from=noreply-tlsrpt@sender.example
to=\"a,b\"@quoted.example
to=tlsrpt@mail.example
to=tlsrpt@mail2.example
to=tlsrpt@pct.example" "$(cat "$T/smtp/"*.env | sort)"
# A percent-encoded rua is decoded once: envelope, To:, outbox all use the Mailbox.
for case in 'tlsrpt@pct.example pct.example' '"a,b"@quoted.example quoted.example'; do
    rcpt=${case% *} domain=${case##* }
    env=$(grep -lxF "to=$rcpt" "$T/smtp/"*.env)
    assert_eq "$domain: the exact RCPT TO" "RCPT TO:<$rcpt>" \
        "$(grep '^RCPT' "${env%.env}.cmd")"
    assert_eq "$domain: the exact To: header" "To: $rcpt" \
        "$(sed '/^\r\?$/q' "${env%.env}.eml" | tr -d '\r' | grep '^To:')"
    assert_eq "$domain: the outbox destination is the decoded address" \
        "mailto:$rcpt delivered" "$(echo "$json" | python3 -c 'import json,sys
for e in json.load(sys.stdin):
    if e["policy_domain"] == sys.argv[1]:
        d = e["destinations"][0]
        print(d["uri"], d["state"])' "$domain")"
done
MSG=$(grep -l '^to=tlsrpt@mail.example$' "$T/smtp/"*.env | sed 's/\.env$/.eml/')
headers=$(sed '/^\r\?$/q' "$MSG" | tr -d '\r')
assert_match "From" "^From: noreply-tlsrpt@sender\\.example\$" "$headers"
assert_match "To" "^To: tlsrpt@mail\\.example\$" "$headers"
assert_match "Subject with a msg-id shaped Report-ID" \
    "^Subject: Report Domain: mail\\.example Submitter: sender\\.example" "$headers"
assert_match "TLS-Report-Domain" "^TLS-Report-Domain: mail\\.example\$" "$headers"
assert_match "TLS-Report-Submitter" "^TLS-Report-Submitter: sender\\.example\$" "$headers"
assert_match "TLS-Required: No" "^TLS-Required: No\$" "$headers"
assert_match "Auto-Submitted" "^Auto-Submitted: auto-generated\$" "$headers"
assert_match "multipart/report of type tlsrpt" 'multipart/report; *report-type="?tlsrpt' "$headers"
assert_match "a DKIM signature, ed25519, relaxed/relaxed" "^DKIM-Signature: .*a=ed25519-sha256" \
    "$(printf '%s\n' "$headers" | sed -e :a -e '$!N;s/\n[ \t]/ /;ta' -e 'P;D')"
assert_eq "dkimpy verifies the signature" pass \
    "$(/usr/bin/python3 "$PEERS/dkim_verify.py" "$MSG" tlsrpt1 sender.example "$T/dkim.key")"
python3 - "$MSG" "$T/attachment" >"$T/parts" <<'PY'
import email, email.policy, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
for part in msg.iter_parts():
    print(part.get_content_type(), part.get_filename() or "")
    if part.get_content_type() == "application/tlsrpt+gzip":
        open(sys.argv[2], "wb").write(part.get_payload(decode=True))
PY
BEGIN=$(date -u -d "$DAY" +%s)
assert_match "the first part is text/plain" "^text/plain" "$(head -1 "$T/parts")"
assert_match "the second is the gzip report with its RFC 8460 name" \
    "^application/tlsrpt\\+gzip sender\\.example!mail\\.example!$BEGIN!$((BEGIN + 86399))![0-9a-f]{16}\\.json\\.gz\$" \
    "$(sed -n 2p "$T/parts")"
assert_eq "the attachment is gzip" "1f8b" "$(od -An -tx1 -N2 "$T/attachment" | tr -d ' ')"
assert_eq "and holds exactly the report" "$("$TLSRPT" report --day "$DAY" --domain mail.example)" \
    "$(zcat "$T/attachment")"
VALIDATOR="$top_srcdir/../shared/validators/validate.js"
if [ -f "$VALIDATOR" ] && command -v node >/dev/null; then
    cp "$T/attachment" "$T/$(sed -n 2p "$T/parts" | cut -d' ' -f2)"
    checks=$((checks + 1))
    if node "$VALIDATOR" "$top_srcdir/../shared/validators/tlsrpt-report.strict.schema.json" \
        "$T/$(sed -n 2p "$T/parts" | cut -d' ' -f2)" >"$T/validate.out" 2>&1; then
        echo "ok: the attachment passes the strict schema"
    else
        fail "the attachment fails the strict schema"; cat "$T/validate.out"
    fi
fi

# Second pass, private destinations allowed for the loopback server only.
for domain in web.example fail.example; do
    id=$(echo "$json" | python3 -c 'import json,sys
print([e["report_id"] for e in json.load(sys.stdin) if e["policy_domain"] == sys.argv[1]][0])' "$domain")
    "$TLSRPT" -o https_allow_private_destinations=yes queue retry "$id" >/dev/null 2>&1
done
json=$("$TLSRPT" queue --json)
assert_eq "HTTP 200 is delivered" "delivered 2 " "$(state_of web.example)"
assert_eq "HTTP 500 is retried later, never counted as delivered" "retrying 2 HTTP 500" \
    "$(state_of fail.example)"
next_wait=$(echo "$json" | python3 -c 'import json,sys,datetime,time
for e in json.load(sys.stdin):
    if e["policy_domain"] == "fail.example":
        t = datetime.datetime.strptime(e["destinations"][0]["next_try"], "%Y-%m-%dT%H:%M:%SZ")
        print(round((t.replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()) / 60))')
assert_eq "the second failure waits twice retry_initial (10 minutes)" 10 "$next_wait"
assert_eq "the HTTPS server got the two POSTs" \
"/ok application/tlsrpt+gzip
/fail application/tlsrpt+gzip" "$(cat "$T/https/0.type" "$T/https/1.type")"
assert_eq "the body is the gzip report" "$("$TLSRPT" report --day "$DAY" --domain web.example)" \
    "$(zcat "$T/https/0.body")"
assert_eq "the private destinations were not retried" "failed 1" \
    "$(state_of intranet.example | cut -d' ' -f1,2)"

# A permanent failure (here suppress_after_failures = 1) suppresses the destination.
assert_match "the 550 destination is suppressed automatically" \
    "^mailto:reject@reject\.example +[0-9-]+ [0-9:]+ +1 +automatic\$" "$("$TLSRPT" suppress list)"
"$TLSRPT" suppress add "https://localhost:$HTTPS_PORT/fail" --until 2099-01-01 >/dev/null
assert_match "suppress add, by hand" "^https://localhost:$HTTPS_PORT/fail +2099-01-01 00:00 +0 +by hand\$" \
    "$("$TLSRPT" suppress list)"
assert_match "tlsrpt queue shows a suppressed destination as such" \
    "https://localhost:$HTTPS_PORT/fail +suppressed +2 " "$("$TLSRPT" queue)"
assert_match "and --json says until when" '"suppressed_until": "2099-01-01T00:00:00Z"' \
    "$("$TLSRPT" queue --json)"
"$TLSRPT" -o https_allow_private_destinations=yes -o retry_initial=1 queue flush >/dev/null 2>&1
json=$("$TLSRPT" queue --json)
assert_eq "a suppressed destination gets nothing on flush" "failed 2 destination suppressed" \
    "$(state_of fail.example)"
assert_eq "and the HTTPS server saw no third POST" 2 "$(ls "$T/https" | grep -c body)"
"$TLSRPT" suppress del "https://localhost:$HTTPS_PORT/fail" >/dev/null
assert_match "suppress del lifts it" "^mailto:reject@reject\.example" "$("$TLSRPT" suppress list)"
assert_eq "only the automatic one is left" 2 "$("$TLSRPT" suppress list | wc -l)"
# A mailto: destination by hand: as a record publishes it or as tlsrpt shows it, the same one.
assert_eq "suppress add decodes a published mailto: as the outbox did" \
    "mailto:tlsrpt@pct.example: suppressed" "$("$TLSRPT" suppress add 'mailto:%74lsrpt@pct.example')"
assert_eq "and del takes it as shown" "mailto:tlsrpt@pct.example: no longer suppressed" \
    "$("$TLSRPT" suppress del 'mailto:tlsrpt@pct.example')"
assert_eq "a quoted local part as shown" 'mailto:"a,b"@quoted.example: suppressed' \
    "$("$TLSRPT" suppress add 'mailto:"a,b"@quoted.example')"
assert_eq "and as published" 'mailto:"a,b"@quoted.example: no longer suppressed' \
    "$("$TLSRPT" suppress del 'mailto:%22a%2Cb%22@quoted.example')"
assert_eq "none of them is left" 2 "$("$TLSRPT" suppress list | wc -l)"
out=$("$TLSRPT" suppress add 'mailto:x@y.example;rm -rf /' 2>&1); status=$?
assert_eq "a destination with a space is refused" 1 "$status"

id=$(echo "$json" | python3 -c 'import json,sys
print([e["report_id"] for e in json.load(sys.stdin) if e["policy_domain"] == "reject.example"][0])')
assert_eq "queue delete removes a report" "$id: deleted" "$("$TLSRPT" queue delete "$id" 2>/dev/null)"
assert_eq "it is gone from the queue" 0 "$("$TLSRPT" queue --json | grep -c '"reject.example"')"
out=$("$TLSRPT" queue delete "$id" 2>&1); status=$?
assert_eq "deleting it again fails" 1 "$status"
assert_match "and says why" "no report $id in the outbox" "$out"
finish
