#!/bin/sh
# statsd.sh — the statsd ingest benchmark in one run: vigild, node statsd
# 0.9.0, collectd 5.12's statsd plugin and netdata 1.37's statsd, one at a
# time on 127.0.0.1. For each server and each case (metrics per datagram) it
# steps the offered rate up until the loss reaches LOSS_PCT, counted by the
# server itself against what statsd_load sent, and records at the highest
# lossless rate the server's CPU seconds per million metrics, the kernel's
# RcvbufErrors and the generator's CPU. RUNS runs; prints medians.
# Results and how to read them: docs/benchmarks.md, "statsd ingest".
#
# Usage: tests/bench/statsd.sh [BIN]          (BIN defaults to bin)
# Environment (defaults are the full run):
#   SERVERS="vigild node collectd netdata"  CASES="20 1"  RUNS=3
#   RATES_20="100000 200000 400000 800000 1600000 3200000 6400000"
#   RATES_1="25000 50000 100000 200000 400000"   (metrics/s, ascending; RATES_<m>
#                                          for any other case m)
#   BURST_S=4      seconds per burst          NAMES=1000  distinct names
#   LOSS_PCT=0.1   a burst losing this much or more fails
#   REFINE=1       after the first failure, also try the midpoint
#   PORT_BASE=28125  servers use PORT_BASE..PORT_BASE+2
#   STATSD_NPM=/tmp/vigil-statsd-npm    where `npm install statsd@0.9.0` goes
#   QUICK=1        smoke run: 1 run, 1 s bursts, two rates per case
# Everything else goes to a fresh directory under /tmp (TMPDIR), removed at
# exit; servers are stopped by their PID.
set -eu

BIN=${1:-bin}
if [ "${QUICK:-0}" = 1 ]; then
    RUNS=${RUNS:-1} BURST_S=${BURST_S:-1} REFINE=${REFINE:-0}
    RATES_20=${RATES_20:-"100000 400000"} RATES_1=${RATES_1:-"20000 50000"}
fi
SERVERS=${SERVERS:-"vigild node collectd netdata"} CASES=${CASES:-"20 1"}
RUNS=${RUNS:-3} BURST_S=${BURST_S:-4} NAMES=${NAMES:-1000}
LOSS_PCT=${LOSS_PCT:-0.1} REFINE=${REFINE:-1} PORT_BASE=${PORT_BASE:-28125}
RATES_20=${RATES_20:-"100000 200000 400000 800000 1600000 3200000 6400000"}
RATES_1=${RATES_1:-"25000 50000 100000 200000 400000"}
STATSD_NPM=${STATSD_NPM:-/tmp/vigil-statsd-npm}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$BIN" && pwd)
LOAD=$BIN/bench/statsd_load
UDP_PORT=$PORT_BASE MGMT_PORT=$((PORT_BASE + 1)) HTTP_PORT=$((PORT_BASE + 2))
TICK=$(getconf CLK_TCK)

need() { [ -x "$1" ] || { echo "statsd.sh: $1 missing ($2)" >&2; exit 2; }; }
need "$LOAD" make
need /usr/bin/curl "tests/deps.sh curl"
for s in $SERVERS; do
    case $s in
    vigild) need "$BIN/vigild" make ;;
    node)
        need /usr/bin/node "Debian nodejs"
        [ -f "$STATSD_NPM/node_modules/statsd/stats.js" ] ||
            npm install --silent --prefix "$STATSD_NPM" statsd@0.9.0 >&2 ;;
    collectd) sh "$TOP/tests/deps.sh" collectd-core; need /usr/sbin/collectd collectd-core ;;
    netdata) sh "$TOP/tests/deps.sh" netdata-core; need /usr/sbin/netdata netdata-core ;;
    *) echo "statsd.sh: unknown server $s" >&2; exit 2 ;;
    esac
done

W=$(mktemp -d "${TMPDIR:-/tmp}/vigil-statsd.XXXXXX")
PID=
stop_server() {
    [ -n "$PID" ] || return 0
    kill "$PID" 2>/dev/null || true
    i=0
    while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}
cleanup() { stop_server; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
mkdir "$W/res"

. "$(dirname "$0")/lib/stats.sh"
# kv FILE KEY: the value of key=value in statsd_load's output.
kv() { tr ' ' '\n' < "$1" | sed -n "s/^$2=//p" | head -n 1; }
calc() { awk "BEGIN { print $1 }"; }

# wait_for CMD...: retries CMD for up to 30 s.
wait_for() {
    i=0
    until "$@" > /dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 300 ] || return 1
        kill -0 "$PID" 2>/dev/null || return 1
        sleep 0.1
    done
}

# The server is timeout's child: CPU is read from the child's stat.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$(ps -o pid= --ppid "$PID" | head -n 1 | tr -d ' ')/stat"; }
rcvbuf_errors() { awk '/^Udp:/ {n++; if (n == 1) for (i = 1; i <= NF; i++) col[$i] = i;
    else {print $col["RcvbufErrors"]; exit}}' /proc/net/snmp; }

