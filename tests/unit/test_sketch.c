/* test_sketch.c — the statsd aggregator's sketches: DDSketch quantiles
 * within the relative error on several distributions, signs and zero,
 * weights, merging, bounded memory; HyperLogLog estimates within three
 * standard errors, duplicates, clearing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddsketch.h"
#include "hll.h"

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s * 0x9e3779b97f4a7c15ULL + 1;
}

/* splitmix64 -> uniform in (0, 1) */
static double uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const double qs[] = {0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1};

/* Asserts every quantile of qs from index first on is within alpha of the
 * exact lower quantile of v[0..n). Sorts v. */
static void check_quantiles(const struct ddsketch *s, double *v, size_t n, double alpha,
                            size_t first)
{
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = first; i < sizeof qs / sizeof *qs; i++) {
        double exact = v[(size_t)floor(qs[i] * (double)(n - 1))];
        double got = ddsketch_quantile(s, qs[i]);
        double tol = alpha * fabs(exact) * (1 + 1e-9);
        if (!(fabs(got - exact) <= tol))
            fail_msg("q=%g: got %.17g, exact %.17g, relative error %g > %g", qs[i], got,
                     exact, fabs(got - exact) / fabs(exact), alpha);
    }
}

enum dist { UNIFORM, EXPONENTIAL, BIMODAL, SIGNED };

static double draw(enum dist d)
{
    switch (d) {
    case UNIFORM:
        return 1 + 999 * uniform();
    case EXPONENTIAL:
        return -log(uniform()) * 0.25;
    case BIMODAL: /* 70 % near 5 ms, 30 % near 2 s */
        return uniform() < 0.7 ? 0.005 * (0.5 + uniform()) : 2 * (0.5 + uniform());
    case SIGNED: /* negatives, exact zeros and positives */
        return uniform() < 0.1 ? 0 : 200 * uniform() - 100;
    }
    return 0;
}

static void run_dist(enum dist d, double alpha, uint32_t max_buckets)
{
    size_t n = 100000;
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    struct ddsketch *s;
    assert_int_equal(ddsketch_new(alpha, max_buckets, &s), 0);
    rng_seed(d + 1);
    for (size_t i = 0; i < n; i++) {
        v[i] = draw(d);
        assert_int_equal(ddsketch_add(s, v[i], 1), 0);
    }
    assert_true(ddsketch_count(s) == (double)n);
    check_quantiles(s, v, n, alpha, 0);
    ddsketch_free(s);
    free(v);
}

static void test_uniform(void **st)
{
    (void)st;
    run_dist(UNIFORM, 0.01, 2048);
    run_dist(UNIFORM, 0.001, 8192); /* 1..1000 needs 3454 buckets */
}

static void test_exponential(void **st)
{
    (void)st;
    run_dist(EXPONENTIAL, 0.01, 2048);
    run_dist(EXPONENTIAL, 0.05, 2048);
}

static void test_bimodal(void **st)
{
    (void)st;
    run_dist(BIMODAL, 0.01, 2048);
}

static void test_negative_and_zero(void **st)
{
    (void)st;
    run_dist(SIGNED, 0.01, 2048);
    struct ddsketch *s;
    assert_int_equal(ddsketch_new(0.01, 2048, &s), 0);
    assert_int_equal(ddsketch_add(s, -5, 1), 0);
    assert_int_equal(ddsketch_add(s, 0, 1), 0);
    assert_int_equal(ddsketch_add(s, 7, 1), 0);
    assert_true(ddsketch_quantile(s, 0) == -5);  /* clamped to the exact min */
    assert_true(ddsketch_quantile(s, 0.5) == 0);
    assert_true(ddsketch_quantile(s, 1) == 7);
    ddsketch_free(s);
}

