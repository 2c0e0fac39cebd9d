#!/bin/sh
# rua_concurrent.sh - a day's rua records are looked up dns_concurrency at a
# time: against a DNS server that answers every query after 200 ms
# (tests/peers/slow_dns.py on 127.0.0.1), 300 domains give the exact reports
# and destinations, each domain is asked once, the server never sees more
# than dns_concurrency queries at once and does see several, and the whole
# takes far less than 300 x 200 ms. A SERVFAIL still keeps its report
# (rua_pending) and is looked up again, concurrently too, by the next run.
# DANE results of 60 domains go to their 3 shared MX hosts' own records
# (each looked up once), minus a rua that already gets them.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
FILL="$top_builddir/tests/fill_counters"
DAY=2025-06-15
FOUND=290 # d000.example ...: one TLSRPT record each
CONCURRENCY=16
DELAY_MS=200

python3 "$PEERS/slow_dns.py" "$DELAY_MS" "$T/dns.port" "$T/dns.queries" &
DNS_PID=$!
wait_for "the slow DNS server's port file" 60 test -s "$T/dns.port" ||
    { echo "slow_dns.py did not start"; exit 1; }
write_config "dns_resolvers = 127.0.0.1:$(cat "$T/dns.port")" "dns_timeout = 10s" \
    "dns_concurrency = $CONCURRENCY" "report_spread = 0" "tlsrptd_user = $(test_user)" \
    "delivery_directory = $T/delivered"

# Domain i: i + 1 successful sessions and one failed; no record captured, so DNS decides.
mkdir -p "$T/state/counters"
{
    i=0
    while [ $i -lt $FOUND ]; do
        d=$(printf 'd%03d.example' $i)
        printf '%s\t-\tno-policy-found\tsuccess\t-\t-\t-\t%d\n' "$d" $((i + 1))
        printf '%s\t-\tno-policy-found\tstarttls-not-supported\tmx.%s\t192.0.2.1\t-\t1\n' "$d" "$d"
        i=$((i + 1))
    done
    for d in none1.example none2.example none3.example none4.example none5.example \
        temp1.example temp2.example temp3.example temp4.example temp5.example; do
        printf '%s\t-\tno-policy-found\tsuccess\t-\t-\t-\t7\n' "$d"
    done
} | "$FILL" "$T/state/counters" "$DAY" || fail "fill_counters"
# tlsrpt run works as tlsrptd_user, as the daemon's worker does.
[ "$(id -u)" -ne 0 ] || chown -R "$(test_user)" "$T/state"

expected=$(
    i=0
    while [ $i -lt $FOUND ]; do
        d=$(printf 'd%03d.example' $i)
        echo "$d: $((i + 1)) successful, 1 failed sessions -> mailto:tls@$d"
        i=$((i + 1))
    done
    for n in 1 2 3 4 5; do
        echo "temp$n.example: 7 successful, 0 failed sessions -> (rua to be looked up again: DNS failed)"
    done
)

start=$(date +%s)
"$TLSRPT" -o send_all_success_reports=yes run --dry-run --day "$DAY" >"$T/dry.out" 2>"$T/dry.err"
elapsed=$(($(date +%s) - start))
assert_eq "run --dry-run: the exact reports and destinations of 300 looked-up domains" \
    "$expected" "$(sed 's/^'"$DAY"'_\([^_]*\)_[0-9a-f]\{16\} [^ ]*: /\1: /' "$T/dry.out" | sort)"
assert_eq "every domain was asked once" \
    "300 300" "$(cut -d' ' -f1 "$T/dns.queries" | sort -u | wc -l) $(wc -l <"$T/dns.queries")"
peak=$(cut -d' ' -f2 "$T/dns.queries" | sort -n | tail -n 1)
assert_eq "the server saw several queries at once, never more than dns_concurrency" \
    "yes" "$([ "$peak" -ge 2 ] && [ "$peak" -le $CONCURRENCY ] && echo yes || echo "no: $peak")"
