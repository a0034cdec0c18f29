#!/bin/sh
# deps.sh - install the Debian packages contactgate needs, by purpose.
#
#   deps.sh [build] [test] [deb]     default: build
#
#   build  what `make` needs to compile (make deps)
#   test   build + the tools the tests and the demo run (make deps-test,
#          make test): Postfix, Sendmail's m4, swaks, python3, chromium,
#          the Debian tooling tests/e2e/test_deb.sh builds the package with,
#          and for the fuzz targets (make fuzz, their smoke test in make test)
#          clang-14, libFuzzer and the sanitizer runtimes (libclang-rt-14-dev),
#          llvm-14 (llvm-symbolizer, llvm-cov for make fuzz-cov)
#   deb    build + Debian's packaging tools (make deb)
#
# One package a line in the lists below: adding a package is adding one
# line to the list of its purpose. Idempotent: checks each package with
# dpkg-query and calls apt-get only for what is missing, so a machine that
# has everything prints nothing. Postfix is preseeded to "No configuration":
# the package then creates no /etc/postfix/main.cf, starts nothing and never
# listens on port 25. The tests and the demo run their own private instances.
set -eu

BUILD_PKGS="
build-essential
pkg-config
libmilter-dev
libsqlite3-dev
libjansson-dev
libspf2-dev
libicu-dev
libpq-dev
"

TEST_PKGS="
sqlite3
postfix
swaks
python3
util-linux
procps
chromium
postgresql-15
postgresql-client-15
debhelper
lintian
clang-14
libclang-rt-14-dev
llvm-14
"

DEB_PKGS="
debhelper
dpkg-dev
lintian
"

want="$BUILD_PKGS"
for purpose in "$@"; do
    case $purpose in
    build) ;;
    test) want="$want $TEST_PKGS" ;;
    deb) want="$want $DEB_PKGS" ;;
    *) echo "deps: unknown purpose \"$purpose\" (build, test or deb)" >&2; exit 1 ;;
    esac
done
[ "${CG_DEPS_EXTRA:-}" ] && want="$want $CG_DEPS_EXTRA"

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
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
# PostgreSQL: the tests run private clusters (tests/pg/pglib.sh) and never use
# a system one. Installing postgresql-15 normally creates and starts a cluster
# 15/main on port 5432 (postgresql-common's maintainer scripts follow
# /etc/postgresql-common/createcluster.conf, default create_main_cluster =
# true). On a machine without postgresql-common yet, write that file first so
# no cluster is created or started. The package installs the file through
# ucf, which keeps an existing one (UCF_FORCE_CONFFOLD says so without a
# prompt). Where postgresql-common is installed already, the file is the
# admin's and is left alone.
pgc=$(dpkg-query -W -f='${db:Status-Status}' postgresql-common 2>/dev/null || true)
case " $missing " in *" postgresql-15 "*) pg_wanted=1 ;; *) pg_wanted=0 ;; esac
if [ "$pg_wanted" = 1 ] && [ "$pgc" != "installed" ]; then
    mkdir -p /etc/postgresql-common
    printf '%s\n' "# written by contactgate's scripts/deps.sh before postgresql-common was" \
        "# installed: no system cluster (the tests run private ones)" \
        "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
fi
export UCF_FORCE_CONFFOLD=1
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# apt-get update only when the package lists are missing or a package is unknown.
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
fi
