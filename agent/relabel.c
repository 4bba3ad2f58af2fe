/* relabel.c — Prometheus relabeling: the actions of relabel.h applied to a
 * sorted, owned label set, with the semantics of Prometheus' model/relabel
 * package (expansion of $1 / ${1} / $name like Go's Regexp.Expand, hashmod
 * on the last 8 bytes of an MD5, values that become "" delete the label).
 *
 * Design notes: a rule's regex is compiled once by relabel_rule_prepare,
 * anchored at both ends with "." matching newlines, JIT when available. A
 * rule owns one pcre2_match_data, so a rule list is used by one thread at a
 * time. The default strings of relabel_rule_default are static: free()
 * only what differs from them.
 */
#include "relabel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static char default_separator[] = ";";
static char default_regex[] = "(.*)";
static char default_replacement[] = "$1";
static char no_target[] = "";

/* ---- MD5 (RFC 1321), for hashmod ------------------------------------------ */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391,
};
static const unsigned char md5_r[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const unsigned char *p)
{
    uint32_t m[16], a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g, round = i / 16;
        if (round == 0) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (round == 1) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (round == 2) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        uint32_t t = a + f + md5_k[i] + m[g];
        int s = md5_r[round * 4 + i % 4];
        a = d;
        d = c;
        c = b;
        b += (t << s) | (t >> (32 - s));
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

void relabel_md5(const void *data, size_t len, unsigned char out[16])
{
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const unsigned char *p = data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64)
        md5_block(h, p);
    unsigned char tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tl = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 8 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(h, tail);
    if (tl == 128)
        md5_block(h, tail + 64);
    for (int i = 0; i < 16; i++)
        out[i] = (unsigned char)(h[i / 4] >> (8 * (i % 4)));
}

/* ---- rules --------------------------------------------------------------- */

static const char *const action_names[] = {
    [RELABEL_REPLACE] = "replace",       [RELABEL_KEEP] = "keep",
    [RELABEL_DROP] = "drop",             [RELABEL_HASHMOD] = "hashmod",
    [RELABEL_LABELMAP] = "labelmap",     [RELABEL_LABELDROP] = "labeldrop",
    [RELABEL_LABELKEEP] = "labelkeep",   [RELABEL_LOWERCASE] = "lowercase",
    [RELABEL_UPPERCASE] = "uppercase",   [RELABEL_KEEPEQUAL] = "keepequal",
    [RELABEL_DROPEQUAL] = "dropequal",
};

const char *relabel_action_name(enum relabel_action a)
{
    return action_names[a];
}

int relabel_action_parse(const char *s, enum relabel_action *a)
{
    for (size_t i = 0; i < sizeof action_names / sizeof action_names[0]; i++)
        if (strcasecmp(s, action_names[i]) == 0) {
            *a = (enum relabel_action)i;
            return 0;
        }
    return -EINVAL;
}

void relabel_rule_default(struct relabel_rule *r)
{
    memset(r, 0, sizeof *r);
    r->action = RELABEL_REPLACE;
    r->separator = default_separator;
    r->target_label = no_target;
    r->regex = default_regex;
    r->replacement = default_replacement;
}

/* Prometheus' relabelTarget: letters, '_', digits after the first, and
 * $name / ${name} references. */
static int target_template_valid(const char *s)
{
    int first = 1;
    while (*s) {
        if (*s == '$') {
            s++;
            int brace = *s == '{';
            s += brace;
            size_t n = 0;
            while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
                   (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
                n++;
            if (n == 0 || (brace && s[n] != '}'))
                return 0;
            s += n + brace;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
                   (!first && *s >= '0' && *s <= '9')) {
            s++;
        } else {
            return 0;
        }
        first = 0;
    }
    return !first;
}

static int compile(struct relabel_rule *r, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)r->regex, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_DOTALL | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errlen, "bad regex \"%s\": %s at offset %zu", r->regex, (const char *)msg,
                 (size_t)off);
        return -EINVAL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* else the interpreter: same results */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        pcre2_code_free(re);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    r->re = re;
    r->re_data = md;
    return 0;
}

