/* tsq.c — the `tsq` command: ad-hoc queries against a store directory,
 * OpenMetrics backfill, and storage analysis. Exit status: 0 ok, 1 query or
 * input error (message on stderr), 2 usage error (with usage text). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "expfmt.h"
#include "lint.h"
#include "output.h"
#include "selector.h"
#include "timefmt.h"
#include "tsdb.h"

#define EXIT_INPUT 1
#define EXIT_USAGE 2
#define EXIT_LINT 3
#define CHECK_MAX_ERRORS 20
#define IMPORT_COMMIT_SAMPLES 100000
#define LOOKBACK_MS (5 * 60 * 1000)
#define ANALYZE_TOP 10

static const char usage_text[] =
    "usage: tsq --data-dir DIR [--time T] [-o table|json|csv] 'SELECTOR'\n"
    "       tsq import openmetrics FILE --data-dir DIR\n"
    "       tsq tsdb analyze --data-dir DIR\n"
    "       tsq check metrics [--format prometheus|openmetrics] [FILE]\n"
    "\n"
    "SELECTOR is metric{label=\"v\",l2=~\"re\",l3!=\"x\",l4!~\"y\"} with an optional\n"
    "range [5m]: a range returns the raw samples in (T-range, T], without a range\n"
    "the newest sample at or before T within 5m. T defaults to now and may be\n"
    "RFC 3339, Unix seconds, or now-1h. Exit status: 0 ok, 1 query or input\n"
    "error, 2 usage error; check metrics: 1 invalid input, 3 lint warnings.\n";

static int usage(const char *fmt, const char *arg)
{
    if (fmt) {
        fputs("tsq: ", stderr);
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

static int die_input(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_input(const char *fmt, ...)
{
    va_list ap;
    fputs("tsq: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_INPUT;
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Matches "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i.
 * @return 1 and *val, 0 if argv[*i] is another option, -1 if VALUE is missing. */
