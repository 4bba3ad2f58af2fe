/* test_rules.c — the rule engine against a real store: rule files loaded
 * from a temp dir, groups evaluated with a fake clock, results read back
 * with PromQL the way a user (or Grafana) would see them. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "output.h"
#include "rules.h"
#include "series_notation.h"

#define T0 INT64_C(1700000000000)
#define MIN INT64_C(60000)

/* ---- the store and the environment --------------------------------------- */

struct env {
    struct series_store st; /* st.dir also holds the test's rule files */
    struct rule_env re;
    struct tsdb_label ext[1];
    struct tsdb_labels ext_ls;
    int files;
};

static int q_cb(void *ctx, const struct promql_expr *e, int64_t t, struct promql_result **out,
                struct promql_eval_error *err)
{
    struct env *env = ctx;
    struct tsdb_snapshot *snap;
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    int rc = tsdb_snapshot_open(env->st.db, &snap);
    if (rc)
        return rc;
    rc = promql_eval_expr_instant(snap, e, t, &o, out, err);
    tsdb_snapshot_close(snap);
    return rc;
}

static int app_cb(void *ctx, const struct tsdb_labels *ls, int64_t t, double v)
{
    struct env *env = ctx;
    tsdb_ref ref;
    int rc = tsdb_series_ref(env->st.db, ls, &ref);
    return rc ? rc : tsdb_append(env->st.db, ref, t, v);
}

static int commit_cb(void *ctx)
{
    return tsdb_commit(((struct env *)ctx)->st.db);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    assert_int_equal(series_store_open(&e->st), 0);
    e->ext[0] = (struct tsdb_label){"cluster", "eu1"};
    e->ext_ls = (struct tsdb_labels){1, e->ext};
    e->re = (struct rule_env){e, q_cb, app_cb, commit_cb, &e->ext_ls, "http://vigil:9190"};
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    series_store_close(&e->st);
    free(e);
    return 0;
}

/* Stores name{k=v,...} = v at t; labels as NULL-terminated name, value. */
static void put(struct env *e, int64_t t, double v, const char *name, ...)
{
    struct tsdb_label l[16] = {{"__name__", name}};
    size_t n = 1;
    va_list ap;
    va_start(ap, name);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        l[n].name = k;
        l[n++].value = va_arg(ap, const char *);
    }
    va_end(ap);
    struct tsdb_labels ls = {n, l};
    assert_int_equal(app_cb(e, &ls, t, v), 0);
    assert_int_equal(tsdb_commit(e->st.db), 0);
}

static int series_cmp(const void *x, const void *y)
{
    const struct promql_series *const *a = x, *const *b = y;
    return output_labels_cmp(&(*a)->labels, &(*b)->labels);
}

/* The result of query at t as "series value" lines, sorted. */
static char *query(struct env *e, const char *q, int64_t t)
{
    struct promql_result *r;
    struct promql_eval_error err;
    struct tsdb_snapshot *snap;
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    assert_int_equal(tsdb_snapshot_open(e->st.db, &snap), 0);
    int rc = promql_eval_instant(snap, q, t, &o, &r, &err);
    tsdb_snapshot_close(snap);
    if (rc)
        fail_msg("query %s: %s", q, err.msg);
    static char out[4096];
    out[0] = '\0';
    const struct promql_series **v = calloc(r->nseries + 1, sizeof *v);
    for (size_t i = 0; i < r->nseries; i++)
        v[i] = &r->series[i];
    qsort(v, r->nseries, sizeof *v, series_cmp);
    for (size_t i = 0; i < r->nseries; i++) {
        char *name = output_series_name(&v[i]->labels);
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s %.10g", i ? "\n" : "", name,
                 v[i]->points[0].v);
        free(name);
    }
    free(v);
    promql_result_free(r);
    return out;
}

