/* tsdb.h — Vigil's time-series storage engine: the only header agent/ and
 * query/ include. A store is a directory holding a write-ahead log, an
 * in-memory head of recent samples and immutable LZ4-compressed blocks.
 *
 * Threading contract: one writer (tsdb_series_ref, tsdb_append, tsdb_commit,
 * tsdb_maintain must be called from one thread at a time), any number of
 * concurrent readers through snapshots. A reader never blocks the writer for
 * longer than a pointer swap.
 */
#ifndef VIGIL_TSDB_H
#define VIGIL_TSDB_H

#include <stddef.h>
#include <stdint.h>

/* Prometheus' staleness marker: a NaN with this exact bit pattern. The store
 * keeps it bit-for-bit; tsdb_is_stale() tells it apart from other NaNs. */
#define TSDB_STALE_NAN_BITS 0x7ff0000000000002ULL
double tsdb_stale_nan(void);
int tsdb_is_stale(double v);

/* Errors: functions return 0 or a negative code, either -errno or one of
 * these. tsdb_strerror() describes both kinds. */
#define TSDB_ERRORS(X)                                                        \
    X(TSDB_E_TOO_OLD, -10001, "sample older than the out-of-order window")     \
    X(TSDB_E_OUT_OF_BOUNDS, -10002, "sample older than the newest block")      \
    X(TSDB_E_BAD_NAME, -10003, "invalid metric or label name")                 \
    X(TSDB_E_BAD_VALUE, -10004, "label value is not valid UTF-8")              \
    X(TSDB_E_TOO_LONG, -10005, "label name or value longer than the limit")    \
    X(TSDB_E_TOO_MANY_LABELS, -10006, "more labels than the limit")            \
    X(TSDB_E_DUP_LABEL, -10007, "duplicate label name")                        \
    X(TSDB_E_SERIES_LIMIT, -10008, "series limit reached")                     \
    X(TSDB_E_NO_NAME, -10009, "series has no __name__ label")                  \
    X(TSDB_E_CORRUPT, -10010, "data corrupt")                                  \
    X(TSDB_E_BAD_REGEX, -10011, "invalid regular expression")                  \
    X(TSDB_E_LOCKED, -10012, "data directory is in use by another process")    \
    X(TSDB_E_BAD_REF, -10013, "unknown series reference")                      \
    X(TSDB_E_TOO_NEW, -10014, "sample too far in the future")

enum tsdb_error {
#define TSDB_ERROR_ENUM(name, code, text) name = code,
    TSDB_ERRORS(TSDB_ERROR_ENUM)
#undef TSDB_ERROR_ENUM
};
const char *tsdb_strerror(int err);

/* ---- labels ----------------------------------------------------------- */

/* A series is identified by its labels; the metric name is the label
 * "__name__". Strings are NUL-terminated and owned by the caller. */
struct tsdb_label {
    const char *name;
    const char *value;
};

struct tsdb_labels {
    size_t len;
    const struct tsdb_label *v;
};

/* 1 if s is a valid label name, [a-zA-Z_][a-zA-Z0-9_]*. */
int tsdb_label_name_valid(const char *s);

/* 1 if s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points beyond U+10FFFF): what label values must be. */
int tsdb_utf8_valid(const char *s, size_t len);

/* ---- options ---------------------------------------------------------- */

enum tsdb_fsync {
    TSDB_FSYNC_ALWAYS,   /* fsync before tsdb_commit returns */
    TSDB_FSYNC_INTERVAL, /* write() at every commit, fsync at most every
                            wal_fsync_interval_ms (default) */
    TSDB_FSYNC_NEVER     /* write() at every commit, fsync only when a
                            segment is closed */
};

struct tsdb_options {
    int64_t block_range_ms;        /* span of a freshly cut block: 2h */
    int64_t max_block_range_ms;    /* compaction stops here: 24h */
    int64_t retention_ms;          /* delete blocks older than this: 15d; 0 = keep */
    uint64_t retention_bytes;      /* cap on blocks + WAL bytes; 0 = none */
    int64_t ooo_window_ms;         /* accept samples this far behind: 10m */
    int64_t future_window_ms;      /* reject samples more than this ahead of
                                      the wall clock: 1h; 0 = no limit */
    enum tsdb_fsync wal_fsync;     /* TSDB_FSYNC_INTERVAL */
    int64_t wal_fsync_interval_ms; /* 1000 */
    uint64_t wal_segment_bytes;    /* 64 MiB */
    uint32_t max_series;           /* 0 = unlimited */
    uint32_t max_labels;           /* labels per series: 64 */
    uint32_t max_label_name_bytes; /* 256 */
    uint32_t max_label_value_bytes;/* 4096 */
    int read_only;                 /* open for reading only: no WAL writes,
                                      no maintenance, no lock */
    int no_wal;                    /* backfill: no WAL; tsdb_close cuts the
                                      whole head into blocks */
};
void tsdb_options_default(struct tsdb_options *o /* OUT */);

