#!/bin/bash
# test_snippets.sh - every MTA snippet the admin is told to paste works as
# printed. Each is taken from the README (the fenced block after its
# "<!-- snippet: NAME -->" marker) or from sendmail-conf/, so this breaks
# when the docs break, and only the documented path prefix is substituted
# (/var/spool/postfix -> the private Postfix's queue directory,
# /run/contactgate -> a directory under /run of this test, the m4 file's
# /etc/mail/m4 -> sendmail-conf/).
#   - Postfix, not chrooted and chrooted (smtpd and cleanup, as Debian's
#     master.cf): each main.cf snippet through `postconf -e` line by line,
#     `postfix check`, exactly one milter, then mail over SMTP and through
#     sendmail(1), decided by contactgate on the socket the installed
#     configuration names; the full path fails in the chroot (the rule the
#     README states) and an inline comment is caught (451 4.3.5).
#   - Sendmail on a Sendmail-only host (an /etc/group without postfix and
#     with smmsp, in a private mount namespace): the unit's socket-dir
#     makes /run/contactgate contactgate:smmsp 2750, the README's m4
#     lines go into sendmail.mc verbatim, no DontBlameSendmail option,
#     and mail is decided.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
. "$here/sendmail.sh"
PY=/usr/bin/python3

e2e_setup snippets
README=$CG_SRC/README.md

# snip NAME - the fenced block after "<!-- snippet: NAME -->" in the README
snip() {
    awk -v name="$1" '
        $0 == "<!-- snippet: " name " -->" { want = 1; next }
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$README"
}
# maincf_lines FILE - the logical lines (name = value) of a main.cf text
maincf_lines() {
    awk '/^[ \t]*#/ || NF == 0 { next }
         /^[ \t]/ { line = line " " $0; next }
         { if (line != "") print line; line = $0 }
         END { if (line != "") print line }' "$1"
}
# json_socket FILE - the "socket" value of a JSON configuration
json_socket() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["socket"])' "$1"; }

for s in postfix-chroot postfix-nochroot sendmail-socket sendmail-mc build-deps; do
    t_check "README has the snippet $s" test -n "$(snip $s)"
done
pf_chroot=$(snip postfix-chroot)
pf_nochroot=$(snip postfix-nochroot)
printf '%s\n' "$pf_chroot" > "$E2E_DIR/chroot.cf"
printf '%s\n' "$pf_nochroot" > "$E2E_DIR/nochroot.cf"

# --- the snippets agree with each other and with the installed configuration
shipped=$(json_socket "$CG_SRC/sendmail-conf/contactgate.json")
t_eq "the installed configuration's socket is in Postfix's spool" \
    "$shipped" "unix:/var/spool/postfix/contactgate/contactgate.sock"
milter_of() { maincf_lines "$1" | sed -n 's/^smtpd_milters *= *//p'; }
t_eq "chrooted snippet: the socket relative to /var/spool/postfix" \
    "unix:/var/spool/postfix/$(milter_of "$E2E_DIR/chroot.cf" | sed 's/^unix://')" "$shipped"
t_eq "not chrooted: the full path" "$(milter_of "$E2E_DIR/nochroot.cf")" "$shipped"
t_eq "sendmail-conf/postfix-main.cf: the chrooted form" \
    "$(milter_of "$CG_SRC/sendmail-conf/postfix-main.cf")" "$(milter_of "$E2E_DIR/chroot.cf")"
for f in "$E2E_DIR/chroot.cf" "$E2E_DIR/nochroot.cf" "$CG_SRC/sendmail-conf/postfix-main.cf"; do
    t_eq "no inline comment in $(basename "$f")" "$(maincf_lines "$f" | grep -c '#')" 0
done
maincf_lines "$E2E_DIR/chroot.cf" | grep -v '^smtpd_milters' | while IFS= read -r l; do
    maincf_lines "$CG_SRC/sendmail-conf/postfix-main.cf" | grep -qxF "$l" || echo "$l"
