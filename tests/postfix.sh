#!/bin/sh
# postfix.sh - one report delivered through a real Postfix: runs the Postfix
# case of check_smtp_postfix (a private instance on 127.0.0.1, started and
# stopped by the test), made mandatory, then checks that nothing of it is left
# running.
. "$(dirname "$0")/lib.sh"

POSTFIX=$(command -v postfix 2>/dev/null || true)
[ -n "$POSTFIX" ] || [ -x /usr/sbin/postfix ] ||
    skip "Postfix is not installed (apt-get install postfix)"
[ "$(id -u)" -eq 0 ] || skip "a private Postfix instance needs root"
if ! getent passwd postfix >/dev/null || ! getent group postdrop >/dev/null; then
    skip "no postfix user or postdrop group (the Debian package creates them)"
fi

status=0
output=$(TMPDIR="$T" CK_RUN_CASE=postfix TLSRPT_TEST_POSTFIX=1 \
    "$top_builddir/tests/check_smtp_postfix" 2>&1) || status=$?
printf '%s\n' "$output"
assert_eq "check_smtp_postfix Postfix case exit status" 0 "$status"
assert_match "the Postfix case ran and passed" '^100%: Checks: 1, Failures: 0, Errors: 0$' "$output"

# Every process of the private instance carries MAIL_CONFIG=$T/check_smtp_postfix.*/pf/etc.
left=""
for environ in /proc/[0-9]*/environ; do
    if grep -qzF "MAIL_CONFIG=$T/" "$environ" 2>/dev/null; then
        pid=${environ#/proc/}
        left="$left ${pid%/environ}"
    fi
done
assert_eq "no Postfix process of the test left running" "" "$left"
finish