static void rewrite(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Writes text to a new rule file and loads it. */
static void load(struct env *e, const char *text, struct rule_set *rs)
{
    char path[128];
    snprintf(path, sizeof path, "%s/rules%d.yml", e->st.dir, e->files++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    const char *globs[] = {path};
    char *errors = NULL;
    int rc = rules_load(globs, 1, MIN, rs, &errors);
    if (rc)
        fail_msg("rules_load: %d %s", rc, errors ? errors : "");
}

static struct alert *alert_at(struct rule *r, size_t i)
{
    assert_true(i < r->nalerts);
    return &r->alerts[i];
}

/* ---- alerting: for, keep_firing_for, flapping ------------------------------- */

static const char *down_rules = "groups:\n"
                                "- name: g\n"
                                "  rules:\n"
                                "  - alert: Down\n"
                                "    expr: up == 0\n"
                                "    for: 2m\n"
                                "    labels: {severity: page}\n";

static void test_for_pending_then_firing(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e, down_rules, &rs);
    struct rule_group *g = &rs.groups[0];
    struct rule *r = &g->rules[0];
    assert_int_equal(g->interval_ms, MIN);

    put(e, T0, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0, &e->re);
    assert_int_equal(r->health, RULE_HEALTH_OK);
    assert_int_equal(alert_at(r, 0)->state, ALERT_PENDING);
    assert_int_equal(alert_at(r, 0)->active_at_ms, T0);
    assert_string_equal(query(e, "ALERTS", T0),
                        "ALERTS{alertname=\"Down\", alertstate=\"pending\", job=\"a\", "
                        "severity=\"page\"} 1");
    assert_string_equal(query(e, "ALERTS_FOR_STATE", T0),
                        "ALERTS_FOR_STATE{alertname=\"Down\", job=\"a\", severity=\"page\"} "
                        "1700000000");

    put(e, T0 + MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + MIN, &e->re); /* for - 1 step: still pending */
    assert_int_equal(alert_at(r, 0)->state, ALERT_PENDING);

    put(e, T0 + 2 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 2 * MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_FIRING);
    assert_int_equal(alert_at(r, 0)->fired_at_ms, T0 + 2 * MIN);
    assert_int_equal(alert_at(r, 0)->active_at_ms, T0);
    /* The pending series got a stale marker when the alert fired. */
    assert_string_equal(query(e, "ALERTS", T0 + 2 * MIN),
                        "ALERTS{alertname=\"Down\", alertstate=\"firing\", job=\"a\", "
                        "severity=\"page\"} 1");

    /* up recovers: resolved (kept for notifications), ALERTS goes stale. */
    put(e, T0 + 3 * MIN, 1, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 3 * MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_INACTIVE);
    assert_int_equal(alert_at(r, 0)->resolved_at_ms, T0 + 3 * MIN);
    assert_string_equal(query(e, "ALERTS", T0 + 3 * MIN), "");
    assert_string_equal(query(e, "ALERTS_FOR_STATE", T0 + 3 * MIN), "");

    /* Dropped 15 minutes after resolving. */
    rule_group_eval(g, T0 + 18 * MIN, &e->re);
    assert_int_equal(r->nalerts, 1);
    rule_group_eval(g, T0 + 18 * MIN + 1, &e->re);
    assert_int_equal(r->nalerts, 0);
    rule_set_free(&rs);
}

static void test_for_zero_fires_at_once(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e, "groups:\n- name: g\n  rules:\n  - alert: Now\n    expr: up == 0\n", &rs);
    put(e, T0, 0, "up", "job", "a", NULL);
    rule_group_eval(&rs.groups[0], T0, &e->re);
    assert_int_equal(alert_at(&rs.groups[0].rules[0], 0)->state, ALERT_FIRING);
    assert_string_equal(query(e, "ALERTS", T0),
                        "ALERTS{alertname=\"Now\", alertstate=\"firing\", job=\"a\"} 1");
    rule_set_free(&rs);
}

static void test_keep_firing_for(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e,
         "groups:\n- name: g\n  rules:\n  - alert: Kff\n    expr: up == 0\n"
         "    keep_firing_for: 2m\n",
         &rs);
    struct rule_group *g = &rs.groups[0];
    struct rule *r = &g->rules[0];
    put(e, T0, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_FIRING);

    put(e, T0 + MIN, 1, "up", "job", "a", NULL); /* condition gone */
    rule_group_eval(g, T0 + MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_FIRING);
    assert_int_equal(alert_at(r, 0)->keep_firing_since_ms, T0 + MIN);
    assert_string_equal(query(e, "ALERTS", T0 + MIN),
                        "ALERTS{alertname=\"Kff\", alertstate=\"firing\", job=\"a\"} 1");
    put(e, T0 + 2 * MIN, 1, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 2 * MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_FIRING);
    put(e, T0 + 3 * MIN, 1, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 3 * MIN, &e->re); /* 2m since it stopped: resolves */
    assert_int_equal(alert_at(r, 0)->state, ALERT_INACTIVE);
    assert_int_equal(alert_at(r, 0)->resolved_at_ms, T0 + 3 * MIN);
    assert_string_equal(query(e, "ALERTS", T0 + 3 * MIN), "");

    /* Coming back while keeping firing resets the keep_firing clock. */
    put(e, T0 + 4 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 4 * MIN, &e->re); /* a new alert, fires at once */
    assert_int_equal(alert_at(r, 0)->active_at_ms, T0 + 4 * MIN);
    put(e, T0 + 5 * MIN, 1, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 5 * MIN, &e->re);
    put(e, T0 + 6 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 6 * MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->keep_firing_since_ms, 0);
    assert_int_equal(alert_at(r, 0)->state, ALERT_FIRING);
    rule_set_free(&rs);
}

