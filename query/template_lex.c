/* template_lex.c — the scanner of template actions: Go's text/template
 * tokens (identifiers, .fields, $variables, strings, characters, numbers,
 * delimiters with their trim markers) with Go's lexical rules, and the
 * decoding of literals. */
#include "template_lex.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strlit.h"

int tmpl__fail(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->failed)
        return -1;
    p->failed = -1;
    int line, col;
    tmpl__linecol(p->src, pos, &line, &col);
    int n = snprintf(p->err, p->errcap, "%d:%d: ", line, col);
    if (n >= 0 && (size_t)n < p->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void *tmpl__palloc(struct parser *p, size_t n)
{
    void *r = tmpl__alloc(p->arena, n);
    if (!r)
        p->failed = -ENOMEM;
    return r;
}

int tmpl__is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_alnum(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (unsigned char)c >= 0x80;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1 if the character at s cannot be part of an identifier: control
 * characters and Unicode white space (Go rejects U+00A0 in actions). */
static int bad_rune(const char *s)
{
    uint32_t cp;
    if ((unsigned char)s[0] < 0x80)
        return 0;
    tmpl__rune_at((const unsigned char *)s, strlen(s), &cp);
    return tmpl__is_unicode_space(cp) || (cp >= 0x80 && cp < 0xa0);
}

/* Scans a Go number literal at s: [+-] then decimal, 0x, 0o or 0b digits
 * with underscores, a fraction and an exponent. @return its length. */
static size_t scan_number(const char *s)
{
    size_t i = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    const char *digits = "0123456789_";
    const char *exp = "eE";
    if (s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        digits = "0123456789abcdefABCDEF_";
        exp = "pP";
        i += 2;
    } else if (s[i] == '0' && strchr("oObB", s[i + 1]) && s[i + 1]) {
        i += 2;
    }
    while (s[i] && strchr(digits, s[i]))
        i++;
    if (s[i] == '.') {
        i++;
        while (s[i] && strchr(digits, s[i]))
            i++;
    }
    if (s[i] && strchr(exp, s[i])) {
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        while (is_digit(s[i]) || s[i] == '_')
            i++;
    }
    return i;
}

/* 1 if s may follow a word (identifier, field, variable, dot), as in Go:
 * white space, the end, ".,|:()" or "}}". */
static int at_terminator(const char *s)
{
    return *s == '\0' || tmpl__is_space(*s) || strchr(".,|:()", *s) || (s[0] == '}' && s[1] == '}');
}

/* Reads the next token inside an action. @return 0, or -1 (error set). */
int tmpl__lex(struct parser *p, struct token *t /* OUT */)
{
    const char *s = p->src;
    size_t start = p->pos;
    while (tmpl__is_space(s[p->pos]))
        p->pos++;
    memset(t, 0, sizeof *t);
    t->space_before = p->pos > start;
    size_t i = p->pos;
    t->start = i;
    if (s[i] == '\0')
        return tmpl__fail(p, i, "unclosed action: expected \"}}\" before the end of the text");
    if (t->space_before && s[i] == '-' && s[i + 1] == '}' && s[i + 2] == '}') {
        t->t = K_RDELIM;
        t->trim = 1;
        t->end = i + 3;
    } else if (s[i] == '}' && s[i + 1] == '}') {
        t->t = K_RDELIM;
        t->end = i + 2;
    } else if (strchr("()|,=", s[i])) {
        static const enum tok single[] = {K_LPAREN, K_RPAREN, K_PIPE, K_COMMA, K_ASSIGN};
        t->t = single[strchr("()|,=", s[i]) - "()|,="];
        t->end = i + 1;
    } else if (s[i] == ':') {
        if (s[i + 1] != '=')
            return tmpl__fail(p, i, "expected \":=\" after \":\"");
        t->t = K_DECLARE;
        t->end = i + 2;
    } else if (s[i] == '"' || s[i] == '`' || s[i] == '\'') {
        size_t used, len;
        char *out;
        struct strlit_error e;
        int rc = strlit_unquote(s + i, &used, &out, &len, &e);
        if (rc == -ENOMEM)
            return p->failed = -ENOMEM, -1;
        if (rc < 0)
            return tmpl__fail(p, i + e.offset, "%s", e.expected);
        free(out);
        t->t = s[i] == '\'' ? K_CHAR : K_STRING;
        t->end = i + used;
    } else if (s[i] == '$') {
        size_t j = i + 1;
        while (is_alnum(s[j]) && !bad_rune(s + j))
            j++;
        t->t = K_VAR;
        t->end = j;
    } else if (s[i] == '.' && is_digit(s[i + 1])) {
        t->t = K_NUMBER;
        t->end = i + scan_number(s + i);
    } else if (s[i] == '.') {
        size_t j = i + 1;
        while (is_alnum(s[j]) && !bad_rune(s + j))
            j++;
        t->t = j > i + 1 ? K_FIELD : K_DOT;
        t->end = j;
    } else if (is_digit(s[i]) ||
               ((s[i] == '+' || s[i] == '-') && (is_digit(s[i + 1]) || s[i + 1] == '.'))) {
        t->t = K_NUMBER;
        t->end = i + scan_number(s + i);
        if (is_alnum(s[t->end]) || s[t->end] == '.')
            return tmpl__fail(p, i, "bad number syntax: \"%.*s\"", (int)(t->end - i + 1), s + i);
    } else if (is_alnum(s[i]) && !bad_rune(s + i)) {
        size_t j = i;
        while (is_alnum(s[j]) && !bad_rune(s + j))
            j++;
        t->t = K_IDENT;
        t->end = j;
    } else if (s[i] > ' ' && s[i] < 0x7f) {
        return tmpl__fail(p, i, "unexpected \"%c\" in action: expected an operand, \"|\" or \"}}\"",
                          s[i]);
    } else {
        uint32_t cp;
        tmpl__rune_at((const unsigned char *)s + i, strlen(s + i), &cp);
        return tmpl__fail(p, i, "unrecognized character in action: U+%04X", (unsigned)cp);
    }
    p->pos = t->end;
    if ((t->t == K_IDENT || t->t == K_FIELD || t->t == K_VAR || t->t == K_DOT) &&
        !at_terminator(s + t->end)) {
        uint32_t cp;
        tmpl__rune_at((const unsigned char *)s + t->end, strlen(s + t->end), &cp);
        return tmpl__fail(p, t->end,
                          "bad character U+%04X after \"%.*s\": expected a space, \"|\", "
                          "\")\" or \"}}\"",
                          (unsigned)cp, (int)(t->end - t->start), s + t->start);
    }
    return 0;
}

/* Reads a token without consuming it. */
int tmpl__peek(struct parser *p, struct token *t /* OUT */)
{
    size_t save = p->pos;
    int rc = tmpl__lex(p, t);
    p->pos = save;
    return rc;
}

int tmpl__tok_is(const struct parser *p, const struct token *t, const char *word)
{
    size_t n = strlen(word);
    return t->t == K_IDENT && t->end - t->start == n && !memcmp(p->src + t->start, word, n);
}

const char *tmpl__tok_text(struct parser *p, const struct token *t)
{
    char *s = tmpl__strndup(p->arena, p->src + t->start, t->end - t->start);
    if (!s)
        p->failed = -ENOMEM;
    return s;
}

/* Decodes the number token into lit: an int unless it has a fraction or
 * exponent (Go's untyped constants passed as interface{}). */
int tmpl__number_value(struct parser *p, const struct token *t, struct tmpl_value *lit)
{
    char buf[128], tmp[128];
    if (t->end - t->start >= sizeof buf)
        return tmpl__fail(p, t->start, "number too long (at most %zu characters)", sizeof buf - 1);
    if (tmpl__go_digits(p->src + t->start, t->end - t->start, buf, sizeof buf) < 0)
        return tmpl__fail(p, t->start, "illegal number syntax: \"%.*s\": '_' must separate digits",
                          (int)(t->end - t->start), p->src + t->start);
    const char *digits = buf + (buf[0] == '+' || buf[0] == '-');
    int hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    int is_float = strpbrk(buf, hex ? ".pP" : ".eE") != NULL;
    if (hex && is_float && !strpbrk(buf, "pP"))
        return tmpl__fail(p, t->start,
                          "illegal number syntax: \"%s\": a hexadecimal float needs "
                          "a p exponent",
                          buf);
    const char *from = buf;
    char *end;
    errno = 0;
    if (is_float) {
        lit->kind = TV_FLOAT;
        lit->u.f = strtod(buf, &end);
        if (errno == ERANGE && isinf(lit->u.f))
            return tmpl__fail(p, t->start, "illegal number syntax: \"%s\": out of range", buf);
    } else {
        int base = 0;
        if (digits[0] == '0' && strchr("oObB", digits[1]) && digits[1]) {
            base = (digits[1] == 'b' || digits[1] == 'B') ? 2 : 8;
            snprintf(tmp, sizeof tmp, "%.*s%s", (int)(digits - buf), buf, digits + 2);
            from = tmp;
        }
        lit->kind = TV_INT;
        lit->u.i = strtoll(from, &end, base);
        if (errno == ERANGE)
            return tmpl__fail(p, t->start, "number %s overflows int", buf);
    }
    if (*end != '\0' || end == from)
        return tmpl__fail(p, t->start, "bad number syntax: \"%s\"", buf);
    return 0;
}

int tmpl__string_value(struct parser *p, const struct token *t, struct tmpl_value *lit)
{
    size_t used, len;
    char *out;
    struct strlit_error e;
    if (strlit_unquote(p->src + t->start, &used, &out, &len, &e) != 0)
        return p->failed = -ENOMEM, -1;
    char *s = tmpl__strndup(p->arena, out, len);
    free(out);
    if (!s)
        return p->failed = -ENOMEM, -1;
    if (t->t == K_STRING) {
        lit->kind = TV_STRING;
        lit->u.s.p = s;
        lit->u.s.len = len;
        return 0;
    }
    /* a character constant: one UTF-8 encoded code point, an int */
    const unsigned char *u = (const unsigned char *)s;
    int64_t cp = u[0];
    size_t need = len == 0 ? 0 : u[0] < 0x80 ? 1 : u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : 2;
    if (len == 0 || len != need)
        return tmpl__fail(p, t->start, "malformed character constant: %.*s",
                          (int)(t->end - t->start), p->src + t->start);
    if (need > 1) {
        cp &= 0x3f >> (need - 1);
        for (size_t i = 1; i < need; i++)
            cp = cp << 6 | (u[i] & 0x3f);
    }
    lit->kind = TV_INT;
    lit->u.i = cp;
    return 0;
}
