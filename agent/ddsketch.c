/* ddsketch.c — DDSketch with a logarithmic mapping and collapsing-lowest
 * dense stores; the invariants are in ddsketch.h. */
#include "ddsketch.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Consecutive bucket indices; counts[k] belongs to index off + k. Buckets
 * outside [lo, hi] are zero, and hi - lo < max_buckets. */
struct store {
    double *counts;
    int32_t off;
    uint32_t cap;
    int32_t lo, hi;
    int used;            /* lo and hi are meaningful */
    double total;
};

struct ddsketch {
    double alpha, gamma, multiplier;
    uint32_t max_buckets;
    struct store pos, neg;
    double zero;         /* weight of values with |v| < DBL_MIN */
    double count, min, max;
};

int ddsketch_new(double alpha, uint32_t max_buckets, struct ddsketch **out)
{
    if (!(alpha > 0 && alpha < 1) || max_buckets < 16 || max_buckets > (1u << 24))
        return -EINVAL;
    double gamma = (1 + alpha) / (1 - alpha);
    double mult = 1 / log(gamma);
    /* |indices| reach 745 * mult (subnormals count as zero): keep them
     * well inside int32_t. */
    if (745 * mult > 1e9)
        return -EINVAL;
    struct ddsketch *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->alpha = alpha;
    s->gamma = gamma;
    s->multiplier = mult;
    s->max_buckets = max_buckets;
    s->min = INFINITY;
    s->max = -INFINITY;
    *out = s;
    return 0;
}

void ddsketch_free(struct ddsketch *s)
{
    if (!s)
        return;
    free(s->pos.counts);
    free(s->neg.counts);
    free(s);
}

/* Makes the array cover [lo, hi] (hi - lo < max), keeping the old counts
 * inside that range and dropping those outside it. On -ENOMEM the store is
 * unchanged. */
static int store_cover(struct store *st, int32_t lo, int32_t hi, uint32_t max)
{
    uint32_t len = (uint32_t)(hi - lo) + 1;
    int32_t dlo = st->used && st->lo > lo ? st->lo : lo; /* kept data */
    int32_t dhi = st->used && st->hi < hi ? st->hi : hi;
    int keep = st->used && dlo <= dhi;
    if (st->counts && lo >= st->off && (int64_t)hi < (int64_t)st->off + st->cap) {
        if (st->used) {
            for (int32_t k = st->lo; k <= st->hi; k++)
                if (k < lo || k > hi)
                    st->counts[k - st->off] = 0;
        }
        return 0;
    }
    uint32_t ncap = st->cap;
    double *nc = st->counts;
    if (ncap < len) {
        ncap = 2 * st->cap > len + 64 ? 2 * st->cap : len + 64;
        if (ncap > max)
            ncap = max;
        nc = calloc(ncap, sizeof *nc);
        if (!nc)
            return -ENOMEM;
    }
    int32_t noff = lo - (int32_t)((ncap - len) / 2);
    if (keep)
        memmove(nc + (dlo - noff), st->counts + (dlo - st->off),
                (size_t)(dhi - dlo + 1) * sizeof *nc);
    if (nc == st->counts) {
        /* in place: zero everything but the moved data */
        size_t a = keep ? (size_t)(dlo - noff) : ncap;
        size_t b = keep ? (size_t)(dhi - noff) + 1 : ncap;
        memset(nc, 0, a * sizeof *nc);
        memset(nc + b, 0, (ncap - b) * sizeof *nc);
    } else {
        free(st->counts);
    }
    st->counts = nc;
    st->cap = ncap;
    st->off = noff;
    return 0;
}

