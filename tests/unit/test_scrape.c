/* test_scrape.c — the scrape manager against a real store, with a fake
 * transport (requests answered by the test) and a fake clock: synthetic
 * series, staleness (a series vanishes, a target fails, a target goes
 * away), honor_labels, honor_timestamps, metric relabeling, sample_limit,
 * request URLs and headers, offsets, file_sd groups and the targets JSON.
 * Every test ends by closing the manager and checking the loop closes
 * clean. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "http.h"
#include "scrape.h"
#include "tsdb.h"

#define SEC 1000LL
#define T0 1700000000000LL

static int64_t fake_now = T0;
static int64_t clock_now(void)
{
    return fake_now;
}

struct req {
    uint64_t id;
    char url[512];
    char headers[1024];
    int64_t timeout_ms;
    httpc_done_fn done;
    void *arg;
    int live;
};

struct fx {
    char *dir;
    struct tsdb *db;
    uv_loop_t loop;
    struct config cfg;
    struct scrape_manager *m;
    struct req reqs[256];
    size_t nreq;
    uint64_t cancelled;
};

static int fake_start(void *ctx, const struct httpc_request *rq, httpc_done_fn done, void *arg,
                      uint64_t *id)
{
    struct fx *f = ctx;
    assert_true(f->nreq < 256);
    struct req *r = &f->reqs[f->nreq++];
    memset(r, 0, sizeof *r);
    r->id = f->nreq;
    snprintf(r->url, sizeof r->url, "%s", rq->url);
    for (const char *const *h = rq->headers; h && *h; h++)
        snprintf(r->headers + strlen(r->headers), sizeof r->headers - strlen(r->headers),
                 "%s\n", *h);
    r->timeout_ms = rq->timeout_ms;
    r->done = done;
    r->arg = arg;
    r->live = 1;
    *id = r->id;
    return 0;
}

static void fake_cancel(void *ctx, uint64_t id)
{
    struct fx *f = ctx;
    assert_true(id >= 1 && id <= f->nreq);
    f->reqs[id - 1].live = 0;
    f->cancelled++;
}

static int rm_entry(const char *p, const struct stat *sb, int fl, struct FTW *ftw)
{
    (void)sb, (void)fl, (void)ftw;
    return remove(p);
}

static void load(struct fx *f, const char *yaml)
{
    struct config_errors errs = {0};
    config_free(&f->cfg);
    config_default(&f->cfg);
    int rc = config_parse(&f->cfg, "test.yml", yaml, strlen(yaml), &errs);
    if (rc)
        fail_msg("config: %s", errs.text);
    config_errors_free(&errs);
    assert_int_equal(scrape_manager_apply(f->m, &f->cfg.scrape), 0);
}

static struct fx *fx_open(const char *yaml)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = strdup("/tmp/vigil-test-scrape-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct tsdb_options o;
    tsdb_options_default(&o);
    assert_int_equal(tsdb_open(f->dir, &o, &f->db, NULL), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct scrape_io io = {fake_start, fake_cancel, f, clock_now};
    fake_now = T0;
    config_default(&f->cfg);
    assert_int_equal(scrape_manager_new(&f->loop, f->db, &io, &f->m), 0);
    load(f, yaml);
    return f;
}

static void on_closed(void *arg)
{
    *(int *)arg = 1;
}

static void fx_close(struct fx *f)
{
    int closed = 0;
    scrape_manager_close(f->m, on_closed, &closed);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    config_free(&f->cfg);
    assert_int_equal(tsdb_close(f->db), 0);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
    free(f);
}

/* Scrapes every target at time ts (their requests stay open). */
static void scrape(struct fx *f, int64_t ts)
{
    fake_now = ts;
    scrape_manager_scrape_now(f->m);
}

/* The open request whose URL contains url_part. */
static struct req *request(struct fx *f, const char *url_part)
{
    for (size_t i = f->nreq; i-- > 0;)
        if (f->reqs[i].live && strstr(f->reqs[i].url, url_part))
            return &f->reqs[i];
    fail_msg("no open request for %s", url_part);
    return NULL;
}

