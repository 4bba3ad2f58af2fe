#!/bin/sh
# rules.sh — the rules benchmark (issue 6): RULES alerting rules over
# TARGETS x SERIES scraped series, evaluated every 15 s by vigild and by
# Prometheus 2.42 (Debian `prometheus`) from the same rule file over the same
# data; rule evaluation time and CPU per cycle, and notification latency
# from the evaluation that fired an alert to its arrival at a receiver.
#
# Data: every server scrapes its own fake_exporter (TARGETS ports x SERIES
# fake_value series + fake_scrapes_total, values changing at every scrape;
# one exporter per server so that fake_scrapes_total counts that server's
# scrapes only) at INTERVAL. static_configs give each target the label
# instance="target-NNN", so both stores hold the same series, label for
# label, and one rule file serves both.
#
# Timeline of a run (the servers of a batch start together):
#   0 .. NORULES_S          scrape only, rule_files matches nothing; the
#                           CPU from BASE_FROM to NORULES_S is the scrape
#                           baseline (per cycle)
#   NORULES_S               the rule file is copied in, SIGHUP to each server
#   + RULES_WARM_S          then MEASURE_CYCLES cycles are measured: each
#                           cycle, the sum over the bench groups of
#                           *_rule_group_last_duration_seconds (median over
#                           cycles = "eval s/cycle"); over the window, CPU
#                           (utime+stime of all threads, /proc/PID/stat) per
#                           cycle, the duration summary's sum/count, missed
#                           iterations, failures.
# [5m] windows are full from 300 s on, so with the defaults every measured
# evaluation reads complete 5 m windows.
#
# The rules (one group per target, R = SERIES/10 rules per group, rule k
# selects the 10 series idx in [10k, 10k+9] of its target with
# idx=~"K[0-9]"), by k mod 10:
#   0-3  SEL > 1e9                                   (40 %)
#   4-5  rate(SEL[5m]) > 1                           (20 %)
#   6-7  avg_over_time(SEL[5m]) > 1e9                (20 %)
#   8    sum by (instance) (SEL) > 1e9               (10 %)
#   9    sum by (instance) (rate(SEL[5m])) > 100     (10 %, but the last rule
#        of each group is instead fake_scrapes_total{instance=...} > N_g,
#        for: 0, which starts firing at a known scrape inside the window)
# None of the others ever fires. The firing rules of the groups start at
# different cycles and stay firing, so alerts are sent (and, by Prometheus'
# resend rule, resent every minute) throughout the window.
#
# Notifications: `alerting: alertmanagers:` of each server points at its
# own alert_receiver.py, which logs each alert's arrival time and startsAt;
# latency = first arrival of an alert - its startsAt (the evaluation
# timestamp at which it fired; Prometheus' FiredAt). Median and max over
# the firing alerts.
#
# Usage: tests/bench/rules.sh [BIN]            (BIN defaults to bin)
# Environment (defaults are the full run: 10,000 rules over 100,000 series,
# both servers at once, 1 run, about 9 minutes):
#   SERVERS="vigild prometheus"  RUNS=1
#   TARGETS=100 SERIES=1000 INTERVAL=15      (seconds)
#   NORULES_S=300 BASE_FROM=60 RULES_WARM_S=45 MEASURE_CYCLES=10
#   SEQUENTIAL=0    1: one server at a time (each alone on the machine;
#                   twice the time) instead of both at once
#   PORT_BASE=31000 exporter ports PORT_BASE+1000*i .. +TARGETS-1 for the
#                   i-th server; HTTP and receiver ports below PORT_BASE
#   SMALL=1         1,000 rules over 10,000 series (TARGETS=10), shorter
#                   phases (NORULES_S=90, RULES_WARM_S=30, 6 cycles: the
#                   [5m] windows are not full yet), about 3 minutes
#   KEEP=DIR        copy configs, rule file, logs and receiver logs to DIR
# Needs curl, python3 and Prometheus 2.42 (`tests/deps.sh prometheus`).
# Everything goes to a fresh directory under /tmp (TMPDIR), removed at exit;
# every process is started under `timeout` and stopped by its PID.
set -eu

BIN=${1:-bin}
if [ "${SMALL:-0}" = 1 ]; then
    TARGETS=${TARGETS:-10} NORULES_S=${NORULES_S:-90} RULES_WARM_S=${RULES_WARM_S:-30}
    MEASURE_CYCLES=${MEASURE_CYCLES:-6} BASE_FROM=${BASE_FROM:-30}
