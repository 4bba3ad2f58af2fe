/* test_expfmt.c — table-driven tests of the OpenMetrics / Prometheus text
 * parser: each valid input is rendered back to a canonical string, each
 * invalid one must fail at the given line:column with a telling message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "expfmt.h"

#define OM EXPFMT_OPENMETRICS
#define PROM EXPFMT_PROMETHEUS
#define STRICT 2 /* Prometheus text with the strict option */

/* Renders an entry as e.g. S a{b="c"} 1.5 @1700000000123 ex. */
static void render(const struct expfmt_entry *e, char *out, size_t cap)
{
    size_t n = strlen(out);
    if (n)
        n += (size_t)snprintf(out + n, cap - n, "|");
    switch (e->kind) {
    case EXPFMT_NONE:
        return;
    case EXPFMT_HELP:
    case EXPFMT_TYPE:
    case EXPFMT_UNIT:
        n += (size_t)snprintf(out + n, cap - n, "%s %s ",
                              e->kind == EXPFMT_HELP   ? "HELP"
                              : e->kind == EXPFMT_TYPE ? "TYPE"
                                                       : "UNIT",
                              e->name);
        for (const char *t = e->text; *t; t++)
            n += (size_t)snprintf(out + n, cap - n, *t == '\n' ? "\\n" : "%c", *t);
        return;
    case EXPFMT_EOF:
        snprintf(out + n, cap - n, "EOF");
        return;
    case EXPFMT_SAMPLE:
        break;
    }
    assert_string_equal(e->labels.v[0].name, "__name__");
    n += (size_t)snprintf(out + n, cap - n, "S %s", e->labels.v[0].value);
    for (size_t i = 1; i < e->labels.len; i++) {
        n += (size_t)snprintf(out + n, cap - n, "%s%s=\"", i == 1 ? "{" : ",",
                              e->labels.v[i].name);
        for (const char *t = e->labels.v[i].value; *t; t++)
            n += (size_t)snprintf(out + n, cap - n, *t == '\n' ? "\\n" : "%c", *t);
        n += (size_t)snprintf(out + n, cap - n, "\"%s", i + 1 == e->labels.len ? "}" : "");
    }
    n += (size_t)snprintf(out + n, cap - n, " %.17g", e->value);
    if (e->has_ts)
        n += (size_t)snprintf(out + n, cap - n, " @%lld", (long long)e->ts_ms);
    if (e->has_exemplar)
        snprintf(out + n, cap - n, " ex");
}

/* Feeds text line by line. @return 0 with the rendering in out, or the error
 * formatted as "line:col msg" in out. */
static int run(int f, const char *text, char *out, size_t cap)
{
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;
    int rc = 0;

    expfmt_options_default(&o, f == OM ? OM : PROM);
    o.strict = f == STRICT;
    expfmt_parser_init(&p, &o);
    out[0] = '\0';
    const char *s = text;
    while (*s && rc == 0) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        rc = expfmt_parse_line(&p, s, len, &e);
        if (rc == 0)
            render(&e, out, cap);
        s += len + (nl != NULL);
    }
    if (rc == 0)
        rc = expfmt_finish(&p);
    if (rc < 0)
        snprintf(out, cap, "%u:%u %s", p.err.line, p.err.col, p.err.msg);
    expfmt_parser_free(&p);
    return rc;
}

