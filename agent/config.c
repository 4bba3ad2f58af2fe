/* config.c — the YAML configuration file (libyaml's document API), its
 * defaults and the flags over it (see config.h). Keys are described by
 * tables, one per section; a value is checked by its kind. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>
#include <yaml.h>

#include "timefmt.h"
#include "yamlwalk.h"

/* ---- defaults ------------------------------------------------------------ */

void config_default(struct config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, "./vigil-data");
    tsdb_options_default(&c->storage);
    statsd_config_default(&c->statsd);
    c->statsd.nquantiles = c->statsd.nquantiles > CONFIG_MAX_QUANTILES
                               ? CONFIG_MAX_QUANTILES : c->statsd.nquantiles;
    c->statsd.nbuckets = c->statsd.nbuckets > CONFIG_MAX_BUCKETS ? CONFIG_MAX_BUCKETS
                                                                 : c->statsd.nbuckets;
    if (c->statsd.nquantiles)
        memcpy(c->quantiles, c->statsd.quantiles, c->statsd.nquantiles * sizeof(double));
    if (c->statsd.nbuckets)
        memcpy(c->buckets, c->statsd.buckets, c->statsd.nbuckets * sizeof(double));
    c->statsd.quantiles = c->quantiles;
    c->statsd.buckets = c->buckets;
    snprintf(c->statsd_udp, sizeof c->statsd_udp, "127.0.0.1:8125");
    snprintf(c->statsd_tcp, sizeof c->statsd_tcp, "127.0.0.1:8125");
    c->statsd_receive_buffer_bytes = 8u << 20;
    snprintf(c->http_listen, sizeof c->http_listen, "127.0.0.1:9190");
    c->log_level = VLOG_INFO;
    scrape_config_default(&c->scrape);
    notify_config_default(&c->notify);
    c->rules_self = 1;
    c->rules_resend_delay_ms = 60000;
}

int config_copy(struct config *dst, const struct config *src)
{
    memcpy(dst, src, sizeof *dst);
    dst->statsd.quantiles = dst->quantiles;
    dst->statsd.buckets = dst->buckets;
    dst->rule_files = NULL;
    dst->nrule_files = 0;
    notify_config_default(&dst->notify);
    if (scrape_config_copy(&dst->scrape, &src->scrape) != 0)
        return -ENOMEM;
    if (src->nrule_files) {
        dst->rule_files = calloc(src->nrule_files, sizeof(char *));
        if (!dst->rule_files)
            goto oom;
        for (size_t i = 0; i < src->nrule_files; i++, dst->nrule_files++)
            if (!(dst->rule_files[i] = strdup(src->rule_files[i])))
                goto oom;
    }
    if (notify_config_copy(&dst->notify, &src->notify) == 0)
        return 0;
oom:
    config_free(dst);
    return -ENOMEM;
}

static void free_rule_files(struct config *c)
{
    for (size_t i = 0; i < c->nrule_files; i++)
        free(c->rule_files[i]);
    free(c->rule_files);
    c->rule_files = NULL;
    c->nrule_files = 0;
}

void config_free(struct config *c)
{
    scrape_config_free(&c->scrape);
    free_rule_files(c);
    notify_config_free(&c->notify);
}

/* ---- errors -------------------------------------------------------------- */

static void add_error(struct config_errors *e, const char *name, const yaml_mark_t *m,
                      const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[1400];
    int n = m ? snprintf(line, sizeof line, "%s:%zu:%zu: %s\n", name, m->line + 1,
                         m->column + 1, msg)
              : snprintf(line, sizeof line, "%s: %s\n", name, msg);
    size_t len = n < (int)sizeof line ? (size_t)n : sizeof line - 1;
    if (e->len + len + 1 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 1024;
        while (cap < e->len + len + 1)
            cap *= 2;
        char *p = realloc(e->text, cap);
        if (!p)
            return;
        e->text = p;
        e->cap = cap;
    }
    memcpy(e->text + e->len, line, len + 1);
    e->len += len;
    e->count++;
}

