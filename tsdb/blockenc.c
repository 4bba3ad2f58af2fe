/* blockenc.c — the byte-aligned encoding of sealed chunks in block files,
 * laid out so that LZ4 over pages of many chunks finds long matches. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "tsdb_int.h"

/* Design notes. An encoded chunk is
 *
 *   u8       version << 4 | mode
 *   uvarint  n (>= 1)
 *   varint   ts[0] (zigzag), then uvarint ts[1]-ts[0] (> 0), then zigzag
 *            varint delta-of-deltas for ts[2..n)
 *   values   by mode:
 *     DELTA, DOD  (decimal: every value that is not an exception equals
 *                 m * 10^-e for an integer |m| < 2^53, bit-exactly)
 *       varint   e (zigzag, |e| <= 22)
 *       uvarint  number of exceptions
 *       each     uvarint gap (index - previous exception index - 1, or the
 *                index for the first) and the value's 8 bytes, little endian
 *       DELTA:   varint base (zigzag): the mean step, rounded toward 0
 *       varints  m of the other values: m[0] zigzag, then zigzag
 *                (delta - base) (DELTA), or one delta and zigzag
 *                delta-of-deltas (DOD)
 *     XOR
 *       8 bytes  v[0], little endian
 *       each     control byte (leading zero bytes << 4 | trailing zero
 *                bytes) of v[i] ^ v[i-1], then its middle bytes, high first
 *
 * Exceptions keep NaNs (the stale marker included), +-Inf, -0.0 and the
 * odd value with too many digits bit-exact without spoiling the decimal
 * coding of the rest. The encoder computes the exact size of every candidate
 * (each exponent some value needs, DELTA or DOD, and XOR) and writes the
 * smallest, so the value part never exceeds XOR's 9 bytes per sample.
 */

#define VERSION 1
#define MODE_DELTA 0
#define MODE_DOD 1
#define MODE_XOR 2
#define MAX_EXP 22
#define NO_EXP (MAX_EXP + 1)
#define INT_LIMIT 9007199254740992.0 /* 2^53 */

static const double pow10_tab[MAX_EXP + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static uint64_t to_bits(double v)
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

static size_t varint_len(uint64_t u)
{
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

/* m * 10^-e, correctly rounded (both operands are exact doubles). */
static double from_decimal(int64_t m, int e)
{
    return e >= 0 ? (double)m / pow10_tab[e] : (double)m * pow10_tab[-e];
}

/* 1 and *m if v is bit-exactly m * 10^-e with |m| < 2^53, else 0. */
static int decimal_at(double v, int e, int64_t *m /* OUT */)
{
    double s = e >= 0 ? v * pow10_tab[e] : v / pow10_tab[-e];
    if (!(fabs(s) < INT_LIMIT))
        return 0;
    int64_t i = llround(s);
    if (i >= (INT64_C(1) << 53) || i <= -(INT64_C(1) << 53))
        return 0;
    if (to_bits(from_decimal(i, e)) != to_bits(v))
        return 0;
    *m = i;
    return 1;
}

/* The smallest exponent e in [-MAX_EXP, MAX_EXP] at which v is decimal, or
 * NO_EXP. Integers drop their trailing zeros (negative e). */
static int min_exp(double v)
{
    int64_t m;
    if (!isfinite(v))
        return NO_EXP;
    if (decimal_at(v, 0, &m)) {
        int e = 0;
        while (m != 0 && m % 10 == 0 && e > -MAX_EXP) {
            m /= 10;
            e--;
        }
        return e;
    }
    for (int e = 1; e <= MAX_EXP; e++) {
        if (decimal_at(v, e, &m))
            return e;
        if (fabs(v) * pow10_tab[e] >= INT_LIMIT)
            break;
    }
    return NO_EXP;
}

/* Exact bytes of the value part in XOR mode. */
static size_t xor_size(const double *v, uint32_t n)
{
    size_t bytes = 8;
    for (uint32_t i = 1; i < n; i++) {
        uint64_t x = to_bits(v[i]) ^ to_bits(v[i - 1]);
        bytes += 1;
        if (x)
            bytes += 8 - (unsigned)__builtin_clzll(x) / 8 - (unsigned)__builtin_ctzll(x) / 8;
    }
    return bytes;
}

/* The mean step of the decimal integers at exponent e (rounded toward 0),
 * which DELTA mode subtracts from every delta. */
static int64_t mean_step(const double *v, uint32_t n, int e)
{
    int64_t first = 0, last = 0, m;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!decimal_at(v[i], e, &m))
            continue;
        if (k++ == 0)
            first = m;
        last = m;
    }
    return k >= 2 ? (last - first) / (int64_t)(k - 1) : 0;
}

