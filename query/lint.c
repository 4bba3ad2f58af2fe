/* lint.c — promlint's rules over the metric families of an exposition.
 *
 * Design notes. A family is remembered by name (a tsearch tree for lookup,
 * an array for the report) with what the rules need: its type, whether it
 * had a HELP line, and which label names its samples used. The rules run
 * only in lint_report, so metadata may follow samples (Prometheus text).
 */
#include "lint.h"

#include <ctype.h>
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINT_TEXT_MAX 96

struct family {
    enum expfmt_metric_type type;
    int has_help;
    int le_label, quantile_label, camel_label; /* some sample had such a label */
    char name[];
};

struct problem {
    const char *metric;
    char text[LINT_TEXT_MAX];
};

struct lint {
    enum expfmt_flavor flavor;
    void *tree;               /* struct family * by name */
    struct family **v;        /* every family, in order of appearance */
    size_t len, cap;
    struct family *last;      /* family of the previous entry */
    struct problem *problems; /* lint_report's scratch */
    size_t nproblems, cap_problems;
};

/* Units a name may contain and their base unit, and the prefixes that make
 * a unit from a base (promlint's tables). */
static const char *const units[][2] = {
    {"amperes", "amperes"}, {"bytes", "bytes"},         {"celsius", "celsius"},
    {"grams", "grams"},     {"joules", "joules"},       {"kelvin", "kelvin"},
    {"meters", "meters"},   {"metres", "metres"},       {"seconds", "seconds"},
    {"volts", "volts"},     {"minutes", "seconds"},     {"hours", "seconds"},
    {"days", "seconds"},    {"weeks", "seconds"},       {"kelvins", "kelvin"},
    {"fahrenheit", "celsius"}, {"rankine", "celsius"},  {"inches", "meters"},
    {"yards", "meters"},    {"miles", "meters"},        {"bits", "bytes"},
    {"calories", "joules"}, {"pounds", "grams"},        {"ounces", "grams"},
};
static const char *const unit_prefixes[] = {
    "",     "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo",
    "kibi", "mega", "mibi", "giga",  "gibi",  "tera",  "tebi", "peta", "pebi",
};
static const char *const unit_abbreviations[] = {"s",  "ms", "us", "ns", "sec", "b",  "kb",
                                                 "mb", "gb", "tb", "pb", "m",   "h",  "d"};
/* Type names a metric name should not contain (promlint lists every
 * client_model type except untyped). */
static const char *const type_words[] = {"counter", "gauge", "summary", "histogram",
                                         "gauge_histogram"};

static int family_cmp(const void *a, const void *b)
{
    return strcmp(((const struct family *)a)->name, ((const struct family *)b)->name);
}

int lint_new(enum expfmt_flavor flavor, struct lint **out)
{
    struct lint *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->flavor = flavor;
    *out = l;
    return 0;
}

void lint_free(struct lint *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->len; i++) {
        tdelete(l->v[i], &l->tree, family_cmp);
        free(l->v[i]);
    }
    free(l->v);
    free(l->problems);
    free(l);
}

/* The family named name, created (untyped, no HELP) if new; NULL if out of
 * memory. */
static struct family *family_get(struct lint *l, const char *name)
{
    size_t n = strlen(name);
    struct family *f, **found;

    if (l->last && strcmp(l->last->name, name) == 0)
        return l->last;
    if (!(f = calloc(1, sizeof *f + n + 1)))
        return NULL;
    memcpy(f->name, name, n + 1);
    if (!(found = tsearch(f, &l->tree, family_cmp))) {
        free(f);
        return NULL;
    }
    if (*found != f) {
        free(f);
        return l->last = *found;
    }
    if (l->len == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct family **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            tdelete(f, &l->tree, family_cmp);
            free(f);
            return NULL;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->len++] = f;
    return l->last = f;
}

/* 1 if s has a lower-case letter followed by an upper-case one. */
static int camel_case(const char *s)
{
    for (; s[0] && s[1]; s++)
        if (islower((unsigned char)s[0]) && isupper((unsigned char)s[1]))
            return 1;
    return 0;
}

int lint_entry(struct lint *l, const struct expfmt_entry *e)
{
    struct family *f;

    switch (e->kind) {
    case EXPFMT_SAMPLE:
    case EXPFMT_HELP:
    case EXPFMT_TYPE:
        break;
    case EXPFMT_NONE:
    case EXPFMT_UNIT:
    case EXPFMT_EOF:
        return 0;
    }
    if (!(f = family_get(l, e->family ? e->family : e->name)))
        return -ENOMEM;
    if (e->kind == EXPFMT_HELP)
        f->has_help = 1;
    if (e->kind != EXPFMT_SAMPLE) {
        f->type = e->type;
        return 0;
    }
    f->type = e->type;
    for (size_t i = 1; i < e->labels.len; i++) {
        const char *n = e->labels.v[i].name;
        f->le_label |= strcmp(n, "le") == 0;
        f->quantile_label |= strcmp(n, "quantile") == 0;
        f->camel_label |= camel_case(n);
    }
    return 0;
}

