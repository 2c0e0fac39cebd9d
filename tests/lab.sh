#!/bin/sh
# lab.sh - Debian's real Postfix delivers one message to each domain of a
# private zone whose MX hosts present TLS faults, with a TLS level per
# domain, inside a network namespace of the test's own (tests/lab/setup.sh).
# Its log must show each fault, and counting it must give exactly the
# sessions and RFC 8460 result types. Skips (77) without root or netns.
. "$(dirname "$0")/lib.sh"
export TZ=UTC
. "$top_srcdir/tests/lab/setup.sh"
LAB_WEB_PID=
trap '[ -n "$LAB_WEB_PID" ] && kill "$LAB_WEB_PID" 2>/dev/null; lab_down; cleanup' EXIT
trap 'exit 1' INT TERM HUP
started=$(date +%s)
lab_require

# Counted by day: do not start a minute before midnight.
to_midnight=$((86400 - started % 86400))
[ "$to_midnight" -lt 60 ] && sleep "$to_midnight"
day=$(date -u +%F)

# Each domain: its MX hosts (name=role of setup.sh's LAB_HOSTS, in preference
# order), then its TLS policy in Postfix's smtp_tls_policy_maps.
mkdir -p "$LAB"
cat >"$LAB/domains" <<'EOF_DOMAINS'
ok-may.lab          mx.ok-may.lab=valid                         may
ok-encrypt.lab      mx.ok-encrypt.lab=valid                     encrypt
ok-secure.lab       mx.ok-secure.lab=valid                      secure match=hostname
ok-verify.lab       mx.ok-verify.lab=valid                      verify match=hostname
expired.lab         mx.expired.lab=expired                      secure match=hostname
expired-may.lab     mx.expired-may.lab=expired                  may
wrongname.lab       mx.wrongname.lab=wrongname                  secure match=hostname
selfsigned.lab      mx.selfsigned.lab=selfsigned                secure match=hostname
untrusted.lab       mx.untrusted.lab=untrusted                  verify match=hostname
nostarttls.lab      mx.nostarttls.lab=plain                     encrypt
nostarttls-may.lab  mx.nostarttls-may.lab=plain                 may
refuse454.lab       mx.refuse454.lab=refuse                     encrypt
refuse454-may.lab   mx.refuse454-may.lab=refuse                 may
tls10.lab           mx.tls10.lab=tls10                          encrypt protocols=>=TLSv1.2
tls10-may.lab       mx.tls10-may.lab=tls10                      may protocols=>=TLSv1.2
tls10-legacy.lab    mx.tls10-legacy.lab=tls10                   encrypt
garbage.lab         mx.garbage.lab=garbage                      encrypt
garbage-may.lab     mx.garbage-may.lab=garbage                  may
mixed.lab           mx1.mixed.lab=expired,mx2.mixed.lab=valid   secure match=hostname
dane-ok.lab         mx.dane-ok.lab=valid                        dane
dane-bad.lab        mx.dane-bad.lab=valid                       dane
dane-only.lab       mx.dane-only.lab=valid                      dane-only
dnssec-bogus.lab    mx.dnssec-bogus.lab=valid                   dane
reuse.lab           mx.reuse.lab=valid                          secure match=hostname
reuse-expired.lab   mx.reuse-expired.lab=expired                secure match=hostname
sts-enforce.lab     mx.sts-enforce.lab=valid                    sts
sts-bad.lab         mx.sts-bad.lab=wrongname                    sts
sts-testing.lab     mx.sts-testing.lab=untrusted                sts
sts-fetch-error.lab mx.sts-fetch-error.lab=valid                sts
EOF_DOMAINS
# These go through tlsproxy with TLS connection reuse (reuse.lab gets two messages).
echo "reuse.lab reuse-expired.lab" >"$LAB/reuse"

