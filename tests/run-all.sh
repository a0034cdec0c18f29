#!/bin/sh
# run-all.sh - every test: unit tests, then the end-to-end suites against a
# private Postfix. Prints each suite's summary and a final
# "all: N passed, N failed" line; exit status 1 if anything failed.
#   run-all.sh BUILD [e2e]    e2e: the end-to-end suites only
build=${1:-build}
only=${2:-}
export CG_BUILD_DIR="$build"
total_p=0 total_f=0
add() { # add SUMMARY-LINE
    p=$(printf '%s' "$1" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
    f=$(printf '%s' "$1" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
    [ -n "$p" ] || { p=0; f=1; }
    total_p=$((total_p + p)); total_f=$((total_f + f))
}
if [ "$only" != e2e ]; then
    out=$(sh tests/run-unit.sh "$build" 2>&1); rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | tail -n 1)
    add "$line"
    [ $rc = 0 ] || [ "$total_f" != 0 ] || total_f=$((total_f + 1))
fi
for t in tests/e2e/test_*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    echo "== $name"
    out=$(bash "$t" "$build" 2>&1); rc=$?
    printf '%s\n' "$out" | sed 's/^/  /'
    line=$(printf '%s\n' "$out" | grep -E ': [0-9]+ passed, [0-9]+ failed' | tail -n 1)
    before=$total_f
    add "${line:-x}"
    if [ $rc != 0 ] && [ "$total_f" = "$before" ]; then total_f=$((total_f + 1)); fi
done
echo "all: $total_p passed, $total_f failed"
[ "$total_f" = 0 ]
