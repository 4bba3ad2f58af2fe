/* test_promql_parse.c — the PromQL lexer, parser and printer: a table of
 * valid expressions with their canonical printed form (parse -> print ->
 * parse is stable), a table of invalid ones with the error and its
 * position, the shape of the tree for each syntax form, and every
 * expression of Prometheus' own test scripts in ../shared/conformance. */
#include <dirent.h>
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

#include "promql.h"

/* Parses in, fails the test with the error if it does not parse. */
static struct promql_expr *must_parse(const char *in)
{
    struct promql_expr *e = NULL;
    struct promql_error err;
    int rc = promql_parse(in, &e, &err);
    if (rc != 0) {
        char buf[400];
        promql_error_format(&err, buf, sizeof buf);
        fail_msg("[%s] does not parse: rc %d: %s", in, rc, buf);
    }
    return e;
}

/* in -> canonical text; "" when in is canonical already. */
static const struct {
    const char *in, *want;
} valid[] = {
    /* number literals */
    {"1", ""},
    {"12.34e6", "12340000"},
    {"12.34e+6", "12340000"},
    {"12.34e-6", "1.234e-05"},
    {".2", "0.2"},
    {"2.", "2"},
    {"+0.2", "0.2"},
    {"-0.2e-6", "-2e-07"},
    {"0x1f", "31"},
    {"0X10", "16"},
    {"010", "8"},
    {"09", "9"},
    {"1e300", "1e+300"},
    {"+Inf", "Inf"},
    {"inF", "Inf"},
    {"Inf ^ 2", ""},
    {"-inf", "-Inf"},
    {"NaN", ""},
    {"nan", "NaN"},
    {"5m", ""},
    {"1h30m", ""},
    {"90m", "1h30m"},
    {"-5m", ""},
    {"100ms", ""},
    {"1 - -1", ""},
    {"- -1", "1"},
    {"-(1)", ""},
    {"1.5", ""},
    {"1 + 1 # a comment", "1 + 1"},
    /* string literals */
    {"\"Foo\"", ""},
    {"'Foo'", "\"Foo\""},
    {"`raw\\n`", "\"raw\\\\n\""},
    {"\"a\\tb\\x41\\u00e9\\U0001F600\\101\"", "\"a\\tbAé😀A\""},
    {"\"it's\"", ""},
    {"'say \"hi\"'", "\"say \\\"hi\\\"\""},
    {"(\"\")", ""},
    /* vector selectors */
    {"foo", ""},
    {"foo{}", "foo"},
    {"foo:bar:baz", ""},
    {":foo", ""},
    {"foo{a=\"b\"}", ""},
    {"foo { a = 'b' , c != \"d\" , e =~ \"f.*\", g !~ `h` , }",
     "foo{a=\"b\", c!=\"d\", e=~\"f.*\", g!~\"h\"}"},
    {"{__name__=~\".+\"}", ""},
    {"{__name__=\"foo\"}", ""},
    {"{job=~\".+-server\", job!~\"api-.+\"}", ""},
    {"foo{on=\"x\", sum=\"y\", by=\"z\"}", ""},
    {"{\"foo.bar\"}", ""},
    {"{\"foo\"}", "foo"},
    {"{\"foo\", a=\"b\"}", "foo{a=\"b\"}"},
    {"{\"a.b\"=\"c\", x=\"y\"}", ""},
    {"sum", "{\"sum\"}"},
    {"by", "{\"by\"}"},
    {"offset", "{\"offset\"}"},
    {"{\"inf\"}", ""},
    {"SUM(foo)", "sum(foo)"},
    /* range selectors, offset, @ */
    {"foo[5m]", ""},
    {"foo[300]", "foo[5m]"},
    {"foo[1.5]", "foo[1s500ms]"},
    {"foo[1h30m]", ""},
    {"foo{a=\"b\"}[5m] offset 1h", ""},
    {"foo offset 5m", ""},
    {"foo offset -5m", ""},
    {"foo OFFSET 60", "foo offset 1m"},
    {"foo @ 100", "foo @ 100.000"},
    {"foo @ -1.5", "foo @ -1.500"},
    {"foo @ 0.0005", "foo @ 0.001"},
    {"foo @ start()", ""},
    {"foo @ end()", ""},
    {"foo offset 5m @ 100", "foo @ 100.000 offset 5m"},
    {"foo[5m] @ end() offset 1m", ""},
    {"foo[5m] offset 1m @ 3000", "foo[5m] @ 3000.000 offset 1m"},
    {"foo @ 1h", "foo @ 3600.000"},
    /* subqueries */
    {"foo[1h:5m]", ""},
    {"foo[1h:]", ""},
    {"rate(foo[5m])[1h:1m] offset 10m", ""},
    {"sum(rate(foo[5m]))[30m:] @ start()", ""},
    {"(foo + bar)[5m:1m]", ""},
    {"last_over_time(abs(metric_total{env=\"1\"})[10m:])", ""},
    /* unary and binary operators, precedence */
    {"-foo", ""},
    {"+foo", ""},
    {"-foo offset 5m", ""},
    {"1 + 2 * 3", ""},
    {"(1 + 2) * 3", ""},
    {"2 ^ 3 ^ 2", ""},
    {"-2 ^ 2", ""},
    {"a or b and c unless d", ""},
    {"a == b", ""},
    {"a != bool b", ""},
    {"1 > bool 2", ""},
    {"1 <= bool 1", ""},
    {"a atan2 b", ""},
    {"a ATAN2 b", "a atan2 b"},
    {"a % b / c", ""},
    {"a+b", "a + b"},
    {"a * on(x, y) b", "a * on (x, y) b"},
    {"a * ignoring(x) b", "a * ignoring (x) b"},
    {"a * on() b", "a * on () b"},
    {"a * on(x) group_left(y) b", "a * on (x) group_left (y) b"},
    {"a * on(x) group_left b", "a * on (x) group_left () b"},
    {"a / ignoring(x) group_right(y, z) b", "a / ignoring (x) group_right (y, z) b"},
    {"a - ignoring() group_left b", "a - ignoring () group_left () b"},
    {"a > bool on(x) b", "a > bool on (x) b"},
    {"a and on(x) b", "a and on (x) b"},
    {"a unless ignoring(x) b", "a unless ignoring (x) b"},
    {"1 + on() b", "1 + b"},
    {"a + 1", ""},
    {"a + (b)", ""},
    {"metric1 offset 15m or metric2 offset 45m", ""},
    {"a * on(\"x.y\") b", "a * on (\"x.y\") b"},
    {"a * on(sum, by, on) b", "a * on (sum, by, on) b"},
    /* aggregations */
    {"sum(foo)", ""},
    {"sum by (a) (foo)", ""},
    {"sum by(a,b,) (foo)", "sum by (a, b) (foo)"},
    {"sum(foo) by (a)", "sum by (a) (foo)"},
    {"sum without (a) (foo)", ""},
    {"sum(foo) without ()", "sum without () (foo)"},
    {"sum by () (foo)", "sum(foo)"},
    {"avg(foo)", ""},
    {"min(foo)", ""},
    {"max(foo)", ""},
    {"count(foo)", ""},
    {"group(foo)", ""},
    {"stddev(foo)", ""},
    {"stdvar(foo)", ""},
    {"topk(5, foo)", ""},
    {"bottomk by (a) (5, foo)", ""},
    {"quantile without (a) (0.9, foo)", ""},
    {"count_values(\"v\", foo)", ""},
    {"limitk(2, foo)", ""},
    {"limit_ratio(0.5, foo)", ""},
    {"topk(scalar(bar), foo)", ""},
    {"quantile without(point)(0.8, {__name__=~\"data(_histogram)?\"})",
     "quantile without (point) (0.8, {__name__=~\"data(_histogram)?\"})"},
    {"sum by (\"a.b\") (foo)", ""},
    {"sum BY (a) (foo)", "sum by (a) (foo)"},
    /* function calls */
    {"rate(foo[5m])", ""},
    {"time()", ""},
    {"pi()", ""},
    {"vector(1)", ""},
    {"scalar(foo)", ""},
    {"round(foo)", ""},
    {"round(foo, 0.5)", ""},
    {"hour()", ""},
    {"hour(foo)", ""},
    {"clamp(foo, 0, 1)", ""},
    {"label_replace(foo, \"dst\", \"$1\", \"src\", \"(.*)\")", ""},
    {"label_join(foo, \"dst\", \",\")", ""},
    {"label_join(foo, \"dst\", \",\", \"a\", \"b\", \"c\")", ""},
    {"sort_by_label(foo, \"a\", \"b\")", ""},
    {"histogram_quantile(0.9, sum by (le) (rate(foo_bucket[5m])))", ""},
    {"histogram_quantiles(foo, \"q\", 0.1, 0.5, 0.9)", ""},
    {"histogram_fraction(0, 1, foo)", ""},
    {"quantile_over_time(0.5, foo[5m])", ""},
    {"predict_linear(foo[5m], 1h)", ""},
    {"predict_linear(foo[5m], 3600)", ""},
    {"double_exponential_smoothing(foo[5m], 0.5, 0.5)", ""},
    {"holt_winters(foo[5m], 0.5, 0.5)", ""},
    {"absent_over_time(foo[5m])", ""},
    {"min_of(3, 5)", ""},
    {"end() - start()", ""},
    {"step() * range()", ""},
    {"info(foo, {k=~\".+\"})", ""},
    {"info(foo)", ""},
    {"timestamp(foo @ 10)", "timestamp(foo @ 10.000)"},
    /* top-level types the parser accepts */
    {"foo[5m] offset 1m", ""},
    /* layout */
    {"sum(\n  rate(foo[5m])\n) by (a)", "sum by (a) (rate(foo[5m]))"},
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const char *want = valid[i].want[0] ? valid[i].want : valid[i].in;
        struct promql_expr *e = must_parse(valid[i].in);
        char *got = promql_print(e->root);
        assert_non_null(got);
        if (strcmp(got, want) != 0)
            fail_msg("valid case %zu [%s]: printed [%s] want [%s]", i, valid[i].in, got, want);
        promql_expr_free(e);
        e = must_parse(got);
        char *again = promql_print(e->root);
        if (strcmp(again, got) != 0)
            fail_msg("valid case %zu [%s]: reprinted [%s] from [%s]", i, valid[i].in, again, got);
        free(again);
        free(got);
        promql_expr_free(e);
    }
}

