/* template_fmt.c — Go's fmt package as templates use it: how values print
 * ({{ $value }} is Go's %v of a float64: shortest 'g', "1e+06", "+Inf"),
 * and printf's verbs and flags. */
#include "template_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "strlit.h"

const char *tmpl__type_name(const struct tmpl_value *v)
{
    switch (v->kind) {
    case TV_NIL: return "<nil>";
    case TV_BOOL: return "bool";
    case TV_INT: return "int";
    case TV_FLOAT: return "float64";
    case TV_STRING: return "string";
    case TV_MAP: return "map[string]string";
    case TV_DATA:
        return "struct { Labels map[string]string; ExternalLabels map[string]string; "
               "ExternalURL string; Value float64 }";
    }
    return "?";
}

int tmpl__truth(const struct tmpl_value *v)
{
    switch (v->kind) {
    case TV_NIL: return 0;
    case TV_BOOL: return v->u.b;
    case TV_INT: return v->u.i != 0;
    case TV_FLOAT: return v->u.f != 0;
    case TV_STRING: return v->u.s.len > 0;
    case TV_MAP: return v->u.map && v->u.map->len > 0;
    case TV_DATA: return 1;
    }
    return 0;
}

/* Go's strconv.FormatFloat(f, 'g' or 'G', -1, 64) for finite f. */
static int format_shortest(struct tmpl_buf *b, double f, char e_char)
{
    if (f == 0)
        return tmpl__put(b, signbit(f) ? "-0" : "0", signbit(f) ? 2 : 1);
    char d[24];
    int exp;
    if (f < 0 && tmpl__putc(b, '-') < 0)
        return -1;
    int nd = output_shortest_digits(f, d, &exp);
    if (exp < -4 || exp >= 6) { /* Go decides with precision 6 for shortest */
        if (tmpl__putc(b, d[0]) < 0 ||
            (nd > 1 && (tmpl__putc(b, '.') < 0 || tmpl__put(b, d + 1, (size_t)nd - 1) < 0)))
            return -1;
        return tmpl__printf(b, "%c%c%02d", e_char, exp < 0 ? '-' : '+', abs(exp));
    }
    if (exp < 0) {
        if (tmpl__put(b, "0.", 2) < 0)
            return -1;
        for (int i = 0; i < -exp - 1; i++)
            if (tmpl__putc(b, '0') < 0)
                return -1;
        return tmpl__put(b, d, (size_t)nd);
    }
    for (int i = 0; i <= exp || i < nd; i++) {
        if (i == exp + 1 && tmpl__putc(b, '.') < 0)
            return -1;
        if (tmpl__putc(b, i < nd ? d[i] : '0') < 0)
            return -1;
    }
    return 0;
}

/* NaN and infinities as Go prints them with any float verb. */
static const char *nonfinite(double f, int plus)
{
    if (isnan(f))
        return plus ? "+NaN" : "NaN";
    if (isinf(f))
        return f > 0 ? "+Inf" : "-Inf";
    return NULL;
}

int tmpl__format_g(struct tmpl_buf *b, double f, int prec)
{
    const char *s = nonfinite(f, 0);
    if (s)
        return tmpl__put(b, s, strlen(s));
    if (prec < 0)
        return format_shortest(b, f, 'e');
    return tmpl__printf(b, "%.*g", prec, f);
}

static int print_v(struct tmpl_buf *b, const struct tmpl_value *v);

int tmpl__print_value(struct tmpl_buf *b, const struct tmpl_value *v)
{
    if (v->kind == TV_NIL)
        return tmpl__put(b, "<no value>", 10); /* text/template's spelling */
    return print_v(b, v);
}

