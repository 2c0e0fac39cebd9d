#!/bin/sh
# daemon.sh - tlsrptd as it runs in production: directories and sockets
# with safe owners and modes, the privilege drop, one instance per state
# directory, peer credentials on the control socket, SIGHUP reload (good and
# bad), `tlsrpt status`, and a clean SIGTERM stop.
. "$(dirname "$0")/lib.sh"
FILL="$top_builddir/tests/fill_counters"
USER_NAME=$(test_user)

write_config
# Retention: a reported day past counter_retention goes, an unreported one stays.
mkdir -p "$T/state/counters"
old_reported=$(date -u -d '-30 days' +%F)
old_unreported=$(date -u -d '-31 days' +%F)
printf 'a.example\t-\tsts\tsuccess\t-\t-\t-\t1\n' | "$FILL" -R "$T/state/counters" "$old_reported"
printf 'a.example\t-\tsts\tsuccess\t-\t-\t-\t1\n' | "$FILL" "$T/state/counters" "$old_unreported"
[ "$(id -u)" -eq 0 ] && chown -R "$USER_NAME" "$T/state"
start_daemon

# Start-up warnings come at start, not with the first delivery: no DKIM key here, and
# no log_sources, so the collector socket is the only way in and its kernel queue matters.
assert_eq "the DKIM warning is given at start" \
    "tlsrptd: warning: $CONF: dkim_key_file and dkim_selector are not set: report mail must be DKIM-signed (RFC 8460 section 3), so reports to mailto: destinations are not sent until they are (https: ones are)" \
    "$(grep dkim_key_file "$T/daemon.log")"
qlen=$(cat /proc/sys/net/unix/max_dgram_qlen 2>/dev/null || echo 1024)
if [ "$qlen" -lt 512 ]; then
    assert_eq "the max_dgram_qlen warning, collector in use" 1 "$(grep -c max_dgram_qlen "$T/daemon.log")"
else
    echo "note: net.unix.max_dgram_qlen is $qlen: its warning is not exercised"
fi
# A site that follows its log (collector_socket left at its default) and signs its mail: neither.
make_dkim_key
: >"$T/mail.log"
"$TLSRPTD" -f -c "$CONF" -o "tlsrptd_user=$USER_NAME" -o "state_directory=$T/state3" \
    -o "runtime_directory=$T/run3" -o "log_sources=postfix:file:$T/mail.log" \
    -o "dkim_key_file=$T/dkim.key" -o dkim_selector=s1 >"$T/quiet.log" 2>&1 &
quiet_pid=$!
SINK_PIDS="$SINK_PIDS $quiet_pid"
wait_for "the log-following daemon to start" 60 grep -q " started: " "$T/quiet.log"
assert_eq "log following only, DKIM set: no DKIM and no max_dgram_qlen warning" "" \
    "$(grep -e dkim -e max_dgram_qlen "$T/quiet.log")"
kill -TERM "$quiet_pid"
wait "$quiet_pid"

pid_uid=$(awk '/^Uid:/ {print $2}' "/proc/$DAEMON_PID/status")
assert_eq "the daemon runs as the unprivileged user" "$(id -u "$USER_NAME")" "$pid_uid"
assert_eq "with that user's groups, and only those (adm: reading the mail log)" \
    "$(id -G "$USER_NAME" | tr ' ' '\n' | sort -n | tr '\n' ' ')" \
    "$(awk '/^Groups:/ {for (i = 2; i <= NF; i++) print $i}' "/proc/$DAEMON_PID/status" | sort -n | tr '\n' ' ')"
assert_eq "control socket mode and owner" "660 $USER_NAME" "$(stat -c '%a %U' "$T/run/control.sock")"
assert_eq "state directory mode and owner" "750 $USER_NAME" "$(stat -c '%a %U' "$T/state")"
assert_eq "counters directory exists" "750" "$(stat -c '%a' "$T/state/counters")"
assert_eq "pid file" "$DAEMON_PID" "$(cat "$T/run/tlsrptd.pid")"

out=$("$TLSRPT" status)
assert_match "status shows the user" "^user +$USER_NAME\$" "$out"
assert_match "status shows no table yet" "^counters.table +none\$" "$out"
json=$("$TLSRPT" status --json)
assert_match "status --json nests dotted names" '"counters": \{' "$json"
assert_match "status --json has numbers as numbers" '"pid": [0-9]+,' "$json"

assert_eq "a reported day past retention is removed" "gone" \
    "$([ -e "$T/state/counters/$old_reported.ctr" ] || echo gone)"
assert_eq "an unreported one is kept" "kept" \
    "$([ -e "$T/state/counters/$old_unreported.ctr" ] && echo kept)"

# A second daemon on the same state directory must refuse to start.
out=$("$TLSRPTD" -f -c "$CONF" -o "tlsrptd_user=$USER_NAME" 2>&1); status=$?
assert_eq "a second instance exits" 1 "$status"
assert_match "and says why" "is locked: another instance is running" "$out"
# Without -f, start-up failures still reach the terminal (not only syslog) with exit 1.
out=$("$TLSRPTD" -c "$CONF" -o "tlsrptd_user=$USER_NAME" 2>&1 >/dev/null); status=$?
assert_eq "a second instance, not in the foreground: exact stderr and exit 1" \
    "1 tlsrptd: fatal: $T/state/tlsrptd.lock is locked: another instance is running" "$status $out"
