/* scrape.h — the scrape manager: turns `scrape_configs` into targets,
 * scrapes each one every interval on the agent's loop (at a stable offset
 * inside the interval), parses the exposition and appends the samples, the
 * synthetic series (`up`, `scrape_duration_seconds`, ...) and Prometheus'
 * staleness markers to the store. Everything runs on the loop thread; a slow
 * target never delays another (every fetch is asynchronous). */
#ifndef VIGIL_SCRAPE_H
#define VIGIL_SCRAPE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "httpc.h"
#include "scrape_config.h"
#include "selfmetrics.h"
#include "tsdb.h"

/* How the manager fetches and tells time: httpc and the wall clock in
 * vigild (scrape_io_httpc), fakes in the unit tests. start and cancel have
 * httpc_start's and httpc_cancel's contracts. */
struct scrape_io {
    int (*start)(void *ctx, const struct httpc_request *req, httpc_done_fn done, void *arg,
                 uint64_t *id /* OUT */);
    void (*cancel)(void *ctx, uint64_t id);
    void *ctx;
    int64_t (*now_ms)(void);       /* NULL: timefmt_now_ms */
};

/* Fills *io to fetch through h. */
void scrape_io_httpc(struct scrape_io *io /* OUT */, struct httpc *h);

struct scrape_manager;

/* Creates a manager appending to db (which must outlive it) with no jobs.
 * io is copied. @return 0 and *out, or -ENOMEM. */
int scrape_manager_new(uv_loop_t *loop, struct tsdb *db, const struct scrape_io *io,
                       struct scrape_manager **out /* OUT */);

/* Makes cfg the running configuration (cfg is deep-copied): targets are
 * computed from static_configs and the target groups set by
 * scrape_manager_set_groups, and relabeled. A target that is still there
 * (same job, labels and URL) keeps its state and series; a new one starts
 * at its offset in the interval; one that went away gets staleness markers
 * for every series it had. @return 0, or -ENOMEM (the old configuration
 * then stays). */
int scrape_manager_apply(struct scrape_manager *m, const struct scrape_config *cfg);

/* Replaces the discovered target groups of job from one source (e.g. a
 * file_sd file; labels such as __meta_filepath come with the groups) and
 * recomputes that job's targets like scrape_manager_apply. Groups are
 * copied; n == 0 removes the source. A job missing from the running
 * configuration is remembered for the next apply. @return 0 or -ENOMEM. */
int scrape_manager_set_groups(struct scrape_manager *m, const char *job, const char *source,
                              const struct scrape_static_group *groups, size_t n);

/* Starts, at once, a scrape of every active target that has none in
 * flight; the timers keep their schedule. (Tests drive the manager with
 * it; in vigild only the timers scrape.) */
void scrape_manager_scrape_now(struct scrape_manager *m);

/* What the targets API shows of one target. Pointers are valid during the
 * callback only. */
struct scrape_target_info {
    const char *job;
    const struct tsdb_label *discovered;  /* labels before relabeling, sorted */
    size_t ndiscovered;
    int dropped;                          /* relabeling dropped it: nothing below is set */
    const struct tsdb_label *labels;      /* target labels, sorted */
    size_t nlabels;
    const char *url;
    const char *health;                   /* "up", "down", "unknown" */
    const char *last_error;               /* "" when none */
    int64_t last_scrape_ms;               /* 0 before the first scrape */
    double last_duration_s;
    int64_t interval_ms, timeout_ms;
    int64_t offset_ms;                    /* where in the interval it is scraped */
};

/* Calls fn for every active target, then every dropped one, in
 * configuration order. */
void scrape_manager_foreach(const struct scrape_manager *m,
                            void (*fn)(const struct scrape_target_info *t, void *arg), void *arg);

/* Sets the vigil_scrape_* self-metrics (per job) in r. */
void scrape_manager_collect(const struct scrape_manager *m, struct selfmetrics *r);

/* Stops every timer and cancels every request in flight (no staleness
 * markers: the series go on after a restart); cb runs once the loop
 * handles are closed and m has been freed. */
void scrape_manager_close(struct scrape_manager *m, void (*cb)(void *arg), void *arg);

/* Prometheus' spelling of a duration ("1m30s", "15s", "500ms", "0s") into
 * buf. */
void scrape_duration_string(int64_t ms, char *buf, size_t size);

/* Appends the GET /api/v1/targets answer in Prometheus' JSON shape for the
 * query string query: state=active, dropped or any (the default); another
 * state lists nothing, as in Prometheus. m may be NULL (not scraping yet:
 * empty lists). @return 0 or -ENOMEM. */
int scrape_targets_json(const struct scrape_manager *m, const char *query,
                        struct http_buf *out /* OUT, appended */);

#endif
