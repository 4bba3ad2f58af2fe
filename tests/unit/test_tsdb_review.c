/* test_tsdb_review.c — stress tests of the store's concurrency and
 * durability guarantees: reader threads hold snapshots while the writer
 * commits, rewrites samples out of order, cuts the head into blocks (small
 * block range), compacts and packs; every snapshot must see exactly the
 * commits before it, each sample once, with the last write winning, and
 * see the same thing on every read however many cuts happen meanwhile.
 * A second test checks the same after restarts (WAL + checkpoint replay). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsdb.h"

#define NSERIES 6
#define STEP 10 /* ms between rounds */

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb, (void)f, (void)ftw;
    return remove(p);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/vigil-test-review-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmdir_all(char *d)
{
    nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static int env_int(const char *name, int def)
{
    const char *s = getenv(name);
    return s && *s ? atoi(s) : def;
}

/* Round k writes ts(k) = k*STEP with value first_val(s, k) to every series
 * and, in the same commit, rewrites ts(k-1) with dup_val(s, k-1) (out of
 * order, last write wins) unless the store refused it; dup_ok[k-1] records
 * whether it was accepted. */
static double first_val(int s, int k) { return s * 1e6 + k; }
static double dup_val(int s, int k) { return -(s * 1e6 + k) - 0.5; }

struct shared {
    struct tsdb *db;
    tsdb_ref refs[NSERIES];
    int rounds;
    int maintain_every;
    _Atomic unsigned char *dup_ok; /* per round, written before the commit */
    _Atomic int committed;   /* rounds whose commit returned */
    _Atomic int done;
    _Atomic long checks;
    _Atomic int failed;
    char msg[256];
    pthread_mutex_t msg_mu;
};

static void note_fail(struct shared *sh, const char *fmt, ...)
{
    pthread_mutex_lock(&sh->msg_mu);
    if (!atomic_load(&sh->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->msg, sizeof sh->msg, fmt, ap);
        va_end(ap);
        atomic_store(&sh->failed, 1);
    }
    pthread_mutex_unlock(&sh->msg_mu);
}

static void *writer_main(void *p)
{
    struct shared *sh = p;
    for (int k = 0; k < sh->rounds && !atomic_load(&sh->failed); k++) {
        int ok = 1;
        for (int s = 0; s < NSERIES; s++) {
            int rc = tsdb_append(sh->db, sh->refs[s], (int64_t)k * STEP, first_val(s, k));
            if (rc) {
                note_fail(sh, "append round %d: %s", k, tsdb_strerror(rc));
                return NULL;
            }
            if (k > 0) {
                rc = tsdb_append(sh->db, sh->refs[s], (int64_t)(k - 1) * STEP,
                                 dup_val(s, k - 1));
                if (rc == TSDB_E_OUT_OF_BOUNDS) {
                    if (s == 0)
                        ok = 0;
                    else if (ok) {
                        note_fail(sh, "round %d: series disagree on bounds", k);
                        return NULL;
                    }
                } else if (rc) {
                    note_fail(sh, "dup append round %d: %s", k, tsdb_strerror(rc));
                    return NULL;
                } else if (!ok) {
                    note_fail(sh, "round %d: series disagree on bounds", k);
                    return NULL;
                }
            }
        }
        if (k > 0)
            atomic_store_explicit(&sh->dup_ok[k - 1], (unsigned char)ok, memory_order_relaxed);
        int rc = tsdb_commit(sh->db);
        if (rc) {
            note_fail(sh, "commit %d: %s", k, tsdb_strerror(rc));
            return NULL;
        }
        atomic_store_explicit(&sh->committed, k + 1, memory_order_release);
        if (sh->maintain_every && k % sh->maintain_every == sh->maintain_every - 1) {
            rc = tsdb_maintain(sh->db, 0);
            if (rc) {
                note_fail(sh, "maintain %d: %s", k, tsdb_strerror(rc));
                return NULL;
            }
        }
    }
    atomic_store(&sh->done, 1);
    return NULL;
}

/* Checks the samples of series s seen through a snapshot taken when between
 * lo and hi rounds were committed. @return the rounds seen, or -1. */
static int check_series(struct shared *sh, int s, const int64_t *ts, const double *v, size_t n,
                        int lo, int hi, const unsigned char *dup_ok)
{
    int R = (int)n;
    if (R < lo || R > hi) {
        note_fail(sh, "series %d: %d samples, expected %d..%d rounds; last ts %lld = %.1f, "
                  "before %lld = %.1f", s, R, lo, hi, R ? (long long)ts[R - 1] : -1LL,
                  R ? v[R - 1] : 0.0, R > 1 ? (long long)ts[R - 2] : -1LL,
                  R > 1 ? v[R - 2] : 0.0);
        return -1;
    }
    for (int k = 0; k < R; k++) {
        if (ts[k] != (int64_t)k * STEP) {
            note_fail(sh, "series %d: sample %d has ts %lld (of %d)", s, k, (long long)ts[k], R);
            return -1;
        }
        /* round R-1 is the last committed in the snapshot: its rewrite
         * comes in round R, not visible */
        double want = (k < R - 1 && dup_ok[k]) ? dup_val(s, k) : first_val(s, k);
        if (v[k] != want) {
            note_fail(sh, "series %d: ts %lld = %.1f, want %.1f (R=%d, dup_ok=%d)", s,
                     (long long)ts[k], v[k], want, R, k < R - 1 ? dup_ok[k] : -1);
            return -1;
        }
    }
    return R;
}

/* Reads every series of the snapshot; @return the rounds seen (same for all
 * series, as a commit is atomic), or -1. */
static int read_snapshot(struct shared *sh, struct tsdb_snapshot *snap, int lo, int hi,
                         const unsigned char *dup_ok, int64_t **ts, double **v, size_t *cap)
{
    struct tsdb_matcher m;
    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_EQ, "__name__", "rev", NULL, 0), 0);
    struct tsdb_series_set *set;
    int rc = tsdb_select(snap, &m, 1, INT64_MIN, INT64_MAX, &set);
    tsdb_matcher_free(&m);
    if (rc) {
        note_fail(sh, "select: %s", tsdb_strerror(rc));
        return -1;
    }
    int rounds = -2;
    size_t nset = tsdb_series_set_len(set);
    if (nset != (lo > 0 ? NSERIES : nset)) {
        note_fail(sh, "select: %zu series", nset);
        rounds = -1;
    }
    for (size_t i = 0; i < nset && rounds != -1; i++) {
        const struct tsdb_labels *ls = tsdb_series_set_labels(set, i);
        int s = -1;
        for (size_t j = 0; j < ls->len; j++)
            if (strcmp(ls->v[j].name, "s") == 0)
                s = atoi(ls->v[j].value);
        struct tsdb_iter *it;
        if ((rc = tsdb_iter_open(set, i, &it))) {
            note_fail(sh, "iter_open: %s", tsdb_strerror(rc));
            rounds = -1;
            break;
        }
        size_t n = 0;
        int64_t t;
        double x;
        while ((rc = tsdb_iter_next(it, &t, &x)) == 1) {
            if (n == *cap) {
                *cap = *cap ? *cap * 2 : 4096;
                *ts = realloc(*ts, *cap * sizeof **ts);
                *v = realloc(*v, *cap * sizeof **v);
                assert_non_null(*ts);
                assert_non_null(*v);
            }
            (*ts)[n] = t;
            (*v)[n++] = x;
        }
        tsdb_iter_free(it);
        if (rc < 0) {
            note_fail(sh, "iter_next: %s", tsdb_strerror(rc));
            rounds = -1;
            break;
        }
        int r = check_series(sh, s, *ts, *v, n, lo, hi, dup_ok);
        if (r < 0 || (rounds >= 0 && r != rounds)) {
            if (r >= 0)
                note_fail(sh, "series %d saw %d rounds, another %d: commit not atomic", s, r,
                         rounds);
            rounds = -1;
        } else {
            rounds = r;
        }
    }
    tsdb_series_set_free(set);
    return rounds == -2 ? 0 : rounds;
}

