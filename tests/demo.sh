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
"$BIN/bench/gen_openmetrics" 200 2 15 1 > "$FILE"
echo "== $BIN/tsq import openmetrics $FILE --data-dir $DATA/demo"
"$BIN/tsq" import openmetrics "$FILE" --data-dir "$DATA/demo"
END=$(awk '/^[a-z_]+[{ ]/ {t=$NF} END {print t}' "$FILE")
echo "== $BIN/tsq --data-dir $DATA/demo --time $END 'node_load1[2m]'"
"$BIN/tsq" --data-dir "$DATA/demo" --time "$END" 'node_load1[2m]'
echo "== the same as Prometheus' JSON (-o json)"
"$BIN/tsq" --data-dir "$DATA/demo" --time "$END" -o json 'node_load1[1m]'
echo
echo "== $BIN/tsq tsdb analyze --data-dir $DATA/demo"
"$BIN/tsq" tsdb analyze --data-dir "$DATA/demo"
rm -f "$FILE"