done > "$E2E_DIR/differ"
t_eq "the README's settings are those of sendmail-conf/postfix-main.cf" "$(cat "$E2E_DIR/differ")" ""
sm_json=$(printf '{%s "x": 0}' "$(snip sendmail-socket)" > "$E2E_DIR/sm.json" && json_socket "$E2E_DIR/sm.json")
t_eq "Sendmail: the socket in contactgate.json" "$sm_json" "unix:/run/contactgate/contactgate.sock"
t_eq "Sendmail: the same socket in sendmail.mc" \
    "$(snip sendmail-mc | sed -n "s/^define(\`CONTACTGATE_SOCKET', \`local:\(.*\)')dnl\$/\1/p")" "${sm_json#unix:}"
t_eq "Sendmail: the same socket is the m4 fragment's default" \
    "$(sed -n "s/^ifdef(\`CONTACTGATE_SOCKET', \`', \`define(\`CONTACTGATE_SOCKET', \`local:\(.*\)')')dnl\$/\1/p" \
        "$CG_SRC/sendmail-conf/contactgate.m4")" "${sm_json#unix:}"
t_eq "the README's build packages are what make deps installs (BUILD_PKGS)" \
    "$(snip build-deps | sed 's/^apt-get install //' | tr ' ' '\n' | sort | tr '\n' ' ')" \
    "$(sed -n '/^BUILD_PKGS="/,/^"/p' "$CG_SRC/scripts/deps.sh" | grep -v '"' | sort | tr '\n' ' ')"

# --- contactgate on the installed configuration's socket, under the
#     private Postfix's queue directory, the directory made by socket-dir
E2E_PF_CHROOT="" e2e_postfix_config "" || t_fail "postfix configured"
e2e_start_sink || t_fail "capture server starts"
CG_PORT=0
cg_config "$E2E_DIR/cg.json"
pf_sock=$(printf '%s' "$shipped" | sed "s|/var/spool/postfix|$E2E_QUEUE|")
sed -i "s|\"socket\": \"inet:0@127.0.0.1\"|\"socket\": \"$pf_sock\"|" "$CG_CONFIG"
# the unit's ExecStartPre, with the test's daemon user and binary
SOCKET_DIR=(env CONTACTGATE_BIN="$CG_BIN" CONTACTGATE_DEFAULTS=/nonexistent
            sh "$CG_SRC/sendmail-conf/socket-dir.sh" -u "$CG_USER")
t_check "socket-dir makes the socket's directory" "${SOCKET_DIR[@]}" -c "$CG_CONFIG"
t_eq "contactgate:postfix 2750 (here $CG_USER:postfix)" \
    "$(stat -c '%a %U:%G' "$E2E_QUEUE/contactgate")" "2750 $CG_USER:postfix"
# start_cg CONFIG SOCKET - the daemon in the foreground, until the socket is there
start_cg() {
    CG_LOG=$E2E_DIR/contactgate/contactgate.log
    e2e_bg "$CG_BIN" -f -u "$CG_USER" -c "$1" 2>>"$CG_LOG"
    local i
    for i in $(seq 1 100); do [ -S "$2" ] && return 0; sleep 0.1; done
    echo "contactgate did not make $2:"; cat "$CG_LOG"; return 1
}
start_cg "$CG_CONFIG" "${pf_sock#unix:}" || t_fail "contactgate starts"
t_eq "the socket: 0660, the MTA's group" "$(stat -c '%a %G' "${pf_sock#unix:}")" "660 postfix"

# pf_apply FILE - each line of a main.cf text through postconf -e, the
# documented path prefix moved into the private queue directory
pf_apply() {
    local l
    while IFS= read -r l; do
        postconf -c "$POSTFIX_CONF" -e "$(printf '%s' "$l" | sed "s|/var/spool/postfix|$E2E_QUEUE|g")" || return 1
    done < <(maincf_lines "$1")
}
milters() { postconf -c "$POSTFIX_CONF" -xh "$1" | tr ', ' '\n\n' | grep -c .; }
n=0
# smtp_decided WHAT - a message over SMTP is accepted and contactgate decided it
smtp_decided() {
    n=$((n + 1))
    local out qid
    out=$($PY "$here/smtpc.py" --port "$SMTP_PORT" --from billing@bank.example \
          --to "smtp$n@example.com" --subject "snippet $n")
    qid=$($PY -c 'import json,sys,re; m=re.search(r"queued as (\w+)", json.loads(sys.argv[1])["data"]["text"]); print(m.group(1) if m else "")' "$out" 2>/dev/null)
    if [ -n "$qid" ] && cg_log_wait "$qid: ref=CG[0-9A-F]+ stage=eom verdict=accept dept=billing" 10; then
        t_ok "$1: SMTP mail accepted and decided by contactgate ($qid)"
    else
        t_fail "$1: SMTP mail accepted and decided by contactgate" "$out"
    fi
}
# local_decided WHAT - a sendmail(1) submission reaches contactgate (cleanup)
local_decided() {
    n=$((n + 1))
    printf 'Subject: snippet %s\n\nlocal\n' "$n" |
        sendmail -C "$POSTFIX_CONF" -f billing@bank.example "local$n@example.com"
    t_check "$1: sendmail(1) mail decided by contactgate (non_smtpd_milters)" \
        cg_log_wait "stage=eom verdict=accept dept=billing .*rcpt=<local$n@example.com>" 15
}

# --- Postfix without chroot: the full path
t_check "postconf -e takes the not-chrooted snippet" pf_apply "$E2E_DIR/nochroot.cf"
e2e_run_postfix || t_fail "postfix check and start (not chrooted)"
t_eq "one milter in smtpd_milters" "$(milters smtpd_milters)" 1
t_eq "one milter in non_smtpd_milters" "$(milters non_smtpd_milters)" 1
smtp_decided "not chrooted, full path"
local_decided "not chrooted, full path"
# the relative name works without the chroot too (the daemons run in the queue directory)
pf_apply "$E2E_DIR/chroot.cf"
e2e_run_postfix || t_fail "postfix restarts"
smtp_decided "not chrooted, relative name"

# --- Postfix with smtpd and cleanup chrooted to the queue directory
E2E_PF_CHROOT="smtpd cleanup" e2e_postfix_config ""
t_eq "smtpd and cleanup run chrooted" \
    "$(postconf -c "$POSTFIX_CONF" -F "127.0.0.1:$SMTP_PORT/inet/chroot" cleanup/unix/chroot | sed 's/.* = //' | tr '\n' ' ')" "y y "
t_check "postconf -e takes the chrooted snippet" pf_apply "$E2E_DIR/chroot.cf"
e2e_run_postfix || t_fail "postfix check and start (chrooted)"
t_eq "one milter in smtpd_milters" "$(milters smtpd_milters)" 1
t_eq "one milter in non_smtpd_milters" "$(milters non_smtpd_milters)" 1
smtp_decided "chrooted, relative name"
local_decided "chrooted, relative name"
# the full path does not exist inside the chroot: every message tempfails
pf_apply "$E2E_DIR/nochroot.cf"
e2e_run_postfix || t_fail "postfix restarts"
out=$($PY "$here/smtpc.py" --port "$SMTP_PORT" --from billing@bank.example --to full@example.com --subject "full path")
t_match "chrooted with the full path: tempfailed (milter_default_action)" "$out" '"code": 4[0-9][0-9]'
t_check "Postfix logs the milter it cannot reach" \
    e2e_log_wait "connect to Milter service $pf_sock: No such file or directory" 10
# the whole commented file, chrooted
t_check "postconf -e takes sendmail-conf/postfix-main.cf" pf_apply "$CG_SRC/sendmail-conf/postfix-main.cf"
e2e_run_postfix || t_fail "postfix check and start with postfix-main.cf"
t_eq "postfix check says nothing about it" "$(cat "$E2E_DIR/postfix/check.log")" ""
t_eq "one milter in smtpd_milters" "$(milters smtpd_milters)" 1
smtp_decided "chrooted, sendmail-conf/postfix-main.cf"
# what the README used to print: an inline comment (the trap this suite catches)
postconf -c "$POSTFIX_CONF" -e 'smtpd_milters = unix:contactgate/contactgate.sock    # chrooted smtpd; else the full path'
e2e_run_postfix || t_fail "postfix restarts"
t_check "an inline comment shows as more milters" test "$(milters smtpd_milters)" -gt 1
out=$($PY "$here/smtpc.py" --port "$SMTP_PORT" --from billing@bank.example --to trap@example.com --subject "trap")
t_match "and every session gets 451 4.3.5" "$out" '4\.3\.5 Server configuration problem'
e2e_stop_postfix

# --- Sendmail on a Sendmail-only host
if ! sm_available; then
    echo "SKIP - Sendmail packages could not be fetched (Sendmail part)"
    t_done snippets; exit $?
fi
run=$(mktemp -d /run/cg-e2e-snippets.XXXXXX) || { t_fail "a directory under /run"; t_done snippets; exit 1; }
chmod 755 "$run"
e2e_on_exit "rm -rf '$run'"
sm_sock=$(printf '%s' "$sm_json" | sed "s|/run/contactgate|$run/contactgate|")
CG_DB=$E2E_DIR/contactgate/sm-history.db
cg_config "$E2E_DIR/cg-sm.json"
sed -i "s|^ *\"socket\": \"inet:0@127.0.0.1\",\$|$(snip sendmail-socket | sed "s|/run/contactgate|$run/contactgate|")|" "$CG_CONFIG"
t_eq "the README's socket line in the configuration" "$(json_socket "$CG_CONFIG")" "$sm_sock"
# the host's groups: smmsp, no postfix (a bind mount in a private namespace)
smmsp_gid=64998
while getent group "$smmsp_gid" >/dev/null; do smmsp_gid=$((smmsp_gid - 1)); done
grep -v '^postfix:' /etc/group > "$E2E_DIR/group"
echo "smmsp:x:$smmsp_gid:" >> "$E2E_DIR/group"
sendmail_host() {
    unshare -m --propagation private sh -c 'mount --bind "$0" /etc/group && exec "$@"' "$E2E_DIR/group" "$@"
}
# RuntimeDirectory first (contactgate:contactgate 0750), then ExecStartPre
install -d -o "$CG_USER" -g "$(id -gn "$CG_USER")" -m 0750 "$run/contactgate"
t_check "socket-dir on a Sendmail-only host" sendmail_host "${SOCKET_DIR[@]}" -c "$CG_CONFIG"
t_eq "/run/contactgate becomes contactgate:smmsp 2750" \
    "$(stat -c '%a %U %g' "$run/contactgate")" "2750 $CG_USER $smmsp_gid"
# the installed configuration as shipped (Postfix's socket), paths staged
sed -e "s|@LIBDIR@/plugins|$E2E_DIR/stage/plugins|" -e "s|@SHAREDIR@/policies|$E2E_DIR/stage/policies|" \
    "$CG_SRC/sendmail-conf/contactgate.json" > "$E2E_DIR/shipped.json"
out=$(sendmail_host "${SOCKET_DIR[@]}" -c "$E2E_DIR/shipped.json" 2>&1)
t_match "the Postfix socket path on a Sendmail host: refused, saying what to set" "$out" \
    'is in Postfix.s queue directory, but the MTA.s group is smmsp: on a Sendmail host set "socket": "unix:/run/contactgate/contactgate.sock"'
start_cg "$CG_CONFIG" "${sm_sock#unix:}" || t_fail "contactgate starts on the Sendmail socket"
t_eq "the socket: 0660, group smmsp" "$(stat -c '%a %g' "${sm_sock#unix:}")" "660 $smmsp_gid"

SM_DONT_BLAME="" SM_MILTER_MC=$(snip sendmail-mc | sed -e "s|/run/contactgate|$run/contactgate|g" \
    -e "s|/etc/mail/m4/contactgate.m4|$CG_SRC/sendmail-conf/contactgate.m4|") \
    sm_start "" || t_fail "sendmail starts with the README's lines"
t_check "sendmail.cf: contactgate on the socket, F=T" \
    grep -q "^Xcontactgate, S=local:$run/contactgate/contactgate.sock, F=T" "$SM_DIR/sendmail.cf"
t_eq "no DontBlameSendmail option" "$(grep -c '^O DontBlameSendmail' "$SM_DIR/sendmail.cf")" 0
out=$($PY "$here/smtpc.py" --port "$SM_PORT" --from billing@bank.example --to sm-bill@example.com --subject "Bill via Sendmail")
t_match "Sendmail: a bill is accepted" "$out" '"data": \{"code": 250'
t_check "and decided by contactgate" cg_log_wait 'stage=eom verdict=accept dept=billing .*rcpt=<sm-bill@example.com>' 15
cg_ctl state set sm-ann@example.com complaint >/dev/null
out=$($PY "$here/smtpc.py" --port "$SM_PORT" --from offers@offers.bank.example --to sm-ann@example.com --subject "Promo via Sendmail")
t_match "Sendmail: a promotion to a complaint customer gets contactgate's 550" "$out" \
    '"code": 550, "text": "5\.7\.1 .*contact strategy: '

t_done snippets
