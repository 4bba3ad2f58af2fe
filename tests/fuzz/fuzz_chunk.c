/* fuzz_chunk.c — libFuzzer target for the head chunk codec: the input is a
 * chunk capacity and a sequence of (timestamp step, value) records; every
 * sample that fits must decode bit-exactly, and -ENOSPC must leave the
 * chunk decodable. Aborts on any mismatch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb_int.h"

#define MAX_SAMPLES 4096

struct input {
    const uint8_t *p;
    size_t len;
};

/* Little-endian integer of k bytes, 0-padded when the input runs out. */
static uint64_t take(struct input *in, size_t k)
{
    uint64_t u = 0;
    for (size_t i = 0; i < k && in->len > 0; i++, in->p++, in->len--)
        u |= (uint64_t)*in->p << (8 * i);
    return u;
}

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

/* Next record: tag bits 0-1 pick the timestamp step (repeat the last step,
 * 1, 2 or 8 bytes), bits 2-3 the value (repeat, small step, 32-bit integer,
 * raw 64 bits) and bits 4-7 k: steps and integers are divided by 10^k
 * (k % 11, one past the codec's largest scale), like a scrape parser's
 * "12.34" or a sum of them, e.g. 0.1 + 0.2. */
static void next_sample(struct input *in, int64_t *t, int64_t *step, double *v)
{
    static const double pow10[11] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
                                     1e7, 1e8, 1e9, 1e10};
    uint8_t tag = (uint8_t)take(in, 1);
    double scale = pow10[(tag >> 4) % 11];
    static const size_t ts_bytes[4] = {0, 1, 2, 8};
    if (tag & 3)
        *step = (int64_t)(take(in, ts_bytes[tag & 3]) >> 1);
    if (*t > 0 && *step > INT64_MAX - *t)
        *step = 0; /* timestamps must not decrease */
    *t += *step;
    switch ((tag >> 2) & 3) {
    case 0:
        break;
    case 1:
        *v = *v == *v && *v > -1e15 && *v < 1e15
                 ? *v + (double)(int8_t)take(in, 1) / scale : 0;
        break;
    case 2:
        *v = (double)(int32_t)take(in, 4) / scale;
        break;
    default:
        *v = from_bits(take(in, 8));
        break;
    }
}

static void check(const struct tsdb__chunk *c, const int64_t *ts, const double *v,
                  uint32_t n)
{
    struct tsdb__chunk_iter it;
    int64_t t;
    double x;
    tsdb__chunk_iter_init(&it, c, n);
    for (uint32_t i = 0; i < n; i++)
        if (tsdb__chunk_iter_next(&it, &t, &x) != 1 || t != ts[i] ||
            bits_of(x) != bits_of(v[i]))
            abort();
    if (tsdb__chunk_iter_next(&it, &t, &x) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int64_t ts[MAX_SAMPLES];
    static double v[MAX_SAMPLES];
    struct input in = {data, size};
    uint32_t cap = 1 + (uint32_t)take(&in, 1) * 4;
    struct tsdb__chunk *c = tsdb__chunk_new(cap);
    if (!c)
        return 0;
    int64_t t = (int64_t)take(&in, 8), step = 0;
    double x = 0;
    uint32_t n = 0;
    while (in.len > 0 && n < MAX_SAMPLES) {
        next_sample(&in, &t, &step, &x);
        int rc = tsdb__chunk_append(c, t, x);
        if (rc == -ENOSPC)
            break;
        if (rc != 0)
            abort();
        ts[n] = t;
        v[n] = x;
        n++;
    }
    check(c, ts, v, n);
    check(c, ts, v, n / 2); /* a reader that saw only part of it */
    free(c);
    return 0;
}
