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
 * Values: sample 0 stores the 64 value bits. Later samples store
 *
 *   0                      the same bits as the previous value
 *   10 + integer delta     previous and current value are integers within
 *                          +-2^53 (and not -0.0): u = zigzag(delta) - 1 as
 *                          0 + 5 bits | 10 + 12 bits | 110 + 24 bits |
 *                          111 + 56 bits
 *   11 + Gorilla XOR       0 + meaningful bits in the previous window, or
 *                          1 + 5 bits leading zeros + 6 bits length (0 = 64)
 *                          + meaningful bits, opening a new window
 *
 * Every double round-trips bit-exactly (NaN payloads, the stale marker,
 * +-Inf, -0.0) because non-integers always go through XOR. An append first
 * lays out its fields, checks they fit into cap_words and only then stores
 * them, so -ENOSPC leaves the chunk untouched. Words start zeroed and bits
 * are only ever OR-ed in, so a reader decoding published samples never sees
 * a half-written field.
 */

#define NO_WINDOW 0xff
#define INT_LIMIT 9007199254740992.0 /* 2^53 */

struct bucket {
    uint8_t prefix_bits; /* length of the prefix code */
    uint64_t prefix;
    uint8_t width;       /* payload bits */
};

/* Timestamp dod buckets, after the 1-bit "dod == 0" case. */
static const struct bucket ts_buckets[] = {
    {2, 0x2, 7}, {3, 0x6, 17}, {4, 0xe, 24}, {4, 0xf, 64},
};

/* Integer value buckets for u = zigzag(delta) - 1. */
static const struct bucket int_buckets[] = {
    {1, 0x0, 5}, {2, 0x2, 12}, {3, 0x6, 24}, {3, 0x7, 56},
};

#define NBUCKETS 4

/* The fields one sample writes; at most 9 (ts: 2, value: 2 + 5). */
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

/* 1 and the integer if v is an integer within +-2^53 other than -0.0. */
static int as_int(double v, uint64_t bits, int64_t *iv /* OUT */)
{
    if (!(fabs(v) <= INT_LIMIT) || bits == UINT64_C(0x8000000000000000))
        return 0;
    int64_t i = (int64_t)v;
    if ((double)i != v)
        return 0;
    *iv = i;
    return 1;
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
    return sizeof *c + (size_t)c->cap_words * sizeof c->words[0] + c->packed_len;
}

/* Lays out a non-first value: same, integer delta or XOR; updates the XOR
 * window in *lead / *trail when a new one is opened. */
static void put_value(struct fields *f, const struct tsdb__chunk_enc *e,
                      uint64_t bits, int is_int, int64_t iv, uint8_t *lead,
                      uint8_t *trail)
{
    if (bits == e->vbits) {
        field(f, 0, 1);
        return;
    }
    if (is_int && e->int_mode) {
        field(f, 0x2, 2);
        put_unsigned(f, int_buckets, tsdb__zigzag(iv - e->ivalue) - 1);
        return;
    }
    field(f, 0x3, 2);
    uint64_t x = bits ^ e->vbits;
    unsigned l = (unsigned)__builtin_clzll(x), t = (unsigned)__builtin_ctzll(x);
    if (l > 31)
        l = 31;
    unsigned sig = 64 - l - t;
    if (e->leading != NO_WINDOW && l >= e->leading && t >= e->trailing &&
        64 - e->leading - e->trailing <= sig + 11) {
        field(f, 0, 1);
        field(f, x >> e->trailing, 64 - e->leading - e->trailing);
        return;
    }
    field(f, 1, 1);
    field(f, l, 5);
    field(f, sig, 6); /* 64 wraps to 0 */
    field(f, x >> t, sig);
    *lead = (uint8_t)l;
    *trail = (uint8_t)t;
}

int tsdb__chunk_append(struct tsdb__chunk *c, int64_t t, double v)
{
    struct tsdb__chunk_enc *e = &c->enc;
    struct fields f = {0};
    uint64_t bits = to_bits(v);
    int64_t iv = 0;
    int is_int = as_int(v, bits, &iv);
    uint8_t lead = e->leading, trail = e->trailing;
    int64_t delta = 0;

    if (e->n == 0) {
        field(&f, (uint64_t)t, 64);
        field(&f, bits, 64);
    } else {
        assert(t >= e->t);
        delta = (int64_t)((uint64_t)t - (uint64_t)e->t);
        int64_t dod = (int64_t)((uint64_t)delta - (uint64_t)e->tdelta);
        if (dod == 0)
            field(&f, 0, 1);
        else
            put_signed(&f, ts_buckets, dod);
        put_value(&f, e, bits, is_int, iv, &lead, &trail);
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
    e->nbits = pos;
    e->n++;
    e->tdelta = delta;
    e->t = t;
    e->vbits = bits;
    e->int_mode = (uint8_t)is_int;
    e->ivalue = iv;
    e->leading = lead;
    e->trailing = trail;
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

static void load_value(struct tsdb__chunk_iter *it)
{
    if (!load_bits(it, 1))
        return; /* same bits */
    if (!load_bits(it, 1)) {
        unsigned k = load_prefix(it, 3);
        uint64_t u = load_bits(it, int_buckets[k].width);
        it->ivalue += tsdb__unzigzag(u + 1);
        it->vbits = to_bits((double)it->ivalue);
        it->int_mode = 1;
        return;
    }
    uint64_t x;
    if (!load_bits(it, 1)) {
        x = load_bits(it, 64u - it->leading - it->trailing) << it->trailing;
    } else {
        unsigned l = (unsigned)load_bits(it, 5);
        unsigned sig = (unsigned)load_bits(it, 6);
        if (sig == 0)
            sig = 64;
        it->leading = (uint8_t)l;
        it->trailing = (uint8_t)(64 - l - sig);
        x = load_bits(it, sig) << it->trailing;
    }
    it->vbits ^= x;
    int64_t iv;
    it->int_mode = (uint8_t)as_int(from_bits(it->vbits), it->vbits, &iv);
    if (it->int_mode)
        it->ivalue = iv;
}

int tsdb__chunk_iter_next(struct tsdb__chunk_iter *it, int64_t *t, double *v)
{
    if (it->i >= it->n)
        return 0;
    if (it->i == 0) {
        it->t = (int64_t)load_bits(it, 64);
        it->vbits = load_bits(it, 64);
        int64_t iv;
        it->int_mode = (uint8_t)as_int(from_bits(it->vbits), it->vbits, &iv);
        it->ivalue = it->int_mode ? iv : 0;
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
