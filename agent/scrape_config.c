/* scrape_config.c — the `global:` and `scrape_configs:` sections in
 * Prometheus' shape (see scrape_config.h): key tables per mapping, the
 * checks and defaults of Prometheus' config package, keys Prometheus has
 * and Vigil does not reported as such, and the deep copy / free. */
#include "scrape_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "config.h"
#include "timefmt.h"

/* ---- defaults, free, copy ------------------------------------------------ */

void scrape_config_default(struct scrape_config *c)
{
    memset(c, 0, sizeof *c);
    c->global.scrape_interval_ms = 60000;
    c->global.scrape_timeout_ms = 10000;
    c->global.evaluation_interval_ms = 60000;
}

static void free_labels(struct tsdb_label *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)v[i].name);
        free((char *)v[i].value);
    }
    free(v);
}

static void free_job(struct scrape_job *j)
{
    free(j->job_name);
    free(j->metrics_path);
    free(j->scheme);
    free_labels(j->params, j->nparams);
    free(j->basic_auth_username);
    free(j->basic_auth_password);
    free(j->basic_auth_password_file);
    free(j->bearer_token);
    free(j->bearer_token_file);
    free(j->tls.ca_file);
    free(j->tls.cert_file);
    free(j->tls.key_file);
    free(j->tls.server_name);
    for (size_t i = 0; i < j->nstatic; i++) {
        config__free_strings(j->static_configs[i].targets, j->static_configs[i].ntargets);
        free_labels(j->static_configs[i].labels, j->static_configs[i].nlabels);
    }
    free(j->static_configs);
    config__free_strings(j->file_sd_files, j->nfile_sd);
    relabel_rules_free(j->relabel, j->nrelabel);
    relabel_rules_free(j->metric_relabel, j->nmetric_relabel);
    memset(j, 0, sizeof *j);
}

static void free_jobs(struct scrape_config *c)
{
    for (size_t i = 0; i < c->njobs; i++)
        free_job(&c->jobs[i]);
    free(c->jobs);
    c->jobs = NULL;
    c->njobs = 0;
}

void scrape_config_free(struct scrape_config *c)
{
    free_jobs(c);
    free_labels(c->global.external_labels, c->global.nexternal_labels);
    scrape_config_default(c);
}

static int copy_labels(struct tsdb_label **dst, size_t *ndst, const struct tsdb_label *src,
                       size_t n)
{
    *dst = NULL;
    *ndst = 0;
    if (!n)
        return 0;
    if (!(*dst = calloc(n, sizeof **dst)))
        return -ENOMEM;
    for (; *ndst < n; ++*ndst) {
        char *name = strdup(src[*ndst].name), *value = strdup(src[*ndst].value);
        (*dst)[*ndst] = (struct tsdb_label){name, value};
        if (!name || !value) {
            ++*ndst;
            return -ENOMEM;
        }
    }
    return 0;
}

static int copy_rules(struct relabel_rule **dst, size_t *ndst, const struct relabel_rule *src,
                      size_t n)
{
    *dst = NULL;
    *ndst = 0;
    if (!n)
        return 0;
    if (!(*dst = calloc(n, sizeof **dst)))
        return -ENOMEM;
    for (; *ndst < n; ++*ndst)
        if (relabel_rule_copy(&(*dst)[*ndst], &src[*ndst]) != 0)
            return -ENOMEM;
    return 0;
}

