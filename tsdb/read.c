/* read.c — the read path: snapshots, series selection across blocks and
 * the head, sample iteration (newest write wins per timestamp), label
 * names and values, statistics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb_int.h"

/* ---- snapshots --------------------------------------------------------- */

int tsdb_snapshot_open(struct tsdb *db, struct tsdb_snapshot **out)
{
    struct tsdb_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->db = db;
    pthread_mutex_lock(&db->snap_mu);
    s->blocks = malloc((db->nblocks + 1) * sizeof *s->blocks);
    if (!s->blocks) {
        pthread_mutex_unlock(&db->snap_mu);
        free(s);
        return -ENOMEM;
    }
    for (size_t i = 0; i < db->nblocks; i++) {
        s->blocks[i] = db->blocks[i];
        atomic_fetch_add(&s->blocks[i]->refs, 1);
    }
    s->nblocks = db->nblocks;
    s->seq = atomic_load(&db->seq);
    s->older = db->snap_newest;
    if (db->snap_newest)
        db->snap_newest->newer = s;
    else
        db->snap_oldest = s;
    db->snap_newest = s;
    pthread_mutex_unlock(&db->snap_mu);
    *out = s;
    return 0;
}

void tsdb_snapshot_close(struct tsdb_snapshot *s)
{
    if (!s)
        return;
    struct tsdb *db = s->db;
    pthread_mutex_lock(&db->snap_mu);
    if (s->older)
        s->older->newer = s->newer;
    else
        db->snap_oldest = s->newer;
    if (s->newer)
        s->newer->older = s->older;
    else
        db->snap_newest = s->older;
    pthread_mutex_unlock(&db->snap_mu);
    for (size_t i = 0; i < s->nblocks; i++)
        tsdb__blk_unref(s->blocks[i]);
    free(s->blocks);
    free(s);
}

/* ---- series sets ------------------------------------------------------- */

struct source {
    size_t blk;                       /* block index, or SIZE_MAX for the head */
    uint32_t id;
    const struct tsdb__series *s;
    struct tsdb__series_state st;
};

struct entry {
    struct tsdb_labels ls;
    struct tsdb_label *owned;         /* labels copied out of a block */
    struct source src;
    size_t nsrc;                      /* sources of this series: entries i..i+nsrc */
};

struct tsdb_series_set {
    struct tsdb_snapshot *snap;
    int64_t mint, maxt;
    struct entry *e;                  /* all sources, grouped by series */
    size_t ne;
    size_t *first;                    /* series i starts at e[first[i]] */
    size_t n;
    int64_t *ts;                      /* tsdb__series_set_samples' arrays */
    double *v;
    size_t cap;
    struct tsdb__page_cache pc;       /* compaction's reads */
    struct tsdb__page_cache *pcs;     /* iterators': one per snapshot block */
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = tsdb__labels_cmp(&x->ls, &y->ls);
    if (c)
        return c;
    return (x->src.blk > y->src.blk) - (x->src.blk < y->src.blk);
}

