/* test_statsd_agg.c — statsd aggregation against the reference statsd
 * daemon's documented behaviour (sample rates, counters, gauge deltas,
 * timers, sets) and statsd_exporter's mapping, read back from a real store
 * the way a PromQL user sees it: exact series names, labels and values. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "statsd.h"
#include "tsdb.h"

#define SEC 1000LL
#define T0 1700000000000LL   /* a flush time; later flushes are T0 + n * 10 s */

struct fx {
    char *dir;
    struct tsdb *db;
    struct statsd_agg *agg;
    struct statsd_config cfg;
};

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb, (void)f, (void)ftw;
    return remove(p);
}

static void fx_open(struct fx *f, const struct statsd_config *cfg,
                    const struct tsdb_options *opts)
{
    f->dir = strdup("/tmp/vigil-test-statsd-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct tsdb_options o;
    tsdb_options_default(&o);
    if (opts)
        o = *opts;
    assert_int_equal(tsdb_open(f->dir, &o, &f->db, NULL), 0);
    if (cfg)
        f->cfg = *cfg;
    else
        statsd_config_default(&f->cfg);
    assert_int_equal(statsd_agg_new(&f->cfg, &f->agg), 0);
}

static void fx_close(struct fx *f)
{
    statsd_agg_free(f->agg);
    assert_int_equal(tsdb_close(f->db), 0);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
}

/* A metric as the parser would hand it over: one value, rate 1. */
static struct statsd_metric metric(const char *name, enum statsd_type t, double v)
{
    struct statsd_metric m;
    memset(&m, 0, sizeof m);
    m.name = name;
    m.name_len = strlen(name);
    m.type = t;
    m.values[0] = v;
    m.nvalues = 1;
    m.sample_rate = 1;
    return m;
}

static void tag(struct statsd_metric *m, const char *k, const char *v)
{
    struct statsd_tag *t = &m->tags[m->ntags++];
    t->key = k;
    t->key_len = strlen(k);
    t->value = v ? v : "";
    t->value_len = v ? strlen(v) : 0;
}

static int add(struct fx *f, const char *name, enum statsd_type t, double v, int64_t now)
{
    struct statsd_metric m = metric(name, t, v);
    return statsd_agg_add(f->agg, &m, now);
}

static void flush(struct fx *f, int64_t now)
{
    assert_int_equal(statsd_agg_flush(f->agg, f->db, now), 0);
}

/* Finds the series with exactly the labels __name__=name, k1=v1, ...
 * (NULL-terminated pairs) and its sample at ts. @return 1 and *v when the
 * sample exists, 0 when the series has none at ts; fails the test when no
 * series has exactly these labels. */
static int vget(struct fx *f, int64_t ts, double *v, const char *name, va_list ap)
{
    struct tsdb_matcher m[8];
    size_t nm = 0;
    assert_int_equal(tsdb_matcher_init(&m[nm++], TSDB_MATCH_EQ, "__name__", name, NULL, 0), 0);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *val = va_arg(ap, const char *);
        assert_true(nm < 8);
        assert_int_equal(tsdb_matcher_init(&m[nm++], TSDB_MATCH_EQ, k, val, NULL, 0), 0);
    }
    struct tsdb_snapshot *s;
    struct tsdb_series_set *set;
    assert_int_equal(tsdb_snapshot_open(f->db, &s), 0);
    assert_int_equal(tsdb_select(s, m, nm, 0, INT64_MAX, &set), 0);
    int found = -1;
    for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
        if (tsdb_series_set_labels(set, i)->len != nm)
            continue;
        assert_true(found < 0);
        found = 0;
        struct tsdb_iter *it;
        int64_t t;
        double x;
        assert_int_equal(tsdb_iter_open(set, i, &it), 0);
        while (tsdb_iter_next(it, &t, &x) == 1)
            if (t == ts) {
                *v = x;
                found = 1;
            }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    tsdb_snapshot_close(s);
    for (size_t i = 0; i < nm; i++)
        tsdb_matcher_free(&m[i]);
    if (found < 0)
        fail_msg("no series %s with exactly the labels asked for", name);
    return found;
}

/* The value at ts of the series with exactly these labels; fails the test
 * when the series or the sample is missing. */
