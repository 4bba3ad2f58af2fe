/* ruletest.c — runs promtool rule unit tests (see ruletest.h): one scratch
 * store and one freshly loaded rule set per test group, the rule engine of
 * rules.h driven by a fake clock, and promtool's failure texts.
 *
 * Design notes
 * - Time starts at 0. At ts = 0, evaluation_interval, ... <= the group's
 *   largest eval_time every rule group is evaluated (group_eval_order
 *   first, the others in load order); an alert case with
 *   ts <= eval_time < ts + evaluation_interval is compared with the firing
 *   alerts right after the evaluation at ts, as promtool does. Expression
 *   cases run last, over everything the rules stored.
 * - A rule evaluation error ends the test group, as in promtool: its cases
 *   not yet compared count as failed. */
#include "ruletest.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql.h"
#include "promql_eval.h"
#include "rules.h"
#include "ruletest_int.h"
#include "series_notation.h"
#include "tsdb.h"

enum outcome { PENDING, PASSED, FAILED, SKIPPED };

/* Messages of one file, printed once it is done. */
struct msgs {
    char **v;
    size_t n;
};

static void msgs_add(struct msgs *m, char *text /* taken */)
{
    char **p = text ? realloc(m->v, (m->n + 1) * sizeof(*p)) : NULL;
    if (!p) {
        free(text);
        return;
    }
    m->v = p;
    m->v[m->n++] = text;
}

static void msgs_free(struct msgs *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i]);
    free(m->v);
}

/* One test group being run. */
struct run {
    const struct rt_file *f;
    const struct rt_group *g;
    size_t gi;
    struct series_store store;
    struct rule_set rs;
    struct rule_group **order; /* rs.groups in evaluation order */
    enum outcome *alert_res, *expr_res;
    struct msgs *failures, *skips;
};

/* ---- promtool's text forms ------------------------------------------- */

/* Go's strconv.Quote for the ASCII range; other bytes pass through. */
static void put_quoted(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", o);
        else if (c == '\t')
            fputs("\\t", o);
        else if (c == '\r')
            fputs("\\r", o);
        else if (c < 0x20 || c == 0x7f)
            fprintf(o, "\\x%02x", c);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

/* Prometheus' labels.String(): {a="1", b="2"}. */
static void put_labels(FILE *o, const struct tsdb_labels *ls)
{
    fputc('{', o);
    for (size_t i = 0; i < ls->len; i++) {
        fprintf(o, "%s%s=", i ? ", " : "", ls->v[i].name);
        put_quoted(o, ls->v[i].value);
    }
    fputc('}', o);
}

/* Go's strconv.FormatFloat(v, 'E', -1, 64): the shortest mantissa that
 * reads back as v. */
static void put_float_e(FILE *o, double v)
{
    if (isnan(v)) {
        fputs("NaN", o);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", o);
        return;
    }
    char buf[64];
    for (int p = 0; p <= 17; p++) {
        snprintf(buf, sizeof(buf), "%.*E", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, o);
}

/* A model.Duration (eval_time) as Prometheus prints it: 1d, 4m59s, 0s. */
static const char *model_duration(int64_t ms, char *buf, size_t cap)
{
    promql_duration_format(ms, buf, cap);
    return buf;
}

/* A Go time.Duration (the rule-error time): 0s, 500ms, 1m0s, 1h0m1.5s. */
static const char *go_duration(int64_t ms, char *buf, size_t cap)
{
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    int n = 0;
    if (ms < 1000) {
        snprintf(buf, cap, ms ? "%lldms" : "0s", (long long)ms);
        return buf;
    }
    if (h)
        n = snprintf(buf, cap, "%lldh", h);
    if (h || m)
        n += snprintf(buf + n, cap - (size_t)n, "%lldm", m);
    n += snprintf(buf + n, cap - (size_t)n, "%lld", s);
    if (frac) {
        n += snprintf(buf + n, cap - (size_t)n, ".%03lld", frac);
        while (buf[n - 1] == '0')
            buf[--n] = 0;
    }
    snprintf(buf + n, cap - (size_t)n, "s");
    return buf;
}

/* ---- the rule environment ------------------------------------------- */

static int env_query(void *ctx, const struct promql_expr *e, int64_t t,
                     struct promql_result **out, struct promql_eval_error *err)
{
    struct run *r = ctx;
    struct tsdb_snapshot *snap;
    int rc = tsdb_snapshot_open(r->store.db, &snap);
    if (rc < 0) {
        err->kind = PROMQL_ERR_EXECUTION;
        snprintf(err->msg, sizeof(err->msg), "%s", tsdb_strerror(rc));
        return -1;
    }
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    o.subquery_step_ms = r->f->eval_interval_ms; /* as promtool */
    rc = promql_eval_expr_instant(snap, e, t, &o, out, err);
    tsdb_snapshot_close(snap);
    return rc;
}

static int env_append(void *ctx, const struct tsdb_labels *ls, int64_t t, double v)
{
    struct run *r = ctx;
    tsdb_ref ref;
    int rc = tsdb_series_ref(r->store.db, ls, &ref);
    return rc < 0 ? rc : tsdb_append(r->store.db, ref, t, v);
}

static int env_commit(void *ctx)
{
    struct run *r = ctx;
    return tsdb_commit(r->store.db);
}

/* ---- alerts ------------------------------------------------------------ */

/* Prometheus' labels.Compare. */
static int labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b)
{
    for (size_t i = 0; i < a->len && i < b->len; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c || (c = strcmp(a->v[i].value, b->v[i].value)))
            return c;
    }
    return (a->len > b->len) - (a->len < b->len);
}

