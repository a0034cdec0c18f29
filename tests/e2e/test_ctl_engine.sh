#!/bin/bash
# test_ctl_engine.sh - the contactgatectl commands that run the engine
# without an MTA: check (dry run, per-policy trace, nothing written),
# simulate (replay under a proposed policy set), config check, reload.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup ctlengine
cg_config "$E2E_DIR/contactgate.json"
ctl() {
    out=$(cg_ctl "$@" 2>"$E2E_DIR/stderr"); rc=$?
    err=$(cat "$E2E_DIR/stderr")
}
sql() { runuser -u "$CG_USER" -- sqlite3 "$CG_DB" "$@"; }
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print(($2))" "$1" 2>/dev/null; }
now=$(date +%s)

# --- check: a promotion to a customer with an open complaint
ctl state set ann@example.com complaint --note "complaint #1"
ctl check --from offers@offers.bank.example --to ann@example.com --to bob@example.com
t_eq "check exits 0" "$rc" 0
t_match "check names the department and how it was found" "$out" "department marketing \\(by sender\\)"
t_match "check shows the violated policy and its reason" "$out" \
    "rcpt no-promotions-during-complaint +VIOLATION: reject, .*case is open"
t_match "check shows the SMTP reply ann would get at RCPT" "$out" \
    "customer ann@example.com: at RCPT: reject -> 550 5\\.7\\.1 contact strategy: no-promotions-during-complaint: "
t_match "check shows bob decided at end of message" "$out" "message verdict: accept -> 250"
t_match "check shows policies that do not apply" "$out" "review-mail-to-bereaved +not for this department"
t_eq "check wrote no decision and no contact" "$(sql 'SELECT (SELECT count(*) FROM decisions) + (SELECT count(*) FROM contacts)')" 0

# the 4th promotion in a week, as of tomorrow, in JSON
for i in 1 2 3; do
    cg_ctl record cara@example.com --department marketing --category promotional.offer \
        --channel email --time "@$((now - 3600 * i))" >/dev/null
done
ctl --json check --from offers@offers.bank.example --to cara@example.com --time +1d
t_eq "check --json parses" "$(jget "$out" 'r["recipients"][0]["recipient"]')" cara@example.com
t_match "check --json: the cap defers at RCPT with a retry-after" \
    "$(jget "$out" 'r["recipients"][0]["reply"]')" '^451 4\.7\.1 contact strategy: promotions-3-per-week: not now; retry after '
t_eq "check --json lists each policy's outcome" \
    "$(jget "$out" '[p["outcome"] for p in r["policies"] if p["policy"]=="promotions-3-per-week"][0]')" VIOLATION
# an .eml with a category header; headers folded
printf 'Return-Path: <news@offers.bank.example>\nFrom: Bank <news@offers.bank.example>\nTo: "Dan" <dan@example.com>,\n eve@example.com\nSubject: News\nX-Contact-Category:\n promotional.newsletter\n\nHello\n' > "$E2E_DIR/m.eml"
ctl check --eml "$E2E_DIR/m.eml"
t_eq "check --eml exits 0" "$rc" 0
t_match "check --eml: recipients from To (folded)" "$out" "RCPT TO:<eve@example.com>"
t_match "check --eml: category from the folded header" "$out" "category promotional.newsletter \\(by header\\)"
# bad input
ctl check --to a@example.com
t_eq "check without a sender: exit 1" "$rc" 1
t_match "and says what is missing" "$err" "no sender"
ctl check --from x@example.com --to a@example.com --header "NoColon"
t_eq "check with a malformed --header: exit 1" "$rc" 1
t_match "and names it" "$err" '--header "NoColon"'
ctl check --from x@example.com --to a@example.com --time yesterdayish
t_eq "check with a bad --time: exit 1" "$rc" 1
printf 'Subject: x\nthis is not a header\n\nbody\n' > "$E2E_DIR/bad.eml"
ctl check --eml "$E2E_DIR/bad.eml" --from a@b.example --to c@d.example
t_eq "check with a malformed .eml: exit 1" "$rc" 1
t_match "and names the line" "$err" 'bad\.eml:2: not a header line'
t_eq "still nothing written" "$(sql 'SELECT count(*) FROM decisions')" 0

# --- simulate: the same history under a proposed set with a cap of 2
sql "UPDATE contacts SET message_id = '<m' || id || '@bank.example>'"
$PY - "$CG_CONFIG" "$E2E_DIR/proposed.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
inc = json.load(open(cfg["include"][0]))
for p in inc["policies"]:
    if p["name"] == "promotions-3-per-week":
        p["name"] = "promotions-2-per-week"
        p["params"]["limit"] = 2
inc["plugin_dir"] = cfg["plugin_dir"]
json.dump(inc, open(sys.argv[2], "w"))
PY
chmod 644 "$E2E_DIR/proposed.json"
ctl simulate --policies "$E2E_DIR/proposed.json" --since 2d
t_eq "simulate exits 0" "$rc" 0
t_match "simulate replays the recorded messages" "$out" "3 messages replayed"
t_match "simulate: one sent message would have been deferred, by the new cap" "$out" \
    "sent +-> deferred +1  promotions-2-per-week: 1"
