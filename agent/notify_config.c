/* notify_config.c — the `alerting:` and `notifiers:` sections (see
 * notify_config.h): key tables per mapping, Prometheus' and Alertmanager's
 * checks and defaults (route inheritance included), Alertmanager's matcher
 * syntax, and the deep copy / free. */
#include "notify_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config.h"
#include "scrape_config.h"
#include "strlit.h"
#include "timefmt.h"

#define UNSET (-1)  /* a route duration not written: inherited */

/* ---- free and copy --------------------------------------------------------- */

static void free_route(struct notify_route *r)
{
    free(r->receiver);
    config__free_strings(r->group_by, r->ngroup_by);
    for (size_t i = 0; i < r->nmatchers; i++) {
        free(r->matchers[i].name);
        free(r->matchers[i].value);
    }
    free(r->matchers);
    for (size_t i = 0; i < r->nroutes; i++)
        free_route(&r->routes[i]);
    free(r->routes);
    memset(r, 0, sizeof *r);
}

static void free_alertmanagers(struct notify_config *c)
{
    relabel_rules_free(c->alert_relabel, c->nalert_relabel);
    c->alert_relabel = NULL;
    c->nalert_relabel = 0;
    for (size_t i = 0; i < c->nalertmanagers; i++) {
        struct notify_alertmanager *a = &c->alertmanagers[i];
        config__free_strings(a->targets, a->ntargets);
        free(a->scheme);
        free(a->path_prefix);
        free(a->username);
        free(a->password);
        free(a->ca_file);
    }
    free(c->alertmanagers);
    c->alertmanagers = NULL;
    c->nalertmanagers = 0;
}

static void free_notifiers(struct notify_config *c)
{
    for (size_t i = 0; i < c->nreceivers; i++) {
        struct notify_receiver *r = &c->receivers[i];
        free(r->name);
        for (size_t j = 0; j < r->nwebhooks; j++)
            free(r->webhooks[j].url);
        free(r->webhooks);
        for (size_t j = 0; j < r->nexecs; j++) {
            config__free_strings(r->execs[j].argv, r->execs[j].argc);
            config__free_strings(r->execs[j].env, r->execs[j].nenv);
        }
        free(r->execs);
    }
    free(c->receivers);
    c->receivers = NULL;
    c->nreceivers = 0;
    free_route(&c->route);
    c->min_backoff_ms = 1000;
    c->max_backoff_ms = 300000;
    c->max_age_ms = 86400000;
}

void notify_config_default(struct notify_config *c)
{
    memset(c, 0, sizeof *c);
    c->min_backoff_ms = 1000;
    c->max_backoff_ms = 300000;
    c->max_age_ms = 86400000;
}

void notify_config_free(struct notify_config *c)
{
    free_alertmanagers(c);
    free_notifiers(c);
    notify_config_default(c);
}

/* Allocates n zeroed elements into *dst (NULL for 0). */
static int alloc_array(void **dst, size_t n, size_t size)
{
    *dst = n ? calloc(n, size) : NULL;
    return n && !*dst;
}

static int copy_route(struct notify_route *d, const struct notify_route *s)
{
    *d = *s;
    d->receiver = NULL;
    d->group_by = NULL;
    d->ngroup_by = d->nmatchers = d->nroutes = 0;
    d->matchers = NULL;
    d->routes = NULL;
    int rc = config__copy_str(&d->receiver, s->receiver) |
             config__copy_strings(&d->group_by, &d->ngroup_by, s->group_by, s->ngroup_by) |
             alloc_array((void **)&d->matchers, s->nmatchers, sizeof *d->matchers) |
             alloc_array((void **)&d->routes, s->nroutes, sizeof *d->routes);
    for (size_t i = 0; !rc && i < s->nmatchers; i++, d->nmatchers++) {
        d->matchers[i].type = s->matchers[i].type;
        rc = config__copy_str(&d->matchers[i].name, s->matchers[i].name) |
             config__copy_str(&d->matchers[i].value, s->matchers[i].value);
    }
    for (size_t i = 0; !rc && i < s->nroutes; i++, d->nroutes++)
        rc = copy_route(&d->routes[i], &s->routes[i]);
    return rc;
}

