/* daemon.c — vigild on one libuv loop (see daemon.h).
 *
 * Design notes, the life of the process:
 *
 *   start ──> listeners bound, HTTP serving, store opening on the thread
 *    │        pool (/-/ready answers 503; statsd lines are already
 *    │        aggregated, the socket buffers hold the rest)
 *    ├─ after_open ok ──> ready: flush timer, housekeeping timer, scraping,
 *    │                    notifier, rules (alert state restored first)
 *    └─ bind/open error ──> stop(1)
 *   ready ── SIGHUP ──> reload(): a bad file (or rule file) keeps
 *            everything as it is (scraping starts at ready; a reload hands
 *            the new scrape_configs to the scrape manager, the new rules
 *            to the rules manager, the notifiers to the notifier)
 *   any ── SIGTERM/SIGINT ──> stop(0): listeners closed, last interval
 *          flushed, self-metrics stored, rules stopped (alert state saved),
 *          tsdb_close (after the last query and rule evaluation on the
 *          thread pool), every handle closed; uv_run returns when the loop
 *          is empty.
 *
 * The store has one writer, the loop thread, except while it is opened on
 * the thread pool, when nothing else touches it. */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "api.h"
#include "http.h"
#include "httpc.h"
#include "listen.h"
#include "log.h"
#include "notify.h"
#include "rules_mgr.h"
#include "scrape.h"
#include "selfmetrics.h"
#include "statsd.h"
#include "timefmt.h"
#include "tsdb.h"

#define HOUSEKEEPING_FIRST_MS 5000
#define HOUSEKEEPING_EVERY_MS 60000

struct vigild {
    uv_loop_t loop;
    const struct daemon_args *args;
    struct config *cfg;
    struct tsdb *db;
    struct tsdb_open_report report;
    int open_rc;
    uv_work_t open_work;
    int opening, ready, stopping, exit_code;
    struct statsd_agg *agg;
    struct statsd_agg_stats agg_base;  /* of aggregators replaced by reloads */
    struct statsd_listener statsd;
    struct http_router router;
    struct http_server http;
    struct api api;                    /* query API: reads d->db off the loop */
    struct httpc *httpc;               /* scraping: from ready to stop */
    struct scrape_manager *scrape;
    struct notifier *notifier;         /* from ready to stop */
    struct rules_mgr *rules;           /* from ready until closed */
    uv_timer_t flush_timer, housekeeping_timer;
    uv_signal_t sig_term, sig_int, sig_hup;
    struct selfmetrics sm;
    double start_time_s;
    uint64_t flush_failures, reloads, reload_failures;
    int last_reload_ok;
    double last_reload_s;
};

static double now_s(void)
{
    return (double)timefmt_now_ms() / 1000.0;
}

/* Loads the rule files cfg names, to check them. @return 0, or -EINVAL
 * after printing one "file:line:col: message" per problem. */
static int check_rules(const struct config *cfg, const char *config_path)
{
    struct rule_set rs;
    char *errors = NULL;
    int rc = rules_mgr_load(cfg, config_path, NULL, &rs, &errors);
    if (rc)
        fputs(errors ? errors : "cannot load the rule files\n", stderr);
    else
        rule_set_free(&rs);
    free(errors);
    return rc;
}

int daemon_load_config(const struct daemon_args *a, struct config *c)
{
    struct config_errors errs = {0};
    config_default(c);
    int rc = a->config_path ? config_load(c, a->config_path, &errs) : 0;
    if (rc == 0)
        rc = config_apply_overrides(c, &a->overrides, &errs);
    if (rc)
        fputs(errs.text ? errs.text : "configuration error\n", stderr);
    if (rc == 0)
        rc = check_rules(c, a->config_path);
    if (rc)
        config_free(c);
    config_errors_free(&errs);
    return rc;
}

/* ---- self-metrics -------------------------------------------------------- */

