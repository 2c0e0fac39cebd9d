# lib.sh - shared by the integration tests: temporary state, a config file,
# starting and stopping the real daemon, and assertions that say what differed.
# Source it; it sets TLSRPT, TLSRPTD, T (temp dir) and cleans up on exit.

set -u
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
TLSRPT="$top_builddir/tlsrpt"
TLSRPTD="$top_builddir/tlsrptd"
TEST_NAME=$(basename "$0" .sh)
failures=0
checks=0

T=$(mktemp -d "/tmp/tlsrpt-$TEST_NAME.XXXXXX")
chmod 755 "$T"
DAEMON_PID=
DNS_PID=
cleanup() {
    [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT

skip() { echo "SKIP: $*"; exit 77; }

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# assert_eq DESCRIPTION EXPECTED ACTUAL
assert_eq() {
    checks=$((checks + 1))
    if [ "$2" != "$3" ]; then
        fail "$1"
        echo "--- expected"; printf '%s\n' "$2"
        echo "--- actual"; printf '%s\n' "$3"
        return 1
    fi
    echo "ok: $1"
}

# assert_match DESCRIPTION REGEX ACTUAL
assert_match() {
    checks=$((checks + 1))
    if ! printf '%s\n' "$3" | grep -Eq -- "$2"; then
        fail "$1: no line matches /$2/"
        printf '%s\n' "$3" | head -20
        return 1
    fi
    echo "ok: $1"
}

finish() {
    echo "$TEST_NAME: $checks checks, $failures failed"
    [ "$failures" -eq 0 ]
    exit $?
}

# write_config [extra lines...]: a config whose paths all live under $T.
write_config() {
    CONF="$T/tlsrptd.cf"
    {
        echo "state_directory = $T/state"
        echo "runtime_directory = $T/run"
        echo "organization_name = Example Sender Inc."
        echo "contact_info = tlsrpt-noreply@sender.example"
        for line in "$@"; do echo "$line"; done
    } >"$CONF"
    export TLSRPTD_CONFIG="$CONF"
}

# counter_table CONFIG DAY: the day's counters, one line per policy:
# DOMAIN POLICY[/POLICY-DOMAIN] SUCCESSES FAILURES RESULT-TYPE=COUNT,...
counter_table() {
    TLSRPTD_CONFIG=$1 "$TLSRPT" counters --day "$2" --json | python3 -c 'import json, sys
for p in json.load(sys.stdin)["policies"]:
    policy = p["policy"]
    kind = policy["policy-type"]
    if policy["policy-domain"] != p["domain"]:
        kind += "/" + policy["policy-domain"]
    results = ",".join("%s=%d" % (d["result-type"], d["failed-session-count"])
                       for d in p["failure-details"])
    print(p["domain"], kind, p["total-successful-session-count"],
          p["total-failure-session-count"], results)'
}

# assert_counts DESCRIPTION EXPECTED ACTUAL: assert_eq of two counter
# tables, where an empty expectation is a failure, never a vacuous pass.
assert_counts() {
    if [ -z "$2" ]; then
        checks=$((checks + 1))
        fail "$1: the expected table is empty"
        return 1
    fi
    assert_eq "$@"
}

# The user the daemon runs as in tests: root must hand it to someone else.
test_user() {
    if [ "$(id -u)" -eq 0 ]; then echo nobody; else id -un; fi
}

# wait_for DESCRIPTION TIMEOUT COMMAND...: runs COMMAND until it succeeds (0),
# polling more slowly as time goes by; after TIMEOUT seconds (WAIT_SCALE times
# that, for slow machines) says what it waited for and returns 1. Wait on state
# like this, never on a fixed sleep: a loaded machine can be slower than any.
WAIT_SCALE=${WAIT_SCALE:-1}
wait_for() {
    _what=$1
    _limit=$(( $2 * WAIT_SCALE ))
    _deadline=$(( $(date +%s) + _limit ))
    shift 2
    _pause=0.01
    until "$@"; do
        if [ "$(date +%s)" -ge "$_deadline" ]; then
            echo "timed out after ${_limit} s waiting for $_what"
            return 1
        fi
        sleep "$_pause"
        case $_pause in 0.01) _pause=0.02 ;; 0.02) _pause=0.05 ;; 0.05) _pause=0.1 ;; esac
    done
}

# process_gone PID: true once PID has exited (also a zombie not yet waited for).
process_gone() {
    ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]
}

# daemon_answers: the daemon's control socket answers (or the daemon is gone: stop waiting).
daemon_answers() {
    process_gone "$DAEMON_PID" ||
        { [ -S "$T/run/control.sock" ] && "$TLSRPT" -c "$CONF" status >/dev/null 2>&1; }
}

# start_daemon [tlsrptd options]: foreground daemon, waits for the control socket.
start_daemon() {
    "$TLSRPTD" -f -c "$CONF" -o "tlsrptd_user=$(test_user)" "$@" >"$T/daemon.log" 2>&1 &
    DAEMON_PID=$!
    if wait_for "the daemon to answer" 60 daemon_answers && ! process_gone "$DAEMON_PID"; then
        return 0
    fi
    echo "daemon did not start:"; cat "$T/daemon.log"
    exit 1
}

stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID"
    DAEMON_STATUS=$?
    DAEMON_PID=
}

# dns_listening: ldns-testns has bound its sockets (or is gone: stop waiting).
dns_listening() {
    process_gone "$DNS_PID" || grep -q "^Listening on port $DNS_PORT" "$T/dns.log"
}

# start_dns DATAFILE: ldns-testns on 127.0.0.1 and a random free port (DNS_PORT).
start_dns() {
    command -v ldns-testns >/dev/null 2>&1 || skip "ldns-testns not found (apt-get install ldnsutils)"
    for _ in 1 2 3 4 5 6 7 8; do
        DNS_PORT=$(( $(od -An -N2 -tu2 /dev/urandom) % 40000 + 20000 ))
        ldns-testns -p "$DNS_PORT" "$1" >"$T/dns.log" 2>&1 &
        DNS_PID=$!
        # It says so once both sockets are bound; a port in use makes it exit.
        wait_for "ldns-testns to listen" 60 dns_listening && ! process_gone "$DNS_PID" && return 0
    done
    echo "ldns-testns did not start:"; cat "$T/dns.log"
    exit 1
}
