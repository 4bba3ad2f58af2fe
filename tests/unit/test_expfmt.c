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
static int run(enum expfmt_flavor f, const char *text, char *out, size_t cap)
{
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;
    int rc = 0;

    expfmt_options_default(&o, f);
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
    enum expfmt_flavor f;
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
};

static const struct {
    enum expfmt_flavor f;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_ts_unit_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
