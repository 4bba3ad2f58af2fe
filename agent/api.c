/* api.c — the Prometheus-compatible query API (see api.h).
 *
 * Design notes: a handler parses and checks the parameters on the loop
 * (answering bad_data at once), then queues a job on libuv's thread pool
 * and defers its HTTP response. The job opens a store snapshot, evaluates
 * or lists, renders the whole JSON body and closes the snapshot; the
 * after-work callback on the loop sends it. api->inflight counts queued
 * jobs so the daemon closes the store only after the last one. Vector and
 * matrix results are rendered by query/output.c, the writer tsq uses, so
 * both print the same bytes. */
#include "api.h"
#include "strlit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "output.h"
#include "selector.h"
#include "timefmt.h"

#define MIN_TIME_MS (INT64_MIN / 4)
#define MAX_TIME_MS (INT64_MAX / 4)
#define MAX_RANGE_POINTS 11000

/* ---- parameters ----------------------------------------------------------- */

/* Decodes s[0..n) into a new string. @return it, or NULL with *bad set for
 * a bad escape (or on ENOMEM with *bad clear). */
static char *unescape(const char *s, size_t n, int *bad)
{
    char *out = malloc(n + 1);
    size_t k = 0;
    *bad = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[k++] = ' ';
        } else if (s[i] != '%') {
            out[k++] = s[i];
        } else if (i + 2 < n && strlit_hex_val(s[i + 1]) >= 0 && strlit_hex_val(s[i + 2]) >= 0) {
            out[k++] = (char)(strlit_hex_val(s[i + 1]) * 16 + strlit_hex_val(s[i + 2]));
            i += 2;
        } else {
            *bad = 1;
            free(out);
            return NULL;
        }
    }
    out[k] = '\0';
    return out;
}

static int parse_pairs(struct api_form *f, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - s) : len;
        const char *eq = memchr(s + i, '=', end - i);
        size_t keyend = eq ? (size_t)(eq - s) : end;
        if (end > i) {
            int badk = 0, badv = 0;
            char *k = unescape(s + i, keyend - i, &badk);
            char *v = k ? unescape(s + keyend + (eq != NULL), end - keyend - (eq != NULL), &badv)
                        : NULL;
            if (!k || !v) {
                free(k);
                if (!badk && !badv)
                    return -ENOMEM;
                if (!f->bad[0]) {
                    const char *p = memchr(s + i, '%', end - i);
                    int w = p ? (int)((size_t)(s + end - p) < 3 ? (size_t)(s + end - p) : 3) : 0;
                    snprintf(f->bad, sizeof f->bad, "invalid URL escape \"%.*s\"", w,
                             p ? p : "");
                }
            } else {
                struct api_param *nv = realloc(f->v, (f->len + 1) * sizeof *nv);
                if (!nv) {
                    free(k);
                    free(v);
                    return -ENOMEM;
                }
                f->v = nv;
                f->v[f->len++] = (struct api_param){k, v};
            }
        }
        i = end + 1;
    }
    return 0;
}

int api_form_parse(const struct http_request *req, struct api_form *f)
{
    memset(f, 0, sizeof *f);
    int rc = 0;
    const char *ct = req->content_type;
    size_t ctn = strcspn(ct, ";");
    while (ctn && (ct[ctn - 1] == ' ' || ct[ctn - 1] == '\t'))
        ctn--;
    if (req->method == HTTP_POST && ctn == strlen("application/x-www-form-urlencoded") &&
        strncasecmp(ct, "application/x-www-form-urlencoded", ctn) == 0)
        rc = parse_pairs(f, req->body, req->body_len);
    if (rc == 0)
        rc = parse_pairs(f, req->query, strlen(req->query));
    if (rc)
        api_form_free(f);
    return rc;
}

