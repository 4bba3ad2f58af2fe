/* promql_eval_int.h — private types shared by the evaluator's modules:
 * promql_eval.c (values, selectors, subqueries, queries), promql_binop.c,
 * promql_agg.c and promql_funcs.c.
 *
 * Design notes
 * - Everything a query builds while it runs lives in one arena owned by the
 *   query's context and freed at the end; a range query releases the arena
 *   back to a mark after each step, once the step's output is copied out.
 *   What must outlive a step (aggregation caches) goes to a second,
 *   query-lifetime arena (pe_query_arena_enter/leave).
 * - Selectors stream (struct pe_fetch): per series an iterator and a
 *   malloc'd window that each step slides forward; only selectors under a
 *   subquery or with @ load their whole range. Windows, iterators and the
 *   series sets live until the query ends (ctx_free).
 * - Errors unwind with longjmp to the entry point (pe_fail), which releases
 *   the arenas and every malloc'd structure the context tracks.
 * - Label sets are sorted by name; a selector's series point at the series
 *   set's strings, computed label sets at arena copies. Selector series
 *   have a query-lifetime id (pe_series_id) that output rows and
 *   aggregation groups are cached by.
 * - A sample keeps its metric name until the query ends, with drop_name
 *   set where Prometheus 3 drops it (functions, arithmetic), so label
 *   functions can still read or keep __name__ (delayed name removal).
 */
#ifndef VIGIL_PROMQL_EVAL_INT_H
#define VIGIL_PROMQL_EVAL_INT_H

#include <setjmp.h>
#include <stdarg.h>

#include "promql_eval.h"

/* ---- arena ------------------------------------------------------------ */

struct pe_block;
struct pe_arena {
    struct pe_block *head; /* newest block first */
};
struct pe_mark {
    struct pe_block *block;
    size_t used;
};

/* ---- labels and values ------------------------------------------------ */

struct pe_lset {
    size_t n;
    struct tsdb_label *v; /* sorted by name */
};

struct pe_sample {
    struct pe_lset ls;
    int64_t t; /* the sample's own timestamp (selectors) */
    double v;
    int drop_name;
};

struct pe_vec {
    struct pe_sample *v;
    size_t n, cap;
};

struct pe_series {
    struct pe_lset ls;
    struct promql_point *p;
    size_t n, cap;
    int drop_name;
};

struct pe_mat {
    struct pe_series *v;
    size_t n, cap;
};

struct pe_val {
    enum promql_type type;
    double f;        /* SCALAR */
    const char *str; /* STRING */
    struct pe_vec vec;
    struct pe_mat mat;
};

/* A string -> index hash map in the arena. */
struct pe_map {
    size_t cap, n;
    const char **keys;
    size_t *lens;
    size_t *vals;
};

/* A streamed series: its iterator, the malloc'd buffer its window lives
 * in (pt for instant selectors' one point), and how many stale markers
 * that window holds. */
struct pe_stream {
    struct tsdb_iter *it;
    /* the iterator's batch: left samples at next not read yet, taken read
     * (handed back with tsdb_iter_consume when the batch is used up) */
    const struct tsdb_sample *next;
    size_t left, taken;
    int eof;
    struct promql_point *buf;
    size_t cap;
    size_t nstale; /* stale markers in the window (range selectors) */
    struct promql_point pt; /* the window of an instant vector selector */
};

/* Data of one selector node for the whole query. Streamed (the default):
 * one iterator per series, and data.v[i] holds only series i's current
 * window, (ref - width, ref], slid forward as evaluation advances (vector
 * selectors keep only the newest point). Materialised (under a subquery
 * or with @, where evaluation times go back and forth): data holds every
 * sample of [mint, maxt], found with the cursors. Stale markers kept. */
struct pe_fetch {
    const struct promql_node *node;
    int64_t mint, maxt;
    int64_t width;   /* lookback (vector selector) or range (matrix) */
    int last_only;   /* an instant vector selector: only the newest point */
    int streamed;
    int64_t ref;     /* streamed: the reference time windows end at */
    struct tsdb_series_set *set;
    struct pe_stream *st; /* streamed: per series of data */
    struct tsdb_iter *it; /* materialised: while loading */
    struct promql_point *buf;
    struct pe_mat data;
    /* the labels of data's series, in one array: series at offset o has
     * labels_len[o] labels; its series id (pe_series_id) is id_base + o */
    struct tsdb_label *labels;
    size_t *labels_len;
    size_t nlabels, id_base;
    /* materialised, per series of data: where the last evaluation's window
     * ended (cur) and began (cur_lo); hints for seek() */
    size_t *cur, *cur_lo;
};

struct pe_notes {
    char **v;
    size_t n;
};

