/* rules.h — Prometheus recording and alerting rules as a library: rule
 * files (YAML, unchanged from Prometheus) loaded into groups, group
 * evaluation with Prometheus' alert state machine, the ALERTS and
 * ALERTS_FOR_STATE series, the alerts a notifier must be sent, and alert
 * state saved to and restored from a file. Shared by vigild
 * (agent/rules_mgr.c: timers, storage, HTTP API) and `tsq test rules`
 * (query/ruletest.c: promtool's unit-test format).
 *
 * No clock and no I/O besides reading rule files and the state file: the
 * caller passes every time and provides queries and appends through
 * struct rule_env, so tests drive the state machine with a fake clock.
 * Not thread-safe: one thread evaluates, reads and reloads a rule set. */
#ifndef VIGIL_RULES_H
#define VIGIL_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "promql.h"
#include "promql_eval.h"
#include "tsdb.h"

enum rule_kind { RULE_RECORDING, RULE_ALERTING };

/* inactive → pending (while `for` runs) → firing → inactive (resolved). */
enum alert_state { ALERT_INACTIVE, ALERT_PENDING, ALERT_FIRING };

enum rule_health { RULE_HEALTH_UNKNOWN, RULE_HEALTH_OK, RULE_HEALTH_ERR };

/* "inactive", "pending", "firing"; "unknown", "ok", "err" (API spelling). */
const char *alert_state_name(enum alert_state s);
const char *rule_health_name(enum rule_health h);

/* One alert instance of an alerting rule (one label set of its result). */
struct alert {
    struct tsdb_labels labels;      /* expanded rule labels over the result's
                                       labels, alertname included, no
                                       __name__; sorted; owned */
    struct tsdb_labels annotations; /* expanded; sorted by name; owned */
    enum alert_state state;         /* INACTIVE only while resolved_at_ms is
                                       kept for notifications (15 m) */
    double value;                   /* the expression's value at the last
                                       evaluation that returned it */
    int64_t active_at_ms;           /* when it entered pending */
    int64_t fired_at_ms;            /* when it entered firing; 0 if never */
    int64_t resolved_at_ms;         /* when it resolved; 0 while active */
    int64_t last_sent_ms;           /* last handed to rule_group_send; 0 never */
    int64_t valid_until_ms;         /* endsAt sent for a firing alert */
    int64_t keep_firing_since_ms;   /* first evaluation without a result
                                       during keep_firing_for; 0 otherwise */
};

struct rule {
    enum rule_kind kind;
    char *name;                     /* the record: metric name or alert: name */
    char *expr_text;                /* as written */
    struct promql_expr *expr;       /* parsed once at load */
    int64_t for_ms;                 /* alerting only */
    int64_t keep_firing_for_ms;     /* alerting only */
    struct tsdb_label *labels;      /* as written (templates in alerting rules) */
    size_t nlabels;
    struct tsdb_label *annotations; /* as written; alerting only */
    size_t nannotations;
    int line;                       /* 1-based line of the rule in its file */

    /* state, updated by rule_group_eval */
    struct alert *alerts;           /* alerting: active and recently resolved */
    size_t nalerts;
    enum rule_health health;
    char *last_error;               /* malloc'd; NULL when the last eval worked */
    int64_t last_eval_ms;           /* evaluation timestamp; 0 never */
    double last_eval_seconds;       /* how long it took */
    uint64_t last_samples;          /* series the last evaluation produced */
    void *priv;                     /* the library's private bookkeeping
                                       (series of the previous evaluation,
                                       for stale markers) */
};

struct rule_group {
    char *name;
    char *file;                     /* the rule file it came from, as given */
    int64_t interval_ms;            /* the file's interval, else the default */
    uint64_t limit;                 /* 0 = none; more series fail the rule */
    int64_t query_offset_ms;        /* Prometheus 3 query_offset; 0 */
    struct tsdb_label *labels;      /* group labels (Prometheus 3), added to
                                       every rule's output; may be NULL */
    size_t nlabels;
    struct rule *rules;
    size_t nrules;

    int64_t last_eval_ms;           /* 0 never */
    double last_eval_seconds;
    uint64_t eval_total, eval_failures; /* rule evaluations, failed ones */
    void *priv;                     /* the library's: series of rules a reload
                                       dropped, marked stale by the group's
                                       next evaluation */
};

struct rule_set {
    struct rule_group *groups;
    size_t ngroups;
};

/* Loads every file matching the globs (Prometheus' rule_files; a glob
 * matching nothing is not an error, a literal path that is missing is),
 * in glob order. Validation as promtool check rules: YAML shape and unknown
 * keys, every expr parses and has the right type (vector or scalar), record
 * names are valid metric names, label names valid, templates parse,
 * `for`/`keep_firing_for` only on alerts, group names unique per file.
 * @return 0 and *out, or -EINVAL with one "file:line:col: message\n" per
 * problem in *errors (malloc'd; the caller frees), or -ENOMEM. On error
 * *out is empty. default_interval_ms is global.evaluation_interval. */
int rules_load(const char *const *globs, size_t nglobs, int64_t default_interval_ms,
               struct rule_set *out /* OUT */, char **errors /* OUT */);

void rule_set_free(struct rule_set *rs);

