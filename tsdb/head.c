/* head.c — the in-memory head: series, their chunks and out-of-order logs,
 * the label index, and the publication of committed batches to snapshots
 * (see the design notes in tsdb_int.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "tsdb_int.h"

#define CHUNK_WORDS_FIRST 8
#define CHUNK_WORDS_MAX 64
#define OOO_CAP_FIRST 8
#define PACK_MAX_SAMPLES 1024

/* ---- a small open-addressing map --------------------------------------- */

typedef int (*map_eq_fn)(const struct tsdb__map_slot *s, const void *a, const void *b);

static struct tsdb__map_slot *map_find(struct tsdb__map *m, uint64_t h, map_eq_fn eq,
                                       const void *a, const void *b)
{
    if (!m->cap)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct tsdb__map_slot *s = &m->slots[i];
        if (!s->val)
            return s;
        if (s->h == h && eq(s, a, b))
            return s;
    }
}

/* Returns the slot for (a, b): found (val set) or empty, growing the map
 * first so an insert into the returned slot keeps it at most 1/2 full. */
static struct tsdb__map_slot *map_insert_slot(struct tsdb__map *m, uint64_t h, map_eq_fn eq,
                                              const void *a, const void *b)
{
    if ((m->len + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        struct tsdb__map_slot *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            struct tsdb__map_slot *s = &m->slots[i];
            if (!s->val)
                continue;
            size_t j = s->h & (ncap - 1);
            while (ns[j].val)
                j = (j + 1) & (ncap - 1);
            ns[j] = *s;
        }
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    return map_find(m, h, eq, a, b);
}

static int eq_string(const struct tsdb__map_slot *s, const void *a, const void *b)
{
    (void)b;
    return strcmp(s->a, a) == 0;
}

static int eq_ptrs(const struct tsdb__map_slot *s, const void *a, const void *b)
{
    return s->a == a && s->b == b;
}

static uint64_t hash_ptrs(const void *a, const void *b)
{
    uintptr_t k[2] = {(uintptr_t)a, (uintptr_t)b};
    return XXH3_64bits(k, sizeof k);
}

/* ---- interned strings and the label index (under idx_mu) --------------- */

/* Interned copy of s (created if absent). NULL on ENOMEM. */
static const char *intern(struct tsdb *db, const char *s)
{
    size_t len = strlen(s);
    uint64_t h = XXH3_64bits(s, len);
    struct tsdb__map_slot *slot = map_insert_slot(&db->strings, h, eq_string, s, NULL);
    if (!slot)
        return NULL;
    if (slot->val)
        return slot->val;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len + 1);
    *slot = (struct tsdb__map_slot){copy, NULL, copy, h};
    db->strings.len++;
    db->index_bytes += len + 1 + 2 * sizeof *slot;
    return copy;
}

static const char *interned(struct tsdb *db, const char *s)
{
    struct tsdb__map_slot *slot =
        map_find(&db->strings, XXH3_64bits(s, strlen(s)), eq_string, s, NULL);
    return slot && slot->val ? slot->val : NULL;
}

static int grow(void **p, size_t elem, uint32_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 4;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return -ENOMEM;
    *p = np;
    *cap = (uint32_t)ncap;
    return 0;
}

static struct tsdb__lname *lname_get(struct tsdb *db, const char *name)
{
    uint64_t h = hash_ptrs(name, NULL);
    struct tsdb__map_slot *slot = map_insert_slot(&db->names, h, eq_ptrs, name, NULL);
    if (!slot)
        return NULL;
    if (slot->val)
        return slot->val;
    struct tsdb__lname *ln = calloc(1, sizeof *ln);
    if (!ln)
        return NULL;
    if (db->nlnames == db->caplnames) {
        size_t ncap = db->caplnames ? db->caplnames * 2 : 32;
        void *np = realloc(db->lnames, ncap * sizeof *db->lnames);
        if (!np) {
            free(ln);
            return NULL;
        }
        db->lnames = np;
        db->caplnames = ncap;
    }
    ln->name = name;
    db->lnames[db->nlnames++] = ln;
    *slot = (struct tsdb__map_slot){name, NULL, ln, h};
    db->names.len++;
    return ln;
}

/* Adds series id to the postings of (name, value); both interned. */
static int index_add(struct tsdb *db, const char *name, const char *value, uint32_t id)
{
    uint64_t h = hash_ptrs(name, value);
    struct tsdb__map_slot *slot = map_insert_slot(&db->pairs, h, eq_ptrs, name, value);
    if (!slot)
        return -ENOMEM;
    struct tsdb__lval *lv = slot->val;
    if (!lv) {
        struct tsdb__lname *ln = lname_get(db, name);
        if (!ln || grow((void **)&ln->vals, sizeof *ln->vals, &ln->cap, ln->len + 1))
            return -ENOMEM;
        if (!(lv = calloc(1, sizeof *lv)))
            return -ENOMEM;
        lv->value = value;
        ln->vals[ln->len++] = lv;
        /* the slot may have moved while lname_get grew another map */
        slot = map_find(&db->pairs, h, eq_ptrs, name, value);
        *slot = (struct tsdb__map_slot){name, value, lv, h};
        db->pairs.len++;
        db->index_bytes += sizeof *lv + sizeof *slot * 2 + sizeof(void *);
    }
    uint32_t oldcap = lv->cap;
    if (grow((void **)&lv->ids, sizeof *lv->ids, &lv->cap, lv->len + 1))
        return -ENOMEM;
    db->index_bytes += (uint64_t)(lv->cap - oldcap) * sizeof *lv->ids;
    /* postings stay sorted: ids normally arrive ascending (new series), a
     * replay that creates them out of order inserts in place */
    uint32_t at = lv->len;
    while (at > 0 && lv->ids[at - 1] > id)
        at--;
    memmove(lv->ids + at + 1, lv->ids + at, (lv->len - at) * sizeof *lv->ids);
    lv->ids[at] = id;
    lv->len++;
    return 0;
}