int tmpl__sprint(struct tmpl_buf *b, const struct tmpl_value *args, size_t nargs, int ln)
{
    for (size_t i = 0; i < nargs; i++) {
        int space =
            ln ? i > 0 : i > 0 && args[i].kind != TV_STRING && args[i - 1].kind != TV_STRING;
        if ((space && tmpl__putc(b, ' ') < 0) || print_v(b, &args[i]) < 0)
            return -1;
    }
    return ln ? tmpl__putc(b, '\n') : 0;
}

/* ---- printf ---- */

struct spec {
    int minus, plus, sharp, space, zero;
    int plus_v;            /* %+v: field names in structs (and no '+' on numbers) */
    int sharp_v;           /* %#v: strings quoted */
    int width, prec;       /* -1: absent */
    char verb;             /* the verb's first byte */
    const char *verb_text; /* the whole verb, a UTF-8 character */
    int verb_len;
};

static size_t utf8_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* Writes s padded to the spec's width (in characters). For numbers, zero
 * padding goes after a leading sign. */
static int pad(struct tmpl_buf *b, const struct spec *sp, const char *s, size_t n, int numeric)
{
    size_t chars = utf8_count(s, n);
    size_t fill = sp->width > 0 && (size_t)sp->width > chars ? (size_t)sp->width - chars : 0;
    if (sp->minus) {
        if (tmpl__put(b, s, n) < 0)
            return -1;
        while (fill-- > 0)
            if (tmpl__putc(b, ' ') < 0)
                return -1;
        return 0;
    }
    char c = sp->zero ? '0' : ' ';
    if (c == '0' && numeric) { /* zeros go after a sign */
        size_t lead = n > 0 && (s[0] == '+' || s[0] == '-' || s[0] == ' ');
        if (tmpl__put(b, s, lead) < 0)
            return -1;
        s += lead;
        n -= lead;
    }
    while (fill-- > 0)
        if (tmpl__putc(b, c) < 0)
            return -1;
    return tmpl__put(b, s, n);
}

/* Formats into a scratch buffer, then pads it into b. */
static int pad_buf(struct tmpl_buf *b, const struct spec *sp, struct tmpl_buf *tmp, int numeric)
{
    int rc = tmp->nomem || tmp->full ? -1 : pad(b, sp, tmp->p ? tmp->p : "", tmp->len, numeric);
    if (tmp->nomem)
        b->nomem = 1;
    if (tmp->full)
        b->full = 1;
    free(tmp->p);
    return rc;
}

/* Go's %#g without a precision: the shortest digits, padded with zeros to
 * six significant digits, always with a decimal point ("1.00000"). */
static void sharp_g(struct tmpl_buf *t)
{
    if (t->nomem || t->full)
        return;
    char *e = strpbrk(t->p, "eE");
    size_t mant = e ? (size_t)(e - t->p) : t->len, digits = 0;
    int point = 0, leading = 1;
    for (size_t i = 0; i < mant; i++) {
        if (t->p[i] == '.')
            point = 1;
        else if (t->p[i] >= '0' && t->p[i] <= '9' && !(leading && t->p[i] == '0'))
            digits++, leading = 0;
    }
    if (digits == 0)
        digits = 1; /* zero */
    char tail[16] = "";
    snprintf(tail, sizeof tail, "%s", e ? e : "");
    t->len = mant;
    if (!point)
        tmpl__putc(t, '.');
    for (; digits < 6; digits++)
        tmpl__putc(t, '0');
    tmpl__put(t, tail, strlen(tail));
}

/* Go's %x of a float: C's %a with the exponent written with at least two
 * digits ("0x1.cp+01"). */