/* Prometheus' reload: a group of `to` with the same file and name as one of
 * `from` takes over the state (alerts, health, last evaluation) of every
 * rule with the same kind, name, expr text, labels and annotations. */
void rule_set_carry_state(struct rule_set *to, const struct rule_set *from);

/* What a group evaluates against. */
struct rule_env {
    void *ctx;
    /* Evaluates e at t over the stored data, including what earlier rules
     * of this evaluation appended and committed. */
    int (*query)(void *ctx, const struct promql_expr *e, int64_t t,
                 struct promql_result **out, struct promql_eval_error *err);
    /* Stores one sample (recording results, ALERTS, ALERTS_FOR_STATE,
     * stale markers); ls sorted by name. @return 0 or a negative error. */
    int (*append)(void *ctx, const struct tsdb_labels *ls, int64_t t, double v);
    /* Makes what was appended visible to the next query. */
    int (*commit)(void *ctx);
    const struct tsdb_labels *external_labels; /* for templates; may be NULL */
    const char *external_url;                  /* for templates and
                                                  generator URLs; may be NULL */
};

/* Evaluates every rule of g at t (ms), in order, as Prometheus' group
 * evaluation does: recording rules store their result under the record
 * name with the rule's labels (a result with duplicate label sets fails the
 * rule); alerting rules advance their alerts' states, store ALERTS
 * {alertname, alertstate, labels...} = 1 for pending and firing alerts and
 * ALERTS_FOR_STATE = active_at in seconds; series a rule produced last
 * time but not now get a stale marker; `limit` is enforced; commit runs
 * after each rule. Errors are recorded per rule (health, last_error) and
 * never stop the group. Equivalent to rule_query then rule_apply for each
 * rule in order. */
void rule_group_eval(struct rule_group *g, int64_t t, const struct rule_env *env);

/* For a group a reload removed (Prometheus does this when it stops such a
 * group): appends a stale marker at t for every series the group's rules
 * wrote at their last evaluation, then commits. */
void rule_group_mark_stale(struct rule_group *g, int64_t t, const struct rule_env *env);

/* The two halves of one rule's evaluation, so that an agent can run the
 * query on a worker thread and apply the result on the thread that owns
 * the rule set and the store's writer:
 *
 * rule_query evaluates rule i of g at t (minus query_offset) through
 * env->query; it reads the rule's expr only, so rules of a group may be
 * queried concurrently with each other and with rule_apply of other
 * rules (never the same rule twice at once). */
int rule_query(const struct rule_group *g, size_t i, int64_t t, const struct rule_env *env,
               struct promql_result **out /* OUT */, struct promql_eval_error *err /* OUT */);

/* rule_apply takes res (or the failure in err when res is NULL; res is
 * freed) and does the rest: alert states, appends, stale markers,
 * commit, health. seconds is how long the query took. Applying the last
 * rule of g also marks stale what rules dropped by a reload wrote. */
void rule_apply(struct rule_group *g, size_t i, int64_t t, struct promql_result *res,
                const struct promql_eval_error *err, double seconds,
                const struct rule_env *env);

/* 1 if rule i of g may read what an earlier rule of g writes (a selector
 * that can match a record name of an earlier rule, or ALERTS /
 * ALERTS_FOR_STATE after an alerting rule; selectors without a metric
 * name count as matching), so it must be queried after those rules were
 * applied. Rules that return 0 can be queried together in one batch. */
int rule_reads_earlier(const struct rule_group *g, size_t i);

/* An alert as notifiers receive it (Prometheus' notifier.Alert). Pointers
 * are valid during the callback only. */
struct alert_notification {
    const struct tsdb_labels *labels;       /* alert labels plus external
                                               labels (the alert's win) */
    const struct tsdb_labels *annotations;
    int64_t starts_at_ms;                   /* fired_at (what Prometheus sends) */
    int64_t ends_at_ms;                     /* resolved_at, or valid_until */
    int resolved;
    const char *generator_url;              /* EXTERNAL_URL/graph?g0.expr=... */
};

/* Prometheus' sendAlerts: every alert of g's alerting rules that is firing
 * and was not sent within resend_delay_ms, or resolved after it was last
 * sent (resolved alerts are kept for 15 minutes), is passed to fn in one
 * call per rule; firing alerts get ends_at = t + 4 * max(resend_delay,
 * group interval). Updates last_sent_ms and valid_until_ms. */
void rule_group_send(struct rule_group *g, int64_t t, int64_t resend_delay_ms,
                     const struct tsdb_labels *external_labels, const char *external_url,
                     void (*fn)(void *ctx, const struct alert_notification *a, size_t n),
                     void *ctx);

/* Saves the alert state of every rule (group file + name, rule index, kind,
 * name and expr identify a rule) to path atomically (temp file, fsync,
 * rename). @return 0 or -errno. */
int rules_state_save(const struct rule_set *rs, const char *path);

/* Restores what rules_state_save wrote into the matching rules of rs (a
 * rule that changed since starts empty): pending alerts keep their
 * active_at (no lost `for` time), firing alerts stay firing with their
 * last_sent_ms (no re-page). A missing file is not an error.
 * @return 0, or -EINVAL with a message in err for a corrupt file. */
int rules_state_restore(struct rule_set *rs, const char *path, char *err, size_t errcap);

#endif