# ---- servers: start_S starts S in the background (PID), count_S prints
# ---- its cumulative count of received metrics, drain_S waits until the
# ---- count reflects everything received.

start_vigild() {
    cat > "$W/vigil.yml" <<EOF
statsd:
  flush_interval: 1s
EOF
    rm -rf "$W/vigil-data"
    timeout 7200 "$BIN/vigild" --config "$W/vigil.yml" --data-dir "$W/vigil-data" \
        --statsd-listen "127.0.0.1:$UDP_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
        --log-level warn > "$W/server.log" 2>&1 &
    PID=$!
    wait_for curl -sf "http://127.0.0.1:$HTTP_PORT/-/ready"
}
count_vigild() {
    curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" |
        awk '$1 == "vigil_statsd_metrics_accepted_total" {print $2}'
}
drain_vigild() { sleep 1; }

start_node() {
    cat > "$W/node.js" <<EOF
{ port: $UDP_PORT, address: "127.0.0.1", mgmt_address: "127.0.0.1",
  mgmt_port: $MGMT_PORT, backends: [], flushInterval: 86400000,
  deleteCounters: false }
EOF
    timeout 7200 node "$STATSD_NPM/node_modules/statsd/stats.js" "$W/node.js" \
        > "$W/server.log" 2>&1 &
    PID=$!
    wait_for count_node
}
# The management command `counters` prints the counters object, whose
# statsd.metrics_received counts every non-empty line received.
count_node() {
    node -e '
const s = require("net").connect(+process.argv[1], "127.0.0.1", () => s.write("counters\n"));
let b = ""; s.setTimeout(5000, () => process.exit(1));
s.on("data", d => { b += d; const m = b.match(/.statsd\.metrics_received.: (\d+)/);
  if (m && b.includes("END")) { console.log(m[1]); s.end(); process.exit(0); } });' "$MGMT_PORT"
}
drain_node() { sleep 1; }

start_collectd() {
    rm -rf "$W/csv"
    cat > "$W/collectd.conf" <<EOF
Hostname "bench"
FQDNLookup false
Interval 1
BaseDir "$W"
PIDFile "$W/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin statsd
LoadPlugin csv
<Plugin statsd>
  Host "127.0.0.1"
  Port "$UDP_PORT"
  DeleteCounters false
  DeleteTimers false
  DeleteGauges false
  DeleteSets false
</Plugin>
<Plugin csv>
  DataDir "$W/csv"
  StoreRates false
</Plugin>
EOF
    timeout 7200 collectd -f -C "$W/collectd.conf" > "$W/server.log" 2>&1 &
    PID=$!
    # The counters appear once the first metrics arrive: prime them.
    "$LOAD" -a "127.0.0.1:$UDP_PORT" -m 20 -n "$NAMES" -r 100000 -c "$((NAMES * 2))" -T > /dev/null
    wait_for csv_written && drain_collectd
}
csv_written() { ls "$W"/csv/bench/statsd/derive-*; }
# collectd counts nothing itself: its count is the sum of the cumulative
# counters (derive-*.csv, last line of each), compared with statsd_load's
# counter_sum, the sum of value / sample rate of the counters it sent. It
# rejects (and logs) DogStatsD tags, so it gets the same load without them.
count_collectd() {
    for f in "$W"/csv/bench/statsd/derive-*; do tail -n 1 "$f"; done |
        awk -F, '{s += $2} END {printf "%.0f\n", s}'
}
# Two flushes after the burst: every counter written since.
drain_collectd() { sleep 2.5; }

start_netdata() {
    mkdir -p "$W/netdata/cache" "$W/netdata/lib" "$W/netdata/log"
    cat > "$W/netdata.conf" <<EOF
[global]
    run as user = root
[db]
    mode = ram
    update every = 1
[directories]
    cache = $W/netdata/cache
    lib = $W/netdata/lib
    log = $W/netdata/log
[logs]
    debug log = none
    error log = $W/netdata/log/error.log
    access log = none
[web]
    bind to = 127.0.0.1:$HTTP_PORT
[registry]
    enabled = no
[health]
    enabled = no
[ml]
    enabled = no
[plugins]
    enable running new plugins = no
    proc = no
    diskspace = no
    cgroups = no
    tc = no
    idlejitter = no
    timex = no
    checks = no
    apps = no
    python.d = no
    charts.d = no
    go.d = no
    node.d = no
    ebpf = no
    statsd = yes
[statsd]
    enabled = yes
    bind to = udp:127.0.0.1:$UDP_PORT
    update every (flushInterval) = 1
EOF
    DO_NOT_TRACK=1 timeout 7200 netdata -c "$W/netdata.conf" -D > "$W/server.log" 2>&1 &
    PID=$!
    wait_for count_netdata
}
# netdata.statsd_events is incremental: the raw collected values are the
# cumulative counts of each metric type (and errors, which are not counted).
count_netdata() {
    curl -sf "http://127.0.0.1:$HTTP_PORT/api/v1/allmetrics?format=prometheus&source=as-collected&filter=netdata.statsd_events" |
        awk '/^netdata_netdata_statsd_events_total/ && !/dimension="errors"/ {s += $2; n++}
             END {if (n) printf "%.0f\n", s; else exit 1}'
}
drain_netdata() { sleep 2.5; }

