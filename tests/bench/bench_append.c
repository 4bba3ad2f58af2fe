/* bench_append.c — measures Vigil's store through tsdb.h: append rate
 * (samples per second per core of CPU time), head memory per active series,
 * WAL replay time, and the full-scan decode rate of a data directory.
 *
 * Usage:
 *   bench_append append DIR [-n SERIES] [-H HOURS] [-i INTERVAL_S]
 *                           [-b BATCH] [-f never|interval|always]
 *       DIR must not exist. Creates SERIES series, then appends HOURS of
 *       samples every INTERVAL_S to all of them, round by round, committing
 *       every BATCH samples; then closes and reopens the store to time the
 *       WAL replay. Defaults: 100000 series, 2 h, 15 s, batch 50000,
 *       fsync interval.
 *   bench_append scan DIR
 *       Opens DIR read-only and decodes every sample of every series.
 * Results are printed as `key=value` lines on stdout.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsdb.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set size of this process in bytes, from /proc/self/statm. */
static uint64_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_append: %s: %s\n", what, tsdb_strerror(err));
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_append append DIR [-n SERIES] [-H HOURS] [-i INTERVAL_S]\n"
                    "                    [-b BATCH] [-f never|interval|always]\n"
                    "       bench_append scan DIR\n");
    exit(2);
}

/* ---- synthetic series ------------------------------------------------- */

static const char *const metric_names[] = {
    "node_cpu_seconds_total", "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total", "node_disk_written_bytes_total",
    "node_memory_MemFree_bytes", "node_memory_Cached_bytes",
    "node_filesystem_avail_bytes", "node_load1", "node_hwmon_temp_celsius",
    "node_scrape_collector_duration_seconds",
};
#define NNAMES (sizeof(metric_names) / sizeof(metric_names[0]))
#define SERIES_PER_HOST 250

/* Per series value state. The mix by i % 20: 8 integer counters with
 * random increments, 5 two-decimal random-walk gauges, 6 constants and
 * 1 high-entropy float. */
struct gen {
    double value;
    uint8_t kind;
};

enum { G_COUNTER, G_GAUGE, G_CONST, G_FLOAT };

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static uint8_t gen_kind(size_t i)
{
    size_t k = i % 20;
    return k < 8 ? G_COUNTER : k < 13 ? G_GAUGE : k < 19 ? G_CONST : G_FLOAT;
}

static double gen_next(struct gen *g, uint64_t *rng)
{
    uint64_t r = xorshift(rng);
    switch (g->kind) {
    case G_COUNTER:
        g->value += (double)(r % 4096);
        break;
    case G_GAUGE:
        g->value = round(g->value * 100 + (double)(r % 201) - 100) / 100;
        break;
    case G_CONST:
        break;
    case G_FLOAT:
        return (double)(r >> 11) * 0x1.0p-53 * 0.01;
    }
    return g->value;
}

/* Creates series i's reference: {__name__, instance, job, series}. */
static tsdb_ref make_series(struct tsdb *db, size_t i)
{
    char instance[32], idx[16];
    snprintf(instance, sizeof(instance), "host-%04zu:9100", i / SERIES_PER_HOST);
    snprintf(idx, sizeof(idx), "%zu", i % SERIES_PER_HOST);
    struct tsdb_label l[] = {{"__name__", metric_names[i % NNAMES]},
                             {"instance", instance},
                             {"job", "node"},
                             {"series", idx}};
    struct tsdb_labels ls = {sizeof(l) / sizeof(l[0]), l};
    tsdb_ref ref;
    int err = tsdb_series_ref(db, &ls, &ref);
    if (err)
        die("tsdb_series_ref", err);
    return ref;
}

/* ---- append, head memory, replay -------------------------------------- */

struct append_cfg {
    size_t series;
    double hours;
    int64_t interval_ms;
    size_t batch;
    enum tsdb_fsync fsync;
    const char *fsync_name;
};

