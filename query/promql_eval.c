/* promql_eval.c — the evaluator's core: the query arena, label sets,
 * selectors streaming their series (a sliding window per series over a
 * store iterator) with staleness, offset and @, subqueries, the limits, and
 * the instant and range query entry points.
 * Operators, aggregations and functions live in promql_binop.c,
 * promql_agg.c and promql_funcs.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promql_eval_int.h"

#define PE_BLOCK_BYTES (64 * 1024)
#define PE_SUBQUERY_DEFAULT_STEP_MS 60000
/* Samples the iterators of a query's streamed selectors decode at a time,
 * all together (8 Mi samples, 128 MiB), and per iterator at least and at
 * most: fewer samples per batch decode the chunks straddling two batches
 * more often. */
#define PE_DECODE_BUDGET (8u << 20)
#define PE_ITER_BATCH_MIN 256
#define PE_ITER_BATCH_MAX 4096

/* ---- arena ------------------------------------------------------------ */

struct pe_block {
    struct pe_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

static void arena_release(struct pe_arena *a, struct pe_mark m)
{
    while (a->head && a->head != m.block) {
        struct pe_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    if (a->head)
        a->head->used = m.used;
}

static struct pe_mark arena_mark(const struct pe_arena *a)
{
    struct pe_mark m = {a->head, a->head ? a->head->used : 0};
    return m;
}

/* pe_alloc without zeroing, for memory about to be overwritten. */
static void *alloc_raw(struct pe_ctx *c, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct pe_block *b = c->arena.head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > PE_BLOCK_BYTES ? size : PE_BLOCK_BYTES;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
        b->size = cap;
        b->used = 0;
        b->next = c->arena.head;
        c->arena.head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

void pe_query_arena_enter(struct pe_ctx *c)
{
    c->saved_arena = c->arena;
    c->arena = c->qarena;
    c->in_qarena = 1;
}

void pe_query_arena_leave(struct pe_ctx *c)
{
    c->qarena = c->arena;
    c->arena = c->saved_arena;
    c->in_qarena = 0;
}

void *pe_alloc(struct pe_ctx *c, size_t size)
{
    void *p = alloc_raw(c, size);
    memset(p, 0, size);
    return p;
}

char *pe_strdup(struct pe_ctx *c, const char *s)
{
    size_t n = strlen(s);
    char *d = alloc_raw(c, n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static char *pe_vprintf(struct pe_ctx *c, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *s = pe_alloc(c, (size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *pe_printf(struct pe_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pe_vprintf(c, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- errors, annotations, limits --------------------------------------- */

void pe_fail(struct pe_ctx *c, enum promql_errkind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
    va_end(ap);
    c->err->kind = kind;
    longjmp(c->jb, 1);
}

/* Adds "PREFIX: msg (line:col)" once to notes (malloc'd: notes outlive
 * the arena). */
static void note_add(struct pe_ctx *c, struct pe_notes *notes, const char *prefix,
                     const struct promql_node *n, const char *fmt, va_list ap)
{
    char msg[600];
    int len = snprintf(msg, sizeof(msg), "%s: ", prefix);
    len += vsnprintf(msg + len, sizeof(msg) - (size_t)len, fmt, ap);
    if (n && len < (int)sizeof(msg)) {
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < n->pos.start && c->query[i]; i++) {
            if (c->query[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        snprintf(msg + len, sizeof(msg) - (size_t)len, " (%u:%u)", line, col);
    }
    for (size_t i = 0; i < notes->n; i++)
        if (!strcmp(notes->v[i], msg))
            return;
    char **v = realloc(notes->v, (notes->n + 1) * sizeof(*v));
    if (!v)
        return;
    notes->v = v;
    if ((v[notes->n] = strdup(msg)))
        notes->n++;
}

void pe_warn(struct pe_ctx *c, const struct promql_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_add(c, &c->warnings, "PromQL warning", n, fmt, ap);
    va_end(ap);
}

void pe_info(struct pe_ctx *c, const struct promql_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_add(c, &c->infos, "PromQL info", n, fmt, ap);
    va_end(ap);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void pe_check_deadline(struct pe_ctx *c)
{
    if (c->deadline_ns && now_ns() > c->deadline_ns)
        pe_fail(c, PROMQL_ERR_TIMEOUT, "query timed out in expression evaluation");
}

void pe_tick(struct pe_ctx *c)
{
    if ((++c->ticks & 1023) == 0)
        pe_check_deadline(c);
}

static void check_samples(struct pe_ctx *c)
{
    if (c->opts.max_samples && c->held + c->samples > c->opts.max_samples)
        pe_fail(c, PROMQL_ERR_TOO_MANY_SAMPLES,
                "query processing would load too many samples into memory in query execution");
}

void pe_count_samples(struct pe_ctx *c, uint64_t n)
{
    c->samples += n;
    check_samples(c);
}

/* Samples held across steps (selector windows, loaded data, the output):
 * n more (add) or fewer. */
static void hold_samples(struct pe_ctx *c, uint64_t n, int add)
{
    if (!add) {
        c->held -= n;
        return;
    }
    c->held += n;
    check_samples(c);
}

/* ---- label sets -------------------------------------------------------- */

const char *pe_lset_get(const struct pe_lset *ls, const char *name)
{
    for (size_t i = 0; i < ls->n; i++)
        if (!strcmp(ls->v[i].name, name))
            return ls->v[i].value;
    return "";
}

int pe_lset_cmp(const struct pe_lset *a, const struct pe_lset *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int r = strcmp(a->v[i].name, b->v[i].name);
        if (r)
            return r;
        r = strcmp(a->v[i].value, b->v[i].value);
        if (r)
            return r;
    }
    return a->n < b->n ? -1 : a->n > b->n;
}

struct pe_lset pe_lset_set(struct pe_ctx *c, struct pe_lset ls, const char *name,
                           const char *value)
{
    struct pe_lset out = {0, pe_alloc(c, (ls.n + 1) * sizeof(struct tsdb_label))};
    int done = 0;
    for (size_t i = 0; i < ls.n; i++) {
        int r = strcmp(ls.v[i].name, name);
        if (!done && r >= 0) {
            if (*value)
                out.v[out.n++] = (struct tsdb_label){pe_strdup(c, name), pe_strdup(c, value)};
            done = 1;
            if (r == 0)
                continue;
        }
        out.v[out.n++] = ls.v[i];
    }
    if (!done && *value)
        out.v[out.n++] = (struct tsdb_label){pe_strdup(c, name), pe_strdup(c, value)};
    return out;
}

struct pe_lset pe_lset_del(struct pe_ctx *c, struct pe_lset ls, const char *name)
{
    return pe_lset_set(c, ls, name, "");
}

static int names_has(const struct promql_labels *names, const char *s)
{
    for (size_t i = 0; names && i < names->n; i++)
        if (!strcmp(names->names[i], s))
            return 1;
    return 0;
}

struct pe_lset pe_lset_filter(struct pe_ctx *c, struct pe_lset ls,
                              const struct promql_labels *names, int keep)
{
    struct pe_lset out = {0, pe_alloc(c, (ls.n + 1) * sizeof(struct tsdb_label))};
    for (size_t i = 0; i < ls.n; i++)
        if (names_has(names, ls.v[i].name) == keep)
            out.v[out.n++] = ls.v[i];
    return out;
}

const char *pe_lset_key(struct pe_ctx *c, const struct pe_lset *ls,
                        const struct promql_labels *names, int keep, int drop_metric,
                        size_t *len)
{
    size_t cap = 1;
    for (size_t i = 0; i < ls->n; i++)
        cap += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2;
    char *k = pe_alloc(c, cap), *p = k;
    for (size_t i = 0; i < ls->n; i++) {
        const char *nm = ls->v[i].name;
        if (names_has(names, nm) != keep)
            continue;
        if (drop_metric && !strcmp(nm, "__name__"))
            continue;
        size_t a = strlen(nm), b = strlen(ls->v[i].value);
        memcpy(p, nm, a);
        p += a;
        *p++ = '\xff';
        memcpy(p, ls->v[i].value, b);
        p += b;
        *p++ = '\xfe';
    }
    *len = (size_t)(p - k);
    return k;
}

static size_t json_quote(char *out, const char *s)
{
    size_t n = 0;
    out[n++] = '"';
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n++] = '"';
    return n;
}

char *pe_lset_str(struct pe_ctx *c, const struct pe_lset *ls)
{
    size_t cap = 3;
    for (size_t i = 0; i < ls->n; i++)
        cap += strlen(ls->v[i].name) + 2 * strlen(ls->v[i].value) + 6;
    char *s = pe_alloc(c, cap);
    size_t n = 0;
    s[n++] = '{';
    for (size_t i = 0; i < ls->n; i++) {
        if (i) {
            s[n++] = ',';
            s[n++] = ' ';
        }
        size_t a = strlen(ls->v[i].name);
        memcpy(s + n, ls->v[i].name, a);
        n += a;
        s[n++] = '=';
        n += json_quote(s + n, ls->v[i].value);
    }
    s[n++] = '}';
    s[n] = 0;
    return s;
}

/* ---- hash map ---------------------------------------------------------- */

static uint64_t hash_bytes(const char *k, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    return h;
}

void pe_map_init(struct pe_ctx *c, struct pe_map *m, size_t hint)
{
    size_t cap = 16;
    while (cap < hint * 2)
        cap *= 2;
    m->cap = cap;
    m->n = 0;
    m->keys = pe_alloc(c, cap * sizeof(*m->keys));
    m->lens = pe_alloc(c, cap * sizeof(*m->lens));
    m->vals = pe_alloc(c, cap * sizeof(*m->vals));
}

int pe_map_get(const struct pe_map *m, const char *key, size_t len, size_t *val)
{
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    for (; m->keys[i]; i = (i + 1) & (m->cap - 1)) {
        if (m->lens[i] == len && !memcmp(m->keys[i], key, len)) {
            *val = m->vals[i];
            return 1;
        }
    }
    return 0;
}

void pe_map_put(struct pe_ctx *c, struct pe_map *m, const char *key, size_t len, size_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct pe_map big;
        pe_map_init(c, &big, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                pe_map_put(c, &big, m->keys[i], m->lens[i], m->vals[i]);
        *m = big;
    }
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    for (; m->keys[i]; i = (i + 1) & (m->cap - 1)) {
        if (m->lens[i] == len && !memcmp(m->keys[i], key, len)) {
            m->vals[i] = val;
            return;
        }
    }
    m->keys[i] = key[0] || len ? key : "";
    if (!len)
        m->keys[i] = "";
    m->lens[i] = len;
    m->vals[i] = val;
    m->n++;
}

/* ---- values ------------------------------------------------------------ */

static void *grow(struct pe_ctx *c, void *old, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return old;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = alloc_raw(c, ncap * elem); /* callers write what they use */
    if (old)
        memcpy(p, old, n * elem);
    *cap = ncap;
    return p;
}

void pe_vec_push(struct pe_ctx *c, struct pe_vec *v, struct pe_sample s)
{
    v->v = grow(c, v->v, v->n, &v->cap, sizeof(*v->v));
    v->v[v->n++] = s;
}

struct pe_series *pe_mat_push(struct pe_ctx *c, struct pe_mat *m, struct pe_lset ls)
{
    m->v = grow(c, m->v, m->n, &m->cap, sizeof(*m->v));
    struct pe_series *s = &m->v[m->n++];
    memset(s, 0, sizeof(*s));
    s->ls = ls;
    return s;
}

void pe_series_push(struct pe_ctx *c, struct pe_series *s, int64_t t, double v)
{
    s->p = grow(c, s->p, s->n, &s->cap, sizeof(*s->p));
    s->p[s->n++] = (struct promql_point){t, v};
}

const struct promql_node *pe_unparen(const struct promql_node *n)
{
    while (n->kind == PROMQL_PAREN)
        n = n->paren.expr;
    return n;
}

static struct pe_lset finished_labels(struct pe_ctx *c, const struct pe_lset *ls, int drop_name)
{
    return drop_name ? pe_lset_del(c, *ls, "__name__") : *ls;
}

void pe_check_dups(struct pe_ctx *c, const struct pe_vec *v)
{
    if (v->n < 2)
        return;
    struct pe_map m;
    pe_map_init(c, &m, v->n);
    for (size_t i = 0; i < v->n; i++) {
        struct pe_lset ls = finished_labels(c, &v->v[i].ls, v->v[i].drop_name);
        size_t len, j;
        const char *k = pe_lset_key(c, &ls, NULL, 0, 0, &len);
        if (pe_map_get(&m, k, len, &j))
            pe_fail(c, PROMQL_ERR_EXECUTION, "vector cannot contain metrics with the same labelset");
        pe_map_put(c, &m, k, len, i);
    }
}

/* ---- selectors ----------------------------------------------------------- */

static int64_t at_time(const struct pe_ctx *c, const struct promql_modifiers *mod, int64_t t)
{
    switch (mod->at) {
    case PROMQL_AT_NONE:
        return t;
    case PROMQL_AT_TIME:
        return mod->at_ms;
    case PROMQL_AT_START:
        return c->start;
    case PROMQL_AT_END:
        return c->end;
    }
    return t;
}

/* Records the data range selector node vs needs when evaluated at times in
 * [lo, hi], for a window of width ms before each reference time. Selectors
 * under a subquery or with @ are evaluated at times that do not advance
 * monotonically: their data is loaded whole (materialise). */
static void need(struct pe_ctx *c, const struct promql_node *vs, int64_t lo, int64_t hi,
                 int64_t width, int last_only, int materialise)
{
    const struct promql_modifiers *mod = &vs->vs.mod;
    if (mod->at != PROMQL_AT_NONE) {
        lo = hi = at_time(c, mod, lo);
        materialise = 1;
    }
    int64_t mint = lo - mod->offset_ms - width, maxt = hi - mod->offset_ms;
    for (size_t i = 0; i < c->nfetch; i++) {
        struct pe_fetch *f = &c->fetch[i];
        if (f->node == vs) {
            if (mint < f->mint)
                f->mint = mint;
            if (maxt > f->maxt)
                f->maxt = maxt;
            f->streamed = 0;
            return;
        }
    }
    struct pe_fetch *f = pe_alloc(c, (c->nfetch + 1) * sizeof(*f));
    if (c->nfetch)
        memcpy(f, c->fetch, c->nfetch * sizeof(*f));
    c->fetch = f;
    f[c->nfetch++] = (struct pe_fetch){.node = vs, .mint = mint, .maxt = maxt, .width = width,
                                       .last_only = last_only, .streamed = !materialise, .ref = INT64_MIN};
}

/* Walks the tree and records what each selector needs for evaluation
 * times in [lo, hi]. */
static void plan(struct pe_ctx *c, const struct promql_node *n, int64_t lo, int64_t hi,
                 int materialise)
{
    switch (n->kind) {
    case PROMQL_NUMBER:
    case PROMQL_STRING:
        return;
    case PROMQL_VECTOR_SELECTOR:
        need(c, n, lo, hi, c->opts.lookback_ms, 1, materialise);
        return;
    case PROMQL_MATRIX_SELECTOR:
        need(c, n->matrix.vs, lo, hi, n->matrix.range_ms, 0, materialise);
        return;
    case PROMQL_SUBQUERY: {
        const struct promql_modifiers *mod = &n->subquery.mod;
        if (mod->at != PROMQL_AT_NONE)
            lo = hi = at_time(c, mod, lo);
        plan(c, n->subquery.expr, lo - mod->offset_ms - n->subquery.range_ms,
             hi - mod->offset_ms, 1);
        return;
    }
    case PROMQL_PAREN:
        plan(c, n->paren.expr, lo, hi, materialise);
        return;
    case PROMQL_UNARY:
        plan(c, n->unary.expr, lo, hi, materialise);
        return;
    case PROMQL_BINARY:
        plan(c, n->binary.lhs, lo, hi, materialise);
        plan(c, n->binary.rhs, lo, hi, materialise);
        return;
    case PROMQL_AGGREGATE:
        if (n->aggregate.param)
            plan(c, n->aggregate.param, lo, hi, materialise);
        plan(c, n->aggregate.expr, lo, hi, materialise);
        return;
    case PROMQL_CALL:
        for (size_t i = 0; i < n->call.nargs; i++)
            plan(c, n->call.args[i], lo, hi, materialise);
        return;
    }
}

/* Allocates one array for the labels of all series of f's set, so that a
 * label set's address tells whether it is one of them (pe_series_id). */
static void labels_reserve(struct pe_ctx *c, struct pe_fetch *f)
{
    size_t n = tsdb_series_set_len(f->set), total = 0;
    for (size_t i = 0; i < n; i++)
        total += tsdb_series_set_labels(f->set, i)->len + 1;
    f->labels = pe_alloc(c, (total + 1) * sizeof(*f->labels));
    f->labels_len = pe_alloc(c, (total + 1) * sizeof(*f->labels_len));
}

/* Puts series i's labels into f->labels. */
static struct pe_lset copy_labels(struct pe_fetch *f, size_t i)
{
    const struct tsdb_labels *l = tsdb_series_set_labels(f->set, i);
    struct pe_lset ls = {l->len, f->labels + f->nlabels};
    f->labels_len[f->nlabels] = l->len;
    f->nlabels += l->len + 1;
    /* the strings stay the set's: it lives as long as the query */
    memcpy(ls.v, l->v, l->len * sizeof(*ls.v));
    return ls;
}

size_t pe_series_id(const struct pe_ctx *c, const struct pe_lset *ls)
{
    for (size_t i = 0; i < c->nfetch; i++) {
        const struct pe_fetch *f = &c->fetch[i];
        if (ls->v >= f->labels && ls->v < f->labels + f->nlabels) {
            size_t off = (size_t)(ls->v - f->labels);
            return f->labels_len[off] == ls->n ? f->id_base + off : SIZE_MAX;
        }
    }
    return SIZE_MAX;
}

static void read_failed(struct pe_ctx *c, int rc)
{
    pe_fail(c, PROMQL_ERR_EXECUTION, "reading series: %s", tsdb_strerror(rc));
}

/* Reads every sample of f's range into f->data (materialised selectors).
 * Each series is read into f->buf, then copied to the arena at its exact
 * size (no doubling, no zeroing). */
static void load_all(struct pe_ctx *c, struct pe_fetch *f)
{
    size_t n = tsdb_series_set_len(f->set), cap = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = tsdb_iter_open(f->set, i, &f->it);
        size_t np = 0;
        int64_t ts;
        double v;
        while (rc >= 0 && (rc = tsdb_iter_next(f->it, &ts, &v)) == 1) {
            if (np == cap) {
                cap = cap ? cap * 2 : 1024;
                struct promql_point *nb = realloc(f->buf, cap * sizeof(*nb));
                if (!nb)
                    pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
                f->buf = nb;
            }
            f->buf[np++] = (struct promql_point){ts, v};
            if ((np & 1023) == 0)
                pe_tick(c);
        }
        tsdb_iter_free(f->it);
        f->it = NULL;
        if (rc < 0)
            read_failed(c, rc);
        if (!np)
            continue;
        hold_samples(c, np, 1);
        struct pe_series *s;
        struct pe_lset ls = copy_labels(f, i);
        s = pe_mat_push(c, &f->data, ls);
        s->p = alloc_raw(c, np * sizeof(*s->p));
        memcpy(s->p, f->buf, np * sizeof(*s->p));
        s->n = s->cap = np;
    }
    free(f->buf);
    f->buf = NULL;
    /* before the range query's arena mark: the cursors live for the query */
    f->cur = pe_alloc(c, (f->data.n + 1) * sizeof(*f->cur));
    f->cur_lo = pe_alloc(c, (f->data.n + 1) * sizeof(*f->cur_lo));
}

/* Opens an iterator per series of f (streamed selectors); windows start
 * empty. */
static void open_streams(struct pe_ctx *c, struct pe_fetch *f)
{
    size_t n = tsdb_series_set_len(f->set);
    f->st = calloc(n + 1, sizeof(*f->st));
    if (!f->st)
        pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
    for (size_t i = 0; i < n; i++) {
        pe_tick(c);
        struct pe_stream *st = &f->st[i];
        int rc = tsdb_iter_open(f->set, i, &st->it);
        if (rc < 0)
            read_failed(c, rc);
        pe_mat_push(c, &f->data, copy_labels(f, i));
    }
}

/* Selects f's series: whole (materialised) or as iterators (streamed). */
static void load(struct pe_ctx *c, struct pe_fetch *f)
{
    const struct promql_node *vs = f->node;
    int rc = tsdb_select(c->snap, vs->vs.matchers, vs->vs.n_matchers, f->mint, f->maxt, &f->set);
    if (rc < 0)
        pe_fail(c, PROMQL_ERR_EXECUTION, "expanding series: %s", tsdb_strerror(rc));
    labels_reserve(c, f);
    f->id_base = c->nids;
    if (f->streamed)
        open_streams(c, f);
    else
        load_all(c, f);
    c->nids += f->nlabels;
}

/* Frees what f holds outside the arena: iterators, windows, scratch. */
static void fetch_free(struct pe_fetch *f)
{
    tsdb_iter_free(f->it);
    f->it = NULL;
    free(f->buf);
    f->buf = NULL;
    for (size_t i = 0; f->st && i < tsdb_series_set_len(f->set); i++) {
        tsdb_iter_free(f->st[i].it);
        free(f->st[i].buf);
    }
    free(f->st);
    f->st = NULL;
    tsdb_series_set_free(f->set);
    f->set = NULL;
}

/* tsdb_is_stale, inlined: it runs for every point a selector looks at. */
static inline int is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits == TSDB_STALE_NAN_BITS;
}

/* Drops the k oldest points of series i's window. */
static void window_drop(struct pe_ctx *c, struct pe_fetch *f, size_t i, size_t k)
{
    struct pe_series *s = &f->data.v[i];
    if (!k)
        return;
    for (size_t j = 0; f->st[i].nstale && j < k; j++)
        f->st[i].nstale -= is_stale(s->p[j].v);
    s->p += k;
    s->n -= k;
    hold_samples(c, k, 0);
    if (!s->n)
        s->p = f->st[i].buf;
}

/* Appends the k samples x to series i's window. */
static void window_push(struct pe_ctx *c, struct pe_fetch *f, size_t i,
                        const struct tsdb_sample *x, size_t k)
{
    struct pe_series *s = &f->data.v[i];
    struct pe_stream *st = &f->st[i];
    size_t off = st->buf ? (size_t)(s->p - st->buf) : 0;
    if (off + s->n + k > st->cap) {
        if (st->cap && s->n + k <= off) {
            /* more than half free: slide the window to the front */
            memmove(st->buf, s->p, s->n * sizeof(*s->p));
        } else {
            size_t cap = st->cap ? st->cap * 2 : 4;
            while (cap < 2 * (s->n + k))
                cap *= 2;
            struct promql_point *b = malloc(cap * sizeof(*b));
            if (!b)
                pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
            if (s->n)
                memcpy(b, s->p, s->n * sizeof(*b));
            free(st->buf);
            st->buf = b;
            st->cap = cap;
        }
        s->p = st->buf;
    }
    for (size_t j = 0; j < k; j++) {
        s->p[s->n++] = (struct promql_point){x[j].ts_ms, x[j].value};
        st->nstale += is_stale(x[j].value);
    }
    hold_samples(c, k, 1);
}

/* Makes st->next/left the samples of st's iterator not taken yet, handing
 * back the ones taken. @return 0 at the end of the series. */
static int stream_batch(struct pe_ctx *c, struct pe_stream *st)
{
    if (st->left)
        return 1;
    if (st->eof)
        return 0;
    tsdb_iter_consume(st->it, st->taken);
    st->taken = 0;
    int rc = tsdb_iter_batch(st->it, &st->next, &st->left);
    if (rc < 0)
        read_failed(c, rc);
    st->eof = !st->left;
    return !st->eof;
}

/* Skips st's samples before t. @return 0 at the end of the series. */
static int stream_seek(struct pe_ctx *c, struct pe_stream *st, int64_t t)
{
    tsdb_iter_consume(st->it, st->taken);
    st->taken = st->left = 0;
    int rc = tsdb_iter_seek(st->it, t);
    if (rc < 0)
        read_failed(c, rc);
    return stream_batch(c, st);
}

/* Slides every window of the streamed selector f to (ref - f->width, ref]:
 * drops points that fell out, reads points up to ref, skipping (seeking
 * past) what lies before the window. Vector selectors keep only the
 * newest point. ref never decreases. */
static void advance(struct pe_ctx *c, struct pe_fetch *f, int64_t ref)
{
    if (ref < f->ref)
        pe_fail(c, PROMQL_ERR_EXECUTION, "internal error: selector evaluated backwards in time");
    f->ref = ref;
    int64_t lo = ref - f->width;
    for (size_t i = 0; i < f->data.n; i++) {
        struct pe_series *s = &f->data.v[i];
        struct pe_stream *st = &f->st[i];
        if (i + 8 < f->data.n && f->st[i + 8].left > 1) {
            /* series take turns: fetch the next ones' samples ahead (the
             * first one past the step too) */
            __builtin_prefetch(f->st[i + 8].next);
            __builtin_prefetch(f->st[i + 8].next + 1);
        }
        pe_tick(c);
        size_t k = 0;
        while (k < s->n && s->p[k].t <= lo)
            k++;
        window_drop(c, f, i, k);
        while (stream_batch(c, st)) {
            const struct tsdb_sample *x = st->next;
            if (x[0].ts_ms > ref)
                break;
            if (x[0].ts_ms <= lo) {
                if (!stream_seek(c, st, lo + 1))
                    break;
                continue;
            }
            size_t j = 1;
            while (j < st->left && x[j].ts_ms <= ref)
                j++;
            if (f->last_only) {
                /* the window is one point, kept beside the iterator */
                if (!s->n)
                    hold_samples(c, 1, 1);
                st->pt = (struct promql_point){x[j - 1].ts_ms, x[j - 1].value};
                s->p = &st->pt;
                s->n = 1;
            } else {
                window_push(c, f, i, x, j);
            }
            st->next += j;
            st->left -= j;
            st->taken += j;
            if (st->left)
                break;
        }
    }
}

static struct pe_fetch *fetched(struct pe_ctx *c, const struct promql_node *vs)
{
    for (size_t i = 0; i < c->nfetch; i++)
        if (c->fetch[i].node == vs)
            return &c->fetch[i];
    pe_fail(c, PROMQL_ERR_EXECUTION, "internal error: selector not planned");
}

/* Index of the first point with time > t among s->p[lo, hi). */
static size_t upper_bound_in(const struct pe_series *s, size_t lo, size_t hi, int64_t t)
{
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->p[mid].t <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the first point with time > t, starting from the answer for an
 * earlier time in *cur (a hint: any value works) and leaving this one
 * there. Consecutive evaluations move a few points forward. */
static size_t seek(const struct pe_series *s, size_t *cur, int64_t t)
{
    size_t j = *cur;
    if (j > s->n)
        j = s->n;
    if (j > 0 && s->p[j - 1].t > t) {
        j = upper_bound_in(s, 0, j - 1, t);
    } else {
        size_t k = 0;
        while (j < s->n && s->p[j].t <= t) {
            if (++k > 8) {
                j = upper_bound_in(s, j, s->n, t);
                break;
            }
            j++;
        }
    }
    *cur = j;
    return j;
}

/* The window of series i of f for reference time ref: points [*lo, *hi)
 * of f->data.v[i] (streamed windows are exactly the buffered points). */
static void window(struct pe_fetch *f, size_t i, int64_t ref, int64_t width, size_t *lo,
                   size_t *hi)
{
    const struct pe_series *s = &f->data.v[i];
    if (f->streamed) {
        *lo = 0;
        *hi = s->n;
        return;
    }
    *hi = seek(s, &f->cur[i], ref);
    *lo = width ? seek(s, &f->cur_lo[i], ref - width) : *hi;
}

static struct pe_val eval_vector_selector(struct pe_ctx *c, const struct promql_node *n,
                                          int64_t t)
{
    struct pe_val out = {.type = PROMQL_TYPE_VECTOR};
    struct pe_fetch *f = fetched(c, n);
    int64_t ref = at_time(c, &n->vs.mod, t) - n->vs.mod.offset_ms;
    if (f->streamed)
        advance(c, f, ref);
    out.vec.cap = f->data.n;
    out.vec.v = alloc_raw(c, (out.vec.cap + 1) * sizeof(*out.vec.v));
    for (size_t i = 0; i < f->data.n; i++) {
        const struct pe_series *s = &f->data.v[i];
        size_t lo, j;
        window(f, i, ref, 0, &lo, &j);
        if (j == 0)
            continue;
        const struct promql_point *p = &s->p[j - 1];
        if (p->t <= ref - c->opts.lookback_ms || is_stale(p->v))
            continue;
        pe_vec_push(c, &out.vec, (struct pe_sample){s->ls, p->t, p->v, 0});
    }
    pe_count_samples(c, out.vec.n);
    return out;
}

static struct pe_val eval_matrix_selector(struct pe_ctx *c, const struct promql_node *n,
                                          int64_t t)
{
    struct pe_val out = {.type = PROMQL_TYPE_MATRIX};
    const struct promql_node *vs = n->matrix.vs;
    struct pe_fetch *f = fetched(c, vs);
    int64_t ref = at_time(c, &vs->vs.mod, t) - vs->vs.mod.offset_ms;
    if (f->streamed)
        advance(c, f, ref);
    for (size_t i = 0; i < f->data.n; i++) {
        const struct pe_series *s = &f->data.v[i];
        size_t lo, hi;
        window(f, i, ref, n->matrix.range_ms, &lo, &hi);
        struct pe_series *o = NULL;
        size_t j = lo;
        if (f->streamed && !f->st[i].nstale)
            j = hi; /* streamed windows count their stale markers */
        while (j < hi && !is_stale(s->p[j].v))
            j++;
        if (j == hi) {
            /* no stale marker in the window: share the selector's points
             * (read only, already counted as held; cap == n makes any push
             * copy them first) */
            if (hi > lo) {
                o = pe_mat_push(c, &out.mat, s->ls);
                o->p = s->p + lo;
                o->n = o->cap = hi - lo;
            }
            continue;
        }
        for (j = lo; j < hi; j++) {
            if (is_stale(s->p[j].v))
                continue;
            if (!o) {
                o = pe_mat_push(c, &out.mat, s->ls);
                o->p = pe_alloc(c, (hi - lo) * sizeof(*o->p));
                o->cap = hi - lo;
            }
            o->p[o->n++] = s->p[j];
        }
        if (o)
            pe_count_samples(c, o->n);
    }
    return out;
}

static int cmp_series(const void *a, const void *b)
{
    return pe_lset_cmp(&((const struct pe_series *)a)->ls, &((const struct pe_series *)b)->ls);
}

static struct pe_val eval_subquery(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    struct pe_val out = {.type = PROMQL_TYPE_MATRIX};
    int64_t step = n->subquery.step_ms      ? n->subquery.step_ms
                   : c->opts.subquery_step_ms > 0 ? c->opts.subquery_step_ms
                                                  : PE_SUBQUERY_DEFAULT_STEP_MS;
    int64_t ref = at_time(c, &n->subquery.mod, t) - n->subquery.mod.offset_ms;
    int64_t mint = ref - n->subquery.range_ms;
    int64_t first = mint / step * step;
    if (first <= mint)
        first += step;
    struct pe_map m;
    pe_map_init(c, &m, 16);
    for (int64_t ti = first; ti <= ref; ti += step) {
        pe_check_deadline(c);
        struct pe_val v = pe_eval(c, n->subquery.expr, ti);
        if (v.type == PROMQL_TYPE_SCALAR) {
            struct pe_sample s = {.v = v.f};
            v.type = PROMQL_TYPE_VECTOR;
            memset(&v.vec, 0, sizeof(v.vec));
            pe_vec_push(c, &v.vec, s);
        }
        for (size_t i = 0; i < v.vec.n; i++) {
            const struct pe_sample *s = &v.vec.v[i];
            size_t len, idx;
            const char *k = pe_lset_key(c, &s->ls, NULL, 0, 0, &len);
            if (!pe_map_get(&m, k, len, &idx)) {
                idx = out.mat.n;
                pe_mat_push(c, &out.mat, s->ls);
                pe_map_put(c, &m, k, len, idx);
            }
            struct pe_series *o = &out.mat.v[idx];
            o->drop_name |= s->drop_name;
            pe_series_push(c, o, ti, s->v);
        }
    }
    if (out.mat.n > 1)
        qsort(out.mat.v, out.mat.n, sizeof(*out.mat.v), cmp_series);
    return out;
}

struct pe_val pe_eval(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    struct pe_val v = {.type = PROMQL_TYPE_NONE};
    switch (n->kind) {
    case PROMQL_NUMBER:
        v.type = PROMQL_TYPE_SCALAR;
        v.f = n->number.value;
        return v;
    case PROMQL_STRING:
        v.type = PROMQL_TYPE_STRING;
        v.str = n->string.value;
        return v;
    case PROMQL_VECTOR_SELECTOR:
        return eval_vector_selector(c, n, t);
    case PROMQL_MATRIX_SELECTOR:
        return eval_matrix_selector(c, n, t);
    case PROMQL_SUBQUERY:
        return eval_subquery(c, n, t);
    case PROMQL_PAREN:
        return pe_eval(c, n->paren.expr, t);
    case PROMQL_UNARY:
        v = pe_eval(c, n->unary.expr, t);
        if (n->unary.op == PROMQL_OP_SUB) {
            if (v.type == PROMQL_TYPE_SCALAR)
                v.f = -v.f;
            for (size_t i = 0; i < v.vec.n; i++) {
                v.vec.v[i].v = -v.vec.v[i].v;
                v.vec.v[i].drop_name = 1;
            }
        }
        return v;
    case PROMQL_BINARY:
        return pe_binary(c, n, t);
    case PROMQL_AGGREGATE:
        return pe_aggregate(c, n, t);
    case PROMQL_CALL:
        return pe_call(c, n, t);
    }
    return v;
}

/* ---- results ------------------------------------------------------------ */

const char *promql_errkind_name(enum promql_errkind k)
{
    switch (k) {
    case PROMQL_ERR_NONE:
        return "";
    case PROMQL_ERR_BAD_DATA:
        return "bad_data";
    case PROMQL_ERR_EXECUTION:
        return "execution";
    case PROMQL_ERR_TIMEOUT:
        return "timeout";
    case PROMQL_ERR_TOO_MANY_SAMPLES:
        return "execution";
    }
    return "execution";
}

void promql_engine_opts_default(struct promql_engine_opts *o)
{
    o->lookback_ms = 5 * 60 * 1000;
    o->max_samples = 50000000;
    o->timeout_ms = 2 * 60 * 1000;
    o->subquery_step_ms = PE_SUBQUERY_DEFAULT_STEP_MS;
}

static void series_free(struct promql_series *s)
{
    for (size_t i = 0; i < s->labels.len; i++) {
        free((char *)s->labels.v[i].name);
        free((char *)s->labels.v[i].value);
    }
    free((void *)s->labels.v);
    free(s->points);
}

static void notes_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void promql_result_free(struct promql_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nseries; i++)
        series_free(&r->series[i]);
    free(r->series);
    free(r->str);
    notes_free(r->warnings, r->nwarnings);
    notes_free(r->infos, r->ninfos);
    free(r);
}

/* Output under construction: malloc'd, outlives the arena's steps. */
struct pe_out {
    struct promql_result *r;
    size_t cap;
    struct pe_map map; /* label key -> series index (range queries) */
    struct pe_arena arena; /* of map */
    int *drop_name;
    size_t *row_of_id; /* series id (pe_series_id) -> series index + 1 */
};

static struct promql_series *out_add(struct pe_ctx *c, struct pe_out *o, const struct pe_lset *ls)
{
    struct promql_result *r = o->r;
    if (r->nseries == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        struct promql_series *s = realloc(r->series, cap * sizeof(*s));
        if (!s)
            pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
        r->series = s;
        int *d = realloc(o->drop_name, cap * sizeof(*d));
        if (!d)
            pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
        o->drop_name = d;
        o->cap = cap;
    }
    struct promql_series *s = &r->series[r->nseries];
    memset(s, 0, sizeof(*s));
    struct tsdb_label *l = calloc(ls->n + 1, sizeof(*l));
    if (!l)
        pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
    s->labels.v = l;
    o->drop_name[r->nseries] = 0;
    r->nseries++;
    for (size_t i = 0; i < ls->n; i++) {
        l[i].name = strdup(ls->v[i].name);
        l[i].value = strdup(ls->v[i].value);
        s->labels.len = i + 1;
        if (!l[i].name || !l[i].value)
            pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
    }
    return s;
}

static void out_point(struct pe_ctx *c, struct promql_series *s, size_t cap_hint, int64_t t,
                      double v)
{
    if (!s->points) {
        s->points = malloc((cap_hint ? cap_hint : 1) * sizeof(*s->points));
        if (!s->points)
            pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
    }
    s->points[s->npoints++] = (struct promql_point){t, v};
}

static void out_notes(struct pe_ctx *c, struct promql_result *r)
{
    r->warnings = c->warnings.v;
    r->nwarnings = c->warnings.n;
    r->infos = c->infos.v;
    r->ninfos = c->infos.n;
    memset(&c->warnings, 0, sizeof(c->warnings));
    memset(&c->infos, 0, sizeof(c->infos));
}

static void out_instant(struct pe_ctx *c, struct pe_out *o, struct pe_val *v, int64_t t)
{
    struct promql_result *r = o->r;
    r->type = v->type;
    r->t = t;
    switch (v->type) {
    case PROMQL_TYPE_NONE:
        break;
    case PROMQL_TYPE_SCALAR:
        r->v = v->f;
        break;
    case PROMQL_TYPE_STRING:
        r->str = strdup(v->str);
        if (!r->str)
            pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
        break;
    case PROMQL_TYPE_VECTOR:
        pe_check_dups(c, &v->vec);
        for (size_t i = 0; i < v->vec.n; i++) {
            const struct pe_sample *s = &v->vec.v[i];
            struct pe_lset ls = finished_labels(c, &s->ls, s->drop_name);
            out_point(c, out_add(c, o, &ls), 1, t, s->v);
        }
        break;
    case PROMQL_TYPE_MATRIX:
        for (size_t i = 0; i < v->mat.n; i++) {
            const struct pe_series *s = &v->mat.v[i];
            struct pe_lset ls = finished_labels(c, &s->ls, s->drop_name);
            struct promql_series *os = out_add(c, o, &ls);
            for (size_t j = 0; j < s->n; j++)
                out_point(c, os, s->n, s->p[j].t, s->p[j].v);
        }
        break;
    }
}

static void out_step(struct pe_ctx *c, struct pe_out *o, struct pe_val *v, int64_t t,
                     size_t nsteps)
{
    struct pe_sample one = {.v = v->f};
    struct pe_sample *samples = v->vec.v;
    size_t n = v->vec.n;
    if (v->type == PROMQL_TYPE_SCALAR) {
        samples = &one;
        n = 1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len, idx;
        size_t id = pe_series_id(c, &samples[i].ls);
        if (id != SIZE_MAX && o->row_of_id[id]) {
            idx = o->row_of_id[id] - 1;
            o->drop_name[idx] |= samples[i].drop_name;
            out_point(c, &o->r->series[idx], nsteps, t, samples[i].v);
            continue;
        }
        const char *key = pe_lset_key(c, &samples[i].ls, NULL, 0, 0, &len);
        if (!pe_map_get(&o->map, key, len, &idx)) {
            idx = o->r->nseries;
            out_add(c, o, &samples[i].ls);
            /* the map and its keys live in the output's own arena: the
             * query's arena is released after every step */
            struct pe_arena step_arena = c->arena;
            c->arena = o->arena;
            char *k = pe_alloc(c, len + 1);
            memcpy(k, key, len);
            pe_map_put(c, &o->map, k, len, idx);
            o->arena = c->arena;
            c->arena = step_arena;
        }
        if (id != SIZE_MAX)
            o->row_of_id[id] = idx + 1;
        o->drop_name[idx] |= samples[i].drop_name;
        out_point(c, &o->r->series[idx], nsteps, t, samples[i].v);
    }
    hold_samples(c, n, 1); /* the output keeps them */
}

static int cmp_result_series(const void *a, const void *b)
{
    const struct promql_series *x = a, *y = b;
    struct pe_lset la = {x->labels.len, (struct tsdb_label *)x->labels.v};
    struct pe_lset lb = {y->labels.len, (struct tsdb_label *)y->labels.v};
    return pe_lset_cmp(&la, &lb);
}

/* Drops the names of series flagged so, then requires distinct labels. */
static void out_finish_range(struct pe_ctx *c, struct pe_out *o)
{
    struct promql_result *r = o->r;
    for (size_t i = 0; i < r->nseries; i++) {
        struct promql_series *s = &r->series[i];
        struct tsdb_label *l = (struct tsdb_label *)s->labels.v;
        for (size_t j = 0; o->drop_name[i] && j < s->labels.len; j++) {
            if (strcmp(l[j].name, "__name__"))
                continue;
            free((char *)l[j].name);
            free((char *)l[j].value);
            memmove(l + j, l + j + 1, (s->labels.len - j - 1) * sizeof(*l));
            s->labels.len--;
            break;
        }
    }
    if (r->nseries > 1)
        qsort(r->series, r->nseries, sizeof(*r->series), cmp_result_series);
    /* series that differed only by a dropped name merge when their steps
     * do not collide */
    size_t w = 0;
    for (size_t i = 0; i < r->nseries; i++) {
        if (w == 0 || cmp_result_series(&r->series[w - 1], &r->series[i])) {
            r->series[w++] = r->series[i];
            continue;
        }
        struct promql_series *a = &r->series[w - 1], *b = &r->series[i];
        struct promql_point *p = malloc((a->npoints + b->npoints) * sizeof(*p));
        if (!p)
            pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
        size_t x = 0, y = 0, n = 0;
        while (x < a->npoints || y < b->npoints) {
            if (x < a->npoints && y < b->npoints && a->points[x].t == b->points[y].t) {
                free(p);
                pe_fail(c, PROMQL_ERR_EXECUTION,
                        "vector cannot contain metrics with the same labelset");
            }
            if (y == b->npoints || (x < a->npoints && a->points[x].t < b->points[y].t))
                p[n++] = a->points[x++];
            else
                p[n++] = b->points[y++];
        }
        free(a->points);
        a->points = p;
        a->npoints = n;
        series_free(b);
    }
    r->nseries = w;
}

/* ---- entry points -------------------------------------------------------- */

static void ctx_free(struct pe_ctx *c)
{
    for (size_t i = 0; i < c->nfetch; i++)
        fetch_free(&c->fetch[i]);
    if (c->in_qarena)
        pe_query_arena_leave(c);
    arena_release(&c->arena, (struct pe_mark){NULL, 0});
    arena_release(&c->qarena, (struct pe_mark){NULL, 0});
    notes_free(c->warnings.v, c->warnings.n);
    notes_free(c->infos.v, c->infos.n);
}

/* Evaluates the parsed query e (not modified) at start (instant) or at
 * each step of [start, end] (range). */
static int run_expr(struct tsdb_snapshot *snap, const struct promql_expr *e, int64_t start,
                    int64_t end, int64_t step, int is_range, const struct promql_engine_opts *o,
                    struct promql_result **out, struct promql_eval_error *err)
{
    struct pe_ctx ctx = {0};
    struct pe_ctx *volatile c = &ctx; /* survives longjmp */
    struct pe_out *volatile po = NULL;
    struct pe_out outs = {0};
    err->kind = PROMQL_ERR_NONE;
    err->msg[0] = 0;
    *out = NULL;

    if (is_range && e->root->type != PROMQL_TYPE_SCALAR && e->root->type != PROMQL_TYPE_VECTOR) {
        err->kind = PROMQL_ERR_BAD_DATA;
        snprintf(err->msg, sizeof(err->msg),
                 "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                 promql_type_name(e->root->type));
        return -1;
    }
    ctx.snap = snap;
    if (o)
        ctx.opts = *o;
    else
        promql_engine_opts_default(&ctx.opts);
    ctx.query = e->query;
    ctx.start = start;
    ctx.end = end;
    ctx.interval = step;
    ctx.is_range = is_range;
    ctx.err = err;
    if (ctx.opts.timeout_ms > 0)
        ctx.deadline_ns = now_ns() + ctx.opts.timeout_ms * 1000000;
    outs.r = calloc(1, sizeof(*outs.r));
    po = &outs;
    if (!outs.r) {
        err->kind = PROMQL_ERR_EXECUTION;
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }

    if (setjmp(ctx.jb)) {
        struct pe_out *p = po;
        arena_release(&p->arena, (struct pe_mark){NULL, 0});
        free(p->drop_name);
        free(p->row_of_id);
        promql_result_free(p->r);
        ctx_free(c);
        return -1;
    }
    plan(c, e->root, start, end, 0);
    for (size_t i = 0; i < c->nfetch; i++)
        load(c, &c->fetch[i]);
    size_t nstreams = 0;
    for (size_t i = 0; i < c->nfetch; i++)
        nstreams += c->fetch[i].streamed ? c->fetch[i].data.n : 0;
    size_t batch = nstreams ? PE_DECODE_BUDGET / nstreams : PE_ITER_BATCH_MAX;
    batch = batch < PE_ITER_BATCH_MIN ? PE_ITER_BATCH_MIN
            : batch > PE_ITER_BATCH_MAX ? PE_ITER_BATCH_MAX : batch;
    for (size_t i = 0; i < c->nfetch; i++)
        for (size_t j = 0; c->fetch[i].streamed && j < c->fetch[i].data.n; j++)
            tsdb_iter_set_batch(c->fetch[i].st[j].it, batch);
    if (!is_range) {
        struct pe_val v = pe_eval(c, e->root, start);
        out_instant(c, po, &v, start);
    } else {
        size_t nsteps = (size_t)((end - start) / step) + 1;
        po->row_of_id = calloc(c->nids + 1, sizeof(*po->row_of_id));
        if (!po->row_of_id)
            pe_fail(c, PROMQL_ERR_EXECUTION, "out of memory");
        struct pe_arena step_arena = c->arena;
        c->arena = po->arena;
        pe_map_init(c, &po->map, 64);
        po->arena = c->arena;
        c->arena = step_arena;
        struct pe_mark mark = arena_mark(&c->arena);
        for (int64_t t = start; t <= end; t += step) {
            pe_check_deadline(c);
            c->samples = 0;
            struct pe_val v = pe_eval(c, e->root, t);
            out_step(c, po, &v, t, nsteps);
            arena_release(&c->arena, mark);
        }
        out_finish_range(c, po);
        po->r->type = PROMQL_TYPE_MATRIX;
        arena_release(&po->arena, (struct pe_mark){NULL, 0});
    }
    out_notes(c, po->r);
    free(po->drop_name);
    free(po->row_of_id);
    *out = po->r;
    ctx_free(c);
    return 0;
}

/* Parses query, then run_expr. */
static int run(struct tsdb_snapshot *snap, const char *query, int64_t start, int64_t end,
               int64_t step, int is_range, const struct promql_engine_opts *o,
               struct promql_result **out, struct promql_eval_error *err)
{
    struct promql_expr *e;
    struct promql_error perr;
    *out = NULL;
    int rc = promql_parse(query, &e, &perr);
    if (rc < 0) {
        err->kind = rc == -ENOMEM ? PROMQL_ERR_EXECUTION : PROMQL_ERR_BAD_DATA;
        if (rc == -ENOMEM)
            snprintf(err->msg, sizeof(err->msg), "out of memory");
        else
            promql_error_format(&perr, err->msg, sizeof(err->msg));
        return -1;
    }
    rc = run_expr(snap, e, start, end, step, is_range, o, out, err);
    promql_expr_free(e);
    return rc;
}

int promql_eval_expr_instant(struct tsdb_snapshot *snap, const struct promql_expr *e, int64_t t,
                             const struct promql_engine_opts *o, struct promql_result **out,
                             struct promql_eval_error *err)
{
    return run_expr(snap, e, t, t, 0, 0, o, out, err);
}

int promql_eval_instant(struct tsdb_snapshot *snap, const char *query, int64_t t,
                        const struct promql_engine_opts *o, struct promql_result **out,
                        struct promql_eval_error *err)
{
    return run(snap, query, t, t, 0, 0, o, out, err);
}

int promql_eval_range(struct tsdb_snapshot *snap, const char *query, int64_t start, int64_t end,
                      int64_t step, const struct promql_engine_opts *o,
                      struct promql_result **out, struct promql_eval_error *err)
{
    if (step <= 0 || end < start) {
        err->kind = PROMQL_ERR_BAD_DATA;
        snprintf(err->msg, sizeof(err->msg),
                 step <= 0 ? "zero or negative query resolution step widths are not accepted. "
                             "Try a positive integer"
                           : "end timestamp must not be before start time");
        *out = NULL;
        return -1;
    }
    return run(snap, query, start, end, step, 1, o, out, err);
}
