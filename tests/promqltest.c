/* promqltest.c — runs Prometheus' PromQL test scripts (promqltest format,
 * ../shared/conformance/README.md) against Vigil's evaluator: load blocks
 * into a scratch store, eval instant/range queries, compare results with a
 * relative tolerance of 1e-6. Native-histogram cases are reported as
 * skipped with a reason. Prints per-file counts and ends with
 * "N passed, N failed, N skipped". Usage: promqltest [-v] FILE...
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "promql.h"
#include "promql_eval.h"
#include "tsdb.h"

#define MAX_LABELS 64

static int verbose;

/* ---- the scratch store ---------------------------------------------------- */

struct lset {
    size_t n;
    struct tsdb_label v[MAX_LABELS]; /* malloc'd strings */
};

struct env {
    char dir[64];
    struct tsdb *db;
    struct lset *native; /* series loaded with native histograms */
    size_t nnative;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void lset_free(struct lset *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free((char *)ls->v[i].name);
        free((char *)ls->v[i].value);
    }
    ls->n = 0;
}

static void env_close(struct env *e)
{
    if (e->db) {
        tsdb_close(e->db);
        nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        e->db = NULL;
    }
    for (size_t i = 0; i < e->nnative; i++)
        lset_free(&e->native[i]);
    free(e->native);
    e->native = NULL;
    e->nnative = 0;
}

static int env_open(struct env *e)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/promqltest.XXXXXX");
    if (!mkdtemp(e->dir))
        return -errno;
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.no_wal = 1;
    o.ooo_window_ms = INT64_C(1) << 60;
    o.future_window_ms = 0;
    o.retention_ms = 0;
    return tsdb_open(e->dir, &o, &e->db, NULL);
}

/* ---- small parsers -------------------------------------------------------- */

/* A Prometheus duration (1h30m, 10s53ms) or seconds (1.5). @return 0. */
static int parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double f = strtod(s, &end);
    if (end != s && !*end) {
        *ms = (int64_t)llround(f * 1000);
        return 0;
    }
    int64_t total = 0;
    const char *p = s;
    if (!*p)
        return -1;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t n = 0;
        while (isdigit((unsigned char)*p))
            n = n * 10 + (*p++ - '0');
        int64_t unit;
        if (!strncmp(p, "ms", 2)) {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'd') {
            unit = 86400000;
            p++;
        } else if (*p == 'w') {
            unit = 7 * 86400000LL;
            p++;
        } else if (*p == 'y') {
            unit = 365 * 86400000LL;
            p++;
        } else {
            return -1;
        }
        total += n * unit;
    }
    *ms = total;
    return 0;
}

static int parse_float(const char *s, double *out)
{
    char *end;
    if (!*s)
        return -1;
    *out = strtod(s, &end);
    return *end ? -1 : 0;
}

/* Length of the series selector at the start of s: up to the closing brace
 * or the first blank. */
static size_t selector_len(const char *s)
{
    size_t i = 0;
    int quote = 0;
    while (s[i] && !isspace((unsigned char)s[i]) && s[i] != '{')
        i++;
    if (s[i] != '{')
        return i;
    for (; s[i]; i++) {
        if (quote) {
            if (s[i] == '\\' && s[i + 1])
                i++;
            else if (s[i] == quote)
                quote = 0;
        } else if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
            quote = s[i];
        } else if (s[i] == '}') {
            return i + 1;
        }
    }
    return i;
}

/* Labels of a series selector (foo{a="b"}, {a="b"}, {}). @return 0. */
static int parse_labels(const char *text, size_t len, struct lset *out)
{
    out->n = 0;
    char *s = strndup(text, len);
    if (!s)
        return -1;
    char *t = s;
    while (isspace((unsigned char)*t))
        t++;
    if (!strcmp(t, "{}")) {
        free(s);
        return 0;
    }
    struct promql_expr *e;
    struct promql_error err;
    if (promql_parse(t, &e, &err) < 0 || e->root->kind != PROMQL_VECTOR_SELECTOR) {
        if (!e || 1)
            fprintf(stderr, "bad series selector: %s\n", t);
        free(s);
        return -1;
    }
    const struct promql_node *vs = e->root;
    for (size_t i = 0; i < vs->vs.n_matchers && out->n < MAX_LABELS; i++) {
        const struct tsdb_matcher *m = &vs->vs.matchers[i];
        out->v[out->n].name = strdup(m->name);
        out->v[out->n].value = strdup(m->value);
        out->n++;
    }
    promql_expr_free(e);
    free(s);
    /* sort by name */
    for (size_t i = 1; i < out->n; i++)
        for (size_t j = i; j > 0 && strcmp(out->v[j - 1].name, out->v[j].name) > 0; j--) {
            struct tsdb_label x = out->v[j];
            out->v[j] = out->v[j - 1];
            out->v[j - 1] = x;
        }
    return 0;
}