/* An alert as compared: labels, then annotations. */
struct la {
    const struct tsdb_labels *labels, *annotations;
};

static int la_cmp(const void *x, const void *y)
{
    const struct la *a = x, *b = y;
    int c = labels_cmp(a->labels, b->labels);
    return c ? c : labels_cmp(a->annotations, b->annotations);
}

/* promtool's labelsAndAnnotations.String(), indented for the report. */
static void put_alerts(FILE *o, const struct la *v, size_t n)
{
    if (!n) {
        fputs("[]", o);
        return;
    }
    fputs("[", o);
    for (size_t i = 0; i < n; i++) {
        fprintf(o, "%s\n            %zu:\n              Labels:", i ? "," : "", i);
        put_labels(o, v[i].labels);
        fputs("\n              Annotations:", o);
        put_labels(o, v[i].annotations);
    }
    fputs("\n            ]", o);
}

/* The firing alerts named name, across every group. *out is malloc'd. */
static size_t firing_alerts(const struct run *r, const char *name, struct la **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t gi = 0; gi < r->rs.ngroups; gi++)
        for (size_t ri = 0; ri < r->rs.groups[gi].nrules; ri++) {
            const struct rule *rule = &r->rs.groups[gi].rules[ri];
            if (rule->kind != RULE_ALERTING || strcmp(rule->name, name))
                continue;
            for (size_t ai = 0; ai < rule->nalerts; ai++) {
                if (rule->alerts[ai].state != ALERT_FIRING)
                    continue;
                if (n == cap) {
                    struct la *p = realloc(*out, (cap = cap * 2 + 8) * sizeof(*p));
                    if (!p)
                        return n;
                    *out = p;
                }
                (*out)[n++] = (struct la){&rule->alerts[ai].labels, &rule->alerts[ai].annotations};
            }
        }
    return n;
}

/* Compares alert case c with the rule set's state. @return PASSED or
 * FAILED (with promtool's message added to r->failures). */
static enum outcome check_alerts(struct run *r, const struct rt_alert_case *c)
{
    struct la *got, *exp = calloc(c->nexp ? c->nexp : 1, sizeof(*exp));
    size_t ngot = firing_alerts(r, c->alertname, &got);
    for (size_t i = 0; exp && i < c->nexp; i++)
        exp[i] = (struct la){&c->exp[i].labels, &c->exp[i].annotations};
    if (ngot)
        qsort(got, ngot, sizeof(*got), la_cmp);
    if (exp && c->nexp)
        qsort(exp, c->nexp, sizeof(*exp), la_cmp);
    int same = exp && ngot == c->nexp;
    for (size_t i = 0; same && i < ngot; i++)
        same = la_cmp(&got[i], &exp[i]) == 0;
    if (!same && exp) {
        char *text = NULL, dur[64];
        size_t len;
        FILE *o = open_memstream(&text, &len);
        if (o) {
            if (r->g->name)
                fprintf(o, "    name: %s,\n", r->g->name);
            fprintf(o, "    alertname: %s, time: %s, \n        exp:", c->alertname,
                    model_duration(c->eval_ms, dur, sizeof(dur)));
            put_alerts(o, exp, c->nexp);
            fputs(", \n        got:", o);
            put_alerts(o, got, ngot);
            fclose(o);
            msgs_add(r->failures, text);
        }
    }
    free(got);
    free(exp);
    return same ? PASSED : FAILED;
}

