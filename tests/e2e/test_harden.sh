#!/bin/bash
# test_harden.sh - one peer cannot take decisions down for the others, and
# reload works the way admins do (README "Security", "Reload").
#
#   - inet:PORT without a host listens on 127.0.0.1 only
#   - milter_clients: a connection from 127.0.0.2 is closed before libmilter
#     reads from it, and logged; 127.0.0.1 is served
#   - the supervisor: a serving process killed by SIGSEGV, or crashed by
#     libmilter's macro defect (milter_peer.py badmacro), is restarted and
#     the next message through the private Postfix is decided correctly;
#     a crash loop backs off and says so
#   - milter_timeout: a peer that stalls mid-packet is dropped
#   - pidof finds the supervisor only; the pid file holds its pid
#   - SIGHUP to the supervisor reloads (policy change takes effect, pid
#     unchanged); a bad config is refused and the old one kept; SIGHUP to
#     the serving process itself does not take the service down;
#     contactgatectl reload and config reload; SIGTERM stops with status 0
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3
NAME=harden

e2e_setup $NAME
e2e_start_sink || { t_fail "capture server starts"; t_done $NAME; exit 1; }
CG_PORT=$(e2e_free_port)
cg_config "$E2E_DIR/contactgate.json" '"milter_clients": ["127.0.0.1/32"], "milter_timeout": "2s",'
# no host: loopback by default
sed -i "s|\"socket\": \"inet:$CG_PORT@127.0.0.1\"|\"socket\": \"inet:$CG_PORT\"|" "$CG_CONFIG"
t_match "contactgate -n: inet:PORT means inet:PORT@127.0.0.1" \
    "$("$CG_BIN" -n -c "$CG_CONFIG" 2>&1)" "socket +inet:$CG_PORT@127\\.0\\.0\\.1"

# the daemon with a pid file, in the foreground (its log on stderr)
RUN=$E2E_DIR/run
PIDF=$RUN/contactgate.pid
mkdir -p "$RUN" && chown "$CG_USER" "$RUN"
CG_LOG=$E2E_DIR/contactgate/contactgate.log
mkdir -p "$(dirname "$CG_LOG")"
e2e_bg "$CG_BIN" -f -u "$CG_USER" -p "$PIDF" -c "$CG_CONFIG" 2>>"$CG_LOG"
CG_PID=$E2E_LAST_PID
e2e_wait_port "$CG_PORT" 10 || { t_fail "contactgate listens"; cat "$CG_LOG"; t_done $NAME; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done $NAME; exit 1; }

smtp() {
    local from=$1 to=$2; shift 2
    $PY "$here/smtpc.py" --port "$SMTP_PORT" --from "$from" --to "$to" "$@"
}
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }
# wait_new_serving OLD [SECS] - until a serving process other than OLD
# accepts connections; prints its pid
wait_new_serving() {
    local old=$1 secs=${2:-10} i s
    for i in $(seq 1 $((secs * 10))); do
        s=$(cg_serving_pid)
        if [ -n "$s" ] && [ "$s" != "$old" ] && (exec 3<>"/dev/tcp/127.0.0.1/$CG_PORT") 2>/dev/null; then
            echo "$s"; return 0
        fi
        sleep 0.1
    done
    return 1
}
# decided CUSTOMER_ADDR SUBJECT - a promotion to a complaint customer gets
# 550 at RCPT from contactgate, and the decision is in the log: prints
# "550 REF" or what came instead
decided() {
    local out code ref
    out=$(smtp offers@offers.bank.example "$1" --subject "$2")
    code=$(jget "$out" 'r["rcpt"][0]["code"]')
    ref=$(jget "$out" 'r["rcpt"][0]["text"]' | sed -n 's/.*ref \(CG[0-9A-F]*\).*/\1/p')
    echo "$code $ref"
}
cg_ctl state set ann@example.com complaint >/dev/null

# --- inet:PORT listens on 127.0.0.1 only
porthex=$(printf '%04X' "$CG_PORT")
listen=$(awk -v p=":$porthex" '$4 == "0A" && substr($2, length($2) - 4) == p {print $2}' /proc/net/tcp /proc/net/tcp6)
t_eq "the only listener on the port is 127.0.0.1 (/proc/net/tcp)" "$listen" "0100007F:$porthex"

