#!/bin/sh
# notify_e2e.sh — a real bin/vigild fires alerts from a rule file and
# delivers them on loopback: to a real Alertmanager (its /api/v2/alerts
# shows them, after alert_relabel_configs), to a webhook receiver that answers 500 until it recovers
# (with a kill -9 of vigild while it fails: after the restart each page
# arrives exactly once), to an exec hook whose argv is full of shell
# metacharacters (nothing but the configured program runs, the argv
# arrives verbatim, VIGIL_* variables, the payload on stdin), a resolved
# notification, the Alertmanager v4 payload shape, the self-metrics, a
# SIGHUP with a broken route refused with file:line:col.
VIGILD="${VIGIL_BIN:?}/vigild"
SEND="$VIGIL_BIN/bench/statsd_load"
HELPER="$(cd "$(dirname "$0")" && pwd)/notify_helper.py"
. "$(dirname "$0")/lib/common.sh"
scratch vigil_notify
FINISH_LOG="$TMP/vigild.log"
for tool in python3 prometheus-alertmanager curl; do
    command -v $tool >/dev/null 2>&1 ||
        sh "$(dirname "$0")/../deps.sh" prometheus-alertmanager python3 curl >/dev/null 2>&1
    command -v $tool >/dev/null 2>&1 ||
        { echo "$tool missing and cannot be installed"; echo "0 passed, 1 failed"; exit 1; }
done

# ---- Alertmanager -----------------------------------------------------------------
cat >"$TMP/am.yml" <<'EOF'
route:
  receiver: blackhole
receivers:
  - name: blackhole
EOF
start_am() {
    for try in 1 2 3 4 5; do
        AP=$(port)
        prometheus-alertmanager --config.file="$TMP/am.yml" --storage.path="$TMP/am" \
            --web.listen-address="127.0.0.1:$AP" --cluster.listen-address= \
            >"$TMP/am.log" 2>&1 &
        pid=$!
        if wait_for 15 curl -sf -m 1 "http://127.0.0.1:$AP/-/ready"; then
            PIDS="$PIDS $pid"; return 0
        fi
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    done
    return 1
}
start_am || { bad "alertmanager did not start ($(tail -3 "$TMP/am.log"))"; finish; }

# ---- the webhook receiver: failing (500) until hook.log.fail is removed ------------
WLOG="$TMP/hook.log"
touch "$WLOG" "$WLOG.fail" "$WLOG.rejected"
python3 "$HELPER" serve "$WLOG" "$TMP/hook.port" 2>"$TMP/helper.log" &
PIDS="$PIDS $!"
wait_for 10 test -s "$TMP/hook.port" || { bad "webhook receiver did not start"; finish; }
WP=$(cat "$TMP/hook.port")

# ---- rules and vigild -------------------------------------------------------------
cat >"$TMP/rules.yml" <<'EOF'
groups:
  - name: e2e
    rules:
      - alert: BlogDown
        expr: vector(1)
        labels: {severity: page, instance: web1}
        annotations:
          summary: 'blog is down (value {{ $value }})'
      - alert: DiskFull
        expr: vector(1)
        labels: {severity: ticket}
      - alert: HookTest
        expr: absent(e2e_resolved)
        labels: {severity: exec}
EOF
XLOG="$TMP/exec.log"
cat >"$TMP/vigil.yml" <<EOF
global:
  evaluation_interval: 1s
  external_labels: {site: e2e}
rule_files: [rules.yml]
statsd:
  flush_interval: 1s
rules:
  resend_delay: 2s
alerting:
  alert_relabel_configs:
    - source_labels: [alertname]
      regex: HookTest
      action: drop
    - target_label: via
      replacement: vigil
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$AP']}]
notifiers:
  receivers:
    - name: web
      webhook_configs: [{url: 'http://127.0.0.1:$WP/hook', timeout: 2s}]
    - name: hook
      exec_configs:
        - command: [python3, '$HELPER', hook, '$XLOG', '; touch $TMP/pwned1',
                    '\$(touch $TMP/pwned2)', '\`touch $TMP/pwned3\`', 'a b', '|', '&& x',
                    '> $TMP/pwned4', "'q'", '"dq"', '\$HOME']
          timeout: 10s
  route:
    receiver: web
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 1h
    routes:
      - matchers: ['severity="exec"']
        receiver: hook
  outbox: {min_backoff: 200ms, max_backoff: 1s}