/* Expands the value notation into vals (NAN with present=0 for "_";
 * stale markers as the stale NaN). Native histograms set *native.
 * @return the number of values, or -1 on a syntax error. */
struct value {
    double v;
    int present;
};

static int push_value(struct value **vals, size_t *n, size_t *cap, double v, int present)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        struct value *p = realloc(*vals, *cap * sizeof(*p));
        if (!p)
            return -1;
        *vals = p;
    }
    (*vals)[(*n)++] = (struct value){v, present};
    return 0;
}

static int expand_values(const char *s, struct value **vals, size_t *nvals, int *native)
{
    size_t cap = 0;
    *vals = NULL;
    *nvals = 0;
    *native = 0;
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        if (!strncmp(s, "{{", 2)) {
            *native = 1;
            const char *e = strstr(s, "}}");
            if (!e)
                return -1;
            s = e + 2;
            /* {{..}}xN and {{..}}+{{..}}xN */
            if (*s == '+' || *s == '-') {
                const char *e2 = strstr(s, "}}");
                if (e2)
                    s = e2 + 2;
            }
            if (*s == 'x') {
                char *end;
                long k = strtol(s + 1, &end, 10);
                s = end;
                for (long i = 0; i <= k; i++)
                    push_value(vals, nvals, &cap, NAN, 0);
                continue;
            }
            push_value(vals, nvals, &cap, NAN, 0);
            continue;
        }
        const char *e = s;
        while (*e && !isspace((unsigned char)*e))
            e++;
        char tok[128];
        size_t len = (size_t)(e - s) < sizeof(tok) - 1 ? (size_t)(e - s) : sizeof(tok) - 1;
        memcpy(tok, s, len);
        tok[len] = 0;
        s = e;
        if (!strcmp(tok, "_")) {
            push_value(vals, nvals, &cap, NAN, 0);
            continue;
        }
        if (!strcmp(tok, "stale")) {
            push_value(vals, nvals, &cap, tsdb_stale_nan(), 1);
            continue;
        }
        double v;
        char *x = strrchr(tok, 'x');
        if (!x && !parse_float(tok, &v)) {
            push_value(vals, nvals, &cap, v, 1);
            continue;
        }
        if (!x)
            return -1;
        *x = 0;
        char *end;
        long times = strtol(x + 1, &end, 10);
        if (*end || times < 0)
            return -1;
        if (!strcmp(tok, "_")) {
            for (long i = 0; i < times; i++)
                push_value(vals, nvals, &cap, NAN, 0);
            continue;
        }
        /* a+b, a-b or a */
        double a, b = 0;
        char *op = NULL;
        for (char *p = tok + 1; *p; p++)
            if ((*p == '+' || *p == '-') && p[-1] != 'e' && p[-1] != 'E')
                op = p;
        if (op) {
            char sign = *op;
            *op = 0;
            if (parse_float(tok, &a) || parse_float(op + 1, &b))
                return -1;
            if (sign == '-')
                b = -b;
        } else if (parse_float(tok, &a)) {
            return -1;
        }
        for (long i = 0; i <= times; i++) {
            push_value(vals, nvals, &cap, a, 1);
            a += b;
        }
    }
    return (int)*nvals;
}

/* ---- load ------------------------------------------------------------------ */

static void add_native(struct env *e, const struct lset *ls)
{
    struct lset *p = realloc(e->native, (e->nnative + 1) * sizeof(*p));
    if (!p)
        return;
    e->native = p;
    struct lset *d = &e->native[e->nnative++];
    d->n = ls->n;
    for (size_t i = 0; i < ls->n; i++) {
        d->v[i].name = strdup(ls->v[i].name);
        d->v[i].value = strdup(ls->v[i].value);
    }
}

/* load_with_nhcb also stores foo{...} as a native histogram for every
 * foo_bucket{le=...}: remember it so that queries reading it are skipped. */