void api_form_free(struct api_form *f)
{
    for (size_t i = 0; i < f->len; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}

const char *api_form_get(const struct api_form *f, const char *name)
{
    for (size_t i = 0; i < f->len; i++)
        if (strcmp(f->v[i].name, name) == 0)
            return f->v[i].value;
    return NULL;
}

/* 1 if s is a number Go's strconv.ParseFloat would take in decimal form
 * (however large). */
static int is_decimal(const char *s)
{
    size_t n = strlen(s);
    int64_t ms;
    int rc = n > 0 ? timefmt_seconds_to_ms(s, n, &ms) : -EINVAL;
    return rc == 0 || rc == -ERANGE;
}

int api_parse_time(const char *s, int64_t *ms, char *err, size_t cap)
{
    int rc = -EINVAL;
    if (is_decimal(s))
        rc = timefmt_seconds_to_ms(s, strlen(s), ms);
    else if (strchr(s, 'T') && strncmp(s, "now", 3) != 0)
        rc = timefmt_parse_time(s, 0, ms);
    if (rc == 0 && (*ms < MIN_TIME_MS || *ms > MAX_TIME_MS))
        rc = -ERANGE;
    if (rc)
        snprintf(err, cap, "cannot parse \"%s\" to a valid timestamp", s);
    return rc ? -EINVAL : 0;
}

int api_parse_duration(const char *s, int64_t *ms, char *err, size_t cap)
{
    size_t n = strlen(s);
    if (is_decimal(s)) {
        double secs = strtod(s, NULL);
        if (secs * 1e9 > 9.223372036854775807e18 || secs * 1e9 < -9.223372036854775807e18) {
            snprintf(err, cap, "cannot parse \"%s\" to a valid duration. It overflows int64", s);
            return -EINVAL;
        }
        /* Go: time.Duration(secs*1e9) in ns, then ms truncated */
        *ms = (int64_t)(secs * 1e9) / 1000000;
        return 0;
    }
    if (n && timefmt_parse_duration(s, n, ms) == 0)
        return 0;
    snprintf(err, cap, "cannot parse \"%s\" to a valid duration", s);
    return -EINVAL;
}

/* ---- JSON ----------------------------------------------------------------- */

static int buf_sink(void *arg, const void *p, size_t n)
{
    return http_buf_append(arg, p, n);
}

int api_json_string(struct http_buf *b, const char *s)
{
    return output_json_string(s, buf_sink, b);
}

int api_render_error(struct http_buf *b, const char *type, const char *msg)
{
    int rc = http_buf_printf(b, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", type);
    if (rc == 0)
        rc = api_json_string(b, msg);
    return rc ? rc : http_buf_append(b, "}", 1);
}

int api_error_status(const char *type)
{
    if (strcmp(type, "bad_data") == 0)
        return 400;
    if (strcmp(type, "execution") == 0)
        return 422;
    if (strcmp(type, "timeout") == 0 || strcmp(type, "canceled") == 0 ||
        strcmp(type, "unavailable") == 0)
        return 503;
    if (strcmp(type, "not_found") == 0)
        return 404;
    return 500;
}

/* A vector or matrix, streamed into b by output.c's JSON writer. */
static int render_series(struct http_buf *b, const struct promql_result *r)
{
    struct output_json w;
    output_json_begin(&w, r->type == PROMQL_TYPE_MATRIX ? OUTPUT_MATRIX : OUTPUT_VECTOR,
                      buf_sink, b);
    for (size_t i = 0; i < r->nseries; i++) {
        const struct promql_series *s = &r->series[i];
        output_json_series(&w, &s->labels);
        for (size_t j = 0; j < s->npoints; j++)
            output_json_point(&w, s->points[j].t, s->points[j].v);
    }
    return output_json_end(&w);
}

int api_render_result(struct http_buf *b, const struct promql_result *r)
{
    char ts[40], v[400];
    if (r->type == PROMQL_TYPE_VECTOR || r->type == PROMQL_TYPE_MATRIX)
        return render_series(b, r);
    /* Go marshals float64(t)/1000 as a JSON number. */
    output_format_value((double)r->t / 1000.0, ts, sizeof ts);
    int rc = http_buf_printf(b, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\","
                                "\"result\":[%s,",
                             r->type == PROMQL_TYPE_SCALAR ? "scalar" : "string", ts);
    if (rc == 0 && r->type == PROMQL_TYPE_SCALAR) {
        output_format_value_fixed(r->v, v, sizeof v);
        rc = http_buf_printf(b, "\"%s\"", v);
    } else if (rc == 0) {
        rc = api_json_string(b, r->str ? r->str : "");
    }
    return rc ? rc : http_buf_append(b, "]}}", 3);
}

/* ---- jobs on the thread pool ---------------------------------------------- */

static void fail(struct http_response *res, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct http_response *res, const char *type, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    res->status = api_error_status(type);
    res->body.len = 0;
    api_render_error(&res->body, type, msg);
}


enum job_kind { JOB_QUERY, JOB_RANGE, JOB_SERIES, JOB_LABELS, JOB_VALUES };

struct job {
    uv_work_t work;
    struct api *api;
    struct tsdb *db;
    struct http_deferred *dfr;
    enum job_kind kind;
    char *query;
    int64_t t, start, end, step;
    struct promql_engine_opts opts;
    struct selector *sets;           /* match[] */
    size_t nsets;
    char *label;
    struct http_response res;
};

static void job_free(struct job *j)
{
    for (size_t i = 0; i < j->nsets; i++)
        selector_free(&j->sets[i]);
    free(j->sets);
    free(j->query);
    free(j->label);
    http_buf_free(&j->res.body);
    free(j);
}

static void job_error(struct job *j, const char *type, const char *msg)
{
    j->res.body.len = 0;
    j->res.status = api_error_status(type);
    api_render_error(&j->res.body, type, msg);
}

static void run_query(struct job *j, struct tsdb_snapshot *snap)
{
    struct promql_result *r = NULL;
    struct promql_eval_error err = {0};
    int rc = j->kind == JOB_QUERY
                 ? promql_eval_instant(snap, j->query, j->t, &j->opts, &r, &err)
                 : promql_eval_range(snap, j->query, j->start, j->end, j->step, &j->opts, &r,
                                     &err);
    if (rc == 0) {
        if (api_render_result(&j->res.body, r) != 0)
            job_error(j, "internal", "out of memory");
        promql_result_free(r);
        return;
    }
    char msg[600];
    switch (err.kind) {
    case PROMQL_ERR_BAD_DATA:
        snprintf(msg, sizeof msg, "invalid parameter \"query\": %s", err.msg);
        job_error(j, "bad_data", msg);
        break;
    case PROMQL_ERR_TIMEOUT:
        job_error(j, "timeout", err.msg);
        break;
    case PROMQL_ERR_NONE:
    case PROMQL_ERR_EXECUTION:
    case PROMQL_ERR_TOO_MANY_SAMPLES:
        job_error(j, "execution", err.msg);
        break;
    }
}

static int render_labels(struct http_buf *b, const struct tsdb_labels *ls)
{
    int rc = http_buf_append(b, "{", 1);
    for (size_t i = 0; rc == 0 && i < ls->len; i++) {
        if (i)
            rc = http_buf_append(b, ",", 1);
        if (rc == 0)
            rc = api_json_string(b, ls->v[i].name);
        if (rc == 0)
            rc = http_buf_append(b, ":", 1);
        if (rc == 0)
            rc = api_json_string(b, ls->v[i].value);
    }
    return rc ? rc : http_buf_append(b, "}", 1);
}

/* Answers {"status":"success","data":[...]} with the n items sorted by cmp
 * (a qsort comparator over the pointers in all), equal ones once, each
 * written by render. */
static int render_sorted_unique(struct http_buf *b, const void **all, size_t n,
                                int (*cmp)(const void *, const void *),
                                int (*render)(struct http_buf *, const void *))
{
    qsort(all, n, sizeof *all, cmp);
    int rc = http_buf_printf(b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0, out = 0; rc == 0 && i < n; i++) {
        if (i && cmp(&all[i - 1], &all[i]) == 0)
            continue;
        if (out++)
            rc = http_buf_append(b, ",", 1);
        if (rc == 0)
            rc = render(b, all[i]);
    }
    return rc ? rc : http_buf_append(b, "]}", 2);
}

static int render_labels_item(struct http_buf *b, const void *ls)
{
    return render_labels(b, ls);
}

/* The union of the match[] sets' series, sorted, without duplicates. */
static int run_series(struct job *j, struct tsdb_snapshot *snap)
{
    struct tsdb_series_set **sets = calloc(j->nsets + 1, sizeof *sets);
    const struct tsdb_labels **all = NULL;
    size_t n = 0;
    int rc = sets ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < j->nsets; i++) {
        rc = tsdb_select(snap, j->sets[i].matchers, j->sets[i].n, j->start, j->end, &sets[i]);
        if (rc == 0)
            n += tsdb_series_set_len(sets[i]);
    }
    if (rc == 0 && !(all = calloc(n + 1, sizeof *all)))
        rc = -ENOMEM;
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < j->nsets; i++)
            for (size_t s = 0; s < tsdb_series_set_len(sets[i]); s++)
                all[k++] = tsdb_series_set_labels(sets[i], s);
        rc = render_sorted_unique(&j->res.body, (const void **)all, n, output_labels_ptr_cmp,
                                  render_labels_item);
    }
    for (size_t i = 0; sets && i < j->nsets; i++)
        if (sets[i])
            tsdb_series_set_free(sets[i]);
    free(sets);
    free(all);
    return rc;
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int render_string_item(struct http_buf *b, const void *s)
{
    return api_json_string(b, s);
}

