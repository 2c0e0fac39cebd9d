#!/bin/sh
# collector_crash.sh - no accepted datagram lost, none counted twice: a sender
# plays a busy Postfix (blocking sendto, so the kernel drops nothing) while
# the daemon is killed with kill -9 thirty times under CPU load (two busy
# loops starve the idle-priority parse thread). Each kill comes once every
# datagram sent so far is in the journal (the sender pauses on SIGUSR1 and
# says how many it got through); the parser is then mid-way. At the end the
# counts must be exactly those of `tlsrpt ingest` of the same datagrams.
. "$(dirname "$0")/lib.sh"
SEND="$top_builddir/tests/dgram_send"
SAMPLE="$top_srcdir/tests/data/libtlsrpt-sample.jsonl"
KILLS=${KILLS:-30}
REPEAT=300 # 3,000 datagrams: 2,100 good, 900 rejected
DEADLINE=1200 # polls of 50 ms: a minute

BUSY=
SENDER=
stop_helpers() {
    for pid in $BUSY $SENDER; do kill -CONT "$pid" 2>/dev/null; kill "$pid" 2>/dev/null; done
    BUSY=
}
trap 'stop_helpers; cleanup' EXIT

status_value() { "$TLSRPT" status 2>/dev/null | awk -v k="$1" '$1 == k {print $2}'; }
wait_until() {
    n=0
    while ! "$@"; do
        n=$((n + 1))
        [ "$n" -gt "$DEADLINE" ] && return 1
        sleep 0.05
    done
}
appended_at_least() { a=$(status_value collector.journal_appended); [ -n "$a" ] && [ "$a" -ge "$1" ]; }
appended_is() { [ "$(status_value collector.journal_appended)" = "$1" ]; }
journal_empty() { [ "$(status_value collector.journal_pending_bytes)" = 0 ]; }
sender_state() { awk '{print $3}' "/proc/$SENDER/stat" 2>/dev/null; }
# The sender stopped itself (T) or ended (Z, not yet reaped).
sender_halted() { case $(sender_state) in T | Z | "") true ;; *) false ;; esac; }
sender_done() { case $(sender_state) in Z | "") true ;; *) false ;; esac; }

write_config "collector_socket_group =" "dns_resolvers = 127.0.0.1:9"
start_daemon
for _ in 1 2; do sh -c 'while :; do :; done' & BUSY="$BUSY $!"; done

"$SEND" -k "$T/sent" -i 300 -r "$REPEAT" "$T/run/collector.sock" "$SAMPLE" >"$T/sender.out" &
SENDER=$!
kills=0 behind=0 last=0
while [ "$kills" -lt "$KILLS" ]; do
    if ! sender_halted; then
        wait_until appended_at_least $((last + 20)) || sender_halted ||
            { fail "the journal did not grow after kill $kills"; break; }
        kill -USR1 "$SENDER" 2>/dev/null
        wait_until sender_halted || { fail "the sender did not pause"; break; }
    fi
    # Everything the sender got through is in the journal before the kill.
    if sender_done; then sent=$((REPEAT * 10)); else sent=$(cat "$T/sent"); fi
    wait_until appended_is "$sent" ||
        { fail "kill $kills: journal has $(status_value collector.journal_appended), sender sent $sent"; break; }
    [ "$(status_value collector.journal_pending_bytes)" != 0 ] && behind=$((behind + 1))
    kill -9 "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null
    cat "$T/daemon.log" >>"$T/daemons.log"
    start_daemon
    last=$(status_value collector.journal_appended)
    kill -CONT "$SENDER" 2>/dev/null
    kills=$((kills + 1))
done
wait "$SENDER"
sender_status=$?
SENDER=
stop_helpers
echo "$kills kills, $behind with datagrams not yet counted in the journal"
assert_eq "$KILLS kills" "$KILLS" "$kills"
assert_eq "the sender got every datagram through" "0 sent $((REPEAT * 10)), lost 0" \
    "$sender_status $(cat "$T/sender.out")"
assert_match "kills came while the parser was behind" "^[1-9]" "$behind"
wait_until journal_empty || fail "the journal was not counted to its end"
assert_eq "the journal holds every datagram sent, once" "$((REPEAT * 10))" \
    "$(status_value collector.journal_appended)"
assert_eq "nothing dropped or damaged" "0 0" \
    "$(status_value collector.dropped_by.journal-full) $(status_value collector.dropped_by.journal-damaged)"
stop_daemon
cat "$T/daemon.log" >>"$T/daemons.log"
assert_eq "SIGTERM stops cleanly" 0 "$DAEMON_STATUS"

# The reference: the same datagrams counted once by the offline parser.
for _ in $(seq 1 "$REPEAT"); do cat "$SAMPLE"; done >"$T/all.jsonl"
"$TLSRPT" -o "state_directory=$T/reference" ingest --format libtlsrpt "$T/all.jsonl" >/dev/null 2>&1
strip() { sed '/"max_entries"/d; /"entries_used"/d'; }
expected=$("$TLSRPT" -o "state_directory=$T/reference" counters --json | strip)
assert_match "the reference has example.com's 600 successes" '"total-successful-session-count": 600,' "$expected"
assert_eq "counts after $KILLS kills equal one uninterrupted pass" "$expected" \
    "$("$TLSRPT" counters --json | strip)"
finish
