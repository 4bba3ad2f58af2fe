/* output.c — JSON (Prometheus API), CSV and table writers for results. */
#include "output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int output_parse_format(const char *s, enum output_format *out)
{
    if (strcmp(s, "table") == 0)
        *out = OUTPUT_TABLE;
    else if (strcmp(s, "json") == 0)
        *out = OUTPUT_JSON;
    else if (strcmp(s, "csv") == 0)
        *out = OUTPUT_CSV;
    else
        return -EINVAL;
    return 0;
}

/* The shortest %.*e rendering of v that reads back as v. More digits never
 * read back worse, so the precision is found by halving [0, 16] (16 always
 * round-trips a double): about 4 tries instead of up to 17. */
static void shortest_e(double v, char *buf, size_t cap)
{
    int lo = 0, hi = 16;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(buf, cap, "%.*e", mid, v);
        if (strtod(buf, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(buf, cap, "%.*e", lo, v);
}

void output_format_value(double v, char *buf, size_t cap)
{
    char e[40], digits[24];
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    double a = fabs(v);
    if (a < 1e15 && v == (double)(long long)v && !(v == 0 && signbit(v))) {
        snprintf(buf, cap, "%lld", (long long)v); /* integers, the common case */
        return;
    }
    shortest_e(v, e, sizeof e);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        snprintf(buf, cap, "%s", e);
        return;
    }
    /* Rewrite [-]d[.ddd]e±XX in fixed notation. */
    const char *p = e;
    int nd = 0, neg = *p == '-';
    p += neg;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    size_t n = 0;
    if (neg)
        buf[n++] = '-';
    if (exp < 0) {
        buf[n++] = '0';
        buf[n++] = '.';
        for (int i = -1; i > exp; i--)
            buf[n++] = '0';
        for (int i = 0; i < nd; i++)
            buf[n++] = digits[i];
    } else {
        for (int i = 0; i <= exp; i++)
            buf[n++] = i < nd ? digits[i] : '0';
        if (nd > exp + 1) {
            buf[n++] = '.';
            for (int i = exp + 1; i < nd; i++)
                buf[n++] = digits[i];
        }
    }
    buf[n < cap ? n : cap - 1] = '\0';
}

void output_format_timestamp(int64_t ts_ms, char *buf, size_t cap)
{
    uint64_t t = ts_ms < 0 ? (uint64_t)0 - (uint64_t)ts_ms : (uint64_t)ts_ms;
    const char *sign = ts_ms < 0 ? "-" : "";
    if (t % 1000)
        snprintf(buf, cap, "%s%llu.%03u", sign, (unsigned long long)(t / 1000),
                 (unsigned)(t % 1000));
    else
        snprintf(buf, cap, "%s%llu", sign, (unsigned long long)(t / 1000));
}

/* Decodes one UTF-8 sequence at s. @return its length and *cp, or 0 when
 * the bytes are not valid UTF-8. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t k;
    uint32_t c;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        k = 1, c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        k = 2, c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        k = 3, c = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i <= k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((k == 1 && c < 0x80) || (k == 2 && c < 0x800) || (k == 3 && c < 0x10000) ||
        c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return k + 1;
}

/* 1 if the code point cp needs an escape in Go's HTML-safe JSON strings. */
static int json_needs_escape(uint32_t cp)
{
    return cp < 0x20 || cp == '"' || cp == '\\' || cp == '<' || cp == '>' || cp == '&' ||
           cp == 0x2028 || cp == 0x2029;
}

int output_json_string(const char *s, output_sink *sink, void *arg)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;
    char esc[8];
    int rc = sink(arg, "\"", 1);
    while (rc == 0 && *p) {
        uint32_t cp;
        size_t n = utf8_decode(p, &cp);
        if (n > 0 && !json_needs_escape(cp)) {
            p += n;
            continue;
        }
        if (p > run && (rc = sink(arg, run, (size_t)(p - run))) != 0)
            break;
        if (n == 0)
            snprintf(esc, sizeof esc, "\\ufffd"), n = 1;
        else if (cp == '"' || cp == '\\')
            snprintf(esc, sizeof esc, "\\%c", (char)cp);
        else if (cp == '\n' || cp == '\r' || cp == '\t')
            snprintf(esc, sizeof esc, "\\%c", cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't');
        else
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
        rc = sink(arg, esc, strlen(esc));
        p += n;
        run = p;
    }
    if (rc == 0 && p > run)
        rc = sink(arg, run, (size_t)(p - run));
    return rc ? rc : sink(arg, "\"", 1);
}

static int file_sink(void *arg, const void *p, size_t n)
{
    return fwrite(p, 1, n, arg) == n ? 0 : -EIO;
}

int output_json_fputs(FILE *f, const char *s)
{
    return output_json_string(s, file_sink, f);
}

