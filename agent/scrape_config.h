/* scrape_config.h — the `global:` and `scrape_configs:` sections of the
 * configuration file, in Prometheus' shape, parsed by scrape_config.c
 * (called from config.c) into these structures. After a successful parse
 * every field is final: defaults are filled in (intervals from global,
 * metrics_path, scheme), every relabel rule is prepared, every string is
 * malloc'd (rules: see relabel.h) and owned by the struct. Users' keys and
 * defaults: docs/scraping.md. */
#ifndef VIGIL_SCRAPE_CONFIG_H
#define VIGIL_SCRAPE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "relabel.h"
#include "tsdb.h"

struct scrape_global {
    int64_t scrape_interval_ms;     /* 1m */
    int64_t scrape_timeout_ms;      /* 10s */
    int64_t evaluation_interval_ms; /* 1m (for the rules issue) */
    struct tsdb_label *external_labels;
    size_t nexternal_labels;
};

struct scrape_static_group {        /* one static_configs entry */
    char **targets;                 /* "host:port" */
    size_t ntargets;
    struct tsdb_label *labels;      /* malloc'd strings */
    size_t nlabels;
};

struct scrape_tls {
    char *ca_file, *cert_file, *key_file, *server_name;
    int insecure_skip_verify;
};

struct scrape_job {
    char *job_name;
    int64_t scrape_interval_ms;     /* default: global */
    int64_t scrape_timeout_ms;      /* default: global, at most the interval */
    char *metrics_path;             /* /metrics */
    char *scheme;                   /* http */
    struct tsdb_label *params;      /* URL query parameters (repeatable), in file order */
    size_t nparams;
    int honor_labels;               /* false */
    int honor_timestamps;           /* true */
    int follow_redirects;           /* true */
    int enable_compression;         /* true: Accept-Encoding gzip */
    char *basic_auth_username, *basic_auth_password, *basic_auth_password_file;
    char *bearer_token, *bearer_token_file; /* authorization: credentials(_file) too
                                               (type Bearer only) */
    struct scrape_tls tls;
    struct scrape_static_group *static_configs;
    size_t nstatic;
    char **file_sd_files;           /* globs */
    size_t nfile_sd;
    int64_t file_sd_refresh_ms;     /* 5m; the shortest of the file_sd_configs */
    struct relabel_rule *relabel;
    size_t nrelabel;
    struct relabel_rule *metric_relabel;
    size_t nmetric_relabel;
    uint64_t sample_limit;          /* 0 = none */
    uint64_t label_limit;
    uint64_t label_name_length_limit;
    uint64_t label_value_length_limit;
    uint64_t body_size_limit;       /* bytes, 0 = none */
};

struct scrape_config {
    struct scrape_global global;
    struct scrape_job *jobs;
    size_t njobs;
};

/* Global defaults (1m, 10s, 1m, no external labels), no jobs. */
void scrape_config_default(struct scrape_config *c /* OUT */);
/* Deep copy (for reloads). @return 0 or -ENOMEM. */
int scrape_config_copy(struct scrape_config *dst /* OUT */, const struct scrape_config *src);
/* Frees everything c owns and leaves it at scrape_config_default. */
void scrape_config_free(struct scrape_config *c);

/* Internal, for config.c: parse the global: mapping / the scrape_configs:
 * list into sc, reporting every problem through w (file:line:col).
 * global: must be parsed first: jobs take their defaults from it. */
struct config_walk;
struct yaml_node_s;
void scrape_config__parse_global(struct config_walk *w, struct scrape_config *sc,
                                 const struct yaml_node_s *n);
void scrape_config__parse_jobs(struct config_walk *w, struct scrape_config *sc,
                               const struct yaml_node_s *n);
/* For notify_config.c (alerting.alert_relabel_configs): parses the list of
 * relabel rules at n, appending prepared rules to *rules / *nrules; path
 * names the list in messages. */
void scrape_config__parse_relabel(struct config_walk *w, const struct yaml_node_s *n,
                                  struct relabel_rule **rules, size_t *nrules,
                                  const char *path);

#endif
