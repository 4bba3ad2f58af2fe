/* db.c — the store: opening a data directory (blocks, WAL replay), the
 * write path (series, append, commit) and housekeeping (block cuts,
 * compaction, retention, WAL checkpoints). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsdb_int.h"

void tsdb_options_default(struct tsdb_options *o)
{
    *o = (struct tsdb_options){
        .block_range_ms = 2 * 3600 * 1000LL,
        .max_block_range_ms = 24 * 3600 * 1000LL,
        .retention_ms = 15 * 24 * 3600 * 1000LL,
        .retention_bytes = 0,
        .ooo_window_ms = 10 * 60 * 1000LL,
        .future_window_ms = 3600 * 1000LL,
        .wal_fsync = TSDB_FSYNC_INTERVAL,
        .wal_fsync_interval_ms = 1000,
        .wal_segment_bytes = 64u << 20,
        .max_series = 0,
        .max_labels = 64,
        .max_label_name_bytes = 256,
        .max_label_value_bytes = 4096,
    };
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* How far ahead tsdb_commit prefetches series and their open chunks. */
#define PREFETCH_SERIES 16
#define PREFETCH_CHUNK 8

/* Timestamps the store takes at all: far from int64's ends, so time
 * arithmetic (block ranges, windows) cannot overflow. */
#define TS_LIMIT (INT64_C(1) << 62)

/* Sets the newest timestamp appends may carry until the next commit. */
static void update_max_valid(struct tsdb *db)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t w = db->opts.future_window_ms;
    db->max_valid = w > 0 && w < TS_LIMIT
                        ? (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + w
                        : TS_LIMIT;
}

/* ---- blocks ------------------------------------------------------------ */