/* ---- series ------------------------------------------------------------ */

int tsdb__head_init(struct tsdb *db)
{
    db->pages = calloc(TSDB__SERIES_PAGES, sizeof *db->pages);
    if (!db->pages)
        return -ENOMEM;
    pthread_mutex_init(&db->idx_mu, NULL);
    pthread_mutex_init(&db->snap_mu, NULL);
    db->head_mint = INT64_MAX;
    db->head_maxt = INT64_MIN;
    db->min_valid = INT64_MIN;
    return 0;
}

struct tsdb__series *tsdb__head_series(const struct tsdb *db, tsdb_ref ref)
{
    struct tsdb__series **page = atomic_load_explicit(
        &db->pages[ref >> TSDB__SERIES_PAGE_BITS], memory_order_acquire);
    if (!page)
        return NULL;
    return page[ref & ((1u << TSDB__SERIES_PAGE_BITS) - 1)];
}

static void chunks_free(struct tsdb__chunk *c)
{
    while (c) {
        struct tsdb__chunk *prev = atomic_load_explicit((struct tsdb__chunk *_Atomic *)&c->prev,
                                                        memory_order_relaxed);
        free(c);
        c = prev;
    }
}

static void ooo_free(void *o, void *unused)
{
    (void)unused;
    free(o);
}

static void series_free(struct tsdb__series *s)
{
    chunks_free(atomic_load(&s->newest));
    ooo_free(s->w_ooo, NULL);
    struct tsdb__state_node *n = atomic_load(&s->history);
    while (n) {
        struct tsdb__state_node *older = atomic_load(&n->older);
        free(n);
        n = older;
    }
    free(s);
}

void tsdb__head_free(struct tsdb *db)
{
    if (!db->pages)
        return;
    while (db->grave_first) { /* before the series whose chunks it cuts */
        struct tsdb__grave *g = db->grave_first;
        db->grave_first = g->next;
        g->free_fn(g->p, g->q);
        free(g);
    }
    for (uint32_t r = 0; r < db->nseries; r++) {
        struct tsdb__series *s = tsdb__head_series(db, r);
        if (s)
            series_free(s);
    }
    for (uint32_t p = 0; p < TSDB__SERIES_PAGES; p++)
        free(atomic_load(&db->pages[p]));
    free(db->pages);
    for (size_t i = 0; i < db->strings.cap; i++)
        free(db->strings.slots[i].val);
    free(db->strings.slots);
    for (size_t i = 0; i < db->nlnames; i++) {
        struct tsdb__lname *ln = db->lnames[i];
        for (uint32_t j = 0; j < ln->len; j++) {
            free(ln->vals[j]->ids);
            free(ln->vals[j]);
        }
        free(ln->vals);
        free(ln);
    }
    free(db->lnames);
    free(db->pairs.slots);
    free(db->names.slots);
    free(db->htab);
    free(db->pend);
    free(db->touched);
    free(db->newseries);
    free(db->hist);
    pthread_mutex_destroy(&db->idx_mu);
    pthread_mutex_destroy(&db->snap_mu);
}

static int htab_insert(struct tsdb *db, struct tsdb__series *s)
{
    if ((size_t)db->nseries + 1 > db->hcap / 2) {
        size_t ncap = db->hcap ? db->hcap * 2 : 1024;
        struct tsdb__series **nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return -ENOMEM;
        for (size_t i = 0; i < db->hcap; i++) {
            struct tsdb__series *x = db->htab[i];
            while (x) {
                struct tsdb__series *next = x->hnext;
                x->hnext = nt[x->hash & (ncap - 1)];
                nt[x->hash & (ncap - 1)] = x;
                x = next;
            }
        }
        free(db->htab);
        db->htab = nt;
        db->hcap = ncap;
    }
    struct tsdb__series **b = &db->htab[s->hash & (db->hcap - 1)];
    s->hnext = *b;
    *b = s;
    return 0;
}

int tsdb__head_create(struct tsdb *db, const struct tsdb_label *v, size_t n, tsdb_ref ref,
                      struct tsdb__series **out)
{
    if ((ref >> TSDB__SERIES_PAGE_BITS) >= TSDB__SERIES_PAGES)
        return TSDB_E_SERIES_LIMIT;
    struct tsdb__series *s = calloc(1, sizeof *s + n * sizeof *s->labels);
    if (!s)
        return -ENOMEM;
    s->labels = (struct tsdb_label *)(s + 1);
    s->nlabels = (uint32_t)n;
    s->ref = ref;
    s->maxt = s->pend_maxt = INT64_MIN;

    pthread_mutex_lock(&db->idx_mu);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        s->labels[i].name = intern(db, v[i].name);
        s->labels[i].value = intern(db, v[i].value);
        if (!s->labels[i].name || !s->labels[i].value)
            rc = -ENOMEM;
    }
    struct tsdb_labels ls = {n, s->labels};
    s->hash = tsdb__labels_hash(&ls);
    uint32_t pg = ref >> TSDB__SERIES_PAGE_BITS;
    struct tsdb__series **page = atomic_load(&db->pages[pg]);
    if (!rc && !page) {
        page = calloc(1u << TSDB__SERIES_PAGE_BITS, sizeof *page);
        if (!page)
            rc = -ENOMEM;
        else
            atomic_store_explicit(&db->pages[pg], page, memory_order_release);
    }
    if (!rc)
        rc = htab_insert(db, s);
    if (!rc) {
        page[ref & ((1u << TSDB__SERIES_PAGE_BITS) - 1)] = s;
        for (size_t i = 0; i < n && !rc; i++)
            rc = index_add(db, s->labels[i].name, s->labels[i].value, ref);
    }
    if (!rc && ref >= db->nseries)
        db->nseries = ref + 1;
    pthread_mutex_unlock(&db->idx_mu);
    if (rc)
        return rc; /* a half-indexed series stays unreachable: its ref is burnt */
    db->st.series_created++;
    *out = s;
    return 0;
}

