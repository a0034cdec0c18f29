#!/bin/bash
# lib.sh - a private, loopback-only Postfix and a capture server for the
# end-to-end tests and the demo. Source it (scripts use set -u, not set -e):
#
#   e2e_setup NAME               temp dir, free ports, cleanup trap
#   e2e_free_port                a TCP port free on 127.0.0.1
#   e2e_bg CMD...                start a background process stopped at exit
#   e2e_wait_port PORT [SECS]    until something accepts on 127.0.0.1:PORT
#   e2e_start_sink               capture server on 127.0.0.1:$SINK_PORT
#   e2e_sink_files / e2e_sink_count / e2e_sink_wait N [SECS] / e2e_sink_grep ERE
#   e2e_start_postfix MILTER [main.cf lines...]
#                                private Postfix, smtpd on 127.0.0.1:$SMTP_PORT
#                                (E2E_PF_CHROOT="smtpd cleanup": those daemons
#                                chrooted to the queue directory, as Debian's)
#   e2e_postfix_config MILTER [main.cf lines...]   the same, written but not started
#   e2e_run_postfix              postfix check, then start what is configured
#                                (e.g. after postconf -c "$POSTFIX_CONF" -e ...)
#   e2e_stop_postfix
#   e2e_queue / e2e_held_ids / e2e_log_wait ERE [SECS]
#   e2e_on_exit CMD              run CMD at teardown
#   e2e_teardown                 stop everything (the EXIT trap; idempotent)
#   t_ok / t_fail / t_check / t_eq / t_match / t_done   assertions
#   t_skip DESC                  a check that could not run here (not a pass)
#
# Nothing here binds outside 127.0.0.1, uses port 25, or touches the system
# Postfix: config, queue and data directories live under $E2E_DIR and every
# Postfix command is given "-c $POSTFIX_CONF".

E2E_PY=/usr/bin/python3
E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_PIDS=""
E2E_LAST_PID=""
E2E_CLEANUP=""
E2E_PF_STARTED=0
E2E_PF_PID=""
E2E_SINK_PID=""
T_PASS=0
T_FAIL=0
T_SKIP=0

# run ARGV as a child; become a child subreaper and reap every orphaned
# descendant; exit with the child's status once no descendant is left
E2E_REAPER='
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
def fwd(sig, frame):
    try:
        os.kill(pid, sig)
    except OSError:
        pass
signal.signal(signal.SIGTERM, fwd)
signal.signal(signal.SIGINT, fwd)
rc = 0
while True:
    try:
        p, st = os.wait()
    except ChildProcessError:
        break
    if p == pid:
        rc = os.waitstatus_to_exitcode(st)
sys.exit(rc)
'

# e2e_alive PID - the process exists and is not a zombie (PID 1 here does
# not reap orphans, so "kill -0" alone is true for dead daemons)
e2e_alive() {
    local st
    [ -n "$1" ] || return 1
    st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# e2e_free_port - a TCP port free on 127.0.0.1 right now. Chosen below the
# kernel's ephemeral range (32768+) so outgoing connections cannot take it,
# and never one already handed out for this $E2E_DIR.
e2e_free_port() {
    local p reg=${E2E_DIR:+$E2E_DIR/.ports}
    p=$($E2E_PY - "${reg:-/nonexistent}" <<'EOF'
import random, socket, sys
try:
    used = set(int(x) for x in open(sys.argv[1]).read().split())
except OSError:
    used = set()
def free(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
        return s.getsockname()[1]
    except OSError:
        return 0
    finally:
        s.close()
for _ in range(500):
    p = random.randint(20000, 32000)
    if p not in used and free(p):
        break
else:
    p = free(0)
print(p)
EOF
    ) || return 1
    [ -n "$reg" ] && echo "$p" 2>/dev/null >> "$reg"
    echo "$p"
}

# e2e_setup NAME
e2e_setup() {
    T_PASS=0
    T_FAIL=0
    T_SKIP=0
    E2E_PIDS=""
    E2E_CLEANUP=""
    E2E_PF_STARTED=0
    E2E_DIR=$(mktemp -d "/tmp/cg-e2e-$1.XXXXXX") || { echo "mktemp failed" >&2; exit 1; }
    chmod 755 "$E2E_DIR"   # the postfix user must traverse it
    SMTP_PORT=$(e2e_free_port)   # handed-out ports are kept in $E2E_DIR/.ports
    SINK_PORT=$(e2e_free_port)
    POSTFIX_CONF=$E2E_DIR/postfix/conf
    E2E_QUEUE=$E2E_DIR/postfix/queue
    E2E_MAILLOG=$E2E_DIR/postfix/maillog
    export E2E_DIR SMTP_PORT SINK_PORT
    trap e2e_teardown EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# e2e_bg CMD... - run in the background (inheriting the caller's
# redirections); PID in E2E_LAST_PID; stopped by e2e_teardown
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

# e2e_wait_banner PORT [SECS] - until 127.0.0.1:PORT greets with 220
e2e_wait_banner() {
    local port=$1 secs=${2:-10} i line
    for i in $(seq 1 $((secs * 10))); do
        line=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
                 read -r -t 3 l <&3; printf '%s' "$l"
                 printf 'QUIT\r\n' >&3; read -r -t 1 _ <&3) 2>/dev/null)
        case $line in 220*) return 0 ;; esac
        sleep 0.1
    done
    return 1
}

