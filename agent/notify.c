/* notify.c — the notifier (see notify.h and the design notes in
 * notify_int.h): routing alerts through the tree, Alertmanager's
 * aggregation groups and dedup decision, the outbox on start and reload,
 * the one timer, self-metrics. */
#include "notify_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "log.h"
#include "timefmt.h"

#define STATE_RETENTION_MS (5 * 86400000ll) /* Alertmanager's nflog keeps 120h */

/* A compiled route: matchers ready, the receiver's integrations found. */
struct rnode {
    const struct notify_route *cfg;
    char *key;                      /* Alertmanager's route key: {}/{a="b"}/... */
    struct tsdb_matcher *m;
    size_t nm;
    struct rnode *kids;
    size_t nkids;
};

/* An aggregation group: the alerts of one route with the same values of
 * its group_by labels. */
struct agroup {
    char *key;                      /* route key ":" group labels */
    uint64_t key_hash;
    const struct rnode *route;
    json_t *labels;                 /* the group_by labels */
    struct nalert *alerts;
    size_t n, cap;
    struct u64map alert_index;      /* fingerprint -> index in alerts */
    int64_t next_flush_ms;
};

int64_t notify__now(void)
{
    return timefmt_now_ms();
}

void notify__alert_free(struct nalert *a)
{
    json_decref(a->labels);
    json_decref(a->annotations);
    free(a->generator_url);
}

int notify__alert_resolved(const struct nalert *a, int64_t now_ms)
{
    return a->resolved || (a->ends_at_ms && a->ends_at_ms <= now_ms);
}

/* ---- routes ---------------------------------------------------------------- */

static void free_rnode(struct rnode *r)
{
    for (size_t i = 0; i < r->nm; i++)
        tsdb_matcher_free(&r->m[i]);
    free(r->m);
    for (size_t i = 0; i < r->nkids; i++)
        free_rnode(&r->kids[i]);
    free(r->kids);
    free(r->key);
}

/* Alertmanager's route key: the parent's key "/" this route's matchers. */
static int compile_route(struct rnode *r, const struct notify_route *cfg, const char *parent)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    size_t cap = strlen(parent ? parent : "") + 4;
    for (size_t i = 0; i < cfg->nmatchers; i++)
        cap += strlen(cfg->matchers[i].name) + 2 * strlen(cfg->matchers[i].value) + 8;
    if (!(r->key = malloc(cap)) ||
        (cfg->nmatchers && !(r->m = calloc(cfg->nmatchers, sizeof *r->m))) ||
        (cfg->nroutes && !(r->kids = calloc(cfg->nroutes, sizeof *r->kids))))
        return -ENOMEM;
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    size_t len = (size_t)snprintf(r->key, cap, "%s%s{", parent ? parent : "", parent ? "/" : "");
    for (size_t i = 0; i < cfg->nmatchers; i++) {
        const struct notify_matcher *m = &cfg->matchers[i];
        char err[128];
        len += (size_t)snprintf(r->key + len, cap - len, "%s%s%s\"%s\"", i ? "," : "", m->name,
                                ops[m->type], m->value);
        if (tsdb_matcher_init(&r->m[i], m->type, m->name, m->value, err, sizeof err) != 0)
            return -EINVAL; /* checked at parse time */
        r->nm++;
    }
    snprintf(r->key + len, cap - len, "}");
    for (size_t i = 0; i < cfg->nroutes; i++, r->nkids++)
        if (compile_route(&r->kids[i], &cfg->routes[i], r->key) != 0)
            return -ENOMEM;
    return 0;
}

static int route_matches(const struct rnode *r, const json_t *labels)
{
    for (size_t i = 0; i < r->nm; i++) {
        const char *v = json_string_value(json_object_get(labels, r->m[i].name));
        if (!tsdb_matcher_matches(&r->m[i], v ? v : ""))
            return 0;
    }
    return 1;
}

/* Alertmanager's Route.Match: the deepest matching routes, first match
 * wins among siblings unless it has continue. Appends to out (cap 64). */
