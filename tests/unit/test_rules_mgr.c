/* test_rules_mgr.c — the rules manager on a real libuv loop and store:
 * groups evaluated on their timers (results a later rule reads, alerts
 * handed to the notifier callback, self-metrics), a reload that keeps alert
 * state, the state file carrying a pending alert over a restart, and a
 * loop that closes clean every time. */
#include <errno.h>
#include <ftw.h>
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

#include "rules_mgr.h"
#include "timefmt.h"

struct fixture {
    char dir[64], cfg_path[128];
    uv_loop_t loop;
    struct tsdb *db;
    struct config cfg;
    size_t firing_sent;             /* alerts the notifier got, firing */
    int closed;
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Points cfg.rule_files at dir/NAME (relative to the config file). */
static void use_rules(struct fixture *fx, const char *name, const char *text)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", fx->dir, name);
    write_file(path, text);
    for (size_t i = 0; i < fx->cfg.nrule_files; i++)
        free(fx->cfg.rule_files[i]);
    free(fx->cfg.rule_files);
    fx->cfg.rule_files = calloc(1, sizeof(char *));
    fx->cfg.rule_files[0] = strdup(name);
    fx->cfg.nrule_files = 1;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_rules_mgr.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->cfg_path, sizeof fx->cfg_path, "%s/vigil.yml", fx->dir);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    struct tsdb_options o;
    tsdb_options_default(&o);
    o.no_wal = 1;
    assert_int_equal(tsdb_open(fx->dir, &o, &fx->db, NULL), 0);
    config_default(&fx->cfg);
    fx->cfg.rules_self = 0;
    *state = fx;
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(tsdb_close(fx->db), 0);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* every handle closed */
    config_free(&fx->cfg);
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static void on_alerts(void *arg, const struct alert_notification *a, size_t n, int64_t now_ms)
{
    struct fixture *fx = arg;
    (void)now_ms;
    for (size_t i = 0; i < n; i++)
        fx->firing_sent += !a[i].resolved;
}

static double query_now(struct fixture *fx, const char *q);
static const struct alert *first_alert(struct rules_mgr *m, const char *group,
                                       const char *rule);

typedef int (*cond_fn)(struct fixture *fx, struct rules_mgr *m);

struct poll {
    uv_timer_t t;
    struct fixture *fx;
    struct rules_mgr *m;
    cond_fn cond;
    int ticks, met;
};

static void on_poll(uv_timer_t *t)
{
    struct poll *p = t->data;
    p->met = p->cond(p->fx, p->m);
    if (p->met || --p->ticks == 0)
        uv_stop(t->loop);
}

/* Runs the loop until cond holds (checked every 20 ms) or 5 s passed.
 * @return 1 if it held. */
static int run_until(struct fixture *fx, struct rules_mgr *m, cond_fn cond)
{
    struct poll p = {.fx = fx, .m = m, .cond = cond, .ticks = 250};
    uv_timer_init(&fx->loop, &p.t);
    p.t.data = &p;
    uv_timer_start(&p.t, on_poll, 20, 20);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&p.t, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    return p.met;
}

static struct rules_mgr *start(struct fixture *fx)
{
    struct rules_mgr *m;
    struct rule_set rs;
    char *errors = NULL, builtin[128];
    snprintf(builtin, sizeof builtin, "%s/rules", fx->dir);
    assert_int_equal(rules_mgr_new(&fx->loop, fx->db, fx->dir, &m), 0);
    rules_mgr_set_notify(m, on_alerts, fx);
    int rc = rules_mgr_load(&fx->cfg, fx->cfg_path, builtin, &rs, &errors);
    if (rc)
        fail_msg("%s", errors ? errors : "load failed");
    rules_mgr_apply(m, &rs, &fx->cfg);
    return m;
}

static void on_closed(void *arg)
{
    ((struct fixture *)arg)->closed = 1;
}

static void stop(struct fixture *fx, struct rules_mgr *m)
{
    rules_mgr_close(m, on_closed, fx);
    uv_run(&fx->loop, UV_RUN_DEFAULT); /* returns when every handle closed */
    assert_true(fx->closed);
    fx->closed = 0;
}

/* The value of query at the current time, NAN when it returns nothing. */
static double query_now(struct fixture *fx, const char *q)
{
    struct tsdb_snapshot *snap;
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    assert_int_equal(tsdb_snapshot_open(fx->db, &snap), 0);
    assert_int_equal(promql_eval_instant(snap, q, timefmt_now_ms(), &o, &r, &err), 0);
    double v = r->nseries ? r->series[0].points[0].v : NAN;
    promql_result_free(r);
    tsdb_snapshot_close(snap);
    return v;
}

