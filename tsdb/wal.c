/* wal.c — the write-ahead log: every committed series and sample is written
 * to numbered segment files before it is acknowledged, and replayed into the
 * head when the store opens. A torn or corrupt tail is cut off and counted,
 * never fatal.
 *
 * Design notes.
 *
 *   files    dir/wal/NNNNNNNN            segments, decimal, from 00000001
 *            dir/wal/checkpoint.NNNNNNNN the head before segment NNNNNNNN
 *            dir/wal/checkpoint.NNNNNNNN.tmp  a checkpoint being written
 *
 *   record   u32 len | u32 XXH32(type+payload, seed 0) | u8 type | payload
 *            (little endian; len counts the type byte and payload, so a
 *            valid record has len >= 1 and zero-filled space is corrupt)
 *   SERIES   uvarint ref | uvarint nlabels | (uvarint len, name bytes,
 *            uvarint len, value bytes) * nlabels
 *   SAMPLES  (uvarint ref | uvarint zigzag(ts - previous ts in the record,
 *            0 for the first) | 8 bytes value bits, little endian) * n
 *
 * Records are built in an in-memory buffer (log_series/log_sample) and
 * written with one pwrite() per commit; a SAMPLES record is closed once its
 * payload reaches SAMPLES_SPLIT bytes so replay memory stays bounded. Records
 * never span segments: a commit that would push the segment past
 * wal_segment_bytes first starts a new one. A failed write is cut back off
 * the segment; the failed batch's samples are dropped, its series kept for
 * the next commit.
 *
 * Replay reads the checkpoint, then every segment numbered at or above it.
 * At the first record that is short, oversized, zero, fails its checksum or
 * does not decode, the file is truncated at that record's start and every
 * later segment is deleted; a damaged checkpoint keeps its valid prefix and
 * the segments after it still replay. Appends then go to a fresh segment,
 * never into the middle of a truncated one.
 *
 * A checkpoint is written to checkpoint.N.tmp, fsynced, renamed over and the
 * directory fsynced; only then are the older checkpoint and the segments
 * below N deleted, so a crash at any point leaves a replayable WAL.
 *
 * Read-only (opts->read_only, e.g. a reader next to a running writer): open
 * and replay change nothing on disk. A missing dir/wal is an empty WAL; no
 * file is created, truncated or deleted and nothing is synced. Replay still
 * stops at the first bad record and counts what a read-write replay would
 * cut, so both deliver the same records; tsdb__wal_size stays the bytes on
 * disk. Every write (log, commit, cut, checkpoint) fails with -EROFS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "tsdb_int.h"

enum { REC_SERIES = 1, REC_SAMPLES = 2 };

#define REC_HEADER 8u                 /* u32 len | u32 checksum */
#define REC_MAX_LEN (64u << 20)       /* larger lengths are corruption */
#define SAMPLES_SPLIT (64u << 10)     /* close a SAMPLES record at this payload */
#define SAMPLE_MAX_BYTES (10u + 10u + 8u)
#define CP_FLUSH_BYTES (1u << 20)     /* checkpoint write size */
#define READ_CHUNK (1u << 20)
#define NO_REC SIZE_MAX
#define NAME_MAX_LEN 32               /* "checkpoint.NNNNNNNN.tmp" and NUL */

/* Records being built: sealed records, then at most one open SAMPLES record
 * at offset open whose header is filled in by rec_seal. */
struct recbuf {
    uint8_t *p;
    size_t len, cap;
    size_t open;     /* offset of the open SAMPLES record, or NO_REC */
    int64_t prev_ts; /* last timestamp in the open SAMPLES record */
};

struct tsdb__wal {
    int dirfd;                 /* dir/wal; -1 if read-only and missing */
    int read_only;             /* never modify the directory */
    enum tsdb_fsync fsync;
    int64_t fsync_interval_ms;
    uint64_t segment_bytes;
    int fd;                    /* current segment, or -1 */
    uint32_t seg;              /* number of the current segment */
    uint32_t next_seg;         /* number the next segment gets */
    uint64_t seg_size;         /* bytes in the current segment */
    int dirty;                 /* written since the last fdatasync */
    int64_t last_sync_ms;
    uint32_t cp;               /* checkpoint number, 0 if none */
    uint64_t cp_size;
    uint64_t total_size;       /* bytes of all WAL files */
    struct recbuf buf;
};