static int add(struct lint *l, const struct family *f, const char *fmt, const char *a,
               const char *b)
{
    if (l->nproblems == l->cap_problems) {
        size_t cap = l->cap_problems ? 2 * l->cap_problems : 64;
        struct problem *v = realloc(l->problems, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->problems = v;
        l->cap_problems = cap;
    }
    struct problem *p = &l->problems[l->nproblems++];
    p->metric = f->name;
    snprintf(p->text, sizeof p->text, fmt, a, b);
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* 1 if the lower-cased name has "_word_" inside or ends in "_word". */
static int has_word(const char *lower, const char *word)
{
    size_t wl = strlen(word);
    for (const char *s = strchr(lower, '_'); s; s = strchr(s + 1, '_'))
        if (strncmp(s + 1, word, wl) == 0 && (s[1 + wl] == '_' || s[1 + wl] == '\0'))
            return 1;
    return 0;
}

/* The first '_'-separated word of name that is a prefixed unit: *unit (in
 * buf) and *base. @return 1 if one was found. */
static int metric_unit(const char *name, char *buf, size_t cap, const char **base)
{
    for (const char *w = name; *w; w += *w == '_') {
        size_t wl = strcspn(w, "_");
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
            for (size_t p = 0; p < sizeof unit_prefixes / sizeof unit_prefixes[0]; p++) {
                size_t pl = strlen(unit_prefixes[p]);
                if (wl == pl + strlen(units[u][0]) && strncmp(w, unit_prefixes[p], pl) == 0 &&
                    strncmp(w + pl, units[u][0], wl - pl) == 0) {
                    snprintf(buf, cap, "%.*s", (int)wl, w);
                    *base = units[u][1];
                    return 1;
                }
            }
        }
        w += wl;
    }
    return 0;
}

/* Runs every rule on family f. @return 0 or -ENOMEM. */
static int lint_family(struct lint *l, const struct family *f)
{
    const char *n = f->name, *base;
    char lower[256], unit[64];
    enum expfmt_metric_type t = f->type;
    int hist = t == EXPFMT_METRIC_HISTOGRAM || t == EXPFMT_METRIC_GAUGEHISTOGRAM;
    int typed = t != EXPFMT_METRIC_UNKNOWN, rc = 0;

    snprintf(lower, sizeof lower, "%s", n);
    for (char *s = lower; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    if (!f->has_help)
        rc |= add(l, f, "no help text", NULL, NULL);
    if (metric_unit(n, unit, sizeof unit, &base) && strcmp(unit, base) != 0)
        rc |= add(l, f, "use base unit \"%s\" instead of \"%s\"", base, unit);
    if (t == EXPFMT_METRIC_COUNTER && l->flavor == EXPFMT_PROMETHEUS && !ends_with(n, "_total"))
        rc |= add(l, f, "counter metrics should have \"_total\" suffix", NULL, NULL);
    if (typed && t != EXPFMT_METRIC_COUNTER && ends_with(n, "_total"))
        rc |= add(l, f, "non-counter metrics should not have \"_total\" suffix", NULL, NULL);
    if (typed && !hist && ends_with(n, "_bucket"))
        rc |= add(l, f, "non-histogram metrics should not have \"_bucket\" suffix", NULL, NULL);
    for (size_t i = 0; typed && i < 2; i++)
        if (!hist && t != EXPFMT_METRIC_SUMMARY && ends_with(n, i ? "_sum" : "_count"))
            rc |= add(l, f, "non-histogram and non-summary metrics should not have \"%s\" suffix",
                      i ? "_sum" : "_count", NULL);
    if (typed && !hist && f->le_label)
        rc |= add(l, f, "non-histogram metrics should not have \"le\" label", NULL, NULL);
    if (typed && t != EXPFMT_METRIC_SUMMARY && f->quantile_label)
        rc |= add(l, f, "non-summary metrics should not have \"quantile\" label", NULL, NULL);
    for (size_t i = 0; i < sizeof type_words / sizeof type_words[0]; i++)
        if (has_word(lower, type_words[i]))
            rc |= add(l, f, "metric name should not include type '%s'", type_words[i], NULL);
    if (strchr(n, ':'))
        rc |= add(l, f, "metric names should not contain ':'", NULL, NULL);
    if (camel_case(n))
        rc |= add(l, f, "metric names should be written in 'snake_case' not 'camelCase'", NULL,
                  NULL);
    if (f->camel_label)
        rc |= add(l, f, "label names should be written in 'snake_case' not 'camelCase'", NULL,
                  NULL);
    for (size_t i = 0; i < sizeof unit_abbreviations / sizeof unit_abbreviations[0]; i++) {
        if (has_word(lower, unit_abbreviations[i])) {
            rc |= add(l, f, "metric names should not contain abbreviated units", NULL, NULL);
            break;
        }
    }
    return rc ? -ENOMEM : 0;
}

static int problem_cmp(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;
    int c = strcmp(x->metric, y->metric);
    return c ? c : strcmp(x->text, y->text);
}

int lint_report(struct lint *l, lint_problem_fn fn, void *arg)
{
    int n = 0;

    l->nproblems = 0;
    for (size_t i = 0; i < l->len; i++)
        if (lint_family(l, l->v[i]) < 0)
            return -ENOMEM;
    if (l->nproblems)
        qsort(l->problems, l->nproblems, sizeof *l->problems, problem_cmp);
    for (size_t i = 0; i < l->nproblems; i++) {
        if (i > 0 && problem_cmp(&l->problems[i - 1], &l->problems[i]) == 0)
            continue;
        fn(l->problems[i].metric, l->problems[i].text, arg);
        n++;
    }
    return n;
}
