/* output.h — writers for query results: Prometheus HTTP API JSON, CSV, and
 * an aligned table for humans. A result is a list of series, each with its
 * labels and samples. */
#ifndef VIGIL_OUTPUT_H
#define VIGIL_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tsdb.h"

enum output_format { OUTPUT_TABLE, OUTPUT_JSON, OUTPUT_CSV };

enum output_type {
    OUTPUT_VECTOR, /* one sample per series, stamped with the evaluation time */
    OUTPUT_MATRIX  /* raw samples per series */
};

struct output_sample {
    int64_t ts_ms;
    double value;
};

/* Borrowed pointers: the writer only reads them. */
struct output_series {
    const struct tsdb_labels *labels; /* sorted by name, with __name__ */
    const struct output_sample *samples;
    size_t n;
};

struct output_result {
    enum output_type type;
    const struct output_series *series;
    size_t n;
};

/* "table", "json" or "csv". @return 0 and *out, or -EINVAL. */
int output_parse_format(const char *s, enum output_format *out /* OUT */);

/* Writes r to f.
 * json: exactly Prometheus' /api/v1/query body, then a newline:
 *   {"status":"success","data":{"resultType":"matrix","result":[
 *    {"metric":{"__name__":"a","b":"c"},"values":[[1700000000.5,"1"]]}]}}
 *   (as one line; "value":[ts,"v"] for vectors).
 * csv: header "series,timestamp,value", then one row per sample; series is
 *   the PromQL notation a{b="c"} (quoted per RFC 4180), timestamp and value
 *   are formatted as in the JSON.
 * table: columns SERIES, TIME (RFC 3339 UTC, milliseconds), VALUE.
 * @return 0, or -EIO when writing failed. */
int output_write(FILE *f, enum output_format fmt, const struct output_result *r);

/* Formats a value like Prometheus: Go's strconv.FormatFloat(v, 'f', -1, 64)
 * (the shortest digits that round-trip), 'e' format below 1e-6 or from 1e21
 * up, "NaN", "+Inf", "-Inf". buf should hold 32 bytes. */
void output_format_value(double v, char *buf, size_t cap);

/* Formats a millisecond timestamp as Prometheus does: seconds, then a point
 * and exactly three digits when the milliseconds are not zero
 * (1700000000, 1700000000.500). buf should hold 32 bytes. */
void output_format_timestamp(int64_t ts_ms, char *buf, size_t cap);

#endif