/* ---- writing ----------------------------------------------------------- */

static int ooo_add(struct tsdb *db, struct tsdb__series *s, int64_t ts, double v)
{
    struct tsdb__ooo *o = s->w_ooo;
    if (!o || s->w_ooo_len == o->cap) {
        uint32_t cap = o ? o->cap * 2 : OOO_CAP_FIRST;
        struct tsdb__ooo *no = malloc(sizeof *no + cap * (sizeof(int64_t) + sizeof(double)));
        if (!no)
            return -ENOMEM;
        no->cap = cap;
        no->ts = (int64_t *)(no + 1);
        no->v = (double *)(no->ts + cap);
        if (o) {
            memcpy(no->ts, o->ts, s->w_ooo_len * sizeof *no->ts);
            memcpy(no->v, o->v, s->w_ooo_len * sizeof *no->v);
            /* readers may hold the old log until they close */
            tsdb__grave_add(db, ooo_free, o, NULL);
        }
        s->w_ooo = no;
    }
    s->w_ooo->ts[s->w_ooo_len] = ts;
    s->w_ooo->v[s->w_ooo_len] = v;
    s->w_ooo_len++;
    db->st.samples_ooo++;
    return 0;
}

static int chunk_add(struct tsdb__series *s, int64_t ts, double v)
{
    struct tsdb__chunk *c = atomic_load_explicit(&s->newest, memory_order_relaxed);
    if (c && tsdb__chunk_append(c, ts, v) == 0)
        return 0;
    uint32_t words = c ? c->cap_words * 2 : CHUNK_WORDS_FIRST;
    if (words > CHUNK_WORDS_MAX)
        words = CHUNK_WORDS_MAX;
    struct tsdb__chunk *nc = tsdb__chunk_new(words);
    if (!nc)
        return -ENOMEM;
    nc->first_index = s->w_count;
    atomic_store_explicit((struct tsdb__chunk *_Atomic *)&nc->prev, c, memory_order_relaxed);
    if (tsdb__chunk_append(nc, ts, v) != 0) {
        free(nc);
        return -EINVAL;
    }
    atomic_store_explicit(&s->newest, nc, memory_order_release);
    return 0;
}

int tsdb__head_apply(struct tsdb *db, struct tsdb__series *s, int64_t ts, double v)
{
    int rc;
    if (ts > s->maxt) {
        rc = chunk_add(s, ts, v);
        if (!rc) {
            s->w_count++;
            s->maxt = ts;
        }
    } else {
        rc = ooo_add(db, s, ts, v);
    }
    if (rc)
        return rc;
    if (ts > s->pend_maxt)
        s->pend_maxt = ts;
    if (ts < db->head_mint)
        db->head_mint = ts;
    if (ts > db->head_maxt)
        db->head_maxt = ts;
    db->st.head_samples++;
    if (!s->touched) {
        if (db->ntouched == db->captouched) {
            size_t ncap = db->captouched ? db->captouched * 2 : 256;
            void *np = realloc(db->touched, ncap * sizeof *db->touched);
            if (!np)
                return -ENOMEM;
            db->touched = np;
            db->captouched = ncap;
        }
        db->touched[db->ntouched++] = s;
        s->touched = 1;
    }
    return 0;
}

/* ---- publication ------------------------------------------------------- */

static void state_read(const struct tsdb__series *s, struct tsdb__series_state *st)
{
    struct tsdb__series *m = (struct tsdb__series *)s;
    for (;;) {
        uint32_t v0 = atomic_load_explicit(&m->ver, memory_order_acquire);
        if (v0 & 1)
            continue;
        st->count = atomic_load_explicit(&m->count, memory_order_relaxed);
        st->first = atomic_load_explicit(&m->first, memory_order_relaxed);
        st->ooo_len = atomic_load_explicit(&m->ooo_len, memory_order_relaxed);
        st->ooo = atomic_load_explicit(&m->ooo, memory_order_relaxed);
        st->seq = atomic_load_explicit(&m->seq, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&m->ver, memory_order_relaxed) == v0)
            return;
    }
}

int tsdb__series_state_at(const struct tsdb__series *s, uint64_t seq,
                          struct tsdb__series_state *st)
{
    state_read(s, st);
    if (st->seq <= seq)
        return st->count > st->first || st->ooo_len > 0;
    for (struct tsdb__state_node *n = atomic_load_explicit(
             &((struct tsdb__series *)s)->history, memory_order_acquire);
         n; n = atomic_load_explicit(&n->older, memory_order_acquire)) {
        if (n->st.seq <= seq) {
            *st = n->st;
            return st->count > st->first || st->ooo_len > 0;
        }
    }
    memset(st, 0, sizeof *st);
    return 0;
}

/* Remembers the published state of s in its history, for open snapshots. */
static int history_push(struct tsdb *db, struct tsdb__series *s)
{
    struct tsdb__state_node *n = malloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    state_read(s, &n->st);
    atomic_store_explicit(&n->older, atomic_load(&s->history), memory_order_relaxed);
    atomic_store_explicit(&s->history, n, memory_order_release);
    if (!s->has_history) {
        if (db->nhist == db->caphist) {
            size_t ncap = db->caphist ? db->caphist * 2 : 64;
            void *np = realloc(db->hist, ncap * sizeof *db->hist);
            if (!np)
                return -ENOMEM;
            db->hist = np;
            db->caphist = ncap;
        }
        db->hist[db->nhist++] = s;
        s->has_history = 1;
    }
    return 0;
}

