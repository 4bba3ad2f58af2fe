/* notify_am.c — sending alerts to Alertmanagers as Prometheus' notifier
 * does: a queue of at most 10,000 alerts (the oldest dropped, counted),
 * batches of up to 64 POSTed as a JSON array to every configured
 * Alertmanager's /api/v2/alerts at once; a batch no Alertmanager accepted
 * is dropped and counted, the next batch follows as soon as all replied. */
#include "notify_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "log.h"

#define QUEUE_CAP 10000
#define BATCH_MAX 64

struct am_endpoint {
    char *url;                      /* .../api/v2/alerts */
    const struct notify_alertmanager *cfg;
    struct am_sender *s;
    uint64_t http_id;
    int busy;
    uint64_t sent, errors;          /* alerts */
    double latency_sum;
    uint64_t latency_count;
};

struct am_sender {
    struct notifier *n;
    char **ring;                    /* serialized alerts, QUEUE_CAP slots */
    size_t head, len;
    struct am_endpoint *eps;
    size_t neps;
    char *batch[BATCH_MAX];         /* in flight */
    size_t nbatch;
    unsigned waiting;               /* endpoints yet to reply */
    int any_ok;
    uint64_t dropped;
};

static void kick(struct am_sender *s);

static void drop_front(struct am_sender *s)
{
    free(s->ring[s->head]);
    s->head = (s->head + 1) % QUEUE_CAP;
    s->len--;
    s->dropped++;
}

static void push_back(struct am_sender *s, char *alert)
{
    if (s->len == QUEUE_CAP)
        drop_front(s);
    s->ring[(s->head + s->len++) % QUEUE_CAP] = alert;
}

void notify__am_stop(struct am_sender *s)
{
    for (size_t i = 0; i < s->neps; i++)
        if (s->eps[i].busy) {
            httpc_cancel(s->n->hc, s->eps[i].http_id);
            s->eps[i].busy = 0;
        }
}

static void free_endpoints(struct am_sender *s)
{
    notify__am_stop(s);
    for (size_t i = 0; i < s->neps; i++)
        free(s->eps[i].url);
    free(s->eps);
    s->eps = NULL;
    s->neps = 0;
}

static int build_endpoints(struct am_sender *s, const struct notify_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->nalertmanagers; i++)
        n += cfg->alertmanagers[i].ntargets;
    if (n && !(s->eps = calloc(n, sizeof *s->eps)))
        return -ENOMEM;
    for (size_t i = 0; i < cfg->nalertmanagers; i++) {
        const struct notify_alertmanager *a = &cfg->alertmanagers[i];
        size_t plen = strlen(a->path_prefix);
        while (plen && a->path_prefix[plen - 1] == '/')
            plen--;
        for (size_t j = 0; j < a->ntargets; j++) {
            struct am_endpoint *e = &s->eps[s->neps];
            if (asprintf(&e->url, "%s://%s%.*s/api/v2/alerts", a->scheme, a->targets[j],
                         (int)plen, a->path_prefix) < 0)
                return -ENOMEM;
            e->cfg = a;
            e->s = s;
            s->neps++;
        }
    }
    return 0;
}