static void collect_statsd(struct vigild *d)
{
    struct selfmetrics *r = &d->sm;
    const struct statsd_input_stats *in = &d->statsd.stats;
    struct statsd_agg_stats st;
    statsd_agg_get_stats(d->agg, &st);
    const struct statsd_agg_stats *b = &d->agg_base;
    sm_set(r, "vigil_statsd_udp_packets_total", SM_COUNTER, "statsd datagrams received.",
           (double)in->udp_packets, NULL);
    sm_set(r, "vigil_statsd_tcp_connections_total", SM_COUNTER, "statsd TCP connections accepted.",
           (double)in->tcp_connections, NULL);
    sm_set(r, "vigil_statsd_tcp_connections_rejected_total", SM_COUNTER,
           "statsd TCP connections closed at once: over the connection limit.",
           (double)in->tcp_connections_rejected, NULL);
    const char *help_lines = "statsd lines received (empty lines not counted).";
    sm_set(r, "vigil_statsd_lines_total", SM_COUNTER, help_lines, (double)in->lines[STATSD_UDP],
           "proto", "udp", NULL);
    sm_set(r, "vigil_statsd_lines_total", SM_COUNTER, help_lines, (double)in->lines[STATSD_TCP],
           "proto", "tcp", NULL);
    sm_set(r, "vigil_statsd_metrics_accepted_total", SM_COUNTER,
           "statsd lines parsed and taken by the aggregator.", (double)in->metrics_accepted, NULL);
    for (int i = 1; i < STATSD_REJECT_COUNT; i++)
        sm_set(r, "vigil_statsd_lines_rejected_total", SM_COUNTER,
               "statsd lines rejected by the parser, by reason.", (double)in->rejected[i],
               "reason", statsd_reject_label((enum statsd_reject)i), NULL);
    sm_set(r, "vigil_statsd_values_total", SM_COUNTER,
           "statsd values aggregated (each value of a multi-value line counts).",
           (double)(st.metrics + b->metrics), NULL);
    sm_set(r, "vigil_statsd_series_created_total", SM_COUNTER, "statsd series created.",
           (double)(st.series_created + b->series_created), NULL);
    sm_set(r, "vigil_statsd_series_expired_total", SM_COUNTER,
           "statsd series dropped after idle_expire without data.",
           (double)(st.series_expired + b->series_expired), NULL);
    const char *help_drop = "statsd metrics the aggregator dropped, by reason.";
    sm_set(r, "vigil_statsd_series_dropped_total", SM_COUNTER, help_drop,
           (double)(st.dropped_series_limit + b->dropped_series_limit), "reason", "series_limit",
           NULL);
    sm_set(r, "vigil_statsd_series_dropped_total", SM_COUNTER, help_drop,
           (double)(st.dropped_metric_limit + b->dropped_metric_limit), "reason", "metric_limit",
           NULL);
    sm_set(r, "vigil_statsd_series_dropped_total", SM_COUNTER, help_drop,
           (double)(st.dropped_type_conflict + b->dropped_type_conflict), "reason",
           "type_conflict", NULL);
    sm_set(r, "vigil_statsd_series_dropped_total", SM_COUNTER, help_drop,
           (double)(st.dropped_invalid + b->dropped_invalid), "reason", "invalid", NULL);
    sm_set(r, "vigil_statsd_samples_written_total", SM_COUNTER,
           "Samples the statsd flushes wrote to the store.",
           (double)(st.samples_written + b->samples_written), NULL);
    sm_set(r, "vigil_statsd_samples_rejected_total", SM_COUNTER,
           "Samples of statsd flushes the store refused (the interval is lost).",
           (double)(st.samples_rejected + b->samples_rejected), NULL);
    sm_set(r, "vigil_statsd_flush_duration_seconds", SM_GAUGE,
           "Duration of the last statsd flush.", st.last_flush_seconds, NULL);
    sm_set(r, "vigil_statsd_flush_failures_total", SM_COUNTER,
           "statsd flushes whose commit to the store failed.", (double)d->flush_failures, NULL);
    uint64_t drops;
    if (statsd_listener_udp_drops(&d->statsd, &drops) == 0)
        sm_set(r, "vigil_statsd_udp_kernel_drops_total", SM_COUNTER,
               "Datagrams the kernel dropped on the statsd UDP socket (/proc/net/udp drops).",
               (double)drops, NULL);
    if (statsd_udp_rcvbuf_errors(&drops) == 0)
        sm_set(r, "vigil_udp_rcvbuf_errors_total", SM_COUNTER,
               "Host-wide UDP datagrams dropped for a full receive buffer (/proc/net/snmp).",
               (double)drops, NULL);
    if (d->statsd.udp_open)
        sm_set(r, "vigil_statsd_udp_receive_buffer_bytes", SM_GAUGE,
               "Receive buffer of the statsd UDP socket as the kernel reports it.",
               (double)d->statsd.receive_buffer_bytes, NULL);
}

