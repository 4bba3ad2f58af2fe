/* series_notation.c — Prometheus' series notation (selectors, expanding
 * values) and the scratch store series are loaded into; see
 * series_notation.h. */
#include "series_notation.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql.h"

/* ---- selectors -------------------------------------------------------- */

size_t series_selector_len(const char *s)
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

void series_labels_free(struct tsdb_labels *ls)
{
    struct tsdb_label *v = (struct tsdb_label *)ls->v;
    for (size_t i = 0; i < ls->len; i++) {
        free((char *)v[i].name);
        free((char *)v[i].value);
    }
    free(v);
    ls->v = NULL;
    ls->len = 0;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

/* Copies the equality matchers of a parsed selector into out. */
static int labels_from_selector(const struct promql_node *vs, struct tsdb_labels *out)
{
    struct tsdb_label *v = calloc(vs->vs.n_matchers ? vs->vs.n_matchers : 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    out->v = v;
    for (size_t i = 0; i < vs->vs.n_matchers; i++) {
        v[i].name = strdup(vs->vs.matchers[i].name);
        v[i].value = strdup(vs->vs.matchers[i].value);
        out->len = i + 1;
        if (!v[i].name || !v[i].value)
            return -ENOMEM;
    }
    qsort(v, out->len, sizeof(*v), label_cmp);
    return 0;
}

/* Why the parsed selector e cannot name one series, or NULL. */
static const char *not_one_series(const struct promql_expr *e)
{
    const struct promql_node *n = e->root;
    if (n->kind != PROMQL_VECTOR_SELECTOR || n->vs.mod.offset_ms || n->vs.mod.at != PROMQL_AT_NONE)
        return "not a series selector";
    for (size_t i = 0; i < n->vs.n_matchers; i++)
        if (n->vs.matchers[i].type != TSDB_MATCH_EQ)
            return "a series is named with = only";
    return NULL;
}

int series_labels_parse(const char *text, size_t len, struct tsdb_labels *out, char *err,
                        size_t errcap)
{
    out->len = 0;
    out->v = NULL;
    size_t skip = 0;
    while (skip < len && isspace((unsigned char)text[skip]))
        skip++;
    while (len > skip && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == skip || (len - skip == 2 && !memcmp(text + skip, "{}", 2)))
        return 0;
    char *s = strndup(text + skip, len - skip);
    if (!s)
        return -ENOMEM;
    struct promql_expr *e = NULL;
    struct promql_error perr;
    int rc = promql_parse(s, &e, &perr);
    const char *why = rc == 0 ? not_one_series(e) : NULL;
    if (rc == -EINVAL)
        snprintf(err, errcap, "col %zu: bad series selector %s: %s", skip + perr.col, s, perr.msg);
    else if (why)
        snprintf(err, errcap, "col %zu: bad series selector %s: %s", skip + 1, s, why);
    if (rc == 0 && !why && (rc = labels_from_selector(e->root, out)) < 0)
        series_labels_free(out);
    if (why)
        rc = -EINVAL;
    promql_expr_free(e);
    free(s);
    return rc;
}

/* ---- values ----------------------------------------------------------- */

struct vlist {
    struct series_value *v;
    size_t n, cap;
};

static int push(struct vlist *l, double v, int present, long times)
{
    if (times > (long)(SERIES_MAX_POINTS - l->n))
        return -E2BIG;
    for (long i = 0; i < times; i++) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            struct series_value *p = realloc(l->v, cap * sizeof(*p));
            if (!p)
                return -ENOMEM;
            l->v = p;
            l->cap = cap;
        }
        l->v[l->n++] = (struct series_value){v, present};
    }
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

/* A native histogram {{...}}, {{...}}xN or {{...}}+{{...}}xN at *sp: its
 * points are absent. @return 0, -1 on bad syntax, -E2BIG or -ENOMEM. */
static int expand_native(const char **sp, struct vlist *l)
{
    const char *e = strstr(*sp, "}}");
    if (!e)
        return -1;
    const char *s = e + 2;
    if ((*s == '+' || *s == '-') && s[1] == '{') {
        if (!(e = strstr(s, "}}")))
            return -1;
        s = e + 2;
    }
    long times = 0;
    if (*s == 'x') {
        char *end;
        times = strtol(s + 1, &end, 10);
        if (end == s + 1 || times < 0)
            return -1;
        s = end;
    }
    *sp = s;
    return times == LONG_MAX ? -E2BIG : push(l, 0, 0, times + 1);
}

/* One blank-free token: a number, _, stale, a+bxN, a-bxN, axN, _xN.
 * @return 0, -1 on bad syntax, -E2BIG or -ENOMEM. */
static int expand_token(char *tok, struct vlist *l)
{
    double v;
    if (!strcmp(tok, "_"))
        return push(l, 0, 0, 1);
    if (!strcmp(tok, "stale"))
        return push(l, tsdb_stale_nan(), 1, 1);
    char *x = strrchr(tok, 'x');
    if (!x)
        return parse_float(tok, &v) ? -1 : push(l, v, 1, 1);
    *x = 0;
    char *end;
    long times = strtol(x + 1, &end, 10);
    if (*end || end == x + 1 || times < 0)
        return -1;
    if (!strcmp(tok, "_"))
        return push(l, 0, 0, times);
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
    if (times >= (long)(SERIES_MAX_POINTS - l->n))
        return -E2BIG;
    int rc = 0;
    for (long i = 0; rc == 0 && i <= times; i++, a += b)
        rc = push(l, a, 1, 1);
    return rc;
}

int series_values_expand(const char *s, struct series_value **vals, size_t *n, int *native,
                         char *err, size_t errcap)
{
    const char *start = s;
    struct vlist l = {0};
    *native = 0;
    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *tok_at = s;
        int rc;
        if (!strncmp(s, "{{", 2)) {
            *native = 1;
            rc = expand_native(&s, &l);
        } else {
            while (*s && !isspace((unsigned char)*s))
                s++;
            char *tok = strndup(tok_at, (size_t)(s - tok_at));
            rc = tok ? expand_token(tok, &l) : -ENOMEM;
            free(tok);
        }
        if (rc < 0) {
            const char *e = tok_at;
            while (*e && !isspace((unsigned char)*e))
                e++;
            size_t col = (size_t)(tok_at - start) + 1;
            if (rc == -E2BIG)
                snprintf(err, errcap, "col %zu: more than %zu points at \"%.*s\"", col,
                         SERIES_MAX_POINTS, (int)(e - tok_at), tok_at);
            else
                snprintf(err, errcap, "col %zu: bad value \"%.*s\"", col, (int)(e - tok_at),
                         tok_at);
            free(l.v);
            return rc == -ENOMEM ? rc : -EINVAL;
        }
    }
    *vals = l.v;
    *n = l.n;
    return 0;
}