# Serial lookups would take 60 s; 16 at a time about 4 s. The margin is for a loaded machine.
assert_eq "300 lookups of 200 ms each took far less than 60 s" \
    "yes" "$([ "$elapsed" -lt 30 ] && echo yes || echo "no: $elapsed s")"
assert_eq "each SERVFAIL is said, the domains without a record too" "5 5" \
    "$(grep -c 'DNS lookup of _smtp._tls.temp[1-5].example failed for now (SERVFAIL)' "$T/dry.err") $(grep -c '_smtp._tls.none[1-5].example has no TLSRPT record (NXDOMAIN)' "$T/dry.err")"

# The worker's path: the day goes into the outbox, the pending five are asked again at once.
: >"$T/dns.queries"
out=$("$TLSRPT" -o send_all_success_reports=yes run --day "$DAY" 2>"$T/run.err")
assert_eq "run enqueues the day and writes the reports that have a destination" \
"$DAY: 295 reports added to the outbox
290 reports written to $T/delivered" "$out"
: >"$T/dns.queries"
"$TLSRPT" run --day "$DAY" >/dev/null 2>"$T/again.err"
assert_eq "the next run looks up the five pending domains again, each once" \
"_smtp._tls.temp1.example
_smtp._tls.temp2.example
_smtp._tls.temp3.example
_smtp._tls.temp4.example
_smtp._tls.temp5.example" "$(cut -d' ' -f1 "$T/dns.queries" | sort)"
assert_eq "and keeps waiting for them" 5 \
    "$("$TLSRPT" queue --json | grep -c '"rua_pending": true')"

# DANE: t00..t59.example, MX host mx(i % 3).hosting.example; t02 sends its own
# reports to mx2's rua, so mx2's report would repeat them: it has none.
DANE_DAY=2025-06-16
i=0
while [ $i -lt 60 ]; do
    d=$(printf 't%02d.example' $i)
    rua="tls@$d"
    [ $i -eq 2 ] && rua=tls@mx2.hosting.example
    printf '{"dpv": "1","d": "%s","pr": "v=TLSRPTv1;rua=mailto:%s","policies":[{"policy-type":1,"policy-domain": "mx%d.hosting.example","policy-string":["3 1 1 8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D"],"t":0,"f":0}]}\n' \
        "$d" "$rua" $((i % 3))
    i=$((i + 1))
done >"$T/dane.jsonl"
"$TLSRPT" ingest --format libtlsrpt --day "$DANE_DAY" "$T/dane.jsonl" >/dev/null 2>&1
expected=$(
    i=0
    while [ $i -lt 60 ]; do
        d=$(printf 't%02d.example' $i)
        rua="tls@$d"
        [ $i -eq 2 ] && rua=tls@mx2.hosting.example
        echo "$d: 1 successful, 0 failed sessions -> mailto:$rua"
        i=$((i + 1))
    done
    echo "mx0.hosting.example: 20 successful, 0 failed sessions -> mailto:tls@mx0.hosting.example"
    echo "mx1.hosting.example: 20 successful, 0 failed sessions -> mailto:tls@mx1.hosting.example"
)
expected=$(echo "$expected" | sort)
: >"$T/dns.queries"
"$TLSRPT" -o send_all_success_reports=yes run --dry-run --day "$DANE_DAY" >"$T/dane.out" 2>/dev/null
assert_eq "DANE: each MX host's report holds the TLSA results of its 20 domains; mx2's rua already has them" \
    "$expected" \
    "$(sed 's/^'"$DANE_DAY"'_\([^_]*\)_[0-9a-f]\{16\} [^ ]*: /\1: /' "$T/dane.out" | sort)"
assert_eq "DANE: only the MX hosts are looked up, each once" \
"_smtp._tls.mx0.hosting.example
_smtp._tls.mx1.hosting.example
_smtp._tls.mx2.hosting.example" "$(cut -d' ' -f1 "$T/dns.queries" | sort)"
finish