static void collect_tsdb(struct vigild *d)
{
    struct selfmetrics *r = &d->sm;
    struct tsdb_stats s;
    tsdb_stats(d->db, &s);
    sm_set(r, "vigil_tsdb_head_series", SM_GAUGE, "Series in the head.", (double)s.head_series,
           NULL);
    sm_set(r, "vigil_tsdb_head_samples", SM_GAUGE, "Samples in the head.",
           (double)s.head_samples, NULL);
    sm_set(r, "vigil_tsdb_head_chunk_bytes", SM_GAUGE, "Bytes of encoded head chunks.",
           (double)s.head_chunk_bytes, NULL);
    sm_set(r, "vigil_tsdb_head_bytes", SM_GAUGE, "Head memory, estimated.",
           (double)s.head_bytes, NULL);
    sm_set(r, "vigil_tsdb_blocks", SM_GAUGE, "Blocks on disk.", (double)s.blocks, NULL);
    sm_set(r, "vigil_tsdb_block_samples", SM_GAUGE, "Samples in blocks.",
           (double)s.block_samples, NULL);
    sm_set(r, "vigil_tsdb_block_bytes", SM_GAUGE, "Bytes of blocks on disk.",
           (double)s.block_bytes, NULL);
    sm_set(r, "vigil_tsdb_wal_bytes", SM_GAUGE, "Bytes of the write-ahead log.",
           (double)s.wal_bytes, NULL);
    sm_set(r, "vigil_tsdb_samples_appended_total", SM_COUNTER, "Samples appended.",
           (double)s.samples_appended, NULL);
    sm_set(r, "vigil_tsdb_samples_out_of_order_total", SM_COUNTER,
           "Samples accepted out of order.", (double)s.samples_ooo, NULL);
    const char *help_rej = "Samples the store rejected, by reason.";
    sm_set(r, "vigil_tsdb_samples_rejected_total", SM_COUNTER, help_rej,
           (double)s.rejected_too_old, "reason", "too_old", NULL);
    sm_set(r, "vigil_tsdb_samples_rejected_total", SM_COUNTER, help_rej,
           (double)s.rejected_out_of_bounds, "reason", "out_of_bounds", NULL);
    sm_set(r, "vigil_tsdb_samples_rejected_total", SM_COUNTER, help_rej,
           (double)s.rejected_too_new, "reason", "too_new", NULL);
    sm_set(r, "vigil_tsdb_series_created_total", SM_COUNTER, "Series created.",
           (double)s.series_created, NULL);
    sm_set(r, "vigil_tsdb_series_rejected_total", SM_COUNTER,
           "Series refused: invalid labels or limits.", (double)s.series_rejected, NULL);
    sm_set(r, "vigil_tsdb_compactions_total", SM_COUNTER, "Block compactions.",
           (double)s.compactions, NULL);
    sm_set(r, "vigil_tsdb_blocks_deleted_total", SM_COUNTER, "Blocks deleted by retention.",
           (double)s.blocks_deleted, NULL);
    sm_set(r, "vigil_tsdb_wal_replayed_samples", SM_GAUGE,
           "Samples replayed from the WAL at start.", (double)d->report.wal_samples, NULL);
    sm_set(r, "vigil_tsdb_wal_truncated_bytes", SM_GAUGE,
           "Bytes of a torn WAL tail cut off at start.", (double)d->report.wal_truncated_bytes,
           NULL);
}

static void collect(struct vigild *d)
{
    struct selfmetrics *r = &d->sm;
    sm_set(r, "vigil_build_info", SM_GAUGE, "Always 1; the version of vigild.", 1, "version",
           VIGILD_VERSION, NULL);
    sm_collect_process(r, d->start_time_s);
    sm_set(r, "vigil_ready", SM_GAUGE, "1 once the store is open (WAL replayed).",
           d->ready, NULL);
    sm_set(r, "vigil_config_last_reload_successful", SM_GAUGE,
           "1 if the last configuration reload succeeded (or none was asked for).",
           d->last_reload_ok, NULL);
    sm_set(r, "vigil_config_last_reload_success_timestamp_seconds", SM_GAUGE,
           "Time of the last successful configuration load.", d->last_reload_s, NULL);
    sm_set(r, "vigil_config_reloads_total", SM_COUNTER, "Configuration reloads asked for (SIGHUP).",
           (double)d->reloads, NULL);
    sm_set(r, "vigil_config_reload_failures_total", SM_COUNTER,
           "Configuration reloads refused; the running configuration was kept.",
           (double)d->reload_failures, NULL);
    collect_statsd(d);
    for (size_t i = 0; i < d->router.ncounts; i++) {
        char code[16];
        snprintf(code, sizeof code, "%d", d->router.counts[i].code);
        sm_set(r, "vigil_http_requests_total", SM_COUNTER,
               "HTTP requests answered, by handler and status code.",
               (double)d->router.counts[i].n, "handler", d->router.counts[i].handler, "code",
               code, NULL);
    }
    sm_set(r, "vigil_http_connections_total", SM_COUNTER, "HTTP connections accepted.",
           (double)d->http.connections_total, NULL);
    sm_set(r, "vigil_http_connections_rejected_total", SM_COUNTER,
           "HTTP connections closed at once: over the connection limit.",
           (double)d->http.connections_rejected, NULL);
    if (d->ready)
        collect_tsdb(d);
    if (d->scrape)
        scrape_manager_collect(d->scrape, r);
    if (d->rules)
        rules_mgr_collect(d->rules, r);
    if (d->notifier)
        notifier_collect(d->notifier, r);
}