static int flag(char **argv, int argc, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

static int open_store(const char *dir, int read_only, struct tsdb **db)
{
    struct tsdb_options o;
    struct stat st;
    if (read_only && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return die_input("data directory %s does not exist", dir);
    tsdb_options_default(&o);
    o.read_only = read_only;
    if (!read_only) {
        /* backfill, like promtool: no WAL (rerun a failed import), any
         * sample order within a series, any time, no retention */
        o.no_wal = 1;
        o.ooo_window_ms = INT64_MAX / 2;
        o.future_window_ms = 0;
        o.retention_ms = 0;
    }
    int rc = tsdb_open(dir, &o, db, NULL);
    if (rc < 0)
        return die_input("cannot open data directory %s: %s", dir, tsdb_strerror(rc));
    return 0;
}

/* ---- import ----------------------------------------------------------- */

struct import {
    const char *path;
    struct tsdb *db;       /* NULL while checking the file */
    off_t size;
    uint64_t samples, pending;
    int progress;          /* stderr is a terminal */
    double start, last_report;
};

static void import_progress(struct import *im, off_t pos, int done)
{
    double now = mono_seconds();
    if (!im->progress || (!done && now - im->last_report < 0.25))
        return;
    im->last_report = now;
    double rate = im->samples / (now - im->start > 0 ? now - im->start : 1e-9);
    fprintf(stderr, "\r%s: %3.0f%% %llu samples, %.0f samples/s%s",
            im->db ? "importing" : "checking", im->size ? 100.0 * pos / im->size : 100.0,
            (unsigned long long)im->samples, rate, done ? "\n" : "");
}

/* Stores one parsed sample. @return 0 or an exit status. */
static int import_sample(struct import *im, const struct expfmt_entry *e, unsigned line)
{
    tsdb_ref ref;
    int rc = tsdb_series_ref(im->db, &e->labels, &ref);
    if (rc == 0)
        rc = tsdb_append(im->db, ref, e->ts_ms, e->value);
    if (rc < 0) {
        tsdb_commit(im->db);
        return die_input("%s:%u: sample rejected by the store: %s (the %llu samples before "
                         "it were imported)",
                         im->path, line, tsdb_strerror(rc), (unsigned long long)im->samples);
    }
    if (++im->pending >= IMPORT_COMMIT_SAMPLES) {
        if ((rc = tsdb_commit(im->db)) < 0)
            return die_input("commit failed: %s", tsdb_strerror(rc));
        im->pending = 0;
    }
    return 0;
}

/* Reads the whole file once: checks it (im->db NULL) or imports it. */
static int import_pass(struct import *im)
{
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0, rc = 0;
    FILE *f = fopen(im->path, "r");

    if (!f)
        return die_input("cannot open %s: %s", im->path, strerror(errno));
    expfmt_options_default(&o, EXPFMT_OPENMETRICS);
    expfmt_parser_init(&p, &o);
    im->samples = 0;
    im->start = mono_seconds();
    while (status == 0 && (n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n - (n > 0 && line[n - 1] == '\n');
        if ((rc = expfmt_parse_line(&p, line, len, &e)) < 0)
            break;
        if (e.kind == EXPFMT_SAMPLE && !e.has_ts) {
            status = die_input("%s:%u:1: sample %s has no timestamp; backfilling needs one on "
                               "every sample; nothing was imported",
                               im->path, p.line, e.name);
        } else if (e.kind == EXPFMT_SAMPLE) {
            if (im->db)
                status = import_sample(im, &e, p.line);
            im->samples++;
        }
        import_progress(im, ftello(f), 0);
    }
    if (status == 0 && rc == 0 && ferror(f))
        status = die_input("cannot read %s: %s", im->path, strerror(errno));
    if (status == 0 && rc == 0)
        rc = expfmt_finish(&p);
    if (rc == -ENOMEM)
        status = die_input("out of memory");
    else if (rc < 0)
        status = die_input("%s:%u:%u: %s; nothing was imported (the whole file is checked "
                           "before anything is written)",
                           im->path, p.err.line, p.err.col, p.err.msg);
    if (status == 0)
        import_progress(im, im->size, 1);
    free(line);
    fclose(f);
    expfmt_parser_free(&p);
    return status;
}

static int cmd_import(int argc, char **argv)
{
    const char *dir = NULL, *file = NULL, *val;
    struct import im = {0};
    struct tsdb_stats before, after;
    struct stat st;
    int status;

    if (argc < 1 || strcmp(argv[0], "openmetrics") != 0)
        return usage("import: only the openmetrics format is supported", NULL);
    for (int i = 1; i < argc; i++) {
        int r = flag(argv, argc, &i, "--data-dir", &val);
        if (r < 0)
            return usage("--data-dir needs a directory", NULL);
        if (r > 0)
            dir = val;
        else if (argv[i][0] == '-' || file)
            return usage("import: unexpected argument %s", argv[i]);
        else
            file = argv[i];
    }
    if (!file || !dir)
        return usage("import openmetrics needs FILE and --data-dir DIR", NULL);
    im.path = file;
    im.progress = isatty(STDERR_FILENO);
    im.size = stat(file, &st) == 0 ? st.st_size : 0;
    double start = mono_seconds();
    if ((status = import_pass(&im)) != 0)
        return status;
    if ((status = open_store(dir, 0, &im.db)) != 0)
        return status;
    tsdb_stats(im.db, &before);
    status = import_pass(&im);
    int rc = tsdb_commit(im.db);
    if (rc == 0)
        rc = tsdb_maintain(im.db, 1);
    tsdb_stats(im.db, &after);
    int crc = tsdb_close(im.db);
    if (status != 0)
        return status;
    if (rc < 0 || crc < 0)
        return die_input("writing %s failed: %s", dir, tsdb_strerror(rc < 0 ? rc : crc));
    printf("imported %llu samples of %llu new series from %s in %.2f s\n",
           (unsigned long long)im.samples,
           (unsigned long long)(after.series_created - before.series_created), file,
           mono_seconds() - start);
    return 0;
}

/* ---- check metrics ---------------------------------------------------- */

/* Reads all of f into *buf (free it). @return 0 or -errno. */
static int read_all(FILE *f, char **buf /* OUT */, size_t *len /* OUT */)
{
    size_t cap = 65536, n = 0, r;
    char *b = malloc(cap);

    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    if (!b)
        return -ENOMEM;
    if (ferror(f)) {
        free(b);
        return -EIO;
    }
    *buf = b;
    *len = n;
    return 0;
}

static void print_problem(const char *metric, const char *text, void *arg)
{
    (void)arg;
    printf("%s: %s\n", metric, text);
}

/* Parses every line (reporting up to CHECK_MAX_ERRORS errors as
 * line:col: message on stderr), then lints a valid exposition. */
static int check_exposition(const char *buf, size_t len, enum expfmt_flavor flavor)
{
    struct expfmt_options o;
    struct expfmt_parser p;
    struct expfmt_entry e;
    struct lint *l;
    unsigned errors = 0;
    size_t off = 0;
    int rc = 0;

    if (lint_new(flavor, &l) < 0)
        return die_input("out of memory");
    expfmt_options_default(&o, flavor);
    o.strict = 1;
    expfmt_parser_init(&p, &o);
    while (off < len && rc != -ENOMEM && errors < CHECK_MAX_ERRORS) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
        if ((rc = expfmt_parse_line(&p, buf + off, n, &e)) == 0)
            rc = lint_entry(l, &e);
        else if (rc == -EINVAL && ++errors)
            fprintf(stderr, "%u:%u: %s\n", p.err.line, p.err.col, p.err.msg);
        off += n + 1;
    }
    if (rc != -ENOMEM && errors == 0 && (rc = expfmt_finish(&p)) == -EINVAL && ++errors)
        fprintf(stderr, "%u:%u: %s\n", p.err.line, p.err.col, p.err.msg);
    int status = 0;
    if (rc == -ENOMEM)
        status = die_input("out of memory");
    else if (errors)
        status = EXIT_INPUT;
    else if ((rc = lint_report(l, print_problem, NULL)) < 0)
        status = die_input("out of memory");
    else if (rc > 0)
        status = EXIT_LINT;
    expfmt_parser_free(&p);
    lint_free(l);
    return status;
}

static int cmd_check(int argc, char **argv)
{
    const char *file = NULL, *format = NULL, *val;
    enum expfmt_flavor flavor;
    char *buf;
    size_t len;
    int rc;

    if (argc < 1 || strcmp(argv[0], "metrics") != 0)
        return usage("check: the only subcommand is metrics", NULL);
    for (int i = 1; i < argc; i++) {
        int r = flag(argv, argc, &i, "--format", &val);
        if (r < 0)
            return usage("--format needs prometheus or openmetrics", NULL);
        if (r > 0)
            format = val;
        else if ((argv[i][0] == '-' && argv[i][1] != '\0') || file)
            return usage("check metrics: unexpected argument %s", argv[i]);
        else
            file = argv[i];
    }
    if (format && strcmp(format, "prometheus") != 0 && strcmp(format, "openmetrics") != 0)
        return usage("--format must be prometheus or openmetrics, not %s", format);
    FILE *f = !file || strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!f)
        return die_input("cannot open %s: %s", file, strerror(errno));
    rc = read_all(f, &buf, &len);
    if (f != stdin)
        fclose(f);
    if (rc < 0)
        return die_input("cannot read %s: %s", file ? file : "standard input", strerror(-rc));
    flavor = !format                              ? expfmt_guess_flavor(buf, len)
             : strcmp(format, "openmetrics") == 0 ? EXPFMT_OPENMETRICS
                                                  : EXPFMT_PROMETHEUS;
    int status = check_exposition(buf, len, flavor);
    free(buf);
    return status;
}

/* ---- query ------------------------------------------------------------ */

struct result {
    struct output_series *series;
    struct output_sample *samples; /* all series' samples, back to back */
    size_t nseries, nsamples, cap_samples;
};

static int push_sample(struct result *r, int64_t t, double v)
{
    if (r->nsamples == r->cap_samples) {
        size_t cap = r->cap_samples ? 2 * r->cap_samples : 256;
        struct output_sample *s = realloc(r->samples, cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        r->samples = s;
        r->cap_samples = cap;
    }
    r->samples[r->nsamples].ts_ms = t;
    r->samples[r->nsamples].value = v;
    r->nsamples++;
    return 0;
}

/* Reads series i: every non-stale sample (range selector), or the newest
 * sample if it is not a stale marker (instant selector, value stamped t). */
static int read_series(struct tsdb_series_set *set, size_t i, int instant, int64_t t,
                       struct result *r)
{
    struct tsdb_iter *it;
    int64_t ts;
    double v, last = 0;
    int rc, have = 0;
    size_t first = r->nsamples;

    if ((rc = tsdb_iter_open(set, i, &it)) < 0)
        return rc;
    while ((rc = tsdb_iter_next(it, &ts, &v)) > 0) {
        if (instant) {
            last = v;
            have = 1;
        } else if (!tsdb_is_stale(v) && (rc = push_sample(r, ts, v)) < 0) {
            break;
        }
    }
    tsdb_iter_free(it);
    if (rc < 0)
        return rc;
    if (instant && have && !tsdb_is_stale(last) && (rc = push_sample(r, t, last)) < 0)
        return rc;
    if (r->nsamples > first) {
        r->series[r->nseries].labels = tsdb_series_set_labels(set, i);
        r->series[r->nseries].n = r->nsamples - first;
        r->nseries++;
    }
    return 0;
}

static int run_query(const char *dir, const struct selector *sel, int64_t t,
                     enum output_format fmt)
{
    struct tsdb *db;
    struct tsdb_snapshot *snap = NULL;
    struct tsdb_series_set *set = NULL;
    struct result r = {0};
    int instant = sel->range_ms == 0, status;
    int64_t range = instant ? LOOKBACK_MS : sel->range_ms;
    int rc;

    if ((status = open_store(dir, 1, &db)) != 0)
        return status;
    rc = tsdb_snapshot_open(db, &snap);
    if (rc == 0)
        rc = tsdb_select(snap, sel->matchers, sel->n, t - range + 1, t, &set);
    size_t n = rc == 0 ? tsdb_series_set_len(set) : 0;
    if (rc == 0 && !(r.series = calloc(n ? n : 1, sizeof *r.series)))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = read_series(set, i, instant, t, &r);
    if (rc == 0) {
        size_t off = 0;
        for (size_t i = 0; i < r.nseries; i++) {
            r.series[i].samples = r.samples + off;
            off += r.series[i].n;
        }
        struct output_result res = {instant ? OUTPUT_VECTOR : OUTPUT_MATRIX, r.series,
                                    r.nseries};
        rc = output_write(stdout, fmt, &res);
    }
    status = rc < 0 ? die_input("query failed: %s", tsdb_strerror(rc)) : 0;
    free(r.series);
    free(r.samples);
    if (set)
        tsdb_series_set_free(set);
    if (snap)
        tsdb_snapshot_close(snap);
    tsdb_close(db);
    return status;
}

static int cmd_query(int argc, char **argv)
{
    const char *dir = NULL, *time_arg = NULL, *expr = NULL, *val;
    enum output_format fmt = OUTPUT_TABLE;
    struct selector sel;
    struct selector_error err;
    int64_t now = timefmt_now_ms(), t = now;

    for (int i = 0; i < argc; i++) {
        int r;
        if ((r = flag(argv, argc, &i, "--data-dir", &val)) != 0) {
            if (r < 0)
                return usage("--data-dir needs a directory", NULL);
            dir = val;
        } else if ((r = flag(argv, argc, &i, "--time", &val)) != 0) {
            if (r < 0)
                return usage("--time needs a time", NULL);
            time_arg = val;
        } else if ((r = flag(argv, argc, &i, "-o", &val)) != 0) {
            if (r < 0 || output_parse_format(val, &fmt) < 0)
                return usage("-o must be table, json or csv", NULL);
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage("unknown option %s", argv[i]);
        } else if (expr) {
            return usage("one selector only; quote it, e.g. 'up{job=\"api\"}'", NULL);
        } else {
            expr = argv[i];
        }
    }
    if (!expr)
        return usage("no selector given", NULL);
    if (!dir)
        return usage("--data-dir DIR is required (querying a running vigild arrives with "
                     "the HTTP API)", NULL);
    if (time_arg && timefmt_parse_time(time_arg, now, &t) < 0)
        return die_input("invalid --time %s: expected RFC 3339, Unix seconds or now-DURATION",
                         time_arg);
    int rc = selector_parse(expr, &sel, &err);
    if (rc == -ENOMEM)
        return die_input("out of memory");
    if (rc < 0)
        return die_input("selector:1:%u: %s\n  %s\n  %*s^", err.col, err.msg, expr,
                         (int)err.col - 1, "");
    int status = run_query(dir, &sel, t, fmt);
    selector_free(&sel);
    return status;
}

/* ---- tsdb analyze ----------------------------------------------------- */

struct count {
    const char *name;
    size_t n;
};

static int count_desc(const void *a, const void *b)
{
    const struct count *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void print_block(const struct tsdb_block_info *b, void *arg)
{
    (void)arg;
    char from[32], to[32];
    output_format_timestamp(b->mint, from, sizeof from);
    output_format_timestamp(b->maxt, to, sizeof to);
    printf("  %-28s %16s %16s %8llu %10llu %12llu\n", b->name, from, to,
           (unsigned long long)b->series, (unsigned long long)b->samples,
           (unsigned long long)(b->chunk_bytes + b->index_bytes));
}

/* Prints the top entries of counts, largest first. */
static void print_top(const char *title, struct count *c, size_t n)
{
    qsort(c, n, sizeof *c, count_desc);
    printf("%s\n", title);
    for (size_t i = 0; i < n && i < ANALYZE_TOP; i++)
        printf("  %8zu %s\n", c[i].n, c[i].name);
}

/* Counts, for each metric name, the series that have it; *total is their
 * sum (every series has exactly one name). Free with the strings. */
static int metric_counts(struct tsdb_snapshot *snap, struct tsdb_strings *metrics /* OUT */,
                         struct count **out /* OUT */, size_t *total /* OUT */)
{
    struct tsdb_matcher m;
    struct count *c;
    int rc;

    *total = 0;
    if ((rc = tsdb_label_values(snap, "__name__", NULL, 0, INT64_MIN, INT64_MAX, metrics)) < 0)
        return rc;
    if (!(c = calloc(metrics->len + 1, sizeof *c)))
        return -ENOMEM;
    for (size_t i = 0; i < metrics->len && rc == 0; i++) {
        struct tsdb_series_set *set;
        if ((rc = tsdb_matcher_init(&m, TSDB_MATCH_EQ, "__name__", metrics->v[i], NULL, 0)) < 0)
            break;
        rc = tsdb_select(snap, &m, 1, INT64_MIN, INT64_MAX, &set);
        tsdb_matcher_free(&m);
        if (rc < 0)
            break;
        c[i].name = metrics->v[i];
        c[i].n = tsdb_series_set_len(set);
        *total += c[i].n;
        tsdb_series_set_free(set);
    }
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Prints label names by their number of distinct values. */
static int print_label_cardinality(struct tsdb_snapshot *snap)
{
    struct tsdb_strings names = {0};
    struct count *c;
    int rc;

    if ((rc = tsdb_label_names(snap, NULL, 0, INT64_MIN, INT64_MAX, &names)) < 0)
        return rc;
    if (!(c = calloc(names.len + 1, sizeof *c))) {
        tsdb_strings_free(&names);
        return -ENOMEM;
    }
    for (size_t i = 0; i < names.len && rc == 0; i++) {
        struct tsdb_strings vals;
        rc = tsdb_label_values(snap, names.v[i], NULL, 0, INT64_MIN, INT64_MAX, &vals);
        if (rc == 0) {
            c[i].name = names.v[i];
            c[i].n = vals.len;
            tsdb_strings_free(&vals);
        }
    }
    if (rc == 0)
        print_top("Label names by cardinality (distinct values):", c, names.len);
    free(c);
    tsdb_strings_free(&names);
    return rc;
}

static int run_analyze(struct tsdb *db)
{
    struct tsdb_stats st;
    struct tsdb_snapshot *snap;
    struct tsdb_strings metrics = {0};
    struct count *mc = NULL;
    size_t series;
    char from[32], to[32];
    int rc;

    tsdb_stats(db, &st);
    if ((rc = tsdb_snapshot_open(db, &snap)) < 0)
        return rc;
    if ((rc = metric_counts(snap, &metrics, &mc, &series)) < 0)
        goto out;
    printf("Series: %zu\n", series);
    printf("Samples: %llu (blocks %llu, head %llu)\n",
           (unsigned long long)(st.head_samples + st.block_samples),
           (unsigned long long)st.block_samples, (unsigned long long)st.head_samples);
    if (st.block_samples)
        printf("Bytes per sample in blocks: %.2f\n", (double)st.block_bytes / st.block_samples);
    printf("Blocks: %u (%llu bytes)\n", st.blocks, (unsigned long long)st.block_bytes);
    if (st.blocks) {
        printf("  %-28s %16s %16s %8s %10s %12s\n", "NAME", "MINT", "MAXT", "SERIES",
               "SAMPLES", "BYTES");
        tsdb_blocks_foreach(db, print_block, NULL);
    }
    printf("Head: %llu series, %llu samples, %llu chunk bytes", (unsigned long long)st.head_series,
           (unsigned long long)st.head_samples, (unsigned long long)st.head_chunk_bytes);
    if (st.head_samples) {
        output_format_timestamp(st.head_mint, from, sizeof from);
        output_format_timestamp(st.head_maxt, to, sizeof to);
        printf(", time range %s .. %s", from, to);
    }
    printf("\n");
    if ((rc = print_label_cardinality(snap)) == 0)
        print_top("Metric names by series count:", mc, metrics.len);
out:
    free(mc);
    tsdb_strings_free(&metrics);
    tsdb_snapshot_close(snap);
    return rc;
}

static int cmd_tsdb(int argc, char **argv)
{
    const char *dir = NULL, *val;
    struct tsdb *db;
    int status;

    if (argc < 1 || strcmp(argv[0], "analyze") != 0)
        return usage("tsdb: the only subcommand is analyze", NULL);
    for (int i = 1; i < argc; i++) {
        int r = flag(argv, argc, &i, "--data-dir", &val);
        if (r <= 0)
            return usage(r < 0 ? "--data-dir needs a directory" : "tsdb analyze: unexpected "
                                                                   "argument %s",
                         argv[i]);
        dir = val;
    }
    if (!dir)
        return usage("tsdb analyze needs --data-dir DIR", NULL);
    if ((status = open_store(dir, 1, &db)) != 0)
        return status;
    int rc = run_analyze(db);
    tsdb_close(db);
    if (rc < 0 || fflush(stdout) != 0)
        return die_input("analyze failed: %s", tsdb_strerror(rc < 0 ? rc : -EIO));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL, NULL);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(argv[1], "import") == 0)
        return cmd_import(argc - 2, argv + 2);
    if (strcmp(argv[1], "tsdb") == 0)
        return cmd_tsdb(argc - 2, argv + 2);
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    return cmd_query(argc - 1, argv + 1);
}