static int entries_push(struct tsdb_series_set *set, size_t *cap, const struct entry *e)
{
    if (set->ne == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        struct entry *ne = realloc(set->e, ncap * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        set->e = ne;
        *cap = ncap;
    }
    set->e[set->ne++] = *e;
    return 0;
}

static int add_block_series(struct tsdb_series_set *set, size_t *cap, size_t bi,
                            const struct tsdb_matcher *m, size_t nm)
{
    const struct tsdb__block *b = set->snap->blocks[bi]->b;
    uint32_t *ids;
    size_t n;
    int rc = tsdb__block_select(b, m, nm, set->mint, set->maxt, &ids, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        struct tsdb_label tmp[256];
        int nl = tsdb__block_series_labels(b, ids[i], tmp, 256);
        struct entry e = {.src = {.blk = bi, .id = ids[i]}};
        if (nl < 0 || !(e.owned = malloc((nl + 1) * sizeof *e.owned))) {
            rc = nl < 0 ? nl : -ENOMEM;
            break;
        }
        memcpy(e.owned, tmp, nl * sizeof *tmp);
        e.ls = (struct tsdb_labels){(size_t)nl, e.owned};
        if ((rc = entries_push(set, cap, &e)))
            free(e.owned);
    }
    free(ids);
    return rc;
}

static int add_head_series(struct tsdb_series_set *set, size_t *cap, const struct tsdb_matcher *m,
                           size_t nm)
{
    struct tsdb *db = set->snap->db;
    uint32_t *ids;
    size_t n;
    int rc = tsdb__head_select(db, m, nm, &ids, &n);
    if (rc)
        return rc;
    int64_t *ts = NULL;
    double *v = NULL;
    size_t tcap = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct tsdb__series *s = tsdb__head_series(db, ids[i]);
        struct entry e = {.src = {.blk = SIZE_MAX, .id = ids[i], .s = s}};
        size_t len = 0;
        if (!s || !tsdb__series_state_at(s, set->snap->seq, &e.src.st))
            continue;
        /* only series with samples in range: decode once to find out */
        rc = tsdb__series_samples(s, &e.src.st, set->mint, set->maxt, &ts, &v, &len, &tcap);
        if (rc || !len)
            continue;
        e.ls = (struct tsdb_labels){s->nlabels, s->labels};
        rc = entries_push(set, cap, &e);
    }
    free(ts);
    free(v);
    free(ids);
    return rc;
}

int tsdb__select_blocks(struct tsdb_snapshot *s, const struct tsdb_matcher *m, size_t nm,
                        int64_t mint, int64_t maxt, int with_head, struct tsdb_series_set **out)
{
    struct tsdb_series_set *set = calloc(1, sizeof *set);
    if (!set)
        return -ENOMEM;
    set->snap = s;
    set->mint = mint;
    set->maxt = maxt;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < s->nblocks && !rc; i++) {
        const struct tsdb__blk *b = s->blocks[i];
        if (b->mint <= maxt && b->maxt > mint)
            rc = add_block_series(set, &cap, i, m, nm);
    }
    if (!rc && with_head)
        rc = add_head_series(set, &cap, m, nm);
    if (!rc && set->ne) {
        qsort(set->e, set->ne, sizeof *set->e, entry_cmp);
        if (!(set->first = malloc(set->ne * sizeof *set->first)))
            rc = -ENOMEM;
        for (size_t i = 0; i < set->ne && !rc; i++) {
            if (i == 0 || tsdb__labels_cmp(&set->e[i - 1].ls, &set->e[i].ls) != 0)
                set->first[set->n++] = i;
        }
    }
    if (rc) {
        tsdb_series_set_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

int tsdb_select(struct tsdb_snapshot *s, const struct tsdb_matcher *m, size_t nm, int64_t mint,
                int64_t maxt, struct tsdb_series_set **out)
{
    return tsdb__select_blocks(s, m, nm, mint, maxt, 1, out);
}

size_t tsdb_series_set_len(const struct tsdb_series_set *set)
{
    return set ? set->n : 0;
}

const struct tsdb_labels *tsdb_series_set_labels(const struct tsdb_series_set *set, size_t i)
{
    return &set->e[set->first[i]].ls;
}

void tsdb_series_set_free(struct tsdb_series_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->ne; i++)
        free(set->e[i].owned);
    free(set->e);
    free(set->first);
    free(set->ts);
    free(set->v);
    tsdb__page_cache_free(&set->pc);
    for (size_t i = 0; set->pcs && i < set->snap->nblocks; i++)
        tsdb__page_cache_free(&set->pcs[i]);
    free(set->pcs);
    free(set);
}

/* Collects series i's samples in [mint, maxt] from all its sources, oldest
 * block first and the head last, so that on equal timestamps the newest
 * write wins. */
