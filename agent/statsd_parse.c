/* statsd_parse.c — the statsd / DogStatsD line parser: one line in, one
 * metric out, every pointer into the caller's buffer, no allocation. The
 * accepted format and every rejection reason are in docs/statsd-format.md.
 *
 * Design notes: a line is `name[,k=v...]:value[:value...]|type[|section...]`.
 * The parser finds the name, then the type (the values' grammar depends on
 * it: sets keep the raw member, gauges mark deltas), then the values, then
 * the optional sections. Every check records the offending byte, so a
 * reject carries its column. Numbers are parsed by hand: the common short
 * decimal is converted exactly with one IEEE operation (Clinger's fast
 * path); anything longer goes through strtod, which assumes the C locale. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statsd.h"

static const char *const reject_labels[] = {
    "ok",
#define STATSD_REJECT_LABEL(name, label, text) label,
    STATSD_REJECTS(STATSD_REJECT_LABEL)
#undef STATSD_REJECT_LABEL
};

static const char *const reject_texts[] = {
    "accepted",
#define STATSD_REJECT_TEXT(name, label, text) text,
    STATSD_REJECTS(STATSD_REJECT_TEXT)
#undef STATSD_REJECT_TEXT
};

const char *statsd_reject_label(enum statsd_reject r)
{
    return (unsigned)r < STATSD_REJECT_COUNT ? reject_labels[r] : "unknown";
}

const char *statsd_reject_text(enum statsd_reject r)
{
    return (unsigned)r < STATSD_REJECT_COUNT ? reject_texts[r] : "unknown reason";
}

/* Longest number handed to strtod; longer ones are rejected. */
#define NUMBER_MAX 127

struct parser {
    const char *line, *end; /* the line without its '\r' */
    const char *err;        /* the offending byte of a reject */
};

static enum statsd_reject fail(struct parser *ps, const char *at, enum statsd_reject r)
{
    ps->err = at;
    return r;
}

/* @return the first c in [s, e), or e. */
static const char *find(const char *s, const char *e, char c)
{
    const char *p = memchr(s, c, (size_t)(e - s));
    return p ? p : e;
}

/* Checks that [s, e) is UTF-8 without control characters.
 * @return STATSD_OK, ctl at a control character, or BAD_UTF8 at the first
 * byte of a malformed sequence. */
