#!/bin/sh
# prefetch.sh - how long tlsrptd takes to have N new domains' MTA-STS
# policies cached after tlsrpt-milter's prefetch of them (one connection,
# pipelined, as the milter sends them), with a DNS server that answers every
# query after a delay (tests/peers/slow_dns.py) and a local HTTPS server:
# policy_prefetch_concurrency = 1 (the lookups one after another, as before
# the background fetchers) beside the default 16, in the same run.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
DOMAINS_N=${BENCH_DOMAINS:-64}
DELAY_MS=${BENCH_DNS_MS:-50} # 4 queries a domain: serially N x 4 x DELAY_MS
TICKS=$(getconf CLK_TCK)

python3 "$PEERS/slow_dns.py" "$DELAY_MS" "$T/dns.port" "$T/dns.queries" &
SINK_PIDS=$!
wait_for "the slow DNS server's port file" 60 test -s "$T/dns.port" ||
    { echo "bench_prefetch: slow_dns.py did not start"; exit 1; }
# names RUN: the domains of one run (new to the DNS and policy caches).
names() { seq 0 $((DOMAINS_N - 1)) | sed "s/.*/sts$1&.example/"; }
start_sts_web $(names a) $(names b)
for d in $(names a) $(names b); do
    printf '200 text/plain\nversion: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: 86400\n' "$d" \
        >"$T/web/mta-sts.$d"
done

# run RUN CONCURRENCY: milliseconds from the first prefetch sent to the last one cached.
run() {
    rm -rf "$T/state/sts"
    write_config "dns_resolvers = 127.0.0.1:$(cat "$T/dns.port")" "dns_timeout = 10s" \
        "policy_socket = $T/run/policy.sock" "policy_socket_group =" "sts_ca_file = $T/ca.pem" \
        "sts_https_port = $WEB_PORT" "policy_prefetch_concurrency = $2"
    start_daemon >&2
    web_before=$(awk '{ print $14 + $15 }' "/proc/$WEB_PID/stat")
    start=$(date +%s%N)
    # shellcheck disable=SC2046
    python3 "$PEERS/smap_client.py" "$T/run/policy.sock" tlsrpt-prefetch $(names "$1") >/dev/null ||
        { echo "bench_prefetch: the prefetch requests failed" >&2; exit 1; }
    wait_for "the prefetches" 600 status_is policy.sts.prefetches "$DOMAINS_N" >&2 || exit 1
    end=$(date +%s%N)
    [ "$(status_value policy.sts.fetches_ok)" = "$DOMAINS_N" ] ||
        { echo "bench_prefetch: not every policy was fetched" >&2; exit 1; }
    cpu=$(awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat")
    web_cpu=$(awk '{ print $14 + $15 }' "/proc/$WEB_PID/stat")
    stop_daemon
    echo "$(((end - start) / 1000000)) $((cpu * 1000 / TICKS)) $(((web_cpu - web_before) * 1000 / TICKS))"
}

set -- $(run a 1) || exit 1
serial=$1 serial_cpu=$2 serial_web=$3
set -- $(run b 16) || exit 1
concurrent=$1 concurrent_cpu=$2 concurrent_web=$3
echo "bench_prefetch: $DOMAINS_N new domains prefetched (MX, TXT, A, AAAA each; DNS answers after $DELAY_MS ms; policies over HTTPS on 127.0.0.1); tlsrptd's CPU and the HTTPS server's:"
echo "  policy_prefetch_concurrency = 1 (serial, the old behaviour): $serial ms until all cached (CPU ms: tlsrptd $serial_cpu, HTTPS server $serial_web)"
echo "  policy_prefetch_concurrency = 16 (default):                 $concurrent ms until all cached (CPU ms: tlsrptd $concurrent_cpu, HTTPS server $concurrent_web)"
echo "  speed-up: x$(awk -v s="$serial" -v c="$concurrent" 'BEGIN { printf "%.1f", s / c }')"
