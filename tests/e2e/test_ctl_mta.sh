#!/bin/bash
# test_ctl_mta.sh - contactgatectl against a real private Postfix:
#   held list|release|drop   on messages contactgate put in the hold queue
#   decisions --lifecycle    what became of deferred messages, with a real
#                            sender retry after the retry-after time
# Real Postfix (smtpd on a free 127.0.0.1 port, relaying to the capture
# server), real contactgate, real SMTP client (smtpc.py).
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3
NAME=ctl_mta

e2e_setup ctl-mta
e2e_start_sink || { t_fail "capture server starts"; t_done $NAME; exit 1; }
cg_config "$E2E_DIR/contactgate.json"
cg_start || { t_fail "contactgate starts"; t_done $NAME; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done $NAME; exit 1; }

# smtp FROM TO [smtpc args...] -> JSON on stdout
smtp() {
    local from=$1 to=$2; shift 2
    $PY "$here/smtpc.py" --port "$SMTP_PORT" --from "$from" --to "$to" "$@"
}
# jget JSON PYEXPR (r is the parsed document)
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }
held() { cg_ctl held "$@" --postfix-config "$POSTFIX_CONF"; }
# in_hold QID - the queue ID is in Postfix's hold queue
in_hold() { e2e_held_ids | grep -qx "$1"; }
# wait_held N - until N messages are in the hold queue
wait_held() {
    local i
    for i in $(seq 1 100); do
        [ "$(e2e_held_ids | wc -l)" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
# run_rc CMD... - "RC|STDERR" of a command whose stdout is not wanted
run_rc() {
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    printf '%s|%s' "$rc" "$err"
}

# ============================================================ held ==========
cg_ctl state set eve@example.com bereavement >/dev/null
out=$(smtp billing@bank.example eve@example.com --subject "Bill for Eve")
t_eq "bill to a bereaved customer: accepted into the MTA" "$(jget "$out" 'r["data"]["code"]')" 250
qid1=$(jget "$out" 'r["data"]["text"].split()[-1]')
t_match "the 250 names the queue ID" "$qid1" '^[0-9A-Za-z]+$'
wait_held 1
t_check "postqueue -j shows it in the hold queue" in_hold "$qid1"
sleep 2
t_check "the sink did not receive the held bill" \
    sh -c "! grep -rqs 'Subject: Bill for Eve' '$E2E_DIR/sink'"

txt=$(held list)
t_match "held list (text): queue ID, department, policy" "$txt" \
    "^$qid1 .* eve@example.com .* billing +review-mail-to-bereaved +CG[0-9A-F]{16} "
t_match "held list (text): the sender and the reason" "$txt" \
    "billing@bank.example .*CG[0-9A-F]{16} +.+"
js=$(held list --json)
t_eq "held list --json: one message" "$(jget "$js" 'len(r)')" 1
t_eq "held list --json: queue id, department, policy" \
    "$(jget "$js" 'r[0]["queue_id"]+"/"+r[0]["department"]+"/"+r[0]["policy"]')" \
    "$qid1/billing/review-mail-to-bereaved"
t_eq "held list --json: recipients and sender" \
    "$(jget "$js" '",".join(r[0]["recipients"])+"/"+r[0]["sender"]')" \
    "eve@example.com/billing@bank.example"
t_match "held list --json: reference and reason" "$(jget "$js" 'r[0]["ref"]+" "+r[0]["reason"]')" \
    '^CG[0-9A-F]{16} .+'
t_match "held list --json: arrival time" "$(jget "$js" 'r[0]["arrival"]')" \
    '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'
ref1=$(jget "$js" 'r[0]["ref"]')
contacts_before=$(jget "$(cg_ctl --json history eve@example.com)" \
    'sum(1 for e in r["events"] if e["kind"]=="contact")')
t_eq "no contact recorded for eve while held" "$contacts_before" 0

# --- release: delivered, contact recorded, "released" in the trail
before=$(e2e_sink_count)
rel=$(held release "$qid1" 2>&1); rc=$?
t_eq "held release: exit 0" "$rc" 0
t_match "held release says what it did" "$rel" "^released $qid1 \(ref $ref1, review-mail-to-bereaved\): 1 contact recorded"
e2e_sink_wait $((before + 1)) 20
t_check "the released bill reached the sink" e2e_sink_grep "Subject: Bill for Eve"
t_check "it is no longer in the hold queue" sh -c "! postqueue -c '$POSTFIX_CONF' -j | grep -q '\"$qid1\"'"
hist=$(cg_ctl --json history eve@example.com)
t_eq "history: one contact for eve, from the release" \
    "$(jget "$hist" '",".join(e["department"]+"/"+e["category"]+"/"+e["channel"]+"/"+e["queue_id"] for e in r["events"] if e["kind"]=="contact")')" \
    "billing/functional.bill/email/$qid1"
t_match "history (text) shows the contact" "$(cg_ctl history eve@example.com)" \
    ' contact +billing +functional.bill +email +eve@example.com'
dec=$(cg_ctl --json decisions --queue-id "$qid1")
t_eq "decisions: hold then released, same ref" \
    "$(jget "$dec" '" ".join(d["verdict"]+":"+d["ref"] for d in reversed(r))')" \
    "hold:$ref1 released:$ref1"
t_match "decisions: the released row is stage admin, by the admin" \
    "$(jget "$dec" 'r[0]["stage"]+"|"+r[0]["reason"]')" '^admin\|released by .+'
t_match "decisions (text) shows released" "$(cg_ctl decisions --verdict released)" \
    "released +$ref1 +billing +review-mail-to-bereaved +eve@example.com +released by "
t_eq "the released row names the admin (\$SUDO_USER, \$USER or the uid's user)" \
    "$(jget "$dec" 'r[0]["reason"]')" "released by ${SUDO_USER:-${USER:-$(id -un)}}"

# --- a second held message is dropped and never arrives
out=$(smtp billing@bank.example eve@example.com --subject "Second bill for Eve")
qid2=$(jget "$out" 'r["data"]["text"].split()[-1]')
wait_held 1
t_check "the second bill is held" in_hold "$qid2"
drop=$(SUDO_USER=alice held drop "$qid2" --reason "duplicate of $qid1" 2>&1); rc=$?
t_eq "held drop: exit 0" "$rc" 0
t_match "held drop says what it did" "$drop" "^dropped $qid2 \(ref CG[0-9A-F]{16}, review-mail-to-bereaved\)"
t_check "it is gone from the queue" sh -c "! postqueue -c '$POSTFIX_CONF' -j | grep -q '\"$qid2\"'"
sleep 3
t_check "the dropped bill never arrived" \
    sh -c "! grep -rqs 'Subject: Second bill for Eve' '$E2E_DIR/sink'"
dec=$(cg_ctl --json decisions --queue-id "$qid2")
t_eq "decisions: dropped, by the admin, with the reason" \
    "$(jget "$dec" 'r[0]["verdict"]+"|"+r[0]["stage"]+"|"+r[0]["reason"]')" \
    "dropped|admin|dropped by alice: duplicate of $qid1"
t_eq "no contact for the dropped bill" \
    "$(jget "$(cg_ctl --json history eve@example.com)" 'sum(1 for e in r["events"] if e["kind"]=="contact")')" 1
t_eq "held list: nothing held any more" "$(held list)" "no messages held by contactgate"
t_eq "held list --json: empty array" "$(jget "$(held list --json)" 'len(r)')" 0

# --- bad input: exit 1, a clear message, nothing run
res=$(run_rc held release 'x;rm')
t_match "held release 'x;rm': exit 1, not a queue ID" "$res" '^1\|.*"x;rm" is not a queue ID'
res=$(run_rc held release 'ABCDEF12345')
t_match "held release of an unknown ID: exit 1, not in the hold queue" "$res" \
    '^1\|.*ABCDEF12345 is not in the hold queue'
res=$(run_rc held drop "$qid1")
t_match "held drop of an already released message: exit 1" "$res" "^1\|.*$qid1 is not in the hold queue"
res=$(run_rc held release)
t_match "held release without an ID: exit 1, usage" "$res" '^1\|.*usage: held release'
res=$(run_rc held release --all ABC)
t_match "held release with both --all and an ID: exit 1" "$res" '^1\|.*usage: held release'
res=$(run_rc cg_ctl held release X1 --postfix-config /nonexistent)
t_match "held with a missing Postfix directory: exit 1" "$res" \
    '^1\|.*Postfix configuration directory /nonexistent'
# a message held by someone else (postsuper -h) is not contactgate's: with
# the capture server stopped it waits in the deferred queue, where an admin
# puts it on hold; a bill to eve is held by contactgate meanwhile
kill -TERM "$E2E_SINK_PID" 2>/dev/null; wait "$E2E_SINK_PID" 2>/dev/null
out=$(smtp billing@bank.example ivan@example.com --subject "Hold me")
qid3=$(jget "$out" 'r["data"]["text"].split()[-1]')
for i in $(seq 1 50); do
    postsuper -c "$POSTFIX_CONF" -h "$qid3" >/dev/null 2>&1
    in_hold "$qid3" && break
    sleep 0.2
done
t_check "a message put on hold with postsuper -h" in_hold "$qid3"
res=$(run_rc held release "$qid3")
t_match "releasing it: exit 1, not held by contactgate" "$res" \
    "^1\|.*$qid3 is in the hold queue but was not held by contactgate"
t_match "held list notes the other held message" "$(held list)" \
    "1 other message in the hold queue was not held by contactgate"
out=$(smtp billing@bank.example eve@example.com --subject "Third bill for Eve")
qid4=$(jget "$out" 'r["data"]["text"].split()[-1]')
wait_held 2
t_check "the third bill to eve is held" in_hold "$qid4"
all=$(held release --all 2>&1); rc=$?
t_eq "held release --all: exit 0" "$rc" 0
t_match "held release --all releases contactgate's message" "$all" "^released $qid4 "
t_match "held release --all leaves the other one alone" "$all" \
    "1 other message in the hold queue left alone: not held by contactgate"
t_check "the other message is still on hold" in_hold "$qid3"
e2e_start_sink || t_fail "capture server restarts"
postsuper -c "$POSTFIX_CONF" -H "$qid3" >/dev/null 2>&1
postqueue -c "$POSTFIX_CONF" -f >/dev/null 2>&1
e2e_sink_wait 2 30
t_check "the third bill arrived after release --all" e2e_sink_grep "Subject: Third bill for Eve"
t_eq "eve has two contacts now (two releases)" \
    "$(jget "$(cg_ctl --json history eve@example.com)" 'sum(1 for e in r["events"] if e["kind"]=="contact")')" 2
# not root: release refuses clearly (when the build is reachable as nobody)
if runuser -u nobody -- test -x "$CG_CTL_BIN" 2>/dev/null; then
    res=$(run_rc runuser -u nobody -- "$CG_CTL_BIN" -c "$CG_CONFIG" held release --all \
          --postfix-config "$POSTFIX_CONF")
    t_match "held release as non-root: exit 1, needs root" "$res" '^1\|.*needs root'
else
    t_ok "held release as non-root (build not reachable by nobody; skipped)"
fi
t_match "held --help has the sections" "$(cg_ctl held --help)" '^NAME'
t_check "held --help has EXIT STATUS and EXAMPLES" \
    sh -c "'$CG_CTL_BIN' held --help | grep -q '^EXIT STATUS' && '$CG_CTL_BIN' held --help | grep -q '^EXAMPLES'"

# ============================================================ lifecycle =====
# A frequency policy with a 20 s window: the second message of a minute is
# deferred at RCPT (the envelope settles it) until 20 s after the first;
# the sender retries it after that. The retry is linked to its deferral by
# the envelope (its deferral episode), although at RCPT there is no
# Message-ID, and max_defer counts from the first deferral.
cg_stop
e2e_stop_postfix
CG_PORT=$(e2e_free_port)
CG_DB=$E2E_DIR/life/history.db
mkdir -p "$E2E_DIR/life"
chown "$CG_USER" "$E2E_DIR/life"
CG_CONFIG=$E2E_DIR/life.json
cat > "$CG_CONFIG" <<JSON
{
  "socket": "inet:$CG_PORT@127.0.0.1",
  "database": "$CG_DB",
  "plugin_dir": "$E2E_DIR/stage/plugins",
  "timezone": "UTC",
  "departments": [
    {"name": "news", "match": {"sender": ["news@corp.example"]},
     "default_category": "promotional.newsletter", "allowed_categories": ["promotional.*"]}
  ],
  "policies": [
    {"name": "news-1-per-20s", "plugin": "frequency",
     "applies_to": {"departments": ["news"]}, "action": "defer",
     "max_defer": "1h", "params": {"limit": 1, "window": "20s"}}
  ]
}
JSON
chmod 644 "$CG_CONFIG"
export CG_CONFIG CG_PORT CG_DB
cg_start || { t_fail "lifecycle contactgate starts"; t_done $NAME; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix restarts"; t_done $NAME; exit 1; }

# raw MESSAGE-ID SUBJECT [TO] - a message file with a fixed Message-ID
raw() {
    local f=$E2E_DIR/life/$1.eml
    printf 'From: <news@corp.example>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@corp.example>\r\n\r\nNews.\r\n' \
        "${3:-frank@example.com}" "$2" "$(date -R)" "$1" > "$f"
    echo "$f"
}
before=$(e2e_sink_count)
out=$(smtp news@corp.example frank@example.com --raw "$(raw life-a "News A")")
t_eq "first newsletter: accepted" "$(jget "$out" 'r["data"]["code"]')" 250
fb=$(raw life-b "News B")
out=$(smtp news@corp.example frank@example.com --raw "$fb")
t_eq "second newsletter within 20 s: 451 at RCPT" "$(jget "$out" 'r["rcpt"][0]["code"]')" 451
retry=$(jget "$out" 'r["rcpt"][0]["text"]' | sed -n 's/.*retry after \([0-9TZ:-]*\);.*/\1/p')
t_match "the 451 gives the retry-after time" "$retry" '^20[0-9-]{8}T[0-9:]{8}Z$'
js=$(cg_ctl --json decisions --lifecycle)
frank() { jget "$js" "[(d[\"outcome\"], d[\"attempts\"]) for d in r if d[\"recipient\"]==\"frank@example.com\"]"; }
t_eq "lifecycle right after the deferral: still deferred, 1 attempt" "$(frank)" \
    "[('still deferred', 1)]"
# a retry before its time: deferred again, the same message (2 attempts)
out=$(smtp news@corp.example frank@example.com --raw "$fb")
t_eq "an early retry: 451 again" "$(jget "$out" 'r["rcpt"][0]["code"]')" 451
js=$(cg_ctl --json decisions --lifecycle)
t_eq "lifecycle: the early retry is the same message, 2 attempts" "$(frank)" \
    "[('still deferred', 2)]"
# wait until the retry-after time has passed, then the sender retries
wait_s=$(( $(date -d "$retry" +%s) - $(date +%s) + 1 ))
[ "$wait_s" -gt 0 ] && [ "$wait_s" -lt 40 ] && sleep "$wait_s"
out=$(smtp news@corp.example frank@example.com --raw "$fb")
t_eq "the retry after the retry-after time: accepted" "$(jget "$out" 'r["data"]["code"]')" 250
e2e_sink_wait $((before + 2)) 15
t_check "the retried newsletter arrived" e2e_sink_grep "Subject: News B"
# another one to someone else, deferred now and never retried
cg_ctl record gina@example.com --department news --category promotional.newsletter >/dev/null 2>&1
out=$(smtp news@corp.example gina@example.com --raw "$(raw life-c "News C" gina@example.com)")
t_eq "a newsletter to gina right after her last: 451" "$(jget "$out" 'r["rcpt"][0]["code"]')" 451
# and an old deferral (a row of before version 3: no episode) whose
# retry-after passed two hours ago (as CG_USER, so that the database files
# stay the daemon's)
now=$(date +%s)
runuser -u "$CG_USER" -- sqlite3 "$CG_DB" "INSERT INTO decisions(ts, ref, stage, verdict, policy,
    reason, department, sender, recipient, customer, category, message_id, queue_id,
    retry_after) VALUES ($((now - 7300)), 'CG00000000000000A1', 'eom', 'defer', 'news-1-per-20s',
    'at most 1 contacts per 20 s', 'news', 'news@corp.example', 'grace@example.com',
    'grace@example.com', 'promotional.newsletter', '<life-old@corp.example>', 'OLD1',
    $((now - 7200)))" || t_fail "inject an old deferral"

js=$(cg_ctl --json decisions --lifecycle)
pick() { jget "$js" "[(d[\"attempts\"], d[\"outcome\"]) for d in r if d[\"recipient\"]==\"$1\"]"; }
t_eq "lifecycle: the retried message has 2 attempts and was delivered later" \
    "$(pick frank@example.com)" "[(2, 'delivered later')]"
t_eq "lifecycle: the message deferred just now is still deferred" "$(pick gina@example.com)" \
    "[(1, 'still deferred')]"
t_eq "lifecycle: the old deferral was never retried" "$(pick grace@example.com)" "[(1, 'never retried')]"
t_eq "lifecycle: the delivered message is known by its Message-ID (from its retry)" \
    "$(jget "$js" '[d["message_id"] for d in r if d["recipient"]=="frank@example.com"]')" \
    "['<life-b@corp.example>']"
t_eq "lifecycle: first deferral, retry-after and outcome time of the retried message" \
    "$(jget "$js" '[d["first_deferral"]<=d["last_attempt"] and d["outcome_time"]>=d["retry_after"] and d["outcome_by"]=="accept" and d["policy"]=="news-1-per-20s" for d in r if d["recipient"]=="frank@example.com"]')" \
    "[True]"
txt=$(cg_ctl decisions --lifecycle)
t_match "lifecycle (text): delivered later" "$txt" \
    ' 2 +20[0-9T:Z-]+ +delivered later +news +news-1-per-20s +frank@example.com +<life-b@corp.example>'
t_match "lifecycle (text): never retried" "$txt" 'never retried .*<life-old@corp.example>'
t_eq "lifecycle --customer filters" \
    "$(jget "$(cg_ctl --json decisions --lifecycle --customer grace@example.com)" '[d["message_id"] for d in r]')" \
    "['<life-old@corp.example>']"
t_eq "lifecycle --since filters by first deferral" \
    "$(jget "$(cg_ctl --json decisions --lifecycle --since -1h)" 'sorted(d["recipient"] for d in r)')" \
    "['frank@example.com', 'gina@example.com']"
# the decision log links the attempts: the same episode on every row
t_eq "decision log: frank's deferrals and the accept share one episode" \
    "$(sqlite3 "$CG_DB" "SELECT count(DISTINCT episode) || '/' || count(*) FROM decisions WHERE recipient = 'frank@example.com' AND episode IS NOT NULL")" \
    "1/3"
res=$(run_rc cg_ctl decisions --lifecycle --verdict hold)
t_match "lifecycle with --verdict hold: exit 1" "$res" '^1\|.*--verdict can only be defer'
t_match "decisions --help documents the outcomes" "$(cg_ctl decisions --help)" 'never retried +nothing, and that retry-after'

t_done $NAME
