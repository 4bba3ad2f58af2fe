/* tsq.c — the `tsq` command: PromQL queries and series/label discovery
 * against a running vigild (HTTP API, libcurl) or a store directory (the
 * evaluator on a snapshot), OpenMetrics backfill, and storage analysis. Exit status: 0 ok, 1 query or
 * input error (message on stderr), 2 usage error (with usage text). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "expfmt.h"
#include "lint.h"
#include "output.h"
#include "plot.h"
#include "promql_eval.h"
#include "ruletest.h"
#include "selector.h"
#include "timefmt.h"
#include "tsdb.h"

#define EXIT_INPUT 1
#define EXIT_USAGE 2
#define EXIT_LINT 3
#define CHECK_MAX_ERRORS 20
#define IMPORT_COMMIT_SAMPLES 100000
#define ANALYZE_TOP 10

static const char usage_text[] =
    "usage: tsq [--url URL | --data-dir DIR] [-o table|json|csv]\n"
    "           [--time T | --start T --end T --step DUR [--plot]] 'PROMQL'\n"
    "       tsq series [--url URL | --data-dir DIR] [--start T] [--end T] MATCHER...\n"
    "       tsq labels [--url URL | --data-dir DIR] [--start T] [--end T] [MATCHER...]\n"
    "       tsq label-values NAME [--url URL | --data-dir DIR] [--start T] [--end T]\n"
    "                        [MATCHER...]\n"
    "       tsq import openmetrics FILE --data-dir DIR\n"
    "       tsq tsdb analyze --data-dir DIR\n"
    "       tsq check metrics [--format prometheus|openmetrics] [FILE]\n"
    "       tsq test rules TEST_FILE...\n"
    "\n"
    "Queries go to vigild at --url, $VIGIL_URL or http://127.0.0.1:9190, or are\n"
    "evaluated on the store in --data-dir. T is RFC 3339, Unix seconds or now-1h\n"
    "(default now); DUR is like 30s or 1h30m. -o json prints exactly what the\n"
    "Prometheus HTTP API returns; --plot draws a range query as a chart.\n"
    "Exit status: 0 ok, 1 query or input error, 2 usage error; check metrics:\n"
    "1 invalid input, 3 lint warnings; test rules: 1 a test failed.\n";

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

/* What a query asks, from the command line. */
struct qargs {
    const char *url, *dir, *expr;
    const char *time, *start, *end, *step;
    enum output_format fmt;
    int fmt_given, plot;             /* -o, --plot */
    int64_t start_ms, end_ms, step_ms; /* a range query's, for --plot */
    char **matchers;                 /* series / labels / label-values */
    int nmatchers;
};

/* A query answer: the API's JSON body (remote, or -o json), or a result. */
struct answer {
    char *body;
    size_t len;
};

static size_t on_curl_data(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    char *nb = realloc(a->body, a->len + size * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + a->len, p, size * n);
    a->len += size * n;
    nb[a->len] = '\0';
    a->body = nb;
    return size * n;
}

/* Appends &name=value (value URL-escaped) to a form. */
static int form_add(CURL *c, char **form, const char *name, const char *value)
{
    char *esc = curl_easy_escape(c, value, 0), *nf = NULL;
    int n = esc ? asprintf(&nf, "%s%s%s=%s", *form ? *form : "", *form ? "&" : "", name, esc)
                : -1;
    curl_free(esc);
    if (n < 0)
        return -ENOMEM;
    free(*form);
    *form = nf;
    return 0;
}

/* POSTs form to URL/path. @return 0 and the body in *a, or an exit status
 * after a message (connection failures, non-JSON answers). */
