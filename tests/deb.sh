#!/bin/sh
# deb.sh - the Debian package: dpkg-buildpackage -us -uc -b in a copy of the
# tree (the source tree stays clean), then the .deb unpacked into a scratch
# root: the exact files it ships, the conffile, maintainer scripts that parse
# and create the user but enable and start nothing, and lintian without errors.
. "$(dirname "$0")/lib.sh"
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage not found (apt-get install dpkg-dev debhelper)"
[ -z "${DEB_RULES_REQUIRES_ROOT:-}" ] || skip "running inside a package build (dh_auto_test): no package within it"
[ -z "${TLSRPT_DEB_IN_DISTCHECK:-}" ] ||
    skip "tools/test builds and checks the package in its make distcheck run (from the tarball), not twice"
[ -f "$top_srcdir/debian/control" ] || skip "no debian/ directory in $top_srcdir"
missing=$(cd "$top_srcdir" && dpkg-checkbuilddeps 2>&1) ||
    skip "build dependencies missing: ${missing#*Unmet build dependencies: }"
started=$(date +%s)

# The tree as it is in git (or the unpacked tarball), without build products.
(. "$top_srcdir/tools/lib.sh" && TOP=$top_srcdir && clean_copy "$T/tlsrptd") >"$T/copy.log" 2>&1 ||
    { cat "$T/copy.log"; echo "FAIL: copying the tree"; exit 1; }
chmod -R u+w "$T/tlsrptd" # distcheck's source tree is read-only
(cd "$T/tlsrptd" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS="nocheck parallel=2" \
    dpkg-buildpackage -us -uc -b) \
    >"$T/build.log" 2>&1 || { tail -40 "$T/build.log"; echo "FAIL: dpkg-buildpackage"; exit 1; }
deb=$(ls "$T"/tlsrptd_*.deb 2>/dev/null | grep -v dbgsym)
assert_match "dpkg-buildpackage made tlsrptd_VERSION_ARCH.deb" "/tlsrptd_[0-9.]+_[a-z0-9]+\.deb\$" "$deb"
[ -f "$deb" ] || finish

# Everything it ships: a new file is a new line here.
expected="/etc/tlsrptd/tlsrptd.cf
/lib/systemd/system/tlsrpt-milter.service
/lib/systemd/system/tlsrptd.service
/usr/lib/sysusers.d/tlsrptd.conf
/usr/lib/tmpfiles.d/tlsrptd.conf
/usr/sbin/tlsrpt
/usr/sbin/tlsrpt-milter
/usr/sbin/tlsrptd
/usr/share/doc/tlsrptd/DKIM.md.gz
/usr/share/doc/tlsrptd/README.md.gz
/usr/share/doc/tlsrptd/SENDMAIL.md.gz
/usr/share/doc/tlsrptd/changelog.gz
/usr/share/doc/tlsrptd/copyright
/usr/share/doc/tlsrptd/tlsrptd.cf
/usr/share/man/man1/tlsrpt.1.gz
/usr/share/man/man5/tlsrptd.cf.5.gz
/usr/share/man/man8/tlsrpt-milter.8.gz
/usr/share/man/man8/tlsrptd.8.gz"
R="$T/root"
dpkg-deb -x "$deb" "$R"
assert_eq "the exact files of the package" "$expected" "$(cd "$R" && find . ! -type d | sed 's|^\.||' | sort)"
assert_eq "the programs are executables" "755 755" \
    "$(stat -c %a "$R/usr/sbin/tlsrptd" "$R/usr/sbin/tlsrpt" | tr '\n' ' ' | sed 's/ $//')"
assert_eq "the config is the sample" "" "$(cmp "$top_srcdir/conf/tlsrptd.cf" "$R/etc/tlsrptd/tlsrptd.cf" 2>&1)"
assert_eq "the programs read /etc/tlsrptd/tlsrptd.cf" "/etc/tlsrptd/tlsrptd.cf" \
    "$(env -u TLSRPTD_CONFIG "$R/usr/sbin/tlsrpt" conf --man | sed -n '/^\.SH FILES/{n;n;p;}')"
assert_match "the unit starts /usr/sbin/tlsrptd" "^ExecStart=/usr/sbin/tlsrptd\$" \
    "$(cat "$R/lib/systemd/system/tlsrptd.service")"

C="$T/control"
dpkg-deb -e "$deb" "$C"
assert_eq "the conffile" "/etc/tlsrptd/tlsrptd.cf" "$(cat "$C/conffiles")"
assert_eq "the maintainer scripts" "postinst postrm prerm" "$(cd "$C" && ls postinst postrm preinst prerm 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
for s in postinst postrm preinst prerm; do
    [ -f "$C/$s" ] || continue
    assert_eq "$s is valid sh (sh -n)" "" "$(sh -n "$C/$s" 2>&1)"
done
assert_match "postinst creates the user tlsrpt" "adduser --system --group --home /var/lib/tlsrptd" "$(cat "$C/postinst")"
assert_match "postinst makes the state directory (tmpfiles.d)" "systemd-tmpfiles .*--create tlsrptd.conf" "$(cat "$C/postinst")"
# dh_installsystemd --no-enable: enable only a unit the admin had enabled before.
assert_eq "postinst enables the units only when they were enabled before (an upgrade)" \
    "$(for u in tlsrpt-milter.service tlsrptd.service; do
        echo "if deb-systemd-helper debian-installed '$u'; then"
        echo "if deb-systemd-helper --quiet was-enabled '$u'; then"
        echo "deb-systemd-helper enable '$u' >/dev/null || true"; done)" \
    "$(grep -e 'deb-systemd-helper debian-installed' -e 'was-enabled' -e 'deb-systemd-helper enable' "$C/postinst" | sed 's/^[[:space:]]*//')"
assert_eq "no script starts the unit" "" \
    "$(grep -h -e 'deb-systemd-invoke start' -e 'deb-systemd-invoke restart' -e 'systemctl.* start' \
        "$C/postinst" "$C/prerm" "$C/postrm")"
assert_match "an upgrade restarts them only if they run (try-restart)" \
    "deb-systemd-invoke try-restart 'tlsrpt-milter.service' 'tlsrptd.service'" "$(cat "$C/postinst")"
assert_match "prerm stops it when the package is removed" "deb-systemd-invoke stop tlsrptd.service" "$(cat "$C/prerm")"
assert_match "it depends on adduser" "^Depends: .*adduser" "$(dpkg-deb -f "$deb" Depends | sed 's/^/Depends: /')"

if command -v lintian >/dev/null; then
    lintian --no-tag-display-limit "$deb" >"$T/lintian.log" 2>&1
    assert_eq "lintian: no errors" "" "$(grep '^E:' "$T/lintian.log")"
    echo "lintian warnings:"; grep '^W:' "$T/lintian.log"; echo "lintian info:"; grep '^[IP]:' "$T/lintian.log"
else
    echo "note: lintian not found: the package is not linted"
fi
assert_eq "the source tree is left as it was (no debian/ build products)" "" \
    "$(cd "$top_srcdir" && ls -d debian/tlsrptd debian/files debian/.debhelper 2>/dev/null)"
echo "deb.sh took $(( $(date +%s) - started )) s"
finish
