/* expfmt.c — line parser for OpenMetrics 1.0 and Prometheus 0.0.4 text.
 *
 * Design notes. A line is parsed with a cursor over (line, len); the line
 * need not be NUL-terminated. Unescaped strings are copied into p->buf,
 * which is grown before parsing so that it never moves while entry pointers
 * into it are handed out: a line of len bytes produces at most len bytes of
 * strings plus one NUL per string, fewer than 2 * len + 16 in all.
 *
 * Every metric family seen is kept in a hash table (struct expfmt_family):
 * its type, which metadata lines it had, whether samples followed, and the
 * last line it was on. A sample belongs to the family its name minus one of
 * the type's suffixes names (the previous line's family is tried first), or
 * starts a family of unknown type. OpenMetrics (and strict Prometheus text)
 * check the metadata and grouping rules against that table.
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
#define FAMILIES_MIN_CAP 64

struct expfmt_family {
    enum expfmt_metric_type type;
    unsigned meta;       /* bit per expfmt_kind of the metadata lines seen */
    int has_samples;
    unsigned last_line;  /* 0 until a line of the family was parsed */
    uint32_t hash;
    size_t name_len;
    char name[];
};

/* Suffixes a sample name adds to its family name; bit i of a type's mask in
 * suffix_mask says the type has suffixes[i]. */
static const char *const suffixes[] = {"",     "_total",  "_created", "_bucket", "_count",
                                       "_sum", "_gcount", "_gsum",    "_info"};
enum { SFX_NONE, SFX_TOTAL, SFX_CREATED, SFX_BUCKET, SFX_COUNT, SFX_SUM, SFX_GCOUNT, SFX_GSUM,
       SFX_INFO, SFX_N };
#define B(x) (1u << SFX_##x)

static const char *const type_names[] = {
    [EXPFMT_METRIC_UNKNOWN] = "unknown",     [EXPFMT_METRIC_COUNTER] = "counter",
    [EXPFMT_METRIC_GAUGE] = "gauge",         [EXPFMT_METRIC_HISTOGRAM] = "histogram",
    [EXPFMT_METRIC_GAUGEHISTOGRAM] = "gaugehistogram",
    [EXPFMT_METRIC_SUMMARY] = "summary",     [EXPFMT_METRIC_INFO] = "info",
    [EXPFMT_METRIC_STATESET] = "stateset",
};

struct cur {
    const char *s;
    size_t len, pos;
};

void expfmt_options_default(struct expfmt_options *o, enum expfmt_flavor flavor)
{
    memset(o, 0, sizeof *o);
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
    for (size_t i = 0; i < p->families_cap; i++)
        free(p->families[i]);
    free(p->families);
    memset(p, 0, sizeof *p);
}

enum expfmt_flavor expfmt_flavor_from_content_type(const char *content_type)
{
    static const char om_type[] = "application/openmetrics-text";
    const char *s = content_type ? content_type : "";

    while (*s == ' ' || *s == '\t')
        s++;
    if (strncasecmp(s, om_type, sizeof om_type - 1) != 0)
        return EXPFMT_PROMETHEUS;
    s += sizeof om_type - 1;
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0' || *s == ';' ? EXPFMT_OPENMETRICS : EXPFMT_PROMETHEUS;
}

enum expfmt_flavor expfmt_guess_flavor(const char *buf, size_t len)
{
    static const char eof[] = "# EOF", unit[] = "# UNIT ";
    size_t n = len - (len > 0 && buf[len - 1] == '\n');

    if (n >= sizeof eof - 1 && memcmp(buf + n - (sizeof eof - 1), eof, sizeof eof - 1) == 0 &&
        (n == sizeof eof - 1 || buf[n - sizeof eof] == '\n'))
        return EXPFMT_OPENMETRICS;
    for (size_t i = 0; i + sizeof unit - 1 <= len; i++) {
        if ((i == 0 || buf[i - 1] == '\n') && memcmp(buf + i, unit, sizeof unit - 1) == 0)
            return EXPFMT_OPENMETRICS;
        const char *nl = memchr(buf + i, '\n', len - i);
        if (!nl)
            break;
        i = (size_t)(nl - buf);
    }
    return EXPFMT_PROMETHEUS;
}

const char *expfmt_metric_type_name(enum expfmt_metric_type t)
{
    return (size_t)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "unknown";
}

static int om(const struct expfmt_parser *p)
{
    return p->opts.flavor == EXPFMT_OPENMETRICS;
}

/* OpenMetrics, or Prometheus text with the strict option: enforce the
 * metadata rules. */
