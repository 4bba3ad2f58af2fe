#!/bin/sh
# rules.sh — the rules benchmark (issue 6): RULES alerting rules over
# TARGETS x SERIES scraped series, evaluated every 15 s by vigild and by
# Prometheus 2.42 (Debian `prometheus`) from the same rule file over the same
# data; rule evaluation time and CPU per cycle, and notification latency
# from the evaluation that fired an alert to its arrival at a receiver.
# Results and how to read them: docs/benchmarks.md, "Rules".
#
# Data: every server scrapes its own fake_exporter (TARGETS ports x SERIES
# fake_value series + fake_scrapes_total, values changing at every scrape;
# one exporter per server so that fake_scrapes_total counts that server's
# scrapes only) at INTERVAL. static_configs give each target the label
# instance="target-NNN", so both stores hold the same series, label for
# label, and one rule file serves both.
#
# Timeline of a run (all servers start together and scrape throughout):
#   0 .. NORULES_S     scrape only (rule_files matches nothing); each
#                      server's CPU from BASE_FROM to NORULES_S is its
#                      scrape baseline per cycle
#   then one phase per server (TOGETHER=1: one phase for all): the rule file
#   is copied into the server's rule directory and the server gets SIGHUP;
#   after RULES_WARM_S, MEASURE_CYCLES cycles are measured:
#     - each cycle, the sum over the bench groups of
#       *_rule_group_last_duration_seconds ("eval s/cycle": median)
#     - over the window: CPU (utime+stime of all threads, /proc/PID/stat)
#       per cycle; rule evaluations completed (*_rule_evaluations_total),
#       hence CPU per RULES rule evaluations; missed iterations; failures
#   then the server, its exporter and its receiver are stopped, so the next
#   phase's server evaluates with no other rule engine running.
# With the defaults the [5m] windows are full (> 300 s of data) in every
# measured evaluation.
#
# The rules (one group per target, R = SERIES/10 rules per group, rule k
# selects the 10 series idx in [10k, 10k+9] of its target with
# SEL = fake_value{job="bench",instance="target-NNN",idx=~"K[0-9]"}), by k
# mod 10:
#   0-3  SEL > 1e9                                   (40 %)
#   4-5  rate(SEL[5m]) > 1                           (20 %)
#   6-7  avg_over_time(SEL[5m]) > 1e9                (20 %)
#   8    sum by (instance) (SEL) > 1e9               (10 %)
#   9    sum by (instance) (rate(SEL[5m])) > 100     (10 %)
# except that rule (37 g) mod R of group g is replaced by
#        fake_scrapes_total{job="bench",instance="target-NNN"} > N_g  (for: 0)
# which starts firing at a known scrape inside the measured window (the
# groups at different cycles) and stays firing, so alerts are sent (and
# resent every minute, Prometheus' resend delay) throughout the window; its
# place in the group varies because Prometheus sends after each rule while
# a rule's notification may also wait for the rest of its group. None of
# the other rules ever fires. Every rule has two labels and a templated
# annotation. The phases' rule files differ only in the 100 N_g (shifted by
# the phase's start).
#
# Notifications: `alerting: alertmanagers:` of each server points at its
# own alert_receiver.py, which logs each alert's arrival time and startsAt;
# latency = first arrival of an alert - its startsAt (the evaluation
# timestamp at which it fired; Prometheus' FiredAt). Median and max over
# the firing alerts.
#
# Usage: tests/bench/rules.sh [BIN]            (BIN defaults to bin)
# Environment (defaults are the full run: 10,000 rules over 100,000 series,
# 1 run, about 13 minutes):
#   SERVERS="vigild prometheus"  RUNS=1   (the phase order alternates by run)
#   TARGETS=100 SERIES=1000 INTERVAL=15      (seconds)
#   NORULES_S=300 BASE_FROM=60 RULES_WARM_S=45 MEASURE_CYCLES=10
#   TOGETHER=0      1: every server evaluates in one phase, at the same time
#                   (shorter; each server's wall times then include waiting
#                   for the CPU the other uses)
#   PORT_BASE=31000 exporter ports PORT_BASE+1000*i .. +TARGETS-1 for the
#                   i-th server; HTTP and receiver ports below PORT_BASE
#   SMALL=1         1,000 rules over 10,000 series (TARGETS=10), shorter
#                   phases (NORULES_S=90, RULES_WARM_S=30, 6 cycles: the
#                   [5m] windows are not full yet), about 5 minutes
#   VIGIL_REV=REV   the commit BIN was built from, for the report (default:
#                   this checkout's HEAD)
#   KEEP=DIR        copy configs, rule files, metrics, logs and receiver
#                   logs to DIR
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
TOGETHER=${TOGETHER:-0} PORT_BASE=${PORT_BASE:-31000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$BIN" && pwd)
FAKE=$BIN/bench/fake_exporter
RECV=$TOP/tests/bench/alert_receiver.py
TICK=$(getconf CLK_TCK)
RPG=$((SERIES / 10))                 # rules per group
NRULES=$((TARGETS * RPG))
NSERIES=$((TARGETS * SERIES))
# a phase: rules warm-up, the window, 30 s for the queries after it
PHASE_S=$((RULES_WARM_S + MEASURE_CYCLES * INTERVAL + 30))

need() { command -v "$1" > /dev/null 2>&1 || { echo "rules.sh: $1 missing ($2)" >&2; exit 2; }; }
need "$FAKE" make
need curl "tests/deps.sh curl"
need python3 "apt-get install python3"
[ "$SERIES" -ge 10 ] && [ $((SERIES % 10)) = 0 ] || { echo "rules.sh: SERIES must be a multiple of 10" >&2; exit 2; }
[ "$TARGETS" -le 999 ] || { echo "rules.sh: at most 999 targets" >&2; exit 2; }
[ "$MEASURE_CYCLES" -ge 4 ] || { echo "rules.sh: MEASURE_CYCLES must be at least 4" >&2; exit 2; }
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
    kill "$1" 2> /dev/null || true
    n=0
    while kill -0 "$1" 2> /dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
    kill -9 "$1" 2> /dev/null || true
    wait "$1" 2> /dev/null || true
}
# stop_server SERVER: its server, exporter and receiver (the timeout
# processes, which pass SIGTERM on).
stop_server() {
    for f in server exporter receiver; do
        [ -s "$W/s-$1/$f.tpid" ] || continue
        p=$(cat "$W/s-$1/$f.tpid")
        # the server itself first: SIGKILL to timeout would orphan it
        [ $f = server ] && stop "$(cat "$W/s-$1/server.pid")"
        stop "$p"
        PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$p" | tr '\n' ' ')
        : > "$W/s-$1/$f.tpid"
    done
}
cleanup() {
    for f in "$W"/s-*/server.tpid; do
        [ -s "$f" ] && stop "$(cat "${f%.tpid}.pid")"
    done
    for p in $PIDS; do stop "$p"; done
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        cp -r "$W"/s-* "$W/res" "$KEEP"/ 2> /dev/null || true
        rm -rf "$KEEP"/s-*/data
    fi
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
mkdir "$W/res"

. "$(dirname "$0")/lib/stats.sh"
calc() { awk -v OFMT=%.6f "BEGIN { print ($1) }"; }
# na EXPR VALUE...: calc EXPR ($1, $2... are the VALUEs) unless one is n/a
na() {
    e=$1
    shift
    case " $* " in *" n/a "*) echo n/a; return ;; esac
    awk -v OFMT=%.6f "BEGIN { split(\"$*\", v, \" \"); print ($(echo "$e" | sed 's/\$\([0-9]\)/v[\1]/g')) }"
}
now() { date +%s.%N; }
# sleep_until EPOCH (in the background, so that a signal's trap runs at once)
sleep_until() {
    d=$(calc "$1 - $(now)")
    if [ "$(calc "$d > 0")" = 1 ]; then sleep "$d" & wait $!; fi
    return 0
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2> /dev/null || echo 0; }
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# ---- the rule file -------------------------------------------------------------
# gen_rules FIRST: the firing rule of group g has threshold FIRST + 1 +
# g mod (MEASURE_CYCLES - 3): with FIRST about the scrape counter at the
# start of the window (it may be one less: targets are scraped at an offset
# within the interval), it fires 2 to MEASURE_CYCLES - 2 scrapes into the
# window.
gen_rules() {
    awk -v targets="$TARGETS" -v rpg="$RPG" -v first="$1" \
        -v spread=$((MEASURE_CYCLES - 3)) 'BEGIN {
    print "groups:"
    for (g = 0; g < targets; g++) {
        inst = sprintf("target-%03d", g)
        printf "  - name: bench-%03d\n    rules:\n", g
        for (k = 0; k < rpg; k++) {
            sel = sprintf("fake_value{job=\"bench\",instance=\"%s\",idx=~\"%s[0-9]\"}", inst, k ? k : "")
            m = k % 10
            if (k == (37 * g) % rpg) {
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
}'
}

# ---- per-server setup ------------------------------------------------------------
# server i: directory W/s-NAME, exporter ports EB..EB+TARGETS-1, HTTP port
# HP, receiver port RP.
setup() {
    d=$W/s-$1
    rm -rf "$d"
    mkdir -p "$d/rules"
    eb=$((PORT_BASE + 1000 * $2)) hp=$((PORT_BASE - 20 + 2 * $2)) rp=$((PORT_BASE - 19 + 2 * $2))
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
rules:                 # no built-in groups: Prometheus has none
  watchdog: false
  self_monitoring: false
http:
  listen: 127.0.0.1:$hp
EOF
    } > "$d/vigil.yml"
}

# start_all SERVER...: exporters, receivers, servers; waits until ready.
# Sets T0 (epoch when all are ready).
start_all() {
    for s in "$@"; do
        d=$W/s-$s
        read -r eb hp rp < "$d/ports"
        : > "$d/received"
        rm -rf "$d/data" "$d/rules"/*
        timeout 3600 "$FAKE" -p "$eb" -n "$TARGETS" -m "$SERIES" > "$d/fake.out" 2>&1 &
        echo $! > "$d/exporter.tpid"
        PIDS="$PIDS $!"
        timeout 3600 python3 "$RECV" "$rp" "$d/received" > "$d/recv.out" 2>&1 &
        echo $! > "$d/receiver.tpid"
        PIDS="$PIDS $!"
    done
    for s in "$@"; do
        d=$W/s-$s
        n=0
        until grep -q listening "$d/fake.out" && grep -q listening "$d/recv.out"; do
            n=$((n + 1))
            [ $n -lt 100 ] || { cat "$d/fake.out" "$d/recv.out" >&2; exit 1; }
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
        echo "$tp" > "$d/server.tpid"
        PIDS="$PIDS $tp"
        n=0
        until sp=$(ps -o pid= --ppid "$tp" | head -n 1 | tr -d ' ') && [ -n "$sp" ]; do
            n=$((n + 1)); [ $n -lt 100 ] || { echo "rules.sh: $s did not start" >&2; exit 1; }
            sleep 0.05
        done
        echo "$sp" > "$d/server.pid"
    done
    for s in "$@"; do
        d=$W/s-$s
        read -r eb hp rp < "$d/ports"
        n=0
        until curl -sf -m 1 -o /dev/null "http://127.0.0.1:$hp/-/ready"; do
            n=$((n + 1))
            [ $n -lt 600 ] && kill -0 "$(cat "$d/server.pid")" 2> /dev/null ||
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
# mdelta NAME [FILTER]: msum in $d/m1 minus msum in $d/m0
mdelta() { na '$1 - $2' "$(msum "$d/m1" "$@")" "$(msum "$d/m0" "$@")"; }
# q SERVER PROMQL: the first value of an instant query, or n/a.
q() {
    read -r eb hp rp < "$W/s-$1/ports"
    curl -sf -m 20 "http://127.0.0.1:$hp/api/v1/query" --data-urlencode "query=$2" |
        python3 -c 'import json,sys
d = json.load(sys.stdin)["data"]["result"]
print(d[0]["value"][1] if d else 0)' 2> /dev/null || echo n/a
}
snap() { echo "$(ticks "$(cat "$W/s-$1/server.pid")") $(now)"; }

# phase RUN J SERVER...: the servers evaluate the rules (phase J of the run).
phase() {
    run=$1 j=$2
    shift 2
    pstart=$(calc "$T0 + $NORULES_S + $j * $PHASE_S")
    sleep_until "$pstart"
    first=$(((NORULES_S + j * PHASE_S + RULES_WARM_S) / INTERVAL))
    gen_rules "$first" > "$W/rules-$j.yml"
    for s in "$@"; do
        cp "$W/rules-$j.yml" "$W/s-$s/rules/rules.yml"
        kill -HUP "$(cat "$W/s-$s/server.pid")"
    done
    echo "rules.sh: run $run: $NRULES rules loaded into $* (SIGHUP); measuring $MEASURE_CYCLES cycles after ${RULES_WARM_S}s" >&2
    sleep_until "$(calc "$pstart + $RULES_WARM_S")"
    for s in "$@"; do
        scrape_metrics "$s" "$W/s-$s/m0"
        snap "$s" > "$W/s-$s/w0"
    done
    b0=$(busy_ticks) w0=$(now)
    for c in $(seq "$MEASURE_CYCLES"); do
        sleep_until "$(calc "$w0 + $c * $INTERVAL")"
        for s in "$@"; do
            scrape_metrics "$s" "$W/s-$s/m.c"
            v=$(msum "$W/s-$s/m.c" "$(prefix "$s")rule_group_last_duration_seconds" ';bench-')
            echo "$v" >> "$W/s-$s/cycles"
            [ "$v" = n/a ] || record "${s}_eval_cycle" "$v"
        done
    done
    for s in "$@"; do
        snap "$s" > "$W/s-$s/w1"
        scrape_metrics "$s" "$W/s-$s/m1"
    done
    b1=$(busy_ticks) w1=$(now)
    for s in "$@"; do
        d=$W/s-$s
        P=$(prefix "$s")
        read -r t0 e0 < "$d/w0"
        read -r t1 e1 < "$d/w1"
        read -r a0 f0 < "$d/base0"
        read -r a1 f1 < "$d/base1"
        cycles=$(calc "($e1 - $e0) / $INTERVAL")
        cpu=$(calc "($t1 - $t0) / $TICK / $cycles")
        base=$(calc "($a1 - $a0) / $TICK / (($f1 - $f0) / $INTERVAL)")
        rcpu=$(calc "$cpu - $base")
        evals=$(mdelta "${P}rule_evaluations_total" ';bench-')
        missed=$(mdelta "${P}rule_group_iterations_missed_total" ';bench-')
        fails=$(mdelta "${P}rule_evaluation_failures_total" ';bench-')
        nrules=$(msum "$d/m1" "${P}rule_group_rules" ';bench-')
        hs=$(msum "$d/m.base" "${P}tsdb_head_series")
        # evaluations done / evaluations due in the window; CPU per RULES
        # rule evaluations (one full cycle's work, done or not)
        done_pct=$(na '100 * $1 / ($2 * $3)' "$evals" "$NRULES" "$cycles")
        cpu_full=$(na '$1 * $2 * $3 / $4' "$rcpu" "$cycles" "$NRULES" "$evals")
        # Prometheus' duration summary (vigild has none): mean per cycle
        mean=$(na '$1 / ($2 / $3)' "$(mdelta "${P}rule_group_duration_seconds_sum")" \
            "$(mdelta "${P}rule_group_duration_seconds_count")" "$TARGETS")
        record "${s}_cpu" "$cpu"
        record "${s}_cpu_base" "$base"
        record "${s}_cpu_rules" "$rcpu"
        record "${s}_done" "$done_pct"
        [ "$cpu_full" = n/a ] || record "${s}_cpu_full" "$cpu_full"
        [ "$mean" = n/a ] || record "${s}_eval_mean" "$mean"
        echo "$s run $run: cycles=$cycles eval_s_per_cycle=[$(tr '\n' ' ' < "$d/cycles")] cpu=$cpu base=$base rule_evals=$evals/$(calc "$NRULES * $cycles") missed_iterations=$missed failures=$fails rules=$nrules head_series=$hs summary_mean=$mean" >> "$W/res/health"
        : > "$d/cycles"
    done
    echo "run $run ($*): CPU used on the machine during the window $(calc "($b1 - $b0) / $TICK") s of $(calc "2 * ($w1 - $w0)")" >> "$W/res/health"
    # after the window: what fired, what arrived
    for s in "$@"; do
        d=$W/s-$s
        firing=$(q "$s" 'count(ALERTS{alertstate="firing",alertname="BenchScrapesReached"}) or vector(0)')
        others=$(q "$s" 'count(ALERTS{alertname!="BenchScrapesReached"}) or vector(0)')
        stop_server "$s"
        # notification latency: first arrival of each firing alert - startsAt
        awk -F'\t' '!/^#/ && $4 == "BenchScrapesReached" && $2 != "-" {
                k = $5 "|" $2
                if (!(k in first)) { first[k] = $1 - $2 }
            }
            END { for (k in first) printf "%.3f\n", first[k] }' "$d/received" | sort -g > "$d/lat"
        nlat=$(wc -l < "$d/lat")
        posts=$(grep -c '^# batch' "$d/received" || true)
        nalerts=$(grep -vc '^#' "$d/received" || true)
        lmed=n/a lmax=n/a
        if [ "$nlat" -gt 0 ]; then
            lmed=$(awk '{a[NR]=$1} END { printf "%.3f", NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }' "$d/lat")
            lmax=$(tail -n 1 "$d/lat")
            cat "$d/lat" >> "$W/res/${s}_lat_all"
        fi
        cp "$d/received" "$d/received.run$run"
        echo "$s run $run: firing_at_end=$firing/$TARGETS other_alerts=$others received=$nalerts in $posts posts; latency median=$lmed max=$lmax over $nlat alerts" >> "$W/res/health"
        grep -E 'level=(error|warn)' "$d/server.log" | grep -v SIGTERM | sed 's/^ts=[^ ]* //' | sort | uniq -c | sort -rn | head -n 3 |
            sed "s/^/  $s: /" >> "$W/res/health" || true
        grep -A4 "^$s run $run" "$W/res/health" | sed 's/^/  /' >&2
    done
}

i=0
for s in $SERVERS; do setup "$s" $i; i=$((i + 1)); done
for run in $(seq "$RUNS"); do
    order=$SERVERS
    [ $((run % 2)) = 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
    # shellcheck disable=SC2086
    start_all $order
    echo "rules.sh: run $run: $order started; scrape only for ${NORULES_S}s" >&2
    sleep_until "$(calc "$T0 + $BASE_FROM")"
    for s in $order; do snap "$s" > "$W/s-$s/base0"; done
    sleep_until "$(calc "$T0 + $NORULES_S")"
    for s in $order; do
        snap "$s" > "$W/s-$s/base1"
        scrape_metrics "$s" "$W/s-$s/m.base"
    done
    if [ "$TOGETHER" = 1 ]; then
        # shellcheck disable=SC2086
        phase "$run" 0 $order
    else
        j=0
        for s in $order; do phase "$run" $j "$s"; j=$((j + 1)); done
    fi
done

mode="one at a time (the others only scraping)"
[ "$TOGETHER" = 1 ] && mode="at the same time"
echo
echo "rules benchmark: $NRULES alerting rules in $TARGETS groups over $NSERIES series, every ${INTERVAL}s;" \
    "servers evaluating $mode; $RUNS run(s) x $MEASURE_CYCLES cycles"
echo "$(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Vigil ${VIGIL_REV:-$(git -C "$TOP" rev-parse --short HEAD 2> /dev/null || echo ?)}, $(prometheus --version 2>&1 | head -n 1)"
printf '%-11s %10s %9s %9s %9s %9s %9s %9s %9s %7s\n' server "eval s/cyc" "eval mean" "CPU s/cyc" \
    "rules CPU" "CPU/full" "done %" "notif med" "notif max" alerts
for s in $SERVERS; do
    la=n/a lm=n/a n=0
    if [ -s "$W/res/${s}_lat_all" ]; then
        sort -g "$W/res/${s}_lat_all" > "$W/lat_sorted"
        n=$(wc -l < "$W/lat_sorted")
        lm=$(awk '{a[NR]=$1} END { printf "%.3f", NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }' "$W/lat_sorted")
        la=$(tail -n 1 "$W/lat_sorted")
    fi
    printf '%-11s %10s %9s %9s %9s %9s %9s %9s %9s %7s\n' "$s" "$(median "${s}_eval_cycle")" \
        "$(median "${s}_eval_mean")" "$(median "${s}_cpu")" "$(median "${s}_cpu_rules")" \
        "$(median "${s}_cpu_full")" "$(median "${s}_done")" "$lm" "$la" "$n"
done
case " $SERVERS " in
*" vigild "*" prometheus "* | *" prometheus "*" vigild "*)
    echo
    for k in eval_cycle cpu cpu_rules cpu_full; do
        v=$(median "vigild_$k") p=$(median "prometheus_$k")
        [ "$v" = n/a ] || [ "$p" = n/a ] || printf 'vigild / prometheus %-11s %.2f\n' "$k" "$(calc "$v / $p")"
    done ;;
esac
cat << EOF

eval s/cyc: median over the cycles of the sum over the $TARGETS groups of *_rule_group_last_duration_seconds
eval mean:  Prometheus' duration summary: sum / (evaluations / groups) over the window
CPU s/cyc:  utime+stime per cycle; rules CPU: minus the same server's CPU per cycle before the rules
CPU/full:   rules CPU per $NRULES rule evaluations done (= per cycle if every evaluation ran)
done %:     rule evaluations done in the window / due ($NRULES per cycle)
notif:      first arrival at the receiver - startsAt (the evaluation that fired), s, all runs' alerts
reproduce:  $(for v in SERVERS TARGETS SERIES INTERVAL NORULES_S BASE_FROM RULES_WARM_S MEASURE_CYCLES TOGETHER RUNS; do eval "printf '%s=\"%s\" ' $v \"\$$v\""; done)tests/bench/rules.sh BIN

every run:
EOF
for f in "$W"/res/*_*; do
    case $f in *lat_all) continue ;; esac
    printf '%s: %s\n' "$(basename "$f")" "$(tr '\n' ' ' < "$f")"
done
echo "health:"
cat "$W/res/health"
