#!/bin/bash
# test_ctl_data.sh - contactgatectl's data commands on a real SQLite store,
# without Postfix: customers import|list|count, optout add|remove|import|
# list, record, prune, forget. Good and bad input for each: bad input exits
# 1 naming the argument, line or field, and writes nothing; a store that
# cannot be opened exits 2.
#
#   bash tests/e2e/test_ctl_data.sh [BUILD]     (CG_BIG=1: also time a
#                                                1,000,000-line import)
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3
FIX=$CG_SRC/tests/fixtures/ctl

e2e_setup ctldata
cg_config "$E2E_DIR/contactgate.json"
D=$E2E_DIR/data
mkdir -p "$D"
chmod 755 "$D"

# ctl ARGS... -> stdout in $out, stderr in $err, exit status in $rc
ctl() {
    out=$(cg_ctl "$@" 2>"$E2E_DIR/stderr"); rc=$?
    err=$(cat "$E2E_DIR/stderr")
}
# sql QUERY - on the store, as the database's owner (as contactgatectl does)
sql() { runuser -u "$CG_USER" -- sqlite3 "$CG_DB" "$@"; }
# jget JSON PYEXPR - r is the parsed document
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print(($2))" "$1" 2>/dev/null; }
naddr() { sql 'SELECT count(*) FROM customers'; }

# --- help: a man-page-like text for every command
for c in customers optout record prune forget; do
    ctl "$c" --help
    t_eq "$c --help exits 0" "$rc" 0
    miss=""
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
        printf '%s\n' "$out" | grep -q "^$s\$" || miss="$miss $s"
    done
    t_eq "$c --help has NAME/SYNOPSIS/DESCRIPTION/OPTIONS/EXIT STATUS/EXAMPLES" "$miss" ""
done

# --- a store that cannot be opened: exit 2
sed "s|\"database\": \"[^\"]*\"|\"database\": \"$E2E_DIR/no/such/dir/history.db\"|" \
    "$CG_CONFIG" > "$E2E_DIR/missing-db.json"
out=$("$CG_CTL_BIN" -c "$E2E_DIR/missing-db.json" customers count 2>&1); rc=$?
t_eq "missing database directory: exit 2" "$rc" 2
t_match "and the message names the database" "$out" "no/such/dir/history.db"
out=$("$CG_CTL_BIN" -c "$E2E_DIR/missing-db.json" customers import "$FIX/customers.csv" 2>&1); rc=$?
t_eq "import into a missing database directory: exit 2" "$rc" 2

# --- customers import: CSV
ctl customers import "$FIX/customers.csv"
t_eq "CSV import exits 0" "$rc" 0
t_eq "CSV import counts (ann+news is ann: an update)" "$out" "added 3, updated 1"
ctl --json customers list ann@example.com
t_eq "the address was normalised (case, +tag) and maps to C1001" \
    "$(jget "$out" 'len(r), r[0]["address"], r[0]["customer"], r[0]["timezone"]')" \
    "(1, 'ann@example.com', 'C1001', 'Europe/Berlin')"
t_eq "attribute columns are a JSON object; quoted commas kept" \
    "$(jget "$out" 'r[0]["attrs"]')" "{'segment': 'gold', 'branch': 'Berlin, Mitte'}"
ctl --json customers list C1002
t_eq "quoted \"\" is a quote; empty cells are no attribute; empty timezone is null" \
    "$(jget "$out" 'r[0]["attrs"], r[0]["timezone"]')" "({'segment': 'say \"hi\"'}, None)"