void config__error(struct config_walk *w, const yaml_node_t *at, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    add_error(w->errs, w->name, at ? &at->start_mark : NULL, "%s", msg);
}

void config_errors_free(struct config_errors *errs)
{
    free(errs->text);
    memset(errs, 0, sizeof *errs);
}

/* ---- value syntaxes ------------------------------------------------------ */

int config_parse_addr(const char *s, struct sockaddr_storage *sa)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon[1] == '\0')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || errno || port > 65535 || colon[1] < '0' || colon[1] > '9')
        return -EINVAL;
    char host[CONFIG_ADDR_MAX];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return -EINVAL;
    memset(sa, 0, sizeof *sa);
    if (s[0] == '[') {
        if (hl < 3 || s[hl - 1] != ']')
            return -EINVAL;
        memcpy(host, s + 1, hl - 2);
        host[hl - 2] = '\0';
        return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) ? -EINVAL : 0;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) ? -EINVAL : 0;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        int shift;
    } units[] = {{"", 0},    {"B", 0},    {"KB", 10},  {"KiB", 10}, {"MB", 20},
                 {"MiB", 20}, {"GB", 30},  {"GiB", 30}, {"TB", 40},  {"TiB", 40}};
    const char *p = s;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == s)
        return -EINVAL;
    const char *frac = p;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].unit) != 0)
            continue;
        if (frac != p && i < 2)
            return -EINVAL; /* fractions of a byte */
        double v = strtod(s, NULL) * (double)(1ULL << units[i].shift);
        if (v >= 18446744073709551615.0)
            return -ERANGE;
        *bytes = (uint64_t)(v + 0.5);
        return 0;
    }
    return -EINVAL;
}

/* ---- the key tables ------------------------------------------------------ */

enum kind {
    K_PATH,      /* char[CONFIG_PATH_MAX] */
    K_ADDR,      /* char[CONFIG_ADDR_MAX], or "off" for none */
    K_LISTEN,    /* statsd.listen: both statsd_udp and statsd_tcp */
    K_DURATION,  /* int64_t ms, >= min */
    K_SIZE,      /* uint64_t bytes, >= min */
    K_U32,       /* uint32_t, >= min */
    K_RATIO,     /* double in (0, 1) */
    K_FSYNC,     /* enum tsdb_fsync */
    K_LEVEL,     /* enum vlog_level */
    K_BOOL,      /* int: true or false */
    K_QUANTILES, /* statsd quantiles */
    K_BUCKETS,   /* statsd buckets */
    K_MAP,       /* a nested section */
    K_GLOBAL,    /* global: (scrape_config.c) */
    K_SCRAPE,    /* scrape_configs: (scrape_config.c) */
    K_RULE_FILES,/* rule_files: a list of globs */
    K_ALERTING,  /* alerting: (notify_config.c) */
    K_NOTIFIERS, /* notifiers: (notify_config.c) */
};

struct key {
    const char *name;
    enum kind kind;
    size_t off;                 /* into struct config */
    int64_t min;
    const struct key *sub;      /* K_MAP */
    const char *hint;           /* how to write it */
};

#define OFF(field) offsetof(struct config, field)
#define END {NULL, K_PATH, 0, 0, NULL, NULL}

static const struct key storage_limit_keys[] = {
    {"max_series", K_U32, OFF(storage.max_series), 0, NULL, "a count; 0 for no limit"},
    {"max_labels", K_U32, OFF(storage.max_labels), 1, NULL, "a count of at least 1"},
    {"max_label_name_bytes", K_U32, OFF(storage.max_label_name_bytes), 1, NULL,
     "a byte count of at least 1"},
    {"max_label_value_bytes", K_U32, OFF(storage.max_label_value_bytes), 1, NULL,
     "a byte count of at least 1"},
    END,
};

