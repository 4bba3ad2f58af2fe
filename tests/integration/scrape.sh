#!/bin/sh
# scrape.sh — a real bin/vigild scrapes fake_exporter targets and a real
# prometheus-node-exporter (plain HTTP and HTTPS with a self-signed
# certificate) on loopback: stored values read back with `tsq --data-dir`,
# up, target relabeling and metric relabeling, file_sd (and its reload),
# staleness after a series vanishes and after a target stops, a timeout, a
# 500, a parse error, a dropped target, /api/v1/targets, a SIGHUP that
# removes a job, the vigil_scrape_* self-metrics.
VIGILD="${VIGIL_BIN:?}/vigild"
TSQ="$VIGIL_BIN/tsq"
FAKE="$VIGIL_BIN/bench/fake_exporter"
. "$(dirname "$0")/lib/common.sh"
scratch vigil_scrape
listening() { curl -s -k -m 1 -o /dev/null "$1"; }

if ! command -v prometheus-node-exporter >/dev/null 2>&1; then
    sh "$VIGIL_TOP/tests/deps.sh" prometheus-node-exporter >/dev/null 2>&1
fi
if ! command -v prometheus-node-exporter >/dev/null 2>&1 || ! command -v openssl >/dev/null; then
    echo "prometheus-node-exporter or openssl missing and cannot be installed"
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- exporters ----------------------------------------------------------------
# start_fake VAR ARGS...: a fake_exporter on 2 fresh ports; VAR=first port.
start_fake() {
    var=$1; shift
    for try in 1 2 3 4 5; do
        p=$(port)
        "$FAKE" -p "$p" -n 2 "$@" >"$TMP/fake.$p.out" 2>&1 &
        pid=$!
        if wait_for 5 grep -q listening "$TMP/fake.$p.out"; then
            PIDS="$PIDS $pid"; eval "$var=$p; ${var}_PID=$pid"; return 0
        fi
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    done
    return 1
}
# start_node VAR ARGS...: node_exporter on a fresh port; VAR=port.
start_node() {
    var=$1; scheme=$2; shift 2
    for try in 1 2 3 4 5; do
        p=$(port)
        prometheus-node-exporter --web.listen-address="127.0.0.1:$p" \
            --collector.disable-defaults --collector.loadavg --collector.meminfo "$@" \
            >"$TMP/node.$p.log" 2>&1 &
        pid=$!
        if wait_for 5 listening "$scheme://127.0.0.1:$p/metrics"; then
            PIDS="$PIDS $pid"; eval "$var=$p"; return 0
        fi
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    done
    return 1
}

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
    >/dev/null 2>&1 || { bad "openssl could not make a certificate"; finish; }
cat >"$TMP/web.yml" <<EOF
tls_server_config:
  cert_file: $TMP/cert.pem
  key_file: $TMP/key.pem
EOF

start_fake FP -m 5 -s 3000 -k 3 || { bad "fake_exporter did not start"; finish; }
start_fake SP -m 3 || { bad "second fake_exporter did not start"; finish; }
start_node NP http || { bad "node_exporter did not start"; finish; }
start_node TP https --web.config.file="$TMP/web.yml" ||
    { bad "node_exporter with TLS did not start"; finish; }

