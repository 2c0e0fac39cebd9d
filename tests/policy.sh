#!/bin/sh
# policy.sh - the MTA-STS socketmap of the real daemon (policy_socket), on a
# unix socket and on 127.0.0.1: Postfix's own postmap as the client, a raw
# client for the exact replies, pipelining and a protocol error, the
# policy.* status lines, an enforce policy from a local HTTPS server (test
# CA) and the clean stop.
. "$(dirname "$0")/lib.sh"

POSTMAP=$(command -v postmap 2>/dev/null || echo /usr/sbin/postmap)
[ -x "$POSTMAP" ] || skip "postmap not found (apt-get install postfix)"

# DNS: no _mta-sts record (NXDOMAIN) for three domains; enforce.example is an
# MTA-STS domain with its policy host on 127.0.0.1; anything else SERVFAIL.
SOA="example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 120"
TLSA_HEX=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
{
    for name in nosts.example other.example a.example.org; do
        dns_entry NXDOMAIN "_mta-sts.$name." TXT AUTHORITY "$SOA"
    done
    dns_entry NOERROR _mta-sts.enforce.example. TXT ANSWER \
        '_mta-sts.enforce.example. 0 IN TXT "v=STSv1; id=e1;"'
    dns_entry NOERROR mta-sts.enforce.example. A ANSWER "mta-sts.enforce.example. 0 IN A 127.0.0.1"
    dns_entry NOERROR mta-sts.enforce.example. AAAA
    dns_entry NOERROR enforce.example. MX ANSWER "enforce.example. 0 IN MX 10 mx1.enforce.example."
    # dane.example: a DNSSEC-validated MX host with TLSA records (AD set), for the follower.
    dns_entry "AD NOERROR" dane.example. MX ANSWER "dane.example. 0 IN MX 10 mx.dane.example."
    dns_entry "AD NOERROR" _25._tcp.mx.dane.example. TLSA ANSWER "_25._tcp.mx.dane.example. 0 IN TLSA 3 1 1 $TLSA_HEX"
    printf 'ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id\nREPLY QR RD RA SERVFAIL\nENTRY_END\n'
} >"$T/dns.data"
start_dns "$T/dns.data"

# The policy host: tests/peers/https_sink.py with a certificate from a CA made for this run.
start_sts_web enforce.example
printf '200 text/plain\nversion: STSv1\nmode: enforce\nmx: mx1.enforce.example\nmax_age: 86400\n' \
    >"$T/web/mta-sts.enforce.example"
STS="sts_ca_file = $T/ca.pem"
STS_PORT="sts_https_port = $WEB_PORT"

# postmap reads main.cf from a private directory and needs no running Postfix.
mkdir -p "$T/postfix"
: >"$T/postfix/main.cf"
postmap_q() { # KEY MAP: prints the value; "(NOTFOUND)" when postmap exits 1 quietly
    out=$("$POSTMAP" -c "$T/postfix" -q "$1" "$2" 2>&1)
    status=$?
    if [ "$status" -eq 1 ] && [ -z "$out" ]; then echo "(NOTFOUND)"; else echo "$status $out"; fi
}

# raw ADDRESS NETSTRING...: one connection, all requests sent in one write,
# one reply per line; after a PERM protocol error, "EOF" once the server closes.
raw() {
    python3 - "$@" <<'EOF'
import socket, sys
address, requests = sys.argv[1], sys.argv[2:]
payload = "".join(requests).encode().replace(b"\\0", b"\0")
if address.startswith("inet:"):
    host, port = address[5:].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=90)
else:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(90)
    s.connect(address)
s.sendall(payload)
data, replies = b"", []
while len(replies) < len(requests):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
    while b":" in data:
        length, rest = data.split(b":", 1)
        if len(rest) < int(length) + 1:
            break
        replies.append(rest[:int(length)].decode())
        data = rest[int(length) + 1:]
    if replies and replies[-1].startswith("PERM protocol error"):
        break
for reply in replies:
    print(reply)