/* ---- expressions ------------------------------------------------------- */

struct sample {
    const struct tsdb_labels *labels;
    double v;
};

static int sample_cmp(const void *x, const void *y)
{
    return labels_cmp(((const struct sample *)x)->labels, ((const struct sample *)y)->labels);
}

/* promtool's parsedSamplesString: "L V, L V" or "nil". */
static void put_samples(FILE *o, const struct sample *v, size_t n)
{
    if (!n)
        fputs("nil", o);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", o);
        put_labels(o, v[i].labels);
        fputc(' ', o);
        put_float_e(o, v[i].v);
    }
}

static void expr_failure(struct run *r, const struct rt_expr_case *c, const char *err,
                         const struct sample *exp, const struct sample *got, size_t ngot)
{
    char *text = NULL, dur[64];
    size_t len;
    FILE *o = open_memstream(&text, &len);
    if (!o)
        return;
    fputs("    expr: ", o);
    put_quoted(o, c->expr);
    fprintf(o, ", time: %s,", model_duration(c->eval_ms, dur, sizeof(dur)));
    if (err) {
        fprintf(o, " err: %s", err);
    } else {
        fputs("\n        exp: ", o);
        put_samples(o, exp, c->nexp);
        fputs("\n        got: ", o);
        put_samples(o, got, ngot);
    }
    fclose(o);
    msgs_add(r->failures, text);
}

/* The samples of an instant query's result, as promtool sees them: a
 * scalar is one sample without labels. @return the count, or -1 when the
 * result is neither. */
static long result_samples(const struct promql_result *res, struct sample **out)
{
    static const struct tsdb_labels none = {0, NULL};
    size_t n = res->type == PROMQL_TYPE_VECTOR ? res->nseries : 1;
    if (res->type != PROMQL_TYPE_VECTOR && res->type != PROMQL_TYPE_SCALAR)
        return -1;
    *out = calloc(n ? n : 1, sizeof(**out));
    if (!*out)
        return -1;
    if (res->type == PROMQL_TYPE_SCALAR)
        (*out)[0] = (struct sample){&none, res->v};
    for (size_t i = 0; res->type == PROMQL_TYPE_VECTOR && i < n; i++)
        (*out)[i] = (struct sample){&res->series[i].labels, res->series[i].points[0].v};
    return (long)n;
}

static enum outcome check_expr(struct run *r, const struct rt_expr_case *c)
{
    struct tsdb_snapshot *snap;
    struct promql_result *res = NULL;
    struct promql_eval_error err = {0};
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    o.subquery_step_ms = r->f->eval_interval_ms; /* as promtool */
    int rc = tsdb_snapshot_open(r->store.db, &snap);
    if (rc < 0) {
        expr_failure(r, c, tsdb_strerror(rc), NULL, NULL, 0);
        return FAILED;
    }
    rc = promql_eval_instant(snap, c->expr, c->eval_ms, &o, &res, &err);
    tsdb_snapshot_close(snap);
    if (rc < 0) {
        expr_failure(r, c, err.msg, NULL, NULL, 0);
        return FAILED;
    }
    struct sample *got = NULL, *exp = calloc(c->nexp ? c->nexp : 1, sizeof(*exp));
    long ngot = result_samples(res, &got);
    enum outcome out = FAILED;
    if (ngot < 0 || !exp) {
        expr_failure(r, c, "rule result is not a vector or scalar", NULL, NULL, 0);
    } else {
        for (size_t i = 0; i < c->nexp; i++)
            exp[i] = (struct sample){&c->exp[i].labels, c->exp[i].value};
        qsort(exp, c->nexp, sizeof(*exp), sample_cmp);
        qsort(got, (size_t)ngot, sizeof(*got), sample_cmp);
        int same = (size_t)ngot == c->nexp;
        for (size_t i = 0; same && i < c->nexp; i++)
            same = !labels_cmp(exp[i].labels, got[i].labels) &&
                   (exp[i].v == got[i].v || (isnan(exp[i].v) && isnan(got[i].v)));
        if (!same)
            expr_failure(r, c, NULL, exp, got, (size_t)ngot);
        out = same ? PASSED : FAILED;
    }
    free(exp);
    free(got);
    promql_result_free(res);
    return out;
}