/* ---- the store -------------------------------------------------------- */

struct tsdb;

/* What opening found, for logs and self-metrics. */
struct tsdb_open_report {
    uint64_t wal_records;          /* records replayed */
    uint64_t wal_samples;          /* samples replayed into the head */
    uint64_t wal_corrupt_records;  /* records dropped at a torn/corrupt tail */
    uint64_t wal_truncated_bytes;  /* bytes cut off the WAL */
    uint32_t blocks;               /* blocks loaded */
    uint32_t blocks_removed;       /* leftover temporary blocks removed */
    double replay_seconds;
};

/* Opens (creating if needed) the store in dir and replays its WAL.
 * @return 0 and *out, or a negative error. A torn WAL tail is not an error:
 * it is truncated and counted in *report (which may be NULL). */
int tsdb_open(const char *dir, const struct tsdb_options *opts,
              struct tsdb **out /* OUT */,
              struct tsdb_open_report *report /* OUT, may be NULL */);

/* Commits pending appends, syncs the WAL and frees everything.
 * @return 0 or the first error met while syncing. */
int tsdb_close(struct tsdb *db);

/* ---- writing (one writer thread) -------------------------------------- */

typedef uint32_t tsdb_ref;

/* Looks up or creates the series with these labels (any order; sorted
 * internally) and returns its reference, valid until tsdb_close. Labels are
 * validated: Prometheus name rules, UTF-8 values, size limits. A new series
 * is logged to the WAL with the next commit. Empty values mean "no label"
 * and are dropped, as in Prometheus. */
int tsdb_series_ref(struct tsdb *db, const struct tsdb_labels *labels,
                    tsdb_ref *ref /* OUT */);

/* Adds one sample to the pending batch. It is visible to readers and
 * durable after the next tsdb_commit returns.
 * Samples older than (newest sample of the series - ooo_window_ms) return
 * TSDB_E_TOO_OLD; samples older than the newest block's end, or outside
 * +-2^62 ms, return TSDB_E_OUT_OF_BOUNDS; samples more than
 * future_window_ms ahead of the wall clock (read at the last commit) return
 * TSDB_E_TOO_NEW. A second sample with the same timestamp replaces
 * the first (last write wins). */
int tsdb_append(struct tsdb *db, tsdb_ref ref, int64_t ts_ms, double value);

/* Writes the batch to the WAL (fsync per policy), then makes it visible to
 * new snapshots atomically. @return 0, or a negative errno from the WAL
 * (the batch is then not visible and not durable). */
int tsdb_commit(struct tsdb *db);

/* Housekeeping: cuts the head into a block when it spans more than 1.5x
 * block_range_ms, compacts blocks, applies retention, truncates the WAL.
 * Call it periodically (the agent does every minute) or after a backfill
 * with force=1 to cut everything in the head into blocks. */
int tsdb_maintain(struct tsdb *db, int force);

/* ---- reading ---------------------------------------------------------- */

enum tsdb_match_type { TSDB_MATCH_EQ, TSDB_MATCH_NE, TSDB_MATCH_RE, TSDB_MATCH_NRE };

/* A label matcher; regex matchers are fully anchored and compiled once by
 * tsdb_matcher_init (PCRE2 with JIT). */
struct tsdb_matcher {
    enum tsdb_match_type type;
    char *name;
    char *value;
    void *re;      /* pcre2_code *, private */
    void *re_data; /* pcre2_match_data *, private */
};

/* @return 0, or TSDB_E_BAD_REGEX with a message in errbuf. */
int tsdb_matcher_init(struct tsdb_matcher *m /* OUT */, enum tsdb_match_type type,
                      const char *name, const char *value, char *errbuf,
                      size_t errlen);
void tsdb_matcher_free(struct tsdb_matcher *m);
/* 1 if value (the label's value, "" when absent) satisfies the matcher. */
int tsdb_matcher_matches(const struct tsdb_matcher *m, const char *value);

/* A consistent read view: blocks and head samples committed before it was
 * opened, nothing committed later. Cheap to open; close it promptly since it
 * pins memory and blocks. */
struct tsdb_snapshot;
int tsdb_snapshot_open(struct tsdb *db, struct tsdb_snapshot **out /* OUT */);
void tsdb_snapshot_close(struct tsdb_snapshot *s);

