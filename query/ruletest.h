/* ruletest.h — `tsq test rules`: promtool's rule unit tests. A test file
 * names rule files and lists test groups of input series (series
 * notation), alert_rule_test and promql_expr_test cases; each group loads
 * its series into a scratch store, evaluates every rule group at 0,
 * evaluation_interval, ... up to the largest eval_time (recording results
 * and ALERTS stored as they are made), compares the firing alerts at each
 * alert case's time and finally each expression's samples, all
 * order-insensitively. Output follows promtool's wording. */
#ifndef VIGIL_RULETEST_H
#define VIGIL_RULETEST_H

#include <stdio.h>

/* Test cases (alert_rule_test and promql_expr_test entries) by outcome. A
 * test file that cannot be run at all (unreadable, malformed, rule files
 * that do not load) counts as one failed case. Cases that need native
 * histograms are skipped and listed by name. */
struct ruletest_counts {
    unsigned passed, failed, skipped;
};

/* Runs the test file at path. Writes "Unit Testing:  PATH", the skipped
 * cases and "  SUCCESS" to out; "  FAILED:" and each failure (promtool's
 * text) to errout, flushing out first so that both read in order when
 * they are one stream. Adds to *counts.
 * @return 0 if no case failed, 1 otherwise. */
int ruletest_run_file(const char *path, FILE *out, FILE *errout,
                      struct ruletest_counts *counts /* IN/OUT */);

#endif