static void test_flapping(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e, down_rules, &rs);
    struct rule_group *g = &rs.groups[0];
    struct rule *r = &g->rules[0];
    /* Pending, gone before `for`, back: the for clock restarts. */
    put(e, T0, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0, &e->re);
    put(e, T0 + MIN, 1, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + MIN, &e->re);
    assert_int_equal(r->nalerts, 0);
    assert_string_equal(query(e, "ALERTS", T0 + MIN), "");
    put(e, T0 + 2 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 2 * MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_PENDING);
    assert_int_equal(alert_at(r, 0)->active_at_ms, T0 + 2 * MIN);
    put(e, T0 + 3 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 3 * MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_PENDING);
    put(e, T0 + 4 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 4 * MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_FIRING);
    /* Firing, resolved, back while resolved: pending anew. */
    put(e, T0 + 5 * MIN, 1, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 5 * MIN, &e->re);
    assert_int_equal(alert_at(r, 0)->state, ALERT_INACTIVE);
    put(e, T0 + 6 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 6 * MIN, &e->re);
    assert_int_equal(r->nalerts, 1);
    assert_int_equal(alert_at(r, 0)->state, ALERT_PENDING);
    assert_int_equal(alert_at(r, 0)->active_at_ms, T0 + 6 * MIN);
    assert_int_equal(alert_at(r, 0)->resolved_at_ms, 0);
    assert_string_equal(query(e, "ALERTS_FOR_STATE", T0 + 6 * MIN),
                        "ALERTS_FOR_STATE{alertname=\"Down\", job=\"a\", severity=\"page\"} "
                        "1700000360");
    rule_set_free(&rs);
}

/* ---- recording rules --------------------------------------------------------- */

static void test_recording_chain_and_stale(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e,
         "groups:\n"
         "- name: rec\n"
         "  labels: {team: blog, env: prod}\n"
         "  rules:\n"
         "  - record: job:up:sum\n"
         "    expr: sum by (job) (up)\n"
         "    labels: {env: test}\n"
         "  - record: jobs:up:total\n"
         "    expr: sum(job:up:sum)\n"
         "  - record: answer\n"
         "    expr: 42\n",
         &rs);
    struct rule_group *g = &rs.groups[0];
    assert_int_equal(rule_reads_earlier(g, 0), 0);
    assert_int_equal(rule_reads_earlier(g, 1), 1);
    assert_int_equal(rule_reads_earlier(g, 2), 0);
    put(e, T0, 1, "up", "job", "a", "instance", "1", NULL);
    put(e, T0, 1, "up", "job", "a", "instance", "2", NULL);
    put(e, T0, 1, "up", "job", "b", "instance", "3", NULL);
    rule_group_eval(g, T0, &e->re);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(g->rules[i].health, RULE_HEALTH_OK);
    assert_string_equal(query(e, "job:up:sum", T0),
                        "job:up:sum{env=\"test\", job=\"a\", team=\"blog\"} 2\n"
                        "job:up:sum{env=\"test\", job=\"b\", team=\"blog\"} 1");
    /* The second rule saw the first one's output of this evaluation. */
    assert_string_equal(query(e, "jobs:up:total", T0),
                        "jobs:up:total{env=\"prod\", team=\"blog\"} 3");
    assert_string_equal(query(e, "answer", T0), "answer{env=\"prod\", team=\"blog\"} 42");
    assert_int_equal(g->rules[0].last_samples, 2);

    /* job b's only target disappears (its series goes stale): the recorded
     * series of job b is marked stale at once, not 5 minutes later. */
    put(e, T0 + MIN, 1, "up", "job", "a", "instance", "1", NULL);
    put(e, T0 + MIN, 1, "up", "job", "a", "instance", "2", NULL);
    put(e, T0 + MIN, tsdb_stale_nan(), "up", "job", "b", "instance", "3", NULL);
    rule_group_eval(g, T0 + MIN, &e->re);
    assert_string_equal(query(e, "job:up:sum", T0 + MIN),
                        "job:up:sum{env=\"test\", job=\"a\", team=\"blog\"} 2");
    assert_string_equal(query(e, "jobs:up:total", T0 + MIN),
                        "jobs:up:total{env=\"prod\", team=\"blog\"} 2");
    rule_set_free(&rs);
}