/* Label names (label NULL) or one label's values, over the match[] sets or
 * over everything. */
static int run_strings(struct job *j, struct tsdb_snapshot *snap)
{
    size_t nq = j->nsets ? j->nsets : 1;
    struct tsdb_strings *lists = calloc(nq, sizeof *lists);
    char **all = NULL;
    size_t n = 0;
    int rc = lists ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < nq; i++) {
        const struct tsdb_matcher *m = j->nsets ? j->sets[i].matchers : NULL;
        size_t nm = j->nsets ? j->sets[i].n : 0;
        rc = j->label ? tsdb_label_values(snap, j->label, m, nm, j->start, j->end, &lists[i])
                      : tsdb_label_names(snap, m, nm, j->start, j->end, &lists[i]);
        if (rc == 0)
            n += lists[i].len;
    }
    if (rc == 0 && !(all = calloc(n + 1, sizeof *all)))
        rc = -ENOMEM;
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < nq; i++)
            for (size_t s = 0; s < lists[i].len; s++)
                all[k++] = lists[i].v[s];
        rc = render_sorted_unique(&j->res.body, (const void **)all, n, str_cmp,
                                  render_string_item);
    }
    for (size_t i = 0; lists && i < nq; i++)
        tsdb_strings_free(&lists[i]);
    free(lists);
    free(all);
    return rc;
}