/* Exact bytes of the value part in DELTA and DOD mode at exponent e. */
static void decimal_size(const double *v, uint32_t n, int e, int64_t base,
                         size_t *delta /* OUT */, size_t *dod /* OUT */)
{
    size_t exc = 0, exc_bytes = 0, db = 0, ddb = 0;
    uint32_t next = 0, k = 0;
    int64_t prev = 0, prevd = 0, m;
    for (uint32_t i = 0; i < n; i++) {
        if (!decimal_at(v[i], e, &m)) {
            exc_bytes += varint_len(i - next) + 8;
            next = i + 1;
            exc++;
            continue;
        }
        if (k == 0) {
            db += varint_len(tsdb__zigzag(m));
            ddb += varint_len(tsdb__zigzag(m));
        } else {
            int64_t d = m - prev;
            db += varint_len(tsdb__zigzag(d - base));
            ddb += varint_len(tsdb__zigzag(k == 1 ? d : d - prevd));
            prevd = d;
        }
        prev = m;
        k++;
    }
    size_t head = varint_len(tsdb__zigzag(e)) + varint_len(exc) + exc_bytes;
    *delta = head + varint_len(tsdb__zigzag(base)) + db;
    *dod = head + ddb;
}

/* Picks the smallest value encoding: sets *e and returns the mode. */
static int choose_mode(const double *v, uint32_t n, int *e /* OUT */)
{
    uint64_t exps = 0; /* bit e + MAX_EXP: some value needs exponent e */
    for (uint32_t i = 0; i < n; i++) {
        int x = min_exp(v[i]);
        if (x != NO_EXP)
            exps |= UINT64_C(1) << (x + MAX_EXP);
    }
    size_t best = xor_size(v, n);
    int mode = MODE_XOR;
    *e = 0;
    for (int x = -MAX_EXP; x <= MAX_EXP; x++) {
        if (!(exps & (UINT64_C(1) << (x + MAX_EXP))))
            continue;
        size_t delta, dod;
        decimal_size(v, n, x, mean_step(v, n, x), &delta, &dod);
        if (delta <= best) {
            best = delta;
            mode = MODE_DELTA;
            *e = x;
        }
        if (dod < best) {
            best = dod;
            mode = MODE_DOD;
            *e = x;
        }
    }
    return mode;
}

size_t tsdb__blockenc_bound(uint32_t n)
{
    /* header 1 + 5, timestamps 10 each, values at most XOR's 8 + 9 (n-1) */
    return 16 + 19 * (size_t)n;
}

static uint8_t *put_raw(uint8_t *p, uint64_t b)
{
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(b >> (8 * i));
    return p;
}

static uint8_t *put_timestamps(uint8_t *p, const int64_t *ts, uint32_t n)
{
    p += tsdb__uvarint_put(p, tsdb__zigzag(ts[0]));
    uint64_t prev = 0;
    for (uint32_t i = 1; i < n; i++) {
        uint64_t d = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        if (i == 1)
            p += tsdb__uvarint_put(p, d);
        else
            p += tsdb__uvarint_put(p, tsdb__zigzag((int64_t)(d - prev)));
        prev = d;
    }
    return p;
}

