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
MILTER_PID=
DNS_PID=
WEB_PID=
SINK_PIDS=
PEERS="$top_srcdir/tests/peers"
cleanup() {
    [ -n "$MILTER_PID" ] && kill "$MILTER_PID" 2>/dev/null && wait "$MILTER_PID" 2>/dev/null
    [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null
    [ -n "$WEB_PID" ] && kill "$WEB_PID" 2>/dev/null
    [ -n "$SINK_PIDS" ] && kill $SINK_PIDS 2>/dev/null
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
    # DAEMON_WRAP: a command that runs it, e.g. in a network namespace (lab.sh).
    ${DAEMON_WRAP:-} "$TLSRPTD" -f -c "$CONF" -o "tlsrptd_user=$(test_user)" "$@" >"$T/daemon.log" 2>&1 &
    DAEMON_PID=$!
    if wait_for "the daemon to answer" 60 daemon_answers && ! process_gone "$DAEMON_PID"; then
        return 0
    fi
    echo "daemon did not start:"; cat "$T/daemon.log"
    exit 1
}

# status_value NAME: that line of the running daemon's `tlsrpt status`.
status_value() { "$TLSRPT" -c "$CONF" status | awk -v k="$1" '$1 == k { print $2 }'; }

# wait_status NAME VALUE: polls `tlsrpt status` (generous deadline, the machine may be loaded).
status_is() { [ "$(status_value "$1")" = "$2" ]; }
wait_status() {
    wait_for "status $1 = $2" 60 status_is "$1" "$2"
    assert_eq "status $1" "$2" "$(status_value "$1")"
}

stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID"
    DAEMON_STATUS=$?
    DAEMON_PID=
}

# start_milter [tlsrpt-milter options]: in the foreground with $CONF (log in
# $T/milter.log), as the test user; waits for its start line.
start_milter() {
    rm -f "$T/milter.log" # an old one's "started" line must not be taken for the new one's
    # MILTER_WRAP: a command that runs it, e.g. in a network namespace (lab_milter.sh).
    ${MILTER_WRAP:-} "$top_builddir/tlsrpt-milter" -f -c "$CONF" -o "tlsrptd_user=$(test_user)" "$@" \
        >"$T/milter.log" 2>&1 &
    MILTER_PID=$!
    wait_for "tlsrpt-milter to start" 60 grep -qs "tlsrpt-milter .* started" "$T/milter.log" ||
        { echo "tlsrpt-milter did not start:"; cat "$T/milter.log"; exit 1; }
}

# stop_milter: SIGTERM, then its exit status in MILTER_STATUS.
stop_milter() {
    kill -TERM "$MILTER_PID"
    wait "$MILTER_PID"
    MILTER_STATUS=$?
    MILTER_PID=
}