fi
SERVERS=${SERVERS:-"vigild prometheus"} RUNS=${RUNS:-1}
TARGETS=${TARGETS:-100} SERIES=${SERIES:-1000} INTERVAL=${INTERVAL:-15}
NORULES_S=${NORULES_S:-300} BASE_FROM=${BASE_FROM:-60}
RULES_WARM_S=${RULES_WARM_S:-45} MEASURE_CYCLES=${MEASURE_CYCLES:-10}
SEQUENTIAL=${SEQUENTIAL:-0} PORT_BASE=${PORT_BASE:-31000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$BIN" && pwd)
FAKE=$BIN/bench/fake_exporter
RECV=$TOP/tests/bench/alert_receiver.py
TICK=$(getconf CLK_TCK)
RPG=$((SERIES / 10))                 # rules per group
NRULES=$((TARGETS * RPG))
NSERIES=$((TARGETS * SERIES))

need() { command -v "$1" > /dev/null 2>&1 || { echo "rules.sh: $1 missing ($2)" >&2; exit 2; }; }
need "$FAKE" make
need curl "tests/deps.sh curl"
need python3 "apt-get install python3"
[ "$SERIES" -ge 10 ] && [ $((SERIES % 10)) = 0 ] || { echo "rules.sh: SERIES must be a multiple of 10" >&2; exit 2; }
[ "$TARGETS" -le 999 ] || { echo "rules.sh: at most 999 targets" >&2; exit 2; }
[ "$MEASURE_CYCLES" -ge 3 ] || { echo "rules.sh: MEASURE_CYCLES must be at least 3" >&2; exit 2; }
i=0
for s in $SERVERS; do
    case $s in
    vigild) need "$BIN/vigild" make ;;
    prometheus)
        command -v prometheus > /dev/null 2>&1 || sh "$TOP/tests/deps.sh" prometheus >&2
        need prometheus "tests/deps.sh prometheus" ;;
    *) echo "rules.sh: unknown server $s" >&2; exit 2 ;;
    esac
    for p in $((PORT_BASE - 20 + 2 * i)) $((PORT_BASE - 19 + 2 * i)) \
        $((PORT_BASE + 1000 * i)) $((PORT_BASE + 1000 * i + TARGETS - 1)); do
        if ss -Htln "sport = :$p" | grep -q .; then
            echo "rules.sh: port $p is in use: set PORT_BASE" >&2; exit 2
        fi
    done
    i=$((i + 1))
done

W=$(mktemp -d "${TMPDIR:-/tmp}/vigil-rules.XXXXXX")
PIDS=
# stop PID: SIGTERM, SIGKILL after 30 s.
stop() {
    p=$1
    kill "$p" 2> /dev/null || true
    i=0
    while kill -0 "$p" 2> /dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$p" 2> /dev/null || true
    wait "$p" 2> /dev/null || true
}
stop_all() {
    for p in $PIDS; do stop "$p"; done
    PIDS=
}
cleanup() {
    stop_all
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        cp -r "$W"/s-* "$W/res" "$W/rules.yml" "$KEEP"/ 2> /dev/null || true
        rm -rf "$KEEP"/s-*/data
    fi
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
mkdir "$W/res"

record() { echo "$2" >> "$W/res/$1"; }
median() {
    [ -s "$W/res/$1" ] || { echo n/a; return; }
    sort -g "$W/res/$1" | awk '{a[NR]=$1} END {
        m = NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.4g\n", m }'
}
calc() { awk -v OFMT=%.6f "BEGIN { print ($1) }"; }
now() { date +%s.%N; }
# sleep_until EPOCH
sleep_until() {
    d=$(calc "$1 - $(now)")
    # in the background, so that a signal's trap runs at once
    if [ "$(calc "$d > 0")" = 1 ]; then sleep "$d" & wait $!; fi
    return 0
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2> /dev/null || echo 0; }
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# ---- the rule file -------------------------------------------------------------
# Firing thresholds: the scrape counter at the start of the measured window
# is about (NORULES_S + RULES_WARM_S) / INTERVAL; group g fires one to
# MEASURE_CYCLES - 2 scrapes later.
MSTART_SCRAPE=$(((NORULES_S + RULES_WARM_S) / INTERVAL))
awk -v targets="$TARGETS" -v rpg="$RPG" -v first="$MSTART_SCRAPE" \
    -v spread=$((MEASURE_CYCLES - 2)) 'BEGIN {
    print "groups:"
    for (g = 0; g < targets; g++) {
        inst = sprintf("target-%03d", g)
        printf "  - name: bench-%03d\n    rules:\n", g
        for (k = 0; k < rpg; k++) {
            sel = sprintf("fake_value{job=\"bench\",instance=\"%s\",idx=~\"%s[0-9]\"}", inst, k ? k : "")
            m = k % 10
            if (k == rpg - 1) {
                name = "BenchScrapesReached"
                expr = sprintf("fake_scrapes_total{job=\"bench\",instance=\"%s\"} > %d", inst, first + 1 + g % spread)
            } else if (m <= 3) {
                name = "BenchValueHigh";   expr = sel " > 1e9"
            } else if (m <= 5) {
                name = "BenchRateHigh";    expr = "rate(" sel "[5m]) > 1"
            } else if (m <= 7) {
                name = "BenchAvgHigh";     expr = "avg_over_time(" sel "[5m]) > 1e9"
            } else if (m == 8) {
                name = "BenchSumHigh";     expr = "sum by (instance) (" sel ") > 1e9"
            } else {
                name = "BenchSumRateHigh"; expr = "sum by (instance) (rate(" sel "[5m])) > 100"
            }
            printf "      - alert: %s\n        expr: %s\n", name, expr
            printf "        labels:\n          severity: page\n          slice: \"%d\"\n", k
            printf "        annotations:\n          summary: \"{{ $labels.instance }} at {{ $value }}\"\n"
        }
    }
}' > "$W/rules.yml"

