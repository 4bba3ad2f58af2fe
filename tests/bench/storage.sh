#!/bin/sh
# storage.sh — the storage benchmark in one run: generates a node_exporter-like
# OpenMetrics file, backfills it into Prometheus (promtool) and into Vigil
# (tsq import) RUNS times, measures bytes per sample on disk, backfill time
# and full-scan decode rate of both, then Vigil's append rate, head memory
# per series and WAL replay time; prints medians. See tests/bench/README.md.
#
# Usage: tests/bench/storage.sh [BIN]          (BIN defaults to bin)
# Environment (defaults are the full run):
#   SERIES=10000 HOURS=24 INTERVAL=15 SEED=1 RUNS=3
#   APPEND_SERIES=100000 APPEND_HOURS=2       bench_append's head
#   PROM_PORT=19391                            Prometheus for the PromQL scan
#   QUICK=1                                    smoke run: 1000 series, 2 h,
#                                              10000 append series
# Everything it writes goes to a fresh directory under /tmp (TMPDIR),
# removed at exit.
set -eu

BIN=${1:-bin}
if [ "${QUICK:-0}" = 1 ]; then
    SERIES=${SERIES:-1000} HOURS=${HOURS:-2} APPEND_SERIES=${APPEND_SERIES:-10000}
fi
SERIES=${SERIES:-10000} HOURS=${HOURS:-24} INTERVAL=${INTERVAL:-15} SEED=${SEED:-1}
RUNS=${RUNS:-3} APPEND_SERIES=${APPEND_SERIES:-100000} APPEND_HOURS=${APPEND_HOURS:-2}
PROM_PORT=${PROM_PORT:-19391}

