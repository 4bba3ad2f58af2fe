/* chunk.c — the head chunk codec: an appendable bit stream of samples that
 * one writer extends while readers decode the samples published to them. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb_int.h"

/* Design notes. Bits are packed MSB first into words[]. Each sample is a
 * timestamp code followed by a value code.
 *
 * Timestamps: sample 0 stores the full 64-bit timestamp; every later sample
 * stores dod = delta - previous delta (the delta before sample 1 is 0, so
 * sample 1 stores its delta), all in wrapping 64-bit arithmetic:
 *
 *   0                 dod == 0
 *   10    + 7 bits    dod in [-63, 64]        (scrape jitter)
 *   110   + 17 bits   dod in [-65535, 65536]  (a 15 s first delta, gaps)
 *   1110  + 24 bits   dod in [-2^23+1, 2^23]
 *   1111  + 64 bits   anything
 *
 * Values are coded as decimals where they can be. v is decimal at scale e
 * (0 <= e <= MAX_SCALE) with mantissa m if m = round(v * 10^e) has
 * |m| <= 2^53 and dec(m, e) = (double)m / 10^e (just (double)m for e = 0)
 * has exactly v's bits; -0.0, NaN, +-Inf and most floats are not. Encoder
 * and decoder both keep a scale e (only grows within a chunk), the mantissa
 * mant of the last decimal-coded value and dec_last, whether the previous
 * sample was that value. Sample 0 stores the 64 value bits and sets e to
 * the smallest scale at which it is decimal (mant = m, dec_last = 1), or to
 * e = 0, mant = 0, dec_last = 0 when there is none. Later samples store
 *
 *   0                      the same bits as the previous value
 *   10 + decimal delta     v is decimal at scale e
 *   11 + Gorilla XOR       0 + meaningful bits in the previous window, or
 *                          1 + 5 bits leading zeros + 6 bits length (0 = 64)
 *                          + meaningful bits, opening a new window;
 *                          dec_last = 0
 *   111 + 5 bits e' + 000000 + decimal delta
 *                          scale change: v is decimal at e' > e, not at e.
 *                          A new window never has length 64 with leading
 *                          zeros, so e' (1..MAX_SCALE) in that field is
 *                          free. First mant *= 10^(e'-e), or mant = 0 and
 *                          dec_last = 0 if that would leave +-2^53; e = e'.
 *
 * A decimal delta is u = zigzag(m - mant) - dec_last (when dec_last is 1,
 * m == mant would be the same bits) as 0 + 5 bits | 10 + 12 bits |
 * 110 + 24 bits | 111 + 56 bits; then mant = m, dec_last = 1. At scale 0
 * this is exactly the former integer code. The encoder takes a value at
 * the current scale, else at the smallest larger scale, else as XOR.
 *
 * Every double round-trips bit-exactly (NaN payloads, the stale marker,
 * +-Inf, -0.0): a value is only coded as a decimal when the decoder's
 * dec(m, e) reproduces its bits, everything else goes through XOR.
 * dec() is one IEEE division of exact operands (m and 10^e <= 10^9 are
 * exact doubles), so it is the same on both sides. An append first
 * lays out its fields, checks they fit into cap_words and only then stores
 * them, so -ENOSPC leaves the chunk untouched. Words start zeroed and bits
 * are only ever OR-ed in, so a reader decoding published samples never sees
 * a half-written field.
 */

#define NO_WINDOW 0xff
#define MAX_SCALE 9
#define DEC_LIMIT (INT64_C(1) << 53)

static const double pow10_dbl[MAX_SCALE + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
};
static const int64_t pow10_int[MAX_SCALE + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
};

struct bucket {
    uint8_t prefix_bits; /* length of the prefix code */
    uint64_t prefix;
    uint8_t width;       /* payload bits */
};

/* Timestamp dod buckets, after the 1-bit "dod == 0" case. */
static const struct bucket ts_buckets[] = {
    {2, 0x2, 7}, {3, 0x6, 17}, {4, 0xe, 24}, {4, 0xf, 64},
};

/* Decimal delta buckets for u = zigzag(delta) - dec_last. */
static const struct bucket dec_buckets[] = {
    {1, 0x0, 5}, {2, 0x2, 12}, {3, 0x6, 24}, {3, 0x7, 56},
};

