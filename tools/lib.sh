# tools/lib.sh - shared by tools/test and tools/demo: install what a fresh
# Debian 12 machine lacks (build dependencies and the real peers the tests
# start), then build with autotools. Sourced, not run.

set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)

# Build dependencies, then the test peers (DNS server, validators, ...).
BUILD_PACKAGES="build-essential autoconf automake pkg-config libssl-dev libldns-dev
 libjson-c-dev zlib1g-dev libcurl4-openssl-dev check libmilter-dev libsystemd-dev
 libgmime-3.0-dev libmicrohttpd-dev libpq-dev"
TEST_PACKAGES="ldnsutils python3 python3-dkim openssl postfix util-linux procps clang
 libclang-rt-14-dev iproute2 systemd-journal-remote prometheus postgresql
 systemd mandoc debhelper dpkg-dev lintian pflogsumm miltertest"

install_packages() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    # The schema validator needs node; a machine may already have one of its own.
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages:$missing (run as root to install them)" >&2
        exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Postfix is a test peer only: installed unconfigured, never started by the package.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() {
    cd "$TOP"
    if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
        autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
    fi
    if [ ! -f Makefile ] || [ configure -nt config.status ]; then
        ./configure --enable-werror "$@" >/dev/null
    fi
    make -j"$(nproc)" >/dev/null
}

# clean_copy DIR: the source tree without build products into DIR (made), with
# configure generated there, for an out-of-tree (VPATH) build of its own: a
# VPATH build refuses a tree that was configured in place.
clean_copy() {
    mkdir -p "$1"
    # Only the tree's own git: an unpacked tarball inside a work tree (distcheck) is no checkout.
    if [ "$(git -C "$TOP" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$TOP" && pwd -P)" ]; then
        # Tracked and new files, as they are in the work tree (not what .gitignore names).
        (cd "$TOP" && git ls-files -co --exclude-standard -z | xargs -0 -r sh -c \
            'for f; do [ -e "$f" ] && printf "%s\n" "$f"; done' sh) >"$1.files"
        tar -C "$TOP" -cf - -T "$1.files" | tar -C "$1" -xf -
        rm -f "$1.files"
    else
        tar -C "$TOP" -cf - . | tar -C "$1" -xf -
        [ ! -f "$1/Makefile" ] || (cd "$1" && make -s distclean >/dev/null 2>&1)
    fi
    [ -x "$1/configure" ] || (cd "$1" && autoreconf -fi >/dev/null 2>&1) || (cd "$1" && autoreconf -fi)
}