static void work_run(uv_work_t *w)
{
    struct job *j = w->data;
    struct tsdb_snapshot *snap;
    int rc = tsdb_snapshot_open(j->db, &snap);
    if (rc < 0) {
        job_error(j, "internal", tsdb_strerror(rc));
        return;
    }
    switch (j->kind) {
    case JOB_QUERY:
    case JOB_RANGE:
        run_query(j, snap);
        rc = 0;
        break;
    case JOB_SERIES:
        rc = run_series(j, snap);
        break;
    case JOB_LABELS:
    case JOB_VALUES:
        rc = run_strings(j, snap);
        break;
    }
    tsdb_snapshot_close(snap);
    if (rc < 0)
        job_error(j, "internal", tsdb_strerror(rc));
}

static void work_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    struct api *a = j->api;
    if (status < 0)
        job_error(j, "canceled", "query canceled");
    if (j->dfr)
        http_deferred_finish(j->dfr, &j->res);
    job_free(j);
    if (--a->inflight == 0 && a->idle_cb)
        a->idle_cb(a, a->idle_arg);
}

/* Queues j and defers res; on failure answers res synchronously. The job
 * cannot finish before the handler returns: work_done runs on the loop. */
static void job_start(struct job *j, struct http_response *res)
{
    j->res = (struct http_response){200, "application/json", {0}};
    j->work.data = j;
    int rc = uv_queue_work(j->api->loop, &j->work, work_run, work_done);
    if (rc) {
        fail(res, "internal", "%s", uv_strerror(rc));
        job_free(j);
        return;
    }
    j->api->inflight++;
    if (!(j->dfr = http_defer(res))) /* the job's answer will be dropped */
        fail(res, "internal", "out of memory");
}