/* ---- the scratch store ------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int series_store_open(struct series_store *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/vigil-series.XXXXXX");
    if (!mkdtemp(s->dir))
        return -errno;
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.no_wal = 1;
    o.ooo_window_ms = INT64_C(1) << 60;
    o.future_window_ms = 0;
    o.retention_ms = 0;
    int rc = tsdb_open(s->dir, &o, &s->db, NULL);
    if (rc < 0) {
        s->db = NULL;
        nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    return rc;
}

void series_store_close(struct series_store *s)
{
    if (s->db) {
        tsdb_close(s->db);
        nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        s->db = NULL;
    }
    for (size_t i = 0; i < s->nnative; i++)
        series_labels_free(&s->native[i]);
    free(s->native);
    s->native = NULL;
    s->nnative = 0;
}

int series_store_add_native(struct series_store *s, const struct tsdb_labels *ls)
{
    struct tsdb_labels *p = realloc(s->native, (s->nnative + 1) * sizeof(*p));
    if (!p)
        return -ENOMEM;
    s->native = p;
    struct tsdb_label *v = calloc(ls->len ? ls->len : 1, sizeof(*v));
    struct tsdb_labels *d = &s->native[s->nnative++];
    d->v = v;
    d->len = 0;
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < ls->len; i++) {
        v[i].name = strdup(ls->v[i].name);
        v[i].value = strdup(ls->v[i].value);
        d->len = i + 1;
        if (!v[i].name || !v[i].value)
            return -ENOMEM;
    }
    return 0;
}

int series_store_load(struct series_store *s, const struct tsdb_labels *ls,
                      const struct series_value *vals, size_t n, int native, int64_t step_ms)
{
    int rc = native ? series_store_add_native(s, ls) : 0;
    tsdb_ref ref;
    if (rc == 0)
        rc = tsdb_series_ref(s->db, ls, &ref);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (vals[i].present)
            rc = tsdb_append(s->db, ref, (int64_t)i * step_ms, vals[i].v);
    if (rc == 0)
        rc = tsdb_commit(s->db);
    return rc;
}

/* Can selector vs match the native series ls? */
static int selector_matches(const struct promql_node *vs, const struct tsdb_labels *ls)
{
    for (size_t j = 0; j < vs->vs.n_matchers; j++) {
        const struct tsdb_matcher *m = &vs->vs.matchers[j];
        const char *v = "";
        for (size_t k = 0; k < ls->len; k++)
            if (!strcmp(ls->v[k].name, m->name))
                v = ls->v[k].value;
        if (!tsdb_matcher_matches(m, v))
            return 0;
    }
    return 1;
}

/* promql_walk visitor for series_store_reads_native; arg is the store. */
static int reads_native(const struct promql_node *n, void *arg)
{
    const struct series_store *s = arg;
    if (n->kind == PROMQL_CALL)
        return n->call.func->native_histograms ? 2 : 0;
    if (n->kind != PROMQL_VECTOR_SELECTOR)
        return 0;
    for (size_t i = 0; i < s->nnative; i++)
        if (selector_matches(n, &s->native[i]))
            return 1;
    return 0;
}

int series_store_reads_native(const struct series_store *s, const struct promql_node *n)
{
    return promql_walk(n, reads_native, (void *)s);
}
