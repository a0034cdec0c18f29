#!/bin/bash
# test_pg_relays.sh - two Postfix + contactgate relays on loopback sharing
# one private PostgreSQL: a cap is exact across them.
#
# Five rounds: 40 messages in parallel to one new customer, 20 through each
# relay, under promotions-3-per-week (retail-bank.json): exactly 3 accepted
# (250) and 37 deferred (451), 3 contacts recorded, 3 arrived. Then one
# customer reached through two addresses (customer map), one address per
# relay: again exactly 3. The decision rows name their relay; report spans
# both and filters by one; `relays` lists both with their configuration.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
. "$here/../pg/pglib.sh"
. "$here/../pg/relays.sh"

e2e_setup pg_relays
pg_setup_primary pg_relays || { t_fail "private PostgreSQL starts"; t_done pg_relays; exit 1; }
e2e_start_sink || { t_fail "capture server starts"; t_done pg_relays; exit 1; }
relay_start alpha || { t_fail "relay alpha starts"; t_done pg_relays; exit 1; }
relay_start beta || { t_fail "relay beta starts"; t_done pg_relays; exit 1; }
t_ok "two relays (Postfix + contactgate) on one PostgreSQL"

# round TAG TO_A TO_B - 20 parallel messages through each relay at once
round() {
    local tag=$1 a=$2 b=$3
    relay_smtp alpha --from offers@offers.bank.example --to "$a" --subject "R $tag" \
        --parallel 20 > "$E2E_DIR/out-$tag-a" &
    local pa=$!
    relay_smtp beta --from offers@offers.bank.example --to "$b" --subject "R $tag" \
        --parallel 20 > "$E2E_DIR/out-$tag-b"
    wait $pa
    cat "$E2E_DIR/out-$tag-a" "$E2E_DIR/out-$tag-b" | relay_codes
}

for i in 1 2 3 4 5; do
    got=$(round "$i" "round$i@example.com" "round$i@example.com")
    t_eq "round $i: 40 parallel promotions to one customer, 20 per relay, cap 3" "$got" "3 37 0"
    hist=$(relay_ctl --json history "round$i@example.com" | /usr/bin/python3 -c '
import json, sys; r = json.load(sys.stdin)
print(sum(1 for e in r["events"] if e["kind"] == "contact"))')
    t_eq "round $i: 3 contacts recorded" "$hist" 3
done
e2e_sink_wait 15 30
t_eq "15 messages arrived in all" "$(grep -rl 'Subject: R [0-9]' "$E2E_DIR/sink" | wc -l)" 15

# one customer, two addresses, one per relay
printf 'address,customer,timezone\nfrank@example.com,C-FRANK,\nfrank.w@example.org,C-FRANK,\n' \
    > "$E2E_DIR/map.csv"
relay_ctl customers import "$E2E_DIR/map.csv" >/dev/null
got=$(round map frank@example.com frank.w@example.org)
t_eq "one customer through two addresses on two relays: exactly 3 accepted" "$got" "3 37 0"

# the decision rows name their relay; both relays are known
dec=$(relay_ctl --json decisions --customer C-FRANK --verdict defer)
t_eq "deferrals of both relays in the log" "$(printf '%s' "$dec" | /usr/bin/python3 -c '
import json, sys; print(",".join(sorted({d.get("relay") or "-" for d in json.load(sys.stdin)})))')" "alpha,beta"
rel=$(relay_ctl relays 2>&1)
t_check "contactgatectl relays lists alpha" sh -c "printf '%s\n' \"\$1\" | grep -qE '^alpha +[0-9a-f]{16} '" _ "$rel"
t_check "contactgatectl relays lists beta" sh -c "printf '%s\n' \"\$1\" | grep -qE '^beta +[0-9a-f]{16} '" _ "$rel"
# report: all relays, and one relay's share. In the races above either
# relay may have taken every accepted message (alpha's sessions start a
# little earlier): one message through each, alone, makes sure each has
# some. A report runs until now, the current second excluded: wait it out
for r in alpha beta; do
    t_eq "one promotion through $r alone: accepted" "$(relay_smtp "$r" --from offers@offers.bank.example \
        --to "solo-$r@example.com" --subject "solo $r" | relay_codes)" "1 0 0"
done
sleep 1.1
sent() { relay_ctl --json report "$@" | /usr/bin/python3 -c '
import json, sys; r = json.load(sys.stdin); print(r["totals"]["sent"])'; }
all=$(sent); a=$(sent --relay alpha); b=$(sent --relay beta)
t_eq "report: alpha's and beta's mail add up to all ($a + $b)" "$((a + b))" "$all"
t_eq "report: all 20 messages let through (5 rounds and frank 3 each, 2 alone)" "$all" 20
t_check "report: both relays let mail through ($a, $b)" test "$a" -gt 0 -a "$b" -gt 0
chk=$(relay_ctl store check 2>&1); rc=$?
t_eq "store check: exit 0 (counters agree with a recount)" "$rc" 0
t_done pg_relays
