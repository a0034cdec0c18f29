#!/bin/bash
# test_addr.sh - one mailbox is one customer (issue 12, point 1), end to
# end: however an envelope spells a mailbox, through the real private
# Postfix and the real private Sendmail, it counts against one customer
# (cap of 3 promotions per 7 days: the 4th gets 451); an address neither
# contactgate nor the MTA can parse is its own customer and is logged; and
# contactgatectl given odd spellings acts on the same customer.
#
# The SMTP client here sends MAIL/RCPT arguments exactly as written
# (smtplib's rcpt() would re-quote them).
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
. "$here/sendmail.sh"
PY=/usr/bin/python3

e2e_setup addr
e2e_start_sink || { t_fail "capture server starts"; t_done addr; exit 1; }
cg_config "$E2E_DIR/contactgate.json"
cg_start || { t_fail "contactgate starts"; t_done addr; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done addr; exit 1; }

OFFERS='<offers@offers.bank.example>'

# rsmtp PORT MAIL-ARG RCPT-ARG SUBJECT -> {"mail": [code, text], "rcpt":
# [code, text], "data": [code, text]} (no "data" when RCPT was refused)
rsmtp() {
    $PY - "$@" <<'EOF'
import json, smtplib, sys, uuid
port, frm, rcpt, subj = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.command_encoding = "utf-8"
s.ehlo("client.test.example")
res = {}
def cmd(c):
    code, text = s.docmd(c)
    return [code, text.decode("utf-8", "replace")]
res["mail"] = cmd("MAIL FROM:" + frm)
res["rcpt"] = cmd("RCPT TO:" + rcpt)
if res["rcpt"][0] // 100 == 2:
    code, text = s.docmd("DATA")
    if code == 354:
        s.send(("From: <offers@offers.bank.example>\r\nTo: <customer@cust.example>\r\n"
                "Subject: %s\r\nMessage-ID: <%s@client.test.example>\r\n\r\nhello\r\n.\r\n"
                % (subj, uuid.uuid4().hex)).encode())
        code, text = s.getreply()
    res["data"] = [code, text.decode("utf-8", "replace")]
s.quit()
print(json.dumps(res))
EOF
}
jget() { $PY -c "import json,sys; r=json.loads(sys.argv[1]); print($2)" "$1" 2>/dev/null; }
sql() { runuser -u "$CG_USER" -- sqlite3 "$CG_DB" "$@"; }
# rcpt_code JSON / data_code JSON
rcpt_code() { jget "$1" 'r["rcpt"][0]'; }
data_code() { jget "$1" 'r.get("data", [0])[0]'; }

# cap_run PORT MTA CUSTOMER SPELLING... - send a promotion to each spelling
# in turn: the first three are accepted, every later one gets 451 at RCPT
cap_run() {
    local port=$1 mta=$2 cust=$3 n=0 sp out; shift 3
    for sp in "$@"; do
        n=$((n + 1))
        out=$(rsmtp "$port" "$OFFERS" "$sp" "$mta promo $n for $cust")
        if [ $n -le 3 ]; then
            t_eq "$mta: promotion $n to $sp accepted" "$(data_code "$out")" 250
        else
            t_eq "$mta: promotion $n to $sp: 451 at RCPT (the cap of 3 counts one customer)" \
                "$(rcpt_code "$out")" 451
        fi
    done
}

# one_customer CUSTOMER NAME DEFERRALS - the history, the decision log,
# the contacts and contactgate's log lines all name CUSTOMER, never another
# spelling of its mailbox
one_customer() {
    local cust=$1 name=$2 defers=$3 hist local
    local=${cust%@*}
    hist=$(cg_ctl --json history "$cust")
    t_eq "$name: history $cust has the 3 contacts" \
        "$(jget "$hist" 'sum(1 for e in r["events"] if e["kind"]=="contact")')" 3
    t_eq "$name: and the $defers deferrals" \
        "$(jget "$hist" 'sum(1 for e in r["events"] if e["kind"]=="decision" and e["verdict"]=="defer")')" \
        "$defers"
    t_eq "$name: the contacts and decisions of $local name one customer" \
        "$(sql "SELECT DISTINCT customer FROM contacts WHERE customer LIKE '%$local%' UNION
                SELECT DISTINCT customer FROM decisions WHERE customer LIKE '%$local%'")" "$cust"
    t_eq "$name: the contacts keep the normalised address" \
        "$(sql "SELECT DISTINCT address FROM contacts WHERE customer = '$cust'")" "$cust"
    t_eq "$name: contactgate's decision lines for $local name only $cust" \
        "$(grep -E 'stage=(rcpt|eom) ' "$CG_LOG" | grep -oE 'rcpt=<[^>]*>' | grep -i "$local" | sort -u)" \
        "rcpt=<$cust>"
}