static int http_post(const char *url, const char *path, const char *form, struct answer *a)
{
    char *full = NULL;
    long code = 0;
    size_t ul = strlen(url);
    if (asprintf(&full, "%.*s%s", (int)(ul && url[ul - 1] == '/' ? ul - 1 : ul), url, path) < 0)
        return die_input("out of memory");
    CURL *c = curl_easy_init();
    if (!c) {
        free(full);
        return die_input("cannot initialise libcurl");
    }
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form ? form : "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_curl_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    int status = 0;
    if (rc != CURLE_OK)
        status = die_input("cannot query %s: %s", full, curl_easy_strerror(rc));
    else if (!a->body || a->body[0] != '{')
        status = die_input("%s answered HTTP %ld without a JSON body", full, code);
    free(full);
    return status;
}

/* Builds the request form of a query. */
static int query_form(CURL *c, const struct qargs *q, char **form)
{
    int rc = form_add(c, form, "query", q->expr);
    if (rc == 0 && q->start) {
        rc = form_add(c, form, "start", q->start);
        if (rc == 0)
            rc = form_add(c, form, "end", q->end);
        if (rc == 0)
            rc = form_add(c, form, "step", q->step);
    } else if (rc == 0 && q->time) {
        rc = form_add(c, form, "time", q->time);
    }
    return rc;
}

/* Converts a user time (RFC 3339, Unix seconds, now-1h) to Unix seconds
 * for the API. */
static int api_time(const char *what, const char *s, int64_t now, char *buf, size_t cap)
{
    int64_t ms;
    if (timefmt_parse_time(s, now, &ms) < 0)
        return die_input("invalid %s %s: expected RFC 3339, Unix seconds or now-DURATION", what,
                         s);
    output_format_timestamp(ms, buf, cap);
    return 0;
}

/* Prints an API body: verbatim for -o json, else as a table or CSV.
 * @return 0, or 1 when the body is an error. */
static int print_body(const struct answer *a, const struct qargs *q, int listing);

/* Remote query: the API does the work. */
static int remote(const struct qargs *q, const char *path, int listing)
{
    struct answer a = {0};
    char *form = NULL;
    CURL *c = curl_easy_init();
    int rc = c ? 0 : -ENOMEM;
    if (rc == 0 && q->expr)
        rc = query_form(c, q, &form);
    if (rc == 0 && listing && q->start)
        rc = form_add(c, &form, "start", q->start);
    if (rc == 0 && listing && q->end)
        rc = form_add(c, &form, "end", q->end);
    for (int i = 0; rc == 0 && i < q->nmatchers; i++)
        rc = form_add(c, &form, "match[]", q->matchers[i]);
    if (c)
        curl_easy_cleanup(c);
    if (rc)
        return die_input("out of memory");
    int status = http_post(q->url, path, form, &a);
    free(form);
    if (status == 0)
        status = print_body(&a, q, listing);
    free(a.body);
    return status;
}

/* ---- printing an API body ---------------------------------------------- */

static int label_cmp(const void *x, const void *y)
{
    return strcmp(((const struct tsdb_label *)x)->name, ((const struct tsdb_label *)y)->name);
}

/* The labels of a JSON object, sorted by name, pointing into obj. */
static struct tsdb_label *labels_of(json_t *obj, size_t *n)
{
    struct tsdb_label *l = calloc(json_object_size(obj) + 1, sizeof *l);
    const char *k;
    json_t *v;
    *n = 0;
    if (!l)
        return NULL;
    json_object_foreach(obj, k, v)
        l[(*n)++] = (struct tsdb_label){k, json_string_value(v) ? json_string_value(v) : ""};
    qsort(l, *n, sizeof *l, label_cmp);
    return l;
}

static int point_of(json_t *p, struct output_sample *s)
{
    json_t *t = json_array_get(p, 0), *v = json_array_get(p, 1);
    if (!json_is_number(t) || !json_is_string(v))
        return -1;
    s->ts_ms = llround(json_number_value(t) * 1000);
    s->value = strtod(json_string_value(v), NULL);
    return 0;
}

/* Draws r for --plot, as large as the terminal on stdout. */
static int plot_result(const struct output_result *r, const struct qargs *q)
{
    struct plot_options o;
    struct winsize ws;
    plot_options_default(&o);
    if (isatty(STDOUT_FILENO)) {
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 1) {
            o.width = ws.ws_col;
            o.height = ws.ws_row - 1; /* the prompt's line */
        }
        o.color = !getenv("NO_COLOR") || !*getenv("NO_COLOR");
    }
    o.start_ms = q->start_ms;
    o.end_ms = q->end_ms;
    o.step_ms = q->step_ms;
    return plot_write(stdout, r, &o);
}