t_match "simulate names the customer" "$out" "customers: cara@example.com"
ctl --json simulate --policies "$E2E_DIR/proposed.json" --since 2d
t_eq "simulate --json: proposed deferred for marketing" \
    "$(jget "$out" '[d["proposed"]["deferred"] for d in r["departments"] if d["department"]=="marketing"][0]')" 1
t_eq "simulate --json: current deferred for marketing" \
    "$(jget "$out" '[d["current"]["deferred"] for d in r["departments"] if d["department"]=="marketing"][0]')" 0
t_eq "simulate wrote nothing to the database" "$(sql 'SELECT count(*) FROM contacts')" 3
# the current set changes nothing
cp "$E2E_DIR/proposed.json" "$E2E_DIR/same.json"
sed -i 's/"promotions-2-per-week"/"promotions-3-per-week"/; s/"limit": 2, "window": "7d"/"limit": 3, "window": "7d"/' "$E2E_DIR/same.json"
ctl simulate --policies "$E2E_DIR/same.json" --since 2d
t_match "simulate with an unchanged cap: no change" "$out" "nothing: the proposed policies decide every message as the current ones did"
ctl simulate --since 2d
t_eq "simulate without --policies: exit 1" "$rc" 1
echo '{"policies": [{"name": "x", "plugin": "frequency", "params": {"limit": 1, "window": "7x"}}]}' > "$E2E_DIR/broken.json"
ctl simulate --policies "$E2E_DIR/broken.json"
t_eq "simulate with a broken proposal: exit 1" "$rc" 1
t_match "and the key path" "$err" 'policies\[0\]\.'

# --- state, history, decisions: good and bad input
ctl state set bob@example.com debt_collection --until +30d --note "arrears since October"
t_eq "state set with an end date: exit 0" "$rc" 0
ctl --json state list bob@example.com
t_eq "state list --json shows the note" "$(jget "$out" 'r[0]["note"]')" "arrears since October"
t_match "state list --json shows the end date" "$(jget "$out" 'r[0]["until"]')" '^20[0-9-]+T'
ctl state set bob@example.com "Debt Collection"
t_eq "a state name with blanks and capitals: exit 1" "$rc" 1
t_match "and the message names it" "$err" "Debt Collection"
ctl state set not-an-address@ complaint
t_eq "a malformed address: exit 1" "$rc" 1
ctl state set bob@example.com complaint --until tomorrowish
t_eq "a bad --until: exit 1" "$rc" 1
t_match "and names the option" "$err" "--until"
ctl state frobnicate
t_eq "an unknown state subcommand: exit 1" "$rc" 1
ctl state clear bob@example.com debt_collection
t_eq "state clear: exit 0" "$rc" 0
ctl state list bob@example.com
t_match "no open state after clear" "$out" "no open states"
ctl --json history cara@example.com
t_eq "history --json lists cara's recorded contacts" "$(jget "$out" 'len([e for e in r["events"] if e.get("kind", e.get("type"))=="contact"]) if isinstance(r, dict) else len(r)')" 3
ctl history
t_eq "history without a customer: exit 1" "$rc" 1
ctl decisions --verdict maybe
t_eq "decisions with an unknown verdict: exit 1" "$rc" 1
t_match "and names it" "$err" "maybe"
ctl decisions --since notatime
t_eq "decisions with a bad --since: exit 1" "$rc" 1
ctl decisions --limit -3
t_eq "decisions with a bad --limit: exit 1" "$rc" 1
ctl --json decisions
t_eq "decisions --json on an empty log is an empty list" "$(jget "$out" 'len(r)')" 0

# --- config check and reload
ctl config check
t_eq "config check exits 0" "$rc" 0
t_match "config check prints the policies with params" "$out" "params +\\{"
ctl config frobnicate
t_eq "config with another subcommand: exit 1" "$rc" 1
ctl reload --pid-file "$E2E_DIR/none.pid"
t_eq "reload without a running daemon: exit 1" "$rc" 1
t_match "and says which pid file" "$err" "none\\.pid"
# a pid file no contactgate holds (a crash, a reboot) names a process that
# may be anybody's: it is not signalled (the reload of a running daemon:
# test_harden.sh)
sleep 300 & sleeper=$!
disown "$sleeper"
trap 'kill $sleeper 2>/dev/null; e2e_teardown' EXIT   # and still clean up
echo "$sleeper" > "$E2E_DIR/s.pid"
ctl reload --pid-file "$E2E_DIR/s.pid"
t_eq "reload with a stale pid file: exit 1" "$rc" 1
t_match "and says it is stale" "$err" "no contactgate holds it"
sleep 0.2
t_check "the process in it was not signalled" kill -0 "$sleeper"
kill "$sleeper" 2>/dev/null
t_done ctl_engine