static void state_write(struct tsdb__series *s, uint64_t seq)
{
    uint32_t v = atomic_load_explicit(&s->ver, memory_order_relaxed);
    atomic_store_explicit(&s->ver, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->count, s->w_count, memory_order_relaxed);
    atomic_store_explicit(&s->first, s->w_first, memory_order_relaxed);
    atomic_store_explicit(&s->ooo_len, s->w_ooo_len, memory_order_relaxed);
    atomic_store_explicit(&s->ooo, s->w_ooo, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq, memory_order_relaxed);
    atomic_store_explicit(&s->ver, v + 2, memory_order_release);
}

/* Publishes series s at seq; keeps its previous state in history when an
 * open snapshot (newest at seq newest_snap) may still need it. */
static void publish_one(struct tsdb *db, struct tsdb__series *s, uint64_t seq, int snaps,
                        uint64_t newest_snap)
{
    if (snaps && atomic_load_explicit(&s->seq, memory_order_relaxed) <= newest_snap)
        (void)history_push(db, s); /* ENOMEM: a snapshot may see newer data */
    state_write(s, seq);
}

void tsdb__head_publish(struct tsdb *db)
{
    pthread_mutex_lock(&db->snap_mu);
    uint64_t seq = atomic_load_explicit(&db->seq, memory_order_relaxed) + 1;
    int snaps = db->snap_newest != NULL;
    uint64_t newest = snaps ? db->snap_newest->seq : 0;
    for (size_t i = 0; i < db->ntouched; i++) {
        struct tsdb__series *s = db->touched[i];
        publish_one(db, s, seq, snaps, newest);
        s->touched = 0;
    }
    db->ntouched = 0;
    atomic_store_explicit(&db->seq, seq, memory_order_release);
    pthread_mutex_unlock(&db->snap_mu);
}

void tsdb__grave_add(struct tsdb *db, void (*fn)(void *, void *), void *p, void *q)
{
    struct tsdb__grave *g = malloc(sizeof *g);
    if (!g) {
        /* Leaking beats freeing memory a reader may hold. */
        return;
    }
    /* retired memory is unreachable for snapshots newer than the next seq */
    *g = (struct tsdb__grave){atomic_load(&db->seq) + 1, fn, p, q, NULL};
    if (db->grave_last)
        db->grave_last->next = g;
    else
        db->grave_first = g;
    db->grave_last = g;
}

static void node_free(void *p, void *unused)
{
    (void)unused;
    free(p);
}

/* 1 if some seq in the ascending snaps[0..n) lies in [lo, hi). */
static int any_in(const uint64_t *snaps, size_t n, uint64_t lo, uint64_t hi)
{
    size_t a = 0, b = n;
    while (a < b) { /* first snaps[i] >= lo */
        size_t m = a + (b - a) / 2;
        if (snaps[m] < lo)
            a = m + 1;
        else
            b = m;
    }
    return a < n && snaps[a] < hi;
}

/* Unlinks the history nodes of s that no open snapshot (ascending seqs
 * snaps[0..n)) stops at: snapshot S reads the newest state with seq <= S,
 * so a node is needed only if some S lies in [node.seq, seq of the next
 * newer state). A reader may be passing an unlinked node on its way to an
 * older one: with snapshots open, nodes go to the graveyard.
 * @return 1 if s still has history. */
static int history_prune(struct tsdb *db, struct tsdb__series *s, const uint64_t *snaps,
                         size_t n)
{
    uint64_t newer = atomic_load(&s->seq);
    struct tsdb__state_node *_Atomic *link = &s->history;
    struct tsdb__state_node *node;
    while ((node = atomic_load(link))) {
        uint64_t lo = node->st.seq;
        if (n && any_in(snaps, n, lo, newer)) {
            link = &node->older;
        } else {
            atomic_store(link, atomic_load(&node->older));
            if (n)
                tsdb__grave_add(db, node_free, node, NULL);
            else
                free(node);
        }
        newer = lo;
    }
    return atomic_load(&s->history) != NULL;
}

void tsdb__head_gc(struct tsdb *db)
{
    uint64_t stack[64], *snaps = stack;
    size_t n = 0, cap = 64;
    int complete = 1;
    pthread_mutex_lock(&db->snap_mu);
    for (struct tsdb_snapshot *sn = db->snap_oldest; sn; sn = sn->newer) {
        if (n == cap) {
            uint64_t *ns = malloc(2 * cap * sizeof *ns);
            if (!ns) {
                complete = 0; /* ENOMEM: prune nothing this time */
                break;
            }
            memcpy(ns, snaps, n * sizeof *ns);
            if (snaps != stack)
                free(snaps);
            snaps = ns;
            cap *= 2;
        }
        snaps[n++] = sn->seq;
    }
    pthread_mutex_unlock(&db->snap_mu);
    uint64_t min_seq = n ? snaps[0] : UINT64_MAX;

    while (db->grave_first && (!n || db->grave_first->seq <= min_seq)) {
        struct tsdb__grave *g = db->grave_first;
        db->grave_first = g->next;
        if (!db->grave_first)
            db->grave_last = NULL;
        g->free_fn(g->p, g->q);
        free(g);
    }
    size_t keep = 0;
    for (size_t i = 0; i < db->nhist; i++) {
        struct tsdb__series *s = db->hist[i];
        if (!complete || history_prune(db, s, snaps, n))
            db->hist[keep++] = s;
        else
            s->has_history = 0;
    }
    db->nhist = keep;
    if (snaps != stack)
        free(snaps);
}

/* ---- truncation after a block cut --------------------------------------- */

