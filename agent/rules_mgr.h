/* rules_mgr.h — vigild's rule manager: evaluates the groups of the rule
 * library (query/rules.h) on the libuv loop, each group on its own timer,
 * queries on the thread pool over store snapshots and results applied on
 * the loop (the store's single writer); hands alerts to a notifier callback;
 * keeps alert state in DATA_DIR/rules/alerts.json across restarts.
 *
 * Design notes, one group's evaluation:
 *
 *   timer tick (slot time t) ── previous evaluation running ──> missed++
 *     │
 *     └─> batch: rule i plus every following rule that reads nothing an
 *         earlier rule writes (rule_reads_earlier) ──> thread pool:
 *         snapshot, rule_query each ──> loop: rule_apply each (append,
 *         commit) ──> next batch ... ──> rule_group_send (notifier),
 *         state file saved when alert state changed
 *
 * A reload (rules_mgr_apply) waits until no evaluation is in flight, then
 * swaps the rule set (carrying alert state over) and restarts the timers. */
#ifndef VIGIL_RULES_MGR_H
#define VIGIL_RULES_MGR_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "http.h"
#include "rules.h"
#include "selfmetrics.h"
#include "tsdb.h"

struct rules_mgr;

/* Called with the alerts one rule of a group wants sent (rule_group_send's
 * callback), on the loop thread. */
typedef void (*rules_notify_fn)(void *arg, const struct alert_notification *a, size_t n,
                                int64_t now_ms);

/* (rules_files.c) Loads what cfg asks for: the rule_files globs (relative to the directory
 * of config_path, or the working directory without one) plus the built-in
 * groups cfg enables, written first to builtin_dir/builtin.yml when
 * builtin_dir is not NULL (without it the built-in groups are left out, as
 * --check-config does). @return 0 and *out, or -EINVAL with one
 * "file:line:col: message\n" per problem in *errors (malloc'd), or -errno. */
int rules_mgr_load(const struct config *cfg, const char *config_path, const char *builtin_dir,
                   struct rule_set *out /* OUT */, char **errors /* OUT */);

/* Creates a manager evaluating nothing yet over db (opened; it must stay
 * open until rules_mgr_close's callback). State lives in
 * data_dir/rules/alerts.json (created if needed). @return 0 or -errno. */
int rules_mgr_new(uv_loop_t *loop, struct tsdb *db, const char *data_dir,
                  struct rules_mgr **out /* OUT */);

/* Sets the callback that receives alerts to send (NULL: none). */
void rules_mgr_set_notify(struct rules_mgr *m, rules_notify_fn fn, void *arg);

/* Runs rs (ownership passes to m) with the settings of cfg (evaluation
 * interval, external labels and URL, rules.resend_delay). The first call
 * restores alert state from the state file; later calls carry the state of
 * the running rules over (rule_set_carry_state). The swap happens once no
 * evaluation is in flight (at once if none). */
void rules_mgr_apply(struct rules_mgr *m, struct rule_set *rs, const struct config *cfg);

/* The rule set the API shows (the running one). Valid on the loop thread
 * until the next return to the loop. */
const struct rule_set *rules_mgr_rules(const struct rules_mgr *m);

/* vigil_rule_* self-metrics, Prometheus' names: evaluations, failures,
 * durations, intervals, missed iterations, rules, last evaluation. */
void rules_mgr_collect(struct rules_mgr *m, struct selfmetrics *sm);

/* Adds GET /api/v1/rules and /api/v1/alerts (rules_api.c) over the
 * running rules of *mgr (NULL: none yet), with Prometheus' parameters
 * (type, rule_name[], rule_group[], file[], exclude_alerts) and JSON
 * shapes. Add before api_register's /api/v1 catch-all.
 * @return 0 or -ENOSPC. */
int rules_api_register(struct http_router *r, struct rules_mgr *const *mgr);

/* Stops the timers, waits for evaluations in flight (their results are
 * dropped), saves the state file, frees m; cb(arg) runs on the loop when
 * nothing of m touches the store any more. */
void rules_mgr_close(struct rules_mgr *m, void (*cb)(void *arg), void *arg);

#endif
