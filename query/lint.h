/* lint.h — naming and metadata rules for a metrics exposition, the rules of
 * `promtool check metrics` (client_golang's promlint), used by
 * `tsq check metrics`. Feed it the entries an expfmt parser returned, in
 * order; lint_report then names each problem per metric family.
 */
#ifndef VIGIL_LINT_H
#define VIGIL_LINT_H

#include "expfmt.h"

struct lint;

/* Creates a linter for an exposition of the given flavor (OpenMetrics
 * counters are named without _total, so that rule is Prometheus text only).
 * @return 0 and *out, or -ENOMEM. */
int lint_new(enum expfmt_flavor flavor, struct lint **out /* OUT */);

/* Records one parsed entry: its family's name, type, HELP and label names.
 * EXPFMT_NONE, UNIT and EOF entries are ignored. @return 0 or -ENOMEM. */
int lint_entry(struct lint *l, const struct expfmt_entry *e);

/* Called once per problem: the metric family's name and promlint's text. */
typedef void (*lint_problem_fn)(const char *metric, const char *text, void *arg);

/* Reports every problem of the families recorded so far, sorted by metric
 * name then text, each once. @return the number of problems, or -ENOMEM. */
int lint_report(struct lint *l, lint_problem_fn fn, void *arg);

void lint_free(struct lint *l);

#endif
