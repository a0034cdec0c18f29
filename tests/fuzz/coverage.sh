#!/bin/sh
# coverage.sh - which lines and branches of the code each fuzz target is
# about its corpus reaches (make fuzz-cov): the targets built with clang's
# source-based coverage replay the seeds and what the fuzz runs found,
# then llvm-cov counts.
#
#   coverage.sh COVBUILD FUZZBUILD [TARGET...]
# Prints per target and file (or the functions of a file that are the
# target's subject):
#   fuzz_milter  milter/cg_milter.c  lines 235/255 (92.2%)  branches 109/134 (81.3%)
set -u
cb=${1:?usage: coverage.sh COVBUILD FUZZBUILD [TARGET...]}
fb=${2:?usage: coverage.sh COVBUILD FUZZBUILD [TARGET...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$src/../.." && pwd)
profdata=$(command -v llvm-profdata-14 || command -v llvm-profdata)
cov=$(command -v llvm-cov-14 || command -v llvm-cov)
[ -n "$profdata" ] && [ -n "$cov" ] || { echo "coverage.sh: llvm-14 is missing" >&2; exit 2; }

# subject TARGET - "file[:function,function...]" per line
subject() {
    case $1 in
    addr) printf '%s\n' core/cg_addr.c core/cg_util.c:cg_glob_match,cg_cidr_parse,cg_cidr_match ;;
    header) printf '%s\n' core/cg_ident.c:cg_ident_department,cg_ident_category,cg_ident_candidates,list_has,client_trusted,trim_dup,dept_envelope_match,dept_allows,looks_bulk,heuristic_category \
        core/cg_msg.c core/cg_category.c ;;
    config) printf '%s\n' core/cg_config.c core/cg_param.c core/cg_plugin.c ;;
    csv) echo core/cg_csv.c ;;
    milter) printf '%s\n' milter/cg_milter.c core/cg_engine.c core/cg_ident.c milter/cg_decider.c ;;
    esac
}

targets=""
if [ $# = 0 ]; then
    for f in "$src"/fuzz_*.c; do targets="$targets $(basename "$f" .c)"; done
else
    for t in "$@"; do targets="$targets fuzz_${t#fuzz_}"; done
fi
status=0
for t in $targets; do
    name=${t#fuzz_}
    dir=$cb/fuzz/prof-$name
    rm -rf "$dir"
    mkdir -p "$dir"
    corpus="$src/corpus/$name"
    [ -d "$fb/fuzz/corpus/$name" ] && corpus="$fb/fuzz/corpus/$name $corpus"
    # shellcheck disable=SC2086
    if ! LLVM_PROFILE_FILE="$dir/%m-%p.profraw" CG_FUZZ_BUILDDIR=$cb \
        "$cb/fuzz/$t" -runs=0 $corpus > "$dir/replay.log" 2>&1; then
        echo "$t: the replay failed; see $dir/replay.log"
        status=1
        continue
    fi
    "$profdata" merge -o "$dir/all.profdata" "$dir"/*.profraw || { status=1; continue; }
    inputs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$dir/replay.log")
    subject "$name" | while IFS= read -r spec; do
        file=${spec%%:*}
        funcs=""
        [ "$file" != "$spec" ] && funcs=${spec#*:}
        (cd "$root" && "$cov" report -show-functions "$cb/fuzz/$t" \
            -instr-profile="$dir/all.profdata" "$file") 2>/dev/null |
        awk -v t="$t" -v file="$file" -v funcs="$funcs" -v inputs="$inputs" '
            BEGIN { n = split(funcs, f, ","); for (i = 1; i <= n; i++) want[f[i]] = 1 }
            NF == 10 && $2 ~ /^[0-9]+$/ && $1 != "TOTAL" {
                name = $1; sub(/^.*:/, "", name)
                if (n && !(name in want)) next
                lines += $5; lmiss += $6; br += $8; bmiss += $9
            }
            END {
                what = file (n ? " (" funcs ")" : "")
                printf "%s  %s  lines %d/%d (%.1f%%)  branches %d/%d (%.1f%%)  [%s inputs]\n", \
                    t, what, lines - lmiss, lines, lines ? 100 * (lines - lmiss) / lines : 0, \
                    br - bmiss, br, br ? 100 * (br - bmiss) / br : 0, inputs
            }'
    done
done
exit $status
