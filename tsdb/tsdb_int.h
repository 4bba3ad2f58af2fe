/* tsdb_int.h — private structures and cross-file functions of the tsdb sources.
 * Nothing outside tsdb/ (except unit tests) includes this header. */
#ifndef VIGIL_TSDB_INT_H
#define VIGIL_TSDB_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#include "tsdb.h"

/* ---- head chunks (chunk.c) ---------------------------------------------
 *
 * Design notes. A head chunk is an appendable bit stream of samples
 * (delta-of-delta timestamps, values either as integer deltas or Gorilla
 * XOR, see chunk.c). Exactly one writer appends; readers decode the first n
 * samples where n was published by the writer (release/acquire) after those
 * samples' bits were stored. Words are accessed with relaxed atomics, so a
 * reader decoding while the writer appends into the same word is not a data
 * race: it only uses bits written before n was published.
 *
 * A chunk's capacity is fixed when it is allocated; when a sample does not
 * fit, tsdb__chunk_append returns -ENOSPC and the caller starts a new chunk.
 */
struct tsdb__chunk_enc {  /* writer-only state */
    uint32_t nbits;       /* bits written */
    uint32_t n;           /* samples written */
    int64_t t;            /* last timestamp */
    int64_t tdelta;       /* last timestamp delta */
    uint64_t vbits;       /* last value's bits */
    int64_t ivalue;       /* last value as an integer, when int_mode */
    uint8_t int_mode;     /* last value was encoded as an integer */
    uint8_t leading;      /* last XOR window */
    uint8_t trailing;
};

struct tsdb__chunk {
    struct tsdb__chunk *prev;  /* older chunk of the same series, or NULL */
    uint32_t first_index;      /* series-absolute index of this chunk's sample 0 */
    uint32_t cap_words;        /* capacity of words[] */
    int64_t mint;              /* timestamp of sample 0 (set by first append) */
    struct tsdb__chunk_enc enc;
    _Atomic uint64_t words[];
};

/* Allocates an empty chunk of cap_words 64-bit words. NULL on ENOMEM. */
struct tsdb__chunk *tsdb__chunk_new(uint32_t cap_words);
/* Bytes of memory the chunk uses (header plus words). */
size_t tsdb__chunk_size(const struct tsdb__chunk *c);
/* Appends a sample; timestamps must not decrease (equal is allowed).
 * @return 0, or -ENOSPC when it does not fit (chunk unchanged). */
int tsdb__chunk_append(struct tsdb__chunk *c, int64_t t, double v);

struct tsdb__chunk_iter {
    const struct tsdb__chunk *c;
    uint32_t n;       /* samples to decode */
    uint32_t i;       /* samples decoded */
    uint32_t pos;     /* bit position */
    int64_t t, tdelta;
    uint64_t vbits;
    int64_t ivalue;
    uint8_t int_mode, leading, trailing;
};
/* Prepares to decode the first n samples of c (n published by the writer). */
void tsdb__chunk_iter_init(struct tsdb__chunk_iter *it, const struct tsdb__chunk *c,
                           uint32_t n);
/* @return 1 and the next sample, or 0 after n samples. */
int tsdb__chunk_iter_next(struct tsdb__chunk_iter *it, int64_t *t /* OUT */,
                          double *v /* OUT */);

/* ---- block chunk encoding (blockenc.c) ---------------------------------
 *
 * Sealed chunks in blocks use a byte-aligned encoding that LZ4 compresses
 * well: timestamps as zigzag varint delta-of-deltas; values, when every
 * finite value is a decimal m * 10^e, as varint deltas (or delta-of-deltas)
 * of the integers m, with NaN/Inf/stale markers kept bit-exact in an
 * exception list; otherwise byte-aligned XOR. */

/* Most bytes tsdb__blockenc_encode writes for n samples. */
size_t tsdb__blockenc_bound(uint32_t n);
/* Encodes n >= 1 samples (ts ascending, strictly) into out.
 * @return bytes written. */
size_t tsdb__blockenc_encode(const int64_t *ts, const double *v, uint32_t n,
                             uint8_t *out /* OUT */);
/* Number of samples in an encoded chunk, or a negative error. */
int tsdb__blockenc_count(const uint8_t *in, size_t len);
/* Decodes an encoded chunk into ts[] and v[] (cap entries each).
 * @return the number of samples, or TSDB_E_CORRUPT on malformed input
 * (never reads outside in[0..len) or writes beyond cap). */