lab_up_namespace
lab_make_pki
# DANE: the right key, another key, no TLSA at all, a lookup that fails validation.
cat >"$LAB/tlsa" <<EOF_TLSA
mx.dane-ok.lab       tlsa 3 1 1 $(pki_tlsa valid)
mx.dane-bad.lab      tlsa 3 1 1 $(pki_tlsa untrusted)
mx.dane-only.lab     nodata
mx.dnssec-bogus.lab  servfail
EOF_TLSA
# MTA-STS (level "sts"): the daemon's policy service answers Postfix's
# smtp_tls_policy_maps, fetching each policy from https://mta-sts.DOMAIN
# (https_sink.py on 127.0.0.1:443 in the namespace, a certificate of the lab
# CA); sts-fetch-error.lab has a record but its policy host answers 404.
sts_domains=$(awk '$3 == "sts" { print $1 }' "$LAB/domains")
pki_server sts ca current $(for d in $sts_domains; do echo "mta-sts.$d"; done) ||
    lab_broken "openssl could not make the policy host's certificate"
chmod 755 "$LAB_PKI" && chmod 644 "$LAB_PKI/ca.crt"
mkdir -p "$LAB/web"
for domain in $sts_domains; do
    dns_entry "_mta-sts.$domain." TXT NOERROR "_mta-sts.$domain. IN TXT \"v=STSv1; id=lab1;\""
    dns_entry "mta-sts.$domain." A NOERROR "mta-sts.$domain. IN A 127.0.0.1"
    dns_entry "mta-sts.$domain." AAAA NOERROR
    mode=enforce
    [ "$domain" = sts-testing.lab ] && mode=testing
    [ "$domain" = sts-fetch-error.lab ] ||
        printf '200 text/plain\nversion: STSv1\nmode: %s\nmx: mx.%s\nmax_age: 86400\n' \
            "$mode" "$domain" >"$LAB/web/mta-sts.$domain"
done >"$LAB/dns.extra"
lab_write_dns
lab_start_dns
lab_start_mx
nsx python3 "$top_srcdir/tests/peers/https_sink.py" --dir "$LAB/web" --port 443 \
    --port-file "$LAB/web.port" --cert "$LAB_PKI/sts.pem" --key "$LAB_PKI/sts.key" \
    >"$LAB/web.log" 2>&1 &
LAB_WEB_PID=$!
wait_for "the policy host's port file" 60 test -s "$LAB/web.port" ||
    lab_broken "the policy host did not start" "$LAB/web.log"
LAB_POLICY_SOCKET="$T/run/policy.sock"
lab_postfix_config
# The daemon's log follower reads Postfix's log as it is written (tlsrptd_user
# must be able to read it: created beforehand, postlogd keeps its mode).
mkdir -p "$LAB_PF"
: >"$LAB_MAILLOG"
chmod 644 "$LAB_MAILLOG"
chmod 755 "$LAB" "$LAB_PF"
write_config "log_sources = postfix:file:$LAB_MAILLOG" "collector_socket =" \
    "policy_socket = $LAB_POLICY_SOCKET" "dns_resolvers = 127.0.0.1:53" \
    "sts_ca_file = $LAB_PKI/ca.crt"
# In the namespace: its DNS server and policy host are on its own 127.0.0.1.
DAEMON_WRAP="ip netns exec $LAB_NS"
start_daemon
lab_postfix_start
# The two for reuse.lab first: the second is to find the connection still open.
recipients="user@reuse.lab user2@reuse.lab $(sed -n 's/^\([a-z0-9.-]*\) .*/user@\1/p' "$LAB/domains" |
    grep -vx user@reuse.lab)"
for recipient in $recipients; do lab_postfix_send "$recipient"; done
# shellcheck disable=SC2086
lab_postfix_wait $recipients
lab_postfix_stop
echo "lab: Postfix made its delivery attempts after $(($(date +%s) - started)) s"

