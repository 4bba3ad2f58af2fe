/* rules.c — evaluation of recording and alerting rules: Prometheus' group
 * evaluation, the alert state machine, ALERTS / ALERTS_FOR_STATE, stale
 * markers, the alerts to send, and state carried over a reload.
 *
 * Alert state machine (one struct alert per label set, rule->alerts sorted
 * by labels), advanced by apply_alerting() at each evaluation time t:
 *
 *   (absent) --returned--> PENDING (active_at = t)
 *   PENDING  --returned, t - active_at >= for--> FIRING (fired_at = t)
 *   PENDING  --not returned--> (absent)
 *   FIRING   --not returned, keep_firing_for running--> FIRING
 *            (keep_firing_since = first such t; reset when returned again)
 *   FIRING   --not returned otherwise--> INACTIVE (resolved_at = t)
 *   INACTIVE --returned--> PENDING as a new alert
 *   INACTIVE --t - resolved_at > 15 m--> (absent)
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules_int.h"

const char *alert_state_name(enum alert_state s)
{
    switch (s) {
    case ALERT_INACTIVE:
        return "inactive";
    case ALERT_PENDING:
        return "pending";
    case ALERT_FIRING:
        return "firing";
    }
    return "unknown";
}

const char *rule_health_name(enum rule_health h)
{
    switch (h) {
    case RULE_HEALTH_UNKNOWN:
        return "unknown";
    case RULE_HEALTH_OK:
        return "ok";
    case RULE_HEALTH_ERR:
        return "err";
    }
    return "unknown";
}

static void set_error(struct rule *r, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(r->last_error);
    r->last_error = strdup(msg);
    r->health = RULE_HEALTH_ERR;
}

/* ---- output samples -------------------------------------------------------- */

/* Samples a rule writes: packed label sets (owned) and values. */
struct outs {
    struct out {
        struct tsdb_labels ls;
        double v;
    } *v;
    size_t n, cap;
};

static int outs_add(struct outs *o, const struct lbuild *b, double v)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        struct out *p = realloc(o->v, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        o->v = p;
        o->cap = cap;
    }
    int rc = lbuild_pack(b, &o->v[o->n].ls);
    if (rc)
        return rc;
    o->v[o->n++].v = v;
    return 0;
}

static void outs_free(struct outs *o)
{
    for (size_t i = 0; i < o->n; i++)
        rules__labels_free(&o->v[i].ls);
    free(o->v);
    memset(o, 0, sizeof *o);
}

static int out_cmp(const void *x, const void *y)
{
    return rules__labels_cmp(&((const struct out *)x)->ls, &((const struct out *)y)->ls);
}

/* Sorts o; @return 1 if two samples have the same labels. */
static int outs_sort_dup(struct outs *o)
{
    if (o->n) /* qsort(NULL, 0) is undefined */
        qsort(o->v, o->n, sizeof *o->v, out_cmp);
    for (size_t i = 1; i < o->n; i++)
        if (!rules__labels_cmp(&o->v[i - 1].ls, &o->v[i].ls))
            return 1;
    return 0;
}

/* The result's samples: a scalar is one sample without labels. */
struct in_sample {
    const struct tsdb_labels *ls;
    double v;
};

static const struct tsdb_labels no_labels = {0, NULL};

static int result_samples(const struct promql_result *res, struct in_sample **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (res->type == PROMQL_TYPE_SCALAR) {
        if (!(*out = malloc(sizeof **out)))
            return -ENOMEM;
        (*out)[0].ls = &no_labels;
        (*out)[0].v = res->v;
        *n = 1;
        return 0;
    }
    if (res->type != PROMQL_TYPE_VECTOR)
        return -EINVAL;
    if (!(*out = malloc((res->nseries + 1) * sizeof **out)))
        return -ENOMEM;
    for (size_t i = 0; i < res->nseries; i++) {
        if (!res->series[i].npoints)
            continue;
        (*out)[*n].ls = &res->series[i].labels;
        (*out)[(*n)++].v = res->series[i].points[0].v;
    }
    return 0;
}

