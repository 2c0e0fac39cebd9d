#!/bin/sh
# lookup.sh - `tlsrpt lookup` against a real DNS server (ldns-testns on
# 127.0.0.1): the exact output and exit status for a domain with a record,
# one without (NXDOMAIN), an invalid record and a server failure.
. "$(dirname "$0")/lib.sh"

cat >"$T/dns.data" <<'EOF'
$ORIGIN example.
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
_smtp._tls.valid.example. IN TXT
SECTION ANSWER
_smtp._tls.valid.example. 600 IN TXT "v=spf1 -all"
_smtp._tls.valid.example. 600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@valid.example," "ftp://r.valid.example/,https://r.valid.example/v1"
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
_smtp._tls.two.example. IN TXT
SECTION ANSWER
_smtp._tls.two.example. 600 IN TXT "v=TLSRPTv1;rua=mailto:a@two.example"
_smtp._tls.two.example. 600 IN TXT "v=TLSRPTv1;rua=mailto:b@two.example\013\010Bcc: x@y"
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NOERROR
SECTION QUESTION
_smtp._tls.nul.example. IN TXT
SECTION ANSWER
_smtp._tls.nul.example. 600 IN TXT "v=TLSRPTv1;rua=mailto:a@nul.example," "mailto:b\000@nul.example"
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA NXDOMAIN
SECTION QUESTION
_smtp._tls.none.example. IN TXT
SECTION AUTHORITY
example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300
ENTRY_END
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR RD RA SERVFAIL
SECTION QUESTION
_smtp._tls.broken.example. IN TXT
ENTRY_END
EOF

write_config "dns_timeout = 2s"
start_dns "$T/dns.data"
lookup() { "$TLSRPT" -o "dns_resolvers=127.0.0.1:$DNS_PORT" lookup "$@" 2>&1; }

out=$(lookup valid.example); status=$?
assert_eq "a valid record: exit 0" 0 "$status"
assert_eq "a valid record: the records, the rua list and what was skipped" \
'query:  _smtp._tls.valid.example
status: found (1 TLSRPT record)
txt:    ignored "v=spf1 -all": does not begin with "v=TLSRPTv1;"
txt:    used "v=TLSRPTv1; rua=mailto:tlsrpt@valid.example,ftp://r.valid.example/,https://r.valid.example/v1"
rua:    mailto mailto:tlsrpt@valid.example
rua:    https https://r.valid.example/v1
note:   skipped "ftp://r.valid.example/": unsupported scheme "ftp"' "$out"

out=$(lookup --bogus valid.example); status=$?
assert_eq "an unknown option is a usage error" 2 "$status"
out=$("$TLSRPT" -o "dns_resolvers=127.0.0.1:$DNS_PORT" -o max_rua_per_record=1 \
    lookup valid.example 2>&1); status=$?
assert_eq "max_rua_per_record bounds the destinations" \
'rua:    mailto mailto:tlsrpt@valid.example
note:   skipped "ftp://r.valid.example/": unsupported scheme "ftp"
note:   skipped "https://r.valid.example/v1": more than 1 destination' \
    "$(printf '%s\n' "$out" | grep -E '^(rua|note):')"

out=$(lookup none.example); status=$?
assert_eq "no record: exit 1" 1 "$status"
assert_eq "no record: NXDOMAIN" \
'query:  _smtp._tls.none.example
status: none (NXDOMAIN)' "$out"

out=$(lookup two.example); status=$?
assert_eq "two records: exit 1" 1 "$status"
assert_eq "two records: none is used, control characters are shown escaped" \
'query:  _smtp._tls.two.example
status: none (2 TLSRPT records)
txt:    ignored "v=TLSRPTv1;rua=mailto:a@two.example": 2 TLSRPT records
txt:    ignored "v=TLSRPTv1;rua=mailto:b@two.example\x0D\x0ABcc: x@y": 2 TLSRPT records' "$out"

out=$(lookup nul.example); status=$?
assert_eq "a record with a NUL: exit 1" 1 "$status"
assert_eq "a record with a NUL is refused whole, and the NUL shown as \\x00" \
'query:  _smtp._tls.nul.example
status: none (invalid TLSRPT record: control character 0x00 at byte 45: a record with a NUL or control character is refused whole)
txt:    ignored "v=TLSRPTv1;rua=mailto:a@nul.example,mailto:b\x00@nul.example": invalid TLSRPT record: control character 0x00 at byte 45: a record with a NUL or control character is refused whole' "$out"

out=$(lookup broken.example); status=$?
assert_eq "SERVFAIL: exit 2" 2 "$status"
assert_eq "SERVFAIL: a temporary failure" \
'query:  _smtp._tls.broken.example
status: tempfail (SERVFAIL)' "$out"

out=$("$TLSRPT" lookup --server "127.0.0.1:$DNS_PORT" VALID.example. 2>&1); status=$?
assert_eq "--server replaces dns_resolvers; names are case-insensitive" 0 "$status"
assert_match "and the query name is shown in lower case" '^query:  _smtp\._tls\.valid\.example$' \
    "$out"

out=$("$TLSRPT" lookup --server localhost valid.example 2>&1); status=$?
assert_eq "a server that is not an address: exit 2" 2 "$status"
assert_match "with the reason" 'DNS server "localhost": not an IP address; expected an IP address' "$out"

out=$("$TLSRPT" lookup 2>&1); status=$?
assert_eq "no domain: usage, exit 2" 2 "$status"
assert_match "usage names the command" '^usage: tlsrpt lookup' "$out"

finish
