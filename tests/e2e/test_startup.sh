#!/bin/bash
# test_startup.sh - start-up the way an admin without systemd sees it, and
# the modes of the history's files (README "Without systemd", "Security").
#
#   - every start-up error is on stderr with exit status 1 and leaves no
#     process behind: root without -u, unknown user, pid directory missing,
#     a bad configuration, the socket in use (inet and unix), the pid file
#     of a running daemon, a database_group the user is not in
#   - without -f the command returns once the daemon serves; the pid file
#     holds the supervisor; as root a missing pid directory is created
#   - history.db, -wal and -shm are 0600 (0640 to database_group) from the
#     first byte, for the daemon, after a restart, and for contactgatectl;
#     an older 0644 file is tightened, with a warning
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3
NAME=startup

e2e_setup $NAME
CG_PORT=$(e2e_free_port)
cg_config "$E2E_DIR/cg.json"
RUN=$E2E_DIR/run
mkdir -p "$RUN" && chown "$CG_USER" "$RUN"

# daemon NAME ARGS... - run contactgate ARGS (without -f: it detaches)
# under a subreaper that lives until no process of it is left; waits for
# the command itself to return. Sets rc, err and REAPER (its pid).
daemon() {
    local n=$1 i; shift
    rm -f "$E2E_DIR/$n.rc" "$E2E_DIR/$n.err"
    e2e_bg $E2E_PY -c "$E2E_REAPER" sh -c '"$@" 2>"$0.err"; echo $? > "$0.rc"' \
        "$E2E_DIR/$n" "$CG_BIN" "$@" </dev/null
    REAPER=$E2E_LAST_PID
    for i in $(seq 1 300); do [ -s "$E2E_DIR/$n.rc" ] && break; sleep 0.1; done
    rc=$(cat "$E2E_DIR/$n.rc" 2>/dev/null)
    err=$(cat "$E2E_DIR/$n.err" 2>/dev/null)
}
# nothing_left - the subreaper of the last daemon call ended: no process of
# that start is left (it waits for every descendant)
nothing_left() {
    local i
    for i in $(seq 1 100); do e2e_alive "$REAPER" || return 0; sleep 0.1; done
    return 1
}
# stop PIDFILE - SIGTERM the supervisor named in it and wait until its
# subreaper is gone
stop() {
    local pid i
    pid=$(cat "$1" 2>/dev/null)
    [ -n "$pid" ] && kill -TERM "$pid"
    for i in $(seq 1 150); do e2e_alive "$REAPER" || return 0; sleep 0.1; done
    return 1
}
e2e_on_exit 'for f in "$RUN"/*.pid; do [ -s "$f" ] && kill -TERM $(cat "$f") 2>/dev/null; done'
mode_of() { stat -c '%a %U %G' "$1" 2>/dev/null; }

# --- errors before the daemon serves: stderr, exit 1, nothing left
daemon noroot -c "$CG_CONFIG" -p "$RUN/x.pid"
t_eq "as root without -u: exit 1" "$rc" 1
t_match "the reason is on stderr" "$err" 'refusing to run as root: give -u USER'
t_check "nothing is left running" nothing_left

daemon nouser -u no-such-user-xyz -c "$CG_CONFIG" -p "$RUN/x.pid"
t_eq "an unknown user: exit 1" "$rc" 1
t_match "the reason is on stderr" "$err" '-u no-such-user-xyz: no such user'
t_check "nothing is left running" nothing_left

daemon nodir -u "$CG_USER" -c "$CG_CONFIG" -p "$E2E_DIR/no/such/dir/cg.pid"
t_eq "as root, a pid directory that cannot be made: exit 1" "$rc" 1
t_match "the reason is on stderr" "$err" "pid file $E2E_DIR/no/such/dir/cg.pid: cannot create $E2E_DIR/no/such/dir: No such file or directory"
t_check "nothing is left running" nothing_left
out=$(cd "$E2E_DIR" && runuser -u "$CG_USER" -- "$CG_BIN" -c "$CG_CONFIG" -p "$E2E_DIR/missing/cg.pid" 2>&1); rc=$?
t_eq "not root, the pid directory missing: exit 1" "$rc" 1
t_match "the reason is on stderr" "$out" "pid file $E2E_DIR/missing/cg.pid: directory $E2E_DIR/missing does not exist"

printf '{ "socket": "inet:%s@127.0.0.1",\n  "mode": "strict" }\n' "$CG_PORT" > "$E2E_DIR/bad.json"
chmod 644 "$E2E_DIR/bad.json"
daemon badcfg -u "$CG_USER" -c "$E2E_DIR/bad.json" -p "$RUN/x.pid"
t_eq "a bad configuration: exit 1" "$rc" 1
t_match "the error names the file and key on stderr" "$err" 'bad.json: mode: "strict" is not enforce or monitor'
t_check "nothing is left running" nothing_left
t_check "no pid file is left" test ! -e "$RUN/x.pid"