static void add_nhcb(struct env *e, const struct lset *ls)
{
    struct lset nh = {0};
    int bucket = 0;
    for (size_t i = 0; i < ls->n; i++) {
        if (!strcmp(ls->v[i].name, "le"))
            continue;
        nh.v[nh.n] = ls->v[i];
        if (!strcmp(ls->v[i].name, "__name__")) {
            size_t len = strlen(ls->v[i].value);
            if (len > 7 && !strcmp(ls->v[i].value + len - 7, "_bucket")) {
                static char buf[512];
                snprintf(buf, sizeof(buf), "%.*s", (int)(len - 7), ls->v[i].value);
                nh.v[nh.n].value = buf;
                bucket = 1;
            }
        }
        nh.n++;
    }
    if (bucket)
        add_native(e, &nh);
}

static int load_line(struct env *e, const char *line, int64_t step, int nhcb)
{
    size_t sl = selector_len(line);
    struct lset ls;
    if (parse_labels(line, sl, &ls) < 0)
        return -1;
    struct value *vals;
    size_t n;
    int native;
    int rc = expand_values(line + sl, &vals, &n, &native);
    if (rc < 0) {
        lset_free(&ls);
        free(vals);
        return -1;
    }
    if (native)
        add_native(e, &ls);
    if (nhcb)
        add_nhcb(e, &ls);
    struct tsdb_labels tl = {ls.n, ls.v};
    tsdb_ref ref;
    rc = tsdb_series_ref(e->db, &tl, &ref);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (vals[i].present)
            rc = tsdb_append(e->db, ref, (int64_t)i * step, vals[i].v);
    if (rc == 0)
        rc = tsdb_commit(e->db);
    lset_free(&ls);
    free(vals);
    return rc;
}

/* ---- eval ------------------------------------------------------------------ */

struct expect_note {
    int kind; /* 'f' fail, 'w' warn, 'i' info */
    int regex;
    char *text; /* NULL: any */
};

struct expected {
    struct lset ls;
    struct value *vals;
    size_t n;
};

struct evalcase {
    int line;
    char *expr;
    int range;
    int64_t start, end, step;
    int ordered, no_warn, no_info, fail;
    struct expect_note notes[32];
    size_t nnotes;
    int is_scalar;
    double scalar;
    int has_string;
    char *string;
    int range_vector; /* expect range vector from .. to .. step .. */
    int64_t rv_start, rv_end, rv_step;
    struct expected *series;
    size_t nseries;
    int native; /* {{ in expected results */
};

static void evalcase_free(struct evalcase *c)
{
    free(c->expr);
    free(c->string);
    for (size_t i = 0; i < c->nnotes; i++)
        free(c->notes[i].text);
    for (size_t i = 0; i < c->nseries; i++) {
        lset_free(&c->series[i].ls);
        free(c->series[i].vals);
    }
    free(c->series);
}

static int almost_equal(double a, double b)
{
    const double eps = 1e-6, min_normal = 2.2250738585072014e-308;
    if (isnan(a) && isnan(b))
        return 1;
    if (a == b)
        return 1;
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(abs_sum, 1.7976931348623157e308) < eps;
}

static int regex_find(const char *re_text, const char *subject)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)re_text, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
    if (!re)
        return 0;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

static int note_matches(const struct expect_note *n, const char *msg)
{
    if (!n->text)
        return 1;
    return n->regex ? regex_find(n->text, msg) : !strcmp(n->text, msg);
}

/* Checks one annotation kind. @return NULL or why it failed. */
static const char *check_notes(const struct evalcase *c, int kind, char **msgs, size_t n,
                               int forbid, char *why, size_t cap)
{
    size_t nexp = 0;
    for (size_t i = 0; i < c->nnotes; i++) {
        if (c->notes[i].kind != kind)
            continue;
        nexp++;
        int found = 0;
        for (size_t j = 0; j < n && !found; j++)
            found = note_matches(&c->notes[i], msgs[j]);
        if (!found) {
            snprintf(why, cap, "expected %s annotation %s not returned (got %zu)",
                     kind == 'w' ? "warn" : "info", c->notes[i].text ? c->notes[i].text : "",
                     n);
            return why;
        }
    }
    if (forbid && n) {
        snprintf(why, cap, "unexpected %s annotation: %s", kind == 'w' ? "warn" : "info", msgs[0]);
        return why;
    }
    if (nexp) {
        for (size_t j = 0; j < n; j++) {
            int found = 0;
            for (size_t i = 0; i < c->nnotes && !found; i++)
                found = c->notes[i].kind == kind && note_matches(&c->notes[i], msgs[j]);
            if (!found) {
                snprintf(why, cap, "unexpected annotation: %s", msgs[j]);
                return why;
            }
        }
    }
    return NULL;
}

