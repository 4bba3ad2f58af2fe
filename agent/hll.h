/* hll.h — HyperLogLog (Flajolet et al. 2007) with 64-bit XXH3 hashes and
 * linear counting for small cardinalities: the statsd aggregator's unique
 * count per set series and interval, in 2^precision bytes. The standard
 * error of an estimate is about 1.04 / sqrt(2^precision) (1.6 % at the
 * aggregator's precision 12).
 */
#ifndef VIGIL_HLL_H
#define VIGIL_HLL_H

#include <stddef.h>

#define HLL_MIN_PRECISION 4
#define HLL_MAX_PRECISION 18

struct hll;

/* A new empty counter with 2^precision registers.
 * @return 0 and *out, -EINVAL for a precision outside
 * [HLL_MIN_PRECISION, HLL_MAX_PRECISION], or -ENOMEM. */
int hll_new(unsigned precision, struct hll **out /* OUT */);
void hll_free(struct hll *h);

/* Counts the member given by its bytes; never allocates. */
void hll_add(struct hll *h, const void *member, size_t len);

/* The estimated number of distinct members added since creation or the
 * last clear (0 for an empty counter). */
double hll_estimate(const struct hll *h);

/* Empties the counter; cheap when it is already empty. */
void hll_clear(struct hll *h);

#endif