/* ---- skipping native histograms ------------------------------------- */

/* 1 if the PromQL text reads native histograms: an input series given as
 * {{...}} or what a rule over one records (spread_native). */
static int text_reads_native(const struct run *r, const char *text)
{
    struct promql_expr *e;
    struct promql_error perr;
    if (!r->store.nnative || promql_parse(text, &e, &perr) < 0)
        return 0;
    int rd = series_store_reads_native(&r->store, e->root);
    promql_expr_free(e);
    return rd != 0;
}

static int rule_reads_native(const struct run *r, const struct rule *rule)
{
    return r->store.nnative && series_store_reads_native(&r->store, rule->expr->root);
}

static int alert_reads_native(const struct run *r, const char *name)
{
    for (size_t gi = 0; gi < r->rs.ngroups; gi++)
        for (size_t ri = 0; ri < r->rs.groups[gi].nrules; ri++) {
            const struct rule *rule = &r->rs.groups[gi].rules[ri];
            if (rule->kind == RULE_ALERTING && !strcmp(rule->name, name) &&
                rule_reads_native(r, rule))
                return 1;
        }
    return 0;
}

/* What a recording rule reading native histograms records is native too
 * (to a fixed point), so that what reads it is skipped as well. Known by
 * metric name only: a selector that also matches other labels of such a
 * record is not recognised. @return 0 or -ENOMEM. */
static int spread_native(struct run *r)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t gi = 0; gi < r->rs.ngroups; gi++)
            for (size_t ri = 0; ri < r->rs.groups[gi].nrules; ri++) {
                const struct rule *rule = &r->rs.groups[gi].rules[ri];
                const struct tsdb_label name = {"__name__", rule->name};
                const struct tsdb_labels ls = {1, &name};
                int known = 0;
                for (size_t i = 0; i < r->store.nnative && !known; i++)
                    known = r->store.native[i].len == 1 &&
                            !strcmp(r->store.native[i].v[0].name, "__name__") &&
                            !strcmp(r->store.native[i].v[0].value, rule->name);
                if (rule->kind != RULE_RECORDING || known || !rule_reads_native(r, rule))
                    continue;
                if (series_store_add_native(&r->store, &ls) < 0)
                    return -ENOMEM;
                changed = 1;
            }
    }
    return 0;
}

/* Lists a case of this test group as skipped: what is "expr" (name is
 * then quoted) or "alertname". */
static void skip(struct run *r, const char *what, const char *name, int64_t eval_ms)
{
    char *text = NULL, dur[64];
    size_t len;
    FILE *o = open_memstream(&text, &len);
    if (!o)
        return;
    fprintf(o, "  SKIPPED: tests[%zu]%s%s%s %s: ", r->gi, r->g->name ? " (" : "",
            r->g->name ? r->g->name : "", r->g->name ? ")" : "", what);
    if (!strcmp(what, "expr"))
        put_quoted(o, name);
    else
        fputs(name, o);
    fprintf(o, ", time: %s (native histograms are not supported)",
            model_duration(eval_ms, dur, sizeof(dur)));
    fclose(o);
    msgs_add(r->skips, text);
}

static void mark_skipped(struct run *r)
{
    for (size_t i = 0; i < r->g->nalerts; i++)
        if (alert_reads_native(r, r->g->alerts[i].alertname)) {
            r->alert_res[i] = SKIPPED;
            skip(r, "alertname", r->g->alerts[i].alertname, r->g->alerts[i].eval_ms);
        }
    for (size_t i = 0; i < r->g->nexprs; i++)
        if (r->g->exprs[i].native || text_reads_native(r, r->g->exprs[i].expr)) {
            r->expr_res[i] = SKIPPED;
            skip(r, "expr", r->g->exprs[i].expr, r->g->exprs[i].eval_ms);
        }
}

/* ---- one test group ---------------------------------------------------- */

/* Rule groups named in group_eval_order first, in that order, then the
 * others in load order. */
static int order_groups(struct run *r)
{
    size_t n = 0;
    r->order = calloc(r->rs.ngroups ? r->rs.ngroups : 1, sizeof(*r->order));
    if (!r->order)
        return -ENOMEM;
    for (size_t k = 0; k < r->f->ngroup_order; k++)
        for (size_t i = 0; i < r->rs.ngroups; i++)
            if (!strcmp(r->rs.groups[i].name, r->f->group_order[k]))
                r->order[n++] = &r->rs.groups[i];
    for (size_t i = 0; i < r->rs.ngroups; i++) {
        int listed = 0;
        for (size_t k = 0; k < r->f->ngroup_order && !listed; k++)
            listed = !strcmp(r->rs.groups[i].name, r->f->group_order[k]);
        if (!listed)
            r->order[n++] = &r->rs.groups[i];
    }
    return 0;
}

