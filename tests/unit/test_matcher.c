/* test_matcher.c — label matchers: the four types, full anchoring, the
 * empty value of an absent label, UTF-8 and regex error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tsdb_int.h"

struct match_case {
    enum tsdb_match_type type;
    const char *pattern;
    const char *value;
    int want;
};

static const struct match_case cases[] = {
    {TSDB_MATCH_EQ, "foo", "foo", 1},
    {TSDB_MATCH_EQ, "foo", "foobar", 0},
    {TSDB_MATCH_EQ, "foo", "", 0},
    {TSDB_MATCH_EQ, "", "", 1},       /* {l=""}: series without l */
    {TSDB_MATCH_EQ, "", "x", 0},
    {TSDB_MATCH_NE, "foo", "foo", 0},
    {TSDB_MATCH_NE, "foo", "bar", 1},
    {TSDB_MATCH_NE, "foo", "", 1},    /* absent label is != "foo" */
    {TSDB_MATCH_NE, "", "", 0},       /* {l!=""}: only series with l */
    {TSDB_MATCH_NE, "", "x", 1},
    {TSDB_MATCH_RE, "foo", "foo", 1},
    {TSDB_MATCH_RE, "foo", "foobar", 0},  /* anchored at the end */
    {TSDB_MATCH_RE, "foo", "xfoo", 0},    /* anchored at the start */
    {TSDB_MATCH_RE, "fo+", "foooo", 1},
    {TSDB_MATCH_RE, "a|b", "a", 1},
    {TSDB_MATCH_RE, "a|b", "b", 1},
    {TSDB_MATCH_RE, "a|b", "ab", 0},      /* anchored as a whole */
    {TSDB_MATCH_RE, "a|b", "xb", 0},
    {TSDB_MATCH_RE, "a|ab", "ab", 1},     /* backtracks into the 2nd branch */
    {TSDB_MATCH_RE, "a|", "", 1},
    {TSDB_MATCH_RE, "a|", "a", 1},
    {TSDB_MATCH_RE, ".*", "", 1},
    {TSDB_MATCH_RE, ".+", "", 0},
    {TSDB_MATCH_RE, ".*", "multi\nline", 1}, /* '.' matches newline */
    {TSDB_MATCH_RE, "caf.", "café", 1},       /* one code point, two bytes */
    {TSDB_MATCH_RE, "\\p{Han}+", "日本語", 1},
    {TSDB_MATCH_RE, "日本.", "日本語", 1},
    {TSDB_MATCH_RE, "5..", "503", 1},
    {TSDB_MATCH_RE, "5..", "5033", 0},
    {TSDB_MATCH_NRE, "foo", "foo", 0},
    {TSDB_MATCH_NRE, "foo", "foobar", 1},
    {TSDB_MATCH_NRE, "a|b", "ab", 1},
    {TSDB_MATCH_NRE, ".+", "", 1},        /* absent label matches !~".+" */
    {TSDB_MATCH_NRE, ".*", "", 0},
    {TSDB_MATCH_EQ, "café", "café", 1},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct match_case *c = &cases[i];
        struct tsdb_matcher m;
        char err[256] = "";
        assert_int_equal(tsdb_matcher_init(&m, c->type, "l", c->pattern, err, sizeof err), 0);
        int got = tsdb_matcher_matches(&m, c->value);
        if (got != c->want)
            fail_msg("case %zu: type %d pattern \"%s\" value \"%s\": got %d want %d", i,
                     c->type, c->pattern, c->value, got, c->want);
        tsdb_matcher_free(&m);
    }
}

static void test_copies_name_and_value(void **state)
{
    (void)state;
    char name[] = "job", value[] = "api|web";
    struct tsdb_matcher m;
    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_RE, name, value, NULL, 0), 0);
    memset(name, 'x', sizeof name - 1);
    memset(value, 'x', sizeof value - 1);
    assert_string_equal(m.name, "job");
    assert_string_equal(m.value, "api|web");
    assert_true(tsdb_matcher_matches(&m, "web"));
    tsdb_matcher_free(&m);
    tsdb_matcher_free(&m); /* idempotent */
}

static void test_bad_regex(void **state)
{
    (void)state;
    struct tsdb_matcher m;
    char err[256] = "";
    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_RE, "l", "a(b", err, sizeof err),
                     TSDB_E_BAD_REGEX);
    assert_non_null(strstr(err, "missing closing parenthesis"));
    assert_non_null(strstr(err, "offset 3"));
    assert_null(m.name);
    assert_null(m.re);

    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_NRE, "l", "[z-a]", err, sizeof err),
                     TSDB_E_BAD_REGEX);
    assert_non_null(strstr(err, "range out of order"));
    /* no error buffer is fine too */
    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_RE, "l", "*", NULL, 0),
                     TSDB_E_BAD_REGEX);
    /* = and != take the value literally */
    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_EQ, "l", "a(b", err, sizeof err), 0);
    assert_true(tsdb_matcher_matches(&m, "a(b"));
    tsdb_matcher_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_copies_name_and_value),
        cmocka_unit_test(test_bad_regex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