if replies and replies[-1].startswith("PERM protocol error"):
    print("EOF" if s.recv(100) == b"" else "still open")
EOF
}

SOCK="$T/run/policy.sock"
write_config "dns_resolvers = 127.0.0.1:$DNS_PORT" "policy_socket = $SOCK" "policy_threads = 2" \
    "$STS" "$STS_PORT"
start_daemon

assert_eq "status policy.socket" "$SOCK" "$(status_value policy.socket)"
if [ "$(id -u)" -eq 0 ] && getent group postfix >/dev/null; then
    assert_eq "unix socket mode and group" "660 postfix" "$(stat -c '%a %G' "$SOCK")"
fi
assert_eq "postmap, map name postfix: no _mta-sts record" "(NOTFOUND)" \
    "$(postmap_q nosts.example "socketmap:unix:$SOCK:postfix")"
assert_eq "postmap, map name QUERY: the name does not matter" "(NOTFOUND)" \
    "$(postmap_q NoSts.Example. "socketmap:unix:$SOCK:QUERY")"
assert_eq "exact reply, three pipelined requests in one write" \
    "NOTFOUND 
NOTFOUND 
NOTFOUND " \
    "$(raw "$SOCK" "17:sts nosts.example," "18:sts other.example.," "15:x a.example.org,")"
assert_eq "protocol error: PERM naming it, then the connection closes" \
    "NOTFOUND 
PERM protocol error (nul-byte): the request holds a NUL byte
EOF" \
    "$(raw "$SOCK" "17:sts nosts.example," "14:sts a\\0.example,")"
wait_status policy.connections_open 0
assert_eq "status policy.connections_total" 4 "$(status_value policy.connections_total)"
assert_eq "status policy.requests (the NUL one is no request)" 6 "$(status_value policy.requests)"
assert_eq "status policy.replies.notfound" 6 "$(status_value policy.replies.notfound)"
assert_eq "status policy.replies.perm" 1 "$(status_value policy.replies.perm)"
assert_eq "status policy.protocol_errors.nul-byte" 1 "$(status_value policy.protocol_errors.nul-byte)"
assert_eq "status policy.protocol_errors.bad-length" 0 "$(status_value policy.protocol_errors.bad-length)"
assert_eq "status policy.queue_length" 0 "$(status_value policy.queue_length)"
assert_match "the protocol error is logged" \
    '^tlsrptd: warning: policy: closing a client connection: protocol error \(nul-byte\)' \
    "$(cat "$T/daemon.log")"
# An enforce policy fetched over HTTPS once, then answered from the cache.
assert_eq "postmap: enforce policy" "0 secure match=mx1.enforce.example servername=hostname" \
    "$(postmap_q Enforce.Example "socketmap:unix:$SOCK:postfix")"
assert_eq "exact reply: enforce policy, from the cache" \
    "OK secure match=mx1.enforce.example servername=hostname" \
    "$(raw "$SOCK" "19:sts enforce.example,")"
assert_eq "the policy was fetched once" "mta-sts.enforce.example /.well-known/mta-sts.txt" \
    "$(cat "$T/web/requests.log")"
wait_status policy.replies.ok 2
# `tlsrpt sts flush` goes through the daemon: its memory forgets the policy too.
out=$("$TLSRPT" -c "$CONF" sts flush enforce.example 2>&1); status=$?
assert_eq "tlsrpt sts flush, the daemon running" "0 enforce.example: removed from the policy cache" \
    "$status $out"
assert_eq "the next lookup fetches the policy again" \
    "OK secure match=mx1.enforce.example servername=hostname
mta-sts.enforce.example /.well-known/mta-sts.txt
mta-sts.enforce.example /.well-known/mta-sts.txt" \
    "$(raw "$SOCK" "19:sts enforce.example,"; cat "$T/web/requests.log")"
stop_daemon
assert_eq "daemon exit status" 0 "$DAEMON_STATUS"
assert_match "totals logged at stop" \
    '^tlsrptd: policy: 7 connections, 0 refused, 9 requests: 3 OK, 6 NOTFOUND, 0 TEMP, 0 TIMEOUT, 1 PERM; 1 protocol errors$' \
    "$(cat "$T/daemon.log")"
