/* notify.h — delivering alerts: to Alertmanagers (the `alerting:` block,
 * POST /api/v2/alerts exactly as Prometheus does) and to Vigil's own
 * receivers (`notifiers:`: webhook with the Alertmanager v4 payload, exec
 * with the same JSON on stdin), routed by label matchers and grouped
 * (group_by, group_wait, group_interval, repeat_interval, send_resolved)
 * as Alertmanager does. Runs on the loop thread.
 *
 * Delivery to Vigil's receivers is at least once and survives restarts:
 * every notification is written to a persistent outbox under
 * DATA_DIR/notify/ (fsync'd) before it is attempted, retried with capped
 * exponential backoff until the receiver accepts it, and removed when
 * delivered; grouping state (what each group last sent, and when) is
 * persisted too, so a restart neither loses a page nor repeats one within
 * the repeat interval. */
#ifndef VIGIL_NOTIFY_H
#define VIGIL_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "notify_config.h"
#include "rules.h"

struct httpc;
struct selfmetrics;
struct notifier;

/* Creates the notifier for cfg, recovering the outbox and group state from
 * data_dir/notify/ (created if needed). external_url is the base of
 * generator URLs and the payload's externalURL. Sets SIGPIPE to be ignored
 * process-wide: an exec hook that exits without reading its stdin must not
 * kill vigild. @return 0 or -errno. */
int notifier_new(uv_loop_t *loop, struct httpc *hc, const struct notify_config *cfg,
                 const char *data_dir, const char *external_url,
                 struct notifier **out /* OUT */);

/* Applies a reloaded configuration; pending notifications of receivers
 * that still exist are kept. @return 0 or -errno (the old config stays). */
int notifier_reload(struct notifier *n, const struct notify_config *cfg);

/* Hands over the alerts one rule evaluation produced (rule_group_send's
 * callback calls this): firing ones and resolved ones. The notifier copies
 * what it keeps. */
void notifier_send(struct notifier *n, const struct alert_notification *a, size_t count,
                   int64_t now_ms);

/* vigil_notify_* self-metrics: queue length, deliveries, failures,
 * latency, dropped, per receiver / alertmanager. */
void notifier_collect(struct notifier *n, struct selfmetrics *sm);

/* Stops timers and in-flight deliveries (the outbox keeps them for the
 * next start) and frees n; cb(arg) runs once every handle is closed. The
 * httpc is not used after this returns (it may be closed right away). */
void notifier_close(struct notifier *n, void (*cb)(void *arg), void *arg);

#endif