static int strict(const struct expfmt_parser *p)
{
    return om(p) || p->opts.strict;
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
 * Prometheus' scrape parser does, OpenMetrics and strict text reject them. */
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
        else if (strict(p) || c->pos + 1 >= c->len)
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

/* Reads the n bytes at s as a real number, [+-]Inf / [+-]Infinity or NaN
 * (case-insensitive). @return 0 and *v, or -EINVAL. */
static int parse_number(const char *s, size_t n, double *v)
{
    char tmp[NUMBER_MAX_BYTES + 1];

    if (n == 0 || n > NUMBER_MAX_BYTES)
        return -EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    const char *u = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if (strcasecmp(tmp, "nan") == 0)
        *v = NAN;
    else if (strcasecmp(u, "inf") == 0 || strcasecmp(u, "infinity") == 0)
        *v = tmp[0] == '-' ? -INFINITY : INFINITY;
    else if (is_realnumber(tmp, n))
        *v = strtod(tmp, NULL);
    else
        return -EINVAL;
    return 0;
}

/* Parses a sample value token. */
static int parse_value(struct expfmt_parser *p, struct cur *c, double *v)
{
    size_t n = token_len(c);

    if (n == 0)
        return fail(p, c, c->pos, "a sample value");
    if (parse_number(c->s + c->pos, n, v) < 0)
        return fail(p, c, c->pos, "a sample value (a number, NaN or +Inf/-Inf)");
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

/* Parses an OpenMetrics exemplar at c (after "# "): {labels} value [ts],
 * its labels appended to p->labels from index first on. */
static int parse_exemplar(struct expfmt_parser *p, struct cur *c, size_t first,
                          struct expfmt_entry *e)
{
    size_t n = first, start = c->pos, runes = 0;
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
    e->has_exemplar = 1;
    e->exemplar.v = p->labels + first;
    e->exemplar.len = n - first;
    if ((rc = expect_sep(p, c, "the exemplar value")) < 0 ||
        (rc = parse_value(p, c, &e->exemplar_value)) < 0)
        return rc;
    if (c->pos == c->len)
        return 0;
    if ((rc = expect_sep(p, c, "the exemplar timestamp")) < 0 ||
        (rc = parse_timestamp(p, c, EXPFMT_TS_SECONDS, &e->exemplar_ts_ms)) < 0)
        return rc;
    e->exemplar_has_ts = 1;
    if (c->pos != c->len)
        return fail(p, c, c->pos, "end of line after the exemplar");
    return 0;
}

/* ---- metric families ------------------------------------------------ */

/* The suffixes (bits over suffixes[]) samples of a family of type t have. */
static unsigned suffix_mask(const struct expfmt_parser *p, enum expfmt_metric_type t)
{
    switch (t) {
    case EXPFMT_METRIC_COUNTER:
        return om(p) ? B(TOTAL) | B(CREATED) : B(NONE);
    case EXPFMT_METRIC_HISTOGRAM:
        return B(BUCKET) | B(COUNT) | B(SUM) | (om(p) ? B(CREATED) : 0);
    case EXPFMT_METRIC_GAUGEHISTOGRAM:
        return B(BUCKET) | B(GCOUNT) | B(GSUM);
    case EXPFMT_METRIC_SUMMARY:
        return B(NONE) | B(COUNT) | B(SUM) | (om(p) ? B(CREATED) : 0);
    case EXPFMT_METRIC_INFO:
        return B(INFO);
    case EXPFMT_METRIC_UNKNOWN:
    case EXPFMT_METRIC_GAUGE:
    case EXPFMT_METRIC_STATESET:
        break;
    }
    return B(NONE);
}

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The slot of family s[0..n) in the table: its entry or the empty slot
 * where it belongs. The table is never full. */
static struct expfmt_family **family_slot(const struct expfmt_parser *p, const char *s, size_t n,
                                          uint32_t h)
{
    size_t mask = p->families_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct expfmt_family *f = p->families[i];
        if (!f || (f->hash == h && f->name_len == n && memcmp(f->name, s, n) == 0))
            return &p->families[i];
    }
}

static struct expfmt_family *family_find(const struct expfmt_parser *p, const char *s, size_t n)
{
    if (p->cur && p->cur->name_len == n && memcmp(p->cur->name, s, n) == 0)
        return p->cur;
    return p->families_cap ? *family_slot(p, s, n, name_hash(s, n)) : NULL;
}

/* Doubles the table (or creates it). @return 0 or -ENOMEM. */
static int families_grow(struct expfmt_parser *p)
{
    size_t cap = p->families_cap ? 2 * p->families_cap : FAMILIES_MIN_CAP;
    struct expfmt_family **old = p->families;
    size_t old_cap = p->families_cap;

    if (!(p->families = calloc(cap, sizeof *p->families))) {
        p->families = old;
        return -ENOMEM;
    }
    p->families_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            *family_slot(p, old[i]->name, old[i]->name_len, old[i]->hash) = old[i];
    free(old);
    return 0;
}

/* Adds family s[0..n) of unknown type. @return it, or NULL if out of memory. */
static struct expfmt_family *family_add(struct expfmt_parser *p, const char *s, size_t n)
{
    struct expfmt_family *f = NULL;

    if (2 * (p->families_len + 1) > p->families_cap && families_grow(p) < 0)
        return NULL;
    if (!(f = calloc(1, sizeof *f + n + 1)))
        return NULL;
    memcpy(f->name, s, n);
    f->name_len = n;
    f->hash = name_hash(s, n);
    *family_slot(p, s, n, f->hash) = f;
    p->families_len++;
    return f;
}

/* Makes f the family of the current line; in OpenMetrics a family's lines
 * must be contiguous. */
static int family_enter(struct expfmt_parser *p, struct cur *c, struct expfmt_family *f)
{
    if (f != p->cur && f->last_line && om(p))
        return fail(p, c, 0, "the lines of metric family %s together (it ended at line %u)",
                    f->name, f->last_line);
    f->last_line = p->line;
    p->cur = f;
    return 0;
}

/* Fails for a sample named like family f whose type gives it other names:
 * "expected a counter sample named a_total or a_created". */
static int fail_sample_name(struct expfmt_parser *p, struct cur *c, const struct expfmt_family *f)
{
    char names[200];
    size_t n = 0;
    unsigned mask = suffix_mask(p, f->type), left = (unsigned)__builtin_popcount(mask);

    names[0] = '\0';
    for (int i = 0; i < SFX_N && n < sizeof names; i++) {
        if (!(mask & (1u << i)))
            continue;
        left--;
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s%s", f->name, suffixes[i],
                              left > 1 ? ", " : left == 1 ? " or " : "");
    }
    return fail(p, c, 0, "a %s sample named %s", type_names[f->type], names);
}