int notify__am_new(struct notifier *n, const struct notify_config *cfg,
                   struct am_sender **out)
{
    struct am_sender *s = calloc(1, sizeof *s);
    if (!s || !(s->ring = calloc(QUEUE_CAP, sizeof *s->ring))) {
        free(s);
        return -ENOMEM;
    }
    s->n = n;
    int rc = build_endpoints(s, cfg);
    if (rc) {
        notify__am_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Puts the batch in flight back at the front of the queue. */
static void requeue_batch(struct am_sender *s)
{
    for (size_t i = s->nbatch; i-- > 0;) {
        if (s->len == QUEUE_CAP) {
            free(s->batch[i]);
            s->dropped++;
            continue;
        }
        s->head = (s->head + QUEUE_CAP - 1) % QUEUE_CAP;
        s->ring[s->head] = s->batch[i];
        s->len++;
    }
    s->nbatch = 0;
    s->waiting = 0;
}

int notify__am_reload(struct am_sender *s, const struct notify_config *cfg)
{
    free_endpoints(s);
    requeue_batch(s);
    int rc = build_endpoints(s, cfg);
    kick(s);
    return rc;
}

/* a's labels after alerting.alert_relabel_configs: a new reference, or
 * NULL when the rules drop the alert (or on ENOMEM, logged). */
static json_t *relabel(const struct notify_config *c, const struct nalert *a)
{
    if (!c->nalert_relabel)
        return json_incref(a->labels);
    struct relabel_labels ls = {0};
    const char *k;
    json_t *v, *out = NULL;
    int rc = 0;
    json_object_foreach(a->labels, k, v)
        rc |= relabel_labels_set(&ls, k, json_string_value(v));
    if (!rc)
        rc = relabel_apply(c->alert_relabel, c->nalert_relabel, &ls);
    if (rc == 1 && (out = json_object()))
        for (size_t i = 0; i < ls.len; i++)
            json_object_set_new(out, ls.v[i].name, json_string(ls.v[i].value));
    if (rc < 0 || (rc == 1 && !out))
        vlog(VLOG_ERROR, "notify: out of memory relabeling an alert", NULL);
    relabel_labels_free(&ls);
    return out;
}

void notify__am_push(struct am_sender *s, const struct nalert *a, size_t n)
{
    if (!s->neps)
        return;
    for (size_t i = 0; i < n; i++) {
        struct nalert b = a[i];
        if (!(b.labels = relabel(&s->n->cfg, &a[i])))
            continue;
        json_t *j = notify__alert_v2(&b);
        json_decref(b.labels);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (text)
            push_back(s, text);
        else
            s->dropped++;
    }
    kick(s);
}

static void batch_done(struct am_sender *s)
{
    if (!s->any_ok)
        s->dropped += s->nbatch;
    for (size_t i = 0; i < s->nbatch; i++)
        free(s->batch[i]);
    s->nbatch = 0;
    kick(s);
}

static void on_reply(void *arg, const struct httpc_response *res)
{
    struct am_endpoint *e = arg;
    struct am_sender *s = e->s;
    e->busy = 0;
    e->latency_sum += res->seconds;
    e->latency_count++;
    if (!res->error && res->status >= 200 && res->status < 300) {
        e->sent += s->nbatch;
        s->any_ok = 1;
    } else {
        e->errors += s->nbatch;
        vlog(VLOG_ERROR, "notify: error sending alerts to Alertmanager",
             "alertmanager=%s count=%zu err=%s status=%ld", e->url, s->nbatch,
             res->error ? res->errmsg : "bad response status", res->status);
    }
    if (--s->waiting == 0)
        batch_done(s);
}

static void kick(struct am_sender *s)
{
    if (s->nbatch || !s->len || !s->neps || s->n->closing)
        return;
    size_t bytes = 2;
    while (s->nbatch < BATCH_MAX && s->len) {
        s->batch[s->nbatch++] = s->ring[s->head];
        bytes += strlen(s->ring[s->head]) + 1;
        s->head = (s->head + 1) % QUEUE_CAP;
        s->len--;
    }
    char *body = malloc(bytes + 1), *p = body;
    if (!body) {
        batch_done(s);
        return;
    }
    *p++ = '[';
    for (size_t i = 0; i < s->nbatch; i++) {
        size_t l = strlen(s->batch[i]);
        if (i)
            *p++ = ',';
        memcpy(p, s->batch[i], l);
        p += l;
    }
    *p++ = ']';
    static const char *const headers[] = {"Content-Type: application/json",
                                          "User-Agent: vigild", NULL};
    s->any_ok = 0;
    s->waiting = (unsigned)s->neps;
    for (size_t i = 0; i < s->neps; i++) {
        struct am_endpoint *e = &s->eps[i];
        struct httpc_request req = {0};
        req.url = e->url;
        req.method = "POST";
        req.headers = headers;
        req.body = body;
        req.body_len = (size_t)(p - body);
        req.timeout_ms = e->cfg->timeout_ms;
        req.username = e->cfg->username;
        req.password = e->cfg->password;
        req.ca_file = e->cfg->ca_file;
        req.insecure_skip_verify = e->cfg->insecure_skip_verify;
        req.max_body_bytes = 1 << 20;
        e->busy = 1;
        if (httpc_start(s->n->hc, &req, on_reply, e, &e->http_id) != 0) {
            struct httpc_response res = {.error = -ENOMEM};
            snprintf(res.errmsg, sizeof res.errmsg, "out of memory");
            on_reply(e, &res);
        }
    }
    free(body); /* httpc copied it */
}

void notify__am_collect(struct am_sender *s, struct selfmetrics *sm)
{
    sm_set(sm, "vigil_alertmanager_notifications_queue_length", SM_GAUGE,
           "Alerts waiting to be sent to Alertmanagers.", (double)s->len, NULL);
    sm_set(sm, "vigil_alertmanager_notifications_queue_capacity", SM_GAUGE,
           "Capacity of the Alertmanager alert queue.", (double)QUEUE_CAP, NULL);
    sm_set(sm, "vigil_alertmanager_notifications_dropped_total", SM_COUNTER,
           "Alerts dropped: queue full, or no Alertmanager accepted their batch.",
           (double)s->dropped, NULL);
    sm_set(sm, "vigil_alertmanagers_discovered", SM_GAUGE,
           "Alertmanagers alerts are sent to.", (double)s->neps, NULL);
    for (size_t i = 0; i < s->neps; i++) {
        struct am_endpoint *e = &s->eps[i];
        sm_set(sm, "vigil_alertmanager_notifications_sent_total", SM_COUNTER,
               "Alerts accepted by the Alertmanager.", (double)e->sent, "alertmanager", e->url,
               NULL);
        sm_set(sm, "vigil_alertmanager_notifications_errors_total", SM_COUNTER,
               "Alerts the Alertmanager failed to accept.", (double)e->errors, "alertmanager",
               e->url, NULL);
        sm_set(sm, "vigil_alertmanager_notification_latency_seconds_sum", SM_COUNTER,
               "Total seconds spent posting alerts to the Alertmanager.", e->latency_sum,
               "alertmanager", e->url, NULL);
        sm_set(sm, "vigil_alertmanager_notification_latency_seconds_count", SM_COUNTER,
               "Posts of alerts to the Alertmanager.", (double)e->latency_count,
               "alertmanager", e->url, NULL);
    }
}

void notify__am_free(struct am_sender *s)
{
    if (!s)
        return;
    free_endpoints(s);
    for (size_t i = 0; i < s->nbatch; i++)
        free(s->batch[i]);
    while (s->len) {
        free(s->ring[s->head]);
        s->head = (s->head + 1) % QUEUE_CAP;
        s->len--;
    }
    free(s->ring);
    free(s);
}
