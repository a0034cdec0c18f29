#!/bin/bash
# mta.sh - contactgate on the mail path, measured against Postfix alone and
# against a pass-through milter, side by side on this machine.
#
#   bash bench/mta.sh BUILD      (make bench runs it)
#
# Variants, interleaved in every round (the order rotates per round):
#   postfix      private Postfix on 127.0.0.1, no milter: the ceiling
#   passthrough  the same with bench/passthrough (every callback, no work):
#                the floor cost of any milter
#   bare         bench/passthrough -s: contactgate's protocol shape (the same
#                events negotiated away, the same macros, no replies where
#                contactgate agrees none, the body kept as dedupe wants it)
#                and no work; contactgate's CPU
#                beyond it is contactgate's own work on whatever machine
#                this runs on (BENCH_BARE=0 leaves it out)
#   contactgate  the same with contactgate running policies/retail-bank.json
#                plus bench/all-plugins.json (department budgets: marketing
#                1,000,000 and service 200,000 a day; quiet_hours, dedupe,
#                spf with a static zone: every shipped plugin is on)
#                against a history pre-filled with BENCH_CONTACTS contacts
#                (default 10,000,000) for 1,000,000 customers, with the
#                department counters that history implies
#   contactgate-pg  the same contactgate on a private PostgreSQL 15 on this
#                machine (tests/pg/pglib.sh; fsync on, synchronous_commit
#                on, no standby) pre-filled the same way with
#                BENCH_PG_CONTACTS contacts (default: BENCH_CONTACTS);
#                BENCH_PG=0 leaves it out
# smtp-source drives BENCH_MSGS messages per run (default 10000, 1 KiB, 20
# sessions) from the marketing department to customers of the pre-filled
# history; smtp-sink is the next hop. Each run is timed until every
# accepted message has been delivered (Postfix's log says status=sent).
# Afterwards every run is checked: delivered + deferred by contactgate =
# messages sent, and contactgate's own decision log agrees with Postfix.
#
# BENCH_PERF="VARIANT ..." records those variants' milter with perf (call graphs)
# into BENCH_PERF_OUT (/var/tmp)/perf.VARIANT.ROUND.data.
# BENCH_STRACE="VARIANT ..." counts those variants' milter system calls
# (strace -c -f) into BENCH_PERF_OUT (/var/tmp)/strace.VARIANT.ROUND.txt;
# strace slows the milter: that run's rate and CPU are not comparable.
# BENCH_STAT="VARIANT ..." counts those variants' milter task-clock, context
# switches, migrations and page faults (perf stat) into
# BENCH_PERF_OUT (/var/tmp)/stat.VARIANT.ROUND.txt.
# BENCH_SOCKET=unix (default: the installed shape) or inet: how Postfix
# reaches the milters.
# Environment: BENCH_ROUNDS (3), BENCH_MSGS (10000), BENCH_SESSIONS (20),
# BENCH_CONTACTS (10000000), BENCH_CACHE (/var/tmp/contactgate-bench: the
# pre-filled history is built once and reused).
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/../tests/e2e/lib.sh"
. "$here/../tests/e2e/cg.sh"
. "$here/../tests/pg/pglib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
MSGS=${BENCH_MSGS:-10000}
SESSIONS=${BENCH_SESSIONS:-20}
CONTACTS=${BENCH_CONTACTS:-10000000}
CUSTOMERS=$((CONTACTS / 10))
DOMAINS=5                      # customers NNNc@rK.bench.example, K = 1..5
CACHE=${BENCH_CACHE:-/var/tmp/contactgate-bench}
PT_BIN=$CG_BUILD/bench/passthrough
[ -x "$PT_BIN" ] || { echo "mta.sh: $PT_BIN missing (make bench builds it)"; exit 1; }
command -v smtp-source >/dev/null || PATH=$PATH:/usr/sbin
[ "$ROUNDS" -le "$DOMAINS" ] || { echo "mta.sh: at most $DOMAINS rounds"; exit 1; }

