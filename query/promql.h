/* promql.h — PromQL as Prometheus 3 writes it: the lexer, the parser with
 * Prometheus' static type rules, the syntax tree the evaluator walks, and
 * the printer that writes a tree back as canonical PromQL.
 *
 * Design notes
 * - promql_parse() returns a tree owned by one struct promql_expr: every
 *   node, string and array lives in its arena and goes away with
 *   promql_expr_free(). Nothing in a tree is freed on its own. Code that
 *   rewrites a tree (the evaluator) allocates new parts with
 *   promql_expr_alloc() from the same arena.
 * - Positions are byte offsets into the query text: [start, end). Errors
 *   also carry the 1-based line and byte column of their start.
 * - Types are checked at parse time as Prometheus does (ranges only where a
 *   function expects one, scalar comparisons need bool, set operators only
 *   between vectors, ...), so the evaluator may trust every node's type.
 * - Durations (ranges, steps, offsets, @ times) are int64 milliseconds.
 *   A number may stand for a duration (seconds) and a duration for a number
 *   (its seconds), as in Prometheus 3: foo[300] == foo[5m], 1h == 3600.
 */
#ifndef VIGIL_PROMQL_H
#define VIGIL_PROMQL_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb.h"

/* ---- types, operators, functions ------------------------------------- */

/* The type of a value an expression produces. */
enum promql_type {
    PROMQL_TYPE_NONE,   /* no value (never the type of a parsed node) */
    PROMQL_TYPE_SCALAR, /* one float */
    PROMQL_TYPE_VECTOR, /* instant vector: one sample per series */
    PROMQL_TYPE_MATRIX, /* range vector: samples over a range per series */
    PROMQL_TYPE_STRING, /* string literal */
};

/* "scalar", "instant vector", "range vector", "string" or "none": the
 * words Prometheus uses in its messages. */
const char *promql_type_name(enum promql_type t);

/* Binary operators (PROMQL_OP_ADD and PROMQL_OP_SUB are also the unary
 * ones), in Prometheus' order of increasing precedence groups:
 * or < and unless < comparisons < + - < * / % atan2 < ^ (right-assoc). */
enum promql_op {
    PROMQL_OP_OR,
    PROMQL_OP_AND,
    PROMQL_OP_UNLESS,
    PROMQL_OP_EQLC, /* == */
    PROMQL_OP_NEQ,  /* != */
    PROMQL_OP_GTR,  /* >  */
    PROMQL_OP_LSS,  /* <  */
    PROMQL_OP_GTE,  /* >= */
    PROMQL_OP_LTE,  /* <= */
    PROMQL_OP_ADD,
    PROMQL_OP_SUB,
    PROMQL_OP_MUL,
    PROMQL_OP_DIV,
    PROMQL_OP_MOD,
    PROMQL_OP_ATAN2,
    PROMQL_OP_POW,
};

/* The operator as written: "+", "==", "and", "atan2", ... */
const char *promql_op_name(enum promql_op op);
int promql_op_is_comparison(enum promql_op op); /* == != > < >= <= */
int promql_op_is_set(enum promql_op op);        /* and or unless */

/* Aggregation operators. The ones after PROMQL_AGG_GROUP take a parameter
 * (the first argument): topk(k, v), quantile(q, v), count_values("label",
 * v), limitk(k, v), limit_ratio(r, v). */
enum promql_agg {
    PROMQL_AGG_SUM,
    PROMQL_AGG_AVG,
    PROMQL_AGG_COUNT,
    PROMQL_AGG_MIN,
    PROMQL_AGG_MAX,
    PROMQL_AGG_STDDEV,
    PROMQL_AGG_STDVAR,
    PROMQL_AGG_GROUP,
    PROMQL_AGG_TOPK,
    PROMQL_AGG_BOTTOMK,
    PROMQL_AGG_QUANTILE,
    PROMQL_AGG_COUNT_VALUES,
    PROMQL_AGG_LIMITK,
    PROMQL_AGG_LIMIT_RATIO,
};