static const struct {
    int f;
    const char *in, *want;
} valid[] = {
    {OM, "a 1\n# EOF\n", "S a 1|EOF"},
    {OM, "a 1\n# EOF", "S a 1|EOF"},
    {OM, "a{b=\"c\"} 1\n# EOF\n", "S a{b=\"c\"} 1|EOF"},
    {OM, "a{} 1\n# EOF\n", "S a 1|EOF"},
    {OM, "a{b=\"1\",c=\"2\"} 3\n# EOF\n", "S a{b=\"1\",c=\"2\"} 3|EOF"},
    {OM, "a{b=\"x\\\"y\\\\z\\n\"} 1\n# EOF\n", "S a{b=\"x\"y\\z\\n\"} 1|EOF"},
    {OM, "a{b=\"ü €\"} 1\n# EOF\n", "S a{b=\"ü €\"} 1|EOF"},
    {OM, "a:b:c_d 1\n# EOF\n", "S a:b:c_d 1|EOF"},
    {OM, "a NaN\n# EOF\n", "S a nan|EOF"},
    {OM, "a +Inf\nb -Inf\nc inf\nd -infinity\n# EOF\n", "S a inf|S b -inf|S c inf|S d -inf|EOF"},
    {OM, "a 1e3\nb -0.5\nc .5\nd 5.\ne +7E-1\n# EOF\n",
     "S a 1000|S b -0.5|S c 0.5|S d 5|S e 0.69999999999999996|EOF"},
    {OM, "a 1 1700000000.123\n# EOF\n", "S a 1 @1700000000123|EOF"},
    {OM, "a 1 1700000000.0005\n# EOF\n", "S a 1 @1700000000001|EOF"},
    {OM, "a 1 1.5e9\nb 2 -1.5\nc 3 0\n# EOF\n", "S a 1 @1500000000000|S b 2 @-1500|S c 3 @0|EOF"},
    {OM, "# TYPE a_seconds counter\n# HELP a_seconds Some \\\\ help \\\"x\\\" \\n y\n"
         "# UNIT a_seconds seconds\na_seconds_total 1\na_seconds_created 1.7e9\n# EOF\n",
     "TYPE a_seconds counter|HELP a_seconds Some \\ help \"x\" \\n y|UNIT a_seconds seconds|"
     "S a_seconds_total 1|S a_seconds_created 1700000000|EOF"},
    {OM, "# HELP a \n# EOF\n", "HELP a |EOF"},
    {OM, "# TYPE g gauge\ng 3.5 1700000000\n# EOF\n", "TYPE g gauge|S g 3.5 @1700000000000|EOF"},
    {OM,
     "# TYPE foo histogram\nfoo_bucket{le=\"0.01\"} 0 # {trace_id=\"KOO5S4vxi0o\"} 0.67 "
     "1520879607.789\nfoo_bucket{le=\"+Inf\"} 17 1520879607 # {} 1\n# EOF\n",
     "TYPE foo histogram|S foo_bucket{le=\"0.01\"} 0 ex|S foo_bucket{le=\"+Inf\"} 17 "
     "@1520879607000 ex|EOF"},
    {OM, "# TYPE s stateset\ns{s=\"a\"} 1\n# TYPE i info\ni_info{v=\"1\"} 1\n# EOF\n",
     "TYPE s stateset|S s{s=\"a\"} 1|TYPE i info|S i_info{v=\"1\"} 1|EOF"},
    {PROM, "a{b=\"c\",} 1 1700000000123\n", "S a{b=\"c\"} 1 @1700000000123"},
    {PROM, "  a  {b = \"c\" , d=\"e\"}\t 2  \n", "S a{b=\"c\",d=\"e\"} 2"},
    {PROM, "# just a comment\n\n   \n#\na 1\n", "S a 1"},
    {PROM, "# TYPE a untyped\n# HELP a\n# HELP b  two  words\n",
     "TYPE a untyped|HELP a |HELP b two  words"},
    {PROM, "# HELP a back\\\\slash \\q\n", "HELP a back\\slash \\q"},
    {PROM, "a{b=\"\\d\"} 1\n", "S a{b=\"\\d\"} 1"},
    {PROM, "a 1 -5\n", "S a 1 @-5"},
    {PROM, "# UNIT a seconds\na Inf\n", "S a inf"},
    /* OpenMetrics 1.0: every type with its sample names */
    {OM, "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3\n"
         "h_created 1.5\n# EOF\n",
     "TYPE h histogram|S h_bucket{le=\"1\"} 0|S h_bucket{le=\"+Inf\"} 2|S h_count 2|S h_sum 3|"
     "S h_created 1.5|EOF"},
    {OM, "# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 2 # {a=\"b\"} 1 2\ng_gcount 2\ng_gsum 1\n# EOF\n",
     "TYPE g gaugehistogram|S g_bucket{le=\"+Inf\"} 2 ex|S g_gcount 2|S g_gsum 1|EOF"},
    {OM, "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count 2\ns_sum 3\ns_created 4\n# EOF\n",
     "TYPE s summary|S s{quantile=\"0.5\"} 1|S s_count 2|S s_sum 3|S s_created 4|EOF"},
    {OM, "# TYPE s stateset\ns{s=\"a\",x=\"y\"} 0\ns{s=\"b\",x=\"y\"} 1\n# EOF\n",
     "TYPE s stateset|S s{s=\"a\",x=\"y\"} 0|S s{s=\"b\",x=\"y\"} 1|EOF"},
    {OM, "# TYPE u unknown\nu 1\n# TYPE v gauge\n# UNIT v \nv 2\n# EOF\n",
     "TYPE u unknown|S u 1|TYPE v gauge|UNIT v |S v 2|EOF"},
    {OM, "a_total 1\na 2\n# EOF\n", "S a_total 1|S a 2|EOF"},
    {OM, "a NAN\nb +INFINITY\nc -Inf\n# EOF\n", "S a nan|S b inf|S c -inf|EOF"},
    {OM, "# HELP a \\\\\n# EOF\n", "HELP a \\|EOF"},
    /* Prometheus text 0.0.4 */
    {PROM, "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_count 0\nh_sum 0\n",
     "TYPE h histogram|S h_bucket{le=\"1\"} 0|S h_count 0|S h_sum 0"},
    {PROM, "# TYPE s summary\ns{quantile=\"0.9\"} 1\ns_sum 2\ns_count 3\n",
     "TYPE s summary|S s{quantile=\"0.9\"} 1|S s_sum 2|S s_count 3"},
    {PROM, "a 1\n# TYPE a counter\n# TYPE a gauge\nb 2\na 3\n",
     "S a 1|TYPE a counter|TYPE a gauge|S b 2|S a 3"},
    {PROM, "a nan\nb +inf\nc -Inf\n", "S a nan|S b inf|S c -inf"},
    {PROM, "# HELP a x\\\"y\n", "HELP a x\\\"y"},
    {STRICT, "# HELP a one \\\\ two \\n\n# TYPE a counter\na{b=\"\\\"\"} 1\n",
     "HELP a one \\ two \\n|TYPE a counter|S a{b=\"\"\"} 1"},
    {STRICT, "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\nx 1\n# HELP h x\n",
     "TYPE h histogram|S h_bucket{le=\"+Inf\"} 1|S h_sum 1|S h_count 1|S x 1|HELP h x"},
};

