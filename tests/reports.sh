#!/bin/sh
# reports.sh - from counters to the outbox: `tlsrpt report` prints the exact
# RFC 8460 JSON; `tlsrpt run` finds each rua (the record Postfix saw, else
# DNS from a real server, ldns-testns on 127.0.0.1; DANE results also to the
# MX host's record without repeating a rua), enqueues the day at once and
# writes due reports to delivery_directory; a temporary DNS failure keeps
# the report; a worker killed at any moment leaves exactly one report per
# (day, domain, record).
. "$(dirname "$0")/lib.sh"
SAMPLE="$top_srcdir/tests/data/libtlsrpt-sample.jsonl"
DAY=2025-06-15
BEGIN=$(date -u -d "$DAY" +%s)
END=$((BEGIN + 86399))

cat >"$T/dns.data" <<'DNS'
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
_smtp._tls.nopr.example. IN TXT
SECTION ANSWER
_smtp._tls.nopr.example. 600 IN TXT "v=TLSRPTv1;" "rua=mailto:tls@nopr.example"
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
_smtp._tls.mx.dane.example. IN TXT
SECTION ANSWER
_smtp._tls.mx.dane.example. 600 IN TXT "v=TLSRPTv1; rua=mailto:tls@dane.example, https://reports.dane.example/tlsrpt"
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA SERVFAIL
SECTION QUESTION
_smtp._tls.temp.example. IN TXT
ENTRY_END
DNS
start_dns "$T/dns.data"
write_config "dns_resolvers = 127.0.0.1:$DNS_PORT" "dns_timeout = 2s" "report_spread = 0" \
    "tlsrptd_user = $(test_user)" \
    "delivery_directory = $T/delivered"

# The sample (7 good datagrams with their records), plus two domains whose
# datagrams carry no record: one found in DNS, one whose DNS fails.
{
    cat "$SAMPLE"
    echo '{"dpv": "1","d": "nopr.example","policies":[{"policy-type":9,"t":0,"f":0}]}'
    echo '{"dpv": "1","d": "temp.example","policies":[{"policy-type":9,"failure-details":[{"c":201,"n": "mx.temp.example"}],"t":1,"f":1}]}'
} >"$T/day.jsonl"
"$TLSRPT" ingest --format libtlsrpt --day "$DAY" "$T/day.jsonl" >/dev/null 2>&1

out=$("$TLSRPT" report --day "$DAY" --domain example.com)
assert_eq "tlsrpt report prints the exact RFC 8460 JSON" \
'{"organization-name":"Example Sender Inc.","date-range":{"start-datetime":"2025-06-15T00:00:00Z","end-datetime":"2025-06-15T23:59:59Z"},"contact-info":"tlsrpt-noreply@sender.example","report-id":"2025-06-15_example.com_'"$(echo "$out" | sed -n 's/.*"report-id":"2025-06-15_example.com_\([0-9a-f]\{16\}\)".*/\1/p')"'","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: mx1.example.com","mx: mx2.example.com","max_age: 604800"],"policy-domain":"example.com","mx-host":["mx1.example.com","mx2.example.com"]},"summary":{"total-successful-session-count":2,"total-failure-session-count":1},"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.10","receiving-mx-hostname":"mx2.example.com","receiving-mx-helo":"mx2.example.com","receiving-ip":"198.51.100.2","failed-session-count":1}]}]}' \
    "$out"
id=$(echo "$out" | sed -n 's/.*"report-id":"2025-06-15_example.com_\([0-9a-f]\{16\}\)".*/\1/p')
assert_match "the report-id ends in 16 hex digits" '^[0-9a-f]{16}$' "$id"
assert_eq "it is stable" "$out" "$("$TLSRPT" report --day "$DAY" --domain example.com)"
assert_eq "tlsrpt report prints one line per report" 5 "$("$TLSRPT" report --day "$DAY" | wc -l)"
"$TLSRPT" report --day "$DAY" --domain example.com --out "$T/out" >/dev/null
assert_eq "--out writes the RFC 8460 5.1 file name" \
    "sender.example!example.com!$BEGIN!$END!$id.json.gz" "$(ls "$T/out")"
