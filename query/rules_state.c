/* rules_state.c — alert state that outlives a rule set: carried over a
 * reload (rule_set_carry_state) and saved to / restored from a JSON file
 * across restarts (rules_state_save, rules_state_restore).
 *
 * State file (version 1), written atomically:
 *   {"version": 1, "groups": [{"file": F, "name": N, "rules": [
 *     {"index": I, "kind": "alerting", "name": A, "expr": E, "alerts": [
 *       {"labels": {..}, "annotations": {..}, "state": "pending"|"firing"|
 *        "inactive", "value": "1.5" (a string: NaN and Inf survive),
 *        "active_at_ms": .., "fired_at_ms": .., "resolved_at_ms": ..,
 *        "last_sent_ms": .., "valid_until_ms": .., "keep_firing_since_ms": ..}
 *     ]}]}]}
 * Only alerting rules with alerts are written. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules_int.h"

/* ---- reload --------------------------------------------------------------- */

static int pairs_equal(const struct tsdb_label *a, size_t na, const struct tsdb_label *b,
                       size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        size_t k = 0;
        while (k < nb && strcmp(a[i].name, b[k].name))
            k++;
        if (k == nb || strcmp(a[i].value, b[k].value))
            return 0;
    }
    return 1;
}

static int same_rule(const struct rule *a, const struct rule *b)
{
    return a->kind == b->kind && a->name && b->name && !strcmp(a->name, b->name) &&
           a->expr_text && b->expr_text && !strcmp(a->expr_text, b->expr_text) &&
           pairs_equal(a->labels, a->nlabels, b->labels, b->nlabels) &&
           pairs_equal(a->annotations, a->nannotations, b->annotations, b->nannotations);
}

static int alert_copy(const struct alert *src, struct alert *dst)
{
    *dst = *src;
    dst->labels.v = NULL;
    dst->annotations.v = NULL;
    if (rules__labels_dup(&src->labels, &dst->labels) ||
        rules__labels_dup(&src->annotations, &dst->annotations)) {
        rules__alert_free(dst);
        return -ENOMEM;
    }
    return 0;
}

/* Copies the state of from into to (prepared). @return 0 or -ENOMEM. */
static int copy_rule_state(struct rule *to, const struct rule *from)
{
    struct rule_priv *tp = to->priv;
    const struct rule_priv *fp = from->priv;
    rules__alerts_clear(to);
    free(to->alerts);
    to->alerts = calloc(from->nalerts + 1, sizeof *to->alerts);
    if (!to->alerts)
        return -ENOMEM;
    for (; to->nalerts < from->nalerts; to->nalerts++)
        if (alert_copy(&from->alerts[to->nalerts], &to->alerts[to->nalerts]))
            return -ENOMEM;
    to->health = from->health;
    free(to->last_error);
    to->last_error = from->last_error ? strdup(from->last_error) : NULL;
    to->last_eval_ms = from->last_eval_ms;
    to->last_eval_seconds = from->last_eval_seconds;
    to->last_samples = from->last_samples;
    if (!fp || !fp->nprev)
        return 0;
    tp->prev = calloc(fp->nprev, sizeof *tp->prev);
    if (!tp->prev)
        return -ENOMEM;
    for (; tp->nprev < fp->nprev; tp->nprev++)
        if (rules__labels_dup(&fp->prev[tp->nprev], &tp->prev[tp->nprev]))
            return -ENOMEM;
    return 0;
}

static void carry_group(struct rule_group *to, const struct rule_group *from)
{
    char *used = calloc(from->nrules + 1, 1);
    if (!used)
        return;
    to->last_eval_ms = from->last_eval_ms;
    to->last_eval_seconds = from->last_eval_seconds;
    to->eval_total = from->eval_total;
    to->eval_failures = from->eval_failures;
    for (size_t i = 0; i < to->nrules; i++) {
        if (rules__prepare(to, i))
            break;
        /* The identical rule at the same index (an unchanged file), else
         * the first identical one not taken yet. */
        for (size_t j = 0; j <= from->nrules; j++) {
            size_t k = j ? j - 1 : i;
            if (k >= from->nrules || used[k] || !same_rule(&to->rules[i], &from->rules[k]))
                continue;
            used[k] = 1;
            copy_rule_state(&to->rules[i], &from->rules[k]);
            break;
        }
    }
    /* What the rules without a match wrote goes stale at the next
     * evaluation, with what an earlier reload left to mark. */
    for (size_t k = 0; k < from->nrules; k++) {
        const struct rule_priv *fp = from->rules[k].priv;
        for (size_t s = 0; !used[k] && fp && s < fp->nprev; s++)
            rules__group_add_dropped(to, &fp->prev[s]);
    }
    const struct group_priv *gp = from->priv;
    for (size_t s = 0; gp && s < gp->nstale; s++)
        rules__group_add_dropped(to, &gp->stale[s]);
    free(used);
}