assert_eq "unix socket removed at stop" "no" "$([ -e "$SOCK" ] && echo yes || echo no)"

# The log follower with the policy service: Postfix 3.x logs say nothing of
# MTA-STS, the service's cache does. The enforce policy cached above (on disk,
# it survived the restarts) makes these sessions sts sessions with its strings.
LOG="$T/maillog"
: >"$LOG"
chmod 644 "$LOG"
chmod 755 "$T"
write_config "dns_resolvers = 127.0.0.1:$DNS_PORT" "policy_socket = $SOCK" "$STS" "$STS_PORT" \
    "log_sources = postfix:file:$LOG" "collector_socket ="
start_daemon
assert_eq "cached enforce policy answered after the restart" \
    "OK secure match=mx1.enforce.example servername=hostname" \
    "$(raw "$SOCK" "19:sts enforce.example,")"
stamp=$(date '+%b %e %H:%M:%S')
day=$(date -u +%F)
P="$stamp sender postfix/smtp"
CIPHER="TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
cat >>"$LOG" <<EOF_LOG
$P[201]: Verified TLS connection established to mx1.enforce.example[192.0.2.1]:25: $CIPHER
$P[201]: 1A2B3C4D5E: to=<u@enforce.example>, relay=mx1.enforce.example[192.0.2.1]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)
$P[202]: server certificate verification failed for mx1.enforce.example[192.0.2.1]:25: num=62:hostname mismatch
$P[202]: Untrusted TLS connection established to mx1.enforce.example[192.0.2.1]:25: $CIPHER
$P[202]: 2A2B3C4D5E: to=<v@enforce.example>, relay=mx1.enforce.example[192.0.2.1]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=4.7.5, status=deferred (Server certificate not verified)
$P[203]: Untrusted TLS connection established to mx.nosts.example[192.0.2.3]:25: $CIPHER
$P[203]: 3A2B3C4D5E: to=<w@nosts.example>, relay=mx.nosts.example[192.0.2.3]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)
$P[204]: Verified TLS connection established to mx.dane.example[192.0.2.4]:25: $CIPHER
$P[204]: 4A2B3C4D5E: to=<x@dane.example>, relay=mx.dane.example[192.0.2.4]:25, delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)
EOF_LOG
size=$(wc -c <"$LOG")
followed_to_end() {
    "$TLSRPT" -c "$CONF" status | grep -q "^logfollow.1.position .* offset $size\b"
}
checks=$((checks + 1))
wait_for "the follower to reach the end of the log" 60 followed_to_end ||
    fail "the follower did not reach the end of the log"
assert_counts "the follower counts sessions to an MTA-STS domain under sts, to DANE under tlsa" \
"dane.example tlsa/mx.dane.example 1 0 
enforce.example sts 1 1 certificate-host-mismatch=1
nosts.example no-policy-found 1 0 " "$(counter_table "$CONF" "$day" | sort)"
assert_eq "the tlsa policy strings are the MX host's TLSA records" "[\"3 1 1 $TLSA_HEX\"]" \
    "$("$TLSRPT" -c "$CONF" counters --day "$day" --json | python3 -c 'import json, sys
for p in json.load(sys.stdin)["policies"]:
    if p["domain"] == "dane.example":
        print(json.dumps(p["policy"]["policy-string"]))')"
assert_eq "with the policy's strings and mx patterns" \
'["version: STSv1", "mode: enforce", "mx: mx1.enforce.example", "max_age: 86400"] ["mx1.enforce.example"]' \
    "$("$TLSRPT" -c "$CONF" counters --day "$day" --json | python3 -c 'import json, sys
for p in json.load(sys.stdin)["policies"]:
    if p["domain"] == "enforce.example":
        print(json.dumps(p["policy"]["policy-string"]), json.dumps(p["policy"]["mx-host"]))')"
stop_daemon