/* Answers the open request for url_part. */
static void answer(struct fx *f, const char *url_part, long status, const char *ctype,
                   const char *body)
{
    struct req *r = request(f, url_part);
    struct httpc_response res = {.status = status, .content_type = ctype, .body = body,
                                 .body_len = strlen(body)};
    r->live = 0;
    r->done(r->arg, &res);
}

static void answer_error(struct fx *f, const char *url_part, int error, const char *msg)
{
    struct req *r = request(f, url_part);
    struct httpc_response res = {.error = error, .content_type = "", .body = ""};
    snprintf(res.errmsg, sizeof res.errmsg, "%s", msg);
    r->live = 0;
    r->done(r->arg, &res);
}

static void ok(struct fx *f, const char *url_part, const char *body)
{
    answer(f, url_part, 200, "text/plain; version=0.0.4", body);
}

/* Finds the series with exactly the labels __name__=name, k1=v1, ...
 * (NULL-terminated) and its sample at ts: 1 and *v, 0 when it has none
 * there, -1 when no such series exists. */
static int vget(struct fx *f, int64_t ts, double *v, const char *name, va_list ap)
{
    struct tsdb_matcher m[12];
    size_t nm = 0;
    assert_int_equal(tsdb_matcher_init(&m[nm++], TSDB_MATCH_EQ, "__name__", name, NULL, 0), 0);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *val = va_arg(ap, const char *);
        assert_true(nm < 12);
        assert_int_equal(tsdb_matcher_init(&m[nm++], TSDB_MATCH_EQ, k, val, NULL, 0), 0);
    }
    struct tsdb_snapshot *s;
    struct tsdb_series_set *set;
    assert_int_equal(tsdb_snapshot_open(f->db, &s), 0);
    assert_int_equal(tsdb_select(s, m, nm, 0, INT64_MAX, &set), 0);
    int found = -1;
    for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
        if (tsdb_series_set_labels(set, i)->len != nm)
            continue;
        assert_true(found < 0);
        found = 0;
        struct tsdb_iter *it;
        int64_t t;
        double x;
        assert_int_equal(tsdb_iter_open(set, i, &it), 0);
        while (tsdb_iter_next(it, &t, &x) == 1)
            if (t == ts) {
                *v = x;
                found = 1;
            }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    tsdb_snapshot_close(s);
    for (size_t i = 0; i < nm; i++)
        tsdb_matcher_free(&m[i]);
    return found;
}

/* The value at ts of the series with exactly these labels. */
static double get(struct fx *f, int64_t ts, const char *name, ...)
{
    va_list ap;
    double v = 0;
    va_start(ap, name);
    int found = vget(f, ts, &v, name, ap);
    va_end(ap);
    if (found < 0)
        fail_msg("no series %s with exactly the labels asked for", name);
    if (!found)
        fail_msg("%s has no sample at %lld", name, (long long)ts);
    return v;
}

/* 1 sample at ts, 0 none, -1 no such series. */
static int has(struct fx *f, int64_t ts, const char *name, ...)
{
    va_list ap;
    double v;
    va_start(ap, name);
    int found = vget(f, ts, &v, name, ap);
    va_end(ap);
    return found;
}

#define APP "job", "app", "instance", "a:1"

struct info_copy {
    char health[16], last_error[256], url[512];
    int64_t offset_ms, interval_ms, last_scrape_ms;
    size_t n, ndropped;
};

static void copy_info(const struct scrape_target_info *t, void *arg)
{
    struct info_copy *c = arg;
    if (t->dropped) {
        c->ndropped++;
        return;
    }
    if (c->n++ == 0) {
        snprintf(c->health, sizeof c->health, "%s", t->health);
        snprintf(c->last_error, sizeof c->last_error, "%s", t->last_error);
        snprintf(c->url, sizeof c->url, "%s", t->url);
        c->offset_ms = t->offset_ms;
        c->interval_ms = t->interval_ms;
        c->last_scrape_ms = t->last_scrape_ms;
    }
}