ctl customers import "$FIX/customers.csv" --json
t_eq "re-import: everything updated (JSON)" "$(jget "$out" 'r["added"], r["updated"]')" "(0, 4)"
ctl customers count
t_eq "customers count" "$out" "3 addresses, 3 customers"
ctl --json customers count
t_eq "customers count --json" "$(jget "$out" 'r["addresses"], r["customers"]')" "(3, 3)"
ctl customers list
t_match "customers list (text) shows the mapping" "$out" '^carol@example.com +C1003 +America/New_York'
ctl customers list --json
t_eq "customers list --json parses (every mapping)" "$(jget "$out" 'len(r)')" 3
ctl customers list nobody@example.com
t_match "an unmapped address lists nothing" "$out" "^no addresses mapped to nobody@example.com"

# --- customers import: JSON
ctl customers import "$FIX/customers.json"
t_eq "JSON import" "$rc/$out" "0/added 2, updated 1"
ctl --json customers list C1004
t_eq "JSON attrs kept with their types" "$(jget "$out" 'r[0]["attrs"]["since"]')" 2019

# --- a bad line anywhere aborts the whole import; nothing is written
before=$(naddr)
{ echo "address,customer,timezone,segment"
  for i in $(seq 1 999); do
      if [ "$i" = 500 ]; then echo "broken-address.example.com,C$i,UTC,x"; else echo "u$i@example.org,C$i,UTC,x"; fi
  done; } > "$D/mid.csv"
ctl customers import "$D/mid.csv"
t_eq "malformed address on line 501: exit 1" "$rc" 1
t_match "the error names file, line and field" "$err" \
    "^contactgatectl: customers import: $D/mid.csv:501: address: \"broken-address.example.com\" is not an address"
t_match "and says nothing was imported" "$err" "nothing was imported"
t_eq "nothing was written (count before = after)" "$(naddr)" "$before"
t_eq "not even the 499 good lines before it" "$(sql "SELECT count(*) FROM customers WHERE address LIKE 'u%@example.org'")" 0

bad_csv() { # DESC CONTENT ERE
    printf '%b' "$2" > "$D/bad.csv"
    ctl customers import "$D/bad.csv"
    t_eq "$1: exit 1" "$rc" 1
    t_match "$1: message" "$err" "$3"
    t_eq "$1: nothing written" "$(naddr)" "$before"
}
bad_csv "unknown time zone" 'address,customer,timezone\nx@example.org,C9,UTC\ny@example.org,C9,Mars/Olympus\n' \
    'bad.csv:3: timezone: "Mars/Olympus" is not a time zone'
bad_csv "empty customer" 'address,customer,timezone\nx@example.org,,UTC\n' \
    'bad.csv:2: customer: the customer id is empty'
bad_csv "wrong column count" 'address,customer,timezone,segment\nx@example.org,C9,UTC,a\ny@example.org,C9,UTC\n' \
    'bad.csv:3: columns: 3 fields, the header has 4'
bad_csv "bad header" 'email,customer,timezone\nx@example.org,C9,UTC\n' \
    'bad.csv:1: header: column 1 must be "address"'
bad_csv "unterminated quote" 'address,customer,timezone\nx@example.org,"C9,UTC\n' \
    'bad.csv:2: csv: a quoted field is not closed'
bad_csv "invalid UTF-8" 'address,customer,timezone\nx@example.org,C\xff9,UTC\n' \
    'bad.csv:2: csv: not valid UTF-8'
bad_csv "empty file" '' 'bad.csv:1: header: missing'

ctl customers import "$FIX/customers-badtype.json"
t_eq "JSON with a bad type: exit 1" "$rc" 1
t_match "the error names the array index and field" "$err" \
    "customers-badtype.json: \[2\]\.timezone: is a number, not a string"