static void test_limit_and_duplicates(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e,
         "groups:\n"
         "- name: lim\n"
         "  limit: 1\n"
         "  rules:\n"
         "  - record: x:up\n"
         "    expr: up\n"
         "  - alert: Many\n"
         "    expr: up\n"
         "  - record: dup\n"
         "    expr: up\n"
         "    labels: {job: same}\n",
         &rs);
    struct rule_group *g = &rs.groups[0];
    g->limit = 1;
    put(e, T0, 1, "up", "job", "a", NULL);
    put(e, T0, 1, "up", "job", "b", NULL);
    rule_group_eval(g, T0, &e->re);
    assert_int_equal(g->rules[0].health, RULE_HEALTH_ERR);
    assert_string_equal(g->rules[0].last_error, "exceeded limit of 1 with 2 series");
    assert_string_equal(query(e, "x:up", T0), "");
    assert_int_equal(g->rules[1].health, RULE_HEALTH_ERR);
    assert_string_equal(g->rules[1].last_error, "exceeded limit of 1 with 2 alerts");
    assert_int_equal(g->rules[1].nalerts, 0);
    assert_string_equal(query(e, "ALERTS", T0), "");
    assert_int_equal(g->rules[2].health, RULE_HEALTH_ERR);
    assert_string_equal(g->rules[2].last_error, "vector contains metrics with the same labelset "
                                                "after applying rule labels");
    assert_int_equal(g->eval_failures, 3);
    /* Under the limit again: the rule recovers. */
    g->limit = 2;
    rule_group_eval(g, T0 + MIN, &e->re);
    assert_int_equal(g->rules[0].health, RULE_HEALTH_OK);
    assert_null(g->rules[0].last_error);
    assert_string_equal(query(e, "x:up", T0 + MIN), "x:up{job=\"a\"} 1\nx:up{job=\"b\"} 1");
    rule_set_free(&rs);
}

static void test_query_error_is_rule_health(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e,
         "groups:\n- name: g\n  rules:\n  - record: bad\n    expr: up / on() up\n"
         "  - record: good\n    expr: vector(1)\n",
         &rs);
    put(e, T0, 1, "up", "job", "a", NULL);
    put(e, T0, 1, "up", "job", "b", NULL);
    rule_group_eval(&rs.groups[0], T0, &e->re);
    assert_int_equal(rs.groups[0].rules[0].health, RULE_HEALTH_ERR);
    assert_non_null(strstr(rs.groups[0].rules[0].last_error, "many-to-many"));
    /* The group went on with the next rule. */
    assert_int_equal(rs.groups[0].rules[1].health, RULE_HEALTH_OK);
    assert_string_equal(query(e, "good", T0), "good 1");
    rule_set_free(&rs);
}

static void test_query_offset_and_scalar_alert(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e,
         "groups:\n- name: g\n  query_offset: 1m\n  rules:\n"
         "  - record: up:copy\n    expr: up\n"
         "  - alert: AlwaysFiring\n    expr: 1\n",
         &rs);
    put(e, T0, 7, "up", "job", "a", NULL);
    put(e, T0 + MIN, 8, "up", "job", "a", NULL); /* too recent for the rule */
    rule_group_eval(&rs.groups[0], T0 + MIN, &e->re);
    /* Queried and written at t - query_offset. */
    assert_string_equal(query(e, "up:copy", T0), "up:copy{job=\"a\"} 7");
    assert_string_equal(query(e, "ALERTS", T0),
                        "ALERTS{alertname=\"AlwaysFiring\", alertstate=\"firing\"} 1");
    struct alert *a = alert_at(&rs.groups[0].rules[1], 0);
    assert_int_equal(a->labels.len, 1); /* a scalar has no labels: alertname only */
    assert_int_equal(a->active_at_ms, T0 + MIN);
    rule_set_free(&rs);
}

static void test_reads_earlier(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e,
         "groups:\n- name: g\n  rules:\n"
         "  - record: job:a\n    expr: up\n"                        /* 0 */
         "  - record: job:b\n    expr: rate(http_total[5m])\n"      /* 1: no */
         "  - record: job:c\n    expr: max_over_time(job:a[5m:1m])\n" /* 2: yes */
         "  - alert: A\n    expr: up == 0\n"                        /* 3: no */
         "  - record: job:d\n    expr: count(ALERTS)\n"             /* 4: yes */
         "  - record: job:e\n    expr: '{job=\"x\"}'\n"             /* 5: yes */
         "  - record: job:f\n    expr: '{__name__=~\"other.*\"}'\n" /* 6: yes */
         "  - record: job:g\n    expr: '{job=\"x\", __name__!=\"job:a\", __name__!=\"job:b\", "
         "__name__!=\"job:c\", __name__!=\"ALERTS\", __name__!=\"ALERTS_FOR_STATE\", "
         "__name__!=\"job:d\", __name__!=\"job:e\", __name__!=\"job:f\"}'\n" /* 7: no */
         "  - record: job:h\n    expr: vector(1) + on() group_left() job:g\n", /* 8: yes */
         &rs);
    static const int want[] = {0, 0, 1, 0, 1, 1, 1, 0, 1};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (rule_reads_earlier(&rs.groups[0], i) != want[i])
            fail_msg("rule %zu: want %d", i, want[i]);
    rule_set_free(&rs);
}