# --- a daemon that detaches: the command returns once it serves
rm -rf "$E2E_DIR/contactgate"/history.db*
daemon a -u "$CG_USER" -c "$CG_CONFIG" -p "$RUN/a.pid"
A_REAPER=$REAPER
t_eq "without -f: the command exits 0" "$rc" 0
t_eq "and says nothing on success" "$err" ""
t_eq "it serves the moment the command returned" \
    "$($PY "$here/milter_peer.py" probe "$CG_PORT")" answered
A=$(cat "$RUN/a.pid" 2>/dev/null)
t_check "the pid file names a running process" e2e_alive "$A"
t_eq "that is the supervisor (comm contactgate)" "$(cat /proc/$A/comm 2>/dev/null)" contactgate
t_eq "in a session of its own" "$(ps -o sid= -p "$A" | tr -d ' ')" "$A"
t_eq "with one serving process" "$(pgrep -P "$A" | wc -l)" 1
t_eq "pid file mode 0644" "$(stat -c %a "$RUN/a.pid")" 644
db=$E2E_DIR/contactgate/history.db
t_eq "a fresh history.db: 0600, the daemon's user's" "$(mode_of "$db")" "600 $CG_USER nogroup"
t_eq "its -wal: 0600" "$(mode_of "$db-wal")" "600 $CG_USER nogroup"
t_eq "its -shm: 0600" "$(mode_of "$db-shm")" "600 $CG_USER nogroup"

# the same pid file again: refused
daemon again -u "$CG_USER" -c "$CG_CONFIG" -p "$RUN/a.pid"
t_eq "a second daemon with the same pid file: exit 1" "$rc" 1
t_match "it says which is running" "$err" "contactgate is already running \\(pid $A\\)"
t_check "nothing of it is left running" nothing_left
t_eq "the first one's pid file is untouched" "$(cat "$RUN/a.pid")" "$A"

# the same inet socket again: refused
cp "$CG_CONFIG" "$E2E_DIR/cg-b.json"
sed -i "s|contactgate/history.db|b/history.db|" "$E2E_DIR/cg-b.json"
mkdir -p "$E2E_DIR/b" && chown "$CG_USER" "$E2E_DIR/b"
daemon inuse -u "$CG_USER" -c "$E2E_DIR/cg-b.json" -p "$RUN/b.pid"
t_eq "the inet socket in use: exit 1" "$rc" 1
t_match "the reason is on stderr" "$err" "socket inet:$CG_PORT@127\\.0\\.0\\.1: cannot open"
t_check "nothing of it is left running" nothing_left
t_check "its pid file is removed" test ! -e "$RUN/b.pid"
t_eq "the first daemon still serves" "$($PY "$here/milter_peer.py" probe "$CG_PORT")" answered

# restart: the files keep their modes
REAPER=$A_REAPER
t_check "SIGTERM stops it (and everything of it)" stop "$RUN/a.pid"
t_check "the pid file is removed" test ! -e "$RUN/a.pid"
daemon a2 -u "$CG_USER" -c "$CG_CONFIG" -p "$RUN/a.pid"
t_eq "started again: exit 0" "$rc" 0
t_eq "after a restart history.db is 0600" "$(mode_of "$db")" "600 $CG_USER nogroup"
t_eq "and the new -wal and -shm too" "$(mode_of "$db-wal") $(mode_of "$db-shm")" \
    "600 $CG_USER nogroup 600 $CG_USER nogroup"
t_check "stopped" stop "$RUN/a.pid"

# --- a unix socket another daemon serves on is not taken from it
rundir=$E2E_DIR/sock
mkdir -p "$rundir" && chown "$CG_USER" "$rundir"
sed "s|\"socket\": \"inet:$CG_PORT@127.0.0.1\"|\"socket\": \"unix:$rundir/cg.sock\"|" "$CG_CONFIG" > "$E2E_DIR/cg-u.json"
sed "s|contactgate/history.db|b/history.db|" "$E2E_DIR/cg-u.json" > "$E2E_DIR/cg-u2.json"
chmod 644 "$E2E_DIR"/cg-u*.json
daemon u1 -u "$CG_USER" -c "$E2E_DIR/cg-u.json" -p "$RUN/u1.pid"
U_REAPER=$REAPER
t_eq "a daemon on a unix socket: exit 0" "$rc" 0
daemon u2 -u "$CG_USER" -c "$E2E_DIR/cg-u2.json" -p "$RUN/u2.pid"
t_eq "a second one on the same unix socket: exit 1" "$rc" 1
t_match "the reason is on stderr" "$err" "socket unix:$rundir/cg.sock: in use"
t_check "nothing of it is left running" nothing_left
t_check "the first one's socket is still there and answers" \
    $PY -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])" "$rundir/cg.sock"
