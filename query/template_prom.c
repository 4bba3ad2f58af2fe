/* template_prom.c — Prometheus' template functions that need no query:
 * humanize, humanize1024, humanizeDuration, humanizePercentage,
 * humanizeTimestamp, parseDuration, toUpper, toLower, title, stripPort,
 * stripDomain, externalURL, pathPrefix (match and reReplaceAll are in
 * template_regex.c);
 * with Prometheus' output formats and error wording. */
#include "template_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "timefmt.h"

/* Go's strconv.ParseFloat of s[0..n): decimal or hexadecimal (with a p
 * exponent) numbers, '_' only between digits, "inf", "infinity", "nan" in
 * any case. Underflow gives 0 like Go; overflow is -ERANGE.
 * @return 0 and *f, -EINVAL or -ERANGE. */
static int go_parse_float(const char *s, size_t n, double *f)
{
    char buf[128];
    if (n == 0 || tmpl__go_digits(s, n, buf, sizeof buf) < 0)
        return -EINVAL;
    size_t sign = s[0] == '+' || s[0] == '-';
    int hex = buf[sign] == '0' && (buf[sign + 1] == 'x' || buf[sign + 1] == 'X');
    const char *d = buf + sign;
    int numeric = (d[0] >= '0' && d[0] <= '9') || d[0] == '.';
    if (!numeric && strcasecmp(d, "inf") && strcasecmp(d, "infinity") &&
        (strcasecmp(d, "nan") || sign))
        return -EINVAL; /* C would also take leading space and nan(...) */
    if (hex && !strpbrk(d, "pP"))
        return -EINVAL; /* Go's hexadecimal floats need an exponent */
    char *end;
    errno = 0;
    *f = strtod(buf, &end);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE && isinf(*f))
        return -ERANGE;
    return 0;
}

/* Prometheus' convertToFloat: float64, int, or a string strconv.ParseFloat
 * accepts. */
static int to_float(struct tmpl_call *c, const struct tmpl_value *v, double *f)
{
    if (v->kind == TV_FLOAT) {
        *f = v->u.f;
        return 0;
    }
    if (v->kind == TV_INT) {
        *f = (double)v->u.i;
        return 0;
    }
    if (v->kind != TV_STRING)
        return tmpl__fnerr(c, "can't convert %s to float", tmpl__type_name(v));
    int rc = go_parse_float(v->u.s.p, v->u.s.len, f);
    if (rc < 0)
        return tmpl__fnerr(c, "strconv.ParseFloat: parsing \"%.*s\": %s",
                           (int)(v->u.s.len > 100 ? 100 : v->u.s.len), v->u.s.p,
                           rc == -ERANGE ? "value out of range" : "invalid syntax");
    return 0;
}

/* Go's %.4g followed by suffix. */
static int ret_g4(struct tmpl_call *c, double f, const char *suffix, struct tmpl_value *out)
{
    struct tmpl_buf b = tmpl__new_buf();
    tmpl__format_g(&b, f, 4);
    tmpl__put(&b, suffix, strlen(suffix));
    return tmpl__ret_buf(c, &b, out);
}

/* Scales v by step through the prefixes while |v| >= step. */
static const char *scale_up(double *v, double step, const char *const *prefixes)
{
    const char *prefix = "";
    for (size_t i = 0; prefixes[i] && fabs(*v) >= step; i++) {
        prefix = prefixes[i];
        *v /= step;
    }
    return prefix;
}

/* Scales v up by 1000 through m, u, n, ... while |v| < 1. */
static const char *scale_down(double *v)
{
    static const char *const small[] = {"m", "u", "n", "p", "f", "a", "z", "y", NULL};
    const char *prefix = "";
    for (size_t i = 0; small[i] && fabs(*v) < 1; i++) {
        prefix = small[i];
        *v *= 1000;
    }
    return prefix;
}

static int fn_humanize(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                       struct tmpl_value *out)
{
    (void)n;
    static const char *const big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y", NULL};
    double v;
    if (to_float(c, &a[0], &v) < 0)
        return -1;
    if (v == 0 || !isfinite(v))
        return ret_g4(c, v, "", out);
    const char *prefix = fabs(v) >= 1 ? scale_up(&v, 1000, big) : scale_down(&v);
    return ret_g4(c, v, prefix, out);
}

