/* notify_int.h — private to the notifier: the structures shared by
 * notify.c (routing, aggregation groups, scheduling), notify_deliver.c
 * (webhook and exec deliveries with retries), notify_am.c (the
 * Alertmanager sender) and notify_json.c (payloads).
 *
 * Design notes, one alert's way:
 *
 *   notifier_send ──> notify__am_push (Alertmanagers: bounded queue,
 *     │                batches of 64, POST /api/v2/alerts)
 *     └─> route tree (first matching child, `continue`) ──> aggregation
 *         group per (route, group_by values) ──> flush after group_wait,
 *         then every group_interval: per integration of the receiver,
 *         Alertmanager's dedup decision against the persisted state
 *         ──> outbox_enqueue (payload + new state in one fsync'd record)
 *         ──> integration queue ──> attempt (webhook POST / exec) ──>
 *         success: outbox_done; failure: retry after capped exponential
 *         backoff with jitter; older than max_age: dropped, outbox_done. */
#ifndef VIGIL_NOTIFY_INT_H
#define VIGIL_NOTIFY_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "notify.h"
#include "outbox.h"
#include "selfmetrics.h"
#include "u64map.h"

/* An alert as the notifier keeps it (its own copy). */
struct nalert {
    json_t *labels;                 /* object, keys sorted */
    json_t *annotations;            /* object, keys sorted */
    int64_t starts_at_ms, ends_at_ms;
    int resolved;
    char *generator_url;
    uint64_t fp;                    /* Alertmanager's fingerprint */
};

void notify__alert_free(struct nalert *a);
/* 1 if a counts as resolved at now_ms (resolved, or its endsAt passed). */
int notify__alert_resolved(const struct nalert *a, int64_t now_ms);

/* ---- notify_json.c ---- */

/* Alertmanager's (prometheus/common model) label set fingerprint: FNV-1a
 * 64 over the sorted names and values, each followed by 0xff. */
uint64_t notify__fingerprint(const json_t *labels);
/* RFC 3339 UTC as Go prints a time.Time: "2024-05-01T10:00:00.25Z". */
void notify__format_time(int64_t ms, char buf[40]);
/* {labels, annotations, startsAt, endsAt, generatorURL}: an alert of
 * Alertmanager's API v2 POST /api/v2/alerts. NULL on ENOMEM. */
json_t *notify__alert_v2(const struct nalert *a);
/* The webhook (version 4) payload, serialized; NULL on ENOMEM. */
struct payload_args {
    const char *receiver, *group_key, *external_url;
    const json_t *group_labels;
    const struct nalert *const *alerts; /* resolved ones already filtered */
    size_t nalerts;
    uint64_t max_alerts;            /* 0 = all */
    int64_t now_ms;
};
char *notify__webhook_payload(const struct payload_args *p, size_t *len /* OUT */);

/* ---- notify_deliver.c: one queue per webhook or exec integration ---- */

enum integration_kind { INTEGRATION_WEBHOOK, INTEGRATION_EXEC };

struct delivery {
    uint64_t id;                    /* in the outbox */
    char *payload;
    size_t len;
    int64_t enqueued_ms;
};

struct exec_run;

struct integration {
    char *dest;                     /* "receiver/webhook/0": the outbox key */
    char *receiver;
    enum integration_kind kind;
    const struct notify_webhook *webhook; /* into the notifier's config */
    const struct notify_exec *exec;
    int send_resolved;
    struct delivery *q;             /* oldest first; q[0] is attempted */
    size_t nq, capq;
    int busy;                       /* q[0] in flight */
    unsigned attempts;              /* failed attempts of q[0] */
    int64_t next_ms;                /* earliest next attempt of q[0] */
    uint64_t http_id;
    struct exec_run *run;
    struct notifier *n;
    /* self-metrics */
    uint64_t sent, failed, dropped;
    double latency_sum, latency_last;
    uint64_t latency_count;
};

struct integration *notify__integration_new(struct notifier *n, const char *receiver,
                                            enum integration_kind kind, size_t index);
/* Cancels an attempt in flight (its result is ignored) and frees it. */
void notify__integration_free(struct integration *it);
/* Points it at cfg's configuration of the same receiver/kind/index. */
void notify__integration_bind(struct integration *it, const struct notify_receiver *r,
                              size_t index);
/* Queues an outbox entry (copied). @return 0 or -ENOMEM. */
int notify__integration_push(struct integration *it, uint64_t id, const char *payload,
                             size_t len, int64_t enqueued_ms);
/* Starts q[0] if it is due; drops entries older than max_age. */
void notify__integration_run(struct integration *it, int64_t now_ms);

/* ---- notify_am.c ---- */

struct am_sender;
int notify__am_new(struct notifier *n, const struct notify_config *cfg,
                   struct am_sender **out /* OUT */);
/* Replaces the endpoints (an in-flight batch is re-queued). */
int notify__am_reload(struct am_sender *s, const struct notify_config *cfg);
void notify__am_push(struct am_sender *s, const struct nalert *a, size_t n);
void notify__am_collect(struct am_sender *s, struct selfmetrics *sm);
/* Cancels the requests in flight (their batch is lost) and sends no more. */
void notify__am_stop(struct am_sender *s);
void notify__am_free(struct am_sender *s);

/* ---- notify.c, for the modules above ---- */

struct notifier {
    uv_loop_t *loop;
    struct httpc *hc;
    struct notify_config cfg;
    char *external_url;
    struct outbox *ob;
    uv_timer_t timer;               /* the one timer: flushes and retries */
    int closing;
    unsigned open_handles;          /* timer + exec runs; close waits for 0 */
    void (*close_cb)(void *);
    void *close_arg;

    struct rnode *routes;           /* compiled cfg.route, NULL = none */
    struct integration **its;
    size_t nits;
    struct agroup **groups;
    size_t ngroups;
    struct u64map group_index;      /* hash of a group's key -> index */
    struct am_sender *am;
    uint64_t dropped_unknown;       /* outbox entries of removed receivers */
};

int64_t notify__now(void);
/* Re-arms the timer for the earliest flush or attempt. */
void notify__schedule(struct notifier *n);
/* A handle of n was closed; finishes notifier_close after the last one. */
void notify__handle_closed(struct notifier *n);

#endif
