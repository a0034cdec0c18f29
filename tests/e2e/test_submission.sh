#!/bin/bash
# test_submission.sh - sendmail(1) deferrals are bounded, on both MTAs
# (issue 17.6), with short local_submission.max_defer and retry settings:
# Postfix
#   - a deferred submission stays in the maildrop under the queue ID mailq
#     shows and is offered again (pickup, every second here) under a new
#     cleanup queue ID each time; `decisions --queue-id MAILDROP-ID` finds
#     its deferral episode through the MTA, with its attempts, when it ends
#     and how to remove it
#   - after local_submission.max_defer it is refused: Postfix bounces it to
#     the sender with contactgate's text; the episode counted every attempt
#     while the decision log kept attempts 1-10 and 16 only, and
#     `decisions --lifecycle` shows the exact count
#   - a deferral whose retry-after lies beyond the limit is refused at once
#   - postsuper -d ID maildrop removes a deferred submission (README)
#   - SMTP mail is not a local submission: it is deferred as before
# Sendmail
#   - sendmail(1) goes through the MSP over SMTP from 127.0.0.1
#     (local_submission.clients): deferred at RCPT, it waits in the
#     submission queue (mailq -Ac), where `decisions --queue-id` finds it;
#     its retries after the limit get a 550 at RCPT and the MSP bounces it
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
. "$here/sendmail.sh"
PY=/usr/bin/python3

e2e_setup submission
e2e_start_sink || { t_fail "capture server starts"; t_done submission; exit 1; }
cg_config "$E2E_DIR/unused.json"
CG_CONFIG=$E2E_DIR/contactgate.json
write_config() { # write_config MAX_DEFER CLIENTS-JSON
    cat > "$CG_CONFIG" <<JSON
{
  "socket": "inet:$CG_PORT@127.0.0.1",
  "control_socket": "$E2E_DIR/contactgate/control/control.sock",
  "database": "$CG_DB",
  "plugin_dir": "$E2E_DIR/stage/plugins",
  "local_submission": {"max_defer": "$1", "clients": $2},
  "departments": [
    {"name": "marketing", "match": {"sender": ["*@offers.corp.example"]},
     "default_category": "promotional.offer", "allowed_categories": ["promotional.*"]}
  ],
  "policies": [
    {"name": "wait-while-complaint", "plugin": "customer_state", "action": "defer",
     "params": {"states": ["complaint"]}},
    {"name": "one-offer-a-day", "plugin": "frequency", "action": "defer",
     "params": {"limit": 1, "window": "1d", "count_categories": ["promotional.*"]}}
  ]
}
JSON
    chmod 644 "$CG_CONFIG"
}
write_config 20s '[]'
cg_start || { t_fail "contactgate starts"; t_done submission; exit 1; }
# pickup looks into the maildrop every second instead of every minute
e2e_postfix_config "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix config"; t_done submission; exit 1; }
postconf -c "$POSTFIX_CONF" -M pickup/unix="pickup unix n - n 1 1 pickup"
e2e_run_postfix || { t_fail "postfix starts"; t_done submission; exit 1; }

