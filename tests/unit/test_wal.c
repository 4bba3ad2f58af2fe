/* test_wal.c — the write-ahead log against real files in a temporary
 * directory: round trips, segments, crashes, torn and corrupt tails,
 * zero-filled space, checkpoints, the fsync policies and read-only replay. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "tsdb_int.h"

/* ---- fixtures ----------------------------------------------------------- */

struct fx {
    char dir[64];
    char wal[96];
    struct tsdb_options o;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/test_wal.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->wal, sizeof f->wal, "%s/wal", f->dir);
    f->o.wal_fsync = TSDB_FSYNC_NEVER;
    f->o.wal_fsync_interval_ms = 1000;
    f->o.wal_segment_bytes = 64u << 20;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void wal_path(const struct fx *f, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", f->wal, name);
}

static void seg_path(const struct fx *f, uint32_t seg, char *out, size_t n)
{
    snprintf(out, n, "%s/%08u", f->wal, seg);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Bytes of all files in the WAL directory. */
static uint64_t dir_bytes(const struct fx *f)
{
    uint64_t sum = 0;
    DIR *d = opendir(f->wal);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        char p[400];
        if (e->d_name[0] == '.')
            continue;
        wal_path(f, e->d_name, p, sizeof p);
        sum += (uint64_t)file_size(p);
    }
    closedir(d);
    return sum;
}

static int count_files(const struct fx *f, const char *prefix)
{
    int n = 0;
    DIR *d = opendir(f->wal);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static uint64_t bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* ---- what replay delivered ------------------------------------------------ */

struct got_sample {
    tsdb_ref ref;
    int64_t ts;
    uint64_t bits;
};

struct got {
    struct got_sample *s;
    size_t n, cap;
    char series[16][128]; /* "ref name=value,..." in arrival order */
    size_t nseries;
    int abort_at;         /* return -42 from the n-th samples call; 0 = never */
    int calls;
};

static int got_series(void *arg, tsdb_ref ref, const struct tsdb_labels *ls)
{
    struct got *g = arg;
    if (g->nseries == 16)
        return 0;
    char *p = g->series[g->nseries++];
    int k = snprintf(p, 128, "%u", ref);
    for (size_t i = 0; i < ls->len; i++)
        k += snprintf(p + k, 128 - k, " %s=%s", ls->v[i].name, ls->v[i].value);
    return 0;
}

static int got_samples(void *arg, const struct tsdb__wal_sample *s, size_t n)
{
    struct got *g = arg;
    if (g->abort_at && ++g->calls == g->abort_at)
        return -42;
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2;
        g->s = realloc(g->s, g->cap * sizeof *g->s);
    }
    for (size_t i = 0; i < n; i++)
        g->s[g->n++] = (struct got_sample){s[i].ref, s[i].ts, bits_of(s[i].value)};
    return 0;
}

/* Opens the WAL in f and replays it into a fresh g; returns the open WAL. */
static struct tsdb__wal *reopen(struct fx *f, struct got *g, struct tsdb_open_report *rep)
{
    struct tsdb__wal *w;
    struct tsdb__wal_replay_cb cb = {g, got_series, got_samples};
    free(g->s);
    memset(g, 0, sizeof *g);
    memset(rep, 0xff, sizeof *rep);
    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    assert_int_equal(tsdb__wal_replay(w, &cb, rep), 0);
    return w;
}

/* The i-th sample of the generated workload. */
static struct got_sample gen(size_t i)
{
    static const uint64_t specials[] = {
        TSDB_STALE_NAN_BITS, 0x7ff8000000000001ULL, 0x8000000000000000ULL,
        0x7ff0000000000000ULL, 0xfff0000000000000ULL};
    struct got_sample s = {(tsdb_ref)(i % 7), 1700000000000LL + (int64_t)i * 15000 -
                                                  (int64_t)(i % 3) * 7,
                           bits_of((double)(i % 1000) * 0.25)};
    if (i % 97 == 0)
        s.bits = specials[(i / 97) % 5];
    return s;
}

static void log_gen(struct tsdb__wal *w, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        struct got_sample s = gen(i);
        assert_int_equal(tsdb__wal_log_sample(w, s.ref, s.ts, from_bits(s.bits)), 0);
    }
}

static void assert_gen(const struct got *g, size_t from, size_t n)
{
    assert_int_equal(g->n, n);
    for (size_t i = 0; i < n; i++) {
        struct got_sample s = gen(from + i);
        assert_int_equal(g->s[i].ref, s.ref);
        assert_int_equal(g->s[i].ts, s.ts);
        assert_int_equal(g->s[i].bits, s.bits);
    }
}