static int fn_humanize1024(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                           struct tmpl_value *out)
{
    (void)n;
    static const char *const big[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi", NULL};
    double v;
    if (to_float(c, &a[0], &v) < 0)
        return -1;
    if (fabs(v) <= 1 || !isfinite(v))
        return ret_g4(c, v, "", out);
    const char *prefix = scale_up(&v, 1024, big);
    return ret_g4(c, v, prefix, out);
}

static int fn_humanize_duration(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                                struct tmpl_value *out)
{
    (void)n;
    double v;
    if (to_float(c, &a[0], &v) < 0)
        return -1;
    if (!isfinite(v))
        return ret_g4(c, v, "", out);
    if (v == 0)
        return ret_g4(c, v, "s", out);
    if (fabs(v) < 1) {
        const char *prefix = scale_down(&v);
        char suffix[4];
        snprintf(suffix, sizeof suffix, "%ss", prefix);
        return ret_g4(c, v, suffix, out);
    }
    const char *sign = v < 0 ? "-" : "";
    v = fabs(v);
    /* Go's int64(v) on amd64: out of range gives the minimum */
    int64_t d = v < 9223372036854775807.0 ? (int64_t)v : INT64_MIN;
    long long secs = d % 60, mins = d / 60 % 60, hours = d / 3600 % 24, days = d / 86400;
    struct tmpl_buf b = tmpl__new_buf();
    if (days != 0)
        tmpl__printf(&b, "%s%lldd %lldh %lldm %llds", sign, days, hours, mins, secs);
    else if (hours != 0)
        tmpl__printf(&b, "%s%lldh %lldm %llds", sign, hours, mins, secs);
    else if (mins != 0)
        tmpl__printf(&b, "%s%lldm %llds", sign, mins, secs);
    else {
        tmpl__put(&b, sign, strlen(sign));
        tmpl__format_g(&b, v, 4);
        tmpl__putc(&b, 's');
    }
    return tmpl__ret_buf(c, &b, out);
}

static int fn_humanize_percentage(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                                  struct tmpl_value *out)
{
    (void)n;
    double v;
    if (to_float(c, &a[0], &v) < 0)
        return -1;
    return ret_g4(c, v * 100, "%", out);
}

/* Go's time.Time.String() of a UTC time: "2006-01-02 15:04:05.999 +0000 UTC"
 * with trailing zeros of the fraction dropped. Prometheus truncates the
 * seconds to milliseconds first. */
static int fn_humanize_timestamp(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                                 struct tmpl_value *out)
{
    (void)n;
    double v;
    if (to_float(c, &a[0], &v) < 0)
        return -1;
    if (!isfinite(v))
        return ret_g4(c, v, "", out);
    double ns = v * 1e9;
    if (ns >= 9223372036854775807.0 || ns < -9223372036854775808.0) {
        struct tmpl_buf b = tmpl__new_buf();
        tmpl__format_g(&b, v, -1);
        tmpl__fnerr(c,
                    "%s cannot be represented as a nanoseconds timestamp since it overflows "
                    "int64",
                    b.p ? b.p : "");
        free(b.p);
        return -1;
    }
    int64_t ms = (int64_t)ns / 1000000;
    int64_t secs = ms / 1000 - (ms % 1000 < 0), frac = ms - secs * 1000;
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return tmpl__fnerr(c, "%lld cannot be represented as a date", (long long)secs);
    struct tmpl_buf b = tmpl__new_buf();
    tmpl__printf(&b, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (frac) {
        char f[24];
        snprintf(f, sizeof f, ".%03lld", (long long)frac);
        size_t len = strlen(f);
        while (f[len - 1] == '0')
            len--;
        tmpl__put(&b, f, len);
    }
    tmpl__put(&b, " +0000 UTC", 10);
    return tmpl__ret_buf(c, &b, out);
}

static int fn_parse_duration(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                             struct tmpl_value *out)
{
    (void)n;
    const char *s;
    size_t len;
    int64_t ms;
    if (tmpl__want_string(c, &a[0], &s, &len) < 0)
        return -1;
    if (timefmt_parse_duration(s, len, &ms) < 0)
        return tmpl__fnerr(c, "not a valid duration string: \"%.*s\"", (int)(len > 100 ? 100 : len),
                           s);
    out->kind = TV_FLOAT;
    out->u.f = (double)ms / 1000;
    return 0;
}

/* ---- strings ---- */

/* Unicode simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek
 * and Cyrillic (other scripts pass through unchanged). */
static uint32_t to_upper(uint32_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 0xe0 && c <= 0xfe && c != 0xf7) ||
        (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) || (c >= 0x430 && c <= 0x44f))
        return c - 32;
    if (c == 0xb5)
        return 0x39c;
    if (c == 0xff)
        return 0x178;
    if (c == 0x131)
        return 'I';
    if (c == 0x3c2)
        return 0x3a3;
    if (c >= 0x450 && c <= 0x45f)
        return c - 80;
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) && (c & 1))
        return c - 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) && !(c & 1))
        return c - 1;
    return c;
}

