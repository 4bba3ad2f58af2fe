/* yamlwalk.h — checks over libyaml's document API that every YAML reader
 * shares: rule files, rule unit tests and vigild's configuration. */
#ifndef VIGIL_YAMLWALK_H
#define VIGIL_YAMLWALK_H

#include <yaml.h>

/* 1 if n is YAML's null: a plain scalar that is empty, "~", "null", "Null"
 * or "NULL". */
int yamlwalk_is_null(const yaml_node_t *n);

/* 1 if a pair of mapping m before p has the scalar key key. */
int yamlwalk_key_before(yaml_document_t *doc, const yaml_node_t *m, const yaml_node_pair_t *p,
                        const char *key);

#endif