static void test_weights(void **st)
{
    (void)st;
    struct ddsketch *a, *b;
    assert_int_equal(ddsketch_new(0.01, 2048, &a), 0);
    assert_int_equal(ddsketch_new(0.01, 2048, &b), 0);
    rng_seed(9);
    for (int i = 0; i < 1000; i++) {
        double x = draw(EXPONENTIAL);
        assert_int_equal(ddsketch_add(a, x, 10), 0);
        for (int k = 0; k < 10; k++)
            assert_int_equal(ddsketch_add(b, x, 1), 0);
    }
    assert_true(ddsketch_count(a) == 10000);
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++)
        assert_true(ddsketch_quantile(a, qs[i]) == ddsketch_quantile(b, qs[i]));
    ddsketch_free(a);
    ddsketch_free(b);
}

static void test_merge(void **st)
{
    (void)st;
    struct ddsketch *a, *b, *u;
    assert_int_equal(ddsketch_new(0.01, 2048, &a), 0);
    assert_int_equal(ddsketch_new(0.01, 2048, &b), 0);
    assert_int_equal(ddsketch_new(0.01, 2048, &u), 0);
    rng_seed(3);
    for (int i = 0; i < 50000; i++) {
        double x = draw(i % 2 ? BIMODAL : SIGNED);
        assert_int_equal(ddsketch_add(i % 3 ? a : b, x, 1), 0);
        assert_int_equal(ddsketch_add(u, x, 1), 0);
    }
    assert_int_equal(ddsketch_merge(a, b), 0);
    assert_true(ddsketch_count(a) == ddsketch_count(u));
    for (double q = 0; q <= 1; q += 0.005)
        assert_true(ddsketch_quantile(a, q) == ddsketch_quantile(u, q));

    struct ddsketch *other;
    assert_int_equal(ddsketch_new(0.02, 2048, &other), 0);
    assert_int_equal(ddsketch_merge(a, other), -EINVAL);
    ddsketch_free(other);
    ddsketch_free(a);
    ddsketch_free(b);
    ddsketch_free(u);
}

/* A million distinct values over a vast range: memory stays at the bucket
 * bound and the upper quantiles (the collapsed buckets are the lowest)
 * keep their accuracy. */
static void test_bounded_memory(void **st)
{
    (void)st;
    size_t n = 1000000;
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    struct ddsketch *s;
    assert_int_equal(ddsketch_new(0.01, 2048, &s), 0);
    rng_seed(5);
    for (size_t i = 0; i < n; i++) {
        v[i] = pow(10, 600 * uniform() - 300);
        assert_int_equal(ddsketch_add(s, v[i], 1), 0);
    }
    size_t bound = 2048 * sizeof(double) + 256;
    printf("ddsketch: 1e6 values over 1e-300..1e300: %zu bytes\n", ddsketch_bytes(s));
    assert_true(ddsketch_bytes(s) <= bound);
    check_quantiles(s, v, n, 0.01, 9); /* q >= 0.99 */

    /* everyday range: no collapse at all, and far below the bound */
    ddsketch_free(s);
    assert_int_equal(ddsketch_new(0.01, 2048, &s), 0);
    for (size_t i = 0; i < n; i++) {
        v[i] = 0.0001 + 100 * uniform(); /* 0.1 ms .. 100 s */
        assert_int_equal(ddsketch_add(s, v[i], 1), 0);
    }
    size_t bytes = ddsketch_bytes(s);
    printf("ddsketch: 1e6 values over 1e-4..1e2: %zu bytes\n", bytes);
    assert_true(bytes <= bound / 2);
    check_quantiles(s, v, n, 0.01, 0);

    /* clearing keeps the memory; refilling does not grow it */
    ddsketch_clear(s);
    assert_true(isnan(ddsketch_quantile(s, 0.5)));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ddsketch_add(s, v[i], 1), 0);
    assert_int_equal(ddsketch_bytes(s), bytes);
    ddsketch_free(s);
    free(v);
}