static int copy_receiver(struct notify_receiver *d, const struct notify_receiver *s)
{
    memset(d, 0, sizeof *d);
    int rc = config__copy_str(&d->name, s->name) |
             alloc_array((void **)&d->webhooks, s->nwebhooks, sizeof *d->webhooks) |
             alloc_array((void **)&d->execs, s->nexecs, sizeof *d->execs);
    for (size_t i = 0; !rc && i < s->nwebhooks; i++, d->nwebhooks++) {
        d->webhooks[i] = s->webhooks[i];
        rc = config__copy_str(&d->webhooks[i].url, s->webhooks[i].url);
    }
    for (size_t i = 0; !rc && i < s->nexecs; i++, d->nexecs++) {
        const struct notify_exec *se = &s->execs[i];
        struct notify_exec *de = &d->execs[i];
        *de = *se;
        rc = config__copy_strings(&de->argv, &de->argc, se->argv, se->argc) |
             config__copy_strings(&de->env, &de->nenv, se->env, se->nenv);
    }
    return rc;
}

int notify_config_copy(struct notify_config *dst, const struct notify_config *src)
{
    notify_config_default(dst);
    dst->min_backoff_ms = src->min_backoff_ms;
    dst->max_backoff_ms = src->max_backoff_ms;
    dst->max_age_ms = src->max_age_ms;
    int rc = alloc_array((void **)&dst->alertmanagers, src->nalertmanagers,
                         sizeof *dst->alertmanagers) |
             alloc_array((void **)&dst->receivers, src->nreceivers, sizeof *dst->receivers) |
             alloc_array((void **)&dst->alert_relabel, src->nalert_relabel,
                         sizeof *dst->alert_relabel);
    for (size_t i = 0; !rc && i < src->nalert_relabel; i++, dst->nalert_relabel++)
        rc = relabel_rule_copy(&dst->alert_relabel[i], &src->alert_relabel[i]) != 0;
    for (size_t i = 0; !rc && i < src->nalertmanagers; i++, dst->nalertmanagers++) {
        const struct notify_alertmanager *s = &src->alertmanagers[i];
        struct notify_alertmanager *d = &dst->alertmanagers[i];
        *d = *s;
        d->targets = NULL;
        d->scheme = d->path_prefix = d->username = d->password = d->ca_file = NULL;
        rc = config__copy_strings(&d->targets, &d->ntargets, s->targets, s->ntargets) |
             config__copy_str(&d->scheme, s->scheme) | config__copy_str(&d->path_prefix, s->path_prefix) |
             config__copy_str(&d->username, s->username) | config__copy_str(&d->password, s->password) |
             config__copy_str(&d->ca_file, s->ca_file);
    }
    for (size_t i = 0; !rc && i < src->nreceivers; i++, dst->nreceivers++)
        rc = copy_receiver(&dst->receivers[i], &src->receivers[i]);
    if (!rc)
        rc = copy_route(&dst->route, &src->route);
    if (rc) {
        notify_config_free(dst);
        return -ENOMEM;
    }
    return 0;
}

/* ---- matchers -------------------------------------------------------------- */

