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
 * (delta-of-delta timestamps; values as repeats, scaled decimal deltas or
 * Gorilla XOR, see chunk.c). Exactly one writer appends; readers decode the first n
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
    int64_t mant;         /* last decimal value is mant / 10^scale (chunk.c) */
    uint8_t dec_last;     /* the last value was that decimal */
    uint8_t scale;        /* current decimal scale */
    uint8_t leading;      /* last XOR window */
    uint8_t trailing;
};

struct tsdb__chunk {
    struct tsdb__chunk *prev;  /* older chunk of the same series, or NULL */
    uint32_t first_index;      /* series-absolute index of this chunk's sample 0 */
    uint32_t cap_words;        /* capacity of words[] */
    int64_t mint;              /* timestamp of sample 0 (set by first append) */
    /* A sealed chunk re-encoded by tsdb__head_pack holds packed_n samples in
     * the block encoding (blockenc.c), packed_len bytes. It is allocated
     * without the members from enc on: only the ones above and these exist. */
    const uint8_t *packed;
    uint32_t packed_len, packed_n;
    struct tsdb__chunk_enc enc;
    _Atomic uint64_t words[];
};
/* Bytes of a packed chunk's header. */
#define TSDB__CHUNK_PACKED_HEADER offsetof(struct tsdb__chunk, enc)

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
    int64_t mant;
    uint8_t dec_last, scale, leading, trailing;
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

/* ---- head (head.c) ------------------------------------------------------
 *
 * Design notes. The head holds recent samples per series: in-order samples
 * in a chain of head chunks (newest first), samples that arrive out of order
 * or repeat a timestamp in a per-series append-only log (ooo), which wins
 * over chunk samples of the same timestamp, later entries over earlier ones.
 *
 * Visibility. The writer applies a committed batch to chunks and logs, then
 * publishes each touched series' state {count, first, ooo, ooo_len} stamped
 * with the commit's sequence number (tsdb__head_publish). A snapshot taken
 * at sequence S sees, for every series, the newest state with seq <= S:
 *
 *   series.state (seqlock) --older--> history node --older--> ...
 *
 * History nodes are only made while snapshots are open, and pruned once no
 * open snapshot needs them. Memory a snapshot may still read (replaced ooo
 * logs, chunks cut off into blocks) goes to a graveyard tagged with the
 * sequence that retired it and is freed once every older snapshot closed.
 * Samples with absolute index < first were moved into blocks.
 */
struct tsdb__ooo {             /* out-of-order log; entries [0, len) immutable */
    uint32_t cap;
    int64_t *ts;
    double *v;
};

struct tsdb__series_state {
    uint32_t count;            /* in-order samples appended so far */
    uint32_t first;            /* first in-order sample still in the head */
    uint32_t ooo_len;
    struct tsdb__ooo *ooo;
    uint64_t seq;
};

struct tsdb__state_node {
    struct tsdb__series_state st;
    struct tsdb__state_node *_Atomic older;
};

struct tsdb__series {
    tsdb_ref ref;
    uint32_t nlabels;
    struct tsdb_label *labels;      /* sorted; strings interned in the head */
    uint64_t hash;
    struct tsdb__series *hnext;     /* writer's hash chain */
    /* published state: written by the writer under the seqlock `ver` */
    _Atomic uint32_t ver;
    _Atomic uint32_t count, first, ooo_len;
    struct tsdb__ooo *_Atomic ooo;
    _Atomic uint64_t seq;
    struct tsdb__state_node *_Atomic history;
    struct tsdb__chunk *_Atomic newest;
    /* writer only */
    int64_t maxt;                   /* newest in-order timestamp applied */
    int64_t pend_maxt;              /* newest timestamp including the batch */
    uint32_t w_count, w_first, w_ooo_len;
    struct tsdb__ooo *w_ooo;
    uint8_t touched, has_history;
};

/* Reads the state of s visible at sequence seq. @return 0 if the series
 * had no visible state then (then *st is zeroed). */
int tsdb__series_state_at(const struct tsdb__series *s, uint64_t seq,
                          struct tsdb__series_state *st /* OUT */);

/* Samples of a series state within [mint, maxt], ascending, one per
 * timestamp, appended to growable arrays (like tsdb__block_series_samples). */
int tsdb__series_samples(const struct tsdb__series *s, const struct tsdb__series_state *st,
                         int64_t mint, int64_t maxt, int64_t **ts, double **v,
                         size_t *len, size_t *cap);

/* Grows parallel sample arrays to hold at least need entries. */
int tsdb__samples_reserve(int64_t **ts, double **v, size_t *cap, size_t need);

/* Sorts samples by timestamp; on equal timestamps the later entry wins.
 * @return the new length. */
size_t tsdb__samples_sort_dedup(int64_t *ts, double *v, size_t n);

/* ---- the store (db.c, head.c, read.c) ------------------------------------ */

#include <pthread.h>

/* A loaded block with a reference count: the store's list holds one
 * reference, every snapshot that lists it holds one. */
struct tsdb__blk {
    struct tsdb__block *b;
    _Atomic int refs;
    int level;
    int64_t mint, maxt;
};
void tsdb__blk_unref(struct tsdb__blk *blk);

