#!/bin/bash
# test_pg_parity.sh - the same history on SQLite and on PostgreSQL answers
# every contactgatectl query the same.
#
# A SQLite history is filled with known rows (sqlite3): contacts of two
# relays and several channels, decisions of every verdict, deferral
# episodes closed by a later accept or hold, an admin's release, states,
# opt-outs, an erasure. `store copy` moves it to a private PostgreSQL
# (counts verified); then report (all, one department, one relay), the
# decision log, the deferred-message lifecycles, a customer's history, the
# customer map, states, opt-outs, prune --dry-run, store check and simulate
# must print the same on both (JSON; the generation time and row ids left
# out). A copy into a database that is not empty is refused.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
. "$here/../pg/pglib.sh"
PY=/usr/bin/python3

e2e_setup pg_parity
pg_setup_primary pg_parity || { t_fail "private PostgreSQL starts"; t_done pg_parity; exit 1; }
cg_stage
DB=$E2E_DIR/history.db
conf() { # conf FILE DATABASE
    printf '{"relay": "mx1", "database": "%s", "plugin_dir": "%s/stage/plugins",
 "include": ["%s/stage/policies/retail-bank.json"]}\n' "$2" "$E2E_DIR" "$E2E_DIR" > "$1"
}
conf "$E2E_DIR/sqlite.json" "$DB"
conf "$E2E_DIR/pg.json" "$PG_URI"
sq() { "$CG_CTL_BIN" -c "$E2E_DIR/sqlite.json" "$@"; }
pq() { "$CG_CTL_BIN" -c "$E2E_DIR/pg.json" "$@"; }
sq customers count >/dev/null || { t_fail "contactgatectl creates the SQLite history"; t_done pg_parity; exit 1; }

D1=$(date -u -d 2026-03-02T10:00:00Z +%s)
D2=$((D1 + 86400)) D3=$((D1 + 2 * 86400)) D4=$((D1 + 3 * 86400))
sqlite3 "$DB" <<SQL
BEGIN;
INSERT INTO customers(address, customer, timezone, attrs) VALUES
  ('a1@example.com','C-1001','Europe/Berlin','{"tier":"gold"}'), ('a1b@example.com','C-1001',NULL,NULL),
  ('a2@example.com','C-1002',NULL,NULL), ('a9@example.com','C-1009',NULL,NULL);
INSERT INTO contacts(ts, customer, address, department, category, channel, weight, message_id, queue_id, digest, relay) VALUES
  ($D1,'C-1001','a1@example.com','billing','functional.bill','email',1,'<b1@x>','Q1','d1','mx1'),
  ($D1,'C-1002','a2@example.com','billing','functional.bill','email',1,'<b2@x>','Q2',NULL,'mx2'),
  ($D2,'C-1001','a1b@example.com','marketing','promotional.offer','email',1,'<p1@x>','Q3',NULL,'mx2'),
  ($D2+30,'c3@example.com','c3@example.com','marketing','promotional.offer','email',1,'<p2@x>','Q4',NULL,'mx1'),
  ($D3,'C-1001','a1@example.com','service','functional.service','sms',0.5,NULL,NULL,NULL,NULL),
  ($D4,'C-1002','a2@example.com','marketing','promotional.offer','email',1,'<m9@x>','Q9',NULL,'mx1');