static void hex_float(struct tmpl_buf *tmp, const struct spec *sp, double f)
{
    char buf[64], cfmt[16];
    snprintf(cfmt, sizeof cfmt, "%%%s%s%s%c", sp->plus ? "+" : "", sp->space ? " " : "",
             sp->prec >= 0 ? ".*" : "", sp->verb == 'x' ? 'a' : 'A');
    if (sp->prec >= 0)
        snprintf(buf, sizeof buf, cfmt, sp->prec, f);
    else
        snprintf(buf, sizeof buf, cfmt, f);
    char *p = strpbrk(buf, "pP");
    if (!p || !p[1] || !p[2] || p[3]) { /* already two or more exponent digits */
        tmpl__put(tmp, buf, strlen(buf));
        return;
    }
    tmpl__put(tmp, buf, (size_t)(p - buf) + 2);
    tmpl__putc(tmp, '0');
    tmpl__putc(tmp, p[2]);
}

static int fmt_float(struct tmpl_buf *b, const struct spec *sp, double f)
{
    struct tmpl_buf tmp = {.max = b->max};
    const char *nf = nonfinite(f, sp->plus);
    char verb = sp->verb == 'v' ? 'g' : sp->verb;
    if (nf) {
        struct spec nz = *sp;
        nz.zero = 0; /* infinities are never zero padded */
        return pad(b, &nz, nf, strlen(nf), 0);
    }
    if (verb == 'x' || verb == 'X') {
        hex_float(&tmp, sp, f);
    } else if ((verb == 'g' || verb == 'G') && sp->prec < 0) {
        if (sp->plus && !signbit(f))
            tmpl__putc(&tmp, '+');
        else if (sp->space && !signbit(f))
            tmpl__putc(&tmp, ' ');
        format_shortest(&tmp, f, verb == 'G' ? 'E' : 'e');
        if (sp->sharp)
            sharp_g(&tmp);
    } else {
        char cfmt[16];
        snprintf(cfmt, sizeof cfmt, "%%%s%s%s.*%c", sp->plus ? "+" : "", sp->space ? " " : "",
                 sp->sharp ? "#" : "", verb);
        tmpl__printf(&tmp, cfmt, sp->prec < 0 ? 6 : sp->prec, f);
    }
    return pad_buf(b, sp, &tmp, 1);
}

/* %q of an int: a Go character literal, 'A', '\n', '\x01', '☃'. */
static int fmt_quoted_rune(struct tmpl_buf *b, const struct spec *sp, uint32_t cp)
{
    struct tmpl_buf tmp = {.max = b->max};
    static const char names[] = "\a\b\f\n\r\t\v";
    static const char letters[] = "abfnrtv";
    tmpl__putc(&tmp, '\'');
    if (cp == '\'' || cp == '\\') {
        tmpl__putc(&tmp, '\\');
        tmpl__putc(&tmp, (char)cp);
    } else if (cp && cp < 0x80 && strchr(names, (int)cp)) {
        tmpl__putc(&tmp, '\\');
        tmpl__putc(&tmp, letters[strchr(names, (int)cp) - names]);
    } else if (cp < 0x20 || cp == 0x7f) {
        tmpl__printf(&tmp, "\\x%02x", (unsigned)cp);
    } else {
        tmpl__put_rune(&tmp, cp);
    }
    tmpl__putc(&tmp, '\'');
    return pad_buf(b, sp, &tmp, 0);
}

static int fmt_int(struct tmpl_buf *b, const struct spec *sp, int64_t i)
{
    struct tmpl_buf tmp = {.max = b->max};
    char verb = sp->verb == 'v' ? 'd' : sp->verb;
    int valid_rune = i >= 0 && i <= 0x10ffff && !(i >= 0xd800 && i < 0xe000);
    if (verb == 'c') {
        tmpl__put_rune(&tmp, valid_rune ? (uint32_t)i : 0xfffd);
        return pad_buf(b, sp, &tmp, 0);
    }
    if (verb == 'q')
        return fmt_quoted_rune(b, sp, valid_rune ? (uint32_t)i : 0xfffd);
    /* Go prints negative numbers in any base as a sign and a magnitude */
    uint64_t mag = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    const char *sign = i < 0 ? "-" : sp->plus ? "+" : sp->space ? " " : "";
    const char *prefix = "";
    if (sp->sharp && verb == 'x')
        prefix = "0x";
    else if (sp->sharp && verb == 'X')
        prefix = "0X";
    else if (sp->sharp && verb == 'o' && mag != 0)
        prefix = "0";
    /* Go: zero padding is a precision of the width less the sign, so a
     * 0x prefix comes on top; an explicit precision turns it off */
    int prec = sp->prec;
    if (prec < 0 && sp->zero && sp->width > 0)
        prec = sp->width - (*sign != '\0');
    char cfmt[16];
    snprintf(cfmt, sizeof cfmt, "%%s%%s%%.*ll%c", verb == 'd' ? 'u' : verb);
    tmpl__printf(&tmp, cfmt, sign, prefix, prec < 0 ? 1 : prec, (unsigned long long)mag);
    struct spec s2 = *sp;
    s2.zero = 0;
    return pad_buf(b, &s2, &tmp, 1);
}

