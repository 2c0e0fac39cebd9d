#!/bin/sh
# collector.sh - the libtlsrpt collector socket end to end: another process
# sends datagrams in libtlsrpt's exact shapes (good and hostile) to the
# running daemon; `tlsrpt counters --json` must show the exact counts per
# domain, policy and result, and `tlsrpt status` every rejection by reason.
. "$(dirname "$0")/lib.sh"
SEND="$top_builddir/tests/dgram_send"
SAMPLE="$top_srcdir/tests/data/libtlsrpt-sample.jsonl"

write_config "collector_socket_group ="
start_daemon
assert_eq "collector socket is a socket with mode 660" "660" "$(stat -c '%a' "$T/run/collector.sock")"
assert_eq "the journal is the daemon user's, mode 600, 16 MB + 8 KB" "600 $(test_user) 16785408" \
    "$(stat -c '%a %U %s' "$T/state/collector/journal")"
assert_eq "its space is reserved on disk (posix_fallocate)" 1 \
    "$(( $(stat -c '%b * %B' "$T/state/collector/journal") >= 16785408 ))"

# The sample (7 good, 3 bad datagrams) three times, then one 200 KB datagram.
"$SEND" -r 3 "$T/run/collector.sock" "$SAMPLE" >/dev/null
head -c 200000 /dev/zero | tr '\0' 'x' >"$T/huge"
# The kernel may refuse a datagram this large (EMSGSIZE): then it never reaches us.
sent_big=$("$SEND" "$T/run/collector.sock" "$T/huge" 2>/dev/null | sed -n 's/^sent \([0-9]*\),.*/\1/p')
sent_big=${sent_big:-0}

# received N: the collector has counted N datagrams (accepted or rejected).
received() {
    n=$("$TLSRPT" status | awk '$1 == "collector.accepted" || $1 == "collector.rejected" {s += $2} END {print s}')
    [ "$n" = "$1" ]
}
wait_received() {
    wait_for "the collector to count $1 datagrams" 60 received "$1" || echo "collector counted $n"
}
wait_received $((30 + sent_big))

status=$("$TLSRPT" status)
assert_match "30 datagrams accepted or rejected" "^collector.accepted +21\$" "$status"
assert_match "truncated JSON is rejected as bad-json" "^collector.rejected_by.bad-json +3\$" "$status"
assert_match "a future dpv is counted separately" "^collector.rejected_by.unknown-dpv +3\$" "$status"
assert_match "an unknown failure code is rejected" "^collector.rejected_by.bad-code +3\$" "$status"
if [ "$sent_big" = 1 ]; then
    assert_match "a 200 KB datagram is rejected as too-large" "^collector.rejected_by.too-large +1\$" "$status"
fi
assert_match "a sample of the rejected datagram is logged" \
    "rejected datagram: bad-json \\(truncated\\); 1 so far for this reason; sample: \\{\"dpv\": \"1\"" \
    "$(cat "$T/daemon.log")"

today=$(date -u +%F)
out=$("$TLSRPT" counters --json | sed '/"max_entries"/d; /"entries_used"/d; /"reported"/d')
assert_eq "exact counters per domain, policy and result" \
'{
  "day": "'"$today"'",
  "policies": [
    {
      "domain": "dane.example",
      "record": "v=TLSRPTv1;rua=mailto:tls@dane.example",
      "policy": {
        "policy-type": "tlsa",
        "policy-string": [
          "3 1 1 8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D"
        ],
        "policy-domain": "mx.dane.example",
        "mx-host": [
        ]
      },
      "total-successful-session-count": 3,
      "total-failure-session-count": 3,
      "failure-details": [
        {
          "result-type": "tlsa-invalid",
          "sending-mta-ip": "192.0.2.10",
          "receiving-mx-hostname": "mx.dane.example",
          "receiving-ip": "2001:db8::25",
          "failed-session-count": 3
        }
      ]
    },
    {
      "domain": "example.com",
      "record": "v=TLSRPTv1;rua=mailto:tlsrpt@example.com",
      "policy": {
        "policy-type": "sts",
        "policy-string": [
          "version: STSv1",
          "mode: enforce",
          "mx: mx1.example.com",
          "mx: mx2.example.com",
          "max_age: 604800"
        ],
        "policy-domain": "example.com",
        "mx-host": [
          "mx1.example.com",
          "mx2.example.com"
        ]
      },
      "total-successful-session-count": 6,
      "total-failure-session-count": 3,
      "failure-details": [
        {
          "result-type": "certificate-expired",
          "sending-mta-ip": "192.0.2.10",
          "receiving-mx-hostname": "mx2.example.com",
          "receiving-mx-helo": "mx2.example.com",
          "receiving-ip": "198.51.100.2",
          "failed-session-count": 3
        }
      ]
    },
    {
      "domain": "ok.example",
      "record": "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example",
      "policy": {
        "policy-type": "no-policy-found",
        "policy-string": [
        ],
        "policy-domain": "ok.example",
        "mx-host": [
        ]
      },
      "total-successful-session-count": 3,
      "total-failure-session-count": 3,
      "failure-details": [
        {
          "result-type": "validation-failure",
          "sending-mta-ip": "192.0.2.10",
          "receiving-mx-hostname": "mail.ok.example",
          "receiving-ip": "203.0.113.5",
          "failure-reason-code": "self-signed_certificate",
          "failed-session-count": 3
        }
      ]
    }
  ],
  "overflow": [
  ],
  "lost_events": 0,
  "late_events": 0,
}' "$out"