#define DUR_HINT "use Prometheus syntax like 30s, 5m, 2h"
#define SIZE_HINT "use a byte count or a size like 512MB, 1GiB"

static const struct key storage_keys[] = {
    {"data_dir", K_PATH, OFF(data_dir), 0, NULL, "a directory path"},
    {"block_range", K_DURATION, OFF(storage.block_range_ms), 60000, NULL, DUR_HINT},
    {"max_block_range", K_DURATION, OFF(storage.max_block_range_ms), 60000, NULL, DUR_HINT},
    {"retention", K_DURATION, OFF(storage.retention_ms), 0, NULL, DUR_HINT ", or 0 to keep all"},
    {"retention_size", K_SIZE, OFF(storage.retention_bytes), 0, NULL, SIZE_HINT ", or 0"},
    {"out_of_order_window", K_DURATION, OFF(storage.ooo_window_ms), 0, NULL, DUR_HINT},
    {"future_window", K_DURATION, OFF(storage.future_window_ms), 0, NULL,
     DUR_HINT ", or 0 for no limit"},
    {"wal_fsync", K_FSYNC, OFF(storage.wal_fsync), 0, NULL, "one of always, interval, never"},
    {"wal_fsync_interval", K_DURATION, OFF(storage.wal_fsync_interval_ms), 1, NULL, DUR_HINT},
    {"wal_segment_size", K_SIZE, OFF(storage.wal_segment_bytes), 1 << 16, NULL,
     SIZE_HINT " (at least 64KiB)"},
    {"limits", K_MAP, 0, 0, storage_limit_keys, "a mapping of limits"},
    END,
};

static const struct key statsd_keys[] = {
    {"listen", K_LISTEN, 0, 0, NULL, "ADDR:PORT like 127.0.0.1:8125 (UDP and TCP), or off"},
    {"udp", K_ADDR, OFF(statsd_udp), 0, NULL, "ADDR:PORT like 127.0.0.1:8125, or off"},
    {"tcp", K_ADDR, OFF(statsd_tcp), 0, NULL, "ADDR:PORT like 127.0.0.1:8125, or off"},
    {"flush_interval", K_DURATION, OFF(statsd.flush_interval_ms), 100, NULL,
     DUR_HINT " (at least 100ms)"},
    {"quantiles", K_QUANTILES, 0, 0, NULL,
     "a list of ascending numbers between 0 and 1, like [0.5, 0.9, 0.99]"},
    {"buckets", K_BUCKETS, 0, 0, NULL, "a list of ascending numbers, like [0.005, 0.01, 0.1, 1]"},
    {"sketch_relative_error", K_RATIO, OFF(statsd.sketch_relative_error), 0, NULL,
     "a number between 0 and 1, like 0.01"},
    {"idle_expire", K_DURATION, OFF(statsd.idle_expire_ms), 1000, NULL, DUR_HINT " (at least 1s)"},
    {"max_series", K_U32, OFF(statsd.max_series), 1, NULL, "a count of at least 1"},
    {"max_series_per_metric", K_U32, OFF(statsd.max_series_per_metric), 1, NULL,
     "a count of at least 1"},
    {"receive_buffer_bytes", K_SIZE, OFF(statsd_receive_buffer_bytes), 4096, NULL,
     SIZE_HINT " (at least 4KiB)"},
    END,
};

static const struct key http_keys[] = {
    {"listen", K_ADDR, OFF(http_listen), 0, NULL, "ADDR:PORT like 127.0.0.1:9190, or off"},
    {"external_url", K_PATH, OFF(external_url), 0, NULL,
     "the URL users reach vigild at, like https://vigil.example.com"},
    END,
};

static const struct key rules_keys[] = {
    {"watchdog", K_BOOL, OFF(rules_watchdog), 0, NULL, "true or false"},
    {"self_monitoring", K_BOOL, OFF(rules_self), 0, NULL, "true or false"},
    {"resend_delay", K_DURATION, OFF(rules_resend_delay_ms), 0, NULL, DUR_HINT},
    END,
};

