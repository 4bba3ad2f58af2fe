/* template_lex.h — private to template.c and template_lex.c: the tokens
 * of an action, the parser state both share, and the scanner. */
#ifndef VIGIL_TEMPLATE_LEX_H
#define VIGIL_TEMPLATE_LEX_H

#include "template_int.h"

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
    int range_depth;   /* {{break}} and {{continue}} need one */
    const char **vars; /* variables in scope, innermost last */
    size_t nvars, vars_cap;
    size_t vars_floor;      /* a {{define}} body sees vars[vars_floor..] only */
    struct tmpl_def **defs; /* where {{define}} and {{block}} add templates */
    char *err;
    size_t errcap;
    int failed; /* -1 syntax, -ENOMEM */
};

/* Records a parse error "LINE:COL: message" at byte offset pos (the first
 * one only). @return -1. */
int tmpl__fail(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocates from the parse tree's arena (zeroed); NULL marks ENOMEM. */
void *tmpl__palloc(struct parser *p, size_t n);

/* 1 for the white space Go's templates know: space, tab, CR, LF. */
int tmpl__is_space(char c);

/* Reads the next token inside an action (tmpl__lex) or looks at it
 * without consuming it (tmpl__peek). @return 0, or -1 with the error set. */
int tmpl__lex(struct parser *p, struct token *t /* OUT */);
int tmpl__peek(struct parser *p, struct token *t /* OUT */);

/* 1 if t is the identifier word. */
int tmpl__tok_is(const struct parser *p, const struct token *t, const char *word);

/* t's text, copied to the arena (NULL: ENOMEM, marked). */
const char *tmpl__tok_text(struct parser *p, const struct token *t);

/* The value of a number token (an int unless it has a fraction or
 * exponent, as Go's untyped constants passed as interface{}), and of a
 * string or character token. @return 0, or -1 with the error set. */
int tmpl__number_value(struct parser *p, const struct token *t, struct tmpl_value *lit /* OUT */);
int tmpl__string_value(struct parser *p, const struct token *t, struct tmpl_value *lit /* OUT */);

#endif
