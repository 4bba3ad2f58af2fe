/* test_relabel.c — relabeling with Prometheus' semantics: table-driven
 * cases after Prometheus' model/relabel tests and documentation (replace
 * with defaults and templates, separators, invalid targets skipped, keep /
 * drop on missing labels, hashmod from the MD5 definition, labelmap,
 * labeldrop / labelkeep, case changes, keepequal / dropequal), the checks
 * made at load time, and MD5 against the RFC 1321 vectors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relabel.h"

/* A rule as written in a test: NULL fields keep the default. */
struct trule {
    const char *action;
    const char *source;      /* comma-separated names */
    const char *separator, *target, *regex, *replacement;
    uint64_t modulus;
};

struct tcase {
    const char *what;
    const char *in;          /* "name=value|name=value" */
    struct trule rules[3];
    const char *out;         /* NULL: dropped */
};

static char *dup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static void make_rule(const struct trule *t, struct relabel_rule *r)
{
    relabel_rule_default(r);
    if (t->action)
        assert_int_equal(relabel_action_parse(t->action, &r->action), 0);
    if (t->source) {
        char *s = dup(t->source), *save = NULL;
        for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            r->source_labels = realloc(r->source_labels, (r->nsource + 1) * sizeof(char *));
            assert_non_null(r->source_labels);
            r->source_labels[r->nsource++] = dup(tok);
        }
        free(s);
    }
    if (t->separator)
        r->separator = dup(t->separator);
    if (t->target)
        r->target_label = dup(t->target);
    if (t->regex)
        r->regex = dup(t->regex);
    if (t->replacement)
        r->replacement = dup(t->replacement);
    r->modulus = t->modulus;
}

static void load_labels(struct relabel_labels *ls, const char *text)
{
    char *s = dup(text), *save = NULL;
    for (char *tok = strtok_r(s, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        assert_int_equal(relabel_labels_set(ls, tok, eq + 1), 0);
    }
    free(s);
}

static void format_labels(const struct relabel_labels *ls, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ls->len; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", i ? "|" : "", ls->v[i].name,
                              ls->v[i].value);
    assert_true(n < cap);
}