static uint32_t to_lower(uint32_t c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7) ||
        (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) || (c >= 0x410 && c <= 0x42f))
        return c + 32;
    if (c == 0x178)
        return 0xff;
    if (c == 0x130)
        return 'i';
    if (c >= 0x400 && c <= 0x40f)
        return c + 80;
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) && !(c & 1))
        return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) && (c & 1))
        return c + 1;
    return c;
}

/* Go's strings.Title word boundary: ASCII other than letters, digits and
 * '_', and Unicode spaces. */
static int is_separator(uint32_t c)
{
    if (c < 0x80)
        return !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 c == '_');
    return tmpl__is_unicode_space(c);
}

enum case_op { CASE_UPPER, CASE_LOWER, CASE_TITLE };

static int map_case(struct tmpl_call *c, const struct tmpl_value *a, enum case_op op,
                    struct tmpl_value *out)
{
    const char *s;
    size_t n;
    if (tmpl__want_string(c, &a[0], &s, &n) < 0)
        return -1;
    struct tmpl_buf b = tmpl__new_buf();
    uint32_t prev = ' ';
    for (size_t i = 0; i < n;) {
        uint32_t cp, m;
        size_t len = tmpl__rune_at((const unsigned char *)s + i, n - i, &cp);
        if (op == CASE_UPPER)
            m = to_upper(cp);
        else if (op == CASE_LOWER)
            m = to_lower(cp);
        else
            m = is_separator(prev) ? to_upper(cp) : cp;
        if (m == cp || cp == 0xfffd)
            tmpl__put(&b, s + i, len); /* unchanged bytes stay as they were */
        else
            tmpl__put_rune(&b, m);
        prev = cp;
        i += len;
    }
    return tmpl__ret_buf(c, &b, out);
}

static int fn_to_upper(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                       struct tmpl_value *out)
{
    (void)n;
    return map_case(c, a, CASE_UPPER, out);
}

static int fn_to_lower(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                       struct tmpl_value *out)
{
    (void)n;
    return map_case(c, a, CASE_LOWER, out);
}

static int fn_title(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                    struct tmpl_value *out)
{
    (void)n;
    return map_case(c, a, CASE_TITLE, out);
}

/* Go's net.SplitHostPort host part, or the input when it has no valid
 * port: "host:9090" -> "host", "[::1]:80" -> "::1", "::1" -> "::1". */
static int fn_strip_port(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                         struct tmpl_value *out)
{
    (void)n;
    const char *s;
    size_t len;
    if (tmpl__want_string(c, &a[0], &s, &len) < 0)
        return -1;
    *out = a[0];
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon)
        return 0;
    size_t i = (size_t)(colon - s), from = 0, to = i, k = 0;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || (size_t)(close - s) + 1 != i)
            return 0;
        from = 1;
        to = (size_t)(close - s);
        k = to + 1;
    } else if (memchr(s, ':', i)) {
        return 0; /* too many colons */
    }
    if (memchr(s + (from ? 1 : 0), '[', len - (from ? 1 : 0)) || memchr(s + k, ']', len - k))
        return 0;
    out->u.s.p = s + from;
    out->u.s.len = to - from;
    return 0;
}

/* 1 if s[0..n) is an IP address as Go's net.ParseIP reads it: dotted
 * IPv4 or anything with a colon that SplitHostPort left whole (IPv6). */
