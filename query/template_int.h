/* template_int.h — private to query/template*.c: the values a template
 * computes with, the arena that owns parse trees and execution strings,
 * the bounded output buffer, and the function table. */
#ifndef VIGIL_TEMPLATE_INT_H
#define VIGIL_TEMPLATE_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "template.h"

/* Output is capped so a runaway `range` or `printf "%999999d"` cannot eat
 * memory: exceeding it is an execution error. */
#define TMPL_OUTPUT_MAX_BYTES (1u << 20)
/* Nesting of control structures and parentheses the parser accepts. */
#define TMPL_MAX_DEPTH 64

/* Go's dynamic types as the templates see them: untyped number constants
 * become int or float64, label maps are map[string]string, `.` at the top
 * is the alert data struct. */
enum tmpl_kind { TV_NIL, TV_BOOL, TV_INT, TV_FLOAT, TV_STRING, TV_MAP, TV_DATA };

struct tmpl_value {
    enum tmpl_kind kind;
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *p; /* not NUL-terminated in general */
            size_t len;
        } s;
        const struct tsdb_labels *map; /* NULL is the empty map */
        const struct tmpl_data *data;
    } u;
};

/* Bump allocator: everything allocated from it is freed at once. */
struct tmpl_arena {
    struct tmpl_chunk *head;
};
void *tmpl__alloc(struct tmpl_arena *a, size_t n);
char *tmpl__strndup(struct tmpl_arena *a, const char *s, size_t n);
void tmpl__arena_free(struct tmpl_arena *a);

/* Growable byte buffer; puts fail (-1) on ENOMEM or past max bytes, and
 * set nomem or full accordingly. */