/* One invalid query: a fragment of the message, the byte offset of the
 * error and its line:column. */
static const struct {
    const char *in, *msg;
    size_t offset;
    unsigned line, col;
} invalid[] = {
    /* lexer */
    {"", "no expression found in input", 0, 1, 1},
    {"\"abc", "unterminated quoted string", 0, 1, 1},
    {"'abc\n'", "unterminated quoted string", 0, 1, 1},
    {"\"a\\qb\"", "invalid escape sequence: expected a valid escape sequence", 2, 1, 3},
    {"\"\\uD800\"", "surrogate", 1, 1, 2},
    {"sum(x", "unclosed left parenthesis", 5, 1, 6},
    {"(1))", "unexpected right parenthesis ')'", 3, 1, 4},
    {"foo}", "unexpected right brace '}'", 3, 1, 4},
    {"foo{a=\"b\"", "unexpected end of input inside braces", 9, 1, 10},
    {"foo{a=1}", "unexpected character inside braces: '1'", 6, 1, 7},
    {"foo[5m", "unclosed left bracket", 6, 1, 7},
    {"foo]", "unexpected right bracket ']'", 3, 1, 4},
    {"foo[5m[1m]]", "unexpected left bracket '['", 6, 1, 7},
    {"1 ! 2", "unexpected character after '!'", 2, 1, 3},
    {"foo $ 1", "unexpected character: '$'", 4, 1, 5},
    {"1a", "bad number or duration syntax: \"1a\"", 0, 1, 1},
    {"5m3", "bad number or duration syntax", 0, 1, 1},
    {"1.5m", "bad number or duration syntax: \"1.5m\"", 0, 1, 1},
    {"a:b[5m:1m:]", "unexpected \":\" in subquery selector, expected \"]\"", 9, 1, 10},
    {"a:b[5m:1m]:", "unexpected metric identifier \":\"", 10, 1, 11},
    /* syntax */
    {"*1", "unexpected <op:*>, expected expression", 0, 1, 1},
    {"1 +", "unexpected end of input, expected expression", 3, 1, 4},
    {"foo bar", "unexpected identifier \"bar\"", 4, 1, 5},
    {"foo 1", "unexpected number \"1\"", 4, 1, 5},
    {"1 2", "unexpected number \"2\"", 2, 1, 3},
    {"(1 2)", "unexpected number \"2\" in paren expression, expected \")\" or an operator", 3,
     1, 4},
    {"foo{a}", "unexpected \"}\" in label matching, expected label matching operator", 5, 1, 6},
    {"foo{a=}", "unexpected \"}\" in label matching, expected string", 6, 1, 7},
    {"foo{=\"a\"}", "unexpected \"=\" in label matching, expected identifier or \"}\"", 4, 1,
     5},
    {"foo{a=\"b\" c=\"d\"}", "unexpected identifier \"c\" in label matching, expected \",\" or "
                             "\"}\"",
     10, 1, 11},
    {"foo{a=~\"(\"}", "error parsing regexp", 4, 1, 5},
    {"{\"x\", \"y\"}", "metric name must not be set twice: \"x\" or \"y\"", 6, 1, 7},
    {"foo{\"x\"}", "metric name must not be set twice: \"foo\" or \"x\"", 4, 1, 5},
    {"sum by a (foo)", "unexpected identifier \"a\" in grouping opts, expected \"(\"", 7, 1, 8},
    {"sum by (a b) (foo)", "unexpected identifier \"b\" in grouping opts, expected \",\" or "
                           "\")\"",
     10, 1, 11},
    {"sum by (a:b) (foo)", "unexpected metric identifier \"a:b\" in grouping opts, expected label",
     8, 1, 9},
    {"sum by (1) (foo)", "in grouping opts, expected label", 8, 1, 9},
    {"sum by (a, a) (foo)", "duplicate label \"a\" in grouping opts", 11, 1, 12},
    {"a + on(x, x) b", "duplicate label \"x\"", 10, 1, 11},
    {"sum by (a) foo", "unexpected identifier \"foo\" in aggregation, expected \"(\"", 11, 1, 12},
    {"sum by (a) (foo) by (b)", "unexpected <by>", 17, 1, 18},
    {"sum()", "no arguments for aggregate expression provided", 0, 1, 1},
    {"sum(foo, bar)", "wrong number of arguments for aggregate expression provided, expected 1, "
                      "got 2",
     0, 1, 1},
    {"topk(foo)", "expected 2, got 1", 0, 1, 1},
    {"rate(foo[5m],)", "trailing commas not allowed in function call args", 12, 1, 13},
    {"rate(foo[5m] bar)", "unexpected identifier \"bar\" in call to function \"rate\", expected "
                          "\",\" or \")\"",
     13, 1, 14},
    {"foo_bar(x)", "unknown function with name \"foo_bar\"", 0, 1, 1},
    {"RATE(x[5m])", "unknown function with name \"RATE\"", 0, 1, 1},
    {"foo[5m", "unclosed left bracket", 6, 1, 7},
    {"foo[]", "unexpected \"]\" in subquery selector, expected duration", 4, 1, 5},
    {"foo[5m 1m]", "unexpected duration \"1m\" in subquery or range, expected \":\" or \"]\"", 7, 1,
     8},
    {"foo[5m:1m 1m]", "unexpected duration \"1m\" in subquery selector, expected \"]\"", 10, 1,
     11},
    {"foo[5m:x]", "unexpected identifier \"x\" in subquery selector, expected duration or \"]\"",
     7, 1, 8},
    {"foo[0s]", "range must be greater than 0", 3, 1, 4},
    {"foo[5m1h]", "not a valid duration string: \"5m1h\"", 4, 1, 5},
    {"foo[99999999999999y]", "duration out of range", 4, 1, 5},
    {"foo offset", "unexpected end of input in offset, expected duration", 10, 1, 11},
    {"foo offset bar", "unexpected identifier \"bar\" in offset, expected duration", 11, 1, 12},
    {"foo @", "unexpected end of input in @, expected timestamp", 5, 1, 6},
    {"foo @ bar()", "unexpected identifier \"bar\" in @, expected timestamp", 6, 1, 7},
    {"foo @ Inf", "timestamp out of bounds for @ modifier", 0, 1, 1},
    {"a * group_left b", "unexpected <group_left>, expected expression", 4, 1, 5},
    {"a * on(x) group_left(y) group_left b", "unexpected <group_left>", 24, 1, 25},
    /* modifiers in the wrong place */
    {"sum(foo) offset 5m", "offset modifier must be preceded by an instant vector selector or "
                           "range vector selector or a subquery",
     0, 1, 1},
    {"(foo) @ 10", "@ modifier must be preceded by an instant vector selector", 0, 1, 1},
    {"foo offset 5m offset 1m", "offset may not be set multiple times", 0, 1, 1},
    {"foo @ 1 @ 2", "@ <timestamp> may not be set multiple times", 0, 1, 1},
    {"foo offset 5m [5m]", "no offset modifiers allowed before range", 14, 1, 15},
    {"foo @ 1 [5m]", "no @ modifiers allowed before range", 8, 1, 9},
    {"sum(foo)[5m]", "ranges only allowed for vector selectors", 8, 1, 9},
    {"foo[5m][5m]", "ranges only allowed for vector selectors", 7, 1, 8},
    /* types */
    {"foo{}", NULL, 0, 0, 0}, /* (valid: the name is a non-empty matcher) */
    {"{}", "vector selector must contain at least one non-empty matcher", 0, 1, 1},
    {"{a=\"\"}", "vector selector must contain at least one non-empty matcher", 0, 1, 1},
    {"{a=~\".*\", b!=\"x\"}", "at least one non-empty matcher", 0, 1, 1},
    {"foo{__name__=\"bar\"}", "metric name must not be set twice: \"foo\" or \"bar\"", 0, 1, 1},
    {"rate(foo)", "expected type range vector in call to function \"rate\", got instant vector",
     5, 1, 6},
    {"abs(foo[5m])", "expected type instant vector in call to function \"abs\", got range vector",
     4, 1, 5},
    {"vector(foo)", "expected type scalar in call to function \"vector\", got instant vector", 7,
     1, 8},
    {"label_join(foo, 1, \",\")", "expected type string in call to function \"label_join\", got "
                                  "scalar",
     16, 1, 17},
    {"time(1)", "expected 0 argument(s) in call to \"time\", got 1", 0, 1, 1},
    {"rate()", "expected 1 argument(s) in call to \"rate\", got 0", 0, 1, 1},
    {"clamp(foo, 1)", "expected 3 argument(s) in call to \"clamp\", got 2", 0, 1, 1},
    {"round(foo, 1, 2)", "expected at most 2 argument(s) in call to \"round\", got 3", 0, 1, 1},
    {"label_join(foo, \"a\")", "expected at least 3 argument(s) in call to \"label_join\", got 2",
     0, 1, 1},
    {"histogram_quantiles(foo, \"q\")", "expected at least 3 argument(s)", 0, 1, 1},
    {"1 == 1", "comparisons between scalars must use BOOL modifier", 2, 1, 3},
    {"foo + bool foo", "bool modifier can only be used on comparison operators", 4, 1, 5},
    {"1 and 1", "set operator \"and\" not allowed in binary scalar expression", 0, 1, 1},
    {"foo or 1", "set operator \"or\" not allowed in binary scalar expression", 0, 1, 1},
    {"foo and on(a) group_left foo", "no grouping allowed for \"and\" operation", 0, 1, 1},
    {"foo * on(a) group_left(a) bar", "label \"a\" must not occur in ON and GROUP clause at once",
     4, 1, 5},
    {"1 + on(a) foo", "vector matching only allowed between instant vectors", 0, 1, 1},
    {"foo[5m] + 1", "binary expression must contain only scalar and instant vector types", 0, 1,
     1},
    {"1 + \"a\"", "binary expression must contain only scalar and instant vector types", 4, 1, 5},
    {"-\"a\"", "unary expression only allowed on expressions of type scalar or instant vector, "
               "got \"string\"",
     0, 1, 1},
    {"-foo[5m]", "unary expression only allowed", 0, 1, 1},
    {"sum(foo[5m])", "expected type instant vector in aggregation expression, got range vector",
     4, 1, 5},
    {"topk(\"a\", foo)", "expected type scalar in aggregation parameter, got string", 5, 1, 6},
    {"count_values(1, foo)", "expected type string in aggregation parameter, got scalar", 13, 1,
     14},
    {"sum(\"a\")", "expected type instant vector in aggregation expression, got string", 4, 1, 5},
    {"rate(foo[5m])[5m]", "ranges only allowed for vector selectors", 13, 1, 14},
    {"foo[5m][1h:]", "subquery is only allowed on instant vector, got range vector instead", 0, 1,
     1},
    {"\"a\"[1h:]", "subquery is only allowed on instant vector, got string instead", 0, 1, 1},
    {"info(foo, bar{a=\"b\"})", "expected label selectors only, got vector selector instead", 10,
     1, 11},
    {"sum(rate(x[5m]))\n  by (job) +\n  foo{}} ", "unexpected right brace '}'", 37, 3, 8},
    {"sum by (job) (\n  rate(x))", "expected type range vector in call to function \"rate\"", 22,
     2, 8},
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        struct promql_expr *e = NULL;
        struct promql_error err;
        int rc = promql_parse(invalid[i].in, &e, &err);
        if (!invalid[i].msg) {
            assert_int_equal(rc, 0);
            promql_expr_free(e);
            continue;
        }
        if (rc != -EINVAL || !strstr(err.msg, invalid[i].msg) ||
            err.pos.start != invalid[i].offset || err.line != invalid[i].line ||
            err.col != invalid[i].col)
            fail_msg("invalid case %zu [%s]: rc %d at %zu (%u:%u) [%s]; want at %zu (%u:%u) "
                     "[...%s...]",
                     i, invalid[i].in, rc, err.pos.start, err.line, err.col, err.msg,
                     invalid[i].offset, invalid[i].line, invalid[i].col, invalid[i].msg);
        assert_null(e);
    }
}

