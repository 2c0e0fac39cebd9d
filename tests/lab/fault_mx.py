#!/usr/bin/env python3
"""fault_mx.py - the receiving MX hosts of tests/lab.sh, each with one TLS fault.

One process serves every host listed in the --hosts file, one line each:
    NAME ADDRESS MODE [CERTIFICATE_CHAIN KEY]
on ADDRESS port 25 (inside the test's network namespace). MODE decides what
happens to STARTTLS:
    tls       offered; handshake with the given certificate (TLS 1.2 or later)
    tls10     offered; the server speaks TLS 1.0 only
    plain     not offered (502 if the client asks anyway)
    refuse    offered, then answered "454 4.7.0"
    garbage   offered, "220" and then bytes that are not TLS
    reject    not offered; every RCPT TO answered "550 5.1.1" (a bounce after the relay)
Mail is accepted and thrown away. One line per session goes to standard
output. When every socket is bound, the --ready file is created.
Standard library only.
"""
import argparse
import socketserver
import ssl
import sys
import threading
import warnings

PRINT_LOCK = threading.Lock()


def say(line):
    with PRINT_LOCK:
        print(line, flush=True)


def tls_context(mode, chain, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if mode == "tls10":
        # TLS 1.0 needs the lowest security level of OpenSSL 3; deprecated on purpose.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.set_ciphers("ALL:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(chain, key)
    return context


class Session(socketserver.StreamRequestHandler):
    timeout = 30  # a stuck client must not keep the test waiting forever

    def reply(self, text):
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def switch_to_tls(self):
        tls = self.server.context.wrap_socket(self.connection, server_side=True)
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = tls.makefile("wb")
        return "%s %s" % (tls.version(), tls.cipher()[0])

    def drain(self):
        """Reads until the client hangs up, so that it sees what was sent, not a reset."""
        try:
            while self.connection.recv(4096):
                pass
        except OSError:
            pass

    def starttls(self, state):
        mode = self.server.mode
        if mode in ("plain", "reject") or state["tls"]:
            self.reply("502 5.5.1 STARTTLS not offered")
            return True
        if mode == "refuse":
            self.reply("454 4.7.0 TLS not available due to temporary reason")
            state["note"] = "answered 454 to STARTTLS"
            return True
        self.reply("220 2.0.0 Ready to start TLS")
        if mode == "garbage":
            self.wfile.write(b"\x00\x01 not a TLS record, sorry\r\n" * 8)
            self.wfile.flush()
            self.drain()
            state["note"] = "sent garbage after STARTTLS"
            return False
        try:
            state["tls"] = self.switch_to_tls()
        except (ssl.SSLError, OSError) as error:
            state["note"] = "handshake failed: %s" % error
            return False
        return True

    def handle(self):
        name, mode = self.server.name, self.server.mode
        state = {"tls": None, "note": "", "messages": 0}
        try:
            self.reply("220 %s ESMTP fault_mx (%s)" % (name, mode))
            while True:
                line = self.rfile.readline(2048)
                if not line:
                    break
                verb = line.decode("latin-1").strip().split(" ", 1)[0].upper()
                if verb == "EHLO":
                    lines = [name, "PIPELINING", "8BITMIME"]
                    if mode not in ("plain", "reject") and not state["tls"]:
                        lines.append("STARTTLS")
                    for i, text in enumerate(lines):
                        self.reply("250%s%s" % (" " if i == len(lines) - 1 else "-", text))
                elif verb == "STARTTLS":
                    if not self.starttls(state):
                        break
                elif verb == "DATA":
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    while True:
                        data = self.rfile.readline(65536)
                        if not data or data.rstrip(b"\r\n") == b".":
                            break
                    state["messages"] += 1
                    self.reply("250 2.0.0 Ok: discarded")
                elif verb == "QUIT":
                    self.reply("221 2.0.0 Bye")
                    break
                elif verb == "RCPT" and mode == "reject":
                    address = line.decode("latin-1").strip()[8:].strip()
                    self.reply("550 5.1.1 %s: Recipient address rejected: User unknown" % address)
                elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                    self.reply("250 2.0.0 Ok")
                else:
                    self.reply("502 5.5.2 Command not recognized")
        except (OSError, ssl.SSLError) as error:
            state["note"] = state["note"] or "connection error: %s" % error
        say("%s %s: session tls=%s messages=%d %s" % (name, mode, state["tls"] or "none",
                                                     state["messages"], state["note"]))

    def finish(self):
        # A client that gave up on the certificate closes without a TLS goodbye.
        try:
            super().finish()
        except (OSError, ssl.SSLError):
            pass


class Host(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--port", type=int, default=25)
    args = parser.parse_args()
    hosts = []
    with open(args.hosts) as spec:
        for line in spec:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            name, address, mode = fields[:3]
            host = Host((address, args.port), Session)
            host.name, host.mode = name, mode
            host.context = tls_context(mode, *fields[3:5]) if mode in ("tls", "tls10") else None
            hosts.append(host)
    for host in hosts:
        threading.Thread(target=host.serve_forever, daemon=True).start()
        say("%s listening on %s:%d (%s)" % (host.name, *host.server_address, host.mode))
    open(args.ready, "w").close()
    threading.Event().wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