# --- capture server -----------------------------------------------------------
# tests/e2e/sink.py writes each message as $E2E_DIR/sink/NNNNNN.eml: an
# "X-Sink-Envelope:" line, then headers and body as received; complete files
# only (written to a temp name, then renamed).
e2e_start_sink() {
    mkdir -p "$E2E_DIR/sink" || return 1
    if e2e_alive "$E2E_SINK_PID"; then return 0; fi
    e2e_bg $E2E_PY "$E2E_LIB_DIR/sink.py" "$SINK_PORT" "$E2E_DIR/sink" \
        </dev/null >>"$E2E_DIR/sink.log" 2>&1
    E2E_SINK_PID=$E2E_LAST_PID
    if ! e2e_wait_banner "$SINK_PORT" 10 || ! e2e_alive "$E2E_SINK_PID"; then
        echo "capture server did not start:"; sed 's/^/    /' "$E2E_DIR/sink.log"
        return 1
    fi
}

e2e_sink_files() { ls -1 "$E2E_DIR"/sink/*.eml 2>/dev/null; }
e2e_sink_count() { local n; n=$(e2e_sink_files | wc -l); echo $((n)); }
# e2e_sink_wait N [SECS] - until at least N messages arrived
e2e_sink_wait() {
    local n=$1 secs=${2:-15} i
    for i in $(seq 1 $((secs * 10))); do
        [ "$(e2e_sink_count)" -ge "$n" ] && return 0
        sleep 0.1
    done
    [ "$(e2e_sink_count)" -ge "$n" ]
}
# e2e_sink_grep ERE - print the message files whose text matches
e2e_sink_grep() {
    local f found=1
    while IFS= read -r f; do
        [ -n "$f" ] || continue
        if grep -qE -e "$1" -- "$f" 2>/dev/null; then echo "$f"; found=0; fi
    done < <(e2e_sink_files)
    return $found
}

# --- private Postfix ------------------------------------------------------------
# e2e_start_postfix MILTER [extra main.cf lines...]
# MILTER empty: no milters at all.
e2e_start_postfix() {
    e2e_postfix_config "$@" && e2e_run_postfix
}

# e2e_postfix_config MILTER [extra main.cf lines...] - main.cf and master.cf
# of the private instance (stopped first if it runs)
e2e_postfix_config() {
    local milter=${1-}; shift
    local base=$E2E_DIR/postfix
    [ "$E2E_PF_STARTED" = 1 ] && e2e_stop_postfix
    POSTFIX_CONF=$base/conf
    E2E_QUEUE=$base/queue
    E2E_MAILLOG=$base/maillog
    mkdir -p "$POSTFIX_CONF" "$E2E_QUEUE" "$base/data" || return 1
    chmod 755 "$base" "$POSTFIX_CONF" "$E2E_QUEUE"
    chown root:root "$E2E_QUEUE"
    chown postfix "$base/data"
    chmod 700 "$base/data"
    local meta shlib daemon cmd impenv
    meta=$(postconf -dh meta_directory)
    shlib=$(postconf -dh shlib_directory)
    daemon=$(postconf -dh daemon_directory)
    cmd=$(postconf -dh command_directory)
    impenv=$(postconf -dh import_environment)
    cat > "$POSTFIX_CONF/main.cf" <<EOF
# private test instance: generated by tests/e2e/lib.sh
compatibility_level = 3.6
config_directory = $POSTFIX_CONF
queue_directory = $E2E_QUEUE
data_directory = $base/data
meta_directory = $meta
shlib_directory = $shlib
daemon_directory = $daemon
command_directory = $cmd
import_environment = $impenv
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
relay_domains =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_client_restrictions =
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
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
    # extra lines replace an earlier entry of the same name (no "overriding
    # earlier entry" warnings in every log)
    local l name
    for l in "$@"; do
        name=$(printf '%s' "$l" | sed -n 's/^[ \t]*\([A-Za-z0-9_]*\)[ \t]*=.*/\1/p' | head -1)
        if [ -n "$name" ]; then
            awk -v n="$name" '
                $0 ~ "^" n "[ \t]*=" { skip = 1; next }
                skip && /^[ \t]/ { next }
                { skip = 0; print }' "$POSTFIX_CONF/main.cf" > "$POSTFIX_CONF/main.cf.tmp" &&
                mv "$POSTFIX_CONF/main.cf.tmp" "$POSTFIX_CONF/main.cf"
        fi
        printf '%s\n' "$l" >> "$POSTFIX_CONF/main.cf"
    done

    # master.cf: smtpd only on our loopback port, no other inet listener,
    # nothing chrooted (but the daemons named in E2E_PF_CHROOT), postlog for
    # maillog_file
    local src=/etc/postfix/master.cf
    [ -f "$src" ] || src=/usr/share/postfix/master.cf.dist
    local smtpd_chroot=n
    case " ${E2E_PF_CHROOT:-} " in *" smtpd "*) smtpd_chroot=y ;; esac
    awk -v port="$SMTP_PORT" -v chroot=" ${E2E_PF_CHROOT:-} " -v sc="$smtpd_chroot" '
        /^[ \t]/ { if (!skip) print; next }          # continuation of a service
        /^#/ || NF == 0 { skip = 0; print; next }
        { skip = 0 }
        $2 == "inet" && $1 == "smtp" && !done {
            print "127.0.0.1:" port " inet n - " sc " - - smtpd"; done = 1; skip = 1; next }
        $2 == "inet" { skip = 1; next }               # any other listener: dropped
        NF >= 8 { $5 = index(chroot, " " $8 " ") ? "y" : "n"; print; next }
        { print }' "$src" > "$POSTFIX_CONF/master.cf"
    grep -q "^127.0.0.1:$SMTP_PORT inet" "$POSTFIX_CONF/master.cf" ||
        echo "127.0.0.1:$SMTP_PORT inet n - $smtpd_chroot - - smtpd" >> "$POSTFIX_CONF/master.cf"
    grep -q '^postlog' "$POSTFIX_CONF/master.cf" ||
        echo 'postlog unix-dgram n - n - 1 postlogd' >> "$POSTFIX_CONF/master.cf"
    export POSTFIX_CONF E2E_MAILLOG E2E_QUEUE
}

