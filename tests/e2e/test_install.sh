#!/bin/bash
# test_install.sh - make install into a staging tree, and the daemon as a
# mail admin runs it: started as root with -u, a pid file, a unix socket
# that only the MTA's group can reach (the directory made by the installed
# socket-dir, as the unit does), a history the MTA cannot read, and a real
# Postfix using that socket; the README and the unit describe the same
# layout; make uninstall removes what make install installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup install

# --- make install DESTDIR=...
# into root's trusted directory: plugins load only from directories no one
# else can write, and $E2E_DIR is under /tmp (cg.sh cg_trusted_dir)
cg_trusted_dir >/dev/null || { t_fail "a trusted directory for the install"; t_done install; exit 1; }
dest=$CG_TRUSTED/dest
out=$(make -C "$CG_SRC" --no-print-directory BUILD="$CG_BUILD" install DESTDIR="$dest" PREFIX=/usr 2>&1)
t_eq "make install DESTDIR=... PREFIX=/usr succeeds" "$?" 0
for f in usr/sbin/contactgate usr/sbin/contactgatectl \
         usr/lib/contactgate/plugins/frequency.so usr/lib/contactgate/plugins/customer_state.so \
         usr/include/contactgate/plugin.h usr/share/man/man8/contactgate.8 \
         usr/share/man/man8/contactgatectl.8 usr/share/man/man5/contactgate.json.5 \
         usr/share/contactgate/policies/retail-bank.json usr/libexec/contactgate/socket-dir \
         usr/share/contactgate/contactgate.m4 usr/share/contactgate/postfix-main.cf \
         usr/lib/systemd/system/contactgate.service etc/contactgate/contactgate.json \
         etc/default/contactgate; do
    t_check "installed: /$f" test -f "$dest/$f"
done
# (counted both ways: an empty directory would pass a "none writable" alone)
t_eq "every plugin installed, none group/world-writable" \
    "$(find "$dest/usr/lib/contactgate/plugins" -name '*.so' | wc -l) $(find "$dest/usr/lib/contactgate/plugins" -name '*.so' -perm /022 | wc -l)" \
    "$(ls "$CG_BUILD"/plugins/*.so | wc -l) 0"
t_check "the unit runs contactgate as its own user with -u" \
    grep -q '^ExecStart=/usr/sbin/contactgate -u contactgate -p /run/contactgate/contactgate.pid' \
    "$dest/usr/lib/systemd/system/contactgate.service"
t_check "the example config points at the installed plugins and policies" \
    grep -q '"/usr/lib/contactgate/plugins"' "$dest/etc/contactgate/contactgate.json"
# the installed example config is valid (with its paths moved into the staging tree)
sed "s|\"/usr/|\"$dest/usr/|g" "$dest/etc/contactgate/contactgate.json" > "$E2E_DIR/staged.json"
t_check "contactgate -n accepts the installed example config and plugins" \
    "$dest/usr/sbin/contactgate" -n -c "$E2E_DIR/staged.json"
# the example plugin builds against the installed header alone and loads
ex=$CG_TRUSTED/explugins
mkdir -p "$ex"
t_check "installed: the example plugin source" test -f "$dest/usr/share/contactgate/examples/require_header.c"
t_check "the example plugin builds against the installed header only" \
    cc -std=c11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -shared -I"$dest/usr/include" \
    -o "$ex/require_header.so" "$dest/usr/share/contactgate/examples/require_header.c"
chmod 755 "$ex/require_header.so"
t_eq "the example plugin exports one symbol" \
    "$(nm -D --defined-only "$ex/require_header.so" | awk '$2 ~ /[DTBR]/ {print $3}' | tr '\n' ' ')" "cg_plugin_descriptor "
printf '{"plugin_dir": "%s", "database": "%s/ex.db", "departments": [{"name": "m", "match": {"sender": "*@m.example"}, "default_category": "promotional.offer"}],\n "policies": [{"name": "campaigns-need-an-id", "plugin": "require_header", "action": "reject", "params": %s}]}\n' \
    "$ex" "$E2E_DIR" '{"header": "X-Campaign-Id"}' > "$E2E_DIR/ex.json"