static const struct {
    int f;
    const char *in, *want; /* want: "line:col" prefix then a substring */
    const char *sub;
} invalid[] = {
    {OM, "a 1\n", "2:1", "# EOF"},
    {OM, "# EOF\na 1\n", "2:1", "nothing after # EOF"},
    {OM, "a{b=\"c} 1\n# EOF\n", "1:5", "closed by"},
    {OM, "a{b=c} 1\n# EOF\n", "1:5", "open the label value, got \"c} 1\""},
    {OM, "a{b=\"c\" 1\n# EOF\n", "1:8", "',' or '}'"},
    {OM, "a{1b=\"c\"} 1\n# EOF\n", "1:3", "a label name, got \"1b"},
    {OM, "a{b=\"c\",b=\"d\"} 1\n# EOF\n", "1:9", "not used before"},
    {OM, "a{b=\"c\",} 1\n# EOF\n", "1:9", "a label name"},
    {OM, "a{b=\"\\x\"} 1\n# EOF\n", "1:6", "escape sequence"},
    {OM, "a\n# EOF\n", "1:2", "a space before the sample value, got end of line"},
    {OM, "a  1\n# EOF\n", "1:3", "after a single space"},
    {OM, "a abc\n# EOF\n", "1:3", "sample value"},
    {OM, "a 0x10\n# EOF\n", "1:3", "sample value"},
    {OM, "a 1 abc\n# EOF\n", "1:5", "timestamp in seconds"},
    {OM, "a 1 1e400\n# EOF\n", "1:5", "int64"},
    {OM, "a 1 1 2\n# EOF\n", "1:6", "\" # \""},
    {OM, "1a 1\n# EOF\n", "1:1", "a metric name"},
    {OM, "a{b=\"c\"}1\n# EOF\n", "1:9", "space before the sample value"},
    {OM, "a {b=\"c\"} 1\n# EOF\n", "1:3", "sample value"},
    {OM, "# TYPE a foo\n# EOF\n", "1:10", "a type"},
    {OM, "# TYPE a untyped\n# EOF\n", "1:10", "a type"},
    {OM, "# TYPE a counter\n# TYPE a gauge\n# EOF\n", "2:1", "one TYPE line"},
    {OM, "# TYPE a counter\na_total 1\n# HELP a x\n# EOF\n", "3:1", "before its samples"},
    {OM, "# TYPE a counter\na 1\n# EOF\n", "2:1", "a_total"},
    {OM, "# random comment\n# EOF\n", "1:3", "HELP, TYPE, UNIT or EOF"},
    {OM, "#EOF\n", "1:2", "a space after '#'"},
    {OM, "# EOF \n", "1:3", "HELP, TYPE, UNIT or EOF"},
    {OM, "\n# EOF\n", "1:1", "no empty lines"},
    {OM, "# HELP a x\\y\n# EOF\n", "1:11", "escape sequence"},
    {OM, "# HELP\n# EOF\n", "1:7", "a space before the metric family name"},
    {OM, "# TYPE a counter extra\n# EOF\n", "1:17", "end of line after the type"},
    {OM, "a 1 # x\n# EOF\n", "1:7", "'{'"},
    {OM, "a 1 # {a=\"b\"}\n# EOF\n", "1:14", "exemplar value"},
    {OM, "a 1 #{a=\"b\"} 1\n# EOF\n", "1:4", "\" # \""},
    {OM,
     "a 1 # {a=\"123456789012345678901234567890123456789012345678901234567890"
     "12345678901234567890123456789012345678901234567890123456789012345678\"} 1\n# EOF\n",
     "1:7", "at most 128"},
    {OM, "a 1\r\n# EOF\n", "1:4", "carriage return"},
    {OM, "a{b=\"\xff\"} 1\n# EOF\n", "1:5", "UTF-8"},
    {OM, "a{b=\"\xc0\xaf\"} 1\n# EOF\n", "1:5", "UTF-8"},
    {PROM, "a 1 1.5\n", "1:5", "integer milliseconds"},
    {PROM, "a 1 2 3\n", "1:7", "end of line after the sample"},
    {PROM, "# TYPE a gaugehistogram\n", "1:10", "a type"},
    {PROM, "a 1 # {a=\"b\"} 1\n", "1:5", "integer milliseconds"},
    {PROM, "a 1 99999999999999999999\n", "1:5", "int64"},
    {PROM, "x{a=\"b\" c=\"d\"} 1\n", "1:9", "',' or '}'"},
    {PROM, "a{__name__=\"b\"} 1\n", "1:3", "not used before"},
    /* OpenMetrics metadata and type rules */
    {OM, "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n# EOF\n", "5:1", "family a together"},
    {OM, "# TYPE a gauge\na 1\nb 1\n# HELP a x\n# EOF\n", "4:1", "family a together"},
    {OM, "# UNIT a seconds\n# EOF\n", "1:1", "end in _seconds"},
    {OM, "# UNIT a_seconds seconds\n# UNIT a_seconds seconds\n# EOF\n", "2:1", "one UNIT line"},
    {OM, "# HELP a x\n# HELP a y\n# EOF\n", "2:1", "one HELP line"},
    {OM, "# TYPE h histogram\nh 1\n# EOF\n", "2:1", "h_created, h_bucket, h_count or h_sum"},
    {OM, "# TYPE h histogram\nh_bucket 1\n# EOF\n", "2:1", "a le label"},
    {OM, "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n# EOF\n", "2:1", "a number as the le label"},
    {OM, "# TYPE h gaugehistogram\nh_bucket{a=\"b\"} 1\n# EOF\n", "2:1", "a le label"},
    {OM, "# TYPE s summary\ns 1\n# EOF\n", "2:1", "a quantile label"},
    {OM, "# TYPE s stateset\ns{x=\"a\"} 1\n# EOF\n", "2:1", "a label named s"},
    {OM, "# TYPE s stateset\ns{s=\"a\"} 2\n# EOF\n", "2:1", "0 or 1"},
    {OM, "# TYPE i info\ni_info 2\n# EOF\n", "2:1", "info value of 1"},
    {OM, "# TYPE i info\ni 1\n# EOF\n", "2:1", "i_info"},
    {OM, "# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n", "2:1", "no exemplar"},
    {OM, "# TYPE c counter\nc_created 1 # {a=\"b\"} 1\n# EOF\n", "2:1", "no exemplar"},
    {OM, "# TYPE a untyped\n# EOF\n", "1:10", "unknown"},
    {OM, "# EOF\n\n", "2:1", "nothing after # EOF"},
    {OM, "a 1 # {a=\"b\"} 1 1 1\n# EOF\n", "1:18", "end of line after the exemplar"},
    {OM, "a_total 1 # {a=\"b\"} x\n# EOF\n", "1:21", "sample value"},
    /* strict Prometheus text (promtool's parser) */
    {STRICT, "# TYPE a counter\n# TYPE a counter\n", "2:1", "one TYPE line"},
    {STRICT, "# HELP a x\n# HELP a y\n", "2:1", "one HELP line"},
    {STRICT, "a 1\n# TYPE a gauge\n", "2:1", "before its samples"},
    {STRICT, "# TYPE h histogram\nh_bucket 1\n", "2:1", "a le label"},
    {STRICT, "# TYPE s summary\ns{quantile=\"high\"} 1\n", "2:1", "a number as the quantile"},
    {STRICT, "a{b=\"\\d\"} 1\n", "1:6", "escape sequence"},
    {STRICT, "# HELP a x\\\"y\n", "1:11", "\\\\ or \\n"},
    {STRICT, "# TYPE h histogram\nh 1\n", "2:1", "h_bucket, h_count or h_sum"},
};

