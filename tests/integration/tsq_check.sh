#!/bin/sh
# tsq_check.sh — `tsq check metrics` as a user runs it: valid input exits 0
# silently, invalid input exits 1 with line:column messages on stderr, lint
# problems exit 3 with "metric: text" lines on stdout; files and stdin,
# format detection and --format.
TSQ="${VIGIL_BIN:?}/tsq"
TMP=$(mktemp -d /tmp/tsq_check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
. "$(dirname "$0")/lib/common.sh"
: >"$TMP/in"

# expect NAME STATUS STDOUT STDERR-PATTERN ARGS... : tsq check metrics ARGS
# with $TMP/in on stdin must exit STATUS, print exactly STDOUT, and write
# stderr matching STDERR-PATTERN (nothing if it is empty).
expect() {
    name=$1 want=$2 wout=$3 werr=$4
    shift 4
    timeout 20 "$TSQ" check metrics "$@" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    got=$(cat "$TMP/out")
    if [ -z "$werr" ]; then
        [ ! -s "$TMP/err" ]
    else
        grep -q -- "$werr" "$TMP/err"
    fi
    err_ok=$?
    if [ "$rc" = "$want" ] && [ "$got" = "$wout" ] && [ $err_ok = 0 ]; then
        ok
    else
        bad "$name: exit $rc (want $want)"
        printf '  stdout: %s\n  want:   %s\n  stderr: %s\n' "$got" "$wout" "$(cat "$TMP/err")"
    fi
}

cat >"$TMP/good.prom" <<'EOF2'
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/a\"b"} 3 1700000000000
# HELP request_duration_seconds Latency.
# TYPE request_duration_seconds histogram
request_duration_seconds_bucket{le="0.1"} 1
request_duration_seconds_bucket{le="+Inf"} 2
request_duration_seconds_sum 0.3
request_duration_seconds_count 2
# HELP temperature_celsius Room temperature.
# TYPE temperature_celsius gauge
temperature_celsius{room="lab"} NaN
EOF2
cat >"$TMP/good.om" <<'EOF2'
# TYPE http_requests counter
# HELP http_requests Requests served.
http_requests_total{code="200"} 3 # {trace_id="abc"} 1 1700000000.5
http_requests_created 1700000000
# TYPE build info
# HELP build Build information.
build_info{version="1.2"} 1
# EOF
EOF2

expect "valid Prometheus text file" 0 "" "" "$TMP/good.prom"
expect "valid OpenMetrics file (detected)" 0 "" "" "$TMP/good.om"
cp "$TMP/good.prom" "$TMP/in"
expect "valid from stdin" 0 "" ""
cp "$TMP/good.om" "$TMP/in"
expect "valid from stdin with -, detected as OpenMetrics" 0 "" "" -
expect "--format openmetrics" 0 "" "" --format openmetrics "$TMP/good.om"

# Invalid input: exit 1, line:column and what was expected.
printf 'a 1\nb{c="d" 2\n' >"$TMP/bad.prom"
expect "syntax error" 1 "" "^2:9: expected ',' or '}' after a label" "$TMP/bad.prom"
printf '# TYPE a counter\na_total 1\n' >"$TMP/in"
expect "OpenMetrics forced: no # EOF" 1 "" \
    '^3:1: expected "# EOF", got end of input' --format openmetrics
printf '# HELP a x\n# UNIT a_seconds seconds\na_seconds 1\n' >"$TMP/in"
expect "# UNIT selects OpenMetrics" 1 "" '^4:1: expected "# EOF"'
printf '# TYPE a counter\na 1\n# EOF\n' >"$TMP/in"
expect "OpenMetrics counter without _total" 1 "" \
    "^2:1: expected a counter sample named a_total or a_created"
printf '# TYPE a counter\na_total 1\n# EOF\n' >"$TMP/in"
expect "--format prometheus reads # EOF as a comment" \
    3 'a: counter metrics should have "_total" suffix
a: no help text
a_total: no help text' "" --format prometheus
printf '# TYPE a gauge\n# TYPE a gauge\na 1\n' >"$TMP/in"
expect "strict: second TYPE" 1 "" \
    "^2:1: expected one TYPE line per metric family a"
printf 'x{a="\\q"} 1\n' >"$TMP/in"
expect "strict: unknown escape" 1 "" "^1:6: expected an escape sequence"
printf 'a 1\nb{ 2\nc 3 x\n' >"$TMP/in"
expect "every bad line reported" 1 "" "^3:5: expected a timestamp"

# Lint problems: exit 3, "metric: text" on stdout, sorted.
cat >"$TMP/lint.prom" <<'EOF2'
# HELP reqLatency_milliseconds Latency.
# TYPE reqLatency_milliseconds gauge
reqLatency_milliseconds 1
# TYPE jobs counter
jobs 3
EOF2
expect "lint warnings" 3 'jobs: counter metrics should have "_total" suffix
jobs: no help text
reqLatency_milliseconds: metric names should be written in '"'snake_case' not 'camelCase'"'
reqLatency_milliseconds: use base unit "seconds" instead of "milliseconds"' "" "$TMP/lint.prom"

# Usage errors: exit 2.
expect "unknown format" 2 "" "--format must be prometheus or openmetrics" --format json "$TMP/good.om"
expect "two files" 2 "" "unexpected argument" "$TMP/good.om" "$TMP/good.prom"
expect "missing file" 1 "" "cannot open $TMP/nope" "$TMP/nope"

finish
