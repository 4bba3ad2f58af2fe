/* rules_mgr.c — rule groups on the libuv loop (see rules_mgr.h for the life
 * of one evaluation; rules_mgr_load is in rules_files.c). Everything here
 * runs on the loop thread except work_query, which only reads a store
 * snapshot and the rules' parsed expressions. */
#include "rules_mgr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "timefmt.h"

#define STATE_FILE "alerts.json"

/* One group's timer and evaluation progress. */
struct group_run {
    uv_timer_t timer;
    struct rules_mgr *m;
    struct rule_group *g;
    int64_t offset_ms;           /* slots are offset_ms + k * interval */
    int64_t last_slot_ms;
    int64_t t;                   /* the running evaluation's timestamp */
    uint64_t t0_ns;
    size_t next;                 /* the first rule not queried yet */
    int running;
    int timer_closed;            /* freed by whichever of the timer's close
                                    and the evaluation's end comes last */
    uint64_t state_sig;          /* of its alerts when the state was saved */
    uint64_t evals, failures, iterations, missed;
};

/* Settings from the configuration, swapped in with the rule set. */
struct settings {
    struct tsdb_label *ext;      /* external labels, sorted, owned */
    size_t n_ext;
    char *external_url;
    int64_t resend_delay_ms;
    int64_t subquery_step_ms;    /* global.evaluation_interval */
};

#define PART_MIN_RULES 16          /* fewer rules are not worth another thread */
#define MAX_PARTS 8

struct batch;

/* One thread-pool job: rules b->first + from .. b->first + to - 1, queried
 * over its own snapshot. */
struct part {
    uv_work_t work;
    struct batch *b;
    size_t from, to;
    struct tsdb_snapshot *snap;
};

/* Rules first .. first+n-1 of a group, none reading what another writes:
 * queried in parts on the thread pool, applied in order once all are done. */
struct batch {
    struct group_run *run;
    size_t first, n;
    struct part parts[MAX_PARTS];
    unsigned pending;            /* parts on the thread pool */
    struct promql_result **res;  /* [n] */
    struct promql_eval_error *err;
    double *secs;
};

