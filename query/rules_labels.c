/* rules_labels.c — the rule engine's label sets (builder, packed copies)
 * and the per-rule bookkeeping made once per rule: effective labels with
 * parsed templates, and which rules read an earlier rule's output. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "rules_int.h"

/* ---- label sets ------------------------------------------------------------ */

int lbuild_set(struct lbuild *b, const char *name, const char *value, int owned)
{
    size_t i = 0;
    while (i < b->n && strcmp(b->v[i].name, name))
        i++;
    if (i < b->n) {
        free(b->v[i].owned);
        if (!*value) {
            if (owned)
                free((char *)value);
            b->v[i] = b->v[--b->n];
            return 0;
        }
    } else {
        if (!*value) {
            if (owned)
                free((char *)value);
            return 0;
        }
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 16;
            struct lbuild_ent *p = realloc(b->v, cap * sizeof *p);
            if (!p) {
                if (owned)
                    free((char *)value);
                return -ENOMEM;
            }
            b->v = p;
            b->cap = cap;
        }
        b->n++;
    }
    b->v[i].name = name;
    b->v[i].value = value;
    b->v[i].owned = owned ? (char *)value : NULL;
    return 0;
}

int lbuild_add_all(struct lbuild *b, const struct tsdb_labels *ls, int skip_name)
{
    for (size_t i = 0; i < ls->len; i++) {
        if (skip_name && !strcmp(ls->v[i].name, "__name__"))
            continue;
        int rc = lbuild_set(b, ls->v[i].name, ls->v[i].value, 0);
        if (rc)
            return rc;
    }
    return 0;
}

void lbuild_reset(struct lbuild *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].owned);
    b->n = 0;
}

void lbuild_free(struct lbuild *b)
{
    lbuild_reset(b);
    free(b->v);
    memset(b, 0, sizeof *b);
}

static int label_cmp(const void *x, const void *y)
{
    return strcmp(((const struct tsdb_label *)x)->name, ((const struct tsdb_label *)y)->name);
}

/* Packs n labels (name, value pairs read through get) into one block. */
static int pack(const struct tsdb_label *src, size_t n, struct tsdb_labels *out)
{
    size_t bytes = n * sizeof(struct tsdb_label);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(src[i].name) + strlen(src[i].value) + 2;
    struct tsdb_label *v = malloc(bytes ? bytes : 1);
    if (!v)
        return -ENOMEM;
    char *p = (char *)(v + n);
    for (size_t i = 0; i < n; i++) {
        size_t ln = strlen(src[i].name) + 1, lv = strlen(src[i].value) + 1;
        v[i].name = memcpy(p, src[i].name, ln);
        v[i].value = memcpy(p + ln, src[i].value, lv);
        p += ln + lv;
    }
    if (n) /* qsort(NULL, 0) is undefined */
        qsort(v, n, sizeof *v, label_cmp);
    out->v = v;
    out->len = n;
    return 0;
}

int lbuild_pack(const struct lbuild *b, struct tsdb_labels *out)
{
    struct tsdb_label tmp[64] = {{NULL, NULL}};
    struct tsdb_label *src = b->n <= 64 ? tmp : malloc(b->n * sizeof *src);
    if (!src)
        return -ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        src[i].name = b->v[i].name;
        src[i].value = b->v[i].value;
    }
    int rc = pack(src, b->n, out);
    if (src != tmp)
        free(src);
    return rc;
}

int rules__labels_dup(const struct tsdb_labels *ls, struct tsdb_labels *out)
{
    return pack(ls->v, ls->len, out);
}

void rules__labels_free(struct tsdb_labels *ls)
{
    free((void *)ls->v);
    ls->v = NULL;
    ls->len = 0;
}

int rules__labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b)
{
    return output_labels_cmp(a, b);
}

const char *rules__label_get(const struct tsdb_labels *ls, const char *name)
{
    for (size_t i = 0; ls && i < ls->len; i++)
        if (!strcmp(ls->v[i].name, name))
            return ls->v[i].value;
    return NULL;
}

void rules__alert_free(struct alert *a)
{
    rules__labels_free(&a->labels);
    rules__labels_free(&a->annotations);
}

void rules__alerts_clear(struct rule *r)
{
    for (size_t i = 0; i < r->nalerts; i++)
        rules__alert_free(&r->alerts[i]);
    r->nalerts = 0;
}