static int copy_job(struct scrape_job *d, const struct scrape_job *s)
{
    memcpy(d, s, sizeof *d);
    d->static_configs = NULL;
    d->nstatic = 0;
    int rc = config__copy_str(&d->job_name, s->job_name) | config__copy_str(&d->metrics_path, s->metrics_path) |
             config__copy_str(&d->scheme, s->scheme) |
             config__copy_str(&d->basic_auth_username, s->basic_auth_username) |
             config__copy_str(&d->basic_auth_password, s->basic_auth_password) |
             config__copy_str(&d->basic_auth_password_file, s->basic_auth_password_file) |
             config__copy_str(&d->bearer_token, s->bearer_token) |
             config__copy_str(&d->bearer_token_file, s->bearer_token_file) |
             config__copy_str(&d->tls.ca_file, s->tls.ca_file) |
             config__copy_str(&d->tls.cert_file, s->tls.cert_file) |
             config__copy_str(&d->tls.key_file, s->tls.key_file) |
             config__copy_str(&d->tls.server_name, s->tls.server_name);
    rc |= copy_labels(&d->params, &d->nparams, s->params, s->nparams);
    rc |= config__copy_strings(&d->file_sd_files, &d->nfile_sd, s->file_sd_files, s->nfile_sd);
    rc |= copy_rules(&d->relabel, &d->nrelabel, s->relabel, s->nrelabel);
    rc |= copy_rules(&d->metric_relabel, &d->nmetric_relabel, s->metric_relabel,
                     s->nmetric_relabel);
    if (!rc && s->nstatic) {
        d->static_configs = calloc(s->nstatic, sizeof *d->static_configs);
        rc = d->static_configs ? 0 : -ENOMEM;
        for (size_t i = 0; !rc && i < s->nstatic; i++, d->nstatic++) {
            struct scrape_static_group *g = &d->static_configs[i];
            const struct scrape_static_group *sg = &s->static_configs[i];
            rc = config__copy_strings(&g->targets, &g->ntargets, sg->targets, sg->ntargets) |
                 copy_labels(&g->labels, &g->nlabels, sg->labels, sg->nlabels);
        }
    }
    return rc ? -ENOMEM : 0;
}

int scrape_config_copy(struct scrape_config *dst, const struct scrape_config *src)
{
    scrape_config_default(dst);
    dst->global = src->global;
    int rc = copy_labels(&dst->global.external_labels, &dst->global.nexternal_labels,
                         src->global.external_labels, src->global.nexternal_labels);
    if (!rc && src->njobs) {
        dst->jobs = calloc(src->njobs, sizeof *dst->jobs);
        rc = dst->jobs ? 0 : -ENOMEM;
        for (size_t i = 0; !rc && i < src->njobs; i++, dst->njobs++)
            rc = copy_job(&dst->jobs[i], &src->jobs[i]);
    }
    if (rc)
        scrape_config_free(dst);
    return rc;
}

/* ---- key tables ---------------------------------------------------------- */

enum skind {
    S_STR,        /* char *, set once */
    S_RULESTR,    /* char * of a relabel rule: replaces the static default */
    S_DURATION,   /* int64_t ms > 0 */
    S_BOOL,       /* int */
    S_U64,        /* uint64_t */
    S_SIZE,       /* uint64_t bytes */
    S_SCHEME,     /* char *: http or https */
    S_ACTION,     /* enum relabel_action */
    S_AUTHTYPE,   /* authorization.type: Bearer only */
    S_STRLIST,    /* char ** at off, size_t count at off2 */
    S_LABELS,     /* struct tsdb_label * at off, count at off2: name -> value */
    S_PARAMS,     /* struct tsdb_label * at off, count at off2: name -> [values] */
    S_MAP,        /* sub-table on the same base */
    S_STATIC,     /* static_configs */
    S_FILE_SD,    /* file_sd_configs */
    S_RELABEL,    /* struct relabel_rule * at off, count at off2 */
};

struct skey {
    const char *name;            /* first: config__unknown_key reads it */
    enum skind kind;
    size_t off, off2;
    const struct skey *sub;      /* S_MAP */
    const char *const *unsupported; /* S_MAP: Prometheus keys Vigil lacks */
    const char *hint;
};

#define JOB(f) offsetof(struct scrape_job, f)
#define SEND {NULL, S_STR, 0, 0, NULL, NULL, NULL}
#define DUR_HINT "use Prometheus syntax like 15s, 1m"
#define LIMIT_HINT "a count; 0 for no limit"

static const char *const no_keys[] = {NULL};

static const char *const tls_unsupported[] = {"ca", "cert", "key", "min_version", "max_version",
                                              NULL};
