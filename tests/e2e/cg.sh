#!/bin/bash
# cg.sh - contactgate helpers for the end-to-end tests and the demo, on
# top of lib.sh (source lib.sh first).
#
#   cg_config FILE [JSON-MEMBERS]   write a config using policies/retail-bank.json
#   cg_start [CONFIG]               start contactgate -f on $CG_PORT, wait for it
#   cg_stop                         stop it (SIGTERM) and wait
#   cg_ctl ARGS...                  contactgatectl -c $CG_CONFIG ARGS
#   cg_log_wait PATTERN [SECS]      wait for a line in contactgate's log
#   cg_names_in FILE                the config's policy and state names found in FILE
#   cg_contacts CUSTOMER            how many contacts the history has for CUSTOMER
#   cg_refusal JSON                 the first reply that is not 2xx in smtpc.py's output
#   cg_serving_pid                  the serving process under the supervisor
#   cg_stage_test_plugin NAME       tests/plugins/NAME.so next to the staged plugins
#   cg_reply_code JSON              the first reply code that is not 2xx (else DATA's)
#
# contactgate listens on inet:$CG_PORT@127.0.0.1 (loopback only).

CG_SRC=${CG_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CG_BUILD=${CG_BUILD:-$CG_SRC/build}
case $CG_BUILD in /*) ;; *) CG_BUILD=$CG_SRC/$CG_BUILD ;; esac
CG_BIN=$CG_BUILD/contactgate
CG_CTL_BIN=$CG_BUILD/contactgatectl
# The daemon refuses to serve as root: the tests run it as CG_USER. The
# checkout may sit under a directory that user cannot read (/root), so the
# plugins and policies it reads are copied under $E2E_DIR.
CG_USER=${CG_USER:-nobody}

# Plugins load only from directories no one but root (or the daemon's
# user) can write, up to / (README "Security"); $E2E_DIR is under /tmp,
# which anyone can write to. So plugins are staged in a directory of root's
# under /run (CG_TRUSTED_ROOT, 0755 up to /), one per test run, removed at
# teardown; $E2E_DIR/stage/plugins is a symlink to it, so configs name
# plugin_dir as before (the loader follows a symlink in the directory
# part and checks the directories the files really are in).
CG_TRUSTED_ROOT=${CG_TRUSTED_ROOT:-/run/contactgate-test}

# cg_trusted_dir - print this run's trusted directory (created once)
cg_trusted_dir() {
    if [ -z "${CG_TRUSTED:-}" ] || [ ! -d "$CG_TRUSTED" ]; then
        install -d -o root -g root -m 755 "$CG_TRUSTED_ROOT" || return 1
        CG_TRUSTED=$(mktemp -d "$CG_TRUSTED_ROOT/$(basename "$E2E_DIR").XXXXXX") || return 1
        chmod 755 "$CG_TRUSTED"
        e2e_on_exit "rm -rf '$CG_TRUSTED'"
    fi
    echo "$CG_TRUSTED"
}

# cg_stage - copy plugins (to the trusted directory) and policies where
# CG_USER can read them
cg_stage() {
    [ -d "$E2E_DIR/stage" ] && return 0
    cg_trusted_dir >/dev/null || return 1
    mkdir -p "$CG_TRUSTED/plugins" "$E2E_DIR/stage/policies"
    ln -s "$CG_TRUSTED/plugins" "$E2E_DIR/stage/plugins"
    cp "$CG_BUILD"/plugins/*.so "$CG_TRUSTED/plugins/"
    cp "$CG_SRC"/policies/*.json "$E2E_DIR/stage/policies/"
    chmod 755 "$E2E_DIR/stage" "$CG_TRUSTED/plugins" "$E2E_DIR/stage/policies"
    chmod 644 "$E2E_DIR"/stage/policies/*.json
    chmod 755 "$CG_TRUSTED"/plugins/*.so
}

# cg_config FILE [extra top-level JSON members, each ending with a comma]
cg_config() {
    local file=$1 extra=${2:-}
    : "${CG_PORT:=$(e2e_free_port)}"
    CG_CONFIG=$file
    CG_DB=${CG_DB:-$E2E_DIR/contactgate/history.db}
    mkdir -p "$(dirname "$CG_DB")" "$(dirname "$file")"
    chown "$CG_USER" "$(dirname "$CG_DB")"
    cg_stage
    # each test's own control socket (the default is the host's)
    local control=""
    case $extra in *'"control_socket"'*) ;;
        *) control="\"control_socket\": \"$(dirname "$CG_DB")/control/control.sock\"," ;; esac
    cat > "$file" <<JSON
{
  $extra
  $control
  "socket": "inet:$CG_PORT@127.0.0.1",
  "database": "$CG_DB",
  "plugin_dir": "$E2E_DIR/stage/plugins",
  "include": ["$E2E_DIR/stage/policies/retail-bank.json"]
}
JSON
    chmod 644 "$file"
    export CG_CONFIG CG_PORT CG_DB
}

# cg_start [CONFIG] - start the daemon in the foreground (background job)
cg_start() {
    local cfg=${1:-$CG_CONFIG}
    CG_LOG=$E2E_DIR/contactgate/contactgate.log
    mkdir -p "$(dirname "$CG_LOG")"
    "$CG_BIN" -n -c "$cfg" > "$E2E_DIR/contactgate/effective.txt" 2>&1 || {
        echo "contactgate -n failed:"; cat "$E2E_DIR/contactgate/effective.txt"; return 1; }
    e2e_bg "$CG_BIN" -f -u "$CG_USER" -c "$cfg" 2>>"$CG_LOG"
    CG_PID=$E2E_LAST_PID
    local i
    for i in $(seq 1 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/$CG_PORT) 2>/dev/null; then return 0; fi
        kill -0 "$CG_PID" 2>/dev/null || { echo "contactgate died:"; cat "$CG_LOG"; return 1; }
        sleep 0.1
    done
    echo "contactgate did not listen on $CG_PORT"; cat "$CG_LOG"; return 1
}

# cg_stop - SIGTERM and wait (libmilter takes a few seconds)
cg_stop() {
    [ -n "${CG_PID:-}" ] || return 0
    kill -TERM "$CG_PID" 2>/dev/null
    local i
    for i in $(seq 1 150); do
        kill -0 "$CG_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$CG_PID" 2>/dev/null
    wait "$CG_PID" 2>/dev/null
    CG_PID=
}

cg_ctl() { "$CG_CTL_BIN" -c "$CG_CONFIG" "$@"; }

# cg_stage_test_plugin NAME - a test plugin (build/tests/plugins/NAME.so)
# where plugin_dir finds the shipped ones
cg_stage_test_plugin() {
    cg_stage || return 1
    install -m 755 "$CG_BUILD/tests/plugins/$1.so" "$CG_TRUSTED/plugins/"
}

# cg_reply_code JSON - in what tests/e2e/smtpc.py printed: the code of the
# first RCPT reply that is not 2xx, else DATA's
cg_reply_code() {
    /usr/bin/python3 -c 'import json, sys
r = json.loads(sys.argv[1])
x = [x for x in r["rcpt"] if x["code"] // 100 != 2]
print(x[0]["code"] if x else r["data"]["code"])' "$1" 2>/dev/null
}

# cg_serving_pid - the serving process (libmilter, decider, store) under
# the supervisor $CG_PID: what does the work, for CPU and memory figures
cg_serving_pid() { pgrep -P "$CG_PID" | head -1; }

# cg_log_wait PATTERN [SECS]
cg_log_wait() {
    local pat=$1 secs=${2:-10} i
    for i in $(seq 1 $((secs * 10))); do
        grep -qE -- "$pat" "$CG_LOG" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# cg_names_in FILE - print each policy name and customer-state name of
# $CG_CONFIG (and its includes) that FILE contains (case-insensitive);
# prints nothing when the file discloses none
cg_names_in() {
    /usr/bin/python3 - "$CG_CONFIG" "$1" <<'EOF'
import json, os, sys
names, seen = set(), set()
def walk(path):
    if path in seen:
        return
    seen.add(path)
    doc = json.load(open(path))
    for inc in doc.get("include", []):
        walk(os.path.join(os.path.dirname(path), inc))
    for p in doc.get("policies", []):
        names.add(p["name"])
        prm = p.get("params", {})
        names.update(prm.get("states", []))
        names.update(r["state"] for r in prm.get("rules", []) if "state" in r)
walk(sys.argv[1])
text = open(sys.argv[2], errors="replace").read().lower()
for n in sorted(names):
    if n.lower() in text:
        print(n)
EOF
}

# cg_contacts CUSTOMER|ADDRESS - the number of contacts in its history
cg_contacts() {
    cg_ctl --json history "$1" | /usr/bin/python3 -c 'import json, sys
print(sum(1 for e in json.load(sys.stdin)["events"] if e["kind"] == "contact"))'
}

# cg_refusal JSON - the text of the first reply that is not 2xx in what
# tests/e2e/smtpc.py printed (RCPT replies, then DATA's)
cg_refusal() {
    /usr/bin/python3 -c 'import json, sys
r = json.loads(sys.argv[1])
print(next((x["text"] for x in r["rcpt"] + [r.get("data") or {"code": 250}]
            if x["code"] // 100 != 2), ""))' "$1" 2>/dev/null
}