# ---- per-server setup ------------------------------------------------------------
# server i: directory W/s-NAME, exporter ports EB..EB+TARGETS-1, HTTP port
# HP, receiver port RP.
setup() {
    s=$1 i=$2
    d=$W/s-$s
    rm -rf "$d"
    mkdir -p "$d/rules"
    eb=$((PORT_BASE + 1000 * i)) hp=$((PORT_BASE - 20 + 2 * i)) rp=$((PORT_BASE - 19 + 2 * i))
    echo "$eb $hp $rp" > "$d/ports"
    {
        cat << EOF
global:
  scrape_interval: ${INTERVAL}s
  scrape_timeout: ${INTERVAL}s
  evaluation_interval: ${INTERVAL}s
rule_files:
  - $d/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$rp"]
scrape_configs:
  - job_name: bench
    static_configs:
EOF
        for t in $(seq 0 $((TARGETS - 1))); do
            printf '      - targets: ["127.0.0.1:%d"]\n        labels: {instance: "target-%03d"}\n' \
                $((eb + t)) "$t"
        done
    } > "$d/prometheus.yml"
    {
        cat "$d/prometheus.yml"
        cat << EOF
statsd:
  listen: "off"
http:
  listen: 127.0.0.1:$hp
EOF
    } > "$d/vigil.yml"
}

# start_batch SERVER...: exporters, receivers, servers; waits until ready.
# Sets T0 (epoch when all are ready).
start_batch() {
    for s in "$@"; do
        d=$W/s-$s
        read -r eb hp rp < "$d/ports"
        : > "$d/received"
        timeout 3600 "$FAKE" -p "$eb" -n "$TARGETS" -m "$SERIES" > "$d/fake.out" 2>&1 &
        echo $! > "$d/fake.pid"
        PIDS="$PIDS $!"
        timeout 3600 python3 "$RECV" "$rp" "$d/received" > "$d/recv.out" 2>&1 &
        echo $! > "$d/recv.pid"
        PIDS="$PIDS $!"
    done
    for s in "$@"; do
        d=$W/s-$s
        i=0
        until grep -q listening "$d/fake.out" && grep -q listening "$d/recv.out"; do
            i=$((i + 1))
            [ $i -lt 100 ] || { cat "$d/fake.out" "$d/recv.out" >&2; exit 1; }
            sleep 0.1
        done
    done
    for s in "$@"; do
        d=$W/s-$s
        read -r eb hp rp < "$d/ports"
        case $s in
        vigild)
            "$BIN/vigild" --config "$d/vigil.yml" --check-config > "$d/check.out" 2>&1 ||
                { cat "$d/check.out" >&2; exit 1; }
            timeout 3600 "$BIN/vigild" --config "$d/vigil.yml" --data-dir "$d/data" \
                --log-level warn > "$d/server.log" 2>&1 & ;;
        prometheus)
            timeout 3600 prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/data" \
                --web.listen-address="127.0.0.1:$hp" --log.level=warn > "$d/server.log" 2>&1 & ;;
        esac
        tp=$!
        PIDS="$PIDS $tp"
        i=0
        until sp=$(ps -o pid= --ppid "$tp" | head -n 1 | tr -d ' ') && [ -n "$sp" ]; do
            i=$((i + 1)); [ $i -lt 100 ] || { echo "rules.sh: $s did not start" >&2; exit 1; }
            sleep 0.05
        done
        echo "$sp" > "$d/server.pid"
    done
    for s in "$@"; do
        d=$W/s-$s
        read -r eb hp rp < "$d/ports"
        i=0
        until curl -sf -m 1 -o /dev/null "http://127.0.0.1:$hp/-/ready"; do
            i=$((i + 1))
            [ $i -lt 600 ] && kill -0 "$(cat "$d/server.pid")" 2> /dev/null ||
                { echo "rules.sh: $s not ready" >&2; tail "$d/server.log" >&2; exit 1; }
            sleep 0.1
        done
    done
    T0=$(now)
}

