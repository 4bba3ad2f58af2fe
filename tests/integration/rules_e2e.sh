#!/bin/sh
# rules_e2e.sh — a real bin/vigild evaluates a rule file on loopback:
# statsd gauges in, a recording rule's output queried back, an alert with
# `for: 2s` going pending then firing (/api/v1/alerts, ALERTS), the
# /api/v1/rules JSON shape and filters, the built-in Watchdog, rule
# self-metrics, --check-config and SIGHUP rejecting a bad rule file with
# file:line while the old rules keep running, and alert state surviving
# kill -9 (a pending alert keeps its activeAt, a firing one stays firing).
VIGILD="${VIGIL_BIN:?}/vigild"
SEND="$VIGIL_BIN/bench/statsd_load"
. "$(dirname "$0")/lib/common.sh"
scratch vigil_rules
FINISH_LOG="$TMP/vigild.log"
command -v python3 >/dev/null || { echo "python3 missing (JSON checks)"; echo "0 passed, 1 failed"; exit 1; }

# ---- files ------------------------------------------------------------------------
write_rules() { # the good rule file
    cat >"$TMP/rules/blog.yml" <<'EOF'
groups:
  - name: blog
    rules:
      - record: job:blog_up:sum
        expr: sum by (job) (blog_up)
      - record: job:blog_up:doubled
        expr: job:blog_up:sum * 2 + 1
      - alert: BlogDown
        expr: blog_up == 0
        for: 2s
        labels:
          severity: page
        annotations:
          summary: 'blog {{ $labels.job }} is down (value {{ $value }})'
      - alert: BlogDownLong
        expr: blog_up == 0
        for: 1h
EOF
}
mkdir "$TMP/rules"
write_rules
cat >"$TMP/vigil.yml" <<EOF
global:
  evaluation_interval: 1s
rule_files: ['rules/*.yml']
statsd:
  flush_interval: 1s
rules:
  watchdog: true
