#!/bin/sh
# milter.sh - tlsrpt-milter against miltertest (Debian's libmilter test
# client, Lua scripts in tests/milter/), with the real daemon: the loop
# guard (TLS-Required: No; the queue id reaches the log follower, whose
# Postfix log lines of that message then count no TLS session), prefetch of
# recipient domains into the policy service (a policy fetched over HTTPS
# from a local server, no failure counted), bounces passed on, hostile
# input, a unix socket, the totals the milter logs when it stops, and a
# daemon that is gone or never answers (mail flows, each wait bounded), and
# a full prefetch queue.
. "$(dirname "$0")/lib.sh"
SCRIPTS="$top_srcdir/tests/milter"
command -v miltertest >/dev/null 2>&1 || skip "miltertest not found (apt-get install miltertest)"

# DNS: enforce.example has an enforce policy on the local HTTPS server;
# broken.example a record whose policy URL answers 404; the rest SERVFAIL.
SOA="example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 120"
{
    dns_entry NOERROR _mta-sts.enforce.example. TXT ANSWER \
        '_mta-sts.enforce.example. 0 IN TXT "v=STSv1; id=e1;"'
    dns_entry NOERROR _mta-sts.broken.example. TXT ANSWER \
        '_mta-sts.broken.example. 0 IN TXT "v=STSv1; id=b1;"'
    for name in enforce broken; do
        dns_entry NOERROR "mta-sts.$name.example." A ANSWER "mta-sts.$name.example. 0 IN A 127.0.0.1"
        dns_entry NOERROR "mta-sts.$name.example." AAAA AUTHORITY "$SOA"
        dns_entry NOERROR "$name.example." MX ANSWER "$name.example. 0 IN MX 10 mx.$name.example."
    done
    printf 'ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id\nREPLY QR RD RA SERVFAIL\nENTRY_END\n'
} >"$T/dns.data"
start_dns "$T/dns.data"
start_sts_web enforce.example broken.example
printf '200 text/plain\nversion: STSv1\nmode: enforce\nmx: mx.enforce.example\nmax_age: 86400\n' \
    >"$T/web/mta-sts.enforce.example"

PORT=$(free_port)
: >"$T/mail.log"
write_config "dns_resolvers = 127.0.0.1:$DNS_PORT" "policy_socket = $T/run/policy.sock" \
    "policy_socket_group =" "sts_ca_file = $T/ca.pem" "sts_https_port = $WEB_PORT" \
    "report_envelope_sender = tlsrpt@sender.example" "log_sources = postfix:file:$T/mail.log" \
    "milter_socket = inet:$PORT@127.0.0.1" "milter_socket_group ="
start_daemon

# mt SCRIPT [SOCKET]: runs a miltertest script; its output and exit status.
mt() {
    out=$(miltertest -D "SOCK=${2:-inet:$PORT@127.0.0.1}" -D "DIR=$SCRIPTS" -s "$SCRIPTS/$1" 2>&1)
    status=$?
    echo "$out"
    echo "exit $status"
}

start_milter
assert_eq "milter logs its settings" \
    "tlsrpt-milter: tlsrpt-milter 0.1.0 started: config $CONF, socket inet:$PORT@127.0.0.1, report sender tlsrpt@sender.example, bounces discard, prefetch $T/run/policy.sock" \
    "$(grep started "$T/milter.log")"

# Loop guard: every report form gets the header once, nothing else does.
LOOP_GUARD="own: eom=continue tls-required=added quarantine=no
own-verp: eom=continue tls-required=added quarantine=no
third-party: eom=continue tls-required=added quarantine=no
third-party-unquoted: eom=continue tls-required=added quarantine=no
already-marked: eom=continue tls-required=no quarantine=no
dsn-type: eom=continue tls-required=no quarantine=no
no-report-domain: eom=continue tls-required=no quarantine=no
sender-lookalike: eom=continue tls-required=no quarantine=no
no-queue-id: eom=continue tls-required=added quarantine=no
exit 0"
assert_eq "loop guard: replies and added headers" "$LOOP_GUARD" "$(mt loop_guard.lua)"
assert_match "a report without {i} is logged" \
    "warning: report mail without a queue id: the MTA sends no \{i\} macro at end of message" \
    "$(cat "$T/milter.log")"
