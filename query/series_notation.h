/* series_notation.h — Prometheus' series notation, shared by the PromQL
 * conformance runner (promqltest `load` blocks) and `tsq test rules`
 * (promtool's input_series): a series selector naming one series, the
 * expanding value notation (`1+1x10 _ stale 2x3`), and a scratch store in a
 * temporary directory to load such series into and query.
 *
 * Native histograms (`{{...}}`) are recognised but not stored: their points
 * are absent and the series is remembered as native, so that a caller can
 * report the queries reading it as skipped rather than let them pass. */
#ifndef VIGIL_SERIES_NOTATION_H
#define VIGIL_SERIES_NOTATION_H

#include <stddef.h>
#include <stdint.h>

#include "promql.h"
#include "tsdb.h"

/* One point of an expanded value list; present = 0 for `_` and for native
 * histogram points. A stale marker is present with tsdb_stale_nan(). */
struct series_value {
    double v;
    int present;
};

/* Length of the series selector at the start of s: up to and including the
 * closing brace (quotes respected), or up to the first blank. */
size_t series_selector_len(const char *s);

/* Parses the selector text[0..len) — `name`, `name{l="v",...}`,
 * `{l="v"}`, `{}` or only blanks — into equality labels sorted by name
 * (metric name as __name__). Strings are owned by *out: free with
 * series_labels_free. @return 0, -EINVAL with a message in err
 * ("col 5: ..." counted from text), or -ENOMEM. */
int series_labels_parse(const char *text, size_t len, struct tsdb_labels *out /* OUT */,
                        char *err, size_t errcap);

void series_labels_free(struct tsdb_labels *ls);

/* At most this many points per expanded value list (256 MiB of them). */
#define SERIES_MAX_POINTS ((size_t)1 << 24)

/* Expands the value notation s: numbers (Inf, NaN too), `a+bxN` / `a-bxN`
 * (N+1 points), `axN`, `_`, `_xN` (N absent points), `stale`, and native
 * histograms `{{...}}`, `{{...}}xN`, `{{...}}+{{...}}xN` (absent points,
 * *native set). @return 0 with *vals malloc'd (the caller frees it) and
 * *n, -EINVAL with "col N: bad value \"TOKEN\"" in err, or -ENOMEM. */
int series_values_expand(const char *s, struct series_value **vals /* OUT */, size_t *n /* OUT */,
                         int *native /* OUT */, char *err, size_t errcap);

/* A store in a fresh /tmp directory without WAL, accepting samples in any
 * order, plus the label sets of the series loaded as native histograms. */
struct series_store {
    char dir[64];
    struct tsdb *db;
    struct tsdb_labels *native; /* owned copies */
    size_t nnative;
};

/* @return 0 and an open store in *s, or a negative errno / tsdb error. */
int series_store_open(struct series_store *s /* OUT */);

/* Closes the store and removes its directory. Safe on a closed store. */
void series_store_close(struct series_store *s);

/* Stores vals[i] at i * step_ms for every present value and commits; with
 * native set, remembers ls as a native-histogram series.
 * @return 0 or a negative tsdb error. */
int series_store_load(struct series_store *s, const struct tsdb_labels *ls,
                      const struct series_value *vals, size_t n, int native, int64_t step_ms);

/* Remembers ls (copied) as a series holding native histograms. @return 0
 * or -ENOMEM. */
int series_store_add_native(struct series_store *s, const struct tsdb_labels *ls);

/* Whether evaluating n needs native histograms: 0 no, 1 a selector can
 * match a series loaded as native histograms, 2 it calls a function that
 * is only defined on native histograms. */
int series_store_reads_native(const struct series_store *s, const struct promql_node *n);

#endif
