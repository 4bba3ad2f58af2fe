/* promql_binop.c — binary operators: arithmetic and comparisons between
 * scalars and vectors, vector matching (on/ignoring, group_left/right with
 * included labels) and the set operators and/or/unless, as Prometheus 3.
 */
#include <math.h>
#include <string.h>

#include "promql_eval_int.h"

/* op applied to two floats. @return 1 to keep the result (always for
 * arithmetic; the comparison's outcome otherwise, *out is then lhs). */
static int elem_op(enum promql_op op, double l, double r, double *out)
{
    switch (op) {
    case PROMQL_OP_ADD:
        *out = l + r;
        return 1;
    case PROMQL_OP_SUB:
        *out = l - r;
        return 1;
    case PROMQL_OP_MUL:
        *out = l * r;
        return 1;
    case PROMQL_OP_DIV:
        *out = l / r;
        return 1;
    case PROMQL_OP_MOD:
        *out = fmod(l, r);
        return 1;
    case PROMQL_OP_POW:
        *out = pow(l, r);
        return 1;
    case PROMQL_OP_ATAN2:
        *out = atan2(l, r);
        return 1;
    case PROMQL_OP_EQLC:
        *out = l;
        return l == r;
    case PROMQL_OP_NEQ:
        *out = l;
        return l != r;
    case PROMQL_OP_GTR:
        *out = l;
        return l > r;
    case PROMQL_OP_LSS:
        *out = l;
        return l < r;
    case PROMQL_OP_GTE:
        *out = l;
        return l >= r;
    case PROMQL_OP_LTE:
        *out = l;
        return l <= r;
    case PROMQL_OP_OR:
    case PROMQL_OP_AND:
    case PROMQL_OP_UNLESS:
        break;
    }
    *out = NAN;
    return 0;
}

static int is_arith(enum promql_op op)
{
    return !promql_op_is_comparison(op) && !promql_op_is_set(op);
}

static struct pe_val vector_scalar(struct pe_ctx *c, const struct promql_node *n,
                                   struct pe_vec *vec, double scalar, int swap)
{
    struct pe_val out = {.type = PROMQL_TYPE_VECTOR};
    enum promql_op op = n->binary.op;
    for (size_t i = 0; i < vec->n; i++) {
        struct pe_sample s = vec->v[i];
        double l = s.v, r = scalar, v;
        if (swap) {
            l = scalar;
            r = s.v;
        }
        int keep = elem_op(op, l, r, &v);
        if (promql_op_is_comparison(op) && swap)
            v = s.v;
        if (n->binary.return_bool) {
            v = keep ? 1 : 0;
            keep = 1;
        }
        if (!keep)
            continue;
        s.v = v;
        if (is_arith(op) || n->binary.return_bool)
            s.drop_name = 1;
        pe_vec_push(c, &out.vec, s);
    }
    return out;
}

static const char *sig(struct pe_ctx *c, const struct pe_sample *s,
                       const struct promql_matching *m, size_t *len)
{
    return pe_lset_key(c, &s->ls, &m->labels, m->on, !m->on, len);
}

static struct pe_val set_op(struct pe_ctx *c, const struct promql_node *n, struct pe_vec *l,
                            struct pe_vec *r)
{
    struct pe_val out = {.type = PROMQL_TYPE_VECTOR};
    const struct promql_matching *m = &n->binary.matching;
    struct pe_map rs, ls;
    pe_map_init(c, &rs, r->n);
    pe_map_init(c, &ls, l->n);
    size_t len, idx;
    for (size_t i = 0; i < r->n; i++) {
        const char *k = sig(c, &r->v[i], m, &len);
        pe_map_put(c, &rs, k, len, i);
    }
    for (size_t i = 0; i < l->n; i++) {
        const char *k = sig(c, &l->v[i], m, &len);
        int found = pe_map_get(&rs, k, len, &idx);
        pe_map_put(c, &ls, k, len, i);
        if (n->binary.op == PROMQL_OP_OR || (n->binary.op == PROMQL_OP_AND) == found)
            pe_vec_push(c, &out.vec, l->v[i]);
    }
    if (n->binary.op == PROMQL_OP_OR) {
        for (size_t i = 0; i < r->n; i++) {
            const char *k = sig(c, &r->v[i], m, &len);
            if (!pe_map_get(&ls, k, len, &idx))
                pe_vec_push(c, &out.vec, r->v[i]);
        }
    }
    return out;
}

/* The labels of a result: the "many" side's, reduced by one-to-one
 * matching, plus group_x's included labels from the "one" side. */
static struct pe_lset result_labels(struct pe_ctx *c, const struct pe_sample *many,
                                    const struct pe_sample *one, const struct promql_matching *m)
{
    struct pe_lset ls = many->ls;
    if (m->card == PROMQL_CARD_ONE_TO_ONE) {
        ls = pe_lset_filter(c, ls, &m->labels, m->on);
        return ls;
    }
    for (size_t i = 0; i < m->include.n; i++)
        ls = pe_lset_set(c, ls, m->include.names[i], pe_lset_get(&one->ls, m->include.names[i]));
    return ls;
}