static const struct skey tls_keys[] = {
    {"ca_file", S_STR, JOB(tls.ca_file), 0, NULL, NULL, "a file path"},
    {"cert_file", S_STR, JOB(tls.cert_file), 0, NULL, NULL, "a file path"},
    {"key_file", S_STR, JOB(tls.key_file), 0, NULL, NULL, "a file path"},
    {"server_name", S_STR, JOB(tls.server_name), 0, NULL, NULL, "a host name"},
    {"insecure_skip_verify", S_BOOL, JOB(tls.insecure_skip_verify), 0, NULL, NULL,
     "true or false"},
    SEND,
};

static const struct skey basic_auth_keys[] = {
    {"username", S_STR, JOB(basic_auth_username), 0, NULL, NULL, "a string"},
    {"password", S_STR, JOB(basic_auth_password), 0, NULL, NULL, "a string"},
    {"password_file", S_STR, JOB(basic_auth_password_file), 0, NULL, NULL, "a file path"},
    SEND,
};

static const struct skey authorization_keys[] = {
    {"type", S_AUTHTYPE, 0, 0, NULL, NULL, "Bearer"},
    {"credentials", S_STR, JOB(bearer_token), 0, NULL, NULL, "a string"},
    {"credentials_file", S_STR, JOB(bearer_token_file), 0, NULL, NULL, "a file path"},
    SEND,
};

#define RULE(f) offsetof(struct relabel_rule, f)
static const struct skey rule_keys[] = {
    {"source_labels", S_STRLIST, RULE(source_labels), RULE(nsource), NULL, NULL,
     "a list of label names"},
    {"separator", S_RULESTR, RULE(separator), 0, NULL, NULL, "a string"},
    {"target_label", S_RULESTR, RULE(target_label), 0, NULL, NULL, "a label name"},
    {"regex", S_RULESTR, RULE(regex), 0, NULL, NULL, "a regular expression"},
    {"modulus", S_U64, RULE(modulus), 0, NULL, NULL, "a positive integer"},
    {"replacement", S_RULESTR, RULE(replacement), 0, NULL, NULL, "a string"},
    {"action", S_ACTION, RULE(action), 0, NULL, NULL,
     "one of replace, keep, drop, hashmod, labelmap, labeldrop, labelkeep, lowercase, "
     "uppercase, keepequal, dropequal"},
    SEND,
};

#define GROUP(f) offsetof(struct scrape_static_group, f)
static const struct skey static_keys[] = {
    {"targets", S_STRLIST, GROUP(targets), GROUP(ntargets), NULL, NULL,
     "a list of HOST:PORT, like ['localhost:9100']"},
    {"labels", S_LABELS, GROUP(labels), GROUP(nlabels), NULL, NULL,
     "a mapping of label names to values"},
    SEND,
};

/* One file_sd_configs entry, merged into the job afterwards. */
struct file_sd_entry {
    char **files;
    size_t nfiles;
    int64_t refresh_ms;
};
static const struct skey file_sd_keys[] = {
    {"files", S_STRLIST, offsetof(struct file_sd_entry, files),
     offsetof(struct file_sd_entry, nfiles), NULL, NULL,
     "a list of file patterns ending in .json, .yml or .yaml"},
    {"refresh_interval", S_DURATION, offsetof(struct file_sd_entry, refresh_ms), 0, NULL, NULL,
     DUR_HINT},
    SEND,
};

