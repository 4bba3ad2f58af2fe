/* hll.c — HyperLogLog: one 6-bit rank per register kept in a byte, the
 * raw estimate with the usual alpha_m bias constant, and linear counting
 * below 2.5 m. 64-bit hashes make the large-range correction unnecessary. */
#include "hll.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

struct hll {
    unsigned p;
    size_t m;
    int dirty;           /* some register is non-zero */
    uint8_t reg[];
};

int hll_new(unsigned precision, struct hll **out)
{
    if (precision < HLL_MIN_PRECISION || precision > HLL_MAX_PRECISION)
        return -EINVAL;
    size_t m = (size_t)1 << precision;
    struct hll *h = calloc(1, sizeof *h + m);
    if (!h)
        return -ENOMEM;
    h->p = precision;
    h->m = m;
    *out = h;
    return 0;
}

void hll_free(struct hll *h)
{
    free(h);
}

void hll_add(struct hll *h, const void *member, size_t len)
{
    uint64_t x = XXH3_64bits(member, len);
    size_t j = (size_t)(x >> (64 - h->p));
    /* rank of the first 1 bit in the remaining 64 - p bits, at most
     * 64 - p + 1 thanks to the sentinel bit */
    uint64_t w = (x << h->p) | ((uint64_t)1 << (h->p - 1));
    uint8_t rank = (uint8_t)(__builtin_clzll(w) + 1);
    if (rank > h->reg[j])
        h->reg[j] = rank;
    h->dirty = 1;
}

double hll_estimate(const struct hll *h)
{
    if (!h->dirty)
        return 0;
    double m = (double)h->m, sum = 0;
    size_t zeros = 0;
    for (size_t j = 0; j < h->m; j++) {
        sum += ldexp(1.0, -h->reg[j]);
        zeros += h->reg[j] == 0;
    }
    double alpha = h->m >= 128 ? 0.7213 / (1 + 1.079 / m)
                   : h->m == 64 ? 0.709 : h->m == 32 ? 0.697 : 0.673;
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros > 0)
        e = m * log(m / (double)zeros);
    return e;
}

void hll_clear(struct hll *h)
{
    if (h->dirty)
        memset(h->reg, 0, h->m);
    h->dirty = 0;
}