int notify_matcher_parse(const char *s, struct notify_matcher *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    while (isspace((unsigned char)*s))
        s++;
    const char *name = s;
    while (isalnum((unsigned char)*s) || *s == '_')
        s++;
    size_t nlen = (size_t)(s - name);
    if (!nlen || isdigit((unsigned char)*name)) {
        snprintf(err, errlen, "expected a label name at the start of matcher '%s'", name);
        return -EINVAL;
    }
    while (isspace((unsigned char)*s))
        s++;
    static const struct { const char *op; enum tsdb_match_type t; } ops[] = {
        {"=~", TSDB_MATCH_RE}, {"!~", TSDB_MATCH_NRE}, {"!=", TSDB_MATCH_NE},
        {"=", TSDB_MATCH_EQ},
    };
    size_t o = 0;
    while (o < 4 && strncmp(s, ops[o].op, strlen(ops[o].op)) != 0)
        o++;
    if (o == 4) {
        snprintf(err, errlen, "expected one of =, !=, =~, !~ after '%.*s' in matcher '%s'",
                 (int)nlen, name, name);
        return -EINVAL;
    }
    s += strlen(ops[o].op);
    while (isspace((unsigned char)*s))
        s++;
    char *value = NULL;
    if (*s == '"') {
        size_t used, vlen;
        struct strlit_error se;
        int rc = strlit_unquote(s, &used, &value, &vlen, &se);
        if (rc == -ENOMEM)
            return rc;
        const char *rest = s + (rc ? 0 : used);
        while (!rc && isspace((unsigned char)*rest))
            rest++;
        if (rc || *rest || strlen(value) != vlen) {
            if (rc)
                snprintf(err, errlen, "bad quoted value in matcher '%s': expected %s", name,
                         se.expected);
            else
                snprintf(err, errlen, "unexpected text after the quoted value in matcher "
                         "'%s'", name);
            free(value);
            return -EINVAL;
        }
    } else {
        size_t vlen = strlen(s);
        while (vlen && isspace((unsigned char)s[vlen - 1]))
            vlen--;
        if (memchr(s, '"', vlen)) {
            snprintf(err, errlen, "unquoted value in matcher '%s' contains '\"': quote the "
                     "whole value", name);
            return -EINVAL;
        }
        value = strndup(s, vlen);
    }
    out->type = ops[o].t;
    out->name = strndup(name, nlen);
    out->value = value;
    if (!out->name || !value) {
        free(out->name);
        free(value);
        return -ENOMEM;
    }
    if (out->type == TSDB_MATCH_RE || out->type == TSDB_MATCH_NRE) {
        struct tsdb_matcher m;
        char re_err[128];
        if (tsdb_matcher_init(&m, out->type, out->name, out->value, re_err, sizeof re_err)) {
            snprintf(err, errlen, "bad regular expression in matcher '%s': %s", name, re_err);
            free(out->name);
            free(out->value);
            return -EINVAL;
        }
        tsdb_matcher_free(&m);
    }
    return 0;
}

/* ---- key tables ------------------------------------------------------------ */

enum nkind {
    N_STR,        /* char * */
    N_URL,        /* char *: http:// or https:// */
    N_SCHEME,     /* char *: http or https */
    N_API,        /* api_version: v2 only */
    N_DURATION,   /* int64_t ms > 0 */
    N_DURATION0,  /* int64_t ms >= 0 */
    N_BOOL,       /* int */
    N_U64,        /* uint64_t */
    N_STRLIST,    /* char ** at off, count at off2, appended */
    N_ARGV,       /* N_STRLIST that must not be empty */
    N_GROUP_BY,   /* route group_by */
    N_ENV,        /* mapping -> "NAME=value" char ** at off, count at off2 */
    N_MATCHERS,   /* struct notify_matcher * at off, count at off2 */
    N_MAP,        /* sub-table on base + off */
    N_LIST,       /* list of mappings, see struct nlist */
    N_RELABEL,    /* struct relabel_rule * at off, count at off2 */
};

struct nlist;
struct nkey {
    const char *name;            /* first: config__unknown_key reads it */
    enum nkind kind;
    size_t off, off2;
    const struct nlist *sub;     /* N_MAP, N_LIST */
    const char *hint;
};

/* A mapping's keys. N_LIST: elements of size bytes appended to the array
 * at off (count at off2), each set up by init and walked with keys; size 0
 * walks every element on the parent itself (static_configs into its
 * targets). N_MAP: init (if any) runs on base + off before the walk. */
struct nlist {
    const struct nkey *keys;
    const char *const *unsupported;
    size_t size;
    void (*init)(void *elem);
    /* Checks a walked element (required keys, defaults); may be NULL. */
    void (*check)(struct config_walk *w, const yaml_node_t *n, void *elem, const char *path);
};

#define NEND {NULL, N_STR, 0, 0, NULL, NULL}
#define DUR_HINT "use Prometheus syntax like 30s, 5m, 4h"
#define BOOL_HINT "true or false"

static const char *const no_keys[] = {NULL};

#define AM(f) offsetof(struct notify_alertmanager, f)
static const struct nkey static_keys[] = {
    {"targets", N_STRLIST, AM(targets), AM(ntargets), NULL,
     "a list of HOST:PORT, like ['localhost:9093']"},
    NEND,
};
static const char *const static_unsupported[] = {"labels", NULL};
static const struct nlist static_list = {static_keys, static_unsupported, 0, NULL, NULL};

static const struct nkey am_basic_auth_keys[] = {
    {"username", N_STR, AM(username), 0, NULL, "a string"},
    {"password", N_STR, AM(password), 0, NULL, "a string"},
    NEND,
};
static const struct nkey am_tls_keys[] = {
    {"ca_file", N_STR, AM(ca_file), 0, NULL, "a file path"},
    {"insecure_skip_verify", N_BOOL, AM(insecure_skip_verify), 0, NULL, BOOL_HINT},
    NEND,
};
static const struct nlist am_basic_auth = {am_basic_auth_keys, no_keys, 0, NULL, NULL};
static const char *const am_tls_unsupported[] = {"ca", "cert", "key", "cert_file", "key_file",
                                                 "server_name", "min_version", "max_version",
                                                 NULL};
