#!/bin/sh
# deps.sh - install the Debian packages contactgate needs to build, test and demo.
#
# Idempotent: checks each package with dpkg-query and calls apt-get only for
# what is missing, so a machine that has everything prints nothing.
# Postfix is preseeded to "No configuration": the package then creates no
# /etc/postfix/main.cf, starts nothing and never listens on port 25. The
# tests and the demo run their own private instances.
set -eu

PKGS="build-essential pkg-config libmilter-dev libsqlite3-dev sqlite3 libjansson-dev
libspf2-dev libicu-dev postfix swaks python3 util-linux procps chromium"
# the fuzz targets (make fuzz, and their smoke test in make test): clang,
# libFuzzer and the ASan/UBSan runtimes (libclang-rt-14-dev), and
# llvm-symbolizer-14 (llvm-14) for readable stacks in sanitizer reports
PKGS="$PKGS clang-14 libclang-rt-14-dev llvm-14"
[ "${CG_DEPS_EXTRA:-}" ] && PKGS="$PKGS $CG_DEPS_EXTRA"

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# apt-get update only when the package lists are missing or a package is unknown.
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
fi
