/* blockenc.c — the byte-aligned encoding of sealed chunks in block files,
 * laid out so that LZ4 over pages of many chunks finds long matches. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "tsdb_int.h"

/* Design notes. An encoded chunk is
 *
 *   u8       version << 5 | TS_GRID | TS_PACKED | VALUES_PACKED | mode (2 bits)
 *   uvarint  n (1 .. 2^22; callers keep chunks shorter, decode rejects more)
 *   varint   ts[0] (zigzag), then
 *     DOD    uvarint ts[1]-ts[0] (> 0), residual stream of the
 *            delta-of-deltas of ts[2..n)
 *     GRID   uvarint step = (ts[n-1]-ts[0]) / (n-1) rounded, residual stream of
 *            ts[i] - (ts[0] + i*step) for ts[1..n) (jitter around a regular
 *            scrape costs one small residual, not two delta-of-deltas)
 *   values   by mode:
 *     DELTA, DOD  (decimal: every value that is not an exception equals
 *                 m * 10^-e for an integer |m| < 2^53, bit-exactly)
 *       varint   e (zigzag, |e| <= 22)
 *       uvarint  number of exceptions
 *       each     uvarint gap (index - previous exception index - 1, or the
 *                index for the first) and the value's 8 bytes, little endian
 *       DELTA:   varint base (zigzag): the mean step, rounded toward 0
 *       varint   m[0] (zigzag); DOD: varint m[1] - m[0] (zigzag)
 *       stream   residuals: delta - base (DELTA) or delta-of-delta (DOD)
 *                of the other values' m; an exception in between advances
 *                m by a virtual step (base, or the last delta)
 *     XOR
 *       8 bytes  v[0], little endian
 *       each     control byte (leading zero bytes << 4 | trailing zero
 *                bytes) of v[i] ^ v[i-1], then its middle bytes, high first
 *
 * A residual stream holds signed integers zigzag-coded, either as uvarints
 * or, when its flag is set, as a width byte (0..64) followed by every value
 * in that many bits, packed LSB first (a steady counter's residuals take a
 * few bits each, a regular scrape's timestamps none).
 *
 * Exceptions keep NaNs (the stale marker included), +-Inf, -0.0 and the
 * odd value with too many digits bit-exact without spoiling the decimal
 * coding of the rest. The encoder computes the exact size of every candidate
 * (each exponent some value needs, DELTA or DOD, varints or packed, and
 * XOR) and writes the smallest, so the value part never exceeds XOR's 9
 * bytes per sample.
 */

#define VERSION 1
#define MODE_DELTA 0
#define MODE_DOD 1
#define MODE_XOR 2
#define MODE_MASK 0x3
#define VALUES_PACKED 0x4
#define TS_PACKED 0x8
#define TS_GRID 0x10
#define MAX_SAMPLES (1u << 22) /* decode's sanity limit on n */
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
    /* round half away from zero; an inexact s fails the check below anyway */
    int64_t i = (int64_t)(s < 0 ? s - 0.5 : s + 0.5);
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

/* ---- residual streams ---------------------------------------------------- */

/* What a residual stream would cost either way. */
struct residuals {
    size_t count, varint_bytes;
    uint64_t all; /* OR of the zigzag values: its bit length is the width */
};

static void res_add(struct residuals *s, int64_t r)
{
    uint64_t u = tsdb__zigzag(r);
    s->count++;
    s->varint_bytes += varint_len(u);
    s->all |= u;
}

static unsigned res_width(const struct residuals *s)
{
    return s->all ? 64 - (unsigned)__builtin_clzll(s->all) : 0;
}

static size_t res_packed_bytes(const struct residuals *s)
{
    return 1 + (s->count * res_width(s) + 7) / 8;
}

static int res_packed(const struct residuals *s)
{
    return res_packed_bytes(s) < s->varint_bytes;
}

static size_t res_bytes(const struct residuals *s)
{
    return res_packed(s) ? res_packed_bytes(s) : s->varint_bytes;
}

struct res_writer {
    uint8_t *p;
    int packed;
    unsigned width, nbits; /* bits pending in cur */
    uint8_t cur;
};

static void rw_start(struct res_writer *w, uint8_t *p, const struct residuals *s)
{
    w->p = p;
    w->packed = res_packed(s);
    w->width = res_width(s);
    w->nbits = 0;
    w->cur = 0;
    if (w->packed)
        *w->p++ = (uint8_t)w->width;
}