static int route_match(const struct rnode *r, const json_t *labels, const struct rnode **out,
                       size_t *n)
{
    if (!route_matches(r, labels))
        return 0;
    size_t before = *n;
    for (size_t i = 0; i < r->nkids; i++)
        if (route_match(&r->kids[i], labels, out, n) && !r->kids[i].cfg->continue_matching)
            break;
    if (*n == before && *n < 64)
        out[(*n)++] = r;
    return 1;
}

/* ---- groups ---------------------------------------------------------------- */

static void group_free(struct agroup *g)
{
    for (size_t i = 0; i < g->n; i++)
        notify__alert_free(&g->alerts[i]);
    free(g->alerts);
    u64map_free(&g->alert_index);
    json_decref(g->labels);
    free(g->key);
    free(g);
}

static json_t *group_labels(const struct rnode *r, const json_t *labels)
{
    if (r->cfg->group_by_all)
        return json_deep_copy(labels);
    json_t *g = json_object();
    for (size_t i = 0; g && i < r->cfg->ngroup_by; i++) {
        json_t *v = json_object_get(labels, r->cfg->group_by[i]);
        if (v)
            json_object_set(g, r->cfg->group_by[i], v);
    }
    return g;
}

static struct agroup *group_for(struct notifier *n, const struct rnode *r,
                                const json_t *labels, int64_t now_ms)
{
    json_t *gl = group_labels(r, labels);
    char *gls = gl ? json_dumps(gl, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *key = NULL;
    if (!gls || asprintf(&key, "%s:%s", r->key, gls) < 0)
        key = NULL;
    free(gls);
    uint64_t h = key ? u64map_hash_str(key) : 0;
    size_t pos = 0, i;
    while (key && u64map_next(&n->group_index, h, &pos, &i))
        if (strcmp(n->groups[i]->key, key) == 0) {
            free(key);
            json_decref(gl);
            return n->groups[i];
        }
    struct agroup *g = key ? calloc(1, sizeof *g) : NULL;
    struct agroup **gs = g ? realloc(n->groups, (n->ngroups + 1) * sizeof *gs) : NULL;
    if (gs)
        n->groups = gs;
    if (!gs || u64map_put(&n->group_index, h, n->ngroups) != 0) {
        free(g);
        free(key);
        json_decref(gl);
        return NULL;
    }
    g->key = key;
    g->key_hash = h;
    g->route = r;
    g->labels = gl;
    g->next_flush_ms = now_ms + r->cfg->group_wait_ms;
    n->groups[n->ngroups++] = g;
    return g;
}

/* Frees group i, moving the last group into its place. */
static void group_remove(struct notifier *n, size_t i)
{
    size_t last = n->ngroups - 1;
    u64map_del(&n->group_index, n->groups[i]->key_hash, i);
    group_free(n->groups[i]);
    if (i != last) {
        u64map_del(&n->group_index, n->groups[last]->key_hash, last);
        u64map_put(&n->group_index, n->groups[last]->key_hash, i); /* a slot was freed */
        n->groups[i] = n->groups[last];
    }
    n->ngroups--;
}

/* Adds a (copied) alert to g, replacing the one with its fingerprint. */
static int group_add(struct agroup *g, const struct nalert *a)
{
    size_t pos = 0, i = g->n, j;
    while (i == g->n && u64map_next(&g->alert_index, a->fp, &pos, &j))
        if (g->alerts[j].fp == a->fp)
            i = j;
    if (i == g->n) {
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 4;
            struct nalert *p = realloc(g->alerts, cap * sizeof *p);
            if (!p)
                return -ENOMEM;
            g->alerts = p;
            g->cap = cap;
        }
        if (u64map_put(&g->alert_index, a->fp, i) != 0)
            return -ENOMEM;
        g->n++;
    } else {
        notify__alert_free(&g->alerts[i]);
    }
    struct nalert *d = &g->alerts[i];
    *d = *a;
    json_incref(d->labels);
    json_incref(d->annotations);
    d->generator_url = a->generator_url ? strdup(a->generator_url) : NULL;
    return 0;
}

