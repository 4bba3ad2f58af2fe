/* rules_load.c — Prometheus rule files (YAML) into struct rule_set, with
 * promtool's validation: every problem is reported as "file:line:col:
 * message" and nothing is loaded unless every file is clean. */
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "rules_int.h"
#include "timefmt.h"
#include "yamlwalk.h"

/* ---- errors --------------------------------------------------------------- */

struct errs {
    char *text;
    size_t len, cap;
    unsigned count;
    int nomem;
};

static void err_add(struct errs *e, const char *file, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[1024], line[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int n = m ? snprintf(line, sizeof line, "%s:%zu:%zu: %s\n", file, m->line + 1, m->column + 1,
                         msg)
              : snprintf(line, sizeof line, "%s: %s\n", file, msg);
    size_t len = n < (int)sizeof line ? (size_t)n : sizeof line - 1;
    line[len - 1] = '\n';
    e->count++;
    if (e->len + len + 1 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 1024;
        while (cap < e->len + len + 1)
            cap *= 2;
        char *p = realloc(e->text, cap);
        if (!p) {
            e->nomem = 1;
            return;
        }
        e->text = p;
        e->cap = cap;
    }
    memcpy(e->text + e->len, line, len + 1);
    e->len += len;
}

/* ---- YAML helpers ----------------------------------------------------------- */

struct walk {
    yaml_document_t *doc;
    const char *file;
    struct errs *e;
};

#define ERR(w, node, ...) err_add((w)->e, (w)->file, &(node)->start_mark, __VA_ARGS__)

static yaml_node_t *node(struct walk *w, int id)
{
    return yaml_document_get_node(w->doc, id);
}

/* The text of a scalar node, or NULL after reporting what was expected. */
static const char *scalar(struct walk *w, const yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        ERR(w, n, "%s must be a string, not a %s", what,
            n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        ERR(w, n, "%s must not contain NUL bytes", what);
        return NULL;
    }
    return s;
}

/* 1 when an earlier key of mapping m equals the key of pair p (reported). */
static int dup_key(struct walk *w, const yaml_node_t *m, const yaml_node_pair_t *p)
{
    const yaml_node_t *k = node(w, p->key);
    const char *key = (const char *)k->data.scalar.value;
    if (!yamlwalk_key_before(w->doc, m, p, key))
        return 0;
    ERR(w, k, "duplicate key '%s'", key);
    return 1;
}

/* Checks that n is a mapping whose keys are plain, unique and in keys (a
 * NULL-terminated list); reports every bad key. @return 0 if n is a
 * mapping (even with bad keys), -1 if not. */
static int check_map(struct walk *w, const yaml_node_t *n, const char *what,
                     const char *const *keys)
{
    if (n->type != YAML_MAPPING_NODE) {
        ERR(w, n, "%s must be a mapping", what);
        return -1;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node(w, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            ERR(w, k, "keys of %s must be plain names", what);
            continue;
        }
        if (dup_key(w, n, p))
            continue;
        const char *key = (const char *)k->data.scalar.value;
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], key))
            i++;
        if (!keys[i]) {
            char known[256] = "";
            for (size_t j = 0; keys[j]; j++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                         j ? ", " : "", keys[j]);
            ERR(w, k, "unknown key '%s' in %s (known: %s)", key, what, known);
        }
    }
    return 0;
}

/* The value of key in mapping n (first occurrence), or NULL. */
static yaml_node_t *get(struct walk *w, const yaml_node_t *n, const char *key)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node(w, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return node(w, p->value);
    }
    return NULL;
}

static int get_duration(struct walk *w, const yaml_node_t *n, const char *what, int64_t *ms)
{
    const char *s = scalar(w, n, what);
    if (!s)
        return -1;
    int rc = timefmt_parse_duration(s, strlen(s), ms);
    if (rc)
        ERR(w, n, "%s: %s duration '%s' (expected e.g. 30s, 5m, 1h30m)", what,
            rc == -ERANGE ? "too long a" : "bad", s);
    return rc ? -1 : 0;
}

/* Reads a mapping of names to strings (labels, annotations) into *out as
 * malloc'd pairs. kind is "label" or "annotation". @return 0, -1 after a
 * reported problem, -ENOMEM. */
