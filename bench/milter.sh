#!/bin/sh
# milter.sh - messages/s through tlsrpt-milter (prefetch on, into a running
# tlsrptd's policy_socket whose DNS server answers SERVFAIL) beside a milter
# that does nothing (bench/bench_null_milter) in the same run, both driven by
# miltertest over TCP on 127.0.0.1. miltertest (Lua, one message at a time,
# a reply awaited at every step) is most of the cost: the difference is what
# tlsrpt-milter adds. A real MTA with and without the milter is not measured.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
MESSAGES=${BENCH_MESSAGES:-300} # per connection
CONNECTIONS=4
TICKS=$(getconf CLK_TCK)
command -v miltertest >/dev/null 2>&1 || { echo "bench_milter: skipped: no miltertest"; exit 77; }

printf 'ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id\nREPLY QR RD RA SERVFAIL\nENTRY_END\n' >"$T/dns.data"
start_dns "$T/dns.data"
PORT=$(free_port)
write_config "dns_resolvers = 127.0.0.1:$DNS_PORT" "policy_socket = $T/run/policy.sock" \
    "policy_socket_group =" "milter_socket = inet:$PORT@127.0.0.1" "milter_socket_group ="
start_daemon

# cpu_ticks PID: user + system time of a process so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run LABEL PID: "LABEL MESSAGES/S MICROSECONDS-OF-CPU/MESSAGE" of CONNECTIONS
# miltertest loops at once against the milter PID on $PORT.
run() {
    cpu=$(cpu_ticks "$2")
    start=$(date +%s%N)
    pids=
    for c in $(seq "$CONNECTIONS"); do
        miltertest -D "SOCK=inet:$PORT@127.0.0.1" -D "N=$MESSAGES" \
            -s "$top_srcdir/bench/milter_loop.lua" >"$T/mt.$c" 2>&1 &
        pids="$pids $!"
    done
    for pid in $pids; do
        wait "$pid" || { echo "bench_milter: miltertest failed against $1:"; cat "$T"/mt.*; exit 1; }
    done
    end=$(date +%s%N)
    total=$((MESSAGES * CONNECTIONS))
    echo "$1 $((total * 1000000000 / (end - start))) $((($(cpu_ticks "$2") - cpu) * 1000000 / TICKS / total))"
}

"$top_builddir/bench/bench_null_milter" "inet:$PORT@127.0.0.1" >"$T/null.log" 2>&1 &
NULL_PID=$!
set -- $(run null "$NULL_PID") || exit 1
null_rate=$2 null_cpu=$3
kill -TERM "$NULL_PID"; wait "$NULL_PID"
start_milter
set -- $(run tlsrpt-milter "$MILTER_PID") || exit 1
ours_rate=$2 ours_cpu=$3
stop_milter
echo "bench_milter: $CONNECTIONS x $MESSAGES messages (3 recipients, 6 headers, 2 KB) through miltertest on 127.0.0.1:"
echo "  null milter (baseline): $null_rate messages/s, $null_cpu us CPU per message"
echo "  tlsrpt-milter:          $ours_rate messages/s, $ours_cpu us CPU per message"
grep stopping: "$T/milter.log" | sed 's/^tlsrpt-milter: /  /'
