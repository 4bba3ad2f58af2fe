/* template_funcs.c — Go's text/template built-in functions (comparisons,
 * and/or/not, len, index, print, printf, println, html, urlquery), the
 * helpers every template function uses, and the lookup of a function by
 * name over these and Prometheus' (template_prom.c). Each follows its Go
 * original's output and error wording. */
#include "template_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tmpl__fnerr(struct tmpl_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

int tmpl__ret_buf(struct tmpl_call *c, struct tmpl_buf *b, struct tmpl_value *out)
{
    if (b->nomem) {
        free(b->p);
        c->nomem = 1;
        return -1;
    }
    if (b->full) {
        free(b->p);
        return tmpl__fnerr(c, "result exceeds %u bytes", TMPL_OUTPUT_MAX_BYTES);
    }
    char *s = tmpl__strndup(c->arena, b->p ? b->p : "", b->len);
    free(b->p);
    if (!s) {
        c->nomem = 1;
        return -1;
    }
    out->kind = TV_STRING;
    out->u.s.p = s;
    out->u.s.len = b->len;
    return 0;
}

int tmpl__want_string(struct tmpl_call *c, const struct tmpl_value *v, const char **s, size_t *n)
{
    *s = "";
    *n = 0;
    if (v->kind != TV_STRING) {
        if (v->kind == TV_NIL)
            return tmpl__fnerr(c, "invalid value; expected string");
        return tmpl__fnerr(c, "wrong type for value; expected string; got %s", tmpl__type_name(v));
    }
    *s = v->u.s.p;
    *n = v->u.s.len;
    return 0;
}

/* ---- comparisons and logic ---- */

static int compare(struct tmpl_call *c, const struct tmpl_value *a, const struct tmpl_value *b,
                   int *cmp)
{
    for (int i = 0; i < 2; i++) {
        enum tmpl_kind k = (i ? b : a)->kind;
        if (k != TV_BOOL && k != TV_INT && k != TV_FLOAT && k != TV_STRING)
            return tmpl__fnerr(c, "invalid type for comparison");
    }
    if (a->kind != b->kind)
        return tmpl__fnerr(c, "incompatible types for comparison");
    switch (a->kind) {
    case TV_BOOL: *cmp = a->u.b - b->u.b; return 0;
    case TV_INT: *cmp = (a->u.i > b->u.i) - (a->u.i < b->u.i); return 0;
    case TV_FLOAT:
        /* NaN compares unequal and unordered, as in Go */
        *cmp = a->u.f < b->u.f ? -1 : a->u.f > b->u.f ? 1 : a->u.f == b->u.f ? 0 : 2;
        return 0;
    case TV_STRING: {
        size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        int r = memcmp(a->u.s.p, b->u.s.p, n);
        *cmp = r ? (r > 0 ? 1 : -1) : (a->u.s.len > b->u.s.len) - (a->u.s.len < b->u.s.len);
        return 0;
    }
    case TV_NIL:
    case TV_MAP:
    case TV_DATA: break;
    }
    return tmpl__fnerr(c, "invalid type for comparison");
}

/* Go's eq on two values: nil equals only nil, values of different types
 * are an error, maps cannot be compared. */
static int equal(struct tmpl_call *c, const struct tmpl_value *a, const struct tmpl_value *b,
                 int *eq)
{
    if (a->kind == TV_NIL || b->kind == TV_NIL) {
        *eq = a->kind == b->kind;
        return 0;
    }
    if (a->kind != b->kind)
        return tmpl__fnerr(c, "incompatible types for comparison");
    if (a->kind == TV_MAP || a->kind == TV_DATA)
        return tmpl__fnerr(c, "non-comparable types %s and %s", tmpl__type_name(a),
                           tmpl__type_name(b));
    int cmp;
    if (compare(c, a, b, &cmp) < 0)
        return -1;
    *eq = cmp == 0;
    return 0;
}

static int fn_eq(struct tmpl_call *c, const struct tmpl_value *a, size_t n, struct tmpl_value *out)
{
    for (size_t i = 1; i < n; i++) {
        int eq;
        if (equal(c, &a[0], &a[i], &eq) < 0)
            return -1;
        if (eq)
            return tmpl__ret_bool(out, 1);
    }
    return tmpl__ret_bool(out, 0);
}

