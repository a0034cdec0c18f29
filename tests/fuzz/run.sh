#!/bin/sh
# run.sh - run the libFuzzer targets of a fuzz build (make fuzz).
#
#   run.sh FUZZBUILD [TARGET...]     TARGET: addr, fuzz_addr, ...; default all
#   env: FUZZ_SECS (per target, 0 = no limit), FUZZ_RUNS (executions per
#        target and worker, 0 = no limit; one of the two must be set),
#        FUZZ_JOBS (targets run side by side; default 1), FUZZ_WORKERS
#        (processes per target on its one corpus, default 1: each reloads
#        what the others found; the second and later ones are capped at
#        FUZZ_SPLIT_LEN bytes of input, default 4096, which runs the
#        milter target at twice the speed while the first keeps growing
#        large inputs), FUZZ_ARGS (more libFuzzer flags)
#
# Each target starts from its seeds (tests/fuzz/corpus/NAME, never written)
# and the inputs earlier runs found (FUZZBUILD/fuzz/corpus/NAME, kept), with
# its dictionary (tests/fuzz/NAME.dict) when there is one. The log is
# FUZZBUILD/fuzz/logs/NAME.log; an input that crashed goes to
# FUZZBUILD/fuzz/artifacts/. Prints one line per target:
#   fuzz_addr: 10000000 runs in 81 s (123456 exec/s), cov 165, ft 483, corpus 184, crashes 0
# and exits 1 if any target crashed, hung or failed to start.
set -u
fb=${1:?usage: run.sh FUZZBUILD [TARGET...]}
shift
secs=${FUZZ_SECS:-0}
runs=${FUZZ_RUNS:-0}
jobs=${FUZZ_JOBS:-1}
workers=${FUZZ_WORKERS:-1}
src=$(cd "$(dirname "$0")" && pwd)
[ "$secs" != 0 ] || [ "$runs" != 0 ] || { echo "run.sh: set FUZZ_SECS or FUZZ_RUNS" >&2; exit 2; }

targets=""
if [ $# = 0 ]; then
    for f in "$src"/fuzz_*.c; do targets="$targets $(basename "$f" .c)"; done
else
    for t in "$@"; do targets="$targets fuzz_${t#fuzz_}"; done
fi
mkdir -p "$fb/fuzz/logs" "$fb/fuzz/artifacts"
# readable stacks in sanitizer reports (llvm-14 has no unversioned name)
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/bin/llvm-symbolizer-14 ]; then
    export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi

# one TARGET - fuzz it (FUZZ_WORKERS processes); the summary line goes to
# the log's .sum file: executions and exec/s summed over the workers
one() {
    t=$1 name=${1#fuzz_}
    bin=$fb/fuzz/$t log=$fb/fuzz/logs/$name.log
    if [ ! -x "$bin" ]; then
        echo "$t: not built ($bin; make fuzz-build)" > "$log.sum"
        return
    fi
    mkdir -p "$fb/fuzz/corpus/$name"
    set -- -timeout=30 -rss_limit_mb=3072 -print_final_stats=1 \
        -artifact_prefix="$fb/fuzz/artifacts/$name-"
    [ "$runs" != 0 ] && set -- "$@" -runs="$runs"
    [ "$secs" != 0 ] && set -- "$@" -max_total_time="$secs"
    [ -f "$src/$name.dict" ] && set -- "$@" -dict="$src/$name.dict"
    start=$(date +%s)
    k=1 wpids=""
    while [ "$k" -le "$workers" ]; do
        cap=""
        [ "$k" -gt 1 ] && cap=-max_len=${FUZZ_SPLIT_LEN:-4096}
        # shellcheck disable=SC2086
        "$bin" "$@" $cap ${FUZZ_ARGS:-} "$fb/fuzz/corpus/$name" "$src/corpus/$name" \
            > "$log.w$k" 2>&1 &
        wpids="$wpids $!"
        k=$((k + 1))
    done
    rc=0
    for p in $wpids; do
        wait "$p" || rc=$?
    done
    took=$(($(date +%s) - start))
    if [ "$workers" = 1 ]; then
        mv "$log.w1" "$log"
    else
        k=1
        while [ "$k" -le "$workers" ]; do
            echo "=== worker $k of $workers"
            cat "$log.w$k" && rm -f "$log.w$k"
            k=$((k + 1))
        done > "$log"
    fi
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{ s += $1 } END { if (NR) print s }')
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{ s += $1 } END { if (NR) print s }')
    cov=$(grep -E '^#[0-9]+' "$log" | sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/\1 \2 \3/p' |
        sort -n -k1,1 -k2,2 | tail -n 1)
    set -- $cov
    crashes=$(ls "$fb/fuzz/artifacts" | grep -c "^$name-" || true)
    if [ $rc != 0 ]; then
        echo "$t: FAILED (exit $rc) after ${n:-?} runs in $took s; see $log" > "$log.sum"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant|artifact_prefix|Test unit written)' "$log" |
            head -n 6 | sed 's/^/    /' >> "$log.sum"
    else
        w=""
        [ "$workers" != 1 ] && w=" ($workers workers)"
        echo "$t: ${n:-?} runs in $took s (${eps:-?} exec/s)$w, cov ${1:-?}, ft ${2:-?}, corpus ${3:-?}, crashes $crashes" > "$log.sum"
    fi
}

running=0 pids=""
for t in $targets; do
    one "$t" &
    pids="$pids $!"
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait
status=0
for t in $targets; do
    s=$fb/fuzz/logs/${t#fuzz_}.log.sum
    cat "$s"
    grep -q 'runs in .*crashes 0$' "$s" || status=1
done
exit $status
