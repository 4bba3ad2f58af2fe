/* test_block.c — immutable blocks: write a few thousand series, read every
 * label and sample back bit-exact, select with every matcher type against a
 * brute-force oracle, time ranges, label names/values, an abandoned write,
 * and damaged files (every flipped byte is detected; structurally mutated
 * indexes with valid checksums never crash the reader). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <cmocka.h>

#include "tsdb_int.h"

#define T0 1700000000000LL
#define DAY_MS 86400000LL
#define NSERIES 3000
#define LONG_SERIES_SAMPLES 2500

/* ---- generated data and an oracle ------------------------------------- */

struct gen {
    char name[24], env[8], inst[16], job[8], path[24];
    struct tsdb_label l[5];
    struct tsdb_labels ls;
    size_t n;
    int64_t *ts;
    double *v;
};

static struct gen *gens;     /* generation order */
static struct gen **sorted;  /* label order = block series ids */
static char tmp_dir[64];
static char block_dir[128];

static const char *const metric_names[] = {"http_requests_total", "cpu_seconds",
                                           "mem_bytes", "temp_celsius"};
static const char *const jobs[] = {"api", "web", "db"};

static void gen_samples(struct gen *g, size_t i)
{
    g->n = i == 0 ? LONG_SERIES_SAMPLES : 1 + (i * 37) % 300;
    g->ts = malloc(g->n * sizeof *g->ts);
    g->v = malloc(g->n * sizeof *g->v);
    assert_non_null(g->ts);
    assert_non_null(g->v);
    double acc = 0;
    for (size_t k = 0; k < g->n; k++) {
        g->ts[k] = T0 + (int64_t)k * 15000 + (int64_t)(i % 7) * 100;
        switch (i % 4) {
        case 0: acc += (double)((k * 7 + i) % 13); g->v[k] = acc; break;
        case 1: g->v[k] = (double)(i % 100) + (double)(k % 10) / 10; break;
        case 2: g->v[k] = 1e9 + (double)k * 4096; break;
        default: g->v[k] = 20 + sin((double)k / 10) * 3; break;
        }
    }
    if (i == 1) {
        g->v[3] = tsdb_stale_nan();
        g->v[5] = NAN;
        g->v[7] = INFINITY;
        g->v[9] = -INFINITY;
        g->v[11] = -0.0;
    }
}

static void gen_labels(struct gen *g, size_t i)
{
    size_t n = 0;
    snprintf(g->name, sizeof g->name, "%s", metric_names[i % 4]);
    g->l[n++] = (struct tsdb_label){"__name__", g->name};
    if (i % 3 != 2) {
        snprintf(g->env, sizeof g->env, "%s", i % 3 ? "dev" : "prod");
        g->l[n++] = (struct tsdb_label){"env", g->env};
    }
    snprintf(g->inst, sizeof g->inst, "host-%04zu", i);
    g->l[n++] = (struct tsdb_label){"instance", g->inst};
    snprintf(g->job, sizeof g->job, "%s", jobs[i % 3 == 0 ? (i / 3) % 3 : i % 3]);
    g->l[n++] = (struct tsdb_label){"job", g->job};
    if (i % 7 == 0) {
        snprintf(g->path, sizeof g->path, "/caf\xc3\xa9/%zu", i % 5);
        g->l[n++] = (struct tsdb_label){"path", g->path};
    }
    g->ls = (struct tsdb_labels){n, g->l};
}

static int gen_cmp(const void *a, const void *b)
{
    return tsdb__labels_cmp(&(*(struct gen *const *)a)->ls, &(*(struct gen *const *)b)->ls);
}

static const char *label_of(const struct gen *g, const char *name)
{
    for (size_t i = 0; i < g->ls.len; i++)
        if (strcmp(g->l[i].name, name) == 0)
            return g->l[i].value;
    return "";
}

/* Blocks select by chunk time ranges; every generated series but the long
 * one is a single chunk, and no test range falls into the 15 s gap between
 * the long series' chunks, so comparing the series' span is exact. */
