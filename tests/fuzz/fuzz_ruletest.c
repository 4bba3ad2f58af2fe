/* fuzz_ruletest.c — libFuzzer target for the rule unit-test file reader
 * (input: a test file's YAML, written to a temp file and read with
 * ruletest__parse). Every input must either parse into well-formed cases
 * (positive intervals, every alert case named, alertname in every expected
 * alert's labels, labels sorted) or fail with one "path:line:col: message". */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "ruletest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sorted(const struct tsdb_labels *ls)
{
    for (size_t i = 1; i < ls->len; i++)
        if (strcmp(ls->v[i - 1].name, ls->v[i].name) >= 0)
            abort();
}

static void check_group(const struct rt_group *g)
{
    if (g->interval_ms <= 0)
        abort();
    for (size_t i = 0; i < g->nseries; i++)
        check_sorted(&g->series[i].labels);
    for (size_t i = 0; i < g->nalerts; i++) {
        const struct rt_alert_case *c = &g->alerts[i];
        if (!c->alertname || !*c->alertname || c->eval_ms < 0)
            abort();
        for (size_t j = 0; j < c->nexp; j++) {
            int named = 0;
            check_sorted(&c->exp[j].labels);
            check_sorted(&c->exp[j].annotations);
            for (size_t k = 0; k < c->exp[j].labels.len; k++)
                named |= !strcmp(c->exp[j].labels.v[k].name, "alertname") &&
                         !strcmp(c->exp[j].labels.v[k].value, c->alertname);
            if (!named)
                abort();
        }
    }
    for (size_t i = 0; i < g->nexprs; i++) {
        if (!g->exprs[i].expr || !*g->exprs[i].expr || g->exprs[i].eval_ms < 0)
            abort();
        for (size_t j = 0; j < g->exprs[i].nexp; j++)
            check_sorted(&g->exprs[i].exp[j].labels);
    }
}

/* "path:LINE:COL: text", one line. */
static void check_error(const char *path, const char *err)
{
    size_t plen = strlen(path);
    unsigned line, col;
    int used = 0;
    if (strncmp(err, path, plen) != 0 || sscanf(err + plen, ":%u:%u: %n", &line, &col, &used) != 2 ||
        !used || !line || !col || !err[plen + (size_t)used] || strchr(err, '\n'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz_ruletest.XXXXXX";
    if (fuzz_write_temp(path, data, size) < 0)
        return 0;
    struct rt_file f;
    char err[1024] = "";
    int rc = ruletest__parse(path, &f, err, sizeof(err));
    if (rc == 0) {
        if (f.eval_interval_ms <= 0)
            abort();
        for (size_t i = 0; i < f.ngroups; i++)
            check_group(&f.groups[i]);
        ruletest__file_free(&f);
    } else if (rc == -EINVAL) {
        check_error(path, err);
    } else if (rc != -ENOMEM) {
        abort();
    }
    unlink(path);
    return 0;
}
