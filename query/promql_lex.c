/* promql_lex.c — the PromQL scanner: turns query text into tokens and
 * reports unbalanced brackets, bad numbers and bad strings with
 * Prometheus' messages. Also the operator, aggregation and type names. */
#include "promql.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strlit.h"

static const char *const op_names[] = {
    [PROMQL_OP_OR] = "or",     [PROMQL_OP_AND] = "and", [PROMQL_OP_UNLESS] = "unless",
    [PROMQL_OP_EQLC] = "==",   [PROMQL_OP_NEQ] = "!=",  [PROMQL_OP_GTR] = ">",
    [PROMQL_OP_LSS] = "<",     [PROMQL_OP_GTE] = ">=",  [PROMQL_OP_LTE] = "<=",
    [PROMQL_OP_ADD] = "+",     [PROMQL_OP_SUB] = "-",   [PROMQL_OP_MUL] = "*",
    [PROMQL_OP_DIV] = "/",     [PROMQL_OP_MOD] = "%",   [PROMQL_OP_ATAN2] = "atan2",
    [PROMQL_OP_POW] = "^",
};

static const char *const agg_names[] = {
    [PROMQL_AGG_SUM] = "sum",
    [PROMQL_AGG_AVG] = "avg",
    [PROMQL_AGG_COUNT] = "count",
    [PROMQL_AGG_MIN] = "min",
    [PROMQL_AGG_MAX] = "max",
    [PROMQL_AGG_STDDEV] = "stddev",
    [PROMQL_AGG_STDVAR] = "stdvar",
    [PROMQL_AGG_GROUP] = "group",
    [PROMQL_AGG_TOPK] = "topk",
    [PROMQL_AGG_BOTTOMK] = "bottomk",
    [PROMQL_AGG_QUANTILE] = "quantile",
    [PROMQL_AGG_COUNT_VALUES] = "count_values",
    [PROMQL_AGG_LIMITK] = "limitk",
    [PROMQL_AGG_LIMIT_RATIO] = "limit_ratio",
};

const char *promql_op_name(enum promql_op op)
{
    return op_names[op];
}

int promql_op_is_comparison(enum promql_op op)
{
    return op >= PROMQL_OP_EQLC && op <= PROMQL_OP_LTE;
}

int promql_op_is_set(enum promql_op op)
{
    return op == PROMQL_OP_OR || op == PROMQL_OP_AND || op == PROMQL_OP_UNLESS;
}

const char *promql_agg_name(enum promql_agg op)
{
    return agg_names[op];
}

int promql_agg_has_param(enum promql_agg op)
{
    return op > PROMQL_AGG_GROUP;
}

const char *promql_type_name(enum promql_type t)
{
    switch (t) {
    case PROMQL_TYPE_SCALAR:
        return "scalar";
    case PROMQL_TYPE_VECTOR:
        return "instant vector";
    case PROMQL_TYPE_MATRIX:
        return "range vector";
    case PROMQL_TYPE_STRING:
        return "string";
    case PROMQL_TYPE_NONE:
        break;
    }
    return "none";
}

/* Words that are not identifiers outside braces. */
static const struct {
    const char *word;
    enum promql_tok type;
    int sub; /* op or agg */
} keywords[] = {
    {"and", PROMQL_T_OP, PROMQL_OP_AND},
    {"or", PROMQL_T_OP, PROMQL_OP_OR},
    {"unless", PROMQL_T_OP, PROMQL_OP_UNLESS},
    {"atan2", PROMQL_T_OP, PROMQL_OP_ATAN2},
    {"sum", PROMQL_T_AGGR, PROMQL_AGG_SUM},
    {"avg", PROMQL_T_AGGR, PROMQL_AGG_AVG},
    {"count", PROMQL_T_AGGR, PROMQL_AGG_COUNT},
    {"min", PROMQL_T_AGGR, PROMQL_AGG_MIN},
    {"max", PROMQL_T_AGGR, PROMQL_AGG_MAX},
    {"stddev", PROMQL_T_AGGR, PROMQL_AGG_STDDEV},
    {"stdvar", PROMQL_T_AGGR, PROMQL_AGG_STDVAR},
    {"group", PROMQL_T_AGGR, PROMQL_AGG_GROUP},
    {"topk", PROMQL_T_AGGR, PROMQL_AGG_TOPK},
    {"bottomk", PROMQL_T_AGGR, PROMQL_AGG_BOTTOMK},
    {"quantile", PROMQL_T_AGGR, PROMQL_AGG_QUANTILE},
    {"count_values", PROMQL_T_AGGR, PROMQL_AGG_COUNT_VALUES},
    {"limitk", PROMQL_T_AGGR, PROMQL_AGG_LIMITK},
    {"limit_ratio", PROMQL_T_AGGR, PROMQL_AGG_LIMIT_RATIO},
    {"bool", PROMQL_T_BOOL, 0},
    {"by", PROMQL_T_BY, 0},
    {"without", PROMQL_T_WITHOUT, 0},
    {"on", PROMQL_T_ON, 0},
    {"ignoring", PROMQL_T_IGNORING, 0},
    {"group_left", PROMQL_T_GROUP_LEFT, 0},
    {"group_right", PROMQL_T_GROUP_RIGHT, 0},
    {"offset", PROMQL_T_OFFSET, 0},
};