static const struct tcase cases[] = {
    {"replace with a template",
     "a=foo|b=bar|c=baz",
     {{"replace", "a", NULL, "d", "f(.*)", "ch${1}-ch${1}", 0}},
     "a=foo|b=bar|c=baz|d=choo-choo"},
    {"multiple source labels, each rule sees the previous result",
     "a=foo|b=bar|c=baz",
     {{"replace", "a,b", NULL, "a", "f(.*);(.*)r", "b${1}${2}m", 0},
      {"replace", "c,a", NULL, "d", "(b).*b(.*)ba(.*)", "$1$2$2$3", 0}},
     "a=boobam|b=bar|c=baz|d=boooom"},
    {"defaults: regex (.*), replacement $1, separator ;",
     "a=foo|b=bar",
     {{NULL, "a,b", NULL, "c", NULL, NULL, 0}},
     "a=foo|b=bar|c=foo;bar"},
    {"custom separator",
     "a=foo|b=bar",
     {{"replace", "a,b", ",", "c", "(.*),(.*)", "$2-$1", 0}},
     "a=foo|b=bar|c=bar-foo"},
    {"regex is anchored: a partial match does not replace",
     "a=foo",
     {{"replace", "a", NULL, "b", "f", "x", 0}},
     "a=foo"},
    {"replacement without references",
     "a=foo",
     {{"replace", NULL, NULL, "env", NULL, "prod", 0}},
     "a=foo|env=prod"},
    {"a replacement that expands to \"\" deletes the target",
     "a=foo|b=bar",
     {{"replace", "a", NULL, "b", "(.*)", "$2", 0}},
     "a=foo"},
    {"target label invalid after expansion: skipped",
     "a=some-name-value",
     {{"replace", "a", NULL, "${3}", "some-([^-]+)-([^,]+)", "${2}", 0}},
     "a=some-name-value"},
    {"target label from a capture group",
     "a=some-name-value",
     {{"replace", "a", NULL, "${1}", "some-([^-]+)-([^,]+)", "${2}", 0}},
     "a=some-name-value|name=value"},
    {"target label expanding to a digit-led name: skipped",
     "a=9lives",
     {{"replace", "a", NULL, "${1}", "(.*)", "x", 0}},
     "a=9lives"},
    {"$$ is a dollar, malformed references stay text",
     "a=foo",
     {{"replace", "a", NULL, "b", "(.*)", "$$1 ${1 $ $}", 0}},
     "a=foo|b=$1 ${1 $ $}"},
    {"$1x names group '1x' (absent): empty, as Go's Expand",
     "a=foo",
     {{"replace", "a", NULL, "b", "(.*)", "<$1x>${1}x", 0}},
     "a=foo|b=<>foox"},
    {"named groups",
     "a=host:9100",
     {{"replace", "a", NULL, "port", "(?P<host>[^:]+):(?P<port>.*)", "$port/${host}", 0}},
     "a=host:9100|port=9100/host"},
    {"dot matches a newline",
     "a=foo\nbar",
     {{"replace", "a", NULL, "b", "foo.(.*)", "$1", 0}},
     "a=foo\nbar|b=bar"},
    {"drop on match",
     "a=foo",
     {{"drop", "a", NULL, NULL, ".*o.*", NULL, 0}},
     NULL},
    {"drop without match keeps",
     "a=foo",
     {{"drop", "a", NULL, NULL, "no-match", NULL, 0}},
     "a=foo"},
    {"keep on match",
     "a=foo|b=bar",
     {{"keep", "a,b", NULL, NULL, "f.*;b.*", NULL, 0}},
     "a=foo|b=bar"},
    {"keep without match drops",
     "a=foo",
     {{"keep", "a", NULL, NULL, "no-match", NULL, 0}},
     NULL},
    {"a missing label is \"\": keep regex \"\" keeps",
     "a=foo",
     {{"keep", "c", NULL, NULL, "", NULL, 0}},
     "a=foo"},
    {"a missing label is \"\": keep .+ drops",
     "a=foo",
     {{"keep", "c", NULL, NULL, ".+", NULL, 0}},
     NULL},
    {"a missing label is \"\": drop .* drops",
     "a=foo",
     {{"drop", "c", NULL, NULL, NULL, NULL, 0}},
     NULL},
    {"a drop stops the later rules",
     "a=foo",
     {{"drop", "a", NULL, NULL, "foo", NULL, 0}, {"replace", NULL, NULL, "b", NULL, "x", 0}},
     NULL},
    {"action names ignore case",
     "a=foo",
     {{"DROP", "a", NULL, NULL, "foo", NULL, 0}},
     NULL},
    {"hashmod: md5(\"foo\\nbar\") mod 1000",
     "a=foo\nbar",
     {{"hashmod", "a", NULL, "b", NULL, NULL, 1000}},
     "a=foo\nbar|b=734"},
    {"hashmod of a missing label: md5(\"\") mod 1000",
     "a=foo",
     {{"hashmod", "c", NULL, "d", NULL, NULL, 1000}},
     "a=foo|d=958"},
    {"hashmod for sharding, then keep one shard",
     "__address__=10.0.0.1:9100",
     {{"hashmod", "__address__", NULL, "__tmp_hash", NULL, NULL, 8},
      {"keep", "__tmp_hash", NULL, NULL, "5", NULL, 0}},
     "__address__=10.0.0.1:9100|__tmp_hash=5"},
    {"labelmap __meta_ prefix",
     "__meta_my_bar=aaa|__meta_my_baz=bbb|__meta_other=ccc",
     {{"labelmap", NULL, NULL, NULL, "__meta_(my.*)", "${1}", 0}},
     "__meta_my_bar=aaa|__meta_my_baz=bbb|__meta_other=ccc|my_bar=aaa|my_baz=bbb"},
    {"labelmap with the default replacement and a suffix",
     "a=foo|b=bar|c=baz",
     {{"labelmap", NULL, NULL, NULL, "(b)", "${1}_new", 0}},
     "a=foo|b=bar|b_new=bar|c=baz"},
    {"labelmap overwrites an existing label",
     "a=foo|b=bar",
     {{"labelmap", NULL, NULL, NULL, "a", "b", 0}},
     "a=foo|b=foo"},
    {"labeldrop",
     "a=foo|b=bar|c=baz",
     {{"labeldrop", NULL, NULL, NULL, "(b|c)", NULL, 0}},
     "a=foo"},
    {"labeldrop is anchored",
     "ab=foo|b=bar",
     {{"labeldrop", NULL, NULL, NULL, "b", NULL, 0}},
     "ab=foo"},
    {"labelkeep",
     "a=foo|b=bar|c=baz",
     {{"labelkeep", NULL, NULL, NULL, "(b|c)", NULL, 0}},
     "b=bar|c=baz"},
    {"lowercase and uppercase",
     "foo=bAr123Foo",
     {{"lowercase", "foo", NULL, "foo_lowercase", NULL, NULL, 0},
      {"uppercase", "foo", NULL, "foo_uppercase", NULL, NULL, 0}},
     "foo=bAr123Foo|foo_lowercase=bar123foo|foo_uppercase=BAR123FOO"},
    {"keepequal keeps equal values",
     "a=foo|b=foo",
     {{"keepequal", "a", NULL, "b", NULL, NULL, 0}},
     "a=foo|b=foo"},
    {"keepequal drops different values",
     "a=foo|b=bar",
     {{"keepequal", "a", NULL, "b", NULL, NULL, 0}},
     NULL},
    {"dropequal drops equal values",
     "a=foo|b=foo",
     {{"dropequal", "a", NULL, "b", NULL, NULL, 0}},
     NULL},
    {"dropequal keeps different values",
     "a=foo|b=bar",
     {{"dropequal", "a", NULL, "b", NULL, NULL, 0}},
     "a=foo|b=bar"},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct tcase *t = &cases[i];
        struct relabel_rule rules[3];
        size_t n = 0;
        char err[256];
        for (; n < 3 && (t->rules[n].action || t->rules[n].target || t->rules[n].source); n++) {
            make_rule(&t->rules[n], &rules[n]);
            if (relabel_rule_prepare(&rules[n], err, sizeof err) != 0)
                fail_msg("case \"%s\": prepare: %s", t->what, err);
        }
        struct relabel_labels ls = {0};
        load_labels(&ls, t->in);
        int rc = relabel_apply(rules, n, &ls);
        char got[512];
        format_labels(&ls, got, sizeof got);
        if (rc != (t->out != NULL))
            fail_msg("case \"%s\": apply returned %d", t->what, rc);
        if (t->out && strcmp(got, t->out) != 0)
            fail_msg("case \"%s\":\n got  %s\n want %s", t->what, got, t->out);
        relabel_labels_free(&ls);
        for (size_t j = 0; j < n; j++)
            relabel_rule_free(&rules[j]);
    }
}

