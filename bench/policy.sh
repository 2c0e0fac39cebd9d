#!/bin/sh
# policy.sh - cached MTA-STS lookups/s and server CPU per lookup through
# tlsrptd's policy_socket, beside Debian's postfix-mta-sts-resolver in the same
# run, same policy, over TCP and unix sockets, 1 and 32 client connections
# (bench/bench_policy), and beside bench/bare_smap, a server that does nothing but
# answer: the kernel's cost per lookup, the limit no server can beat on this machine.
# Everything runs in a network namespace of its own with only loopback: DNS is
# ldns-testns on 127.0.0.1:53 (/etc/resolv.conf bind-mounted in a private mount
# namespace), the policy host tests/peers/https_sink.py on 127.0.0.1:443.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
SECONDS_EACH=${BENCH_SECONDS:-2}
ROUNDS=${BENCH_ROUNDS:-3}

[ "$(id -u)" -eq 0 ] || { echo "bench_policy: skipped: needs root for a network namespace"; exit 77; }
command -v mta-sts-daemon >/dev/null 2>&1 ||
    { echo "bench_policy: skipped: apt-get install postfix-mta-sts-resolver"; exit 77; }
if [ -z "${BENCH_IN_NETNS:-}" ]; then
    exec unshare --net --mount env BENCH_IN_NETNS=1 sh "$0" "$@"
fi
ip link set lo up || exit 1
. "$top_srcdir/tests/lib.sh"
BENCH="$top_builddir/bench/bench_policy"
DOMAIN=bench.example
ANSWER="OK secure match=mx1.$DOMAIN servername=hostname"

SOA="example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 120"
{
    dns_entry NOERROR "_mta-sts.$DOMAIN." TXT ANSWER "_mta-sts.$DOMAIN. 3600 IN TXT \"v=STSv1; id=b1;\""
    dns_entry NOERROR "mta-sts.$DOMAIN." A ANSWER "mta-sts.$DOMAIN. 3600 IN A 127.0.0.1"
    dns_entry NOERROR "mta-sts.$DOMAIN." AAAA AUTHORITY "$SOA"
    dns_entry NOERROR "$DOMAIN." MX ANSWER "$DOMAIN. 3600 IN MX 10 mx1.$DOMAIN."
    printf 'ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id\nREPLY QR RD RA SERVFAIL\nENTRY_END\n'
} >"$T/dns.data"
ldns-testns -p 53 "$T/dns.data" >"$T/dns.log" 2>&1 &
DNS_PID=$!
echo "nameserver 127.0.0.1" >"$T/resolv.conf"
mount --bind "$T/resolv.conf" /etc/resolv.conf || exit 1

start_sts_web --port 443 "$DOMAIN"
printf '200 text/plain\nversion: STSv1\nmode: enforce\nmx: mx1.%s\nmax_age: 86400\n' "$DOMAIN" \
    >"$T/web/mta-sts.$DOMAIN"

# tlsrptd_start SOCKET: tlsrptd with the policy from the same HTTPS server and CA.
tlsrptd_start() {
    write_config "dns_resolvers = 127.0.0.1:53" "policy_socket = $1" "sts_ca_file = $T/ca.pem"
    start_daemon
}

# resolver_start NAME SOCKET-LINES: postfix-mta-sts-resolver with its defaults, the
# in-memory cache, our CA via SSL_CERT_FILE; sets RESOLVER_PID.
resolver_start() {
    printf '%s\ncache:\n  type: internal\n  options:\n    cache_size: 10000\n' "$2" >"$T/$1.yml"
    printf 'default_zone:\n  strict_testing: false\n  timeout: 4\n' >>"$T/$1.yml"
    SSL_CERT_FILE="$T/ca.pem" mta-sts-daemon -c "$T/$1.yml" -v warn >"$T/$1.log" 2>&1 &
    RESOLVER_PID=$!
    RESOLVER_PIDS="${RESOLVER_PIDS:-} $RESOLVER_PID"
    trap 'kill $RESOLVER_PIDS 2>/dev/null; cleanup' EXIT
}

