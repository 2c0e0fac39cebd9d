#!/bin/sh
# sts.sh - `tlsrpt sts` against real peers on 127.0.0.1 (ldns-testns for
# DNS, https_sink.py serving a policy with a test CA): the explanation and
# answer for an enforce domain, a domain without a record, the cache
# listing after a restart of the command, flush, and usage errors.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"

start_sts_web enforce.example
printf '200 text/plain\nversion: STSv1\nmode: enforce\nmx: mx.enforce.example\nmax_age: 86400\n' \
    >"$T/web/mta-sts.enforce.example"
{
    dns_entry NOERROR enforce.example. MX ANSWER 'enforce.example. 0 IN MX 10 mx.enforce.example.'
    dns_entry NOERROR _mta-sts.enforce.example. TXT ANSWER \
        '_mta-sts.enforce.example. 0 IN TXT "v=STSv1; id=e1;"'
    dns_entry NOERROR mta-sts.enforce.example. A ANSWER 'mta-sts.enforce.example. 0 IN A 127.0.0.1'
    dns_entry NOERROR mta-sts.enforce.example. AAAA
    dns_entry NOERROR none.example. MX ANSWER 'none.example. 0 IN MX 10 mx.none.example.'
    dns_entry NXDOMAIN _mta-sts.none.example. TXT
} >"$T/dns.data"
start_dns "$T/dns.data"
write_config "tlsrptd_user = $(test_user)
dns_resolvers = 127.0.0.1:$DNS_PORT
dns_timeout = 2s
sts_ca_file = $T/ca.pem
sts_https_port = $WEB_PORT"
sts() { "$TLSRPT" sts "$@" 2>&1; }

out=$(sts Enforce.Example.); status=$?
assert_eq "enforce: exit 0" 0 "$status"
assert_eq "enforce: how the answer came about, and the answer" \
'mx: 1 record
mx record: 10 mx.enforce.example
txt _mta-sts.enforce.example: 1 record
txt record: v=STSv1; id=e1;
record: id e1
fetched: policy id e1
policy text: version: STSv1\nmode: enforce\nmx: mx.enforce.example\nmax_age: 86400\n
answer: OK secure match=mx.enforce.example servername=hostname' "$out"

out=$(sts enforce.example); status=$?
assert_eq "enforce again: exit 0" 0 "$status"
assert_match "enforce again: served from the cache on disk" \
    '^policy: cached, id e1, fetched [0-9]+s ago, max_age 86400 \(id unchanged\)$' "$out"
assert_eq "one fetch for both commands" 1 "$(grep -c '^mta-sts.enforce.example ' "$T/web/requests.log")"

out=$(sts none.example); status=$?
assert_eq "no record: exit 1" 1 "$status"
assert_eq "no record: NOTFOUND" 'answer: NOTFOUND ' "$(printf '%s\n' "$out" | tail -1)"

out=$(sts cache --json); status=$?
assert_eq "cache --json: exit 0" 0 "$status"
assert_eq "cache --json: the entry" \
'enforce.example e1 86400 "" null' \
    "$(printf '%s' "$out" | python3 -c 'import json,sys
for e in json.load(sys.stdin):
    print(e["domain"], e["id"], e["max_age"], json.dumps(e["last_error"]), json.dumps(e["next_retry"]))')"
out=$(sts cache); status=$?
assert_match "cache: the table" '^enforce\.example +e1 +[0-9]+s +[0-9]+s +- +-$' "$out"

out=$(sts flush enforce.example); status=$?
assert_eq "flush: exit 0" "0 enforce.example: removed from the policy cache" "$status $out"
out=$(sts flush enforce.example); status=$?
assert_eq "flush again: exit 1" "1 enforce.example: not in the policy cache" "$status $out"
assert_eq "flush: the cache is empty" '[]' "$(sts cache --json | tr -d '\n')"

out=$(sts); status=$?
assert_eq "no arguments: usage, exit 2" \
    "2 usage: tlsrpt sts DOMAIN | sts cache [--json] | sts flush DOMAIN" "$status $out"
out=$(sts cache --bogus); status=$?
assert_eq "unknown option: exit 2" 2 "$status"
finish
