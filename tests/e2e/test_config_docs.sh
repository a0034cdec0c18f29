#!/bin/bash
# test_config_docs.sh - the configuration as contactgate.json(5) documents
# it: the man page's minimal example is examples/contactgate.minimal.json
# word for word, contactgate -n accepts it (built and as installed by make
# install, under share/contactgate/examples), and breaking it gives an
# error naming the key path. (That the man page lists every key of the
# table with its default is tests/unit/test_config.c.) No MTA needed.
# Usage: test_config_docs.sh [BUILD]
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup config-docs
MAN=$CG_SRC/man/contactgate.json.5
EXAMPLE=$CG_SRC/examples/contactgate.minimal.json

# --- the man page's EXAMPLE is the shipped file
# (the lines between .EX and .EE of the EXAMPLE section, \- and \e unescaped)
sed -n '/^\.SH EXAMPLE/,/^\.SH /p' "$MAN" | sed -n '/^\.EX$/,/^\.EE$/p' | sed '1d;$d' |
    sed -e 's/\\-/-/g' -e 's/\\e/\\/g' > "$E2E_DIR/from-man.json"
t_check "the man page has an example" test -s "$E2E_DIR/from-man.json"
t_eq "the man page's example is examples/contactgate.minimal.json" \
    "$(diff "$E2E_DIR/from-man.json" "$EXAMPLE" 2>&1)" ""
t_eq "it has two departments and two policies" \
    "$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["departments"]), len(d["policies"]))' "$EXAMPLE")" \
    "2 2"
t_match "the man page states the default socket" \
    "$(sed -n '/^\.B socket$/,/^\.TP$/p' "$MAN" | tr '\n' ' ')" \
    'Default: \.BR unix:/run/contactgate/contactgate\.sock \.'

# --- contactgate -n accepts it, with the built plugins
out=$(CONTACTGATE_PLUGIN_DIR=$CG_BUILD/plugins "$CG_BIN" -n -c "$EXAMPLE" 2>&1); rc=$?
t_eq "contactgate -n accepts the minimal example" "$rc" 0
t_match "and prints its two departments" "$out" '^departments \(2, '
t_match "and its two policies, plugins loaded" "$out" '^  2\. promotions-3-a-week: frequency [0-9.]+, action defer'
t_match "and the socket it sets" "$out" '^  socket +unix:/var/spool/postfix/contactgate/contactgate.sock$'

# --- a broken copy is refused, naming the key path
$PY - "$EXAMPLE" "$E2E_DIR/bad.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["policies"][1]["params"]["window"] = "7x"
json.dump(d, open(sys.argv[2], "w"))
PY
out=$(CONTACTGATE_PLUGIN_DIR=$CG_BUILD/plugins "$CG_BIN" -n -c "$E2E_DIR/bad.json" 2>&1); rc=$?
t_eq "a broken copy is refused (exit 1)" "$rc" 1
t_match "naming the key path" "$out" 'bad.json: policies\[1\]\.params\.window: "7x" is not a duration'

# --- make install puts it under share/contactgate/examples, and it loads there
# plugins load only from a trusted directory (not under /tmp): cg.sh's
dest=$(cg_trusted_dir)/dest
out=$(make -C "$CG_SRC" --no-print-directory BUILD="$CG_BUILD" install DESTDIR="$dest" PREFIX=/usr 2>&1)
t_eq "make install DESTDIR=... succeeds" "$?" 0
inst=$dest/usr/share/contactgate/examples/contactgate.minimal.json
t_eq "installed: share/contactgate/examples/contactgate.minimal.json, mode 644" \
    "$(stat -c %a "$inst" 2>&1)" 644
t_eq "identical to the source" "$(cmp "$inst" "$EXAMPLE" 2>&1)" ""
out=$(CONTACTGATE_PLUGIN_DIR=$dest/usr/lib/contactgate/plugins "$dest/usr/sbin/contactgate" -n -c "$inst" 2>&1)
t_eq "the installed contactgate -n accepts the installed example" "$?" 0

t_done config_docs