# Hostile input did not hurt: the daemon still counts.
head -1 "$SAMPLE" | "$SEND" "$T/run/collector.sock" - >/dev/null
wait_received $((31 + sent_big))
assert_match "the daemon keeps counting after hostile datagrams" "^collector.accepted +22\$" \
    "$("$TLSRPT" status)"

stop_daemon
assert_eq "SIGTERM stops cleanly" 0 "$DAEMON_STATUS"
assert_match "the shutdown log line has the totals by reason" \
    "collector: received $((31 + sent_big)) datagrams \\([0-9]+ bytes\\), accepted 22, rejected $((9 + sent_big)) \\(.*bad-json 3.*unknown-dpv 3.*bad-code 3\\)" \
    "$(cat "$T/daemon.log")"
assert_eq "the collector socket is removed" "gone" "$([ -e "$T/run/collector.sock" ] || echo gone)"

# A day already reported: datagrams are counted as late only, shown and warned about.
before=$("$TLSRPT" counters --json | sed '/"late_events"/d; /"reported"/d')
printf '' | "$top_builddir/tests/fill_counters" -R "$T/state/counters" "$today"
start_daemon
head -7 "$SAMPLE" | "$SEND" -r 2 "$T/run/collector.sock" - >/dev/null
wait_received 14
status=$("$TLSRPT" status)
assert_match "late datagrams are counted by the collector" "^collector.late_events +14\$" "$status"
assert_match "status shows today's late events" "^counters.late_events +14\$" "$status"
assert_match "status lists the day that missed its report" "^counters.late_events.$today +14\$" "$status"
assert_eq "late events go into no key: the reported counts stay" "$before" \
    "$("$TLSRPT" counters --json | sed '/"late_events"/d; /"reported"/d')"
assert_match "tlsrpt counters --json shows them" '"late_events": 14,' "$("$TLSRPT" counters --json)"
assert_match "tlsrpt counters says they are in no report" \
    "late: 14 events arrived after the day's reports were built" "$("$TLSRPT" counters)"
assert_match "one warning says how many missed the report" \
    "events arrive for a day whose reports were already built: 1 so far missed the report" \
    "$(cat "$T/daemon.log")"
assert_eq "the warning is not repeated per datagram" 1 \
    "$(grep -c 'reports were already built' "$T/daemon.log")"
stop_daemon

# The same parser offline, with line numbers.
out=$("$TLSRPT" ingest --format libtlsrpt --day 2026-01-15 "$SAMPLE" 2>/dev/null); status=$?
assert_eq "ingest exits 1 when lines were rejected" 1 "$status"
assert_eq "ingest names file, line and reason" \
"$SAMPLE:8: rejected: bad-json (truncated)
$SAMPLE:9: rejected: unknown-dpv (dpv)
$SAMPLE:10: rejected: bad-code (c)
$SAMPLE: 10 datagrams, 7 accepted, 3 rejected
total: 7 datagrams counted for 2026-01-15, 3 rejected (bad-json 1, unknown-dpv 1, bad-code 1)" "$out"
assert_match "ingested events are dated --day" '"total-successful-session-count": 2,' \
    "$("$TLSRPT" counters --day 2026-01-15 --domain example.com --json)"

# A full table: 1024 keys, then 1024 overflow records, then nowhere. Each kind said as it is.
for i in $(seq 1 2100); do
    printf '{"dpv":"1","d":"d%d.example","policies":[{"policy-type":9,"t":0,"f":0}]}\n' "$i"
done >"$T/full.jsonl"
out=$("$TLSRPT" -o counter_table_entries=1024 ingest --format libtlsrpt --day 2026-01-16 \
    "$T/full.jsonl" 2>/dev/null)
assert_eq "ingest says how many went to the overflow record and how many were stored nowhere" \
"$T/full.jsonl: 2100 datagrams, 2100 accepted, 0 rejected, 1024 only in the overflow record (table full), 52 stored nowhere (table and overflow record full; counted as lost_events)
total: 2100 datagrams counted for 2026-01-16, 0 rejected" "$out"
assert_match "and the table counts the same lost events" '"lost_events": 52' \
    "$("$TLSRPT" counters --day 2026-01-16 --json)"
finish