static double get(struct fx *f, int64_t ts, const char *name, ...)
{
    va_list ap;
    double v = 0;
    va_start(ap, name);
    int found = vget(f, ts, &v, name, ap);
    va_end(ap);
    if (!found)
        fail_msg("%s has no sample at %lld", name, (long long)ts);
    return v;
}

/* 1 if the series (which must exist) has a sample at ts. */
static int has(struct fx *f, int64_t ts, const char *name, ...)
{
    va_list ap;
    double v;
    va_start(ap, name);
    int found = vget(f, ts, &v, name, ap);
    va_end(ap);
    return found;
}

/* Number of series whose name matches the regex re. */
static size_t nseries(struct fx *f, const char *re)
{
    struct tsdb_matcher m;
    struct tsdb_snapshot *s;
    struct tsdb_series_set *set;
    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_RE, "__name__", re, NULL, 0), 0);
    assert_int_equal(tsdb_snapshot_open(f->db, &s), 0);
    assert_int_equal(tsdb_select(s, &m, 1, 0, INT64_MAX, &set), 0);
    size_t n = tsdb_series_set_len(set);
    tsdb_series_set_free(set);
    tsdb_snapshot_close(s);
    tsdb_matcher_free(&m);
    return n;
}

static struct statsd_agg_stats stats(struct fx *f)
{
    struct statsd_agg_stats st;
    statsd_agg_get_stats(f->agg, &st);
    return st;
}

/* ---- tests --------------------------------------------------------------- */

static void test_config_default(void **state)
{
    (void)state;
    struct statsd_config c;
    statsd_config_default(&c);
    assert_int_equal(c.flush_interval_ms, 10000);
    assert_int_equal(c.nquantiles, 3);
    assert_true(c.quantiles[0] == 0.5 && c.quantiles[1] == 0.9 && c.quantiles[2] == 0.99);
    assert_int_equal(c.nbuckets, 11);
    assert_true(c.buckets[0] == 0.005 && c.buckets[10] == 10);
    assert_true(c.sketch_relative_error == 0.01);
    assert_int_equal(c.idle_expire_ms, 300000);
    assert_int_equal(c.max_series, 100000);
    assert_int_equal(c.max_series_per_metric, 10000);

    struct statsd_agg *a;
    struct statsd_config bad = c;
    double unsorted[] = {1, 0.5};
    bad.buckets = unsorted;
    bad.nbuckets = 2;
    assert_int_equal(statsd_agg_new(&bad, &a), -EINVAL);
    bad = c;
    double q[] = {1.5};
    bad.quantiles = q;
    bad.nquantiles = 1;
    assert_int_equal(statsd_agg_new(&bad, &a), -EINVAL);
    bad = c;
    bad.sketch_relative_error = 0;
    assert_int_equal(statsd_agg_new(&bad, &a), -EINVAL);
}

/* statsd: "a:1|c|@0.1" means the client sent one in ten: it counts 10. */
static void test_counter_sample_rate(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    struct statsd_metric m = metric("a", STATSD_COUNTER, 1);
    m.sample_rate = 0.1;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    m = metric("b", STATSD_COUNTER, 3);
    m.sample_rate = 0.5;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    flush(&f, T0);
    assert_true(get(&f, T0, "a_total", NULL) == 10);
    assert_true(get(&f, T0, "b_total", NULL) == 12);
    fx_close(&f);
}

/* Counters are cumulative across flushes, written every flush while alive;
 * a name already ending in _total keeps one suffix. */
static void test_counter_cumulative(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    add(&f, "blog.comments.posted", STATSD_COUNTER, 5, T0 - 5 * SEC);
    add(&f, "http_requests_total", STATSD_COUNTER, 1, T0 - 5 * SEC);
    flush(&f, T0);
    add(&f, "blog.comments.posted", STATSD_COUNTER, 3, T0 + 5 * SEC);
    flush(&f, T0 + 10 * SEC);
    flush(&f, T0 + 20 * SEC);
    assert_true(get(&f, T0, "blog_comments_posted_total", NULL) == 5);
    assert_true(get(&f, T0 + 10 * SEC, "blog_comments_posted_total", NULL) == 8);
    assert_true(get(&f, T0 + 20 * SEC, "blog_comments_posted_total", NULL) == 8);
    assert_true(get(&f, T0 + 20 * SEC, "http_requests_total", NULL) == 1);
    assert_int_equal(nseries(&f, ".*_total_total"), 0);
    struct statsd_agg_stats st = stats(&f);
    assert_int_equal(st.metrics, 3);
    assert_int_equal(st.series_created, 2);
    assert_int_equal(st.samples_written, 6);
    assert_int_equal(st.samples_rejected, 0);
    assert_true(st.last_flush_seconds >= 0 && st.last_flush_seconds < 1);
    fx_close(&f);
}

