/* ddsketch.h — DDSketch (Masson, Rim, Lee, VLDB 2019): a mergeable quantile
 * sketch whose answers are within a relative error alpha of the exact
 * quantile, in bounded memory. The statsd aggregator keeps one per timer,
 * histogram and distribution series for the quantiles of each interval.
 *
 * Design notes:
 *   bucket i of a store holds values v with gamma^(i-1) < |v| <= gamma^i,
 *   gamma = (1 + alpha) / (1 - alpha); a bucket answers with
 *   2 gamma^i / (1 + gamma), which is within alpha of every value in it.
 *   Positive and negative values have a store each; |v| < DBL_MIN counts
 *   as zero. A store spans at most max_buckets consecutive indices: when a
 *   new value would widen it further, the lowest-magnitude buckets are
 *   merged into the lowest kept one (the "collapsing lowest" store), so
 *   quantiles that fall there lose their guarantee. With alpha 0.01 and
 *   2048 buckets the guaranteed range spans a factor of 6e17 in magnitude.
 *   Counts are doubles so sampled statsd values can weigh 1/rate each.
 */
#ifndef VIGIL_DDSKETCH_H
#define VIGIL_DDSKETCH_H

#include <stddef.h>
#include <stdint.h>

#define DDSKETCH_DEFAULT_ALPHA 0.01
#define DDSKETCH_DEFAULT_MAX_BUCKETS 2048

struct ddsketch;

/* A new empty sketch with relative accuracy alpha in (0, 1) and at most
 * max_buckets (>= 16) buckets per sign.
 * @return 0 and *out, -EINVAL on bad parameters or -ENOMEM. */
int ddsketch_new(double alpha, uint32_t max_buckets, struct ddsketch **out /* OUT */);
void ddsketch_free(struct ddsketch *s);

/* Adds value v with weight w (> 0). Allocates only when v widens the range
 * of buckets beyond what the sketch has held before, so a sketch that is
 * cleared and refilled with similar data does not allocate.
 * @return 0, -EINVAL for a non-finite v or a weight <= 0, or -ENOMEM (the
 * sketch is then unchanged). */
int ddsketch_add(struct ddsketch *s, double v, double w);

/* Adds every value of src to dst; both must have the same alpha.
 * @return 0, -EINVAL on differing alphas or -ENOMEM (dst may then hold
 * part of src). */
int ddsketch_merge(struct ddsketch *dst, const struct ddsketch *src);

/* The value at quantile q in [0, 1]: within alpha of the exact value
 * x[floor(q * (n - 1))] of the n sorted inputs (weights count as
 * repetitions), clamped to the exact minimum and maximum; q = 0 and q = 1
 * give the exact minimum and maximum.
 * @return that value, or NaN for an empty sketch or q outside [0, 1]. */
double ddsketch_quantile(const struct ddsketch *s, double q);

/* Total weight added since creation or the last clear. */
double ddsketch_count(const struct ddsketch *s);

/* Empties the sketch and keeps its memory for reuse. */
void ddsketch_clear(struct ddsketch *s);

/* Bytes of memory the sketch holds. */
size_t ddsketch_bytes(const struct ddsketch *s);

#endif