EOF
cat >"$TMP/bad.yml" <<'EOF'
groups:
  - name: broken
    rules:
      - record: ok:metric
        expr: vector(1)
      - alert: Broken
        expr: sum(rate(x[5m])
EOF

# ---- --check-config -----------------------------------------------------------------
"$VIGILD" --config "$TMP/vigil.yml" --check-config >"$TMP/check.out" 2>&1
check "--check-config accepts the rule file ($(head -c 300 "$TMP/check.out"))" \
    grep -q "config OK" "$TMP/check.out"
mkdir "$TMP/badconf"
sed "s|rules/\*.yml|$TMP/bad.yml|" "$TMP/vigil.yml" >"$TMP/badconf/vigil.yml"
"$VIGILD" --config "$TMP/badconf/vigil.yml" --check-config >"$TMP/check.out" 2>&1; rc=$?
check "--check-config rejects a bad rule file (rc=$rc)" [ $rc = 1 ]
check "--check-config names file:line ($(head -c 300 "$TMP/check.out"))" \
    grep -q "bad.yml:7:" "$TMP/check.out"

# ---- vigild -------------------------------------------------------------------------
D="$TMP/data"
start_vigild || { bad "vigild did not become ready"; finish; }
gauge() { "$SEND" send tcp "127.0.0.1:$SP" "$1" || bad "sending $1"; }
api() { curl -sf -m 5 "http://127.0.0.1:$HP/api/v1/$1"; }
# value QUERY: the first result's value of an instant query.
value() {
    curl -sf -m 5 "http://127.0.0.1:$HP/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
is() { [ "$(value "$1")" = "$2" ]; }
# alert NAME: "state activeAt" of alert NAME in /api/v1/alerts, or nothing.
alert() {
    api alerts | python3 -c '
import json, sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    if a["labels"].get("alertname") == sys.argv[1]:
        print(a["state"], a["activeAt"])' "$1"
}
alert_state() { [ "$(alert "$1" | cut -d' ' -f1)" = "$2" ]; }
self_metric() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v s="$1" 'index($1, s) == 1 {print $2; exit}'; }

gauge "blog_up:0|g|#job:blog"
eventually 10 "recording rule output queryable" is 'job:blog_up:sum{job="blog"}' 0
eventually 5 "a rule reads an earlier rule's output in the same group" \
    is 'job:blog_up:doubled{job="blog"}' 1
eventually 5 "BlogDown pending first" alert_state BlogDown pending
eventually 10 "BlogDown firing after for: 2s" alert_state BlogDown firing
check "ALERTS{alertstate=firing} stored" is 'ALERTS{alertname="BlogDown",alertstate="firing"}' 1
check "ALERTS carries the rule's labels" is 'ALERTS{alertname="BlogDown",severity="page",job="blog"}' 1
check "ALERTS_FOR_STATE stored" sh -c "[ -n \"\$(curl -sf -m 5 http://127.0.0.1:$HP/api/v1/query --data-urlencode 'query=ALERTS_FOR_STATE{alertname=\"BlogDown\"}' | grep -o '\"result\":\[{')\" ]"
check "BlogDownLong pending (for: 1h)" alert_state BlogDownLong pending
eventually 5 "Watchdog firing" alert_state Watchdog firing

# ---- /api/v1/alerts and /api/v1/rules shapes ----------------------------------------
api alerts >"$TMP/alerts.json"
check "alerts: Prometheus' shape and annotation template expanded" python3 - "$TMP/alerts.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "success" and list(d["data"]) == ["alerts"]
a = [a for a in d["data"]["alerts"] if a["labels"]["alertname"] == "BlogDown"][0]
assert list(a) == ["labels", "annotations", "state", "activeAt", "value"], list(a)
assert a["labels"] == {"alertname": "BlogDown", "job": "blog", "severity": "page"}, a["labels"]
assert a["annotations"] == {"summary": "blog blog is down (value 0)"}, a["annotations"]
assert a["value"] == "0e+00", a["value"]
assert a["activeAt"].endswith("Z") and a["activeAt"][:2] == "20"
EOF
api rules >"$TMP/rules.json"
check "rules: Prometheus' shape, field order, groups sorted by file" python3 - "$TMP/rules.json" "$TMP" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "success" and list(d["data"]) == ["groups"]
gs = d["data"]["groups"]
names = [g["name"] for g in gs]
assert "blog" in names and "vigil-builtin" in names, names
g = gs[names.index("blog")]
assert list(g) == ["name", "file", "rules", "interval", "limit", "evaluationTime",
                   "lastEvaluation"], list(g)
assert g["file"] == sys.argv[2] + "/rules/blog.yml", g["file"]
assert g["interval"] == 1 and g["limit"] == 0
rec, rec2, al, al2 = g["rules"]
assert list(rec) == ["name", "query", "health", "evaluationTime", "lastEvaluation", "type"], list(rec)
assert rec["type"] == "recording" and rec["health"] == "ok"
assert rec["query"] == "sum by (job) (blog_up)", rec["query"]
assert list(al) == ["state", "name", "query", "duration", "keepFiringFor", "labels",
                    "annotations", "alerts", "health", "evaluationTime", "lastEvaluation",
                    "type"], list(al)
assert al["state"] == "firing" and al["duration"] == 2 and al["keepFiringFor"] == 0
assert al["labels"] == {"severity": "page"} and al["type"] == "alerting"
assert al["query"] == "blog_up == 0" and len(al["alerts"]) == 1
assert al2["state"] == "pending" and al2["duration"] == 3600
w = gs[names.index("vigil-builtin")]["rules"][0]
assert w["name"] == "Watchdog" and w["labels"] == {"severity": "none"} and w["query"] == "vector(1)"
assert sorted(gs, key=lambda g: (g["file"], g["name"])) == gs
s = gs[names.index("vigil-self")]
assert s["interval"] == 30 and len(s["rules"]) == 8, s
assert s["file"] == sys.argv[2] + "/data/rules/builtin.yml", s["file"]
EOF
check "rules?type=record lists recording rules only" sh -c \
    "curl -sf 'http://127.0.0.1:$HP/api/v1/rules?type=record' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert {r[\"type\"] for g in d[\"data\"][\"groups\"] for r in g[\"rules\"]} == {\"recording\"}'"
check "rules?rule_name[]=BlogDown&type=alert" sh -c \
    "curl -sfg 'http://127.0.0.1:$HP/api/v1/rules?type=alert&rule_name[]=BlogDown' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [r[\"name\"] for g in d[\"data\"][\"groups\"] for r in g[\"rules\"]] == [\"BlogDown\"]'"
check "rules?rule_group[]=nothing leaves no group" sh -c \
    "curl -sfg 'http://127.0.0.1:$HP/api/v1/rules?rule_group[]=nothing' | grep -qF '{\"status\":\"success\",\"data\":{\"groups\":[]}}'"
check "rules?exclude_alerts=true drops the alert list" sh -c \
    "curl -sf 'http://127.0.0.1:$HP/api/v1/rules?exclude_alerts=true' | grep -q '\"alerts\":\[\],\"health\"' && ! curl -sf 'http://127.0.0.1:$HP/api/v1/rules?exclude_alerts=true' | grep -q activeAt"
code=$(curl -s -o "$TMP/err.json" -w '%{http_code}' "http://127.0.0.1:$HP/api/v1/rules?type=bogus")
check "rules?type=bogus: 400 bad_data ($code)" sh -c "[ $code = 400 ] && grep -q '\"errorType\":\"bad_data\"' '$TMP/err.json'"

# ---- self-metrics ---------------------------------------------------------------------
G="{rule_group=\"$TMP/rules/blog.yml;blog\"}"
check "vigil_rule_evaluations_total counts ($(self_metric "vigil_rule_evaluations_total$G"))" \
    sh -c "[ \"\$(echo '$(self_metric "vigil_rule_evaluations_total$G")' | awk '{print (\$1 >= 8)}')\" = 1 ]"
check "vigil_rule_group_rules" [ "$(self_metric "vigil_rule_group_rules$G")" = 4 ]
check "vigil_rule_group_interval_seconds" [ "$(self_metric "vigil_rule_group_interval_seconds$G")" = 1 ]
check "no evaluation failures" [ "$(self_metric "vigil_rule_evaluation_failures_total$G")" = 0 ]
check "vigil_rule_group_last_evaluation_timestamp_seconds is recent" sh -c \
    "[ \"\$(echo '$(self_metric "vigil_rule_group_last_evaluation_timestamp_seconds$G")' | awk -v now=$(date +%s) '{print (now - \$1 < 10)}')\" = 1 ]"

# ---- SIGHUP with a bad rule file ------------------------------------------------------
cp "$TMP/bad.yml" "$TMP/rules/zz_bad.yml"
evals_before=$(self_metric "vigil_rule_evaluations_total$G")
kill -HUP $VPID
eventually 5 "reload failure reported" sh -c "[ \"\$(curl -sf http://127.0.0.1:$HP/metrics | awk '\$1 == \"vigil_config_last_reload_successful\" {print \$2}')\" = 0 ]"
check "the log names the bad rule file's file:line" grep -q "zz_bad.yml:7:" "$TMP/vigild.log"
sleep 2
evals_after=$(self_metric "vigil_rule_evaluations_total$G")
check "the old rules keep running ($evals_before -> $evals_after evaluations)" \
    [ "$(echo "$evals_before $evals_after" | awk '{print ($2 > $1)}')" = 1 ]
check "the bad group was not loaded" sh -c "! curl -sf http://127.0.0.1:$HP/api/v1/rules | grep -q '\"name\":\"broken\"'"
check "BlogDown still firing" alert_state BlogDown firing
rm "$TMP/rules/zz_bad.yml"
kill -HUP $VPID
eventually 5 "a good reload succeeds again" sh -c "[ \"\$(curl -sf http://127.0.0.1:$HP/metrics | awk '\$1 == \"vigil_config_last_reload_successful\" {print \$2}')\" = 1 ]"
check "BlogDown kept firing across the reload" alert_state BlogDown firing

# ---- a reload that adds, then removes a group ---------------------------------------------
printf 'groups:\n  - name: extra\n    interval: 1s\n    rules:\n      - record: extra_one\n        expr: vector(1)\n' > "$TMP/rules/extra.yml"
GX="{rule_group=\"$TMP/rules/extra.yml;extra\"}"
kill -HUP $VPID
eventually 5 "an added group shows in the self-metrics" [ "$(self_metric "vigil_rule_group_rules$GX")" = 1 ]
rm "$TMP/rules/extra.yml"
kill -HUP $VPID
eventually 5 "a removed group's self-metrics are gone" [ -z "$(self_metric "vigil_rule_group_rules$GX")" ]
check "the other groups' self-metrics remain" [ "$(self_metric "vigil_rule_group_rules$G")" = 4 ]

# ---- kill -9 and restart -----------------------------------------------------------------
long_before=$(alert BlogDownLong)
fired_before=$(alert BlogDown)
sleep 1.5 # one more evaluation, so that the state file has seen these states
kill -9 $VPID; wait $VPID 2>/dev/null
check "state file written" test -s "$D/rules/alerts.json"
start_vigild || { bad "vigild did not restart"; finish; }
gauge "blog_up:0|g|#job:blog"
check "restored at start: BlogDownLong pending with its activeAt ($long_before)" \
    [ "$(alert BlogDownLong)" = "$long_before" ]
check "restored at start: BlogDown firing ($fired_before)" [ "$(alert BlogDown)" = "$fired_before" ]
never_pending=1
n=30; while [ $n -gt 0 ]; do # 3 s: several evaluations
    [ "$(alert BlogDown | cut -d' ' -f1)" = firing ] || never_pending=0
    sleep 0.1; n=$((n - 1))
done
check "BlogDown never went back to pending after the restart" [ $never_pending = 1 ]
check "BlogDownLong keeps its activeAt after evaluations" [ "$(alert BlogDownLong)" = "$long_before" ]

# ---- resolving, stop ---------------------------------------------------------------------
gauge "blog_up:1|g|#job:blog"
eventually 10 "BlogDown resolves when blog_up is 1" sh -c "[ -z \"\$(curl -sf http://127.0.0.1:$HP/api/v1/alerts | grep BlogDown)\" ]"
check "ALERTS for BlogDown gone (stale)" is 'ALERTS{alertname="BlogDown"}' ""
kill -TERM $VPID
n=100; while kill -0 $VPID 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
wait $VPID; rc=$?
check "SIGTERM exits 0 while evaluating rules (rc=$rc)" [ $rc = 0 ]

# ---- the same JSON as a real Prometheus 2.42 -------------------------------------
if ! command -v prometheus >/dev/null 2>&1; then
    echo "prometheus not installed: comparison with Prometheus skipped"
    finish
fi
mkdir "$TMP/cmp"
cat >"$TMP/cmp/rules.yml" <<'EOF'
groups:
  - name: cmp
    interval: 1s
    rules:
      - record: job:x:sum
        expr: sum(vector(1))
      - record: job:x:labelled
        expr: vector(2)
        labels: {team: a}
      - alert: A
        expr: vector(1) == 1
        for: 2s
        labels: {severity: page}
        annotations: {summary: 'value {{ $value }}, {{ 0.25 | humanizePercentage }}'}
      - alert: Never
        expr: vector(1) == 2
      - alert: Kept
        expr: vector(3) > 0
        keep_firing_for: 5m
EOF
printf 'global: {evaluation_interval: 1s}\nrule_files: [rules.yml]\n' >"$TMP/cmp/prom.yml"
printf 'rules: {self_monitoring: false}\n' | cat "$TMP/cmp/prom.yml" - >"$TMP/cmp/vigil.yml"
PROM_PID=""
for try in 1 2 3 4 5; do
    PP=$(port)
    prometheus --config.file="$TMP/cmp/prom.yml" --storage.tsdb.path="$TMP/cmp/pdata" \
        --web.listen-address="127.0.0.1:$PP" >"$TMP/cmp/prom.log" 2>&1 &
    PROM_PID=$!
    if wait_for 15 curl -sf -m 1 "http://127.0.0.1:$PP/-/ready"; then
        PIDS="$PIDS $PROM_PID"; break
    fi
    kill -9 $PROM_PID 2>/dev/null; wait $PROM_PID 2>/dev/null; PROM_PID=""
done
[ -n "$PROM_PID" ] || { bad "prometheus did not start"; finish; }
start_vigild "$TMP/cmp/vigil.yml" "$TMP/cmp/vdata" || { bad "vigild (comparison) did not start"; finish; }
firing_at() { # PORT: alert A is firing there
    curl -sf "http://127.0.0.1:$1/api/v1/alerts" | python3 -c '
import json, sys
sys.exit(not [a for a in json.load(sys.stdin)["data"]["alerts"]
              if a["labels"]["alertname"] == "A" and a["state"] == "firing"])'
}
eventually 15 "Prometheus fires A" firing_at $PP
eventually 15 "vigild fires A" firing_at $HP
for e in rules alerts; do
    curl -sf "http://127.0.0.1:$PP/api/v1/$e" >"$TMP/cmp/p_$e.json"
    curl -sf "http://127.0.0.1:$HP/api/v1/$e" >"$TMP/cmp/v_$e.json"
done
check "/api/v1/rules and /api/v1/alerts: Prometheus' fields, order and values (times aside)" \
    python3 - "$TMP/cmp" <<'EOF'
import json, sys
def norm(x, key=""):
    """The document as (key, value) lists, times of evaluation blanked."""
    if isinstance(x, dict):
        return [(k, norm(v, k)) for k, v in x.items()]
    if isinstance(x, list):
        return [norm(v) for v in x]
    return "T" if key in ("lastEvaluation", "activeAt", "evaluationTime") else x
ok = True
for e in ("rules", "alerts"):
    p = norm(json.load(open(sys.argv[1] + "/p_%s.json" % e)))
    v = norm(json.load(open(sys.argv[1] + "/v_%s.json" % e)))
    if p != v:
        ok = False
        print("prometheus:", p, "\nvigild:    ", v)
sys.exit(0 if ok else 1)
EOF
finish