static void rw_put(struct res_writer *w, int64_t r)
{
    uint64_t u = tsdb__zigzag(r);
    if (!w->packed) {
        w->p += tsdb__uvarint_put(w->p, u);
        return;
    }
    for (unsigned done = 0; done < w->width;) {
        unsigned take = w->width - done < 8 - w->nbits ? w->width - done : 8 - w->nbits;
        w->cur |= (uint8_t)(((u >> done) & ((1u << take) - 1)) << w->nbits);
        w->nbits += take;
        done += take;
        if (w->nbits == 8) {
            *w->p++ = w->cur;
            w->cur = 0;
            w->nbits = 0;
        }
    }
}

static uint8_t *rw_end(struct res_writer *w)
{
    if (w->nbits)
        *w->p++ = w->cur;
    return w->p;
}

/* ---- choosing the encoding ---------------------------------------------- */

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

/* The walk over the decimal integers m shared by the encoder's size
 * estimate, the encoder and (mirrored) the decoder. An exception takes a
 * virtual step (base in DELTA mode, the last delta in DOD mode) so that a
 * stale marker in a steady counter does not produce a double-size residual.
 * Arithmetic wraps (uint64) so virtual steps never overflow. */
enum { W_EXCEPTION, W_FIRST, W_DELTA1, W_RESIDUAL };

struct walk {
    int mode;
    uint64_t base, m, d;
    uint32_t k; /* decimal values seen */
};

/* Feeds the next value (is_dec: it is decimal m, else an exception).
 * @return what to write: W_FIRST and W_DELTA1 as a varint *out, W_RESIDUAL
 * into the residual stream, nothing for W_EXCEPTION. */
static int walk_step(struct walk *w, int is_dec, int64_t m, int64_t *out /* OUT */)
{
    if (!is_dec) {
        if (w->k > 0)
            w->m += w->mode == MODE_DELTA ? w->base : w->d;
        return W_EXCEPTION;
    }
    uint64_t d = (uint64_t)m - w->m;
    int what = w->k == 0 ? W_FIRST
             : (w->k == 1 && w->mode == MODE_DOD) ? W_DELTA1 : W_RESIDUAL;
    *out = what == W_FIRST ? m
         : what == W_DELTA1 ? (int64_t)d
         : (int64_t)(d - (w->mode == MODE_DELTA ? w->base : w->d));
    w->d = w->k == 0 ? 0 : d;
    w->m = (uint64_t)m;
    w->k++;
    return what;
}

/* The bytes DELTA (with base) and DOD mode need at exponent e. */
struct decimal_cost {
    size_t exc, exc_bytes, varint_bytes[2];
    struct residuals res[2]; /* [MODE_DELTA], [MODE_DOD] */
};

static void decimal_cost(const double *v, uint32_t n, int e, int64_t base,
                         struct decimal_cost *c /* OUT */)
{
    struct walk w[2] = {{MODE_DELTA, (uint64_t)base, 0, 0, 0}, {MODE_DOD, 0, 0, 0, 0}};
    uint32_t next = 0;
    int64_t m = 0, x;
    memset(c, 0, sizeof *c);
    for (uint32_t i = 0; i < n; i++) {
        int is_dec = decimal_at(v[i], e, &m);
        if (!is_dec) {
            c->exc_bytes += varint_len(i - next) + 8;
            next = i + 1;
            c->exc++;
        }
        for (int mode = 0; mode < 2; mode++) {
            int what = walk_step(&w[mode], is_dec, m, &x);
            if (what == W_FIRST || what == W_DELTA1)
                c->varint_bytes[mode] += varint_len(tsdb__zigzag(x));
            else if (what == W_RESIDUAL)
                res_add(&c->res[mode], x);
        }
    }
}

struct plan {
    int mode, e;
    int64_t base;
};

