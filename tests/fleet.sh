#!/bin/sh
# fleet.sh - three hosts push their days to a real PostgreSQL (started here,
# on a temporary directory and a loopback port): the schema is created and
# found again, the fleet's merged counts equal one host counting everything,
# a day pushed again changes nothing, the database stopped during the
# worker's push loses nothing, the status names each host, and a database
# schema version 1 made is migrated.
. "$(dirname "$0")/lib.sh"
SAMPLE="$top_srcdir/tests/data/libtlsrpt-sample.jsonl"
start_postgres
DAY=2025-03-04

# The days here are old: fleet_retention keeps them (its test is at the end).
for h in h1 h2 h3 all; do fleet_host "$h" "fleet_retention = 3660d"; done

# Each host's traffic: h1 the sample, h2 the sample and more, h3 other domains.
head -7 "$SAMPLE" >"$T/h1.jsonl" # its 7 valid datagrams: 4 successful sessions, 3 failed
{
    cat "$T/h1.jsonl"
    for _ in 1 2 3; do
        echo '{"dpv": "1","d": "example.com","pr": "v=TLSRPTv1;rua=mailto:tlsrpt@example.com","policies":[{"policy-type":9,"t":0,"f":0}]}'
    done
} >"$T/h2.jsonl"
# 40 sessions to 13 domains, every third one failed: 26 successful, 14 failed
awk 'BEGIN { for (i = 0; i < 40; i++) {
    d = i % 13; f = i % 3 == 0
    printf "{\"dpv\": \"1\",\"d\": \"d%d.example\",\"pr\": \"v=TLSRPTv1;rua=mailto:tls@d%d.example\",\"policies\":[{\"policy-type\":9,", d, d
    if (f) printf "\"failure-details\":[{\"c\":201,\"n\": \"mx.d%d.example\"}],", d
    printf "\"t\":%d,\"f\":%d}]}\n", f, f } }' >"$T/h3.jsonl"
for h in h1 h2 h3; do
    on_host "$h" ingest --format libtlsrpt --day "$DAY" "$T/$h.jsonl" >/dev/null 2>&1
    on_host all ingest --format libtlsrpt --day "$DAY" "$T/$h.jsonl" >/dev/null 2>&1
done

assert_eq "no schema before init" "fleet database: no schema yet (run tlsrpt fleet init)" \
    "$(on_host h1 fleet status 2>&1)"
assert_eq "init creates the schema" "fleet database: schema version 3 created" \
    "$(on_host h1 fleet init 2>&1)"
assert_eq "init again finds it" "fleet database: schema version 3, nothing to do" \
    "$(on_host h2 fleet init 2>&1)"

for h in h1 h2 h3; do
    assert_match "$h pushes its day" "^1 days pushed as $h$" "$(on_host "$h" fleet push 2>/dev/null)"
done
assert_eq "a pushed day is not pushed again" "0 days pushed as h1" \
    "$(on_host h1 fleet push 2>/dev/null)"

# The merged view is exactly what one host that saw everything counted.
policies() { python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["policies"], indent=1, sort_keys=True))'; }
EXPECTED=$(on_host all counters --day "$DAY" --json | policies)
assert_eq "merged counts = one host counting all three" "$EXPECTED" \
    "$(on_host h1 counters --fleet --day "$DAY" --json | policies)"
SESSIONS=$(on_host h1 counters --fleet --day "$DAY" | head -1)
# h1 4 + 3, h2 7 + 3, h3 26 + 14 (13 domains); 17 keys and 16 detail rows
assert_eq "merged totals" "$DAY: 37 successful and 20 failed sessions, table 33 of 16777216 entries used" \
    "$SESSIONS"

# tlsrpt top --fleet: the merged day against the one before (none here).
assert_eq "top --fleet: d0.example merged from h3's 4 sessions, 2 failed" "d0.example 4 2" \
    "$(on_host h1 top --fleet --day "$DAY" --json | python3 -c 'import json, sys