int rules__metric_name_valid(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        int c = (unsigned char)*p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (p > s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- which rules read earlier rules' output ------------------------------- */

/* 1 if the selector can select a series named name: every __name__ matcher
 * accepts it. Regex matchers count as accepting (no matching here, so this
 * stays safe while the same expression is evaluated on another thread). */
static int selector_may_match(const struct promql_node *vs, const char *name)
{
    for (size_t i = 0; i < vs->vs.n_matchers; i++) {
        const struct tsdb_matcher *m = &vs->vs.matchers[i];
        if (strcmp(m->name, "__name__"))
            continue;
        if (m->type == TSDB_MATCH_EQ && strcmp(m->value, name))
            return 0;
        if (m->type == TSDB_MATCH_NE && !strcmp(m->value, name))
            return 0;
    }
    return 1;
}

/* The rules before the one asking, for reads_rules. */
struct earlier_rules {
    const struct rule *v;
    size_t n;
};

/* promql_walk visitor: 1 if n is a selector that may read a series written
 * by one of the earlier rules. */
static int reads_rules(const struct promql_node *n, void *arg)
{
    const struct earlier_rules *e = arg;
    if (n->kind != PROMQL_VECTOR_SELECTOR)
        return 0;
    for (size_t k = 0; k < e->n; k++) {
        const struct rule *r = &e->v[k];
        if (r->kind == RULE_RECORDING && r->name && selector_may_match(n, r->name))
            return 1;
        if (r->kind == RULE_ALERTING && (selector_may_match(n, "ALERTS") ||
                                         selector_may_match(n, "ALERTS_FOR_STATE")))
            return 1;
    }
    return 0;
}

/* 1 if rule i of g reads what rules[0..i) write (or has no expression). */
static int reads_earlier(const struct rule_group *g, size_t i)
{
    const struct rule *r = &g->rules[i];
    struct earlier_rules e = {g->rules, i};
    return !r->expr || promql_walk(r->expr->root, reads_rules, &e);
}

int rule_reads_earlier(const struct rule_group *g, size_t i)
{
    const struct rule *r = &g->rules[i];
    if (r->priv)
        return ((const struct rule_priv *)r->priv)->reads_earlier;
    return reads_earlier(g, i);
}

/* ---- per-rule bookkeeping --------------------------------------------------- */

/* Fills t[i] from a name and text; parses the template when asked and the
 * text has one (a template that does not parse is left NULL: expansion then
 * reports the error in the text, as Prometheus does). */
static int text_init(struct rule_text *t, const char *name, const char *value, int tmpl)
{
    t->name = name;
    t->value = value;
    t->tmpl = NULL;
    if (!tmpl || !strstr(value, "{{"))
        return 0;
    char err[256];
    return tmpl_parse(value, &t->tmpl, err, sizeof err) == -ENOMEM ? -ENOMEM : 0;
}

static int prepare(const struct rule_group *g, struct rule *r, struct rule_priv *p)
{
    int tmpl = r->kind == RULE_ALERTING;
    p->labels = calloc(g->nlabels + r->nlabels + 1, sizeof *p->labels);
    p->annotations = calloc(r->nannotations + 1, sizeof *p->annotations);
    if (!p->labels || !p->annotations)
        return -ENOMEM;
    for (size_t i = 0; i < g->nlabels; i++) {
        size_t k = 0;
        while (k < r->nlabels && strcmp(r->labels[k].name, g->labels[i].name))
            k++;
        if (k == r->nlabels &&
            text_init(&p->labels[p->nlabels++], g->labels[i].name, g->labels[i].value, tmpl))
            return -ENOMEM;
    }
    for (size_t i = 0; i < r->nlabels; i++)
        if (text_init(&p->labels[p->nlabels++], r->labels[i].name, r->labels[i].value, tmpl))
            return -ENOMEM;
    for (size_t i = 0; i < r->nannotations; i++)
        if (text_init(&p->annotations[p->nannotations++], r->annotations[i].name,
                      r->annotations[i].value, 1))
            return -ENOMEM;
    return 0;
}

int rules__prepare(struct rule_group *g, size_t i)
{
    struct rule *r = &g->rules[i];
    if (r->priv)
        return 0;
    struct rule_priv *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->reads_earlier = reads_earlier(g, i);
    r->priv = p;
    int rc = prepare(g, r, p);
    if (rc)
        rules__priv_free(r);
    return rc;
}

void rules__priv_free(struct rule *r)
{
    struct rule_priv *p = r->priv;
    if (!p)
        return;
    for (size_t i = 0; i < p->nlabels; i++)
        if (p->labels[i].tmpl)
            tmpl_free(p->labels[i].tmpl);
    for (size_t i = 0; i < p->nannotations; i++)
        if (p->annotations[i].tmpl)
            tmpl_free(p->annotations[i].tmpl);
    free(p->labels);
    free(p->annotations);
    for (size_t i = 0; i < p->nprev; i++)
        rules__labels_free(&p->prev[i]);
    free(p->prev);
    free(p);
    r->priv = NULL;
}

int rules__group_add_dropped(struct rule_group *g, const struct tsdb_labels *ls)
{
    struct group_priv *gp = g->priv;
    if (!gp && !(gp = g->priv = calloc(1, sizeof *gp)))
        return -ENOMEM;
    struct tsdb_labels *v = realloc(gp->stale, (gp->nstale + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    gp->stale = v;
    int rc = rules__labels_dup(ls, &v[gp->nstale]);
    if (!rc)
        gp->nstale++;
    return rc;
}

void rules__group_priv_free(struct rule_group *g)
{
    struct group_priv *gp = g->priv;
    if (!gp)
        return;
    for (size_t i = 0; i < gp->nstale; i++)
        rules__labels_free(&gp->stale[i]);
    free(gp->stale);
    free(gp);
    g->priv = NULL;
}