for p in "$BIN/bench/gen_openmetrics" "$BIN/bench/bench_append" "$BIN/tsq" \
         /usr/bin/promtool /usr/bin/prometheus /usr/bin/time /usr/bin/curl; do
    [ -x "$p" ] || { echo "storage.sh: $p missing (make; tests/deps.sh prometheus time curl)" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/vigil-storage.XXXXXX")
PROM_PID=
cleanup() {
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
mkdir "$W/res"

. "$(dirname "$0")/lib/stats.sh"
# timed KEY CMD...: runs CMD; if it succeeds, records KEY_wall and KEY_cpu
# (user+sys seconds). Returns CMD's exit status.
timed() {
    key=$1; shift
    /usr/bin/time -f '%e %U %S' -o "$W/time" "$@" || return
    read -r wall user sys < "$W/time"
    record "${key}_wall" "$wall"
    record "${key}_cpu" "$(echo "$user $sys" | awk '{print $1 + $2}')"
}
# div A B: A / B with 4 significant digits.
div() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.4g\n", $1 / $2; else print "n/a" }'; }
# kv FILE KEY: the value of key=value in bench_append's output.
kv() { tr ' ' '\n' < "$1" | sed -n "s/^$2=//p" | head -n 1; }

# ---- the data set --------------------------------------------------------
F=$W/data.om
echo "storage.sh: generating $SERIES series x ${HOURS} h at ${INTERVAL} s (seed $SEED)" >&2
"$BIN/bench/gen_openmetrics" "$SERIES" "$HOURS" "$INTERVAL" "$SEED" > "$F" 2> "$W/gen"
SAMPLES=$(kv "$W/gen" samples)
MAXT=$(kv "$W/gen" maxt)
echo "storage.sh: $(cat "$W/gen") file_bytes=$(stat -c %s "$F")" >&2
RANGE="$((HOURS * 60 + 1))m"   # the whole data set, at time MAXT + 1

# Sizes under a data directory $1: block_bytes sums every block's index and
# chunk files (Prometheus: BLOCK/index, BLOCK/chunks/NNNNNN; Vigil:
# BLOCK/index, BLOCK/chunks), chunk_bytes the chunk files alone, dir_bytes
# everything (metadata, tombstones, WAL, lock).
chunk_bytes() {
    find "$1" -path '*/wal' -prune -o -type f \( -path '*/chunks/*' -o -name chunks \) \
        -printf '%s\n' | awk '{s += $1} END {print s + 0}'
}
block_bytes() {
    echo "$(chunk_bytes "$1") $(find "$1" -path '*/wal' -prune -o -type f -name index \
        -printf '%s\n' | awk '{s += $1} END {print s + 0}')" | awk '{print $1 + $2}'
}
dir_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# prom_scan DIR: PromQL full scan, one `sum(count_over_time(NAME[range]))`
# per metric name (count_over_time drops names, so one query over all
# series would collide); records the summed query times and checks that
# every sample was counted.
prom_scan() {
    printf 'global:\n  scrape_interval: 1h\n' > "$W/prom.yml"
    prometheus --config.file="$W/prom.yml" --storage.tsdb.path="$1" \
        --web.listen-address="127.0.0.1:$PROM_PORT" \
        --storage.tsdb.retention.time=100y \
        --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h \
        --query.max-samples=1000000000 --query.timeout=30m \
        > "$W/prom.log" 2>&1 &
    PROM_PID=$!
    url=http://127.0.0.1:$PROM_PORT
    i=0
    until curl -sf "$url/-/ready" > /dev/null; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "storage.sh: prometheus not ready" >&2; tail "$W/prom.log" >&2; exit 1; }
        sleep 0.1
    done
    names=$(curl -sf "$url/api/v1/label/__name__/values" |
        sed 's/.*"data":\[//; s/\].*//' | tr -d '"' | tr ',' '\n')
    echo "$names" > "$W/names"
    while read -r name; do
        curl -sf -w ' %{time_total}\n' --data-urlencode "time=$((MAXT + 1))" \
            --data-urlencode "query=sum(count_over_time(${name}[$RANGE]))" "$url/api/v1/query"
    done < "$W/names" > "$W/scan"
    kill "$PROM_PID"
    wait "$PROM_PID" || true
    PROM_PID=
    n=$(sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)"\].*/\1/p' "$W/scan" | awk '{s += $1} END {print s}')
    [ "$n" = "$SAMPLES" ] || echo "storage.sh: PromQL scan counted $n of $SAMPLES samples" >&2
    record prom_query_wall "$(awk '{s += $NF} END {print s}' "$W/scan")"
}

for run in $(seq "$RUNS"); do
    echo "storage.sh: run $run of $RUNS" >&2

    # Prometheus: backfill, size, promtool dump, PromQL scan.
    P=$W/prom
    rm -rf "$P"
    timed prom_import promtool tsdb create-blocks-from openmetrics -q "$F" "$P"
    record prom_bytes "$(block_bytes "$P")"
    record prom_chunk_bytes "$(chunk_bytes "$P")"
    record prom_dir_bytes "$(dir_bytes "$P")"
    record prom_blocks "$(find "$P" -name index | wc -l)"
    n=$(promtool tsdb list "$P" | awk 'NR > 1 {s += $5} END {print s}')
    [ "$n" = "$SAMPLES" ] || echo "storage.sh: promtool stored $n of $SAMPLES samples" >&2
    mkdir -p "$P/wal"
    timed prom_dump sh -c "promtool tsdb dump '$P' > /dev/null"
    prom_scan "$P"

    # Vigil: backfill, size, scan.
    V=$W/vigil
    rm -rf "$V"
    timed vigil_import "$BIN/tsq" import openmetrics "$F" --data-dir "$V" >&2
    record vigil_bytes "$(block_bytes "$V")"
    record vigil_chunk_bytes "$(chunk_bytes "$V")"
    record vigil_dir_bytes "$(dir_bytes "$V")"
    "$BIN/bench/bench_append" scan "$V" > "$W/scan"
    n=$(kv "$W/scan" samples)
    [ "$n" = "$SAMPLES" ] || echo "storage.sh: Vigil scan read $n of $SAMPLES samples" >&2
    record vigil_scan_wall "$(kv "$W/scan" scan_wall_s)"
    record vigil_scan_cpu "$(kv "$W/scan" scan_cpu_s)"
    record vigil_blocks "$(find "$V" -name index | wc -l)"
    rm -rf "$P" "$V"

    # Vigil's write path.
    for fs in never interval; do
        A=$W/append-$fs
        "$BIN/bench/bench_append" append "$A" -n "$APPEND_SERIES" -H "$APPEND_HOURS" \
            -i "$INTERVAL" -f "$fs" > "$W/append"
        sed 's/^/  /' "$W/append" >&2
        record "append_${fs}_rate" "$(kv "$W/append" append_samples_per_s_per_core)"
        record "append_${fs}_wall_rate" "$(kv "$W/append" append_samples_per_s_wall)"
        record "head_${fs}_per_series" "$(kv "$W/append" head_bytes_per_series)"
        record "head_overhead_${fs}_per_series" "$(kv "$W/append" head_overhead_bytes_per_series)"
        record "rss_${fs}_per_series" "$(kv "$W/append" rss_delta_bytes_per_series)"
        record "replay_${fs}_s" "$(kv "$W/append" replay_s)"
        record "replay_${fs}_rate" "$(kv "$W/append" replay_samples_per_s)"
        rm -rf "$A"
    done
done

# ---- results ---------------------------------------------------------------
pb=$(median prom_bytes) vb=$(median vigil_bytes)
pc=$(median prom_chunk_bytes) vc=$(median vigil_chunk_bytes)
pa=$(median prom_dir_bytes) va=$(median vigil_dir_bytes)
piw=$(median prom_import_wall) viw=$(median vigil_import_wall)
pic=$(median prom_import_cpu) vic=$(median vigil_import_cpu)
pdw=$(median prom_dump_wall) pqw=$(median prom_query_wall)
vsw=$(median vigil_scan_wall)
rate() { [ "$1" = n/a ] && echo n/a || div "$SAMPLES" "$1"; }

cat <<EOF

Storage benchmark: $SERIES series x $HOURS h at ${INTERVAL} s, seed $SEED = $SAMPLES samples; medians of $RUNS runs
$(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)

| measure                              | Vigil        | Prometheus 2.42 | Vigil / Prometheus |
|--------------------------------------|--------------|-----------------|--------------------|
| bytes/sample on disk (index+chunks)  | $(div "$vb" "$SAMPLES") | $(div "$pb" "$SAMPLES") | $(div "$vb" "$pb") |
| bytes/sample in chunk files          | $(div "$vc" "$SAMPLES") | $(div "$pc" "$SAMPLES") | $(div "$vc" "$pc") |
| bytes/sample, whole data directory   | $(div "$va" "$SAMPLES") | $(div "$pa" "$SAMPLES") | $(div "$va" "$pa") |
| backfill wall s                      | $viw | $piw | $(div "$viw" "$piw") |
| backfill CPU s                       | $vic | $pic | $(div "$vic" "$pic") |
| blocks written                       | $(median vigil_blocks) | $(median prom_blocks) | |
| full scan, samples/s                 | $(rate "$vsw") (C API) | $(rate "$pqw") (PromQL count_over_time) | $(div "$pqw" "$vsw") |
| full scan, samples/s, text dump      |              | $(rate "$pdw") (promtool tsdb dump) | |

Vigil write path ($APPEND_SERIES series x ${APPEND_HOURS} h at ${INTERVAL} s):
| wal_fsync | append samples/s per core | samples/s wall | head bytes/series (stats) | of which not chunks | RSS bytes/series | WAL replay s | replay samples/s |
|-----------|---------------------------|----------------|---------------------------|---------------------|------------------|--------------|------------------|
| never     | $(median append_never_rate) | $(median append_never_wall_rate) | $(median head_never_per_series) | $(median head_overhead_never_per_series) | $(median rss_never_per_series) | $(median replay_never_s) | $(median replay_never_rate) |
| interval  | $(median append_interval_rate) | $(median append_interval_wall_rate) | $(median head_interval_per_series) | $(median head_overhead_interval_per_series) | $(median rss_interval_per_series) | $(median replay_interval_s) | $(median replay_interval_rate) |

Per-run values:
EOF
for f in "$W"/res/*; do
    printf '  %-28s %s\n' "$(basename "$f")" "$(tr '\n' ' ' < "$f")"
done
