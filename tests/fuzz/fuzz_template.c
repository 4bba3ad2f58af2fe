/* fuzz_template.c — libFuzzer target for alert templates. Every input
 * either fails to parse with a "LINE:COL: message" inside the input, or
 * parses and executes to text or to a message with a position, the same
 * on a second execution; the same text through tmpl_expand never yields
 * NULL, and an error there is always wrapped as
 * "<error expanding template: ...>". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 if msg starts with "LINE:COL: " naming a place inside s (or just
 * after its end). */
static int has_position(const char *msg, const char *s)
{
    int line, col, n = 0;
    if (sscanf(msg, "%d:%d: %n", &line, &col, &n) != 2 || n == 0 || msg[n] == '\0')
        return 0;
    int lines = 1;
    for (const char *p = s; *p; p++)
        lines += *p == '\n';
    return line >= 1 && line <= lines && col >= 1 && (size_t)col <= strlen(s) + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);
    if (!s)
        return 0;

    static const struct tsdb_label lv[] = {{"instance", "web-1:9100"}, {"job", "blog"}};
    static const struct tsdb_labels labels = {2, lv};
    struct tmpl_data d = {&labels, NULL, "http://vigil:9090", 1234.5};
    struct tmpl *t = NULL;
    char err[512];
    int rc = tmpl_parse(s, &t, err, sizeof err);
    if (rc == -1 && (t != NULL || !has_position(err, s))) {
        fprintf(stderr, "input [%s]: parse error without a position: [%s]\n", s, err);
        abort();
    }
    if (rc == 0) {
        char *out = tmpl_exec(t, &d, err, sizeof err);
        if (!out && !has_position(err, s)) {
            fprintf(stderr, "input [%s]: execution error without a position: [%s]\n", s, err);
            abort();
        }
        char err2[512];
        char *again = tmpl_exec(t, &d, err2, sizeof err2); /* a parsed template is reusable */
        if ((out == NULL) != (again == NULL) || (out && strcmp(out, again) != 0) ||
            (!out && strcmp(err, err2) != 0)) {
            fprintf(stderr, "input [%s]: a second execution differs\n", s);
            abort();
        }
        free(again);
        free(out);
        tmpl_free(t);
    }
    char *exp = tmpl_expand(s, &d);
    if (!exp || (rc != 0 && strncmp(exp, "<error expanding template: ", 27) != 0)) {
        fprintf(stderr, "input [%s]: tmpl_expand gave [%s]\n", s, exp ? exp : "(null)");
        abort();
    }
    free(exp);
    free(s);
    return 0;
}