static void route_alert(struct notifier *n, const struct nalert *a, int64_t now_ms)
{
    const struct rnode *matched[64];
    size_t nm = 0;
    if (!n->routes)
        return;
    route_match(n->routes, a->labels, matched, &nm);
    for (size_t i = 0; i < nm; i++) {
        struct agroup *g = group_for(n, matched[i], a->labels, now_ms);
        if (!g || group_add(g, a) != 0)
            vlog(VLOG_ERROR, "notify: out of memory: alert not grouped", NULL);
    }
}

/* ---- the dedup decision and the flush -------------------------------------- */

/* The notification log entry of (group, integration), keyed by the
 * integration and a hash of the group key: when it last
 * notified and the fingerprints of the firing and resolved alerts then.
 * Stored in the outbox as i64 ts, u32 nfiring, u32 nresolved, u64 fps. */
struct nflog {
    int64_t ts_ms;
    uint32_t nfiring, nresolved;
    const uint64_t *fps;
};

static int nflog_get(const struct notifier *n, const char *key, struct nflog *e)
{
    size_t len;
    const unsigned char *v = outbox_get_state(n->ob, key, &len);
    if (!v || len < 16)
        return 0;
    memcpy(&e->ts_ms, v, 8);
    memcpy(&e->nfiring, v + 8, 4);
    memcpy(&e->nresolved, v + 12, 4);
    if (len != 16 + 8 * ((size_t)e->nfiring + e->nresolved))
        return 0;
    e->fps = (const uint64_t *)(v + 16);
    return 1;
}

static int contains(const uint64_t *v, size_t n, uint64_t fp)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == fp)
            return 1;
    return 0;
}

/* 1 if every fp of set is in v. */
static int subset(const uint64_t *set, size_t nset, const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < nset; i++)
        if (!contains(v, n, set[i]))
            return 0;
    return 1;
}

/* Alertmanager's DedupStage.needsUpdate. */
static int needs_update(const struct nflog *e, int have, const uint64_t *firing, size_t nf,
                        const uint64_t *resolved, size_t nr, int send_resolved,
                        int64_t repeat_ms, int64_t now_ms)
{
    if (!have)
        return nf > 0;
    if (!subset(firing, nf, e->fps, e->nfiring))
        return 1;
    if (nf == 0)
        return e->nfiring > 0;
    if (send_resolved && !subset(resolved, nr, e->fps + e->nfiring, e->nresolved))
        return 1;
    return e->ts_ms <= now_ms - repeat_ms;
}

/* Enqueues g's notification for it (if the dedup decision says so). */
static void flush_integration(struct notifier *n, struct agroup *g, struct integration *it,
                              const uint64_t *fps, size_t nf, size_t nr, int64_t now_ms)
{
    char *key;
    struct nflog e;
    if (asprintf(&key, "%s\x1f%016llx", it->dest, (unsigned long long)g->key_hash) < 0)
        return;
    int have = nflog_get(n, key, &e);
    if (!needs_update(&e, have, fps, nf, fps + nf, nr, it->send_resolved,
                      g->route->cfg->repeat_interval_ms, now_ms)) {
        free(key);
        return;
    }
    size_t slen = 16 + 8 * (nf + nr);
    unsigned char *state = malloc(slen);
    const struct nalert **sel = calloc(g->n + 1, sizeof *sel);
    size_t ns = 0;
    for (size_t i = 0; sel && i < g->n; i++)
        if (it->send_resolved || !notify__alert_resolved(&g->alerts[i], now_ms))
            sel[ns++] = &g->alerts[i];
    if (!state || !sel) {
        free(state);
        free(sel);
        free(key);
        return;
    }
    uint32_t u[2] = {(uint32_t)nf, (uint32_t)nr};
    memcpy(state, &now_ms, 8);
    memcpy(state + 8, u, 8);
    memcpy(state + 16, fps, 8 * (nf + nr));
    if (!ns) { /* only resolved alerts, not sent here: remember them */
        outbox_set_state(n->ob, key, state, slen, now_ms);
    } else {
        struct payload_args pa = {it->receiver, g->key, n->external_url, g->labels,
                                  sel, ns, it->webhook ? it->webhook->max_alerts : 0, now_ms};
        size_t len;
        char *payload = notify__webhook_payload(&pa, &len);
        uint64_t id;
        int rc = payload ? outbox_enqueue(n->ob, it->dest, payload, len, now_ms, key, state,
                                          slen, &id) : -ENOMEM;
        if (!rc)
            rc = notify__integration_push(it, id, payload, len, now_ms);
        if (rc)
            vlog(VLOG_ERROR, "notify: cannot queue a notification", "dest=%s group=%s err=%s",
                 it->dest, g->key, strerror(-rc));
        free(payload);
    }
    free(state);
    free(sel);
    free(key);
}