# --- who is who: pidof, names, the pid file
S0=$(cg_serving_pid)
t_check "a serving process runs under the supervisor" test -n "$S0"
t_eq "the pid file holds the supervisor's pid" "$(cat "$PIDF" 2>/dev/null)" "$CG_PID"
t_eq "the serving process is named cg-serving (comm)" "$(cat /proc/$S0/comm 2>/dev/null)" "cg-serving"
t_match "and shows as 'contactgate: serving' (argv)" "$(tr '\0' ' ' < /proc/$S0/cmdline 2>/dev/null)" '^contactgate: serving'
pids=" $(pidof contactgate) "
t_match "pidof contactgate finds the supervisor" "$pids" " $CG_PID "
t_check "and not the serving process" sh -c "! printf '%s' '$pids' | grep -q ' $S0 '"
t_eq "both run as $CG_USER" "$(ps -o user= -p "$CG_PID","$S0" | tr -d ' ' | sort -u)" "$CG_USER"
t_match "mail is decided (550 at RCPT)" "$(decided ann@example.com "Before anything")" '^550 CG'

# --- milter_clients: 127.0.0.2 is refused before libmilter reads, and logged
t_eq "a peer at 127.0.0.2 is cut before any reply" \
    "$($PY "$here/milter_peer.py" probe "$CG_PORT" --source 127.0.0.2)" closed
t_check "the refusal is logged, naming the peer" \
    cg_log_wait 'warning: refused a milter connection from 127\.0\.0\.2 port [0-9]+: not in milter_clients' 5
t_eq "a peer at 127.0.0.1 is served" "$($PY "$here/milter_peer.py" probe "$CG_PORT")" answered
t_eq "the serving process is the same (nothing crashed)" "$(cg_serving_pid)" "$S0"

# --- milter_timeout: a peer that stalls mid-packet is dropped after 2 s
st=$($PY "$here/milter_peer.py" stall "$CG_PORT" --wait 15)
t_match "a stalled peer is dropped (not still open after 15 s)" "$st" '^[0-9]+\.[0-9]$'
t_check "not before the timeout (2 s)" $PY -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 1.5 else 1)" "${st:-0}"

# --- a crash is contained: SIGSEGV to the serving process
kill -SEGV "$S0"
S1=$(wait_new_serving "$S0" 10)
t_check "killed by SIGSEGV: a new serving process serves" test -n "$S1"
t_check "the restart is logged, naming the signal" \
    cg_log_wait "fatal: serving process $S0 was killed by signal 11 \\(SIGSEGV: Segmentation fault\\); restarting it" 5
t_eq "the supervisor is the same process" "$(cat "$PIDF")" "$CG_PID"
r=$(decided ann@example.com "After a SIGSEGV")
t_match "the next message is decided correctly (550 at RCPT)" "$r" '^550 CG[0-9A-F]+$'
t_check "and its decision is in the log" cg_log_wait "ref=${r#550 } stage=rcpt verdict=reject" 5

# --- libmilter's macro defect (a name without a value), from a peer
S1=$(cg_serving_pid)
out=$($PY "$here/milter_peer.py" badmacro "$CG_PORT" --sessions 1)
S2=$(wait_new_serving "$S1" 5)
if [ -n "$S2" ]; then
    t_ok "the malformed macro packet crashed the serving process ($out); it was restarted"
    t_check "the restart is logged" \
        cg_log_wait "fatal: serving process $S1 was killed by signal 11 \\(SIGSEGV" 5
else
    t_ok "the malformed macro packet did not crash the serving process ($out)"
fi
t_match "the next message through Postfix is decided correctly (550 at RCPT)" \
    "$(decided ann@example.com "After a malformed packet")" '^550 CG[0-9A-F]+$'
out=$(smtp billing@bank.example kai@example.com --subject "Bill after a crash")
t_eq "and a bill is accepted" "$(jget "$out" 'r["data"]["code"]')" 250
t_check "and decided by contactgate (decision log)" \
    cg_log_wait 'stage=eom verdict=accept dept=billing .*rcpt=<kai@example.com>' 5

# --- reload: SIGHUP to the supervisor, a changed policy takes effect
S3=$(cg_serving_pid)
cp "$CG_CONFIG" "$E2E_DIR/enforce.json"
sed 's|^{|{ "mode": "monitor",|' "$E2E_DIR/enforce.json" > "$CG_CONFIG"
kill -HUP "$CG_PID"
t_check "SIGHUP: the log says the configuration was loaded" \
    cg_log_wait 'reload: configuration .* loaded' 10
