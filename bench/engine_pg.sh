#!/bin/bash
# bench/engine_pg.sh BUILD_DIR - the engine micro-benchmark (engine_bench)
# against a private PostgreSQL 15 on this machine (tests/pg/pglib.sh):
# the same workload, policies and data layout as the SQLite rows (customers
# C%08d with u%08d@example.net, contacts over the last 60 days, 1 % with a
# complaint, 1 % opted out of promotions), BENCH_PG_ROWS contacts (default
# 1M, for BENCH_PG_ROWS / 10 customers). make bench runs it after
# bench/engine.sh. Environment as engine.sh (BENCH_OPS, BENCH_THREADS,
# BENCH_ROUNDS).
#
# Three runs on the filled history, each on the private server:
#   1. open loop (what a relay sees): BENCH_THREADS threads as SMTP
#      sessions, Poisson arrivals at each rate of BENCH_PG_PACES (default
#      200,500,1000 ops/s offered), BENCH_PACE_SECS (10) a round; p50/p99/max
#      of each decision (the RCPT check, the end of message) and of an op;
#   2. the same open loop with COMMIT not waiting for the WAL flush
#      (synchronous_commit=off: not durable, a diagnostic only): what the
#      disk's fdatasync tail adds (BENCH_PG_DIAG=0 leaves it out);
#   3. closed loop: 1 thread, then BENCH_THREADS threads always waiting
#      (a queue, not a relay's load): ops/s.
# engine_bench prints this disk's fdatasync latency (p50/p99) first.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-build}
cd "$here/.."
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
. tests/e2e/lib.sh
. tests/pg/pglib.sh
ROWS=${BENCH_PG_ROWS:-1000000}
CUST=$((ROWS / 10))
[ -x "$BUILD/bench/engine_bench" ] || { echo "engine_pg.sh: $BUILD/bench/engine_bench missing"; exit 1; }
e2e_setup bench_pg >/dev/null
pg_setup_primary bench_pg >/dev/null || { echo "engine_pg.sh: PostgreSQL did not start"; exit 1; }
# the schema as contactgate makes it, then the rows
printf '{"database": "%s", "plugin_dir": "%s/plugins", "departments": [], "policies": []}\n' \
    "$PG_URI" "$BUILD" > "$E2E_DIR/fill.json"
"$BUILD/contactgatectl" -c "$E2E_DIR/fill.json" customers count >/dev/null || exit 1
t0=$(date +%s)
now=$(date +%s)
PG_PSQL_TIMEOUT=900 pg_psql "SET synchronous_commit = off" \
"INSERT INTO customers(address, customer) SELECT format('u%s@example.net', lpad(i::text, 8, '0')),
   format('C%s', lpad(i::text, 8, '0')) FROM generate_series(0, $CUST - 1) AS i" \
"INSERT INTO contacts(ts, customer, address, department, category, channel, weight, message_id, queue_id)
 SELECT $now - 60 * 86400 + (i::bigint * 60 * 86400) / $ROWS, format('C%s', lpad(k::text, 8, '0')),
   format('u%s@example.net', lpad(k::text, 8, '0')),
   CASE WHEN d < 60 THEN 'marketing' WHEN d < 80 THEN 'billing' WHEN d < 95 THEN 'service' ELSE 'collections' END,
   CASE WHEN d < 60 THEN 'promotional.offer' WHEN d < 80 THEN 'functional.bill'
        WHEN d < 95 THEN 'functional.service' ELSE 'functional.debt' END,
   'email', 1, format('<p%s@bank.example>', i), format('P%s', to_hex(i))
 FROM (SELECT i, (random() * ($CUST - 1))::int AS k, (random() * 99)::int AS d
       FROM generate_series(0, $ROWS - 1) AS i) AS r" \
"INSERT INTO dept_counts SELECT department, l, ts - ts % l, category, count(*) FROM contacts,
   (VALUES (60::bigint), (3600), (86400)) AS v(l) GROUP BY 1, 2, 3, 4" \
"INSERT INTO states SELECT customer, 'complaint', $now - 60 * 86400, 0, 'bench' FROM customers
   WHERE substr(customer, 2)::int % 100 = 7" \
"INSERT INTO optouts SELECT customer, 'promotional.*', $now - 60 * 86400, 0, 'bench' FROM customers
   WHERE substr(customer, 2)::int % 100 = 13" \
"VACUUM ANALYZE contacts" "VACUUM ANALYZE customers" "VACUUM ANALYZE dept_counts" >/dev/null || { echo "engine_pg.sh: fill failed"; exit 1; }
echo "engine_pg.sh: $ROWS contacts for $CUST customers filled in $(( $(date +%s) - t0 )) s"
export CONTACTGATE_PLUGIN_DIR="$BUILD/plugins" BENCH_CUSTOMERS=$CUST BENCH_ROWS=$ROWS
export BENCH_DIR=$E2E_DIR   # the fsync probe: on the disk of the server's data
echo "engine_pg.sh: load average $(cut -d' ' -f1-3 /proc/loadavg)"
BENCH_OPS=0 BENCH_DATABASE=$PG_URI "$BUILD/bench/engine_bench" "$BUILD"
if [ "${BENCH_PG_DIAG:-1}" != 0 ]; then
    echo
    echo "diagnostic: the same open loop, COMMIT not waiting for the WAL flush (not durable)"
    # the backend's own option (plan_cache_mode) too: an options= of ours
    # takes the place of its own
    BENCH_OPS=0 BENCH_DATABASE="$PG_URI?options=-cplan_cache_mode%3Dforce_generic_plan%20-csynchronous_commit%3Doff" \
        "$BUILD/bench/engine_bench" "$BUILD" | sed -n '/^open loop/,$p'
fi
echo
BENCH_PG_PACES=0 BENCH_DATABASE=$PG_URI "$BUILD/bench/engine_bench" "$BUILD" | sed -n '/^closed loop/,$p'
echo "engine_pg.sh: load average $(cut -d' ' -f1-3 /proc/loadavg)"
