#!/bin/bash
# test_ctl_listings.sh - contactgatectl history and decisions as text: a
# heading, every column starting at the same place in every row whatever
# the lengths of the values, and an accepted message whose category claim
# was refused saying what happened instead of "-"; check takes any number
# of recipients and headers. The decision rows are
# written with sqlite3 as the engine's log_row writes them (an accept with
# a refused claim: no policy, no reason, the note in detail). No MTA.
# Usage: test_ctl_listings.sh [BUILD]
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup ctl-listings
cg_config "$E2E_DIR/contactgate.json"   # the retail bank's policies
DB=$CG_DB
ctl() { cg_ctl "$@"; }
# aligned TEXT COLUMN...: every column of the heading (the line starting
# with the first COLUMN) starts at the same offset in every row after it
aligned() {
    $PY - "$@" <<'PY'
import sys
lines, cols = sys.argv[1].split("\n"), sys.argv[2:]
i = next(k for k, l in enumerate(lines) if l.startswith(cols[0] + " "))
head, rows = lines[i], [l for l in lines[i + 1:] if l]
starts, at = [], 0
for c in cols[1:]:
    at = head.index(" " + c, at) + 1
    starts.append(at)
bad = [r for r in rows for s in starts if len(r) <= s or r[s - 1] != " " or r[s] == " "]
print("ok" if rows and not bad else "misaligned: " + repr(bad[:2]))
PY
}

ctl record erin@example.com --department service --category functional.service --time -3h >/dev/null
ctl record erin@example.com --department collections --category functional.debt.reminder \
    --channel sms --time -2h >/dev/null
NOW=$(date +%s)
sqlite3 "$DB" <<SQL
INSERT INTO decisions(ts, ref, stage, verdict, policy, reason, detail, department, sender,
  recipient, customer, category, message_id, queue_id, config_version, retry_after, monitor) VALUES
 ($NOW - 600, 'CG0000000A00010001', 'eom', 'accept', NULL, NULL,
  'claimed category "promotional.offer" not allowed for department service', 'service',
  'service@bank.example', 'erin@example.com', 'erin@example.com', 'functional.service',
  '<c1@bank.example>', 'A1B2C3', 'v1', 0, 0),
 ($NOW - 300, 'CG0000000A00010002', 'eom', 'defer', 'no-promotion-within-48h-after-a-bill-for-customers',
  'no promotional mail within 2 days after functional.bill mail', NULL, 'marketing',
  'offers@offers.bank.example', 'erin@example.com', 'erin@example.com', 'promotional.offer',
  '<c2@bank.example>', 'D4E5F6', 'v1', $NOW + 3600, 0),
 ($NOW - 100, 'CG0000000A00010003', 'rcpt', 'tag', 'trial-promotions-2-per-week', 'at most 2 in 7 days',
  NULL, 'marketing', 'offers@offers.bank.example', 'erin@example.com', 'erin@example.com', NULL,
  NULL, NULL, 'v1', 0, 1);
SQL

# --- history
h=$(ctl history erin@example.com)
t_match "history: a heading" "$h" '^TIME +EVENT +DEPT +CATEGORY +VIA +ADDRESS +POLICY +REASON$'
t_eq "history: every column lines up" "$(aligned "$h" TIME EVENT DEPT CATEGORY VIA ADDRESS POLICY REASON)" ok
t_match "history: the refused claim says what happened" "$h" \
    ' accept +service +functional\.service +eom +erin@example\.com +- +claimed category "promotional\.offer" not allowed for department service$'
t_match "history: a contact row" "$h" \
    ' contact +collections +functional\.debt\.reminder +sms +erin@example\.com +- +-$'
t_match "history: a monitored policy is marked" "$h" \
    ' tag +marketing +- +rcpt +erin@example\.com +trial-promotions-2-per-week \(monitor\) +at most 2 in 7 days$'
t_match "history: newest first" "$(printf '%s\n' "$h" | sed -n 3p)" ' tag '

# --- decisions and decisions --lifecycle
d=$(ctl decisions)
t_match "decisions: a heading" "$d" '^TIME +VERDICT +REF +DEPT +POLICY +RECIPIENT +REASON$'
t_eq "decisions: every column lines up (a 50-character policy name)" "$(aligned "$d" TIME VERDICT REF DEPT POLICY RECIPIENT REASON)" ok
t_match "decisions: the refused claim says what happened" "$d" \
    'CG0000000A00010001 +service +- +erin@example\.com +claimed category'
l=$(ctl decisions --lifecycle)
t_match "decisions --lifecycle: a heading" "$l" \
    '^FIRST DEFERRAL +ATTEMPTS +LAST ATTEMPT +OUTCOME +DEPT +POLICY +RECIPIENT +MESSAGE-ID$'
t_eq "decisions --lifecycle: every column lines up" "$(aligned "$l" "FIRST DEFERRAL" ATTEMPTS "LAST ATTEMPT" OUTCOME DEPT POLICY RECIPIENT MESSAGE-ID)" ok

# --- --json keeps every field
j=$(ctl --json history erin@example.com)
t_eq "history --json: the refused claim's detail" \
    "$($PY -c 'import json,sys; r=json.loads(sys.argv[1]); print([e["detail"] for e in r["events"] if e.get("verdict")=="accept"])' "$j")" \
    "['claimed category \"promotional.offer\" not allowed for department service']"

# --- check lists every recipient: --to and --header repeat without a limit
args=()
for i in $(seq 1 120); do args+=(--to "r$i@example.com"); done
for i in $(seq 1 70); do args+=(--header "X-Extra-$i: $i"); done
ctl --json check --from offers@offers.bank.example "${args[@]}" > "$E2E_DIR/check.json" 2>&1
t_eq "check with 120 --to and 70 --header: every recipient decided" \
    "$($PY -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r["recipients"]), r["recipients"][-1]["recipient"])' "$E2E_DIR/check.json")" \
    "120 r120@example.com"
out=$(ctl check --from offers@offers.bank.example --to 2>&1); rc=$?
t_match "check --to without its value: exit 1, says so" "$rc|$out" '^1\|.*check: option "--to" needs a value'
out=$(ctl check --from offers@offers.bank.example --to a@example.com --header NoColon 2>&1); rc=$?
t_match "check --header without a colon: exit 1 naming it" "$rc|$out" '^1\|.*--header "NoColon" is not "Name: value"'

t_done ctl_listings
