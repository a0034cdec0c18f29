#!/bin/bash
# demo.sh - `make demo`: a day at a retail bank, end to end.
#
# Starts a private Postfix on 127.0.0.1 (own config and queue under a temp
# dir, relaying to a local capture server) wired to contactgate with
# policies/retail-bank.json, sends mail from billing, service, collections
# and marketing, and prints what was delivered, deferred, rejected and held,
# and why. Stops everything at the end (and on failure).
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"

PY=/usr/bin/python3
SMTPC="$PY $here/smtpc.py"

say() { printf '%s\n' "$*"; }
hr() { printf '%s\n' "------------------------------------------------------------------------------"; }

e2e_setup demo
e2e_start_sink || exit 1
cg_config "$E2E_DIR/contactgate.json"
cg_start || exit 1
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || exit 1

N=0
# send DESC FROM TO[,TO2] [header...] - one message, print the outcome
send() {
    local desc=$1 from=$2 to=$3; shift 3
    local args=(--port "$SMTP_PORT" --from "$from") t h
    IFS=, read -ra rcpts <<< "$to"
    for t in "${rcpts[@]}"; do args+=(--to "$t"); done
    for h in "$@"; do args+=(--header "$h"); done
    N=$((N + 1))
    local out
    out=$($SMTPC "${args[@]}" --subject "$desc" --body "Dear customer, ... ($desc)" 2>&1)
    printf '%2d. %-58s\n' "$N" "$desc"
    printf '    from %s to %s\n' "$from" "$to"
    $PY - "$out" <<'PY'
import json, sys
try:
    r = json.loads(sys.argv[1])
except Exception:
    print("    (client error) " + sys.argv[1]); sys.exit(0)
for rc in r.get("rcpt", []):
    code, text = rc.get("code"), rc.get("text", "")
    if code and code >= 400:
        kind = "DEFERRED" if code < 500 else "REJECTED"
        print(f"    -> {rc['to']}: {kind} at RCPT: {code} {text}")
data = r.get("data") or {}
if data.get("code"):
    code, text = data["code"], data.get("text", "")
    if code < 300:
        print(f"    -> accepted by Postfix: {code} {text}")
    else:
        kind = "DEFERRED" if code < 500 else "REJECTED"
        print(f"    -> {kind} at end of message: {code} {text}")
PY
}

say
say "contactgate demo: a retail bank's contact strategy (policies/retail-bank.json)"
hr
"$CG_BIN" -n -c "$CG_CONFIG" | sed -n '/olic/,$p' | sed 's/^/  /'
hr
say "The CRM says (contactgatectl state set ...):"
cg_ctl state set ann@example.com complaint --note "complaint #4711: card fees" | sed 's/^/  /'
cg_ctl state set ben@example.com debt_collection --note "account in arrears since October" | sed 's/^/  /'
cg_ctl state set eve@example.com bereavement --note "next of kin handles the account" | sed 's/^/  /'
cg_ctl optout add hal@example.com --category 'promotional.*' --note "unsubscribed by phone" | sed 's/^/  /'
hr
say "The day's mail:"
send "Your November statement" billing@bank.example ann@example.com
send "Black Friday: 0% balance transfer" offers@offers.bank.example ann@example.com
send "Payment reminder" collections@bank.example ben@example.com
send "Upgrade to Platinum" offers@offers.bank.example ben@example.com
send "Your statement is ready" billing@bank.example eve@example.com
send "Savings offer (1/4)" offers@offers.bank.example cara@example.com
send "Savings offer (2/4)" offers@offers.bank.example cara@example.com
send "Savings offer (3/4)" offers@offers.bank.example cara@example.com
send "Savings offer (4/4)" offers@offers.bank.example cara@example.com
send "Weekly newsletter" news@offers.bank.example cara@example.com,dan@example.com \
    "List-Unsubscribe: <mailto:unsubscribe@bank.example>" "X-Contact-Category: promotional.newsletter"
send "Your card was sent" service@bank.example dan@example.com \
    "X-Contact-Category: promotional.offer"
send "Service update (via X-Department from the CRM host)" crm@crm.internal.example fay@example.com \
    "X-Department: service"
send "Your December bill" billing@bank.example gus@example.com
send "Winter offer, right after the bill" offers@offers.bank.example gus@example.com
send "Card offer to a customer who opted out" offers@offers.bank.example hal@example.com
say "$((N + 1)). Local submission with sendmail(1): a promotion to ann (complaint)"
printf 'From: offers@offers.bank.example\nTo: ann@example.com\nSubject: Local promo\n\nHello\n' |
    sendmail -C "$POSTFIX_CONF" -f offers@offers.bank.example ann@example.com
say "    -> submitted to the maildrop; Postfix's pickup hands it to contactgate"
e2e_log_wait "(bounced|reject).*" 20 >/dev/null 2>&1 || true
sleep 2
hr
say "What arrived at the next hop (the capture server):"
e2e_sink_wait 8 20 || true
for f in $(e2e_sink_files); do
    to=$(grep -m1 -i '^To:' "$f" | sed 's/^To: *//I')
    subj=$(grep -m1 -i '^Subject:' "$f" | sed 's/^Subject: *//I')
    tag=$(grep -m1 -i '^X-Contact-Gate:' "$f" | sed 's/^X-Contact-Gate: *//I')
    ctl=$(grep -ciE '^X-(Contact-Category|Department):' "$f")
    printf '  %-22s %-45s %s\n' "$to" "$subj" "${tag:+[X-Contact-Gate: $tag]}"
    [ "$ctl" = 0 ] || say "    !! control headers were not removed"
done
hr
say "Held for compliance review (contactgatectl held list):"
cg_ctl held list --postfix-config "$POSTFIX_CONF" | sed 's/^/  /'
hr
say "Decision log (contactgatectl decisions):"
cg_ctl decisions | sed 's/^/  /'
hr
say "One customer's history (contactgatectl history cara@example.com):"
cg_ctl history cara@example.com | sed 's/^/  /'
hr
say "The compliance report for today (contactgatectl report; also --format html):"
cg_ctl report --since -1d | sed 's/^/  /'
hr
say "contactgate's own log lines (syslog format, one per decision):"
grep -E 'ref=' "$CG_LOG" | sed 's/^[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]* //' | cut -c1-200 | sed 's/^/  /'
hr
say "Demo finished; stopping Postfix, the capture server and contactgate."
cg_stop
exit 0
