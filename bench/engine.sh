#!/bin/bash
# bench/engine.sh BUILD_DIR - run the engine micro-benchmark (no MTA).
# Run from the source tree after `make build/bench/engine_bench`:
#
#   bash bench/engine.sh build
#
# Environment (see bench/engine_bench.c): BENCH_DIR (default
# /var/tmp/contactgate-bench; pre-filled databases are cached there),
# BENCH_SIZES (default 100k,1M,10M), BENCH_OPS (default 20000
# single-thread, 5x with threads), BENCH_THREADS (20), BENCH_PRUNE (1),
# BENCH_ROUNDS (3), BENCH_PACE (2000 ops/s offered; 0: none), BENCH_PACE_OPS.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
if [ ! -x "$BUILD/bench/engine_bench" ]; then
    echo "engine.sh: $BUILD/bench/engine_bench not found: run make $BUILD/bench/engine_bench (make bench does)" >&2
    exit 1
fi
export CONTACTGATE_PLUGIN_DIR="$PWD/$BUILD/plugins"
exec "$BUILD/bench/engine_bench" "$BUILD"