# wait_ready ADDRESS PID: one lookup, the first fetching the policy, within a generous deadline.
wait_ready() {
    for _ in $(seq 1 300); do
        "$BENCH" warm-up "$1" "$2" 1 1 "$DOMAIN" "$ANSWER" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    echo "the server at $1 does not answer $ANSWER:"
    "$BENCH" warm-up "$1" "$2" 1 1 "$DOMAIN" "$ANSWER"
    cat "$T"/*.log
    exit 1
}

# bare_start ADDRESS: the limit, bench/bare_smap (the same reply, no work); sets BARE_PID.
bare_start() {
    "$top_builddir/bench/bare_smap" "$1" "$ANSWER" 2>"$T/bare.log" &
    BARE_PID=$!
    RESOLVER_PIDS="${RESOLVER_PIDS:-} $BARE_PID"
    wait_ready "$1" "$BARE_PID"
}

# run TRANSPORT TLSRPTD-ADDRESS RESOLVER-ADDRESS RESOLVER-PID BARE-ADDRESS: 1 and 32
# connections each, the three servers in turn with the same client, $ROUNDS rounds
# (the figures compared are each one's median: a shared machine's noise hits all three).
run() {
    for round in $(seq 1 "$ROUNDS"); do for connections in 1 32; do
        "$BENCH" "bare $1" "$5" "$BARE_PID" "$connections" "$SECONDS_EACH" "$DOMAIN" \
            "$ANSWER" | tee -a "$T/results" || exit 1
        "$BENCH" "tlsrptd $1" "$2" "$DAEMON_PID" "$connections" "$SECONDS_EACH" "$DOMAIN" \
            "$ANSWER" | tee -a "$T/results" || exit 1
        "$BENCH" "postfix-mta-sts-resolver $1" "$3" "$4" "$connections" "$SECONDS_EACH" \
            "$DOMAIN" "$ANSWER" | tee -a "$T/results" || exit 1
    done; done
}

echo "bench_policy: cached MTA-STS lookups of $DOMAIN, $SECONDS_EACH s each, $ROUNDS rounds, server CPU from the" \
    "scheduler (/proc/PID/task/*/schedstat); $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
tlsrptd_start inet:127.0.0.1:8462
resolver_start resolver-tcp "host: 127.0.0.1
port: 8461"
TCP_RESOLVER=$RESOLVER_PID
wait_ready inet:127.0.0.1:8462 "$DAEMON_PID"
wait_ready inet:127.0.0.1:8461 "$TCP_RESOLVER"
bare_start inet:127.0.0.1:8463
run tcp inet:127.0.0.1:8462 inet:127.0.0.1:8461 "$TCP_RESOLVER" inet:127.0.0.1:8463
stop_daemon
tlsrptd_start "$T/run/policy.sock"
resolver_start resolver-unix "path: $T/resolver.sock
mode: 0600"
wait_ready "$T/run/policy.sock" "$DAEMON_PID"
wait_ready "$T/resolver.sock" "$RESOLVER_PID"
bare_start "$T/bare.sock"
run unix "$T/run/policy.sock" "$T/resolver.sock" "$RESOLVER_PID" "$T/bare.sock"

fetches=$(grep -c "mta-sts.$DOMAIN /.well-known/mta-sts.txt" "$T/web/requests.log")
echo "policy fetches over HTTPS: $fetches (tlsrptd once, its disk cache survives the restart;" \
    "each resolver once): every lookup measured was answered from a cache"
awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    { key = $2 " " v["connections"]; who = $1 == "tlsrptd" ? "t" : $1 == "bare" ? "b" : "r" }
    { n = ++count[key, who]; rates[key, who, n] = v["lookups/s"]; cpus[key, who, n] = v["server_cpu_us/lookup"]
      keys[key] = 1 }
    function median(values, key, who,    n, i, j, t, a) {
        n = count[key, who]
        for (i = 1; i <= n; i++) a[i] = values[key, who, i] + 0
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        for (key in keys) for (w = 1; w <= 3; w++) {
            who = substr("tbr", w, 1)
            rate[key, who] = median(rates, key, who); cpu[key, who] = median(cpus, key, who)
            printf "median %-8s connections %-8s lookups/s=%-9.0f server_cpu_us/lookup=%.1f\n", key,
                who == "t" ? "tlsrptd" : who == "b" ? "bare" : "resolver", rate[key, who], cpu[key, who]
        }
        for (key in keys) {
            printf "ratio %-8s connections: lookups/s x%.1f (goal >= 3), CPU per lookup /%.1f (goal >= 5)\n",
                key, rate[key, "t"] / rate[key, "r"], cpu[key, "r"] / cpu[key, "t"]
            printf "limit %-8s connections: the bare server (no work) reaches x%.1f and /%.1f;" \
                " tlsrptd has %.0f%% of its lookups/s at %.0f%% of its CPU efficiency\n",
                key, rate[key, "b"] / rate[key, "r"], cpu[key, "r"] / cpu[key, "b"],
                100 * rate[key, "t"] / rate[key, "b"], 100 * cpu[key, "b"] / cpu[key, "t"]
        }
    }' "$T/results" | sort
