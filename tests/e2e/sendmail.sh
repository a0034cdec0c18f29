#!/bin/bash
# sendmail.sh - a private Sendmail 8.17 (Debian 12's packages, unpacked,
# not installed) next to the Postfix of the other tests. Source after lib.sh.
#
#   sm_available              0 when the private Sendmail is (or can be) there
#   sm_start MILTER_SOCKET    MTA on 127.0.0.1:$SM_PORT relaying to the sink,
#                             with sendmail-conf/contactgate.m4 included
#                             (SM_MILTER_MC: other m4 lines that wire the
#                             milter instead, e.g. the README's snippet;
#                             SM_DONT_BLAME: the DontBlameSendmail options,
#                             default TrustStickyBit (as Debian's
#                             debian-mta.m4), empty for none)
#   sm_submit FROM TO <MSG    local submission: Sendmail's MSP (submit.cf),
#                             which hands the message to the MTA over SMTP
#   sm_quarantined [-v]       the quarantine queue listing (mailq -qQ; -v: whole reasons)
#   sm_held ARGS...           contactgatectl held ARGS on this Sendmail
#   sm_stop
#
# Facts this relies on (checked on Debian 12): the unpacked binary has its
# setgid bit removed so LD_LIBRARY_PATH finds the unpacked libwrap; it runs
# under `unshare -u` with a dotted host name (an undotted one stalls start-up
# for 60 s); no DNS: a private service switch and hosts file, nocanonify,
# accept_unresolvable_domains, and a bracketed smart host whose port goes
# in the mailer arguments; relaying needs promiscuous_relay (loopback only).

SM_CACHE=${SM_CACHE:-/var/cache/contactgate-test/sendmail}
SM_ROOT=$SM_CACHE/root
SM_BIN=$SM_ROOT/usr/libexec/sendmail/sendmail
SM_HOST=mx.sendmail.test

sm_available() {
    [ -f "$SM_CACHE/ok" ] || sh "$CG_SRC/scripts/sendmail-private.sh" "$SM_CACHE" >/dev/null || return 1
    [ -x "$SM_BIN" ]
}

# sm_run ARGS... - the private binary with its libraries and host name
sm_run() {
    LD_LIBRARY_PATH=$SM_ROOT/usr/lib/x86_64-linux-gnu \
        unshare -u sh -c 'hostname "$0"; exec "$@"' "$SM_HOST" "$SM_BIN" "$@"
}

# sm_mc NAME BODY - write $SM_DIR/NAME.mc with the common head, build NAME.cf
sm_mc() {
    local name=$1 body=$2 blame="" opts=${SM_DONT_BLAME-TrustStickyBit}
    [ -n "$opts" ] && blame="define(\`confDONT_BLAME_SENDMAIL', \`$opts')dnl"
    cat > "$SM_DIR/$name.mc" <<EOF
divert(-1)
divert(0)dnl
include(\`$SM_ROOT/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(\`contactgate private test instance')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`$SM_HOST')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM_DIR/service.switch')dnl
define(\`confHOSTS_FILE', \`$SM_DIR/hosts')dnl
define(\`confHELP_FILE', \`$SM_ROOT/etc/mail/helpfile')dnl
$blame
define(\`confLOG_LEVEL', \`9')dnl
FEATURE(\`nocanonify')dnl
$body
EOF
    "$SM_ROOT/usr/bin/m4" "$SM_DIR/$name.mc" > "$SM_DIR/$name.cf" 2>"$SM_DIR/$name.m4.log"
}

# sm_start MILTER_SOCKET
sm_start() {
    SM_DIR=$E2E_DIR/sendmail
    SM_PORT=$(e2e_free_port)
    mkdir -p "$SM_DIR/mqueue" "$SM_DIR/clientmqueue"
    chmod 700 "$SM_DIR/mqueue"
    chown nobody:nogroup "$SM_DIR/clientmqueue"
    chmod 770 "$SM_DIR/clientmqueue"
    printf 'hosts files\naliases files\n' > "$SM_DIR/service.switch"
    printf '127.0.0.1 localhost %s\n' "$SM_HOST" > "$SM_DIR/hosts"
    : > "$SM_DIR/aliases"
    # the MTA: contactgate through the shipped fragment
    local wiring=${SM_MILTER_MC:-"define(\`CONTACTGATE_SOCKET', \`$1')dnl
include(\`$CG_SRC/sendmail-conf/contactgate.m4')dnl"}
    sm_mc sendmail "define(\`QUEUE_DIR', \`$SM_DIR/mqueue')dnl
define(\`confPID_FILE', \`$SM_DIR/sendmail.pid')dnl
define(\`STATUS_FILE', \`$SM_DIR/statistics')dnl
define(\`ALIAS_FILE', \`$SM_DIR/aliases')dnl
define(\`SMART_HOST', \`esmtp:[127.0.0.1]')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`promiscuous_relay')dnl
DAEMON_OPTIONS(\`Port=$SM_PORT, Addr=127.0.0.1, Name=MTA')dnl
$wiring
MAILER(\`smtp')dnl" || { echo "m4 failed:"; cat "$SM_DIR/sendmail.m4.log"; return 1; }
    # the MSP: what sendmail(1) on this host uses to submit, over SMTP
    sm_mc submit "define(\`confPID_FILE', \`$SM_DIR/submit.pid')dnl
define(\`STATUS_FILE', \`$SM_DIR/submit.st')dnl
define(\`MSP_QUEUE_DIR', \`$SM_DIR/clientmqueue')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SM_PORT')dnl
FEATURE(\`msp', \`[127.0.0.1]')dnl
define(\`confRUN_AS_USER', \`nobody:nogroup')dnl" || { echo "m4 (submit) failed"; return 1; }
    e2e_bg sm_run -C "$SM_DIR/sendmail.cf" -bD -L sm-contactgate-test >"$SM_DIR/sendmail.out" 2>&1
    SM_PID=$E2E_LAST_PID
    e2e_on_exit sm_stop
    # (60 s: under load, sendmail -bD has taken over 20 s to listen here)
    e2e_wait_port "$SM_PORT" 60 || { echo "sendmail did not listen:"; cat "$SM_DIR/sendmail.out"; return 1; }
}

sm_submit() { sm_run -C "$SM_DIR/submit.cf" -f "$1" "$2"; }
sm_quarantined() { sm_run -C "$SM_DIR/sendmail.cf" -bp -qQ "$@" 2>&1; }
# sm_held ARGS... - contactgatectl held on this Sendmail; its programs come
# from $SM_DIR/bin, where `sendmail` runs the private binary as sm_run does
sm_held() {
    if [ ! -x "$SM_DIR/bin/sendmail" ]; then
        mkdir -p "$SM_DIR/bin"
        cat > "$SM_DIR/bin/sendmail" <<EOF
#!/bin/sh
LD_LIBRARY_PATH=$SM_ROOT/usr/lib/x86_64-linux-gnu exec unshare -u sh -c 'hostname "\$0"; exec "\$@"' "$SM_HOST" "$SM_BIN" "\$@"
EOF
        chmod 755 "$SM_DIR/bin" "$SM_DIR/bin/sendmail"
    fi
    cg_ctl held "$@" --mta sendmail --sendmail-config "$SM_DIR/sendmail.cf" --command-dir "$SM_DIR/bin"
}
sm_stop() {
    [ -n "${SM_PID:-}" ] || return 0
    local pid
    pid=$(head -1 "$SM_DIR/sendmail.pid" 2>/dev/null)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    kill -TERM "$SM_PID" 2>/dev/null
    wait "$SM_PID" 2>/dev/null
    SM_PID=
}