EOF
D="$TMP/data"
"$VIGILD" --config "$TMP/vigil.yml" --check-config >"$TMP/check.out" 2>&1
check "--check-config accepts alerting: and notifiers: ($(head -c 300 "$TMP/check.out"))" \
    grep -q "config OK" "$TMP/check.out"
start_vigild || { bad "vigild did not become ready"; finish; }
metric() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v s="$1" 'index($0, s) == 1 {print $2; exit}'; }

# ---- Alertmanager receives the alerts ----------------------------------------------
am_has() { # ALERTNAME: active in Alertmanager with the external label
    curl -sf -m 2 "http://127.0.0.1:$AP/api/v2/alerts" | python3 -c '
import json, sys
ok = [a for a in json.load(sys.stdin) if a["labels"].get("alertname") == sys.argv[1]
      and a["labels"].get("site") == "e2e" and a["status"]["state"] == "active"]
sys.exit(0 if ok else 1)' "$1"
}
eventually 20 "Alertmanager shows BlogDown from vigild" am_has BlogDown
eventually 5 "Alertmanager shows DiskFull from vigild" am_has DiskFull
check "alert_relabel_configs dropped HookTest on the way to Alertmanager" sh -c "
    ! curl -sf -m 2 'http://127.0.0.1:$AP/api/v2/alerts' | grep -q HookTest"
check "BlogDown's annotation, relabeled labels and generatorURL in Alertmanager" sh -c "
    curl -sf -m 2 'http://127.0.0.1:$AP/api/v2/alerts?filter=alertname=\"BlogDown\"' |
    python3 -c '
