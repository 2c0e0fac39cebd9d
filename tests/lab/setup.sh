# setup.sh - the TLS-fault lab of tests/lab.sh: a network namespace of the
# test's own with DNS (ldns-testns), the fault MX hosts (fault_mx.py) and a
# private Postfix in it, started and torn down by PID. Sourced after lib.sh;
# the test describes its domains in $LAB/domains (see lab_write_dns).
# LAB_KEEP=DIR keeps the lab's files (Postfix log, DNS data, ...) there.

LAB="$T/lab"
LAB_NS="tlsrpt-lab-$$"
LAB_PKI="$LAB/pki"
LAB_PF="$LAB/postfix"
LAB_MAILLOG="$LAB_PF/maillog"
LAB_NS_UP=
LAB_DNS_PID=
LAB_MX_PID=
POSTFIX=/usr/sbin/postfix
. "$top_srcdir/tests/lab/pki.sh"

# The MX hosts: role address mode. The certificate of a role is named after it.
LAB_HOSTS="valid 127.0.0.11 tls
expired 127.0.0.12 tls
wrongname 127.0.0.13 tls
selfsigned 127.0.0.14 tls
untrusted 127.0.0.15 tls
plain 127.0.0.16 plain
refuse 127.0.0.17 refuse
tls10 127.0.0.18 tls10
garbage 127.0.0.19 garbage"

nsx() { ip netns exec "$LAB_NS" "$@"; }

# Exits 77 unless this machine can run the lab at all.
lab_require() {
    [ "$(id -u)" -eq 0 ] || skip "the lab needs root (network namespace, private Postfix)"
    [ -x "$POSTFIX" ] || skip "Postfix is not installed (apt-get install postfix)"
    for command in ip openssl python3 ldns-testns drill; do
        command -v "$command" >/dev/null 2>&1 ||
            skip "$command not found (apt-get install iproute2 openssl python3 ldnsutils)"
    done
    if ! getent passwd postfix >/dev/null || ! getent group postdrop >/dev/null; then
        skip "no postfix user or postdrop group (the Debian package creates them)"
    fi
    if ! ip netns add "$LAB_NS" 2>"$T/netns.err"; then
        ip netns del "$LAB_NS" 2>/dev/null
        skip "cannot create a network namespace: $(head -1 "$T/netns.err")"
    fi
    LAB_NS_UP=1
}

# The lab failed, not what it tests: say so, show what may tell why, stop.
lab_broken() { # MESSAGE [FILE...]
    echo "ERROR: the lab itself failed: $1"
    shift
    for file in "$@"; do
        [ -f "$file" ] && { echo "--- $file"; tail -n 60 "$file"; }
    done
    exit 99
}

