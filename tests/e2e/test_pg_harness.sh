#!/bin/bash
# test_pg_harness.sh - the private PostgreSQL harness (tests/pg/pglib.sh)
# and the libpq layer (core/store/cg_pgconn.c) against it.
#
# A primary and a synchronous standby on loopback; a row committed on the
# primary is on the standby; with the standby stopped (SIGSTOP) a commit
# waits, statement_timeout does not end the wait, a cancel does (WARNING,
# "committed locally", and success); then tests/unit/test_pgconn.c, built
# with -Werror and ASan/UBSan, runs against the cluster while this script
# pauses, restarts, kills and promotes servers when it asks; the multi-host
# URI reaches the promoted standby; at the end nothing is left running.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
. "$here/../pg/pglib.sh"
PSQL=$PG_BIN/psql
t_begin=$(date +%s%3N)

# zombies of the kinds this test starts (PID 1 here reaps nobody)
zombies() {
    ps -eo pid=,stat=,comm= | awk '$2 ~ /^Z/ && ($3 == "postgres" || $3 == "python3" || $3 == "setpriv" || $3 == "test_pgconn") { print $1 }' | sort
}
zombies_before=$(zombies)

e2e_setup pg_harness
if ! pg_setup_primary pg_harness; then
    t_fail "primary starts"; t_done pg_harness; exit 1
fi
t_ok "primary: initdb and start as user postgres on 127.0.0.1:$PG_PORT"
t_check "not the system cluster's port" test "$PG_PORT" != 5432
t_eq "listens on 127.0.0.1 only" "$(pg_psql_admin primary 'SHOW listen_addresses')" 127.0.0.1
t_eq "postmaster runs as postgres" "$(ps -o user= -p "$(pg__pm_pid primary)" | tr -d ' ')" postgres
t_eq "fsync on, wal_level replica" "$(pg_psql_admin primary "SELECT current_setting('fsync') || ' ' || current_setting('wal_level')")" "on replica"
t_eq "PG_URI reaches role and database contactgate" \
    "$("$PSQL" -X -At -d "$PG_URI" -c "SELECT current_user || '/' || current_database()")" contactgate/contactgate

if ! pg_setup_standby; then
    t_fail "standby starts"; t_done pg_harness; exit 1
fi
t_eq "standby streams synchronously" \
    "$(pg_psql_admin primary "SELECT application_name || ' ' || state || ' ' || sync_state FROM pg_stat_replication")" \
    "cg_standby streaming sync"
t_eq "standby is in recovery" "$(pg_psql_standby 'SELECT pg_is_in_recovery()')" t
t_eq "promoted, the standby would not wait for a standby of its own" \
    "$(pg_psql_admin standby 'SHOW synchronous_standby_names')" ""
echo "  setup: primary and standby ready after $(($(date +%s%3N) - t_begin)) ms"

# --- a committed row is on the standby ------------------------------------
pg_psql "CREATE TABLE harness_t (id int PRIMARY KEY, note text)" \
    "INSERT INTO harness_t VALUES (1, 'first')" >/dev/null
seen=""
for i in $(seq 1 50); do
    seen=$(pg_psql_standby "SELECT note FROM harness_t WHERE id = 1" 2>/dev/null)
    [ "$seen" = first ] && break
    sleep 0.1
done
t_eq "a row committed on the primary is on the standby" "$seen" first

# --- a hung synchronous standby: statement_timeout does not end the wait -----
pg_pause_standby
t0=$(date +%s%3N)
PGAPPNAME=cg_blocked "$PSQL" -X -At -d "$PG_URI" -c "SET statement_timeout = '1s'" \
    -c "INSERT INTO harness_t VALUES (2, 'standby stopped')" \
    >"$E2E_DIR/blocked.out" 2>"$E2E_DIR/blocked.err" &
blocked=$!
E2E_PIDS="$E2E_PIDS $blocked"
sleep 2.5
t_check "with the standby stopped, the commit still waits after 2.5 s (statement_timeout 1s)" \
    e2e_alive "$blocked"
t_eq "it waits on SyncRep" \
    "$(pg_psql "SELECT wait_event FROM pg_stat_activity WHERE application_name = 'cg_blocked'")" SyncRep
t_eq "pg_cancel_backend" \
    "$(pg_psql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'cg_blocked'")" t