t_eq "JSON: nothing written (frank and gina of [0], [1] neither)" "$(naddr)" "$before"
printf '[{"address": "x@example.org", "customer": "C9", "tz": "UTC"}]' > "$D/bad.json"
ctl customers import "$D/bad.json"
t_match "JSON unknown key names index and key" "$err" 'bad.json: \[0\]\.tz: unknown key'
printf '[{"address": "x@example.org"}]' > "$D/bad.json"
ctl customers import "$D/bad.json"
t_match "JSON missing customer" "$err" 'bad.json: \[0\]\.customer: is missing'
printf '[{"address": "x@example.org", "customer": "C9", "timezone": "Nowhere/City"}]' > "$D/bad.json"
ctl customers import "$D/bad.json"
t_match "JSON unknown time zone" "$err" 'bad.json: \[0\]\.timezone: "Nowhere/City" is not a time zone'
printf '{"address": "x@example.org"}' > "$D/bad.json"
ctl customers import "$D/bad.json"
t_match "JSON top level not an array" "$err" 'bad.json: json: the top level is an object'
printf '[{"address": "x@example.org",\n' > "$D/bad.json"
ctl customers import "$D/bad.json"
t_match "JSON syntax error names the line" "$err" 'bad.json:[0-9]+: json: '
t_eq "JSON errors: nothing written" "$(naddr)" "$before"

# --- bad CLI arguments: exit 1, naming the argument
cp "$FIX/customers.csv" "$D/customers.txt"
ctl customers import "$D/customers.txt"
t_eq "unknown extension without --format: exit 1" "$rc" 1
t_match "and asks for --format" "$err" 'give --format csv or --format json'
ctl customers import "$D/customers.txt" --format csv
t_eq "--format csv reads it" "$rc/$out" "0/added 0, updated 4"
ctl customers import "$D/customers.txt" --format xml
t_match "--format xml is refused naming it" "$rc/$err" '^1/.*--format "xml" is not csv or json'
ctl customers import "$D/none.csv"
t_match "a missing file: exit 1 naming it" "$rc/$err" "^1/.*none.csv: No such file"
ctl customers import "$FIX/customers.csv" --bogus
t_match "unknown option: exit 1 naming it" "$rc/$err" '^1/.*unknown option "--bogus"'
ctl customers frobnicate
t_match "unknown subcommand: exit 1 naming it" "$rc/$err" '^1/.*unknown subcommand "frobnicate"'

# --- optout
ctl optout add ann@example.com --category 'promotional.*' --until +30d --note "by phone"
t_match "optout add with a category" "$rc/$out" '^0/C1001 opted out of promotional\.\* until 20'
ctl optout add C1005
t_match "optout add without --category: global suppression" "$rc/$out" '^0/C1005 opted out of everything'
ctl optout list --json
t_check "optout list --json parses (json.load)" \
    $PY -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r)==2, r' <(printf '%s' "$out")
t_eq "optout list --json content" \
    "$(jget "$out" '[(o["customer"], o["category"], o["open"], o["note"]) for o in r]')" \
    "[('C1001', 'promotional.*', True, 'by phone'), ('C1005', '*', True, None)]"
ctl optout list C1001
t_match "optout list CUSTOMER (text)" "$out" '^C1001 +promotional\.\* '
ctl optout add C1005 --category 'Promo!'
t_match "bad --category: exit 1 naming it" "$rc/$err" '^1/.*--category "Promo!" is not a category pattern'
ctl optout add C1005 --until soon
t_match "bad --until: exit 1 naming it" "$rc/$err" '^1/.*--until "soon" is not a time'
ctl optout add C1005 --until -1d
t_match "--until in the past: exit 1" "$rc/$err" '^1/.*--until "-1d" is not in the future'
ctl optout add 'bad address@example.com'
t_match "malformed address: exit 1" "$rc/$err" '^1/.*"bad address@example.com"'
ctl optout remove C1005
t_eq "optout remove" "$rc/$out" "0/opt-out * removed for C1005"
ctl optout remove C1005
t_match "removing one that is not there: exit 1" "$rc/$err" '^1/.*C1005 has no opt-out for \*'
ctl optout import "$FIX/optouts.csv"
t_eq "optout import (header skipped)" "$rc/$out" "0/imported 2 opt-outs"
ctl --json optout list C1002
t_eq "imported opt-out: address mapped to its customer, quoted note" \
    "$(jget "$out" 'r[0]["category"], r[0]["note"]')" "('promotional.*', 'asked by phone, ticket 17')"