e2e_setup bench
mkdir -p "$CACHE"
WITH_PG=${BENCH_PG:-1}
# how Postfix reaches the milters: "unix" (the installed default,
# unix:/run/contactgate/contactgate.sock) or "inet" (127.0.0.1)
SOCKET=${BENCH_SOCKET:-unix}
case $SOCKET in unix|inet) ;; *) echo "mta.sh: BENCH_SOCKET is unix or inet"; exit 2 ;; esac
PG_CONTACTS=${BENCH_PG_CONTACTS:-$CONTACTS}

# --- the pre-filled history (built once, then copied for this run) ------------
cached=$CACHE/history-v4-$CONTACTS.db   # v4: schema 4, department counters
if [ ! -s "$cached" ]; then
    echo "pre-filling $CONTACTS contacts for $CUSTOMERS customers (once; cached in $cached) ..."
    t0=$(date +%s)
    rm -f "$cached"
    printf '{"database": "%s", "plugin_dir": "%s/plugins", "departments": [], "policies": []}\n' \
        "$cached" "$CG_BUILD" > "$E2E_DIR/prefill.json"
    "$CG_CTL_BIN" -c "$E2E_DIR/prefill.json" customers count >/dev/null || exit 1
    # indexes are rebuilt after the bulk insert (a sort instead of random
    # B-tree inserts); 70% promotions from marketing, 30% bills, spread over
    # the last 60 days
    idx=$(sqlite3 "$cached" "SELECT group_concat(sql, ';') FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' AND sql IS NOT NULL")
    drop=$(sqlite3 "$cached" "SELECT group_concat('DROP INDEX ' || name, ';') FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' AND sql IS NOT NULL")
    now=$(date +%s)
    sqlite3 "$cached" >/dev/null <<SQL || exit 1
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -400000;
BEGIN;
$drop;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $CONTACTS - 1)
INSERT INTO contacts(ts, customer, address, department, category, channel, weight)
SELECT $now - 60 * 86400 + abs(random()) % (60 * 86400), a, a,
       CASE WHEN i % 10 < 7 THEN 'marketing' ELSE 'billing' END,
       CASE WHEN i % 10 < 7 THEN 'promotional.offer' ELSE 'functional.bill' END, 'email', 1
  FROM (SELECT i, ((i % $CUSTOMERS) / $DOMAINS + 1) || 'c@r' || ((i % $CUSTOMERS) % $DOMAINS + 1)
                 || '.bench.example' AS a FROM n);
$idx;
INSERT INTO dept_counts SELECT department, 60, ts - ts % 60, category, count(*) FROM contacts GROUP BY 1, 3, 4;
INSERT INTO dept_counts SELECT department, 3600, ts - ts % 3600, category, count(*) FROM contacts GROUP BY 1, 3, 4;
INSERT INTO dept_counts SELECT department, 86400, ts - ts % 86400, category, count(*) FROM contacts GROUP BY 1, 3, 4;
COMMIT;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
    echo "  done in $(( $(date +%s) - t0 )) s"
fi
echo "copying the pre-filled history ($(du -h "$cached" | cut -f1)) ..."
mkdir -p "$E2E_DIR/contactgate"
CG_DB=$E2E_DIR/contactgate/history.db
cp "$cached" "$CG_DB"
chown -R "$CG_USER" "$E2E_DIR/contactgate"
CG_PORT=$(e2e_free_port)
cg_config "$E2E_DIR/contactgate.json"
# unix sockets: contactgate's in a directory of the MTA's group (setgid, as
# the installed unit makes it), the pass-through's open to all
SOCK_DIR=$E2E_DIR/sockets
mkdir -p "$SOCK_DIR"
chown "$CG_USER:postfix" "$SOCK_DIR"
chmod 2751 "$SOCK_DIR"
CG_SOCK=$SOCK_DIR/contactgate.sock PT_SOCK=$SOCK_DIR/passthrough.sock
[ "$SOCKET" = unix ] &&
    sed -i "s|\"socket\": \"inet:$CG_PORT@127.0.0.1\"|\"socket\": \"unix:$CG_SOCK\"|" "$E2E_DIR/contactgate.json"
