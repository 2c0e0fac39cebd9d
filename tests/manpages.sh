#!/bin/sh
# manpages.sh - the manual pages: `mandoc -T lint` finds no warning or error
# in any of them, every subcommand of tlsrpt's dispatch table and every option
# the programs parse is documented, and every page they refer to is shipped.
. "$(dirname "$0")/lib.sh"
command -v mandoc >/dev/null || skip "mandoc not found (apt-get install mandoc)"
DOC="$top_builddir/doc"

# The pages: generated ones in the build tree, written ones in the source tree.
pages=$( (ls "$DOC"/*.[1-8]; ls "$top_srcdir"/doc/*.[1-8]) 2>/dev/null | sort -u)
names=$(for p in $pages; do basename "$p"; done | sort -u)
for want in tlsrpt.1 tlsrptd.8 tlsrptd.cf.5; do
    assert_match "$want is built" "^$want\$" "$names"
done

assert_match "mandoc -T lint reports a broken page (the check can fail)" "WARNING|ERROR" \
    "$(printf '.Dd\n.Dt X 1\n.Sh NAME\n.Bl -tag\n' | mandoc -T lint -W warning 2>&1)"
for p in $pages; do
    assert_eq "mandoc -T lint: no warning or error in $(basename "$p")" "" \
        "$(mandoc -T lint -W warning "$p" 2>&1)"
done

# Cross references (.Xr in mdoc, .BR name (N) in man) only to pages we ship.
for p in $pages; do
    refs=$(sed -n -e 's/^\.Xr \([^ ]*\) \([0-9]\).*/\1.\2/p' -e 's/^\.BR \([^ ]*\) (\([0-9]\)).*/\1.\2/p' "$p" |
        sed 's/\\-/-/g' | sort -u)
    missing=$(for r in $refs; do echo "$names" | grep -qx "$r" || echo "$r"; done)
    assert_eq "$(basename "$p") refers only to shipped pages ($(echo $refs))" "" "$missing"
done

# tlsrpt(1): every command of the table in src/tlsrpt/main.c, every long option
# of its commands and every option letter of its getopt string.
TLSRPT_1="$DOC/tlsrpt.1"
commands=$(cat "$top_srcdir"/src/tlsrpt/*.c | sed -n 's/^ *\.name = "\([a-z-]*\)",.*/\1/p')
assert_eq "the dispatch table is found (10 commands or more)" 1 "$(( $(echo "$commands" | wc -l) >= 10 ))"
for c in $commands; do
    assert_match "tlsrpt.1 documents the command $c" "^\.It Cm $c( |\$)" "$(cat "$TLSRPT_1")"
done
long=$(cat "$top_srcdir"/src/tlsrpt/*.c |
    sed -n 's/.*{"\([a-z-]*\)", *\(no\|required\|optional\)_argument.*/\1/p' | sort -u)
for o in $long; do
    assert_match "tlsrpt.1 documents --$o" "Fl -$o( |\$)" "$(cat "$TLSRPT_1")"
done

# letters OPTSTRING: the option letters of a getopt string.
letters() { echo "$1" | tr -d '+:' | sed 's/./& /g'; }
tlsrpt_opts=$(sed -n 's/.*getopt_long(argc, argv, "\([^"]*\)".*/\1/p' "$top_srcdir/src/tlsrpt/main.c")
tlsrptd_opts=$(sed -n 's/.*getopt[_a-z]*(argc, argv, "\([^"]*\)".*/\1/p' "$top_srcdir/src/tlsrptd/process.c")
assert_match "tlsrpt's option string is found" "c" "$tlsrpt_opts"
assert_match "tlsrptd's option string is found" "c" "$tlsrptd_opts"
for l in $(letters "$tlsrpt_opts"); do
    assert_match "tlsrpt.1 documents -$l" "^\.It Fl $l( |\$)" "$(cat "$TLSRPT_1")"
done
for l in $(letters "$tlsrptd_opts"); do
    assert_match "tlsrptd.8 documents -$l" "^\.It Fl $l( |\$)" "$(cat "$DOC/tlsrptd.8")"
done
finish