static const struct nlist am_tls = {am_tls_keys, am_tls_unsupported, 0, NULL, NULL};
static const struct nkey am_keys[] = {
    {"static_configs", N_LIST, 0, 0, &static_list, "a list of {targets: [HOST:PORT, ...]}"},
    {"scheme", N_SCHEME, AM(scheme), 0, NULL, "http or https"},
    {"path_prefix", N_STR, AM(path_prefix), 0, NULL, "a URL path like /alertmanager"},
    {"timeout", N_DURATION, AM(timeout_ms), 0, NULL, DUR_HINT},
    {"api_version", N_API, 0, 0, NULL, "v2"},
    {"basic_auth", N_MAP, 0, 0, &am_basic_auth, "a mapping of username and password"},
    {"tls_config", N_MAP, 0, 0, &am_tls, "a mapping of ca_file, insecure_skip_verify"},
    NEND,
};
static const char *const am_unsupported[] = {
    "relabel_configs", "alert_relabel_configs", "file_sd_configs", "dns_sd_configs",
    "consul_sd_configs", "kubernetes_sd_configs", "http_sd_configs", "ec2_sd_configs",
    "authorization", "bearer_token", "bearer_token_file", "oauth2", "sigv4", "proxy_url",
    "no_proxy", "proxy_from_environment", "proxy_connect_header", "follow_redirects",
    "enable_http2", "http_headers", NULL,
};
static void am_init(void *e)
{
    ((struct notify_alertmanager *)e)->timeout_ms = 10000;
}
static void am_check(struct config_walk *w, const yaml_node_t *n, void *e, const char *path)
{
    struct notify_alertmanager *a = e;
    if ((!a->scheme && !(a->scheme = strdup("http"))) ||
        (!a->path_prefix && !(a->path_prefix = strdup("/"))))
        config__error(w, n, "out of memory");
    for (size_t i = 0; i < a->ntargets; i++)
        if (strchr(a->targets[i], '/') || !strchr(a->targets[i], ':'))
            config__error(w, n, "\"%s\" is not a valid target in %s.static_configs: write "
                          "HOST:PORT, and any path as path_prefix", a->targets[i], path);
}
static const struct nlist am_list = {am_keys, am_unsupported, sizeof(struct notify_alertmanager),
                                     am_init, am_check};

#define AL(f) offsetof(struct notify_config, f)
static const struct nkey alerting_keys[] = {
    {"alert_relabel_configs", N_RELABEL, AL(alert_relabel), AL(nalert_relabel), NULL,
     "a list of relabel rules"},
    {"alertmanagers", N_LIST, AL(alertmanagers), AL(nalertmanagers), &am_list,
     "a list of {static_configs: [{targets: [HOST:PORT]}]}"},
    NEND,
};

#define WH(f) offsetof(struct notify_webhook, f)
static const struct nkey webhook_keys[] = {
    {"url", N_URL, WH(url), 0, NULL, "an http:// or https:// URL"},
    {"send_resolved", N_BOOL, WH(send_resolved), 0, NULL, BOOL_HINT},
    {"max_alerts", N_U64, WH(max_alerts), 0, NULL, "a count; 0 for all"},
    {"timeout", N_DURATION, WH(timeout_ms), 0, NULL, DUR_HINT},
    NEND,
};
static const char *const webhook_unsupported[] = {"url_file", "http_config", NULL};
static void webhook_init(void *e)
{
    struct notify_webhook *w = e;
    w->send_resolved = 1;
    w->timeout_ms = 10000;
}
static void webhook_check(struct config_walk *w, const yaml_node_t *n, void *e,
                          const char *path)
{
    if (!((struct notify_webhook *)e)->url)
        config__error(w, n, "%s: url is required", path);
}
static const struct nlist webhook_list = {webhook_keys, webhook_unsupported,
                                          sizeof(struct notify_webhook), webhook_init,
                                          webhook_check};