static const struct key log_keys[] = {
    {"level", K_LEVEL, OFF(log_level), 0, NULL, "one of debug, info, warn, error"},
    END,
};

static const struct key top_keys[] = {
    {"global", K_GLOBAL, 0, 0, NULL, "a mapping"},
    {"scrape_configs", K_SCRAPE, 0, 0, NULL, "a list of scrape configs"},
    {"rule_files", K_RULE_FILES, 0, 0, NULL, "a list of file paths or globs"},
    {"alerting", K_ALERTING, 0, 0, NULL, "a mapping in Prometheus' shape (alertmanagers:)"},
    {"notifiers", K_NOTIFIERS, 0, 0, NULL, "a mapping (receivers:, route:)"},
    {"storage", K_MAP, 0, 0, storage_keys, "a mapping"},
    {"statsd", K_MAP, 0, 0, statsd_keys, "a mapping"},
    {"http", K_MAP, 0, 0, http_keys, "a mapping"},
    {"log", K_MAP, 0, 0, log_keys, "a mapping"},
    {"rules", K_MAP, 0, 0, rules_keys, "a mapping (watchdog:, self_monitoring:, resend_delay:)"},
    END,
};

/* Sections of the design that later releases implement: named so that a
 * pasted Prometheus file gets a clear answer instead of "unknown key". */
static const char *const later_sections[] = {
    "remote_write", "logs", "drift_checks", NULL,
};