static int gauge(struct fx *f, const char *name, double v, int delta, int64_t now)
{
    struct statsd_metric m = metric(name, STATSD_GAUGE, v);
    m.gauge_delta = delta;
    return statsd_agg_add(f->agg, &m, now);
}

/* statsd gauges: "g:10|g" sets, "g:+3|g" / "g:-2|g" add; the value
 * persists across flushes (deleteGauges false); a gauge first written as a
 * delta starts from 0. */
static void test_gauges(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    gauge(&f, "g", 10, 0, T0 - 1);
    gauge(&f, "fresh_up", 3, 1, T0 - 1);
    gauge(&f, "fresh_down", -2, 1, T0 - 1);
    flush(&f, T0);
    assert_true(get(&f, T0, "g", NULL) == 10);
    assert_true(get(&f, T0, "fresh_up", NULL) == 3);
    assert_true(get(&f, T0, "fresh_down", NULL) == -2);

    gauge(&f, "g", -2, 1, T0 + 1);
    flush(&f, T0 + 10 * SEC);
    assert_true(get(&f, T0 + 10 * SEC, "g", NULL) == 8);
    gauge(&f, "g", 3, 1, T0 + 11 * SEC);
    flush(&f, T0 + 20 * SEC);
    assert_true(get(&f, T0 + 20 * SEC, "g", NULL) == 11);
    flush(&f, T0 + 30 * SEC); /* no data: the gauge keeps its value */
    assert_true(get(&f, T0 + 30 * SEC, "g", NULL) == 11);

    /* set then delta in one interval, and a set after deltas */
    gauge(&f, "g", 100, 0, T0 + 31 * SEC);
    gauge(&f, "g", 5, 1, T0 + 32 * SEC);
    flush(&f, T0 + 40 * SEC);
    assert_true(get(&f, T0 + 40 * SEC, "g", NULL) == 105);
    gauge(&f, "g", -200, 1, T0 + 41 * SEC);
    gauge(&f, "g", 7, 0, T0 + 42 * SEC);
    flush(&f, T0 + 50 * SEC);
    assert_true(get(&f, T0 + 50 * SEC, "g", NULL) == 7);

    /* multi-value line g:1:2:3|g: each value in turn, the last set wins */
    struct statsd_metric m = metric("mv", STATSD_GAUGE, 1);
    m.values[1] = 2;
    m.values[2] = 3;
    m.nvalues = 3;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 + 51 * SEC), 0);
    m.gauge_delta = 1;
    m.sample_rate = 0.5; /* ignored for gauges, as in statsd */
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 + 51 * SEC), 0);
    flush(&f, T0 + 60 * SEC);
    assert_true(get(&f, T0 + 60 * SEC, "mv", NULL) == 9);
    fx_close(&f);
}

