#!/bin/bash
# pglib.sh - private PostgreSQL 15 clusters for the tests and benchmarks: a
# primary and, on request, a synchronous streaming standby, on loopback.
# Source it (scripts use set -u, not set -e); it sources tests/e2e/lib.sh
# itself unless that is loaded already, and shares its temp dir, ports,
# assertions and teardown:
#
#   pg_setup_primary NAME     initdb + start; role and database "contactgate";
#                             exports PG_PORT PG_DATA PG_URI PG_SOCKDIR
#   pg_setup_standby          synchronous standby of the primary; exports
#                             PG_STANDBY_PORT PG_STANDBY_DATA PG_STANDBY_URI
#                             PG_URI_FAILOVER (both hosts, read-write)
#   pg_psql SQL...            psql -X -At on the primary as contactgate, one
#                             -c per argument (ON_ERROR_STOP)
#   pg_psql_standby SQL...    the same on the standby
#   pg_psql_admin NODE SQL... as superuser "postgres" over the unix socket
#   pg_kill_primary           pg_ctl stop -m immediate: no checkpoint, the
#                             standby keeps only what it had received
#   pg_promote_standby        pg_ctl promote; returns once it takes writes
#                             (PG_PROMOTE_MS: how long that took)
#   pg_pause_standby          SIGSTOP every process of the standby: a hung
#   pg_resume_standby         synchronous standby; SIGCONT
#   pg_pause [NODE] / pg_resume [NODE]   the same for any node (a server
#                             that accepts TCP connections, then never answers)
#   pg_stop [NODE]            fast shutdown (default NODE: primary)
#   pg_start [NODE]           start again, same port (with a synchronous
#                             standby: until it streams again)
#   pg_node_pids NODE         the node's postmaster and its children
#   pg_leftover_pids          any process still running in or from $PG_BASE
#   pg_teardown               stop every node (registered with e2e_on_exit;
#                             idempotent)
#
# Never the system cluster: every server has its data directory under
# $E2E_DIR/pg, listens on 127.0.0.1 only, on a free port chosen by
# e2e_free_port (never 5432), with its unix socket in $PG_BASE/sock. initdb,
# postgres and pg_ctl run as the unprivileged system user "postgres"
# (setpriv); authentication is "trust" from 127.0.0.1 and the socket only.
#
# Processes: PID 1 here does not reap orphans, and "pg_ctl start" leaves a
# postmaster whose parent has exited. So each postmaster runs in the
# foreground under lib.sh's subreaper (E2E_REAPER), started with e2e_bg:
# the subreaper also reaps backends orphaned when a postmaster dies, and it
# exits when the last of them is gone. pg_ctl is used only to signal a
# running postmaster (stop, promote). Call the pg_setup_* functions and
# pg_start in the test's own shell, not in $(...) or a pipeline: the
# processes they start must be children of that shell.
#
# Settings (environment, before pg_setup_primary): PG_BIN (default
# /usr/lib/postgresql/15/bin), PG_SHARED_BUFFERS (32MB),
# PG_MAX_CONNECTIONS (100), PG_EXTRA_CONF (lines added to postgresql.conf).

PG_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! declare -F e2e_on_exit >/dev/null; then
    # shellcheck source=../e2e/lib.sh
    . "$PG_LIB_DIR/../e2e/lib.sh"
fi

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_OS_USER=postgres          # system user the servers run as
PG_ROLE=contactgate          # role and database the tests use
PG_STANDBY_APP=cg_standby    # the standby's application_name
PG_BASE=""
PG_TAG=""
PG__TEARDOWN_SET=0
declare -gA PG__DATA=() PG__PORT=() PG__RPID=() PG__PAUSED=()
PG__NODES=""
PG__PROMOTED=0

pg__now_ms() { date +%s%3N; }

# pg__as CMD... - run as the postgres system user, in $PG_BASE
pg__as() {
    (cd "$PG_BASE" && exec setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups \
        env HOME="$PG_BASE" "$@")
}