struct rules_mgr {
    uv_loop_t *loop;
    struct tsdb *db;
    char *dir, *state_path;
    struct promql_engine_opts opts;
    unsigned parallelism;        /* parts a large batch is split into */
    struct rule_set rs;          /* running */
    struct settings set;
    struct group_run **runs;     /* one per group of rs */
    struct rule_set *pending;    /* waits for no evaluation in flight */
    struct settings pending_set;
    unsigned running;            /* groups evaluating */
    unsigned handles;            /* timers not closed yet */
    int restored, closing;
    rules_notify_fn notify;
    void *notify_arg;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* ---- settings ------------------------------------------------------------ */

static void settings_free(struct settings *s)
{
    for (size_t i = 0; i < s->n_ext; i++) {
        free((char *)s->ext[i].name);
        free((char *)s->ext[i].value);
    }
    free(s->ext);
    free(s->external_url);
    memset(s, 0, sizeof *s);
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

static int settings_from(struct settings *s, const struct config *cfg)
{
    const struct scrape_global *gl = &cfg->scrape.global;
    memset(s, 0, sizeof *s);
    s->resend_delay_ms = cfg->rules_resend_delay_ms;
    s->subquery_step_ms = gl->evaluation_interval_ms;
    s->ext = calloc(gl->nexternal_labels + 1, sizeof *s->ext);
    if (!s->ext)
        return -ENOMEM;
    for (; s->n_ext < gl->nexternal_labels; s->n_ext++) {
        s->ext[s->n_ext].name = strdup(gl->external_labels[s->n_ext].name);
        s->ext[s->n_ext].value = strdup(gl->external_labels[s->n_ext].value);
        if (!s->ext[s->n_ext].name || !s->ext[s->n_ext].value) {
            s->n_ext++;
            settings_free(s);
            return -ENOMEM;
        }
    }
    qsort(s->ext, s->n_ext, sizeof *s->ext, label_cmp);
    size_t cap = strlen(cfg->external_url) + strlen(cfg->http_listen) + 8;
    if (!(s->external_url = malloc(cap))) {
        settings_free(s);
        return -ENOMEM;
    }
    if (cfg->external_url[0])
        snprintf(s->external_url, cap, "%s", cfg->external_url);
    else
        snprintf(s->external_url, cap, "http://%s", cfg->http_listen);
    return 0;
}

/* ---- the store, as the rule library sees it ------------------------------- */

static int env_query(void *ctx, const struct promql_expr *e, int64_t t,
                     struct promql_result **out, struct promql_eval_error *err)
{
    struct part *p = ctx;
    return promql_eval_expr_instant(p->snap, e, t, &p->b->run->m->opts, out, err);
}

static int env_append(void *ctx, const struct tsdb_labels *ls, int64_t t, double v)
{
    struct rules_mgr *m = ctx;
    tsdb_ref ref;
    int rc = tsdb_series_ref(m->db, ls, &ref);
    return rc ? rc : tsdb_append(m->db, ref, t, v);
}

static int env_commit(void *ctx)
{
    struct rules_mgr *m = ctx;
    return tsdb_commit(m->db);
}

static struct rule_env apply_env(struct rules_mgr *m)
{
    struct rule_env env = {
        .ctx = m,
        .append = env_append,
        .commit = env_commit,
        .external_url = m->set.external_url,
    };
    return env;
}

/* ---- state --------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

/* A hash of what the state file keeps of g's alerts. */
static uint64_t alert_sig(const struct rule_group *g)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < g->nrules; i++) {
        const struct rule *r = &g->rules[i];
        h = fnv(h, &r->nalerts, sizeof r->nalerts);
        for (size_t k = 0; k < r->nalerts; k++) {
            const struct alert *a = &r->alerts[k];
            int64_t v[6] = {a->state, a->active_at_ms, a->fired_at_ms, a->resolved_at_ms,
                            a->last_sent_ms, a->keep_firing_since_ms};
            h = fnv(h, v, sizeof v);
            for (size_t j = 0; j < a->labels.len; j++)
                h = fnv(h, a->labels.v[j].value, strlen(a->labels.v[j].value) + 1);
        }
    }
    return h;
}

static void save_state(struct rules_mgr *m)
{
    int rc = rules_state_save(&m->rs, m->state_path);
    if (rc)
        vlog(VLOG_ERROR, "cannot save alert state", "file=%s err=%s", m->state_path,
             strerror(-rc));
}

/* ---- evaluation ---------------------------------------------------------- */

static void queue_batch(struct group_run *run);
static void on_tick(uv_timer_t *t);

static void work_query(uv_work_t *w)
{
    struct part *p = w->data;
    struct batch *b = p->b;
    struct group_run *run = b->run;
    struct rule_env env = {.ctx = p, .query = env_query};
    int rc = tsdb_snapshot_open(run->m->db, &p->snap);
    for (size_t k = p->from; k < p->to; k++) {
        if (rc) {
            b->err[k].kind = PROMQL_ERR_EXECUTION;
            snprintf(b->err[k].msg, sizeof b->err[k].msg, "opening a store snapshot: %s",
                     tsdb_strerror(rc));
            continue;
        }
        uint64_t t0 = uv_hrtime();
        rule_query(run->g, b->first + k, run->t, &env, &b->res[k], &b->err[k]);
        b->secs[k] = (double)(uv_hrtime() - t0) / 1e9;
    }
    if (rc == 0)
        tsdb_snapshot_close(p->snap);
}

static void batch_free(struct batch *b)
{
    for (size_t k = 0; k < b->n; k++)
        if (b->res[k])
            promql_result_free(b->res[k]);
    free(b->res);
    free(b->err);
    free(b->secs);
    free(b);
}

static void maybe_swap(struct rules_mgr *m);
static void maybe_closed(struct rules_mgr *m);

static void on_notify(void *ctx, const struct alert_notification *a, size_t n)
{
    struct rules_mgr *m = ctx;
    if (m->notify)
        m->notify(m->notify_arg, a, n, timefmt_now_ms());
}