wait "$blocked"
rc=$?
waited=$(($(date +%s%3N) - t0))
E2E_PIDS=$(echo " $E2E_PIDS " | sed "s/ $blocked / /g")
t_eq "the cancelled commit exits with status 0" "$rc" 0
t_match "psql prints the INSERT's success" "$(cat "$E2E_DIR/blocked.out")" '^INSERT 0 1$'
err=$(cat "$E2E_DIR/blocked.err")
t_match "WARNING: canceling wait for synchronous replication" "$err" \
    '^WARNING:  canceling wait for synchronous replication due to user request$'
t_match "DETAIL: committed locally" "$err" \
    '^DETAIL:  The transaction has already committed locally, but might not have been replicated to the standby\.$'
t_eq "the row is on the primary while the standby is still stopped" \
    "$(pg_psql "SELECT note FROM harness_t WHERE id = 2")" "standby stopped"
echo "  measured: the commit waited ${waited} ms until the cancel (statement_timeout was 1s); psql got: $(echo "$err" | tr '\n' ' ')"
pg_resume_standby
seen=""
for i in $(seq 1 50); do
    seen=$(pg_psql_standby "SELECT note FROM harness_t WHERE id = 2" 2>/dev/null)
    [ "$seen" = "standby stopped" ] && break
    sleep 0.1
done
t_eq "resumed, the standby catches up" "$seen" "standby stopped"

# --- the libpq layer: build, then run it, serving its actions ---------------
bin=$E2E_DIR/bin/test_pgconn
mkdir -p "$E2E_DIR/bin"
read -ra pgflags <<<"$(pkg-config --cflags --libs libpq)"
t_check "test_pgconn builds: -std=c11 -Wall -Wextra -Werror -O2" \
    gcc -std=c11 -Wall -Wextra -Werror -pthread -O2 -DCG_WITH_LIBPQ -o "$bin.plain" \
    "$src/tests/unit/test_pgconn.c" "$src/core/store/cg_pgconn.c" "${pgflags[@]}"
t_check "test_pgconn builds with ASan/UBSan" \
    gcc -std=c11 -Wall -Wextra -Werror -pthread -O1 -g -fsanitize=address,undefined \
    -fno-sanitize-recover=all -fno-omit-frame-pointer -DCG_WITH_LIBPQ -o "$bin" \
    "$src/tests/unit/test_pgconn.c" "$src/core/store/cg_pgconn.c" "${pgflags[@]}"
[ "${PG_TEST_SANITIZE:-1}" = 1 ] || bin=$bin.plain

# pg_action NAME - what test_pgconn asks for
pg_action() {
    case $1 in
    pause-standby) pg_pause_standby ;;
    resume-standby) pg_resume_standby ;;
    pause-primary) pg_pause primary ;;
    resume-primary) pg_resume primary ;;
    stop-primary) pg_stop primary ;;
    start-primary) pg_start primary ;;
    restart-primary) pg_stop primary && pg_start primary ;;
    kill-primary)
        pg_kill_primary || return 1
        # what a client of the failover URI sees before the promotion
        PGCONNECT_TIMEOUT=2 "$PSQL" -X -At -d "$PG_URI_FAILOVER" -c "SELECT 1" \
            >"$E2E_DIR/failover-before.out" 2>&1
        echo $? >"$E2E_DIR/failover-before.rc"
        ;;
    promote-standby) pg_promote_standby && echo "$PG_PROMOTE_MS" >"$E2E_DIR/promote.ms" ;;
    *) echo "unknown action $1" >&2; return 1 ;;
    esac
}

if [ -x "$bin" ]; then
    mkfifo "$E2E_DIR/tp.in" "$E2E_DIR/tp.out"
    CG_TEST_PG_URI=$PG_URI CG_TEST_PG_URI_FAILOVER=$PG_URI_FAILOVER CG_TEST_PG_ACTIONS=1 \
    CG_TEST_PG_URI_RW_SECOND="postgresql://$PG_ROLE@127.0.0.1:$PG_STANDBY_PORT,127.0.0.1:$PG_PORT/$PG_ROLE?target_session_attrs=read-write" \
        "$bin" <"$E2E_DIR/tp.in" >"$E2E_DIR/tp.out" 2>"$E2E_DIR/test_pgconn.err" &
    tp=$!
    E2E_PIDS="$E2E_PIDS $tp"
    exec {wfd}>"$E2E_DIR/tp.in" {rfd}<"$E2E_DIR/tp.out"
    while IFS= read -r line <&"$rfd"; do
        case $line in
        "@@ "*)
            t0=$(date +%s%3N)
            if pg_action "${line#@@ }" {wfd}>&- {rfd}<&- >>"$E2E_DIR/actions.log" 2>&1; then
                echo ok >&"$wfd"
                echo "  action ${line#@@ }: $(($(date +%s%3N) - t0)) ms"
            else
                echo fail >&"$wfd"
                t_fail "action ${line#@@ }" "$(tail -n 20 "$E2E_DIR/actions.log")"
            fi
            ;;
        "ok "*) t_ok "test_pgconn: ${line#ok }" ;;
        "FAIL "*) t_fail "test_pgconn: ${line#FAIL }" ;;
        *) echo "  $line" ;;
        esac
    done
    exec {wfd}>&- {rfd}<&-
    wait "$tp"
    rc=$?
    E2E_PIDS=$(echo " $E2E_PIDS " | sed "s/ $tp / /g")
    t_eq "test_pgconn exits 0" "$rc" 0
    if [ -s "$E2E_DIR/test_pgconn.err" ]; then
        t_fail "test_pgconn wrote nothing on stderr (sanitizers)" "$(head -n 40 "$E2E_DIR/test_pgconn.err")"
    fi