static uint8_t *put_xor(uint8_t *p, const double *v, uint32_t n)
{
    p = put_raw(p, to_bits(v[0]));
    for (uint32_t i = 1; i < n; i++) {
        uint64_t x = to_bits(v[i]) ^ to_bits(v[i - 1]);
        unsigned lead = 8, trail = 0;
        if (x) {
            lead = (unsigned)__builtin_clzll(x) / 8;
            trail = (unsigned)__builtin_ctzll(x) / 8;
        }
        *p++ = (uint8_t)(lead << 4 | trail);
        for (int b = 7 - (int)lead; b >= (int)trail; b--)
            *p++ = (uint8_t)(x >> (8 * b));
    }
    return p;
}

static uint8_t *put_decimal(uint8_t *p, const double *v, uint32_t n, int e, int mode)
{
    int64_t m, prev = 0, prevd = 0, base = mode == MODE_DELTA ? mean_step(v, n, e) : 0;
    uint32_t exc = 0, next = 0, k = 0;
    for (uint32_t i = 0; i < n; i++)
        exc += !decimal_at(v[i], e, &m);
    p += tsdb__uvarint_put(p, tsdb__zigzag(e));
    p += tsdb__uvarint_put(p, exc);
    for (uint32_t i = 0; i < n; i++) {
        if (!decimal_at(v[i], e, &m)) {
            p += tsdb__uvarint_put(p, i - next);
            p = put_raw(p, to_bits(v[i]));
            next = i + 1;
        }
    }
    if (mode == MODE_DELTA)
        p += tsdb__uvarint_put(p, tsdb__zigzag(base));
    for (uint32_t i = 0; i < n; i++) {
        if (!decimal_at(v[i], e, &m))
            continue;
        int64_t d = m - prev, u = k == 0 ? m : d - base;
        if (mode == MODE_DOD && k >= 2)
            u = d - prevd;
        p += tsdb__uvarint_put(p, tsdb__zigzag(u));
        prevd = d;
        prev = m;
        k++;
    }
    return p;
}

size_t tsdb__blockenc_encode(const int64_t *ts, const double *v, uint32_t n,
                             uint8_t *out)
{
    int e;
    int mode = choose_mode(v, n, &e);
    uint8_t *p = out;
    *p++ = (uint8_t)(VERSION << 4 | mode);
    p += tsdb__uvarint_put(p, n);
    p = put_timestamps(p, ts, n);
    p = mode == MODE_XOR ? put_xor(p, v, n) : put_decimal(p, v, n, e, mode);
    return (size_t)(p - out);
}

/* ---- decoding ----------------------------------------------------------- */