/* Writes batches of `per` generated samples, one commit each. */
static void commit_gen(struct tsdb__wal *w, size_t batches, size_t per)
{
    for (size_t b = 0; b < batches; b++) {
        log_gen(w, b * per, (b + 1) * per);
        assert_int_equal(tsdb__wal_commit(w), 0);
    }
}

/* Commits 10-sample batches (one record each) until the WAL has nseg
 * segment files; returns the number of batches. */
static size_t commit_until_segments(struct fx *f, struct tsdb__wal *w, int nseg)
{
    size_t b = 0;
    while (count_files(f, "0") < nseg) {
        log_gen(w, b * 10, (b + 1) * 10);
        assert_int_equal(tsdb__wal_commit(w), 0);
        b++;
    }
    return b;
}

/* Offsets of the records in a file, from their length fields (test files
 * are well formed); returns the count, offs[count] = file end. */
static size_t record_offsets(const char *path, long *offs, size_t max)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = 0;
    long off = 0;
    uint8_t h[8];
    while (n < max && fread(h, 1, 8, fp) == 8) {
        uint32_t len = (uint32_t)h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24;
        offs[n++] = off;
        off += 8 + (long)len;
        fseek(fp, off, SEEK_SET);
    }
    offs[n] = off;
    fclose(fp);
    return n;
}