/* The checks of Prometheus' relabel.Config.UnmarshalYAML. */
static int check(const struct relabel_rule *r, char *err, size_t errlen)
{
    enum relabel_action a = r->action;
    const char *name = action_names[a];
    int eq = a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL;
    int needs_target = a == RELABEL_REPLACE || a == RELABEL_HASHMOD || a == RELABEL_LOWERCASE ||
                       a == RELABEL_UPPERCASE || eq;
    int default_repl = strcmp(r->replacement, default_replacement) == 0;
    for (size_t i = 0; i < r->nsource; i++)
        if (!tsdb_label_name_valid(r->source_labels[i])) {
            snprintf(err, errlen, "\"%s\" is not a valid label name in source_labels",
                     r->source_labels[i]);
            return -EINVAL;
        }
    if (a == RELABEL_HASHMOD && r->modulus == 0) {
        snprintf(err, errlen, "relabel configuration for hashmod requires non-zero modulus");
        return -EINVAL;
    }
    if (needs_target && r->target_label[0] == '\0') {
        snprintf(err, errlen, "relabel configuration for %s action requires 'target_label' value",
                 name);
        return -EINVAL;
    }
    int target_ok = a != RELABEL_REPLACE ? tsdb_label_name_valid(r->target_label)
                    : strchr(r->target_label, '$') ? target_template_valid(r->target_label)
                                                   : tsdb_label_name_valid(r->target_label);
    if (needs_target && !target_ok) {
        snprintf(err, errlen, "\"%s\" is invalid 'target_label' for %s action", r->target_label,
                 name);
        return -EINVAL;
    }
    if ((a == RELABEL_LOWERCASE || a == RELABEL_UPPERCASE) && !default_repl) {
        snprintf(err, errlen, "'replacement' can not be set for %s action", name);
        return -EINVAL;
    }
    if (a == RELABEL_LABELMAP && !target_template_valid(r->replacement)) {
        snprintf(err, errlen, "\"%s\" is invalid 'replacement' for %s action", r->replacement,
                 name);
        return -EINVAL;
    }
    if (eq && (strcmp(r->regex, default_regex) != 0 || r->modulus ||
               strcmp(r->separator, default_separator) != 0 || !default_repl)) {
        snprintf(err, errlen,
                 "%s action requires only 'source_labels' and 'target_label', and no other fields",
                 name);
        return -EINVAL;
    }
    if ((a == RELABEL_LABELDROP || a == RELABEL_LABELKEEP) &&
        (r->nsource || r->target_label[0] || r->modulus ||
         strcmp(r->separator, default_separator) != 0 || !default_repl)) {
        snprintf(err, errlen, "%s action requires only 'regex', and no other fields", name);
        return -EINVAL;
    }
    return 0;
}

int relabel_rule_prepare(struct relabel_rule *r, char *err, size_t errlen)
{
    int rc = check(r, err, errlen);
    return rc ? rc : compile(r, err, errlen);
}

static void free_unless(char *s, const char *static_default)
{
    if (s != static_default)
        free(s);
}

void relabel_rule_free(struct relabel_rule *r)
{
    for (size_t i = 0; i < r->nsource; i++)
        free(r->source_labels[i]);
    free(r->source_labels);
    free_unless(r->separator, default_separator);
    free_unless(r->target_label, no_target);
    free_unless(r->regex, default_regex);
    free_unless(r->replacement, default_replacement);
    pcre2_match_data_free(r->re_data);
    pcre2_code_free(r->re);
    relabel_rule_default(r);
}

void relabel_rules_free(struct relabel_rule *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        relabel_rule_free(&v[i]);
    free(v);
}

static int dup_field(char **dst, const char *src, char *static_default)
{
    *dst = src == static_default ? static_default : strdup(src);
    return *dst ? 0 : -ENOMEM;
}

int relabel_rule_copy(struct relabel_rule *dst, const struct relabel_rule *src)
{
    char err[16];
    relabel_rule_default(dst);
    dst->action = src->action;
    dst->modulus = src->modulus;
    int rc = dup_field(&dst->separator, src->separator, default_separator);
    rc = rc ? rc : dup_field(&dst->target_label, src->target_label, no_target);
    rc = rc ? rc : dup_field(&dst->regex, src->regex, default_regex);
    rc = rc ? rc : dup_field(&dst->replacement, src->replacement, default_replacement);
    if (!rc && src->nsource) {
        dst->source_labels = calloc(src->nsource, sizeof *dst->source_labels);
        rc = dst->source_labels ? 0 : -ENOMEM;
        for (size_t i = 0; !rc && i < src->nsource; i++, dst->nsource++)
            rc = (dst->source_labels[i] = strdup(src->source_labels[i])) ? 0 : -ENOMEM;
    }
    if (!rc && src->re)
        rc = compile(dst, err, sizeof err);
    if (rc)
        relabel_rule_free(dst);
    return rc;
}

/* ---- label sets ---------------------------------------------------------- */

/* Index of name in ls, or -(insertion point) - 1. */
static ptrdiff_t find(const struct relabel_labels *ls, const char *name)
{
    size_t lo = 0, hi = ls->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ls->v[mid].name, name);
        if (c == 0)
            return (ptrdiff_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(ptrdiff_t)lo - 1;
}

