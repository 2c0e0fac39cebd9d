# pki.sh - the certificates of tests/lab.sh, made with openssl at test time
# (nothing secret is committed): a lab CA the sender trusts, a rogue CA it
# does not, and one server certificate per fault. Sourced; needs $LAB_PKI.

# EC keys: much faster to make than RSA, and any TLS version can use them.
pki_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$LAB_PKI/$1.key" 2>/dev/null
}

pki_ca() { # NAME SUBJECT
    pki_key "$1" &&
        openssl req -x509 -new -key "$LAB_PKI/$1.key" -days 30 -subj "$2" \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign -out "$LAB_PKI/$1.crt" 2>/dev/null
}

# pki_server NAME ISSUER(CA name or "self") VALIDITY(current|expired) DNS-NAME...
# Leaves NAME.key and NAME.pem (the certificate followed by its issuer's).
pki_server() {
    name=$1 issuer=$2 validity=$3
    shift 3
    san=""
    for dns in "$@"; do san="${san:+$san,}DNS:$dns"; done
    pki_key "$name" || return 1
    printf '%s\n' "basicConstraints = CA:FALSE" "keyUsage = digitalSignature" \
        "extendedKeyUsage = serverAuth" "subjectAltName = $san" >"$LAB_PKI/$name.ext"
    openssl req -new -key "$LAB_PKI/$name.key" -subj "/O=tlsrpt lab/CN=$1" \
        -out "$LAB_PKI/$name.csr" 2>/dev/null || return 1
    if [ "$issuer" = self ]; then
        openssl x509 -req -in "$LAB_PKI/$name.csr" -key "$LAB_PKI/$name.key" -days 30 \
            -extfile "$LAB_PKI/$name.ext" -out "$LAB_PKI/$name.pem" 2>/dev/null
        return
    fi
    if [ "$validity" = expired ]; then
        # `openssl x509 -req` (3.0) cannot date a certificate in the past; `openssl ca` can.
        mkdir -p "$LAB_PKI/ca-$name" && : >"$LAB_PKI/ca-$name/index" &&
            printf '%s\n' "[ca]" "default_ca = lab" "[lab]" "database = $LAB_PKI/ca-$name/index" \
                "new_certs_dir = $LAB_PKI/ca-$name" "serial = $LAB_PKI/ca-$name/serial" \
                "certificate = $LAB_PKI/$issuer.crt" "private_key = $LAB_PKI/$issuer.key" \
                "default_md = sha256" "policy = any" "[any]" "commonName = supplied" \
                "organizationName = optional" >"$LAB_PKI/ca-$name/ca.cnf" &&
            echo 01 >"$LAB_PKI/ca-$name/serial" &&
            openssl ca -batch -notext -config "$LAB_PKI/ca-$name/ca.cnf" \
                -startdate 20200101000000Z -enddate 20210101000000Z \
                -extfile "$LAB_PKI/$name.ext" -in "$LAB_PKI/$name.csr" \
                -out "$LAB_PKI/$name.crt" 2>/dev/null || return 1
    else
        openssl x509 -req -in "$LAB_PKI/$name.csr" -CA "$LAB_PKI/$issuer.crt" \
            -CAkey "$LAB_PKI/$issuer.key" -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
            -days 30 -extfile "$LAB_PKI/$name.ext" -out "$LAB_PKI/$name.crt" 2>/dev/null || return 1
    fi
    cat "$LAB_PKI/$name.crt" "$LAB_PKI/$issuer.crt" >"$LAB_PKI/$name.pem"
}

# pki_tlsa NAME: the "3 1 1" TLSA data (SHA-256 of the public key) of NAME.pem.
pki_tlsa() {
    openssl x509 -in "$LAB_PKI/$1.pem" -noout -pubkey |
        openssl pkey -pubin -outform DER 2>/dev/null | openssl dgst -sha256 -binary |
        od -An -tx1 | tr -d ' \n'
}