static void test_valid(void **state)
{
    (void)state;
    char out[1024];
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        int rc = run(valid[i].f, valid[i].in, out, sizeof out);
        if (rc != 0 || strcmp(out, valid[i].want) != 0)
            fail_msg("valid case %zu: rc %d got [%s] want [%s]", i, rc, out, valid[i].want);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    char out[1024];
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        int rc = run(invalid[i].f, invalid[i].in, out, sizeof out);
        size_t pl = strlen(invalid[i].want);
        if (rc != -EINVAL || strncmp(out, invalid[i].want, pl) != 0 || out[pl] != ' ' ||
            !strstr(out, invalid[i].sub))
            fail_msg("invalid case %zu: rc %d got [%s] want [%s ...%s...]", i, rc, out,
                     invalid[i].want, invalid[i].sub);
    }
}

/* Entries point into parser buffers that are reused: the second line must
 * not be corrupted by a longer first line, and buffers grow for long lines. */
static void test_buffer_reuse(void **state)
{
    (void)state;
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;
    char big[5000];

    expfmt_options_default(&o, EXPFMT_PROMETHEUS);
    expfmt_parser_init(&p, &o);
    int n = snprintf(big, sizeof big, "big{v=\"");
    memset(big + n, 'x', 4000);
    n += 4000;
    n += snprintf(big + n, sizeof big - (size_t)n, "\"} 7");
    if (expfmt_parse_line(&p, big, (size_t)n, &e) != 0)
        fail_msg("%u:%u %s", p.err.line, p.err.col, p.err.msg);
    assert_int_equal(strlen(e.labels.v[1].value), 4000);
    assert_int_equal(expfmt_parse_line(&p, "s{k=\"v\"} 2", 10, &e), 0);
    assert_string_equal(e.labels.v[1].value, "v");
    assert_int_equal(e.labels.len, 2);
    assert_int_equal(p.line, 2);
    expfmt_parser_free(&p);
}