static const char *const job_unsupported[] = {
    "azure_sd_configs", "consul_sd_configs", "digitalocean_sd_configs", "docker_sd_configs",
    "dockerswarm_sd_configs", "dns_sd_configs", "ec2_sd_configs", "eureka_sd_configs",
    "gce_sd_configs", "hetzner_sd_configs", "http_sd_configs", "ionos_sd_configs",
    "kubernetes_sd_configs", "kuma_sd_configs", "lightsail_sd_configs", "linode_sd_configs",
    "marathon_sd_configs", "nerve_sd_configs", "nomad_sd_configs", "openstack_sd_configs",
    "ovhcloud_sd_configs", "puppetdb_sd_configs", "scaleway_sd_configs",
    "serverset_sd_configs", "triton_sd_configs", "uyuni_sd_configs", "vultr_sd_configs",
    "oauth2", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
    "enable_http2", "http_headers", "scrape_protocols", "scrape_fallback_protocol",
    "target_limit", "keep_dropped_targets", "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor", "scrape_classic_histograms",
    "always_scrape_classic_histograms", "convert_classic_histograms_to_nhcb",
    "track_timestamps_staleness", "metric_name_validation_scheme",
    "metric_name_escaping_scheme", "scrape_failure_log_file", NULL,
};

static const struct skey job_keys[] = {
    {"job_name", S_STR, JOB(job_name), 0, NULL, NULL, "a name"},
    {"scrape_interval", S_DURATION, JOB(scrape_interval_ms), 0, NULL, NULL, DUR_HINT},
    {"scrape_timeout", S_DURATION, JOB(scrape_timeout_ms), 0, NULL, NULL, DUR_HINT},
    {"metrics_path", S_STR, JOB(metrics_path), 0, NULL, NULL, "a URL path like /metrics"},
    {"scheme", S_SCHEME, JOB(scheme), 0, NULL, NULL, "http or https"},
    {"params", S_PARAMS, JOB(params), JOB(nparams), NULL, NULL,
     "a mapping of parameter names to lists of values, like {module: [http_2xx]}"},
    {"honor_labels", S_BOOL, JOB(honor_labels), 0, NULL, NULL, "true or false"},
    {"honor_timestamps", S_BOOL, JOB(honor_timestamps), 0, NULL, NULL, "true or false"},
    {"follow_redirects", S_BOOL, JOB(follow_redirects), 0, NULL, NULL, "true or false"},
    {"enable_compression", S_BOOL, JOB(enable_compression), 0, NULL, NULL, "true or false"},
    {"basic_auth", S_MAP, 0, 0, basic_auth_keys, no_keys, "a mapping"},
    {"authorization", S_MAP, 0, 0, authorization_keys, no_keys, "a mapping"},
    {"bearer_token", S_STR, JOB(bearer_token), 0, NULL, NULL, "a string"},
    {"bearer_token_file", S_STR, JOB(bearer_token_file), 0, NULL, NULL, "a file path"},
    {"tls_config", S_MAP, 0, 0, tls_keys, tls_unsupported, "a mapping"},
    {"static_configs", S_STATIC, 0, 0, NULL, NULL, "a list of {targets: [...], labels: {...}}"},
    {"file_sd_configs", S_FILE_SD, 0, 0, NULL, NULL, "a list of {files: [...]}"},
    {"relabel_configs", S_RELABEL, JOB(relabel), JOB(nrelabel), NULL, NULL,
     "a list of relabel rules"},
    {"metric_relabel_configs", S_RELABEL, JOB(metric_relabel), JOB(nmetric_relabel), NULL, NULL,
     "a list of relabel rules"},
    {"sample_limit", S_U64, JOB(sample_limit), 0, NULL, NULL, LIMIT_HINT},
    {"label_limit", S_U64, JOB(label_limit), 0, NULL, NULL, LIMIT_HINT},
    {"label_name_length_limit", S_U64, JOB(label_name_length_limit), 0, NULL, NULL, LIMIT_HINT},
    {"label_value_length_limit", S_U64, JOB(label_value_length_limit), 0, NULL, NULL,
     LIMIT_HINT},
    {"body_size_limit", S_SIZE, JOB(body_size_limit), 0, NULL, NULL,
     "a size like 10MB; 0 for no limit"},
    SEND,
};

