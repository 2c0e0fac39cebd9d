#!/bin/sh
# lab_milter.sh - a bounce after the relay, caught by tlsrpt-milter in a real
# Postfix: in a network namespace of its own (tests/lab/setup.sh), a report
# goes from `tlsrpt run` to a private Postfix (smtpd on 127.0.0.1:2525, the
# milter in smtpd_milters), which relays it to the rua's MX; that MX answers
# 550 5.1.1, Postfix's bounce(8) writes a DSN to the report's VERP sender,
# and the milter (non_smtpd_milters, internal_mail_filter_classes = bounce)
# discards it after marking the destination failed and suppressed. With the
# milter stopped, milter_default_action = accept lets mail through.
# Skips (77) without root or netns.
. "$(dirname "$0")/lib.sh"
export TZ=UTC
. "$top_srcdir/tests/lab/setup.sh"
trap 'lab_down; cleanup' EXIT
trap 'exit 1' INT TERM HUP
lab_require
DAY=2025-07-01
RUA=tlsrpt@refuse550.lab

# One MX host: no STARTTLS, 550 to every recipient.
lab_single_mx reject 127.0.0.20 reject refuse550.lab
MPORT=8460
cat >>"$LAB_PF/etc/main.cf" <<EOF_MAIN
smtpd_milters = inet:127.0.0.1:$MPORT
non_smtpd_milters = inet:127.0.0.1:$MPORT
milter_default_action = accept
internal_mail_filter_classes = bounce
# Held until the test has seen "accepted by relay" (then postqueue -f): the
# 550 and its bounce cannot come first on a loaded machine.
defer_transports = smtp
EOF_MAIN
mkdir -p "$LAB_PF"
: >"$LAB_MAILLOG"
chmod 644 "$LAB_MAILLOG"

make_dkim_key
write_config "tlsrptd_user = $(test_user)" "report_spread = 0" "relayhost = [127.0.0.1]:2525" \
    "dkim_selector = tlsrpt1" "dkim_key_file = $T/dkim.key" "dns_resolvers = 127.0.0.1:53" \
    "suppress_after_failures = 1" "control_socket = $T/run/none.sock" \
    "milter_socket = inet:$MPORT@127.0.0.1" "milter_socket_group =" "milter_prefetch = no"
MILTER_WRAP="ip netns exec $LAB_NS"
start_milter
lab_postfix_start

printf '{"dpv": "1","d": "refuse550.lab","pr": "v=TLSRPTv1;rua=mailto:%s","policies":[{"policy-type":9,"t":0,"f":0}]}\n' \
    "$RUA" >"$T/day.jsonl"
"$TLSRPT" ingest --format libtlsrpt --day "$DAY" "$T/day.jsonl" >/dev/null 2>&1
nsx "$TLSRPT" run --day "$DAY" >"$T/run.out" 2>"$T/run.err"
assert_eq "the report is handed to the lab Postfix" "$DAY: 1 reports added to the outbox
1 delivery attempts made" "$(cat "$T/run.out")" || cat "$T/run.err"
assert_match "tlsrpt queue: accepted by relay" "mailto:tlsrpt@refuse550\\.lab +accepted by relay" \
    "$("$TLSRPT" queue)"

held() { grep -q "to=<tlsrpt@refuse550\\.lab>, .*status=deferred (deferred transport)" "$LAB_MAILLOG"; }
wait_for "Postfix to hold the report (defer_transports)" 90 held || fail "Postfix did not hold the report"
nsx postconf -c "$LAB_PF/etc" -e "defer_transports ="
nsx "$POSTFIX" -c "$LAB_PF/etc" reload >>"$LAB_PF/start.log" 2>&1
nsx postqueue -c "$LAB_PF/etc" -f
bounced() { "$TLSRPT" queue | grep -q "mailto:tlsrpt@refuse550\\.lab  *bounced"; }
wait_for "the bounce to reach the outbox" 90 bounced ||
    { cat "$LAB_MAILLOG" "$T/milter.log"; }
stop_milter
# Fail-safe: with the milter down, milter_default_action = accept lets mail through.
nsx python3 -c 'import smtplib; s = smtplib.SMTP("127.0.0.1", 2525, timeout=60)
s.sendmail("user@sender.lab", ["after@refuse550.lab"], "Subject: milter down\r\n\r\nstill flows\r\n")
s.quit()' || fail "smtpd refused mail with the milter down"
lab_postfix_wait after@refuse550.lab
lab_postfix_stop
assert_match "Postfix: the relayed report was refused with 550 after the relay accepted it" \
    "to=<tlsrpt@refuse550\\.lab>, relay=mx\\.refuse550\\.lab\\[127\\.0\\.0\\.20\\]:25, .* status=bounced \\(host mx\\.refuse550\\.lab\\[127\\.0\\.0\\.20\\] said: 550 5\\.1\\.1" \
    "$(cat "$LAB_MAILLOG")"
assert_match "Postfix: its own DSN was discarded by the milter" \
    "milter-discard: END-OF-MESSAGE .*from=<> to=<noreply-tlsrpt\\+[0-9a-f]{16}-[0-9a-f]{16}@sender\\.example>" \
    "$(cat "$LAB_MAILLOG")"
assert_match "tlsrpt queue: bounced with the remote reason" \
    "mailto:tlsrpt@refuse550\\.lab +bounced +1 +- +bounced: 550 5\\.1\\.1 <tlsrpt@refuse550\\.lab>: Recipient address rejected: User unknown" \
    "$("$TLSRPT" queue)"
assert_match "the destination is suppressed" \
    "^mailto:tlsrpt@refuse550\\.lab +[0-9-]+ [0-9:]+ +1 +automatic\$" "$("$TLSRPT" suppress list)"
assert_eq "the milter: the report recognised (tlsrptd writes TLS-Required itself), the bounce matched and discarded" \
    "tlsrpt-milter: stopping: 2 messages; report mail 1 (TLS-Required added 0, queue id told 0, not told 1, without queue id 0); bounces 1 (matched 1, passed on 0, too large 0); prefetch: queued 0, recent 0, dropped 0, sent 0, failed 0" \
    "$(grep stopping: "$T/milter.log")"
assert_match "milter down: Postfix says so" \
    "warning: connect to Milter service inet:127\\.0\\.0\\.1:$MPORT: Connection refused" \
    "$(cat "$LAB_MAILLOG")"
assert_match "milter down: the mail went on to the MX all the same" \
    "to=<after@refuse550\\.lab>, relay=mx\\.refuse550\\.lab\\[127\\.0\\.0\\.20\\]:25" "$(cat "$LAB_MAILLOG")"
finish
