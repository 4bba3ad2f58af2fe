#!/bin/sh
# query.sh — the PromQL query benchmark (issue 5): the storage benchmark's
# data set (gen_openmetrics) plus a small classic histogram family, loaded
# into Prometheus 2.42 (promtool tsdb create-blocks-from openmetrics) and
# into Vigil (tsq import openmetrics, then vigild on the data directory);
# the same range queries over 1 h and 24 h windows against both HTTP APIs
# (/api/v1/query_range, curl's time_total, REPS repetitions alternating
# between the servers, medians); results compared (same series, same
# timestamps, values within 1e-9 relative). See docs/benchmarks.md.
#
# Usage: tests/bench/query.sh [BIN]            (BIN defaults to bin)
# Environment (defaults are the full run):
#   SERIES=10000 HOURS=24 INTERVAL=15 SEED=1 REPS=5
#   HIST_HOSTS=20                  instances of the histogram family
#   KEEP=DIR                       keep the loaded stores in DIR (and reuse
#                                  them when DIR/prom and DIR/vigil exist)
#   ONLY=REGEX                     run only the queries matching REGEX
#   QUICK=1                        smoke run: 1000 series, 24 h, REPS=3
#   VIGIL_REV=REV                  the commit BIN was built from, for the
#                                  report (default: the work tree's HEAD)
# Everything else goes to a fresh directory under /tmp, removed at exit.
set -eu

BIN=${1:-bin}
if [ "${QUICK:-0}" = 1 ]; then
    SERIES=${SERIES:-1000} REPS=${REPS:-3}
fi
SERIES=${SERIES:-10000} HOURS=${HOURS:-24} INTERVAL=${INTERVAL:-15} SEED=${SEED:-1}
REPS=${REPS:-5} HIST_HOSTS=${HIST_HOSTS:-20} ONLY=${ONLY:-.}

