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

/* Why a file is not YAML: libyaml's problem and context (static texts,
 * either may be NULL) and where the problem is. */
struct yamlwalk_syntax {
    const char *problem, *context;
    yaml_mark_t mark;
};

/* Reads the file path and parses its first YAML document into *doc (the
 * caller frees it with yaml_document_delete). @return 0; -errno when the
 * file cannot be read; -ENOMEM; or -EINVAL with *bad when the text is not
 * YAML. */
int yamlwalk_load_file(const char *path, yaml_document_t *doc /* OUT */,
                       struct yamlwalk_syntax *bad /* OUT */);

#endif
