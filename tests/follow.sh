#!/bin/sh
# follow.sh - the daemon's log follower (log_sources) end to end: a mail log
# that grows in pieces while the daemon is killed with -9 and restarted,
# then rotated (renamed, with late writes to the old file), counts exactly
# what `tlsrpt ingest` counts of the same lines; a journal source (real
# journal files written by systemd-journal-remote) resumes at its cursor.
. "$(dirname "$0")/lib.sh"
export TZ=UTC
LOG="$T/mail.log"
# The lab log, dated today: the follower infers the year of these lines from
# the clock, and the day counted is then known (its lines are at 09:46-09:48).
DAY=$(date +%F)
LAB="$T/lab.log"
LC_ALL=C sed "s/^Nov 22 /$(LC_ALL=C date '+%b %e') /" "$top_srcdir/tests/data/postfix-3.7-lab.log" >"$LAB"

# counts CONFIG: the lab lines' day (today) as counter_table prints it.
counts() {
    counter_table "$1" "$DAY"
}

# ref_state NAME: a fresh state directory and config for a reference count.
ref_state() {
    ref="$T/ref.$1"
    rm -rf "$ref"
    mkdir -p "$ref"
    printf 'state_directory = %s\nruntime_directory = %s\n' "$ref/state" "$ref/run" >"$ref/cf"
}

# reference NAME FILE...: `tlsrpt ingest` of the files as one stream.
reference() {
    ref_state "$1"; shift
    TLSRPTD_CONFIG="$ref/cf" "$TLSRPT" ingest --format postfix "$@" >/dev/null 2>&1
    counts "$ref/cf"
}

# reference_apart NAME FILE...: copies far apart in time, so that no session
# carries over from one to the next: one ingest each.
reference_apart() {
    ref_state "$1"; shift
    for file in "$@"; do
        TLSRPTD_CONFIG="$ref/cf" "$TLSRPT" ingest --format postfix "$file" >/dev/null 2>&1
    done
    counts "$ref/cf"
}

# status_field NAME: one line of `tlsrpt status`.
status_field() {
    "$TLSRPT" status | sed -n "s/^$1 *//p"
}

# at_offset N: the follower's read position is offset N.
at_offset() {
    case $(status_field logfollow.1.position) in *" offset $1") return 0 ;; esac
    return 1
}

# in_rotated_at N: reading the renamed file (no new one there yet), at offset N.
in_rotated_at() {
    case $(status_field logfollow.1.position) in *" offset $1"|*" offset $1 (the rotated file)") return 0 ;; esac
    return 1
}

# wait_offset N: until the follower's read position is offset N.
wait_offset() {
    wait_for "the follower to reach offset $1" 60 at_offset "$1" ||
        { echo "it is at: $(status_field logfollow.1.position)"; return 1; }
}

# field_is NAME VALUE: one line of `tlsrpt status` has this value.
field_is() {
    [ "$(status_field "$1")" = "$2" ]
}

restart_daemon() {
    cat "$T/daemon.log" >>"$T/daemons.log"
    start_daemon
}

# --- a file source, kill -9 while it grows, then rotation ---
write_config "log_sources = postfix:file:$LOG" "collector_socket ="
start_daemon
assert_eq "status names the source" "postfix:file:$LOG" "$(status_field logfollow.1.source)"
assert_match "a file not there yet is waited for" "waiting for $LOG to appear" \
    "$(status_field logfollow.1.state)"

size=$(wc -c <"$LAB")
at=0
round=0
while [ "$at" -lt "$size" ]; do
    piece=$(( ($(od -An -N2 -tu2 /dev/urandom) % 900) + 1 ))
    tail -c +$((at + 1)) "$LAB" | head -c "$piece" >>"$LOG"
    at=$((at + piece))
    round=$((round + 1))
    # Every third piece: kill -9 at a random moment of reading it, then restart.
    if [ $((round % 3)) -eq 0 ]; then
        sleep "0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 10 ))"
        kill -9 "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null
        restart_daemon
    fi
done
wait_offset "$size"
expected=$(reference once "$LAB")
assert_counts "killed $((round / 3)) times while the log grew: counted exactly once" \
    "$expected" "$(counts "$CONF")"

# Rotation: renamed away; the writer appends to the old file a little longer.
mv "$LOG" "$LOG.1"
# Half of it, up to a line's end: the position shown is that of the last whole line.
half=$(head -n $(( $(wc -l <"$LAB") / 2 )) "$LAB" | wc -c)
head -c "$half" "$LAB" >>"$LOG.1"
wait_for "the follower to read on in the renamed file" 60 in_rotated_at $((size + half))
tail -c +$((half + 1)) "$LAB" >>"$LOG.1"
cp "$LAB" "$LOG"
wait_offset "$size"
case $(status_field logfollow.1.position) in
*"rotated"*) fail "still on the rotated file" ;;
esac
expected=$(reference thrice "$LAB" "$LAB" "$LAB")
assert_counts "after a rename rotation with late writes: three copies counted exactly" \
    "$expected" "$(counts "$CONF")"