static void write_file(const char *path, const void *p, size_t n, int append)
{
    int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void *read_all(const char *path, size_t *n)
{
    long size = file_size(path);
    assert_true(size >= 0);
    char *p = malloc((size_t)size + 1);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(p, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return p;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    struct tsdb_label lv[] = {{"__name__", "http_requests_total"},
                              {"job", "blog"},
                              {"path", "/comments/ünïcode"}};
    struct tsdb_labels ls = {3, lv};

    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    assert_int_equal(tsdb__wal_log_series(w, 3, &ls), 0);
    ls.len = 1;
    assert_int_equal(tsdb__wal_log_series(w, 4000000000u, &ls), 0);
    /* extreme timestamps: deltas overflow int64 unless handled */
    assert_int_equal(tsdb__wal_log_sample(w, 3, INT64_MAX, tsdb_stale_nan()), 0);
    assert_int_equal(tsdb__wal_log_sample(w, 3, INT64_MIN, -0.0), 0);
    assert_int_equal(tsdb__wal_log_sample(w, 4000000000u, -5, 1e300), 0);
    assert_int_equal(tsdb__wal_commit(w), 0);
    /* 300 small commits and one of 40,000 samples (split into records) */
    for (size_t b = 0; b < 300; b++) {
        log_gen(w, b * 100, (b + 1) * 100);
        assert_int_equal(tsdb__wal_commit(w), 0);
    }
    log_gen(w, 30000, 70000);
    assert_int_equal(tsdb__wal_commit(w), 0);
    uint64_t size = tsdb__wal_size(w);
    assert_int_equal(tsdb__wal_close(w), 0);
    assert_int_equal(size, dir_bytes(f));

    w = reopen(f, &g, &rep);
    assert_int_equal(g.nseries, 2);
    assert_string_equal(g.series[0],
                        "3 __name__=http_requests_total job=blog path=/comments/ünïcode");
    assert_string_equal(g.series[1], "4000000000 __name__=http_requests_total");
    assert_int_equal(rep.wal_samples, 70003);
    assert_true(rep.wal_records > 2 + 1 + 300 + 1); /* the big commit was split */
    assert_int_equal(rep.wal_corrupt_records, 0);
    assert_int_equal(rep.wal_truncated_bytes, 0);
    assert_int_equal(g.s[0].ts, INT64_MAX);
    assert_int_equal(g.s[0].bits, TSDB_STALE_NAN_BITS);
    assert_int_equal(g.s[1].ts, INT64_MIN);
    assert_int_equal(g.s[1].bits, 0x8000000000000000ULL);
    assert_int_equal(g.s[2].ref, 4000000000u);
    assert_int_equal(g.s[2].ts, -5);
    assert_true(g.s[2].bits == bits_of(1e300));
    memmove(g.s, g.s + 3, (g.n - 3) * sizeof *g.s);
    g.n -= 3;
    assert_gen(&g, 0, 70000);
    assert_int_equal(tsdb__wal_size(w), dir_bytes(f));
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

static void test_empty_commit_is_noop(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;

    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    assert_int_equal(tsdb__wal_commit(w), 0);
    assert_int_equal(tsdb__wal_commit(w), 0);
    assert_int_equal(tsdb__wal_size(w), 0);
    assert_int_equal(count_files(f, ""), 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    w = reopen(f, &g, &rep);
    assert_int_equal(rep.wal_records, 0);
    assert_int_equal(rep.wal_samples, 0);
    assert_int_equal(rep.wal_corrupt_records, 0);
    assert_int_equal(count_files(f, ""), 0);
    assert_int_equal(tsdb__wal_close(w), 0);
}

static void test_segments(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    char p[256];

    f->o.wal_segment_bytes = 4096;
    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    commit_gen(w, 100, 50); /* ~650 bytes per commit */
    /* one commit bigger than a segment gets a segment of its own */
    log_gen(w, 5000, 6000);
    assert_int_equal(tsdb__wal_commit(w), 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    int nseg = count_files(f, "0");
    assert_true(nseg > 10);
    for (int i = 1; i < nseg; i++) {
        seg_path(f, (uint32_t)i, p, sizeof p);
        assert_true(file_size(p) <= 4096);
        assert_true(i == nseg - 1 || file_size(p) > 4096 - 1000); /* full */
    }
    seg_path(f, (uint32_t)nseg, p, sizeof p);
    assert_true(file_size(p) > 4096);

    w = reopen(f, &g, &rep);
    assert_gen(&g, 0, 6000);
    assert_int_equal(rep.wal_corrupt_records, 0);
    /* appends after replay go to a fresh segment */
    log_gen(w, 6000, 6001);
    assert_int_equal(tsdb__wal_commit(w), 0);
    seg_path(f, (uint32_t)nseg + 1, p, sizeof p);
    assert_true(file_size(p) > 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    w = reopen(f, &g, &rep);
    assert_gen(&g, 0, 6001);
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

/* A child commits and dies without closing: committed data survives,
 * uncommitted data does not. */
static void test_crash_after_commit(void **state)
{
    struct fx *f = *state;
    struct got g = {0};
    struct tsdb_open_report rep;

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tsdb__wal *w;
        if (tsdb__wal_open(f->dir, &f->o, &w))
            _exit(1);
        for (size_t b = 0; b < 20; b++) {
            for (size_t i = b * 500; i < (b + 1) * 500; i++) {
                struct got_sample s = gen(i);
                tsdb__wal_log_sample(w, s.ref, s.ts, from_bits(s.bits));
            }
            if (tsdb__wal_commit(w))
                _exit(2);
        }
        tsdb__wal_log_sample(w, 1, 1, 1.0); /* never committed */
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct tsdb__wal *w = reopen(f, &g, &rep);
    assert_gen(&g, 0, 10000);
    assert_int_equal(rep.wal_corrupt_records, 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

/* Cutting the last record at every byte offset loses exactly that record. */
static void test_torn_tail_every_offset(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    char seg[256];
    long offs[64];
    struct tsdb_label lv[] = {{"__name__", "up"}, {"job", "spam_filter"}};
    struct tsdb_labels ls = {2, lv};

    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    assert_int_equal(tsdb__wal_log_series(w, 1, &ls), 0);
    commit_gen(w, 5, 20);
    log_gen(w, 100, 104); /* the record that gets torn */
    assert_int_equal(tsdb__wal_commit(w), 0);
    assert_int_equal(tsdb__wal_close(w), 0);

    seg_path(f, 1, seg, sizeof seg);
    size_t size;
    char *orig = read_all(seg, &size);
    size_t nrec = record_offsets(seg, offs, 63);
    assert_int_equal(nrec, 7);
    size_t start = (size_t)offs[6];
    assert_int_equal(offs[7], (long)size);

    for (size_t cut = start; cut < size; cut++) {
        char p[256];
        write_file(seg, orig, cut, 0);
        w = reopen(f, &g, &rep);
        assert_int_equal(g.nseries, 1);
        assert_gen(&g, 0, 100);
        assert_int_equal(rep.wal_records, 6);
        assert_int_equal(rep.wal_corrupt_records, cut > start);
        assert_int_equal(rep.wal_truncated_bytes, cut - start);
        assert_int_equal(file_size(seg), (long)start);
        /* appending after the cut works and lands in a fresh segment */
        log_gen(w, 100, 102);
        assert_int_equal(tsdb__wal_commit(w), 0);
        assert_int_equal(tsdb__wal_close(w), 0);
        w = reopen(f, &g, &rep);
        assert_gen(&g, 0, 102);
        assert_int_equal(rep.wal_corrupt_records, 0);
        assert_int_equal(tsdb__wal_size(w), dir_bytes(f));
        assert_int_equal(tsdb__wal_close(w), 0);
        seg_path(f, 2, p, sizeof p);
        assert_int_equal(unlink(p), 0);
    }
    free(orig);
    free(g.s);
}

/* A flipped byte in the middle of segment 2 of 5: records before it
 * survive, the rest of segment 2 and segments 3..5 are dropped. */
static void test_flipped_byte(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    char p[256];
    long offs[5][128];
    size_t nrec[5], total_rec = 0;

    f->o.wal_segment_bytes = 2048;
    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    commit_until_segments(f, w, 5);
    assert_int_equal(tsdb__wal_close(w), 0);
    uint64_t total_bytes = dir_bytes(f);
    for (int i = 0; i < 5; i++) {
        seg_path(f, (uint32_t)i + 1, p, sizeof p);
        nrec[i] = record_offsets(p, offs[i], 127);
        total_rec += nrec[i];
    }
    size_t k = nrec[1] / 2;
    assert_true(k > 0);
    seg_path(f, 2, p, sizeof p);
    size_t n;
    uint8_t *seg = read_all(p, &n);
    seg[offs[1][k] + 8 + 5] ^= 0x40;
    write_file(p, seg, n, 0);
    free(seg);

    w = reopen(f, &g, &rep);
    size_t good = nrec[0] + k;
    assert_gen(&g, 0, good * 10);
    assert_int_equal(rep.wal_records, good);
    assert_int_equal(rep.wal_corrupt_records, total_rec - good);
    assert_int_equal(rep.wal_truncated_bytes,
                     total_bytes - (uint64_t)offs[0][nrec[0]] - (uint64_t)offs[1][k]);
    assert_int_equal(file_size(p), offs[1][k]);
    for (uint32_t i = 3; i <= 5; i++) {
        seg_path(f, i, p, sizeof p);
        assert_int_equal(file_size(p), -1);
    }
    assert_int_equal(tsdb__wal_size(w), dir_bytes(f));
    log_gen(w, good * 10, good * 10 + 10);
    assert_int_equal(tsdb__wal_commit(w), 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    seg_path(f, 3, p, sizeof p);
    assert_true(file_size(p) > 0);
    w = reopen(f, &g, &rep);
    assert_gen(&g, 0, good * 10 + 10);
    assert_int_equal(rep.wal_corrupt_records, 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

/* Zero-filled space is corruption, not an endless run of empty records:
 * a preallocated tail, a zeroed segment between good ones, and a record
 * whose checksum is right but whose payload does not decode. */
static void test_zero_filled(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    char p[256];
    static uint8_t zeros[4096];

    f->o.wal_segment_bytes = 2048;
    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    size_t batches = commit_until_segments(f, w, 3);
    assert_int_equal(tsdb__wal_close(w), 0);
    seg_path(f, 3, p, sizeof p);
    long seg3 = file_size(p);

    /* preallocated zero tail after the last record */
    write_file(p, zeros, sizeof zeros, 1);
    w = reopen(f, &g, &rep);
    assert_gen(&g, 0, batches * 10);
    assert_int_equal(rep.wal_corrupt_records, 1);
    assert_int_equal(rep.wal_truncated_bytes, sizeof zeros);
    assert_int_equal(file_size(p), seg3);
    assert_int_equal(tsdb__wal_close(w), 0);

    /* a record with a valid checksum but an unknown type */
    uint8_t rec[8 + 3] = {3, 0, 0, 0, 0, 0, 0, 0, 99, 1, 2};
    uint32_t sum = XXH32(rec + 8, 3, 0);
    for (int i = 0; i < 4; i++)
        rec[4 + i] = (uint8_t)(sum >> (8 * i));
    write_file(p, rec, sizeof rec, 1);
    w = reopen(f, &g, &rep);
    assert_gen(&g, 0, batches * 10);
    assert_int_equal(rep.wal_corrupt_records, 1);
    assert_int_equal(rep.wal_truncated_bytes, sizeof rec);
    assert_int_equal(tsdb__wal_close(w), 0);

    /* segment 2 entirely zero: segment 1 survives, 2 is emptied, 3 goes */
    seg_path(f, 2, p, sizeof p);
    long seg2 = file_size(p);
    write_file(p, zeros, (size_t)seg2, 0);
    long offs[128];
    char p1[256];
    seg_path(f, 1, p1, sizeof p1);
    size_t nrec1 = record_offsets(p1, offs, 127);
    w = reopen(f, &g, &rep);
    assert_gen(&g, 0, nrec1 * 10);
    assert_true(rep.wal_corrupt_records >= 2); /* the zeros and segment 3 */
    assert_int_equal(rep.wal_truncated_bytes, (uint64_t)(seg2 + seg3));
    assert_int_equal(file_size(p), 0);
    seg_path(f, 3, p, sizeof p);
    assert_int_equal(file_size(p), -1);
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

struct cp_state {
    size_t from, to; /* generated samples to put in the checkpoint */
    int fail;
};

static int emit_state(struct tsdb__wal_cp *cp, void *arg)
{
    struct cp_state *st = arg;
    struct tsdb_label lv[] = {{"__name__", "spam_score"}, {"model", "v7"}};
    struct tsdb_labels ls = {2, lv};
    int err = tsdb__wal_cp_series(cp, 5, &ls);
    for (size_t i = st->from; i < st->to && !err; i++) {
        struct got_sample s = gen(i);
        err = tsdb__wal_cp_sample(cp, s.ref, s.ts, from_bits(s.bits));
    }
    return st->fail ? st->fail : err;
}

/* Checkpoint: the older segments go, replay gives the checkpoint's state
 * then what was committed after it; a second checkpoint replaces the
 * first; a failed emit leaves everything as it was. */
static void test_checkpoint(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    char p[256];
    uint32_t seg;

    f->o.wal_segment_bytes = 2048;
    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    size_t batches = commit_until_segments(f, w, 4);
    size_t upto = batches * 10;
    assert_int_equal(tsdb__wal_cut_segment(w, &seg), 0);
    assert_int_equal(seg, 5);
    assert_int_equal(tsdb__wal_checkpoint(w, seg + 1, emit_state, &(struct cp_state){0}),
                     -EINVAL);
    /* the head after compaction: only the second half of the samples */
    struct cp_state st = {upto / 2, upto, 0};
    assert_int_equal(tsdb__wal_checkpoint(w, seg, emit_state, &st), 0);
    assert_int_equal(count_files(f, "checkpoint."), 1);
    wal_path(f, "checkpoint.00000005", p, sizeof p);
    assert_true(file_size(p) > 0);
    for (uint32_t i = 1; i < 5; i++) {
        seg_path(f, i, p, sizeof p);
        assert_int_equal(file_size(p), -1);
    }
    assert_int_equal(tsdb__wal_size(w), dir_bytes(f));
    log_gen(w, upto, upto + 25);
    assert_int_equal(tsdb__wal_commit(w), 0);
    assert_int_equal(tsdb__wal_close(w), 0);

    w = reopen(f, &g, &rep);
    assert_int_equal(g.nseries, 1);
    assert_string_equal(g.series[0], "5 __name__=spam_score model=v7");
    assert_gen(&g, upto / 2, upto - upto / 2 + 25);
    assert_int_equal(rep.wal_corrupt_records, 0);
    assert_int_equal(rep.wal_samples, upto - upto / 2 + 25);

    /* a failing emit changes nothing */
    assert_int_equal(tsdb__wal_cut_segment(w, &seg), 0);
    st = (struct cp_state){0, 10, -EIO};
    assert_int_equal(tsdb__wal_checkpoint(w, seg, emit_state, &st), -EIO);
    assert_int_equal(count_files(f, "checkpoint."), 1);
    /* the second checkpoint replaces the first */
    st = (struct cp_state){upto, upto + 25, 0};
    assert_int_equal(tsdb__wal_checkpoint(w, seg, emit_state, &st), 0);
    assert_int_equal(count_files(f, "checkpoint."), 1);
    assert_int_equal(count_files(f, "0"), 1);
    assert_int_equal(tsdb__wal_size(w), dir_bytes(f));
    assert_int_equal(tsdb__wal_close(w), 0);
    w = reopen(f, &g, &rep);
    assert_gen(&g, upto, 25);
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

/* A damaged checkpoint keeps its valid prefix; later segments replay. */
static void test_corrupt_checkpoint(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    char p[256];
    uint32_t seg;

    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    assert_int_equal(tsdb__wal_cut_segment(w, &seg), 0);
    struct cp_state st = {0, 20000, 0}; /* several records */
    assert_int_equal(tsdb__wal_checkpoint(w, seg, emit_state, &st), 0);
    log_gen(w, 20000, 20010);
    assert_int_equal(tsdb__wal_commit(w), 0);
    assert_int_equal(tsdb__wal_close(w), 0);

    snprintf(p, sizeof p, "%s/checkpoint.%08u", f->wal, seg);
    long offs[64];
    size_t nrec = record_offsets(p, offs, 63);
    assert_true(nrec >= 3);
    size_t n;
    uint8_t *cp = read_all(p, &n);
    cp[offs[2] + 20] ^= 1;
    write_file(p, cp, n, 0);
    free(cp);

    w = reopen(f, &g, &rep);
    assert_int_equal(g.nseries, 1);
    assert_true(rep.wal_corrupt_records >= 1);
    assert_int_equal(rep.wal_truncated_bytes, n - (size_t)offs[2]);
    assert_true(g.n > 10 && g.n < 20010);
    size_t kept = g.n - 10;
    assert_int_equal(g.s[kept].ts, gen(20000).ts); /* the segment replayed */
    g.n = kept;
    assert_gen(&g, 0, kept);
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

static void test_callback_abort(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;

    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    commit_gen(w, 5, 10);
    assert_int_equal(tsdb__wal_close(w), 0);
    g.abort_at = 3;
    struct tsdb__wal_replay_cb cb = {&g, got_series, got_samples};
    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    assert_int_equal(tsdb__wal_replay(w, &cb, &rep), -42);
    assert_int_equal(g.n, 20);
    assert_int_equal(tsdb__wal_close(w), 0);
    /* nothing was cut: a full replay still sees everything */
    w = reopen(f, &g, &rep);
    assert_gen(&g, 0, 50);
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

/* A commit whose write fails (here: a file-size limit mid-write) returns
 * the error and leaves no torn record behind: the segment is cut back, the
 * failed batch's samples are gone, its series record and later commits
 * replay cleanly. */
static void test_failed_commit(void **state)
{
    struct fx *f = *state;
    struct got g = {0};
    struct tsdb_open_report rep;
    struct tsdb_label lv[] = {{"__name__", "comments_total"}};
    struct tsdb_labels ls = {1, lv};

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tsdb__wal *w;
        struct rlimit rl;
        signal(SIGXFSZ, SIG_IGN);
        if (tsdb__wal_open(f->dir, &f->o, &w) || getrlimit(RLIMIT_FSIZE, &rl))
            _exit(1);
        log_gen(w, 0, 100);
        if (tsdb__wal_commit(w))
            _exit(2);
        rlim_t cur = rl.rlim_cur;
        rl.rlim_cur = 4096;
        setrlimit(RLIMIT_FSIZE, &rl);
        tsdb__wal_log_series(w, 9, &ls);
        log_gen(w, 100, 10100);
        if (tsdb__wal_commit(w) != -EFBIG)
            _exit(3);
        rl.rlim_cur = cur;
        setrlimit(RLIMIT_FSIZE, &rl);
        log_gen(w, 100, 150);
        if (tsdb__wal_commit(w) || tsdb__wal_close(w))
            _exit(4);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct tsdb__wal *w = reopen(f, &g, &rep);
    assert_int_equal(g.nseries, 1);
    assert_string_equal(g.series[0], "9 __name__=comments_total");
    assert_gen(&g, 0, 150);
    assert_int_equal(rep.wal_corrupt_records, 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    free(g.s);
}

static void test_fsync_policies(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    static const struct {
        enum tsdb_fsync policy;
        int64_t interval_ms;
    } cases[] = {{TSDB_FSYNC_ALWAYS, 0}, {TSDB_FSYNC_INTERVAL, 0},
                 {TSDB_FSYNC_INTERVAL, 1000}, {TSDB_FSYNC_NEVER, 0}};

    f->o.wal_segment_bytes = 4096;
    for (size_t c = 0; c < 4; c++) {
        f->o.wal_fsync = cases[c].policy;
        f->o.wal_fsync_interval_ms = cases[c].interval_ms;
        assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
        for (size_t b = 0; b < 20; b++) {
            log_gen(w, (c * 20 + b) * 40, (c * 20 + b + 1) * 40);
            assert_int_equal(tsdb__wal_commit(w), 0);
            assert_int_equal(tsdb__wal_commit(w), 0); /* idle commit */
        }
        assert_int_equal(tsdb__wal_close(w), 0);
        w = reopen(f, &g, &rep);
        assert_gen(&g, 0, (c + 1) * 800);
        assert_int_equal(tsdb__wal_close(w), 0);
    }
    free(g.s);
}

/* ---- read-only ------------------------------------------------------------ */

/* Every file in the WAL directory: names (sorted) and contents. */
struct snap {
    size_t n;
    char name[32][64];
    char *data[32];
    size_t len[32];
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void snap_take(const struct fx *f, struct snap *sn)
{
    memset(sn, 0, sizeof *sn);
    DIR *d = opendir(f->wal);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(sn->n < 32 && strlen(e->d_name) < 64);
        strcpy(sn->name[sn->n++], e->d_name);
    }
    closedir(d);
    qsort(sn->name, sn->n, sizeof sn->name[0], cmp_name);
    for (size_t i = 0; i < sn->n; i++) {
        char p[256];
        wal_path(f, sn->name[i], p, sizeof p);
        sn->data[i] = read_all(p, &sn->len[i]);
    }
}

static int snap_equal(const struct snap *a, const struct snap *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->name[i], b->name[i]) || a->len[i] != b->len[i] ||
            memcmp(a->data[i], b->data[i], a->len[i]))
            return 0;
    return 1;
}

static void snap_free(struct snap *sn)
{
    for (size_t i = 0; i < sn->n; i++)
        free(sn->data[i]);
    sn->n = 0;
}

static void assert_same_replay(const struct got *a, const struct tsdb_open_report *ra,
                               const struct got *b, const struct tsdb_open_report *rb)
{
    assert_int_equal(a->nseries, b->nseries);
    for (size_t i = 0; i < a->nseries; i++)
        assert_string_equal(a->series[i], b->series[i]);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->s[i].ref, b->s[i].ref);
        assert_int_equal(a->s[i].ts, b->s[i].ts);
        assert_int_equal(a->s[i].bits, b->s[i].bits);
    }
    assert_int_equal(ra->wal_records, rb->wal_records);
    assert_int_equal(ra->wal_samples, rb->wal_samples);
    assert_int_equal(ra->wal_corrupt_records, rb->wal_corrupt_records);
    assert_int_equal(ra->wal_truncated_bytes, rb->wal_truncated_bytes);
}

/* Every write on a read-only WAL fails with -EROFS. */
static void assert_ro_writes_fail(struct tsdb__wal *w)
{
    struct tsdb_label lv[] = {{"__name__", "up"}};
    struct tsdb_labels ls = {1, lv};
    uint32_t seg = 0;
    assert_int_equal(tsdb__wal_log_series(w, 1, &ls), -EROFS);
    assert_int_equal(tsdb__wal_log_sample(w, 1, 1000, 1.0), -EROFS);
    assert_int_equal(tsdb__wal_commit(w), -EROFS);
    assert_int_equal(tsdb__wal_cut_segment(w, &seg), -EROFS);
    assert_int_equal(tsdb__wal_checkpoint(w, 1, emit_state, &(struct cp_state){0}), -EROFS);
}

/* A WAL with a checkpoint, a torn tail in the middle of its segments, a
 * later segment, an older checkpoint, a stale segment below the checkpoint
 * and a leftover .tmp: a read-only replay delivers exactly what the
 * read-write replay keeps, counts the same cut, and changes no byte. */
static void test_read_only_torn_tail(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g_ro = {0}, g_rw = {0};
    struct tsdb_open_report rep_ro, rep_rw;
    struct snap before, after;
    char p[256], q[256];
    uint32_t seg;
    long offs[64];

    f->o.wal_segment_bytes = 2048;
    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    size_t batches = commit_until_segments(f, w, 3);
    assert_int_equal(tsdb__wal_cut_segment(w, &seg), 0);
    struct cp_state st = {0, batches * 10, 0};
    assert_int_equal(tsdb__wal_checkpoint(w, seg, emit_state, &st), 0);
    for (size_t b = batches; count_files(f, "0") < 4; b++) {
        log_gen(w, b * 10, (b + 1) * 10);
        assert_int_equal(tsdb__wal_commit(w), 0);
    }
    assert_int_equal(tsdb__wal_close(w), 0);
    uint32_t last = seg + 3;

    /* tear the last record of the second-to-last segment */
    seg_path(f, last - 1, p, sizeof p);
    size_t n;
    char *data = read_all(p, &n);
    size_t nrec = record_offsets(p, offs, 63);
    assert_true(nrec >= 2);
    size_t cut = (size_t)offs[nrec - 1] + 11;
    write_file(p, data, cut, 0);
    free(data);
    /* leftovers a read-write open would remove */
    snprintf(q, sizeof q, "%s/checkpoint.%08u", f->wal, seg);
    data = read_all(q, &n);
    snprintf(p, sizeof p, "%s/checkpoint.%08u", f->wal, seg - 1);
    write_file(p, data, n, 0);
    free(data);
    seg_path(f, 1, p, sizeof p);
    write_file(p, "stale segment", 13, 0);
    snprintf(p, sizeof p, "%s/checkpoint.%08u.tmp", f->wal, last + 1);
    write_file(p, "half a checkpoint", 17, 0);

    snap_take(f, &before);
    f->o.read_only = 1;
    w = reopen(f, &g_ro, &rep_ro);
    assert_int_equal(tsdb__wal_size(w), dir_bytes(f) - 17); /* .tmp not counted */
    assert_ro_writes_fail(w);
    assert_int_equal(tsdb__wal_close(w), 0);
    snap_take(f, &after);
    assert_true(snap_equal(&before, &after));
    snap_free(&after);
    assert_true(rep_ro.wal_corrupt_records >= 2); /* the torn record, the last segment */
    assert_true(rep_ro.wal_truncated_bytes > 0);

    /* a second read-only replay sees the same */
    w = reopen(f, &g_rw, &rep_rw);
    assert_int_equal(tsdb__wal_close(w), 0);
    assert_same_replay(&g_ro, &rep_ro, &g_rw, &rep_rw);

    /* the read-write replay keeps exactly that, and does change the files */
    f->o.read_only = 0;
    w = reopen(f, &g_rw, &rep_rw);
    assert_int_equal(tsdb__wal_close(w), 0);
    assert_same_replay(&g_ro, &rep_ro, &g_rw, &rep_rw);
    snap_take(f, &after);
    assert_false(snap_equal(&before, &after));
    snap_free(&after);
    snap_free(&before);

    /* after the cut, read-only and read-write agree with nothing to cut */
    f->o.read_only = 1;
    w = reopen(f, &g_ro, &rep_ro);
    assert_int_equal(tsdb__wal_size(w), dir_bytes(f));
    assert_int_equal(tsdb__wal_close(w), 0);
    assert_int_equal(rep_ro.wal_corrupt_records, 0);
    assert_int_equal(rep_ro.wal_truncated_bytes, 0);
    rep_rw.wal_corrupt_records = rep_rw.wal_truncated_bytes = 0;
    assert_same_replay(&g_ro, &rep_ro, &g_rw, &rep_rw);
    free(g_ro.s);
    free(g_rw.s);
}

/* Read-only replay at every torn offset of the last record matches the
 * read-write replay of the same bytes, and leaves the segment as it was. */
static void test_read_only_every_offset(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g_ro = {0}, g_rw = {0};
    struct tsdb_open_report rep_ro, rep_rw;
    char seg[256];
    long offs[64];

    assert_int_equal(tsdb__wal_open(f->dir, &f->o, &w), 0);
    commit_gen(w, 4, 20);
    log_gen(w, 80, 84);
    assert_int_equal(tsdb__wal_commit(w), 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    seg_path(f, 1, seg, sizeof seg);
    size_t size;
    char *orig = read_all(seg, &size);
    assert_int_equal(record_offsets(seg, offs, 63), 5);
    size_t start = (size_t)offs[4];

    for (size_t cut = start; cut < size; cut++) {
        size_t n;
        write_file(seg, orig, cut, 0);
        f->o.read_only = 1;
        w = reopen(f, &g_ro, &rep_ro);
        assert_int_equal(tsdb__wal_close(w), 0);
        char *now = read_all(seg, &n);
        assert_int_equal(n, cut);
        assert_memory_equal(now, orig, cut);
        free(now);
        assert_int_equal(count_files(f, ""), 1);
        assert_gen(&g_ro, 0, 80);
        assert_int_equal(rep_ro.wal_truncated_bytes, cut - start);
        f->o.read_only = 0;
        w = reopen(f, &g_rw, &rep_rw);
        assert_int_equal(tsdb__wal_close(w), 0);
        assert_same_replay(&g_ro, &rep_ro, &g_rw, &rep_rw);
        assert_int_equal(file_size(seg), (long)start);
    }
    free(orig);
    free(g_ro.s);
    free(g_rw.s);
}

/* Read-only open of a store without wal/ (or without the store directory):
 * nothing to replay, nothing created. */
static void test_read_only_missing_dir(void **state)
{
    struct fx *f = *state;
    struct tsdb__wal *w;
    struct got g = {0};
    struct tsdb_open_report rep;
    struct stat st;
    char sub[128];

    f->o.read_only = 1;
    w = reopen(f, &g, &rep);
    assert_int_equal(g.n, 0);
    assert_int_equal(g.nseries, 0);
    assert_int_equal(rep.wal_records, 0);
    assert_int_equal(rep.wal_samples, 0);
    assert_int_equal(rep.wal_corrupt_records, 0);
    assert_int_equal(rep.wal_truncated_bytes, 0);
    assert_int_equal(tsdb__wal_size(w), 0);
    assert_ro_writes_fail(w);
    assert_int_equal(tsdb__wal_close(w), 0);
    assert_int_equal(stat(f->wal, &st), -1);
    assert_int_equal(errno, ENOENT);
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 0);

    /* not even the store directory */
    snprintf(sub, sizeof sub, "%s/none", f->dir);
    assert_int_equal(tsdb__wal_open(sub, &f->o, &w), 0);
    assert_int_equal(tsdb__wal_replay(w, &(struct tsdb__wal_replay_cb){&g, got_series,
                                                                       got_samples},
                                      &rep),
                     0);
    assert_int_equal(g.n, 0);
    assert_int_equal(tsdb__wal_close(w), 0);
    assert_int_equal(stat(sub, &st), -1);
    free(g.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_commit_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_missing_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