# Stops what the lab started (by PID) and deletes the namespace; idempotent.
lab_down() {
    if [ -n "${LAB_KEEP:-}" ] && [ -d "$LAB" ]; then
        mkdir -p "$LAB_KEEP" && cp -R "$LAB/." "$LAB_KEEP/" && echo "lab: files kept in $LAB_KEEP"
    fi
    if [ -n "$LAB_NS_UP" ]; then
        lab_postfix_stop
        for pid in $LAB_MX_PID $LAB_DNS_PID; do kill "$pid" 2>/dev/null; done
        # Anything still in the namespace is a child of what the test started.
        for pid in $(ip netns pids "$LAB_NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$LAB_NS" 2>/dev/null
        LAB_NS_UP=
    fi
    rm -rf "/etc/netns/$LAB_NS"
    rmdir /etc/netns 2>/dev/null
    LAB_MX_PID='' LAB_DNS_PID=''
}

# Loopback up; `ip netns exec` puts /etc/netns/NAME/resolv.conf over /etc/resolv.conf.
lab_up_namespace() {
    nsx ip link set lo up || lab_broken "cannot bring lo up in $LAB_NS"
    mkdir -p "/etc/netns/$LAB_NS" "$LAB"
    printf '%s\n' "nameserver 127.0.0.1" "options trust-ad timeout:1 attempts:2" \
        >"/etc/netns/$LAB_NS/resolv.conf"
}

# The MX names a role answers for, from $LAB/domains.
lab_names_of() { # ROLE
    while read -r domain hosts level; do
        for pair in $(echo "$hosts" | tr , ' '); do
            [ "${pair#*=}" = "$1" ] && echo "${pair%=*}"
        done
    done <"$LAB/domains"
}

lab_make_pki() {
    mkdir -p "$LAB_PKI"
    pki_ca ca "/O=tlsrpt lab/CN=Lab Root CA" &&
        pki_ca rogue "/O=Rogue/CN=Rogue CA nobody trusts" &&
        pki_server valid ca current $(lab_names_of valid) &&
        pki_server tls10 ca current $(lab_names_of tls10) &&
        pki_server expired ca expired $(lab_names_of expired) &&
        pki_server wrongname ca current wrong.example.net &&
        pki_server selfsigned self current $(lab_names_of selfsigned) &&
        pki_server untrusted rogue current $(lab_names_of untrusted) ||
        lab_broken "openssl could not make the certificates"
}

# One ldns-testns entry: a NOERROR answer with the AD bit (the resolver
# "validated" it: Postfix trusts AD from the resolver in resolv.conf).
dns_entry() { # QNAME QTYPE RCODE [ANSWER-RR...]
    qname=$1 qtype=$2 rcode=$3
    shift 3
    printf '%s\n' "ENTRY_BEGIN" "MATCH opcode qtype qname" "ADJUST copy_id" \
        "REPLY QR RD RA AD $rcode" "SECTION QUESTION" "$qname IN $qtype" "SECTION ANSWER" "$@"
    [ "$rcode" = NOERROR ] && [ $# -eq 0 ] &&
        printf '%s\n' "SECTION AUTHORITY" "lab. 60 IN SOA ns.lab. hostmaster.lab. 1 60 60 600 60"
    echo "ENTRY_END"
}

# $LAB/domains: "DOMAIN MX=ROLE[,MX=ROLE...] TLS-POLICY" per line;
# $LAB/tlsa: "MX tlsa DATA | nodata | servfail" for the DANE hosts.
lab_write_dns() {
    {
        echo "\$TTL 60"
        dns_entry . NS NOERROR ". 60 IN NS ns.lab."
        while read -r domain hosts level; do
            preference=10 answers=""
            for pair in $(echo "$hosts" | tr , ' '); do
                answers="$answers|$domain. IN MX $preference ${pair%=*}."
                preference=$((preference + 10))
                address=$(echo "$LAB_HOSTS" | awk -v r="${pair#*=}" '$1 == r { print $2 }')
                dns_entry "${pair%=*}." A NOERROR "${pair%=*}. IN A $address"
            done
            (IFS='|' && set -f && dns_entry "$domain." MX NOERROR ${answers#|})
        done <"$LAB/domains"
        while read -r host kind data; do
            case $kind in
            tlsa) dns_entry "_25._tcp.$host." TLSA NOERROR "_25._tcp.$host. IN TLSA $data" ;;
            nodata) dns_entry "_25._tcp.$host." TLSA NOERROR ;;
            servfail) dns_entry "_25._tcp.$host." TLSA SERVFAIL ;;
            esac
        done <"$LAB/tlsa"
        # Anything else does not exist (without this, the query would time out).
        # Entries of the test's own (MTA-STS records), before the catch-all.
        [ -f "$LAB/dns.extra" ] && cat "$LAB/dns.extra"
        printf '%s\n' "ENTRY_BEGIN" "MATCH opcode" "ADJUST copy_id copy_query" \
            "REPLY QR RD RA NXDOMAIN" "ENTRY_END"
    } >"$LAB/dns.data"
}

lab_start_dns() {
    nsx ldns-testns -v -p 53 "$LAB/dns.data" >"$LAB/dns.log" 2>&1 &
    LAB_DNS_PID=$!
    lab_dns_answers() {
        process_gone "$LAB_DNS_PID" ||
            nsx drill -Q @127.0.0.1 MX "$(head -1 "$LAB/domains" | cut -d' ' -f1)" 2>/dev/null | grep -q .
    }
    wait_for "ldns-testns to answer in $LAB_NS" 60 lab_dns_answers && ! process_gone "$LAB_DNS_PID" &&
        return 0
    lab_broken "ldns-testns does not answer on 127.0.0.1:53 in $LAB_NS" "$LAB/dns.log"
}

lab_start_mx() {
    echo "$LAB_HOSTS" | while read -r role address mode; do
        case $mode in
        tls | tls10) echo "$role $address $mode $LAB_PKI/$role.pem $LAB_PKI/$role.key" ;;
        *) echo "$role $address $mode" ;;
        esac
    done >"$LAB/hosts"
    echo "$LAB_HOSTS" | while read -r role address mode; do
        nsx ip addr add "$address/32" dev lo
    done
    nsx python3 "$top_srcdir/tests/lab/fault_mx.py" --hosts "$LAB/hosts" --ready "$LAB/mx.ready" \
        >"$LAB/mx.log" 2>&1 &
    LAB_MX_PID=$!
    lab_mx_ready() { process_gone "$LAB_MX_PID" || [ -e "$LAB/mx.ready" ]; }
    wait_for "the fault MX hosts" 60 lab_mx_ready && ! process_gone "$LAB_MX_PID" && return 0
    lab_broken "the fault MX hosts did not start" "$LAB/mx.log"
}