ctl() { "$CG_CTL_BIN" -c "$CG_CONFIG" "$@"; }
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }
submit() { # submit FROM TO SUBJECT
    printf 'From: <%s>\nTo: <%s>\nSubject: %s\n\nhello\n' "$1" "$2" "$3" |
        sendmail -C "$POSTFIX_CONF" -f "$1" "$2"
}
maildrop_ids() { postqueue -c "$POSTFIX_CONF" -j 2>/dev/null | $PY -c 'import json, sys
for l in sys.stdin:
    j = json.loads(l)
    if j["queue_name"] == "maildrop":
        print(j["queue_id"])'; }
# attempts RCPT - contactgate's end-of-message decisions for RCPT so far (its log)
attempts() { grep -c "stage=eom verdict=defer .*rcpt=<$1>" "$CG_LOG"; }
rows() { # rows SQL-WHERE - decision rows
    sqlite3 "$CG_DB" "SELECT count(*) FROM decisions WHERE $1"
}
ctl state set ann@cust.example complaint >/dev/null
ctl state set carl@cust.example complaint >/dev/null

# --- Postfix: a deferred sendmail(1) submission -----------------------------------
submit offers@offers.corp.example ann@cust.example "offer for ann"
for i in $(seq 1 100); do [ "$(attempts ann@cust.example)" -ge 5 ] && break; sleep 0.1; done
t_check "pickup offers it again and again (5 attempts within seconds)" \
    test "$(attempts ann@cust.example)" -ge 5
ids=$(maildrop_ids)
t_eq "it waits in the maildrop under one queue ID" "$(echo "$ids" | grep -c .)" 1
qids=$(grep "stage=eom verdict=defer .*rcpt=<ann@cust.example>" "$CG_LOG" |
       sed -n 's/.*contactgate: \([0-9A-Za-z]*\): ref=.*/\1/p')
t_eq "each attempt has a cleanup queue ID of its own" "$(echo "$qids" | sort -u | grep -c .)" \
    "$(echo "$qids" | grep -c .)"
t_eq "the maildrop ID is not among them" "$(echo "$qids" | grep -c "^$ids\$")" 0
out=$(ctl decisions --queue-id "$ids" --postfix-config "$POSTFIX_CONF"); rc=$?
t_eq "decisions --queue-id MAILDROP-ID: exit 0" "$rc" 0
t_match "finds it in the maildrop" "$out" "^queue ID $ids: in postfix's maildrop .* from <offers@offers.corp.example>"
t_match "with its episode, attempts and policy" "$out" \
    "<ann@cust.example>: deferred [0-9]+ times from .* \(episode CG[0-9A-F]+\), by wait-while-complaint"
t_match "when it ends" "$out" "refused from [0-9T:Z-]+ on \(local_submission.max_defer\)"
t_match "how to remove it" "$out" "to remove it: postsuper -c $POSTFIX_CONF -d $ids maildrop"
t_match "and its rows" "$out" "defer +CG[0-9A-F]+ +marketing +wait-while-complaint +ann@cust.example"
js=$(ctl --json decisions --queue-id "$ids" --postfix-config "$POSTFIX_CONF")
t_eq "--json: the queue, the episode's attempts so far" \
    "$(jget "$js" 'r["queue"], r["recipients"][0]["episode"]["attempts"] >= 5')" "maildrop True"

# --- it ends after local_submission.max_defer (20 s) -----------------------------------
for i in $(seq 1 400); do [ -z "$(maildrop_ids)" ] && break; sleep 0.1; done
t_eq "after max_defer the maildrop is empty" "$(maildrop_ids)" ""
t_check "Postfix bounced it to the sender with contactgate's text" \
    e2e_sink_grep "contact strategy: wait-while-complaint: deferred too long"
n=$(attempts ann@cust.example)
t_check "deferred again and again until then ($n attempts)" test "$n" -ge 5
t_eq "the refusal ended the episode" \
    "$(rows "recipient = 'ann@cust.example' AND verdict = 'reject' AND detail LIKE '%refused after $n deferrals%'")" 1
want=0
for a in $(seq 1 "$n"); do [ "$a" -le 10 ] || [ $((a & (a - 1))) = 0 ] && want=$((want + 1)); done
t_eq "the decision log kept attempts 1-10 and the powers of two only ($want rows for $n attempts)" \
    "$(rows "recipient = 'ann@cust.example' AND verdict = 'defer'")" "$want"
t_eq "the 16th says so" \
    "$(rows "recipient = 'ann@cust.example' AND verdict = 'defer' AND detail LIKE '%attempt 16 of a local submission%'")" \
    "$((n >= 16 ? 1 : 0))"
js=$(ctl --json decisions --lifecycle --customer ann@cust.example)
t_eq "decisions --lifecycle: the exact attempts, and the outcome" \
    "$(jget "$js" 'r[0]["attempts"], r[0]["outcome"]')" "$n rejected/held later"
t_check "its reason names the limit" \
    test "$(rows "recipient = 'ann@cust.example' AND verdict = 'reject' AND reason LIKE 'a local submission deferred since %local_submission.max_defer (20s)%'")" = 1

# --- a retry-after beyond the limit: refused at once --------------------------------------
submit offers@offers.corp.example bob@cust.example "first offer for bob"
for i in $(seq 1 100); do e2e_sink_grep "first offer for bob" >/dev/null && break; sleep 0.1; done
t_check "bob's first offer delivered" e2e_sink_grep "Subject: first offer for bob"
submit offers@offers.corp.example bob@cust.example "second offer for bob"
for i in $(seq 1 100); do [ "$(rows "recipient = 'bob@cust.example' AND verdict = 'reject'")" = 1 ] && break; sleep 0.1; done
t_eq "the second (retry after a day) is refused at once" \
    "$(rows "recipient = 'bob@cust.example' AND verdict = 'reject' AND reason LIKE 'a local submission would wait until %'")" 1
t_eq "without a deferral first" "$(rows "recipient = 'bob@cust.example' AND verdict = 'defer'")" 0

# --- removing one by hand (README) -------------------------------------------------------------
submit offers@offers.corp.example carl@cust.example "offer for carl"
for i in $(seq 1 100); do [ "$(attempts carl@cust.example)" -ge 2 ] && break; sleep 0.1; done
id=$(maildrop_ids)
out=$(postsuper -c "$POSTFIX_CONF" -d "$id" maildrop 2>&1)
t_match "postsuper -d ID maildrop removes it" "$out" "Deleted: 1 message"
before=$(attempts carl@cust.example)
sleep 2.5
t_eq "and it is not offered again" "$(attempts carl@cust.example) $(maildrop_ids)" "$before "

# --- SMTP is no local submission --------------------------------------------------------------
r=$($PY "$here/smtpc.py" --port "$SMTP_PORT" --from offers@offers.corp.example --to ann@cust.example)
t_eq "over SMTP: deferred at RCPT (451), as ever" "$(jget "$r" 'r["rcpt"][0]["code"]')" 451
r=$($PY "$here/smtpc.py" --port "$SMTP_PORT" --from offers@offers.corp.example --to bob@cust.example)
t_eq "and a retry-after a day away is a deferral, not a refusal" "$(jget "$r" 'r["rcpt"][0]["code"]')" 451

# --- Sendmail: the MSP's submission queue ----------------------------------------------------------
if ! sm_available; then
    t_skip "Sendmail (no private Sendmail here)"
    t_done submission
    exit $?
fi
e2e_stop_postfix
# the README's line for a Sendmail host, pasted into a configuration
line=$(awk '$0 == "<!-- snippet: sendmail-local -->" { want = 1; next }
            want && /^```/ { if (inside) exit; inside = 1; next }
            inside { print }' "$CG_SRC/README.md")
t_match "the README has the Sendmail line" "$line" '^"local_submission": '
printf '{\n  %s\n  "database": "%s/pasted.db"\n}\n' "$line" "$E2E_DIR" > "$E2E_DIR/pasted.json"
out=$("$CG_BIN" -n -c "$E2E_DIR/pasted.json" 2>&1)
t_match "pasted, it bounds the MSP's submissions: 2d" "$out" 'local_submission.max_defer +2d'
t_match "from 127.0.0.1" "$out" 'local_submission.clients +127\.0\.0\.1/32'
write_config 10s '["127.0.0.1/32"]'
kill -HUP "$CG_PID"
cg_log_wait "reload: configuration .* loaded" 10
ctl state set dora@cust.example complaint >/dev/null
sm_start "inet:$CG_PORT@127.0.0.1" || { t_fail "sendmail starts"; t_done submission; exit 1; }
sm_held list >/dev/null 2>&1   # makes $SM_DIR/bin/sendmail for --command-dir
msp() { sm_run -C "$SM_DIR/submit.cf" "$@"; }
msp_ids() { msp -bp 2>/dev/null | awk '/^[0-9A-Za-z]+[ *]+[0-9]+ /{print $1}' | tr -d '*'; }
printf 'From: <offers@offers.corp.example>\nSubject: offer for dora\n\nhello\n' |
    sm_submit offers@offers.corp.example dora@cust.example
id=$(msp_ids)
t_eq "deferred, it waits in the submission queue (mailq -Ac)" "$(echo "$id" | grep -c .)" 1
t_match "with contactgate's 451" "$(msp -bp 2>&1)" "Deferred: 451 4.7.1 contact strategy: wait-while-complaint"
t_check "decided at RCPT (the MSP speaks SMTP from 127.0.0.1)" \
    cg_log_wait "stage=rcpt verdict=defer .*rcpt=<dora@cust.example>" 5
out=$(ctl decisions --queue-id "$id" --mta sendmail --sendmail-config "$SM_DIR/sendmail.cf" \
      --command-dir "$SM_DIR/bin"); rc=$?
t_eq "decisions --queue-id MSP-ID: exit 0" "$rc" 0
t_match "finds it in the submission queue" "$out" "^queue ID $id: in sendmail's submission queue"
t_match "with its episode" "$out" "<dora@cust.example>: deferred 1 time .*by wait-while-complaint.*refused from .* \(local_submission.max_defer\)"
t_match "and how to remove it" "$out" "to remove it: rm $SM_DIR/clientmqueue/qf$id $SM_DIR/clientmqueue/df$id"
# the MSP's queue runs: a retry now, then after the limit
msp -q >/dev/null 2>&1
for i in $(seq 1 50); do [ "$(grep -c "stage=rcpt verdict=defer .*rcpt=<dora@cust.example>" "$CG_LOG")" -ge 2 ] && break; sleep 0.1; done
t_eq "a retry within the limit: deferred again" \
    "$(grep -c "stage=rcpt verdict=defer .*rcpt=<dora@cust.example>" "$CG_LOG")" 2
sleep 10
msp -q >/dev/null 2>&1
t_check "after the limit: refused at RCPT" \
    cg_log_wait "stage=rcpt verdict=reject policy=wait-while-complaint .*rcpt=<dora@cust.example>" 5
for i in $(seq 1 50); do msp_ids | grep -q "^$id\$" || break; sleep 0.1; done
t_eq "the submission queue lets it go" "$(msp_ids | grep -c "^$id\$")" 0
t_eq "the refusal ends the episode, with its count" \
    "$(rows "recipient = 'dora@cust.example' AND verdict = 'reject' AND detail LIKE '%refused after 2 deferrals%'")" 1
# the MSP queued its bounce to the sender: the next queue run sends it
# (wait for dora's own bounce: ann's, earlier in this test, carries the same words)
bounce='550 5\.7\.1 <dora@cust\.example>\.\.\. contact strategy: wait-while-complaint: deferred too long'
for i in $(seq 1 100); do
    e2e_sink_grep "$bounce" >/dev/null && break
    msp -q >/dev/null 2>&1; sleep 0.2
done
t_check "the MSP's bounce carries the 550, Sendmail's <rcpt>... after the status code" \
    e2e_sink_grep "$bounce"

t_done submission
