#!/bin/sh
# `make run` until the agent exists: a short end-to-end demo of the store.
# Generates two hours of node_exporter-like data for 200 series, backfills it
# into ./vigil-data with `tsq import openmetrics`, queries it back and prints
# the store's analysis. Everything it writes is under ./vigil-data.
set -e
BIN=${1:-bin}
DATA=${VIGIL_DATA:-./vigil-data}
FILE=$DATA/demo.om
mkdir -p "$DATA"
rm -rf "$DATA/demo"
echo "== generating 200 series x 2 h at 15 s into $FILE"
"$BIN/bench/gen_openmetrics" 200 2 15 1 > "$FILE" 2> "$DATA/demo.summary"
cat "$DATA/demo.summary"
echo "== $BIN/tsq import openmetrics $FILE --data-dir $DATA/demo"
"$BIN/tsq" import openmetrics "$FILE" --data-dir "$DATA/demo"
END=$(sed -n 's/.*maxt=\([0-9]*\).*/\1/p' "$DATA/demo.summary")
Q='node_cpu_seconds_total{cpu="0",mode=~"idle|user"}'
echo "== $BIN/tsq --data-dir $DATA/demo --time $END '$Q[1m]'"
"$BIN/tsq" --data-dir "$DATA/demo" --time "$END" "$Q[1m]"
echo "== the same as Prometheus' JSON (-o json)"
"$BIN/tsq" --data-dir "$DATA/demo" --time "$END" -o json "$Q[30s]"
echo
echo "== $BIN/tsq tsdb analyze --data-dir $DATA/demo"
"$BIN/tsq" tsdb analyze --data-dir "$DATA/demo"
rm -f "$FILE" "$DATA/demo.summary"
