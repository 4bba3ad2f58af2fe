/* statsd_agg.c — statsd aggregation: parsed metrics are folded into one
 * aggregate per series (mapped name + sorted labels) and written into the
 * store at every flush as the series a PromQL user expects. The mapping and
 * every series each type produces are documented in docs/statsd.md.
 *
 * Design notes:
 *   - Series live in a chained hash table keyed by their canonical key
 *     "name\0label\0value\0...", labels sorted; families (series sharing a
 *     mapped name) in a second table, for the per-metric limit and the
 *     first-type-wins rule. statsd_agg_add builds the key in a scratch
 *     buffer and allocates only when a series is created (and when a
 *     sketch first sees a wider range of values).
 *   - Each series caches the tsdb_ref of each stored series it writes,
 *     resolved at its first flush into a store; a different store passed
 *     to statsd_agg_flush resolves them again.
 *   - Counters and gauges keep their value for the series' whole life;
 *     histogram buckets, _sum and _count are cumulative; quantile sketches
 *     and set counters cover one interval and are cleared at each flush.
 */
#include "statsd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "ddsketch.h"
#include "hll.h"

#define SET_PRECISION 12        /* 4 KiB per set series, 1.6 % standard error */
#define NO_REF UINT32_MAX       /* not resolved yet */
/* A key: mapped name (one byte longer at most) and NUL, then per tag the
 * mapped key (one longer), NUL, value, NUL. */
#define KEY_MAX (STATSD_MAX_LINE + 2 + 3 * STATSD_MAX_TAGS)
#define LE_MAX 32               /* "+Inf", "0.005", "1.2345678901234567e+300" */

static const double default_quantiles[] = {0.5, 0.9, 0.99};
/* Prometheus' DefBuckets, in seconds */
static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10};

void statsd_config_default(struct statsd_config *c)
{
    c->flush_interval_ms = 10000;
    c->quantiles = default_quantiles;
    c->nquantiles = sizeof default_quantiles / sizeof *default_quantiles;
    c->buckets = default_buckets;
    c->nbuckets = sizeof default_buckets / sizeof *default_buckets;
    c->sketch_relative_error = DDSKETCH_DEFAULT_ALPHA;
    c->idle_expire_ms = 5 * 60 * 1000;
    c->max_series = 100000;
    c->max_series_per_metric = 10000;
}

/* ---- hash tables ------------------------------------------------------- */

struct node {
    struct node *next;
    uint64_t hash;
    const char *key;
    size_t key_len;
};

struct table {
    struct node **slots;
    size_t cap;          /* a power of two */
    size_t n;
};

static int table_init(struct table *t, size_t cap)
{
    t->slots = calloc(cap, sizeof *t->slots);
    t->cap = cap;
    t->n = 0;
    return t->slots ? 0 : -ENOMEM;
}

static struct node *table_find(const struct table *t, uint64_t hash, const char *key,
                               size_t len)
{
    for (struct node *n = t->slots[hash & (t->cap - 1)]; n; n = n->next)
        if (n->hash == hash && n->key_len == len && !memcmp(n->key, key, len))
            return n;
    return NULL;
}

/* Inserts n; doubles the slots at load 1 when memory allows (chains only
 * grow longer otherwise), so it cannot fail. */
static void table_insert(struct table *t, struct node *n)
{
    if (t->n >= t->cap) {
        struct node **ns = calloc(2 * t->cap, sizeof *ns);
        if (ns) {
            for (size_t i = 0; i < t->cap; i++)
                for (struct node *x = t->slots[i], *next; x; x = next) {
                    next = x->next;
                    x->next = ns[x->hash & (2 * t->cap - 1)];
                    ns[x->hash & (2 * t->cap - 1)] = x;
                }
            free(t->slots);
            t->slots = ns;
            t->cap *= 2;
        }
    }
    struct node **b = &t->slots[n->hash & (t->cap - 1)];
    n->next = *b;
    *b = n;
    t->n++;
}

static void table_remove(struct table *t, struct node *n)
{
    struct node **p = &t->slots[n->hash & (t->cap - 1)];
    while (*p != n)
        p = &(*p)->next;
    *p = n->next;
    t->n--;
}

/* ---- series ------------------------------------------------------------ */

struct family {          /* the series of one mapped metric name */
    struct node node;
    enum statsd_type type;   /* of its first series */
    uint32_t nseries;
    char name[];
};

