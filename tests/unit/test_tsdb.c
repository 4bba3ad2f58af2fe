/* test_tsdb.c — the store end to end on real files: appends, commits and
 * queries across the head and blocks, out-of-order and duplicate samples,
 * block cuts, compaction, retention, WAL replay, and snapshot isolation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tsdb.h"

#define HOUR (3600 * 1000LL)

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb, (void)f, (void)ftw;
    return remove(p);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/vigil-test-tsdb-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmdir_all(char *d)
{
    nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static struct tsdb *open_db(const char *dir, struct tsdb_options *o)
{
    struct tsdb_options def;
    if (!o) {
        tsdb_options_default(&def);
        o = &def;
    }
    struct tsdb *db;
    assert_int_equal(tsdb_open(dir, o, &db, NULL), 0);
    return db;
}

static tsdb_ref ref_of(struct tsdb *db, const char *name, const char *k, const char *v)
{
    struct tsdb_label l[2] = {{"__name__", name}, {k, v}};
    struct tsdb_labels ls = {k ? 2 : 1, l};
    tsdb_ref r;
    assert_int_equal(tsdb_series_ref(db, &ls, &r), 0);
    return r;
}

/* Reads every sample of the series selected by name (and k=v) in [mint,
 * maxt]; asserts exactly one series matched. @return sample count. */
static size_t read_series(struct tsdb *db, const char *name, const char *k, const char *v,
                          int64_t mint, int64_t maxt, int64_t *ts, double *vals, size_t cap)
{
    struct tsdb_snapshot *s;
    struct tsdb_matcher m[2];
    assert_int_equal(tsdb_snapshot_open(db, &s), 0);
    assert_int_equal(tsdb_matcher_init(&m[0], TSDB_MATCH_EQ, "__name__", name, NULL, 0), 0);
    if (k)
        assert_int_equal(tsdb_matcher_init(&m[1], TSDB_MATCH_EQ, k, v, NULL, 0), 0);
    struct tsdb_series_set *set;
    assert_int_equal(tsdb_select(s, m, k ? 2 : 1, mint, maxt, &set), 0);
    size_t n = 0;
    if (tsdb_series_set_len(set) > 0) {
        assert_int_equal(tsdb_series_set_len(set), 1);
        struct tsdb_iter *it;
        assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
        int64_t t;
        double x;
        while (tsdb_iter_next(it, &t, &x) == 1) {
            assert_true(n < cap);
            ts[n] = t;
            vals[n++] = x;
        }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    tsdb_matcher_free(&m[0]);
    if (k)
        tsdb_matcher_free(&m[1]);
    tsdb_snapshot_close(s);
    return n;
}

static void test_head_append_and_read(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb *db = open_db(dir, NULL);
    tsdb_ref a = ref_of(db, "http_requests_total", "code", "200");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(tsdb_append(db, a, 1000000 + i * 15000LL, i * 1.5), 0);
    /* not visible before commit */
    int64_t ts[2000];
    double v[2000];
    assert_int_equal(read_series(db, "http_requests_total", NULL, NULL, 0, INT64_MAX, ts, v, 2000), 0);
    assert_int_equal(tsdb_commit(db), 0);
    size_t n = read_series(db, "http_requests_total", "code", "200", 0, INT64_MAX, ts, v, 2000);
    assert_int_equal(n, 1000);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ts[i], 1000000 + i * 15000LL);
        assert_true(v[i] == i * 1.5);
    }
    /* a time window returns exactly the samples inside it, bounds included */
    n = read_series(db, "http_requests_total", NULL, NULL, 1000000 + 15000, 1000000 + 45000, ts, v,
                    2000);
    assert_int_equal(n, 3);
    assert_int_equal(ts[0], 1015000);
    assert_int_equal(ts[2], 1045000);
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