static struct tsdb__chunk *chunk_prev(const struct tsdb__chunk *c)
{
    return atomic_load_explicit((struct tsdb__chunk *_Atomic *)&c->prev, memory_order_acquire);
}

/* Decodes the first n samples of c into ts[] and v[], which have room for
 * n entries, or all of a packed chunk's packed_n. @return n, or a negative
 * error. */
static int chunk_read(const struct tsdb__chunk *c, uint32_t n, int64_t *ts, double *v)
{
    if (c->packed) {
        int got = tsdb__blockenc_decode(c->packed, c->packed_len, ts, v, c->packed_n);
        return got < 0 ? got : (int)(n < (uint32_t)got ? n : (uint32_t)got);
    }
    struct tsdb__chunk_iter it;
    uint32_t i = 0;
    tsdb__chunk_iter_init(&it, c, n);
    while (tsdb__chunk_iter_next(&it, &ts[i], &v[i]))
        i++;
    return (int)i;
}

/* Index of the first sample >= t among the n samples of c, or n. */
static uint32_t chunk_seek(const struct tsdb__chunk *c, uint32_t n, int64_t t)
{
    uint32_t cap = c->packed && c->packed_n > n ? c->packed_n : n, i = 0;
    int64_t *ts = malloc(cap * sizeof *ts);
    double *v = malloc(cap * sizeof *v);
    int got = ts && v ? chunk_read(c, n, ts, v) : -ENOMEM;
    while (got > 0 && i < (uint32_t)got && ts[i] < t)
        i++;
    free(ts);
    free(v);
    return got < 0 ? 0 : i; /* on failure keep everything: reads dedupe */
}

/* Frees the chunks below the one holding sample `first` of series s (they
 * are in blocks). Runs from the graveyard, so no snapshot still reads them;
 * it walks the chain as it is then (packing may have replaced chunks). */
static void chain_cut(void *sp, void *firstp)
{
    struct tsdb__series *s = sp;
    uint32_t first = (uint32_t)(uintptr_t)firstp;
    for (struct tsdb__chunk *c = atomic_load(&s->newest); c; c = chunk_prev(c)) {
        if (c->first_index <= first) {
            chunks_free(atomic_exchange((struct tsdb__chunk *_Atomic *)&c->prev, NULL));
            return;
        }
    }
}

/* Frees the chunks from newest down to oldest along prev (replaced ones). */
static void run_free(void *newest, void *oldest)
{
    struct tsdb__chunk *c = newest;
    for (;;) {
        struct tsdb__chunk *prev = chunk_prev(c);
        int last = c == oldest;
        free(c);
        if (last)
            return;
        c = prev;
    }
}

/* Samples held by chunk c whose newer neighbour starts at next_first. */
static uint32_t chunk_count(const struct tsdb__chunk *c, uint32_t next_first)
{
    return next_first - c->first_index;
}

/* Replaces the run of sealed, unpacked chunks of s (all but the newest,
 * down to the first packed one) by one packed chunk in the block encoding,
 * exactly sized; a packed chunk below the run joins it while the result
 * stays under PACK_MAX_SAMPLES. Readers move to it with one pointer store;
 * the replaced chunks go to the graveyard. */
static void series_pack(struct tsdb *db, struct tsdb__series *s, int64_t **ts, double **v,
                        size_t *cap)
{
    struct tsdb__chunk *next = atomic_load(&s->newest);
    struct tsdb__chunk *top = next ? chunk_prev(next) : NULL, *bottom = NULL;
    uint32_t n = 0;
    for (struct tsdb__chunk *c = top, *above = next; c && !c->packed;
         above = c, c = chunk_prev(c)) {
        n += chunk_count(c, above->first_index);
        bottom = c;
    }
    if (!bottom)
        return;
    struct tsdb__chunk *below = chunk_prev(bottom);
    if (below && below->packed && below->packed_n + n <= PACK_MAX_SAMPLES) {
        n += below->packed_n;
        bottom = below;
    }
    if (tsdb__samples_reserve(ts, v, cap, n))
        return;
    /* decode oldest first: walk down collecting, then fill from the end */
    uint32_t end = n;
    for (struct tsdb__chunk *c = top, *above = next;; above = c, c = chunk_prev(c)) {
        uint32_t k = c->packed ? c->packed_n : chunk_count(c, above->first_index);
        if (chunk_read(c, k, *ts + end - k, *v + end - k) != (int)k)
            return;
        end -= k;
        if (c == bottom)
            break;
    }
    struct tsdb__chunk *p = malloc(TSDB__CHUNK_PACKED_HEADER + tsdb__blockenc_bound(n));
    if (!p)
        return;
    uint8_t *data = (uint8_t *)p + TSDB__CHUNK_PACKED_HEADER;
    size_t len = tsdb__blockenc_encode(*ts, *v, n, data);
    struct tsdb__chunk *exact = realloc(p, TSDB__CHUNK_PACKED_HEADER + len);
    p = exact ? exact : p;
    p->packed = (const uint8_t *)p + TSDB__CHUNK_PACKED_HEADER;
    p->packed_len = (uint32_t)len;
    p->packed_n = n;
    p->first_index = bottom->first_index;
    p->mint = bottom->mint;
    p->cap_words = 0;
    atomic_store_explicit((struct tsdb__chunk *_Atomic *)&p->prev, chunk_prev(bottom),
                          memory_order_relaxed);
    atomic_store_explicit((struct tsdb__chunk *_Atomic *)&next->prev, p, memory_order_release);
    tsdb__grave_add(db, run_free, top, bottom);
}

void tsdb__head_pack(struct tsdb *db)
{
    int64_t *ts = NULL;
    double *v = NULL;
    size_t cap = 0;
    for (uint32_t r = 0; r < db->nseries; r++) {
        struct tsdb__series *s = tsdb__head_series(db, r);
        if (s)
            series_pack(db, s, &ts, &v, &cap);
    }
    free(ts);
    free(v);
}