# Five queue ids reached the follower (own, own-verp, the two third-party, already-marked).
wait_status logfollow.own_mail 5
assert_eq "status logfollow.own_mail_dropped" 0 "$(status_value logfollow.own_mail_dropped)"

# The follower: the report's delivery (queue id 4ABC123DEF) is no TLS session; another one is.
now=$(date '+%b %e %H:%M:%S')
cat >>"$T/mail.log" <<LOG
$now sender postfix/smtp[700]: Trusted TLS connection established to mx.rua.example[192.0.2.9]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
$now sender postfix/smtp[700]: 4ABC123DEF: to=<tlsrpt@rua.example>, relay=mx.rua.example[192.0.2.9]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok)
$now sender postfix/smtp[701]: Trusted TLS connection established to mx.other.example[192.0.2.10]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
$now sender postfix/smtp[701]: 5DEF456ABC: to=<user@other.example>, relay=mx.other.example[192.0.2.10]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok)
LOG
wait_status logfollow.1.mta_lines 4
assert_eq "the follower: the report's session not counted" 1 "$(status_value logfollow.1.own_reports)"
assert_eq "the follower: the other session counted" 1 "$(status_value logfollow.1.sessions)"

# Prefetch: enforce.example fetched once, broken.example tried without counting a failure
# (rua.example came from the third-party reports above).
assert_eq "prefetch: replies" "outgoing: eom=continue tls-required=no quarantine=no
again: eom=continue tls-required=no quarantine=no
own-report: eom=continue tls-required=added quarantine=no
exit 0" "$(mt prefetch.lua)"
wait_status policy.sts.prefetches 3
assert_eq "status policy.sts.fetches_ok" 1 "$(status_value policy.sts.fetches_ok)"
assert_eq "status policy.sts.errors.fetch" 1 "$(status_value policy.sts.errors.fetch)"
assert_eq "the policies were fetched once each" \
    "mta-sts.enforce.example /.well-known/mta-sts.txt
mta-sts.broken.example /.well-known/mta-sts.txt" "$(sort -r "$T/web/requests.log")"
assert_eq "a prefetch counts no failure: only the follower's session is in the table" \
    "other.example no-policy-found 1 0 " "$(counter_table "$CONF" "$(date -u +%F)")"
assert_eq "status policy.replies.notfound: prefetch answers" 3 \
    "$(status_value policy.replies.notfound)"

# Bounces: none can match yet (the outbox is empty); all pass on untouched.
assert_eq "bounces: passed on" "unknown-tag: eom=continue tls-required=no quarantine=no
broken-mime: eom=continue tls-required=no quarantine=no
1000-recipients: eom=continue tls-required=no quarantine=no
too-large: eom=continue tls-required=no quarantine=no
exit 0" "$(mt bounce.lua)"
assert_match "a bounce over milter_max_message_size is logged" \
    "warning: bounce larger than milter_max_message_size to tlsrpt\+5555555555555555-6666666666666666@sender.example: passed on untouched" \
    "$(cat "$T/milter.log")"

assert_eq "hostile input: answered, mail left alone" "long-headers: eom=continue tls-required=no quarantine=no
1200-headers: eom=continue tls-required=no quarantine=no
long-sender: eom=continue tls-required=no quarantine=no
after-abort: eom=continue tls-required=no quarantine=no
exit 0" "$(mt hostile.lua)"
wait_status policy.sts.prefetches 4

stop_milter
assert_eq "milter exit status" 0 "$MILTER_STATUS"
assert_eq "milter totals" \
    "tlsrpt-milter: stopping: 21 messages; report mail 7 (TLS-Required added 6, queue id told 6, not told 0, without queue id 1); bounces 5 (matched 0, passed on 3, too large 2); prefetch: queued 4, recent 8, dropped 0, sent 4, failed 0" \
    "$(grep stopping: "$T/milter.log")"

# A unix socket, the daemon gone: mail still flows, the failure is told once.
stop_daemon
start_milter -o "milter_socket=unix:$T/run/milter.sock" -o milter_prefetch=no
assert_eq "unix socket: permissions" 660 "$(stat -c %a "$T/run/milter.sock")"
assert_eq "unix socket, no daemon: the same replies" "$LOOP_GUARD" \
    "$(mt loop_guard.lua "unix:$T/run/milter.sock")"