static void run_append(const char *dir, const struct append_cfg *c)
{
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.wal_fsync = c->fsync;
    tsdb_ref *refs = malloc(c->series * sizeof(*refs));
    struct gen *gens = malloc(c->series * sizeof(*gens));
    if (!refs || !gens)
        die("malloc", -ENOMEM);
    for (size_t i = 0; i < c->series; i++)
        gens[i] = (struct gen){.value = (double)(i % 1000) * 1024, .kind = gen_kind(i)};

    uint64_t rss0 = rss_bytes();
    struct tsdb *db;
    int err = tsdb_open(dir, &o, &db, NULL);
    if (err)
        die("tsdb_open", err);
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t i = 0; i < c->series; i++)
        refs[i] = make_series(db, i);
    if ((err = tsdb_commit(db)))
        die("tsdb_commit", err);
    double w1 = clock_s(CLOCK_MONOTONIC), c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);

    int64_t rounds = (int64_t)(c->hours * 3600e3 / (double)c->interval_ms);
    int64_t t0 = (int64_t)time(NULL) * 1000 - rounds * c->interval_ms;
    t0 -= t0 % c->interval_ms;
    uint64_t rng = 0x9e3779b97f4a7c15ULL, samples = 0;
    size_t pending = 0;
    /* Housekeeping once per minute of data time, as the agent runs it once
     * per minute: it packs sealed head chunks. Its CPU is measured apart. */
    int64_t rounds_per_maintain = 60000 / c->interval_ms > 0 ? 60000 / c->interval_ms : 1;
    double maintain_cpu = 0, maintain_wall = 0;
    for (int64_t r = 0; r < rounds; r++) {
        int64_t ts = t0 + r * c->interval_ms;
        for (size_t i = 0; i < c->series; i++) {
            if ((err = tsdb_append(db, refs[i], ts, gen_next(&gens[i], &rng))))
                die("tsdb_append", err);
            if (++pending == c->batch) {
                if ((err = tsdb_commit(db)))
                    die("tsdb_commit", err);
                pending = 0;
            }
        }
        samples += c->series;
        if ((r + 1) % rounds_per_maintain == 0) {
            double mw = clock_s(CLOCK_MONOTONIC), mc = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            if ((err = tsdb_maintain(db, 0)))
                die("tsdb_maintain", err);
            maintain_wall += clock_s(CLOCK_MONOTONIC) - mw;
            maintain_cpu += clock_s(CLOCK_PROCESS_CPUTIME_ID) - mc;
        }
    }
    if ((err = tsdb_commit(db)))
        die("tsdb_commit", err);
    double w2 = clock_s(CLOCK_MONOTONIC) - maintain_wall;
    double c2 = clock_s(CLOCK_PROCESS_CPUTIME_ID) - maintain_cpu;

    struct tsdb_stats st;
    tsdb_stats(db, &st);
    uint64_t rss1 = rss_bytes();
    printf("mode=append fsync=%s series=%zu rounds=%" PRId64 " batch=%zu\n", c->fsync_name,
           c->series, rounds, c->batch);
    printf("series_create_wall_s=%.3f series_create_cpu_s=%.3f series_per_s=%.0f\n",
           w1 - w0, c1 - c0, (double)c->series / (w1 - w0));
    printf("samples=%" PRIu64 " append_wall_s=%.3f append_cpu_s=%.3f\n", samples, w2 - w1,
           c2 - c1);
    printf("append_samples_per_s_wall=%.0f append_samples_per_s_per_core=%.0f\n",
           (double)samples / (w2 - w1), (double)samples / (c2 - c1));
    printf("maintain_cpu_s=%.3f maintain_cpu_ns_per_sample=%.1f "
           "append_with_maintain_samples_per_s_per_core=%.0f\n",
           maintain_cpu, maintain_cpu * 1e9 / (double)samples,
           (double)samples / (c2 - c1 + maintain_cpu));
    printf("head_series=%" PRIu64 " head_samples=%" PRIu64 " head_chunk_bytes=%" PRIu64
           " head_bytes=%" PRIu64 " wal_bytes=%" PRIu64 "\n",
           st.head_series, st.head_samples, st.head_chunk_bytes, st.head_bytes, st.wal_bytes);
    printf("head_bytes_per_series=%.0f head_overhead_bytes_per_series=%.0f "
           "head_chunk_bytes_per_sample=%.3f rss_delta_bytes_per_series=%.0f\n",
           (double)st.head_bytes / (double)st.head_series,
           (double)(st.head_bytes - st.head_chunk_bytes) / (double)st.head_series,
           (double)st.head_chunk_bytes / (double)st.head_samples,
           (double)(rss1 - rss0) / (double)c->series);
    if ((err = tsdb_close(db)))
        die("tsdb_close", err);

    /* Replay: the WAL holds every sample; reopening rebuilds the head. */
    struct tsdb_open_report rep;
    double w3 = clock_s(CLOCK_MONOTONIC);
    if ((err = tsdb_open(dir, &o, &db, &rep)))
        die("tsdb_open (replay)", err);
    double w4 = clock_s(CLOCK_MONOTONIC);
    if ((err = tsdb_maintain(db, 0))) /* the agent's first housekeeping */
        die("tsdb_maintain", err);
    tsdb_stats(db, &st);
    printf("replay_s=%.3f replay_open_wall_s=%.3f wal_records=%" PRIu64
           " wal_samples=%" PRIu64 " replay_samples_per_s=%.0f\n",
           rep.replay_seconds, w4 - w3, rep.wal_records, rep.wal_samples,
           (double)rep.wal_samples / rep.replay_seconds);
    printf("replayed_head_samples=%" PRIu64 " replayed_head_bytes_per_series=%.0f\n",
           st.head_samples, (double)st.head_bytes / (double)st.head_series);
    if ((err = tsdb_close(db)))
        die("tsdb_close", err);
    free(refs);
    free(gens);
}

