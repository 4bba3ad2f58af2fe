/* promql_funcs.c — the PromQL function library over floats: counters
 * (rate, irate, increase, delta, idelta with Prometheus' extrapolation),
 * regression (deriv, predict_linear), *_over_time, histogram_quantile over
 * classic buckets, label_replace/label_join, sorting, date, math and trig
 * functions, absent*, vector, scalar, timestamp, time and friends.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promql_eval_int.h"

typedef struct pe_val (*func_fn)(struct pe_ctx *c, const struct promql_node *n, int64_t t);

static const struct promql_node *arg(const struct promql_node *n, size_t i)
{
    return n->call.args[i];
}

static double scalar_arg(struct pe_ctx *c, const struct promql_node *n, size_t i, int64_t t)
{
    return pe_eval(c, arg(n, i), t).f;
}

static struct pe_val empty_vector(void)
{
    struct pe_val v = {.type = PROMQL_TYPE_VECTOR};
    return v;
}

static struct pe_val scalar(double f)
{
    struct pe_val v = {.type = PROMQL_TYPE_SCALAR, .f = f};
    return v;
}

static double go_max(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    return a > b ? a : b;
}

static double go_min(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    return a < b ? a : b;
}

static void kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (isinf(t))
        *c = 0;
    else if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* ---- range-vector functions ---------------------------------------------- */

/* Range and reference time of a matrix argument (selector or subquery). */
static void matrix_window(struct pe_ctx *c, const struct promql_node *m, int64_t t,
                          int64_t *range_ms, int64_t *ref)
{
    m = pe_unparen(m);
    const struct promql_modifiers *mod;
    if (m->kind == PROMQL_MATRIX_SELECTOR) {
        *range_ms = m->matrix.range_ms;
        mod = &m->matrix.vs->vs.mod;
    } else {
        *range_ms = m->subquery.range_ms;
        mod = &m->subquery.mod;
    }
    int64_t at = t;
    switch (mod->at) {
    case PROMQL_AT_NONE:
        break;
    case PROMQL_AT_TIME:
        at = mod->at_ms;
        break;
    case PROMQL_AT_START:
        at = c->start;
        break;
    case PROMQL_AT_END:
        at = c->end;
        break;
    }
    *ref = at - mod->offset_ms;
}

struct rctx {
    struct pe_ctx *c;
    const struct promql_node *n;
    int64_t t, range_ms, ref;
    double param, param2;
};

/* Computes one series' value. @return 0 to emit nothing. */
typedef int (*range_fn)(struct rctx *r, const struct pe_series *s, double *out);

static struct pe_val over_range(struct pe_ctx *c, const struct promql_node *n, int64_t t,
                                size_t matrix_arg, range_fn fn, int keep_name, double param,
                                double param2)
{
    struct rctx r = {c, n, t, 0, 0, param, param2};
    matrix_window(c, arg(n, matrix_arg), t, &r.range_ms, &r.ref);
    struct pe_val m = pe_eval(c, arg(n, matrix_arg), t);
    struct pe_val out = empty_vector();
    for (size_t i = 0; i < m.mat.n; i++) {
        const struct pe_series *s = &m.mat.v[i];
        double v;
        if (!s->n || !fn(&r, s, &v))
            continue;
        int drop = keep_name ? s->drop_name : 1;
        pe_vec_push(c, &out.vec, (struct pe_sample){s->ls, t, v, drop});
    }
    return out;
}