# free_port: a TCP port free on 127.0.0.1 now (for servers that cannot report the one they got).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# dns_entry RCODE QNAME TYPE [SECTION RECORDS]: one entry of an ldns-testns
# data file on stdout, e.g. dns_entry NOERROR a.example. A ANSWER "a.example. 0 IN A 127.0.0.1"
dns_entry() {
    printf 'ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\nREPLY QR RD RA %s\n' "$1"
    printf 'SECTION QUESTION\n%s IN %s\n' "$2" "$3"
    [ $# -lt 5 ] || printf 'SECTION %s\n%s\n' "$4" "$5"
    printf 'ENTRY_END\n'
}

# start_sts_web [--port PORT] DOMAIN...: tests/peers/https_sink.py serving
# MTA-STS policies from $T/web (a file mta-sts.DOMAIN each) with a certificate
# for every mta-sts.DOMAIN from a CA made for this run ($T/ca.pem); sets
# WEB_PID and WEB_PORT.
start_sts_web() {
    web_port=0
    if [ "$1" = --port ]; then web_port=$2; shift 2; fi
    command -v openssl >/dev/null 2>&1 || skip "openssl not found"
    san=""
    for name in "$@"; do san="$san${san:+, }DNS:mta-sts.$name"; done
    (
        cd "$T" || exit 1
        KEY='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
        openssl req -x509 $KEY -days 2 -subj "/CN=$TEST_NAME test CA" -keyout ca.key -out ca.pem \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        printf 'subjectAltName = %s\nextendedKeyUsage = serverAuth\n' "$san" >srv.ext
        openssl req -new $KEY -subj '/CN=mta-sts test' -keyout srv.key -out srv.csr
        openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile srv.ext -out srv.pem
    ) >"$T/openssl.log" 2>&1 || { cat "$T/openssl.log"; exit 1; }
    mkdir -p "$T/web"
    python3 "$top_srcdir/tests/peers/https_sink.py" --dir "$T/web" --port-file "$T/web.port" \
        --port "$web_port" --cert "$T/srv.pem" --key "$T/srv.key" >"$T/web.log" 2>&1 &
    WEB_PID=$!
    wait_for "https_sink.py's port file" 60 test -s "$T/web.port" ||
        { echo "https_sink.py did not start:"; cat "$T/web.log"; exit 1; }
    WEB_PORT=$(cat "$T/web.port")
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

# start_sinks [--delay-ms N] [--hold-ms N]: the SMTP sink (messages in $T/smtp) and the
# HTTPS sink (requests in $T/https; a certificate for localhost from a test
# CA made here, $T/ca.crt) on 127.0.0.1; sets SMTP_PORT and HTTPS_PORT.
start_sinks() {
    command -v python3 >/dev/null || skip "python3 not found"
    command -v openssl >/dev/null || skip "openssl not found"
    mkdir -p "$T/smtp" "$T/https"
    python3 "$PEERS/smtp_sink.py" --dir "$T/smtp" --port-file "$T/smtp.port" "$@" &
    SINK_PIDS=$!
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.crt" -days 2 \
        -subj "/CN=tlsrptd test CA" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" \
        -subj "/CN=localhost" >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost\n' >"$T/san.ext"
    openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
        -out "$T/srv.crt" -days 2 -extfile "$T/san.ext" >/dev/null 2>&1
    python3 "$PEERS/https_sink.py" --dir "$T/https" --port-file "$T/https.port" \
        --cert "$T/srv.crt" --key "$T/srv.key" "$@" &
    SINK_PIDS="$SINK_PIDS $!"
    wait_for "the sinks' port files" 60 sh -c '[ -s "$1/smtp.port" ] && [ -s "$1/https.port" ]' sh "$T" ||
        { echo "the sinks did not start"; exit 1; }
    SMTP_PORT=$(cat "$T/smtp.port")
    HTTPS_PORT=$(cat "$T/https.port")
}

# dns_localhost: ldns-testns entries for localhost (A 127.0.0.1, no AAAA),
# the host of https rua that reach the HTTPS sink.
dns_localhost() {
    cat <<'DNS'
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
localhost. IN A
SECTION ANSWER
localhost. 600 IN A 127.0.0.1
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
localhost. IN AAAA
SECTION AUTHORITY
localhost. 600 IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 300
ENTRY_END
DNS
}

# make_dkim_key: an ed25519 signing key at $T/dkim.key the daemon user can read.
make_dkim_key() {
    openssl genpkey -algorithm ed25519 -out "$T/dkim.key" 2>/dev/null
    chmod 600 "$T/dkim.key"
    [ "$(id -u)" -eq 0 ] && chown "$(test_user)" "$T/dkim.key"
    return 0
}

# start_postgres: a PostgreSQL of its own on a temporary directory and a
# loopback port (initdb + pg_ctl, as the postgres or nobody user when run as
# root), with a password that only a passfile holds. Sets PG_PORT, PG_PASSFILE
# (readable by $(test_user)) and PG_URI (no password in it). Skips (77) when
# PostgreSQL is not installed.
PG_BIN=
PG_DATA=
start_postgres() {
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && PG_BIN=$d; done
    [ -n "$PG_BIN" ] || skip "PostgreSQL is not installed (apt-get install postgresql)"
    PG_DATA="$T/pg/data"
    mkdir -p "$T/pg"
    pg_user=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
        pg_user=nobody
        id postgres >/dev/null 2>&1 && pg_user=postgres
    fi
    echo "fleet-test-$$" >"$T/pg/password"
    chown -R "$pg_user" "$T/pg"
    as_pg() { if [ "$(id -un)" = "$pg_user" ]; then "$@"; else runuser -u "$pg_user" -- "$@"; fi; }
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U tlsrpt --auth=scram-sha-256 \
        --pwfile="$T/pg/password" >"$T/pg/initdb.log" 2>&1 ||
        { cat "$T/pg/initdb.log"; fail "initdb failed"; finish; }
    for _ in 1 2 3 4 5; do
        PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$T/pg/server.log" -w -t 180 \
            -o "-p $PG_PORT -k $T/pg -c listen_addresses=127.0.0.1 -c fsync=off" start \
            >"$T/pg/pg_ctl.log" 2>&1 && break
        PG_PORT=
    done
    [ -n "$PG_PORT" ] || { cat "$T/pg/server.log"; fail "PostgreSQL did not start"; finish; }
    PG_PASSFILE="$T/pg/pgpass"
    echo "127.0.0.1:$PG_PORT:*:tlsrpt:$(cat "$T/pg/password")" >"$PG_PASSFILE"
    chmod 600 "$PG_PASSFILE"
    chown "$(test_user)" "$PG_PASSFILE"
    PG_URI="postgresql://tlsrpt@127.0.0.1:$PG_PORT/postgres?passfile=$PG_PASSFILE"
    trap 'stop_postgres; cleanup' EXIT
}

# stop_postgres / restart_postgres: the database goes away and comes back (same port).
stop_postgres() {
    [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 180 -m fast stop >>"$T/pg/pg_ctl.log" 2>&1
}
restart_postgres() {
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$T/pg/server.log" -w -t 180 \
        -o "-p $PG_PORT -k $T/pg -c listen_addresses=127.0.0.1 -c fsync=off" start \
        >>"$T/pg/pg_ctl.log" 2>&1
}

# fleet_host NAME [extra lines]: a fleet host of its own ($T/NAME: state
# directory, config with fleet_database = $PG_URI and fleet_host_id = NAME).
fleet_host() {
    _name=$1
    shift
    mkdir -p "$T/$_name"
    {
        echo "state_directory = $T/$_name/state"
        echo "runtime_directory = $T/$_name/run"
        echo "organization_name = Example Sender Inc."
        echo "contact_info = tlsrpt-noreply@sender.example"
        echo "dns_resolvers = 127.0.0.1:1"
        echo "tlsrptd_user = $(test_user)"
        echo "fleet_database = $PG_URI"
        echo "fleet_host_id = $_name"
        for line in "$@"; do echo "$line"; done
    } >"$T/$_name/tlsrptd.cf"
}
# on_host NAME tlsrpt-arguments...: tlsrpt as that host.
on_host() { _host=$1; shift; TLSRPTD_CONFIG="$T/$_host/tlsrptd.cf" "$TLSRPT" "$@"; }
# psql_q SQL: one query to the test's PostgreSQL, unaligned rows.
psql_q() { PGPASSFILE="$PG_PASSFILE" psql -X -A -t -h 127.0.0.1 -p "$PG_PORT" -U tlsrpt -d postgres -c "$1"; }
