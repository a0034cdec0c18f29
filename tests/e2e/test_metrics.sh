#!/bin/bash
# test_metrics.sh - the Prometheus textfile (issue 17.9), end to end: a
# private Postfix and contactgate with metrics_file and a 1 s interval; a
# known set of messages (accepted, tagged by a monitored policy, deferred
# at RCPT, rejected, one plugin error, one of no department); the file is
# waited for and every count compared exactly; a good and a bad reload
# show in the reload counters; the file is 0644, written by rename, and a
# stop removes it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CG_BUILD=${1:-build}
. "$here/lib.sh"
. "$here/cg.sh"
PY=/usr/bin/python3

e2e_setup metrics
e2e_start_sink || { t_fail "capture server starts"; t_done metrics; exit 1; }
cg_config "$E2E_DIR/unused.json"   # ports, database and staged plugins
cg_stage_test_plugin thirdparty
MDIR=$E2E_DIR/textfile
mkdir -p "$MDIR"
chown "$CG_USER" "$MDIR"
METRICS=$MDIR/contactgate.prom
CG_CONFIG=$E2E_DIR/contactgate.json
write_config() { # write_config EXTRA-POLICY-JSON [EXTRA-TOP-LEVEL-MEMBERS,]
    cat > "$CG_CONFIG" <<JSON
{
  ${2:-}
  "socket": "inet:$CG_PORT@127.0.0.1",
  "control_socket": "$E2E_DIR/contactgate/control/control.sock",
  "database": "$CG_DB",
  "plugin_dir": "$E2E_DIR/stage/plugins",
  "metrics_file": "$METRICS",
  "metrics_interval": "1s",
  "departments": [
    {"name": "marketing", "match": {"sender": ["*@offers.corp.example"]},
     "default_category": "promotional.offer", "allowed_categories": ["promotional.*"]},
    {"name": "billing", "match": {"sender": ["billing@corp.example"]},
     "default_category": "functional.bill", "allowed_categories": ["functional.*"]}
  ],
  "policies": [
    {"name": "forbidden-subject", "plugin": "thirdparty", "action": "reject",
     "params": {"word": "FORBIDDEN"}},
    {"name": "one-offer-an-hour", "plugin": "frequency",
     "applies_to": {"departments": ["marketing"]}, "action": "defer",
     "params": {"limit": 1, "window": "1h", "count_categories": ["promotional.*"]}},
    {"name": "bills-watch", "plugin": "frequency", "mode": "monitor",
     "applies_to": {"departments": ["billing"]}, "action": "defer",
     "params": {"limit": 1, "window": "1h", "count_categories": ["functional.*"]}}$1
  ]
}
JSON
    chmod 644 "$CG_CONFIG"
}
write_config ""
cg_start || { t_fail "contactgate starts"; t_done metrics; exit 1; }
e2e_start_postfix "inet:127.0.0.1:$CG_PORT" || { t_fail "postfix starts"; t_done metrics; exit 1; }

