#!/bin/sh
# cli.sh - the tlsrpt command as an administrator uses it: `conf` like
# postconf (-n, -d, -x, names, errors with file:line), `counters` as a table
# and as JSON on a table filled through the real counters API.
. "$(dirname "$0")/lib.sh"
FILL="$top_builddir/tests/fill_counters"

write_config "counter_retention = 30d" "# a comment" "dns_resolvers = 127.0.0.1:5353," \
    "  127.0.0.2"
out=$("$TLSRPT" conf -n)
assert_eq "conf -n prints only what the file sets, sorted" \
"contact_info = tlsrpt-noreply@sender.example
counter_retention = 30d
dns_resolvers = 127.0.0.1:5353, 127.0.0.2
organization_name = Example Sender Inc.
runtime_directory = $T/run
state_directory = $T/state" "$out"

assert_eq "conf NAME prints the raw value" \
    'collector_socket = $runtime_directory/collector.sock' "$("$TLSRPT" conf collector_socket)"
assert_eq "conf -x NAME expands it" \
    "collector_socket = $T/run/collector.sock" "$("$TLSRPT" conf -x collector_socket)"
assert_eq "conf -d NAME prints the default" \
    "counter_retention = 14d" "$("$TLSRPT" conf -d counter_retention)"
assert_eq "conf prints the effective value" \
    "counter_retention = 30d" "$("$TLSRPT" conf counter_retention)"
# report_from's default is computed from contact_info; -x shows the value in use.
assert_eq "conf -x report_from shows the effective default" \
    "report_from = noreply-tlsrpt@sender.example" "$("$TLSRPT" conf -x report_from)"
assert_eq "conf report_from (raw) shows the table's default" "report_from =" \
    "$("$TLSRPT" conf report_from)"
assert_eq "the derived default follows contact_info, lower-cased" \
    "report_from = noreply-tlsrpt@mail.example" \
    "$("$TLSRPT" -o contact_info=TLS@Mail.Example conf -x report_from)"
assert_eq "a report_from that is set wins" "report_from = tls@x.example" \
    "$("$TLSRPT" -o report_from=tls@x.example conf -x report_from)"
all=$("$TLSRPT" conf | wc -l)
defaults=$("$TLSRPT" conf -d | wc -l)
assert_eq "conf and conf -d list every declared parameter" "$defaults" "$all"

out=$("$TLSRPT" conf no_such_parameter 2>&1); status=$?
assert_eq "conf of an unknown name fails" 1 "$status"
assert_match "and says which name" "no_such_parameter: unknown parameter" "$out"

# -c wins over TLSRPTD_CONFIG.
printf 'counter_retention = 2d\n' >"$T/other.cf"
assert_eq "-c overrides TLSRPTD_CONFIG" "counter_retention = 2d" \
    "$("$TLSRPT" -c "$T/other.cf" conf counter_retention)"
assert_eq "-o overrides the file" "counter_retention = 3d" \
    "$("$TLSRPT" -o counter_retention=3d conf counter_retention)"

# Errors name the file and the line.
printf 'state_directory = /tmp/x\n\ncounter_retention = soon\n' >"$T/bad.cf"
out=$("$TLSRPT" -c "$T/bad.cf" conf 2>&1); status=$?
assert_eq "a bad value makes conf fail" 1 "$status"
assert_match "the error names file and line" "^tlsrpt: fatal: $T/bad.cf:3: " "$out"
printf 'state_directory /tmp/x\n' >"$T/bad2.cf"
out=$("$TLSRPT" -c "$T/bad2.cf" conf 2>&1)
assert_match "a line without = is refused with its line number" "$T/bad2.cf:1: " "$out"
printf 'colector_socket = /tmp/x\n' >"$T/typo.cf"
out=$("$TLSRPT" -c "$T/typo.cf" conf -n 2>&1); status=$?
assert_eq "an unknown name is only a warning" 0 "$status"
assert_match "that names file, line and parameter" \
    "warning: $T/typo.cf:1: unknown parameter name \"colector_socket\"" "$out"
