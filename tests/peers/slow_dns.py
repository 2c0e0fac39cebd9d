#!/usr/bin/env python3
"""slow_dns.py - test peer: a DNS server on 127.0.0.1 that answers every
query after a fixed delay, many at once, so a test can tell concurrent
lookups from serial ones by what the server saw, not by the clock alone.

Answers, for TXT at _smtp._tls.NAME:
  NAME starting "none"  NXDOMAIN (with an SOA, minimum 300)
  NAME starting "temp"  SERVFAIL
  anything else         one record "v=TLSRPTv1; rua=mailto:tls@NAME", TTL 600
Other types get NODATA.
MTA-STS, for NAME starting "sts" (tests/prefetch.sh):
  TXT at _mta-sts.NAME  "v=STSv1; id=1;", TTL 600
  A at mta-sts.NAME     127.0.0.1, TTL 600
  anything else there   NODATA (so NAME has the implicit MX NAME)
Other names: NXDOMAIN.

Usage: slow_dns.py DELAY_MS PORT_FILE LOG_FILE
Writes its port to PORT_FILE once bound; appends one line per answer to
LOG_FILE: "QNAME IN_FLIGHT" (queries received and not yet answered, this
one included), and keeps running until killed. Bounded: it stops by itself
after 10 minutes or 1,000,000 queries.
"""
import asyncio
import os
import struct
import sys

LIFETIME_S = 600
MAX_QUERIES = 1_000_000


def read_name(packet, offset):
    labels = []
    while True:
        if offset >= len(packet):
            raise ValueError("name runs past the packet")
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        if length > 63:
            raise ValueError("compressed or bad label in a question")
        labels.append(packet[offset:offset + length].decode("ascii"))
        offset += length


def encode_name(name):
    out = b""
    for label in name.split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def txt_record(text):
    rdata = bytes([len(text)]) + text
    return b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 600, len(rdata)) + rdata


def sts_part(qname):
    """"_mta-sts.", "mta-sts." or "" for the MTA-STS names of a NAME starting "sts", else None."""
    for prefix in ("_mta-sts.", "mta-sts.", ""):
        if qname.startswith(prefix) and qname[len(prefix):].startswith("sts"):
            return prefix
    return None


def answer(packet):
    """The reply to one query, or None for something that is not one."""
    if len(packet) < 12:
        return None, None
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000 or qdcount != 1:
        return None, None
    qname, offset = read_name(packet, 12)
    qtype, qclass = struct.unpack("!HH", packet[offset:offset + 4])
    question = packet[12:offset + 4]
    lower = qname.lower()
    prefix = "_smtp._tls."
    name = lower[len(prefix):] if lower.startswith(prefix) else ""
    rcode, answers, authority = 0, [], []
    sts = sts_part(lower)
    if sts is not None:
        if sts == "_mta-sts." and qtype == 16:
            answers.append(txt_record(b"v=STSv1; id=1;"))
        elif sts == "mta-sts." and qtype == 1:
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 600, 4) + bytes([127, 0, 0, 1]))
    elif name.startswith("temp"):
        rcode = 2
    elif name.startswith("none") or not name:
        rcode = 3
    elif qtype == 16:
        answers.append(txt_record(("v=TLSRPTv1; rua=mailto:tls@%s" % name).encode("ascii")))
    if rcode == 3 or (rcode == 0 and not answers):
        soa = encode_name("example") + encode_name("hostmaster.example") + struct.pack(
            "!IIIII", 1, 3600, 600, 86400, 300)
        authority.append(encode_name("example") +
                         struct.pack("!HHIH", 6, 1, 300, len(soa)) + soa)
    header = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                         len(answers), len(authority), 0)
    return header + question + b"".join(answers) + b"".join(authority), qname


class Server(asyncio.DatagramProtocol):
    def __init__(self, delay, log):
        self.delay = delay
        self.log = log
        self.in_flight = 0
        self.queries = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        try:
            reply, qname = answer(data)
        except (ValueError, struct.error, UnicodeDecodeError):
            return
        if reply is None or self.queries >= MAX_QUERIES:
            return
        self.queries += 1
        self.in_flight += 1
        seen = self.in_flight
        asyncio.get_running_loop().call_later(self.delay, self.send, reply, addr, qname, seen)

    def send(self, reply, addr, qname, seen):
        self.in_flight -= 1
        self.log.write("%s %d\n" % (qname.lower(), seen))
        self.log.flush()
        self.transport.sendto(reply, addr)


async def main():
    delay_ms, port_file, log_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    loop = asyncio.get_running_loop()
    with open(log_file, "a") as log:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: Server(delay_ms / 1000.0, log), local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        with open(port_file + ".tmp", "w") as out:
            out.write("%d\n" % port)
        os.rename(port_file + ".tmp", port_file)
        await asyncio.sleep(LIFETIME_S)
        transport.close()


if __name__ == "__main__":
    asyncio.run(main())