static const char *const le[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                 "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};

/* Timers: milliseconds become seconds; cumulative buckets, _sum, _count;
 * quantiles of the interval within the sketch's 1 % relative error. */
static void test_timer(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    for (int i = 1; i <= 1000; i++) {
        struct statsd_metric m = metric("api.latency", STATSD_TIMER, i);
        tag(&m, "route", "/post");
        assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    }
    flush(&f, T0);
    static const double want[] = {5, 10, 25, 50, 100, 250, 500, 1000, 1000, 1000, 1000, 1000};
    for (int b = 0; b < 12; b++)
        assert_true(get(&f, T0, "api_latency_bucket", "route", "/post", "le", le[b], NULL) ==
                    want[b]);
    assert_int_equal(nseries(&f, "api_latency_bucket"), 12);
    assert_true(get(&f, T0, "api_latency_count", "route", "/post", NULL) == 1000);
    assert_true(fabs(get(&f, T0, "api_latency_sum", "route", "/post", NULL) - 500.5) < 1e-9);
    static const char *const q[] = {"0.5", "0.9", "0.99"};
    static const double exact[] = {0.5, 0.9, 0.99}; /* x[floor(q * 999)] */
    for (int i = 0; i < 3; i++) {
        double v = get(&f, T0, "api_latency", "route", "/post", "quantile", q[i], NULL);
        assert_true(fabs(v - exact[i]) <= 0.01 * exact[i]);
    }

    /* an empty interval: cumulative series again, no quantiles */
    flush(&f, T0 + 10 * SEC);
    assert_true(get(&f, T0 + 10 * SEC, "api_latency_count", "route", "/post", NULL) == 1000);
    assert_true(get(&f, T0 + 10 * SEC, "api_latency_bucket", "route", "/post", "le", "0.1",
                    NULL) == 100);
    assert_false(has(&f, T0 + 10 * SEC, "api_latency", "route", "/post", "quantile", "0.5",
                     NULL));

    /* "5|ms|@0.1": ten observations of 5 ms; quantiles cover only them */
    struct statsd_metric m = metric("api.latency", STATSD_TIMER, 5);
    tag(&m, "route", "/post");
    m.sample_rate = 0.1;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 + 11 * SEC), 0);
    flush(&f, T0 + 20 * SEC);
    assert_true(get(&f, T0 + 20 * SEC, "api_latency_count", "route", "/post", NULL) == 1010);
    assert_true(get(&f, T0 + 20 * SEC, "api_latency_bucket", "route", "/post", "le", "0.005",
                    NULL) == 15);
    assert_true(fabs(get(&f, T0 + 20 * SEC, "api_latency_sum", "route", "/post", NULL) -
                     500.55) < 1e-9);
    assert_true(get(&f, T0 + 20 * SEC, "api_latency", "route", "/post", "quantile", "0.99",
                    NULL) == 0.005);
    fx_close(&f);
}

/* h and d: values as sent (no unit change), the same series shapes;
 * configured buckets and quantiles with Prometheus' label spelling. */
static void test_histogram_distribution(void **state)
{
    (void)state;
    struct fx f;
    struct statsd_config c;
    statsd_config_default(&c);
    static const double b[] = {0.0001, 1, 1e6};
    static const double q[] = {0.25, 1};
    c.buckets = b;
    c.nbuckets = 3;
    c.quantiles = q;
    c.nquantiles = 2;
    fx_open(&f, &c, NULL);
    static const double v[] = {0.00005, 0.5, 3, 250, 2e6};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(add(&f, "size", STATSD_HISTOGRAM, v[i], T0 - 1), 0);
        assert_int_equal(add(&f, "spam.score", STATSD_DISTRIBUTION, -v[i], T0 - 1), 0);
    }
    flush(&f, T0);
    assert_true(get(&f, T0, "size_bucket", "le", "0.0001", NULL) == 1);
    assert_true(get(&f, T0, "size_bucket", "le", "1", NULL) == 2);
    assert_true(get(&f, T0, "size_bucket", "le", "1e+06", NULL) == 4);
    assert_true(get(&f, T0, "size_bucket", "le", "+Inf", NULL) == 5);
    assert_true(get(&f, T0, "size_count", NULL) == 5);
    assert_true(get(&f, T0, "size_sum", NULL) == 0.00005 + 0.5 + 3 + 250 + 2e6);
    assert_true(get(&f, T0, "size", "quantile", "1", NULL) == 2e6);
    assert_true(fabs(get(&f, T0, "size", "quantile", "0.25", NULL) - 0.5) <= 0.005);
    assert_true(get(&f, T0, "spam_score_bucket", "le", "0.0001", NULL) == 5);
    assert_true(get(&f, T0, "spam_score", "quantile", "1", NULL) == -0.00005);
    assert_true(fabs(get(&f, T0, "spam_score", "quantile", "0.25", NULL) + 250) <= 2.5);
    fx_close(&f);
}