static int lset_eq(const struct lset *a, const struct tsdb_labels *b)
{
    if (a->n != b->len)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].name, b->v[i].name) || strcmp(a->v[i].value, b->v[i].value))
            return 0;
    return 1;
}

static void labels_str(const struct tsdb_labels *l, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "{");
    for (size_t i = 0; i < l->len && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s=\"%s\"", i ? ", " : "", l->v[i].name,
                              l->v[i].value);
    if (n < cap)
        snprintf(buf + n, cap - n, "}");
}

/* Compares a vector or matrix result with the expected series. */
static const char *check_series(const struct evalcase *c, const struct promql_result *r,
                                char *why, size_t cap)
{
    int matrix = c->range || c->range_vector;
    if (matrix && r->type != PROMQL_TYPE_MATRIX) {
        snprintf(why, cap, "expected a range vector, got %s", promql_type_name(r->type));
        return why;
    }
    if (!matrix && r->type != PROMQL_TYPE_VECTOR) {
        snprintf(why, cap, "expected an instant vector, got %s", promql_type_name(r->type));
        return why;
    }
    if (r->nseries != c->nseries) {
        char lb[512] = "";
        if (r->nseries)
            labels_str(&r->series[0].labels, lb, sizeof(lb));
        snprintf(why, cap, "expected %zu series, got %zu (first: %s)", c->nseries, r->nseries, lb);
        return why;
    }
    int64_t start = c->range ? c->start : c->rv_start;
    int64_t step = c->range ? c->step : c->rv_step;
    for (size_t i = 0; i < c->nseries; i++) {
        const struct expected *x = &c->series[i];
        const struct promql_series *s = NULL;
        if (c->ordered) {
            if (lset_eq(&x->ls, &r->series[i].labels))
                s = &r->series[i];
        } else {
            for (size_t j = 0; j < r->nseries && !s; j++)
                if (lset_eq(&x->ls, &r->series[j].labels))
                    s = &r->series[j];
        }
        if (!s) {
            struct tsdb_labels tl = {x->ls.n, x->ls.v};
            char lb[400];
            labels_str(&tl, lb, sizeof(lb));
            char got[400] = "";
            if (r->nseries)
                labels_str(&r->series[c->ordered ? i : 0].labels, got, sizeof(got));
            snprintf(why, cap, "expected series %s not in result%s (result has %s)", lb,
                     c->ordered ? " at its position" : "", got);
            return why;
        }
        if (!matrix) {
            if (x->n != 1 || !x->vals[0].present || !almost_equal(x->vals[0].v, s->points[0].v)) {
                char lb[512];
                labels_str(&s->labels, lb, sizeof(lb));
                snprintf(why, cap, "%s: expected %.17g, got %.17g", lb,
                         x->n ? x->vals[0].v : NAN, s->points[0].v);
                return why;
            }
            continue;
        }
        size_t k = 0;
        for (size_t j = 0; j < x->n; j++) {
            if (!x->vals[j].present)
                continue;
            int64_t t = start + (int64_t)j * step;
            if (k >= s->npoints || s->points[k].t != t ||
                !almost_equal(x->vals[j].v, s->points[k].v)) {
                char lb[512];
                labels_str(&s->labels, lb, sizeof(lb));
                snprintf(why, cap, "%s at %lld: expected %.17g, got %s", lb, (long long)t,
                         x->vals[j].v,
                         k < s->npoints ? "another point or value" : "no point");
                if (k < s->npoints)
                    snprintf(why + strlen(why), cap - strlen(why), " (t=%lld v=%.17g)",
                             (long long)s->points[k].t, s->points[k].v);
                return why;
            }
            k++;
        }
        if (k != s->npoints) {
            char lb[512];
            labels_str(&s->labels, lb, sizeof(lb));
            snprintf(why, cap, "%s: %zu points more than expected (t=%lld)", lb, s->npoints - k,
                     (long long)s->points[k].t);
            return why;
        }
    }
    return NULL;
}

