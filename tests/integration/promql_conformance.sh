#!/bin/sh
# promql_conformance.sh — Prometheus' own PromQL test scripts
# (../shared/conformance/promql/*.test) through bin/promqltest. The runner
# prints per-file counts and failures, then "N passed, N failed, N skipped"
# (skipped: native-histogram cases only); this suite reports that last line
# as "N passed, N failed" for run-all.sh.
RUNNER="${VIGIL_BIN:?}/promqltest"
DIR="${VIGIL_TOP:?}/../shared/conformance/promql"
OUT=$(mktemp /tmp/promql_conformance.XXXXXX)
trap 'rm -f "$OUT"' EXIT INT TERM

if [ ! -x "$RUNNER" ]; then
    echo "FAIL: $RUNNER not built"
    echo "0 passed, 1 failed"
    exit 1
fi
timeout 600 "$RUNNER" "$DIR"/*.test >"$OUT" 2>&1
rc=$?
cat "$OUT"
summary=$(tail -n 1 "$OUT")
case "$summary" in
*" passed, "*" failed, "*" skipped")
    pass=${summary%% passed*}
    fail=${summary#* passed, }
    fail=${fail%% failed*}
    ;;
*)
    echo "FAIL: runner ended without a summary (exit $rc)"
    pass=0 fail=1
    ;;
esac
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$rc" = 0 ]
