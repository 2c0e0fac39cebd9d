#!/bin/sh
# sandbox.sh - tlsrptd.service's CapabilityBoundingSet and NoNewPrivileges,
# applied with setpriv as systemd would: the daemon starts (fresh and again
# on its own state) and drops to its user with that user's groups, and each
# capability of the set is needed: without it the start fails and says what
# it could not do.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root: the capabilities are root's"
command -v setpriv >/dev/null || skip "setpriv not found (util-linux)"
UNIT="$top_builddir/conf/tlsrptd.service"
[ -f "$UNIT" ] || { echo "FAIL: $UNIT not built"; exit 1; }

caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
assert_eq "the unit's capabilities" \
    "CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_SETUID CAP_SETGID CAP_NET_BIND_SERVICE" "$caps"
assert_eq "the unit sets NoNewPrivileges" "yes" "$(sed -n 's/^NoNewPrivileges=//p' "$UNIT")"
# bounding CAPS...: setpriv's form of a capability list (+chown,+fowner,...).
bounding() { echo "$*" | tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_\(.*\)/+\1/p' | paste -sd, -; }
sandboxed() { echo "setpriv --bounding-set -all,$(bounding "$@") --no-new-privs"; }

# A policy socket on a port below 1024 needs CAP_NET_BIND_SERVICE: find a free one.
port=
for try in 1 2 3 4 5; do
    p=$(( 600 + $(od -An -N2 -tu2 /dev/urandom) % 400 ))
    ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { port=$p; break; }
done
[ -n "$port" ] || skip "no free TCP port below 1024 on 127.0.0.1"
write_config "collector_socket_group =" "dns_resolvers = 127.0.0.1:9" "policy_socket = inet:127.0.0.1:$port"

DAEMON_WRAP=$(sandboxed $caps)
start_daemon
assert_eq "with the unit's capabilities it starts and drops to its user" "$(id -u "$(test_user)")" \
    "$(awk '/^Uid:/ {print $2}' "/proc/$DAEMON_PID/status")"
assert_eq "and keeps none of them" "0000000000000000" \
    "$(awk '/^CapEff:/ {print $2}' "/proc/$DAEMON_PID/status")"
stop_daemon
start_daemon
assert_eq "it starts again on its own state directory" running \
    "$(kill -0 "$DAEMON_PID" 2>/dev/null && echo running)"
stop_daemon

# without CAP: start with the set minus CAP (on the existing state), print its fatal line.
without() {
    rest=$(echo "$caps" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
    timeout 60 $(sandboxed $rest) "$TLSRPTD" -f -c "$CONF" -o "tlsrptd_user=$(test_user)" 2>&1 |
        sed -n 's/^tlsrptd: fatal: //p'
}
assert_match "CAP_DAC_OVERRIDE: root enters the user's 0750 state directory" \
    "^create directory $T/state/counters: Permission denied\$" "$(without CAP_DAC_OVERRIDE)"
assert_match "CAP_FOWNER: root sets the mode of sockets it handed to the user" \
    "^control socket: set owner/mode of $T/run/control.sock: Operation not permitted\$" \
    "$(without CAP_FOWNER)"
assert_match "CAP_SETUID: the drop to the user" "^drop privileges to $(test_user): Operation not permitted\$" \
    "$(without CAP_SETUID)"
assert_match "CAP_SETGID: the drop to the user's groups" \
    "^drop privileges to $(test_user): Operation not permitted\$" "$(without CAP_SETGID)"
assert_match "CAP_NET_BIND_SERVICE: a policy_socket port below 1024" \
    "^$CONF: policy_socket: bind inet:127.0.0.1:$port: Permission denied\$" \
    "$(without CAP_NET_BIND_SERVICE)"
rm -rf "$T/state" "$T/run"
assert_match "CAP_CHOWN: a fresh state directory given to the user" \
    "^chown $T/state: Operation not permitted\$" "$(without CAP_CHOWN)"

# The drop keeps the user's groups from /etc/group (adm, systemd-journal: the mail log).
member=$(for u in $(cut -d: -f1 /etc/passwd); do
    [ "$(id -u "$u")" -ne 0 ] && [ "$(id -G "$u" | wc -w)" -gt 1 ] && echo "$u" && break; done)
if [ -n "$member" ]; then
    rm -rf "$T/state" "$T/run"
    DAEMON_WRAP=$(sandboxed $caps)
    start_daemon -o "tlsrptd_user=$member"
    assert_eq "the daemon running as $member has its groups ($(id -Gn "$member"))" \
        "$(id -G "$member" | tr ' ' '\n' | sort -n | tr '\n' ' ')" \
        "$(awk '/^Groups:/ {for (i = 2; i <= NF; i++) print $i}' "/proc/$DAEMON_PID/status" | sort -n | tr '\n' ' ')"
    stop_daemon
else
    echo "note: no user with supplementary groups on this machine: their keeping is not checked"
fi
finish
