#!/bin/bash
# test_enforce.sh - the contact strategy cannot be slipped past (issue 12),
# end to end through a real private Postfix with a policy set written here:
#   - control headers are removed however many headers come first (2,100
#     headers; a 300 KiB header block), and a claim past the limits is not
#     read (logged)
#   - max_defer keeps per-recipient verdicts: one of three recipients at
#     the cap is deferred at RCPT alone, and after max_defer refused at
#     RCPT alone
#   - mail from an unregistered sender is held to the promotional rules
#   - a bounce to a department's own mailbox is no customer contact
#   - a refusal at RCPT logs the same detail as one at end of message
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup enforce
e2e_start_sink || { t_fail "capture server starts"; t_done enforce; exit 1; }
cg_config "$E2E_DIR/unused.json"   # ports, database and staged plugins
CG_CONFIG=$E2E_DIR/contactgate.json
cat > "$CG_CONFIG" <<JSON
{
  "socket": "inet:$CG_PORT@127.0.0.1",
  "database": "$CG_DB",
  "plugin_dir": "$E2E_DIR/stage/plugins",
  "departments": [
    {"name": "marketing", "match": {"sender": ["*@offers.corp.example"]},
     "default_category": "promotional.offer", "allowed_categories": ["promotional.*"]},
    {"name": "billing", "match": {"sender": ["billing@corp.example"]},
     "default_category": "functional.bill", "allowed_categories": ["functional.*"]}
  ],
  "policies": [
    {"name": "no-promotions-in-complaint", "plugin": "customer_state",
     "applies_to": {"categories": ["promotional.*"]}, "action": "reject",
     "params": {"states": ["complaint", "debt_collection"]}},
    {"name": "one-offer-an-hour", "plugin": "frequency",
     "applies_to": {"departments": ["marketing"]}, "action": "defer",
     "max_defer": "4s", "on_expiry": "reject",
     "params": {"limit": 1, "window": "1h", "count_categories": ["promotional.*"]}}
  ]
}
JSON
chmod 644 "$CG_CONFIG"
cg_start || { t_fail "contactgate starts"; t_done enforce; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done enforce; exit 1; }

smtp() {
    local from=$1 to=$2; shift 2
    local args=(--port "$SMTP_PORT" --from "$from") t
    IFS=, read -ra rcpts <<< "$to"
    for t in "${rcpts[@]}"; do args+=(--to "$t"); done
    $PY "$here/smtpc.py" "${args[@]}" "$@"
}
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }

# --- control headers past the limits (2,000 headers, 256 KiB) ---------------
# a message file: N filler headers of SIZE bytes, then the control headers
bulk_msg() { # FILE N SIZE SUBJECT
    $PY - "$@" <<'EOF'
import sys
f, n, size, subject = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(f, "w") as o:
    o.write("From: <billing@corp.example>\r\nTo: <kim@example.com>\r\n")
    o.write("Subject: %s\r\nMessage-ID: <%s@corp.example>\r\n" % (subject, subject.replace(" ", "-")))
    for i in range(n):
        o.write("X-Filler-%d: %s\r\n" % (i, "f" * size))
    o.write("X-Contact-Category: functional.notice\r\nX-Department: marketing\r\n")
    o.write("x-contact-category: functional.bill\r\nX-Contact-Gate: verdict=forged\r\n")
    o.write("\r\nBody.\r\n")
EOF
}
before=$(e2e_sink_count)
bulk_msg "$E2E_DIR/many.eml" 2100 20 "Many headers"
out=$(smtp billing@corp.example kim@example.com --raw "$E2E_DIR/many.eml")
t_eq "2,100 headers before the control headers: accepted" "$(jget "$out" 'r["data"]["code"]')" 250
bulk_msg "$E2E_DIR/big.eml" 300 1000 "Big header block"
out=$(smtp billing@corp.example kim@example.com --raw "$E2E_DIR/big.eml")
t_eq "a 300 KiB header block before the control headers: accepted" "$(jget "$out" 'r["data"]["code"]')" 250
e2e_sink_wait $((before + 2)) 20
for s in "Many headers" "Big header block"; do
    f=$(e2e_sink_grep "Subject: $s" | head -1)
    t_check "$s: arrived" test -n "$f"
    t_eq "$s: no control header reached the customer" \
        "$(grep -ciE '^(x-contact-category|x-department|x-contact-gate):' "$f" 2>/dev/null)" 0
    t_eq "$s: the filler headers did" "$(grep -c '^X-Filler-' "$f" 2>/dev/null)" \
        "$([ "$s" = "Many headers" ] && echo 2100 || echo 300)"
