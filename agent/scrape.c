/* scrape.c — the scrape manager (see scrape.h): targets from the
 * configuration, one timer per target, the parse of each scrape into the
 * store, synthetic series and staleness markers.
 *
 * Design notes.
 *
 * Targets. scrape_manager_apply and scrape_manager_set_groups rebuild the
 * whole target list in two phases: build() computes every target of the
 * configuration into fresh objects (allocations only, nothing running
 * changes, so -ENOMEM leaves everything as it was); adopt() then matches
 * each fresh target with a running one of the same job, labels and URL
 * (which keeps running with its series, cache and schedule), starts the
 * others and retires the running targets nobody matched (staleness markers
 * for all their series, request cancelled, timer closed, freed in the
 * close callback).
 *
 * One scrape of a target:
 *
 *   timer ──> scrape_start(): request through io.start, t->in_flight
 *   on_done ──> fetch failed / HTTP status != 200 ──────────> fail()
 *           └─> parse(): every sample line is looked up in the target's
 *               cache (key: its labels as scraped); a miss computes the
 *               series (target labels, honor_labels, metric_relabel,
 *               limits) and marks the entry new. Samples go to a buffer,
 *               not the store, so that a parse error or a limit can still
 *               fail the whole scrape ───────────────────> fail()
 *               └─ ok ──> store(): new entries get their series refs,
 *                  the buffer is appended, refs seen last time and not now
 *                  get stale markers, synthetic series, one tsdb_commit
 *   fail(): entries new in this scrape are forgotten, every series of the
 *           last successful scrape gets a stale marker, up 0, commit.
 *
 * Staleness is decided on series refs (the store's ids of the final
 * series), kept sorted per target: what the last scrape appended (without
 * an explicit timestamp) minus what this one appended. The cache drops
 * every entry not seen in a successful scrape, so its size follows what
 * the target currently exposes. */
#include "scrape.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "expfmt.h"
#include "file_sd.h"
#include "log.h"
#include "timefmt.h"

#define SCRAPE_ACCEPT "Accept: " EXPFMT_ACCEPT_HEADER

/* How a scrape ended: vigil_scrapes_total{job, result}. */
#define SCRAPE_RESULTS(X)                                                     \
    X(SCRAPE_SUCCESS, "success")                                              \
    X(SCRAPE_TIMEOUT, "timeout")                                              \
    X(SCRAPE_HTTP_ERROR, "http_error")                                        \
    X(SCRAPE_BAD_STATUS, "bad_status")                                        \
    X(SCRAPE_PARSE_ERROR, "parse_error")                                      \
    X(SCRAPE_LIMIT, "limit_exceeded")                                         \
    X(SCRAPE_STORE_ERROR, "store_error")                                      \
    X(SCRAPE_SKIPPED, "skipped")

enum scrape_result {
#define SCRAPE_RESULT_ENUM(name, label) name,
    SCRAPE_RESULTS(SCRAPE_RESULT_ENUM)
#undef SCRAPE_RESULT_ENUM
    SCRAPE_RESULT_COUNT
};

static const char *const result_label[] = {
#define SCRAPE_RESULT_LABEL(name, label) label,
    SCRAPE_RESULTS(SCRAPE_RESULT_LABEL)
#undef SCRAPE_RESULT_LABEL
};

enum health { HEALTH_UNKNOWN, HEALTH_UP, HEALTH_DOWN };
static const char *const health_name[] = {"unknown", "up", "down"};

/* The synthetic series, in the order they are appended. */
enum { SYN_UP, SYN_DURATION, SYN_SCRAPED, SYN_POST_RELABEL, SYN_ADDED, SYN_COUNT };
static const char *const syn_name[SYN_COUNT] = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added"};

/* Counters of one job name; they outlive reloads. */
struct job_stats {
    struct job_stats *next;
    uint64_t results[SCRAPE_RESULT_COUNT];
    uint64_t samples_appended, samples_rejected, stale_markers;
    uint64_t sd_errors;            /* of file_sd watches already stopped */
    double seconds;
    unsigned active, dropped;      /* targets now */
    char name[];
};

/* A cache entry: one series as the target exposes it. */
enum { CE_NEW = 1, CE_DROPPED = 2, CE_BAD = 4 };
struct centry {
    struct centry *next;           /* in the bucket */
    uint64_t hash;
    uint32_t iter;                 /* last scrape that saw it */
    unsigned flags;
    tsdb_ref ref;
    char *pending;                 /* CE_NEW: final labels, "name\0value\0..." */
    size_t npending;               /* labels in pending */
    size_t keylen;
    char key[];                    /* scraped labels, "name\0value\0..." */
};

struct cache {
    struct centry **b;
    size_t nb, n;                  /* nb: a power of two or 0 */
};

struct refs {
    tsdb_ref *v;
    size_t len, cap;
};

struct target {
    struct target *next;
    struct scrape_manager *m;
    const struct scrape_job *job;  /* in m->cfg */
    struct job_stats *stats;
    struct relabel_labels discovered, labels;
    char *url;
    char timeout_header[64];
    int64_t interval_ms, timeout_ms, offset_ms;
    uv_timer_t timer;
    int in_flight;
    uint64_t req_id;
    int64_t scrape_ts;
    uint64_t start_ns;
    char *secret;                  /* password or token read from a file */
    enum health health;
    char last_error[256];
    int64_t last_scrape_ms;
    double last_duration_s;
    struct cache cache;
    uint32_t iter;
    struct refs prev;              /* sorted: series of the last scrape */
    tsdb_ref syn[SYN_COUNT];
    int syn_ok;
};

struct dropped {
    struct dropped *next;
    const struct scrape_job *job;
    struct relabel_labels discovered;
};

/* Target groups of one discovery source of one job. */
struct source {
    struct source *next;
    char *job, *name;
    struct scrape_static_group *groups;
    size_t n;
};

/* The file_sd_configs of one job; its groups become the source "file_sd". */
struct sd_watch {
    struct sd_watch *next;
    struct scrape_manager *m;
    struct file_sd *sd;
    char job[];
};

struct sample {
    struct centry *e;
    int64_t ts;
    double v;
    int tracked;                   /* counts for staleness */
};