assert_match "the rotation is logged" "rotated: now reading the new $LOG" "$(cat "$T/daemon.log")"

# A clean stop logs the totals and the position; a restart goes on from there.
stop_daemon
assert_match "the totals are logged at stop" "log follower: postfix:file:$LOG: .* TLS sessions counted" \
    "$(cat "$T/daemon.log")"
restart_daemon
cat "$LAB" >>"$LOG"
wait_offset $((size * 2))
expected=$(reference four "$LAB" "$LAB" "$LAB" "$LAB")
assert_counts "restarted after a clean stop: four copies" "$expected" "$(counts "$CONF")"
stop_daemon

# --- what an administrator gets wrong ---
rm -rf "$T/state"
write_config "log_sources = postfix:file:mail.log"
out=$("$TLSRPTD" -f -c "$CONF" -o "tlsrptd_user=$(test_user)" 2>&1); status=$?
assert_eq "a relative log path: the daemon does not start" 1 "$status"
assert_match "and says where and what" "$CONF: log_sources: log source \"postfix:file:mail.log\": use FORMAT:file:/absolute/path" "$out"
if [ "$(id -u)" -eq 0 ]; then
    # A log the daemon's user cannot read: said in the status, with the fix that works.
    # After `postfix logrotate` the new log is 0600 root: joining a group would not help.
    : >"$T/secret.log"
    chmod 600 "$T/secret.log"
    chgrp root "$T/secret.log"
    write_config "log_sources = postfix:file:$T/secret.log" "collector_socket ="
    restart_daemon
    assert_eq "a log only its owner may read: the status names its mode and owner and the fix" \
        "error: cannot read $T/secret.log: Permission denied (it is mode 0600, owner root, group root: only its owner may read it; make it readable by a group of the daemon's user, e.g. chgrp adm and chmod 0640, and have it created so after rotation: logrotate \"create 0640 root adm\", rsyslog \$FileCreateMode and \$FileGroup, Postfix maillog_file_permissions)" \
        "$(status_field logfollow.1.state)"
    assert_match "and logged" "cannot read $T/secret.log" "$(cat "$T/daemon.log")"
    if getent group adm >/dev/null && ! id -Gn "$(test_user)" | grep -qw adm; then
        chgrp adm "$T/secret.log"
        chmod 640 "$T/secret.log"
        expected="error: cannot read $T/secret.log: Permission denied (it is mode 0640, group adm, and the daemon's user is not in group adm: usermod -a -G adm USER, then restart tlsrptd)"
        wait_for "the follower to look again" 60 field_is logfollow.1.state "$expected"
        assert_eq "a group-readable log: the status says to join the group" "$expected" \
            "$(status_field logfollow.1.state)"
    fi
    chmod 644 "$T/secret.log"
    tail -n 20 "$LAB" >>"$T/secret.log"
    wait_for "the follower to read the log" 60 field_is logfollow.1.state following
    assert_eq "readable again: followed from its start" following "$(status_field logfollow.1.state)"
    stop_daemon
fi

# --- a journal source ---
JR=/lib/systemd/systemd-journal-remote
if [ ! -x "$JR" ]; then
    echo "SKIP: the journal part: $JR not found (apt-get install systemd-journal-remote)"
    finish
fi
J="$T/journal"
mkdir -p "$J"
chmod 755 "$J"
boot=0123456789abcdef0123456789abcdef
# journal_file NAME SHIFT: the lab log as a journal file, its times shifted by SHIFT seconds.
journal_file() {
    python3 "$top_srcdir/tests/peers/journal_export.py" "$(date +%Y)" "$2" "$boot" <"$LAB" >"$T/$1.export"
    "$JR" --output="$J/$1.journal" "$T/$1.export" >/dev/null 2>&1
    chmod 644 "$J/$1.journal"
}
journal_file first 0
rm -rf "$T/state"
write_config "log_sources = postfix:journal:$J" "collector_socket ="
restart_daemon
assert_match "a new journal source starts at its end" "cursor " "$(status_field logfollow.1.position)"
journal_file second 3600
wait_for "the follower to read 264 journal lines" 60 field_is logfollow.1.lines 264
expected=$(reference once "$LAB")
assert_counts "journal: only the entries after the start are counted" "$expected" "$(counts "$CONF")"
stop_daemon
journal_file third 7200
restart_daemon
wait_for "the follower to read 264 journal lines" 60 field_is logfollow.1.lines 264
expected=$(reference_apart twice "$LAB" "$LAB")
assert_counts "journal: restarted at its cursor, the new entries (an hour later) once" "$expected" "$(counts "$CONF")"
stop_daemon
finish
