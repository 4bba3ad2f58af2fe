#!/bin/sh
# api_prometheus.sh — the same OpenMetrics data backfilled into a real
# Prometheus 2.42 (promtool tsdb create-blocks-from openmetrics) and into
# Vigil (tsq import openmetrics, then vigild on the data directory); the
# same queries, covering each PromQL function family, against both
# /api/v1/query and /api/v1/query_range; the JSON compared per query.
# Normalised: series order (sorted by labels) unless the query is ordered
# (sort*, topk, bottomk at the top); values compared with a relative
# tolerance of 1e-9 (Prometheus' and Vigil's float sums may differ in the
# last bits); everything else (status, resultType, labels, timestamps,
# errorType) must be identical. Prints "N passed, N failed".
BIN="${VIGIL_BIN:?}"
command -v prometheus >/dev/null && command -v promtool >/dev/null || {
    echo "prometheus/promtool not installed (make deps-bench)"; echo "0 passed, 1 failed"; exit 1; }
TMP=$(mktemp -d /tmp/api_prom.XXXXXX)
PROM_PID= VIGIL_PID=
cleanup() {
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null
    [ -n "$VIGIL_PID" ] && kill "$VIGIL_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# Two hours of data at 15 s ending an hour ago (Prometheus refuses to
# backfill into its head range): counters, gauges, a classic histogram.
END=$(( $(date +%s) / 3600 * 3600 - 3600 ))
START=$((END - 7200))
python3 - "$START" "$END" > "$TMP/data.om" <<'PY'
import sys, math
start, end = int(sys.argv[1]), int(sys.argv[2])
out = []
out.append("# TYPE http_requests counter")
for t in range(start, end + 1, 15):
    i = (t - start) // 15
    for job, inst, code, rate in [("api", "a:1", "200", 5), ("api", "a:1", "500", 1),
                                  ("api", "a:2", "200", 3), ("web", "w:1", "200", 2)]:
        v = i * rate + (i * i) % 7
        if inst == "a:2" and i > 200:        # a counter reset
            v = (i - 200) * rate
        out.append('http_requests_total{code="%s",instance="%s",job="%s"} %d %d' % (code, inst, job, v, t))
out.append("# TYPE temperature gauge")
for t in range(start, end + 1, 15):
    i = (t - start) // 15
    for room, base in [("lab", 20.0), ("office", 22.5)]:
        out.append('temperature{room="%s"} %s %d' % (room, repr(base + math.sin(i / 20.0) * 3), t))
out.append("# TYPE latency_seconds histogram")
bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"]
for t in range(start, end + 1, 15):
    i = (t - start) // 15
    for job in ["api", "web"]:
        c = 0
        for k, le in enumerate(bounds):
            c += i * (6 - k) + (i % (k + 2))
            out.append('latency_seconds_bucket{job="%s",le="%s"} %d %d' % (job, le, c, t))
        out.append('latency_seconds_count{job="%s"} %d %d' % (job, c, t))
        out.append('latency_seconds_sum{job="%s"} %s %d' % (job, repr(c * 0.21), t))
out.append("# EOF")
print("\n".join(out))
PY

# Prometheus
PP=$(free_port)
mkdir -p "$TMP/prom"
promtool tsdb create-blocks-from openmetrics "$TMP/data.om" "$TMP/prom" >"$TMP/promtool.log" 2>&1 ||
    { cat "$TMP/promtool.log"; echo "0 passed, 1 failed"; exit 1; }
printf 'global:\n  scrape_interval: 1h\n' > "$TMP/prom.yml"
timeout 600 prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/prom" \
    --web.listen-address=127.0.0.1:$PP --storage.tsdb.retention.time=100y \
    >"$TMP/prom.log" 2>&1 &
PROM_PID=$!

# Vigil
VP=$(free_port) SP=$(free_port)
"$BIN/tsq" import openmetrics "$TMP/data.om" --data-dir "$TMP/vigil" >/dev/null ||
    { echo "tsq import failed"; echo "0 passed, 1 failed"; exit 1; }
timeout 600 "$BIN/vigild" --data-dir "$TMP/vigil" --http-listen 127.0.0.1:$VP \
    --statsd-listen 127.0.0.1:$SP --log-level warn >"$TMP/vigil.log" 2>&1 &
VIGIL_PID=$!

for i in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PP/-/ready" >/dev/null && curl -sf "http://127.0.0.1:$VP/-/ready" >/dev/null && break
    sleep 0.2
done

# Evaluation times 7 s off the 15 s sample grid: Prometheus 2.42's range
# windows are closed on the left, Prometheus 3's (Vigil's) open; off the
# grid both select the same samples.
T=$((END - 600 + 7))
RS=$((END - 3600 + 7)) RE=$((END - 60 + 7))

# One query per line. ordered: results compared in order.
cat > "$TMP/queries" <<EOF2
http_requests_total
http_requests_total{job="api",code!="500"}
http_requests_total{instance=~"a:.*"}
{__name__=~"temp.*",room!~"off.*"}
http_requests_total offset 10m
http_requests_total @ $((END - 1800))
rate(http_requests_total[5m])
irate(http_requests_total[5m])
increase(http_requests_total[10m])
delta(temperature[10m])
sum by (job) (rate(http_requests_total[5m]))
sum without (instance) (http_requests_total)
avg(temperature)
max by (code) (http_requests_total)
count(http_requests_total)
topk(2, http_requests_total)
bottomk(1, temperature)
quantile(0.9, temperature)
stddev(temperature)
histogram_quantile(0.99, sum by (le) (rate(latency_seconds_bucket[5m])))
histogram_quantile(0.5, rate(latency_seconds_bucket[5m]))
label_replace(http_requests_total, "host", "\$1", "instance", "(.*):.*")
label_join(temperature, "x", "-", "room", "__name__")
time()
timestamp(temperature)
hour(vector($T))
day_of_week()
minute(timestamp(temperature))
http_requests_total / on(instance, job, code) http_requests_total
sum by (job, instance) (http_requests_total) / on(job) group_left sum by (job) (http_requests_total)
http_requests_total > bool 1000
http_requests_total and on(code) http_requests_total{code="500"}
temperature unless temperature{room="lab"}
absent(nonexistent_metric)
absent(http_requests_total)
absent_over_time(nonexistent_metric[5m])
max_over_time(rate(http_requests_total[5m] offset 7s)[30m:1m])
avg_over_time(temperature[10m])
resets(http_requests_total[2h])
changes(temperature[10m])
deriv(temperature[10m])
predict_linear(temperature[10m], 600)
clamp(temperature, 19, 23)
abs(-temperature) + 1
sort_desc(sum by (job) (http_requests_total))
scalar(count(temperature))
vector(1) * 2 ^ 3
count_values("v", floor(temperature))
EOF2

pass=0 fail=0
compare() { # NAME PROM_JSON VIGIL_JSON ORDERED
    python3 - "$2" "$3" "$4" <<'PY'
import json, sys, math
p, v, ordered = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3] == "1"
def close(a, b):
    if a == b: return True
    try: x, y = float(a), float(b)
    except ValueError: return False
    if math.isnan(x) and math.isnan(y): return True
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y))
def norm(d):
    if d.get("status") != "success": return d
    data = d["data"]
    if isinstance(data, dict) and data.get("resultType") in ("vector", "matrix") and not ordered:
        data["result"].sort(key=lambda s: sorted(s["metric"].items()))
    return d