struct scrape_manager {
    uv_loop_t *loop;
    struct tsdb *db;
    struct scrape_io io;
    struct scrape_config cfg;
    struct target *targets;
    struct dropped *dropped;
    struct source *sources;
    struct sd_watch *watches;
    int applying;                  /* set_groups only records the groups */
    struct job_stats *stats;
    /* scratch of the scrape being processed */
    struct sample *samples;
    size_t nsamples, capsamples;
    char *key;
    size_t keylen, keycap;
    struct refs cur;
    /* closing */
    int closing;
    unsigned open_handles;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* What parse() found. */
struct pass {
    size_t scraped, post_relabel, added;
    char err[256];
};

static int64_t now_ms(const struct scrape_manager *m)
{
    return m->io.now_ms ? m->io.now_ms() : timefmt_now_ms();
}

/* ---- small helpers ------------------------------------------------------- */

void scrape_duration_string(int64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        int64_t mult;
        int exact;
    } units[] = {{"y", 365LL * 86400000, 1}, {"w", 7LL * 86400000, 1}, {"d", 86400000, 0},
                 {"h", 3600000, 0},          {"m", 60000, 0},          {"s", 1000, 0},
                 {"ms", 1, 0}};
    size_t len = 0;
    buf[0] = '\0';
    if (ms <= 0) {
        snprintf(buf, size, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if ((units[i].exact && ms % units[i].mult) || ms < units[i].mult)
            continue;
        int64_t v = ms / units[i].mult;
        int n = snprintf(buf + len, size - len, "%lld%s", (long long)v, units[i].unit);
        if (n < 0 || (size_t)n >= size - len)
            return;
        len += (size_t)n;
        ms -= v * units[i].mult;
    }
}

static int refs_push(struct refs *r, tsdb_ref ref)
{
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        tsdb_ref *p = realloc(r->v, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        r->v = p;
        r->cap = cap;
    }
    r->v[r->len++] = ref;
    return 0;
}

static int cmp_ref(const void *a, const void *b)
{
    tsdb_ref x = *(const tsdb_ref *)a, y = *(const tsdb_ref *)b;
    return (x > y) - (x < y);
}

static void refs_sort_unique(struct refs *r)
{
    if (r->len < 2)
        return;
    qsort(r->v, r->len, sizeof *r->v, cmp_ref);
    size_t w = 1;
    for (size_t i = 1; i < r->len; i++)
        if (r->v[i] != r->v[w - 1])
            r->v[w++] = r->v[i];
    r->len = w;
}

/* Appends "name\0value\0" for each label to m->key. */
static int key_add(struct scrape_manager *m, const char *name, const char *value)
{
    size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
    if (m->keylen + nl + vl > m->keycap) {
        size_t cap = m->keycap ? m->keycap : 256;
        while (cap < m->keylen + nl + vl)
            cap *= 2;
        char *p = realloc(m->key, cap);
        if (!p)
            return -ENOMEM;
        m->key = p;
        m->keycap = cap;
    }
    memcpy(m->key + m->keylen, name, nl);
    memcpy(m->key + m->keylen + nl, value, vl);
    m->keylen += nl + vl;
    return 0;
}

/* Fills l[0..n) from a "name\0value\0..." buffer. */
static void key_labels(const char *p, size_t n, struct tsdb_label *l)
{
    for (size_t i = 0; i < n; i++) {
        l[i].name = p;
        p += strlen(p) + 1;
        l[i].value = p;
        p += strlen(p) + 1;
    }
}

static int labels_equal(const struct relabel_labels *a, const struct relabel_labels *b)
{
    if (a->len != b->len)
        return 0;
    for (size_t i = 0; i < a->len; i++)
        if (strcmp(a->v[i].name, b->v[i].name) || strcmp(a->v[i].value, b->v[i].value))
            return 0;
    return 1;
}

static int labels_copy(struct relabel_labels *dst, const struct relabel_labels *src)
{
    for (size_t i = 0; i < src->len; i++)
        if (relabel_labels_set(dst, src->v[i].name, src->v[i].value))
            return -ENOMEM;
    return 0;
}

/* ---- the per-target cache ------------------------------------------------ */

static struct centry *cache_find(const struct cache *c, uint64_t hash, const char *key,
                                 size_t keylen)
{
    if (!c->nb)
        return NULL;
    for (struct centry *e = c->b[hash & (c->nb - 1)]; e; e = e->next)
        if (e->hash == hash && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
            return e;
    return NULL;
}

static int cache_grow(struct cache *c)
{
    size_t nb = c->nb ? c->nb * 2 : 64;
    struct centry **b = calloc(nb, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < c->nb; i++) {
        for (struct centry *e = c->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(c->b);
    c->b = b;
    c->nb = nb;
    return 0;
}

static struct centry *cache_add(struct cache *c, uint64_t hash, const char *key, size_t keylen)
{
    if (c->n >= c->nb && cache_grow(c))
        return NULL;
    struct centry *e = calloc(1, sizeof *e + keylen);
    if (!e)
        return NULL;
    e->hash = hash;
    e->keylen = keylen;
    memcpy(e->key, key, keylen);
    e->flags = CE_NEW;
    e->next = c->b[hash & (c->nb - 1)];
    c->b[hash & (c->nb - 1)] = e;
    c->n++;
    return e;
}

/* Removes the entries for which drop(e, arg) is true; clears CE_NEW on the
 * others. */
static void cache_sweep(struct cache *c, int (*drop)(const struct centry *e, uint32_t iter),
                        uint32_t iter)
{
    for (size_t i = 0; i < c->nb; i++) {
        struct centry **pp = &c->b[i];
        while (*pp) {
            struct centry *e = *pp;
            if (drop(e, iter)) {
                *pp = e->next;
                free(e->pending);
                free(e);
                c->n--;
            } else {
                e->flags &= ~(unsigned)CE_NEW;
                pp = &e->next;
            }
        }
    }
}

static int drop_all(const struct centry *e, uint32_t iter)
{
    (void)e;
    (void)iter;
    return 1;
}

static int drop_new(const struct centry *e, uint32_t iter)
{
    (void)iter;
    return (e->flags & CE_NEW) != 0;
}

static int drop_unseen(const struct centry *e, uint32_t iter)
{
    return e->iter != iter;
}

static void cache_free(struct cache *c)
{
    cache_sweep(c, drop_all, 0);
    free(c->b);
    memset(c, 0, sizeof *c);
}

/* ---- targets: building ----------------------------------------------------- */

static struct job_stats *job_stats(struct scrape_manager *m, const char *name)
{
    for (struct job_stats *s = m->stats; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    size_t n = strlen(name) + 1;
    struct job_stats *s = calloc(1, sizeof *s + n);
    if (!s)
        return NULL;
    memcpy(s->name, name, n);
    struct job_stats **pp = &m->stats;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    return s;
}

static void target_free(struct target *t)
{
    relabel_labels_free(&t->discovered);
    relabel_labels_free(&t->labels);
    free(t->url);
    free(t->secret);
    cache_free(&t->cache);
    free(t->prev.v);
    free(t);
}

static void dropped_free(struct dropped *d)
{
    relabel_labels_free(&d->discovered);
    free(d);
}

/* The discovered labels of address in group g of job j (Prometheus'
 * populateLabels before relabeling). */
static int discover(const struct scrape_job *j, const struct scrape_static_group *g,
                    const char *address, struct relabel_labels *ls /* OUT */)
{
    char interval[32], timeout[32];
    scrape_duration_string(j->scrape_interval_ms, interval, sizeof interval);
    scrape_duration_string(j->scrape_timeout_ms, timeout, sizeof timeout);
    const char *defaults[][2] = {{"job", j->job_name},
                                 {"__scrape_interval__", interval},
                                 {"__scrape_timeout__", timeout},
                                 {"__metrics_path__", j->metrics_path},
                                 {"__scheme__", j->scheme}};
    int rc = 0;
    for (size_t i = 0; i < g->nlabels && !rc; i++)
        rc = relabel_labels_set(ls, g->labels[i].name, g->labels[i].value);
    if (!rc)
        rc = relabel_labels_set(ls, "__address__", address);
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0] && !rc; i++)
        if (!*relabel_labels_get(ls, defaults[i][0]) && defaults[i][1] && *defaults[i][1])
            rc = relabel_labels_set(ls, defaults[i][0], defaults[i][1]);
    for (size_t i = 0; i < j->nparams && !rc; i++) {
        char name[256];
        snprintf(name, sizeof name, "__param_%s", j->params[i].name);
        if (!*relabel_labels_get(ls, name) && *j->params[i].value)
            rc = relabel_labels_set(ls, name, j->params[i].value);
    }
    return rc ? -ENOMEM : 0;
}

/* Appends s to b percent-encoded as a URL query component. */
static int query_escape(struct http_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
        int rc = plain ? http_buf_append(b, s, 1)
                       : c == ' ' ? http_buf_append(b, "+", 1) : http_buf_append(b, e, 3);
        if (rc)
            return rc;
    }
    return 0;
}

struct param {
    const char *name, *value;
};

static int cmp_param(const void *a, const void *b)
{
    return strcmp(((const struct param *)a)->name, ((const struct param *)b)->name);
}

/* scheme://address/path?params: the job's params with the first value of
 * each replaced by a __param_<name> label, sorted by name (Go's
 * url.Values.Encode). */
static char *build_url(const struct scrape_job *j, const struct relabel_labels *all)
{
    size_t n = 0, cap = j->nparams + all->len;
    struct param *p = calloc(cap ? cap : 1, sizeof *p);
    struct http_buf b = {0};
    if (!p)
        return NULL;
    for (size_t i = 0; i < j->nparams; i++)
        p[n++] = (struct param){j->params[i].name, j->params[i].value};
    for (size_t i = 0; i < all->len; i++) {
        if (strncmp(all->v[i].name, "__param_", 8) != 0)
            continue;
        const char *name = all->v[i].name + 8;
        size_t k = 0;
        while (k < n && strcmp(p[k].name, name) != 0)
            k++;
        if (k == n)
            n++;
        p[k] = (struct param){name, all->v[i].value};
    }
    /* qsort is not stable: repeated names keep their order by index */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && cmp_param(&p[k - 1], &p[k]) > 0; k--) {
            struct param x = p[k];
            p[k] = p[k - 1];
            p[k - 1] = x;
        }
    int rc = http_buf_printf(&b, "%s://%s%s", relabel_labels_get(all, "__scheme__"),
                             relabel_labels_get(all, "__address__"),
                             relabel_labels_get(all, "__metrics_path__"));
    for (size_t i = 0; i < n && !rc; i++) {
        rc = http_buf_append(&b, i ? "&" : "?", 1);
        if (!rc)
            rc = query_escape(&b, p[i].name);
        if (!rc)
            rc = http_buf_append(&b, "=", 1);
        if (!rc)
            rc = query_escape(&b, p[i].value);
    }
    if (!rc)
        rc = http_buf_append(&b, "", 1);
    free(p);
    if (rc) {
        http_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* Adds :80 or :443 to an address without a port, as Prometheus 2.42. */
static int add_port(struct relabel_labels *all)
{
    const char *addr = relabel_labels_get(all, "__address__");
    const char *bracket = strrchr(addr, ']');
    if (strchr(bracket ? bracket : addr, ':'))
        return 0;
    const char *scheme = relabel_labels_get(all, "__scheme__");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s:%s", addr, strcmp(scheme, "https") == 0 ? "443" : "80");
    return relabel_labels_set(all, "__address__", buf);
}

/* Interval or timeout from a label set by relabeling, else the job's. */
static int64_t label_duration(const struct relabel_labels *all, const char *name, int64_t dflt)
{
    const char *s = relabel_labels_get(all, name);
    int64_t ms;
    if (*s && timefmt_parse_duration(s, strlen(s), &ms) == 0 && ms > 0)
        return ms;
    return dflt;
}

/* Computes one target: a new struct target (not running), or a struct
 * dropped when relabeling drops it or leaves no address. @return 0 or
 * -ENOMEM. */
static int build_one(struct scrape_manager *m, const struct scrape_job *j,
                     const struct scrape_static_group *g, const char *address,
                     struct target ***tail, struct dropped ***dtail)
{
    struct relabel_labels all = {0};
    struct target *t = calloc(1, sizeof *t);
    int rc = t ? discover(j, g, address, &t->discovered) : -ENOMEM;
    if (!rc)
        rc = labels_copy(&all, &t->discovered);
    int keep = rc ? rc : relabel_apply(j->relabel, j->nrelabel, &all);
    if (keep < 0)
        goto fail;
    if (!keep || !*relabel_labels_get(&all, "__address__")) {
        struct dropped *d = calloc(1, sizeof *d);
        if (!d) {
            keep = -ENOMEM;
            goto fail;
        }
        d->job = j;
        if (!job_stats(m, j->job_name)) {
            free(d);
            keep = -ENOMEM;
            goto fail;
        }
        d->discovered = t->discovered;
        memset(&t->discovered, 0, sizeof t->discovered);
        **dtail = d;
        *dtail = &d->next;
        target_free(t);
        relabel_labels_free(&all);
        return 0;
    }
    if (add_port(&all) || !(t->url = build_url(j, &all)))
        goto nomem;
    for (size_t i = 0; i < all.len; i++)
        if (strncmp(all.v[i].name, "__", 2) != 0 &&
            relabel_labels_set(&t->labels, all.v[i].name, all.v[i].value))
            goto nomem;
    if (!*relabel_labels_get(&t->labels, "instance") &&
        relabel_labels_set(&t->labels, "instance", relabel_labels_get(&all, "__address__")))
        goto nomem;
    t->m = m;
    t->job = j;
    if (!(t->stats = job_stats(m, j->job_name)))
        goto nomem;
    t->interval_ms = label_duration(&all, "__scrape_interval__", j->scrape_interval_ms);
    t->timeout_ms = label_duration(&all, "__scrape_timeout__", j->scrape_timeout_ms);
    if (t->timeout_ms > t->interval_ms)
        t->timeout_ms = t->interval_ms;
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        goto nomem;
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, t->url, strlen(t->url));
    for (size_t i = 0; i < t->labels.len; i++) {
        XXH3_64bits_update(st, t->labels.v[i].name, strlen(t->labels.v[i].name) + 1);
        XXH3_64bits_update(st, t->labels.v[i].value, strlen(t->labels.v[i].value) + 1);
    }
    t->offset_ms = (int64_t)(XXH3_64bits_digest(st) % (uint64_t)t->interval_ms);
    XXH3_freeState(st);
    relabel_labels_free(&all);
    **tail = t;
    *tail = &t->next;
    return 0;
nomem:
    keep = -ENOMEM;
fail:
    relabel_labels_free(&all);
    if (t)
        target_free(t);
    return keep;
}

static int build_groups(struct scrape_manager *m, const struct scrape_job *j,
                        const struct scrape_static_group *g, size_t n, struct target ***tail,
                        struct dropped ***dtail)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < g[i].ntargets; k++) {
            int rc = build_one(m, j, &g[i], g[i].targets[k], tail, dtail);
            if (rc)
                return rc;
        }
    return 0;
}

