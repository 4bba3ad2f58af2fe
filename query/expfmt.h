/* expfmt.h — streaming line parser for the metrics exposition formats:
 * OpenMetrics 1.0 text and Prometheus text 0.0.4. Used by `tsq import`,
 * `tsq check metrics` and the scraper. Feed it one line at a time, or a
 * whole buffer; it returns one entry per line (a sample, a metadata line,
 * # EOF, or nothing for blank/comment lines). docs/exposition.md lists what
 * each flavor accepts.
 *
 * Ownership: every string and label array in an entry points into buffers
 * owned by the parser and stays valid until the next expfmt_parse_line or
 * expfmt_parser_free on that parser.
 */
#ifndef VIGIL_EXPFMT_H
#define VIGIL_EXPFMT_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb.h"

/* The Accept header a scraper sends: OpenMetrics preferred, Prometheus text
 * next, anything else last (what Prometheus sends, without protobuf). */
#define EXPFMT_ACCEPT_HEADER                                                  \
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

enum expfmt_flavor {
    EXPFMT_OPENMETRICS, /* strict: single spaces, # EOF required, exemplars */
    EXPFMT_PROMETHEUS   /* text 0.0.4: blanks/tabs, free comments, no EOF */
};

enum expfmt_ts_unit {
    EXPFMT_TS_SECONDS, /* decimal seconds, possibly fractional (OpenMetrics) */
    EXPFMT_TS_MS       /* integer milliseconds (Prometheus text) */
};

struct expfmt_options {
    enum expfmt_flavor flavor;
    enum expfmt_ts_unit ts_unit;
    /* Prometheus text only (OpenMetrics always enforces its rules): 0 accepts
     * what Prometheus' scrape parser accepts; 1 also enforces the text
     * format's metadata rules as promtool does (one HELP and one TYPE per
     * name, TYPE before samples, le/quantile labels, no unknown escapes). */
    int strict;
};

/* Fills *o with the flavor's own timestamp unit, strict off. */
void expfmt_options_default(struct expfmt_options *o /* OUT */, enum expfmt_flavor flavor);

/* The flavor of a response body from its Content-Type header value (NULL or
 * "" when absent): OpenMetrics for application/openmetrics-text (any
 * parameters, case-insensitive), Prometheus text for anything else. */
enum expfmt_flavor expfmt_flavor_from_content_type(const char *content_type);

/* Guesses the flavor of an exposition of len bytes at buf (for input that
 * came without a Content-Type): OpenMetrics if its last line is "# EOF"
 * (one trailing newline allowed) or a line starts with "# UNIT ",
 * Prometheus text otherwise. */
enum expfmt_flavor expfmt_guess_flavor(const char *buf, size_t len);

/* The metric type of a family, from its TYPE line. */
enum expfmt_metric_type {
    EXPFMT_METRIC_UNKNOWN, /* no TYPE line, "untyped" (text) or "unknown" (OM) */
    EXPFMT_METRIC_COUNTER,
    EXPFMT_METRIC_GAUGE,
    EXPFMT_METRIC_HISTOGRAM,
    EXPFMT_METRIC_GAUGEHISTOGRAM, /* OpenMetrics only */
    EXPFMT_METRIC_SUMMARY,
    EXPFMT_METRIC_INFO,           /* OpenMetrics only */
    EXPFMT_METRIC_STATESET        /* OpenMetrics only */
};

/* The type's name as TYPE lines spell it ("unknown" for EXPFMT_METRIC_UNKNOWN);
 * a static string. */
const char *expfmt_metric_type_name(enum expfmt_metric_type t);

enum expfmt_kind {
    EXPFMT_NONE,   /* blank line or plain comment (Prometheus text only) */
    EXPFMT_SAMPLE,
    EXPFMT_HELP,
    EXPFMT_TYPE,
    EXPFMT_UNIT,
    EXPFMT_EOF
};

struct expfmt_entry {
    enum expfmt_kind kind;
    /* SAMPLE: the metric name; HELP/TYPE/UNIT: the metric family name. */
    const char *name;
    /* HELP: the unescaped docstring; TYPE: the type; UNIT: the unit. */
    const char *text;
    /* SAMPLE: labels[0] is {"__name__", name}, then the labels in file
     * order, values unescaped; ready for tsdb_series_ref. */
    struct tsdb_labels labels;
    double value;
    int has_ts;
    int64_t ts_ms;       /* when has_ts: converted per options.ts_unit */
    int has_exemplar;    /* an exemplar was present (validated, see below) */
    /* SAMPLE, HELP, TYPE, UNIT: the metric family the line belongs to (for a
     * sample, its name without the type's suffix: _total, _bucket, ...; a
     * sample no TYPE line covers is its own family of unknown type). */
    const char *family;
    /* SAMPLE and TYPE: the family's type. */
    enum expfmt_metric_type type;
    /* SAMPLE with has_exemplar: the exemplar's labels (no __name__), value
     * and, when exemplar_has_ts, timestamp. */
    struct tsdb_labels exemplar;
    double exemplar_value;
    int exemplar_has_ts;
    int64_t exemplar_ts_ms;
};

/* A parse error: 1-based line and byte column, and a message that says
 * what was expected and quotes the offending text. */
struct expfmt_error {
    unsigned line, col;
    char msg[200];
};

struct expfmt_parser {
    struct expfmt_options opts;
    unsigned line;             /* lines parsed so far */
    int seen_eof;
    char *buf;                 /* unescaped strings of the current line */
    size_t buf_cap, buf_len;
    struct tsdb_label *labels; /* labels of the current line */
    size_t labels_cap;
    /* Metric family bookkeeping (metadata order and grouping rules): every
     * family seen, in a hash table private to expfmt.c. */
    struct expfmt_family **families;
    size_t families_len, families_cap;
    struct expfmt_family *cur;  /* family of the previous line, NULL at first */
    struct expfmt_error err;   /* valid after a parse function failed */
};

void expfmt_parser_init(struct expfmt_parser *p /* OUT */, const struct expfmt_options *o);
void expfmt_parser_free(struct expfmt_parser *p);

/* Parses the next line: len bytes at line, without the trailing newline (a
 * trailing '\r' is not accepted either). @return 0 and *e, -EINVAL with
 * p->err set on a syntax error, or -ENOMEM. After an error the parser may be
 * fed further lines (line numbers keep counting). */
int expfmt_parse_line(struct expfmt_parser *p, const char *line, size_t len,
                      struct expfmt_entry *e /* OUT */);

/* Ends the input. @return 0, or -EINVAL with p->err set when an OpenMetrics
 * exposition did not end with # EOF. */
int expfmt_finish(struct expfmt_parser *p);

/* Called for each entry of a buffer; @return 0 to go on, nonzero to stop. */
typedef int (*expfmt_entry_fn)(const struct expfmt_entry *e, void *arg);

/* Parses a whole exposition of len bytes at buf with a fresh parser p:
 * lines end with '\n' (the last one may lack it), fn is called for every
 * entry that is not EXPFMT_NONE, then expfmt_finish runs. @return 0; -EINVAL
 * with p->err (line:column and message) at the first error, after which fn is
 * not called again; -ENOMEM; or the first nonzero value fn returned. */
int expfmt_parse_buffer(struct expfmt_parser *p, const char *buf, size_t len, expfmt_entry_fn fn,
                        void *arg);

#endif