struct tsdb__wal_cp {
    int fd;
    uint64_t size; /* bytes written */
    struct recbuf buf;
};

/* ---- small helpers ---------------------------------------------------- */

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Writes all of p[0..n) at offset off. @return 0 or -errno. */
static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k, n -= (size_t)k, off += (uint64_t)k;
    }
    return 0;
}

static int sync_dir(const struct tsdb__wal *w)
{
    return fsync(w->dirfd) ? -errno : 0;
}

/* 1 and *num if name is a segment ("%08u", non-zero). */
static int parse_segment(const char *name, uint32_t *num /* OUT */)
{
    uint64_t v = 0;
    size_t i;
    for (i = 0; name[i] >= '0' && name[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(name[i] - '0');
    if (i != 8 || name[i] != '\0' || v == 0)
        return 0;
    *num = (uint32_t)v;
    return 1;
}

/* 1 and *num if name is "checkpoint.%08u" followed by suffix. */
static int parse_checkpoint(const char *name, const char *suffix, uint32_t *num /* OUT */)
{
    static const char prefix[] = "checkpoint.";
    char seg[9];
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return 0;
    name += sizeof prefix - 1;
    if (strlen(name) < 8 || strcmp(name + 8, suffix) != 0)
        return 0;
    memcpy(seg, name, 8);
    seg[8] = '\0';
    return parse_segment(seg, num);
}

/* ---- record building -------------------------------------------------- */

static int rb_reserve(struct recbuf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Fills in length and checksum of the record that starts at b->p[start]
 * and ends at b->len. */
static void rec_seal(struct recbuf *b, size_t start)
{
    size_t len = b->len - start - REC_HEADER;
    put_u32le(b->p + start, (uint32_t)len);
    put_u32le(b->p + start + 4, XXH32(b->p + start + REC_HEADER, len, 0));
}

static void rb_close_samples(struct recbuf *b)
{
    if (b->open == NO_REC)
        return;
    rec_seal(b, b->open);
    b->open = NO_REC;
}

static size_t rb_begin(struct recbuf *b, uint8_t type)
{
    size_t start = b->len;
    b->len += REC_HEADER;
    b->p[b->len++] = type;
    return start;
}

static void rb_uvarint(struct recbuf *b, uint64_t u)
{
    b->len += tsdb__uvarint_put(b->p + b->len, u);
}

static int rb_series(struct recbuf *b, tsdb_ref ref, const struct tsdb_labels *ls)
{
    size_t need = REC_HEADER + 1 + 10 + 10;
    for (size_t i = 0; i < ls->len; i++)
        need += 20 + strlen(ls->v[i].name) + strlen(ls->v[i].value);
    if (need > REC_MAX_LEN)
        return TSDB_E_TOO_LONG;
    int err = rb_reserve(b, need);
    if (err)
        return err;
    rb_close_samples(b);
    size_t start = rb_begin(b, REC_SERIES);
    rb_uvarint(b, ref);
    rb_uvarint(b, ls->len);
    for (size_t i = 0; i < ls->len; i++) {
        const char *s[2] = {ls->v[i].name, ls->v[i].value};
        for (int k = 0; k < 2; k++) {
            size_t n = strlen(s[k]);
            rb_uvarint(b, n);
            memcpy(b->p + b->len, s[k], n);
            b->len += n;
        }
    }
    rec_seal(b, start);
    return 0;
}

static int rb_sample(struct recbuf *b, tsdb_ref ref, int64_t ts, double value)
{
    int err = rb_reserve(b, REC_HEADER + 1 + SAMPLE_MAX_BYTES);
    if (err)
        return err;
    if (b->open != NO_REC && b->len - b->open - REC_HEADER >= SAMPLES_SPLIT)
        rb_close_samples(b);
    if (b->open == NO_REC) {
        b->open = rb_begin(b, REC_SAMPLES);
        b->prev_ts = 0;
    }
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    rb_uvarint(b, ref);
    /* unsigned subtraction: wraps instead of overflowing for any ts pair */
    rb_uvarint(b, tsdb__zigzag((int64_t)((uint64_t)ts - (uint64_t)b->prev_ts)));
    for (int i = 0; i < 8; i++)
        b->p[b->len++] = (uint8_t)(bits >> (8 * i));
    b->prev_ts = ts;
    return 0;
}

/* After a failed write: keeps only the (sealed) SERIES records. */
static void rb_keep_series(struct recbuf *b)
{
    size_t in = 0, out = 0;
    while (in < b->len) {
        size_t n = REC_HEADER + get_u32le(b->p + in);
        if (b->p[in + REC_HEADER] == REC_SERIES) {
            memmove(b->p + out, b->p + in, n);
            out += n;
        }
        in += n;
    }
    b->len = out;
}

/* ---- reading records -------------------------------------------------- */

enum { READ_END, READ_OK, READ_BAD };

struct reader {
    int fd;
    uint8_t *buf;
    size_t cap;
    size_t pos, end;   /* unread bytes: buf[pos..end) */
    uint64_t off;      /* file offset of buf[pos] */
    uint64_t size;     /* file size */
};

/* Makes n bytes available at buf[pos].
 * @return 0, 1 if the file ends first, or -errno. */
static int reader_fill(struct reader *r, size_t n)
{
    if (r->end - r->pos >= n)
        return 0;
    if (r->off + n > r->size)
        return 1;
    if (r->pos) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;
    }
    if (r->cap < n) {
        size_t cap = n > READ_CHUNK ? n : READ_CHUNK;
        uint8_t *p = realloc(r->buf, cap);
        if (!p)
            return -ENOMEM;
        r->buf = p;
        r->cap = cap;
    }
    while (r->end < n) {
        ssize_t k = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return 1; /* shorter than fstat said */
        r->end += (size_t)k;
    }
    return 0;
}

/* Moves past n bytes, reading or seeking as needed. @return 0 or -errno. */
static int reader_skip(struct reader *r, uint64_t n)
{
    r->off += n;
    if (r->end - r->pos >= n) {
        r->pos += n;
        return 0;
    }
    r->pos = r->end = 0;
    return lseek(r->fd, (off_t)r->off, SEEK_SET) < 0 ? -errno : 0;
}

/* Reads the record at r->off. On READ_OK *body and *len are its type+payload
 * (valid until the next call) and r->off is past it; on READ_BAD r->off is
 * still the record's start. @return READ_END, READ_OK, READ_BAD or -errno. */
static int reader_next(struct reader *r, const uint8_t **body /* OUT */,
                       size_t *len /* OUT */)
{
    if (r->off == r->size)
        return READ_END;
    int e = reader_fill(r, REC_HEADER);
    if (e)
        return e < 0 ? e : READ_BAD;
    uint32_t n = get_u32le(r->buf + r->pos);
    uint32_t sum = get_u32le(r->buf + r->pos + 4);
    if (n == 0 || n > REC_MAX_LEN)
        return READ_BAD;
    e = reader_fill(r, REC_HEADER + n);
    if (e)
        return e < 0 ? e : READ_BAD;
    if (XXH32(r->buf + r->pos + REC_HEADER, n, 0) != sum)
        return READ_BAD;
    *body = r->buf + r->pos + REC_HEADER;
    *len = n;
    r->pos += REC_HEADER + n;
    r->off += REC_HEADER + n;
    return READ_OK;
}

/* Counts the records from r->off to the end of the file as far as their
 * length fields allow, checksums aside; an unframeable rest counts as one. */
static int reader_count(struct reader *r, uint64_t *n /* OUT */)
{
    *n = 0;
    while (r->off < r->size) {
        ++*n;
        int e = reader_fill(r, REC_HEADER);
        if (e)
            return e < 0 ? e : 0;
        uint32_t len = get_u32le(r->buf + r->pos);
        if (len == 0 || len > REC_MAX_LEN || r->off + REC_HEADER + len > r->size)
            return 0;
        e = reader_skip(r, REC_HEADER + len);
        if (e)
            return e;
    }
    return 0;
}

/* ---- replay ----------------------------------------------------------- */

struct replay {
    struct tsdb__wal *w;
    const struct tsdb__wal_replay_cb *cb;
    struct tsdb_open_report *rep;
    struct reader rd;                /* its buffer is reused across files */
    struct tsdb__wal_sample *s;
    size_t s_cap;
    struct tsdb_label *lv;
    size_t lv_cap;
    char *str;
    size_t str_cap;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (*cap >= need)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Decodes a SERIES payload into rp's scratch arrays.
 * @return 0, TSDB_E_CORRUPT or -ENOMEM. */
static int decode_series(struct replay *rp, const uint8_t *p, size_t n,
                         tsdb_ref *ref /* OUT */, struct tsdb_labels *ls /* OUT */)
{
    uint64_t u, cnt;
    size_t k = tsdb__uvarint_get(p, n, &u);
    if (!k || u > UINT32_MAX)
        return TSDB_E_CORRUPT;
    *ref = (tsdb_ref)u;
    p += k, n -= k;
    k = tsdb__uvarint_get(p, n, &cnt);
    if (!k)
        return TSDB_E_CORRUPT;
    p += k, n -= k;
    if (cnt > n / 2) /* each label takes two length bytes at least */
        return TSDB_E_CORRUPT;
    if (grow((void **)&rp->lv, &rp->lv_cap, cnt, sizeof *rp->lv) ||
        grow((void **)&rp->str, &rp->str_cap, n + 2 * cnt, 1))
        return -ENOMEM;
    char *s = rp->str;
    for (size_t i = 0; i < 2 * cnt; i++) {
        uint64_t len;
        k = tsdb__uvarint_get(p, n, &len);
        if (!k || len > n - k || memchr(p + k, '\0', len))
            return TSDB_E_CORRUPT;
        memcpy(s, p + k, len);
        s[len] = '\0';
        if (i % 2 == 0)
            rp->lv[i / 2].name = s;
        else
            rp->lv[i / 2].value = s;
        s += len + 1;
        p += k + len, n -= k + len;
    }
    if (n != 0)
        return TSDB_E_CORRUPT;
    ls->len = cnt;
    ls->v = rp->lv;
    return 0;
}

/* Decodes a SAMPLES payload into rp->s.
 * @return the number of samples (>= 1), TSDB_E_CORRUPT or -ENOMEM. */
static int64_t decode_samples(struct replay *rp, const uint8_t *p, size_t n)
{
    size_t cnt = 0;
    int64_t prev = 0;
    while (n > 0) {
        uint64_t ref, dt, bits = 0;
        size_t k1 = tsdb__uvarint_get(p, n, &ref);
        size_t k2 = k1 ? tsdb__uvarint_get(p + k1, n - k1, &dt) : 0;
        if (!k2 || ref > UINT32_MAX || n - k1 - k2 < 8)
            return TSDB_E_CORRUPT;
        p += k1 + k2, n -= k1 + k2;
        for (int i = 0; i < 8; i++)
            bits |= (uint64_t)p[i] << (8 * i);
        p += 8, n -= 8;
        if (grow((void **)&rp->s, &rp->s_cap, cnt + 1, sizeof *rp->s))
            return -ENOMEM;
        prev = (int64_t)((uint64_t)prev + (uint64_t)tsdb__unzigzag(dt));
        rp->s[cnt].ref = (tsdb_ref)ref;
        rp->s[cnt].ts = prev;
        memcpy(&rp->s[cnt].value, &bits, sizeof bits);
        cnt++;
    }
    return cnt ? (int64_t)cnt : TSDB_E_CORRUPT;
}

/* Decodes one checksummed record and hands it to the callbacks.
 * @return 0, TSDB_E_CORRUPT if it does not decode, -ENOMEM, or what a
 * callback returned when negative (then *from_cb is set). */
static int apply_record(struct replay *rp, const uint8_t *rec, size_t len,
                        int *from_cb /* OUT */)
{
    const struct tsdb__wal_replay_cb *cb = rp->cb;
    int err = 0;
    *from_cb = 0;
    if (rec[0] == REC_SERIES) {
        tsdb_ref ref;
        struct tsdb_labels ls;
        err = decode_series(rp, rec + 1, len - 1, &ref, &ls);
        if (err)
            return err;
        if (cb->series)
            err = cb->series(cb->arg, ref, &ls);
    } else if (rec[0] == REC_SAMPLES) {
        int64_t n = decode_samples(rp, rec + 1, len - 1);
        if (n < 0)
            return (int)n;
        rp->rep->wal_samples += (uint64_t)n;
        if (cb->samples)
            err = cb->samples(cb->arg, rp->s, (size_t)n);
    } else {
        return TSDB_E_CORRUPT;
    }
    *from_cb = err < 0;
    return err < 0 ? err : 0;
}

/* Replays one file; *kept is its size afterwards. @return 0 if it was
 * whole, 1 if it was cut at the first bad record (counted in rp->rep), or a
 * negative error. */
static int replay_file(struct replay *rp, const char *name, uint64_t *kept /* OUT */)
{
    struct tsdb__wal *w = rp->w;
    struct reader *r = &rp->rd;
    struct stat st;
    int fd = openat(w->dirfd, name, (w->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st)) {
        int err = -errno;
        close(fd);
        return err;
    }
    r->fd = fd;
    r->pos = r->end = 0;
    r->off = 0;
    r->size = (uint64_t)st.st_size;

    int rc;
    uint64_t good = 0; /* end of the last good record */
    for (;;) {
        const uint8_t *rec;
        size_t len;
        int from_cb;
        rc = reader_next(r, &rec, &len);
        if (rc != READ_OK)
            break;
        rc = apply_record(rp, rec, len, &from_cb);
        if (rc == TSDB_E_CORRUPT && !from_cb) {
            rc = READ_BAD;
            break;
        }
        if (rc < 0)
            break;
        rp->rep->wal_records++;
        good = r->off;
    }
    if (rc == READ_BAD) {
        uint64_t lost;
        r->off = good;
        r->pos = r->end = 0;
        rc = lseek(fd, (off_t)good, SEEK_SET) < 0 ? -errno : reader_count(r, &lost);
        if (rc == 0 && !w->read_only && (ftruncate(fd, (off_t)good) || fdatasync(fd)))
            rc = -errno;
        if (rc == 0) {
            /* read-only: counted as what would be cut, left on disk */
            rp->rep->wal_corrupt_records += lost;
            rp->rep->wal_truncated_bytes += r->size - good;
            if (!w->read_only)
                w->total_size -= r->size - good;
            rc = 1;
        }
    }
    *kept = rc == 1 ? good : r->size;
    close(fd);
    return rc;
}

/* Deletes a WAL file, counting its records and bytes as dropped when
 * count is set. Read-only: only counts, the file stays. @return 0 or -errno. */
static int drop_file(struct replay *rp, const char *name, int count)
{
    struct tsdb__wal *w = rp->w;
    struct reader *r = &rp->rd;
    struct stat st;
    int fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = fstat(fd, &st) ? -errno : 0;
    if (!err && count) {
        uint64_t n;
        r->fd = fd;
        r->pos = r->end = 0;
        r->off = 0;
        r->size = (uint64_t)st.st_size;
        err = reader_count(r, &n);
        rp->rep->wal_corrupt_records += n;
        rp->rep->wal_truncated_bytes += (uint64_t)st.st_size;
    }
    close(fd);
    if (w->read_only)
        return err;
    if (!err && unlinkat(w->dirfd, name, 0))
        err = -errno;
    if (!err)
        w->total_size -= (uint64_t)st.st_size;
    return err;
}

/* ---- directory listing ------------------------------------------------ */

struct listing {
    uint32_t *seg;   /* sorted */
    size_t nseg;
    uint32_t cp;     /* newest checkpoint, 0 if none */
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Removes checkpoint name, subtracting its bytes from *size if given. */
static int remove_checkpoint(struct tsdb__wal *w, uint32_t num, uint64_t *size)
{
    char name[NAME_MAX_LEN];
    struct stat st;
    snprintf(name, sizeof name, "checkpoint.%08u", num);
    if (fstatat(w->dirfd, name, &st, 0) || unlinkat(w->dirfd, name, 0))
        return -errno;
    if (size)
        *size -= (uint64_t)st.st_size;
    return 0;
}

/* Lists the WAL directory: segments, the newest checkpoint and, when size is
 * given, the total bytes of both. Removes leftover temporary checkpoints and
 * checkpoints older than the newest (left by a crash mid-replace), unless
 * read-only: then they stay (older checkpoints counted in *size).
 * @return 0 or -errno. */
static int list_dir(struct tsdb__wal *w, struct listing *l /* OUT */,
                    uint64_t *size /* OUT, may be NULL */)
{
    size_t cap = 0, ncp = 0, cp_cap = 0;
    uint32_t *cps = NULL;
    int err = 0;
    int fd = dup(w->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    memset(l, 0, sizeof *l);
    if (!d) {
        err = -errno;
        if (fd >= 0)
            close(fd);
        return err;
    }
    rewinddir(d);
    for (struct dirent *e; !err && (e = readdir(d));) {
        uint32_t num;
        struct stat st;
        if (parse_checkpoint(e->d_name, ".tmp", &num)) {
            if (!w->read_only && unlinkat(w->dirfd, e->d_name, 0))
                err = -errno;
            continue;
        }
        if (parse_segment(e->d_name, &num))
            err = grow((void **)&l->seg, &cap, l->nseg + 1, sizeof *l->seg);
        else if (parse_checkpoint(e->d_name, "", &num))
            err = grow((void **)&cps, &cp_cap, ncp + 1, sizeof *cps);
        else
            continue;
        if (!err && size && fstatat(w->dirfd, e->d_name, &st, 0))
            err = -errno;
        if (err)
            break;
        if (size)
            *size += (uint64_t)st.st_size;
        if (e->d_name[0] == 'c')
            cps[ncp++] = num;
        else
            l->seg[l->nseg++] = num;
    }
    closedir(d);
    for (size_t i = 0; i < ncp; i++)
        l->cp = cps[i] > l->cp ? cps[i] : l->cp;
    for (size_t i = 0; i < ncp && !err && !w->read_only; i++)
        if (cps[i] != l->cp)
            err = remove_checkpoint(w, cps[i], size);
    free(cps);
    if (err) {
        free(l->seg);
        l->seg = NULL;
        return err;
    }
    if (l->nseg)
        qsort(l->seg, l->nseg, sizeof *l->seg, cmp_u32);
    return 0;
}

static uint32_t next_segment(const struct listing *l)
{
    uint32_t next = l->nseg ? l->seg[l->nseg - 1] + 1 : 1;
    return next > l->cp ? next : l->cp;
}

/* ---- segments --------------------------------------------------------- */

/* Syncs (if written) and closes the current segment. @return 0 or -errno. */
static int segment_close(struct tsdb__wal *w)
{
    int err = 0;
    if (w->fd < 0)
        return 0;
    if (w->dirty && fdatasync(w->fd))
        err = -errno;
    if (close(w->fd) && !err)
        err = -errno;
    w->fd = -1;
    w->dirty = 0;
    return err;
}

static int segment_create(struct tsdb__wal *w)
{
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%08u", w->next_seg);
    int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int err = sync_dir(w);
    if (err) {
        close(fd);
        unlinkat(w->dirfd, name, 0);
        return err;
    }
    w->fd = fd;
    w->seg = w->next_seg++;
    w->seg_size = 0;
    w->dirty = 0;
    w->last_sync_ms = now_ms();
    return 0;
}

/* Syncs written data as the fsync policy asks. @return 0 or -errno. */
static int sync_policy(struct tsdb__wal *w)
{
    if (w->fd < 0 || !w->dirty || w->fsync == TSDB_FSYNC_NEVER)
        return 0;
    int64_t now = 0;
    if (w->fsync == TSDB_FSYNC_INTERVAL) {
        now = now_ms();
        if (now - w->last_sync_ms <= w->fsync_interval_ms)
            return 0;
    }
    if (fdatasync(w->fd))
        return -errno;
    w->dirty = 0;
    w->last_sync_ms = now ? now : now_ms();
    return 0;
}

/* ---- the API ---------------------------------------------------------- */

int tsdb__wal_open(const char *dir, const struct tsdb_options *opts,
                   struct tsdb__wal **out /* OUT */)
{
    char path[PATH_MAX];
    struct listing l;
    if (!dir || !opts)
        return -EINVAL;
    if (snprintf(path, sizeof path, "%s/wal", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    if (!opts->read_only &&
        ((mkdir(dir, 0755) && errno != EEXIST) || (mkdir(path, 0755) && errno != EEXIST)))
        return -errno;
    struct tsdb__wal *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->read_only = opts->read_only != 0;
    w->fd = -1;
    w->buf.open = NO_REC;
    w->fsync = opts->wal_fsync;
    w->fsync_interval_ms = opts->wal_fsync_interval_ms;
    w->segment_bytes = opts->wal_segment_bytes ? opts->wal_segment_bytes : 64u << 20;
    w->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0 && errno == ENOENT && w->read_only) {
        w->next_seg = 1; /* no WAL: nothing to replay */
        *out = w;
        return 0;
    }
    int err = w->dirfd < 0 ? -errno : list_dir(w, &l, &w->total_size);
    if (err) {
        if (w->dirfd >= 0)
            close(w->dirfd);
        free(w);
        return err;
    }
    w->cp = l.cp;
    if (l.cp) {
        char name[NAME_MAX_LEN];
        struct stat st;
        snprintf(name, sizeof name, "checkpoint.%08u", l.cp);
        w->cp_size = fstatat(w->dirfd, name, &st, 0) ? 0 : (uint64_t)st.st_size;
    }
    w->next_seg = next_segment(&l);
    free(l.seg);
    *out = w;
    return 0;
}

int tsdb__wal_replay(struct tsdb__wal *w, const struct tsdb__wal_replay_cb *cb,
                     struct tsdb_open_report *rep /* OUT */)
{
    struct tsdb_open_report unused;
    struct listing l;
    char name[NAME_MAX_LEN];
    if (w->fd >= 0 || w->buf.len)
        return -EINVAL; /* replay comes before any append */
    if (!rep)
        rep = &unused;
    rep->wal_records = rep->wal_samples = 0;
    rep->wal_corrupt_records = rep->wal_truncated_bytes = 0;
    if (w->dirfd < 0)
        return 0; /* read-only, no wal directory */
    int err = list_dir(w, &l, NULL);
    if (err)
        return err;
    struct replay rp = {.w = w, .cb = cb, .rep = rep};
    if (l.cp) {
        snprintf(name, sizeof name, "checkpoint.%08u", l.cp);
        err = replay_file(&rp, name, &w->cp_size);
        if (err == 1)
            err = 0; /* segments after a damaged checkpoint still replay */
    }
    size_t kept = l.nseg;
    for (size_t i = 0; i < l.nseg && err >= 0; i++) {
        snprintf(name, sizeof name, "%08u", l.seg[i]);
        if (kept < i || l.seg[i] < l.cp) {
            /* after a cut, or left over from an interrupted checkpoint */
            if (kept < i || !w->read_only)
                err = drop_file(&rp, name, kept < i);
            continue;
        }
        uint64_t size;
        err = replay_file(&rp, name, &size);
        if (err == 1) {
            kept = i;
            err = 0;
        }
    }
    if (err >= 0) {
        if (kept < l.nseg)
            l.nseg = kept + 1;
        err = w->read_only ? 0 : sync_dir(w);
        w->next_seg = next_segment(&l);
    }
    free(l.seg);
    free(rp.rd.buf);
    free(rp.s);
    free(rp.lv);
    free(rp.str);
    return err;
}

int tsdb__wal_log_series(struct tsdb__wal *w, tsdb_ref ref, const struct tsdb_labels *labels)
{
    return w->read_only ? -EROFS : rb_series(&w->buf, ref, labels);
}

int tsdb__wal_log_sample(struct tsdb__wal *w, tsdb_ref ref, int64_t ts, double value)
{
    return w->read_only ? -EROFS : rb_sample(&w->buf, ref, ts, value);
}

int tsdb__wal_commit(struct tsdb__wal *w)
{
    struct recbuf *b = &w->buf;
    int err = 0;
    if (w->read_only)
        return -EROFS;
    if (b->len == 0)
        return sync_policy(w); /* an idle INTERVAL log still gets synced */
    rb_close_samples(b);
    if (w->fd >= 0 && w->seg_size > 0 && w->seg_size + b->len > w->segment_bytes)
        err = segment_close(w);
    if (!err && w->fd < 0)
        err = segment_create(w);
    if (!err) {
        err = pwrite_all(w->fd, b->p, b->len, w->seg_size);
        /* cut a partial write off; if that fails too, the segment's tail is
         * torn, so later commits go to a new one */
        if (err && ftruncate(w->fd, (off_t)w->seg_size))
            segment_close(w);
    }
    if (err) {
        rb_keep_series(b);
        return err;
    }
    w->seg_size += b->len;
    w->total_size += b->len;
    w->dirty = 1;
    b->len = 0;
    return sync_policy(w);
}

int tsdb__wal_cut_segment(struct tsdb__wal *w, uint32_t *seg /* OUT */)
{
    if (w->read_only)
        return -EROFS;
    int err = segment_close(w);
    if (!err)
        err = segment_create(w);
    if (!err)
        *seg = w->seg;
    return err;
}

static int cp_flush(struct tsdb__wal_cp *cp)
{
    rb_close_samples(&cp->buf);
    int err = pwrite_all(cp->fd, cp->buf.p, cp->buf.len, cp->size);
    cp->size += cp->buf.len;
    cp->buf.len = 0;
    return err;
}

int tsdb__wal_cp_series(struct tsdb__wal_cp *cp, tsdb_ref ref, const struct tsdb_labels *labels)
{
    int err = rb_series(&cp->buf, ref, labels);
    return err || cp->buf.len < CP_FLUSH_BYTES ? err : cp_flush(cp);
}

int tsdb__wal_cp_sample(struct tsdb__wal_cp *cp, tsdb_ref ref, int64_t ts, double value)
{
    int err = rb_sample(&cp->buf, ref, ts, value);
    return err || cp->buf.len < CP_FLUSH_BYTES ? err : cp_flush(cp);
}

/* Deletes the segments numbered below before_seg. @return 0 or -errno. */
static int remove_segments_below(struct tsdb__wal *w, uint32_t before_seg)
{
    struct listing l;
    int err = list_dir(w, &l, NULL);
    for (size_t i = 0; i < l.nseg && !err && l.seg[i] < before_seg; i++) {
        char name[NAME_MAX_LEN];
        struct stat st;
        snprintf(name, sizeof name, "%08u", l.seg[i]);
        if (fstatat(w->dirfd, name, &st, 0) || unlinkat(w->dirfd, name, 0))
            err = -errno;
        else
            w->total_size -= (uint64_t)st.st_size;
    }
    free(l.seg);
    return err ? err : sync_dir(w);
}

int tsdb__wal_checkpoint(struct tsdb__wal *w, uint32_t before_seg,
                         int (*emit)(struct tsdb__wal_cp *cp, void *arg), void *arg)
{
    char tmp[NAME_MAX_LEN], name[NAME_MAX_LEN];
    if (w->read_only)
        return -EROFS;
    uint32_t current = w->fd >= 0 ? w->seg : w->next_seg;
    if (before_seg == 0 || before_seg > current)
        return -EINVAL;
    snprintf(name, sizeof name, "checkpoint.%08u", before_seg);
    snprintf(tmp, sizeof tmp, "checkpoint.%08u.tmp", before_seg);
    struct tsdb__wal_cp cp = {.buf.open = NO_REC};
    cp.fd = openat(w->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (cp.fd < 0)
        return -errno;
    int err = emit(&cp, arg);
    if (err >= 0)
        err = cp_flush(&cp);
    if (err >= 0 && fdatasync(cp.fd))
        err = -errno;
    if (close(cp.fd) && err >= 0)
        err = -errno;
    free(cp.buf.p);
    if (err >= 0 && renameat(w->dirfd, tmp, w->dirfd, name))
        err = -errno;
    if (err < 0) {
        unlinkat(w->dirfd, tmp, 0);
        return err;
    }
    /* the rename must be durable before what it replaces is deleted */
    if ((err = sync_dir(w)) < 0)
        return err;
    /* the new checkpoint is in place: the rest is cleanup */
    w->total_size += cp.size;
    if (w->cp == before_seg)
        w->total_size -= w->cp_size; /* replaced by the rename */
    else if (w->cp && (err = remove_checkpoint(w, w->cp, &w->total_size)))
        return err;
    w->cp = before_seg;
    w->cp_size = cp.size;
    return remove_segments_below(w, before_seg);
}

uint64_t tsdb__wal_size(const struct tsdb__wal *w)
{
    return w->total_size;
}

int tsdb__wal_close(struct tsdb__wal *w)
{
    if (!w)
        return 0;
    int err = segment_close(w); /* read-only: fd is -1, nothing to sync */
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->buf.p);
    free(w);
    return err;
}