static int gather(struct tsdb_series_set *set, size_t i, int64_t mint, int64_t maxt,
                  struct tsdb__page_cache *pcs, int64_t **ts, double **v, size_t *len,
                  size_t *cap)
{
    size_t a = set->first[i], b = i + 1 < set->n ? set->first[i + 1] : set->ne;
    int rc = 0, contributed = 0;
    *len = 0;
    for (size_t k = a; k < b && !rc; k++) {
        const struct source *src = &set->e[k].src;
        size_t before = *len;
        if (src->blk == SIZE_MAX)
            rc = tsdb__series_samples(src->s, &src->st, mint, maxt, ts, v, len, cap);
        else
            rc = tsdb__block_series_samples(set->snap->blocks[src->blk]->b, src->id, mint,
                                            maxt, pcs ? &pcs[src->blk] : &set->pc, ts, v,
                                            len, cap);
        contributed += *len > before;
    }
    /* one source's samples are sorted and distinct already */
    if (!rc && contributed > 1)
        *len = tsdb__samples_sort_dedup(*ts, *v, *len);
    return rc;
}

int tsdb__series_set_samples(struct tsdb_series_set *set, size_t i, const int64_t **ts,
                             const double **v, size_t *n)
{
    int rc = gather(set, i, set->mint, set->maxt, NULL, &set->ts, &set->v, n, &set->cap);
    *ts = set->ts;
    *v = set->v;
    return rc;
}

/* ---- iterators ---------------------------------------------------------
 *
 * An iterator decodes its series one slab of time at a time: [next, next +
 * slab_ms) of the set's [mint, maxt], the slab's width adapting after each
 * decode so that it holds about `batch` samples. An open iterator thus
 * holds one batch of decoded samples, never the whole series. Chunks that
 * straddle a slab's edge are decoded once for each slab they overlap; as
 * no chunk spans two blocks, slabs end where a block does. The iterators
 * of a set share one decompressed page per block (they take turns in
 * series order, which is the order of the chunks in a block's pages).
 */
#define ITER_DEFAULT_BATCH 1024
#define ITER_FIRST_SLAB_MS (2 * 3600 * 1000)

struct tsdb_iter {
    struct tsdb_series_set *set;
    size_t series;
    int64_t next;    /* first timestamp not decoded yet */
    int done;        /* decoded up to set->maxt */
    int64_t slab_ms;
    size_t batch;
    struct tsdb_sample *s; /* the slab's samples */
    size_t len, cap, pos;
};

int tsdb_iter_open(struct tsdb_series_set *set, size_t i, struct tsdb_iter **out)
{
    if (i >= set->n)
        return -EINVAL;
    if (!set->pcs && !(set->pcs = calloc(set->snap->nblocks + 1, sizeof *set->pcs)))
        return -ENOMEM;
    struct tsdb_iter *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->set = set;
    it->series = i;
    it->slab_ms = ITER_FIRST_SLAB_MS;
    it->batch = ITER_DEFAULT_BATCH;
    /* start at the oldest source when it lies inside the range: a block's
     * mint bounds its samples; the head gives no bound */
    size_t a = set->first[i], b = i + 1 < set->n ? set->first[i + 1] : set->ne;
    int64_t lo = set->maxt;
    for (size_t k = a; k < b; k++) {
        const struct source *src = &set->e[k].src;
        int64_t m = src->blk == SIZE_MAX ? set->mint : set->snap->blocks[src->blk]->mint;
        if (m < lo)
            lo = m;
    }
    it->next = lo > set->mint ? lo : set->mint;
    *out = it;
    return 0;
}

void tsdb_iter_set_batch(struct tsdb_iter *it, size_t samples)
{
    it->batch = samples ? samples : 1;
}

/* The last timestamp of the block source of series i holding t, or
 * INT64_MAX when none does. */
static int64_t block_end(const struct tsdb_series_set *set, size_t i, int64_t t)
{
    size_t a = set->first[i], b = i + 1 < set->n ? set->first[i + 1] : set->ne;
    for (size_t k = a; k < b; k++) {
        const struct source *src = &set->e[k].src;
        if (src->blk == SIZE_MAX)
            continue;
        const struct tsdb__blk *blk = set->snap->blocks[src->blk];
        if (blk->mint <= t && t < blk->maxt)
            return blk->maxt - 1;
    }
    return INT64_MAX;
}

