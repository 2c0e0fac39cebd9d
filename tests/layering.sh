#!/bin/sh
# layering.sh - the one-way module dependencies of doc/ARCHITECTURE.md,
# checked on the includes: util knows nothing of mail, capture code never
# reaches delivery, the report builder does no I/O, each library stays in
# the modules that own it.
. "$(dirname "$0")/lib.sh"
src="$top_srcdir/src"

# module:allowed project headers
rules="util:util.h
core:util.h core.h
config:util.h cfg.h
counters:util.h core.h counters.h
ctl:util.h ctl.h
collector:util.h core.h counters.h collector.h
report:util.h core.h counters.h report.h
dns:util.h core.h dns.h
spool:util.h spool.h
dsn:util.h dsn.h
scheduler:util.h core.h cfg.h counters.h dns.h dsn.h report.h spool.h delivery.h fleet.h scheduler.h
tlstrust:util.h tlstrust.h
delivery:util.h core.h dns.h tlstrust.h delivery.h
logfollow:util.h core.h counters.h logfollow.h
policy:util.h core.h cfg.h counters.h dns.h tlstrust.h policy.h
socketmap:util.h socketmap.h
fleet:util.h core.h counters.h spool.h fleet.h"

echo "$rules" | while IFS=: read -r module allowed; do
    [ -d "$src/$module" ] || continue
    bad=$(grep -ho '#include "[^"]*\.h"' "$src/$module"/*.c "$src/$module"/*.h 2>/dev/null |
        sed 's/#include "\(.*\)"/\1/' | sort -u | while read -r h; do
            case " config.h $allowed " in *" $h "*) ;; *) [ -f "$src/$module/$h" ] || echo "$h" ;; esac
        done)
    if [ -n "$bad" ]; then
        echo "FAIL: module $module includes $(echo $bad) (allowed: $allowed)"
        echo fail >"$T/failed"
    else
        echo "ok: module $module includes only $allowed"
    fi
done
# External libraries stay where ARCHITECTURE.md puts them.
json_users=$(grep -rl 'json-c/' "$src" | sed "s|$src/||" | sort | tr '\n' ' ')
case "$json_users" in
*util/* | *core/* | *config/* | *counters/* | *ctl/*)
    echo "FAIL: json-c used outside collector/report/tlsrpt: $json_users"; echo fail >"$T/failed" ;;
*) echo "ok: json-c only in $json_users" ;;
esac
gmime_users=$(grep -rl --include='*.[ch]' 'gmime/' "$src" | sed "s|$src/||" | sort | tr '\n' ' ')
if [ -n "$(echo "$gmime_users" | tr ' ' '\n' | grep -v '^dsn/' | grep .)" ]; then
    echo "FAIL: GMime used outside dsn: $gmime_users"; echo fail >"$T/failed"
else
    echo "ok: GMime only in $gmime_users"
fi
# Every header is in Makefile.am, or `make dist` leaves it out of the tarball.
for h in $(cd "$top_srcdir" && find src include -name '*.h'); do
    grep -q "$h" "$top_srcdir/Makefile.am" || { echo "FAIL: $h is not listed in Makefile.am"; echo fail >"$T/failed"; }
done
[ -f "$T/failed" ] || echo "ok: every header is listed in Makefile.am"
[ ! -f "$T/failed" ] || exit 1