# inet on 127.0.0.1 and a free port; idle connections are closed.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_config "dns_resolvers = 127.0.0.1:$DNS_PORT" "policy_socket = inet:127.0.0.1:$PORT" \
    "policy_idle_timeout = 1s" "policy_max_connections = 2"
start_daemon
assert_eq "postmap over inet" "(NOTFOUND)" \
    "$(postmap_q nosts.example "socketmap:inet:127.0.0.1:$PORT:postfix")"
assert_eq "exact reply over inet" "NOTFOUND " "$(raw "inet:127.0.0.1:$PORT" "17:sts nosts.example," | head -1)"
# Two idle clients fill policy_max_connections; a third is refused; idle ones go after 1 s.
python3 - "$PORT" >"$T/idle.out" 2>&1 <<'EOF' &
import socket, sys
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(2)]
extra = socket.create_connection(("127.0.0.1", port), timeout=60)
print("extra:", extra.recv(100) == b"" and "closed" or "open")
print("idle:", " ".join("closed" if s.recv(100) == b"" else "open" for s in held))
EOF
IDLE_PID=$!
wait "$IDLE_PID"
assert_eq "max connections and idle timeout, seen by the clients" "extra: closed
idle: closed closed" "$(cat "$T/idle.out")"
wait_status policy.idle_closes 2
assert_eq "status policy.connections_refused" 1 "$(status_value policy.connections_refused)"
assert_match "the refusal is logged" \
    '^tlsrptd: warning: policy: refused a client connection: 2 connections are open, the limit$' \
    "$(cat "$T/daemon.log")"
stop_daemon
assert_eq "daemon exit status (inet)" 0 "$DAEMON_STATUS"

# Lookups stuck on a DNS server that never answers hold the policy threads,
# never the daemon: `tlsrpt status` answers while both threads wait, and the
# third request is counted as waiting; all three get TEMP in the end.
python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(600)' >"$T/silent.port" &
SILENT_PID=$!
trap 'kill "$SILENT_PID" 2>/dev/null; cleanup' EXIT
wait_for "the silent DNS server's port" 60 test -s "$T/silent.port"
write_config "dns_resolvers = 127.0.0.1:$(cat "$T/silent.port")" "dns_timeout = 2s" \
    "policy_socket = $SOCK" "policy_threads = 2"
start_daemon
for i in 1 2 3; do
    raw "$SOCK" "17:sts slow$i.example," >"$T/slow$i.out" 2>&1 &
    eval "SLOW_PID$i=\$!"
done
wait_status policy.in_progress 2
wait_status policy.queue_length 1
assert_match "status answered while both policy threads wait on DNS" '^policy.in_progress +2$' \
    "$("$TLSRPT" -c "$CONF" status)"
wait "$SLOW_PID1" "$SLOW_PID2" "$SLOW_PID3"
assert_eq "slow lookups end in TEMP" "TEMP _mta-sts.slow1.example TXT lookup failed: timeout or network error
TEMP _mta-sts.slow2.example TXT lookup failed: timeout or network error
TEMP _mta-sts.slow3.example TXT lookup failed: timeout or network error" \
    "$(cat "$T/slow1.out" "$T/slow2.out" "$T/slow3.out")"
wait_status policy.replies.temp 3
stop_daemon
assert_eq "daemon exit status (slow DNS)" 0 "$DAEMON_STATUS"
kill "$SILENT_PID" 2>/dev/null

# A bad policy_socket stops the daemon at start with a message naming it.
write_config "dns_resolvers = 127.0.0.1:$DNS_PORT" "policy_socket = inet:localhost:$PORT"
timeout 60 "$TLSRPTD" -f -c "$CONF" -o "tlsrptd_user=$(test_user)" >"$T/bad.log" 2>&1
assert_eq "bad policy_socket: exit status 1" 1 "$?"
assert_match "bad policy_socket: the message" \
    "fatal: $CONF: policy_socket: inet:localhost:$PORT: the host must be a numeric IPv4 or IPv6 address" \
    "$(cat "$T/bad.log")"
finish
