/* notify_config.h — the `alerting:` (Prometheus' shape: alertmanagers)
 * and `notifiers:` (Vigil's receivers and routing tree, Alertmanager's
 * shape, plus the outbox's retry settings) sections of the configuration
 * file, parsed by notify_config.c (called from config.c). Every string is
 * malloc'd and owned by the struct. Users' keys and defaults:
 * docs/notifications.md. */
#ifndef VIGIL_NOTIFY_CONFIG_H
#define VIGIL_NOTIFY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "relabel.h"
#include "tsdb.h"

/* One alerting.alertmanagers entry: every static target gets the alerts. */
struct notify_alertmanager {
    char **targets;                 /* "host:port" from every static_configs */
    size_t ntargets;
    char *scheme;                   /* "http" (or "https") */
    char *path_prefix;              /* "/" */
    int64_t timeout_ms;             /* 10s */
    char *username, *password;      /* basic_auth, or NULL */
    char *ca_file;                  /* tls_config.ca_file, or NULL */
    int insecure_skip_verify;       /* tls_config */
};

struct notify_webhook {
    char *url;
    int send_resolved;              /* true */
    uint64_t max_alerts;            /* 0 = all */
    int64_t timeout_ms;             /* 10s */
};

struct notify_exec {
    char **argv;                    /* command: argv[0] is the program */
    size_t argc;
    int send_resolved;              /* true */
    int64_t timeout_ms;             /* 10s */
    char **env;                     /* "NAME=value" strings */
    size_t nenv;
};

struct notify_receiver {
    char *name;
    struct notify_webhook *webhooks;
    size_t nwebhooks;
    struct notify_exec *execs;
    size_t nexecs;
};

/* An Alertmanager matcher: name = "v", != "v", =~ "re", !~ "re". The regex
 * is checked at parse time and compiled (anchored) by the notifier. */
struct notify_matcher {
    enum tsdb_match_type type;
    char *name, *value;
};

/* A node of the routing tree. After parsing every field is resolved
 * (children inherit receiver, group_by and the intervals of their parent,
 * as in Alertmanager). */
struct notify_route {
    char *receiver;
    char **group_by;                /* label names */
    size_t ngroup_by;
    int group_by_all;               /* group_by: ['...'] */
    int64_t group_wait_ms;          /* 30s */
    int64_t group_interval_ms;      /* 5m */
    int64_t repeat_interval_ms;     /* 4h */
    struct notify_matcher *matchers;
    size_t nmatchers;
    int continue_matching;          /* continue: false */
    struct notify_route *routes;
    size_t nroutes;
    int has_group_by;               /* parse-time: set in this node */
};

struct notify_config {
    struct relabel_rule *alert_relabel; /* alerting.alert_relabel_configs:
                                           applied to alerts sent to
                                           Alertmanagers; prepared */
    size_t nalert_relabel;
    struct notify_alertmanager *alertmanagers;
    size_t nalertmanagers;
    struct notify_receiver *receivers;
    size_t nreceivers;
    struct notify_route route;      /* route.receiver NULL = no notifiers */
    int64_t min_backoff_ms;         /* outbox.min_backoff: 1s */
    int64_t max_backoff_ms;         /* outbox.max_backoff: 5m */
    int64_t max_age_ms;             /* outbox.max_age: 24h */
};

void notify_config_default(struct notify_config *c /* OUT */);
/* @return 0 or -ENOMEM (dst then needs no notify_config_free). */
int notify_config_copy(struct notify_config *dst /* OUT */, const struct notify_config *src);
/* Releases what c owns and leaves the defaults; safe twice. */
void notify_config_free(struct notify_config *c);

/* Parses one Alertmanager matcher, `name="value"` (Go string escapes),
 * `name=value` (unquoted, trimmed), with = != =~ !~. @return 0 and *out
 * (strings malloc'd), or -EINVAL with a reason in err, or -ENOMEM. */
int notify_matcher_parse(const char *s, struct notify_matcher *out /* OUT */, char *err,
                         size_t errlen);

struct config_walk;
struct yaml_node_s;
/* Parse the section's node into c; problems go to w's error list. */
void notify_config__parse_alerting(struct config_walk *w, struct notify_config *c,
                                   const struct yaml_node_s *n);
void notify_config__parse_notifiers(struct config_walk *w, struct notify_config *c,
                                    const struct yaml_node_s *n);

#endif
