#!/bin/bash
# test_ctl_report.sh - contactgatectl report (no MTA needed).
#
# A history database is created by contactgatectl and filled with known
# contacts and decisions (sqlite3); the report's text, JSON and HTML must
# show exactly the counts that were put in. The HTML is rendered in
# headless Chromium: a screenshot (kept, its path is printed) that is not
# blank and shows the chart colours, and the rendered DOM holds the SVG
# charts. Usage: test_ctl_report.sh [BUILD]
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

# A temp dir of our own (not e2e_setup: its teardown removes the directory,
# and the screenshot is kept for review). Everything else in it is removed.
DIR=$(mktemp -d /tmp/cg-e2e-ctl-report.XXXXXX) || { echo "mktemp failed"; exit 1; }
chmod 755 "$DIR"
cleanup() {
    if [ "$T_FAIL" = 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
        find "$DIR" -mindepth 1 -maxdepth 1 ! -name report.png ! -name report.html \
            -exec rm -rf {} +
    else
        echo "kept $DIR"
    fi
}
trap cleanup EXIT

CFG=$DIR/contactgate.json
DB=$DIR/history.db
cat > "$CFG" <<JSON
{
  "socket": "inet:10025@127.0.0.1",
  "database": "$DB",
  "plugin_dir": "$CG_BUILD/plugins",
  "include": ["$CG_SRC/policies/retail-bank.json"]
}
JSON
ctl() { "$CG_CTL_BIN" -c "$CFG" "$@"; }

# --- the database, as contactgatectl creates it
out=$(ctl history nobody@example.com 2>&1)
t_eq "contactgatectl creates the history database" "$?" 0
t_eq "at the current schema" "$(sqlite3 "$DB" 'PRAGMA user_version')" 4
out=$(ctl report 2>&1)
t_eq "report on an empty history: exit 0" "$?" 0
t_match "and says there is nothing" "$out" '^\(nothing in this range\)$'

# --- known history. The range is [2026-03-01, 2026-03-08); D1..D4 are
# 2026-03-02 .. 2026-03-05 at 10:00 UTC; BEFORE and AFTER lie outside.
D1=$(date -u -d 2026-03-02T10:00:00Z +%s)
D2=$((D1 + 86400)) D3=$((D1 + 2 * 86400)) D4=$((D1 + 3 * 86400))
BEFORE=$(date -u -d 2026-02-26T10:00:00Z +%s)
AFTER=$(date -u -d 2026-03-09T10:00:00Z +%s)
RECENT=$(($(date +%s) - 86400))
RANGE=(--since 2026-03-01 --until 2026-03-08)
EVIL='blocked: <b>&"x"'   # a reason with HTML metacharacters

sqlite3 "$DB" <<SQL
BEGIN;
-- the customer map: C-1001, C-1002 (contacted) and C-1008, C-1009 (never)
INSERT INTO customers(address, customer) VALUES
  ('a1@example.com','C-1001'), ('a1b@example.com','C-1001'), ('a2@example.com','C-1002'),
  ('a8@example.com','C-1008'), ('a9@example.com','C-1009');
-- contacts: billing 6, marketing 5, service 1 e-mail + 1 SMS, web&<shop> 1
INSERT INTO contacts(ts, customer, address, department, category, channel, message_id) VALUES
  ($D1,'C-1001','a1@example.com','billing','functional.bill','email','<b1@x>'),
  ($D1,'C-1002','a2@example.com','billing','functional.bill','email','<b2@x>'),
  ($D1,'c3@example.com','c3@example.com','billing','functional.bill','email','<b3@x>'),
  ($D2,'C-1001','a1@example.com','billing','functional.bill','email','<b4@x>'),
  ($D2,'c4@example.com','c4@example.com','billing','functional.bill','email','<b5@x>'),
  ($D3,'C-1002','a2@example.com','billing','functional.bill','email','<b6@x>'),
  ($D1,'C-1001','a1@example.com','marketing','promotional.offer','email','<p1@x>'),
  ($D1,'c5@example.com','c5@example.com','marketing','promotional.offer','email','<p2@x>'),
  ($D2,'c6@example.com','c6@example.com','marketing','promotional.offer','email','<p3@x>'),
  ($D4,'C-1001','a1@example.com','marketing','promotional.offer','email','<p4@x>'),
  ($D4,'C-1001','a1b@example.com','marketing','promotional.offer','email','<p5@x>'),
  ($D3,'c3@example.com','c3@example.com','service','functional.service','email','<s1@x>'),
  ($D2,'c7@example.com','c7@example.com','service','functional.service','sms',NULL),
  ($D3,'c5@example.com','c5@example.com','web&<shop>','functional.notice','email','<w1@x>'),
  ($BEFORE,'C-1001','a1@example.com','billing','functional.bill','email','<old@x>'),
  ($AFTER,'C-1002','a2@example.com','marketing','promotional.offer','email','<new@x>'),
  ($RECENT,'c9@example.com','c9@example.com','recent','functional.bill','email','<r@x>');
-- decisions (one row per recipient and decision)
INSERT INTO decisions(ts, ref, stage, verdict, policy, reason, department, recipient,
                      customer, category, message_id, monitor) VALUES
  -- marketing: 5 deferred messages in 7 attempts; the two RCPT-stage ones
  -- have no Message-ID and are two messages
  ($D1,'R01','eom','defer','promotions-3-per-week','4 promotional contacts in 7d (limit 3)','marketing','a@example.com','C-1','promotional.offer','<m1@x>',0),
  ($D1+60,'R02','eom','defer','promotions-3-per-week','4 promotional contacts in 7d (limit 3)','marketing','a@example.com','C-1','promotional.offer','<m1@x>',0),
  ($D2,'R03','eom','defer','promotions-3-per-week','4 promotional contacts in 7d (limit 3)','marketing','a@example.com','C-1','promotional.offer','<m1@x>',0),
  ($D1,'R04','eom','defer','promotions-3-per-week','4 promotional contacts in 7d (limit 3)','marketing','a2@example.com','C-2','promotional.offer','<m1@x>',0),
  ($D2,'R05','eom','defer','promotions-3-per-week','4 promotional contacts in 7d (limit 3)','marketing','b@example.com','C-3','promotional.offer','<m2@x>',0),
  ($D3,'R06','rcpt','defer','promotions-3-per-week','4 promotional contacts in 7d (limit 3)','marketing','c@example.com','C-4','promotional.*',NULL,0),
  ($D3,'R07','rcpt','defer','promotions-3-per-week','cap reached at RCPT','marketing','c@example.com','C-4','promotional.*',NULL,0),
  ($D1,'R08','rcpt','reject','no-promotions-during-complaint','$EVIL','marketing','d@example.com','C-5','promotional.offer',NULL,0),
  ($D4,'R09','rcpt','reject','no-promotions-during-complaint','customer state blocks promotional mail','marketing','e@example.com','C-6','promotional.offer',NULL,0),
  ($D1,'R10','eom','tag','trial-promotions-2-per-week','3 promotional contacts in 7d (limit 2)','marketing','f@example.com','C-7','promotional.offer','<t1@x>',1),
  ($D2,'R11','eom','tag','trial-promotions-2-per-week','3 promotional contacts in 7d (limit 2)','marketing','g@example.com','C-8','promotional.offer','<t2@x>',1),
  ($D4,'R12','eom','hold','all-mail-10-per-week','11 contacts in 7d (limit 10)','marketing','h@example.com','C-9','promotional.offer','<h1@x>',0),
  -- billing: 2 held, 1 tempfail, 1 accept with a note (not counted)
  ($D2,'R13','eom','hold','review-mail-to-bereaved','held for review','billing','i@example.com','C-10','functional.bill','<h2@x>',0),
  ($D3,'R14','eom','hold','review-mail-to-bereaved','held for review','billing','j@example.com','C-11','functional.bill','<h3@x>',0),
  ($D2,'R15','eom','tempfail',NULL,'could not be checked','billing','k@example.com','C-12','functional.bill','<e1@x>',0),
  ($D1,'R16','eom','accept',NULL,NULL,'billing','l@example.com','C-13','functional.bill','<n1@x>',0),
  -- service: one message deferred twice
  ($D2,'R17','eom','defer','all-mail-10-per-week','11 contacts in 7d (limit 10)','service','s@example.com','C-14','functional.service','<m3@x>',0),
  ($D3,'R18','eom','defer','all-mail-10-per-week','11 contacts in 7d (limit 10)','service','s@example.com','C-14','functional.service','<m3@x>',0),
  -- web&<shop>: 7 tags with 6 reasons (only 5 are shown)
  ($D3,'R19','eom','tag','dedupe-24h','same content r1','web&<shop>','m@example.com','C-15','functional.notice','<w2@x>',0),
  ($D3,'R20','eom','tag','dedupe-24h','same content r1','web&<shop>','m@example.com','C-15','functional.notice','<w3@x>',0),
  ($D3,'R21','eom','tag','dedupe-24h','same content r2','web&<shop>','m@example.com','C-15','functional.notice','<w4@x>',0),
  ($D3,'R22','eom','tag','dedupe-24h','same content r3','web&<shop>','m@example.com','C-15','functional.notice','<w5@x>',0),
  ($D3,'R23','eom','tag','dedupe-24h','same content r4','web&<shop>','m@example.com','C-15','functional.notice','<w6@x>',0),
  ($D3,'R24','eom','tag','dedupe-24h','same content r5','web&<shop>','m@example.com','C-15','functional.notice','<w7@x>',0),
  ($D3,'R25','eom','tag','dedupe-24h','same content r6','web&<shop>','m@example.com','C-15','functional.notice','<w8@x>',0),
  -- outside the range
  ($BEFORE,'R26','rcpt','reject','no-promotions-during-complaint','old','marketing','o@example.com','C-16','promotional.offer',NULL,0),
  ($AFTER,'R27','eom','hold','review-mail-to-bereaved','later','billing','p@example.com','C-17','functional.bill','<h4@x>',0),
  -- what an admin did with held mail (contactgatectl held): not verdicts,
  -- never a top reason
  ($D3,'R13','admin','released','review-mail-to-bereaved','released by alice','billing','i@example.com','C-10','functional.bill','<h2@x>',0),
  ($D4,'R14','admin','dropped','review-mail-to-bereaved','dropped by alice: duplicate','billing','j@example.com','C-11','functional.bill','<h3@x>',0);
COMMIT;
SQL
t_eq "test data inserted" "$?" 0

# --- text
out=$(ctl report "${RANGE[@]}" 2>&1)
t_eq "report (text): exit 0" "$?" 0
t_match "text: the range" "$out" '2026-03-01T00:00:00Z \.\. 2026-03-08T00:00:00Z \(7 days'
t_match "text: column headings" "$out" \
    '^DEPARTMENT +SENT +TAGGED +MONITORED +DEFERRED +ATTEMPTS +REJECTED +HELD +TEMPFAIL$'
#                   dept        sent tag mon def att rej held tf
t_match "text: billing"    "$out" '^billing +6 +0 +0 +0 +0 +0 +2 +1$'
t_match "text: held mail reviewed by an admin" "$out" '^Held mail reviewed in this range: 1 released, 1 dropped$'
t_check "text: an admin's release is not a top reason" sh -c "! printf '%s' \"\$1\" | grep -q 'released by alice'" _ "$out"
t_match "text: marketing (5 deferred messages in 7 attempts)" \
                           "$out" '^marketing +5 +2 +2 +5 +7 +2 +1 +0$'
t_match "text: service (SMS is not sent mail)" \
                           "$out" '^service +1 +0 +0 +1 +2 +0 +0 +0$'
t_match "text: web&<shop>" "$out" '^web&<shop> +1 +7 +0 +0 +0 +0 +0 +0$'
t_match "text: total"      "$out" '^TOTAL +13 +9 +2 +6 +9 +2 +3 +1$'
t_check "text: nothing from outside the range" sh -c "! printf '%s' \"\$1\" | grep -q '^recent'" _ "$out"
#                   policy                                   tag mon def att rej held tf
t_match "text: policy promotions-3-per-week" "$out" '^promotions-3-per-week +0 +0 +5 +7 +0 +0 +0$'
t_match "text: policy all-mail-10-per-week"  "$out" '^all-mail-10-per-week +0 +0 +1 +2 +0 +1 +0$'
t_match "text: policy no-promotions-during-complaint" \
                                             "$out" '^no-promotions-during-complaint +0 +0 +0 +0 +2 +0 +0$'
t_match "text: policy review-mail-to-bereaved" "$out" '^review-mail-to-bereaved +0 +0 +0 +0 +0 +2 +0$'
t_match "text: policy trial (monitor)"       "$out" '^trial-promotions-2-per-week +2 +2 +0 +0 +0 +0 +0$'
t_match "text: policy dedupe-24h"            "$out" '^dedupe-24h +7 +0 +0 +0 +0 +0 +0$'
t_match "text: tempfail without a policy"    "$out" '^\(none\) +0 +0 +0 +0 +0 +0 +1$'
t_match "text: top reason with its count"    "$out" '^ +6  4 promotional contacts in 7d \(limit 3\)$'
t_match "text: the raw reason, unescaped"    "$out" '^ +1  blocked: <b>&"x"$'
t_eq "text: at most 5 reasons per policy" \
    "$(printf '%s\n' "$out" | grep -c '  same content r')" 5
t_check "text: the 6th reason is left out" sh -c "! printf '%s' \"\$1\" | grep -q 'same content r6'" _ "$out"
t_match "text: histogram, 0 contacts (customer map)" "$out" '^ +0 +2$'
t_match "text: histogram, 1 contact"  "$out" '^ +1 +3$'
t_match "text: histogram, 2 contacts" "$out" '^ +2 +3$'
t_match "text: histogram, 5 contacts" "$out" '^ +5 +1$'

# --- JSON (both spellings)
json=$(ctl report "${RANGE[@]}" --format json 2>&1)
t_eq "report --format json: exit 0" "$?" 0
chk=$($PY - "$json" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
bad = []
def want(what, got, exp):
    if got != exp:
        bad.append("%s: got %r, want %r" % (what, got, exp))
want("keys", list(r), ["range", "departments", "totals", "held_reviewed", "policies",
                       "contacts_per_customer", "per_day"])
want("held_reviewed", r["held_reviewed"], {"released": 1, "dropped": 1})
want("range", (r["range"]["since"], r["range"]["until"], r["range"]["department"]),
     ("2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z", None))
cols = ["sent", "tagged", "monitored", "deferred", "deferred_attempts", "rejected", "held",
        "tempfail"]
deps = {d["department"]: [d[c] for c in cols] for d in r["departments"]}
want("departments", deps, {
    "billing": [6, 0, 0, 0, 0, 0, 2, 1],
    "marketing": [5, 2, 2, 5, 7, 2, 1, 0],
    "service": [1, 0, 0, 1, 2, 0, 0, 0],
    "web&<shop>": [1, 7, 0, 0, 0, 0, 0, 0]})
want("totals", [r["totals"][c] for c in cols], [13, 9, 2, 6, 9, 2, 3, 1])
pols = {p["policy"]: [p[c] for c in cols[1:]] for p in r["policies"]}
want("policies", pols, {
    None: [0, 0, 0, 0, 0, 0, 1],
    "all-mail-10-per-week": [0, 0, 1, 2, 0, 1, 0],
    "dedupe-24h": [7, 0, 0, 0, 0, 0, 0],
    "no-promotions-during-complaint": [0, 0, 0, 0, 2, 0, 0],
    "promotions-3-per-week": [0, 0, 5, 7, 0, 0, 0],
    "review-mail-to-bereaved": [0, 0, 0, 0, 0, 2, 0],
    "trial-promotions-2-per-week": [2, 2, 0, 0, 0, 0, 0]})
top = {p["policy"]: [(t["reason"], t["count"]) for t in p["top_reasons"]] for p in r["policies"]}
want("top reasons promotions", top["promotions-3-per-week"],
     [("4 promotional contacts in 7d (limit 3)", 6), ("cap reached at RCPT", 1)])
want("top reasons complaint (ties by reason)", top["no-promotions-during-complaint"],
     [('blocked: <b>&"x"', 1), ("customer state blocks promotional mail", 1)])
want("top 5 of dedupe", top["dedupe-24h"],
     [("same content r1", 2), ("same content r2", 1), ("same content r3", 1),
      ("same content r4", 1), ("same content r5", 1)])
want("contacts_per_customer",
     [(h["contacts"], h["customers"]) for h in r["contacts_per_customer"]],
     [(0, 2), (1, 3), (2, 3), (5, 1)])
day = {(d["day"], d["department"]): [d[c] for c in cols] for d in r["per_day"]}
want("per_day marketing 03-02", day.get(("2026-03-02", "marketing")), [2, 1, 1, 2, 3, 1, 0, 0])
want("per_day marketing 03-03", day.get(("2026-03-03", "marketing")), [1, 1, 1, 2, 2, 0, 0, 0])
want("per_day billing 03-03", day.get(("2026-03-03", "billing")), [2, 0, 0, 0, 0, 0, 1, 1])
want("per_day days", sorted({d for d, _ in day}),
     ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"])
print("\n".join(bad) if bad else "ok")
EOF
)
t_eq "JSON parses and every count matches" "$chk" ok
json2=$(ctl --json report "${RANGE[@]}" 2>&1)
t_eq "--json is --format json (but for the generation time)" \
    "$(printf '%s' "$json2" | grep -v '"generated"')" "$(printf '%s' "$json" | grep -v '"generated"')"

# --- --department filters everything
out=$(ctl report "${RANGE[@]}" --department billing --format json 2>&1)
chk=$($PY - "$out" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
bad = []
if r["range"]["department"] != "billing": bad.append("range.department")
if [d["department"] for d in r["departments"]] != ["billing"]: bad.append("departments")
p = {x["policy"]: (x["held"], x["tempfail"]) for x in r["policies"]}
if p != {None: (0, 1), "review-mail-to-bereaved": (2, 0)}: bad.append("policies %r" % p)
h = [(x["contacts"], x["customers"]) for x in r["contacts_per_customer"]]
if h != [(0, 2), (1, 2), (2, 2)]: bad.append("histogram %r" % h)
if {d["department"] for d in r["per_day"]} != {"billing"}: bad.append("per_day")
print("\n".join(bad) if bad else "ok")
EOF
)
t_eq "--department billing: only billing (tables, histogram, days)" "$chk" ok
out=$(ctl report "${RANGE[@]}" --department 'web&<shop>' 2>&1)
t_match "--department with metacharacters (text)" "$out" '^web&<shop> +1 +7 '
t_check "and no other department" sh -c "! printf '%s' \"\$1\" | grep -qE '^(billing|marketing) '" _ "$out"

# --- the default range is the last 30 days
out=$(ctl report 2>&1)
t_match "default range: the last 30 days" "$out" '\(30 days, end exclusive\)'
t_match "default range: today's mail is in" "$out" '^recent +1 '
t_check "default range: March is not" sh -c "! printf '%s' \"\$1\" | grep -q '^billing'" _ "$out"

# --- no customer data in any format
ctl report "${RANGE[@]}" --format html --output "$DIR/report.html"
t_eq "report --format html --output FILE: exit 0" "$?" 0
all="$(ctl report "${RANGE[@]}")$json$(cat "$DIR/report.html")"
t_check "no address or customer id in any report" \
    sh -c "! printf '%s' \"\$1\" | grep -qE 'example\.com|C-10'" _ "$all"

# --- bad arguments: exit 1, naming the argument
err=$(ctl report --since garbage 2>&1); rc=$?
t_eq "--since garbage: exit 1" "$rc" 1
t_match "and names it" "$err" 'report: --since "garbage" is not a time'
err=$(ctl report --until 2026-02-30x 2>&1); rc=$?
t_eq "--until junk: exit 1" "$rc" 1
t_match "and names it" "$err" '--until "2026-02-30x"'
err=$(ctl report --format pdf 2>&1); rc=$?
t_eq "--format pdf: exit 1" "$rc" 1
t_match "and names it" "$err" '--format "pdf" is not one of text, json, html'
err=$(ctl report --colour red 2>&1); rc=$?
t_eq "unknown option: exit 1" "$rc" 1
t_match "and names it" "$err" 'unknown option "--colour"'
err=$(ctl report --since 2026-03-08 --until 2026-03-01 2>&1); rc=$?
t_eq "--since after --until: exit 1" "$rc" 1
t_match "and says so" "$err" '--since \(2026-03-08\) must be before --until \(2026-03-01\)'
err=$(ctl report --department 2>&1); rc=$?
t_eq "an option without its value: exit 1" "$rc" 1
t_match "and names it" "$err" '"--department" needs a value'
err=$(ctl --json report --format html 2>&1); rc=$?
t_eq "--json with --format html: exit 1" "$rc" 1
err=$(ctl report --output "$DIR/no/such/dir/r.html" 2>&1); rc=$?
t_eq "--output in a missing directory: exit 1" "$rc" 1
t_match "and names it" "$err" '--output ".*/no/such/dir/r.html"'
out=$(ctl report --help 2>&1); rc=$?
t_eq "report --help: exit 0" "$rc" 0
t_match "and shows the synopsis" "$out" 'contactgatectl report \[--since TIME\]'
t_match "contactgatectl --help lists report" "$("$CG_CTL_BIN" --help 2>&1)" '^  report '

# --- a database that cannot be opened: exit 2
sed "s|\"$DB\"|\"$DIR/missing/dir/history.db\"|" "$CFG" > "$DIR/bad1.json"
err=$("$CG_CTL_BIN" -c "$DIR/bad1.json" report 2>&1); rc=$?
t_eq "database in a missing directory: exit 2" "$rc" 2
t_match "and names the database" "$err" 'missing/dir/history.db'
printf 'this is not a database, it is plain text and long enough to be read\n%.0s' 1 2 3 4 5 6 7 8 \
    > "$DIR/garbage.db"
sed "s|\"$DB\"|\"$DIR/garbage.db\"|" "$CFG" > "$DIR/bad2.json"
err=$("$CG_CTL_BIN" -c "$DIR/bad2.json" report --output "$DIR/never.html" --format html 2>&1); rc=$?
t_eq "a file that is not a database: exit 2" "$rc" 2
t_match "and says why" "$err" 'not a database'
t_check "no empty report is left behind" test ! -e "$DIR/never.html"

# --- HTML: self-contained, escaped
html=$(cat "$DIR/report.html")
t_check "HTML: no http:// https:// src= href= url( @import <script <link" \
    sh -c "! grep -qiE 'http://|https://|src=|href=|url\(|@import|<script|<link' \"\$1\"" _ "$DIR/report.html"
t_match "HTML: the reason is escaped" "$html" 'blocked: &lt;b&gt;&amp;&quot;x&quot;'
t_check "HTML: the raw reason never appears" sh -c "! grep -qF '<b>&\"x\"' \"\$1\"" _ "$DIR/report.html"
t_match "HTML: the department is escaped" "$html" '<td>web&amp;&lt;shop&gt;</td>'
t_match "HTML: the title has the range" "$html" '<h1>Contact strategy report: 2026-03-01T00:00:00Z to 2026-03-08T00:00:00Z</h1>'
t_match "HTML: and the generation time" "$html" 'Generated [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z'
t_match "HTML: inline CSS" "$html" '<style>body\{'
t_eq "HTML: one chart per department" "$(grep -c 'class="chart dept-day"' "$DIR/report.html")" 4
t_eq "HTML: histogram bars for 0..5 contacts" \
    "$(grep -c '<rect class="bar"' "$DIR/report.html")" 6

# --- rendered by Chromium
if [ -x "$CHROMIUM" ]; then
    mkdir -p "$DIR/home"
    rm -f "$DIR/report.png"
    HOME=$DIR/home timeout 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
        --screenshot="$DIR/report.png" --window-size=1200,1600 "file://$DIR/report.html" \
        > "$DIR/chromium.log" 2>&1
    t_eq "chromium --screenshot: exit 0" "$?" 0
    size=$(stat -c %s "$DIR/report.png" 2>/dev/null || echo 0)
    t_check "the screenshot exists and is over 10 kB ($size bytes)" test "$size" -gt 10240
    # decode the PNG with zlib alone: not one colour, and the chart colours
    # (histogram bars; accepted, deferred, rejected, held bars) cover more
    # than the legend's 14x14 squares would
    chk=$($PY - "$DIR/report.png" <<'EOF'
import collections, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("not a PNG")
pos, idat = 8, []
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat.append(body)
if depth != 8 or interlace or ctype not in (2, 6):
    sys.exit("unexpected PNG format depth=%d type=%d interlace=%d" % (depth, ctype, interlace))
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(b"".join(idat))
stride = w * bpp
prev = bytearray(stride)
colours = collections.Counter()
i = 0
for y in range(h):
    f = raw[i]
    line = bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    if f == 1:
        for x in range(bpp, stride):
            line[x] = (line[x] + line[x - bpp]) & 255
    elif f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f == 3:
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
    elif f == 4:
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[x] = (line[x] + pr) & 255
    colours.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp))
    prev = line
want = {"histogram bar": "2f6f9f", "accepted": "3a8f5c", "deferred": "e8a317",
        "rejected": "c9372c", "held": "7c5cc4"}
def pixels(hexc):
    t = bytes.fromhex(hexc)
    return sum(n for c, n in colours.items() if all(abs(a - b) <= 3 for a, b in zip(c, t)))
missing = ["%s (%d px)" % (k, pixels(v)) for k, v in want.items() if pixels(v) < 500]
if len(colours) < 2:
    print("all one colour")
elif missing:
    print("%dx%d, %d colours, missing: %s" % (w, h, len(colours), ", ".join(missing)))
else:
    print("ok")
EOF
    )
    t_eq "the screenshot is not one colour and shows the charts" "$chk" ok
    dom=$(HOME=$DIR/home timeout 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
        --dump-dom "file://$DIR/report.html" 2>>"$DIR/chromium.log")
    t_eq "chromium --dump-dom: exit 0" "$?" 0
    t_match "rendered DOM: the contacts-per-customer chart" "$dom" '<svg id="chart-contacts-per-customer"'
    t_eq "rendered DOM: one verdict chart per department" \
        "$(printf '%s' "$dom" | grep -o 'class="chart dept-day"' | wc -l)" 4
    t_check "rendered DOM: stacked bars with a legend" \
        sh -c "printf '%s' \"\$1\" | grep -q '<rect class=\"seg deferred\"' &&
               printf '%s' \"\$1\" | grep -q '<svg id=\"chart-legend\"'" _ "$dom"
    t_match "rendered DOM: the reason is text, not markup" "$dom" 'blocked: &lt;b&gt;&amp;"x"'
    echo "screenshot: $DIR/report.png"
else
    t_fail "chromium is installed at $CHROMIUM"
fi

t_done ctl_report
