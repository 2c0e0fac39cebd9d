#!/bin/sh
# milter_postfix.sh - messages/s through a real Postfix with tlsrpt-milter
# (smtpd_milters and non_smtpd_milters, prefetch off: no tlsrptd runs)
# beside the same Postfix without a milter and with one that does nothing
# (bench/bench_null_milter), in the same run: the lab's network
# namespace (tests/lab/setup.sh), a private Postfix taking mail on
# 127.0.0.1:2525 from 4 SMTP clients at once and relaying it to an MX that
# accepts everything (fault_mx.py, plain). The time is from the first
# message sent to the last "status=sent" in Postfix's log. Root only (77).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
export TZ=UTC
. "$top_srcdir/tests/lab/setup.sh"
trap 'lab_down; cleanup' EXIT
trap 'exit 1' INT TERM HUP
MESSAGES=${BENCH_MESSAGES:-400}
lab_require

lab_single_mx sink 127.0.0.21 plain sink.lab
cp "$LAB_PF/etc/main.cf" "$LAB_PF/main.cf.plain"
MPORT=8460
write_config "tlsrptd_user = $(test_user)" "control_socket = $T/run/none.sock" \
    "milter_socket = inet:$MPORT@127.0.0.1" "milter_socket_group =" "milter_prefetch = no"

# send: MESSAGES messages from 4 SMTP connections at once (3 recipients each).
send() {
    nsx python3 - "$MESSAGES" <<'PY'
import smtplib, sys, threading
total = int(sys.argv[1])
def client(k):
    s = smtplib.SMTP("127.0.0.1", 2525, timeout=120)
    for i in range(k, total, 4):
        body = "From: a@sender.lab\r\nTo: u@sink.lab\r\nSubject: bench %d\r\n\r\n%s" % (i, "x" * 2000)
        s.sendmail("a@sender.lab", ["u%d@sink.lab" % r for r in range(3)], body)
    s.quit()
threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
}
sent_all() { [ "$(grep -c 'status=sent' "$LAB_MAILLOG" 2>/dev/null)" -ge $((MESSAGES * 3)) ]; }

# run LABEL: messages/s of one Postfix run with the main.cf in place.
run() {
    mkdir -p "$LAB_PF"
    rm -f "$LAB_MAILLOG"
    : >"$LAB_MAILLOG"
    lab_postfix_start
    start=$(date +%s%N)
    send || { echo "bench_milter_postfix: sending failed ($1)"; exit 1; }
    wait_for "Postfix to deliver $MESSAGES messages ($1)" 600 sent_all || exit 1
    end=$(date +%s%N)
    lab_postfix_stop
    echo "$((MESSAGES * 1000000000 / (end - start)))"
}

plain=$(run "without the milter") || exit 1
{
    cat "$LAB_PF/main.cf.plain"
    echo "smtpd_milters = inet:127.0.0.1:$MPORT"
    echo "non_smtpd_milters = inet:127.0.0.1:$MPORT"
    echo "milter_default_action = accept"
} >"$LAB_PF/etc/main.cf"
# The same with a milter that does nothing: what the milter protocol costs.
ip netns exec "$LAB_NS" "$top_builddir/bench/bench_null_milter" "inet:$MPORT@127.0.0.1" >"$T/null.log" 2>&1 &
NULL_PID=$!
null=$(run "with a null milter") || exit 1
kill -TERM "$NULL_PID"; wait "$NULL_PID"
MILTER_WRAP="ip netns exec $LAB_NS"
start_milter
with=$(run "with tlsrpt-milter") || exit 1
stop_milter
echo "bench_milter_postfix: $MESSAGES messages (3 recipients, 2 KB) into Postfix on 127.0.0.1:2525, relayed to a sink MX:"
echo "  Postfix without a milter (baseline): $plain messages/s"
echo "  Postfix with a null milter:          $null messages/s"
echo "  Postfix with tlsrpt-milter:          $with messages/s"
grep stopping: "$T/milter.log" | sed 's/^tlsrpt-milter: /  /'
