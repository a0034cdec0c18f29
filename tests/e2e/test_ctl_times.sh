#!/bin/bash
# test_ctl_times.sh - every contactgatectl option and configuration key
# that takes a time or a duration goes through the one parser: for each,
# one value accepted and one refused, refused with exit 1 and the one
# wording `COMMAND: OPTION "VALUE" is ...`, nothing written. Bounds: 10
# years either way for times, 10 years for durations. No MTA needed.
# Usage: test_ctl_times.sh [BUILD]
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup ctl-times
cg_config "$E2E_DIR/contactgate.json"   # the retail bank's policies
CFG=$CG_CONFIG DB=$CG_DB
ctl() { # ctl ARGS: out, err, rc
    out=$(cg_ctl "$@" 2>"$E2E_DIR/err"); rc=$?
    err=$(cat "$E2E_DIR/err")
}
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print(($2))" "$1" 2>/dev/null; }
# ok DESC ARGS...: exit 0
ok() { local d=$1; shift; ctl "$@"; t_eq "$d: exit 0" "$rc" 0; [ "$rc" = 0 ] || echo "    $err"; }
# refused DESC ERE ARGS...: exit 1 and the error matches
refused() {
    local d=$1 re=$2; shift 2; ctl "$@"
    t_match "$d: refused (exit 1) naming it" "$rc|$err" "^1\|contactgatectl: $re"
}
NOW=$(date +%s)

# --- check --time
ok "check --time +2d" check --from offers@offers.bank.example --to ann@example.com --time +2d
refused "check --time 30d (ambiguous: ago or ahead?)" \
    'check: --time "30d" is a duration, not a time: -30d is 30 days ago' \
    check --from offers@offers.bank.example --to ann@example.com --time 30d
refused "check --time +3654d" 'check: --time "\+3654d" is more than 10 years' \
    check --from offers@offers.bank.example --to ann@example.com --time +3654d

# --- record --time
ok "record --time -2h" record ann@example.com --department billing --category functional.bill --time -2h
n_before=$(sqlite3 "$DB" 'SELECT count(*) FROM contacts')
refused "record --time -99999999999999d" 'record: --time "-99999999999999d" is more than 10 years' \
    record ann@example.com --department billing --category functional.bill --time -99999999999999d
refused "record --time @0 (1970)" 'record: --time "@0" is more than 10 years' \
    record ann@example.com --department billing --category functional.bill --time @0
refused "record --time 2026-02-30 (no such day)" 'record: --time "2026-02-30" is not a time' \
    record ann@example.com --department billing --category functional.bill --time 2026-02-30
t_eq "nothing recorded by the refused ones" "$(sqlite3 "$DB" 'SELECT count(*) FROM contacts')" "$n_before"
t_eq "the accepted one is 2 hours ago" \
    "$(sqlite3 "$DB" "SELECT ts BETWEEN $NOW - 7200 - 60 AND $NOW - 7200 + 60 FROM contacts")" 1

# --- decisions --since/--until (an age is accepted: a range in the past)
ok "decisions --since 30d --until 1d" decisions --since 30d --until 1d
refused "decisions --until 3654d" 'decisions: --until "3654d" is more than 10 years' decisions --until 3654d
ok "decisions --lifecycle --since 7d" decisions --lifecycle --since 7d
refused "decisions --lifecycle --since 2026-13-01" 'decisions: --since "2026-13-01" is not a time' \
    decisions --lifecycle --since 2026-13-01

# --- report --since 30d: the man page's own example
ctl --json report --since 30d
t_eq "report --since 30d: exit 0" "$rc" 0
t_eq "report --since 30d covers 30 days up to now" "$(jget "$out" 'r["range"]["seconds"]')" 2592000
ok "report --since 2026-11-01 --until 7d" report --since "$(date -u -d '-20 days' +%F)" --until 7d
refused "report --since 3654d" 'report: --since "3654d" is more than 10 years' report --since 3654d
refused "report --until 99999999999999999999d" 'report: --until "99999999999999999999d" is more than 10 years' \
    report --until 99999999999999999999d

# --- simulate --since/--until/--history
cp "$CFG" "$E2E_DIR/proposed.json"
ok "simulate --since 30d --until 1d --history 30d" \
    simulate --policies "$E2E_DIR/proposed.json" --since 30d --until 1d --history 30d
refused "simulate --history 3654d" 'simulate: --history "3654d" is longer than 10 years' \
    simulate --policies "$E2E_DIR/proposed.json" --history 3654d
refused "simulate --since yesterday" 'simulate: --since "yesterday" is not a time' \
    simulate --policies "$E2E_DIR/proposed.json" --since yesterday

# --- state set --since/--until
ok "state set --since -1d --until +30d" state set bob@example.com complaint --since -1d --until +30d
refused "state set --until +99999d" 'state: --until "\+99999d" is more than 10 years' \
    state set bob@example.com complaint --until +99999d
refused "state set --until 30d" 'state: --until "30d" is a duration, not a time' \
    state set bob@example.com complaint --until 30d

# --- optout add --until, optout import's until field
ok "optout add --until +30d" optout add cara@example.com --until +30d
refused "optout add --until 2099-01-01" 'optout add: --until "2099-01-01" is more than 10 years' \
    optout add cara@example.com --until 2099-01-01
printf 'customer_or_address,category,until,note\ndan@example.com,promotional.*,+30d,\n' > "$E2E_DIR/o1.csv"
ok "optout import, until +30d" optout import "$E2E_DIR/o1.csv"
printf 'customer_or_address,category,until,note\ndan@example.com,promotional.*,2099-01-01,\n' > "$E2E_DIR/o2.csv"
ctl optout import "$E2E_DIR/o2.csv"
t_match "optout import, until 2099-01-01: refused naming line and field" "$rc|$err" \
    '^1\|.*o2.csv:2: until: "2099-01-01"'

# --- prune --older-than
ok "prune --older-than 400d --dry-run" prune --older-than 400d --dry-run
refused "prune --older-than 3654d" 'prune: --older-than "3654d" is longer than 10 years' \
    prune --older-than 3654d
refused "prune --older-than 0" 'prune: --older-than "0" must be at least 1s' prune --older-than 0

# --- one wording: every refusal above named its option and quoted the value
# (checked by each pattern); the configuration's durations have the same
# bound, refused by contactgate -n naming the key
policy() { # policy WINDOW: a config whose only policy has that window
    cat > "$E2E_DIR/w.json" <<JSON
{"database": "$DB", "plugin_dir": "$CG_BUILD/plugins",
 "policies": [{"name": "cap", "plugin": "frequency", "action": "defer",
               "params": {"limit": 3, "window": $1}}]}
JSON
}
policy '"3653d"'
t_check "contactgate -n: a window of 3653d (10 years) is accepted" "$CG_BIN" -n -c "$E2E_DIR/w.json"
policy '"9223372036854775807s"'
out=$("$CG_BIN" -n -c "$E2E_DIR/w.json" 2>&1); rc=$?
t_match "contactgate -n: a window of 2^63-1 s is refused naming the key" "$rc|$out" \
    '^1\|.*w.json: policies\[0\]\.params\.window: "9223372036854775807s" is longer than 10 years'
policy '"3654d"'
out=$("$CG_BIN" -n -c "$E2E_DIR/w.json" 2>&1); rc=$?
t_match "contactgate -n: a window of 3654d is refused" "$rc|$out" \
    '^1\|.*policies\[0\]\.params\.window: "3654d" is longer than 10 years'

t_done ctl_times
