/* promql_print.c — writes a PromQL syntax tree back as canonical text, the
 * way Prometheus' String() methods do, such that the text parses to a tree
 * that prints the same. */
#include "promql.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strlit.h"

/* A growing output string; oom sticks once an allocation failed. */
struct out {
    char *p;
    size_t n, cap;
    int oom;
};

static void put(struct out *o, const char *s, size_t len)
{
    if (o->oom)
        return;
    if (o->n + len + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 64;
        while (cap < o->n + len + 1)
            cap *= 2;
        char *grown = realloc(o->p, cap);
        if (!grown) {
            o->oom = 1;
            return;
        }
        o->p = grown;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, len);
    o->n += len;
    o->p[o->n] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(o, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void put_quoted(struct out *o, const char *v, size_t len)
{
    size_t need = strlit_quote(v, len, NULL, 0);
    char *buf = malloc(need + 1);
    if (!buf) {
        o->oom = 1;
        return;
    }
    strlit_quote(v, len, buf, need + 1);
    put(o, buf, need);
    free(buf);
}

int promql_duration_format(int64_t ms, char *buf, size_t cap)
{
    static const struct {
        const char *unit;
        int64_t ms;
        int exact; /* years and weeks only when nothing smaller remains */
    } units[] = {
        {"y", 365LL * 86400000, 1}, {"w", 7LL * 86400000, 1}, {"d", 86400000, 0},
        {"h", 3600000, 0},          {"m", 60000, 0},          {"s", 1000, 0},
        {"ms", 1, 0},
    };
    uint64_t left = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    int n = 0;
    if (ms == 0)
        return snprintf(buf, cap, "0s");
    if (ms < 0)
        n += snprintf(buf, cap, "-");
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        uint64_t u = (uint64_t)units[i].ms;
        if ((units[i].exact && left % u != 0) || left < u)
            continue;
        n += snprintf(buf + (n < (int)cap ? n : (int)cap), n < (int)cap ? cap - n : 0,
                      "%llu%s", (unsigned long long)(left / u), units[i].unit);
        left %= u;
    }
    return n;
}

static void put_duration(struct out *o, int64_t ms)
{
    char buf[64];
    promql_duration_format(ms, buf, sizeof buf);
    puts_(o, buf);
}

/* Shortest text that reads back as v: integers plainly, others with the
 * fewest significant digits that round-trip. */
static void put_number(struct out *o, double v)
{
    if (isnan(v)) {
        puts_(o, "NaN");
    } else if (isinf(v)) {
        puts_(o, v > 0 ? "Inf" : "-Inf"); /* "+Inf ^ x" would read as +(Inf ^ x) */
    } else if (v == floor(v) && fabs(v) < 1e15) {
        putf(o, "%.0f", v);
    } else {
        char buf[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
        puts_(o, buf);
    }
}

static int legacy_name(const char *s, int colon)
{
    if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
              (*c >= '0' && *c <= '9') || (colon && *c == ':')))
            return 0;
    return 1;
}

/* A metric name that reads back as a plain name: not a keyword, Inf or
 * NaN, which the lexer would take for something else. */
static int plain_metric_name(const char *s)
{
    static const char *const words[] = {
        "and", "or", "unless", "atan2", "sum", "avg", "count", "min", "max", "stddev",
        "stdvar", "group", "topk", "bottomk", "quantile", "count_values", "limitk",
        "limit_ratio", "bool", "by", "without", "on", "ignoring", "group_left",
        "group_right", "offset", "inf", "nan",
    };
    if (!legacy_name(s, 1))
        return 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return 0;
    return 1;
}

static void put_label_name(struct out *o, const char *name)
{
    if (legacy_name(name, 0))
        puts_(o, name);
    else
        put_quoted(o, name, strlen(name));
}

static void put_labels(struct out *o, const struct promql_labels *l)
{
    puts_(o, "(");
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            puts_(o, ", ");
        put_label_name(o, l->names[i]);
    }
    puts_(o, ")");
}

static void put_modifiers(struct out *o, const struct promql_modifiers *m)
{
    if (m->at == PROMQL_AT_TIME) {
        uint64_t a = m->at_ms < 0 ? (uint64_t)0 - (uint64_t)m->at_ms : (uint64_t)m->at_ms;
        putf(o, " @ %s%llu.%03llu", m->at_ms < 0 ? "-" : "", (unsigned long long)(a / 1000),
             (unsigned long long)(a % 1000));
    } else if (m->at == PROMQL_AT_START) {
        puts_(o, " @ start()");
    } else if (m->at == PROMQL_AT_END) {
        puts_(o, " @ end()");
    }
    if (m->offset_ms != 0) {
        puts_(o, " offset ");
        put_duration(o, m->offset_ms);
    }
}