assert_eq "which holds the same JSON, gzipped" "$out" "$(zcat "$T/out/"*)"

out=$("$TLSRPT" run --dry-run --day "$DAY" 2>"$T/dry.err" | sed 's/^[^ ]* [^ ]*: //')
assert_eq "run --dry-run says what would be enqueued, and where to" \
"1 successful, 1 failed sessions -> mailto:tls@dane.example
2 successful, 1 failed sessions -> mailto:tlsrpt@example.com
1 successful, 0 failed sessions -> mailto:tls@nopr.example
1 successful, 1 failed sessions -> mailto:tlsrpt@reports.example
0 successful, 1 failed sessions -> (rua to be looked up again: DNS failed)
1 successful, 1 failed sessions -> https://reports.dane.example/tlsrpt" "$out"
assert_match "a temporary DNS failure is reported as such" \
    "temp.example: DNS lookup of _smtp._tls.temp.example failed for now \\(SERVFAIL\\)" \
    "$(cat "$T/dry.err")"
assert_eq "a dry run writes nothing" "no outbox" \
    "$([ -d "$T/state/outbox/$DAY" ] && echo outbox || echo "no outbox")"

out=$("$TLSRPT" run --day "$DAY" 2>/dev/null)
assert_eq "run enqueues the day and writes the due reports" \
"$DAY: 6 reports added to the outbox
5 reports written to $T/delivered" "$out"
assert_eq "delivery_directory holds one file per report with a destination" \
"sender.example!dane.example!$BEGIN!$END
sender.example!example.com!$BEGIN!$END
sender.example!mx.dane.example!$BEGIN!$END
sender.example!nopr.example!$BEGIN!$END
sender.example!ok.example!$BEGIN!$END" "$(ls "$T/delivered" | sed 's/![0-9a-f]*\.json\.gz$//')"
json=$("$TLSRPT" queue --json)
assert_eq "queue --json: 5 destinations delivered" 5 "$(echo "$json" | grep -c '"state": "delivered"')"
assert_match "queue --json: the DNS failure waits for another lookup" '"rua_pending": true' "$json"
assert_match "queue shows it to people too" "temp.example .*DNS failed: looked up again later" \
    "$("$TLSRPT" queue)"

# Still failing after retry_window: the report gives up instead of waiting forever.
"$top_builddir/tests/outbox_edit" "$T/state/outbox" "$DAY" temp.example created 1000
"$TLSRPT" -o retry_window=60 run --day "$DAY" >/dev/null 2>"$T/giveup.err"
assert_match "a lookup failing past retry_window gives up, and says so" \
    "report 2025-06-15_temp.example_[0-9a-f]+: _smtp._tls.temp.example still failed after retry_window \\(SERVFAIL\\): not sent" \
    "$(cat "$T/giveup.err")"
assert_match "the queue no longer waits for it" '"rua_pending": false' \
    "$("$TLSRPT" queue --json | grep -A8 '"temp.example"')"

out=$("$TLSRPT" run --day "$DAY" 2>/dev/null)
assert_eq "running again adds nothing" \
"$DAY: already in the outbox
$DAY: 0 reports added to the outbox
0 reports written to $T/delivered" "$out"
assert_eq "and writes no second copy" 5 "$(ls "$T/delivered" | wc -l)"