# e2e_run_postfix - postfix check, then start the configured instance
e2e_run_postfix() {
    local base=$E2E_DIR/postfix
    [ "$E2E_PF_STARTED" = 1 ] && e2e_stop_postfix
    # "postfix" writes errors to stderr only on a terminal: keep both outputs
    if ! postfix -c "$POSTFIX_CONF" check >"$base/check.log" 2>&1; then
        echo "postfix check failed:"; sed 's/^/    /' "$base/check.log" "$E2E_MAILLOG" 2>/dev/null
        return 1
    fi
    # start-fg keeps master in the foreground, under a small subreaper that
    # also reaps the daemons master leaves behind when it stops (PID 1 here
    # does not reap orphans); the subreaper exits when all of them are gone
    : >>"$E2E_MAILLOG"
    e2e_bg $E2E_PY -c "$E2E_REAPER" postfix -c "$POSTFIX_CONF" start-fg \
        </dev/null >>"$base/master.out" 2>&1
    E2E_PF_PID=$E2E_LAST_PID
    E2E_PF_STARTED=1
    export POSTFIX_CONF E2E_MAILLOG E2E_QUEUE
    if ! e2e_wait_banner "$SMTP_PORT" 20; then
        echo "postfix smtpd does not answer on 127.0.0.1:$SMTP_PORT:"
        sed 's/^/    /' "$base/master.out" "$E2E_MAILLOG" 2>/dev/null | tail -30
        return 1
    fi
}

