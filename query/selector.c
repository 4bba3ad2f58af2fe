/* selector.c — recursive-descent parser for PromQL series selectors. */
#include "selector.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strlit.h"
#include "timefmt.h"

struct parser {
    const char *s;
    size_t pos;
    struct selector *sel;
    size_t cap;
    struct selector_error *err;
};

/* Records "expected <what>, got <text at pos>" at pos. @return -EINVAL. */
static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
    char what[160], got[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->s[pos] == '\0') {
        snprintf(got, sizeof got, "end of input");
    } else {
        size_t n = 0;
        got[n++] = '"';
        for (size_t i = pos; p->s[i] && i < pos + 24; i++)
            got[n++] = ((unsigned char)p->s[i] >= 0x20 && p->s[i] != 0x7f) ? p->s[i] : '?';
        got[n++] = '"';
        got[n] = '\0';
    }
    p->err->col = (unsigned)pos + 1;
    snprintf(p->err->msg, sizeof p->err->msg, "expected %s, got %s", what, got);
    return -EINVAL;
}

static void skip_space(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
           p->s[p->pos] == '\r')
        p->pos++;
}

static int name_char(char c, int first, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

static size_t scan_name(const struct parser *p, int colon)
{
    size_t n = 0;
    while (name_char(p->s[p->pos + n], n == 0, colon))
        n++;
    return n;
}

/* Parses a quoted string at p->pos into a new malloc'd string *out. */
static int parse_string(struct parser *p, char **out)
{
    size_t start = p->pos, consumed, len;
    struct strlit_error serr;
    if (p->s[start] != '"' && p->s[start] != '\'' && p->s[start] != '`')
        return fail(p, start, "a quoted label value");
    int rc = strlit_unquote(p->s + start, &consumed, out, &len, &serr);
    if (rc == -EINVAL)
        return fail(p, start + serr.offset, "%s", serr.expected);
    if (rc < 0)
        return rc;
    p->pos += consumed;
    return 0;
}

/* Compiles and appends one matcher; value_pos locates regex errors. */
static int add_matcher(struct parser *p, enum tsdb_match_type type, const char *name,
                       const char *value, size_t value_pos)
{
    char errbuf[160];
    if (p->sel->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 4;
        struct tsdb_matcher *m = realloc(p->sel->matchers, cap * sizeof *m);
        if (!m)
            return -ENOMEM;
        p->sel->matchers = m;
        p->cap = cap;
    }
    int rc = tsdb_matcher_init(&p->sel->matchers[p->sel->n], type, name, value, errbuf,
                               sizeof errbuf);
    if (rc == TSDB_E_BAD_REGEX)
        return fail(p, value_pos, "a valid regular expression (%s)", errbuf);
    if (rc < 0)
        return rc;
    p->sel->n++;
    return 0;
}

/* One label matcher: name op string. */
static int parse_matcher(struct parser *p, int have_name)
{
    static const struct {
        const char *op;
        enum tsdb_match_type type;
    } ops[] = {{"=~", TSDB_MATCH_RE}, {"!=", TSDB_MATCH_NE}, {"!~", TSDB_MATCH_NRE},
               {"=", TSDB_MATCH_EQ}};
    size_t name_pos = p->pos, nl = scan_name(p, 0), i;
    char name[256], *value = NULL;
    int rc;

    if (nl == 0)
        return fail(p, p->pos, "a label name");
    if (nl >= sizeof name)
        return fail(p, p->pos, "a label name shorter than %zu bytes", sizeof name);
    memcpy(name, p->s + p->pos, nl);
    name[nl] = '\0';
    if (have_name && strcmp(name, "__name__") == 0)
        return fail(p, name_pos, "no __name__ matcher after a metric name");
    p->pos += nl;
    skip_space(p);
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strncmp(p->s + p->pos, ops[i].op, strlen(ops[i].op)) == 0)
            break;
    if (i == sizeof ops / sizeof ops[0])
        return fail(p, p->pos, "a match operator (=, !=, =~ or !~)");
    p->pos += strlen(ops[i].op);
    skip_space(p);
    size_t value_pos = p->pos;
    if ((rc = parse_string(p, &value)) < 0)
        return rc;
    rc = add_matcher(p, ops[i].type, name, value, value_pos);
    free(value);
    return rc;
}

/* "{" [matcher {"," matcher} [","]] "}" at p->pos. */
static int parse_braces(struct parser *p, int have_name)
{
    int rc;
    p->pos++;
    skip_space(p);
    while (p->s[p->pos] != '}') {
        if ((rc = parse_matcher(p, have_name)) < 0)
            return rc;
        skip_space(p);
        if (p->s[p->pos] == ',') {
            p->pos++;
            skip_space(p);
        } else if (p->s[p->pos] != '}') {
            return fail(p, p->pos, "',' or '}' after a label matcher");
        }
    }
    p->pos++;
    return 0;
}

/* "[" duration "]" at p->pos. */
static int parse_range(struct parser *p)
{
    p->pos++;
    skip_space(p);
    size_t start = p->pos, n = 0;
    while ((p->s[start + n] >= '0' && p->s[start + n] <= '9') ||
           (p->s[start + n] >= 'a' && p->s[start + n] <= 'z'))
        n++;
    int rc = timefmt_parse_duration(p->s + start, n, &p->sel->range_ms);
    if (rc < 0)
        return fail(p, start, "a duration such as 5m or 1h30m");
    if (p->sel->range_ms <= 0)
        return fail(p, start, "a range greater than zero");
    p->pos += n;
    skip_space(p);
    if (p->s[p->pos] != ']')
        return fail(p, p->pos, "']' to close the range");
    p->pos++;
    return 0;
}

static int parse(struct parser *p)
{
    int rc;
    skip_space(p);
    size_t nl = scan_name(p, 1);
    if (nl > 0) {
        char *name = strndup(p->s + p->pos, nl);
        if (!name)
            return -ENOMEM;
        rc = add_matcher(p, TSDB_MATCH_EQ, "__name__", name, p->pos);
        free(name);
        if (rc < 0)
            return rc;
        p->pos += nl;
        skip_space(p);
    }
    if (p->s[p->pos] == '{') {
        if ((rc = parse_braces(p, nl > 0)) < 0)
            return rc;
        skip_space(p);
    } else if (nl == 0) {
        return fail(p, p->pos, "a metric name or '{'");
    }
    if (p->s[p->pos] == '[') {
        if ((rc = parse_range(p)) < 0)
            return rc;
        skip_space(p);
    }
    if (p->s[p->pos] != '\0')
        return fail(p, p->pos, "end of selector");
    for (size_t i = 0; i < p->sel->n; i++)
        if (!tsdb_matcher_matches(&p->sel->matchers[i], ""))
            return 0;
    return fail(p, 0, "at least one matcher that does not match the empty string");
}

int selector_parse(const char *s, struct selector *out, struct selector_error *err)
{
    struct parser p = {s, 0, out, 0, err};
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    int rc = parse(&p);
    if (rc < 0)
        selector_free(out);
    return rc;
}

void selector_free(struct selector *sel)
{
    for (size_t i = 0; i < sel->n; i++)
        tsdb_matcher_free(&sel->matchers[i]);
    free(sel->matchers);
    memset(sel, 0, sizeof *sel);
}