static int fmt_string(struct tmpl_buf *b, const struct spec *sp, const char *s, size_t n)
{
    if (sp->prec >= 0) { /* at most prec characters */
        size_t chars = 0, i = 0;
        for (; i < n; i++) {
            if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == (size_t)sp->prec)
                break;
        }
        n = i;
    }
    struct tmpl_buf tmp = {.max = b->max};
    if (sp->verb == 'q') {
        size_t need = strlit_quote(s, n, NULL, 0);
        char *q = malloc(need + 1);
        if (!q) {
            b->nomem = 1;
            return -1;
        }
        strlit_quote(s, n, q, need + 1);
        tmpl__put(&tmp, q, need);
        free(q);
    } else if (sp->verb == 'x' || sp->verb == 'X') {
        for (size_t i = 0; i < n; i++)
            tmpl__printf(&tmp, sp->verb == 'x' ? "%02x" : "%02X", (unsigned char)s[i]);
    } else {
        return pad(b, sp, s, n, 0);
    }
    return pad_buf(b, sp, &tmp, 0);
}

static int fmt_arg(struct tmpl_buf *b, const struct spec *sp, const struct tmpl_value *v);

/* %!verb(type=value): Go's report of a verb that does not fit the value,
 * the value printed as %v with the verb's flags, width and precision. */
static int bad_verb(struct tmpl_buf *b, const struct spec *sp, const struct tmpl_value *v)
{
    if (tmpl__printf(b, "%%!%.*s(", sp->verb_len, sp->verb_text) < 0)
        return -1;
    if (v->kind == TV_NIL)
        return tmpl__put(b, "<nil>)", 6);
    struct spec as_v = *sp;
    as_v.verb = 'v';
    if (tmpl__printf(b, "%s=", tmpl__type_name(v)) < 0 || fmt_arg(b, &as_v, v) < 0)
        return -1;
    return tmpl__putc(b, ')');
}

/* A label map as Go prints a map[string]string: keys in order, each key
 * and value formatted with the verb. */
static int fmt_map(struct tmpl_buf *b, const struct spec *sp, const struct tsdb_labels *m)
{
    size_t n = m ? m->len : 0;
    const struct tsdb_label **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        b->nomem = 1;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && strcmp(sorted[j - 1]->name, m->v[i].name) > 0) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = &m->v[i];
    }
    int rc = tmpl__put(b, "map[", 4);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct tmpl_value k = {.kind = TV_STRING}, val = {.kind = TV_STRING};
        k.u.s.p = sorted[i]->name;
        k.u.s.len = strlen(k.u.s.p);
        val.u.s.p = sorted[i]->value;
        val.u.s.len = strlen(val.u.s.p);
        rc = (i && tmpl__putc(b, ' ') < 0) || fmt_arg(b, sp, &k) < 0 || tmpl__putc(b, ':') < 0 ||
             fmt_arg(b, sp, &val) < 0;
    }
    free(sorted);
    return rc ? -1 : tmpl__putc(b, ']');
}