struct hist {            /* timers, histograms, distributions */
    double sum;
    struct ddsketch *sketch;     /* this interval's values */
    double per_bucket[];         /* nbuckets + 1: weight up to each bound */
};

/* refs of a histogram-like series: nbuckets + 1 buckets (the last is
 * +Inf), then _sum, _count and one per quantile */
struct series {
    struct node node;
    struct family *fam;
    enum statsd_type type;
    size_t pos;              /* in agg->all */
    int64_t last_seen_ms;
    int fresh;               /* received metrics since the last flush */
    int64_t ts_ms;           /* newest DogStatsD timestamp this interval, or INT64_MIN */
    double value;            /* counter total, gauge value */
    struct hist *hist;
    struct hll *set;
    uint32_t nrefs;
    tsdb_ref *refs;          /* after the key, in the same allocation */
    char key[];              /* next to the hash for a quick lookup */
};

struct statsd_agg {
    struct statsd_config cfg;    /* quantiles and buckets point below */
    double *quantiles, *buckets;
    char (*le)[LE_MAX];          /* nbuckets + 1 bucket labels, "+Inf" last */
    char (*qlabel)[LE_MAX];
    struct table series, families;
    struct series **all;
    size_t nall, all_cap;
    struct tsdb *db;             /* where refs were resolved */
    struct statsd_agg_stats stats;
    uint64_t flush_written;      /* appended in the current flush */
    char key[KEY_MAX];           /* the key being looked up */
    char tagkeys[KEY_MAX];       /* mapped tag keys, before sorting */
    char outname[KEY_MAX + 16];  /* a stored series' name */
};

/* Formats v the way Go's strconv.FormatFloat(v, 'g', -1, 64) does, as
 * Prometheus client libraries write le and quantile labels: the shortest
 * digits that read back as v, exponent form below 1e-4 and from 1e6. */
