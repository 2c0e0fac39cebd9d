#!/bin/sh
# fleet_leader.sh - one host of a fleet builds and sends a day's merged
# reports, on a real PostgreSQL: it waits for every known host's push (or
# fleet_push_deadline, then names the missing host), and when it is killed
# (-9) in the middle of its deliveries another host takes the day over once
# the lease expired, restores the reports the first one stored in the
# fleet's outbox and sends only what was not delivered: the SMTP and HTTPS
# sinks get every report once, byte for byte as stored, even when late data
# changed the merged counts in between.
. "$(dirname "$0")/lib.sh"
start_postgres
# Each message (and POST) is held 1 s before the sink takes it: a client killed then has sent nothing.
start_sinks --hold-ms 1000
dns_localhost >"$T/zone"
start_dns "$T/zone"
DAY=$(date -u -d yesterday +%F)
OLD_DAY=$(date -u -d '3 days ago' +%F)

make_dkim_key
for h in h1 h2 h3; do
    fleet_host "$h" "relayhost = [127.0.0.1]:$SMTP_PORT" "dkim_selector = tlsrpt1" \
        "dkim_key_file = $T/dkim.key" "report_delay = 0" "report_spread = 0" \
        "delivery_concurrency = 1" "fleet_lease = 5s" "fleet_push_deadline = 0" \
        "dns_resolvers = 127.0.0.1:$DNS_PORT" "https_ca_file = $T/ca.crt" \
        "https_allow_private_destinations = yes"
done
on_host h1 fleet init >/dev/null

# Seven domains, each with its own rua: five by mail, a0 and e0 by HTTPS
# (a0 is delivered first, e0 last); every host saw each of them.
for h in h1 h2 h3; do
    awk -v port="$HTTPS_PORT" 'BEGIN { for (i = 0; i < 7; i++) {
        d = i == 0 ? "a0" : i == 6 ? "e0" : "d" (i - 1)
        rua = i == 0 || i == 6 ? "https://localhost:" port "/ok" : "mailto:tls@" d ".example"
        printf "{\"dpv\": \"1\",\"d\": \"%s.example\",\"pr\": \"v=TLSRPTv1;rua=%s\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}\n", d, rua } }' \
        >"$T/$h.jsonl"
    on_host "$h" ingest --format libtlsrpt --day "$DAY" "$T/$h.jsonl" >/dev/null 2>&1
    on_host "$h" fleet push >/dev/null 2>&1
done

# h9 pushed a day before and is silent since: a known host that did not push $DAY.
psql_q "INSERT INTO tlsrpt_pushes (host_id, day, keys, details, overflow, sessions, lost_events, late_events) VALUES ('h9', $(( $(date -u -d "$OLD_DAY" +%s) / 86400 )), 0, 0, 0, 0, 0, 0)" >/dev/null
OUT=$(on_host h1 -o fleet_push_deadline=7d run --due 2>&1)
assert_eq "the day waits for every known host within fleet_push_deadline" "0" \
    "$(psql_q "SELECT count(*) FROM tlsrpt_days WHERE day = $(( $(date -u -d "$DAY" +%s) / 86400 ))")"
assert_match "fleet status: the day waits for h9" \
    "^  $DAY  h1, h2, h3  -  +waiting for h9 until $(date -u -d "$DAY + 8 days" +%F) 00:00 \\(fleet_push_deadline\\)\$" \
    "$(on_host h1 -o fleet_push_deadline=7d fleet status)"

# Past the deadline, h1 builds the day (naming h9) and is killed -9 after 3
# of 7 deliveries (a0 by HTTPS, then d0 and d1 by mail; d2 is in flight).
setsid sh -c 'TLSRPTD_CONFIG="$1" exec "$2" run --due' sh "$T/h1/tlsrptd.cf" "$TLSRPT" \
    >"$T/h1.out" 2>&1 &
H1=$!
wait_for "h1's third message held at the sink" 120 test -e "$T/smtp/held.2" ||
    { cat "$T/h1.out"; fail "h1 did not deliver"; finish; }
kill -KILL -"$H1" 2>/dev/null
wait "$H1" 2>/dev/null
assert_match "the missing host is named" "$(date -u -d "$DAY" +%F): reported without h9, which did not push it within fleet_push_deadline" \
    "$(cat "$T/h1.out")"
assert_eq "two messages and one POST reached the sinks before h1 died" "2 1" \
    "$(ls "$T/smtp" | grep -c '\.eml$') $(ls "$T/https" | grep -c '\.body$')"