REAPER=$U_REAPER
t_check "stopped" stop "$RUN/u1.pid"

# --- as root, a missing pid directory is made (as the unit's RuntimeDirectory)
daemon mk -u "$CG_USER" -c "$CG_CONFIG" -p "$E2E_DIR/newrun/cg.pid"
t_eq "as root with the pid directory missing: exit 0" "$rc" 0
t_eq "the directory was made 0755, the daemon's user's" "$(mode_of "$E2E_DIR/newrun")" "755 $CG_USER nogroup"
t_check "the pid file is in it" test -s "$E2E_DIR/newrun/cg.pid"
t_check "stopped" stop "$E2E_DIR/newrun/cg.pid"

# --- database_group: 0640 to that group, from the first byte
cp "$CG_CONFIG" "$E2E_DIR/cg-g.json"
sed -i "s|contactgate/history.db|g/history.db|; s|^{|{ \"database_group\": \"nogroup\",|" "$E2E_DIR/cg-g.json"
mkdir -p "$E2E_DIR/g" && chown "$CG_USER" "$E2E_DIR/g"
daemon g -u "$CG_USER" -c "$E2E_DIR/cg-g.json" -p "$RUN/g.pid"
t_eq "with database_group nogroup: exit 0" "$rc" 0
gdb=$E2E_DIR/g/history.db
t_eq "history.db is 0640 to the group" "$(mode_of "$gdb")" "640 $CG_USER nogroup"
t_eq "so are -wal and -shm" "$(mode_of "$gdb-wal") $(mode_of "$gdb-shm")" \
    "640 $CG_USER nogroup 640 $CG_USER nogroup"
t_check "stopped" stop "$RUN/g.pid"
sed "s|\"nogroup\"|\"postfix\"|; s|g/history.db|g2/history.db|" "$E2E_DIR/cg-g.json" > "$E2E_DIR/cg-g2.json"
mkdir -p "$E2E_DIR/g2" && chown "$CG_USER" "$E2E_DIR/g2"
chmod 644 "$E2E_DIR"/cg-g*.json
daemon g2 -u "$CG_USER" -c "$E2E_DIR/cg-g2.json" -p "$RUN/g2.pid"
t_eq "a database_group the daemon's user is not in: exit 1" "$rc" 1
t_match "the reason is on stderr" "$err" "cannot give it mode 0640 and group postfix: Operation not permitted \\(the daemon's user must be a member of database_group\\)"
t_check "nothing is left running" nothing_left
t_check "no history file was left" test ! -e "$E2E_DIR/g2/history.db"

# --- contactgatectl creates the history with the same modes
mkdir -p "$E2E_DIR/ctl"
printf '{"database": "%s/ctl/history.db"}\n' "$E2E_DIR" > "$E2E_DIR/ctl.json"
"$CG_CTL_BIN" -c "$E2E_DIR/ctl.json" state set ann@example.com complaint >/dev/null
t_eq "contactgatectl (root, root's directory) creates history.db 0600" \
    "$(mode_of "$E2E_DIR/ctl/history.db")" "600 root root"
mkdir -p "$E2E_DIR/ctl2" && chown "$CG_USER" "$E2E_DIR/ctl2"
printf '{"database": "%s/ctl2/history.db", "database_group": "nogroup"}\n' "$E2E_DIR" > "$E2E_DIR/ctl2.json"
"$CG_CTL_BIN" -c "$E2E_DIR/ctl2.json" state set ann@example.com complaint >/dev/null
t_eq "in the daemon's directory, with database_group: 0640, the daemon's user's" \
    "$(mode_of "$E2E_DIR/ctl2/history.db")" "640 $CG_USER nogroup"
# a history left 0644 by an older contactgate is tightened, with a warning
chmod 644 "$E2E_DIR/ctl/history.db"
out=$("$CG_CTL_BIN" -c "$E2E_DIR/ctl.json" state list 2>&1)
t_eq "an old 0644 history.db is made 0600" "$(stat -c %a "$E2E_DIR/ctl/history.db")" 600
t_match "and contactgatectl says so" "$out" "history.db had mode 0644; now 0600"

# --- the unit reloads the conventional way
t_check "the systemd unit: ExecReload sends SIGHUP" \
    grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$CG_SRC/sendmail-conf/contactgate.service"

t_done $NAME
