#!/bin/sh
# policy.sh - cached MTA-STS lookups/s and server CPU per lookup through
# tlsrptd's policy_socket, beside Debian's postfix-mta-sts-resolver in the same
# run, same policy, 1 and 32 client connections (bench/bench_policy).
# Everything runs in a network namespace of its own with only loopback: DNS is
# ldns-testns on 127.0.0.1:53 (/etc/resolv.conf bind-mounted in a private mount
# namespace), the policy host tests/peers/https_sink.py on 127.0.0.1:443.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
SECONDS_EACH=${BENCH_SECONDS:-3}

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

# Waits until a TCP port on 127.0.0.1 accepts connections.
wait_port() {
    python3 -c 'import socket, sys, time
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)' "$1"
}

# tlsrptd, with the policy from the same HTTPS server and CA.
write_config "dns_resolvers = 127.0.0.1:53" "policy_socket = inet:127.0.0.1:8462" \
    "sts_ca_file = $T/ca.pem"
start_daemon
wait_port 8462 || { echo "tlsrptd's policy socket is not open"; cat "$T/daemon.log"; exit 1; }

# postfix-mta-sts-resolver: its defaults, the in-memory cache, our CA via SSL_CERT_FILE.
cat >"$T/mta-sts.yml" <<EOF
host: 127.0.0.1
port: 8461
cache:
  type: internal
  options:
    cache_size: 10000
default_zone:
  strict_testing: false
  timeout: 4
EOF
SSL_CERT_FILE="$T/ca.pem" mta-sts-daemon -c "$T/mta-sts.yml" -v warn >"$T/resolver.log" 2>&1 &
RESOLVER_PID=$!
trap 'kill "$RESOLVER_PID" 2>/dev/null; cleanup' EXIT
wait_port 8461 || { echo "mta-sts-daemon did not start"; cat "$T/resolver.log"; exit 1; }

# One lookup each fetches the policy; every lookup measured comes from the cache.
for server in "tlsrptd inet:127.0.0.1:8462 $DAEMON_PID" \
    "resolver inet:127.0.0.1:8461 $RESOLVER_PID"; do
    set -- $server
    "$BENCH" "warm-up $1" "$2" "$3" 1 1 "$DOMAIN" "$ANSWER" >/dev/null ||
        { echo "$1 does not answer $ANSWER"; cat "$T/daemon.log" "$T/resolver.log"; exit 1; }
done
fetches=$(grep -c "mta-sts.$DOMAIN /.well-known/mta-sts.txt" "$T/web/requests.log")

echo "bench_policy: cached MTA-STS lookups of $DOMAIN, $SECONDS_EACH s each, server CPU from /proc/PID/stat"
for connections in 1 32; do
    "$BENCH" "tlsrptd policy_socket" inet:127.0.0.1:8462 "$DAEMON_PID" "$connections" \
        "$SECONDS_EACH" "$DOMAIN" "$ANSWER" | tee -a "$T/results" || exit 1
    "$BENCH" "postfix-mta-sts-resolver" inet:127.0.0.1:8461 "$RESOLVER_PID" "$connections" \
        "$SECONDS_EACH" "$DOMAIN" "$ANSWER" | tee -a "$T/results" || exit 1
done
echo "policy fetches over HTTPS during the run: $fetches (one per server: the rest was cached)"
awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    /^tlsrptd/ { rate[v["connections"], "t"] = v["lookups/s"]; cpu[v["connections"], "t"] = v["server_cpu_us/lookup"] }
    /^postfix-mta-sts-resolver/ { rate[v["connections"], "r"] = v["lookups/s"]; cpu[v["connections"], "r"] = v["server_cpu_us/lookup"] }
    END {
        for (c = 1; c <= 32; c += 31)
            printf "ratio at %2d connections: lookups/s x%.1f (goal >= 3), CPU per lookup /%.1f (goal >= 5)\n",
                c, rate[c, "t"] / rate[c, "r"], cpu[c, "r"] / cpu[c, "t"]
    }' "$T/results"