/* ---- walking the document ------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

void config__unknown_key(struct config_walk *w, const yaml_node_t *k, const char *section,
                         const void *table, size_t stride)
{
    const char *key = (const char *)k->data.scalar.value, *best = NULL;
    size_t bd = 3;
    for (const char *p = table; *(const char *const *)p; p += stride) {
        const char *name = *(const char *const *)p;
        size_t d = edit_distance(key, name);
        if (d < bd) {
            bd = d;
            best = name;
        }
    }
    char in[80] = "";
    if (section)
        snprintf(in, sizeof in, " in %s", section);
    if (best)
        add_error(w->errs, w->name, &k->start_mark,
                  "unknown key '%s'%s (did you mean '%s'?)", key, in, best);
    else
        add_error(w->errs, w->name, &k->start_mark, "unknown key '%s'%s", key, in);
}

yaml_node_t *config__node(struct config_walk *w, int id)
{
    return yaml_document_get_node(w->doc, id);
}

int config__is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0 &&
           n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

const char *config__scalar(struct config_walk *w, const yaml_node_t *n, const char *path,
                           const char *hint)
{
    if (n->type == YAML_SCALAR_NODE)
        return (const char *)n->data.scalar.value;
    config__error(w, n, "%s must be a single value: %s", path, hint);
    return NULL;
}

int config__sequence(struct config_walk *w, const yaml_node_t *n, const char *path,
                     const char *hint)
{
    if (n->type == YAML_SEQUENCE_NODE || config__is_null(n))
        return 1;
    config__error(w, n, "%s must be a list: %s", path, hint);
    return 0;
}

void *config__push(void **v, size_t *n, size_t size)
{
    char *p = realloc(*v, (*n + 1) * size);
    if (!p)
        return NULL;
    *v = p;
    memset(p + *n * size, 0, size);
    return p + (*n)++ * size;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On",
                                      "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off",
                                     "OFF"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -EINVAL;
}

void config__set_bool(struct config_walk *w, const yaml_node_t *n, const char *s,
                      const char *path, int *out)
{
    if (parse_bool(s, out) != 0)
        config__error(w, n, "bad value '%s' for %s: use true or false", s, path);
}

void config__set_u64(struct config_walk *w, const yaml_node_t *n, const char *s,
                     const char *path, const char *hint, uint64_t *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno)
        config__error(w, n, "bad number '%s' for %s: %s", s, path, hint);
}

int config__copy_str(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -ENOMEM : 0;
}

int config__copy_strings(char ***dst, size_t *ndst, char *const *src, size_t n)
{
    *dst = NULL;
    *ndst = 0;
    if (!n)
        return 0;
    if (!(*dst = calloc(n, sizeof **dst)))
        return -ENOMEM;
    for (; *ndst < n; ++*ndst)
        if (!((*dst)[*ndst] = strdup(src[*ndst])))
            return -ENOMEM;
    return 0;
}

void config__free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int listed(const char *const *names, const char *key)
{
    for (; *names; names++)
        if (strcmp(*names, key) == 0)
            return 1;
    return 0;
}

void config__walk(struct config_walk *w, const yaml_node_t *n, const void *keys, size_t stride,
                  const char *const *unsupported, config__set_fn *set, void *base,
                  const char *path)
{
    if (config__is_null(n))
        return;
    if (n->type != YAML_MAPPING_NODE) {
        config__error(w, n, "%s must be a mapping of keys", path);
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = config__node(w, p->key), *vn = config__node(w, p->value);
        if (!kn || !vn)
            continue;
        if (kn->type != YAML_SCALAR_NODE) {
            config__error(w, kn, "keys must be plain names");
            continue;
        }
        const char *key = (const char *)kn->data.scalar.value, *k = keys;
        while (*(const char *const *)k && strcmp(*(const char *const *)k, key) != 0)
            k += stride;
        char sub[256];
        snprintf(sub, sizeof sub, "%.180s.%.60s", path, key);
        if (yamlwalk_key_before(w->doc, n, p, key))
            config__error(w, kn, "duplicate key '%s' in %s", key, path);
        else if (*(const char *const *)k)
            set(w, vn, k, base, sub);
        else if (listed(unsupported, key))
            config__error(w, kn, "'%s' in %s is not supported by Vigil; remove it", key, path);
        else
            config__unknown_key(w, kn, path, keys, stride);
    }
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return -EINVAL;
    *out = v;
    return 0;
}

/* Quantiles or buckets: a sequence of ascending finite numbers. */
/* rule_files: a list of non-empty strings (paths or globs). */
static void set_rule_files(struct config_walk *w, const yaml_node_t *n)
{
    free_rule_files(w->c);
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
        return;
    if (n->type != YAML_SEQUENCE_NODE) {
        add_error(w->errs, w->name, &n->start_mark,
                  "rule_files must be a list of file paths or globs, like [rules/*.yml]");
        return;
    }
    size_t cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    w->c->rule_files = calloc(cap ? cap : 1, sizeof(char *));
    if (!w->c->rule_files) {
        add_error(w->errs, w->name, &n->start_mark, "out of memory");
        return;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        const char *s = e ? config__scalar(w, e, "rule_files", "a file path or glob") : NULL;
        if (!s)
            continue;
        if (!*s) {
            add_error(w->errs, w->name, &e->start_mark, "rule_files entries must not be empty");
            continue;
        }
        char *copy = strdup(s);
        if (!copy) {
            add_error(w->errs, w->name, &e->start_mark, "out of memory");
            return;
        }
        w->c->rule_files[w->c->nrule_files++] = copy;
    }
}

static void set_list(struct config_walk *w, const yaml_node_t *n, const struct key *k, const char *path)
{
    int q = k->kind == K_QUANTILES;
    double *dst = q ? w->c->quantiles : w->c->buckets;
    size_t max = q ? CONFIG_MAX_QUANTILES : CONFIG_MAX_BUCKETS, len = 0;
    if (n->type != YAML_SEQUENCE_NODE) {
        add_error(w->errs, w->name, &n->start_mark, "%s must be a list: %s", path, k->hint);
        return;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        const char *s = e ? config__scalar(w, e, path, k->hint) : NULL;
        double v;
        if (!s)
            return;
        if (len == max) {
            add_error(w->errs, w->name, &e->start_mark, "%s has more than %zu entries", path, max);
            return;
        }
        if (parse_double(s, &v) || (q && (v <= 0 || v >= 1))) {
            add_error(w->errs, w->name, &e->start_mark, "bad value '%s' in %s: %s", s, path,
                      k->hint);
            return;
        }
        if (len && v <= dst[len - 1]) {
            add_error(w->errs, w->name, &e->start_mark,
                      "%s must be strictly ascending: %g follows %g", path, v, dst[len - 1]);
            return;
        }
        dst[len++] = v;
    }
    if (q)
        w->c->statsd.nquantiles = len;
    else
        w->c->statsd.nbuckets = len;
}