static int set_add(struct fx *f, const char *name, const char *member, int64_t now)
{
    struct statsd_metric m = metric(name, STATSD_SET, 0);
    m.nvalues = 0;
    m.set_member = member;
    m.set_member_len = strlen(member);
    return statsd_agg_add(f->agg, &m, now);
}

/* statsd sets: the number of unique members seen in the interval, then
 * reset; an interval with no members reports 0 while the series lives. */
static void test_sets(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    static const char *const members[] = {"alice", "bob", "carol", "alice", "bob", "alice"};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(set_add(&f, "blog.commenters", members[i], T0 - 1), 0);
    flush(&f, T0);
    assert_true(get(&f, T0, "blog_commenters", NULL) == 3);
    set_add(&f, "blog.commenters", "dave", T0 + 1);
    flush(&f, T0 + 10 * SEC);
    assert_true(get(&f, T0 + 10 * SEC, "blog_commenters", NULL) == 1);
    flush(&f, T0 + 20 * SEC);
    assert_true(get(&f, T0 + 20 * SEC, "blog_commenters", NULL) == 0);

    char buf[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(buf, sizeof buf, "user%d", i % 5000);
        set_add(&f, "blog.commenters", buf, T0 + 21 * SEC);
    }
    flush(&f, T0 + 30 * SEC);
    double n = get(&f, T0 + 30 * SEC, "blog_commenters", NULL);
    printf("set of 5000 unique members (20000 adds): estimate %.0f\n", n);
    assert_true(fabs(n - 5000) <= 3 * 1.04 / 64 * 5000);
    assert_int_equal(stats(&f).metrics, 6 + 1 + 20000);
    fx_close(&f);
}

/* The first type of a metric name wins; other types are dropped, for the
 * same tags and for other tags of the same name. */
static void test_type_conflict(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    assert_int_equal(add(&f, "x", STATSD_COUNTER, 1, T0 - 1), 0);
    assert_int_equal(add(&f, "x", STATSD_GAUGE, 5, T0 - 1), -EEXIST);
    assert_int_equal(add(&f, "x", STATSD_TIMER, 5, T0 - 1), -EEXIST);
    struct statsd_metric m = metric("x", STATSD_GAUGE, 7);
    tag(&m, "host", "a");
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), -EEXIST);
    assert_int_equal(add(&f, "x", STATSD_COUNTER, 1, T0 - 1), 0);
    flush(&f, T0);
    assert_true(get(&f, T0, "x_total", NULL) == 2);
    assert_int_equal(nseries(&f, "x"), 0);
    assert_int_equal(stats(&f).dropped_type_conflict, 3);
    assert_int_equal(stats(&f).metrics, 2);
    fx_close(&f);
}

static int add_tagged(struct fx *f, const char *name, const char *k, const char *v,
                      int64_t now)
{
    struct statsd_metric m = metric(name, STATSD_COUNTER, 1);
    tag(&m, k, v);
    return statsd_agg_add(f->agg, &m, now);
}

/* Series limits: new series beyond them are dropped and counted; existing
 * series keep counting. */
static void test_limits(void **state)
{
    (void)state;
    struct fx f;
    struct statsd_config c;
    statsd_config_default(&c);
    c.max_series = 4;
    c.max_series_per_metric = 2;
    fx_open(&f, &c, NULL);
    assert_int_equal(add_tagged(&f, "req", "user", "1", T0 - 1), 0);
    assert_int_equal(add_tagged(&f, "req", "user", "2", T0 - 1), 0);
    assert_int_equal(add_tagged(&f, "req", "user", "3", T0 - 1), -ENOSPC);
    assert_int_equal(add_tagged(&f, "req", "user", "1", T0 - 1), 0);
    assert_int_equal(add(&f, "b", STATSD_GAUGE, 1, T0 - 1), 0);
    assert_int_equal(add(&f, "c", STATSD_GAUGE, 1, T0 - 1), 0);
    assert_int_equal(add(&f, "d", STATSD_GAUGE, 1, T0 - 1), -ENOSPC);
    assert_int_equal(set_add(&f, "e", "m", T0 - 1), -ENOSPC);
    flush(&f, T0);
    assert_true(get(&f, T0, "req_total", "user", "1", NULL) == 2);
    assert_true(get(&f, T0, "req_total", "user", "2", NULL) == 1);
    assert_int_equal(nseries(&f, "req_total|b|c|d|e"), 4);
    struct statsd_agg_stats st = stats(&f);
    assert_int_equal(st.dropped_metric_limit, 1);
    assert_int_equal(st.dropped_series_limit, 2);
    assert_int_equal(st.series_created, 4);

    /* a cardinality explosion: bounded, counted, quick */
    char v[16];
    for (int i = 0; i < 100000; i++) {
        snprintf(v, sizeof v, "%d", i);
        add_tagged(&f, "boom", "id", v, T0 + 1);
    }
    assert_int_equal(stats(&f).dropped_series_limit, 2 + 100000);
    fx_close(&f);
}

