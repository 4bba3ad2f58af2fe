/* expfmt.c — line parser for OpenMetrics 1.0 and Prometheus 0.0.4 text.
 *
 * Design notes. A line is parsed with a cursor over (line, len); the line
 * need not be NUL-terminated. Unescaped strings are copied into p->buf,
 * which is grown before parsing so that it never moves while entry pointers
 * into it are handed out: a line of len bytes produces at most len bytes of
 * strings plus one NUL per string, fewer than 2 * len + 16 in all.
 */
#include "expfmt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "timefmt.h"

#define EXEMPLAR_MAX_RUNES 128
#define NUMBER_MAX_BYTES 127

struct cur {
    const char *s;
    size_t len, pos;
};

void expfmt_options_default(struct expfmt_options *o, enum expfmt_flavor flavor)
{
    o->flavor = flavor;
    o->ts_unit = flavor == EXPFMT_OPENMETRICS ? EXPFMT_TS_SECONDS : EXPFMT_TS_MS;
}

void expfmt_parser_init(struct expfmt_parser *p, const struct expfmt_options *o)
{
    memset(p, 0, sizeof *p);
    p->opts = *o;
}

void expfmt_parser_free(struct expfmt_parser *p)
{
    free(p->buf);
    free(p->labels);
    free(p->family);
    memset(p, 0, sizeof *p);
}

static int om(const struct expfmt_parser *p)
{
    return p->opts.flavor == EXPFMT_OPENMETRICS;
}

/* Records an error at byte pos: "expected <what>, got <offending text>".
 * @return -EINVAL. */