static void test_error_format(void **state)
{
    (void)state;
    struct promql_expr *e;
    struct promql_error err;
    char buf[300];
    assert_int_equal(promql_parse("sum(foo) +\n  *", &e, &err), -EINVAL);
    promql_error_format(&err, buf, sizeof buf);
    assert_string_equal(buf, "2:3: parse error: unexpected <op:*>, expected expression");
    assert_int_equal(err.pos.start, 13);
    assert_int_equal(err.pos.end, 14);
}

/* The tree: kinds, types, operators, precedence, modifiers, matching. */
static void test_tree(void **state)
{
    (void)state;
    struct promql_expr *e = must_parse("a + b * c ^ d ^ e");
    struct promql_node *n = e->root;
    assert_int_equal(n->kind, PROMQL_BINARY);
    assert_int_equal(n->binary.op, PROMQL_OP_ADD);
    n = n->binary.rhs;
    assert_int_equal(n->binary.op, PROMQL_OP_MUL);
    n = n->binary.rhs;
    assert_int_equal(n->binary.op, PROMQL_OP_POW);
    assert_int_equal(n->binary.lhs->kind, PROMQL_VECTOR_SELECTOR); /* c ^ (d ^ e) */
    assert_int_equal(n->binary.rhs->binary.op, PROMQL_OP_POW);
    promql_expr_free(e);

    e = must_parse("a - b - c"); /* (a - b) - c */
    assert_int_equal(e->root->binary.lhs->kind, PROMQL_BINARY);
    promql_expr_free(e);

    e = must_parse("-a * b"); /* (-a) * b; -a ^ b is -(a ^ b) */
    assert_int_equal(e->root->kind, PROMQL_BINARY);
    assert_int_equal(e->root->binary.lhs->kind, PROMQL_UNARY);
    promql_expr_free(e);
    e = must_parse("-a ^ b");
    assert_int_equal(e->root->kind, PROMQL_UNARY);
    assert_int_equal(e->root->unary.op, PROMQL_OP_SUB);
    promql_expr_free(e);

    e = must_parse("a or b and c == d + e");
    assert_int_equal(e->root->binary.op, PROMQL_OP_OR);
    assert_int_equal(e->root->binary.rhs->binary.op, PROMQL_OP_AND);
    assert_int_equal(e->root->binary.rhs->binary.rhs->binary.op, PROMQL_OP_EQLC);
    assert_int_equal(e->root->binary.matching.card, PROMQL_CARD_MANY_TO_MANY);
    promql_expr_free(e);

    e = must_parse("-1");
    assert_int_equal(e->root->kind, PROMQL_NUMBER);
    assert_true(e->root->number.value == -1);
    assert_int_equal(e->root->type, PROMQL_TYPE_SCALAR);
    promql_expr_free(e);

    e = must_parse("1h");
    assert_true(e->root->number.value == 3600 && e->root->number.is_duration);
    promql_expr_free(e);

    e = must_parse("\"a\\x00b\"");
    assert_int_equal(e->root->kind, PROMQL_STRING);
    assert_int_equal(e->root->string.len, 3);
    assert_memory_equal(e->root->string.value, "a\0b", 4);
    promql_expr_free(e);

    e = must_parse("foo{a=~\"x|y\", b!=\"z\"}[5m] offset -1m @ end()");
    n = e->root;
    assert_int_equal(n->kind, PROMQL_MATRIX_SELECTOR);
    assert_int_equal(n->type, PROMQL_TYPE_MATRIX);
    assert_int_equal(n->matrix.range_ms, 300000);
    struct promql_node *vs = n->matrix.vs;
    assert_string_equal(vs->vs.name, "foo");
    assert_int_equal(vs->vs.n_matchers, 3);
    assert_string_equal(vs->vs.matchers[0].name, "__name__");
    assert_string_equal(vs->vs.matchers[0].value, "foo");
    assert_int_equal(vs->vs.matchers[1].type, TSDB_MATCH_RE);
    assert_true(tsdb_matcher_matches(&vs->vs.matchers[1], "x"));
    assert_false(tsdb_matcher_matches(&vs->vs.matchers[1], "xy"));
    assert_int_equal(vs->vs.matchers[2].type, TSDB_MATCH_NE);
    assert_int_equal(vs->vs.mod.offset_ms, -60000);
    assert_int_equal(vs->vs.mod.at, PROMQL_AT_END);
    assert_int_equal(n->pos.start, 0);
    assert_int_equal(n->pos.end, strlen("foo{a=~\"x|y\", b!=\"z\"}[5m] offset -1m @ end()"));
    promql_expr_free(e);

    e = must_parse("rate(foo[5m])[1h:30s] @ 1700000000.123 offset 5m");
    n = e->root;
    assert_int_equal(n->kind, PROMQL_SUBQUERY);
    assert_int_equal(n->subquery.range_ms, 3600000);
    assert_int_equal(n->subquery.step_ms, 30000);
    assert_int_equal(n->subquery.mod.at, PROMQL_AT_TIME);
    assert_int_equal(n->subquery.mod.at_ms, 1700000000123LL);
    assert_int_equal(n->subquery.mod.offset_ms, 300000);
    assert_int_equal(n->subquery.expr->kind, PROMQL_CALL);
    assert_string_equal(n->subquery.expr->call.func->name, "rate");
    promql_expr_free(e);

    e = must_parse("a / on(x) group_right(y) b");
    n = e->root;
    assert_int_equal(n->binary.matching.card, PROMQL_CARD_ONE_TO_MANY);
    assert_true(n->binary.matching.on);
    assert_int_equal(n->binary.matching.labels.n, 1);
    assert_string_equal(n->binary.matching.include.names[0], "y");
    assert_int_equal(n->type, PROMQL_TYPE_VECTOR);
    promql_expr_free(e);

    e = must_parse("1 < bool 2");
    assert_int_equal(e->root->type, PROMQL_TYPE_SCALAR);
    assert_true(e->root->binary.return_bool);
    promql_expr_free(e);

    e = must_parse("count_values without (a, b) (\"v\", foo)");
    n = e->root;
    assert_int_equal(n->aggregate.op, PROMQL_AGG_COUNT_VALUES);
    assert_true(n->aggregate.without);
    assert_int_equal(n->aggregate.grouping.n, 2);
    assert_int_equal(n->aggregate.param->kind, PROMQL_STRING);
    assert_int_equal(n->aggregate.expr->kind, PROMQL_VECTOR_SELECTOR);
    promql_expr_free(e);

    e = must_parse("(scalar(foo))");
    assert_int_equal(e->root->kind, PROMQL_PAREN);
    assert_int_equal(e->root->type, PROMQL_TYPE_SCALAR);
    promql_expr_free(e);

    e = must_parse("{\"my.metric\", \"a.b\"=\"c\"}");
    assert_string_equal(e->root->vs.name, "my.metric");
    assert_string_equal(e->root->vs.matchers[1].name, "a.b");
    promql_expr_free(e);

    e = must_parse("\"abc\"");
    assert_int_equal(e->root->type, PROMQL_TYPE_STRING);
    void *p = promql_expr_alloc(e, 100);
    assert_non_null(p);
    promql_expr_free(e);
}