#define GLOBAL(f) offsetof(struct scrape_global, f)
static const char *const global_unsupported[] = {
    "query_log_file", "scrape_failure_log_file", "scrape_protocols", "rule_query_offset",
    "body_size_limit", "sample_limit", "label_limit", "label_name_length_limit",
    "label_value_length_limit", "target_limit", "keep_dropped_targets",
    "metric_name_validation_scheme", "metric_name_escaping_scheme",
    "always_scrape_classic_histograms", "convert_classic_histograms_to_nhcb", NULL,
};
static const struct skey global_keys[] = {
    {"scrape_interval", S_DURATION, GLOBAL(scrape_interval_ms), 0, NULL, NULL, DUR_HINT},
    {"scrape_timeout", S_DURATION, GLOBAL(scrape_timeout_ms), 0, NULL, NULL, DUR_HINT},
    {"evaluation_interval", S_DURATION, GLOBAL(evaluation_interval_ms), 0, NULL, NULL, DUR_HINT},
    {"external_labels", S_LABELS, GLOBAL(external_labels), GLOBAL(nexternal_labels), NULL, NULL,
     "a mapping of label names to values"},
    SEND,
};

/* ---- walking ------------------------------------------------------------- */

static void walk(struct config_walk *w, const yaml_node_t *n, const struct skey *keys,
                 const char *const *unsupported, void *base, const char *path);

static void set_strlist(struct config_walk *w, const yaml_node_t *n, const struct skey *k,
                        void *base, const char *path)
{
    char ***v = (char ***)((char *)base + k->off);
    size_t *len = (size_t *)((char *)base + k->off2);
    if (!config__sequence(w, n, path, k->hint))
        return;
    CONFIG_EACH_ITEM(n, it) {
        yaml_node_t *e = config__node(w, *it);
        const char *s = e ? config__scalar(w, e, path, k->hint) : NULL;
        char *d = s ? strdup(s) : NULL;
        char **slot = d ? config__push((void **)v, len, sizeof **v) : NULL;
        if (!slot) {
            free(d);
            if (s)
                config__error(w, e, "out of memory");
            return;
        }
        *slot = d;
    }
}

static int add_label(struct tsdb_label **v, size_t *len, const char *name, const char *value)
{
    char *n = strdup(name), *val = strdup(value);
    struct tsdb_label *slot = n && val ? config__push((void **)v, len, sizeof **v) : NULL;
    if (!slot) {
        free(n);
        free(val);
        return -ENOMEM;
    }
    *slot = (struct tsdb_label){n, val};
    return 0;
}

/* S_LABELS (name: value) and S_PARAMS (name: [value, ...]). */
static void set_labels(struct config_walk *w, const yaml_node_t *n, const struct skey *k,
                       void *base, const char *path)
{
    struct tsdb_label **v = (struct tsdb_label **)((char *)base + k->off);
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
        if (!name || !vn)
            continue;
        if (k->kind == S_LABELS && !tsdb_label_name_valid(name)) {
            config__error(w, kn, "\"%s\" is not a valid label name in %s", name, path);
            continue;
        }
        for (size_t i = 0; i < *len; i++)
            if (strcmp((*v)[i].name, name) == 0 && k->kind == S_LABELS) {
                config__error(w, kn, "duplicate label '%s' in %s", name, path);
                name = NULL;
                break;
            }
        if (!name)
            continue;
        if (k->kind == S_LABELS) {
            const char *val = config__scalar(w, vn, path, k->hint);
            if (val && !tsdb_utf8_valid(val, strlen(val)))
                config__error(w, vn, "\"%s\" is not a valid label value in %s", val, path);
            else if (val && add_label(v, len, name, val) != 0)
                config__error(w, vn, "out of memory");
            continue;
        }
        if (!config__sequence(w, vn, path, k->hint))
            continue;
        CONFIG_EACH_ITEM(vn, it) {
            yaml_node_t *e = config__node(w, *it);
            const char *val = e ? config__scalar(w, e, path, k->hint) : NULL;
            if (val && add_label(v, len, name, val) != 0)
                config__error(w, e, "out of memory");
        }
    }
}

