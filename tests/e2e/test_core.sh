#!/bin/bash
# test_core.sh - contactgate end to end in a real private Postfix.
#
# Real Postfix (smtpd on a free 127.0.0.1 port, relaying to a local capture
# server), real contactgate with policies/retail-bank.json, real SMTP
# client (smtpc.py) and real sendmail(1). Checks SMTP replies, what
# arrived, headers, and the decision log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup core
e2e_start_sink || { t_fail "capture server starts"; t_done core; exit 1; }
cg_config "$E2E_DIR/contactgate.json"
cg_start || { t_fail "contactgate starts"; t_done core; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done core; exit 1; }

# smtp FROM TO[,TO] [--header H]... -> JSON on stdout
smtp() {
    local from=$1 to=$2; shift 2
    local args=(--port "$SMTP_PORT" --from "$from") t
    IFS=, read -ra rcpts <<< "$to"
    for t in "${rcpts[@]}"; do args+=(--to "$t"); done
    $PY "$here/smtpc.py" "${args[@]}" "$@"
}
# jq-like access to the JSON result: jget JSON PYEXPR (r is the object)
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }

# --- a promotion to a customer with an open complaint: 550; a bill: delivered
cg_ctl state set ann@example.com complaint --note "complaint #4711" >/dev/null
out=$(smtp offers@offers.bank.example ann@example.com --subject "Promo for Ann")
t_eq "promotion to a complaint customer: 550 at RCPT" "$(jget "$out" 'r["rcpt"][0]["code"]')" 550
t_match "550 text is the SPEC's" "$(jget "$out" 'r["rcpt"][0]["text"]')" \
    '^5\.7\.1 contact strategy: no-promotions-during-complaint: .+; ref CG[0-9A-F]{16}$'
t_check "the 550 text does not name the customer's state" \
    sh -c "! printf '%s' \"\$1\" | grep -qi complaint\;" _ "$(jget "$out" 'r["rcpt"][0]["text"]')"
out=$(smtp billing@bank.example ann@example.com --subject "Bill for Ann")
t_eq "bill to the same customer: accepted" "$(jget "$out" 'r["data"]["code"]')" 250
e2e_sink_wait 1 15
t_check "the bill arrived" e2e_sink_grep "Subject: Bill for Ann"
t_check "the promotion did not arrive" sh -c "! grep -rqs 'Promo for Ann' '$E2E_DIR/sink'"
dec=$(cg_ctl --json decisions --verdict reject --customer ann@example.com)
t_eq "decision log has the reject with department and category" \
    "$(jget "$dec" 'r[0]["department"]+"/"+r[0]["category"]+"/"+r[0]["policy"]')" \
    "marketing/promotional.offer|promotional.*/no-promotions-during-complaint"

# --- the 4th promotion in a week: 451 with retry-after
for i in 1 2 3; do
    out=$(smtp offers@offers.bank.example bob@example.com --subject "Offer $i for Bob")
    t_eq "promotion $i/3 to bob accepted" "$(jget "$out" 'r["data"]["code"]')" 250
done
out=$(smtp offers@offers.bank.example bob@example.com --subject "Offer 4 for Bob")
t_eq "4th promotion in a week: 451 at RCPT" "$(jget "$out" 'r["rcpt"][0]["code"]')" 451
t_match "451 text has policy, reason, retry-after and ref" "$(jget "$out" 'r["rcpt"][0]["text"]')" \
    '^4\.7\.1 contact strategy: promotions-3-per-week: not now; retry after 20[0-9-]{8}T[0-9:]{8}Z; ref CG[0-9A-F]{16}$'

# --- two recipients in one transaction: only the capped one gets 451
out=$(smtp offers@offers.bank.example bob@example.com,carol@example.com --subject "Two recipients")
t_eq "capped recipient: 451" "$(jget "$out" 'r["rcpt"][0]["code"]')" 451
t_eq "other recipient: 250" "$(jget "$out" 'r["rcpt"][1]["code"]')" 250
t_eq "message accepted for the other recipient" "$(jget "$out" 'r["data"]["code"]')" 250
e2e_sink_wait 5 15
t_check "carol got 'Two recipients'" e2e_sink_grep "Subject: Two recipients"