/* Prints a vector, matrix or scalar "data" as a table, CSV or chart. */
static int print_data(json_t *data, const struct qargs *q)
{
    const char *type = json_string_value(json_object_get(data, "resultType"));
    json_t *result = json_object_get(data, "result");
    if (type && strcmp(type, "string") == 0) {
        printf("%s\n", json_string_value(json_array_get(result, 1)));
        return 0;
    }
    int scalar = type && strcmp(type, "scalar") == 0, matrix = type && !strcmp(type, "matrix");
    size_t n = scalar ? 1 : json_array_size(result), total = 0;
    struct output_series *os = calloc(n + 1, sizeof *os);
    struct tsdb_labels *ls = calloc(n + 1, sizeof *ls);
    for (size_t i = 0; !scalar && i < n; i++)
        total += matrix ? json_array_size(json_object_get(json_array_get(result, i), "values"))
                        : 1;
    struct output_sample *smp = calloc(total + 1, sizeof *smp);
    int rc = os && ls && smp ? 0 : -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *s = json_array_get(result, i);
        os[i].labels = &ls[i];
        os[i].samples = smp + k;
        if (scalar) {
            rc = point_of(result, &smp[k++]);
            os[i].n = 1;
            continue;
        }
        ls[i].v = labels_of(json_object_get(s, "metric"), &ls[i].len);
        json_t *pts = matrix ? json_object_get(s, "values") : NULL;
        size_t np = matrix ? json_array_size(pts) : 1;
        for (size_t j = 0; rc == 0 && j < np; j++)
            rc = point_of(matrix ? json_array_get(pts, j) : json_object_get(s, "value"),
                          &smp[k++]);
        os[i].n = np;
    }
    if (rc == 0) {
        struct output_result r = {matrix ? OUTPUT_MATRIX : OUTPUT_VECTOR, os, n};
        rc = q->plot ? plot_result(&r, q) : output_write(stdout, q->fmt, &r);
    }
    for (size_t i = 0; ls && i < n; i++)
        free((void *)ls[i].v);
    free(os);
    free(ls);
    free(smp);
    return rc == 0 ? 0 : die_input("unexpected answer or output error");
}

/* Prints series (objects) or names (strings), one per line. */
static int print_listing(json_t *data, enum output_format fmt)
{
    size_t i;
    json_t *e;
    if (fmt == OUTPUT_CSV)
        puts(json_is_object(json_array_get(data, 0)) ? "series" : "value");
    json_array_foreach(data, i, e) {
        if (json_is_string(e)) {
            puts(json_string_value(e));
            continue;
        }
        size_t n;
        struct tsdb_label *l = labels_of(e, &n);
        const char *name = "";
        for (size_t j = 0; j < n; j++)
            if (strcmp(l[j].name, "__name__") == 0)
                name = l[j].value;
        printf("%s%s", fmt == OUTPUT_CSV ? "\"" : "", name);
        int first = 1;
        for (size_t j = 0; j < n; j++) {
            if (strcmp(l[j].name, "__name__") == 0)
                continue;
            char *v = json_dumps(json_object_get(e, l[j].name), JSON_ENCODE_ANY);
            if (fmt == OUTPUT_CSV) /* RFC 4180: quotes doubled */
                for (char *p = v; p && *p; p++)
                    if (*p == '"')
                        memmove(p + 1, p, strlen(p) + 1), p++;
            printf("%s%s=%s", first ? "{" : ", ", l[j].name, v ? v : "\"\"");
            free(v);
            first = 0;
        }
        printf("%s%s\n", first ? (*name ? "" : "{}") : "}", fmt == OUTPUT_CSV ? "\"" : "");
        free(l);
    }
    return fflush(stdout) == 0 ? 0 : die_input("write error");
}