static void set_static(struct config_walk *w, const yaml_node_t *n, const struct skey *k,
                       struct scrape_job *job, const char *path)
{
    if (!config__sequence(w, n, path, k->hint))
        return;
    CONFIG_EACH_ITEM(n, it) {
        yaml_node_t *e = config__node(w, *it);
        char sub[256];
        snprintf(sub, sizeof sub, "%.200s[%zu]", path, job->nstatic);
        struct scrape_static_group *g =
            e ? config__push((void **)&job->static_configs, &job->nstatic, sizeof *g) : NULL;
        if (!g)
            return;
        walk(w, e, static_keys, no_keys, g, sub);
        for (size_t i = 0; i < g->ntargets; i++)
            if (strchr(g->targets[i], '/'))
                config__error(w, e, "\"%s\" is not a valid hostname in %s.targets: write "
                              "HOST:PORT, and the path as metrics_path", g->targets[i], sub);
    }
}

/* Prometheus' file_sd pattern: ^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$ */
static int file_pattern_valid(const char *s)
{
    const char *star = strchr(s, '*'), *dot = strrchr(s, '.');
    if (star && (strchr(star + 1, '*') || strchr(star, '/')))
        return 0;
    static const char *const ext[] = {"json", "yml", "yaml", "JSON", "YML", "YAML"};
    for (size_t i = 0; dot && i < sizeof ext / sizeof ext[0]; i++)
        if (strcmp(dot + 1, ext[i]) == 0)
            return 1;
    return 0;
}

static void set_file_sd(struct config_walk *w, const yaml_node_t *n, const struct skey *k,
                        struct scrape_job *job, const char *path)
{
    if (!config__sequence(w, n, path, k->hint))
        return;
    size_t idx = 0;
    CONFIG_EACH_ITEM(n, it) {
        yaml_node_t *e = config__node(w, *it);
        struct file_sd_entry f = {NULL, 0, 300000};
        char sub[256];
        snprintf(sub, sizeof sub, "%.200s[%zu]", path, idx++);
        if (!e)
            continue;
        walk(w, e, file_sd_keys, no_keys, &f, sub);
        if (job->nfile_sd == 0 || f.refresh_ms < job->file_sd_refresh_ms)
            job->file_sd_refresh_ms = f.refresh_ms;
        for (size_t i = 0; i < f.nfiles; i++) {
            char **slot;
            if (!file_pattern_valid(f.files[i])) {
                config__error(w, e, "path name \"%s\" is not valid for file discovery in %s: "
                              "end it in .json, .yml or .yaml, with at most one '*' in the "
                              "file name", f.files[i], sub);
                free(f.files[i]);
            } else if (!(slot = config__push((void **)&job->file_sd_files, &job->nfile_sd,
                                             sizeof *slot))) {
                free(f.files[i]);
            } else {
                *slot = f.files[i];
            }
        }
        free(f.files);
    }
}

static void set_relabel(struct config_walk *w, const yaml_node_t *n, const struct skey *k,
                        void *base, const char *path)
{
    struct relabel_rule **v = (struct relabel_rule **)((char *)base + k->off);
    size_t *len = (size_t *)((char *)base + k->off2);
    if (!config__sequence(w, n, path, k->hint))
        return;
    CONFIG_EACH_ITEM(n, it) {
        yaml_node_t *e = config__node(w, *it);
        char sub[256], err[512];
        snprintf(sub, sizeof sub, "%.200s[%zu]", path, *len);
        struct relabel_rule *r = e ? config__push((void **)v, len, sizeof *r) : NULL;
        if (!r)
            return;
        relabel_rule_default(r);
        unsigned before = w->errs->count;
        walk(w, e, rule_keys, no_keys, r, sub);
        if (w->errs->count == before && relabel_rule_prepare(r, err, sizeof err) != 0)
            config__error(w, e, "%s: %s", sub, err);
    }
}