static const struct alert *first_alert(struct rules_mgr *m, const char *group, const char *rule)
{
    const struct rule_set *rs = rules_mgr_rules(m);
    for (size_t i = 0; i < rs->ngroups; i++)
        for (size_t k = 0; strcmp(rs->groups[i].name, group) == 0 && k < rs->groups[i].nrules;
             k++)
            if (strcmp(rs->groups[i].rules[k].name, rule) == 0)
                return rs->groups[i].rules[k].nalerts ? &rs->groups[i].rules[k].alerts[0] : NULL;
    return NULL;
}

static const char fast_rules[] =
    "groups:\n"
    "  - name: fast\n"
    "    interval: 100ms\n"
    "    rules:\n"
    "      - record: r:one\n"
    "        expr: vector(1)\n"
    "      - record: r:two\n"
    "        expr: r:one + 1\n"
    "      - alert: Always\n"
    "        expr: vector(1)\n"
    "      - alert: Slow\n"
    "        expr: vector(1)\n"
    "        for: 1h\n";

/* Both alerts of fast_rules exist and Always reached the notifier. */
static int fast_alerts(struct fixture *fx, struct rules_mgr *m)
{
    return fx->firing_sent && first_alert(m, "fast", "Slow") &&
           first_alert(m, "fast", "Always");
}

static void test_evaluates_stores_and_notifies(void **state)
{
    struct fixture *fx = *state;
    use_rules(fx, "fast.yml", fast_rules);
    struct rules_mgr *m = start(fx);
    assert_true(run_until(fx, m, fast_alerts));
    assert_true(query_now(fx, "r:two") == 2); /* read r:one of the same evaluation */
    assert_true(query_now(fx, "ALERTS{alertname=\"Always\",alertstate=\"firing\"}") == 1);
    assert_true(query_now(fx, "ALERTS{alertname=\"Slow\",alertstate=\"pending\"}") == 1);
    assert_true(fx->firing_sent >= 1);      /* Always, handed to the notifier */
    assert_int_equal(first_alert(m, "fast", "Slow")->state, ALERT_PENDING);

    struct selfmetrics sm;
    struct http_buf b = {0};
    sm_init(&sm);
    rules_mgr_collect(m, &sm);
    assert_int_equal(sm_render(&sm, &b), 0);
    assert_int_equal(http_buf_append(&b, "", 1), 0);
    char want[256];
    snprintf(want, sizeof want, "vigil_rule_group_rules{rule_group=\"%s/fast.yml;fast\"} 4",
             fx->dir);
    assert_non_null(strstr(b.p, want));
    snprintf(want, sizeof want, "vigil_rule_evaluations_total{rule_group=\"%s/fast.yml;fast\"} ",
             fx->dir);
    const char *ev = strstr(b.p, want);
    assert_non_null(ev);
    assert_true(atoi(ev + strlen(want)) >= 4); /* every rule at least once */
    http_buf_free(&b);
    sm_free(&sm);
    stop(fx, m);
}

static int added_stored(struct fixture *fx, struct rules_mgr *m)
{
    (void)m;
    return query_now(fx, "r:added") == 7;
}

static void test_reload_keeps_alert_state(void **state)
{
    struct fixture *fx = *state;
    use_rules(fx, "fast.yml", fast_rules);
    struct rules_mgr *m = start(fx);
    assert_true(run_until(fx, m, fast_alerts));
    const struct alert *a = first_alert(m, "fast", "Slow");
    int64_t active_at = a->active_at_ms;

    char more[sizeof fast_rules + 128];
    snprintf(more, sizeof more, "%s  - name: added\n    interval: 100ms\n    rules:\n"
             "      - record: r:added\n        expr: vector(7)\n", fast_rules);
    use_rules(fx, "fast.yml", more);
    struct rule_set rs;
    char *errors = NULL;
    assert_int_equal(rules_mgr_load(&fx->cfg, fx->cfg_path, NULL, &rs, &errors), 0);
    rules_mgr_apply(m, &rs, &fx->cfg); /* swapped in once no evaluation runs */
    assert_true(run_until(fx, m, added_stored));
    assert_int_equal(rules_mgr_rules(m)->ngroups, 2);
    a = first_alert(m, "fast", "Slow");
    assert_int_equal(a->state, ALERT_PENDING);
    assert_int_equal(a->active_at_ms, active_at); /* no lost `for` time */
    stop(fx, m);
}