ctl --json optout list C1003
t_eq "imported global suppression with its end" "$(jget "$out" 'r[0]["category"], r[0]["until"]')" \
    "('*', '2035-01-01T00:00:00Z')"
nopt=$(sql 'SELECT count(*) FROM optouts')
printf 'C2001,promotional.*\nC2002,Promo\nC2003\n' > "$D/opt-bad.csv"
ctl optout import "$D/opt-bad.csv"
t_match "optout import bad category: line and field" "$rc/$err" '^1/.*opt-bad.csv:2: category: "Promo"'
printf 'C2001,promotional.*\nC2002,*,,,extra\n' > "$D/opt-bad.csv"
ctl optout import "$D/opt-bad.csv"
t_match "optout import too many columns" "$rc/$err" '^1/.*opt-bad.csv:2: columns: 5 fields'
printf 'C2001,promotional.*\nC2002,*,next week\n' > "$D/opt-bad.csv"
ctl optout import "$D/opt-bad.csv"
t_match "optout import bad until" "$rc/$err" '^1/.*opt-bad.csv:2: until: "next week"'
printf 'C2001\nx y@example.com\n' > "$D/opt-bad.csv"
ctl optout import "$D/opt-bad.csv"
t_match "optout import malformed address" "$rc/$err" '^1/.*opt-bad.csv:2: customer_or_address: "x y@example.com"'
t_eq "optout import errors: nothing written" "$(sql 'SELECT count(*) FROM optouts')" "$nopt"
ctl optout frob
t_eq "optout unknown subcommand: exit 1" "$rc" 1

# --- record: another channel's contact counts in the history
ctl record ann@example.com --department collections --category functional.debt.reminder --channel sms
t_match "record an SMS" "$rc/$out" '^0/recorded sms functional.debt.reminder contact for C1001 from collections'
ctl --json history C1001
t_eq "history shows the SMS contact" \
    "$(jget "$out" '[(e["channel"], e["department"], e["category"], e["address"]) for e in r["events"] if e["kind"]=="contact"]')" \
    "[('sms', 'collections', 'functional.debt.reminder', 'ann@example.com')]"
ctl history ann@example.com
t_match "history (text) shows it too" "$out" 'contact +collections +functional\.debt\.reminder +sms'
ctl --json record C1002 --department marketing --category promotional.offer --channel call --time -2h --weight 0.5
t_eq "record --json with --time and --weight" "$(jget "$out" 'r["channel"], r["weight"], r["address"]')" \
    "('call', 0.5, None)"
ctl record C1002 --department nosuch --category promotional.offer
t_match "unknown --department: exit 1 naming it" "$rc/$err" '^1/.*--department "nosuch" is not a department'
ctl record C1002 --department marketing --category Promotional
t_match "bad --category: exit 1 naming it" "$rc/$err" '^1/.*--category "Promotional" is not a category'
ctl record C1002 --department marketing --category promotional.* 
t_match "a pattern is not a category" "$rc/$err" '^1/.*--category "promotional\.\*"'
ctl record C1002 --department marketing --category promotional.offer --channel 'S M S'
t_match "bad --channel: exit 1 naming it" "$rc/$err" '^1/.*--channel "S M S"'
ctl record C1002 --department marketing --category promotional.offer --weight abc
t_match "bad --weight: exit 1 naming it" "$rc/$err" '^1/.*--weight "abc"'
ctl record C1002 --department marketing --category promotional.offer --time +3d
t_match "--time in the future: exit 1" "$rc/$err" '^1/.*--time "\+3d" is in the future'
ctl record C1002 --category promotional.offer
t_match "missing --department: exit 1 naming it" "$rc/$err" '^1/.*--department is missing'