/* Every target of cfg. @return 0 or -ENOMEM (nothing is returned then). */
static int build(struct scrape_manager *m, const struct scrape_config *cfg,
                 struct target **targets /* OUT */, struct dropped **dropped /* OUT */)
{
    struct target **tail = targets;
    struct dropped **dtail = dropped;
    int rc = 0;
    *targets = NULL;
    *dropped = NULL;
    for (size_t i = 0; i < cfg->njobs && !rc; i++) {
        const struct scrape_job *j = &cfg->jobs[i];
        rc = build_groups(m, j, j->static_configs, j->nstatic, &tail, &dtail);
        for (struct source *s = m->sources; s && !rc; s = s->next)
            if (strcmp(s->job, j->job_name) == 0)
                rc = build_groups(m, j, s->groups, s->n, &tail, &dtail);
    }
    if (rc) {
        while (*targets) {
            struct target *t = *targets;
            *targets = t->next;
            target_free(t);
        }
        while (*dropped) {
            struct dropped *d = *dropped;
            *dropped = d->next;
            dropped_free(d);
        }
    }
    return rc;
}

/* ---- targets: running ------------------------------------------------------ */

static void scrape_start(struct target *t);
static void on_timer(uv_timer_t *h);

/* Next firing: the target's offset in the interval of the wall clock. */
static void schedule(struct target *t, int first)
{
    int64_t iv = t->interval_ms;
    int64_t phase = (now_ms(t->m) - t->offset_ms) % iv;
    if (phase < 0)
        phase += iv;
    int64_t delay = phase ? iv - phase : 0;
    if (!first && delay < iv / 2) /* fired a little early: that slot is done */
        delay += iv;
    uv_timer_start(&t->timer, on_timer, (uint64_t)delay, 0);
}

