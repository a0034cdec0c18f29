#!/bin/bash
# bench/engine.sh BUILD_DIR - build and run the engine micro-benchmark
# (no MTA). Run from the source tree after `make`:
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
if [ ! -f "$BUILD/libcg.a" ]; then
    echo "engine.sh: $BUILD/libcg.a not found: run make first" >&2
    exit 1
fi
mkdir -p "$BUILD/bench"
# shellcheck disable=SC2046
gcc -Iinclude -Imilter -D_GNU_SOURCE -std=c11 -O2 -g -Wall -Wextra -Werror \
    -o "$BUILD/bench/engine_bench" bench/engine_bench.c "$BUILD/libcg.a" \
    $(pkg-config --libs sqlite3 jansson icu-i18n) -ldl -lpthread -lm
export CONTACTGATE_PLUGIN_DIR="$PWD/$BUILD/plugins"
exec "$BUILD/bench/engine_bench" "$BUILD"
