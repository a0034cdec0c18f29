#!/bin/bash
# test_fuzz_smoke.sh - the sanitizer builds stay alive (README "Fuzzing"):
#   - the libFuzzer targets build with clang, ASan and UBSan (make
#     fuzz-build, into build-fuzz/ or $CG_FUZZ_BUILD)
#   - each target runs its whole seed corpus (tests/fuzz/corpus/NAME, which
#     holds the inputs of every bug the fuzzers found) and then fuzzes for
#     3 seconds without a crash, a sanitizer report, a broken invariant or a
#     hang; what it finds goes to a temp dir, never into the seeds
#   - the invariants can fail: the address target with a broken normaliser
#     in place of the real one stops on its first input
#   - make tsan: the decider's unit test under ThreadSanitizer, no report
# The long runs are make fuzz (not part of make test).
set -u
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
FB=${CG_FUZZ_BUILD:-build-fuzz}
case $FB in /*) ;; *) FB=$SRC/$FB ;; esac
e2e_setup fuzz_smoke
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/bin/llvm-symbolizer-14 ]; then
    export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi
cd "$SRC" || exit 1

out=$(make --no-print-directory -j2 FUZZ_BUILD="$FB" fuzz-build 2>&1)
t_eq "the fuzz targets build with clang, ASan and UBSan" "$?" "0"
printf '%s\n' "$out" | grep -E '(error|warning):' | head -n 20

for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c) name=${t#fuzz_}
    if [ ! -x "$FB/fuzz/$t" ]; then
        t_fail "$t: built"
        continue
    fi
    seeds=$(ls tests/fuzz/corpus/$name | wc -l)
    work=$E2E_DIR/corpus-$name
    mkdir -p "$work"
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict=-dict=tests/fuzz/$name.dict
    log=$E2E_DIR/$name.log
    CG_FUZZ_BUILDDIR=$FB "$FB/fuzz/$t" -max_total_time=3 -timeout=20 -rss_limit_mb=3072 \
        -artifact_prefix="$E2E_DIR/crash-$name-" $dict "$work" "tests/fuzz/corpus/$name" \
        > "$log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    if [ $rc = 0 ] && [ -n "$done_line" ]; then
        t_ok "$t: $seeds seeds and 3 s of fuzzing, no finding (${done_line#*DONE   })"
    else
        t_fail "$t: $seeds seeds and 3 s of fuzzing, no finding" "exit $rc; $(grep -E \
            '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant|Test unit written)' "$log" | head -n 5)
$(tail -n 5 "$log")"
    fi
done

# the invariants can fail: the address target with a broken normaliser in
# place of the real one (CG_FUZZ_SELFTEST, see fuzz_addr.c) stops at once
if [ -x "$FB/fuzz/fuzz_addr" ]; then
    printf '\001Ann@Example.COM' > "$E2E_DIR/selftest"
    out=$(CG_FUZZ_SELFTEST=1 "$FB/fuzz/fuzz_addr" "$E2E_DIR/selftest" 2>&1)
    rc=$?
    t_eq "a broken normaliser fails the address target" "$([ $rc != 0 ] && echo failed)" failed
    t_match "... naming the broken invariant" "$out" \
        'fuzz invariant violated: normalised "Ann@Example.COM": domain not lower case'
fi

out=$(make --no-print-directory tsan 2>&1)
rc=$?
t_eq "make tsan: the decider's test under ThreadSanitizer, no report" "$rc" "0"
t_match "... and every test of it passed" "$out" '^test_decider: [0-9]+ passed, 0 failed$'
[ $rc = 0 ] || printf '%s\n' "$out" | grep -E 'WARNING|SUMMARY|FAIL' | head -n 10

t_done fuzz_smoke