/* Does the query read a series loaded as a native histogram? */
static int reads_native(const struct env *e, const struct promql_node *n)
{
    if (!n)
        return 0;
    switch (n->kind) {
    case PROMQL_NUMBER:
    case PROMQL_STRING:
        return 0;
    case PROMQL_VECTOR_SELECTOR:
        for (size_t i = 0; i < e->nnative; i++) {
            int all = 1;
            for (size_t j = 0; j < n->vs.n_matchers && all; j++) {
                const struct tsdb_matcher *m = &n->vs.matchers[j];
                const char *v = "";
                for (size_t k = 0; k < e->native[i].n; k++)
                    if (!strcmp(e->native[i].v[k].name, m->name))
                        v = e->native[i].v[k].value;
                all = tsdb_matcher_matches(m, v);
            }
            if (all)
                return 1;
        }
        return 0;
    case PROMQL_MATRIX_SELECTOR:
        return reads_native(e, n->matrix.vs);
    case PROMQL_SUBQUERY:
        return reads_native(e, n->subquery.expr);
    case PROMQL_PAREN:
        return reads_native(e, n->paren.expr);
    case PROMQL_UNARY:
        return reads_native(e, n->unary.expr);
    case PROMQL_BINARY:
        return reads_native(e, n->binary.lhs) || reads_native(e, n->binary.rhs);
    case PROMQL_AGGREGATE:
        return reads_native(e, n->aggregate.param) || reads_native(e, n->aggregate.expr);
    case PROMQL_CALL:
        if (n->call.func->native_histograms)
            return 2;
        for (size_t i = 0; i < n->call.nargs; i++) {
            int r = reads_native(e, n->call.args[i]);
            if (r)
                return r;
        }
        return 0;
    }
    return 0;
}

/* @return NULL to run the case, or why it is skipped. */
static const char *skip_reason(const struct env *e, const struct evalcase *c)
{
    if (c->native)
        return "native histogram in the expected result";
    struct promql_expr *x;
    struct promql_error err;
    if (promql_parse(c->expr, &x, &err) < 0)
        return NULL;
    int r = reads_native(e, x->root);
    promql_expr_free(x);
    if (r == 2)
        return "function defined on native histograms only";
    if (r)
        return "reads series loaded as native histograms";
    return NULL;
}

/* Runs case c. @return NULL on success or why it failed. */
static const char *run_case(struct env *e, struct evalcase *c, char *why, size_t cap)
{
    struct tsdb_snapshot *snap;
    if (tsdb_snapshot_open(e->db, &snap) < 0) {
        snprintf(why, cap, "snapshot failed");
        return why;
    }
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    int rc = c->range ? promql_eval_range(snap, c->expr, c->start, c->end, c->step, &o, &r, &err)
                      : promql_eval_instant(snap, c->expr, c->start, &o, &r, &err);
    tsdb_snapshot_close(snap);
    const char *res = NULL;
    if (rc < 0) {
        if (!c->fail) {
            snprintf(why, cap, "unexpected error: %s", err.msg);
            return why;
        }
        for (size_t i = 0; i < c->nnotes; i++)
            if (c->notes[i].kind == 'f' && !note_matches(&c->notes[i], err.msg)) {
                snprintf(why, cap, "error \"%s\" does not match \"%s\"", err.msg,
                         c->notes[i].text);
                return why;
            }
        return NULL;
    }
    if (c->fail) {
        snprintf(why, cap, "expected an error, query succeeded");
        res = why;
    }
    if (!res)
        res = check_notes(c, 'w', r->warnings, r->nwarnings, c->no_warn, why, cap);
    if (!res)
        res = check_notes(c, 'i', r->infos, r->ninfos, c->no_info, why, cap);
    if (!res && c->has_string) {
        if (r->type != PROMQL_TYPE_STRING || strcmp(r->str, c->string)) {
            snprintf(why, cap, "expected string \"%s\"", c->string);
            res = why;
        }
    } else if (!res && c->is_scalar) {
        if (r->type != PROMQL_TYPE_SCALAR || !almost_equal(c->scalar, r->v)) {
            snprintf(why, cap, "expected scalar %.17g, got %s %.17g", c->scalar,
                     promql_type_name(r->type), r->v);
            res = why;
        }
    } else if (!res && !c->fail) {
        res = check_series(c, r, why, cap);
    }
    promql_result_free(r);
    return res;
}

/* ---- the script ------------------------------------------------------------- */

