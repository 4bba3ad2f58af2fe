/* fuzz_blockenc.c — libFuzzer target for the block chunk encoding: the raw
 * input is fed to decode (which must not crash and must answer a count or
 * TSDB_E_CORRUPT), and samples derived from it go through encode/decode and
 * must come back bit-exactly. Aborts on any mismatch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb_int.h"

#define MAX_SAMPLES 2048

static int64_t ts[MAX_SAMPLES], ts2[MAX_SAMPLES];
static double v[MAX_SAMPLES], v2[MAX_SAMPLES];
static uint8_t enc[16 + 19 * MAX_SAMPLES];

struct input {
    const uint8_t *p;
    size_t len;
};

static uint64_t take(struct input *in, size_t k)
{
    uint64_t u = 0;
    for (size_t i = 0; i < k && in->len > 0; i++, in->p++, in->len--)
        u |= (uint64_t)*in->p << (8 * i);
    return u;
}

static uint64_t bits_of(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static double from_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

static void decode_raw(const uint8_t *data, size_t size)
{
    int rc = tsdb__blockenc_decode(data, size, ts2, v2, MAX_SAMPLES);
    int count = tsdb__blockenc_count(data, size);
    if (rc != TSDB_E_CORRUPT && rc != -ENOSPC && rc <= 0)
        abort();
    if (rc > 0 && count != rc)
        abort();
    for (int i = 1; i < rc; i++)
        if (ts2[i] <= ts2[i - 1])
            abort(); /* decode promises ascending timestamps */
}

/* Records: tag bits 0-1 pick the timestamp step (repeat, 1, 2 or 8 bytes;
 * steps are >= 1), bits 2-4 the value (repeat, small step, decimal
 * int16 / 10^k, 32-bit integer, raw 64 bits, stale marker). */
static uint32_t derive(struct input *in)
{
    static const size_t ts_bytes[4] = {0, 1, 2, 8};
    int64_t t = (int64_t)take(in, 8), step = 1;
    double x = 0;
    uint32_t n = 0;
    while (in->len > 0 && n < MAX_SAMPLES) {
        uint8_t tag = (uint8_t)take(in, 1);
        if (tag & 3)
            step = 1 + (int64_t)(take(in, ts_bytes[tag & 3]) >> 2);
        if (n > 0) {
            if (t > 0 && step > INT64_MAX - t)
                break;
            t += step;
        }
        switch ((tag >> 2) & 7) {
        case 0: break;
        case 1: x = x == x && x > -1e15 && x < 1e15 ? x + (double)(int8_t)take(in, 1) : 0; break;
        case 2: {
            static const double p10[5] = {1, 10, 100, 1000, 1e9};
            int16_t m = (int16_t)take(in, 2);
            x = (double)m / p10[(tag >> 5) % 5];
            break;
        }
        case 3: x = (double)(int32_t)take(in, 4); break;
        case 4: x = from_bits(TSDB_STALE_NAN_BITS); break;
        default: x = from_bits(take(in, 8)); break;
        }
        ts[n] = t;
        v[n] = x;
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_raw(data, size);
    struct input in = {data, size};
    uint32_t n = derive(&in);
    if (n == 0)
        return 0;
    size_t len = tsdb__blockenc_encode(ts, v, n, enc);
    if (len > tsdb__blockenc_bound(n))
        abort();
    if (tsdb__blockenc_decode(enc, len, ts2, v2, MAX_SAMPLES) != (int)n)
        abort();
    for (uint32_t i = 0; i < n; i++)
        if (ts2[i] != ts[i] || bits_of(v2[i]) != bits_of(v[i]))
            abort();
    return 0;
}