/* Alertmanager's aggregation group flush. @return 1 if g is now empty. */
static int flush_group(struct notifier *n, struct agroup *g, int64_t now_ms)
{
    uint64_t *fps = malloc((g->n + 1) * sizeof *fps);
    if (!fps)
        return 0;
    size_t nf = 0, nr = 0;
    for (size_t i = 0; i < g->n; i++)
        if (!notify__alert_resolved(&g->alerts[i], now_ms))
            fps[nf++] = g->alerts[i].fp;
    for (size_t i = 0; i < g->n; i++)
        if (notify__alert_resolved(&g->alerts[i], now_ms))
            fps[nf + nr++] = g->alerts[i].fp;
    for (size_t i = 0; i < n->nits; i++)
        if (strcmp(n->its[i]->receiver, g->route->cfg->receiver) == 0)
            flush_integration(n, g, n->its[i], fps, nf, nr, now_ms);
    free(fps);
    /* Resolved alerts were notified: they leave the group. The index is
     * rebuilt in place: it held more entries before, so puts cannot fail. */
    size_t k = 0;
    u64map_clear(&g->alert_index);
    for (size_t i = 0; i < g->n; i++)
        if (notify__alert_resolved(&g->alerts[i], now_ms)) {
            notify__alert_free(&g->alerts[i]);
        } else {
            u64map_put(&g->alert_index, g->alerts[i].fp, k);
            g->alerts[k++] = g->alerts[i];
        }
    g->n = k;
    g->next_flush_ms = now_ms + g->route->cfg->group_interval_ms;
    return k == 0;
}

/* ---- the timer ------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct notifier *n = t->data;
    int64_t now = notify__now();
    for (size_t i = 0; i < n->ngroups;)
        if (n->groups[i]->next_flush_ms <= now && flush_group(n, n->groups[i], now))
            group_remove(n, i);
        else
            i++;
    for (size_t i = 0; i < n->nits; i++)
        notify__integration_run(n->its[i], now);
    notify__schedule(n);
}

void notify__schedule(struct notifier *n)
{
    if (n->closing)
        return;
    int64_t next = INT64_MAX, now = notify__now();
    for (size_t i = 0; i < n->ngroups; i++)
        if (n->groups[i]->next_flush_ms < next)
            next = n->groups[i]->next_flush_ms;
    for (size_t i = 0; i < n->nits; i++) {
        const struct integration *it = n->its[i];
        if (it->nq && !it->busy && it->next_ms < next)
            next = it->next_ms;
    }
    if (next == INT64_MAX) {
        uv_timer_stop(&n->timer);
        return;
    }
    uv_timer_start(&n->timer, on_tick, next > now ? (uint64_t)(next - now) : 0, 0);
}

/* ---- integrations and the outbox ------------------------------------------- */

static struct integration *find_integration(struct notifier *n, const char *dest)
{
    for (size_t i = 0; i < n->nits; i++)
        if (strcmp(n->its[i]->dest, dest) == 0)
            return n->its[i];
    return NULL;
}

/* Makes n->its match n->cfg's receivers, keeping the queues of the
 * integrations that still exist and dropping the others' notifications.
 * On ENOMEM n->its is left as it was. */