/* Idle series expire at a flush: their stored series end with a staleness
 * marker; a counter that comes back starts again from 0 (a counter reset
 * that rate() handles). */
static void test_expiry(void **state)
{
    (void)state;
    struct fx f;
    struct statsd_config c;
    statsd_config_default(&c);
    c.idle_expire_ms = 60 * SEC;
    fx_open(&f, &c, NULL);
    add(&f, "jobs", STATSD_COUNTER, 5, T0 - 1);
    add(&f, "t", STATSD_TIMER, 5, T0 - 1);
    add(&f, "alive", STATSD_GAUGE, 1, T0 - 1);
    flush(&f, T0);
    for (int64_t t = T0 + 10 * SEC; t < T0 + 60 * SEC; t += 10 * SEC) {
        add(&f, "alive", STATSD_GAUGE, 1, t - 1);
        flush(&f, t);
        assert_true(get(&f, t, "jobs_total", NULL) == 5);
    }
    add(&f, "alive", STATSD_GAUGE, 1, T0 + 60 * SEC - 1);
    flush(&f, T0 + 60 * SEC);
    assert_true(tsdb_is_stale(get(&f, T0 + 60 * SEC, "jobs_total", NULL)));
    assert_true(tsdb_is_stale(get(&f, T0 + 60 * SEC, "t_count", NULL)));
    assert_true(tsdb_is_stale(get(&f, T0 + 60 * SEC, "t_bucket", "le", "+Inf", NULL)));
    assert_true(tsdb_is_stale(get(&f, T0 + 60 * SEC, "t", "quantile", "0.5", NULL)));
    assert_true(get(&f, T0 + 60 * SEC, "alive", NULL) == 1);
    assert_int_equal(stats(&f).series_expired, 2);

    flush(&f, T0 + 70 * SEC);
    assert_false(has(&f, T0 + 70 * SEC, "jobs_total", NULL));
    add(&f, "jobs", STATSD_COUNTER, 2, T0 + 75 * SEC);
    flush(&f, T0 + 80 * SEC);
    assert_true(get(&f, T0 + 80 * SEC, "jobs_total", NULL) == 2);
    assert_int_equal(stats(&f).series_created, 4);
    fx_close(&f);

    /* idle_expire shorter than the interval: written once, then gone */
    c.idle_expire_ms = 1 * SEC;
    fx_open(&f, &c, NULL);
    add(&f, "brief", STATSD_GAUGE, 3, T0 - 9 * SEC);
    flush(&f, T0);
    assert_true(get(&f, T0, "brief", NULL) == 3);
    flush(&f, T0 + 10 * SEC);
    assert_true(tsdb_is_stale(get(&f, T0 + 10 * SEC, "brief", NULL)));
    assert_int_equal(stats(&f).series_expired, 1);
    fx_close(&f);
}

/* statsd_exporter's default mapping: names and tag keys sanitized, tags
 * sorted, bare and reserved tags dropped. */
