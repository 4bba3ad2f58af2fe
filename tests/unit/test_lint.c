/* test_lint.c — table-driven tests of the promlint rules behind
 * `tsq check metrics`: each exposition is parsed (strict) and linted, and
 * the problems, sorted, must be exactly the expected "metric: text" lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "expfmt.h"
#include "lint.h"

#define OM EXPFMT_OPENMETRICS
#define PROM EXPFMT_PROMETHEUS

static void append(const char *metric, const char *text, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 2048 - n, "%s: %s\n", metric, text);
}

static int feed(const struct expfmt_entry *e, void *arg)
{
    return lint_entry(arg, e);
}

static int lint_text(enum expfmt_flavor f, const char *text, char *out)
{
    struct expfmt_options o;
    struct expfmt_parser p;
    struct lint *l;
    int rc;

    out[0] = '\0';
    expfmt_options_default(&o, f);
    o.strict = 1;
    expfmt_parser_init(&p, &o);
    assert_int_equal(lint_new(f, &l), 0);
    rc = expfmt_parse_buffer(&p, text, strlen(text), feed, l);
    if (rc == 0)
        rc = lint_report(l, append, out);
    else
        snprintf(out, 2048, "parse error %u:%u %s", p.err.line, p.err.col, p.err.msg);
    lint_free(l);
    expfmt_parser_free(&p);
    return rc;
}

#define H(n) "# HELP " n " x\n"

static const struct {
    enum expfmt_flavor f;
    const char *in, *want;
} cases[] = {
    {PROM, H("a_total") "# TYPE a_total counter\na_total 1\n", ""},
    {PROM, "a 1\n", "a: no help text\n"},
    {PROM, "# HELP a\na 1\n", ""},
    {PROM, H("a") "# TYPE a counter\na 1\n", "a: counter metrics should have \"_total\" suffix\n"},
    {PROM, H("a_total") "# TYPE a_total gauge\na_total 1\n",
     "a_total: non-counter metrics should not have \"_total\" suffix\n"},
    {PROM, H("a_total") "a_total 1\n", ""},
    {PROM, H("d_milliseconds") "d_milliseconds 1\n",
     "d_milliseconds: use base unit \"seconds\" instead of \"milliseconds\"\n"},
    {PROM, H("d_kilobytes_total") "# TYPE d_kilobytes_total counter\nd_kilobytes_total 1\n",
     "d_kilobytes_total: use base unit \"bytes\" instead of \"kilobytes\"\n"},
    {PROM, H("t_thermometers") "t_thermometers 1\n", ""},
    {PROM, H("t_fahrenheit") "t_fahrenheit 1\n",
     "t_fahrenheit: use base unit \"celsius\" instead of \"fahrenheit\"\n"},
    {PROM, H("x_bucket") "# TYPE x_bucket gauge\nx_bucket 1\n",
     "x_bucket: non-histogram metrics should not have \"_bucket\" suffix\n"},
    {PROM, H("x_count") "# TYPE x_count gauge\nx_count 1\n",
     "x_count: non-histogram and non-summary metrics should not have \"_count\" suffix\n"},
    {PROM, H("x_sum") "# TYPE x_sum gauge\nx_sum 1\n",
     "x_sum: non-histogram and non-summary metrics should not have \"_sum\" suffix\n"},
    {PROM, H("x_count") "x_count 1\n", ""},
    {PROM, H("x") "# TYPE x gauge\nx{le=\"1\",quantile=\"2\"} 1\n",
     "x: non-histogram metrics should not have \"le\" label\n"
     "x: non-summary metrics should not have \"quantile\" label\n"},
    {PROM, H("h") "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", ""},
    {PROM, H("s") "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n", ""},
    {PROM, H("x_counter_total") "# TYPE x_counter_total counter\nx_counter_total 1\n",
     "x_counter_total: metric name should not include type 'counter'\n"},
    {PROM, H("x_gauge") "x_gauge 1\n", "x_gauge: metric name should not include type 'gauge'\n"},
    {PROM, H("x_gaugeish") "x_gaugeish 1\n", ""},
    {PROM, H("a:b") "a:b 1\n", "a:b: metric names should not contain ':'\n"},
    {PROM, H("reqCount") "reqCount{httpCode=\"1\"} 1\nreqCount{httpCode=\"2\"} 1\n",
     "reqCount: label names should be written in 'snake_case' not 'camelCase'\n"
     "reqCount: metric names should be written in 'snake_case' not 'camelCase'\n"},
    {PROM, H("Abc") "Abc 1\n", ""},
    {PROM, H("lat_ms") "lat_ms 1\n", "lat_ms: metric names should not contain abbreviated units\n"},
    {PROM, H("lat_s_sec") "lat_s_sec 1\n",
     "lat_s_sec: metric names should not contain abbreviated units\n"},
    {PROM, H("mss_total") "mss_total 1\n", ""},
    {PROM, "b 1\na 1\n# HELP b x\n", "a: no help text\n"},
    {PROM, "z_milliseconds 1\na 1\n",
     "a: no help text\nz_milliseconds: no help text\n"
     "z_milliseconds: use base unit \"seconds\" instead of \"milliseconds\"\n"},
    /* OpenMetrics: counters are named without _total, which is fine */
    {OM, "# TYPE c counter\n# HELP c x\nc_total 1\n# EOF\n", ""},
    {OM, "# TYPE c counter\nc_total 1\n# EOF\n", "c: no help text\n"},
    {OM, "# TYPE i info\n# HELP i x\ni_info 1\n# EOF\n", ""},
    {OM, "# TYPE g gaugehistogram\n# HELP g x\ng_bucket{le=\"+Inf\"} 1\n# EOF\n", ""},
    {OM, "# TYPE g gauge\n# HELP g x\n# UNIT g \ng{le=\"1\"} 1\n# EOF\n",
     "g: non-histogram metrics should not have \"le\" label\n"},
};

static void test_rules(void **state)
{
    (void)state;
    char out[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = lint_text(cases[i].f, cases[i].in, out);
        if (rc < 0 || strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: rc %d got\n%s\nwant\n%s", i, rc, out, cases[i].want);
    }
}

/* Problems are counted once each; an empty exposition has none. */
static void test_count(void **state)
{
    (void)state;
    char out[2048];
    assert_int_equal(lint_text(PROM, "", out), 0);
    assert_int_equal(lint_text(PROM, "fooBar_ms 1\nfooBar_ms{a=\"b\"} 2\n", out), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
