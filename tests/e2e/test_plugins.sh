#!/bin/bash
# test_plugins.sh - every policy plugin through a real Postfix: its verdict
# and the SMTP reply the sending department sees.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup plugins
e2e_start_sink || { t_fail "capture server starts"; t_done plugins; exit 1; }

# quiet hours: a window that is closed now (only tomorrow, all day, UTC),
# so the message is deferred until tomorrow 00:00 UTC
tomorrow=$(date -u -d tomorrow +%a | tr 'A-Z' 'a-z')
tomorrow_start=$(date -u -d 'tomorrow 00:00' +%Y-%m-%dT%H:%M:%SZ)

CG_PORT=$(e2e_free_port)
CG_DB=$E2E_DIR/contactgate/history.db
mkdir -p "$E2E_DIR/contactgate"
chown "$CG_USER" "$E2E_DIR/contactgate"
cg_stage
CG_CONFIG=$E2E_DIR/plugins.json
cat > "$CG_CONFIG" <<JSON
{
  "socket": "inet:$CG_PORT@127.0.0.1",
  "database": "$CG_DB",
  "plugin_dir": "$E2E_DIR/stage/plugins",
  "timezone": "UTC",
  "departments": [
    {"name": "billing", "match": {"sender": "billing@bank.example"}, "default_category": "functional.bill"},
    {"name": "service", "match": {"sender": "service@bank.example"}, "default_category": "functional.service"},
    {"name": "night", "match": {"sender": "night@offers.bank.example"}, "default_category": "promotional.offer"},
    {"name": "marketing", "match": {"sender": "*@offers.bank.example"}, "default_category": "promotional.offer",
     "allowed_categories": ["promotional.*"]},
    {"name": "rogue", "match": {"sender": "*@rogue.example"}, "default_category": "functional.notice"},
    {"name": "campaigns", "match": {"sender": "blast@campaign.example"}, "default_category": "promotional.campaign",
     "allowed_categories": ["promotional.*", "functional.notice"]}
  ],
  "policies": [
    {"name": "respect-opt-outs", "plugin": "consent", "applies_to": {"categories": ["promotional.*"]},
     "action": "reject", "params": {"require_unsubscribe": "promotional.*", "missing_unsubscribe_action": "reject"}},
    {"name": "no-promotion-within-48h-after-a-bill", "plugin": "spacing",
     "applies_to": {"departments": ["marketing"], "categories": ["promotional.*"]},
     "action": "defer", "params": {"after": "functional.bill", "within": "48h"}},
    {"name": "sending-hours", "plugin": "quiet_hours", "applies_to": {"departments": ["night"]},
     "action": "defer", "params": {"windows": [{"days": "$tomorrow", "from": "00:00", "to": "24:00"}]}},
    {"name": "same-content-once-a-day", "plugin": "dedupe", "applies_to": {"departments": ["service"]},
     "action": "reject", "params": {"within": "24h"}},
    {"name": "campaign-budget", "plugin": "department_budget", "applies_to": {"departments": ["campaigns"]},
     "action": "defer", "params": {"limit": 2, "window": "1h"}},
    {"name": "sender-domain-spf", "plugin": "spf", "applies_to": {"departments": ["rogue", "billing"]},
     "action": "reject", "params": {"outbound_addresses": ["192.0.2.25"],
       "zone": [{"name": "bank.example", "type": "TXT", "value": "v=spf1 ip4:192.0.2.0/24 -all"},
                {"name": "rogue.example", "type": "TXT", "value": "v=spf1 ip4:198.51.100.7 -all"}]}}
  ]
}
JSON
chmod 644 "$CG_CONFIG"
export CG_CONFIG CG_PORT CG_DB
cg_start || { t_fail "contactgate starts with every plugin"; t_done plugins; exit 1; }
t_check "contactgate -n lists all six plugins" \
    sh -c "'$CG_BIN' -n -c '$CG_CONFIG' | grep -c '^  [0-9]\\.' | grep -qx 6"
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done plugins; exit 1; }

smtp() {
    local from=$1 to=$2; shift 2
    $PY "$here/smtpc.py" --port "$SMTP_PORT" --from "$from" --to "$to" "$@"
}
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }
UNSUB=(--header "List-Unsubscribe: <mailto:unsubscribe@offers.bank.example>")

# --- consent: opt-out -> 550 at RCPT; no List-Unsubscribe -> 550 at end of message
cg_ctl optout add ann@example.com 'promotional.*' --note "unsubscribed by phone" >/dev/null 2>&1 ||
    sqlite3 "$CG_DB" "INSERT INTO optouts(customer, category, since, until, note) VALUES ('ann@example.com', 'promotional.*', 0, 0, 'test')"
out=$(smtp offers@offers.bank.example ann@example.com "${UNSUB[@]}" --subject "Offer for Ann")
t_eq "consent: opted-out customer, 550 at RCPT" "$(jget "$out" 'r["rcpt"][0]["code"]')" 550
t_match "consent: reply names the policy, not why" "$(jget "$out" 'r["rcpt"][0]["text"]')" \
    '^5\.7\.1 contact strategy: respect-opt-outs: not permitted; ref CG[0-9A-F]{16}$'