def eq(a, b):
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(eq(a[k], b[k]) for k in a)
    if isinstance(a, str) and isinstance(b, str): return close(a, b)
    return a == b
p, v = norm(p), norm(v)
if p.get("status") == "error" and v.get("status") == "error":
    sys.exit(0 if p.get("errorType") == v.get("errorType") else 1)
p.pop("warnings", None); v.pop("warnings", None)
sys.exit(0 if eq(p, v) else 1)
PY
}

n=0
while IFS= read -r q; do
    [ -z "$q" ] && continue
    n=$((n + 1))
    ordered=0
    case "$q" in sort*|topk*|bottomk*) ordered=1 ;; esac
    for kind in query query_range; do
        if [ $kind = query ]; then set -- --data-urlencode "time=$T"
        else set -- --data-urlencode "start=$RS" --data-urlencode "end=$RE" --data-urlencode "step=60"; fi
        curl -s "http://127.0.0.1:$PP/api/v1/$kind" --data-urlencode "query=$q" "$@" > "$TMP/p.json"
        curl -s "http://127.0.0.1:$VP/api/v1/$kind" --data-urlencode "query=$q" "$@" > "$TMP/v.json"
        o=$ordered; [ $kind = query_range ] && o=0
        if compare "$q" "$TMP/p.json" "$TMP/v.json" "$o"; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            echo "FAIL $kind: $q"
            echo "  prometheus: $(head -c 400 "$TMP/p.json")"
            echo "  vigil:      $(head -c 400 "$TMP/v.json")"
        fi
    done
done < "$TMP/queries"

# The other endpoints: identical JSON (no values to tolerate).
# (start/end keep vigild's own self-metrics, stored since it started, out)
for path in "series?match[]=http_requests_total&match[]=temperature" "labels?start=$START&end=$END" \
            "label/job/values?start=$START&end=$END" "labels?match[]=temperature" "label/le/values?match[]=latency_seconds_bucket{job=\"api\"}" \
            "query?query=sum(" "query_range?query=1&start=10&end=5&step=1" "query_range?query=1&start=0&end=100000&step=1" \
            "query?query=1&time=abc" "series"; do
    curl -sg "http://127.0.0.1:$PP/api/v1/$path" -o "$TMP/p.json" -w '%{http_code}\n' > "$TMP/pc"
    curl -sg "http://127.0.0.1:$VP/api/v1/$path" -o "$TMP/v.json" -w '%{http_code}\n' > "$TMP/vc"
    if cmp -s "$TMP/pc" "$TMP/vc" && compare "$path" "$TMP/p.json" "$TMP/v.json" 1; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL /api/v1/$path: status $(cat "$TMP/pc") vs $(cat "$TMP/vc")"
        echo "  prometheus: $(head -c 300 "$TMP/p.json")"
        echo "  vigil:      $(head -c 300 "$TMP/v.json")"
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