/* ---- full scan -------------------------------------------------------- */

static void run_scan(const char *dir)
{
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.read_only = 1;
    struct tsdb *db;
    struct tsdb_snapshot *snap;
    struct tsdb_series_set *set;
    struct tsdb_matcher m;
    char errbuf[128];
    int err = tsdb_open(dir, &o, &db, NULL);
    if (err)
        die("tsdb_open", err);
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if ((err = tsdb_matcher_init(&m, TSDB_MATCH_RE, "__name__", ".+", errbuf,
                                 sizeof(errbuf))))
        die(errbuf, err);
    if ((err = tsdb_snapshot_open(db, &snap)))
        die("tsdb_snapshot_open", err);
    if ((err = tsdb_select(snap, &m, 1, INT64_MIN, INT64_MAX, &set)))
        die("tsdb_select", err);
    double w1 = clock_s(CLOCK_MONOTONIC);

    /* The checksum keeps the decoder's work observable. */
    uint64_t samples = 0, check = 0;
    size_t n = tsdb_series_set_len(set);
    for (size_t i = 0; i < n; i++) {
        struct tsdb_iter *it;
        int64_t ts;
        double v;
        if ((err = tsdb_iter_open(set, i, &it)))
            die("tsdb_iter_open", err);
        while ((err = tsdb_iter_next(it, &ts, &v)) == 1) {
            uint64_t bits;
            memcpy(&bits, &v, sizeof(bits));
            check += bits ^ (uint64_t)ts;
            samples++;
        }
        if (err < 0)
            die("tsdb_iter_next", err);
        tsdb_iter_free(it);
    }
    double w2 = clock_s(CLOCK_MONOTONIC), c2 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    tsdb_series_set_free(set);
    tsdb_snapshot_close(snap);
    tsdb_matcher_free(&m);
    printf("mode=scan series=%zu samples=%" PRIu64 " checksum=%016" PRIx64 "\n", n, samples,
           check);
    printf("select_s=%.3f scan_wall_s=%.3f scan_cpu_s=%.3f\n", w1 - w0, w2 - w0, c2 - c0);
    printf("scan_samples_per_s_wall=%.0f scan_samples_per_s_per_core=%.0f\n",
           (double)samples / (w2 - w0), (double)samples / (c2 - c0));
    if ((err = tsdb_close(db)))
        die("tsdb_close", err);
}

/* ---- arguments -------------------------------------------------------- */

static double parse_pos(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v <= 0)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[1], *dir = argv[2];
    if (strcmp(mode, "scan") == 0) {
        if (argc != 3)
            usage();
        run_scan(dir);
        return 0;
    }
    if (strcmp(mode, "append") != 0)
        usage();
    struct append_cfg c = {100000, 2, 15000, 50000, TSDB_FSYNC_INTERVAL, "interval"};
    int opt;
    optind = 3;
    while ((opt = getopt(argc, argv, "n:H:i:b:f:")) != -1) {
        switch (opt) {
        case 'n': c.series = (size_t)parse_pos(optarg); break;
        case 'H': c.hours = parse_pos(optarg); break;
        case 'i': c.interval_ms = (int64_t)(parse_pos(optarg) * 1000); break;
        case 'b': c.batch = (size_t)parse_pos(optarg); break;
        case 'f':
            c.fsync_name = optarg;
            if (strcmp(optarg, "never") == 0)
                c.fsync = TSDB_FSYNC_NEVER;
            else if (strcmp(optarg, "interval") == 0)
                c.fsync = TSDB_FSYNC_INTERVAL;
            else if (strcmp(optarg, "always") == 0)
                c.fsync = TSDB_FSYNC_ALWAYS;
            else
                usage();
            break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        fprintf(stderr, "bench_append: %s exists; give a fresh directory\n", dir);
        return 2;
    }
    run_append(dir, &c);
    return 0;
}