static void on_timer(uv_timer_t *h)
{
    struct target *t = h->data;
    schedule(t, 0);
    scrape_start(t);
}

/* One more loop handle is closed; the last one after
 * scrape_manager_close frees m. */
static void handle_closed(struct scrape_manager *m)
{
    if (--m->open_handles == 0 && m->closing) {
        void (*cb)(void *) = m->close_cb;
        void *arg = m->close_arg;
        free(m);
        if (cb)
            cb(arg);
    }
}

static void on_target_closed(uv_handle_t *h)
{
    struct target *t = h->data;
    struct scrape_manager *m = t->m;
    target_free(t);
    handle_closed(m);
}

static void target_close(struct target *t)
{
    if (t->in_flight) {
        t->m->io.cancel(t->m->io.ctx, t->req_id);
        t->in_flight = 0;
    }
    uv_close((uv_handle_t *)&t->timer, on_target_closed);
}

static void append_stale(struct target *t, const tsdb_ref *refs, size_t n, int64_t ts)
{
    double stale = tsdb_stale_nan();
    for (size_t i = 0; i < n; i++)
        if (tsdb_append(t->m->db, refs[i], ts, stale) == 0)
            t->stats->stale_markers++;
}

/* A target that went away: every series it had gets a stale marker. */
static void retire(struct target *t)
{
    int64_t ts = now_ms(t->m);
    append_stale(t, t->prev.v, t->prev.len, ts);
    if (t->syn_ok)
        append_stale(t, t->syn, SYN_COUNT, ts);
    int rc = tsdb_commit(t->m->db);
    if (rc)
        vlog(VLOG_WARN, "storing staleness markers failed", "job=%s url=%s err=%s",
             t->job->job_name, t->url, tsdb_strerror(rc));
    target_close(t);
}

/* Moves the running state of old into the fresh target n (same job,
 * labels and URL) and frees n's husk; old keeps running. */
static void take_over(struct target *old, struct target *n, int reset_cache)
{
    old->job = n->job;
    old->stats = n->stats;
    relabel_labels_free(&old->discovered);
    old->discovered = n->discovered;
    memset(&n->discovered, 0, sizeof n->discovered);
    old->timeout_ms = n->timeout_ms;
    if (reset_cache)
        cache_free(&old->cache);
    if (old->interval_ms != n->interval_ms || old->offset_ms != n->offset_ms) {
        old->interval_ms = n->interval_ms;
        old->offset_ms = n->offset_ms;
        schedule(old, 1);
    }
    target_free(n);
}

static void start_target(struct scrape_manager *m, struct target *t)
{
    uv_timer_init(m->loop, &t->timer);
    t->timer.data = t;
    m->open_handles++;
    snprintf(t->timeout_header, sizeof t->timeout_header,
             "X-Prometheus-Scrape-Timeout-Seconds: %g", (double)t->timeout_ms / 1000.0);
    schedule(t, 1);
}

/* Replaces the running targets with the fresh ones (see the design notes). */
static void adopt(struct scrape_manager *m, struct target *fresh, struct dropped *dropped,
                  int reset_cache)
{
    struct target *running = m->targets, *list = NULL, **tail = &list;
    while (fresh) {
        struct target *n = fresh, **pp = &running;
        fresh = n->next;
        n->next = NULL;
        while (*pp && !(strcmp((*pp)->job->job_name, n->job->job_name) == 0 &&
                        strcmp((*pp)->url, n->url) == 0 && labels_equal(&(*pp)->labels, &n->labels)))
            pp = &(*pp)->next;
        struct target *old = *pp;
        if (old) {
            *pp = old->next;
            old->next = NULL;
            take_over(old, n, reset_cache);
            n = old;
        } else {
            int dup = 0; /* the same target listed twice runs once */
            for (struct target *t = list; t && !dup; t = t->next)
                dup = strcmp(t->job->job_name, n->job->job_name) == 0 &&
                      strcmp(t->url, n->url) == 0 && labels_equal(&t->labels, &n->labels);
            if (dup) {
                target_free(n);
                continue;
            }
            start_target(m, n);
        }
        *tail = n;
        tail = &n->next;
    }
    while (running) {
        struct target *t = running;
        running = t->next;
        retire(t);
    }
    m->targets = list;
    while (m->dropped) {
        struct dropped *d = m->dropped;
        m->dropped = d->next;
        dropped_free(d);
    }
    m->dropped = dropped;
    for (struct job_stats *s = m->stats; s; s = s->next)
        s->active = s->dropped = 0;
    for (struct target *t = m->targets; t; t = t->next)
        t->stats->active++;
    for (struct dropped *d = m->dropped; d; d = d->next) {
        struct job_stats *s = job_stats(m, d->job->job_name);
        if (s)
            s->dropped++;
    }
}

