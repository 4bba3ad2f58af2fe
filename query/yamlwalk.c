/* yamlwalk.c — checks shared by the YAML readers (see yamlwalk.h). */
#include "yamlwalk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int yamlwalk_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

int yamlwalk_key_before(yaml_document_t *doc, const yaml_node_t *m, const yaml_node_pair_t *p,
                        const char *key)
{
    for (const yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
        const yaml_node_t *qk = yaml_document_get_node(doc, q->key);
        if (qk && qk->type == YAML_SCALAR_NODE && !strcmp((const char *)qk->data.scalar.value, key))
            return 1;
    }
    return 0;
}

/* Reads path whole into a malloc'd *text. @return 0 or -errno. */
static int read_file(const char *path, char **text /* OUT */, size_t *len /* OUT */)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    int rc = 0;
    do {
        if (n == cap) {
            char *p = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            buf = p;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    if (!rc && ferror(f))
        rc = -EIO;
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return 0;
}

int yamlwalk_load_file(const char *path, yaml_document_t *doc, struct yamlwalk_syntax *bad)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc < 0)
        return rc;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(text);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
        *bad = (struct yamlwalk_syntax){parser.problem, parser.context, parser.problem_mark};
    }
    yaml_parser_delete(&parser);
    free(text);
    return rc;
}