/* Decodes slabs until one holds a sample or the range is exhausted. */
static int refill(struct tsdb_iter *it)
{
    const struct tsdb_series_set *set = it->set;
    while (it->pos >= it->len && !it->done) {
        int64_t lo = it->next, hi;
        /* unsigned: the range may span all of int64 */
        if ((uint64_t)it->slab_ms > (uint64_t)set->maxt - (uint64_t)lo)
            hi = set->maxt;
        else
            hi = lo + it->slab_ms - 1;
        int64_t bend = block_end(set, it->series, lo);
        if (bend < hi)
            hi = bend;
        if (hi == set->maxt)
            it->done = 1;
        else
            it->next = hi + 1;
        it->pos = 0;
        /* decoding needs room for whole chunks: it uses the set's scratch,
         * the iterator keeps only the slab's samples */
        struct tsdb_series_set *ws = it->set;
        size_t len;
        int rc = gather(ws, it->series, lo, hi, ws->pcs, &ws->ts, &ws->v, &len, &ws->cap);
        if (!rc && len > it->cap) {
            size_t cap = it->cap ? it->cap : 64;
            while (cap < len)
                cap *= 2;
            struct tsdb_sample *ns = realloc(it->s, cap * sizeof *ns);
            if (ns) {
                it->s = ns;
                it->cap = cap;
            } else {
                rc = -ENOMEM;
            }
        }
        if (rc)
            return rc;
        for (size_t k = 0; k < len; k++)
            it->s[k] = (struct tsdb_sample){ws->ts[k], ws->v[k]};
        it->len = len;
        double f = it->len ? (double)it->batch / (double)it->len : 4;
        f = f < 0.25 ? 0.25 : f > 4 ? 4 : f;
        double slab = (double)it->slab_ms * f;
        it->slab_ms = slab < 1 ? 1 : slab > 4e18 ? INT64_C(4000000000000000000) : (int64_t)slab;
    }
    return 0;
}

int tsdb_iter_next(struct tsdb_iter *it, int64_t *ts, double *value)
{
    if (it->pos >= it->len) {
        int rc = refill(it);
        if (rc)
            return rc;
        if (it->pos >= it->len)
            return 0;
    }
    *ts = it->s[it->pos].ts_ms;
    *value = it->s[it->pos++].value;
    return 1;
}

int tsdb_iter_batch(struct tsdb_iter *it, const struct tsdb_sample **s, size_t *n)
{
    int rc = it->pos >= it->len ? refill(it) : 0;
    *s = it->s + it->pos;
    *n = rc ? 0 : it->len - it->pos;
    return rc;
}

void tsdb_iter_consume(struct tsdb_iter *it, size_t n)
{
    it->pos = n < it->len - it->pos ? it->pos + n : it->len;
}

int tsdb_iter_seek(struct tsdb_iter *it, int64_t ts)
{
    for (;;) {
        size_t lo = it->pos, hi = it->len;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (it->s[mid].ts_ms < ts)
                lo = mid + 1;
            else
                hi = mid;
        }
        it->pos = lo;
        if (it->pos < it->len)
            return 1;
        /* nothing decoded reaches ts: skip the slabs before it unread */
        if (!it->done && ts > it->next) {
            if (ts > it->set->maxt)
                it->done = 1;
            else
                it->next = ts;
        }
        int rc = refill(it);
        if (rc)
            return rc;
        if (it->pos >= it->len)
            return 0;
    }
}

void tsdb_iter_free(struct tsdb_iter *it)
{
    if (!it)
        return;
    free(it->s);
    free(it);
}