prefix() { case $1 in vigild) echo vigil_ ;; prometheus) echo prometheus_ ;; esac; }
# scrape_metrics SERVER FILE: the server's /metrics into FILE.
scrape_metrics() {
    read -r eb hp rp < "$W/s-$1/ports"
    curl -sf -m 10 "http://127.0.0.1:$hp/metrics" > "$2" || : > "$2"
}
# msum FILE NAME [FILTER]: the sum of the series NAME in FILE whose text
# matches FILTER (a regex); "n/a" when there is none.
msum() {
    awk -v n="$2" -v f="${3:-}" '
        { name = $1; sub(/\{.*/, "", name) }
        name == n && (f == "" || $1 ~ f) { s += $NF; seen = 1 }
        END { if (seen) printf "%.10g\n", s; else print "n/a" }' "$1"
}
# q SERVER PROMQL: the first value of an instant query, or n/a.
q() {
    read -r eb hp rp < "$W/s-$1/ports"
    curl -sf -m 30 "http://127.0.0.1:$hp/api/v1/query" --data-urlencode "query=$2" |
        python3 -c 'import json,sys
d = json.load(sys.stdin)["data"]["result"]
print(d[0]["value"][1] if d else 0)' 2> /dev/null || echo n/a
}
sub_na() { case "$1$2" in *n/a*) echo n/a ;; *) calc "$1 - $2" ;; esac; }