e2e_stop_postfix() {
    [ "$E2E_PF_STARTED" = 1 ] || return 0
    local i pid kids p
    pid=$(tr -dc 0-9 < "$E2E_QUEUE/pid/master.pid" 2>/dev/null)
    kids=""
    [ -n "$pid" ] && kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
    postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1 || { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; }
    for i in $(seq 1 100); do
        e2e_alive "$pid" || e2e_alive "$E2E_PF_PID" || break
        sleep 0.1
    done
    e2e_alive "$pid" && kill -KILL "$pid" 2>/dev/null
    # master's children (killed by master; they exit on their own quickly)
    for i in $(seq 1 30); do
        local alive=0
        for p in $kids; do e2e_alive "$p" && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in $kids; do e2e_alive "$p" && kill -KILL "$p" 2>/dev/null; done
    if [ -n "$E2E_PF_PID" ]; then
        e2e_alive "$E2E_PF_PID" && kill -KILL "$E2E_PF_PID" 2>/dev/null
        wait "$E2E_PF_PID" 2>/dev/null
        E2E_PIDS=$(echo " $E2E_PIDS " | sed "s/ $E2E_PF_PID / /g")
    fi
    E2E_PF_PID=""
    E2E_PF_STARTED=0
}

e2e_queue() { postqueue -c "$POSTFIX_CONF" -p; }
# e2e_held_ids - queue IDs in the hold queue, one a line
e2e_held_ids() {
    postqueue -c "$POSTFIX_CONF" -j 2>/dev/null |
        $E2E_PY -c 'import json, sys
for l in sys.stdin:
    l = l.strip()
    if not l:
        continue
    j = json.loads(l)
    if j.get("queue_name") == "hold":
        print(j["queue_id"])'
}
# e2e_log_wait ERE [SECS] - until the Postfix log has a matching line
e2e_log_wait() {
    local pat=$1 secs=${2:-10} i
    for i in $(seq 1 $((secs * 10))); do
        grep -qE -e "$pat" -- "$E2E_MAILLOG" 2>/dev/null && return 0
        sleep 0.1
    done
    grep -qE -e "$pat" -- "$E2E_MAILLOG" 2>/dev/null
}

# e2e_on_exit CMD - run CMD at teardown (for daemons that detach from e2e_bg)
e2e_on_exit() { E2E_CLEANUP="$E2E_CLEANUP$1;"; }

e2e_teardown() {
    trap - EXIT
    if [ -n "$E2E_CLEANUP" ]; then
        local c=$E2E_CLEANUP
        E2E_CLEANUP=""
        eval "$c"
    fi
    e2e_stop_postfix
    local p i alive
    for p in $E2E_PIDS; do kill -TERM "$p" 2>/dev/null; done
    # a libmilter daemon takes about 6 s to exit after SIGTERM
    for i in $(seq 1 80); do
        alive=0
        for p in $E2E_PIDS; do e2e_alive "$p" && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in $E2E_PIDS; do
        e2e_alive "$p" && kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    E2E_PIDS=""
    E2E_SINK_PID=""
    if [ -n "${E2E_DIR:-}" ] && [ -d "$E2E_DIR" ]; then
        if [ "${T_FAIL:-0}" != 0 ] || [ "${E2E_KEEP:-0}" = 1 ]; then
            echo "kept $E2E_DIR"
        else
            rm -rf "$E2E_DIR"
        fi
    fi
    return 0
}

# --- assertions -----------------------------------------------------------------
t_ok() { T_PASS=$((T_PASS + 1)); echo "ok - $1"; }
t_skip() { T_SKIP=$((T_SKIP + 1)); echo "skip - $1"; }
# t_fail DESC [DETAIL]
t_fail() {
    T_FAIL=$((T_FAIL + 1)); echo "FAIL - $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    /'
    return 0
}
# t_check DESC CMD... - passes when CMD exits 0
t_check() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then t_ok "$desc"; else t_fail "$desc" "exit $?: $*
$out"; fi
}
# t_eq DESC GOT WANT
t_eq() {
    if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "got:  $2
want: $3"; fi
}
# t_match DESC TEXT ERE
t_match() {
    if printf '%s\n' "$2" | grep -qE -e "$3"; then t_ok "$1"; else t_fail "$1" "text:  $2
regex: $3"; fi
}
# t_done NAME - the summary line; non-zero if anything failed
t_done() {
    local skipped=""
    [ "${T_SKIP:-0}" = 0 ] || skipped=", $T_SKIP skipped"
    echo "$1: $T_PASS passed, $T_FAIL failed$skipped"
    [ "$T_FAIL" = 0 ]
}