static int print_body(const struct answer *a, const struct qargs *q, int listing)
{
    json_error_t jerr;
    json_t *doc = json_loadb(a->body, a->len, 0, &jerr);
    const char *status = json_string_value(json_object_get(doc, "status"));
    int rc = 0;
    if (q->fmt == OUTPUT_JSON) {
        fwrite(a->body, 1, a->len, stdout);
        if (a->len && a->body[a->len - 1] != '\n')
            putchar('\n');
    }
    if (!doc || !status) {
        rc = die_input("unexpected answer: %s", doc ? "no status" : jerr.text);
    } else if (strcmp(status, "success") != 0) {
        rc = die_input("%s: %s", json_string_value(json_object_get(doc, "errorType")),
                       json_string_value(json_object_get(doc, "error")));
    } else if (q->fmt != OUTPUT_JSON) {
        json_t *data = json_object_get(doc, "data");
        rc = listing ? print_listing(data, q->fmt) : print_data(data, q);
    }
    json_decref(doc);
    return rc;
}

/* ---- the data directory ------------------------------------------------ */

/* Renders a query result as the API's JSON body, in a malloc'd buffer. */
static int render_result(const struct promql_result *r, struct answer *a)
{
    FILE *m = open_memstream(&a->body, &a->len);
    if (!m)
        return -ENOMEM;
    int rc = 0;
    if (r->type == PROMQL_TYPE_VECTOR || r->type == PROMQL_TYPE_MATRIX) {
        size_t total = 0;
        for (size_t i = 0; i < r->nseries; i++)
            total += r->series[i].npoints;
        struct output_series *os = calloc(r->nseries + 1, sizeof *os);
        struct output_sample *smp = calloc(total + 1, sizeof *smp);
        rc = os && smp ? 0 : -ENOMEM;
        for (size_t i = 0, k = 0; rc == 0 && i < r->nseries; i++) {
            os[i] = (struct output_series){&r->series[i].labels, smp + k, r->series[i].npoints};
            for (size_t j = 0; j < r->series[i].npoints; j++, k++)
                smp[k] = (struct output_sample){r->series[i].points[j].t,
                                                r->series[i].points[j].v};
        }
        struct output_result res = {r->type == PROMQL_TYPE_MATRIX ? OUTPUT_MATRIX : OUTPUT_VECTOR,
                                    os, r->nseries};
        if (rc == 0)
            rc = output_write(m, OUTPUT_JSON, &res);
        free(os);
        free(smp);
    } else {
        char ts[40], v[400];
        output_format_value((double)r->t / 1000.0, ts, sizeof ts);
        fprintf(m, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":[%s,",
                r->type == PROMQL_TYPE_SCALAR ? "scalar" : "string", ts);
        if (r->type == PROMQL_TYPE_SCALAR) {
            output_format_value_fixed(r->v, v, sizeof v); /* as the API */
            fprintf(m, "\"%s\"", v);
        } else {
            output_json_fputs(m, r->str ? r->str : "");
        }
        fputs("]}}\n", m);
    }
    if (fclose(m) != 0 && rc == 0)
        rc = -ENOMEM;
    return rc;
}