/* ---- handlers ------------------------------------------------------------- */

/* A new job on the open store, or NULL after answering res. */
static struct job *job_new(struct api *a, enum job_kind kind, struct http_response *res)
{
    res->content_type = "application/json";
    if (!a->db) {
        fail(res, "unavailable", "TSDB not ready");
        return NULL;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        fail(res, "internal", "out of memory");
        return NULL;
    }
    j->api = a;
    j->db = a->db;
    j->kind = kind;
    j->opts = a->opts;
    return j;
}

/* Parses time parameter name (def when absent). @return 0, or -1 after
 * answering res. */
static int time_param(const struct api_form *f, const char *name, int64_t def, int64_t *ms,
                      struct http_response *res)
{
    char err[256];
    const char *s = api_form_get(f, name);
    if (!s || !*s) {
        *ms = def;
        return 0;
    }
    if (api_parse_time(s, ms, err, sizeof err) == 0)
        return 0;
    fail(res, "bad_data", "invalid parameter \"%s\": %s", name, err);
    return -1;
}

static int timeout_param(const struct api_form *f, struct job *j, struct http_response *res)
{
    char err[256];
    int64_t ms;
    const char *s = api_form_get(f, "timeout");
    if (!s || !*s)
        return 0;
    if (api_parse_duration(s, &ms, err, sizeof err) != 0) {
        fail(res, "bad_data", "invalid parameter \"timeout\": %s", err);
        return -1;
    }
    if (ms <= 0)
        ms = 1;
    if (j->opts.timeout_ms == 0 || ms < j->opts.timeout_ms)
        j->opts.timeout_ms = ms;
    return 0;
}

/* Parses every match[] into j->sets. @return 0, or -1 after answering. */
static int match_params(const struct api_form *f, struct job *j, struct http_response *res)
{
    for (size_t i = 0; i < f->len; i++) {
        if (strcmp(f->v[i].name, "match[]") != 0)
            continue;
        struct selector *ns = realloc(j->sets, (j->nsets + 1) * sizeof *ns);
        if (!ns) {
            fail(res, "internal", "out of memory");
            return -1;
        }
        j->sets = ns;
        struct selector_error err;
        int rc = selector_parse(f->v[i].value, &j->sets[j->nsets], &err);
        if (rc == 0 && j->sets[j->nsets].range_ms) {
            selector_free(&j->sets[j->nsets]);
            fail(res, "bad_data", "invalid parameter \"match[]\": 1:%zu: parse error: "
                 "unexpected \"[\" in series selector", strcspn(f->v[i].value, "[") + 1);
            return -1;
        }
        if (rc) {
            fail(res, rc == -ENOMEM ? "internal" : "bad_data",
                 "invalid parameter \"match[]\": 1:%u: parse error: %s", err.col, err.msg);
            return -1;
        }
        j->nsets++;
    }
    return 0;
}