/* The first active target. */
static struct info_copy info(struct fx *f)
{
    struct info_copy c = {0};
    scrape_manager_foreach(f->m, copy_info, &c);
    return c;
}

static const char *ONE_TARGET = "scrape_configs:\n"
                                "  - job_name: app\n"
                                "    scrape_interval: 10s\n"
                                "    static_configs:\n"
                                "      - targets: ['a:1']\n";

/* ---- tests --------------------------------------------------------------- */

static void test_up_and_synthetic(void **state)
{
    (void)state;
    struct fx *f = fx_open(ONE_TARGET);
    struct info_copy c = info(f);
    assert_string_equal(c.health, "unknown");
    scrape(f, T0);
    ok(f, "a:1", "# TYPE m counter\nm_total 1\nm2{x=\"y\"} 2.5\n");
    assert_int_equal(get(f, T0, "m_total", APP, NULL), 1);
    assert_true(get(f, T0, "m2", APP, "x", "y", NULL) == 2.5);
    assert_int_equal(get(f, T0, "up", APP, NULL), 1);
    assert_int_equal(get(f, T0, "scrape_samples_scraped", APP, NULL), 2);
    assert_int_equal(get(f, T0, "scrape_samples_post_metric_relabeling", APP, NULL), 2);
    assert_int_equal(get(f, T0, "scrape_series_added", APP, NULL), 2);
    assert_true(get(f, T0, "scrape_duration_seconds", APP, NULL) >= 0);
    c = info(f);
    assert_string_equal(c.health, "up");
    assert_string_equal(c.last_error, "");
    assert_int_equal(c.last_scrape_ms, T0);

    scrape(f, T0 + 10 * SEC);
    ok(f, "a:1", "m_total 2\nm2{x=\"y\"} 3\n");
    assert_int_equal(get(f, T0 + 10 * SEC, "m_total", APP, NULL), 2);
    assert_int_equal(get(f, T0 + 10 * SEC, "scrape_series_added", APP, NULL), 0);
    fx_close(f);
}

static void test_stale_when_series_vanishes(void **state)
{
    (void)state;
    struct fx *f = fx_open(ONE_TARGET);
    scrape(f, T0);
    ok(f, "a:1", "a 1\nb 2\nc 3\n");
    scrape(f, T0 + 10 * SEC);
    ok(f, "a:1", "a 1\nc 3\n");
    double v;
    assert_int_equal(get(f, T0 + 10 * SEC, "a", APP, NULL), 1);
    v = get(f, T0 + 10 * SEC, "b", APP, NULL);
    assert_true(tsdb_is_stale(v));
    assert_int_equal(get(f, T0 + 10 * SEC, "c", APP, NULL), 3);
    /* back again: a normal sample, and no second marker later */
    scrape(f, T0 + 20 * SEC);
    ok(f, "a:1", "a 1\nb 5\nc 3\n");
    assert_int_equal(get(f, T0 + 20 * SEC, "b", APP, NULL), 5);
    assert_int_equal(get(f, T0 + 20 * SEC, "scrape_series_added", APP, NULL), 1);
    scrape(f, T0 + 30 * SEC);
    ok(f, "a:1", "a 1\nb 6\nc 3\n");
    assert_int_equal(get(f, T0 + 30 * SEC, "b", APP, NULL), 6);
    fx_close(f);
}