# --- 20 messages in parallel to one customer with a cap of 3: exactly 3
before=$(e2e_sink_count)
out=$(smtp offers@offers.bank.example dave@example.com --subject "Parallel" --parallel 20)
ok=$(printf '%s\n' "$out" | $PY -c 'import json,sys; print(sum(1 for l in sys.stdin if l.strip() and (json.loads(l).get("data") or {}).get("code")==250))')
t_eq "20 parallel promotions with a cap of 3: exactly 3 accepted" "$ok" 3
e2e_sink_wait $((before + 3)) 20
sleep 1
t_eq "exactly 3 arrived" "$(grep -rls 'Subject: Parallel' "$E2E_DIR/sink" | wc -l)" 3
hist=$(cg_ctl --json history dave@example.com)
t_eq "dave has exactly 3 contacts recorded" \
    "$(jget "$hist" 'sum(1 for e in r["events"] if e["kind"]=="contact")')" 3

# --- control headers removed; tag header without customer data
out=$(smtp service@bank.example erin@example.com --subject "Card sent" \
      --header "X-Contact-Category: promotional.offer" --header "X-Department: marketing")
t_eq "service mail with a refused category claim: accepted" "$(jget "$out" 'r["data"]["code"]')" 250
e2e_sink_wait $((before + 4)) 15
f=$(e2e_sink_grep "Subject: Card sent" | head -1)
t_check "delivered" test -n "$f"
t_check "X-Contact-Category removed" sh -c "! grep -qi '^X-Contact-Category:' '$f'"
t_check "X-Department removed" sh -c "! grep -qi '^X-Department:' '$f'"
dec=$(cg_ctl --json decisions --customer erin@example.com)
t_match "the refused claim is in the decision log" "$(jget "$dec" 'r[0]["detail"]')" \
    'claimed category "promotional.offer" not allowed for department service'

# --- hold: the bereavement rule (customer_state, action hold) for billing
cg_ctl state set gus@example.com bereavement >/dev/null
out=$(smtp billing@bank.example gus@example.com --subject "Statement for Gus")
t_eq "mail to a bereaved customer: accepted into the MTA" "$(jget "$out" 'r["data"]["code"]')" 250
e2e_log_wait "milter triggers HOLD action" 15
t_check "Postfix logged the HOLD" grep -q "milter triggers HOLD action" "$E2E_DIR/postfix/maillog"
held=$(e2e_held_ids)
t_check "the message is in the hold queue" test -n "$held"
dec=$(cg_ctl --json decisions --verdict hold)
t_eq "hold is in the decision log" "$(jget "$dec" 'r[0]["customer"]')" gus@example.com

# --- monitor mode: a second contactgate with mode monitor delivers and logs
cg_stop
e2e_stop_postfix
CG_PORT= CG_DB=$E2E_DIR/monitor/history.db cg_config "$E2E_DIR/monitor.json" '"mode": "monitor",'
cg_start || t_fail "monitor contactgate starts"
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || t_fail "postfix restarts"
cg_ctl state set ann@example.com complaint >/dev/null
before=$(e2e_sink_count)
out=$(smtp offers@offers.bank.example ann@example.com --subject "Monitored promo")
t_eq "monitor mode: the promotion is accepted" "$(jget "$out" 'r["data"]["code"]')" 250
e2e_sink_wait $((before + 1)) 15
f=$(e2e_sink_grep "Subject: Monitored promo" | head -1)
t_match "monitor mode: tagged with a reference only (no policy name: it could disclose a state)" \
    "$(grep -i '^X-Contact-Gate:' "$f" 2>/dev/null | tr -d '\r')" \
    '^X-Contact-Gate: verdict=tag; ref=CG[0-9A-F]{16}$'
dec=$(cg_ctl --json decisions --customer ann@example.com)
t_eq "monitor mode: logged as monitored" "$(jget "$dec" 'r[0]["monitor"]')" True

# --- sendmail(1) is filtered too: a bill is delivered, a promotion to a
#     complaint customer bounces to the sender (5xx on the non-SMTP path)
printf 'From: billing@bank.example\nTo: ann@example.com\nSubject: Local bill\n\nhello\n' |
    sendmail -C "$POSTFIX_CONF" -f billing@bank.example ann@example.com
e2e_sink_wait $((before + 2)) 30
t_check "sendmail(1) bill delivered" e2e_sink_grep "Subject: Local bill"
t_check "contactgate decided the sendmail(1) message" cg_log_wait 'stage=eom verdict=.* dept=billing' 5
cg_stop
e2e_stop_postfix
CG_PORT= CG_DB=$E2E_DIR/enforce2/history.db cg_config "$E2E_DIR/enforce2.json"
cg_start
e2e_start_postfix "inet:127.0.0.1:$CG_PORT"
cg_ctl state set ann@example.com complaint >/dev/null
printf 'From: offers@offers.bank.example\nTo: ann@example.com\nSubject: Local promo\n\nhello\n' |
    sendmail -C "$POSTFIX_CONF" -f offers@offers.bank.example ann@example.com
