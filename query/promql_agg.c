/* promql_agg.c — aggregation operators (sum avg count min max group stddev
 * stdvar topk bottomk quantile count_values limitk limit_ratio) with by and
 * without, grouping and float arithmetic as Prometheus 3 does them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "promql_eval_int.h"

struct group {
    struct pe_lset ls;
    int drop_name;
    double value, kahan, mean, count;
    int incremental_mean;
    struct pe_vec members; /* topk, bottomk, quantile, limitk, limit_ratio */
};

/* Neumaier's improvement of Kahan summation, as Prometheus does it. */
static void kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (isinf(t))
        *c = 0;
    else if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

int pe_float_cmp_asc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return x < y ? -1 : x > y;
}

double pe_quantile(double q, double *v, size_t n)
{
    if (!n || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(v, n, sizeof(*v), pe_float_cmp_asc);
    double rank = q * (double)(n - 1);
    double lo = fmax(0, floor(rank)), hi = fmin((double)n - 1, lo + 1);
    double w = rank - floor(rank);
    return v[(size_t)lo] * (1 - w) + v[(size_t)hi] * w;
}

static void avg_add(struct group *g, double f)
{
    if (!g->incremental_mean) {
        double v = g->value, k = g->kahan;
        kahan_inc(f, &v, &k);
        if (!isinf(v)) {
            g->value = v;
            g->kahan = k;
            return;
        }
        g->incremental_mean = 1;
        g->mean = g->value / (g->count - 1);
        g->kahan /= g->count - 1;
    }
    if (isinf(g->mean)) {
        if (isinf(f) && (g->mean > 0) == (f > 0))
            return;
        if (!isinf(f) && !isnan(f))
            return;
    }
    double q = (g->count - 1) / g->count;
    double m = q * g->mean, k = q * g->kahan;
    kahan_inc(f / g->count, &m, &k);
    g->mean = m;
    g->kahan = k;
}

static void group_add(struct pe_ctx *c, enum promql_agg op, struct group *g,
                      const struct pe_sample *s, int first)
{
    double f = s->v;
    g->count++;
    switch (op) {
    case PROMQL_AGG_SUM:
        kahan_inc(f, &g->value, &g->kahan);
        break;
    case PROMQL_AGG_AVG:
        if (first)
            g->value = f;
        else
            avg_add(g, f);
        break;
    case PROMQL_AGG_COUNT:
    case PROMQL_AGG_GROUP:
    case PROMQL_AGG_COUNT_VALUES:
        break;
    case PROMQL_AGG_MIN:
        if (first || g->value > f || isnan(g->value))
            g->value = f;
        break;
    case PROMQL_AGG_MAX:
        if (first || g->value < f || isnan(g->value))
            g->value = f;
        break;
    case PROMQL_AGG_STDDEV:
    case PROMQL_AGG_STDVAR: {
        double delta = f - g->mean;
        g->mean += delta / g->count;
        g->value += delta * (f - g->mean);
        break;
    }
    case PROMQL_AGG_TOPK:
    case PROMQL_AGG_BOTTOMK:
    case PROMQL_AGG_QUANTILE:
    case PROMQL_AGG_LIMITK:
    case PROMQL_AGG_LIMIT_RATIO:
        pe_vec_push(c, &g->members, *s);
        break;
    }
}

static double group_value(enum promql_agg op, const struct group *g)
{
    switch (op) {
    case PROMQL_AGG_SUM:
        return g->value + g->kahan;
    case PROMQL_AGG_AVG:
        if (g->incremental_mean)
            return g->mean + g->kahan;
        return (g->value + g->kahan) / g->count;
    case PROMQL_AGG_COUNT:
    case PROMQL_AGG_COUNT_VALUES:
        return g->count;
    case PROMQL_AGG_GROUP:
        return 1;
    case PROMQL_AGG_STDVAR:
        return g->value / g->count;
    case PROMQL_AGG_STDDEV:
        return sqrt(g->value / g->count);
    case PROMQL_AGG_MIN:
    case PROMQL_AGG_MAX:
    case PROMQL_AGG_TOPK:
    case PROMQL_AGG_BOTTOMK:
    case PROMQL_AGG_QUANTILE:
    case PROMQL_AGG_LIMITK:
    case PROMQL_AGG_LIMIT_RATIO:
        break;
    }
    return g->value;
}

/* strconv.FormatFloat(f, 'f', -1, 64): the shortest digits that read back
 * as f, without an exponent. */
static char *format_float_f(struct pe_ctx *c, double f)
{
    if (isnan(f))
        return pe_strdup(c, "NaN");
    if (isinf(f))
        return pe_strdup(c, f > 0 ? "+Inf" : "-Inf");
    char buf[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f)
            break;
    }
    /* buf: [-]d.ddde[+-]XX */
    char digits[32];
    size_t nd = 0;
    const char *p = buf;
    int neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char *out = pe_alloc(c, nd + 400), *o = out;
    if (neg)
        *o++ = '-';
    if (exp < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > exp; i--)
            *o++ = '0';
        memcpy(o, digits, nd);
        o += nd;
    } else {
        for (int i = 0; i <= exp || i < (int)nd; i++) {
            if (i == exp + 1)
                *o++ = '.';
            *o++ = i < (int)nd ? digits[i] : '0';
        }
    }
    *o = 0;
    return out;
}