for d in json.load(sys.stdin)["domains"]:
    if d["domain"] == "d0.example": print(d["domain"], d["sessions"], d["failures"])')"

# Pushing a day again (after a crash, a timeout, or by hand) adds nothing twice.
ROWS="SELECT (SELECT count(*) FROM tlsrpt_keys) || ' ' || (SELECT count(*) FROM tlsrpt_details) || ' ' || (SELECT sum(success + failure) FROM tlsrpt_keys)"
BEFORE=$(psql_q "$ROWS")
assert_match "h2 pushes the day again" "^$DAY pushed as h2: 4 keys, 3 failure details, 10 sessions$" \
    "$(on_host h2 fleet push --day "$DAY" 2>/dev/null)"
on_host h2 fleet push --day "$DAY" >/dev/null 2>&1
assert_eq "the database holds each host's day once" "$BEFORE" "$(psql_q "$ROWS")"
assert_eq "merged counts unchanged by the repeated pushes" "$EXPECTED" \
    "$(on_host h3 counters --fleet --day "$DAY" --json | policies)"

# The database away while the worker pushes: the day is kept, then pushed once.
DAY2=2025-03-05
on_host h1 ingest --format libtlsrpt --day "$DAY2" "$T/h1.jsonl" >/dev/null 2>&1
stop_postgres
OUT=$(on_host h1 run --due 2>&1)
assert_match "the worker says the database is unreachable and the day is kept" \
    "fleet database: .*; finished days are kept and pushed later" "$OUT"
assert_match "the day is still there" "^$DAY2: 4 successful and 3 failed sessions" \
    "$(on_host h1 counters --day "$DAY2" | head -1)"
restart_postgres || fail "PostgreSQL did not come back"
assert_eq "the worker pushes it once the database is back" "1 days pushed to the fleet database as h1" \
    "$(on_host h1 run --due 2>/dev/null | grep pushed)"
assert_eq "and not again" "" "$(on_host h1 run --due 2>/dev/null | grep pushed)"
assert_match "merged second day" "^$DAY2: 4 successful and 3 failed sessions" \
    "$(on_host h2 counters --fleet --day "$DAY2" | head -1)"

# What an operator sees.
STATUS=$(on_host h3 fleet status | sed 's/[0-9-]*T[0-9:]*Z/YYYY-MM-DDTHH:MM:SSZ/')
lag() { echo $(( $(date -u +%s) / 86400 - 1 - $(date -u -d "$1" +%s) / 86400 )); }
assert_eq "fleet status" "fleet database: schema version 3, this host is h3
  HOST  LAST DAY    PUSHED                DAYS  LAG
  h1    $DAY2  YYYY-MM-DDTHH:MM:SSZ  2     $(lag "$DAY2") days
  h2    $DAY  YYYY-MM-DDTHH:MM:SSZ  1     $(lag "$DAY") days
  h3    $DAY  YYYY-MM-DDTHH:MM:SSZ  1     $(lag "$DAY") days
days:
  DAY         PUSHED BY   BUILDER  STATE
  $DAY2  h1          -        older than counter_retention: not reported
  $DAY  h1, h2, h3  -        older than counter_retention: not reported" "$STATUS"