/* The alert data as Go prints its struct: {Labels ExternalLabels
 * ExternalURL Value}, with the field names for %+v. */
static int fmt_data(struct tmpl_buf *b, const struct spec *sp, const struct tmpl_data *d)
{
    struct tmpl_value url = {.kind = TV_STRING}, value = {.kind = TV_FLOAT, .u.f = d->value};
    url.u.s.p = d->external_url ? d->external_url : "";
    url.u.s.len = strlen(url.u.s.p);
    const char *names[] = {"Labels:", " ExternalLabels:", " ExternalURL:", " Value:"};
    const char *seps[] = {"", " ", " ", " "};
    const char *const *lead = sp->plus_v ? names : seps;
    if (tmpl__putc(b, '{') < 0 || tmpl__put(b, lead[0], strlen(lead[0])) < 0 ||
        fmt_map(b, sp, d->labels) < 0 || tmpl__put(b, lead[1], strlen(lead[1])) < 0 ||
        fmt_map(b, sp, d->external_labels) < 0 || tmpl__put(b, lead[2], strlen(lead[2])) < 0 ||
        fmt_arg(b, sp, &url) < 0 || tmpl__put(b, lead[3], strlen(lead[3])) < 0 ||
        fmt_arg(b, sp, &value) < 0)
        return -1;
    return tmpl__putc(b, '}');
}

static int fmt_arg(struct tmpl_buf *b, const struct spec *sp, const struct tmpl_value *v)
{
    char c = sp->verb;
    if (c == 'T') {
        const char *t = tmpl__type_name(v);
        return pad(b, sp, t, strlen(t), 0);
    }
    switch (v->kind) {
    case TV_BOOL:
        if (c == 'v' || c == 't')
            return pad(b, sp, v->u.b ? "true" : "false", v->u.b ? 4 : 5, 0);
        break;
    case TV_INT:
        if (strchr("vdxXocq", c))
            return fmt_int(b, sp, v->u.i);
        break;
    case TV_FLOAT:
        if (strchr("veEfFgGxX", c))
            return fmt_float(b, sp, v->u.f);
        break;
    case TV_STRING:
        if (c == 'v' && sp->sharp_v) {
            struct spec q = *sp;
            q.verb = 'q';
            return fmt_string(b, &q, v->u.s.p, v->u.s.len);
        }
        if (strchr("vsqxX", c))
            return fmt_string(b, sp, v->u.s.p, v->u.s.len);
        break;
    case TV_NIL:
        if (c == 'v')
            return pad(b, sp, "<nil>", 5, 0);
        break;
    case TV_MAP: return fmt_map(b, sp, v->u.map);
    case TV_DATA: return fmt_data(b, sp, v->u.data);
    }
    return bad_verb(b, sp, v);
}

/* Go's %v. */
static int print_v(struct tmpl_buf *b, const struct tmpl_value *v)
{
    static const struct spec plain_v = {
        .width = -1, .prec = -1, .verb = 'v', .verb_text = "v", .verb_len = 1};
    return fmt_arg(b, &plain_v, v);
}

/* Reads a width or precision at s[*i] as Go does: past 1000000 the number
 * and the rest of the format are dropped (-1, *i = n). */
static int read_num(const char *s, size_t n, size_t *i)
{
    int v = 0;
    for (; *i < n && s[*i] >= '0' && s[*i] <= '9'; ++*i) {
        if (v > 1000000) { /* Go gives up on the rest of the format */
            *i = n;
            return -1;
        }
        v = v * 10 + (s[*i] - '0');
    }
    return v;
}