/* Checks and stores a single value. */
static void set_scalar(struct config_walk *w, const yaml_node_t *n, const struct skey *k,
                       void *base, const char *path)
{
    char *field = (char *)base + k->off;
    const char *s = config__scalar(w, n, path, k->hint);
    int64_t ms;
    if (!s)
        return;
    switch (k->kind) {
    case S_STR:
        if (*(char **)field)
            config__error(w, n, "%s: at most one of authorization, bearer_token and "
                          "bearer_token_file may be set", path);
        else if (!(*(char **)field = strdup(s)))
            config__error(w, n, "out of memory");
        break;
    case S_RULESTR:
        if (!(*(char **)field = strdup(s)))
            config__error(w, n, "out of memory");
        break;
    case S_SCHEME:
        if (strcmp(s, "http") != 0 && strcmp(s, "https") != 0)
            config__error(w, n, "bad scheme '%s' for %s: use http or https", s, path);
        else if (!(*(char **)field = strdup(s)))
            config__error(w, n, "out of memory");
        break;
    case S_DURATION:
        if (timefmt_parse_duration(s, strlen(s), &ms) != 0 || ms <= 0)
            config__error(w, n, "bad duration '%s' for %s: %s", s, path, k->hint);
        else
            *(int64_t *)field = ms;
        break;
    case S_BOOL:
        config__set_bool(w, n, s, path, (int *)field);
        break;
    case S_U64:
        config__set_u64(w, n, s, path, k->hint, (uint64_t *)field);
        break;
    case S_SIZE:
        if (config_parse_size(s, (uint64_t *)field) != 0)
            config__error(w, n, "bad size '%s' for %s: %s", s, path, k->hint);
        break;
    case S_ACTION:
        if (*s == '\0')
            config__error(w, n, "relabel action cannot be empty in %s: %s", path, k->hint);
        else if (relabel_action_parse(s, (enum relabel_action *)field) != 0)
            config__error(w, n, "unknown relabel action '%s' for %s: %s", s, path, k->hint);
        break;
    case S_AUTHTYPE:
        if (strcasecmp(s, "basic") == 0)
            config__error(w, n, "authorization type cannot be set to \"basic\", use "
                          "\"basic_auth\" instead");
        else if (strcasecmp(s, "bearer") != 0)
            config__error(w, n, "authorization type '%s' is not supported by Vigil: only "
                          "Bearer", s);
        break;
    case S_STRLIST: case S_LABELS: case S_PARAMS: case S_MAP: case S_STATIC: case S_FILE_SD:
    case S_RELABEL:
        break; /* not scalars: see set() */
    }
}

static void set(struct config_walk *w, const yaml_node_t *n, const void *key, void *base,
                const char *path)
{
    const struct skey *k = key;
    switch (k->kind) {
    case S_STRLIST:
        set_strlist(w, n, k, base, path);
        break;
    case S_LABELS: case S_PARAMS:
        set_labels(w, n, k, base, path);
        break;
    case S_MAP:
        walk(w, n, k->sub, k->unsupported, base, path);
        break;
    case S_STATIC:
        set_static(w, n, k, base, path);
        break;
    case S_FILE_SD:
        set_file_sd(w, n, k, base, path);
        break;
    case S_RELABEL:
        set_relabel(w, n, k, base, path);
        break;
    case S_STR: case S_RULESTR: case S_DURATION: case S_BOOL: case S_U64: case S_SIZE:
    case S_SCHEME: case S_ACTION: case S_AUTHTYPE:
        set_scalar(w, n, k, base, path);
        break;
    }
}

/* Walks the mapping n against keys, storing into base; path names it. */
static void walk(struct config_walk *w, const yaml_node_t *n, const struct skey *keys,
                 const char *const *unsupported, void *base, const char *path)
{
    config__walk(w, n, keys, sizeof *keys, unsupported, set, base, path);
}

/* ---- sections ------------------------------------------------------------ */

struct rule_list {
    struct relabel_rule *v;
    size_t n;
};

void scrape_config__parse_relabel(struct config_walk *w, const yaml_node_t *n,
                                  struct relabel_rule **rules, size_t *nrules,
                                  const char *path)
{
    static const struct skey k = {"relabel_configs", S_RELABEL, offsetof(struct rule_list, v),
                                  offsetof(struct rule_list, n), NULL, NULL,
                                  "a list of relabel rules"};
    struct rule_list l = {*rules, *nrules};
    set_relabel(w, n, &k, &l, path);
    *rules = l.v;
    *nrules = l.n;
}