static void test_stale_marker_and_specials(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb *db = open_db(dir, NULL);
    tsdb_ref a = ref_of(db, "up", "job", "blog");
    double vals[] = {1, INFINITY, -INFINITY, -0.0, NAN, tsdb_stale_nan(), 1e308, 5e-324};
    for (int i = 0; i < 8; i++)
        assert_int_equal(tsdb_append(db, a, 1000 * (i + 1), vals[i]), 0);
    assert_int_equal(tsdb_commit(db), 0);
    int64_t ts[16];
    double v[16];
    for (int pass = 0; pass < 2; pass++) {
        size_t n = read_series(db, "up", NULL, NULL, 0, INT64_MAX, ts, v, 16);
        assert_int_equal(n, 8);
        for (int i = 0; i < 8; i++)
            assert_memory_equal(&v[i], &vals[i], sizeof(double));
        assert_true(tsdb_is_stale(v[5]));
        assert_false(tsdb_is_stale(v[4]));
        /* second pass: from a block */
        assert_int_equal(tsdb_maintain(db, 1), 0);
    }
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

static void test_out_of_order_and_duplicates(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.ooo_window_ms = 60000;
    struct tsdb *db = open_db(dir, &o);
    tsdb_ref a = ref_of(db, "m", NULL, NULL);
    assert_int_equal(tsdb_append(db, a, 100000, 1), 0);
    assert_int_equal(tsdb_append(db, a, 200000, 2), 0);
    assert_int_equal(tsdb_commit(db), 0);
    /* inside the window: accepted and sorted in */
    assert_int_equal(tsdb_append(db, a, 150000, 1.5), 0);
    /* duplicate timestamp: last write wins */
    assert_int_equal(tsdb_append(db, a, 200000, 20), 0);
    assert_int_equal(tsdb_append(db, a, 200000, 21), 0);
    /* too old */
    assert_int_equal(tsdb_append(db, a, 100000, 9), TSDB_E_TOO_OLD);
    assert_int_equal(tsdb_commit(db), 0);
    int64_t ts[8];
    double v[8];
    size_t n = read_series(db, "m", NULL, NULL, 0, INT64_MAX, ts, v, 8);
    assert_int_equal(n, 3);
    assert_int_equal(ts[1], 150000);
    assert_true(v[1] == 1.5);
    assert_int_equal(ts[2], 200000);
    assert_true(v[2] == 21);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.rejected_too_old, 1);
    /* the same after a restart (WAL replay keeps the write order) */
    assert_int_equal(tsdb_close(db), 0);
    db = open_db(dir, &o);
    n = read_series(db, "m", NULL, NULL, 0, INT64_MAX, ts, v, 8);
    assert_int_equal(n, 3);
    assert_true(v[2] == 21);
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

static void test_invalid_labels(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb *db = open_db(dir, NULL);
    struct {
        struct tsdb_label l[2];
        size_t n;
        int want;
    } cases[] = {
        {{{"__name__", "ok_name"}, {"job", "x"}}, 2, 0},
        {{{"__name__", "1bad"}}, 1, TSDB_E_BAD_NAME},
        {{{"__name__", "m"}, {"bad-name", "x"}}, 2, TSDB_E_BAD_NAME},
        {{{"__name__", "m"}, {"job", "\xff\xfe"}}, 2, TSDB_E_BAD_VALUE},
        {{{"job", "x"}}, 1, TSDB_E_NO_NAME},
        {{{"__name__", "m"}, {"__name__", "n"}}, 2, TSDB_E_DUP_LABEL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tsdb_labels ls = {cases[i].n, cases[i].l};
        tsdb_ref r;
        assert_int_equal(tsdb_series_ref(db, &ls, &r), cases[i].want);
    }
    /* label order does not matter; empty values are dropped */
    struct tsdb_label l1[] = {{"b", "2"}, {"__name__", "m"}, {"a", "1"}, {"c", ""}};
    struct tsdb_label l2[] = {{"__name__", "m"}, {"a", "1"}, {"b", "2"}};
    struct tsdb_labels ls1 = {4, l1}, ls2 = {3, l2};
    tsdb_ref r1, r2;
    assert_int_equal(tsdb_series_ref(db, &ls1, &r1), 0);
    assert_int_equal(tsdb_series_ref(db, &ls2, &r2), 0);
    assert_int_equal(r1, r2);
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

/* 4 series x 30 h at 1 min; cut blocks, compact, query across everything. */
static void test_blocks_compaction_and_queries(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb *db = open_db(dir, NULL);
    tsdb_ref r[4];
    const char *inst[4] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        r[i] = ref_of(db, "node_cpu_seconds_total", "instance", inst[i]);
    int64_t t0 = 1700000000000LL;
    int total = 30 * 60;
    for (int k = 0; k < total; k++) {
        for (int i = 0; i < 4; i++)
            assert_int_equal(tsdb_append(db, r[i], t0 + k * 60000LL, k * 0.25 + i), 0);
        if (k % 100 == 99) {
            assert_int_equal(tsdb_commit(db), 0);
            assert_int_equal(tsdb_maintain(db, 0), 0);
        }
    }
    assert_int_equal(tsdb_commit(db), 0);
    assert_int_equal(tsdb_maintain(db, 0), 0);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_true(st.blocks >= 2);       /* cut and compacted */
    assert_true(st.compactions >= 1);  /* 2h blocks merged into 6h */
    assert_true(st.head_samples > 0);  /* the newest hours stay in the head */

    int64_t *ts = malloc(total * sizeof *ts);
    double *v = malloc(total * sizeof *v);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 4; i++) {
            size_t n = read_series(db, "node_cpu_seconds_total", "instance", inst[i], 0,
                                   INT64_MAX, ts, v, total);
            assert_int_equal(n, total);
            for (int k = 0; k < total; k++) {
                assert_int_equal(ts[k], t0 + k * 60000LL);
                assert_true(v[k] == k * 0.25 + i);
            }
        }
        /* a window across a block boundary and the head */
        size_t n = read_series(db, "node_cpu_seconds_total", "instance", "c", t0 + 5 * HOUR,
                               t0 + 29 * HOUR, ts, v, total);
        assert_int_equal(n, 24 * 60 + 1);
        /* second pass: after a restart (blocks + WAL replay) */
        assert_int_equal(tsdb_close(db), 0);
        db = open_db(dir, NULL);
    }
    /* regex and negative matchers over all series */
    struct tsdb_snapshot *s;
    struct tsdb_matcher m[2];
    struct tsdb_series_set *set;
    assert_int_equal(tsdb_snapshot_open(db, &s), 0);
    assert_int_equal(tsdb_matcher_init(&m[0], TSDB_MATCH_RE, "instance", "a|c", NULL, 0), 0);
    assert_int_equal(tsdb_matcher_init(&m[1], TSDB_MATCH_NE, "instance", "c", NULL, 0), 0);
    assert_int_equal(tsdb_select(s, m, 1, 0, INT64_MAX, &set), 0);
    assert_int_equal(tsdb_series_set_len(set), 2);
    tsdb_series_set_free(set);
    assert_int_equal(tsdb_select(s, m, 2, 0, INT64_MAX, &set), 0);
    assert_int_equal(tsdb_series_set_len(set), 1);
    assert_string_equal(tsdb_series_set_labels(set, 0)->v[1].value, "a");
    tsdb_series_set_free(set);
    struct tsdb_strings vals;
    assert_int_equal(tsdb_label_values(s, "instance", NULL, 0, 0, INT64_MAX, &vals), 0);
    assert_int_equal(vals.len, 4);
    assert_string_equal(vals.v[3], "d");
    tsdb_strings_free(&vals);
    tsdb_matcher_free(&m[0]);
    tsdb_matcher_free(&m[1]);
    tsdb_snapshot_close(s);
    /* samples older than the newest block are out of bounds */
    assert_int_equal(tsdb_append(db, r[0], t0, 1), TSDB_E_OUT_OF_BOUNDS);
    assert_int_equal(tsdb_close(db), 0);
    free(ts);
    free(v);
    rmdir_all(dir);
}

static int count_blocks(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, "b-", 2) == 0;
    closedir(d);
    return n;
}