/* Prometheus' extrapolatedRate. */
static int extrapolate(struct rctx *r, const struct pe_series *s, double *out, int counter,
                       int rate)
{
    if (s->n < 2)
        return 0;
    const struct promql_point *p = s->p;
    size_t n = s->n;
    double result = p[n - 1].v - p[0].v;
    if (counter) {
        double prev = p[0].v;
        for (size_t i = 1; i < n; i++) {
            if (p[i].v < prev)
                result += prev;
            prev = p[i].v;
        }
    }
    int64_t range_start = r->ref - r->range_ms, range_end = r->ref;
    double to_start = (double)(p[0].t - range_start) / 1000;
    double to_end = (double)(range_end - p[n - 1].t) / 1000;
    double sampled = (double)(p[n - 1].t - p[0].t) / 1000;
    double avg = sampled / (double)(n - 1);
    double threshold = avg * 1.1;
    double interval = sampled;
    if (to_start >= threshold)
        to_start = avg / 2;
    if (counter && result > 0 && p[0].v >= 0) {
        double to_zero = sampled * (p[0].v / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    interval += to_start;
    if (to_end >= threshold)
        to_end = avg / 2;
    interval += to_end;
    double factor = interval / sampled;
    if (rate)
        factor /= (double)r->range_ms / 1000;
    *out = result * factor;
    return 1;
}

static int fn_rate(struct rctx *r, const struct pe_series *s, double *out)
{
    return extrapolate(r, s, out, 1, 1);
}

static int fn_increase(struct rctx *r, const struct pe_series *s, double *out)
{
    return extrapolate(r, s, out, 1, 0);
}

static int fn_delta(struct rctx *r, const struct pe_series *s, double *out)
{
    return extrapolate(r, s, out, 0, 0);
}

static int instant_value(const struct pe_series *s, double *out, int rate)
{
    if (s->n < 2)
        return 0;
    const struct promql_point *last = &s->p[s->n - 1], *prev = &s->p[s->n - 2];
    double v = rate && last->v < prev->v ? last->v : last->v - prev->v;
    int64_t dt = last->t - prev->t;
    if (dt == 0)
        return 0;
    if (rate)
        v /= (double)dt / 1000;
    *out = v;
    return 1;
}

static int fn_irate(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    return instant_value(s, out, 1);
}

static int fn_idelta(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    return instant_value(s, out, 0);
}

static void linear_regression(const struct pe_series *s, int64_t intercept_t, double *slope,
                              double *intercept)
{
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init = s->p[0].v;
    int const_y = 1;
    for (size_t i = 0; i < s->n; i++) {
        double y = s->p[i].v;
        if (const_y && i > 0 && y != init)
            const_y = 0;
        n += 1;
        double x = (double)(s->p[i].t - intercept_t) / 1e3;
        kahan_inc(x, &sx, &cx);
        kahan_inc(y, &sy, &cy);
        kahan_inc(x * y, &sxy, &cxy);
        kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        *slope = isinf(init) ? NAN : 0;
        *intercept = isinf(init) ? NAN : init;
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / n, var = sx2 - sx * sx / n;
    *slope = cov / var;
    *intercept = sy / n - *slope * sx / n;
}

static int fn_deriv(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    if (s->n < 2)
        return 0;
    double slope, icpt;
    linear_regression(s, s->p[0].t, &slope, &icpt);
    *out = slope;
    return 1;
}

static int fn_predict_linear(struct rctx *r, const struct pe_series *s, double *out)
{
    if (s->n < 2)
        return 0;
    double slope, icpt;
    linear_regression(s, r->t, &slope, &icpt);
    *out = icpt + slope * r->param;
    return 1;
}

static int fn_resets(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    double n = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->p[i].v < s->p[i - 1].v)
            n++;
    *out = n;
    return 1;
}

static int fn_changes(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    double n = 0;
    for (size_t i = 1; i < s->n; i++) {
        double a = s->p[i - 1].v, b = s->p[i].v;
        if (!(a == b || (isnan(a) && isnan(b))))
            n++;
    }
    *out = n;
    return 1;
}

static int fn_avg_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    double sum = 0, mean = 0, count = 0, kc = 0;
    int incremental = 0;
    for (size_t i = 0; i < s->n; i++) {
        double f = s->p[i].v;
        count++;
        if (!incremental) {
            double ns = sum, nc = kc;
            kahan_inc(f, &ns, &nc);
            if (count == 1 || !isinf(ns)) {
                sum = ns;
                kc = nc;
                continue;
            }
            incremental = 1;
            mean = sum / (count - 1);
            kc /= count - 1;
        }
        if (isinf(mean)) {
            if (isinf(f) && (mean > 0) == (f > 0))
                continue;
            if (!isinf(f) && !isnan(f))
                continue;
        }
        double corrected = mean + kc;
        kahan_inc(f / count - corrected / count, &mean, &kc);
    }
    *out = incremental ? mean + kc : (sum + kc) / count;
    return 1;
}

static int fn_sum_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    double sum = 0, kc = 0;
    for (size_t i = 0; i < s->n; i++)
        kahan_inc(s->p[i].v, &sum, &kc);
    *out = sum + kc;
    return 1;
}

static int fn_count_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    *out = (double)s->n;
    return 1;
}

static int fn_present_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    (void)s;
    *out = 1;
    return 1;
}

static int fn_min_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    double m = s->p[0].v;
    for (size_t i = 1; i < s->n; i++)
        if (m > s->p[i].v || isnan(m))
            m = s->p[i].v;
    *out = m;
    return 1;
}

static int fn_max_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    double m = s->p[0].v;
    for (size_t i = 1; i < s->n; i++)
        if (m < s->p[i].v || isnan(m))
            m = s->p[i].v;
    *out = m;
    return 1;
}

static int fn_last_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    *out = s->p[s->n - 1].v;
    return 1;
}

static int fn_first_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    *out = s->p[0].v;
    return 1;
}

static int fn_ts_of_last(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    *out = (double)s->p[s->n - 1].t / 1000;
    return 1;
}

static int fn_ts_of_first(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    *out = (double)s->p[0].t / 1000;
    return 1;
}

static int fn_ts_of_max(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    size_t best = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->p[i].v >= s->p[best].v || isnan(s->p[best].v))
            best = i;
    *out = (double)s->p[best].t / 1000;
    return 1;
}

static int fn_ts_of_min(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    size_t best = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->p[i].v <= s->p[best].v || isnan(s->p[best].v))
            best = i;
    *out = (double)s->p[best].t / 1000;
    return 1;
}

static double variance(const struct pe_series *s)
{
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < s->n; i++) {
        double f = s->p[i].v;
        count++;
        double delta = f - (mean + cmean);
        kahan_inc(delta / count, &mean, &cmean);
        kahan_inc(delta * (f - (mean + cmean)), &aux, &caux);
    }
    return (aux + caux) / count;
}