static void test_mapping(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    struct statsd_metric m = metric("blog.comments-posted", STATSD_COUNTER, 1);
    tag(&m, "service", "blog");
    tag(&m, "env-name", "prod");
    tag(&m, "urgent", NULL);          /* bare tag: dropped */
    tag(&m, "__name__", "evil");      /* reserved: dropped */
    tag(&m, "__meta", "x");
    tag(&m, "1st", "yes");
    tag(&m, "k", "first");
    tag(&m, "k", "last");             /* repeated key: the last wins */
    tag(&m, "", "nokey");             /* dropped */
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    /* the same series, tags in another order */
    m = metric("blog.comments-posted", STATSD_COUNTER, 2);
    tag(&m, "k", "last");
    tag(&m, "1st", "yes");
    tag(&m, "env-name", "prod");
    tag(&m, "service", "blog");
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);

    add(&f, "2xx.count", STATSD_COUNTER, 1, T0 - 1);
    add(&f, "caf\xc3\xa9.hits", STATSD_GAUGE, 4, T0 - 1);
    add(&f, "ns:sub.x", STATSD_GAUGE, 5, T0 - 1);
    m = metric("lat", STATSD_TIMER, 1);
    tag(&m, "le", "1");               /* would clash with the bucket label */
    tag(&m, "quantile", "x");
    tag(&m, "a.b:c", "v");            /* a key's colon becomes '_' too */
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    m = metric("g", STATSD_GAUGE, 1);
    tag(&m, "le", "1");               /* kept on other types */
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    flush(&f, T0);

    assert_true(get(&f, T0, "blog_comments_posted_total", "service", "blog", "env_name", "prod",
                    "_1st", "yes", "k", "last", NULL) == 3);
    assert_int_equal(nseries(&f, "blog.*"), 1);
    assert_true(get(&f, T0, "_2xx_count_total", NULL) == 1);
    assert_true(get(&f, T0, "caf__hits", NULL) == 4);
    assert_true(get(&f, T0, "ns:sub_x", NULL) == 5);
    assert_true(get(&f, T0, "lat_count", "a_b_c", "v", NULL) == 1);
    assert_true(get(&f, T0, "lat", "a_b_c", "v", "quantile", "0.9", NULL) == 0.001);
    assert_true(get(&f, T0, "g", "le", "1", NULL) == 1);
    assert_int_equal(stats(&f).series_created, 6);
    fx_close(&f);
}

/* DogStatsD |T: counters and gauges are written at their own timestamp
 * (the newest of the interval); timers ignore it. */
static void test_timestamps(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    struct statsd_metric m = metric("c", STATSD_COUNTER, 1);
    m.has_timestamp = 1;
    m.timestamp_ms = T0 - 30 * SEC;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    m.timestamp_ms = T0 - 20 * SEC;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    m = metric("g", STATSD_GAUGE, 4);
    m.has_timestamp = 1;
    m.timestamp_ms = T0 - 5 * SEC;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    m = metric("t", STATSD_TIMER, 4);
    m.has_timestamp = 1;
    m.timestamp_ms = T0 - 5 * SEC;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    flush(&f, T0);
    assert_true(get(&f, T0 - 20 * SEC, "c_total", NULL) == 2);
    assert_false(has(&f, T0, "c_total", NULL));
    assert_true(get(&f, T0 - 5 * SEC, "g", NULL) == 4);
    assert_true(get(&f, T0, "t_count", NULL) == 1);
    /* the next interval without a timestamp: back to the flush time */
    flush(&f, T0 + 10 * SEC);
    assert_true(get(&f, T0 + 10 * SEC, "c_total", NULL) == 2);
    fx_close(&f);
}

/* DogStatsD multi-value lines: each value is one increment or observation. */
static void test_multi_value(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    struct statsd_metric m = metric("c", STATSD_COUNTER, 1);
    m.values[1] = 2;
    m.values[2] = 3;
    m.nvalues = 3;
    m.sample_rate = 0.5;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    m.type = STATSD_TIMER;
    m.name = "t";
    m.name_len = 1;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
    flush(&f, T0);
    assert_true(get(&f, T0, "c_total", NULL) == 12);
    assert_true(get(&f, T0, "t_count", NULL) == 6);
    assert_true(fabs(get(&f, T0, "t_sum", NULL) - 0.012) < 1e-12);
    assert_int_equal(stats(&f).metrics, 6);
    fx_close(&f);
}