static int read_form(const struct http_request *req, struct http_response *res,
                     struct api_form *f)
{
    if (api_form_parse(req, f) == 0)
        return 0;
    res->content_type = "application/json";
    fail(res, "internal", "out of memory");
    return -1;
}

static void handle_query(const struct http_request *req, struct http_response *res, void *arg)
{
    struct api_form f;
    struct job *j;
    if (read_form(req, res, &f) != 0 || !(j = job_new(arg, JOB_QUERY, res)))
        goto done;
    const char *q = api_form_get(&f, "query");
    if (time_param(&f, "time", timefmt_now_ms(), &j->t, res) != 0 ||
        timeout_param(&f, j, res) != 0 || !(j->query = strdup(q ? q : ""))) {
        if (res->status == 200)
            fail(res, "internal", "out of memory");
        job_free(j);
        goto done;
    }
    job_start(j, res);
done:
    api_form_free(&f);
}

/* Checks start, end and step of a range query into j. @return 0 or -1. */
static int range_params(const struct api_form *f, struct job *j, struct http_response *res)
{
    char err[256];
    const char *start = api_form_get(f, "start"), *end = api_form_get(f, "end");
    const char *step = api_form_get(f, "step");
    if (api_parse_time(start ? start : "", &j->start, err, sizeof err) != 0) {
        fail(res, "bad_data", "invalid parameter \"start\": %s", err);
        return -1;
    }
    if (api_parse_time(end ? end : "", &j->end, err, sizeof err) != 0) {
        fail(res, "bad_data", "invalid parameter \"end\": %s", err);
        return -1;
    }
    if (j->end < j->start) {
        fail(res, "bad_data", "invalid parameter \"end\": end timestamp must not be before "
                              "start time");
        return -1;
    }
    if (api_parse_duration(step ? step : "", &j->step, err, sizeof err) != 0) {
        fail(res, "bad_data", "invalid parameter \"step\": %s", err);
        return -1;
    }
    if (j->step <= 0) {
        fail(res, "bad_data", "invalid parameter \"step\": zero or negative query resolution "
                              "step widths are not accepted. Try a positive integer");
        return -1;
    }
    if ((j->end - j->start) / j->step > MAX_RANGE_POINTS) {
        fail(res, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries. "
                              "Try decreasing the query resolution (?step=XX)");
        return -1;
    }
    return 0;
}

static void handle_query_range(const struct http_request *req, struct http_response *res,
                               void *arg)
{
    struct api_form f;
    struct job *j;
    if (read_form(req, res, &f) != 0 || !(j = job_new(arg, JOB_RANGE, res)))
        goto done;
    const char *q = api_form_get(&f, "query");
    if (range_params(&f, j, res) != 0 || timeout_param(&f, j, res) != 0 ||
        !(j->query = strdup(q ? q : ""))) {
        if (res->status == 200)
            fail(res, "internal", "out of memory");
        job_free(j);
        goto done;
    }
    job_start(j, res);
done:
    api_form_free(&f);
}

/* series, labels and label values share start, end and match[]. */
static void handle_listing(const struct http_request *req, struct http_response *res,
                           struct api *a, enum job_kind kind, const char *label)
{
    struct api_form f;
    struct job *j;
    if (read_form(req, res, &f) != 0)
        return;
    if (kind == JOB_SERIES && f.bad[0]) {
        res->content_type = "application/json";
        fail(res, "bad_data", "error parsing form values: %s", f.bad);
        goto done;
    }
    if (kind == JOB_SERIES && !api_form_get(&f, "match[]")) {
        res->content_type = "application/json";
        fail(res, "bad_data", "no match[] parameter provided");
        goto done;
    }
    if (!(j = job_new(a, kind, res)))
        goto done;
    if (time_param(&f, "start", MIN_TIME_MS, &j->start, res) != 0 ||
        time_param(&f, "end", MAX_TIME_MS, &j->end, res) != 0 || match_params(&f, j, res) != 0 ||
        (label && !(j->label = strdup(label)))) {
        if (res->status == 200)
            fail(res, "internal", "out of memory");
        job_free(j);
        goto done;
    }
    job_start(j, res);
done:
    api_form_free(&f);
}