# pg__port - a free loopback port, never 5432
pg__port() {
    local p
    while :; do
        p=$(e2e_free_port) || return 1
        [ -n "$p" ] && [ "$p" != 5432 ] && { echo "$p"; return 0; }
    done
}

# pg__log_tail NODE - the last lines of the node's server log, indented
pg__log_tail() { tail -n "${2:-20}" "$PG_BASE/$1.log" 2>/dev/null | sed 's/^/    /'; }

# pg__pm_pid NODE - the postmaster's PID from postmaster.pid (may be stale)
pg__pm_pid() { head -n 1 "${PG__DATA[$1]}/postmaster.pid" 2>/dev/null | tr -dc 0-9; }

pg_node_pids() {
    local pm
    pm=$(pg__pm_pid "$1")
    e2e_alive "$pm" || return 0
    echo "$pm"
    pgrep -P "$pm" 2>/dev/null
}

# pg__psql PORT USER DB SQL... - psql -X -At, one -c per SQL, bounded in time
pg__psql() {
    local port=$1 user=$2 db=$3 a args=()
    shift 3
    for a in "$@"; do args+=(-c "$a"); done
    PGCONNECT_TIMEOUT=5 timeout -k 5 "${PG_PSQL_TIMEOUT:-60}" \
        "$PG_BIN/psql" -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$user" -d "$db" "${args[@]}"
}
pg_psql() { pg__psql "${PG__PORT[primary]}" "$PG_ROLE" "$PG_ROLE" "$@"; }
pg_psql_standby() { pg__psql "${PG__PORT[standby]}" "$PG_ROLE" "$PG_ROLE" "$@"; }
# pg_psql_admin NODE SQL... - superuser, over the node's unix socket
pg_psql_admin() {
    local node=$1 a args=()
    shift
    for a in "$@"; do args+=(-c "$a"); done
    PGCONNECT_TIMEOUT=5 timeout -k 5 "${PG_PSQL_TIMEOUT:-60}" \
        "$PG_BIN/psql" -X -At -v ON_ERROR_STOP=1 -h "$PG_BASE/sock" -p "${PG__PORT[$node]}" \
        -U postgres -d postgres "${args[@]}"
}

# pg__start_node NODE - the postmaster in the foreground under the
# subreaper; waits until it accepts connections (30 s at most)
pg__start_node() {
    local node=$1 data=${PG__DATA[$1]} port=${PG__PORT[$1]} old=$PWD i
    if e2e_alive "${PG__RPID[$node]:-}"; then
        echo "pglib: $node is running already" >&2
        return 1
    fi
    cd "$PG_BASE" || return 1
    # --pdeathsig: should the subreaper die first, the postmaster gets
    # SIGQUIT (immediate shutdown) instead of running on as an orphan
    e2e_bg "$E2E_PY" -c "$E2E_REAPER" \
        setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups --pdeathsig QUIT \
        env HOME="$PG_BASE" "$PG_BIN/postgres" -D "$data" -p "$port" \
        -c "cluster_name=$PG_TAG-$node" </dev/null >>"$PG_BASE/$node.log" 2>&1
    PG__RPID[$node]=$E2E_LAST_PID
    cd "$old" || return 1
    for i in $(seq 1 300); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1 && return 0
        if ! e2e_alive "${PG__RPID[$node]}"; then
            echo "pglib: $node exited at start:" >&2
            pg__log_tail "$node" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "pglib: $node does not accept connections on 127.0.0.1:$port:" >&2
    pg__log_tail "$node" >&2
    return 1
}

# pg__is_pm NODE PID - PID is a live postmaster of NODE's data directory
# (not a stale postmaster.pid, not a reused PID)
pg__is_pm() {
    e2e_alive "$2" || return 1
    { tr '\0' ' ' < "/proc/$2/cmdline"; } 2>/dev/null | grep -qF -- "-D ${PG__DATA[$1]} "
}