/* ---- label names and values -------------------------------------------- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int strings_push(struct tsdb_strings *out, size_t *cap, const char *s)
{
    if (out->len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        char **nv = realloc(out->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        out->v = nv;
        *cap = ncap;
    }
    if (!(out->v[out->len] = strdup(s)))
        return -ENOMEM;
    out->len++;
    return 0;
}

static void strings_sort_unique(struct tsdb_strings *out)
{
    if (out->len < 2)
        return;
    qsort(out->v, out->len, sizeof *out->v, str_cmp);
    size_t k = 0;
    for (size_t i = 0; i < out->len; i++) {
        if (k && strcmp(out->v[k - 1], out->v[i]) == 0)
            free(out->v[i]);
        else
            out->v[k++] = out->v[i];
    }
    out->len = k;
}

/* Names (name == NULL) or values of label name over the matching series. */
static int collect_labels(struct tsdb_snapshot *s, const char *name, const struct tsdb_matcher *m,
                          size_t nm, int64_t mint, int64_t maxt, struct tsdb_strings *out)
{
    struct tsdb_matcher *all = malloc((nm + 1) * sizeof *all);
    if (!all)
        return -ENOMEM;
    if (nm)
        memcpy(all, m, nm * sizeof *m);
    int rc = tsdb_matcher_init(&all[nm], TSDB_MATCH_NE, name ? name : "__name__", "", NULL, 0);
    struct tsdb_series_set *set = NULL;
    if (!rc) {
        rc = tsdb_select(s, all, nm + 1, mint, maxt, &set);
        tsdb_matcher_free(&all[nm]);
    }
    free(all);
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; !rc && i < tsdb_series_set_len(set); i++) {
        const struct tsdb_labels *ls = tsdb_series_set_labels(set, i);
        for (size_t j = 0; j < ls->len && !rc; j++) {
            if (!name)
                rc = strings_push(out, &cap, ls->v[j].name);
            else if (strcmp(ls->v[j].name, name) == 0)
                rc = strings_push(out, &cap, ls->v[j].value);
        }
    }
    tsdb_series_set_free(set);
    if (rc) {
        tsdb_strings_free(out);
        return rc;
    }
    strings_sort_unique(out);
    return 0;
}

int tsdb_label_names(struct tsdb_snapshot *s, const struct tsdb_matcher *m, size_t nm,
                     int64_t mint, int64_t maxt, struct tsdb_strings *out)
{
    return collect_labels(s, NULL, m, nm, mint, maxt, out);
}

int tsdb_label_values(struct tsdb_snapshot *s, const char *name, const struct tsdb_matcher *m,
                      size_t nm, int64_t mint, int64_t maxt, struct tsdb_strings *out)
{
    return collect_labels(s, name, m, nm, mint, maxt, out);
}

void tsdb_strings_free(struct tsdb_strings *s)
{
    for (size_t i = 0; i < s->len; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- statistics -------------------------------------------------------- */

void tsdb_stats(struct tsdb *db, struct tsdb_stats *out)
{
    *out = db->st;
    out->head_mint = db->head_mint;
    out->head_maxt = db->head_maxt;
    uint64_t chunk_bytes = 0, series_bytes = 0, samples = 0, series = 0;
    uint64_t seq = atomic_load(&db->seq);
    for (uint32_t r = 0; r < db->nseries; r++) {
        const struct tsdb__series *s = tsdb__head_series(db, r);
        if (!s)
            continue;
        struct tsdb__series_state st;
        series++;
        series_bytes += sizeof *s + s->nlabels * sizeof *s->labels;
        if (s->w_ooo)
            series_bytes += sizeof *s->w_ooo + s->w_ooo->cap * 16;
        for (const struct tsdb__chunk *c = atomic_load(&((struct tsdb__series *)s)->newest); c;
             c = atomic_load((struct tsdb__chunk *_Atomic *)&c->prev))
            chunk_bytes += tsdb__chunk_size(c);
        if (tsdb__series_state_at(s, seq, &st))
            samples += st.count - st.first + st.ooo_len;
    }
    out->head_series = series;
    out->head_samples = samples;
    out->head_chunk_bytes = chunk_bytes;
    out->head_bytes = chunk_bytes + series_bytes + db->index_bytes +
                      (uint64_t)db->hcap * sizeof *db->htab;
    out->blocks = (uint32_t)db->nblocks;
    out->block_samples = out->block_bytes = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        struct tsdb_block_info bi;
        tsdb__block_info(db->blocks[i]->b, &bi);
        out->block_samples += bi.samples;
        out->block_bytes += bi.chunk_bytes + bi.index_bytes;
    }
    out->wal_bytes = db->wal ? tsdb__wal_size(db->wal) : 0;
}

void tsdb_blocks_foreach(struct tsdb *db, void (*fn)(const struct tsdb_block_info *b, void *arg),
                         void *arg)
{
    for (size_t i = 0; i < db->nblocks; i++) {
        struct tsdb_block_info bi;
        tsdb__block_info(db->blocks[i]->b, &bi);
        fn(&bi, arg);
    }
}
