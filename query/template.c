/* template.c — parser for the Go text/template subset of Prometheus alert
 * labels and annotations (see template.h and docs/templates.md). Text and
 * {{actions}} become a tree of nodes; functions and variables are resolved
 * here, so an unknown function or undefined variable rejects the rule file
 * at load time, as Prometheus does; what Go only finds when executing
 * (arguments given to a non-function, nil as a command) is left to the
 * executor, so every rule file Prometheus loads loads here too. Execution is in template_exec.c. */
#include "template_lex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- variables in scope ---- */

static int var_push(struct parser *p, const char *name)
{
    if (p->nvars == p->vars_cap) {
        size_t cap = p->vars_cap ? p->vars_cap * 2 : 16;
        const char **v = realloc(p->vars, cap * sizeof *v);
        if (!v)
            return p->failed = -ENOMEM, -1;
        p->vars = v;
        p->vars_cap = cap;
    }
    p->vars[p->nvars++] = name;
    return 0;
}

static int var_defined(const struct parser *p, const char *s, size_t n)
{
    for (size_t i = p->nvars; i-- > p->vars_floor;)
        if (strlen(p->vars[i]) == n && !memcmp(p->vars[i], s, n))
            return 1;
    return 0;
}

/* ---- pipelines ---- */

static struct tmpl_pipe *pipeline(struct parser *p, const char *context, enum tok end,
                                  int max_decl);

/* Appends adjacent .field tokens to arg's chain. */
static int field_chain(struct parser *p, struct tmpl_arg *a)
{
    struct token t;
    const char *chain[TMPL_MAX_DEPTH];
    size_t n = 0;
    for (;;) {
        if (tmpl__peek(p, &t) < 0)
            return -1;
        if (t.t != K_FIELD || t.space_before)
            break;
        if (n == TMPL_MAX_DEPTH)
            return tmpl__fail(p, t.start, "too many fields in a chain (at most %d)",
                              TMPL_MAX_DEPTH);
        tmpl__lex(p, &t);
        const char *name = tmpl__strndup(p->arena, p->src + t.start + 1, t.end - t.start - 1);
        if (!name)
            return p->failed = -ENOMEM, -1;
        chain[n++] = name;
    }
    if (n == 0)
        return 0;
    const char **f = tmpl__palloc(p, (a->nfields + n) * sizeof *f);
    if (!f)
        return -1;
    if (a->nfields)
        memcpy(f, a->fields, a->nfields * sizeof *f);
    memcpy(f + a->nfields, chain, n * sizeof *f);
    a->fields = f;
    a->nfields += n;
    return 0;
}

static const char *const keywords[] = {"if",     "else",  "end",      "range", "with",
                                       "define", "block", "template", "break", "continue"};

static int is_keyword(const struct parser *p, const struct token *t)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (tmpl__tok_is(p, t, keywords[i]))
            return 1;
    return 0;
}