/* Finds the family of the sample named name: the previous line's or an
 * earlier family whose type has the name's suffix, else a new family. */
static int sample_family(struct expfmt_parser *p, struct cur *c, const char *name,
                         struct expfmt_family **out)
{
    size_t nl = strlen(name);
    struct expfmt_family *f = NULL;

    for (int i = 0; i < SFX_N && !f; i++) {
        size_t sl = strlen(suffixes[i]);
        if (sl >= nl || memcmp(name + nl - sl, suffixes[i], sl) != 0)
            continue;
        f = family_find(p, name, nl - sl);
        if (f && !(suffix_mask(p, f->type) & (1u << i)))
            f = NULL;
    }
    if (!f && (f = family_find(p, name, nl)) && strict(p))
        return fail_sample_name(p, c, f);
    if (!f && !(f = family_add(p, name, nl)))
        return -ENOMEM;
    *out = f;
    return family_enter(p, c, f);
}

static const char *label_value(const struct expfmt_entry *e, const char *name)
{
    for (size_t i = 1; i < e->labels.len; i++)
        if (strcmp(e->labels.v[i].name, name) == 0)
            return e->labels.v[i].value;
    return NULL;
}

/* Checks the label named name is present and holds a number. */
static int check_number_label(struct expfmt_parser *p, struct cur *c,
                              const struct expfmt_entry *e, const char *name)
{
    const char *v = label_value(e, name);
    double d;
    if (!v)
        return fail(p, c, 0, "a %s label on %s sample %s", name, type_names[e->type], e->name);
    if (parse_number(v, strlen(v), &d) < 0)
        return fail(p, c, 0, "a number as the %s label of %s, got \"%.40s\"", name, e->name, v);
    return 0;
}

/* The rules a sample's family type sets: le on buckets, quantile on summary
 * quantiles; in OpenMetrics also stateset and info values and where
 * exemplars may be. */
