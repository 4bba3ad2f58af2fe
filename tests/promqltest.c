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
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "promql.h"
#include "promql_eval.h"
#include "series_notation.h"
#include "timefmt.h"
#include "tsdb.h"

static int verbose;

/* A Prometheus duration (1h30m, 10s53ms) or seconds (1.5). @return 0. */
static int parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double f = strtod(s, &end);
    if (end != s && !*end) {
        *ms = (int64_t)llround(f * 1000);
        return 0;
    }
    return timefmt_parse_duration(s, strlen(s), ms) < 0 ? -1 : 0;
}

static int parse_float(const char *s, double *out)
{
    char *end;
    if (!*s)
        return -1;
    *out = strtod(s, &end);
    return *end ? -1 : 0;
}

/* Labels and values of a `series values...` line; err gets the reason. */
static int parse_series_line(const char *line, struct tsdb_labels *ls, struct series_value **vals,
                             size_t *n, int *native, char *err, size_t cap)
{
    size_t sl = series_selector_len(line);
    int rc = series_labels_parse(line, sl, ls, err, cap);
    if (rc < 0)
        return rc;
    rc = series_values_expand(line + sl, vals, n, native, err, cap);
    if (rc < 0)
        series_labels_free(ls);
    return rc;
}

/* ---- load ------------------------------------------------------------------ */

/* load_with_nhcb also stores foo{...} as a native histogram for every
 * foo_bucket{le=...}: remember it so that queries reading it are skipped. */
static void add_nhcb(struct series_store *e, const struct tsdb_labels *ls)
{
    struct tsdb_label nh[ls->len ? ls->len : 1];
    size_t n = 0;
    char name[512];
    int bucket = 0;
    for (size_t i = 0; i < ls->len; i++) {
        if (!strcmp(ls->v[i].name, "le"))
            continue;
        nh[n] = ls->v[i];
        size_t len = strlen(ls->v[i].value);
        if (!strcmp(ls->v[i].name, "__name__") && len > 7 &&
            !strcmp(ls->v[i].value + len - 7, "_bucket")) {
            snprintf(name, sizeof(name), "%.*s", (int)(len - 7), ls->v[i].value);
            nh[n].value = name;
            bucket = 1;
        }
        n++;
    }
    struct tsdb_labels tl = {n, nh};
    if (bucket)
        series_store_add_native(e, &tl);
}

static int load_line(struct series_store *e, const char *line, int64_t step, int nhcb, char *err, size_t cap)
{
    struct tsdb_labels ls;
    struct series_value *vals;
    size_t n;
    int native;
    int rc = parse_series_line(line, &ls, &vals, &n, &native, err, cap);
    if (rc < 0)
        return rc;
    if (nhcb)
        add_nhcb(e, &ls);
    rc = series_store_load(e, &ls, vals, n, native, step);
    if (rc < 0)
        snprintf(err, cap, "%s", tsdb_strerror(rc));
    series_labels_free(&ls);
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
    struct tsdb_labels ls;
    struct series_value *vals;
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
        series_labels_free(&c->series[i].ls);
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

static int labels_eq(const struct tsdb_labels *a, const struct tsdb_labels *b)
{
    if (a->len != b->len)
        return 0;
    for (size_t i = 0; i < a->len; i++)
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
            if (labels_eq(&x->ls, &r->series[i].labels))
                s = &r->series[i];
        } else {
            for (size_t j = 0; j < r->nseries && !s; j++)
                if (labels_eq(&x->ls, &r->series[j].labels))
                    s = &r->series[j];
        }
        if (!s) {
            char lb[400];
            labels_str(&x->ls, lb, sizeof(lb));
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

/* @return NULL to run the case, or why it is skipped. */
static const char *skip_reason(const struct series_store *e, const struct evalcase *c)
{
    if (c->native)
        return "native histogram in the expected result";
    struct promql_expr *x;
    struct promql_error err;
    if (promql_parse(c->expr, &x, &err) < 0)
        return NULL;
    int r = series_store_reads_native(e, x->root);
    promql_expr_free(x);
    if (r == 2)
        return "function defined on native histograms only";
    if (r)
        return "reads series loaded as native histograms";
    return NULL;
}

/* Runs case c. @return NULL on success or why it failed. */
static const char *run_case(struct series_store *e, struct evalcase *c, char *why, size_t cap)
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
    struct expected x = {0};
    int native;
    char err[300];
    if (parse_series_line(s, &x.ls, &x.vals, &x.n, &native, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (native)
        c->native = 1;
    struct expected *p = realloc(c->series, (c->nseries + 1) * sizeof(*p));
    if (!p) {
        series_labels_free(&x.ls);
        free(x.vals);
        return -1;
    }
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
    struct series_store e;
    if (series_store_open(&e) < 0) {
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
            series_store_close(&e);
            if (series_store_open(&e) < 0) {
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
            char err[300];
            if (load_line(&e, line, load_step, nhcb, err, sizeof(err)) < 0)
                fprintf(stderr, "%s:%d: bad series line: %s\n", fname, lineno, err);
        } else if (mode == EVAL) {
            int rc = !strncmp(line, "expect", 6) ? parse_expect(&c, line)
                                                 : parse_expected_line(&c, line);
            if (rc < 0)
                fprintf(stderr, "%s:%d: bad expectation: %s\n", fname, lineno, line);
        }
    }
    free(buf);
    fclose(f);
    series_store_close(&e);
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