/* ---- HTTP handlers ------------------------------------------------------- */

static void handle_metrics(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    struct vigild *d = arg;
    collect(d);
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (sm_render(&d->sm, &res->body) != 0)
        res->status = 500;
}

static void handle_healthy(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    http_buf_printf(&res->body, "Vigil is Healthy.\n");
}

static void handle_ready(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    struct vigild *d = arg;
    if (d->ready) {
        http_buf_printf(&res->body, "Vigil is Ready.\n");
    } else {
        res->status = 503;
        http_buf_printf(&res->body, "Service Unavailable\n");
    }
}

static void handle_targets(const struct http_request *req, struct http_response *res, void *arg)
{
    struct vigild *d = arg;
    res->content_type = "application/json";
    if (scrape_targets_json(d->scrape, req->query, &res->body) != 0)
        res->status = 500;
}

/* ---- timers -------------------------------------------------------------- */

/* Writes the interval's aggregates and the self-metrics into the store. */
static void flush(struct vigild *d)
{
    int64_t now = timefmt_now_ms();
    int rc = statsd_agg_flush(d->agg, d->db, now);
    if (rc) {
        d->flush_failures++;
        vlog(VLOG_ERROR, "statsd flush failed; the interval is lost", "err=%s",
             tsdb_strerror(rc));
    }
    collect(d);
    rc = sm_store(&d->sm, d->db, now);
    if (rc)
        vlog(VLOG_WARN, "storing self-metrics failed", "err=%s", tsdb_strerror(rc));
}

static void on_flush(uv_timer_t *t)
{
    flush(t->data);
}

static void on_housekeeping(uv_timer_t *t)
{
    struct vigild *d = t->data;
    uint64_t t0 = uv_hrtime();
    int rc = tsdb_maintain(d->db, 0);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    if (rc)
        vlog(VLOG_ERROR, "store maintenance failed", "err=%s seconds=%.3f", tsdb_strerror(rc),
             secs);
    else
        vlog(VLOG_DEBUG, "store maintenance done", "seconds=%.3f", secs);
}

/* ---- stopping ------------------------------------------------------------ */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void close_store(struct vigild *d)
{
    int rc = tsdb_close(d->db);
    d->db = NULL;
    if (rc) {
        vlog(VLOG_ERROR, "store close failed", "err=%s", tsdb_strerror(rc));
        d->exit_code = 1;
    } else {
        vlog(VLOG_INFO, "store closed", "data_dir=%s", d->cfg->data_dir);
    }
}

/* ---- scraping ------------------------------------------------------------ */

/* Starts the scrape manager on the open store with the running
 * scrape_configs. @return 0 or -1 after logging why. */
