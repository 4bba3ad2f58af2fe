/* strlit.c — decoding and quoting of PromQL (Go-syntax) string literals. */
#include "strlit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records what was expected at offset at. @return -EINVAL. */
static int fail(struct strlit_error *err, size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->expected, sizeof err->expected, fmt, ap);
    va_end(ap);
    err->offset = at;
    return -EINVAL;
}

int strlit_hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t strlit_put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | cp >> 12);
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | cp >> 18);
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes one escape sequence at s[*i] (the backslash) inside a string
 * quoted with q, appending its bytes at *d and advancing *i past it. */
static int unescape(const char *s, size_t *i, char q, char **d, struct strlit_error *err)
{
    static const char simple[] = "a\ab\bf\fn\nr\rt\tv\v\\\\";
    size_t at = *i;
    char c = s[at + 1];
    const char *hit = c ? strchr(simple, c) : NULL;

    if (hit && (hit - simple) % 2 == 0) {
        *(*d)++ = hit[1];
        *i += 2;
        return 0;
    }
    if ((c == '"' || c == '\'') && c == q) {
        *(*d)++ = c;
        *i += 2;
        return 0;
    }
    if (c >= '0' && c <= '7') {
        int v = 0;
        for (int k = 1; k <= 3; k++) {
            char o = s[at + k];
            if (o < '0' || o > '7')
                return fail(err, at, "three octal digits after '\\'");
            v = v * 8 + (o - '0');
        }
        if (v > 255)
            return fail(err, at, "an octal escape of at most \\377");
        *(*d)++ = (char)v;
        *i += 4;
        return 0;
    }
    int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (digits == 0)
        return fail(err, at, "a valid escape sequence (\\a \\b \\f \\n \\r \\t \\v \\\\ \\%c "
                             "\\xHH \\ooo \\uHHHH \\UHHHHHHHH)", q);
    uint32_t v = 0;
    for (int k = 0; k < digits; k++) {
        int h = strlit_hex_val(s[at + 2 + k]);
        if (h < 0)
            return fail(err, at, "%d hex digits after \\%c", digits, c);
        v = v * 16 + (uint32_t)h;
    }
    if (c == 'x') {
        *(*d)++ = (char)v;
    } else {
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return fail(err, at, "a Unicode code point that is not a surrogate");
        *d += strlit_put_utf8(*d, v);
    }
    *i += 2 + (size_t)digits;
    return 0;
}

int strlit_unquote(const char *s, size_t *consumed, char **out, size_t *out_len,
                   struct strlit_error *err)
{
    char q = s[0];
    if (q != '"' && q != '\'' && q != '`')
        return fail(err, 0, "a quoted string");
    /* Decoding never grows the text: every escape is at least as long as
     * the bytes it stands for. */
    char *buf = malloc(strlen(s) + 1), *d = buf;
    if (!buf)
        return -ENOMEM;
    size_t i = 1;
    for (;;) {
        char c = s[i];
        int rc = 0;
        if (c == '\0' || (c == '\n' && q != '`'))
            rc = fail(err, 0, "a string closed by %c", q);
        else if (c == q)
            break;
        else if (c == '\\' && q != '`')
            rc = unescape(s, &i, q, &d, err);
        else
            *d++ = c, i++;
        if (rc < 0) {
            free(buf);
            return rc;
        }
    }
    *d = '\0';
    *consumed = i + 1;
    *out = buf;
    *out_len = (size_t)(d - buf);
    return 0;
}

/* Length of the valid UTF-8 sequence of two or more bytes at v[0..len), or
 * 0 when v does not start one (overlong forms and surrogates are invalid). */
static size_t utf8_seq(const unsigned char *v, size_t len)
{
    size_t n = v[0] >= 0xf0 && v[0] <= 0xf4 ? 4 : v[0] >= 0xe0 ? 3 : v[0] >= 0xc2 ? 2 : 0;
    if (v[0] >= 0xf5 || n == 0 || n > len)
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((v[k] & 0xc0) != 0x80)
            return 0;
    if ((v[0] == 0xe0 && v[1] < 0xa0) || (v[0] == 0xed && v[1] >= 0xa0) ||
        (v[0] == 0xf0 && v[1] < 0x90) || (v[0] == 0xf4 && v[1] >= 0x90))
        return 0;
    return n;
}

size_t strlit_quote(const char *v, size_t len, char *buf, size_t cap)
{
    static const char named[] = "\aa\bb\ff\nn\rr\tt\vv\"\"\\\\";
    const unsigned char *u = (const unsigned char *)v;
    size_t n = 0;
    char tmp[5];
#define PUT(ch)                                                                         \
    do {                                                                                \
        if (n + 1 < cap)                                                                \
            buf[n] = (ch);                                                              \
        n++;                                                                            \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < len;) {
        const char *hit = u[i] ? memchr(named, u[i], sizeof named - 1) : NULL;
        size_t seq;
        if (hit && (hit - named) % 2 == 0) {
            PUT('\\');
            PUT(hit[1]);
            i++;
        } else if (u[i] >= 0x20 && u[i] < 0x7f) {
            PUT(v[i]);
            i++;
        } else if (u[i] >= 0x80 && (seq = utf8_seq(u + i, len - i)) > 0) {
            for (size_t k = 0; k < seq; k++)
                PUT(v[i + k]);
            i += seq;
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02x", u[i]);
            for (int k = 0; k < 4; k++)
                PUT(tmp[k]);
            i++;
        }
    }
    PUT('"');
#undef PUT
    if (cap > 0)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}
