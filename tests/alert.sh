#!/bin/sh
# alert.sh - alert_command: run by the daemon, without a shell, when a
# domain's failure rate today reaches alert_threshold with at least
# alert_min_sessions sessions; exactly the documented environment; once per
# alert_interval per domain; never below the minimum; a hung command killed.
. "$(dirname "$0")/lib.sh"
FILL="$top_builddir/tests/fill_counters"
USER_NAME=$(test_user)
today=$(date -u +%F)

{
    printf 'ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id\nREPLY QR RD RA SERVFAIL\nENTRY_END\n'
} >"$T/dns.data"
start_dns "$T/dns.data"

# The command: writes its arguments and environment to one file per run.
mkdir -p "$T/alerts"
chmod 777 "$T/alerts"
cat >"$T/alert-cmd" <<'EOF2'
#!/bin/sh
out="$1/$TLSRPT_DOMAIN.$$"
{ echo "args: $#: $1 $2"; env | sort; } >"$out.tmp" && mv "$out.tmp" "$out"
[ "$TLSRPT_DOMAIN" = hang.example ] && exec sleep 600
exit 0
EOF2
chmod 755 "$T/alert-cmd"

# bad.example 30 of 120 fail (0.25); few.example 50 of 99 (below the minimum);
# good.example 10 of 200 (0.05); hang.example 100 of 100, and its command hangs.
mkdir -p "$T/state/counters"
printf '%s\n' \
    "bad.example	-	sts	success	-	-	-	90" \
    "bad.example	-	sts	certificate-expired	mx.bad.example	-	-	10" \
    "bad.example	-	sts	validation-failure	mx.bad.example	-	-	20" \
    "few.example	-	no-policy-found	success	-	-	-	49" \
    "few.example	-	no-policy-found	starttls-not-supported	mx.few.example	-	-	50" \
    "good.example	-	tlsa	success	-	-	-	190" \
    "good.example	-	tlsa	tlsa-invalid	mx.good.example	-	-	10" \
    "hang.example	-	sts	certificate-not-trusted	mx.hang.example	-	-	100" |
    sed 's/	/\t/g' | "$FILL" "$T/state/counters" "$today"
[ "$(id -u)" -eq 0 ] && chown -R "$USER_NAME" "$T/state"

write_config "dns_resolvers = 127.0.0.1:$DNS_PORT" \
    "alert_command = $T/alert-cmd $T/alerts { second word }" "alert_threshold = 0.2" \
    "alert_min_sessions = 100" "alert_interval = 1h" "alert_check_interval = 1s" \
    "alert_timeout = 3s"
start_daemon

status_value() {
    "$TLSRPT" status | awk -v name="$1" '$1 == name {print $2}'
}
killed_one() { [ "$(status_value alerts.killed)" = 1 ]; }
wait_for "the hung alert command to be killed" 60 killed_one
runs_done() { [ "$(status_value alerts.running)" = 0 ]; }
wait_for "no alert command running" 60 runs_done

assert_eq "alerts for bad.example and hang.example only" "bad.example
hang.example" "$(ls "$T/alerts" | sed 's/\.[0-9]*$//' | sort)"
assert_eq "the exact arguments and environment" "args: 2: $T/alerts second word
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PWD=$(cd / && pwd)
TLSRPT_DAY=$today
TLSRPT_DOMAIN=bad.example
TLSRPT_FAILURES=30
TLSRPT_FAILURE_RATE=0.2500
TLSRPT_SESSIONS=120
TLSRPT_TOP_FAILURE=validation-failure" "$(cat "$T/alerts"/bad.example.* | grep -v '^SHLVL=\|^_=')"
assert_eq "the hung one had its facts too" "TLSRPT_FAILURE_RATE=1.0000 TLSRPT_TOP_FAILURE=certificate-not-trusted" \
    "$(grep -h '^TLSRPT_FAILURE_RATE=\|^TLSRPT_TOP_FAILURE=' "$T/alerts"/hang.example.* | tr '\n' ' ' | sed 's/ $//')"
assert_match "the daemon logs the kill" "alert_command for hang.example still running after alert_timeout \\(3 s\\): killed" \
    "$(cat "$T/daemon.log")"
assert_eq "2 alerts run, none failed to start" "2 0" "$(status_value alerts.run) $(status_value alerts.failed)"

# More failures for bad.example: still within alert_interval, so no second alert,
# while the daemon keeps checking (a check covers a new domain that crosses now).
printf '%s\n' "bad.example	-	sts	validation-failure	mx.bad.example	-	-	50" \
    "late.example	-	sts	validation-failure	mx.late.example	-	-	100" |
    sed 's/	/\t/g' | "$FILL" "$T/state/counters" "$today"
late_alerted() { ls "$T/alerts" | grep -q '^late\.example\.'; }
wait_for "the alert for late.example" 60 late_alerted
wait_for "no alert command running" 60 runs_done
assert_eq "one alert per domain within alert_interval" "bad.example 1
hang.example 1
late.example 1" "$(ls "$T/alerts" | sed 's/\.[0-9]*$//' | sort | uniq -c | awk '{print $2, $1}')"

# A bad alert_threshold is refused with the file and line.
echo "alert_threshold = 1.5" >>"$CONF"
out=$("$TLSRPT" conf alert_threshold 2>&1)
assert_match "alert_threshold above 1 is refused with file:line" \
    "$CONF:[0-9]+: .*alert_threshold.*a failure rate above 0 and at most 1" "$out"

stop_daemon
assert_eq "the daemon stops cleanly" 0 "$DAEMON_STATUS"
finish
