#!/bin/sh
# promql_conformance.sh — Prometheus' own PromQL test scripts
# (../shared/conformance/promql/*.test) through bin/promqltest. The runner
# prints per-file counts and failures, then "N passed, N failed, N skipped"
# (skipped: native-histogram cases only); this suite reports that last line
# as "N passed, N failed" for run-all.sh.
RUNNER="${VIGIL_BIN:?}/promqltest"
# The scripts live outside the repository, in ../shared/conformance next to
# the checkout ($VIGIL_CONFORMANCE overrides). A checkout without them
# cannot run this suite: it says so loudly and counts nothing.
DIR=""
for c in "${VIGIL_CONFORMANCE:-}" "${VIGIL_TOP:?}/../shared/conformance"; do
    if [ -n "$c" ] && ls "$c"/promql/*.test >/dev/null 2>&1; then
        DIR="$c/promql"
        break
    fi
done
if [ -z "$DIR" ]; then
    echo "SKIPPED: no conformance scripts (../shared/conformance/promql/*.test) next to this checkout"
    echo "0 passed, 0 failed"
    exit 0
fi
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