struct tmpl_buf {
    char *p;
    size_t len, cap, max;
    int nomem, full;
};
int tmpl__put(struct tmpl_buf *b, const char *s, size_t n);
int tmpl__putc(struct tmpl_buf *b, char c);
int tmpl__printf(struct tmpl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The state of one execution that functions may use: allocate result
 * strings from arena, and on failure write the reason to err. */
struct tmpl_call {
    const struct tmpl_data *data;
    struct tmpl_arena *arena;
    char err[512];
    int nomem;
};

/* A template function: @return 0 with *out, or -1 with call->err set
 * (call->nomem for ENOMEM). */
typedef int (*tmpl_fn)(struct tmpl_call *call, const struct tmpl_value *args, size_t nargs,
                       struct tmpl_value *out /* OUT */);

/* and / or evaluate their arguments lazily, left to right (Go 1.18). */
enum tmpl_func_kind { TF_EAGER, TF_AND, TF_OR };

struct tmpl_func {
    const char *name;
    int min_args, max_args; /* max_args -1: variadic */
    tmpl_fn fn;
    enum tmpl_func_kind kind;
};

/* Helpers of the function implementations. tmpl__fnerr sets the call's
 * message and returns -1; tmpl__ret_buf moves b into an arena string
 * (freeing b; an error if b failed); tmpl__want_string gives a string
 * argument or Go's complaint about its type. */
int tmpl__fnerr(struct tmpl_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tmpl__ret_buf(struct tmpl_call *c, struct tmpl_buf *b, struct tmpl_value *out /* OUT */);
int tmpl__want_string(struct tmpl_call *c, const struct tmpl_value *v, const char **s /* OUT */,
                      size_t *n /* OUT */);

static inline struct tmpl_buf tmpl__new_buf(void)
{
    return (struct tmpl_buf){.max = TMPL_OUTPUT_MAX_BYTES};
}

static inline int tmpl__ret_bool(struct tmpl_value *out, int b)
{
    out->kind = TV_BOOL;
    out->u.b = b;
    return 0;
}

/* A known function Vigil does not implement: fails when called. */
int tmpl__fn_unsupported(struct tmpl_call *c, const struct tmpl_value *args, size_t nargs,
                         struct tmpl_value *out /* OUT */);

/* match and reReplaceAll (template_regex.c). */
int tmpl__fn_match(struct tmpl_call *c, const struct tmpl_value *args, size_t nargs,
                   struct tmpl_value *out /* OUT */);
int tmpl__fn_re_replace_all(struct tmpl_call *c, const struct tmpl_value *args, size_t nargs,
                            struct tmpl_value *out /* OUT */);

/* Prometheus' functions (template_prom.c). */
extern const struct tmpl_func tmpl__prom_funcs[];
extern const size_t tmpl__prom_nfuncs;

/* The function named s[0..len), or NULL. */
const struct tmpl_func *tmpl__func_lookup(const char *s, size_t len);

/* Appends v as Go's fmt.Sprint prints it (float64 as %v: shortest 'g'). */
int tmpl__print_value(struct tmpl_buf *b, const struct tmpl_value *v);

/* Go's name for v's type in messages: "float64", "string", "map[string]string". */
const char *tmpl__type_name(const struct tmpl_value *v);

/* Go's truth: false, 0, "", nil and empty maps are false. */
int tmpl__truth(const struct tmpl_value *v);

/* Formats like Go's fmt.Sprintf (verbs and flags in docs/templates.md).
 * @return 0, or -1 when b fails. */
int tmpl__sprintf(struct tmpl_buf *b, const char *fmt, size_t fmtlen, const struct tmpl_value *args,
                  size_t nargs);

/* Go's fmt.Sprint / Sprintln of args: spaces between operands when
 * neither is a string (always, for println, which adds a newline). */
int tmpl__sprint(struct tmpl_buf *b, const struct tmpl_value *args, size_t nargs, int ln);

/* f as Go's %.<prec>g (prec -1: shortest, as %v): "1.235e+06", "NaN",
 * "+Inf". */
int tmpl__format_g(struct tmpl_buf *b, double f, int prec);

/* The parse tree. Positions are byte offsets into the source text. */
enum tmpl_arg_type {
    TA_FUNC,  /* a function name: only first in a command */
    TA_DOT,   /* . */
    TA_FIELD, /* .A.B: fields of dot */
    TA_VAR,   /* $x.A.B */
    TA_PIPE,  /* (pipeline).A.B */
    TA_STRING,
    TA_INT,
    TA_FLOAT,
    TA_BOOL,
    TA_NIL,
};

struct tmpl_pipe;

struct tmpl_arg {
    enum tmpl_arg_type type;
    size_t pos, len;            /* len: of the source text, set for a command's first */
    const char *name;           /* TA_VAR: the variable, "$" included */
    const struct tmpl_func *fn; /* TA_FUNC */
    struct tmpl_pipe *pipe;     /* TA_PIPE */
    const char **fields;        /* field chain of TA_FIELD, TA_VAR, TA_PIPE */
    size_t nfields;
    struct tmpl_value lit; /* literals */
};

struct tmpl_cmd {
    size_t pos;
    struct tmpl_arg *args;
    size_t nargs;
};

struct tmpl_pipe {
    const char *decl[2]; /* variables declared (:=) or assigned (=) */
    int ndecl, assign;
    struct tmpl_cmd *cmds;
    size_t ncmds;
};

enum tmpl_node_type {
    TN_TEXT,
    TN_ACTION,
    TN_IF,
    TN_WITH,
    TN_RANGE,
    TN_BREAK, /* inside a range's list only */
    TN_CONTINUE,
    TN_TEMPLATE, /* {{template "name" pipe}} and the call of a {{block}} */
};

struct tmpl_node {
    enum tmpl_node_type type;
    size_t pos;
    struct tmpl_node *next;
    const char *text; /* TN_TEXT; TN_TEMPLATE: the template's name */
    size_t len;
    struct tmpl_pipe *pipe;
    struct tmpl_node *list, *else_list; /* control structures */
};

/* A named template: {{define "name"}} or {{block "name" ...}}. */
struct tmpl_def {
    const char *name;
    struct tmpl_node *root;
    struct tmpl_def *next; /* later definitions first: the last one wins */
};

struct tmpl {
    struct tmpl_arena arena;
    const char *src; /* copy of the source, for positions in messages */
    struct tmpl_node *root;
    struct tmpl_def *defs;
};

/* Decodes the UTF-8 sequence at s (n > 0 bytes left); an invalid byte is
 * read alone as U+FFFD. @return the bytes read. */
size_t tmpl__rune_at(const unsigned char *s, size_t n, uint32_t *cp /* OUT */);

/* Appends code point cp (at most U+10FFFF) as UTF-8. @return 0 or -1 as
 * tmpl__put. */
int tmpl__put_rune(struct tmpl_buf *b, uint32_t cp);

/* 1 for the non-ASCII white space characters of Unicode (U+00A0, ...). */
int tmpl__is_unicode_space(uint32_t c);

/* Copies the Go number literal s[0..n) into buf without its underscores,
 * which Go allows only between digits or after a base prefix (0x_1).
 * @return 0, or -1 when one is misplaced or buf (cap bytes) is too small. */
int tmpl__go_digits(const char *s, size_t n, char *buf, size_t cap);

/* 1-based line and column of byte offset pos in src. */
void tmpl__linecol(const char *src, size_t pos, int *line /* OUT */, int *col /* OUT */);

#endif