# pg__wait_gone NODE SECS - until the node's postmaster and its subreaper
# (so every process of the node) have exited; reaps the subreaper
pg__wait_gone() {
    local node=$1 secs=${2:-20} rpid=${PG__RPID[$1]:-} pm i
    pm=$(pg__pm_pid "$node")
    for i in $(seq 1 $((secs * 10))); do
        pg__is_pm "$node" "$pm" || e2e_alive "$rpid" || break
        sleep 0.1
    done
    if pg__is_pm "$node" "$pm" || e2e_alive "$rpid"; then
        return 1
    fi
    if [ -n "$rpid" ]; then
        wait "$rpid" 2>/dev/null
        E2E_PIDS=$(echo " $E2E_PIDS " | sed "s/ $rpid / /g")
    fi
    PG__RPID[$node]=""
    return 0
}

# pg__stop_node NODE MODE - pg_ctl stop -m MODE, then the harder ways. Goes
# by the postmaster itself, so it works also when the subreaper is gone.
pg__stop_node() {
    local node=$1 mode=${2:-fast} pm p
    [ -n "${PG__DATA[$node]:-}" ] || return 0
    pg__resume "$node"     # a stopped process would never act on the signal
    pm=$(pg__pm_pid "$node")
    if pg__is_pm "$node" "$pm"; then
        pg__as "$PG_BIN/pg_ctl" -D "${PG__DATA[$node]}" stop -m "$mode" -w -t 20 \
            >>"$PG_BASE/$node.log" 2>&1 ||
            pg__as "$PG_BIN/pg_ctl" -D "${PG__DATA[$node]}" stop -m immediate -w -t 10 \
                >>"$PG_BASE/$node.log" 2>&1
    fi
    pg__wait_gone "$node" 10 && return 0
    # last resort: SIGKILL the postmaster (its children notice and exit),
    # then anything of the node still there, then the subreaper
    pg__is_pm "$node" "$pm" && kill -KILL "$pm" 2>/dev/null
    pg__wait_gone "$node" 10 && return 0
    for p in $(pg_leftover_pids); do
        case $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) in
        *"$PG_TAG-$node"*|*"${PG__DATA[$node]}"*) kill -KILL "$p" 2>/dev/null ;;
        esac
    done
    [ -n "${PG__RPID[$node]:-}" ] && kill -KILL "${PG__RPID[$node]}" 2>/dev/null
    pg__wait_gone "$node" 5
}