/* The timestamp unit is an option independent of the flavor. */
static void test_ts_unit_option(void **state)
{
    (void)state;
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;

    expfmt_options_default(&o, EXPFMT_PROMETHEUS);
    o.ts_unit = EXPFMT_TS_SECONDS;
    expfmt_parser_init(&p, &o);
    assert_int_equal(expfmt_parse_line(&p, "a 1 1.25", 8, &e), 0);
    assert_true(e.has_ts);
    assert_int_equal(e.ts_ms, 1250);
    expfmt_parser_free(&p);
}

/* Content negotiation: the Accept header and the Content-Type mapping. */
static void test_content_type(void **state)
{
    (void)state;
    assert_string_equal(EXPFMT_ACCEPT_HEADER, "application/openmetrics-text;version=1.0.0,"
                                              "text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
    assert_int_equal(expfmt_flavor_from_content_type(
                         "application/openmetrics-text; version=1.0.0; charset=utf-8"),
                     OM);
    assert_int_equal(expfmt_flavor_from_content_type("Application/OpenMetrics-Text"), OM);
    assert_int_equal(expfmt_flavor_from_content_type(" application/openmetrics-text ;v=0.0.1"),
                     OM);
    assert_int_equal(expfmt_flavor_from_content_type("application/openmetrics-textx"), PROM);
    assert_int_equal(expfmt_flavor_from_content_type("text/plain; version=0.0.4"), PROM);
    assert_int_equal(expfmt_flavor_from_content_type("application/json"), PROM);
    assert_int_equal(expfmt_flavor_from_content_type(""), PROM);
    assert_int_equal(expfmt_flavor_from_content_type(NULL), PROM);
}

static void test_guess_flavor(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        enum expfmt_flavor want;
    } cases[] = {
        {"a 1\n# EOF\n", OM},   {"a 1\n# EOF", OM},      {"# EOF", OM},
        {"# UNIT a_s s\n", OM}, {"a 1\n# UNIT a_s s", OM}, {"a 1\n", PROM},
        {"", PROM},             {"a 1\n# EOF\n\n", PROM}, {"x# EOF\n", PROM},
        {"a 1 # UNIT x\n", PROM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (expfmt_guess_flavor(cases[i].in, strlen(cases[i].in)) != cases[i].want)
            fail_msg("guess case %zu [%s]", i, cases[i].in);
}

struct collected {
    char out[1024];
    int stop_after; /* stop with 7 after this many entries, 0: never */
    int n;
};

/* Renders each sample as family/type/name, and exemplars. */
static int collect(const struct expfmt_entry *e, void *arg)
{
    struct collected *c = arg;
    size_t n = strlen(c->out);
    if (e->kind == EXPFMT_SAMPLE) {
        n += (size_t)snprintf(c->out + n, sizeof c->out - n, "%s/%s/%s ", e->family,
                              expfmt_metric_type_name(e->type), e->name);
        if (e->has_exemplar)
            snprintf(c->out + n, sizeof c->out - n, "ex{%s=%s}%g@%lld ",
                     e->exemplar.len ? e->exemplar.v[0].name : "",
                     e->exemplar.len ? e->exemplar.v[0].value : "", e->exemplar_value,
                     e->exemplar_has_ts ? (long long)e->exemplar_ts_ms : -1LL);
    } else {
        snprintf(c->out + n, sizeof c->out - n, "%d ", (int)e->kind);
    }
    return ++c->n == c->stop_after ? 7 : 0;
}

static int parse_buf(int f, const char *text, struct collected *c, struct expfmt_parser *p)
{
    struct expfmt_options o;
    expfmt_options_default(&o, f == OM ? OM : PROM);
    o.strict = f == STRICT;
    expfmt_parser_init(p, &o);
    return expfmt_parse_buffer(p, text, strlen(text), collect, c);
}

/* expfmt_parse_buffer: every entry but NONE, the family and type of each
 * sample, exemplar contents, the first error, stopping on request. */
static void test_parse_buffer(void **state)
{
    (void)state;
    struct expfmt_parser p;
    struct collected c = {{0}, 0, 0};

    assert_int_equal(
        parse_buf(OM,
                  "# TYPE c counter\nc_total 1 # {id=\"x\"} 2 3.5\nc_created 1\n"
                  "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {} 4\nh_sum 1\nh_count 1\n"
                  "# TYPE i info\ni_info 1\n# TYPE s stateset\ns{s=\"a\"} 1\nu 1\n# EOF\n",
                  &c, &p),
        0);
    assert_string_equal(c.out, "3 c/counter/c_total ex{id=x}2@3500 c/counter/c_created 3 "
                               "h/histogram/h_bucket ex{=}4@-1 h/histogram/h_sum "
                               "h/histogram/h_count 3 i/info/i_info 3 s/stateset/s "
                               "u/unknown/u 5 ");
    expfmt_parser_free(&p);

    memset(&c, 0, sizeof c);
    assert_int_equal(parse_buf(PROM,
                               "# comment\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 2\n"
                               "h_count 3\n# TYPE s summary\ns 1\ns_sum 1\nh 2\nx_total 3",
                               &c, &p),
                     0);
    assert_string_equal(c.out, "3 h/histogram/h_bucket h/histogram/h_sum h/histogram/h_count 3 "
                               "s/summary/s s/summary/s_sum h/histogram/h x_total/unknown/x_total ");
    expfmt_parser_free(&p);

    memset(&c, 0, sizeof c);
    assert_int_equal(parse_buf(OM, "a 1\nb 2\nc{ 3\nd 4\n", &c, &p), -EINVAL);
    assert_int_equal(p.err.line, 3);
    assert_int_equal(p.err.col, 3);
    assert_string_equal(c.out, "a/unknown/a b/unknown/b ");
    expfmt_parser_free(&p);

    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    assert_int_equal(parse_buf(PROM, "a 1\nb 2\nc 3\n", &c, &p), 7);
    assert_int_equal(p.line, 2);
    expfmt_parser_free(&p);

    memset(&c, 0, sizeof c);
    assert_int_equal(parse_buf(OM, "", &c, &p), -EINVAL);
    assert_string_equal(p.err.msg, "expected \"# EOF\", got end of input");
    expfmt_parser_free(&p);
}

/* Many families: the table grows and finds each again. */
static void test_many_families(void **state)
{
    (void)state;
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;
    char line[64];

    expfmt_options_default(&o, PROM);
    expfmt_parser_init(&p, &o);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 1000; i++) {
            int n = round ? snprintf(line, sizeof line, "m%d_count 1", i)
                          : snprintf(line, sizeof line, "# TYPE m%d summary", i);
            assert_int_equal(expfmt_parse_line(&p, line, (size_t)n, &e), 0);
            assert_int_equal(e.type, EXPFMT_METRIC_SUMMARY);
        }
    }
    assert_int_equal(p.families_len, 1000);
    expfmt_parser_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_ts_unit_option),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_guess_flavor),
        cmocka_unit_test(test_parse_buffer),
        cmocka_unit_test(test_many_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
