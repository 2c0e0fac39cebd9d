#!/bin/sh
# rua.sh - rua (_smtp._tls TXT) lookups/s of `tlsrpt run --dry-run` against
# a DNS server that answers each query after 200 ms (tests/peers/slow_dns.py
# on 127.0.0.1), with dns_concurrency = 1 (the old serial way: the baseline)
# beside the default 64, in the same run. Usage: rua.sh [DOMAINS]
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
FILL="$top_builddir/tests/fill_counters"
DOMAINS=${1:-2000}
SERIAL_DOMAINS=25 # 5 s at 200 ms each
DAY=2025-06-15

command -v python3 >/dev/null || skip "python3 not found"
[ -x "$FILL" ] || { echo "rua: build tests/fill_counters first (make tests/fill_counters)"; exit 1; }
python3 "$PEERS/slow_dns.py" 200 "$T/dns.port" "$T/dns.queries" &
DNS_PID=$!
wait_for "the slow DNS server" 60 test -s "$T/dns.port" || exit 1

# run_lookups N CONCURRENCY: prints the seconds a dry run over N new domains took.
run_lookups() {
    rm -rf "$T/state"
    mkdir -p "$T/state/counters"
    i=0
    while [ "$i" -lt "$1" ]; do
        printf 'b%06d.example\t-\tno-policy-found\tsuccess\t-\t-\t-\t1\n' "$i"
        i=$((i + 1))
    done | "$FILL" "$T/state/counters" "$DAY" || exit 1
    write_config "dns_resolvers = 127.0.0.1:$(cat "$T/dns.port")" "dns_concurrency = $2" \
        "send_all_success_reports = yes"
    start=$(date +%s.%N)
    lines=$("$TLSRPT" run --dry-run --day "$DAY" 2>/dev/null | wc -l)
    end=$(date +%s.%N)
    [ "$lines" -eq "$1" ] || { echo "rua: $lines reports instead of $1"; exit 1; }
    echo "$start $end" | awk '{printf "%.2f", $2 - $1}'
}

serial=$(run_lookups $SERIAL_DOMAINS 1)
concurrent=$(run_lookups "$DOMAINS" 64)
echo "$serial $concurrent" | awk -v n1=$SERIAL_DOMAINS -v n2="$DOMAINS" '{
    s = n1 / $1; c = n2 / $2
    printf "rua: %d lookups, 1 at a time (baseline): %.2f s, %.1f lookups/s\n", n1, $1, s
    printf "rua: %d lookups, dns_concurrency 64: %.2f s, %.1f lookups/s = %.1fx the baseline\n", n2, $2, c, c / s
    printf "rua: 65,536 domains would take %.0f min serially, %.0f s at 64\n", 65536 / s / 60, 65536 / c
}'