cp "$here/all-plugins.json" "$E2E_DIR/all-plugins.json"
sed -i "s|\"include\": \[\(.*\)\]|\"include\": [\1, \"$E2E_DIR/all-plugins.json\"]|" "$E2E_DIR/contactgate.json"
"$CG_BIN" -n -c "$E2E_DIR/contactgate.json" 2>&1 | grep -q 'marketing-budget: department_budget' ||
    { echo "mta.sh: the budget policy set does not load:"; "$CG_BIN" -n -c "$E2E_DIR/contactgate.json"; exit 1; }
PT_PORT=$(e2e_free_port)

# --- the same history on a private PostgreSQL ------------------------------------
if [ "$WITH_PG" = 1 ]; then
    pg_setup_primary bench >/dev/null || { echo "mta.sh: PostgreSQL did not start"; exit 1; }
    CG_PG_CONFIG=$E2E_DIR/contactgate-pg.json
    sed "s|\"database\": \"[^\"]*\"|\"database\": \"$PG_URI\"|" "$CG_CONFIG" > "$CG_PG_CONFIG"
    chmod 644 "$CG_PG_CONFIG"
    "$CG_CTL_BIN" -c "$CG_PG_CONFIG" customers count >/dev/null || exit 1
    echo "pre-filling PostgreSQL with $PG_CONTACTS contacts ..."
    t0=$(date +%s)
    pg_cust=$((PG_CONTACTS / 10))
    PG_PSQL_TIMEOUT=3600 pg_psql "SET synchronous_commit = off" "SET maintenance_work_mem = '256MB'" \
        "DROP INDEX contacts_customer_ts" "DROP INDEX contacts_ts" \
        "INSERT INTO contacts(ts, customer, address, department, category, channel, weight)
         SELECT $(date +%s) - 60 * 86400 + (random() * 60 * 86400)::bigint, a, a,
                CASE WHEN i % 10 < 7 THEN 'marketing' ELSE 'billing' END,
                CASE WHEN i % 10 < 7 THEN 'promotional.offer' ELSE 'functional.bill' END, 'email', 1
           FROM (SELECT i, ((i % $pg_cust) / $DOMAINS + 1) || 'c@r' || ((i % $pg_cust) % $DOMAINS + 1)
                        || '.bench.example' AS a FROM generate_series(0, $PG_CONTACTS - 1) AS i) AS s" \
        "CREATE INDEX contacts_customer_ts ON contacts(customer, ts)" "CREATE INDEX contacts_ts ON contacts(ts)" \
        "INSERT INTO dept_counts SELECT department, l, ts - ts % l, category, count(*) FROM contacts,
           (VALUES (60::bigint), (3600), (86400)) AS v(l) GROUP BY 1, 2, 3, 4" \
        "VACUUM ANALYZE contacts" "VACUUM ANALYZE dept_counts" >/dev/null || { echo "mta.sh: PostgreSQL fill failed"; exit 1; }
    echo "  done in $(( $(date +%s) - t0 )) s"
fi

# --- next hop: smtp-sink, counting ----------------------------------------------
e2e_bg smtp-sink -u postfix 127.0.0.1:$SINK_PORT 256 </dev/null >"$E2E_DIR/sink.out" 2>&1
e2e_wait_banner "$SINK_PORT" 10 || { echo "smtp-sink did not start"; exit 1; }

# proc_cpu PID - user+system CPU seconds of a process (and its threads)
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
proc_hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# wait_sock PATH - until a socket file is there (10 s)
wait_sock() {
    local i
    for i in $(seq 1 100); do [ -S "$1" ] && return 0; sleep 0.1; done
    return 1
}

# cg_up [CONFIG] - contactgate serving on the socket of this run
cg_up() {
    if [ "$SOCKET" = inet ]; then cg_start "$@"; return; fi
    rm -f "$CG_SOCK"
    CG_LOG=$E2E_DIR/contactgate/contactgate.log
    e2e_bg "$CG_BIN" -f -u "$CG_USER" -c "${1:-$CG_CONFIG}" 2>>"$CG_LOG"
    CG_PID=$E2E_LAST_PID
    wait_sock "$CG_SOCK" || { echo "contactgate did not open $CG_SOCK"; cat "$CG_LOG"; return 1; }
}
if [ "$SOCKET" = unix ]; then CG_MILTER=unix:$CG_SOCK; else CG_MILTER=inet:127.0.0.1:$CG_PORT; fi

