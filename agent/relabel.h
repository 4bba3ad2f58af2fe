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
 * regex "(.*)" (anchored at both ends, "." also matches a newline, PCRE2
 * JIT), replacement "$1", no source labels, target_label "" (never NULL).
 * re_data is per rule: a rule list is used by one thread at a time. */
struct relabel_rule {
    enum relabel_action action;
    char **source_labels;
    size_t nsource;
    char *separator;
    char *target_label;
    char *regex;         /* as written */
    void *re;            /* pcre2_code *, anchored at both ends */
    void *re_data;       /* pcre2_match_data * */
    uint64_t modulus;
    char *replacement;
};

/* Sets the Prometheus defaults (strings are static until replaced with
 * malloc'd ones by the config parser). */
void relabel_rule_default(struct relabel_rule *r /* OUT */);
/* Checks the rule as Prometheus does when it loads one (hashmod needs a
 * modulus, replace a valid target_label, labeldrop only a regex, ...) and
 * compiles r->regex. @return 0, or -EINVAL (or -ENOMEM) with a message in
 * err: Prometheus' wording, PCRE2's message for a bad regex. */
int relabel_rule_prepare(struct relabel_rule *r, char *err, size_t errlen);
/* Frees what r owns (not the static defaults) and resets it to defaults. */
void relabel_rule_free(struct relabel_rule *r);
/* relabel_rule_free on each of the n rules of v, then frees the array. */
void relabel_rules_free(struct relabel_rule *v, size_t n);
/* Deep copy of src (compiled again when src was prepared).
 * @return 0 or -ENOMEM (dst is then left at the defaults). */
int relabel_rule_copy(struct relabel_rule *dst /* OUT */, const struct relabel_rule *src);

/* "replace", "keep", ... for a; parse accepts any letter case, as
 * Prometheus. @return 0 and *a, or -EINVAL. */
const char *relabel_action_name(enum relabel_action a);
int relabel_action_parse(const char *s, enum relabel_action *a /* OUT */);

/* RFC 1321 MD5 of data[0..len) (hashmod uses its last 8 bytes). */
void relabel_md5(const void *data, size_t len, unsigned char out[16] /* OUT */);

/* A label set being relabeled: owns its strings, kept sorted by name. */
struct relabel_labels {
    struct tsdb_label *v;  /* strings malloc'd */
    size_t len, cap;
};
/* Sets name=value (copies both); value "" removes the label.
 * @return 0 or -ENOMEM. */
int relabel_labels_set(struct relabel_labels *ls, const char *name, const char *value);
const char *relabel_labels_get(const struct relabel_labels *ls, const char *name); /* "" if absent */
void relabel_labels_clear(struct relabel_labels *ls);
void relabel_labels_free(struct relabel_labels *ls);

/* Applies rules[0..n) (prepared) to ls in place, each rule seeing the
 * result of the previous one. @return 1 to keep the set, 0 when a rule
 * dropped it, or -ENOMEM. Labels whose value becomes "" are removed. */
int relabel_apply(const struct relabel_rule *rules, size_t n, struct relabel_labels *ls);

#endif