done
t_check "the claims past the limits were logged, not read" \
    cg_log_wait 'control headers? after the first 2000 headers or 256 KiB of headers' 5
# a claim of functional.notice (allowed for billing) would have changed it
t_eq "the late claims were not read: two contacts for kim, as functional.bill" \
    "$(sqlite3 "$CG_DB" "SELECT count(*) || ':' || group_concat(DISTINCT category) FROM contacts WHERE customer = 'kim@example.com'")" \
    "2:functional.bill"

# --- max_defer keeps per-recipient verdicts ---------------------------------
out=$(smtp news@offers.corp.example ann@example.com --subject "Offer 1")
t_eq "ann's first offer of the hour: accepted" "$(jget "$out" 'r["data"]["code"]')" 250
out=$(smtp news@offers.corp.example bob@example.com,ann@example.com,cy@example.com --subject "Offer 2")
t_eq "three recipients, ann at the cap: ann 451 at RCPT" "$(jget "$out" 'r["rcpt"][1]["code"]')" 451
t_eq "bob accepted at RCPT" "$(jget "$out" 'r["rcpt"][0]["code"]')" 250
t_eq "cy accepted at RCPT" "$(jget "$out" 'r["rcpt"][2]["code"]')" 250
t_eq "the message went to bob and cy" "$(jget "$out" 'r["data"]["code"]')" 250
sleep 5   # max_defer is 4 s
out=$(smtp news@offers.corp.example dee@example.com,ann@example.com,eve@example.com --subject "Offer 2")
t_eq "after max_defer: ann 550 at RCPT, alone" "$(jget "$out" 'r["rcpt"][1]["code"]')" 550
t_match "the 550 says deferred too long" "$(jget "$out" 'r["rcpt"][1]["text"]')" \
    '^5\.7\.1 contact strategy: one-offer-an-hour: deferred too long; ref CG'
t_eq "dee and eve accepted" "$(jget "$out" '[r["rcpt"][0]["code"], r["rcpt"][2]["code"]]')" "[250, 250]"
t_eq "and the message went to them" "$(jget "$out" 'r["data"]["code"]')" 250
t_eq "the expiry is logged with the deferral it ends (one episode)" \
    "$(sqlite3 "$CG_DB" "SELECT group_concat(verdict, ',') FROM (SELECT verdict FROM decisions WHERE recipient = 'ann@example.com' AND episode IS NOT NULL ORDER BY id)")" \
    "defer,reject"

# --- an unregistered sender is held to the promotional rules ------------------
cg_ctl state set fay@example.com complaint --note "complaint #1" >/dev/null
out=$(smtp someone@elsewhere.example fay@example.com --subject "Unregistered" \
    --header "X-Contact-Category: functional.bill")
t_eq "mail of no department to a complaint customer: 550 at RCPT" "$(jget "$out" 'r["rcpt"][0]["code"]')" 550
t_match "its category is promotional.unclassified" \
    "$(jget "$(cg_ctl --json decisions --customer fay@example.com)" 'r[0]["category"]')" 'promotional\.unclassified'
# the decision log says why at RCPT as at end of message (issue 12.5)
t_match "the RCPT row names the state (decision log only)" \
    "$(jget "$(cg_ctl --json decisions --customer fay@example.com)" 'r[0]["detail"]')" 'complaint'
# contactgate -n warns when no enforced policy covers mail of no department
sed 's/"applies_to": {"categories": \["promotional.\*"\]}, "action": "reject"/"applies_to": {"departments": ["marketing"]}, "action": "reject"/' \
    "$CG_CONFIG" > "$E2E_DIR/uncovered.json"
sed -i 's/"applies_to": {"departments": \["marketing"\]}, "action": "defer"/"applies_to": {"departments": ["marketing"]}, "action": "defer"/' \
    "$E2E_DIR/uncovered.json"
t_match "contactgate -n warns when no policy covers mail of no department" \
    "$("$CG_BIN" -n -c "$E2E_DIR/uncovered.json" 2>&1)" 'warning: no enforced policy applies to mail of no department'
t_match "and not when one does" "$("$CG_BIN" -n -c "$CG_CONFIG" 2>&1 | grep -c 'no enforced policy applies')" '^0$'

# --- a bounce to a department's own mailbox is no customer contact -------------
out=$(smtp "" billing@corp.example --subject "Undelivered Mail Returned to Sender")
t_eq "a bounce to billing's mailbox: accepted" "$(jget "$out" 'r["data"]["code"]')" 250
t_eq "and no contact recorded for it" \
    "$(sqlite3 "$CG_DB" "SELECT count(*) FROM contacts WHERE customer = 'billing@corp.example'")" 0

cg_stop
t_done enforce