/* One operand of a command: a term and its field chain. */
static int operand(struct parser *p, const struct token *t, struct tmpl_arg *a)
{
    a->pos = t->start;
    switch (t->t) {
    case K_IDENT:
        if (tmpl__tok_is(p, t, "true") || tmpl__tok_is(p, t, "false")) {
            a->type = TA_BOOL;
            a->lit.kind = TV_BOOL;
            a->lit.u.b = tmpl__tok_is(p, t, "true");
        } else if (tmpl__tok_is(p, t, "nil")) {
            a->type = TA_NIL;
        } else if (is_keyword(p, t)) {
            return tmpl__fail(p, t->start, "unexpected keyword \"%.*s\" in command",
                              (int)(t->end - t->start), p->src + t->start);
        } else {
            a->type = TA_FUNC;
            a->fn = tmpl__func_lookup(p->src + t->start, t->end - t->start);
            if (!a->fn)
                return tmpl__fail(p, t->start, "function \"%.*s\" not defined",
                                  (int)(t->end - t->start), p->src + t->start);
            return field_chain(p, a); /* fn.x: the field of fn's result, as in Go */
        }
        return 0;
    case K_DOT: a->type = TA_DOT; return field_chain(p, a);
    case K_FIELD:
        a->type = TA_FIELD;
        p->pos = t->start; /* the first field starts the chain */
        return field_chain(p, a);
    case K_VAR:
        if (!var_defined(p, p->src + t->start, t->end - t->start))
            return tmpl__fail(p, t->start, "undefined variable \"%.*s\"", (int)(t->end - t->start),
                              p->src + t->start);
        a->type = TA_VAR;
        a->name = tmpl__tok_text(p, t);
        return a->name ? field_chain(p, a) : -1;
    case K_STRING:
    case K_CHAR:
        if (tmpl__string_value(p, t, &a->lit) < 0)
            return -1;
        a->type = a->lit.kind == TV_INT ? TA_INT : TA_STRING;
        return 0;
    case K_NUMBER:
        if (tmpl__number_value(p, t, &a->lit) < 0)
            return -1;
        a->type = a->lit.kind == TV_INT ? TA_INT : TA_FLOAT;
        return 0;
    case K_LPAREN:
        if (++p->depth > TMPL_MAX_DEPTH)
            return tmpl__fail(p, t->start, "nesting deeper than %d", TMPL_MAX_DEPTH);
        a->type = TA_PIPE;
        a->pipe = pipeline(p, "parenthesized pipeline", K_RPAREN, 0);
        p->depth--;
        return a->pipe ? field_chain(p, a) : -1;
    case K_RDELIM:
    case K_RPAREN:
    case K_PIPE:
    case K_DECLARE:
    case K_ASSIGN:
    case K_COMMA: break;
    }
    return tmpl__fail(p, t->start, "unexpected \"%.*s\" in operand", (int)(t->end - t->start),
                      p->src + t->start);
}

/* What a literal operand is, for messages. */
static const char *arg_desc(const struct tmpl_arg *a)
{
    switch (a->type) {
    case TA_NIL: return "nil";
    case TA_STRING: return "a string";
    case TA_INT:
    case TA_FLOAT: return "a number";
    case TA_BOOL: return "a boolean";
    case TA_DOT:
    case TA_FIELD:
    case TA_VAR:
    case TA_PIPE:
    case TA_FUNC: break;
    }
    return "a value";
}

/* Reads operands up to "|" or end into cmd. @return the token that ended
 * it (consumed), or -1. */
static int command(struct parser *p, enum tok end, size_t stage, struct tmpl_cmd *cmd,
                   struct token *stop /* OUT */)
{
    struct tmpl_arg args[32];
    size_t n = 0;
    for (;;) {
        struct token t;
        if (tmpl__lex(p, &t) < 0)
            return -1;
        if (t.t == end || t.t == K_PIPE || (t.t == K_RDELIM && end == K_RPAREN) ||
            (t.t == K_RPAREN && end == K_RDELIM)) {
            if (t.t != end && t.t != K_PIPE)
                return tmpl__fail(p, t.start, "unexpected \"%.*s\": expected %s",
                                  (int)(t.end - t.start), p->src + t.start,
                                  end == K_RPAREN ? "\")\"" : "\"}}\"");
            if (n == 0)
                return tmpl__fail(p, t.start, "missing value for command");
            *stop = t;
            break;
        }
        if (n == sizeof args / sizeof args[0])
            return tmpl__fail(p, t.start, "too many arguments (at most %zu)", n);
        memset(&args[n], 0, sizeof args[n]);
        if (operand(p, &t, &args[n]) < 0)
            return -1;
        if (n++ == 0)
            args[0].len = p->pos - args[0].pos;
        struct token next; /* Go: operands are separated by spaces */
        if (tmpl__peek(p, &next) < 0)
            return -1;
        if (!next.space_before && next.t != K_RDELIM && next.t != K_RPAREN && next.t != K_PIPE)
            return tmpl__fail(p, next.start,
                              "unexpected \"%.*s\" in operand: expected a space before it",
                              (int)(next.end - next.start), p->src + next.start);
    }
    enum tmpl_arg_type first = args[0].type;
    if (stage > 0 && (first == TA_DOT || first == TA_STRING || first == TA_INT ||
                      first == TA_FLOAT || first == TA_BOOL || first == TA_NIL))
        return tmpl__fail(p, args[0].pos,
                          "non executable command in pipeline stage %zu: expected a function, "
                          "found %s",
                          stage + 1, arg_desc(&args[0]));
    cmd->pos = args[0].pos;
    cmd->args = tmpl__palloc(p, n * sizeof *cmd->args);
    if (!cmd->args)
        return -1;
    memcpy(cmd->args, args, n * sizeof *args);
    cmd->nargs = n;
    return 0;
}