/* The last batch was applied: group timings, notifications, state file. */
static void finish_eval(struct group_run *run)
{
    struct rules_mgr *m = run->m;
    struct rule_group *g = run->g;
    g->last_eval_ms = run->t;
    g->last_eval_seconds = (double)(uv_hrtime() - run->t0_ns) / 1e9;
    struct tsdb_labels ext = {m->set.n_ext, m->set.ext};
    rule_group_send(g, run->t, m->set.resend_delay_ms, &ext, m->set.external_url, on_notify, m);
    uint64_t sig = alert_sig(g);
    if (sig != run->state_sig) {
        save_state(m);
        run->state_sig = sig;
    }
    run->running = 0;
    m->running--;
    maybe_swap(m);
}

/* Every part of b was queried: apply the results in rule order. */
static void batch_done(struct batch *b)
{
    struct group_run *run = b->run;
    struct rules_mgr *m = run->m;
    if (m->closing) {
        batch_free(b);
        run->running = 0;
        m->running--;
        if (run->timer_closed)
            free(run);
        maybe_closed(m);
        return;
    }
    struct rule_env env = apply_env(m);
    struct tsdb_labels ext = {m->set.n_ext, m->set.ext};
    env.external_labels = &ext;
    for (size_t k = 0; k < b->n; k++) {
        struct rule *r = &run->g->rules[b->first + k];
        enum rule_health before = r->health;
        rule_apply(run->g, b->first + k, run->t, b->res[k], b->res[k] ? NULL : &b->err[k],
                   b->secs[k], &env);
        b->res[k] = NULL; /* rule_apply freed it */
        run->evals++;
        if (r->health == RULE_HEALTH_ERR) {
            run->failures++;
            if (before != RULE_HEALTH_ERR)
                vlog(VLOG_WARN, "rule evaluation failed", "group=%s rule=%s err=%s",
                     run->g->name, r->name, r->last_error ? r->last_error : "");
        }
    }
    run->next = b->first + b->n;
    batch_free(b);
    queue_batch(run);
}

static void after_query(uv_work_t *w, int status)
{
    (void)status;
    struct part *p = w->data;
    if (--p->b->pending == 0)
        batch_done(p->b);
}

/* Queues b's rules in up to m->parallelism parts of PART_MIN_RULES or
 * more; a part that cannot be queued fails its rules. */
static void queue_parts(struct batch *b)
{
    struct rules_mgr *m = b->run->m;
    size_t nparts = b->n / PART_MIN_RULES;
    if (nparts > m->parallelism)
        nparts = m->parallelism;
    if (nparts == 0)
        nparts = 1;
    for (size_t i = 0; i < nparts; i++) {
        struct part *p = &b->parts[i];
        p->b = b;
        p->from = b->n * i / nparts;
        p->to = b->n * (i + 1) / nparts;
        p->work.data = p;
        int rc = uv_queue_work(m->loop, &p->work, work_query, after_query);
        if (rc == 0) {
            b->pending++;
            continue;
        }
        for (size_t k = p->from; k < p->to; k++) {
            b->err[k].kind = PROMQL_ERR_EXECUTION;
            snprintf(b->err[k].msg, sizeof b->err[k].msg, "cannot queue the query: %s",
                     uv_strerror(rc));
        }
    }
    if (b->pending == 0)
        batch_done(b);
}

/* Queries the next batch of run's group on the thread pool, or finishes
 * the evaluation when every rule was applied. */
static void queue_batch(struct group_run *run)
{
    struct rule_group *g = run->g;
    size_t i = run->next, n = 1;
    if (i >= g->nrules) {
        finish_eval(run);
        return;
    }
    while (i + n < g->nrules && !rule_reads_earlier(g, i + n))
        n++;
    struct batch *b = calloc(1, sizeof *b);
    if (b) {
        b->res = calloc(n, sizeof *b->res);
        b->err = calloc(n, sizeof *b->err);
        b->secs = calloc(n, sizeof *b->secs);
    }
    if (!b || !b->res || !b->err || !b->secs) {
        vlog(VLOG_ERROR, "out of memory; rule group evaluation cut short", "group=%s",
             g->name);
        if (b)
            batch_free(b);
        finish_eval(run);
        return;
    }
    b->run = run;
    b->first = i;
    b->n = n;
    queue_parts(b);
}