# --- prune: exactly the rows older than the period go
for i in 1 2 3 4 5; do
    cg_ctl record "old$i@example.org" --department billing --category functional.bill --time -$((400 + i))d >/dev/null
done
cg_ctl record "new@example.org" --department billing --category functional.bill --time -399d >/dev/null
now=$(date +%s)
sql "INSERT INTO decisions(ts, ref, stage, verdict, recipient, customer)
     VALUES ($now - 500*86400, 'OLD1', 'rcpt', 'defer', 'old1@example.org', 'old1@example.org'),
            ($now - 401*86400, 'OLD2', 'eom', 'reject', 'old2@example.org', 'old2@example.org'),
            ($now - 10*86400, 'NEW1', 'eom', 'defer', 'new@example.org', 'new@example.org')"
c_all=$(sql 'SELECT count(*) FROM contacts'); d_all=$(sql 'SELECT count(*) FROM decisions')
ctl prune --older-than 400d --dry-run
t_match "prune --dry-run counts" "$rc/$out" '^0/would delete 5 contacts and 2 decisions older than'
t_eq "dry run deletes nothing" "$(sql 'SELECT count(*) FROM contacts')" "$c_all"
ctl --json prune --older-than 400d --batch 2
t_eq "prune in batches of 2 deletes exactly the old rows" \
    "$(jget "$out" 'r["contacts"], r["decisions"], r["dry_run"]')" "(5, 2, False)"
t_eq "contacts left: all but the 5 old ones" "$(sql 'SELECT count(*) FROM contacts')" "$((c_all - 5))"
t_eq "decisions left: all but the 2 old ones" "$(sql 'SELECT count(*) FROM decisions')" "$((d_all - 2))"
t_eq "no contact older than 400 days is left, the 399-day one is" \
    "$(sql "SELECT sum(ts < $now - 400*86400), sum(address = 'new@example.org') FROM contacts")" "0|1"
t_eq "the recent decision is kept" "$(sql "SELECT ref FROM decisions WHERE ref LIKE 'NEW%'")" NEW1
ctl prune --older-than 400d
t_match "prune again: nothing more" "$out" '^deleted 0 contacts and 0 decisions'
ctl prune --older-than 7x
t_match "bad --older-than: exit 1 naming it" "$rc/$err" '^1/.*--older-than "7x" is not a duration'
ctl prune
t_match "missing --older-than: exit 1" "$rc/$err" '^1/.*--older-than is missing'

# --- forget: every trace of the customer, in every file
cg_ctl state set ann@example.com complaint --note "complaint #4711" >/dev/null
# ann+promo is ann (strip_plus): the contact names the normalised address
cg_ctl record ann+promo@example.com --department marketing --category promotional.offer >/dev/null
# a second address of the same customer: forgetting one address forgets both
printf 'address,customer,timezone\nann.work@corp.example,C1001,UTC\n' > "$D/ann2.csv"
cg_ctl customers import "$D/ann2.csv" >/dev/null
cg_ctl record ann.work@corp.example --department billing --category functional.bill >/dev/null
sql "INSERT INTO decisions(ts, ref, stage, verdict, sender, recipient, customer)
     VALUES ($now, 'ANN1', 'rcpt', 'reject', 'offers@offers.bank.example', 'ann@example.com', 'C1001'),
            ($now, 'ANN2', 'eom', 'tag', 'Ann@Example.com', 'bob@example.com', 'C1002')"
# a reader keeps the store open, so -wal and -shm stay on disk to be searched
e2e_bg $PY -c '
import os, pwd, sqlite3, sys, time
pw = pwd.getpwnam(sys.argv[2])
os.setgid(pw.pw_gid)
os.setuid(pw.pw_uid)
c = sqlite3.connect(sys.argv[1])
c.execute("SELECT count(*) FROM customers").fetchall()
time.sleep(120)' "$CG_DB" "$CG_USER"
READER=$E2E_LAST_PID
sleep 0.5
t_eq "before: the address is in the files" \
    "$(cat "$CG_DB" "$CG_DB-wal" "$CG_DB-shm" 2>/dev/null | grep -ac 'ann@example.com' | sed 's/^[1-9][0-9]*$/yes/')" yes
