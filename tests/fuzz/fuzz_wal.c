/* fuzz_wal.c — libFuzzer target for WAL replay. The input (after a first
 * byte choosing segment or checkpoint) becomes the only file of a WAL;
 * replay must never crash, must replay only records that pass their
 * checksum, must cut the file exactly after the last replayed record, and a
 * second replay must find the cut file clean and identical. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "tsdb_int.h"

static char dir[64], wal[96];

static void remove_all(void)
{
    DIR *d = opendir(wal);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        char p[400];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", wal, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static void cleanup(void)
{
    remove_all();
    rmdir(wal);
    rmdir(dir);
}

static int on_series(void *arg, tsdb_ref ref, const struct tsdb_labels *ls)
{
    (void)arg, (void)ref;
    for (size_t i = 0; i < ls->len; i++) /* touch every byte: ASan checks */
        if (strlen(ls->v[i].name) + strlen(ls->v[i].value) > (64u << 20))
            abort();
    return 0;
}

static int on_samples(void *arg, const struct tsdb__wal_sample *s, size_t n)
{
    uint64_t *sum = arg;
    if (n == 0)
        abort();
    for (size_t i = 0; i < n; i++)
        *sum += s[i].ref + (uint64_t)s[i].ts;
    return 0;
}

/* Records at the start of p[0..n) whose framing and checksum are valid;
 * *ends[i] is the end offset of record i (up to max). */
static size_t checksummed_prefix(const uint8_t *p, size_t n, size_t *ends, size_t max)
{
    size_t off = 0, k = 0;
    while (n - off >= 8 && k < max) {
        uint32_t len = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
                       (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
        uint32_t sum = (uint32_t)p[off + 4] | (uint32_t)p[off + 5] << 8 |
                       (uint32_t)p[off + 6] << 16 | (uint32_t)p[off + 7] << 24;
        if (len == 0 || len > n - off - 8 || XXH32(p + off + 8, len, 0) != sum)
            break;
        off += 8 + len;
        ends[k++] = off;
    }
    return k;
}

static void replay(struct tsdb_open_report *rep, uint64_t *sum)
{
    struct tsdb_options o = {.wal_fsync = TSDB_FSYNC_NEVER, .wal_segment_bytes = 1 << 20};
    struct tsdb__wal_replay_cb cb = {sum, on_series, on_samples};
    struct tsdb__wal *w;
    if (tsdb__wal_open(dir, &o, &w) || tsdb__wal_replay(w, &cb, rep) ||
        tsdb__wal_close(w))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t ends[1 << 16];
    char path[400];
    if (!dir[0]) {
        strcpy(dir, "/tmp/fuzz_wal.XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(wal, sizeof wal, "%s/wal", dir);
        atexit(cleanup);
    }
    if (size < 1)
        return 0;
    int is_cp = data[0] & 1;
    data++, size--;
    snprintf(path, sizeof path, "%s/wal/%s", dir, is_cp ? "checkpoint.00000001" : "00000001");
    mkdir(dir, 0755);
    mkdir(wal, 0755);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp))
        abort();

    struct tsdb_open_report r1, r2;
    uint64_t s1 = 0, s2 = 0;
    replay(&r1, &s1);
    size_t valid = checksummed_prefix(data, size, ends, sizeof ends / sizeof *ends);
    if (r1.wal_records > valid)
        abort(); /* replayed a record that failed its checksum */
    struct stat st;
    if (stat(path, &st))
        abort();
    uint64_t kept = r1.wal_records ? ends[r1.wal_records - 1] : 0;
    if ((uint64_t)st.st_size != (r1.wal_truncated_bytes ? kept : size) ||
        r1.wal_truncated_bytes != size - (uint64_t)st.st_size ||
        (r1.wal_truncated_bytes > 0) != (r1.wal_corrupt_records > 0))
        abort(); /* the cut is not right after the last replayed record */
    replay(&r2, &s2);
    if (r2.wal_records != r1.wal_records || r2.wal_samples != r1.wal_samples ||
        r2.wal_corrupt_records || r2.wal_truncated_bytes || s1 != s2)
        abort(); /* a replayed, cut WAL is not stable */
    remove_all();
    return 0;
}