static void set_addr(struct config_walk *w, const yaml_node_t *n, const char *s, char *dst,
                     const char *path, const char *hint)
{
    struct sockaddr_storage sa;
    if (strcmp(s, "off") != 0 && config_parse_addr(s, &sa) != 0) {
        add_error(w->errs, w->name, &n->start_mark, "bad address '%s' for %s: %s", s, path, hint);
        return;
    }
    snprintf(dst, CONFIG_ADDR_MAX, "%s", strcmp(s, "off") == 0 ? "" : s);
}

static void walk_map(struct config_walk *w, const yaml_node_t *n, const struct key *keys,
                     const char *section);

/* Checks and stores one value. */
static void set_value(struct config_walk *w, const yaml_node_t *n, const struct key *k,
                      const char *path)
{
    char *field = (char *)w->c + k->off;
    if (k->kind == K_MAP) {
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
            return; /* "limits:" with nothing under it */
        if (n->type != YAML_MAPPING_NODE) {
            add_error(w->errs, w->name, &n->start_mark, "%s must be a mapping of keys", path);
            return;
        }
        walk_map(w, n, k->sub, path);
        return;
    }
    if (k->kind == K_QUANTILES || k->kind == K_BUCKETS) {
        set_list(w, n, k, path);
        return;
    }
    if (k->kind == K_RULE_FILES) {
        set_rule_files(w, n);
        return;
    }
    if (k->kind == K_ALERTING || k->kind == K_NOTIFIERS) {
        (k->kind == K_ALERTING ? notify_config__parse_alerting : notify_config__parse_notifiers)(
            w, &w->c->notify, n);
        return;
    }
    if (k->kind == K_GLOBAL || k->kind == K_SCRAPE) {
        (k->kind == K_GLOBAL ? scrape_config__parse_global : scrape_config__parse_jobs)(
            w, &w->c->scrape, n);
        return;
    }
    const char *s = config__scalar(w, n, path, k->hint);
    if (!s)
        return;
    int64_t ms;
    uint64_t u;
    double d;
    char *end;
    switch (k->kind) {
    case K_PATH:
        if (*s == '\0' || strlen(s) >= CONFIG_PATH_MAX)
            add_error(w->errs, w->name, &n->start_mark, "bad path for %s: %s", path, k->hint);
        else
            snprintf(field, CONFIG_PATH_MAX, "%s", s);
        break;
    case K_ADDR:
        set_addr(w, n, s, field, path, k->hint);
        break;
    case K_LISTEN:
        set_addr(w, n, s, w->c->statsd_udp, path, k->hint);
        memcpy(w->c->statsd_tcp, w->c->statsd_udp, CONFIG_ADDR_MAX);
        break;
    case K_DURATION:
        if (timefmt_parse_duration(s, strlen(s), &ms) != 0)
            add_error(w->errs, w->name, &n->start_mark, "bad duration '%s' for %s: %s", s, path,
                      k->hint);
        else if (ms < k->min)
            add_error(w->errs, w->name, &n->start_mark, "duration '%s' for %s is too short: %s",
                      s, path, k->hint);
        else
            *(int64_t *)field = ms;
        break;
    case K_SIZE:
        if (config_parse_size(s, &u) != 0 || u < (uint64_t)k->min)
            add_error(w->errs, w->name, &n->start_mark, "bad size '%s' for %s: %s", s, path,
                      k->hint);
        else
            *(uint64_t *)field = u;
        break;
    case K_U32:
        errno = 0;
        u = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end || errno || u > UINT32_MAX || u < (uint64_t)k->min)
            add_error(w->errs, w->name, &n->start_mark, "bad number '%s' for %s: %s", s, path,
                      k->hint);
        else
            *(uint32_t *)field = (uint32_t)u;
        break;
    case K_RATIO:
        if (parse_double(s, &d) || d <= 0 || d >= 1)
            add_error(w->errs, w->name, &n->start_mark, "bad value '%s' for %s: %s", s, path,
                      k->hint);
        else
            *(double *)field = d;
        break;
    case K_FSYNC:
        if (strcmp(s, "always") == 0)
            *(enum tsdb_fsync *)field = TSDB_FSYNC_ALWAYS;
        else if (strcmp(s, "interval") == 0)
            *(enum tsdb_fsync *)field = TSDB_FSYNC_INTERVAL;
        else if (strcmp(s, "never") == 0)
            *(enum tsdb_fsync *)field = TSDB_FSYNC_NEVER;
        else
            add_error(w->errs, w->name, &n->start_mark, "bad value '%s' for %s: %s", s, path,
                      k->hint);
        break;
    case K_LEVEL:
        if (vlog_level_parse(s, (enum vlog_level *)field) != 0)
            add_error(w->errs, w->name, &n->start_mark, "bad log level '%s' for %s: %s", s,
                      path, k->hint);
        break;
    case K_BOOL:
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
            *(int *)field = strcmp(s, "true") == 0;
        else
            add_error(w->errs, w->name, &n->start_mark, "bad value '%s' for %s: %s", s, path,
                      k->hint);
        break;
    case K_QUANTILES: case K_BUCKETS: case K_MAP: case K_GLOBAL: case K_SCRAPE:
    case K_RULE_FILES: case K_ALERTING: case K_NOTIFIERS:
        break; /* handled above */
    }
}