out=$(smtp offers@offers.bank.example bea@example.com --subject "Offer without unsubscribe link")
t_eq "consent: promotion without List-Unsubscribe, 550 at end of message" "$(jget "$out" 'r["data"]["code"]')" 550
t_match "consent: reply names the policy" "$(jget "$out" 'r["data"]["text"]')" 'respect-opt-outs: not permitted; ref CG'
# why is in the decision log, for compliance
reasons() { cg_ctl --json decisions --policy "$1" | $PY -c 'import json,sys; print("\n".join(d.get("reason") or "" for d in json.load(sys.stdin)))'; }
t_match "consent: the decision log says why (opt-out)" "$(reasons respect-opt-outs)" 'opted out'
t_match "consent: the decision log says why (List-Unsubscribe)" "$(reasons respect-opt-outs)" 'List-Unsubscribe'

# --- spacing: a bill, then a promotion within 48 h -> 451 with retry-after
out=$(smtp billing@bank.example cal@example.com --subject "Bill for Cal")
t_eq "spacing: the bill is accepted" "$(jget "$out" 'r["data"]["code"]')" 250
out=$(smtp offers@offers.bank.example cal@example.com "${UNSUB[@]}" --subject "Offer for Cal")
t_eq "spacing: promotion right after a bill, 451 at RCPT" "$(jget "$out" 'r["rcpt"][0]["code"]')" 451
t_match "spacing: retry after 48 h" "$(jget "$out" 'r["rcpt"][0]["text"]')" \
    "^4\\.7\\.1 contact strategy: no-promotion-within-48h-after-a-bill: not now; retry after $(date -u -d '+2 days' +%Y-%m-%d)T"
# issue 12.10: the reply does not tell marketing the customer got a bill
t_match "spacing: the reply says nothing of the bill (but the policy's own name)" \
    "$(jget "$out" 'r["rcpt"][0]["text"]' | sed 's/no-promotion-within-48h-after-a-bill//' | grep -ci 'bill\|functional')" '^0$'
t_match "spacing: the decision log has why" "$(reasons no-promotion-within-48h-after-a-bill)" 'functional.bill'

# --- quiet hours: outside the window, 451 until it opens
out=$(smtp night@offers.bank.example dee@example.com "${UNSUB[@]}" --subject "Late offer")
t_eq "quiet_hours: outside the customer's sending hours, 451" "$(jget "$out" 'r["rcpt"][0]["code"]')" 451
t_match "quiet_hours: retry after the window opens" "$(jget "$out" 'r["rcpt"][0]["text"]')" \
    "sending-hours: .*; retry after $tomorrow_start; ref CG"

# --- dedupe: the same content twice -> the second is refused (body through the milter)
out=$(smtp service@bank.example eli@example.com --subject "Your card is on its way" --body "Dear customer, your card was posted today.")
t_eq "dedupe: first copy accepted" "$(jget "$out" 'r["data"]["code"]')" 250
out=$(smtp service@bank.example eli@example.com --subject "Re: your card is on its way" --body "Dear customer,
your card was posted today.")
t_eq "dedupe: the same content again (re-wrapped, Re:), 550" "$(jget "$out" 'r["data"]["code"]')" 550
t_match "dedupe: reply names the policy" "$(jget "$out" 'r["data"]["text"]')" 'same-content-once-a-day: '
out=$(smtp service@bank.example eli@example.com --subject "Your PIN letter" --body "Different text.")
t_eq "dedupe: different content passes" "$(jget "$out" 'r["data"]["code"]')" 250

# --- department budget: 2 per hour for campaigns
for i in 1 2; do
    out=$(smtp blast@campaign.example "c$i@example.com" "${UNSUB[@]}" --subject "Campaign $i")
    t_eq "department_budget: campaign message $i accepted" "$(jget "$out" 'r["data"]["code"]')" 250
done
out=$(smtp blast@campaign.example c3@example.com "${UNSUB[@]}" --subject "Campaign 3")
t_match "department_budget: the 3rd in the hour is deferred" \
    "$(jget "$out" 'next(c for c in [x["code"] for x in r["rcpt"]]+[r["data"]["code"]] if c//100!=2)')" '^451$'

# --- spf: a sender domain that does not authorise our outbound address
out=$(smtp news@rogue.example fay@example.com --subject "Notice")
t_eq "spf: unauthorised sender domain, 550 at RCPT" "$(jget "$out" 'r["rcpt"][0]["code"]')" 550
t_match "spf: the decision log says which address" "$(reasons sender-domain-spf)" '192\.0\.2\.25'
out=$(smtp billing@bank.example fay@example.com --subject "Bill for Fay")
t_eq "spf: authorised sender domain passes" "$(jget "$out" 'r["data"]["code"]')" 250

# --- the decision log has every verdict with its policy
for pol in respect-opt-outs no-promotion-within-48h-after-a-bill sending-hours same-content-once-a-day \
           campaign-budget sender-domain-spf; do
    n=$(cg_ctl --json decisions --policy "$pol" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
    t_match "decision log has $pol" "$n" '^[1-9][0-9]*$'
done

cg_stop
t_done plugins