static int fn_stdvar_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    *out = variance(s);
    return 1;
}

static int fn_stddev_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    (void)r;
    *out = sqrt(variance(s));
    return 1;
}

static double *values(struct pe_ctx *c, const struct pe_series *s)
{
    double *v = pe_alloc(c, (s->n + 1) * sizeof(*v));
    for (size_t i = 0; i < s->n; i++)
        v[i] = s->p[i].v;
    return v;
}

static int fn_quantile_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    *out = pe_quantile(r->param, values(r->c, s), s->n);
    return 1;
}

static int fn_mad_over_time(struct rctx *r, const struct pe_series *s, double *out)
{
    double *v = values(r->c, s);
    for (size_t i = 0; i < s->n; i++) {
        if (isnan(v[i])) {
            *out = NAN;
            return 1;
        }
    }
    double med = pe_quantile(0.5, v, s->n);
    for (size_t i = 0; i < s->n; i++)
        v[i] = fabs(v[i] - med);
    *out = pe_quantile(0.5, v, s->n);
    return 1;
}

static int fn_double_exp(struct rctx *r, const struct pe_series *s, double *out)
{
    double sf = r->param, tf = r->param2;
    if (s->n < 2)
        return 0;
    double s0 = 0, s1 = s->p[0].v, b = s->p[1].v - s->p[0].v;
    for (size_t i = 1; i < s->n; i++) {
        double x = sf * s->p[i].v;
        if (i > 1)
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return 1;
}

/* ---- function table ------------------------------------------------------ */

struct range_entry {
    const char *name;
    range_fn fn;
    int keep_name;
};

static const struct range_entry range_funcs[] = {
    {"rate", fn_rate, 0},
    {"increase", fn_increase, 0},
    {"delta", fn_delta, 0},
    {"irate", fn_irate, 0},
    {"idelta", fn_idelta, 0},
    {"deriv", fn_deriv, 0},
    {"resets", fn_resets, 0},
    {"changes", fn_changes, 0},
    {"avg_over_time", fn_avg_over_time, 0},
    {"sum_over_time", fn_sum_over_time, 0},
    {"count_over_time", fn_count_over_time, 0},
    {"present_over_time", fn_present_over_time, 0},
    {"min_over_time", fn_min_over_time, 0},
    {"max_over_time", fn_max_over_time, 0},
    {"last_over_time", fn_last_over_time, 1},
    {"first_over_time", fn_first_over_time, 1},
    {"ts_of_last_over_time", fn_ts_of_last, 0},
    {"ts_of_first_over_time", fn_ts_of_first, 0},
    {"ts_of_max_over_time", fn_ts_of_max, 0},
    {"ts_of_min_over_time", fn_ts_of_min, 0},
    {"stdvar_over_time", fn_stdvar_over_time, 0},
    {"stddev_over_time", fn_stddev_over_time, 0},
    {"mad_over_time", fn_mad_over_time, 0},
};

static int is_counter_name(const char *name)
{
    static const char *suffixes[] = {"_total", "_sum", "_count", "_bucket"};
    size_t n = strlen(name);
    for (size_t i = 0; i < 4; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && !strcmp(name + n - k, suffixes[i]))
            return 1;
    }
    return 0;
}

static struct pe_val call_range(struct pe_ctx *c, const struct promql_node *n, int64_t t,
                                const struct range_entry *e)
{
    struct pe_val out = over_range(c, n, t, 0, e->fn, e->keep_name, 0, 0);
    if (e->fn == fn_rate || e->fn == fn_increase) {
        const char *noted = NULL; /* series of one name come in a row: one
                                     note (formatted, then deduplicated) per run */
        for (size_t i = 0; i < out.vec.n; i++) {
            const char *name = pe_lset_get(&out.vec.v[i].ls, "__name__");
            if (noted && strcmp(name, noted) == 0)
                continue;
            noted = name;
            if (*name && !is_counter_name(name))
                pe_info(c, arg(n, 0),
                        "metric might not be a counter, name does not end in "
                        "_total/_sum/_count/_bucket: \"%s\"",
                        name);
        }
    }
    return out;
}

/* ---- instant-vector math ------------------------------------------------- */

typedef double (*math_fn)(double);

static double f_sgn(double x)
{
    return x > 0 ? 1 : x < 0 ? -1 : x;
}
static double f_deg(double x)
{
    return x * 180 / M_PI;
}
static double f_rad(double x)
{
    return x * M_PI / 180;
}
static double f_ln(double x)
{
    return log(x);
}

struct math_entry {
    const char *name;
    math_fn fn;
};

static const struct math_entry math_funcs[] = {
    {"abs", fabs},   {"ceil", ceil},   {"floor", floor}, {"exp", exp},     {"sqrt", sqrt},
    {"ln", f_ln},    {"log2", log2},   {"log10", log10}, {"sin", sin},     {"cos", cos},
    {"tan", tan},    {"asin", asin},   {"acos", acos},   {"atan", atan},   {"sinh", sinh},
    {"cosh", cosh},  {"tanh", tanh},   {"asinh", asinh}, {"acosh", acosh}, {"atanh", atanh},
    {"deg", f_deg},  {"rad", f_rad},   {"sgn", f_sgn},
};