/* Every function of Prometheus 3's library, in a sorted table. */
static void test_functions(void **state)
{
    (void)state;
    static const char *const names[] = {
        "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
        "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
        "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month",
        "deg", "delta", "deriv", "double_exponential_smoothing", "exp", "floor",
        "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
        "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters", "hour",
        "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
        "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute", "month",
        "pi", "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate",
        "resets", "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label",
        "sort_by_label_desc", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
        "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
    };
    for (size_t i = 1; i < promql_nfuncs; i++)
        if (strcmp(promql_funcs[i - 1].name, promql_funcs[i].name) >= 0)
            fail_msg("function table not sorted at %s", promql_funcs[i].name);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!promql_func_lookup(names[i]))
            fail_msg("no function %s", names[i]);
    assert_null(promql_func_lookup("nosuch"));
    const struct promql_func *f = promql_func_lookup("rate");
    assert_int_equal(f->nargs, 1);
    assert_int_equal(f->args[0], PROMQL_TYPE_MATRIX);
    assert_int_equal(f->ret, PROMQL_TYPE_VECTOR);
    assert_int_equal(promql_func_lookup("scalar")->ret, PROMQL_TYPE_SCALAR);
}

static void test_durations_print(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "0s"},           {1, "1ms"},         {1500, "1s500ms"},   {60000, "1m"},
        {5400000, "1h30m"},  {86400000, "1d"},   {604800000, "1w"},   {691200000, "8d"},
        {31536000000LL, "1y"}, {-300000, "-5m"}, {90061001, "1d1h1m1s1ms"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        promql_duration_format(cases[i].ms, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_lexer(void **state)
{
    (void)state;
    static const enum promql_tok want[] = {
        PROMQL_T_AGGR,   PROMQL_T_BY,     PROMQL_T_LPAREN,   PROMQL_T_ON,     PROMQL_T_RPAREN,
        PROMQL_T_LPAREN, PROMQL_T_IDENT,  PROMQL_T_LPAREN,   PROMQL_T_METRIC_IDENT,
        PROMQL_T_LBRACE, PROMQL_T_IDENT,  PROMQL_T_NEQ_REGEX, PROMQL_T_STRING, PROMQL_T_RBRACE,
        PROMQL_T_LBRACKET, PROMQL_T_DURATION, PROMQL_T_COLON, PROMQL_T_RBRACKET,
        PROMQL_T_RPAREN, PROMQL_T_RPAREN, PROMQL_T_OP,     PROMQL_T_NUMBER, PROMQL_T_EOF,
    };
    struct promql_lexer lx;
    const char *q = "sum by (on) (rate(a:b{by!~'x'}[5m:]))>=0x1F";
    promql_lexer_init(&lx, q);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct promql_token t = promql_lex(&lx);
        if (t.type != want[i])
            fail_msg("token %zu at %zu: type %d, want %d", i, t.pos, t.type, want[i]);
    }
    char buf[64];
    struct promql_token t = {PROMQL_T_STRING, 0, 15, PROMQL_OP_ADD, PROMQL_AGG_SUM};
    assert_string_equal(promql_token_desc(&t, "\"abcdefghijkl\"", buf, sizeof buf),
                        "string \"\\\"abcdefghi\"...");
}

/* ---- conformance: every eval expression of Prometheus' test scripts ---- */

/* The expression of an eval line, or NULL; *expect_fail for eval_fail. */
static const char *eval_expr(const char *line, int *expect_fail)
{
    const char *s = line;
    *expect_fail = 0;
    if (strncmp(s, "eval", 4) != 0)
        return NULL;
    s += 4;
    if (*s == '_') {
        *expect_fail = strncmp(s, "_fail", 5) == 0;
        s += strcspn(s, " \t");
    }
    while (*s == ' ' || *s == '\t')
        s++;
    int words;
    if (strncmp(s, "instant", 7) == 0)
        words = 3; /* instant at T */
    else if (strncmp(s, "range", 5) == 0)
        words = 7; /* range from T to T step D */
    else
        return NULL;
    for (int w = 0; w < words; w++) {
        s += strcspn(s, " \t");
        while (*s == ' ' || *s == '\t')
            s++;
    }
    return s;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

struct counts {
    int total, parsed, may_fail, failed_ok, bad;
};

/* Parses one eval expression; may_fail when the script expects it to fail
 * (eval_fail, or "expect fail" below it). */
static void conformance_eval(const char *path, int lineno, const char *expr, int may_fail,
                             struct counts *c)
{
    struct promql_expr *e = NULL, *e2 = NULL;
    struct promql_error err;
    char buf[400];
    c->total++;
    c->may_fail += may_fail;
    if (promql_parse(expr, &e, &err) != 0) {
        if (may_fail) {
            c->failed_ok++;
            return;
        }
        promql_error_format(&err, buf, sizeof buf);
        print_message("%s:%d: [%s]: %s\n", path, lineno, expr, buf);
        c->bad++;
        return;
    }
    c->parsed++;
    char *s = promql_print(e->root);
    char *again = NULL;
    if (promql_parse(s, &e2, &err) == 0)
        again = promql_print(e2->root);
    if (!again || strcmp(again, s) != 0) {
        print_message("%s:%d: [%s] printed as [%s] reprints as [%s]\n", path, lineno, expr, s,
                      again ? again : err.msg);
        c->bad++;
    }
    free(again);
    free(s);
    promql_expr_free(e2);
    promql_expr_free(e);
}

static void conformance_file(const char *path, struct counts *c)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char **lines = NULL, buf[8192];
    size_t n = 0;
    while (fgets(buf, sizeof buf, f)) {
        lines = realloc(lines, (n + 1) * sizeof *lines);
        assert_non_null(lines);
        lines[n] = strdup(trim(buf));
        assert_non_null(lines[n++]);
    }
    fclose(f);
    for (size_t i = 0; i < n; i++) {
        int may_fail;
        const char *expr = eval_expr(lines[i], &may_fail);
        if (!expr)
            continue;
        for (size_t k = i + 1; k < n && lines[k][0] && strncmp(lines[k], "eval", 4) != 0; k++)
            if (strncmp(lines[k], "expect fail", 11) == 0)
                may_fail = 1;
        conformance_eval(path, (int)i + 1, expr, may_fail, c);
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

static void test_conformance(void **state)
{
    (void)state;
    char dir[4096];
    const char *env = getenv("VIGIL_CONFORMANCE"), *top = getenv("VIGIL_TOP");
    if (env && *env)
        snprintf(dir, sizeof dir, "%s/promql", env);
    else if (top)
        snprintf(dir, sizeof dir, "%s/../shared/conformance/promql", top);
    else
        snprintf(dir, sizeof dir, "../shared/conformance/promql");
    DIR *d = opendir(dir);
    if (!d) {
        print_message("conformance: %s not found, skipped\n", dir);
        skip();
    }
    struct counts c = {0};
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 5, ".test") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        conformance_file(path, &c);
        files++;
    }
    closedir(d);
    print_message("conformance: %d of %d eval expressions in %d files parse; %d are marked to "
                  "fail, %d of them at parse time\n",
                  c.parsed, c.total, files, c.may_fail, c.failed_ok);
    assert_true(c.total > 1000);
    assert_int_equal(c.bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),          cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_error_format),   cmocka_unit_test(test_tree),
        cmocka_unit_test(test_functions),      cmocka_unit_test(test_durations_print),
        cmocka_unit_test(test_lexer),          cmocka_unit_test(test_conformance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