#define EX(f) offsetof(struct notify_exec, f)
static const struct nkey exec_keys[] = {
    {"command", N_ARGV, EX(argv), EX(argc), NULL,
     "a list: the program, then its arguments, like [/usr/local/bin/page, --team, ops]"},
    {"send_resolved", N_BOOL, EX(send_resolved), 0, NULL, BOOL_HINT},
    {"timeout", N_DURATION, EX(timeout_ms), 0, NULL, DUR_HINT},
    {"env", N_ENV, EX(env), EX(nenv), NULL, "a mapping of variable names to values"},
    NEND,
};
static void exec_init(void *e)
{
    struct notify_exec *x = e;
    x->send_resolved = 1;
    x->timeout_ms = 10000;
}
static void exec_check(struct config_walk *w, const yaml_node_t *n, void *e, const char *path)
{
    if (!((struct notify_exec *)e)->argc)
        config__error(w, n, "%s: command is required: %s", path, exec_keys[0].hint);
}
static const struct nlist exec_list = {exec_keys, no_keys, sizeof(struct notify_exec),
                                       exec_init, exec_check};

#define RC(f) offsetof(struct notify_receiver, f)
static const struct nkey receiver_keys[] = {
    {"name", N_STR, RC(name), 0, NULL, "a name"},
    {"webhook_configs", N_LIST, RC(webhooks), RC(nwebhooks), &webhook_list,
     "a list of {url: ...}"},
    {"exec_configs", N_LIST, RC(execs), RC(nexecs), &exec_list, "a list of {command: [...]}"},
    NEND,
};
static const char *const receiver_unsupported[] = {
    "email_configs", "msteams_configs", "msteamsv2_configs", "opsgenie_configs",
    "pagerduty_configs", "pushover_configs", "slack_configs", "sns_configs",
    "telegram_configs", "victorops_configs", "webex_configs", "wechat_configs",
    "discord_configs", "jira_configs", "rocketchat_configs", NULL,
};
static void receiver_check(struct config_walk *w, const yaml_node_t *n, void *e,
                           const char *path)
{
    if (!((struct notify_receiver *)e)->name)
        config__error(w, n, "%s: name is required", path);
}
static const struct nlist receiver_list = {receiver_keys, receiver_unsupported,
                                           sizeof(struct notify_receiver), NULL, receiver_check};

#define RT(f) offsetof(struct notify_route, f)
static const struct nlist route_list;
static const struct nkey route_keys[] = {
    {"receiver", N_STR, RT(receiver), 0, NULL, "a receiver name"},
    {"group_by", N_GROUP_BY, RT(group_by), RT(ngroup_by), NULL,
     "a list of label names, or ['...'] for all labels"},
    {"group_wait", N_DURATION0, RT(group_wait_ms), 0, NULL, DUR_HINT},
    {"group_interval", N_DURATION, RT(group_interval_ms), 0, NULL, DUR_HINT},
    {"repeat_interval", N_DURATION, RT(repeat_interval_ms), 0, NULL, DUR_HINT},
    {"matchers", N_MATCHERS, RT(matchers), RT(nmatchers), NULL,
     "a list of matchers like 'severity=\"page\"'"},
    {"continue", N_BOOL, RT(continue_matching), 0, NULL, BOOL_HINT},
    {"routes", N_LIST, RT(routes), RT(nroutes), &route_list, "a list of routes"},
    NEND,
};
static const char *const route_unsupported[] = {
    "match", "match_re", "mute_time_intervals", "active_time_intervals", NULL,
};
static void route_init(void *e)
{
    struct notify_route *r = e;
    r->group_wait_ms = r->group_interval_ms = r->repeat_interval_ms = UNSET;
}
static const struct nlist route_list = {route_keys, route_unsupported,
                                        sizeof(struct notify_route), route_init, NULL};

#define NC(f) offsetof(struct notify_config, f)
static const struct nkey outbox_keys[] = {
    {"min_backoff", N_DURATION, NC(min_backoff_ms), 0, NULL, DUR_HINT},
    {"max_backoff", N_DURATION, NC(max_backoff_ms), 0, NULL, DUR_HINT},
    {"max_age", N_DURATION, NC(max_age_ms), 0, NULL, DUR_HINT},
    NEND,
};
static const struct nlist outbox_map = {outbox_keys, no_keys, 0, NULL, NULL};
static const struct nkey notifiers_keys[] = {
    {"receivers", N_LIST, NC(receivers), NC(nreceivers), &receiver_list,
     "a list of {name: ..., webhook_configs: [...], exec_configs: [...]}"},
    {"route", N_MAP, NC(route), 0, &route_list, "a mapping with at least a receiver"},
    {"outbox", N_MAP, 0, 0, &outbox_map, "a mapping of min_backoff, max_backoff, max_age"},
    NEND,
};
static const char *const notifiers_unsupported[] = {
    "global", "templates", "inhibit_rules", "time_intervals", "mute_time_intervals", NULL,
};