static int fail(struct expfmt_parser *p, const struct cur *c, size_t pos, const char *fmt, ...)
{
    char what[120], got[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (pos >= c->len) {
        snprintf(got, sizeof got, "end of line");
    } else {
        size_t n = 0;
        got[n++] = '"';
        for (size_t i = pos; i < c->len && i < pos + 24 && c->s[i] != '\n'; i++)
            got[n++] = (c->s[i] >= 0x20 && c->s[i] < 0x7f) ? c->s[i] : '?';
        got[n++] = '"';
        got[n] = '\0';
    }
    p->err.line = p->line;
    p->err.col = (unsigned)pos + 1;
    snprintf(p->err.msg, sizeof p->err.msg, "expected %s, got %s", what, got);
    return -EINVAL;
}

static int at(const struct cur *c, char ch)
{
    return c->pos < c->len && c->s[c->pos] == ch;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static void skip_blanks(struct cur *c)
{
    while (c->pos < c->len && is_blank(c->s[c->pos]))
        c->pos++;
}

/* Blanks allowed inside braces and around '=' (Prometheus text only). */
static void skip_inner(const struct expfmt_parser *p, struct cur *c)
{
    if (!om(p))
        skip_blanks(c);
}

/* The separator between tokens: one space in OpenMetrics, blanks in
 * Prometheus text. */
static int expect_sep(struct expfmt_parser *p, struct cur *c, const char *before)
{
    if (om(p)) {
        if (!at(c, ' '))
            return fail(p, c, c->pos, "a space before %s", before);
        c->pos++;
        if (at(c, ' '))
            return fail(p, c, c->pos, "%s after a single space", before);
        return 0;
    }
    if (c->pos >= c->len || !is_blank(c->s[c->pos]))
        return fail(p, c, c->pos, "a blank before %s", before);
    skip_blanks(c);
    return 0;
}

static int name_char(char ch, int first, int colon)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
           (colon && ch == ':') || (!first && ch >= '0' && ch <= '9');
}

/* Scans a metric name (colon=1) or label name; @return its length, 0 if none. */
static size_t scan_name(const struct cur *c, int colon)
{
    size_t n = 0;
    while (c->pos + n < c->len && name_char(c->s[c->pos + n], n == 0, colon))
        n++;
    return n;
}

/* Copies n bytes into the line buffer as a NUL-terminated string. */
static char *store(struct expfmt_parser *p, const char *s, size_t n)
{
    char *d = p->buf + p->buf_len;
    memcpy(d, s, n);
    d[n] = '\0';
    p->buf_len += n + 1;
    return d;
}

/* Counts UTF-8 characters (bytes that do not continue a sequence). */
static size_t utf8_runes(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Parses a quoted label value at c (on the opening quote) into the buffer.
 * Escapes: \\ \" \n; Prometheus text keeps other escapes verbatim, as
 * Prometheus does, OpenMetrics rejects them. */
static int parse_label_value(struct expfmt_parser *p, struct cur *c, const char **out)
{
    size_t start = c->pos;
    char *d = p->buf + p->buf_len, *d0 = d;

    c->pos++;
    for (;;) {
        if (c->pos >= c->len)
            return fail(p, c, start, "a label value closed by '\"'");
        char ch = c->s[c->pos];
        if (ch == '"')
            break;
        if (ch != '\\') {
            *d++ = ch;
            c->pos++;
            continue;
        }
        char e = c->pos + 1 < c->len ? c->s[c->pos + 1] : '\0';
        if (e == '\\' || e == '"')
            *d++ = e;
        else if (e == 'n')
            *d++ = '\n';
        else if (om(p) || c->pos + 1 >= c->len)
            return fail(p, c, c->pos, "an escape sequence \\\\, \\\" or \\n");
        else
            *d++ = '\\', *d++ = e;
        c->pos += 2;
    }
    c->pos++;
    if (!tsdb_utf8_valid(d0, (size_t)(d - d0)))
        return fail(p, c, start, "a label value in valid UTF-8");
    *d++ = '\0';
    p->buf_len += (size_t)(d - d0);
    *out = d0;
    return 0;
}

/* Parses "{name="value",...}" at c (on the '{'), appending labels to
 * p->labels from index *n on; labels from index first on must have unique
 * names. */
static int parse_labels(struct expfmt_parser *p, struct cur *c, size_t first, size_t *n)
{
    c->pos++;
    skip_inner(p, c);
    if (at(c, '}')) {
        c->pos++;
        return 0;
    }
    for (;;) {
        size_t name_pos = c->pos, nl = scan_name(c, 0);
        if (nl == 0)
            return fail(p, c, c->pos, "a label name");
        const char *name = store(p, c->s + c->pos, nl);
        for (size_t i = first; i < *n; i++)
            if (strcmp(p->labels[i].name, name) == 0)
                return fail(p, c, name_pos, "a label name not used before in this label set");
        c->pos += nl;
        skip_inner(p, c);
        if (!at(c, '='))
            return fail(p, c, c->pos, "'=' after label name");
        c->pos++;
        skip_inner(p, c);
        if (!at(c, '"'))
            return fail(p, c, c->pos, "'\"' to open the label value");
        const char *value = NULL;
        int rc = parse_label_value(p, c, &value);
        if (rc < 0)
            return rc;
        p->labels[*n].name = name;
        p->labels[*n].value = value;
        (*n)++;
        skip_inner(p, c);
        if (at(c, '}')) {
            c->pos++;
            return 0;
        }
        if (!at(c, ','))
            return fail(p, c, c->pos, "',' or '}' after a label");
        c->pos++;
        skip_inner(p, c);
        if (!om(p) && at(c, '}')) {
            c->pos++;
            return 0;
        }
    }
}

/* Length of the token at c: up to a blank or the end of the line. */
static size_t token_len(const struct cur *c)
{
    size_t n = 0;
    while (c->pos + n < c->len && !is_blank(c->s[c->pos + n]))
        n++;
    return n;
}

/* 1 if s[0..n) is [sign] (digits [. digits*] | . digits) [e [sign] digits]. */
static int is_realnumber(const char *s, size_t n)
{
    size_t i = 0, d = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        d++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            d++;
    if (d == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t ed = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ed++;
        if (ed == 0)
            return 0;
    }
    return i == n;
}

/* Parses a sample value token: a real number, [+-]Inf / [+-]Infinity or
 * NaN (case-insensitive). */
static int parse_value(struct expfmt_parser *p, struct cur *c, double *v)
{
    size_t n = token_len(c);
    const char *s = c->s + c->pos;
    char tmp[NUMBER_MAX_BYTES + 1];

    if (n == 0 || n > NUMBER_MAX_BYTES)
        return fail(p, c, c->pos, "a sample value");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    const char *u = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if (strcasecmp(tmp, "nan") == 0) {
        *v = NAN;
    } else if (strcasecmp(u, "inf") == 0 || strcasecmp(u, "infinity") == 0) {
        *v = tmp[0] == '-' ? -INFINITY : INFINITY;
    } else if (is_realnumber(tmp, n)) {
        *v = strtod(tmp, NULL);
    } else {
        return fail(p, c, c->pos, "a sample value (a number, NaN or +Inf/-Inf)");
    }
    c->pos += n;
    return 0;
}

/* Parses a timestamp token in the given unit. */
static int parse_timestamp(struct expfmt_parser *p, struct cur *c, enum expfmt_ts_unit unit,
                           int64_t *ts_ms)
{
    size_t n = token_len(c);
    const char *s = c->s + c->pos;
    int rc;

    if (unit == EXPFMT_TS_SECONDS) {
        rc = timefmt_seconds_to_ms(s, n, ts_ms);
    } else {
        size_t i = n > 0 && s[0] == '-';
        int64_t v = 0;
        rc = i < n ? 0 : -EINVAL;
        for (; i < n && rc == 0; i++) {
            if (s[i] < '0' || s[i] > '9')
                rc = -EINVAL;
            else if (v > (INT64_MAX - (s[i] - '0')) / 10)
                rc = -ERANGE;
            else
                v = v * 10 + (s[i] - '0');
        }
        *ts_ms = n > 0 && s[0] == '-' ? -v : v;
    }
    if (rc == -ERANGE)
        return fail(p, c, c->pos, "a timestamp within the int64 millisecond range");
    if (rc < 0)
        return fail(p, c, c->pos, unit == EXPFMT_TS_SECONDS ? "a timestamp in seconds"
                                                            : "a timestamp in integer milliseconds");
    c->pos += n;
    return 0;
}

/* Parses an OpenMetrics exemplar at c (after "# "): {labels} value [ts]. */
static int parse_exemplar(struct expfmt_parser *p, struct cur *c, size_t first)
{
    size_t n = first, start = c->pos, runes = 0;
    double v;
    int64_t ts;
    int rc;

    if (!at(c, '{'))
        return fail(p, c, c->pos, "'{' to open the exemplar's labels");
    if ((rc = parse_labels(p, c, first, &n)) < 0)
        return rc;
    for (size_t i = first; i < n; i++)
        runes += utf8_runes(p->labels[i].name) + utf8_runes(p->labels[i].value);
    if (runes > EXEMPLAR_MAX_RUNES)
        return fail(p, c, start, "exemplar labels of at most %d characters",
                    EXEMPLAR_MAX_RUNES);
    if ((rc = expect_sep(p, c, "the exemplar value")) < 0 || (rc = parse_value(p, c, &v)) < 0)
        return rc;
    if (c->pos == c->len)
        return 0;
    if ((rc = expect_sep(p, c, "the exemplar timestamp")) < 0 ||
        (rc = parse_timestamp(p, c, EXPFMT_TS_SECONDS, &ts)) < 0)
        return rc;
    if (c->pos != c->len)
        return fail(p, c, c->pos, "end of line after the exemplar");
    return 0;
}

/* 1 if name is family or family plus a suffix OpenMetrics gives samples. */
static int in_family(const char *family, const char *name)
{
    static const char *const suffixes[] = {"", "_total", "_created", "_bucket", "_count",
                                           "_sum", "_gcount", "_gsum", "_info"};
    size_t fl = strlen(family);
    if (strncmp(family, name, fl) != 0)
        return 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (strcmp(name + fl, suffixes[i]) == 0)
            return 1;
    return 0;
}

static int parse_sample(struct expfmt_parser *p, struct cur *c, struct expfmt_entry *e)
{
    size_t nl = scan_name(c, 1), n = 1;
    int rc;

    if (nl == 0)
        return fail(p, c, c->pos, "a metric name");
    e->kind = EXPFMT_SAMPLE;
    e->name = store(p, c->s + c->pos, nl);
    c->pos += nl;
    p->labels[0].name = "__name__";
    p->labels[0].value = e->name;
    size_t after_name = c->pos;
    skip_inner(p, c);
    if (!at(c, '{'))
        c->pos = after_name;
    else if ((rc = parse_labels(p, c, 0, &n)) < 0)
        return rc;
    e->labels.v = p->labels;
    e->labels.len = n;
    if ((rc = expect_sep(p, c, "the sample value")) < 0 || (rc = parse_value(p, c, &e->value)) < 0)
        return rc;
    if (!om(p))
        skip_blanks(c);
    if (c->pos < c->len && !(om(p) && c->s[c->pos] == ' ' && c->pos + 1 < c->len &&
                             c->s[c->pos + 1] == '#')) {
        if (om(p) && (rc = expect_sep(p, c, "the timestamp")) < 0)
            return rc;
        if ((rc = parse_timestamp(p, c, p->opts.ts_unit, &e->ts_ms)) < 0)
            return rc;
        e->has_ts = 1;
        if (!om(p))
            skip_blanks(c);
    }
    if (c->pos < c->len) {
        if (!om(p))
            return fail(p, c, c->pos, "end of line after the sample");
        if (c->len - c->pos < 3 || memcmp(c->s + c->pos, " # ", 3) != 0)
            return fail(p, c, c->pos, "\" # \" before an exemplar or end of line");
        c->pos += 3;
        if ((rc = parse_exemplar(p, c, n)) < 0)
            return rc;
        e->has_exemplar = 1;
    }
    if (om(p) && p->family && in_family(p->family, e->name)) {
        if (p->family_type_counter && strcmp(p->family, e->name) == 0)
            return fail(p, c, 0, "a counter sample named %s_total or %s_created", p->family,
                        p->family);
        p->family_has_samples = 1;
    }
    return 0;
}

/* Unescapes a HELP docstring: \\ and \n (and \" in OpenMetrics). */
static int parse_help_text(struct expfmt_parser *p, struct cur *c, const char **out)
{
    size_t start = c->pos;
    char *d = p->buf + p->buf_len, *d0 = d;

    while (c->pos < c->len) {
        char ch = c->s[c->pos];
        char e = c->pos + 1 < c->len ? c->s[c->pos + 1] : '\0';
        if (ch != '\\') {
            *d++ = ch;
            c->pos++;
        } else if (e == '\\' || (e == '"' && om(p)) || e == 'n') {
            *d++ = e == 'n' ? '\n' : e;
            c->pos += 2;
        } else if (om(p) || c->pos + 1 >= c->len) {
            return fail(p, c, c->pos, "an escape sequence \\\\, \\\" or \\n");
        } else {
            *d++ = ch;
            c->pos++;
        }
    }
    if (!tsdb_utf8_valid(d0, (size_t)(d - d0)))
        return fail(p, c, start, "a docstring in valid UTF-8");
    *d++ = '\0';
    p->buf_len += (size_t)(d - d0);
    *out = d0;
    return 0;
}

static int valid_type(const struct expfmt_parser *p, const char *t)
{
    static const char *const om_types[] = {"counter", "gauge", "histogram", "gaugehistogram",
                                           "stateset", "info", "summary", "unknown", NULL};
    static const char *const prom_types[] = {"counter", "gauge", "histogram", "summary",
                                             "untyped", NULL};
    for (const char *const *v = om(p) ? om_types : prom_types; *v; v++)
        if (strcmp(*v, t) == 0)
            return 1;
    return 0;
}

/* Enforces OpenMetrics' metadata rules for the family a metadata line names:
 * each kind at most once, and before the family's samples. */
static int track_family(struct expfmt_parser *p, struct cur *c, struct expfmt_entry *e)
{
    if (!p->family || strcmp(p->family, e->name) != 0) {
        char *f = strdup(e->name);
        if (!f)
            return -ENOMEM;
        free(p->family);
        p->family = f;
        p->family_meta = 0;
        p->family_type_counter = 0;
        p->family_has_samples = 0;
    }
    if (p->family_meta & (1u << e->kind))
        return fail(p, c, 0, "one %s line per metric family %s",
                    e->kind == EXPFMT_HELP ? "HELP" : e->kind == EXPFMT_TYPE ? "TYPE" : "UNIT",
                    e->name);
    if (p->family_has_samples)
        return fail(p, c, 0, "metadata of %s before its samples", e->name);
    p->family_meta |= 1u << e->kind;
    if (e->kind == EXPFMT_TYPE)
        p->family_type_counter = strcmp(e->text, "counter") == 0;
    return 0;
}

/* Parses "# HELP|TYPE|UNIT name ..." with c after the keyword. */
static int parse_meta(struct expfmt_parser *p, struct cur *c, struct expfmt_entry *e)
{
    size_t nl;
    int rc;

    if ((rc = expect_sep(p, c, "the metric family name")) < 0)
        return rc;
    if ((nl = scan_name(c, 1)) == 0)
        return fail(p, c, c->pos, "a metric family name");
    e->name = store(p, c->s + c->pos, nl);
    c->pos += nl;
    if (e->kind == EXPFMT_HELP) {
        if (c->pos == c->len) {
            e->text = store(p, "", 0);
        } else {
            if ((rc = expect_sep(p, c, "the docstring")) < 0)
                return rc;
            if ((rc = parse_help_text(p, c, &e->text)) < 0)
                return rc;
        }
    } else {
        if ((rc = expect_sep(p, c, e->kind == EXPFMT_TYPE ? "the type" : "the unit")) < 0)
            return rc;
        size_t start = c->pos, tl = 0;
        if (e->kind == EXPFMT_TYPE)
            tl = token_len(c);
        else
            while (start + tl < c->len && name_char(c->s[start + tl], 0, 1))
                tl++;
        e->text = store(p, c->s + start, tl);
        c->pos += tl;
        if (!om(p))
            skip_blanks(c);
        if (e->kind == EXPFMT_TYPE && !valid_type(p, e->text))
            return fail(p, c, start,
                        om(p) ? "a type: counter, gauge, histogram, gaugehistogram, "
                                "stateset, info, summary or unknown"
                              : "a type: counter, gauge, histogram, summary or untyped");
        if (c->pos != c->len)
            return fail(p, c, c->pos, "end of line after the %s",
                        e->kind == EXPFMT_TYPE ? "type" : "unit");
    }
    return om(p) ? track_family(p, c, e) : 0;
}

/* A line starting with '#'. */
static int parse_comment(struct expfmt_parser *p, struct cur *c, struct expfmt_entry *e)
{
    static const struct {
        const char *word;
        enum expfmt_kind kind;
    } kw[] = {{"HELP", EXPFMT_HELP}, {"TYPE", EXPFMT_TYPE}, {"UNIT", EXPFMT_UNIT}};

    c->pos++;
    if (om(p)) {
        if (c->len - c->pos == 4 && memcmp(c->s + c->pos, " EOF", 4) == 0) {
            e->kind = EXPFMT_EOF;
            p->seen_eof = 1;
            return 0;
        }
        if (!at(c, ' '))
            return fail(p, c, c->pos, "a space after '#'");
        c->pos++;
    } else {
        skip_blanks(c);
    }
    size_t wl = token_len(c);
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
        if (wl != 4 || memcmp(c->s + c->pos, kw[i].word, 4) != 0)
            continue;
        if (kw[i].kind == EXPFMT_UNIT && !om(p))
            break;
        c->pos += 4;
        e->kind = kw[i].kind;
        return parse_meta(p, c, e);
    }
    if (om(p))
        return fail(p, c, c->pos, "HELP, TYPE, UNIT or EOF after '# '");
    return 0; /* a plain comment */
}

/* Makes room for the strings and labels a line of len bytes can produce. */
static int reserve(struct expfmt_parser *p, size_t len)
{
    size_t need = 2 * len + 16, nlabels = len / 2 + 4;
    if (p->buf_cap < need) {
        char *b = realloc(p->buf, need);
        if (!b)
            return -ENOMEM;
        p->buf = b;
        p->buf_cap = need;
    }
    if (p->labels_cap < nlabels) {
        struct tsdb_label *l = realloc(p->labels, nlabels * sizeof *l);
        if (!l)
            return -ENOMEM;
        p->labels = l;
        p->labels_cap = nlabels;
    }
    p->buf_len = 0;
    return 0;
}

int expfmt_parse_line(struct expfmt_parser *p, const char *line, size_t len,
                      struct expfmt_entry *e)
{
    struct cur c = {line, len, 0};
    int rc;

    memset(e, 0, sizeof *e);
    p->line++;
    if ((rc = reserve(p, len)) < 0)
        return rc;
    const char *bad = memchr(line, '\0', len);
    if (!bad)
        bad = memchr(line, '\r', len);
    if (bad)
        return fail(p, &c, (size_t)(bad - line), "no NUL or carriage return byte");
    if (p->seen_eof)
        return fail(p, &c, 0, "nothing after # EOF");
    if (!om(p))
        skip_blanks(&c);
    if (c.pos == len) {
        if (om(p))
            return fail(p, &c, 0, "a sample or metadata line (OpenMetrics has no empty lines)");
        return 0;
    }
    if (at(&c, '#'))
        return parse_comment(p, &c, e);
    return parse_sample(p, &c, e);
}

int expfmt_finish(struct expfmt_parser *p)
{
    if (om(p) && !p->seen_eof) {
        p->err.line = p->line + 1;
        p->err.col = 1;
        snprintf(p->err.msg, sizeof p->err.msg, "expected \"# EOF\", got end of input");
        return -EINVAL;
    }
    return 0;
}