static void put_selector(struct out *o, const struct promql_node *n)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    const char *name = n->vs.name;
    size_t first = name ? 1 : 0;
    int braces = n->vs.n_matchers > first || (name && !plain_metric_name(name));
    int sep = 0;
    if (name && plain_metric_name(name))
        puts_(o, name);
    if (braces) {
        puts_(o, "{");
        if (name && !plain_metric_name(name)) {
            put_quoted(o, name, strlen(name));
            sep = 1;
        }
        for (size_t i = first; i < n->vs.n_matchers; i++) {
            const struct tsdb_matcher *m = &n->vs.matchers[i];
            if (sep)
                puts_(o, ", ");
            put_label_name(o, m->name);
            puts_(o, ops[m->type]);
            put_quoted(o, m->value, strlen(m->value));
            sep = 1;
        }
        puts_(o, "}");
    }
}

static void print_node(struct out *o, const struct promql_node *n);

static void put_binary(struct out *o, const struct promql_node *n)
{
    const struct promql_matching *m = &n->binary.matching;
    int grouped = m->card == PROMQL_CARD_MANY_TO_ONE || m->card == PROMQL_CARD_ONE_TO_MANY;
    print_node(o, n->binary.lhs);
    putf(o, " %s", promql_op_name(n->binary.op));
    if (n->binary.return_bool)
        puts_(o, " bool");
    if (m->on || m->labels.n > 0 || grouped) {
        puts_(o, m->on ? " on " : " ignoring ");
        put_labels(o, &m->labels);
        if (grouped) {
            puts_(o, m->card == PROMQL_CARD_MANY_TO_ONE ? " group_left " : " group_right ");
            put_labels(o, &m->include);
        }
    }
    puts_(o, " ");
    print_node(o, n->binary.rhs);
}

static void put_aggregate(struct out *o, const struct promql_node *n)
{
    puts_(o, promql_agg_name(n->aggregate.op));
    if (n->aggregate.without || n->aggregate.grouping.n > 0) {
        puts_(o, n->aggregate.without ? " without " : " by ");
        put_labels(o, &n->aggregate.grouping);
        puts_(o, " ");
    }
    puts_(o, "(");
    if (n->aggregate.param) {
        print_node(o, n->aggregate.param);
        puts_(o, ", ");
    }
    print_node(o, n->aggregate.expr);
    puts_(o, ")");
}

static void print_node(struct out *o, const struct promql_node *n)
{
    switch (n->kind) {
    case PROMQL_NUMBER: {
        double v = n->number.value, ms = v * 1000;
        if (n->number.is_duration && fabs(ms) < 9e15 && (double)(int64_t)ms == ms &&
            (double)(int64_t)ms / 1000 == v)
            put_duration(o, (int64_t)ms);
        else
            put_number(o, v);
        break;
    }
    case PROMQL_STRING:
        put_quoted(o, n->string.value, n->string.len);
        break;
    case PROMQL_VECTOR_SELECTOR:
        put_selector(o, n);
        put_modifiers(o, &n->vs.mod);
        break;
    case PROMQL_MATRIX_SELECTOR:
        put_selector(o, n->matrix.vs);
        puts_(o, "[");
        put_duration(o, n->matrix.range_ms);
        puts_(o, "]");
        put_modifiers(o, &n->matrix.vs->vs.mod);
        break;
    case PROMQL_SUBQUERY:
        print_node(o, n->subquery.expr);
        puts_(o, "[");
        put_duration(o, n->subquery.range_ms);
        puts_(o, ":");
        if (n->subquery.step_ms)
            put_duration(o, n->subquery.step_ms);
        puts_(o, "]");
        put_modifiers(o, &n->subquery.mod);
        break;
    case PROMQL_PAREN:
        puts_(o, "(");
        print_node(o, n->paren.expr);
        puts_(o, ")");
        break;
    case PROMQL_UNARY:
        puts_(o, promql_op_name(n->unary.op));
        print_node(o, n->unary.expr);
        break;
    case PROMQL_BINARY:
        put_binary(o, n);
        break;
    case PROMQL_AGGREGATE:
        put_aggregate(o, n);
        break;
    case PROMQL_CALL:
        puts_(o, n->call.func->name);
        puts_(o, "(");
        for (size_t i = 0; i < n->call.nargs; i++) {
            if (i)
                puts_(o, ", ");
            print_node(o, n->call.args[i]);
        }
        puts_(o, ")");
        break;
    }
}

char *promql_print(const struct promql_node *node)
{
    struct out o = {0};
    put(&o, "", 0);
    print_node(&o, node);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
