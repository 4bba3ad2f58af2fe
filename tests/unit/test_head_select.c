/* test_head_select.c — selecting head series by label matchers returns
 * exactly the series a brute-force check of every series' labels accepts,
 * for equality, inequality and regex matchers, alone and combined, over
 * postings of very different sizes (the select takes different paths for
 * few and for many candidates), and with absent labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tsdb.h"

#define NSERIES 3000

struct lbl {
    char job[8], idx[8], mod[8], odd[8];
};

static struct lbl lbls[NSERIES];

/* Labels of series i: job a|b, idx = i, mod = i % 10, and `odd` only on
 * odd series. */
static size_t labels_of(size_t i, struct tsdb_label *l)
{
    struct lbl *b = &lbls[i];
    snprintf(b->job, sizeof b->job, "%s", i % 2 ? "a" : "b");
    snprintf(b->idx, sizeof b->idx, "%zu", i);
    snprintf(b->mod, sizeof b->mod, "%zu", i % 10);
    snprintf(b->odd, sizeof b->odd, "y");
    size_t n = 0;
    l[n++] = (struct tsdb_label){"__name__", "m"};
    l[n++] = (struct tsdb_label){"idx", b->idx};
    l[n++] = (struct tsdb_label){"job", b->job};
    l[n++] = (struct tsdb_label){"mod", b->mod};
    if (i % 2)
        l[n++] = (struct tsdb_label){"odd", b->odd};
    return n;
}

static const char *value_of(const struct tsdb_label *l, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].name, name) == 0)
            return l[i].value;
    return "";
}

struct spec {
    enum tsdb_match_type type;
    const char *name, *value;
};

static void check(struct tsdb *db, const struct spec *sp, size_t nm)
{
    struct tsdb_matcher m[4];
    for (size_t i = 0; i < nm; i++)
        assert_int_equal(tsdb_matcher_init(&m[i], sp[i].type, sp[i].name, sp[i].value, NULL, 0),
                         0);
    size_t want = 0;
    for (size_t s = 0; s < NSERIES; s++) {
        struct tsdb_label l[5];
        size_t n = labels_of(s, l);
        int ok = 1;
        for (size_t i = 0; i < nm && ok; i++)
            ok = tsdb_matcher_matches(&m[i], value_of(l, n, sp[i].name));
        want += ok;
    }
    struct tsdb_snapshot *snap;
    struct tsdb_series_set *set;
    assert_int_equal(tsdb_snapshot_open(db, &snap), 0);
    assert_int_equal(tsdb_select(snap, m, nm, 0, 1000, &set), 0);
    size_t got = tsdb_series_set_len(set);
    for (size_t i = 0; i < got; i++) {
        const struct tsdb_labels *ls = tsdb_series_set_labels(set, i);
        for (size_t k = 0; k < nm; k++)
            if (!tsdb_matcher_matches(&m[k], value_of(ls->v, ls->len, sp[k].name)))
                fail_msg("matcher %zu (%s) rejects a selected series", k, sp[k].name);
    }
    if (got != want)
        fail_msg("%zu matchers starting %s: got %zu series, want %zu", nm, sp[0].name, got, want);
    tsdb_series_set_free(set);
    tsdb_snapshot_close(snap);
    for (size_t i = 0; i < nm; i++)
        tsdb_matcher_free(&m[i]);
}

static void test_select_matches_brute_force(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_head_select.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.future_window_ms = 0;
    o.retention_ms = 0;
    struct tsdb *db;
    assert_int_equal(tsdb_open(dir, &o, &db, NULL), 0);
    for (size_t s = 0; s < NSERIES; s++) {
        struct tsdb_label l[5];
        struct tsdb_labels ls = {labels_of(s, l), l};
        tsdb_ref ref;
        assert_int_equal(tsdb_series_ref(db, &ls, &ref), 0);
        assert_int_equal(tsdb_append(db, ref, 500, (double)s), 0);
    }
    assert_int_equal(tsdb_commit(db), 0);

    enum tsdb_match_type EQ = TSDB_MATCH_EQ, NE = TSDB_MATCH_NE, RE = TSDB_MATCH_RE,
                         NRE = TSDB_MATCH_NRE;
    const struct spec cases[][4] = {
        {{EQ, "__name__", "m"}},
        {{EQ, "__name__", "m"}, {EQ, "idx", "123"}},                   /* few candidates */
        {{EQ, "__name__", "m"}, {EQ, "job", "a"}, {EQ, "mod", "3"}},   /* intersections */
        {{EQ, "job", "a"}, {EQ, "mod", "4"}},                          /* disjoint: none */
        {{EQ, "idx", "7"}, {RE, "mod", "[0-7]"}},                      /* values, few */
        {{EQ, "job", "b"}, {RE, "mod", "[0-7]"}},                      /* postings, many */
        {{EQ, "job", "b"}, {RE, "idx", "1.*"}},                        /* many values */
        {{EQ, "__name__", "m"}, {NE, "mod", "3"}},                     /* accepts "" */
        {{EQ, "idx", "11"}, {NE, "odd", "y"}},                         /* absent label */
        {{EQ, "idx", "12"}, {NE, "odd", "y"}},
        {{EQ, "job", "a"}, {NRE, "idx", "1.*|2.*"}},
        {{RE, "idx", "2.."}, {EQ, "odd", ""}},                         /* label absent */
        {{RE, "job", "a|b"}, {RE, "mod", "1|2"}, {NRE, "idx", ".*5"}},
        {{NE, "job", "a"}},                                            /* only "" accepting */
        {{EQ, "missing", ""}, {EQ, "mod", "9"}},
        {{EQ, "idx", "nope"}, {RE, "mod", ".*"}},                      /* empty seed */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t nm = 0;
        while (nm < 4 && cases[c][nm].name)
            nm++;
        check(db, cases[c], nm);
    }
    assert_int_equal(tsdb_close(db), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_matches_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
