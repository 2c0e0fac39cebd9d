#!/bin/sh
# notify.sh - tlsrptd under systemd's Type=notify: with $NOTIFY_SOCKET set and
# no -f it stays the process systemd started, and it sends READY=1 once it
# serves, RELOADING=1 and READY=1 around each SIGHUP (a refused reload says
# why in STATUS=), STOPPING=1 at SIGTERM: the exact messages, in order.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
SEND="$top_builddir/tests/dgram_send"
SAMPLE="$top_srcdir/tests/data/libtlsrpt-sample.jsonl"

write_config "collector_socket_group =" "dns_resolvers = 127.0.0.1:9"

# systemd's side: a datagram socket; each message becomes one line, "|" for newlines.
cat >"$T/listen.py" <<'PY'
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)  # the daemon sends its later messages as its own user
open(out, "w").close()
with open(out, "a") as f:
    while True:
        msg = s.recv(4096).decode()
        if msg == "quit":
            break
        f.write(msg.replace("\n", "|") + "\n")
        f.flush()
PY
python3 "$T/listen.py" "$T/notify.sock" "$T/messages" &
LISTEN_PID=$!
wait_for "the notify socket" 30 test -S "$T/notify.sock" || exit 1

# messages: what arrived, the periodic STATUS= updates and the changing numbers left out.
messages() {
    grep -v '^STATUS=' "$T/messages" | sed -e 's/MAINPID=[0-9]*/MAINPID=PID/' \
        -e 's/MONOTONIC_USEC=[0-9]*/MONOTONIC_USEC=N/' -e 's/ran [0-9]* times/ran N times/'
}
has_lines() { [ "$(messages | wc -l)" -ge "$1" ]; }

NOTIFY_SOCKET="$T/notify.sock" "$TLSRPTD" -c "$CONF" -o "tlsrptd_user=$(test_user)" \
    >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_for "READY=1" 60 has_lines 1
assert_eq "without -f, the process started is the daemon" "$DAEMON_PID" \
    "$(cat "$T/run/tlsrptd.pid" 2>/dev/null)"
ready="READY=1|MAINPID=PID|STATUS=collecting; 0 datagrams accepted, 0 rejected; log sources none; report worker ran N times, last exit 0"
assert_eq "READY=1 with the daemon's pid and a status line" "$ready" "$(messages)"
assert_eq "MAINPID is the daemon's" "MAINPID=$DAEMON_PID" \
    "$(grep -o 'MAINPID=[0-9]*' "$T/messages")"

# The sample: 7 good and 3 bad datagrams; the status line after the reload counts them.
"$SEND" "$T/run/collector.sock" "$SAMPLE" >/dev/null
counted() { "$TLSRPT" status | grep -Eq '^collector.rejected +3$'; }
wait_for "the collector to count the sample" 60 counted
kill -HUP "$DAEMON_PID"
wait_for "the reload to finish" 60 has_lines 3
reloaded="RELOADING=1|MONOTONIC_USEC=N|STATUS=reloading
READY=1|STATUS=collecting; 7 datagrams accepted, 3 rejected; log sources none; report worker ran N times, last exit 0"
assert_eq "a reload: RELOADING=1 with the time, then READY=1" "$ready
$reloaded" "$(messages)"
usec=$(grep -o 'MONOTONIC_USEC=[0-9]*' "$T/messages" | cut -d= -f2)
now=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)')
assert_eq "MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds (within 10 minutes of now)" 1 \
    "$(( usec > 0 && usec <= now + 1000000 && now - usec < 600000000 ))"

# A broken file: the reload is refused, the daemon stays ready and says why.
echo "dns_timeout = banana" >>"$CONF"
line=$(wc -l <"$CONF")
kill -HUP "$DAEMON_PID"
wait_for "the refused reload" 60 has_lines 5
refused="RELOADING=1|MONOTONIC_USEC=N|STATUS=reloading
READY=1|STATUS=reload refused, running configuration kept: $CONF:$line: dns_timeout = banana: bad time value (use a number with an optional unit s, m, h, d or w)"
assert_eq "a refused reload: READY=1 again, STATUS= names file and line" "$ready
$reloaded
$refused" "$(messages)"

kill -TERM "$DAEMON_PID"
wait_for "the daemon to stop" 60 process_gone "$DAEMON_PID"
wait "$DAEMON_PID"
assert_eq "a clean stop" 0 "$?"
DAEMON_PID=
assert_eq "STOPPING=1 last" "$ready
$reloaded
$refused
STOPPING=1|STATUS=stopping" "$(messages)"

python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"quit", sys.argv[1])' \
    "$T/notify.sock"
wait "$LISTEN_PID"
finish
