/* notify_config.c — see notify_config.h. */
#include "notify_config.h"

#include <string.h>

#include <yaml.h>

#include "config.h"

void notify_config_default(struct notify_config *c)
{
    memset(c, 0, sizeof *c);
}

int notify_config_copy(struct notify_config *dst, const struct notify_config *src)
{
    *dst = *src;
    return 0;
}

void notify_config_free(struct notify_config *c)
{
    (void)c;
}

void notify_config__parse_alerting(struct config_walk *w, struct notify_config *c,
                                   const yaml_node_t *n)
{
    (void)c;
    config__error(w, n, "alerting: is not supported yet");
}

void notify_config__parse_notifiers(struct config_walk *w, struct notify_config *c,
                                    const yaml_node_t *n)
{
    (void)c;
    config__error(w, n, "notifiers: is not supported yet");
}