void promql_lexer_init(struct promql_lexer *lx, const char *s)
{
    memset(lx, 0, sizeof *lx);
    lx->s = s;
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alnum(char c)
{
    return is_alpha(c) || is_digit(c);
}

static struct promql_token tok(enum promql_tok type, size_t pos, size_t len)
{
    struct promql_token t = {type, pos, len, PROMQL_OP_ADD, PROMQL_AGG_SUM};
    return t;
}

/* Ends the token stream with an error at pos. */
static struct promql_token lex_error(struct promql_lexer *lx, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->errmsg, sizeof lx->errmsg, fmt, ap);
    va_end(ap);
    lx->stop = tok(PROMQL_T_ERROR, pos, 0);
    lx->stopped = 1;
    return lx->stop;
}

/* Length of a number at s: hex 0x.., or digits [. digits] [e [+-] digits],
 * or .digits...; 0 if none. */
static size_t scan_number(const char *s)
{
    size_t n = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && is_hex(s[2])) {
        for (n = 2; is_hex(s[n]); n++)
            ;
        return n;
    }
    while (is_digit(s[n]))
        n++;
    if (s[n] == '.') {
        n++;
        while (is_digit(s[n]))
            n++;
    }
    if (n == 0 || (n == 1 && s[0] == '.'))
        return 0;
    if (s[n] == 'e' || s[n] == 'E') {
        size_t e = n + 1;
        if (s[e] == '+' || s[e] == '-')
            e++;
        if (is_digit(s[e])) {
            while (is_digit(s[e]))
                e++;
            n = e;
        }
    }
    return n;
}

/* Length of a duration at s: one or more digits+unit (ms s m h d w y). */
static size_t scan_duration(const char *s)
{
    size_t n = 0;
    while (is_digit(s[n])) {
        while (is_digit(s[n]))
            n++;
        if (s[n] == 'm' && s[n + 1] == 's')
            n += 2;
        else if (s[n] && strchr("smhdwy", s[n]))
            n++;
        else
            return 0;
    }
    return n;
}

static struct promql_token lex_number(struct promql_lexer *lx)
{
    size_t start = lx->pos;
    const char *s = lx->s + start;
    size_t n = scan_number(s);
    if (n > 0 && !is_alnum(s[n]) && s[n] != '.') {
        lx->pos += n;
        return tok(PROMQL_T_NUMBER, start, n);
    }
    size_t d = scan_duration(s);
    if (d > 0 && !is_alnum(s[d]) && s[d] != '.') {
        lx->pos += d;
        return tok(PROMQL_T_DURATION, start, d);
    }
    size_t bad = 0;
    while (is_alnum(s[bad]) || s[bad] == '.')
        bad++;
    return lex_error(lx, start, "bad number or duration syntax: \"%.*s\"", (int)bad, s);
}

static struct promql_token lex_word(struct promql_lexer *lx)
{
    size_t start = lx->pos, n = 0;
    const char *s = lx->s + start;
    int colon = 0;
    while (is_alnum(s[n]) || (s[n] == ':' && !lx->in_brackets && !lx->in_braces)) {
        colon |= s[n] == ':';
        n++;
    }
    lx->pos += n;
    if (lx->in_braces)
        return tok(PROMQL_T_IDENT, start, n);
    if (colon)
        return tok(PROMQL_T_METRIC_IDENT, start, n);
    if ((n == 3 && (strncasecmp(s, "inf", 3) == 0 || strncasecmp(s, "nan", 3) == 0)))
        return tok(PROMQL_T_NUMBER, start, n);
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
        if (strlen(keywords[i].word) == n && strncasecmp(s, keywords[i].word, n) == 0) {
            struct promql_token t = tok(keywords[i].type, start, n);
            if (t.type == PROMQL_T_OP)
                t.op = (enum promql_op)keywords[i].sub;
            else if (t.type == PROMQL_T_AGGR)
                t.agg = (enum promql_agg)keywords[i].sub;
            return t;
        }
    }
    return tok(PROMQL_T_IDENT, start, n);
}