static int start_scraping(struct vigild *d)
{
    struct scrape_io io;
    int rc = httpc_new(&d->loop, &d->httpc);
    if (rc == 0) {
        scrape_io_httpc(&io, d->httpc);
        rc = scrape_manager_new(&d->loop, d->db, &io, &d->scrape);
    }
    if (rc == 0)
        rc = scrape_manager_apply(d->scrape, &d->cfg->scrape);
    if (rc) {
        vlog(VLOG_ERROR, "cannot start scraping", "err=%s", uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* Requests in flight are cancelled; nothing more reaches the store. */
static void stop_scraping(struct vigild *d)
{
    if (d->scrape)
        scrape_manager_close(d->scrape, NULL, NULL);
    if (d->httpc)
        httpc_close(d->httpc, NULL, NULL);
    d->scrape = NULL;
    d->httpc = NULL;
}

/* Closes the store once no query and no rule evaluation uses it. */
static void maybe_close_store(struct vigild *d)
{
    if (!d->db)
        return;
    if (d->api.inflight)
        vlog(VLOG_INFO, "waiting for queries to finish", "queries=%u", d->api.inflight);
    else if (!d->rules)
        close_store(d);
}

/* The rules manager let go of the store (alert state saved). */
static void on_rules_closed(void *arg)
{
    struct vigild *d = arg;
    d->rules = NULL;
    if (d->stopping)
        maybe_close_store(d);
}

/* Stops the agent: listeners first, then the last flush, the rules and the
 * store, then every other handle. code is the exit status if none was set. */
static void stop(struct vigild *d, int code)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    if (code)
        d->exit_code = code;
    vlog(VLOG_INFO, "stopping", "exit_code=%d", d->exit_code);
    statsd_listener_close(&d->statsd, NULL);
    if (d->notifier)
        notifier_close(d->notifier, NULL, NULL);
    d->notifier = NULL;
    stop_scraping(d);
    if (d->ready) {
        flush(d);
        d->api.db = NULL; /* new queries: 503 */
        if (d->rules)
            rules_mgr_close(d->rules, on_rules_closed, d);
        maybe_close_store(d);
        d->ready = 0;
    }
    http_server_close(&d->http, NULL);
    close_handle((uv_handle_t *)&d->flush_timer);
    close_handle((uv_handle_t *)&d->housekeeping_timer);
    close_handle((uv_handle_t *)&d->sig_term);
    close_handle((uv_handle_t *)&d->sig_int);
    close_handle((uv_handle_t *)&d->sig_hup);
}

/* The last query finished: close the store if stop() left it open. */
static void on_api_idle(struct api *a, void *arg)
{
    (void)a;
    struct vigild *d = arg;
    if (d->stopping)
        maybe_close_store(d);
}

/* ---- reload -------------------------------------------------------------- */

static int statsd_agg_settings_equal(const struct statsd_config *a, const struct statsd_config *b)
{
    return a->nquantiles == b->nquantiles && a->nbuckets == b->nbuckets &&
           (!a->nquantiles ||
            memcmp(a->quantiles, b->quantiles, a->nquantiles * sizeof(double)) == 0) &&
           (!a->nbuckets || memcmp(a->buckets, b->buckets, a->nbuckets * sizeof(double)) == 0) &&
           a->sketch_relative_error == b->sketch_relative_error &&
           a->idle_expire_ms == b->idle_expire_ms && a->max_series == b->max_series &&
           a->max_series_per_metric == b->max_series_per_metric;
}

/* Settings that only a restart applies: warn about changes and keep the
 * running values in n. */
static void keep_restart_settings(struct config *n, const struct config *o)
{
    static const struct {
        const char *key;
        size_t off, len;
    } fixed[] = {
        {"storage.data_dir", offsetof(struct config, data_dir), CONFIG_PATH_MAX},
        {"statsd.udp", offsetof(struct config, statsd_udp), CONFIG_ADDR_MAX},
        {"statsd.tcp", offsetof(struct config, statsd_tcp), CONFIG_ADDR_MAX},
        {"statsd.receive_buffer_bytes", offsetof(struct config, statsd_receive_buffer_bytes),
         sizeof(uint64_t)},
        {"http.listen", offsetof(struct config, http_listen), CONFIG_ADDR_MAX},
        {"storage", offsetof(struct config, storage), sizeof(struct tsdb_options)},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        char *nv = (char *)n + fixed[i].off;
        const char *ov = (const char *)o + fixed[i].off;
        if (memcmp(nv, ov, fixed[i].len) != 0) {
            vlog(VLOG_WARN, "config change needs a restart; keeping the running value", "key=%s",
                 fixed[i].key);
            memcpy(nv, ov, fixed[i].len);
        }
    }
}

static void add_stats(struct statsd_agg_stats *base, const struct statsd_agg *a)
{
    struct statsd_agg_stats s;
    statsd_agg_get_stats(a, &s);
    base->metrics += s.metrics;
    base->series_created += s.series_created;
    base->series_expired += s.series_expired;
    base->dropped_series_limit += s.dropped_series_limit;
    base->dropped_metric_limit += s.dropped_metric_limit;
    base->dropped_type_conflict += s.dropped_type_conflict;
    base->dropped_invalid += s.dropped_invalid;
    base->samples_written += s.samples_written;
    base->samples_rejected += s.samples_rejected;
}

/* Replaces the aggregator for new aggregation settings: the current interval
 * is flushed first; counters start again from zero (a counter reset that
 * rate() handles). @return 0 or the error of creating the new one. */
static int replace_aggregator(struct vigild *d, const struct statsd_config *c)
{
    struct statsd_agg *a;
    int rc = statsd_agg_new(c, &a);
    if (rc)
        return rc;
    if (d->ready)
        flush(d);
    add_stats(&d->agg_base, d->agg);
    statsd_agg_free(d->agg);
    d->agg = d->statsd.agg = a;
    return 0;
}

static void log_errors(const char *text)
{
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        size_t n = nl ? (size_t)(nl - text) : strlen(text);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), text);
        vlog(VLOG_ERROR, "config error", "error=%s", line);
        text += n + (nl != NULL);
    }
}

