/* notify_config.h — the `alerting:` (Prometheus' shape: alertmanagers)
 * and `notifiers:` (Vigil's receivers and routing tree, Alertmanager's
 * shape) sections of the configuration file, parsed by notify_config.c
 * (called from config.c). Every string is malloc'd and owned by the
 * struct. Users' keys and defaults: docs/alerting.md. */
#ifndef VIGIL_NOTIFY_CONFIG_H
#define VIGIL_NOTIFY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct notify_config {
    int placeholder; /* filled in by the notifiers work */
};

void notify_config_default(struct notify_config *c /* OUT */);
/* @return 0 or -ENOMEM (dst then needs no notify_config_free). */
int notify_config_copy(struct notify_config *dst /* OUT */, const struct notify_config *src);
void notify_config_free(struct notify_config *c);

struct config_walk;
struct yaml_node_s;
/* Parse the section's node into c; problems go to w's error list. */
void notify_config__parse_alerting(struct config_walk *w, struct notify_config *c,
                                   const struct yaml_node_s *n);
void notify_config__parse_notifiers(struct config_walk *w, struct notify_config *c,
                                    const struct yaml_node_s *n);

#endif