static int sync_integrations(struct notifier *n)
{
    size_t total = 0;
    for (size_t i = 0; i < n->cfg.nreceivers; i++)
        total += n->cfg.receivers[i].nwebhooks + n->cfg.receivers[i].nexecs;
    struct integration **its = calloc(total + 1, sizeof *its);
    unsigned char *fresh = calloc(total + 1, 1);
    size_t k = 0;
    int rc = its && fresh ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n->cfg.nreceivers; i++) {
        const struct notify_receiver *r = &n->cfg.receivers[i];
        for (int kind = 0; !rc && kind < 2; kind++) {
            size_t cnt = kind == INTEGRATION_WEBHOOK ? r->nwebhooks : r->nexecs;
            for (size_t j = 0; !rc && j < cnt; j++) {
                struct integration *it = notify__integration_new(n, r->name, kind, j);
                struct integration *old = it ? find_integration(n, it->dest) : NULL;
                if (old) {
                    notify__integration_free(it);
                    it = old;
                }
                if (!it)
                    rc = -ENOMEM;
                else
                    fresh[k] = !old, its[k++] = it;
            }
        }
    }
    if (rc) {
        while (k--)
            if (fresh[k])
                notify__integration_free(its[k]);
        free(its);
        free(fresh);
        return rc;
    }
    /* Bind the kept and new ones; drop what is not kept. */
    size_t at = 0;
    for (size_t i = 0; i < n->cfg.nreceivers; i++) {
        const struct notify_receiver *r = &n->cfg.receivers[i];
        for (size_t j = 0; j < r->nwebhooks; j++)
            notify__integration_bind(its[at++], r, j);
        for (size_t j = 0; j < r->nexecs; j++)
            notify__integration_bind(its[at++], r, j);
    }
    int64_t now = notify__now();
    for (size_t i = 0; i < n->nits; i++) {
        struct integration *it = n->its[i];
        size_t x = 0;
        while (x < k && its[x] != it)
            x++;
        if (x < k)
            continue;
        for (size_t j = 0; j < it->nq; j++) {
            outbox_done(n->ob, it->q[j].id, now);
            n->dropped_unknown++;
        }
        notify__integration_free(it);
    }
    free(fresh);
    free(n->its);
    n->its = its;
    n->nits = k;
    return 0;
}

/* Queues what the outbox still holds; entries of receivers that are gone
 * are dropped. */