static int same_group(const struct rule_group *a, const struct rule_group *b)
{
    return a->name && b->name && a->file && b->file && !strcmp(a->name, b->name) &&
           !strcmp(a->file, b->file);
}

void rule_set_carry_state(struct rule_set *to, const struct rule_set *from)
{
    for (size_t i = 0; i < to->ngroups; i++)
        for (size_t k = 0; k < from->ngroups; k++)
            if (same_group(&to->groups[i], &from->groups[k])) {
                carry_group(&to->groups[i], &from->groups[k]);
                break;
            }
}

/* ---- saving ------------------------------------------------------------------ */

static json_t *labels_json(const struct tsdb_labels *ls)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < ls->len; i++)
        if (json_object_set_new(o, ls->v[i].name, json_string(ls->v[i].value))) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static json_t *alert_json(const struct alert *a)
{
    char value[40];
    snprintf(value, sizeof value, "%.17g", a->value);
    return json_pack("{s:o?, s:o?, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "labels",
                     labels_json(&a->labels), "annotations", labels_json(&a->annotations),
                     "state", alert_state_name(a->state), "value", value, "active_at_ms",
                     (json_int_t)a->active_at_ms, "fired_at_ms", (json_int_t)a->fired_at_ms,
                     "resolved_at_ms", (json_int_t)a->resolved_at_ms, "last_sent_ms",
                     (json_int_t)a->last_sent_ms, "valid_until_ms",
                     (json_int_t)a->valid_until_ms, "keep_firing_since_ms",
                     (json_int_t)a->keep_firing_since_ms);
}

static json_t *group_json(const struct rule_group *g)
{
    json_t *rules = json_array();
    for (size_t i = 0; rules && i < g->nrules; i++) {
        const struct rule *r = &g->rules[i];
        if (r->kind != RULE_ALERTING || !r->nalerts)
            continue;
        json_t *alerts = json_array();
        for (size_t k = 0; alerts && k < r->nalerts; k++)
            if (json_array_append_new(alerts, alert_json(&r->alerts[k]))) {
                json_decref(alerts);
                alerts = NULL;
            }
        if (json_array_append_new(rules, json_pack("{s:I, s:s, s:s?, s:s?, s:o?}", "index",
                                                   (json_int_t)i, "kind", "alerting", "name",
                                                   r->name, "expr", r->expr_text, "alerts",
                                                   alerts))) {
            json_decref(rules);
            return NULL;
        }
    }
    return json_pack("{s:s?, s:s?, s:o?}", "file", g->file, "name", g->name, "rules", rules);
}

