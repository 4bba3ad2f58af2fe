#!/bin/sh
# tsq_test_rules.sh — `tsq test rules` as a user runs it: Prometheus' own
# promtool test file (from $VIGIL_CONFORMANCE) passes with its
# native-histogram cases skipped by name; the project's examples in
# tests/rules pass (spam-filter latency alert, evaluation order and
# template context); deliberately failing files print exactly what promtool prints for
# them (tests/rules/*.expected were produced by promtool 2.42 from the same
# files) and exit 1; a malformed file gets file:line:col; usage errors exit 2.
TSQ="${VIGIL_BIN:?}/tsq"
RULES=$(cd "$(dirname "$0")/../rules" && pwd)
TMP=$(mktemp -d /tmp/tsq_test_rules.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
. "$(dirname "$0")/lib/common.sh"

# run ARGS...: tsq test rules ARGS in tests/rules, stdout and stderr in
# one stream ($TMP/out), exit status in $rc.
run() {
    (cd "$RULES" && timeout 60 "$TSQ" test rules "$@") >"$TMP/out" 2>&1
    rc=$?
}

# expect_exact NAME STATUS WANT-FILE: the last run exited STATUS and
# printed exactly WANT-FILE.
expect_exact() {
    if [ "$rc" = "$2" ] && cmp -s "$3" "$TMP/out"; then
        ok
    else
        bad "$1: exit $rc (want $2); output differs:"
        diff "$3" "$TMP/out" | sed 's/^/  /'
    fi
}

# expect_line NAME TEXT: the last run printed the line TEXT.
expect_line() {
    if grep -qxF -- "$2" "$TMP/out"; then
        ok
    else
        bad "$1: no line \"$2\" in:"
        sed 's/^/  /' "$TMP/out"
    fi
}

# ---- Prometheus' promtool test file ---------------------------------------
UNITTEST="${VIGIL_CONFORMANCE:-}/promtool/unittest.yml"
if [ -z "${VIGIL_CONFORMANCE:-}" ] || [ ! -f "$UNITTEST" ]; then
    echo "SKIPPED: no promtool test file (\$VIGIL_CONFORMANCE/promtool/unittest.yml)"
else
    run "$UNITTEST"
    [ "$rc" = 0 ] && ok || bad "unittest.yml: exit $rc (want 0)"
    expect_line "unittest.yml: every other case passes" "23 passed, 0 failed, 3 skipped"
    expect_line "unittest.yml: success" "  SUCCESS"
    for name in test_histogram test_histogram_repeat test_histogram_increase; do
        when=1m
        [ "$name" = test_histogram ] || when=2m
        expect_line "unittest.yml: $name skipped by name" \
            "  SKIPPED: tests[0] expr: \"$name\", time: $when (native histograms are not supported)"
    done
fi

# ---- the spam-filter example ---------------------------------------------
run spam_filter_test.yml
printf 'Unit Testing:  spam_filter_test.yml\n  SUCCESS\n\n5 passed, 0 failed, 0 skipped\n' \
    >"$TMP/want"
expect_exact "spam filter example passes" 0 "$TMP/want"

# group_eval_order, external_labels and external_url (checked with promtool).
run eval_order_test.yml
printf 'Unit Testing:  eval_order_test.yml\n  SUCCESS\n\n4 passed, 0 failed, 0 skipped\n' \
    >"$TMP/want"
expect_exact "evaluation order and template context" 0 "$TMP/want"

# A subquery without a step uses the file's evaluation_interval.
run subquery_step_test.yml
printf 'Unit Testing:  subquery_step_test.yml\n  SUCCESS\n\n2 passed, 0 failed, 0 skipped\n' \
    >"$TMP/want"
expect_exact "subquery default step is evaluation_interval" 0 "$TMP/want"

# An alert whose rule reads a native-histogram series, and an expression
# reading what such a rule records, are skipped by name (their rules' errors
# do not fail the file).
cat >"$TMP/native.rules.yml" <<'EOF2'
groups:
  - name: latency
    rules:
      - record: comment_latency:count5m
        expr: histogram_count(rate(comment_latency_seconds[5m]))
      - alert: NoCommentLatency
        expr: comment_latency:count5m == 0
EOF2
cat >"$TMP/native_test.yml" <<'EOF2'
rule_files: [native.rules.yml]
tests:
  - input_series:
      - series: comment_latency_seconds
        values: '{{schema:0 count:1 sum:0.2 buckets:[1]}}x5'
    alert_rule_test:
      - eval_time: 5m
        alertname: NoCommentLatency
        exp_alerts: []
    promql_expr_test:
      - expr: sum(comment_latency:count5m)
        eval_time: 5m
        exp_samples: []
      - expr: vector(1)
        exp_samples: [{value: 1}]
EOF2
run "$TMP/native_test.yml"
expect_line "native alert: skipped by name" \
    "  SKIPPED: tests[0] alertname: NoCommentLatency, time: 5m (native histograms are not supported)"
expect_line "native record: skipped by name" \
    "  SKIPPED: tests[0] expr: \"sum(comment_latency:count5m)\", time: 5m (native histograms are not supported)"
expect_line "native: counted as skipped" "1 passed, 0 failed, 2 skipped"
[ "$rc" = 0 ] && ok || bad "native alert: exit $rc (want 0: nothing failed)"

# ---- deliberate failures: promtool's report, word for word ----------------
for t in wrong_label wrong_value not_firing_yet; do
    run "fail_${t}_test.yml"
    { cat "$RULES/fail_$t.expected"; echo "0 passed, 1 failed, 0 skipped"; } >"$TMP/want"
    expect_exact "fail_$t reported like promtool" 1 "$TMP/want"
done

# Several files: each reported, one summary, exit 1 if any failed.
run spam_filter_test.yml fail_wrong_value_test.yml
expect_line "two files: one summary" "5 passed, 1 failed, 0 skipped"
[ "$rc" = 1 ] && ok || bad "two files: exit $rc (want 1)"

# ---- malformed test files ---------------------------------------------------
run malformed_test.yml
expect_line "malformed: position and offending text" \
    "malformed_test.yml:9:67: bad series selector spam_filter_duration_seconds_count{job=\"comments\": unexpected end of input inside braces"
[ "$rc" = 1 ] && ok || bad "malformed: exit $rc (want 1)"

printf 'tests:\n  - interval: 1m\n    promql_expr_tset: []\n' >"$TMP/typo.yml"
run "$TMP/typo.yml"
expect_line "unknown key" "$TMP/typo.yml:3:5: unknown key \"promql_expr_tset\" in a tests: entry"

printf 'tests:\n  - promql_expr_test:\n      - expr: up\n        eval_time: 5 minutes\n' \
    >"$TMP/dur.yml"
run "$TMP/dur.yml"
expect_line "bad duration" \
    "$TMP/dur.yml:4:20: bad duration \"5 minutes\" for eval_time (like 30s, 5m, 1h30m)"

# As promtool: a rule_files pattern matching nothing is a warning only.
printf 'rule_files: [no-such-rules.yml]\ntests:\n  - promql_expr_test:\n      - expr: vector(1)\n        exp_samples: [{value: 1}]\n' \
    >"$TMP/norules.yml"
run "$TMP/norules.yml"
expect_line "unmatched rule_files: warning" "  WARNING: no file match pattern $TMP/no-such-rules.yml"
expect_line "unmatched rule_files: still runs" "1 passed, 0 failed, 0 skipped"

run "$TMP/missing.yml"
expect_line "missing file" "$TMP/missing.yml: No such file or directory"
[ "$rc" = 1 ] && ok || bad "missing file: exit $rc (want 1)"

# ---- usage -------------------------------------------------------------------
for args in "test rules" "test alerts x.yml" "test rules --bogus x.yml"; do
    # shellcheck disable=SC2086
    timeout 20 "$TSQ" $args >"$TMP/out" 2>&1
    rc=$?
    if [ "$rc" = 2 ] && grep -q "usage: tsq" "$TMP/out"; then ok; else bad "tsq $args: exit $rc (want 2 and usage)"; fi
done

finish
