/* fuzz_rules.c — libFuzzer target for the rule file loader (input: a rule
 * file's YAML, written to a temp file and loaded with rules_load). Every
 * input must either load, with every rule named and holding a parsed vector
 * or scalar expression, or fail with messages that each name the file and
 * end in a newline, leaving the rule set empty. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_loaded(const struct rule_set *rs)
{
    for (size_t i = 0; i < rs->ngroups; i++) {
        const struct rule_group *g = &rs->groups[i];
        if (!g->name || !g->file || g->interval_ms <= 0)
            abort();
        for (size_t k = 0; k < g->nrules; k++) {
            const struct rule *r = &g->rules[k];
            if (!r->name || !r->expr || !r->expr_text || r->line < 1 ||
                (r->expr->root->type != PROMQL_TYPE_VECTOR &&
                 r->expr->root->type != PROMQL_TYPE_SCALAR) ||
                (r->kind == RULE_RECORDING && (r->for_ms || r->nannotations)))
                abort();
            int dep = rule_reads_earlier(g, k);
            if (dep != 0 && dep != 1)
                abort();
        }
    }
}

static void check_errors(const char *path, const struct rule_set *rs, const char *errors)
{
    size_t plen = strlen(path);
    if (!errors || !*errors || rs->ngroups || errors[strlen(errors) - 1] != '\n')
        abort();
    for (const char *line = errors; *line; line = strchr(line, '\n') + 1)
        if (strncmp(line, path, plen) != 0 || line[plen] != ':')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz_rules.XXXXXX";
    if (fuzz_write_temp(path, data, size) < 0)
        return 0;
    const char *globs[] = {path};
    struct rule_set rs;
    char *errors = NULL;
    int rc = rules_load(globs, 1, 60000, &rs, &errors);
    if (rc == 0) {
        if (errors)
            abort();
        check_loaded(&rs);
    } else if (rc == -EINVAL) {
        check_errors(path, &rs, errors);
    } else if (rc != -ENOMEM) {
        abort();
    }
    free(errors);
    rule_set_free(&rs);
    unlink(path);
    return 0;
}