void tsdb__blk_unref(struct tsdb__blk *blk)
{
    if (atomic_fetch_sub(&blk->refs, 1) == 1) {
        tsdb__block_close(blk->b);
        free(blk);
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int rm_rf(const char *path)
{
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}

static int blk_cmp(const void *a, const void *b)
{
    const struct tsdb__blk *x = *(struct tsdb__blk *const *)a, *y = *(struct tsdb__blk *const *)b;
    return (x->mint > y->mint) - (x->mint < y->mint);
}

static int blk_load(struct tsdb *db, const char *path, struct tsdb__blk **out)
{
    struct tsdb__blk *blk = calloc(1, sizeof *blk);
    if (!blk)
        return -ENOMEM;
    int rc = tsdb__block_open(path, &blk->b);
    if (rc) {
        free(blk);
        return rc;
    }
    struct tsdb_block_info bi;
    tsdb__block_info(blk->b, &bi);
    blk->mint = bi.mint;
    blk->maxt = bi.maxt;
    blk->level = tsdb__block_level(blk->b);
    atomic_init(&blk->refs, 1);
    (void)db;
    *out = blk;
    return 0;
}

/* Adds blk to the store's list (sorted by mint), visible to new snapshots. */
static int blocks_add(struct tsdb *db, struct tsdb__blk *blk)
{
    pthread_mutex_lock(&db->snap_mu);
    struct tsdb__blk **nb = realloc(db->blocks, (db->nblocks + 1) * sizeof *nb);
    if (!nb) {
        pthread_mutex_unlock(&db->snap_mu);
        return -ENOMEM;
    }
    db->blocks = nb;
    nb[db->nblocks++] = blk;
    qsort(nb, db->nblocks, sizeof *nb, blk_cmp);
    pthread_mutex_unlock(&db->snap_mu);
    return 0;
}

/* Removes blocks[i] from the list and deletes its directory. Snapshots that
 * hold it keep reading their mapping until they close. */
static void blocks_delete(struct tsdb *db, size_t i)
{
    pthread_mutex_lock(&db->snap_mu);
    struct tsdb__blk *blk = db->blocks[i];
    memmove(&db->blocks[i], &db->blocks[i + 1], (db->nblocks - i - 1) * sizeof *db->blocks);
    db->nblocks--;
    pthread_mutex_unlock(&db->snap_mu);
    char gone[4096];
    snprintf(gone, sizeof gone, "%s.deleting", tsdb__block_path(blk->b));
    /* rename first: a crash never leaves a half-deleted block in use */
    if (rename(tsdb__block_path(blk->b), gone) == 0)
        rm_rf(gone);
    tsdb__blk_unref(blk);
}

static int is_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Loads every block directory; removes leftovers of interrupted writes and
 * deletions, and blocks a compaction already merged into a larger one. */
static int blocks_load(struct tsdb *db, struct tsdb_open_report *rep)
{
    DIR *d = opendir(db->dir);
    if (!d)
        return -errno;
    struct dirent *e;
    char path[4096];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        unsigned seq;
        if (strncmp(e->d_name, "b-", 2) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", db->dir, e->d_name);
        if (is_suffix(e->d_name, ".tmp") || is_suffix(e->d_name, ".deleting")) {
            if (!db->opts.read_only) {
                rm_rf(path);
                rep->blocks_removed++;
            }
            continue;
        }
        if (sscanf(e->d_name, "b-%u", &seq) == 1 && seq >= db->block_seq)
            db->block_seq = seq + 1;
        struct tsdb__blk *blk;
        rc = blk_load(db, path, &blk);
        if (rc == -ENOENT && db->opts.read_only) {
            rc = 0; /* deleted by the running writer meanwhile */
            continue;
        }
        if (!rc)
            rc = blocks_add(db, blk);
    }
    closedir(d);
    if (rc)
        return rc;
    /* a block lying wholly inside a higher-level one is a compaction source
     * whose deletion was interrupted */
    for (size_t i = 0; i < db->nblocks; i++) {
        for (size_t j = 0; j < db->nblocks; j++) {
            struct tsdb__blk *a = db->blocks[i], *b = db->blocks[j];
            if (i != j && b->level > a->level && b->mint <= a->mint && a->maxt <= b->maxt) {
                if (db->opts.read_only) {
                    pthread_mutex_lock(&db->snap_mu);
                    memmove(&db->blocks[i], &db->blocks[i + 1],
                            (db->nblocks - i - 1) * sizeof *db->blocks);
                    db->nblocks--;
                    pthread_mutex_unlock(&db->snap_mu);
                    tsdb__blk_unref(a);
                } else {
                    blocks_delete(db, i);
                    rep->blocks_removed++;
                }
                i = (size_t)-1;
                break;
            }
        }
    }
    for (size_t i = 0; i < db->nblocks; i++)
        if (db->blocks[i]->maxt > db->min_valid)
            db->min_valid = db->blocks[i]->maxt;
    rep->blocks = (uint32_t)db->nblocks;
    return 0;
}

/* ---- WAL replay -------------------------------------------------------- */

static int replay_series(void *arg, tsdb_ref ref, const struct tsdb_labels *ls)
{
    struct tsdb *db = arg;
    if (tsdb__head_series(db, ref))
        return 0; /* already known from the checkpoint */
    struct tsdb__series *s;
    int rc = tsdb__head_create(db, ls->v, ls->len, ref, &s);
    return rc == -ENOMEM ? rc : 0;
}

static int replay_samples(void *arg, const struct tsdb__wal_sample *smp, size_t n)
{
    struct tsdb *db = arg;
    for (size_t i = 0; i < n; i++) {
        struct tsdb__series *s = tsdb__head_series(db, smp[i].ref);
        if (!s || smp[i].ts < db->min_valid)
            continue; /* unknown series, or already in a block */
        int rc = tsdb__head_apply(db, s, smp[i].ts, smp[i].value);
        if (rc)
            return rc;
        if (smp[i].ts > s->pend_maxt)
            s->pend_maxt = smp[i].ts;
    }
    if (db->ntouched > 4096)
        tsdb__head_publish(db);
    return 0;
}

static int wal_open_replay(struct tsdb *db, struct tsdb_open_report *rep)
{
    int rc = tsdb__wal_open(db->dir, &db->opts, &db->wal);
    if (rc)
        return rc;
    struct tsdb__wal_replay_cb cb = {db, replay_series, replay_samples};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t before = db->st.head_samples;
    rc = tsdb__wal_replay(db->wal, &cb, rep);
    tsdb__head_publish(db);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->replay_seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    rep->wal_samples = db->st.head_samples - before;
    return rc;
}

/* ---- open and close ---------------------------------------------------- */

int tsdb_open(const char *dir, const struct tsdb_options *opts, struct tsdb **out,
              struct tsdb_open_report *report)
{
    struct tsdb_open_report scratch;
    struct tsdb_open_report *rep = report ? report : &scratch;
    memset(rep, 0, sizeof *rep);
    struct tsdb *db = calloc(1, sizeof *db);
    if (!db)
        return -ENOMEM;
    db->lock_fd = -1;
    if (opts)
        db->opts = *opts;
    else
        tsdb_options_default(&db->opts);
    int rc = -ENOMEM;
    if (!(db->dir = strdup(dir)) || (rc = tsdb__head_init(db)))
        goto fail;
    if (!db->opts.read_only) {
        if (mkdir(dir, 0777) && errno != EEXIST) {
            rc = -errno;
            goto fail;
        }
        char lock[4096];
        snprintf(lock, sizeof lock, "%s/lock", dir);
        db->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (db->lock_fd < 0) {
            rc = -errno;
            goto fail;
        }
        if (flock(db->lock_fd, LOCK_EX | LOCK_NB)) {
            rc = errno == EWOULDBLOCK ? TSDB_E_LOCKED : -errno;
            goto fail;
        }
    }
    update_max_valid(db);
    if ((rc = blocks_load(db, rep)))
        goto fail;
    if (!db->opts.no_wal && (rc = wal_open_replay(db, rep)))
        goto fail;
    *out = db;
    return 0;
fail:
    tsdb_close(db);
    return rc;
}

int tsdb_close(struct tsdb *db)
{
    if (!db)
        return 0;
    int rc = 0;
    if (db->pages && !db->opts.read_only) {
        rc = tsdb_commit(db);
        if (db->opts.no_wal) {
            int rc2 = tsdb_maintain(db, 1);
            rc = rc ? rc : rc2;
        }
    }
    if (db->wal) {
        int rc2 = tsdb__wal_close(db->wal);
        rc = rc ? rc : rc2;
    }
    for (size_t i = 0; i < db->nblocks; i++)
        tsdb__blk_unref(db->blocks[i]);
    free(db->blocks);
    tsdb__head_free(db);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    free(db->dir);
    free(db);
    return rc;
}

/* ---- writing ----------------------------------------------------------- */

int tsdb_series_ref(struct tsdb *db, const struct tsdb_labels *labels, tsdb_ref *ref)
{
    struct tsdb_label stackv[64], *v = stackv;
    if (labels->len > 64 && !(v = malloc(labels->len * sizeof *v)))
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < labels->len; i++)
        if (labels->v[i].value[0])
            v[n++] = labels->v[i]; /* an empty value means "no label" */
    tsdb__labels_sort(v, n);
    struct tsdb_labels ls = {n, v};
    int rc = tsdb__labels_validate(&ls, &db->opts);
    struct tsdb__series *s = NULL;
    if (!rc) {
        uint64_t h = tsdb__labels_hash(&ls);
        for (s = db->hcap ? db->htab[h & (db->hcap - 1)] : NULL; s; s = s->hnext) {
            struct tsdb_labels sl = {s->nlabels, s->labels};
            if (s->hash == h && tsdb__labels_cmp(&sl, &ls) == 0)
                break;
        }
    }
    if (!rc && !s) {
        if (db->opts.max_series && db->st.series_created >= db->opts.max_series)
            rc = TSDB_E_SERIES_LIMIT;
        else if (!(rc = tsdb__head_create(db, v, n, db->nseries, &s)) && db->wal) {
            struct tsdb_labels sl = {s->nlabels, s->labels};
            rc = tsdb__wal_log_series(db->wal, s->ref, &sl);
        }
    }
    if (v != stackv)
        free(v);
    if (rc) {
        db->st.series_rejected++;
        return rc;
    }
    *ref = s->ref;
    return 0;
}

int tsdb_append(struct tsdb *db, tsdb_ref ref, int64_t ts, double value)
{
    struct tsdb__series *s = ref < db->nseries ? tsdb__head_series(db, ref) : NULL;
    if (!s)
        return TSDB_E_BAD_REF;
    if (ts < db->min_valid || ts < -TS_LIMIT || ts > TS_LIMIT) {
        db->st.rejected_out_of_bounds++;
        return TSDB_E_OUT_OF_BOUNDS;
    }
    if (ts > db->max_valid) {
        db->st.rejected_too_new++;
        return TSDB_E_TOO_NEW;
    }
    /* both sides within +-2^62, the window clamped: no overflow */
    int64_t window = db->opts.ooo_window_ms < TS_LIMIT ? db->opts.ooo_window_ms : TS_LIMIT;
    if (s->pend_maxt != INT64_MIN && ts < s->pend_maxt - window) {
        db->st.rejected_too_old++;
        return TSDB_E_TOO_OLD;
    }
    if (db->npend == db->cappend) {
        size_t ncap = db->cappend ? db->cappend * 2 : 4096;
        void *np = realloc(db->pend, ncap * sizeof *db->pend);
        if (!np)
            return -ENOMEM;
        db->pend = np;
        db->cappend = ncap;
    }
    if (db->wal) {
        int rc = tsdb__wal_log_sample(db->wal, ref, ts, value);
        if (rc)
            return rc;
    }
    db->pend[db->npend++] = (struct tsdb__wal_sample){ref, ts, value};
    if (ts > s->pend_maxt)
        s->pend_maxt = ts;
    return 0;
}

int tsdb_commit(struct tsdb *db)
{
    update_max_valid(db);
    int rc = db->wal ? tsdb__wal_commit(db->wal) : 0;
    if (rc) {
        /* not durable, so not applied: forget the batch */
        for (size_t i = 0; i < db->npend; i++) {
            struct tsdb__series *s = tsdb__head_series(db, db->pend[i].ref);
            s->pend_maxt = s->maxt;
        }
        db->npend = 0;
        return rc;
    }
    for (size_t i = 0; i < db->npend && !rc; i++) {
        /* A batch touches many series in turn, each a cache miss away:
         * fetch the series a few samples ahead, and its open chunk's state
         * and current word a little later, while this one is applied. */
        if (i + PREFETCH_SERIES < db->npend)
            __builtin_prefetch(tsdb__head_series(db, db->pend[i + PREFETCH_SERIES].ref));
        if (i + PREFETCH_CHUNK < db->npend) {
            const struct tsdb__series *s = tsdb__head_series(db, db->pend[i + PREFETCH_CHUNK].ref);
            const struct tsdb__chunk *c = atomic_load_explicit(
                &((struct tsdb__series *)s)->newest, memory_order_relaxed);
            if (c) {
                __builtin_prefetch(&c->enc);
                __builtin_prefetch(&c->words[c->enc.nbits / 64]);
            }
        }
        struct tsdb__wal_sample *p = &db->pend[i];
        rc = tsdb__head_apply(db, tsdb__head_series(db, p->ref), p->ts, p->value);
    }
    db->st.samples_appended += db->npend;
    db->npend = 0;
    tsdb__head_publish(db);
    tsdb__head_gc(db);
    return rc;
}

/* ---- housekeeping ------------------------------------------------------ */

static int series_cmp(const void *a, const void *b)
{
    const struct tsdb__series *x = *(struct tsdb__series *const *)a;
    const struct tsdb__series *y = *(struct tsdb__series *const *)b;
    struct tsdb_labels lx = {x->nlabels, x->labels}, ly = {y->nlabels, y->labels};
    return tsdb__labels_cmp(&lx, &ly);
}

static void block_name(struct tsdb *db, char *name, size_t len, int64_t mint)
{
    snprintf(name, len, "b-%08u-%" PRId64, db->block_seq++, mint);
}

/* Finishes writer w (or aborts it when rc is an error), then loads the
 * block and adds it to the list. @return 0 and *out, or an error
 * (-ENOENT when the block had no series and was not written). */
static int block_finish(struct tsdb *db, struct tsdb__block_writer *w, int rc, const char *name,
                        struct tsdb__blk **out)
{
    if (rc) {
        if (w)
            tsdb__block_writer_abort(w);
        return rc;
    }
    if ((rc = tsdb__block_writer_finish(w)))
        return rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", db->dir, name);
    if ((rc = blk_load(db, path, out)))
        return rc;
    return blocks_add(db, *out);
}

/* Writes the head's samples in [mint, maxt) into a new level-1 block. */
static int cut_block(struct tsdb *db, int64_t mint, int64_t maxt)
{
    struct tsdb__series **all = malloc((db->nseries + 1) * sizeof *all);
    if (!all)
        return -ENOMEM;
    size_t n = 0;
    uint64_t seq = atomic_load(&db->seq);
    for (uint32_t r = 0; r < db->nseries; r++) {
        struct tsdb__series *s = tsdb__head_series(db, r);
        if (s && (s->w_count > s->w_first || s->w_ooo_len))
            all[n++] = s;
    }
    qsort(all, n, sizeof *all, series_cmp);
    char name[64];
    block_name(db, name, sizeof name, mint);
    struct tsdb__block_writer *w;
    int rc = tsdb__block_writer_open(db->dir, name, mint, maxt, 1, &w);
    int64_t *ts = NULL;
    double *v = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct tsdb__series_state st;
        size_t len = 0;
        if (!tsdb__series_state_at(all[i], seq, &st))
            continue;
        rc = tsdb__series_samples(all[i], &st, mint, maxt - 1, &ts, &v, &len, &cap);
        if (!rc && len) {
            struct tsdb_labels ls = {all[i]->nlabels, all[i]->labels};
            rc = tsdb__block_writer_add(w, &ls, ts, v, len);
        }
    }
    free(ts);
    free(v);
    free(all);
    struct tsdb__blk *blk;
    rc = block_finish(db, w, rc, name, &blk);
    return rc == -ENOENT ? 0 : rc; /* ENOENT: nothing in range, no block */
}

