#!/bin/bash
# test_status.sh - contactgatectl status and the control socket (issue
# 17.10), end to end with a private Postfix:
#   - no daemon: exit 2 (down), said why
#   - a running daemon: exit 0, version, configuration, uptime, the last
#     minute's decisions by verdict (exact) and their rate, store ok
#   - the socket: 0600, the daemon's user's, in a 0700 directory; another
#     user cannot connect, and one let through the file mode is refused by
#     its credentials (exit 3, logged)
#   - a client that sends nothing, and one that sends too much, are cut
#     off; mail and the next status are not held up
#   - a bad reload: degraded (1) until a good one
#   - the serving process killed: its restart answers on a new socket
#   - a plugin error in the last minute: degraded; the database gone:
#     store reconnecting (1), and ok again once it is back
#   - stopped: down (2)
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup status
e2e_start_sink || { t_fail "capture server starts"; t_done status; exit 1; }
cg_config "$E2E_DIR/unused.json"
cg_stage_test_plugin thirdparty
CTLDIR=$E2E_DIR/contactgate/control
SOCK=$CTLDIR/control.sock
CG_CONFIG=$E2E_DIR/contactgate.json
write_config() { # write_config [MODE]
    cat > "$CG_CONFIG" <<JSON
{
  "socket": "inet:$CG_PORT@127.0.0.1",
  "control_socket": "$SOCK",
  "database": "$CG_DB",
  "plugin_dir": "$E2E_DIR/stage/plugins",
  "mode": "${1:-enforce}",
  "departments": [
    {"name": "marketing", "match": {"sender": ["*@offers.corp.example"]},
     "default_category": "promotional.offer", "allowed_categories": ["promotional.*"]}
  ],
  "policies": [
    {"name": "forbidden-subject", "plugin": "thirdparty", "action": "reject",
     "params": {"word": "FORBIDDEN"}},
    {"name": "one-offer-an-hour", "plugin": "frequency",
     "applies_to": {"departments": ["marketing"]}, "action": "defer",
     "params": {"limit": 1, "window": "1h", "count_categories": ["promotional.*"]}}
  ]
}
JSON
    chmod 644 "$CG_CONFIG"
}
write_config
status() { "$CG_CTL_BIN" -c "$CG_CONFIG" status "$@"; }
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }
send() { $PY "$here/smtpc.py" --port "$SMTP_PORT" --from "$1" --to "$2" --subject "$3"; }
code() { cg_reply_code "$1"; }

# --- no daemon ----------------------------------------------------------------
out=$(status); rc=$?
t_eq "no daemon: exit 2 (down)" "$rc" 2
t_match "and why" "$out" "^contactgate: down: cannot connect to $SOCK: No such file or directory \(is contactgate running\?\)"
out=$(status --json); rc=$?
t_eq "--json too: exit 2" "$rc" 2
t_eq "--json: health down" "$(jget "$out" 'r["health"]')" down

# --- a running daemon -----------------------------------------------------------
cg_start || { t_fail "contactgate starts"; t_done status; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done status; exit 1; }
out=$(status); rc=$?
t_eq "a running daemon: exit 0" "$rc" 0
t_match "ok" "$out" '^contactgate: ok$'
version=$(sed -n 's/.*version \([0-9a-f]\{16\}\).*/\1/p' "$CG_LOG" | head -1)
t_match "its configuration version" "$out" "configuration $version"
js=$(status --json)
t_eq "--json: version, pid of the serving process" "$(jget "$js" 'r["version"]') $(jget "$js" 'r["pid"]')" \
    "3.0 $(cg_serving_pid)"
t_eq "--json: the configuration version" "$(jget "$js" 'r["config_version"]')" "$version"
t_eq "--json: store ok, nothing queued, no reload" \
    "$(jget "$js" 'r["store"]["state"], r["queue_depth"], r["reload"]["result"]')" "ok 0 none"
t_check "--json: an uptime" test "$(jget "$js" 'r["uptime_secs"]')" -ge 0

t_eq "an offer: accepted" "$(code "$(send a@offers.corp.example c1@cust.example 'offer')")" 250
t_eq "a bill of no department: accepted" "$(code "$(send b@else.example c2@cust.example 'bill')")" 250
t_eq "a second offer: deferred" "$(code "$(send a@offers.corp.example c1@cust.example 'offer 2')")" 451
js=$(status --json); rc=$?
t_eq "still ok" "$rc" 0
t_eq "the last minute's decisions by verdict, exactly" \
    "$(jget "$js" '" ".join("%s=%d" % (k, r["decisions"][k]) for k in sorted(r["decisions"]))')" \
    "accept=2 defer=1 hold=0 reject=0 tag=0 tempfail=0"
t_eq "per second: over the window" \
    "$(jget "$js" 'abs(r["per_second"]["accept"] - 2.0 / r["window_secs"]) < 1e-9')" True
out=$(status)
t_match "the text lists them" "$out" "3 decisions: accept 2 \([0-9.]+/s\), defer 1"
t_match "errors in the last minute: 0" "$out" "errors in the last minute: 0$"

