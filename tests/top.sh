#!/bin/sh
# top.sh - `tlsrpt top` on tables filled by the test (no daemon): the exact
# --once text and --json, sorting and filtering, and the live view on a
# pseudo-terminal: keys sort and filter, q, SIGTERM and SIGINT all leave the
# terminal as it was (line mode, echo, the normal screen, the cursor shown).
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
FILL="$top_builddir/tests/fill_counters"
DAY=2026-03-02
BEFORE=2026-03-01
write_config "dns_resolvers = 127.0.0.1:1"
mkdir -p "$T/state/counters"
fill() { # DAY, events as "DOMAIN POLICY OUTCOME COUNT" lines
    awk '{printf "%s\t-\t%s\t%s\t%s\t-\t-\t%s\n", $1, $2, $3, ($3 == "success" ? "-" : "mx." $1), $4}' |
        "$FILL" "$T/state/counters" "$1" || fail "fill_counters"
}
# d.example: a tie between two result types is shown in the registry's order.
fill "$DAY" <<'END'
a.example sts success 75
a.example sts validation-failure 20
a.example sts certificate-expired 5
b.example no-policy-found success 10
d.example tlsa success 30
d.example tlsa tlsa-invalid 6
d.example tlsa dnssec-invalid 6
d.example tlsa starttls-not-supported 3
d.example tlsa certificate-expired 1
END
fill "$BEFORE" <<'END'
a.example sts success 90
a.example sts validation-failure 10
c.example tlsa success 4
d.example tlsa success 40
END

out=$("$TLSRPT" top --once --day "$DAY")
assert_eq "--once: every domain of both days, by sessions" \
"$DAY (UTC) against $BEFORE: 4 of 4 domains, by sessions
DOMAIN     SESSIONS  FAILED  SUCCESS  BEFORE  SUCCESS-BEFORE  CHANGE  TOP FAILURES
a.example  100       25      75.0%    100     90.0%           -15.0   validation-failure 20, certificate-expired 5
d.example  46        16      65.2%    40      100.0%          -34.8   tlsa-invalid 6, dnssec-invalid 6, starttls-not-supported 3
b.example  10        0       100.0%   0       -               new     -
c.example  0         0       -        4       100.0%          -       -" "$out"
assert_eq "--sort r: worst success rate first, no sessions last" "d.example a.example b.example c.example" \
    "$("$TLSRPT" top --once --day "$DAY" --sort r | awk 'NR > 2 {printf "%s ", $1}' | sed 's/ $//')"
assert_eq "--sort f: most failures first" "a.example d.example b.example c.example" \
    "$("$TLSRPT" top --once --day "$DAY" --sort f | awk 'NR > 2 {printf "%s ", $1}' | sed 's/ $//')"
assert_eq "--sort d: by domain" "a.example b.example c.example d.example" \
    "$("$TLSRPT" top --once --day "$DAY" --sort d | awk 'NR > 2 {printf "%s ", $1}' | sed 's/ $//')"
assert_eq "--filter with a glob" "$DAY (UTC) against $BEFORE: 2 of 4 domains matching \"[bc].*\", by sessions
b.example c.example" \
    "$("$TLSRPT" top --once --day "$DAY" --filter '[bc].*' | awk 'NR == 1 {print} NR > 2 {printf "%s ", $1}' | sed 's/ $//')"

out=$("$TLSRPT" top --json --day "$DAY" --filter d.ex)
assert_eq "--json: exact, filtered by a substring" '{
  "day": "'"$DAY"'",
  "previous_day": "'"$BEFORE"'",
  "sort": "sessions",
  "filter": "d.ex",
  "domains": [
    {
      "domain": "d.example",
      "sessions": 46,
      "failures": 16,
      "success_rate": 0.6522,
      "previous_sessions": 40,
      "previous_failures": 0,
      "previous_success_rate": 1.0000,
      "change": -0.3478,
      "top_failures": [
        {
          "result-type": "tlsa-invalid",
          "count": 6
        },
        {
          "result-type": "dnssec-invalid",
          "count": 6
        },
        {
          "result-type": "starttls-not-supported",
          "count": 3
        }
      ]
    }
  ]
}' "$out"
assert_eq "a day without tables: no domains" "2026-01-02 (UTC) against 2026-01-01: 0 of 0 domains, by sessions
DOMAIN  SESSIONS  FAILED  SUCCESS  BEFORE  SUCCESS-BEFORE  CHANGE  TOP FAILURES" \
    "$("$TLSRPT" top --once --day 2026-01-02 | sed 's/  *$//')"