# listed "A B ..." WORD - is WORD one of the words
listed() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# run VARIANT ROUND - one timed run; appends "variant round msgs secs ..." to results
run() {
    local v=$1 r=$2 milter="" pid=""
    case $v in
        passthrough|bare)
            local shape=()
            [ "$v" = bare ] && shape=(-s)
            # the recipients contactgate deferred in this round, if it ran
            # first: they send the bare milter no data either
            if [ "$v" = bare ] && [ -f "$E2E_DIR/deferred.$r" ]; then
                shape+=(-d "$E2E_DIR/deferred.$r")
                echo "$r $(wc -l < "$E2E_DIR/deferred.$r")" >> "$E2E_DIR/bare-deferred"
            fi
            if [ "$SOCKET" = unix ]; then
                rm -f "$PT_SOCK"
                e2e_bg "$PT_BIN" "${shape[@]}" "unix:$PT_SOCK" </dev/null >>"$E2E_DIR/pt.log" 2>&1
                pid=$E2E_LAST_PID
                wait_sock "$PT_SOCK" || { echo "passthrough did not start"; return 1; }
                chmod 666 "$PT_SOCK"
                milter="unix:$PT_SOCK"
            else
                e2e_bg "$PT_BIN" "${shape[@]}" "inet:$PT_PORT@127.0.0.1" </dev/null >>"$E2E_DIR/pt.log" 2>&1
                pid=$E2E_LAST_PID
                e2e_wait_port "$PT_PORT" 10 || { echo "passthrough did not start"; return 1; }
                milter="inet:127.0.0.1:$PT_PORT"
            fi ;;
        contactgate)
            cg_up >/dev/null || return 1
            pid=$(cg_serving_pid)   # the serving process, not its supervisor
            milter=$CG_MILTER ;;
        contactgate-pg)
            cg_up "$CG_PG_CONFIG" >/dev/null || return 1
            pid=$(cg_serving_pid)
            milter=$CG_MILTER ;;
    esac
    e2e_start_postfix "$milter" "default_process_limit = 250" >/dev/null || return 1
    local lines0 cpu0 t0 t1 cpu1 accepted sent deferred i
    lines0=$(wc -l < "$E2E_MAILLOG")
    # since_start PATTERN - matching log lines written during this run
    since_start() { tail -n +"$((lines0 + 1))" "$E2E_MAILLOG" | grep -c -- "$1"; }
    cpu0=$([ -n "$pid" ] && proc_cpu "$pid" || echo 0)
    # probes of this variant's milter (BENCH_PERF, BENCH_STRACE, BENCH_STAT)
    local perf_pid="" strace_pid="" stat_pid="" out=${BENCH_PERF_OUT:-/var/tmp}
    if [ -n "$pid" ] && listed "${BENCH_PERF:-}" "$v"; then
        perf record -q -g -p "$pid" -o "$E2E_DIR/perf.$v.$r.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    if [ -n "$pid" ] && listed "${BENCH_STRACE:-}" "$v"; then
        strace -q -f ${BENCH_STRACE_OPTS:--c} -p "$pid" -o "$out/strace.$v.$r.txt" &
        strace_pid=$!
        sleep 1
    fi
    if [ -n "$pid" ] && listed "${BENCH_STAT:-}" "$v"; then
        perf stat -e task-clock,context-switches,cpu-migrations,page-faults -p "$pid" \
            -o "$out/stat.$v.$r.txt" &
        stat_pid=$!
    fi
    t0=$(date +%s.%N)
    smtp-source -A -s "$SESSIONS" -m "$MSGS" -l 1024 -N -f offers@offers.bank.example \
        -t "c@r$r.bench.example" 127.0.0.1:$SMTP_PORT >"$E2E_DIR/source.$v.$r" 2>&1
    accepted=$(since_start ': client=')     # queued by smtpd in this run
    for i in $(seq 1 1200); do
        sent=$(since_start 'status=sent')
        [ "$sent" -ge "$accepted" ] && break
        sleep 0.1
    done
    t1=$(date +%s.%N)
    cpu1=$([ -n "$pid" ] && proc_cpu "$pid" || echo 0)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null
        cp "$E2E_DIR/perf.$v.$r.data" "$out/perf.$v.$r.data"
    fi
    if [ -n "$stat_pid" ]; then kill -INT "$stat_pid"; wait "$stat_pid" 2>/dev/null; fi
    if [ -n "$strace_pid" ]; then kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null; fi
    deferred=$(since_start 'milter-reject: RCPT from .*451 4\.7\.1')
    local hwm=0
    [ -n "$pid" ] && hwm=$(proc_hwm "$pid")
    echo "$v $r $MSGS $t0 $t1 $sent $deferred $cpu0 $cpu1 $hwm" >> "$E2E_DIR/results"
    # the decision log agrees: defer rows of this round
    if [ "$v" = contactgate ]; then
        local logged
        logged=$(runuser -u "$CG_USER" -- sqlite3 "$CG_DB" \
            "SELECT count(*) FROM decisions WHERE verdict = 'defer' AND recipient LIKE '%@r$r.bench.example'")
        echo "$r $logged" >> "$E2E_DIR/logged"
        runuser -u "$CG_USER" -- sqlite3 "$CG_DB" "SELECT DISTINCT recipient FROM decisions
            WHERE verdict = 'defer' AND stage = 'rcpt' AND recipient LIKE '%@r$r.bench.example'" \
            > "$E2E_DIR/deferred.$r"
    elif [ "$v" = contactgate-pg ]; then
        echo "$r $(pg_psql "SELECT count(*) FROM decisions WHERE verdict = 'defer'
            AND recipient LIKE '%@r$r.bench.example'")" >> "$E2E_DIR/logged-pg"
    fi
    e2e_stop_postfix
    case $v in
        passthrough|bare) kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null ;;
        contactgate|contactgate-pg) cg_stop ;;
    esac
}

