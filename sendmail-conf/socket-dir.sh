#!/bin/sh
# socket-dir - create the directory of contactgate's milter socket so that
# the MTA, and only the MTA, can reach the socket. Run as root before the
# daemon starts: the systemd unit's ExecStartPre, the package's postinst, or
# by hand on a host without systemd. Installed as @LIBEXECDIR@/socket-dir.
#
#   socket-dir [-u USER] [-c CONFIG]
#
# The socket is the "socket" of CONFIG (default
# /etc/contactgate/contactgate.json) as `contactgate -n` reports it; an inet
# socket needs no directory. The directory becomes USER:GROUP, mode 2750:
# USER (default contactgate, the daemon's user) creates the socket in it;
# the setgid bit gives the socket the group GROUP, and the daemon makes it
# mode 0660, so members of GROUP may connect and nobody else may. GROUP is
# the MTA's:
#   - $CONTACTGATE_MTA_GROUP when set (in the environment, else in
#     @SYSCONFDIR@/default/contactgate), else
#   - postfix when that group exists (Postfix: smtpd and cleanup run as
#     the user postfix, group postfix), else
#   - smmsp (Sendmail: the MTA connects to milters as root; smmsp is the
#     group of Sendmail's unprivileged parts, so a Sendmail run with
#     RunAsUser=smmsp reaches the socket too).
# The MTA's group gets the socket's directory and nothing else: the
# contact history stays readable by the daemon's user only.
set -eu

user=contactgate
config=/etc/contactgate/contactgate.json
bin=${CONTACTGATE_BIN:-@SBINDIR@/contactgate}
defaults=${CONTACTGATE_DEFAULTS:-@SYSCONFDIR@/default/contactgate}
me=socket-dir

while getopts u:c: opt; do
    case $opt in
    u) user=$OPTARG ;;
    c) config=$OPTARG ;;
    *) echo "usage: $me [-u USER] [-c CONFIG]" >&2; exit 2 ;;
    esac
done

die() { echo "$me: $*" >&2; exit 1; }

if [ -z "${CONTACTGATE_MTA_GROUP:-}" ] && [ -r "$defaults" ]; then
    . "$defaults"
fi
getent passwd "$user" >/dev/null || die "-u $user: no such user"
check=$("$bin" -n -c "$config" 2>&1) || die "$config: $check"
sock=$(printf '%s\n' "$check" | sed -n 's/^ *socket  *\(unix\|local\)://p' | head -1)
[ -n "$sock" ] || exit 0                     # an inet socket: nothing to do
case $sock in
/*) ;;
*) die "$config: socket \"$sock\": give the full path of a unix socket" ;;
esac
dir=${sock%/*}
[ -n "$dir" ] || die "$config: socket \"$sock\": the socket needs a directory of its own"

if [ -n "${CONTACTGATE_MTA_GROUP:-}" ]; then
    group=$CONTACTGATE_MTA_GROUP
    getent group "$group" >/dev/null ||
        die "CONTACTGATE_MTA_GROUP=$group: no such group (postfix for Postfix, smmsp for Sendmail)"
elif getent group postfix >/dev/null; then
    group=postfix
elif getent group smmsp >/dev/null; then
    group=smmsp
else
    die "neither a postfix nor an smmsp group: is an MTA installed? (set CONTACTGATE_MTA_GROUP in $defaults)"
fi
case $dir/ in
/var/spool/postfix/*)
    [ "$group" = postfix ] || die "$config: socket $sock is in Postfix's queue directory, but the MTA's group is $group: on a Sendmail host set \"socket\": \"unix:/run/contactgate/contactgate.sock\""
    ;;
esac

install -d -o "$user" -g "$group" -m 2750 "$dir"