assert_eq "fleet status --json hosts" "h1 $DAY2 2
h2 $DAY 1
h3 $DAY 1" "$(on_host h1 fleet status --json | python3 -c 'import json, sys
for h in json.load(sys.stdin)["hosts"]: print(h["host-id"], h["last-day"], h["days-pushed"])')"

# Two machines configured with the same fleet_host_id: the second one's push
# of a day the first pushed is refused (it would replace the first's
# counts), and the day stays on it.
fleet_host dup "fleet_host_id = h2"
on_host dup ingest --format libtlsrpt --day "$DAY" "$T/h1.jsonl" >/dev/null 2>&1
OUT=$(on_host dup fleet push --day "$DAY" 2>&1); status=$?
assert_match "a second machine as h2 is refused" \
    "fleet push of $DAY: fleet_host_id h2 pushed $DAY before from another machine \\(counters instance [0-9a-f]{32}, this one is [0-9a-f]{32}\\): two hosts share this fleet_host_id; give each its own" \
    "$OUT"
assert_eq "and says so in its exit status" 1 "$status"
assert_match "h2's counts are untouched" "^$DAY: 37 successful and 20 failed sessions" \
    "$(on_host h1 counters --fleet --day "$DAY" | head -1)"
assert_match "the day stays on the second machine, unreported" "^$DAY: 4 successful and 3 failed" \
    "$(on_host dup counters --day "$DAY" | head -1)"
assert_eq "h2 itself pushes its day again" "$DAY pushed as h2: 4 keys, 3 failure details, 10 sessions" \
    "$(on_host h2 fleet push --day "$DAY" 2>/dev/null)"

# A database schema version 1 made is migrated in place, step by step, its data kept.
psql_q "CREATE DATABASE v1" >/dev/null
PGPASSFILE="$PG_PASSFILE" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U tlsrpt -d v1 \
    -f "$top_srcdir/tests/data/fleet-schema-v1.sql" >/dev/null
V1="fleet_database=postgresql://tlsrpt@127.0.0.1:$PG_PORT/v1?passfile=$PG_PASSFILE"
assert_eq "a version 1 schema is migrated" "fleet database: schema migrated from version 1 to 3" \
    "$(on_host h1 -o "$V1" fleet init 2>&1)"
assert_eq "and found migrated" "fleet database: schema version 3, nothing to do" \
    "$(on_host h1 -o "$V1" fleet init 2>&1)"
assert_match "the day version 1 held is merged as before" \
    "^2025-01-10: 5 successful and 1 failed sessions, table 2 of" \
    "$(on_host h1 -o "$V1" counters --fleet --day 2025-01-10 | head -1)"
assert_eq "version 3's tables and columns are there" "0 0 t" \
    "$(PGPASSFILE="$PG_PASSFILE" psql -X -A -t -F ' ' -h 127.0.0.1 -p "$PG_PORT" -U tlsrpt -d v1 -c \
        "SELECT (SELECT count(*) FROM tlsrpt_reports), (SELECT count(*) FROM tlsrpt_deliveries),
                (SELECT count(*) = 2 FROM information_schema.columns
                 WHERE table_name = 'tlsrpt_days' AND column_name IN ('stored_reports', 'stored_at'))")"

# fleet_retention: the report worker removes older days from the database;
# the pushes stay for the status.
psql_q "SELECT count(*) FROM tlsrpt_keys" >"$T/keys-before"
on_host h1 -o fleet_retention=1d -o counter_retention=1d run --due >"$T/expire.out" 2>&1
assert_match "days past fleet_retention are removed" \
    "fleet: the days before $(date -u -d '1 day ago' +%F) removed from the database \\(fleet_retention\\)" \
    "$(cat "$T/expire.out")"
assert_eq "their counts are gone, the pushes stay" "0 0 0 4" \
    "$(psql_q "SELECT (SELECT count(*) FROM tlsrpt_keys), (SELECT count(*) FROM tlsrpt_details),
        (SELECT count(*) FROM tlsrpt_overflow), (SELECT count(*) FROM tlsrpt_pushes)" | tr '|' ' ')"
assert_eq "there were some before" "yes" "$([ "$(cat "$T/keys-before")" -gt 0 ] && echo yes)"

# A password in fleet_database is refused: it belongs in a passfile.
assert_match "a password in fleet_database is refused" \
    "fleet_database: holds a password; put it in a passfile" \
    "$(on_host h1 -o "fleet_database=postgresql://tlsrpt:secret@127.0.0.1:$PG_PORT/postgres" fleet status 2>&1)"
assert_match "no fleet configured" "fleet_database is not set" \
    "$(on_host h1 -o fleet_database= fleet status 2>&1)"
assert_match "in a fleet, run --day is refused (no host reports alone)" \
    "fleet_database is set: this host's days are pushed to the fleet database" \
    "$(on_host h1 run --day "$DAY" 2>&1)"

finish