# The fleet's outbox, from any host: what h1 stored, and how far it got.
queue_states() {
    on_host "$1" queue --fleet --json | python3 -c 'import json, sys
from collections import Counter
c = Counter((d["state"], d["host"]) for r in json.load(sys.stdin) for d in r["destinations"])
print(", ".join("%s %s %d" % (s, h, n) for (s, h), n in sorted(c.items())))'
}
assert_eq "queue --fleet: 3 delivered, the one in flight to be tried again, 3 waiting" \
    "delivered h1 3, pending h1 3, retrying h1 1" "$(queue_states h3)"
assert_match "queue --fleet: the attempt in flight is named" "in flight at h1 when it stopped" \
    "$(on_host h3 queue --fleet)"

# Late data for the day reaches the database after h1 built it: the reports
# are what h1 built and stored, whoever sends them.
psql_q "UPDATE tlsrpt_keys SET success = success + 10 WHERE host_id = 'h3'" >/dev/null

# h2 cannot take the day while h1's lease lasts, then takes it over and sends the rest.
takeover() {
    on_host h2 run --due >>"$T/h2.out" 2>&1
    grep -q "taking over its reports from h1" "$T/h2.out"
}
wait_for "h2 to take the day over" 120 takeover || { cat "$T/h2.out"; fail "no takeover"; finish; }
assert_match "h2 restored the reports h1 stored" \
    "$DAY: 7 reports restored from the fleet's outbox, each destination in the state the ledger has" \
    "$(cat "$T/h2.out")"
assert_eq "no report was built twice" "1" "$(grep -c 'reports stored in the fleet' "$T/h1.out" "$T/h2.out" |
    awk -F: '{ n += $2 } END { print n }')"
# Every message and POST carries, byte for byte, the report the fleet's
# outbox holds (3 sessions each); every destination got it once.
psql_q "SELECT report_id FROM tlsrpt_reports" | while read -r id; do
    printf '%s' "$(psql_q "SELECT report FROM tlsrpt_reports WHERE report_id = '$id'")" >"$T/stored-$id.json"
done
python3 - "$T" >"$T/sent.txt" <<'PY'
import email, glob, gzip, json, os, sys
t = sys.argv[1]
sent = []  # (destination, report)
for eml in glob.glob(t + "/smtp/*.eml"):
    to = [l[3:] for l in open(eml[:-4] + ".env").read().splitlines() if l.startswith("to=")][0]
    for part in email.message_from_binary_file(open(eml, "rb")).walk():
        if part.get_content_type() == "application/tlsrpt+gzip":
            sent.append(("mailto:" + to, gzip.decompress(part.get_payload(decode=True))))
for body in glob.glob(t + "/https/*.body"):
    path, ctype = open(body[:-5] + ".type").read().split()
    sent.append(("https " + path + " " + ctype, gzip.decompress(open(body, "rb").read())))
for dest, report in sorted(sent):
    doc = json.loads(report)
    stored = os.path.join(t, "stored-%s.json" % doc["report-id"])
    same = os.path.exists(stored) and open(stored, "rb").read() == report
    print(dest, doc["policies"][0]["policy"]["policy-domain"],
          doc["policies"][0]["summary"]["total-successful-session-count"],
          "as-stored" if same else "NOT-AS-STORED")
PY
assert_eq "every destination got its report once, as stored, with the 3 sessions h1 built it from" \
"https /ok application/tlsrpt+gzip a0.example 3 as-stored
https /ok application/tlsrpt+gzip e0.example 3 as-stored
mailto:tls@d0.example d0.example 3 as-stored
mailto:tls@d1.example d1.example 3 as-stored
mailto:tls@d2.example d2.example 3 as-stored
mailto:tls@d3.example d3.example 3 as-stored
mailto:tls@d4.example d4.example 3 as-stored" "$(cat "$T/sent.txt")"
assert_eq "the ledger: every destination delivered" "delivered 7" \
    "$(psql_q "SELECT state || ' ' || count(*) FROM tlsrpt_deliveries GROUP BY state")"
assert_eq "the day is done" "true h2" \
    "$(psql_q "SELECT done || ' ' || builder FROM tlsrpt_days WHERE day = $(( $(date -u -d "$DAY" +%s) / 86400 ))")"
assert_match "fleet status names the day's builder and its deliveries" \
    "^  $DAY  h1, h2, h3  h2 +done: 7 reports, 7 of 7 destinations delivered, 0 failed\$" \
    "$(on_host h3 fleet status)"
OUT=$(on_host h3 run --due 2>&1)
assert_eq "a third host finds nothing left to send" "0" "$(ls "$T/h3/state/outbox" 2>/dev/null | grep -c .)"
assert_eq "still five messages and two POSTs" "5 2" \
    "$(ls "$T/smtp" | grep -c '\.eml$') $(ls "$T/https" | grep -c '\.body$')"