import json, sys
a = json.load(sys.stdin)[0]
assert a[\"annotations\"][\"summary\"] == \"blog is down (value 1)\", a
assert a[\"labels\"][\"via\"] == \"vigil\", a
assert a[\"generatorURL\"].startswith(\"http://127.0.0.1:$HP/graph?g0.expr=\"), a
'"

# ---- the exec hook ----------------------------------------------------------------
eventually 20 "exec hook ran for HookTest" grep -q HookTest "$XLOG"
check "the exec hook got its argv verbatim, no shell ran" python3 -c '
import json, sys
rec = json.loads(open(sys.argv[1]).readline())
tmp = sys.argv[2]
want = ["; touch %s/pwned1" % tmp, "$(touch %s/pwned2)" % tmp, "`touch %s/pwned3`" % tmp,
        "a b", "|", "&& x", "> %s/pwned4" % tmp, "'"'q'"'", "\"dq\"", "$HOME"]
assert rec["argv"] == want, rec["argv"]
' "$XLOG" "$TMP"
check "no metacharacter created a file" sh -c "! ls $TMP/pwned* 2>/dev/null | grep -q ."
check "exec hook environment: VIGIL_RECEIVER, VIGIL_STATUS, VIGIL_ALERTS, VIGIL_GROUP_KEY" \
    python3 -c '
import json, sys
rec = json.loads(open(sys.argv[1]).readline())
e = rec["env"]
assert e["VIGIL_RECEIVER"] == "hook" and e["VIGIL_STATUS"] == "firing", e
assert e["VIGIL_ALERTS"] == "1" and e["VIGIL_GROUP_KEY"] == rec["stdin"]["groupKey"], e
assert rec["stdin"]["receiver"] == "hook" and rec["stdin"]["version"] == "4", rec
' "$XLOG"

# ---- the failing webhook, kill -9, restart, recovery -------------------------------
# Deliveries to one receiver keep their order: the first group's
# notification is retried, the second waits behind it in the outbox.
queued() { [ "$(metric 'vigil_notify_queue_length{receiver="web",integration="webhook"}')" = 2 ]; }
eventually 20 "both groups' notifications are queued for the failing webhook" queued
eventually 10 "failed attempts are retried" sh -c "[ \$(wc -l <'$WLOG.rejected') -ge 3 ]"
check "nothing was accepted while the receiver fails" [ ! -s "$WLOG" ]
kill -9 "$VPID"; wait "$VPID" 2>/dev/null
start_vigild || { bad "vigild did not restart after kill -9"; finish; }
check "the restarted vigild found both notifications in its outbox" \
    grep -q "retrying notifications from the outbox.*pending=2" "$TMP/vigild.log"
rm -f "$WLOG.fail"
delivered_both() { grep -q BlogDown "$WLOG" && grep -q DiskFull "$WLOG"; }
eventually 20 "after recovery every notification arrives" delivered_both
sleep 6 # several resend delays and group intervals: no repeat may follow
check "BlogDown's notification arrived exactly once ($(grep -c BlogDown "$WLOG"))" \
    [ "$(grep -c BlogDown "$WLOG")" = 1 ]
check "DiskFull's notification arrived exactly once ($(grep -c DiskFull "$WLOG"))" \
    [ "$(grep -c DiskFull "$WLOG")" = 1 ]
check "the exec hook was not run again after the restart ($(grep -c firing "$XLOG"))" \
    [ "$(grep -c '"VIGIL_STATUS": "firing"' "$XLOG")" = 1 ]

check "the webhook payload has the Alertmanager v4 shape" python3 -c '
import json, re, sys
for line in open(sys.argv[1]):
    p = json.loads(line)
    assert set(p) == {"version", "groupKey", "truncatedAlerts", "status", "receiver",
                      "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
                      "alerts"}, sorted(p)
    assert p["version"] == "4" and p["status"] == "firing" and p["receiver"] == "web", p
    assert p["truncatedAlerts"] == 0 and p["externalURL"].startswith("http://127.0.0.1:"), p
    assert set(p["groupLabels"]) == {"alertname"}, p["groupLabels"]
    assert p["groupKey"] == "{}:" + json.dumps(p["groupLabels"], separators=(",", ":")), p
    for a in p["alerts"]:
        assert set(a) == {"status", "labels", "annotations", "startsAt", "endsAt",
                          "generatorURL", "fingerprint"}, sorted(a)
        assert a["status"] == "firing" and a["endsAt"] == "0001-01-01T00:00:00Z", a
        assert re.fullmatch(r"[0-9a-f]{16}", a["fingerprint"]), a
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", a["startsAt"]), a
        assert a["labels"]["site"] == "e2e", a
' "$WLOG"

# ---- resolved -----------------------------------------------------------------------
"$SEND" send udp "127.0.0.1:$SP" "e2e_resolved:1|g" >/dev/null 2>&1 ||
    python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"e2e_resolved:1|g", ("127.0.0.1", int(sys.argv[1])))' "$SP"
eventually 20 "a resolved notification reaches the exec hook" \
    grep -q '"VIGIL_STATUS": "resolved"' "$XLOG"
check "the resolved payload says resolved with a real endsAt" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in recs if x["env"]["VIGIL_STATUS"] == "resolved"][0]["stdin"]
a = r["alerts"][0]
assert r["status"] == "resolved" and a["status"] == "resolved", r
assert a["endsAt"] != "0001-01-01T00:00:00Z", a
' "$XLOG"

# ---- self-metrics -------------------------------------------------------------------
check "vigil_notifications_total counts the webhook deliveries ($(metric 'vigil_notifications_total{receiver="web"'))" \
    [ "$(metric 'vigil_notifications_total{receiver="web",integration="webhook"}')" = 2 ]
check "vigil_notify_queue_length is 0 after delivery" \
    [ "$(metric 'vigil_notify_queue_length{receiver="web",integration="webhook"}')" = 0 ]
am_sent=$(metric "vigil_alertmanager_notifications_sent_total{alertmanager=\"http://127.0.0.1:$AP/api/v2/alerts\"}")
check "vigil_alertmanager_notifications_sent_total counts alerts ($am_sent)" \
    [ "${am_sent:-0}" -gt 0 ]

# ---- a reload with a broken route is refused, naming the line ----------------------
sed 's/^    receiver: web$/    receiver: nobody/' "$TMP/vigil.yml" >"$TMP/vigil.yml.new"
mv "$TMP/vigil.yml.new" "$TMP/vigil.yml"
line=$(grep -n "receiver: nobody" "$TMP/vigil.yml" | cut -d: -f1)
kill -HUP "$VPID"
eventually 10 "SIGHUP with an undefined receiver is refused with file:line:col" \
    grep -q "vigil.yml:$line:5: notifiers.route: undefined receiver \\\\\?\"nobody" "$TMP/vigild.log"
check "vigild keeps running on the old configuration" \
    curl -sf -m 2 -o /dev/null "http://127.0.0.1:$HP/-/ready"

kill -TERM "$VPID"
n=100; while kill -0 "$VPID" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
wait "$VPID"; rc=$?
check "vigild stops cleanly on SIGTERM with notifiers running (rc=$rc)" [ $rc = 0 ]
check "no sanitizer report in vigild's log" sh -c "! grep -q Sanitizer '$TMP/vigild.log'"
finish