# run_batch RUN SERVER...: one run of the given servers, started together.
run_batch() {
    run=$1
    shift
    start_batch "$@"
    echo "rules.sh: run $run: $* started; scrape only for ${NORULES_S}s" >&2
    sleep_until "$(calc "$T0 + $BASE_FROM")"
    for s in "$@"; do
        d=$W/s-$s
        echo "$(ticks "$(cat "$d/server.pid")") $(now)" > "$d/base0"
    done
    sleep_until "$(calc "$T0 + $NORULES_S")"
    for s in "$@"; do
        d=$W/s-$s
        echo "$(ticks "$(cat "$d/server.pid")") $(now)" > "$d/base1"
        scrape_metrics "$s" "$d/m.base"
        cp "$W/rules.yml" "$d/rules/rules.yml"
        kill -HUP "$(cat "$d/server.pid")"
    done
    echo "rules.sh: run $run: $NRULES rules loaded (SIGHUP); measuring $MEASURE_CYCLES cycles after ${RULES_WARM_S}s" >&2
    sleep_until "$(calc "$T0 + $NORULES_S + $RULES_WARM_S")"
    for s in "$@"; do
        d=$W/s-$s
        scrape_metrics "$s" "$d/m0"
        echo "$(ticks "$(cat "$d/server.pid")") $(now)" > "$d/w0"
    done
    b0=$(busy_ticks) w0=$(now)
    for c in $(seq "$MEASURE_CYCLES"); do
        sleep_until "$(calc "$w0 + $c * $INTERVAL")"
        for s in "$@"; do
            d=$W/s-$s
            P=$(prefix "$s")
            scrape_metrics "$s" "$d/m.c"
            v=$(msum "$d/m.c" "${P}rule_group_last_duration_seconds" ';bench-')
            [ "$v" = n/a ] || record "${s}_eval_cycle_run$run" "$v"
            [ "$v" = n/a ] || record "${s}_eval_cycle" "$v"
        done
    done
    b1=$(busy_ticks)
    for s in "$@"; do
        d=$W/s-$s
        P=$(prefix "$s")
        sp=$(cat "$d/server.pid")
        read -r t1 e1 << EOF
$(ticks "$sp") $(now)
EOF
        read -r t0 e0 < "$d/w0"
        read -r a0 f0 < "$d/base0"
        read -r a1 f1 < "$d/base1"
        scrape_metrics "$s" "$d/m1"
        cycles=$(calc "($e1 - $e0) / $INTERVAL")
        cpu=$(calc "($t1 - $t0) / $TICK / $cycles")
        base=$(calc "($a1 - $a0) / $TICK / (($f1 - $f0) / $INTERVAL)")
        dsum=$(sub_na "$(msum "$d/m1" "${P}rule_group_duration_seconds_sum")" "$(msum "$d/m0" "${P}rule_group_duration_seconds_sum")")
        dcnt=$(sub_na "$(msum "$d/m1" "${P}rule_group_duration_seconds_count")" "$(msum "$d/m0" "${P}rule_group_duration_seconds_count")")
        missed=$(sub_na "$(msum "$d/m1" "${P}rule_group_iterations_missed_total" ';bench-')" "$(msum "$d/m0" "${P}rule_group_iterations_missed_total" ';bench-')")
        iters=$(sub_na "$(msum "$d/m1" "${P}rule_group_iterations_total" ';bench-')" "$(msum "$d/m0" "${P}rule_group_iterations_total" ';bench-')")
        fails=$(sub_na "$(msum "$d/m1" "${P}rule_evaluation_failures_total" ';bench-')" "$(msum "$d/m0" "${P}rule_evaluation_failures_total" ';bench-')")
        nrules=$(msum "$d/m1" "${P}rule_group_rules" ';bench-')
        hs=$(msum "$d/m.base" "${P}tsdb_head_series")
        firing=$(q "$s" 'count(ALERTS{alertstate="firing",alertname="BenchScrapesReached"}) or vector(0)')
        others=$(q "$s" 'count(ALERTS{alertname!="BenchScrapesReached"}) or vector(0)')
        # the duration summary counts every group's evaluation, ours and
        # any other group's (vigild's built-in ones are cheap)
        case "$dsum$dcnt" in
        *n/a*) mean=n/a ;;
        *) mean=$(calc "$dcnt > 0 ? $dsum / ($dcnt / $TARGETS) : 0") ;;
        esac
        record "${s}_cpu" "$cpu"
        record "${s}_cpu_base" "$base"
        record "${s}_cpu_rules" "$(calc "$cpu - $base")"
        [ "$mean" = n/a ] || record "${s}_eval_mean" "$mean"
        # notification latency: first arrival of each firing alert - startsAt
        awk -F'\t' '!/^#/ && $4 == "BenchScrapesReached" && $2 != "-" {
                k = $5 "|" $2
                if (!(k in first)) { first[k] = $1 - $2 }
            }
            END { for (k in first) printf "%.3f\n", first[k] }' "$d/received" | sort -g > "$d/lat"
        nlat=$(wc -l < "$d/lat")
        batches=$(grep -c '^# batch' "$d/received" || true)
        nalerts=$(grep -vc '^#' "$d/received" || true)
        lmed=n/a lmax=n/a
        if [ "$nlat" -gt 0 ]; then
            lmed=$(awk '{a[NR]=$1} END { printf "%.3f", NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }' "$d/lat")
            lmax=$(tail -n 1 "$d/lat")
            cat "$d/lat" >> "$W/res/${s}_lat_all"
            record "${s}_lat_med" "$lmed"
            record "${s}_lat_max" "$lmax"
        fi
        printf '  %-10s run %s: %s cycles; eval per cycle (sum of last durations, every cycle): %s\n' \
            "$s" "$run" "$MEASURE_CYCLES" "$(tr '\n' ' ' < "$W/res/${s}_eval_cycle_run$run" 2> /dev/null || echo n/a)" >&2
        printf '  %-10s   eval mean from the duration summary %s s/cycle; CPU %.3f s/cycle (scrape-only baseline %.3f); iterations %s, missed %s, failed rule evaluations %s; rules %s; head series %s\n' \
            "$s" "$mean" "$cpu" "$base" "$iters" "$missed" "$fails" "$nrules" "$hs" >&2
        printf '  %-10s   alerts firing at the end %s (expected %s), other alerts %s; received %s alerts in %s posts; latency median %s s, max %s s over %s alerts\n' \
            "$s" "$firing" "$TARGETS" "$others" "$nalerts" "$batches" "$lmed" "$lmax" "$nlat" >&2
        grep -E 'level=(error|warn)|error' "$d/server.log" | head -n 5 >&2 || true
        echo "$s run $run: rules=$nrules head_series=$hs iterations=$iters missed=$missed failures=$fails firing=$firing/$TARGETS others=$others received=$nalerts posts=$batches" >> "$W/res/health"
    done
    other=$(calc "($b1 - $b0) / $TICK")
    echo "run $run ($*): all CPU on the machine during the window $other s (both cores: $(calc "2 * $MEASURE_CYCLES * $INTERVAL") s)" >> "$W/res/health"
    stop_all
}

