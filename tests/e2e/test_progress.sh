#!/bin/bash
# test_progress.sh - progress of long contactgatectl commands (issue
# 17.10): on a terminal (script -qc gives the command a pty) `customers
# import`, `prune`, `simulate` and `store copy` show a line rewritten with \r, with done
# of total and a rate; on a pipe (cron) they write nothing to stderr. A
# prune shown in slices deletes exactly what one in a single go does.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"

e2e_setup progress
cg_config "$E2E_DIR/contactgate.json"
CTL=$CG_CTL_BIN
N=20000
# on_tty CMD... - run CMD with a terminal for stdin, stdout and stderr;
# what the terminal showed
on_tty() { script -qec "$(printf '%q ' "$@")" /dev/null < /dev/null; }
sql() { sqlite3 "$1" "$2"; }

# --- customers import -----------------------------------------------------------
csv=$E2E_DIR/customers.csv
{ echo "address,customer,timezone"
  seq 1 $N | awk '{ printf "c%d@x.example,C-%d,Europe/London\n", $1, $1 }'; } > "$csv"
chmod 644 "$csv"
out=$(on_tty "$CTL" -c "$CG_CONFIG" customers import "$csv"); rc=$?
t_eq "import on a terminal: exit 0" "$rc" 0
t_match "a progress line, rewritten with \\r, done and rate" "$out" \
    $'\rcustomers import: 20,000 rows \\(100%\\)(, [0-9,]+ rows/s)?, done in [0-9.]+ s'
t_match "then the summary" "$out" "added 20000, updated 0"
err=$("$CTL" -c "$CG_CONFIG" customers import "$csv" 2>&1 >/dev/null); rc=$?
t_eq "import on a pipe: exit 0" "$rc" 0
t_eq "and not a byte on stderr" "$err" ""

# --- prune --------------------------------------------------------------------------
# 20,000 contacts from 500 to 900 days ago, 500 decisions among them, and
# 100 recent contacts; the department counters built from the contacts
now=$(date +%s)
sql "$CG_DB" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO contacts(ts, customer, address, department, category, channel, message_id)
  SELECT $now - 86400 * (500 + i % 400) - i, 'C-' || i, 'c' || i || '@x.example', 'billing',
         'functional.bill', 'email', '<m' || i || '@x>' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO decisions(ts, ref, stage, verdict, policy, department, recipient, customer)
  SELECT $now - 86400 * (450 + i % 300), 'CGOLD' || i, 'eom', 'defer', 'p', 'billing',
         'c' || i || '@x.example', 'C-' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO contacts(ts, customer, address, department, category, channel, message_id)
  SELECT $now - 3600 * i, 'C-' || i, 'c' || i || '@x.example', 'marketing',
         'promotional.offer', 'email', '<r' || i || '@x>' FROM n;
DELETE FROM dept_counts;
INSERT INTO dept_counts SELECT department, 60, ts - ts % 60, category, count(*) FROM contacts GROUP BY 1, 3, 4;
INSERT INTO dept_counts SELECT department, 3600, ts - ts % 3600, category, count(*) FROM contacts GROUP BY 1, 3, 4;
INSERT INTO dept_counts SELECT department, 86400, ts - ts % 86400, category, count(*) FROM contacts GROUP BY 1, 3, 4;"
chown "$CG_USER" "$CG_DB"
cp "$CG_DB" "$(dirname "$CG_DB")/copy.db"
chown "$CG_USER" "$(dirname "$CG_DB")/copy.db"
out=$(on_tty "$CTL" -c "$CG_CONFIG" prune --older-than 400d --batch 100); rc=$?
t_eq "prune on a terminal: exit 0" "$rc" 0
t_match "its progress line: all 20,500 rows, a rate" "$out" \
    $'\rprune: 20,500 of 20,500 rows \\(100%\\)(, [0-9,]+ rows/s)?, done in [0-9.]+ s'