static int fn_ne(struct tmpl_call *c, const struct tmpl_value *a, size_t n, struct tmpl_value *out)
{
    (void)n;
    int eq;
    if (equal(c, &a[0], &a[1], &eq) < 0)
        return -1;
    return tmpl__ret_bool(out, !eq);
}

static int ordered(struct tmpl_call *c, const struct tmpl_value *a, int *cmp)
{
    if (a[0].kind == TV_BOOL || a[1].kind == TV_BOOL)
        return tmpl__fnerr(c, "invalid type for comparison");
    return compare(c, &a[0], &a[1], cmp);
}

static int fn_lt(struct tmpl_call *c, const struct tmpl_value *a, size_t n, struct tmpl_value *out)
{
    (void)n;
    int cmp;
    return ordered(c, a, &cmp) < 0 ? -1 : tmpl__ret_bool(out, cmp == -1);
}

static int fn_le(struct tmpl_call *c, const struct tmpl_value *a, size_t n, struct tmpl_value *out)
{
    (void)n;
    int cmp;
    return ordered(c, a, &cmp) < 0 ? -1 : tmpl__ret_bool(out, cmp == -1 || cmp == 0);
}

static int fn_gt(struct tmpl_call *c, const struct tmpl_value *a, size_t n, struct tmpl_value *out)
{
    (void)n;
    int cmp;
    return ordered(c, a, &cmp) < 0 ? -1 : tmpl__ret_bool(out, cmp == 1);
}

static int fn_ge(struct tmpl_call *c, const struct tmpl_value *a, size_t n, struct tmpl_value *out)
{
    (void)n;
    int cmp;
    return ordered(c, a, &cmp) < 0 ? -1 : tmpl__ret_bool(out, cmp == 1 || cmp == 0);
}

static int fn_not(struct tmpl_call *c, const struct tmpl_value *a, size_t n, struct tmpl_value *out)
{
    (void)c;
    (void)n;
    return tmpl__ret_bool(out, !tmpl__truth(&a[0]));
}

/* and / or: the executor evaluates lazily and calls these only when every
 * argument was needed: the result is the last one. */
static int fn_last(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                   struct tmpl_value *out)
{
    (void)c;
    *out = a[n - 1];
    return 0;
}

/* ---- builtins on values ---- */

static int fn_len(struct tmpl_call *c, const struct tmpl_value *a, size_t n, struct tmpl_value *out)
{
    (void)n;
    out->kind = TV_INT;
    if (a[0].kind == TV_STRING)
        out->u.i = (int64_t)a[0].u.s.len;
    else if (a[0].kind == TV_MAP)
        out->u.i = a[0].u.map ? (int64_t)a[0].u.map->len : 0;
    else
        return tmpl__fnerr(c, "len of type %s", tmpl__type_name(&a[0]));
    return 0;
}

static int fn_index(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                    struct tmpl_value *out)
{
    *out = a[0];
    for (size_t i = 1; i < n; i++) {
        if (out->kind != TV_MAP)
            return tmpl__fnerr(c, "can't index item of type %s", tmpl__type_name(out));
        const char *key;
        size_t klen;
        if (a[i].kind != TV_STRING)
            return tmpl__fnerr(c, "value has type %s; should be string", tmpl__type_name(&a[i]));
        key = a[i].u.s.p;
        klen = a[i].u.s.len;
        const struct tsdb_labels *m = out->u.map;
        out->kind = TV_STRING;
        out->u.s.p = "";
        out->u.s.len = 0; /* a missing key gives the zero value */
        for (size_t j = 0; m && j < m->len; j++)
            if (strlen(m->v[j].name) == klen && !memcmp(m->v[j].name, key, klen)) {
                out->u.s.p = m->v[j].value;
                out->u.s.len = strlen(m->v[j].value);
            }
    }
    return 0;
}

static int fn_print(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                    struct tmpl_value *out)
{
    struct tmpl_buf b = tmpl__new_buf();
    tmpl__sprint(&b, a, n, 0);
    return tmpl__ret_buf(c, &b, out);
}