/* ---- recording rules -------------------------------------------------------- */

static int apply_recording(const struct rule_group *g, struct rule *r, const struct in_sample *in,
                           size_t n, struct outs *o, char *msg, size_t cap)
{
    const struct rule_priv *p = r->priv;
    struct lbuild b = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        lbuild_reset(&b);
        rc = lbuild_add_all(&b, in[i].ls, 1);
        if (!rc)
            rc = lbuild_set(&b, "__name__", r->name, 0);
        for (size_t k = 0; rc == 0 && k < p->nlabels; k++)
            rc = lbuild_set(&b, p->labels[k].name, p->labels[k].value, 0);
        if (!rc)
            rc = outs_add(o, &b, in[i].v);
    }
    lbuild_free(&b);
    if (rc)
        return rc;
    if (outs_sort_dup(o)) {
        snprintf(msg, cap, "vector contains metrics with the same labelset after applying rule "
                           "labels");
        return -EINVAL;
    }
    if (g->limit && o->n > g->limit) {
        snprintf(msg, cap, "exceeded limit of %llu with %zu series", (unsigned long long)g->limit,
                 o->n);
        return -EINVAL;
    }
    return 0;
}

/* ---- alerting rules -------------------------------------------------------- */

/* Expands one label or annotation for d. @return malloc'd text or NULL on
 * ENOMEM. Errors become Prometheus' "<error expanding template: ...>". */
static char *expand(const struct rule_text *t, const struct tmpl_data *d)
{
    if (!strstr(t->value, "{{"))
        return strdup(t->value);
    if (!t->tmpl)
        return tmpl_expand(t->value, d);
    char err[256] = "";
    char *s = tmpl_exec(t->tmpl, d, err, sizeof err);
    if (s || !*err)
        return s;
    size_t len = strlen(err) + 40;
    if ((s = malloc(len)))
        snprintf(s, len, "<error expanding template: %s>", err);
    return s;
}

/* The alert one sample of the result stands for: labels and annotations
 * expanded, state not yet decided. */
static int make_alert(const struct rule *r, const struct in_sample *in,
                      const struct rule_env *env, struct lbuild *b, struct alert *a)
{
    const struct rule_priv *p = r->priv;
    struct tmpl_data d = {in->ls, env->external_labels, env->external_url, in->v};
    memset(a, 0, sizeof *a);
    a->value = in->v;
    lbuild_reset(b);
    int rc = lbuild_add_all(b, in->ls, 1);
    for (size_t k = 0; rc == 0 && k < p->nlabels; k++) {
        char *s = expand(&p->labels[k], &d);
        rc = s ? lbuild_set(b, p->labels[k].name, s, 1) : -ENOMEM;
    }
    if (!rc)
        rc = lbuild_set(b, "alertname", r->name, 0);
    if (!rc)
        rc = lbuild_pack(b, &a->labels);
    if (rc)
        return rc;
    /* Annotations keep empty values, so they are packed from an array. */
    struct tsdb_label *av = calloc(p->nannotations + 1, sizeof *av);
    for (size_t k = 0; av && k < p->nannotations; k++) {
        av[k].name = p->annotations[k].name;
        if (!(av[k].value = expand(&p->annotations[k], &d)))
            rc = -ENOMEM;
    }
    if (!av)
        rc = -ENOMEM;
    struct tsdb_labels tmp = {p->nannotations, av};
    if (!rc)
        rc = rules__labels_dup(&tmp, &a->annotations);
    for (size_t k = 0; av && k < p->nannotations; k++)
        free((char *)av[k].value);
    free(av);
    if (rc)
        rules__alert_free(a);
    return rc;
}

static int alert_cmp(const void *x, const void *y)
{
    return rules__labels_cmp(&((const struct alert *)x)->labels,
                             &((const struct alert *)y)->labels);
}