i=0
for s in $SERVERS; do setup "$s" $i; i=$((i + 1)); done
for run in $(seq "$RUNS"); do
    if [ "$SEQUENTIAL" = 1 ]; then
        order=$SERVERS
        [ $((run % 2)) = 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
        for s in $order; do run_batch "$run" "$s"; done
    else
        # shellcheck disable=SC2086
        run_batch "$run" $SERVERS
    fi
done

mode="at the same time"
[ "$SEQUENTIAL" = 1 ] && mode="one at a time"
echo
echo "rules benchmark: $NRULES alerting rules in $TARGETS groups over $NSERIES series, every ${INTERVAL}s;" \
    "servers $mode; $RUNS run(s) x $MEASURE_CYCLES cycles"
echo "$(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Vigil $(git -C "$TOP" rev-parse --short HEAD 2> /dev/null || echo ?), $(prometheus --version 2>&1 | head -n 1)"
printf '%-11s %12s %12s %10s %10s %10s %9s %9s %7s\n' server "eval s/cyc" "eval mean" "CPU s/cyc" "rules CPU" "scrape CPU" "notif med" "notif max" alerts
for s in $SERVERS; do
    la=n/a lm=n/a n=0
    if [ -s "$W/res/${s}_lat_all" ]; then
        sort -g "$W/res/${s}_lat_all" > "$W/res/lat_sorted"
        n=$(wc -l < "$W/res/lat_sorted")
        lm=$(awk '{a[NR]=$1} END { printf "%.3f", NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }' "$W/res/lat_sorted")
        la=$(tail -n 1 "$W/res/lat_sorted")
    fi
    printf '%-11s %12s %12s %10s %10s %10s %9s %9s %7s\n' "$s" "$(median "${s}_eval_cycle")" \
        "$(median "${s}_eval_mean")" "$(median "${s}_cpu")" "$(median "${s}_cpu_rules")" \
        "$(median "${s}_cpu_base")" "$lm" "$la" "$n"
done
case " $SERVERS " in
*" vigild "*" prometheus "* | *" prometheus "*" vigild "*)
    echo
    for k in eval_cycle eval_mean cpu cpu_rules; do
        v=$(median "vigild_$k") p=$(median "prometheus_$k")
        [ "$v" = n/a ] || [ "$p" = n/a ] || printf 'vigild / prometheus %-11s %.2f\n' "$k" "$(calc "$v / $p")"
    done ;;
esac
echo
echo "eval s/cyc: median over cycles of the sum over the $TARGETS groups of *_rule_group_last_duration_seconds;"
echo "eval mean: duration summary sum / (evaluations / groups) over the window; CPU: utime+stime per cycle;"
echo "rules CPU = CPU - scrape CPU (the same server's CPU per cycle before the rules were loaded);"
echo "notif: first arrival at the receiver - startsAt (the evaluation that fired), seconds, over every run's alerts"
echo "reproduce: $(for v in SERVERS TARGETS SERIES INTERVAL NORULES_S RULES_WARM_S MEASURE_CYCLES SEQUENTIAL RUNS; do eval "printf '%s=\"%s\" ' $v \"\$$v\""; done)tests/bench/rules.sh BIN"
echo
echo "every run:"
for f in "$W"/res/*_*; do
    case $f in *lat_all | *lat_sorted) continue ;; esac
    printf '%s: %s\n' "$(basename "$f")" "$(tr '\n' ' ' < "$f")"
done
echo "health:"
cat "$W/res/health"
