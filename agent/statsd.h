/* statsd.h — statsd / DogStatsD: the line parser (statsd_parse.c) and the
 * per-interval aggregator that turns metrics into Prometheus-style series in
 * the store (statsd_agg.c). The listeners (listen.c) feed lines to the
 * parser and parsed metrics to the aggregator; the agent's flush timer calls
 * statsd_agg_flush. All of it runs on the agent's loop thread. */
#ifndef VIGIL_STATSD_H
#define VIGIL_STATSD_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb.h"

/* ---- parsing ------------------------------------------------------------ */

enum statsd_type {
    STATSD_COUNTER,      /* c */
    STATSD_GAUGE,        /* g */
    STATSD_TIMER,        /* ms: milliseconds, stored in seconds */
    STATSD_HISTOGRAM,    /* h */
    STATSD_DISTRIBUTION, /* d */
    STATSD_SET,          /* s */
};

/* Why a line was rejected: one counter per reason in the agent's
 * self-metrics (statsd_lines_rejected_total{reason="..."}). */
#define STATSD_REJECTS(X)                                                     \
    X(STATSD_REJECT_EMPTY_NAME, "empty_name", "metric name is empty")            \
    X(STATSD_REJECT_NO_VALUE, "no_value", "no ':' and value after the name")     \
    X(STATSD_REJECT_NO_TYPE, "no_type", "no '|' and type after the value")       \
    X(STATSD_REJECT_BAD_TYPE, "bad_type", "unknown metric type")                 \
    X(STATSD_REJECT_BAD_VALUE, "bad_value", "value is not a finite number")      \
    X(STATSD_REJECT_BAD_RATE, "bad_sample_rate", "sample rate not in (0, 1]")    \
    X(STATSD_REJECT_BAD_TAGS, "bad_tags", "malformed tags")                      \
    X(STATSD_REJECT_BAD_TIMESTAMP, "bad_timestamp", "malformed |T timestamp")    \
    X(STATSD_REJECT_BAD_SECTION, "bad_section", "unknown or repeated |section")  \
    X(STATSD_REJECT_TOO_LONG, "too_long", "name, tag or line longer than the limit") \
    X(STATSD_REJECT_BAD_UTF8, "bad_utf8", "not valid UTF-8")                     \
    X(STATSD_REJECT_TOO_MANY_VALUES, "too_many_values", "more values than the limit") \
    X(STATSD_REJECT_EVENT, "event", "DogStatsD events and service checks are not metrics") \
    X(STATSD_REJECT_BAD_NAME, "bad_name", "metric name holds a control character")

enum statsd_reject {
    STATSD_OK = 0,
#define STATSD_REJECT_ENUM(name, label, text) name,
    STATSD_REJECTS(STATSD_REJECT_ENUM)
#undef STATSD_REJECT_ENUM
    STATSD_REJECT_COUNT
};
/* "bad_type" etc. for a metric label, and a sentence for logs. */
const char *statsd_reject_label(enum statsd_reject r);
const char *statsd_reject_text(enum statsd_reject r);

#define STATSD_MAX_VALUES 64   /* DogStatsD multi-value packets: a:1:2:3|ms */
#define STATSD_MAX_TAGS 32
#define STATSD_MAX_NAME 200    /* bytes, before mapping */
#define STATSD_MAX_LINE 8192

struct statsd_tag {            /* points into the line */
    const char *key;
    size_t key_len;
    const char *value;         /* "" (len 0) for a bare tag `|#urgent` */
    size_t value_len;
};

/* One parsed line. Every pointer points into the caller's line buffer and
 * is valid only while it is. */
struct statsd_metric {
    const char *name;
    size_t name_len;
    enum statsd_type type;
    double values[STATSD_MAX_VALUES]; /* numeric types */
    size_t nvalues;
    int gauge_delta;           /* gauge written "+N" or "-N": add, don't set */
    const char *set_member;    /* sets: the member as written */
    size_t set_member_len;
    double sample_rate;        /* 1 when absent */
    struct statsd_tag tags[STATSD_MAX_TAGS];
    size_t ntags;
    int has_timestamp;         /* DogStatsD |T<unix seconds> */
    int64_t timestamp_ms;
    const char *container;     /* DogStatsD |c:<id>, accepted, not stored */
    size_t container_len;
};

/* Parses one line (no trailing newline; a trailing '\r' is ignored).
 * @return STATSD_OK and *m, or the reason the line was rejected (column of
 * the problem in *col when col is not NULL). Never allocates. */
enum statsd_reject statsd_parse_line(const char *line, size_t len,
                                     struct statsd_metric *m /* OUT */,
                                     size_t *col /* OUT, may be NULL */);

/* ---- aggregation --------------------------------------------------------- */

struct statsd_config {
    int64_t flush_interval_ms;    /* 10 s */
    const double *quantiles;      /* 0.5, 0.9, 0.99 */
    size_t nquantiles;
    const double *buckets;        /* histogram upper bounds (seconds for
                                     timers), ascending, +Inf implied */
    size_t nbuckets;
    double sketch_relative_error; /* DDSketch alpha: 0.01 */
    int64_t idle_expire_ms;       /* series unseen this long are dropped: 5 m */
    uint32_t max_series;          /* all statsd series: 100,000 */
    uint32_t max_series_per_metric; /* per mapped metric name: 10,000 */
};
void statsd_config_default(struct statsd_config *c /* OUT */);

/* Counters the agent exports as self-metrics. */
struct statsd_agg_stats {
    uint64_t metrics;             /* metrics aggregated (a multi-value line counts each value) */
    uint64_t series_created;
    uint64_t series_expired;
    uint64_t dropped_series_limit;
    uint64_t dropped_metric_limit;
    uint64_t dropped_type_conflict; /* metric name already used with another type */
    uint64_t dropped_invalid;     /* negative counter increment, non-finite
                                     value, key too long */
    uint64_t samples_written;
    uint64_t samples_rejected;    /* refused by the store */
    double last_flush_seconds;
};

struct statsd_agg;
int statsd_agg_new(const struct statsd_config *c, struct statsd_agg **out /* OUT */);
void statsd_agg_free(struct statsd_agg *a);

/* Adds a parsed metric to the current interval. now_ms is the receive time.
 * @return 0, or why it was dropped (each counted in the stats): -ENOSPC a
 * series limit, -EEXIST a type conflict, -EINVAL/-E2BIG an invalid metric
 * (negative counter increment, non-finite value, key too long), -ENOMEM. */
int statsd_agg_add(struct statsd_agg *a, const struct statsd_metric *m, int64_t now_ms);

/* Writes the interval's aggregates into db stamped now_ms (or each value's
 * own DogStatsD timestamp), commits, starts the next interval and expires
 * idle series. Counters stay cumulative across flushes. @return 0 or the
 * store's error (the interval's data is then lost and counted). */
int statsd_agg_flush(struct statsd_agg *a, struct tsdb *db, int64_t now_ms);

void statsd_agg_get_stats(const struct statsd_agg *a, struct statsd_agg_stats *out /* OUT */);

#endif