/* Stores the group's input series. @return 0, or -1 with the reason
 * added to r->failures. */
static int load_series(struct run *r)
{
    for (size_t i = 0; i < r->g->nseries; i++) {
        const struct rt_series *s = &r->g->series[i];
        int rc = series_store_load(&r->store, &s->labels, s->vals, s->nvals, s->native,
                                   r->g->interval_ms);
        char *text = NULL;
        size_t len;
        FILE *o = rc < 0 ? open_memstream(&text, &len) : NULL;
        if (o) {
            fprintf(o, "    tests[%zu] input_series ", r->gi);
            put_labels(o, &s->labels);
            fprintf(o, ": %s", tsdb_strerror(rc));
            fclose(o);
            msgs_add(r->failures, text);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Adds promtool's "rule: NAME, time: T, err: MSG" for every rule whose
 * last evaluation failed, but for rules reading native histograms.
 * @return how many. */
static int rule_errors(struct run *r, int64_t ts)
{
    int n = 0;
    char dur[64];
    for (size_t gi = 0; gi < r->rs.ngroups; gi++)
        for (size_t ri = 0; ri < r->rs.groups[gi].nrules; ri++) {
            const struct rule *rule = &r->rs.groups[gi].rules[ri];
            char *text;
            if (!rule->last_error || rule_reads_native(r, rule))
                continue; /* native-histogram rules fail here, their cases are skipped */
            n++;
            if (asprintf(&text, "    rule: %s, time: %s, err: %s", rule->name,
                         go_duration(ts, dur, sizeof(dur)), rule->last_error) >= 0)
                msgs_add(r->failures, text);
        }
    return n;
}

static int64_t max_eval_ms(const struct rt_group *g)
{
    int64_t m = 0;
    for (size_t i = 0; i < g->nalerts; i++)
        m = g->alerts[i].eval_ms > m ? g->alerts[i].eval_ms : m;
    for (size_t i = 0; i < g->nexprs; i++)
        m = g->exprs[i].eval_ms > m ? g->exprs[i].eval_ms : m;
    return m;
}

/* Evaluates the rules from 0 to the largest eval_time, comparing alert
 * cases on the way. @return 0, or -1 when a rule failed (reported). */
static int evaluate(struct run *r)
{
    const struct rule_env env = {
        .ctx = r,
        .query = env_query,
        .append = env_append,
        .commit = env_commit,
        .external_labels = &r->g->external_labels,
        .external_url = r->g->external_url,
    };
    const int64_t step = r->f->eval_interval_ms, maxt = max_eval_ms(r->g);
    for (int64_t ts = 0; ts <= maxt; ts += step) {
        for (size_t i = 0; i < r->rs.ngroups; i++)
            rule_group_eval(r->order[i], ts, &env);
        if (rule_errors(r, ts))
            return -1;
        for (size_t i = 0; i < r->g->nalerts; i++) {
            const struct rt_alert_case *c = &r->g->alerts[i];
            if (r->alert_res[i] == PENDING && ts <= c->eval_ms && c->eval_ms < ts + step)
                r->alert_res[i] = check_alerts(r, c);
        }
    }
    return 0;
}

static void count(const enum outcome *v, size_t n, struct ruletest_counts *c)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == SKIPPED)
            c->skipped++;
        else if (v[i] == PASSED)
            c->passed++;
        else
            c->failed++; /* FAILED, or PENDING after a rule error */
    }
}

/* Runs test group gi of f. Adds its cases to counts, its failures and
 * skips to the lists. */