int scrape_manager_new(uv_loop_t *loop, struct tsdb *db, const struct scrape_io *io,
                       struct scrape_manager **out)
{
    struct scrape_manager *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->loop = loop;
    m->db = db;
    m->io = *io;
    scrape_config_default(&m->cfg);
    *out = m;
    return 0;
}

static void source_free(struct source *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct scrape_static_group *g = &s->groups[i];
        for (size_t k = 0; k < g->ntargets; k++)
            free(g->targets[k]);
        for (size_t k = 0; k < g->nlabels; k++) {
            free((char *)g->labels[k].name);
            free((char *)g->labels[k].value);
        }
        free(g->targets);
        free(g->labels);
    }
    free(s->groups);
    free(s->job);
    free(s->name);
    free(s);
}

static struct source *source_copy(const char *job, const char *name,
                                  const struct scrape_static_group *groups, size_t n)
{
    struct source *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->job = strdup(job);
    s->name = strdup(name);
    s->groups = calloc(n, sizeof *s->groups);
    int ok = s->job && s->name && s->groups;
    for (size_t i = 0; i < n && ok; i++) {
        struct scrape_static_group *g = &s->groups[i];
        s->n++;
        g->targets = calloc(groups[i].ntargets + 1, sizeof *g->targets);
        g->labels = calloc(groups[i].nlabels + 1, sizeof *g->labels);
        ok = g->targets && g->labels;
        for (size_t k = 0; k < groups[i].ntargets && ok; k++, g->ntargets++)
            ok = (g->targets[k] = strdup(groups[i].targets[k])) != NULL;
        for (size_t k = 0; k < groups[i].nlabels && ok; k++, g->nlabels++) {
            g->labels[k].name = strdup(groups[i].labels[k].name);
            g->labels[k].value = strdup(groups[i].labels[k].value);
            ok = g->labels[k].name && g->labels[k].value;
        }
    }
    if (!ok) {
        source_free(s);
        return NULL;
    }
    return s;
}

static void on_watch_stopped(void *arg)
{
    struct sd_watch *w = arg;
    struct scrape_manager *m = w->m;
    free(w);
    handle_closed(m);
}

static void stop_watches(struct scrape_manager *m)
{
    while (m->watches) {
        struct sd_watch *w = m->watches;
        m->watches = w->next;
        struct job_stats *s = job_stats(m, w->job);
        if (s)
            s->sd_errors += file_sd_read_errors(w->sd);
        m->open_handles++;
        file_sd_stop(w->sd, on_watch_stopped, w);
    }
}

static void on_sd_update(void *arg, const struct file_sd_group *groups, size_t n)
{
    struct sd_watch *w = arg;
    struct scrape_static_group *g = calloc(n ? n : 1, sizeof *g);
    int rc = g ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && g; i++)
        g[i] = (struct scrape_static_group){groups[i].targets, groups[i].ntargets,
                                            groups[i].labels, groups[i].nlabels};
    if (g)
        rc = scrape_manager_set_groups(w->m, w->job, "file_sd", g, n);
    free(g);
    if (rc)
        vlog(VLOG_ERROR, "cannot update the targets from file_sd", "job=%s err=%s", w->job,
             strerror(-rc));
}

/* Watches the file_sd_configs of every job of cfg (each first read
 * records its groups). */
static void start_watches(struct scrape_manager *m, const struct scrape_config *cfg)
{
    for (size_t i = 0; i < cfg->njobs; i++) {
        const struct scrape_job *j = &cfg->jobs[i];
        if (!j->nfile_sd)
            continue;
        size_t n = strlen(j->job_name) + 1;
        struct sd_watch *w = calloc(1, sizeof *w + n);
        if (w) {
            w->m = m;
            memcpy(w->job, j->job_name, n);
        }
        if (!w || file_sd_start(m->loop, (const char *const *)j->file_sd_files, j->nfile_sd,
                                j->file_sd_refresh_ms, on_sd_update, w, &w->sd)) {
            vlog(VLOG_ERROR, "cannot start file_sd", "job=%s err=%s", j->job_name,
                 strerror(ENOMEM));
            free(w);
            continue;
        }
        w->next = m->watches;
        m->watches = w;
    }
}

int scrape_manager_apply(struct scrape_manager *m, const struct scrape_config *cfg)
{
    struct scrape_config n;
    struct target *fresh;
    struct dropped *dropped;
    int rc = scrape_config_copy(&n, cfg);
    if (rc)
        return rc;
    /* file_sd starts again from the new configuration: its first reads
     * record the groups, and one rebuild below applies everything */
    m->applying = 1;
    stop_watches(m);
    for (struct source **pp = &m->sources; *pp;) {
        struct source *s = *pp;
        if (strcmp(s->name, "file_sd") == 0) {
            *pp = s->next;
            source_free(s);
        } else {
            pp = &s->next;
        }
    }
    start_watches(m, &n);
    m->applying = 0;
    rc = build(m, &n, &fresh, &dropped);
    if (rc) {
        scrape_config_free(&n);
        return rc;
    }
    adopt(m, fresh, dropped, 1);
    scrape_config_free(&m->cfg);
    m->cfg = n;
    return 0;
}

int scrape_manager_set_groups(struct scrape_manager *m, const char *job, const char *source,
                              const struct scrape_static_group *groups, size_t n)
{
    struct source *s = NULL, **pp = &m->sources;
    if (n && !(s = source_copy(job, source, groups, n)))
        return -ENOMEM;
    while (*pp && !(strcmp((*pp)->job, job) == 0 && strcmp((*pp)->name, source) == 0))
        pp = &(*pp)->next;
    struct source *old = *pp;
    if (old) {
        *pp = old->next;
    }
    if (s) {
        s->next = *pp;
        *pp = s;
    }
    if (m->applying) {
        if (old)
            source_free(old);
        return 0;
    }
    struct target *fresh;
    struct dropped *dropped;
    int rc = build(m, &m->cfg, &fresh, &dropped);
    if (rc) { /* put the old groups back */
        if (s)
            *pp = s->next;
        if (old) {
            old->next = *pp;
            *pp = old;
        }
        if (s)
            source_free(s);
        return rc;
    }
    if (old)
        source_free(old);
    adopt(m, fresh, dropped, 0);
    return 0;
}

void scrape_manager_close(struct scrape_manager *m, void (*cb)(void *arg), void *arg)
{
    m->closing = 1;
    m->close_cb = cb;
    m->close_arg = arg;
    stop_watches(m);
    while (m->targets) {
        struct target *t = m->targets;
        m->targets = t->next;
        target_close(t);
    }
    while (m->dropped) {
        struct dropped *d = m->dropped;
        m->dropped = d->next;
        dropped_free(d);
    }
    while (m->sources) {
        struct source *s = m->sources;
        m->sources = s->next;
        source_free(s);
    }
    while (m->stats) {
        struct job_stats *s = m->stats;
        m->stats = s->next;
        free(s);
    }
    scrape_config_free(&m->cfg);
    free(m->samples);
    free(m->key);
    free(m->cur.v);
    if (m->open_handles == 0) {
        free(m);
        if (cb)
            cb(arg);
    }
}