static void *reader_main(void *p)
{
    struct shared *sh = p;
    int64_t *ts = NULL;
    double *v = NULL;
    size_t cap = 0;
    unsigned char *dup_ok = malloc((size_t)sh->rounds + 1);
    unsigned seed = (unsigned)(uintptr_t)&seed;
    while (!atomic_load(&sh->done) && !atomic_load(&sh->failed)) {
        int lo = atomic_load_explicit(&sh->committed, memory_order_acquire);
        struct tsdb_snapshot *snap;
        if (tsdb_snapshot_open(sh->db, &snap)) {
            note_fail(sh, "snapshot_open");
            break;
        }
        /* the writer may be inside tsdb_commit of round `committed`: its
         * publication may precede the counter, so the snapshot may hold it */
        int hi = atomic_load_explicit(&sh->committed, memory_order_acquire) + 1;
        if (hi > sh->rounds)
            hi = sh->rounds;
        /* the dup flags of the rounds the snapshot may see are final */
        for (int k = 0; k < hi; k++)
            dup_ok[k] = atomic_load_explicit(&sh->dup_ok[k], memory_order_relaxed);
        int first = read_snapshot(sh, snap, lo, hi, dup_ok, &ts, &v, &cap);
        /* hold the snapshot across a few maintenance runs, read again */
        int target = hi + 5 + (int)(rand_r(&seed) % 200);
        while (!atomic_load(&sh->done) && !atomic_load(&sh->failed) &&
               atomic_load(&sh->committed) < target)
            usleep(100);
        if (first >= 0) {
            int again = read_snapshot(sh, snap, first, first, dup_ok, &ts, &v, &cap);
            if (again >= 0 && again != first)
                note_fail(sh, "snapshot changed: %d then %d rounds", first, again);
        }
        tsdb_snapshot_close(snap);
        atomic_fetch_add(&sh->checks, 1);
    }
    free(dup_ok);
    free(ts);
    free(v);
    return NULL;
}