/* ---- walking --------------------------------------------------------------- */

static void walk(struct config_walk *w, const yaml_node_t *n, const struct nlist *l, void *base,
                 const char *path);

static void add_string(struct config_walk *w, const yaml_node_t *at, char ***v, size_t *len,
                       const char *s)
{
    char *d = strdup(s);
    char **slot = d ? config__push((void **)v, len, sizeof **v) : NULL;
    if (!slot) {
        free(d);
        config__error(w, at, "out of memory");
        return;
    }
    *slot = d;
}

static void set_strlist(struct config_walk *w, const yaml_node_t *n, const struct nkey *k,
                        void *base, const char *path)
{
    char ***v = (char ***)((char *)base + k->off);
    size_t *len = (size_t *)((char *)base + k->off2);
    if (!config__sequence(w, n, path, k->hint))
        return;
    CONFIG_EACH_ITEM(n, it) {
        yaml_node_t *e = config__node(w, *it);
        const char *s = e ? config__scalar(w, e, path, k->hint) : NULL;
        if (!s)
            continue;
        if (k->kind == N_GROUP_BY && strcmp(s, "...") == 0)
            ((struct notify_route *)base)->group_by_all = 1;
        else if (k->kind == N_GROUP_BY && !tsdb_label_name_valid(s))
            config__error(w, e, "\"%s\" is not a valid label name in %s", s, path);
        else
            add_string(w, e, v, len, s);
    }
    if (k->kind == N_ARGV && (!*len || !**v || !***v))
        config__error(w, n, "%s must not be empty: %s", path, k->hint);
    if (k->kind == N_GROUP_BY) {
        struct notify_route *r = base;
        r->has_group_by = 1;
        if (r->group_by_all && r->ngroup_by)
            config__error(w, n, "%s: '...' groups by all labels and cannot be combined with "
                          "label names", path);
    }
}

static void set_env(struct config_walk *w, const yaml_node_t *n, const struct nkey *k,
                    void *base, const char *path)
{
    char ***v = (char ***)((char *)base + k->off);
    size_t *len = (size_t *)((char *)base + k->off2);
    if (config__is_null(n))
        return;
    if (n->type != YAML_MAPPING_NODE) {
        config__error(w, n, "%s must be a mapping: %s", path, k->hint);
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = config__node(w, p->key), *vn = config__node(w, p->value);
        const char *name = kn ? config__scalar(w, kn, path, k->hint) : NULL;
        const char *val = name && vn ? config__scalar(w, vn, path, k->hint) : NULL;
        if (!val)
            continue;
        if (!*name || strchr(name, '=')) {
            config__error(w, kn, "\"%s\" is not a valid environment variable name in %s",
                          name, path);
            continue;
        }
        size_t sz = strlen(name) + strlen(val) + 2;
        char *kv = malloc(sz);
        char **slot = kv ? config__push((void **)v, len, sizeof **v) : NULL;
        if (!slot) {
            free(kv);
            config__error(w, vn, "out of memory");
            continue;
        }
        snprintf(kv, sz, "%s=%s", name, val);
        *slot = kv;
    }
}

static void set_matchers(struct config_walk *w, const yaml_node_t *n, const struct nkey *k,
                         void *base, const char *path)
{
    struct notify_matcher **v = (struct notify_matcher **)((char *)base + k->off);
    size_t *len = (size_t *)((char *)base + k->off2);
    if (!config__sequence(w, n, path, k->hint))
        return;
    CONFIG_EACH_ITEM(n, it) {
        yaml_node_t *e = config__node(w, *it);
        const char *s = e ? config__scalar(w, e, path, k->hint) : NULL;
        struct notify_matcher m, *slot;
        char err[300];
        if (!s)
            continue;
        int rc = notify_matcher_parse(s, &m, err, sizeof err);
        if (rc == -EINVAL)
            config__error(w, e, "%s: %s", path, err);
        else if (rc || !(slot = config__push((void **)v, len, sizeof **v))) {
            if (!rc) {
                free(m.name);
                free(m.value);
            }
            config__error(w, e, "out of memory");
        } else {
            *slot = m;
        }
    }
}