/* Picks the smallest value encoding. */
static struct plan choose_plan(const double *v, uint32_t n)
{
    uint64_t exps = 0; /* bit e + MAX_EXP: some value needs exponent e */
    for (uint32_t i = 0; i < n; i++) {
        int x = min_exp(v[i]);
        if (x != NO_EXP)
            exps |= UINT64_C(1) << (x + MAX_EXP);
    }
    struct plan best = {MODE_XOR, 0, 0};
    size_t best_bytes = xor_size(v, n);
    /* A value decimal at e is decimal at every larger e too (up to 2^53),
     * so the largest exponent some value needs codes them all, and the next
     * smaller one leaves only the few most precise values as exceptions.
     * Smaller exponents only add exceptions: they are not tried. */
    int tried = 0;
    for (int e = MAX_EXP; e >= -MAX_EXP && tried < 2; e--) {
        if (!(exps & (UINT64_C(1) << (e + MAX_EXP))))
            continue;
        tried++;
        struct decimal_cost c;
        int64_t base = mean_step(v, n, e);
        decimal_cost(v, n, e, base, &c);
        size_t common = varint_len(tsdb__zigzag(e)) + varint_len(c.exc) + c.exc_bytes;
        size_t delta = common + varint_len(tsdb__zigzag(base)) +
                       c.varint_bytes[MODE_DELTA] + res_bytes(&c.res[MODE_DELTA]);
        size_t dod = common + c.varint_bytes[MODE_DOD] + res_bytes(&c.res[MODE_DOD]);
        if (delta <= best_bytes) {
            best_bytes = delta;
            best = (struct plan){MODE_DELTA, e, base};
        }
        if (dod < best_bytes) {
            best_bytes = dod;
            best = (struct plan){MODE_DOD, e, 0};
        }
    }
    return best;
}

/* ---- encoding ----------------------------------------------------------- */

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

static uint64_t ts_delta(const int64_t *ts, uint32_t i)
{
    return (uint64_t)ts[i] - (uint64_t)ts[i - 1];
}

/* Residual i of a timestamp: in GRID form its offset from ts[0] + i * step,
 * else its delta-of-delta (i >= 2). */
static int64_t ts_residual(const int64_t *ts, uint32_t i, int grid, uint64_t step)
{
    if (grid)
        return (int64_t)((uint64_t)ts[i] - (uint64_t)ts[0] - i * step);
    return (int64_t)(ts_delta(ts, i) - ts_delta(ts, i - 1));
}

/* Writes the timestamps in the smaller of DOD and GRID form; sets TS_GRID
 * and TS_PACKED in *header. */
static uint8_t *put_timestamps(uint8_t *p, const int64_t *ts, uint32_t n,
                               uint8_t *header)
{
    struct residuals dod = {0}, grid = {0};
    uint64_t span = (uint64_t)ts[n - 1] - (uint64_t)ts[0];
    uint64_t step = n >= 2 ? span / (n - 1) + (span % (n - 1) >= n / 2) : 0; /* rounded */
    for (uint32_t i = 1; i < n; i++) {
        if (i >= 2)
            res_add(&dod, ts_residual(ts, i, 0, 0));
        res_add(&grid, ts_residual(ts, i, 1, step));
    }
    int use_grid = n >= 2 && varint_len(step) + res_bytes(&grid) <
                                 varint_len(ts_delta(ts, 1)) + res_bytes(&dod);
    p += tsdb__uvarint_put(p, tsdb__zigzag(ts[0]));
    if (n >= 2)
        p += tsdb__uvarint_put(p, use_grid ? step : ts_delta(ts, 1));
    struct res_writer w;
    rw_start(&w, p, use_grid ? &grid : &dod);
    for (uint32_t i = use_grid ? 1 : 2; i < n; i++)
        rw_put(&w, ts_residual(ts, i, use_grid, step));
    if (use_grid)
        *header |= TS_GRID;
    if (w.packed)
        *header |= TS_PACKED;
    return rw_end(&w);
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

/* Writes the decimal value part; sets VALUES_PACKED in *header when packed. */
static uint8_t *put_decimal(uint8_t *p, const double *v, uint32_t n,
                            const struct plan *pl, uint8_t *header)
{
    struct decimal_cost c;
    decimal_cost(v, n, pl->e, pl->base, &c);
    p += tsdb__uvarint_put(p, tsdb__zigzag(pl->e));
    p += tsdb__uvarint_put(p, c.exc);
    int64_t m = 0, x;
    uint32_t next = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!decimal_at(v[i], pl->e, &m)) {
            p += tsdb__uvarint_put(p, i - next);
            p = put_raw(p, to_bits(v[i]));
            next = i + 1;
        }
    }
    if (pl->mode == MODE_DELTA)
        p += tsdb__uvarint_put(p, tsdb__zigzag(pl->base));
    struct walk w = {pl->mode, (uint64_t)pl->base, 0, 0, 0};
    struct res_writer rw = {0};
    uint8_t *varints = p;
    /* the varints (m[0], DOD's first delta) come first, then the stream */
    for (uint32_t i = 0; i < n; i++) {
        int is_dec = decimal_at(v[i], pl->e, &m);
        if (!is_dec)
            m = 0;
        int what = walk_step(&w, is_dec, m, &x);
        if (what == W_FIRST || what == W_DELTA1)
            varints += tsdb__uvarint_put(varints, tsdb__zigzag(x));
        if (what == W_RESIDUAL) {
            if (!rw.p)
                rw_start(&rw, varints, &c.res[pl->mode]);
            rw_put(&rw, x);
        }
    }
    if (!rw.p)
        return varints; /* no residuals */
    if (rw.packed)
        *header |= VALUES_PACKED;
    return rw_end(&rw);
}