# A private Postfix that only sends: no smtpd, no local delivery, no retries
# (a deferred message stays deferred until the test ends), TLS policy per
# domain from $LAB/domains, its log in $LAB_MAILLOG. The domains listed in
# $LAB/reuse go through transport "reuse": one connection at a time, kept
# open and reused for the next message, TLS by tlsproxy (TLS connection reuse).
lab_postfix_config() {
    mkdir -p "$LAB_PF/etc" "$LAB_PF/spool"
    # Level "sts": no entry here, Postfix asks tlsrptd's policy service ($LAB_POLICY_SOCKET).
    while read -r domain hosts level; do
        [ "$level" = sts ] || echo "$domain $level"
    done <"$LAB/domains" >"$LAB_PF/etc/tls_policy"
    policy_maps="texthash:$LAB_PF/etc/tls_policy"
    [ -n "${LAB_POLICY_SOCKET:-}" ] && policy_maps="$policy_maps, socketmap:unix:$LAB_POLICY_SOCKET:postfix"
    reuse=$(cat "$LAB/reuse" 2>/dev/null)
    for domain in $reuse; do echo "$domain reuse:"; done >"$LAB_PF/etc/transport"
    cat >"$LAB_PF/etc/main.cf" <<EOF
# The sender of tests/lab.sh ($(basename "$T")), written at test time.
compatibility_level = 3.6
queue_directory = $LAB_PF/spool
data_directory = $LAB_PF/data
mail_owner = postfix
setgid_group = postdrop
myhostname = sender.lab
mydomain = lab
myorigin = \$myhostname
mydestination =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
local_transport = error:no local mail in the lab
alias_maps =
alias_database =
biff = no
maillog_file = $LAB_MAILLOG
maillog_file_prefixes = $LAB_PF
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtp_tls_CAfile = $LAB_PKI/ca.crt
smtp_tls_policy_maps = $policy_maps
smtp_tls_session_cache_database =
smtp_dns_support_level = dnssec
smtp_host_lookup = dns
smtp_connect_timeout = 5s
smtp_helo_timeout = 10s
smtp_starttls_timeout = 10s
queue_run_delay = 1h
minimal_backoff_time = 1h
maximal_backoff_time = 2h
transport_maps = texthash:$LAB_PF/etc/transport
reuse_destination_concurrency_limit = 1
smtp_connection_cache_destinations = $(echo $reuse)
EOF
    cat >"$LAB_PF/etc/master.cf" <<'EOF'
# Only what sending needs; nothing chrooted, nothing listening on the network.
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - n - - showq
smtp unix - - n - - smtp
error unix - - n - - error
retry unix - - n - - error
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
tlsproxy unix - - n - 0 tlsproxy
postlog unix-dgram n - n - 1 postlogd
reuse unix - - n - - smtp -o smtp_tls_connection_reuse=yes -o smtp_connection_cache_time_limit=10s
EOF
}

# A lab of one MX host (fault_mx.py MODE at ADDRESS) for DOMAIN at level
# may, and its Postfix, which also takes mail on 127.0.0.1:2525 (smtpd).
lab_single_mx() { # ROLE ADDRESS MODE DOMAIN
    LAB_HOSTS="$1 $2 $3"
    mkdir -p "$LAB"
    echo "$4 mx.$4=$1 may" >"$LAB/domains"
    : >"$LAB/tlsa"
    lab_up_namespace
    lab_write_dns
    lab_start_dns
    lab_start_mx
    lab_postfix_config
    echo "127.0.0.1:2525 inet n - n - - smtpd" >>"$LAB_PF/etc/master.cf"
}

lab_postfix_start() {
    nsx "$POSTFIX" -c "$LAB_PF/etc" start >"$LAB_PF/start.log" 2>&1 ||
        lab_broken "Postfix did not start" "$LAB_PF/start.log" "$LAB_MAILLOG"
}

lab_postfix_send() { # RECIPIENT
    printf 'From: <lab@sender.lab>\nTo: <%s>\nSubject: TLS lab\n\nOne message for %s.\n' "$1" "$1" |
        MAIL_CONFIG="$LAB_PF/etc" nsx /usr/sbin/sendmail -f lab@sender.lab "$1" ||
        lab_broken "sendmail did not take the message for $1" "$LAB_MAILLOG"
}

# lab_attempted RECIPIENT...: each has had its delivery attempt ($waiting: those not yet).
lab_attempted() {
    waiting=""
    for recipient in "$@"; do
        grep -qF " to=<$recipient>, " "$LAB_MAILLOG" 2>/dev/null || waiting="$waiting $recipient"
    done
    [ -z "$waiting" ]
}

# Waits (at most 90 s) until each RECIPIENT has had its one delivery attempt.
lab_postfix_wait() { # RECIPIENT...
    wait_for "Postfix's delivery attempts" 90 lab_attempted "$@" && return 0
    nsx postqueue -c "$LAB_PF/etc" -p >"$LAB_PF/queue.txt" 2>&1
    lab_broken "no delivery attempt within 90 s for:$waiting" "$LAB_PF/queue.txt" "$LAB_MAILLOG" \
        "$LAB/dns.log" "$LAB/mx.log"
}

# An orderly stop, then the master's process group (it is a session leader).
lab_postfix_stop() {
    master=$(tr -d ' \n' 2>/dev/null <"$LAB_PF/spool/pid/master.pid")
    [ -n "$master" ] && kill -0 "$master" 2>/dev/null || return 0
    nsx "$POSTFIX" -c "$LAB_PF/etc" stop >>"$LAB_PF/start.log" 2>&1
    for _ in $(seq 1 50); do
        kill -0 "$master" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$master" 2>/dev/null
}