static void format_label(char *buf, size_t cap, double v)
{
    if (isinf(v)) {
        snprintf(buf, cap, "%cInf", v > 0 ? '+' : '-');
        return;
    }
    int p = 1;
    for (; p < 17; p++) {
        snprintf(buf, cap, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, cap, "%.*e", p - 1, v);
    int exp = atoi(strchr(buf, 'e') + 1);
    if (exp >= -4 && exp < 6)
        snprintf(buf, cap, "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0, v);
}

static int histogram_like(enum statsd_type t)
{
    return t == STATSD_TIMER || t == STATSD_HISTOGRAM || t == STATSD_DISTRIBUTION;
}

static uint32_t refs_of(const struct statsd_agg *a, enum statsd_type t)
{
    return histogram_like(t) ? (uint32_t)(a->cfg.nbuckets + 3 + a->cfg.nquantiles) : 1;
}

static int config_valid(const struct statsd_config *c)
{
    if (c->flush_interval_ms <= 0 || c->idle_expire_ms < 0 ||
        !(c->sketch_relative_error > 0 && c->sketch_relative_error < 1))
        return 0;
    for (size_t i = 0; i < c->nquantiles; i++)
        if (!(c->quantiles[i] >= 0 && c->quantiles[i] <= 1))
            return 0;
    for (size_t i = 0; i < c->nbuckets; i++)
        if (!isfinite(c->buckets[i]) || (i && !(c->buckets[i] > c->buckets[i - 1])))
            return 0;
    return 1;
}

int statsd_agg_new(const struct statsd_config *c, struct statsd_agg **out)
{
    if (!config_valid(c))
        return -EINVAL;
    struct statsd_agg *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->cfg = *c;
    a->quantiles = calloc(c->nquantiles + 1, sizeof *a->quantiles);
    a->buckets = calloc(c->nbuckets + 1, sizeof *a->buckets);
    a->le = calloc(c->nbuckets + 1, sizeof *a->le);
    a->qlabel = calloc(c->nquantiles + 1, sizeof *a->qlabel);
    if (!a->quantiles || !a->buckets || !a->le || !a->qlabel ||
        table_init(&a->series, 1024) || table_init(&a->families, 256)) {
        statsd_agg_free(a);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->nquantiles; i++) {
        a->quantiles[i] = c->quantiles[i];
        format_label(a->qlabel[i], LE_MAX, c->quantiles[i]);
    }
    for (size_t i = 0; i < c->nbuckets; i++) {
        a->buckets[i] = c->buckets[i];
        format_label(a->le[i], LE_MAX, c->buckets[i]);
    }
    format_label(a->le[c->nbuckets], LE_MAX, INFINITY);
    a->cfg.quantiles = a->quantiles;
    a->cfg.buckets = a->buckets;
    *out = a;
    return 0;
}

static void series_free(struct series *s)
{
    if (s->hist)
        ddsketch_free(s->hist->sketch);
    free(s->hist);
    hll_free(s->set);
    free(s);
}

void statsd_agg_free(struct statsd_agg *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nall; i++)
        series_free(a->all[i]);
    for (size_t i = 0; a->families.slots && i < a->families.cap; i++)
        for (struct node *n = a->families.slots[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    free(a->series.slots);
    free(a->families.slots);
    free(a->all);
    free(a->quantiles);
    free(a->buckets);
    free(a->le);
    free(a->qlabel);
    free(a);
}

/* ---- mapping ----------------------------------------------------------- */

/* Copies src to dst with every character outside [a-zA-Z0-9_] (and ':'
 * when colon) replaced by one '_' (one per UTF-8 character, not per byte),
 * and a '_' before a leading digit. @return bytes written (len + 1 at
 * most). */
static size_t map_name(char *dst, const char *src, size_t len, int colon)
{
    size_t n = 0;
    if (len && src[0] >= '0' && src[0] <= '9')
        dst[n++] = '_';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || (colon && c == ':'))
            dst[n++] = (char)c;
        else if ((c & 0xc0) != 0x80)
            dst[n++] = '_';
    }
    return n;
}

struct label_ref {
    const char *key, *value;
    size_t key_len, value_len;
};

static int label_cmp(const struct label_ref *x, const struct label_ref *y)
{
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Whether tag t becomes a label of a series of type type (see
 * docs/statsd.md: bare tags, empty keys, reserved and histogram names). */
static int label_kept(const struct label_ref *t, enum statsd_type type)
{
    if (!t->key_len || !t->value_len || memchr(t->value, 0, t->value_len))
        return 0;
    if (t->key_len >= 2 && t->key[0] == '_' && t->key[1] == '_')
        return 0;
    if (histogram_like(type) &&
        ((t->key_len == 2 && !memcmp(t->key, "le", 2)) ||
         (t->key_len == 8 && !memcmp(t->key, "quantile", 8))))
        return 0;
    return 1;
}

/* Builds m's series key in a->key. @return its length, or a negative
 * errno when m is out of the parser's bounds. */
static ssize_t build_key(struct statsd_agg *a, const struct statsd_metric *m)
{
    size_t need = m->name_len + 2;
    if (!m->name_len || m->ntags > STATSD_MAX_TAGS)
        return -EINVAL;
    for (size_t i = 0; i < m->ntags; i++)
        need += m->tags[i].key_len + m->tags[i].value_len + 3;
    if (need > KEY_MAX)
        return -E2BIG;

    struct label_ref t[STATSD_MAX_TAGS];
    size_t nt = 0, used = 0;
    for (size_t i = 0; i < m->ntags; i++) {
        struct label_ref l = {a->tagkeys + used, m->tags[i].value, 0, m->tags[i].value_len};
        l.key_len = map_name(a->tagkeys + used, m->tags[i].key, m->tags[i].key_len, 0);
        if (!label_kept(&l, m->type))
            continue;
        used += l.key_len;
        size_t j = nt++;   /* insertion sort, stable */
        for (; j > 0 && label_cmp(&t[j - 1], &l) > 0; j--)
            t[j] = t[j - 1];
        t[j] = l;
    }
    size_t n = map_name(a->key, m->name, m->name_len, 1);
    a->key[n++] = 0;
    for (size_t i = 0; i < nt; i++) {
        if (i + 1 < nt && !label_cmp(&t[i], &t[i + 1]))
            continue;      /* a repeated key: the last value wins */
        memcpy(a->key + n, t[i].key, t[i].key_len);
        n += t[i].key_len;
        a->key[n++] = 0;
        memcpy(a->key + n, t[i].value, t[i].value_len);
        n += t[i].value_len;
        a->key[n++] = 0;
    }
    return (ssize_t)n;
}

/* ---- adding ------------------------------------------------------------ */

/* The family of name, created (with type) when it has none. */
static struct family *family_get(struct statsd_agg *a, const char *name, size_t len,
                                 uint64_t hash, enum statsd_type type)
{
    struct family *f = (struct family *)table_find(&a->families, hash, name, len);
    if (f)
        return f;
    f = calloc(1, sizeof *f + len + 1);
    if (!f)
        return NULL;
    memcpy(f->name, name, len + 1);
    f->node.hash = hash;
    f->node.key = f->name;
    f->node.key_len = len;
    f->type = type;
    table_insert(&a->families, &f->node);
    return f;
}

static void family_put(struct statsd_agg *a, struct family *f)
{
    if (f->nseries == 0) {
        table_remove(&a->families, &f->node);
        free(f);
    }
}

static int series_state_new(struct statsd_agg *a, struct series *s)
{
    if (s->type == STATSD_SET)
        return hll_new(SET_PRECISION, &s->set);
    if (!histogram_like(s->type))
        return 0;
    s->hist = calloc(1, sizeof *s->hist + (a->cfg.nbuckets + 1) * sizeof(double));
    if (!s->hist)
        return -ENOMEM;
    return ddsketch_new(a->cfg.sketch_relative_error, DDSKETCH_DEFAULT_MAX_BUCKETS,
                        &s->hist->sketch);
}

/* Creates the series whose key is in a->key, within the limits.
 * @return 0 and *out, -EEXIST (type conflict), -ENOSPC (limits), -ENOMEM. */
static int series_create(struct statsd_agg *a, uint64_t hash, size_t key_len,
                         enum statsd_type type, struct series **out)
{
    size_t name_len = strlen(a->key);
    uint64_t name_hash = XXH3_64bits(a->key, name_len);
    struct family *f = (struct family *)table_find(&a->families, name_hash, a->key, name_len);
    if (f && f->type != type) {
        a->stats.dropped_type_conflict++;
        return -EEXIST;
    }
    if (f && a->cfg.max_series_per_metric && f->nseries >= a->cfg.max_series_per_metric) {
        a->stats.dropped_metric_limit++;
        return -ENOSPC;
    }
    if (a->cfg.max_series && a->nall >= a->cfg.max_series) {
        a->stats.dropped_series_limit++;
        return -ENOSPC;
    }
    if (a->nall == a->all_cap) {
        size_t cap = a->all_cap ? 2 * a->all_cap : 1024;
        struct series **all = realloc(a->all, cap * sizeof *all);
        if (!all)
            return -ENOMEM;
        a->all = all;
        a->all_cap = cap;
    }
    uint32_t nrefs = refs_of(a, type);
    size_t refs_at = (sizeof(struct series) + key_len + sizeof(tsdb_ref) - 1) & ~(sizeof(tsdb_ref) - 1);
    struct series *s = calloc(1, refs_at + nrefs * sizeof(tsdb_ref));
    if (!s)
        return -ENOMEM;
    s->type = type;
    s->nrefs = nrefs;
    s->ts_ms = INT64_MIN;
    s->refs = (tsdb_ref *)((char *)s + refs_at);
    for (uint32_t i = 0; i < nrefs; i++)
        s->refs[i] = NO_REF;
    memcpy(s->key, a->key, key_len);
    s->node.hash = hash;
    s->node.key = s->key;
    s->node.key_len = key_len;
    f = family_get(a, a->key, name_len, name_hash, type);
    if (!f || series_state_new(a, s)) {
        if (f)
            family_put(a, f);
        series_free(s);
        return -ENOMEM;
    }
    s->fam = f;
    f->nseries++;
    s->pos = a->nall;
    a->all[a->nall++] = s;
    table_insert(&a->series, &s->node);
    a->stats.series_created++;
    *out = s;
    return 0;
}

static void series_remove(struct statsd_agg *a, struct series *s)
{
    table_remove(&a->series, &s->node);
    a->all[s->pos] = a->all[--a->nall];
    a->all[s->pos]->pos = s->pos;
    s->fam->nseries--;
    family_put(a, s->fam);
    series_free(s);
}

static void observe_hist(struct statsd_agg *a, struct hist *h, double x, double w)
{
    size_t lo = 0, hi = a->cfg.nbuckets; /* first bound >= x */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->buckets[mid] >= x)
            hi = mid;
        else
            lo = mid + 1;
    }
    h->per_bucket[lo] += w;
    h->sum += x * w;
    /* -ENOMEM here costs this value its place in the quantiles only */
    ddsketch_add(h->sketch, x, w);
}