out=$("$TLSRPT" top --day "$DAY" </dev/null 2>&1); status=$?
assert_eq "the live view without a terminal says what to use" \
    "1 tlsrpt: fatal: top: the live view needs a terminal; use --once or --json in scripts" \
    "$status $out"

# The live view on a pseudo-terminal, driven by keys and signals.
cat >"$T/live_view.py" <<'PY'
import os, pty, select, signal, sys, termios, time
tlsrpt, day, how = sys.argv[1], sys.argv[2], sys.argv[3]
master, slave = pty.openpty()
before = termios.tcgetattr(slave)
import fcntl, struct
def resize(rows, columns):
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
resize(24, 200)
pid = os.fork()
if pid == 0:
    os.setsid()
    os.close(master)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.execv(tlsrpt, [tlsrpt, "top", "--day", day, "--interval", "1"])
screen = b""
def read_until(text, limit=60):
    global screen
    deadline = time.monotonic() + limit
    while text not in screen:
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for %r; screen: %r" % (text, screen[-400:]))
        if select.select([master], [], [], 0.5)[0]:
            try:
                screen += os.read(master, 65536)
            except OSError:
                break
def shown(text):
    global screen
    screen = b""
    read_until(text)
    print("shown:", text.decode().replace("\x1b", "ESC"))
read_until(b"by sessions")
print("alternate screen, cursor hidden:", b"\x1b[?1049h\x1b[?25l" in screen)
print("raw:", not (termios.tcgetattr(slave)[3] & (termios.ICANON | termios.ECHO)))
if how == "keys":
    os.write(master, b"f"); shown(b"by failures")
    os.write(master, b"/b.ex\r"); shown(b"1 of 4 domains matching \"b.example\"".replace(b"b.example", b"b.ex"))
    os.write(master, b"r"); shown(b"by success rate")
    resize(30, 120)
    os.kill(pid, signal.SIGWINCH); shown(b"\x1b[30;1H\x1b[7msort:")
    os.write(master, b"q")
elif how == "TERM":
    os.kill(pid, signal.SIGTERM)
else:
    os.write(master, b"\x03")  # ^C: the terminal sends SIGINT
deadline = time.monotonic() + 60
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        sys.exit("top did not exit")
    try:
        screen += os.read(master, 65536) if select.select([master], [], [], 0.1)[0] else b""
    except OSError:
        pass
# What it wrote before exiting may still wait in the pty.
while select.select([master], [], [], 0.2)[0]:
    try:
        data = os.read(master, 65536)
    except OSError:
        break
    if not data:
        break
    screen += data
print("exit:", os.waitstatus_to_exitcode(status))
print("normal screen, cursor shown:", screen.endswith(b"\x1b[?25h\x1b[?1049l"))
print("terminal restored:", termios.tcgetattr(slave) == before)
PY
for how in keys TERM INT; do
    out=$(python3 "$T/live_view.py" "$TLSRPT" "$DAY" "$how" 2>&1)
    case $how in
    keys) shown='shown: by failures
shown: 1 of 4 domains matching "b.ex"
shown: by success rate
shown: ESC[30;1HESC[7msort:
' ;;
    *) shown= ;;
    esac
    assert_eq "live view, left by $how" "alternate screen, cursor hidden: True
raw: True
${shown}exit: 0
normal screen, cursor shown: True
terminal restored: True" "$out"
done
finish