out=$(smtp offers@offers.bank.example ann@example.com --subject "Monitor after SIGHUP")
t_eq "the new policy set applies (monitor: 250 instead of 550)" "$(jget "$out" 'r["data"]["code"]')" 250
t_eq "the supervisor's pid is unchanged" "$(cat "$PIDF")" "$CG_PID"
t_eq "the serving process's pid is unchanged (reloaded, not restarted)" "$(cg_serving_pid)" "$S3"
# a bad configuration on SIGHUP keeps the old one
printf '{ "mode": "strict" }\n' > "$CG_CONFIG"
n_before=$(grep -c 'keeping the running configuration' "$CG_LOG")
kill -HUP "$CG_PID"
t_check "a bad configuration on SIGHUP is refused and logged" \
    sh -c "for i in \$(seq 1 100); do [ \$(grep -c 'keeping the running configuration' '$CG_LOG') -gt $n_before ] && exit 0; sleep 0.1; done; exit 1"
t_match "the log names the error" "$(grep 'keeping the running configuration' "$CG_LOG" | tail -1)" \
    'mode: "strict" is not enforce or monitor'
out=$(smtp offers@offers.bank.example ann@example.com --subject "Monitor after a bad reload")
t_eq "the running (monitor) configuration still decides" "$(jget "$out" 'r["data"]["code"]')" 250

# contactgatectl reload and config reload (the pid file, given or configured)
cp "$E2E_DIR/enforce.json" "$CG_CONFIG"
n_before=$(grep -c 'reload: configuration .* loaded' "$CG_LOG")
out=$(cg_ctl reload --pid-file "$PIDF" 2>&1); rc=$?
t_eq "contactgatectl reload --pid-file: exit 0" "$rc" 0
t_match "and names the supervisor" "$out" "SIGUSR1 to $CG_PID"
t_check "the daemon reloaded" \
    sh -c "for i in \$(seq 1 100); do [ \$(grep -c 'reload: configuration .* loaded' '$CG_LOG') -gt $n_before ] && exit 0; sleep 0.1; done; exit 1"
t_match "enforce again: 550" "$(decided ann@example.com "Enforce after ctl reload")" '^550 CG'
sed "s|^{|{ \"pid_file\": \"$PIDF\",|" "$E2E_DIR/enforce.json" > "$CG_CONFIG"
n_before=$(grep -c 'reload: configuration .* loaded' "$CG_LOG")
out=$(cg_ctl config reload 2>&1); rc=$?
t_eq "contactgatectl config reload (pid_file from the configuration): exit 0" "$rc" 0
t_check "the daemon reloaded again" \
    sh -c "for i in \$(seq 1 100); do [ \$(grep -c 'reload: configuration .* loaded' '$CG_LOG') -gt $n_before ] && exit 0; sleep 0.1; done; exit 1"
t_eq "only the supervisor was signalled, the serving process reloaded" "$(cg_serving_pid)" "$S3"

# --- a SIGHUP sent to the serving process itself (libmilter: stop) does
#     not leave the service down
kill -HUP "$S3"
S4=$(wait_new_serving "$S3" 20)
if [ -n "$S4" ]; then t_ok "SIGHUP to the serving process: a new one serves"
else t_fail "SIGHUP to the serving process: a new one serves" "$(ps -o pid,ppid,stat,wchan:20,args --ppid "$CG_PID"; tail -8 "$CG_LOG")"; fi
t_check "the supervisor says it stopped without being asked" \
    cg_log_wait "serving process $S3 stopped without being asked to" 5
t_match "mail is decided (550 at RCPT)" "$(decided ann@example.com "After a SIGHUP to the child")" '^550 CG'

# --- a crash loop backs off, and says so (the restarts above count too:
#     crash until the supervisor pauses)
S=$S4
for i in 1 2 3 4 5 6; do
    kill -SEGV "$S" 2>/dev/null
    cg_log_wait 'crash loop: ' 1 && break
    S=$(wait_new_serving "$S" 10) || break
done
t_check "five crashes within a minute: the supervisor backs off and logs it" \
    cg_log_wait 'crash loop: 5 restarts in the last 60 s, next start in 10 s' 5
t_eq "meanwhile no serving process" "$(cg_serving_pid)" ""
S5=$(wait_new_serving "$S" 20)
t_check "after the pause a serving process is started again" test -n "$S5"
t_match "and mail is decided" "$(decided ann@example.com "After a crash loop")" '^550 CG'

# --- SIGTERM: the serving process finishes, the supervisor exits 0
kill -TERM "$CG_PID"
for i in $(seq 1 150); do e2e_alive "$CG_PID" || break; sleep 0.1; done
wait "$CG_PID"; rc=$?
t_eq "SIGTERM: the supervisor exits with the serving process's status 0" "$rc" 0
t_check "the serving process is gone" sh -c "! kill -0 $S5 2>/dev/null || grep -q '^State:.*Z' /proc/$S5/status"
t_check "the pid file is removed" test ! -e "$PIDF"
E2E_PIDS=$(echo " $E2E_PIDS " | sed "s/ $CG_PID / /g")

t_done $NAME
