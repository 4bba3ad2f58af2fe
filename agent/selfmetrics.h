/* selfmetrics.h — the agent's own metrics: a small registry of counters and
 * gauges with labels, rendered in the Prometheus text format (0.0.4) for
 * /metrics and appended to the store like any other series. Values are set
 * by collectors just before each render or store; everything runs on the
 * loop thread. */
#ifndef VIGIL_SELFMETRICS_H
#define VIGIL_SELFMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "tsdb.h"

#define SM_MAX_LABELS 3

enum sm_type { SM_COUNTER, SM_GAUGE };

struct sm_series {
    char *label_names[SM_MAX_LABELS];  /* owned */
    char *label_values[SM_MAX_LABELS]; /* owned */
    size_t nlabels;
    double value;
    tsdb_ref ref;                      /* in store ref_db */
    struct tsdb *ref_db;
};

struct sm_family {
    char *name;                        /* owned */
    const char *help;                  /* static */
    enum sm_type type;
    struct sm_series *series;
    size_t n, cap;
};

struct selfmetrics {
    struct sm_family *fam;
    size_t n, cap;
};

void sm_init(struct selfmetrics *r /* OUT */);
void sm_free(struct selfmetrics *r);

/* Sets the value of the series name{labels}, creating its family (with
 * type and help, a static string) and the series on first use. The
 * variadic arguments are label name/value string pairs ending with NULL,
 * at most SM_MAX_LABELS pairs. @return 0, -ENOMEM or -E2BIG. */
int sm_set(struct selfmetrics *r, const char *name, enum sm_type type, const char *help,
           double value, ...);

/* Drops every series of the families whose name starts with prefix (the
 * families stay, empty, in their place), so that a collector that sets
 * all its current series afterwards leaves none of a removed object
 * behind (e.g. the rule groups a reload removed). */
void sm_clear(struct selfmetrics *r, const char *prefix);

/* Appends every non-empty family in registration order, Prometheus text format
 * 0.0.4 (# HELP, # TYPE, escaped label values). @return 0 or -ENOMEM. */
int sm_render(const struct selfmetrics *r, struct http_buf *out);

/* Appends one sample per series at ts_ms to db and commits.
 * @return 0 or the first error of the store. */
int sm_store(struct selfmetrics *r, struct tsdb *db, int64_t ts_ms);

/* Sets process_cpu_seconds_total, process_resident_memory_bytes,
 * process_open_fds and process_start_time_seconds (start_time_s). */
void sm_collect_process(struct selfmetrics *r, double start_time_s);

#endif