t_match "the summary" "$out" "deleted 20000 contacts and 500 decisions older than"
t_eq "in slices: exactly the recent contacts are left" \
    "$(sql "$CG_DB" "SELECT count(*), min(ts) > $now - 400 * 86400 FROM contacts")" "100|1"
t_eq "and no decision" "$(sql "$CG_DB" "SELECT count(*) FROM decisions")" 0
t_eq "the counters lost exactly the contacts deleted" \
    "$(sql "$CG_DB" "SELECT sum(n) FROM dept_counts WHERE level = 86400")" 100
# the same prune on a pipe, on the copy: one go, the same result, silent
sed "s|$CG_DB|$(dirname "$CG_DB")/copy.db|" "$CG_CONFIG" > "$E2E_DIR/copy.json"
chmod 644 "$E2E_DIR/copy.json"
err=$("$CTL" -c "$E2E_DIR/copy.json" prune --older-than 400d --batch 100 2>&1 >"$E2E_DIR/pipe.out"); rc=$?
t_eq "prune on a pipe: exit 0" "$rc" 0
t_eq "and not a byte on stderr" "$err" ""
t_match "the same summary" "$(cat "$E2E_DIR/pipe.out")" "deleted 20000 contacts and 500 decisions"
t_eq "the same rows left" "$(sql "$(dirname "$CG_DB")/copy.db" "SELECT count(*), sum(ts) FROM contacts")" \
    "$(sql "$CG_DB" "SELECT count(*), sum(ts) FROM contacts")"

# --- simulate -------------------------------------------------------------------------
sql "$CG_DB" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO contacts(ts, customer, address, department, category, channel, message_id)
  SELECT $now - 40 * i, 'C-' || (i % 700), 'c' || (i % 700) || '@x.example', 'marketing',
         'promotional.offer', 'email', '<s' || i || '@x>' FROM n;"
out=$(on_tty "$CTL" -c "$CG_CONFIG" simulate --policies "$CG_CONFIG" --since 2d); rc=$?
t_eq "simulate on a terminal: exit 0" "$rc" 0
t_match "its progress line: the messages, how far in the range, a rate" "$out" \
    $'\rsimulate: 3,[0-9,]+ messages \\([0-9]+%\\)(, [0-9,]+ messages/s)?, done in [0-9.]+ s'
err=$("$CTL" -c "$CG_CONFIG" simulate --policies "$CG_CONFIG" --since 2d 2>&1 >/dev/null); rc=$?
t_eq "simulate on a pipe: exit 0" "$rc" 0
t_eq "and not a byte on stderr" "$err" ""

# --- store copy (to a new SQLite file: the same code as to PostgreSQL) ------------------
rows=$(sql "$CG_DB" "SELECT (SELECT count(*) FROM contacts) + (SELECT count(*) FROM decisions)
  + (SELECT count(*) FROM customers) + (SELECT count(*) FROM states) + (SELECT count(*) FROM optouts)
  + (SELECT count(*) FROM erasures)")
out=$(on_tty "$CTL" -c "$CG_CONFIG" store copy --to "$(dirname "$CG_DB")/copied.db"); rc=$?
t_eq "store copy on a terminal: exit 0" "$rc" 0
rows_c=$(echo "$rows" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')
t_match "its progress line: every row of the source, a rate" "$out" \
    $'\r'"store copy: $rows_c of $rows_c rows \\(100%\\)(, [0-9,]+ rows/s)?, done in [0-9.]+ s"
t_match "the summary, verified" "$out" "copied to $(dirname "$CG_DB")/copied.db: .*counts verified"
err=$("$CTL" -c "$CG_CONFIG" store copy --to "$(dirname "$CG_DB")/copied2.db" 2>&1 >/dev/null); rc=$?
t_eq "store copy on a pipe: exit 0" "$rc" 0
t_eq "and not a byte on stderr" "$err" ""

t_done progress
