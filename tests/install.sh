#!/bin/sh
# install.sh - `make install` into a staging root: the exact files (programs,
# man pages, the config in $(sysconfdir)/tlsrptd only when none is there, the
# systemd unit, sysusers.d and tmpfiles.d), the config path the programs read
# by default is the installed one, `systemd-analyze verify` accepts the unit,
# and `make uninstall` removes everything but an edited config.
. "$(dirname "$0")/lib.sh"
# A make of its own: not the jobserver or -w of the `make check` that runs this.
MAKE="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make}"
D="$T/root"

# The installation directories as make expands them (empty: not installed).
dirs=$(printf 'print-dirs:\n\t@echo "DIRS|$(sbindir)|$(mandir)|$(sysconfdir)|$(docdir)|$(systemdsystemunitdir)|$(sysusersdir)|$(tmpfilesdir)"\n' |
    $MAKE -s --no-print-directory -C "$top_builddir" -f Makefile -f - print-dirs | grep '^DIRS|')
IFS='|' read -r _ sbindir mandir sysconfdir docdir unitdir sysusersdir tmpfilesdir <<EOD
$dirs
EOD
[ -n "$sbindir" ] || { echo "FAIL: could not read the installation directories"; exit 1; }

$MAKE -s -C "$top_builddir" install DESTDIR="$D" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log"; echo "FAIL: make install"; exit 1; }
expected=$(for f in "$sbindir/tlsrpt" "$sbindir/tlsrptd" "$mandir/man1/tlsrpt.1" \
    "$mandir/man5/tlsrptd.cf.5" "$mandir/man8/tlsrptd.8" "$sysconfdir/tlsrptd/tlsrptd.cf" \
    "$sbindir/tlsrpt-milter" "$mandir/man8/tlsrpt-milter.8" \
    ${unitdir:+"$unitdir/tlsrpt-milter.service"} \
    "$docdir/tlsrptd.cf" ${unitdir:+"$unitdir/tlsrptd.service"} \
    ${sysusersdir:+"$sysusersdir/tlsrptd.conf"} ${tmpfilesdir:+"$tmpfilesdir/tlsrptd.conf"}; do
    echo "$f"; done | sort)
installed=$(cd "$D" && find . ! -type d | sed 's|^\.||' | sort)
assert_eq "make install puts exactly these files" "$expected" "$installed"
assert_eq "the config is the sample" "" "$(cmp "$top_srcdir/conf/tlsrptd.cf" "$D$sysconfdir/tlsrptd/tlsrptd.cf" 2>&1)"

# The programs read the installed config by default; the pages and the unit name it.
default=$(env -u TLSRPTD_CONFIG "$D$sbindir/tlsrpt" conf --man | sed -n '/^\.SH FILES/{n;n;p;}' |
    sed 's/\\-/-/g')
assert_eq "tlsrpt's default config is where make install put it" \
    "$sysconfdir/tlsrptd/tlsrptd.cf" "$default"
assert_match "tlsrptd(8) names it under FILES" "^\.It Pa $sysconfdir/tlsrptd/tlsrptd.cf\$" \
    "$(cat "$D$mandir/man8/tlsrptd.8")"
if [ -n "$unitdir" ]; then
    assert_match "the unit starts the installed daemon" "^ExecStart=$sbindir/tlsrptd\$" \
        "$(cat "$D$unitdir/tlsrptd.service")"
fi
if [ -n "$sysusersdir" ]; then
    assert_eq "sysusers.d makes the daemon user" \
        'u tlsrpt - "SMTP TLS Reporting daemon" /var/lib/tlsrptd' \
        "$(grep -v '^#' "$D$sysusersdir/tlsrptd.conf")"
fi

# An existing config is the admin's: a second install keeps it.
echo "organization_name = Edited Inc." >>"$D$sysconfdir/tlsrptd/tlsrptd.cf"
edited=$(cat "$D$sysconfdir/tlsrptd/tlsrptd.cf")
$MAKE -s -C "$top_builddir" install DESTDIR="$D" >"$T/install2.log" 2>&1
assert_match "a second install says it keeps the config" "keeping the existing $D$sysconfdir/tlsrptd/tlsrptd.cf" \
    "$(cat "$T/install2.log")"
assert_eq "and keeps it" "$edited" "$(cat "$D$sysconfdir/tlsrptd/tlsrptd.cf")"

# systemd-analyze verify: the unit's syntax, its commands and man pages, in the staging root.
if [ -z "$unitdir" ]; then
    echo "note: configured without a systemd unit directory: no unit to verify"
elif ! command -v systemd-analyze >/dev/null; then
    verify_skipped="systemd-analyze not found (apt-get install systemd): the unit is not verified"
else
    # The targets the unit depends on, and kill for ExecReload, from this machine.
    mkdir -p "$D/lib/systemd/system" "$D/etc/systemd/system" "$D/bin"
    cp -an /lib/systemd/system/*.target /lib/systemd/system/*.slice "$D/lib/systemd/system/" 2>/dev/null
    cp /bin/kill "$D/bin/kill"
    # A unit directory systemd does not search (a staging prefix): verify copies in /etc.
    case $unitdir in
    /lib/systemd/system | /usr/lib/systemd/system | /usr/local/lib/systemd/system | /etc/systemd/system)
        verify_dir=$unitdir ;;
    *)  verify_dir=/etc/systemd/system
        cp "$D$unitdir"/*.service "$D$verify_dir/" ;;
    esac
    if [ ! -f "$D/lib/systemd/system/sysinit.target" ]; then
        verify_skipped="no /lib/systemd/system/*.target on this machine to verify the unit against"
    else
        # Every unit installed (tlsrptd.service and any other program's).
        for unit in $(cd "$D$unitdir" && ls *.service); do
            out=$(MANPATH="$D$mandir" systemd-analyze verify --root="$D" "$verify_dir/$unit" 2>&1)
            assert_eq "systemd-analyze verify accepts $unit (no output, status 0)" "0 " "$? $out"
        done
        # A broken copy is refused: the check can fail.
        sed 's/^Type=notify$/Type=notifyy/' "$D$unitdir/tlsrptd.service" >"$D$verify_dir/broken.service"
        out=$(MANPATH="$D$mandir" systemd-analyze verify --root="$D" "$verify_dir/broken.service" 2>&1)
        assert_match "and reports a broken unit" "Failed to parse service type" "$out"
        rm -f "$D$verify_dir/broken.service"
        exposure=$(systemd-analyze security --offline=yes --root="$D" "$verify_dir/tlsrptd.service" 2>/dev/null |
            sed -n 's/.*Overall exposure level for tlsrptd.service: \([0-9.]*\).*/\1/p')
        echo "systemd-analyze security: exposure ${exposure:-unknown} (0 best, 10 worst)"
    fi
fi

# make uninstall: only the edited config (and the copies made for verify) remain.
$MAKE -s -C "$top_builddir" uninstall DESTDIR="$D" >"$T/uninstall.log" 2>&1
left=$(cd "$D" && find . ! -type d | sed 's|^\.||' | grep -v -e '^/lib/systemd/system/.*\.\(target\|slice\)$' \
    -e '^/etc/systemd/system/.*\.service$' -e '^/bin/kill$' | sort)
assert_eq "make uninstall leaves only the edited config" "$sysconfdir/tlsrptd/tlsrptd.cf" "$left"
if [ -n "${verify_skipped:-}" ] && [ "$failures" -eq 0 ]; then
    skip "$verify_skipped ($checks other checks passed)"
fi
finish