static void test_failures(void **state)
{
    (void)state;
    struct fx *f = fx_open(ONE_TARGET);
    scrape(f, T0);
    ok(f, "a:1", "a 1\n");
    /* a 500: stale markers, up 0 */
    scrape(f, T0 + 10 * SEC);
    answer(f, "a:1", 500, "text/plain", "oops");
    assert_true(tsdb_is_stale(get(f, T0 + 10 * SEC, "a", APP, NULL)));
    assert_int_equal(get(f, T0 + 10 * SEC, "up", APP, NULL), 0);
    assert_int_equal(get(f, T0 + 10 * SEC, "scrape_samples_scraped", APP, NULL), 0);
    struct info_copy c = info(f);
    assert_string_equal(c.health, "down");
    assert_string_equal(c.last_error, "server returned HTTP status 500");
    /* recovers */
    scrape(f, T0 + 20 * SEC);
    ok(f, "a:1", "a 2\n");
    assert_int_equal(get(f, T0 + 20 * SEC, "a", APP, NULL), 2);
    assert_string_equal(info(f).health, "up");
    /* a parse error after a good line: nothing of the scrape is stored */
    scrape(f, T0 + 30 * SEC);
    ok(f, "a:1", "a 3\nnew_series 1\nb{ 2\n");
    assert_true(tsdb_is_stale(get(f, T0 + 30 * SEC, "a", APP, NULL)));
    assert_int_equal(has(f, T0 + 30 * SEC, "new_series", APP, NULL), -1);
    assert_int_equal(get(f, T0 + 30 * SEC, "up", APP, NULL), 0);
    c = info(f);
    assert_string_equal(c.health, "down");
    assert_non_null(strstr(c.last_error, "3:"));
    /* a timeout: no samples, up 0, the transport's message */
    scrape(f, T0 + 40 * SEC);
    answer_error(f, "a:1", -ETIMEDOUT, "timeout after 10s");
    assert_int_equal(get(f, T0 + 40 * SEC, "up", APP, NULL), 0);
    assert_int_equal(has(f, T0 + 40 * SEC, "a", APP, NULL), 0); /* already stale */
    assert_string_equal(info(f).last_error, "timeout after 10s");
    /* OpenMetrics without # EOF fails */
    scrape(f, T0 + 50 * SEC);
    answer(f, "a:1", 200, "application/openmetrics-text; version=1.0.0", "a 1\n");
    assert_int_equal(get(f, T0 + 50 * SEC, "up", APP, NULL), 0);
    scrape(f, T0 + 60 * SEC);
    answer(f, "a:1", 200, "application/openmetrics-text; version=1.0.0", "a 1\n# EOF\n");
    assert_int_equal(get(f, T0 + 60 * SEC, "up", APP, NULL), 1);
    assert_int_equal(get(f, T0 + 60 * SEC, "a", APP, NULL), 1);

    struct selfmetrics sm;
    struct http_buf out = {0};
    sm_init(&sm);
    scrape_manager_collect(f->m, &sm);
    assert_int_equal(sm_render(&sm, &out), 0);
    assert_non_null(strstr(out.p, "vigil_scrape_scrapes_total{job=\"app\",result=\"success\"} 3"));
    assert_non_null(strstr(out.p, "vigil_scrape_scrapes_total{job=\"app\",result=\"bad_status\"} 1"));
    assert_non_null(strstr(out.p, "vigil_scrape_scrapes_total{job=\"app\",result=\"parse_error\"} 2"));
    assert_non_null(strstr(out.p, "vigil_scrape_scrapes_total{job=\"app\",result=\"timeout\"} 1"));
    assert_non_null(strstr(out.p, "vigil_scrape_targets{job=\"app\",state=\"active\"} 1"));
    http_buf_free(&out);
    sm_free(&sm);
    fx_close(f);
}

