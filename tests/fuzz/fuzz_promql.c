/* fuzz_promql.c — libFuzzer target for the PromQL parser and printer.
 * Every input either fails with a message and a position inside the input,
 * or parses to a tree whose printed form parses again and prints the same
 * (print is a fixed point after one round). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "promql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);
    if (!s)
        return 0;
    size_t len = strlen(s); /* the parser sees a C string */

    struct promql_expr *e = NULL, *e2 = NULL;
    struct promql_error err;
    int rc = promql_parse(s, &e, &err);
    if (rc == -EINVAL) {
        if (err.msg[0] == '\0' || err.pos.start > len || err.pos.end < err.pos.start ||
            err.line == 0 || err.col == 0)
            abort();
    } else if (rc == 0) {
        char *printed = promql_print(e->root);
        if (!printed)
            abort();
        if (promql_parse(printed, &e2, &err) != 0) {
            fprintf(stderr, "input [%s] printed as [%s] does not parse: %s\n", s, printed,
                    err.msg);
            abort();
        }
        char *again = promql_print(e2->root);
        if (!again || strcmp(again, printed) != 0 || e2->root->type != e->root->type) {
            fprintf(stderr, "input [%s] printed as [%s] reprints as [%s]\n", s, printed,
                    again ? again : "(null)");
            abort();
        }
        free(again);
        free(printed);
        promql_expr_free(e2);
        promql_expr_free(e);
    }
    free(s);
    return 0;
}
