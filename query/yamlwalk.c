/* yamlwalk.c — checks shared by the YAML readers (see yamlwalk.h). */
#include "yamlwalk.h"

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