# ---- one burst ------------------------------------------------------------

# count SERVER: its count, retried (a busy server may not answer at once).
count() {
    for i in 1 2 3 4 5; do
        v=$("count_$1" 2>/dev/null) && [ -n "$v" ] && { echo "$v"; return; }
        sleep 0.5
    done
    echo "statsd.sh: cannot read the count of $1" >&2
    return 1
}

# burst SERVER PER_DATAGRAM RATE: sends BURST_S seconds at RATE; sets
# OFFERED (metrics/s actually offered), LOSS (%), CPU_PER_M, RCVBUF, GEN_CPU.
burst() {
    key=metrics tags=
    [ "$1" = collectd ] && key=counter_sum tags=-T
    c0=$(count "$1") t0=$(cpu_ticks) r0=$(rcvbuf_errors)
    "$LOAD" -a "127.0.0.1:$UDP_PORT" -m "$2" -n "$NAMES" -r "$3" $tags \
        -c "$(calc "int($3 * $BURST_S)")" -t "$((BURST_S * 2))" > "$W/load"
    "drain_$1"
    c1=$(count "$1") t1=$(cpu_ticks) r1=$(rcvbuf_errors)
    sent=$(kv "$W/load" $key) metrics=$(kv "$W/load" metrics)
    OFFERED=$(kv "$W/load" offered_rate) GEN_CPU=$(kv "$W/load" cpu_s)
    LOSS=$(calc "100 * ($sent - ($c1 - $c0)) / $sent")
    CPU_PER_M=$(calc "($t1 - $t0) / $TICK / ($metrics / 1e6)")
    RCVBUF=$((r1 - r0))
    printf '  %-8s m=%-2s rate=%-8s offered=%-8s loss=%.3f%% cpu=%.3fs/M rcvbuf_errors=%s gen_cpu=%ss\n' \
        "$1" "$2" "$3" "$OFFERED" "$LOSS" "$CPU_PER_M" "$RCVBUF" "$GEN_CPU" >&2
}

# step SERVER PER_DATAGRAM: the rate ladder; records the highest rate with
# loss under LOSS_PCT (0 if none) and the measures of that burst.
step() {
    best=0 best_cpu=n/a best_rcv=n/a best_gen=n/a last_pass=0 fail=0
    eval "rates=\${RATES_$2}"
    for r in $rates; do
        burst "$1" "$2" "$r"
        if [ "$(calc "$LOSS < $LOSS_PCT")" = 1 ]; then
            best=$OFFERED best_cpu=$CPU_PER_M best_rcv=$RCVBUF best_gen=$GEN_CPU last_pass=$r
            # One sending core cannot offer more: higher steps repeat this one.
            [ "$(calc "$OFFERED < 0.95 * $r")" = 1 ] && break
        else
            fail=$r
            break
        fi
    done
    if [ "$REFINE" = 1 ] && [ "$fail" != 0 ] && [ "$last_pass" != 0 ]; then
        mid=$(calc "int(($last_pass + $fail) / 2)")
        burst "$1" "$2" "$mid"
        if [ "$(calc "$LOSS < $LOSS_PCT")" = 1 ]; then
            best=$OFFERED best_cpu=$CPU_PER_M best_rcv=$RCVBUF best_gen=$GEN_CPU
        fi
    fi
    record "$1_$2_rate" "$best"
    [ "$best_cpu" = n/a ] && return
    record "$1_$2_cpu" "$best_cpu"
    record "$1_$2_rcvbuf" "$best_rcv"
    record "$1_$2_gen" "$best_gen"
}

for run in $(seq "$RUNS"); do
    for s in $SERVERS; do
        echo "statsd.sh: run $run of $RUNS: $s" >&2
        if ! "start_$s"; then
            echo "statsd.sh: $s did not start:" >&2
            tail -n 20 "$W/server.log" >&2
            stop_server
            continue
        fi
        for m in $CASES; do step "$s" "$m"; done
        stop_server
    done
done

echo
echo "statsd ingest: medians of $RUNS runs, ${BURST_S} s bursts, $NAMES names, loss < $LOSS_PCT %"
printf '%-9s %-5s %14s %12s %14s %12s\n' server m/dgram "lossless M/s" "CPU s/M" RcvbufErrors "gen CPU s"
for s in $SERVERS; do
    for m in $CASES; do
        printf '%-9s %-5s %14s %12s %14s %12s\n' "$s" "$m" \
            "$(calc "$(median "${s}_${m}_rate" | sed 's,n/a,0,') / 1e6")" \
            "$(median "${s}_${m}_cpu")" "$(median "${s}_${m}_rcvbuf")" "$(median "${s}_${m}_gen")"
    done
done
echo
echo "every run (lossless rate in metrics/s):"
for f in "$W"/res/*_rate; do printf '%s: %s\n' "$(basename "$f")" "$(tr '\n' ' ' < "$f")"; done