t_check "sendmail(1) promotion to a complaint customer: rejected by contactgate" \
    cg_log_wait 'stage=eom verdict=reject policy=no-promotions-during-complaint' 30
t_check "Postfix bounced it to the sender" e2e_log_wait 'milter-reject: END-OF-MESSAGE.*5.7.1 contact strategy' 15

# --- the negotiation: offered everything, contactgate drops HELO, unknown
#     commands, end of headers and the body, but not DATA, and asks for no
#     "no reply" flag (over TCP each would cost a 40 ms delayed-ACK stall)
neg=$($PY "$here/milter_optneg.py" "$CG_PORT")
t_match "negotiation: HELO, unknown, end of headers and body dropped" \
    "$(jget "$neg" '" ".join(r["protocol_flags"])')" '^NOHELO NOBODY NOEOH NOUNKNOWN$'
t_eq "negotiation: no NR_* flag, DATA kept" \
    "$(jget "$neg" 'r["protocol"] & (0x80 | 0x200 | 0xFF000)')" 0

# --- milter down: Postfix applies milter_default_action (tempfail); nothing lost
cg_stop
out=$(smtp billing@bank.example hank@example.com --subject "While down")
t_match "milter down: the client gets a 4xx" \
    "$(jget "$out" 'next(c for c in [r["mail"]["code"]]+[x["code"] for x in r["rcpt"]]+[r["data"]["code"]] if c//100!=2)')" '^4[0-9][0-9]$'
t_check "nothing was delivered while down" sh -c "! grep -rqs 'Subject: While down' '$E2E_DIR/sink'"
cg_start
before=$(e2e_sink_count)
out=$(smtp billing@bank.example hank@example.com --subject "While down")
t_eq "after restart the retried message is accepted" "$(jget "$out" 'r["data"]["code"]')" 250
e2e_sink_wait $((before + 1)) 15
t_check "and delivered" e2e_sink_grep "Subject: While down"

# --- bad input: garbage headers and addresses never crash it
out=$(smtp billing@bank.example ivan@example.com --subject "Garbage" \
      --header "X-Contact-Category: ../../etc;DROP TABLE" --header "X-Department: $(head -c 3000 /dev/zero | tr '\0' x)")
t_eq "garbage control headers: accepted with the department default" "$(jget "$out" 'r["data"]["code"]')" 250
out=$(smtp '' jo@example.com --subject "Null sender")
t_eq "null sender (department unknown): accepted" "$(jget "$out" 'r["data"]["code"]')" 250
cg_ctl state set '"lee smith"@example.com' complaint >/dev/null
out=$(smtp offers@offers.bank.example '"Lee Smith"@example.com' --subject "Quoted local part")
t_eq "an unusual but valid address (quoted, with a blank) is still checked: 550" \
    "$(jget "$out" 'r["rcpt"][0]["code"]')" 550
out=$(smtp 'not@@an address' kay@example.com --subject "Bad sender")
t_match "a malformed sender gets an SMTP answer (Postfix's or ours), never a crash" \
    "$(jget "$out" 'r["data"]["code"] or r["mail"]["code"]')" '^[245][0-9][0-9]$'
t_check "contactgate is still running" kill -0 "$CG_PID"

# --- a malformed config gives a precise error (and the daemon keeps the old one on reload)
printf '{ "socket": "inet:1@127.0.0.1", "mode": "strict" }\n' > "$E2E_DIR/bad.json"
err=$("$CG_BIN" -n -c "$E2E_DIR/bad.json" 2>&1); rc=$?
t_eq "contactgate -n on a bad config exits 1" "$rc" 1
t_match "the error names the key" "$err" 'bad.json: mode: "strict" is not enforce or monitor'
cp "$CG_CONFIG" "$E2E_DIR/good.json"
cp "$E2E_DIR/bad.json" "$CG_CONFIG"
kill -USR1 "$CG_PID"
t_check "reload with a bad config is refused and logged" cg_log_wait 'reload: .*keeping the running configuration' 10
cp "$E2E_DIR/good.json" "$CG_CONFIG"
kill -USR1 "$CG_PID"
t_check "reload with a good config is applied" cg_log_wait 'reload: configuration .* loaded' 10
out=$(smtp billing@bank.example kim@example.com --subject "After reload")
t_eq "mail flows after the reloads" "$(jget "$out" 'r["data"]["code"]')" 250

cg_stop
t_done core
