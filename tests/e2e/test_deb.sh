#!/bin/bash
# test_deb.sh - make deb: the package's files, control data and lintian's
# verdict, then its maintainer scripts run by the real dpkg in a throwaway
# root: an overlay over / in a private mount namespace, chrooted into, so
# every write (the user in /etc/passwd, /usr, /var) lands in $E2E_DIR and
# the machine's own system is never changed. In there: install, the unit's
# own start-up commands, the MTA's user reaching the socket but not the
# history, an edited conffile kept on reinstall, remove (data kept), purge
# (data and user gone).
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"

e2e_setup deb
if ! command -v dh >/dev/null || ! command -v dpkg-buildpackage >/dev/null; then
    echo "SKIP - debhelper is not installed (make deps-test or make deps-deb installs it)"
    t_done deb; exit $?
fi
host_passwd=$(md5sum < /etc/passwd)
host_group=$(md5sum < /etc/group)
host_had_sbin=$([ -e /usr/sbin/contactgate ] && echo yes || echo no)

# --- make deb
out=$(make -C "$CG_SRC" --no-print-directory BUILD="$E2E_DIR/b" deb 2>&1); rc=$?
t_eq "make deb succeeds (dpkg-buildpackage, then lintian --fail-on error)" "$rc" 0
[ $rc = 0 ] || printf '%s\n' "$out" | tail -30
deb=$(ls "$E2E_DIR"/b/deb/contactgate_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { t_fail "a contactgate_*_amd64.deb was built"; t_done deb; exit 1; }

files=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
for f in /usr/sbin/contactgate /usr/sbin/contactgatectl /usr/libexec/contactgate/socket-dir \
         /usr/include/contactgate/plugin.h /usr/share/contactgate/examples/require_header.c \
         /usr/share/man/man8/contactgate.8.gz /usr/share/man/man8/contactgatectl.8.gz \
         /usr/share/man/man5/contactgate.json.5.gz /usr/share/contactgate/policies/retail-bank.json \
         /usr/share/contactgate/contactgate.m4 /usr/share/contactgate/postfix-main.cf \
         /lib/systemd/system/contactgate.service /etc/contactgate/contactgate.json \
         /etc/default/contactgate /usr/share/doc/contactgate/copyright; do
    t_match "the package holds $f" "$files" "^$f\$"
done
for p in "$CG_SRC"/plugins/*/; do
    p=$(basename "$p")
    t_match "the package holds the plugin $p" "$files" "^/usr/lib/contactgate/plugins/$p\.so\$"
done
t_eq "nothing under /var or /run in the package (made by the maintainer scripts and the unit)" \
    "$(printf '%s\n' "$files" | grep -cE '^/(var|run)/')" 0
t_eq "conffiles: the configuration and /etc/default/contactgate" \
    "$(dpkg-deb -I "$deb" conffiles | sort | tr '\n' ' ')" "/etc/contactgate/contactgate.json /etc/default/contactgate "
deps=$(dpkg-deb -f "$deb" Depends)
for d in adduser libmilter1.0.1 libsqlite3-0 libjansson4 libicu72 libspf2-2; do
    t_match "Depends: $d" "$deps" "(^|, )$d( |,|\$)"
done
conf=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./etc/contactgate/contactgate.json)
t_match "the configuration starts in monitor mode" "$conf" '"mode": "monitor"'
t_match "and points at the packaged plugins" "$conf" '"plugin_dir": "/usr/lib/contactgate/plugins"'
unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./lib/systemd/system/contactgate.service)
t_match "the unit makes the socket directory before the daemon starts" "$unit" \
    '^ExecStartPre=\+/usr/libexec/contactgate/socket-dir -u contactgate -c /etc/contactgate/contactgate.json$'
t_match "the unit runs the packaged daemon" "$unit" '^ExecStart=/usr/sbin/contactgate -u contactgate '
if command -v lintian >/dev/null; then
    lint=$(lintian "$deb" 2>&1 | grep -v 'running with root privileges')
    t_eq "lintian: no errors" "$(printf '%s\n' "$lint" | grep -c '^E:')" 0
    [ -n "$lint" ] && printf '%s\n' "$lint" | sed 's/^/    lintian: /'
fi
# every build dependency deps.sh installs is declared (a clean build would miss it)
bdeps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$CG_SRC/debian/control")
for p in $(sed -n '/^BUILD_PKGS="/,/^"/p' "$CG_SRC/scripts/deps.sh" | grep -v '"'); do
    [ "$p" = build-essential ] && continue
    t_match "debian/control Build-Depends has $p (scripts/deps.sh BUILD_PKGS)" "$bdeps" "[ ,]$p([ ,(]|\$)"
done

# --- the throwaway root
root=$E2E_DIR/root
mkdir -p "$root/upper/usr/sbin" "$root/work" "$root/merged"
# no service is started from inside (policy-rc.d; and no /run/systemd/system)
printf '#!/bin/sh\nexit 101\n' > "$root/upper/usr/sbin/policy-rc.d"
chmod 755 "$root/upper/usr/sbin/policy-rc.d"
cp "$deb" "$root/contactgate.deb"
cp "$here/milter_optneg.py" "$root/milter_optneg.py"
# in_root SCRIPT - run SCRIPT (sh) as root in the throwaway root; its own
# mount namespace ends with it, the overlay's upper layer stays. Every step
# execs the next, so "${IN_ROOT[@]}" SCRIPT started in the background has
# the pid of SCRIPT's last exec.
IN_ROOT=(unshare -m --propagation private sh -c '
    r=$1
    mount -t overlay overlay -o "lowerdir=/,upperdir=$r/upper,workdir=$r/work" "$r/merged" || exit 98
    mount -t proc proc "$r/merged/proc" && mount --rbind /dev "$r/merged/dev" &&
        mount -t tmpfs -o mode=755 tmpfs "$r/merged/run" || exit 98
    exec chroot "$r/merged" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        DEB=$r/contactgate.deb OPTNEG=$r/milter_optneg.py sh -c "$2"' in_root "$root")
in_root() { "${IN_ROOT[@]}" "$1"; }
if ! in_root 'true'; then
    echo "SKIP - no overlay mount in a private namespace here (needs root and overlayfs)"
    t_done deb; exit $?
fi

out=$(in_root 'dpkg -i "$DEB" 2>&1'); rc=$?
t_eq "dpkg -i in the throwaway root" "$rc" 0
[ $rc = 0 ] || printf '%s\n' "$out"
t_match "the system user contactgate, home /var/lib/contactgate, no login" \
    "$(in_root 'getent passwd contactgate')" '^contactgate:x:[0-9]+:[0-9]+:contactgate milter[,]*:/var/lib/contactgate:/usr/sbin/nologin$'
uid=$(in_root 'id -u contactgate')
t_check "a system uid ($uid)" test "${uid:-1000}" -lt 1000
t_eq "its group contactgate has no other member (not the MTA)" \
    "$(in_root 'getent group contactgate | cut -d: -f4')" ""
t_eq "postfix is not in the group contactgate" "$(in_root 'id -nG postfix' | tr ' ' '\n' | grep -cx contactgate)" 0
t_eq "the history directory: the daemon's user only" \
    "$(in_root 'stat -c "%a %U:%G" /var/lib/contactgate')" "750 contactgate:contactgate"
t_eq "the socket directory: setgid, the MTA's group (postfix here)" \
    "$(in_root 'stat -c "%a %U:%G" /var/spool/postfix/contactgate')" "2750 contactgate:postfix"
t_check "the service is enabled (multi-user.target.wants)" \
    test -L "$root/upper/etc/systemd/system/multi-user.target.wants/contactgate.service"
t_match "contactgate -n accepts the packaged configuration and plugins" \
    "$(in_root 'contactgate -n 2>&1')" 'mode +monitor'

# the unit's start-up as systemd runs it: RuntimeDirectory, UMask, the
# ExecStartPre (as root), the daemon (here in the foreground, SIGKILLed at
# the end: libmilter's stop is not what this tests); then, in the same
# namespace (a unix socket is found by its inode, i.e. in this overlay
# mount), the MTA's user and another user try the socket and the history
pre=$(printf '%s\n' "$unit" | sed -n 's/^ExecStartPre=+//p')
start=$(printf '%s\n' "$unit" | sed -n 's/^ExecStart=//p' | sed 's| -c | -f -c |')
sock=/var/spool/postfix/contactgate/contactgate.sock
out=$(in_root "install -d -o contactgate -g contactgate -m 0750 /run/contactgate && umask 007 && $pre || exit 1
    $start 2>/dev/null &
    pid=\$!
    for i in \$(seq 1 100); do [ -S $sock ] && break; sleep 0.1; done
    echo socket: \$(stat -c '%a %U:%G' $sock)
    echo postfix: \$(runuser -u postfix -- /usr/bin/python3 \"\$OPTNEG\" unix:$sock 2>&1)
    echo nobody: \$(runuser -u nobody -- /usr/bin/python3 \"\$OPTNEG\" unix:$sock 2>&1)
    echo history: \$(stat -c '%U %a' /var/lib/contactgate/history.db)
    runuser -u postfix -- cat /var/lib/contactgate/history.db >/dev/null 2>&1 && echo postfix reads the history
    kill -KILL \$pid; wait \$pid 2>/dev/null
    true" 2>&1)
t_match "the packaged daemon makes its socket 0660 with the MTA's group" "$out" '^socket: 660 contactgate:postfix$'
t_match "the postfix user reaches the milter (option negotiation answered)" "$out" '^postfix: \{"version": 6'
t_match "another user does not" "$out" '^nobody: .*Permission denied'
t_match "the history: owner contactgate, no access for others" "$out" '^history: contactgate [0-7][0-7]0$'
t_eq "the postfix user cannot read the history" "$(printf '%s\n' "$out" | grep -c 'postfix reads')" 0

# an admin's edited conffile survives a reinstall, content and mode
in_root 'sed -i "s/\"monitor\"/\"enforce\"/" /etc/contactgate/contactgate.json &&
    chmod 640 /etc/contactgate/contactgate.json && chgrp contactgate /etc/contactgate/contactgate.json'
out=$(in_root 'dpkg -i "$DEB" 2>&1'); rc=$?
t_eq "reinstall" "$rc" 0
t_match "the edited configuration is kept" "$(in_root 'cat /etc/contactgate/contactgate.json')" '"mode": "enforce"'
t_eq "with its mode and group" "$(in_root 'stat -c "%a %G" /etc/contactgate/contactgate.json')" "640 contactgate"

# remove: programs go, data, configuration and user stay
out=$(in_root 'dpkg -r contactgate 2>&1'); rc=$?
t_eq "dpkg -r" "$rc" 0
t_eq "the programs are gone" "$(in_root 'ls /usr/sbin/contactgate /usr/lib/contactgate/plugins 2>/dev/null' | wc -l)" 0
t_check "the history is kept" test -e "$root/upper/var/lib/contactgate/history.db"
t_check "the configuration is kept" test -e "$root/upper/etc/contactgate/contactgate.json"
t_match "the user is kept" "$(in_root 'getent passwd contactgate')" '^contactgate:'

# purge: data, configuration, socket directory and user go
out=$(in_root 'dpkg -P contactgate 2>&1'); rc=$?
t_eq "dpkg -P" "$rc" 0
[ $rc = 0 ] || printf '%s\n' "$out"
t_eq "the history is gone" "$(in_root 'ls -d /var/lib/contactgate 2>/dev/null')" ""
t_eq "the configuration is gone" "$(in_root 'ls -d /etc/contactgate 2>/dev/null')" ""
t_eq "the socket directory is gone" "$(in_root 'ls -d /var/spool/postfix/contactgate 2>/dev/null')" ""
t_eq "the user and group are gone" "$(in_root 'getent passwd contactgate; getent group contactgate')" ""
t_eq "the unit is no longer enabled" \
    "$(in_root 'ls /etc/systemd/system/multi-user.target.wants/contactgate.service 2>/dev/null')" ""

# a Sendmail-only host: no postfix group, smmsp instead
in_root 'sed -i "/^postfix:/d" /etc/group && echo "smmsp:x:64998:" >> /etc/group'
out=$(in_root 'dpkg -i "$DEB" 2>&1'); rc=$?
t_eq "Sendmail-only host: dpkg -i succeeds" "$rc" 0
t_match "and says the Postfix socket path needs changing" "$out" \
    "in Postfix's queue directory, but the MTA's group is smmsp: on a Sendmail host set \"socket\": \"unix:/run/contactgate/contactgate.sock\""
in_root 'sed -i "s|\"socket\": \"unix:/var/spool/postfix/contactgate/contactgate.sock\"|\"socket\": \"unix:/run/contactgate/contactgate.sock\"|" /etc/contactgate/contactgate.json'
t_eq "with the Sendmail socket the unit's ExecStartPre makes /run/contactgate for smmsp" \
    "$(in_root "install -d -o contactgate -g contactgate -m 0750 /run/contactgate && $pre && stat -c '%a %U:%G' /run/contactgate")" \
    "2750 contactgate:smmsp"
in_root 'dpkg -P contactgate >/dev/null 2>&1'

# the machine's own system did not change
t_eq "the host's /etc/passwd is unchanged" "$(md5sum < /etc/passwd)" "$host_passwd"
t_eq "the host's /etc/group is unchanged" "$(md5sum < /etc/group)" "$host_group"
t_eq "nothing was installed on the host" "$([ -e /usr/sbin/contactgate ] && echo yes || echo no)" "$host_had_sbin"
t_check "the throwaway root got the writes" test -s "$root/upper/var/lib/dpkg/status"

t_done deb