other=$(sql "SELECT count(*) FROM contacts WHERE customer <> 'C1001'")
ctl forget ann@example.com
t_match "forget prints what was erased" "$rc/$out" \
    '^0/erased C1001: 3 contacts, 2 decisions, 1 states, 1 opt-outs, 2 mapped addresses \(erasure ref CG[0-9A-F]+\)'
t_check "the store's -wal and -shm files exist (a reader holds them)" test -e "$CG_DB-wal" -a -e "$CG_DB-shm"
for f in "$CG_DB" "$CG_DB-wal" "$CG_DB-shm"; do
    t_eq "grep -c ann@example.com $(basename "$f"): 0" "$(grep -ac 'ann@example.com' "$f")" 0
    t_eq "grep -ci ann@example.com $(basename "$f") (any case): 0" "$(grep -aci 'ann@example.com' "$f")" 0
    t_eq "grep -c ann.work@corp.example $(basename "$f"): 0" "$(grep -ac 'ann.work@corp.example' "$f")" 0
done
t_eq "no row names C1001 any more" \
    "$(sql "SELECT (SELECT count(*) FROM contacts WHERE customer='C1001') + (SELECT count(*) FROM decisions WHERE customer='C1001')
            + (SELECT count(*) FROM states WHERE customer='C1001') + (SELECT count(*) FROM optouts WHERE customer='C1001')
            + (SELECT count(*) FROM customers WHERE customer='C1001')")" 0
t_eq "other customers' contacts are untouched" "$(sql "SELECT count(*) FROM contacts WHERE customer <> 'C1001'")" "$other"
t_eq "one anonymised erasure row: reference and counts" \
    "$(sql "SELECT count(*), min(subject_hash LIKE 'CG%'), min(rows), min(note) FROM erasures")" \
    "1|1|9|contacts=3 decisions=2 states=1 optouts=1 addresses=2"
t_eq "the erasure row names no customer" "$(sql "SELECT count(*) FROM erasures WHERE note LIKE '%C1001%' OR note LIKE '%@%' OR subject_hash LIKE '%C1001%'")" 0
kill "$READER" 2>/dev/null
ctl --json forget nobody@example.com
t_eq "forget an unknown address: nothing to erase, still recorded" \
    "$(jget "$out" 'r["contacts"]+r["decisions"]+r["addresses"], r["wal_truncated"]')" "(0, True)"
ctl forget
t_eq "forget without an argument: exit 1" "$rc" 1
ctl forget 'a b@example.com'
t_eq "forget a malformed address: exit 1" "$rc" 1

# --- optional: the 1,000,000-line import
if [ "${CG_BIG:-0}" = 1 ]; then
    $PY - "$D/big.csv" <<'EOF'
import sys
zs = ["Europe/London", "Europe/Berlin", "America/New_York", ""]
with open(sys.argv[1], "w") as f:
    f.write("address,customer,timezone,segment,branch\n")
    for i in range(1000000):
        f.write('user%d@example%d.com,C%d,%s,seg%d,"Branch, %d"\n' % (i, i % 97, i // 2, zs[i % 4], i % 5, i % 13))
EOF
    t0=$(date +%s.%N)
    ctl customers import "$D/big.csv"
    t1=$(date +%s.%N)
    secs=$(echo "$t1 - $t0" | bc)
    t_eq "1,000,000-line import" "$rc/$out" "0/added 1000000, updated 0"
    echo "# 1,000,000-line import took ${secs}s"
    t_check "under 10 s" sh -c "[ \$(echo '$secs < 10' | bc) = 1 ]"
fi

t_done test_ctl_data