# ---- vigild ---------------------------------------------------------------------
mkdir "$TMP/sd"
cat >"$TMP/sd/a.json" <<EOF
[{"targets": ["127.0.0.1:$((FP + 1))"], "labels": {"team": "blue"}}]
EOF
write_config() { # the config with or without (1/0) the "stopper" job
    {
        cat <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 800ms
scrape_configs:
  - job_name: fake
    static_configs:
      - targets: ['127.0.0.1:$FP']
        labels: {env: test}
    relabel_configs:
      - source_labels: [env]
        target_label: environment
      - regex: env
        action: labeldrop
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: fake_scrapes_total
        action: drop
  - job_name: om
    metrics_path: /om
    static_configs: [{targets: ['127.0.0.1:$FP']}]
  - job_name: vanish
    metrics_path: /vanish
    static_configs: [{targets: ['127.0.0.1:$FP']}]
  - job_name: slow
    metrics_path: /slow
    scrape_timeout: 500ms
    static_configs: [{targets: ['127.0.0.1:$FP']}]
  - job_name: err500
    metrics_path: /500
    static_configs: [{targets: ['127.0.0.1:$FP']}]
  - job_name: bad
    metrics_path: /bad
    static_configs: [{targets: ['127.0.0.1:$FP']}]
  - job_name: limited
    sample_limit: 3
    static_configs: [{targets: ['127.0.0.1:$FP']}]
  - job_name: dropme
    relabel_configs:
      - source_labels: [__address__]
        regex: '.*:1'
        action: drop
    static_configs: [{targets: ['127.0.0.1:1', '127.0.0.1:$((FP + 1))']}]
  - job_name: fsd
    file_sd_configs:
      - files: ['$TMP/sd/*.json']
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$NP']}]
  - job_name: node_tls_insecure
    scheme: https
    tls_config: {insecure_skip_verify: true}
    static_configs: [{targets: ['127.0.0.1:$TP']}]
  - job_name: node_tls_ca
    scheme: https
    tls_config: {ca_file: $TMP/cert.pem}
    static_configs: [{targets: ['127.0.0.1:$TP']}]
  - job_name: node_tls_unknown_ca
    scheme: https
    static_configs: [{targets: ['127.0.0.1:$TP']}]
EOF
        [ "$1" = 1 ] && cat <<EOF
  - job_name: stopper
    static_configs: [{targets: ['127.0.0.1:$SP', '127.0.0.1:$((SP + 1))']}]
EOF
    } >"$TMP/vigil.yml"
}
write_config 1
"$VIGILD" --config "$TMP/vigil.yml" --check-config >"$TMP/check.out" 2>&1 ||
    { cat "$TMP/check.out"; bad "--check-config"; finish; }
D="$TMP/data"
for try in 1 2 3 4 5; do
    HP=$(port)
    "$VIGILD" --config "$TMP/vigil.yml" --data-dir "$D" --http-listen "127.0.0.1:$HP" \
        --statsd-listen "127.0.0.1:$(port)" 2>"$TMP/vigild.log" &
    VPID=$!
    if wait_for 10 curl -sf -m 1 "http://127.0.0.1:$HP/-/ready"; then break; fi
    kill -9 $VPID 2>/dev/null; wait $VPID 2>/dev/null; VPID=""
    grep -q "address already in use" "$TMP/vigild.log" || break
done
[ -n "$VPID" ] || { cat "$TMP/vigild.log"; bad "vigild did not become ready"; finish; }
PIDS="$PIDS $VPID"

# stored QUERY: `series value` per line at the current time (tsq CSV).
stored() { timeout 20 "$TSQ" --data-dir "$D" -o csv "$1" 2>&1 | sed '1d; s/,[^,]*,\([^,]*\)$/ \1/'; }
value() { stored "$1" | awk '{print $NF}'; }
is() { [ "$(value "$1")" = "$2" ]; }
present() { [ -n "$(stored "$1")" ]; }
absent() { [ -z "$(stored "$1")" ]; }
targets() { curl -sf -m 5 "http://127.0.0.1:$HP/api/v1/targets$1"; }
# target JOB [QUERY]: the JSON object of job's (first) active target, one line.
target() {
    targets "$2" | sed 's/{"discoveredLabels"/\n&/g' | grep "\"scrapePool\":\"$1\"" | head -n1
}
target_has() { target "$1" | grep -qF "$2"; }
self_metric() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v s="$1" '$1 == s {print $2}'; }

# ---- plain scrapes ----------------------------------------------------------------
eventually 10 "up of the fake target" is 'up{job="fake"}' 1
check "target labels after relabeling" \
    present 'up{job="fake",instance="127.0.0.1:'"$FP"'",environment="test",env=""}'