/* A bounds-checked cursor over the input. */
struct reader {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t get_uvarint(struct reader *r)
{
    uint64_t u = 0;
    size_t k = r->bad ? 0 : tsdb__uvarint_get(r->p, (size_t)(r->end - r->p), &u);
    if (k == 0) {
        r->bad = 1;
        return 0;
    }
    r->p += k;
    return u;
}

static uint8_t get_byte(struct reader *r)
{
    if (r->bad || r->p == r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

static uint64_t get_raw(struct reader *r)
{
    uint64_t b = 0;
    for (int i = 0; i < 8; i++)
        b |= (uint64_t)get_byte(r) << (8 * i);
    return b;
}

/* Reads the header; @return the mode and *n, or TSDB_E_CORRUPT. */
static int get_header(struct reader *r, uint32_t *n /* OUT */)
{
    uint8_t h = get_byte(r);
    uint64_t u = get_uvarint(r);
    int mode = h & 0xf;
    if (r->bad || h >> 4 != VERSION || mode > MODE_XOR || u == 0 || u > INT_MAX ||
        u - 1 > (uint64_t)(r->end - r->p))
        return TSDB_E_CORRUPT;
    *n = (uint32_t)u;
    return mode;
}

int tsdb__blockenc_count(const uint8_t *in, size_t len)
{
    struct reader r = {in, in + len, 0};
    uint32_t n;
    int mode = get_header(&r, &n);
    return mode < 0 ? mode : (int)n;
}

static int get_timestamps(struct reader *r, int64_t *ts, uint32_t n)
{
    uint64_t t = tsdb__unzigzag(get_uvarint(r)), d = 0;
    ts[0] = (int64_t)t;
    for (uint32_t i = 1; i < n; i++) {
        uint64_t u = get_uvarint(r);
        d = i == 1 ? u : d + (uint64_t)tsdb__unzigzag(u);
        int64_t next = (int64_t)(t + d);
        if (r->bad || d == 0 || next <= ts[i - 1])
            return TSDB_E_CORRUPT;
        t = (uint64_t)next;
        ts[i] = next;
    }
    return r->bad ? TSDB_E_CORRUPT : 0;
}

static int get_xor(struct reader *r, double *v, uint32_t n)
{
    uint64_t b = get_raw(r);
    v[0] = from_bits(b);
    for (uint32_t i = 1; i < n; i++) {
        uint8_t c = get_byte(r);
        unsigned lead = c >> 4, trail = c & 0xf;
        if (lead + trail > 8)
            return TSDB_E_CORRUPT;
        uint64_t x = 0;
        for (unsigned k = lead + trail; k < 8; k++)
            x = x << 8 | get_byte(r);
        if (lead + trail < 8)
            x <<= 8 * trail;
        b ^= x;
        v[i] = from_bits(b);
    }
    return r->bad ? TSDB_E_CORRUPT : 0;
}

/* Reads the next exception index from the list at *x. */
static uint32_t next_exception(struct reader *x, uint32_t *left, uint32_t next,
                               uint32_t n)
{
    if (*left == 0)
        return n;
    uint64_t gap = get_uvarint(x);
    if (x->bad || gap >= (uint64_t)(n - next)) {
        x->bad = 1;
        return n;
    }
    (*left)--;
    return next + (uint32_t)gap;
}

static int get_decimal(struct reader *r, double *v, uint32_t n, int mode)
{
    int64_t e = tsdb__unzigzag(get_uvarint(r));
    uint64_t exc = get_uvarint(r);
    if (r->bad || e < -MAX_EXP || e > MAX_EXP || exc > n ||
        exc * 9 > (uint64_t)(r->end - r->p))
        return TSDB_E_CORRUPT;
    struct reader x = *r; /* walks the exception list beside the m stream */
    uint32_t left = (uint32_t)exc;
    for (uint32_t i = 0; i < exc; i++) {
        get_uvarint(r);
        get_raw(r);
    }
    uint64_t base = mode == MODE_DELTA ? (uint64_t)tsdb__unzigzag(get_uvarint(r)) : 0;
    uint32_t at = next_exception(&x, &left, 0, n), k = 0;
    uint64_t m = 0, d = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i == at) {
            v[i] = from_bits(get_raw(&x));
            at = next_exception(&x, &left, i + 1, n);
            continue;
        }
        uint64_t u = (uint64_t)tsdb__unzigzag(get_uvarint(r));
        if (k == 0)
            m = u;
        else {
            d = (mode == MODE_DOD && k >= 2) ? d + u : u + base;
            m += d;
        }
        k++;
        v[i] = from_decimal((int64_t)m, (int)e);
    }
    return r->bad || x.bad ? TSDB_E_CORRUPT : 0;
}

int tsdb__blockenc_decode(const uint8_t *in, size_t len, int64_t *ts, double *v,
                          uint32_t cap)
{
    struct reader r = {in, in + len, 0};
    uint32_t n;
    int mode = get_header(&r, &n);
    if (mode < 0)
        return mode;
    if (n > cap)
        return -ENOSPC;
    int rc = get_timestamps(&r, ts, n);
    if (rc == 0)
        rc = mode == MODE_XOR ? get_xor(&r, v, n) : get_decimal(&r, v, n, mode);
    if (rc == 0 && r.p != r.end)
        rc = TSDB_E_CORRUPT;
    return rc < 0 ? rc : (int)n;
}
