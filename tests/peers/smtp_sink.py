#!/usr/bin/env python3
"""smtp_sink.py - a minimal SMTP server for tests, on 127.0.0.1 only.

Saves every message it accepts as DIR/N.eml with its envelope in DIR/N.env
and the MAIL and RCPT command lines exactly as received in DIR/N.cmd.
Recipients reject@... get 550 at RCPT, busy@... get 450. Writes the port it
listens on to --port-file. --delay-ms holds the reply to a message already
saved (a client killed then has delivered it without knowing); --hold-ms
holds it before saving, and a client gone by then has delivered nothing
(each held message is announced in DIR/held.N). Standard library only.
"""
import argparse
import itertools
import os
import socket
import socketserver
import threading
import time


class Handler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        self.reply("220 sink.test ESMTP")
        sender, rcpts, commands = None, [], []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-sink.test\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
                self.wfile.flush()
            elif verb == "MAIL":
                sender, rcpts = line.split(":", 1)[1].strip().split(" ")[0].strip("<>"), []
                commands = [line]
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                commands.append(line)
                rcpt = line.split(":", 1)[1].strip().strip("<>")
                if rcpt.startswith("reject@"):
                    self.reply("550 5.1.1 <%s>: Recipient address rejected" % rcpt)
                elif rcpt.startswith("busy@"):
                    self.reply("450 4.2.1 <%s>: try again later" % rcpt)
                else:
                    rcpts.append(rcpt)
                    self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = bytearray()
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                if self.server.hold and not self.held():
                    return
                with self.server.lock:  # concurrent sessions each get their own number
                    n = next(self.server.numbers)
                base = os.path.join(self.server.dir, str(n))
                with open(base + ".env", "w") as f:
                    f.write("from=%s\n" % sender)
                    for r in rcpts:
                        f.write("to=%s\n" % r)
                with open(base + ".cmd", "w") as f:
                    f.write("".join(c + "\n" for c in commands))
                with open(base + ".eml", "wb") as f:
                    f.write(bytes(data))
                time.sleep(self.server.delay)
                self.reply("250 2.0.0 queued as %d" % n)
            elif verb == "RSET":
                sender, rcpts = None, []
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("500 5.5.1 unknown command")


    def held(self):
        """Waits --hold-ms before taking a message; false: the client left meanwhile."""
        with self.server.lock:
            n = next(self.server.held_numbers)
        open(os.path.join(self.server.dir, "held.%d" % n), "w").close()
        time.sleep(self.server.hold)
        self.connection.setblocking(False)
        try:
            gone = self.connection.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        self.connection.setblocking(True)
        return not gone


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client killed mid-session (tests do that) is not news


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--hold-ms", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.dir = args.dir
    server.delay = args.delay_ms / 1000.0
    server.hold = args.hold_ms / 1000.0
    server.held_numbers = itertools.count()
    server.lock = threading.Lock()
    server.numbers = itertools.count()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
