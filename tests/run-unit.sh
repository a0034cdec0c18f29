#!/bin/sh
# run-unit.sh - run every unit test binary under BUILD/tests; print totals.
# Usage: run-unit.sh BUILD   (prints "unit: N passed, N failed"; tests
# skipped are reported as skipped, never counted as passed)
build=${1:-build}
export CG_BUILD_DIR="$build"
pass=0 fail=0 skip=0 bad=""
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then
        # crashed or printed no summary: count the whole binary as one failure
        p=0 f=1
    fi
    if [ "$rc" != 0 ] || [ "$f" != 0 ]; then
        printf '%s\n' "$out" | grep -v '^ok ' | sed "s|^|  $(basename "$t"): |"
        [ "$f" = 0 ] && f=1
        bad="$bad $(basename "$t")"
    fi
    k=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) skipped$/\1/p' | tail -n 1)
    [ -n "$k" ] && echo "$(basename "$t"): $k skipped" && skip=$((skip + k))
    echo "$(basename "$t"): $p passed, $f failed"
    pass=$((pass + p)); fail=$((fail + f))
done
[ "$skip" != 0 ] && echo "unit: $skip skipped (reported above; not counted as passed)"
echo "unit: $pass passed, $fail failed"
[ "$fail" = 0 ]