static void test_target_removed(void **state)
{
    (void)state;
    struct fx *f = fx_open("scrape_configs:\n"
                           "  - job_name: app\n"
                           "    scrape_interval: 10s\n"
                           "    static_configs:\n"
                           "      - targets: ['a:1', 'b:2']\n");
    scrape(f, T0);
    ok(f, "a:1", "x 1\n");
    ok(f, "b:2", "x 2\n");
    scrape(f, T0 + 10 * SEC);
    fake_now = T0 + 15 * SEC; /* b goes away while its scrape is in flight */
    load(f, ONE_TARGET);
    assert_int_equal(f->cancelled, 1);
    assert_true(tsdb_is_stale(get(f, T0 + 15 * SEC, "x", "job", "app", "instance", "b:2", NULL)));
    assert_true(tsdb_is_stale(get(f, T0 + 15 * SEC, "up", "job", "app", "instance", "b:2", NULL)));
    /* a kept running: its scrape in flight completes, no marker for it */
    assert_int_equal(has(f, T0 + 15 * SEC, "x", APP, NULL), 0);
    ok(f, "a:1", "x 1\n");
    assert_int_equal(get(f, T0 + 10 * SEC, "x", APP, NULL), 1);
    assert_int_equal(get(f, T0 + 10 * SEC, "scrape_series_added", APP, NULL), 1); /* cache reset */
    assert_int_equal(info(f).n, 1);
    fx_close(f);
}

static void test_honor_labels(void **state)
{
    (void)state;
    struct fx *f = fx_open("scrape_configs:\n"
                           "  - job_name: app\n"
                           "    static_configs:\n"
                           "      - targets: ['a:1']\n"
                           "        labels: {env: prod}\n"
                           "  - job_name: fed\n"
                           "    honor_labels: true\n"
                           "    static_configs:\n"
                           "      - targets: ['f:9']\n"
                           "        labels: {env: prod}\n");
    scrape(f, T0);
    /* exported_job is taken: the scraped job becomes exported_exported_job,
     * as Prometheus resolves the conflict */
    const char *body = "m{job=\"other\",instance=\"x\",exported_job=\"e\"} 1\n";
    ok(f, "a:1", body);
    ok(f, "f:9", body);
    assert_int_equal(get(f, T0, "m", "job", "app", "instance", "a:1", "env", "prod",
                         "exported_instance", "x", "exported_job", "e",
                         "exported_exported_job", "other", NULL),
                     1);
    assert_int_equal(get(f, T0, "m", "job", "other", "instance", "x", "exported_job", "e", "env",
                         "prod", NULL),
                     1);
    /* up keeps the target's labels either way */
    assert_int_equal(get(f, T0, "up", "job", "fed", "instance", "f:9", "env", "prod", NULL), 1);
    fx_close(f);
}

static void test_honor_timestamps(void **state)
{
    (void)state;
    struct fx *f = fx_open("scrape_configs:\n"
                           "  - job_name: app\n"
                           "    static_configs:\n"
                           "      - targets: ['a:1']\n"
                           "  - job_name: own\n"
                           "    honor_timestamps: false\n"
                           "    static_configs:\n"
                           "      - targets: ['o:1']\n");
    scrape(f, T0);
    char body[64];
    snprintf(body, sizeof body, "t 7 %lld\n", (long long)(T0 - 5 * SEC));
    ok(f, "a:1", body);
    ok(f, "o:1", body);
    assert_int_equal(get(f, T0 - 5 * SEC, "t", APP, NULL), 7);
    assert_int_equal(get(f, T0, "t", "job", "own", "instance", "o:1", NULL), 7);
    /* a series with its own timestamps gets no stale marker */
    scrape(f, T0 + 60 * SEC);
    ok(f, "a:1", "");
    ok(f, "o:1", "");
    assert_int_equal(has(f, T0 + 60 * SEC, "t", APP, NULL), 0);
    assert_true(tsdb_is_stale(get(f, T0 + 60 * SEC, "t", "job", "own", "instance", "o:1", NULL)));
    fx_close(f);
}

