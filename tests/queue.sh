#!/bin/sh
# queue.sh - the outbox has one owner: two `tlsrpt queue flush` and a
# `tlsrpt run` beside the daemon's worker send exactly one message per
# report and destination; delivery processes killed with -9 at random
# moments (the parent alone, or with its children) re-send at most the
# attempts in flight, and leave no destination "attempt in progress";
# children whose parent is killed stop after their attempt, and a flush
# started at once repeats none of it.
# Messages are counted per Report-ID at the SMTP and HTTPS sinks, which
# hold each reply a while after saving the message (a kill in that window
# is a real duplicate).
. "$(dirname "$0")/lib.sh"
command -v pgrep >/dev/null || skip "pgrep not found (apt-get install procps)"
USER_NAME=$(test_user)
DAY1=$(date -u -d '1 day ago' +%F)
DAY2=$(date -u -d '2 days ago' +%F)
REPORTS1=30
REPORTS2=80
KILLS=100
STARTED=$(date +%s)
elapsed() { echo "$1 after $(($(date +%s) - STARTED)) s"; }

start_sinks --delay-ms 150
dns_localhost >"$T/dns.data"
start_dns "$T/dns.data"
make_dkim_key
write_config "tlsrptd_user = $USER_NAME" "report_spread = 0" "report_delay = 0" \
    "relayhost = [127.0.0.1]:$SMTP_PORT" "dkim_selector = tlsrpt1" "dkim_key_file = $T/dkim.key" \
    "https_ca_file = $T/ca.crt" "https_allow_private_destinations = yes" \
    "dns_resolvers = 127.0.0.1:$DNS_PORT" "dns_timeout = 2s" "delivery_timeout = 10s" \
    "destination_rate_limit = 100000" "delivery_concurrency = 2"

# ingest_day DAY PREFIX COUNT: one report per domain, to a mailbox and the HTTPS sink.
ingest_day() {
    i=1
    while [ "$i" -le "$3" ]; do
        printf '{"dpv": "1","d": "%s%d.example","pr": "v=TLSRPTv1;rua=mailto:tlsrpt@%s%d.example,https://localhost:%s/ok","policies":[{"policy-type":9,"failure-details":[{"c":205,"s": "192.0.2.10","n": "mx.%s%d.example","r": "198.51.100.7","f": "self-signed_certificate"}],"t":1,"f":1}]}\n' \
            "$2" "$i" "$2" "$i" "$HTTPS_PORT" "$2" "$i"
        i=$((i + 1))
    done >"$T/$1.jsonl"
    "$TLSRPT" ingest --format libtlsrpt --day "$1" "$T/$1.jsonl" >/dev/null 2>&1
}

# undelivered DAY: destinations of the day's reports not delivered yet (all of
# them when the day is not in the outbox), then how many say "attempt in progress".
undelivered() {
    "$TLSRPT" queue --json 2>/dev/null | python3 -c 'import json, sys
entries = [e for e in json.load(sys.stdin) if e["day"] == sys.argv[1]]
dests = [d for e in entries for d in e["destinations"]]
print(sum(d["state"] != "delivered" for d in dests) if entries else -1,
      sum("attempt in progress" in (d["last_error"] or "") for d in dests))' "$1"
}

# wait_delivered DAY SECONDS: polls until every destination of the day is delivered.
wait_delivered() {
    deadline=$(($(date +%s) + $2))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(undelivered "$1" | cut -d' ' -f1)" = 0 ] && return 0
        sleep 0.2
    done
    return 1
}