# --- Postfix: the spellings of issue 12 in turn, and more
cap_run "$SMTP_PORT" postfix ann@cust.example \
    '<ann@cust.example>' \
    '<@a.example:ann@cust.example>' \
    '<@b.example,@c.example:ann@cust.example>' \
    '<"ann"@cust.example>' \
    '<ann@CUST.EXAMPLE.>' \
    '<ann (a comment)@cust.example>' \
    '<"ann@cust.example">' \
    '<Ann+promo@Cust.Example>' \
    '<ann@cust.example@>' \
    '< ann @ cust . example >'
t_check "postfix: the three accepted arrived" e2e_sink_wait 3 20
t_eq "postfix: Postfix delivered each to <ann@cust.example>" \
    "$(grep -h '^X-Sink-Envelope:' "$E2E_DIR"/sink/*.eml | tr -d '\r' | sort -u)" \
    "X-Sink-Envelope: from=<offers@offers.bank.example> to=<ann@cust.example>"
one_customer ann@cust.example postfix 7
t_eq "postfix: history through an odd spelling is the same" \
    "$(cg_ctl --json history '<@b.example,@c.example:"ANN"@Cust.Example.>')" \
    "$(cg_ctl --json history ann@cust.example)"

# --- Postfix: what contactgate cannot parse but Postfix can: Postfix's form
out=$(rsmtp "$SMTP_PORT" "$OFFERS" '<"lee	smith"@odd.example>' "tab in quotes")
t_eq "a tab inside quotes (Postfix delivers it as a blank): accepted" "$(data_code "$out")" 250
t_check "logged: the MTA's own form is the customer address" \
    cg_log_wait 'recipient <"lee\?smith"@odd.example>: the address contains a control character; the MTA.s own form <"lee smith"@odd.example> is the customer address' 10
t_eq "and it is the customer of \"lee smith\"@odd.example" \
    "$(sql "SELECT customer FROM contacts WHERE customer LIKE '%odd.example'")" '"lee smith"@odd.example'

# --- Postfix: neither can: its own customer, logged with why; still one
# customer however it is spelled (a 70-character local part)
long=$(printf 'x%.0s' $(seq 1 70))
cap_run "$SMTP_PORT" postfix "$long@long.example" \
    "<$long@long.example>" \
    "<@a.example:$long@LONG.example>" \
    "<\"$long\"@long.example.>" \
    "<$long@long.example>"
t_check "logged: cannot be parsed, why, decided as its own customer (NOQUEUE, sender, client)" \
    cg_log_wait "NOQUEUE: from=<offers@offers.bank.example> client=127.0.0.1: recipient <@a.example:$long@LONG.example> cannot be parsed \(the local part is longer than 64 characters\); it is decided as its own customer <$long@long.example>" 10
t_eq "the over-long mailbox is one customer" \
    "$(sql "SELECT DISTINCT customer FROM contacts WHERE customer LIKE '%long.example'")" \
    "$long@long.example"

# --- Sendmail: the same spellings, and Sendmail's own paths ('%', '!')
if sm_available && sm_start "inet:$CG_PORT@127.0.0.1"; then
    cap_run "$SM_PORT" sendmail bea@cust.example \
        '<bea@cust.example>' \
        '<@a.example:bea@cust.example>' \
        '<@b.example,@c.example:bea@cust.example>' \
        '<"bea"@cust.example>' \
        '<bea@CUST.EXAMPLE.>' \
        '<bea%cust.example@localhost>' \
        '<cust.example!bea@localhost>' \
        '<bea (a comment)@cust.example>'
    one_customer bea@cust.example sendmail 5
    t_check "sendmail: the '%' path is decided by Sendmail's own form, logged with the queue ID" \
        cg_log_wait '^.*: [0-9A-Za-z]{14}: recipient <bea%cust.example@localhost>: the MTA resolved it to another mailbox; the MTA.s own form <bea@cust.example> is the customer address' 10
    sm_stop
else
    echo "SKIP - the private Sendmail is not available (apt-get download sendmail-bin sendmail-base sendmail-cf m4 libwrap0)"
fi