/* ---- templates ------------------------------------------------------------------ */

static void test_templates(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e,
         "groups:\n- name: g\n  rules:\n  - alert: Slow\n"
         "    expr: latency_seconds > 1\n"
         "    labels:\n      where: '{{ $labels.instance }}'\n"
         "    annotations:\n"
         "      summary: '{{ $labels.instance }} of {{ $externalLabels.cluster }} is slow'\n"
         "      value: 'took {{ $value }}s'\n"
         "      link: '{{ $externalURL }}/alerts'\n",
         &rs);
    put(e, T0, 2.5, "latency_seconds", "instance", "web-1", NULL);
    rule_group_eval(&rs.groups[0], T0, &e->re);
    struct rule *r = &rs.groups[0].rules[0];
    struct alert *a = alert_at(r, 0);
    assert_string_equal(a->labels.v[2].name, "where");
    assert_string_equal(a->labels.v[2].value, "web-1");
    assert_int_equal(a->annotations.len, 3);
    assert_string_equal(a->annotations.v[0].value, "http://vigil:9190/alerts");
    assert_string_equal(a->annotations.v[1].value, "web-1 of eu1 is slow");
    assert_string_equal(a->annotations.v[2].value, "took 2.5s");
    /* Annotations follow the value at every evaluation. */
    put(e, T0 + MIN, 3, "latency_seconds", "instance", "web-1", NULL);
    rule_group_eval(&rs.groups[0], T0 + MIN, &e->re);
    assert_string_equal(alert_at(r, 0)->annotations.v[2].value, "took 3s");
    assert_int_equal(alert_at(r, 0)->value, 3);
    rule_set_free(&rs);
}

/* ---- notifications ---------------------------------------------------------------- */

struct sent {
    int calls;
    size_t n;
    char labels[512];
    int64_t starts, ends;
    int resolved;
    char url[256];
};

static void on_send(void *ctx, const struct alert_notification *a, size_t n)
{
    struct sent *s = ctx;
    s->calls++;
    s->n = n;
    char *name = output_series_name(a[0].labels);
    snprintf(s->labels, sizeof s->labels, "%s", name);
    free(name);
    s->starts = a[0].starts_at_ms;
    s->ends = a[0].ends_at_ms;
    s->resolved = a[0].resolved;
    snprintf(s->url, sizeof s->url, "%s", a[0].generator_url);
}

