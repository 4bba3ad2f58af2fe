/* ruletest_parse.c — reads a promtool rule unit-test file (YAML, libyaml's
 * document API) into struct rt_file, checking everything that can be
 * checked before running: unknown keys, types, durations, series
 * selectors and value notation, expected labels. Every error names
 * file:line:col of the offending value. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "ruletest_int.h"
#include "series_notation.h"
#include "timefmt.h"
#include "yamlwalk.h"

struct walk {
    const char *path;
    yaml_document_t *doc;
    char *err;
    size_t errcap;
};

/* Writes "path:line:col: message" for node n, col_off bytes into its value
 * (quoted scalars start one byte later). @return -EINVAL. */
static int fail_at(struct walk *w, const yaml_node_t *n, size_t col_off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(struct walk *w, const yaml_node_t *n, size_t col_off, const char *fmt, ...)
{
    size_t col = n->start_mark.column + 1 + col_off;
    if (n->type == YAML_SCALAR_NODE && (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                                        n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
        col++;
    int len = snprintf(w->err, w->errcap, "%s:%zu:%zu: ", w->path, n->start_mark.line + 1, col);
    va_list ap;
    va_start(ap, fmt);
    if (len >= 0 && (size_t)len < w->errcap)
        vsnprintf(w->err + len, w->errcap - (size_t)len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* A series_notation message "col N: text" about node n's value. */
static int fail_notation(struct walk *w, const yaml_node_t *n, const char *msg)
{
    size_t col = 1;
    int used = 0;
    if (sscanf(msg, "col %zu: %n", &col, &used) == 1 && used > 0)
        msg += used;
    return fail_at(w, n, col - 1, "%s", msg);
}

static yaml_node_t *node(struct walk *w, int id)
{
    return yaml_document_get_node(w->doc, id);
}

static int scalar(struct walk *w, const yaml_node_t *n, const char *what, const char **out)
{
    *out = "";
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(w, n, 0, "%s must be a string", what);
    *out = (const char *)n->data.scalar.value;
    return 0;
}

static int string_dup(struct walk *w, const yaml_node_t *n, const char *what, char **out)
{
    const char *s;
    int rc = scalar(w, n, what, &s);
    if (rc == 0 && !(*out = strdup(s)))
        rc = -ENOMEM;
    return rc;
}

static int duration(struct walk *w, const yaml_node_t *n, const char *what, int64_t *ms)
{
    const char *s;
    int rc = scalar(w, n, what, &s);
    if (rc == 0 && timefmt_parse_duration(s, strlen(s), ms) < 0)
        rc = fail_at(w, n, 0, "bad duration \"%s\" for %s (like 30s, 5m, 1h30m)", s, what);
    return rc;
}

static int positive_duration(struct walk *w, const yaml_node_t *n, const char *what, int64_t *ms)
{
    int rc = duration(w, n, what, ms);
    if (rc == 0 && *ms <= 0)
        rc = fail_at(w, n, 0, "%s must be more than 0", what);
    return rc;
}

/* A float as YAML writes it (1, 1.5e3, .inf, -.Inf, .nan) or as Go
 * parses it (Inf, NaN). */
static int number(struct walk *w, const yaml_node_t *n, const char *what, double *v)
{
    const char *s;
    int rc = scalar(w, n, what, &s);
    if (rc < 0)
        return rc;
    const char *p = s + (*s == '+' || *s == '-');
    if (!strcasecmp(p, ".inf")) {
        *v = *s == '-' ? -INFINITY : INFINITY;
        return 0;
    }
    if (!strcasecmp(s, ".nan")) {
        *v = NAN;
        return 0;
    }
    char *end;
    *v = strtod(s, &end);
    if (!*s || *end)
        return fail_at(w, n, 0, "bad number \"%s\" for %s", s, what);
    return 0;
}

/* The items of a sequence (a null value is an empty one). */
static int sequence(struct walk *w, const yaml_node_t *n, const char *what, yaml_node_item_t **items,
                    size_t *count)
{
    *count = 0;
    *items = NULL;
    if (yamlwalk_is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_at(w, n, 0, "%s must be a list", what);
    *items = n->data.sequence.items.start;
    *count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    return 0;
}

static int mapping(struct walk *w, const yaml_node_t *n, const char *what)
{
    if (n->type != YAML_MAPPING_NODE && !yamlwalk_is_null(n))
        return fail_at(w, n, 0, "%s must be a mapping", what);
    return 0;
}

/* Iterates the pairs of mapping n (null: none): *k the key text, *kn and
 * *vn the nodes. Returns 0 at the end, 1 for a pair, <0 on a bad key. */
static int next_pair(struct walk *w, const yaml_node_t *n, size_t *i, const char **k,
                     yaml_node_t **kn, yaml_node_t **vn)
{
    if (n->type != YAML_MAPPING_NODE)
        return 0;
    yaml_node_pair_t *p = n->data.mapping.pairs.start + *i;
    if (p >= n->data.mapping.pairs.top)
        return 0;
    (*i)++;
    *kn = node(w, p->key);
    *vn = node(w, p->value);
    int rc = scalar(w, *kn, "a key", k);
    if (rc == 0 && yamlwalk_key_before(w->doc, n, p, *k))
        rc = fail_at(w, *kn, 0, "key \"%s\" given twice", *k);
    return rc < 0 ? rc : 1;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

/* Copies name=value into v[*len] and counts it even when a copy fails, so
 * that series_labels_free frees what was made. @return 0 or -ENOMEM. */
static int put_label(struct tsdb_label *v, size_t *len, const char *name, const char *value)
{
    struct tsdb_label *l = &v[(*len)++];
    l->name = strdup(name);
    l->value = strdup(value);
    return l->name && l->value ? 0 : -ENOMEM;
}

/* A mapping of strings (labels, annotations; n NULL: none), sorted by
 * name. With extra_name set, extra_name=extra replaces or joins them. */
static int string_map(struct walk *w, const yaml_node_t *n, const char *what,
                      const char *extra_name, const char *extra, struct tsdb_labels *out)
{
    int rc = n ? mapping(w, n, what) : 0;
    size_t cap = (n && n->type == YAML_MAPPING_NODE
                      ? (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start)
                      : 0) + 1;
    struct tsdb_label *v = calloc(cap, sizeof(*v));
    out->v = v;
    out->len = 0;
    if (rc < 0 || !v)
        return rc < 0 ? rc : -ENOMEM;
    size_t i = 0;
    const char *k, *val;
    yaml_node_t *kn, *vn;
    while (n && (rc = next_pair(w, n, &i, &k, &kn, &vn)) > 0) {
        if (vn->type != YAML_SCALAR_NODE)
            return fail_at(w, vn, 0, "%s: the value of \"%s\" must be a string", what, k);
        val = (const char *)vn->data.scalar.value;
        if (extra_name && !strcmp(k, extra_name))
            continue;
        if (put_label(v, &out->len, k, val) < 0)
            return -ENOMEM;
    }
    if (rc == 0 && extra_name && put_label(v, &out->len, extra_name, extra) < 0)
        return -ENOMEM;
    qsort(v, out->len, sizeof(*v), label_cmp);
    return rc;
}

static int unknown_key(struct walk *w, const yaml_node_t *kn, const char *k, const char *where)
{
    return fail_at(w, kn, 0, "unknown key \"%s\" in %s", k, where);
}

/* ---- tests: entries ----------------------------------------------------- */

static int parse_series(struct walk *w, const yaml_node_t *n, struct rt_series *s)
{
    int rc = mapping(w, n, "an input_series entry");
    yaml_node_t *kn, *vn, *series = NULL, *values = NULL;
    const char *k;
    size_t i = 0;
    while (rc == 0 && (rc = next_pair(w, n, &i, &k, &kn, &vn)) > 0) {
        rc = 0;
        if (!strcmp(k, "series"))
            series = vn;
        else if (!strcmp(k, "values"))
            values = vn;
        else
            rc = unknown_key(w, kn, k, "input_series");
    }
    if (rc < 0)
        return rc;
    if (!series)
        return fail_at(w, n, 0, "an input_series entry needs series:");
    char msg[512];
    const char *text, *vtext = "";
    if ((rc = scalar(w, series, "series", &text)) < 0 ||
        (values && (rc = scalar(w, values, "values", &vtext)) < 0))
        return rc;
    rc = series_labels_parse(text, strlen(text), &s->labels, msg, sizeof(msg));
    if (rc == -EINVAL)
        return fail_notation(w, series, msg);
    if (rc < 0)
        return rc;
    if (!s->labels.len)
        return fail_at(w, series, 0, "an input series needs a metric name or labels");
    rc = series_values_expand(vtext, &s->vals, &s->nvals, &s->native, msg, sizeof(msg));
    return rc == -EINVAL ? fail_notation(w, values, msg) : rc;
}

static int parse_exp_alert(struct walk *w, const yaml_node_t *n, const char *alertname,
                           struct rt_exp_alert *a)
{
    int rc = mapping(w, n, "an exp_alerts entry");
    yaml_node_t *kn, *vn, *labels = NULL, *annotations = NULL;
    const char *k;
    size_t i = 0;
    while (rc == 0 && (rc = next_pair(w, n, &i, &k, &kn, &vn)) > 0) {
        rc = 0;
        if (!strcmp(k, "exp_labels"))
            labels = vn;
        else if (!strcmp(k, "exp_annotations"))
            annotations = vn;
        else
            rc = unknown_key(w, kn, k, "exp_alerts");
    }
    /* promtool: the alert's name is implied, whatever exp_labels say. */
    if (rc == 0)
        rc = string_map(w, labels, "exp_labels", "alertname", alertname, &a->labels);
    if (rc == 0 && annotations)
        rc = string_map(w, annotations, "exp_annotations", NULL, NULL, &a->annotations);
    return rc;
}

static int parse_alert_case(struct walk *w, const yaml_node_t *n, struct rt_alert_case *c)
{
    int rc = mapping(w, n, "an alert_rule_test entry");
    yaml_node_t *kn, *vn, *exp = NULL;
    const char *k;
    size_t i = 0;
    while (rc == 0 && (rc = next_pair(w, n, &i, &k, &kn, &vn)) > 0) {
        if (!strcmp(k, "eval_time"))
            rc = duration(w, vn, "eval_time", &c->eval_ms);
        else if (!strcmp(k, "alertname"))
            rc = string_dup(w, vn, "alertname", &c->alertname);
        else if (!strcmp(k, "exp_alerts"))
            exp = vn, rc = 0;
        else
            rc = unknown_key(w, kn, k, "alert_rule_test");
    }
    if (rc < 0)
        return rc;
    if (!c->alertname || !*c->alertname)
        return fail_at(w, n, 0, "an alert_rule_test entry needs alertname:");
    yaml_node_item_t *items;
    if (exp && (rc = sequence(w, exp, "exp_alerts", &items, &c->nexp)) < 0)
        return rc;
    if (c->nexp && !(c->exp = calloc(c->nexp, sizeof(*c->exp)))) {
        c->nexp = 0;
        return -ENOMEM;
    }
    for (size_t j = 0; rc == 0 && j < c->nexp; j++)
        rc = parse_exp_alert(w, node(w, items[j]), c->alertname, &c->exp[j]);
    return rc;
}

static int parse_exp_sample(struct walk *w, const yaml_node_t *n, struct rt_expr_case *c,
                            struct rt_exp_sample *s)
{
    int rc = mapping(w, n, "an exp_samples entry");
    yaml_node_t *kn, *vn, *labels = NULL;
    const char *k;
    size_t i = 0;
    while (rc == 0 && (rc = next_pair(w, n, &i, &k, &kn, &vn)) > 0) {
        rc = 0;
        if (!strcmp(k, "labels"))
            labels = vn;
        else if (!strcmp(k, "value"))
            rc = number(w, vn, "value", &s->value);
        else if (!strcmp(k, "histogram"))
            c->native = 1;
        else
            rc = unknown_key(w, kn, k, "exp_samples");
    }
    const char *text = "";
    if (rc < 0 || (labels && (rc = scalar(w, labels, "labels", &text)) < 0))
        return rc;
    char msg[512];
    rc = series_labels_parse(text, strlen(text), &s->labels, msg, sizeof(msg));
    return rc == -EINVAL ? fail_notation(w, labels, msg) : rc;
}

static int parse_expr_case(struct walk *w, const yaml_node_t *n, struct rt_expr_case *c)
{
    int rc = mapping(w, n, "a promql_expr_test entry");
    yaml_node_t *kn, *vn, *exp = NULL;
    const char *k;
    size_t i = 0;
    while (rc == 0 && (rc = next_pair(w, n, &i, &k, &kn, &vn)) > 0) {
        if (!strcmp(k, "expr"))
            rc = string_dup(w, vn, "expr", &c->expr);
        else if (!strcmp(k, "eval_time"))
            rc = duration(w, vn, "eval_time", &c->eval_ms);
        else if (!strcmp(k, "exp_samples"))
            exp = vn, rc = 0;
        else
            rc = unknown_key(w, kn, k, "promql_expr_test");
    }
    if (rc < 0)
        return rc;
    if (!c->expr || !*c->expr)
        return fail_at(w, n, 0, "a promql_expr_test entry needs expr:");
    yaml_node_item_t *items;
    if (exp && (rc = sequence(w, exp, "exp_samples", &items, &c->nexp)) < 0)
        return rc;
    if (c->nexp && !(c->exp = calloc(c->nexp, sizeof(*c->exp)))) {
        c->nexp = 0;
        return -ENOMEM;
    }
    for (size_t j = 0; rc == 0 && j < c->nexp; j++)
        rc = parse_exp_sample(w, node(w, items[j]), c, &c->exp[j]);
    return rc;
}

/* Allocates *out with one zeroed element per item of the list vn. */
#define PARSE_LIST(w, vn, what, out, count, parse_one)                                          \
    do {                                                                                       \
        yaml_node_item_t *items_;                                                              \
        if ((rc = sequence(w, vn, what, &items_, &(count))) < 0)                               \
            break;                                                                             \
        if ((count) && !((out) = calloc((count), sizeof(*(out))))) {                           \
            (count) = 0;                                                                       \
            rc = -ENOMEM;                                                                      \
            break;                                                                             \
        }                                                                                      \
        for (size_t j_ = 0; rc == 0 && j_ < (count); j_++)                                     \
            rc = parse_one(w, node(w, items_[j_]), &(out)[j_]);                                \
    } while (0)

static int parse_group(struct walk *w, const yaml_node_t *n, int64_t eval_interval_ms,
                       struct rt_group *g)
{
    int rc = mapping(w, n, "a tests: entry");
    yaml_node_t *kn, *vn;
    const char *k;
    size_t i = 0;
    g->interval_ms = eval_interval_ms;
    while (rc == 0 && (rc = next_pair(w, n, &i, &k, &kn, &vn)) > 0) {
        rc = 0;
        if (!strcmp(k, "interval")) {
            rc = positive_duration(w, vn, "interval", &g->interval_ms);
        } else if (!strcmp(k, "name")) {
            rc = string_dup(w, vn, "name", &g->name);
        } else if (!strcmp(k, "external_url")) {
            rc = string_dup(w, vn, "external_url", &g->external_url);
        } else if (!strcmp(k, "external_labels")) {
            rc = string_map(w, vn, "external_labels", NULL, NULL, &g->external_labels);
        } else if (!strcmp(k, "input_series")) {
            PARSE_LIST(w, vn, "input_series", g->series, g->nseries, parse_series);
        } else if (!strcmp(k, "alert_rule_test")) {
            PARSE_LIST(w, vn, "alert_rule_test", g->alerts, g->nalerts, parse_alert_case);
        } else if (!strcmp(k, "promql_expr_test")) {
            PARSE_LIST(w, vn, "promql_expr_test", g->exprs, g->nexprs, parse_expr_case);
        } else {
            rc = unknown_key(w, kn, k, "a tests: entry");
        }
    }
    return rc;
}

/* ---- the file ------------------------------------------------------------ */

/* rule_files and group_eval_order: lists of strings; rule files are
 * resolved against dir unless absolute; group names must be unique. */
static int string_list(struct walk *w, const yaml_node_t *n, const char *what, const char *dir,
                       int unique, char ***out, size_t *count)
{
    yaml_node_item_t *items;
    int rc = sequence(w, n, what, &items, count);
    if (rc < 0 || !*count)
        return rc;
    if (!(*out = calloc(*count, sizeof(**out)))) {
        *count = 0;
        return -ENOMEM;
    }
    for (size_t i = 0; i < *count; i++) {
        const char *s;
        char item[64];
        snprintf(item, sizeof(item), "a %s entry", what);
        if ((rc = scalar(w, node(w, items[i]), item, &s)) < 0)
            return rc;
        for (size_t j = 0; unique && j < i; j++)
            if (!strcmp((*out)[j], s))
                return fail_at(w, node(w, items[i]), 0, "group name repeated in %s: %s", what, s);
        int join = dir && strcmp(dir, ".") && s[0] != '/';
        if (join && asprintf(&(*out)[i], "%s/%s", dir, s) < 0)
            (*out)[i] = NULL;
        else if (!join)
            (*out)[i] = strdup(s);
        if (!(*out)[i])
            return -ENOMEM;
    }
    return 0;
}

static int parse_root(struct walk *w, const yaml_node_t *root, const char *dir, struct rt_file *f)
{
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(w, root, 0, "a test file is a mapping with rule_files: and tests:");
    yaml_node_t *kn, *vn, *tests = NULL;
    const char *k;
    size_t i = 0;
    int rc;
    f->eval_interval_ms = 60000;
    while ((rc = next_pair(w, root, &i, &k, &kn, &vn)) > 0) {
        if (!strcmp(k, "rule_files"))
            rc = string_list(w, vn, "rule_files", dir, 0, &f->rule_files, &f->nrule_files);
        else if (!strcmp(k, "evaluation_interval"))
            rc = positive_duration(w, vn, "evaluation_interval", &f->eval_interval_ms);
        else if (!strcmp(k, "group_eval_order"))
            rc = string_list(w, vn, "group_eval_order", NULL, 1, &f->group_order,
                             &f->ngroup_order);
        else if (!strcmp(k, "tests"))
            tests = vn, rc = 0;
        else
            rc = unknown_key(w, kn, k, "the test file");
        if (rc < 0)
            return rc;
    }
    yaml_node_item_t *items = NULL;
    if (rc == 0 && tests && (rc = sequence(w, tests, "tests", &items, &f->ngroups)) == 0 &&
        f->ngroups && !(f->groups = calloc(f->ngroups, sizeof(*f->groups)))) {
        f->ngroups = 0;
        rc = -ENOMEM;
    }
    for (size_t j = 0; rc == 0 && j < f->ngroups; j++)
        rc = parse_group(w, node(w, items[j]), f->eval_interval_ms, &f->groups[j]);
    return rc;
}

int ruletest__parse(const char *path, struct rt_file *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    yaml_document_t doc;
    struct yamlwalk_syntax bad;
    int rc = yamlwalk_load_file(path, &doc, &bad);
    if (rc == -EINVAL) {
        snprintf(err, errcap, "%s:%zu:%zu: %s", path, bad.mark.line + 1, bad.mark.column + 1,
                 bad.problem ? bad.problem : "bad YAML");
        return rc;
    }
    if (rc < 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(-rc));
        return rc;
    }
    char *pathcopy = strdup(path);
    struct walk w = {path, &doc, err, errcap};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!pathcopy)
        rc = -ENOMEM;
    else if (!root)
        rc = -ENODATA;
    else
        rc = parse_root(&w, root, dirname(pathcopy), out);
    if (rc == -ENODATA) {
        snprintf(err, errcap, "%s:1:1: empty test file", path);
        rc = -EINVAL;
    } else if (rc == -ENOMEM) {
        snprintf(err, errcap, "%s: out of memory", path);
    }
    free(pathcopy);
    yaml_document_delete(&doc);
    if (rc < 0)
        ruletest__file_free(out);
    return rc;
}

static void group_free(struct rt_group *g)
{
    free(g->name);
    free(g->external_url);
    series_labels_free(&g->external_labels);
    for (size_t i = 0; i < g->nseries; i++) {
        series_labels_free(&g->series[i].labels);
        free(g->series[i].vals);
    }
    free(g->series);
    for (size_t i = 0; i < g->nalerts; i++) {
        for (size_t j = 0; j < g->alerts[i].nexp; j++) {
            series_labels_free(&g->alerts[i].exp[j].labels);
            series_labels_free(&g->alerts[i].exp[j].annotations);
        }
        free(g->alerts[i].exp);
        free(g->alerts[i].alertname);
    }
    free(g->alerts);
    for (size_t i = 0; i < g->nexprs; i++) {
        for (size_t j = 0; j < g->exprs[i].nexp; j++)
            series_labels_free(&g->exprs[i].exp[j].labels);
        free(g->exprs[i].exp);
        free(g->exprs[i].expr);
    }
    free(g->exprs);
}

void ruletest__file_free(struct rt_file *f)
{
    for (size_t i = 0; i < f->nrule_files; i++)
        free(f->rule_files[i]);
    free(f->rule_files);
    for (size_t i = 0; i < f->ngroup_order; i++)
        free(f->group_order[i]);
    free(f->group_order);
    for (size_t i = 0; i < f->ngroups; i++)
        group_free(&f->groups[i]);
    free(f->groups);
    memset(f, 0, sizeof(*f));
}