/* Values that cannot be aggregated are refused without creating series. */
static void test_invalid(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    assert_int_equal(add(&f, "neg", STATSD_COUNTER, -1, T0), -EINVAL);
    assert_int_equal(add(&f, "nan", STATSD_GAUGE, NAN, T0), -EINVAL);
    assert_int_equal(add(&f, "inf", STATSD_TIMER, INFINITY, T0), -EINVAL);
    struct statsd_metric m = metric("rate", STATSD_COUNTER, 1);
    m.sample_rate = 0;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0), -EINVAL);
    m.sample_rate = 1.5;
    assert_int_equal(statsd_agg_add(f.agg, &m, T0), -EINVAL);
    m = metric("", STATSD_COUNTER, 1);
    assert_int_equal(statsd_agg_add(f.agg, &m, T0), -EINVAL);
    assert_int_equal(add(&f, "neg", STATSD_GAUGE, -1, T0), 0); /* gauges may be negative */
    assert_int_equal(stats(&f).series_created, 1);
    assert_int_equal(stats(&f).metrics, 1);
    fx_close(&f);
}

/* What the store refuses is counted; the rest of the flush is written. */
static void test_store_rejects(void **state)
{
    (void)state;
    struct fx f;
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.max_label_value_bytes = 8;
    fx_open(&f, NULL, &o);
    add_tagged(&f, "ok", "v", "short", T0 - 1);
    add_tagged(&f, "long", "v", "much-too-long-for-the-store", T0 - 1);
    flush(&f, T0);
    flush(&f, T0 + 10 * SEC);
    assert_true(get(&f, T0 + 10 * SEC, "ok_total", "v", "short", NULL) == 1);
    struct statsd_agg_stats st = stats(&f);
    assert_int_equal(st.samples_written, 2);
    assert_int_equal(st.samples_rejected, 2);
    fx_close(&f);
}

/* A new store (say, after a restart of the storage layer) gets its series
 * created again. */
static void test_other_store(void **state)
{
    (void)state;
    struct fx f, g;
    fx_open(&f, NULL, NULL);
    fx_open(&g, NULL, NULL);
    add(&f, "c", STATSD_COUNTER, 1, T0 - 1);
    flush(&f, T0);
    statsd_agg_flush(f.agg, g.db, T0 + 10 * SEC);
    assert_true(get(&g, T0 + 10 * SEC, "c_total", NULL) == 1);
    fx_close(&g);
    fx_close(&f);
}

#ifndef __SANITIZE_ADDRESS__
#define MALLOC_STATS 1
#endif

/* The add path does not allocate once series exist; throughput and flush
 * time for 10,000 series. */
static void test_steady_state(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, NULL);
    static const enum statsd_type types[] = {STATSD_COUNTER, STATSD_GAUGE, STATSD_TIMER,
                                             STATSD_SET};
    char name[32];
    struct statsd_metric m;
    for (int pass = 0; pass < 2; pass++) {
#ifdef MALLOC_STATS
        struct mallinfo2 before = mallinfo2();
#endif
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < 500000; i++) {
            int k = i % 10000;
            snprintf(name, sizeof name, "svc.metric%d", k);
            m = metric(name, types[k % 4], (i % 997) + 0.5);
            tag(&m, "host", "web-1");
            tag(&m, "env", "prod");
            m.set_member = name + 4;
            m.set_member_len = strlen(name + 4);
            assert_int_equal(statsd_agg_add(f.agg, &m, T0 - 1), 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
#ifdef MALLOC_STATS
        struct mallinfo2 after = mallinfo2();
        if (pass == 1)
            assert_int_equal(after.uordblks, before.uordblks);
#endif
        flush(&f, T0 + pass * 10 * SEC);
        struct statsd_agg_stats st = stats(&f);
        printf("pass %d: %.0f ns per metric; flush of 10000 series: %.1f ms\n", pass,
               s / 500000 * 1e9, st.last_flush_seconds * 1e3);
    }
    assert_int_equal(stats(&f).series_created, 10000);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_default),
        cmocka_unit_test(test_counter_sample_rate),
        cmocka_unit_test(test_counter_cumulative),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_timer),
        cmocka_unit_test(test_histogram_distribution),
        cmocka_unit_test(test_sets),
        cmocka_unit_test(test_type_conflict),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_multi_value),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_store_rejects),
        cmocka_unit_test(test_other_store),
        cmocka_unit_test(test_steady_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