/* Parses "$x :=" / "$x =" / "$k, $v :=" (max_decl 2) at the start of a
 * pipeline. @return 0 (nothing or a declaration read), -1. */
static int declaration(struct parser *p, struct tmpl_pipe *pipe, int max_decl)
{
    size_t save = p->pos;
    struct token v1, op, v2;
    if (tmpl__peek(p, &v1) < 0 || v1.t != K_VAR)
        return p->failed ? -1 : 0;
    tmpl__lex(p, &v1);
    if (tmpl__lex(p, &op) < 0)
        return -1;
    int n = 1;
    if (op.t == K_COMMA && max_decl < 2)
        return tmpl__fail(p, op.start, "unexpected \",\": only {{range}} declares two variables");
    if (op.t == K_COMMA) {
        if (tmpl__lex(p, &v2) < 0)
            return -1;
        if (v2.t != K_VAR)
            return tmpl__fail(p, v2.start, "expected a variable after \",\"");
        if (tmpl__lex(p, &op) < 0)
            return -1;
        n = 2;
    }
    if (op.t != K_DECLARE && op.t != K_ASSIGN) {
        if (n == 2)
            return tmpl__fail(p, op.start, "expected \":=\" or \"=\" after the range variables");
        p->pos = save; /* the variable is the pipeline's operand */
        return 0;
    }
    pipe->assign = op.t == K_ASSIGN;
    pipe->ndecl = n;
    const struct token *vars[2] = {&v1, &v2};
    for (int i = 0; i < n; i++) {
        pipe->decl[i] = tmpl__tok_text(p, vars[i]);
        if (!pipe->decl[i])
            return -1;
    }
    return 0;
}

/* pipeline := [decl] command {"|" command} ["|"] end. The declared (or
 * assigned) variables come into scope after the pipeline. */
static struct tmpl_pipe *pipeline(struct parser *p, const char *context, enum tok end, int max_decl)
{
    struct tmpl_pipe *pipe = tmpl__palloc(p, sizeof *pipe);
    if (!pipe)
        return NULL;
    if (declaration(p, pipe, max_decl) < 0)
        return NULL;
    struct tmpl_cmd cmds[32];
    size_t n = 0;
    struct token stop;
    do {
        struct token t;
        if (tmpl__peek(p, &t) < 0)
            return NULL;
        if (n == 0 && t.t == end)
            return tmpl__fail(p, t.start, "missing value for %s", context), NULL;
        if (t.t == end) { /* Go accepts a "|" before the end */
            tmpl__lex(p, &stop);
            break;
        }
        if (n == sizeof cmds / sizeof cmds[0])
            return tmpl__fail(p, t.start, "too many commands in a pipeline (at most %zu)", n), NULL;
        if (command(p, end, n, &cmds[n], &stop) < 0)
            return NULL;
        n++;
    } while (stop.t == K_PIPE);
    if (end == K_RDELIM)
        p->trim_next = stop.trim;
    pipe->cmds = tmpl__palloc(p, n * sizeof *pipe->cmds);
    if (!pipe->cmds)
        return NULL;
    memcpy(pipe->cmds, cmds, n * sizeof *cmds);
    pipe->ncmds = n;
    for (int i = 0; i < pipe->ndecl; i++) /* Go: an assignment declares too */
        if (var_push(p, pipe->decl[i]) < 0)
            return NULL;
    return pipe;
}

/* ---- lists and control structures ---- */

enum list_end { END_EOF, END_END, END_ELSE };

static int list(struct parser *p, struct tmpl_node **out, enum list_end *how,
                size_t *end_pos /* OUT */);

/* Expects "}}" (or "-}}") to close a keyword action. */
static int close_action(struct parser *p, const char *what)
{
    struct token t;
    if (tmpl__lex(p, &t) < 0)
        return -1;
    if (t.t != K_RDELIM)
        return tmpl__fail(p, t.start, "unexpected \"%.*s\" in %s: expected \"}}\"",
                          (int)(t.end - t.start), p->src + t.start, what);
    p->trim_next = t.trim;
    return 0;
}

