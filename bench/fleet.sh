#!/bin/sh
# fleet.sh - the fleet database at volume, on a PostgreSQL started here (as
# tests/fleet.sh does): HOSTS hosts each push a day of DOMAINS domains
# (`tlsrpt fleet push`: snapshot, COPY, one transaction), beside a plain COPY
# of the same rows into the same server, the limit; then the elected host
# builds the merged day's reports (`tlsrpt run --due`: merge from the
# database, build, into the outbox, stored in the fleet's outbox) beside one
# host building the same day from its own table (`tlsrpt run --day`) and
# beside the database's own part done by psql alone (the key rows read out,
# the stored reports' rows COPYed in); then another host takes the day over
# and restores the stored reports (beside reading them out with COPY).
# usage: bench/fleet.sh [DOMAINS [HOSTS [BUILD]]]   (default 100000 10 yes: 10^6 key rows;
# BUILD=no skips the report builds, which write every report into the outbox)
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
DOMAINS=${1:-100000}
HOSTS=${2:-10}
BUILD=${3:-yes}
. "$top_srcdir/tests/lib.sh"
start_postgres
DAY=$(date -u -d yesterday +%F)
ENTRIES=$((DOMAINS * 3 + 1000))
now_ms() { date +%s%3N; }
calc() { awk "BEGIN { print $1 }"; }

# Every host saw every domain (the worst case for the merge: HOSTS rows per key).
awk -v n="$DOMAINS" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"dpv\": \"1\",\"d\": \"d%d.example\",\"pr\": \"v=TLSRPTv1;rua=mailto:tls@d%d.example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}\n", i, i }' \
    >"$T/day.jsonl"
limits="counter_table_entries = $ENTRIES"
for h in $(seq 1 "$HOSTS") all; do
    fleet_host "h$h" "$limits" "report_delay = 0" "report_spread = 1d"
    on_host "h$h" ingest --format libtlsrpt --day "$DAY" "$T/day.jsonl" >/dev/null 2>&1
done
# "all" counts the whole fleet's traffic alone, without the database.
[ "$BUILD" = yes ] && for _ in $(seq 2 "$HOSTS"); do
    on_host hall ingest --format libtlsrpt --day "$DAY" "$T/day.jsonl" >/dev/null 2>&1
done
sed -i '/^fleet_database/d' "$T/hall/tlsrptd.cf"
on_host h1 fleet init >/dev/null

echo "bench_fleet: $HOSTS hosts x $DOMAINS domains, PostgreSQL $("$PG_BIN/postgres" --version | cut -d' ' -f3) on loopback; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(now_ms)
for h in $(seq 1 "$HOSTS"); do
    on_host "h$h" fleet push --day "$DAY" >/dev/null 2>&1 || { echo "push of h$h failed"; exit 1; }
done
push_ms=$(( $(now_ms) - start ))
rows=$(psql_q "SELECT count(*) FROM tlsrpt_keys")
[ "$rows" -eq $((DOMAINS * HOSTS)) ] || { echo "expected $((DOMAINS * HOSTS)) rows, found $rows"; exit 1; }

# The limit: the same rows, COPYed by psql into a table of the same shape.
# copy_ms TABLE: ms for psql to \copy TABLE's rows into a new table of its shape.
copy_ms() {
    psql_q "COPY (SELECT * FROM $1) TO STDOUT" >"$T/$1.copy"
    psql_q "CREATE TABLE $1_limit (LIKE $1 INCLUDING ALL)" >/dev/null
    _start=$(now_ms)
    PGPASSFILE="$PG_PASSFILE" psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U tlsrpt -d postgres \
        -c "\\copy $1_limit FROM '$T/$1.copy'" || exit 1
    echo $(( $(now_ms) - _start ))
}
copy_ms=$(copy_ms tlsrpt_keys) || exit 1
printf 'push  %8d key rows: %6d ms, %8.0f rows/s (tlsrpt fleet push, %d hosts in turn)\n' \
    "$rows" "$push_ms" "$(calc "$rows * 1000 / $push_ms")" "$HOSTS"
printf 'limit %8d key rows: %6d ms, %8.0f rows/s (psql \\copy of the same rows)  -> push at %.0f%% of the limit\n' \
    "$rows" "$copy_ms" "$(calc "$rows * 1000 / $copy_ms")" "$(calc "100 * $copy_ms / $push_ms")"

[ "$BUILD" = yes ] || exit 0
# The merged day's reports, built by the elected host, beside one host building it alone.
start=$(now_ms)
out=$(on_host h1 -o fleet_push_deadline=0 run --due 2>&1)
fleet_ms=$(( $(now_ms) - start ))
echo "$out" | grep -q "$DAY: $DOMAINS reports of the fleet added" ||
    { echo "the fleet's build did not give $DOMAINS reports:"; echo "$out" | tail -5; exit 1; }
start=$(now_ms)
out=$(on_host hall run --day "$DAY" 2>&1)
alone_ms=$(( $(now_ms) - start ))
echo "$out" | grep -q "$DAY: $DOMAINS reports added" ||
    { echo "the single host's build did not give $DOMAINS reports:"; echo "$out" | tail -5; exit 1; }
printf 'build %8d reports: %6d ms merged from the database, built, stored in the fleet'"'"'s outbox (tlsrpt run --due) vs %d ms from one host'"'"'s own table (tlsrpt run --day): x%.2f\n' \
    "$DOMAINS" "$fleet_ms" "$alone_ms" "$(calc "$fleet_ms / $alone_ms")"
# The limits of the database's part: reading the rows the merge reads, and
# COPYing the stored reports' rows (JSON and all) into a table of their shape.
start=$(now_ms)
psql_q "COPY (SELECT * FROM tlsrpt_keys) TO STDOUT" >/dev/null
read_ms=$(( $(now_ms) - start ))
stored=$(psql_q "SELECT count(*) FROM tlsrpt_reports")
[ "$stored" -eq "$DOMAINS" ] || { echo "expected $DOMAINS stored reports, found $stored"; exit 1; }
store_ms=$(copy_ms tlsrpt_reports) || exit 1
printf 'limit %8d reports: %6d ms = %d ms reading the %d key rows out (COPY TO) + %d ms COPYing the stored reports (%d MB) in  -> the build takes x%.1f the database'"'"'s part alone\n' \
    "$DOMAINS" "$((read_ms + store_ms))" "$read_ms" "$rows" "$store_ms" \
    "$(( $(stat -c %s "$T/tlsrpt_reports.copy") / 1048576 ))" "$(calc "$fleet_ms / ($read_ms + $store_ms)")"

# A host taking the day over restores the stored reports into its outbox
# (no rebuild), beside reading the same rows out of the database alone.
psql_q "UPDATE tlsrpt_days SET lease_until = now() - interval '1 second'" >/dev/null
start=$(now_ms)
out=$(on_host h2 run --due 2>&1)
restore_ms=$(( $(now_ms) - start ))
echo "$out" | grep -q "$DOMAINS reports restored from the fleet's outbox" ||
    { echo "the takeover did not restore $DOMAINS reports:"; echo "$out" | tail -5; exit 1; }
start=$(now_ms)
psql_q "COPY (SELECT * FROM tlsrpt_reports) TO STDOUT" >/dev/null
out_ms=$(( $(now_ms) - start ))
printf 'takeover %5d reports: %6d ms restored from the fleet'"'"'s outbox into the new builder'"'"'s (tlsrpt run --due) vs %d ms reading the same rows out (COPY TO): x%.1f\n' \
    "$DOMAINS" "$restore_ms" "$out_ms" "$(calc "$restore_ms / $out_ms")"