size_t tsdb__blockenc_encode(const int64_t *ts, const double *v, uint32_t n,
                             uint8_t *out)
{
    struct plan pl = choose_plan(v, n);
    uint8_t header = (uint8_t)(VERSION << 5 | pl.mode);
    uint8_t *p = out + 1;
    p += tsdb__uvarint_put(p, n);
    p = put_timestamps(p, ts, n, &header);
    p = pl.mode == MODE_XOR ? put_xor(p, v, n) : put_decimal(p, v, n, &pl, &header);
    out[0] = header;
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
    if (!r->bad && r->p < r->end && *r->p < 0x80)
        return *r->p++; /* one byte, the common case */
    uint64_t u = 0;
    size_t k = r->bad ? 0 : tsdb__uvarint_get(r->p, (size_t)(r->end - r->p), &u);
    if (k == 0) {
        r->bad = 1;
        return 0;
    }
    r->p += k;
    return u;
}

static int64_t get_varint(struct reader *r)
{
    return tsdb__unzigzag(get_uvarint(r));
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

/* Reads a residual stream of count values, varint or packed. */
struct res_reader {
    struct reader *r;
    int packed;
    unsigned width;
    uint64_t mask;      /* width low bits */
    const uint8_t *bits;
    uint64_t fast_end;  /* below this bit position one 8-byte load will do */
    uint64_t pos, left; /* bit position, values left */
};

/* Starts reading the stream at r. Until the last value is read nothing
 * else may read from r (rr_get's fast path does not look at r->bad). */
static void rr_start(struct res_reader *q, struct reader *r, int packed, uint64_t count)
{
    q->r = r;
    q->packed = packed;
    q->pos = q->fast_end = 0;
    q->left = count;
    if (!packed)
        return;
    q->width = get_byte(r);
    uint64_t need = (count * q->width + 7) / 8;
    if (r->bad || q->width > 64 || need > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return;
    }
    /* a value at byte b of the stream is in the 8 bytes from b when it is
     * at most 56 bits wide; bytes past the stream but inside the input may
     * be loaded (and are masked off). Width 0 (often at the input's end)
     * reads zeros and stays at bit 0. */
    static const uint8_t zeros[8];
    size_t avail = (size_t)(r->end - r->p);
    if (q->width == 0)
        q->fast_end = 1;
    else if (q->width <= 56 && avail >= 8)
        q->fast_end = (uint64_t)(avail - 7) * 8;
    q->mask = q->width == 64 ? UINT64_MAX : (UINT64_C(1) << q->width) - 1;
    q->bits = q->width ? r->p : zeros;
    r->p += need;
}

/* The 8 bytes at p, little endian. */
static uint64_t load_le64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof x);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

/* rr_get for what its fast paths leave: packed values in the input's last
 * bytes or wider than 56 bits, and reading past the last value (corrupt
 * input: 0, and r->bad set). */
__attribute__((noinline)) static int64_t rr_get_slow(struct res_reader *q)
{
    if (q->left == 0)
        q->r->bad = 1;
    if (q->r->bad)
        return 0;
    q->left--;
    uint64_t u = 0;
    for (unsigned done = 0; done < q->width;) {
        unsigned off = (unsigned)(q->pos & 7);
        unsigned take = q->width - done < 8 - off ? q->width - done : 8 - off;
        u |= (uint64_t)((q->bits[q->pos >> 3] >> off) & ((1u << take) - 1)) << done;
        done += take;
        q->pos += take;
    }
    return tsdb__unzigzag(u);
}

/* The next value of the stream. */
static inline int64_t rr_get(struct res_reader *q)
{
    struct reader *r = q->r;
    if (q->pos < q->fast_end && q->left) {
        uint64_t u = load_le64(q->bits + (q->pos >> 3)) >> (q->pos & 7) & q->mask;
        q->pos += q->width;
        q->left--;
        return tsdb__unzigzag(u);
    }
    if (!q->packed && q->left) {
        q->left--;
        return get_varint(r);
    }
    return rr_get_slow(q);
}

