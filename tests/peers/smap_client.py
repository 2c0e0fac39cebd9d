#!/usr/bin/env python3
"""smap_client.py - test client: socketmap lookups as tlsrpt-milter's
prefetch sends them, every request on one connection before any reply is
read; prints the replies, one a line. Each reply must come within 5 s.

Usage: smap_client.py SOCKET_PATH MAP KEY...
"""
import socket
import sys

REPLY_TIMEOUT_S = 5


def main():
    path, name, keys = sys.argv[1], sys.argv[2].encode(), [k.encode() for k in sys.argv[3:]]
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(REPLY_TIMEOUT_S)
    s.connect(path)
    s.sendall(b"".join(b"%d:%s %s," % (len(name) + 1 + len(k), name, k) for k in keys))
    data = b""
    replies = 0
    while replies < len(keys):
        colon = data.find(b":")
        if colon > 0 and len(data) >= colon + int(data[:colon]) + 2:
            length = int(data[:colon])
            print(data[colon + 1:colon + 1 + length].decode())
            data = data[colon + length + 2:]
            replies += 1
            continue
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("smap_client.py: connection closed after %d replies" % replies)
        data += chunk


if __name__ == "__main__":
    main()