#define NBUCKETS 4

/* The fields one sample writes; at most 8 (ts: 2, value: up to 6 for a
 * scale change). */
struct fields {
    unsigned n;
    uint32_t bits;
    uint64_t v[9];
    uint8_t width[9];
};

static uint64_t mask(unsigned width)
{
    return width >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << width) - 1;
}

static void field(struct fields *f, uint64_t v, unsigned width)
{
    f->v[f->n] = v & mask(width);
    f->width[f->n] = (uint8_t)width;
    f->n++;
    f->bits += width;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static uint64_t to_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* The value of mantissa m at scale e, as the decoder computes it. */
static double dec(int64_t m, unsigned e)
{
    return e ? (double)m / pow10_dbl[e] : (double)m;
}

/* 1 and the mantissa if v (with these bits) is decimal at scale e. */
static int as_decimal(double v, uint64_t bits, unsigned e, int64_t *m /* OUT */)
{
    double x = v * pow10_dbl[e];
    if (!(fabs(x) <= (double)DEC_LIMIT))
        return 0;
    int64_t i = (int64_t)nearbyint(x);
    if (to_bits(dec(i, e)) != bits)
        return 0;
    *m = i;
    return 1;
}

/* Sets the decimal state from sample 0: the smallest scale it is decimal
 * at, or scale 0 and no decimal. */
static void first_decimal(uint64_t bits, int64_t *mant, uint8_t *dec_last,
                          uint8_t *scale)
{
    *mant = 0;
    *dec_last = 0;
    *scale = 0;
    for (unsigned e = 0; e <= MAX_SCALE; e++)
        if (as_decimal(from_bits(bits), bits, e, mant)) {
            *dec_last = 1;
            *scale = (uint8_t)e;
            return;
        }
}

/* Raises the scale to e; mant follows, or drops to 0 (and is no longer the
 * last value) if it would leave +-2^53. */
static void grow_scale(int64_t *mant, uint8_t *dec_last, uint8_t *scale, unsigned e)
{
    assert(e > *scale && e <= MAX_SCALE);
    int64_t p = pow10_int[e - *scale];
    if (*mant >= -DEC_LIMIT / p && *mant <= DEC_LIMIT / p) {
        *mant *= p;
    } else {
        *mant = 0;
        *dec_last = 0;
    }
    *scale = (uint8_t)e;
}

/* Adds the bucketed code of a signed x; table[k] holds payloads of width w
 * as (x - lo) with lo = -(2^(w-1)) + 1 so the range is [-2^(w-1)+1, 2^(w-1)].
 * The last bucket (64 bits) takes anything. */
static void put_signed(struct fields *f, const struct bucket *table, int64_t x)
{
    for (unsigned k = 0; k < NBUCKETS; k++) {
        const struct bucket *b = &table[k];
        if (b->width < 64) {
            int64_t half = INT64_C(1) << (b->width - 1);
            if (x < -half + 1 || x > half)
                continue;
        }
        field(f, b->prefix, b->prefix_bits);
        field(f, (uint64_t)x, b->width);
        return;
    }
}

/* Adds the bucketed code of an unsigned u (payload is u itself). */
static void put_unsigned(struct fields *f, const struct bucket *table, uint64_t u)
{
    unsigned k = 0;
    while (k + 1 < NBUCKETS && u > mask(table[k].width))
        k++;
    field(f, table[k].prefix, table[k].prefix_bits);
    field(f, u, table[k].width);
}

static void store_bits(_Atomic uint64_t *words, uint32_t pos, uint64_t v,
                       unsigned width)
{
    if (width == 0)
        return;
    uint32_t idx = pos >> 6;
    unsigned room = 64 - (pos & 63);
    uint64_t w = atomic_load_explicit(&words[idx], memory_order_relaxed);
    if (width <= room) {
        w |= v << (room - width);
        atomic_store_explicit(&words[idx], w, memory_order_relaxed);
        return;
    }
    unsigned rest = width - room; /* 1..63 */
    atomic_store_explicit(&words[idx], w | (v >> rest), memory_order_relaxed);
    w = atomic_load_explicit(&words[idx + 1], memory_order_relaxed);
    atomic_store_explicit(&words[idx + 1], w | (v << (64 - rest)),
                          memory_order_relaxed);
}

struct tsdb__chunk *tsdb__chunk_new(uint32_t cap_words)
{
    struct tsdb__chunk *c = calloc(1, sizeof *c + (size_t)cap_words * sizeof c->words[0]);
    if (!c)
        return NULL;
    c->cap_words = cap_words;
    c->enc.leading = NO_WINDOW;
    return c;
}

/* A packed (sealed, block-encoded) chunk has no words but packed_len bytes. */
size_t tsdb__chunk_size(const struct tsdb__chunk *c)
{
    if (c->packed)
        return TSDB__CHUNK_PACKED_HEADER + c->packed_len;
    return sizeof *c + (size_t)c->cap_words * sizeof c->words[0];
}

/* Adds a decimal delta to mantissa m and makes m the last value. */
static void put_decimal(struct fields *f, struct tsdb__chunk_enc *s, int64_t m)
{
    uint64_t u = tsdb__zigzag(m - s->mant);
    assert(u >= s->dec_last);
    put_unsigned(f, dec_buckets, u - s->dec_last);
    s->mant = m;
    s->dec_last = 1;
}

/* Adds an XOR code against the previous bits; opens a new window in s when
 * the previous one does not fit or costs too much. */
static void put_xor(struct fields *f, struct tsdb__chunk_enc *s, uint64_t bits)
{
    uint64_t x = bits ^ s->vbits;
    unsigned l = (unsigned)__builtin_clzll(x), t = (unsigned)__builtin_ctzll(x);
    if (l > 31)
        l = 31;
    unsigned sig = 64 - l - t;
    s->dec_last = 0;
    if (s->leading != NO_WINDOW && l >= s->leading && t >= s->trailing &&
        64 - s->leading - s->trailing <= sig + 11) {
        field(f, 0, 1);
        field(f, x >> s->trailing, 64 - s->leading - s->trailing);
        return;
    }
    field(f, 1, 1);
    field(f, l, 5);
    field(f, sig, 6); /* 64 wraps to 0 */
    field(f, x >> t, sig);
    s->leading = (uint8_t)l;
    s->trailing = (uint8_t)t;
}

/* Lays out a non-first value (same, decimal delta, scale change or XOR) and
 * updates the value state in *s (a copy, kept only if the sample fits). */
static void put_value(struct fields *f, struct tsdb__chunk_enc *s, double v,
                      uint64_t bits)
{
    int64_t m;
    if (bits == s->vbits) {
        field(f, 0, 1);
        return;
    }
    if (as_decimal(v, bits, s->scale, &m)) {
        field(f, 0x2, 2);
        put_decimal(f, s, m);
        return;
    }
    field(f, 0x3, 2);
    for (unsigned e = s->scale + 1u; e <= MAX_SCALE; e++) {
        if (as_decimal(v, bits, e, &m)) {
            field(f, 1, 1);
            field(f, e, 5);
            field(f, 0, 6);
            grow_scale(&s->mant, &s->dec_last, &s->scale, e);
            put_decimal(f, s, m);
            return;
        }
    }
    put_xor(f, s, bits);
}

int tsdb__chunk_append(struct tsdb__chunk *c, int64_t t, double v)
{
    struct tsdb__chunk_enc *e = &c->enc, next = *e;
    struct fields f = {0};
    uint64_t bits = to_bits(v);

    if (e->n == 0) {
        field(&f, (uint64_t)t, 64);
        field(&f, bits, 64);
        first_decimal(bits, &next.mant, &next.dec_last, &next.scale);
        next.tdelta = 0;
    } else {
        assert(t >= e->t);
        next.tdelta = (int64_t)((uint64_t)t - (uint64_t)e->t);
        int64_t dod = (int64_t)((uint64_t)next.tdelta - (uint64_t)e->tdelta);
        if (dod == 0)
            field(&f, 0, 1);
        else
            put_signed(&f, ts_buckets, dod);
        put_value(&f, &next, v, bits);
    }
    if ((uint64_t)e->nbits + f.bits > (uint64_t)c->cap_words * 64)
        return -ENOSPC;

    uint32_t pos = e->nbits;
    for (unsigned i = 0; i < f.n; i++) {
        store_bits(c->words, pos, f.v[i], f.width[i]);
        pos += f.width[i];
    }
    if (e->n == 0)
        c->mint = t;
    next.nbits = pos;
    next.n++;
    next.t = t;
    next.vbits = bits;
    *e = next;
    return 0;
}

/* ---- reading ----------------------------------------------------------- */

static uint64_t load_bits(struct tsdb__chunk_iter *it, unsigned width)
{
    if (width == 0)
        return 0;
    uint32_t idx = it->pos >> 6;
    unsigned off = it->pos & 63;
    uint64_t w = atomic_load_explicit(&it->c->words[idx], memory_order_relaxed);
    uint64_t v;
    it->pos += width;
    if (off + width <= 64)
        return (w << off) >> (64 - width);
    unsigned rest = off + width - 64; /* 1..63 */
    v = (w << off) >> (64 - width);
    w = atomic_load_explicit(&it->c->words[idx + 1], memory_order_relaxed);
    return v | (w >> (64 - rest));
}

/* Number of leading 1 bits (up to max) of a prefix code, consumed with its
 * terminating 0 when shorter than max. */
static unsigned load_prefix(struct tsdb__chunk_iter *it, unsigned max)
{
    unsigned k = 0;
    while (k < max && load_bits(it, 1))
        k++;
    return k;
}

static int64_t sign_extend(uint64_t u, unsigned width)
{
    if (width >= 64)
        return (int64_t)u;
    uint64_t half = UINT64_C(1) << (width - 1);
    /* payload of x is x mod 2^w; values above half are negative */
    return u > half ? (int64_t)(u - (half << 1)) : (int64_t)u;
}

void tsdb__chunk_iter_init(struct tsdb__chunk_iter *it, const struct tsdb__chunk *c,
                           uint32_t n)
{
    memset(it, 0, sizeof *it);
    it->c = c;
    it->n = n;
}

/* Reads a decimal delta and makes the value mant / 10^scale. */
static void load_decimal(struct tsdb__chunk_iter *it)
{
    unsigned k = load_prefix(it, 3);
    uint64_t u = load_bits(it, dec_buckets[k].width);
    it->mant += tsdb__unzigzag(u + it->dec_last);
    it->vbits = to_bits(dec(it->mant, it->scale));
    it->dec_last = 1;
}

static void load_value(struct tsdb__chunk_iter *it)
{
    if (!load_bits(it, 1))
        return; /* same bits */
    if (!load_bits(it, 1)) {
        load_decimal(it);
        return;
    }
    uint64_t x;
    if (!load_bits(it, 1)) {
        x = load_bits(it, 64u - it->leading - it->trailing) << it->trailing;
    } else {
        unsigned l = (unsigned)load_bits(it, 5);
        unsigned sig = (unsigned)load_bits(it, 6);
        if (sig == 0 && l != 0) { /* scale change */
            grow_scale(&it->mant, &it->dec_last, &it->scale, l);
            load_decimal(it);
            return;
        }
        if (sig == 0)
            sig = 64;
        it->leading = (uint8_t)l;
        it->trailing = (uint8_t)(64 - l - sig);
        x = load_bits(it, sig) << it->trailing;
    }
    it->vbits ^= x;
    it->dec_last = 0;
}

int tsdb__chunk_iter_next(struct tsdb__chunk_iter *it, int64_t *t, double *v)
{
    if (it->i >= it->n)
        return 0;
    if (it->i == 0) {
        it->t = (int64_t)load_bits(it, 64);
        it->vbits = load_bits(it, 64);
        first_decimal(it->vbits, &it->mant, &it->dec_last, &it->scale);
    } else {
        int64_t dod = 0;
        unsigned k = load_prefix(it, 4);
        if (k > 0) {
            const struct bucket *b = &ts_buckets[k - 1];
            dod = sign_extend(load_bits(it, b->width), b->width);
        }
        it->tdelta = (int64_t)((uint64_t)it->tdelta + (uint64_t)dod);
        it->t = (int64_t)((uint64_t)it->t + (uint64_t)it->tdelta);
        load_value(it);
    }
    it->i++;
    *t = it->t;
    *v = from_bits(it->vbits);
    return 1;
}
