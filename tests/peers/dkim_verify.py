#!/usr/bin/python3
"""dkim_verify.py MESSAGE SELECTOR DOMAIN KEYFILE - verifies the DKIM signature
of MESSAGE with dkimpy (Debian python3-dkim), serving the key record for
SELECTOR._domainkey.DOMAIN from the public half of the PEM private KEYFILE
instead of DNS. Prints "pass" or "fail" and exits 0 or 1."""
import base64
import subprocess
import sys

import dkim

message_path, selector, domain, key_path = sys.argv[1:5]
der = subprocess.run(["openssl", "pkey", "-in", key_path, "-pubout", "-outform", "DER"],
                     check=True, capture_output=True).stdout
if b"\x2b\x65\x70" in der[:16]:  # OID 1.3.101.112: Ed25519, the raw key is the last 32 bytes
    record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:])
else:
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
name = ("%s._domainkey.%s." % (selector, domain)).encode()


def dnsfunc(qname, timeout=5):
    return record if qname.rstrip(b".") == name.rstrip(b".") else None


with open(message_path, "rb") as f:
    ok = dkim.verify(f.read(), dnsfunc=dnsfunc)
print("pass" if ok else "fail")
sys.exit(0 if ok else 1)