/* Parses the rest of {{if|with|range pipeline}} list [{{else}} list]
 * {{end}}; kw_pos is the keyword's position. An {{else if}} ({{else
 * with}}) nests an if (a with) that shares the {{end}}. */
static struct tmpl_node *control(struct parser *p, enum tmpl_node_type type, size_t kw_pos)
{
    static const char *const names[] = {[TN_IF] = "if", [TN_WITH] = "with", [TN_RANGE] = "range"};
    if (++p->depth > TMPL_MAX_DEPTH)
        return tmpl__fail(p, kw_pos, "nesting deeper than %d", TMPL_MAX_DEPTH), NULL;
    size_t scope = p->nvars;
    struct tmpl_node *n = tmpl__palloc(p, sizeof *n);
    if (!n)
        return NULL;
    n->type = type;
    n->pos = kw_pos;
    n->pipe = pipeline(p, names[type], K_RDELIM, type == TN_RANGE ? 2 : 1);
    enum list_end how;
    size_t end_pos;
    p->range_depth += type == TN_RANGE;
    int rc = n->pipe ? list(p, &n->list, &how, &end_pos) : -1;
    p->range_depth -= type == TN_RANGE;
    if (rc < 0)
        return NULL;
    if (how == END_ELSE) {
        struct token t;
        if (tmpl__peek(p, &t) < 0)
            return NULL;
        if ((type == TN_IF && tmpl__tok_is(p, &t, "if")) ||
            (type == TN_WITH && tmpl__tok_is(p, &t, "with"))) {
            tmpl__lex(p, &t);
            n->else_list = control(p, type, t.start);
            if (!n->else_list)
                return NULL;
            how = END_END;
        } else {
            if (close_action(p, "{{else}}") < 0 || list(p, &n->else_list, &how, &end_pos) < 0)
                return NULL;
            if (how == END_ELSE)
                return tmpl__fail(p, end_pos,
                                  "unexpected {{else}}: {{%s}} already has one, "
                                  "expected {{end}}",
                                  names[type]),
                       NULL;
        }
    }
    if (how == END_EOF) {
        int line, col;
        tmpl__linecol(p->src, kw_pos, &line, &col);
        return tmpl__fail(p, end_pos, "unexpected end of text: {{%s}} at %d:%d has no {{end}}",
                          names[type], line, col),
               NULL;
    }
    p->nvars = scope;
    p->depth--;
    return n;
}

/* Reads the quoted name after {{define}}, {{template}} or {{block}}. */
static const char *template_name(struct parser *p, const char *what)
{
    struct token t;
    struct tmpl_value v;
    if (tmpl__lex(p, &t) < 0)
        return NULL;
    if (t.t != K_STRING)
        return tmpl__fail(p, t.start, "expected a template name in quotes after {{%s}}", what),
               NULL;
    return tmpl__string_value(p, &t, &v) < 0 ? NULL : v.u.s.p;
}

/* Parses a template body up to its {{end}} into a new definition: the body
 * sees only its own variables and "$" (its dot), as in Go. */
static int define_body(struct parser *p, const char *name, size_t kw_pos, const char *what)
{
    struct tmpl_def *def = tmpl__palloc(p, sizeof *def);
    if (!def)
        return -1;
    size_t scope = p->nvars, floor = p->vars_floor;
    int range_depth = p->range_depth;
    if (p->depth >= TMPL_MAX_DEPTH)
        return tmpl__fail(p, kw_pos, "nesting deeper than %d", TMPL_MAX_DEPTH);
    p->vars_floor = p->nvars;
    p->range_depth = 0;
    p->depth++;
    enum list_end how;
    size_t end_pos;
    if (var_push(p, "$") < 0 || list(p, &def->root, &how, &end_pos) < 0)
        return -1;
    if (how != END_END) {
        int line, col;
        tmpl__linecol(p->src, kw_pos, &line, &col);
        return tmpl__fail(p, end_pos, "unexpected %s: {{%s}} at %d:%d needs {{end}}",
                          how == END_ELSE ? "{{else}}" : "end of text", what, line, col);
    }
    p->depth--;
    p->range_depth = range_depth;
    p->vars_floor = floor;
    p->nvars = scope;
    def->name = name;
    def->next = *p->defs;
    *p->defs = def;
    return 0;
}