static struct pe_val vector_vector(struct pe_ctx *c, const struct promql_node *n,
                                   struct pe_vec *lhs, struct pe_vec *rhs)
{
    struct pe_val out = {.type = PROMQL_TYPE_VECTOR};
    const struct promql_matching *m = &n->binary.matching;
    enum promql_op op = n->binary.op;
    int swapped = m->card == PROMQL_CARD_ONE_TO_MANY;
    struct pe_vec *many = swapped ? rhs : lhs, *one = swapped ? lhs : rhs;
    struct pe_map ones, matched, inserted;
    pe_map_init(c, &ones, one->n);
    pe_map_init(c, &matched, many->n);
    pe_map_init(c, &inserted, many->n);
    size_t len, idx;
    for (size_t i = 0; i < one->n; i++) {
        const char *k = sig(c, &one->v[i], m, &len);
        if (pe_map_get(&ones, k, len, &idx)) {
            struct pe_lset g = pe_lset_filter(c, one->v[i].ls, &m->labels, m->on);
            if (!m->on)
                g = pe_lset_del(c, g, "__name__");
            const struct pe_lset *a = &one->v[idx].ls, *b = &one->v[i].ls;
            if (pe_lset_cmp(a, b) > 0) {
                const struct pe_lset *t = a;
                a = b;
                b = t;
            }
            pe_fail(c, PROMQL_ERR_EXECUTION,
                    "found duplicate series for the match group %s on the %s hand-side of the "
                    "operation: [%s, %s];many-to-many matching not allowed: matching labels "
                    "must be unique on one side",
                    pe_lset_str(c, &g), swapped ? "left" : "right", pe_lset_str(c, a),
                    pe_lset_str(c, b));
        }
        pe_map_put(c, &ones, k, len, i);
    }
    for (size_t i = 0; i < many->n; i++) {
        const char *k = sig(c, &many->v[i], m, &len);
        if (!pe_map_get(&ones, k, len, &idx))
            continue;
        const struct pe_sample *ms = &many->v[i], *os = &one->v[idx];
        double l = ms->v, r = os->v, v;
        if (swapped) {
            l = os->v;
            r = ms->v;
        }
        size_t dummy;
        /* checked before comparisons filter: the query is wrong whatever
         * the values are */
        if (m->card == PROMQL_CARD_ONE_TO_ONE) {
            if (pe_map_get(&matched, k, len, &dummy))
                pe_fail(c, PROMQL_ERR_EXECUTION, "multiple matches for labels: many-to-one "
                                                 "matching must be explicit (group_left/group_right)");
            pe_map_put(c, &matched, k, len, i);
        }
        int keep = elem_op(op, l, r, &v);
        if (n->binary.return_bool) {
            v = keep ? 1 : 0;
            keep = 1;
        }
        if (!keep)
            continue;
        struct pe_lset ls = result_labels(c, ms, os, m);
        if (m->card != PROMQL_CARD_ONE_TO_ONE) {
            size_t rlen;
            const char *rk = pe_lset_key(c, &ls, NULL, 0, 0, &rlen);
            char *both = pe_alloc(c, len + rlen + 1);
            memcpy(both, k, len);
            both[len] = '\x01';
            memcpy(both + len + 1, rk, rlen);
            if (pe_map_get(&inserted, both, len + rlen + 1, &dummy))
                pe_fail(c, PROMQL_ERR_EXECUTION, "multiple matches for labels: grouping labels "
                                                 "must ensure unique matches");
            pe_map_put(c, &inserted, both, len + rlen + 1, i);
        }
        struct pe_sample s = {ls, ms->t, v, ms->drop_name};
        if (is_arith(op) || n->binary.return_bool)
            s.drop_name = 1;
        pe_vec_push(c, &out.vec, s);
    }
    return out;
}

struct pe_val pe_binary(struct pe_ctx *c, const struct promql_node *n, int64_t t)
{
    struct pe_val l = pe_eval(c, n->binary.lhs, t);
    struct pe_val r = pe_eval(c, n->binary.rhs, t);
    if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_SCALAR) {
        struct pe_val out = {.type = PROMQL_TYPE_SCALAR};
        int keep = elem_op(n->binary.op, l.f, r.f, &out.f);
        if (promql_op_is_comparison(n->binary.op))
            out.f = keep ? 1 : 0;
        return out;
    }
    if (l.type == PROMQL_TYPE_VECTOR && r.type == PROMQL_TYPE_SCALAR)
        return vector_scalar(c, n, &l.vec, r.f, 0);
    if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_VECTOR)
        return vector_scalar(c, n, &r.vec, l.f, 1);
    if (promql_op_is_set(n->binary.op))
        return set_op(c, n, &l.vec, &r.vec);
    return vector_vector(c, n, &l.vec, &r.vec);
}
