/* test_chunk.c — the head chunk codec: bit-exact round trips of edge values,
 * decimals and timestamps, -ENOSPC, prefix reads, a concurrent reader, and
 * size. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tsdb_int.h"

static uint64_t bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Decodes the first k samples of c and compares them bit-exactly. */
static void expect_prefix(const struct tsdb__chunk *c, const int64_t *ts,
                          const double *v, uint32_t k)
{
    struct tsdb__chunk_iter it;
    int64_t t;
    double x;
    tsdb__chunk_iter_init(&it, c, k);
    for (uint32_t i = 0; i < k; i++) {
        assert_int_equal(tsdb__chunk_iter_next(&it, &t, &x), 1);
        assert_int_equal(t, ts[i]);
        if (bits_of(x) != bits_of(v[i]))
            fail_msg("sample %u: got %016llx want %016llx", i,
                     (unsigned long long)bits_of(x), (unsigned long long)bits_of(v[i]));
    }
    assert_int_equal(tsdb__chunk_iter_next(&it, &t, &x), 0);
}

/* Appends all n samples into a chunk big enough and checks the round trip. */
static struct tsdb__chunk *roundtrip(const int64_t *ts, const double *v, uint32_t n)
{
    struct tsdb__chunk *c = tsdb__chunk_new(n * 3 + 4);
    assert_non_null(c);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(tsdb__chunk_append(c, ts[i], v[i]), 0);
    assert_int_equal(c->enc.n, n);
    assert_int_equal(c->mint, ts[0]);
    expect_prefix(c, ts, v, n);
    return c;
}

static void test_edge_values(void **state)
{
    (void)state;
    const double v[] = {
        0.0, -0.0, 0.0, 1.0, -0.0, from_bits(TSDB_STALE_NAN_BITS), NAN, -NAN,
        from_bits(0x7ff8000000000001ULL), from_bits(0xfff0000000000001ULL),
        from_bits(TSDB_STALE_NAN_BITS), 42.0, INFINITY, -INFINITY, INFINITY,
        DBL_MAX, -DBL_MAX, DBL_MIN, -DBL_MIN, 4.9e-324, -4.9e-324, 2.2250738585072009e-308,
        9007199254740992.0, -9007199254740992.0, 9007199254740994.0, 1e300, 3.0,
        -9007199254740991.0, 9007199254740991.0, 0.1, 0.30000000000000004, 7.0,
        from_bits(TSDB_STALE_NAN_BITS), 7.0, 7.0, 1e-300, -1.5, 12345678.9, 0.0,
    };
    uint32_t n = sizeof v / sizeof v[0];
    int64_t ts[sizeof v / sizeof v[0]];
    for (uint32_t i = 0; i < n; i++)
        ts[i] = 1700000000000 + 15000 * (int64_t)i;
    free(roundtrip(ts, v, n));
}

/* Decimal edge cases: scale changes (also past the largest scale), values
 * that are not short decimals, huge and tiny values, signs, -0.0 and NaN
 * between decimals, a return to the last decimal after a non-decimal, and
 * a mantissa that overflows when the scale grows. */
static void test_decimal_values(void **state)
{
    (void)state;
    const double v[] = {
        12345.6, 12345.7, 12345.75, 12345.8, 12345.85, 0.1 + 0.2, 12345.9,
        -0.0, 12345.9, -12.34, -0.01, 0.0, -0.0, -0.0, 0.01,
        from_bits(TSDB_STALE_NAN_BITS), 0.01, NAN, 0.02, INFINITY, -0.5,
        1.000001, 2.000002, 1e-9, 1.5e-9, 1e-10, 3e-9, 123456.123456789,
        0.1 + 0.7, 1e300, 1e-300, 4.9e-324, 5e15, -5e15, 9007199254740.99,
        9007199254740992.0, 9.007199254740993e6, 1e16, 0.3, 0.30000000000000004,
        1.0 / 3.0, 2.675, 1.005, 100.0, 99.99, 1e-5, 7.0, 7.0, 12345.67,
    };
    uint32_t n = sizeof v / sizeof v[0];
    int64_t ts[sizeof v / sizeof v[0]];
    for (uint32_t i = 0; i < n; i++)
        ts[i] = 1700000000000 + 15000 * (int64_t)i;
    free(roundtrip(ts, v, n));

    /* the scale grows while the last mantissa is too large to follow */
    const double w[] = {90071992547409.9, 90071992547409.8, 0.001, 90071992547409.7,
                        -90071992547409.9, 0.0001, 5.0};
    int64_t tw[7] = {0, 1, 2, 3, 4, 5, 6};
    struct tsdb__chunk *c = roundtrip(tw, w, 7);
    assert_int_equal(c->enc.scale, 4);
    free(c);
}

