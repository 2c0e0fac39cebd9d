#!/usr/bin/env python3
"""journal_export.py - syslog lines (RFC 3164, UTC) to the systemd journal
export format, for systemd-journal-remote to write real journal files that
the log follower's journal source reads in tests.

usage: journal_export.py YEAR SHIFT_SECONDS BOOT_ID < syslog-lines > export
"""
import calendar
import re
import sys
import time

LINE = re.compile(r"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\S+) ([^\[:]+)(?:\[(\d+)\])?: (.*)$")
MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


def main():
    year, shift, boot = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    out = sys.stdout
    previous = 0
    for n, raw in enumerate(sys.stdin):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        mon, day, hh, mm, ss, host, ident, pid, msg = m.groups()
        seconds = calendar.timegm((year, MONTHS[mon], int(day), int(hh), int(mm), int(ss)))
        # Strictly increasing, as journald writes them.
        usec = max((seconds + shift) * 1000000 + n, previous + 1)
        previous = usec
        out.write("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n"
                  "_HOSTNAME=%s\nSYSLOG_FACILITY=2\nSYSLOG_IDENTIFIER=%s\n"
                  % (usec, usec - 1700000000000000, boot, host, ident))
        if pid:
            out.write("SYSLOG_PID=%s\n" % pid)
        out.write("MESSAGE=%s\n\n" % msg)


if __name__ == "__main__":
    main()
