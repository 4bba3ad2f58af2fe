/* template.h — the subset of Go's text/template that Prometheus alerting
 * rules use in labels and annotations:
 *
 *   {{ $labels.instance }}  {{ $value }}  {{ $externalLabels.cluster }}
 *   {{ $externalURL }}  {{ .Labels.x }} {{ .Value }} (the same, dot form)
 *   {{ humanize $value }}  {{ humanize1024 }}  {{ humanizeDuration }}
 *   {{ humanizePercentage }}  {{ humanizeTimestamp }}  {{ printf "%.2f" $value }}
 *   {{ if ... }} {{ else if ... }} {{ else }} {{ end }}, comparisons
 *   (eq ne lt le gt ge), and, or, not, pipelines (`$value | humanize`),
 *   {{- trimming -}}, comments, toUpper, toLower, title,
 *   reReplaceAll, match, stripPort, query-free functions only.
 *
 * A template is parsed once (rule load: syntax errors reject the file) and
 * executed per alert. No I/O; output is malloc'd. */
#ifndef VIGIL_TEMPLATE_H
#define VIGIL_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb.h"

struct tmpl;

/* What a template can see. */
struct tmpl_data {
    const struct tsdb_labels *labels;          /* $labels / .Labels (may be NULL) */
    const struct tsdb_labels *external_labels; /* $externalLabels (may be NULL) */
    const char *external_url;                  /* $externalURL (may be NULL) */
    double value;                              /* $value / .Value */
};

/* Parses text. @return 0 and *out, or -1 with a message naming the column
 * and what was expected in err ("1:14: unexpected \"}\" in operand"),
 * or -ENOMEM. */
int tmpl_parse(const char *text, struct tmpl **out /* OUT */, char *err, size_t errcap);

/* Executes t over d. @return the malloc'd output, or NULL with a message in
 * err (e.g. a function given the wrong type); NULL with err "" = ENOMEM. */
char *tmpl_exec(const struct tmpl *t, const struct tmpl_data *d, char *err, size_t errcap);

void tmpl_free(struct tmpl *t);

/* Parse and execute in one go, as Prometheus expands alert labels and
 * annotations: on any error the result is the text
 * "<error expanding template: MESSAGE>" (Prometheus' wording), so a bad
 * annotation is visible in the page rather than dropped. @return malloc'd
 * text, NULL only on ENOMEM. */
char *tmpl_expand(const char *text, const struct tmpl_data *d);

#endif