static struct pe_val map_vector(struct pe_ctx *c, struct pe_val v, math_fn fn)
{
    for (size_t i = 0; i < v.vec.n; i++) {
        v.vec.v[i].v = fn(v.vec.v[i].v);
        v.vec.v[i].drop_name = 1;
    }
    (void)c;
    return v;
}

static struct pe_val f_round(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    double to = n->call.nargs > 1 ? scalar_arg(c, n, 1, t) : 1;
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    double inv = 1.0 / to;
    for (size_t i = 0; i < v.vec.n; i++) {
        v.vec.v[i].v = floor(v.vec.v[i].v * inv + 0.5) / inv;
        v.vec.v[i].drop_name = 1;
    }
    return v;
}

static struct pe_val clamp_vec(struct pe_ctx *c, const struct promql_node *n, int64_t t,
                               double lo, double hi)
{
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    if (hi < lo)
        return empty_vector();
    for (size_t i = 0; i < v.vec.n; i++) {
        v.vec.v[i].v = go_max(lo, go_min(hi, v.vec.v[i].v));
        v.vec.v[i].drop_name = 1;
    }
    return v;
}

static struct pe_val f_clamp(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    return clamp_vec(c, n, t, scalar_arg(c, n, 1, t), scalar_arg(c, n, 2, t));
}

static struct pe_val f_clamp_min(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    double lo = scalar_arg(c, n, 1, t);
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    for (size_t i = 0; i < v.vec.n; i++) {
        v.vec.v[i].v = go_max(lo, v.vec.v[i].v);
        v.vec.v[i].drop_name = 1;
    }
    return v;
}

static struct pe_val f_clamp_max(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    double hi = scalar_arg(c, n, 1, t);
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    for (size_t i = 0; i < v.vec.n; i++) {
        v.vec.v[i].v = go_min(hi, v.vec.v[i].v);
        v.vec.v[i].drop_name = 1;
    }
    return v;
}

/* ---- time and date ------------------------------------------------------- */

static struct pe_val date_func(struct pe_ctx *c, const struct promql_node *n, int64_t t,
                               double (*fn)(const struct tm *tm))
{
    struct pe_val v;
    if (n->call.nargs == 0) {
        v = empty_vector();
        pe_vec_push(c, &v.vec, (struct pe_sample){{0, NULL}, t, (double)t / 1000, 0});
    } else {
        v = pe_eval(c, arg(n, 0), t);
    }
    for (size_t i = 0; i < v.vec.n; i++) {
        double f = v.vec.v[i].v;
        v.vec.v[i].drop_name = 1;
        if (isnan(f) || isinf(f)) {
            v.vec.v[i].v = NAN;
            continue;
        }
        time_t secs = (time_t)f;
        struct tm tm;
        gmtime_r(&secs, &tm);
        v.vec.v[i].v = fn(&tm);
    }
    return v;
}

static double d_year(const struct tm *tm)
{
    return tm->tm_year + 1900;
}
static double d_month(const struct tm *tm)
{
    return tm->tm_mon + 1;
}
static double d_day_of_month(const struct tm *tm)
{
    return tm->tm_mday;
}
static double d_day_of_week(const struct tm *tm)
{
    return tm->tm_wday;
}
static double d_day_of_year(const struct tm *tm)
{
    return tm->tm_yday + 1;
}
static double d_hour(const struct tm *tm)
{
    return tm->tm_hour;
}
static double d_minute(const struct tm *tm)
{
    return tm->tm_min;
}
static double d_days_in_month(const struct tm *tm)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = tm->tm_year + 1900;
    if (tm->tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[tm->tm_mon];
}

struct date_entry {
    const char *name;
    double (*fn)(const struct tm *tm);
};

static const struct date_entry date_funcs[] = {
    {"year", d_year},
    {"month", d_month},
    {"day_of_month", d_day_of_month},
    {"day_of_week", d_day_of_week},
    {"day_of_year", d_day_of_year},
    {"hour", d_hour},
    {"minute", d_minute},
    {"days_in_month", d_days_in_month},
};

/* ---- labels ----------------------------------------------------------- */

/* Go's %q of s, enough for label names in messages. */
const char *pe_go_quote(struct pe_ctx *c, const char *s)
{
    size_t n = strlen(s);
    char *out = pe_alloc(c, 4 * n + 3), *o = out;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        size_t len = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
        if (ch >= 0x80 && i + len <= n && tsdb_utf8_valid(s + i, len)) {
            memcpy(o, s + i, len);
            o += len;
            i += len - 1;
        } else if (ch >= 0x80 || ch < 0x20) {
            o += sprintf(o, "\\x%02x", ch);
        } else {
            if (ch == '"' || ch == '\\')
                *o++ = '\\';
            *o++ = (char)ch;
        }
    }
    *o++ = '"';
    *o = 0;
    return out;
}

