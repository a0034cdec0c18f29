#!/bin/bash
# bench/import.sh BUILD_DIR - how long `contactgatectl customers import`
# takes for a large CSV file (BENCH_IMPORT_LINES, default 1,000,000; the
# file of tests/e2e/test_ctl_data.sh's CG_BIG run: two attribute columns,
# four time zones, two addresses per customer), on SQLite (a fresh file)
# and on a private PostgreSQL 15 (tests/pg/pglib.sh: fsync on, a fresh
# schema): into an empty map (every line added), then the same file again
# (every line updated). BENCH_ROUNDS rounds (default 2); one line per
# import with the wall time and what contactgatectl printed, then the
# medians. A figure, not a test: the machine may be shared.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "import.sh: no directory ${1:-build}"; exit 1; }
. tests/e2e/lib.sh
. tests/pg/pglib.sh
LINES=${BENCH_IMPORT_LINES:-1000000}
ROUNDS=${BENCH_ROUNDS:-2}
ctl=$BUILD/contactgatectl
[ -x "$ctl" ] || { echo "import.sh: $ctl missing (make)"; exit 1; }
e2e_setup bench_import >/dev/null
pg_setup_primary bench_import >/dev/null || { echo "import.sh: PostgreSQL did not start"; exit 1; }
csv=$E2E_DIR/customers.csv
python3 - "$csv" "$LINES" <<'EOF'
import sys
zs = ["Europe/London", "Europe/Berlin", "America/New_York", ""]
with open(sys.argv[1], "w") as f:
    f.write("address,customer,timezone,segment,branch\n")
    for i in range(int(sys.argv[2])):
        f.write('user%d@example%d.com,C%d,%s,seg%d,"Branch, %d"\n' % (i, i % 97, i // 2, zs[i % 4], i % 5, i % 13))
EOF

# config NAME DATABASE - a configuration file naming the database
config() {
    printf '{"database": "%s", "plugin_dir": "%s/plugins", "departments": [], "policies": []}\n' \
        "$2" "$BUILD" > "$E2E_DIR/$1.json"
    echo "$E2E_DIR/$1.json"
}

# timed LABEL CONFIG - one import; prints "LABEL SECONDS OUTPUT"
timed() {
    local t0 t1 out rc
    t0=$(date +%s%N)
    out=$("$ctl" -c "$2" customers import "$csv" 2>&1); rc=$?
    t1=$(date +%s%N)
    [ "$rc" = 0 ] || { echo "import.sh: $1: exit $rc: $out"; exit 1; }
    printf '%-22s %6.2f s  %s\n' "$1" "$(echo "($t1 - $t0) / 1000000000" | bc -l)" "$out"
}

res=$E2E_DIR/results
echo "import.sh: $LINES lines ($(du -h "$csv" | cut -f1)), $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
    rm -f "$E2E_DIR/sq.db"*
    sq=$(config sq "$E2E_DIR/sq.db")
    pg_psql "DROP SCHEMA IF EXISTS imp CASCADE" "CREATE SCHEMA imp" >/dev/null 2>&1
    pg=$(config pg "$PG_URI?options=-csearch_path%3Dimp")
    timed "sqlite, empty" "$sq" | tee -a "$res"
    timed "sqlite, again" "$sq" | tee -a "$res"
    timed "postgresql, empty" "$pg" | tee -a "$res"
    timed "postgresql, again" "$pg" | tee -a "$res"
done
echo "medians of $ROUNDS (load average now $(cut -d' ' -f1-3 /proc/loadavg)):"
for v in "sqlite, empty" "sqlite, again" "postgresql, empty" "postgresql, again"; do
    grep -F "$v " "$res" | awk '{print $(NF-5)}' | sort -n |
        awk -v v="$v" '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2;
                       printf "  %-20s %6.2f s\n", v, m}'
done