static void remove_at(struct relabel_labels *ls, size_t i)
{
    free((char *)ls->v[i].name);
    free((char *)ls->v[i].value);
    memmove(ls->v + i, ls->v + i + 1, (ls->len - i - 1) * sizeof *ls->v);
    ls->len--;
}

static int grow(struct relabel_labels *ls)
{
    size_t cap = ls->cap ? ls->cap * 2 : 16;
    struct tsdb_label *v = realloc(ls->v, cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    ls->v = v;
    ls->cap = cap;
    return 0;
}

int relabel_labels_set(struct relabel_labels *ls, const char *name, const char *value)
{
    ptrdiff_t i = find(ls, name);
    if (*value == '\0') {
        if (i >= 0)
            remove_at(ls, (size_t)i);
        return 0;
    }
    char *v = strdup(value);
    if (!v)
        return -ENOMEM;
    if (i >= 0) {
        free((char *)ls->v[i].value);
        ls->v[i].value = v;
        return 0;
    }
    char *n = strdup(name);
    if (!n || (ls->len == ls->cap && grow(ls) != 0)) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    size_t at = (size_t)(-i - 1);
    memmove(ls->v + at + 1, ls->v + at, (ls->len - at) * sizeof *ls->v);
    ls->v[at] = (struct tsdb_label){n, v};
    ls->len++;
    return 0;
}

const char *relabel_labels_get(const struct relabel_labels *ls, const char *name)
{
    ptrdiff_t i = find(ls, name);
    return i >= 0 ? ls->v[i].value : "";
}

void relabel_labels_clear(struct relabel_labels *ls)
{
    for (size_t i = 0; i < ls->len; i++) {
        free((char *)ls->v[i].name);
        free((char *)ls->v[i].value);
    }
    ls->len = 0;
}

void relabel_labels_free(struct relabel_labels *ls)
{
    relabel_labels_clear(ls);
    free(ls->v);
    memset(ls, 0, sizeof *ls);
}

/* ---- applying rules ------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The capture group a $reference names (a number without leading zero, or
 * a group name), or -1 when there is none: it expands to "". */
static long group_of(const struct relabel_rule *r, const char *name, size_t n)
{
    long num = 0;
    for (size_t i = 0; i < n && num >= 0; i++)
        num = name[i] >= '0' && name[i] <= '9' && num < 100000000 ? num * 10 + (name[i] - '0')
                                                                   : -1;
    if (num >= 0 && !(name[0] == '0' && n > 1))
        return num;
    char s[128];
    if (n >= sizeof s)
        return -1;
    memcpy(s, name, n);
    s[n] = '\0';
    int g = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR)s);
    return g >= 0 ? g : -1;
}

/* Appends tmpl to out with $name, ${name} and $$ expanded against the last
 * match of r on subj, as Go's Regexp.ExpandString (a malformed reference is
 * kept as text; names are ASCII letters, digits and '_'). */
static int expand(const struct relabel_rule *r, const char *tmpl, const char *subj,
                  struct buf *out)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->re_data);
    uint32_t nov = pcre2_get_ovector_count(r->re_data);
    out->len = 0;
    int rc = buf_add(out, "", 0);
    for (const char *p = tmpl; *p && !rc;) {
        const char *dollar = strchr(p, '$');
        if (!dollar)
            return buf_add(out, p, strlen(p));
        rc = buf_add(out, p, (size_t)(dollar - p));
        p = dollar + 1;
        if (*p == '$') {
            rc = rc ? rc : buf_add(out, "$", 1);
            p++;
            continue;
        }
        int brace = *p == '{';
        const char *name = p + brace;
        size_t n = 0;
        while (name_char(name[n]))
            n++;
        if (n == 0 || (brace && name[n] != '}')) {
            rc = rc ? rc : buf_add(out, "$", 1);
            continue;
        }
        p = name + n + brace;
        long g = group_of(r, name, n);
        if (g >= 0 && (uint32_t)g < nov && ov[2 * g] != PCRE2_UNSET && !rc)
            rc = buf_add(out, subj + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
    return rc;
}

static int matches(const struct relabel_rule *r, const char *s)
{
    return pcre2_match(r->re, (PCRE2_SPTR)s, strlen(s), 0, 0, r->re_data, NULL) >= 0;
}

/* labelmap: every label whose name matches gets a copy under the expanded
 * replacement; names are collected first so the rule sees the set as it
 * was before it. */
static int labelmap(const struct relabel_rule *r, struct relabel_labels *ls, struct buf *name)
{
    struct relabel_labels add = {0};
    int rc = 0;
    for (size_t i = 0; i < ls->len && !rc; i++) {
        if (!matches(r, ls->v[i].name))
            continue;
        rc = expand(r, r->replacement, ls->v[i].name, name);
        if (!rc && name->len)
            rc = relabel_labels_set(&add, name->p, ls->v[i].value);
    }
    for (size_t i = 0; i < add.len && !rc; i++)
        rc = relabel_labels_set(ls, add.v[i].name, add.v[i].value);
    relabel_labels_free(&add);
    return rc;
}

static void labelfilter(const struct relabel_rule *r, struct relabel_labels *ls, int keep)
{
    for (size_t i = 0; i < ls->len;) {
        if (matches(r, ls->v[i].name) != keep)
            remove_at(ls, i);
        else
            i++;
    }
}

static int hashmod(const struct relabel_rule *r, struct relabel_labels *ls, const struct buf *val)
{
    unsigned char sum[16];
    relabel_md5(val->p, val->len, sum);
    uint64_t h = 0;
    for (int i = 8; i < 16; i++)
        h = h << 8 | sum[i];
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)(h % r->modulus));
    return relabel_labels_set(ls, r->target_label, s);
}