const char *promql_agg_name(enum promql_agg op); /* "sum", "topk", ... */
int promql_agg_has_param(enum promql_agg op);

/* A function of the PromQL library and its signature. Arguments beyond
 * nargs repeat the type of the last one: variadic is how many more may
 * follow (-1 for any number); when variadic != 0 the last listed argument
 * is optional too, as in Prometheus (round(v) and round(v, 0.5)). */
#define PROMQL_FUNC_MAX_ARGS 5
struct promql_func {
    const char *name;
    enum promql_type args[PROMQL_FUNC_MAX_ARGS];
    int nargs;
    int variadic;
    enum promql_type ret;
    int native_histograms; /* only meaningful on native histograms */
};

/* The function called name (case-sensitive, as in Prometheus), or NULL. */
const struct promql_func *promql_func_lookup(const char *name);
/* All functions, sorted by name: promql_funcs[0 .. promql_nfuncs). */
extern const struct promql_func promql_funcs[];
extern const size_t promql_nfuncs;

/* ---- syntax tree ------------------------------------------------------ */

/* Where a node or error is in the query: bytes [start, end). */
struct promql_pos {
    size_t start, end;
};

enum promql_kind {
    PROMQL_NUMBER,          /* 1, 0x1f, 1e3, Inf, NaN, 5m (300) */
    PROMQL_STRING,          /* "x", 'x', `x` */
    PROMQL_VECTOR_SELECTOR, /* foo{a="b"} offset 5m @ 100 */
    PROMQL_MATRIX_SELECTOR, /* foo{a="b"}[5m] */
    PROMQL_SUBQUERY,        /* expr[1h:5m] */
    PROMQL_PAREN,           /* (expr) */
    PROMQL_UNARY,           /* -expr, +expr */
    PROMQL_BINARY,          /* lhs op bool on(..) group_left(..) rhs */
    PROMQL_AGGREGATE,       /* sum by (a) (expr), topk(5, expr) */
    PROMQL_CALL,            /* rate(expr) */
};

/* The @ modifier: none, a fixed time, or the query's start or end. */
enum promql_at {
    PROMQL_AT_NONE,
    PROMQL_AT_TIME,  /* @ <unix seconds>: at_ms */
    PROMQL_AT_START, /* @ start() */
    PROMQL_AT_END,   /* @ end() */
};

/* offset and @ of a vector selector or subquery. A matrix selector keeps
 * them in its vector selector, as Prometheus does. */
struct promql_modifiers {
    int64_t offset_ms; /* 0 for none; negative looks ahead */
    enum promql_at at;
    int64_t at_ms; /* with PROMQL_AT_TIME */
};

/* A list of label names (by, without, on, ignoring, group_left/right), in
 * the order written. names[i] are NUL-terminated. */
struct promql_labels {
    char **names;
    size_t n;
};

/* How a binary operation between two instant vectors pairs series. */
enum promql_card {
    PROMQL_CARD_ONE_TO_ONE,
    PROMQL_CARD_MANY_TO_ONE,  /* group_left: the left side may have many */
    PROMQL_CARD_ONE_TO_MANY,  /* group_right */
    PROMQL_CARD_MANY_TO_MANY, /* set operators */
};

struct promql_matching {
    enum promql_card card;
    int on;                      /* 1: on(labels); 0: ignoring(labels) */
    struct promql_labels labels; /* of on/ignoring; empty if neither */
    struct promql_labels include; /* of group_left/group_right */
};