/* Reads the header; @return the header byte and *n, or TSDB_E_CORRUPT. */
static int get_header(struct reader *r, uint32_t *n /* OUT */)
{
    uint8_t h = get_byte(r);
    uint64_t u = get_uvarint(r);
    int mode = h & MODE_MASK;
    if (r->bad || h >> 5 != VERSION || mode > MODE_XOR ||
        (mode == MODE_XOR && (h & VALUES_PACKED)) || u == 0 || u > MAX_SAMPLES)
        return TSDB_E_CORRUPT;
    /* without packed streams every sample after the first takes a byte */
    if ((!(h & TS_PACKED) || !(h & VALUES_PACKED)) && u - 1 > (uint64_t)(r->end - r->p))
        return TSDB_E_CORRUPT;
    *n = (uint32_t)u;
    return h;
}

int tsdb__blockenc_count(const uint8_t *in, size_t len)
{
    struct reader r = {in, in + len, 0};
    uint32_t n;
    int h = get_header(&r, &n);
    return h < 0 ? h : (int)n;
}

static int get_timestamps(struct reader *r, int h, int64_t *ts, uint32_t n)
{
    int grid = h & TS_GRID;
    uint64_t t = (uint64_t)get_varint(r), d = 0;
    struct res_reader q;
    ts[0] = (int64_t)t;
    if (n >= 2)
        d = get_uvarint(r); /* GRID: the step */
    rr_start(&q, r, h & TS_PACKED, n < 2 ? 0 : grid ? n - 1 : n - 2);
    for (uint32_t i = 1; i < n; i++) {
        int64_t next;
        if (grid) {
            next = (int64_t)((uint64_t)ts[0] + i * d + (uint64_t)rr_get(&q));
        } else {
            if (i >= 2)
                d += (uint64_t)rr_get(&q);
            next = (int64_t)(t + d);
        }
        if (r->bad || next <= ts[i - 1])
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

/* Reads the next exception index from the list at *x, or n after the last. */
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

static int get_decimal(struct reader *r, int packed, int mode, double *v, uint32_t n)
{
    int64_t e = get_varint(r);
    uint64_t exc = get_uvarint(r);
    if (r->bad || e < -MAX_EXP || e > MAX_EXP || exc > n ||
        exc * 9 > (uint64_t)(r->end - r->p))
        return TSDB_E_CORRUPT;
    struct reader x = *r; /* walks the exception list beside the m stream */
    uint32_t left = (uint32_t)exc, k = n - (uint32_t)exc;
    for (uint32_t i = 0; i < exc; i++) {
        get_uvarint(r);
        get_raw(r);
    }
    uint64_t base = mode == MODE_DELTA ? (uint64_t)get_varint(r) : 0, m = 0, d = 0, d1 = 0;
    struct res_reader q;
    if (k >= 1)
        m = (uint64_t)get_varint(r);
    if (mode == MODE_DOD && k >= 2)
        d1 = (uint64_t)get_varint(r);
    rr_start(&q, r, packed, k >= 2 ? k - (mode == MODE_DELTA ? 1 : 2) : 0);
    uint32_t at = next_exception(&x, &left, 0, n), j = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i == at) { /* mirrors walk_step's virtual step */
            v[i] = from_bits(get_raw(&x));
            at = next_exception(&x, &left, i + 1, n);
            if (j > 0)
                m += mode == MODE_DELTA ? base : d;
            continue;
        }
        if (j == 1 && mode == MODE_DOD)
            d = d1;
        else if (j >= 1)
            d = (mode == MODE_DELTA ? base : d) + (uint64_t)rr_get(&q);
        if (j >= 1)
            m += d;
        j++;
        v[i] = from_decimal((int64_t)m, (int)e);
    }
    return r->bad || x.bad ? TSDB_E_CORRUPT : 0;
}

/* Beyond tsdb_int.h's contract: -ENOSPC (nothing written) when the
 * chunk holds more than cap samples; size cap with tsdb__blockenc_count. */
int tsdb__blockenc_decode(const uint8_t *in, size_t len, int64_t *ts, double *v,
                          uint32_t cap)
{
    struct reader r = {in, in + len, 0};
    uint32_t n;
    int h = get_header(&r, &n);
    if (h < 0)
        return h;
    if (n > cap)
        return -ENOSPC;
    int mode = h & MODE_MASK;
    int rc = get_timestamps(&r, h, ts, n);
    if (rc == 0)
        rc = mode == MODE_XOR ? get_xor(&r, v, n)
                              : get_decimal(&r, h & VALUES_PACKED, mode, v, n);
    if (rc == 0 && r.p != r.end)
        rc = TSDB_E_CORRUPT;
    return rc < 0 ? rc : (int)n;
}
