#!/bin/sh
# Runs every test suite and prints one overall line "N passed, N failed".
# Each suite prints its own "N passed, N failed" line (cmocka's summary is
# converted); the sums of those lines are the overall result.
BIN=${1:-bin}
TOP=$(cd "$(dirname "$0")/.." && pwd)
export VIGIL_BIN="$TOP/$BIN" VIGIL_TOP="$TOP"
# Prometheus' own test material lives next to the checkout, not in it.
if [ -z "${VIGIL_CONFORMANCE:-}" ]; then
    for c in "$TOP/../shared/conformance" /work/shared/conformance; do
        [ -d "$c/promql" ] && VIGIL_CONFORMANCE=$(cd "$c" && pwd) && break
    done
fi
export VIGIL_CONFORMANCE="${VIGIL_CONFORMANCE:-}"
log=$(mktemp)
status=0

run_suite() { # name command...
    name=$1; shift
    echo "== $name"
    out=$(mktemp)
    "$@" > "$out" 2>&1
    rc=$?
    cat "$out"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
    if [ -z "$p" ]; then
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n1)
        p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
        f=$(echo "$line" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p')
    fi
    p=${p:-0}; f=${f:-0}
    if [ $rc != 0 ] && [ "$f" = 0 ]; then f=1; echo "$name: exited with status $rc"; fi
    echo "$name: $p passed, $f failed"
    echo "$p $f" >> "$log"
    rm -f "$out"
}

for t in "$TOP/$BIN"/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "$(basename "$t")" "$t"
done
for t in "$TOP/$BIN"/fuzz-replay/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    run_suite "$name (corpus replay)" "$t" "$TOP/tests/fuzz/corpus/$name"
done
for t in "$TOP"/tests/integration/*.sh; do
    [ -f "$t" ] || continue
    run_suite "$(basename "$t" .sh)" sh "$t"
done

total_p=$(awk '{s+=$1} END {print s+0}' "$log")
total_f=$(awk '{s+=$2} END {print s+0}' "$log")
rm -f "$log"
echo
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