/* Each rule is refused at load with a message containing want. */
static void test_prepare_errors(void **state)
{
    (void)state;
    static const struct {
        struct trule rule;
        const char *want;
    } bad[] = {
        {{"hashmod", "a", NULL, "b", NULL, NULL, 0}, "requires non-zero modulus"},
        {{"hashmod", "a", NULL, NULL, NULL, NULL, 4}, "requires 'target_label'"},
        {{"replace", "a", NULL, NULL, NULL, NULL, 0}, "requires 'target_label'"},
        {{"replace", "a", NULL, "a-b", NULL, NULL, 0}, "\"a-b\" is invalid 'target_label'"},
        {{"replace", "a", NULL, "-${1}", NULL, NULL, 0}, "is invalid 'target_label'"},
        {{"replace", "a", NULL, "b", "(unclosed", NULL, 0}, "missing closing parenthesis"},
        {{"keep", "a-b", NULL, NULL, NULL, NULL, 0}, "\"a-b\" is not a valid label name"},
        {{"lowercase", "a", NULL, "b", NULL, "x", 0}, "'replacement' can not be set"},
        {{"labelmap", NULL, NULL, NULL, NULL, "-$1", 0}, "is invalid 'replacement'"},
        {{"labeldrop", "a", NULL, NULL, "a", NULL, 0}, "requires only 'regex'"},
        {{"labelkeep", NULL, NULL, "b", "a", NULL, 0}, "requires only 'regex'"},
        {{"keepequal", "a", NULL, "b", "x", NULL, 0}, "requires only 'source_labels'"},
        {{"dropequal", "a", NULL, NULL, NULL, NULL, 0}, "requires 'target_label'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct relabel_rule r;
        char err[256] = "";
        make_rule(&bad[i].rule, &r);
        assert_int_equal(relabel_rule_prepare(&r, err, sizeof err), -EINVAL);
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].want);
        relabel_rule_free(&r);
    }
    enum relabel_action a;
    assert_int_equal(relabel_action_parse("rewrite", &a), -EINVAL);
    assert_string_equal(relabel_action_name(RELABEL_LABELKEEP), "labelkeep");
}