# --- who may ask ------------------------------------------------------------------
t_eq "the socket: 0600, the daemon's user's" "$(stat -c '%a %U' "$SOCK")" "600 $CG_USER"
t_eq "in a 0700 directory" "$(stat -c '%a %U' "$CTLDIR")" "700 $CG_USER"
other=daemon
out=$(setpriv --reuid="$other" --regid="$other" --clear-groups "$CG_CTL_BIN" status --socket "$SOCK" 2>&1); rc=$?
t_eq "another user: exit 3 (cannot ask)" "$rc" 3
t_match "not allowed to connect" "$out" "Permission denied \(ask as root or as the daemon's user\)"
chmod 755 "$CTLDIR"; chmod 666 "$SOCK"
out=$(setpriv --reuid="$other" --regid="$other" --clear-groups "$CG_CTL_BIN" status --socket "$SOCK" 2>&1); rc=$?
t_eq "let through the file modes, still refused: exit 3" "$rc" 3
t_match "by its credentials" "$out" "the daemon refused: permission denied: only root and the daemon's user may ask"
t_check "and logged with its uid" cg_log_wait "control socket: refused a client of uid $(id -u $other)" 5
chmod 700 "$CTLDIR"; chmod 600 "$SOCK"

# --- bounded clients ----------------------------------------------------------------
$PY -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(4)' "$SOCK" &
slow=$!
sleep 0.3
t_eq "a client that sends nothing holds no mail up" \
    "$(code "$(send x@else.example c3@cust.example 'during a slow client')")" 250
out=$(status --timeout 10s); rc=$?
t_eq "the next status is answered once the slow one is cut off (2 s)" "$rc" 0
wait $slow
got=$($PY -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    s.sendall(b"x" * 10000)
except OSError:
    pass
print(s.recv(1000).decode().strip())' "$SOCK" 2>&1)
t_eq "a request too long is refused" "$got" '{"error":"request too long"}'
got=$($PY -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"reload\n")
print(s.recv(1000).decode().strip())' "$SOCK" 2>&1)
t_match "an unknown request is refused" "$got" '"error":"unknown request'

# --- reloads --------------------------------------------------------------------------
echo '{"mode": "strict"' > "$CG_CONFIG"
kill -HUP "$CG_PID"
cg_log_wait "reload: .*keeping the running configuration" 10
out=$(status); rc=$?
t_eq "the configuration does not load: exit 3 (cannot tell where to ask)" "$rc" 3
out=$(status --socket "$SOCK"); rc=$?
t_eq "after a bad reload: exit 1 (degraded)" "$rc" 1
t_match "it says why" "$out" "^contactgate: degraded: the last reload failed: .*contactgate.json"
write_config monitor
kill -HUP "$CG_PID"
cg_log_wait "reload: configuration .* loaded" 10
out=$(status); rc=$?
t_eq "after a good one: exit 0 again" "$rc" 0
t_match "with the reload counts" "$out" "last reload .*: ok \(1 ok, 1 failed since start\)"
write_config

# --- the serving process restarted ----------------------------------------------------
old=$(cg_serving_pid)
ino=$(stat -c %i "$SOCK")
kill -KILL "$old"
for i in $(seq 1 50); do
    new=$(cg_serving_pid)
    [ -n "$new" ] && [ "$new" != "$old" ] && [ "$(stat -c %i "$SOCK" 2>/dev/null)" != "$ino" ] && break
    sleep 0.1
done
js=$(status --json); rc=$?
t_eq "a restarted serving process answers: exit 0" "$rc" 0
t_eq "on a socket of its own (the new process, pid $new)" "$(jget "$js" 'r["pid"]')" "$new"
t_check "freshly started" test "$(jget "$js" 'r["uptime_secs"]')" -lt 30

# --- errors ----------------------------------------------------------------------------------
t_eq "a plugin fails: tempfail" "$(code "$(send c@else.example c4@cust.example 'FAIL')")" 451
out=$(status); rc=$?
t_eq "an error in the last minute: exit 1" "$rc" 1
t_match "said" "$out" "^contactgate: degraded: 1 error in the last minute$"
t_match "by cause" "$out" "errors in the last minute: 1 \(plugin 1\)"
mv "$CG_DB" "$CG_DB.away"
t_eq "the database gone: mail is tempfailed" \
    "$(code "$(send d@else.example c5@cust.example 'no database')")" 451
js=$(status --json); rc=$?
t_eq "the database gone: exit 1" "$rc" 1
t_eq "store reconnecting" "$(jget "$js" 'r["store"]["state"]')" reconnecting
t_match "with its last error" "$(jget "$js" 'r["store"]["last_error"]')" "history.db"
t_match "among the problems" "$(jget "$js" '"; ".join(r["problems"])')" "^store reconnecting: "
mv "$CG_DB.away" "$CG_DB"
cg_log_wait "is back: deciding mail again" 10
js=$(status --json)
t_eq "the database back: store ok" "$(jget "$js" 'r["store"]["state"]')" ok

# --- stopped ---------------------------------------------------------------------------------
cg_stop
out=$(status); rc=$?
t_eq "stopped: exit 2" "$rc" 2
t_check "the socket is gone" test ! -e "$SOCK"

t_done status