void scrape_config__parse_global(struct config_walk *w, struct scrape_config *sc,
                                 const yaml_node_t *n)
{
    struct scrape_global *g = &sc->global;
    free_labels(g->external_labels, g->nexternal_labels);
    memset(g, 0, sizeof *g);
    walk(w, n, global_keys, global_unsupported, g, "global");
    /* Prometheus' GlobalConfig defaults and check. */
    if (!g->scrape_interval_ms)
        g->scrape_interval_ms = 60000;
    if (!g->evaluation_interval_ms)
        g->evaluation_interval_ms = 60000;
    if (g->scrape_timeout_ms > g->scrape_interval_ms)
        config__error(w, n, "global scrape timeout greater than scrape interval");
    if (!g->scrape_timeout_ms)
        g->scrape_timeout_ms = g->scrape_interval_ms < 10000 ? g->scrape_interval_ms : 10000;
}

static void finish_job(struct config_walk *w, const struct scrape_config *sc,
                       struct scrape_job *j, const yaml_node_t *n, size_t idx)
{
    const struct scrape_global *g = &sc->global;
    if (!j->job_name || !*j->job_name) {
        config__error(w, n, "scrape_configs[%zu]: job_name is required", idx);
        return;
    }
    for (size_t i = 0; i < idx; i++)
        if (sc->jobs[i].job_name && strcmp(sc->jobs[i].job_name, j->job_name) == 0)
            config__error(w, n, "found multiple scrape configs with job name \"%s\"",
                          j->job_name);
    if (!j->scrape_interval_ms)
        j->scrape_interval_ms = g->scrape_interval_ms;
    if (j->scrape_timeout_ms > j->scrape_interval_ms)
        config__error(w, n, "scrape timeout greater than scrape interval for scrape config "
                      "with job name \"%s\"", j->job_name);
    if (!j->scrape_timeout_ms)
        j->scrape_timeout_ms = g->scrape_timeout_ms > j->scrape_interval_ms
                                   ? j->scrape_interval_ms : g->scrape_timeout_ms;
    if (j->basic_auth_password && j->basic_auth_password_file)
        config__error(w, n, "at most one of basic_auth password & password_file must be "
                      "configured (job \"%s\")", j->job_name);
    if (j->bearer_token && j->bearer_token_file)
        config__error(w, n, "at most one of bearer_token & bearer_token_file (or authorization "
                      "credentials & credentials_file) must be configured (job \"%s\")",
                      j->job_name);
    if ((j->basic_auth_username || j->basic_auth_password || j->basic_auth_password_file) &&
        (j->bearer_token || j->bearer_token_file))
        config__error(w, n, "at most one of basic_auth, authorization and bearer_token must be "
                      "configured (job \"%s\")", j->job_name);
    if ((!j->metrics_path && !(j->metrics_path = strdup("/metrics"))) ||
        (!j->scheme && !(j->scheme = strdup("http"))))
        config__error(w, n, "out of memory");
}

void scrape_config__parse_jobs(struct config_walk *w, struct scrape_config *sc,
                               const yaml_node_t *n)
{
    free_jobs(sc);
    if (!config__sequence(w, n, "scrape_configs", "a list of scrape configs, each with a job_name"))
        return;
    CONFIG_EACH_ITEM(n, it) {
        yaml_node_t *e = config__node(w, *it);
        char path[64];
        snprintf(path, sizeof path, "scrape_configs[%zu]", sc->njobs);
        struct scrape_job *j = e ? config__push((void **)&sc->jobs, &sc->njobs, sizeof *j) : NULL;
        if (!j)
            return;
        j->honor_timestamps = j->follow_redirects = j->enable_compression = 1;
        j->file_sd_refresh_ms = 300000;
        walk(w, e, job_keys, job_unsupported, j, path);
        finish_job(w, sc, j, e, sc->njobs - 1);
    }
}