/* ---- one scrape ------------------------------------------------------------ */

/* The labels of a series new to the cache: the scraped ones with the
 * target's merged in (honor_labels), metric_relabel_configs, limits. Sets
 * e->pending, or CE_DROPPED. */
static enum scrape_result make_series(struct target *t, const struct tsdb_labels *scraped,
                                      struct centry *e, struct pass *p)
{
    const struct scrape_job *j = t->job;
    struct relabel_labels ls = {0};
    enum scrape_result r = SCRAPE_SUCCESS;
    int rc = 0;
    for (size_t i = 0; i < scraped->len && !rc; i++)
        rc = relabel_labels_set(&ls, scraped->v[i].name, scraped->v[i].value);
    for (size_t i = 0; i < t->labels.len && !rc; i++) {
        const struct tsdb_label *tl = &t->labels.v[i];
        const char *sv = relabel_labels_get(&ls, tl->name);
        if (j->honor_labels) {
            if (!*sv)
                rc = relabel_labels_set(&ls, tl->name, tl->value);
            continue;
        }
        if (*sv) { /* conflict: the scraped value moves to exported_<name> */
            char *value = strdup(sv);
            char name[512];
            snprintf(name, sizeof name, "exported_%s", tl->name);
            while (*relabel_labels_get(&ls, name) && strlen(name) + 10 < sizeof name) {
                memmove(name + 9, name, strlen(name) + 1);
                memcpy(name, "exported_", 9);
            }
            rc = value ? relabel_labels_set(&ls, name, value) : -ENOMEM;
            free(value);
        }
        if (!rc)
            rc = relabel_labels_set(&ls, tl->name, tl->value);
    }
    int keep = rc ? rc : relabel_apply(j->metric_relabel, j->nmetric_relabel, &ls);
    if (keep < 0)
        goto nomem;
    if (!keep) {
        e->flags |= CE_DROPPED;
        relabel_labels_free(&ls);
        return SCRAPE_SUCCESS;
    }
    const char *metric = relabel_labels_get(&ls, "__name__");
    size_t bytes = 0;
    if (j->label_limit && ls.len > j->label_limit) {
        snprintf(p->err, sizeof p->err,
                 "label_limit exceeded (metric: %s, number of labels: %zu, limit: %llu)", metric,
                 ls.len, (unsigned long long)j->label_limit);
        r = SCRAPE_LIMIT;
    }
    for (size_t i = 0; i < ls.len && r == SCRAPE_SUCCESS; i++) {
        size_t nl = strlen(ls.v[i].name), vl = strlen(ls.v[i].value);
        bytes += nl + vl + 2;
        if (j->label_name_length_limit && nl > j->label_name_length_limit) {
            snprintf(p->err, sizeof p->err,
                     "label_name_length_limit exceeded (metric: %s, label name: %s, length: %zu, "
                     "limit: %llu)", metric, ls.v[i].name, nl,
                     (unsigned long long)j->label_name_length_limit);
            r = SCRAPE_LIMIT;
        } else if (j->label_value_length_limit && vl > j->label_value_length_limit) {
            snprintf(p->err, sizeof p->err,
                     "label_value_length_limit exceeded (metric: %s, label name: %s, length: "
                     "%zu, limit: %llu)", metric, ls.v[i].name, vl,
                     (unsigned long long)j->label_value_length_limit);
            r = SCRAPE_LIMIT;
        }
    }
    if (r == SCRAPE_SUCCESS) {
        char *q = e->pending = malloc(bytes ? bytes : 1);
        if (!q)
            goto nomem;
        for (size_t i = 0; i < ls.len; i++) {
            size_t nl = strlen(ls.v[i].name) + 1, vl = strlen(ls.v[i].value) + 1;
            memcpy(q, ls.v[i].name, nl);
            memcpy(q + nl, ls.v[i].value, vl);
            q += nl + vl;
        }
        e->npending = ls.len;
    }
    relabel_labels_free(&ls);
    return r;
nomem:
    relabel_labels_free(&ls);
    snprintf(p->err, sizeof p->err, "out of memory");
    return SCRAPE_STORE_ERROR;
}

static enum scrape_result take_sample(struct target *t, const struct expfmt_entry *en,
                                      struct pass *p)
{
    struct scrape_manager *m = t->m;
    const struct scrape_job *j = t->job;
    p->scraped++;
    m->keylen = 0;
    for (size_t i = 0; i < en->labels.len; i++)
        if (key_add(m, en->labels.v[i].name, en->labels.v[i].value))
            goto nomem;
    uint64_t h = XXH3_64bits(m->key, m->keylen);
    struct centry *e = cache_find(&t->cache, h, m->key, m->keylen);
    if (!e) {
        if (!(e = cache_add(&t->cache, h, m->key, m->keylen)))
            goto nomem;
        enum scrape_result r = make_series(t, &en->labels, e, p);
        if (r != SCRAPE_SUCCESS)
            return r;
        p->added += !(e->flags & CE_DROPPED);
    }
    e->iter = t->iter;
    if (e->flags & CE_DROPPED)
        return SCRAPE_SUCCESS;
    p->post_relabel++;
    if (j->sample_limit && p->post_relabel > j->sample_limit) {
        snprintf(p->err, sizeof p->err, "sample limit exceeded");
        return SCRAPE_LIMIT;
    }
    if (m->nsamples == m->capsamples) {
        size_t cap = m->capsamples ? m->capsamples * 2 : 1024;
        struct sample *s = realloc(m->samples, cap * sizeof *s);
        if (!s)
            goto nomem;
        m->samples = s;
        m->capsamples = cap;
    }
    int explicit_ts = j->honor_timestamps && en->has_ts;
    m->samples[m->nsamples++] =
        (struct sample){e, explicit_ts ? en->ts_ms : t->scrape_ts, en->value, !explicit_ts};
    return SCRAPE_SUCCESS;
nomem:
    snprintf(p->err, sizeof p->err, "out of memory");
    return SCRAPE_STORE_ERROR;
}

struct parse_ctx {
    struct target *t;
    struct pass *p;
    enum scrape_result r;
};

static int on_entry(const struct expfmt_entry *e, void *arg)
{
    struct parse_ctx *c = arg;
    if (e->kind == EXPFMT_SAMPLE)
        c->r = take_sample(c->t, e, c->p);
    return c->r != SCRAPE_SUCCESS;
}

/* Parses the body into m->samples (nothing goes to the store yet). The
 * flavor follows the Content-Type; a parse error fails the whole scrape. */