static void test_copy(void **state)
{
    (void)state;
    struct trule t = {"replace", "a,b", "+", "c", "(.*)\\+(.*)", "$2$1", 0};
    struct relabel_rule r, c;
    char err[256];
    make_rule(&t, &r);
    assert_int_equal(relabel_rule_prepare(&r, err, sizeof err), 0);
    assert_int_equal(relabel_rule_copy(&c, &r), 0);
    relabel_rule_free(&r);
    struct relabel_labels ls = {0};
    load_labels(&ls, "a=x|b=y");
    assert_int_equal(relabel_apply(&c, 1, &ls), 1);
    assert_string_equal(relabel_labels_get(&ls, "c"), "yx");
    assert_string_equal(relabel_labels_get(&ls, "missing"), "");
    relabel_labels_free(&ls);
    relabel_rule_free(&c);
    /* A default rule copies without allocating its strings. */
    relabel_rule_default(&r);
    assert_int_equal(relabel_rule_copy(&c, &r), 0);
    assert_ptr_equal(c.regex, r.regex);
    relabel_rule_free(&c);
}

static void test_labels(void **state)
{
    (void)state;
    struct relabel_labels ls = {0};
    char got[4096];
    for (int i = 40; i >= 0; i--) {
        char name[16];
        snprintf(name, sizeof name, "l%02d", i);
        assert_int_equal(relabel_labels_set(&ls, name, "v"), 0);
    }
    assert_int_equal(ls.len, 41);
    for (size_t i = 1; i < ls.len; i++)
        assert_true(strcmp(ls.v[i - 1].name, ls.v[i].name) < 0);
    assert_int_equal(relabel_labels_set(&ls, "l07", ""), 0);
    assert_int_equal(relabel_labels_set(&ls, "absent", ""), 0);
    assert_int_equal(ls.len, 40);
    relabel_labels_clear(&ls);
    format_labels(&ls, got, sizeof got);
    assert_string_equal(got, "");
    relabel_labels_free(&ls);
}

static void test_md5(void **state)
{
    (void)state;
    static const struct {
        const char *in, *hex;
    } rfc1321[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"1234567890123456789012345678901234567890123456789012345678901234567890123456"
         "7890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    /* Padding boundaries: n times 'a' (digests from a reference MD5). */
    static const struct {
        size_t n;
        const char *hex;
    } lengths[] = {
        {55, "ef1772b6dff9a122358552954ad0df65"},  {56, "3b0c8ac703f828b04c6c197006d17218"},
        {63, "b06521f39153d618550606be297466d5"},  {64, "014842d480b571495a4a0363793f7367"},
        {65, "c743a45e0d2e6a95cb859adae0248435"},  {119, "8a7bd0732ed6a28ce75f6dabc90e1613"},
        {120, "5f61c0ccad4cac44c75ff505e1f1e537"},
    };
    unsigned char sum[16];
    char hex[33];
    for (size_t i = 0; i < sizeof rfc1321 / sizeof rfc1321[0]; i++) {
        relabel_md5(rfc1321[i].in, strlen(rfc1321[i].in), sum);
        for (int j = 0; j < 16; j++)
            snprintf(hex + 2 * j, 3, "%02x", sum[j]);
        assert_string_equal(hex, rfc1321[i].hex);
    }
    char as[128];
    memset(as, 'a', sizeof as);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        relabel_md5(as, lengths[i].n, sum);
        for (int j = 0; j < 16; j++)
            snprintf(hex + 2 * j, 3, "%02x", sum[j]);
        assert_string_equal(hex, lengths[i].hex);
    }
    /* hashmod by hand: md5("") = d41d8cd98f00b204 e9800998ecf8427e; the last
     * 8 bytes big-endian are 16825458760271544958, which mod 1000 is 958
     * (the "hashmod of a missing label" case above). */
    relabel_md5("", 0, sum);
    uint64_t h = 0;
    for (int i = 8; i < 16; i++)
        h = h << 8 | sum[i];
    assert_true(h == 16825458760271544958ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_prepare_errors),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_md5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