struct pe_ctx {
    struct tsdb_snapshot *snap;
    struct promql_engine_opts opts;
    const char *query;
    struct pe_arena arena;
    int64_t start, end, interval; /* the query's; interval 0 for instant */
    jmp_buf jb;
    struct promql_eval_error *err;
    struct pe_fetch *fetch;
    size_t nfetch;
    uint64_t held;    /* samples held across steps: windows, loaded data, output */
    uint64_t samples; /* samples held by the current step's intermediate results */
    uint64_t ticks;   /* pe_tick's counter */
    size_t nids;      /* series ids are below this */
    /* query-lifetime memory (a range query releases arena after each
     * step); pe_query_arena_enter/leave swap it in */
    struct pe_arena qarena, saved_arena;
    int in_qarena;
    struct pe_agg_cache *agg_caches;
    int64_t deadline_ns;
    int is_range;
    struct pe_notes warnings, infos;
};

/* ---- promql_eval.c ---------------------------------------------------- */

void *pe_alloc(struct pe_ctx *c, size_t size);
char *pe_strdup(struct pe_ctx *c, const char *s);
char *pe_printf(struct pe_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
__attribute__((noreturn, format(printf, 3, 4))) void pe_fail(struct pe_ctx *c,
                                                             enum promql_errkind kind,
                                                             const char *fmt, ...);
void pe_warn(struct pe_ctx *c, const struct promql_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pe_info(struct pe_ctx *c, const struct promql_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Counts n samples held by the current step against max_samples. */
void pe_count_samples(struct pe_ctx *c, uint64_t n);
/* Fails with a timeout once the query's deadline passed; pe_tick checks
 * every 1024th call, for loops over series or samples. */
void pe_check_deadline(struct pe_ctx *c);
void pe_tick(struct pe_ctx *c);

/* An id of ls, the same for the whole query, when ls is a selector
 * series' own label set (functions and operators pass it on unchanged);
 * SIZE_MAX otherwise. Equal ids mean equal labels. */
size_t pe_series_id(const struct pe_ctx *c, const struct pe_lset *ls);
/* Allocations between these two calls last until the query ends. */
void pe_query_arena_enter(struct pe_ctx *c);
void pe_query_arena_leave(struct pe_ctx *c);

/* Label sets. pe_lset_get returns "" for an absent label. */
const char *pe_lset_get(const struct pe_lset *ls, const char *name);
int pe_lset_cmp(const struct pe_lset *a, const struct pe_lset *b);
struct pe_lset pe_lset_set(struct pe_ctx *c, struct pe_lset ls, const char *name,
                           const char *value);
struct pe_lset pe_lset_del(struct pe_ctx *c, struct pe_lset ls, const char *name);
/* Keeps only (keep=1) or drops (keep=0) the listed names. */
struct pe_lset pe_lset_filter(struct pe_ctx *c, struct pe_lset ls,
                              const struct promql_labels *names, int keep);
/* A key of the labels selected as pe_lset_filter would, for grouping. */
const char *pe_lset_key(struct pe_ctx *c, const struct pe_lset *ls,
                        const struct promql_labels *names, int keep, int drop_metric,
                        size_t *len /* OUT */);
/* Writes {a="b", ...} (Prometheus' String()). */
char *pe_lset_str(struct pe_ctx *c, const struct pe_lset *ls);

void pe_map_init(struct pe_ctx *c, struct pe_map *m, size_t hint);
/* @return 1 and *val if key is present. */
int pe_map_get(const struct pe_map *m, const char *key, size_t len, size_t *val /* OUT */);
void pe_map_put(struct pe_ctx *c, struct pe_map *m, const char *key, size_t len, size_t val);

void pe_vec_push(struct pe_ctx *c, struct pe_vec *v, struct pe_sample s);
struct pe_series *pe_mat_push(struct pe_ctx *c, struct pe_mat *m, struct pe_lset ls);
void pe_series_push(struct pe_ctx *c, struct pe_series *s, int64_t t, double v);

/* Evaluates node at time t (ms). */
struct pe_val pe_eval(struct pe_ctx *c, const struct promql_node *n, int64_t t);
/* Strips parentheses. */
const struct promql_node *pe_unparen(const struct promql_node *n);
/* Fails like Prometheus when two samples of v have the same labels once
 * names are dropped. */
void pe_check_dups(struct pe_ctx *c, const struct pe_vec *v);

/* ---- the other modules ------------------------------------------------ */

struct pe_val pe_binary(struct pe_ctx *c, const struct promql_node *n, int64_t t);
struct pe_val pe_aggregate(struct pe_ctx *c, const struct promql_node *n, int64_t t);
struct pe_val pe_call(struct pe_ctx *c, const struct promql_node *n, int64_t t);

/* Go's %q of s (invalid UTF-8 as \xNN), for messages. */
const char *pe_go_quote(struct pe_ctx *c, const char *s);

/* Float helpers shared by modules. */
double pe_quantile(double q, double *v, size_t n); /* sorts v */
int pe_float_cmp_asc(const void *a, const void *b);

#endif