out=$("$TLSRPT" -c "$T/missing.cf" conf 2>&1); status=$?
assert_eq "an explicit config file must exist" 1 "$status"
assert_match "and the error says which" "$T/missing.cf" "$out"

# --help and --version: usage on stdout, exit 0; a usage error stays on stderr with 2.
out=$("$TLSRPT" --help 2>/dev/null); status=$?
assert_eq "tlsrpt --help exits 0" 0 "$status"
commands=$(printf '%s\n' "$out" | sed -n '/^commands:$/,/^[^ ]/s/^  \([a-z]*\) .*/\1/p')
assert_eq "tlsrpt --help lists every command of the dispatch table" \
    "conf counters dsn fleet help ingest lookup queue report run status sts suppress top" "$(echo $commands)"
for command in $commands; do
    out=$("$TLSRPT" "$command" --help 2>&1); status=$?
    assert_eq "tlsrpt $command --help: exit 0, first line names it" \
        "0 usage: tlsrpt $command" "$status $(printf '%s\n' "$out" | head -1 | cut -d' ' -f1-3)"
    assert_eq "tlsrpt help $command says the same" "$out" "$("$TLSRPT" help "$command" 2>&1)"
done
assert_eq "tlsrpt -c FILE report -h works before any config is read" \
    "usage: tlsrpt report [--day YYYY-MM-DD|today|yesterday] [--domain DOMAIN] [--pretty] [--out DIR]" \
    "$("$TLSRPT" -c "$T/missing.cf" report -h | head -1)"
out=$("$TLSRPT" queue --bogus 2>&1 >/dev/null); status=$?
assert_eq "a usage error: the same usage lines on stderr, exit 2" \
    "2 queue: unrecognized option '--bogus'
usage: tlsrpt queue [--json] [--fleet] | flush | retry ID | delete ID" "$status $out"
out=$("$TLSRPT" help no-such 2>&1 >/dev/null); status=$?
assert_eq "help of an unknown command" \
    '2 tlsrpt: error: unknown command "no-such"; try tlsrpt --help' "$status $out"
assert_eq "tlsrpt --version" "tlsrpt $(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")" \
    "$("$TLSRPT" --version)"
for option in -h --help; do
    out=$("$TLSRPTD" $option 2>/dev/null); status=$?
    assert_eq "tlsrptd $option: usage on stdout, exit 0" \
        "0 usage: tlsrptd [-f] [-v] [-c config_file] [-o name=value]..." "$status $(printf '%s\n' "$out" | head -1)"
done
assert_eq "tlsrptd --version" "tlsrptd $(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")" \
    "$("$TLSRPTD" --version)"
out=$("$TLSRPTD" --bogus 2>&1 >/dev/null); status=$?
assert_match "tlsrptd with a bad option: usage on stderr" "^usage: tlsrptd " "$out"
assert_eq "and exit 2" 2 "$status"

# counters: nothing yet, then a table filled through the counters API.
mkdir -p "$T/state/counters"
assert_eq "counters of an empty day" "2026-03-01: no sessions counted" \
    "$("$TLSRPT" counters --day 2026-03-01)"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    example.com "v=TLSRPTv1;rua=mailto:r@example.com" sts success - - - 5 \
    example.com "v=TLSRPTv1;rua=mailto:r@example.com" sts certificate-expired mx1.example.com 192.0.2.1 - 2 \
    example.com "v=TLSRPTv1;rua=mailto:r@example.com" sts certificate-host-mismatch mx2.example.com 192.0.2.2 - 3 \
    other.example - no-policy-found success - - - 1 \
    | "$FILL" "$T/state/counters" 2026-03-01 || fail "fill_counters"
out=$("$TLSRPT" counters --day 2026-03-01)
assert_eq "counters as a table" \
"2026-03-01: 6 successful and 5 failed sessions, table 4 of 4096 entries used

DOMAIN         POLICY                       SUCCESS  FAILURE  RECORD
example.com    sts                          5        5        v=TLSRPTv1;rua=mailto:r@example.com
                 certificate-host-mismatch           3        mx=mx2.example.com ip=192.0.2.2
                 certificate-expired                 2        mx=mx1.example.com ip=192.0.2.1
