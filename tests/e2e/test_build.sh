#!/bin/bash
# test_build.sh - the rules the build keeps (README "Source map"):
#   - make layering passes on the tree and fails on each planted violation
#   - the daemon exports no symbol (plugins get the host table from init())
#     but accept(), which libmilter must call (milter/cg_accept.c)
#   - every plugin exports exactly cg_plugin_descriptor and needs nothing of
#     ours (linked with -z defs)
#   - contactgatectl does not contain the daemon's decider
set -u
. "$(dirname "$0")/lib.sh"
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
e2e_setup build

out=$(sh "$SRC/scripts/layering.sh" 2>&1)
t_eq "layering: the tree keeps the rules" "$?:$out" "0:layering: ok"

# a copy of the sources in which one violation at a time is planted
plant() { # plant FILE LINE -> output of layering.sh on a copy with LINE added to FILE
    local copy=$E2E_DIR/tree
    rm -rf "$copy"; mkdir -p "$copy"
    (cd "$SRC" && cp -r core milter ctl plugins include scripts "$copy/")
    mkdir -p "$(dirname "$copy/$1")"
    printf '%s\n' "$2" >> "$copy/$1"
    CG_LAYERING_ROOT=$copy sh "$SRC/scripts/layering.sh" 2>&1
}
expect_refused() { # DESC FILE LINE ERE
    local out rc
    out=$(plant "$2" "$3"); rc=$?
    if [ $rc = 1 ] && printf '%s\n' "$out" | grep -qE -- "$4"; then t_ok "$1"
    else t_fail "$1" "exit $rc: $out"; fi
}
expect_refused "core/ including libmilter is refused" core/cg_msg.c \
    '#include <libmilter/mfapi.h>' '^core/cg_msg\.c:[0-9]+:.*core/ must not include libmilter'
expect_refused "core/ including a milter/ header is refused" core/cg_engine.c \
    '#include "cg_decider.h"' 'core/cg_engine\.c:.*milter/ headers'
expect_refused "core/store/ including the engine is refused" core/store/cg_store.c \
    '#include "cg_engine.h"' 'core/store/cg_store\.c:.*must not include engine'
expect_refused "core/store/ including the configuration is refused" core/store/cg_store.c \
    '#include "cg_config.h"' 'core/store/cg_store\.c:.*configuration'
expect_refused "sqlite3.h outside core/store/ is refused" core/cg_ident.c \
    '#include <sqlite3.h>' 'core/cg_ident\.c:.*only core/store/ includes a database library'
expect_refused "a plugin including a header of ours is refused" plugins/consent/consent.c \
    '#include "cg_util.h"' 'plugins/consent/consent\.c:.*nothing of ours but contactgate/plugin\.h'
expect_refused "contactgatectl including the decider is refused" ctl/ctl_check.c \
    '#include "cg_decider.h"' 'ctl/ctl_check\.c:.*ctl/ must not include milter/'

# One exception: accept(). libmilter's listener calls accept() through its
# PLT and the daemon defines it (milter/cg_accept.c), so that every
# connection passes the milter_clients check before libmilter reads from it;
# the linker exports it because libmilter.so refers to it. Nothing else.
exports=$(nm -D --defined-only "$BUILD/contactgate" 2>&1 | grep -vE ' [wUV] ' | awk '{print $2, $3}')
t_eq "the daemon exports no symbol but its accept() for libmilter" "$exports" "T accept"
for so in "$BUILD"/plugins/*.so; do
    name=$(basename "$so" .so)
    syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' | grep -vE '^_(init|fini)$' | tr '\n' ' ')
    t_eq "plugin $name exports cg_plugin_descriptor only" "$syms" "cg_plugin_descriptor "
    ours=$(nm -D --undefined-only "$so" | awk '{print $2}' | grep -E '^(cg_|ctl_)' | tr '\n' ' ')
    t_eq "plugin $name needs nothing of ours" "$ours" ""
done
dec=$(nm "$BUILD/contactgatectl" | grep -c 'cg_decider_')
t_eq "contactgatectl does not link the decider" "$dec" "0"
dec=$(nm "$BUILD/contactgate" | grep -c ' T cg_decider_eom')
t_eq "the daemon does (the check above can fail)" "$dec" "1"

t_done build
