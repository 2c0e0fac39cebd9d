#!/bin/sh
# control.sh - idle and slow control clients cannot lock an administrator
# out: with 100 silent connections and a half-sent request kept open (and
# re-opened as the daemon drops them), `tlsrpt status` still answers at
# once, and a started request that stalls is dropped well within a second;
# with more silent clients than slots, the one waiting longest goes.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"

write_config
start_daemon

cat >"$T/holder.py" <<'PY'
import os, socket, sys, time
path, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s
def dropped(s):  # has the daemon closed it?
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
idle = [connect() for _ in range(n)]
half = connect()
half.sendall(b"sta")
sent = time.monotonic()
open(out + ".ready.tmp", "w").close()
os.rename(out + ".ready.tmp", out + ".ready")
half.settimeout(30)
try:
    data = half.recv(100)  # b"" once the daemon drops the stalled request
except OSError:
    data = b""
took = int((time.monotonic() - sent) * 1000)
with open(out + ".half.tmp", "w") as f:
    f.write("%r %d\n" % (data, took))
os.rename(out + ".half.tmp", out + ".half")
# Keep n silent clients and one half request connected until killed.
while True:
    for i, s in enumerate(idle):
        if dropped(s):
            s.close()
            idle[i] = connect()
    if dropped(half):
        half.close()
        half = connect()
        half.sendall(b"sta")
    time.sleep(0.05)
PY
HOLDER_PID=
trap 'kill $HOLDER_PID 2>/dev/null; cleanup' EXIT
hold() { # N: N silent clients and a half request, kept connected
    rm -f "$T/holder.ready" "$T/holder.half"
    python3 "$T/holder.py" "$T/run/control.sock" "$T/holder" "$1" 2>"$T/holder.err" &
    HOLDER_PID=$!
    for _ in $(seq 1 300); do [ -e "$T/holder.ready" ] && break; sleep 0.05; done
    assert_eq "the holder has its $1 + 1 connections" yes "$([ -e "$T/holder.ready" ] && echo yes)" ||
        cat "$T/holder.err"
}
statuses() { # TIMES: how many `tlsrpt status` answered; the slowest in $slowest ms
    answered=0 slowest=0
    for _ in $(seq 1 "$1"); do
        start=$(date +%s%N)
        if "$TLSRPT" status >"$T/status.out" 2>&1 &&
            grep -q "^pid  *$DAEMON_PID\$" "$T/status.out"; then
            answered=$((answered + 1))
        else
            cat "$T/status.out"
        fi
        took=$((($(date +%s%N) - start) / 1000000))
        [ "$took" -gt "$slowest" ] && slowest=$took
    done
}

hold 100
statuses 5
assert_eq "tlsrpt status answers every time beside 100 idle clients" 5 "$answered"
assert_eq "and within its normal time (under 2 s; slowest ${slowest} ms)" yes \
    "$([ "$slowest" -lt 2000 ] && echo yes)"

for _ in $(seq 1 300); do [ -e "$T/holder.half" ] && break; sleep 0.05; done
data=none took=-1
[ -e "$T/holder.half" ] && read -r data took <"$T/holder.half"
kill -0 $HOLDER_PID 2>/dev/null || { fail "the holder died"; cat "$T/holder.err"; }
assert_eq "a stalled half request gets no reply, only a close" "b''" "$data"
assert_eq "and is dropped well within a second (${took} ms)" yes \
    "$([ "$took" -ge 200 ] && [ "$took" -lt 800 ] && echo yes)"
kill $HOLDER_PID 2>/dev/null; wait $HOLDER_PID 2>/dev/null

# More silent clients than slots: the oldest waiting gives up its slot.
hold 200
statuses 3
assert_eq "with 200 silent clients, status still answers every time" 3 "$answered"
assert_match "the daemon says it closed waiting clients, once" \
    "control: 128 clients waiting; closed the one waiting longest \\(1 so far\\)" \
    "$(cat "$T/daemon.log")"
assert_eq "one warning, not one per client" 1 "$(grep -c 'clients waiting' "$T/daemon.log")"
finish