/* Expands Go regexp template tmpl ($1, ${1}, $name, $$) with the match. */
static const char *expand(struct pe_ctx *c, const char *tmpl, pcre2_code *re,
                          pcre2_match_data *md, const char *subject)
{
    size_t cap = 64, len = 0;
    char *out = pe_alloc(c, cap);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t ngroups = pcre2_get_ovector_count(md);
    for (const char *p = tmpl; *p;) {
        const char *piece = p;
        size_t plen = 1;
        char name[128];
        int is_ref = 0;
        if (*p == '$' && p[1] == '$') {
            p += 2;
        } else if (*p == '$' && p[1] == '{') {
            const char *e = strchr(p + 2, '}');
            size_t nl = e ? (size_t)(e - p - 2) : 0;
            if (e && nl > 0 && nl < sizeof(name)) {
                memcpy(name, p + 2, nl);
                name[nl] = 0;
                is_ref = 1;
                p = e + 1;
            } else {
                p++;
            }
        } else if (*p == '$') {
            size_t nl = 0;
            while ((p[1 + nl] == '_' || (p[1 + nl] >= '0' && p[1 + nl] <= '9') ||
                    (p[1 + nl] >= 'a' && p[1 + nl] <= 'z') ||
                    (p[1 + nl] >= 'A' && p[1 + nl] <= 'Z')) &&
                   nl < sizeof(name) - 1) {
                name[nl] = p[1 + nl];
                nl++;
            }
            name[nl] = 0;
            if (nl) {
                is_ref = 1;
                p += 1 + nl;
            } else {
                p++;
            }
        } else {
            p++;
        }
        if (is_ref) {
            int num = -1;
            char *end;
            long k = strtol(name, &end, 10);
            if (!*end)
                num = (int)k;
            else
                num = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
            piece = "";
            plen = 0;
            if (num >= 0 && (uint32_t)num < ngroups && ov[2 * num] != PCRE2_UNSET) {
                piece = subject + ov[2 * num];
                plen = ov[2 * num + 1] - ov[2 * num];
            }
        }
        if (len + plen + 1 > cap) {
            size_t ncap = (len + plen + 1) * 2;
            char *big = pe_alloc(c, ncap);
            memcpy(big, out, len);
            out = big;
            cap = ncap;
        }
        memcpy(out + len, piece, plen);
        len += plen;
    }
    out[len] = 0;
    return out;
}

