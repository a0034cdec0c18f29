#!/bin/bash
# test_pg_failure.sh - a relay on PostgreSQL when the database is slow or
# gone, and a failover that loses nothing acknowledged.
#
# A primary with a synchronous standby on loopback, one Postfix +
# contactgate relay with the two-host URI (target_session_attrs=read-write)
# and database_timeout 2s:
#  - primary stopped: mail gets 451 (on_error tempfail) within the bounded
#    time, the daemon's threads come back down; restarted: mail is
#    accepted again without restarting contactgate;
#  - primary hung (SIGSTOP): 451 within our deadline, then accepted again;
#  - standby hung (SIGSTOP): a commit waits for it, our deadline cancels
#    the wait, the mail gets 451; the MTA's retry of the same message
#    (same Message-ID) after the standby is back is accepted and counted
#    once;
#  - primary killed under load and the standby promoted: every message
#    that got 250 has its contact on the new primary, mail resumes by
#    itself, a cap is still exact.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
. "$here/../pg/pglib.sh"
. "$here/../pg/relays.sh"
PY=/usr/bin/python3

e2e_setup pg_failure
pg_setup_primary pg_failure || { t_fail "private PostgreSQL starts"; t_done pg_failure; exit 1; }
pg_setup_standby || { t_fail "synchronous standby starts"; t_done pg_failure; exit 1; }
e2e_start_sink || { t_fail "capture server starts"; t_done pg_failure; exit 1; }
PG_URI_RELAYS=$PG_URI_FAILOVER
RELAY_EXTRA_JSON='"database_timeout": "2s",'
relay_start alpha || { t_fail "relay starts"; t_done pg_failure; exit 1; }

code() { $PY -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l); d = (j.get("data") or {}).get("code"); print(d or j.get("error", "?"))'; }
now_ms() { date +%s%3N; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/${RELAY_PID[alpha]}/status"; }

t_eq "a bill through the relay: accepted" \
    "$(relay_smtp alpha --from billing@bank.example --to pf1@example.com | code)" 250
base_threads=$(threads)

# --- primary stopped ------------------------------------------------------------
pg_stop primary
t0=$(now_ms)
got=$(relay_smtp alpha --from billing@bank.example --to pf2@example.com | code)
t1=$(now_ms)
t_eq "database stopped: the message gets 451 (on_error tempfail)" "$got" 451
echo "  (answered after $((t1 - t0)) ms)"
got=$(relay_smtp alpha --from billing@bank.example --to pf3@example.com --parallel 10 | code | sort | uniq -c | tr -s ' ')
t_eq "10 parallel messages while it is down: all 451" "$got" " 10 451"
sleep 2
t_check "the daemon's threads come back down ($base_threads before, $(threads) after)" \
    test "$(threads)" -le $((base_threads + 2))
t_check "the log says why" grep -q "contact history unavailable\|cannot connect\|Connection refused" \
    "${RELAY_LOG[alpha]}"
pg_start primary
got=""
for i in $(seq 1 30); do
    got=$(relay_smtp alpha --from billing@bank.example --to pf4@example.com | code)
    [ "$got" = 250 ] && break
    sleep 1
done
t_eq "database back: mail accepted again, contactgate not restarted" "$got" 250

# --- the primary hung (SIGSTOP: it accepts connections, answers nothing) ------------
pg_pause primary
t0=$(now_ms)
got=$(relay_smtp alpha --from billing@bank.example --to pf6@example.com --parallel 5 | code | sort | uniq -c | tr -s ' ')
t1=$(now_ms)
pg_resume primary
t_eq "database hung: 5 parallel messages all get 451 (our deadline, not Postfix's)" "$got" " 5 451"
echo "  (answered within $((t1 - t0)) ms; database_timeout 2s, cancel grace 1s)"
t_check "... well before Postfix's milter timeout (30 s)" test $((t1 - t0)) -lt 20000
got=""
for i in $(seq 1 30); do
    got=$(relay_smtp alpha --from billing@bank.example --to pf7@example.com | code)
    [ "$got" = 250 ] && break
    sleep 1
done
t_eq "database answering again: mail accepted, contactgate not restarted" "$got" 250

# --- a hung synchronous standby ---------------------------------------------------
raw=$E2E_DIR/retry.eml
printf 'From: <billing@bank.example>\r\nTo: <pf5@example.com>\r\nSubject: Statement\r\nMessage-ID: <retry-1@bank.example>\r\n\r\nYour statement.\r\n' > "$raw"
pg_pause_standby
t0=$(now_ms)
got=$(relay_smtp alpha --from billing@bank.example --to pf5@example.com --raw "$raw" | code)
t1=$(now_ms)
pg_resume_standby
t_eq "standby hung: the commit's wait is cancelled at our deadline, 451" "$got" 451
echo "  (answered after $((t1 - t0)) ms)"
t_check "the log names the unconfirmed commit" grep -qi "not confirmed by the synchronous standby\|timeout\|canceling" \
    "${RELAY_LOG[alpha]}"
got=""
for i in $(seq 1 20); do
    got=$(relay_smtp alpha --from billing@bank.example --to pf5@example.com --raw "$raw" | code)
    [ "$got" = 250 ] && break
    sleep 1
done
t_eq "the MTA's retry of the same message: accepted" "$got" 250
n=$(pg_psql "SELECT count(*) FROM contacts WHERE message_id = '<retry-1@bank.example>'")
t_eq "that message is counted once for the customer" "$n" 1

# --- failover under load ------------------------------------------------------------
load() { # load TAG N - N messages one after another, each to its own customer
    local i
    for i in $(seq 1 "$2"); do
        relay_smtp alpha --from billing@bank.example --to "fo-$1-$i@example.com" --subject "FO $1 $i" \
            --timeout 90
    done
}
load a 40 > "$E2E_DIR/load-a" &
pa=$!
load b 40 > "$E2E_DIR/load-b" &
pb=$!
sleep 3
pg_kill_primary
t_ok "primary killed under load"
pg_promote_standby || t_fail "standby promoted"
echo "  (promoted in ${PG_PROMOTE_MS:-?} ms)"
wait $pa $pb
accepted=$(cat "$E2E_DIR/load-a" "$E2E_DIR/load-b" | $PY -c '
import json, re, sys
for l in sys.stdin:
    j = json.loads(l); d = j.get("data") or {}
    if d.get("code") == 250:
        m = re.search(r"queued as ([0-9A-Za-z]+)", d.get("text", ""))
        print(m.group(1) if m else "?")')
n_acc=$(printf '%s\n' "$accepted" | grep -c .)
n_tf=$(cat "$E2E_DIR/load-a" "$E2E_DIR/load-b" | code | grep -vc '^250$')
echo "  ($n_acc accepted, $n_tf tempfailed during the failover)"
missing=0
for q in $accepted; do
    c=$(pg_psql_standby "SELECT count(*) FROM contacts WHERE queue_id = '$q'")
    [ "$c" = 1 ] || { missing=$((missing + 1)); echo "  missing on the new primary: $q ($c)"; }
done
t_eq "every accepted message has its contact on the new primary" "$missing" 0
t_check "mail went on after the promotion (accepted: $n_acc of 80)" test "$n_acc" -gt 40
got=$(relay_smtp alpha --from offers@offers.bank.example --to capped@example.com --subject "cap" \
    --parallel 20 | relay_codes)
t_eq "after the failover a cap of 3 is exact (20 parallel)" "$got" "3 17 0"
t_done pg_failure