# A host that pushes the day after its reports were built is told its
# sessions are in no report.
fleet_host h4 "report_delay = 0"
head -1 "$T/h1.jsonl" >"$T/h4.jsonl"
on_host h4 ingest --format libtlsrpt --day "$DAY" "$T/h4.jsonl" >/dev/null 2>&1
assert_match "a push after the build is warned about" \
    "$DAY pushed by h4 after h2 built the fleet's reports of that day: its 1 sessions are in no report" \
    "$(on_host h4 fleet push 2>&1)"

# Bounces: every host tags with the fleet's VERP key, so a bounce reaching
# any host is matched, here at h3 for a report h2 sent (h3's outbox is empty).
assert_eq "one VERP key for the whole fleet" "1" "$(cat "$T"/h[123]/state/verp.key | sort -u | wc -l)"
env=$(grep -lxF "to=tls@d3.example" "$T/smtp/"*.env)
D3_VERP=$(sed -n 's/^MAIL FROM:<\([^>]*\)>.*/\1/p' "${env%.env}.cmd")
sed 's/tlsrpt@mail\.example/tls@d3.example/g' "$top_srcdir/tests/data/dsn/postfix-failed.eml" >"$T/d3-bounce.eml"
assert_match "a bounce at a host that did not send the report is matched in the fleet's outbox" \
    "^matched=yes report_id=[^ ]+ destination=mailto:tls@d3\.example action=failed status=5\.1\.1 .* state=failed changed=yes" \
    "$(on_host h3 dsn --recipient "$D3_VERP" <"$T/d3-bounce.eml" 2>/dev/null | xargs)"
assert_eq "the ledger has it" "failed failed" \
    "$(psql_q "SELECT state || ' ' || dsn_action FROM tlsrpt_deliveries WHERE destination = 'mailto:tls@d3.example'")"
assert_match "queue --fleet shows it bounced" "mailto:tls@d3\.example +bounced +h2 +1 .*550 5\.1\.1" \
    "$(on_host h1 queue --fleet)"
FORGED=$(echo "$D3_VERP" | sed 's/-[0-9a-f]*@/-0011223344556677@/')
assert_match "a forged tag for a report of the fleet is not" \
    "^matched=no reason=the VERP tag names report [^ ]+ of the fleet but none of its destinations" \
    "$(on_host h3 dsn --recipient "$FORGED" <"$T/d3-bounce.eml" 2>/dev/null | xargs)"

# A suppression made by hand on one host holds for the fleet: the others'
# report workers take it over, and its lifting too.
assert_eq "suppress add on h1: for every host" "mailto:tls@d4.example: suppressed
mailto:tls@d4.example: suppressed for every host of the fleet" \
    "$(on_host h1 suppress add mailto:tls@d4.example --until 2099-01-01 2>&1)"
on_host h3 run --due >/dev/null 2>&1
assert_match "h3's worker took it over" "^mailto:tls@d4\.example +2099-01-01 00:00 +0 +by hand\$" \
    "$(on_host h3 suppress list)"
on_host h3 suppress del mailto:tls@d4.example >/dev/null 2>&1
on_host h1 run --due >/dev/null 2>&1
assert_eq "lifted on h3, lifted on h1 by its worker" "no destination is suppressed" \
    "$(on_host h1 suppress list)"

# A destination that failed for good, retried by hand: the ledger gives it a new window too.
DAY2=$(date -u -d '2 days ago' +%F)
echo '{"dpv": "1","d": "d5.example","pr": "v=TLSRPTv1;rua=mailto:reject@d5.example","policies":[{"policy-type":9,"t":0,"f":0}]}' >"$T/d5.jsonl"
on_host h2 ingest --format libtlsrpt --day "$DAY2" "$T/d5.jsonl" >/dev/null 2>&1
on_host h2 run --due >"$T/h2-day2.out" 2>&1
ledger_d5() { psql_q "SELECT state || ' ' || attempts FROM tlsrpt_deliveries WHERE destination = 'mailto:reject@d5.example'"; }
assert_eq "refused with 550: failed in the ledger after one attempt" "failed 1" "$(ledger_d5)"
D5_ID=$(on_host h2 queue --json | python3 -c 'import json, sys
print([r["report_id"] for r in json.load(sys.stdin) if r["policy_domain"] == "d5.example"][0])')
on_host h2 queue retry "$D5_ID" >"$T/retry.out" 2>&1
assert_eq "queue retry: the ledger granted a second attempt (refused again)" "failed 2" "$(ledger_d5)"

finish