static int check_sample_type(struct expfmt_parser *p, struct cur *c, const struct expfmt_entry *e)
{
    size_t fl = strlen(e->family);
    const char *sfx = e->name + fl;
    int bucket = strcmp(sfx, "_bucket") == 0;
    int rc;

    if (!strict(p))
        return 0;
    if (bucket && (rc = check_number_label(p, c, e, "le")) < 0)
        return rc;
    if (e->type == EXPFMT_METRIC_SUMMARY && *sfx == '\0' &&
        (rc = check_number_label(p, c, e, "quantile")) < 0)
        return rc;
    if (!om(p))
        return 0;
    if (e->type == EXPFMT_METRIC_STATESET) {
        if (!label_value(e, e->family))
            return fail(p, c, 0, "a stateset sample with a label named %s", e->family);
        if (e->value != 0 && e->value != 1)
            return fail(p, c, 0, "a stateset value of 0 or 1");
    }
    if (e->type == EXPFMT_METRIC_INFO && e->value != 1)
        return fail(p, c, 0, "an info value of 1");
    if (e->has_exemplar && !bucket &&
        !(e->type == EXPFMT_METRIC_COUNTER && strcmp(sfx, "_total") == 0))
        return fail(p, c, 0, "no exemplar except on counter _total and histogram _bucket samples");
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
        if ((rc = parse_exemplar(p, c, n, e)) < 0)
            return rc;
    }
    struct expfmt_family *f = NULL;
    if ((rc = sample_family(p, c, e->name, &f)) < 0)
        return rc;
    f->has_samples = 1;
    e->family = f->name;
    e->type = f->type;
    return check_sample_type(p, c, e);
}

/* Unescapes a HELP docstring: \\ and \n (and \" in OpenMetrics). Other
 * escapes are kept verbatim in Prometheus text, errors when strict. */
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
        } else if (p->opts.strict) {
            return fail(p, c, c->pos, "an escape sequence \\\\ or \\n");
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

/* Reads a TYPE line's type. @return 0 and *t, or -EINVAL. */
static int parse_type(const struct expfmt_parser *p, const char *word,
                      enum expfmt_metric_type *t /* OUT */)
{
    if (strcmp(word, om(p) ? "unknown" : "untyped") == 0) {
        *t = EXPFMT_METRIC_UNKNOWN;
        return 0;
    }
    for (size_t i = 1; i < sizeof type_names / sizeof type_names[0]; i++) {
        int om_only = i == EXPFMT_METRIC_GAUGEHISTOGRAM || i == EXPFMT_METRIC_INFO ||
                      i == EXPFMT_METRIC_STATESET;
        if (strcmp(word, type_names[i]) == 0 && (om(p) || !om_only)) {
            *t = (enum expfmt_metric_type)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Records a metadata line for its family. OpenMetrics: each kind at most
 * once per family, all before the family's samples, a UNIT the family name
 * ends with. Strict text: one HELP and one TYPE per name, TYPE before the
 * samples. Otherwise the last TYPE line wins. */
static int meta_family(struct expfmt_parser *p, struct cur *c, struct expfmt_entry *e)
{
    static const char *const words[] = {[EXPFMT_HELP] = "HELP", [EXPFMT_TYPE] = "TYPE",
                                         [EXPFMT_UNIT] = "UNIT"};
    size_t nl = strlen(e->name);
    struct expfmt_family *f = family_find(p, e->name, nl);
    int rc;

    if (!f && !(f = family_add(p, e->name, nl)))
        return -ENOMEM;
    if ((rc = family_enter(p, c, f)) < 0)
        return rc;
    if (strict(p) && (f->meta & (1u << e->kind)))
        return fail(p, c, 0, "one %s line per metric family %s", words[e->kind], e->name);
    if (f->has_samples && (om(p) || (p->opts.strict && e->kind == EXPFMT_TYPE)))
        return fail(p, c, 0, "metadata of %s before its samples", e->name);
    if (e->kind == EXPFMT_UNIT && e->text[0] != '\0') {
        size_t ul = strlen(e->text);
        if (nl <= ul || e->name[nl - ul - 1] != '_' || strcmp(e->name + nl - ul, e->text) != 0)
            return fail(p, c, 0, "metric family %s to end in _%s, its unit", e->name, e->text);
    }
    f->meta |= 1u << e->kind;
    if (e->kind == EXPFMT_TYPE)
        f->type = e->type;
    e->family = f->name;
    e->type = f->type;
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
        if (e->kind == EXPFMT_TYPE && parse_type(p, e->text, &e->type) < 0)
            return fail(p, c, start,
                        om(p) ? "a type: counter, gauge, histogram, gaugehistogram, "
                                "stateset, info, summary or unknown"
                              : "a type: counter, gauge, histogram, summary or untyped");
        if (c->pos != c->len)
            return fail(p, c, c->pos, "end of line after the %s",
                        e->kind == EXPFMT_TYPE ? "type" : "unit");
    }
    return meta_family(p, c, e);
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

int expfmt_parse_buffer(struct expfmt_parser *p, const char *buf, size_t len, expfmt_entry_fn fn,
                        void *arg)
{
    struct expfmt_entry e;
    size_t off = 0;
    int rc;

    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
        if ((rc = expfmt_parse_line(p, buf + off, n, &e)) < 0)
            return rc;
        if (e.kind != EXPFMT_NONE && (rc = fn(&e, arg)) != 0)
            return rc;
        off += n + 1;
    }
    return expfmt_finish(p);
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