/* A known alert the result no longer returns. @return 1 to keep it. */
static int alert_missing(const struct rule *r, struct alert *a, int64_t t)
{
    int keep_firing = 0;
    if (a->state == ALERT_FIRING && r->keep_firing_for_ms > 0) {
        if (!a->keep_firing_since_ms)
            a->keep_firing_since_ms = t;
        keep_firing = t - a->keep_firing_since_ms < r->keep_firing_for_ms;
    }
    if (a->state == ALERT_PENDING ||
        (a->resolved_at_ms && t - a->resolved_at_ms > RULES_RESOLVED_RETENTION_MS))
        return 0;
    if (a->state != ALERT_INACTIVE && !keep_firing) {
        a->state = ALERT_INACTIVE;
        a->resolved_at_ms = t;
    }
    return 1;
}

/* Merges the sorted new alerts into r->alerts (see the state diagram).
 * Takes the new alerts' memory. @return 0 or -ENOMEM. */
static int merge_alerts(struct rule *r, struct alert *nw, size_t nn, int64_t t)
{
    struct alert *next = malloc((r->nalerts + nn + 1) * sizeof *next);
    if (!next) {
        for (size_t j = 0; j < nn; j++)
            rules__alert_free(&nw[j]);
        return -ENOMEM;
    }
    size_t i = 0, j = 0, k = 0;
    while (i < r->nalerts || j < nn) {
        int c = i == r->nalerts ? 1 : j == nn ? -1 : alert_cmp(&r->alerts[i], &nw[j]);
        if (c < 0) {
            struct alert *a = &r->alerts[i++];
            if (alert_missing(r, a, t))
                next[k++] = *a;
            else
                rules__alert_free(a);
            continue;
        }
        if (c == 0 && r->alerts[i].state != ALERT_INACTIVE) {
            struct alert *a = &r->alerts[i++];
            a->value = nw[j].value;
            a->keep_firing_since_ms = 0;
            rules__labels_free(&a->annotations);
            a->annotations = nw[j].annotations;
            rules__labels_free(&nw[j++].labels);
            next[k++] = *a;
            continue;
        }
        if (c == 0) /* resolved and back: starts anew */
            rules__alert_free(&r->alerts[i++]);
        struct alert *a = &nw[j++];
        a->state = ALERT_PENDING;
        a->active_at_ms = t;
        next[k++] = *a;
    }
    free(r->alerts);
    r->alerts = next;
    r->nalerts = k;
    return 0;
}

/* Adds the ALERTS and ALERTS_FOR_STATE samples of alert a. */
static int alert_samples(const struct alert *a, struct lbuild *b, struct outs *o)
{
    lbuild_reset(b);
    int rc = lbuild_add_all(b, &a->labels, 1);
    if (!rc)
        rc = lbuild_set(b, "__name__", "ALERTS_FOR_STATE", 0);
    if (!rc)
        rc = outs_add(o, b, (double)(a->active_at_ms / 1000));
    if (!rc)
        rc = lbuild_set(b, "__name__", "ALERTS", 0);
    if (!rc)
        rc = lbuild_set(b, "alertstate", alert_state_name(a->state), 0);
    if (!rc)
        rc = outs_add(o, b, 1);
    return rc;
}