static struct pe_val f_label_replace(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    const char *dst = pe_eval(c, arg(n, 1), t).str, *repl = pe_eval(c, arg(n, 2), t).str;
    const char *src = pe_eval(c, arg(n, 3), t).str, *regex = pe_eval(c, arg(n, 4), t).str;
    char *anchored = pe_printf(c, "^(?:%s)$", regex);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)anchored, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_DOTALL, &ec, &eo, NULL);
    if (!re)
        pe_fail(c, PROMQL_ERR_EXECUTION, "invalid regular expression in label_replace(): %s",
                regex);
    if (!tsdb_label_name_valid(dst)) {
        pcre2_code_free(re);
        pe_fail(c, PROMQL_ERR_EXECUTION, "invalid destination label name in label_replace(): %s",
                dst);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    for (size_t i = 0; i < v.vec.n; i++) {
        struct pe_sample *s = &v.vec.v[i];
        const char *sv = pe_lset_get(&s->ls, src);
        if (pcre2_match(re, (PCRE2_SPTR)sv, strlen(sv), 0, 0, md, NULL) < 0)
            continue;
        const char *res = expand(c, repl, re, md, sv);
        s->ls = pe_lset_set(c, s->ls, dst, res);
        if (!strcmp(dst, "__name__"))
            s->drop_name = 0;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return v;
}

static struct pe_val f_label_join(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    const char *dst = pe_eval(c, arg(n, 1), t).str, *sep = pe_eval(c, arg(n, 2), t).str;
    size_t nsrc = n->call.nargs - 3;
    const char **src = pe_alloc(c, (nsrc + 1) * sizeof(*src));
    for (size_t i = 0; i < nsrc; i++) {
        src[i] = pe_eval(c, arg(n, 3 + i), t).str;
        if (!tsdb_label_name_valid(src[i]))
            pe_fail(c, PROMQL_ERR_EXECUTION, "invalid source label name in label_join(): %s",
                    src[i]);
    }
    if (!tsdb_label_name_valid(dst))
        pe_fail(c, PROMQL_ERR_EXECUTION, "invalid destination label name in label_join(): %s", dst);
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    for (size_t i = 0; i < v.vec.n; i++) {
        struct pe_sample *s = &v.vec.v[i];
        size_t len = 1;
        for (size_t j = 0; j < nsrc; j++)
            len += strlen(pe_lset_get(&s->ls, src[j])) + strlen(sep);
        char *joined = pe_alloc(c, len);
        for (size_t j = 0; j < nsrc; j++) {
            if (j)
                strcat(joined, sep);
            strcat(joined, pe_lset_get(&s->ls, src[j]));
        }
        s->ls = pe_lset_set(c, s->ls, dst, joined);
        if (!strcmp(dst, "__name__"))
            s->drop_name = 0;
    }
    return v;
}

/* ---- sorting ----------------------------------------------------------- */

/* How sort*() orders: passed to the comparators (no globals: queries run
 * concurrently on the agent's worker pool). */
struct sort_spec {
    int desc;
    const char **labels;
    size_t nlabels;
};

static int cmp_value(const struct sort_spec *sp, const struct pe_sample *a,
                     const struct pe_sample *b)
{
    if (isnan(a->v))
        return isnan(b->v) ? 0 : 1;
    if (isnan(b->v))
        return -1;
    int r = a->v < b->v ? -1 : a->v > b->v;
    return sp->desc ? -r : r;
}

/* Natural order: digit runs compare as numbers. */
static int natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *ea = a, *eb = b;
            while (*a == '0' && a[1] >= '0' && a[1] <= '9')
                a++;
            while (*b == '0' && b[1] >= '0' && b[1] <= '9')
                b++;
            ea = a;
            eb = b;
            while (*ea >= '0' && *ea <= '9')
                ea++;
            while (*eb >= '0' && *eb <= '9')
                eb++;
            if (ea - a != eb - b)
                return ea - a < eb - b ? -1 : 1;
            int r = strncmp(a, b, (size_t)(ea - a));
            if (r)
                return r;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int cmp_labels(const struct sort_spec *sp, const struct pe_sample *a,
                      const struct pe_sample *b)
{
    int r = 0;
    for (size_t i = 0; i < sp->nlabels && !r; i++) {
        const char *x = pe_lset_get(&a->ls, sp->labels[i]), *y = pe_lset_get(&b->ls, sp->labels[i]);
        if (strcmp(x, y))
            r = natcmp(x, y);
    }
    if (!r)
        r = pe_lset_cmp(&a->ls, &b->ls);
    return sp->desc ? -r : r;
}

static void stable_sort(struct pe_vec *v, const struct sort_spec *sp,
                        int (*cmp)(const struct sort_spec *, const struct pe_sample *,
                                   const struct pe_sample *))
{
    for (size_t i = 1; i < v->n; i++) {
        struct pe_sample x = v->v[i];
        size_t j = i;
        while (j > 0 && cmp(sp, &v->v[j - 1], &x) > 0) {
            v->v[j] = v->v[j - 1];
            j--;
        }
        v->v[j] = x;
    }
}

static struct pe_val f_sort_any(struct pe_ctx *c, const struct promql_node *n, int64_t t,
                                int desc, int by_label)
{
    if (c->is_range)
        pe_warn(c, n, "sort is ineffective for range queries since results are always "
                      "ordered by labels");
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    struct sort_spec sp = {desc, NULL, 0};
    if (by_label) {
        sp.nlabels = n->call.nargs - 1;
        sp.labels = pe_alloc(c, (sp.nlabels + 1) * sizeof(*sp.labels));
        for (size_t i = 0; i < sp.nlabels; i++)
            sp.labels[i] = pe_eval(c, arg(n, 1 + i), t).str;
        stable_sort(&v.vec, &sp, cmp_labels);
    } else {
        stable_sort(&v.vec, &sp, cmp_value);
    }
    return v;
}

/* ---- histogram_quantile -------------------------------------------------- */

struct bucket {
    double le, count;
};

static int cmp_bucket(const void *a, const void *b)
{
    double x = ((const struct bucket *)a)->le, y = ((const struct bucket *)b)->le;
    return x < y ? -1 : x > y;
}

static int almost_equal(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if (a == b)
        return 1;
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(abs_sum, 1.79769313486231570814527423731704357e+308) < eps;
}

static double bucket_quantile(double q, struct bucket *b, size_t n, int *forced)
{
    *forced = 0;
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(b, n, sizeof(*b), cmp_bucket);
    if (!n || !(isinf(b[n - 1].le) && b[n - 1].le > 0))
        return NAN;
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (b[i].le == b[k].le)
            b[k].count += b[i].count;
        else
            b[++k] = b[i];
    }
    n = k + 1;
    double prev = b[0].count;
    for (size_t i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev)
            continue;
        if (almost_equal(prev, cur, 1e-12)) {
            b[i].count = prev;
            continue;
        }
        if (cur < prev) {
            b[i].count = prev;
            *forced = 1;
            continue;
        }
        prev = cur;
    }
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    size_t i = 0;
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].le;
    if (i == 0 && b[0].le <= 0)
        return b[0].le;
    double start = 0, end = b[i].le, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].le;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* The q label of histogram_quantiles: the shortest decimal, "0.0" for 0. */
static const char *quantile_label(struct pe_ctx *c, double q)
{
    if (isnan(q))
        return "NaN";
    if (isinf(q))
        return q > 0 ? "+Inf" : "-Inf";
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, q);
        if (strtod(buf, NULL) == q)
            break;
    }
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
    return pe_strdup(c, buf);
}

static void warn_quantile(struct pe_ctx *c, const struct promql_node *at, double q)
{
    if (isnan(q) || q < 0 || q > 1)
        pe_warn(c, at, "quantile value should be between 0 and 1, got %s",
                isnan(q) ? "NaN" : pe_printf(c, "%g", q));
}

/* histogram_quantile(q, v) (qlabel NULL) and histogram_quantiles(v,
 * qlabel, q...) over classic buckets. */