static void test_metric_relabel_and_limits(void **state)
{
    (void)state;
    struct fx *f = fx_open("scrape_configs:\n"
                           "  - job_name: app\n"
                           "    sample_limit: 2\n"
                           "    metric_relabel_configs:\n"
                           "      - source_labels: [__name__]\n"
                           "        regex: 'drop_.*'\n"
                           "        action: drop\n"
                           "      - regex: secret\n"
                           "        action: labeldrop\n"
                           "    static_configs:\n"
                           "      - targets: ['a:1']\n");
    scrape(f, T0);
    ok(f, "a:1", "keep{secret=\"s\"} 1\ndrop_me 2\ndrop_me_too 3\nkeep2 4\n");
    assert_int_equal(get(f, T0, "keep", APP, NULL), 1);
    assert_int_equal(has(f, T0, "drop_me", APP, NULL), -1);
    assert_int_equal(get(f, T0, "scrape_samples_scraped", APP, NULL), 4);
    assert_int_equal(get(f, T0, "scrape_samples_post_metric_relabeling", APP, NULL), 2);
    /* three samples after relabeling: over sample_limit, the scrape fails */
    scrape(f, T0 + 60 * SEC);
    ok(f, "a:1", "keep 1\nkeep2 2\nkeep3 3\ndrop_me 4\n");
    assert_int_equal(get(f, T0 + 60 * SEC, "up", APP, NULL), 0);
    assert_true(tsdb_is_stale(get(f, T0 + 60 * SEC, "keep", APP, NULL)));
    assert_int_equal(has(f, T0 + 60 * SEC, "keep3", APP, NULL), -1);
    assert_string_equal(info(f).last_error, "sample limit exceeded");
    fx_close(f);
}

static void test_label_limits(void **state)
{
    (void)state;
    struct fx *f = fx_open("scrape_configs:\n"
                           "  - job_name: app\n"
                           "    label_limit: 4\n"
                           "    label_value_length_limit: 5\n"
                           "    static_configs:\n"
                           "      - targets: ['a:1']\n");
    scrape(f, T0);
    ok(f, "a:1", "m{a=\"1\",b=\"2\"} 1\n");
    assert_int_equal(get(f, T0, "up", APP, NULL), 0);
    assert_non_null(strstr(info(f).last_error, "label_limit exceeded"));
    scrape(f, T0 + 60 * SEC);
    ok(f, "a:1", "m{a=\"123456\"} 1\n");
    assert_non_null(strstr(info(f).last_error, "label_value_length_limit exceeded"));
    scrape(f, T0 + 120 * SEC);
    ok(f, "a:1", "m{a=\"12345\"} 1\n");
    assert_int_equal(get(f, T0 + 120 * SEC, "m", APP, "a", "12345", NULL), 1);
    fx_close(f);
}

static void test_request(void **state)
{
    (void)state;
    struct fx *f = fx_open("scrape_configs:\n"
                           "  - job_name: app\n"
                           "    scrape_interval: 30s\n"
                           "    scrape_timeout: 7s\n"
                           "    metrics_path: /probe\n"
                           "    params:\n"
                           "      module: [http_2xx, other]\n"
                           "    relabel_configs:\n"
                           "      - source_labels: [__address__]\n"
                           "        target_label: __param_target\n"
                           "      - target_label: __address__\n"
                           "        replacement: 'prober:9115'\n"
                           "    static_configs:\n"
                           "      - targets: ['example.org']\n");
    scrape(f, T0);
    struct req *r = request(f, "prober");
    assert_string_equal(r->url,
                        "http://prober:9115/probe?module=http_2xx&module=other&target=example.org");
    assert_int_equal(r->timeout_ms, 7000);
    assert_non_null(strstr(r->headers, "Accept: application/openmetrics-text"));
    assert_non_null(strstr(r->headers, "X-Prometheus-Scrape-Timeout-Seconds: 7\n"));
    ok(f, "prober", "probe_success 1\n");
    /* instance is the address after relabeling, with the default port when
     * the discovered one had none */
    assert_int_equal(get(f, T0, "probe_success", "job", "app", "instance", "prober:9115", NULL),
                     1);
    fx_close(f);
}

struct offsets {
    int64_t v[64];
    size_t n;
};

static void collect_offsets(const struct scrape_target_info *t, void *arg)
{
    struct offsets *o = arg;
    if (!t->dropped && o->n < 64)
        o->v[o->n++] = t->offset_ms;
}