/* Parses flags, width and precision after '%' ('*' takes an int argument). */
static int read_spec(struct tmpl_buf *b, const char *f, size_t n, size_t *i, struct spec *sp,
                     const struct tmpl_value *args, size_t nargs, size_t *argi)
{
    memset(sp, 0, sizeof *sp);
    sp->width = sp->prec = -1;
    for (; *i < n && strchr("+-# 0", f[*i]); ++*i) {
        switch (f[*i]) {
        case '+': sp->plus = 1; break;
        case '-': sp->minus = 1; break;
        case '#': sp->sharp = 1; break;
        case ' ': sp->space = 1; break;
        default: sp->zero = 1; break;
        }
    }
    for (int w = 0; w < 2; w++) {
        if (w == 1) {
            if (*i >= n || f[*i] != '.')
                break;
            ++*i;
            sp->prec = 0;
        }
        int *dst = w == 0 ? &sp->width : &sp->prec;
        if (*i < n && f[*i] == '*') {
            ++*i;
            if (*argi >= nargs || args[*argi].kind != TV_INT || args[*argi].u.i > 1000000 ||
                args[*argi].u.i < -1000000) {
                if (*argi < nargs)
                    ++*argi;
                if (tmpl__put(b, w == 0 ? "%!(BADWIDTH)" : "%!(BADPREC)", w == 0 ? 12 : 11) < 0)
                    return -1;
                continue;
            }
            *dst = (int)args[(*argi)++].u.i;
            if (w == 0 && *dst < 0) {
                sp->minus = 1;
                *dst = -*dst;
            } else if (w == 1 && *dst < 0) {
                *dst = -1;
            }
        } else if (w == 0 && *i < n && f[*i] >= '0' && f[*i] <= '9') {
            *dst = read_num(f, n, i);
        } else if (w == 1) {
            *dst = read_num(f, n, i);
        }
    }
    if (sp->minus)
        sp->zero = 0;
    return 0;
}

int tmpl__sprintf(struct tmpl_buf *b, const char *f, size_t n, const struct tmpl_value *args,
                  size_t nargs)
{
    size_t argi = 0;
    for (size_t i = 0; i < n;) {
        size_t lit = i;
        while (i < n && f[i] != '%')
            i++;
        if (tmpl__put(b, f + lit, i - lit) < 0)
            return -1;
        if (i >= n)
            break;
        i++;
        struct spec sp;
        if (read_spec(b, f, n, &i, &sp, args, nargs, &argi) < 0)
            return -1;
        if (i >= n) {
            if (tmpl__put(b, "%!(NOVERB)", 10) < 0)
                return -1;
            break;
        }
        uint32_t cp;
        sp.verb = f[i];
        sp.verb_text = f + i;
        sp.verb_len = (int)tmpl__rune_at((const unsigned char *)f + i, n - i, &cp);
        i += (size_t)sp.verb_len;
        if (sp.verb == 'v') { /* %+v: field names, not signs; %#v: Go syntax */
            sp.plus_v = sp.plus;
            sp.plus = 0;
            sp.sharp_v = sp.sharp;
            sp.sharp = 0;
        }
        int rc;
        if (sp.verb == '%')
            rc = tmpl__putc(b, '%');
        else if (argi >= nargs)
            rc = tmpl__printf(b, "%%!%.*s(MISSING)", sp.verb_len, sp.verb_text);
        else
            rc = fmt_arg(b, &sp, &args[argi++]);
        if (rc < 0)
            return -1;
    }
    if (argi < nargs) {
        if (tmpl__put(b, "%!(EXTRA ", 9) < 0)
            return -1;
        for (size_t i = argi; i < nargs; i++) {
            if (i > argi && tmpl__put(b, ", ", 2) < 0)
                return -1;
            if (args[i].kind == TV_NIL) { /* Go: just <nil> */
                if (tmpl__put(b, "<nil>", 5) < 0)
                    return -1;
            } else if (tmpl__printf(b, "%s=", tmpl__type_name(&args[i])) < 0 ||
                       print_v(b, &args[i]) < 0) {
                return -1;
            }
        }
        return tmpl__putc(b, ')');
    }
    return 0;
}