touch "$T/not-a-directory"
out=$("$TLSRPTD" -c "$CONF" -o "tlsrptd_user=$USER_NAME" -o "state_directory=$T/state2" \
    -o "runtime_directory=$T/run2" -o "control_socket=$T/not-a-directory/control.sock" 2>&1 >/dev/null)
status=$?
assert_eq "an unbindable control socket: exact stderr and exit 1" \
    "1 tlsrptd: fatal: control socket: bind $T/not-a-directory/control.sock: Not a directory" \
    "$status $(printf '%s\n' "$out" | grep fatal)"
if [ "$(id -u)" -eq 0 ]; then
    out=$("$TLSRPTD" -c "$CONF" -o "tlsrptd_user=no-such-user-x" 2>&1 >/dev/null); status=$?
    assert_eq "no such user, not in the foreground: exact stderr and exit 1" \
        "1 tlsrptd: fatal: $CONF: tlsrptd_user = no-such-user-x: no such user (create it: adduser --system --group --no-create-home no-such-user-x)" \
        "$status $out"
else
    echo "note: not root, tlsrptd_user is not looked up"
fi

# Events in today's table show up in status.
today=$(date -u +%F)
printf '%s\t-\tsts\tsuccess\t-\t-\t-\t7\n%s\t-\tsts\tcertificate-expired\tmx.a.example\t-\t-\t2\n' \
    a.example a.example | "$FILL" "$T/state/counters" "$today"
[ "$(id -u)" -eq 0 ] && chown -R "$USER_NAME" "$T/state/counters"
out=$("$TLSRPT" status)
assert_match "status counts successful sessions" "^counters.sessions_success +7\$" "$out"
assert_match "status counts failed sessions" "^counters.sessions_failure +2\$" "$out"
assert_match "status shows table fill (1 key, 1 detail row)" "^counters.entries_used +2$" "$out"

# Peer credentials: even with the socket opened to everyone, strangers are refused.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    chmod 666 "$T/run/control.sock"
    out=$(setpriv --reuid=daemon --regid=daemon --clear-groups "$TLSRPT" -c "$CONF" status 2>&1)
    status=$?
    assert_eq "a user outside the daemon's group is refused" 1 "$status"
    assert_match "the daemon logs the refusal" "refused connection from uid $(id -u daemon)" \
        "$(cat "$T/daemon.log")"
    assert_match "status counts it" "^control.refused +1\$" "$("$TLSRPT" status)"
else
    echo "note: not root, peer-credential refusal not exercised"
fi

# SIGHUP: a good file is taken, a broken one is refused and the old one kept.
echo "verbose = 1" >>"$CONF"
echo "verbos = 2" >>"$CONF"
kill -HUP "$DAEMON_PID"
wait_for "the reload" 60 grep -q "configuration reloaded" "$T/daemon.log"
out=$("$TLSRPT" status 2>/dev/null)
assert_match "SIGHUP reloads" "^reloads +1\$" "$out"
assert_match "status says the last reload was done" "^reload.last +done\$" "$out"
assert_match "and when" "^reload.last_time +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\$" "$out"
assert_match "and what the file warned of: a misspelt name, with file and line" \
    "^reload.last_warnings +$CONF:$(wc -l <"$CONF"): unknown parameter name \"verbos\"\$" "$out"
sed -i '$d' "$CONF"
echo "this line is broken" >>"$CONF"
broken_line=$(wc -l <"$CONF")
kill -HUP "$DAEMON_PID"
wait_for "the failed reload" 60 grep -q "reload failed" "$T/daemon.log"
assert_match "a broken file is refused with file and line" \
    "reload failed, keeping the running configuration: $CONF:$broken_line: " "$(cat "$T/daemon.log")"
# With the file still broken, status answers: a warning names file:line, the daemon says why.
out=$("$TLSRPT" status 2>"$T/status.err"); status=$?
assert_eq "status with a broken config file still answers" 0 "$status"
assert_eq "with a warning naming file and line" \
    "tlsrpt: warning: $CONF:$broken_line: missing '=' after parameter name; line ignored" \
    "$(cat "$T/status.err")"
assert_match "status says why the reload was refused" \
    "^reload.last +refused: $CONF:$broken_line: missing '=' after parameter name\$" "$out"
assert_match "and the daemon kept the old configuration" "^reloads +1\$" "$out"
assert_match "counters answers too" "^$(date -u +%F): 7 successful and 2 failed sessions" \
    "$("$TLSRPT" counters 2>/dev/null)"
assert_eq "and queue" "the outbox is empty" "$("$TLSRPT" queue 2>/dev/null)"
out=$("$TLSRPT" conf 2>&1); status=$?
assert_eq "conf still refuses the broken file" \
    "1 tlsrpt: fatal: $CONF:$broken_line: missing '=' after parameter name" "$status $out"
sed -i '$d' "$CONF"
assert_match "and the daemon still answers" "^reloads +1\$" "$("$TLSRPT" status)"

stop_daemon
assert_eq "SIGTERM stops cleanly" 0 "$DAEMON_STATUS"
assert_eq "the control socket is removed" "gone" "$([ -e "$T/run/control.sock" ] || echo gone)"
assert_eq "the pid file is removed" "gone" "$([ -e "$T/run/tlsrptd.pid" ] || echo gone)"
assert_eq "the last log line, after reloads, is exact" "tlsrptd: stopped" "$(tail -1 "$T/daemon.log")"
out=$("$TLSRPT" status 2>&1); status=$?
assert_eq "status without a daemon fails" 1 "$status"
assert_match "and says so" "is tlsrptd running" "$out"
finish