static int fn_println(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                      struct tmpl_value *out)
{
    struct tmpl_buf b = tmpl__new_buf();
    tmpl__sprint(&b, a, n, 1);
    return tmpl__ret_buf(c, &b, out);
}

static int fn_printf(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                     struct tmpl_value *out)
{
    const char *f;
    size_t flen;
    if (tmpl__want_string(c, &a[0], &f, &flen) < 0)
        return -1;
    struct tmpl_buf b = tmpl__new_buf();
    tmpl__sprintf(&b, f, flen, a + 1, n - 1);
    return tmpl__ret_buf(c, &b, out);
}

/* The text html / urlquery escape: one string argument as is, anything
 * else as print would show it. */
static int escape_input(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                        struct tmpl_buf *b)
{
    if (tmpl__sprint(b, a, n, 0) < 0 && b->nomem)
        c->nomem = 1;
    return b->nomem || b->full ? -1 : 0;
}

static int fn_html(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                   struct tmpl_value *out)
{
    struct tmpl_buf in = tmpl__new_buf(), b = tmpl__new_buf();
    if (escape_input(c, a, n, &in) < 0)
        return free(in.p), tmpl__ret_buf(c, &in, out);
    for (size_t i = 0; i < in.len; i++) {
        switch (in.p[i]) {
        case '<': tmpl__put(&b, "&lt;", 4); break;
        case '>': tmpl__put(&b, "&gt;", 4); break;
        case '&': tmpl__put(&b, "&amp;", 5); break;
        case '\'': tmpl__put(&b, "&#39;", 5); break;
        case '"': tmpl__put(&b, "&#34;", 5); break;
        case '\0': tmpl__put(&b, "\xef\xbf\xbd", 3); break;
        default: tmpl__putc(&b, in.p[i]); break;
        }
    }
    free(in.p);
    return tmpl__ret_buf(c, &b, out);
}

static int fn_urlquery(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                       struct tmpl_value *out)
{
    struct tmpl_buf in = tmpl__new_buf(), b = tmpl__new_buf();
    if (escape_input(c, a, n, &in) < 0)
        return free(in.p), tmpl__ret_buf(c, &in, out);
    for (size_t i = 0; i < in.len; i++) {
        unsigned char ch = (unsigned char)in.p[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~')
            tmpl__putc(&b, (char)ch);
        else if (ch == ' ')
            tmpl__putc(&b, '+');
        else
            tmpl__printf(&b, "%%%02X", ch);
    }
    free(in.p);
    return tmpl__ret_buf(c, &b, out);
}

int tmpl__fn_unsupported(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                         struct tmpl_value *out)
{
    (void)a;
    (void)n;
    (void)out;
    return tmpl__fnerr(c, "not supported in Vigil's alert templates");
}

static const struct tmpl_func funcs[] = {
    {"and", 1, -1, fn_last, TF_AND},
    {"call", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"eq", 2, -1, fn_eq, TF_EAGER},
    {"ge", 2, 2, fn_ge, TF_EAGER},
    {"gt", 2, 2, fn_gt, TF_EAGER},
    {"html", 0, -1, fn_html, TF_EAGER},
    {"index", 1, -1, fn_index, TF_EAGER},
    {"js", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"le", 2, 2, fn_le, TF_EAGER},
    {"len", 1, 1, fn_len, TF_EAGER},
    {"lt", 2, 2, fn_lt, TF_EAGER},
    {"ne", 2, 2, fn_ne, TF_EAGER},
    {"not", 1, 1, fn_not, TF_EAGER},
    {"or", 1, -1, fn_last, TF_OR},
    {"print", 0, -1, fn_print, TF_EAGER},
    {"printf", 1, -1, fn_printf, TF_EAGER},
    {"println", 0, -1, fn_println, TF_EAGER},
    {"slice", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"urlquery", 0, -1, fn_urlquery, TF_EAGER},
};

const struct tmpl_func *tmpl__func_lookup(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (strlen(funcs[i].name) == len && !memcmp(funcs[i].name, s, len))
            return &funcs[i];
    for (size_t i = 0; i < tmpl__prom_nfuncs; i++)
        if (strlen(tmpl__prom_funcs[i].name) == len && !memcmp(tmpl__prom_funcs[i].name, s, len))
            return &tmpl__prom_funcs[i];
    return NULL;
}