static int64_t interval_of(const struct rule_group *g)
{
    return g->interval_ms > 0 ? g->interval_ms : 60000;
}

/* The latest evaluation slot at or before now: groups evaluate at
 * offset + k * interval on the wall clock, the offset a hash of the group
 * (as Prometheus spreads groups over their interval). */
static int64_t slot_at(const struct group_run *run, int64_t now)
{
    int64_t iv = interval_of(run->g);
    return now - ((now - run->offset_ms) % iv + iv) % iv;
}

/* Sets the timer for the next slot (uv timers count from the loop's cached
 * time, so a tick may come a little early: on_tick checks the slot). */
static void schedule(struct group_run *run)
{
    uv_update_time(run->m->loop);
    int64_t now = timefmt_now_ms();
    int64_t delay = slot_at(run, now) + interval_of(run->g) - now;
    uv_timer_start(&run->timer, on_tick, (uint64_t)(delay > 0 ? delay : 1), 0);
}

/* A slot came: evaluate at the slot's time unless the previous evaluation
 * still runs (a missed iteration, as are slots the loop slept through). */
static void on_tick(uv_timer_t *t)
{
    struct group_run *run = t->data;
    struct rules_mgr *m = run->m;
    int64_t iv = interval_of(run->g), slot = slot_at(run, timefmt_now_ms());
    schedule(run);
    if (slot <= run->last_slot_ms || m->pending)
        return; /* woken early; or the swap restarts the timers */
    if (run->last_slot_ms && slot > run->last_slot_ms + iv)
        run->missed += (uint64_t)((slot - run->last_slot_ms) / iv - 1);
    run->last_slot_ms = slot;
    if (run->running) {
        run->missed++;
        vlog(VLOG_WARN, "rule group evaluation still running; skipping an iteration",
             "group=%s", run->g->name);
        return;
    }
    run->running = 1;
    m->running++;
    run->iterations++;
    run->t = slot;
    run->t0_ns = uv_hrtime();
    run->next = 0;
    queue_batch(run);
}

/* ---- the rule set's life --------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    struct group_run *run = h->data;
    struct rules_mgr *m = run->m;
    run->timer_closed = 1;
    if (!run->running)
        free(run);
    m->handles--;
    maybe_closed(m);
}

static void close_runs(struct group_run **runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++)
        if (runs[i]) {
            uv_timer_stop(&runs[i]->timer);
            uv_close((uv_handle_t *)&runs[i]->timer, on_timer_closed);
        }
    free(runs);
}

static uint64_t group_hash(const struct rule_group *g)
{
    uint64_t h = fnv(14695981039346656037ULL, g->file, strlen(g->file));
    return fnv(h, g->name, strlen(g->name));
}

/* Creates the timers of m->rs, keeping the counters of same-named groups
 * in old (m->rs.ngroups entries of the previous set, or NULL). */
static void start_runs(struct rules_mgr *m, struct group_run **old, size_t nold)
{
    m->runs = calloc(m->rs.ngroups + 1, sizeof *m->runs);
    for (size_t i = 0; m->runs && i < m->rs.ngroups; i++) {
        struct group_run *run = calloc(1, sizeof *run);
        struct rule_group *g = &m->rs.groups[i];
        if (!run) {
            vlog(VLOG_ERROR, "out of memory; rule group not evaluated", "group=%s", g->name);
            continue;
        }
        m->runs[i] = run;
        run->m = m;
        run->g = g;
        run->offset_ms = (int64_t)(group_hash(g) % (uint64_t)interval_of(g));
        run->state_sig = alert_sig(g);
        run->last_slot_ms = slot_at(run, timefmt_now_ms()); /* the first one is the next */
        for (size_t k = 0; k < nold; k++)
            if (old[k] && strcmp(old[k]->g->file, g->file) == 0 &&
                strcmp(old[k]->g->name, g->name) == 0) {
                run->evals = old[k]->evals;
                run->failures = old[k]->failures;
                run->iterations = old[k]->iterations;
                run->missed = old[k]->missed;
            }
        uv_timer_init(m->loop, &run->timer);
        run->timer.data = run;
        m->handles++;
        schedule(run);
    }
}