# assert_logged DOMAIN ERE: the Postfix log shows what the fault must cause
# (so that a lab that went wrong cannot pass on counts that happen to fit).
assert_logged() {
    checks=$((checks + 1))
    if grep -Eq -- "$2" "$LAB_MAILLOG"; then
        echo "ok: $1: logged /$2/"
    else
        fail "$1: no line of the Postfix log matches /$2/"
        grep -F "$1" "$LAB_MAILLOG" | head -20
    fi
}
while read -r domain pattern; do
    assert_logged "$domain" "$pattern"
done <<'EOF_LOGGED'
ok-may.lab          Trusted TLS connection established to mx\.ok-may\.lab\[127\.0\.0\.11\]:25: TLSv1\.3
ok-encrypt.lab      Trusted TLS connection established to mx\.ok-encrypt\.lab\[127\.0\.0\.11\]:25
ok-secure.lab       Verified TLS connection established to mx\.ok-secure\.lab\[127\.0\.0\.11\]:25
ok-verify.lab       Verified TLS connection established to mx\.ok-verify\.lab\[127\.0\.0\.11\]:25
expired.lab         server certificate verification failed for mx\.expired\.lab\[127\.0\.0\.12\]:25: certificate has expired
expired-may.lab     Untrusted TLS connection established to mx\.expired-may\.lab\[127\.0\.0\.12\]:25
wrongname.lab       server certificate verification failed for mx\.wrongname\.lab\[127\.0\.0\.13\]:25: num=62:hostname mismatch
selfsigned.lab      certificate verification failed for mx\.selfsigned\.lab\[127\.0\.0\.14\]:25: self-signed certificate
untrusted.lab       certificate verification failed for mx\.untrusted\.lab\[127\.0\.0\.15\]:25: untrusted issuer /O=Rogue/CN=Rogue CA nobody trusts
nostarttls.lab      to=<user@nostarttls\.lab>, .* status=deferred \(TLS is required, but was not offered by host mx\.nostarttls\.lab\[127\.0\.0\.16\]\)
nostarttls-may.lab  to=<user@nostarttls-may\.lab>, relay=mx\.nostarttls-may\.lab\[127\.0\.0\.16\]:25, .* status=sent
refuse454.lab       status=deferred \(TLS is required, but host mx\.refuse454\.lab\[127\.0\.0\.17\] refused to start TLS: 454 4\.7\.0
refuse454-may.lab   to=<user@refuse454-may\.lab>, relay=mx\.refuse454-may\.lab\[127\.0\.0\.17\]:25, .* status=sent
tls10.lab           to=<user@tls10\.lab>, .* status=deferred \(Cannot start TLS: handshake failure\)
tls10.lab           TLS library problem: .*alert protocol version
tls10-may.lab       to=<user@tls10-may\.lab>, .* status=deferred \(Cannot start TLS: handshake failure\)
tls10-legacy.lab    Trusted TLS connection established to mx\.tls10-legacy\.lab\[127\.0\.0\.18\]:25: TLSv1 with
garbage.lab         SSL_connect error to mx\.garbage\.lab\[127\.0\.0\.19\]:25
garbage.lab         to=<user@garbage\.lab>, .* status=deferred \(Cannot start TLS: handshake failure\)
garbage-may.lab     to=<user@garbage-may\.lab>, .* status=deferred \(Cannot start TLS: handshake failure\)
mixed.lab           server certificate verification failed for mx1\.mixed\.lab\[127\.0\.0\.12\]:25: certificate has expired
mixed.lab           : Server certificate not verified$
mixed.lab           to=<user@mixed\.lab>, relay=mx2\.mixed\.lab\[127\.0\.0\.11\]:25, .* status=sent
dane-ok.lab         Verified TLS connection established to mx\.dane-ok\.lab\[127\.0\.0\.11\]:25
dane-bad.lab        server certificate verification failed for mx\.dane-bad\.lab\[127\.0\.0\.11\]:25: num=65:no matching DANE TLSA records
dane-only.lab       TLS policy lookup for dane-only\.lab/mx\.dane-only\.lab: no TLSA records found
dane-only.lab       to=<user@dane-only\.lab>, relay=none, .* status=deferred \(no TLSA records found\)
dnssec-bogus.lab    TLS policy lookup for dnssec-bogus\.lab/mx\.dnssec-bogus\.lab: TLSA lookup error for mx\.dnssec-bogus\.lab:25
reuse.lab           postfix/tlsproxy\[[0-9]+\]: Verified TLS connection established to mx\.reuse\.lab\[127\.0\.0\.11\]:25
reuse.lab           postfix/smtp\[[0-9]+\]: Verified TLS connection established to mx\.reuse\.lab\[127\.0\.0\.11\]:25
reuse.lab           Verified TLS connection reused to mx\.reuse\.lab\[127\.0\.0\.11\]:25
reuse.lab           to=<user2?@reuse\.lab>, relay=mx\.reuse\.lab\[127\.0\.0\.11\]:25, conn_use=2, .* status=sent
reuse-expired.lab   postfix/tlsproxy\[[0-9]+\]: server certificate verification failed for mx\.reuse-expired\.lab\[127\.0\.0\.12\]:25: certificate has expired
reuse-expired.lab   postfix/smtp\[[0-9]+\]: Untrusted TLS connection established to mx\.reuse-expired\.lab\[127\.0\.0\.12\]:25
reuse-expired.lab   to=<user@reuse-expired\.lab>, .* status=deferred \(Server certificate not verified\)
sts-enforce.lab     Verified TLS connection established to mx\.sts-enforce\.lab\[127\.0\.0\.11\]:25
sts-bad.lab         server certificate verification failed for mx\.sts-bad\.lab\[127\.0\.0\.13\]:25: num=62:hostname mismatch
sts-testing.lab     Untrusted TLS connection established to mx\.sts-testing\.lab\[127\.0\.0\.15\]:25
sts-testing.lab     to=<user@sts-testing\.lab>, relay=mx\.sts-testing\.lab\[127\.0\.0\.15\]:25, .* status=sent
sts-fetch-error.lab to=<user@sts-fetch-error\.lab>, relay=mx\.sts-fetch-error\.lab\[127\.0\.0\.11\]:25, .* status=sent
EOF_LOGGED


# count_log LOGFILE: counts a Postfix log with `tlsrpt ingest` into a state
# directory of its own, shows what was counted ($LAB/ingest.out), then the table.
count_log() {
    mkdir -p "$LAB/ingest"
    rm -rf "$LAB/ingest/state"
    printf 'state_directory = %s\nruntime_directory = %s\n' "$LAB/ingest/state" \
        "$LAB/ingest/run" >"$LAB/ingest/cf"
    TLSRPTD_CONFIG="$LAB/ingest/cf" "$TLSRPT" ingest --format postfix "$1" \
        >"$LAB/ingest.out" 2>"$LAB/ingest.err" || {
        echo "ingest failed:"
        cat "$LAB/ingest.out" "$LAB/ingest.err"
        return 1
    }
    counter_table "$LAB/ingest/cf" "$day"
}

counted=$(count_log "$LAB_MAILLOG")
cat "$LAB/ingest.out"
assert_eq "every lab domain: policy, successes, failures, result types" \
"dane-bad.lab tlsa/mx.dane-bad.lab 0 1 tlsa-invalid=1
dane-ok.lab no-policy-found 1 0 
dane-only.lab tlsa/mx.dane-only.lab 0 1 dane-required=1
dnssec-bogus.lab tlsa/mx.dnssec-bogus.lab 0 1 dnssec-invalid=1
expired-may.lab no-policy-found 1 0 
expired.lab no-policy-found 0 1 certificate-expired=1
garbage-may.lab no-policy-found 0 1 validation-failure=1
garbage.lab no-policy-found 0 1 validation-failure=1
mixed.lab no-policy-found 1 1 certificate-expired=1
nostarttls.lab no-policy-found 0 1 starttls-not-supported=1
ok-encrypt.lab no-policy-found 1 0 
ok-may.lab no-policy-found 1 0 
ok-secure.lab no-policy-found 1 0 
ok-verify.lab no-policy-found 1 0 
refuse454.lab no-policy-found 0 1 starttls-not-supported=1
reuse-expired.lab no-policy-found 0 1 certificate-expired=1
reuse.lab no-policy-found 1 0 
selfsigned.lab no-policy-found 0 1 certificate-not-trusted=1
sts-bad.lab no-policy-found 0 1 certificate-host-mismatch=1
sts-enforce.lab no-policy-found 1 0 
sts-fetch-error.lab no-policy-found 1 0 
sts-testing.lab no-policy-found 1 0 
tls10-legacy.lab no-policy-found 1 0 
tls10-may.lab no-policy-found 0 1 validation-failure=1
tls10.lab no-policy-found 0 1 validation-failure=1
untrusted.lab no-policy-found 0 1 certificate-not-trusted=1
wrongname.lab no-policy-found 0 1 certificate-host-mismatch=1" "$counted"
assert_eq "plaintext at level may (no STARTTLS, 454 to STARTTLS) is no TLS session" "" \
    "$(echo "$counted" | grep -E '^(nostarttls|refuse454)-may\.lab ')"

# The daemon followed the log while Postfix wrote it: the same counts.
size=$(wc -c <"$LAB_MAILLOG")
followed_to_end() {
    case $("$TLSRPT" status | sed -n 's/^logfollow.1.position *//p') in *" offset $size") return 0 ;; esac
    return 1
}
wait_for "the daemon's follower to reach the end of the mail log" 60 followed_to_end
# Postfix asked the policy service about each sts domain: what did it answer?
assert_eq "the policy host served each sts policy once (the fetch error's 404 too)" \
"mta-sts.sts-bad.lab /.well-known/mta-sts.txt
mta-sts.sts-enforce.lab /.well-known/mta-sts.txt
mta-sts.sts-fetch-error.lab /.well-known/mta-sts.txt
mta-sts.sts-testing.lab /.well-known/mta-sts.txt" "$(sort "$LAB/web/requests.log")"
# The same counts, but that the follower knows the MTA-STS policies and the
# DANE success (the log shows only "Verified") that `tlsrpt ingest` cannot,
# and the service counted the fetch error itself.
assert_counts "the daemon's log follower, reading as Postfix wrote, counted the same, with MTA-STS" \
    "$({ echo "$counted" | grep -v -e '^sts-' -e '^dane-ok\.'; cat <<'EOF_STS'