static struct pe_val bucket_quantiles(struct pe_ctx *c, const struct promql_node *n, int64_t t,
                                      const struct promql_node *vec_arg, const char *qlabel,
                                      const double *qs, size_t nq)
{
    struct pe_val in = pe_eval(c, vec_arg, t);
    struct pe_val out = empty_vector();
    struct pe_map map;
    pe_map_init(c, &map, in.vec.n);
    struct {
        struct pe_lset ls;
        struct bucket *b;
        size_t n;
        const char *name;
    } *groups = pe_alloc(c, (in.vec.n + 1) * sizeof(*groups));
    size_t ngroups = 0;
    static const char *le_name = "le";
    struct promql_labels le = {(char **)&le_name, 1};
    for (size_t i = 0; i < in.vec.n; i++) {
        const struct pe_sample *s = &in.vec.v[i];
        const char *lev = pe_lset_get(&s->ls, "le");
        char *end;
        double bound = strtod(lev, &end);
        if (!*lev || *end) {
            pe_warn(c, vec_arg,
                    "bucket label \"le\" is missing or has a malformed value of \"%s\" for "
                    "metric name \"%s\"",
                    lev, pe_lset_get(&s->ls, "__name__"));
            continue;
        }
        size_t len, gi;
        const char *k = pe_lset_key(c, &s->ls, &le, 0, 0, &len);
        if (!pe_map_get(&map, k, len, &gi)) {
            gi = ngroups++;
            pe_map_put(c, &map, k, len, gi);
            groups[gi].ls = pe_lset_filter(c, s->ls, &le, 0);
            groups[gi].b = pe_alloc(c, (in.vec.n + 1) * sizeof(struct bucket));
            groups[gi].name = pe_lset_get(&s->ls, "__name__");
        }
        groups[gi].b[groups[gi].n++] = (struct bucket){bound, s->v};
    }
    (void)n;
    struct bucket *scratch = pe_alloc(c, (in.vec.n + 1) * sizeof(*scratch));
    for (size_t i = 0; i < ngroups; i++) {
        for (size_t j = 0; j < nq; j++) {
            int forced;
            memcpy(scratch, groups[i].b, groups[i].n * sizeof(*scratch));
            double v = bucket_quantile(qs[j], scratch, groups[i].n, &forced);
            if (forced)
                pe_info(c, vec_arg,
                        "input to histogram_quantile needed to be fixed for monotonicity (see "
                        "https://prometheus.io/docs/prometheus/latest/querying/functions/"
                        "#histogram_quantile) for metric name \"%s\"",
                        groups[i].name);
            struct pe_lset ls = groups[i].ls;
            if (qlabel)
                ls = pe_lset_set(c, ls, qlabel, quantile_label(c, qs[j]));
            pe_vec_push(c, &out.vec, (struct pe_sample){ls, t, v, 1});
        }
    }
    return out;
}

static struct pe_val f_histogram_quantile(struct pe_ctx *c, const struct promql_node *n,
                                          int64_t t)
{
    double q = scalar_arg(c, n, 0, t);
    warn_quantile(c, arg(n, 0), q);
    return bucket_quantiles(c, n, t, arg(n, 1), NULL, &q, 1);
}

static struct pe_val f_histogram_quantiles(struct pe_ctx *c, const struct promql_node *n,
                                           int64_t t)
{
    const char *qlabel = pe_eval(c, arg(n, 1), t).str;
    size_t nq = n->call.nargs - 2;
    double *qs = pe_alloc(c, (nq + 1) * sizeof(*qs));
    for (size_t i = 0; i < nq; i++) {
        qs[i] = scalar_arg(c, n, 2 + i, t);
        warn_quantile(c, arg(n, 2 + i), qs[i]);
    }
    return bucket_quantiles(c, n, t, arg(n, 0), qlabel, qs, nq);
}

/* ---- the rest ---------------------------------------------------------- */

static struct pe_lset absent_labels(struct pe_ctx *c, const struct promql_node *a)
{
    struct pe_lset ls = {0, NULL};
    a = pe_unparen(a);
    if (a->kind == PROMQL_MATRIX_SELECTOR)
        a = a->matrix.vs;
    if (a->kind != PROMQL_VECTOR_SELECTOR)
        return ls;
    const char **has = pe_alloc(c, (a->vs.n_matchers + 1) * sizeof(*has));
    size_t nhas = 0;
    for (size_t i = 0; i < a->vs.n_matchers; i++) {
        const struct tsdb_matcher *m = &a->vs.matchers[i];
        if (!strcmp(m->name, "__name__"))
            continue;
        int seen = 0;
        for (size_t j = 0; j < nhas; j++)
            seen |= !strcmp(has[j], m->name);
        if (m->type == TSDB_MATCH_EQ && !seen) {
            ls = pe_lset_set(c, ls, m->name, m->value);
            has[nhas++] = m->name;
        } else {
            ls = pe_lset_del(c, ls, m->name);
        }
    }
    return ls;
}

static struct pe_val one_sample(struct pe_ctx *c, struct pe_lset ls, int64_t t, double v)
{
    struct pe_val out = empty_vector();
    pe_vec_push(c, &out.vec, (struct pe_sample){ls, t, v, 0});
    return out;
}