/* Decimal series as scrapes produce them (m / 10^k): counters, gauge walks
 * with stale markers and chunks starting on fewer decimals than later. */
static void test_decimal_series(void **state)
{
    (void)state;
    enum { N = 2000 };
    static int64_t ts[N];
    static double v[N];
    static const double pow10[] = {1, 10, 100, 1000, 1e4, 1e5, 1e6};
    rng_state = 13;
    for (int round = 0; round < 40; round++) {
        unsigned k = (unsigned)(round % 7);
        int64_t m = (int64_t)(rng() % 2000000) - (round & 1 ? 1000000 : 0);
        for (uint32_t i = 0; i < N; i++) {
            uint64_t r = rng();
            ts[i] = 15000 * (int64_t)i;
            m += round & 2 ? (int64_t)(r % 201) - 100 : (int64_t)(r % 1000);
            if (i % 97 == 0)
                m = m / 10 * 10; /* one decimal fewer now and then */
            v[i] = (r >> 32) % 50 == 0 ? from_bits(TSDB_STALE_NAN_BITS)
                                       : (double)m / pow10[k];
        }
        for (uint32_t at = 0; at < N; at += 120) /* chunks of 120 */
            free(roundtrip(ts + at, v + at, N - at < 120 ? N - at : 120));
    }
}

static void test_timestamps(void **state)
{
    (void)state;
    /* equal, jittered, negative, huge gaps and both ends of int64 */
    const int64_t ts[] = {
        INT64_MIN, INT64_MIN, INT64_MIN + 1, -1000000, -15000, -15000, -1, 0, 0,
        14999, 30001, 45000, 60002, 75000, 75000, 90000, 1700000000000,
        1700000015000, 1700000015000, 1700000030003, 1700000044998,
        INT64_MAX / 2, INT64_MAX - 1, INT64_MAX, INT64_MAX,
    };
    uint32_t n = sizeof ts / sizeof ts[0];
    double v[sizeof ts / sizeof ts[0]];
    for (uint32_t i = 0; i < n; i++)
        v[i] = (double)(i % 3);
    free(roundtrip(ts, v, n));
}

static void test_counter_reset_and_big_integers(void **state)
{
    (void)state;
    enum { N = 400 };
    int64_t ts[N];
    double v[N];
    int64_t m = 0;
    for (uint32_t i = 0; i < N; i++) {
        ts[i] = 1000 * (int64_t)i;
        if (i == 150 || i == 300)
            m = 0; /* counter reset */
        else if (i > 320)
            m = (INT64_C(1) << 53) - 500 + (int64_t)(i * 7); /* crosses 2^53 */
        else
            m += (int64_t)(rng() % 100000);
        v[i] = (double)m;
    }
    free(roundtrip(ts, v, N));
}

static void test_random_mixed(void **state)
{
    (void)state;
    enum { N = 3000 };
    static int64_t ts[N];
    static double v[N];
    rng_state = 7;
    for (int round = 0; round < 20; round++) {
        int64_t t = (int64_t)(rng() >> 1) - (INT64_C(1) << 61);
        for (uint32_t i = 0; i < N; i++) {
            uint64_t r = rng();
            t += (r & 7) == 0 ? (int64_t)(r >> 40) : 15000 + (int64_t)(r % 5) - 2;
            ts[i] = t;
            switch ((r >> 8) % 6) {
            case 0: v[i] = i ? v[i - 1] : 0; break;
            case 1: v[i] = (double)((int64_t)(r >> 20) % 1000); break;
            case 2: v[i] = (double)(r >> 12) / 100.0; break;
            case 3: v[i] = from_bits(rng()); break;
            case 4: v[i] = i ? v[i - 1] + 1 : 1; break;
            default: v[i] = from_bits(TSDB_STALE_NAN_BITS); break;
            }
        }
        free(roundtrip(ts, v, N));
    }
}