/* Series of groups of old that the running set no longer has go stale now,
 * as Prometheus does when a reload stops a group. */
static void mark_removed_stale(struct rules_mgr *m, struct rule_set *old)
{
    struct rule_env env = apply_env(m);
    int64_t now = timefmt_now_ms();
    for (size_t i = 0; i < old->ngroups; i++) {
        const struct rule_group *g = &old->groups[i];
        size_t k = 0;
        while (k < m->rs.ngroups && (strcmp(m->rs.groups[k].file, g->file) != 0 ||
                                     strcmp(m->rs.groups[k].name, g->name) != 0))
            k++;
        if (k == m->rs.ngroups)
            rule_group_mark_stale(&old->groups[i], now, &env);
    }
}

/* Replaces the running set with the pending one once nothing runs. */
static void maybe_swap(struct rules_mgr *m)
{
    if (!m->pending || m->running || m->closing)
        return;
    struct rule_set *next = m->pending;
    m->pending = NULL;
    if (!m->restored) {
        char err[256] = "";
        if (rules_state_restore(next, m->state_path, err, sizeof err) != 0)
            vlog(VLOG_ERROR, "alert state file unreadable; alerts start inactive",
                 "file=%s err=%s", m->state_path, err);
        m->restored = 1;
    } else {
        rule_set_carry_state(next, &m->rs);
    }
    struct rule_set old = m->rs;
    struct group_run **old_runs = m->runs;
    m->rs = *next;
    free(next);
    settings_free(&m->set);
    m->set = m->pending_set;
    m->opts.subquery_step_ms = m->set.subquery_step_ms;
    memset(&m->pending_set, 0, sizeof m->pending_set);
    start_runs(m, old_runs, old.ngroups);
    close_runs(old_runs, old.ngroups);
    mark_removed_stale(m, &old);
    rule_set_free(&old);
    size_t nrules = 0;
    for (size_t i = 0; i < m->rs.ngroups; i++)
        nrules += m->rs.groups[i].nrules;
    vlog(VLOG_INFO, "rules loaded", "groups=%zu rules=%zu", m->rs.ngroups, nrules);
}

void rules_mgr_apply(struct rules_mgr *m, struct rule_set *rs, const struct config *cfg)
{
    struct rule_set *copy = malloc(sizeof *copy);
    struct settings s;
    if (!copy || settings_from(&s, cfg) != 0) {
        vlog(VLOG_ERROR, "out of memory; keeping the running rules", NULL);
        free(copy);
        rule_set_free(rs);
        return;
    }
    *copy = *rs;
    memset(rs, 0, sizeof *rs);
    if (m->pending) { /* a reload while the previous one waits */
        rule_set_free(m->pending);
        free(m->pending);
        settings_free(&m->pending_set);
    }
    m->pending = copy;
    m->pending_set = s;
    maybe_swap(m);
}

const struct rule_set *rules_mgr_rules(const struct rules_mgr *m)
{
    return &m->rs;
}

int rules_mgr_new(uv_loop_t *loop, struct tsdb *db, const char *data_dir,
                  struct rules_mgr **out)
{
    struct rules_mgr *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    size_t n = strlen(data_dir) + sizeof "/rules/" + sizeof STATE_FILE;
    m->dir = malloc(n);
    m->state_path = malloc(n);
    if (!m->dir || !m->state_path) {
        free(m->dir);
        free(m->state_path);
        free(m);
        return -ENOMEM;
    }
    snprintf(m->dir, n, "%s/rules", data_dir);
    snprintf(m->state_path, n, "%s/%s", m->dir, STATE_FILE);
    if (mkdir(m->dir, 0755) != 0 && errno != EEXIST) {
        int rc = -errno;
        free(m->dir);
        free(m->state_path);
        free(m);
        return rc;
    }
    m->loop = loop;
    m->db = db;
    m->parallelism = uv_available_parallelism();
    if (m->parallelism > MAX_PARTS)
        m->parallelism = MAX_PARTS;
    promql_engine_opts_default(&m->opts);
    *out = m;
    return 0;
}

