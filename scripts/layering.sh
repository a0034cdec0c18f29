#!/bin/sh
# layering.sh - the source layering rules, checked on every #include.
#
#   core/        no libmilter, nothing of milter/ or ctl/
#   core/store/  the store alone: no engine, message, identification,
#                configuration, plugin or host header (it serves them, it
#                does not know them); the only folder that includes a
#                database library's header (sqlite3.h, libpq-fe.h)
#   plugins/     nothing of ours but contactgate/plugin.h
#   ctl/         no libmilter, not the daemon's decider or callbacks
#
# Prints each violation as FILE:LINE: rule, exits 1 if there is one.
# `make layering` runs it; `make test` runs `make layering` first.
# CG_LAYERING_ROOT: check another tree (the test of this script plants a
# violation in a copy).
cd "${CG_LAYERING_ROOT:-$(dirname "$0")/..}" || exit 2
bad=0

# check DIR-GLOB ERE RULE: no #include matching ERE in the files
check() {
    files=$1 pat=$2 rule=$3
    # shellcheck disable=SC2086
    out=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pat)[>\"]" $files 2>/dev/null)
    if [ -n "$out" ]; then
        printf '%s\n' "$out" | sed "s|\$| -- $rule|"
        bad=1
    fi
}

# our own headers anywhere in the tree, by folder
milter_h=$(cd milter 2>/dev/null && ls *.h 2>/dev/null | tr '\n' '|' | sed 's/|$//; s/\./\\./g')
ctl_h=$(cd ctl 2>/dev/null && ls *.h 2>/dev/null | tr '\n' '|' | sed 's/|$//; s/\./\\./g')
core_h=$(cd core 2>/dev/null && ls *.h 2>/dev/null | tr '\n' '|' | sed 's/|$//; s/\./\\./g')
store_h=$(cd core/store 2>/dev/null && ls *.h 2>/dev/null | tr '\n' '|' | sed 's/|$//; s/\./\\./g')

core_files=$(ls core/*.c core/*.h 2>/dev/null)
store_files=$(ls core/store/*.c core/store/*.h 2>/dev/null)
ctl_files=$(ls ctl/*.c ctl/*.h 2>/dev/null)
plugin_files=$(ls plugins/*/*.c plugins/*/*.h 2>/dev/null)

check "$core_files $store_files" "libmilter/[^>\"]*" "core/ must not include libmilter"
[ -n "$milter_h" ] && check "$core_files $store_files" "$milter_h" "core/ must not include milter/ headers"
[ -n "$ctl_h" ] && check "$core_files $store_files" "$ctl_h" "core/ must not include ctl/ headers"
check "$store_files" "cg_engine\.h|cg_msg\.h|cg_ident\.h|cg_config\.h|cg_plugin\.h|cg_host\.h|cg_param\.h" \
    "core/store/ must not include engine, message, identification, configuration, plugin or host headers"
check "$core_files $ctl_files milter/*.c milter/*.h" "sqlite3\.h|sqlite3ext\.h|libpq-fe\.h|libpq/[^>\"]*" \
    "only core/store/ includes a database library"
check "$ctl_files" "libmilter/[^>\"]*" "ctl/ must not include libmilter"
[ -n "$milter_h" ] && check "$ctl_files" "$milter_h" "ctl/ must not include milter/ headers"
ours="cg_[a-z_]*\.h|ctl\.h|contactgate/[^>\"]*"
for f in $plugin_files; do
    out=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($ours)[>\"]" "$f" |
          grep -vE "[<\"]contactgate/plugin\.h[>\"]")
    if [ -n "$out" ]; then
        printf '%s\n' "$out" | sed "s|^|$f:|; s|\$| -- a plugin includes nothing of ours but contactgate/plugin.h|"
        bad=1
    fi
done
# a core or store header by a relative path into another layer
check "$core_files $store_files $ctl_files $plugin_files" "\.\./[^>\"]*" "no relative includes across folders"

if [ $bad = 0 ]; then
    echo "layering: ok"
else
    echo "layering: violations above" >&2
fi
exit $bad
