#!/bin/sh
# prefetch.sh - tlsrpt-milter's prefetches in tlsrptd are answered at once
# and looked up in the background, concurrently: against a DNS server that
# answers every query after 200 ms (tests/peers/slow_dns.py) and a local
# HTTPS server with the policies, 64 new domains sent pipelined on one
# policy_socket connection all end in the policy cache with their exact
# policy, far sooner than one after another could (64 x 4 queries x 200 ms
# = 51 s), each DNS name asked once, no failure counted, counters exact; a
# domain prefetched twice, or looked up for delivery meanwhile, is fetched
# once; a reload leaves the fetchers as started (and says so); a full queue
# drops and counts; SIGTERM drops what waits.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
N=64
DELAY_MS=200
DEADLINE_S=30 # serially 51 s; 16 at a time 5 s here, 9 s under ASan

# slow_dns DELAY_MS NAME: a slow_dns.py (log $T/NAME.queries), its port in SLOW_PORT.
slow_dns() {
    python3 "$PEERS/slow_dns.py" "$1" "$T/$2.port" "$T/$2.queries" &
    SINK_PIDS="$SINK_PIDS $!"
    wait_for "the slow DNS server's port file" 60 test -s "$T/$2.port" ||
        { echo "slow_dns.py did not start"; exit 1; }
    SLOW_PORT=$(cat "$T/$2.port")
}

# smap MAP DOMAIN...: one connection, every lookup sent before any reply is
# read (as the milter does); the replies, one a line, each within 5 s.
smap() { python3 "$PEERS/smap_client.py" "$T/run/policy.sock" "$@"; }

# prefetch_counts: the policy.sts.prefetch* lines and the fetch and failure figures.
prefetch_counts() {
    "$TLSRPT" -c "$CONF" status |
        awk '$1 ~ /^policy\.sts\.(prefetch|fetches|errors|failures_counted)/ { print $1, $2 }'
}

# prefetch_ended COUNT: prefetches done plus those that gave way to another fetch.
prefetch_ended() {
    [ $(($(status_value policy.sts.prefetches) + $(status_value policy.sts.prefetch.skipped))) -eq "$1" ]
}

DOMAINS=$(i=0; while [ $i -lt $N ]; do echo "sts$i.example"; i=$((i + 1)); done)
slow_dns "$DELAY_MS" dns
start_sts_web $DOMAINS stsdup.example stsboth.example stsfull0.example stsfull1.example \
    stsfull2.example stsfull3.example stsfull4.example stsfull5.example
for d in $DOMAINS stsdup.example stsboth.example; do
    printf '200 text/plain\nversion: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: 86400\n' "$d" \
        >"$T/web/mta-sts.$d"
done
write_config "dns_resolvers = 127.0.0.1:$SLOW_PORT" "dns_timeout = 10s" "tlsrptd_user = $(test_user)" \
    "policy_socket = $T/run/policy.sock" "policy_socket_group =" "sts_ca_file = $T/ca.pem" \
    "sts_https_port = $WEB_PORT"
start_daemon

# 64 new domains on one connection: every reply at once.
started=$(date +%s)
# shellcheck disable=SC2086
out=$(smap tlsrpt-prefetch $DOMAINS); status=$?
assert_eq "64 prefetches: 64 NOTFOUND replies at once" "0 $N" \
    "$status $(printf '%s\n' "$out" | grep -cx 'NOTFOUND ')"
wait_for "the 64 background lookups" $DEADLINE_S status_is policy.sts.prefetches $N
elapsed=$(($(date +%s) - started))
echo "64 prefetches with $DELAY_MS ms DNS done in about $elapsed s"
assert_eq "64 prefetches done within $DEADLINE_S s (serially 51 s)" yes \
    "$([ $elapsed -le $DEADLINE_S ] && echo yes || echo "no: $elapsed s")"