/* Loads the file again with the same flags. @return the new configuration
 * or NULL after logging every error. */
static struct config *load_again(struct vigild *d)
{
    struct config *n = malloc(sizeof *n);
    if (!n)
        return NULL;
    struct config_errors errs = {0};
    const char *path = d->args->config_path;
    config_default(n);
    int rc = path ? config_load(n, path, &errs) : 0;
    if (rc == 0)
        rc = config_apply_overrides(n, &d->args->overrides, &errs);
    log_errors(errs.text);
    config_errors_free(&errs);
    if (rc == 0)
        return n;
    config_free(n);
    free(n);
    return NULL;
}

/* The rule files of n, with the built-in groups. @return 0 and *rs, or
 * -EINVAL after logging every problem (file:line:col). */
static int load_rules(struct vigild *d, const struct config *n, struct rule_set *rs)
{
    char dir[CONFIG_PATH_MAX + 8], *errors = NULL;
    snprintf(dir, sizeof dir, "%s/rules", d->cfg->data_dir);
    int rc = rules_mgr_load(n, d->args->config_path, dir, rs, &errors);
    if (rc)
        log_errors(errors ? errors : "cannot load the rule files");
    free(errors);
    return rc;
}

static void reload(struct vigild *d)
{
    const char *path = d->args->config_path ? d->args->config_path : "";
    vlog(VLOG_INFO, "reloading config", "file=%s", path);
    d->reloads++;
    struct config *n = load_again(d);
    struct rule_set rs = {0};
    int rc = n ? 0 : -EINVAL;
    if (n) {
        keep_restart_settings(n, d->cfg);
        rc = load_rules(d, n, &rs); /* checked even before the rules start */
        if (rc == 0 && !statsd_agg_settings_equal(&n->statsd, &d->cfg->statsd))
            rc = replace_aggregator(d, &n->statsd);
        if (rc == 0 && d->scrape)
            rc = scrape_manager_apply(d->scrape, &n->scrape);
        /* last: it fails only for memory, and then nothing else changed
         * after it */
        if (rc == 0 && d->notifier)
            rc = notifier_reload(d->notifier, &n->notify);
    }
    if (rc == 0 && d->rules)
        rules_mgr_apply(d->rules, &rs, n);
    rule_set_free(&rs);
    if (rc) {
        d->reload_failures++;
        d->last_reload_ok = 0;
        vlog(VLOG_ERROR, "config reload failed; keeping the running configuration",
             "file=%s err=%s", path, uv_strerror(rc));
        if (n)
            config_free(n);
        free(n);
        return;
    }
    if (n->statsd.flush_interval_ms != d->cfg->statsd.flush_interval_ms && d->ready)
        uv_timer_start(&d->flush_timer, on_flush, (uint64_t)n->statsd.flush_interval_ms,
                       (uint64_t)n->statsd.flush_interval_ms);
    vlog_set_level(n->log_level);
    d->api.opts.subquery_step_ms = n->scrape.global.evaluation_interval_ms;
    config_free(d->cfg);
    free(d->cfg);
    d->cfg = n;
    d->last_reload_ok = 1;
    d->last_reload_s = now_s();
    vlog(VLOG_INFO, "config reloaded", "file=%s log_level=%s flush_interval_ms=%lld", path,
         vlog_level_name(n->log_level), (long long)n->statsd.flush_interval_ms);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct vigild *d = s->data;
    if (signum == SIGHUP) {
        reload(d);
        return;
    }
    vlog(VLOG_INFO, "signal received", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    stop(d, 0);
}

/* ---- starting ------------------------------------------------------------ */

/* Hands alerts of a rule evaluation to the notifier. */
static void on_alerts(void *arg, const struct alert_notification *a, size_t n, int64_t now_ms)
{
    struct vigild *d = arg;
    if (d->notifier)
        notifier_send(d->notifier, a, n, now_ms);
}

/* Starts the notifier and the rules manager on the open store with the
 * running configuration. @return 0 or -1 after logging why. */
static int start_rules(struct vigild *d)
{
    const struct config *c = d->cfg;
    char url[CONFIG_PATH_MAX + 16];
    if (c->external_url[0])
        snprintf(url, sizeof url, "%s", c->external_url);
    else
        snprintf(url, sizeof url, "http://%s", c->http_listen);
    int rc = notifier_new(&d->loop, d->httpc, &c->notify, c->data_dir, url, &d->notifier);
    if (rc) {
        vlog(VLOG_ERROR, "cannot start the notifier", "err=%s", uv_strerror(rc));
        return -1;
    }
    rc = rules_mgr_new(&d->loop, d->db, c->data_dir, &d->rules);
    if (rc) {
        vlog(VLOG_ERROR, "cannot start rule evaluation", "err=%s", uv_strerror(rc));
        return -1;
    }
    rules_mgr_set_notify(d->rules, on_alerts, d);
    struct rule_set rs;
    if (load_rules(d, c, &rs) != 0)
        return -1;
    rules_mgr_apply(d->rules, &rs, c);
    return 0;
}

static void work_open(uv_work_t *w)
{
    struct vigild *d = w->data;
    d->open_rc = tsdb_open(d->cfg->data_dir, &d->cfg->storage, &d->db, &d->report);
}

static void after_open(uv_work_t *w, int status)
{
    struct vigild *d = w->data;
    d->opening = 0;
    if (status == 0 && d->open_rc != 0) {
        vlog(VLOG_ERROR, "cannot open the store", "data_dir=%s err=%s", d->cfg->data_dir,
             tsdb_strerror(d->open_rc));
        stop(d, 1);
        return;
    }
    const struct tsdb_open_report *r = &d->report;
    vlog(VLOG_INFO, "store opened", "data_dir=%s blocks=%u wal_records=%llu wal_samples=%llu "
         "wal_corrupt_records=%llu wal_truncated_bytes=%llu replay_seconds=%.3f",
         d->cfg->data_dir, r->blocks, (unsigned long long)r->wal_records,
         (unsigned long long)r->wal_samples, (unsigned long long)r->wal_corrupt_records,
         (unsigned long long)r->wal_truncated_bytes, r->replay_seconds);
    if (r->wal_truncated_bytes)
        vlog(VLOG_WARN, "torn WAL tail truncated", "bytes=%llu records=%llu",
             (unsigned long long)r->wal_truncated_bytes,
             (unsigned long long)r->wal_corrupt_records);
    if (d->stopping) { /* a signal came during the replay */
        close_store(d);
        return;
    }
    d->ready = 1;
    d->api.db = d->db;
    if (start_scraping(d) != 0 || start_rules(d) != 0) {
        stop(d, 1);
        return;
    }
    uint64_t every = (uint64_t)d->cfg->statsd.flush_interval_ms;
    uv_timer_start(&d->flush_timer, on_flush, every, every);
    uv_timer_start(&d->housekeeping_timer, on_housekeeping, HOUSEKEEPING_FIRST_MS,
                   HOUSEKEEPING_EVERY_MS);
    vlog(VLOG_INFO, "ready", NULL);
}

/* Binds addr for what ("http", "udp", "tcp"). @return 0 or -1 after
 * logging why. */
static int listen_on(struct vigild *d, const char *what, const char *addr)
{
    struct sockaddr_storage sa;
    int rc = config_parse_addr(addr, &sa);
    if (rc == 0) {
        if (strcmp(what, "http") == 0)
            rc = http_server_start(&d->loop, &d->http, &d->router, (struct sockaddr *)&sa);
        else if (strcmp(what, "udp") == 0)
            rc = statsd_listener_udp(&d->statsd, (struct sockaddr *)&sa,
                                     d->cfg->statsd_receive_buffer_bytes);
        else
            rc = statsd_listener_tcp(&d->statsd, (struct sockaddr *)&sa);
    }
    if (rc) {
        vlog(VLOG_ERROR, rc == UV_EADDRINUSE ? "cannot listen: address already in use"
                                             : "cannot listen",
             "addr=%s proto=%s err=%s", addr, what, uv_strerror(rc));
        return -1;
    }
    if (strcmp(what, "http") == 0)
        vlog(VLOG_INFO, "http listening", "addr=%s", addr);
    else if (strcmp(what, "udp") == 0)
        vlog(VLOG_INFO, "statsd listening", "addr=%s proto=udp receive_buffer_bytes=%llu", addr,
             (unsigned long long)d->statsd.receive_buffer_bytes);
    else
        vlog(VLOG_INFO, "statsd listening", "addr=%s proto=tcp", addr);
    return 0;
}

static int start(struct vigild *d)
{
    uv_timer_init(&d->loop, &d->flush_timer);
    uv_timer_init(&d->loop, &d->housekeeping_timer);
    d->flush_timer.data = d->housekeeping_timer.data = d;
    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    uv_signal_init(&d->loop, &d->sig_hup);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_signal, SIGHUP);

    http_router_init(&d->router);
    http_router_add(&d->router, "/metrics", HTTP_METHOD_BIT(HTTP_GET), handle_metrics, d);
    http_router_add(&d->router, "/-/healthy", HTTP_METHOD_BIT(HTTP_GET), handle_healthy, d);
    http_router_add(&d->router, "/-/ready", HTTP_METHOD_BIT(HTTP_GET), handle_ready, d);
    http_router_add(&d->router, "/api/v1/targets", HTTP_METHOD_BIT(HTTP_GET), handle_targets, d);
    rules_api_register(&d->router, &d->rules);
    api_init(&d->api, &d->loop, VIGILD_VERSION);
    d->api.opts.subquery_step_ms = d->cfg->scrape.global.evaluation_interval_ms;
    d->api.idle_cb = on_api_idle;
    d->api.idle_arg = d;
    api_register(&d->api, &d->router); /* after the other /api/v1 routes */
    int rc = statsd_agg_new(&d->cfg->statsd, &d->agg);
    if (rc) {
        vlog(VLOG_ERROR, "cannot set up statsd aggregation", "err=%s", uv_strerror(rc));
        return -1;
    }
    statsd_listener_init(&d->loop, &d->statsd, d->agg);
    if ((d->cfg->http_listen[0] && listen_on(d, "http", d->cfg->http_listen)) ||
        (d->cfg->statsd_udp[0] && listen_on(d, "udp", d->cfg->statsd_udp)) ||
        (d->cfg->statsd_tcp[0] && listen_on(d, "tcp", d->cfg->statsd_tcp)))
        return -1;
    vlog(VLOG_INFO, "opening the store", "data_dir=%s", d->cfg->data_dir);
    d->open_work.data = d;
    d->opening = 1;
    rc = uv_queue_work(&d->loop, &d->open_work, work_open, after_open);
    if (rc) {
        d->opening = 0;
        vlog(VLOG_ERROR, "cannot open the store", "err=%s", uv_strerror(rc));
        return -1;
    }
    return 0;
}