static void test_missing_token_file(void **state)
{
    (void)state;
    struct fx *f = fx_open("scrape_configs:\n"
                           "  - job_name: app\n"
                           "    bearer_token_file: /nonexistent/vigil-token\n"
                           "    static_configs:\n"
                           "      - targets: ['a:1']\n");
    scrape(f, T0);
    assert_int_equal(f->nreq, 0);
    assert_int_equal(get(f, T0, "up", APP, NULL), 0);
    assert_string_equal(info(f).last_error,
                        "cannot read /nonexistent/vigil-token: No such file or directory");
    fx_close(f);
}

static void test_offsets(void **state)
{
    (void)state;
    char yaml[4096] = "scrape_configs:\n"
                      "  - job_name: app\n"
                      "    scrape_interval: 10s\n"
                      "    static_configs:\n"
                      "      - targets: [";
    for (int i = 0; i < 50; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "%s'127.0.0.1:%d'",
                 i ? ", " : "", 9100 + i);
    strcat(yaml, "]\n");
    struct fx *f = fx_open(yaml);
    struct offsets o = {{0}, 0};
    struct info_copy c = info(f);
    assert_int_equal(c.n, 50);
    scrape_manager_foreach(f->m, collect_offsets, &o);
    assert_int_equal(o.n, 50);
    int64_t min = INT64_MAX, max = 0;
    for (size_t i = 0; i < o.n; i++) {
        assert_true(o.v[i] >= 0 && o.v[i] < 10 * SEC);
        for (size_t k = 0; k < i; k++)
            assert_true(o.v[i] != o.v[k]);
        min = o.v[i] < min ? o.v[i] : min;
        max = o.v[i] > max ? o.v[i] : max;
    }
    assert_true(max - min > 5 * SEC); /* spread over the interval */
    fx_close(f);
}

static void test_file_sd_groups(void **state)
{
    (void)state;
    struct fx *f = fx_open(ONE_TARGET);
    char *targets[] = {"g:1", "a:1"};
    struct tsdb_label labels[] = {{"__meta_filepath", "/x.json"}, {"team", "blue"}};
    struct scrape_static_group g = {targets, 2, labels, 2};
    scrape(f, T0);
    assert_int_equal(scrape_manager_set_groups(f->m, "app", "file_sd", &g, 1), 0);
    assert_int_equal(info(f).n, 3); /* a:1 twice with different labels is two targets */
    ok(f, "a:1", "x 1\n"); /* the running one was kept */
    scrape(f, T0 + 10 * SEC);
    ok(f, "g:1", "x 2\n");
    assert_int_equal(get(f, T0 + 10 * SEC, "x", "job", "app", "instance", "g:1", "team", "blue",
                         NULL),
                     2);
    fake_now = T0 + 12 * SEC;
    assert_int_equal(scrape_manager_set_groups(f->m, "app", "file_sd", NULL, 0), 0);
    assert_int_equal(info(f).n, 1);
    assert_true(tsdb_is_stale(
        get(f, T0 + 12 * SEC, "x", "job", "app", "instance", "g:1", "team", "blue", NULL)));
    fx_close(f);
}

static json_t *targets_json(struct fx *f, const char *query)
{
    struct http_buf out = {0};
    assert_int_equal(scrape_targets_json(f ? f->m : NULL, query, &out), 0);
    json_error_t err;
    json_t *j = json_loadb(out.p, out.len, 0, &err);
    if (!j)
        fail_msg("bad JSON: %s: %.*s", err.text, (int)out.len, out.p);
    http_buf_free(&out);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
    return j;
}

