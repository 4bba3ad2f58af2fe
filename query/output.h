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

/* Formats a value as Go's strconv.FormatFloat(v, 'f', -1, 64) at every
 * magnitude (what the API prints for a scalar): output_format_value's
 * digits, in fixed notation also below 1e-6 and from 1e21 (1e-07 is
 * "0.0000001"). buf should hold 400 bytes. */
void output_format_value_fixed(double v, char *buf, size_t cap);

/* The shortest decimal digits that read back as v (finite, any sign;
 * Go's digits, powers of two included): written to d (at least 24 bytes,
 * NUL-terminated, no trailing zeros but a lone "0"), with *exp10 the
 * decimal exponent of the first digit (v = ±d[0].d[1]... * 10^exp10).
 * @return the number of digits. */
int output_shortest_digits(double v, char *d /* OUT */, int *exp10 /* OUT */);

/* Formats a millisecond timestamp as Prometheus does: seconds, then a point
 * and exactly three digits when the milliseconds are not zero
 * (1700000000, 1700000000.500). buf should hold 32 bytes. */
void output_format_timestamp(int64_t ts_ms, char *buf, size_t cap);

/* Receives the bytes of an escaped string. @return 0, or nonzero to stop. */
typedef int output_sink(void *arg, const void *p, size_t n);

/* Writes s, quoted, as a JSON string the way Prometheus' API does (Go's
 * encoding/json rules): \" \\ \n \r \t; other control characters, < > &
 * and U+2028 U+2029 as \u00XX / \u2028; each byte of invalid UTF-8 as
 * \ufffd; everything else verbatim. Hands the bytes to sink in runs.
 * @return 0, or the first nonzero value sink returned. */
int output_json_string(const char *s, output_sink *sink, void *arg);

/* output_json_string to a stdio stream. @return 0 or -EIO. */
int output_json_fputs(FILE *f, const char *s);

/* A streaming writer of output_write's json format (without the final
 * newline) for results that are not struct output_result: call
 * output_json_begin, then output_json_series for each series followed by
 * output_json_point for each of its samples (exactly one for a vector),
 * then output_json_end. The bytes go to sink in blocks of up to sizeof buf;
 * the writer allocates nothing. */
struct output_json {
    output_sink *sink;
    void *arg;
    enum output_type type;
    int rc;                  /* the first nonzero value sink returned */
    size_t nseries, npoints; /* so far; npoints of the current series */
    size_t len;              /* bytes in buf */
    char buf[16384];
};
void output_json_begin(struct output_json *w /* OUT */, enum output_type type,
                       output_sink *sink, void *arg);
/* Starts a series; labels sorted by name, with __name__. */
void output_json_series(struct output_json *w, const struct tsdb_labels *labels);
void output_json_point(struct output_json *w, int64_t ts_ms, double value);
/* Closes the result and hands over the rest. @return 0, or the first
 * nonzero value sink returned (later bytes were dropped). */
int output_json_end(struct output_json *w);

/* Orders label sets (each sorted by name) pair by pair, name then value; a
 * prefix sorts first. @return <0, 0 or >0 like strcmp. */
int output_labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b);

/* output_labels_cmp for qsort over an array of const struct tsdb_labels *. */
int output_labels_ptr_cmp(const void *x, const void *y);

/* The series in PromQL notation, name{a="b", c="d"} ({} without labels),
 * as a malloc'd string. @return it, or NULL on ENOMEM. */
char *output_series_name(const struct tsdb_labels *ls);

#endif