static void test_retention(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.retention_ms = 10 * HOUR;
    o.max_block_range_ms = 2 * HOUR; /* no compaction: one block per 2 h */
    struct tsdb *db = open_db(dir, &o);
    tsdb_ref a = ref_of(db, "g", NULL, NULL);
    for (int k = 0; k < 24 * 60; k++) {
        assert_int_equal(tsdb_append(db, a, k * 60000LL, k), 0);
        if (k % 60 == 59)
            assert_int_equal(tsdb_maintain(db, 0), 0);
    }
    assert_int_equal(tsdb_maintain(db, 1), 0);
    /* 24 h of data, 10 h kept: blocks ending more than 10 h before the
     * newest sample are gone, whole */
    int64_t ts[24 * 60];
    double v[24 * 60];
    size_t n = read_series(db, "g", NULL, NULL, 0, INT64_MAX, ts, v, 24 * 60);
    assert_true(n >= 10 * 60 && n <= 12 * 60);
    assert_int_equal(ts[0] % (2 * HOUR), 0);
    assert_int_equal(ts[n - 1], (24 * 60 - 1) * 60000LL);
    assert_int_equal(count_blocks(dir), (int)((n + 119) / 120));
    /* size retention: cap the store at about one block */
    assert_int_equal(tsdb_close(db), 0);
    o.retention_bytes = 1;
    db = open_db(dir, &o);
    assert_int_equal(tsdb_maintain(db, 0), 0);
    assert_int_equal(count_blocks(dir), 0);
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

/* A writer appends rounds (one sample to every series per commit) and runs
 * maintenance while a reader holds a snapshot: every series shows the same
 * number of samples, twice over the snapshot's life, in order. */
struct writer_arg {
    struct tsdb *db;
    tsdb_ref refs[50];
    int rounds;
    int64_t t;
};

static void *writer_main(void *p)
{
    struct writer_arg *w = p;
    for (int k = 0; k < w->rounds; k++) {
        w->t += 1000;
        for (int i = 0; i < 50; i++)
            tsdb_append(w->db, w->refs[i], w->t, k);
        tsdb_commit(w->db);
        if (k % 100 == 99)
            tsdb_maintain(w->db, 0); /* packs sealed chunks under the readers */
    }
    return NULL;
}

static void test_snapshot_isolation(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.wal_fsync = TSDB_FSYNC_NEVER;
    struct tsdb *db = open_db(dir, &o);
    struct writer_arg w = {.db = db, .rounds = 3000, .t = 0};
    char name[16];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "%d", i);
        w.refs[i] = ref_of(db, "iso", "i", name);
    }
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    struct tsdb_matcher m;
    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_EQ, "__name__", "iso", NULL, 0), 0);
    int checks = 0;
    for (int round = 0; round < 200; round++) {
        struct tsdb_snapshot *s;
        struct tsdb_series_set *set;
        assert_int_equal(tsdb_snapshot_open(db, &s), 0);
        size_t expect = (size_t)-1;
        for (int pass = 0; pass < 2; pass++) {
            assert_int_equal(tsdb_select(s, &m, 1, 0, INT64_MAX, &set), 0);
            for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
                struct tsdb_iter *it;
                int64_t t, last = -1;
                double x;
                size_t n = 0;
                assert_int_equal(tsdb_iter_open(set, i, &it), 0);
                while (tsdb_iter_next(it, &t, &x) == 1) {
                    assert_true(t > last);
                    last = t;
                    n++;
                }
                tsdb_iter_free(it);
                if (expect == (size_t)-1)
                    expect = n;
                assert_int_equal(n, expect);
                checks++;
            }
            tsdb_series_set_free(set);
            usleep(200);
        }
        tsdb_snapshot_close(s);
    }
    pthread_join(th, NULL);
    assert_true(checks > 0);
    tsdb_matcher_free(&m);
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