static int overlaps(const struct gen *g, int64_t mint, int64_t maxt)
{
    return mint <= maxt && g->ts[0] <= maxt && g->ts[g->n - 1] >= mint;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_block(const char *dir, const char *name, struct gen **g, size_t n)
{
    struct tsdb__block_writer *w;
    assert_int_equal(tsdb__block_writer_open(dir, name, T0, T0 + DAY_MS, 1, &w), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tsdb__block_writer_add(w, &g[i]->ls, g[i]->ts, g[i]->v, g[i]->n), 0);
    assert_int_equal(tsdb__block_writer_finish(w), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/vigil-test-block-XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    gens = calloc(NSERIES, sizeof *gens);
    sorted = calloc(NSERIES, sizeof *sorted);
    for (size_t i = 0; i < NSERIES; i++) {
        gen_labels(&gens[i], i);
        gen_samples(&gens[i], i);
        sorted[i] = &gens[i];
    }
    qsort(sorted, NSERIES, sizeof *sorted, gen_cmp);
    write_block(tmp_dir, "b1", sorted, NSERIES);
    snprintf(block_dir, sizeof block_dir, "%s/b1", tmp_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSERIES; i++) {
        free(gens[i].ts);
        free(gens[i].v);
    }
    free(gens);
    free(sorted);
    rm_rf(tmp_dir);
    return 0;
}

/* ---- helpers over the block API --------------------------------------- */

struct samples {
    int64_t *ts;
    double *v;
    size_t len, cap;
};

static int read_series(const struct tsdb__block *b, uint32_t id, int64_t mint, int64_t maxt,
                       struct tsdb__page_cache *pc, struct samples *s)
{
    s->len = 0;
    return tsdb__block_series_samples(b, id, mint, maxt, pc, &s->ts, &s->v, &s->len, &s->cap);
}

static void assert_samples_equal(const struct gen *g, const struct samples *s, int64_t mint,
                                 int64_t maxt)
{
    size_t j = 0;
    for (size_t k = 0; k < g->n; k++) {
        if (g->ts[k] < mint || g->ts[k] > maxt)
            continue;
        assert_true(j < s->len);
        assert_int_equal(s->ts[j], g->ts[k]);
        if (memcmp(&s->v[j], &g->v[k], sizeof(double)))
            fail_msg("%s sample %zu: got %a want %a", g->inst, k, s->v[j], g->v[k]);
        j++;
    }
    assert_int_equal(j, s->len);
}

/* Selects with ms and checks the result against the oracle; returns the
 * number of series selected. */
static size_t check_select(const struct tsdb__block *b, const struct tsdb_matcher *ms, size_t nm,
                           int64_t mint, int64_t maxt)
{
    uint32_t *ids;
    size_t n, j = 0;
    assert_int_equal(tsdb__block_select(b, ms, nm, mint, maxt, &ids, &n), 0);
    for (uint32_t id = 0; id < NSERIES; id++) {
        int want = overlaps(sorted[id], mint, maxt);
        for (size_t k = 0; k < nm && want; k++)
            want = tsdb_matcher_matches(&ms[k], label_of(sorted[id], ms[k].name));
        if (want) {
            if (j >= n || ids[j] != id)
                fail_msg("series %u (%s) expected, got %d", id, sorted[id]->inst,
                         j < n ? (int)ids[j] : -1);
            j++;
        }
    }
    if (j != n)
        fail_msg("selected %zu series, expected %zu", n, j);
    free(ids);
    return n;
}

struct mspec {
    enum tsdb_match_type t;
    const char *name, *value;
};

static size_t select_spec(const struct tsdb__block *b, const struct mspec *sp, size_t nm,
                          int64_t mint, int64_t maxt)
{
    struct tsdb_matcher ms[4] = {0};
    for (size_t i = 0; i < nm; i++)
        assert_int_equal(tsdb_matcher_init(&ms[i], sp[i].t, sp[i].name, sp[i].value, NULL, 0), 0);
    size_t n = check_select(b, ms, nm, mint, maxt);
    for (size_t i = 0; i < nm; i++)
        tsdb_matcher_free(&ms[i]);
    return n;
}

/* ---- tests ------------------------------------------------------------ */

static void test_roundtrip(void **state)
{
    (void)state;
    struct tsdb__block *b;
    struct tsdb_block_info info;
    struct stat st;
    assert_int_equal(tsdb__block_open(block_dir, &b), 0);
    tsdb__block_info(b, &info);
    assert_string_equal(info.name, "b1");
    assert_int_equal(info.mint, T0);
    assert_int_equal(info.maxt, T0 + DAY_MS);
    assert_int_equal(info.series, NSERIES);
    uint64_t total = 0;
    for (size_t i = 0; i < NSERIES; i++)
        total += gens[i].n;
    assert_int_equal(info.samples, total);
    char path[256];
    snprintf(path, sizeof path, "%s/index", block_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(info.index_bytes, st.st_size);
    assert_int_equal(tsdb__block_level(b), 1);
    assert_string_equal(tsdb__block_path(b), block_dir);
    assert_true(tsdb__block_size(b) > info.chunk_bytes + info.index_bytes);
    snprintf(path, sizeof path, "%s/b1.tmp", tmp_dir);
    assert_int_equal(stat(path, &st), -1);

    struct tsdb__page_cache pc = {0};
    struct samples s = {0};
    for (uint32_t id = 0; id < NSERIES; id++) {
        const struct gen *g = sorted[id];
        struct tsdb_label l[8];
        assert_int_equal(tsdb__block_series_labels(b, id, l, 8), (int)g->ls.len);
        for (size_t k = 0; k < g->ls.len; k++) {
            assert_string_equal(l[k].name, g->l[k].name);
            assert_string_equal(l[k].value, g->l[k].value);
        }
        assert_int_equal(read_series(b, id, INT64_MIN, INT64_MAX, &pc, &s), 0);
        assert_samples_equal(g, &s, INT64_MIN, INT64_MAX);
    }
    assert_int_equal(tsdb__block_series_labels(b, NSERIES, NULL, 0), -EINVAL);
    /* the stale marker survives bit-exact and stays distinguishable */
    for (uint32_t id = 0; id < NSERIES; id++) {
        if (sorted[id] != &gens[1])
            continue;
        assert_int_equal(read_series(b, id, INT64_MIN, INT64_MAX, &pc, &s), 0);
        assert_true(tsdb_is_stale(s.v[3]));
        assert_true(isnan(s.v[5]) && !tsdb_is_stale(s.v[5]));
        assert_true(isinf(s.v[7]) && s.v[7] > 0);
        assert_true(isinf(s.v[9]) && s.v[9] < 0);
        assert_true(signbit(s.v[11]) && s.v[11] == 0);
    }
    free(s.ts);
    free(s.v);
    tsdb__page_cache_free(&pc);
    tsdb__block_close(b);
}

static void test_select_matchers(void **state)
{
    (void)state;
    struct tsdb__block *b;
    assert_int_equal(tsdb__block_open(block_dir, &b), 0);
    const int64_t lo = INT64_MIN, hi = INT64_MAX;
    enum tsdb_match_type EQ = TSDB_MATCH_EQ, NE = TSDB_MATCH_NE, RE = TSDB_MATCH_RE,
                         NRE = TSDB_MATCH_NRE;
    struct {
        struct mspec m[3];
        size_t nm;
        size_t want; /* expected count, checked in addition to the oracle */
    } cases[] = {
        {{{EQ, "__name__", "cpu_seconds"}}, 1, NSERIES / 4},
        {{{EQ, "__name__", "cpu_seconds"}, {EQ, "job", "web"}}, 2, 0},
        {{{NE, "job", "api"}}, 1, 0},
        {{{EQ, "env", ""}}, 1, NSERIES / 3},          /* series without env */
        {{{NE, "env", ""}}, 1, 2 * NSERIES / 3},
        {{{RE, "env", "prod|"}}, 1, 2 * NSERIES / 3}, /* prod or no env */
        {{{NRE, "env", "prod"}}, 1, 2 * NSERIES / 3}, /* dev or no env */
        {{{RE, "env", "pro"}}, 1, 0},                 /* anchored */
        {{{RE, "instance", "host-00[0-4].*"}}, 1, 50},
        {{{RE, "instance", ".*"}}, 1, NSERIES},
        {{{RE, "instance", ".+"}}, 1, NSERIES},
        {{{NRE, "instance", ".*1"}}, 1, NSERIES - NSERIES / 10},
        {{{RE, "path", "/caf\xc3\xa9/[0-2]"}}, 1, 0},
        {{{RE, "path", "/caf./.*"}}, 1, (NSERIES + 6) / 7}, /* '.' is one code point */
        {{{EQ, "nope", "x"}}, 1, 0},
        {{{EQ, "nope", ""}}, 1, NSERIES},
        {{{NRE, "nope", ".+"}}, 1, NSERIES},
        {{{RE, "nope", "a|"}}, 1, NSERIES},
        {{{RE, "nope", "a"}}, 1, 0},
        {{{RE, "__name__", "mem_bytes|temp_celsius"}, {NE, "env", "dev"},
          {NRE, "instance", "host-00.*"}}, 3, 0},
        {{{EQ, "job", "db"}, {RE, "env", ""}, {NE, "__name__", "mem_bytes"}}, 3, 0},
        {{{EQ, "job", "nope"}, {RE, "env", ".*"}}, 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = select_spec(b, cases[i].m, cases[i].nm, lo, hi);
        if (cases[i].want)
            assert_int_equal(n, cases[i].want);
    }
    /* no matchers: every series */
    assert_int_equal(check_select(b, NULL, 0, lo, hi), NSERIES);
    tsdb__block_close(b);
}

static void test_time_range(void **state)
{
    (void)state;
    struct tsdb__block *b;
    assert_int_equal(tsdb__block_open(block_dir, &b), 0);
    struct tsdb__page_cache pc = {0};
    struct samples s = {0};
    struct {
        int64_t mint, maxt;
    } ranges[] = {
        {T0 + 900 * 15000 + 50, T0 + 1000 * 15000 + 50},  /* inside the long series */
        {T0 + 100 * 15000 + 1, T0 + 200 * 15000},
        {T0 + 830 * 15000, T0 + 840 * 15000},             /* across a chunk boundary */
        {T0 - 1000, T0},
        {T0 + 5 * 15000 + 250, T0 + 5 * 15000 + 350},    /* between most samples */
    };
    size_t empty = 0;
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        int64_t mint = ranges[r].mint, maxt = ranges[r].maxt;
        uint32_t *ids;
        size_t n;
        assert_true(check_select(b, NULL, 0, mint, maxt) > 0);
        assert_int_equal(tsdb__block_select(b, NULL, 0, mint, maxt, &ids, &n), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(read_series(b, ids[i], mint, maxt, &pc, &s), 0);
            assert_samples_equal(sorted[ids[i]], &s, mint, maxt);
            empty += s.len == 0;
        }
        free(ids);
    }
    /* a chunk overlapping the range selects the series even when no sample
     * falls inside; only the last range has such series */
    assert_true(empty > 0);
    /* only the long series reaches past sample 300 */
    struct mspec all = {TSDB_MATCH_RE, "job", ".*"};
    assert_int_equal(select_spec(b, &all, 1, T0 + 900 * 15000, T0 + 901 * 15000), 1);
    /* outside the block, and an empty range */
    assert_int_equal(check_select(b, NULL, 0, T0 + 2 * DAY_MS, T0 + 3 * DAY_MS), 0);
    assert_int_equal(check_select(b, NULL, 0, T0 + 10, T0), 0);
    free(s.ts);
    free(s.v);
    tsdb__page_cache_free(&pc);
    tsdb__block_close(b);
}

struct strlist {
    char v[64][32];
    size_t n;
};

static int collect(const char *s, void *arg)
{
    struct strlist *l = arg;
    if (l->n == 64)
        return 1;
    snprintf(l->v[l->n++], sizeof l->v[0], "%s", s);
    return 0;
}

static void test_label_names_values(void **state)
{
    (void)state;
    struct tsdb__block *b;
    struct strlist l = {0};
    assert_int_equal(tsdb__block_open(block_dir, &b), 0);
    assert_int_equal(tsdb__block_label_names(b, collect, &l), 0);
    const char *names[] = {"__name__", "env", "instance", "job", "path"};
    assert_int_equal(l.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(l.v[i], names[i]);
    l.n = 0;
    assert_int_equal(tsdb__block_label_values(b, "job", collect, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0], "api");
    assert_string_equal(l.v[1], "db");
    assert_string_equal(l.v[2], "web");
    l.n = 0;
    assert_int_equal(tsdb__block_label_values(b, "__name__", collect, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0], "cpu_seconds");
    assert_string_equal(l.v[3], "temp_celsius");
    l.n = 0;
    assert_int_equal(tsdb__block_label_values(b, "nope", collect, &l), 0);
    assert_int_equal(l.n, 0);
    /* the callback stops the walk: instance has more values than fit */
    assert_int_equal(tsdb__block_label_values(b, "instance", collect, &l), 1);
    assert_string_equal(l.v[0], "host-0000");
    tsdb__block_close(b);
}

static void test_writer_rejects(void **state)
{
    (void)state;
    struct tsdb__block_writer *w;
    char path[256];
    struct stat st;
    int64_t ts[3] = {T0, T0 + 2, T0 + 1};
    double v[3] = {1, 2, 3};
    struct tsdb_label la[] = {{"__name__", "a"}}, lb[] = {{"__name__", "b"}};
    struct tsdb_labels a = {1, la}, bl = {1, lb};
    assert_int_equal(tsdb__block_writer_open(tmp_dir, "b1", T0, T0 + DAY_MS, 1, &w), -EEXIST);
    assert_int_equal(tsdb__block_writer_open(tmp_dir, "x/y", T0, T0 + DAY_MS, 1, &w), -EINVAL);
    assert_int_equal(tsdb__block_writer_open(tmp_dir, "rej", T0, T0 + DAY_MS, 1, &w), 0);
    assert_int_equal(tsdb__block_writer_add(w, &bl, ts, v, 3), -EINVAL); /* ts not ascending */
    assert_int_equal(tsdb__block_writer_add(w, &bl, ts, v, 2), 0);
    assert_int_equal(tsdb__block_writer_add(w, &a, ts, v, 2), -EINVAL);  /* a sorts before b */
    assert_int_equal(tsdb__block_writer_add(w, &bl, ts, v, 2), -EINVAL); /* duplicate */
    ts[0] = T0 + DAY_MS;
    struct tsdb_label lc[] = {{"__name__", "c"}};
    struct tsdb_labels c = {1, lc};
    assert_int_equal(tsdb__block_writer_add(w, &c, ts, v, 1), -EINVAL); /* at maxt */
    tsdb__block_writer_abort(w);
    snprintf(path, sizeof path, "%s/rej.tmp", tmp_dir);
    assert_int_equal(stat(path, &st), -1);
    /* a block with no series leaves nothing behind */
    assert_int_equal(tsdb__block_writer_open(tmp_dir, "empty", T0, T0 + DAY_MS, 1, &w), 0);
    assert_int_equal(tsdb__block_writer_finish(w), 0);
    snprintf(path, sizeof path, "%s/empty", tmp_dir);
    assert_int_equal(stat(path, &st), -1);
    snprintf(path, sizeof path, "%s/empty.tmp", tmp_dir);
    assert_int_equal(stat(path, &st), -1);
}

static void test_crash_mid_write(void **state)
{
    (void)state;
    char path[256];
    struct stat st;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the "crashing" process: writes half a block and dies */
        struct tsdb__block_writer *w;
        if (tsdb__block_writer_open(tmp_dir, "crash", T0, T0 + DAY_MS, 1, &w))
            _exit(1);
        for (size_t i = 0; i < 500; i++)
            if (tsdb__block_writer_add(w, &sorted[i]->ls, sorted[i]->ts, sorted[i]->v,
                                       sorted[i]->n))
                _exit(1);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(path, sizeof path, "%s/crash", tmp_dir);
    assert_int_equal(stat(path, &st), -1);
    struct tsdb__block *b;
    assert_int_equal(tsdb__block_open(path, &b), -ENOENT);
    snprintf(path, sizeof path, "%s/crash.tmp", tmp_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_not_equal(tsdb__block_open(path, &b), 0); /* half a block never opens */
    /* writing the block again replaces the leftover */
    write_block(tmp_dir, "crash", sorted, 10);
    assert_int_equal(stat(path, &st), -1);
    snprintf(path, sizeof path, "%s/crash", tmp_dir);
    assert_int_equal(tsdb__block_open(path, &b), 0);
    tsdb__block_close(b);
}

/* ---- damaged files ---------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *p = malloc(*len);
    assert_int_equal(fread(p, 1, *len, f), *len);
    fclose(f);
    return p;
}

/* Replaces the contents of the open file fd (cheaper than re-creating it). */
static void spit(int fd, const uint8_t *p, size_t len)
{
    assert_int_equal(pwrite(fd, p, len, 0), (ssize_t)len);
    assert_int_equal(ftruncate(fd, (off_t)len), 0);
}

/* Opens dir and reads every series; @return the first error, 0 if none. */
static int read_whole_block(const char *dir)
{
    struct tsdb__block *b;
    struct tsdb__page_cache pc = {0};
    struct samples s = {0};
    struct tsdb_matcher m;
    uint32_t *ids;
    size_t n;
    int rc = tsdb__block_open(dir, &b);
    if (rc)
        return rc;
    assert_int_equal(tsdb_matcher_init(&m, TSDB_MATCH_RE, "job", "a.*|", NULL, 0), 0);
    rc = tsdb__block_select(b, &m, 1, INT64_MIN, INT64_MAX, &ids, &n);
    if (!rc)
        free(ids);
    tsdb_matcher_free(&m);
    struct tsdb_label l[8];
    for (uint32_t id = 0; !rc && id < 64; id++) {
        int r = tsdb__block_series_labels(b, id, l, 8);
        if (r == -EINVAL)
            break;
        if (r < 0)
            rc = r;
        else
            rc = read_series(b, id, INT64_MIN, INT64_MAX, &pc, &s);
    }
    free(s.ts);
    free(s.v);
    tsdb__page_cache_free(&pc);
    tsdb__block_close(b);
    return rc;
}

static void test_corrupt_files(void **state)
{
    (void)state;
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/small", tmp_dir);
    write_block(tmp_dir, "small", sorted, 40);
    assert_int_equal(read_whole_block(dir), 0);
    static const char *const files[] = {"index", "chunks"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        uint8_t *orig = slurp(path, &len), *p = malloc(len);
        int fd = open(path, O_WRONLY);
        assert_true(fd >= 0);
        /* a flipped byte anywhere (every byte of the headers, then sparser)
         * is caught by a checksum or a check */
        for (size_t i = 0; i < len; i += 1 + i / 64) {
            uint8_t x = orig[i] ^ 0x5a;
            assert_int_equal(pwrite(fd, &x, 1, (off_t)i), 1);
            int rc = read_whole_block(dir);
            assert_int_equal(pwrite(fd, &orig[i], 1, (off_t)i), 1);
            if (rc != TSDB_E_CORRUPT)
                fail_msg("%s byte %zu of %zu flipped: got %d", files[f], i, len, rc);
        }
        /* every truncation too */
        for (size_t cut = 0; cut < len; cut += 1 + cut / 8) {
            spit(fd, orig, cut);
            assert_int_equal(read_whole_block(dir), TSDB_E_CORRUPT);
        }
        spit(fd, orig, len);
        close(fd);
        assert_int_equal(read_whole_block(dir), 0);
        free(orig);
        free(p);
    }
    snprintf(path, sizeof path, "%s/meta", dir);
    size_t mlen;
    uint8_t *meta = slurp(path, &mlen);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    spit(fd, (const uint8_t *)"version=1\nmint=x\n", 17);
    assert_int_equal(read_whole_block(dir), TSDB_E_CORRUPT);
    spit(fd, meta, mlen);
    close(fd);
    assert_int_equal(read_whole_block(dir), 0);
    free(meta);
}

/* Random edits to the index with its checksum recomputed, as a malicious
 * or buggy writer could produce: the reader may fail but must stay within
 * its mapping (ASan checks that in the sanitizer build). */
static void test_mutated_index_never_crashes(void **state)
{
    (void)state;
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/small2", tmp_dir);
    write_block(tmp_dir, "small2", sorted, 40);
    snprintf(path, sizeof path, "%s/index", dir);
    size_t len;
    uint8_t *orig = slurp(path, &len), *p = malloc(len);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    uint64_t seed = 42;
    int failed = 0;
    for (int iter = 0; iter < 1000; iter++) {
        memcpy(p, orig, len);
        for (int k = 0; k < 1 + iter % 3; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = (size_t)(seed >> 33) % (len - 8);
            p[at] = (uint8_t)(k == 0 ? seed >> 8 : p[at] + 1);
        }
        uint64_t sum = XXH3_64bits(p, len - 8);
        for (int i = 0; i < 8; i++)
            p[len - 8 + i] = (uint8_t)(sum >> (8 * i));
        spit(fd, p, len);
        int rc = read_whole_block(dir);
        if (rc != 0 && rc != TSDB_E_CORRUPT && rc != -EINVAL)
            fail_msg("iteration %d: %d (%s)", iter, rc, tsdb_strerror(rc));
        failed += rc != 0;
    }
    assert_true(failed > 0);
    close(fd);
    free(orig);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_select_matchers),
        cmocka_unit_test(test_time_range),
        cmocka_unit_test(test_label_names_values),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_crash_mid_write),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_mutated_index_never_crashes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