static void series_truncate(struct tsdb *db, struct tsdb__series *s, int64_t t)
{
    /* In-order samples: move `first` to the first sample >= t and retire
     * the chunks below the one holding it. The newest chunk always stays
     * (snapshots find the chain through it). */
    struct tsdb__chunk *newest = atomic_load(&s->newest), *keep = newest;
    uint32_t first = s->w_count, end = s->w_count;
    for (struct tsdb__chunk *c = newest; c && end > s->w_first; c = chunk_prev(c)) {
        uint32_t i = c->mint >= t ? 0 : chunk_seek(c, end - c->first_index, t);
        if (i == end - c->first_index)
            break; /* all of c is older than t, and so is every older chunk */
        first = c->first_index + i;
        keep = c;
        if (i > 0)
            break;
        end = c->first_index;
    }
    if (first < s->w_first)
        first = s->w_first;
    if (keep && chunk_prev(keep))
        tsdb__grave_add(db, chain_cut, s, (void *)(uintptr_t)first);
    s->w_first = first;

    /* out-of-order log: keep entries >= t in a fresh log */
    if (s->w_ooo_len) {
        struct tsdb__ooo *o = s->w_ooo;
        uint32_t n = 0;
        for (uint32_t i = 0; i < s->w_ooo_len; i++)
            n += o->ts[i] >= t;
        struct tsdb__ooo *no = NULL;
        if (n) {
            no = malloc(sizeof *no + n * (sizeof(int64_t) + sizeof(double)));
            if (!no)
                return; /* keep the old log; reads still dedupe */
            no->cap = n;
            no->ts = (int64_t *)(no + 1);
            no->v = (double *)(no->ts + n);
            for (uint32_t i = 0, j = 0; i < s->w_ooo_len; i++)
                if (o->ts[i] >= t) {
                    no->ts[j] = o->ts[i];
                    no->v[j++] = o->v[i];
                }
        }
        tsdb__grave_add(db, ooo_free, o, NULL);
        s->w_ooo = no;
        s->w_ooo_len = n;
    }
}

/* Timestamp of the oldest sample s still has in the head, or INT64_MAX. */
static int64_t series_mint(const struct tsdb__series *s)
{
    int64_t mint = INT64_MAX;
    for (uint32_t i = 0; i < s->w_ooo_len; i++)
        if (s->w_ooo->ts[i] < mint)
            mint = s->w_ooo->ts[i];
    if (s->w_count == s->w_first)
        return mint;
    const struct tsdb__chunk *c = atomic_load(&((struct tsdb__series *)s)->newest);
    while (c && c->first_index > s->w_first)
        c = chunk_prev(c);
    if (!c)
        return mint;
    uint32_t n = s->w_first - c->first_index + 1;
    uint32_t cap = c->packed && c->packed_n > n ? c->packed_n : n;
    int64_t *ts = malloc(cap * sizeof *ts);
    double *v = malloc(cap * sizeof *v);
    if (ts && v && chunk_read(c, n, ts, v) == (int)n && ts[n - 1] < mint)
        mint = ts[n - 1];
    else if (!ts || !v)
        mint = c->mint < mint ? c->mint : mint; /* a lower bound will do */
    free(ts);
    free(v);
    return mint;
}

void tsdb__head_truncate(struct tsdb *db, int64_t t)
{
    int64_t mint = INT64_MAX;
    for (uint32_t r = 0; r < db->nseries; r++) {
        struct tsdb__series *s = tsdb__head_series(db, r);
        if (!s || (s->w_count == s->w_first && !s->w_ooo_len))
            continue;
        series_truncate(db, s, t);
        int64_t m = series_mint(s);
        if (m < mint)
            mint = m;
        if (!s->touched) {
            if (db->ntouched == db->captouched) {
                size_t ncap = db->captouched ? db->captouched * 2 : 256;
                void *np = realloc(db->touched, ncap * sizeof *db->touched);
                if (!np)
                    break;
                db->touched = np;
                db->captouched = ncap;
            }
            db->touched[db->ntouched++] = s;
            s->touched = 1;
        }
    }
    tsdb__head_publish(db);
    if (t > db->min_valid)
        db->min_valid = t;
    /* the oldest remaining sample, so the next cut skips empty ranges */
    db->head_mint = mint;
    if (mint == INT64_MAX)
        db->head_maxt = INT64_MIN;
}

/* ---- selecting head series (readers, under idx_mu) ---------------------- */

struct idset {
    uint32_t *v;
    size_t len, cap;
};