struct promql_node {
    enum promql_kind kind;
    enum promql_type type; /* static type of the value it produces */
    struct promql_pos pos; /* the text of the node, modifiers included */
    union {
        /* PROMQL_NUMBER: scalar. is_duration when written as a duration
         * (printed back as one); value is then in seconds. */
        struct {
            double value;
            int is_duration;
        } number;
        /* PROMQL_STRING: decoded value; len counts bytes (\x00 may put
         * NUL bytes inside), value[len] is NUL. */
        struct {
            char *value;
            size_t len;
        } string;
        /* PROMQL_VECTOR_SELECTOR: instant vector. name is the metric name
         * when one was written (foo{..} or {"foo", ..}), else NULL. The
         * matchers are compiled (regexes anchored, PCRE2): when name is
         * set, matchers[0] is __name__="name", then the ones in braces in
         * order. At least one matcher does not match "" (or the selector
         * is info()'s label-only second argument). */
        struct {
            char *name;
            struct tsdb_matcher *matchers;
            size_t n_matchers;
            struct promql_modifiers mod;
        } vs;
        /* PROMQL_MATRIX_SELECTOR: range vector. vs is a
         * PROMQL_VECTOR_SELECTOR node whose mod holds offset and @. */
        struct {
            struct promql_node *vs;
            int64_t range_ms; /* > 0 */
        } matrix;
        /* PROMQL_SUBQUERY: range vector. expr is an instant vector;
         * step_ms 0 means the default evaluation interval ([1h:]). */
        struct {
            struct promql_node *expr;
            int64_t range_ms; /* > 0 */
            int64_t step_ms;  /* >= 0 */
            struct promql_modifiers mod;
        } subquery;
        /* PROMQL_PAREN: same type as expr. */
        struct {
            struct promql_node *expr;
        } paren;
        /* PROMQL_UNARY: op is PROMQL_OP_ADD or PROMQL_OP_SUB; expr is a
         * scalar or instant vector (a number literal operand is folded
         * into the literal instead: -1 is a PROMQL_NUMBER). */
        struct {
            enum promql_op op;
            struct promql_node *expr;
        } unary;
        /* PROMQL_BINARY: scalar when both sides are scalars, else instant
         * vector. return_bool for "bool" (comparisons only). matching is
         * meaningful only when both sides are instant vectors (it is reset
         * to one-to-one with no labels otherwise); set operators always
         * have PROMQL_CARD_MANY_TO_MANY. */
        struct {
            enum promql_op op;
            struct promql_node *lhs, *rhs;
            int return_bool;
            struct promql_matching matching;
        } binary;
        /* PROMQL_AGGREGATE: instant vector. param is the first argument of
         * topk/bottomk/quantile/limitk/limit_ratio (scalar) and
         * count_values (string), else NULL. without selects "without";
         * grouping lists the labels of by/without (by () and no clause
         * both mean one group). */
        struct {
            enum promql_agg op;
            struct promql_node *expr;
            struct promql_node *param;
            int without;
            struct promql_labels grouping;
        } aggregate;
        /* PROMQL_CALL: type func->ret; args match func's signature. */
        struct {
            const struct promql_func *func;
            struct promql_node **args;
            size_t nargs;
        } call;
    };
};

/* A parsed query: the tree and the arena that owns it. */
struct promql_expr {
    struct promql_node *root;
    const char *query; /* a copy of the query text, owned */
    struct promql_arena *arena; /* private */
};

/* Why a query did not parse. msg follows Prometheus' wording, e.g.
 * `unexpected <op:*>`, `unexpected end of input`,
 * `unexpected identifier "x" in grouping opts, expected label`,
 * `expected type range vector in call to function "rate", got instant
 * vector`. pos is the offending text; line and col (1-based, col in bytes)
 * locate pos.start. */
struct promql_error {
    struct promql_pos pos;
    unsigned line, col;
    char msg[256];
};

/* Parses and type-checks query (NUL-terminated). A query of any type
 * parses (a string, a range vector); the caller decides what it can
 * evaluate. @return 0 and *out (free with promql_expr_free), -EINVAL with
 * *err filled in, or -ENOMEM. */
int promql_parse(const char *query, struct promql_expr **out /* OUT */,
                 struct promql_error *err /* OUT */);

void promql_expr_free(struct promql_expr *e);

/* size bytes of zeroed memory owned by e's arena (aligned for any node),
 * for code that builds or rewrites nodes. @return NULL on ENOMEM. */
void *promql_expr_alloc(struct promql_expr *e, size_t size);

/* Writes "LINE:COL: parse error: MSG", Prometheus' form, into buf (cap
 * bytes, NUL-terminated). @return the length snprintf would. */
int promql_error_format(const struct promql_error *err, char *buf, size_t cap);