static void options(struct tsdb_options *o)
{
    tsdb_options_default(o);
    o->block_range_ms = 200 * STEP; /* a cut every ~100 rounds */
    o->max_block_range_ms = 24 * 200 * STEP;
    o->retention_ms = 0;
    o->ooo_window_ms = 10 * STEP;
    o->wal_fsync = TSDB_FSYNC_NEVER;
    o->wal_segment_bytes = 32 * 1024;
}

static void open_refs(struct shared *sh)
{
    for (int s = 0; s < NSERIES; s++) {
        char val[16];
        snprintf(val, sizeof val, "%d", s);
        struct tsdb_label l[2] = {{"__name__", "rev"}, {"s", val}};
        struct tsdb_labels ls = {2, l};
        assert_int_equal(tsdb_series_ref(sh->db, &ls, &sh->refs[s]), 0);
    }
}

static void test_readers_across_cuts(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb_options o;
    options(&o);
    struct shared sh = {.rounds = env_int("REVIEW_ROUNDS", 6000), .maintain_every = 7};
    pthread_mutex_init(&sh.msg_mu, NULL);
    sh.dup_ok = calloc((size_t)sh.rounds + 1, 1);
    assert_int_equal(tsdb_open(dir, &o, &sh.db, NULL), 0);
    open_refs(&sh);
    enum { NREADERS = 3 };
    pthread_t w, r[NREADERS];
    assert_int_equal(pthread_create(&w, NULL, writer_main, &sh), 0);
    for (int i = 0; i < NREADERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader_main, &sh), 0);
    pthread_join(w, NULL);
    atomic_store(&sh.done, 1);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(r[i], NULL);
    if (atomic_load(&sh.failed))
        fail_msg("%s", sh.msg);
    struct tsdb_stats st;
    tsdb_stats(sh.db, &st);
    assert_true(st.blocks > 0);        /* cuts happened */
    assert_true(st.compactions > 0);   /* and compactions */
    assert_true(atomic_load(&sh.checks) > 0);
    if (getenv("REVIEW_VERBOSE"))
        printf("rounds %d, snapshot checks %ld, blocks %u, compactions %llu\n", sh.rounds,
               atomic_load(&sh.checks), st.blocks, (unsigned long long)st.compactions);
    /* a last full check after everything settled */
    int64_t *ts = NULL;
    double *v = NULL;
    size_t cap = 0;
    struct tsdb_snapshot *snap;
    assert_int_equal(tsdb_snapshot_open(sh.db, &snap), 0);
    unsigned char *flags = malloc((size_t)sh.rounds + 1);
    for (int k = 0; k <= sh.rounds; k++)
        flags[k] = sh.dup_ok[k];
    if (read_snapshot(&sh, snap, sh.rounds, sh.rounds, flags, &ts, &v, &cap) != sh.rounds)
        fail_msg("final read: %s", sh.msg);
    tsdb_snapshot_close(snap);
    assert_int_equal(tsdb_close(sh.db), 0);

    /* and after a restart: blocks + checkpoint + WAL give the same */
    sh.db = NULL;
    assert_int_equal(tsdb_open(dir, &o, &sh.db, NULL), 0);
    assert_int_equal(tsdb_snapshot_open(sh.db, &snap), 0);
    int got = read_snapshot(&sh, snap, sh.rounds, sh.rounds, flags, &ts, &v, &cap);
    if (got != sh.rounds)
        fail_msg("after restart: %s", sh.msg);
    tsdb_snapshot_close(snap);
    assert_int_equal(tsdb_close(sh.db), 0);
    free(ts);
    free(v);
    free(flags);
    free((void *)sh.dup_ok);
    pthread_mutex_destroy(&sh.msg_mu);
    rmdir_all(dir);
}