/* Logs every head series and its remaining samples into a checkpoint. */
static int checkpoint_emit(struct tsdb__wal_cp *cp, void *arg)
{
    struct tsdb *db = arg;
    uint64_t seq = atomic_load(&db->seq);
    int64_t *ts = NULL;
    double *v = NULL;
    size_t cap = 0;
    int rc = 0;
    for (uint32_t r = 0; r < db->nseries && !rc; r++) {
        struct tsdb__series *s = tsdb__head_series(db, r);
        if (!s)
            continue;
        struct tsdb_labels ls = {s->nlabels, s->labels};
        struct tsdb__series_state st;
        size_t len = 0;
        rc = tsdb__wal_cp_series(cp, s->ref, &ls);
        if (!rc && tsdb__series_state_at(s, seq, &st))
            rc = tsdb__series_samples(s, &st, INT64_MIN, INT64_MAX, &ts, &v, &len, &cap);
        for (size_t i = 0; i < len && !rc; i++)
            rc = tsdb__wal_cp_sample(cp, s->ref, ts[i], v[i]);
    }
    free(ts);
    free(v);
    return rc;
}

/* Cuts the head into blocks: ranges older than 1.5 block ranges before the
 * newest sample, or everything when force is set. */
static int cut_head(struct tsdb *db, int force, int *cut)
{
    int64_t R = db->opts.block_range_ms;
    int rc = 0;
    *cut = 0;
    while (!rc && db->head_mint <= db->head_maxt) {
        int64_t a = floor_div(db->head_mint, R) * R, b = a + R;
        if (!force && db->head_maxt - a < R + R / 2)
            break;
        if (force && b > db->head_maxt)
            b = db->head_maxt + 1;
        if ((rc = cut_block(db, a, b)))
            break;
        tsdb__head_truncate(db, b);
        *cut = 1;
    }
    if (!rc && *cut && db->wal) {
        uint32_t seg;
        rc = tsdb__wal_cut_segment(db->wal, &seg);
        if (!rc)
            rc = tsdb__wal_checkpoint(db->wal, seg, checkpoint_emit, db);
    }
    return rc;
}