static int idset_add(struct idset *s, const uint32_t *ids, size_t n)
{
    if (n == 0)
        return 0;
    if (s->len + n > s->cap) {
        size_t ncap = s->cap ? s->cap : 64;
        while (ncap < s->len + n)
            ncap *= 2;
        uint32_t *nv = realloc(s->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = ncap;
    }
    memcpy(s->v + s->len, ids, n * sizeof *ids);
    s->len += n;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void idset_normalize(struct idset *s)
{
    if (s->len < 2)
        return;
    qsort(s->v, s->len, sizeof *s->v, cmp_u32);
    size_t k = 0;
    for (size_t i = 0; i < s->len; i++)
        if (k == 0 || s->v[k - 1] != s->v[i])
            s->v[k++] = s->v[i];
    s->len = k;
}

/* a := a ∩ b (keep = 1) or a \ b (keep = 0); both sorted. */
static void idset_filter(struct idset *a, const struct idset *b, int keep)
{
    size_t k = 0, j = 0;
    for (size_t i = 0; i < a->len; i++) {
        while (j < b->len && b->v[j] < a->v[i])
            j++;
        int in_b = j < b->len && b->v[j] == a->v[i];
        if (in_b == keep)
            a->v[k++] = a->v[i];
    }
    a->len = k;
}

/* Series carrying label `name` with a value for which the matcher's
 * verdict equals want. */
static int postings_where(struct tsdb *db, const struct tsdb_matcher *m, int want,
                          struct idset *out)
{
    const char *name = interned(db, m->name);
    if (!name)
        return 0;
    if (m->type == TSDB_MATCH_EQ && want) {
        const char *value = interned(db, m->value);
        struct tsdb__map_slot *slot =
            value ? map_find(&db->pairs, hash_ptrs(name, value), eq_ptrs, name, value) : NULL;
        if (slot && slot->val) {
            struct tsdb__lval *lv = slot->val;
            return idset_add(out, lv->ids, lv->len);
        }
        return 0;
    }
    struct tsdb__map_slot *slot = map_find(&db->names, hash_ptrs(name, NULL), eq_ptrs, name, NULL);
    if (!slot || !slot->val)
        return 0;
    struct tsdb__lname *ln = slot->val;
    for (uint32_t i = 0; i < ln->len; i++) {
        if (tsdb_matcher_matches(m, ln->vals[i]->value) != want)
            continue;
        int rc = idset_add(out, ln->vals[i]->ids, ln->vals[i]->len);
        if (rc)
            return rc;
    }
    return 0;
}

/* The postings of an equality matcher that does not match "", or NULL
 * (*len 0) when no series carries that pair; sorted, owned by the index. */
static const uint32_t *eq_postings(struct tsdb *db, const struct tsdb_matcher *m, size_t *len)
{
    const char *name = interned(db, m->name), *value = interned(db, m->value);
    struct tsdb__map_slot *slot =
        name && value ? map_find(&db->pairs, hash_ptrs(name, value), eq_ptrs, name, value) : NULL;
    const struct tsdb__lval *lv = slot ? slot->val : NULL;
    *len = lv ? lv->len : 0;
    return lv ? lv->ids : NULL;
}

/* a := a ∩ list (sorted): a binary search per element of a, from where the
 * previous one ended (a is the smaller side). */
static void idset_intersect_list(struct idset *a, const uint32_t *list, size_t n)
{
    size_t k = 0, lo = 0;
    for (size_t i = 0; i < a->len; i++) {
        size_t hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (list[mid] < a->v[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < n && list[lo] == a->v[i])
            a->v[k++] = a->v[i];
    }
    a->len = k;
}

/* Keeps the series of a whose value of m's label ("" when absent) the
 * matcher accepts: for candidates fewer than the label's values. */
static void idset_filter_values(struct tsdb *db, struct idset *a, const struct tsdb_matcher *m)
{
    size_t k = 0;
    for (size_t i = 0; i < a->len; i++) {
        const struct tsdb__series *s = tsdb__head_series(db, a->v[i]);
        const char *value = "";
        for (uint32_t l = 0; s && l < s->nlabels; l++)
            if (strcmp(s->labels[l].name, m->name) == 0) {
                value = s->labels[l].value;
                break;
            }
        if (s && tsdb_matcher_matches(m, value))
            a->v[k++] = a->v[i];
    }
    a->len = k;
}

/* Distinct values of label name in the head (0 if none carries it). */
static uint32_t label_values(struct tsdb *db, const char *name)
{
    const char *in = interned(db, name);
    struct tsdb__map_slot *slot = in ? map_find(&db->names, hash_ptrs(in, NULL), eq_ptrs, in, NULL)
                                     : NULL;
    return slot && slot->val ? ((struct tsdb__lname *)slot->val)->len : 0;
}

/* Series ids matching every matcher, sorted. Equality matchers intersect
 * their (sorted) postings in place, smallest first; every other matcher
 * then either checks the few remaining candidates' own label values or,
 * when candidates outnumber the label's values, goes through the
 * postings of the values it accepts (or rejects). */
int tsdb__head_select(struct tsdb *db, const struct tsdb_matcher *m, size_t nm,
                      uint32_t **ids, size_t *n)
{
    struct idset acc = {0}, tmp = {0};
    int have = 0, rc = 0;
    pthread_mutex_lock(&db->idx_mu);
    /* the smallest equality postings seed the candidates */
    size_t seed = SIZE_MAX, seed_len = 0;
    for (size_t i = 0; i < nm; i++) {
        size_t len;
        if (m[i].type != TSDB_MATCH_EQ || tsdb_matcher_matches(&m[i], ""))
            continue;
        eq_postings(db, &m[i], &len);
        if (seed == SIZE_MAX || len < seed_len)
            seed = i, seed_len = len;
    }
    if (seed != SIZE_MAX) {
        size_t len;
        const uint32_t *list = eq_postings(db, &m[seed], &len);
        rc = idset_add(&acc, list, len);
        have = 1;
        for (size_t i = 0; i < nm && !rc && acc.len; i++) {
            if (i == seed || m[i].type != TSDB_MATCH_EQ || tsdb_matcher_matches(&m[i], ""))
                continue;
            list = eq_postings(db, &m[i], &len);
            idset_intersect_list(&acc, list, len);
        }
    }
    /* other matchers that need a value: union of their values' postings */
    for (size_t i = 0; i < nm && !rc && !(have && !acc.len); i++) {
        if (m[i].type == TSDB_MATCH_EQ || tsdb_matcher_matches(&m[i], ""))
            continue;
        if (have && acc.len <= label_values(db, m[i].name)) {
            idset_filter_values(db, &acc, &m[i]);
            continue;
        }
        tmp.len = 0;
        rc = postings_where(db, &m[i], 1, &tmp);
        idset_normalize(&tmp);
        if (!have) {
            rc = rc ? rc : idset_add(&acc, tmp.v, tmp.len);
            have = 1;
        } else {
            idset_filter(&acc, &tmp, 1);
        }
    }
    if (!have && !rc) {
        for (uint32_t r = 0; r < db->nseries && !rc; r++)
            rc = idset_add(&acc, &r, 1);
    }
    /* matchers that accept "": drop series whose value is rejected */
    for (size_t i = 0; i < nm && !rc && acc.len; i++) {
        if (!tsdb_matcher_matches(&m[i], ""))
            continue;
        if (acc.len <= label_values(db, m[i].name)) {
            idset_filter_values(db, &acc, &m[i]);
            continue;
        }
        tmp.len = 0;
        rc = postings_where(db, &m[i], 0, &tmp);
        idset_normalize(&tmp);
        idset_filter(&acc, &tmp, 0);
    }
    pthread_mutex_unlock(&db->idx_mu);
    free(tmp.v);
    if (rc) {
        free(acc.v);
        return rc;
    }
    *ids = acc.v;
    *n = acc.len;
    return 0;
}

/* ---- reading a series' head samples ------------------------------------- */

int tsdb__samples_reserve(int64_t **ts, double **v, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    int64_t *nts = realloc(*ts, ncap * sizeof *nts);
    if (!nts)
        return -ENOMEM;
    *ts = nts;
    double *nv = realloc(*v, ncap * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

int tsdb__series_samples(const struct tsdb__series *s, const struct tsdb__series_state *st,
                         int64_t mint, int64_t maxt, int64_t **ts, double **v, size_t *len,
                         size_t *cap)
{
    /* The chunks holding in-order samples [first, stop) that may fall in
     * [mint, maxt], newest first. Their timestamps increase from chunk to
     * chunk (out-of-order samples live in st->ooo), so a chunk starting
     * after maxt and everything newer is skipped, and the walk ends at the
     * first chunk starting at or before mint. */
    const struct tsdb__chunk *stack[64], **chain = stack;
    size_t nc = 0, capc = 64;
    uint32_t stop = st->count;
    const struct tsdb__chunk *c = atomic_load_explicit(
        &((struct tsdb__series *)s)->newest, memory_order_acquire);
    int rc = 0;
    for (; c && stop > st->first; c = chunk_prev(c)) {
        if (c->first_index >= stop)
            continue; /* appended after the snapshot */
        if (c->mint > maxt) {
            stop = c->first_index;
            continue;
        }
        if (nc == capc) {
            const struct tsdb__chunk **nchain = malloc(2 * capc * sizeof *nchain);
            if (!nchain) {
                rc = -ENOMEM;
                break;
            }
            memcpy(nchain, chain, nc * sizeof *chain);
            if (chain != stack)
                free(chain);
            chain = nchain;
            capc *= 2;
        }
        chain[nc++] = c;
        if (c->first_index <= st->first || c->mint <= mint)
            break;
    }
    size_t start = *len;
    for (size_t k = nc; k-- > 0 && !rc;) {
        c = chain[k];
        uint32_t end = k > 0 ? chain[k - 1]->first_index : stop;
        uint32_t n = end - c->first_index;
        /* enc of an open chunk belongs to the writer: read it only packed */
        uint32_t room = c->packed && c->packed_n > n ? c->packed_n : n;
        if ((rc = tsdb__samples_reserve(ts, v, cap, *len + room)))
            break;
        int64_t *t = *ts + *len;
        double *x = *v + *len;
        int got = chunk_read(c, n, t, x);
        if (got < 0) {
            rc = got;
            break;
        }
        size_t kept = 0;
        for (int j = 0; j < got; j++) {
            if (c->first_index + (uint32_t)j < st->first || t[j] < mint || t[j] > maxt)
                continue;
            t[kept] = t[j];
            x[kept++] = x[j];
        }
        *len += kept;
    }
    if (chain != stack)
        free(chain);
    if (rc || !st->ooo_len)
        return rc;
    /* out-of-order entries override chunk samples of the same timestamp */
    for (uint32_t i = 0; i < st->ooo_len; i++) {
        int64_t t = st->ooo->ts[i];
        if (t < mint || t > maxt)
            continue;
        if ((rc = tsdb__samples_reserve(ts, v, cap, *len + 1)))
            return rc;
        (*ts)[*len] = t;
        (*v)[(*len)++] = st->ooo->v[i];
    }
    *len = start + tsdb__samples_sort_dedup(*ts + start, *v + start, *len - start);
    return 0;
}

/* Stable merge sort by timestamp, then keep the last of equal timestamps. */
static void merge_sort(int64_t *ts, double *v, int64_t *tts, double *tv, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(ts, v, tts, tv, h);
    merge_sort(ts + h, v + h, tts, tv, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (ts[j] < ts[i]) {
            tts[k] = ts[j];
            tv[k++] = v[j++];
        } else {
            tts[k] = ts[i];
            tv[k++] = v[i++];
        }
    }
    while (i < h) {
        tts[k] = ts[i];
        tv[k++] = v[i++];
    }
    while (j < n) {
        tts[k] = ts[j];
        tv[k++] = v[j++];
    }
    memcpy(ts, tts, n * sizeof *ts);
    memcpy(v, tv, n * sizeof *v);
}

size_t tsdb__samples_sort_dedup(int64_t *ts, double *v, size_t n)
{
    int sorted = 1;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = ts[i - 1] < ts[i];
    if (sorted)
        return n;
    int64_t *tts = malloc(n * sizeof *tts);
    double *tv = malloc(n * sizeof *tv);
    if (tts && tv)
        merge_sort(ts, v, tts, tv, n);
    free(tts);
    free(tv);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && ts[k - 1] == ts[i]) {
            v[k - 1] = v[i];
            continue;
        }
        ts[k] = ts[i];
        v[k++] = v[i];
    }
    return k;
}
