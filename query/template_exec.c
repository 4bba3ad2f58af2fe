/* template_exec.c — executes a parsed template (template.c) over one
 * alert's data with Go text/template semantics as Prometheus configures
 * them (missingkey=zero: a missing label is ""). Output is bounded by
 * TMPL_OUTPUT_MAX_BYTES and work by a step budget. */
#include "template_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nodes, commands and range iterations executed before execution gives
 * up: bounds the time a `range` over a large integer can take (a few
 * milliseconds, or some tens with a regular expression in the loop). */
#define EXEC_MAX_STEPS 100000

struct var {
    const char *name;
    struct tmpl_value v;
};

struct exec {
    const struct tmpl *t;
    const struct tmpl_data *data;
    struct tmpl_buf out;
    struct tmpl_call call; /* arena for strings made while executing */
    struct tmpl_arena arena;
    struct var *vars;
    size_t nvars, vars_cap;
    size_t vars_floor; /* a {{template}} call sees vars[vars_floor..] only */
    int depth;         /* nested {{template}} calls */
    long steps;
    char *err;
    size_t errcap;
    int failed, nomem;
};

static int errf(struct exec *x, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int errf(struct exec *x, size_t pos, const char *fmt, ...)
{
    if (x->failed)
        return -1;
    x->failed = 1;
    int line, col;
    tmpl__linecol(x->t->src, pos, &line, &col);
    int n = snprintf(x->err, x->errcap, "%d:%d: ", line, col);
    if (n >= 0 && (size_t)n < x->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->err + n, x->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int nomem(struct exec *x)
{
    x->nomem = 1;
    x->failed = 1;
    return -1;
}

static int step(struct exec *x, size_t pos)
{
    if (++x->steps > EXEC_MAX_STEPS)
        return errf(x, pos, "template execution exceeds %d steps", EXEC_MAX_STEPS);
    return 0;
}

/* Declares name = v, or assigns v to the innermost name in scope. */
static int var_set(struct exec *x, size_t pos, const char *name, const struct tmpl_value *v,
                   int declare)
{
    if (!declare) {
        for (size_t i = x->nvars; i-- > x->vars_floor;)
            if (!strcmp(x->vars[i].name, name)) {
                x->vars[i].v = *v;
                return 0;
            }
        return errf(x, pos, "undefined variable: %s", name);
    }
    if (x->nvars == x->vars_cap) {
        size_t cap = x->vars_cap ? x->vars_cap * 2 : 16;
        struct var *nv = realloc(x->vars, cap * sizeof *nv);
        if (!nv)
            return nomem(x);
        x->vars = nv;
        x->vars_cap = cap;
    }
    x->vars[x->nvars].name = name;
    x->vars[x->nvars].v = *v;
    x->nvars++;
    return 0;
}

static struct tmpl_value var_get(const struct exec *x, const char *name)
{
    for (size_t i = x->nvars; i-- > x->vars_floor;)
        if (!strcmp(x->vars[i].name, name))
            return x->vars[i].v;
    return (struct tmpl_value){.kind = TV_NIL}; /* the parser saw it declared */
}

static struct tmpl_value str_value(const char *s)
{
    struct tmpl_value v = {.kind = TV_STRING};
    v.u.s.p = s ? s : "";
    v.u.s.len = strlen(v.u.s.p);
    return v;
}

/* v.name: a field of the alert data, or a label of a map. */
static int field(struct exec *x, size_t pos, struct tmpl_value *v, const char *name)
{
    if (v->kind == TV_MAP) {
        const struct tsdb_labels *m = v->u.map;
        for (size_t i = 0; m && i < m->len; i++)
            if (!strcmp(m->v[i].name, name)) {
                *v = str_value(m->v[i].value);
                return 0;
            }
        *v = str_value(""); /* missingkey=zero */
        return 0;
    }
    if (v->kind == TV_DATA) {
        const struct tmpl_data *d = v->u.data;
        if (!strcmp(name, "Labels") || !strcmp(name, "ExternalLabels")) {
            v->kind = TV_MAP;
            v->u.map = name[0] == 'L' ? d->labels : d->external_labels;
        } else if (!strcmp(name, "ExternalURL")) {
            *v = str_value(d->external_url);
        } else if (!strcmp(name, "Value")) {
            v->kind = TV_FLOAT;
            v->u.f = d->value;
        } else {
            return errf(x, pos,
                        "can't evaluate field %s in the alert data (fields: Labels, "
                        "ExternalLabels, ExternalURL, Value)",
                        name);
        }
        return 0;
    }
    if (v->kind == TV_NIL)
        return errf(x, pos, "can't evaluate field %s of a nil value", name);
    return errf(x, pos, "can't evaluate field %s in type %s", name, tmpl__type_name(v));
}

static int eval_pipe(struct exec *x, const struct tmpl_pipe *pipe, const struct tmpl_value *dot,
                     int declare, struct tmpl_value *out);

static int call(struct exec *x, const struct tmpl_cmd *cmd, const struct tmpl_arg *fn_arg,
                const struct tmpl_value *args, size_t nargs, struct tmpl_value *out);

static int eval_arg(struct exec *x, const struct tmpl_arg *a, const struct tmpl_value *dot,
                    struct tmpl_value *out)
{
    switch (a->type) {
    case TA_DOT:
    case TA_FIELD: *out = *dot; break;
    case TA_VAR: *out = var_get(x, a->name); break;
    case TA_PIPE:
        if (eval_pipe(x, a->pipe, dot, 1, out) < 0)
            return -1;
        break;
    case TA_FUNC: { /* a function as an argument is called without arguments */
        struct tmpl_cmd cmd = {.pos = a->pos, .args = (struct tmpl_arg *)a, .nargs = 1};
        if (call(x, &cmd, a, NULL, 0, out) < 0)
            return -1;
        break;
    }
    case TA_NIL: out->kind = TV_NIL; return 0;
    case TA_STRING:
    case TA_INT:
    case TA_FLOAT:
    case TA_BOOL: *out = a->lit; return 0;
    }
    for (size_t i = 0; i < a->nfields; i++)
        if (field(x, a->pos, out, a->fields[i]) < 0)
            return -1;
    return 0;
}

static int call(struct exec *x, const struct tmpl_cmd *cmd, const struct tmpl_arg *fn_arg,
                const struct tmpl_value *args, size_t nargs, struct tmpl_value *out)
{
    const struct tmpl_func *fn = fn_arg->fn;
    if ((int)nargs < fn->min_args || (fn->max_args >= 0 && (int)nargs > fn->max_args)) {
        if (fn->max_args < 0)
            return errf(x, cmd->pos, "wrong number of args for %s: want at least %d got %zu",
                        fn->name, fn->min_args, nargs);
        return errf(x, cmd->pos, "wrong number of args for %s: want %d got %zu", fn->name,
                    fn->max_args, nargs);
    }
    x->call.err[0] = '\0';
    if (fn->fn(&x->call, args, nargs, out) < 0) {
        if (x->call.nomem)
            return nomem(x);
        return errf(x, cmd->pos, "error calling %s: %s", fn->name, x->call.err);
    }
    return 0;
}

/* Runs one command; final is the previous pipeline stage's result. */
static int eval_cmd(struct exec *x, const struct tmpl_cmd *cmd, const struct tmpl_value *dot,
                    const struct tmpl_value *final, struct tmpl_value *out)
{
    if (step(x, cmd->pos) < 0)
        return -1;
    struct tmpl_value prev; /* out may alias final */
    if (final) {
        prev = *final;
        final = &prev;
    }
    const struct tmpl_arg *first = &cmd->args[0];
    if (first->type == TA_NIL)
        return errf(x, cmd->pos, "nil is not a command");
    int function = first->type == TA_FUNC && first->nfields == 0;
    if (!function && (cmd->nargs > 1 || final))
        return errf(x, cmd->nargs > 1 ? cmd->args[1].pos : first->pos,
                    "can't give argument to non-function %.*s", (int)first->len,
                    x->t->src + first->pos);
    if (!function)
        return eval_arg(x, first, dot, out);
    struct tmpl_value args[34];
    size_t n = 0;
    if (first->fn->kind != TF_EAGER && cmd->nargs + (final != NULL) > 1) {
        /* and / or: stop at the first argument that decides the result */
        for (size_t i = 1; i <= cmd->nargs; i++) {
            if (i < cmd->nargs && eval_arg(x, &cmd->args[i], dot, out) < 0)
                return -1;
            if (i == cmd->nargs) {
                if (!final)
                    break;
                *out = *final;
            }
            if (tmpl__truth(out) != (first->fn->kind == TF_AND))
                break;
        }
        return 0;
    }
    for (size_t i = 1; i < cmd->nargs; i++)
        if (eval_arg(x, &cmd->args[i], dot, &args[n++]) < 0)
            return -1;
    if (final)
        args[n++] = *final;
    return call(x, cmd, first, args, n, out);
}

/* Evaluates the pipeline; with declare, binds its variables to the result. */
static int eval_pipe(struct exec *x, const struct tmpl_pipe *pipe, const struct tmpl_value *dot,
                     int declare, struct tmpl_value *out)
{
    for (size_t i = 0; i < pipe->ncmds; i++)
        if (eval_cmd(x, &pipe->cmds[i], dot, i ? out : NULL, out) < 0)
            return -1;
    if (declare && pipe->ndecl == 1)
        return var_set(x, pipe->cmds[0].pos, pipe->decl[0], out, !pipe->assign);
    return 0;
}

static int walk(struct exec *x, const struct tmpl_node *n, const struct tmpl_value *dot);

static int label_cmp(const void *a, const void *b)
{
    const struct tsdb_label *const *la = a, *const *lb = b;
    return strcmp((*la)->name, (*lb)->name);
}

/* What walking a list ends with, besides -1 for an error: its end, or a
 * {{break}} / {{continue}} for the innermost range. */
enum flow { FLOW_END = 0, FLOW_BREAK = 1, FLOW_CONTINUE = 2 };

/* Runs one iteration of a range's list with element e (and key). @return
 * -1, FLOW_END to go on, FLOW_BREAK to stop. */
static int iteration(struct exec *x, const struct tmpl_node *n, const struct tmpl_value *key,
                     const struct tmpl_value *e)
{
    const struct tmpl_pipe *p = n->pipe;
    size_t scope = x->nvars;
    int rc = step(x, n->pos);
    if (rc == 0 && p->ndecl == 2)
        rc = var_set(x, n->pos, p->decl[0], key, !p->assign) < 0 ||
                     var_set(x, n->pos, p->decl[1], e, !p->assign) < 0
                 ? -1
                 : 0;
    else if (rc == 0 && p->ndecl == 1)
        rc = var_set(x, n->pos, p->decl[0], e, !p->assign);
    if (rc == 0)
        rc = walk(x, n->list, e);
    x->nvars = scope;
    return rc == FLOW_CONTINUE ? FLOW_END : rc;
}

/* {{range}} over a map (keys in order, as Go does) or an int n (0..n-1). */
static int walk_range(struct exec *x, const struct tmpl_node *n, const struct tmpl_value *dot)
{
    struct tmpl_value v;
    if (eval_pipe(x, n->pipe, dot, 0, &v) < 0)
        return -1;
    if (v.kind == TV_INT) {
        if (n->pipe->ndecl == 2)
            return errf(x, n->pos, "can't use two variables to range over an int");
        int rc = FLOW_END;
        for (int64_t i = 0; i < v.u.i && rc == FLOW_END; i++) {
            struct tmpl_value e = {.kind = TV_INT, .u.i = i};
            rc = iteration(x, n, &e, &e);
        }
        return rc < 0 ? -1 : v.u.i > 0 ? 0 : walk(x, n->else_list, dot);
    }
    if (v.kind != TV_MAP) {
        if (v.kind == TV_NIL)
            return walk(x, n->else_list, dot);
        return errf(x, n->pos, "range can't iterate over a value of type %s", tmpl__type_name(&v));
    }
    size_t len = v.u.map ? v.u.map->len : 0;
    if (len == 0)
        return walk(x, n->else_list, dot);
    const struct tsdb_label **sorted = malloc(len * sizeof *sorted);
    if (!sorted)
        return nomem(x);
    for (size_t i = 0; i < len; i++)
        sorted[i] = &v.u.map->v[i];
    qsort(sorted, len, sizeof *sorted, label_cmp);
    int rc = FLOW_END;
    for (size_t i = 0; i < len && rc == FLOW_END; i++) {
        struct tmpl_value key = str_value(sorted[i]->name), e = str_value(sorted[i]->value);
        rc = iteration(x, n, &key, &e);
    }
    free(sorted);
    return rc < 0 ? -1 : 0;
}

/* {{template "name" pipeline}}: the named template with dot and "$" set to
 * the pipeline's value (nil without one) and none of the caller's
 * variables. */
static int call_template(struct exec *x, const struct tmpl_node *n, const struct tmpl_value *dot)
{
    const struct tmpl_def *def = x->t->defs;
    while (def && strcmp(def->name, n->text) != 0)
        def = def->next;
    if (!def)
        return errf(x, n->pos, "no such template \"%s\"", n->text);
    if (x->depth >= TMPL_MAX_DEPTH)
        return errf(x, n->pos, "exceeded maximum template depth (%d)", TMPL_MAX_DEPTH);
    struct tmpl_value v = {.kind = TV_NIL};
    if (n->pipe && eval_pipe(x, n->pipe, dot, 0, &v) < 0)
        return -1;
    size_t floor = x->vars_floor, scope = x->nvars;
    x->vars_floor = x->nvars;
    x->depth++;
    int rc = var_set(x, n->pos, "$", &v, 1) < 0 ? -1 : walk(x, def->root, &v);
    x->depth--;
    x->vars_floor = floor;
    x->nvars = scope;
    return rc < 0 ? -1 : 0;
}

static int walk_node(struct exec *x, const struct tmpl_node *n, const struct tmpl_value *dot)
{
    size_t scope = x->nvars;
    struct tmpl_value v;
    int rc = 0;
    switch (n->type) {
    case TN_TEXT: rc = tmpl__put(&x->out, n->text, n->len); break;
    case TN_ACTION:
        rc = eval_pipe(x, n->pipe, dot, 1, &v);
        if (rc == 0 && n->pipe->ndecl == 0)
            rc = tmpl__print_value(&x->out, &v);
        return rc; /* an action's variables live to the end of the list */
    case TN_IF:
    case TN_WITH:
        rc = eval_pipe(x, n->pipe, dot, 1, &v);
        if (rc == 0) {
            if (tmpl__truth(&v))
                rc = walk(x, n->list, n->type == TN_WITH ? &v : dot);
            else
                rc = walk(x, n->else_list, dot);
        }
        break;
    case TN_RANGE: rc = walk_range(x, n, dot); break;
    case TN_BREAK: rc = FLOW_BREAK; break;
    case TN_CONTINUE: rc = FLOW_CONTINUE; break;
    case TN_TEMPLATE: rc = call_template(x, n, dot); break;
    }
    x->nvars = scope;
    return rc;
}

/* Executes the list n. @return -1, or an enum flow. */
static int walk(struct exec *x, const struct tmpl_node *n, const struct tmpl_value *dot)
{
    size_t scope = x->nvars;
    int rc = FLOW_END;
    for (; n && rc == FLOW_END; n = n->next) {
        rc = step(x, n->pos) < 0 ? -1 : walk_node(x, n, dot);
        if (rc < 0) {
            if (x->out.nomem)
                nomem(x);
            else if (x->out.full)
                errf(x, n->pos, "output exceeds %u bytes", TMPL_OUTPUT_MAX_BYTES);
            return -1;
        }
    }
    x->nvars = scope;
    return rc;
}

char *tmpl_exec(const struct tmpl *t, const struct tmpl_data *d, char *err, size_t errcap)
{
    if (errcap)
        err[0] = '\0';
    struct exec x = {.t = t, .data = d, .err = err, .errcap = errcap};
    x.out.max = TMPL_OUTPUT_MAX_BYTES;
    x.call.arena = &x.arena;
    x.call.data = d;
    struct tmpl_value root = {.kind = TV_DATA, .u.data = d};
    struct tmpl_value labels = {.kind = TV_MAP, .u.map = d->labels};
    struct tmpl_value ext = {.kind = TV_MAP, .u.map = d->external_labels};
    struct tmpl_value url = str_value(d->external_url);
    struct tmpl_value value = {.kind = TV_FLOAT, .u.f = d->value};
    int rc = var_set(&x, 0, "$", &root, 1) || var_set(&x, 0, "$labels", &labels, 1) ||
             var_set(&x, 0, "$externalLabels", &ext, 1) ||
             var_set(&x, 0, "$externalURL", &url, 1) || var_set(&x, 0, "$value", &value, 1) ||
             tmpl__put(&x.out, "", 0);
    if (rc == 0)
        rc = walk(&x, t->root, &root);
    if (rc != 0 && !x.failed)
        x.nomem = 1;
    free(x.vars);
    tmpl__arena_free(&x.arena);
    if (rc != 0) {
        free(x.out.p);
        if (x.nomem && errcap)
            err[0] = '\0';
        return NULL;
    }
    return x.out.p;
}