static int is_later_section(const char *key)
{
    for (const char *const *s = later_sections; *s; s++)
        if (strcmp(key, *s) == 0)
            return 1;
    return 0;
}

/* Walks a mapping node against a key table; section is NULL at the top.
 * statsd.listen is applied before the other keys so that statsd.udp and
 * statsd.tcp override it wherever they are written, and global: before
 * scrape_configs:, whose defaults come from it. */
static void walk_map(struct config_walk *w, const yaml_node_t *n, const struct key *keys,
                     const char *section)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(w->doc, p->value);
        if (kn && vn && kn->type == YAML_SCALAR_NODE && keys == statsd_keys &&
            strcmp((const char *)kn->data.scalar.value, "listen") == 0)
            set_value(w, vn, &statsd_keys[0], "statsd.listen");
        if (kn && vn && kn->type == YAML_SCALAR_NODE && keys == top_keys &&
            strcmp((const char *)kn->data.scalar.value, "global") == 0)
            set_value(w, vn, &top_keys[0], "global");
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(w->doc, p->value);
        if (!kn || !vn)
            continue;
        if (kn->type != YAML_SCALAR_NODE) {
            add_error(w->errs, w->name, &kn->start_mark, "keys must be plain names");
            continue;
        }
        const char *key = (const char *)kn->data.scalar.value;
        if (yamlwalk_key_before(w->doc, n, p, key)) {
            add_error(w->errs, w->name, &kn->start_mark, "duplicate key '%s'%s%s", key,
                      section ? " in " : "", section ? section : "");
            continue;
        }
        const struct key *k = keys;
        while (k->name && strcmp(k->name, key) != 0)
            k++;
        if (!k->name) {
            if (!section && is_later_section(key))
                add_error(w->errs, w->name, &kn->start_mark,
                          "section '%s' is not supported yet by this vigild; remove it", key);
            else
                config__unknown_key(w, kn, section, keys, sizeof *keys);
            continue;
        }
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", section ? section : "", section ? "." : "", key);
        if (k->kind != K_LISTEN && k->kind != K_GLOBAL)
            set_value(w, vn, k, path);
    }
}

