/* promql_eval.h — the PromQL evaluator: instant and range queries over a
 * store snapshot, with Prometheus' semantics (5 m lookback, staleness,
 * offsets, @, subqueries, aggregations, vector matching, the function
 * library). Used by tsq, the agent's HTTP API, the rule engine and the
 * conformance runner (bin/promqltest). */
#ifndef VIGIL_PROMQL_EVAL_H
#define VIGIL_PROMQL_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "promql.h"
#include "tsdb.h"

struct promql_engine_opts {
    int64_t lookback_ms;     /* 5m: how far back an instant selector looks */
    uint64_t max_samples;    /* 50,000,000: samples a query may hold at once */
    int64_t timeout_ms;      /* 2m: wall-clock limit of one query; 0 = none */
    int64_t subquery_step_ms;/* 1m: the step of a subquery written without
                                one (`x[5m:]`); vigild passes
                                global.evaluation_interval, as Prometheus */
};
void promql_engine_opts_default(struct promql_engine_opts *o /* OUT */);

/* What failed, in the classes Prometheus' HTTP API reports
 * ("errorType"): bad_data (parse or argument errors), execution, timeout,
 * canceled, too_many_samples (reported by Prometheus as execution). */
enum promql_errkind {
    PROMQL_ERR_NONE,
    PROMQL_ERR_BAD_DATA,
    PROMQL_ERR_EXECUTION,
    PROMQL_ERR_TIMEOUT,
    PROMQL_ERR_TOO_MANY_SAMPLES,
};
struct promql_eval_error {
    enum promql_errkind kind;
    char msg[512];           /* Prometheus' wording where practical */
};
/* "bad_data", "execution", "timeout" as Prometheus' API spells them. */
const char *promql_errkind_name(enum promql_errkind k);

struct promql_point {
    int64_t t;               /* ms */
    double v;
};

/* One series of a result: labels sorted by name, owned by the result. */
struct promql_series {
    struct tsdb_labels labels;
    struct promql_point *points; /* vector: exactly one; matrix: ascending */
    size_t npoints;
};

/* A query result. For an instant query: SCALAR (t, v), STRING (t, str),
 * VECTOR (series with one point each) or MATRIX (a range selector at the
 * top). For a range query always MATRIX, one point per step where the
 * series had a value. Series are in the order Prometheus returns them
 * (sorted by labels unless sort()/topk()... decided the order). */
struct promql_result {
    enum promql_type type;
    int64_t t;
    double v;
    char *str;
    struct promql_series *series;
    size_t nseries;
    /* Annotations, Prometheus' wording: "PromQL warning: ... (1:5)" and
     * "PromQL info: ... (1:5)". */
    char **warnings;
    size_t nwarnings;
    char **infos;
    size_t ninfos;
};
void promql_result_free(struct promql_result *r);

/* Evaluates query at time t (ms) against snap. @return 0 and *out, or -1
 * with *err filled (parse errors are PROMQL_ERR_BAD_DATA). */
int promql_eval_instant(struct tsdb_snapshot *snap, const char *query, int64_t t,
                        const struct promql_engine_opts *o, struct promql_result **out /* OUT */,
                        struct promql_eval_error *err /* OUT */);

/* Evaluates the already parsed e (read only: one tree may be evaluated
 * again and again, by one thread at a time: its regex matchers hold match
 * data) at time t, like promql_eval_instant. The
 * rule engine parses each rule once and uses this. */
int promql_eval_expr_instant(struct tsdb_snapshot *snap, const struct promql_expr *e, int64_t t,
                             const struct promql_engine_opts *o,
                             struct promql_result **out /* OUT */,
                             struct promql_eval_error *err /* OUT */);

/* Evaluates query at start, start+step, ... <= end (ms). */
int promql_eval_range(struct tsdb_snapshot *snap, const char *query, int64_t start, int64_t end,
                      int64_t step, const struct promql_engine_opts *o,
                      struct promql_result **out /* OUT */, struct promql_eval_error *err /* OUT */);

#endif