static void test_enospc_leaves_chunk_valid(void **state)
{
    (void)state;
    enum { N = 200 };
    int64_t ts[N];
    double v[N];
    rng_state = 3;
    for (uint32_t i = 0; i < N; i++) {
        ts[i] = 15000 * (int64_t)i;
        v[i] = from_bits(rng()); /* ~70+ bits each */
    }
    struct tsdb__chunk *c = tsdb__chunk_new(8);
    assert_non_null(c);
    uint32_t n = 0;
    while (tsdb__chunk_append(c, ts[n], v[n]) == 0)
        n++;
    assert_true(n >= 2 && n < 8);
    struct tsdb__chunk_enc before = c->enc;
    uint64_t words[8];
    for (int i = 0; i < 8; i++)
        words[i] = atomic_load(&c->words[i]);
    assert_int_equal(tsdb__chunk_append(c, ts[n], v[n]), -ENOSPC);
    assert_memory_equal(&before, &c->enc, sizeof before);
    for (int i = 0; i < 8; i++)
        assert_true(words[i] == atomic_load(&c->words[i]));
    expect_prefix(c, ts, v, n);
    /* a cheaper sample (same step, same value: 2 bits) still fits */
    ts[n] = ts[n - 1] + 15000;
    v[n] = v[n - 1];
    if (c->enc.nbits + 2 <= 8 * 64) {
        assert_int_equal(tsdb__chunk_append(c, ts[n], v[n]), 0);
        n++;
    }
    expect_prefix(c, ts, v, n);
    assert_int_equal(tsdb__chunk_size(c), sizeof *c + 8 * sizeof(uint64_t));
    free(c);

    struct tsdb__chunk *empty = tsdb__chunk_new(0);
    assert_non_null(empty);
    assert_int_equal(tsdb__chunk_append(empty, 1, 1.0), -ENOSPC);
    assert_int_equal(empty->enc.n, 0);
    free(empty);
}

static void test_prefix_reads(void **state)
{
    (void)state;
    enum { N = 130 };
    int64_t ts[N];
    double v[N];
    rng_state = 11;
    for (uint32_t i = 0; i < N; i++) {
        ts[i] = 15000 * (int64_t)i + (int64_t)(rng() % 3);
        v[i] = i % 10 < 5 ? (double)(i / 10) : (double)(rng() % 1000) / 8.0;
    }
    struct tsdb__chunk *c = roundtrip(ts, v, N);
    for (uint32_t k = 0; k <= N; k++)
        expect_prefix(c, ts, v, k);
    free(c);
}

/* One writer appends and publishes n with release; a reader decodes the
 * published prefix concurrently (run under TSan/ASan this is race-free). */
struct shared {
    struct tsdb__chunk *c;
    _Atomic uint32_t n;
    int64_t ts[20000];
    double v[20000];
};

static void *writer(void *arg)
{
    struct shared *s = arg;
    for (uint32_t i = 0; i < 20000; i++) {
        if (tsdb__chunk_append(s->c, s->ts[i], s->v[i]) != 0)
            break;
        atomic_store_explicit(&s->n, i + 1, memory_order_release);
    }
    return NULL;
}

