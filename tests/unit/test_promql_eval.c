/* test_promql_eval.c — the PromQL evaluator over a small fixed data set: a
 * table of instant queries with their expected results for each function
 * family, staleness and lookback edges, offset and @, range queries, and
 * the error classes (bad data, execution, too many samples). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "promql_eval.h"
#include "series_notation.h"

/* The data set: samples every 60 s from t=0.
 *   req_total{job="a"}   0 60 120 ... (1/s), 21 points up to 20m
 *   req_total{job="b"}   0 120 240 ... (2/s), 21 points
 *   gauge{job="a"}       5 at 0..4m, stale at 5m, 7 at 10m
 *   temp{room="x"}       -1.5 at 0
 *   lat_bucket{le=...}   0.1: 10, 0.5: 30, +Inf: 40 at 0
 */
struct fixture {
    struct series_store st;
    struct tsdb_snapshot *snap;
};

static void add(struct tsdb *db, const char *name, const char *k, const char *v, int64_t t,
                double val)
{
    struct tsdb_label l[2] = {{"__name__", name}, {k, v}};
    struct tsdb_labels ls = {2, l};
    tsdb_ref ref;
    assert_int_equal(tsdb_series_ref(db, &ls, &ref), 0);
    assert_int_equal(tsdb_append(db, ref, t, val), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(series_store_open(&f->st), 0);
    for (int i = 0; i <= 20; i++) {
        add(f->st.db, "req_total", "job", "a", i * 60000, i * 60.0);
        add(f->st.db, "req_total", "job", "b", i * 60000, i * 120.0);
    }
    for (int i = 0; i < 5; i++)
        add(f->st.db, "gauge", "job", "a", i * 60000, 5);
    add(f->st.db, "gauge", "job", "a", 5 * 60000, tsdb_stale_nan());
    add(f->st.db, "gauge", "job", "a", 10 * 60000, 7);
    add(f->st.db, "temp", "room", "x", 0, -1.5);
    add(f->st.db, "lat_bucket", "le", "0.1", 0, 10);
    add(f->st.db, "lat_bucket", "le", "0.5", 0, 30);
    add(f->st.db, "lat_bucket", "le", "+Inf", 0, 40);
    assert_int_equal(tsdb_commit(f->st.db), 0);
    assert_int_equal(tsdb_snapshot_open(f->st.db, &f->snap), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tsdb_snapshot_close(f->snap);
    series_store_close(&f->st);
    free(f);
    return 0;
}

/* Renders a result as "{labels} value; ..." (vectors sorted by labels
 * unless keep_order) or "scalar value". */
static void render(const struct promql_result *r, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    if (r->type == PROMQL_TYPE_SCALAR) {
        snprintf(buf, cap, "scalar %g", r->v);
        return;
    }
    for (size_t i = 0; i < r->nseries; i++) {
        const struct promql_series *s = &r->series[i];
        n += (size_t)snprintf(buf + n, cap - n, "%s{", i ? "; " : "");
        for (size_t j = 0; j < s->labels.len; j++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", j ? "," : "", s->labels.v[j].name,
                                  s->labels.v[j].value);
        n += (size_t)snprintf(buf + n, cap - n, "}");
        for (size_t j = 0; j < s->npoints; j++)
            n += (size_t)snprintf(buf + n, cap - n, " %g", s->points[j].v);
    }
}

static const struct {
    const char *query;
    int64_t t_ms;
    const char *want;
} cases[] = {
    /* selectors, staleness, lookback */
    {"req_total", 600000, "{__name__=req_total,job=a} 600; {__name__=req_total,job=b} 1200"},
    {"gauge", 240000, "{__name__=gauge,job=a} 5"},
    {"gauge", 300000, ""},                    /* stale marker: no value */
    {"gauge", 540000, ""},                    /* still stale */
    {"gauge", 600000, "{__name__=gauge,job=a} 7"},
    {"temp", 299999, "{__name__=temp,room=x} -1.5"},
    {"temp", 300000, ""},                     /* lookback is (t-5m, t] */
    {"req_total{job=\"a\"} offset 5m", 600000, "{__name__=req_total,job=a} 300"},
    {"req_total{job=\"a\"} @ 120", 600000, "{__name__=req_total,job=a} 120"},
    {"req_total{job=\"a\"} @ end()", 600000, "{__name__=req_total,job=a} 600"},
    /* range functions */
    {"rate(req_total[5m])", 600000, "{job=a} 1; {job=b} 2"},
    {"increase(req_total{job=\"a\"}[5m])", 600000, "{job=a} 300"},
    {"irate(req_total{job=\"b\"}[5m])", 600000, "{job=b} 2"},
    {"delta(req_total{job=\"a\"}[2m])", 600000, "{job=a} 120"},
    {"deriv(req_total{job=\"a\"}[10m])", 600000, "{job=a} 1"},
    {"predict_linear(req_total{job=\"a\"}[10m], 60)", 600000, "{job=a} 660"},
    {"count_over_time(req_total{job=\"a\"}[5m])", 600000, "{job=a} 5"},
    {"avg_over_time(req_total{job=\"a\"}[3m])", 600000, "{job=a} 540"},
    {"last_over_time(req_total{job=\"a\"}[3m])", 600000, "{__name__=req_total,job=a} 600"},
    {"changes(gauge[20m])", 600000, "{job=a} 1"},
    {"resets(req_total[20m])", 600000, "{job=a} 0; {job=b} 0"},
    /* subqueries */
    {"max_over_time(rate(req_total{job=\"a\"}[2m])[5m:1m])", 600000, "{job=a} 1"},
    {"count_over_time(req_total{job=\"a\"}[5m:1m])", 600000, "{job=a} 5"},
    /* aggregations */
    {"sum(req_total)", 600000, "{} 1800"},
    {"sum by (job) (req_total)", 600000, "{job=a} 600; {job=b} 1200"},
    {"avg without (job) (req_total)", 600000, "{} 900"},
    {"count(req_total)", 600000, "{} 2"},
    {"max(req_total)", 600000, "{} 1200"},
    {"stddev(req_total)", 600000, "{} 300"},
    {"topk(1, req_total)", 600000, "{__name__=req_total,job=b} 1200"},
    {"quantile(0.5, req_total)", 600000, "{} 900"},
    {"count_values(\"v\", temp)", 0, "{v=-1.5} 1"},
    /* operators and matching */
    {"req_total{job=\"a\"} * 2", 60000, "{job=a} 120"},
    {"req_total > 700", 600000, "{__name__=req_total,job=b} 1200"},
    {"req_total > bool 700", 600000, "{job=a} 0; {job=b} 1"},
    {"req_total{job=\"b\"} / on() req_total{job=\"a\"}", 600000, "{} 2"},
    {"req_total unless req_total{job=\"a\"}", 600000, "{__name__=req_total,job=b} 1200"},
    {"2 ^ 3 ^ 2", 0, "scalar 512"},
    /* histogram_quantile over classic buckets */
    {"histogram_quantile(0.5, lat_bucket)", 0, "{} 0.3"},
    {"histogram_quantile(0.9, lat_bucket)", 0, "{} 0.5"},
    /* labels, math, misc */
    {"label_replace(temp, \"r\", \"room-$1\", \"room\", \"(.*)\")", 0,
     "{__name__=temp,r=room-x,room=x} -1.5"},
    {"label_join(temp, \"j\", \"-\", \"room\", \"room\")", 0, "{__name__=temp,j=x-x,room=x} -1.5"},
    {"abs(temp)", 0, "{room=x} 1.5"},
    {"clamp(temp, 0, 1)", 0, "{room=x} 0"},
    {"round(temp)", 0, "{room=x} -1"},
    {"absent(nope{job=\"z\"})", 0, "{job=z} 1"},
    {"absent(temp)", 0, ""},
    {"vector(3)", 0, "{} 3"},
    {"scalar(temp)", 0, "scalar -1.5"},
    {"timestamp(gauge)", 250000, "{job=a} 240"},
    {"time()", 90000, "scalar 90"},
    {"year(vector(0))", 0, "{} 1970"},
    {"sort_desc(req_total)", 600000, "{__name__=req_total,job=b} 1200; {__name__=req_total,job=a} 600"},
};

static void test_instant_table(void **state)
{
    struct fixture *f = *state;
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct promql_result *r;
        struct promql_eval_error err;
        if (promql_eval_instant(f->snap, cases[i].query, cases[i].t_ms, &o, &r, &err) != 0)
            fail_msg("%s: %s", cases[i].query, err.msg);
        char got[1024];
        render(r, got, sizeof(got));
        if (strcmp(got, cases[i].want))
            fail_msg("%s @%lld:\n  want [%s]\n  got  [%s]", cases[i].query,
                     (long long)cases[i].t_ms, cases[i].want, got);
        promql_result_free(r);
    }
}

static void test_range_query(void **state)
{
    struct fixture *f = *state;
    struct promql_result *r;
    struct promql_eval_error err;
    assert_int_equal(promql_eval_range(f->snap, "gauge", 0, 600000, 120000, NULL, &r, &err), 0);
    char got[512];
    render(r, got, sizeof(got));
    /* 0 2m 4m: 5; 6m 8m: stale; 10m: 7 */
    assert_string_equal(got, "{__name__=gauge,job=a} 5 5 5 7");
    assert_int_equal(r->series[0].points[3].t, 600000);
    promql_result_free(r);

    assert_int_equal(promql_eval_range(f->snap, "sort(temp)", 0, 60000, 60000, NULL, &r, &err), 0);
    assert_int_equal(r->nwarnings, 1);
    assert_non_null(strstr(r->warnings[0], "sort is ineffective for range queries"));
    promql_result_free(r);
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    assert_int_equal(promql_eval_instant(f->snap, "sum(", 0, NULL, &r, &err), -1);
    assert_int_equal(err.kind, PROMQL_ERR_BAD_DATA);
    assert_string_equal(promql_errkind_name(err.kind), "bad_data");

    assert_int_equal(promql_eval_instant(f->snap, "req_total + on() req_total", 0, NULL, &r, &err),
                     -1);
    assert_int_equal(err.kind, PROMQL_ERR_EXECUTION);
    assert_non_null(strstr(err.msg, "many-to-many matching not allowed"));

    assert_int_equal(promql_eval_instant(f->snap, "label_replace(req_total, \"job\", \"x\", \"job\", \".*\")",
                                         0, NULL, &r, &err),
                     -1);
    assert_string_equal(err.msg, "vector cannot contain metrics with the same labelset");

    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    o.max_samples = 3;
    assert_int_equal(promql_eval_instant(f->snap, "req_total[10m]", 600000, &o, &r, &err), -1);
    assert_int_equal(err.kind, PROMQL_ERR_TOO_MANY_SAMPLES);
    assert_string_equal(err.msg,
                        "query processing would load too many samples into memory in query execution");

    assert_int_equal(promql_eval_range(f->snap, "req_total", 0, 60000, 0, NULL, &r, &err), -1);
    assert_int_equal(err.kind, PROMQL_ERR_BAD_DATA);
    assert_null(r);
}

/* A larger data set for the limits: big{job="j0".."j99"} every 15 s for
 * 4 h (100 series, 96,000 samples), counters rising by 1 per sample. */
#define BIG_SERIES 100
#define BIG_SAMPLES 960
#define BIG_STEP_MS 15000

static int setup_big(void **state)
{
    setup(state);
    struct fixture *f = *state;
    tsdb_snapshot_close(f->snap);
    for (int s = 0; s < BIG_SERIES; s++) {
        char job[8];
        snprintf(job, sizeof(job), "j%d", s);
        for (int i = 0; i < BIG_SAMPLES; i++)
            add(f->st.db, "big", "job", job, (int64_t)i * BIG_STEP_MS, i + s);
    }
    assert_int_equal(tsdb_commit(f->st.db), 0);
    assert_int_equal(tsdb_snapshot_open(f->st.db, &f->snap), 0);
    return 0;
}

static const int64_t big_end = (int64_t)(BIG_SAMPLES - 1) * BIG_STEP_MS;

/* max_samples bounds what a query holds at once: an hour-long window of
 * 100 series (24,000 samples) does not fit in 10,000 but fits in 30,000. */
static void test_max_samples(void **state)
{
    struct fixture *f = *state;
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    const char *q = "sum(count_over_time(big[1h]))";
    o.max_samples = 10000;
    assert_int_equal(promql_eval_instant(f->snap, q, big_end, &o, &r, &err), -1);
    assert_int_equal(err.kind, PROMQL_ERR_TOO_MANY_SAMPLES);
    assert_string_equal(promql_errkind_name(err.kind), "execution");
    assert_string_equal(err.msg,
                        "query processing would load too many samples into memory in query execution");
    assert_null(r);
    o.max_samples = 30000;
    assert_int_equal(promql_eval_instant(f->snap, q, big_end, &o, &r, &err), 0);
    assert_int_equal(r->nseries, 1);
    assert_true(r->series[0].points[0].v == 24000);
    promql_result_free(r);

    /* a range query's output is held too, as in Prometheus */
    o.max_samples = 500;
    assert_int_equal(promql_eval_range(f->snap, "big", 0, big_end, 60000, &o, &r, &err), -1);
    assert_int_equal(err.kind, PROMQL_ERR_TOO_MANY_SAMPLES);
}

/* Range queries slide each series' window over an iterator: a query over
 * all 96,000 samples runs within a few thousand held samples, while the
 * same selectors under a subquery (loaded whole) do not. */
static void test_streaming_holds_only_windows(void **state)
{
    struct fixture *f = *state;
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    o.max_samples = 3000; /* windows: 100 series x 20 points of 5 m */
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    int64_t step = 15 * 60000;
    if (promql_eval_range(f->snap, "sum(rate(big[5m]))", 0, big_end, step, &o, &r, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(r->nseries, 1);
    assert_int_equal(r->series[0].npoints, big_end / step); /* all but t=0 */
    assert_true(fabs(r->series[0].points[0].v - BIG_SERIES / 15.0) < 1e-9);
    promql_result_free(r);

    o.max_samples = 300; /* vector selectors keep one point per series */
    if (promql_eval_range(f->snap, "count(big)", 0, big_end, step, &o, &r, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(r->nseries, 1);
    assert_int_equal(r->series[0].npoints, big_end / step + 1);
    for (size_t i = 0; i < r->series[0].npoints; i++)
        assert_true(r->series[0].points[i].v == BIG_SERIES);
    promql_result_free(r);

    o.max_samples = 3000;
    assert_int_equal(promql_eval_range(f->snap, "max_over_time(sum(rate(big[5m]))[1h:15m])", 0,
                                       big_end, step, &o, &r, &err),
                     -1);
    assert_int_equal(err.kind, PROMQL_ERR_TOO_MANY_SAMPLES);
}

/* The timeout interrupts a query that runs long; Prometheus' wording. */
static void test_timeout(void **state)
{
    struct fixture *f = *state;
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    o.timeout_ms = 1;
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    assert_int_equal(promql_eval_range(f->snap, "quantile_over_time(0.5, big[1h])", 0, big_end,
                                       BIG_STEP_MS, &o, &r, &err),
                     -1);
    assert_int_equal(err.kind, PROMQL_ERR_TIMEOUT);
    assert_string_equal(promql_errkind_name(err.kind), "timeout");
    assert_string_equal(err.msg, "query timed out in expression evaluation");
    assert_null(r);
    o.timeout_ms = 60000;
    assert_int_equal(promql_eval_range(f->snap, "quantile_over_time(0.5, big[1h])", 0, big_end,
                                       4 * 3600000, &o, &r, &err),
                     0);
    assert_int_equal(r->nseries, BIG_SERIES);
    promql_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_instant_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_samples, setup_big, teardown),
        cmocka_unit_test_setup_teardown(test_streaming_holds_only_windows, setup_big, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup_big, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
