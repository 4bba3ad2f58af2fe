/* test_tsdb_iter.c — series iterators decode in batches: a series spread
 * over blocks and the head reads back whole and in order whatever the
 * batch size, and tsdb_iter_seek lands on the first sample at or after a
 * time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tsdb.h"

#define NBLOCK 6000 /* samples cut into blocks, one per second from t=0 */
#define NHEAD 300   /* then these in the head */

struct fixture {
    char dir[64];
    struct tsdb *db;
    struct tsdb_snapshot *snap;
    struct tsdb_matcher m;
};

static double value_at(int64_t t)
{
    return (double)(t / 1000) * 0.5;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_tsdb_iter.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.future_window_ms = 0;
    o.retention_ms = 0;
    o.block_range_ms = 3600 * 1000;
    assert_int_equal(tsdb_open(f->dir, &o, &f->db, NULL), 0);
    struct tsdb_label l[2] = {{"__name__", "up"}, {"job", "a"}};
    struct tsdb_labels ls = {2, l};
    tsdb_ref ref;
    assert_int_equal(tsdb_series_ref(f->db, &ls, &ref), 0);
    for (int64_t i = 0; i < NBLOCK; i++)
        assert_int_equal(tsdb_append(f->db, ref, i * 1000, value_at(i * 1000)), 0);
    assert_int_equal(tsdb_commit(f->db), 0);
    assert_int_equal(tsdb_maintain(f->db, 1), 0);
    for (int64_t i = NBLOCK; i < NBLOCK + NHEAD; i++)
        assert_int_equal(tsdb_append(f->db, ref, i * 1000, value_at(i * 1000)), 0);
    assert_int_equal(tsdb_commit(f->db), 0);
    struct tsdb_stats st;
    tsdb_stats(f->db, &st);
    assert_true(st.blocks >= 1); /* the data really is in blocks and head */
    assert_true(st.head_samples >= NHEAD);
    assert_int_equal(tsdb_snapshot_open(f->db, &f->snap), 0);
    assert_int_equal(tsdb_matcher_init(&f->m, TSDB_MATCH_EQ, "job", "a", NULL, 0), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tsdb_matcher_free(&f->m);
    tsdb_snapshot_close(f->snap);
    tsdb_close(f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Every sample in [mint, maxt], in order, for any batch size. */
static void test_batches_read_everything(void **state)
{
    struct fixture *f = *state;
    static const size_t batches[] = {1, 7, 100, 1024, 100000};
    static const int64_t ranges[][2] = {{INT64_MIN, INT64_MAX}, {1234567, 6100000}};
    for (size_t r = 0; r < 2; r++) {
        struct tsdb_series_set *set;
        assert_int_equal(tsdb_select(f->snap, &f->m, 1, ranges[r][0], ranges[r][1], &set), 0);
        assert_int_equal(tsdb_series_set_len(set), 1);
        for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
            struct tsdb_iter *it;
            assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
            tsdb_iter_set_batch(it, batches[b]);
            int64_t want = ranges[r][0] < 0 ? 0 : 1235000, t;
            int64_t last = ranges[r][1] > (NBLOCK + NHEAD) * 1000 ? (NBLOCK + NHEAD - 1) * 1000
                                                                   : 6100000;
            double v;
            int rc;
            while ((rc = tsdb_iter_next(it, &t, &v)) == 1) {
                assert_int_equal(t, want);
                assert_true(v == value_at(t));
                want += 1000;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(want, last + 1000);
            tsdb_iter_free(it);
        }
        tsdb_series_set_free(set);
    }
}

static void test_seek(void **state)
{
    struct fixture *f = *state;
    struct tsdb_series_set *set;
    assert_int_equal(tsdb_select(f->snap, &f->m, 1, INT64_MIN, INT64_MAX, &set), 0);
    struct tsdb_iter *it;
    assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
    tsdb_iter_set_batch(it, 50);
    int64_t t;
    double v;
    assert_int_equal(tsdb_iter_seek(it, 2500500), 1); /* between samples */
    assert_int_equal(tsdb_iter_next(it, &t, &v), 1);
    assert_int_equal(t, 2501000);
    assert_int_equal(tsdb_iter_seek(it, 1000), 1); /* never backwards */
    assert_int_equal(tsdb_iter_next(it, &t, &v), 1);
    assert_int_equal(t, 2502000);
    assert_int_equal(tsdb_iter_seek(it, 6050000), 1); /* into the head */
    assert_int_equal(tsdb_iter_next(it, &t, &v), 1);
    assert_int_equal(t, 6050000);
    assert_true(v == value_at(t));
    assert_int_equal(tsdb_iter_seek(it, (NBLOCK + NHEAD) * 1000), 0); /* past the end */
    assert_int_equal(tsdb_iter_next(it, &t, &v), 0);
    tsdb_iter_free(it);
    tsdb_series_set_free(set);
}

/* Bulk reading sees the same samples as tsdb_iter_next, and mixes with it. */
static void test_batch(void **state)
{
    struct fixture *f = *state;
    struct tsdb_series_set *set;
    assert_int_equal(tsdb_select(f->snap, &f->m, 1, INT64_MIN, INT64_MAX, &set), 0);
    struct tsdb_iter *it;
    assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
    tsdb_iter_set_batch(it, 64);
    int64_t want = 0, t;
    double x;
    for (int round = 0;; round++) {
        const struct tsdb_sample *s;
        size_t n;
        assert_int_equal(tsdb_iter_batch(it, &s, &n), 0);
        if (!n)
            break;
        size_t take = round % 2 ? n : (n + 1) / 2;
        for (size_t i = 0; i < take; i++, want += 1000) {
            assert_int_equal(s[i].ts_ms, want);
            assert_true(s[i].value == value_at(want));
        }
        tsdb_iter_consume(it, take);
        if (round % 3 == 0 && tsdb_iter_next(it, &t, &x) == 1) {
            assert_int_equal(t, want);
            want += 1000;
        }
    }
    assert_int_equal(want, (NBLOCK + NHEAD) * 1000);
    tsdb_iter_free(it);
    tsdb_series_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches_read_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
