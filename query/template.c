/* template.c — parser for the Go text/template subset of Prometheus alert
 * labels and annotations (see template.h and docs/templates.md). Text and
 * {{actions}} become a tree of nodes; functions and variables are resolved
 * here, so an unknown function or undefined variable rejects the rule file
 * at load time, as Prometheus does; what Go only finds when executing
 * (arguments given to a non-function, nil as a command) is left to the
 * executor, so every rule file Prometheus loads loads here too. Execution is in template_exec.c. */
#include "template_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strlit.h"

/* ---- lexer ---- */

enum tok {
    K_RDELIM, /* }} or -}} */
    K_IDENT,
    K_FIELD, /* .name */
    K_DOT,
    K_VAR, /* $ or $name */
    K_STRING,
    K_CHAR,
    K_NUMBER,
    K_LPAREN,
    K_RPAREN,
    K_PIPE,
    K_DECLARE,
    K_ASSIGN,
    K_COMMA,
};

struct token {
    enum tok t;
    size_t start, end;
    int space_before;
    int trim; /* K_RDELIM: -}} */
};

struct parser {
    const char *src;
    struct tmpl_arena *arena;
    size_t pos;
    int trim_next; /* the last action ended with -}} */
    int depth;
    const char **vars; /* variables in scope, innermost last */
    size_t nvars, vars_cap;
    char *err;
    size_t errcap;
    int failed; /* -1 syntax, -ENOMEM */
};