void rules_mgr_set_notify(struct rules_mgr *m, rules_notify_fn fn, void *arg)
{
    m->notify = fn;
    m->notify_arg = arg;
}

/* ---- self-metrics ---------------------------------------------------------- */

void rules_mgr_collect(struct rules_mgr *m, struct selfmetrics *sm)
{
    sm_clear(sm, "vigil_rule_"); /* groups a reload removed disappear */
    for (size_t i = 0; m->runs && i < m->rs.ngroups; i++) {
        const struct group_run *run = m->runs[i];
        const struct rule_group *g = &m->rs.groups[i];
        if (!run)
            continue;
        char key[1024];
        snprintf(key, sizeof key, "%s;%s", g->file, g->name);
        uint64_t samples = 0;
        for (size_t k = 0; k < g->nrules; k++)
            samples += g->rules[k].last_samples;
        sm_set(sm, "vigil_rule_evaluations_total", SM_COUNTER, "Rule evaluations.",
               (double)run->evals, "rule_group", key, NULL);
        sm_set(sm, "vigil_rule_evaluation_failures_total", SM_COUNTER,
               "Rule evaluations that failed.", (double)run->failures, "rule_group", key, NULL);
        sm_set(sm, "vigil_rule_group_iterations_total", SM_COUNTER,
               "Scheduled evaluations of the group, whether run or missed (as Prometheus').",
               (double)(run->iterations + run->missed),
               "rule_group", key, NULL);
        sm_set(sm, "vigil_rule_group_iterations_missed_total", SM_COUNTER,
               "Evaluations of the group skipped: the previous one was still running.",
               (double)run->missed, "rule_group", key, NULL);
        sm_set(sm, "vigil_rule_group_interval_seconds", SM_GAUGE,
               "The group's evaluation interval.", (double)g->interval_ms / 1000.0,
               "rule_group", key, NULL);
        sm_set(sm, "vigil_rule_group_last_duration_seconds", SM_GAUGE,
               "How long the group's last evaluation took.", g->last_eval_seconds,
               "rule_group", key, NULL);
        sm_set(sm, "vigil_rule_group_last_evaluation_timestamp_seconds", SM_GAUGE,
               "When the group was last evaluated (its evaluation timestamp).",
               (double)g->last_eval_ms / 1000.0, "rule_group", key, NULL);
        sm_set(sm, "vigil_rule_group_last_evaluation_samples", SM_GAUGE,
               "Samples the group's rules returned at its last evaluation.", (double)samples,
               "rule_group", key, NULL);
        sm_set(sm, "vigil_rule_group_rules", SM_GAUGE, "Rules in the group.",
               (double)g->nrules, "rule_group", key, NULL);
    }
}

/* ---- closing --------------------------------------------------------------- */

/* Frees m once no evaluation runs and every timer is closed. */
static void maybe_closed(struct rules_mgr *m)
{
    if (!m->closing || m->running)
        return;
    if (m->restored) { /* once: this runs again as each timer closes */
        save_state(m);
        m->restored = 0;
    }
    if (m->handles)
        return;
    void (*cb)(void *) = m->close_cb;
    void *arg = m->close_arg;
    rule_set_free(&m->rs);
    if (m->pending) {
        rule_set_free(m->pending);
        free(m->pending);
    }
    settings_free(&m->set);
    settings_free(&m->pending_set);
    free(m->dir);
    free(m->state_path);
    free(m);
    if (cb)
        cb(arg);
}

void rules_mgr_close(struct rules_mgr *m, void (*cb)(void *arg), void *arg)
{
    m->closing = 1;
    m->close_cb = cb;
    m->close_arg = arg;
    close_runs(m->runs, m->rs.ngroups);
    m->runs = NULL;
    maybe_closed(m);
}
