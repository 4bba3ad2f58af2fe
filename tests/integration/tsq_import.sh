#!/bin/sh
# tsq_import.sh — backfills a small OpenMetrics file with `tsq import` and
# checks what users see: exact JSON and CSV query output, the (T-range, T]
# and 5m-lookback boundaries, `tsq tsdb analyze`, and the exit codes for
# malformed input (1, with line:column) and usage errors (2).
TSQ="${VIGIL_BIN:?}/tsq"
TMP=$(mktemp -d /tmp/tsq_import.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
. "$(dirname "$0")/lib/common.sh"

# expect_out NAME EXPECTED ARGS... : stdout of tsq must equal EXPECTED, exit 0.
expect_out() {
    name=$1 want=$2
    shift 2
    got=$(timeout 20 "$TSQ" "$@" 2>"$TMP/err")
    rc=$?
    if [ $rc = 0 ] && [ "$got" = "$want" ]; then ok; else
        bad "$name (exit $rc)"; printf '  want: %s\n  got:  %s\n' "$want" "$got"; cat "$TMP/err"; fi
}

# expect_fail NAME STATUS PATTERN ARGS... : exit STATUS, stderr matches PATTERN.
expect_fail() {
    name=$1 want=$2 pat=$3
    shift 3
    timeout 20 "$TSQ" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc = "$want" ] && grep -q -- "$pat" "$TMP/err"; then ok; else
        bad "$name: exit $rc (want $want), stderr:"; cat "$TMP/err"; fi
}

cat >"$TMP/data.om" <<'OM'
# HELP http_requests Requests served, by "code" and \\path.
# TYPE http_requests counter
http_requests_total{code="200",path="/a\"b\\c\nd"} 1 1700000000
http_requests_total{code="200",path="/a\"b\\c\nd"} 3 1700000060
http_requests_total{code="200",path="/a\"b\\c\nd"} 7.5 1700000120.5
http_requests_total{code="500",path="/"} 2 1700000000
http_requests_total{code="500",path="/"} 4 1700000120
# TYPE temperature_celsius gauge
# UNIT temperature_celsius celsius
temperature_celsius{room="lab"} 21.5 1700000000
temperature_celsius{room="lab"} -3.25 1700000060.001
temperature_celsius{room="lab"} NaN 1700000120
# EOF
OM

D="$TMP/store"
out=$(timeout 60 "$TSQ" import openmetrics "$TMP/data.om" --data-dir "$D" 2>"$TMP/err")
rc=$?
case "$rc:$out" in
0:"imported 8 samples of 3 new series from $TMP/data.om in "*) ok ;;
*) bad "import: exit $rc, output: $out"; cat "$TMP/err" ;;
esac
[ -s "$TMP/err" ] && bad "import wrote to stderr although it is not a terminal: $(cat "$TMP/err")" || ok

# Range selector: raw samples, escaped label values, Prometheus' number forms.
expect_out "json matrix" \
'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"http_requests_total","code":"200","path":"/a\"b\\c\nd"},"values":[[1700000000,"1"],[1700000060,"3"],[1700000120.500,"7.5"]]}]}}' \
    --data-dir "$D" --time 1700000200 -o json 'http_requests_total{code="200"}[5m]'

# (T-range, T]: a sample exactly at T-range is out, one exactly at T is in.
expect_out "range excludes T-range, includes T" \
'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"http_requests_total","code":"500","path":"/"},"values":[[1700000120,"4"]]}]}}' \
    --data-dir "$D" --time 1700000120 -o json 'http_requests_total{code="500"}[2m]'
expect_out "range one ms wider includes T-range" \
'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"http_requests_total","code":"500","path":"/"},"values":[[1700000000,"2"],[1700000120,"4"]]}]}}' \
    --data-dir "$D" --time 1700000120 -o json 'http_requests_total{code="500"}[2m1ms]'
expect_out "range ending 1 ms before a sample excludes it" \
'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"http_requests_total","code":"500","path":"/"},"values":[[1700000000,"2"]]}]}}' \
    --data-dir "$D" --time 1700000119.999 -o json 'http_requests_total{code="500"}[2m1ms]'
expect_out "regex matcher and RFC 3339 time" \
'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"http_requests_total","code":"200","path":"/a\"b\\c\nd"},"values":[[1700000000,"1"],[1700000060,"3"]]},{"metric":{"__name__":"http_requests_total","code":"500","path":"/"},"values":[[1700000000,"2"]]}]}}' \
    --data-dir "$D" --time 2023-11-14T22:14:20Z -o json '{__name__=~"http_.*",code=~"2..|500"}[61s]'