/* The series matching all matchers that have data overlapping [mint, maxt],
 * sorted by labels. As in Prometheus, overlap is decided per chunk: a series
 * may be listed whose iterator then yields no sample inside the range;
 * callers skip such series. */
struct tsdb_series_set;
int tsdb_select(struct tsdb_snapshot *s, const struct tsdb_matcher *m, size_t nm,
                int64_t mint, int64_t maxt, struct tsdb_series_set **out /* OUT */);
size_t tsdb_series_set_len(const struct tsdb_series_set *set);
/* Labels of series i, sorted by name; valid until the set is freed. */
const struct tsdb_labels *tsdb_series_set_labels(const struct tsdb_series_set *set,
                                                 size_t i);
void tsdb_series_set_free(struct tsdb_series_set *set);

/* Iterates the samples of series i in [mint, maxt] in timestamp order, one
 * sample per timestamp (the newest write wins). An iterator decodes a batch
 * of samples at a time (1024 by default), not the series at open, so many
 * may be open at once. The iterators of one set share its decoding scratch:
 * use them from one thread, and free them before the set. */
struct tsdb_iter;
int tsdb_iter_open(struct tsdb_series_set *set, size_t i, struct tsdb_iter **out /* OUT */);
/* @return 1 and a sample, 0 at the end, or a negative error. */
int tsdb_iter_next(struct tsdb_iter *it, int64_t *ts_ms /* OUT */, double *value /* OUT */);
/* Skips to the first sample with timestamp >= ts_ms (never backwards),
 * without decoding the time it skips where it can. @return 1 if there is
 * one (the next tsdb_iter_next returns it), 0 at the end, or a negative
 * error. */
int tsdb_iter_seek(struct tsdb_iter *it, int64_t ts_ms);
/* The samples decoded and not returned yet, in bulk: *s points at *n of
 * them (0 only at the end), valid until the next call on it.
 * tsdb_iter_consume(it, k) then moves past the first k.
 * @return 0 or a negative error. */
struct tsdb_sample {
    int64_t ts_ms;
    double value;
};
int tsdb_iter_batch(struct tsdb_iter *it, const struct tsdb_sample **s /* OUT */,
                    size_t *n /* OUT */);
void tsdb_iter_consume(struct tsdb_iter *it, size_t n);
/* Sets how many samples the iterator aims to decode at a time (a memory
 * versus decoding-work trade: chunks straddling two batches are decoded
 * twice). */
void tsdb_iter_set_batch(struct tsdb_iter *it, size_t samples);
void tsdb_iter_free(struct tsdb_iter *it);

/* Label names and values present in [mint, maxt], sorted, for series that
 * match the matchers (nm may be 0). Free with tsdb_strings_free. */
struct tsdb_strings {
    size_t len;
    char **v;
};
int tsdb_label_names(struct tsdb_snapshot *s, const struct tsdb_matcher *m, size_t nm,
                     int64_t mint, int64_t maxt, struct tsdb_strings *out /* OUT */);
int tsdb_label_values(struct tsdb_snapshot *s, const char *name,
                      const struct tsdb_matcher *m, size_t nm, int64_t mint,
                      int64_t maxt, struct tsdb_strings *out /* OUT */);
void tsdb_strings_free(struct tsdb_strings *s);

/* ---- statistics ------------------------------------------------------- */

struct tsdb_stats {
    uint64_t head_series;
    uint64_t head_samples;
    uint64_t head_chunk_bytes;     /* encoded head chunks */
    uint64_t head_bytes;           /* all head memory, estimated */
    int64_t head_mint, head_maxt;
    uint32_t blocks;
    uint64_t block_samples;
    uint64_t block_bytes;          /* index + chunk files on disk */
    uint64_t wal_bytes;
    uint64_t samples_appended;
    uint64_t samples_ooo;          /* accepted out of order */
    uint64_t rejected_too_old;
    uint64_t rejected_out_of_bounds;
    uint64_t rejected_too_new;
    uint64_t series_created;
    uint64_t series_rejected;      /* invalid labels or limits */
    uint64_t compactions;
    uint64_t blocks_deleted;       /* by retention */
};
void tsdb_stats(struct tsdb *db, struct tsdb_stats *out /* OUT */);

/* One block, for `tsq tsdb analyze`. */
struct tsdb_block_info {
    char name[64];
    int64_t mint, maxt;
    uint64_t series, samples, chunk_bytes, index_bytes;
};
/* Calls fn for each block, oldest first. */
void tsdb_blocks_foreach(struct tsdb *db,
                         void (*fn)(const struct tsdb_block_info *b, void *arg),
                         void *arg);

#endif