/* Merges blocks [i, j) of the list into one block of the next level. */
static int merge_blocks(struct tsdb *db, size_t i, size_t j)
{
    struct tsdb_snapshot snap = {.db = db, .seq = 0, .blocks = &db->blocks[i],
                                 .nblocks = j - i};
    int64_t mint = db->blocks[i]->mint, maxt = db->blocks[i]->maxt;
    int level = 0;
    for (size_t k = i; k < j; k++) {
        if (db->blocks[k]->maxt > maxt)
            maxt = db->blocks[k]->maxt;
        if (db->blocks[k]->level > level)
            level = db->blocks[k]->level;
    }
    struct tsdb_matcher all;
    int rc = tsdb_matcher_init(&all, TSDB_MATCH_RE, "__name__", ".+", NULL, 0);
    if (rc)
        return rc;
    struct tsdb_series_set *set = NULL;
    rc = tsdb__select_blocks(&snap, &all, 1, mint, maxt - 1, 0, &set);
    tsdb_matcher_free(&all);
    char name[64];
    block_name(db, name, sizeof name, mint);
    struct tsdb__block_writer *w = NULL;
    if (!rc)
        rc = tsdb__block_writer_open(db->dir, name, mint, maxt, level + 1, &w);
    for (size_t k = 0; !rc && k < tsdb_series_set_len(set); k++) {
        const int64_t *ts;
        const double *v;
        size_t n;
        rc = tsdb__series_set_samples(set, k, &ts, &v, &n);
        if (!rc && n)
            rc = tsdb__block_writer_add(w, tsdb_series_set_labels(set, k), ts, v, n);
    }
    tsdb_series_set_free(set);
    struct tsdb__blk *blk;
    if ((rc = block_finish(db, w, rc, name, &blk)))
        return rc == -ENOENT ? 0 : rc;
    /* the new block sorts before its sources (same mint, added after a
     * stable position is not guaranteed): delete sources by identity */
    for (size_t k = 0; k < db->nblocks;) {
        struct tsdb__blk *b = db->blocks[k];
        if (b != blk && b->mint >= mint && b->maxt <= maxt)
            blocks_delete(db, k);
        else
            k++;
    }
    db->st.compactions++;
    return 0;
}