static int load_outbox(struct notifier *n)
{
    size_t np;
    const struct outbox_entry *e = outbox_pending(n->ob, &np);
    uint64_t *orphans = calloc(np + 1, sizeof *orphans);
    size_t no = 0;
    if (!orphans)
        return -ENOMEM;
    for (size_t i = 0; i < np; i++) {
        struct integration *it = find_integration(n, e[i].dest);
        if (!it)
            orphans[no++] = e[i].id;
        else if (notify__integration_push(it, e[i].id, e[i].payload, e[i].len,
                                          e[i].enqueued_ms) != 0) {
            free(orphans);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < no; i++) {
        vlog(VLOG_WARN, "notify: dropping a pending notification of a receiver that no longer "
             "exists", "id=%llu", (unsigned long long)orphans[i]);
        outbox_done(n->ob, orphans[i], notify__now());
        n->dropped_unknown++;
    }
    free(orphans);
    return 0;
}

/* ---- the public API -------------------------------------------------------- */

static int build_routes(struct notifier *n)
{
    if (!n->cfg.route.receiver)
        return 0;
    if (!(n->routes = calloc(1, sizeof *n->routes)))
        return -ENOMEM;
    return compile_route(n->routes, &n->cfg.route, NULL);
}

static void free_routes(struct notifier *n)
{
    if (n->routes)
        free_rnode(n->routes);
    free(n->routes);
    n->routes = NULL;
}

int notifier_new(uv_loop_t *loop, struct httpc *hc, const struct notify_config *cfg,
                 const char *data_dir, const char *external_url, struct notifier **out)
{
    struct notifier *n = calloc(1, sizeof *n);
    char *dir = NULL;
    struct outbox_report rep;
    if (!n)
        return -ENOMEM;
    n->loop = loop;
    n->hc = hc;
    signal(SIGPIPE, SIG_IGN); /* see notify.h */
    notify_config_default(&n->cfg);
    int rc = notify_config_copy(&n->cfg, cfg);
    if (!rc && !(n->external_url = strdup(external_url ? external_url : "")))
        rc = -ENOMEM;
    if (!rc && asprintf(&dir, "%s/notify", data_dir) < 0) {
        dir = NULL;
        rc = -ENOMEM;
    }
    if (!rc)
        rc = outbox_open(dir, STATE_RETENTION_MS, &n->ob, &rep);
    if (rc == 0 && rep.torn_bytes)
        vlog(VLOG_WARN, "notify: outbox had a torn tail, cut off", "dir=%s bytes=%llu", dir,
             (unsigned long long)rep.torn_bytes);
    if (!rc)
        rc = build_routes(n);
    if (!rc)
        rc = notify__am_new(n, &n->cfg, &n->am);
    if (!rc)
        rc = sync_integrations(n);
    if (!rc)
        rc = load_outbox(n);
    if (rc) {
        vlog(VLOG_ERROR, "notify: cannot start the notifier", "dir=%s err=%s", dir,
             strerror(-rc));
        free(dir);
        for (size_t i = 0; i < n->nits; i++)
            notify__integration_free(n->its[i]);
        free(n->its);
        notify__am_free(n->am);
        free_routes(n);
        outbox_close(n->ob);
        notify_config_free(&n->cfg);
        free(n->external_url);
        free(n);
        return rc;
    }
    if (rep.pending)
        vlog(VLOG_INFO, "notify: retrying notifications from the outbox", "dir=%s pending=%llu",
             dir, (unsigned long long)rep.pending);
    free(dir);
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    n->open_handles = 1;
    *out = n;
    notify__schedule(n);
    return 0;
}

/* Converts one notification from the rules into the notifier's form. */
static int import_alert(const struct alert_notification *a, struct nalert *d)
{
    memset(d, 0, sizeof *d);
    d->labels = json_object();
    d->annotations = json_object();
    for (size_t i = 0; d->labels && i < a->labels->len; i++)
        json_object_set_new(d->labels, a->labels->v[i].name,
                            json_string(a->labels->v[i].value));
    for (size_t i = 0; d->annotations && a->annotations && i < a->annotations->len; i++)
        json_object_set_new(d->annotations, a->annotations->v[i].name,
                            json_string(a->annotations->v[i].value));
    d->starts_at_ms = a->starts_at_ms;
    d->ends_at_ms = a->ends_at_ms;
    d->resolved = a->resolved;
    d->generator_url = a->generator_url ? strdup(a->generator_url) : NULL;
    if (!d->labels || !d->annotations || (a->generator_url && !d->generator_url)) {
        notify__alert_free(d);
        return -ENOMEM;
    }
    d->fp = notify__fingerprint(d->labels);
    return 0;
}

void notifier_send(struct notifier *n, const struct alert_notification *a, size_t count,
                   int64_t now_ms)
{
    struct nalert *v = calloc(count + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < count; i++)
        if (import_alert(&a[i], &v[k]) == 0)
            k++;
    if (k < count)
        vlog(VLOG_ERROR, "notify: out of memory: alerts lost", "count=%zu", count - k);
    notify__am_push(n->am, v, k);
    for (size_t i = 0; i < k; i++)
        route_alert(n, &v[i], now_ms);
    for (size_t i = 0; i < k; i++)
        notify__alert_free(&v[i]);
    free(v);
    notify__schedule(n);
}

int notifier_reload(struct notifier *n, const struct notify_config *cfg)
{
    struct notify_config next;
    if (notify_config_copy(&next, cfg) != 0)
        return -ENOMEM;
    /* Take the alerts out of the groups, swap, route them again: groups
     * restart their group_wait; the persisted dedup state prevents repeats. */
    struct agroup **old = n->groups;
    size_t nold = n->ngroups;
    n->groups = NULL;
    n->ngroups = 0;
    u64map_clear(&n->group_index);
    struct notify_config prev = n->cfg;
    struct rnode *prev_routes = n->routes;
    n->cfg = next;
    n->routes = NULL;
    int rc = build_routes(n);
    if (!rc)
        rc = sync_integrations(n);
    if (!rc)
        rc = notify__am_reload(n->am, &n->cfg);
    if (rc) {
        free_routes(n);
        notify_config_free(&n->cfg);
        n->cfg = prev;
        n->routes = prev_routes;
        n->groups = old;
        n->ngroups = nold;
        for (size_t i = 0; i < nold; i++)
            u64map_put(&n->group_index, old[i]->key_hash, i); /* fits: cleared */
        sync_integrations(n);
        notify__am_reload(n->am, &n->cfg);
        return rc;
    }
    int64_t now = notify__now();
    for (size_t i = 0; i < nold; i++) {
        for (size_t j = 0; j < old[i]->n; j++)
            route_alert(n, &old[i]->alerts[j], now);
        group_free(old[i]);
    }
    free(old);
    if (prev_routes)
        free_rnode(prev_routes);
    free(prev_routes);
    notify_config_free(&prev);
    notify__schedule(n);
    return 0;
}

void notifier_collect(struct notifier *n, struct selfmetrics *sm)
{
    static const char *const kinds[] = {"webhook", "exec"};
    uint64_t dropped = n->dropped_unknown;
    for (size_t i = 0; i < n->nits; i++) {
        const struct integration *it = n->its[i];
        const char *kind = kinds[it->kind];
        sm_set(sm, "vigil_notifications_total", SM_COUNTER,
               "Notifications delivered to a receiver's integration.", (double)it->sent,
               "receiver", it->receiver, "integration", kind, NULL);
        sm_set(sm, "vigil_notifications_failed_total", SM_COUNTER,
               "Delivery attempts that failed (each is retried).", (double)it->failed,
               "receiver", it->receiver, "integration", kind, NULL);
        sm_set(sm, "vigil_notification_latency_seconds_sum", SM_COUNTER,
               "Seconds from enqueueing to delivery, summed over deliveries.",
               it->latency_sum, "receiver", it->receiver, "integration", kind, NULL);
        sm_set(sm, "vigil_notification_latency_seconds_count", SM_COUNTER,
               "Deliveries counted in vigil_notification_latency_seconds_sum.",
               (double)it->latency_count, "receiver", it->receiver, "integration", kind, NULL);
        sm_set(sm, "vigil_notification_latency_seconds_last", SM_GAUGE,
               "Seconds from enqueueing to delivery of the last delivery.", it->latency_last,
               "receiver", it->receiver, "integration", kind, NULL);
        sm_set(sm, "vigil_notify_queue_length", SM_GAUGE,
               "Notifications in the outbox waiting for delivery.", (double)it->nq,
               "receiver", it->receiver, "integration", kind, NULL);
        dropped += it->dropped;
    }
    sm_set(sm, "vigil_notifications_dropped_total", SM_COUNTER,
           "Notifications given up: older than outbox.max_age, rejected (4xx), or receiver removed.",
           (double)dropped, NULL);
    sm_set(sm, "vigil_notify_groups", SM_GAUGE, "Aggregation groups with alerts.",
           (double)n->ngroups, NULL);
    notify__am_collect(n->am, sm);
}

void notify__handle_closed(struct notifier *n)
{
    if (--n->open_handles || !n->closing)
        return;
    void (*cb)(void *) = n->close_cb;
    void *arg = n->close_arg;
    notify__am_free(n->am);
    for (size_t i = 0; i < n->ngroups; i++)
        group_free(n->groups[i]);
    free(n->groups);
    u64map_free(&n->group_index);
    free_routes(n);
    outbox_close(n->ob);
    notify_config_free(&n->cfg);
    free(n->external_url);
    free(n);
    if (cb)
        cb(arg);
}

static void timer_closed(uv_handle_t *h)
{
    notify__handle_closed(h->data);
}

void notifier_close(struct notifier *n, void (*cb)(void *arg), void *arg)
{
    n->closing = 1;
    n->close_cb = cb;
    n->close_arg = arg;
    notify__am_stop(n->am); /* no httpc use after this returns */
    /* In-flight webhooks are cancelled and exec hooks killed; their
     * notifications stay in the outbox for the next start. */
    for (size_t i = 0; i < n->nits; i++)
        notify__integration_free(n->its[i]);
    free(n->its);
    n->its = NULL;
    n->nits = 0;
    uv_close((uv_handle_t *)&n->timer, timer_closed);
}
