/* daemon.h — vigild's loop wiring: configuration, the store, the statsd
 * listeners and aggregator, the HTTP server, timers and signals on one
 * libuv loop. */
#ifndef VIGIL_DAEMON_H
#define VIGIL_DAEMON_H

#include "config.h"

#define VIGILD_VERSION "0.1.0"

struct daemon_args {
    const char *config_path;          /* NULL: embedded defaults */
    struct config_overrides overrides;
};

/* Loads the configuration (defaults, file, flags). On errors prints them to
 * stderr, one per line. @return 0 (release c with config_free), or -EINVAL
 * / -errno (c already released). The result is used by both
 * --check-config and daemon_run. */
int daemon_load_config(const struct daemon_args *a, struct config *c /* OUT */);

/* Runs vigild until SIGTERM or SIGINT. @return the process exit status: 0
 * after a clean stop, 1 when the configuration, a listener or the store
 * could not be set up. */
int daemon_run(const struct daemon_args *a);

#endif
