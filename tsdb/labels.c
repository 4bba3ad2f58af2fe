/* labels.c — label-set validation, ordering and hashing. Names follow
 * Prometheus' rules ([a-zA-Z_][a-zA-Z0-9_]*, and ':' allowed in metric
 * names); values must be UTF-8; sizes are bounded by the store's limits. */
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "tsdb_int.h"

static int name_valid(const char *s, int allow_colon)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

int tsdb_label_name_valid(const char *s)
{
    return name_valid(s, 0);
}

int tsdb_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* reject overlong forms, surrogates and values beyond U+10FFFF */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        p += n + 1;
    }
    return 1;
}

int tsdb__labels_validate(const struct tsdb_labels *ls, const struct tsdb_options *o)
{
    int has_name = 0;
    if (ls->len > o->max_labels)
        return TSDB_E_TOO_MANY_LABELS;
    for (size_t i = 0; i < ls->len; i++) {
        const struct tsdb_label *l = &ls->v[i];
        int is_name = strcmp(l->name, "__name__") == 0;
        size_t nlen = strlen(l->name), vlen = strlen(l->value);
        if (nlen > o->max_label_name_bytes || vlen > o->max_label_value_bytes)
            return TSDB_E_TOO_LONG;
        if (!name_valid(l->name, 0))
            return TSDB_E_BAD_NAME;
        if (is_name) {
            has_name = 1;
            if (!name_valid(l->value, 1))
                return TSDB_E_BAD_NAME;
        } else if (!tsdb_utf8_valid(l->value, vlen)) {
            return TSDB_E_BAD_VALUE;
        }
        if (i > 0 && strcmp(ls->v[i - 1].name, l->name) == 0)
            return TSDB_E_DUP_LABEL;
    }
    return has_name ? 0 : TSDB_E_NO_NAME;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

void tsdb__labels_sort(struct tsdb_label *v, size_t n)
{
    /* Label sets are small: insertion sort is stable and cheap when the
     * input is already sorted, which is the common case. */
    for (size_t i = 1; i < n; i++) {
        struct tsdb_label x = v[i];
        size_t j = i;
        while (j > 0 && label_cmp(&v[j - 1], &x) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

int tsdb__labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c)
            return c;
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return (a->len > b->len) - (a->len < b->len);
}

uint64_t tsdb__labels_hash(const struct tsdb_labels *ls)
{
    XXH3_state_t st;
    static const char sep = '\xff';
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < ls->len; i++) {
        XXH3_64bits_update(&st, ls->v[i].name, strlen(ls->v[i].name));
        XXH3_64bits_update(&st, &sep, 1);
        XXH3_64bits_update(&st, ls->v[i].value, strlen(ls->v[i].value));
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}
