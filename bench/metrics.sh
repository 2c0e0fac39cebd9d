#!/bin/sh
# metrics.sh - what a Prometheus scrape (GET /metrics on metrics_listen) costs
# beside the bare `status` request it is built from (the same run, the same
# daemon), and `tlsrpt top --once` beside `tlsrpt counters`, on a day's table
# of BENCH_DOMAINS domains (1500 by default, two keys each).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
DOMAINS=${BENCH_DOMAINS:-1500}
REQUESTS=${BENCH_REQUESTS:-200}

mkdir -p "$T/state/counters"
awk -v n="$DOMAINS" 'BEGIN {
    for (i = 0; i < n; i++) {
        printf "d%d.example\t-\tsts\tsuccess\t-\t-\t-\t%d\n", i, 50 + i % 50
        printf "d%d.example\t-\tsts\tvalidation-failure\tmx.d%d.example\t-\t-\t%d\n", i, i, 1 + i % 20
    }
}' | "$top_builddir/tests/fill_counters" "$T/state/counters" "$(date -u +%F)" || exit 1
[ "$(id -u)" -eq 0 ] && chown -R "$(test_user)" "$T/state"
PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_config "dns_resolvers = 127.0.0.1:1" "metrics_listen = 127.0.0.1:$PORT" \
    "collector_socket_group ="
start_daemon

echo "bench_metrics: $DOMAINS domains in today's table, $REQUESTS requests each, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$PORT" "$T/run/control.sock" "$REQUESTS" <<'PY'
import http.client, socket, sys, time
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def status():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"status\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
def scrape():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    data = c.getresponse().read()
    c.close()
    return data
for name, fn in (("status request (baseline)", status), ("GET /metrics", scrape)) * 2:
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        size = len(fn())
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    # The median: a loaded machine makes the mean a measure of the others' work.
    print("  %-26s %7.3f ms median, %7.3f mean, %d bytes" % (name, times[n // 2], sum(times) / n, size))
PY
timed() { # LABEL COMMAND...: the wall time of 10 runs
    label=$1
    shift
    start=$(date +%s%N)
    for _ in 1 2 3 4 5 6 7 8 9 10; do "$@" >/dev/null || exit 1; done
    elapsed_us=$((($(date +%s%N) - start) / 10000))
    printf '  %-26s %4d.%03d ms each\n' "$label" $((elapsed_us / 1000)) $((elapsed_us % 1000))
}
for _ in 1 2; do
    timed "tlsrpt counters (baseline)" "$TLSRPT" counters
    timed "tlsrpt top --once" "$TLSRPT" top --once
done