t_match "contactgate -n loads the example plugin" "$("$dest/usr/sbin/contactgate" -n -c "$E2E_DIR/ex.json" 2>&1)" \
    'campaigns-need-an-id: require_header 1\.0, action reject'
sed -i 's/{"header": "X-Campaign-Id"}/{"heder": "X-Campaign-Id"}/' "$E2E_DIR/ex.json"
t_match "the example plugin's params are validated with the key path" \
    "$("$dest/usr/sbin/contactgate" -n -c "$E2E_DIR/ex.json" 2>&1)" 'policies\[0\]\.params\.heder'

unit=$dest/usr/lib/systemd/system/contactgate.service
t_check "the unit makes the socket directory with the installed socket-dir" \
    grep -qx 'ExecStartPre=+/usr/libexec/contactgate/socket-dir -u contactgate -c /etc/contactgate/contactgate.json' "$unit"
t_check "the unit reads /etc/default/contactgate" grep -qx 'EnvironmentFile=-/etc/default/contactgate' "$unit"
t_eq "no @PLACEHOLDER@ left in what was installed" \
    "$(grep -rl '@[A-Z]*DIR@' "$dest" | wc -l)" 0
# the README's "Who can read what" is the layout the unit builds
readme=$CG_SRC/README.md
t_check "unit: the history directory 0750 (StateDirectoryMode)" grep -qx 'StateDirectoryMode=0750' "$unit"
t_check "unit: nothing it creates readable by others (UMask=0077)" grep -qx 'UMask=0077' "$unit"
t_match "README: the history 0750, files 0600, the daemon's user only" "$(cat "$readme")" \
    '^\| `/var/lib/contactgate/`, `history.db\*` \| `contactgate:contactgate` .*\| 0750, files 0600 \|$'
t_match "README: the Postfix socket directory contactgate:postfix 2750" "$(cat "$readme")" \
    '^\| socket directory \(Postfix: `/var/spool/postfix/contactgate/`\) \| `contactgate:postfix` \| 2750 \|$'
t_match "README: the Sendmail socket directory contactgate:smmsp 2750" "$(cat "$readme")" \
    '^\| socket directory \(Sendmail: `/run/contactgate/`.*\) \| `contactgate:smmsp` \| 2750 \|$'
t_eq "README and unit: adduser postfix contactgate only ever as what never to do" \
    "$(awk -v RS= '/adduser postfix/ && !/Never add/' "$readme" "$unit" | wc -l)" 0

echo '{"socket": "unix:/x"}' > "$dest/etc/contactgate/contactgate.json"
chmod 640 "$dest/etc/contactgate/contactgate.json"
echo 'CONTACTGATE_MTA_GROUP=smmsp' > "$dest/etc/default/contactgate"
out=$(make -C "$CG_SRC" --no-print-directory BUILD="$CG_BUILD" install DESTDIR="$dest" PREFIX=/usr 2>&1)
t_check "make install never overwrites an existing config" \
    grep -q 'unix:/x' "$dest/etc/contactgate/contactgate.json"
t_eq "and leaves its mode alone" "$(stat -c %a "$dest/etc/contactgate/contactgate.json")" 640
t_check "nor /etc/default/contactgate" grep -qx 'CONTACTGATE_MTA_GROUP=smmsp' "$dest/etc/default/contactgate"
t_match "and says so" "$out" "install: kept $dest/etc/contactgate/contactgate.json"
grep -q '"plugin_dir": "/usr/lib/contactgate/plugins"' "$dest/etc/contactgate/contactgate.json" ||
    t_ok "(config kept as the admin left it)"

# --- root without -u is refused
CG_PORT=$(e2e_free_port)
cg_config "$E2E_DIR/cg.json"
err=$("$CG_BIN" -f -c "$CG_CONFIG" 2>&1); rc=$?
t_eq "as root without -u: refuses to start" "$rc" 1
t_match "and says why" "$err" 'refusing to run as root: give -u USER'
err=$("$CG_BIN" -f -u no-such-user-xyz -c "$CG_CONFIG" 2>&1)
t_match "-u with an unknown user: clear error" "$err" '-u no-such-user-xyz: no such user'

