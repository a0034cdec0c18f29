#!/bin/bash
# lib.sh - a private, loopback-only Postfix and a capture server for the
# end-to-end tests and the demo. Source it; then:
#
#   e2e_setup NAME               temp dir, free ports, cleanup trap
#   e2e_start_sink               capture server on 127.0.0.1:$SINK_PORT
#   e2e_start_postfix MILTER [main.cf lines...]
#                                private Postfix, smtpd on 127.0.0.1:$SMTP_PORT
#   e2e_stop_postfix
#   e2e_sink_count / e2e_sink_wait N [SECS] / e2e_sink_grep ERE / e2e_sink_files
#   e2e_queue / e2e_held_ids / e2e_log_wait ERE [SECS]
#   e2e_bg CMD...                start a background process stopped at exit
#   e2e_on_exit CMD              run CMD at teardown
#   t_ok / t_fail / t_check / t_eq / t_match / t_done   assertions
#
# Nothing here binds outside 127.0.0.1, uses port 25, or touches the system
# Postfix: config, queue and data directories live under $E2E_DIR.

E2E_PY=/usr/bin/python3
E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_PIDS=""
E2E_CLEANUP=""
E2E_PF_STARTED=0
T_PASS=0
T_FAIL=0

# e2e_free_port - a TCP port free on 127.0.0.1 right now
e2e_free_port() {
    $E2E_PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# e2e_setup NAME
e2e_setup() {
    E2E_DIR=$(mktemp -d "/tmp/cg-e2e-$1.XXXXXX") || exit 1
    chmod 755 "$E2E_DIR"   # the postfix user must traverse it
    SMTP_PORT=$(e2e_free_port)
    SINK_PORT=$(e2e_free_port)
    while [ "$SINK_PORT" = "$SMTP_PORT" ]; do SINK_PORT=$(e2e_free_port); done
    export E2E_DIR SMTP_PORT SINK_PORT
    trap e2e_teardown EXIT
    trap 'exit 130' INT TERM
}

# e2e_bg CMD... - run in the background; stopped by e2e_teardown
e2e_bg() {
    "$@" &
    E2E_LAST_PID=$!
    E2E_PIDS="$E2E_PIDS $E2E_LAST_PID"
}

# e2e_wait_port PORT [SECS] - until something accepts on 127.0.0.1:PORT
e2e_wait_port() {
    local port=$1 secs=${2:-10} i
    for i in $(seq 1 $((secs * 10))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

e2e_start_sink() {
    mkdir -p "$E2E_DIR/sink"
    e2e_bg $E2E_PY "$E2E_LIB_DIR/sink.py" "$SINK_PORT" "$E2E_DIR/sink" 2>>"$E2E_DIR/sink.log"
    E2E_SINK_PID=$E2E_LAST_PID
    e2e_wait_port "$SINK_PORT" 10
}

e2e_sink_files() { ls "$E2E_DIR"/sink/*.eml 2>/dev/null; }
e2e_sink_count() { e2e_sink_files | wc -l; }
# e2e_sink_wait N [SECS] - until at least N messages arrived
e2e_sink_wait() {
    local n=$1 secs=${2:-15} i
    for i in $(seq 1 $((secs * 10))); do
        [ "$(e2e_sink_count)" -ge "$n" ] && return 0
        sleep 0.1
    done
    return 1
}
# e2e_sink_grep ERE - the files whose text matches
e2e_sink_grep() {
    local f found=1
    for f in $(e2e_sink_files); do
        if grep -qE -- "$1" "$f"; then echo "$f"; found=0; fi
    done
    return $found
}

# e2e_start_postfix MILTER [extra main.cf lines...]
e2e_start_postfix() {
    local milter=$1; shift
    local base=$E2E_DIR/postfix
    POSTFIX_CONF=$base/conf
    E2E_QUEUE=$base/queue
    E2E_MAILLOG=$base/maillog
    mkdir -p "$POSTFIX_CONF" "$E2E_QUEUE" "$base/data"
    chmod 755 "$base" "$POSTFIX_CONF"
    chown postfix "$base/data"
    local meta shlib
    meta=$(postconf -dh meta_directory)
    shlib=$(postconf -dh shlib_directory)
    cat > "$POSTFIX_CONF/main.cf" <<EOF
compatibility_level = 3.6
config_directory = $POSTFIX_CONF
queue_directory = $E2E_QUEUE
data_directory = $base/data
meta_directory = $meta
shlib_directory = $shlib
maillog_file = $E2E_MAILLOG
maillog_file_prefixes = /tmp, /var, /dev/stdout
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.test.example
mydomain = test.example
myorigin = test.example
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$SINK_PORT
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximum_backoff_time = 2s
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 10s
default_process_limit = 100
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
EOF
    if [ -n "$milter" ]; then
        printf 'smtpd_milters = %s\nnon_smtpd_milters = %s\n' "$milter" "$milter" >> "$POSTFIX_CONF/main.cf"
    fi
    local l
    for l in "$@"; do printf '%s\n' "$l" >> "$POSTFIX_CONF/main.cf"; done
    # master.cf: smtpd only on our loopback port, nothing chrooted, postlog
    local src=/usr/share/postfix/master.cf.dist
    [ -f "$src" ] || src=/etc/postfix/master.cf
    awk -v port="$SMTP_PORT" '
        /^smtp[ \t]+inet/ { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
        /^#/ || /^[ \t]/ || NF == 0 { print; next }
        NF >= 8 { $5 = "n"; print; next }
        { print }' "$src" > "$POSTFIX_CONF/master.cf"
    grep -q '^postlog' "$POSTFIX_CONF/master.cf" ||
        echo 'postlog unix-dgram n - n - 1 postlogd' >> "$POSTFIX_CONF/master.cf"
    postfix -c "$POSTFIX_CONF" check >"$base/check.log" 2>&1
    postfix -c "$POSTFIX_CONF" start >"$base/start.log" 2>&1 || {
        echo "postfix did not start:"; cat "$base/start.log" "$E2E_MAILLOG" 2>/dev/null; return 1; }
    E2E_PF_STARTED=1
    export POSTFIX_CONF E2E_MAILLOG
    e2e_wait_port "$SMTP_PORT" 20 || { echo "postfix smtpd not listening"; cat "$E2E_MAILLOG"; return 1; }
}

e2e_stop_postfix() {
    [ "$E2E_PF_STARTED" = 1 ] || return 0
    postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1
    local i pidf=$E2E_QUEUE/pid/master.pid pid
    pid=$(tr -dc 0-9 < "$pidf" 2>/dev/null)
    for i in $(seq 1 100); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    # children of master that outlived it (they exit on their own quickly)
    pkill -KILL -f -- "-c $POSTFIX_CONF" 2>/dev/null
    E2E_PF_STARTED=0
}

e2e_queue() { postqueue -c "$POSTFIX_CONF" -p; }
# e2e_held_ids - queue IDs in the hold queue
e2e_held_ids() {
    postqueue -c "$POSTFIX_CONF" -j 2>/dev/null |
        $E2E_PY -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l)
    if j.get("queue_name") == "hold": print(j["queue_id"])'
}
# e2e_log_wait ERE [SECS] - until the Postfix log has a matching line
e2e_log_wait() {
    local pat=$1 secs=${2:-10} i
    for i in $(seq 1 $((secs * 10))); do
        grep -qE -- "$pat" "$E2E_MAILLOG" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# e2e_on_exit CMD - run CMD at teardown (for daemons that detach from e2e_bg)
e2e_on_exit() { E2E_CLEANUP="$E2E_CLEANUP$1;"; }

e2e_teardown() {
    trap - EXIT
    [ -n "$E2E_CLEANUP" ] && eval "$E2E_CLEANUP"
    E2E_CLEANUP=""
    e2e_stop_postfix
    local p i alive
    for p in $E2E_PIDS; do kill -TERM "$p" 2>/dev/null; done
    for i in $(seq 1 100); do
        alive=0
        for p in $E2E_PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in $E2E_PIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    E2E_PIDS=""
    if [ -n "${E2E_DIR:-}" ] && [ -d "$E2E_DIR" ]; then
        if [ "$T_FAIL" != 0 ] || [ "${E2E_KEEP:-0}" = 1 ]; then
            echo "kept $E2E_DIR"
        else
            rm -rf "$E2E_DIR"
        fi
    fi
}

# --- assertions -----------------------------------------------------------
t_ok() { T_PASS=$((T_PASS + 1)); echo "ok - $1"; }
t_fail() {
    T_FAIL=$((T_FAIL + 1)); echo "FAIL - $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    /'
    return 0
}
# t_check DESC CMD... - passes when CMD exits 0
t_check() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then t_ok "$desc"; else t_fail "$desc" "$out"; fi
}
t_eq() {
    if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "got:  $2
want: $3"; fi
}
t_match() {
    if printf '%s' "$2" | grep -qE -- "$3"; then t_ok "$1"; else t_fail "$1" "text:  $2
regex: $3"; fi
}
# t_done NAME - the summary line; non-zero if anything failed
t_done() {
    echo "$1: $T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" = 0 ]
}
