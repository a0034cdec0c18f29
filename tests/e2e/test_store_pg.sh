#!/bin/bash
# test_store_pg.sh - the store suite (tests/unit/test_store.c) against a
# private PostgreSQL 15 (tests/pg/pglib.sh): every test of the suite runs
# on the PostgreSQL backend too, none may be skipped there.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-${CG_BUILD_DIR:-build}}
case $build in /*) ;; *) build=$src/$build ;; esac
. "$here/lib.sh"
. "$here/../pg/pglib.sh"

e2e_setup store_pg
if [ ! -x "$build/tests/test_store" ] || [ ! -x "$build/tests/test_pg_batch" ]; then
    t_fail "test_store and test_pg_batch are built" "missing under $build/tests"
    t_done store_pg; exit 1
fi
if ! pg_setup_primary store_pg; then
    t_fail "private PostgreSQL starts"; t_done store_pg; exit 1
fi
out=$(CG_TEST_PG_URI=$PG_URI "$build/tests/test_store" 2>&1); rc=$?
pg_lines=$(printf '%s\n' "$out" | grep -c 'postgresql/')
t_eq "test_store exits 0" "$rc" 0
t_check "the postgresql backend ran ($pg_lines lines)" test "$pg_lines" -gt 10
t_eq "no postgresql test skipped" "$(printf '%s\n' "$out" | grep -E 'postgresql/' | grep -ci skip)" 0
summary=$(printf '%s\n' "$out" | grep -E '^test_store: [0-9]+ passed')
t_match "summary" "$summary" ': [0-9]+ passed, 0 failed'
[ "$rc" = 0 ] || printf '%s\n' "$out" | grep -vE '^ok' | head -60

# two connections as two relays: the batches' locks, cache and joins
out=$(CG_TEST_PG_URI=$PG_URI "$build/tests/test_pg_batch" 2>&1); rc=$?
printf '%s\n' "$out" | grep -E '^  without' || true
t_eq "test_pg_batch exits 0" "$rc" 0
t_match "test_pg_batch: nothing skipped" "$(printf '%s\n' "$out" | tail -1)" ': 3 passed, 0 failed'
[ "$rc" = 0 ] || printf '%s\n' "$out" | grep -vE '^ok' | head -30
# the schema's versions: created at the current one; a database from a
# newer contactgate is refused and left alone; an older one is refused by
# read-only tools and migrated forward by the others
ctl=$build/contactgatectl
cfg=$E2E_DIR/guard.json
guri="$PG_URI?options=-csearch_path%3Dguard"
printf '{"database": "%s", "departments": [], "policies": []}\n' "$guri" > "$cfg"
pg_psql "CREATE SCHEMA guard" >/dev/null
t_check "contactgatectl creates the schema" "$ctl" -c "$cfg" customers count
want=$(sed -n 's/^#define CG_STORE_SCHEMA_VERSION \([0-9]*\).*/\1/p' "$src/core/store/cg_store.h")
t_eq "at the current version" "$(pg_psql "SELECT value FROM guard.meta WHERE key = 'schema_version'")" "$want"
pg_psql "UPDATE guard.meta SET value = '99' WHERE key = 'schema_version'" >/dev/null
out=$("$ctl" -c "$cfg" customers count 2>&1); rc=$?
t_eq "a newer schema: store error" "$rc" 2
t_match "... says why" "$out" 'schema version 99 is newer than this contactgate'
t_eq "... and is left alone" "$(pg_psql "SELECT value FROM guard.meta WHERE key = 'schema_version'")" 99
pg_psql "UPDATE guard.meta SET value = '3' WHERE key = 'schema_version'" \
    "ALTER TABLE guard.contacts DROP COLUMN relay" >/dev/null
out=$("$ctl" store check --from "$guri" 2>&1); rc=$?
t_eq "an older schema, read-only: refused" "$rc" 2
t_match "... says why" "$out" "schema version 3, expected $want"
t_check "an older schema: migrated forward on open" "$ctl" -c "$cfg" customers count
t_eq "... to the current version" "$(pg_psql "SELECT value FROM guard.meta WHERE key = 'schema_version'")" "$want"

# customers import on PostgreSQL goes by COPY (cg_pg_copy.c) and writes
# the map an import on SQLite writes: backslashes and quotes in the
# attributes' JSON, non-ASCII, an empty time zone (NULL), an address given
# twice (the last line counts), then the same file again (all updated)
pg_psql_admin primary "ALTER SYSTEM SET log_statement = 'all'" "SELECT pg_reload_conf()" >/dev/null
printf '{"database": "%s", "departments": [], "policies": []}\n' "$E2E_DIR/map.db" > "$E2E_DIR/map-sqlite.json"
pg_psql "CREATE SCHEMA map" >/dev/null
printf '{"database": "%s?options=-csearch_path%%3Dmap", "departments": [], "policies": []}\n' \
    "$PG_URI" > "$E2E_DIR/map-pg.json"
{
    printf 'address,customer,timezone,segment,note\n'
    printf 'ann@example.com,C-1,Europe/Berlin,gold,"back\\slash \\N \\t and ""quotes"""\n'
    printf '"Bob@Example.COM",C-2,,silver,"tab\there, comma"\n'
    printf 'carl@example.com,"C-3, Jr.",America/New_York,,"two\nlines"\n'
    printf 'dora@example.com,C-4,,,caf\xc3\xa9 \xe2\x82\xac\n'
    for i in $(seq 1 3000); do printf 'u%d@example.net,C-u%d,Europe/London,s%d,\n' "$i" $((i / 2)) $((i % 7)); done
    printf 'ann@example.com,C-1b,,,second line of ann\n'
} > "$E2E_DIR/map.csv"
for round in first again; do
    sq=$("$ctl" -c "$E2E_DIR/map-sqlite.json" customers import "$E2E_DIR/map.csv" 2>&1)
    pq=$("$ctl" -c "$E2E_DIR/map-pg.json" customers import "$E2E_DIR/map.csv" 2>&1)
    t_eq "customers import ($round): the same counts on both" "$pq" "$sq"
done
t_eq "... and they are right" "$pq" "added 0, updated 3005"
sq=$("$ctl" -c "$E2E_DIR/map-sqlite.json" --json customers list 2>&1)
pq=$("$ctl" -c "$E2E_DIR/map-pg.json" --json customers list 2>&1)
t_check "customers list: the same map on both ($(printf '%s\n' "$pq" | wc -l) lines)" \
    test "$pq" = "$sq" -a -n "$pq"
[ "$pq" = "$sq" ] || diff <(printf '%s\n' "$sq") <(printf '%s\n' "$pq") | head -20
t_match "... with the last line of an address twice" "$pq" '"address":"ann@example.com","customer":"C-1b","timezone":null,"attrs":\{"note":"second line of ann"\}'
t_check "the import went by COPY (the server's log)" \
    grep -q 'statement: COPY cg_copy_customers (seq, address, customer, timezone, attrs) FROM STDIN' \
    "$PG_BASE/primary.log"
t_done store_pg