/* Timestamps far from now: the future is bounded by the wall clock, int64's
 * ends are refused, and a sample from 1970 next to today's does not make a
 * block cut walk 28,000 empty 2 h ranges. */
static void test_time_bounds(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb *db = open_db(dir, NULL);
    tsdb_ref a = ref_of(db, "t", NULL, NULL), b = ref_of(db, "old", NULL, NULL);
    int64_t now = (int64_t)time(NULL) * 1000;
    assert_int_equal(tsdb_append(db, a, now + 2 * HOUR, 1), TSDB_E_TOO_NEW);
    assert_int_equal(tsdb_append(db, a, INT64_MAX, 1), TSDB_E_OUT_OF_BOUNDS);
    assert_int_equal(tsdb_append(db, a, INT64_MIN, 1), TSDB_E_OUT_OF_BOUNDS);
    assert_int_equal(tsdb_append(db, a, now - 4 * HOUR, 1), 0);
    assert_int_equal(tsdb_append(db, a, now, 2), 0);
    assert_int_equal(tsdb_append(db, b, 1000, 3), 0);
    assert_int_equal(tsdb_commit(db), 0);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.rejected_too_new, 1);
    assert_int_equal(st.rejected_out_of_bounds, 2);
    time_t t0 = time(NULL);
    assert_int_equal(tsdb_maintain(db, 0), 0);
    assert_true(time(NULL) - t0 < 5);
    /* blocks only where there was data: 1970 (then deleted by the 15 d
     * retention, counted from the newest sample) and four hours ago */
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks_deleted, 1);
    assert_true(count_blocks(dir) <= 2);
    int64_t ts[4];
    double v[4];
    assert_int_equal(read_series(db, "old", NULL, NULL, 0, INT64_MAX, ts, v, 4), 0);
    assert_int_equal(read_series(db, "t", NULL, NULL, 0, INT64_MAX, ts, v, 4), 2);
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