/* {{define "name"}}...{{end}} (top level only), {{template "name"
 * [pipeline]}}, {{block "name" pipeline}}...{{end}} (a define and a
 * template call), {{break}} and {{continue}} (in a range). */
static int keyword(struct parser *p, const struct token *t, struct tmpl_node **node)
{
    const char *s = p->src;
    if (tmpl__tok_is(p, t, "break") || tmpl__tok_is(p, t, "continue")) {
        if (p->range_depth == 0)
            return tmpl__fail(p, t->start, "{{%.*s}} outside {{range}}", (int)(t->end - t->start),
                              s + t->start);
        struct tmpl_node *n = tmpl__palloc(p, sizeof *n);
        if (!n)
            return -1;
        n->type = tmpl__tok_is(p, t, "break") ? TN_BREAK : TN_CONTINUE;
        n->pos = t->start;
        *node = n;
        return close_action(p, n->type == TN_BREAK ? "{{break}}" : "{{continue}}");
    }
    if (tmpl__tok_is(p, t, "define")) {
        if (p->depth > 0)
            return tmpl__fail(p, t->start,
                              "{{define}} inside a block: it is only allowed at "
                              "the top level");
        const char *name = template_name(p, "define");
        if (!name || close_action(p, "{{define}}") < 0)
            return -1;
        return define_body(p, name, t->start, "define");
    }
    int block = tmpl__tok_is(p, t, "block");
    struct tmpl_node *n = tmpl__palloc(p, sizeof *n);
    if (!n || !(n->text = template_name(p, block ? "block" : "template")))
        return -1;
    n->type = TN_TEMPLATE;
    n->pos = t->start;
    struct token next;
    if (tmpl__peek(p, &next) < 0)
        return -1;
    if (block || next.t != K_RDELIM) {
        size_t scope = p->nvars;
        n->pipe = pipeline(p, block ? "block clause" : "template clause", K_RDELIM, 1);
        p->nvars = scope;
        if (!n->pipe)
            return -1;
    } else if (close_action(p, "{{template}}") < 0) {
        return -1;
    }
    *node = n;
    return block ? define_body(p, n->text, t->start, "block") : 0;
}

/* Parses one action after "{{" (and its trim marker). @return 0 with *node
 * (NULL for a comment), or a list terminator in *how. */
static int action(struct parser *p, struct tmpl_node **node, enum list_end *how)
{
    *node = NULL;
    const char *s = p->src;
    size_t start = p->pos;
    if (s[start] == '/' && s[start + 1] == '*') {
        const char *close = strstr(s + start + 2, "*/");
        if (!close)
            return tmpl__fail(p, start, "unclosed comment: expected \"*/\"");
        p->pos = (size_t)(close - s) + 2;
        if (s[p->pos] == '}' && s[p->pos + 1] == '}') {
            p->pos += 2;
            p->trim_next = 0;
        } else if (tmpl__is_space(s[p->pos]) && !strncmp(s + p->pos + 1, "-}}", 3)) {
            p->pos += 4;
            p->trim_next = 1;
        } else {
            return tmpl__fail(p, p->pos, "comment ends before closing delimiter: expected \"}}\"");
        }
        return 0;
    }
    struct token t;
    if (tmpl__peek(p, &t) < 0)
        return -1;
    static const struct {
        const char *kw;
        enum tmpl_node_type type;
    } ctl[] = {{"if", TN_IF}, {"with", TN_WITH}, {"range", TN_RANGE}};
    for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++)
        if (tmpl__tok_is(p, &t, ctl[i].kw)) {
            tmpl__lex(p, &t);
            *node = control(p, ctl[i].type, t.start);
            return *node ? 0 : -1;
        }
    if (tmpl__tok_is(p, &t, "end") || tmpl__tok_is(p, &t, "else")) {
        tmpl__lex(p, &t);
        *how = tmpl__tok_is(p, &t, "end") ? END_END : END_ELSE;
        if (p->depth == 0)
            return tmpl__fail(p, t.start,
                              "unexpected {{%.*s}} outside {{if}}, {{with}} or {{range}}",
                              (int)(t.end - t.start), s + t.start);
        return *how == END_END ? close_action(p, "{{end}}") : 0;
    }
    if (is_keyword(p, &t)) {
        tmpl__lex(p, &t);
        return keyword(p, &t, node);
    }
    struct tmpl_node *n = tmpl__palloc(p, sizeof *n);
    if (!n)
        return -1;
    n->type = TN_ACTION;
    n->pos = t.start;
    n->pipe = pipeline(p, "command", K_RDELIM, 1);
    if (!n->pipe)
        return -1;
    *node = n;
    return 0;
}