/* Child: continues the round pattern from round `start` until killed,
 * writing each round's number to fd after its commit returned. */
static void crash_child(const char *dir, int start, int fd)
{
    struct tsdb_options o;
    options(&o);
    struct shared sh = {0};
    if (tsdb_open(dir, &o, &sh.db, NULL))
        _exit(3);
    open_refs(&sh);
    for (int k = start;; k++) {
        for (int s = 0; s < NSERIES; s++) {
            if (tsdb_append(sh.db, sh.refs[s], (int64_t)k * STEP, first_val(s, k)))
                _exit(4);
            if (k > 0 &&
                tsdb_append(sh.db, sh.refs[s], (int64_t)(k - 1) * STEP, dup_val(s, k - 1)))
                _exit(5);
        }
        if (tsdb_commit(sh.db))
            _exit(6);
        int32_t done = k + 1;
        if (write(fd, &done, sizeof done) != sizeof done)
            _exit(7);
        if (k % 7 == 6 && tsdb_maintain(sh.db, 0))
            _exit(8);
    }
}

static void test_kill9_ooo_rewrites(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct tsdb_options o;
    options(&o);
    int rounds = env_int("REVIEW_KILLS", 15);
    int reported = 0; /* rounds the children reported committed */
    int have = 0;     /* rounds in the store at the last open */
    struct shared sh = {0};
    pthread_mutex_init(&sh.msg_mu, NULL);
    unsigned char *flags = NULL;
    int64_t *ts = NULL;
    double *v = NULL;
    size_t cap = 0;
    srand((unsigned)getpid());
    for (int r = 0; r <= rounds; r++) {
        /* reopen, check: every reported round is there exactly, at most the
         * one in flight beyond it, every rewrite applied */
        assert_int_equal(tsdb_open(dir, &o, &sh.db, NULL), 0);
        int maxr = reported + 1;
        flags = realloc(flags, (size_t)maxr + 1);
        memset(flags, 1, (size_t)maxr + 1);
        struct tsdb_snapshot *snap;
        assert_int_equal(tsdb_snapshot_open(sh.db, &snap), 0);
        have = read_snapshot(&sh, snap, reported, maxr, flags, &ts, &v, &cap);
        tsdb_snapshot_close(snap);
        assert_int_equal(tsdb_close(sh.db), 0);
        if (have < 0)
            fail_msg("restart %d (reported %d): %s", r, reported, sh.msg);
        reported = have;
        if (r == rounds)
            break;
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            crash_child(dir, have, pfd[1]);
        }
        close(pfd[1]);
        usleep(20000 + (useconds_t)(rand() % 150000));
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        int32_t done;
        while (read(pfd[0], &done, sizeof done) == sizeof done)
            reported = done;
        close(pfd[0]);
    }
    assert_true(reported > 100);
    if (getenv("REVIEW_VERBOSE"))
        printf("kill -9 rounds %d, %d rounds committed\n", rounds, reported);
    free(flags);
    free(ts);
    free(v);
    pthread_mutex_destroy(&sh.msg_mu);
    rmdir_all(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_across_cuts),
        cmocka_unit_test(test_kill9_ooo_rewrites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
