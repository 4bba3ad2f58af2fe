/* promql_parse.c — recursive-descent PromQL parser with precedence
 * climbing for binary operators, Prometheus' static type checks, the
 * function table, and the arena that owns a parsed tree.
 *
 * Design notes
 * - The whole query is scanned first; a lexer error becomes an ERROR token
 *   at its position, so the parser reports it only when it gets there and
 *   an earlier syntax error wins, as in Prometheus.
 * - Syntax errors (and the checks Prometheus makes in its grammar actions:
 *   modifiers, ranges, aggregation arity, unknown functions) stop parsing at
 *   once. The type checks (check()) run over the finished tree in
 *   Prometheus' order, so the first error reported is the one Prometheus
 *   reports.
 * - Postfix modifiers ([range], [range:step], offset, @) bind tighter than
 *   unary minus, which binds like '*' (so -a^b is -(a^b)); ^ is
 *   right-associative, every other operator left-associative. */
#include "promql.h"

#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strlit.h"
#include "timefmt.h"

/* ---- function table --------------------------------------------------- */

#define S PROMQL_TYPE_SCALAR
#define V PROMQL_TYPE_VECTOR
#define M PROMQL_TYPE_MATRIX
#define STR PROMQL_TYPE_STRING

/* Sorted by name (promql_func_lookup does a binary search). */
const struct promql_func promql_funcs[] = {
    {"abs", {V}, 1, 0, V, 0},
    {"absent", {V}, 1, 0, V, 0},
    {"absent_over_time", {M}, 1, 0, V, 0},
    {"acos", {V}, 1, 0, V, 0},
    {"acosh", {V}, 1, 0, V, 0},
    {"asin", {V}, 1, 0, V, 0},
    {"asinh", {V}, 1, 0, V, 0},
    {"atan", {V}, 1, 0, V, 0},
    {"atanh", {V}, 1, 0, V, 0},
    {"avg_over_time", {M}, 1, 0, V, 0},
    {"ceil", {V}, 1, 0, V, 0},
    {"changes", {M}, 1, 0, V, 0},
    {"clamp", {V, S, S}, 3, 0, V, 0},
    {"clamp_max", {V, S}, 2, 0, V, 0},
    {"clamp_min", {V, S}, 2, 0, V, 0},
    {"cos", {V}, 1, 0, V, 0},
    {"cosh", {V}, 1, 0, V, 0},
    {"count_over_time", {M}, 1, 0, V, 0},
    {"day_of_month", {V}, 1, 1, V, 0},
    {"day_of_week", {V}, 1, 1, V, 0},
    {"day_of_year", {V}, 1, 1, V, 0},
    {"days_in_month", {V}, 1, 1, V, 0},
    {"deg", {V}, 1, 0, V, 0},
    {"delta", {M}, 1, 0, V, 0},
    {"deriv", {M}, 1, 0, V, 0},
    {"double_exponential_smoothing", {M, S, S}, 3, 0, V, 0},
    {"end", {0}, 0, 0, S, 0},
    {"exp", {V}, 1, 0, V, 0},
    {"first_over_time", {M}, 1, 0, V, 0},
    {"floor", {V}, 1, 0, V, 0},
    {"histogram_avg", {V}, 1, 0, V, 1},
    {"histogram_count", {V}, 1, 0, V, 1},
    {"histogram_fraction", {S, S, V}, 3, 0, V, 1},
    {"histogram_quantile", {S, V}, 2, 0, V, 0},
    {"histogram_quantiles", {V, STR, S, S}, 4, 9, V, 0},
    {"histogram_stddev", {V}, 1, 0, V, 1},
    {"histogram_stdvar", {V}, 1, 0, V, 1},
    {"histogram_sum", {V}, 1, 0, V, 1},
    {"holt_winters", {M, S, S}, 3, 0, V, 0},
    {"hour", {V}, 1, 1, V, 0},
    {"idelta", {M}, 1, 0, V, 0},
    {"increase", {M}, 1, 0, V, 0},
    {"info", {V, V}, 2, 1, V, 0},
    {"irate", {M}, 1, 0, V, 0},
    {"label_join", {V, STR, STR, STR}, 4, -1, V, 0},
    {"label_replace", {V, STR, STR, STR, STR}, 5, 0, V, 0},
    {"last_over_time", {M}, 1, 0, V, 0},
    {"ln", {V}, 1, 0, V, 0},
    {"log10", {V}, 1, 0, V, 0},
    {"log2", {V}, 1, 0, V, 0},
    {"mad_over_time", {M}, 1, 0, V, 0},
    {"max_of", {S, S}, 2, 0, S, 0},
    {"max_over_time", {M}, 1, 0, V, 0},
    {"min_of", {S, S}, 2, 0, S, 0},
    {"min_over_time", {M}, 1, 0, V, 0},
    {"minute", {V}, 1, 1, V, 0},
    {"month", {V}, 1, 1, V, 0},
    {"pi", {0}, 0, 0, S, 0},
    {"predict_linear", {M, S}, 2, 0, V, 0},
    {"present_over_time", {M}, 1, 0, V, 0},
    {"quantile_over_time", {S, M}, 2, 0, V, 0},
    {"rad", {V}, 1, 0, V, 0},
    {"range", {0}, 0, 0, S, 0},
    {"rate", {M}, 1, 0, V, 0},
    {"resets", {M}, 1, 0, V, 0},
    {"round", {V, S}, 2, 1, V, 0},
    {"scalar", {V}, 1, 0, S, 0},
    {"sgn", {V}, 1, 0, V, 0},
    {"sin", {V}, 1, 0, V, 0},
    {"sinh", {V}, 1, 0, V, 0},
    {"sort", {V}, 1, 0, V, 0},
    {"sort_by_label", {V, STR}, 2, -1, V, 0},
    {"sort_by_label_desc", {V, STR}, 2, -1, V, 0},
    {"sort_desc", {V}, 1, 0, V, 0},
    {"sqrt", {V}, 1, 0, V, 0},
    {"start", {0}, 0, 0, S, 0},
    {"stddev_over_time", {M}, 1, 0, V, 0},
    {"stdvar_over_time", {M}, 1, 0, V, 0},
    {"step", {0}, 0, 0, S, 0},
    {"sum_over_time", {M}, 1, 0, V, 0},
    {"tan", {V}, 1, 0, V, 0},
    {"tanh", {V}, 1, 0, V, 0},
    {"time", {0}, 0, 0, S, 0},
    {"timestamp", {V}, 1, 0, V, 0},
    {"ts_of_first_over_time", {M}, 1, 0, V, 0},
    {"ts_of_last_over_time", {M}, 1, 0, V, 0},
    {"ts_of_max_over_time", {M}, 1, 0, V, 0},
    {"ts_of_min_over_time", {M}, 1, 0, V, 0},
    {"vector", {S}, 1, 0, V, 0},
    {"year", {V}, 1, 1, V, 0},
};
const size_t promql_nfuncs = sizeof promql_funcs / sizeof promql_funcs[0];