# --- contactgatectl: odd spellings act on the same customer
printf 'address,customer,timezone\n"@a.example:""Cat""@CUST.example.",C77,Europe/London\n' > "$E2E_DIR/map.csv"
chmod 644 "$E2E_DIR/map.csv"
out=$(cg_ctl customers import "$E2E_DIR/map.csv" 2>&1)
t_eq "customers import of an odd spelling" "$out" "added 1, updated 0"
t_eq "the map key is the normalised address" \
    "$(sql "SELECT address FROM customers WHERE customer = 'C77'")" "cat@cust.example"
out=$(rsmtp "$SMTP_PORT" "$OFFERS" '<cat@Cust.Example>' "promo for cat")
t_eq "a promotion to <cat@Cust.Example>: accepted" "$(data_code "$out")" 250
t_eq "and counted for the mapped customer C77" \
    "$(jget "$(cg_ctl --json history '"cat"@cust.example.')" 'r["customer"]+" "+str(len(r["events"]))')" "C77 1"

cg_ctl optout add '<@x.example:"Dan"@CUST.example.>' --category 'promotional.*' >/dev/null
out=$(rsmtp "$SMTP_PORT" "$OFFERS" '<dan@cust.example>' "promo for dan")
t_eq "optout add with an odd spelling: the promotion to dan gets 550" "$(rcpt_code "$out")" 550

cg_ctl state set '@a.example:fay@CUST.example' complaint >/dev/null
out=$(rsmtp "$SMTP_PORT" "$OFFERS" '<"fay"@cust.example>' "promo for fay")
t_eq "state set with an odd spelling: the promotion to fay gets 550" "$(rcpt_code "$out")" 550

for i in 1 2 3; do
    cg_ctl record '"Eve"@Cust.Example.' --department marketing --category promotional.offer \
        --channel sms >/dev/null
done
t_eq "record with an odd spelling: three contacts for eve@cust.example" \
    "$(sql "SELECT count(*)||' '||min(address) FROM contacts WHERE customer = 'eve@cust.example'")" \
    "3 eve@cust.example"
chk=$(cg_ctl --json check --from offers@offers.bank.example --to '@a.example:"EVE"@cust.example.')
t_eq "check with an odd spelling sees eve's contacts: defer at RCPT" \
    "$(jget "$chk" 'r["recipients"][0]["customer"]+" "+r["recipients"][0]["verdict"]')" \
    "eve@cust.example defer"
out=$(rsmtp "$SMTP_PORT" "$OFFERS" '<eve@cust.example>' "promo for eve")
t_eq "and the MTA agrees: 451" "$(rcpt_code "$out")" 451

out=$(cg_ctl --json forget '<"ANN"@Cust.Example.>')
t_eq "forget with an odd spelling erases ann's contacts" "$(jget "$out" 'r["customer"]+" "+str(r["contacts"])')" \
    "ann@cust.example 3"
t_eq "nothing of ann is left" "$(sql "SELECT count(*) FROM contacts WHERE customer = 'ann@cust.example'")" 0

out=$(cg_ctl history 'ann smith@cust.example' 2>&1); rc=$?
t_match "an unparseable address never seen: exit 1 with why" "$rc/$out" \
    '^1/contactgatectl: "ann smith@cust.example": the local part has two words without a dot between them$'
out=$(cg_ctl --json history "<@a.example:$long@LONG.example>" 2>"$E2E_DIR/stderr")
t_eq "one the milter decided as its own customer: history finds it" \
    "$(jget "$out" 'r["customer"]+" "+str(sum(1 for e in r["events"] if e["kind"]=="contact"))')" \
    "$long@long.example 3"
t_match "with a warning that says so" "$(cat "$E2E_DIR/stderr")" \
    'warning: ".*" is not an address \(the local part is longer than 64 characters\), but the milter decided such a recipient as the customer <x+@long.example>'
out=$(cg_ctl --json forget "\"$long\"@Long.Example" 2>/dev/null)
t_eq "and forget erases it" "$(jget "$out" 'str(r["contacts"])')" 3
out=$(printf 'address,customer,timezone\nann smith@cust.example,C9,\n' > "$E2E_DIR/bad.csv"; chmod 644 "$E2E_DIR/bad.csv"
      cg_ctl customers import "$E2E_DIR/bad.csv" 2>&1); rc=$?
t_eq "customers import refuses an unparseable address (exit 1)" "$rc" 1
t_match "naming line, field and why" "$out" 'bad.csv:2: address: "ann smith@cust.example" is not an address: the local part has two words'

t_done addr