# A scalar prints as the API prints it: fixed notation at every magnitude.
expect_out "json scalar in fixed notation" \
'{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.0000001"]}}' \
    --data-dir "$D" --time 1700000000 -o json '1e-7'

# Instant selector: newest sample within 5m, stamped with the query time.
expect_out "json vector" \
'{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"temperature_celsius","room":"lab"},"value":[1700000100,"-3.25"]}]}}' \
    --data-dir "$D" --time 1700000100 -o json 'temperature_celsius'
expect_out "vector NaN value" \
'{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"temperature_celsius","room":"lab"},"value":[1700000419.999,"NaN"]}]}}' \
    --data-dir "$D" --time 1700000419.999 -o json 'temperature_celsius'
expect_out "lookback is left-open: nothing 5m after the last sample" \
'{"status":"success","data":{"resultType":"vector","result":[]}}' \
    --data-dir "$D" --time 1700000420 -o json 'temperature_celsius'
expect_out "no matching series" \
'{"status":"success","data":{"resultType":"matrix","result":[]}}' \
    --data-dir "$D" --time 1700000200 -o json 'nope[1h]'

expect_out "csv" \
'series,timestamp,value
"temperature_celsius{room=""lab""}",1700000000,21.5
"temperature_celsius{room=""lab""}",1700000060.001,-3.25
"temperature_celsius{room=""lab""}",1700000120,NaN' \
    --data-dir "$D" --time 1700000200 -o csv 'temperature_celsius[10m]'

expect_out "table" \
'SERIES                           TIME                      VALUE
temperature_celsius{room="lab"}  2023-11-14T22:14:20.001Z  -3.25' \
    --data-dir "$D" --time 1700000100 'temperature_celsius[1m]'

# analyze names the series count and the busiest metric.
timeout 20 "$TSQ" tsdb analyze --data-dir "$D" >"$TMP/analyze" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q '^Series: 3$' "$TMP/analyze" &&
    grep -q '^ *2 http_requests_total$' "$TMP/analyze" &&
    grep -q '^Samples: 8 ' "$TMP/analyze"; then ok; else
    bad "analyze (exit $rc):"; cat "$TMP/analyze"; fi

# A malformed file is rejected as a whole, pointing at line:column.
printf '# TYPE a gauge\na 1 1700000000\na{b=c} 2 1700000060\n# EOF\n' >"$TMP/bad.om"
expect_fail "malformed file" 1 "bad.om:3:5: expected '\"' to open the label value" \
    import openmetrics "$TMP/bad.om" --data-dir "$TMP/bad-store"
[ -e "$TMP/bad-store" ] && bad "a rejected file still created the store" || ok
printf 'a 1\n# EOF\n' >"$TMP/nots.om"
expect_fail "sample without timestamp" 1 "nots.om:1:1: sample a has no timestamp" \
    import openmetrics "$TMP/nots.om" --data-dir "$TMP/bad-store"
printf 'a 1 1700000000\n' >"$TMP/noeof.om"
expect_fail "missing # EOF" 1 "noeof.om:2:1: expected \"# EOF\"" \
    import openmetrics "$TMP/noeof.om" --data-dir "$TMP/bad-store"
expect_fail "missing file" 1 "cannot open" import openmetrics "$TMP/none.om" --data-dir "$D"

# Query and input errors exit 1, usage errors exit 2 with usage text.
expect_fail "bad selector" 1 "1:4: parse error: unexpected character inside braces" --data-dir "$D" 'm{a~"b"}'
expect_fail "empty-matching selector" 1 "at least one non-empty matcher" --data-dir "$D" '{a=~".*"}'
expect_fail "bad time" 1 "invalid --time" --data-dir "$D" --time yesterday 'up'
expect_fail "missing store" 1 "does not exist" --data-dir "$TMP/nothere" 'up'
expect_fail "no arguments" 2 "usage: tsq"
expect_fail "unknown option" 2 "unknown option --bogus" --bogus --data-dir "$D" 'up'
expect_fail "bad output format" 2 "-o must be table, json or csv" --data-dir "$D" -o xml 'up'
# without --data-dir tsq asks a running vigild; none listens on this port
expect_fail "no server" 1 "cannot query http://127.0.0.1:1/api/v1/query" --url http://127.0.0.1:1 'up'
expect_fail "import without dir" 2 "usage: tsq" import openmetrics "$TMP/data.om"

finish