int daemon_run(const struct daemon_args *a)
{
    struct vigild *d = calloc(1, sizeof *d);
    struct config *cfg = malloc(sizeof *cfg);
    if (!d || !cfg || daemon_load_config(a, cfg) != 0) {
        free(d);
        free(cfg);
        return 1;
    }
    d->args = a;
    d->cfg = cfg;
    d->start_time_s = d->last_reload_s = now_s();
    d->last_reload_ok = 1;
    vlog_set_level(cfg->log_level);
    sm_init(&d->sm);
    int rc = uv_loop_init(&d->loop);
    if (rc) {
        vlog(VLOG_ERROR, "cannot start the event loop", "err=%s", uv_strerror(rc));
        free(d);
        config_free(cfg);
        free(cfg);
        return 1;
    }
    vlog(VLOG_INFO, "starting vigild", "version=%s config=%s log_level=%s", VIGILD_VERSION,
         a->config_path ? a->config_path : "(defaults)", vlog_level_name(cfg->log_level));
    if (start(d) != 0) /* stop() copes with what start() did not set up */
        stop(d, 1);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&d->loop);
    if (rc)
        vlog(VLOG_WARN, "event loop closed with handles open", "err=%s", uv_strerror(rc));
    if (d->agg)
        statsd_agg_free(d->agg);
    sm_free(&d->sm);
    int code = d->exit_code;
    vlog(VLOG_INFO, "exiting", "exit_code=%d", code);
    config_free(d->cfg);
    free(d->cfg);
    free(d);
    return code;
}