/* Evaluates q on the store with the PromQL engine. */
static int local_query(const struct qargs *q, int64_t t, int64_t start, int64_t end, int64_t step)
{
    struct tsdb *db;
    struct tsdb_snapshot *snap;
    struct promql_engine_opts o;
    struct promql_result *r = NULL;
    struct promql_eval_error err = {0};
    struct answer a = {0};
    int status = open_store(q->dir, 1, &db), rc;
    if (status)
        return status;
    if ((rc = tsdb_snapshot_open(db, &snap)) < 0) {
        tsdb_close(db);
        return die_input("cannot read the store: %s", tsdb_strerror(rc));
    }
    promql_engine_opts_default(&o);
    rc = q->start ? promql_eval_range(snap, q->expr, start, end, step, &o, &r, &err)
                  : promql_eval_instant(snap, q->expr, t, &o, &r, &err);
    if (rc == 0 && render_result(r, &a) == 0)
        status = print_body(&a, q, 0);
    else if (rc == 0)
        status = die_input("out of memory");
    else
        status = die_input("%s: %s", promql_errkind_name(err.kind), err.msg);
    free(a.body);
    if (r)
        promql_result_free(r);
    tsdb_snapshot_close(snap);
    tsdb_close(db);
    return status;
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* series, labels or label-values on the store, rendered like the API. */
static int local_listing(const struct qargs *q, const char *label, int series, int64_t start,
                         int64_t end, struct selector *sels, int nsels, struct answer *a)
{
    struct tsdb *db;
    struct tsdb_snapshot *snap;
    int status = open_store(q->dir, 1, &db), rc;
    if (status)
        return status;
    if ((rc = tsdb_snapshot_open(db, &snap)) < 0) {
        tsdb_close(db);
        return die_input("cannot read the store: %s", tsdb_strerror(rc));
    }
    int nq = nsels ? nsels : 1;
    struct tsdb_series_set **sets = calloc(nq, sizeof *sets);
    struct tsdb_strings *lists = calloc(nq, sizeof *lists);
    FILE *m = open_memstream(&a->body, &a->len);
    size_t n = 0;
    rc = sets && lists && m ? 0 : -ENOMEM;
    for (int i = 0; rc == 0 && i < nq; i++) {
        const struct tsdb_matcher *mm = nsels ? sels[i].matchers : NULL;
        size_t nm = nsels ? sels[i].n : 0;
        if (series && (rc = tsdb_select(snap, mm, nm, start, end, &sets[i])) == 0)
            n += tsdb_series_set_len(sets[i]);
        else if (!series && (rc = label ? tsdb_label_values(snap, label, mm, nm, start, end,
                                                            &lists[i])
                                        : tsdb_label_names(snap, mm, nm, start, end,
                                                           &lists[i])) == 0)
            n += lists[i].len;
    }
    void **all = rc == 0 ? calloc(n + 1, sizeof *all) : NULL;
    if (rc == 0 && !all)
        rc = -ENOMEM;
    if (rc == 0) {
        size_t k = 0;
        for (int i = 0; i < nq; i++)
            for (size_t s = 0; s < (series ? tsdb_series_set_len(sets[i]) : lists[i].len); s++)
                all[k++] = series ? (void *)tsdb_series_set_labels(sets[i], s)
                                  : (void *)lists[i].v[s];
        qsort(all, n, sizeof *all, series ? output_labels_ptr_cmp : str_cmp);
        fputs("{\"status\":\"success\",\"data\":[", m);
        for (size_t i = 0, out = 0; i < n; i++) {
            if (i && (series ? output_labels_ptr_cmp : str_cmp)(&all[i - 1], &all[i]) == 0)
                continue;
            if (out++)
                putc(',', m);
            if (!series) {
                output_json_fputs(m, all[i]);
                continue;
            }
            const struct tsdb_labels *ls = all[i];
            putc('{', m);
            for (size_t j = 0; j < ls->len; j++) {
                if (j)
                    putc(',', m);
                output_json_fputs(m, ls->v[j].name);
                putc(':', m);
                output_json_fputs(m, ls->v[j].value);
            }
            putc('}', m);
        }
        fputs("]}\n", m);
    }
    if (m && fclose(m) != 0 && rc == 0)
        rc = -ENOMEM;
    for (int i = 0; i < nq; i++) {
        if (sets && sets[i])
            tsdb_series_set_free(sets[i]);
        if (lists)
            tsdb_strings_free(&lists[i]);
    }
    free(all);
    free(sets);
    free(lists);
    tsdb_snapshot_close(snap);
    tsdb_close(db);
    return rc < 0 ? die_input("listing failed: %s", tsdb_strerror(rc)) : 0;
}

/* ---- command lines ------------------------------------------------------ */

/* Parses the options every query command shares; other arguments land in
 * rest. @return 0 or a usage exit status. */
static int parse_args(int argc, char **argv, struct qargs *q, char **rest, int *nrest)
{
    const char *val;
    memset(q, 0, sizeof *q);
    q->fmt = OUTPUT_TABLE;
    *nrest = 0;
    for (int i = 0; i < argc; i++) {
        static const char *const names[] = {"--url", "--data-dir", "--time", "--start",
                                            "--end", "--step"};
        const char **slots[] = {&q->url, &q->dir, &q->time, &q->start, &q->end, &q->step};
        int r = 0, done = 0;
        for (size_t k = 0; k < sizeof names / sizeof names[0] && !done; k++) {
            if ((r = flag(argv, argc, &i, names[k], &val)) < 0)
                return usage("%s needs a value", names[k]);
            if (r > 0)
                *slots[k] = val, done = 1;
        }
        if (done)
            continue;
        if ((r = flag(argv, argc, &i, "-o", &val)) != 0) {
            if (r < 0 || output_parse_format(val, &q->fmt) < 0)
                return usage("-o must be table, json or csv", NULL);
            q->fmt_given = 1;
        } else if (strcmp(argv[i], "--plot") == 0) {
            q->plot = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage("unknown option %s", argv[i]);
        } else {
            rest[(*nrest)++] = argv[i];
        }
    }
    if (q->url && q->dir)
        return usage("--url and --data-dir exclude each other", NULL);
    if (!q->dir && !q->url)
        q->url = getenv("VIGIL_URL") && *getenv("VIGIL_URL") ? getenv("VIGIL_URL")
                                                             : "http://127.0.0.1:9190";
    return 0;
}

static int cmd_query(int argc, char **argv)
{
    struct qargs q;
    char **rest = calloc(argc + 1, sizeof *rest), tbuf[3][40];
    int nrest, status = parse_args(argc, argv, &q, rest, &nrest);
    int64_t now = timefmt_now_ms(), t = now, start = 0, end = 0, step = 0;
    if (status == 0 && nrest != 1)
        status = usage(nrest ? "one query only; quote it, e.g. 'rate(x[5m])'" : "no query given",
                       NULL);
    if (status == 0 && (q.start || q.end || q.step) && !(q.start && q.end && q.step))
        status = usage("a range query needs --start, --end and --step", NULL);
    if (status == 0 && q.start && q.time)
        status = usage("--time is for instant queries; ranges use --start --end --step", NULL);
    if (status == 0 && q.plot && !q.start)
        status = usage("--plot draws a range query: give --start, --end and --step", NULL);
    if (status == 0 && q.plot && q.fmt_given)
        status = usage("--plot draws a chart; it takes no -o", NULL);
    if (status == 0)
        q.expr = rest[0];
    if (status == 0 && q.time && timefmt_parse_time(q.time, now, &t) < 0)
        status = die_input("invalid --time %s: expected RFC 3339, Unix seconds or now-DURATION",
                           q.time);
    if (status == 0 && q.start &&
        (timefmt_parse_time(q.start, now, &start) < 0 || timefmt_parse_time(q.end, now, &end) < 0 ||
         timefmt_parse_duration(q.step, strlen(q.step), &step) < 0 || step <= 0))
        status = die_input("invalid range: --start/--end take RFC 3339, Unix seconds or "
                           "now-DURATION, --step a positive duration like 30s");
    q.start_ms = start, q.end_ms = end, q.step_ms = step;
    if (status == 0 && q.dir) {
        if (q.start && end < start)
            status = die_input("--end must not be before --start");
        else
            status = local_query(&q, t, start, end, step);
    } else if (status == 0) {
        output_format_timestamp(t, tbuf[0], sizeof tbuf[0]);
        output_format_timestamp(start, tbuf[1], sizeof tbuf[1]);
        output_format_timestamp(end, tbuf[2], sizeof tbuf[2]);
        if (q.start) {
            q.start = tbuf[1];
            q.end = tbuf[2];
        } else if (q.time) { /* else the server's now */
            q.time = tbuf[0];
        }
        status = remote(&q, q.start ? "/api/v1/query_range" : "/api/v1/query", 0);
    }
    free(rest);
    return status;
}

/* tsq series|labels|label-values NAME [MATCHER...] */
static int cmd_listing(const char *cmd, int argc, char **argv)
{
    struct qargs q;
    char **rest = calloc(argc + 1, sizeof *rest), sbuf[40], ebuf[40];
    int nrest, status = parse_args(argc, argv, &q, rest, &nrest);
    int series = strcmp(cmd, "series") == 0, values = strcmp(cmd, "label-values") == 0;
    const char *label = values && nrest ? rest[0] : NULL;
    int64_t now = timefmt_now_ms(), start = INT64_MIN / 4, end = INT64_MAX / 4;
    if (status == 0 && values && !label)
        status = usage("label-values needs a label name", NULL);
    if (status == 0 && series && nrest == 0)
        status = usage("series needs at least one matcher, e.g. 'up{job=\"api\"}'", NULL);
    if (status == 0 && (q.time || q.step || q.plot))
        status = usage("%s takes --start and --end, not --time, --step or --plot", cmd);
    q.matchers = rest + (values ? 1 : 0);
    q.nmatchers = nrest - (values ? 1 : 0);
    if (status == 0 && q.start && (status = api_time("--start", q.start, now, sbuf, sizeof sbuf)))
        goto out;
    if (status == 0 && q.end && (status = api_time("--end", q.end, now, ebuf, sizeof ebuf)))
        goto out;
    if (status == 0 && q.url) {
        char path[512];
        if (values)
            snprintf(path, sizeof path, "/api/v1/label/%s/values", label);
        q.start = q.start ? sbuf : NULL;
        q.end = q.end ? ebuf : NULL;
        status = remote(&q, values ? path : series ? "/api/v1/series" : "/api/v1/labels", 1);
    } else if (status == 0) {
        struct selector *sels = calloc(q.nmatchers + 1, sizeof *sels);
        struct selector_error err;
        int n = 0, nok = 0;
        if (q.start)
            timefmt_parse_time(q.start, now, &start);
        if (q.end)
            timefmt_parse_time(q.end, now, &end);
        if (values && !tsdb_label_name_valid(label))
            status = die_input("invalid label name: \"%s\"", label);
        for (; status == 0 && sels && n < q.nmatchers; n++) {
            if (selector_parse(q.matchers[n], &sels[n], &err) < 0)
                status = die_input("matcher %s:1:%u: %s", q.matchers[n], err.col, err.msg);
            else
                nok++;
        }
        if (status == 0 && sels) {
            struct answer a = {0};
            status = local_listing(&q, label, series, start, end, sels, n, &a);
            if (status == 0)
                status = print_body(&a, &q, 1);
            free(a.body);
        }
        for (int i = 0; sels && i < nok; i++)
            selector_free(&sels[i]);
        free(sels);
    }
out:
    free(rest);
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

/* tsq test rules FILE...: promtool's rule unit tests (ruletest.h). */
static int cmd_test(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "rules") != 0)
        return usage("test: the only subcommand is rules", NULL);
    if (argc < 2)
        return usage("test rules needs at least one test file", NULL);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-')
            return usage("test rules: unexpected option %s", argv[i]);
    struct ruletest_counts c = {0};
    int failed = 0;
    for (int i = 1; i < argc; i++)
        failed |= ruletest_run_file(argv[i], stdout, stderr, &c);
    printf("%u passed, %u failed, %u skipped\n", c.passed, c.failed, c.skipped);
    return failed ? EXIT_INPUT : 0;
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
    if (strcmp(argv[1], "test") == 0)
        return cmd_test(argc - 2, argv + 2);
    if (strcmp(argv[1], "series") == 0 || strcmp(argv[1], "labels") == 0 ||
        strcmp(argv[1], "label-values") == 0)
        return cmd_listing(argv[1], argc - 2, argv + 2);
    return cmd_query(argc - 1, argv + 1);
}
