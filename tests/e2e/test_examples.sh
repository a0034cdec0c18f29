#!/bin/bash
# test_examples.sh - every example policy set in policies/ loads with the
# built plugins: `contactgate -n` exits 0 and prints each policy with its
# plugin and params, in the order of the file (legal suppressions first).
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
bin=$root/$CG_BUILD/contactgate
export CONTACTGATE_PLUGIN_DIR=$root/$CG_BUILD/plugins

for f in "$root"/policies/*.json; do
    name=$(basename "$f")
    out=$("$bin" -n -c "$f" 2>&1); rc=$?
    t_eq "$name: contactgate -n exits 0" "$rc" 0
    [ "$rc" = 0 ] || { printf '%s\n' "$out" | sed 's/^/    /'; continue; }
    want=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["policies"]))' "$f")
    t_match "$name: prints its $want policies" "$out" "policies \\($want, in order\\)"
    n_params=$(printf '%s\n' "$out" | grep -Ec '^     params +\{')
    t_eq "$name: prints every policy's params" "$n_params" "$want"
    for pl in $(python3 -c 'import json,sys; print(" ".join(sorted({p["plugin"] for p in json.load(open(sys.argv[1]))["policies"]})))' "$f"); do
        t_match "$name: plugin $pl loaded" "$out" ": $pl [0-9.]+, action "
    done
done

# a broken copy is refused with the key path
bad=$(mktemp -d /tmp/cg-examples.XXXXXX)
trap 'rm -rf "$bad"' EXIT
python3 - "$root/policies/b2b-software.json" "$bad/bad.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["policies"]:
    if p["plugin"] == "quiet_hours":
        p["params"]["windows"][0]["from"] = "8 o'clock"
json.dump(d, open(sys.argv[2], "w"))
PY
out=$("$bin" -n -c "$bad/bad.json" 2>&1); rc=$?
t_eq "a bad example is refused (exit 1)" "$rc" 1
t_match "the error names the key path" "$out" 'policies\[[0-9]+\]\.params\.windows\[0\]\.from'
t_done examples
