/* selector.h — parser for the PromQL series selectors tsq answers before
 * the full PromQL engine exists: metric{label="v",l2=~"re",l3!="x",l4!~"y"}
 * with an optional range [6h], or {__name__=~"..."} without a metric name. */
#ifndef VIGIL_SELECTOR_H
#define VIGIL_SELECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb.h"

struct selector {
    struct tsdb_matcher *matchers; /* owned; metric name first if given */
    size_t n;
    int64_t range_ms;              /* > 0 for a range selector, 0 for instant */
};

/* Where and why parsing failed: 1-based byte column, and a message saying
 * what was expected and quoting the offending text. */
struct selector_error {
    unsigned col;
    char msg[256];
};

/* Parses a selector. Label values are PromQL strings: "double" or 'single'
 * quoted with Go escapes (\n \t \\ \" \' \xHH \ooo \uHHHH \UHHHHHHHH ...),
 * or `raw`. At least one matcher must not match the empty string, as in
 * Prometheus. @return 0 and *out (free with selector_free), -EINVAL with
 * *err set, or -ENOMEM. */
int selector_parse(const char *s, struct selector *out /* OUT */,
                   struct selector_error *err /* OUT */);

void selector_free(struct selector *sel);

#endif
