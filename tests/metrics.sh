#!/bin/sh
# metrics.sh - Prometheus metrics (metrics_listen) end to end: the daemon on
# a random loopback port, fed libtlsrpt datagrams, mail log lines and policy
# lookups; GET /metrics gives the exact values `tlsrpt status` has, in a form
# `promtool check metrics` accepts; anything but GET /metrics is refused.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
export TZ=UTC
SEND="$top_builddir/tests/dgram_send"
SAMPLE="$top_srcdir/tests/data/libtlsrpt-sample.jsonl"

SOA="example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 120"
{
    dns_entry NXDOMAIN _mta-sts.nosts.example. TXT AUTHORITY "$SOA"
    dns_entry NXDOMAIN nosts.example. MX AUTHORITY "$SOA"
    printf 'ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id\nREPLY QR RD RA SERVFAIL\nENTRY_END\n'
} >"$T/dns.data"
start_dns "$T/dns.data"

METRICS_PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG="$T/mail.log"
write_config "collector_socket_group =" "dns_resolvers = 127.0.0.1:$DNS_PORT" \
    "metrics_listen = 127.0.0.1:$METRICS_PORT" "log_sources = postfix:file:$LOG" \
    "policy_socket = $T/run/policy.sock" "policy_socket_group ="
start_daemon
URL="http://127.0.0.1:$METRICS_PORT"

# fetch PATH [METHOD]: "STATUS" then the body.
fetch() {
    python3 - "$URL$1" "${2:-GET}" <<'PY'
import sys, urllib.request, urllib.error
request = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    with urllib.request.urlopen(request, timeout=60) as response:
        print(response.status, response.headers["Content-Type"])
        sys.stdout.write(response.read().decode())
except urllib.error.HTTPError as error:
    print(error.code)
PY
}

# Datagrams: the sample's 7 good and 3 bad ones.
"$SEND" "$T/run/collector.sock" "$SAMPLE" >/dev/null
# Log lines: the lab log dated today, written after the start (read from its start).
LC_ALL=C sed "s/^Nov 22 /$(LC_ALL=C date '+%b %e') /" "$top_srcdir/tests/data/postfix-3.7-lab.log" >"$T/lab.log"
LINES=$(wc -l <"$T/lab.log")
cp "$T/lab.log" "$LOG"
# Policy lookups: the same domain twice (no MTA-STS record: NOTFOUND).
python3 - "$T/run/policy.sock" <<'PY' >"$T/policy.out"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
for _ in range(2):
    s.sendall(b"21:postfix nosts.example,")
    print(s.recv(100).decode())
PY
assert_eq "two policy lookups answered NOTFOUND" "$(printf '9:NOTFOUND ,\n9:NOTFOUND ,')" \
    "$(cat "$T/policy.out")"

status_value() {
    "$TLSRPT" status | awk -v name="$1" '$1 == name {print $2}'
}
counted() {
    [ "$(status_value collector.accepted)" = 7 ] && [ "$(status_value collector.rejected)" = 3 ] &&
        [ "$(status_value logfollow.1.lines)" = "$LINES" ]
}
wait_for "10 datagrams and $LINES log lines counted" 60 counted

out=$(fetch /metrics)
printf '%s\n' "$out" >"$T/metrics.txt"
assert_eq "200 in the text exposition format 0.0.4" "200 text/plain; version=0.0.4; charset=utf-8" \
    "$(printf '%s\n' "$out" | head -1)"
metric() { # NAME: its samples, sorted
    printf '%s\n' "$out" | grep -E "^$1[{ ]" | sort
}
assert_eq "datagrams received, accepted" "tlsrpt_datagrams_received_total 10
tlsrpt_datagrams_accepted_total 7" \
    "$(metric tlsrpt_datagrams_received_total; metric tlsrpt_datagrams_accepted_total)"
assert_eq "datagrams rejected by reason (non-zero)" 'tlsrpt_datagrams_rejected_total{reason="bad-code"} 1
tlsrpt_datagrams_rejected_total{reason="bad-json"} 1
tlsrpt_datagrams_rejected_total{reason="unknown-dpv"} 1' \
    "$(metric tlsrpt_datagrams_rejected_total | grep -v ' 0$')"
assert_eq "HELP and TYPE once per metric, counters end in _total" "# HELP tlsrpt_datagrams_rejected_total Datagrams rejected, by reason.
# TYPE tlsrpt_datagrams_rejected_total counter" \
    "$(printf '%s\n' "$out" | grep '^# [A-Z]* tlsrpt_datagrams_rejected_total ')"
