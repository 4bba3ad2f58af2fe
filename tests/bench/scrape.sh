#!/bin/sh
# scrape.sh — the scrape benchmark in one run: vigild and Prometheus 2.42
# (Debian `prometheus`), one at a time, scrape the same fake_exporter targets
# (TARGETS ports x SERIES series, values changing at every scrape) on
# 127.0.0.1 at the same interval. Per server and run, over a MEASURE_S window
# after WARMUP_S of warm-up, it records the server's CPU seconds (utime +
# stime of every thread, /proc/PID/stat), its resident memory (VmRSS sampled
# every second: max and end of the window), the scraped samples it stored
# (its own counters), its head series, whether every target is up, the
# scrapes that failed, fake_exporter's CPU and the CPU everything else on
# the machine used, and the connections open to the targets at the end.
# Servers alternate; RUNS runs; prints medians.
# Results and how to read them: docs/benchmarks.md, "Scraping".
#
# Usage: tests/bench/scrape.sh [BIN]          (BIN defaults to bin)
# Environment (defaults are the full run, about 30 minutes):
#   SERVERS="vigild prometheus"  RUNS=3
#   TARGETS=200  SERIES=1000  INTERVAL=5  (seconds)
#   WARMUP_S=60  MEASURE_S=180
#   PORT_BASE=29200   exporter ports PORT_BASE..PORT_BASE+TARGETS-1;
#                     the server's HTTP port is PORT_BASE-1
#   WAIT_IDLE=1       first wait (polling every minute, at most 20 minutes)
#                     while other benchmarks (statsd_load, netdata, collectd,
#                     promtool, storage.sh, statsd.sh, bench_*) run
#   QUICK=1           smoke run: 1 run, 15 s warm-up, 30 s window, no wait
# Needs curl, jq and Prometheus 2.42 (installed with `tests/deps.sh
# prometheus` when missing, as root). Everything goes to a fresh directory
# under /tmp (TMPDIR), removed at exit; processes are stopped by their PID.
set -eu

BIN=${1:-bin}
if [ "${QUICK:-0}" = 1 ]; then
    RUNS=${RUNS:-1} WARMUP_S=${WARMUP_S:-15} MEASURE_S=${MEASURE_S:-30} WAIT_IDLE=${WAIT_IDLE:-0}
fi
SERVERS=${SERVERS:-"vigild prometheus"} RUNS=${RUNS:-3}
TARGETS=${TARGETS:-200} SERIES=${SERIES:-1000} INTERVAL=${INTERVAL:-5}
WARMUP_S=${WARMUP_S:-60} MEASURE_S=${MEASURE_S:-180}
PORT_BASE=${PORT_BASE:-29200} WAIT_IDLE=${WAIT_IDLE:-1}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$BIN" && pwd)
FAKE=$BIN/bench/fake_exporter
HTTP_PORT=$((PORT_BASE - 1))
TICK=$(getconf CLK_TCK)

need() { command -v "$1" > /dev/null 2>&1 || { echo "scrape.sh: $1 missing ($2)" >&2; exit 2; }; }
need "$FAKE" make
need curl "tests/deps.sh curl"
need jq "tests/deps.sh jq"
for s in $SERVERS; do
    case $s in
    vigild) need "$BIN/vigild" make; need "$BIN/tsq" make ;;
    prometheus)
        command -v prometheus > /dev/null 2>&1 || sh "$TOP/tests/deps.sh" prometheus >&2
        need prometheus "tests/deps.sh prometheus" ;;
    *) echo "scrape.sh: unknown server $s" >&2; exit 2 ;;
    esac
done
for p in $HTTP_PORT $PORT_BASE $((PORT_BASE + TARGETS - 1)); do
    if ss -Htln "sport = :$p" | grep -q .; then
        echo "scrape.sh: port $p is in use: set PORT_BASE" >&2; exit 2
    fi
done

