/* u64map.c — see u64map.h. */
#include "u64map.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot(uint64_t key, size_t cap)
{
    key ^= key >> 33; /* the keys are hashes already: spread the high bits */
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static int grow(struct u64map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    uint64_t *keys = malloc(cap * sizeof *keys);
    size_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        vals[i] = SIZE_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] == SIZE_MAX)
            continue;
        size_t s = slot(m->keys[i], cap);
        while (vals[s] != SIZE_MAX)
            s = (s + 1) & (cap - 1);
        keys[s] = m->keys[i];
        vals[s] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int u64map_put(struct u64map *m, uint64_t key, size_t val)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return -ENOMEM;
    size_t s = slot(key, m->cap);
    while (m->vals[s] != SIZE_MAX)
        s = (s + 1) & (m->cap - 1);
    m->keys[s] = key;
    m->vals[s] = val;
    m->n++;
    return 0;
}

int u64map_next(const struct u64map *m, uint64_t key, size_t *pos, size_t *val)
{
    if (!m->cap)
        return 0;
    /* *pos counts probed slots from the key's home slot. */
    for (size_t s = (slot(key, m->cap) + *pos) & (m->cap - 1); *pos < m->cap;
         s = (s + 1) & (m->cap - 1)) {
        if (m->vals[s] == SIZE_MAX)
            return 0;
        ++*pos;
        if (m->keys[s] == key) {
            *val = m->vals[s];
            return 1;
        }
    }
    return 0;
}

void u64map_del(struct u64map *m, uint64_t key, size_t val)
{
    if (!m->cap)
        return;
    size_t s = slot(key, m->cap);
    while (m->vals[s] != SIZE_MAX && (m->keys[s] != key || m->vals[s] != val))
        s = (s + 1) & (m->cap - 1);
    if (m->vals[s] == SIZE_MAX)
        return;
    m->n--;
    /* Backward shift: move later entries of the run into the hole when
     * their home slot does not lie between the hole and them. */
    for (size_t hole = s, j = (s + 1) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->vals[j] == SIZE_MAX) {
            m->vals[hole] = SIZE_MAX;
            return;
        }
        size_t home = slot(m->keys[j], m->cap);
        if (((j - home) & (m->cap - 1)) >= ((j - hole) & (m->cap - 1))) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
}

void u64map_clear(struct u64map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        m->vals[i] = SIZE_MAX;
    m->n = 0;
}

void u64map_free(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}

uint64_t u64map_hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}
