/* relabel.h — Prometheus relabeling (relabel_configs and
 * metric_relabel_configs): rules applied in order to a label set, each
 * possibly rewriting it or dropping it. Semantics and defaults exactly as
 * Prometheus' relabel package. */
#ifndef VIGIL_RELABEL_H
#define VIGIL_RELABEL_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb.h"

enum relabel_action {
    RELABEL_REPLACE, RELABEL_KEEP, RELABEL_DROP, RELABEL_HASHMOD,
    RELABEL_LABELMAP, RELABEL_LABELDROP, RELABEL_LABELKEEP,
    RELABEL_LOWERCASE, RELABEL_UPPERCASE, RELABEL_KEEPEQUAL, RELABEL_DROPEQUAL
};

/* One rule. Defaults (relabel_rule_default): action replace, separator ";",
 * regex "(.*)" (anchored at both ends, PCRE2 JIT), replacement "$1",
 * no source labels. */
struct relabel_rule {
    enum relabel_action action;
    char **source_labels;
    size_t nsource;
    char *separator;
    char *target_label;
    char *regex;         /* as written */
    void *re;            /* pcre2_code * compiled from "^(?:regex)$" */
    void *re_data;       /* pcre2_match_data * */
    uint64_t modulus;
    char *replacement;
};

/* Sets the Prometheus defaults (strings are static until replaced with
 * malloc'd ones by the config parser). */
void relabel_rule_default(struct relabel_rule *r /* OUT */);
/* Compiles r->regex and checks the rule (e.g. hashmod needs modulus and
 * target_label). @return 0, or -EINVAL with a message in err. */
int relabel_rule_prepare(struct relabel_rule *r, char *err, size_t errlen);
void relabel_rule_free(struct relabel_rule *r);

/* A label set being relabeled: owns its strings, kept sorted by name. */
struct relabel_labels {
    struct tsdb_label *v;  /* strings malloc'd */
    size_t len, cap;
};
int relabel_labels_set(struct relabel_labels *ls, const char *name, const char *value);
const char *relabel_labels_get(const struct relabel_labels *ls, const char *name); /* "" if absent */
void relabel_labels_clear(struct relabel_labels *ls);
void relabel_labels_free(struct relabel_labels *ls);

/* Applies rules[0..n) to ls in place. @return 1 to keep the set, 0 when a
 * rule dropped it, or -ENOMEM. Labels whose value becomes "" are removed. */
int relabel_apply(const struct relabel_rule *rules, size_t n, struct relabel_labels *ls);

#endif