# Validation of every report written against the strict generator profile.
VALIDATOR="$top_srcdir/../shared/validators/validate.js"
if [ -f "$VALIDATOR" ] && command -v node >/dev/null; then
    for f in "$T/delivered"/*; do
        checks=$((checks + 1))
        if node "$VALIDATOR" "$top_srcdir/../shared/validators/tlsrpt-report.strict.schema.json" \
            "$f" >"$T/validate.out" 2>&1; then
            echo "ok: strict schema: $(basename "$f")"
        else
            fail "strict schema: $(basename "$f")"; cat "$T/validate.out"
        fi
    done
else
    echo "note: ../shared/validators not found: schema validation not run here"
fi

# reports_of DAY: how many reports of DAY the outbox holds (tlsrpt queue --json).
reports_of() {
    "$TLSRPT" queue --json | python3 -c 'import json, sys
print(sum(e["day"] == sys.argv[1] for e in json.load(sys.stdin)))' "$1"
}

# Crash safety: a worker killed at any moment, then one that finishes.
CRASH_DAY=2025-06-16
awk 'BEGIN { for (i = 0; i < 3000; i++)
    printf "{\"dpv\": \"1\",\"d\": \"d%d.example\",\"pr\": \"v=TLSRPTv1;rua=mailto:tls@d%d.example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}\n", i, i }' \
    >"$T/many.jsonl"
"$TLSRPT" ingest --format libtlsrpt --day "$CRASH_DAY" "$T/many.jsonl" >/dev/null 2>&1
for delay in 0.01 0.03 0.05 0.08 0.1 0.15 0.2 0.3; do
    "$TLSRPT" -o delivery_directory= run --day "$CRASH_DAY" >/dev/null 2>&1 &
    sleep "$delay"
    kill -9 $! 2>/dev/null
    wait $! 2>/dev/null
done
"$TLSRPT" run --day "$CRASH_DAY" >/dev/null 2>&1
assert_eq "after kill -9 at 8 moments: exactly one report per domain in the outbox" 3000 \
    "$(reports_of "$CRASH_DAY")"
assert_eq "no half-built day is left" "" "$(ls -a "$T/state/outbox" | grep '\.tmp$')"
assert_eq "and each was written out once" 3000 \
    "$(ls "$T/delivered" | grep -c "!$(date -u -d "$CRASH_DAY" +%s)!.*\.json\.gz\$")"
assert_match "the day's counters are marked reported" '"reported": true' \
    "$("$TLSRPT" counters --day "$CRASH_DAY" --json)"
assert_eq "a later run finds nothing left to do" "nothing to do: no finished day waits for its reports
0 delivery attempts made" "$("$TLSRPT" -o delivery_directory= -o counter_retention=366d run 2>/dev/null)"

# The daemon does it by itself: yesterday's counters become reports once
# report_delay has passed. Killed (with its worker) in the middle of the
# cycle and started again, it leaves exactly one report per domain.
YESTERDAY=$(date -u -d yesterday +%F)
YBEGIN=$(date -u -d "$YESTERDAY" +%s)
"$TLSRPT" ingest --format libtlsrpt --day "$YESTERDAY" "$T/many.jsonl" >/dev/null 2>&1
[ "$(id -u)" -eq 0 ] && chown -R "$(test_user)" "$T/state"
echo "report_delay = 0" >>"$CONF"
start_daemon
# The worker has started on yesterday: its outbox day is being built (or built).
cycle_started() {
    [ -e "$T/state/outbox/.$YESTERDAY.tmp" ] || [ -e "$T/state/outbox/$YESTERDAY" ]
}
wait_for "the daemon's report worker to start on $YESTERDAY" 60 cycle_started
pkill -9 -f "tlsrpt -c $CONF -o tlsrptd_user=$(test_user) run --due" 2>/dev/null
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
start_daemon
# delivered_at_least N: N reports of yesterday written to the delivery directory.
delivered_at_least() {
    [ "$(ls "$T/delivered" | grep -c "!$YBEGIN!.*\.json\.gz\$")" -ge "$1" ]
}
wait_for "3000 reports of yesterday delivered" 180 delivered_at_least 3000
# The files are out before the worker has finished (and been counted).
worker_done() {
    "$TLSRPT" status | grep -Eq '^reports.worker_runs +[1-9]'
}
wait_for "the report worker to finish" 60 worker_done
# (A worker killed while writing one leaves its NAME.tmp.PID: not a report.)
assert_eq "killed mid-cycle and restarted: every report of yesterday, once" 3000 \
    "$(ls "$T/delivered" | grep -c "!$YBEGIN!.*\.json\.gz\$")"
assert_eq "and one per domain in the outbox" 3000 "$(reports_of "$YESTERDAY")"
status=$("$TLSRPT" status)
assert_match "status counts the outbox" "^outbox.reports +6006\$" "$status"
assert_match "and the report worker's runs" "^reports.worker_runs +[1-9]" "$status"
stop_daemon
finish