SRC="postfix:file:$LOG"
assert_eq "log lines and sessions by source" "tlsrpt_log_lines_total{source=\"$SRC\"} $LINES
tlsrpt_log_sessions_total{source=\"$SRC\"} $(status_value logfollow.1.sessions)" \
    "$(metric tlsrpt_log_lines_total; metric tlsrpt_log_sessions_total)"
assert_eq "the lab log's 40 sessions" 40 "$(status_value logfollow.1.sessions)"
assert_eq "today's sessions by policy type and outcome" \
'tlsrpt_today_sessions{policy_type="no-policy-found",outcome="failure"} 24
tlsrpt_today_sessions{policy_type="no-policy-found",outcome="success"} 12
tlsrpt_today_sessions{policy_type="sts",outcome="failure"} 1
tlsrpt_today_sessions{policy_type="sts",outcome="success"} 2
tlsrpt_today_sessions{policy_type="tlsa",outcome="failure"} 7
tlsrpt_today_sessions{policy_type="tlsa",outcome="success"} 1' "$(metric tlsrpt_today_sessions)"
failed_by_result=$(metric tlsrpt_today_failed_sessions | grep -v ' 0$')
assert_eq "today's failed sessions by result type (non-zero)" \
'tlsrpt_today_failed_sessions{result_type="certificate-expired"} 4
tlsrpt_today_failed_sessions{result_type="certificate-host-mismatch"} 4
tlsrpt_today_failed_sessions{result_type="certificate-not-trusted"} 4
tlsrpt_today_failed_sessions{result_type="dane-required"} 2
tlsrpt_today_failed_sessions{result_type="dnssec-invalid"} 2
tlsrpt_today_failed_sessions{result_type="starttls-not-supported"} 4
tlsrpt_today_failed_sessions{result_type="tlsa-invalid"} 3
tlsrpt_today_failed_sessions{result_type="validation-failure"} 9' "$failed_by_result"
# The same sums taken from `tlsrpt counters --json`, another reader of the same table.
assert_eq "the same as tlsrpt counters --json" "$failed_by_result" "$("$TLSRPT" counters --json |
    python3 -c 'import collections, json, sys
sums = collections.Counter()
for p in json.load(sys.stdin)["policies"]:
    for d in p["failure-details"]:
        sums[d["result-type"]] += d["failed-session-count"]
for name in sorted(sums):
    print("tlsrpt_today_failed_sessions{result_type=\"%s\"} %d" % (name, sums[name]))')"
assert_eq "policy lookups by answer (non-zero), cache hits" \
'tlsrpt_policy_answers_total{answer="notfound"} 2
tlsrpt_policy_cache_hits_total 0
tlsrpt_policy_lookups_total 2' \
    "$(metric tlsrpt_policy_answers_total | grep -v ' 0$'; metric tlsrpt_policy_cache_hits_total; metric tlsrpt_policy_lookups_total)"
assert_eq "alerts: none (no alert_command)" "tlsrpt_alerts_failed_total 0
tlsrpt_alerts_killed_total 0
tlsrpt_alerts_run_total 0" \
    "$(metric tlsrpt_alerts_failed_total; metric tlsrpt_alerts_killed_total; metric tlsrpt_alerts_run_total)"
assert_eq "outbox: no reports yet, destinations by transport and state" \
'tlsrpt_outbox_destinations{transport="https",state="delivered"} 0
tlsrpt_outbox_destinations{transport="https",state="failed"} 0
tlsrpt_outbox_destinations{transport="https",state="pending"} 0
tlsrpt_outbox_destinations{transport="https",state="retrying"} 0
tlsrpt_outbox_destinations{transport="mailto",state="delivered"} 0
tlsrpt_outbox_destinations{transport="mailto",state="failed"} 0
tlsrpt_outbox_destinations{transport="mailto",state="pending"} 0
tlsrpt_outbox_destinations{transport="mailto",state="retrying"} 0
tlsrpt_outbox_reports 0' "$(metric tlsrpt_outbox_destinations; metric tlsrpt_outbox_reports)"

if command -v promtool >/dev/null 2>&1; then
    printf '%s\n' "$out" | sed 1d >"$T/metrics.prom"
    lint=$(promtool check metrics <"$T/metrics.prom" 2>&1)
    assert_eq "promtool check metrics finds nothing" "0 " "$? $lint"
else
    echo "promtool not found (apt-get install prometheus): its check is skipped"
fi

assert_eq "another path is 404" 404 "$(fetch /)"
assert_eq "another method is 405" 405 "$(fetch /metrics POST)"
# A request larger than the server takes (64 KB of headers) is refused, and it still answers.
big=$(python3 - "$METRICS_PORT" <<'PY'
import select, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ")
# 1 KB at a time, stopping once the server has answered (it may close at once).
# The server may close while we still send: its answer is already on its way.
try:
    for _ in range(64):
        if select.select([s], [], [], 0)[0]:
            break
        s.sendall(b"a" * 1024)
except (BrokenPipeError, ConnectionResetError):
    pass
select.select([s], [], [], 60)
try:
    print(s.recv(100).split(b"\r\n")[0].decode())
except ConnectionResetError:
    print("reset before the answer could be read")
PY
)
assert_match "an over-long request gets a 4xx" "^HTTP/1.1 4[0-9][0-9] " "$big"
assert_eq "and the server answers after it" 200 "$(fetch /metrics | sed -n '1s/ .*//p')"

stop_daemon
assert_eq "the daemon stops cleanly with the metrics server" 0 "$DAEMON_STATUS"

# metrics_listen is checked with the configuration: numeric, with a port.
for bad in "127.0.0.1|a port is needed" "localhost:9473|not an IP address"; do
    echo "metrics_listen = ${bad%%|*}" >>"$CONF"
    out=$("$TLSRPT" conf metrics_listen 2>&1)
    assert_match "metrics_listen = ${bad%%|*} is refused with file:line" \
        "$CONF:[0-9]+: .*metrics_listen.*${bad#*|}" "$out"
done
finish