static int get_pairs(struct walk *w, const yaml_node_t *n, const char *kind,
                     struct tsdb_label **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (yamlwalk_is_null(n))
        return 0;
    char what[32];
    snprintf(what, sizeof what, "%ss", kind);
    if (n->type != YAML_MAPPING_NODE) {
        ERR(w, n, "%s must be a mapping of names to strings", what);
        return -1;
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    struct tsdb_label *v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    int bad = 0;
    size_t k = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(w, p->key), *vn = node(w, p->value);
        const char *name = scalar(w, kn, what);
        if (!name || dup_key(w, n, p)) {
            bad = 1;
            continue;
        }
        if (!tsdb_label_name_valid(name) || !strcmp(name, "__name__")) {
            ERR(w, kn, "invalid %s name: %s", kind, name);
            bad = 1;
            continue;
        }
        const char *value = yamlwalk_is_null(vn) ? "" : scalar(w, vn, what);
        if (!value) {
            bad = 1;
            continue;
        }
        if (!tsdb_utf8_valid(value, strlen(value))) {
            ERR(w, vn, "invalid %s value for %s: not valid UTF-8", kind, name);
            bad = 1;
            continue;
        }
        v[k].name = strdup(name);
        v[k].value = strdup(value);
        k++;
        if (!v[k - 1].name || !v[k - 1].value) {
            bad = -ENOMEM;
            break;
        }
    }
    *out = v;
    *nout = k;
    return bad < 0 ? bad : bad ? -1 : 0;
}

static void pairs_free(struct tsdb_label *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)v[i].name);
        free((char *)v[i].value);
    }
    free(v);
}

/* Reports a template in v[] that does not parse. @return 0 or -1. */
static int check_templates(struct walk *w, const yaml_node_t *map, const char *what,
                           const struct tsdb_label *v, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct tmpl *t = NULL;
        char msg[256] = "";
        int rc = tmpl_parse(v[i].value, &t, msg, sizeof msg);
        if (t)
            tmpl_free(t);
        if (rc == -ENOMEM)
            return -ENOMEM;
        if (rc) {
            /* Point at the value of the offending entry. */
            const yaml_node_t *at = map;
            for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
                 p < map->data.mapping.pairs.top; p++)
                if (!strcmp((const char *)node(w, p->key)->data.scalar.value, v[i].name))
                    at = node(w, p->value);
            ERR(w, at, "bad template in %s.%s: %s", what, v[i].name, msg);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

/* ---- rules and groups ------------------------------------------------------- */

static const char *const rule_keys[] = {"record", "alert", "expr", "for", "keep_firing_for",
                                        "labels", "annotations", NULL};
static const char *const group_keys[] = {"name", "interval", "query_offset", "limit", "labels",
                                         "rules", NULL};

static void rule_free(struct rule *r)
{
    free(r->name);
    free(r->expr_text);
    promql_expr_free(r->expr);
    pairs_free(r->labels, r->nlabels);
    pairs_free(r->annotations, r->nannotations);
    rules__alerts_clear(r);
    free(r->alerts);
    free(r->last_error);
    rules__priv_free(r);
    memset(r, 0, sizeof *r);
}

static int parse_expr(struct walk *w, const yaml_node_t *n, struct rule *r)
{
    const char *s = scalar(w, n, "expr");
    if (!s)
        return -1;
    if (!*s) {
        ERR(w, n, "field 'expr' must be set in rule");
        return -1;
    }
    struct promql_error pe;
    int rc = promql_parse(s, &r->expr, &pe);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        char msg[400];
        promql_error_format(&pe, msg, sizeof msg);
        ERR(w, n, "could not parse expression: %s", msg);
        return -1;
    }
    enum promql_type t = r->expr->root->type;
    if (t != PROMQL_TYPE_VECTOR && t != PROMQL_TYPE_SCALAR) {
        ERR(w, n, "expression must be of type instant vector or scalar, got %s",
            promql_type_name(t));
        return -1;
    }
    r->expr_text = strdup(s);
    return r->expr_text ? 0 : -ENOMEM;
}

/* Fills r from rule mapping n. @return 0, -1 after reported problems, or
 * -ENOMEM. */