static void test_pending_alert_survives_restart(void **state)
{
    struct fixture *fx = *state;
    use_rules(fx, "fast.yml", fast_rules);
    struct rules_mgr *m = start(fx);
    assert_true(run_until(fx, m, fast_alerts));
    int64_t active_at = first_alert(m, "fast", "Slow")->active_at_ms;
    assert_true(active_at > 0);
    stop(fx, m); /* saves the state file */

    m = start(fx); /* restored before the first evaluation */
    const struct alert *a = first_alert(m, "fast", "Slow");
    assert_non_null(a);
    assert_int_equal(a->state, ALERT_PENDING);
    assert_int_equal(a->active_at_ms, active_at);
    assert_int_equal(first_alert(m, "fast", "Always")->state, ALERT_FIRING);
    stop(fx, m);
}

static int watchdog_sent(struct fixture *fx, struct rules_mgr *m)
{
    return fx->firing_sent && first_alert(m, "vigil-builtin", "Watchdog");
}

static void test_builtin_watchdog(void **state)
{
    struct fixture *fx = *state;
    fx->cfg.rules_watchdog = 1;
    fx->cfg.scrape.global.evaluation_interval_ms = 100;
    struct rules_mgr *m = start(fx); /* no rule_files: the built-in group only */
    assert_true(run_until(fx, m, watchdog_sent));
    const struct alert *a = first_alert(m, "vigil-builtin", "Watchdog");
    assert_non_null(a);
    assert_int_equal(a->state, ALERT_FIRING);
    assert_true(fx->firing_sent >= 1);
    stop(fx, m);
}

static int total_stored(struct fixture *fx, struct rules_mgr *m)
{
    (void)m;
    return query_now(fx, "r:total") == 780;
}

/* 40 independent rules are queried in parts on several threads; the rule
 * after them sees every one of their results. */
static void test_large_batch_in_parts(void **state)
{
    struct fixture *fx = *state;
    char text[8192] = "groups:\n  - name: wide\n    interval: 100ms\n    rules:\n";
    for (int k = 0; k < 40; k++)
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "      - record: r_many\n        expr: vector(%d)\n"
                 "        labels: {k: \"%d\"}\n", k, k);
    strcat(text, "      - record: r:total\n        expr: sum(r_many)\n");
    use_rules(fx, "wide.yml", text);
    struct rules_mgr *m = start(fx);
    assert_true(run_until(fx, m, total_stored));
    assert_true(query_now(fx, "r_many{k=\"39\"}") == 39);
    assert_true(query_now(fx, "count(r_many)") == 40);
    stop(fx, m);
}

/* A self-metric of the group "slow" rendered by rules_mgr_collect. */
static double slow_metric(struct fixture *fx, struct rules_mgr *m, const char *name)
{
    struct selfmetrics sm;
    struct http_buf b = {0};
    char want[256];
    sm_init(&sm);
    rules_mgr_collect(m, &sm);
    assert_int_equal(sm_render(&sm, &b), 0);
    assert_int_equal(http_buf_append(&b, "", 1), 0);
    snprintf(want, sizeof want, "%s{rule_group=\"%s/slow.yml;slow\"} ", name, fx->dir);
    const char *p = strstr(b.p, want);
    double v = p ? atof(p + strlen(want)) : -1;
    http_buf_free(&b);
    sm_free(&sm);
    return v;
}

/* The slow group skipped a slot and its evaluation still runs. */
static int missed_while_running(struct fixture *fx, struct rules_mgr *m)
{
    return slow_metric(fx, m, "vigil_rule_group_iterations_missed_total") >= 1 &&
           slow_metric(fx, m, "vigil_rule_evaluations_total") == 0;
}

static void test_slow_group_misses_and_closes_mid_evaluation(void **state)
{
    struct fixture *fx = *state;
    use_rules(fx, "slow.yml", "groups:\n  - name: slow\n    interval: 100ms\n    rules:\n"
                              "      - record: r:slow\n"
                              "        expr: count_over_time(vector(1)[30m:1ms])\n");
    struct rules_mgr *m = start(fx);
    assert_true(run_until(fx, m, missed_while_running));
    stop(fx, m); /* the query in flight finishes; its result is dropped */
}

static void test_check_reports_file_and_line(void **state)
{
    struct fixture *fx = *state;
    use_rules(fx, "bad.yml", "groups:\n  - name: g\n    rules:\n      - record: x\n"
                             "        expr: sum(\n");
    struct rule_set rs;
    char *errors = NULL, want[128];
    assert_int_equal(rules_mgr_load(&fx->cfg, fx->cfg_path, NULL, &rs, &errors), -EINVAL);
    snprintf(want, sizeof want, "%s/bad.yml:5:", fx->dir);
    assert_non_null(errors);
    assert_non_null(strstr(errors, want));
    free(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_evaluates_stores_and_notifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_alert_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_alert_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_watchdog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_batch_in_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_group_misses_and_closes_mid_evaluation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_check_reports_file_and_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