# metric NAME{LABELS} - its value in the file ("" when absent)
metric() {
    awk -v k="$1" 'index($0, k " ") == 1 { print $NF; exit }' "$METRICS" 2>/dev/null
}
# wait_metric NAME{LABELS} VALUE [SECS] - until the file says so
wait_metric() {
    local i
    for i in $(seq 1 $((${3:-10} * 10))); do
        [ "$(metric "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
send() { # send FROM TO SUBJECT
    $PY "$here/smtpc.py" --port "$SMTP_PORT" --from "$1" --to "$2" --subject "$3"
}
code() { cg_reply_code "$1"; }

# --- the file exists from the start, complete and well-formed --------------
t_check "the file is written at start" wait_metric "contactgate_decider_queue_depth" 0 10
t_eq "mode 0644" "$(stat -c %a "$METRICS")" 644
t_eq "written by the daemon's user" "$(stat -c %U "$METRICS")" "$CG_USER"
t_eq "nothing decided yet" "$(grep -c '^contactgate_decisions_total{' "$METRICS")" 0
fmt=$($PY - "$METRICS" <<'EOF'
import re, sys
# the text format 0.0.4: every sample's metric has HELP and TYPE lines
# before it; names and labels well formed; histograms cumulative
helps, types, bad = set(), {}, []
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (-?[0-9.e+-]+|\+Inf|NaN)$')
last = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# HELP "):
        helps.add(line.split()[2]); continue
    if line.startswith("# TYPE "):
        types[line.split()[2]] = line.split()[3]; continue
    m = sample.match(line)
    if not m:
        bad.append("malformed: " + line); continue
    name = m.group(1)
    base = re.sub(r'_(bucket|sum|count)$', '', name) if re.sub(r'_(bucket|sum|count)$', '', name) in types else name
    if base not in helps or base not in types:
        bad.append("no HELP/TYPE before: " + line)
    if name.endswith("_bucket"):
        key = re.sub(r',?le="[^"]*"', '', m.group(2) or "")
        v = float(m.group(7))
        if v < last.get((name, key), 0):
            bad.append("not cumulative: " + line)
        last[(name, key)] = v
print("\n".join(bad) if bad else "ok")
EOF
)
t_eq "the text format: HELP and TYPE for every metric, well-formed samples" "$fmt" ok
t_eq "build_info names the version" "$(grep -c '^contactgate_build_info{version="[0-9.]*"} 1$' "$METRICS")" 1
started=$(metric contactgate_start_time_seconds)
now=$(date +%s)
t_check "start time is the serving process's (within the last minute)" \
    test "$started" -le "$now" -a "$started" -gt $((now - 60))
version0=$(sed -n 's/^contactgate_config_info{version="\([0-9a-f]*\)"} 1$/\1/p' "$METRICS")
t_eq "config_info carries the configuration's version" \
    "$version0" "$(sed -n 's/.*version \([0-9a-f]\{16\}\).*/\1/p' "$CG_LOG" | head -1)"

# --- a known set of messages ---------------------------------------------------
t_eq "a bill: accepted" "$(code "$(send billing@corp.example c1@cust.example 'bill 1')")" 250
t_eq "a second bill within the hour: tagged (bills-watch monitors)" \
    "$(code "$(send billing@corp.example c1@cust.example 'bill 2')")" 250
t_eq "an offer: accepted" "$(code "$(send news@offers.corp.example c2@cust.example 'offer 1')")" 250
t_eq "a second offer within the hour: deferred at RCPT" \
    "$(code "$(send news@offers.corp.example c2@cust.example 'offer 2')")" 451
t_eq "a forbidden subject: rejected" \
    "$(code "$(send news@offers.corp.example c3@cust.example 'FORBIDDEN offer')")" 550
t_eq "the plugin fails: tempfailed (on_error)" \
    "$(code "$(send billing@corp.example c4@cust.example 'FAIL')")" 451
t_eq "mail of no department: accepted" "$(code "$(send someone@else.example c5@cust.example 'hello')")" 250

D=contactgate_decisions_total
t_check "the file is rewritten with the decisions" \
    wait_metric "$D{verdict=\"accept\",policy=\"none\",department=\"unknown\"}" 1 10
sleep 1.2   # one more interval: every count of the same moment
got=$(grep "^$D{" "$METRICS" | sort)
want=$(sort <<EOF
$D{verdict="accept",policy="none",department="marketing"} 1
$D{verdict="accept",policy="none",department="billing"} 1
$D{verdict="accept",policy="none",department="unknown"} 1
$D{verdict="tag",policy="bills-watch",department="billing"} 1
$D{verdict="defer",policy="one-offer-an-hour",department="marketing"} 1
$D{verdict="reject",policy="forbidden-subject",department="marketing"} 1
$D{verdict="tempfail",policy="forbidden-subject",department="billing"} 1
EOF
)
t_eq "decisions by verdict, policy and department: every series, exactly" "$got" "$want"
t_eq "errors: the plugin's one" "$(grep '^contactgate_errors_total{' "$METRICS" | sort | tr '\n' ' ')" \
    'contactgate_errors_total{cause="hold"} 0 contactgate_errors_total{cause="plugin"} 1 contactgate_errors_total{cause="stopping"} 0 contactgate_errors_total{cause="store"} 0 '
t_eq "tempfails by cause: plugin 1" "$(metric 'contactgate_tempfails_total{cause="plugin"}') $(metric 'contactgate_tempfails_total{cause="store"}')" "1 0"
t_eq "every RCPT check's latency (7 recipients)" \
    "$(metric 'contactgate_decision_duration_seconds_count{stage="rcpt"}')" 7
t_eq "every end-of-message decision's latency (6 messages got there)" \
    "$(metric 'contactgate_decision_duration_seconds_count{stage="eom"}')" 6
t_eq "the +Inf bucket is the count" \
    "$(metric 'contactgate_decision_duration_seconds_bucket{stage="eom",le="+Inf"}')" 6
t_eq "batch sizes add up to every job (7 RCPT checks + 6 decisions)" \
    "$(metric contactgate_batch_size_sum)" 13
t_eq "one commit per batch" "$(metric contactgate_store_commit_duration_seconds_count)" \
    "$(metric contactgate_batch_size_count)"
t_eq "nothing waits in the decider" "$(metric contactgate_decider_queue_depth)" 0
t_eq "the store is up" "$(metric contactgate_store_up)" 1
t_eq "no reload yet" "$(metric 'contactgate_reloads_total{result="ok"}') $(metric 'contactgate_reloads_total{result="failed"}') $(metric contactgate_last_reload_timestamp_seconds)" "0 0 0"

# --- reloads: a good one, then a bad one -----------------------------------------
write_config ',
    {"name": "offers-watch", "plugin": "frequency", "mode": "monitor",
     "applies_to": {"departments": ["marketing"]}, "action": "tag",
     "params": {"limit": 5, "window": "1h"}}'
kill -HUP "$CG_PID"
t_check "a good reload counts as ok" wait_metric 'contactgate_reloads_total{result="ok"}' 1 10
version1=$(sed -n 's/^contactgate_config_info{version="\([0-9a-f]*\)"} 1$/\1/p' "$METRICS")
t_check "config_info shows the new version" test -n "$version1" -a "$version1" != "$version0"
t_eq "last reload succeeded" "$(metric contactgate_last_reload_success)" 1
# on_error=accept: a plugin that cannot decide is skipped, and still counted
write_config ',
    {"name": "offers-watch", "plugin": "frequency", "mode": "monitor",
     "applies_to": {"departments": ["marketing"]}, "action": "tag",
     "params": {"limit": 5, "window": "1h"}}' '"on_error": "accept",'
kill -HUP "$CG_PID"
t_check "a reload to on_error=accept" wait_metric 'contactgate_reloads_total{result="ok"}' 2 10
t_eq "the plugin fails under on_error=accept: accepted" \
    "$(code "$(send billing@corp.example c6@cust.example 'FAIL')")" 250
t_check "... and counted as a plugin error" wait_metric 'contactgate_errors_total{cause="plugin"}' 2 10
t_eq "... not as a tempfail" "$(metric 'contactgate_tempfails_total{cause="plugin"}')" 1
version1=$(sed -n 's/^contactgate_config_info{version="\([0-9a-f]*\)"} 1$/\1/p' "$METRICS")
echo '{"mode": "strict"' > "$CG_CONFIG"
kill -HUP "$CG_PID"
t_check "a bad reload counts as failed" wait_metric 'contactgate_reloads_total{result="failed"}' 1 10
t_eq "last reload failed" "$(metric contactgate_last_reload_success)" 0
t_eq "the running configuration stays" \
    "$(sed -n 's/^contactgate_config_info{version="\([0-9a-f]*\)"} 1$/\1/p' "$METRICS")" "$version1"
t_check "time of the last reload set" test "$(metric contactgate_last_reload_timestamp_seconds)" -ge "$now"
t_eq "counts survive reloads" "$(metric "$D{verdict=\"tag\",policy=\"bills-watch\",department=\"billing\"}")" 1
t_eq "no temporary file is left next to it" "$(ls -A "$MDIR" | grep -vc '^contactgate.prom$')" 0

# --- a stop removes it ---------------------------------------------------------------
cg_stop
t_check "a stopped daemon leaves no stale metrics" test ! -e "$METRICS"

t_done metrics