# count_messages DAY: what the sinks received for the day's reports, by
# (destination, Report-ID): how many, missing, unexpected and extra copies.
count_messages() {
    "$TLSRPT" queue --json >"$T/queue.json"
    python3 - "$T/queue.json" "$1" "$T/smtp" "$T/https" "$HTTPS_PORT" <<'PY'
import collections, email, email.policy, gzip, json, os, re, sys
queue, day, smtp, https, port = sys.argv[1:]
entries = [e for e in json.load(open(queue)) if e["day"] == day]
by_unique = {e["file"].rsplit("!", 1)[1].split(".")[0]: e["report_id"] for e in entries}
expected = {(d["uri"], e["report_id"]) for e in entries for d in e["destinations"]}
seen = collections.Counter()
for name in os.listdir(smtp):
    if name.endswith(".eml"):
        with open(os.path.join(smtp, name), "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        unique = re.search(r"Report-ID: <([^@>]+)@", str(msg["Subject"])).group(1)
        with open(os.path.join(smtp, name[:-4] + ".env")) as f:
            to = [line[3:].strip() for line in f if line.startswith("to=")][0]
        if unique in by_unique:
            seen[("mailto:" + to, by_unique[unique])] += 1
for name in os.listdir(https):
    if name.endswith(".body"):
        with open(os.path.join(https, name), "rb") as f:
            report_id = json.loads(gzip.decompress(f.read()))["report-id"]
        with open(os.path.join(https, name[:-5] + ".type")) as f:
            path = f.read().split()[0]
        if report_id.startswith(day + "_"):
            seen[("https://localhost:%s%s" % (port, path), report_id)] += 1
per_destination = collections.Counter()
for (uri, _), n in seen.items():
    per_destination[uri.split("@")[-1]] += n - 1
print("reports=%d messages=%d missing=%d unexpected=%d duplicates=%d max_per_destination=%d" % (
    len(entries), sum(seen.values()), len(expected - set(seen)), len(set(seen) - expected),
    sum(n - 1 for n in seen.values()), max(per_destination.values(), default=0)))
PY
}

# 1. Concurrent delivery beside the daemon: its worker (started a second
# after the daemon, and again for each flush), `tlsrpt run` and two flushes.
elapsed "peers ready"
ingest_day "$DAY1" c "$REPORTS1"
start_daemon
"$TLSRPT" run >"$T/run.out" 2>&1 &
RUN=$!
"$TLSRPT" queue flush >"$T/flush1.out" 2>&1 &
FLUSH1=$!
"$TLSRPT" queue flush >"$T/flush2.out" 2>&1 &
FLUSH2=$!
wait $RUN $FLUSH1 $FLUSH2
elapsed "run and flushes done"
assert_match "a flush beside the daemon asks it to deliver" \
    "^flush requested: tlsrptd's report worker delivers (now|again when the running one ends)\$" \
    "$(cat "$T/flush1.out")"
if ! wait_delivered "$DAY1" 120; then
    fail "the reports of $DAY1 were not all delivered within 120 s: $(undelivered "$DAY1")"
fi
# The last worker ends before the count (nothing more may arrive).
deadline=$(($(date +%s) + 120))
until "$TLSRPT" status 2>/dev/null | grep -Eq '^reports\.worker_running +no$'; do
    [ "$(date +%s)" -ge "$deadline" ] && { fail "the daemon's worker still runs after 120 s"; break; }
    sleep 0.2
done
assert_eq "two flushes and a run beside the daemon: one message per report and destination" \
    "reports=$REPORTS1 messages=$((2 * REPORTS1)) missing=0 unexpected=0 duplicates=0 max_per_destination=0" \
    "$(count_messages "$DAY1")"
assert_eq "no destination left pending or in progress" "0 0" "$(undelivered "$DAY1")"
stop_daemon
elapsed "concurrent delivery checked"

# 2. kill -9 during delivery, without the daemon: each round a flush starts,
# and at a random moment its parent (the children then stop after their
# attempt in flight) or all its processes are killed.
ingest_day "$DAY2" k "$REPORTS2"
"$TLSRPT" -o report_spread=1d run --day "$DAY2" >"$T/run2.out" 2>&1
elapsed "$DAY2 in the outbox"
# A kill hits an attempt in flight when its victim holds a report's lock
# (an OFD lock on the day's reports file, which /proc/locks shows without a
# pid: the holder's fdinfo shows it): the victims are stopped, their locks
# read, then they are killed.
holds_report_lock() { # PID
    cat /proc/"$1"/fdinfo/* 2>/dev/null | grep -q '^lock:.*OFDLCK'
}
kills=0 hits=0 rounds=0
deadline=$(($(date +%s) + 35))
while [ "$kills" -lt "$KILLS" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    rounds=$((rounds + 1))
    if [ $((rounds % 10)) -eq 0 ] && [ "$(undelivered "$DAY2" | cut -d' ' -f1)" = 0 ]; then
        break
    fi
    "$TLSRPT" queue flush >/dev/null 2>&1 &
    flush=$!
    # The random moment falls in the delivery: after the children are forked
    # (unless the flush waits for the outbox that long).
    round_end=$(($(date +%s) + 3))
    until pgrep -P "$flush" >/dev/null || ! kill -0 "$flush" 2>/dev/null ||
        [ "$(date +%s)" -ge "$round_end" ]; do sleep 0.01; done
    random=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    sleep "0.$(printf '%03d' $((random % 300)))" # the random moment, not a wait for a result
    victims=$flush
    [ $((random % 2)) -eq 0 ] && victims="$(pgrep -P "$flush") $flush"
    kill -STOP $victims 2>/dev/null
    holders=
    for pid in $victims; do
        holds_report_lock "$pid" && holders="$holders $pid"
    done
    for pid in $victims; do
        kill -9 "$pid" 2>/dev/null || continue
        kills=$((kills + 1))
        case " $holders " in *" $pid "*) hits=$((hits + 1)) ;; esac
    done
    wait "$flush" 2>/dev/null
done
elapsed "kill -9: $kills processes killed in $rounds rounds, $hits of them in an attempt"
# What the kills left: a flush that runs to its end (as often as needed).
deadline=$(($(date +%s) + 120))
until [ "$(undelivered "$DAY2" | cut -d' ' -f1)" = 0 ] || [ "$(date +%s)" -ge "$deadline" ]; do
    "$TLSRPT" -o delivery_concurrency=8 queue flush >"$T/last-flush.out" 2>&1
done
elapsed "all delivered"
counts=$(count_messages "$DAY2")
echo "$counts"
duplicates=$(echo "$counts" | sed 's/.* duplicates=\([0-9]*\).*/\1/')
assert_eq "after the kills every report reached every destination once or more" \
    "reports=$REPORTS2 missing=0 unexpected=0" \
    "$(echo "$counts" | sed 's/ messages=[0-9]*//; s/ duplicates=.*//')"
max_per_destination=${counts##*=}
assert_eq "duplicates ($duplicates) are at most the kills ($kills)" yes \
    "$([ "$duplicates" -le "$kills" ] && echo yes)"
assert_eq "at most one per kill that hit an attempt ($hits), for every destination" yes \
    "$([ "$duplicates" -le "$hits" ] && [ "$max_per_destination" -le "$hits" ] && echo yes)"
assert_eq "no destination left pending or \"attempt in progress\"" "0 0" "$(undelivered "$DAY2")"
assert_eq "the kills were real" yes "$([ "$kills" -ge 20 ] && echo yes)"

# 3. A parent killed alone: its children stop after their attempt in flight,
# say so, and a flush started at once repeats none of their attempts.
DAY3=$(date -u -d '3 days ago' +%F)
ingest_day "$DAY3" p 12
"$TLSRPT" -o report_spread=1d run --day "$DAY3" >/dev/null 2>&1
"$TLSRPT" queue flush >/dev/null 2>"$T/orphans.err" &
flush=$!
deadline=$(($(date +%s) + 60))
until [ "$(pgrep -P "$flush" | wc -l)" -ge 2 ] || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.01; done
children=$(pgrep -P "$flush" | tr '\n' ' ')
kill -9 "$flush"
wait "$flush" 2>/dev/null
"$TLSRPT" queue flush >/dev/null 2>&1 &
second=$!
for pid in $children; do
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.05; done
done
wait "$second"
assert_eq "both children saw their parent die and stopped" \
"tlsrpt: warning: delivery share 0: the delivering parent died: stopped after the attempt in flight, the rest is left to the next pass
tlsrpt: warning: delivery share 1: the delivering parent died: stopped after the attempt in flight, the rest is left to the next pass" \
    "$(grep 'parent died' "$T/orphans.err" | sort)"
wait_delivered "$DAY3" 120 || "$TLSRPT" queue flush >/dev/null 2>&1
assert_eq "no attempt of theirs was repeated: one message per report and destination" \
    "reports=12 messages=24 missing=0 unexpected=0 duplicates=0 max_per_destination=0" \
    "$(count_messages "$DAY3")"
finish