W=$(mktemp -d "${TMPDIR:-/tmp}/vigil-scrape.XXXXXX")
PID= SPID= FPID=
# stop VAR: SIGTERM to the process whose PID is in VAR, SIGKILL after 30 s.
stop() {
    eval "p=\$$1"
    [ -n "$p" ] || return 0
    kill "$p" 2> /dev/null || true
    i=0
    while kill -0 "$p" 2> /dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$p" 2> /dev/null || true
    wait "$p" 2> /dev/null || true
    eval "$1="
}
cleanup() { stop PID; stop FPID; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
mkdir "$W/res"

. "$(dirname "$0")/lib/stats.sh"
calc() { awk "BEGIN { print ($1) }"; }
fcalc() { awk "BEGIN { printf \"%.3f\\n\", $1 }"; }
now() { date +%s.%N; }

# ---- what other programs are running -------------------------------------------
OTHERS='statsd_load|netdata|collectd|promtool|storage\.sh|statsd\.sh|bench_append|bench_codec|gen_openmetrics|prometheus'
others() { ps -eo pid=,args= | grep -E "$OTHERS" | grep -v -e grep -e "$W" | grep -v "^ *$$ " || true; }
SHARED=no
if [ "$WAIT_IDLE" = 1 ]; then
    i=0
    while [ -n "$(others)" ] && [ $i -lt 20 ]; do
        [ $i = 0 ] && { echo "scrape.sh: waiting for other benchmarks to finish:" >&2; others >&2; }
        sleep 60; i=$((i + 1))
    done
fi
if [ -n "$(others)" ]; then
    SHARED="yes (other benchmarks running at the start)"
    echo "scrape.sh: running while other benchmarks run (the machine is shared):" >&2
    others >&2
fi

# ---- the exporter ----------------------------------------------------------------
"$FAKE" -p "$PORT_BASE" -n "$TARGETS" -m "$SERIES" > "$W/fake.out" 2>&1 &
FPID=$!
i=0
until grep -q listening "$W/fake.out"; do
    i=$((i + 1))
    [ $i -lt 100 ] && kill -0 "$FPID" 2> /dev/null || { cat "$W/fake.out" >&2; exit 1; }
    sleep 0.1
done

# Prometheus' own configuration; vigild's is the same plus two sections.
{
    cat << EOF
global:
  scrape_interval: ${INTERVAL}s
  scrape_timeout: ${INTERVAL}s
scrape_configs:
  - job_name: bench
    static_configs:
      - targets:
EOF
    for i in $(seq 0 $((TARGETS - 1))); do echo "          - 127.0.0.1:$((PORT_BASE + i))"; done
} > "$W/prometheus.yml"
{
    cat "$W/prometheus.yml"
    cat << EOF
statsd:
  listen: "off"
http:
  listen: 127.0.0.1:$HTTP_PORT
EOF
} > "$W/vigil.yml"
"$BIN/vigild" --config "$W/vigil.yml" --check-config > "$W/check.out" 2>&1 ||
    { cat "$W/check.out" >&2; exit 1; }

URL=http://127.0.0.1:$HTTP_PORT
# metric NAME [FILTER]: the sum of every series NAME (with labels matching
# the regex FILTER) in /metrics.
metric() {
    curl -sf -m 10 "$URL/metrics" | awk -v n="$1" -v f="${2:-}" '
        { name = $1; sub(/\{.*/, "", name) }
        name == n && (f == "" || $1 ~ f) { s += $NF; seen = 1 }
        END { if (seen) printf "%.0f\n", s; else print 0 }'
}
# targets_up: how many active targets are up / all of them.
targets_up() {
    curl -sf -m 10 "$URL/api/v1/targets?state=active" |
        jq -r '.data.activeTargets | "\(map(select(.health == "up")) | length)/\(length)"'
}
wait_ready() {
    i=0
    until curl -sf -m 1 -o /dev/null "$URL/-/ready"; do
        i=$((i + 1))
        [ $i -lt 600 ] && kill -0 "$PID" 2> /dev/null || return 1
        sleep 0.1
    done
}

# The server runs under timeout (a safety net); PID is timeout's, SPID the
# server's own.
start_vigild() {
    rm -rf "$W/data"
    timeout 7200 "$BIN/vigild" --config "$W/vigil.yml" --data-dir "$W/data" \
        --log-level warn > "$W/server.log" 2>&1 &
    PID=$!
}
start_prometheus() {
    rm -rf "$W/data"
    timeout 7200 prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/data" \
        --web.listen-address="127.0.0.1:$HTTP_PORT" --log.level=warn > "$W/server.log" 2>&1 &
    PID=$!
}
# Counters: scraped samples stored (the targets' samples, without the five
# synthetic series per scrape), all samples appended, scrapes and failed
# scrapes, head series.
counters_vigild() {
    SCRAPED=$(metric vigil_scrape_samples_appended_total)
    APPENDED=$(metric vigil_tsdb_samples_appended_total)
    SCRAPES=$(metric vigil_scrape_scrapes_total)
    FAILED=$(metric vigil_scrape_scrapes_total 'result="(timeout|http_error|bad_status|parse_error|limit_exceeded|store_error|skipped)"')
    HEAD_SERIES=$(metric vigil_tsdb_head_series)
    HEAD_SAMPLES=$(metric vigil_tsdb_head_samples)
}
# Prometheus counts appended samples, synthetic ones included, and every
# scrape but a target's first in prometheus_target_interval_length_seconds;
# failed scrapes come from `up` over the window (below).
counters_prometheus() {
    APPENDED=$(metric prometheus_tsdb_head_samples_appended_total)
    SCRAPES=$(metric prometheus_target_interval_length_seconds_count)
    SCRAPED=$(calc "$APPENDED - 5 * $SCRAPES")
    FAILED=0
    HEAD_SERIES=$(metric prometheus_tsdb_head_series)
    HEAD_SAMPLES=$APPENDED # no head compaction within the first hours
}
# up_window SERVER END: "scrapes_with_up=1 scrapes" stored in (END-MEASURE_S, END].
up_window_vigild() {
    timeout 120 "$BIN/tsq" --data-dir "$W/data" --time "$1" -o csv "up{job=\"bench\"}[${MEASURE_S}s]" |
        awk -F, 'NR > 1 { n++; if ($NF == 1) u++ } END { printf "%d %d\n", u, n }'
}
up_window_prometheus() {
    q="sum(sum_over_time(up{job=\"bench\"}[${MEASURE_S}s])) or vector(0)"
    u=$(curl -sf -m 60 "$URL/api/v1/query" --data-urlencode "query=$q" --data-urlencode "time=$1" |
        jq -r '.data.result[0].value[1]')
    q="sum(count_over_time(up{job=\"bench\"}[${MEASURE_S}s])) or vector(0)"
    n=$(curl -sf -m 60 "$URL/api/v1/query" --data-urlencode "query=$q" --data-urlencode "time=$1" |
        jq -r '.data.result[0].value[1]')
    echo "$u $n"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# run_one SERVER RUN
run_one() {
    s=$1
    echo "scrape.sh: run $2 of $RUNS: $s" >&2
    "start_$s"
    if ! wait_ready; then
        echo "scrape.sh: $s did not become ready:" >&2
        tail -n 20 "$W/server.log" >&2
        stop PID
        return 0
    fi
    SPID=$(ps -o pid= --ppid "$PID" | head -n 1 | tr -d ' ')
    sleep "$WARMUP_S"
    "counters_$s"
    c0=$SCRAPED a0=$APPENDED n0=$SCRAPES f0=$FAILED
    t0=$(ticks "$SPID") e0=$(ticks "$FPID") b0=$(busy_ticks) w0=$(now)
    rmax=0
    end=$(fcalc "$w0 + $MEASURE_S")
    while [ "$(calc "$(now) < $end")" = 1 ]; do
        r=$(rss_kb "$SPID")
        [ "$r" -gt "$rmax" ] && rmax=$r
        sleep 1
    done
    t1=$(ticks "$SPID") e1=$(ticks "$FPID") b1=$(busy_ticks) w1=$(now)
    rend=$(rss_kb "$SPID")
    [ "$rend" -gt "$rmax" ] && rmax=$rend
    "counters_$s"
    up=$(targets_up)
    tend=$(calc "int($w1)")
    samples=$(calc "$SCRAPED - $c0")
    cpu=$(calc "($t1 - $t0) / $TICK")
    fcpu=$(calc "($e1 - $e0) / $TICK")
    other=$(calc "($b1 - $b0 - ($t1 - $t0) - ($e1 - $e0)) / $TICK")
    secs=$(fcalc "$w1 - $w0")
    scrapes=$((SCRAPES - n0)) failed=$((FAILED - f0))
    expected=$(calc "int($TARGETS * $secs / $INTERVAL + 0.5)")
    # Connections to the targets now: open ones (from the server to the
    # exporter's ports) and sockets of closed ones in TIME_WAIT.
    est=$(ss -Htn state established "( dport >= :$PORT_BASE and dport <= :$((PORT_BASE + TARGETS - 1)) )" | wc -l)
    tw=$(ss -Htn state time-wait "( sport >= :$PORT_BASE and sport <= :$((PORT_BASE + TARGETS - 1)) ) or ( dport >= :$PORT_BASE and dport <= :$((PORT_BASE + TARGETS - 1)) )" | wc -l)
    upw=$("up_window_$s" "$tend" || echo "? ?")
    stop PID
    grep -E 'level=(error|warn)' "$W/server.log" | head -n 5 >&2 || true

    cpu_m=$(calc "$cpu / ($samples / 1e6)")
    rss_mb=$(calc "$rend / 1024") rmax_mb=$(calc "$rmax / 1024")
    per_series=$(calc "$rend * 1024 / $HEAD_SERIES")
    per_msample=$(calc "$rend / 1024 / ($HEAD_SAMPLES / 1e6)")
    printf '  %-10s window=%.1fs samples=%s (%.0f/s) appended=%s scrapes=%s/%s failed=%s up_now=%s up_in_window=%s\n' \
        "$s" "$secs" "$samples" "$(calc "$samples / $secs")" "$((APPENDED - a0))" \
        "$scrapes" "$expected" "$failed" "$up" "$(echo "$upw" | tr ' ' /)" >&2
    printf '  %-10s connections: %s open, %s in TIME_WAIT\n' "$s" "$est" "$tw" >&2
    printf '  %-10s cpu=%.2fs (%.3f s/M samples, %.1f%% of a core) rss_end=%.1fMB rss_max=%.1fMB head_series=%s (%.0f B/series) head_samples=%s (%.1f MB/M) exporter_cpu=%.2fs other_cpu=%.2fs\n' \
        "$s" "$cpu" "$cpu_m" "$(calc "100 * $cpu / $secs")" "$rss_mb" "$rmax_mb" "$HEAD_SERIES" \
        "$per_series" "$HEAD_SAMPLES" "$per_msample" "$fcpu" "$other" >&2
    record "${s}_cpu_m" "$cpu_m"
    record "${s}_core" "$(calc "100 * $cpu / $secs")"
    record "${s}_rss_end" "$rss_mb"
    record "${s}_rss_max" "$rmax_mb"
    record "${s}_series" "$HEAD_SERIES"
    record "${s}_per_series" "$per_series"
    record "${s}_per_msample" "$per_msample"
    record "${s}_rate" "$(calc "$samples / $secs")"
    record "${s}_fake" "$fcpu"
    record "${s}_other" "$other"
    # Other programs used more than a tenth of a core: the machine was shared.
    [ "$(calc "$other > 0.1 * $secs")" = 1 ] && SHARED="yes (other programs used $other CPU s in a window of $s)"
    record "${s}_failed" "$failed"
    record "${s}_scrapes" "$(calc "$scrapes / $expected")"
    echo "$s run $2: up_now=$up up_in_window=$upw failed=$failed connections_open=$est time_wait=$tw" >> "$W/res/health"
}

for run in $(seq "$RUNS"); do
    order=$SERVERS
    [ $((run % 2)) = 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for s in $order; do run_one "$s" "$run"; done
done

echo
echo "scrape benchmark: medians of $RUNS runs; $TARGETS targets x $SERIES series every ${INTERVAL}s;" \
    "${WARMUP_S}s warm-up, ${MEASURE_S}s window"
echo "machine shared with other programs: $SHARED"
printf '%-11s %9s %8s %9s %9s %8s %11s %10s %11s %9s %9s\n' server "samples/s" "CPU s/M" "% core" \
    "RSS MB" "max MB" "head series" "B/series" "MB/M head" "exp CPU s" "other s"
for s in $SERVERS; do
    printf '%-11s %9s %8s %9s %9s %8s %11s %10s %11s %9s %9s\n' "$s" "$(median "${s}_rate")" \
        "$(median "${s}_cpu_m")" "$(median "${s}_core")" "$(median "${s}_rss_end")" \
        "$(median "${s}_rss_max")" "$(median "${s}_series")" "$(median "${s}_per_series")" \
        "$(median "${s}_per_msample")" "$(median "${s}_fake")" "$(median "${s}_other")"
done
case " $SERVERS " in
*" vigild "*" prometheus "* | *" prometheus "*" vigild "*)
    echo
    for k in cpu_m rss_end rss_max; do
        v=$(median "vigild_$k") p=$(median "prometheus_$k")
        [ "$v" = n/a ] || [ "$p" = n/a ] || printf 'vigild / prometheus %-8s %.2f\n' "$k" "$(calc "$v / $p")"
    done ;;
esac
echo
echo "every run:"
for f in "$W"/res/*_*; do printf '%s: %s\n' "$(basename "$f")" "$(tr '\n' ' ' < "$f")"; done
echo "health:"
cat "$W/res/health"