/* Appends text s[from..to) as a node, after trimming. */
static int text_node(struct parser *p, struct tmpl_node ***tail, size_t from, size_t to,
                     int trim_left, int trim_right)
{
    const char *s = p->src;
    if (trim_left)
        while (from < to && tmpl__is_space(s[from]))
            from++;
    if (trim_right)
        while (to > from && tmpl__is_space(s[to - 1]))
            to--;
    if (from == to)
        return 0;
    struct tmpl_node *n = tmpl__palloc(p, sizeof *n);
    if (!n)
        return -1;
    n->type = TN_TEXT;
    n->pos = from;
    n->text = s + from;
    n->len = to - from;
    **tail = n;
    *tail = &n->next;
    return 0;
}

/* Parses text and actions up to {{end}}, {{else}} or the end of the text:
 * *how says which, *end_pos where. */
static int list(struct parser *p, struct tmpl_node **out, enum list_end *how, size_t *end_pos)
{
    struct tmpl_node **tail = out;
    *out = NULL;
    for (;;) {
        const char *s = p->src;
        const char *open = strstr(s + p->pos, "{{");
        size_t to = open ? (size_t)(open - s) : p->pos + strlen(s + p->pos);
        int trim_left = p->trim_next;
        int trim_right = open && open[2] == '-' && tmpl__is_space(open[3]);
        if (text_node(p, &tail, p->pos, to, trim_left, trim_right) < 0)
            return -1;
        *end_pos = to;
        p->trim_next = 0;
        if (!open) {
            p->pos = to;
            *how = END_EOF;
            return 0;
        }
        p->pos = to + 2 + (trim_right ? 2 : 0);
        struct tmpl_node *n;
        enum list_end term = END_EOF;
        if (action(p, &n, &term) < 0)
            return -1;
        if (term != END_EOF) {
            *how = term;
            return 0;
        }
        if (n) {
            *tail = n;
            tail = &n->next;
        }
    }
}

static const char *const predefined[] = {"$", "$labels", "$externalLabels", "$externalURL",
                                         "$value"};

int tmpl_parse(const char *text, struct tmpl **out, char *err, size_t errcap)
{
    if (errcap)
        err[0] = '\0';
    *out = NULL;
    struct tmpl *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    struct parser p = {.arena = &t->arena, .err = err, .errcap = errcap, .defs = &t->defs};
    t->src = tmpl__strndup(&t->arena, text, strlen(text));
    p.src = t->src;
    for (size_t i = 0; t->src && i < sizeof predefined / sizeof predefined[0]; i++)
        var_push(&p, predefined[i]);
    enum list_end how;
    size_t end_pos;
    if (t->src && !p.failed)
        list(&p, &t->root, &how, &end_pos);
    else
        p.failed = -ENOMEM;
    free(p.vars);
    if (p.failed) {
        tmpl_free(t);
        if (p.failed == -ENOMEM && errcap)
            err[0] = '\0';
        return p.failed == -ENOMEM ? -ENOMEM : -1;
    }
    *out = t;
    return 0;
}

void tmpl_free(struct tmpl *t)
{
    if (!t)
        return;
    tmpl__arena_free(&t->arena);
    free(t);
}

char *tmpl_expand(const char *text, const struct tmpl_data *d)
{
    char err[512];
    struct tmpl *t;
    char *res = NULL;
    int rc = tmpl_parse(text, &t, err, sizeof err);
    if (rc == -ENOMEM)
        return NULL;
    if (rc == 0) {
        res = tmpl_exec(t, d, err, sizeof err);
        tmpl_free(t);
        if (res || err[0] == '\0')
            return res;
    }
    struct tmpl_buf b = {.max = sizeof err + 64};
    tmpl__printf(&b, "<error expanding template: %s>", err);
    return b.p;
}
