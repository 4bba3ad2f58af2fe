/* ruletest_int.h — the parsed form of a promtool rule unit-test file,
 * shared by the YAML reader (ruletest_parse.c) and the runner
 * (ruletest.c). Not for other modules: they use ruletest.h. */
#ifndef VIGIL_RULETEST_INT_H
#define VIGIL_RULETEST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "series_notation.h"
#include "tsdb.h"

/* One input_series entry: labels sorted by name, values at i * interval. */
struct rt_series {
    struct tsdb_labels labels;
    struct series_value *vals;
    size_t nvals;
    int native;                     /* {{...}} values (not stored) */
};

/* One exp_alerts entry; labels include alertname; both sorted by name. */
struct rt_exp_alert {
    struct tsdb_labels labels, annotations;
};

struct rt_alert_case {
    int64_t eval_ms;
    char *alertname;
    struct rt_exp_alert *exp;
    size_t nexp;
};

/* One exp_samples entry: labels parsed from the selector string. */
struct rt_exp_sample {
    struct tsdb_labels labels;
    double value;
};

struct rt_expr_case {
    char *expr;
    int64_t eval_ms;
    struct rt_exp_sample *exp;
    size_t nexp;
    int native;                     /* a `histogram:` expectation */
};

/* One entry of tests:. */
struct rt_group {
    char *name;                     /* `name:`; NULL if not given */
    int64_t interval_ms;            /* default: the file's evaluation_interval */
    struct rt_series *series;
    size_t nseries;
    struct rt_alert_case *alerts;
    size_t nalerts;
    struct rt_expr_case *exprs;
    size_t nexprs;
    struct tsdb_labels external_labels; /* sorted; may be empty */
    char *external_url;             /* NULL if not given */
};

struct rt_file {
    char **rule_files;              /* resolved against the test file's dir */
    size_t nrule_files;
    int64_t eval_interval_ms;       /* default 1m */
    char **group_order;             /* group_eval_order */
    size_t ngroup_order;
    struct rt_group *groups;
    size_t ngroups;
};

/* Reads the test file at path (promtool's format, unknown keys rejected).
 * @return 0 and *out, or -EINVAL with "path:line:col: message" in err, or
 * another negative errno (message in err). On error *out is freed. */
int ruletest__parse(const char *path, struct rt_file *out /* OUT */, char *err, size_t errcap);

void ruletest__file_free(struct rt_file *f);

#endif