/* Compacts runs of blocks that fall into one aligned range of 3x, then
 * 12x the block range (capped at max_block_range_ms), once no more data
 * can arrive for that range. */
static int compact(struct tsdb *db)
{
    int64_t R = db->opts.block_range_ms;
    int64_t ladder[2] = {3 * R, 12 * R};
    for (int l = 0; l < 2; l++) {
        int64_t L = ladder[l] < db->opts.max_block_range_ms ? ladder[l]
                                                            : db->opts.max_block_range_ms;
        if (L <= R)
            continue;
        for (size_t i = 0; i < db->nblocks;) {
            int64_t g = floor_div(db->blocks[i]->mint, L);
            size_t j = i;
            while (j < db->nblocks && floor_div(db->blocks[j]->mint, L) == g &&
                   db->blocks[j]->maxt <= (g + 1) * L)
                j++;
            int complete = (g + 1) * L <= db->min_valid;
            if (j - i >= 2 && complete) {
                int rc = merge_blocks(db, i, j);
                if (rc)
                    return rc;
                i = 0; /* the list changed: scan again */
                continue;
            }
            i = j > i ? j : i + 1;
        }
    }
    return 0;
}

static void retention(struct tsdb *db)
{
    int64_t newest = db->head_maxt;
    for (size_t i = 0; i < db->nblocks; i++)
        if (db->blocks[i]->maxt - 1 > newest)
            newest = db->blocks[i]->maxt - 1;
    if (db->opts.retention_ms > 0) {
        while (db->nblocks && db->blocks[0]->maxt <= newest - db->opts.retention_ms) {
            blocks_delete(db, 0);
            db->st.blocks_deleted++;
        }
    }
    if (db->opts.retention_bytes > 0) {
        for (;;) {
            uint64_t total = db->wal ? tsdb__wal_size(db->wal) : 0;
            for (size_t i = 0; i < db->nblocks; i++)
                total += tsdb__block_size(db->blocks[i]->b);
            if (!db->nblocks || total <= db->opts.retention_bytes)
                break;
            blocks_delete(db, 0);
            db->st.blocks_deleted++;
        }
    }
}

int tsdb_maintain(struct tsdb *db, int force)
{
    if (db->opts.read_only)
        return 0;
    int cut, rc = tsdb_commit(db);
    if (!rc)
        rc = cut_head(db, force, &cut);
    if (!rc)
        rc = compact(db);
    if (!rc)
        retention(db);
    tsdb__head_pack(db);
    tsdb__head_gc(db);
    return rc;
}
