#!/bin/bash
# relays.sh - several Postfix + contactgate relays in one end-to-end test,
# sharing one private PostgreSQL (source after lib.sh, cg.sh, pglib.sh).
#
#   relay_start NAME   a Postfix (its own directory, SMTP port and queue)
#                      whose milter is a contactgate of its own, named NAME
#                      in the decision log, on $PG_URI_RELAYS (or $PG_URI)
#   relay_smtp NAME ARGS...   smtpc.py against that relay's Postfix
#   relay_ctl ARGS...  contactgatectl on the shared database
#   relay_stop NAME    stop that relay's contactgate (SIGTERM, waited for)
#   relay_restart NAME start it again
# lib.sh runs one Postfix per test directory: each relay's Postfix gets a
# directory of its own under $E2E_DIR, and is stopped at teardown.

declare -A RELAY_SMTP RELAY_CONF RELAY_PF RELAY_CG RELAY_CGCONF RELAY_LOG

relay_start() {
    local name=$1 root=$E2E_DIR dir=$E2E_DIR/relay-$1
    mkdir -p "$dir/contactgate"
    chmod 755 "$dir"
    local cgport; cgport=$(e2e_free_port)
    cg_stage
    cat > "$dir/contactgate.json" <<JSON
{
  "relay": "$name",
  "socket": "inet:$cgport@127.0.0.1",
  "database": "${PG_URI_RELAYS:-$PG_URI}",
  "plugin_dir": "$E2E_DIR/stage/plugins",
  ${RELAY_EXTRA_JSON:-}
  "include": ["$E2E_DIR/stage/policies/retail-bank.json"]
}
JSON
    chmod 644 "$dir/contactgate.json"
    RELAY_CGCONF[$name]=$dir/contactgate.json
    RELAY_LOG[$name]=$dir/contactgate/contactgate.log
    RELAY_CG[$name]=$cgport
    relay_restart "$name" || return 1
    # a Postfix in the relay's own directory (lib.sh's, pointed there)
    local save_dir=$E2E_DIR save_port=$SMTP_PORT
    E2E_DIR=$dir
    SMTP_PORT=$(E2E_DIR=$root e2e_free_port)
    E2E_PF_STARTED=0
    e2e_start_postfix "inet:127.0.0.1:$cgport" "milter_command_timeout = 30s" \
        "milter_content_timeout = 60s"
    local rc=$?
    RELAY_SMTP[$name]=$SMTP_PORT
    RELAY_CONF[$name]=$POSTFIX_CONF
    RELAY_PF[$name]=$E2E_PF_PID
    e2e_on_exit "postfix -c '$POSTFIX_CONF' stop >/dev/null 2>&1"
    E2E_PF_STARTED=0
    E2E_DIR=$save_dir
    SMTP_PORT=$save_port
    return $rc
}

relay_restart() {
    local name=$1 i
    e2e_bg "$CG_BIN" -f -u "$CG_USER" -c "${RELAY_CGCONF[$name]}" 2>>"${RELAY_LOG[$name]}"
    RELAY_PID[$name]=$E2E_LAST_PID
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/${RELAY_CG[$name]}") 2>/dev/null && return 0
        kill -0 "${RELAY_PID[$name]}" 2>/dev/null || { cat "${RELAY_LOG[$name]}"; return 1; }
        sleep 0.1
    done
    return 1
}
declare -A RELAY_PID

relay_stop() {
    local pid=${RELAY_PID[$1]} i
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

relay_smtp() {
    local name=$1; shift
    /usr/bin/python3 "$CG_SRC/tests/e2e/smtpc.py" --port "${RELAY_SMTP[$name]}" "$@"
}

relay_ctl() {
    local first
    for first in "${!RELAY_CGCONF[@]}"; do break; done
    "$CG_CTL_BIN" -c "${RELAY_CGCONF[$first]}" "$@"
}

# relay_codes JSON-LINES - "accepted deferred other" of smtpc.py's output
relay_codes() {
    /usr/bin/python3 -c '
import json, sys
a = d = o = 0
for l in sys.stdin:
    l = l.strip()
    if not l:
        continue
    j = json.loads(l)
    data = (j.get("data") or {}).get("code")
    rc = [r.get("code") for r in j.get("rcpt") or []]
    if data == 250:
        a += 1
    elif any(c == 451 for c in rc) or data == 451:
        d += 1
    else:
        o += 1
print(a, d, o)'
}