/* A long head read through windows of every size and alignment returns
 * exactly its samples in the window: in-order chunks before, inside and
 * after it, with out-of-order samples filling gaps and overriding values,
 * before and after maintenance packs the sealed chunks. */
#define WIN_N 1500 /* samples, one per second from t=0 */

static double win_value(int64_t i)
{
    return i % 7 == 3 ? (double)i + 0.5 : i % 50 == 0 ? (double)-i : (double)i;
}

static void check_windows(struct tsdb *db)
{
    static const int64_t lens[] = {0, 1999, 10000000};
    static int64_t ts[WIN_N];
    static double v[WIN_N];
    for (int64_t start = -1000; start <= WIN_N * 1000; start += 1000) {
        for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
            int64_t mint = start, maxt = start + lens[l];
            size_t n = read_series(db, "w", NULL, NULL, mint, maxt, ts, v, WIN_N), k = 0;
            for (int64_t i = 0; i < WIN_N; i++) {
                if (i * 1000 < mint || i * 1000 > maxt)
                    continue;
                assert_true(k < n);
                assert_int_equal(ts[k], i * 1000);
                assert_true(v[k] == win_value(i));
                k++;
            }
            assert_int_equal(n, k);
        }
    }
}

static void test_head_windows(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.future_window_ms = 0;
    o.retention_ms = 0;
    o.ooo_window_ms = HOUR;
    struct tsdb *db = open_db(dir, &o);
    tsdb_ref a = ref_of(db, "w", NULL, NULL);
    for (int64_t i = 0; i < WIN_N; i++)
        if (i % 7 != 3)
            assert_int_equal(tsdb_append(db, a, i * 1000, i % 50 == 0 ? 0 : (double)i), 0);
    assert_int_equal(tsdb_commit(db), 0);
    for (int64_t i = 0; i < WIN_N; i++)
        if (i % 7 == 3 || i % 50 == 0)
            assert_int_equal(tsdb_append(db, a, i * 1000, win_value(i)), 0);
    assert_int_equal(tsdb_commit(db), 0);
    check_windows(db);
    assert_int_equal(tsdb_maintain(db, 0), 0);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 0); /* still all in the head */
    check_windows(db);
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

static void test_lock(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb *db = open_db(dir, NULL), *db2;
    struct tsdb_options o;
    tsdb_options_default(&o);
    assert_int_equal(tsdb_open(dir, &o, &db2, NULL), TSDB_E_LOCKED);
    o.read_only = 1;
    assert_int_equal(tsdb_open(dir, &o, &db2, NULL), 0);
    assert_int_equal(tsdb_close(db2), 0);
    assert_int_equal(tsdb_close(db), 0);
    rmdir_all(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_append_and_read),
        cmocka_unit_test(test_stale_marker_and_specials),
        cmocka_unit_test(test_out_of_order_and_duplicates),
        cmocka_unit_test(test_invalid_labels),
        cmocka_unit_test(test_blocks_compaction_and_queries),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_snapshot_isolation),
        cmocka_unit_test(test_time_bounds),
        cmocka_unit_test(test_head_windows),
        cmocka_unit_test(test_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
