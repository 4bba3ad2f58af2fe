/* timefmt.h — times and durations as users type them to tsq: RFC 3339,
 * Unix seconds, `now-1h`; Prometheus durations (`1h30m`). Also the exact
 * decimal-seconds-to-milliseconds conversion the exposition parser uses. */
#ifndef VIGIL_TIMEFMT_H
#define VIGIL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parses a Prometheus duration: one or more <integer><unit> with units
 * y (365d), w, d, h, m, s, ms in this order, each at most once; "0" alone
 * is zero. len is the number of bytes of s to read.
 * @return 0 and *ms, -EINVAL on bad syntax, -ERANGE on overflow. */
int timefmt_parse_duration(const char *s, size_t len, int64_t *ms /* OUT */);

/* Parses a time: RFC 3339 ("2026-11-23T10:00:00Z", fraction and numeric
 * offsets allowed), Unix seconds (fraction allowed, rounded to the nearest
 * millisecond), "now", or "now" followed by +DURATION or -DURATION, relative
 * to now_ms. @return 0 and *ms, -EINVAL on bad syntax, -ERANGE on overflow. */
int timefmt_parse_time(const char *s, int64_t now_ms, int64_t *ms /* OUT */);

/* Converts the decimal number s[0..len) of seconds — [+-]digits[.digits]
 * [e[+-]digits], e.g. "1700000000.1235" or "1.7e9" — to milliseconds exactly,
 * rounding half away from zero. @return 0 and *ms, -EINVAL on bad syntax,
 * -ERANGE when it does not fit an int64. */
int timefmt_seconds_to_ms(const char *s, size_t len, int64_t *ms /* OUT */);

/* The current wall-clock time in milliseconds since the Unix epoch. */
int64_t timefmt_now_ms(void);

#endif