static void set_list(struct config_walk *w, const yaml_node_t *n, const struct nkey *k,
                     void *base, const char *path)
{
    const struct nlist *l = k->sub;
    if (!config__sequence(w, n, path, k->hint))
        return;
    size_t idx = 0;
    CONFIG_EACH_ITEM(n, it) {
        yaml_node_t *e = config__node(w, *it);
        char sub[256];
        snprintf(sub, sizeof sub, "%.200s[%zu]", path, idx++);
        if (!e)
            continue;
        void *elem = base;
        if (l->size) {
            elem = config__push((void **)((char *)base + k->off), (size_t *)((char *)base + k->off2),
                        l->size);
            if (!elem) {
                config__error(w, e, "out of memory");
                return;
            }
        }
        if (l->init)
            l->init(elem);
        walk(w, e, l, elem, sub);
        if (l->check)
            l->check(w, e, elem, sub);
    }
}

static void set_string(struct config_walk *w, const yaml_node_t *n, char **field,
                       const char *s)
{
    free(*field);
    if (!(*field = strdup(s)))
        config__error(w, n, "out of memory");
}

static void set_scalar(struct config_walk *w, const yaml_node_t *n, const struct nkey *k,
                       void *base, const char *path)
{
    char *field = (char *)base + k->off;
    const char *s = config__scalar(w, n, path, k->hint);
    int64_t ms;
    if (!s)
        return;
    switch (k->kind) {
    case N_STR:
        set_string(w, n, (char **)field, s);
        break;
    case N_URL:
        if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
            config__error(w, n, "bad URL '%s' for %s: %s", s, path, k->hint);
        else
            set_string(w, n, (char **)field, s);
        break;
    case N_SCHEME:
        if (strcmp(s, "http") != 0 && strcmp(s, "https") != 0)
            config__error(w, n, "bad scheme '%s' for %s: use http or https", s, path);
        else
            set_string(w, n, (char **)field, s);
        break;
    case N_API:
        if (strcmp(s, "v2") != 0)
            config__error(w, n, "api_version '%s' is not supported by %s: only v2 (Alertmanager "
                          "0.16 and later)", s, path);
        break;
    case N_DURATION: case N_DURATION0:
        if (timefmt_parse_duration(s, strlen(s), &ms) != 0 || ms < 0 ||
            (ms == 0 && k->kind == N_DURATION))
            config__error(w, n, "bad duration '%s' for %s: %s%s", s, path, k->hint,
                          k->kind == N_DURATION ? ", greater than 0" : "");
        else
            *(int64_t *)field = ms;
        break;
    case N_BOOL:
        config__set_bool(w, n, s, path, (int *)field);
        break;
    case N_U64:
        config__set_u64(w, n, s, path, k->hint, (uint64_t *)field);
        break;
    case N_STRLIST: case N_ARGV: case N_GROUP_BY: case N_ENV: case N_MATCHERS: case N_MAP:
    case N_LIST: case N_RELABEL:
        break; /* not scalars: see set() */
    }
}

static void set(struct config_walk *w, const yaml_node_t *n, const void *key, void *base,
                const char *path)
{
    const struct nkey *k = key;
    switch (k->kind) {
    case N_STRLIST: case N_ARGV: case N_GROUP_BY:
        set_strlist(w, n, k, base, path);
        break;
    case N_ENV:
        set_env(w, n, k, base, path);
        break;
    case N_MATCHERS:
        set_matchers(w, n, k, base, path);
        break;
    case N_MAP:
        if (k->sub->init)
            k->sub->init((char *)base + k->off);
        walk(w, n, k->sub, (char *)base + k->off, path);
        break;
    case N_LIST:
        set_list(w, n, k, base, path);
        break;
    case N_RELABEL:
        scrape_config__parse_relabel(w, n, (struct relabel_rule **)((char *)base + k->off),
                                     (size_t *)((char *)base + k->off2), path);
        break;
    case N_STR: case N_URL: case N_SCHEME: case N_API: case N_DURATION: case N_DURATION0:
    case N_BOOL: case N_U64:
        set_scalar(w, n, k, base, path);
        break;
    }
}

