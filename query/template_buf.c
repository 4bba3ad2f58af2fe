/* template_buf.c — the allocation helpers of the template modules: a
 * bump arena that frees a parse tree or an execution's strings at once,
 * a growable output buffer with a size cap, and UTF-8 decoding and encoding. */
#include "template_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strlit.h"

struct tmpl_chunk {
    struct tmpl_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *tmpl__alloc(struct tmpl_arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct tmpl_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *tmpl__strndup(struct tmpl_arena *a, const char *s, size_t n)
{
    char *p = tmpl__alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void tmpl__arena_free(struct tmpl_arena *a)
{
    while (a->head) {
        struct tmpl_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

int tmpl__put(struct tmpl_buf *b, const char *s, size_t n)
{
    if (b->nomem || b->full)
        return -1;
    if (n > b->max - b->len) {
        b->full = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->nomem = 1;
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int tmpl__putc(struct tmpl_buf *b, char c)
{
    return tmpl__put(b, &c, 1);
}

int tmpl__printf(struct tmpl_buf *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return tmpl__put(b, small, (size_t)n);
    if ((size_t)n > b->max) {
        b->full = 1;
        return -1;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->nomem = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = tmpl__put(b, big, (size_t)n);
    free(big);
    return rc;
}

void tmpl__linecol(const char *src, size_t pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos && src[i]; i++) {
        if (src[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* Decodes one UTF-8 sequence at s (n > 0 bytes left); invalid bytes are
 * taken one at a time as U+FFFD. @return its length. */
size_t tmpl__rune_at(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (len == 0 || len > n) {
        *cp = 0xfffd;
        return 1;
    }
    *cp = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        *cp = *cp << 6 | (s[i] & 0x3f);
    }
    return len;
}

int tmpl__put_rune(struct tmpl_buf *b, uint32_t cp)
{
    char u[4];
    return tmpl__put(b, u, strlit_put_utf8(u, cp));
}

int tmpl__is_unicode_space(uint32_t c)
{
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

static int is_digit_of(char c, int hex)
{
    return (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
}

int tmpl__go_digits(const char *s, size_t n, char *buf, size_t cap)
{
    size_t sign = n > 0 && (s[0] == '+' || s[0] == '-');
    int hex = n > sign + 1 && s[sign] == '0' && (s[sign + 1] == 'x' || s[sign + 1] == 'X');
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            int prefix = i == sign + 2 && s[sign] == '0' && strchr("xXoObB", s[sign + 1]);
            if (!(prefix || (i > 0 && is_digit_of(s[i - 1], hex))) || i + 1 >= n ||
                !is_digit_of(s[i + 1], hex))
                return -1;
            continue;
        }
        if (len + 1 >= cap)
            return -1;
        buf[len++] = s[i];
    }
    buf[len] = '\0';
    return 0;
}
