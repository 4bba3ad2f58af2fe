/* test_selector.c — table-driven tests of the series selector parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "selector.h"

/* Renders matchers as name<op>"value" joined by spaces, then [range_ms]. */
static void render(const struct selector *sel, char *out, size_t cap)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sel->n; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s%s\"%s\"", i ? " " : "",
                              sel->matchers[i].name, ops[sel->matchers[i].type],
                              sel->matchers[i].value);
    if (sel->range_ms)
        snprintf(out + n, cap - n, " [%lld]", (long long)sel->range_ms);
}

static const struct {
    const char *in, *want;
} valid[] = {
    {"up", "__name__=\"up\""},
    {"up[5m]", "__name__=\"up\" [300000]"},
    {"http_requests_total{code=\"200\",method=~\"GET|POST\"}[6h]",
     "__name__=\"http_requests_total\" code=\"200\" method=~\"GET|POST\" [21600000]"},
    {"{__name__=~\"http_.*\"}", "__name__=~\"http_.*\""},
    {"m{a!=\"x\",b!~\"y\"}", "__name__=\"m\" a!=\"x\" b!~\"y\""},
    {"m{a='it\\'s'}", "__name__=\"m\" a=\"it's\""},
    {"m{a=\"say \\\"hi\\\"\"}", "__name__=\"m\" a=\"say \"hi\"\""},
    {"m{a=\"\\x41\\101\\u00e9\\U0001F600\"}", "__name__=\"m\" a=\"AAé😀\""},
    {"m{a=\"\\a\\b\\f\\n\\r\\t\\v\\\\\"}", "__name__=\"m\" a=\"\a\b\f\n\r\t\v\\\""},
    {"m{a=`raw\\n\"'`}", "__name__=\"m\" a=\"raw\\n\"'\""},
    {"  m { a = \"b\" , } [ 1h30m ]  ", "__name__=\"m\" a=\"b\" [5400000]"},
    {"m{}", "__name__=\"m\""},
    {"job:rate5m:sum{job=~\".+\"}", "__name__=\"job:rate5m:sum\" job=~\".+\""},
    {"{job=\"api\"}[100ms]", "job=\"api\" [100]"},
    {"{a=\"\",b=\"x\"}", "a=\"\" b=\"x\""},
    {"m{a=\"b\"\n,c=\"d\"}", "__name__=\"m\" a=\"b\" c=\"d\""},
};

static const struct {
    const char *in;
    unsigned col;
    const char *sub;
} invalid[] = {
    {"", 1, "a metric name or '{', got end of input"},
    {"{}", 1, "at least one matcher that does not match the empty string"},
    {"{a=\"\"}", 1, "at least one matcher"},
    {"{a=~\".*\"}", 1, "at least one matcher"},
    {"{a!=\"x\"}", 1, "at least one matcher"},
    {"m{a=\"b\"", 8, "',' or '}' after a label matcher, got end of input"},
    {"m{a=\"b}", 5, "a string closed by \""},
    {"m{a=b}", 5, "a quoted label value, got \"b}\""},
    {"m{a==\"b\"}", 5, "a quoted label value"},
    {"m{a~\"b\"}", 4, "a match operator"},
    {"m{1a=\"b\"}", 3, "a label name"},
    {"m{a=\"\\q\"}", 6, "a valid escape sequence"},
    {"m{a='\\\"'}", 6, "a valid escape sequence"},
    {"m{a=\"\\'\"}", 6, "a valid escape sequence"},
    {"m{a=\"\\xZZ\"}", 6, "2 hex digits"},
    {"m{a=\"\\400\"}", 6, "\\377"},
    {"m{a=\"\\18\"}", 6, "three octal digits"},
    {"m{a=\"\\uD800\"}", 6, "surrogate"},
    {"m{a=~\"(\"}", 6, "a valid regular expression"},
    {"m[5x]", 3, "a duration"},
    {"m[]", 3, "a duration"},
    {"m[0s]", 3, "a range greater than zero"},
    {"m[5m", 5, "']' to close the range"},
    {"m[5m30m]", 3, "a duration"},
    {"m{__name__=\"x\"}", 3, "no __name__ matcher after a metric name"},
    {"m extra", 3, "end of selector, got \"extra\""},
    {"m[5m] offset 1h", 7, "end of selector"},
    {"m{a=\"b\" c=\"d\"}", 9, "',' or '}'"},
    {"m{a=\"line\nbreak\"}", 5, "a string closed by \""},
    {"rate(m[5m])", 5, "end of selector"},
    {"m{,}", 3, "a label name"},
};

static void test_valid(void **state)
{
    (void)state;
    char out[512];
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        struct selector sel;
        struct selector_error err;
        int rc = selector_parse(valid[i].in, &sel, &err);
        if (rc != 0)
            fail_msg("valid case %zu [%s]: rc %d at %u: %s", i, valid[i].in, rc, err.col, err.msg);
        render(&sel, out, sizeof out);
        selector_free(&sel);
        if (strcmp(out, valid[i].want) != 0)
            fail_msg("valid case %zu: got [%s] want [%s]", i, out, valid[i].want);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        struct selector sel;
        struct selector_error err;
        int rc = selector_parse(invalid[i].in, &sel, &err);
        if (rc != -EINVAL || err.col != invalid[i].col || !strstr(err.msg, invalid[i].sub))
            fail_msg("invalid case %zu [%s]: rc %d col %u [%s], want col %u [...%s...]", i,
                     invalid[i].in, rc, err.col, err.msg, invalid[i].col, invalid[i].sub);
        assert_null(sel.matchers);
    }
}

/* Compiled matchers behave like PromQL's: anchored regexes. */
static void test_matchers_work(void **state)
{
    (void)state;
    struct selector sel;
    struct selector_error err;
    assert_int_equal(selector_parse("m{code=~\"2..\",path!~\"/debug.*\"}", &sel, &err), 0);
    assert_int_equal(sel.n, 3);
    assert_true(tsdb_matcher_matches(&sel.matchers[1], "200"));
    assert_false(tsdb_matcher_matches(&sel.matchers[1], "2000"));
    assert_true(tsdb_matcher_matches(&sel.matchers[2], "/api"));
    assert_false(tsdb_matcher_matches(&sel.matchers[2], "/debug/pprof"));
    assert_int_equal(sel.range_ms, 0);
    selector_free(&sel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_matchers_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