static int store_add(struct store *st, int32_t i, double w, uint32_t max)
{
    int32_t lo = !st->used || i < st->lo ? i : st->lo;
    int32_t hi = !st->used || i > st->hi ? i : st->hi;
    int32_t into = 0;    /* bucket that receives collapsed counts */
    double moved = 0;
    if ((int64_t)hi - lo + 1 > max) {
        if (i < st->lo) {
            /* too small to keep apart: join the lowest bucket kept */
            i = lo = hi - (int32_t)max + 1;
        } else {
            /* collapse the lowest buckets to make room for i */
            into = lo = hi - (int32_t)max + 1;
            for (int32_t k = st->lo; k <= st->hi && k < lo; k++)
                moved += st->counts[k - st->off];
        }
    }
    int rc = store_cover(st, lo, hi, max);
    if (rc)
        return rc;
    if (moved > 0)
        st->counts[into - st->off] += moved;
    st->counts[i - st->off] += w;
    st->lo = lo;
    st->hi = hi;
    st->used = 1;
    st->total += w;
    return 0;
}

static void store_clear(struct store *st)
{
    if (st->used)
        memset(st->counts + (st->lo - st->off), 0,
               (size_t)(st->hi - st->lo + 1) * sizeof *st->counts);
    st->used = 0;
    st->total = 0;
}

/* The index of the first bucket whose cumulative count exceeds rank (the
 * last non-empty one when rounding left rank at the total). */
static int32_t store_key_at_rank(const struct store *st, double rank)
{
    double cum = 0;
    int32_t last = st->hi;
    for (int32_t k = st->lo; k <= st->hi; k++) {
        double c = st->counts[k - st->off];
        if (c > 0) {
            cum += c;
            last = k;
            if (cum > rank)
                return k;
        }
    }
    return last;
}

static int32_t index_of(const struct ddsketch *s, double mag)
{
    return (int32_t)ceil(log(mag) * s->multiplier);
}

static double value_of(const struct ddsketch *s, int32_t i)
{
    return 2 * pow(s->gamma, i) / (1 + s->gamma);
}

int ddsketch_add(struct ddsketch *s, double v, double w)
{
    if (!isfinite(v) || !(w > 0) || !isfinite(w))
        return -EINVAL;
    int rc = 0;
    if (v >= DBL_MIN)
        rc = store_add(&s->pos, index_of(s, v), w, s->max_buckets);
    else if (v <= -DBL_MIN)
        rc = store_add(&s->neg, index_of(s, -v), w, s->max_buckets);
    else
        s->zero += w;
    if (rc)
        return rc;
    s->count += w;
    if (v < s->min)
        s->min = v;
    if (v > s->max)
        s->max = v;
    return 0;
}

static int store_merge(struct store *dst, const struct store *src, uint32_t max)
{
    if (!src->used)
        return 0;
    for (int32_t k = src->lo; k <= src->hi; k++) {
        double c = src->counts[k - src->off];
        if (c > 0) {
            int rc = store_add(dst, k, c, max);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int ddsketch_merge(struct ddsketch *dst, const struct ddsketch *src)
{
    if (dst->gamma != src->gamma)
        return -EINVAL;
    int rc = store_merge(&dst->pos, &src->pos, dst->max_buckets);
    if (!rc)
        rc = store_merge(&dst->neg, &src->neg, dst->max_buckets);
    if (rc)
        return rc;
    dst->zero += src->zero;
    dst->count += src->count;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    return 0;
}

double ddsketch_quantile(const struct ddsketch *s, double q)
{
    if (!(s->count > 0) || !(q >= 0 && q <= 1))
        return NAN;
    if (q == 0 || q == 1)
        return q == 0 ? s->min : s->max;
    double rank = q * (s->count - 1);
    double nneg = s->neg.total;
    double v;
    if (rank < nneg)
        v = -value_of(s, store_key_at_rank(&s->neg, nneg - 1 - rank));
    else if (rank < nneg + s->zero)
        v = 0;
    else
        v = value_of(s, store_key_at_rank(&s->pos, rank - nneg - s->zero));
    return v < s->min ? s->min : v > s->max ? s->max : v;
}

double ddsketch_count(const struct ddsketch *s)
{
    return s->count;
}

void ddsketch_clear(struct ddsketch *s)
{
    store_clear(&s->pos);
    store_clear(&s->neg);
    s->zero = 0;
    s->count = 0;
    s->min = INFINITY;
    s->max = -INFINITY;
}

size_t ddsketch_bytes(const struct ddsketch *s)
{
    return sizeof *s + ((size_t)s->pos.cap + s->neg.cap) * sizeof(double);
}