# --- root with -u: runs as that user; pid file; unix socket 0660 in a
#     setgid directory of the MTA's group
rundir=$E2E_DIR/run
sock=$rundir/contactgate.sock
cg_config "$E2E_DIR/cg-unix.json"
sed -i "s|\"socket\": \"inet:$CG_PORT@127.0.0.1\"|\"socket\": \"unix:$sock\"|" "$CG_CONFIG"
# the directories as the unit makes them: StateDirectory 0750, then its
# ExecStartPre, the installed socket-dir (the MTA's group: postfix here)
chmod 750 "$(dirname "$CG_DB")"
out=$(CONTACTGATE_BIN=$CG_BIN CONTACTGATE_DEFAULTS=/nonexistent "$dest/usr/libexec/contactgate/socket-dir" \
      -u "$CG_USER" -c "$CG_CONFIG" 2>&1)
t_eq "the installed socket-dir makes the socket directory" "$?" 0
t_eq "owner the daemon's user, group the MTA's, setgid, 2750" "$(stat -c '%a %U %G' "$rundir")" "2750 $CG_USER postfix"
out=$(CONTACTGATE_BIN=$CG_BIN CONTACTGATE_DEFAULTS=/nonexistent CONTACTGATE_MTA_GROUP=no-such-group-xyz \
      "$dest/usr/libexec/contactgate/socket-dir" -u "$CG_USER" -c "$CG_CONFIG" 2>&1)
t_match "an unknown CONTACTGATE_MTA_GROUP: clear error" "$out" 'CONTACTGATE_MTA_GROUP=no-such-group-xyz: no such group'
out=$(CONTACTGATE_BIN=$CG_BIN "$dest/usr/libexec/contactgate/socket-dir" -u "$CG_USER" -c "$E2E_DIR/cg.json" 2>&1)
t_eq "an inet socket: socket-dir has nothing to do" "$?:$out" "0:"
out=$(CONTACTGATE_BIN=$CG_BIN "$dest/usr/libexec/contactgate/socket-dir" -u no-such-user-xyz -c "$CG_CONFIG" 2>&1)
t_match "an unknown user: clear error" "$out" '-u no-such-user-xyz: no such user'
out=$(CONTACTGATE_BIN=$CG_BIN "$dest/usr/libexec/contactgate/socket-dir" -u "$CG_USER" -c "$E2E_DIR/nonexistent.json" 2>&1)
t_match "a configuration that does not load: its error" "$out" "socket-dir: $E2E_DIR/nonexistent.json: contactgate: .*nonexistent.json"
# upgrade: the history is a database of the first schema (checked-in dump)
sqlite3 "$CG_DB" < "$CG_SRC/tests/fixtures/history-v1.sql"
chown "$CG_USER" "$CG_DB"
t_eq "the fixture is schema version 1" "$(sqlite3 "$CG_DB" 'PRAGMA user_version')" 1
CG_LOG=$E2E_DIR/contactgate/contactgate.log
e2e_bg "$CG_BIN" -f -u "$CG_USER" -p "$rundir/contactgate.pid" -c "$CG_CONFIG" 2>>"$CG_LOG"
CG_PID=$E2E_LAST_PID
for i in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
t_check "the unix socket exists" test -S "$sock"
t_eq "the daemon runs as $CG_USER" "$(ps -o user= -p "$CG_PID" | tr -d ' ')" "$CG_USER"
t_eq "socket mode is 0660 (never world-accessible)" "$(stat -c %a "$sock")" 660
t_eq "socket group is the MTA's (setgid directory)" "$(stat -c %G "$sock")" postfix
t_eq "the pid file holds the daemon's pid" "$(cat "$rundir/contactgate.pid" 2>/dev/null)" "$CG_PID"
t_eq "the database belongs to $CG_USER" "$(stat -c %U "$CG_DB" 2>/dev/null)" "$CG_USER"
t_eq "start-up migrated it in place to the current schema" "$(sqlite3 "$CG_DB" 'PRAGMA user_version')" 4

