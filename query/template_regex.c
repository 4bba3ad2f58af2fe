/* template_regex.c — Prometheus' match and reReplaceAll with PCRE2: Go's
 * RE2 syntax is a subset of PCRE2's, so patterns using PCRE2-only syntax
 * (back-references, look-around, possessive or stacked repetition) are
 * rejected first with Go's message; replacements expand $1, ${1}, $name
 * and $$ as Go's Regexp.Expand does; matching is bounded. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "template_int.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of a {n}, {n,} or {n,m} repetition at p[0..n), or 0 when the
 * brace is a literal. */
static size_t brace_repeat(const char *p, size_t n)
{
    size_t i = 1, d = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++, d++;
    if (d == 0 || i >= n)
        return 0;
    if (p[i] == ',')
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
            ;
    return i < n && p[i] == '}' ? i + 1 : 0;
}

/* 1 if the group at p ("(?...") is PCRE2-only: look-around, atomic,
 * comments, recursion, conditionals. Go has (?flags), (?flags:...),
 * (?P<name>...) and (?<name>...). */
static int perl_only_group(const char *p, size_t n)
{
    char k = p[2];
    if (k == '<')
        return n > 3 && (p[3] == '=' || p[3] == '!');
    return strchr("=!>|#R&(+-0123456789", k) && !(k == '-' && n > 3 && p[3] >= 'a' && p[3] <= 'z');
}

/* Rejects what PCRE2 accepts but Go's RE2 syntax does not: back-references
 * and unknown escapes, look-around and other (?...) groups, stacked
 * repetition (a**, a*+, possessive quantifiers). @return 0, or -1 with
 * Go's message in call->err. */
static int go_syntax(struct tmpl_call *c, const char *p, size_t n)
{
    static const char go_escapes[] = "afntrvdDsSwWbBAzpPQEx";
    size_t last_rep = SIZE_MAX; /* where the previous repetition began, if just before */
    for (size_t i = 0; i < n;) {
        size_t start = i, rep = 0;
        if (p[i] == '\\' && i + 1 < n && p[i + 1] == 'Q') { /* literal text up to \E */
            const char *e = memmem(p + i + 2, n - i - 2, "\\E", 2);
            i = e ? (size_t)(e - p) + 2 : n;
        } else if (p[i] == '\\' && i + 1 < n) {
            char e = p[i + 1];
            int octal = e == '0' ||
                        (e >= '1' && e <= '7' && i + 2 < n && p[i + 2] >= '0' && p[i + 2] <= '7');
            if ((e >= '1' && e <= '9' && !octal) ||
                (((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) && !strchr(go_escapes, e)))
                return tmpl__fnerr(c, "error parsing regexp: invalid escape sequence: `\\%c`", e);
            i += 2;
        } else if (p[i] == '[') { /* a class: skip to its closing bracket */
            i++;
            if (i < n && p[i] == '^')
                i++;
            if (i < n && p[i] == ']')
                i++;
            while (i < n && p[i] != ']')
                i += p[i] == '\\' ? 2 : (p[i] == '[' && i + 1 < n && p[i + 1] == ':') ? 2 : 1;
            i++;
        } else if (p[i] == '(' && i + 2 < n && p[i + 1] == '?' && perl_only_group(p + i, n - i)) {
            size_t len = p[i + 2] == '<' ? 4 : 3;
            return tmpl__fnerr(c,
                               "error parsing regexp: invalid or unsupported Perl syntax: `%.*s`",
                               (int)len, p + i);
        } else if (p[i] == '*' || p[i] == '+' || p[i] == '?') {
            rep = 1;
        } else if (p[i] == '{') {
            rep = brace_repeat(p + i, n - i);
        }
        if (rep) {
            if (last_rep != SIZE_MAX)
                return tmpl__fnerr(c,
                                   "error parsing regexp: invalid nested repetition operator: "
                                   "`%.*s`",
                                   (int)(i + rep - last_rep), p + last_rep);
            i += rep;
            if (i < n && p[i] == '?') /* lazy */
                i++;
            last_rep = start;
            continue;
        }
        if (i == start)
            i++;
        last_rep = SIZE_MAX;
    }
    return 0;
}

static pcre2_code *compile(struct tmpl_call *c, const struct tmpl_value *pat)
{
    const char *p;
    size_t n;
    if (tmpl__want_string(c, pat, &p, &n) < 0 || go_syntax(c, p, n) < 0)
        return NULL;
    int code;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)p, n, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        if (code == PCRE2_ERROR_NOMEMORY) {
            c->nomem = 1;
            return NULL;
        }
        pcre2_get_error_message(code, msg, sizeof msg);
        tmpl__fnerr(c, "error parsing regexp: %s at offset %zu: `%.*s`", (const char *)msg,
                    (size_t)off, (int)(n > 200 ? 200 : n), p);
    }
    return re;
}