int tsdb__blockenc_decode(const uint8_t *in, size_t len, int64_t *ts /* OUT */,
                          double *v /* OUT */, uint32_t cap);

/* ---- write-ahead log (wal.c) -------------------------------------------
 *
 * Design notes. dir/wal/ holds numbered segment files (00000001, ...) and at
 * most one checkpoint (checkpoint.NNNNNNNN: the state of the head before
 * segment NNNNNNNN). Each file is a sequence of records:
 *
 *   u32 payload length | u32 checksum (XXH32 of type+payload) | u8 type | payload
 *
 * Record types: SERIES (ref, labels), SAMPLES (a batch of ref, ts, value).
 * Replay reads the checkpoint then the segments in order; at the first
 * record that is short or fails its checksum, the rest of that segment and
 * every later segment are cut off and counted (never fatal).
 */
struct tsdb__wal;

struct tsdb__wal_sample {
    tsdb_ref ref;
    int64_t ts;
    double value;
};

struct tsdb__wal_replay_cb {
    void *arg;
    /* labels are valid only during the call */
    int (*series)(void *arg, tsdb_ref ref, const struct tsdb_labels *labels);
    int (*samples)(void *arg, const struct tsdb__wal_sample *s, size_t n);
};

/* Opens dir/wal (creating it). Does not replay. */
int tsdb__wal_open(const char *dir, const struct tsdb_options *opts,
                   struct tsdb__wal **out /* OUT */);
/* Replays checkpoint and segments through cb; truncates a torn or corrupt
 * tail; then positions the WAL for appending to a fresh segment. Counts go
 * into rep (wal_* fields). */
int tsdb__wal_replay(struct tsdb__wal *w, const struct tsdb__wal_replay_cb *cb,
                     struct tsdb_open_report *rep /* OUT */);
/* Buffer records for the next commit. labels must be sorted. */
int tsdb__wal_log_series(struct tsdb__wal *w, tsdb_ref ref, const struct tsdb_labels *labels);
int tsdb__wal_log_sample(struct tsdb__wal *w, tsdb_ref ref, int64_t ts, double value);
/* Writes buffered records to the current segment (starting a new segment
 * when it is full) and syncs per the fsync policy. @return 0 or -errno. */
int tsdb__wal_commit(struct tsdb__wal *w);
/* Closes the current segment (fsync) and starts the next.
 * @return 0 and the new segment's number in *seg. */
int tsdb__wal_cut_segment(struct tsdb__wal *w, uint32_t *seg /* OUT */);
/* Writes a checkpoint holding what emit() logs (through cp_series and
 * cp_samples on the handle it receives), atomically replacing any older
 * checkpoint, then deletes every segment numbered below before_seg. */
struct tsdb__wal_cp;
int tsdb__wal_checkpoint(struct tsdb__wal *w, uint32_t before_seg,
                         int (*emit)(struct tsdb__wal_cp *cp, void *arg), void *arg);
int tsdb__wal_cp_series(struct tsdb__wal_cp *cp, tsdb_ref ref, const struct tsdb_labels *labels);
int tsdb__wal_cp_sample(struct tsdb__wal_cp *cp, tsdb_ref ref, int64_t ts, double value);
/* Bytes of all WAL files on disk. */
uint64_t tsdb__wal_size(const struct tsdb__wal *w);
/* Syncs and frees. */
int tsdb__wal_close(struct tsdb__wal *w);

/* ---- blocks (block.c) ---------------------------------------------------
 *
 * Design notes. A block is an immutable directory data_dir/<name>/ covering
 * samples with timestamps in [mint, maxt):
 *   meta     text key=value lines: version, mint, maxt, series, samples,
 *            chunks, level (1 = cut from the head, +1 per compaction)
 *   chunks   pages of concatenated block chunks (blockenc.c), each page
 *            LZ4HC-compressed, with a page table at the end of the file
 *   index    symbols, series (sorted by labels: label symbol refs and chunk
 *            refs page/offset/length/mint/maxt/count) and postings (sorted
 *            series ids per label pair), checksummed
 * A block is written into <name>.tmp and renamed when complete (files and
 * directory fsynced), so a crash never leaves a half block in use; leftover
 * *.tmp directories are removed at open. Readers mmap the files.
 */
struct tsdb__block_writer;

/* Starts a block named name covering [mint, maxt) in data_dir/<name>.tmp. */
int tsdb__block_writer_open(const char *data_dir, const char *name, int64_t mint,
                            int64_t maxt, int level,
                            struct tsdb__block_writer **out /* OUT */);