for p in "$BIN/bench/gen_openmetrics" "$BIN/tsq" "$BIN/vigild" \
         /usr/bin/promtool /usr/bin/prometheus /usr/bin/curl /usr/bin/python3; do
    [ -x "$p" ] || { echo "query.sh: $p missing (make; tests/deps.sh prometheus curl)" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/vigil-query.XXXXXX")
PROM_PID= VIGIL_PID=
cleanup() {
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null
    [ -n "$VIGIL_PID" ] && kill "$VIGIL_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
D=${KEEP:-$W}
mkdir -p "$D"

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
kv() { tr ' ' '\n' < "$1" | sed -n "s/^$2=//p" | head -n 1; }

# ---- the data set ----------------------------------------------------------
if [ -d "$D/prom" ] && [ -d "$D/vigil" ] && [ -s "$D/gen" ]; then
    echo "query.sh: reusing the stores in $D" >&2
else
    rm -rf "$D/prom" "$D/vigil"
    F=$W/data.om
    echo "query.sh: generating $SERIES series x ${HOURS} h at ${INTERVAL} s (seed $SEED)" >&2
    "$BIN/bench/gen_openmetrics" "$SERIES" "$HOURS" "$INTERVAL" "$SEED" 2> "$W/gen0" |
        sed '/^# EOF$/d' > "$F"
    MINT=$(kv "$W/gen0" mint) MAXT=$(kv "$W/gen0" maxt)
    # A classic histogram the generator does not make: request latencies of
    # HIST_HOSTS API servers, 10 buckets + _count + _sum, same timestamps.
    awk -v mint="$MINT" -v maxt="$MAXT" -v step="$INTERVAL" -v hosts="$HIST_HOSTS" 'BEGIN {
        srand(7); nb = split("0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 +Inf", le, " ")
        print "# HELP bench_request_duration_seconds API request latency."
        print "# TYPE bench_request_duration_seconds histogram"
        for (h = 0; h < hosts; h++) { load[h] = 5 + 20 * rand(); slow[h] = 0.5 + rand() }
        for (t = mint; t <= maxt; t += step) {
            for (h = 0; h < hosts; h++) {
                inst = sprintf("api-%03d:8080", h)
                n = int(load[h] * step * (0.8 + 0.4 * rand()))
                for (i = 0; i < n; i++) {
                    x = -log(1 - rand()) * 0.08 * slow[h]
                    if (rand() < 0.01) x *= 20
                    sum[h] += x
                    for (b = 1; b <= nb; b++)
                        if (le[b] == "+Inf" || x <= le[b] + 0) cnt[h, b]++
                }
                for (b = 1; b <= nb; b++)
                    printf "bench_request_duration_seconds_bucket{instance=\"%s\",job=\"api\",le=\"%s\"} %d %d\n", inst, le[b], cnt[h, b], t
                printf "bench_request_duration_seconds_count{instance=\"%s\",job=\"api\"} %d %d\n", inst, cnt[h, nb], t
                printf "bench_request_duration_seconds_sum{instance=\"%s\",job=\"api\"} %.6f %d\n", inst, sum[h], t
            }
        }
        print "# EOF"
    }' >> "$F"
    S0=$(kv "$W/gen0" samples)
    HS=$(( (MAXT - MINT) / INTERVAL + 1 ))
    echo "$(cat "$W/gen0") hist_series=$((HIST_HOSTS * 12)) total_samples=$((S0 + HIST_HOSTS * 12 * HS))" > "$D/gen"
    echo "query.sh: $(cat "$D/gen") file_bytes=$(stat -c %s "$F")" >&2
    echo "query.sh: promtool tsdb create-blocks-from openmetrics" >&2
    promtool tsdb create-blocks-from openmetrics -q "$F" "$D/prom" > "$W/promtool.log" 2>&1 ||
        { cat "$W/promtool.log" >&2; exit 1; }
    echo "query.sh: tsq import openmetrics" >&2
    "$BIN/tsq" import openmetrics "$F" --data-dir "$D/vigil" > "$W/import.log" 2>&1 ||
        { cat "$W/import.log" >&2; exit 1; }
    rm -f "$F"
fi
MINT=$(kv "$D/gen" mint) MAXT=$(kv "$D/gen" maxt)

# ---- the servers -----------------------------------------------------------
PP=$(free_port) VP=$(free_port) SP=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' > "$W/prom.yml"
# retention 0: vigild's default (15 d before the newest sample, and its own
# metrics are newer than the data set) would delete the backfilled blocks
printf 'storage:\n  retention: 0\n' > "$W/vigil.yml"
timeout 3h prometheus --config.file="$W/prom.yml" --storage.tsdb.path="$D/prom" \
    --web.listen-address="127.0.0.1:$PP" --storage.tsdb.retention.time=100y \
    > "$W/prom.log" 2>&1 &
PROM_PID=$!
timeout 3h "$BIN/vigild" --config "$W/vigil.yml" --data-dir "$D/vigil" --http-listen "127.0.0.1:$VP" \
    --statsd-listen "127.0.0.1:$SP" --log-level warn > "$W/vigil.log" 2>&1 &
VIGIL_PID=$!
i=0
until curl -sf "http://127.0.0.1:$PP/-/ready" > /dev/null && curl -sf "http://127.0.0.1:$VP/-/ready" > /dev/null; do
    i=$((i + 1))
    [ $i -lt 600 ] || { echo "query.sh: servers not ready" >&2; tail "$W/prom.log" "$W/vigil.log" >&2; exit 1; }
    sleep 0.2
done

# ---- the queries -------------------------------------------------------------
# Evaluation times 7 s off the 15 s sample grid: Prometheus 2.42's range
# windows are closed on the left, Prometheus 3's (Vigil's) open; off the
# grid both select the same samples. END is the last full minute of data.
# The "24h" window starts 5 min + 7 s after the first sample: a rate window
# reaching before the data would be extrapolated differently (Prometheus 3,
# which Vigil follows, caps the extrapolation to the window's start before
# the extrapolation to zero, 2.42 after).
END=$(( MAXT - 60 + 7 ))
cat > "$W/queries" <<'EOF'
raw	node_network_receive_bytes_total
rate	rate(node_network_receive_bytes_total[5m])
sum_rate	sum by (instance) (rate(node_cpu_seconds_total[5m]))
hist_q99	histogram_quantile(0.99, sum by (le) (rate(bench_request_duration_seconds_bucket[5m])))
hist_q99_job	histogram_quantile(0.99, sum by (le, job) (rate(bench_request_duration_seconds_bucket[5m])))
topk	topk(5, rate(node_network_transmit_bytes_total[5m]))
regex_all	count by (job) ({instance=~"(host|api)-0.*"})
EOF

# compare PROM_JSON VIGIL_JSON: prints "SERIES POINTS DIFFERING"; exits 1
# unless both succeeded with the same series and the same timestamps.
# DIFFERING counts the points whose values differ by more than 1e-9
# relative (see the 2.42 extrapolation note in docs/benchmarks.md).
compare() {
    python3 - "$1" "$2" <<'PY'
import json, sys, math
p, v = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
def close(a, b):
    if a == b: return True
    x, y = float(a), float(b)
    if math.isnan(x) and math.isnan(y): return True
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y))
if p.get("status") != "success" or v.get("status") != "success":
    print(0, 0, 0); sys.exit(1)