other.example  no-policy-found              1        0        (not known)" "$out"
out=$("$TLSRPT" counters --day 2026-03-01 --domain OTHER.example. --json)
assert_eq "counters --json for one domain" \
'{
  "day": "2026-03-01",
  "policies": [
    {
      "domain": "other.example",
      "record": "",
      "policy": {
        "policy-type": "no-policy-found",
        "policy-string": [
        ],
        "policy-domain": "other.example",
        "mx-host": [
        ]
      },
      "total-successful-session-count": 1,
      "total-failure-session-count": 0,
      "failure-details": [
      ]
    }
  ],
  "overflow": [
  ],
  "lost_events": 0,
  "late_events": 0,
  "entries_used": 4,
  "max_entries": 4096,
  "reported": false
}' "$out"
out=$("$TLSRPT" counters --day 2026-03-01 --json | grep -c '"failed-session-count"')
assert_eq "every failure detail is in the JSON" 2 "$out"
out=$("$TLSRPT" counters --day 2026-02-30 2>&1); status=$?
assert_eq "an impossible day is refused" 1 "$status"
assert_match "with the reason" "2026-02-30: no such calendar date" "$out"
echo garbage >"$T/state/counters/2026-03-02.ctr"
out=$("$TLSRPT" counters --day 2026-03-02 2>&1); status=$?
assert_eq "a damaged table is an error, not a crash" 1 "$status"
assert_match "naming the file" "2026-03-02.ctr" "$out"

# tlsrpt report says which day it used: by default yesterday, and a hint when today has data.
today=$(date -u +%F)
yesterday=$(date -u -d yesterday +%F)
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    example.com "v=TLSRPTv1;rua=mailto:r@example.com" sts success - - - 4 \
    | "$FILL" "$T/state/counters" "$today" || fail "fill_counters"
out=$("$TLSRPT" report 2>&1 >/dev/null); status=$?
assert_eq "report without --day names yesterday and points to today's data" \
"0 tlsrpt: no report for $yesterday (yesterday, the default): no sessions counted
tlsrpt: today has 4 sessions so far: tlsrpt report --day today" "$status $out"
assert_eq "report --day today: one report, and the day on stderr" \
    "1 tlsrpt: 1 report for $today (today, so far)" \
    "$("$TLSRPT" report --day today 2>"$T/report.err" | wc -l) $(cat "$T/report.err")"
assert_match "whose date range is today" "\"start-datetime\":\"${today}T00:00:00Z\"" \
    "$("$TLSRPT" report --day today 2>/dev/null)"
assert_eq "report --day YYYY-MM-DD names the day alone" \
    "tlsrpt: 1 report for $today (today, so far)" "$("$TLSRPT" report --day "$today" 2>&1 >/dev/null)"
assert_eq "report --day yesterday" \
    "tlsrpt: no report for $yesterday: no sessions counted
tlsrpt: today has 4 sessions so far: tlsrpt report --day today" \
    "$("$TLSRPT" report --day yesterday 2>&1 >/dev/null)"

# ingest refuses a file the daemon follows (log_sources): its sessions would count twice.
cp "$top_srcdir/tests/data/postfix-3.7-lab.log" "$T/followed.log"
ln "$T/followed.log" "$T/same-inode.log"
mkdir -p "$T/ingest-state"
for file in "$T/followed.log" "$T/same-inode.log"; do
    out=$("$TLSRPT" -o "log_sources=postfix:file:$T/followed.log" -o "state_directory=$T/ingest-state" \
        ingest --format postfix --year 2026 "$file" 2>&1); status=$?
    assert_eq "ingest of a followed file ($(basename "$file")) is refused, naming the source" \
        "1 tlsrpt: error: $file is followed by tlsrptd (log_sources = postfix:file:$T/followed.log): the sessions it has counted since it began following the file would be counted twice; count the rotated files (mail.log.1, ...) instead, or use --force" \
        "$status $out"