/* Adds a series: calls must come in tsdb__labels_cmp order; ts strictly
 * ascending and within [mint, maxt). n == 0 adds nothing. Long series are
 * split into chunks of at most TSDB_BLOCK_CHUNK_SAMPLES samples. */
#define TSDB_BLOCK_CHUNK_SAMPLES 1024
int tsdb__block_writer_add(struct tsdb__block_writer *w, const struct tsdb_labels *ls,
                           const int64_t *ts, const double *v, size_t n);
/* Writes index and meta, syncs, renames into place, frees w.
 * A block with no series is not written (returns 0, nothing on disk). */
int tsdb__block_writer_finish(struct tsdb__block_writer *w);
/* Removes the temporary directory and frees w. */
void tsdb__block_writer_abort(struct tsdb__block_writer *w);

struct tsdb__block;
/* Opens (mmaps) the block directory at path; verifies index checksum. */
int tsdb__block_open(const char *path, struct tsdb__block **out /* OUT */);
void tsdb__block_close(struct tsdb__block *b);
void tsdb__block_info(const struct tsdb__block *b, struct tsdb_block_info *out /* OUT */);
int tsdb__block_level(const struct tsdb__block *b);
const char *tsdb__block_path(const struct tsdb__block *b);
/* Total bytes of the block's files. */
uint64_t tsdb__block_size(const struct tsdb__block *b);

/* Series ids matching every matcher (a matcher on an absent label sees "")
 * with at least one chunk overlapping [mint, maxt], ascending (which is label
 * order). *ids is malloc'd (caller frees); *n may be 0. */
int tsdb__block_select(const struct tsdb__block *b, const struct tsdb_matcher *m,
                       size_t nm, int64_t mint, int64_t maxt, uint32_t **ids /* OUT */,
                       size_t *n /* OUT */);
/* Labels of series id into v[0..cap); strings point into the block's
 * mapping (valid while it is open). @return the number of labels. */
int tsdb__block_series_labels(const struct tsdb__block *b, uint32_t id,
                              struct tsdb_label *v /* OUT */, size_t cap);

/* Per-reader scratch for decompressed pages (not shared between threads). */
struct tsdb__page_cache {
    const struct tsdb__block *block;
    uint32_t page;
    uint8_t *buf;
    size_t len, cap;
};
void tsdb__page_cache_free(struct tsdb__page_cache *pc);
/* Appends the samples of series id within [mint, maxt] to the growable
 * arrays (*ts, *v, *cap entries; *len used), ascending.
 * @return 0 or a negative error (TSDB_E_CORRUPT for a bad page/chunk). */
int tsdb__block_series_samples(const struct tsdb__block *b, uint32_t id, int64_t mint,
                               int64_t maxt, struct tsdb__page_cache *pc,
                               int64_t **ts, double **v, size_t *len, size_t *cap);
/* Calls fn for every distinct value of label name in the block, sorted. */
int tsdb__block_label_values(const struct tsdb__block *b, const char *name,
                             int (*fn)(const char *value, void *arg), void *arg);
/* Calls fn for every label name in the block, sorted. */
int tsdb__block_label_names(const struct tsdb__block *b,
                            int (*fn)(const char *name, void *arg), void *arg);

/* ---- labels (labels.c) ------------------------------------------------- */

/* Checks names and values against Prometheus' rules and the limits in opts.
 * @return 0 or a TSDB_E_* code. */
int tsdb__labels_validate(const struct tsdb_labels *ls, const struct tsdb_options *opts);
/* Order labels by name (stable, in place). */
void tsdb__labels_sort(struct tsdb_label *v, size_t n);
/* Compare two sorted label sets the way Prometheus orders series. */
int tsdb__labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b);
/* Hash of a sorted label set. */
uint64_t tsdb__labels_hash(const struct tsdb_labels *ls);
/* 1 if s[0..len) is valid UTF-8. */
int tsdb__utf8_valid(const char *s, size_t len);

/* ---- varints (shared by blockenc.c, wal.c, block.c) ---------------------- */

static inline uint64_t tsdb__zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t tsdb__unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }
/* Writes u as LEB128 at p; @return bytes written (1..10). */
size_t tsdb__uvarint_put(uint8_t *p, uint64_t u);
/* Reads a LEB128 from p[0..len); @return bytes read, 0 if malformed/short. */
size_t tsdb__uvarint_get(const uint8_t *p, size_t len, uint64_t *u /* OUT */);

#endif