# a real Postfix (smtpd runs as user postfix) reaches the socket
e2e_start_sink
e2e_start_postfix "unix:$sock" || t_fail "postfix starts"
out=$($PY "$here/smtpc.py" --port "$SMTP_PORT" --from billing@bank.example --to una@example.com --subject "Via unix socket")
t_eq "mail through the unix socket: accepted" \
    "$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["code"])' "$out")" 250
e2e_sink_wait 1 15
t_check "and delivered" e2e_sink_grep "Subject: Via unix socket"
t_check "contactgate decided it (not milter_default_action)" cg_log_wait 'stage=eom verdict=accept dept=billing' 5
out=$($PY "$here/smtpc.py" --port "$SMTP_PORT" --from offers@offers.bank.example --to ann@example.com --subject "Promo")
t_eq "the migrated history still applies: C-1001's complaint blocks a promotion (550)" \
    "$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["rcpt"][0]["code"])' "$out")" 550
# on a unix socket connect, MAIL and headers get no reply and DATA is not
# sent (no Nagle delay there; over TCP test_core.sh checks the opposite)
neg=$($PY "$here/milter_optneg.py" "unix:$sock")
t_match "unix socket: DATA dropped, no reply to connect, MAIL and headers" \
    "$($PY -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["protocol_flags"]))' "$neg")" \
    '^NOHELO NOBODY NOEOH NR_HDR NOUNKNOWN NODATA NR_CONN NR_MAIL$'
# headers still arrive without replies: the control header is counted and removed
out=$($PY "$here/smtpc.py" --port "$SMTP_PORT" --from billing@bank.example --to uma@example.com \
      --subject "Headers via unix socket" --header "X-Contact-Category: transactional.bill")
t_eq "a message with a control header through the unix socket: accepted" \
    "$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["code"])' "$out")" 250
e2e_sink_wait 2 15
t_check "and delivered" e2e_sink_grep "Subject: Headers via unix socket"
t_check "without the control header (seen with no reply, removed at end of message)" \
    sh -c "! grep -rqi '^X-Contact-Category:' '$E2E_DIR/sink'"
# contactgatectl as root acts as the database owner: the WAL stays usable
cg_ctl state set una@example.com complaint >/dev/null
# (each file named: "none owned by root" alone would pass with no -wal at all)
t_eq "files SQLite created for contactgatectl belong to $CG_USER" \
    "$(cd "$(dirname "$CG_DB")" && stat -c '%n %U' history.db history.db-shm history.db-wal 2>&1)" \
    "$(printf 'history.db %s\nhistory.db-shm %s\nhistory.db-wal %s' "$CG_USER" "$CG_USER" "$CG_USER")"
t_check "the postfix user cannot read the history (directory 0750)" \
    sh -c "! runuser -u postfix -- cat '$CG_DB' >/dev/null 2>&1"
cg_stop
t_check "the pid file is removed at exit" test ! -e "$rundir/contactgate.pid"

# --- make uninstall: what make install installed goes; /etc stays, with a note
touch "$dest/usr/lib/contactgate/plugins/mine.so"
out=$(make -C "$CG_SRC" --no-print-directory BUILD="$CG_BUILD" uninstall DESTDIR="$dest" PREFIX=/usr 2>&1)
t_eq "make uninstall succeeds" "$?" 0
t_eq "every file make install put under /usr is gone (but the admin's plugin)" \
    "$(find "$dest/usr" -type f | sed "s|^$dest||")" "/usr/lib/contactgate/plugins/mine.so"
t_eq "and contactgate's own directories" \
    "$(find "$dest/usr" -type d | sed "s|^$dest||" | grep contactgate | sort | tr '\n' ' ')" \
    "/usr/lib/contactgate /usr/lib/contactgate/plugins "
t_match "it says which directory it kept and why" "$out" \
    "kept $dest/usr/lib/contactgate/plugins: it holds files make install did not put there"
t_check "the configuration is left in place" test -f "$dest/etc/contactgate/contactgate.json"
t_check "and /etc/default/contactgate" test -f "$dest/etc/default/contactgate"
t_match "the note says what is left in place" "$out" '^uninstall: left in place'
t_match "the configuration" "$out" "^  $dest/etc/contactgate\$"
t_match "/etc/default/contactgate" "$out" "^  $dest/etc/default/contactgate\$"

t_done install