static void run_group(const struct rt_file *f, size_t gi, struct msgs *failures,
                      struct msgs *skips, struct ruletest_counts *counts)
{
    struct run r = {.f = f, .g = &f->groups[gi], .gi = gi, .failures = failures, .skips = skips};
    const struct rt_group *g = r.g;
    char *errors = NULL;
    r.alert_res = calloc(g->nalerts + 1, sizeof(*r.alert_res));
    r.expr_res = calloc(g->nexprs + 1, sizeof(*r.expr_res));
    int rc = r.alert_res && r.expr_res ? series_store_open(&r.store) : -ENOMEM;
    if (rc < 0) {
        msgs_add(failures, strdup(tsdb_strerror(rc)));
    } else if (load_series(&r) < 0) {
        rc = -EINVAL;
    } else if ((rc = rules_load((const char *const *)f->rule_files, f->nrule_files,
                                g->interval_ms, &r.rs, &errors)) < 0) {
        size_t len = errors ? strlen(errors) : 0;
        if (len && errors[len - 1] == '\n')
            errors[len - 1] = 0;
        msgs_add(failures, errors ? errors : strdup(strerror(-rc)));
    } else if ((rc = order_groups(&r)) < 0 || (rc = spread_native(&r)) < 0) {
        msgs_add(failures, strdup(strerror(-rc)));
    }
    if (rc == 0) {
        mark_skipped(&r);
        if (evaluate(&r) == 0)
            for (size_t i = 0; i < g->nexprs; i++)
                if (r.expr_res[i] == PENDING)
                    r.expr_res[i] = check_expr(&r, &g->exprs[i]);
    }
    count(r.alert_res, g->nalerts, counts);
    count(r.expr_res, g->nexprs, counts);
    free(r.order);
    free(r.alert_res);
    free(r.expr_res);
    rule_set_free(&r.rs);
    series_store_close(&r.store);
}

/* Replaces f's rule_files patterns by the files they match, in glob
 * order; as promtool, a pattern that matches nothing is a warning on
 * errout, not an error. @return 0 or -ENOMEM. */
static int resolve_rule_files(struct rt_file *f, FILE *errout)
{
    glob_t gl;
    int flags = 0, rc = 0;
    size_t nprev = 0;
    memset(&gl, 0, sizeof(gl));
    for (size_t i = 0; rc == 0 && i < f->nrule_files; i++) {
        rc = glob(f->rule_files[i], flags, NULL, &gl);
        if (rc == GLOB_NOMATCH || (rc == 0 && gl.gl_pathc == nprev))
            fprintf(errout, "  WARNING: no file match pattern %s\n", f->rule_files[i]);
        rc = rc == GLOB_NOSPACE ? -ENOMEM : 0;
        nprev = gl.gl_pathc;
        flags = GLOB_APPEND;
    }
    char **files = rc == 0 ? calloc(nprev + 1, sizeof(*files)) : NULL;
    for (size_t i = 0; files && i < nprev; i++)
        if (!(files[i] = strdup(gl.gl_pathv[i])))
            rc = -ENOMEM;
    if (flags)
        globfree(&gl);
    if (!files || rc < 0) {
        for (size_t i = 0; files && i < nprev; i++)
            free(files[i]);
        free(files);
        return -ENOMEM;
    }
    for (size_t i = 0; i < f->nrule_files; i++)
        free(f->rule_files[i]);
    free(f->rule_files);
    f->rule_files = files;
    f->nrule_files = nprev;
    return 0;
}

int ruletest_run_file(const char *path, FILE *out, FILE *errout, struct ruletest_counts *counts)
{
    struct rt_file f;
    struct msgs failures = {0}, skips = {0};
    char err[1024];
    unsigned failed_before = counts->failed;
    fprintf(out, "Unit Testing:  %s\n", path);
    if (ruletest__parse(path, &f, err, sizeof(err)) < 0) {
        msgs_add(&failures, strdup(err));
    } else {
        fflush(out);
        if (resolve_rule_files(&f, errout) < 0)
            msgs_add(&failures, strdup("out of memory"));
        for (size_t gi = 0; !failures.n && gi < f.ngroups; gi++)
            run_group(&f, gi, &failures, &skips, counts);
        ruletest__file_free(&f);
    }
    for (size_t i = 0; i < skips.n; i++)
        fprintf(out, "%s\n", skips.v[i]);
    if (failures.n && counts->failed == failed_before)
        counts->failed++; /* a failure outside every case: rules that do not load */
    if (counts->failed == failed_before) {
        fputs("  SUCCESS\n", out);
    } else {
        fflush(out);
        fputs("  FAILED:\n", errout);
        for (size_t i = 0; i < failures.n; i++) {
            fprintf(errout, "%s\n", failures.v[i]);
            fflush(errout);
            fputs("\n", out);
            fflush(out);
        }
    }
    fputs("\n", out);
    msgs_free(&failures);
    msgs_free(&skips);
    return counts->failed != failed_before;
}
