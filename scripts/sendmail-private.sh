#!/bin/sh
# sendmail-private.sh - a private copy of Debian 12's Sendmail 8.17 for the
# end-to-end tests, next to the installed Postfix.
#
# Debian's sendmail and postfix packages conflict, so the sendmail
# packages are fetched with `apt-get download` and unpacked with `dpkg -x`
# into DIR (default /var/cache/contactgate-test/sendmail); nothing is
# installed. The copied binary loses its setgid bit, so the loader honours
# LD_LIBRARY_PATH (libwrap0 is unpacked next to it). Idempotent: does
# nothing when DIR/ok exists. Prints DIR.
set -eu
dir=${1:-/var/cache/contactgate-test/sendmail}
if [ -f "$dir/ok" ]; then echo "$dir"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
    echo "sendmail-private: run as root to fetch the Sendmail packages" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
pkgs="sendmail-bin sendmail-base sendmail-cf m4 libwrap0"
cd "$tmp"
if ! apt-get download $pkgs >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get download $pkgs >/dev/null
fi
rm -rf "$dir"
mkdir -p "$dir/root"
for f in ./*.deb; do dpkg -x "$f" "$dir/root"; done
chmod g-s "$dir/root/usr/libexec/sendmail/sendmail"
ls ./*.deb | sed 's|^\./||' > "$dir/packages"
touch "$dir/ok"
echo "$dir"
