/* rules_int.h — private to query/rules*.c: the per-rule bookkeeping behind
 * struct rule.priv and the owned label sets the rule engine builds.
 *
 * Design notes
 * - An owned label set ("packed") is one malloc block: the tsdb_label array
 *   followed by the strings it points to, sorted by name. It is freed with
 *   rules__labels_free(), i.e. free(ls->v).
 * - struct rule_priv is created by rules__prepare() (rules_load calls it for
 *   every rule; evaluation calls it for a rule that has none). It holds the
 *   rule's effective labels (group labels overridden by the rule's own, with
 *   their templates parsed once), whether the rule reads an earlier rule's
 *   output, and the series its last successful evaluation wrote. */
#ifndef VIGIL_RULES_INT_H
#define VIGIL_RULES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"
#include "template.h"

/* Resolved alerts are kept this long for notifications (Prometheus'
 * resolvedRetention). */
#define RULES_RESOLVED_RETENTION_MS (15 * 60 * 1000)

/* A label or annotation as written, with its parsed template (NULL when the
 * text has no "{{" or the rule is a recording rule). */
struct rule_text {
    const char *name;  /* points into the rule or group */
    const char *value;
    struct tmpl *tmpl;
};

struct rule_priv {
    struct rule_text *labels; /* group labels overridden by rule labels */
    size_t nlabels;
    struct rule_text *annotations;
    size_t nannotations;
    int reads_earlier;        /* see rule_reads_earlier */
    struct tsdb_labels *prev; /* series written by the last successful
                                 evaluation, packed, sorted */
    size_t nprev;
};

/* What struct rule_group.priv points to: series written by rules that a
 * reload dropped, packed, to be marked stale by the next evaluation. */
struct group_priv {
    struct tsdb_labels *stale;
    size_t nstale;
};

/* Adds a packed copy of ls to g's dropped series. @return 0 or -ENOMEM. */
int rules__group_add_dropped(struct rule_group *g, const struct tsdb_labels *ls);
void rules__group_priv_free(struct rule_group *g);

/* Builds r->priv for rule i of g if it has none. @return 0 or -ENOMEM. */
int rules__prepare(struct rule_group *g, size_t i);
/* Frees r->priv and everything in it. */
void rules__priv_free(struct rule *r);

/* ---- label sets -------------------------------------------------------- */

/* A label set under construction: set() replaces a label of the same name,
 * an empty value removes it (Prometheus' labels.Builder). Values marked
 * owned are malloc'd and freed by the builder. */
struct lbuild {
    struct lbuild_ent {
        const char *name;
        const char *value;
        char *owned; /* == value when the builder frees it */
    } *v;
    size_t n, cap;
};

/* @return 0 or -ENOMEM (then an owned value is freed). */
int lbuild_set(struct lbuild *b, const char *name, const char *value, int owned);
/* Copies every label of ls except __name__ when skip_name. */
int lbuild_add_all(struct lbuild *b, const struct tsdb_labels *ls, int skip_name);
void lbuild_reset(struct lbuild *b);
void lbuild_free(struct lbuild *b);
/* Packs the builder's labels, sorted by name, into *out. @return 0 or
 * -ENOMEM. */
int lbuild_pack(const struct lbuild *b, struct tsdb_labels *out /* OUT */);

/* A packed copy of ls (any order; the copy is sorted). @return 0 or
 * -ENOMEM. */
int rules__labels_dup(const struct tsdb_labels *ls, struct tsdb_labels *out /* OUT */);
void rules__labels_free(struct tsdb_labels *ls);
/* Orders sorted label sets (output_labels_cmp). */
int rules__labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b);
/* The value of label name in ls, or NULL. */
const char *rules__label_get(const struct tsdb_labels *ls, const char *name);

/* Frees the alerts of r and empties the list. */
void rules__alerts_clear(struct rule *r);
void rules__alert_free(struct alert *a);

/* 1 if s is a valid metric name, [a-zA-Z_:][a-zA-Z0-9_:]*. */
int rules__metric_name_valid(const char *s);

#endif