static int is_ip(const char *s, size_t n)
{
    if (memchr(s, ':', n))
        return 1;
    int parts = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int v = 0;
        while (j < n && s[j] >= '0' && s[j] <= '9' && j - i < 3)
            v = v * 10 + s[j++] - '0';
        if (j == i || v > 255 || (j - i > 1 && s[i] == '0'))
            return 0;
        parts++;
        if (j == n)
            break;
        if (s[j] != '.' || j + 1 == n)
            return 0;
        i = j + 1;
    }
    return parts == 4;
}

/* Prometheus' stripDomain: the first label of a host name, its port
 * kept; IP addresses unchanged. "web-1.example.com:9100" -> "web-1:9100". */
static int fn_strip_domain(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                           struct tmpl_value *out)
{
    struct tmpl_value host;
    if (fn_strip_port(c, a, n, &host) < 0)
        return -1;
    *out = a[0];
    const char *h = host.u.s.p, *port = NULL;
    size_t hlen = host.u.s.len, plen = 0;
    if (hlen != a[0].u.s.len) { /* SplitHostPort succeeded: the port follows the last ':' */
        const char *colon = memrchr(a[0].u.s.p, ':', a[0].u.s.len);
        port = colon + 1;
        plen = a[0].u.s.len - (size_t)(port - a[0].u.s.p);
    }
    if (is_ip(h, hlen))
        return 0;
    const char *dot = memchr(h, '.', hlen);
    size_t first = dot ? (size_t)(dot - h) : hlen;
    struct tmpl_buf b = tmpl__new_buf();
    tmpl__put(&b, h, first);
    if (plen)
        tmpl__printf(&b, ":%.*s", (int)plen, port);
    return tmpl__ret_buf(c, &b, out);
}

/* ---- the alert's context ---- */

static int fn_external_url(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                           struct tmpl_value *out)
{
    (void)a;
    (void)n;
    const char *u = c->data->external_url ? c->data->external_url : "";
    out->kind = TV_STRING;
    out->u.s.p = u;
    out->u.s.len = strlen(u);
    return 0;
}

/* The path of the external URL: "/prometheus" of "http://h:9090/prometheus". */
static int fn_path_prefix(struct tmpl_call *c, const struct tmpl_value *a, size_t n,
                          struct tmpl_value *out)
{
    fn_external_url(c, a, n, out);
    const char *u = out->u.s.p, *scheme = strstr(u, "://");
    const char *path = scheme ? strchr(scheme + 3, '/') : u;
    if (!path)
        path = "";
    size_t len = strcspn(path, "?#");
    out->u.s.p = path;
    out->u.s.len = len;
    return 0;
}

/* Prometheus' functions that query the store or build HTML are known, so
 * rule files using them load as in Prometheus, but fail when executed. */
const struct tmpl_func tmpl__prom_funcs[] = {
    {"args", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"externalURL", 0, 0, fn_external_url, TF_EAGER},
    {"first", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"graphLink", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"humanize", 1, 1, fn_humanize, TF_EAGER},
    {"humanize1024", 1, 1, fn_humanize1024, TF_EAGER},
    {"humanizeDuration", 1, 1, fn_humanize_duration, TF_EAGER},
    {"humanizePercentage", 1, 1, fn_humanize_percentage, TF_EAGER},
    {"humanizeTimestamp", 1, 1, fn_humanize_timestamp, TF_EAGER},
    {"label", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"match", 2, 2, tmpl__fn_match, TF_EAGER},
    {"parseDuration", 1, 1, fn_parse_duration, TF_EAGER},
    {"pathPrefix", 0, 0, fn_path_prefix, TF_EAGER},
    {"query", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"reReplaceAll", 3, 3, tmpl__fn_re_replace_all, TF_EAGER},
    {"safeHtml", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"sortByLabel", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"stripDomain", 1, 1, fn_strip_domain, TF_EAGER},
    {"stripPort", 1, 1, fn_strip_port, TF_EAGER},
    {"strvalue", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"tableLink", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"title", 1, 1, fn_title, TF_EAGER},
    {"toLower", 1, 1, fn_to_lower, TF_EAGER},
    {"toTime", 0, -1, tmpl__fn_unsupported, TF_EAGER},
    {"toUpper", 1, 1, fn_to_upper, TF_EAGER},
    {"value", 0, -1, tmpl__fn_unsupported, TF_EAGER},
};
const size_t tmpl__prom_nfuncs = sizeof tmpl__prom_funcs / sizeof tmpl__prom_funcs[0];