done
assert_eq "and nothing was counted" "" "$(ls "$T/ingest-state")"
out=$("$TLSRPT" -o "log_sources=postfix:file:$T/followed.log" -o "state_directory=$T/ingest-state" \
    -o "tlsrptd_user=$(test_user)" ingest --format postfix --year 2026 --force "$T/followed.log" 2>&1)
status=$?
assert_eq "--force counts it, with a warning" \
"0 tlsrpt: warning: $T/followed.log is followed by tlsrptd (log_sources = postfix:file:$T/followed.log): the sessions it has counted are counted again (--force)
264 lines, 157 from the MTA's delivery agents: 40 TLS sessions counted (2026-11-22)" \
    "$status $out"

# tlsrptd_user as root sees: a missing user and a root account are different mistakes.
if [ "$(id -u)" -eq 0 ]; then
    printf '{"dpv":"1","d":"u.example","policies":[{"policy-type":9,"t":0,"f":0}]}\n' >"$T/one.jsonl"
    out=$("$TLSRPT" -o tlsrptd_user=root ingest --format libtlsrpt --day 2026-03-03 "$T/one.jsonl" 2>&1 >/dev/null)
    assert_eq "tlsrptd_user = root is called a root account, not a missing user" \
        "tlsrpt: warning: tlsrptd_user root is a root account (uid 0), which tlsrptd refuses: files are created as root; set tlsrptd_user to the daemon's own user" \
        "$out"
    out=$("$TLSRPT" -o tlsrptd_user=no-such-user-x ingest --format libtlsrpt --day 2026-03-03 "$T/one.jsonl" 2>&1 >/dev/null)
    assert_eq "a missing user is called missing" \
        "tlsrpt: warning: tlsrptd_user no-such-user-x does not exist: files are created as root" "$out"
    out=$("$TLSRPTD" -f -c "$CONF" -o tlsrptd_user=root 2>&1); status=$?
    assert_eq "tlsrptd refuses a root tlsrptd_user and says so" \
        "1 tlsrptd: fatal: $CONF: tlsrptd_user = root: must not be a root account" "$status $out"
else
    echo "note: not root, tlsrptd_user checks not exercised"
fi
# Input is read in blocks of 256 KB: lines across blocks, a CR LF, a line over
# the limit (300,000 bytes) and a last line without its newline come out whole.
{
    printf '{"not":"json"}\r\n'
    head -c 300000 /dev/zero | tr '\0' 'x'
    printf '\n'
    head -c 262100 /dev/zero | tr '\0' ' '
    printf '{"d":1}\n{"last":"line"}'
} >"$T/blocks.jsonl"
assert_eq "ingest reads lines across blocks exactly" \
"$T/blocks.jsonl:1: rejected: missing-field (d)
$T/blocks.jsonl:2: rejected: too-large (line longer than collector_max_datagram_size)
$T/blocks.jsonl:3: rejected: too-large (line longer than collector_max_datagram_size)
$T/blocks.jsonl:4: rejected: missing-field (d)
$T/blocks.jsonl: 4 datagrams, 0 accepted, 4 rejected" \
    "$("$TLSRPT" ingest --format libtlsrpt --day 2026-03-03 "$T/blocks.jsonl" 2>/dev/null | head -5)"
# A long input on a terminal says how far it is (once done: how long it took);
# into a pipe it says nothing of that.
if command -v script >/dev/null 2>&1; then
    for _ in $(seq 1 660); do cat "$top_srcdir/tests/data/postfix-3.7-lab.log"; done >"$T/big.log"
    out=$(script -qc "$TLSRPT ingest --format postfix --year 2026 $T/big.log" /dev/null | tr '\r' '\n')
    assert_match "progress on a terminal ends with the time it took" \
        "^$T/big.log: 100%, 22 of 22 MB, 174240 lines \([0-9]+/s\), 25741 events, done in [0-9.]+ s" \
        "$out"
    assert_eq "no progress into a pipe" "" \
        "$("$TLSRPT" ingest --format postfix --year 2026 "$T/big.log" 2>&1 >/dev/null | grep '%,')"
fi
finish
