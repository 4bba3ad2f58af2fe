/* expfmt.h — streaming line parser for the metrics exposition formats:
 * OpenMetrics 1.0 text and Prometheus text 0.0.4. Used by `tsq import` and,
 * later, by the scraper. Feed it one line at a time; it returns one entry
 * (a sample, a metadata line, # EOF, or nothing for blank/comment lines).
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
};

/* Fills *o with the flavor's own timestamp unit. */
void expfmt_options_default(struct expfmt_options *o /* OUT */, enum expfmt_flavor flavor);

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
    int has_exemplar;    /* an exemplar was present (validated, not kept) */
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
    /* OpenMetrics metric family bookkeeping (metadata order rules). */
    char *family;
    unsigned family_meta;      /* bit per expfmt_kind seen for family */
    int family_type_counter;
    int family_has_samples;
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

#endif