/* Backtracking steps one regular-expression match may take: a pathological
 * pattern ("(a+)+$") then fails in milliseconds instead of running for
 * seconds (Go's RE2 does not backtrack, so Prometheus has no such case). */
#define MATCH_LIMIT 1000000

static pcre2_match_context *match_context(struct tmpl_call *c)
{
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!mc)
        c->nomem = 1;
    else
        pcre2_set_match_limit(mc, MATCH_LIMIT);
    return mc;
}

/* Reports a failed pcre2_match (not "no match"). @return -1. */
static int match_failed(struct tmpl_call *c, int rc)
{
    if (rc == PCRE2_ERROR_NOMEMORY) {
        c->nomem = 1;
        return -1;
    }
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return tmpl__fnerr(c, "regexp match failed: %s", (const char *)msg);
}

int tmpl__fn_match(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                   struct tmpl_value *out)
{
    (void)n;
    const char *s;
    size_t len;
    if (tmpl__want_string(c, &a[1], &s, &len) < 0)
        return -1;
    pcre2_code *re = compile(c, &a[0]);
    if (!re)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_match_context *mc = match_context(c);
    int rc = md && mc ? pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, mc) : PCRE2_ERROR_NOMEMORY;
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
        return match_failed(c, rc);
    return tmpl__ret_bool(out, rc >= 0);
}

/* Appends the group named or numbered name[0..n) of the match, if any. */
static void put_group(struct tmpl_buf *b, pcre2_code *re, const PCRE2_SIZE *ov, int groups,
                      const char *subject, const char *name, size_t n)
{
    long num = 0;
    for (size_t i = 0; i < n && num >= 0; i++)
        num = name[i] >= '0' && name[i] <= '9' && num < 100000000 ? num * 10 + name[i] - '0' : -1;
    if (n > 1 && name[0] == '0')
        num = -1;
    if (num < 0) {
        char nm[256];
        if (n >= sizeof nm)
            return;
        memcpy(nm, name, n);
        nm[n] = '\0';
        int g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);
        num = g > 0 ? g : -1;
    }
    if (num >= 0 && num < groups && ov[2 * num] != PCRE2_UNSET)
        tmpl__put(b, subject + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
}

/* Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$; a malformed $ is
 * literal; unknown groups expand to nothing. */
static void expand(struct tmpl_buf *b, pcre2_code *re, const PCRE2_SIZE *ov, int groups,
                   const char *subject, const char *t, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (t[i] != '$') {
            tmpl__putc(b, t[i++]);
            continue;
        }
        i++;
        if (i < n && t[i] == '$') {
            tmpl__putc(b, '$');
            i++;
            continue;
        }
        int brace = i < n && t[i] == '{';
        size_t start = i + brace, j = start;
        while (j < n &&
               (((unsigned char)t[j] >= 0x80) || t[j] == '_' || (t[j] >= '0' && t[j] <= '9') ||
                (t[j] >= 'a' && t[j] <= 'z') || (t[j] >= 'A' && t[j] <= 'Z')))
            j++;
        if (j == start || (brace && (j >= n || t[j] != '}'))) {
            tmpl__putc(b, '$'); /* malformed: the $ is literal */
            continue;
        }
        put_group(b, re, ov, groups, subject, t + start, j - start);
        i = j + brace;
    }
}

int tmpl__fn_re_replace_all(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                            struct tmpl_value *out)
{
    (void)n;
    const char *repl, *s;
    size_t rlen, len;
    if (tmpl__want_string(c, &a[1], &repl, &rlen) < 0 || tmpl__want_string(c, &a[2], &s, &len) < 0)
        return -1;
    pcre2_code *re = compile(c, &a[0]);
    if (!re)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_match_context *mc = match_context(c);
    struct tmpl_buf b = tmpl__new_buf();
    if (!md || !mc)
        b.nomem = 1;
    size_t last_end = 0, pos = 0;
    int rc = 0;
    /* Go's ReplaceAllString: an empty match right after a match is not
     * replaced, and the search always advances by at least a character */
    while (!b.nomem && !b.full && pos <= len) {
        rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, 0, md, mc);
        if (rc < 0)
            break;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        tmpl__put(&b, s + last_end, ov[0] - last_end);
        if (ov[1] > last_end || ov[0] == 0)
            expand(&b, re, ov, rc, s, repl, rlen);
        last_end = ov[1];
        uint32_t cp;
        size_t width =
            pos < len ? tmpl__rune_at((const unsigned char *)s + pos, len - pos, &cp) : 1;
        pos = pos + width > ov[1] ? pos + width : ov[1];
    }
    if (last_end < len)
        tmpl__put(&b, s + last_end, len - last_end);
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        free(b.p);
        return match_failed(c, rc);
    }
    return tmpl__ret_buf(c, &b, out);
}
