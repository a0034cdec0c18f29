#!/bin/bash
# test_dbfail.sh - when the history fails, mail is tempfailed (never
# rejected), the log says what failed, and nothing acknowledged is lost
# (issue 14.3, 14.4), through a real private Postfix:
#   - the history's directory moved away while contactgate runs: every
#     message gets a 4xx and one line says the database is gone; moved
#     back, mail is decided again without a restart, and each contact the
#     MTA was told 250 for is in the history
#   - garbage in the middle of the file: mail gets a 4xx, the log names the
#     corruption with the file; `contactgatectl store check` exits 1 naming
#     it, and exits 0 on a sound history
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup dbfail
e2e_start_sink || { t_fail "capture server starts"; t_done dbfail; exit 1; }
# the history in a directory of its own (the log stays where it is)
CG_DB=$E2E_DIR/db/history.db
cg_config "$E2E_DIR/contactgate.json"
cg_start || { t_fail "contactgate starts"; t_done dbfail; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done dbfail; exit 1; }

# send TO SUBJECT - the SMTP code of the message (RCPT's, else DATA's)
send() {
    $PY "$here/smtpc.py" --port "$SMTP_PORT" --from billing@bank.example --to "$1" \
        --subject "$2" | $PY -c '
import json, sys
r = json.load(sys.stdin)
if "error" in r: print("error " + r["error"]); sys.exit()
rc = r["rcpt"][0]["code"]
print(rc if rc >= 300 else r["data"]["code"])'
}
contacts_of() { runuser -u "$CG_USER" -- sqlite3 "$CG_DB" "SELECT count(*) FROM contacts WHERE address = '$1'"; }

# --- sound: a bill goes through and is recorded -----------------------------------
t_eq "a bill is accepted" "$(send before@example.com "Bill 1")" 250
t_eq "and its contact recorded" "$(contacts_of before@example.com)" 1
out=$(cg_ctl store check 2>&1); rc=$?
t_eq "store check on a sound history: exit 0" "$rc" 0
t_match "and says ok" "$out" '^ok$'

# --- the directory moved away while running ----------------------------------------
mv "$E2E_DIR/db" "$E2E_DIR/db.moved"
codes=""
for i in 1 2 3; do codes="$codes $(send gone$i@example.com "Bill gone $i")"; done
t_match "every message while it is gone gets a 4xx, none 250 or 5xx" "$codes" '^( 4[0-9][0-9]){3}$'
t_check "one line says the database is gone and mail is tempfailed" \
    cg_log_wait "store: .*history.db.*: mail is tempfailed until it is back" 5
t_eq "no message was rejected because of it" "$(grep -c 'verdict=reject' "$CG_LOG")" 0
mv "$E2E_DIR/db.moved" "$E2E_DIR/db"
t_check "moved back: contactgate sees it (no restart)" \
    cg_log_wait "store: database .*history.db is back: deciding mail again" 10
t_eq "a bill is accepted again" "$(send after@example.com "Bill 2")" 250
t_eq "and recorded" "$(contacts_of after@example.com)" 1
# what Postfix accepted is in the history: every 250 (sink) has its contact
e2e_sink_wait 2 20
t_eq "delivered: the two bills decided while the history was there" \
    "$(grep -l '^Subject: Bill' "$E2E_DIR"/sink/*.eml 2>/dev/null | wc -l)" 2
t_eq "the history holds a contact for each, none of the tempfailed ones counted twice" \
    "$(runuser -u "$CG_USER" -- sqlite3 "$CG_DB" "SELECT group_concat(address, ' ') FROM (SELECT address FROM contacts ORDER BY id)")" \
    "before@example.com after@example.com"

# --- garbage in the middle of the file ---------------------------------------------------
# enough customers for pages past the first few, then every page but the
# first (the header and the schema) overwritten
{ echo address,customer,timezone; seq 1 3000 | awk '{ printf "c%d@example.com,C-%d,Europe/Berlin\n", $1, $1 }'; } > "$E2E_DIR/customers.csv"
cg_ctl customers import "$E2E_DIR/customers.csv" >/dev/null || t_fail "customers import"
cg_stop
runuser -u "$CG_USER" -- sqlite3 "$CG_DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
pages=$(sqlite3 "$CG_DB" 'PRAGMA page_count')
psize=$(sqlite3 "$CG_DB" 'PRAGMA page_size')
t_check "the history has more than 20 pages" test "$pages" -gt 20
head -c $(( (pages - 2) * psize )) /dev/urandom |
    dd of="$CG_DB" bs="$psize" seek=1 conv=notrunc status=none
out=$(cg_ctl store check 2>&1); rc=$?
t_eq "store check on the damaged history: exit 1 (problems) or 2 (cannot read)" \
    "$([ "$rc" = 1 ] || [ "$rc" = 2 ] && echo yes)" yes
t_match "naming the corruption" "$out" 'malformed|corrupt|integrity'
cg_start || { t_fail "contactgate starts on the damaged file"; t_done dbfail; exit 1; }
code=$(send c7@example.com "Bill damaged")
t_match "mail to a customer on a damaged page: 4xx, not 5xx" "$code" '^4[0-9][0-9]$'
t_check "the log names the file and the corruption" \
    cg_log_wait "history.db.*(malformed|corrupt)|(malformed|corrupt).*history.db" 5
cg_stop
t_done dbfail