static int cmp_desc(const void *a, const void *b)
{
    const struct pe_sample *x = a, *y = b;
    if (isnan(x->v))
        return isnan(y->v) ? 0 : 1;
    if (isnan(y->v))
        return -1;
    return x->v > y->v ? -1 : x->v < y->v;
}

static int cmp_asc(const void *a, const void *b)
{
    const struct pe_sample *x = a, *y = b;
    if (isnan(x->v))
        return isnan(y->v) ? 0 : 1;
    if (isnan(y->v))
        return -1;
    return x->v < y->v ? -1 : x->v > y->v;
}

static double labels_ratio(const struct pe_lset *ls)
{
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    for (size_t i = 0; i < ls->n; i++) {
        XXH64_update(st, ls->v[i].name, strlen(ls->v[i].name));
        XXH64_update(st, "\xff", 1);
        XXH64_update(st, ls->v[i].value, strlen(ls->v[i].value));
        XXH64_update(st, "\xff", 1);
    }
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return (double)h / (double)UINT64_MAX;
}

/* Appends the members of g that op selects with parameter k/ratio. */
static void emit_members(struct pe_ctx *c, enum promql_agg op, struct group *g, double param,
                         struct pe_vec *out)
{
    struct pe_vec *m = &g->members;
    if (op == PROMQL_AGG_LIMIT_RATIO) {
        for (size_t i = 0; i < m->n; i++) {
            double off = labels_ratio(&m->v[i].ls);
            if ((param >= 0 && off < param) || (param < 0 && off >= 1.0 + param))
                pe_vec_push(c, out, m->v[i]);
        }
        return;
    }
    size_t k = param >= (double)m->n ? m->n : (size_t)param;
    if (op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK) {
        /* the first k of a stable sort (input order kept among equal
         * values): an insertion sort of v[0..k) where later members enter
         * only when strictly before the current k-th, O(n k) */
        struct pe_sample *v = m->v;
        int (*cmp)(const void *, const void *) = op == PROMQL_AGG_TOPK ? cmp_desc : cmp_asc;
        size_t kept = 0;
        for (size_t i = 0; i < m->n && k; i++) {
            struct pe_sample x = v[i];
            size_t j;
            if (kept < k) {
                j = kept++;
            } else {
                if (cmp(&v[k - 1], &x) <= 0)
                    continue;
                j = k - 1;
            }
            while (j > 0 && cmp(&v[j - 1], &x) > 0) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
    }
    for (size_t i = 0; i < k; i++)
        pe_vec_push(c, out, m->v[i]);
}

static double agg_param(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    enum promql_agg op = n->aggregate.op;
    double p = pe_eval(c, n->aggregate.param, t).f;
    switch (op) {
    case PROMQL_AGG_TOPK:
    case PROMQL_AGG_BOTTOMK:
    case PROMQL_AGG_LIMITK:
        if (isnan(p))
            pe_fail(c, PROMQL_ERR_EXECUTION, "Parameter value is NaN");
        if (p > 9.2e18)
            p = 9.2e18;
        if (p < -9.2e18)
            p = -9.2e18;
        return trunc(p);
    case PROMQL_AGG_LIMIT_RATIO:
        if (isnan(p))
            pe_fail(c, PROMQL_ERR_EXECUTION, "Ratio value is NaN");
        if (p < -1 || p > 1) {
            double cap = p < -1 ? -1 : 1;
            pe_warn(c, n->aggregate.param,
                    "ratio value should be between -1 and 1, got %g, capping to %g", p, cap);
            p = cap;
        }
        return p;
    case PROMQL_AGG_QUANTILE:
        if (isnan(p) || p < 0 || p > 1)
            pe_warn(c, n->aggregate.param, "quantile value should be between 0 and 1, got %s",
                    isnan(p) ? "NaN" : pe_printf(c, "%g", p));
        return p;
    case PROMQL_AGG_SUM:
    case PROMQL_AGG_AVG:
    case PROMQL_AGG_COUNT:
    case PROMQL_AGG_MIN:
    case PROMQL_AGG_MAX:
    case PROMQL_AGG_STDDEV:
    case PROMQL_AGG_STDVAR:
    case PROMQL_AGG_GROUP:
    case PROMQL_AGG_COUNT_VALUES:
        break;
    }
    return p;
}

/* Grouping of one aggregation node, kept for the whole query: group ids
 * by group key, their labels, and the group id of each input series id
 * (selector series keep their id from step to step, so their group is
 * found without building a key). */
struct pe_agg_cache {
    struct pe_agg_cache *next;
    const struct promql_node *node;
    size_t *gid_of_id; /* series id -> group id + 1 */
    struct pe_map keys;
    struct pe_lset *gls;
    size_t ngid, cap;
};

static struct pe_agg_cache *agg_cache(struct pe_ctx *c, const struct promql_node *n)
{
    struct pe_agg_cache *ac = c->agg_caches;
    while (ac && ac->node != n)
        ac = ac->next;
    if (ac)
        return ac;
    pe_query_arena_enter(c);
    ac = pe_alloc(c, sizeof(*ac));
    ac->node = n;
    ac->gid_of_id = pe_alloc(c, (c->nids + 1) * sizeof(*ac->gid_of_id));
    pe_map_init(c, &ac->keys, 16);
    pe_query_arena_leave(c);
    ac->next = c->agg_caches;
    c->agg_caches = ac;
    return ac;
}

/* The group id of ls (series id id) in ac, creating the group. */
static size_t group_id(struct pe_ctx *c, struct pe_agg_cache *ac, const struct pe_lset *ls,
                       size_t id)
{
    const struct promql_labels *grouping = &ac->node->aggregate.grouping;
    int without = ac->node->aggregate.without;
    size_t len, gid;
    const char *k = pe_lset_key(c, ls, grouping, !without, without, &len);
    if (!pe_map_get(&ac->keys, k, len, &gid)) {
        pe_query_arena_enter(c);
        gid = ac->ngid++;
        char *kc = pe_alloc(c, len + 1);
        memcpy(kc, k, len);
        pe_map_put(c, &ac->keys, kc, len, gid);
        if (gid == ac->cap) {
            size_t cap = ac->cap ? 2 * ac->cap : 16;
            struct pe_lset *g = pe_alloc(c, cap * sizeof(*g));
            if (ac->ngid > 1)
                memcpy(g, ac->gls, (ac->ngid - 1) * sizeof(*g));
            ac->gls = g;
            ac->cap = cap;
        }
        struct pe_lset g = pe_lset_filter(c, *ls, grouping, !without);
        ac->gls[gid] = without ? pe_lset_del(c, g, "__name__") : g;
        pe_query_arena_leave(c);
    }
    if (id != SIZE_MAX)
        ac->gid_of_id[id] = gid + 1;
    return gid;
}

struct pe_val pe_aggregate(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    enum promql_agg op = n->aggregate.op;
    const struct promql_labels *grouping = &n->aggregate.grouping;
    int without = n->aggregate.without;
    double param = 0;
    const char *cv_label = NULL;
    if (op == PROMQL_AGG_COUNT_VALUES) {
        cv_label = pe_eval(c, n->aggregate.param, t).str;
        if (!tsdb_label_name_valid(cv_label))
            pe_fail(c, PROMQL_ERR_EXECUTION, "invalid label name %s", pe_go_quote(c, cv_label));
    } else if (n->aggregate.param) {
        param = agg_param(c, n, t);
    }
    struct pe_val in = pe_eval(c, n->aggregate.expr, t);
    struct pe_val out = {.type = PROMQL_TYPE_VECTOR};
    if ((op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_LIMITK) &&
        param < 1)
        return out;

    struct group *groups;
    size_t ngroups = 0, gcap;
    struct pe_map map;
    struct pe_agg_cache *ac = NULL;
    size_t *step_group = NULL; /* group id -> index in groups + 1 */
    if (cv_label) {
        pe_map_init(c, &map, in.vec.n);
        gcap = in.vec.n + 1;
    } else {
        ac = agg_cache(c, n);
        step_group = pe_alloc(c, (ac->ngid + in.vec.n + 1) * sizeof(*step_group));
        gcap = ac->ngid + 8; /* the groups of earlier steps, usually all */
    }
    groups = pe_alloc(c, gcap * sizeof(*groups));
    for (size_t i = 0; i < in.vec.n; i++) {
        struct pe_sample s = in.vec.v[i];
        pe_tick(c);
        if (ac) {
            size_t id = pe_series_id(c, &s.ls);
            size_t gid = id != SIZE_MAX && ac->gid_of_id[id] ? ac->gid_of_id[id] - 1
                                                              : group_id(c, ac, &s.ls, id);
            int first = !step_group[gid];
            if (first) {
                if (ngroups == gcap) {
                    struct group *g = pe_alloc(c, 2 * gcap * sizeof(*g));
                    memcpy(g, groups, ngroups * sizeof(*g));
                    groups = g;
                    gcap *= 2;
                }
                step_group[gid] = ++ngroups;
                groups[ngroups - 1].ls = ac->gls[gid];
            }
            struct group *g = &groups[step_group[gid] - 1];
            g->drop_name |= s.drop_name;
            group_add(c, op, g, &s, first);
            continue;
        }
        struct pe_lset ls = s.ls;
        if (cv_label) {
            ls = pe_lset_set(c, ls, cv_label, format_float_f(c, s.v));
        }
        size_t len, gi;
        const char *k = pe_lset_key(c, &ls, grouping, !without, without, &len);
        if (cv_label) {
            /* count_values groups by the grouping labels and the value */
            const char *v = pe_lset_get(&ls, cv_label);
            size_t vl = strlen(v);
            char *k2 = pe_alloc(c, len + vl + 2);
            memcpy(k2, k, len);
            k2[len] = '\x02';
            memcpy(k2 + len + 1, v, vl);
            k = k2;
            len += vl + 1;
        }
        int first = !pe_map_get(&map, k, len, &gi);
        if (first) {
            gi = ngroups++;
            pe_map_put(c, &map, k, len, gi);
            struct group *g = &groups[gi];
            if (without) {
                g->ls = pe_lset_filter(c, ls, grouping, 0);
                g->ls = pe_lset_del(c, g->ls, "__name__");
            } else {
                g->ls = pe_lset_filter(c, ls, grouping, 1);
            }
            if (cv_label)
                g->ls = pe_lset_set(c, g->ls, cv_label, pe_lset_get(&ls, cv_label));
        }
        groups[gi].drop_name |= s.drop_name;
        group_add(c, op, &groups[gi], &s, first);
    }
    for (size_t i = 0; i < ngroups; i++) {
        struct group *g = &groups[i];
        switch (op) {
        case PROMQL_AGG_TOPK:
        case PROMQL_AGG_BOTTOMK:
        case PROMQL_AGG_LIMITK:
        case PROMQL_AGG_LIMIT_RATIO:
            emit_members(c, op, g, param, &out.vec);
            continue;
        case PROMQL_AGG_QUANTILE: {
            double *v = pe_alloc(c, (g->members.n + 1) * sizeof(*v));
            for (size_t j = 0; j < g->members.n; j++)
                v[j] = g->members.v[j].v;
            g->value = pe_quantile(param, v, g->members.n);
            break;
        }
        case PROMQL_AGG_SUM:
        case PROMQL_AGG_AVG:
        case PROMQL_AGG_COUNT:
        case PROMQL_AGG_MIN:
        case PROMQL_AGG_MAX:
        case PROMQL_AGG_STDDEV:
        case PROMQL_AGG_STDVAR:
        case PROMQL_AGG_GROUP:
        case PROMQL_AGG_COUNT_VALUES:
            break;
        }
        int drop = g->drop_name && pe_lset_get(&g->ls, "__name__")[0];
        pe_vec_push(c, &out.vec, (struct pe_sample){g->ls, t, group_value(op, g), drop});
    }
    return out;
}