else
    t_fail "test_pgconn was built"
fi

# --- after the failover ---------------------------------------------------------
if [ -f "$E2E_DIR/promote.ms" ]; then
    echo "  measured: pg_ctl promote until the standby took writes: $(cat "$E2E_DIR/promote.ms") ms"
    t_match "before the promotion the failover URI finds no read-write server" \
        "$(cat "$E2E_DIR/failover-before.rc") $(tr '\n' ' ' <"$E2E_DIR/failover-before.out")" \
        '^2 .*Connection refused.*session is read-only'
    echo "  psql before promotion: $(tr '\n' ' ' <"$E2E_DIR/failover-before.out")"
    t_eq "after it, psql with the multi-host read-write URI reaches the new primary" \
        "$("$PSQL" -X -At -d "$PG_URI_FAILOVER" -c "SELECT inet_server_port() || ' ' || pg_is_in_recovery()")" \
        "$PG_STANDBY_PORT false"
    t_eq "rows acknowledged before the kill are on the new primary" \
        "$("$PSQL" -X -At -d "$PG_URI_FAILOVER" -c "SELECT count(*) FROM harness_t")" 2
    # The old primary restarted without fencing comes up read-write, and the
    # URI lists it first: clients go back to it and read stale data. Its
    # commits wait for the synchronous standby it no longer has, so nothing
    # written there is acknowledged.
    if pg_start primary; then
        t_eq "a restarted old primary is first in the URI and wins (no fencing)" \
            "$("$PSQL" -X -At -d "$PG_URI_FAILOVER" -c "SELECT inet_server_port()")" "$PG_PORT"
        t_eq "it lacks what the new primary committed" \
            "$("$PSQL" -X -At -d "$PG_URI_FAILOVER" -c "SELECT count(*) FROM pgconn_t WHERE id = 3000")" 0
        PGAPPNAME=cg_stale "$PSQL" -X -At -d "$PG_URI_FAILOVER" \
            -c "INSERT INTO harness_t VALUES (9, 'old primary')" >/dev/null 2>&1 &
        stale=$!
        E2E_PIDS="$E2E_PIDS $stale"
        st=""
        for i in $(seq 1 30); do
            st=$(pg_psql "SELECT wait_event FROM pg_stat_activity WHERE application_name = 'cg_stale'" 2>/dev/null)
            [ "$st" = SyncRep ] && break
            sleep 0.1
        done
        t_eq "a write on the old primary waits for its gone synchronous standby" "$st" SyncRep
        pg_stop primary
        wait "$stale" 2>/dev/null
        E2E_PIDS=$(echo " $E2E_PIDS " | sed "s/ $stale / /g")
    else
        t_fail "the old primary starts again"
    fi
else
    t_fail "the failover ran (promote-standby action)"
fi

# --- nothing left behind ------------------------------------------------------------
base=$PG_BASE
pg_teardown
left=$(pg_leftover_pids | tr '\n' ' ')
t_eq "after teardown no process runs in or from the cluster directories" "$left" ""
t_eq "pgrep -f finds nothing under $base" "$(pgrep -f "$base" | tr '\n' ' ')" ""
t_eq "pgrep -f finds no backend of these clusters ($PG_TAG-*)" "$(pgrep -f "$PG_TAG-" | tr '\n' ' ')" ""
new_zombies=$(comm -13 <(echo "$zombies_before") <(zombies) | tr '\n' ' ')
t_eq "no zombies left" "${new_zombies% }" ""
echo "  total: $(($(date +%s%3N) - t_begin)) ms"
t_done pg_harness
