#!/usr/bin/env python3
"""https_sink.py - an HTTPS server for tests, on 127.0.0.1 only.

Answers POSTs by path: /ok 200, /created 201, /fail 500, /busy 429,
/gone 404, /redirect 302; saves each request as DIR/N.body with its
Content-Type in DIR/N.type. Writes its port to --port-file. --delay-ms
holds the answer to a request already saved; --hold-ms holds a request
before it is saved and answered (a client killed then delivered nothing).

GETs serve MTA-STS policies: the answer for Host H is the file DIR/H, its
first line "STATUS CONTENT-TYPE" ("-": no Content-Type header), the rest
the body ("BIG" sends 70,000 bytes, "BIGSTREAM" the same without a
Content-Length, ending at the close); no file: 404. Each GET is appended to
DIR/requests.log ("HOST PATH") before the answer, so tests can count them.
--port 443 is for a network namespace of a test's own (bench/policy.sh).
"""
import argparse
import http.server
import itertools
import os
import ssl
import threading
import time

ANSWERS = {"/ok": 200, "/created": 201, "/fail": 500, "/busy": 429, "/gone": 404,
           "/redirect": 302}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        time.sleep(self.server.hold)
        with self.server.lock:  # concurrent requests each get their own number
            n = next(self.server.numbers)
        base = os.path.join(self.server.dir, str(n))
        with open(base + ".type", "w") as f:
            f.write("%s %s\n" % (self.path, self.headers.get("Content-Type", "")))
        with open(base + ".body", "wb") as f:
            f.write(body)
        time.sleep(self.server.delay)
        status = ANSWERS.get(self.path, 404)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "https://127.0.0.1/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        host = self.headers.get("Host", "").rsplit(":", 1)[0]
        with self.server.lock:
            with open(os.path.join(self.server.dir, "requests.log"), "a") as f:
                f.write("%s %s\n" % (host, self.path))
        path = os.path.join(self.server.dir, host)
        status, ctype, body, stream = 404, "text/plain", b"not found\n", False
        if "/" not in host and not host.startswith(".") and os.path.isfile(path):
            with open(path, "rb") as f:
                head, _, body = f.read().partition(b"\n")
            status, ctype = head.decode().split(" ", 1)
            stream = body.strip() == b"BIGSTREAM"
            if body.strip() in (b"BIG", b"BIGSTREAM"):
                body = b"version: STSv1\n" + b"x" * 70000
        self.send_response(int(status))
        if ctype != "-":
            self.send_header("Content-Type", ctype)
        if 300 <= int(status) < 400:
            self.send_header("Location", "https://127.0.0.1/elsewhere")
        if stream:
            self.close_connection = True  # the body ends when the connection does
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should past its limit

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client killed mid-request (tests do that) is not news


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--hold-ms", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.dir = args.dir
    server.delay = args.delay_ms / 1000.0
    server.hold = args.hold_ms / 1000.0
    server.lock = threading.Lock()
    server.numbers = itertools.count()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