static void observe(struct statsd_agg *a, struct series *s, const struct statsd_metric *m)
{
    double w = 1 / m->sample_rate;
    switch (s->type) {
    case STATSD_COUNTER:
        for (size_t i = 0; i < m->nvalues; i++)
            s->value += m->values[i] * w;
        break;
    case STATSD_GAUGE:
        for (size_t i = 0; i < m->nvalues; i++)
            s->value = m->gauge_delta ? s->value + m->values[i] : m->values[i];
        break;
    case STATSD_TIMER:
    case STATSD_HISTOGRAM:
    case STATSD_DISTRIBUTION:
        for (size_t i = 0; i < m->nvalues; i++)
            observe_hist(a, s->hist, s->type == STATSD_TIMER ? m->values[i] / 1000
                                                              : m->values[i], w);
        break;
    case STATSD_SET:
        hll_add(s->set, m->set_member ? m->set_member : "", m->set_member_len);
        break;
    }
    if (m->has_timestamp && (s->type == STATSD_COUNTER || s->type == STATSD_GAUGE) &&
        m->timestamp_ms > s->ts_ms)
        s->ts_ms = m->timestamp_ms;
}

/* Whether m's values can be aggregated: finite, a rate in (0, 1], and no
 * negative counter increments (statsd_exporter drops those too: a
 * cumulative counter that goes down reads as a reset to rate()). */