static enum scrape_result parse(struct target *t, const struct httpc_response *res,
                                struct pass *p)
{
    struct expfmt_options o;
    expfmt_options_default(&o, expfmt_flavor_from_content_type(res->content_type));
    struct expfmt_parser ps;
    expfmt_parser_init(&ps, &o);
    struct parse_ctx c = {t, p, SCRAPE_SUCCESS};
    int rc = expfmt_parse_buffer(&ps, res->body, res->body_len, on_entry, &c);
    if (rc == -EINVAL) {
        snprintf(p->err, sizeof p->err, "%u:%u: %s", ps.err.line, ps.err.col, ps.err.msg);
        c.r = SCRAPE_PARSE_ERROR;
    } else if (rc && c.r == SCRAPE_SUCCESS) {
        snprintf(p->err, sizeof p->err, "out of memory");
        c.r = SCRAPE_STORE_ERROR;
    }
    expfmt_parser_free(&ps);
    return c.r;
}

/* Appends up, scrape_duration_seconds, ... with the target labels. */
static void append_synthetic(struct target *t, int up, double secs, const struct pass *p)
{
    struct scrape_manager *m = t->m;
    if (!t->syn_ok) {
        size_t n = t->labels.len + 1;
        struct tsdb_label *l = malloc(n * sizeof *l);
        if (!l)
            return;
        memcpy(l + 1, t->labels.v, t->labels.len * sizeof *l);
        int rc = 0;
        for (int i = 0; i < SYN_COUNT && !rc; i++) {
            l[0] = (struct tsdb_label){"__name__", syn_name[i]};
            rc = tsdb_series_ref(m->db, &(struct tsdb_labels){n, l}, &t->syn[i]);
        }
        free(l);
        if (rc) {
            vlog(VLOG_WARN, "cannot store the scrape's synthetic series", "job=%s url=%s err=%s",
                 t->job->job_name, t->url, tsdb_strerror(rc));
            return;
        }
        t->syn_ok = 1;
    }
    const double v[SYN_COUNT] = {up, secs, (double)p->scraped, (double)p->post_relabel,
                                 (double)p->added};
    for (int i = 0; i < SYN_COUNT; i++)
        tsdb_append(m->db, t->syn[i], t->scrape_ts, v[i]);
}

/* A failed scrape: the series of the last one go stale, up is 0. */
static void fail(struct target *t, double secs)
{
    struct pass none = {0};
    cache_sweep(&t->cache, drop_new, t->iter);
    append_stale(t, t->prev.v, t->prev.len, t->scrape_ts);
    t->prev.len = 0;
    append_synthetic(t, 0, secs, &none);
    int rc = tsdb_commit(t->m->db);
    if (rc)
        vlog(VLOG_WARN, "storing a failed scrape's markers failed", "job=%s url=%s err=%s",
             t->job->job_name, t->url, tsdb_strerror(rc));
}

/* Series new to the cache get their refs (once). @return 0, or the store's
 * error, after which e is CE_BAD until it leaves the target. */
static int resolve(struct target *t, struct centry *e)
{
    struct tsdb_label stack[32], *l = stack;
    if (e->npending > 32 && !(l = malloc(e->npending * sizeof *l)))
        return -ENOMEM;
    key_labels(e->pending, e->npending, l);
    int rc = tsdb_series_ref(t->m->db, &(struct tsdb_labels){e->npending, l}, &e->ref);
    if (l != stack)
        free(l);
    if (rc) {
        e->flags |= CE_BAD;
        vlog(VLOG_DEBUG, "scraped series refused by the store", "job=%s url=%s err=%s",
             t->job->job_name, t->url, tsdb_strerror(rc));
    }
    free(e->pending);
    e->pending = NULL;
    return rc;
}

/* A parsed scrape goes to the store (see the design notes). */
static enum scrape_result store(struct target *t, struct pass *p, double secs)
{
    struct scrape_manager *m = t->m;
    struct job_stats *st = t->stats;
    m->cur.len = 0;
    for (size_t i = 0; i < m->nsamples; i++) {
        struct sample *s = &m->samples[i];
        if (s->e->pending)
            resolve(t, s->e);
        if ((s->e->flags & CE_BAD) || tsdb_append(m->db, s->e->ref, s->ts, s->v)) {
            st->samples_rejected++;
            continue;
        }
        st->samples_appended++;
        if (s->tracked && refs_push(&m->cur, s->e->ref))
            s->tracked = 0; /* out of memory: this one is not tracked for staleness */
    }
    refs_sort_unique(&m->cur);
    size_t k = 0;
    for (size_t i = 0; i < t->prev.len; i++) {
        while (k < m->cur.len && m->cur.v[k] < t->prev.v[i])
            k++;
        if (k == m->cur.len || m->cur.v[k] != t->prev.v[i])
            append_stale(t, &t->prev.v[i], 1, t->scrape_ts);
    }
    struct refs swap = t->prev;
    t->prev = m->cur;
    m->cur = swap;
    cache_sweep(&t->cache, drop_unseen, t->iter);
    append_synthetic(t, 1, secs, p);
    int rc = tsdb_commit(m->db);
    if (rc) {
        snprintf(p->err, sizeof p->err, "storing the scrape failed: %s", tsdb_strerror(rc));
        return SCRAPE_STORE_ERROR;
    }
    return SCRAPE_SUCCESS;
}

/* Records the outcome for the targets API and the self-metrics. */
static void finish(struct target *t, enum scrape_result r, const char *err, double secs)
{
    enum health h = r == SCRAPE_SUCCESS ? HEALTH_UP : HEALTH_DOWN;
    if (h == HEALTH_DOWN && t->health != HEALTH_DOWN)
        vlog(VLOG_WARN, "target down", "job=%s url=%s result=%s err=%s", t->job->job_name,
             t->url, result_label[r], err);
    else if (h == HEALTH_UP && t->health == HEALTH_DOWN)
        vlog(VLOG_INFO, "target up", "job=%s url=%s", t->job->job_name, t->url);
    t->health = h;
    snprintf(t->last_error, sizeof t->last_error, "%s", h == HEALTH_UP ? "" : err);
    t->last_scrape_ms = t->scrape_ts;
    t->last_duration_s = secs;
    t->stats->results[r]++;
    t->stats->seconds += secs;
}

static void on_done(void *arg, const struct httpc_response *res)
{
    struct target *t = arg;
    struct scrape_manager *m = t->m;
    double secs = (double)(uv_hrtime() - t->start_ns) / 1e9;
    struct pass p = {0};
    enum scrape_result r;
    t->in_flight = 0;
    t->iter++;
    m->nsamples = 0;
    if (res->error) {
        r = res->error == -ETIMEDOUT ? SCRAPE_TIMEOUT : SCRAPE_HTTP_ERROR;
        snprintf(p.err, sizeof p.err, "%s", res->errmsg[0] ? res->errmsg : strerror(-res->error));
    } else if (res->status != 200) {
        r = SCRAPE_BAD_STATUS;
        snprintf(p.err, sizeof p.err, "server returned HTTP status %ld", res->status);
    } else {
        r = parse(t, res, &p);
    }
    if (r == SCRAPE_SUCCESS)
        r = store(t, &p, secs);
    else
        fail(t, secs);
    finish(t, r, p.err, secs);
}