/* Calls visit(node, arg) on n and then on every node below it, depth first
 * with children in source order (a matrix selector's vector selector, an
 * aggregation's parameter before its expression), until visit returns
 * nonzero. @return that value, or 0 (also for NULL n). */
int promql_walk(const struct promql_node *n,
                int (*visit)(const struct promql_node *node, void *arg), void *arg);

/* ---- printing --------------------------------------------------------- */

/* Writes node as canonical PromQL, the way Prometheus' String() does:
 * single spaces around binary operators, "sum by (a) (x)", "{a="b"}"
 * with double-quoted Go strings, durations as 1h30m, @ as seconds with
 * three decimals. Parsing the text gives a tree that prints the same.
 * @return a malloc'd string (the caller frees it), or NULL on ENOMEM. */
char *promql_print(const struct promql_node *node);

/* Writes ms as a Prometheus duration (1y, 2w, 1d3h, 1m30s, 250ms, 0s;
 * negative with a leading '-') into buf. @return the length snprintf
 * would. */
int promql_duration_format(int64_t ms, char *buf, size_t cap);

/* ---- lexer ------------------------------------------------------------ */

/* Token types. Words that are keywords outside braces are matched
 * case-insensitively (SUM, By); inside braces every word is an identifier. */
enum promql_tok {
    PROMQL_T_EOF,
    PROMQL_T_ERROR, /* the lexer's message is in the lexer */
    PROMQL_T_IDENT, /* [a-zA-Z_][a-zA-Z0-9_]* */
    PROMQL_T_METRIC_IDENT, /* an identifier with ':' */
    PROMQL_T_NUMBER, /* 1, .5, 1e3, 0x1f, Inf, NaN */
    PROMQL_T_DURATION, /* 5m, 1h30m, 100ms */
    PROMQL_T_STRING, /* quoted, escapes checked, not decoded */
    PROMQL_T_LPAREN,
    PROMQL_T_RPAREN,
    PROMQL_T_LBRACE,
    PROMQL_T_RBRACE,
    PROMQL_T_LBRACKET,
    PROMQL_T_RBRACKET,
    PROMQL_T_COMMA,
    PROMQL_T_COLON, /* only inside brackets */
    PROMQL_T_EQL,   /* = */
    PROMQL_T_EQL_REGEX, /* =~ */
    PROMQL_T_NEQ_REGEX, /* !~ */
    PROMQL_T_AT,        /* @ */
    PROMQL_T_OP,   /* a binary operator: token.op (+ - also unary) */
    PROMQL_T_AGGR, /* an aggregation operator: token.agg */
    PROMQL_T_BOOL,
    PROMQL_T_BY,
    PROMQL_T_WITHOUT,
    PROMQL_T_ON,
    PROMQL_T_IGNORING,
    PROMQL_T_GROUP_LEFT,
    PROMQL_T_GROUP_RIGHT,
    PROMQL_T_OFFSET,
};

struct promql_token {
    enum promql_tok type;
    size_t pos, len; /* the token's text: s[pos .. pos+len) */
    enum promql_op op;   /* PROMQL_T_OP */
    enum promql_agg agg; /* PROMQL_T_AGGR */
};

/* Scanner state: init with promql_lexer_init, then call promql_lex until
 * EOF or ERROR (both repeat from then on). */
struct promql_lexer {
    const char *s;
    size_t pos;
    int paren_depth;
    int in_braces, in_brackets;
    struct promql_token stop; /* EOF or ERROR, once reached */
    int stopped;
    char errmsg[160]; /* with PROMQL_T_ERROR */
};

void promql_lexer_init(struct promql_lexer *lx, const char *s);
struct promql_token promql_lex(struct promql_lexer *lx);

/* How an error message names token t of source s: `end of input`,
 * `<op:*>`, `<aggr:sum>`, `<by>`, `"("`, `identifier "foo"`,
 * `number "1"`, `string "\"a\""`. Writes into buf; @return buf. */
const char *promql_token_desc(const struct promql_token *t, const char *s, char *buf,
                              size_t cap);

#endif