static int metric_valid(const struct statsd_metric *m)
{
    if (!(m->sample_rate > 0 && m->sample_rate <= 1) || m->nvalues > STATSD_MAX_VALUES ||
        (m->type != STATSD_SET && m->nvalues == 0))
        return 0;
    for (size_t i = 0; i < m->nvalues; i++)
        if (!isfinite(m->values[i]) || (m->type == STATSD_COUNTER && m->values[i] < 0))
            return 0;
    return 1;
}

int statsd_agg_add(struct statsd_agg *a, const struct statsd_metric *m, int64_t now_ms)
{
    if (!metric_valid(m)) {
        a->stats.dropped_invalid++;
        return -EINVAL;
    }
    ssize_t len = build_key(a, m);
    if (len < 0) {
        a->stats.dropped_invalid++;
        return (int)len;
    }
    uint64_t h = XXH3_64bits(a->key, (size_t)len);
    struct series *s = (struct series *)table_find(&a->series, h, a->key, (size_t)len);
    if (!s) {
        int rc = series_create(a, h, (size_t)len, m->type, &s);
        if (rc)
            return rc;
    } else if (s->type != m->type) {
        a->stats.dropped_type_conflict++;
        return -EEXIST;
    }
    s->last_seen_ms = now_ms;
    s->fresh = 1;
    observe(a, s, m);
    a->stats.metrics += m->type == STATSD_SET ? 1 : m->nvalues;
    return 0;
}

/* ---- flushing ---------------------------------------------------------- */

/* Resolves stored series i of s: its labels are the key's plus the name
 * suffix and le / quantile label of that output. */
static int resolve(struct statsd_agg *a, struct tsdb *db, struct series *s, uint32_t i)
{
    const char *key = s->node.key, *end = key + s->node.key_len;
    size_t nb = a->cfg.nbuckets;
    const char *suffix = "", *extra = NULL, *extra_value = NULL;
    size_t name_len = strlen(key);
    if (s->type == STATSD_COUNTER) {
        if (name_len < 6 || strcmp(key + name_len - 6, "_total"))
            suffix = "_total";
    } else if (histogram_like(s->type)) {
        if (i <= nb) {
            suffix = "_bucket";
            extra = "le";
            extra_value = a->le[i];
        } else if (i == nb + 1) {
            suffix = "_sum";
        } else if (i == nb + 2) {
            suffix = "_count";
        } else {
            extra = "quantile";
            extra_value = a->qlabel[i - nb - 3];
        }
    }
    snprintf(a->outname, sizeof a->outname, "%s%s", key, suffix);

    struct tsdb_label l[STATSD_MAX_TAGS + 2];
    size_t n = 0;
    l[n++] = (struct tsdb_label){"__name__", a->outname};
    for (const char *p = key + name_len + 1; p < end;) {
        const char *k = p;
        p += strlen(p) + 1;
        l[n++] = (struct tsdb_label){k, p};
        p += strlen(p) + 1;
    }
    if (extra)
        l[n++] = (struct tsdb_label){extra, extra_value};
    struct tsdb_labels ls = {n, l};
    return tsdb_series_ref(db, &ls, &s->refs[i]);
}

