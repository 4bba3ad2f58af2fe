/* targets_api.c — GET /api/v1/targets: the scrape manager's targets in
 * Prometheus' JSON shape (see scrape.h), built with jansson. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "scrape.h"

struct targets_ctx {
    json_t *active, *dropped;
    int show_active, show_dropped;
    int nomem;
};

static json_t *labels_object(const struct tsdb_label *l, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        if (json_object_set_new(o, l[i].name, json_string(l[i].value))) {
            json_decref(o);
            return NULL;
        }
    return o;
}

/* RFC 3339 in UTC with milliseconds; Go's zero time before a first scrape. */
static void rfc3339(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        snprintf(buf, size, "0001-01-01T00:00:00Z");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

static json_t *active_object(const struct scrape_target_info *t)
{
    char last[48], interval[32], timeout[32];
    rfc3339(t->last_scrape_ms, last, sizeof last);
    scrape_duration_string(t->interval_ms, interval, sizeof interval);
    scrape_duration_string(t->timeout_ms, timeout, sizeof timeout);
    return json_pack("{s:o?,s:o?,s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:s,s:s}",
                     "discoveredLabels", labels_object(t->discovered, t->ndiscovered),
                     "labels", labels_object(t->labels, t->nlabels),
                     "scrapePool", t->job,
                     "scrapeUrl", t->url,
                     "globalUrl", t->url,
                     "lastError", t->last_error,
                     "lastScrape", last,
                     "lastScrapeDuration", t->last_duration_s,
                     "health", t->health,
                     "scrapeInterval", interval,
                     "scrapeTimeout", timeout);
}

static void add_target(const struct scrape_target_info *t, void *arg)
{
    struct targets_ctx *c = arg;
    json_t *o = NULL;
    if (t->dropped && c->show_dropped)
        o = json_pack("{s:o?}", "discoveredLabels",
                      labels_object(t->discovered, t->ndiscovered));
    else if (!t->dropped && c->show_active)
        o = active_object(t);
    else
        return;
    if (!o || json_array_append_new(t->dropped ? c->dropped : c->active, o))
        c->nomem = 1;
}

/* The value of state= in the query string, lowercased, "" when absent. */
static void query_state(const char *query, char *out, size_t size)
{
    out[0] = '\0';
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 6 && strncmp(p, "state=", 6) == 0) {
            size_t k = 0;
            for (size_t i = 6; i < n && k + 1 < size; i++)
                out[k++] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
            out[k] = '\0';
        }
        p = amp ? amp + 1 : NULL;
    }
}

int scrape_targets_json(const struct scrape_manager *m, const char *query, struct http_buf *out)
{
    char state[16];
    query_state(query, state, sizeof state);
    int any = !state[0] || strcmp(state, "any") == 0;
    struct targets_ctx c = {json_array(), json_array(), any || strcmp(state, "active") == 0,
                            any || strcmp(state, "dropped") == 0, 0};
    if (m && c.active && c.dropped)
        scrape_manager_foreach(m, add_target, &c);
    json_t *doc = json_pack("{s:s,s:{s:o?,s:o?}}", "status", "success", "data", "activeTargets",
                            c.active, "droppedTargets", c.dropped);
    char *text = doc && !c.nomem ? json_dumps(doc, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(doc);
    int rc = text ? http_buf_append(out, text, strlen(text)) : -ENOMEM;
    free(text);
    return rc;
}