static enum statsd_reject check_text(struct parser *ps, const char *s, const char *e,
                                     enum statsd_reject ctl)
{
    for (const char *p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            return fail(ps, p, ctl);
        if (c >= 0x80) {
            size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (n > (size_t)(e - p) || !tsdb_utf8_valid(p, n))
                return fail(ps, p, STATSD_REJECT_BAD_UTF8);
            p += n - 1;
        }
    }
    return STATSD_OK;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses [s, e) as a finite decimal number: [+-]digits[.digits][(e|E)[+-]digits]
 * with at least one mantissa digit. @return 0 and *out, or -1 with *bad at
 * the first byte that does not fit (s itself for an out-of-range number). */
static int parse_number(const char *s, const char *e, double *out /* OUT */,
                        const char **bad /* OUT */)
{
    static const double powers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s;
    uint64_t mant = 0;
    int exp10 = 0, digits = 0, exact = 1, neg = 0;

    if (p < e && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    for (; p < e && is_digit(*p); p++, digits++) {
        if (mant < UINT64_C(100000000000000000))
            mant = mant * 10 + (uint64_t)(*p - '0');
        else
            exact = 0;
    }
    if (p < e && *p == '.') {
        for (p++; p < e && is_digit(*p); p++, digits++) {
            if (mant < UINT64_C(100000000000000000)) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                exp10--;
            } else {
                exact = 0;
            }
        }
    }
    if (digits == 0) {
        *bad = p;
        return -1;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        int eneg = 0, x = 0;
        if (++p < e && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == e || !is_digit(*p)) {
            *bad = p;
            return -1;
        }
        for (; p < e && is_digit(*p); p++)
            if (x < 100000)
                x = x * 10 + (*p - '0');
        exp10 += eneg ? -x : x;
    }
    if (p != e) {
        *bad = p;
        return -1;
    }
    if (exact && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = exp10 < 0 ? (double)mant / powers[-exp10] : (double)mant * powers[exp10];
        *out = neg ? -v : v;
        return 0;
    }
    char buf[NUMBER_MAX + 1];
    if (e - s > NUMBER_MAX) {
        *bad = s + NUMBER_MAX;
        return -1;
    }
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    *out = strtod(buf, NULL);
    if (!isfinite(*out)) {
        *bad = s;
        return -1;
    }
    return 0;
}

/* Parses a comma-separated tag list [s, e) into m->tags; sep splits key from
 * value at its first occurrence. DogStatsD tags (':') may be bare; InfluxDB
 * and Librato tags ('=') need a key and a value. */
static enum statsd_reject parse_tags(struct parser *ps, struct statsd_metric *m, const char *s,
                                     const char *e, char sep)
{
    const char *a = s;
    for (;;) {
        const char *b = find(a, e, ',');
        const char *k = find(a, b, sep);
        enum statsd_reject r;
        if (a == b || k == a || m->ntags == STATSD_MAX_TAGS)
            return fail(ps, a, STATSD_REJECT_BAD_TAGS);
        if (sep == '=' && (k == b || k + 1 == b))
            return fail(ps, k == b ? b : k + 1, STATSD_REJECT_BAD_TAGS);
        if ((r = check_text(ps, a, b, STATSD_REJECT_BAD_TAGS)) != STATSD_OK)
            return r;
        struct statsd_tag *t = &m->tags[m->ntags++];
        t->key = a;
        t->key_len = (size_t)(k - a);
        t->value = k < b ? k + 1 : "";
        t->value_len = k < b ? (size_t)(b - k - 1) : 0;
        if (b == e)
            return STATSD_OK;
        a = b + 1;
    }
}

/* Parses the name and any InfluxDB (`name,k=v`) or Librato (`name#k=v`)
 * tags up to the first ':', which *colon receives. */
static enum statsd_reject parse_name(struct parser *ps, struct statsd_metric *m,
                                     const char **colon /* OUT */)
{
    const char *s = ps->line, *e = ps->end, *p = s, *q;
    enum statsd_reject r;

    while (p < e && *p != ':' && *p != '|' && *p != ',' && *p != '#')
        p++;
    if (p == s)
        return fail(ps, s, STATSD_REJECT_EMPTY_NAME);
    if (p - s > STATSD_MAX_NAME)
        return fail(ps, s + STATSD_MAX_NAME, STATSD_REJECT_TOO_LONG);
    if ((r = check_text(ps, s, p, STATSD_REJECT_BAD_NAME)) != STATSD_OK)
        return r;
    m->name = s;
    m->name_len = (size_t)(p - s);
    for (q = p; q < e && *q != ':' && *q != '|'; q++)
        ;
    if (q == e || *q == '|')
        return fail(ps, q, STATSD_REJECT_NO_VALUE);
    if (p < q && (r = parse_tags(ps, m, p + 1, q, '=')) != STATSD_OK)
        return r;
    *colon = q;
    return STATSD_OK;
}

static int parse_type(const char *s, const char *e, enum statsd_type *t /* OUT */)
{
    if (e - s == 2 && s[0] == 'm' && s[1] == 's') {
        *t = STATSD_TIMER;
        return 0;
    }
    if (e - s != 1)
        return -1;
    switch (*s) {
    case 'c': *t = STATSD_COUNTER; return 0;
    case 'g': *t = STATSD_GAUGE; return 0;
    case 'h': *t = STATSD_HISTOGRAM; return 0;
    case 'd': *t = STATSD_DISTRIBUTION; return 0;
    case 's': *t = STATSD_SET; return 0;
    default: return -1;
    }
}

/* Parses the value part [s, e): a set's member as written, or one or more
 * ':'-separated numbers. Gauge values are all deltas (signed) or none. */
static enum statsd_reject parse_values(struct parser *ps, struct statsd_metric *m,
                                       const char *s, const char *e)
{
    const char *a = s, *bad;
    int delta = -1;

    if (m->type == STATSD_SET) {
        if (s == e)
            return fail(ps, s, STATSD_REJECT_BAD_VALUE);
        m->set_member = s;
        m->set_member_len = (size_t)(e - s);
        return check_text(ps, s, e, STATSD_REJECT_BAD_VALUE);
    }
    for (;;) {
        const char *b = find(a, e, ':');
        if (m->nvalues == STATSD_MAX_VALUES)
            return fail(ps, a, STATSD_REJECT_TOO_MANY_VALUES);
        if (parse_number(a, b, &m->values[m->nvalues], &bad) != 0)
            return fail(ps, bad, STATSD_REJECT_BAD_VALUE);
        if (m->type == STATSD_GAUGE) {
            int sign = *a == '+' || *a == '-';
            if (delta >= 0 && sign != delta)
                return fail(ps, a, STATSD_REJECT_BAD_VALUE);
            delta = sign;
        }
        m->nvalues++;
        if (b == e)
            break;
        a = b + 1;
    }
    m->gauge_delta = delta == 1;
    return STATSD_OK;
}

static enum statsd_reject parse_rate(struct parser *ps, struct statsd_metric *m, const char *s,
                                     const char *e)
{
    const char *bad;
    double r;
    if (parse_number(s, e, &r, &bad) != 0)
        return fail(ps, bad, STATSD_REJECT_BAD_RATE);
    if (!(r > 0 && r <= 1))
        return fail(ps, s, STATSD_REJECT_BAD_RATE);
    m->sample_rate = r;
    return STATSD_OK;
}

/* |T<unix seconds>: digits only, and the milliseconds must fit an int64. */
static enum statsd_reject parse_timestamp(struct parser *ps, struct statsd_metric *m,
                                          const char *s, const char *e)
{
    int64_t sec = 0;
    if (s == e)
        return fail(ps, s, STATSD_REJECT_BAD_TIMESTAMP);
    for (const char *p = s; p < e; p++) {
        if (!is_digit(*p))
            return fail(ps, p, STATSD_REJECT_BAD_TIMESTAMP);
        int d = *p - '0';
        if (sec > (INT64_MAX / 1000 - d) / 10)
            return fail(ps, s, STATSD_REJECT_BAD_TIMESTAMP);
        sec = sec * 10 + d;
    }
    m->has_timestamp = 1;
    m->timestamp_ms = sec * 1000;
    return STATSD_OK;
}

static enum statsd_reject parse_container(struct parser *ps, struct statsd_metric *m,
                                          const char *s, const char *e)
{
    if (e - s < 3 || s[1] != ':')
        return fail(ps, s, STATSD_REJECT_BAD_SECTION);
    m->container = s + 2;
    m->container_len = (size_t)(e - s - 2);
    return check_text(ps, s + 2, e, STATSD_REJECT_BAD_SECTION);
}

/* Parses the sections after the type, each once: |@rate |#tags |T<unix>
 * |c:<container>. p points at the '|' before the first one, or the end. */
static enum statsd_reject parse_sections(struct parser *ps, struct statsd_metric *m,
                                         const char *p)
{
    static const char kinds[4] = {'@', '#', 'T', 'c'};
    unsigned seen = 0;
    while (p < ps->end) {
        const char *s = p + 1, *e = find(s, ps->end, '|');
        const char *kind = s < e ? memchr(kinds, *s, sizeof kinds) : NULL;
        enum statsd_reject r;
        if (!kind || (seen & (1u << (kind - kinds))))
            return fail(ps, s, STATSD_REJECT_BAD_SECTION);
        seen |= 1u << (kind - kinds);
        switch (*kind) {
        case '@': r = parse_rate(ps, m, s + 1, e); break;
        case '#': /* statsd_exporter: one tagging style per line */
            r = m->ntags ? fail(ps, s, STATSD_REJECT_BAD_TAGS) : parse_tags(ps, m, s + 1, e, ':');
            break;
        case 'T': r = parse_timestamp(ps, m, s + 1, e); break;
        default: r = parse_container(ps, m, s, e); break;
        }
        if (r != STATSD_OK)
            return r;
        p = e;
    }
    return STATSD_OK;
}

static int is_event(const char *s, size_t len)
{
    return (len >= 3 && memcmp(s, "_e{", 3) == 0) || (len >= 4 && memcmp(s, "_sc|", 4) == 0);
}

static enum statsd_reject parse(struct parser *ps, struct statsd_metric *m)
{
    const char *line = ps->line, *end = ps->end, *colon, *bar, *ts, *te;
    enum statsd_reject r;