static struct promql_token lex_string(struct promql_lexer *lx)
{
    size_t start = lx->pos, consumed, len;
    struct strlit_error serr;
    char *v = NULL;
    int rc = strlit_unquote(lx->s + start, &consumed, &v, &len, &serr);
    free(v);
    if (rc == -ENOMEM)
        return lex_error(lx, start, "out of memory");
    if (rc < 0 && serr.offset == 0)
        return lex_error(lx, start, "unterminated quoted string");
    if (rc < 0)
        return lex_error(lx, start + serr.offset, "invalid escape sequence: expected %s",
                         serr.expected);
    lx->pos += consumed;
    return tok(PROMQL_T_STRING, start, consumed);
}

static struct promql_token op_tok(struct promql_lexer *lx, enum promql_op op, size_t len)
{
    struct promql_token t = tok(PROMQL_T_OP, lx->pos, len);
    t.op = op;
    lx->pos += len;
    return t;
}

/* Punctuation and operators; c is s[pos]. */
static struct promql_token lex_symbol(struct promql_lexer *lx, char c)
{
    size_t at = lx->pos;
    char c1 = lx->s[at + 1];
    switch (c) {
    case '(':
        lx->paren_depth++;
        lx->pos++;
        return tok(PROMQL_T_LPAREN, at, 1);
    case ')':
        if (lx->paren_depth == 0)
            return lex_error(lx, at, "unexpected right parenthesis ')'");
        lx->paren_depth--;
        lx->pos++;
        return tok(PROMQL_T_RPAREN, at, 1);
    case '{':
        lx->in_braces = 1;
        lx->pos++;
        return tok(PROMQL_T_LBRACE, at, 1);
    case '}':
        return lex_error(lx, at, "unexpected right brace '}'");
    case '[':
        if (lx->in_brackets)
            return lex_error(lx, at, "unexpected left bracket '['");
        lx->in_brackets = 1;
        lx->pos++;
        return tok(PROMQL_T_LBRACKET, at, 1);
    case ']':
        if (!lx->in_brackets)
            return lex_error(lx, at, "unexpected right bracket ']'");
        lx->in_brackets = 0;
        lx->pos++;
        return tok(PROMQL_T_RBRACKET, at, 1);
    case ',':
        lx->pos++;
        return tok(PROMQL_T_COMMA, at, 1);
    case ':':
        if (!lx->in_brackets)
            return lex_error(lx, at, "unexpected colon ':'");
        lx->pos++;
        return tok(PROMQL_T_COLON, at, 1);
    case '@':
        lx->pos++;
        return tok(PROMQL_T_AT, at, 1);
    case '+':
        return op_tok(lx, PROMQL_OP_ADD, 1);
    case '-':
        return op_tok(lx, PROMQL_OP_SUB, 1);
    case '*':
        return op_tok(lx, PROMQL_OP_MUL, 1);
    case '/':
        return op_tok(lx, PROMQL_OP_DIV, 1);
    case '%':
        return op_tok(lx, PROMQL_OP_MOD, 1);
    case '^':
        return op_tok(lx, PROMQL_OP_POW, 1);
    case '>':
        return c1 == '=' ? op_tok(lx, PROMQL_OP_GTE, 2) : op_tok(lx, PROMQL_OP_GTR, 1);
    case '<':
        return c1 == '=' ? op_tok(lx, PROMQL_OP_LTE, 2) : op_tok(lx, PROMQL_OP_LSS, 1);
    case '=':
        if (c1 == '=')
            return op_tok(lx, PROMQL_OP_EQLC, 2);
        lx->pos += c1 == '~' ? 2 : 1;
        return tok(c1 == '~' ? PROMQL_T_EQL_REGEX : PROMQL_T_EQL, at, c1 == '~' ? 2 : 1);
    case '!':
        if (c1 == '=')
            return op_tok(lx, PROMQL_OP_NEQ, 2);
        if (c1 == '~') {
            lx->pos += 2;
            return tok(PROMQL_T_NEQ_REGEX, at, 2);
        }
        return lex_error(lx, at, "unexpected character after '!': '%c'", c1 ? c1 : ' ');
    default:
        break;
    }
    if ((unsigned char)c >= 0x20 && c != 0x7f)
        return lex_error(lx, at, "unexpected character: '%c'", c);
    return lex_error(lx, at, "unexpected character: '\\x%02x'", (unsigned char)c);
}