static void test_concurrent_reader(void **state)
{
    (void)state;
    static struct shared s;
    for (uint32_t i = 0; i < 20000; i++) {
        s.ts[i] = 15000 * (int64_t)i;
        s.v[i] = i % 3 ? (double)i : (double)i / 7.0;
    }
    s.c = tsdb__chunk_new(20000 * 3);
    assert_non_null(s.c);
    atomic_store(&s.n, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer, &s), 0);
    uint32_t seen = 0;
    for (int rounds = 0; rounds < 200 && seen < 20000; rounds++) {
        uint32_t n = atomic_load_explicit(&s.n, memory_order_acquire);
        struct tsdb__chunk_iter it;
        int64_t t;
        double x;
        tsdb__chunk_iter_init(&it, s.c, n);
        for (uint32_t i = 0; i < n; i++) {
            assert_int_equal(tsdb__chunk_iter_next(&it, &t, &x), 1);
            assert_int_equal(t, s.ts[i]);
            assert_true(bits_of(x) == bits_of(s.v[i]));
        }
        seen = n;
    }
    pthread_join(th, NULL);
    expect_prefix(s.c, s.ts, s.v, atomic_load(&s.n));
    assert_int_equal(atomic_load(&s.n), 20000);
    free(s.c);
}

/* Bits per sample after 1000 samples at a steady 15 s interval. */
static double bits_per_sample(const double *v)
{
    struct tsdb__chunk *c = tsdb__chunk_new(1000 * 3);
    assert_non_null(c);
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(tsdb__chunk_append(c, 1700000000000 + 15000 * (int64_t)i, v[i]), 0);
    double bits = (double)c->enc.nbits / 1000.0;
    free(c);
    return bits;
}

static void test_size_constant_and_counters(void **state)
{
    (void)state;
    static double v[1000];
    rng_state = 5;
    for (int i = 0; i < 1000; i++)
        v[i] = 1.0;
    double constant = bits_per_sample(v);
    int64_t m = 1000;
    for (int i = 0; i < 1000; i++)
        v[i] = (double)(m += (int64_t)(rng() % 16)); /* requests per scrape */
    double small_counter = bits_per_sample(v);
    for (int i = 0; i < 1000; i++)
        v[i] = (double)(m += 1000 + (int64_t)(rng() % 200)); /* bytes per scrape */
    double big_counter = bits_per_sample(v);
    print_message("bits/sample: constant %.2f, counter +0..15 %.2f, counter +1000..1199 %.2f\n",
                  constant, small_counter, big_counter);
    assert_true(constant < 2.2);
    assert_true(small_counter < 9.5);
    assert_true(big_counter < 18.0);
}

/* Decimal values cost about what integers of the same digits do. */
static void test_size_decimals(void **state)
{
    (void)state;
    static double v[1000];
    rng_state = 17;
    int64_t m = 1234567; /* node_cpu_seconds_total: 12345.67 + 0.5..1.5 s */
    for (int i = 0; i < 1000; i++)
        v[i] = (double)(m += 50 + (int64_t)(rng() % 101)) / 100.0;
    double counter = bits_per_sample(v);
    m = 215; /* temperature 21.5 walking by up to 0.3 */
    for (int i = 0; i < 1000; i++)
        v[i] = (double)(m += (int64_t)(rng() % 7) - 3) / 10.0;
    double walk = bits_per_sample(v);
    m = 5000; /* load average 50.00 walking by up to 0.5 */
    for (int i = 0; i < 1000; i++)
        v[i] = (double)(m += (int64_t)(rng() % 101) - 50) / 100.0;
    double walk2 = bits_per_sample(v);
    print_message("bits/sample: 2-decimal counter %.2f, 1-decimal walk %.2f, "
                  "2-decimal walk %.2f\n", counter, walk, walk2);
    assert_true(counter < 18.0); /* was 58 with XOR */
    assert_true(walk < 9.0);
    assert_true(walk2 < 15.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_values),
        cmocka_unit_test(test_decimal_values),
        cmocka_unit_test(test_decimal_series),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_counter_reset_and_big_integers),
        cmocka_unit_test(test_random_mixed),
        cmocka_unit_test(test_enospc_leaves_chunk_valid),
        cmocka_unit_test(test_prefix_reads),
        cmocka_unit_test(test_concurrent_reader),
        cmocka_unit_test(test_size_constant_and_counters),
        cmocka_unit_test(test_size_decimals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