/* Reads a password or token file (surrounding white space trimmed, as
 * Prometheus does) into t->secret. @return 0 or -errno. */
static int read_secret(struct target *t, const char *path)
{
    char buf[16384];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int err = errno;
    close(fd);
    if (n < 0)
        return -err;
    buf[n] = '\0';
    char *s = buf, *e = buf + n;
    while (s < e && strchr(" \t\r\n", *s))
        s++;
    while (e > s && strchr(" \t\r\n", e[-1]))
        *--e = '\0';
    free(t->secret);
    return (t->secret = strdup(s)) ? 0 : -ENOMEM;
}

static void scrape_start(struct target *t)
{
    struct scrape_manager *m = t->m;
    const struct scrape_job *j = t->job;
    if (t->in_flight) { /* the last one is still running (timeout == interval) */
        t->stats->results[SCRAPE_SKIPPED]++;
        return;
    }
    const char *headers[] = {SCRAPE_ACCEPT, t->timeout_header, NULL};
    struct httpc_request req = {
        .url = t->url,
        .headers = headers,
        .timeout_ms = t->timeout_ms,
        .follow_redirects = j->follow_redirects,
        .accept_gzip = j->enable_compression,
        .username = j->basic_auth_username,
        .password = j->basic_auth_password,
        .bearer_token = j->bearer_token,
        .ca_file = j->tls.ca_file,
        .cert_file = j->tls.cert_file,
        .key_file = j->tls.key_file,
        .server_name = j->tls.server_name,
        .insecure_skip_verify = j->tls.insecure_skip_verify,
        .max_body_bytes = j->body_size_limit,
    };
    t->scrape_ts = now_ms(m);
    t->start_ns = uv_hrtime();
    const char *file = j->basic_auth_password_file ? j->basic_auth_password_file
                                                   : j->bearer_token_file;
    char err[300];
    int rc = file ? read_secret(t, file) : 0;
    if (rc) {
        snprintf(err, sizeof err, "cannot read %s: %s", file, strerror(-rc));
    } else {
        if (j->basic_auth_password_file)
            req.password = t->secret;
        else if (j->bearer_token_file)
            req.bearer_token = t->secret;
        t->in_flight = 1;
        rc = m->io.start(m->io.ctx, &req, on_done, t, &t->req_id);
        if (rc == 0)
            return;
        t->in_flight = 0;
        snprintf(err, sizeof err, "cannot start the request: %s", strerror(-rc));
    }
    t->iter++;
    fail(t, 0);
    finish(t, SCRAPE_HTTP_ERROR, err, 0);
}

void scrape_manager_scrape_now(struct scrape_manager *m)
{
    for (struct target *t = m->targets; t; t = t->next)
        if (!t->in_flight)
            scrape_start(t);
}

/* ---- what the API and /metrics show --------------------------------------- */

void scrape_manager_foreach(const struct scrape_manager *m,
                            void (*fn)(const struct scrape_target_info *t, void *arg), void *arg)
{
    for (const struct target *t = m->targets; t; t = t->next) {
        struct scrape_target_info i = {
            .job = t->job->job_name,
            .discovered = t->discovered.v,
            .ndiscovered = t->discovered.len,
            .labels = t->labels.v,
            .nlabels = t->labels.len,
            .url = t->url,
            .health = health_name[t->health],
            .last_error = t->last_error,
            .last_scrape_ms = t->last_scrape_ms,
            .last_duration_s = t->last_duration_s,
            .interval_ms = t->interval_ms,
            .timeout_ms = t->timeout_ms,
            .offset_ms = t->offset_ms,
        };
        fn(&i, arg);
    }
    for (const struct dropped *d = m->dropped; d; d = d->next) {
        struct scrape_target_info i = {.job = d->job->job_name,
                                       .discovered = d->discovered.v,
                                       .ndiscovered = d->discovered.len,
                                       .dropped = 1,
                                       .health = "unknown",
                                       .last_error = ""};
        fn(&i, arg);
    }
}

void scrape_manager_collect(const struct scrape_manager *m, struct selfmetrics *r)
{
    for (const struct job_stats *s = m->stats; s; s = s->next) {
        for (int i = 0; i < SCRAPE_RESULT_COUNT; i++)
            sm_set(r, "vigil_scrape_scrapes_total", SM_COUNTER,
                   "Scrapes by job and result (success, timeout, http_error, bad_status, "
                   "parse_error, limit_exceeded, store_error, skipped).",
                   (double)s->results[i], "job", s->name, "result", result_label[i], NULL);
        sm_set(r, "vigil_scrape_duration_seconds_total", SM_COUNTER,
               "Seconds spent fetching scrapes, by job.", s->seconds, "job", s->name, NULL);
        sm_set(r, "vigil_scrape_samples_appended_total", SM_COUNTER,
               "Scraped samples appended to the store, by job.", (double)s->samples_appended,
               "job", s->name, NULL);
        sm_set(r, "vigil_scrape_samples_rejected_total", SM_COUNTER,
               "Scraped samples the store refused (invalid series, out of order, limits).",
               (double)s->samples_rejected, "job", s->name, NULL);
        sm_set(r, "vigil_scrape_stale_markers_total", SM_COUNTER,
               "Staleness markers written for series that vanished or targets that failed "
               "or went away.", (double)s->stale_markers, "job", s->name, NULL);
        uint64_t sd_errors = s->sd_errors;
        for (const struct sd_watch *w = m->watches; w; w = w->next)
            if (strcmp(w->job, s->name) == 0)
                sd_errors += file_sd_read_errors(w->sd);
        sm_set(r, "vigil_scrape_file_sd_read_errors_total", SM_COUNTER,
               "file_sd target files that could not be read or parsed, by job.",
               (double)sd_errors, "job", s->name, NULL);
        const char *help = "Targets by job and state (active, dropped by relabeling).";
        sm_set(r, "vigil_scrape_targets", SM_GAUGE, help, (double)s->active, "job", s->name,
               "state", "active", NULL);
        sm_set(r, "vigil_scrape_targets", SM_GAUGE, help, (double)s->dropped, "job", s->name,
               "state", "dropped", NULL);
    }
}

static int httpc_io_start(void *ctx, const struct httpc_request *req, httpc_done_fn done,
                          void *arg, uint64_t *id)
{
    return httpc_start(ctx, req, done, arg, id);
}

static void httpc_io_cancel(void *ctx, uint64_t id)
{
    httpc_cancel(ctx, id);
}

void scrape_io_httpc(struct scrape_io *io, struct httpc *h)
{
    *io = (struct scrape_io){httpc_io_start, httpc_io_cancel, h, NULL};
}