static void test_send_resend_and_resolved(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e, down_rules, &rs);
    struct rule_group *g = &rs.groups[0];
    struct sent s = {0};
    int64_t resend = MIN;
    put(e, T0, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0, &e->re);
    rule_group_send(g, T0, resend, &e->ext_ls, "http://vigil:9190", on_send, &s);
    assert_int_equal(s.calls, 0); /* pending alerts are not sent */

    for (int64_t m = 1; m <= 2; m++) {
        put(e, T0 + m * MIN, 0, "up", "job", "a", NULL);
        rule_group_eval(g, T0 + m * MIN, &e->re);
    }
    rule_group_send(g, T0 + 2 * MIN, resend, &e->ext_ls, "http://vigil:9190", on_send, &s);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.labels,
                        "{alertname=\"Down\", cluster=\"eu1\", job=\"a\", severity=\"page\"}");
    assert_int_equal(s.starts, T0 + 2 * MIN);
    assert_int_equal(s.ends, T0 + 2 * MIN + 4 * MIN); /* 4 x max(resend, interval) */
    assert_int_equal(s.resolved, 0);
    assert_string_equal(s.url, "http://vigil:9190/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
    /* An external label the alert has itself is not overridden. */
    struct tsdb_label own[] = {{"job", "ext"}};
    struct tsdb_labels own_ls = {1, own};
    g->rules[0].alerts[0].last_sent_ms = 0;
    rule_group_send(g, T0 + 2 * MIN, resend, &own_ls, "", on_send, &s);
    assert_int_equal(s.calls, 2);
    assert_string_equal(s.labels, "{alertname=\"Down\", job=\"a\", severity=\"page\"}");
    assert_string_equal(s.url, "/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
    s.calls = 1;
    assert_int_equal(g->rules[0].alerts[0].last_sent_ms, T0 + 2 * MIN);

    /* Within the resend delay nothing is sent; after it, again. */
    rule_group_send(g, T0 + 2 * MIN + 30000, resend, NULL, NULL, on_send, &s);
    assert_int_equal(s.calls, 1);
    rule_group_send(g, T0 + 3 * MIN + 1, resend, NULL, NULL, on_send, &s);
    assert_int_equal(s.calls, 2);

    /* Resolved: sent at once, ends_at = resolved_at, resent while kept. */
    put(e, T0 + 4 * MIN, 1, "up", "job", "a", NULL);
    rule_group_eval(g, T0 + 4 * MIN, &e->re);
    rule_group_send(g, T0 + 4 * MIN, resend, NULL, NULL, on_send, &s);
    assert_int_equal(s.calls, 3);
    assert_int_equal(s.resolved, 1);
    assert_int_equal(s.ends, T0 + 4 * MIN);
    rule_group_send(g, T0 + 4 * MIN + 1000, resend, NULL, NULL, on_send, &s);
    assert_int_equal(s.calls, 3);
    rule_group_eval(g, T0 + 20 * MIN, &e->re); /* past the 15 m retention */
    rule_group_send(g, T0 + 20 * MIN, resend, NULL, NULL, on_send, &s);
    assert_int_equal(s.calls, 3);
    rule_set_free(&rs);
}

/* ---- state across restarts and reloads ------------------------------------------- */

static void test_save_restore(void **state)
{
    struct env *e = *state;
    struct rule_set rs;
    load(e,
         "groups:\n- name: g\n  rules:\n"
         "  - alert: Down\n    expr: up == 0\n    for: 2m\n"
         "  - alert: Now\n    expr: up == 0\n",
         &rs);
    struct rule_group *g = &rs.groups[0];
    struct sent s = {0};
    put(e, T0, 0, "up", "job", "a", NULL);
    rule_group_eval(g, T0, &e->re);
    rule_group_send(g, T0, MIN, NULL, NULL, on_send, &s);
    assert_int_equal(s.calls, 1);
    char path[128];
    snprintf(path, sizeof path, "%s/state.json", e->st.dir);
    assert_int_equal(rules_state_save(&rs, path), 0);

    /* A restart: the same file loaded again, state restored. */
    const char *file = g->file;
    const char *globs[] = {file};
    struct rule_set rs2;
    char *errors = NULL, err[256];
    assert_int_equal(rules_load(globs, 1, MIN, &rs2, &errors), 0);
    assert_int_equal(rules_state_restore(&rs2, path, err, sizeof err), 0);
    struct rule *down = &rs2.groups[0].rules[0], *now = &rs2.groups[0].rules[1];
    assert_int_equal(down->nalerts, 1);
    assert_int_equal(down->alerts[0].state, ALERT_PENDING);
    assert_int_equal(down->alerts[0].active_at_ms, T0);
    assert_int_equal(now->alerts[0].state, ALERT_FIRING);
    assert_int_equal(now->alerts[0].last_sent_ms, T0);
    /* No re-page within the resend delay, no lost `for` time. */
    s.calls = 0;
    rule_group_send(&rs2.groups[0], T0 + 30000, MIN, NULL, NULL, on_send, &s);
    assert_int_equal(s.calls, 0);
    put(e, T0 + 2 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(&rs2.groups[0], T0 + 2 * MIN, &e->re);
    assert_int_equal(down->alerts[0].state, ALERT_FIRING);
    assert_int_equal(down->alerts[0].active_at_ms, T0);

    /* A missing file is no error; a corrupt one is, and changes nothing. */
    snprintf(path, sizeof path, "%s/missing.json", e->st.dir);
    assert_int_equal(rules_state_restore(&rs2, path, err, sizeof err), 0);
    char prefix[600];
    snprintf(prefix, sizeof prefix,
             "{\"version\":1,\"groups\":[{\"file\":\"%s\",\"name\":\"g\",\"rules\":[{\"index\":0,"
             "\"kind\":\"alerting\",\"name\":\"Down\",\"expr\":\"up == 0\",\"alerts\":[",
             file);
    static const char *const alert_ok = "\"labels\":{\"alertname\":\"Down\"},"
                                        "\"annotations\":{},\"value\":\"1\",\"fired_at_ms\":0,"
                                        "\"resolved_at_ms\":0,\"last_sent_ms\":0,"
                                        "\"valid_until_ms\":0,\"keep_firing_since_ms\":0";
    static const struct {
        const char *alerts, *want;
    } corrupt[] = {
        {"{\"state\":\"burning\",\"active_at_ms\":1,%s}", "an alert is malformed"},
        {"{\"state\":\"firing\",\"active_at_ms\":-5,%s}", "an alert is malformed"},
        {"{\"state\":\"firing\",\"active_at_ms\":1,%s},{\"state\":\"firing\","
         "\"active_at_ms\":2,%s}",
         "an alert is malformed"},
        {"{\"state\":\"firing\",\"active_at_ms\":1,%s,\"x\":1", "1:"},
    };
    snprintf(path, sizeof path, "%s/bad.json", e->st.dir);
    for (size_t i = 0; i < sizeof corrupt / sizeof *corrupt; i++) {
        FILE *f = fopen(path, "w");
        fputs(prefix, f);
        fprintf(f, corrupt[i].alerts, alert_ok, alert_ok);
        fputs("]}]}]}", f);
        fclose(f);
        assert_int_equal(rules_state_restore(&rs2, path, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "bad.json"));
        if (!strstr(err, corrupt[i].want))
            fail_msg("case %zu: %s", i, err);
        /* Nothing was changed. */
        assert_int_equal(down->nalerts, 1);
        assert_int_equal(down->alerts[0].state, ALERT_FIRING);
    }
    /* The same file with a well-formed alert is taken. */
    FILE *f = fopen(path, "w");
    fputs(prefix, f);
    fprintf(f, "{\"state\":\"pending\",\"active_at_ms\":5000,%s}]}]}]}", alert_ok);
    fclose(f);
    assert_int_equal(rules_state_restore(&rs2, path, err, sizeof err), 0);
    assert_int_equal(down->alerts[0].state, ALERT_PENDING);
    assert_int_equal(down->alerts[0].active_at_ms, 5000);
    rule_set_free(&rs2);
    rule_set_free(&rs);
}

static void test_carry_state_on_reload(void **state)
{
    struct env *e = *state;
    struct rule_set old;
    load(e, down_rules, &old);
    put(e, T0, 0, "up", "job", "a", NULL);
    rule_group_eval(&old.groups[0], T0, &e->re);
    const char *globs[] = {old.groups[0].file};
    struct rule_set same, changed;
    char *errors = NULL;
    assert_int_equal(rules_load(globs, 1, MIN, &same, &errors), 0);
    rule_set_carry_state(&same, &old);
    assert_int_equal(same.groups[0].rules[0].nalerts, 1);
    assert_int_equal(same.groups[0].rules[0].alerts[0].active_at_ms, T0);
    assert_int_equal(same.groups[0].rules[0].health, RULE_HEALTH_OK);

    /* A changed expression starts empty. */
    rewrite(globs[0], "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up < 1\n"
                      "    for: 2m\n    labels: {severity: page}\n");
    assert_int_equal(rules_load(globs, 1, MIN, &changed, &errors), 0);
    rule_set_carry_state(&changed, &old);
    assert_int_equal(changed.groups[0].rules[0].nalerts, 0);
    assert_int_equal(changed.groups[0].rules[0].health, RULE_HEALTH_UNKNOWN);

    /* The carried-over rule keeps counting `for` from the old active_at and
     * knows its old series (the pending one goes stale when it fires). */
    put(e, T0 + 2 * MIN, 0, "up", "job", "a", NULL);
    rule_group_eval(&same.groups[0], T0 + 2 * MIN, &e->re);
    assert_int_equal(same.groups[0].rules[0].alerts[0].state, ALERT_FIRING);
    assert_string_equal(query(e, "ALERTS", T0 + 2 * MIN),
                        "ALERTS{alertname=\"Down\", alertstate=\"firing\", job=\"a\", "
                        "severity=\"page\"} 1");
    rule_set_free(&changed);
    rule_set_free(&same);
    rule_set_free(&old);
}

static void test_reload_marks_dropped_series_stale(void **state)
{
    struct env *e = *state;
    struct rule_set old, next;
    char *errors = NULL;
    load(e,
         "groups:\n- name: g\n  rules:\n  - record: a:up\n    expr: up\n"
         "  - record: b:up\n    expr: up\n",
         &old);
    put(e, T0, 1, "up", "job", "a", NULL);
    rule_group_eval(&old.groups[0], T0, &e->re);
    assert_string_equal(query(e, "b:up", T0), "b:up{job=\"a\"} 1");

    /* b:up removed, a:up changed: b's series goes stale at the next
     * evaluation; a's is written again by the new rule, not marked. */
    const char *globs[] = {old.groups[0].file};
    rewrite(globs[0], "groups:\n- name: g\n  rules:\n  - record: a:up\n    expr: up * 2\n");
    assert_int_equal(rules_load(globs, 1, MIN, &next, &errors), 0);
    rule_set_carry_state(&next, &old);
    rule_set_free(&old);
    put(e, T0 + MIN, 1, "up", "job", "a", NULL);
    rule_group_eval(&next.groups[0], T0 + MIN, &e->re);
    assert_string_equal(query(e, "b:up", T0 + MIN), "");
    assert_string_equal(query(e, "a:up", T0 + MIN), "a:up{job=\"a\"} 2");

    /* The whole group removed: everything it wrote goes stale. */
    rule_group_mark_stale(&next.groups[0], T0 + 2 * MIN, &e->re);
    assert_string_equal(query(e, "a:up", T0 + 2 * MIN), "");
    assert_string_equal(query(e, "a:up", T0 + 2 * MIN - 1), "a:up{job=\"a\"} 2");
    rule_set_free(&next);
}

/* ---- load errors ------------------------------------------------------------------- */

static const struct {
    const char *text;
    const char *want; /* "line:col: message" part of the error */
} bad_files[] = {
    {"groups:\n- name: g\n  rules: [\n", "4:1: YAML syntax: did not find expected node content"},
    {"groups:\n- name: g\n  rulez: []\n", "3:3: unknown key 'rulez' in a group"},
    {"groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(\n",
     "5:11: could not parse expression: 1:5: parse error: unclosed left parenthesis"},
    {"groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: up\n",
     "4:13: invalid recording rule name: bad name"},
    {"groups:\n- name: g\n  rules:\n  - record: x\n    expr: up\n    for: 5m\n",
     "6:10: invalid field 'for' in recording rule"},
    {"groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
     "4:3: groupname: \"g\" is repeated in the same file"},
    {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n"
     "    annotations: {s: '{{ $labels.x '}\n",
     "6:22: bad template in annotations.s: 1:14: unclosed action"},
    {"groups:\n- name: g\n  rules:\n  - alert: A\n", "4:5: field 'expr' must be set in rule"},
    {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(up[5m])[10m:]\n",
     "5:11: expression must be of type instant vector or scalar, got range vector"},
    {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 minutes\n",
     "6:10: for: bad duration '5 minutes'"},
    {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: {1x: y}\n",
     "6:14: invalid label name: 1x"},
    {"groups:\n- rules: []\n", "2:3: Groupname must not be empty"},
    {"groups:\n- name: g\n  rules:\n  - record: a\n    alert: b\n    expr: up\n",
     "4:5: only one of 'record' and 'alert' must be set"},
    {"groups:\n- name: g\n  limit: -1\n", "3:10: limit must be a non-negative integer"},
};

static void test_load_errors(void **state)
{
    struct env *e = *state;
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/bad%zu.yml", e->st.dir, i);
        FILE *f = fopen(path, "w");
        fputs(bad_files[i].text, f);
        fclose(f);
        const char *globs[] = {path};
        struct rule_set rs;
        char *errors = NULL;
        assert_int_equal(rules_load(globs, 1, MIN, &rs, &errors), -EINVAL);
        assert_int_equal(rs.ngroups, 0);
        char want[256];
        snprintf(want, sizeof want, "%s:%s", path, bad_files[i].want);
        if (!errors || strncmp(errors, want, strlen(want)))
            fail_msg("case %zu: want %s\n got %s", i, want, errors ? errors : "(none)");
        assert_int_equal(errors[strlen(errors) - 1], '\n');
        free(errors);
    }
}

static void test_load_globs(void **state)
{
    struct env *e = *state;
    char path[128], pattern[128];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/g%d.rules.yml", e->st.dir, i);
        FILE *f = fopen(path, "w");
        fprintf(f, "groups:\n- name: g\n  interval: 30s\n  rules:\n  - record: r%d\n"
                   "    expr: vector(%d)\n",
                i, i);
        fclose(f);
    }
    snprintf(pattern, sizeof pattern, "%s/*.rules.yml", e->st.dir);
    snprintf(path, sizeof path, "%s/nothing-*.yml", e->st.dir);
    const char *globs[] = {pattern, path};
    struct rule_set rs;
    char *errors = NULL;
    assert_int_equal(rules_load(globs, 2, MIN, &rs, &errors), 0);
    assert_int_equal(rs.ngroups, 2); /* same name, different files */
    assert_string_equal(rs.groups[1].rules[0].name, "r1");
    assert_int_equal(rs.groups[0].interval_ms, 30000);
    assert_int_equal(rs.groups[0].rules[0].line, 5);
    rule_set_free(&rs);
    /* A literal path that does not exist is an error. */
    snprintf(path, sizeof path, "%s/absent.yml", e->st.dir);
    globs[0] = path;
    assert_int_equal(rules_load(globs, 1, MIN, &rs, &errors), -EINVAL);
    assert_non_null(strstr(errors, "absent.yml: cannot read: No such file"));
    free(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_for_pending_then_firing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_for_zero_fires_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_firing_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording_chain_and_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_error_is_rule_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_offset_and_scalar_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_earlier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_resend_and_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_carry_state_on_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_marks_dropped_series_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_globs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