    if (end - line > STATSD_MAX_LINE)
        return fail(ps, line + STATSD_MAX_LINE, STATSD_REJECT_TOO_LONG);
    if (is_event(line, (size_t)(end - line)))
        return fail(ps, line, STATSD_REJECT_EVENT);
    if ((r = parse_name(ps, m, &colon)) != STATSD_OK)
        return r;
    bar = find(colon + 1, end, '|');
    if (bar == end)
        return fail(ps, end, bar == colon + 1 ? STATSD_REJECT_NO_VALUE : STATSD_REJECT_NO_TYPE);
    ts = bar + 1;
    te = find(ts, end, '|');
    if (ts == te)
        return fail(ps, ts, te == end ? STATSD_REJECT_NO_TYPE : STATSD_REJECT_BAD_TYPE);
    if (parse_type(ts, te, &m->type) != 0)
        return fail(ps, ts, STATSD_REJECT_BAD_TYPE);
    if ((r = parse_values(ps, m, colon + 1, bar)) != STATSD_OK)
        return r;
    if ((r = parse_sections(ps, m, te)) != STATSD_OK)
        return r;
    if (m->type == STATSD_GAUGE || m->type == STATSD_SET)
        m->sample_rate = 1;
    return STATSD_OK;
}

enum statsd_reject statsd_parse_line(const char *line, size_t len,
                                     struct statsd_metric *m /* OUT */,
                                     size_t *col /* OUT, may be NULL */)
{
    struct parser ps;
    enum statsd_reject r;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    ps.line = line;
    ps.end = line + len;
    ps.err = line;
    /* the arrays are filled as far as nvalues and ntags say */
    m->name = NULL;
    m->name_len = 0;
    m->nvalues = 0;
    m->gauge_delta = 0;
    m->set_member = NULL;
    m->set_member_len = 0;
    m->sample_rate = 1;
    m->ntags = 0;
    m->has_timestamp = 0;
    m->timestamp_ms = 0;
    m->container = NULL;
    m->container_len = 0;
    r = parse(&ps, m);
    if (r != STATSD_OK && col)
        *col = (size_t)(ps.err - line) + 1;
    return r;
}