# pg__wait_sync SECS - until the primary shows the standby streaming and
# synchronous (after a restart of either, the standby reconnects on its own
# schedule; until then every commit on the primary waits)
pg__wait_sync() {
    local i st=""
    for i in $(seq 1 $((${1:-20} * 10))); do
        st=$(pg_psql_admin primary "SELECT state || '/' || sync_state FROM pg_stat_replication
                                    WHERE application_name = '$PG_STANDBY_APP'" 2>/dev/null)
        [ "$st" = streaming/sync ] && return 0
        sleep 0.1
    done
    echo "pglib: standby not streaming/sync (state: ${st:-none}):" >&2
    pg__log_tail standby >&2
    return 1
}

pg_stop() { pg__stop_node "${1:-primary}" fast; }
# pg_start [NODE] - with a synchronous standby running (and not promoted),
# starting either node returns once replication is synchronous again
pg_start() {
    local node=${1:-primary}
    pg__start_node "$node" || return 1
    if [ "$PG__PROMOTED" = 0 ] && e2e_alive "${PG__RPID[primary]:-}" &&
        e2e_alive "${PG__RPID[standby]:-}"; then
        pg__wait_sync 20 || return 1
    fi
    return 0
}

# pg_kill_primary - immediate shutdown: every process exits at once, no
# checkpoint (recovery on the next start), like a crash. (A SIGKILL of the
# postmaster is the same for WAL, but leaves its shared memory segments
# behind for the next start of that data directory to clean up.)
pg_kill_primary() { pg__stop_node primary immediate; }

# pg_promote_standby - returns 0 once the standby is out of recovery and
# not read-only; PG_PROMOTE_MS is how long that took
pg_promote_standby() {
    local t0 i out
    t0=$(pg__now_ms)
    pg__as "$PG_BIN/pg_ctl" -D "${PG__DATA[standby]}" promote -w -t 30 \
        >>"$PG_BASE/standby.log" 2>&1 || { pg__log_tail standby >&2; return 1; }
    for i in $(seq 1 300); do
        out=$(pg_psql_standby "SELECT NOT pg_is_in_recovery()
                  AND current_setting('transaction_read_only') = 'off'" 2>/dev/null)
        if [ "$out" = t ]; then
            PG__PROMOTED=1
            PG_PROMOTE_MS=$(($(pg__now_ms) - t0))
            export PG_PROMOTE_MS
            return 0
        fi
        sleep 0.1
    done
    echo "pglib: the standby does not take writes after promotion:" >&2
    pg__log_tail standby >&2
    return 1
}

# pg__pause NODE - SIGSTOP the postmaster first (so it starts nothing new),
# then its children
pg__pause() {
    local node=$1 pm kids
    pm=$(pg__pm_pid "$node")
    e2e_alive "$pm" || { echo "pglib: $node is not running" >&2; return 1; }
    kill -STOP "$pm" || return 1
    kids=$(pgrep -P "$pm" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    [ -n "$kids" ] && kill -STOP $kids 2>/dev/null
    PG__PAUSED[$node]="$kids $pm"
}
pg__resume() {
    local node=$1 p
    for p in ${PG__PAUSED[$node]:-}; do kill -CONT "$p" 2>/dev/null; done
    PG__PAUSED[$node]=""
}
pg_pause() { pg__pause "${1:-primary}"; }
pg_resume() { pg__resume "${1:-primary}"; }
pg_pause_standby() { pg__pause standby; }
pg_resume_standby() { pg__resume standby; }

# pg_leftover_pids - processes whose working directory is under $PG_BASE or
# whose command line names it or the clusters' tag (backends rewrite their
# command line to "postgres: TAG-NODE: ...")
pg_leftover_pids() {
    local d pid cwd
    [ -n "$PG_BASE" ] || return 0
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = "$$" ] && continue
        cwd=$(readlink "$d/cwd" 2>/dev/null) || cwd=""
        case $cwd in "$PG_BASE"|"$PG_BASE"/*) echo "$pid"; continue ;; esac
        if { tr '\0' ' ' < "$d/cmdline"; } 2>/dev/null | grep -qF -e "$PG_BASE" -e "$PG_TAG-"; then
            echo "$pid"
        fi
    done
}

pg_teardown() {
    local node i left
    for node in $PG__NODES; do pg__resume "$node"; done
    # the standby first: a primary waiting for it is then stopped on its own
    for node in standby primary; do
        case " $PG__NODES " in *" $node "*) pg__stop_node "$node" fast ;; esac
    done
    # nothing of ours may outlive the directory lib.sh removes next
    for i in $(seq 1 30); do
        left=$(pg_leftover_pids)
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    echo "pglib: still running at teardown, killed: $left" >&2
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
    return 0
}

# pg_setup_primary NAME
pg_setup_primary() {
    local name=${1:-pg} data
    if [ -z "${E2E_DIR:-}" ] || [ ! -d "$E2E_DIR" ]; then
        e2e_setup "$name"
    fi
    PG_BASE=$E2E_DIR/pg
    PG_TAG=cgpg-${E2E_DIR##*.}
    mkdir -p "$PG_BASE/sock" || return 1
    chown "$PG_OS_USER:$PG_OS_USER" "$PG_BASE" "$PG_BASE/sock" || return 1
    chmod 755 "$PG_BASE" "$PG_BASE/sock"
    if [ "$PG__TEARDOWN_SET" != 1 ]; then
        e2e_on_exit pg_teardown
        PG__TEARDOWN_SET=1
    fi
    data=$PG_BASE/primary
    PG__DATA[primary]=$data
    PG__PORT[primary]=$(pg__port) || return 1
    PG__NODES="primary"
    # --no-sync: initdb's own final fsync only; the server runs with fsync on
    if ! pg__as "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C \
            --no-sync --no-instructions >"$PG_BASE/initdb.log" 2>&1; then
        echo "pglib: initdb failed:" >&2
        sed 's/^/    /' "$PG_BASE/initdb.log" >&2
        return 1
    fi
    cat >>"$data/postgresql.conf" <<EOF

# --- tests/pg/pglib.sh: a private test cluster. The port and cluster_name
# are given on the command line, so a standby copied from here gets its own.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_BASE/sock'
max_connections = ${PG_MAX_CONNECTIONS:-100}
shared_buffers = ${PG_SHARED_BUFFERS:-32MB}
fsync = on
synchronous_commit = on
wal_level = replica
max_wal_senders = 4
max_replication_slots = 4
wal_keep_size = 256MB
hot_standby = on
ssl = off
logging_collector = off
log_line_prefix = '%m [%p] %q%a '
lc_messages = 'C'
# the standby retries a lost primary after this (default 5s: with it, every
# restart of the primary stalled synchronous commits for about 5 s)
wal_retrieve_retry_interval = '1s'
timezone = 'UTC'
${PG_EXTRA_CONF:-}
EOF
    cat >"$data/pg_hba.conf" <<EOF
# tests/pg/pglib.sh: the unix socket in $PG_BASE/sock and 127.0.0.1 only
local   all          all                  trust
host    all          all    127.0.0.1/32  trust
local   replication  all                  trust
host    replication  all    127.0.0.1/32  trust
EOF
    pg__start_node primary || return 1
    pg_psql_admin primary "CREATE ROLE $PG_ROLE LOGIN" \
        "CREATE DATABASE $PG_ROLE OWNER $PG_ROLE" >/dev/null || return 1
    PG_PORT=${PG__PORT[primary]}
    PG_DATA=$data
    PG_SOCKDIR=$PG_BASE/sock
    PG_URI="postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_ROLE"
    export PG_PORT PG_DATA PG_SOCKDIR PG_URI PG_BASE
}

# pg_setup_standby - a streaming standby of the primary (pg_basebackup -R,
# with a replication slot), then synchronous_standby_names on the primary
# naming it; returns once pg_stat_replication shows it streaming and sync
pg_setup_standby() {
    local data=$PG_BASE/standby
    PG__DATA[standby]=$data
    PG__PORT[standby]=$(pg__port) || return 1
    PG__NODES="primary standby"
    if ! pg__as "$PG_BIN/pg_basebackup" -D "$data" \
            -d "host=127.0.0.1 port=$PG_PORT user=postgres application_name=$PG_STANDBY_APP" \
            -R -X stream -C -S "$PG_STANDBY_APP" -c fast --no-sync \
            >"$PG_BASE/basebackup.log" 2>&1; then
        echo "pglib: pg_basebackup failed:" >&2
        sed 's/^/    /' "$PG_BASE/basebackup.log" >&2
        return 1
    fi
    # After the copy, so the standby does not inherit it: promoted, it would
    # wait for a standby of its own that does not exist.
    pg_psql_admin primary \
        "ALTER SYSTEM SET synchronous_standby_names = '$PG_STANDBY_APP'" \
        "ALTER SYSTEM SET synchronous_commit = 'on'" \
        "SELECT pg_reload_conf()" >/dev/null || return 1
    pg__start_node standby || return 1
    pg__wait_sync 20 || return 1
    PG_STANDBY_PORT=${PG__PORT[standby]}
    PG_STANDBY_DATA=$data
    PG_STANDBY_URI="postgresql://$PG_ROLE@127.0.0.1:$PG_STANDBY_PORT/$PG_ROLE"
    PG_URI_FAILOVER="postgresql://$PG_ROLE@127.0.0.1:$PG_PORT,127.0.0.1:$PG_STANDBY_PORT/$PG_ROLE?target_session_attrs=read-write&connect_timeout=2"
    export PG_STANDBY_PORT PG_STANDBY_DATA PG_STANDBY_URI PG_URI_FAILOVER
}
