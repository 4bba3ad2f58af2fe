#!/bin/sh
# vigild_basic.sh — the agent's own behaviour with a real bin/vigild on
# loopback: health and readiness, /metrics, 404/405, --check-config on good
# and bad files, a port in use (exit 1), SIGTERM (exit 0) and a restart that
# replays the WAL, SIGHUP with a bad file (keeps running) and a good one
# (new log level).
VIGILD="${VIGIL_BIN:?}/vigild"
. "$(dirname "$0")/lib/common.sh"
scratch vigild_basic

get() { curl -s -m 5 "$@"; }
code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "$@"; }

# start NAME ARGS...: starts vigild on fresh ports (retrying when a port is
# taken), sets PID, HTTP, STATSD, LOG.
start() {
    name=$1; shift
    for try in 1 2 3 4 5; do
        HTTP=$(port); STATSD=$(port)
        LOG="$TMP/$name.log"
        "$VIGILD" --http-listen "127.0.0.1:$HTTP" --statsd-listen "127.0.0.1:$STATSD" "$@" \
            >"$TMP/$name.out" 2>"$LOG" &
        PID=$!
        PIDS="$PIDS $PID"
        if wait_for 10 curl -sf -m 1 "http://127.0.0.1:$HTTP/-/ready"; then return 0; fi
        kill -9 $PID 2>/dev/null; wait $PID 2>/dev/null
        grep -q "address already in use" "$LOG" || break
    done
    echo "vigild did not become ready:"; cat "$LOG"
    return 1
}

# running PID: the process exists and is not a zombie waiting for `wait`.
running() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }

# stop_wait PID SECONDS: waits for exit, bounded; sets rc (124: timed out).
stop_wait() {
    n=$(($2 * 10))
    while running "$1" && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    if running "$1"; then rc=124; kill -9 "$1"; wait "$1" 2>/dev/null; return; fi
    wait "$1"; rc=$?
}

# ---- --check-config ---------------------------------------------------------
cat >"$TMP/good.yml" <<'YML'
storage:
  retention: 7d
statsd:
  flush_interval: 1s
log:
  level: info
YML
cat >"$TMP/bad.yml" <<'YML'
storage:
  retension: 7d
statsd:
  flush_interval: 10x
YML
out=$("$VIGILD" --config "$TMP/good.yml" --check-config 2>&1); rc=$?
check "check-config good: exit $rc, $out" [ $rc = 0 -a "$out" = "config OK" ]
out=$("$VIGILD" --config "$TMP/bad.yml" --check-config 2>&1); rc=$?
check "check-config bad exits 1 (got $rc)" [ $rc = 1 ]
case "$out" in *"bad.yml:2:3: unknown key 'retension' in storage (did you mean 'retention'?)"*) ok ;;
    *) bad "check-config bad: unknown key message: $out" ;; esac
case "$out" in *"bad.yml:4:19: bad duration '10x' for statsd.flush_interval"*) ok ;;
    *) bad "check-config bad: duration message: $out" ;; esac
"$VIGILD" --check-config --config "$TMP/missing.yml" >/dev/null 2>&1
check "check-config missing file exits 1" [ $? = 1 ]
"$VIGILD" --bogus >/dev/null 2>&1
check "unknown flag exits 2" [ $? = 2 ]
out=$("$VIGILD" --check-config --http-listen nowhere 2>&1); rc=$?
case "$rc:$out" in "1:--http-listen: bad address 'nowhere'"*) ok ;; *) bad "bad flag value: $rc $out" ;; esac
out=$("$VIGILD" --version); check "--version: $out" [ "$out" = "vigild 0.1.0" ]