static int apply_alerting(const struct rule_group *g, struct rule *r, int64_t t,
                          const struct in_sample *in, size_t n, const struct rule_env *env,
                          struct outs *o, char *msg, size_t cap)
{
    struct lbuild b = {0};
    struct alert *nw = calloc(n + 1, sizeof *nw);
    int rc = nw ? 0 : -ENOMEM;
    size_t nn = 0;
    for (; rc == 0 && nn < n; nn++)
        if ((rc = make_alert(r, &in[nn], env, &b, &nw[nn])))
            break;
    if (rc == 0) {
        if (nn) /* qsort(NULL, 0) is undefined */
            qsort(nw, nn, sizeof *nw, alert_cmp);
        for (size_t j = 1; rc == 0 && j < nn; j++)
            if (!alert_cmp(&nw[j - 1], &nw[j])) {
                snprintf(msg, cap, "vector contains metrics with the same labelset after "
                                   "applying alert labels");
                rc = -EINVAL;
            }
    }
    if (rc) {
        for (size_t j = 0; j < nn; j++)
            rules__alert_free(&nw[j]);
        free(nw);
        lbuild_free(&b);
        return rc;
    }
    rc = merge_alerts(r, nw, nn, t);
    free(nw);
    size_t active = 0;
    for (size_t i = 0; rc == 0 && i < r->nalerts; i++) {
        struct alert *a = &r->alerts[i];
        if (a->state == ALERT_INACTIVE)
            continue;
        active++;
        if (a->state == ALERT_PENDING && t - a->active_at_ms >= r->for_ms) {
            a->state = ALERT_FIRING;
            a->fired_at_ms = t;
        }
        rc = alert_samples(a, &b, o);
    }
    lbuild_free(&b);
    if (rc == 0 && g->limit && active > g->limit) {
        rules__alerts_clear(r);
        snprintf(msg, cap, "exceeded limit of %llu with %zu alerts", (unsigned long long)g->limit,
                 active);
        rc = -EINVAL;
    }
    return rc;
}

/* ---- writing ------------------------------------------------------------------ */

/* Appends o (sorted by labels) at ts, a stale marker for every series of the
 * previous evaluation that is not in o, commits, and remembers o. */
static void write_outs(struct rule *r, int64_t ts, struct outs *o, const struct rule_env *env)
{
    struct rule_priv *p = r->priv;
    struct tsdb_labels *written = calloc(o->n + 1, sizeof *written);
    if (!written) {
        set_error(r, "out of memory");
        return;
    }
    size_t nw = 0, failed = 0;
    int first_err = 0;
    for (size_t i = 0; i < o->n; i++) {
        int rc = env->append(env->ctx, &o->v[i].ls, ts, o->v[i].v);
        if (rc) {
            failed++;
            first_err = first_err ? first_err : rc;
            continue;
        }
        written[nw++] = o->v[i].ls;
        o->v[i].ls.v = NULL;
        o->v[i].ls.len = 0;
    }
    size_t i = 0, j = 0;
    while (i < p->nprev) {
        int c = j == nw ? -1 : rules__labels_cmp(&p->prev[i], &written[j]);
        if (c > 0) {
            j++;
            continue;
        }
        if (c < 0)
            env->append(env->ctx, &p->prev[i], ts, tsdb_stale_nan());
        else
            j++;
        i++;
    }
    int rc = env->commit(env->ctx);
    if (failed)
        set_error(r, "%zu of %zu samples not stored: %s", failed, o->n, tsdb_strerror(first_err));
    if (rc) {
        set_error(r, "committing the rule's samples: %s", tsdb_strerror(rc));
        for (size_t k = 0; k < nw; k++)
            rules__labels_free(&written[k]);
        free(written);
        return;
    }
    for (size_t k = 0; k < p->nprev; k++)
        rules__labels_free(&p->prev[k]);
    free(p->prev);
    p->prev = written;
    p->nprev = nw;
}