check "metric_relabel_configs dropped fake_scrapes_total" absent 'fake_scrapes_total{job="fake"}'
both=$(stored 'fake_value{job="fake",idx=~"0|3"}' | awk '{print $NF}' | tr '\n' ' ')
check "stored values of one scrape ($both)" \
    sh -c "echo '$both' | awk '{exit !(\$1 >= 1 && \$2 == \$1 + 3)}'"
check "five series per target" present 'fake_value{job="fake",idx="4"}'
for s in up scrape_duration_seconds scrape_samples_scraped \
    scrape_samples_post_metric_relabeling scrape_series_added; do
    check "synthetic series $s" present "$s"'{job="fake",instance="127.0.0.1:'"$FP"'",environment="test"}'
done
check "scrape_samples_scraped counts before relabeling" is 'scrape_samples_scraped{job="fake"}' 6
check "scrape_samples_post_metric_relabeling" is 'scrape_samples_post_metric_relabeling{job="fake"}' 5
eventually 5 "OpenMetrics target up" is 'up{job="om"}' 1
check "the other job still has fake_scrapes_total" present 'fake_scrapes_total{job="om"}'

# ---- node_exporter, plain and TLS -------------------------------------------------
eventually 10 "node_exporter up" is 'up{job="node"}' 1
check "node_exporter series stored" present 'node_load1{job="node",instance="127.0.0.1:'"$NP"'"}'
check "node_exporter memory" present 'node_memory_MemTotal_bytes{job="node"}'
eventually 10 "https with insecure_skip_verify" is 'up{job="node_tls_insecure"}' 1
eventually 10 "https with ca_file" is 'up{job="node_tls_ca"}' 1
check "https series stored" present 'node_load1{job="node_tls_ca"}'
eventually 10 "https with an unknown CA fails" is 'up{job="node_tls_unknown_ca"}' 0
check "TLS error kept" sh -c "curl -sf http://127.0.0.1:$HP/api/v1/targets | grep -qi 'certificate'"

# ---- failures ----------------------------------------------------------------------
eventually 10 "timeout: up 0" is 'up{job="slow"}' 0
check "timeout error" target_has slow '"lastError":"timeout after 500ms"'
check "timeout health" target_has slow '"health":"down"'
eventually 10 "500: up 0" is 'up{job="err500"}' 0
check "500 error" target_has err500 '"lastError":"server returned HTTP status 500"'
eventually 10 "parse error: up 0" is 'up{job="bad"}' 0
check "parse error names the line" target_has bad '"lastError":"3:'
check "parse error stores nothing" absent 'ok_metric{job="bad"}'
eventually 10 "sample_limit: up 0" is 'up{job="limited"}' 0
check "sample_limit error" target_has limited '"lastError":"sample limit exceeded"'
check "sample_limit stores nothing" absent 'fake_value{job="limited"}'

# ---- staleness -------------------------------------------------------------------
eventually 10 "vanishing series gone (stale marker)" absent 'fake_vanishing{job="vanish"}'
check "the vanishing series was stored before" \
    sh -c "\"$TSQ\" --data-dir \"$D\" -o csv 'fake_vanishing{job=\"vanish\"}[1m]' | grep -q ',1\$'"
check "the other series of that target remain" present 'fake_value{job="vanish",idx="0"}'
eventually 10 "stopper target up" is 'up{job="stopper",instance="127.0.0.1:'"$SP"'"}' 1
kill "$SP_PID"; wait "$SP_PID" 2>/dev/null
eventually 10 "stopped target: up 0" is 'up{job="stopper",instance="127.0.0.1:'"$SP"'"}' 0
eventually 5 "stopped targets: series stale" absent 'fake_value{job="stopper"}'
check "stopped target: error" target_has stopper '"health":"down"'

