/* test_series_notation.c — table-driven tests of Prometheus' series
 * notation (selectors naming one series, expanding values) and of loading
 * such series into the scratch store. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "promql_eval.h"
#include "series_notation.h"

/* Renders expanded values as "1 2 _ stale" ('_' absent). */
static void render_values(const struct series_value *v, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && len < cap; i++) {
        const char *sep = i ? " " : "";
        if (!v[i].present)
            len += (size_t)snprintf(out + len, cap - len, "%s_", sep);
        else if (tsdb_is_stale(v[i].v))
            len += (size_t)snprintf(out + len, cap - len, "%sstale", sep);
        else
            len += (size_t)snprintf(out + len, cap - len, "%s%g", sep, v[i].v);
    }
}

static const struct {
    const char *in, *want;
    int native;
} values_ok[] = {
    {"1", "1", 0},
    {"  1  2 ", "1 2", 0},
    {"1+1x3", "1 2 3 4", 0},
    {"-2+4x3", "-2 2 6 10", 0},
    {"1-2x4", "1 -1 -3 -5 -7", 0},
    {"1x2", "1 1 1", 0},
    {"1e3+1e2x1", "1000 1100", 0},
    {"_ _x2 3", "_ _ _ 3", 0},
    {"0 stale 1", "0 stale 1", 0},
    {"Inf -Inf", "inf -inf", 0},
    {"{{schema:1 sum:3 count:2 buckets:[2]}} 5", "_ 5", 1},
    {"{{sum:3 count:2}}x2", "_ _ _", 1},
    {"{{sum:3 count:2}}+{{sum:1 count:1}}x1", "_ _", 1},
    {"", "", 0},
};

static const struct {
    const char *in, *err;
} values_bad[] = {
    {"1 x", "col 3: bad value \"x\""},
    {"1+x3", "col 1: bad value \"1+x3\""},
    {"1+1x", "col 1: bad value \"1+1x\""},
    {"1 2 abc", "col 5: bad value \"abc\""},
    {"{{sum:3", "col 1: bad value \"{{sum:3\""},
    {"1x-2", "col 1: bad value \"1x-2\""},
    {"0 1+1x99999999999", "col 3: more than 16777216 points at \"1+1x99999999999\""},
    {"_x16777216 1", "col 12: more than 16777216 points at \"1\""},
    {"{{sum:1}}x9223372036854775807", "col 1: more than 16777216 points at \"{{sum:1}}x9223372036854775807\""},
};

static void test_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(values_ok) / sizeof(values_ok[0]); i++) {
        struct series_value *v = NULL;
        size_t n = 99;
        int native = -1;
        char err[128] = "", got[256];
        int rc = series_values_expand(values_ok[i].in, &v, &n, &native, err, sizeof(err));
        if (rc != 0)
            fail_msg("%s: %s", values_ok[i].in, err);
        render_values(v, n, got, sizeof(got));
        if (strcmp(got, values_ok[i].want) || native != values_ok[i].native)
            fail_msg("%s: got \"%s\" native %d, want \"%s\" native %d", values_ok[i].in, got,
                     native, values_ok[i].want, values_ok[i].native);
        free(v);
    }
    for (size_t i = 0; i < sizeof(values_bad) / sizeof(values_bad[0]); i++) {
        struct series_value *v = NULL;
        size_t n;
        int native;
        char err[128] = "";
        int rc = series_values_expand(values_bad[i].in, &v, &n, &native, err, sizeof(err));
        if (rc != -EINVAL || strcmp(err, values_bad[i].err))
            fail_msg("%s: rc %d err \"%s\", want \"%s\"", values_bad[i].in, rc, err,
                     values_bad[i].err);
    }
}

static const struct {
    const char *in, *want; /* want NULL: an error containing err */
    const char *err;
} labels_cases[] = {
    {"up", "__name__=up", NULL},
    {"up{job=\"api\", instance='x:1'}", "__name__=up instance=x:1 job=api", NULL},
    {"{b=\"2\",a=\"1\"}", "a=1 b=2", NULL},
    {"{}", "", NULL},
    {"  ", "", NULL},
    {"up{job=\"a\"", NULL, "col 11: bad series selector up{job=\"a\": "},
    {"up{job=~\"a.*\"}", NULL, "col 1: bad series selector up{job=~\"a.*\"}: a series is named with = only"},
    {"rate(up[5m])", NULL, "col 1: bad series selector rate(up[5m]): not a series selector"},
};

static void test_labels(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(labels_cases) / sizeof(labels_cases[0]); i++) {
        struct tsdb_labels ls;
        char err[256] = "", got[256] = "";
        const char *in = labels_cases[i].in;
        int rc = series_labels_parse(in, strlen(in), &ls, err, sizeof(err));
        if (!labels_cases[i].want) {
            if (rc != -EINVAL || strncmp(err, labels_cases[i].err, strlen(labels_cases[i].err)))
                fail_msg("%s: rc %d err \"%s\", want \"%s...\"", in, rc, err, labels_cases[i].err);
            continue;
        }
        if (rc != 0)
            fail_msg("%s: %s", in, err);
        size_t len = 0;
        for (size_t j = 0; j < ls.len; j++)
            len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s=%s", j ? " " : "",
                                    ls.v[j].name, ls.v[j].value);
        if (strcmp(got, labels_cases[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", in, got, labels_cases[i].want);
        series_labels_free(&ls);
    }
    assert_int_equal(series_selector_len("up{a=\"}\"} 1 2"), 9);
    assert_int_equal(series_selector_len("up 1 2"), 2);
}

/* Loaded series answer queries at i * step; native ones are remembered so
 * that queries reading them can be skipped. */
static void test_store(void **state)
{
    (void)state;
    struct series_store s;
    assert_int_equal(series_store_open(&s), 0);
    const struct tsdb_label l[] = {{"__name__", "up"}, {"job", "api"}};
    const struct tsdb_labels ls = {2, l};
    const struct series_value v[] = {{1, 1}, {0, 0}, {3, 1}};
    assert_int_equal(series_store_load(&s, &ls, v, 3, 0, 60000), 0);
    const struct tsdb_label h[] = {{"__name__", "lat"}};
    const struct tsdb_labels hs = {1, h};
    assert_int_equal(series_store_load(&s, &hs, v, 0, 1, 60000), 0);

    struct tsdb_snapshot *snap;
    struct promql_result *r;
    struct promql_eval_error err;
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    assert_int_equal(tsdb_snapshot_open(s.db, &snap), 0);
    assert_int_equal(promql_eval_instant(snap, "timestamp(up)", 90000, &o, &r, &err), 0);
    assert_int_equal(r->nseries, 1);
    assert_true(r->series[0].points[0].v == 0); /* the 1m point is absent */
    promql_result_free(r);
    assert_int_equal(promql_eval_instant(snap, "up", 120000, &o, &r, &err), 0);
    assert_true(r->series[0].points[0].v == 3);
    promql_result_free(r);
    tsdb_snapshot_close(snap);

    struct promql_expr *e;
    struct promql_error perr;
    assert_int_equal(promql_parse("sum(rate(lat[5m])) + up", &e, &perr), 0);
    assert_int_equal(series_store_reads_native(&s, e->root), 1);
    promql_expr_free(e);
    assert_int_equal(promql_parse("up", &e, &perr), 0);
    assert_int_equal(series_store_reads_native(&s, e->root), 0);
    promql_expr_free(e);
    series_store_close(&s);
    series_store_close(&s); /* safe twice */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