/* Open-addressing map from a pair of pointers to a pointer (head.c). */
struct tsdb__map {
    struct tsdb__map_slot { const void *a, *b; void *val; uint64_t h; } *slots;
    size_t cap, len;
};

/* One label value in the head index: the series that carry it. */
struct tsdb__lval {
    const char *value;
    uint32_t *ids;
    uint32_t len, cap;
};
struct tsdb__lname {
    const char *name;
    struct tsdb__lval **vals;
    uint32_t len, cap;
};

struct tsdb__grave {             /* memory retired at sequence seq */
    uint64_t seq;
    void (*free_fn)(void *p, void *q);
    void *p, *q;
    struct tsdb__grave *next;
};

#define TSDB__SERIES_PAGE_BITS 10
#define TSDB__SERIES_PAGES (1u << 16)

struct tsdb {
    char *dir;
    struct tsdb_options opts;
    int lock_fd;
    struct tsdb__wal *wal;                 /* NULL when read-only */

    /* series by ref: pages of 1024 pointers, written once */
    struct tsdb__series **_Atomic *pages;
    uint32_t nseries;
    struct tsdb__series **htab;            /* writer: by label hash */
    size_t hcap;

    /* head index and interned strings, guarded by idx_mu */
    pthread_mutex_t idx_mu;
    struct tsdb__map strings;              /* (hash bucket) -> string */
    struct tsdb__map pairs;                /* (name, value) -> lval */
    struct tsdb__map names;                /* (name) -> lname */
    struct tsdb__lname **lnames;
    size_t nlnames, caplnames;
    uint64_t index_bytes;

    /* the batch being built (writer) */
    struct tsdb__wal_sample *pend;
    size_t npend, cappend;
    struct tsdb__series **touched;
    size_t ntouched, captouched;
    struct tsdb__series **newseries;       /* created since the last commit */
    size_t nnew, capnew;

    /* visibility, guarded by snap_mu */
    pthread_mutex_t snap_mu;
    _Atomic uint64_t seq;
    struct tsdb_snapshot *snap_oldest, *snap_newest;
    struct tsdb__grave *grave_first, *grave_last;
    struct tsdb__series **hist;            /* series with history nodes */
    size_t nhist, caphist;
    struct tsdb__blk **blocks;             /* sorted by mint */
    size_t nblocks;

    /* writer's view of the head */
    int64_t min_valid;                     /* older samples are out of bounds */
    int64_t max_valid;                     /* newer ones are too new (wall clock
                                              + future window, set at commit) */
    int64_t head_mint, head_maxt;
    uint32_t block_seq;                    /* for block names */
    struct tsdb_stats st;
};

struct tsdb_snapshot {
    struct tsdb *db;
    uint64_t seq;
    struct tsdb__blk **blocks;
    size_t nblocks;
    struct tsdb_snapshot *older, *newer;
};

/* head.c */
int tsdb__head_init(struct tsdb *db);
void tsdb__head_free(struct tsdb *db);
struct tsdb__series *tsdb__head_series(const struct tsdb *db, tsdb_ref ref);
/* Creates a series from sorted, validated labels with the given ref. */
int tsdb__head_create(struct tsdb *db, const struct tsdb_label *v, size_t n, tsdb_ref ref,
                      struct tsdb__series **out /* OUT */);
/* Applies one sample to the writer's side of the head (not yet visible). */
int tsdb__head_apply(struct tsdb *db, struct tsdb__series *s, int64_t ts, double v);
/* Publishes every touched series at a new sequence number. */
void tsdb__head_publish(struct tsdb *db);
/* Frees graveyard entries and history no open snapshot needs. */
void tsdb__head_gc(struct tsdb *db);
/* Re-encodes sealed head chunks into the compact block encoding. */
void tsdb__head_pack(struct tsdb *db);
/* Drops head samples older than t (already in blocks) and publishes. */
void tsdb__head_truncate(struct tsdb *db, int64_t t);
/* Head series ids matching the matchers, ascending (head.c, under idx_mu). */
int tsdb__head_select(struct tsdb *db, const struct tsdb_matcher *m, size_t nm,
                      uint32_t **ids /* OUT */, size_t *n /* OUT */);
/* read.c: tsdb_select over the snapshot's blocks, and its head when
 * with_head is set. */
int tsdb__select_blocks(struct tsdb_snapshot *s, const struct tsdb_matcher *m, size_t nm,
                        int64_t mint, int64_t maxt, int with_head,
                        struct tsdb_series_set **out /* OUT */);
/* All samples of series i of the set in its range, merged across sources;
 * the arrays belong to the set and are valid until the next call. */
int tsdb__series_set_samples(struct tsdb_series_set *set, size_t i, const int64_t **ts,
                             const double **v, size_t *n);
void tsdb__grave_add(struct tsdb *db, void (*fn)(void *, void *), void *p, void *q);

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

/* ---- varints (shared by blockenc.c, wal.c, block.c) ---------------------- */

static inline uint64_t tsdb__zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t tsdb__unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }
/* Writes u as LEB128 at p; @return bytes written (1..10). */
size_t tsdb__uvarint_put(uint8_t *p, uint64_t u);
/* Reads a LEB128 from p[0..len); @return bytes read, 0 if malformed/short. */
size_t tsdb__uvarint_get(const uint8_t *p, size_t len, uint64_t *u /* OUT */);

#endif