#undef S
#undef V
#undef M
#undef STR

const struct promql_func *promql_func_lookup(const char *name)
{
    size_t lo = 0, hi = promql_nfuncs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, promql_funcs[mid].name);
        if (c == 0)
            return &promql_funcs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- arena ------------------------------------------------------------ */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct promql_arena {
    struct arena_block *head;
    struct promql_node **selectors; /* vector selectors: matchers to free */
    size_t nsel, capsel;
};

void *promql_expr_alloc(struct promql_expr *e, size_t size)
{
    struct promql_arena *a = e->arena;
    size = (size + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    if (!a->head || a->head->cap - a->head->used < size) {
        size_t cap = size > 4000 ? size : 4000;
        struct arena_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += size;
    memset(p, 0, size);
    return p;
}

void promql_expr_free(struct promql_expr *e)
{
    if (!e)
        return;
    if (e->arena) {
        for (size_t i = 0; i < e->arena->nsel; i++) {
            struct promql_node *vs = e->arena->selectors[i];
            for (size_t k = 0; k < vs->vs.n_matchers; k++)
                tsdb_matcher_free(&vs->vs.matchers[k]);
        }
        free(e->arena->selectors);
        for (struct arena_block *b = e->arena->head, *next; b; b = next) {
            next = b->next;
            free(b);
        }
        free(e->arena);
    }
    free((char *)e->query);
    free(e);
}

/* ---- parser state and errors ------------------------------------------ */

struct parser {
    const char *s;
    struct promql_token *toks;
    size_t ntoks, i;
    char lexmsg[160];
    struct promql_expr *e;
    struct promql_error *err;
};

static const struct promql_token *cur(const struct parser *p)
{
    return &p->toks[p->i];
}

static const struct promql_token *peek(const struct parser *p, size_t ahead)
{
    size_t k = p->i + ahead;
    return &p->toks[k < p->ntoks ? k : p->ntoks - 1];
}

static void advance(struct parser *p)
{
    if (p->i + 1 < p->ntoks)
        p->i++;
}

/* Records msg for the text [start, end). @return -EINVAL. */
static int error_at(struct parser *p, size_t start, size_t end, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    p->err->pos.start = start;
    p->err->pos.end = end;
    return -EINVAL;
}

static int error_node(struct parser *p, const struct promql_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    p->err->pos = n->pos;
    return -EINVAL;
}

/* "unexpected <token>[ in context][, expected what]" at the current token;
 * the lexer's own message when the current token is a lexer error. */
static int unexpected(struct parser *p, const char *context, const char *expected)
{
    const struct promql_token *t = cur(p);
    char desc[96];
    if (t->type == PROMQL_T_ERROR)
        return error_at(p, t->pos, t->pos, "%s", p->lexmsg);
    promql_token_desc(t, p->s, desc, sizeof desc);
    return error_at(p, t->pos, t->pos + t->len, "unexpected %s%s%s%s%s", desc,
                    context ? " in " : "", context ? context : "", expected ? ", expected " : "",
                    expected ? expected : "");
}

static struct promql_node *new_node(struct parser *p, enum promql_kind kind,
                                     enum promql_type type, size_t start, size_t end)
{
    struct promql_node *n = promql_expr_alloc(p->e, sizeof *n);
    if (n) {
        n->kind = kind;
        n->type = type;
        n->pos.start = start;
        n->pos.end = end;
    }
    return n;
}

static char *arena_strndup(struct parser *p, const char *s, size_t len)
{
    char *d = promql_expr_alloc(p->e, len + 1);
    if (d)
        memcpy(d, s, len);
    return d;
}

/* Appends item (size bytes) to the arena array *arr of *n items, growing
 * it by doubling (a power-of-two count means the array is full). */
static int arena_push(struct parser *p, void **arr, size_t *n, const void *item, size_t size)
{
    if (*n == 0 || (*n & (*n - 1)) == 0) {
        size_t cap = *n ? 2 * *n : 1;
        void *grown = promql_expr_alloc(p->e, cap * size);
        if (!grown)
            return -ENOMEM;
        if (*n)
            memcpy(grown, *arr, *n * size);
        *arr = grown;
    }
    memcpy((char *)*arr + *n * size, item, size);
    (*n)++;
    return 0;
}

/* Decodes the string token t into a new arena string. */
static int decode_string(struct parser *p, const struct promql_token *t, char **out, size_t *len)
{
    size_t consumed;
    struct strlit_error serr;
    char *v;
    int rc = strlit_unquote(p->s + t->pos, &consumed, &v, len, &serr);
    if (rc == -EINVAL)
        return error_at(p, t->pos, t->pos + t->len, "error unquoting string: expected %s",
                        serr.expected);
    if (rc < 0)
        return rc;
    *out = arena_strndup(p, v, *len);
    free(v);
    return *out ? 0 : -ENOMEM;
}

/* ---- numbers and durations -------------------------------------------- */

/* Value of a NUMBER token as Go's ParseInt(base 0) then ParseFloat read
 * it: 0x1f hex, 017 octal, decimals, Inf, NaN. */
static int number_value(struct parser *p, const struct promql_token *t, double *out)
{
    char buf[128];
    if (t->len >= sizeof buf)
        return error_at(p, t->pos, t->pos + t->len, "error parsing number: too long");
    memcpy(buf, p->s + t->pos, t->len);
    buf[t->len] = '\0';
    char *end;
    if (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
        errno = 0;
        unsigned long long v = strtoull(buf + 2, &end, 16);
        if (errno || *end || v > INT64_MAX)
            return error_at(p, t->pos, t->pos + t->len,
                            "error parsing number: value out of range: \"%s\"", buf);
        *out = (double)v;
        return 0;
    }
    if (buf[0] == '0' && strspn(buf, "01234567") == t->len) {
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 8);
        if (!errno && v <= INT64_MAX) {
            *out = (double)v;
            return 0;
        }
    }
    *out = strtod(buf, &end);
    if (*end)
        return error_at(p, t->pos, t->pos + t->len, "error parsing number: \"%s\"", buf);
    return 0;
}

/* Milliseconds of a DURATION token (5m) or a NUMBER token (seconds, as
 * Prometheus 3 allows) at the current position, which is consumed. */
static int duration_ms(struct parser *p, const char *context, const char *expected,
                       int64_t *ms)
{
    const struct promql_token *t = cur(p);
    int rc;
    if (t->type == PROMQL_T_DURATION) {
        rc = timefmt_parse_duration(p->s + t->pos, t->len, ms);
        if (rc == -ERANGE)
            return error_at(p, t->pos, t->pos + t->len, "duration out of range");
        if (rc < 0)
            return error_at(p, t->pos, t->pos + t->len, "not a valid duration string: \"%.*s\"",
                            (int)t->len, p->s + t->pos);
    } else if (t->type == PROMQL_T_NUMBER) {
        if (timefmt_seconds_to_ms(p->s + t->pos, t->len, ms) < 0) {
            double v;
            if ((rc = number_value(p, t, &v)) < 0)
                return rc;
            if (!(fabs(v) < 9.2e15))
                return error_at(p, t->pos, t->pos + t->len, "duration out of range");
            *ms = llround(v * 1000);
        }
    } else {
        return unexpected(p, context, expected);
    }
    advance(p);
    return 0;
}

/* ---- expressions ------------------------------------------------------ */

static int parse_expr(struct parser *p, int min_prec, struct promql_node **out);

static int precedence(enum promql_op op)
{
    switch (op) {
    case PROMQL_OP_OR:
        return 1;
    case PROMQL_OP_AND:
    case PROMQL_OP_UNLESS:
        return 2;
    case PROMQL_OP_EQLC:
    case PROMQL_OP_NEQ:
    case PROMQL_OP_GTR:
    case PROMQL_OP_LSS:
    case PROMQL_OP_GTE:
    case PROMQL_OP_LTE:
        return 3;
    case PROMQL_OP_ADD:
    case PROMQL_OP_SUB:
        return 4;
    case PROMQL_OP_MUL:
    case PROMQL_OP_DIV:
    case PROMQL_OP_MOD:
    case PROMQL_OP_ATAN2:
        return 5;
    case PROMQL_OP_POW:
        return 6;
    }
    return 0;
}
#define PREC_UNARY 6 /* the operand of unary +/- takes only ^ */

/* Tokens that may name a label in grouping lists: identifiers and every
 * keyword, as in Prometheus (by (on, group)), and Inf/NaN. */
static int label_token(const struct parser *p, const struct promql_token *t)
{
    static const enum promql_tok words[] = {
        PROMQL_T_IDENT, PROMQL_T_AGGR,     PROMQL_T_BOOL,       PROMQL_T_BY,
        PROMQL_T_WITHOUT, PROMQL_T_ON,     PROMQL_T_IGNORING,   PROMQL_T_GROUP_LEFT,
        PROMQL_T_GROUP_RIGHT, PROMQL_T_OFFSET,
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (t->type == words[i])
            return 1;
    /* and, or, unless, atan2; inf, nan */
    char c = (char)(p->s[t->pos] | 0x20);
    return (t->type == PROMQL_T_OP || t->type == PROMQL_T_NUMBER) && c >= 'a' && c <= 'z';
}

/* "(" [label {"," label} [","]] ")" into *labels. */
static int parse_grouping(struct parser *p, struct promql_labels *labels)
{
    int rc;
    if (cur(p)->type != PROMQL_T_LPAREN)
        return unexpected(p, "grouping opts", "\"(\"");
    advance(p);
    labels->names = NULL;
    labels->n = 0;
    while (cur(p)->type != PROMQL_T_RPAREN) {
        const struct promql_token *t = cur(p);
        char *name;
        size_t len;
        if (t->type == PROMQL_T_STRING) {
            if ((rc = decode_string(p, t, &name, &len)) < 0)
                return rc;
        } else if (label_token(p, t)) {
            if (!(name = arena_strndup(p, p->s + t->pos, t->len)))
                return -ENOMEM;
        } else {
            return unexpected(p, "grouping opts", "label");
        }
        for (size_t i = 0; i < labels->n; i++)
            if (strcmp(labels->names[i], name) == 0)
                return error_at(p, t->pos, t->pos + t->len,
                                "duplicate label \"%s\" in grouping opts", name);
        if ((rc = arena_push(p, (void **)&labels->names, &labels->n, &name, sizeof name)) < 0)
            return rc;
        advance(p);
        if (cur(p)->type == PROMQL_T_COMMA)
            advance(p);
        else if (cur(p)->type != PROMQL_T_RPAREN)
            return unexpected(p, "grouping opts", "\",\" or \")\"");
    }
    advance(p);
    return 0;
}

/* "(" [expr {"," expr}] ")" at the current "(". */
static int parse_args(struct parser *p, const char *context, struct promql_node ***args,
                      size_t *n, size_t *end)
{
    int rc;
    advance(p);
    *args = NULL;
    *n = 0;
    while (cur(p)->type != PROMQL_T_RPAREN) {
        struct promql_node *arg;
        if ((rc = parse_expr(p, 0, &arg)) < 0)
            return rc;
        if ((rc = arena_push(p, (void **)args, n, &arg, sizeof arg)) < 0)
            return rc;
        if (cur(p)->type == PROMQL_T_COMMA) {
            const struct promql_token *comma = cur(p);
            advance(p);
            if (cur(p)->type == PROMQL_T_RPAREN)
                return error_at(p, comma->pos, comma->pos + 1,
                                "trailing commas not allowed in function call args");
        } else if (cur(p)->type != PROMQL_T_RPAREN) {
            return unexpected(p, context, "\",\" or \")\"");
        }
    }
    *end = cur(p)->pos + 1;
    advance(p);
    return 0;
}

static int parse_call(struct parser *p, struct promql_node **out)
{
    const struct promql_token *t = cur(p);
    char name[64], context[96];
    int rc;
    snprintf(name, sizeof name, "%.*s", (int)t->len, p->s + t->pos);
    const struct promql_func *f = promql_func_lookup(name);
    if (!f || t->len >= sizeof name)
        return error_at(p, t->pos, t->pos + t->len, "unknown function with name \"%.*s\"",
                        (int)t->len, p->s + t->pos);
    struct promql_node *n = new_node(p, PROMQL_CALL, f->ret, t->pos, 0);
    if (!n)
        return -ENOMEM;
    n->call.func = f;
    advance(p);
    snprintf(context, sizeof context, "call to function \"%s\"", f->name);
    if ((rc = parse_args(p, context, &n->call.args, &n->call.nargs, &n->pos.end)) < 0)
        return rc;
    *out = n;
    return 0;
}

static int parse_aggregate(struct parser *p, struct promql_node **out)
{
    const struct promql_token *t = cur(p);
    struct promql_node **args = NULL;
    size_t nargs = 0;
    int rc, grouped = 0;
    struct promql_node *n = new_node(p, PROMQL_AGGREGATE, PROMQL_TYPE_VECTOR, t->pos, 0);
    if (!n)
        return -ENOMEM;
    n->aggregate.op = t->agg;
    advance(p);
    for (int pass = 0; pass < 2; pass++) {
        enum promql_tok k = cur(p)->type;
        if (!grouped && (k == PROMQL_T_BY || k == PROMQL_T_WITHOUT)) {
            n->aggregate.without = k == PROMQL_T_WITHOUT;
            advance(p);
            if ((rc = parse_grouping(p, &n->aggregate.grouping)) < 0)
                return rc;
            grouped = 1;
        }
        if (pass == 1)
            break;
        if (cur(p)->type != PROMQL_T_LPAREN)
            return unexpected(p, "aggregation", "\"(\"");
        if ((rc = parse_args(p, "aggregation", &args, &nargs, &n->pos.end)) < 0)
            return rc;
    }
    n->pos.end = p->toks[p->i - 1].pos + p->toks[p->i - 1].len;
    size_t want = promql_agg_has_param(n->aggregate.op) ? 2 : 1;
    if (nargs == 0)
        return error_node(p, n, "no arguments for aggregate expression provided");
    if (nargs != want)
        return error_node(p, n,
                          "wrong number of arguments for aggregate expression provided, "
                          "expected %zu, got %zu",
                          want, nargs);
    n->aggregate.param = want == 2 ? args[0] : NULL;
    n->aggregate.expr = args[want - 1];
    *out = n;
    return 0;
}

/* Compiles one matcher into the temporary list; label and value tokens
 * locate an error. */
static int add_matcher(struct parser *p, struct tsdb_matcher **ms, size_t *n, size_t *cap,
                       enum tsdb_match_type type, const char *name, const char *value,
                       size_t start, size_t end)
{
    char errbuf[160];
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 4;
        struct tsdb_matcher *grown = realloc(*ms, c * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        *ms = grown;
        *cap = c;
    }
    int rc = tsdb_matcher_init(&(*ms)[*n], type, name, value, errbuf, sizeof errbuf);
    if (rc == TSDB_E_BAD_REGEX)
        return error_at(p, start, end, "error parsing regexp: %s: `%s`", errbuf, value);
    if (rc < 0)
        return rc == -ENOMEM ? rc : error_at(p, start, end, "invalid matcher");
    (*n)++;
    return 0;
}

/* The matchers between braces, at the current "{". *name may be set by a
 * quoted metric name ({"foo"}). */
static int parse_braces(struct parser *p, const char **name, struct tsdb_matcher **ms,
                        size_t *n, size_t *cap, size_t *end)
{
    int rc;
    advance(p);
    while (cur(p)->type != PROMQL_T_RBRACE) {
        const struct promql_token *lt = cur(p), *next = peek(p, 1);
        char *label, *value;
        size_t len;
        if (lt->type == PROMQL_T_STRING &&
            (next->type == PROMQL_T_COMMA || next->type == PROMQL_T_RBRACE)) {
            if ((rc = decode_string(p, lt, &value, &len)) < 0)
                return rc;
            if (*name)
                return error_at(p, lt->pos, lt->pos + lt->len,
                                "metric name must not be set twice: \"%s\" or \"%s\"", *name,
                                value);
            *name = value;
        } else {
            if (lt->type == PROMQL_T_STRING) {
                if ((rc = decode_string(p, lt, &label, &len)) < 0)
                    return rc;
            } else if (lt->type == PROMQL_T_IDENT) {
                if (!(label = arena_strndup(p, p->s + lt->pos, lt->len)))
                    return -ENOMEM;
            } else {
                return unexpected(p, "label matching", "identifier or \"}\"");
            }
            advance(p);
            const struct promql_token *op = cur(p);
            enum tsdb_match_type type;
            if (op->type == PROMQL_T_EQL)
                type = TSDB_MATCH_EQ;
            else if (op->type == PROMQL_T_OP && op->op == PROMQL_OP_NEQ)
                type = TSDB_MATCH_NE;
            else if (op->type == PROMQL_T_EQL_REGEX)
                type = TSDB_MATCH_RE;
            else if (op->type == PROMQL_T_NEQ_REGEX)
                type = TSDB_MATCH_NRE;
            else
                return unexpected(p, "label matching", "label matching operator");
            advance(p);
            const struct promql_token *vt = cur(p);
            if (vt->type != PROMQL_T_STRING)
                return unexpected(p, "label matching", "string");
            if ((rc = decode_string(p, vt, &value, &len)) < 0)
                return rc;
            rc = add_matcher(p, ms, n, cap, type, label, value, lt->pos, vt->pos + vt->len);
            if (rc < 0)
                return rc;
        }
        advance(p);
        if (cur(p)->type == PROMQL_T_COMMA)
            advance(p);
        else if (cur(p)->type != PROMQL_T_RBRACE)
            return unexpected(p, "label matching", "\",\" or \"}\"");
    }
    *end = cur(p)->pos + 1;
    advance(p);
    return 0;
}

/* A vector selector: [name] ["{" matchers "}"]; name_tok is the metric
 * name token or NULL when the current token is "{". */
static int parse_selector(struct parser *p, const struct promql_token *name_tok,
                          struct promql_node **out)
{
    struct tsdb_matcher *ms = NULL;
    size_t n = 0, cap = 0, start = cur(p)->pos, end = start;
    const char *name = NULL;
    int rc = 0;
    if (name_tok) {
        if (!(name = arena_strndup(p, p->s + name_tok->pos, name_tok->len)))
            return -ENOMEM;
        end = name_tok->pos + name_tok->len;
        advance(p);
    }
    if (cur(p)->type == PROMQL_T_LBRACE)
        rc = parse_braces(p, &name, &ms, &n, &cap, &end);
    /* The name matcher goes first; then the node owns the matchers. */
    if (rc == 0 && name)
        rc = add_matcher(p, &ms, &n, &cap, TSDB_MATCH_EQ, "__name__", name, start, end);
    struct promql_node *node = rc == 0 ? new_node(p, PROMQL_VECTOR_SELECTOR,
                                                  PROMQL_TYPE_VECTOR, start, end)
                                       : NULL;
    struct promql_arena *a = p->e->arena;
    if (node && a->nsel == a->capsel) {
        size_t c = a->capsel ? 2 * a->capsel : 8;
        struct promql_node **grown = realloc(a->selectors, c * sizeof *grown);
        if (grown) {
            a->selectors = grown;
            a->capsel = c;
        }
    }
    struct tsdb_matcher *arr = node ? promql_expr_alloc(p->e, (n + 1) * sizeof *arr) : NULL;
    if (!node || !arr || a->nsel == a->capsel) {
        for (size_t i = 0; i < n; i++)
            tsdb_matcher_free(&ms[i]);
        free(ms);
        return rc < 0 ? rc : -ENOMEM;
    }
    if (name) {
        arr[0] = ms[n - 1];
        memcpy(arr + 1, ms, (n - 1) * sizeof *arr);
    } else if (n) {
        memcpy(arr, ms, n * sizeof *arr);
    }
    free(ms);
    node->vs.name = (char *)name;
    node->vs.matchers = arr;
    node->vs.n_matchers = n;
    a->selectors[a->nsel++] = node;
    *out = node;
    return 0;
}

static int parse_number(struct parser *p, struct promql_node **out)
{
    const struct promql_token *t = cur(p);
    struct promql_node *n = new_node(p, PROMQL_NUMBER, PROMQL_TYPE_SCALAR, t->pos, t->pos + t->len);
    int rc;
    if (!n)
        return -ENOMEM;
    if (t->type == PROMQL_T_NUMBER) {
        if ((rc = number_value(p, t, &n->number.value)) < 0)
            return rc;
        advance(p);
    } else {
        int64_t ms;
        if ((rc = duration_ms(p, NULL, NULL, &ms)) < 0)
            return rc;
        n->number.value = (double)ms / 1000.0;
        n->number.is_duration = 1;
    }
    *out = n;
    return 0;
}

static int parse_paren(struct parser *p, struct promql_node **out)
{
    size_t start = cur(p)->pos;
    struct promql_node *inner, *n;
    int rc;
    advance(p);
    if ((rc = parse_expr(p, 0, &inner)) < 0)
        return rc;
    if (cur(p)->type != PROMQL_T_RPAREN)
        return unexpected(p, "paren expression", "\")\" or an operator");
    if (!(n = new_node(p, PROMQL_PAREN, inner->type, start, cur(p)->pos + 1)))
        return -ENOMEM;
    n->paren.expr = inner;
    advance(p);
    *out = n;
    return 0;
}

static int parse_primary(struct parser *p, struct promql_node **out)
{
    const struct promql_token *t = cur(p);
    enum promql_tok k = t->type, next = peek(p, 1)->type;
    if (k == PROMQL_T_NUMBER || k == PROMQL_T_DURATION)
        return parse_number(p, out);
    if (k == PROMQL_T_STRING) {
        struct promql_node *n = new_node(p, PROMQL_STRING, PROMQL_TYPE_STRING, t->pos,
                                         t->pos + t->len);
        int rc;
        if (!n)
            return -ENOMEM;
        if ((rc = decode_string(p, t, &n->string.value, &n->string.len)) < 0)
            return rc;
        advance(p);
        *out = n;
        return 0;
    }
    if (k == PROMQL_T_LPAREN)
        return parse_paren(p, out);
    if (k == PROMQL_T_LBRACE)
        return parse_selector(p, NULL, out);
    if (k == PROMQL_T_IDENT && next == PROMQL_T_LPAREN)
        return parse_call(p, out);
    if (k == PROMQL_T_AGGR &&
        (next == PROMQL_T_LPAREN || next == PROMQL_T_BY || next == PROMQL_T_WITHOUT))
        return parse_aggregate(p, out);
    /* Words Prometheus also accepts as metric names. */
    if (k == PROMQL_T_IDENT || k == PROMQL_T_METRIC_IDENT || k == PROMQL_T_AGGR ||
        k == PROMQL_T_BY || k == PROMQL_T_WITHOUT || k == PROMQL_T_OFFSET ||
        (k == PROMQL_T_OP && promql_op_is_set(t->op)))
        return parse_selector(p, t, out);
    if (k == PROMQL_T_EOF && p->i == 0)
        return error_at(p, 0, 0, "no expression found in input");
    return unexpected(p, NULL, "expression");
}

/* The offset/@ holder of n, or NULL (with the error raised) if n takes no
 * modifiers. */
static int modifiers_of(struct parser *p, struct promql_node *n, const char *what,
                        struct promql_modifiers **mod)
{
    switch (n->kind) {
    case PROMQL_VECTOR_SELECTOR:
        *mod = &n->vs.mod;
        return 0;
    case PROMQL_MATRIX_SELECTOR:
        *mod = &n->matrix.vs->vs.mod;
        return 0;
    case PROMQL_SUBQUERY:
        *mod = &n->subquery.mod;
        return 0;
    case PROMQL_NUMBER:
    case PROMQL_STRING:
    case PROMQL_PAREN:
    case PROMQL_UNARY:
    case PROMQL_BINARY:
    case PROMQL_AGGREGATE:
    case PROMQL_CALL:
        break;
    }
    return error_node(p, n,
                      "%s modifier must be preceded by an instant vector selector or range "
                      "vector selector or a subquery",
                      what);
}

static int parse_offset(struct parser *p, struct promql_node *n)
{
    struct promql_modifiers *mod = NULL;
    int64_t ms;
    int rc, neg = 0;
    advance(p);
    if (cur(p)->type == PROMQL_T_OP && cur(p)->op == PROMQL_OP_SUB) {
        neg = 1;
        advance(p);
    }
    if ((rc = duration_ms(p, "offset", "duration", &ms)) < 0)
        return rc;
    n->pos.end = p->toks[p->i - 1].pos + p->toks[p->i - 1].len;
    if ((rc = modifiers_of(p, n, "offset", &mod)) < 0)
        return rc;
    if (mod->offset_ms != 0)
        return error_node(p, n, "offset may not be set multiple times");
    mod->offset_ms = neg ? -ms : ms;
    return 0;
}

static int parse_at(struct parser *p, struct promql_node *n)
{
    struct promql_modifiers *mod = NULL;
    enum promql_at at = PROMQL_AT_TIME;
    int64_t ms = 0;
    int rc, neg = 0;
    advance(p);
    const struct promql_token *t = cur(p);
    if (t->type == PROMQL_T_IDENT && peek(p, 1)->type == PROMQL_T_LPAREN &&
        peek(p, 2)->type == PROMQL_T_RPAREN &&
        ((t->len == 5 && strncmp(p->s + t->pos, "start", 5) == 0) ||
         (t->len == 3 && strncmp(p->s + t->pos, "end", 3) == 0))) {
        at = t->len == 5 ? PROMQL_AT_START : PROMQL_AT_END;
        advance(p);
        advance(p);
        advance(p);
    } else {
        if (t->type == PROMQL_T_OP && (t->op == PROMQL_OP_SUB || t->op == PROMQL_OP_ADD)) {
            neg = t->op == PROMQL_OP_SUB;
            advance(p);
            t = cur(p);
        }
        if (t->type == PROMQL_T_NUMBER &&
            timefmt_seconds_to_ms(p->s + t->pos, t->len, &ms) < 0) {
            double v;
            if ((rc = number_value(p, t, &v)) < 0)
                return rc;
            if (!(fabs(v) < 9.2e15))
                return error_node(p, n, "timestamp out of bounds for @ modifier: %f",
                                  neg ? -v : v);
            ms = llround(v * 1000);
            advance(p);
        } else if ((rc = duration_ms(p, "@", "timestamp", &ms)) < 0) {
            return rc;
        }
        if (neg)
            ms = -ms;
    }
    n->pos.end = p->toks[p->i - 1].pos + p->toks[p->i - 1].len;
    if ((rc = modifiers_of(p, n, "@", &mod)) < 0)
        return rc;
    if (mod->at != PROMQL_AT_NONE)
        return error_node(p, n, "@ <timestamp> may not be set multiple times");
    mod->at = at;
    mod->at_ms = ms;
    return 0;
}

/* "[" range "]" or "[" range ":" [step] "]" after n. */
static int parse_range(struct parser *p, struct promql_node **np)
{
    struct promql_node *n = *np, *r;
    size_t open = cur(p)->pos;
    int64_t range, step = 0;
    int rc;
    advance(p);
    if ((rc = duration_ms(p, "subquery selector", "duration", &range)) < 0)
        return rc;
    if (range <= 0)
        return error_at(p, open, cur(p)->pos, "range must be greater than 0");
    if (cur(p)->type == PROMQL_T_RBRACKET) {
        if (n->kind != PROMQL_VECTOR_SELECTOR)
            return error_at(p, open, cur(p)->pos + 1, "ranges only allowed for vector selectors");
        if (n->vs.mod.offset_ms != 0)
            return error_at(p, open, cur(p)->pos + 1, "no offset modifiers allowed before range");
        if (n->vs.mod.at != PROMQL_AT_NONE)
            return error_at(p, open, cur(p)->pos + 1, "no @ modifiers allowed before range");
        if (!(r = new_node(p, PROMQL_MATRIX_SELECTOR, PROMQL_TYPE_MATRIX, n->pos.start,
                           cur(p)->pos + 1)))
            return -ENOMEM;
        r->matrix.vs = n;
        r->matrix.range_ms = range;
    } else if (cur(p)->type == PROMQL_T_COLON) {
        advance(p);
        if (cur(p)->type != PROMQL_T_RBRACKET &&
            (rc = duration_ms(p, "subquery selector", "duration or \"]\"", &step)) < 0)
            return rc;
        if (cur(p)->type != PROMQL_T_RBRACKET)
            return unexpected(p, "subquery selector", "\"]\"");
        if (!(r = new_node(p, PROMQL_SUBQUERY, PROMQL_TYPE_MATRIX, n->pos.start,
                           cur(p)->pos + 1)))
            return -ENOMEM;
        r->subquery.expr = n;
        r->subquery.range_ms = range;
        r->subquery.step_ms = step;
    } else {
        return unexpected(p, "subquery or range", "\":\" or \"]\"");
    }
    advance(p);
    *np = r;
    return 0;
}

static int parse_postfix(struct parser *p, struct promql_node **np)
{
    for (;;) {
        enum promql_tok k = cur(p)->type;
        int rc;
        if (k == PROMQL_T_LBRACKET)
            rc = parse_range(p, np);
        else if (k == PROMQL_T_OFFSET)
            rc = parse_offset(p, *np);
        else if (k == PROMQL_T_AT)
            rc = parse_at(p, *np);
        else
            return 0;
        if (rc < 0)
            return rc;
    }
}

static int parse_unary(struct parser *p, struct promql_node **out)
{
    const struct promql_token *t = cur(p);
    int rc;
    if (t->type == PROMQL_T_OP && (t->op == PROMQL_OP_ADD || t->op == PROMQL_OP_SUB)) {
        size_t start = t->pos;
        enum promql_op op = t->op;
        struct promql_node *operand, *n;
        advance(p);
        if ((rc = parse_expr(p, PREC_UNARY, &operand)) < 0)
            return rc;
        if (operand->kind == PROMQL_NUMBER) {
            if (op == PROMQL_OP_SUB)
                operand->number.value = -operand->number.value;
            operand->pos.start = start;
            *out = operand;
            return 0;
        }
        if (!(n = new_node(p, PROMQL_UNARY, operand->type, start, operand->pos.end)))
            return -ENOMEM;
        n->unary.op = op;
        n->unary.expr = operand;
        *out = n;
        return 0;
    }
    if ((rc = parse_primary(p, out)) < 0)
        return rc;
    return parse_postfix(p, out);
}

/* bool, on/ignoring (labels), group_left/group_right [(labels)]. */
static int parse_bin_modifiers(struct parser *p, struct promql_node *n)
{
    struct promql_matching *m = &n->binary.matching;
    int rc;
    if (cur(p)->type == PROMQL_T_BOOL) {
        n->binary.return_bool = 1;
        advance(p);
    }
    enum promql_tok k = cur(p)->type;
    if (k != PROMQL_T_ON && k != PROMQL_T_IGNORING)
        return 0;
    m->on = k == PROMQL_T_ON;
    advance(p);
    if ((rc = parse_grouping(p, &m->labels)) < 0)
        return rc;
    k = cur(p)->type;
    if (k != PROMQL_T_GROUP_LEFT && k != PROMQL_T_GROUP_RIGHT)
        return 0;
    m->card = k == PROMQL_T_GROUP_LEFT ? PROMQL_CARD_MANY_TO_ONE : PROMQL_CARD_ONE_TO_MANY;
    advance(p);
    if (cur(p)->type == PROMQL_T_LPAREN)
        return parse_grouping(p, &m->include);
    return 0;
}

static int parse_expr(struct parser *p, int min_prec, struct promql_node **out)
{
    struct promql_node *lhs;
    int rc;
    if ((rc = parse_unary(p, &lhs)) < 0)
        return rc;
    for (;;) {
        const struct promql_token *t = cur(p);
        if (t->type != PROMQL_T_OP || precedence(t->op) < min_prec)
            break;
        enum promql_op op = t->op;
        int prec = precedence(op);
        struct promql_node *n = new_node(p, PROMQL_BINARY, PROMQL_TYPE_VECTOR, lhs->pos.start, 0);
        if (!n)
            return -ENOMEM;
        n->binary.op = op;
        n->binary.lhs = lhs;
        advance(p);
        if ((rc = parse_bin_modifiers(p, n)) < 0)
            return rc;
        if ((rc = parse_expr(p, op == PROMQL_OP_POW ? prec : prec + 1, &n->binary.rhs)) < 0)
            return rc;
        n->pos.end = n->binary.rhs->pos.end;
        if (lhs->type == PROMQL_TYPE_SCALAR && n->binary.rhs->type == PROMQL_TYPE_SCALAR)
            n->type = PROMQL_TYPE_SCALAR;
        lhs = n;
    }
    *out = lhs;
    return 0;
}

/* ---- type checks ------------------------------------------------------ */

static int check(struct parser *p, struct promql_node *n);

static int check_selector(struct parser *p, struct promql_node *n, int label_only)
{
    if (n->vs.name) {
        for (size_t i = 1; i < n->vs.n_matchers; i++)
            if (strcmp(n->vs.matchers[i].name, "__name__") == 0)
                return error_node(p, n, "metric name must not be set twice: \"%s\" or \"%s\"",
                                  n->vs.name, n->vs.matchers[i].value);
        if (n->vs.name[0])
            return 0;
    }
    if (label_only)
        return 0;
    for (size_t i = 0; i < n->vs.n_matchers; i++)
        if (!tsdb_matcher_matches(&n->vs.matchers[i], ""))
            return 0;
    return error_node(p, n, "vector selector must contain at least one non-empty matcher");
}

/* The operator's text between the operands, for binary errors. */
static int error_op(struct parser *p, const struct promql_node *n, const char *fmt, ...)
{
    size_t start = n->binary.lhs->pos.end, end = n->binary.rhs->pos.start;
    while (start < end && (p->s[start] == ' ' || p->s[start] == '\t' || p->s[start] == '\n' ||
                           p->s[start] == '\r'))
        start++;
    while (end > start && (p->s[end - 1] == ' ' || p->s[end - 1] == '\t' ||
                           p->s[end - 1] == '\n' || p->s[end - 1] == '\r'))
        end--;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    p->err->pos.start = start;
    p->err->pos.end = end;
    return -EINVAL;
}

static int check_binary(struct parser *p, struct promql_node *n)
{
    struct promql_matching *m = &n->binary.matching;
    enum promql_op op = n->binary.op;
    enum promql_type lt = n->binary.lhs->type, rt = n->binary.rhs->type;
    int rc;
    if ((rc = check(p, n->binary.lhs)) < 0 || (rc = check(p, n->binary.rhs)) < 0)
        return rc;
    if (n->binary.return_bool && !promql_op_is_comparison(op))
        return error_op(p, n, "bool modifier can only be used on comparison operators");
    if (promql_op_is_comparison(op) && !n->binary.return_bool && lt == PROMQL_TYPE_SCALAR &&
        rt == PROMQL_TYPE_SCALAR)
        return error_op(p, n, "comparisons between scalars must use BOOL modifier");
    if (promql_op_is_set(op) && m->card == PROMQL_CARD_ONE_TO_ONE)
        m->card = PROMQL_CARD_MANY_TO_MANY;
    for (size_t i = 0; m->on && i < m->labels.n; i++)
        for (size_t k = 0; k < m->include.n; k++)
            if (strcmp(m->labels.names[i], m->include.names[k]) == 0)
                return error_op(p, n, "label \"%s\" must not occur in ON and GROUP clause at once",
                                m->include.names[k]);
    if (lt != PROMQL_TYPE_SCALAR && lt != PROMQL_TYPE_VECTOR)
        return error_node(p, n->binary.lhs,
                          "binary expression must contain only scalar and instant vector types");
    if (rt != PROMQL_TYPE_SCALAR && rt != PROMQL_TYPE_VECTOR)
        return error_node(p, n->binary.rhs,
                          "binary expression must contain only scalar and instant vector types");
    if (lt != PROMQL_TYPE_VECTOR || rt != PROMQL_TYPE_VECTOR) {
        if (m->labels.n > 0)
            return error_node(p, n, "vector matching only allowed between instant vectors");
        memset(m, 0, sizeof *m);
    } else if (promql_op_is_set(op)) {
        if (m->card == PROMQL_CARD_ONE_TO_MANY || m->card == PROMQL_CARD_MANY_TO_ONE)
            return error_node(p, n, "no grouping allowed for \"%s\" operation",
                              promql_op_name(op));
    }
    if ((lt == PROMQL_TYPE_SCALAR || rt == PROMQL_TYPE_SCALAR) && promql_op_is_set(op))
        return error_node(p, n, "set operator \"%s\" not allowed in binary scalar expression",
                          promql_op_name(op));
    return 0;
}

static int check_call(struct parser *p, struct promql_node *n)
{
    const struct promql_func *f = n->call.func;
    size_t got = n->call.nargs, min = (size_t)f->nargs;
    int rc;
    if (f->variadic == 0 && got != min)
        return error_node(p, n, "expected %zu argument(s) in call to \"%s\", got %zu", min,
                          f->name, got);
    if (f->variadic != 0 && got < min - 1)
        return error_node(p, n, "expected at least %zu argument(s) in call to \"%s\", got %zu",
                          min - 1, f->name, got);
    if (f->variadic > 0 && got > min - 1 + (size_t)f->variadic)
        return error_node(p, n, "expected at most %zu argument(s) in call to \"%s\", got %zu",
                          min - 1 + (size_t)f->variadic, f->name, got);
    for (size_t i = 0; i < got; i++) {
        struct promql_node *arg = n->call.args[i];
        enum promql_type want = f->args[i < min ? i : min - 1];
        int label_only = strcmp(f->name, "info") == 0 && i == 1;
        if (label_only && arg->kind == PROMQL_VECTOR_SELECTOR && arg->vs.name)
            return error_node(p, arg, "expected label selectors only, got vector selector instead");
        if (label_only && arg->kind != PROMQL_VECTOR_SELECTOR)
            return error_node(p, arg, "expected label selectors only");
        rc = label_only ? check_selector(p, arg, 1) : check(p, arg);
        if (rc < 0)
            return rc;
        if (arg->type != want)
            return error_node(p, arg, "expected type %s in call to function \"%s\", got %s",
                              promql_type_name(want), f->name, promql_type_name(arg->type));
    }
    return 0;
}

static int check(struct parser *p, struct promql_node *n)
{
    int rc;
    switch (n->kind) {
    case PROMQL_NUMBER:
    case PROMQL_STRING:
        return 0;
    case PROMQL_VECTOR_SELECTOR:
        return check_selector(p, n, 0);
    case PROMQL_MATRIX_SELECTOR:
        return check(p, n->matrix.vs);
    case PROMQL_SUBQUERY:
        if ((rc = check(p, n->subquery.expr)) < 0)
            return rc;
        if (n->subquery.expr->type != PROMQL_TYPE_VECTOR)
            return error_node(p, n, "subquery is only allowed on instant vector, got %s instead",
                              promql_type_name(n->subquery.expr->type));
        return 0;
    case PROMQL_PAREN:
        return check(p, n->paren.expr);
    case PROMQL_UNARY:
        if ((rc = check(p, n->unary.expr)) < 0)
            return rc;
        if (n->type != PROMQL_TYPE_SCALAR && n->type != PROMQL_TYPE_VECTOR)
            return error_node(p, n,
                              "unary expression only allowed on expressions of type scalar or "
                              "instant vector, got \"%s\"",
                              promql_type_name(n->type));
        return 0;
    case PROMQL_BINARY:
        return check_binary(p, n);
    case PROMQL_AGGREGATE: {
        struct promql_node *param = n->aggregate.param;
        if ((rc = check(p, n->aggregate.expr)) < 0)
            return rc;
        if (n->aggregate.expr->type != PROMQL_TYPE_VECTOR)
            return error_node(p, n->aggregate.expr,
                              "expected type instant vector in aggregation expression, got %s",
                              promql_type_name(n->aggregate.expr->type));
        if (!param)
            return 0;
        if ((rc = check(p, param)) < 0)
            return rc;
        enum promql_type want = n->aggregate.op == PROMQL_AGG_COUNT_VALUES ? PROMQL_TYPE_STRING
                                                                           : PROMQL_TYPE_SCALAR;
        if (param->type != want)
            return error_node(p, param, "expected type %s in aggregation parameter, got %s",
                              promql_type_name(want), promql_type_name(param->type));
        return 0;
    }
    case PROMQL_CALL:
        return check_call(p, n);
    }
    return 0;
}

/* ---- entry points ----------------------------------------------------- */

static int tokenize(struct parser *p)
{
    struct promql_lexer lx;
    size_t cap = 0;
    promql_lexer_init(&lx, p->s);
    for (;;) {
        if (p->ntoks == cap) {
            cap = cap ? 2 * cap : 64;
            struct promql_token *grown = realloc(p->toks, cap * sizeof *grown);
            if (!grown)
                return -ENOMEM;
            p->toks = grown;
        }
        struct promql_token t = promql_lex(&lx);
        p->toks[p->ntoks++] = t;
        if (t.type == PROMQL_T_EOF || t.type == PROMQL_T_ERROR)
            break;
    }
    snprintf(p->lexmsg, sizeof p->lexmsg, "%s", lx.errmsg);
    return 0;
}

int promql_parse(const char *query, struct promql_expr **out, struct promql_error *err)
{
    struct parser p = {.s = query, .err = err};
    int rc = -ENOMEM;
    memset(err, 0, sizeof *err);
    *out = NULL;
    if (!(p.e = calloc(1, sizeof *p.e)) || !(p.e->arena = calloc(1, sizeof *p.e->arena)) ||
        !(p.e->query = strdup(query)))
        goto fail;
    p.s = p.e->query;
    if ((rc = tokenize(&p)) < 0)
        goto fail;
    if ((rc = parse_expr(&p, 0, &p.e->root)) < 0)
        goto fail;
    if (cur(&p)->type != PROMQL_T_EOF) {
        rc = unexpected(&p, NULL, NULL);
        goto fail;
    }
    if ((rc = check(&p, p.e->root)) < 0)
        goto fail;
    free(p.toks);
    *out = p.e;
    return 0;
fail:
    if (rc == -EINVAL) {
        err->line = 1;
        size_t line_start = 0;
        for (size_t i = 0; i < err->pos.start && query[i]; i++)
            if (query[i] == '\n') {
                err->line++;
                line_start = i + 1;
            }
        err->col = (unsigned)(err->pos.start - line_start + 1);
    }
    free(p.toks);
    promql_expr_free(p.e);
    return rc;
}

int promql_error_format(const struct promql_error *err, char *buf, size_t cap)
{
    return snprintf(buf, cap, "%u:%u: parse error: %s", err->line, err->col, err->msg);
}
