/* bench_codec.c — size and speed of the head chunk codec and the block
 * encoding (raw and after LZ4HC over 64 KiB pages) on synthetic series of
 * five kinds: constant, integer counter, 2-decimal counter, random-walk
 * gauge and high-entropy float.
 * Usage: bench_codec [series [samples [jitter%]]]: jitter% of the samples
 * (default 25) are a few ms off the 15 s grid. */
#include <lz4.h>
#include <lz4hc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsdb_int.h"

#define KINDS 5
#define CHUNK_SAMPLES 120
#define PAGE_BYTES (64 * 1024)

static const char *kind_names[KINDS] = {
    "constant", "int-counter", "2dec-counter", "gauge-walk", "float-noise",
};

static uint64_t rng_state;
static int jitter_pct = 25;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t rng_range(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

/* Fills n samples of a series of the given kind, scraped every 15 s with
 * 1-3 ms of jitter on jitter_pct% of the samples. Decimal values are built as
 * m / 100.0, the double a scrape parser produces for "12.34". */
static void gen_series(int kind, uint32_t n, int64_t *ts, double *v)
{
    int64_t t0 = 1700000000000 + rng_range(0, 14999);
    int64_t m = rng_range(0, 1000000), rate = rng_range(0, 1500);
    double scale = (double)rng_range(1, 1000);
    for (uint32_t i = 0; i < n; i++) {
        ts[i] = t0 + (int64_t)i * 15000 + (rng_range(0, 99) < jitter_pct ? rng_range(1, 3) * (rng() & 1 ? 1 : -1) : 0);
        switch (kind) {
        case 0:
            v[i] = (double)(m % 100);
            break;
        case 1:
            m += rate + rng_range(-rate / 8, rate / 8);
            v[i] = (double)m;
            break;
        case 2:
            m += rate + rng_range(-rate / 50, rate / 50);
            v[i] = (double)m / 100.0;
            break;
        case 3:
            m += rng_range(-50, 50);
            v[i] = (double)m / 100.0;
            break;
        default:
            v[i] = (double)(rng() >> 11) / 9007199254740992.0 * scale;
            break;
        }
    }
}

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static uint8_t *buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more > b->cap) {
        b->cap = (b->len + more) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(1);
        }
    }
    return b->p + b->len;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Bytes after LZ4HC level 9 over independent pages of PAGE_BYTES. */
static size_t lz4_pages(const struct buf *b)
{
    static char out[LZ4_COMPRESSBOUND(PAGE_BYTES)];
    size_t total = 0;
    for (size_t off = 0; off < b->len; off += PAGE_BYTES) {
        int len = (int)(b->len - off < PAGE_BYTES ? b->len - off : PAGE_BYTES);
        total += (size_t)LZ4_compress_HC((const char *)b->p + off, out, len,
                                         (int)sizeof out, 9);
    }
    return total;
}

struct stats {
    uint64_t samples, head_bits, raw_bytes;
    struct buf enc; /* the block encodings of this kind's chunks */
};

int main(int argc, char **argv)
{
    uint32_t nseries = argc > 1 ? (uint32_t)atoi(argv[1]) : 10000;
    uint32_t n = argc > 2 ? (uint32_t)atoi(argv[2]) : 480;
    if (argc > 3)
        jitter_pct = atoi(argv[3]);
    int64_t *ts = malloc(n * sizeof *ts), *ts2 = malloc(n * sizeof *ts);
    double *v = malloc(n * sizeof *v), *v2 = malloc(n * sizeof *v);
    struct stats st[KINDS + 1] = {0}; /* last: all kinds mixed */
    double head_enc_s = 0, head_dec_s = 0, blk_enc_s = 0, blk_dec_s = 0;
    if (!ts || !ts2 || !v || !v2) {
        perror("malloc");
        return 1;
    }
    rng_state = 42;
    for (uint32_t s = 0; s < nseries; s++) {
        int kind = (int)(s % KINDS);
        gen_series(kind, n, ts, v);
        for (uint32_t at = 0; at < n; at += CHUNK_SAMPLES) {
            uint32_t k = n - at < CHUNK_SAMPLES ? n - at : CHUNK_SAMPLES;
            struct tsdb__chunk *c = tsdb__chunk_new(CHUNK_SAMPLES * 3);
            if (!c) {
                perror("malloc");
                return 1;
            }
            double t0 = now_s();
            for (uint32_t i = 0; i < k; i++)
                if (tsdb__chunk_append(c, ts[at + i], v[at + i]) != 0) {
                    fprintf(stderr, "chunk full\n");
                    return 1;
                }
            double t1 = now_s();
            struct tsdb__chunk_iter it;
            tsdb__chunk_iter_init(&it, c, k);
            for (uint32_t i = 0; tsdb__chunk_iter_next(&it, &ts2[i], &v2[i]); i++)
                ;
            double t2 = now_s();
            uint8_t *out = buf_reserve(&st[kind].enc, tsdb__blockenc_bound(k));
            size_t len = tsdb__blockenc_encode(ts + at, v + at, k, out);
            double t3 = now_s();
            int got = tsdb__blockenc_decode(out, len, ts2, v2, n);
            double t4 = now_s();
            if (got != (int)k || memcmp(ts2, ts + at, k * sizeof *ts) ||
                memcmp(v2, v + at, k * sizeof *v)) {
                fprintf(stderr, "block round trip failed (series %u)\n", s);
                return 1;
            }
            memcpy(buf_reserve(&st[KINDS].enc, len), out, len);
            st[kind].enc.len += len;
            st[KINDS].enc.len += len;
            head_enc_s += t1 - t0;
            head_dec_s += t2 - t1;
            blk_enc_s += t3 - t2;
            blk_dec_s += t4 - t3;
            for (int x = 0; x < 2; x++) {
                struct stats *sk = &st[x ? KINDS : kind];
                sk->samples += k;
                sk->head_bits += c->enc.nbits;
                sk->raw_bytes += len;
            }
            free(c);
        }
    }
    printf("%u series x %u samples, %d%% jittered, %d-sample chunks, LZ4HC-9 over "
           "%d KiB pages\n", nseries, n, jitter_pct, CHUNK_SAMPLES, PAGE_BYTES / 1024);
    printf("%-13s %12s %14s %14s\n", "kind", "head bits/s", "block B/s raw",
           "block B/s lz4");
    for (int k = 0; k <= KINDS; k++) {
        double ns = (double)st[k].samples;
        if (ns == 0)
            continue;
        printf("%-13s %12.2f %14.3f %14.3f\n", k == KINDS ? "mixed" : kind_names[k],
               (double)st[k].head_bits / ns, (double)st[k].raw_bytes / ns,
               (double)lz4_pages(&st[k].enc) / ns);
    }
    double total = (double)st[KINDS].samples;
    printf("head   encode %.1f M samples/s, decode %.1f M samples/s\n",
           total / head_enc_s / 1e6, total / head_dec_s / 1e6);
    printf("block  encode %.1f M samples/s, decode %.1f M samples/s\n",
           total / blk_enc_s / 1e6, total / blk_dec_s / 1e6);
    for (int k = 0; k <= KINDS; k++)
        free(st[k].enc.p);
    free(ts);
    free(ts2);
    free(v);
    free(v2);
    return 0;
}