assert_eq "counters after 64 new domains" "policy.sts.prefetches $N
policy.sts.prefetch.queued $N
policy.sts.prefetch.duplicates 0
policy.sts.prefetch.dropped 0
policy.sts.prefetch.fetched $N
policy.sts.prefetch.skipped 0
policy.sts.prefetch.queue_length 0
policy.sts.prefetch.in_flight 0
policy.sts.fetches $N
policy.sts.fetches_ok $N
policy.sts.errors.fetch 0
policy.sts.errors.invalid 0
policy.sts.errors.webpki 0
policy.sts.failures_counted 0" "$(prefetch_counts)"
cache_line() {
    printf '%s' "$1" | python3 -c 'import json,sys
for e in json.load(sys.stdin):
    print(e["domain"], e["id"], e["max_age"], json.dumps(e["last_error"]), json.dumps(e["policy"]))'
}
expected=$(for d in $DOMAINS; do
    printf '%s 1 86400 "" "version: STSv1\\nmode: enforce\\nmx: mx.%s\\nmax_age: 86400\\n"\n' "$d" "$d"
done | sort)
assert_eq "every domain cached with its exact policy" "$expected" \
    "$(cache_line "$("$TLSRPT" -c "$CONF" sts cache --json)" | sort)"
# The log names no type: mta-sts.D is asked twice (A, AAAA), D and _mta-sts.D once.
assert_eq "each DNS query made once (MX, TXT, A, AAAA of 64 domains)" "$((4 * N)) $((3 * N)) $N" \
    "$(wc -l <"$T/dns.queries") $(awk '{ print $1 }' "$T/dns.queries" | sort -u | wc -l) $(grep -c '^mta-sts\.' "$T/dns.queries" | awk '{ print $1 / 2 }')"
max_seen=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$T/dns.queries")
assert_eq "DNS queries at once: several, at most policy_prefetch_concurrency (16)" yes \
    "$([ "$max_seen" -ge 2 ] && [ "$max_seen" -le 16 ] && echo yes || echo "no: $max_seen")"
assert_eq "HTTPS requests: one per domain" "$N $N" \
    "$(wc -l <"$T/web/requests.log") $(sort -u "$T/web/requests.log" | wc -l)"
assert_eq "a prefetch counts no failure: no counter table" "" \
    "$(ls "$T/state/counters" 2>/dev/null)"

# The same domain twice in one batch: queued once; once cached, answered from memory.
out=$(smap tlsrpt-prefetch stsdup.example STSDUP.example.)
assert_eq "a duplicate: two replies" "NOTFOUND 
NOTFOUND " "$out"
wait_status policy.sts.prefetches $((N + 1))
assert_eq "the duplicate queued once" "$((N + 1)) 1" \
    "$(status_value policy.sts.prefetch.queued) $(status_value policy.sts.prefetch.duplicates)"
smap tlsrpt-prefetch stsdup.example >/dev/null
wait_status policy.sts.prefetches $((N + 2))
assert_eq "once cached, a prefetch is not queued" "$((N + 1)) 1 $((N + 1))" \
    "$(status_value policy.sts.prefetch.queued) $(status_value policy.sts.prefetch.duplicates) $(status_value policy.sts.fetches)"
assert_eq "stsdup.example: each DNS name asked once" "4" \
    "$(grep -c 'stsdup\.example ' "$T/dns.queries")"

# A delivery lookup and a prefetch of the same domain at once: one fetch.
smap postfix stsboth.example >"$T/both.delivery" 2>&1 &
both_pid=$!
wait_for "the delivery lookup's TXT query" 60 grep -q '^_mta-sts\.stsboth\.example ' "$T/dns.queries"
smap tlsrpt-prefetch stsboth.example >/dev/null
wait "$both_pid"
assert_eq "the delivery lookup's answer" \
    "OK secure match=mx.stsboth.example servername=hostname" "$(cat "$T/both.delivery")"