int output_labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b)
{
    for (size_t i = 0; i < a->len && i < b->len; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c == 0)
            c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

int output_labels_ptr_cmp(const void *x, const void *y)
{
    return output_labels_cmp(*(const struct tsdb_labels *const *)x,
                             *(const struct tsdb_labels *const *)y);
}

static void json_point(FILE *f, const struct output_sample *s)
{
    char ts[32], v[40];
    output_format_timestamp(s->ts_ms, ts, sizeof ts);
    output_format_value(s->value, v, sizeof v);
    fprintf(f, "[%s,\"%s\"]", ts, v);
}

static void write_json(FILE *f, const struct output_result *r)
{
    fprintf(f, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":[",
            r->type == OUTPUT_VECTOR ? "vector" : "matrix");
    for (size_t i = 0; i < r->n; i++) {
        const struct output_series *s = &r->series[i];
        fputs(i ? ",{\"metric\":{" : "{\"metric\":{", f);
        for (size_t j = 0; j < s->labels->len; j++) {
            if (j)
                putc(',', f);
            output_json_fputs(f, s->labels->v[j].name);
            putc(':', f);
            output_json_fputs(f, s->labels->v[j].value);
        }
        if (r->type == OUTPUT_VECTOR) {
            fputs("},\"value\":", f);
            json_point(f, &s->samples[0]);
        } else {
            fputs("},\"values\":[", f);
            for (size_t j = 0; j < s->n; j++) {
                if (j)
                    putc(',', f);
                json_point(f, &s->samples[j]);
            }
            putc(']', f);
        }
        putc('}', f);
    }
    fputs("]}}\n", f);
}

char *output_series_name(const struct tsdb_labels *ls)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    const char *name = "";
    int first = 1;

    if (!m)
        return NULL;
    for (size_t i = 0; i < ls->len; i++)
        if (strcmp(ls->v[i].name, "__name__") == 0)
            name = ls->v[i].value;
    fputs(name, m);
    for (size_t i = 0; i < ls->len; i++) {
        if (strcmp(ls->v[i].name, "__name__") == 0)
            continue;
        fprintf(m, "%s%s=\"", first ? "{" : ", ", ls->v[i].name);
        first = 0;
        for (const char *c = ls->v[i].value; *c; c++) {
            if (*c == '\\' || *c == '"')
                putc('\\', m), putc(*c, m);
            else if (*c == '\n')
                fputs("\\n", m);
            else
                putc(*c, m);
        }
        putc('"', m);
    }
    if (!first)
        putc('}', m);
    else if (!*name)
        fputs("{}", m);
    fclose(m);
    return buf;
}

/* Writes a CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    putc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            putc('"', f);
        putc(*s, f);
    }
    putc('"', f);
}

static int write_csv(FILE *f, const struct output_result *r)
{
    fputs("series,timestamp,value\n", f);
    for (size_t i = 0; i < r->n; i++) {
        char *name = output_series_name(r->series[i].labels);
        if (!name)
            return -ENOMEM;
        for (size_t j = 0; j < r->series[i].n; j++) {
            char ts[32], v[40];
            output_format_timestamp(r->series[i].samples[j].ts_ms, ts, sizeof ts);
            output_format_value(r->series[i].samples[j].value, v, sizeof v);
            csv_field(f, name);
            fprintf(f, ",%s,%s\n", ts, v);
        }
        free(name);
    }
    return 0;
}

/* RFC 3339 UTC with milliseconds. */
static void rfc3339(int64_t ts_ms, char *buf, size_t cap)
{
    int64_t ms = ((ts_ms % 1000) + 1000) % 1000;
    time_t secs = (time_t)((ts_ms - ms) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)ms);
}

static int write_table(FILE *f, const struct output_result *r)
{
    char **names = calloc(r->n ? r->n : 1, sizeof *names);
    int width = 6, rc = 0;
    if (!names)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        if (!(names[i] = output_series_name(r->series[i].labels))) {
            rc = -ENOMEM;
            goto out;
        }
        if ((int)strlen(names[i]) > width)
            width = (int)strlen(names[i]);
    }
    fprintf(f, "%-*s  %-24s  %s\n", width, "SERIES", "TIME", "VALUE");
    for (size_t i = 0; i < r->n; i++) {
        for (size_t j = 0; j < r->series[i].n; j++) {
            char ts[40], v[40];
            rfc3339(r->series[i].samples[j].ts_ms, ts, sizeof ts);
            output_format_value(r->series[i].samples[j].value, v, sizeof v);
            fprintf(f, "%-*s  %-24s  %s\n", width, names[i], ts, v);
        }
    }
out:
    for (size_t i = 0; i < r->n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int output_write(FILE *f, enum output_format fmt, const struct output_result *r)
{
    int rc = 0;
    switch (fmt) {
    case OUTPUT_JSON:
        write_json(f, r);
        break;
    case OUTPUT_CSV:
        rc = write_csv(f, r);
        break;
    case OUTPUT_TABLE:
        rc = write_table(f, r);
        break;
    }
    if (rc == 0 && (fflush(f) != 0 || ferror(f)))
        rc = -EIO;
    return rc;
}