struct counts {
    int passed, failed, skipped;
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* Parses "expect ..." into c. @return 0, or -1 if not understood. */
static int parse_expect(struct evalcase *c, char *s)
{
    s = trim(s + strlen("expect"));
    char *rest = s;
    while (*rest && !isspace((unsigned char)*rest) && *rest != ':')
        rest++;
    char word[32];
    snprintf(word, sizeof(word), "%.*s", (int)(rest - s), s);
    rest = trim(rest);
    if (!strcmp(word, "ordered")) {
        c->ordered = 1;
        return 0;
    }
    if (!strcmp(word, "no_warn")) {
        c->no_warn = 1;
        return 0;
    }
    if (!strcmp(word, "no_info")) {
        c->no_info = 1;
        return 0;
    }
    if (!strcmp(word, "string")) {
        char quote = rest[0];
        char *q = rest, *qe = strrchr(rest, quote);
        if ((quote != '"' && quote != '`' && quote != '\'') || qe == q)
            return -1;
        c->has_string = 1;
        c->string = strndup(q + 1, (size_t)(qe - q - 1));
        return 0;
    }
    if (!strcmp(word, "range")) {
        /* range vector from A to B step C */
        char a[32], b[32], st[32];
        if (sscanf(rest, "vector from %31s to %31s step %31s", a, b, st) != 3 ||
            parse_duration(a, &c->rv_start) || parse_duration(b, &c->rv_end) ||
            parse_duration(st, &c->rv_step))
            return -1;
        c->range_vector = 1;
        return 0;
    }
    int kind = !strcmp(word, "fail") ? 'f' : !strcmp(word, "warn") ? 'w' : !strcmp(word, "info") ? 'i' : 0;
    if (!kind || c->nnotes >= 32)
        return -1;
    if (kind == 'f')
        c->fail = 1;
    struct expect_note *n = &c->notes[c->nnotes++];
    n->kind = kind;
    n->regex = 0;
    n->text = NULL;
    if (!strncmp(rest, "msg", 3) || !strncmp(rest, "regex", 5)) {
        n->regex = rest[0] == 'r';
        char *colon = strchr(rest, ':');
        if (!colon)
            return -1;
        char *text = trim(colon + 1);
        size_t len = strlen(text);
        if (len >= 2 && text[0] == '"' && text[len - 1] == '"') {
            text[len - 1] = 0;
            text++;
        }
        n->text = strdup(text);
    }
    return 0;
}

static int parse_expected_line(struct evalcase *c, char *s)
{
    char *sp = s;
    while (*sp && !isspace((unsigned char)*sp))
        sp++;
    if (!*sp && !strchr(s, '{')) {
        double v;
        if (!parse_float(s, &v)) {
            c->is_scalar = 1;
            c->scalar = v;
            return 0;
        }
    }
    size_t sl = selector_len(s);
    struct expected x = {0};
    if (parse_labels(s, sl, &x.ls) < 0)
        return -1;
    int native;
    if (expand_values(s + sl, &x.vals, &x.n, &native) < 0) {
        lset_free(&x.ls);
        free(x.vals);
        return -1;
    }
    if (native)
        c->native = 1;
    struct expected *p = realloc(c->series, (c->nseries + 1) * sizeof(*p));
    if (!p)
        return -1;
    c->series = p;
    c->series[c->nseries++] = x;
    return 0;
}

/* Parses an eval command line into c. @return 0 or -1. */
static int parse_eval(struct evalcase *c, char *line)
{
    char *cmd = line, *p = line;
    while (*p && !isspace((unsigned char)*p))
        p++;
    *p++ = 0;
    if (!strcmp(cmd, "eval_fail")) {
        c->fail = 1;
        c->notes[c->nnotes++] = (struct expect_note){'f', 0, NULL};
    } else if (!strcmp(cmd, "eval_warn")) {
        c->notes[c->nnotes++] = (struct expect_note){'w', 0, NULL};
    } else if (!strcmp(cmd, "eval_info")) {
        c->notes[c->nnotes++] = (struct expect_note){'i', 0, NULL};
    } else if (!strcmp(cmd, "eval_ordered")) {
        c->ordered = 1;
    }
    p = trim(p);
    char a[32], b[32], st[32];
    int used = 0;
    if (sscanf(p, "instant at %31s %n", a, &used) == 1 && used) {
        if (parse_duration(a, &c->start))
            return -1;
        c->end = c->start;
    } else if (sscanf(p, "range from %31s to %31s step %31s %n", a, b, st, &used) == 3 && used) {
        if (parse_duration(a, &c->start) || parse_duration(b, &c->end) ||
            parse_duration(st, &c->step))
            return -1;
        c->range = 1;
    } else {
        return -1;
    }
    c->expr = strdup(p + used);
    return 0;
}

static void run_file(const char *path, struct counts *total)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        total->failed++;
        return;
    }
    struct counts cnt = {0};
    struct env e = {0};
    if (env_open(&e) < 0) {
        fprintf(stderr, "%s: cannot open a scratch store\n", path);
        fclose(f);
        total->failed++;
        return;
    }
    char *buf = NULL;
    size_t cap = 0;
    int lineno = 0;
    enum { NONE, LOAD, EVAL } mode = NONE;
    int64_t load_step = 0;
    int nhcb = 0;
    struct evalcase c;
    memset(&c, 0, sizeof(c));
    const char *fname = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    for (;;) {
        ssize_t got = getline(&buf, &cap, f);
        char *line = got < 0 ? NULL : trim(buf);
        if (got >= 0)
            lineno++;
        if (line && line[0] == '#')
            continue;
        int blank = !line || !*line;
        int is_cmd = line && (!strncmp(line, "load", 4) || !strncmp(line, "eval", 4) ||
                              !strcmp(line, "clear"));
        if (mode == EVAL && (blank || is_cmd)) {
            char why[1024];
            const char *skip = skip_reason(&e, &c);
            if (skip) {
                cnt.skipped++;
                if (verbose)
                    printf("%s:%d: SKIP (%s): %s\n", fname, c.line, skip, c.expr);
            } else {
                const char *res = run_case(&e, &c, why, sizeof(why));
                if (res) {
                    cnt.failed++;
                    printf("%s:%d: FAIL: %s\n    %s\n", fname, c.line, c.expr, res);
                } else {
                    cnt.passed++;
                }
            }
            evalcase_free(&c);
            memset(&c, 0, sizeof(c));
            mode = NONE;
        }
        if (!line)
            break;
        if (blank) {
            mode = NONE;
            continue;
        }
        if (!strcmp(line, "clear")) {
            env_close(&e);
            if (env_open(&e) < 0) {
                fprintf(stderr, "%s: cannot open a scratch store\n", path);
                break;
            }
            mode = NONE;
        } else if (!strncmp(line, "load", 4)) {
            char st[32];
            nhcb = !strncmp(line, "load_with_nhcb", 14);
            if (sscanf(line + (nhcb ? 14 : 4), "%31s", st) != 1 || parse_duration(st, &load_step))
                fprintf(stderr, "%s:%d: bad load\n", fname, lineno);
            mode = LOAD;
        } else if (!strncmp(line, "eval", 4)) {
            c.line = lineno;
            if (parse_eval(&c, line) < 0) {
                fprintf(stderr, "%s:%d: bad eval line\n", fname, lineno);
                cnt.failed++;
                evalcase_free(&c);
                memset(&c, 0, sizeof(c));
                mode = NONE;
                continue;
            }
            mode = EVAL;
        } else if (mode == LOAD) {
            if (load_line(&e, line, load_step, nhcb) < 0)
                fprintf(stderr, "%s:%d: bad series line: %s\n", fname, lineno, line);
        } else if (mode == EVAL) {
            int rc = !strncmp(line, "expect", 6) ? parse_expect(&c, line)
                                                 : parse_expected_line(&c, line);
            if (rc < 0)
                fprintf(stderr, "%s:%d: bad expectation: %s\n", fname, lineno, line);
        }
    }
    free(buf);
    fclose(f);
    env_close(&e);
    printf("%s: %d passed, %d failed, %d skipped\n", fname, cnt.passed, cnt.failed, cnt.skipped);
    total->passed += cnt.passed;
    total->failed += cnt.failed;
    total->skipped += cnt.skipped;
}

int main(int argc, char **argv)
{
    struct counts total = {0};
    int first = 1;
    if (argc > 1 && !strcmp(argv[1], "-v")) {
        verbose = 1;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: promqltest [-v] FILE...\n");
        return 2;
    }
    for (int i = first; i < argc; i++)
        run_file(argv[i], &total);
    printf("%d passed, %d failed, %d skipped\n", total.passed, total.failed, total.skipped);
    return total.failed ? 1 : 0;
}