# The prefetch is done (from memory or in the background) or gave way to the delivery's fetch.
wait_for "the prefetch of stsboth.example" 60 prefetch_ended $((N + 3))
assert_eq "stsboth.example fetched once" "1 $((N + 2))" \
    "$(grep -c stsboth "$T/web/requests.log") $(status_value policy.sts.fetches)"
# SIGHUP: the fetchers run on as started, and the log says the new values wait for a restart.
echo "policy_prefetch_concurrency = 4" >>"$CONF"
kill -HUP "$DAEMON_PID"
wait_for "the reload" 60 grep -q "configuration reloaded" "$T/daemon.log"
assert_match "a reload says policy_prefetch_concurrency waits for a restart" \
    "warning: policy_prefetch_concurrency changed: the new value takes effect after a restart; still using 16\$" \
    "$(cat "$T/daemon.log")"
queued=$(status_value policy.sts.prefetch.queued)
fetched=$(status_value policy.sts.prefetch.fetched)
smap tlsrpt-prefetch stsreload.example >/dev/null
wait_for "the prefetch after the reload" 60 status_is policy.sts.prefetch.fetched $((fetched + 1))
assert_eq "after the reload: queued and looked up in the background" \
    "$((queued + 1)) $((fetched + 1))" \
    "$(status_value policy.sts.prefetch.queued) $(status_value policy.sts.prefetch.fetched)"
assert_eq "its failed fetch (no policy served for it) is not counted" "1 0" \
    "$(status_value policy.sts.errors.webpki) $(status_value policy.sts.failures_counted)"
stop_daemon
assert_eq "daemon exit status" 0 "$DAEMON_STATUS"

# A full queue: one fetcher, room for two, a DNS server that takes 1 s a query.
slow_dns 1000 slow
write_config "dns_resolvers = 127.0.0.1:$SLOW_PORT" "dns_timeout = 10s" "tlsrptd_user = $(test_user)" \
    "policy_socket = $T/run/policy.sock" "policy_socket_group =" "sts_ca_file = $T/ca.pem" \
    "sts_https_port = $WEB_PORT" "policy_prefetch_concurrency = 1" "policy_prefetch_queue = 2"
start_daemon
smap tlsrpt-prefetch stsfull0.example >/dev/null
wait_status policy.sts.prefetch.in_flight 1
out=$(smap tlsrpt-prefetch stsfull1.example stsfull2.example stsfull3.example stsfull4.example \
    stsfull5.example)
assert_eq "a full queue: still answered at once" 5 "$(printf '%s\n' "$out" | grep -cx 'NOTFOUND ')"
assert_eq "one in flight, two queued, three dropped" "1 2 3 3" \
    "$(status_value policy.sts.prefetch.in_flight) $(status_value policy.sts.prefetch.queue_length) $(status_value policy.sts.prefetch.queued) $(status_value policy.sts.prefetch.dropped)"
# SIGTERM: the two waiting are dropped, the one under way ends after its DNS query in hand.
stopped=$(date +%s)
stop_daemon
assert_eq "daemon exit status after a stop with prefetches waiting" 0 "$DAEMON_STATUS"
elapsed=$(($(date +%s) - stopped))
echo "stopped in about $elapsed s with one lookup under way (4 queries of 1 s, then HTTPS)"
assert_eq "the stop took at most 30 s" yes "$([ $elapsed -le 30 ] && echo yes || echo "no: $elapsed s")"
assert_eq "the waiting ones were never asked for" 0 "$(grep -c 'stsfull[1-5]' "$T/slow.queries")"
# The stop came within its first queries (1 s each): it asked no more and fetched nothing.
queries=$(grep -c 'stsfull0' "$T/slow.queries")
assert_eq "the lookup under way ended at the stop: fewer than its 4 queries, no fetch" yes \
    "$([ "$queries" -lt 4 ] && ! grep -q stsfull0 "$T/web/requests.log" && echo yes ||
        echo "no: $queries queries")"
finish