# ---- a running agent ---------------------------------------------------------
cp "$TMP/good.yml" "$TMP/live.yml"
start a --config "$TMP/live.yml" --data-dir "$TMP/data" || { echo "0 passed, 1 failed"; exit 1; }
A=$PID
check "/-/healthy" [ "$(get "http://127.0.0.1:$HTTP/-/healthy")" = "Vigil is Healthy." ]
check "/-/ready" [ "$(get "http://127.0.0.1:$HTTP/-/ready")" = "Vigil is Ready." ]
check "404" [ "$(code "http://127.0.0.1:$HTTP/nope")" = 404 ]
check "405" [ "$(code -X POST "http://127.0.0.1:$HTTP/metrics")" = 405 ]
ct=$(curl -s -m 5 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$HTTP/metrics")
check "metrics content type: $ct" [ "$ct" = "text/plain; version=0.0.4; charset=utf-8" ]
m=$(get "http://127.0.0.1:$HTTP/metrics")
for name in 'vigil_build_info{version="0.1.0"} 1' 'vigil_ready 1' \
    'vigil_statsd_lines_total{proto="udp"}' 'vigil_statsd_lines_rejected_total{reason="bad_type"} 0' \
    'vigil_statsd_series_dropped_total{reason="series_limit"} 0' 'vigil_statsd_udp_kernel_drops_total 0' \
    'vigil_http_requests_total{handler="other",code="404"} 1' \
    'vigil_http_requests_total{handler="/metrics",code="405"} 1' 'vigil_tsdb_wal_bytes ' \
    'process_start_time_seconds ' '# TYPE vigil_statsd_udp_packets_total counter'; do
    case "$m" in *"$name"*) ok ;; *) bad "/metrics lacks $name" ;; esac
done
check "log: statsd listening udp" grep -q "msg=\"statsd listening\" addr=127.0.0.1:$STATSD proto=udp" "$TMP/a.log"
check "log: store opened" grep -q 'msg="store opened"' "$TMP/a.log"

# A second agent on the same HTTP port: exit 1 with a clear message.
"$VIGILD" --http-listen "127.0.0.1:$HTTP" --statsd-listen "127.0.0.1:$(port)" \
    --data-dir "$TMP/data2" >/dev/null 2>"$TMP/inuse.log" &
B=$!; PIDS="$PIDS $B"
stop_wait $B 10
check "port in use exits 1 (got $rc)" [ "$rc" = 1 ]
check "port in use message" grep -q 'cannot listen: address already in use' "$TMP/inuse.log"

# SIGHUP with a bad file: still running, still ready, the reason logged.
cp "$TMP/bad.yml" "$TMP/live.yml"
kill -HUP $A
check "bad reload logged" wait_for 5 grep -q 'config reload failed; keeping the running configuration' "$TMP/a.log"
check "bad reload names the error" grep -q "live.yml:2:3: unknown key 'retension'" "$TMP/a.log"
check "still ready after a bad reload" [ "$(code "http://127.0.0.1:$HTTP/-/ready")" = 200 ]
case "$(get "http://127.0.0.1:$HTTP/metrics")" in *"vigil_config_last_reload_successful 0"*) ok ;;
    *) bad "reload failure not in /metrics" ;; esac

# SIGHUP with a good file at debug level: applied.
sed 's/level: info/level: debug/' "$TMP/good.yml" >"$TMP/live.yml"
kill -HUP $A
check "good reload logged" wait_for 5 grep -q 'msg="config reloaded".*log_level=debug' "$TMP/a.log"
printf 'bad line one\nbad line two\n' >"$TMP/lines"
curl -s -m 2 "telnet://127.0.0.1:$STATSD" <"$TMP/lines" >/dev/null 2>&1
check "debug level now logs every rejected line" wait_for 5 grep -q 'level=debug msg="statsd line rejected".*line="bad line two"' "$TMP/a.log"

# Wait for a flush (1s) so self-metrics are in the WAL, then SIGTERM.
sleep 1.5
kill -TERM $A
stop_wait $A 20
check "SIGTERM exits 0 (got $rc)" [ "$rc" = 0 ]
check "store closed logged" grep -q 'msg="store closed"' "$TMP/a.log"

# Restart on the same data: the WAL replays samples.
start b --config "$TMP/good.yml" --data-dir "$TMP/data" || bad "restart"
samples=$(sed -n 's/.*msg="store opened".* wal_samples=\([0-9]*\).*/\1/p' "$TMP/b.log")
check "restart replays the WAL (wal_samples=$samples)" [ "${samples:-0}" -gt 0 ]
kill -TERM $PID
stop_wait $PID 20
check "second SIGTERM exits 0 (got $rc)" [ "$rc" = 0 ]

finish