/* 1 if a rule of g wrote ls at its last evaluation. */
static int written_by_group(const struct rule_group *g, const struct tsdb_labels *ls)
{
    for (size_t i = 0; i < g->nrules; i++) {
        const struct rule_priv *p = g->rules[i].priv;
        size_t lo = 0, hi = p ? p->nprev : 0;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = rules__labels_cmp(&p->prev[mid], ls);
            if (!c)
                return 1;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    return 0;
}

/* Marks stale what rules dropped by a reload wrote, unless a rule of g
 * writes the same series now (a stale marker would replace its sample). */
static void mark_dropped(struct rule_group *g, int64_t ts, const struct rule_env *env)
{
    const struct group_priv *gp = g->priv;
    if (!gp)
        return;
    for (size_t i = 0; i < gp->nstale; i++)
        if (!written_by_group(g, &gp->stale[i]))
            env->append(env->ctx, &gp->stale[i], ts, tsdb_stale_nan());
    env->commit(env->ctx);
    rules__group_priv_free(g);
}

void rule_group_mark_stale(struct rule_group *g, int64_t t, const struct rule_env *env)
{
    int64_t ts = t - g->query_offset_ms;
    for (size_t i = 0; i < g->nrules; i++) {
        struct rule_priv *p = g->rules[i].priv;
        for (size_t k = 0; p && k < p->nprev; k++) {
            env->append(env->ctx, &p->prev[k], ts, tsdb_stale_nan());
            rules__labels_free(&p->prev[k]);
        }
        if (p)
            p->nprev = 0;
    }
    mark_dropped(g, ts, env);
    env->commit(env->ctx);
}

/* ---- evaluation ----------------------------------------------------------------- */

int rule_query(const struct rule_group *g, size_t i, int64_t t, const struct rule_env *env,
               struct promql_result **out, struct promql_eval_error *err)
{
    *out = NULL;
    memset(err, 0, sizeof *err);
    int rc = env->query(env->ctx, g->rules[i].expr, t - g->query_offset_ms, out, err);
    if (rc && *out) {
        promql_result_free(*out);
        *out = NULL;
    }
    if (rc && !err->msg[0])
        snprintf(err->msg, sizeof err->msg, "query failed: %s", tsdb_strerror(rc));
    return rc;
}

void rule_apply(struct rule_group *g, size_t i, int64_t t, struct promql_result *res,
                const struct promql_eval_error *err, double seconds, const struct rule_env *env)
{
    struct rule *r = &g->rules[i];
    r->last_eval_ms = t;
    r->last_eval_seconds = seconds;
    g->last_eval_ms = t;
    g->eval_total++;
    char msg[600] = "";
    struct in_sample *in = NULL;
    size_t n = 0;
    struct outs o = {0};
    int rc;
    if (!res) {
        snprintf(msg, sizeof msg, "%s", err && err->msg[0] ? err->msg : "query failed");
        rc = -1;
    } else if ((rc = rules__prepare(g, i)) == 0 &&
               (rc = result_samples(res, &in, &n)) == -EINVAL) {
        snprintf(msg, sizeof msg, "rule result is not a vector or scalar");
    }
    if (rc == 0 && r->kind == RULE_RECORDING)
        rc = apply_recording(g, r, in, n, &o, msg, sizeof msg);
    else if (rc == 0)
        rc = apply_alerting(g, r, t, in, n, env, &o, msg, sizeof msg);
    free(in);
    promql_result_free(res);
    if (rc) {
        set_error(r, "%s", msg[0] ? msg : "out of memory");
        g->eval_failures++;
        outs_free(&o);
        if (i + 1 == g->nrules)
            mark_dropped(g, t - g->query_offset_ms, env);
        return;
    }
    r->health = RULE_HEALTH_OK;
    free(r->last_error);
    r->last_error = NULL;
    r->last_samples = o.n;
    if (o.n) /* qsort(NULL, 0) is undefined */
        qsort(o.v, o.n, sizeof *o.v, out_cmp);
    write_outs(r, t - g->query_offset_ms, &o, env);
    outs_free(&o);
    if (i + 1 == g->nrules)
        mark_dropped(g, t - g->query_offset_ms, env);
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rule_group_eval(struct rule_group *g, int64_t t, const struct rule_env *env)
{
    double start = mono_seconds();
    for (size_t i = 0; i < g->nrules; i++) {
        struct promql_result *res = NULL;
        struct promql_eval_error err;
        double t0 = mono_seconds();
        rule_query(g, i, t, env, &res, &err);
        rule_apply(g, i, t, res, &err, mono_seconds() - t0, env);
    }
    if (!g->nrules)
        mark_dropped(g, t - g->query_offset_ms, env);
    g->last_eval_ms = t;
    g->last_eval_seconds = mono_seconds() - start;
}