static void test_sketch_edges(void **st)
{
    (void)st;
    struct ddsketch *s;
    assert_int_equal(ddsketch_new(0, 2048, &s), -EINVAL);
    assert_int_equal(ddsketch_new(1, 2048, &s), -EINVAL);
    assert_int_equal(ddsketch_new(0.01, 4, &s), -EINVAL);
    assert_int_equal(ddsketch_new(0.01, 2048, &s), 0);
    assert_true(isnan(ddsketch_quantile(s, 0.5)));
    assert_int_equal(ddsketch_add(s, NAN, 1), -EINVAL);
    assert_int_equal(ddsketch_add(s, INFINITY, 1), -EINVAL);
    assert_int_equal(ddsketch_add(s, 1, 0), -EINVAL);
    assert_int_equal(ddsketch_add(s, 42, 1), 0);
    assert_true(isnan(ddsketch_quantile(s, 1.5)));
    assert_true(ddsketch_quantile(s, 0.5) == 42);
    /* tiny and huge magnitudes next to each other in a small sketch */
    ddsketch_free(s);
    assert_int_equal(ddsketch_new(0.01, 16, &s), 0);
    for (int e = -300; e <= 300; e += 10)
        assert_int_equal(ddsketch_add(s, pow(10, e), 1), 0);
    assert_int_equal(ddsketch_add(s, 1e-310, 1), 0); /* subnormal: zero */
    assert_true(ddsketch_quantile(s, 1) == 1e300);
    assert_true(ddsketch_quantile(s, 0) == 1e-310);
    assert_true(ddsketch_bytes(s) <= 256 + 16 * sizeof(double));
    ddsketch_free(s);
}

/* ---- HyperLogLog ---------------------------------------------------------- */

static void add_members(struct hll *h, int from, int to, int times)
{
    char buf[32];
    for (int t = 0; t < times; t++)
        for (int i = from; i < to; i++) {
            int len = snprintf(buf, sizeof buf, "user-%d", i);
            hll_add(h, buf, (size_t)len);
        }
}

static void test_hll_accuracy(void **st)
{
    (void)st;
    static const unsigned precisions[] = {12, 14};
    static const int ns[] = {10, 1000, 100000};
    for (size_t p = 0; p < 2; p++) {
        struct hll *h;
        assert_int_equal(hll_new(precisions[p], &h), 0);
        double se = 1.04 / sqrt((double)(1u << precisions[p]));
        for (size_t k = 0; k < 3; k++) {
            hll_clear(h);
            add_members(h, 0, ns[k], 1);
            double e = hll_estimate(h);
            printf("hll p=%u n=%d: estimate %.1f (error %.2f %%, standard error %.2f %%)\n",
                   precisions[p], ns[k], e, 100 * (e - ns[k]) / ns[k], 100 * se);
            assert_true(fabs(e - ns[k]) <= 3 * se * ns[k]);
        }
        hll_free(h);
    }
}

static void test_hll_duplicates_and_clear(void **st)
{
    (void)st;
    struct hll *a, *b;
    assert_int_equal(hll_new(12, &a), 0);
    assert_int_equal(hll_new(12, &b), 0);
    assert_true(hll_estimate(a) == 0);
    add_members(a, 0, 5000, 1);
    add_members(b, 0, 5000, 7);
    assert_true(hll_estimate(a) == hll_estimate(b));
    double once = hll_estimate(a);
    hll_clear(a);
    assert_true(hll_estimate(a) == 0);
    add_members(a, 0, 5000, 1);
    assert_true(hll_estimate(a) == once);
    hll_clear(a);
    hll_clear(a);
    add_members(a, 0, 1, 3);
    assert_true(fabs(hll_estimate(a) - 1) < 0.01);
    hll_free(a);
    hll_free(b);
    assert_int_equal(hll_new(3, &a), -EINVAL);
    assert_int_equal(hll_new(19, &a), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_exponential),
        cmocka_unit_test(test_bimodal),
        cmocka_unit_test(test_negative_and_zero),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_bounded_memory),
        cmocka_unit_test(test_sketch_edges),
        cmocka_unit_test(test_hll_accuracy),
        cmocka_unit_test(test_hll_duplicates_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