/* Walks the mapping n against l's keys, storing into base; path names it. */
static void walk(struct config_walk *w, const yaml_node_t *n, const struct nlist *l, void *base,
                 const char *path)
{
    config__walk(w, n, l->keys, sizeof *l->keys, l->unsupported, set, base, path);
}

/* The value node of key in mapping n, or NULL. */
static const yaml_node_t *lookup(struct config_walk *w, const yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = config__node(w, p->key);
        if (kn && kn->type == YAML_SCALAR_NODE &&
            strcmp((const char *)kn->data.scalar.value, key) == 0)
            return config__node(w, p->value);
    }
    return NULL;
}

/* ---- sections -------------------------------------------------------------- */

void notify_config__parse_alerting(struct config_walk *w, struct notify_config *c,
                                   const yaml_node_t *n)
{
    static const struct nlist alerting = {alerting_keys, no_keys, 0, NULL, NULL};
    free_alertmanagers(c);
    walk(w, n, &alerting, c, "alerting");
}

static int receiver_known(const struct notify_config *c, const char *name)
{
    for (size_t i = 0; i < c->nreceivers; i++)
        if (c->receivers[i].name && strcmp(c->receivers[i].name, name) == 0)
            return 1;
    return 0;
}

/* Alertmanager's route checks and inheritance: r (at node n) takes what it
 * does not set from parent (NULL for the root, which takes the defaults). */
static void resolve_route(struct config_walk *w, const struct notify_config *c,
                          struct notify_route *r, const struct notify_route *parent,
                          const yaml_node_t *n, const char *path)
{
    if (!r->receiver && parent && parent->receiver)
        set_string(w, n, &r->receiver, parent->receiver);
    if (!r->receiver)
        config__error(w, n, "%s: the root route must have a receiver", path);
    else if (!receiver_known(c, r->receiver))
        config__error(w, n, "%s: undefined receiver \"%s\" used in route", path, r->receiver);
    if (r->group_wait_ms == UNSET)
        r->group_wait_ms = parent ? parent->group_wait_ms : 30000;
    if (r->group_interval_ms == UNSET)
        r->group_interval_ms = parent ? parent->group_interval_ms : 300000;
    if (r->repeat_interval_ms == UNSET)
        r->repeat_interval_ms = parent ? parent->repeat_interval_ms : 14400000;
    if (!r->has_group_by && parent) {
        r->group_by_all = parent->group_by_all;
        if (config__copy_strings(&r->group_by, &r->ngroup_by, parent->group_by, parent->ngroup_by))
            config__error(w, n, "out of memory");
    }
    if (!parent && r->nmatchers)
        config__error(w, n, "%s: the root route must not have any matchers", path);
    if (!parent && r->continue_matching)
        config__error(w, n, "%s: cannot have continue in the root route", path);
    const yaml_node_t *kids = lookup(w, n, "routes");
    size_t i = 0;
    if (kids)
        CONFIG_EACH_ITEM(kids, it) {
            char sub[256];
            if (i >= r->nroutes)
                break;
            snprintf(sub, sizeof sub, "%.200s.routes[%zu]", path, i);
            resolve_route(w, c, &r->routes[i++], r, config__node(w, *it), sub);
        }
}

void notify_config__parse_notifiers(struct config_walk *w, struct notify_config *c,
                                    const yaml_node_t *n)
{
    static const struct nlist notifiers = {notifiers_keys, notifiers_unsupported, 0, NULL, NULL};
    free_notifiers(c);
    route_init(&c->route);
    unsigned before = w->errs->count;
    walk(w, n, &notifiers, c, "notifiers");
    for (size_t i = 0; i < c->nreceivers; i++)
        for (size_t j = 0; j < i; j++)
            if (c->receivers[i].name && c->receivers[j].name &&
                strcmp(c->receivers[i].name, c->receivers[j].name) == 0)
                config__error(w, n, "notifiers.receivers: receiver \"%s\" is defined twice",
                              c->receivers[i].name);
    const yaml_node_t *rn = lookup(w, n, "route");
    if (w->errs->count != before)
        return;
    if (!rn && c->nreceivers)
        config__error(w, n, "notifiers: a route is required: route: {receiver: NAME}");
    else if (rn)
        resolve_route(w, c, &c->route, NULL, rn, "notifiers.route");
    if (c->min_backoff_ms > c->max_backoff_ms)
        config__error(w, n, "notifiers.outbox: min_backoff is greater than max_backoff");
}