static struct pe_val f_absent(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    size_t count = v.type == PROMQL_TYPE_MATRIX ? v.mat.n : v.vec.n;
    if (count)
        return empty_vector();
    return one_sample(c, absent_labels(c, arg(n, 0)), t, 1);
}

static struct pe_val f_timestamp(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    int raw = pe_unparen(arg(n, 0))->kind == PROMQL_VECTOR_SELECTOR;
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    for (size_t i = 0; i < v.vec.n; i++) {
        v.vec.v[i].v = (double)(raw ? v.vec.v[i].t : t) / 1000;
        v.vec.v[i].drop_name = 1;
    }
    return v;
}

static struct pe_val f_scalar(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    struct pe_val v = pe_eval(c, arg(n, 0), t);
    return scalar(v.vec.n == 1 ? v.vec.v[0].v : NAN);
}

static struct pe_val f_vector(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    struct pe_lset none = {0, NULL};
    return one_sample(c, none, t, scalar_arg(c, n, 0, t));
}

struct pe_val pe_call(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    const char *name = n->call.func->name;
    for (size_t i = 0; i < sizeof(range_funcs) / sizeof(range_funcs[0]); i++)
        if (!strcmp(name, range_funcs[i].name))
            return call_range(c, n, t, &range_funcs[i]);
    for (size_t i = 0; i < sizeof(math_funcs) / sizeof(math_funcs[0]); i++)
        if (!strcmp(name, math_funcs[i].name))
            return map_vector(c, pe_eval(c, arg(n, 0), t), math_funcs[i].fn);
    for (size_t i = 0; i < sizeof(date_funcs) / sizeof(date_funcs[0]); i++)
        if (!strcmp(name, date_funcs[i].name))
            return date_func(c, n, t, date_funcs[i].fn);
    if (!strcmp(name, "quantile_over_time")) {
        double q = scalar_arg(c, n, 0, t);
        warn_quantile(c, arg(n, 0), q);
        return over_range(c, n, t, 1, fn_quantile_over_time, 0, q, 0);
    }
    if (!strcmp(name, "predict_linear"))
        return over_range(c, n, t, 0, fn_predict_linear, 0, scalar_arg(c, n, 1, t), 0);
    if (!strcmp(name, "double_exponential_smoothing") || !strcmp(name, "holt_winters")) {
        double sf = scalar_arg(c, n, 1, t), tf = scalar_arg(c, n, 2, t);
        if (!(sf > 0 && sf < 1))
            pe_fail(c, PROMQL_ERR_EXECUTION,
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf);
        if (!(tf > 0 && tf < 1))
            pe_fail(c, PROMQL_ERR_EXECUTION, "invalid trend factor. Expected: 0 < tf < 1, got: %f",
                    tf);
        return over_range(c, n, t, 0, fn_double_exp, 0, sf, tf);
    }
    if (!strcmp(name, "absent_over_time") || !strcmp(name, "absent"))
        return f_absent(c, n, t);
    if (!strcmp(name, "round"))
        return f_round(c, n, t);
    if (!strcmp(name, "clamp"))
        return f_clamp(c, n, t);
    if (!strcmp(name, "clamp_min"))
        return f_clamp_min(c, n, t);
    if (!strcmp(name, "clamp_max"))
        return f_clamp_max(c, n, t);
    if (!strcmp(name, "label_replace"))
        return f_label_replace(c, n, t);
    if (!strcmp(name, "label_join"))
        return f_label_join(c, n, t);
    if (!strcmp(name, "sort"))
        return f_sort_any(c, n, t, 0, 0);
    if (!strcmp(name, "sort_desc"))
        return f_sort_any(c, n, t, 1, 0);
    if (!strcmp(name, "sort_by_label"))
        return f_sort_any(c, n, t, 0, 1);
    if (!strcmp(name, "sort_by_label_desc"))
        return f_sort_any(c, n, t, 1, 1);
    if (!strcmp(name, "histogram_quantile"))
        return f_histogram_quantile(c, n, t);
    if (!strcmp(name, "histogram_quantiles"))
        return f_histogram_quantiles(c, n, t);
    if (!strcmp(name, "timestamp"))
        return f_timestamp(c, n, t);
    if (!strcmp(name, "scalar"))
        return f_scalar(c, n, t);
    if (!strcmp(name, "vector"))
        return f_vector(c, n, t);
    if (!strcmp(name, "time"))
        return scalar((double)t / 1000);
    if (!strcmp(name, "pi"))
        return scalar(M_PI);
    if (!strcmp(name, "start"))
        return scalar((double)c->start / 1000);
    if (!strcmp(name, "end"))
        return scalar((double)c->end / 1000);
    if (!strcmp(name, "range"))
        return scalar((double)(c->end - c->start) / 1000);
    if (!strcmp(name, "step"))
        return scalar((double)c->interval / 1000);
    if (!strcmp(name, "min_of"))
        return scalar(go_min(scalar_arg(c, n, 0, t), scalar_arg(c, n, 1, t)));
    if (!strcmp(name, "max_of"))
        return scalar(go_max(scalar_arg(c, n, 0, t), scalar_arg(c, n, 1, t)));
    pe_fail(c, PROMQL_ERR_EXECUTION, "function \"%s\" is not supported", name);
}