dane-ok.lab tlsa/mx.dane-ok.lab 1 0 
sts-bad.lab sts 0 1 certificate-host-mismatch=1
sts-enforce.lab sts 1 0 
sts-fetch-error.lab no-policy-found 1 0 
sts-fetch-error.lab sts 0 1 sts-policy-fetch-error=1
sts-testing.lab sts 0 1 certificate-not-trusted=1
EOF_STS
} | sort)" "$(counter_table "$CONF" "$day" | sort)"
policy_strings() { # DOMAIN: its policy's strings and mx patterns in the daemon's counters
    "$TLSRPT" counters --day "$day" --domain "$1" --json | python3 -c 'import json, sys
for p in json.load(sys.stdin)["policies"]:
    print(" | ".join(p["policy"].get("policy-string", [])), "/", " ".join(p["policy"].get("mx-host", [])))'
}
assert_eq "the DANE session's policy strings: the MX host's TLSA RRset" \
    "3 1 1 $(pki_tlsa valid) / " "$(policy_strings dane-ok.lab)"
assert_eq "the testing-mode session's policy strings and mx pattern" \
    "version: STSv1 | mode: testing | mx: mx.sts-testing.lab | max_age: 86400 / mx.sts-testing.lab" \
    "$(policy_strings sts-testing.lab)"
stop_daemon

[ "$failures" -eq 0 ] || {
    echo "--- the daemon's log"; tail -n 40 "$T/daemon.log"
    "$TLSRPT" status | grep '^policy\.'
}
echo "lab: $(($(date +%s) - started)) s in all"
finish