INSERT INTO decisions(ts, ref, stage, verdict, policy, reason, detail, department, sender, recipient,
                      customer, category, message_id, queue_id, config_version, retry_after, monitor, episode, relay) VALUES
  ($D1,'R01','rcpt','defer','promotions-3-per-week','cap','d1','marketing','offers@bank.example','a2@example.com','C-1002','promotional.offer|promotional.*',NULL,NULL,'v1',$D1+3600,0,'R01','mx1'),
  ($D1+3600,'R02','eom','defer','promotions-3-per-week','cap',NULL,'marketing','offers@bank.example','a2@example.com','C-1002','promotional.offer','<m9@x>','Q8','v1',$D1+7200,0,'R01','mx2'),
  ($D4,'R03','eom','accept',NULL,NULL,'let through after 2 deferrals','marketing','offers@bank.example','a2@example.com','C-1002','promotional.offer','<m9@x>','Q9','v1',0,0,'R01','mx1'),
  ($D2,'R04','eom','defer','all-mail-10-per-week','cap',NULL,'service','svc@bank.example','s@example.com','C-14','functional.service','<m3@x>','Q5','v1',$D2+60,0,NULL,'mx2'),
  ($D3,'R05','eom','defer','all-mail-10-per-week','cap',NULL,'service','svc@bank.example','s@example.com','C-14','functional.service','<m3@x>','Q6','v2',$D3+60,0,NULL,'mx1'),
  ($D2,'R06','eom','hold','review-mail-to-bereaved','held',NULL,'billing','bill@bank.example','i@example.com','C-10','functional.bill','<h2@x>','Q7','v1',0,0,NULL,'mx1'),
  ($D3,'R06','admin','released','review-mail-to-bereaved','released by alice',NULL,'billing',NULL,'i@example.com','C-10','functional.bill','<h2@x>','Q7','v1',0,0,NULL,NULL),
  ($D2,'R07','eom','tag','trial-promotions-2-per-week','3 in 7d',NULL,'marketing','offers@bank.example','f@example.com','C-7','promotional.offer','<t1@x>','Q10','v1',0,1,NULL,'mx2'),
  ($D3,'R08','rcpt','reject','no-promotions-during-complaint','state',NULL,'marketing','offers@bank.example','d@example.com','C-5','promotional.offer',NULL,NULL,'v1',0,0,NULL,'mx1'),
  ($D3,'R09','eom','tempfail',NULL,'could not be checked',NULL,'billing','bill@bank.example','k@example.com',NULL,'functional.bill','<e1@x>','Q11','v1',0,0,NULL,'mx2'),
  ($D4,'R10','rcpt','defer','spacing','48h',NULL,NULL,'x@bank.example','z@example.com','C-20',NULL,NULL,NULL,'v1',$D4+60,0,'R10','mx1');
INSERT INTO states(customer, state, since, until, note) VALUES ('C-1001','complaint',$D1,0,'n1'), ('C-1002','debt_collection',$D1,$D2,NULL);
INSERT INTO optouts(customer, category, since, until, note) VALUES ('C-1001','promotional.*',$D1,0,'web'), ('a2@example.com','*',$D2,0,NULL);
INSERT INTO erasures(ts, subject_hash, rows, note) VALUES ($D2,'CGERASE1',4,'contacts=2');
INSERT INTO dept_counts SELECT department, 60, ts - ts % 60, category, count(*) FROM contacts GROUP BY 1, 3, 4;
INSERT INTO dept_counts SELECT department, 3600, ts - ts % 3600, category, count(*) FROM contacts GROUP BY 1, 3, 4;
INSERT INTO dept_counts SELECT department, 86400, ts - ts % 86400, category, count(*) FROM contacts GROUP BY 1, 3, 4;
COMMIT;
SQL
t_eq "SQLite history filled" "$?" 0
t_eq "store check on SQLite: ok" "$(sq store check >/dev/null 2>&1; echo $?)" 0

out=$(sq store copy --to "$PG_URI" 2>&1); rc=$?
t_eq "store copy to PostgreSQL: exit 0" "$rc" 0
t_match "... counts verified" "$out" '^copied to .*: 4 addresses, 6 contacts, 2 states, 2 opt-outs, 11 decisions, 1 erasures, 0 relays; counts verified$'
t_eq "... no progress lines off a terminal" "$(printf '%s\n' "$out" | grep -c '^copied [0-9]')" 0
out=$(sq store copy --to "$PG_URI" 2>&1); rc=$?
t_eq "a second copy into a database that is not empty: refused" "$rc" 1
t_match "... says so" "$out" 'is not empty'

# same CMD... - the command's JSON on both, generation time and ids dropped
norm() { $PY -c '
import json, sys
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ("generated", "id", "backend", "before")}
    if isinstance(o, list):
        return [strip(x) for x in o]
    return o
print(json.dumps(strip(json.load(sys.stdin)), indent=1, sort_keys=True))'; }
same() {
    local a b desc="$*"
    a=$(sq --json "$@" 2>&1 | norm 2>&1) b=$(pq --json "$@" 2>&1 | norm 2>&1)
    if [ "$a" = "$b" ] && [ -n "$a" ] && [ "$a" != "{}" ]; then
        t_ok "same on both: $desc"
    else
        t_fail "same on both: $desc" "$(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -30)"
    fi
}
R=(--since 2026-03-01 --until 2026-03-08)
same report "${R[@]}"
same report "${R[@]}" --department marketing
same report "${R[@]}" --relay mx1
same report "${R[@]}" --relay mx2
same decisions
same decisions --verdict defer --since 2026-03-02 --until 2026-03-05
same decisions --relay mx2
same decisions --lifecycle
same decisions --lifecycle --policy promotions-3-per-week
same history C-1001
same history a2@example.com
same customers list
same state list --all
same optout list
same prune --older-than 1d --dry-run
same store check
same simulate --policies "$E2E_DIR/sqlite.json" "${R[@]}"
t_done pg_parity
