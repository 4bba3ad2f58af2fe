/* test_crash.c — crash durability: a child process appends under load and
 * reports each commit that returned; the parent kills it with SIGKILL at a
 * random moment, reopens the store and checks that every reported sample
 * is there, exactly, and nothing else is corrupt. 25 rounds on one data
 * directory, so replay, block cuts and checkpoints are all interrupted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsdb.h"

#define SERIES 20
#define STEP_MS 1000

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb, (void)f, (void)ftw;
    return remove(p);
}

static void options(struct tsdb_options *o)
{
    tsdb_options_default(o);
    o->block_range_ms = 120 * STEP_MS; /* frequent cuts, checkpoints */
    o->max_block_range_ms = 360 * STEP_MS;
    o->retention_ms = 0;
    o->wal_fsync = TSDB_FSYNC_NEVER;   /* kill -9 keeps what write() got */
    o->wal_segment_bytes = 64 * 1024;  /* many segments */
}

static tsdb_ref series_ref(struct tsdb *db, int i)
{
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    struct tsdb_label l[2] = {{"__name__", "crash_test"}, {"i", v}};
    struct tsdb_labels ls = {2, l};
    tsdb_ref r;
    if (tsdb_series_ref(db, &ls, &r))
        abort();
    return r;
}

/* Checks series i holds rounds 0..n-1 exactly (ts = k*STEP, value = k*i).
 * @return n, or -1 on a gap or a wrong value. */
static long check_series(struct tsdb *db, int i)
{
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    struct tsdb_snapshot *s;
    struct tsdb_matcher m;
    struct tsdb_series_set *set;
    long n = 0;
    if (tsdb_snapshot_open(db, &s) || tsdb_matcher_init(&m, TSDB_MATCH_EQ, "i", v, NULL, 0) ||
        tsdb_select(s, &m, 1, INT64_MIN, INT64_MAX, &set))
        return -1;
    if (tsdb_series_set_len(set) == 1) {
        struct tsdb_iter *it;
        int64_t t;
        double x;
        if (tsdb_iter_open(set, 0, &it))
            return -1;
        while (tsdb_iter_next(it, &t, &x) == 1) {
            if (t != n * STEP_MS || x != (double)n * i)
                n = -1 - n;
            if (n < 0)
                break;
            n++;
        }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    tsdb_matcher_free(&m);
    tsdb_snapshot_close(s);
    return n < 0 ? -1 : n;
}

/* Child: continue the rounds from `start`, reporting each committed round. */
static void child(const char *dir, long start, int fd)
{
    struct tsdb_options o;
    struct tsdb *db;
    options(&o);
    if (tsdb_open(dir, &o, &db, NULL))
        _exit(3);
    tsdb_ref r[SERIES];
    for (int i = 0; i < SERIES; i++)
        r[i] = series_ref(db, i);
    for (long k = start;; k++) {
        for (int i = 0; i < SERIES; i++)
            if (tsdb_append(db, r[i], k * STEP_MS, (double)k * i))
                _exit(4);
        if (tsdb_commit(db))
            _exit(5);
        if (write(fd, &k, sizeof k) != sizeof k)
            _exit(6);
        if (k % 50 == 0 && tsdb_maintain(db, 0))
            _exit(7);
    }
}

static void test_kill9_rounds(void **state)
{
    (void)state;
    char dir[] = "/tmp/vigil-test-crash-XXXXXX";
    assert_non_null(mkdtemp(dir));
    srand((unsigned)time(NULL));
    long committed = 0; /* rounds reported durable so far */
    for (int round = 0; round < 25; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child(dir, committed, p[1]);
        }
        close(p[1]);
        usleep(20000 + rand() % 150000);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status)); /* died by the kill, not an error */
        long k, last = committed - 1;
        while (read(p[0], &k, sizeof k) == sizeof k)
            last = k;
        close(p[0]);

        struct tsdb_options o;
        struct tsdb *db;
        struct tsdb_open_report rep;
        options(&o);
        assert_int_equal(tsdb_open(dir, &o, &db, &rep), 0);
        long n0 = check_series(db, 0);
        for (int i = 0; i < SERIES; i++) {
            long n = check_series(db, i);
            /* everything reported is there; at most the round in flight more */
            assert_true(n >= last + 1);
            assert_true(n <= last + 2);
            /* a commit is all or nothing across series */
            assert_int_equal(n, n0);
        }
        assert_int_equal(tsdb_close(db), 0);
        committed = n0;
    }
    assert_true(committed > 25); /* the child made progress */
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