static void check_consistency(struct config_walk *w)
{
    const struct tsdb_options *o = &w->c->storage;
    if (o->max_block_range_ms < o->block_range_ms)
        add_error(w->errs, w->name, NULL,
                  "storage.max_block_range must not be shorter than storage.block_range");
}

int config_parse(struct config *c, const char *name, const char *text, size_t len,
                 struct config_errors *errs)
{
    unsigned before = errs->count;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_mark_t m = parser.problem_mark;
        add_error(errs, name, &m, "YAML syntax: %s%s%s", parser.problem ? parser.problem : "error",
                  parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return -EINVAL;
    }
    struct config_walk w = {&doc, c, name, errs};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE)
        walk_map(&w, root, top_keys, NULL);
    else if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        add_error(errs, name, &root->start_mark,
                  "the file must be a mapping of sections (global:, scrape_configs:, storage:, "
                  "statsd:, http:, log:)");
    check_consistency(&w);
    yaml_document_delete(&doc);
    /* A second document is not part of the configuration. */
    if (errs->count == before && yaml_parser_load(&parser, &doc)) {
        if (yaml_document_get_root_node(&doc))
            add_error(errs, name, &doc.start_mark, "only one YAML document is allowed");
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    return errs->count == before ? 0 : -EINVAL;
}

int config_load(struct config *c, const char *path, struct config_errors *errs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = -errno;
        add_error(errs, path, NULL, "cannot read: %s", strerror(-err));
        return err;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, r;
    int err = 0;
    do {
        if (len == cap) {
            char *p = cap < (16u << 20) ? realloc(text, cap = cap ? cap * 2 : 8192) : NULL;
            if (!p) {
                err = cap >= (16u << 20) ? -EFBIG : -ENOMEM;
                break;
            }
            text = p;
        }
        r = fread(text + len, 1, cap - len, f);
        len += r;
    } while (r > 0);
    if (!err && ferror(f))
        err = -EIO;
    fclose(f);
    if (err)
        add_error(errs, path, NULL, "cannot read: %s", strerror(-err));
    else
        err = config_parse(c, path, text, len, errs);
    free(text);
    return err;
}

int config_apply_overrides(struct config *c, const struct config_overrides *o,
                           struct config_errors *errs)
{
    unsigned before = errs->count;
    struct sockaddr_storage sa;
    if (o->data_dir) {
        if (*o->data_dir == '\0' || strlen(o->data_dir) >= CONFIG_PATH_MAX)
            add_error(errs, "--data-dir", NULL, "bad directory '%s'", o->data_dir);
        else
            snprintf(c->data_dir, sizeof c->data_dir, "%s", o->data_dir);
    }
    if (o->http_listen) {
        if (config_parse_addr(o->http_listen, &sa) != 0)
            add_error(errs, "--http-listen", NULL, "bad address '%s': use ADDR:PORT like "
                      "127.0.0.1:9190", o->http_listen);
        else
            snprintf(c->http_listen, sizeof c->http_listen, "%s", o->http_listen);
    }
    if (o->statsd_listen) {
        if (config_parse_addr(o->statsd_listen, &sa) != 0) {
            add_error(errs, "--statsd-listen", NULL, "bad address '%s': use ADDR:PORT like "
                      "127.0.0.1:8125", o->statsd_listen);
        } else {
            snprintf(c->statsd_udp, sizeof c->statsd_udp, "%s", o->statsd_listen);
            snprintf(c->statsd_tcp, sizeof c->statsd_tcp, "%s", o->statsd_listen);
        }
    }
    if (o->has_log_level)
        c->log_level = o->log_level;
    return errs->count == before ? 0 : -EINVAL;
}
