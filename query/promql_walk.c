/* promql_walk.c — a depth-first visit of a PromQL syntax tree, for code
 * that asks what an expression reads (see promql_walk in promql.h). */
#include "promql.h"

int promql_walk(const struct promql_node *n,
                int (*visit)(const struct promql_node *node, void *arg), void *arg)
{
    int r = n ? visit(n, arg) : 0;
    if (r || !n)
        return r;
    switch (n->kind) {
    case PROMQL_NUMBER:
    case PROMQL_STRING:
    case PROMQL_VECTOR_SELECTOR:
        return 0;
    case PROMQL_MATRIX_SELECTOR:
        return promql_walk(n->matrix.vs, visit, arg);
    case PROMQL_SUBQUERY:
        return promql_walk(n->subquery.expr, visit, arg);
    case PROMQL_PAREN:
        return promql_walk(n->paren.expr, visit, arg);
    case PROMQL_UNARY:
        return promql_walk(n->unary.expr, visit, arg);
    case PROMQL_BINARY:
        r = promql_walk(n->binary.lhs, visit, arg);
        return r ? r : promql_walk(n->binary.rhs, visit, arg);
    case PROMQL_AGGREGATE:
        r = promql_walk(n->aggregate.param, visit, arg);
        return r ? r : promql_walk(n->aggregate.expr, visit, arg);
    case PROMQL_CALL:
        for (size_t i = 0; i < n->call.nargs && !r; i++)
            r = promql_walk(n->call.args[i], visit, arg);
        return r;
    }
    return 0;
}