def series(d):
    return {tuple(sorted(s["metric"].items())): s["values"] for s in d["data"]["result"]}
P, V = series(p), series(v)
points = sum(len(x) for x in P.values())
ok = P.keys() == V.keys() and p["data"]["resultType"] == v["data"]["resultType"]
diff = 0
for k in P:
    if not ok: break
    a, b = P[k], V[k]
    if [x[0] for x in a] != [y[0] for y in b]:
        ok = False; break
    diff += sum(not close(x[1], y[1]) for x, y in zip(a, b))
print(len(P), points, diff)
sys.exit(0 if ok else 1)
PY
}

# med FILE: the median of the numbers in FILE.
med() { sort -g "$1" | awk '{a[NR]=$1} END { m = NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.3f\n", m }'; }

fails=0
printf '%-13s %-4s %8s %8s %8s %10s %7s  %s\n' query window series points prom_s vigil_s ratio result > "$W/table"
while IFS='	' read -r name q; do
    echo "$name" | grep -Eq "$ONLY" || continue
    for win in 1h 24h; do
        case $win in
        1h) start=$((END - 3600)) step=15 ;;
        24h) start=$((MINT + 307)) step=60 ;;
        esac
        set -- --data-urlencode "query=$q" --data-urlencode "start=$start" \
            --data-urlencode "end=$END" --data-urlencode "step=$step"
        : > "$W/tp"
        : > "$W/tv"
        # the first round (not timed) is the one compared
        curl -s -o "$W/p.json" "http://127.0.0.1:$PP/api/v1/query_range" "$@"
        curl -s -o "$W/v.json" "http://127.0.0.1:$VP/api/v1/query_range" "$@"
        if sp=$(compare "$W/p.json" "$W/v.json"); then
            set -- $sp
            if [ "$3" = 0 ]; then res=identical; else res="$3 values differ"; fi
        else
            res=DIFFERENT fails=$((fails + 1))
        fi
        [ "$res" = identical ] || {
            cp "$W/p.json" "/tmp/query-bench-$name-$win-prom.json"
            cp "$W/v.json" "/tmp/query-bench-$name-$win-vigil.json"
        }
        set -- --data-urlencode "query=$q" --data-urlencode "start=$start" \
            --data-urlencode "end=$END" --data-urlencode "step=$step"
        for r in $(seq "$REPS"); do
            curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PP/api/v1/query_range" "$@" >> "$W/tp"
            curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$VP/api/v1/query_range" "$@" >> "$W/tv"
        done
        pm=$(med "$W/tp") vm=$(med "$W/tv")
        ratio=$(echo "$vm $pm" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }')
        set -- $sp
        printf '%-13s %-4s %8s %8s %8s %10s %7s  %s\n' "$name" "$win" "$1" "$2" "$pm" "$vm" "$ratio" "$res" >> "$W/table"
        echo "query.sh: $name $win prom=$(tr '\n' ' ' < "$W/tp") vigil=$(tr '\n' ' ' < "$W/tv") $res" >&2
    done
done < "$W/queries"

cat <<EOF

Query benchmark: $(cat "$D/gen"); medians of $REPS runs
1h: step 15 s, 241 steps ending at maxt - 53 s; 24h: step 60 s, 1434 steps from mint + 307 s to maxt - 53 s
$(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
Vigil ${VIGIL_REV:-$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo ?)}, $(prometheus --version 2>&1 | head -n 1)

$(cat "$W/table")
EOF
echo "Queries:"
sed 's/^/  /' "$W/queries"
[ "$fails" = 0 ] || { echo "query.sh: $fails results differ in series or timestamps (kept as /tmp/query-bench-*.json)" >&2; exit 1; }