stop_milter
assert_eq "no daemon: one warning for five failures" 1 \
    "$(grep -c "warning: tlsrptd was not told of report mail: connect" "$T/milter.log")"
assert_eq "no daemon: totals" \
    "tlsrpt-milter: stopping: 9 messages; report mail 6 (TLS-Required added 5, queue id told 0, not told 5, without queue id 1); bounces 0 (matched 0, passed on 0, too large 0); prefetch: queued 0, recent 0, dropped 0, sent 0, failed 0" \
    "$(grep stopping: "$T/milter.log")"
assert_eq "the unix socket is removed" no "$([ -e "$T/run/milter.sock" ] && echo yes || echo no)"

# A daemon that takes the connection and never answers: each report's queue id
# costs the end-of-message callback 500 ms at most, then the mail goes on.
python3 -c 'import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); s.listen(64)
held = []
while True:
    held.append(s.accept()[0])' "$T/run/control.sock" &
HUNG_PID=$!
SINK_PIDS="$SINK_PIDS $HUNG_PID" # killed on exit too
wait_for "the silent control socket" 60 test -S "$T/run/control.sock"
start_milter -o milter_prefetch=no
started=$(date +%s%N)
assert_eq "a silent daemon: the same replies" "$LOOP_GUARD" "$(mt loop_guard.lua)"
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
kill "$HUNG_PID"
stop_milter
checks=$((checks + 1))
if [ "$elapsed_ms" -ge 2500 ] && [ "$elapsed_ms" -lt 20000 ]; then
    echo "ok: a silent daemon: 5 waits of 500 ms, $elapsed_ms ms in all"
else
    fail "a silent daemon: $elapsed_ms ms for 5 waits of 500 ms"
fi
assert_eq "a silent daemon: one warning, the timeout" \
    "tlsrpt-milter: warning: tlsrptd was not told of report mail: no reply from $T/run/control.sock within 500 ms (0 more since the last warning)" \
    "$(grep "not told of report mail" "$T/milter.log")"

# A full prefetch queue (milter_prefetch_queue = 1) while the daemon's policy
# socket takes a request and never answers: the next domain waits, the rest
# are dropped and counted, and the callbacks do not wait.
python3 -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); s.listen(4)
c = s.accept()[0]
with open(sys.argv[2], "ab", buffering=0) as log:
    while True:
        data = c.recv(4096)
        if not data:
            break
        log.write(data)' "$T/run/silent-policy.sock" "$T/silent-policy.log" &
SINK_PIDS="$SINK_PIDS $!"
wait_for "the silent policy socket" 60 test -S "$T/run/silent-policy.sock"
start_milter -o "policy_socket=$T/run/silent-policy.sock" -o milter_prefetch_queue=1
rcpts() { # NAME RECIPIENTS
    miltertest -D "SOCK=inet:$PORT@127.0.0.1" -D "DIR=$SCRIPTS" -D "NAME=$1" -D "RCPTS=$2" \
        -s "$SCRIPTS/rcpts.lua" 2>&1
}
assert_eq "prefetch: the first domain" "first: eom=continue tls-required=no quarantine=no" \
    "$(rcpts first a@d0.example)"
wait_for "the prefetch request to arrive" 60 grep -q d0.example "$T/silent-policy.log"
assert_eq "the request as sent" "26:tlsrpt-prefetch d0.example," "$(cat "$T/silent-policy.log")"
assert_eq "prefetch: five more while it waits" "more: eom=continue tls-required=no quarantine=no" \
    "$(rcpts more "a@d1.example b@d2.example c@d3.example d@d4.example e@d5.example")"
stop_milter
assert_eq "prefetch: one queued behind, four dropped, the one in flight failed at the stop" \
    "tlsrpt-milter: stopping: 2 messages; report mail 0 (TLS-Required added 0, queue id told 0, not told 0, without queue id 0); bounces 0 (matched 0, passed on 0, too large 0); prefetch: queued 2, recent 0, dropped 4, sent 0, failed 1" \
    "$(grep stopping: "$T/milter.log")"
finish
