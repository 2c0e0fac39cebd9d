#!/bin/sh
# config.sh - values with a syntax of their own (dns_resolvers, relayhost,
# sts_testing_level)
# are checked before anything uses them: `tlsrpt conf` fails on them,
# tlsrptd refuses to start and refuses a reload, each time naming the file,
# the line and what is wrong.
. "$(dirname "$0")/lib.sh"

write_config "dns_resolvers = 127.0.0.1:5353, ns.example"
line=$(grep -n '^dns_resolvers' "$CONF" | cut -d: -f1)
out=$("$TLSRPT" conf dns_resolvers 2>&1); status=$?
assert_eq "tlsrpt conf fails on a DNS server that is not an IP address" 1 "$status"
assert_eq "and says where and why" \
    "tlsrpt: fatal: $CONF:$line: dns_resolvers = 127.0.0.1:5353, ns.example: \"ns.example\": not an IP address" \
    "$out"
out=$("$TLSRPTD" -f -c "$CONF" -o "tlsrptd_user=$(test_user)" 2>&1); status=$?
assert_eq "tlsrptd refuses to start with it" 1 "$status"
assert_match "naming the file and line" \
    "$CONF:$line: dns_resolvers = 127.0.0.1:5353, ns.example: \"ns.example\": not an IP address" "$out"
assert_eq "and creates nothing" "absent" "$([ -e "$T/run/control.sock" ] || echo absent)"

write_config "relayhost = [127.0.0.1]:25"
start_daemon
echo "relayhost = [127.0.0.1]:2525x" >>"$CONF"
line=$(grep -c '' "$CONF")
kill -HUP "$DAEMON_PID"
wait_for "the reload to fail" 60 grep -q "reload failed" "$T/daemon.log"
assert_match "a reload with a bad relayhost port is refused, with file and line" \
    "reload failed, keeping the running configuration: $CONF:$line: relayhost = \\[127\\.0\\.0\\.1\\]:2525x: bad port \\(1 to 65535\\)" \
    "$(cat "$T/daemon.log")"
sed -i '$d' "$CONF"
assert_match "and the daemon runs on with the old configuration" "^reloads +0\$" "$("$TLSRPT" status 2>&1)"
# The policy service reads its sts_* values at start: a reload says so.
echo "sts_testing_level = encrypt" >>"$CONF"
kill -HUP "$DAEMON_PID"
wait_for "the reload" 60 grep -q "configuration reloaded" "$T/daemon.log"
assert_match "a reload says which values wait for a restart" \
    "warning: sts_testing_level changed: the new value takes effect after a restart; still using may\$" \
    "$(cat "$T/daemon.log")"
out=$("$TLSRPT" -o 'relayhost=[mail.example' conf relayhost 2>&1); status=$?
assert_eq "-o is checked too" "1 tlsrpt: fatal: -o: relayhost = [mail.example: missing ']'" "$status $out"
out=$("$TLSRPT" -o 'sts_testing_level=may policy_type=none' conf sts_testing_level 2>&1); status=$?
assert_eq "sts_testing_level: one level that cannot lower the site's own, never attributes" \
    "1 tlsrpt: fatal: -o: sts_testing_level = may policy_type=none: use may, encrypt or dane (the level Postfix applies to the domain anyway)" \
    "$status $out"
finish