/* Appends one sample to stored series i of s, counting the outcome. */
static void emit(struct statsd_agg *a, struct tsdb *db, struct series *s, uint32_t i,
                 int64_t ts_ms, double v)
{
    if (s->refs[i] == NO_REF && resolve(a, db, s, i)) {
        s->refs[i] = NO_REF;
        a->stats.samples_rejected++;
        return;
    }
    if (tsdb_append(db, s->refs[i], ts_ms, v))
        a->stats.samples_rejected++;
    else
        a->flush_written++;
}

static void write_hist(struct statsd_agg *a, struct tsdb *db, struct series *s, int64_t now_ms)
{
    struct hist *h = s->hist;
    uint32_t nb = (uint32_t)a->cfg.nbuckets;
    double cum = 0;
    for (uint32_t b = 0; b <= nb; b++) {
        cum += h->per_bucket[b];
        emit(a, db, s, b, now_ms, cum);
    }
    emit(a, db, s, nb + 1, now_ms, h->sum);
    emit(a, db, s, nb + 2, now_ms, cum);
    if (ddsketch_count(h->sketch) > 0) {
        for (uint32_t q = 0; q < a->cfg.nquantiles; q++)
            emit(a, db, s, nb + 3 + q, now_ms, ddsketch_quantile(h->sketch, a->quantiles[q]));
        ddsketch_clear(h->sketch);
    }
}

static void write_series(struct statsd_agg *a, struct tsdb *db, struct series *s,
                         int64_t now_ms)
{
    int64_t ts = s->ts_ms != INT64_MIN ? s->ts_ms : now_ms;
    switch (s->type) {
    case STATSD_COUNTER:
    case STATSD_GAUGE:
        emit(a, db, s, 0, ts, s->value);
        s->ts_ms = INT64_MIN;
        break;
    case STATSD_SET:
        emit(a, db, s, 0, now_ms, round(hll_estimate(s->set)));
        hll_clear(s->set);
        break;
    case STATSD_TIMER:
    case STATSD_HISTOGRAM:
    case STATSD_DISTRIBUTION:
        write_hist(a, db, s, now_ms);
        break;
    }
}

/* An expiring series ends every stored series it wrote with a staleness
 * marker, as Prometheus does for a series gone from a scrape. */
static void write_stale(struct statsd_agg *a, struct tsdb *db, struct series *s,
                        int64_t now_ms)
{
    for (uint32_t i = 0; i < s->nrefs; i++)
        if (s->refs[i] != NO_REF)
            emit(a, db, s, i, now_ms, tsdb_stale_nan());
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int statsd_agg_flush(struct statsd_agg *a, struct tsdb *db, int64_t now_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (db != a->db) {
        for (size_t i = 0; i < a->nall; i++)
            for (uint32_t r = 0; r < a->all[i]->nrefs; r++)
                a->all[i]->refs[r] = NO_REF;
        a->db = db;
    }
    a->flush_written = 0;
    for (size_t i = 0; i < a->nall;) {
        struct series *s = a->all[i];
        /* what arrived in this interval is written once even when
         * idle_expire_ms is shorter than the flush interval */
        if (!s->fresh && a->cfg.idle_expire_ms > 0 &&
            now_ms - s->last_seen_ms >= a->cfg.idle_expire_ms) {
            write_stale(a, db, s, now_ms);
            series_remove(a, s);   /* moves the last series to i */
            a->stats.series_expired++;
            continue;
        }
        write_series(a, db, s, now_ms);
        s->fresh = 0;
        i++;
    }
    int rc = tsdb_commit(db);
    if (rc)
        a->stats.samples_rejected += a->flush_written;
    else
        a->stats.samples_written += a->flush_written;
    a->stats.last_flush_seconds = seconds_since(&t0);
    return rc;
}

void statsd_agg_get_stats(const struct statsd_agg *a, struct statsd_agg_stats *out)
{
    *out = a->stats;
}