int rules_state_save(const struct rule_set *rs, const char *path)
{
    json_t *groups = json_array();
    for (size_t i = 0; groups && i < rs->ngroups; i++)
        if (json_array_append_new(groups, group_json(&rs->groups[i]))) {
            json_decref(groups);
            groups = NULL;
        }
    json_t *root = json_pack("{s:i, s:o?}", "version", 1, "groups", groups);
    if (!root || !groups) {
        json_decref(root);
        return -ENOMEM;
    }
    size_t len = strlen(path) + 8;
    char *tmp = malloc(len);
    int rc = 0;
    if (!tmp) {
        json_decref(root);
        return -ENOMEM;
    }
    snprintf(tmp, len, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        rc = -errno;
    else if (json_dumpfd(root, fd, JSON_COMPACT) || write(fd, "\n", 1) != 1)
        rc = -EIO;
    else if (fsync(fd))
        rc = -errno;
    if (fd >= 0 && close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (rc && fd >= 0)
        unlink(tmp);
    free(tmp);
    json_decref(root);
    return rc;
}

/* ---- restoring ---------------------------------------------------------------- */

struct restore {
    const char *path;
    char *err;
    size_t cap;
    int apply; /* 0: check the whole file first; 1: change the rules */
};

static int bad(struct restore *st, const char *what)
{
    snprintf(st->err, st->cap, "%s: %s", st->path, what);
    return -EINVAL;
}

static int labels_from(json_t *o, struct tsdb_labels *out)
{
    if (!json_is_object(o))
        return -EINVAL;
    size_t n = json_object_size(o), k = 0;
    struct tsdb_label *v = calloc(n + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach(o, key, val)
    {
        if (!json_is_string(val) || !tsdb_label_name_valid(key)) {
            rc = -EINVAL;
            break;
        }
        v[k].name = key;
        v[k++].value = json_string_value(val);
    }
    struct tsdb_labels tmp = {k, v};
    if (!rc)
        rc = rules__labels_dup(&tmp, out);
    free(v);
    return rc;
}

static int alert_from(json_t *j, struct alert *a)
{
    static const char *const names[] = {"active_at_ms", "fired_at_ms", "resolved_at_ms",
                                        "last_sent_ms", "valid_until_ms",
                                        "keep_firing_since_ms"};
    int64_t *fields[] = {&a->active_at_ms, &a->fired_at_ms, &a->resolved_at_ms,
                         &a->last_sent_ms, &a->valid_until_ms, &a->keep_firing_since_ms};
    memset(a, 0, sizeof *a);
    const char *state = json_string_value(json_object_get(j, "state"));
    const char *value = json_string_value(json_object_get(j, "value"));
    if (!state || !value)
        return -EINVAL;
    if (!strcmp(state, "pending"))
        a->state = ALERT_PENDING;
    else if (!strcmp(state, "firing"))
        a->state = ALERT_FIRING;
    else if (strcmp(state, "inactive"))
        return -EINVAL;
    char *end;
    a->value = strtod(value, &end);
    if (end == value || *end)
        return -EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        json_t *v = json_object_get(j, names[i]);
        /* Times as the store accepts them, so arithmetic on them is safe. */
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (INT64_C(1) << 62))
            return -EINVAL;
        *fields[i] = json_integer_value(v);
    }
    int rc = labels_from(json_object_get(j, "labels"), &a->labels);
    if (!rc)
        rc = labels_from(json_object_get(j, "annotations"), &a->annotations);
    if (rc)
        rules__alert_free(a);
    return rc;
}

static int alert_order(const void *x, const void *y)
{
    return rules__labels_cmp(&((const struct alert *)x)->labels,
                             &((const struct alert *)y)->labels);
}

/* Reads the alerts of a saved rule into r (when st->apply). */
static int restore_alerts(struct restore *st, json_t *alerts, struct rule *r)
{
    if (!json_is_array(alerts))
        return bad(st, "a rule's alerts are not a list");
    size_t n = json_array_size(alerts);
    struct alert *v = calloc(n + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    size_t k = 0;
    int rc = 0;
    for (; rc == 0 && k < n; k++)
        if ((rc = alert_from(json_array_get(alerts, k), &v[k])))
            break;
    if (rc == 0) {
        if (k) /* qsort(NULL, 0) is undefined */
            qsort(v, k, sizeof *v, alert_order);
        for (size_t i = 1; rc == 0 && i < k; i++)
            if (!alert_order(&v[i - 1], &v[i]))
                rc = -EINVAL;
    }
    if (rc == 0 && st->apply && r) {
        rules__alerts_clear(r);
        free(r->alerts);
        r->alerts = v;
        r->nalerts = k;
        return 0;
    }
    for (size_t i = 0; i < k; i++)
        rules__alert_free(&v[i]);
    free(v);
    return rc == -EINVAL ? bad(st, "an alert is malformed (labels, state, value or times)") : rc;
}

static int restore_group(struct restore *st, json_t *jg, struct rule_set *rs)
{
    const char *file = json_string_value(json_object_get(jg, "file"));
    const char *name = json_string_value(json_object_get(jg, "name"));
    json_t *rules = json_object_get(jg, "rules");
    if (!file || !name || !json_is_array(rules))
        return bad(st, "a group lacks file, name or rules");
    struct rule_group *g = NULL;
    for (size_t i = 0; !g && i < rs->ngroups; i++)
        if (rs->groups[i].file && rs->groups[i].name && !strcmp(rs->groups[i].file, file) &&
            !strcmp(rs->groups[i].name, name))
            g = &rs->groups[i];
    size_t i;
    json_t *jr;
    json_array_foreach(rules, i, jr)
    {
        json_t *idx = json_object_get(jr, "index");
        const char *kind = json_string_value(json_object_get(jr, "kind"));
        const char *rname = json_string_value(json_object_get(jr, "name"));
        const char *expr = json_string_value(json_object_get(jr, "expr"));
        if (!json_is_integer(idx) || !kind || !rname || !expr)
            return bad(st, "a rule lacks index, kind, name or expr");
        json_int_t ri = json_integer_value(idx);
        struct rule *r = g && ri >= 0 && (size_t)ri < g->nrules ? &g->rules[ri] : NULL;
        if (r && (r->kind != RULE_ALERTING || strcmp(kind, "alerting") || !r->name ||
                  strcmp(r->name, rname) || !r->expr_text || strcmp(r->expr_text, expr)))
            r = NULL; /* the rule changed: it starts empty */
        int rc = restore_alerts(st, json_object_get(jr, "alerts"), r);
        if (rc)
            return rc;
    }
    return 0;
}

int rules_state_restore(struct rule_set *rs, const char *path, char *err, size_t errcap)
{
    json_error_t je;
    struct restore st = {path, err, errcap, 0};
    if (errcap)
        err[0] = '\0';
    if (access(path, F_OK) && errno == ENOENT)
        return 0;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errcap, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -EINVAL;
    }
    json_t *groups = json_object_get(root, "groups");
    json_t *version = json_object_get(root, "version");
    int rc = 0;
    if (!json_is_integer(version) || json_integer_value(version) != 1 || !json_is_array(groups))
        rc = bad(&st, "not a version 1 state file (version, groups)");
    for (st.apply = 0; rc == 0 && st.apply < 2; st.apply++) {
        size_t i;
        json_t *jg;
        json_array_foreach(groups, i, jg) if ((rc = restore_group(&st, jg, rs))) break;
    }
    json_decref(root);
    return rc;
}