static int parse_rule(struct walk *w, const yaml_node_t *n, struct rule *r)
{
    if (check_map(w, n, "a rule", rule_keys))
        return -1;
    int bad = w->e->count;
    int rc = 0;
    r->line = (int)n->start_mark.line + 1;
    yaml_node_t *rec = get(w, n, "record"), *alert = get(w, n, "alert");
    yaml_node_t *expr = get(w, n, "expr"), *lab = get(w, n, "labels");
    yaml_node_t *ann = get(w, n, "annotations"), *fr = get(w, n, "for");
    yaml_node_t *kff = get(w, n, "keep_firing_for");
    if (rec && alert)
        ERR(w, n, "only one of 'record' and 'alert' must be set");
    else if (!rec && !alert)
        ERR(w, n, "one of 'record' or 'alert' must be set");
    r->kind = alert ? RULE_ALERTING : RULE_RECORDING;
    yaml_node_t *namen = alert ? alert : rec;
    const char *name = namen ? scalar(w, namen, alert ? "alert" : "record") : NULL;
    if (name && rec && !alert && !rules__metric_name_valid(name))
        ERR(w, namen, "invalid recording rule name: %s", name);
    else if (name && alert && (!*name || !tsdb_utf8_valid(name, strlen(name))))
        ERR(w, namen, "invalid alert name: '%s'", name);
    if (name && !(r->name = strdup(name)))
        return -ENOMEM;
    if (!expr)
        ERR(w, n, "field 'expr' must be set in rule");
    else if ((rc = parse_expr(w, expr, r)) == -ENOMEM)
        return rc;
    if (r->kind == RULE_RECORDING) {
        if (fr)
            ERR(w, fr, "invalid field 'for' in recording rule");
        if (kff)
            ERR(w, kff, "invalid field 'keep_firing_for' in recording rule");
        if (ann)
            ERR(w, ann, "invalid field 'annotations' in recording rule");
    } else {
        if (fr && !yamlwalk_is_null(fr))
            get_duration(w, fr, "for", &r->for_ms);
        if (kff && !yamlwalk_is_null(kff))
            get_duration(w, kff, "keep_firing_for", &r->keep_firing_for_ms);
    }
    if (lab && (rc = get_pairs(w, lab, "label", &r->labels, &r->nlabels)) == -ENOMEM)
        return rc;
    if (lab && rc == 0 && r->kind == RULE_ALERTING &&
        check_templates(w, lab, "labels", r->labels, r->nlabels) == -ENOMEM)
        return -ENOMEM;
    if (ann && r->kind == RULE_ALERTING) {
        rc = get_pairs(w, ann, "annotation", &r->annotations, &r->nannotations);
        if (rc == -ENOMEM)
            return rc;
        if (rc == 0 && check_templates(w, ann, "annotations", r->annotations,
                                       r->nannotations) == -ENOMEM)
            return -ENOMEM;
    }
    return (int)w->e->count == bad ? 0 : -1;
}

static void group_free(struct rule_group *g)
{
    for (size_t i = 0; i < g->nrules; i++)
        rule_free(&g->rules[i]);
    free(g->rules);
    free(g->name);
    free(g->file);
    pairs_free(g->labels, g->nlabels);
    rules__group_priv_free(g);
    memset(g, 0, sizeof *g);
}

static int parse_group(struct walk *w, const yaml_node_t *n, int64_t default_interval_ms,
                       struct rule_group *g)
{
    if (check_map(w, n, "a group", group_keys))
        return -1;
    int rc;
    g->interval_ms = default_interval_ms;
    if (!(g->file = strdup(w->file)))
        return -ENOMEM;
    yaml_node_t *v;
    const char *s;
    if (!(v = get(w, n, "name")) || yamlwalk_is_null(v))
        ERR(w, n, "Groupname must not be empty");
    else if ((s = scalar(w, v, "name")) && !(g->name = strdup(s)))
        return -ENOMEM;
    int64_t ms;
    if ((v = get(w, n, "interval")) && !yamlwalk_is_null(v) && !get_duration(w, v, "interval", &ms) &&
        ms > 0)
        g->interval_ms = ms;
    if ((v = get(w, n, "query_offset")) && !yamlwalk_is_null(v))
        get_duration(w, v, "query_offset", &g->query_offset_ms);
    if ((v = get(w, n, "limit")) && !yamlwalk_is_null(v) && (s = scalar(w, v, "limit"))) {
        char *end;
        errno = 0;
        unsigned long long l = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end || errno)
            ERR(w, v, "limit must be a non-negative integer, not '%s'", s);
        g->limit = l;
    }
    if ((v = get(w, n, "labels")) &&
        (rc = get_pairs(w, v, "label", &g->labels, &g->nlabels)) == -ENOMEM)
        return rc;
    v = get(w, n, "rules");
    if (!v || yamlwalk_is_null(v))
        return 0;
    if (v->type != YAML_SEQUENCE_NODE) {
        ERR(w, v, "rules must be a list of rules");
        return 0;
    }
    size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (cnt && !(g->rules = calloc(cnt, sizeof *g->rules)))
        return -ENOMEM;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        struct rule *r = &g->rules[g->nrules++];
        if ((rc = parse_rule(w, node(w, *it), r)) == -ENOMEM)
            return rc;
    }
    return 0;
}