static int fail(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->failed)
        return -1;
    p->failed = -1;
    int line, col;
    tmpl__linecol(p->src, pos, &line, &col);
    int n = snprintf(p->err, p->errcap, "%d:%d: ", line, col);
    if (n >= 0 && (size_t)n < p->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void *palloc(struct parser *p, size_t n)
{
    void *r = tmpl__alloc(p->arena, n);
    if (!r)
        p->failed = -ENOMEM;
    return r;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_alnum(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (unsigned char)c >= 0x80;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1 if the character at s cannot be part of an identifier: control
 * characters and Unicode white space (Go rejects U+00A0 in actions). */
static int bad_rune(const char *s)
{
    uint32_t cp;
    if ((unsigned char)s[0] < 0x80)
        return 0;
    tmpl__rune_at((const unsigned char *)s, strlen(s), &cp);
    return tmpl__is_unicode_space(cp) || (cp >= 0x80 && cp < 0xa0);
}

/* Scans a Go number literal at s: [+-] then decimal, 0x, 0o or 0b digits
 * with underscores, a fraction and an exponent. @return its length. */
static size_t scan_number(const char *s)
{
    size_t i = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    const char *digits = "0123456789_";
    const char *exp = "eE";
    if (s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        digits = "0123456789abcdefABCDEF_";
        exp = "pP";
        i += 2;
    } else if (s[i] == '0' && strchr("oObB", s[i + 1]) && s[i + 1]) {
        i += 2;
    }
    while (s[i] && strchr(digits, s[i]))
        i++;
    if (s[i] == '.') {
        i++;
        while (s[i] && strchr(digits, s[i]))
            i++;
    }
    if (s[i] && strchr(exp, s[i])) {
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        while (is_digit(s[i]) || s[i] == '_')
            i++;
    }
    return i;
}

/* 1 if s may follow a word (identifier, field, variable, dot), as in Go:
 * white space, the end, ".,|:()" or "}}". */
static int at_terminator(const char *s)
{
    return *s == '\0' || is_space(*s) || strchr(".,|:()", *s) || (s[0] == '}' && s[1] == '}');
}

/* Reads the next token inside an action. @return 0, or -1 (error set). */
static int lex(struct parser *p, struct token *t /* OUT */)
{
    const char *s = p->src;
    size_t start = p->pos;
    while (is_space(s[p->pos]))
        p->pos++;
    memset(t, 0, sizeof *t);
    t->space_before = p->pos > start;
    size_t i = p->pos;
    t->start = i;
    if (s[i] == '\0')
        return fail(p, i, "unclosed action: expected \"}}\" before the end of the text");
    if (t->space_before && s[i] == '-' && s[i + 1] == '}' && s[i + 2] == '}') {
        t->t = K_RDELIM;
        t->trim = 1;
        t->end = i + 3;
    } else if (s[i] == '}' && s[i + 1] == '}') {
        t->t = K_RDELIM;
        t->end = i + 2;
    } else if (strchr("()|,=", s[i])) {
        static const enum tok single[] = {K_LPAREN, K_RPAREN, K_PIPE, K_COMMA, K_ASSIGN};
        t->t = single[strchr("()|,=", s[i]) - "()|,="];
        t->end = i + 1;
    } else if (s[i] == ':') {
        if (s[i + 1] != '=')
            return fail(p, i, "expected \":=\" after \":\"");
        t->t = K_DECLARE;
        t->end = i + 2;
    } else if (s[i] == '"' || s[i] == '`' || s[i] == '\'') {
        size_t used, len;
        char *out;
        struct strlit_error e;
        int rc = strlit_unquote(s + i, &used, &out, &len, &e);
        if (rc == -ENOMEM)
            return p->failed = -ENOMEM, -1;
        if (rc < 0)
            return fail(p, i + e.offset, "%s", e.expected);
        free(out);
        t->t = s[i] == '\'' ? K_CHAR : K_STRING;
        t->end = i + used;
    } else if (s[i] == '$') {
        size_t j = i + 1;
        while (is_alnum(s[j]) && !bad_rune(s + j))
            j++;
        t->t = K_VAR;
        t->end = j;
    } else if (s[i] == '.' && is_digit(s[i + 1])) {
        t->t = K_NUMBER;
        t->end = i + scan_number(s + i);
    } else if (s[i] == '.') {
        size_t j = i + 1;
        while (is_alnum(s[j]) && !bad_rune(s + j))
            j++;
        t->t = j > i + 1 ? K_FIELD : K_DOT;
        t->end = j;
    } else if (is_digit(s[i]) ||
               ((s[i] == '+' || s[i] == '-') && (is_digit(s[i + 1]) || s[i + 1] == '.'))) {
        t->t = K_NUMBER;
        t->end = i + scan_number(s + i);
        if (is_alnum(s[t->end]) || s[t->end] == '.')
            return fail(p, i, "bad number syntax: \"%.*s\"", (int)(t->end - i + 1), s + i);
    } else if (is_alnum(s[i]) && !bad_rune(s + i)) {
        size_t j = i;
        while (is_alnum(s[j]) && !bad_rune(s + j))
            j++;
        t->t = K_IDENT;
        t->end = j;
    } else if (s[i] > ' ' && s[i] < 0x7f) {
        return fail(p, i, "unexpected \"%c\" in action: expected an operand, \"|\" or \"}}\"",
                    s[i]);
    } else {
        uint32_t cp;
        tmpl__rune_at((const unsigned char *)s + i, strlen(s + i), &cp);
        return fail(p, i, "unrecognized character in action: U+%04X", (unsigned)cp);
    }
    p->pos = t->end;
    if ((t->t == K_IDENT || t->t == K_FIELD || t->t == K_VAR || t->t == K_DOT) &&
        !at_terminator(s + t->end)) {
        uint32_t cp;
        tmpl__rune_at((const unsigned char *)s + t->end, strlen(s + t->end), &cp);
        return fail(p, t->end, "bad character U+%04X after \"%.*s\": expected a space, \"|\", "
                    "\")\" or \"}}\"", (unsigned)cp, (int)(t->end - t->start), s + t->start);
    }
    return 0;
}

/* Reads a token without consuming it. */
static int peek(struct parser *p, struct token *t /* OUT */)
{
    size_t save = p->pos;
    int rc = lex(p, t);
    p->pos = save;
    return rc;
}

static int tok_is(const struct parser *p, const struct token *t, const char *word)
{
    size_t n = strlen(word);
    return t->t == K_IDENT && t->end - t->start == n && !memcmp(p->src + t->start, word, n);
}

static const char *tok_text(struct parser *p, const struct token *t)
{
    char *s = tmpl__strndup(p->arena, p->src + t->start, t->end - t->start);
    if (!s)
        p->failed = -ENOMEM;
    return s;
}

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
    for (size_t i = p->nvars; i-- > 0;)
        if (strlen(p->vars[i]) == n && !memcmp(p->vars[i], s, n))
            return 1;
    return 0;
}

/* ---- literals ---- */

/* Decodes the number token into lit: an int unless it has a fraction or
 * exponent (Go's untyped constants passed as interface{}). */
static int number_value(struct parser *p, const struct token *t, struct tmpl_value *lit)
{
    char buf[128], tmp[128];
    if (t->end - t->start >= sizeof buf)
        return fail(p, t->start, "number too long (at most %zu characters)", sizeof buf - 1);
    if (tmpl__go_digits(p->src + t->start, t->end - t->start, buf, sizeof buf) < 0)
        return fail(p, t->start, "illegal number syntax: \"%.*s\": '_' must separate digits",
                    (int)(t->end - t->start), p->src + t->start);
    const char *digits = buf + (buf[0] == '+' || buf[0] == '-');
    int hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    int is_float = strpbrk(buf, hex ? ".pP" : ".eE") != NULL;
    if (hex && is_float && !strpbrk(buf, "pP"))
        return fail(p, t->start, "illegal number syntax: \"%s\": a hexadecimal float needs "
                    "a p exponent", buf);
    const char *from = buf;
    char *end;
    errno = 0;
    if (is_float) {
        lit->kind = TV_FLOAT;
        lit->u.f = strtod(buf, &end);
    } else {
        int base = 0;
        if (digits[0] == '0' && strchr("oObB", digits[1]) && digits[1]) {
            base = (digits[1] == 'b' || digits[1] == 'B') ? 2 : 8;
            snprintf(tmp, sizeof tmp, "%.*s%s", (int)(digits - buf), buf, digits + 2);
            from = tmp;
        }
        lit->kind = TV_INT;
        lit->u.i = strtoll(from, &end, base);
        if (errno == ERANGE)
            return fail(p, t->start, "number %s overflows int", buf);
    }
    if (*end != '\0' || end == from)
        return fail(p, t->start, "bad number syntax: \"%s\"", buf);
    return 0;
}

static int string_value(struct parser *p, const struct token *t, struct tmpl_value *lit)
{
    size_t used, len;
    char *out;
    struct strlit_error e;
    if (strlit_unquote(p->src + t->start, &used, &out, &len, &e) != 0)
        return p->failed = -ENOMEM, -1;
    char *s = tmpl__strndup(p->arena, out, len);
    free(out);
    if (!s)
        return p->failed = -ENOMEM, -1;
    if (t->t == K_STRING) {
        lit->kind = TV_STRING;
        lit->u.s.p = s;
        lit->u.s.len = len;
        return 0;
    }
    /* a character constant: one UTF-8 encoded code point, an int */
    const unsigned char *u = (const unsigned char *)s;
    int64_t cp = u[0];
    size_t need = len == 0 ? 0 : u[0] < 0x80 ? 1 : u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : 2;
    if (len == 0 || len != need)
        return fail(p, t->start, "malformed character constant: %.*s",
                    (int)(t->end - t->start), p->src + t->start);
    if (need > 1) {
        cp &= 0x3f >> (need - 1);
        for (size_t i = 1; i < need; i++)
            cp = cp << 6 | (u[i] & 0x3f);
    }
    lit->kind = TV_INT;
    lit->u.i = cp;
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
        if (peek(p, &t) < 0)
            return -1;
        if (t.t != K_FIELD || t.space_before)
            break;
        if (n == TMPL_MAX_DEPTH)
            return fail(p, t.start, "too many fields in a chain (at most %d)", TMPL_MAX_DEPTH);
        lex(p, &t);
        const char *name = tmpl__strndup(p->arena, p->src + t.start + 1, t.end - t.start - 1);
        if (!name)
            return p->failed = -ENOMEM, -1;
        chain[n++] = name;
    }
    if (n == 0)
        return 0;
    const char **f = palloc(p, (a->nfields + n) * sizeof *f);
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
        if (tok_is(p, t, keywords[i]))
            return 1;
    return 0;
}

/* One operand of a command: a term and its field chain. */
static int operand(struct parser *p, const struct token *t, struct tmpl_arg *a)
{
    a->pos = t->start;
    switch (t->t) {
    case K_IDENT:
        if (tok_is(p, t, "true") || tok_is(p, t, "false")) {
            a->type = TA_BOOL;
            a->lit.kind = TV_BOOL;
            a->lit.u.b = tok_is(p, t, "true");
        } else if (tok_is(p, t, "nil")) {
            a->type = TA_NIL;
        } else if (is_keyword(p, t)) {
            return fail(p, t->start, "unexpected keyword \"%.*s\" in command",
                        (int)(t->end - t->start), p->src + t->start);
        } else {
            a->type = TA_FUNC;
            a->fn = tmpl__func_lookup(p->src + t->start, t->end - t->start);
            if (!a->fn)
                return fail(p, t->start, "function \"%.*s\" not defined",
                            (int)(t->end - t->start), p->src + t->start);
            return field_chain(p, a); /* fn.x: the field of fn's result, as in Go */
        }
        return 0;
    case K_DOT:
        a->type = TA_DOT;
        return field_chain(p, a);
    case K_FIELD:
        a->type = TA_FIELD;
        p->pos = t->start; /* the first field starts the chain */
        return field_chain(p, a);
    case K_VAR:
        if (!var_defined(p, p->src + t->start, t->end - t->start))
            return fail(p, t->start, "undefined variable \"%.*s\"", (int)(t->end - t->start),
                        p->src + t->start);
        a->type = TA_VAR;
        a->name = tok_text(p, t);
        return a->name ? field_chain(p, a) : -1;
    case K_STRING:
    case K_CHAR:
        if (string_value(p, t, &a->lit) < 0)
            return -1;
        a->type = a->lit.kind == TV_INT ? TA_INT : TA_STRING;
        return 0;
    case K_NUMBER:
        if (number_value(p, t, &a->lit) < 0)
            return -1;
        a->type = a->lit.kind == TV_INT ? TA_INT : TA_FLOAT;
        return 0;
    case K_LPAREN:
        if (++p->depth > TMPL_MAX_DEPTH)
            return fail(p, t->start, "nesting deeper than %d", TMPL_MAX_DEPTH);
        a->type = TA_PIPE;
        a->pipe = pipeline(p, "parenthesized pipeline", K_RPAREN, 0);
        p->depth--;
        return a->pipe ? field_chain(p, a) : -1;
    case K_RDELIM:
    case K_RPAREN:
    case K_PIPE:
    case K_DECLARE:
    case K_ASSIGN:
    case K_COMMA:
        break;
    }
    return fail(p, t->start, "unexpected \"%.*s\" in operand", (int)(t->end - t->start),
                p->src + t->start);
}

/* What a literal operand is, for messages. */
static const char *arg_desc(const struct tmpl_arg *a)
{
    switch (a->type) {
    case TA_NIL:
        return "nil";
    case TA_STRING:
        return "a string";
    case TA_INT:
    case TA_FLOAT:
        return "a number";
    case TA_BOOL:
        return "a boolean";
    case TA_DOT:
    case TA_FIELD:
    case TA_VAR:
    case TA_PIPE:
    case TA_FUNC:
        break;
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
        if (lex(p, &t) < 0)
            return -1;
        if (t.t == end || t.t == K_PIPE || (t.t == K_RDELIM && end == K_RPAREN) ||
            (t.t == K_RPAREN && end == K_RDELIM)) {
            if (t.t != end && t.t != K_PIPE)
                return fail(p, t.start, "unexpected \"%.*s\": expected %s",
                            (int)(t.end - t.start), p->src + t.start,
                            end == K_RPAREN ? "\")\"" : "\"}}\"");
            if (n == 0)
                return fail(p, t.start, "missing value for command");
            *stop = t;
            break;
        }
        if (n == sizeof args / sizeof args[0])
            return fail(p, t.start, "too many arguments (at most %zu)", n);
        memset(&args[n], 0, sizeof args[n]);
        if (operand(p, &t, &args[n]) < 0)
            return -1;
        if (n++ == 0)
            args[0].len = p->pos - args[0].pos;
        struct token next; /* Go: operands are separated by spaces */
        if (peek(p, &next) < 0)
            return -1;
        if (!next.space_before && next.t != K_RDELIM && next.t != K_RPAREN && next.t != K_PIPE)
            return fail(p, next.start, "unexpected \"%.*s\" in operand: expected a space before it",
                        (int)(next.end - next.start), p->src + next.start);
    }
    enum tmpl_arg_type first = args[0].type;
    if (stage > 0 && (first == TA_DOT || first == TA_STRING || first == TA_INT ||
                      first == TA_FLOAT || first == TA_BOOL || first == TA_NIL))
        return fail(p, args[0].pos,
                    "non executable command in pipeline stage %zu: expected a function, "
                    "found %s",
                    stage + 1, arg_desc(&args[0]));
    cmd->pos = args[0].pos;
    cmd->args = palloc(p, n * sizeof *cmd->args);
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
    if (peek(p, &v1) < 0 || v1.t != K_VAR)
        return p->failed ? -1 : 0;
    lex(p, &v1);
    if (lex(p, &op) < 0)
        return -1;
    int n = 1;
    if (op.t == K_COMMA && max_decl < 2)
        return fail(p, op.start, "unexpected \",\": only {{range}} declares two variables");
    if (op.t == K_COMMA) {
        if (lex(p, &v2) < 0)
            return -1;
        if (v2.t != K_VAR)
            return fail(p, v2.start, "expected a variable after \",\"");
        if (lex(p, &op) < 0)
            return -1;
        n = 2;
    }
    if (op.t != K_DECLARE && op.t != K_ASSIGN) {
        if (n == 2)
            return fail(p, op.start, "expected \":=\" or \"=\" after the range variables");
        p->pos = save; /* the variable is the pipeline's operand */
        return 0;
    }
    pipe->assign = op.t == K_ASSIGN;
    pipe->ndecl = n;
    const struct token *vars[2] = {&v1, &v2};
    for (int i = 0; i < n; i++) {
        pipe->decl[i] = tok_text(p, vars[i]);
        if (!pipe->decl[i])
            return -1;
    }
    return 0;
}

/* pipeline := [decl] command {"|" command} ["|"] end. The declared (or
 * assigned) variables come into scope after the pipeline. */
static struct tmpl_pipe *pipeline(struct parser *p, const char *context, enum tok end,
                                  int max_decl)
{
    struct tmpl_pipe *pipe = palloc(p, sizeof *pipe);
    if (!pipe)
        return NULL;
    if (declaration(p, pipe, max_decl) < 0)
        return NULL;
    struct tmpl_cmd cmds[32];
    size_t n = 0;
    struct token stop;
    do {
        struct token t;
        if (peek(p, &t) < 0)
            return NULL;
        if (n == 0 && t.t == end)
            return fail(p, t.start, "missing value for %s", context), NULL;
        if (t.t == end) { /* Go accepts a "|" before the end */
            lex(p, &stop);
            break;
        }
        if (n == sizeof cmds / sizeof cmds[0])
            return fail(p, t.start, "too many commands in a pipeline (at most %zu)", n), NULL;
        if (command(p, end, n, &cmds[n], &stop) < 0)
            return NULL;
        n++;
    } while (stop.t == K_PIPE);
    if (end == K_RDELIM)
        p->trim_next = stop.trim;
    pipe->cmds = palloc(p, n * sizeof *pipe->cmds);
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
    if (lex(p, &t) < 0)
        return -1;
    if (t.t != K_RDELIM)
        return fail(p, t.start, "unexpected \"%.*s\" in %s: expected \"}}\"",
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
        return fail(p, kw_pos, "nesting deeper than %d", TMPL_MAX_DEPTH), NULL;
    size_t scope = p->nvars;
    struct tmpl_node *n = palloc(p, sizeof *n);
    if (!n)
        return NULL;
    n->type = type;
    n->pos = kw_pos;
    n->pipe = pipeline(p, names[type], K_RDELIM, type == TN_RANGE ? 2 : 1);
    enum list_end how;
    size_t end_pos;
    if (!n->pipe || list(p, &n->list, &how, &end_pos) < 0)
        return NULL;
    if (how == END_ELSE) {
        struct token t;
        if (peek(p, &t) < 0)
            return NULL;
        if ((type == TN_IF && tok_is(p, &t, "if")) || (type == TN_WITH && tok_is(p, &t, "with"))) {
            lex(p, &t);
            n->else_list = control(p, type, t.start);
            if (!n->else_list)
                return NULL;
            how = END_END;
        } else {
            if (close_action(p, "{{else}}") < 0 || list(p, &n->else_list, &how, &end_pos) < 0)
                return NULL;
            if (how == END_ELSE)
                return fail(p, end_pos, "unexpected {{else}}: {{%s}} already has one, "
                            "expected {{end}}", names[type]), NULL;
        }
    }
    if (how == END_EOF) {
        int line, col;
        tmpl__linecol(p->src, kw_pos, &line, &col);
        return fail(p, end_pos, "unexpected end of text: {{%s}} at %d:%d has no {{end}}",
                    names[type], line, col), NULL;
    }
    p->nvars = scope;
    p->depth--;
    return n;
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
            return fail(p, start, "unclosed comment: expected \"*/\"");
        p->pos = (size_t)(close - s) + 2;
        if (s[p->pos] == '}' && s[p->pos + 1] == '}') {
            p->pos += 2;
            p->trim_next = 0;
        } else if (is_space(s[p->pos]) && !strncmp(s + p->pos + 1, "-}}", 3)) {
            p->pos += 4;
            p->trim_next = 1;
        } else {
            return fail(p, p->pos, "comment ends before closing delimiter: expected \"}}\"");
        }
        return 0;
    }
    struct token t;
    if (peek(p, &t) < 0)
        return -1;
    static const struct {
        const char *kw;
        enum tmpl_node_type type;
    } ctl[] = {{"if", TN_IF}, {"with", TN_WITH}, {"range", TN_RANGE}};
    for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++)
        if (tok_is(p, &t, ctl[i].kw)) {
            lex(p, &t);
            *node = control(p, ctl[i].type, t.start);
            return *node ? 0 : -1;
        }
    if (tok_is(p, &t, "end") || tok_is(p, &t, "else")) {
        lex(p, &t);
        *how = tok_is(p, &t, "end") ? END_END : END_ELSE;
        if (p->depth == 0)
            return fail(p, t.start, "unexpected {{%.*s}} outside {{if}}, {{with}} or {{range}}",
                        (int)(t.end - t.start), s + t.start);
        return *how == END_END ? close_action(p, "{{end}}") : 0;
    }
    if (is_keyword(p, &t))
        return fail(p, t.start, "{{%.*s}} is not supported in alert templates",
                    (int)(t.end - t.start), s + t.start);
    struct tmpl_node *n = palloc(p, sizeof *n);
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
        while (from < to && is_space(s[from]))
            from++;
    if (trim_right)
        while (to > from && is_space(s[to - 1]))
            to--;
    if (from == to)
        return 0;
    struct tmpl_node *n = palloc(p, sizeof *n);
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
static int list(struct parser *p, struct tmpl_node **out, enum list_end *how,
                size_t *end_pos)
{
    struct tmpl_node **tail = out;
    *out = NULL;
    for (;;) {
        const char *s = p->src;
        const char *open = strstr(s + p->pos, "{{");
        size_t to = open ? (size_t)(open - s) : p->pos + strlen(s + p->pos);
        int trim_left = p->trim_next;
        int trim_right = open && open[2] == '-' && is_space(open[3]);
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
    struct parser p = {.arena = &t->arena, .err = err, .errcap = errcap};
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