echo "rounds: $ROUNDS, $MSGS messages of 1 KiB per run, $SESSIONS sessions, milters on $SOCKET sockets"
variants=(postfix passthrough contactgate)
[ "${BENCH_BARE:-1}" = 1 ] && variants+=(bare)
[ "$WITH_PG" = 1 ] && variants+=(contactgate-pg)
: > "$E2E_DIR/logged-pg"
: > "$E2E_DIR/bare-deferred"
nv=${#variants[@]}
for r in $(seq 1 "$ROUNDS"); do
    for k in $(seq 0 $((nv - 1))); do
        v=${variants[$(( (k + r - 1) % nv ))]}
        printf '  round %d: %-12s ' "$r" "$v"
        run "$v" "$r" || { echo "run failed"; exit 1; }
        tail -1 "$E2E_DIR/results" | awk '{ printf "%7.0f msg/s  delivered %d  deferred %d\n", $3 / ($5 - $4), $6, $7 }'
    done
done

# --- peak RSS with 200 concurrent sessions ----------------------------------------
cg_up >/dev/null || exit 1
e2e_start_postfix "$CG_MILTER" "default_process_limit = 250" >/dev/null || exit 1
smtp-source -A -s 200 -m 4000 -l 1024 -N -f offers@offers.bank.example \
    -t "c@r$DOMAINS.bench.example" 127.0.0.1:$SMTP_PORT >"$E2E_DIR/source.200" 2>&1
rss200=$(proc_hwm "$(cg_serving_pid)")
e2e_stop_postfix
cg_stop

# --- the table ------------------------------------------------------------------------
python3 - "$E2E_DIR/results" "$E2E_DIR/logged" "$rss200" "$MSGS" "$E2E_DIR/logged-pg" \
    "$E2E_DIR/bare-deferred" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
logged = dict(l.split() for l in open(sys.argv[2]))
logged_pg = dict(l.split() for l in open(sys.argv[5]))
bare_deferred = {int(r): int(n) for r, n in (l.split() for l in open(sys.argv[6]))}
rss200 = int(sys.argv[3]); msgs = int(sys.argv[4])
by = {}
ok = True
for v, r, m, t0, t1, sent, deferred, c0, c1, hwm in rows:
    rate = int(m) / (float(t1) - float(t0))
    by.setdefault(v, {})[int(r)] = dict(rate=rate, sent=int(sent), deferred=int(deferred),
                                        cpu=(float(c1) - float(c0)) / int(m) * 1000, hwm=int(hwm))
    if int(sent) + int(deferred) != int(m):
        ok = False
        print(f"CHECK FAILED: {v} round {r}: delivered {sent} + deferred {deferred} != {m}")
    if v == "contactgate" and int(logged.get(r, -1)) != int(deferred):
        ok = False
        print(f"CHECK FAILED: round {r}: Postfix says {deferred} deferred, contactgate logged {logged.get(r)}")
    if v == "contactgate-pg" and int(logged_pg.get(r, -1)) != int(deferred):
        ok = False
        print(f"CHECK FAILED: round {r}: Postfix says {deferred} deferred, contactgate-pg logged {logged_pg.get(r)}")
    expect = bare_deferred.get(int(r), 0) if v == "bare" else 0
    if not v.startswith("contactgate") and int(deferred) != expect:
        ok = False
        print(f"CHECK FAILED: {v} round {r}: {deferred} deferred, {expect} expected")
rounds = sorted(by["postfix"])
med = lambda xs: statistics.median(xs)
print()
print(f"{'variant':<13} {'msg/s (median)':>15} {'vs postfix':>11} {'vs passthrough':>15} {'milter CPU/msg':>15} {'peak RSS':>9}")
for v in [x for x in ("postfix", "passthrough", "bare", "contactgate", "contactgate-pg") if x in by]:
    rates = [by[v][r]["rate"] for r in rounds]
    r_pf = med([by[v][r]["rate"] / by["postfix"][r]["rate"] for r in rounds])
    r_pt = med([by[v][r]["rate"] / by["passthrough"][r]["rate"] for r in rounds])
    cpu = med([by[v][r]["cpu"] for r in rounds])
    hwm = max(by[v][r]["hwm"] for r in rounds)
    print(f"{v:<13} {med(rates):>15.0f} {r_pf:>11.2f} {r_pt:>15.2f} "
          f"{(f'{cpu:.2f} ms' if v != 'postfix' else '-'):>15} {(f'{hwm / 1024:.1f} MiB' if hwm else '-'):>9}")
d = [by["contactgate"][r]["deferred"] for r in rounds]
print(f"\ncontactgate deferred {sum(d)} of {msgs * len(rounds)} messages "
      f"({100.0 * sum(d) / (msgs * len(rounds)):.1f}%; per round {d}); every other message delivered")
print(f"contactgate peak RSS with 200 concurrent SMTP sessions: {rss200 / 1024:.1f} MiB (target < 64 MiB)")
ratios = [by["contactgate"][r]["rate"] / by["passthrough"][r]["rate"] for r in rounds]
print(f"paired ratio contactgate / passthrough per round: {', '.join(f'{x:.2f}' for x in ratios)} "
      f"(target >= 0.95: {'PASS' if med(ratios) >= 0.95 else 'MISS'})")
if "bare" in by:
    same = [r for r in rounds if r in bare_deferred]
    print(f"bare deferred at RCPT the recipients contactgate deferred in the same round "
          f"(rounds {', '.join(map(str, same)) or 'none'}; in a round where it ran before "
          f"contactgate it deferred nothing)")
    own = [by["contactgate"][r]["cpu"] - by["bare"][r]["cpu"] for r in rounds]
    rel = [by["contactgate"][r]["cpu"] / by["bare"][r]["cpu"] for r in rounds]
    print(f"milter CPU per message, contactgate beyond the bare milter per round: "
          f"{', '.join(f'{x:.2f}' for x in own)} ms; contactgate / bare: "
          f"{', '.join(f'{x:.2f}' for x in rel)} (the issue's 0.6 ms against a bare 0.4 ms is 1.5; "
          f"target <= 1.5 on the median: {'PASS' if med(rel) <= 1.5 else 'MISS'})")
if "contactgate-pg" in by:
    pr = [by["contactgate-pg"][r]["rate"] / by["contactgate"][r]["rate"] for r in rounds]
    print(f"paired ratio contactgate-pg / contactgate (SQLite) per round: {', '.join(f'{x:.2f}' for x in pr)} "
          f"(target >= 0.85: {'PASS' if med(pr) >= 0.85 else 'MISS'})")
print("verification: " + ("every run delivered or deferred every message as expected" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