static int replace(const struct relabel_rule *r, struct relabel_labels *ls, const struct buf *val,
                   struct buf *target, struct buf *value)
{
    if (pcre2_match(r->re, (PCRE2_SPTR)val->p, val->len, 0, 0, r->re_data, NULL) < 0)
        return 0;
    int rc = expand(r, r->target_label, val->p, target);
    if (rc || !tsdb_label_name_valid(target->p))
        return rc;
    rc = expand(r, r->replacement, val->p, value);
    return rc ? rc : relabel_labels_set(ls, target->p, value->p);
}

static int changecase(const struct relabel_rule *r, struct relabel_labels *ls,
                      const struct buf *val, struct buf *out)
{
    out->len = 0;
    int rc = buf_add(out, val->p, val->len);
    for (size_t i = 0; !rc && i < out->len; i++) {
        char c = out->p[i];
        if (r->action == RELABEL_LOWERCASE && c >= 'A' && c <= 'Z')
            out->p[i] = (char)(c - 'A' + 'a');
        else if (r->action == RELABEL_UPPERCASE && c >= 'a' && c <= 'z')
            out->p[i] = (char)(c - 'a' + 'A');
    }
    return rc ? rc : relabel_labels_set(ls, r->target_label, out->p);
}

/* @return 1 keep, 0 dropped, -ENOMEM. */
static int apply_one(const struct relabel_rule *r, struct relabel_labels *ls, struct buf b[3])
{
    struct buf *val = &b[0];
    val->len = 0;
    int rc = buf_add(val, "", 0);
    for (size_t i = 0; i < r->nsource && !rc; i++) {
        const char *v = relabel_labels_get(ls, r->source_labels[i]);
        if (i)
            rc = buf_add(val, r->separator, strlen(r->separator));
        rc = rc ? rc : buf_add(val, v, strlen(v));
    }
    if (rc)
        return rc;
    switch (r->action) {
    case RELABEL_KEEP:
        return matches(r, val->p);
    case RELABEL_DROP:
        return !matches(r, val->p);
    case RELABEL_KEEPEQUAL:
        return strcmp(relabel_labels_get(ls, r->target_label), val->p) == 0;
    case RELABEL_DROPEQUAL:
        return strcmp(relabel_labels_get(ls, r->target_label), val->p) != 0;
    case RELABEL_REPLACE:
        rc = replace(r, ls, val, &b[1], &b[2]);
        break;
    case RELABEL_HASHMOD:
        rc = hashmod(r, ls, val);
        break;
    case RELABEL_LOWERCASE: case RELABEL_UPPERCASE:
        rc = changecase(r, ls, val, &b[1]);
        break;
    case RELABEL_LABELMAP:
        rc = labelmap(r, ls, &b[1]);
        break;
    case RELABEL_LABELDROP: case RELABEL_LABELKEEP:
        labelfilter(r, ls, r->action == RELABEL_LABELKEEP);
        break;
    }
    return rc ? rc : 1;
}

int relabel_apply(const struct relabel_rule *rules, size_t n, struct relabel_labels *ls)
{
    struct buf b[3] = {{0}};
    int rc = 1;
    for (size_t i = 0; i < n && rc == 1; i++)
        rc = apply_one(&rules[i], ls, b);
    for (int i = 0; i < 3; i++)
        free(b[i].p);
    return rc;
}