static int add_group(struct rule_set *rs, struct rule_group *g)
{
    struct rule_group *p = realloc(rs->groups, (rs->ngroups + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    rs->groups = p;
    rs->groups[rs->ngroups++] = *g;
    return 0;
}

static int walk_file(struct walk *w, const yaml_node_t *root, int64_t default_interval_ms,
                     struct rule_set *rs)
{
    static const char *const top_keys[] = {"groups", NULL};
    if (!root || yamlwalk_is_null(root))
        return 0;
    if (check_map(w, root, "a rule file (groups:)", top_keys))
        return 0;
    yaml_node_t *gs = get(w, root, "groups");
    if (!gs || yamlwalk_is_null(gs))
        return 0;
    if (gs->type != YAML_SEQUENCE_NODE) {
        ERR(w, gs, "groups must be a list of groups");
        return 0;
    }
    size_t first = rs->ngroups;
    for (yaml_node_item_t *it = gs->data.sequence.items.start; it < gs->data.sequence.items.top;
         it++) {
        struct rule_group g = {0};
        const yaml_node_t *gn = node(w, *it);
        int rc = parse_group(w, gn, default_interval_ms, &g);
        if (rc == 0 || rc == -1) {
            for (size_t i = first; g.name && i < rs->ngroups; i++)
                if (rs->groups[i].name && !strcmp(rs->groups[i].name, g.name)) {
                    ERR(w, gn, "groupname: \"%s\" is repeated in the same file", g.name);
                    break;
                }
            rc = add_group(rs, &g);
        }
        if (rc == -ENOMEM) {
            group_free(&g);
            return rc;
        }
    }
    return 0;
}

static int load_file(const char *path, int64_t default_interval_ms, struct rule_set *rs,
                     struct errs *e)
{
    yaml_document_t doc;
    struct yamlwalk_syntax bad;
    int rc = yamlwalk_load_file(path, &doc, &bad);
    if (rc == -EINVAL) {
        err_add(e, path, &bad.mark, "YAML syntax: %s%s%s", bad.problem ? bad.problem : "error",
                bad.context ? " " : "", bad.context ? bad.context : "");
        return 0;
    }
    if (rc < 0) {
        if (rc != -ENOMEM)
            err_add(e, path, NULL, "cannot read: %s", strerror(-rc));
        return rc;
    }
    struct walk w = {&doc, path, e};
    rc = walk_file(&w, yaml_document_get_root_node(&doc), default_interval_ms, rs);
    yaml_document_delete(&doc);
    return rc == -ENOMEM ? rc : 0;
}

/* ---- the public entry points ---------------------------------------------- */

static int has_glob_chars(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int seen(char **files, size_t n, const char *f)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(files[i], f))
            return 1;
    return 0;
}

/* Appends the files matching every glob, in glob order, without repeats. */
static int expand_globs(const char *const *globs, size_t nglobs, char ***files, size_t *nfiles,
                        struct errs *e)
{
    for (size_t i = 0; i < nglobs; i++) {
        glob_t gl;
        int rc = glob(globs[i], 0, NULL, &gl);
        if (rc == GLOB_NOSPACE)
            return -ENOMEM;
        if (rc == GLOB_NOMATCH && !has_glob_chars(globs[i]))
            err_add(e, globs[i], NULL, "cannot read: %s", strerror(ENOENT));
        else if (rc == GLOB_ABORTED)
            err_add(e, globs[i], NULL, "cannot read the directory of this pattern");
        for (size_t k = 0; rc == 0 && k < gl.gl_pathc; k++) {
            if (seen(*files, *nfiles, gl.gl_pathv[k]))
                continue;
            char **p = realloc(*files, (*nfiles + 1) * sizeof *p);
            char *s = p ? strdup(gl.gl_pathv[k]) : NULL;
            if (p)
                *files = p;
            if (!s) {
                globfree(&gl);
                return -ENOMEM;
            }
            (*files)[(*nfiles)++] = s;
        }
        if (rc == 0)
            globfree(&gl);
    }
    return 0;
}

int rules_load(const char *const *globs, size_t nglobs, int64_t default_interval_ms,
               struct rule_set *out, char **errors)
{
    struct errs e = {0};
    char **files = NULL;
    size_t nfiles = 0;
    memset(out, 0, sizeof *out);
    *errors = NULL;
    int rc = expand_globs(globs, nglobs, &files, &nfiles, &e);
    for (size_t i = 0; rc == 0 && i < nfiles; i++)
        rc = load_file(files[i], default_interval_ms, out, &e);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    for (size_t gi = 0; rc == 0 && !e.count && gi < out->ngroups; gi++)
        for (size_t ri = 0; rc == 0 && ri < out->groups[gi].nrules; ri++)
            rc = rules__prepare(&out->groups[gi], ri);
    if (rc == 0 && e.nomem)
        rc = -ENOMEM;
    if (rc == 0 && e.count)
        rc = -EINVAL;
    if (rc) {
        rule_set_free(out);
        if (rc == -EINVAL)
            *errors = e.text;
        else
            free(e.text);
        return rc;
    }
    free(e.text);
    return 0;
}

void rule_set_free(struct rule_set *rs)
{
    for (size_t i = 0; i < rs->ngroups; i++)
        group_free(&rs->groups[i]);
    free(rs->groups);
    memset(rs, 0, sizeof *rs);
}