static void test_targets_json(void **state)
{
    (void)state;
    struct fx *f = fx_open("scrape_configs:\n"
                           "  - job_name: app\n"
                           "    scrape_interval: 15s\n"
                           "    relabel_configs:\n"
                           "      - source_labels: [__address__]\n"
                           "        regex: 'skip.*'\n"
                           "        action: drop\n"
                           "    static_configs:\n"
                           "      - targets: ['a:1', 'skip:2']\n");
    scrape(f, T0);
    answer(f, "a:1", 503, "text/plain", "");
    json_t *j = targets_json(f, "");
    json_t *data = json_object_get(j, "data");
    json_t *act = json_object_get(data, "activeTargets");
    json_t *drop = json_object_get(data, "droppedTargets");
    assert_int_equal(json_array_size(act), 1);
    assert_int_equal(json_array_size(drop), 1);
    json_t *t = json_array_get(act, 0);
    json_t *dl = json_object_get(t, "discoveredLabels");
    assert_string_equal(json_string_value(json_object_get(dl, "__address__")), "a:1");
    assert_string_equal(json_string_value(json_object_get(dl, "__scheme__")), "http");
    assert_string_equal(json_string_value(json_object_get(dl, "__metrics_path__")), "/metrics");
    assert_string_equal(json_string_value(json_object_get(dl, "__scrape_interval__")), "15s");
    assert_string_equal(json_string_value(json_object_get(dl, "__scrape_timeout__")), "10s");
    assert_string_equal(json_string_value(json_object_get(dl, "job")), "app");
    json_t *l = json_object_get(t, "labels");
    assert_int_equal(json_object_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(l, "instance")), "a:1");
    assert_string_equal(json_string_value(json_object_get(t, "scrapePool")), "app");
    assert_string_equal(json_string_value(json_object_get(t, "scrapeUrl")), "http://a:1/metrics");
    assert_string_equal(json_string_value(json_object_get(t, "globalUrl")), "http://a:1/metrics");
    assert_string_equal(json_string_value(json_object_get(t, "lastError")),
                        "server returned HTTP status 503");
    assert_string_equal(json_string_value(json_object_get(t, "lastScrape")),
                        "2023-11-14T22:13:20.000Z");
    assert_true(json_is_number(json_object_get(t, "lastScrapeDuration")));
    assert_string_equal(json_string_value(json_object_get(t, "health")), "down");
    assert_string_equal(json_string_value(json_object_get(t, "scrapeInterval")), "15s");
    assert_string_equal(json_string_value(json_object_get(t, "scrapeTimeout")), "10s");
    json_t *d = json_array_get(drop, 0);
    assert_int_equal(json_object_size(d), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(d, "discoveredLabels"), "__address__")),
        "skip:2");
    json_decref(j);

    j = targets_json(f, "state=active");
    data = json_object_get(j, "data");
    assert_int_equal(json_array_size(json_object_get(data, "activeTargets")), 1);
    assert_int_equal(json_array_size(json_object_get(data, "droppedTargets")), 0);
    json_decref(j);
    j = targets_json(f, "x=1&state=Dropped");
    data = json_object_get(j, "data");
    assert_int_equal(json_array_size(json_object_get(data, "activeTargets")), 0);
    assert_int_equal(json_array_size(json_object_get(data, "droppedTargets")), 1);
    json_decref(j);
    fx_close(f);

    j = targets_json(NULL, "");
    data = json_object_get(j, "data");
    assert_true(json_is_array(json_object_get(data, "activeTargets")));
    assert_int_equal(json_array_size(json_object_get(data, "activeTargets")), 0);
    json_decref(j);
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *s;
    } cases[] = {{0, "0s"},         {500, "500ms"},     {15000, "15s"},
                 {60000, "1m"},     {90000, "1m30s"},   {3600000, "1h"},
                 {86400000, "1d"},  {7 * 86400000LL, "1w"}, {8 * 86400000LL, "8d"},
                 {1500, "1s500ms"}, {365 * 86400000LL, "1y"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        scrape_duration_string(cases[i].ms, buf, sizeof buf);
        assert_string_equal(buf, cases[i].s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_up_and_synthetic),
        cmocka_unit_test(test_stale_when_series_vanishes),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_target_removed),
        cmocka_unit_test(test_honor_labels),
        cmocka_unit_test(test_honor_timestamps),
        cmocka_unit_test(test_metric_relabel_and_limits),
        cmocka_unit_test(test_label_limits),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_missing_token_file),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_file_sd_groups),
        cmocka_unit_test(test_targets_json),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