static void handle_series(const struct http_request *req, struct http_response *res, void *arg)
{
    handle_listing(req, res, arg, JOB_SERIES, NULL);
}

static void handle_labels(const struct http_request *req, struct http_response *res, void *arg)
{
    handle_listing(req, res, arg, JOB_LABELS, NULL);
}

/* /api/v1/label/<name>/values */
static void handle_label_values(const struct http_request *req, struct http_response *res,
                                void *arg)
{
    const char *p = req->path + strlen("/api/v1/label/");
    size_t n = strlen(p), suffix = strlen("/values");
    res->content_type = "application/json";
    if (n <= suffix || strcmp(p + n - suffix, "/values") != 0 ||
        memchr(p, '/', n - suffix) != NULL) {
        res->status = 404;
        api_render_error(&res->body, "not_found", "unknown API endpoint");
        return;
    }
    int bad = 0;
    char *name = unescape(p, n - suffix, &bad);
    if (!name) {
        fail(res, bad ? "bad_data" : "internal", bad ? "invalid label name" : "out of memory");
        return;
    }
    if (!tsdb_label_name_valid(name))
        fail(res, "bad_data", "invalid label name: \"%s\"", name);
    else
        handle_listing(req, res, arg, JOB_VALUES, name);
    free(name);
}

static void handle_metadata(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    res->content_type = "application/json";
    http_buf_printf(&res->body, "{\"status\":\"success\",\"data\":{}}");
}

static void handle_buildinfo(const struct http_request *req, struct http_response *res,
                             void *arg)
{
    (void)req;
    struct api *a = arg;
    res->content_type = "application/json";
    http_buf_printf(&res->body, "{\"status\":\"success\",\"data\":{\"version\":");
    api_json_string(&res->body, a->version);
    http_buf_printf(&res->body, ",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\","
                                "\"buildDate\":\"\",\"goVersion\":\"\"}}");
}

static void handle_unknown(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    res->content_type = "application/json";
    res->status = 404;
    api_render_error(&res->body, "not_found", "unknown API endpoint");
}

void api_init(struct api *a, uv_loop_t *loop, const char *version)
{
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->version = version;
    promql_engine_opts_default(&a->opts);
}

int api_register(struct api *a, struct http_router *r)
{
    unsigned get = HTTP_METHOD_BIT(HTTP_GET), both = get | HTTP_METHOD_BIT(HTTP_POST);
    int rc = http_router_add(r, "/api/v1/query", both, handle_query, a);
    if (rc == 0)
        rc = http_router_add(r, "/api/v1/query_range", both, handle_query_range, a);
    if (rc == 0)
        rc = http_router_add(r, "/api/v1/series", both, handle_series, a);
    if (rc == 0)
        rc = http_router_add(r, "/api/v1/labels", both, handle_labels, a);
    if (rc == 0)
        rc = http_router_add(r, "/api/v1/label/*", get, handle_label_values, a);
    if (rc == 0)
        rc = http_router_add(r, "/api/v1/metadata", get, handle_metadata, a);
    if (rc == 0)
        rc = http_router_add(r, "/api/v1/status/buildinfo", get, handle_buildinfo, a);
    if (rc == 0)
        rc = http_router_add(r, "/api/v1/*", get | HTTP_METHOD_BIT(HTTP_POST) |
                                                 HTTP_METHOD_BIT(HTTP_PUT) |
                                                 HTTP_METHOD_BIT(HTTP_DELETE),
                             handle_unknown, a);
    return rc;
}