# ---- targets API -------------------------------------------------------------------
check "targets: success" sh -c "curl -sf http://127.0.0.1:$HP/api/v1/targets | grep -q '^{\"status\":\"success\",\"data\":{\"activeTargets\":\[{\"discoveredLabels\":{'"
check "targets: fields in Prometheus' order" target_has fake \
    "\"scrapePool\":\"fake\",\"scrapeUrl\":\"http://127.0.0.1:$FP/metrics\",\"globalUrl\":\"http://127.0.0.1:$FP/metrics\",\"lastError\":\"\",\"lastScrape\":\"20"
check "targets: labels" target_has fake "\"labels\":{\"environment\":\"test\",\"instance\":\"127.0.0.1:$FP\",\"job\":\"fake\"}"
check "targets: discovered labels" target_has fake '"__scrape_interval__":"1s","__scrape_timeout__":"800ms","env":"test","job":"fake"}'
check "targets: health up" target_has fake '"health":"up","scrapeInterval":"1s","scrapeTimeout":"800ms"}'
check "targets: dropped target" sh -c "curl -sf 'http://127.0.0.1:$HP/api/v1/targets?state=dropped' | grep -q '\"activeTargets\":\[\],\"droppedTargets\":\[{\"discoveredLabels\":{\"__address__\":\"127.0.0.1:1\"'"
check "targets: state=active" sh -c "curl -sf 'http://127.0.0.1:$HP/api/v1/targets?state=active' | grep -q '\"droppedTargets\":\[\]}}'"
check "targets: the kept target of the dropme job" is 'up{job="dropme"}' 1

# ---- file_sd ----------------------------------------------------------------------
eventually 10 "file_sd target up" is 'up{job="fsd",team="blue"}' 1
check "file_sd discovered labels" target_has fsd "\"__meta_filepath\":\"$TMP/sd/a.json\""
cat >"$TMP/sd/a.json.new" <<EOF
[{"targets": ["127.0.0.1:$FP"], "labels": {"team": "red"}}]
EOF
mv "$TMP/sd/a.json.new" "$TMP/sd/a.json"
eventually 10 "file_sd change picked up" is 'up{job="fsd",team="red"}' 1
eventually 10 "file_sd removed target goes stale" absent 'up{job="fsd",team="blue"}'

# ---- reload ----------------------------------------------------------------------
write_config 0
kill -HUP $VPID
eventually 10 "reload removed the job from the targets" \
    sh -c "! curl -sf http://127.0.0.1:$HP/api/v1/targets | grep -q stopper"
check "removed job: up stale" absent 'up{job="stopper"}'
check "kept job still up after the reload" is 'up{job="fake"}' 1
check "reload ok" [ "$(self_metric vigil_config_last_reload_successful)" = 1 ]

# ---- self-metrics ------------------------------------------------------------------
check "scrapes counted" sh -c "[ \"\$(curl -sf http://127.0.0.1:$HP/metrics | awk '\$1 == \"vigil_scrape_scrapes_total{job=\\\"fake\\\",result=\\\"success\\\"}\" {print (\$2 > 3)}')\" = 1 ]"
check "timeouts counted" sh -c "curl -sf http://127.0.0.1:$HP/metrics | grep -q 'vigil_scrape_scrapes_total{job=\"slow\",result=\"timeout\"} [1-9]'"
check "stale markers counted" sh -c "curl -sf http://127.0.0.1:$HP/metrics | grep -q 'vigil_scrape_stale_markers_total{job=\"vanish\"} [1-9]'"
check "dropped targets counted" [ "$(self_metric 'vigil_scrape_targets{job="dropme",state="dropped"}')" = 1 ]

# ---- stop ------------------------------------------------------------------------
kill -TERM $VPID
n=100; while kill -0 $VPID 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
wait $VPID; rc=$?
check "SIGTERM exits 0 while scraping (rc=$rc)" [ $rc = 0 ]
FINISH_LOG="$TMP/vigild.log"
finish