/* Inside braces only names, strings, match operators, ',' and '}'. */
static struct promql_token lex_in_braces(struct promql_lexer *lx, char c)
{
    size_t at = lx->pos;
    if (c == '}') {
        lx->in_braces = 0;
        lx->pos++;
        return tok(PROMQL_T_RBRACE, at, 1);
    }
    if (c == '{')
        return lex_error(lx, at, "unexpected left brace '{' inside braces");
    if (c == '=' || c == '!' || c == ',')
        return lex_symbol(lx, c);
    if (is_alpha(c))
        return lex_word(lx);
    if (c == '"' || c == '\'' || c == '`')
        return lex_string(lx);
    return lex_error(lx, at, "unexpected character inside braces: '%c'",
                     (unsigned char)c >= 0x20 ? c : '?');
}

struct promql_token promql_lex(struct promql_lexer *lx)
{
    if (lx->stopped)
        return lx->stop;
    for (;;) {
        char c = lx->s[lx->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            lx->pos++;
        } else if (c == '#') {
            while (lx->s[lx->pos] && lx->s[lx->pos] != '\n')
                lx->pos++;
        } else {
            break;
        }
    }
    size_t at = lx->pos;
    char c = lx->s[at];
    if (c == '\0') {
        if (lx->in_braces)
            return lex_error(lx, at, "unexpected end of input inside braces");
        if (lx->in_brackets)
            return lex_error(lx, at, "unclosed left bracket");
        if (lx->paren_depth > 0)
            return lex_error(lx, at, "unclosed left parenthesis");
        lx->stop = tok(PROMQL_T_EOF, at, 0);
        lx->stopped = 1;
        return lx->stop;
    }
    if (lx->in_braces)
        return lex_in_braces(lx, c);
    if (is_digit(c) || (c == '.' && is_digit(lx->s[at + 1])))
        return lex_number(lx);
    if (is_alpha(c) || (c == ':' && !lx->in_brackets))
        return lex_word(lx);
    if (c == '"' || c == '\'' || c == '`')
        return lex_string(lx);
    return lex_symbol(lx, c);
}

const char *promql_token_desc(const struct promql_token *t, const char *s, char *buf, size_t cap)
{
    const char *kind = NULL;
    switch (t->type) {
    case PROMQL_T_EOF:
        snprintf(buf, cap, "end of input");
        return buf;
    case PROMQL_T_OP:
        snprintf(buf, cap, "<op:%s>", op_names[t->op]);
        return buf;
    case PROMQL_T_AT:
        snprintf(buf, cap, "<op:@>");
        return buf;
    case PROMQL_T_AGGR:
        snprintf(buf, cap, "<aggr:%s>", agg_names[t->agg]);
        return buf;
    case PROMQL_T_BOOL:
    case PROMQL_T_BY:
    case PROMQL_T_WITHOUT:
    case PROMQL_T_ON:
    case PROMQL_T_IGNORING:
    case PROMQL_T_GROUP_LEFT:
    case PROMQL_T_GROUP_RIGHT:
    case PROMQL_T_OFFSET:
        snprintf(buf, cap, "<%.*s>", (int)t->len, s + t->pos);
        return buf;
    case PROMQL_T_IDENT:
        kind = "identifier";
        break;
    case PROMQL_T_METRIC_IDENT:
        kind = "metric identifier";
        break;
    case PROMQL_T_NUMBER:
        kind = "number";
        break;
    case PROMQL_T_DURATION:
        kind = "duration";
        break;
    case PROMQL_T_STRING:
        kind = "string";
        break;
    case PROMQL_T_ERROR:
        snprintf(buf, cap, "error");
        return buf;
    case PROMQL_T_LPAREN:
    case PROMQL_T_RPAREN:
    case PROMQL_T_LBRACE:
    case PROMQL_T_RBRACE:
    case PROMQL_T_LBRACKET:
    case PROMQL_T_RBRACKET:
    case PROMQL_T_COMMA:
    case PROMQL_T_COLON:
    case PROMQL_T_EQL:
    case PROMQL_T_EQL_REGEX:
    case PROMQL_T_NEQ_REGEX:
        break;
    }
    /* Quote the text Go-style, shortened like Prometheus' %.10q. */
    size_t n = t->len > 10 ? 10 : t->len;
    char q[64];
    strlit_quote(s + t->pos, n, q, sizeof q);
    snprintf(buf, cap, "%s%s%s%s", kind ? kind : "", kind ? " " : "", q,
             t->len > 10 ? "..." : "");
    return buf;
}
